//! The console's claims: a request the operator opens (a tool call in the editor, an
//! approval, question or elicitation on its card) is claimed for them with a lease,
//! renewed while it is open and released when it closes, so that other consoles, the
//! CLI and workers on the same `serve` see "being answered by NAME" and cannot answer it
//! meanwhile. A console that dies frees its claims when their lease runs out. Pure
//! state: the requests it makes go out as effects through `Request`.

use std::collections::HashMap;

use super::app::Request;
use crate::bridge::CallClaim;

/// What the console holds, or is asking for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    /// `None` while the claim is on its way.
    claim_id: Option<String>,
    /// When it was claimed or last renewed (the console's clock).
    renewed_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Claims {
    /// The name others see ("being answered by ana").
    pub operator: String,
    /// How long a claim holds without a renewal; renewed every third of it.
    pub lease_ms: u64,
    held: HashMap<String, Held>,
}

impl Default for Claims {
    fn default() -> Self {
        Claims::new("operator", super::config::DEFAULT_CLAIM_LEASE_MS)
    }
}

impl Claims {
    pub fn new(operator: &str, lease_ms: u64) -> Claims {
        Claims {
            operator: operator.to_string(),
            lease_ms: lease_ms.max(1_000),
            held: HashMap::new(),
        }
    }

    /// This console's claim id on `request_id`, once granted.
    pub fn claim_id(&self, request_id: &str) -> Option<&str> {
        self.held.get(request_id)?.claim_id.as_deref()
    }

    /// Whether this console holds (or is claiming) `request_id`.
    pub fn holds(&self, request_id: &str) -> bool {
        self.held.contains_key(request_id)
    }

    /// Whether `claim` is one of this console's.
    pub fn is_mine(&self, claim: &CallClaim) -> bool {
        self.held
            .values()
            .any(|h| h.claim_id.as_deref() == Some(claim.claim_id.as_str()))
    }

    /// Who else is answering a request whose claim is `claim`: `None` when nobody holds
    /// it, or this console does.
    pub fn other_holder<'a>(&self, claim: Option<&'a CallClaim>) -> Option<&'a str> {
        claim
            .filter(|claim| !self.is_mine(claim))
            .map(|claim| claim.holder.as_str())
    }

    /// Claims `request_id` (or, with `takeover`, takes it from its holder).
    pub fn claim(&mut self, request_id: &str, now_ms: i64, takeover: bool) -> Request {
        let claim_id = self.claim_id(request_id).map(str::to_string);
        self.held.insert(
            request_id.to_string(),
            Held {
                claim_id: claim_id.clone(),
                renewed_at_ms: now_ms,
            },
        );
        Request::Claim {
            request_id: request_id.to_string(),
            holder: self.operator.clone(),
            lease_ms: self.lease_ms,
            claim_id,
            takeover,
        }
    }

    /// The bridge granted the claim. `false` when the console no longer wants it (the
    /// card closed while the claim was on its way): release it then.
    pub fn granted(&mut self, request_id: &str, claim_id: &str, now_ms: i64) -> bool {
        match self.held.get_mut(request_id) {
            Some(held) => {
                held.claim_id = Some(claim_id.to_string());
                held.renewed_at_ms = now_ms;
                true
            }
            None => false,
        }
    }

    /// The bridge says `claim_id`, held in this operator's name, was granted on
    /// `request_id` while this console's own claim on it is still on its way: it is
    /// that claim. Kept only while waiting (a claim already granted stays as it is).
    pub fn adopt(&mut self, request_id: &str, claim_id: &str) {
        if let Some(held) = self.held.get_mut(request_id)
            && held.claim_id.is_none()
        {
            held.claim_id = Some(claim_id.to_string());
        }
    }

    /// The claim was refused or ended (taken over, answered, expired with the request):
    /// the console no longer holds it.
    pub fn forget(&mut self, request_id: &str) -> Option<String> {
        self.held.remove(request_id).and_then(|h| h.claim_id)
    }

    /// The card closed: give the claim back (nothing to send while it is on its way;
    /// `granted` answers the late grant with a release).
    pub fn release(&mut self, request_id: &str) -> Option<Request> {
        let claim_id = self.forget(request_id)?;
        Some(Request::Release {
            request_id: request_id.to_string(),
            claim_id,
        })
    }

    /// The renewals due now: every third of the lease while the card is open.
    pub fn renewals(&mut self, now_ms: i64) -> Vec<Request> {
        let every = i64::try_from(self.lease_ms / 3).unwrap_or(i64::MAX);
        let mut due: Vec<(&String, &mut Held)> = self
            .held
            .iter_mut()
            .filter(|(_, h)| h.claim_id.is_some() && now_ms - h.renewed_at_ms >= every)
            .collect();
        due.sort_by(|a, b| a.0.cmp(b.0));
        due.into_iter()
            .map(|(request_id, held)| {
                held.renewed_at_ms = now_ms;
                Request::Claim {
                    request_id: request_id.clone(),
                    holder: self.operator.clone(),
                    lease_ms: self.lease_ms,
                    claim_id: held.claim_id.clone(),
                    takeover: false,
                }
            })
            .collect()
    }

    /// Requests held, for tests and the help text.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: &str, holder: &str) -> CallClaim {
        CallClaim {
            claim_id: id.to_string(),
            holder: holder.to_string(),
            lease_expires_at_ms: 0,
        }
    }

    #[test]
    fn a_claim_is_renewed_every_third_of_its_lease_and_released_on_close() {
        let mut claims = Claims::new("ana", 30_000);
        let ask = claims.claim("rq-1", 0, false);
        assert_eq!(
            ask,
            Request::Claim {
                request_id: "rq-1".to_string(),
                holder: "ana".to_string(),
                lease_ms: 30_000,
                claim_id: None,
                takeover: false,
            }
        );
        // Nothing to renew before the grant.
        assert!(claims.renewals(20_000).is_empty());
        assert!(claims.granted("rq-1", "c-1", 1_000));
        assert!(claims.is_mine(&claim("c-1", "ana")));
        assert!(!claims.is_mine(&claim("c-2", "ana")));
        assert_eq!(claims.other_holder(Some(&claim("c-1", "ana"))), None);
        assert_eq!(claims.other_holder(Some(&claim("c-9", "bo"))), Some("bo"));
        assert!(claims.renewals(10_999).is_empty());
        let renewals = claims.renewals(11_000);
        assert_eq!(
            renewals,
            vec![Request::Claim {
                request_id: "rq-1".to_string(),
                holder: "ana".to_string(),
                lease_ms: 30_000,
                claim_id: Some("c-1".to_string()),
                takeover: false,
            }]
        );
        assert!(claims.renewals(12_000).is_empty());
        assert_eq!(
            claims.release("rq-1"),
            Some(Request::Release {
                request_id: "rq-1".to_string(),
                claim_id: "c-1".to_string(),
            })
        );
        assert!(claims.is_empty());
    }

    #[test]
    fn a_grant_that_comes_after_the_card_closed_is_not_kept() {
        let mut claims = Claims::new("ana", 30_000);
        claims.claim("rq-1", 0, false);
        // Closed before the grant: nothing to release yet.
        assert_eq!(claims.release("rq-1"), None);
        assert!(!claims.granted("rq-1", "c-1", 10));
        assert!(claims.is_empty());
    }
}

//! Claims: a lease on a pending request, so that of several answerers (workers serving
//! the same tools, operators at consoles on one `serve`, the CLI) only one answers it.
//! Every kind of request can be claimed: tool calls, approvals, questions, elicitations.
//! Claims live in memory only (after a restart every request is unclaimed again) and
//! change only here: by `Claim` (new, renewed, or an explicit takeover of another
//! holder's) and `Release` commands, by the lease timer's `ClaimExpired` report (a stale
//! one is a no-op), and when the request ends (`finish` drops the claim with it).

use std::time::Duration;

use super::{Actor, Internal};
use crate::bridge::events::{BridgeEvent, ClaimChange};
use crate::bridge::pending::{Answerer, CallClaim, HeldClaim};
use crate::bridge::{ClaimAsk, ClaimOutcome, Command, ReleaseOutcome};
use crate::util::now_ms;

impl Actor {
    /// The claim that stands in the way of an answer: `Some(claim)` when someone holds
    /// the request and the answer does not carry its claim id.
    pub(super) fn claim_refusal(
        &self,
        request_id: &str,
        claim_id: Option<&str>,
    ) -> Option<CallClaim> {
        let held = self.pending.get(request_id)?.claim.as_ref()?;
        (claim_id != Some(held.claim.claim_id.as_str())).then(|| held.claim.clone())
    }

    /// A new claim, a renewal (the caller's `claim_id`), or a takeover. A holder whose
    /// lease ran out while nobody else claimed the request gets it back under its id.
    pub(super) fn claim(&mut self, request_id: String, ask: ClaimAsk) -> ClaimOutcome {
        let ClaimAsk {
            holder,
            lease,
            claim_id,
            takeover,
        } = ask;
        let fresh_id = format!("{}-claim-{}", self.id_prefix, self.next_claim);
        let Some(request) = self.pending.get_mut(&request_id) else {
            return ClaimOutcome::NotFound;
        };
        if request.answer.is_writing() {
            return ClaimOutcome::InFlight;
        }
        if let Answerer::Handler { name } = &request.answerer {
            return ClaimOutcome::NotClaimable {
                message: format!(
                    "request {request_id} is answered by the server's own handler `{name}`: there is nothing to claim"
                ),
            };
        }
        let thread_id = request.thread_id.clone();
        let (renewed, replaced) = match (&request.claim, &claim_id) {
            (Some(held), Some(id)) if held.claim.claim_id == *id => (true, None),
            (Some(held), _) if !takeover => {
                return ClaimOutcome::Held {
                    claim: held.claim.clone(),
                };
            }
            (Some(held), _) => (false, Some(held.claim.clone())),
            (None, _) => (false, None),
        };
        // A holder whose lease ran out while nobody else claimed the request gets it
        // back under the id it has; a takeover always gets a new id, so the replaced
        // holder's answers are refused.
        let claim_id = match claim_id {
            Some(id) if !id.is_empty() && replaced.is_none() => id,
            _ => {
                self.next_claim += 1;
                fresh_id
            }
        };
        let lease = lease.max(Duration::from_millis(1));
        let expires_at = tokio::time::Instant::now() + lease;
        let claim = CallClaim {
            claim_id: claim_id.clone(),
            holder: match (&request.claim, renewed) {
                (Some(held), true) => held.claim.holder.clone(),
                _ => holder,
            },
            lease_expires_at_ms: now_ms()
                .saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)),
        };
        if let Some(old) = request.claim.take() {
            old.timer.abort();
        }
        let timer = lease_timer(
            self.self_tx.clone(),
            request_id.clone(),
            claim_id,
            expires_at,
        );
        request.claim = Some(HeldClaim {
            claim: claim.clone(),
            lease,
            expires_at,
            timer,
        });
        match &replaced {
            Some(previous) => {
                tracing::info!(target: "bridge", "{} took {request_id} over from {}", claim.holder, previous.holder);
                // One event tells both: the ended claim, and the request's new holder.
                self.emit_claim(&request_id, ClaimChange::TakenOver, previous.clone());
            }
            None if renewed => self.emit_claim(&request_id, ClaimChange::Renewed, claim.clone()),
            None => self.emit_claim(&request_id, ClaimChange::Claimed, claim.clone()),
        }
        ClaimOutcome::Claimed {
            claim,
            thread_id,
            renewed,
            replaced,
        }
    }

    pub(super) fn release(&mut self, request_id: &str, claim_id: &str) -> ReleaseOutcome {
        let Some(request) = self.pending.get_mut(request_id) else {
            return ReleaseOutcome::NotFound;
        };
        let thread_id = request.thread_id.clone();
        match request.claim.take() {
            None => ReleaseOutcome::NotClaimed,
            Some(held) if held.claim.claim_id != claim_id => {
                let claim = held.claim.clone();
                request.claim = Some(held);
                ReleaseOutcome::Held { claim }
            }
            Some(held) => {
                held.timer.abort();
                self.emit_claim(request_id, ClaimChange::Released, held.claim);
                ReleaseOutcome::Released { thread_id }
            }
        }
    }

    /// The lease timer of `claim_id` fired. A claim renewed since (same id, later end)
    /// or replaced (another id) is left alone. A holder whose answer is being written
    /// right now keeps the claim for another lease: if the write fails, it answers again.
    pub(super) fn on_claim_expired(&mut self, request_id: &str, claim_id: &str) {
        let self_tx = self.self_tx.clone();
        let Some(request) = self.pending.get_mut(request_id) else {
            return;
        };
        let writing = request.answer.is_writing();
        if writing
            && let Some(held) = request.claim.as_mut()
            && held.claim.claim_id == claim_id
        {
            held.expires_at = tokio::time::Instant::now() + held.lease;
            held.timer = lease_timer(
                self_tx,
                request_id.to_string(),
                claim_id.to_string(),
                held.expires_at,
            );
            return;
        }
        let due = request.claim.as_ref().is_some_and(|held| {
            held.claim.claim_id == claim_id && held.expires_at <= tokio::time::Instant::now()
        });
        if !due {
            return;
        }
        if let Some(held) = request.claim.take() {
            tracing::info!(target: "bridge", "the claim of {} on {request_id} ran out without an answer", held.claim.holder);
            self.emit_claim(request_id, ClaimChange::Expired, held.claim);
        }
    }

    /// Tool calls keep their `tool_call_*` event; the other kinds have their own.
    fn emit_claim(&self, request_id: &str, change: ClaimChange, claim: CallClaim) {
        let Some(request) = self.pending.get(request_id) else {
            return;
        };
        if let Some(call) = request.call_view() {
            self.emit(BridgeEvent::ToolCallClaim {
                call,
                change,
                claim,
            });
        } else if let Some(request) = request.request_view() {
            self.emit(BridgeEvent::RequestClaim {
                request,
                change,
                claim,
            });
        }
    }
}

/// Reports the end of a lease to the actor; aborted when the claim is renewed, released
/// or ends with its request.
fn lease_timer(
    actor: tokio::sync::mpsc::WeakSender<Command>,
    request_id: String,
    claim_id: String,
    at: tokio::time::Instant,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        if let Some(actor) = actor.upgrade() {
            let _ = actor
                .send(Command::Internal(Internal::ClaimExpired {
                    request_id,
                    claim_id,
                }))
                .await;
        }
    })
    .abort_handle()
}

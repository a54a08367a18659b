//! Worker claims: a lease on a pending tool call, so that of several workers serving the
//! same tools only one runs a call's handler. Claims live in memory only (after a restart
//! every call is unclaimed again) and change only here: by `Claim` and `Release`
//! commands, by the lease timer's `ClaimExpired` report (a stale one is a no-op), and
//! when the call ends (`finish` drops the claim with the call).

use std::time::Duration;

use super::{Actor, Internal};
use crate::bridge::events::{BridgeEvent, ClaimChange};
use crate::bridge::pending::{Answerer, CallClaim, HeldClaim};
use crate::bridge::{ClaimOutcome, Command, ReleaseOutcome, RespondOutcome};
use crate::util::now_ms;

impl Actor {
    /// Whether an answer may go to this call: `Some(refusal)` when a worker holds it and
    /// the answer does not carry its claim id.
    pub(super) fn claim_refusal(
        &self,
        request_id: &str,
        claim_id: Option<&str>,
    ) -> Option<RespondOutcome> {
        let held = self.pending.get(request_id)?.tool_call()?.claim.as_ref()?;
        (claim_id != Some(held.claim.claim_id.as_str())).then(|| RespondOutcome::Claimed {
            claim: held.claim.clone(),
        })
    }

    /// The holder of a claimed tool call, for answers that do not go through the
    /// tool-call route (`answer_request`).
    pub(super) fn claim_of(&self, request_id: &str) -> Option<CallClaim> {
        let call = self.pending.get(request_id)?.tool_call()?;
        call.claim.as_ref().map(|held| held.claim.clone())
    }

    pub(super) fn claim(
        &mut self,
        request_id: String,
        holder: String,
        lease: Duration,
        claim_id: Option<String>,
    ) -> ClaimOutcome {
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
                    "call {request_id} is answered by the server's own handler `{name}`: there is nothing to claim"
                ),
            };
        }
        let thread_id = request.thread_id.clone();
        let Some(call) = request.tool_call_mut() else {
            return ClaimOutcome::NotFound;
        };
        let renewed = match (&call.claim, &claim_id) {
            (Some(held), Some(id)) if held.claim.claim_id == *id => true,
            (Some(held), _) => {
                return ClaimOutcome::Held {
                    claim: held.claim.clone(),
                };
            }
            (None, _) => false,
        };
        // A holder whose lease ran out while nobody else claimed the call gets it back
        // under the id it has.
        let claim_id = match claim_id {
            Some(id) if !id.is_empty() => id,
            _ => {
                self.next_claim += 1;
                fresh_id
            }
        };
        let lease = lease.max(Duration::from_millis(1));
        let expires_at = tokio::time::Instant::now() + lease;
        let claim = CallClaim {
            claim_id: claim_id.clone(),
            holder: match (&call.claim, renewed) {
                (Some(held), true) => held.claim.holder.clone(),
                _ => holder,
            },
            lease_expires_at_ms: now_ms()
                .saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)),
        };
        if let Some(old) = call.claim.take() {
            old.timer.abort();
        }
        let timer = lease_timer(
            self.self_tx.clone(),
            request_id.clone(),
            claim_id,
            expires_at,
        );
        call.claim = Some(HeldClaim {
            claim: claim.clone(),
            lease,
            expires_at,
            timer,
        });
        let change = if renewed {
            ClaimChange::Renewed
        } else {
            ClaimChange::Claimed
        };
        self.emit_claim(&request_id, change, claim.clone());
        ClaimOutcome::Claimed {
            claim,
            thread_id,
            renewed,
        }
    }

    pub(super) fn release(&mut self, request_id: &str, claim_id: &str) -> ReleaseOutcome {
        let Some(request) = self.pending.get_mut(request_id) else {
            return ReleaseOutcome::NotFound;
        };
        let thread_id = request.thread_id.clone();
        let Some(call) = request.tool_call_mut() else {
            return ReleaseOutcome::NotFound;
        };
        match call.claim.take() {
            None => ReleaseOutcome::NotClaimed,
            Some(held) if held.claim.claim_id != claim_id => {
                let claim = held.claim.clone();
                call.claim = Some(held);
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
        let Some(call) = request.tool_call_mut() else {
            return;
        };
        if writing
            && let Some(held) = call.claim.as_mut()
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
        let due = call.claim.as_ref().is_some_and(|held| {
            held.claim.claim_id == claim_id && held.expires_at <= tokio::time::Instant::now()
        });
        if !due {
            return;
        }
        if let Some(held) = call.claim.take() {
            tracing::info!(target: "bridge", "the claim of {} on {request_id} ran out without an answer", held.claim.holder);
            self.emit_claim(request_id, ClaimChange::Expired, held.claim);
        }
    }

    fn emit_claim(&self, request_id: &str, change: ClaimChange, claim: CallClaim) {
        if let Some(call) = self.pending.get(request_id).and_then(|r| r.call_view()) {
            self.emit(BridgeEvent::ToolCallClaim {
                call,
                change,
                claim,
            });
        }
    }
}

/// Reports the end of a lease to the actor; aborted when the claim is renewed, released
/// or ends with its call.
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

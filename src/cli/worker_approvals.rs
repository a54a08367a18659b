//! `switchboard worker` and approval rules: the worker's catalog's `[[approvals]]` rules
//! (fixed decisions and handler scripts) answer the server's pending approvals,
//! questions, permission requests and elicitations, as its tool handlers answer calls.
//!
//! The worker reads `GET /api/requests` when its stream comes up and whenever a request
//! event arrives, decides each listed request with [`ApprovalRules::decide`] (running a
//! handler script here when the rule names one), and sends the answer through
//! `POST /api/requests/{requestId}/answer` as a raw `response`, which the server checks
//! against the request's kind. A rule that says `ask`, a failing script, or no rule
//! leaves the request alone for someone else. The worker sees what the server sends:
//! a request's params and, for a file change, nothing of its `fileChange` item, so
//! `path_glob` and `cwd_glob` rules do not match here.

use std::sync::Arc;
use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};

use super::Worker;
use super::{Submitted, note, out, text};
use crate::catalog::{RequestContext, RuleOutcome, answer_from_handler};
use crate::protocol::{Request, RequestId, ServerRequest};

/// The stream frames after which the worker reads the pending requests again.
pub(super) fn is_request_event(kind: &str) -> bool {
    matches!(kind, "approval" | "tool_user_input_requested")
        || (kind.starts_with("app_server.request.") && kind != "app_server.request.item.tool.call")
}

/// Seen-set keys of requests, apart from tool calls' ids.
fn seen_key(request_id: &str) -> String {
    format!("request:{request_id}")
}

impl Worker {
    /// Reads the pending requests and offers each to the rules.
    pub(super) async fn drain_requests(self: &Arc<Self>) -> Result<(), super::ClientError> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let reply = self.api.call(Method::GET, "/requests", None).await?;
        match reply.body.get("data").and_then(Value::as_array) {
            Some(requests) => {
                for record in requests {
                    self.offer_request(record);
                }
            }
            None => note(&format!(
                "could not list pending requests: {}",
                reply.message()
            )),
        }
        Ok(())
    }

    /// Decides one pending-request record if a rule of ours fits it.
    fn offer_request(self: &Arc<Self>, record: &Value) {
        let request_id = text(record, "requestId");
        if request_id.is_empty()
            || self
                .session
                .as_deref()
                .is_some_and(|s| s != text(record, "threadId"))
        {
            return;
        }
        let request = Request {
            id: RequestId::Integer(0),
            method: text(record, "method"),
            params: record.get("details").cloned(),
        };
        let Ok(typed) = ServerRequest::from_request(&request) else {
            return;
        };
        let outcome = self.rules.decide(&typed, &RequestContext::default());
        if matches!(outcome, RuleOutcome::Ask { .. }) {
            return;
        }
        let key = seen_key(&request_id);
        let claimed = self
            .seen
            .lock()
            .map(|mut seen| seen.claim(&key))
            .unwrap_or(false);
        if !claimed {
            return;
        }
        let rule = match &outcome {
            RuleOutcome::Decided { rule_index, .. }
            | RuleOutcome::RunHandler { rule_index, .. } => rule_index + 1,
            RuleOutcome::Ask { .. } => return,
        };
        let worker = Arc::clone(self);
        tokio::spawn(async move {
            let started = Instant::now();
            let decided = match outcome {
                RuleOutcome::RunHandler { spec, input, .. } => {
                    let label = format!("approval rule {rule} handler");
                    worker
                        .runner
                        .run_approval(&spec, &input, &label)
                        .await
                        .and_then(|stdout| answer_from_handler(&typed, &stdout, rule))
                }
                other => Ok(other),
            };
            let (answer, by) = match decided {
                Ok(RuleOutcome::Decided {
                    answer, decision, ..
                }) => (
                    answer,
                    format!("approval rule {rule}: {}", decision.as_str()),
                ),
                Ok(_) => {
                    worker.finish_request(&key, &request_id, "left to a person (ask)", started);
                    return;
                }
                Err(why) => {
                    worker.finish_request(&key, &request_id, &why, started);
                    return;
                }
            };
            let submitted = worker.submit_request(&request_id, &answer.to_value()).await;
            let what = match &submitted {
                Submitted::Answered => format!("answered by {by}"),
                Submitted::AlreadyDone(status) => {
                    format!("was already answered or ended (HTTP {status})")
                }
                Submitted::Failed(message) => format!("could not be answered: {message}"),
            };
            worker.finish_request(&key, &request_id, &what, started);
        });
    }

    async fn submit_request(&self, request_id: &str, response: &Value) -> Submitted {
        let path = format!("/requests/{request_id}/answer");
        let body = json!({ "response": response });
        match self.api.call(Method::POST, &path, Some(&body)).await {
            Ok(reply) if reply.ok() => Submitted::Answered,
            Ok(reply) if reply.status == 404 || reply.status == 409 => {
                Submitted::AlreadyDone(reply.status)
            }
            Ok(reply) => Submitted::Failed(format!("HTTP {}: {}", reply.status, reply.message())),
            Err(e) => Submitted::Failed(e.to_string()),
        }
    }

    fn finish_request(&self, key: &str, request_id: &str, what: &str, started: Instant) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.finish(key);
        }
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if self.json {
            out(&json!({ "requestId": request_id, "kind": "request", "outcome": what, "elapsedMs": elapsed })
                .to_string());
        } else {
            note(&format!("request {request_id} {what} in {elapsed} ms"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_request_event;

    #[test]
    fn request_events_are_told_from_tool_call_events() {
        for kind in [
            "approval",
            "tool_user_input_requested",
            "app_server.request.item.permissions.request_approval",
            "app_server.request.mcp_server.elicitation.request",
        ] {
            assert!(is_request_event(kind), "{kind}");
        }
        for kind in [
            "app_server.request.item.tool.call",
            "tool_call_requested",
            "approval_resolved",
        ] {
            assert!(!is_request_event(kind), "{kind}");
        }
    }
}

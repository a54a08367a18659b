//! Answers: claiming a request for its one answer, writing it, and ending the request.
//! Every request of every kind ends in [`Actor::finish`], whether it is live or known
//! only from its transcript.

use super::{Actor, Internal};
use crate::appserver::{AppServerError, ConnectionId};
use crate::bridge::events::{BridgeEvent, CallEnd, ResolvedCall, ResolvedRequest, Responder};
use crate::bridge::pending::{AnswerState, PendingKind, PendingRequest};
use crate::bridge::transcript::TranscriptEntry;
use crate::bridge::{AnswerOutcome, EndedRequest, Reply, RespondOutcome};
use crate::protocol::{Answer, RequestKind};
use crate::util::now_ms;

/// Who waits for the outcome of an answer.
pub(in crate::bridge) enum Origin {
    /// Nobody: a handler or a policy answered. Such an answer waits on the request when
    /// the connection is down, and goes when app-server sends the request again.
    Automatic,
    /// `BridgeHandle::respond` (tool calls).
    ToolCaller(Reply<RespondOutcome>),
    /// `BridgeHandle::answer_request` (any kind).
    Caller(Reply<AnswerOutcome>),
}

impl Origin {
    fn is_automatic(&self) -> bool {
        matches!(self, Origin::Automatic)
    }

    fn send(self, outcome: AnswerOutcome) {
        match self {
            Origin::Automatic => {}
            Origin::ToolCaller(reply) => {
                let _ = reply.send(outcome.into_respond());
            }
            Origin::Caller(reply) => {
                let _ = reply.send(outcome);
            }
        }
    }
}

/// The report of one write.
pub(in crate::bridge) struct WriteDone {
    request_id: String,
    answer: Answer,
    by: Responder,
    /// The connection the answer went to: a result from an older one is stale.
    connection: ConnectionId,
    written: Result<(), AppServerError>,
    origin: Origin,
}

/// Checks what the answer's type cannot: that it is of the request's kind, that a
/// user-input answer names only questions that were asked, that content URLs are set.
pub(super) fn check_answer(request: &PendingRequest, answer: &Answer) -> Result<(), String> {
    if answer.kind() != request.request_kind() {
        return Err(format!(
            "request {} is a {}: a {} answer does not fit it",
            request.key,
            request.request_kind().as_str(),
            answer.kind().as_str()
        ));
    }
    match (&request.kind, answer) {
        (PendingKind::UserInput(params), Answer::UserInput(response)) => {
            for id in response.answers.keys() {
                if !params.questions.iter().any(|q| &q.id == id) {
                    let asked: Vec<&str> = params.questions.iter().map(|q| q.id.as_str()).collect();
                    return Err(format!(
                        "no question {id:?} in request {}: its questions are {}",
                        request.key,
                        asked.join(", ")
                    ));
                }
            }
            Ok(())
        }
        (_, Answer::ToolCall(result)) => result.validate(),
        _ => Ok(()),
    }
}

/// A write that did not happen gives the request back as it was before the claim.
fn unclaim(state: &mut AnswerState) {
    if let AnswerState::Writing { proposed, .. } = state {
        *state = match proposed.take() {
            Some(answer) => AnswerState::Proposed(answer),
            None => AnswerState::Waiting,
        };
    }
}

/// What `finish` needs of a request, live or restored.
struct Ending {
    key: String,
    thread_id: String,
    turn_id: Option<String>,
    kind: RequestKind,
    method: String,
    item_id: Option<String>,
    /// The tool of a tool call.
    tool: String,
    latency_ms: u64,
    /// A tool call's namespace, argument problems and handler failure.
    namespace: Option<String>,
    schema_problems: Vec<String>,
    handler_failure: Option<crate::bridge::pending::HandlerFailure>,
}

impl Actor {
    /// Claims a request for one answer and starts writing it. A second answer while the
    /// first is being written gets `InFlight`; one after it was written, `NotFound`.
    pub(super) fn start_write(
        &mut self,
        request_id: String,
        answer: Answer,
        by: Responder,
        origin: Origin,
    ) {
        // The request's own app-server: its live connection, if it is still the one
        // that sent the request.
        let slot = self.slot_of_request(&request_id).unwrap_or(0);
        let keeps_requests = self.keeps_calls(slot);
        let live = self.upstreams.get(slot).and_then(|u| u.conn.clone());
        let reconnecting = live.is_none();
        let Some(request) = self.pending.get_mut(&request_id) else {
            origin.send(AnswerOutcome::NotFound);
            return;
        };
        if answer.kind() != request.request_kind() {
            origin.send(AnswerOutcome::Invalid {
                message: format!(
                    "request {request_id} is a {}, not a {}",
                    request.request_kind().as_str(),
                    answer.kind().as_str()
                ),
            });
            return;
        }
        if request.answer.is_writing() {
            origin.send(AnswerOutcome::InFlight);
            return;
        }
        let conn = match live {
            Some(conn) if conn.id() == request.connection => conn,
            // Nobody waits on an automatic answer: keep it for when the request comes again.
            _ if origin.is_automatic() && keeps_requests => {
                request.answer = AnswerState::Stashed { answer, by };
                return;
            }
            // Its app-server is reconnecting (a websocket one keeps the call): say so,
            // and that the call still waits, so the answer can come again later.
            _ if keeps_requests => {
                let name = self.upstreams.get(slot).map_or("", |u| u.name.as_str());
                let message = if reconnecting {
                    format!(
                        "app-server {name} is not connected (reconnecting): request {request_id} still waits; answer it again once {name} is back"
                    )
                } else {
                    format!(
                        "app-server {name} has not asked for request {request_id} again since it reconnected: it still waits; answer it again once it is asked for"
                    )
                };
                origin.send(AnswerOutcome::UpstreamError { message });
                return;
            }
            _ => {
                origin.send(AnswerOutcome::UpstreamError {
                    message: "not connected to the app-server that sent this request".to_string(),
                });
                return;
            }
        };
        let value = answer.to_value();
        let proposed = request.answer.proposed().cloned();
        request.answer = AnswerState::Writing {
            by: by.clone(),
            proposed,
        };
        let rpc = request.rpc.clone();
        let connection = request.connection;
        self.started_writes.push(Box::pin(async move {
            let written = conn.respond(rpc, value).await;
            Internal::WriteDone(WriteDone {
                request_id,
                answer,
                by,
                connection,
                written,
                origin,
            })
        }));
    }

    pub(super) fn on_write_done(&mut self, done: WriteDone) {
        let replayed = self
            .pending
            .get(&done.request_id)
            .is_some_and(|request| request.connection != done.connection);
        if replayed {
            // app-server sent the request again on a newer connection while this write
            // went to the old one: whatever became of it, the live connection still waits
            // for an answer, so write it there.
            if let Some(request) = self.pending.get_mut(&done.request_id) {
                unclaim(&mut request.answer);
            }
            self.start_write(done.request_id, done.answer, done.by, done.origin);
        } else {
            self.finish_write(done);
        }
    }

    fn finish_write(&mut self, done: WriteDone) {
        let WriteDone {
            request_id,
            answer,
            by,
            written,
            origin,
            ..
        } = done;
        let outcome = match written {
            // The request ended while its answer was being written (its session closed,
            // the connection was given up): the caller hears what the store says.
            _ if self.pending.get(&request_id).is_none() => AnswerOutcome::NotFound,
            Ok(()) => {
                self.finish(&request_id, CallEnd::Resolved, Some(by), Some(answer), None);
                AnswerOutcome::Accepted
            }
            Err(e) => {
                let message = e.to_string();
                let keep = origin.is_automatic()
                    && self
                        .slot_of_request(&request_id)
                        .is_some_and(|slot| self.keeps_calls(slot));
                let completed_upstream = match self.pending.get_mut(&request_id) {
                    Some(request) => {
                        unclaim(&mut request.answer);
                        if keep {
                            // An automatic answer lost with the connection goes again
                            // when app-server sends the request again.
                            request.answer = AnswerState::Stashed { answer, by };
                        }
                        request.completed_upstream
                    }
                    None => false,
                };
                if completed_upstream {
                    self.expire(
                        &request_id,
                        format!("answer could not be written: {message}"),
                    );
                }
                AnswerOutcome::UpstreamError { message }
            }
        };
        origin.send(outcome);
    }

    /// A held handler's answer waits on the call for a person to review.
    pub(super) fn propose(&mut self, request_id: &str, answer: Answer) {
        let Some(request) = self.pending.get_mut(request_id) else {
            return;
        };
        match &mut request.answer {
            AnswerState::Writing { proposed, .. } => *proposed = Some(answer),
            state => *state = AnswerState::Proposed(answer),
        }
        if let Some(view) = request.call_view() {
            self.emit(BridgeEvent::ToolCallProposed { call: view });
        }
    }

    pub(super) fn expire(&mut self, request_id: &str, reason: String) {
        self.finish(request_id, CallEnd::Expired, None, None, Some(reason));
    }

    /// Ends a request exactly once: it leaves the store (or the requests restored from
    /// transcripts), and gets its transcript row and its event.
    pub(super) fn finish(
        &mut self,
        request_id: &str,
        end: CallEnd,
        by: Option<Responder>,
        answer: Option<Answer>,
        reason: Option<String>,
    ) {
        let ending = match self.pending.remove(request_id) {
            Some(request) => {
                if let PendingKind::ToolCall(call) = &request.kind
                    && let Some(task) = &call.handler_task
                {
                    task.abort();
                }
                // The claim ends with its request; its lease timer has nothing to say.
                if let Some(held) = &request.claim {
                    held.timer.abort();
                }
                if let (CallEnd::Resolved, Some(answer)) = (&end, &answer) {
                    self.keep_answer(&request, answer);
                }
                Ending {
                    key: request.key.clone(),
                    thread_id: request.thread_id.clone(),
                    turn_id: request.turn_id.clone(),
                    kind: request.request_kind(),
                    method: request.method.clone(),
                    item_id: request.item_id(),
                    tool: request
                        .tool_call()
                        .map(|c| c.tool.clone())
                        .unwrap_or_default(),
                    latency_ms: u64::try_from(request.received_at.elapsed().as_millis())
                        .unwrap_or(u64::MAX),
                    namespace: request.tool_call().and_then(|c| c.namespace.clone()),
                    schema_problems: request
                        .tool_call()
                        .map(|c| c.schema_problems.clone())
                        .unwrap_or_default(),
                    handler_failure: request.tool_call().and_then(|c| c.handler_failure.clone()),
                }
            }
            None => match self.take_restored(request_id) {
                Some(restored) => Ending {
                    key: restored.request_id,
                    thread_id: restored.thread_id,
                    turn_id: restored.turn_id,
                    kind: restored.kind,
                    method: restored.method,
                    item_id: Some(restored.item_id),
                    tool: restored.tool,
                    latency_ms: u64::try_from(now_ms().saturating_sub(restored.received_at_ms))
                        .unwrap_or(0),
                    namespace: None,
                    schema_problems: Vec::new(),
                    handler_failure: None,
                },
                None => return,
            },
        };
        self.recovery.carried.remove(request_id);
        let success = end == CallEnd::Resolved
            && match &answer {
                Some(Answer::ToolCall(result)) => result.success,
                Some(_) => true,
                None => false,
            };
        self.totals.record(EndedRequest {
            status: end,
            answered_by: by.as_ref(),
            success,
        });
        let Ending {
            key,
            thread_id,
            turn_id,
            kind,
            method,
            item_id,
            tool,
            latency_ms,
            namespace,
            schema_problems,
            handler_failure,
        } = ending;
        if kind == RequestKind::ToolCall {
            let result = match answer {
                Some(Answer::ToolCall(result)) => Some(result),
                _ => None,
            };
            let output_schema_problems = match (&result, end) {
                (Some(result), CallEnd::Resolved) => self
                    .config
                    .catalog
                    .tool(namespace.as_deref(), &tool)
                    .map(|def| def.output_problems(result))
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let call_id = item_id.unwrap_or_default();
            self.append_row(
                &thread_id,
                turn_id.clone(),
                TranscriptEntry::ToolCallResolved {
                    request_id: key.clone(),
                    call_id: call_id.clone(),
                    tool: tool.clone(),
                    status: end,
                    success,
                    answered_by: by.clone(),
                    latency_ms,
                    content: result.clone(),
                    reason: reason.clone(),
                    output_schema_problems: output_schema_problems.clone(),
                },
            );
            let call = ResolvedCall {
                request_id: key,
                thread_id,
                turn_id: turn_id.unwrap_or_default(),
                call_id,
                namespace,
                tool,
                status: end,
                success,
                answered_by: by,
                reason,
                latency_ms,
                result,
                schema_problems,
                output_schema_problems,
                timed_out: handler_failure.as_ref().is_some_and(|f| f.timed_out),
                handler_failure: handler_failure.map(|f| f.message),
            };
            self.tool_stats.record(&call);
            self.emit(BridgeEvent::ToolCallResolved { call });
            return;
        }
        let decision = answer.as_ref().map(Answer::label);
        let answer = answer.as_ref().map(Answer::to_value);
        self.append_row(
            &thread_id,
            turn_id.clone(),
            TranscriptEntry::RequestResolved {
                request_id: key.clone(),
                kind,
                method: method.clone(),
                item_id: item_id.clone(),
                status: end,
                answered_by: by.clone(),
                decision: decision.clone(),
                answer: answer.clone(),
                latency_ms,
                reason: reason.clone(),
            },
        );
        self.emit(BridgeEvent::RequestResolved {
            request: ResolvedRequest {
                request_id: key,
                kind,
                method,
                thread_id,
                turn_id,
                item_id,
                status: end,
                answered_by: by,
                decision,
                answer,
                reason,
                latency_ms,
            },
        });
    }
}

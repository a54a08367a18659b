//! Intake: what app-server sends. Server requests are recognised (a replay after a
//! reconnect), registered (in the store before anyone can see them), then routed (a
//! handler, a person, a policy); notifications move sessions, turns and requests on.

use std::time::Instant;

use serde_json::Value;

use super::{Actor, Internal, Origin};
use crate::appserver::Inbound;
use crate::bridge::dispatch::{self, Route};
use crate::bridge::events::{BridgeEvent, Responder};
use crate::bridge::pending::{AnswerState, Answerer, PendingKind, PendingRequest, ToolCall};
use crate::bridge::session::SessionStatus;
use crate::bridge::transcript::TranscriptEntry;
use crate::handlers::HandlerInput;
use crate::protocol::{
    Answer, DynamicToolCallParams, Request, RequestKind, RpcError, ServerNotification,
    ServerRequest, ThreadItem, ToolCallResult, codes,
};
use crate::util::now_ms;

impl Actor {
    pub(super) fn on_inbound(&mut self, message: Inbound) {
        match message {
            Inbound::Request(request) => self.on_server_request(request),
            Inbound::Notification(notification) => {
                match ServerNotification::from_notification(&notification) {
                    Ok(typed) => {
                        self.emit(BridgeEvent::AppServerNotification {
                            thread_id: typed.thread_id().map(str::to_string),
                            method: notification.method.clone(),
                            params: notification.params.clone().unwrap_or(Value::Null),
                        });
                        self.on_notification(typed);
                    }
                    Err(e) => {
                        tracing::warn!(target: "bridge", "could not read `{}` notification: {e}", notification.method);
                        self.emit(BridgeEvent::AppServerNotification {
                            thread_id: None,
                            method: notification.method,
                            params: notification.params.unwrap_or(Value::Null),
                        });
                    }
                }
            }
            Inbound::Closed { reason } => self.on_connection_lost(reason),
        }
    }

    fn on_server_request(&mut self, request: Request) {
        match ServerRequest::from_request(&request) {
            Ok(ServerRequest::ToolCall(params)) => self.on_tool_call(request, params),
            Ok(other) => self.refuse_server_request(request, &other),
            Err(e) => {
                let message = format!("could not read `{}` params: {e}", request.method);
                tracing::warn!(target: "bridge", "{message}");
                self.answer_with_error(request, codes::INVALID_REQUEST, message);
            }
        }
    }

    /// The documented policy for server requests other than tool calls: approvals are
    /// declined (the turn goes on without the action); anything else is refused with
    /// JSON-RPC error -32601. Nothing is ever left hanging.
    fn refuse_server_request(&mut self, request: Request, typed: &ServerRequest) {
        let thread_id = typed.thread_id().map(str::to_string);
        let method = typed.method().to_string();
        let decline = match typed {
            ServerRequest::CommandApproval(_) | ServerRequest::FileChangeApproval(_) => {
                Some(serde_json::json!({ "decision": "decline" }))
            }
            ServerRequest::LegacyApproval(_) => Some(serde_json::json!({ "decision": "denied" })),
            _ => None,
        };
        let answer = match &decline {
            Some(result) => format!("declined with {result}"),
            None => format!("refused with JSON-RPC error {}", codes::METHOD_NOT_FOUND),
        };
        tracing::info!(target: "bridge", "server request `{method}` {answer}");
        self.emit(BridgeEvent::ServerRequestRefused {
            thread_id,
            method: method.clone(),
            answer,
        });
        match decline {
            Some(result) => {
                if let Some(conn) = self.upstream.conn.clone() {
                    tokio::spawn(async move {
                        if let Err(e) = conn.respond(request.id, result).await {
                            tracing::warn!(target: "bridge", "could not decline `{method}`: {e}");
                        }
                    });
                }
            }
            None => self.answer_with_error(
                request,
                codes::METHOD_NOT_FOUND,
                format!("switchboard does not handle `{method}`"),
            ),
        }
    }

    fn answer_with_error(&self, request: Request, code: i64, message: String) {
        if let Some(conn) = self.upstream.conn.clone() {
            tokio::spawn(async move {
                let error = RpcError {
                    code,
                    message,
                    data: None,
                };
                if let Err(e) = conn.respond_error(request.id, error).await {
                    tracing::warn!(target: "bridge", "could not refuse `{}`: {e}", request.method);
                }
            });
        }
    }

    /// app-server sends a pending request again, same item, after a reconnect and
    /// `thread/resume`: the same request, now answerable through the new rpc id. An
    /// automatic answer that the lost connection did not carry goes now.
    fn recognise_replay(
        &mut self,
        request: &Request,
        kind: RequestKind,
        thread_id: &str,
        item: &str,
    ) -> bool {
        let connection = self.upstream.id;
        let Some(existing) = self.pending.find_by_item_mut(thread_id, kind, item) else {
            return false;
        };
        let key = existing.key.clone();
        tracing::info!(target: "bridge", "app-server re-sent pending request {key}");
        let stashed = match std::mem::replace(&mut existing.answer, AnswerState::Waiting) {
            AnswerState::Stashed { answer, by } => Some((answer, by)),
            other => {
                existing.answer = other;
                None
            }
        };
        self.pending.rebind(&key, request.id.clone(), connection);
        if let Some((answer, by)) = stashed {
            self.start_write(key, answer, by, Origin::Automatic);
        }
        true
    }

    /// Our id for a new request: the one it had in its transcript if it was restored
    /// from one (then its request row is there already), else a fresh one.
    fn claim_key(&mut self, thread_id: &str, kind: RequestKind, item: &str) -> (String, bool) {
        match self.take_restored_item(thread_id, kind, item) {
            Some(key) => (key, true),
            None => (self.next_key(), false),
        }
    }

    fn on_tool_call(&mut self, request: Request, params: DynamicToolCallParams) {
        let kind = RequestKind::ToolCall;
        if self.recognise_replay(&request, kind, &params.thread_id, &params.call_id)
            || self.resend_kept_answer(
                &request,
                &params.thread_id,
                &params.turn_id,
                kind,
                &params.call_id,
            )
        {
            return;
        }
        let (request_id, restored) = self.claim_key(&params.thread_id, kind, &params.call_id);
        let catalog = self.config.catalog.clone();
        let tool_def = catalog.tool(params.namespace.as_deref(), &params.tool);
        let declared = self
            .sessions
            .get(&params.thread_id)
            .is_some_and(|s| s.has_tool(params.namespace.as_deref(), &params.tool));
        let route = dispatch::decide(
            &catalog,
            params.namespace.as_deref(),
            &params.tool,
            declared,
            &self.config.manual_policy,
        );
        let schema_problems = tool_def
            .map(|def| catalog.validate_arguments(def, &params.arguments))
            .unwrap_or_default();
        let held = self.hold.holds(&params.tool);
        let answerer = match &route {
            Route::RunHandler { name, .. } if held => Answerer::Review { name: name.clone() },
            Route::RunHandler { name, .. } => Answerer::Handler { name: name.clone() },
            Route::WaitForPerson | Route::Refuse { .. } => Answerer::Person,
        };
        let pending = PendingRequest {
            key: request_id.clone(),
            rpc: request.id.clone(),
            connection: self.upstream.id,
            method: request.method.clone(),
            thread_id: params.thread_id.clone(),
            turn_id: Some(params.turn_id.clone()),
            params: request.params.clone().unwrap_or(Value::Null),
            received_at_ms: now_ms(),
            received_at: Instant::now(),
            answerer: answerer.clone(),
            kind: PendingKind::ToolCall(ToolCall {
                call_id: params.call_id.clone(),
                namespace: params.namespace.clone(),
                tool: params.tool.clone(),
                arguments: params.arguments.clone(),
                schema_problems,
                handler_task: None,
            }),
            answer: AnswerState::Waiting,
            completed_upstream: false,
        };
        let view = pending.call_view();
        // Registered before anyone can see it: a responder never races the store.
        self.pending.insert(pending);
        crate::appserver::timeline::mark("bridge.call.registered");
        if !restored {
            self.append_row(
                &params.thread_id,
                Some(params.turn_id.clone()),
                TranscriptEntry::ToolCallRequest {
                    request_id: request_id.clone(),
                    call_id: params.call_id.clone(),
                    tool: params.tool.clone(),
                    namespace: params.namespace.clone(),
                    arguments: params.arguments.clone(),
                    answerer: answerer.label().to_string(),
                },
            );
        }
        if let Some(view) = view {
            self.emit(BridgeEvent::ToolCallRequested { call: view });
        }
        self.route_tool_call(request_id, params, route, held);
    }

    fn route_tool_call(
        &mut self,
        request_id: String,
        params: DynamicToolCallParams,
        route: Route,
        held: bool,
    ) {
        match route {
            // A fixed answer needs no task: send it (or propose it) right away.
            Route::RunHandler {
                name,
                spec: crate::catalog::HandlerSpec::Static(result),
            } => {
                if held {
                    self.propose(&request_id, Answer::ToolCall(result));
                } else {
                    self.start_write(
                        request_id,
                        Answer::ToolCall(result),
                        Responder::Handler { name },
                        Origin::Automatic,
                    );
                }
            }
            Route::RunHandler { name, spec } => {
                let Some(tx) = self.self_tx.upgrade() else {
                    return;
                };
                let runner = self.handlers.clone();
                let input = HandlerInput {
                    tool: params.tool,
                    arguments: params.arguments,
                    call_id: params.call_id,
                    thread_id: params.thread_id,
                    turn_id: params.turn_id,
                    request_id: request_id.clone(),
                };
                let key = request_id.clone();
                let task = tokio::spawn(async move {
                    let outcome = runner.run(&spec, &input).await;
                    if let Some(failure) = &outcome.failure {
                        tracing::info!(target: "bridge", "handler {name} failed for {request_id}: {failure}");
                    }
                    let report = Internal::HandlerAnswered {
                        request_id,
                        result: outcome.result,
                        by: Responder::Handler { name },
                        held,
                    };
                    let _ = tx.send(crate::bridge::Command::Internal(report)).await;
                });
                // Ending the call aborts the run: a dead call's handler frees its slot
                // (and its process group) at once.
                if let Some(PendingRequest {
                    kind: PendingKind::ToolCall(call),
                    ..
                }) = self.pending.get_mut(&key)
                {
                    call.handler_task = Some(task.abort_handle());
                }
            }
            Route::WaitForPerson => {}
            Route::Refuse { text, reason } => {
                self.start_write(
                    request_id,
                    Answer::ToolCall(ToolCallResult::text(false, text)),
                    Responder::Policy {
                        reason: reason.to_string(),
                    },
                    Origin::Automatic,
                );
            }
        }
    }

    fn on_notification(&mut self, notification: ServerNotification) {
        match notification {
            ServerNotification::ThreadStarted { .. }
            | ServerNotification::Warning { .. }
            | ServerNotification::ServerRequestResolved { .. }
            | ServerNotification::Other { .. } => {}
            ServerNotification::ThreadStatusChanged { thread_id, status } => {
                if let Some(session) = self.sessions.get_mut(&thread_id) {
                    let next = match status.as_str() {
                        "active" => SessionStatus::Running,
                        "systemError" => SessionStatus::Failed,
                        _ if session.status == SessionStatus::Failed => SessionStatus::Failed,
                        _ => SessionStatus::Idle,
                    };
                    // Sessions not attached (yet) take their status from their resume.
                    if super::recovery::is_attached(session.status) && session.status != next {
                        session.status = next;
                        session.updated_at_ms = now_ms();
                        let summary = session.summary();
                        self.emit(BridgeEvent::SessionUpdated { session: summary });
                    }
                }
            }
            ServerNotification::ThreadClosed { thread_id } => {
                self.close_session(&thread_id, "app-server closed the thread");
            }
            ServerNotification::TurnStarted { thread_id, turn } => {
                self.record_turn(&thread_id, &turn.id);
            }
            ServerNotification::TurnCompleted { thread_id, turn } => {
                self.complete_turn(
                    &thread_id,
                    &turn.id,
                    turn.status,
                    turn.error.map(|e| e.message),
                );
            }
            ServerNotification::ItemStarted { .. } => {}
            ServerNotification::ItemCompleted {
                thread_id,
                turn_id,
                item,
            } => self.on_item_completed(thread_id, turn_id, item),
            ServerNotification::AgentMessageDelta {
                thread_id,
                turn_id,
                item_id,
                delta,
            } => {
                if let Some(session) = self.sessions.get_mut(&thread_id) {
                    session
                        .streaming
                        .entry(item_id.clone())
                        .or_default()
                        .push_str(&delta);
                }
                self.emit(BridgeEvent::AgentMessageDelta {
                    thread_id,
                    turn_id,
                    item_id,
                    delta,
                });
            }
            ServerNotification::Error {
                thread_id,
                turn_id,
                message,
                will_retry,
            } => {
                let text = if will_retry {
                    format!("{message} (app-server will retry)")
                } else {
                    message
                };
                if let Some(thread_id) = &thread_id {
                    self.append_row(
                        thread_id,
                        turn_id,
                        TranscriptEntry::Error {
                            message: text.clone(),
                        },
                    );
                }
                self.emit(BridgeEvent::Error {
                    thread_id,
                    message: text,
                });
            }
        }
    }

    fn on_item_completed(&mut self, thread_id: String, turn_id: String, item: ThreadItem) {
        match item {
            ThreadItem::UserMessage { text, .. } => {
                self.append_row(
                    &thread_id,
                    Some(turn_id),
                    TranscriptEntry::UserMessage { text },
                );
            }
            ThreadItem::AgentMessage { id, text } => {
                if let Some(session) = self.sessions.get_mut(&thread_id) {
                    session.streaming.remove(&id);
                    if let Some(turn) = session.turn_mut(&turn_id) {
                        turn.assistant_reply = Some(text.clone());
                    }
                }
                self.append_row(
                    &thread_id,
                    Some(turn_id.clone()),
                    TranscriptEntry::AgentMessage {
                        item_id: id.clone(),
                        text: text.clone(),
                    },
                );
                self.emit(BridgeEvent::AgentMessageCompleted {
                    thread_id,
                    turn_id,
                    item_id: id,
                    text,
                });
            }
            ThreadItem::DynamicToolCall { id, status, .. } => {
                let Some(call) = self.pending.find_call_mut(&thread_id, &id) else {
                    return;
                };
                if call.answer.is_writing() {
                    // Our answer is on its way; this completion is most likely its effect.
                    call.completed_upstream = true;
                } else {
                    let request_id = call.key.clone();
                    self.expire(
                        &request_id,
                        format!("app-server ended the call without our answer (item {status})"),
                    );
                }
            }
            ThreadItem::FileChange { .. } | ThreadItem::Other { .. } => {}
        }
    }
}

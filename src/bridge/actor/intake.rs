//! Intake: what app-server sends. Server requests are recognised (a replay after a
//! reconnect), registered (in the store before anyone can see them), then routed (a
//! handler, a person, a policy); notifications move sessions, turns and requests on.

use std::time::Instant;

use serde_json::Value;

use super::{Actor, Internal, Origin};
use crate::appserver::Inbound;
use crate::bridge::dispatch::{self, RequestRoute, Route};
use crate::bridge::events::{ANSWERED_ELSEWHERE, BridgeEvent, Responder};
use crate::bridge::pending::{
    AnswerState, Answerer, HandlerFailure, PendingKind, PendingRequest, ToolCall,
};
use crate::bridge::session::{SessionOrigin, SessionStatus};
use crate::bridge::transcript::TranscriptEntry;
use crate::handlers::HandlerInput;
use crate::protocol::{
    Answer, DynamicToolCallParams, Request, RequestId, RequestKind, RpcError, ServerNotification,
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
                        let params = self
                            .raw
                            .share(notification.params.clone().unwrap_or(Value::Null));
                        self.emit(BridgeEvent::AppServerNotification {
                            thread_id: typed.thread_id().map(str::to_string),
                            method: notification.method.clone(),
                            params,
                        });
                        self.fold_items(&notification);
                        self.on_notification(typed);
                    }
                    Err(e) => {
                        tracing::warn!(target: "bridge", "could not read `{}` notification: {e}", notification.method);
                        let params = notification.params.unwrap_or(Value::Null);
                        // Still its thread's, for the API's thread filters.
                        let thread_id = thread_of(&params);
                        let params = self.raw.share(params);
                        self.emit(BridgeEvent::AppServerNotification {
                            thread_id,
                            method: notification.method,
                            params,
                        });
                    }
                }
            }
            Inbound::Closed { reason } => self.on_connection_lost(self.source, reason),
        }
    }

    /// Takes a server request in, then tells the consumers that mirror app-server about
    /// it as it came (`AppServerRequest`), once it is registered or answered.
    fn on_server_request(&mut self, request: Request) {
        let raw = BridgeEvent::AppServerRequest {
            thread_id: request.params.as_ref().and_then(thread_of),
            id: request.id.clone(),
            method: request.method.clone(),
            params: self
                .raw
                .share(request.params.clone().unwrap_or(Value::Null)),
        };
        self.take_server_request(request);
        self.emit(raw);
    }

    fn take_server_request(&mut self, request: Request) {
        match ServerRequest::from_request(&request) {
            Ok(ServerRequest::ToolCall(params)) => self.on_tool_call(request, params),
            Ok(ServerRequest::Other { method, params }) => {
                self.refuse_server_request(request, &method, &params)
            }
            Ok(typed) => self.on_blocking_request(request, typed),
            Err(e) => {
                let message = format!("could not read `{}` params: {e}", request.method);
                tracing::warn!(target: "bridge", "{message}");
                let thread_id = request
                    .params
                    .as_ref()
                    .and_then(|p| p.get("threadId"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.emit(BridgeEvent::ServerRequestRefused {
                    thread_id,
                    method: request.method.clone(),
                    answer: format!(
                        "refused with JSON-RPC error {}: {message}",
                        codes::INVALID_REQUEST
                    ),
                });
                self.answer_with_error(request, codes::INVALID_REQUEST, message);
            }
        }
    }

    /// An approval, a question or an elicitation: a pending request like a tool call
    /// (recognised if it is a replay, registered before it is visible, ended exactly
    /// once), which a person answers, or the request policy at once.
    fn on_blocking_request(&mut self, request: Request, typed: ServerRequest) {
        let Some(kind) = typed.kind() else {
            return;
        };
        let thread_id = typed.thread_id().unwrap_or_default().to_string();
        let turn_id = typed.turn_id().map(str::to_string);
        let method = typed.method().to_string();
        // The catalog's `[[approvals]]` rules answer what a person need not see.
        let context = crate::catalog::RequestContext {
            cwd: self.sessions.get(&thread_id).and_then(|s| s.cwd.clone()),
            file_paths: match &typed {
                ServerRequest::FileChangeApproval(params) => self
                    .file_changes
                    .get(&(thread_id.clone(), params.item_id.clone()))
                    .map(changed_paths),
                _ => None,
            },
        };
        // A watched thread's request waits for a person unless its operator turned
        // auto-answer on: no rule, no handler, no policy refusal answers it.
        let by_person = self.person_answers(&thread_id);
        let rule = if by_person {
            crate::catalog::RuleOutcome::Ask {
                rule_index: None,
                note: None,
            }
        } else if self.config.request_policy.asks_rules() {
            self.config.catalog.approvals.decide(&typed, &context)
        } else {
            crate::catalog::RuleOutcome::Ask {
                rule_index: None,
                note: None,
            }
        };
        let pending_kind = match typed {
            ServerRequest::CommandApproval(p) => PendingKind::CommandApproval(p),
            ServerRequest::FileChangeApproval(params) => {
                let changes = self
                    .file_changes
                    .get(&(thread_id.clone(), params.item_id.clone()))
                    .cloned();
                PendingKind::FileChangeApproval { params, changes }
            }
            ServerRequest::PermissionsApproval(p) => PendingKind::PermissionsApproval(p),
            ServerRequest::UserInput(p) => PendingKind::UserInput(p),
            ServerRequest::McpElicitation(p) => PendingKind::McpElicitation(p),
            ServerRequest::LegacyApproval(p) => PendingKind::LegacyApproval(p),
            ServerRequest::ToolCall(_) | ServerRequest::Other { .. } => return,
        };
        let item = pending_kind.item_key();
        if let Some(item) = &item
            && (self.recognise_replay(&request, kind, &thread_id, item)
                || self.resend_kept_answer(
                    &request,
                    &thread_id,
                    turn_id.as_deref().unwrap_or_default(),
                    kind,
                    item,
                ))
        {
            return;
        }
        let (request_id, restored) = match &item {
            Some(item) => self.claim_key(&thread_id, kind, item),
            None => (self.next_key(), false),
        };
        let route = RequestRoute::from_rule(rule, || {
            if by_person {
                RequestRoute::WaitForPerson
            } else {
                dispatch::route_request(kind, &method, &self.config.request_policy)
            }
        });
        let answerer = match &route {
            RequestRoute::WaitForPerson => Answerer::Person,
            RequestRoute::Refuse { .. } => Answerer::Handler {
                name: "request policy".to_string(),
            },
            RequestRoute::ByRule { rule, .. } => Answerer::Handler {
                name: format!("approval rule {rule}"),
            },
            RequestRoute::RunHandler { rule, .. } => Answerer::Handler {
                name: format!("approval rule {rule} handler"),
            },
        };
        let pending = PendingRequest {
            key: request_id.clone(),
            rpc: request.id.clone(),
            connection: self.upstreams[self.source].id,
            app_server: self.upstreams[self.source].name.clone(),
            method: method.clone(),
            thread_id: thread_id.clone(),
            turn_id: turn_id.clone(),
            params: request.params.clone().unwrap_or(Value::Null),
            received_at_ms: now_ms(),
            received_at: Instant::now(),
            answerer,
            kind: pending_kind,
            answer: AnswerState::Waiting,
            completed_upstream: false,
            claim: None,
        };
        let view = pending.request_view();
        let row = TranscriptEntry::RequestOpened {
            request_id: request_id.clone(),
            kind,
            method: method.clone(),
            item_id: pending.item_id(),
            item_key: item.clone(),
            summary: pending.summary(),
            params: pending.params.clone(),
            answerer: route.responder_label(),
        };
        // Registered before anyone can see it: a responder never races the store.
        self.pending.insert(pending);
        if !restored {
            self.append_row(&thread_id, turn_id, row);
        }
        // A handler rule's request is shown once its script decided who answers.
        if let Some(view) = view
            && !matches!(route, RequestRoute::RunHandler { .. })
        {
            self.emit(BridgeEvent::RequestOpened { request: view });
        }
        match route {
            RequestRoute::WaitForPerson => {}
            RequestRoute::RunHandler { rule, spec, input } => {
                self.run_rule_handler(request_id, rule, spec, input);
            }
            RequestRoute::Refuse { answer, reason, .. } => {
                tracing::info!(target: "bridge", "{method} {request_id}: {reason}");
                self.start_write(
                    request_id,
                    answer,
                    Responder::Policy { reason },
                    Origin::Automatic,
                );
            }
            RequestRoute::ByRule {
                answer,
                rule,
                reason,
            } => {
                let reason = match reason {
                    Some(why) => format!("approval rule {rule}: {why}"),
                    None => format!("approval rule {rule}"),
                };
                tracing::info!(target: "bridge", "{method} {request_id}: {reason}");
                self.start_write(
                    request_id,
                    answer,
                    Responder::Policy { reason },
                    Origin::Automatic,
                );
            }
        }
    }

    /// Runs an approval rule's handler script for a registered request; what it prints
    /// comes back as [`Internal::RuleHandlerDone`].
    fn run_rule_handler(
        &mut self,
        request_id: String,
        rule: usize,
        spec: crate::catalog::CommandSpec,
        input: Value,
    ) {
        let Some(tx) = self.self_tx.upgrade() else {
            return;
        };
        let runner = self.handlers.clone();
        tokio::spawn(async move {
            let label = format!("approval rule {rule} handler");
            let printed = runner.run_approval(&spec, &input, &label).await;
            let report = Internal::RuleHandlerDone {
                request_id,
                rule,
                printed,
            };
            let _ = tx.send(crate::bridge::Command::Internal(report)).await;
        });
    }

    /// A rule's handler finished: send the decision it printed, checked against the
    /// request. Output that is no valid decision, a failed run or `ask` leaves the
    /// request to the policy (a person, or the headless refusal), with the reason in the
    /// log and the transcript. A request answered or ended meanwhile is left alone.
    pub(super) fn on_rule_handler_done(
        &mut self,
        request_id: String,
        rule: usize,
        printed: Result<String, String>,
    ) {
        let Some(pending) = self.pending.get(&request_id) else {
            return;
        };
        if !matches!(pending.answer, AnswerState::Waiting) {
            return;
        }
        let request = Request {
            id: pending.rpc.clone(),
            method: pending.method.clone(),
            params: Some(pending.params.clone()),
        };
        let decided = printed.and_then(|stdout| {
            let typed = ServerRequest::from_request(&request)
                .map_err(|e| format!("approval rule {rule}: the request does not parse: {e}"))?;
            crate::catalog::answer_from_handler(&typed, &stdout, rule)
        });
        let decided = match decided {
            Ok(crate::catalog::RuleOutcome::Decided {
                decision,
                reason,
                answer,
                ..
            }) => super::answers::check_answer(pending, &answer)
                .map(|()| (decision, reason, answer))
                .map_err(|e| {
                    format!(
                        "the handler of approval rule {rule} decided {}, which does not fit: {e}",
                        decision.as_str()
                    )
                }),
            Ok(crate::catalog::RuleOutcome::Ask { note, .. }) => Err(format!(
                "the handler of approval rule {rule} said ask{}",
                note.map(|n| format!(" ({n})")).unwrap_or_default()
            )),
            Ok(crate::catalog::RuleOutcome::RunHandler { .. }) => Err(format!(
                "the handler of approval rule {rule} named another handler"
            )),
            Err(why) => Err(why),
        };
        match decided {
            Ok((decision, reason, answer)) => {
                let reason = match reason {
                    Some(why) => {
                        format!("approval rule {rule} handler: {}: {why}", decision.as_str())
                    }
                    None => format!("approval rule {rule} handler: {}", decision.as_str()),
                };
                tracing::info!(target: "bridge", "{} {request_id}: {reason}", request.method);
                self.show_request(&request_id, None);
                self.start_write(
                    request_id,
                    answer,
                    Responder::Policy { reason },
                    Origin::Automatic,
                );
            }
            Err(why) => self.after_failed_handler(request_id, &request.method, why),
        }
    }

    /// A rule handler gave no decision: the policy takes the request, and the
    /// transcript says why.
    fn after_failed_handler(&mut self, request_id: String, method: &str, why: String) {
        let Some(pending) = self.pending.get(&request_id) else {
            return;
        };
        let kind = pending.request_kind();
        let thread_id = pending.thread_id.clone();
        let turn_id = pending.turn_id.clone();
        let route = dispatch::route_request(kind, method, &self.config.request_policy);
        let next = match &route {
            RequestRoute::WaitForPerson => "a person decides".to_string(),
            _ => format!("request policy `{}`", self.config.request_policy.word()),
        };
        tracing::warn!(target: "bridge", "{method} {request_id}: {why}; {next}");
        self.append_row(
            &thread_id,
            turn_id,
            TranscriptEntry::Notice {
                message: format!("request {request_id} ({method}): {why}; {next}"),
            },
        );
        match route {
            RequestRoute::Refuse { answer, reason, .. } => {
                self.show_request(
                    &request_id,
                    Some(Answerer::Handler {
                        name: "request policy".to_string(),
                    }),
                );
                self.start_write(
                    request_id,
                    answer,
                    Responder::Policy {
                        reason: format!("{why}; {reason}"),
                    },
                    Origin::Automatic,
                );
            }
            _ => self.show_request(&request_id, Some(Answerer::Person)),
        }
    }

    /// Emits the (held back) `RequestOpened` of a request, with its answerer changed
    /// first when given.
    fn show_request(&mut self, request_id: &str, answerer: Option<Answerer>) {
        let Some(pending) = self.pending.get_mut(request_id) else {
            return;
        };
        if let Some(answerer) = answerer {
            pending.answerer = answerer;
        }
        if let Some(view) = pending.request_view() {
            self.emit(BridgeEvent::RequestOpened { request: view });
        }
    }

    /// Requests Switchboard cannot serve (`account/chatgptAuthTokens/refresh`,
    /// `attestation/generate`, anything unknown): refused at once with JSON-RPC error
    /// -32601, shown as an event and in the session's transcript. Nothing hangs.
    fn refuse_server_request(&mut self, request: Request, method: &str, params: &Value) {
        let thread_id = params
            .get("threadId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let answer = format!(
            "refused with JSON-RPC error {}: Switchboard cannot serve `{method}`",
            codes::METHOD_NOT_FOUND
        );
        tracing::info!(target: "bridge", "server request `{method}` {answer}");
        if let Some(thread_id) = &thread_id {
            self.append_row(
                thread_id,
                params
                    .get("turnId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                TranscriptEntry::Notice {
                    message: format!("app-server asked for `{method}`: {answer}"),
                },
            );
        }
        self.emit(BridgeEvent::ServerRequestRefused {
            thread_id,
            method: method.to_string(),
            answer,
        });
        self.answer_with_error(
            request,
            codes::METHOD_NOT_FOUND,
            format!("switchboard does not handle `{method}`"),
        );
    }

    fn answer_with_error(&self, request: Request, code: i64, message: String) {
        if let Some(conn) = self.upstreams[self.source].conn.clone() {
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
        let connection = self.upstreams[self.source].id;
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

    /// Only a person answers this thread's requests: a watched thread without
    /// auto-answer, or one being attached to watch (its pending requests come right
    /// after the `thread/resume` reply, maybe before its session is registered).
    fn person_answers(&self, thread_id: &str) -> bool {
        self.attaching.contains(thread_id)
            || self
                .sessions
                .get(thread_id)
                .is_some_and(|s| !s.answers_automatically())
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
        let route = if self.person_answers(&params.thread_id) {
            // Another client's thread: shown, never answered for it (see `person_answers`).
            Route::WaitForPerson
        } else {
            dispatch::decide(
                &catalog,
                params.namespace.as_deref(),
                &params.tool,
                declared,
                &self.config.manual_policy,
            )
        };
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
            connection: self.upstreams[self.source].id,
            app_server: self.upstreams[self.source].name.clone(),
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
                handler_failure: None,
            }),
            answer: AnswerState::Waiting,
            completed_upstream: false,
            claim: None,
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
                    let failure = HandlerFailure::of(&spec, &outcome);
                    let report = Internal::HandlerAnswered {
                        request_id,
                        result: outcome.result,
                        by: Responder::Handler { name },
                        held,
                        failure,
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
            | ServerNotification::Other { .. } => {}
            ServerNotification::ServerRequestResolved {
                thread_id,
                request_id,
            } => self.on_request_resolved(&thread_id, &request_id),
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
            ServerNotification::ItemStarted {
                thread_id,
                item,
                activity,
                ..
            } => {
                if let Some(activity) = activity {
                    self.set_activity(&thread_id, Some(activity));
                }
                if let ThreadItem::FileChange { id, changes, .. } = item {
                    // The diff a file-change approval is about: it comes just before it.
                    self.file_changes.insert((thread_id, id), changes);
                }
            }
            ServerNotification::ItemCompleted {
                thread_id,
                turn_id,
                item,
            } => {
                // Back to the model, while the turn runs.
                let running = self
                    .sessions
                    .get(&thread_id)
                    .and_then(|s| s.active_turn())
                    .is_some_and(|t| t.id == turn_id);
                if running && !matches!(item, ThreadItem::UserMessage { .. }) {
                    self.set_activity(&thread_id, Some("thinking".to_string()));
                }
                self.on_item_completed(thread_id, turn_id, item);
            }
            ServerNotification::ThreadNameUpdated { thread_id, name } => {
                self.set_name(&thread_id, name);
            }
            ServerNotification::TokenUsageUpdated {
                thread_id,
                turn_id,
                usage,
            } => {
                if let Some(session) = self.sessions.get_mut(&thread_id) {
                    session.token_usage = Some(usage);
                    self.emit(BridgeEvent::TokenUsage {
                        thread_id,
                        turn_id,
                        usage,
                    });
                }
            }
            ServerNotification::RateLimitsUpdated { rate_limits } => {
                // A sparse update: what it leaves out (or sends as null) stays as it was.
                let merged = match (self.rate_limits.take(), rate_limits) {
                    (Some(Value::Object(mut known)), Value::Object(update)) => {
                        for (key, value) in update {
                            if !value.is_null() || !known.contains_key(&key) {
                                known.insert(key, value);
                            }
                        }
                        Value::Object(known)
                    }
                    (_, update) => update,
                };
                self.rate_limits = Some(merged.clone());
                self.emit(BridgeEvent::RateLimits {
                    rate_limits: merged,
                });
            }
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
            // Its transcript row is an item row, with codex's details (`bridge/items.rs`).
            ServerNotification::Error {
                thread_id,
                turn_id: _,
                message,
                will_retry,
            } => {
                let text = if will_retry {
                    format!("{message} (app-server will retry)")
                } else {
                    message
                };
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
            ThreadItem::DynamicToolCall {
                id,
                status,
                success,
                content_items,
                ..
            } => {
                let Some(call) = self.pending.find_call_mut(&thread_id, &id) else {
                    return;
                };
                if call.answer.is_writing() {
                    // Our answer is on its way; this completion is most likely its effect.
                    call.completed_upstream = true;
                } else {
                    let request_id = call.key.clone();
                    // An item that carries an answer got it from another client of the
                    // app-server (codex sends no `serverRequest/resolved` for tool calls);
                    // an interrupted call ends `failed` with nothing in it.
                    let answered = content_items
                        .as_ref()
                        .and_then(Value::as_array)
                        .is_some_and(|items| !items.is_empty());
                    let reason = match (answered, success) {
                        (true, Some(false)) => format!("{ANSWERED_ELSEWHERE} (a failure)"),
                        (true, _) => ANSWERED_ELSEWHERE.to_string(),
                        (false, _) => {
                            format!("app-server ended the call without our answer (item {status})")
                        }
                    };
                    self.expire(&request_id, reason);
                }
            }
            ThreadItem::FileChange { id, .. } => {
                self.file_changes.remove(&(thread_id, id));
            }
            ThreadItem::Other { .. } => {}
        }
    }

    /// app-server says a request ended (answered by us or another client, or cleared by
    /// turn cleanup). Ours on its way: most likely its effect. Otherwise it expired.
    fn on_request_resolved(&mut self, thread_id: &str, rpc: &RequestId) {
        let Some(key) = self.pending.key_of_rpc(self.upstreams[self.source].id, rpc) else {
            return;
        };
        let Some(request) = self.pending.get_mut(&key) else {
            return;
        };
        if request.thread_id != thread_id {
            return;
        }
        if request.answer.is_writing() {
            request.completed_upstream = true;
        } else {
            // Mid-turn on a watched thread, the client that runs it answered; at a
            // turn's end it is app-server's cleanup.
            let turn = request.turn_id.clone();
            let elsewhere = self.sessions.get(thread_id).is_some_and(|s| {
                s.origin == SessionOrigin::Watched
                    && s.active_turn()
                        .is_some_and(|t| Some(&t.id) == turn.as_ref())
            });
            let reason = if elsewhere {
                ANSWERED_ELSEWHERE.to_string()
            } else {
                "app-server resolved the request without our answer".to_string()
            };
            self.expire(&key, reason);
        }
    }
}

/// The paths of a `fileChange` item's `changes` (an array of `{path, kind, diff}`, or a
/// map keyed by path in older shapes), for `path_glob` rules.
fn changed_paths(changes: &Value) -> Vec<String> {
    match changes {
        Value::Array(items) => items
            .iter()
            .filter_map(|c| c.get("path").and_then(Value::as_str).map(str::to_string))
            .collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The `threadId` of a message's params, when it has one.
fn thread_of(params: &Value) -> Option<String> {
    params
        .get("threadId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

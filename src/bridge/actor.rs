//! The bridge actor: the one task that owns sessions, pending calls and transcripts.
//! It reacts to app-server messages and to commands from handles, in arrival order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::dispatch::{self, Decision};
use super::events::{BridgeEvent, CallEnd, ConnectionState, HoldState, ResolvedCall, Responder};
use super::pending::{Answerer, CallState, PendingCall, PendingStore};
use super::session::{Session, SessionStatus, TurnRecord};
use super::transcript::{Transcript, TranscriptEntry};
use super::{
    BridgeConfig, BridgeError, BridgeStatus, Command, HoldChange, PreparedHandler, Reply,
    RespondOutcome, Result, Totals,
};
use crate::appserver::{self, ConnectionHandle, Connector, Inbound, ProtocolTap};
use crate::handlers::{HandlerInput, HandlerRunner};
use crate::protocol::{
    DynamicToolCallParams, Request, RpcError, ServerNotification, ServerRequest, ThreadItem,
    ToolCallResult, TurnStatus, codes,
};
use crate::util::now_ms;
use recovery::RecoveryState;

/// Reconnecting, resuming and restoring sessions: a child module so that it works on the
/// actor's state directly, kept apart because it is a subject of its own.
#[path = "recovery.rs"]
pub(super) mod recovery;

/// Connects and spawns the actor. The actor stops when every handle is dropped or on
/// `Shutdown`; app-server is killed with it.
pub(super) async fn spawn(
    config: BridgeConfig,
    raw: appserver::RawConnection,
    connector: Option<Connector>,
    self_tx: mpsc::WeakSender<Command>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<BridgeEvent>,
    tap: ProtocolTap,
) -> Result<()> {
    let transport_label = config.transport.describe();
    let kill = raw.kill;
    let pid = raw.child_pid;
    let raw = appserver::RawConnection { kill: None, ..raw };
    let (conn, inbound) = appserver::connection::start(raw, 1, tap.clone(), config.request_timeout);
    let info = match conn.initialize(env!("CARGO_PKG_VERSION")).await {
        Ok(info) => info,
        Err(e) => {
            if let Some(kill) = kill {
                let _ = kill.send(());
            }
            return Err(e.into());
        }
    };
    tracing::info!(target: "bridge", "connected to app-server {} over {}", info.user_agent, transport_label);
    let connection = ConnectionState::Connected {
        server_version: info.server_version.clone(),
        user_agent: info.user_agent,
        pid,
    };
    let _ = events.send(BridgeEvent::Connection {
        transport: transport_label.clone(),
        state: connection.clone(),
    });
    let sessions_dir = config.data_dir.as_ref().map(|d| d.join("sessions"));
    let mut actor = Actor {
        handlers: Arc::new(HandlerRunner::new(config.max_concurrent_handlers)),
        config,
        sessions_dir,
        self_tx,
        events,
        conn: Some(conn),
        kill,
        transport_label,
        connection,
        sessions: HashMap::new(),
        pending: PendingStore::default(),
        turn_waiters: HashMap::new(),
        totals: Totals::default(),
        hold: HoldState::default(),
        started_writes: Vec::new(),
        id_prefix: crate::util::base36(u64::try_from(now_ms()).unwrap_or(0)),
        next_call: 0,
        connector,
        generation: 1,
        recovery: RecoveryState::default(),
        tap,
    };
    if actor.config.restore_sessions {
        actor.restore_sessions();
    }
    tokio::spawn(actor.run(commands, inbound));
    Ok(())
}

/// Writing one answer to app-server; yields the `WriteDone` to apply.
type WriteFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Command> + Send>>;

struct Actor {
    config: BridgeConfig,
    sessions_dir: Option<std::path::PathBuf>,
    /// Weak, so that the actor's own sender does not keep its queue open after every
    /// handle is gone; handler tasks upgrade it to post their answers.
    self_tx: mpsc::WeakSender<Command>,
    events: broadcast::Sender<BridgeEvent>,
    conn: Option<ConnectionHandle>,
    /// Dropping or firing this kills the app-server child.
    kill: Option<oneshot::Sender<()>>,
    transport_label: String,
    connection: ConnectionState,
    sessions: HashMap<String, Session>,
    pending: PendingStore,
    turn_waiters: HashMap<(String, String), Vec<Reply<Result<TurnRecord>>>>,
    totals: Totals,
    hold: HoldState,
    handlers: Arc<HandlerRunner>,
    /// Writes started since the run loop last looked; it moves them to its own set.
    started_writes: Vec<WriteFuture>,
    /// Request ids are `<prefix>-<n>`: the prefix (start time, base 36) keeps them
    /// unique across restarts of app-server and of Switchboard.
    id_prefix: String,
    next_call: u64,
    /// Opens a new transport to reconnect; `None` when the bridge was started on a
    /// transport it cannot open again.
    connector: Option<Connector>,
    /// The generation of the current (or last) connection; each reconnect adds one.
    generation: u64,
    /// Reconnect progress, calls restored from transcripts, answers kept for replays.
    recovery: RecoveryState,
    /// Shared with every connection, so the protocol log spans reconnects.
    tap: ProtocolTap,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbound: mpsc::Receiver<Inbound>,
    ) {
        let mut inbound_open = true;
        // Answers being written; polled here rather than spawned, one task fewer per call.
        let mut writes: FuturesUnordered<WriteFuture> = FuturesUnordered::new();
        loop {
            writes.extend(self.started_writes.drain(..));
            tokio::select! {
                biased;
                Some(done) = writes.next(), if !writes.is_empty() => self.on_command(done),
                message = inbound.recv(), if inbound_open => match message {
                    Some(message) => self.on_inbound(message),
                    None => {
                        inbound_open = false;
                        self.on_connection_lost("app-server connection reader stopped".to_string());
                    }
                },
                command = commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.stop("switchboard shut down");
                        let _ = reply.send(());
                        return;
                    }
                    Some(Command::Recovery(progress)) => {
                        if let Some(next) = self.on_recovery(progress) {
                            inbound = next;
                            inbound_open = true;
                        }
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.stop("switchboard shut down");
                        return;
                    }
                },
            }
        }
    }

    fn emit(&self, event: BridgeEvent) {
        let _ = self.events.send(event);
    }

    fn disconnected_reason(&self) -> Option<String> {
        match &self.connection {
            ConnectionState::Disconnected { reason } => Some(reason.clone()),
            ConnectionState::Reconnecting {
                attempt,
                max_attempts,
                reason,
                ..
            } => Some(format!(
                "reconnecting to app-server (attempt {attempt} of {max_attempts}) after: {reason}"
            )),
            ConnectionState::Connecting | ConnectionState::Connected { .. } => None,
        }
    }

    // ----- inbound from app-server -------------------------------------------------

    fn on_inbound(&mut self, message: Inbound) {
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
            Ok(ServerRequest::Other { method, params }) => {
                self.refuse_server_request(request, method, params)
            }
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
    fn refuse_server_request(&mut self, request: Request, method: String, params: Value) {
        let thread_id = params
            .get("threadId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let decline = match method.as_str() {
            "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => {
                Some(serde_json::json!({ "decision": "decline" }))
            }
            "applyPatchApproval" | "execCommandApproval" => {
                Some(serde_json::json!({ "decision": "denied" }))
            }
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
                if let Some(conn) = self.conn.clone() {
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
        if let Some(conn) = self.conn.clone() {
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

    fn on_tool_call(&mut self, request: Request, params: DynamicToolCallParams) {
        let generation = self.conn.as_ref().map(|c| c.generation()).unwrap_or(0);
        // app-server sends a pending call again, same call id, after a reconnect and
        // `thread/resume`: the same call, now answerable through the new rpc id.
        if let Some(existing) = self
            .pending
            .find_by_call_mut(&params.thread_id, &params.call_id)
        {
            existing.rpc_id = request.id;
            existing.generation = generation;
            tracing::info!(target: "bridge", "app-server re-sent pending call {}", existing.request_id);
            // A handler's answer that the lost connection did not carry goes now.
            if let Some((result, by)) = existing.stashed.take() {
                let request_id = existing.request_id.clone();
                self.start_write(request_id, result, by, None);
            }
            return;
        }
        if self.resend_kept_answer(&request, &params) {
            return;
        }
        // A call read back from the transcript keeps its id and its request row.
        let restored = self.take_restored_call(&params.thread_id, &params.call_id);
        let request_id = match &restored {
            Some(call) => call.request_id.clone(),
            None => {
                let id = format!("{}-{}", self.id_prefix, self.next_call);
                self.next_call += 1;
                id
            }
        };
        let catalog = self.config.catalog.clone();
        let tool_def = catalog.tool(params.namespace.as_deref(), &params.tool);
        let declared = self
            .sessions
            .get(&params.thread_id)
            .is_some_and(|s| s.has_tool(params.namespace.as_deref(), &params.tool));
        let decision = dispatch::decide(
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
        let answerer = match &decision {
            Decision::RunHandler { name, .. } if held => Answerer::Review { name: name.clone() },
            Decision::RunHandler { name, .. } => Answerer::Handler { name: name.clone() },
            Decision::WaitForPerson | Decision::Refuse { .. } => Answerer::Person,
        };
        let call = PendingCall {
            request_id: request_id.clone(),
            rpc_id: request.id,
            generation,
            thread_id: params.thread_id.clone(),
            turn_id: params.turn_id.clone(),
            call_id: params.call_id.clone(),
            namespace: params.namespace.clone(),
            tool: params.tool.clone(),
            arguments: params.arguments.clone(),
            received_at_ms: now_ms(),
            received_at: Instant::now(),
            answerer: answerer.clone(),
            schema_problems,
            state: CallState::Waiting,
            completed_upstream: false,
            proposed: None,
            stashed: None,
            handler_task: None,
        };
        let view = call.view();
        // Registered before anyone can see it: a responder never races the store.
        self.pending.insert(call);
        if restored.is_none() {
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
        self.emit(BridgeEvent::ToolCallRequested { call: view });
        match decision {
            // A fixed answer needs no task: send it (or propose it) right away.
            Decision::RunHandler {
                name,
                spec: crate::catalog::HandlerSpec::Static(result),
            } => {
                if held {
                    self.propose(&request_id, result);
                } else {
                    self.start_write(request_id, result, Responder::Handler { name }, None);
                }
            }
            Decision::RunHandler { name, spec } => {
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
                    let command = if held {
                        Command::Propose {
                            request_id,
                            result: outcome.result,
                        }
                    } else {
                        Command::Respond {
                            request_id,
                            result: outcome.result,
                            by: Responder::Handler { name },
                            reply: None,
                        }
                    };
                    let _ = tx.send(command).await;
                });
                // Ending the call aborts the run: a dead call's handler frees its slot
                // (and its process group) at once.
                if let Some(call) = self.pending.get_mut(&key) {
                    call.handler_task = Some(task.abort_handle());
                }
            }
            Decision::WaitForPerson => {}
            Decision::Refuse { text, reason } => {
                let result = ToolCallResult::text(false, text);
                self.start_write(
                    request_id,
                    result,
                    Responder::Policy {
                        reason: reason.to_string(),
                    },
                    None,
                );
            }
        }
    }

    fn on_notification(&mut self, notification: ServerNotification) {
        match notification {
            ServerNotification::ThreadStarted { .. }
            | ServerNotification::Warning { .. }
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
                    if recovery::is_attached(session.status) && session.status != next {
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
                let Some(call) = self.pending.find_by_call_mut(&thread_id, &id) else {
                    return;
                };
                match call.state {
                    // Our answer is on its way; this completion is most likely its effect.
                    CallState::Writing { .. } => call.completed_upstream = true,
                    CallState::Waiting => {
                        let request_id = call.request_id.clone();
                        self.expire(
                            &request_id,
                            format!("app-server ended the call without our answer (item {status})"),
                        );
                    }
                }
            }
            ThreadItem::Other { .. } => {}
        }
    }

    /// The connection is gone: app-server forgets every pending request with it, so
    /// they all expire now, and everyone waiting on a turn hears why.
    fn on_disconnect(&mut self, reason: String) {
        if self.conn.is_none() {
            return;
        }
        tracing::warn!(target: "bridge", "app-server connection lost: {reason}");
        self.conn = None;
        self.lose_for_good(loss_reason(reason));
    }

    /// Ends everything that depended on app-server: pending calls expire, sessions show
    /// disconnected, turn waiters hear why. Also where a reconnect that gave up ends.
    fn lose_for_good(&mut self, reason: String) {
        self.connection = ConnectionState::Disconnected {
            reason: reason.clone(),
        };
        // Expiries first: whoever reacts to the disconnect has already seen every call end.
        for request_id in self.pending.ids_where(|_| true) {
            self.expire(&request_id, reason.clone());
        }
        self.emit(BridgeEvent::Connection {
            transport: self.transport_label.clone(),
            state: self.connection.clone(),
        });
        let mut changed = Vec::new();
        for session in self.sessions.values_mut() {
            if session.status != SessionStatus::Closed {
                session.status = SessionStatus::Disconnected;
                session.updated_at_ms = now_ms();
                changed.push(session.summary());
            }
        }
        for summary in changed {
            self.emit(BridgeEvent::SessionUpdated { session: summary });
        }
        for (_, waiters) in self.turn_waiters.drain() {
            for waiter in waiters {
                let _ = waiter.send(Err(BridgeError::Disconnected {
                    reason: reason.clone(),
                }));
            }
        }
        self.emit(BridgeEvent::Error {
            thread_id: None,
            message: reason,
        });
    }

    fn stop(&mut self, reason: &str) {
        // A websocket app-server keeps waiting on these calls after we leave; their
        // transcript stays open so a restarted Switchboard can pick them up again.
        if !self.app_server_keeps_calls() {
            for request_id in self.pending.ids_where(|_| true) {
                self.expire(&request_id, reason.to_string());
            }
        }
        for (_, waiters) in self.turn_waiters.drain() {
            for waiter in waiters {
                let _ = waiter.send(Err(BridgeError::Stopped));
            }
        }
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.conn = None;
    }

    // ----- commands from handles ---------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Connection { reply } => {
                let result = match (&self.conn, self.disconnected_reason()) {
                    (Some(conn), _) => Ok(conn.clone()),
                    (None, reason) => Err(BridgeError::Disconnected {
                        reason: reason.unwrap_or_else(|| "not connected".to_string()),
                    }),
                };
                let _ = reply.send(result);
            }
            Command::CheckSession { thread_id, reply } => {
                let result = match self.sessions.get(&thread_id) {
                    None => Err(BridgeError::UnknownSession { thread_id }),
                    Some(s) if s.status == SessionStatus::Closed => {
                        Err(BridgeError::SessionClosed { thread_id })
                    }
                    Some(s)
                        if matches!(
                            s.status,
                            SessionStatus::Restored | SessionStatus::ResumeFailed
                        ) =>
                    {
                        Err(BridgeError::NotAttached {
                            thread_id,
                            status: s.status.as_str().to_string(),
                        })
                    }
                    Some(s) => Ok(s.active_turn().map(|t| t.id.clone())),
                };
                let _ = reply.send(result);
            }
            Command::RegisterSession {
                thread,
                settings,
                tools,
                reply,
            } => {
                let _ = reply.send(self.register_session(thread, settings, tools));
            }
            Command::RecordTurn {
                thread_id,
                turn_id,
                options,
            } => {
                self.apply_turn_options(&thread_id, options);
                self.record_turn(&thread_id, &turn_id);
            }
            Command::CloseSession {
                thread_id,
                reason,
                reply,
            } => {
                let result = if self.sessions.contains_key(&thread_id) {
                    self.close_session(&thread_id, &reason);
                    Ok(())
                } else {
                    Err(BridgeError::UnknownSession { thread_id })
                };
                let _ = reply.send(result);
            }
            Command::ListPending { thread_id, reply } => {
                let calls = self
                    .pending
                    .iter()
                    .filter(|c| thread_id.as_deref().is_none_or(|t| t == c.thread_id))
                    .map(|c| c.view())
                    .collect();
                let _ = reply.send(calls);
            }
            Command::Respond {
                request_id,
                result,
                by,
                reply,
            } => self.start_write(request_id, result, by, reply),
            Command::WriteDone {
                request_id,
                result,
                by,
                generation,
                written,
                reply,
            } => {
                let replayed = self
                    .pending
                    .get(&request_id)
                    .is_some_and(|call| call.generation != generation);
                if replayed {
                    // app-server sent the call again on a newer connection while this
                    // write went to the old one: whatever became of it, the live
                    // connection still waits for an answer, so write it there.
                    if let Some(call) = self.pending.get_mut(&request_id) {
                        call.state = CallState::Waiting;
                    }
                    self.start_write(request_id, result, by, reply);
                } else {
                    self.finish_write(request_id, result, by, written, reply);
                }
            }
            Command::Sessions { reply } => {
                let mut list: Vec<_> = self.sessions.values().map(Session::summary).collect();
                list.sort_by_key(|s| s.created_at_ms);
                let _ = reply.send(list);
            }
            Command::Session { thread_id, reply } => {
                let _ = reply.send(self.sessions.get(&thread_id).map(Session::snapshot));
            }
            Command::SessionSetup { thread_id, reply } => {
                let _ = reply.send(self.sessions.get(&thread_id).map(Session::setup));
            }
            Command::WaitTurn {
                thread_id,
                turn_id,
                reply,
            } => self.wait_turn(thread_id, turn_id, reply),
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::SetHold { change, reply } => {
                match change {
                    HoldChange::All(held) => self.hold.all = held,
                    HoldChange::Tool { tool, held: true } => {
                        self.hold.tools.insert(tool);
                    }
                    HoldChange::Tool { tool, held: false } => {
                        self.hold.tools.remove(&tool);
                    }
                }
                self.emit(BridgeEvent::HoldChanged {
                    hold: self.hold.clone(),
                });
                let _ = reply.send(self.hold.clone());
            }
            Command::Propose { request_id, result } => self.propose(&request_id, result),
            Command::PrepareHandler { request_id, reply } => {
                let _ = reply.send(self.prepare_handler(&request_id));
            }
            Command::Shutdown { reply } => {
                // Handled in the run loop, which must stop after it.
                let _ = reply.send(());
            }
            Command::Recovery(_) => {
                // Handled in the run loop, which may have to swap its inbound receiver.
            }
        }
    }

    /// A held handler's answer waits on the call for a person to review.
    fn propose(&mut self, request_id: &str, result: ToolCallResult) {
        if let Some(call) = self.pending.get_mut(request_id) {
            call.proposed = Some(result);
            let view = call.view();
            self.emit(BridgeEvent::ToolCallProposed { call: view });
        }
    }

    fn prepare_handler(&self, request_id: &str) -> Result<PreparedHandler> {
        let call = self
            .pending
            .get(request_id)
            .ok_or_else(|| BridgeError::CallEnded {
                request_id: request_id.to_string(),
            })?;
        let spec = self
            .config
            .catalog
            .tool(call.namespace.as_deref(), &call.tool)
            .and_then(|t| t.handler.clone())
            .ok_or_else(|| BridgeError::NoHandler {
                tool: call.tool.clone(),
            })?;
        Ok(PreparedHandler {
            runner: self.handlers.clone(),
            spec,
            input: HandlerInput {
                tool: call.tool.clone(),
                arguments: call.arguments.clone(),
                call_id: call.call_id.clone(),
                thread_id: call.thread_id.clone(),
                turn_id: call.turn_id.clone(),
                request_id: call.request_id.clone(),
            },
        })
    }

    fn status(&self) -> BridgeStatus {
        let mut totals = self.totals.clone();
        totals.sessions = self.sessions.len();
        totals.pending = self.pending.len();
        totals.waiting_on_person = self
            .pending
            .iter()
            .filter(|c| c.answerer.needs_person())
            .count();
        BridgeStatus {
            transport: self.transport_label.clone(),
            connection: self.connection.clone(),
            junk_lines: self.recovery.junk_lines_before
                + self.conn.as_ref().map(|c| c.junk_lines()).unwrap_or(0),
            totals,
            hold: self.hold.clone(),
        }
    }

    fn register_session(
        &mut self,
        thread: Value,
        settings: super::SessionSettings,
        tools: Vec<crate::protocol::DynamicToolSpec>,
    ) -> Result<super::SessionSummary> {
        let info: crate::protocol::ThreadInfo =
            serde_json::from_value(thread.clone()).map_err(|e| BridgeError::UnexpectedReply {
                method: "thread/start".to_string(),
                message: e.to_string(),
            })?;
        let thread_id = info.id.clone();
        if let Some(existing) = self.sessions.get_mut(&thread_id) {
            // A resume of a session we already track: it is live again.
            let was = existing.status;
            existing.status = SessionStatus::Idle;
            existing.thread = thread;
            existing.settings = settings;
            if !tools.is_empty() {
                existing.tools = tools;
            }
            self.reconcile_resumed(&thread_id, &info, was);
            let summary = self.sessions.get(&thread_id).map(Session::summary).ok_or(
                BridgeError::UnknownSession {
                    thread_id: thread_id.clone(),
                },
            )?;
            self.emit(BridgeEvent::SessionUpdated {
                session: summary.clone(),
            });
            return Ok(summary);
        }
        let transcript = match &self.sessions_dir {
            Some(dir) => match Transcript::persisted(dir, &thread_id) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(target: "bridge", "{e}; keeping this transcript in memory only");
                    self.emit(BridgeEvent::Error {
                        thread_id: Some(thread_id.clone()),
                        message: format!("{e}; the transcript is kept in memory only"),
                    });
                    Transcript::in_memory()
                }
            },
            None => Transcript::in_memory(),
        };
        let now = now_ms();
        let title = if info.preview.is_empty() {
            format!("session {}", crate::util::id_tail(&thread_id, 8))
        } else {
            crate::protocol::truncate_chars(&info.preview, 60).to_string()
        };
        let session = Session {
            thread_id: thread_id.clone(),
            title,
            status: SessionStatus::Idle,
            cwd: info.cwd.clone(),
            model: info.model.clone(),
            model_provider: info.model_provider.clone(),
            created_at_ms: now,
            updated_at_ms: now,
            tools,
            settings,
            turns: Vec::new(),
            transcript,
            streaming: HashMap::new(),
            thread,
        };
        let tool_names = session.tools.iter().map(|t| t.name.clone()).collect();
        self.sessions.insert(thread_id.clone(), session);
        self.append_row(
            &thread_id,
            None,
            TranscriptEntry::SessionStarted {
                thread_id: thread_id.clone(),
                cwd: info.cwd,
                model: info.model,
                tools: tool_names,
            },
        );
        let summary = self.sessions.get(&thread_id).map(Session::summary).ok_or(
            BridgeError::UnknownSession {
                thread_id: thread_id.clone(),
            },
        )?;
        self.emit(BridgeEvent::SessionStarted {
            session: summary.clone(),
        });
        Ok(summary)
    }

    /// app-server keeps a turn's overrides for the turns after it; so does the session.
    fn apply_turn_options(&mut self, thread_id: &str, options: super::TurnOptions) {
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        let settings = &mut session.settings;
        if let Some(model) = options.model {
            settings.model = Some(model);
        }
        if let Some(effort) = options.effort {
            settings.reasoning_effort = Some(effort);
        }
        if let Some(policy) = options.approval_policy {
            settings.approval_policy = Some(Value::String(policy));
        }
        if let Some(sandbox) = options.sandbox_policy {
            settings.sandbox = Some(sandbox);
        }
    }

    fn record_turn(&mut self, thread_id: &str, turn_id: &str) {
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        let status_before = session.status;
        if session.ensure_turn(turn_id, now_ms()) {
            session.updated_at_ms = now_ms();
            // The session went Running here: say so now, since app-server's own
            // `thread/status/changed` that follows is then no change and sends nothing.
            let updated = (session.status != status_before).then(|| session.summary());
            if let Some(session) = updated {
                self.emit(BridgeEvent::SessionUpdated { session });
            }
            self.append_row(
                thread_id,
                Some(turn_id.to_string()),
                TranscriptEntry::TurnStarted,
            );
            self.emit(BridgeEvent::TurnStarted {
                thread_id: thread_id.to_string(),
                turn_id: turn_id.to_string(),
            });
        }
    }

    fn complete_turn(
        &mut self,
        thread_id: &str,
        turn_id: &str,
        status: TurnStatus,
        error: Option<String>,
    ) {
        // Calls of a finished turn can no longer be answered; codex abandons them.
        let reason = format!("turn {}", status.as_str());
        for request_id in self.pending.ids_where(|c| {
            c.thread_id == thread_id && c.turn_id == turn_id && c.state == CallState::Waiting
        }) {
            self.expire(&request_id, reason.clone());
        }
        self.expire_restored_calls(thread_id, Some(turn_id), &reason);
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        // An agent message cut off with its turn never completes: drop its partial text.
        session.streaming.clear();
        session.ensure_turn(turn_id, now_ms());
        let record = match session.turn_mut(turn_id) {
            Some(turn) if !turn.status.is_terminal() => {
                turn.status = status;
                turn.completed_at_ms = Some(now_ms());
                turn.error = error.clone();
                turn.clone()
            }
            _ => return,
        };
        if !matches!(
            session.status,
            SessionStatus::Closed
                | SessionStatus::Disconnected
                | SessionStatus::Restored
                | SessionStatus::ResumeFailed
        ) {
            session.status = if status == TurnStatus::Failed {
                SessionStatus::Failed
            } else {
                SessionStatus::Idle
            };
        }
        session.updated_at_ms = now_ms();
        let summary = session.summary();
        self.append_row(
            thread_id,
            Some(turn_id.to_string()),
            TranscriptEntry::TurnCompleted {
                status,
                error: error.clone(),
            },
        );
        self.emit(BridgeEvent::TurnCompleted {
            thread_id: thread_id.to_string(),
            turn_id: turn_id.to_string(),
            status,
            error,
        });
        self.emit(BridgeEvent::SessionUpdated { session: summary });
        if let Some(waiters) = self
            .turn_waiters
            .remove(&(thread_id.to_string(), turn_id.to_string()))
        {
            for waiter in waiters {
                let _ = waiter.send(Ok(record.clone()));
            }
        }
    }

    fn wait_turn(&mut self, thread_id: String, turn_id: String, reply: Reply<Result<TurnRecord>>) {
        let Some(session) = self.sessions.get_mut(&thread_id) else {
            let _ = reply.send(Err(BridgeError::UnknownSession { thread_id }));
            return;
        };
        if let Some(turn) = session.turn_mut(&turn_id)
            && turn.status.is_terminal()
        {
            let _ = reply.send(Ok(turn.clone()));
            return;
        }
        if session.status == SessionStatus::Closed {
            let _ = reply.send(Err(BridgeError::SessionClosed { thread_id }));
            return;
        }
        // While reconnecting the turn may still end: the waiter stays.
        if let ConnectionState::Disconnected { reason } = &self.connection {
            let _ = reply.send(Err(BridgeError::Disconnected {
                reason: reason.clone(),
            }));
            return;
        }
        self.turn_waiters
            .entry((thread_id, turn_id))
            .or_default()
            .push(reply);
    }

    fn close_session(&mut self, thread_id: &str, reason: &str) {
        for request_id in self.pending.ids_where(|c| c.thread_id == thread_id) {
            self.expire(&request_id, reason.to_string());
        }
        self.expire_restored_calls(thread_id, None, reason);
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        if session.status == SessionStatus::Closed {
            return;
        }
        session.status = SessionStatus::Closed;
        session.updated_at_ms = now_ms();
        self.append_row(
            thread_id,
            None,
            TranscriptEntry::SessionClosed {
                reason: reason.to_string(),
            },
        );
        let waiting: Vec<_> = self
            .turn_waiters
            .keys()
            .filter(|(t, _)| t == thread_id)
            .cloned()
            .collect();
        for key in waiting {
            for waiter in self.turn_waiters.remove(&key).unwrap_or_default() {
                let _ = waiter.send(Err(BridgeError::SessionClosed {
                    thread_id: thread_id.to_string(),
                }));
            }
        }
        self.emit(BridgeEvent::SessionClosed {
            thread_id: thread_id.to_string(),
            reason: reason.to_string(),
        });
    }

    // ----- answering calls -----------------------------------------------------------

    /// Claims a call for one answer and starts writing it. A second answer while the
    /// first is being written gets `InFlight`; one after it was written, `NotFound`.
    fn start_write(
        &mut self,
        request_id: String,
        result: ToolCallResult,
        by: Responder,
        reply: Option<Reply<RespondOutcome>>,
    ) {
        let send = |reply: Option<Reply<RespondOutcome>>, outcome| {
            if let Some(reply) = reply {
                let _ = reply.send(outcome);
            }
        };
        let keeps_calls = self.app_server_keeps_calls();
        let Some(call) = self.pending.get_mut(&request_id) else {
            send(reply, RespondOutcome::NotFound);
            return;
        };
        if matches!(call.state, CallState::Writing { .. }) {
            send(reply, RespondOutcome::InFlight);
            return;
        }
        let conn = match &self.conn {
            Some(conn) if conn.generation() == call.generation => conn.clone(),
            // Nobody waits on an automatic answer: keep it for when the call comes again.
            _ if reply.is_none() && keeps_calls => {
                call.stashed = Some((result, by));
                return;
            }
            _ => {
                send(
                    reply,
                    RespondOutcome::UpstreamError {
                        message: "not connected to the app-server that sent this call".to_string(),
                    },
                );
                return;
            }
        };
        let value = match serde_json::to_value(&result) {
            Ok(value) => value,
            Err(e) => {
                send(
                    reply,
                    RespondOutcome::UpstreamError {
                        message: e.to_string(),
                    },
                );
                return;
            }
        };
        call.state = CallState::Writing { by: by.clone() };
        let rpc_id = call.rpc_id.clone();
        let generation = call.generation;
        self.started_writes.push(Box::pin(async move {
            let written = conn.respond(rpc_id, value).await;
            Command::WriteDone {
                request_id,
                result,
                by,
                generation,
                written,
                reply,
            }
        }));
    }

    fn finish_write(
        &mut self,
        request_id: String,
        result: ToolCallResult,
        by: Responder,
        written: std::result::Result<(), appserver::AppServerError>,
        reply: Option<Reply<RespondOutcome>>,
    ) {
        let outcome = match written {
            // The call ended while its answer was being written (its session closed,
            // the connection was given up): the caller hears what the store says.
            _ if self.pending.get(&request_id).is_none() => RespondOutcome::NotFound,
            Ok(()) => {
                self.finish(&request_id, CallEnd::Resolved, Some(by), Some(result), None);
                RespondOutcome::Accepted
            }
            Err(e) => {
                let message = e.to_string();
                let keep = reply.is_none() && self.app_server_keeps_calls();
                let completed_upstream = match self.pending.get_mut(&request_id) {
                    Some(call) => {
                        call.state = CallState::Waiting;
                        if keep {
                            // An automatic answer lost with the connection goes again
                            // when app-server sends the call again.
                            call.stashed = Some((result, by));
                        }
                        call.completed_upstream
                    }
                    None => false,
                };
                if completed_upstream {
                    self.expire(
                        &request_id,
                        format!("answer could not be written: {message}"),
                    );
                }
                RespondOutcome::UpstreamError { message }
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }

    fn expire(&mut self, request_id: &str, reason: String) {
        self.finish(request_id, CallEnd::Expired, None, None, Some(reason));
    }

    /// Ends a call exactly once: it leaves the store, gets its transcript row and event.
    fn finish(
        &mut self,
        request_id: &str,
        end: CallEnd,
        by: Option<Responder>,
        result: Option<ToolCallResult>,
        reason: Option<String>,
    ) {
        let Some(call) = self.pending.remove(request_id) else {
            return;
        };
        if let Some(task) = &call.handler_task {
            task.abort();
        }
        self.recovery.carried.remove(request_id);
        let latency_ms = u64::try_from(call.received_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        let success = end == CallEnd::Resolved && result.as_ref().is_some_and(|r| r.success);
        match (&end, &by) {
            (CallEnd::Expired, _) => self.totals.expired += 1,
            (CallEnd::Resolved, Some(Responder::Operator)) => self.totals.answered_by_hand += 1,
            (CallEnd::Resolved, Some(Responder::Remote { .. })) => {
                self.totals.answered_remotely += 1
            }
            (CallEnd::Resolved, _) => self.totals.answered_automatically += 1,
        }
        if end == CallEnd::Resolved && !success {
            self.totals.failed += 1;
        }
        if let (CallEnd::Resolved, Some(result)) = (&end, &result) {
            self.keep_answer(&call, result);
        }
        self.append_row(
            &call.thread_id,
            Some(call.turn_id.clone()),
            TranscriptEntry::ToolCallResolved {
                request_id: call.request_id.clone(),
                call_id: call.call_id.clone(),
                tool: call.tool.clone(),
                status: end,
                success,
                answered_by: by.clone(),
                latency_ms,
                content: result.clone(),
                reason: reason.clone(),
            },
        );
        self.emit(BridgeEvent::ToolCallResolved {
            call: ResolvedCall {
                request_id: call.request_id,
                thread_id: call.thread_id,
                turn_id: call.turn_id,
                call_id: call.call_id,
                tool: call.tool,
                status: end,
                success,
                answered_by: by,
                reason,
                latency_ms,
                result,
            },
        });
    }

    fn append_row(&mut self, thread_id: &str, turn_id: Option<String>, entry: TranscriptEntry) {
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        let (row, written) = session.transcript.append(now_ms(), turn_id, entry);
        if let Err(e) = written {
            tracing::error!(target: "bridge", "{e}");
            let _ = self.events.send(BridgeEvent::Error {
                thread_id: Some(thread_id.to_string()),
                message: e.to_string(),
            });
        }
        self.emit(BridgeEvent::TranscriptAppended {
            thread_id: thread_id.to_string(),
            row,
        });
    }
}

/// The reason given for a lost connection, saying that it is app-server's.
fn loss_reason(reason: String) -> String {
    if reason.starts_with("app-server") {
        reason
    } else {
        format!("app-server connection lost: {reason}")
    }
}

//! The websocket `GET /api/stream`: one fan-out task turns bridge events into frames
//! (serialised once) and queues them for every socket; each socket forwards the frames
//! its filter wants. A socket's queue is bounded in bytes: one that falls further behind
//! is sent a `lagged` frame and closed, as is one whose single write stalls; neither
//! ever holds up the bridge.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{mpsc, watch};

use super::AppState;
use super::convert;
use super::wire::{
    ClaimEventPayload, RawNotification, RawServerRequest, SessionEventPayload, TranscriptEntryView,
    TranscriptUpdate,
};
use crate::appserver::timeline;
use crate::bridge::{
    BridgeEvent, BridgeHandle, ClaimChange, ClaimOutcome, EventReceiver, ReleaseOutcome,
    SessionSummary,
};
use crate::protocol::RequestId;
use crate::util::now_ms;

/// The largest frame sent. Python `websockets` (the SDK's client) closes the connection
/// on frames over 1 MiB by default; this leaves room below that.
pub const MAX_FRAME_BYTES: usize = 1_000_000;

/// Bytes of frames queued for one socket at most: a socket that falls further behind
/// (its reader is slower than the events) is sent a `lagged` frame and closed, so a slow
/// reader can never pin more than this much memory.
pub const DEFAULT_SOCKET_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// A socket whose single write takes longer than this is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Commands are small; anything larger is not a command.
const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// One serialised event, shared by every socket.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The event type, for the timeline.
    pub kind: String,
    pub thread_id: Option<String>,
    /// Sent to filtered sockets too (connection changes, lag).
    pub global: bool,
    pub text: Utf8Bytes,
}

impl Frame {
    pub fn wanted_by(&self, filter: Option<&str>) -> bool {
        match filter {
            None => true,
            Some(filter) => self.global || self.thread_id.as_deref() == Some(filter),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    thread_id: Option<&'a str>,
    payload: &'a T,
}

/// Serialises an event; one too large for a frame becomes an `error` frame naming it
/// (with its `requestId` when it has one, so a client can fetch the call over HTTP).
pub fn frame<T: Serialize>(
    kind: &str,
    thread_id: Option<&str>,
    payload: &T,
    global: bool,
) -> Frame {
    let text = serde_json::to_string(&Envelope {
        kind,
        thread_id,
        payload,
    })
    .unwrap_or_default();
    let text = if text.len() > MAX_FRAME_BYTES {
        let request_id = serde_json::to_value(payload)
            .ok()
            .and_then(|v| v.get("requestId").cloned());
        json!({
            "type": "error",
            "threadId": thread_id,
            "message": format!(
                "a {kind} event of {} bytes was skipped: frames are limited to {MAX_FRAME_BYTES} bytes; read the state over HTTP",
                text.len()
            ),
            "payload": { "eventType": kind, "bytes": text.len(), "requestId": request_id },
        })
        .to_string()
    } else {
        text
    };
    Frame {
        kind: kind.to_string(),
        thread_id: thread_id.map(str::to_string),
        global,
        text: Utf8Bytes::from(text),
    }
}

fn session_payload(session: &SessionSummary) -> SessionEventPayload {
    SessionEventPayload {
        session_id: session.thread_id.clone(),
        title: Some(session.title.clone()),
        status: Some(session.status.as_str().to_string()),
        active_turn_id: session.active_turn_id.clone(),
        reason: None,
        persisted: Some(session.persisted),
        persist_error: session.persist_error.clone(),
    }
}

/// The frames for one bridge event, in the order they must be sent. `titles` follows
/// the sessions' titles for the signals' `session` objects.
pub fn frames_for(event: &BridgeEvent, titles: &mut HashMap<String, String>) -> Vec<Frame> {
    match event {
        BridgeEvent::Connection {
            app_server,
            transport,
            state,
        } => vec![frame(
            "connection",
            None,
            &json!({ "appServer": app_server, "transport": transport, "state": state }),
            true,
        )],
        BridgeEvent::SessionStarted { session } => {
            titles.insert(session.thread_id.clone(), session.title.clone());
            vec![frame(
                "session_created",
                Some(&session.thread_id),
                &session_payload(session),
                false,
            )]
        }
        BridgeEvent::SessionUpdated { session } => {
            titles.insert(session.thread_id.clone(), session.title.clone());
            vec![frame(
                "session_updated",
                Some(&session.thread_id),
                &session_payload(session),
                false,
            )]
        }
        BridgeEvent::SessionClosed { thread_id, reason } => vec![frame(
            "session_deleted",
            Some(thread_id),
            &SessionEventPayload {
                session_id: thread_id.clone(),
                title: titles.get(thread_id).cloned(),
                status: Some("closed".to_string()),
                active_turn_id: None,
                reason: Some(reason.clone()),
                persisted: None,
                persist_error: None,
            },
            false,
        )],
        // These repeat app-server notifications that go out as `app_server.*` events.
        BridgeEvent::TurnStarted { .. }
        | BridgeEvent::TurnCompleted { .. }
        | BridgeEvent::AgentMessageDelta { .. }
        | BridgeEvent::AgentMessageCompleted { .. }
        | BridgeEvent::SessionActivity { .. }
        | BridgeEvent::TokenUsage { .. }
        | BridgeEvent::RateLimits { .. } => Vec::new(),
        BridgeEvent::ToolCallRequested { call } => {
            let title = titles.get(&call.thread_id).map(String::as_str);
            vec![
                frame(
                    convert::TOOL_CALL_SIGNAL,
                    Some(&call.thread_id),
                    &convert::tool_call_signal(call, title),
                    false,
                ),
                frame(
                    "tool_call_requested",
                    Some(&call.thread_id),
                    &convert::pending_record(call),
                    false,
                ),
            ]
        }
        BridgeEvent::ToolCallProposed { call } => vec![frame(
            "tool_call_proposed",
            Some(&call.thread_id),
            &convert::pending_record(call),
            false,
        )],
        BridgeEvent::ToolCallClaim {
            call,
            change,
            claim,
        } => {
            let kind = match change {
                ClaimChange::Claimed | ClaimChange::Renewed => "tool_call_claimed",
                ClaimChange::Released | ClaimChange::Expired | ClaimChange::TakenOver => {
                    "tool_call_released"
                }
            };
            vec![frame(
                kind,
                Some(&call.thread_id),
                &ClaimEventPayload {
                    request_id: call.request_id.clone(),
                    thread_id: call.thread_id.clone(),
                    reason: change.as_str().to_string(),
                    claim: convert::claim_view(claim),
                    call: convert::pending_record(call),
                },
                false,
            )]
        }
        BridgeEvent::RequestClaim {
            request,
            change,
            claim,
        } => {
            let kind = match change {
                ClaimChange::Claimed | ClaimChange::Renewed => "request_claimed",
                ClaimChange::Released | ClaimChange::Expired | ClaimChange::TakenOver => {
                    "request_released"
                }
            };
            vec![frame(
                kind,
                Some(&request.thread_id),
                &super::wire::RequestClaimEventPayload {
                    request_id: request.request_id.clone(),
                    thread_id: request.thread_id.clone(),
                    reason: change.as_str().to_string(),
                    claim: convert::claim_view(claim),
                    request: super::approvals::request_record(request),
                },
                false,
            )]
        }
        BridgeEvent::HoldChanged { hold } => vec![frame("hold_changed", None, hold, true)],
        BridgeEvent::CatalogReloaded { reload, .. } => vec![frame(
            "catalog_reloaded",
            None,
            &super::catalog::reload_reply(reload),
            true,
        )],
        BridgeEvent::ToolCallResolved { call } => vec![frame(
            "tool_call_resolved",
            Some(&call.thread_id),
            &convert::resolved_payload(call),
            false,
        )],
        // A live row's update is the same entry again (same `messageId`), replacing it.
        BridgeEvent::TranscriptAppended { thread_id, row }
        | BridgeEvent::TranscriptRowUpdated { thread_id, row } => {
            match convert::transcript_entry(row) {
                Some(entry) => vec![frame(
                    "transcript_updated",
                    Some(thread_id),
                    &transcript_update(thread_id, entry),
                    false,
                )],
                None => Vec::new(),
            }
        }
        BridgeEvent::AppServerNotification {
            thread_id,
            method,
            params,
        } => notification_frames(
            method,
            thread_id.as_deref(),
            params,
            thread_id
                .as_ref()
                .and_then(|t| titles.get(t))
                .map(String::as_str),
            now_ms(),
        ),
        BridgeEvent::AppServerRequest {
            thread_id,
            id,
            method,
            params,
        } => vec![server_request_frame(
            thread_id.as_deref(),
            id,
            method,
            params,
        )],
        // codex-manager's signal and record first (approvals.rs), then Switchboard's own.
        BridgeEvent::RequestOpened { request } => {
            let mut frames = super::approvals::opened_frames(request, titles);
            frames.push(frame(
                "request_opened",
                Some(&request.thread_id),
                request,
                false,
            ));
            frames
        }
        BridgeEvent::RequestResolved { request } => {
            let mut frames = super::approvals::resolved_frames(request);
            frames.push(frame(
                "request_resolved",
                Some(&request.thread_id),
                request,
                false,
            ));
            frames
        }
        BridgeEvent::ServerRequestRefused {
            thread_id,
            method,
            answer,
        } => vec![frame(
            "server_request_refused",
            thread_id.as_deref(),
            &json!({ "method": method, "answer": answer }),
            false,
        )],
        BridgeEvent::Error { thread_id, message } => vec![frame(
            "bridge_error",
            thread_id.as_deref(),
            &json!({ "message": message }),
            thread_id.is_none(),
        )],
        BridgeEvent::SessionRecovery { thread_id, step } => vec![frame(
            "session_recovery",
            Some(thread_id),
            &json!({ "sessionId": thread_id, "recovery": step }),
            false,
        )],
        BridgeEvent::Lagged { skipped } => vec![lagged_frame(*skipped)],
    }
}

/// Room in a frame for everything of a notification's signal but its params.
const ENVELOPE_ROOM: usize = 8 * 1024;

/// A `transcript_updated` payload: the entry, with codex-manager's fields beside it.
pub fn transcript_update(thread_id: &str, entry: TranscriptEntryView) -> TranscriptUpdate {
    TranscriptUpdate {
        session_id: thread_id.to_string(),
        thread_id: thread_id.to_string(),
        turn_id: entry.turn_id.clone(),
        message_id: entry.message_id.clone(),
        kind: entry.kind.clone(),
        entry,
    }
}

/// The frames of one app-server notification: codex-manager's `app_server.<method>`
/// signal, then its raw `notification` frame. The params are serialised once for both,
/// with their longest strings cut when they would not fit a frame (a command's
/// aggregated output on `item/completed`); when even that cannot make them fit, each
/// frame becomes an `error` frame naming the event.
pub fn notification_frames(
    method: &str,
    thread_id: Option<&str>,
    params: &Value,
    title: Option<&str>,
    received_at_ms: i64,
) -> Vec<Frame> {
    let fitted = convert::fit_json(params, MAX_FRAME_BYTES - ENVELOPE_ROOM);
    let (raw, truncated) = match fitted {
        Some(fitted) => fitted,
        // Too large in its numbers or keys: `frame` reports it as too large.
        None => match serde_json::value::to_raw_value(params) {
            Ok(raw) => (raw, None),
            Err(_) => return Vec::new(),
        },
    };
    let payload = RawNotification {
        method: method.to_string(),
        params: raw.clone(),
        truncated,
    };
    let signal = convert::notification_signal(
        method,
        thread_id,
        params,
        (raw, truncated),
        title,
        received_at_ms,
    );
    vec![
        frame(&signal.event_type, thread_id, &signal, false),
        frame("notification", thread_id, &payload, false),
    ]
}

/// codex-manager's raw `server_request` frame: `{method, id, params}` as app-server
/// sent them, cut to fit a frame like a notification's.
pub fn server_request_frame(
    thread_id: Option<&str>,
    id: &RequestId,
    method: &str,
    params: &Value,
) -> Frame {
    let (raw, truncated) = match convert::fit_json(params, MAX_FRAME_BYTES - ENVELOPE_ROOM) {
        Some(fitted) => fitted,
        None => match serde_json::value::to_raw_value(params) {
            Ok(raw) => (raw, None),
            Err(_) => (RawValue::NULL.to_owned(), None),
        },
    };
    frame(
        "server_request",
        thread_id,
        &RawServerRequest {
            method: method.to_string(),
            id: serde_json::to_value(id).unwrap_or(Value::Null),
            params: raw,
            truncated,
        },
        false,
    )
}

fn lagged_frame(skipped: u64) -> Frame {
    frame("lagged", None, &json!({ "skipped": skipped }), true)
}

/// The frame a socket gets before it is closed for falling `queued_bytes` behind.
fn dropped_frame(skipped: u64, queued_bytes: usize, limit_bytes: usize) -> Frame {
    frame(
        "lagged",
        None,
        &json!({
            "skipped": skipped,
            "queuedBytes": queued_bytes,
            "limitBytes": limit_bytes,
            "closing": true,
            "message": format!(
                "this socket fell more than {limit_bytes} bytes of frames behind and is closed; reconnect, then read the current state over HTTP"
            ),
        }),
        true,
    )
}

/// How far one socket is behind, shared by the hub and the socket.
#[derive(Debug, Default)]
struct Backlog {
    queued_bytes: AtomicUsize,
    /// Set (and the queue closed) when the socket fell too far behind.
    dropped: AtomicBool,
}

struct Subscriber {
    queue: mpsc::UnboundedSender<Arc<Frame>>,
    backlog: Arc<Backlog>,
}

/// Every socket's queue of frames, bounded in bytes per socket.
pub struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
    limit_bytes: usize,
}

/// One socket's end of the hub.
pub struct Subscription {
    frames: mpsc::UnboundedReceiver<Arc<Frame>>,
    backlog: Arc<Backlog>,
    limit_bytes: usize,
}

impl Hub {
    pub fn new(limit_bytes: usize) -> Hub {
        Hub {
            subscribers: Mutex::new(Vec::new()),
            limit_bytes,
        }
    }

    pub fn subscribe(&self) -> Subscription {
        let (queue, frames) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.push(Subscriber {
                queue,
                backlog: backlog.clone(),
            });
        }
        Subscription {
            frames,
            backlog,
            limit_bytes: self.limit_bytes,
        }
    }

    /// Queues `frame` for every socket; one that would go over its byte bound is
    /// dropped instead (a frame larger than the bound still goes to an empty queue).
    pub fn send(&self, frame: &Arc<Frame>) {
        let bytes = frame.text.len();
        let Ok(mut subscribers) = self.subscribers.lock() else {
            return;
        };
        subscribers.retain(|subscriber| {
            let queued = subscriber.backlog.queued_bytes.load(Ordering::Relaxed);
            if queued > 0 && queued + bytes > self.limit_bytes {
                subscriber.backlog.dropped.store(true, Ordering::Relaxed);
                return false;
            }
            subscriber
                .backlog
                .queued_bytes
                .fetch_add(bytes, Ordering::Relaxed);
            subscriber.queue.send(frame.clone()).is_ok()
        });
    }

    /// Sockets open on the hub.
    pub fn len(&self) -> usize {
        self.subscribers.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends every queue: the sockets close once they have sent what is queued.
    pub fn close(&self) {
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.clear();
        }
    }
}

/// What a socket does next.
enum Next {
    Send(Arc<Frame>),
    /// Fell too far behind: send this and close.
    Dropped(Frame),
    /// The server or the bridge stopped.
    Closed,
}

impl Subscription {
    async fn next(&mut self) -> Next {
        let frame = self.frames.recv().await;
        if let Some(frame) = &frame {
            self.backlog
                .queued_bytes
                .fetch_sub(frame.text.len(), Ordering::Relaxed);
        }
        if self.backlog.dropped.load(Ordering::Relaxed) {
            let skipped = self.frames.len() as u64 + u64::from(frame.is_some());
            let queued = self.backlog.queued_bytes.load(Ordering::Relaxed)
                + frame.as_ref().map_or(0, |f| f.text.len());
            return Next::Dropped(dropped_frame(skipped, queued, self.limit_bytes));
        }
        match frame {
            Some(frame) => Next::Send(frame),
            None => Next::Closed,
        }
    }
}

/// Turns bridge events into frames until the bridge stops or the server shuts down.
pub async fn fan_out(
    bridge: BridgeHandle,
    events: EventReceiver,
    frames: Arc<Hub>,
    shutdown: watch::Receiver<bool>,
) {
    fan_out_until_stopped(bridge, events, &frames, shutdown).await;
    frames.close();
}

async fn fan_out_until_stopped(
    bridge: BridgeHandle,
    mut events: EventReceiver,
    frames: &Hub,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut titles: HashMap<String, String> = bridge
        .sessions()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.thread_id, s.title))
        .collect();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = shutdown.changed() => return,
        };
        let Some(event) = event else {
            return;
        };
        for frame in frames_for(&event, &mut titles) {
            if timeline::on() {
                timeline::mark(&format!("fanout.sent {}", frame.kind));
            }
            frames.send(&Arc::new(frame));
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    #[serde(rename = "threadId")]
    pub thread_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/stream",
    tag = "stream",
    params(("threadId" = Option<String>, Query, description = "Receive only this session's events")),
    responses(
        (status = 101, description = "Websocket. The server sends `ready` ({type, threadId}), then StreamEvent frames; the client may send StreamCommand frames", body = super::wire::StreamEvent),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    Query(query): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let filter = query.thread_id.filter(|t| !t.is_empty());
    upgrade
        .max_message_size(MAX_COMMAND_BYTES)
        .on_upgrade(move |socket| serve_socket(socket, state, filter))
}

fn control(kind: &str, thread_id: Option<&str>) -> Utf8Bytes {
    Utf8Bytes::from(json!({ "type": kind, "threadId": thread_id }).to_string())
}

fn command_error() -> Utf8Bytes {
    Utf8Bytes::from(json!({ "type": "error", "message": "invalid websocket command" }).to_string())
}

/// Applies one client command; returns the reply frame.
pub fn on_command(text: &str, filter: &mut Option<String>) -> Utf8Bytes {
    let Ok(Value::Object(command)) = serde_json::from_str::<Value>(text) else {
        return command_error();
    };
    match command.get("type").and_then(Value::as_str) {
        Some("subscribe") => match command.get("threadId").and_then(Value::as_str) {
            Some(thread_id) if !thread_id.is_empty() => {
                *filter = Some(thread_id.to_string());
                control("subscribed", Some(thread_id))
            }
            _ => command_error(),
        },
        Some("unsubscribe") => {
            *filter = None;
            control("unsubscribed", None)
        }
        Some("ping") => Utf8Bytes::from_static(r#"{"type":"pong"}"#),
        _ => command_error(),
    }
}

/// A `claim` or `release` command, parsed; `None` for every other frame.
fn claim_command(text: &str) -> Option<Result<super::wire::StreamCommand, String>> {
    let value: Value = serde_json::from_str(text).ok()?;
    let kind = value.get("type").and_then(Value::as_str)?.to_string();
    if kind != "claim" && kind != "release" {
        return None;
    }
    Some(
        serde_json::from_value::<super::wire::StreamCommand>(value)
            .map_err(|e| format!("invalid {kind} command: {e}")),
    )
}

fn claim_refused(
    request_id: &str,
    code: &str,
    message: String,
    claim: Option<&crate::bridge::CallClaim>,
) -> Utf8Bytes {
    let mut reply = json!({
        "type": "claim_refused",
        "requestId": request_id,
        "code": code,
        "message": message,
    });
    if let Some(claim) = claim {
        reply["holder"] = json!(claim.holder);
        reply["leaseExpiresAtMs"] = json!(claim.lease_expires_at_ms);
    }
    Utf8Bytes::from(reply.to_string())
}

/// Claims or releases a call for this socket's client; the reply frame.
async fn on_claim_command(
    bridge: &BridgeHandle,
    command: Result<super::wire::StreamCommand, String>,
) -> Utf8Bytes {
    use super::wire::StreamCommand;
    let command = match command {
        Ok(command) => command,
        Err(message) => {
            return Utf8Bytes::from(json!({ "type": "error", "message": message }).to_string());
        }
    };
    match command {
        StreamCommand::Claim {
            request_id,
            holder,
            worker,
            lease_ms,
            claim_id,
            takeover,
        } => {
            let lease_ms = lease_ms.unwrap_or(super::routes::DEFAULT_LEASE_MS);
            if !(1..=super::validate::MAX_LEASE_MS).contains(&lease_ms) {
                return claim_refused(
                    &request_id,
                    "invalid_request",
                    format!(
                        "leaseMs must be from 1 to {}",
                        super::validate::MAX_LEASE_MS
                    ),
                    None,
                );
            }
            let holder = holder
                .or(worker)
                .filter(|w| !w.trim().is_empty())
                .map(|w| crate::protocol::truncate_chars(w.trim(), 80).to_string())
                .unwrap_or_else(|| "websocket client".to_string());
            match bridge
                .claim_request(
                    &request_id,
                    crate::bridge::ClaimAsk {
                        holder,
                        lease: Duration::from_millis(lease_ms),
                        claim_id,
                        takeover,
                    },
                )
                .await
            {
                Ok(ClaimOutcome::Claimed {
                    claim,
                    thread_id,
                    renewed,
                    replaced,
                }) => Utf8Bytes::from(
                    json!({
                        "type": "claimed",
                        "requestId": request_id,
                        "threadId": thread_id,
                        "claimId": claim.claim_id,
                        "holder": claim.holder,
                        "leaseExpiresAtMs": claim.lease_expires_at_ms,
                        "renewed": renewed,
                        "replaced": replaced.as_ref().map(convert::claim_view),
                    })
                    .to_string(),
                ),
                Ok(ClaimOutcome::Held { claim }) => claim_refused(
                    &request_id,
                    "call_claimed",
                    format!(
                        "{} {request_id} is claimed by {} (\"takeover\": true takes it over)",
                        super::routes::request_kind(bridge, &request_id)
                            .await
                            .noun(),
                        claim.holder
                    ),
                    Some(&claim),
                ),
                Ok(ClaimOutcome::NotFound) => claim_refused(
                    &request_id,
                    "not_found",
                    format!("no pending call {request_id}"),
                    None,
                ),
                Ok(ClaimOutcome::InFlight) => claim_refused(
                    &request_id,
                    "in_flight",
                    format!("an answer for {request_id} is being written"),
                    None,
                ),
                Ok(ClaimOutcome::NotClaimable { message }) => {
                    claim_refused(&request_id, "not_claimable", message, None)
                }
                Err(e) => claim_refused(&request_id, "unavailable", e.to_string(), None),
            }
        }
        StreamCommand::Release {
            request_id,
            claim_id,
        } => match bridge.release_claim(&request_id, &claim_id).await {
            Ok(ReleaseOutcome::Released { .. }) => Utf8Bytes::from(
                json!({ "type": "released", "requestId": request_id, "status": "released" })
                    .to_string(),
            ),
            Ok(ReleaseOutcome::NotClaimed) => Utf8Bytes::from(
                json!({ "type": "released", "requestId": request_id, "status": "not_claimed" })
                    .to_string(),
            ),
            Ok(ReleaseOutcome::Held { claim }) => claim_refused(
                &request_id,
                "call_claimed",
                format!(
                    "{} {request_id} is claimed by {}: only its holder releases it",
                    super::routes::request_kind(bridge, &request_id)
                        .await
                        .noun(),
                    claim.holder
                ),
                Some(&claim),
            ),
            Ok(ReleaseOutcome::NotFound) => claim_refused(
                &request_id,
                "not_found",
                format!("no pending call {request_id}"),
                None,
            ),
            Err(e) => claim_refused(&request_id, "unavailable", e.to_string(), None),
        },
        StreamCommand::Subscribe { .. } | StreamCommand::Unsubscribe | StreamCommand::Ping => {
            command_error()
        }
    }
}

async fn send(socket: &mut WebSocket, text: Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await,
        Ok(Ok(()))
    )
}

async fn serve_socket(mut socket: WebSocket, state: AppState, mut filter: Option<String>) {
    let mut frames = state.frames.subscribe();
    let mut shutdown = state.shutdown.clone();
    if !send(&mut socket, control("ready", filter.as_deref())).await {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            incoming = socket.recv() => {
                let reply = match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(text))) => match claim_command(text.as_str()) {
                        Some(command) => on_claim_command(&state.bridge, command).await,
                        None => on_command(text.as_str(), &mut filter),
                    },
                    Some(Ok(Message::Binary(_))) => command_error(),
                    // The websocket layer answers pings itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                };
                if !send(&mut socket, reply).await {
                    return;
                }
            }
            next = frames.next() => {
                let frame = match next {
                    Next::Send(frame) if frame.wanted_by(filter.as_deref()) => frame,
                    Next::Send(_) => continue,
                    Next::Dropped(frame) => {
                        tracing::warn!(target: "service", "closed a websocket that fell more than {} bytes behind", frames.limit_bytes);
                        let _ = send(&mut socket, frame.text).await;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                    Next::Closed => {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                };
                if !send(&mut socket, frame.text.clone()).await {
                    return;
                }
                if timeline::on() {
                    timeline::mark(&format!("ws.written {}", frame.kind));
                }
            }
        }
    }
}

//! The websocket `GET /api/stream`: one fan-out task turns bridge events into frames
//! (serialised once), and each socket forwards the frames its filter wants. A socket
//! that cannot keep up lags (it is told how many frames it missed) or, if a single write
//! stalls, is dropped; neither ever holds up the bridge.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::AppState;
use super::convert;
use super::wire::{SessionEventPayload, TranscriptUpdate};
use crate::bridge::{BridgeEvent, BridgeHandle, EventReceiver, SessionSummary};
use crate::util::now_ms;

/// The largest frame sent. Python `websockets` (the SDK's client) closes the connection
/// on frames over 1 MiB by default; this leaves room below that.
pub const MAX_FRAME_BYTES: usize = 1_000_000;

/// Frames buffered per socket before it lags.
pub const FRAME_CAPACITY: usize = 4096;

/// A socket whose single write takes longer than this is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Commands are small; anything larger is not a command.
const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// One serialised event, shared by every socket.
#[derive(Debug, Clone)]
pub struct Frame {
    pub thread_id: Option<String>,
    /// Sent to filtered sockets too (connection changes, lag).
    pub global: bool,
    pub text: Utf8Bytes,
}

impl Frame {
    fn wanted_by(&self, filter: Option<&str>) -> bool {
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
        BridgeEvent::Connection { transport, state } => vec![frame(
            "connection",
            None,
            &json!({ "transport": transport, "state": state }),
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
        | BridgeEvent::AgentMessageCompleted { .. } => Vec::new(),
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
        BridgeEvent::HoldChanged { hold } => vec![frame("hold_changed", None, hold, true)],
        BridgeEvent::ToolCallResolved { call } => vec![frame(
            "tool_call_resolved",
            Some(&call.thread_id),
            &convert::resolved_payload(call),
            false,
        )],
        BridgeEvent::TranscriptAppended { thread_id, row } => {
            match convert::transcript_entry(row) {
                Some(entry) => vec![frame(
                    "transcript_updated",
                    Some(thread_id),
                    &TranscriptUpdate {
                        session_id: thread_id.clone(),
                        entry,
                    },
                    false,
                )],
                None => Vec::new(),
            }
        }
        BridgeEvent::AppServerNotification {
            thread_id,
            method,
            params,
        } => {
            let signal = convert::notification_signal(
                method,
                thread_id.as_deref(),
                params,
                thread_id
                    .as_ref()
                    .and_then(|t| titles.get(t))
                    .map(String::as_str),
                now_ms(),
            );
            vec![frame(
                &signal.event_type,
                thread_id.as_deref(),
                &signal,
                false,
            )]
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

fn lagged_frame(skipped: u64) -> Frame {
    frame("lagged", None, &json!({ "skipped": skipped }), true)
}

/// Turns bridge events into frames until the bridge stops or the server shuts down.
pub async fn fan_out(
    bridge: BridgeHandle,
    mut events: EventReceiver,
    frames: broadcast::Sender<Arc<Frame>>,
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
            // No socket listening is fine.
            let _ = frames.send(Arc::new(frame));
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
                    Some(Ok(Message::Text(text))) => on_command(text.as_str(), &mut filter),
                    Some(Ok(Message::Binary(_))) => command_error(),
                    // The websocket layer answers pings itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                };
                if !send(&mut socket, reply).await {
                    return;
                }
            }
            frame = frames.recv() => {
                let text = match frame {
                    Ok(frame) if frame.wanted_by(filter.as_deref()) => frame.text.clone(),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(skipped)) => lagged_frame(skipped).text,
                    Err(broadcast::error::RecvError::Closed) => {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                };
                if !send(&mut socket, text).await {
                    return;
                }
            }
        }
    }
}

//! Switchboard's native routes for a console attached to a running `serve`
//! (`switchboard --remote URL`): the bridge's own events and calls, lossless, beside
//! codex-manager's routes.
//!
//! - `GET /api/switchboard/events` (websocket): a `snapshot` frame first (status,
//!   sessions, pending calls, the catalog's text), then one `event` frame per
//!   `BridgeEvent` as the bridge serialises it; when this socket falls behind the bridge
//!   it gets a fresh `snapshot` instead of the events it missed. With `?protocol=true`,
//!   `protocol` frames carry the raw app-server lines for the protocol log.
//! - `POST /api/switchboard/call`: one [`BridgeCall`], answered with `{"result": ..}`
//!   (200) or an error body; answers are credited to the `x-switchboard-client` name.
//!
//! These serve the remote console, not scripts: they follow the bridge's types, which
//! may change between versions (the OpenAPI document leaves them out; see docs/api.md).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::AppState;
use super::approvals::SessionDefaults;
use super::error::{error_body, json_reply};
use crate::bridge::calls::{self, BridgeCall};
use crate::bridge::{BridgeError, BridgeEvent, BridgeHandle, Responder};

/// A socket whose single write takes longer than this is dropped (its console
/// reconnects and reads a snapshot).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest call body: an answer may carry images as data URLs.
const MAX_CALL_BYTES: usize = super::DEFAULT_MAX_BODY_BYTES;

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    /// Also send the raw protocol lines.
    #[serde(default)]
    pub protocol: bool,
}

pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| serve_events(socket, state, query.protocol))
}

async fn snapshot_frame(bridge: &BridgeHandle) -> Option<Utf8Bytes> {
    let snapshot = calls::snapshot(bridge).await.ok()?;
    let catalog = calls::catalog_source(bridge.catalog()).await;
    let text = serde_json::to_string(&json!({
        "type": "snapshot",
        "snapshot": snapshot,
        "catalog": catalog,
    }))
    .ok()?;
    Some(Utf8Bytes::from(text))
}

async fn event_frame(event: &BridgeEvent) -> Option<Utf8Bytes> {
    let mut frame = json!({ "type": "event", "event": event });
    // The catalog itself does not travel with the event; its text does, for the remote
    // console's inspector.
    if let BridgeEvent::CatalogReloaded {
        catalog: Some(catalog),
        ..
    } = event
    {
        frame["catalog"] = serde_json::to_value(calls::catalog_source(catalog.clone()).await)
            .unwrap_or(Value::Null);
    }
    serde_json::to_string(&frame).ok().map(Utf8Bytes::from)
}

async fn send(socket: &mut WebSocket, text: Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await,
        Ok(Ok(()))
    )
}

async fn serve_events(mut socket: WebSocket, state: AppState, protocol: bool) {
    let bridge = state.bridge.clone();
    // Subscribed before the snapshot is read, so no event falls between the two.
    let mut events = bridge.subscribe();
    let mut lines = if protocol {
        Some(bridge.protocol_tap().subscribe())
    } else {
        None
    };
    let mut shutdown = state.shutdown.clone();
    let Some(first) = snapshot_frame(&bridge).await else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    if !send(&mut socket, first).await {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => {
                let frame = match event {
                    // Behind the bridge: a fresh picture instead of what was missed.
                    Some(BridgeEvent::Lagged { .. }) => snapshot_frame(&bridge).await,
                    Some(event) => event_frame(&event).await,
                    None => break,
                };
                if let Some(frame) = frame
                    && !send(&mut socket, frame).await
                {
                    return;
                }
            }
            line = async {
                match lines.as_mut() {
                    Some(lines) => lines.recv().await,
                    None => std::future::pending().await,
                }
            } => match line {
                Ok(line) => {
                    let text = json!({ "type": "protocol", "line": line }).to_string();
                    if !send(&mut socket, Utf8Bytes::from(text)).await {
                        return;
                    }
                }
                // The protocol log is best effort: lines missed are missed.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => lines = None,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => break,
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

fn client_name(headers: &HeaderMap) -> String {
    headers
        .get(super::routes::CLIENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("remote console")
        .to_string()
}

/// A session a remote console creates without its own approval policy or sandbox gets
/// `serve`'s (`--approval-policy`, `--sandbox`), as one created over `POST /api/sessions`
/// does.
fn with_session_defaults(call: BridgeCall, defaults: &SessionDefaults) -> BridgeCall {
    match call {
        BridgeCall::CreateSession {
            cwd,
            approval_policy,
            sandbox,
            app_server,
        } => BridgeCall::CreateSession {
            cwd,
            app_server,
            approval_policy: approval_policy.or_else(|| {
                defaults
                    .approval_policy
                    .map(|p| p.codex_value().to_string())
            }),
            sandbox: sandbox.or_else(|| defaults.sandbox.map(|s| s.as_str().to_string())),
        },
        call => call,
    }
}

pub async fn call(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if body.len() > MAX_CALL_BYTES {
        return json_reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            &error_body(
                "payload_too_large",
                format!("a call is at most {MAX_CALL_BYTES} bytes"),
            ),
        );
    }
    let call: BridgeCall = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                &error_body(
                    "invalid_call",
                    format!("the body is not a Switchboard bridge call: {e}"),
                ),
            );
        }
    };
    let call = with_session_defaults(call, &state.session_defaults);
    let by = Responder::Remote {
        client: client_name(&headers),
    };
    let name = call.name();
    match calls::execute(&state.bridge, call, by).await {
        Ok(result) => json_reply(StatusCode::OK, &json!({ "result": result })),
        Err(BridgeError::Stopped) => json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &error_body("bridge_stopped", "the bridge has stopped"),
        ),
        Err(e) => {
            tracing::debug!(target: "service", "bridge call {name} failed: {e}");
            json_reply(
                StatusCode::CONFLICT,
                &error_body("bridge_error", e.to_string()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::wire::{ApprovalPolicy, FilesystemSandbox};

    fn create(approval_policy: Option<&str>, sandbox: Option<&str>) -> BridgeCall {
        BridgeCall::CreateSession {
            cwd: Some("/work".to_string()),
            approval_policy: approval_policy.map(str::to_string),
            sandbox: sandbox.map(str::to_string),
            app_server: None,
        }
    }

    #[test]
    fn a_remote_console_session_gets_serves_defaults_unless_it_names_its_own() {
        let defaults = SessionDefaults {
            approval_policy: Some(ApprovalPolicy::Untrusted),
            sandbox: Some(FilesystemSandbox::ReadOnly),
        };
        assert_eq!(
            with_session_defaults(create(None, None), &defaults),
            create(Some("untrusted"), Some("read-only"))
        );
        assert_eq!(
            with_session_defaults(create(Some("never"), Some("workspace-write")), &defaults),
            create(Some("never"), Some("workspace-write"))
        );
        assert_eq!(
            with_session_defaults(create(None, None), &SessionDefaults::default()),
            create(None, None)
        );
        assert_eq!(
            with_session_defaults(BridgeCall::Snapshot, &defaults),
            BridgeCall::Snapshot
        );
    }
}

//! A bridge at a distance: the client of a running `serve`'s native routes
//! (`service/native.rs`), for the console attached with `switchboard --remote URL`.
//!
//! [`RemoteBridge::connect`] opens the events websocket and waits for its first
//! snapshot, so the console loads state that the events after it continue; bridge calls
//! go over HTTP ([`crate::bridge::calls::BridgeCall`]). When the socket is lost, a task
//! dials again with back-off (0.5 s doubling to 10 s, for as long as it takes) and
//! reports each step as a [`LinkState`]; after a reconnect the console is told to read
//! state again (a `Lagged` event), so nothing that happened meanwhile is missed. Calls
//! wait in `serve` meanwhile: closing a remote console loses nothing.
//!
//! No terminal here, and nothing of `cli`: the faces pass the URL and the token in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use crate::appserver::ProtocolLine;
use crate::bridge::BridgeEvent;
use crate::bridge::calls::{BridgeCall, CatalogSource, Snapshot};
use crate::catalog::Catalog;

#[cfg(test)]
mod tests;

/// The header that names the client, as the service reads it (answers are credited to it).
const CLIENT_HEADER: &str = "x-switchboard-client";
/// Events buffered for the console before it is told it lagged.
const EVENT_CAPACITY: usize = 8192;
/// How long a bridge call may take: creating a session or starting a turn waits on
/// app-server.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the first snapshot may take after the socket opened.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest frame read: a snapshot carries every session's transcript window.
const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;
/// Back-off between dials: doubling from the first to the last, then staying there.
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("invalid Switchboard URL {url:?}: {message} (expected http://HOST:PORT)")]
    BadUrl { url: String, message: String },
    #[error("cannot reach Switchboard at {url}: {message} (is `switchboard serve` running there?)")]
    Unreachable { url: String, message: String },
    #[error(
        "{url} refused the token (HTTP {status}): pass the token `switchboard serve` uses with --token, $SWITCHBOARD_TOKEN or its token file"
    )]
    Unauthorized { url: String, status: u16 },
    #[error(
        "{url} needs a bearer token (HTTP {status}) and none was found: pass the token `switchboard serve` uses with --token or $SWITCHBOARD_TOKEN"
    )]
    NoToken { url: String, status: u16 },
    #[error(
        "{url} has no remote console routes (HTTP {status}): it is not a `switchboard serve` of this version"
    )]
    NotSwitchboard { url: String, status: u16 },
    #[error("{url} answered HTTP {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} sent what is not a Switchboard reply: {message}")]
    BadReply { url: String, message: String },
    /// The bridge behind `serve` refused the call (no such session, not attached, ..).
    #[error("{0}")]
    Bridge(String),
}

/// The state of the link to `serve`, for the console's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connected {
        url: String,
    },
    /// The link was lost; attempt `attempt` starts after `delay_ms`.
    Reconnecting {
        url: String,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
}

/// What arrives from a bridge, in-process or remote. Nearly every one is a bridge
/// event, so boxing that variant would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum LinkEvent {
    Bridge(BridgeEvent),
    /// A raw app-server line, for the protocol log.
    Protocol(ProtocolLine),
    /// The remote link changed (never sent by an in-process bridge).
    Link(LinkState),
}

#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// `http://HOST:PORT` of the running `serve` (a path after it is ignored).
    pub url: String,
    pub token: Option<String>,
    /// Sent as `x-switchboard-client`: who answered, in transcripts and events.
    pub client_name: String,
}

/// What the socket task shares with the handles.
struct Shared {
    events: broadcast::Sender<LinkEvent>,
    catalog: watch::Sender<Arc<Catalog>>,
    /// The snapshot that came with the socket's (re)connect or lag, not read yet.
    snapshot: Mutex<Option<Snapshot>>,
}

/// Aborts the socket task when the last handle goes.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A cloneable handle on a bridge in a running `serve`.
#[derive(Clone)]
pub struct RemoteBridge {
    base: String,
    token: Option<String>,
    client_name: String,
    http: reqwest::Client,
    shared: Arc<Shared>,
    /// The receiver made before the first snapshot, so the first subscriber misses
    /// nothing after it.
    first: Arc<Mutex<Option<broadcast::Receiver<LinkEvent>>>>,
    _task: Arc<Task>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `http://host:port` from what the operator typed (`host:port`, a trailing slash or
/// path, `ws://`).
pub fn base_url(url: &str) -> Result<String, RemoteError> {
    let bad = |message: &str| RemoteError::BadUrl {
        url: url.to_string(),
        message: message.to_string(),
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(bad("the URL is empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let parsed = reqwest::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    let scheme = match parsed.scheme() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        other => return Err(bad(&format!("the scheme {other}:// is not http or https"))),
    };
    let host = parsed.host_str().ok_or_else(|| bad("it names no host"))?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok(match parsed.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

fn events_url(base: &str) -> String {
    let ws = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{ws}/api/switchboard/events?protocol=true")
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn status_error(base: &str, status: u16, message: String, token: bool) -> RemoteError {
    let url = base.to_string();
    match status {
        401 | 403 if !token => RemoteError::NoToken { url, status },
        401 | 403 => RemoteError::Unauthorized { url, status },
        404 | 405 => RemoteError::NotSwitchboard { url, status },
        _ => RemoteError::Refused {
            url,
            status,
            message,
        },
    }
}

/// Opens the events socket.
async fn dial(base: &str, token: Option<&str>, client_name: &str) -> Result<Socket, RemoteError> {
    let url = events_url(base);
    let bad = |message: String| RemoteError::BadUrl {
        url: base.to_string(),
        message,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| bad(e.to_string()))?;
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| bad("the token is not a valid header value".to_string()))?;
        request.headers_mut().insert("authorization", value);
    }
    if let Ok(value) = client_name.parse() {
        request.headers_mut().insert(CLIENT_HEADER, value);
    }
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            Err(status_error(base, status, body, token.is_some()))
        }
        Err(e) => Err(RemoteError::Unreachable {
            url: base.to_string(),
            message: error_chain(&e),
        }),
    }
}

/// One frame of the events socket, read.
enum Frame {
    Snapshot(Box<Snapshot>, Option<CatalogSource>),
    Event(Box<BridgeEvent>, Option<CatalogSource>),
    Protocol(ProtocolLine),
    /// A frame of a kind this build does not know.
    Other,
}

fn read_frame(text: &str) -> Result<Frame, String> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let take_catalog = |value: &mut Value| -> Option<CatalogSource> {
        value
            .get_mut("catalog")
            .map(Value::take)
            .and_then(|c| serde_json::from_value(c).ok())
    };
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let field = |value: &mut Value, name: &str| value.get_mut(name).map(Value::take);
    Ok(match kind.as_str() {
        "snapshot" => {
            let source = take_catalog(&mut value);
            let snapshot = field(&mut value, "snapshot").unwrap_or(Value::Null);
            let snapshot =
                serde_json::from_value(snapshot).map_err(|e| format!("snapshot: {e}"))?;
            Frame::Snapshot(Box::new(snapshot), source)
        }
        "event" => {
            let source = take_catalog(&mut value);
            let event = field(&mut value, "event").unwrap_or(Value::Null);
            let event = serde_json::from_value(event).map_err(|e| format!("event: {e}"))?;
            Frame::Event(Box::new(event), source)
        }
        "protocol" => {
            let line = field(&mut value, "line").unwrap_or(Value::Null);
            Frame::Protocol(serde_json::from_value(line).map_err(|e| format!("protocol: {e}"))?)
        }
        _ => Frame::Other,
    })
}

/// The catalog a source describes; the one in use stays when it does not parse here.
fn catalog_from(source: &CatalogSource) -> Option<Arc<Catalog>> {
    match source.parse() {
        Ok(catalog) => Some(Arc::new(catalog)),
        Err(e) => {
            tracing::warn!(target: "remote", "the server's catalog does not load here: {e}");
            None
        }
    }
}

/// Waits for the first frame after a dial: the snapshot.
async fn first_snapshot(base: &str, socket: &mut Socket) -> Result<Frame, RemoteError> {
    let bad = |message: String| RemoteError::BadReply {
        url: base.to_string(),
        message,
    };
    let read = tokio::time::timeout(SNAPSHOT_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Text(text)) => return read_frame(&text).map_err(bad),
                Ok(Message::Close(_)) => break,
                Ok(_) => continue,
                Err(e) => {
                    return Err(RemoteError::Unreachable {
                        url: base.to_string(),
                        message: error_chain(&e),
                    });
                }
            }
        }
        Err(RemoteError::Unreachable {
            url: base.to_string(),
            message: "the server closed the events socket before its snapshot".to_string(),
        })
    })
    .await
    .map_err(|_| bad("no snapshot within 30 s of connecting".to_string()))??;
    match read {
        frame @ Frame::Snapshot(..) => Ok(frame),
        _ => Err(bad("the first frame was not a snapshot".to_string())),
    }
}

impl RemoteBridge {
    /// Connects to `serve` at `config.url`: the events socket is open and its first
    /// snapshot read when this returns, or the error says what to fix (a bad URL, a
    /// server that is not there, a refused token).
    pub async fn connect(config: RemoteConfig) -> Result<RemoteBridge, RemoteError> {
        let base = base_url(&config.url)?;
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| RemoteError::BadUrl {
                url: base.clone(),
                message: e.to_string(),
            })?;
        let mut socket = dial(&base, config.token.as_deref(), &config.client_name).await?;
        let Frame::Snapshot(snapshot, source) = first_snapshot(&base, &mut socket).await? else {
            unreachable!("first_snapshot returns snapshots only")
        };
        let catalog = source
            .as_ref()
            .and_then(catalog_from)
            .unwrap_or_else(|| Arc::new(Catalog::empty()));
        let (events, first) = broadcast::channel(EVENT_CAPACITY);
        let shared = Arc::new(Shared {
            events,
            catalog: watch::Sender::new(catalog),
            snapshot: Mutex::new(Some(*snapshot)),
        });
        let task = tokio::spawn(run_link(
            base.clone(),
            config.token.clone(),
            config.client_name.clone(),
            socket,
            shared.clone(),
        ));
        Ok(RemoteBridge {
            base,
            token: config.token,
            client_name: config.client_name,
            http,
            shared,
            first: Arc::new(Mutex::new(Some(first))),
            _task: Arc::new(Task(task)),
        })
    }

    /// `http://HOST:PORT` of the server.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The events from now on (the first subscriber: from the first snapshot on).
    pub fn subscribe(&self) -> broadcast::Receiver<LinkEvent> {
        let first = self.first.lock().ok().and_then(|mut first| first.take());
        first.unwrap_or_else(|| self.shared.events.subscribe())
    }

    /// The server's catalog, as its file read when it was last loaded.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog.borrow().clone()
    }

    /// Everything a console shows: the snapshot that came with the last (re)connect or
    /// lag when it was not read yet, else a fresh one.
    pub async fn load(&self) -> Result<Snapshot, RemoteError> {
        let kept = self.shared.snapshot.lock().ok().and_then(|mut s| s.take());
        match kept {
            Some(snapshot) => Ok(snapshot),
            None => self.call(BridgeCall::Snapshot).await,
        }
    }

    /// One bridge call over HTTP.
    pub async fn call<T: DeserializeOwned>(&self, call: BridgeCall) -> Result<T, RemoteError> {
        let url = format!("{}/api/switchboard/call", self.base);
        let mut request = self
            .http
            .post(&url)
            .header(CLIENT_HEADER, &self.client_name)
            .json(&call);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| RemoteError::Unreachable {
            url: self.base.clone(),
            message: error_chain(&e),
        })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| RemoteError::Unreachable {
                url: self.base.clone(),
                message: error_chain(&e),
            })?;
        let body: Value = serde_json::from_str(&text).map_err(|_| RemoteError::BadReply {
            url: self.base.clone(),
            message: format!(
                "HTTP {status}: {}",
                crate::protocol::truncate_chars(&text, 200)
            ),
        })?;
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match status {
            200 => {
                let result = body.get("result").cloned().unwrap_or(Value::Null);
                serde_json::from_value(result).map_err(|e| RemoteError::BadReply {
                    url: self.base.clone(),
                    message: format!("the reply to {}: {e}", call.name()),
                })
            }
            409 => Err(RemoteError::Bridge(message)),
            _ => Err(status_error(
                &self.base,
                status,
                message,
                self.token.is_some(),
            )),
        }
    }
}

/// Reads the socket until it is lost, then dials again with back-off, for as long as a
/// handle lives.
async fn run_link(
    base: String,
    token: Option<String>,
    client_name: String,
    socket: Socket,
    shared: Arc<Shared>,
) {
    let mut socket = Some(socket);
    loop {
        let reason = match socket.take() {
            Some(socket) => read_socket(socket, &shared).await,
            None => "not connected".to_string(),
        };
        let mut attempt: u32 = 0;
        let mut reason = reason;
        let next = loop {
            attempt = attempt.saturating_add(1);
            let delay = FIRST_DELAY
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(16)))
                .min(MAX_DELAY);
            let _ = shared.events.send(LinkEvent::Link(LinkState::Reconnecting {
                url: base.clone(),
                attempt,
                delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                reason: reason.clone(),
            }));
            tokio::time::sleep(delay).await;
            let dialled = match dial(&base, token.as_deref(), &client_name).await {
                Ok(mut socket) => match first_snapshot(&base, &mut socket).await {
                    Ok(frame) => Ok((socket, frame)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match dialled {
                Ok(found) => break found,
                Err(e) => reason = e.to_string(),
            }
        };
        let (found, frame) = next;
        tracing::info!(target: "remote", "link to {base} back after {attempt} attempt(s)");
        let _ = shared
            .events
            .send(LinkEvent::Link(LinkState::Connected { url: base.clone() }));
        apply_frame(frame, &shared);
        socket = Some(found);
    }
}

/// Hands one frame to the handles.
fn apply_frame(frame: Frame, shared: &Shared) {
    match frame {
        Frame::Snapshot(snapshot, source) => {
            if let Some(catalog) = source.as_ref().and_then(catalog_from) {
                shared.catalog.send_replace(catalog);
            }
            if let Ok(mut kept) = shared.snapshot.lock() {
                *kept = Some(*snapshot);
            }
            // The console reads state again (and takes the snapshot just kept).
            let _ = shared
                .events
                .send(LinkEvent::Bridge(BridgeEvent::Lagged { skipped: 0 }));
        }
        Frame::Event(mut event, source) => {
            if let BridgeEvent::CatalogReloaded { catalog, reload } = event.as_mut()
                && reload.is_ok()
                && let Some(loaded) = source.as_ref().and_then(catalog_from)
            {
                shared.catalog.send_replace(loaded.clone());
                *catalog = Some(loaded);
            }
            let _ = shared.events.send(LinkEvent::Bridge(*event));
        }
        Frame::Protocol(line) => {
            let _ = shared.events.send(LinkEvent::Protocol(line));
        }
        Frame::Other => {}
    }
}

/// Reads frames until the socket ends; returns why it ended.
async fn read_socket(mut socket: Socket, shared: &Shared) -> String {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => match read_frame(&text) {
                Ok(frame) => apply_frame(frame, shared),
                Err(e) => tracing::warn!(target: "remote", "a frame was not read: {e}"),
            },
            Some(Ok(Message::Ping(data))) => {
                let _ = socket.send(Message::Pong(data)).await;
            }
            Some(Ok(Message::Close(_))) | None => {
                return "the server closed the link".to_string();
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return format!("the link was lost: {}", error_chain(&e)),
        }
    }
}

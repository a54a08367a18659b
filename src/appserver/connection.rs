//! The JSON-RPC layer over a transport: correlates our requests with their responses
//! (with timeouts), and hands app-server's own requests and notifications up in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::AppServerError;
use super::transport::{Incoming, Outgoing, RawConnection};
use crate::protocol::{ErrorResponse, method};
use crate::protocol::{Message, Notification, Request, RequestId, Response, RpcError};

/// Bound on inbound messages waiting for the bridge.
const INBOUND_CAPACITY: usize = 1024;

/// Which way a protocol line went, for the protocol log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From app-server to Switchboard.
    In,
    /// From Switchboard to app-server.
    Out,
}

/// One raw line of the protocol, as the console's protocol log shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProtocolLine {
    pub at_ms: i64,
    pub generation: u64,
    pub direction: Direction,
    pub text: Arc<str>,
}

/// Subscribers to raw protocol lines. Lines are copied only while someone listens.
#[derive(Clone)]
pub struct ProtocolTap {
    sender: broadcast::Sender<ProtocolLine>,
}

impl Default for ProtocolTap {
    fn default() -> Self {
        ProtocolTap {
            sender: broadcast::channel(4096).0,
        }
    }
}

impl ProtocolTap {
    pub fn subscribe(&self) -> broadcast::Receiver<ProtocolLine> {
        self.sender.subscribe()
    }

    fn record(&self, generation: u64, direction: Direction, text: &str) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(ProtocolLine {
                at_ms: crate::util::now_ms(),
                generation,
                direction,
                text: Arc::from(text),
            });
        }
    }
}

/// Which connection to app-server something came from or goes to: one per transport
/// opened, counted from 1 (a reconnect opens a new one). app-server's request ids are only
/// unique within one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection {}", self.0)
    }
}

/// What app-server sent that is not a reply to us.
#[derive(Debug)]
pub enum Inbound {
    Request(Request),
    Notification(Notification),
    /// The connection is gone. Sent exactly once, last.
    Closed {
        reason: String,
    },
}

type ReplySender = oneshot::Sender<Result<Value, RpcError>>;

#[derive(Default)]
struct Pending {
    waiting: HashMap<i64, ReplySender>,
    /// Set once the connection closed, so late requests fail at once instead of timing out.
    closed: Option<String>,
}

/// A cloneable handle for sending requests, notifications and answers.
#[derive(Clone)]
pub struct ConnectionHandle {
    outgoing: mpsc::Sender<Outgoing>,
    /// Requests we sent that await a reply, shared with the reader task.
    pending: Arc<Mutex<Pending>>,
    next_id: Arc<AtomicI64>,
    junk_lines: Arc<AtomicU64>,
    tap: ProtocolTap,
    generation: u64,
    request_timeout: Duration,
}

/// Starts the reader for a transport. The returned receiver yields inbound messages in
/// the order app-server sent them.
pub fn start(
    raw: RawConnection,
    generation: u64,
    tap: ProtocolTap,
    request_timeout: Duration,
) -> (ConnectionHandle, mpsc::Receiver<Inbound>) {
    let pending = Arc::new(Mutex::new(Pending::default()));
    let junk_lines = Arc::new(AtomicU64::new(0));
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
    let handle = ConnectionHandle {
        outgoing: raw.outgoing,
        pending: pending.clone(),
        next_id: Arc::new(AtomicI64::new(1)),
        junk_lines: junk_lines.clone(),
        tap: tap.clone(),
        generation,
        request_timeout,
    };
    tokio::spawn(read_loop(
        raw.incoming,
        inbound_tx,
        pending,
        junk_lines,
        tap,
        generation,
    ));
    (handle, inbound_rx)
}

async fn read_loop(
    mut incoming: mpsc::Receiver<Incoming>,
    inbound: mpsc::Sender<Inbound>,
    pending: Arc<Mutex<Pending>>,
    junk_lines: Arc<AtomicU64>,
    tap: ProtocolTap,
    generation: u64,
) {
    let reason = loop {
        let Some(item) = incoming.recv().await else {
            break "app-server transport ended".to_string();
        };
        let line = match item {
            Incoming::Line(line) => line,
            Incoming::Closed { reason } => break reason,
        };
        tap.record(generation, Direction::In, &line);
        tracing::trace!(target: "appserver::wire", "< {line}");
        let message = match Message::decode(&line) {
            Ok(message) => message,
            Err(e) => {
                junk_lines.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "appserver", "ignoring a line that is not JSON-RPC ({e}): {}", crate::protocol::truncate_chars(&line, 200));
                // Logged and counted here; the bridge reads the count from the handle.
                continue;
            }
        };
        let forward = match message {
            Message::Response(Response { id, result }) => {
                deliver(&pending, &id, Ok(result));
                None
            }
            Message::Error(ErrorResponse { id, error }) => {
                deliver(&pending, &id, Err(error));
                None
            }
            Message::Request(request) => {
                if request.method == method::TOOL_CALL {
                    super::timeline::mark("appserver.tool_call.read");
                }
                Some(Inbound::Request(request))
            }
            Message::Notification(notification) => {
                if notification.method == method::TURN_COMPLETED {
                    super::timeline::mark("appserver.turn_completed.read");
                }
                Some(Inbound::Notification(notification))
            }
        };
        if let Some(forward) = forward
            && inbound.send(forward).await.is_err()
        {
            return;
        }
    };
    let waiting = match pending.lock() {
        Ok(mut p) => {
            p.closed = Some(reason.clone());
            std::mem::take(&mut p.waiting)
        }
        Err(_) => HashMap::new(),
    };
    for (_, reply) in waiting {
        let _ = reply.send(Err(RpcError {
            code: CLOSED_CODE,
            message: reason.clone(),
            data: None,
        }));
    }
    let _ = inbound.send(Inbound::Closed { reason }).await;
}

/// Internal marker code for "the connection closed before a reply came".
const CLOSED_CODE: i64 = i64::MIN;

fn deliver(pending: &Mutex<Pending>, id: &RequestId, reply: Result<Value, RpcError>) {
    let sender = match (id, pending.lock()) {
        (RequestId::Integer(n), Ok(mut p)) => p.waiting.remove(n),
        _ => None,
    };
    match sender {
        Some(sender) => {
            let _ = sender.send(reply);
        }
        None => tracing::warn!(target: "appserver", "reply for unknown request id {id}"),
    }
}

impl ConnectionHandle {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn id(&self) -> ConnectionId {
        ConnectionId(self.generation)
    }

    pub fn junk_lines(&self) -> u64 {
        self.junk_lines.load(Ordering::Relaxed)
    }

    /// Sends a request and waits for its reply, up to the request timeout.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, AppServerError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().map_err(|_| AppServerError::Closed {
                reason: "connection state poisoned".to_string(),
            })?;
            if let Some(reason) = &pending.closed {
                return Err(AppServerError::Closed {
                    reason: reason.clone(),
                });
            }
            pending.waiting.insert(id, tx);
        }
        let message = Message::Request(Request {
            id: RequestId::Integer(id),
            method: method.to_string(),
            params: Some(params),
        });
        // The time limit covers queueing the request as well as waiting for the reply.
        let queued = tokio::time::timeout(self.request_timeout, self.send(message, None)).await;
        match queued {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.forget(id);
                return Err(e);
            }
            Err(_) => {
                self.forget(id);
                return Err(AppServerError::Timeout {
                    method: method.to_string(),
                    after: self.request_timeout,
                });
            }
        }
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) if error.code == CLOSED_CODE => Err(AppServerError::Closed {
                reason: error.message,
            }),
            Ok(Ok(Err(error))) => Err(AppServerError::Rpc {
                method: method.to_string(),
                error,
            }),
            Ok(Err(_)) => Err(AppServerError::Closed {
                reason: "connection reader stopped".to_string(),
            }),
            Err(_) => {
                self.forget(id);
                Err(AppServerError::Timeout {
                    method: method.to_string(),
                    after: self.request_timeout,
                })
            }
        }
    }

    fn forget(&self, id: i64) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.waiting.remove(&id);
        }
    }

    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), AppServerError> {
        let message = Message::Notification(Notification {
            method: method.to_string(),
            params,
            emitted_at_ms: None,
        });
        self.send(message, None).await
    }

    /// Answers a server request and returns once the answer is written to app-server.
    pub async fn respond(&self, id: RequestId, result: Value) -> Result<(), AppServerError> {
        self.send_acked(Message::Response(Response { id, result }))
            .await
    }

    /// Refuses a server request with a JSON-RPC error, once written.
    pub async fn respond_error(
        &self,
        id: RequestId,
        error: RpcError,
    ) -> Result<(), AppServerError> {
        self.send_acked(Message::Error(ErrorResponse { id, error }))
            .await
    }

    async fn send_acked(&self, message: Message) -> Result<(), AppServerError> {
        let (tx, rx) = oneshot::channel();
        // An app-server that stops reading its input must not hold an answer forever.
        let written = tokio::time::timeout(self.request_timeout, async {
            self.send(message, Some(tx)).await?;
            Ok::<_, AppServerError>(rx.await)
        })
        .await
        .map_err(|_| AppServerError::Write {
            reason: format!(
                "app-server did not take the answer within {:?}",
                self.request_timeout
            ),
        })??;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(AppServerError::Write { reason }),
            Err(_) => Err(AppServerError::Closed {
                reason: "the transport stopped before the answer was written".to_string(),
            }),
        }
    }

    async fn send(
        &self,
        message: Message,
        written: Option<oneshot::Sender<Result<(), String>>>,
    ) -> Result<(), AppServerError> {
        let line = message.encode();
        self.tap.record(self.generation, Direction::Out, &line);
        tracing::trace!(target: "appserver::wire", "> {line}");
        self.outgoing
            .send(Outgoing { line, written })
            .await
            .map_err(|_| AppServerError::Closed {
                reason: "the transport is closed".to_string(),
            })
    }

    /// `initialize` then `initialized`: the handshake app-server requires before anything
    /// else. Returns app-server's user agent, which carries its version.
    pub async fn initialize(&self, client_version: &str) -> Result<InitializeInfo, AppServerError> {
        let params =
            crate::protocol::initialize_params(crate::protocol::CLIENT_NAME, client_version);
        let result = self.request(method::INITIALIZE, params).await?;
        self.notify(method::INITIALIZED, None).await?;
        let user_agent = result
            .get("userAgent")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(InitializeInfo {
            server_version: version_from_user_agent(&user_agent),
            user_agent,
            codex_home: result
                .get("codexHome")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeInfo {
    pub user_agent: String,
    /// The version app-server reports, e.g. `0.169.0`, when the user agent carries one.
    pub server_version: Option<String>,
    pub codex_home: Option<String>,
}

/// `switchboard/0.169.0 (Debian 12; x86_64) ...` → `0.169.0`.
pub fn version_from_user_agent(user_agent: &str) -> Option<String> {
    let first = user_agent.split_whitespace().next()?;
    let (_, version) = first.split_once('/')?;
    (!version.is_empty()).then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    //! The connection over the in-memory transport, without a bridge.

    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::appserver::transport::{Incoming, MemoryPeer, memory};

    fn open(timeout: Duration) -> (ConnectionHandle, mpsc::Receiver<Inbound>, MemoryPeer) {
        let (raw, peer) = memory();
        let (conn, inbound) = start(raw, 7, ProtocolTap::default(), timeout);
        (conn, inbound, peer)
    }

    async fn written(peer: &mut MemoryPeer) -> Value {
        let out = peer.from_client.recv().await.unwrap();
        if let Some(ack) = out.written {
            let _ = ack.send(Ok(()));
        }
        serde_json::from_str(&out.line).unwrap()
    }

    #[tokio::test]
    async fn replies_are_matched_to_their_requests_and_server_requests_go_up_in_order() {
        let (conn, mut inbound, mut peer) = open(Duration::from_secs(5));
        assert_eq!(conn.id(), ConnectionId(7));
        let asking = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request("thread/list", json!({})).await })
        };
        let request = written(&mut peer).await;
        assert_eq!(request["method"], "thread/list");
        // A server request and junk arrive before the reply; the reply still finds its
        // caller, and the request comes up with its string id intact.
        for line in [
            json!({ "id": "s-1", "method": "item/tool/requestUserInput", "params": {} })
                .to_string(),
            "not json".to_string(),
            json!({ "id": request["id"], "result": { "data": [] } }).to_string(),
        ] {
            peer.to_client.send(Incoming::Line(line)).await.unwrap();
        }
        assert_eq!(asking.await.unwrap().unwrap(), json!({ "data": [] }));
        let Some(Inbound::Request(server)) = inbound.recv().await else {
            panic!("no server request")
        };
        assert_eq!(server.id, RequestId::String("s-1".to_string()));
        assert_eq!(conn.junk_lines(), 1);
        let answering = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.respond(server.id, json!({ "answers": {} })).await })
        };
        assert_eq!(
            written(&mut peer).await,
            json!({ "id": "s-1", "result": { "answers": {} } })
        );
        answering.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_close_fails_waiting_requests_at_once_and_is_reported_once_last() {
        let (conn, mut inbound, mut peer) = open(Duration::from_secs(5));
        let asking = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request("turn/start", json!({})).await })
        };
        written(&mut peer).await;
        peer.to_client
            .send(Incoming::Closed {
                reason: "app-server exited (exit code 1)".to_string(),
            })
            .await
            .unwrap();
        let failed = asking.await.unwrap().unwrap_err();
        assert!(failed.to_string().contains("exit code 1"), "{failed}");
        let Some(Inbound::Closed { reason }) = inbound.recv().await else {
            panic!("no close")
        };
        assert!(reason.contains("exit code 1"));
        assert!(inbound.recv().await.is_none());
        // Later requests fail at once instead of waiting for a timeout.
        let late = conn.request("thread/list", json!({})).await.unwrap_err();
        assert!(late.to_string().contains("exit code 1"), "{late}");
    }

    async fn send_line(peer: &MemoryPeer, line: impl Into<String>) {
        peer.to_client
            .send(Incoming::Line(line.into()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn replies_out_of_order_reach_their_own_callers_and_errors_name_the_method() {
        let (conn, _inbound, mut peer) = open(Duration::from_secs(5));
        let ask = |method: &'static str| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request(method, json!({ "m": method })).await })
        };
        let first = ask("thread/start");
        let a = written(&mut peer).await;
        let second = ask("thread/list");
        let b = written(&mut peer).await;
        let third = ask("turn/start");
        let c = written(&mut peer).await;
        // Ids are integers, one per request, counted up.
        let ids: Vec<i64> = [&a, &b, &c]
            .iter()
            .map(|v| v["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(b["params"], json!({ "m": "thread/list" }));
        // Answered last first, with a reply to an id nobody asked for in between.
        send_line(
            &peer,
            json!({ "id": c["id"], "error": { "code": -32600, "message": "no such thread" } })
                .to_string(),
        )
        .await;
        send_line(&peer, json!({ "id": 99, "result": "stray" }).to_string()).await;
        send_line(
            &peer,
            json!({ "id": b["id"], "result": "second" }).to_string(),
        )
        .await;
        send_line(
            &peer,
            json!({ "id": a["id"], "result": "first" }).to_string(),
        )
        .await;
        assert_eq!(first.await.unwrap().unwrap(), json!("first"));
        assert_eq!(second.await.unwrap().unwrap(), json!("second"));
        match third.await.unwrap().unwrap_err() {
            AppServerError::Rpc { method, error } => {
                assert_eq!(method, "turn/start");
                assert_eq!(error.code, -32600);
                assert_eq!(error.message, "no such thread");
            }
            other => panic!("not an rpc error: {other}"),
        }
        // A stray reply is not junk: it is JSON-RPC, just late or unknown.
        assert_eq!(conn.junk_lines(), 0);
    }

    #[tokio::test]
    async fn server_requests_and_notifications_go_up_in_the_order_they_came() {
        let (_conn, mut inbound, peer) = open(Duration::from_secs(5));
        send_line(
            &peer,
            json!({ "method": "turn/started", "params": { "n": 1 } }).to_string(),
        )
        .await;
        send_line(
            &peer,
            json!({ "id": 0, "method": "item/tool/call", "params": { "n": 2 } }).to_string(),
        )
        .await;
        send_line(
            &peer,
            json!({ "method": "turn/completed", "params": { "n": 3 } }).to_string(),
        )
        .await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            match inbound.recv().await.unwrap() {
                Inbound::Notification(n) => seen.push(format!("notification {}", n.method)),
                Inbound::Request(r) => {
                    assert_eq!(r.id, RequestId::Integer(0));
                    assert_eq!(r.params, Some(json!({ "n": 2 })));
                    seen.push(format!("request {}", r.method));
                }
                Inbound::Closed { reason } => panic!("closed: {reason}"),
            }
        }
        assert_eq!(
            seen,
            [
                "notification turn/started",
                "request item/tool/call",
                "notification turn/completed"
            ]
        );
    }

    #[tokio::test]
    async fn malformed_lines_are_counted_and_the_connection_goes_on() {
        let (conn, mut inbound, mut peer) = open(Duration::from_secs(5));
        for junk in [
            "",
            "not json",
            "{\"id\": 1",
            "[1, 2, 3]",
            "42",
            "{\"jsonrpc\": \"2.0\"}",
            "{\"id\": {\"an\": \"object\"}, \"result\": null}",
        ] {
            send_line(&peer, junk).await;
        }
        let asking = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request("thread/list", json!({})).await })
        };
        let request = written(&mut peer).await;
        send_line(
            &peer,
            json!({ "id": request["id"], "result": [] }).to_string(),
        )
        .await;
        assert_eq!(asking.await.unwrap().unwrap(), json!([]));
        send_line(&peer, json!({ "method": "after/junk" }).to_string()).await;
        let Some(Inbound::Notification(after)) = inbound.recv().await else {
            panic!("no notification after the junk")
        };
        assert_eq!(after.method, "after/junk");
        assert_eq!(conn.junk_lines(), 7);
    }

    /// The request timeout covers the reply: with time paused, the call fails exactly
    /// when it runs out, and a reply that comes later reaches nobody and breaks nothing.
    #[tokio::test(start_paused = true)]
    async fn a_request_with_no_reply_times_out_and_a_late_reply_is_dropped() {
        let (conn, _inbound, mut peer) = open(Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        let asking = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request("thread/resume", json!({})).await })
        };
        let request = written(&mut peer).await;
        let error = asking.await.unwrap().unwrap_err();
        assert!(
            matches!(&error, AppServerError::Timeout { method, after }
                if method == "thread/resume" && *after == Duration::from_secs(30)),
            "{error}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        send_line(
            &peer,
            json!({ "id": request["id"], "result": "late" }).to_string(),
        )
        .await;
        let next = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request("thread/list", json!({})).await })
        };
        let request = written(&mut peer).await;
        send_line(
            &peer,
            json!({ "id": request["id"], "result": "on time" }).to_string(),
        )
        .await;
        assert_eq!(next.await.unwrap().unwrap(), json!("on time"));
    }

    /// An answer is done only when the transport wrote it: one never taken fails after
    /// the timeout, one whose write failed says why.
    #[tokio::test(start_paused = true)]
    async fn an_answer_the_transport_never_writes_fails_after_the_timeout() {
        let (conn, _inbound, mut peer) = open(Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        let answering = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.respond(RequestId::Integer(4), json!({})).await })
        };
        // Read but never acknowledged.
        let held = peer.from_client.recv().await.unwrap();
        let error = answering.await.unwrap().unwrap_err();
        assert!(
            matches!(&error, AppServerError::Write { reason } if reason.contains("did not take the answer")),
            "{error}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        drop(held);

        let answering = {
            let conn = conn.clone();
            tokio::spawn(async move {
                conn.respond_error(
                    RequestId::String("x".to_string()),
                    RpcError {
                        code: -32601,
                        message: "unknown method".to_string(),
                        data: None,
                    },
                )
                .await
            })
        };
        let out = peer.from_client.recv().await.unwrap();
        let line: Value = serde_json::from_str(&out.line).unwrap();
        assert_eq!(line["id"], "x");
        assert_eq!(line["error"]["code"], -32601);
        let _ = out.written.unwrap().send(Err("broken pipe".to_string()));
        let error = answering.await.unwrap().unwrap_err();
        assert!(
            matches!(&error, AppServerError::Write { reason } if reason == "broken pipe"),
            "{error}"
        );
    }

    /// A peer that goes away without a word: its end of the transport simply drops.
    #[tokio::test]
    async fn a_peer_that_drops_its_end_closes_the_connection_once() {
        let (conn, mut inbound, mut peer) = open(Duration::from_secs(5));
        let asking = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request("thread/list", json!({})).await })
        };
        written(&mut peer).await;
        drop(peer);
        let error = asking.await.unwrap().unwrap_err();
        assert!(
            matches!(&error, AppServerError::Closed { reason } if reason == "app-server transport ended"),
            "{error}"
        );
        let Some(Inbound::Closed { reason }) = inbound.recv().await else {
            panic!("no close")
        };
        assert_eq!(reason, "app-server transport ended");
        assert!(inbound.recv().await.is_none());
        // Nothing can be written any more either.
        let error = conn.notify("initialized", None).await.unwrap_err();
        assert!(matches!(error, AppServerError::Closed { .. }), "{error}");
    }

    #[tokio::test]
    async fn the_handshake_reads_the_version_and_confirms_with_initialized() {
        let (conn, _inbound, mut peer) = open(Duration::from_secs(5));
        let handshake = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.initialize("9.9.9").await })
        };
        let request = written(&mut peer).await;
        assert_eq!(request["method"], "initialize");
        assert_eq!(request["params"]["clientInfo"]["name"], "switchboard");
        send_line(
            &peer,
            json!({ "id": request["id"], "result": {
                "userAgent": "codex_cli_rs/0.171.0 (Debian 12; x86_64) xterm",
                "codexHome": "/home/x/.codex" } })
            .to_string(),
        )
        .await;
        let confirmed = written(&mut peer).await;
        assert_eq!(confirmed["method"], "initialized");
        assert!(confirmed.get("id").is_none(), "{confirmed}");
        let info = handshake.await.unwrap().unwrap();
        assert_eq!(info.server_version.as_deref(), Some("0.171.0"));
        assert_eq!(info.codex_home.as_deref(), Some("/home/x/.codex"));
        assert_eq!(version_from_user_agent("no-version"), None);
        assert_eq!(version_from_user_agent("codex/"), None);
    }
}

//! Helpers for the API tests: a bridge on the real codex served on 127.0.0.1:0, a JSON
//! client that checks every reply's content type, and a websocket reader.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::bridge::ManualPolicy;
use switchboard::service::{self, ServeConfig, ServerHandle};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::support::{CodexBridge, WAIT};

pub const TOKEN: &str = "test-token-0123456789abcdef";

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct ApiHarness {
    pub codex: CodexBridge,
    pub server: ServerHandle,
    pub http: reqwest::Client,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl ApiHarness {
    pub async fn start(catalog: &str) -> ApiHarness {
        let codex = CodexBridge::start_with(catalog, "auto", ManualPolicy::Wait, true).await;
        let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
        let server = service::serve(codex.bridge.clone(), config).await.unwrap();
        ApiHarness {
            codex,
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// A request with the token; the reply must be JSON whatever its status.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_reply(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// A session with one manual tool, declared through the API.
    pub async fn create_session(&self, tool: &str) -> String {
        let reply = self
            .post(
                "/api/sessions",
                serde_json::json!({ "cwd": ".", "dynamicTools": [tool_decl(tool)] }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["session"]["sessionId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn socket(&self, query: &str) -> Socket {
        let url = format!("ws://{}/api/stream{query}", self.server.addr());
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        socket
    }
}

pub fn tool_decl(name: &str) -> Value {
    serde_json::json!({
        "name": name,
        "description": format!("the {name} tool"),
        "inputSchema": { "type": "object", "properties": { "id": { "type": "string" } }, "required": ["id"] },
    })
}

#[track_caller]
pub fn assert_json_content_type(response: &reqwest::Response) {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{} {} has content type {content_type:?}",
        response.status(),
        response.url()
    );
}

pub async fn json_reply(response: reqwest::Response) -> Reply {
    assert_json_content_type(&response);
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    Reply { status, body }
}

/// The next text frame as JSON; fails after [`WAIT`].
pub async fn next_frame(socket: &mut Socket) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await.expect("the stream closed").unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(frame) => panic!("the stream closed: {frame:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("no frame")
}

/// The next reply to a socket command, skipping events: on an unfiltered socket the
/// notifications of a session created just before may still be arriving.
pub async fn next_reply(socket: &mut Socket) -> Value {
    loop {
        let frame = next_frame(socket).await;
        if !frame["threadId"].is_string() || frame["type"] == "subscribed" {
            return frame;
        }
    }
}

/// Frames up to and including the first of type `kind`.
pub async fn frames_until(socket: &mut Socket, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = next_frame(socket).await;
        let done = frame["type"] == kind;
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

pub async fn send_command(socket: &mut Socket, command: &str) {
    socket.send(Message::text(command)).await.unwrap();
}

/// A stand-in app-server on the in-memory transport, for what the real codex cannot be
/// made to do on demand (a failed write).
pub struct FakeAppServer {
    pub peer: switchboard::appserver::MemoryPeer,
}

impl FakeAppServer {
    /// The next line the bridge wrote, acknowledged with `ack`.
    pub async fn next_acked(&mut self, ack: Result<(), String>) -> Value {
        let out = tokio::time::timeout(WAIT, self.peer.from_client.recv())
            .await
            .expect("the bridge wrote nothing")
            .expect("the bridge closed the transport");
        if let Some(written) = out.written {
            let _ = written.send(ack);
        }
        serde_json::from_str(&out.line).unwrap()
    }

    pub async fn send(&self, value: Value) {
        self.peer
            .to_client
            .send(switchboard::appserver::transport::Incoming::Line(
                value.to_string(),
            ))
            .await
            .unwrap();
    }
}

/// A bridge on the fake app-server, past the handshake.
pub async fn fake_bridge(catalog: &str) -> (switchboard::bridge::BridgeHandle, FakeAppServer) {
    use std::sync::Arc;
    let catalog =
        switchboard::catalog::Catalog::parse(catalog, std::path::Path::new("/tmp/c.toml")).unwrap();
    let (raw, peer) = switchboard::appserver::transport::memory();
    let mut fake = FakeAppServer { peer };
    let mut config = switchboard::bridge::BridgeConfig::new(
        switchboard::appserver::TransportSpec::WebSocket {
            url: "memory".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    config.manual_policy = ManualPolicy::Wait;
    let starting = tokio::spawn(switchboard::bridge::start_on(config, raw));
    let initialize = fake.next_acked(Ok(())).await;
    assert_eq!(initialize["method"], "initialize");
    fake.send(
        serde_json::json!({ "id": initialize["id"], "result": { "userAgent": "fake/0.169.0" } }),
    )
    .await;
    assert_eq!(fake.next_acked(Ok(())).await["method"], "initialized");
    (starting.await.unwrap().unwrap(), fake)
}

//! Test support: a second client of a shared `codex app-server --listen` app-server, of
//! our own and independent of Switchboard's code: a small websocket JSON-RPC client that
//! starts threads and turns and answers their tool calls, as another operator's tool
//! would.

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::support::WAIT;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct OtherClient {
    socket: Socket,
    next_id: i64,
    /// Requests and notifications read while waiting for something else.
    seen: VecDeque<Value>,
}

impl OtherClient {
    /// Connects and runs the handshake as client `name` (with `experimentalApi`, which
    /// dynamic tools need).
    pub async fn connect(url: &str, name: &str) -> OtherClient {
        let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("timed out connecting to app-server")
            .expect("could not connect to app-server");
        let mut client = OtherClient {
            socket,
            next_id: 1,
            seen: VecDeque::new(),
        };
        client
            .request(
                "initialize",
                json!({
                    "clientInfo": { "name": name, "title": name, "version": "1" },
                    "capabilities": { "experimentalApi": true },
                }),
            )
            .await;
        client.send(json!({ "method": "initialized" })).await;
        client
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("could not write to app-server");
    }

    /// The next message app-server sends; fails the test after [`WAIT`].
    async fn read(&mut self) -> Value {
        let next = tokio::time::timeout(WAIT, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return serde_json::from_str::<Value>(&text).expect("app-server sent junk");
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("app-server connection ended: {other:?}"),
                }
            }
        });
        next.await.expect("timed out waiting for app-server")
    }

    /// Sends a request and returns its `result` (an error reply fails the test).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "id": id, "method": method, "params": params }))
            .await;
        loop {
            let message = self.read().await;
            if message.get("method").is_none() && message["id"] == json!(id) {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
            self.seen.push_back(message);
        }
    }

    /// The first request or notification (seen already, or next) that `pick` accepts.
    pub async fn next_matching(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.seen.iter().position(&pick) {
            return self.seen.remove(at).expect("position is in range");
        }
        loop {
            let message = self.read().await;
            if pick(&message) {
                return message;
            }
            self.seen.push_back(message);
        }
    }

    /// The next notification `method` of thread `thread_id`.
    pub async fn next_notification(&mut self, method: &str, thread_id: &str) -> Value {
        self.next_matching(|m| {
            m["method"] == method && m.get("id").is_none() && m["params"]["threadId"] == thread_id
        })
        .await
    }

    /// The next `item/tool/call` of thread `thread_id`.
    pub async fn next_tool_call(&mut self, thread_id: &str) -> Value {
        self.next_matching(|m| {
            m["method"] == "item/tool/call"
                && m.get("id").is_some()
                && m["params"]["threadId"] == thread_id
        })
        .await
    }

    /// The `item/completed` of a tool call's item (same id as its `callId`).
    pub async fn call_completed(&mut self, request: &Value) -> Value {
        let call_id = request["params"]["callId"].clone();
        self.next_matching(|m| {
            m["method"] == "item/completed"
                && m["params"]["item"]["type"] == "dynamicToolCall"
                && m["params"]["item"]["id"] == call_id
        })
        .await
    }

    /// Answers a server request with the id it came with (its exact JSON type).
    pub async fn answer_tool_call(&mut self, request: &Value, text: &str) {
        let id = request["id"].clone();
        self.send(json!({ "id": id, "result": {
            "contentItems": [{ "type": "inputText", "text": text }], "success": true } }))
            .await;
    }

    /// `thread/start` with one dynamic tool; returns the thread id.
    pub async fn start_thread(&mut self, tool: &str, cwd: &str) -> String {
        let result = self
            .request(
                "thread/start",
                json!({ "cwd": cwd, "dynamicTools": [{
                    "name": tool, "description": "the other client's tool",
                    "inputSchema": { "type": "object", "properties": { "text": { "type": "string" } } },
                }] }),
            )
            .await;
        result["thread"]["id"]
            .as_str()
            .expect("thread/start reply has the thread id")
            .to_string()
    }

    /// `turn/start` with one text item; returns the turn id.
    pub async fn start_turn(&mut self, thread_id: &str, text: &str) -> String {
        let result = self
            .request(
                "turn/start",
                json!({ "threadId": thread_id, "input": [{ "type": "text", "text": text }] }),
            )
            .await;
        result["turn"]["id"]
            .as_str()
            .expect("turn/start reply has the turn id")
            .to_string()
    }

    /// Waits for the turn's `turn/completed`; returns its status.
    pub async fn turn_completed(&mut self, thread_id: &str) -> String {
        let done = self.next_notification("turn/completed", thread_id).await;
        done["params"]["turn"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

//! The HTTP side: a local Responses API endpoint driven by a [`Scenario`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::ModelError;
use super::request::{ToolInfo, parse_request};
use super::scenario::{Failure, Scenario};
use super::sse::{self, Event, IdentifiedCall, Usage};
use super::turn::{Decision, decide};

/// Request bodies grow with the thread's history and may carry data-URL images; the default
/// 2 MB limit of axum would fail long test threads.
const BODY_LIMIT: usize = 256 * 1024 * 1024;

/// How many requests' `tools` arrays [`ModelServer::seen_tools`] keeps (the first ones).
const SEEN_TOOLS_KEPT: usize = 64;

/// How long [`ModelServer::shutdown`] waits for open requests before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Options of [`ModelServer::start`].
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// Where to listen; `127.0.0.1:0` (any free port) when `None`.
    pub addr: Option<SocketAddr>,
    /// The catalog's dynamic tool names (bare or `namespace.name`). `None`: every tool of the
    /// request's `tools` array that codex does not provide itself.
    pub tool_names: Option<Vec<String>>,
    /// The catalog's own input schemas by tool name (bare or `namespace.name`). codex drops
    /// keywords such as `examples` and `default` before the model sees a schema, so
    /// arguments derived from these follow the catalog author's intent more closely.
    pub input_schemas: Vec<(String, Value)>,
}

/// Ids that stay unique across every turn and thread this server answers, and differ from
/// one server to the next, so two servers feeding one codex never collide.
struct Ids {
    prefix: String,
    next: AtomicU64,
}

impl Ids {
    fn new() -> Ids {
        // RandomState is seeded per process and per instance: enough for distinct prefixes.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        Ids {
            prefix: format!("{:08x}", hasher.finish() as u32),
            next: AtomicU64::new(1),
        }
    }

    fn next(&self, kind: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{kind}_sb{}_{n}", self.prefix)
    }
}

struct Shared {
    scenario: Scenario,
    tool_names: Option<Vec<String>>,
    input_schemas: Vec<(String, Value)>,
    ids: Ids,
    served: AtomicU64,
    /// The `tools` array of each request, in arrival order: what codex offers the model.
    seen_tools: std::sync::Mutex<Vec<Value>>,
}

/// A running scripted model server. Dropping it (or calling [`ModelServer::shutdown`]) stops it.
pub struct ModelServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ModelServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelServer")
            .field("addr", &self.addr)
            .field("scenario", &self.shared.scenario.name())
            .finish_non_exhaustive()
    }
}

impl ModelServer {
    /// Binds (127.0.0.1:0 unless `options.addr`) and starts serving in the background.
    pub async fn start(
        scenario: Scenario,
        options: ModelOptions,
    ) -> Result<ModelServer, ModelError> {
        let wanted = options
            .addr
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let bind_error = |source| ModelError::Bind {
            addr: wanted,
            source,
        };
        let listener = tokio::net::TcpListener::bind(wanted)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;

        let shared = Arc::new(Shared {
            scenario,
            tool_names: options.tool_names,
            input_schemas: options.input_schemas,
            ids: Ids::new(),
            served: AtomicU64::new(0),
            seen_tools: std::sync::Mutex::new(Vec::new()),
        });
        let app = router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                // A dropped sender means the ModelServer is gone: stop as well.
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                tracing::warn!(%error, "scripted model server stopped with an error");
            }
        });
        tracing::debug!(%addr, scenario = shared.scenario.name(), "scripted model server listening");
        Ok(ModelServer {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `base_url` to give codex: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// How many requests the Responses endpoint has answered, failures included.
    pub fn requests_served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    /// The `tools` array of each request so far (the first 64), exactly as codex sent
    /// it: what the model is offered, built-ins included. `Null` for a request without.
    pub fn seen_tools(&self) -> Vec<Value> {
        self.shared
            .seen_tools
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// Stops accepting, lets requests in flight finish (up to a few seconds), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/responses", post(responses))
        .route("/responses", post(responses))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    tracing::debug!(%method, %uri, "scripted model: no such route");
    let message = format!("no route for {method} {}", uri.path());
    (
        StatusCode::NOT_FOUND,
        axum::Json(sse::error_body(&message, "not_found")),
    )
        .into_response()
}

async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.served.fetch_add(1, Ordering::Relaxed);
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let message = format!(
            "compressed request bodies are not supported (content-encoding: {})",
            encoding.to_str().unwrap_or("?")
        );
        return json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message);
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("request body is not json: {error}"),
            );
        }
    };
    if let Ok(mut seen) = shared.seen_tools.lock()
        && seen.len() < SEEN_TOOLS_KEPT
    {
        seen.push(value.get("tools").cloned().unwrap_or(Value::Null));
    }
    let mut view = match parse_request(&value) {
        Ok(view) => view,
        Err(error) => return json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    for tool in &mut view.tools {
        if let Some((_, schema)) = shared.input_schemas.iter().find(|(n, _)| tool.is_named(n)) {
            tool.parameters = schema.clone();
        }
    }
    let decision = decide(&shared.scenario, &view, shared.tool_names.as_deref());
    tracing::debug!(
        scenario = shared.scenario.name(),
        user_message = %view.user_message,
        round = view.round,
        tools = ?view.tools.iter().map(ToolInfo::qualified).collect::<Vec<_>>(),
        ?decision,
        "scripted model request"
    );
    let input_tokens = u64::try_from(view.input_items.max(1)).unwrap_or(u64::MAX);
    let ids = &shared.ids;
    let response_id = ids.next("resp");
    match decision {
        Decision::Calls(calls) => {
            let identified: Vec<IdentifiedCall<'_>> = calls
                .iter()
                .map(|call| IdentifiedCall {
                    item_id: ids.next("fc"),
                    call_id: ids.next("call"),
                    call,
                })
                .collect();
            let usage = Usage {
                input_tokens,
                output_tokens: u64::try_from(calls.len()).unwrap_or(u64::MAX),
            };
            event_stream(&sse::function_calls(&response_id, &identified, usage))
        }
        Decision::Reply(text) => {
            let usage = Usage {
                input_tokens,
                output_tokens: 1,
            };
            event_stream(&sse::message(&response_id, &ids.next("msg"), &text, usage))
        }
        Decision::Fail(Failure::Http { status, message }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_error(status, &message)
        }
        Decision::Fail(Failure::Event { event, message }) => {
            event_stream(&sse::failure(&response_id, event, &message))
        }
    }
}

fn event_stream(events: &[Event]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        sse::encode(events),
    )
        .into_response()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let kind = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    (status, axum::Json(sse::error_body(message, kind))).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A bare HTTP/1.1 exchange, so the test sees exactly what goes over the socket.
    async fn post_raw(
        addr: SocketAddr,
        path: &str,
        body: &[u8],
        extra_headers: &str,
    ) -> (u16, String, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\n{extra_headers}content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/src/model/testdata/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// Parses an SSE body into (event, data) pairs, checking the framing on the way.
    fn events(body: &str) -> Vec<(String, Value)> {
        assert!(body.ends_with("\n\n"), "stream must end with a blank line");
        body.split_terminator("\n\n")
            .map(|block| {
                let (event, data) = block.split_once('\n').unwrap();
                let event = event.strip_prefix("event: ").unwrap().to_owned();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], event.as_str());
                (event, data)
            })
            .collect()
    }

    fn kinds(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(k, _)| k.as_str()).collect()
    }

    async fn server(scenario: &str) -> ModelServer {
        ModelServer::start(
            Scenario::builtin(scenario).unwrap(),
            ModelOptions::default(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn captured_turn_round_trip() {
        let server = server("auto").await;
        assert!(server.addr().ip().is_loopback());
        assert_eq!(
            server.base_url(),
            format!("http://127.0.0.1:{}/v1", server.addr().port())
        );

        let (status, head, body) = post_raw(
            server.addr(),
            "/v1/responses",
            &fixture("first_round.json"),
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/event-stream"));
        let first = events(&body);
        assert_eq!(
            kinds(&first),
            [
                "response.created",
                "response.output_item.added",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let item = &first[2].1["item"];
        assert_eq!(item["type"], "function_call");
        assert_eq!(item["name"], "lookup_ticket");
        assert_eq!(item["status"], "completed");
        assert!(item.get("namespace").is_none());
        let arguments: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"ticket_id": "example-ticket_id"}));
        assert_eq!(first[1].1["item"], *item);
        assert!(item["call_id"].as_str().unwrap().starts_with("call_sb"));
        assert_eq!(first[3].1["response"]["status"], "completed");
        assert_eq!(first[0].1["response"]["id"], first[3].1["response"]["id"]);

        // The tolerated path without /v1, with the captured second request.
        let (status, _, body) =
            post_raw(server.addr(), "/responses", &fixture("after_call.json"), "").await;
        assert_eq!(status, 200);
        let second = events(&body);
        assert_eq!(
            kinds(&second),
            [
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let text = "Tool results:\n- lookup_ticket: ticket T-1 is open";
        assert_eq!(second[5].1["item"]["content"][0]["text"], text);
        assert_eq!(second[5].1["item"]["role"], "assistant");
        let deltas: String = second
            .iter()
            .filter(|(k, _)| k == "response.output_text.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, text);
        assert_eq!(server.requests_served(), 2);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn call_ids_are_unique_across_requests_and_servers() {
        let one = server("parallel").await;
        let two = server("parallel").await;
        let mut seen = std::collections::HashSet::new();
        let body = serde_json::to_vec(&json!({
            "input": "call:a call:b call:a",
            "tools": [],
        }))
        .unwrap();
        for server in [&one, &two, &one] {
            let (_, _, text) = post_raw(server.addr(), "/v1/responses", &body, "").await;
            for (kind, data) in events(&text) {
                if kind == "response.output_item.done" {
                    assert!(seen.insert(data["item"]["call_id"].as_str().unwrap().to_owned()));
                    assert!(seen.insert(data["item"]["id"].as_str().unwrap().to_owned()));
                }
            }
        }
        assert_eq!(seen.len(), 18);
    }

    #[tokio::test]
    async fn namespaced_call_carries_its_namespace() {
        let server = server("auto").await;
        let mut body: Value = serde_json::from_slice(&fixture("second_turn.json")).unwrap();
        // Same thread, a new turn asking for the namespaced tool.
        let input = body["input"].as_array_mut().unwrap();
        input.push(json!({"type":"message","role":"user","content":[{"type":"input_text","text":"use crm.get"}]}));
        let (_, _, text) = post_raw(
            server.addr(),
            "/v1/responses",
            &serde_json::to_vec(&body).unwrap(),
            "",
        )
        .await;
        let events = events(&text);
        let item = &events[2].1["item"];
        assert_eq!(item["name"], "get");
        assert_eq!(item["namespace"], "crm");
        assert_eq!(item["arguments"], "{\"id\":1}");
        assert_eq!(events.len(), 4);
    }

    #[tokio::test]
    async fn failures() {
        let error = server("model-error").await;
        let (status, head, body) = post_raw(
            error.addr(),
            "/v1/responses",
            &fixture("first_round.json"),
            "",
        )
        .await;
        assert_eq!(status, 500);
        assert!(head.contains("content-type: application/json"));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["message"], "scripted model error");

        let stream = server("fail-stream").await;
        let (status, _, body) = post_raw(
            stream.addr(),
            "/v1/responses",
            &fixture("first_round.json"),
            "",
        )
        .await;
        assert_eq!(status, 200);
        let events = events(&body);
        assert_eq!(kinds(&events), ["response.created", "response.failed"]);
        assert_eq!(events[1].1["response"]["status"], "failed");

        let scenario = Scenario::parse(
            "[[turn]]\nfail = { http_status = 429, message = \"slow down\" }",
            "t",
        )
        .unwrap();
        let limited = ModelServer::start(scenario, ModelOptions::default())
            .await
            .unwrap();
        let (status, _, body) =
            post_raw(limited.addr(), "/v1/responses", b"{\"input\":\"x\"}", "").await;
        assert_eq!(status, 429);
        assert!(body.contains("slow down"));
    }

    #[tokio::test]
    async fn bad_requests_and_other_paths() {
        let server = server("auto").await;
        let (status, _, body) = post_raw(server.addr(), "/v1/chat/completions", b"{}", "").await;
        assert_eq!(status, 404);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["error"]["message"],
            "no route for POST /v1/chat/completions"
        );

        let (status, _, body) = post_raw(server.addr(), "/v1/responses", b"not json", "").await;
        assert_eq!(status, 400);
        assert!(body.contains("request body is not json"));
        let (status, _, _) = post_raw(server.addr(), "/v1/responses", b"[]", "").await;
        assert_eq!(status, 400);
        let (status, _, _) = post_raw(
            server.addr(),
            "/v1/responses",
            b"{}",
            "content-encoding: zstd\r\n",
        )
        .await;
        assert_eq!(status, 415);
        assert_eq!(server.requests_served(), 3);
    }

    #[tokio::test]
    async fn catalog_names_and_fixed_address() {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = probe.local_addr().unwrap();
        // The port is taken: starting there must fail with a bind error naming it.
        match ModelServer::start(
            Scenario::default(),
            ModelOptions {
                addr: Some(addr),
                tool_names: None,
                ..ModelOptions::default()
            },
        )
        .await
        {
            Err(ModelError::Bind { addr: failed, .. }) => assert_eq!(failed, addr),
            other => panic!("expected a bind error, got {other:?}"),
        }
        drop(probe);
        let options = ModelOptions {
            addr: Some(addr),
            tool_names: Some(vec!["view_image".to_owned()]),
            ..ModelOptions::default()
        };
        let server = ModelServer::start(Scenario::default(), options)
            .await
            .unwrap();
        assert_eq!(server.addr(), addr);
        let (_, _, text) = post_raw(addr, "/v1/responses", &fixture("first_round.json"), "").await;
        let events = events(&text);
        assert_eq!(events[2].1["item"]["name"], "view_image");
        assert_eq!(
            events[2].1["item"]["arguments"],
            "{\"path\":\"example-path\"}"
        );
    }

    #[tokio::test]
    async fn shutdown_does_not_wait_for_idle_keep_alive_connections() {
        let server = server("auto").await;
        let client = reqwest::Client::new();
        let url = format!("{}/responses", server.base_url());
        let response = client
            .post(&url)
            .json(&json!({"input": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap().matches("event: ").count(), 6);
        // The client keeps its pooled connection open, as codex does between requests.
        let started = std::time::Instant::now();
        server.shutdown().await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(
            client
                .post(&url)
                .json(&json!({"input": "x"}))
                .send()
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn reqwest_client_and_drop_stops_the_server() {
        let server = server("auto").await;
        let url = format!("{}/responses", server.base_url());
        let client = reqwest::Client::new();
        let response = client
            .post(&url)
            .json(&json!({"input": [{"role":"user","content":"hello there"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let events = events(&text);
        let done = events
            .iter()
            .find(|(k, _)| k == "response.output_item.done")
            .unwrap();
        assert_eq!(done.1["item"]["content"][0]["text"], "hello there");

        let addr = server.addr();
        drop(server);
        // The listener closes shortly after the drop.
        let mut closed = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(closed, "server still accepting after drop");
    }
}

//! The server under hostile or unlucky clients, on real loopback sockets: connections
//! that never finish their headers, more connections than the cap, a websocket reader
//! that falls behind, and requests hyper refuses before any route runs. The bridge is
//! the in-memory stand-in app-server: none of this involves codex.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard::bridge::{BridgeEvent, BridgeHandle};
use switchboard::service::{self, ServeConfig, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::api_support::{FakeAppServer, TOKEN, fake_bridge};
use super::support::WAIT;

const CATALOG: &str = "";

async fn server(configure: impl FnOnce(&mut ServeConfig)) -> (ServerHandle, FakeAppServer) {
    let (server, fake, _) = server_and_bridge(configure).await;
    (server, fake)
}

async fn server_and_bridge(
    configure: impl FnOnce(&mut ServeConfig),
) -> (ServerHandle, FakeAppServer, BridgeHandle) {
    let (bridge, fake) = fake_bridge(CATALOG).await;
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    configure(&mut config);
    (
        service::serve(bridge.clone(), config).await.unwrap(),
        fake,
        bridge,
    )
}

/// Everything the server sends until it closes the connection (or `WAIT` passes).
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

/// A raw request's whole reply, split into the head and the JSON body.
async fn raw_reply(server: &ServerHandle, request: &[u8]) -> (String, Value) {
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let reply = String::from_utf8(read_to_close(&mut stream).await).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a whole reply");
    let body = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {reply:?}"));
    (head.to_ascii_lowercase(), body)
}

#[tokio::test]
async fn hyper_refusals_are_json_like_every_other_reply() {
    let (server, _fake) = server(|_| {}).await;
    let long_id = "x".repeat(70_000);
    let cases = [
        (
            format!("GET /api/sessions/{long_id} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
            "414",
            "uri_too_long",
        ),
        (
            {
                let mut request = "GET /api/health HTTP/1.1\r\nHost: x\r\n".to_string();
                for n in 0..200 {
                    request.push_str(&format!("X-Filler-{n}: {n}\r\n"));
                }
                request.push_str("\r\n");
                request.into_bytes()
            },
            "431",
            "request_header_fields_too_large",
        ),
        (
            b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: "
                .iter()
                .copied()
                .chain(std::iter::repeat_n(b'a', 500_000))
                .chain(b"\r\n\r\n".iter().copied())
                .collect(),
            "431",
            "request_header_fields_too_large",
        ),
        (
            b"POST /api/tool-calls/x/response HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"
                .to_vec(),
            "400",
            "bad_request",
        ),
    ];
    for (request, status, code) in cases {
        let (head, body) = raw_reply(&server, &request).await;
        assert!(
            head.starts_with(&format!("http/1.1 {status}")),
            "expected {status} {code}, got {head} {body}"
        );
        assert!(head.contains("content-type: application/json"), "{head}");
        assert_eq!(body["status"], "error", "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The server still serves.
    let health = reqwest::Client::new()
        .get(format!("{}/api/health", server.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let (server, _fake) = server(|config| {
        config.limits.header_read_timeout = Duration::from_secs(5);
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut byte = [0u8; 1];
    // Paused time: the server's 5 s pass as soon as everything is idle.
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the half-open connection stayed open: {read:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
}

/// Sends one authenticated request on `stream` and reads its reply's status line.
async fn authenticated_request(stream: &mut TcpStream) -> String {
    stream
        .write_all(
            format!("GET /api/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the reply");
            reply.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn over_the_cap_the_oldest_unauthenticated_connections_are_shed() {
    let (server, _fake) = server(|config| {
        config.limits.max_connections = 6;
        config.limits.max_connections_per_peer = 6;
    })
    .await;
    // One client that authenticated and keeps its connection.
    let mut kept = TcpStream::connect(server.addr()).await.unwrap();
    assert!(authenticated_request(&mut kept).await.contains("200"));
    // Five that never send a byte fill the cap.
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(TcpStream::connect(server.addr()).await.unwrap());
    }
    // Three more arrive: each sheds the oldest idle one.
    let mut late = Vec::new();
    for _ in 0..3 {
        late.push(TcpStream::connect(server.addr()).await.unwrap());
    }
    for stream in idle.iter_mut().take(3) {
        assert!(read_to_close(stream).await.is_empty());
    }
    // The token holder still gets in, and its old connection was never shed.
    assert!(authenticated_request(&mut late[2]).await.contains("200"));
    assert!(authenticated_request(&mut kept).await.contains("200"));
    // The two newest idle ones are still open: shedding took only what it needed.
    for stream in idle.iter_mut().skip(3) {
        assert!(authenticated_request(stream).await.contains("200"));
    }
}

#[tokio::test]
async fn serving_raises_the_open_file_soft_limit_to_the_hard_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    // Lowered first (to a value this process cannot run out of), so the raise shows.
    let lowered = hard.min(4096);
    setrlimit(Resource::RLIMIT_NOFILE, lowered, hard).unwrap();
    let (_server, _fake) = server(|_| {}).await;
    assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_reader_that_falls_behind_is_dropped_with_a_lagged_frame() {
    let (server, fake, bridge) = server_and_bridge(|config| {
        config.max_socket_queue_bytes = 2 * 1024 * 1024;
    })
    .await;
    let mut events = bridge.subscribe();
    let mut request = format!("ws://{}/api/stream", server.addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // 200 notifications of 300 kB each (60 MB) while the socket reads nothing: far more
    // than the socket buffers and the 2 MiB queue hold.
    let blob = "x".repeat(300_000);
    for n in 0..200 {
        fake.send(json!({"method": "switchboard/test/bulk", "params": {"n": n, "blob": blob}}))
            .await;
    }
    // The reader starts only once the bridge has raised all 200 events.
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await.expect("bridge stopped") {
                BridgeEvent::AppServerNotification { params, .. } if params["n"] == 199 => break,
                _ => {}
            }
        }
    })
    .await
    .expect("the bridge did not raise the notifications");
    let mut bulk = 0;
    let lagged = tokio::time::timeout(WAIT, async {
        while let Some(message) = socket.next().await {
            let Ok(Message::Text(text)) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            match frame["type"].as_str() {
                Some("lagged") => return Some(frame),
                Some("app_server.switchboard.test.bulk") | Some(_) => bulk += 1,
                None => {}
            }
        }
        None
    })
    .await
    .expect("the socket was neither dropped nor finished");
    let lagged = lagged.expect("the socket closed without a lagged frame");
    assert_eq!(lagged["payload"]["closing"], true, "{lagged}");
    assert_eq!(lagged["payload"]["limitBytes"], 2 * 1024 * 1024);
    assert!(bulk < 200, "every frame arrived: nothing was dropped");
    // After the lagged frame the server closes the socket.
    let rest = tokio::time::timeout(WAIT, async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                panic!(
                    "a frame after lagged: {}",
                    &text.as_str()[..80.min(text.len())]
                );
            }
        }
    })
    .await;
    assert!(rest.is_ok(), "the socket stayed open after lagged");
}

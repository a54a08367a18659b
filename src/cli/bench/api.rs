//! The API: a respond round trip, how soon a stream event follows its `item/tool/call`,
//! and listing many pending calls. The bridge runs on the in-memory synthetic
//! app-server, so only the bridge and the API are timed.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::bridge::synthetic_stdio;
use super::{BenchError, Figure, Result, quantile};
use crate::bridge::{self, BridgeConfig, BridgeHandle, CreateSession, ManualPolicy};
use crate::catalog::Catalog;
use crate::lab::synthetic::{self, SyntheticConfig, monotonic_us};
use crate::service::{self, ServeConfig, ServerHandle};

/// A manual tool: no handler, so every call waits for an API client.
pub const MANUAL_CATALOG: &str = r#"
[[tools]]
name = "bench_tool"
description = "answered through the API"
input_schema = { type = "object" }
"#;

pub async fn manual_bridge(config: SyntheticConfig) -> Result<BridgeHandle> {
    let catalog = Catalog::parse(MANUAL_CATALOG, std::path::Path::new("bench.toml"))
        .map_err(BenchError::from("catalog"))?;
    let mut bridge_config = BridgeConfig::new(synthetic_stdio()?, std::sync::Arc::new(catalog));
    bridge_config.manual_policy = ManualPolicy::Wait;
    bridge::start_on(bridge_config, synthetic::spawn_memory(config))
        .await
        .map_err(BenchError::from("bridge"))
}

/// The API on a free loopback port, without a token.
pub async fn serve(bridge: &BridgeHandle) -> Result<ServerHandle> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    service::serve(bridge.clone(), ServeConfig::new(addr, None))
        .await
        .map_err(BenchError::from("serving the API"))
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A stream socket filtered to one session.
pub async fn stream(server: &ServerHandle, thread_id: &str) -> Result<Socket> {
    let url = format!("ws://{}/api/stream?threadId={thread_id}", server.addr());
    // Nagle off, as on the server: a small command must not wait for a delayed ACK.
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(BenchError::from("stream"))?;
    next_of(&mut socket, "ready").await?;
    Ok(socket)
}

/// The next frame of `kind` on the socket.
pub async fn next_of(socket: &mut Socket, kind: &str) -> Result<Value> {
    next_of_any(socket, &[kind]).await
}

/// The next frame of any of `kinds` on the socket.
pub async fn next_of_any(socket: &mut Socket, kinds: &[&str]) -> Result<Value> {
    let wait = async {
        while let Some(frame) = socket.next().await {
            let frame = frame.map_err(BenchError::from("stream frame"))?;
            if let WsMessage::Text(text) = frame {
                let value: Value =
                    serde_json::from_str(&text).map_err(BenchError::from("frame"))?;
                if kinds.iter().any(|k| value["type"] == *k) {
                    return Ok(value);
                }
            }
        }
        Err(BenchError("the stream closed".to_string()))
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .map_err(BenchError::from("waiting for a stream frame"))?
}

pub async fn respond(client: &reqwest::Client, base: &str, request_id: &str) -> Result<()> {
    let reply = client
        .post(format!("{base}/api/tool-calls/{request_id}/response"))
        .json(&json!({"response": {"contentItems": [{"type": "inputText", "text": "ok"}], "success": true}}))
        .send()
        .await
        .map_err(BenchError::from("respond"))?;
    if !reply.status().is_success() {
        return Err(BenchError(format!("respond answered {}", reply.status())));
    }
    Ok(())
}

pub const SIGNAL: &str = crate::service::convert::TOOL_CALL_SIGNAL;

pub async fn run(runs: usize) -> Result<Vec<Figure>> {
    let client = reqwest::Client::new();
    let (mut respond_p50, mut event_p50, mut event_p99, mut list_p50, mut health_p50) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        // Calls one at a time: each is signalled on the stream, then answered over HTTP.
        let bridge = manual_bridge(SyntheticConfig {
            stamp_arguments: true,
            ..SyntheticConfig::default()
        })
        .await?;
        let server = serve(&bridge).await?;
        let base = server.url();
        let session = bridge
            .create_session(CreateSession::default())
            .await
            .map_err(BenchError::from("session"))?;
        let mut socket = stream(&server, &session.thread_id).await?;
        socket
            .send(WsMessage::text(
                json!({"type": "subscribe", "threadId": session.thread_id}).to_string(),
            ))
            .await
            .map_err(BenchError::from("subscribe"))?;
        bridge
            .send_message(&session.thread_id, &json!({"callsPerTurn": 1000, "concurrency": 1, "tool": "bench_tool", "stampArguments": true}).to_string())
            .await
            .map_err(BenchError::from("turn"))?;
        let (mut respond_us, mut event_us) = (Vec::new(), Vec::new());
        for _ in 0..1000 {
            let signal = next_of(&mut socket, SIGNAL).await?;
            let arrived = monotonic_us();
            let sent = signal["payload"]["params"]["arguments"]["sentAtUs"]
                .as_u64()
                .unwrap_or(arrived);
            event_us.push(u32::try_from(arrived.saturating_sub(sent)).unwrap_or(u32::MAX));
            let request_id = signal["payload"]["requestId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let started = Instant::now();
            respond(&client, &base, &request_id).await?;
            respond_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        respond_p50.push(quantile(&respond_us, 0.5));
        event_p50.push(quantile(&event_us, 0.5));
        event_p99.push(quantile(&event_us, 0.99));
        let mut health_us = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            client
                .get(format!("{base}/api/health"))
                .send()
                .await
                .map_err(BenchError::from("health"))?;
            health_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        health_p50.push(quantile(&health_us, 0.5));
        server.shutdown().await;
        bridge.shutdown().await;

        // 1,000 calls pending across 100 sessions, listed in one request.
        let bridge = manual_bridge(SyntheticConfig::default()).await?;
        let server = serve(&bridge).await?;
        let base = server.url();
        let mut events = bridge.subscribe();
        for _ in 0..100 {
            let session = bridge
                .create_session(CreateSession::default())
                .await
                .map_err(BenchError::from("session"))?;
            bridge
                .send_message(
                    &session.thread_id,
                    &json!({"callsPerTurn": 10, "concurrency": 10}).to_string(),
                )
                .await
                .map_err(BenchError::from("turn"))?;
        }
        let mut requested = 0;
        while requested < 1000 {
            match events.recv().await {
                Some(crate::bridge::BridgeEvent::ToolCallRequested { .. }) => requested += 1,
                Some(_) => {}
                None => return Err(BenchError("the bridge stopped".to_string())),
            }
        }
        let mut list_us = Vec::new();
        for round in 0..50 {
            let started = Instant::now();
            // Timed until the whole body has arrived; parsing it is the client's cost.
            let body = client
                .get(format!("{base}/api/tool-calls"))
                .send()
                .await
                .map_err(BenchError::from("list"))?
                .bytes()
                .await
                .map_err(BenchError::from("list body"))?;
            list_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
            if round == 0 {
                let listed: Value =
                    serde_json::from_slice(&body).map_err(BenchError::from("list JSON"))?;
                let count = listed["data"].as_array().map(Vec::len).unwrap_or(0);
                if count != 1000 {
                    return Err(BenchError(format!("listed {count} calls, expected 1000")));
                }
            }
        }
        list_p50.push(quantile(&list_us, 0.5));
        server.shutdown().await;
        bridge.shutdown().await;
    }
    Ok(vec![
        Figure::new(
            "respond round trip over HTTP (POST .../response), p50",
            "us",
            &respond_p50,
        )
        .against("GET /api/health round trip, p50", &health_p50)
        .target("< 1 ms"),
        Figure::new(
            "stream signal after its item/tool/call was sent, p50",
            "us",
            &event_p50,
        )
        .target("< 1 ms"),
        Figure::new(
            "stream signal after its item/tool/call was sent, p99",
            "us",
            &event_p99,
        ),
        Figure::new(
            "GET /api/tool-calls with 1,000 pending calls in 100 sessions, p50",
            "us",
            &list_p50,
        )
        .against("GET /api/health round trip, p50", &health_p50)
        .target("< 5 ms"),
    ])
}

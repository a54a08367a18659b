//! One-call turns through the real codex and the scripted model: a minimal direct
//! client (the floor) against the bridge answering with a handler.

use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};

use super::bridge::{static_catalog, tempdir};
use super::{BenchError, Figure, Result};
use crate::appserver::TransportSpec;
use crate::appserver::locate::locate_codex;
use crate::bridge::{self, BridgeConfig, CreateSession};
use crate::model::{ModelServer, Scenario};

#[derive(Debug, Clone, Args)]
pub struct CodexArgs {
    /// Timed turns per run, after warm-up turns.
    #[arg(long, default_value_t = 20)]
    pub turns: usize,
}

impl Default for CodexArgs {
    fn default() -> Self {
        CodexArgs { turns: 20 }
    }
}

const WARM_UP: usize = 3;
const PROMPT: &str = "call:bench_tool";

fn median_ms(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}

/// The minimal direct client: codex app-server over stdio, answering each tool call at
/// once with a fixed result. Returns the median turn time in ms.
async fn direct(codex: &std::path::Path, home: &std::path::Path, turns: usize) -> Result<f64> {
    let mut child = tokio::process::Command::new(codex)
        .arg("app-server")
        .env("CODEX_HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(BenchError::from("starting codex"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(BenchError("codex without pipes".to_string()));
    };
    let mut writer = BufWriter::new(stdin);
    let mut lines = BufReader::new(stdout).lines();
    let mut next_id = 10;
    async fn send(writer: &mut BufWriter<tokio::process::ChildStdin>, value: Value) -> Result<()> {
        let line = value.to_string() + "\n";
        writer
            .write_all(line.as_bytes())
            .await
            .map_err(BenchError::from("write"))?;
        writer.flush().await.map_err(BenchError::from("flush"))
    }
    // Reads until the reply to `id`, answering tool calls on the way; returns the reply.
    async fn until_reply(
        lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
        writer: &mut BufWriter<tokio::process::ChildStdin>,
        id: Option<i64>,
        turn_end: bool,
    ) -> Result<Value> {
        let answer =
            json!({"contentItems": [{"type": "inputText", "text": "ok"}], "success": true});
        while let Some(line) = lines.next_line().await.map_err(BenchError::from("read"))? {
            let message: Value =
                serde_json::from_str(&line).map_err(BenchError::from("codex line"))?;
            match message.get("method").and_then(Value::as_str) {
                Some("item/tool/call") => {
                    let rpc = message.get("id").cloned().unwrap_or(Value::Null);
                    send(writer, json!({"id": rpc, "result": answer})).await?;
                }
                Some("turn/completed") if turn_end => return Ok(message),
                Some(_) => {}
                None if !turn_end && message.get("id").and_then(Value::as_i64) == id => {
                    return Ok(message);
                }
                None => {}
            }
        }
        Err(BenchError("codex closed its stdout".to_string()))
    }
    send(&mut writer, json!({"id": 1, "method": "initialize", "params": crate::protocol::initialize_params("bench", "0")})).await?;
    until_reply(&mut lines, &mut writer, Some(1), false).await?;
    send(&mut writer, json!({"method": "initialized"})).await?;
    let tools = serde_json::to_value(static_catalog()?.dynamic_tools())
        .map_err(BenchError::from("tools"))?;
    send(
        &mut writer,
        json!({"id": 2, "method": "thread/start", "params": {"cwd": home, "dynamicTools": tools}}),
    )
    .await?;
    let started = until_reply(&mut lines, &mut writer, Some(2), false).await?;
    let thread = started
        .pointer("/result/thread/id")
        .cloned()
        .ok_or_else(|| BenchError(format!("thread/start failed: {started}")))?;
    let mut times = Vec::new();
    for n in 0..WARM_UP + turns {
        next_id += 1;
        let begin = Instant::now();
        send(&mut writer, json!({"id": next_id, "method": "turn/start", "params": {"threadId": thread, "input": [{"type": "text", "text": PROMPT}]}})).await?;
        let done = until_reply(&mut lines, &mut writer, None, true).await?;
        if done.pointer("/params/turn/status").and_then(Value::as_str) != Some("completed") {
            return Err(BenchError(format!("direct turn did not complete: {done}")));
        }
        if n >= WARM_UP {
            times.push(begin.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(median_ms(&mut times))
}

/// The same turns through the bridge, answered by its static handler.
async fn through_bridge(
    codex: &std::path::Path,
    home: &std::path::Path,
    turns: usize,
) -> Result<f64> {
    let transport = TransportSpec::Stdio {
        program: codex.to_path_buf(),
        args: vec!["app-server".to_string()],
        env: vec![("CODEX_HOME".to_string(), home.display().to_string())],
    };
    let data = tempdir()?;
    let mut config = BridgeConfig::new(transport, static_catalog()?);
    config.data_dir = Some(data.path().to_path_buf());
    let bridge = bridge::start(config)
        .await
        .map_err(BenchError::from("bridge"))?;
    let session = bridge
        .create_session(CreateSession {
            cwd: Some(home.display().to_string()),
            ..CreateSession::default()
        })
        .await
        .map_err(BenchError::from("thread/start"))?;
    let mut times = Vec::new();
    for n in 0..WARM_UP + turns {
        let begin = Instant::now();
        let turn = bridge
            .send_message(&session.thread_id, PROMPT)
            .await
            .map_err(BenchError::from("turn/start"))?;
        let record = tokio::time::timeout(
            Duration::from_secs(60),
            bridge.wait_turn(&session.thread_id, &turn),
        )
        .await
        .map_err(BenchError::from("turn"))?
        .map_err(BenchError::from("turn"))?;
        if record.status != crate::protocol::TurnStatus::Completed {
            return Err(BenchError(format!(
                "bridge turn ended {}",
                record.status.as_str()
            )));
        }
        if n >= WARM_UP {
            times.push(begin.elapsed().as_secs_f64() * 1e3);
        }
    }
    bridge.shutdown().await;
    Ok(median_ms(&mut times))
}

/// Polling interval of the polling path: tight, so the figure shows the bridge's cost
/// rather than the interval (codex-manager's SDK polls every 250 ms).
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The same turns answered by a remote client through the API: over the stream signal
/// (`poll = false`) or by polling the pending list (`poll = true`).
async fn through_api(
    codex: &std::path::Path,
    home: &std::path::Path,
    turns: usize,
    poll: bool,
) -> Result<f64> {
    use futures_util::SinkExt;
    let transport = TransportSpec::Stdio {
        program: codex.to_path_buf(),
        args: vec!["app-server".to_string()],
        env: vec![("CODEX_HOME".to_string(), home.display().to_string())],
    };
    let mut config = BridgeConfig::new(
        transport,
        std::sync::Arc::new(crate::catalog::Catalog::empty()),
    );
    config.manual_policy = crate::bridge::ManualPolicy::Wait;
    let bridge = bridge::start(config)
        .await
        .map_err(BenchError::from("bridge"))?;
    let server = super::api::serve(&bridge).await?;
    let base = server.url();
    let client = reqwest::Client::new();
    let tools = serde_json::to_value(static_catalog()?.dynamic_tools())
        .map_err(BenchError::from("tools"))?;
    let created: Value = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({"cwd": home, "dynamicTools": tools}))
        .send()
        .await
        .map_err(BenchError::from("create"))?
        .json()
        .await
        .map_err(BenchError::from("create body"))?;
    let session = created["session"]["sessionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut socket = super::api::stream(&server, &session).await?;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "subscribe", "threadId": session}).to_string(),
        ))
        .await
        .map_err(BenchError::from("subscribe"))?;
    let mut times = Vec::new();
    for n in 0..WARM_UP + turns {
        let begin = Instant::now();
        let sent: Value = client
            .post(format!("{base}/api/sessions/{session}/messages"))
            .json(&json!({"text": PROMPT}))
            .send()
            .await
            .map_err(BenchError::from("message"))?
            .json()
            .await
            .map_err(BenchError::from("message body"))?;
        let turn = sent["turnId"].as_str().unwrap_or_default().to_string();
        if poll {
            loop {
                let listed: Value = client
                    .get(format!("{base}/api/sessions/{session}/tool-calls"))
                    .send()
                    .await
                    .map_err(BenchError::from("list"))?
                    .json()
                    .await
                    .map_err(BenchError::from("list body"))?;
                for call in listed["data"].as_array().into_iter().flatten() {
                    super::api::respond(
                        &client,
                        &base,
                        call["requestId"].as_str().unwrap_or_default(),
                    )
                    .await?;
                }
                let detail: Value = client
                    .get(format!("{base}/api/sessions/{session}"))
                    .send()
                    .await
                    .map_err(BenchError::from("detail"))?
                    .json()
                    .await
                    .map_err(BenchError::from("detail body"))?;
                let status = detail["thread"]["turns"]
                    .as_array()
                    .and_then(|turns| turns.iter().find(|t| t["id"] == turn.as_str()))
                    .and_then(|t| t["status"].as_str())
                    .unwrap_or("inProgress")
                    .to_string();
                if status != "inProgress" {
                    if status != "completed" {
                        return Err(BenchError(format!("polled turn ended {status}")));
                    }
                    break;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        } else {
            loop {
                let frame = super::api::next_of_any(
                    &mut socket,
                    &[super::api::SIGNAL, "app_server.turn.completed"],
                )
                .await?;
                if frame["type"] == super::api::SIGNAL {
                    super::api::respond(
                        &client,
                        &base,
                        frame["payload"]["requestId"].as_str().unwrap_or_default(),
                    )
                    .await?;
                } else if frame["payload"]["params"]["turn"]["id"] == turn.as_str() {
                    break;
                }
            }
        }
        if n >= WARM_UP {
            times.push(begin.elapsed().as_secs_f64() * 1e3);
        }
    }
    server.shutdown().await;
    bridge.shutdown().await;
    Ok(median_ms(&mut times))
}

pub async fn run(args: &CodexArgs, runs: usize) -> Result<Vec<Figure>> {
    let codex = locate_codex(None).map_err(BenchError::from("codex"))?.path;
    let catalog = static_catalog()?;
    let model = ModelServer::start(
        Scenario::load("single").map_err(BenchError::from("scenario"))?,
        crate::cli::scripted::model_options(&catalog),
    )
    .await
    .map_err(BenchError::from("scripted model"))?;
    let home = tempdir()?;
    crate::model::write_codex_home(home.path(), &model.base_url())
        .map_err(BenchError::from("CODEX_HOME"))?;
    let (mut direct_ms, mut bridge_ms, mut signal_ms, mut polling_ms) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        direct_ms.push(direct(&codex, home.path(), args.turns).await?);
        bridge_ms.push(through_bridge(&codex, home.path(), args.turns).await?);
        signal_ms.push(through_api(&codex, home.path(), args.turns, false).await?);
        polling_ms.push(through_api(&codex, home.path(), args.turns, true).await?);
    }
    let direct_name = "minimal direct client on codex app-server, median";
    Ok(vec![
        Figure::new(
            "one-call turn, remote handler on the API stream signal, median",
            "ms",
            &signal_ms,
        )
        .against(direct_name, &direct_ms)
        .target("within 1.10x of the direct client (codex-manager: 130 to 150 ms)"),
        Figure::new(
            "one-call turn, remote handler polling the API every 10 ms, median",
            "ms",
            &polling_ms,
        )
        .against(direct_name, &direct_ms)
        .note("codex-manager's SDK polls every 250 ms; its polling path takes about 640 ms a turn"),
        Figure::new(
            "one-call turn through the bridge (handler answers), median",
            "ms",
            &bridge_ms,
        )
        .against(
            "minimal direct client on codex app-server, median",
            &direct_ms,
        )
        .target("within 1.05x of the direct client")
        .note(format!(
            "real codex, scripted model, warm thread, {} timed turns per run",
            args.turns
        )),
    ])
}

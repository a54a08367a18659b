//! One-call turns through the real codex and the scripted model: a minimal direct
//! client (the floor) against the bridge answering with a handler, and remote handlers
//! over the API (Rust on the stream signal and polling, and a standard-library Python
//! handler on codex-manager's wire contract). Each path also gives its per-hop timeline
//! (see [`crate::appserver::timeline`]): the median time between consecutive hops.

use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};

use super::bridge::{static_catalog, tempdir};
use super::{BenchError, Figure, Hop, Result};
use crate::appserver::TransportSpec;
use crate::appserver::locate::locate_codex;
use crate::appserver::timeline;
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
/// once with a fixed result.
async fn direct(codex: &std::path::Path, home: &std::path::Path, turns: usize) -> Result<Run> {
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
                    timeline::mark("direct.tool_call.read");
                    let rpc = message.get("id").cloned().unwrap_or(Value::Null);
                    send(writer, json!({"id": rpc, "result": answer})).await?;
                    timeline::mark("direct.answer.written");
                }
                Some("turn/completed") if turn_end => {
                    timeline::mark("direct.turn_completed.read");
                    return Ok(message);
                }
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
    let mut run = Run::default();
    for n in 0..WARM_UP + turns {
        next_id += 1;
        let begin = run.begin(n);
        send(&mut writer, json!({"id": next_id, "method": "turn/start", "params": {"threadId": thread, "input": [{"type": "text", "text": PROMPT}]}})).await?;
        timeline::mark("direct.turn_start.written");
        let done = until_reply(&mut lines, &mut writer, None, true).await?;
        if done.pointer("/params/turn/status").and_then(Value::as_str) != Some("completed") {
            return Err(BenchError(format!("direct turn did not complete: {done}")));
        }
        run.end(n, begin);
    }
    Ok(run.finish())
}

/// The same turns through the bridge, answered by its static handler.
async fn through_bridge(
    codex: &std::path::Path,
    home: &std::path::Path,
    turns: usize,
) -> Result<Run> {
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
    let mut run = Run::default();
    for n in 0..WARM_UP + turns {
        let begin = run.begin(n);
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
        run.end(n, begin);
    }
    bridge.shutdown().await;
    Ok(run.finish())
}

/// Polling interval of the polling path: tight, so the figure shows the bridge's cost
/// rather than the interval (codex-manager's SDK polls every 250 ms).
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Who answers the calls through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remote {
    /// This process, on the stream signal.
    Signal,
    /// This process, polling the pending list.
    Poll,
    /// `tests/python/bench_stream_handler.py`, on the stream signal.
    Python,
}

/// The Python handler and the module whose client it uses, written out for `python3`.
const PYTHON_HANDLER: &str = include_str!("../../../tests/python/bench_stream_handler.py");
const PYTHON_FLOW: &str = include_str!("../../../tests/python/remote_skills_flow.py");

/// The same turns answered by a remote client through the API.
async fn through_api(
    codex: &std::path::Path,
    home: &std::path::Path,
    turns: usize,
    remote: Remote,
) -> Result<Run> {
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
    if remote == Remote::Python {
        let run = python_turns(&base, &session, turns).await;
        server.shutdown().await;
        bridge.shutdown().await;
        return run;
    }
    let mut socket = super::api::stream(&server, &session).await?;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "subscribe", "threadId": session}).to_string(),
        ))
        .await
        .map_err(BenchError::from("subscribe"))?;
    let mut run = Run::default();
    for n in 0..WARM_UP + turns {
        let begin = run.begin(n);
        let sent: Value = client
            .post(format!("{base}/api/sessions/{session}/messages"))
            .json(&json!({"text": PROMPT}))
            .send()
            .await
            .map_err(BenchError::from("message"))?
            .json()
            .await
            .map_err(BenchError::from("message body"))?;
        timeline::mark("client.message.accepted");
        let turn = sent["turnId"].as_str().unwrap_or_default().to_string();
        if remote == Remote::Poll {
            // Every 10 ms from the start of one poll to the next (a sleep after each poll
            // would make the period 10 ms plus the requests plus the timer's rounding).
            let mut every = tokio::time::interval(POLL_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let listed: Value = client
                    .get(format!("{base}/api/sessions/{session}/tool-calls"))
                    .send()
                    .await
                    .map_err(BenchError::from("list"))?
                    .json()
                    .await
                    .map_err(BenchError::from("list body"))?;
                for call in listed["data"].as_array().into_iter().flatten() {
                    timeline::mark("client.call.listed");
                    super::api::respond(
                        &client,
                        &base,
                        call["requestId"].as_str().unwrap_or_default(),
                    )
                    .await?;
                    timeline::mark("client.respond.ok");
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
            }
        } else {
            loop {
                let frame = super::api::next_of_any(
                    &mut socket,
                    &[super::api::SIGNAL, "app_server.turn.completed"],
                )
                .await?;
                if frame["type"] == super::api::SIGNAL {
                    timeline::mark("client.signal.received");
                    super::api::respond(
                        &client,
                        &base,
                        frame["payload"]["requestId"].as_str().unwrap_or_default(),
                    )
                    .await?;
                    timeline::mark("client.respond.ok");
                } else if frame["payload"]["params"]["turn"]["id"] == turn.as_str() {
                    timeline::mark("client.turn_completed.received");
                    break;
                }
            }
        }
        run.end(n, begin);
    }
    server.shutdown().await;
    bridge.shutdown().await;
    Ok(run.finish())
}

/// Runs the Python handler's turns on `session`; the server's marks are split into
/// turns at each message the handler sends.
async fn python_turns(base: &str, session: &str, turns: usize) -> Result<Run> {
    let dir = tempdir()?;
    for (name, text) in [
        ("bench_stream_handler.py", PYTHON_HANDLER),
        ("remote_skills_flow.py", PYTHON_FLOW),
    ] {
        std::fs::write(dir.path().join(name), text).map_err(BenchError::from("python script"))?;
    }
    timeline::record(true);
    let output = tokio::process::Command::new("python3")
        .arg(dir.path().join("bench_stream_handler.py"))
        .args([session, &turns.to_string(), &WARM_UP.to_string(), PROMPT])
        .env("CODEX_MANAGER_API_BASE", base)
        .env("CODEX_MANAGER_API_PREFIX", "/api")
        .env_remove("CODEX_MANAGER_BEARER_TOKEN")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(BenchError::from(
            "starting python3 (the Python handler's figure needs it)",
        ));
    let marks = timeline::take();
    timeline::record(false);
    let output = output?;
    if !output.status.success() {
        return Err(BenchError(format!(
            "the Python handler failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let printed: Value =
        serde_json::from_slice(&output.stdout).map_err(BenchError::from("python output"))?;
    let times: Vec<f64> = printed["turnsMs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    let mut split: Vec<Vec<timeline::Mark>> = Vec::new();
    for mark in marks {
        if mark.hop == "api.message.read" {
            split.push(Vec::new());
        }
        if let Some(turn) = split.last_mut() {
            turn.push(mark);
        }
    }
    Ok(Run {
        times,
        turns: split.into_iter().skip(WARM_UP).collect(),
    })
}

/// One path's timed turns: how long each took, and each one's timeline.
#[derive(Debug, Default)]
struct Run {
    times: Vec<f64>,
    turns: Vec<Vec<timeline::Mark>>,
}

impl Run {
    /// Starts turn `n` (counting warm-up turns): the timeline starts afresh.
    fn begin(&mut self, n: usize) -> Instant {
        if n == 0 {
            timeline::record(true);
        }
        let _ = timeline::take();
        timeline::mark("client.turn.begin");
        Instant::now()
    }

    fn end(&mut self, n: usize, begin: Instant) {
        let elapsed = begin.elapsed().as_secs_f64() * 1e3;
        timeline::mark("client.turn.end");
        let marks = timeline::take();
        if n >= WARM_UP {
            self.times.push(elapsed);
            self.turns.push(marks);
        }
    }

    fn finish(self) -> Run {
        timeline::record(false);
        self
    }
}

/// The hops of each path's critical path, in order. The two marked `codex` are codex's
/// own work (the model round trip and item bookkeeping), the same on every path.
const DIRECT_HOPS: &[&str] = &[
    "client.turn.begin",
    "direct.turn_start.written",
    "direct.tool_call.read",
    "direct.answer.written",
    "direct.turn_completed.read",
    "client.turn.end",
];
const BRIDGE_HOPS: &[&str] = &[
    "client.turn.begin",
    "appserver.turn_start.written",
    "appserver.tool_call.read",
    "bridge.call.registered",
    "appserver.answer.written",
    "appserver.turn_completed.read",
    "client.turn.end",
];
const SIGNAL_HOPS: &[&str] = &[
    "client.turn.begin",
    "api.message.read",
    "appserver.turn_start.written",
    "appserver.tool_call.read",
    "bridge.call.registered",
    "fanout.sent app_server.request.item.tool.call",
    "ws.written app_server.request.item.tool.call",
    "client.signal.received",
    "api.respond.read",
    "appserver.answer.written",
    "appserver.turn_completed.read",
    "fanout.sent app_server.turn.completed",
    "ws.written app_server.turn.completed",
    "client.turn_completed.received",
    "client.turn.end",
];
const POLL_HOPS: &[&str] = &[
    "client.turn.begin",
    "api.message.read",
    "appserver.turn_start.written",
    "appserver.tool_call.read",
    "bridge.call.registered",
    "client.call.listed",
    "api.respond.read",
    "appserver.answer.written",
    "appserver.turn_completed.read",
    "client.turn.end",
];
const PYTHON_HOPS: &[&str] = &[
    "api.message.read",
    "appserver.turn_start.written",
    "appserver.tool_call.read",
    "bridge.call.registered",
    "fanout.sent app_server.request.item.tool.call",
    "ws.written app_server.request.item.tool.call",
    "api.respond.read",
    "appserver.answer.written",
    "appserver.turn_completed.read",
    "fanout.sent app_server.turn.completed",
    "ws.written app_server.turn.completed",
];

/// Hops that are codex's own time rather than a client's or the bridge's.
fn codex_hop(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        (
            "direct.turn_start.written" | "appserver.turn_start.written",
            "direct.tool_call.read" | "appserver.tool_call.read"
        ) | (
            "direct.answer.written" | "appserver.answer.written",
            "direct.turn_completed.read" | "appserver.turn_completed.read"
        )
    )
}

/// The median of each consecutive pair of `chain` over `turns`: each hop is the first
/// mark of its name after the previous hop's.
fn hops(turns: &[Vec<timeline::Mark>], chain: &[&str]) -> Vec<Hop> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); chain.len().saturating_sub(1)];
    for marks in turns {
        let mut cursor = 0;
        let mut at: Vec<Option<u64>> = Vec::with_capacity(chain.len());
        for hop in chain {
            match marks[cursor..].iter().position(|m| m.hop == *hop) {
                Some(i) => {
                    cursor += i;
                    at.push(Some(marks[cursor].at_us));
                }
                None => at.push(None),
            }
        }
        for (i, pair) in at.windows(2).enumerate() {
            if let [Some(a), Some(b)] = pair {
                samples[i].push(b.saturating_sub(*a) as f64 / 1e3);
            }
        }
    }
    chain
        .windows(2)
        .zip(samples)
        .map(|(pair, mut values)| Hop {
            from: pair[0].to_string(),
            to: pair[1].to_string(),
            codex: codex_hop(pair[0], pair[1]),
            turns: values.len(),
            median_ms: median_ms(&mut values),
        })
        .collect()
}

/// Every run of one path: the run medians, and all timed turns' timelines.
#[derive(Debug, Default)]
struct Path {
    medians: Vec<f64>,
    turns: Vec<Vec<timeline::Mark>>,
}

impl Path {
    fn add(&mut self, mut run: Run) {
        self.medians.push(median_ms(&mut run.times));
        self.turns.extend(run.turns);
    }
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
    let (mut direct_p, mut bridge_p, mut signal_p, mut polling_p, mut python_p) = (
        Path::default(),
        Path::default(),
        Path::default(),
        Path::default(),
        Path::default(),
    );
    for _ in 0..runs {
        direct_p.add(direct(&codex, home.path(), args.turns).await?);
        bridge_p.add(through_bridge(&codex, home.path(), args.turns).await?);
        signal_p.add(through_api(&codex, home.path(), args.turns, Remote::Signal).await?);
        polling_p.add(through_api(&codex, home.path(), args.turns, Remote::Poll).await?);
        python_p.add(through_api(&codex, home.path(), args.turns, Remote::Python).await?);
    }
    let direct_name = "minimal direct client on codex app-server, median";
    Ok(vec![
        Figure::new(
            "one-call turn, minimal direct client (the baseline), median",
            "ms",
            &direct_p.medians,
        )
        .hops(hops(&direct_p.turns, DIRECT_HOPS)),
        Figure::new(
            "one-call turn, remote handler on the API stream signal, median",
            "ms",
            &signal_p.medians,
        )
        .against(direct_name, &direct_p.medians)
        .target("within 1.03x of the direct client (codex-manager: 130 to 150 ms)")
        .hops(hops(&signal_p.turns, SIGNAL_HOPS)),
        Figure::new(
            "one-call turn, Python stdlib handler on the stream signal, median",
            "ms",
            &python_p.medians,
        )
        .against(direct_name, &direct_p.medians)
        .note("tests/python/bench_stream_handler.py: codex-manager's wire contract, timed by the handler")
        .hops(hops(&python_p.turns, PYTHON_HOPS)),
        Figure::new(
            "one-call turn, remote handler polling the API every 10 ms, median",
            "ms",
            &polling_p.medians,
        )
        .against(direct_name, &direct_p.medians)
        .target("within 1.10x of the direct client")
        .note("codex-manager's SDK polls every 250 ms; its polling path takes about 640 ms a turn")
        .hops(hops(&polling_p.turns, POLL_HOPS)),
        Figure::new(
            "one-call turn through the bridge (handler answers), median",
            "ms",
            &bridge_p.medians,
        )
        .against(direct_name, &direct_p.medians)
        .target("within 1.05x of the direct client")
        .note(format!(
            "real codex, scripted model, warm thread, {} timed turns per run",
            args.turns
        ))
        .hops(hops(&bridge_p.turns, BRIDGE_HOPS)),
    ])
}

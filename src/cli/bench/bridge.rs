//! The bridge core on the synthetic app-server, against a direct client on the same
//! transport that answers every call itself: the floor the bridge is compared with.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};

use super::{BenchError, Figure, Result, quantile, self_exe};
use crate::appserver::TransportSpec;
use crate::bridge::{self, BridgeConfig, BridgeEvent, BridgeHandle, CreateSession};
use crate::catalog::Catalog;
use crate::lab::synthetic;
use crate::lab::synthetic::{REPORT_METHOD, SyntheticReport};

pub use crate::lab::synthetic::STATIC_CATALOG;

#[derive(Debug, Clone, Args)]
pub struct BridgeArgs {
    /// Calls per throughput run.
    #[arg(long, default_value_t = 200_000)]
    pub calls: u64,
    /// Calls outstanding at once in the throughput runs.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The paced rate of the latency runs (calls per second).
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// Calls per latency run.
    #[arg(long, default_value_t = 10_000)]
    pub latency_calls: u64,
}

impl Default for BridgeArgs {
    fn default() -> Self {
        BridgeArgs {
            calls: 200_000,
            concurrency: 64,
            rate: 1_000.0,
            latency_calls: 10_000,
        }
    }
}

pub fn static_catalog() -> Result<Arc<Catalog>> {
    synthetic::static_catalog().map_err(BenchError::from("bench catalog"))
}

/// The synthetic app-server as a child over stdio.
pub fn synthetic_stdio() -> Result<TransportSpec> {
    Ok(TransportSpec::Stdio {
        program: self_exe()?,
        args: vec!["synthetic-app-server".to_string()],
        env: Vec::new(),
    })
}

/// Starts a bridge on `transport` with the static catalog; transcripts persisted in a
/// fresh temporary folder when `persist`.
pub async fn start_bridge(
    transport: TransportSpec,
    persist: Option<&std::path::Path>,
) -> Result<BridgeHandle> {
    let mut config = BridgeConfig::new(transport, static_catalog()?);
    config.data_dir = persist.map(std::path::Path::to_path_buf);
    bridge::start(config)
        .await
        .map_err(BenchError::from("starting the bridge"))
}

/// Runs one turn of `overrides` in a new session and returns the synthetic report.
pub async fn bridge_turn(bridge: &BridgeHandle, overrides: Value) -> Result<SyntheticReport> {
    let session = bridge
        .create_session(CreateSession::default())
        .await
        .map_err(BenchError::from("thread/start"))?;
    session_turn(bridge, &session.thread_id, overrides).await
}

/// Runs one turn of `overrides` in an existing session.
pub async fn session_turn(
    bridge: &BridgeHandle,
    thread_id: &str,
    overrides: Value,
) -> Result<SyntheticReport> {
    let mut events = bridge.subscribe();
    bridge
        .send_message(thread_id, &overrides.to_string())
        .await
        .map_err(BenchError::from("turn/start"))?;
    wait_report(&mut events, thread_id).await
}

/// The synthetic report of `thread_id`'s turn.
pub async fn wait_report(
    events: &mut crate::bridge::EventReceiver,
    thread_id: &str,
) -> Result<SyntheticReport> {
    let wait = async {
        loop {
            match events.recv().await {
                Some(BridgeEvent::AppServerNotification { method, params, .. })
                    if method == REPORT_METHOD
                        && params.get("threadId").and_then(Value::as_str) == Some(thread_id) =>
                {
                    return <SyntheticReport as serde::Deserialize>::deserialize(&*params)
                        .map_err(BenchError::from("synthetic report"));
                }
                Some(_) => {}
                None => return Err(BenchError("the bridge stopped".to_string())),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(600), wait)
        .await
        .map_err(BenchError::from("waiting for the synthetic report"))?
}

fn calls_per_second(report: &SyntheticReport) -> f64 {
    report.answered as f64 / (report.elapsed_us.max(1) as f64 / 1e6)
}

/// The floor: the synthetic app-server over stdio, answered by a minimal client that
/// parses each request and writes a static answer, with no bridge in between.
pub async fn direct_turn(overrides: Value) -> Result<SyntheticReport> {
    let mut child = tokio::process::Command::new(self_exe()?)
        .arg("synthetic-app-server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(BenchError::from("starting the synthetic app-server"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(BenchError("synthetic app-server without pipes".to_string()));
    };
    let mut writer = BufWriter::new(stdin);
    let mut lines = BufReader::new(stdout).lines();
    let send = async |writer: &mut BufWriter<_>, value: Value| -> Result<()> {
        let mut line = value.to_string();
        line.push('\n');
        writer
            .write_all(line.as_bytes())
            .await
            .map_err(BenchError::from("write"))?;
        writer.flush().await.map_err(BenchError::from("flush"))
    };
    send(
        &mut writer,
        json!({"id": 1, "method": "initialize", "params": {}}),
    )
    .await?;
    send(
        &mut writer,
        json!({"id": 2, "method": "thread/start", "params": {}}),
    )
    .await?;
    send(
        &mut writer,
        json!({"id": 3, "method": "turn/start", "params": {"threadId": "synthetic-thread-1", "input": [{"type": "text", "text": overrides.to_string()}]}}),
    )
    .await?;
    let answer = json!({"contentItems": [{"type": "inputText", "text": "ok"}], "success": true});
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(BenchError::from("direct client read"))?
    {
        let message: Value = serde_json::from_str(&line).map_err(BenchError::from("peer line"))?;
        match message.get("method").and_then(Value::as_str) {
            Some("item/tool/call") => {
                let id = message.get("id").cloned().unwrap_or(Value::Null);
                send(&mut writer, json!({"id": id, "result": answer})).await?;
            }
            Some(REPORT_METHOD) => {
                let params = message.get("params").cloned().unwrap_or(Value::Null);
                return serde_json::from_value(params)
                    .map_err(BenchError::from("synthetic report"));
            }
            _ => {}
        }
    }
    Err(BenchError(
        "the synthetic app-server closed before reporting".to_string(),
    ))
}

pub async fn run(args: &BridgeArgs, runs: usize) -> Result<Vec<Figure>> {
    let throughput = json!({"callsPerTurn": args.calls, "concurrency": args.concurrency});
    let paced = json!({"callsPerTurn": args.latency_calls, "rate": args.rate});
    let mut through_bridge = Vec::new();
    let mut through_memory = Vec::new();
    let mut direct = Vec::new();
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut direct_p50 = Vec::new();
    let mut direct_p99 = Vec::new();
    for _ in 0..runs {
        let data = tempdir()?;
        let bridge = start_bridge(synthetic_stdio()?, Some(data.path())).await?;
        let report = bridge_turn(&bridge, throughput.clone()).await?;
        through_bridge.push(calls_per_second(&report));
        let report = bridge_turn(&bridge, paced.clone()).await?;
        p50.push(quantile(&report.latencies_us, 0.5));
        p99.push(quantile(&report.latencies_us, 0.99));
        bridge.shutdown().await;

        let data = tempdir()?;
        let mut config = BridgeConfig::new(synthetic_stdio()?, static_catalog()?);
        config.data_dir = Some(data.path().to_path_buf());
        let raw = synthetic::spawn_memory(synthetic::SyntheticConfig::default());
        let memory_bridge = bridge::start_on(config, raw)
            .await
            .map_err(BenchError::from("starting the bridge"))?;
        let report = bridge_turn(&memory_bridge, throughput.clone()).await?;
        through_memory.push(calls_per_second(&report));
        memory_bridge.shutdown().await;

        let report = direct_turn(throughput.clone()).await?;
        direct.push(calls_per_second(&report));
        let report = direct_turn(paced.clone()).await?;
        direct_p50.push(quantile(&report.latencies_us, 0.5));
        direct_p99.push(quantile(&report.latencies_us, 0.99));
    }
    let direct_name = "direct client on the same stdio transport, no bridge";
    let added = |bridge: &[f64], direct: &[f64]| -> Vec<f64> {
        bridge.iter().zip(direct).map(|(b, d)| b - d).collect()
    };
    let added_p50 = added(&p50, &direct_p50);
    let added_p99 = added(&p99, &direct_p99);
    Ok(vec![
        Figure::new(
            "added latency at the paced rate, p50 (bridge minus direct)",
            "us",
            &added_p50,
        )
        .target("< 50 us"),
        Figure::new(
            "added latency at the paced rate, p99 (bridge minus direct)",
            "us",
            &added_p99,
        )
        .target("< 500 us"),
        Figure::new(
            "bridge throughput, stdio, static answer, transcripts on",
            "calls/s",
            &through_bridge,
        )
        .against(direct_name, &direct)
        .target(">= 20,000 calls/s sustained"),
        Figure::new(
            "bridge throughput, in-memory transport, transcripts on",
            "calls/s",
            &through_memory,
        )
        .against(direct_name, &direct)
        .note("no pipe or child process: the bridge's own ceiling"),
        Figure::new(
            &format!(
                "round trip at {} calls/s through the bridge, p50",
                args.rate
            ),
            "us",
            &p50,
        )
        .against(&format!("{direct_name}, p50"), &direct_p50)
        .target("bridge adds p50 < 50 us (difference to the baseline)"),
        Figure::new(
            &format!(
                "round trip at {} calls/s through the bridge, p99",
                args.rate
            ),
            "us",
            &p99,
        )
        .against(&format!("{direct_name}, p99"), &direct_p99)
        .target("bridge adds p99 < 500 us (difference to the baseline)"),
    ])
}

pub fn tempdir() -> Result<crate::cli::scripted::TempDir> {
    crate::cli::scripted::TempDir::new("switchboard-bench")
        .map_err(|(path, e)| BenchError(format!("cannot create {}: {e}", path.display())))
}

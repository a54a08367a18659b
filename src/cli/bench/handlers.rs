//! Handler latency: a worker (one process, JSON lines) and a command (a process per
//! call), each against the floor of what it does; and 1,000 slow handlers in flight.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::bridge::{bridge_turn, static_catalog, synthetic_stdio, tempdir};
use super::{BenchError, Figure, Result, quantile};
use crate::bridge::{self, BridgeConfig};
use crate::catalog::{Catalog, CommandSpec, HandlerSpec};
use crate::handlers::{HandlerInput, HandlerRunner};

const CALLS: usize = 2_000;
const COMMAND_CALLS: usize = 300;

/// A worker that echoes: the smallest useful worker.
const ECHO_WORKER: &str = "import json, sys\nfor line in sys.stdin:\n    call = json.loads(line)\n    sys.stdout.write(json.dumps({\"id\": call[\"id\"], \"text\": \"ok\"}) + \"\\n\")\n    sys.stdout.flush()\n";

fn input(n: usize) -> HandlerInput {
    HandlerInput {
        tool: "bench_tool".to_string(),
        arguments: json!({ "n": n }),
        call_id: format!("call_{n}"),
        thread_id: "bench".to_string(),
        turn_id: "bench".to_string(),
        request_id: n.to_string(),
    }
}

fn spec(argv: &[&str], dir: &std::path::Path) -> CommandSpec {
    CommandSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        program: PathBuf::from(argv[0]),
        timeout: Duration::from_secs(10),
        env: BTreeMap::new(),
        cwd: dir.to_path_buf(),
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Per-call latency of a handler, sequentially.
async fn handler_latencies(runner: &HandlerRunner, spec: &HandlerSpec, calls: usize) -> Vec<u32> {
    let mut latencies = Vec::with_capacity(calls);
    for n in 0..calls {
        let started = Instant::now();
        let outcome = runner.run(spec, &input(n)).await;
        if outcome.failure.is_none() {
            latencies.push(micros(started.elapsed()));
        }
    }
    latencies
}

/// The floor of a worker call: a line through `cat` and back.
async fn pipe_round_trips(calls: usize) -> Result<Vec<u32>> {
    let mut child = tokio::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(BenchError::from("starting cat"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(BenchError("cat without pipes".to_string()));
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut latencies = Vec::with_capacity(calls);
    let line = serde_json::to_string(&input(0)).unwrap_or_default() + "\n";
    for _ in 0..calls {
        let started = Instant::now();
        stdin
            .write_all(line.as_bytes())
            .await
            .map_err(BenchError::from("write"))?;
        stdin.flush().await.map_err(BenchError::from("flush"))?;
        lines.next_line().await.map_err(BenchError::from("read"))?;
        latencies.push(micros(started.elapsed()));
    }
    Ok(latencies)
}

/// The floor of a command call: starting and reaping `true`.
async fn spawn_floor(calls: usize) -> Result<Vec<u32>> {
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        tokio::process::Command::new("true")
            .status()
            .await
            .map_err(BenchError::from("running true"))?;
        latencies.push(micros(started.elapsed()));
    }
    Ok(latencies)
}

pub async fn run(runs: usize) -> Result<Vec<Figure>> {
    let dir = tempdir()?;
    std::fs::write(dir.path().join("echo_worker.py"), ECHO_WORKER)
        .map_err(BenchError::from("writing the worker"))?;
    let worker = HandlerSpec::Worker(spec(&["python3", "echo_worker.py"], dir.path()));
    let command = HandlerSpec::Command(spec(&["sh", "-c", "read -r line; echo ok"], dir.path()));
    let runner = HandlerRunner::new(64);
    let (mut worker_p50, mut pipe_p50, mut command_p50, mut spawn_p50) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        // The first call starts the worker; warm it before timing.
        runner.run(&worker, &input(0)).await;
        worker_p50.push(quantile(
            &handler_latencies(&runner, &worker, CALLS).await,
            0.5,
        ));
        pipe_p50.push(quantile(&pipe_round_trips(CALLS).await?, 0.5));
        command_p50.push(quantile(
            &handler_latencies(&runner, &command, COMMAND_CALLS).await,
            0.5,
        ));
        spawn_p50.push(quantile(&spawn_floor(COMMAND_CALLS).await?, 0.5));
    }

    // 1,000 slow calls in flight on one session while another session's static calls
    // go on: their latency, against the same calls with nothing else running.
    let slow_catalog = format!(
        "{}\n[[tools]]\nname = \"slow_tool\"\ndescription = \"sleeps\"\ninput_schema = {{ type = \"object\" }}\nhandler = {{ worker = [\"python3\", \"slow_worker.py\"], timeout_ms = 30000 }}\n",
        super::bridge::STATIC_CATALOG
    );
    std::fs::write(
        dir.path().join("slow_worker.py"),
        "import json, sys, threading, time\ndef answer(call):\n    time.sleep(2)\n    with lock:\n        sys.stdout.write(json.dumps({\"id\": call[\"id\"], \"text\": \"slow\"}) + \"\\n\")\n        sys.stdout.flush()\nlock = threading.Lock()\nfor line in sys.stdin:\n    threading.Thread(target=answer, args=(json.loads(line),)).start()\n",
    )
    .map_err(BenchError::from("writing the slow worker"))?;
    let catalog_path = dir.path().join("slow.toml");
    std::fs::write(&catalog_path, slow_catalog).map_err(BenchError::from("writing the catalog"))?;
    let catalog = Catalog::load(&catalog_path).map_err(BenchError::from("slow catalog"))?;
    let (mut loaded_p99, mut quiet_p99) = (vec![], vec![]);
    for _ in 0..runs {
        let quiet = bridge::start(BridgeConfig::new(synthetic_stdio()?, static_catalog()?))
            .await
            .map_err(BenchError::from("bridge"))?;
        let report = bridge_turn(&quiet, json!({"callsPerTurn": 2000, "concurrency": 1})).await?;
        quiet_p99.push(quantile(&report.latencies_us, 0.99));
        quiet.shutdown().await;

        let loaded = bridge::start(BridgeConfig::new(
            synthetic_stdio()?,
            std::sync::Arc::new(catalog.clone()),
        ))
        .await
        .map_err(BenchError::from("bridge"))?;
        let mut events = loaded.subscribe();
        let slow = {
            let loaded = loaded.clone();
            tokio::spawn(async move {
                bridge_turn(
                    &loaded,
                    json!({"callsPerTurn": 1000, "concurrency": 1000, "tool": "slow_tool"}),
                )
                .await
            })
        };
        // Time the static calls only once all 1,000 slow calls are in flight.
        let mut in_flight = 0;
        while in_flight < 1000 {
            match events.recv().await {
                Some(crate::bridge::BridgeEvent::ToolCallRequested { call })
                    if call.tool == "slow_tool" =>
                {
                    in_flight += 1;
                }
                Some(_) => {}
                None => return Err(BenchError("the bridge stopped".to_string())),
            }
        }
        let report = bridge_turn(&loaded, json!({"callsPerTurn": 2000, "concurrency": 1})).await?;
        loaded_p99.push(quantile(&report.latencies_us, 0.99));
        let slow_report = slow.await.map_err(BenchError::from("slow turn"))??;
        if slow_report.answered != 1000 {
            return Err(BenchError(format!(
                "only {} of 1000 slow calls answered",
                slow_report.answered
            )));
        }
        loaded.shutdown().await;
    }
    Ok(vec![
        Figure::new(
            "worker handler (python, JSON lines), p50 per call",
            "us",
            &worker_p50,
        )
        .against("a line through `cat` and back, p50", &pipe_p50)
        .target("p50 < 300 us"),
        Figure::new(
            "command handler (sh, a process per call), p50 per call",
            "us",
            &command_p50,
        )
        .against("spawning and reaping `true`, p50", &spawn_p50)
        .target("p50 < 3 ms"),
        Figure::new(
            "static calls' p99 while 1,000 slow calls are in flight",
            "us",
            &loaded_p99,
        )
        .against(
            "the same static calls with nothing else in flight, p99",
            &quiet_p99,
        )
        .target("1,000 handler calls in flight never stall the bridge")
        .note("the slow calls sit in a worker for 2 s each; all 1,000 are checked answered"),
    ])
}

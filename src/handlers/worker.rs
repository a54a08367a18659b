//! Worker handlers: one long-lived process answers many calls as JSON lines, so a call
//! costs a line each way instead of a process start.
//!
//! The contract: Switchboard writes one line per call to the worker's stdin, the handler
//! input plus an `id`:
//! `{"id":7,"tool":..,"arguments":..,"callId":..,"threadId":..,"turnId":..,"requestId":..}`.
//! The worker writes one line per answer to stdout, in any order:
//! `{"id":7,"contentItems":[..],"success":true}` or `{"id":7,"text":"..","success":true}`
//! (`success` defaults to true). stderr goes to the log. A call not answered within
//! `timeout_ms` fails; the worker keeps running. When the worker exits, its calls in flight
//! fail and the next call starts it again.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::Command;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::HandlerInput;
use super::output::failure_outcome;
use crate::catalog::CommandSpec;
use crate::protocol::{ToolCallResult, parse_tool_call_result};

type Answer = Result<Value, String>;

/// A running worker process.
struct Worker {
    lines: mpsc::Sender<String>,
    /// Calls written and not yet answered; shared with the stdout reader.
    waiting: Arc<std::sync::Mutex<Waiting>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct Waiting {
    calls: HashMap<u64, oneshot::Sender<Answer>>,
    /// Set when the process is gone, with why.
    exited: Option<String>,
}

/// What identifies a worker: the argv and the folder it runs in.
type WorkerKey = (Vec<String>, std::path::PathBuf);

/// Live workers, by the argv and folder that started them.
#[derive(Default)]
pub(super) struct Workers {
    running: Mutex<HashMap<WorkerKey, Arc<Worker>>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").finish_non_exhaustive()
    }
}

impl Workers {
    pub(super) async fn run(
        &self,
        spec: &CommandSpec,
        input: &HandlerInput,
    ) -> (ToolCallResult, Option<String>) {
        let tool = input.tool.as_str();
        let worker = match self.worker_for(spec).await {
            Ok(worker) => worker,
            Err(error) => {
                return failure_outcome(format!("could not start worker for `{tool}`: {error}"));
            }
        };
        let id = worker.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = match serde_json::to_value(input) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        line.insert("id".to_string(), Value::from(id));
        let (tx, rx) = oneshot::channel();
        {
            let Ok(mut waiting) = worker.waiting.lock() else {
                return failure_outcome(format!("worker for `{tool}` is unusable"));
            };
            if let Some(why) = &waiting.exited {
                return failure_outcome(format!("worker for `{tool}` exited: {why}"));
            }
            waiting.calls.insert(id, tx);
        }
        if worker
            .lines
            .send(Value::Object(line).to_string())
            .await
            .is_err()
        {
            self.forget(&worker, id);
            return failure_outcome(format!("worker for `{tool}` is not accepting calls"));
        }
        match tokio::time::timeout(spec.timeout, rx).await {
            Ok(Ok(Ok(answer))) => map_answer(tool, answer),
            Ok(Ok(Err(why))) => failure_outcome(format!("worker for `{tool}` failed: {why}")),
            Ok(Err(_)) => failure_outcome(format!("worker for `{tool}` stopped answering")),
            Err(_) => {
                self.forget(&worker, id);
                failure_outcome(format!(
                    "worker for `{tool}` did not answer within {} ms",
                    spec.timeout.as_millis()
                ))
            }
        }
    }

    fn forget(&self, worker: &Worker, id: u64) {
        if let Ok(mut waiting) = worker.waiting.lock() {
            waiting.calls.remove(&id);
        }
    }

    /// The worker for `spec`, started if it is not running.
    async fn worker_for(&self, spec: &CommandSpec) -> Result<Arc<Worker>, String> {
        let key = (spec.argv.clone(), spec.cwd.clone());
        let mut running = self.running.lock().await;
        if let Some(worker) = running.get(&key) {
            let alive = worker
                .waiting
                .lock()
                .map(|w| w.exited.is_none())
                .unwrap_or(false);
            if alive {
                return Ok(worker.clone());
            }
        }
        let worker = Arc::new(spawn(spec)?);
        running.insert(key, worker.clone());
        Ok(worker)
    }
}

fn spawn(spec: &CommandSpec) -> Result<Worker, String> {
    let mut command = Command::new(&spec.program);
    command
        .args(spec.argv.get(1..).unwrap_or_default())
        .current_dir(&spec.cwd)
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", spec.program.display()))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("started without pipes".to_string());
    };
    let name = spec.argv.join(" ");
    let waiting = Arc::new(std::sync::Mutex::new(Waiting::default()));
    let (lines_tx, mut lines_rx) = mpsc::channel::<String>(1024);

    tokio::spawn(async move {
        let mut writer = BufWriter::new(stdin);
        while let Some(first) = lines_rx.recv().await {
            let mut ok = write_line(&mut writer, &first).await;
            // Write whatever else is queued before one flush.
            while ok && let Ok(next) = lines_rx.try_recv() {
                ok = write_line(&mut writer, &next).await;
            }
            if !ok || writer.flush().await.is_err() {
                break;
            }
        }
    });

    let stderr_name = name.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target: "handlers::worker", "{stderr_name}: {line}");
        }
    });

    let reader_waiting = waiting.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let end = loop {
            match lines.next_line().await {
                Ok(Some(line)) => deliver(&reader_waiting, &name, &line),
                Ok(None) => break "closed its stdout".to_string(),
                Err(e) => break format!("unreadable output: {e}"),
            }
        };
        let status = match child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        let why = format!("{end} ({status})");
        tracing::warn!(target: "handlers::worker", "worker {name} ended: {why}");
        if let Ok(mut waiting) = reader_waiting.lock() {
            waiting.exited = Some(why.clone());
            for (_, call) in waiting.calls.drain() {
                let _ = call.send(Err(format!("the worker exited: {why}")));
            }
        }
    });

    Ok(Worker {
        lines: lines_tx,
        waiting,
        next_id: AtomicU64::new(0),
    })
}

async fn write_line<W: tokio::io::AsyncWrite + Unpin>(writer: &mut W, line: &str) -> bool {
    writer.write_all(line.as_bytes()).await.is_ok() && writer.write_all(b"\n").await.is_ok()
}

fn deliver(waiting: &std::sync::Mutex<Waiting>, name: &str, line: &str) {
    let parsed: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(e) => {
            tracing::warn!(target: "handlers::worker", "worker {name} printed a line that is not JSON ({e}): {line}");
            return;
        }
    };
    let Some(id) = parsed.get("id").and_then(Value::as_u64) else {
        tracing::warn!(target: "handlers::worker", "worker {name} printed an answer without a numeric id: {line}");
        return;
    };
    let call = waiting.lock().ok().and_then(|mut w| w.calls.remove(&id));
    match call {
        Some(call) => {
            let _ = call.send(Ok(parsed));
        }
        None => {
            tracing::warn!(target: "handlers::worker", "worker {name} answered unknown or late call {id}")
        }
    }
}

/// An answer line (without its id) to the result for the model.
fn map_answer(tool: &str, answer: Value) -> (ToolCallResult, Option<String>) {
    let Value::Object(mut map) = answer else {
        return failure_outcome(format!("worker for `{tool}` answered with a non-object"));
    };
    map.remove("id");
    if map.contains_key("contentItems") {
        return match parse_tool_call_result(Value::Object(map)) {
            Ok(result) => (result, None),
            Err(why) => failure_outcome(format!("worker for `{tool}` gave a bad answer: {why}")),
        };
    }
    let success = map.get("success").and_then(Value::as_bool).unwrap_or(true);
    match map.get("text").and_then(Value::as_str) {
        Some(text) => (ToolCallResult::text(success, text), None),
        None => failure_outcome(format!(
            "worker for `{tool}` answered with neither contentItems nor text"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_map_like_command_output() {
        assert_eq!(
            map_answer("t", json!({"id": 1, "text": "ok"})).0,
            ToolCallResult::text(true, "ok")
        );
        assert_eq!(
            map_answer("t", json!({"id": 1, "text": "no", "success": false})).0,
            ToolCallResult::text(false, "no")
        );
        let items = map_answer(
            "t",
            json!({"id": 1, "contentItems": [{"type": "inputText", "text": "x"}]}),
        );
        assert_eq!(items.0, ToolCallResult::text(true, "x"));
        let (bad, failure) = map_answer("t", json!({"id": 1, "contentItems": 3}));
        assert!(!bad.success && failure.is_some());
        let (bad, _) = map_answer("t", json!({"id": 1}));
        assert!(bad.joined_text().contains("neither contentItems nor text"));
    }
}

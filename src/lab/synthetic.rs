//! The synthetic app-server: a stand-in for `codex app-server`, used ONLY by benchmarks,
//! fault injection and the soak test. Real codex cannot raise tool calls at a chosen
//! rate or by the million, so this peer speaks the same wire format (JSON lines on
//! stdio, or the in-memory transport) and floods `item/tool/call` requests. End-to-end
//! tests use the real codex, never this.
//!
//! Per turn it raises `calls_per_turn` calls, either at a fixed rate or as fast as the
//! answers come back (`concurrency` calls outstanding), times each call from request
//! written to answer read, completes the call's item like codex does, and ends the turn.
//! When a turn ends it sends a `synthetic/report` notification with the timings.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::appserver::RawConnection;
use crate::appserver::transport::{Incoming, Outgoing};
use crate::catalog::{Catalog, CatalogError};

/// Seeded fault injection on top of this peer, for the soak run.
pub mod faults;

/// A catalog with one tool answered by an in-process static handler.
pub const STATIC_CATALOG: &str = r#"
[[tools]]
name = "bench_tool"
description = "answered by a static handler"
input_schema = { type = "object" }
handler = { static_text = "ok" }
"#;

/// [`STATIC_CATALOG`], parsed.
pub fn static_catalog() -> Result<std::sync::Arc<Catalog>, CatalogError> {
    Catalog::parse(STATIC_CATALOG, std::path::Path::new("bench.toml")).map(std::sync::Arc::new)
}

/// The notification carrying a turn's timings.
pub const REPORT_METHOD: &str = "synthetic/report";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyntheticConfig {
    /// Calls raised per turn.
    pub calls_per_turn: u64,
    /// Calls per second; `None` raises the next call as soon as one is answered.
    pub rate: Option<f64>,
    /// Calls outstanding at once when there is no rate.
    pub concurrency: usize,
    /// The tool every call names.
    pub tool: String,
    pub arguments: Value,
    /// Add `sentAtUs` (see [`monotonic_us`]) to each call's arguments, so a consumer in
    /// the same process can time the call's way through the bridge.
    #[serde(default)]
    pub stamp_arguments: bool,
}

/// Microseconds on the process's one monotonic clock, shared by the in-memory
/// synthetic peer and whatever it is measured against.
pub use crate::appserver::timeline::now_us as monotonic_us;

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            calls_per_turn: 1_000,
            rate: None,
            concurrency: 64,
            tool: "bench_tool".to_string(),
            arguments: json!({ "n": 1 }),
            stamp_arguments: false,
        }
    }
}

/// Timings of one turn, as `synthetic/report` carries them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyntheticReport {
    pub thread_id: String,
    pub turn_id: String,
    pub calls: u64,
    pub answered: u64,
    pub failed_answers: u64,
    pub elapsed_us: u64,
    /// Request written to answer read, per call, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Answers this peer read so far (all turns) to a request it was not waiting for:
    /// answered twice, or never sent. Stays 0 on a correct bridge.
    #[serde(default)]
    pub unexpected_answers: u64,
}

/// How one in-memory peer names its threads and where else its reports go: for a
/// bridge over many synthetic app-servers at once (`bench fleet`).
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Threads are `<prefix>-1`, `<prefix>-2`, ...: unique across the peers of one bridge.
    pub thread_prefix: String,
    /// Each turn's report is also sent here, so a benchmark needs no bridge subscriber
    /// (which would compete for the CPU and could lag behind and miss the report).
    pub reports: Option<mpsc::UnboundedSender<SyntheticReport>>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            thread_prefix: "synthetic-thread".to_string(),
            reports: None,
        }
    }
}

/// One line in, one line out: stdio or the in-memory transport.
trait Wire {
    async fn recv(&mut self) -> Option<String>;
    /// Queues a line; it goes out at the next `flush` at the latest.
    async fn send(&mut self, line: String) -> bool;
    /// Called before waiting for input, so lines written in a burst share one write.
    async fn flush(&mut self) -> bool;
    /// Whether input is already buffered, so waiting would not block.
    fn has_buffered_input(&self) -> bool;
}

struct StdioWire<R, W> {
    reader: BufReader<R>,
    writer: W,
    buf: String,
}

impl<R, W> Wire for StdioWire<R, W>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    async fn recv(&mut self) -> Option<String> {
        loop {
            self.buf.clear();
            match self.reader.read_line(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {
                    let line = self.buf.trim_end();
                    if !line.is_empty() {
                        return Some(line.to_string());
                    }
                }
            }
        }
    }

    async fn send(&mut self, mut line: String) -> bool {
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await.is_ok()
    }

    async fn flush(&mut self) -> bool {
        self.writer.flush().await.is_ok()
    }

    fn has_buffered_input(&self) -> bool {
        !self.reader.buffer().is_empty()
    }
}

struct MemoryWire {
    from_client: mpsc::Receiver<Outgoing>,
    to_client: mpsc::Sender<Incoming>,
}

impl Wire for MemoryWire {
    async fn recv(&mut self) -> Option<String> {
        let out = self.from_client.recv().await?;
        if let Some(written) = out.written {
            let _ = written.send(Ok(()));
        }
        Some(out.line)
    }

    async fn send(&mut self, line: String) -> bool {
        self.to_client.send(Incoming::Line(line)).await.is_ok()
    }

    async fn flush(&mut self) -> bool {
        true
    }

    fn has_buffered_input(&self) -> bool {
        !self.from_client.is_empty()
    }
}

/// Runs the synthetic app-server on this process's stdin and stdout until stdin closes.
pub async fn serve_stdio(config: SyntheticConfig) {
    let wire = StdioWire {
        reader: BufReader::with_capacity(64 * 1024, tokio::io::stdin()),
        writer: tokio::io::BufWriter::with_capacity(64 * 1024, tokio::io::stdout()),
        buf: String::new(),
    };
    Peer::new(config, PeerOptions::default()).run(wire).await;
}

/// A synthetic app-server on the in-memory transport, running as a task: the returned
/// connection is what a bridge is started on.
pub fn spawn_memory(config: SyntheticConfig) -> RawConnection {
    spawn_memory_with(config, PeerOptions::default())
}

/// [`spawn_memory`] with its threads' names and a copy of its reports as `options` say.
pub fn spawn_memory_with(config: SyntheticConfig, options: PeerOptions) -> RawConnection {
    let (raw, peer) = crate::appserver::transport::memory();
    let wire = MemoryWire {
        from_client: peer.from_client,
        to_client: peer.to_client,
    };
    tokio::spawn(Peer::new(config, options).run(wire));
    raw
}

/// A turn's message may be a JSON object overriding the peer's settings for that turn,
/// e.g. `{"callsPerTurn": 100, "tool": "slow_tool", "concurrency": 1}`.
fn turn_config(base: &SyntheticConfig, turn_start: &Value) -> SyntheticConfig {
    let text = turn_start
        .pointer("/params/input/0/text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Ok(Value::Object(overrides)) = serde_json::from_str::<Value>(text) else {
        return base.clone();
    };
    let Ok(Value::Object(mut merged)) = serde_json::to_value(base) else {
        return base.clone();
    };
    merged.extend(overrides);
    serde_json::from_value(Value::Object(merged)).unwrap_or_else(|_| base.clone())
}

struct Turn {
    /// This turn's settings: the peer's, with overrides from the turn's message.
    config: SyntheticConfig,
    thread_id: String,
    turn_id: String,
    raised: u64,
    answered: u64,
    failed_answers: u64,
    started: Instant,
    latencies_us: Vec<u32>,
}

struct Peer {
    config: SyntheticConfig,
    next_request: i64,
    next_thread: u64,
    next_turn: u64,
    /// Calls waiting for an answer: request id → (turn key, call id, sent at).
    outstanding: HashMap<i64, (String, String, Instant)>,
    turns: HashMap<String, Turn>,
    options: PeerOptions,
    /// Answers to requests not waiting for one (see [`SyntheticReport::unexpected_answers`]).
    unexpected_answers: u64,
}

impl Peer {
    fn new(config: SyntheticConfig, options: PeerOptions) -> Peer {
        Peer {
            config,
            options,
            unexpected_answers: 0,
            next_request: 0,
            next_thread: 0,
            next_turn: 0,
            outstanding: HashMap::new(),
            turns: HashMap::new(),
        }
    }

    async fn run(mut self, mut wire: impl Wire) {
        // The pacing timer of the turn being raised at a fixed rate, if any.
        let mut ticker: Option<(f64, tokio::time::Interval)> = None;
        loop {
            let paced = self
                .turns
                .iter()
                .find(|(_, t)| t.config.rate.is_some() && t.raised < t.config.calls_per_turn)
                .and_then(|(key, t)| t.config.rate.map(|rate| (key.clone(), rate)));
            match (&paced, &ticker) {
                (Some((_, rate)), Some((current, _))) if rate == current => {}
                (Some((_, rate)), _) => {
                    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
                    let mut interval = tokio::time::interval(period);
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    ticker = Some((*rate, interval));
                }
                (None, _) => ticker = None,
            }
            if !wire.has_buffered_input() && !wire.flush().await {
                return;
            }
            let line = tokio::select! {
                line = wire.recv() => line,
                _ = async {
                    match ticker.as_mut() {
                        Some((_, t)) => { t.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                }, if paced.is_some() => {
                    if let Some((key, _)) = &paced
                        && !self.raise(key, &mut wire).await
                    {
                        return;
                    }
                    continue;
                }
            };
            let Some(line) = line else { return };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if !self.handle(message, &mut wire).await {
                return;
            }
        }
    }

    async fn reply(&self, wire: &mut impl Wire, id: &Value, result: Value) -> bool {
        wire.send(json!({ "id": id, "result": result }).to_string())
            .await
    }

    async fn notify(&self, wire: &mut impl Wire, method: &str, params: Value) -> bool {
        wire.send(json!({ "method": method, "params": params }).to_string())
            .await
    }

    async fn handle(&mut self, message: Value, wire: &mut impl Wire) -> bool {
        let id = message.get("id").cloned();
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (id, method.as_deref()) {
            (Some(id), Some("initialize")) => {
                self.reply(wire, &id, json!({ "userAgent": "synthetic/0.169.0 (synthetic app-server for benchmarks)" })).await
            }
            (None, Some(_)) => true,
            (Some(id), Some("thread/start")) => {
                self.next_thread += 1;
                let thread = format!("{}-{}", self.options.thread_prefix, self.next_thread);
                self.reply(wire, &id, json!({ "thread": { "id": thread, "preview": "", "modelProvider": "synthetic", "model": "synthetic" } })).await
            }
            (Some(id), Some("turn/start")) => {
                let thread_id = message
                    .pointer("/params/threadId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                self.next_turn += 1;
                let turn_id = format!("synthetic-turn-{}", self.next_turn);
                let config = turn_config(&self.config, &message);
                let turn = json!({ "id": turn_id, "status": "inProgress" });
                if !self.reply(wire, &id, json!({ "turn": turn })).await
                    || !self.notify(wire, "turn/started", json!({ "threadId": thread_id, "turn": turn })).await
                {
                    return false;
                }
                let concurrency = config.concurrency;
                let closed_loop = config.rate.is_none();
                self.turns.insert(
                    turn_id.clone(),
                    Turn {
                        config,
                        thread_id,
                        turn_id: turn_id.clone(),
                        raised: 0,
                        answered: 0,
                        failed_answers: 0,
                        started: Instant::now(),
                        latencies_us: Vec::new(),
                    },
                );
                if closed_loop {
                    for _ in 0..concurrency.max(1) {
                        if !self.raise(&turn_id, wire).await {
                            return false;
                        }
                    }
                }
                self.maybe_finish(&turn_id, wire).await
            }
            (Some(id), Some("turn/interrupt")) => {
                let turn_id = message.pointer("/params/turnId").and_then(Value::as_str).unwrap_or_default().to_string();
                let ids: Vec<i64> = self.outstanding.iter().filter(|(_, (t, _, _))| *t == turn_id).map(|(k, _)| *k).collect();
                for request in ids {
                    if let Some((_, call_id, _)) = self.outstanding.remove(&request)
                        && !self.complete_item(wire, &turn_id, &call_id, false).await
                    {
                        return false;
                    }
                }
                if !self.reply(wire, &id, json!({})).await {
                    return false;
                }
                if let Some(turn) = self.turns.get_mut(&turn_id) {
                    turn.raised = turn.config.calls_per_turn;
                }
                self.end_turn(&turn_id, "interrupted", wire).await
            }
            (Some(id), Some(_)) => {
                self.reply(wire, &id, json!({})).await
            }
            (Some(id), None) => {
                // An answer to one of our tool calls.
                let Some((turn_key, call_id, sent)) =
                    id.as_i64().and_then(|request| self.outstanding.remove(&request))
                else {
                    self.unexpected_answers += 1;
                    return true;
                };
                let success = message.pointer("/result/success").and_then(Value::as_bool).unwrap_or(false);
                if let Some(turn) = self.turns.get_mut(&turn_key) {
                    turn.answered += 1;
                    if !success {
                        turn.failed_answers += 1;
                    }
                    turn.latencies_us.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                if !self.complete_item(wire, &turn_key, &call_id, success).await {
                    return false;
                }
                let closed_loop = self.turns.get(&turn_key).is_some_and(|t| t.config.rate.is_none());
                if closed_loop && !self.raise(&turn_key, wire).await {
                    return false;
                }
                self.maybe_finish(&turn_key, wire).await
            }
            (None, None) => true,
        }
    }

    async fn raise(&mut self, turn_key: &str, wire: &mut impl Wire) -> bool {
        let Some(turn) = self.turns.get_mut(turn_key) else {
            return true;
        };
        if turn.raised >= turn.config.calls_per_turn {
            return true;
        }
        turn.raised += 1;
        let request = self.next_request;
        self.next_request += 1;
        let call_id = format!("call_{request}");
        let mut arguments = turn.config.arguments.clone();
        if turn.config.stamp_arguments
            && let Value::Object(map) = &mut arguments
        {
            map.insert("sentAtUs".to_string(), Value::from(monotonic_us()));
        }
        let line = json!({
            "id": request,
            "method": "item/tool/call",
            "params": {
                "threadId": turn.thread_id, "turnId": turn.turn_id, "callId": call_id,
                "namespace": null, "tool": turn.config.tool, "arguments": arguments,
            }
        })
        .to_string();
        self.outstanding
            .insert(request, (turn_key.to_string(), call_id, Instant::now()));
        wire.send(line).await
    }

    async fn complete_item(
        &self,
        wire: &mut impl Wire,
        turn_key: &str,
        call_id: &str,
        success: bool,
    ) -> bool {
        let Some(turn) = self.turns.get(turn_key) else {
            return true;
        };
        let params = json!({
            "threadId": turn.thread_id, "turnId": turn.turn_id,
            "item": { "type": "dynamicToolCall", "id": call_id, "tool": turn.config.tool,
                      "status": if success { "completed" } else { "failed" }, "success": success }
        });
        self.notify(wire, "item/completed", params).await
    }

    async fn maybe_finish(&mut self, turn_key: &str, wire: &mut impl Wire) -> bool {
        let done = self
            .turns
            .get(turn_key)
            .is_some_and(|t| t.raised >= t.config.calls_per_turn && t.answered >= t.raised);
        if done {
            return self.end_turn(turn_key, "completed", wire).await;
        }
        true
    }

    async fn end_turn(&mut self, turn_key: &str, status: &str, wire: &mut impl Wire) -> bool {
        let Some(turn) = self.turns.remove(turn_key) else {
            return true;
        };
        let report = SyntheticReport {
            thread_id: turn.thread_id.clone(),
            turn_id: turn.turn_id.clone(),
            calls: turn.raised,
            answered: turn.answered,
            failed_answers: turn.failed_answers,
            elapsed_us: u64::try_from(turn.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            latencies_us: turn.latencies_us,
            unexpected_answers: self.unexpected_answers,
        };
        if let Some(reports) = &self.options.reports {
            let _ = reports.send(report.clone());
        }
        let report = serde_json::to_value(&report).unwrap_or(Value::Null);
        self.notify(wire, REPORT_METHOD, report).await
            && self
                .notify(
                    wire,
                    "turn/completed",
                    json!({ "threadId": turn.thread_id, "turn": { "id": turn.turn_id, "status": status } }),
                )
                .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_message_overrides_the_settings() {
        let base = SyntheticConfig::default();
        let turn_start = json!({"params": {"input": [{"type": "text", "text": "{\"callsPerTurn\": 5, \"tool\": \"x\"}"}]}});
        let config = turn_config(&base, &turn_start);
        assert_eq!(
            (
                config.calls_per_turn,
                config.tool.as_str(),
                config.concurrency
            ),
            (5, "x", 64)
        );
        let plain = json!({"params": {"input": [{"type": "text", "text": "hello"}]}});
        assert_eq!(turn_config(&base, &plain), base);
    }
}

//! Fault injection for the synthetic app-server, used ONLY by the soak run and its CI
//! test: real codex cannot be made to drop connections, restart, send a request twice
//! or end a call behind our back on demand, a million times over.
//!
//! The faulty peer behaves like codex 0.169.0 where the notes describe it
//! (docs: app-server-notes.md): request ids count from 0 per process; a dropped
//! connection keeps the pending calls and `thread/resume` sends them again with the same
//! id; a restart loses them and reports the running turn interrupted; `thread/resume`
//! of a thread without a turn fails with "no rollout found"; answers to ended calls are
//! dropped silently. On top of that, seeded random faults: duplicate requests, calls
//! ended without waiting for the answer (another client answered), interrupted turns,
//! junk lines, dropped connections and restarts; and, once if planned, a kill: a restart
//! after which the app-server refuses connections for a while (the bridge backs off and
//! reconnects).
//!
//! It counts, per request, how many answers it read, so a soak can prove that no answer
//! was ever written twice. Each peer is one app-server with its own request ids (from 0):
//! a soak over several runs one peer per connection, and each counts its own answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{MemoryWire, Wire};
use crate::appserver::AppServerError;
use crate::appserver::transport::{Connector, Incoming, memory};
use crate::lab::rng::Rng;

/// A tool the faulty peer calls, how often, and with what arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolMix {
    pub tool: String,
    pub weight: u32,
    /// Arguments chosen at random for each call of the tool.
    pub arguments: Vec<Value>,
}

/// What the faulty peer does, and how often. Probabilities are per call raised, except
/// `interrupt_turn` (per turn).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultPlan {
    /// Names its threads and turns (`NAME-thread-1`), which must be unique across the
    /// app-servers of one bridge, as codex's UUIDs are.
    pub name: String,
    pub seed: u64,
    /// Calls to raise in all; turns started after that raise none.
    pub total_calls: u64,
    pub calls_per_turn: u64,
    /// Calls outstanding at once per turn.
    pub concurrency: usize,
    pub tools: Vec<ToolMix>,
    /// Send the request again at once, same id: the bridge must treat it as one call.
    pub duplicate_request: f64,
    /// Complete the call's item without waiting for our answer (another client
    /// answered): the bridge must expire it; an answer still on its way arrives late.
    pub early_completion: f64,
    /// Interrupt the turn partway: its waiting calls end failed.
    pub interrupt_turn: f64,
    /// A line that is not JSON-RPC: counted by the bridge, the connection stays up.
    pub junk_line: f64,
    /// Drop the connection, keeping the calls for replay on `thread/resume`.
    pub drop_connection: f64,
    /// Drop the connection as a process exit: every waiting call is lost, request ids
    /// start again at 0, running turns read as interrupted.
    pub restart: f64,
    /// Kill the app-server once, after it raised this many calls: a restart (as above)
    /// after which it stays down for `down_connects` connection attempts, each refused.
    pub kill_at: Option<u64>,
    pub down_connects: u32,
}

/// What the faulty peer did and saw. `double_answers` and `unknown_answers` must stay 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultCounts {
    pub calls_raised: u64,
    pub answers: u64,
    /// Answers to a request that was already answered: must be 0.
    pub double_answers: u64,
    /// Answers to a request id never sent: must be 0.
    pub unknown_answers: u64,
    /// Answers to calls that had ended without one (dropped silently, like codex).
    pub late_answers: u64,
    pub duplicate_requests: u64,
    pub early_completions: u64,
    pub interrupted_turns: u64,
    pub interrupted_calls: u64,
    pub junk_lines: u64,
    pub connection_drops: u64,
    pub restarts: u64,
    pub calls_lost_in_restarts: u64,
    /// Calls sent again after `thread/resume`.
    pub replays: u64,
    pub resumes: u64,
    /// `thread/resume` refused: the thread had no turn yet.
    pub resumes_refused: u64,
    pub turns_started: u64,
    pub turns_ended: u64,
    /// The planned kill (`kill_at`) happened, and the connection attempts refused while
    /// the app-server was down.
    pub kills: u64,
    pub connects_refused: u64,
}

impl FaultCounts {
    /// Adds another peer's counts to these (the totals of a fleet).
    pub fn add(&mut self, other: &FaultCounts) {
        let FaultCounts {
            calls_raised,
            answers,
            double_answers,
            unknown_answers,
            late_answers,
            duplicate_requests,
            early_completions,
            interrupted_turns,
            interrupted_calls,
            junk_lines,
            connection_drops,
            restarts,
            calls_lost_in_restarts,
            replays,
            resumes,
            resumes_refused,
            turns_started,
            turns_ended,
            kills,
            connects_refused,
        } = other;
        self.calls_raised += calls_raised;
        self.answers += answers;
        self.double_answers += double_answers;
        self.unknown_answers += unknown_answers;
        self.late_answers += late_answers;
        self.duplicate_requests += duplicate_requests;
        self.early_completions += early_completions;
        self.interrupted_turns += interrupted_turns;
        self.interrupted_calls += interrupted_calls;
        self.junk_lines += junk_lines;
        self.connection_drops += connection_drops;
        self.restarts += restarts;
        self.calls_lost_in_restarts += calls_lost_in_restarts;
        self.replays += replays;
        self.resumes += resumes;
        self.resumes_refused += resumes_refused;
        self.turns_started += turns_started;
        self.turns_ended += turns_ended;
        self.kills += kills;
        self.connects_refused += connects_refused;
    }
}

/// A running faulty peer: hand its connector to the bridge.
pub struct FaultySynthetic {
    connector: Connector,
    counts: Arc<Mutex<FaultCounts>>,
    total_calls: u64,
}

impl FaultySynthetic {
    /// Opens a new connection to the peer each time it is called (the bridge calls it
    /// to start and to reconnect).
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    pub fn counts(&self) -> FaultCounts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Every call of the plan has been raised.
    pub fn budget_spent(&self) -> bool {
        self.counts().calls_raised >= self.total_calls
    }
}

/// Starts the faulty peer as a task; it lives until its connector is dropped.
pub fn spawn_faulty(plan: FaultPlan) -> FaultySynthetic {
    let (wires_tx, wires_rx) = mpsc::unbounded_channel::<MemoryWire>();
    let counts = Arc::new(Mutex::new(FaultCounts::default()));
    // Connection attempts still to refuse: set when the peer is killed.
    let down = Arc::new(AtomicU32::new(0));
    let (refusing, refused) = (down.clone(), counts.clone());
    let connector: Connector = Arc::new(move || {
        let is_down = refusing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if is_down {
            if let Ok(mut counts) = refused.lock() {
                counts.connects_refused += 1;
            }
            return Box::pin(async {
                Err(AppServerError::Connect {
                    url: "synthetic".to_string(),
                    message: "connection refused: the synthetic app-server is down (injected kill)"
                        .to_string(),
                })
            });
        }
        let (raw, peer) = memory();
        let wire = MemoryWire {
            from_client: peer.from_client,
            to_client: peer.to_client,
        };
        let sent = wires_tx.send(wire);
        Box::pin(async move {
            sent.map_err(|_| AppServerError::Connect {
                url: "synthetic".to_string(),
                message: "the synthetic app-server has stopped".to_string(),
            })?;
            Ok(raw)
        })
    });
    let total_calls = plan.total_calls;
    let peer = FaultyPeer::new(plan, counts.clone(), down);
    tokio::spawn(peer.run(wires_rx));
    FaultySynthetic {
        connector,
        counts,
        total_calls,
    }
}

/// One bit per call ever raised, by its global index.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, index: u64) -> bool {
        let (word, bit) = ((index / 64) as usize, index % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        let was = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        was
    }

    fn get(&self, index: u64) -> bool {
        self.0
            .get((index / 64) as usize)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }
}

struct Outstanding {
    turn_id: String,
    thread_id: String,
    call_id: String,
    tool: String,
    /// Index over every call the peer ever raised, across restarts.
    global: u64,
    /// The request line, sent again on replay.
    line: String,
}

struct TurnState {
    thread_id: String,
    raised: u64,
    limit: u64,
    in_flight: u64,
    interrupt_at: Option<u64>,
}

#[derive(Default)]
struct ThreadState {
    /// A thread gets a rollout with its first turn; only then can it be resumed.
    has_rollout: bool,
    last_turn: Option<(String, &'static str)>,
}

/// What to do with the connection after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Drop,
    Restart,
    /// A restart after which the app-server stays down for a while.
    Kill,
    /// The client is gone (or cannot be written to).
    Gone,
}

struct FaultyPeer {
    plan: FaultPlan,
    rng: Rng,
    counts: Arc<Mutex<FaultCounts>>,
    /// Request ids count from 0 per "process"; `epoch_base` turns them into indexes.
    next_request: i64,
    epoch_base: u64,
    next_thread: u64,
    next_turn: u64,
    outstanding: HashMap<i64, Outstanding>,
    answered: Bits,
    /// Calls that ended without an answer (completed early, interrupted, lost).
    ended: Bits,
    threads: HashMap<String, ThreadState>,
    turns: HashMap<String, TurnState>,
    raised: u64,
    /// A fault decided while raising, applied once the current message is handled.
    pending_flow: Flow,
    /// Connection attempts to refuse (shared with the connector).
    down: Arc<AtomicU32>,
}

impl FaultyPeer {
    fn new(plan: FaultPlan, counts: Arc<Mutex<FaultCounts>>, down: Arc<AtomicU32>) -> FaultyPeer {
        let words = usize::try_from(plan.total_calls / 64 + 1).unwrap_or(0);
        FaultyPeer {
            rng: Rng::new(plan.seed),
            plan,
            counts,
            next_request: 0,
            epoch_base: 0,
            next_thread: 0,
            next_turn: 0,
            outstanding: HashMap::new(),
            // Sized up front so the peer's memory does not grow with the run.
            answered: Bits(vec![0; words]),
            ended: Bits(vec![0; words]),
            threads: HashMap::new(),
            turns: HashMap::new(),
            raised: 0,
            pending_flow: Flow::Continue,
            down,
        }
    }

    fn count(&self, update: impl FnOnce(&mut FaultCounts)) {
        if let Ok(mut counts) = self.counts.lock() {
            update(&mut counts);
        }
    }

    async fn run(mut self, mut wires: mpsc::UnboundedReceiver<MemoryWire>) {
        while let Some(mut wire) = wires.recv().await {
            self.pending_flow = Flow::Continue;
            let flow = self.serve(&mut wire).await;
            match flow {
                Flow::Drop | Flow::Restart | Flow::Kill => {
                    if flow != Flow::Drop {
                        self.restart();
                    }
                    if flow == Flow::Kill {
                        self.count(|c| c.kills += 1);
                        self.down.store(self.plan.down_connects, Ordering::SeqCst);
                    }
                    let reason = match flow {
                        Flow::Kill => "synthetic app-server killed (injected, down for a while)",
                        Flow::Restart => "synthetic app-server exited (injected restart)",
                        _ => "synthetic connection dropped (injected fault)",
                    };
                    let _ = wire
                        .to_client
                        .send(Incoming::Closed {
                            reason: reason.to_string(),
                        })
                        .await;
                }
                Flow::Continue | Flow::Gone => {}
            }
        }
    }

    async fn serve(&mut self, wire: &mut MemoryWire) -> Flow {
        loop {
            let Some(line) = wire.recv().await else {
                return Flow::Gone;
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let flow = self.handle(message, wire).await;
            if flow != Flow::Continue {
                return flow;
            }
            if self.pending_flow != Flow::Continue {
                return std::mem::replace(&mut self.pending_flow, Flow::Continue);
            }
        }
    }

    async fn send(&self, wire: &mut MemoryWire, value: Value) -> Flow {
        if wire.send(value.to_string()).await {
            Flow::Continue
        } else {
            Flow::Gone
        }
    }

    async fn handle(&mut self, message: Value, wire: &mut MemoryWire) -> Flow {
        let id = message.get("id").cloned();
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let text = |key: &str| {
            params
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match (id, method.as_deref()) {
            (Some(id), Some("initialize")) => {
                self.send(
                    wire,
                    json!({ "id": id, "result": {
                    "userAgent": "synthetic/0.169.0 (faulty synthetic app-server)" } }),
                )
                .await
            }
            (None, Some(_)) | (None, None) => Flow::Continue,
            (Some(id), Some("thread/start")) => {
                self.next_thread += 1;
                let thread_id = format!("{}-thread-{}", self.plan.name, self.next_thread);
                self.threads
                    .insert(thread_id.clone(), ThreadState::default());
                self.send(
                    wire,
                    json!({ "id": id, "result": { "thread": {
                    "id": thread_id, "preview": "", "status": { "type": "idle" } } } }),
                )
                .await
            }
            (Some(id), Some("turn/start")) => self.start_turn(id, &text("threadId"), wire).await,
            (Some(id), Some("turn/interrupt")) => {
                let flow = self.interrupt(&text("turnId"), wire).await;
                if flow != Flow::Continue {
                    return flow;
                }
                self.send(wire, json!({ "id": id, "result": {} })).await
            }
            (Some(id), Some("thread/resume")) => self.resume(id, &text("threadId"), wire).await,
            (Some(id), Some(_)) => self.send(wire, json!({ "id": id, "result": {} })).await,
            (Some(id), None) => {
                let success = message
                    .pointer("/result/success")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.on_answer(&id, success, wire).await
            }
        }
    }

    async fn start_turn(&mut self, id: Value, thread_id: &str, wire: &mut MemoryWire) -> Flow {
        let Some(thread) = self.threads.get_mut(thread_id) else {
            return self
                .send(
                    wire,
                    json!({ "id": id, "error": { "code": -32600,
                    "message": format!("thread not found: {thread_id}") } }),
                )
                .await;
        };
        self.next_turn += 1;
        let turn_id = format!("{}-turn-{}", self.plan.name, self.next_turn);
        thread.has_rollout = true;
        thread.last_turn = Some((turn_id.clone(), "inProgress"));
        let remaining = self.plan.total_calls.saturating_sub(self.raised);
        let limit = self.plan.calls_per_turn.min(remaining);
        let interrupt_at = self
            .rng
            .chance(self.plan.interrupt_turn)
            .then(|| self.rng.below(limit.max(1)));
        self.turns.insert(
            turn_id.clone(),
            TurnState {
                thread_id: thread_id.to_string(),
                raised: 0,
                limit,
                in_flight: 0,
                interrupt_at,
            },
        );
        self.count(|c| c.turns_started += 1);
        let turn = json!({ "id": turn_id, "status": "inProgress", "items": [] });
        if self
            .send(wire, json!({ "id": id, "result": { "turn": turn } }))
            .await
            != Flow::Continue
            || self
                .send(
                    wire,
                    json!({ "method": "turn/started", "params": {
                    "threadId": thread_id, "turn": turn } }),
                )
                .await
                != Flow::Continue
        {
            return Flow::Gone;
        }
        self.fill(&turn_id, wire).await
    }

    /// Raises calls until the turn has `concurrency` outstanding or its budget is
    /// spent, applying the per-call faults; ends the turn when nothing is left.
    async fn fill(&mut self, turn_id: &str, wire: &mut MemoryWire) -> Flow {
        loop {
            let Some(turn) = self.turns.get(turn_id) else {
                return Flow::Continue;
            };
            if turn.interrupt_at.is_some_and(|at| turn.raised >= at) {
                self.count(|c| c.interrupted_turns += 1);
                return self.interrupt(turn_id, wire).await;
            }
            let concurrency = u64::try_from(self.plan.concurrency.max(1)).unwrap_or(1);
            let budget_spent = self.raised >= self.plan.total_calls;
            if turn.raised >= turn.limit || turn.in_flight >= concurrency || budget_spent {
                if budget_spent && let Some(turn) = self.turns.get_mut(turn_id) {
                    // Turns share the budget: this one raises no more.
                    turn.limit = turn.raised;
                }
                break;
            }
            let flow = self.raise(turn_id, wire).await;
            if flow != Flow::Continue {
                return flow;
            }
            if self.pending_flow != Flow::Continue {
                break;
            }
        }
        self.maybe_end(turn_id, wire).await
    }

    async fn raise(&mut self, turn_id: &str, wire: &mut MemoryWire) -> Flow {
        let Some(turn) = self.turns.get_mut(turn_id) else {
            return Flow::Continue;
        };
        turn.raised += 1;
        turn.in_flight += 1;
        let thread_id = turn.thread_id.clone();
        self.raised += 1;
        let request = self.next_request;
        self.next_request += 1;
        let global = self.epoch_base + u64::try_from(request).unwrap_or(0);
        let call_id = format!("call-{global}");
        let (tool, arguments) = self.pick_tool();
        let line = json!({ "id": request, "method": "item/tool/call", "params": {
            "threadId": thread_id, "turnId": turn_id, "callId": call_id, "namespace": null,
            "tool": tool, "arguments": arguments } })
        .to_string();
        self.outstanding.insert(
            request,
            Outstanding {
                turn_id: turn_id.to_string(),
                thread_id,
                call_id,
                tool,
                global,
                line: line.clone(),
            },
        );
        self.count(|c| c.calls_raised += 1);
        if !wire.send(line.clone()).await {
            return Flow::Gone;
        }
        if self.rng.chance(self.plan.duplicate_request) {
            self.count(|c| c.duplicate_requests += 1);
            if !wire.send(line).await {
                return Flow::Gone;
            }
        }
        if self.rng.chance(self.plan.junk_line) {
            self.count(|c| c.junk_lines += 1);
            if !wire.send("this is not JSON-RPC {".to_string()).await {
                return Flow::Gone;
            }
        }
        if self.rng.chance(self.plan.early_completion)
            && let Some(call) = self.outstanding.remove(&request)
        {
            self.count(|c| c.early_completions += 1);
            self.ended.set(call.global);
            let flow = self.complete_item(&call, "completed", true, wire).await;
            if flow != Flow::Continue {
                return flow;
            }
            self.settle(&call.turn_id);
        }
        if self.plan.kill_at == Some(self.raised) {
            self.pending_flow = Flow::Kill;
        } else if self.rng.chance(self.plan.restart) {
            self.pending_flow = Flow::Restart;
        } else if self.rng.chance(self.plan.drop_connection) {
            self.count(|c| c.connection_drops += 1);
            self.pending_flow = Flow::Drop;
        }
        Flow::Continue
    }

    fn pick_tool(&mut self) -> (String, Value) {
        let total: u64 = self.plan.tools.iter().map(|t| u64::from(t.weight)).sum();
        let mut roll = self.rng.below(total);
        for mix in &self.plan.tools {
            if roll < u64::from(mix.weight) {
                let n = u64::try_from(mix.arguments.len()).unwrap_or(0);
                let index = usize::try_from(self.rng.below(n)).unwrap_or(0);
                let arguments = mix.arguments.get(index).cloned().unwrap_or(json!({}));
                return (mix.tool.clone(), arguments);
            }
            roll -= u64::from(mix.weight);
        }
        ("synthetic_tool".to_string(), json!({}))
    }

    fn settle(&mut self, turn_id: &str) {
        if let Some(turn) = self.turns.get_mut(turn_id) {
            turn.in_flight = turn.in_flight.saturating_sub(1);
        }
    }

    async fn complete_item(
        &self,
        call: &Outstanding,
        status: &str,
        success: bool,
        wire: &mut MemoryWire,
    ) -> Flow {
        self.send(
            wire,
            json!({ "method": "item/completed", "params": {
            "threadId": call.thread_id, "turnId": call.turn_id,
            "item": { "type": "dynamicToolCall", "id": call.call_id, "tool": call.tool,
                      "status": status, "success": success } } }),
        )
        .await
    }

    async fn on_answer(&mut self, id: &Value, success: bool, wire: &mut MemoryWire) -> Flow {
        let Some(request) = id.as_i64() else {
            self.count(|c| c.unknown_answers += 1);
            return Flow::Continue;
        };
        let Some(call) = self.outstanding.remove(&request) else {
            let known = request >= 0 && request < self.next_request;
            let global = self.epoch_base + u64::try_from(request).unwrap_or(0);
            match (known, self.answered.get(global), self.ended.get(global)) {
                (true, true, _) => self.count(|c| c.double_answers += 1),
                (true, false, true) => self.count(|c| c.late_answers += 1),
                _ => self.count(|c| c.unknown_answers += 1),
            }
            return Flow::Continue;
        };
        self.answered.set(call.global);
        self.count(|c| c.answers += 1);
        let status = if success { "completed" } else { "failed" };
        let flow = self.complete_item(&call, status, success, wire).await;
        if flow != Flow::Continue {
            return flow;
        }
        self.settle(&call.turn_id);
        self.fill(&call.turn_id, wire).await
    }

    async fn maybe_end(&mut self, turn_id: &str, wire: &mut MemoryWire) -> Flow {
        let done = self
            .turns
            .get(turn_id)
            .is_some_and(|t| t.raised >= t.limit && t.in_flight == 0);
        if done {
            return self.end_turn(turn_id, "completed", wire).await;
        }
        Flow::Continue
    }

    async fn end_turn(
        &mut self,
        turn_id: &str,
        status: &'static str,
        wire: &mut MemoryWire,
    ) -> Flow {
        let Some(turn) = self.turns.remove(turn_id) else {
            return Flow::Continue;
        };
        if let Some(thread) = self.threads.get_mut(&turn.thread_id) {
            thread.last_turn = Some((turn_id.to_string(), status));
        }
        self.count(|c| c.turns_ended += 1);
        self.send(
            wire,
            json!({ "method": "turn/completed", "params": {
            "threadId": turn.thread_id, "turn": { "id": turn_id, "status": status } } }),
        )
        .await
    }

    /// Like `turn/interrupt` in codex: waiting calls end failed, then the turn.
    async fn interrupt(&mut self, turn_id: &str, wire: &mut MemoryWire) -> Flow {
        let ids: Vec<i64> = self
            .outstanding
            .iter()
            .filter(|(_, c)| c.turn_id == turn_id)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(call) = self.outstanding.remove(&id) {
                self.ended.set(call.global);
                self.count(|c| c.interrupted_calls += 1);
                let flow = self.complete_item(&call, "failed", false, wire).await;
                if flow != Flow::Continue {
                    return flow;
                }
            }
        }
        self.end_turn(turn_id, "interrupted", wire).await
    }

    async fn resume(&mut self, id: Value, thread_id: &str, wire: &mut MemoryWire) -> Flow {
        self.count(|c| c.resumes += 1);
        let Some(thread) = self.threads.get(thread_id).filter(|t| t.has_rollout) else {
            self.count(|c| c.resumes_refused += 1);
            return self
                .send(
                    wire,
                    json!({ "id": id, "error": { "code": -32600,
                    "message": format!("no rollout found for thread id {thread_id}") } }),
                )
                .await;
        };
        let running = self.turns.values().any(|t| t.thread_id == thread_id);
        let turns: Vec<Value> = thread
            .last_turn
            .iter()
            .map(|(turn_id, status)| {
                let items: Vec<Value> = self
                    .outstanding
                    .values()
                    .filter(|c| &c.turn_id == turn_id)
                    .map(|c| {
                        json!({ "type": "dynamicToolCall", "id": c.call_id,
                        "tool": c.tool, "status": "inProgress" })
                    })
                    .collect();
                json!({ "id": turn_id, "status": status, "items": items })
            })
            .collect();
        let status = if running {
            json!({ "type": "active", "activeFlags": [] })
        } else {
            json!({ "type": "idle" })
        };
        let flow = self
            .send(
                wire,
                json!({ "id": id, "result": { "thread": {
                "id": thread_id, "preview": "", "status": status, "turns": turns } } }),
            )
            .await;
        if flow != Flow::Continue {
            return flow;
        }
        // Like codex: the calls the thread still waits on come again, same ids.
        let mut replay: Vec<(i64, String)> = self
            .outstanding
            .iter()
            .filter(|(_, c)| c.thread_id == thread_id)
            .map(|(id, c)| (*id, c.line.clone()))
            .collect();
        replay.sort_by_key(|(id, _)| *id);
        for (_, line) in replay {
            self.count(|c| c.replays += 1);
            if !wire.send(line).await {
                return Flow::Gone;
            }
        }
        // A drop can come between two calls of a turn: go on raising where it stopped.
        let running: Vec<String> = self
            .turns
            .iter()
            .filter(|(_, t)| t.thread_id == thread_id)
            .map(|(id, _)| id.clone())
            .collect();
        for turn_id in running {
            let flow = self.fill(&turn_id, wire).await;
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    /// A process exit: every waiting call is gone, running turns read as interrupted,
    /// request ids start again.
    fn restart(&mut self) {
        let lost = u64::try_from(self.outstanding.len()).unwrap_or(0);
        for call in self.outstanding.values() {
            self.ended.set(call.global);
        }
        self.outstanding.clear();
        for (turn_id, turn) in self.turns.drain() {
            if let Some(thread) = self.threads.get_mut(&turn.thread_id) {
                thread.last_turn = Some((turn_id, "interrupted"));
            }
        }
        self.epoch_base += u64::try_from(self.next_request).unwrap_or(0);
        self.next_request = 0;
        self.count(|c| {
            c.restarts += 1;
            c.calls_lost_in_restarts += lost;
        });
    }
}

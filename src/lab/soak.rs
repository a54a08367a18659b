//! The soak run: a bridge on the faulty synthetic app-server (see
//! `lab::synthetic::faults`) answers calls by the hundred thousand while the peer
//! injects faults, and the run checks what reliability promises:
//!
//! - every call ends exactly once, resolved or expired: the bridge's end count equals
//!   the calls raised, every `tool_call_requested` event has exactly one
//!   `tool_call_resolved`, and nothing is pending at the end;
//! - no answer is ever written twice: the peer counts answers per request id;
//! - memory stays flat: the process's resident size is sampled as the run goes.
//!
//! - no handler runs twice: remote calls are raced for by claimants (workers) that claim
//!   a call before "running its handler"; the run counts handler runs per call.
//!
//! Calls are answered by a static handler (most), by remote workers that claim each call
//! first (two race for every call; the loser is refused; some winners die holding the
//! claim, and the call goes to a new claimant when the lease runs out), are slow, fail
//! some answers, send duplicate answers and late ones, and, rarely, by a command handler
//! that crashes, fails, hangs, prints invalid UTF-8 or nothing at all. Transcripts go to
//! stores that keep no bytes and inject full disks (a short write cutting a row, then
//! ENOSPC), checked for rows cut in half and rows lost. The run is bounded in calls and
//! in time.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::appserver::TransportSpec;
use crate::bridge::{
    self, Answerer, BridgeConfig, BridgeError, BridgeEvent, BridgeHandle, ClaimChange,
    ClaimOutcome, ConnectionState, CreateSession, ManualPolicy, ReconnectPolicy, RecoveryStep,
    RespondOutcome, Responder,
};
use crate::bridge::{AppServerSpec, FleetMember};
use crate::catalog::{Catalog, CatalogError};
use crate::lab::faulty_store::{FaultyDisk, StoreTally};
use crate::lab::rng::Rng;
use crate::lab::synthetic::faults::{
    FaultCounts, FaultPlan, FaultySynthetic, ToolMix, spawn_faulty,
};

#[path = "soak_remote.rs"]
mod remote;
use crate::protocol::ToolCallResult;

/// The tools of the soak: one static, one answered remotely, one flaky command.
const SOAK_CATALOG: &str = r#"
[[tools]]
name = "instant"
description = "answered at once by a static handler"
input_schema = { type = "object" }
handler = { static_text = "instant answer" }

[[tools]]
name = "remote"
description = "answered by a remote client: slow, sometimes failing, sometimes twice"
input_schema = { type = "object" }

[[tools]]
name = "flaky"
description = "a command handler that misbehaves as its arguments say"
input_schema = { type = "object", properties = { mode = { type = "string" } } }
handler = { command = ["sh", "-c", "read -r call; case \"$call\" in *'\"crash\"'*) kill -9 $$ ;; *'\"fail\"'*) echo 'handler failed' >&2; exit 3 ;; *'\"garbage\"'*) printf '\\377\\376' ;; *'\"hang\"'*) sleep 5 ;; *'\"silent\"'*) exit 0 ;; *) echo flaky ok ;; esac"], timeout_ms = 300 }
"#;

/// What to run. `SoakConfig::new` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoakConfig {
    pub calls: u64,
    pub seed: u64,
    /// Sessions driving turns at once.
    pub sessions: usize,
    pub calls_per_turn: u64,
    /// Calls outstanding at once per turn.
    pub concurrency: usize,
    /// One call in this many goes to the flaky command handler (0: none).
    pub flaky_every: u32,
    /// Share of calls answered by the remote responder, in percent.
    pub remote_percent: u32,
    pub duplicate_request: f64,
    pub early_completion: f64,
    pub interrupt_turn: f64,
    pub junk_line: f64,
    pub drop_connection: f64,
    pub restart: f64,
    /// Remote answers that are sent twice at once, and sent again after the call ended.
    pub duplicate_answer: f64,
    pub late_answer: f64,
    /// Remote answers with `success: false`.
    pub failed_answer: f64,
    /// The remote responder waits up to this many microseconds before answering.
    pub max_answer_delay_us: u64,
    /// Claimants racing for each remote call.
    pub claimants: usize,
    /// The lease of each claim.
    pub lease_ms: u64,
    /// A winning claimant dies holding the claim (never answers, never renews).
    pub claimant_dies: f64,
    /// A claimant renews its claim before answering.
    pub renew: f64,
    /// A transcript write starts a full disk (short write, then ENOSPC for 1 to 3 writes).
    pub transcript_failure: f64,
    /// Synthetic app-servers the bridge drives at once, each its own connection with its
    /// own request ids (from 0), seeded faults and answer counts; the calls are shared
    /// out among them.
    pub app_servers: usize,
    /// The second app-server (the only one, if there is one) is killed once, after this
    /// share of its calls in percent (0: never), and refuses `down_connects` connection
    /// attempts before it comes back.
    pub kill_at_percent: u32,
    pub down_connects: u32,
    /// In-process claimants wait up to this many microseconds before claiming, so that
    /// the remote ones (over HTTP, told by the websocket) win some races.
    pub claim_delay_us: u64,
    /// Claimants that go through the service API: an in-process `serve` on loopback,
    /// its websocket for the calls, HTTP for claims and answers.
    pub remote_claimants: usize,
    /// A remote claimant dies holding the claim (its process is gone: it never answers,
    /// its socket closes, it comes back as a new process).
    pub remote_claimant_dies: f64,
    /// A remote claimant gives the claim back at once (`DELETE .../claim`).
    pub remote_release: f64,
    /// Share of remote calls whose in-process claimants wait `remote_head_start_ms`
    /// before claiming: a websocket and an HTTP round trip away, on a loaded machine the
    /// remote claimants would otherwise lose nearly every race.
    pub remote_first: f64,
    pub remote_head_start_ms: u64,
}

impl SoakConfig {
    pub fn new(calls: u64, seed: u64) -> SoakConfig {
        SoakConfig {
            calls,
            seed,
            sessions: 4,
            calls_per_turn: 500,
            concurrency: 32,
            flaky_every: 2_000,
            remote_percent: 35,
            duplicate_request: 0.002,
            early_completion: 0.002,
            interrupt_turn: 0.05,
            junk_line: 0.0005,
            drop_connection: 0.0002,
            restart: 0.00005,
            duplicate_answer: 0.02,
            late_answer: 0.01,
            failed_answer: 0.1,
            max_answer_delay_us: 2_000,
            claimants: 2,
            lease_ms: 1_000,
            claimant_dies: 0.005,
            renew: 0.1,
            transcript_failure: 0.0002,
            app_servers: 3,
            kill_at_percent: 40,
            down_connects: 5,
            claim_delay_us: 2_000,
            remote_claimants: 2,
            remote_claimant_dies: 0.01,
            remote_release: 0.01,
            remote_first: 0.25,
            remote_head_start_ms: 200,
        }
    }

    /// The calls app-server `index` raises: an even share, the first taking the rest.
    fn calls_of(&self, index: usize) -> u64 {
        let n = u64::try_from(self.app_servers.max(1)).unwrap_or(1);
        let share = self.calls / n;
        if index == 0 {
            self.calls - share * (n - 1)
        } else {
            share
        }
    }

    /// The app-server killed once during the run.
    fn killed(&self) -> usize {
        usize::from(self.app_servers > 1)
    }

    fn plan(&self, index: usize) -> FaultPlan {
        // Weights per million calls.
        let flaky = 1_000_000u32.checked_div(self.flaky_every).unwrap_or(0);
        let remote = self.remote_percent.min(100) * 10_000;
        let instant = 1_000_000u32.saturating_sub(remote).saturating_sub(flaky);
        let modes = ["ok", "crash", "fail", "garbage", "hang", "silent"];
        let total_calls = self.calls_of(index);
        let kill_at = (index == self.killed() && self.kill_at_percent > 0)
            .then(|| (total_calls * u64::from(self.kill_at_percent.min(100)) / 100).max(1));
        FaultPlan {
            name: format!("faulty-{}", index + 1),
            // Each app-server its own faults.
            seed: self
                .seed
                .wrapping_add(0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(index as u64)),
            total_calls,
            calls_per_turn: self.calls_per_turn,
            concurrency: self.concurrency,
            tools: vec![
                ToolMix {
                    tool: "instant".to_string(),
                    weight: instant,
                    arguments: vec![json!({})],
                },
                ToolMix {
                    tool: "remote".to_string(),
                    weight: remote,
                    arguments: vec![json!({ "question": "may I?" })],
                },
                ToolMix {
                    tool: "flaky".to_string(),
                    weight: flaky,
                    arguments: modes.iter().map(|m| json!({ "mode": m })).collect(),
                },
            ],
            duplicate_request: self.duplicate_request,
            early_completion: self.early_completion,
            interrupt_turn: self.interrupt_turn,
            junk_line: self.junk_line,
            drop_connection: self.drop_connection,
            restart: self.restart,
            kill_at,
            down_connects: self.down_connects,
        }
    }

    /// The whole run stops by itself after this long, finished or not.
    fn deadline(&self) -> Duration {
        Duration::from_secs(120) + Duration::from_millis(self.calls / 5)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("the soak catalog is invalid: {0}")]
    Catalog(#[from] CatalogError),
    #[error("the bridge could not start on the synthetic app-servers: {0}")]
    Bridge(#[from] BridgeError),
    #[error("the soak's API server could not start: {0}")]
    Service(#[from] crate::service::ServiceError),
    #[error("the soak's remote claimants could not start: {0}")]
    Remote(String),
}

/// One app-server of the run: what it did and saw, and how its calls ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTally {
    pub name: String,
    pub calls_planned: u64,
    /// Its `tool_call_requested` and `tool_call_resolved` events.
    pub calls_requested: u64,
    pub calls_ended: u64,
    pub pending_at_end: u64,
    pub reconnects: u64,
    /// What the synthetic app-server injected and counted (answers per request id).
    pub app_server: FaultCounts,
}

/// What the bridge saw, from its event stream and its totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeTally {
    pub calls_requested: u64,
    pub calls_ended: u64,
    pub answered_by_handlers: u64,
    pub answered_remotely: u64,
    pub expired: u64,
    pub failed_answers: u64,
    pub junk_lines: u64,
    pub reconnects: u64,
    pub sessions_resumed: u64,
    pub sessions_not_resumable: u64,
    pub turns: u64,
    pub pending_at_end: u64,
    pub events_lagged: u64,
}

/// What the remote responder did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponderTally {
    pub answers_sent: u64,
    pub accepted: u64,
    pub in_flight: u64,
    pub not_found: u64,
    pub upstream_errors_retried: u64,
    pub duplicate_answers: u64,
    pub late_answers: u64,
    /// Claims: granted, refused because another claimant held the call, renewed.
    pub claims_granted: u64,
    pub claims_refused: u64,
    pub claims_renewed: u64,
    /// Winners that died holding their claim, and leases that ran out (from events).
    pub claimants_died: u64,
    pub leases_expired: u64,
    /// Handlers run by claimants (a dead claimant's run counts: it began).
    pub handler_runs: u64,
    /// Answers without the claim id refused while a claim was held.
    pub answers_refused_claimed: u64,
    /// Claims given back (`Released`, by remote claimants).
    pub claims_released: u64,
}

/// What the claimants that go through the service API did (HTTP claims and answers, the
/// websocket for the calls); their handler runs count in `responder.handlerRuns` too,
/// and a handler run twice across both kinds is a violation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteTally {
    pub claimants: u64,
    /// Websockets opened on `/api/stream` (one per claimant, again after each death or
    /// close), and `lagged` frames they got (events skipped: the pending list is read
    /// again).
    pub streams_opened: u64,
    pub streams_lagged: u64,
    pub calls_offered: u64,
    /// Claim requests sent, by route: `/api/tool-calls/{id}/claim` and
    /// `/api/requests/{id}/claim`.
    pub claims_via_tool_calls: u64,
    pub claims_via_requests: u64,
    pub claims_granted: u64,
    /// 409 `call_claimed`: another claimant (in-process or remote) held it.
    pub claims_refused: u64,
    /// 404 or `in_flight`: it ended or was being answered meanwhile.
    pub claims_too_late: u64,
    pub claims_renewed: u64,
    /// Given back with `DELETE .../claim` before running anything.
    pub claims_released: u64,
    /// Died holding the claim: the lease ran out and another claimant took the call.
    pub died: u64,
    pub handler_runs: u64,
    pub answers_sent: u64,
    pub answers_accepted: u64,
    /// 404: the call ended first (completed elsewhere, interrupted, lost in a restart).
    pub answers_not_found: u64,
    /// 500: not written (the connection was down); sent again.
    pub answers_retried: u64,
    /// Requests that got no reply at all (counted, retried where it matters).
    pub http_errors: u64,
    /// Anything else the API said that a claimant did not expect (must stay 0).
    pub unexpected_replies: u64,
}

/// What the transcript stores saw, and what the bridge reported of their failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptTally {
    #[serde(flatten)]
    pub stores: StoreTally,
    /// Rows the sessions appended (each session's last seq + 1).
    pub rows_appended: u64,
    /// `bridge_error` events saying a transcript was not persisted, and notices that it
    /// was written again.
    pub failures_reported: u64,
    pub failures_cleared: u64,
    /// Sessions still not persisted at the end.
    pub not_persisted_at_end: u64,
}

/// Resident memory in KiB over the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryTally {
    pub start_kib: u64,
    /// After a tenth of the calls, once the transcript windows and queues are full.
    pub warm_kib: u64,
    pub peak_kib: u64,
    pub end_kib: u64,
    /// The raw params (`AppServerNotification`/`AppServerRequest`) the bridge's events
    /// held, counted in JSON bytes (not resident memory, so other work in the process
    /// does not count): at most during the run, and at the end; the budget, and raw
    /// events sent without their params for being over it.
    pub raw_held_peak_bytes: u64,
    pub raw_held_end_bytes: u64,
    pub raw_held_peak_events: u64,
    pub raw_budget_bytes: u64,
    pub raw_omitted: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoakReport {
    pub config: SoakConfig,
    pub elapsed_ms: u64,
    pub calls_per_second: u64,
    /// Faults the synthetic app-servers injected, and what they counted, in all.
    pub app_server: FaultCounts,
    pub bridge: BridgeTally,
    /// Each app-server's connection on its own.
    pub connections: Vec<ConnectionTally>,
    pub responder: ResponderTally,
    pub remote: RemoteTally,
    /// The transcript stores: rows written, full disks injected, rows cut in half.
    pub transcripts: TranscriptTally,
    /// Calls raised that did not end exactly once.
    pub calls_lost: u64,
    pub memory: MemoryTally,
    /// Broken promises; empty when the run passed.
    pub violations: Vec<String>,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Counters shared by the run's tasks.
#[derive(Default)]
struct Counters {
    requested: AtomicU64,
    ended: AtomicU64,
    ended_twice: AtomicU64,
    lagged: AtomicU64,
    reconnects: AtomicU64,
    resumed: AtomicU64,
    not_resumable: AtomicU64,
    turns: AtomicU64,
    stalled_turns: AtomicU64,
    answers_sent: AtomicU64,
    accepted: AtomicU64,
    accepted_twice: AtomicU64,
    late_accepted: AtomicU64,
    in_flight: AtomicU64,
    not_found: AtomicU64,
    upstream_retried: AtomicU64,
    duplicate_answers: AtomicU64,
    late_answers: AtomicU64,
    claims_granted: AtomicU64,
    claims_refused: AtomicU64,
    claims_renewed: AtomicU64,
    claimants_died: AtomicU64,
    leases_expired: AtomicU64,
    handler_runs: AtomicU64,
    handlers_run_twice: AtomicU64,
    answers_refused_claimed: AtomicU64,
    claims_released: AtomicU64,
    lost_claims: AtomicU64,
    persist_failed: AtomicU64,
    persist_cleared: AtomicU64,
}

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// The process's resident set size in KiB, from /proc/self/status.
pub fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|kib| kib.parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Runs the soak to its end and reports; `Err` only if the bridge cannot start.
pub async fn run(config: SoakConfig) -> Result<SoakReport, SoakError> {
    let started = Instant::now();
    let deadline = started + config.deadline();
    let start_kib = resident_kib();
    let catalog = Arc::new(Catalog::parse(
        SOAK_CATALOG,
        std::path::Path::new("soak-catalog.toml"),
    )?);
    let count = config.app_servers.max(1);
    let names: Vec<String> = (0..count).map(|index| config.plan(index).name).collect();
    let peers: Vec<Arc<FaultySynthetic>> = (0..count)
        .map(|index| Arc::new(spawn_faulty(config.plan(index))))
        .collect();
    let (disk, opener) = FaultyDisk::new(config.seed ^ 0xD15C, config.transcript_failure);
    // Labelled websockets: a dropped connection keeps its calls for replay, as a
    // websocket app-server does; injected restarts and kills lose them, as a crash does.
    let specs: Vec<AppServerSpec> = names
        .iter()
        .map(|name| AppServerSpec {
            name: name.clone(),
            transport: TransportSpec::WebSocket {
                url: format!("synthetic://{name}"),
                bearer: None,
            },
            cwd: None,
        })
        .collect();
    let mut bridge_config = BridgeConfig::new(specs[0].transport.clone(), catalog);
    bridge_config.app_servers = specs.clone();
    bridge_config.manual_policy = ManualPolicy::Wait;
    // Transcripts go to the faulty stores (no file is written; the folder is a label).
    bridge_config.data_dir = Some(std::env::temp_dir().join("switchboard-soak"));
    bridge_config.transcript_store = Some(opener);
    bridge_config.request_timeout = Duration::from_secs(10);
    let raw_budget = bridge_config.raw_event_budget;
    bridge_config.reconnect = ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(50),
        max_attempts: 50,
    };
    let members = specs
        .into_iter()
        .zip(&peers)
        .map(|(spec, peer)| FleetMember {
            spec,
            connector: Some(peer.connector()),
            opened: None,
        })
        .collect();
    let bridge = bridge::start_fleet(bridge_config, members).await?;
    let counters = Arc::new(Counters::default());
    let runs: Runs = Arc::default();

    let memory = Arc::new(std::sync::Mutex::new(MemoryTally {
        start_kib,
        raw_budget_bytes: u64::try_from(raw_budget).unwrap_or(u64::MAX),
        ..MemoryTally::default()
    }));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_memory(
        bridge.clone(),
        peers.clone(),
        config.calls,
        memory.clone(),
        sampling.clone(),
    ));
    let (stop_watching, watching) = tokio::sync::oneshot::channel::<()>();
    // Subscribed here, before any session exists: a watcher task that starts late on a
    // busy machine would miss the first calls' `tool_call_requested`.
    let events = bridge.subscribe();
    let watcher = tokio::spawn(watch_events(
        bridge.clone(),
        events,
        counters.clone(),
        config.clone(),
        names.clone(),
        runs.clone(),
        watching,
    ));
    // The remote claimants, through the API of an in-process `serve` on loopback.
    let remote = remote::start(&bridge, &config, counters.clone(), runs.clone()).await?;

    let mut drivers = Vec::new();
    for (peer, name) in peers.iter().zip(&names) {
        for _ in 0..config.sessions.max(1) {
            drivers.push(tokio::spawn(drive_session(
                bridge.clone(),
                peer.clone(),
                name.clone(),
                counters.clone(),
                deadline,
            )));
        }
    }
    for driver in drivers {
        let _ = driver.await;
    }
    // The last calls end as their turns do; wait for them, bounded.
    let mut left = bridge.pending_calls(None).await.unwrap_or_default();
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = bridge.pending_calls(None).await.unwrap_or_default();
    }
    let pending = left.len();
    // Rows that wait for a failed store are written by the retries (1 s, 2 s, ...).
    let mut status = bridge.status().await?;
    while !status.not_persisted.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = bridge.status().await?;
    }
    let mut rows_appended = 0;
    for session in bridge.sessions().await? {
        if let Some(snapshot) = bridge.session(&session.thread_id).await? {
            rows_appended += snapshot.transcript.last().map_or(0, |row| row.seq + 1);
        }
    }
    disk.check_ends();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let remote = remote.stop().await;
    // The watcher's handle keeps the event stream open: let it catch up, then stop it.
    let ends = totals_ended(&status.totals);
    while get(&counters.ended) < ends && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_watching.send(());
    let seen = watcher.await.unwrap_or_default();
    bridge.shutdown().await;
    drop(bridge);

    let elapsed = started.elapsed();
    let mut app_server = FaultCounts::default();
    let mut connections = Vec::new();
    for (index, (peer, name)) in peers.iter().zip(&names).enumerate() {
        let counts = peer.counts();
        app_server.add(&counts);
        let seen = seen.get(index).cloned().unwrap_or_default();
        connections.push(ConnectionTally {
            name: name.clone(),
            calls_planned: config.calls_of(index),
            calls_requested: seen.requested,
            calls_ended: seen.ended,
            pending_at_end: u64::try_from(left.iter().filter(|c| &c.app_server == name).count())
                .unwrap_or(u64::MAX),
            reconnects: seen.reconnects,
            app_server: counts,
        });
    }
    let totals = &status.totals;
    let calls_ended = totals_ended(totals);
    let c = &counters;
    let bridge_tally = BridgeTally {
        calls_requested: get(&c.requested),
        calls_ended,
        answered_by_handlers: totals.answered_automatically,
        answered_remotely: totals.answered_remotely + totals.answered_by_hand,
        expired: totals.expired,
        failed_answers: totals.failed,
        junk_lines: status.junk_lines,
        reconnects: get(&c.reconnects),
        sessions_resumed: get(&c.resumed),
        sessions_not_resumable: get(&c.not_resumable),
        turns: get(&c.turns),
        pending_at_end: u64::try_from(pending).unwrap_or(u64::MAX),
        events_lagged: get(&c.lagged),
    };
    let responder = ResponderTally {
        answers_sent: get(&c.answers_sent),
        accepted: get(&c.accepted),
        in_flight: get(&c.in_flight),
        not_found: get(&c.not_found),
        upstream_errors_retried: get(&c.upstream_retried),
        duplicate_answers: get(&c.duplicate_answers),
        late_answers: get(&c.late_answers),
        claims_granted: get(&c.claims_granted),
        claims_refused: get(&c.claims_refused),
        claims_renewed: get(&c.claims_renewed),
        claimants_died: get(&c.claimants_died),
        leases_expired: get(&c.leases_expired),
        handler_runs: get(&c.handler_runs),
        answers_refused_claimed: get(&c.answers_refused_claimed),
        claims_released: get(&c.claims_released),
    };
    let transcripts = TranscriptTally {
        stores: disk.counts().tally(),
        rows_appended,
        failures_reported: get(&c.persist_failed),
        failures_cleared: get(&c.persist_cleared),
        not_persisted_at_end: u64::try_from(status.not_persisted.len()).unwrap_or(u64::MAX),
    };
    let mut violations = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            violations.push(what);
        }
    };
    let raised = app_server.calls_raised;
    check(
        raised == config.calls,
        format!(
            "{raised} calls raised of {} planned (the run stalled)",
            config.calls
        ),
    );
    check(
        calls_ended == raised,
        format!("{calls_ended} calls ended for {raised} raised"),
    );
    check(
        pending == 0,
        format!("{pending} calls still pending at the end"),
    );
    check(
        app_server.double_answers == 0,
        format!("{} answers written twice", app_server.double_answers),
    );
    check(
        app_server.unknown_answers == 0,
        format!(
            "{} answers to unknown request ids",
            app_server.unknown_answers
        ),
    );
    check(
        get(&c.lagged) == 0,
        format!("the event watcher lagged by {} events", get(&c.lagged)),
    );
    check(
        get(&c.requested) == raised && get(&c.ended) == raised,
        format!(
            "events: {} calls requested and {} ended for {raised} raised",
            get(&c.requested),
            get(&c.ended)
        ),
    );
    check(
        get(&c.ended_twice) == 0,
        format!(
            "{} calls ended twice or ended unrequested",
            get(&c.ended_twice)
        ),
    );
    check(
        get(&c.accepted_twice) == 0,
        format!("{} calls accepted two answers", get(&c.accepted_twice)),
    );
    check(
        get(&c.late_accepted) == 0,
        format!(
            "{} answers accepted after their call ended",
            get(&c.late_accepted)
        ),
    );
    check(
        get(&c.stalled_turns) == 0,
        format!(
            "{} turns did not end within a minute",
            get(&c.stalled_turns)
        ),
    );
    check(
        get(&c.handlers_run_twice) == 0,
        format!(
            "{} calls had their handler run twice by live claimants",
            get(&c.handlers_run_twice)
        ),
    );
    check(
        get(&c.lost_claims) == 0,
        format!(
            "{} live claimants lost their claim (a lease ran out while renewed)",
            get(&c.lost_claims)
        ),
    );
    check(
        get(&c.leases_expired) <= get(&c.claimants_died) + remote.died,
        format!(
            "{} leases ran out but only {} claimants died ({} in-process, {} remote)",
            get(&c.leases_expired),
            get(&c.claimants_died) + remote.died,
            get(&c.claimants_died),
            remote.died
        ),
    );
    // Each connection on its own: its calls all raised, each ended exactly once, no
    // answer written twice or to an id it never sent (ids restart at 0 per connection).
    for (index, conn) in connections.iter().enumerate() {
        let name = &conn.name;
        let peer = &conn.app_server;
        check(
            peer.calls_raised == conn.calls_planned,
            format!(
                "{name}: {} calls raised of {} planned",
                peer.calls_raised, conn.calls_planned
            ),
        );
        check(
            conn.calls_requested == peer.calls_raised && conn.calls_ended == peer.calls_raised,
            format!(
                "{name}: {} calls requested and {} ended for {} raised",
                conn.calls_requested, conn.calls_ended, peer.calls_raised
            ),
        );
        check(
            conn.pending_at_end == 0,
            format!(
                "{name}: {} calls still pending at the end",
                conn.pending_at_end
            ),
        );
        check(
            peer.double_answers == 0 && peer.unknown_answers == 0,
            format!(
                "{name}: {} answers written twice, {} to unknown request ids",
                peer.double_answers, peer.unknown_answers
            ),
        );
        let planned_kill = config
            .plan(index)
            .kill_at
            .is_some_and(|at| at <= conn.calls_planned);
        check(
            !planned_kill || (peer.kills == 1 && conn.reconnects > 0),
            format!(
                "{name}: killed {} time(s) and reconnected {} time(s); planned once, then back",
                peer.kills, conn.reconnects
            ),
        );
    }
    check(
        remote.unexpected_replies == 0,
        format!(
            "remote claimants: {} replies of the API they did not expect",
            remote.unexpected_replies
        ),
    );
    let t = &transcripts;
    check(
        t.stores.cuts_inside_a_row == 0 && t.stores.torn_at_end == 0,
        format!(
            "transcripts: {} cuts inside a row, {} stores ending inside a row",
            t.stores.cuts_inside_a_row, t.stores.torn_at_end
        ),
    );
    check(
        t.stores.rows_written == t.rows_appended,
        format!(
            "transcripts: {} rows written of {} appended",
            t.stores.rows_written, t.rows_appended
        ),
    );
    check(
        t.not_persisted_at_end == 0,
        format!(
            "{} transcripts still not persisted at the end",
            t.not_persisted_at_end
        ),
    );
    check(
        t.failures_reported > 0 || t.stores.failures_injected == 0,
        "transcript failures were injected but none was reported".to_string(),
    );
    let memory = memory.lock().map(|m| m.clone()).unwrap_or_default();
    if memory.raw_omitted > 0 {
        violations.push(format!(
            "{} raw events were sent without their params: the raw copies held reached the {} byte budget",
            memory.raw_omitted, memory.raw_budget_bytes
        ));
    }
    // Calls that did not end, or ended more than once.
    let calls_lost = raised.abs_diff(calls_ended) + u64::try_from(pending).unwrap_or(u64::MAX);
    let seconds = elapsed.as_secs_f64().max(0.001);
    Ok(SoakReport {
        config,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        calls_per_second: (raised as f64 / seconds) as u64,
        app_server,
        bridge: bridge_tally,
        connections,
        responder,
        remote,
        transcripts,
        calls_lost,
        memory,
        violations,
    })
}

fn totals_ended(totals: &crate::bridge::Totals) -> u64 {
    totals.answered_automatically
        + totals.answered_by_hand
        + totals.answered_remotely
        + totals.expired
}

/// Samples resident memory until told to stop: the warm figure once a tenth of the
/// calls are raised, the peak after that, and the last one.
async fn sample_memory(
    bridge: BridgeHandle,
    peers: Vec<Arc<FaultySynthetic>>,
    calls: u64,
    memory: Arc<std::sync::Mutex<MemoryTally>>,
    running: Arc<AtomicBool>,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    while running.load(Ordering::Relaxed) {
        ticker.tick().await;
        let kib = resident_kib();
        let raised: u64 = peers.iter().map(|p| p.counts().calls_raised).sum();
        let raw = bridge.raw_events();
        if let Ok(mut m) = memory.lock() {
            m.raw_held_peak_bytes = raw.peak_bytes;
            m.raw_held_end_bytes = raw.held_bytes;
            m.raw_held_peak_events = m.raw_held_peak_events.max(raw.held_events);
            m.raw_omitted = raw.omitted;
            if m.warm_kib == 0 && raised >= calls / 10 {
                m.warm_kib = kib;
            }
            if m.warm_kib > 0 {
                m.peak_kib = m.peak_kib.max(kib);
            }
            m.end_kib = kib;
        }
    }
}

/// Follows the bridge's events: checks that every call is requested once and ends
/// once, and answers the remote tool's calls as a slow, unreliable client would.
async fn watch_events(
    bridge: BridgeHandle,
    mut events: crate::bridge::EventReceiver,
    counters: Arc<Counters>,
    config: SoakConfig,
    names: Vec<String>,
    runs: Runs,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Vec<Seen> {
    let mut rng = Rng::new(config.seed ^ 0x5EED);
    // Calls seen requested and not yet ended: whether the remote responder answers it,
    // and its app-server.
    let mut open: HashMap<String, (bool, usize)> = HashMap::new();
    let mut seen = vec![Seen::default(); names.len()];
    let slot = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);
    // Whether each session's transcript is being written, to count failures and clears.
    let mut persisted: HashMap<String, bool> = HashMap::new();
    let lease = Duration::from_millis(config.lease_ms.max(1));
    let mut next_claimant = 0u64;
    let claim_delay =
        |rng: &mut Rng| Duration::from_micros(rng.next_u64() % (config.claim_delay_us + 1));
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = &mut stop => None,
        };
        let Some(event) = event else {
            break;
        };
        match event {
            BridgeEvent::ToolCallRequested { call } => {
                add(&counters.requested);
                let remote = call.answerer == Answerer::Person;
                let at = slot(&call.app_server);
                if let Some(conn) = seen.get_mut(at) {
                    conn.requested += 1;
                }
                if open.insert(call.request_id.clone(), (remote, at)).is_some() {
                    add(&counters.ended_twice);
                }
                if remote {
                    // Workers race for it: each claims it first; one wins. Some calls
                    // the remote claimants get a head start on.
                    let head_start = (config.remote_claimants > 0
                        && rng.chance(config.remote_first))
                    .then(|| Duration::from_millis(config.remote_head_start_ms));
                    for _ in 0..config.claimants.max(1) {
                        next_claimant += 1;
                        let plan = Answer {
                            delay: Duration::from_micros(
                                rng.next_u64() % (config.max_answer_delay_us + 1),
                            ),
                            success: !rng.chance(config.failed_answer),
                            twice: rng.chance(config.duplicate_answer),
                            dies: rng.chance(config.claimant_dies),
                            renew: rng.chance(config.renew),
                            wait: head_start.unwrap_or_else(|| claim_delay(&mut rng)),
                        };
                        tokio::spawn(claimant(
                            bridge.clone(),
                            call.request_id.clone(),
                            format!("worker-{}", next_claimant % 8),
                            lease,
                            plan,
                            counters.clone(),
                            runs.clone(),
                        ));
                    }
                }
            }
            BridgeEvent::ToolCallClaim {
                call,
                change: change @ (ClaimChange::Expired | ClaimChange::Released),
                ..
            } => {
                // Its holder died (or gave it back): the next worker takes it.
                if change == ClaimChange::Expired {
                    add(&counters.leases_expired);
                } else {
                    add(&counters.claims_released);
                }
                next_claimant += 1;
                let plan = Answer {
                    delay: Duration::from_micros(rng.next_u64() % (config.max_answer_delay_us + 1)),
                    success: !rng.chance(config.failed_answer),
                    twice: false,
                    dies: false,
                    renew: rng.chance(config.renew),
                    wait: Duration::ZERO,
                };
                tokio::spawn(claimant(
                    bridge.clone(),
                    call.request_id,
                    format!("worker-{}", next_claimant % 8),
                    lease,
                    plan,
                    counters.clone(),
                    runs.clone(),
                ));
            }
            BridgeEvent::SessionStarted { session } | BridgeEvent::SessionUpdated { session } => {
                let before = persisted.insert(session.thread_id.clone(), session.persisted);
                match (before, session.persisted) {
                    (Some(true) | None, false) => add(&counters.persist_failed),
                    (Some(false), true) => add(&counters.persist_cleared),
                    _ => {}
                }
            }
            BridgeEvent::ToolCallResolved { call } => {
                add(&counters.ended);
                if let Ok(mut runs) = runs.lock() {
                    runs.remove(&call.request_id);
                }
                let ended = open.remove(&call.request_id);
                if let Some((_, at)) = ended
                    && let Some(conn) = seen.get_mut(at)
                {
                    conn.ended += 1;
                }
                match ended.map(|(remote, _)| remote) {
                    None => add(&counters.ended_twice),
                    Some(true) if rng.chance(config.late_answer) => {
                        add(&counters.late_answers);
                        let bridge = bridge.clone();
                        let counters = counters.clone();
                        tokio::spawn(async move {
                            let late = bridge
                                .respond(
                                    &call.request_id,
                                    ToolCallResult::text(true, "too late"),
                                    Responder::Remote {
                                        client: "soak".to_string(),
                                    },
                                )
                                .await;
                            if matches!(late, Ok(RespondOutcome::Accepted)) {
                                add(&counters.late_accepted);
                            }
                        });
                    }
                    Some(_) => {}
                }
            }
            BridgeEvent::Connection {
                app_server,
                state: ConnectionState::Connected { .. },
                ..
            } => {
                // The first connections are made before the watcher subscribed.
                add(&counters.reconnects);
                if let Some(conn) = seen.get_mut(slot(&app_server)) {
                    conn.reconnects += 1;
                }
            }
            BridgeEvent::SessionRecovery { step, .. } => match step {
                RecoveryStep::Resumed { .. } => add(&counters.resumed),
                RecoveryStep::ResumeFailed { .. } => add(&counters.not_resumable),
                RecoveryStep::Restored { .. } => {}
            },
            BridgeEvent::Lagged { skipped } => {
                counters.lagged.fetch_add(skipped, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    seen
}

/// What the watcher saw of one app-server's calls and connection.
#[derive(Debug, Clone, Default)]
struct Seen {
    requested: u64,
    ended: u64,
    reconnects: u64,
}

struct Answer {
    delay: Duration,
    success: bool,
    twice: bool,
    /// Dies holding the claim: never runs to the end, never renews, never answers.
    dies: bool,
    /// Renews the claim once before answering.
    renew: bool,
    /// Waits this long before claiming.
    wait: Duration,
}

/// Calls whose handler a live claimant ran (or is running); a call leaves when it ends.
type Runs = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// A worker: claims the call, and only if the claim is its own "runs the handler" and
/// answers with the claim id after a delay (sometimes twice at once). An answer that
/// comes while the call waits to be sent again after a reconnect is retried, renewing
/// the claim meanwhile.
async fn claimant(
    bridge: BridgeHandle,
    request_id: String,
    name: String,
    lease: Duration,
    plan: Answer,
    counters: Arc<Counters>,
    runs: Runs,
) {
    if !plan.wait.is_zero() {
        tokio::time::sleep(plan.wait).await;
    }
    let claim_id = match bridge.claim_call(&request_id, &name, lease, None).await {
        Ok(ClaimOutcome::Claimed { claim, .. }) => {
            add(&counters.claims_granted);
            claim.claim_id
        }
        Ok(ClaimOutcome::Held { .. }) => {
            add(&counters.claims_refused);
            return;
        }
        // Ended meanwhile, or being answered: nothing to run.
        _ => return,
    };
    add(&counters.handler_runs);
    if plan.dies {
        add(&counters.claimants_died);
        return;
    }
    let ran_before = runs
        .lock()
        .map(|mut runs| !runs.insert(request_id.clone()))
        .unwrap_or(false);
    if ran_before {
        add(&counters.handlers_run_twice);
    }
    // Like `switchboard worker`: renew every third of the lease while working.
    let work = run_and_answer(
        bridge.clone(),
        request_id.clone(),
        name.clone(),
        lease,
        plan,
        counters.clone(),
        claim_id.clone(),
    );
    let mut work = std::pin::pin!(work);
    let period = lease / 3;
    let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            () = &mut work => return,
            _ = renewals.tick() => {
                match bridge.claim_call(&request_id, &name, lease, Some(&claim_id)).await {
                    Ok(ClaimOutcome::Claimed { .. }) => {}
                    Ok(ClaimOutcome::Held { .. }) => {
                        add(&counters.lost_claims);
                        return;
                    }
                    // Ended, or its answer is being written: the work finishes it.
                    _ => {}
                }
            }
        }
    }
}

/// The claimant's work once the claim is its own: the handler's time, then the answer.
async fn run_and_answer(
    bridge: BridgeHandle,
    request_id: String,
    name: String,
    lease: Duration,
    plan: Answer,
    counters: Arc<Counters>,
    claim_id: String,
) {
    tokio::time::sleep(plan.delay).await;
    if plan.renew {
        match bridge
            .claim_call(&request_id, &name, lease, Some(&claim_id))
            .await
        {
            Ok(ClaimOutcome::Claimed { .. }) => add(&counters.claims_renewed),
            Ok(ClaimOutcome::Held { .. }) => {
                add(&counters.lost_claims);
                return;
            }
            _ => {}
        }
    }
    let result = ToolCallResult::text(
        plan.success,
        if plan.success {
            "approved"
        } else {
            "the remote client failed"
        },
    );
    let attempt = |bridge: BridgeHandle,
                   request_id: String,
                   result: ToolCallResult,
                   counters: Arc<Counters>,
                   claim_id: String| async move {
        // Bounded: a call that cannot be answered for this long ends by expiry anyway.
        for _ in 0..6_000 {
            add(&counters.answers_sent);
            let outcome = bridge
                .respond_claimed(
                    &request_id,
                    result.clone(),
                    Responder::Remote {
                        client: "soak".to_string(),
                    },
                    Some(&claim_id),
                )
                .await;
            match outcome {
                Ok(RespondOutcome::Accepted) => {
                    add(&counters.accepted);
                    return true;
                }
                Ok(RespondOutcome::InFlight) => {
                    add(&counters.in_flight);
                    return false;
                }
                Ok(RespondOutcome::NotFound) | Err(_) => {
                    add(&counters.not_found);
                    return false;
                }
                Ok(RespondOutcome::Claimed { .. }) => {
                    add(&counters.lost_claims);
                    return false;
                }
                Ok(RespondOutcome::UpstreamError { .. }) => {
                    // Still ours while it waits to be sent again: the claimant renews.
                    add(&counters.upstream_retried);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        false
    };
    let accepted = if plan.twice {
        add(&counters.duplicate_answers);
        let (a, b) = tokio::join!(
            attempt(
                bridge.clone(),
                request_id.clone(),
                result.clone(),
                counters.clone(),
                claim_id.clone(),
            ),
            attempt(bridge, request_id, result, counters.clone(), claim_id)
        );
        u8::from(a) + u8::from(b)
    } else {
        u8::from(attempt(bridge, request_id, result, counters.clone(), claim_id).await)
    };
    if accepted > 1 {
        add(&counters.accepted_twice);
    }
}

/// Runs turns on one session until the calls are all raised; a session that can no
/// longer go on is replaced by a new one.
async fn drive_session(
    bridge: BridgeHandle,
    peer: Arc<FaultySynthetic>,
    app_server: String,
    counters: Arc<Counters>,
    deadline: Instant,
) {
    let mut thread: Option<String> = None;
    while !peer.budget_spent() && Instant::now() < deadline {
        let thread_id = match &thread {
            Some(thread_id) => thread_id.clone(),
            None => match bridge
                .create_session(CreateSession {
                    app_server: Some(app_server.clone()),
                    ..CreateSession::default()
                })
                .await
            {
                Ok(session) => {
                    thread = Some(session.thread_id.clone());
                    session.thread_id
                }
                Err(_) => {
                    // Reconnecting: try again shortly.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        match bridge.send_message(&thread_id, "soak").await {
            Ok(turn_id) => {
                match tokio::time::timeout(
                    Duration::from_secs(60),
                    bridge.wait_turn(&thread_id, &turn_id),
                )
                .await
                {
                    Ok(_) => add(&counters.turns),
                    Err(_) => {
                        add(&counters.stalled_turns);
                        return;
                    }
                }
            }
            Err(BridgeError::NotAttached { .. } | BridgeError::SessionClosed { .. }) => {
                thread = None;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

//! One bridge over many synthetic app-server connections: how many connections and
//! calls per second one hub sustains. Each of N connections (the in-memory synthetic
//! app-server, one session each) raises calls at R per second, open loop, for a fixed
//! time; every call is answered either by a static handler in the bridge or by a remote
//! client over the API (the hub path: a websocket for the signals, HTTP for the answers,
//! as a worker does). Each point is compared with one connection raising the same total
//! rate, measured in the same run. Memory per idle connection and per session with a
//! transcript is measured first, in the fresh process.
//!
//! The bench's logic (counts, every call answered once, the JSON's shape) is tested;
//! its timings never are.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::api::{self, SIGNAL};
use super::bridge::{static_catalog, synthetic_stdio, tempdir};
use super::{BenchError, Result, quantile, rss_bytes};
use crate::bridge::{
    self, AppServerSpec, BridgeConfig, BridgeHandle, CreateSession, FleetMember, ManualPolicy,
};
use crate::catalog::Catalog;
use crate::lab::synthetic::{self, PeerOptions, SyntheticConfig, SyntheticReport};

/// A point keeps up when it answers at least this share of the offered rate.
const KEEPS_UP: f64 = 0.95;

#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// App-server connections of each point, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4, 8, 16, 32, 64])]
    pub connections: Vec<usize>,
    /// Calls per second each connection raises, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10.0, 50.0, 250.0])]
    pub rates: Vec<f64>,
    /// Seconds each point raises calls for (each connection raises rate x seconds).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Who answers: the bridge's static handler, a remote client over the API, or both.
    #[arg(long, value_enum, default_value_t = PathChoice::Both)]
    pub path: PathChoice,
    /// HTTP answers the remote client sends at once on the hub path.
    #[arg(long, default_value_t = 8)]
    pub answerers: usize,
    /// Idle connections for the memory-per-connection figure.
    #[arg(long, default_value_t = 256)]
    pub idle_connections: usize,
    /// Sessions (one turn of 20 calls each, transcripts on disk) for the memory figure.
    #[arg(long, default_value_t = 2_000)]
    pub sessions: usize,
    /// A CI-sized run: 1, 2 and 4 connections at 20 and 100 calls/s for 0.3 s, 8 idle
    /// connections, 20 sessions.
    #[arg(long)]
    pub quick: bool,
}

impl Default for FleetArgs {
    fn default() -> Self {
        FleetArgs {
            connections: vec![1, 2, 4, 8, 16, 32, 64],
            rates: vec![10.0, 50.0, 250.0],
            seconds: 3.0,
            path: PathChoice::Both,
            answerers: 8,
            idle_connections: 256,
            sessions: 2_000,
            quick: false,
        }
    }
}

impl FleetArgs {
    /// The run `--quick` asks for: small enough for CI.
    pub fn quick() -> FleetArgs {
        FleetArgs {
            connections: vec![1, 2, 4],
            rates: vec![20.0, 100.0],
            seconds: 0.3,
            idle_connections: 8,
            sessions: 20,
            quick: true,
            ..FleetArgs::default()
        }
    }

    fn checked(&self) -> Result<FleetArgs> {
        let mut args = if self.quick {
            FleetArgs {
                path: self.path,
                answerers: self.answerers,
                ..FleetArgs::quick()
            }
        } else {
            self.clone()
        };
        args.connections.retain(|n| *n > 0);
        args.connections.sort_unstable();
        args.connections.dedup();
        if args.connections.is_empty() {
            return Err(BenchError(
                "--connections needs at least one count above 0".to_string(),
            ));
        }
        if args.rates.is_empty() || args.rates.iter().any(|r| !r.is_finite() || *r <= 0.0) {
            return Err(BenchError(
                "--rates needs calls per second above 0, e.g. --rates 10,50,250".to_string(),
            ));
        }
        if !args.seconds.is_finite() || args.seconds <= 0.0 {
            return Err(BenchError("--seconds must be above 0".to_string()));
        }
        args.answerers = args.answerers.max(1);
        Ok(args)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PathChoice {
    Static,
    Hub,
    Both,
}

/// Who answers the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AnswerPath {
    /// The catalog's static handler, inside the bridge.
    Static,
    /// A remote client: signals on `/api/stream`, answers by `POST .../response`.
    Hub,
}

impl AnswerPath {
    fn label(self) -> &'static str {
        match self {
            AnswerPath::Static => "static handler in the bridge",
            AnswerPath::Hub => "remote client over the API (hub)",
        }
    }
}

/// One run of `connections` connections, each raising `rate` calls/s.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measured {
    pub connections: usize,
    /// Per connection.
    pub rate: f64,
    /// All connections together.
    pub offered_rate: f64,
    /// Calls raised, over all connections.
    pub calls: u64,
    /// Answers the peers read.
    pub answered: u64,
    /// Answers that said `success: false`, or the bridge's failed and expired calls.
    pub failed: u64,
    /// Answers a peer read for a call it was not waiting for (a double answer): 0.
    pub unexpected_answers: u64,
    /// Calls the bridge counts as answered (its totals): equal to `calls`.
    pub bridge_answered: u64,
    /// Every connection's turn ended in time.
    pub finished: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Times the remote client read the pending calls again after a `lagged` frame.
    pub relisted: u64,
    /// CPU time of the whole process (bridge, API, the synthetic app-servers and the
    /// remote client) per answered call: what a call costs, whatever the load.
    pub cpu_us_per_call: f64,
    /// Answers per second from the first turn's start to the last turn's end.
    pub sustained_rate: f64,
    pub keeps_up: bool,
    /// Request written by the peer to its answer read by the peer, over every call.
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// A point of the grid, with its baseline: one connection at the same total rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    pub path: AnswerPath,
    /// The median run (by sustained rate) of the point's runs.
    pub measured: Measured,
    pub baseline: Measured,
    /// Sustained rate over the baseline's.
    pub rate_ratio: f64,
    /// p99 over the baseline's p99.
    pub p99_ratio: f64,
    /// Every run, when there were several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<Measured>,
}

/// Where a path stopped keeping up.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Knee {
    pub path: AnswerPath,
    /// The highest offered rate that every point up to it kept up with.
    pub kept_up_to: Option<f64>,
    /// The lowest offered rate of a point that did not keep up, and its sustained rate.
    pub first_behind: Option<f64>,
    pub sustained_there: Option<f64>,
    /// The connections of that point.
    pub connections_there: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    pub idle_connections: usize,
    /// RSS of a bridge with one idle connection (the baseline).
    pub one_connection_mib: f64,
    /// RSS after a second bridge with `idle_connections` idle connections started.
    pub with_idle_mib: f64,
    /// RSS after a third bridge with twice as many.
    pub with_twice_idle_mib: f64,
    pub per_connection_kib: f64,
    /// What a bridge costs whatever its connections (its event buffers).
    pub bridge_fixed_kib: f64,
    pub sessions: usize,
    pub calls_per_session: u64,
    /// RSS before and after the sessions were created and given their turn.
    pub before_sessions_mib: f64,
    pub after_sessions_mib: f64,
    pub per_session_kib: f64,
}

/// What `bench fleet` prints (as JSON with `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport {
    pub bench: &'static str,
    pub quick: bool,
    pub seconds: f64,
    pub runs: usize,
    pub answerers: usize,
    pub cores: usize,
    /// The 1-minute load average when the run started and ended.
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    pub memory: Memory,
    pub points: Vec<Point>,
    pub knees: Vec<Knee>,
}

/// A fleet of `n` in-memory synthetic app-servers named `synthetic-0` ...; their
/// reports come back on the returned channel.
fn fleet_members(
    n: usize,
    config: &SyntheticConfig,
) -> (Vec<FleetMember>, mpsc::UnboundedReceiver<SyntheticReport>) {
    let (reports, report_rx) = mpsc::unbounded_channel();
    let members = (0..n)
        .map(|i| {
            let raw = synthetic::spawn_memory_with(
                config.clone(),
                PeerOptions {
                    thread_prefix: format!("synthetic-{i}-thread"),
                    reports: Some(reports.clone()),
                },
            );
            FleetMember {
                spec: AppServerSpec {
                    name: format!("synthetic-{i}"),
                    transport: crate::appserver::TransportSpec::WebSocket {
                        url: format!("memory://synthetic-{i}"),
                        bearer: None,
                    },
                    cwd: None,
                },
                connector: None,
                opened: Some(raw),
            }
        })
        .collect();
    (members, report_rx)
}

fn catalog(path: AnswerPath) -> Result<Arc<Catalog>> {
    match path {
        AnswerPath::Static => static_catalog(),
        AnswerPath::Hub => Catalog::parse(api::MANUAL_CATALOG, std::path::Path::new("bench.toml"))
            .map(Arc::new)
            .map_err(BenchError::from("catalog")),
    }
}

async fn start_fleet(
    path: AnswerPath,
    members: Vec<FleetMember>,
    data_dir: &std::path::Path,
) -> Result<BridgeHandle> {
    let mut config = BridgeConfig::new(synthetic_stdio()?, catalog(path)?);
    config.manual_policy = ManualPolicy::Wait;
    config.data_dir = Some(data_dir.to_path_buf());
    bridge::start_fleet(config, members)
        .await
        .map_err(BenchError::from("starting the bridge"))
}

/// One session on each app-server of the fleet, in order.
async fn sessions_on(bridge: &BridgeHandle, n: usize) -> Result<Vec<String>> {
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let session = bridge
            .create_session(CreateSession {
                app_server: Some(format!("synthetic-{i}")),
                ..CreateSession::default()
            })
            .await
            .map_err(BenchError::from("thread/start"))?;
        threads.push(session.thread_id);
    }
    Ok(threads)
}

/// The remote client of the hub path, as the API asks a worker to be: one websocket for
/// every session's signals, up to `answerers` HTTP answers in flight; on `lagged` (the
/// bridge's event queue overflowed, or this socket fell behind and is closed) it reads
/// the pending calls over HTTP and answers those it has not answered yet, dialing the
/// stream again when it was closed. Counts its failed answers and its re-reads.
struct RemoteClient {
    reader: tokio::task::JoinHandle<()>,
    failed: Arc<AtomicU64>,
    relisted: Arc<AtomicU64>,
    stream_closed: Arc<AtomicBool>,
}

/// The answering half of [`RemoteClient`].
struct Answerer {
    base: String,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    failed: Arc<AtomicU64>,
    /// Calls already answered (or being answered): each is answered once.
    dispatched: std::collections::HashSet<String>,
}

impl Answerer {
    async fn answer(&mut self, request_id: String) -> bool {
        if !self.dispatched.insert(request_id.clone()) {
            return true;
        }
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let (http, base, failed) = (self.http.clone(), self.base.clone(), self.failed.clone());
        tokio::spawn(async move {
            if api::respond(&http, &base, &request_id).await.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
        true
    }

    /// Every pending call, over HTTP, answered unless it was already.
    async fn relist(&mut self) -> bool {
        let listed = match self
            .http
            .get(format!("{}/api/tool-calls", self.base))
            .send()
            .await
        {
            Ok(reply) => reply.json::<serde_json::Value>().await.ok(),
            Err(_) => None,
        };
        let Some(listed) = listed else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        let ids: Vec<String> = listed["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|call| call["requestId"].as_str().map(str::to_string))
            .collect();
        for id in ids {
            if !self.answer(id).await {
                return false;
            }
        }
        true
    }
}

async fn open_stream(url: &str) -> Result<api::Socket> {
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(BenchError::from("stream"))?;
    api::next_of(&mut socket, "ready").await?;
    Ok(socket)
}

async fn remote_client(
    server: &crate::service::ServerHandle,
    answerers: usize,
) -> Result<RemoteClient> {
    let url = format!("ws://{}/api/stream", server.addr());
    let mut socket = open_stream(&url).await?;
    let failed = Arc::new(AtomicU64::new(0));
    let relisted = Arc::new(AtomicU64::new(0));
    let stream_closed = Arc::new(AtomicBool::new(false));
    let mut answerer = Answerer {
        base: server.url(),
        http: reqwest::Client::new(),
        permits: Arc::new(Semaphore::new(answerers)),
        failed: failed.clone(),
        dispatched: std::collections::HashSet::new(),
    };
    // Every frame's text starts with its type; only signals and `lagged` are parsed.
    let signal_prefix = format!("{{\"type\":\"{SIGNAL}\"");
    let (relisted_in, closed_in) = (relisted.clone(), stream_closed.clone());
    let reader = tokio::spawn(async move {
        loop {
            while let Some(Ok(frame)) = socket.next().await {
                let WsMessage::Text(text) = frame else {
                    continue;
                };
                if text.starts_with(&signal_prefix) {
                    let Ok(signal) = serde_json::from_str::<serde_json::Value>(&text) else {
                        answerer.failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let id = signal["payload"]["requestId"].as_str().unwrap_or_default();
                    if !answerer.answer(id.to_string()).await {
                        return;
                    }
                } else if text.starts_with("{\"type\":\"lagged\"") {
                    relisted_in.fetch_add(1, Ordering::Relaxed);
                    if !answerer.relist().await {
                        return;
                    }
                }
            }
            // Closed (it fell too far behind): dial again, then read what was missed.
            closed_in.store(true, Ordering::Relaxed);
            match open_stream(&url).await {
                Ok(again) => socket = again,
                Err(_) => return,
            }
            relisted_in.fetch_add(1, Ordering::Relaxed);
            if !answerer.relist().await {
                return;
            }
        }
    });
    Ok(RemoteClient {
        reader,
        failed,
        relisted,
        stream_closed,
    })
}

/// CPU time this process has used (user and system), in microseconds.
fn cpu_us() -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return 0;
    };
    let us = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec()).unwrap_or(0)
    };
    us(usage.user_time()) + us(usage.system_time())
}

/// Runs one point: `n` connections raising `rate` calls/s each for `seconds`.
pub async fn measure(
    path: AnswerPath,
    n: usize,
    rate: f64,
    seconds: f64,
    answerers: usize,
) -> Result<Measured> {
    let calls_each = ((rate * seconds).round() as u64).max(1);
    let data = tempdir()?;
    let (members, mut reports) = fleet_members(n, &SyntheticConfig::default());
    let bridge = start_fleet(path, members, data.path()).await?;
    let threads = sessions_on(&bridge, n).await?;
    let (server, client) = match path {
        AnswerPath::Static => (None, None),
        AnswerPath::Hub => {
            let server = api::serve(&bridge).await?;
            let client = remote_client(&server, answerers).await?;
            (Some(server), Some(client))
        }
    };
    let text = json!({"callsPerTurn": calls_each, "rate": rate, "tool": "bench_tool"}).to_string();
    let cpu_at_start = cpu_us();
    for thread in &threads {
        bridge
            .send_message(thread, &text)
            .await
            .map_err(BenchError::from("turn/start"))?;
    }
    // Bounded: a point that falls far behind is cut off and reported as such.
    let limit = Duration::from_secs_f64(seconds * 4.0 + 20.0);
    let deadline = Instant::now() + limit;
    let mut got: Vec<SyntheticReport> = Vec::with_capacity(n);
    let mut problem = None;
    while got.len() < n {
        match tokio::time::timeout_at(deadline.into(), reports.recv()).await {
            Ok(Some(report)) => got.push(report),
            Ok(None) => {
                problem = Some("the synthetic app-servers stopped".to_string());
                break;
            }
            Err(_) => {
                problem = Some(format!(
                    "{} of {n} connections finished within {:.0} s",
                    got.len(),
                    limit.as_secs_f64()
                ));
                break;
            }
        }
    }
    let cpu_used = cpu_us().saturating_sub(cpu_at_start);
    let status = bridge.status().await.map_err(BenchError::from("status"))?;
    let mut failed = status.totals.failed + status.totals.expired;
    let mut relisted = 0;
    if let Some(client) = &client {
        failed += client.failed.load(Ordering::Relaxed);
        relisted = client.relisted.load(Ordering::Relaxed);
        if client.stream_closed.load(Ordering::Relaxed) {
            problem = Some(problem.map_or_else(
                || {
                    "the API stream closed the client's socket (lagged): it dialed again"
                        .to_string()
                },
                |p| format!("{p}; the API stream closed the client's socket (lagged)"),
            ));
        }
    }
    if let Some(client) = client {
        client.reader.abort();
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    bridge.shutdown().await;

    let mut latencies = Vec::new();
    let (mut calls, mut answered, mut unexpected, mut elapsed_us) = (0, 0, 0, 0);
    for report in &got {
        calls += report.calls;
        answered += report.answered;
        failed += report.failed_answers;
        unexpected += report.unexpected_answers;
        elapsed_us = elapsed_us.max(report.elapsed_us);
        latencies.extend_from_slice(&report.latencies_us);
    }
    let offered_rate = rate * n as f64;
    let finished = got.len() == n;
    let sustained_rate = if finished {
        answered as f64 / (elapsed_us.max(1) as f64 / 1e6)
    } else {
        // Cut off: what was answered over the whole time allowed.
        let bridge_answered = status.totals.answered_automatically
            + status.totals.answered_by_hand
            + status.totals.answered_remotely;
        bridge_answered as f64 / limit.as_secs_f64()
    };
    let max_us = latencies
        .iter()
        .copied()
        .max()
        .map(f64::from)
        .unwrap_or(0.0);
    Ok(Measured {
        connections: n,
        rate,
        offered_rate,
        calls: if finished {
            calls
        } else {
            calls_each * n as u64
        },
        answered,
        failed,
        unexpected_answers: unexpected,
        bridge_answered: status.totals.answered_automatically
            + status.totals.answered_by_hand
            + status.totals.answered_remotely,
        finished,
        problem,
        sustained_rate,
        keeps_up: finished && sustained_rate >= offered_rate * KEEPS_UP,
        relisted,
        cpu_us_per_call: if answered > 0 {
            cpu_used as f64 / answered as f64
        } else {
            0.0
        },
        p50_us: quantile(&latencies, 0.5),
        p99_us: quantile(&latencies, 0.99),
        max_us,
    })
}

/// The median of `runs` runs of one point, by sustained rate, and every run.
async fn measure_runs(
    path: AnswerPath,
    n: usize,
    rate: f64,
    args: &FleetArgs,
    runs: usize,
) -> Result<(Measured, Vec<Measured>)> {
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        all.push(measure(path, n, rate, args.seconds, args.answerers).await?);
    }
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.sustained_rate.total_cmp(&b.sustained_rate));
    let median = sorted[sorted.len() / 2].clone();
    Ok((median, if runs > 1 { all } else { Vec::new() }))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Calls in each session's turn for the memory-per-session figure.
const CALLS_PER_SESSION: u64 = 20;

/// RSS per idle connection and per session with a transcript; run first, in a fresh
/// process. Three bridges, of 1, M and 2M idle connections: each bridge costs a fixed
/// part (its event buffers) and a part per connection, so the second bridge's RSS
/// increase less the first's is the fixed part plus M connections, and the third's less
/// the second's is M connections. Every bridge stays up until the figures are taken.
async fn memory(args: &FleetArgs) -> Result<Memory> {
    let idle = args.idle_connections.max(1);
    let start_idle = async |n: usize| -> Result<(BridgeHandle, crate::cli::scripted::TempDir)> {
        let data = tempdir()?;
        let (members, _reports) = fleet_members(n, &SyntheticConfig::default());
        let bridge = start_fleet(AnswerPath::Static, members, data.path()).await?;
        Ok((bridge, data))
    };
    let (one, _one_data) = start_idle(1).await?;
    let one_connection = rss_bytes();
    let (many, _many_data) = start_idle(idle).await?;
    let with_idle = rss_bytes();
    let (twice, _twice_data) = start_idle(2 * idle).await?;
    let with_twice = rss_bytes();
    let first = with_idle.saturating_sub(one_connection) as f64;
    let second = with_twice.saturating_sub(with_idle) as f64;
    let per_connection = (second - first).max(0.0) / idle as f64;
    let bridge_fixed = (first - per_connection * idle as f64).max(0.0);

    // Sessions on the one-connection bridge, each given one turn of statically
    // answered calls, so each has a transcript (on disk, and its window in memory).
    let (members, mut reports) = fleet_members(1, &SyntheticConfig::default());
    let session_data = tempdir()?;
    let sessions_bridge = start_fleet(AnswerPath::Static, members, session_data.path()).await?;
    let before_sessions = rss_bytes();
    let text = json!({"callsPerTurn": CALLS_PER_SESSION, "concurrency": 4}).to_string();
    for _ in 0..args.sessions {
        let session = sessions_bridge
            .create_session(CreateSession::default())
            .await
            .map_err(BenchError::from("thread/start"))?;
        sessions_bridge
            .send_message(&session.thread_id, &text)
            .await
            .map_err(BenchError::from("turn/start"))?;
        let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
            .await
            .map_err(BenchError::from("waiting for a session's turn"))?
            .ok_or_else(|| BenchError("the synthetic app-server stopped".to_string()))?;
        if report.answered != CALLS_PER_SESSION {
            return Err(BenchError(format!(
                "a session's turn answered {} of {CALLS_PER_SESSION} calls",
                report.answered
            )));
        }
    }
    let after_sessions = rss_bytes();
    sessions_bridge.shutdown().await;
    twice.shutdown().await;
    many.shutdown().await;
    one.shutdown().await;
    let kib = |bytes: f64| bytes / 1024.0;
    Ok(Memory {
        idle_connections: idle,
        one_connection_mib: mib(one_connection),
        with_idle_mib: mib(with_idle),
        with_twice_idle_mib: mib(with_twice),
        per_connection_kib: kib(per_connection),
        bridge_fixed_kib: kib(bridge_fixed),
        sessions: args.sessions,
        calls_per_session: CALLS_PER_SESSION,
        before_sessions_mib: mib(before_sessions),
        after_sessions_mib: mib(after_sessions),
        per_session_kib: kib(
            after_sessions.saturating_sub(before_sessions) as f64 / args.sessions.max(1) as f64
        ),
    })
}

/// The knee of each path: over the points in order of offered rate.
pub fn knees(points: &[Point]) -> Vec<Knee> {
    let mut paths: Vec<AnswerPath> = points.iter().map(|p| p.path).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|path| {
            let mut of_path: Vec<&Measured> = points
                .iter()
                .filter(|p| p.path == path)
                .flat_map(|p| [&p.measured, &p.baseline])
                .collect();
            of_path.sort_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
            let behind = of_path.iter().find(|m| !m.keeps_up);
            let kept_up_to = of_path
                .iter()
                .take_while(|m| m.keeps_up)
                .map(|m| m.offered_rate)
                .last();
            Knee {
                path,
                kept_up_to,
                first_behind: behind.map(|m| m.offered_rate),
                sustained_there: behind.map(|m| m.sustained_rate),
                connections_there: behind.map(|m| m.connections),
            }
        })
        .collect()
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs the whole bench and returns its report.
pub async fn report(args: &FleetArgs, runs: usize) -> Result<FleetReport> {
    let args = args.checked()?;
    let load_before = load_average();
    let memory = memory(&args).await?;
    let paths = match args.path {
        PathChoice::Static => vec![AnswerPath::Static],
        PathChoice::Hub => vec![AnswerPath::Hub],
        PathChoice::Both => vec![AnswerPath::Static, AnswerPath::Hub],
    };
    let mut points = Vec::new();
    for path in paths {
        // Baselines by total rate (in millicalls/s, to key floats), measured once each.
        let mut baselines: BTreeMap<u64, Measured> = BTreeMap::new();
        for &rate in &args.rates {
            for &n in &args.connections {
                let (measured, all) = measure_runs(path, n, rate, &args, runs).await?;
                let total = rate * n as f64;
                let key = (total * 1000.0).round() as u64;
                let baseline = if n == 1 {
                    measured.clone()
                } else if let Some(known) = baselines.get(&key) {
                    known.clone()
                } else {
                    measure_runs(path, 1, total, &args, runs).await?.0
                };
                baselines.entry(key).or_insert_with(|| baseline.clone());
                points.push(Point {
                    path,
                    rate_ratio: ratio(measured.sustained_rate, baseline.sustained_rate),
                    p99_ratio: ratio(measured.p99_us, baseline.p99_us),
                    measured,
                    baseline,
                    runs: all,
                });
            }
        }
    }
    let knees = knees(&points);
    Ok(FleetReport {
        bench: "fleet",
        quick: args.quick,
        seconds: args.seconds,
        runs,
        answerers: args.answerers,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_before,
        load_after: load_average(),
        memory,
        points,
        knees,
    })
}

fn ratio(value: f64, baseline: f64) -> f64 {
    if baseline == 0.0 {
        0.0
    } else {
        value / baseline
    }
}

/// The report as a table: one line per point, then memory and the knees.
pub fn table(report: &FleetReport) -> String {
    let mut out = format!(
        "bench fleet: {} s per point, {} run(s) each (median by sustained rate),\nload average {} -> {}\n",
        report.seconds,
        report.runs,
        report
            .load_before
            .map_or("?".to_string(), |l| format!("{l:.2}")),
        report
            .load_after
            .map_or("?".to_string(), |l| format!("{l:.2}")),
    );
    let mut path = None;
    for point in &report.points {
        if path != Some(point.path) {
            path = Some(point.path);
            out.push_str(&format!(
                "\nanswered by the {}\n(latency: request written -> answer read by the app-server;\n \
                 x1c: ratio to 1 connection raising the same total rate)\n",
                point.path.label()
            ));
            out.push_str(&format!(
                "{:>5} {:>7} {:>8} {:>9} {:>7} {:>7} {:>7} {:>3} {:>6} {:>6}\n",
                "conns",
                "rate/c",
                "offered",
                "sustained",
                "p50 ms",
                "p99 ms",
                "max ms",
                "ok",
                "rt x1c",
                "p99x1c"
            ));
        }
        let m = &point.measured;
        out.push_str(&format!(
            "{:>5} {:>7.0} {:>8.0} {:>9.0} {:>7.2} {:>7.2} {:>7.1} {:>3} {:>6.2} {:>6.2}\n",
            m.connections,
            m.rate,
            m.offered_rate,
            m.sustained_rate,
            m.p50_us / 1000.0,
            m.p99_us / 1000.0,
            m.max_us / 1000.0,
            if m.keeps_up { "yes" } else { "NO" },
            point.rate_ratio,
            point.p99_ratio,
        ));
        for problem in [&m.problem, &point.baseline.problem].into_iter().flatten() {
            out.push_str(&format!("      {problem}\n"));
        }
    }
    for knee in &report.knees {
        out.push_str(&format!("\nknee, {}:\n  ", knee.path.label()));
        match (
            knee.first_behind,
            knee.sustained_there,
            knee.connections_there,
        ) {
            (Some(offered), Some(sustained), Some(n)) => out.push_str(&format!(
                "kept up to {} calls/s offered; first behind at {offered:.0} calls/s\n  \
                 offered over {n} connection(s): {sustained:.0} calls/s sustained",
                knee.kept_up_to
                    .map_or("no".to_string(), |k| format!("{k:.0}"))
            )),
            _ => out.push_str(&format!(
                "kept up with every point (up to {} calls/s offered)",
                knee.kept_up_to
                    .map_or("?".to_string(), |k| format!("{k:.0}"))
            )),
        }
    }
    let m = &report.memory;
    out.push_str(&format!(
        "\n\nmemory: {:.1} KiB per idle connection, {:.0} KiB per bridge (RSS with bridges of\n  1, {} and {} connections: {:.1}, {:.1}, {:.1} MiB)\n",
        m.per_connection_kib,
        m.bridge_fixed_kib,
        m.idle_connections,
        2 * m.idle_connections,
        m.one_connection_mib,
        m.with_idle_mib,
        m.with_twice_idle_mib
    ));
    out.push_str(&format!(
        "memory: {} sessions, one turn of {} calls each, transcripts on disk:\n  {:.1} KiB each (RSS {:.1} -> {:.1} MiB)",
        m.sessions, m.calls_per_session, m.per_session_kib, m.before_sessions_mib, m.after_sessions_mib
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> FleetArgs {
        FleetArgs {
            connections: vec![3, 1],
            rates: vec![40.0],
            seconds: 0.1,
            path: PathChoice::Both,
            answerers: 2,
            idle_connections: 2,
            sessions: 3,
            quick: false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_call_of_every_connection_is_answered_once_on_both_paths() {
        let report = report(&tiny(), 1).await.unwrap();
        // 2 paths x (1 and 3 connections); the 3-connection point has its own baseline.
        assert_eq!(report.points.len(), 4);
        for point in &report.points {
            let m = &point.measured;
            assert!(m.finished, "{:?}", m.problem);
            assert_eq!(m.offered_rate, 40.0 * m.connections as f64);
            // 40 calls/s for 0.1 s: 4 calls on each connection.
            assert_eq!(m.calls, 4 * m.connections as u64, "{point:?}");
            assert_eq!(m.answered, m.calls);
            assert_eq!(m.bridge_answered, m.calls);
            assert_eq!((m.failed, m.unexpected_answers), (0, 0));
            // The baseline: one connection raising the same total.
            let b = &point.baseline;
            assert_eq!(b.connections, 1);
            assert_eq!(b.offered_rate, m.offered_rate);
            assert_eq!(b.answered, m.calls);
            assert_eq!((b.failed, b.unexpected_answers), (0, 0));
        }
        let paths: Vec<_> = report.points.iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                AnswerPath::Static,
                AnswerPath::Static,
                AnswerPath::Hub,
                AnswerPath::Hub
            ]
        );
        assert_eq!(report.memory.idle_connections, 2);
        assert_eq!(report.memory.sessions, 3);
        assert_eq!(report.knees.len(), 2);
    }

    #[tokio::test]
    async fn the_json_has_the_documented_shape() {
        let args = FleetArgs {
            connections: vec![2],
            path: PathChoice::Static,
            ..tiny()
        };
        let report = report(&args, 2).await.unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["bench"], "fleet");
        for key in ["seconds", "runs", "answerers", "cores"] {
            assert!(json[key].is_number(), "{key}");
        }
        for key in [
            "perConnectionKib",
            "perSessionKib",
            "oneConnectionMib",
            "withIdleMib",
            "withTwiceIdleMib",
            "bridgeFixedKib",
            "beforeSessionsMib",
            "afterSessionsMib",
        ] {
            assert!(json["memory"][key].is_number(), "memory.{key}");
        }
        let point = &json["points"][0];
        assert_eq!(point["path"], "static");
        assert_eq!(point["runs"].as_array().map(Vec::len), Some(2));
        for key in [
            "connections",
            "rate",
            "offeredRate",
            "calls",
            "answered",
            "sustainedRate",
            "cpuUsPerCall",
            "relisted",
            "p50Us",
            "p99Us",
            "maxUs",
        ] {
            assert!(point["measured"][key].is_number(), "measured.{key}");
            assert!(point["baseline"][key].is_number(), "baseline.{key}");
        }
        assert!(point["measured"]["keepsUp"].is_boolean());
        assert!(point["measured"].get("problem").is_none());
        assert_eq!(json["knees"][0]["path"], "static");
        let table = table(&report);
        assert!(table.contains("answered by the static handler in the bridge"));
        assert!(table.contains("KiB per idle connection"));
    }

    fn measured(connections: usize, offered: f64, keeps_up: bool) -> Measured {
        Measured {
            connections,
            rate: offered / connections as f64,
            offered_rate: offered,
            calls: 10,
            answered: 10,
            failed: 0,
            unexpected_answers: 0,
            bridge_answered: 10,
            relisted: 0,
            cpu_us_per_call: 1.0,
            finished: true,
            problem: None,
            sustained_rate: if keeps_up { offered } else { offered / 2.0 },
            keeps_up,
            p50_us: 1.0,
            p99_us: 2.0,
            max_us: 3.0,
        }
    }

    fn point(connections: usize, offered: f64, keeps_up: bool, baseline_keeps_up: bool) -> Point {
        Point {
            path: AnswerPath::Hub,
            measured: measured(connections, offered, keeps_up),
            baseline: measured(1, offered, baseline_keeps_up),
            rate_ratio: 1.0,
            p99_ratio: 1.0,
            runs: Vec::new(),
        }
    }

    #[test]
    fn the_knee_is_the_first_offered_rate_not_kept_up_with() {
        let points = [
            point(4, 400.0, true, true),
            point(16, 1_600.0, false, true),
            point(8, 800.0, true, true),
            point(32, 3_200.0, false, false),
        ];
        let knee = &knees(&points)[0];
        assert_eq!(knee.kept_up_to, Some(800.0));
        assert_eq!(knee.first_behind, Some(1_600.0));
        assert_eq!(knee.connections_there, Some(16));
        assert_eq!(knee.sustained_there, Some(800.0));

        let all_fine = [point(4, 400.0, true, true)];
        let knee = &knees(&all_fine)[0];
        assert_eq!((knee.kept_up_to, knee.first_behind), (Some(400.0), None));
    }

    #[test]
    fn bad_arguments_say_what_to_fix() {
        let no_rates = FleetArgs {
            rates: vec![0.0],
            ..tiny()
        };
        assert!(no_rates.checked().unwrap_err().0.contains("--rates"));
        let no_connections = FleetArgs {
            connections: vec![0],
            ..tiny()
        };
        assert!(
            no_connections
                .checked()
                .unwrap_err()
                .0
                .contains("--connections")
        );
        let quick = FleetArgs {
            quick: true,
            ..tiny()
        }
        .checked()
        .unwrap();
        assert_eq!(quick.connections, [1, 2, 4]);
        assert_eq!(quick.seconds, 0.3);
    }
}

//! Memory: the console holding many sessions and rows, the bridge's RSS over many
//! calls on the synthetic app-server, and `serve`'s RSS over many sessions created,
//! used and closed through the API.

use clap::Args;
use serde_json::json;

use super::bridge::{session_turn, static_catalog, synthetic_stdio, tempdir};
use super::console::loaded_app;
use super::{BenchError, Figure, Result, rss_bytes};
use crate::bridge::{self, BridgeConfig};
use crate::lab::synthetic;

#[derive(Debug, Clone, Args)]
pub struct MemoryArgs {
    /// Calls for the flat-RSS run, in turns of 100,000.
    #[arg(long, default_value_t = 1_000_000)]
    pub calls: u64,
    /// Sessions created, given a turn and closed over HTTP for the `serve` run.
    #[arg(long, default_value_t = 10_000)]
    pub sessions: u64,
}

impl Default for MemoryArgs {
    fn default() -> Self {
        MemoryArgs {
            calls: 1_000_000,
            sessions: 10_000,
        }
    }
}

/// Calls in each session's one turn in the `serve` run.
const CALLS_PER_SESSION: u64 = 10;
/// Sessions after which the `serve` run takes its baseline.
const BASELINE_SESSIONS: u64 = 100;

/// What `serve` is made of (bridge, transcripts on disk, the API on loopback), with the
/// synthetic app-server as a child over stdio so that only Switchboard is measured:
/// `sessions` sessions created (`POST /api/sessions`), given one turn of 10 calls
/// answered by a static handler (`POST .../messages`), and closed (`DELETE`), one after
/// another. RSS is sampled after 100 sessions and every 1,000.
/// What the `serve` run measured.
struct ServeRun {
    /// (sessions so far, RSS in MiB).
    samples: Vec<(u64, f64)>,
    seconds: f64,
    /// Calls that ended expired: answered while their session was being closed.
    expired: u64,
}

async fn serve_sessions(sessions: u64) -> Result<ServeRun> {
    let started = std::time::Instant::now();
    let data = tempdir()?;
    let mut config = BridgeConfig::new(synthetic_stdio()?, static_catalog()?);
    config.data_dir = Some(data.path().to_path_buf());
    let bridge = bridge::start(config)
        .await
        .map_err(BenchError::from("bridge"))?;
    let server = super::api::serve(&bridge).await?;
    let base = server.url();
    let client = reqwest::Client::new();
    let text = json!({ "callsPerTurn": CALLS_PER_SESSION, "concurrency": 2 }).to_string();
    let mut samples = Vec::new();
    for n in 1..=sessions {
        let created = post_json(&client, &format!("{base}/api/sessions"), json!({})).await?;
        let id = created["session"]["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let accepted = post_json(
            &client,
            &format!("{base}/api/sessions/{id}/messages"),
            json!({ "text": text }),
        )
        .await?;
        let turn = accepted["turnId"].as_str().unwrap_or_default().to_string();
        let ended = bridge
            .wait_turn(&id, &turn)
            .await
            .map_err(BenchError::from("waiting for the turn"))?;
        if ended.status != crate::protocol::TurnStatus::Completed {
            return Err(BenchError(format!("turn {turn} ended {:?}", ended.status)));
        }
        let deleted = client
            .delete(format!("{base}/api/sessions/{id}"))
            .send()
            .await
            .map_err(BenchError::from("DELETE session"))?;
        if !deleted.status().is_success() {
            return Err(BenchError(format!("DELETE answered {}", deleted.status())));
        }
        if n == BASELINE_SESSIONS || n % 1_000 == 0 || n == sessions {
            samples.push((n, mib(rss_bytes())));
        }
    }
    let status = bridge.status().await.map_err(BenchError::from("status"))?;
    server.shutdown().await;
    bridge.shutdown().await;
    // A call whose answer is still being written when its session is closed ends as
    // expired; every call ends one way or the other.
    let ended = status.totals.answered_automatically + status.totals.expired;
    if ended != sessions * CALLS_PER_SESSION {
        return Err(BenchError(format!(
            "{ended} calls ended, expected {}",
            sessions * CALLS_PER_SESSION
        )));
    }
    Ok(ServeRun {
        samples,
        seconds: started.elapsed().as_secs_f64(),
        expired: status.totals.expired,
    })
}

async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let reply = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(BenchError::from("POST"))?;
    let status = reply.status();
    let value: serde_json::Value = reply.json().await.map_err(BenchError::from("reply"))?;
    if !status.is_success() {
        return Err(BenchError(format!("POST {url} answered {status}: {value}")));
    }
    Ok(value)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub async fn run(args: &MemoryArgs) -> Result<Vec<Figure>> {
    let before = rss_bytes();
    let app = loaded_app(100, 1_000, 0)?;
    let with_app = rss_bytes();
    let rows: usize = app.model.transcripts.values().map(|t| t.rows.len()).sum();
    if rows != 100_000 {
        return Err(BenchError(format!("expected 100,000 rows, built {rows}")));
    }
    drop(app);

    let data = tempdir()?;
    let mut config = BridgeConfig::new(synthetic_stdio()?, static_catalog()?);
    config.data_dir = Some(data.path().to_path_buf());
    let bridge = bridge::start_on(
        config,
        synthetic::spawn_memory(synthetic::SyntheticConfig::default()),
    )
    .await
    .map_err(BenchError::from("bridge"))?;
    let turns = (args.calls / 100_000).max(1);
    let mut samples = Vec::new();
    let mut answered = 0;
    // One session for every turn: what grows with sessions is not what is measured here.
    let session = bridge
        .create_session(crate::bridge::CreateSession::default())
        .await
        .map_err(BenchError::from("session"))?;
    for _ in 0..turns {
        let overrides = json!({"callsPerTurn": 100_000, "concurrency": 64});
        let report = session_turn(&bridge, &session.thread_id, overrides).await?;
        answered += report.answered;
        samples.push(mib(rss_bytes()));
    }
    bridge.shutdown().await;
    let serve = serve_sessions(args.sessions).await?;
    let first = samples.first().copied().unwrap_or(0.0);
    let last = samples.last().copied().unwrap_or(0.0);
    let peak = samples.iter().copied().fold(0.0, f64::max);
    Ok(vec![
        Figure::new(
            "console app with 100 sessions and 100,000 rows: RSS added",
            "MiB",
            &[mib(with_app.saturating_sub(before))],
        )
        .note(format!(
            "process RSS {:.1} MiB with the app, {:.1} MiB before",
            mib(with_app),
            mib(before)
        ))
        .target("the console holds it in < 64 MB RSS"),
        Figure::new(
            &format!("bridge RSS after {answered} calls (sampled every 100,000)"),
            "MiB",
            &[last],
        )
        .against("RSS after the first 100,000 calls", &[first])
        .note(format!("peak {peak:.1} MiB; samples {samples:.1?}"))
        .target("flat over 1,000,000 calls"),
        serve_figure(&serve),
    ])
}

fn serve_figure(run: &ServeRun) -> Figure {
    let samples = &run.samples;
    let (last_n, last) = samples.last().copied().unwrap_or((0, 0.0));
    let baseline = samples
        .iter()
        .find(|(n, _)| *n == BASELINE_SESSIONS)
        .or(samples.first())
        .map_or(0.0, |(_, rss)| *rss);
    let peak = samples.iter().map(|(_, rss)| *rss).fold(0.0, f64::max);
    let shown: Vec<String> = samples
        .iter()
        .map(|(n, rss)| format!("{n}: {rss:.1}"))
        .collect();
    Figure::new(
        &format!(
            "serve RSS after {last_n} sessions created, given a turn of {CALLS_PER_SESSION} calls and closed over HTTP"
        ),
        "MiB",
        &[last],
    )
    .against(&format!("RSS after {BASELINE_SESSIONS} sessions"), &[baseline])
    .note(format!(
        "peak {peak:.1} MiB; sessions: MiB {}; {:.0} s; {} call(s) expired by their session's close",
        shown.join(", "),
        run.seconds,
        run.expired
    ))
    .target("flat: closed sessions leave memory")
}

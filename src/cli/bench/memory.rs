//! Memory: the console holding many sessions and rows, and the bridge's RSS over many
//! calls on the synthetic app-server.

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
}

impl Default for MemoryArgs {
    fn default() -> Self {
        MemoryArgs { calls: 1_000_000 }
    }
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
    ])
}

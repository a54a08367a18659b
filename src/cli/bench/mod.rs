//! `switchboard bench`: end-to-end benchmarks. Each figure is measured against a baseline
//! in the same run and printed with its ratio; `--json` prints one JSON object per
//! figure. docs/PERFORMANCE.md records the results and the commands.

mod api;
mod bridge;
mod codex;
mod console;
pub mod fleet;
mod handlers;
mod memory;
mod session_memory;
mod startup;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{exit, out, report_error};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Which,
    /// Print one JSON object per figure instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Repeat each measurement this many times (median and spread are over the runs):
    /// 5 unless given, 1 for `fleet` (whose grid is long already).
    #[arg(long, global = true)]
    pub runs: Option<usize>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Which {
    /// Everything below but `fleet`, one after another.
    All,
    /// Bridge core on the synthetic app-server: throughput and added latency.
    Bridge(bridge::BridgeArgs),
    /// Handlers: worker and command latency, 1,000 slow handlers in flight.
    Handlers,
    /// One-call turns through the real codex and the scripted model.
    Codex(codex::CodexArgs),
    /// Console: frame time, idle redraws, first frame, input latency under load.
    Console,
    /// Memory: console rows, and RSS over many calls.
    Memory(memory::MemoryArgs),
    /// Start-up: `switchboard catalog check`.
    Startup,
    /// The API: respond round trip, stream event delay, listing 1,000 pending calls.
    Api,
    /// One bridge over N synthetic app-servers, each raising calls at R per second,
    /// answered in the bridge or by a remote client over the API: sustained rate,
    /// latency, the knee, memory per connection and per session (docs/SCALING.md).
    Fleet(fleet::FleetArgs),
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
    /// What the ratio divides by, measured in the same run.
    pub baseline: Option<String>,
    pub baseline_median: Option<f64>,
    pub ratio: Option<f64>,
    pub target: Option<String>,
    pub note: Option<String>,
    /// The per-hop timeline of the measured path, when it has one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<Hop>,
}

/// One hop of a timeline: the median time from one mark to the next.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hop {
    pub from: String,
    pub to: String,
    pub median_ms: f64,
    /// Turns in which both marks were seen.
    pub turns: usize,
    /// Codex's own work, not the bridge's or a client's.
    pub codex: bool,
}

impl Figure {
    pub fn new(name: &str, unit: &str, samples: &[f64]) -> Figure {
        let stats = Stats::of(samples);
        Figure {
            name: name.to_string(),
            unit: unit.to_string(),
            median: stats.median,
            min: stats.min,
            max: stats.max,
            runs: samples.len(),
            baseline: None,
            baseline_median: None,
            ratio: None,
            target: None,
            note: None,
            hops: Vec::new(),
        }
    }

    pub fn against(mut self, baseline: &str, samples: &[f64]) -> Figure {
        let median = Stats::of(samples).median;
        self.baseline = Some(baseline.to_string());
        self.baseline_median = Some(median);
        self.ratio = (median != 0.0).then(|| self.median / median);
        self
    }

    pub fn target(mut self, target: &str) -> Figure {
        self.target = Some(target.to_string());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }

    pub fn hops(mut self, hops: Vec<Hop>) -> Figure {
        self.hops = hops;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Stats {
        if samples.is_empty() {
            return Stats {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Stats {
            median: sorted[sorted.len() / 2],
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        }
    }
}

/// The `q`-quantile (0..=1) of `values`.
pub fn quantile(values: &[u32], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[index.min(sorted.len() - 1)])
}

/// Errors end a benchmark with a message; they are never hidden in a figure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

impl BenchError {
    pub fn from<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> BenchError + '_ {
        move |e| BenchError(format!("{context}: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, BenchError>;

fn print(figure: &Figure, json: bool) {
    if json {
        out(&serde_json::to_string(figure).unwrap_or_default());
        return;
    }
    let mut line = format!(
        "{:<58} {:>12.3} {:<8} (min {:.3}, max {:.3}, {} run(s))",
        figure.name, figure.median, figure.unit, figure.min, figure.max, figure.runs
    );
    if let (Some(baseline), Some(base), Some(ratio)) =
        (&figure.baseline, figure.baseline_median, figure.ratio)
    {
        line.push_str(&format!(
            "\n{:<58} {:>12.3} {:<8} ratio {:.3}",
            format!("  baseline: {baseline}"),
            base,
            figure.unit,
            ratio
        ));
    }
    if let Some(target) = &figure.target {
        line.push_str(&format!("\n  target: {target}"));
    }
    if let Some(note) = &figure.note {
        line.push_str(&format!("\n  note: {note}"));
    }
    if !figure.hops.is_empty() {
        let (mut own, mut codex) = (0.0, 0.0);
        for hop in &figure.hops {
            if hop.codex {
                codex += hop.median_ms;
            } else {
                own += hop.median_ms;
            }
            line.push_str(&format!(
                "\n    {:>9.3} ms  {} -> {}{}",
                hop.median_ms,
                hop.from,
                hop.to,
                if hop.codex { "  (codex)" } else { "" }
            ));
        }
        line.push_str(&format!(
            "\n    {own:>9.3} ms  sum of the hops outside codex; {codex:.3} ms in codex"
        ));
    }
    out(&line);
}

pub async fn run(args: BenchArgs) -> u8 {
    let runs = args.runs.unwrap_or(match args.which {
        Which::Fleet(_) => 1,
        _ => 5,
    });
    let runs = runs.max(1);
    let which = match &args.which {
        Which::All => vec![
            Which::Startup,
            Which::Bridge(bridge::BridgeArgs::default()),
            Which::Handlers,
            Which::Api,
            Which::Console,
            Which::Memory(memory::MemoryArgs::default()),
            Which::Codex(codex::CodexArgs::default()),
        ],
        other => vec![other.clone()],
    };
    if !args.json {
        out(&format!(
            "switchboard {} bench on {} core(s); medians over {runs} run(s)",
            env!("CARGO_PKG_VERSION"),
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        ));
    }
    for which in which {
        let figures = match which {
            Which::All => Ok(Vec::new()),
            Which::Bridge(a) => bridge::run(&a, runs).await,
            Which::Handlers => handlers::run(runs).await,
            Which::Codex(a) => codex::run(&a, runs).await,
            Which::Console => console::run(runs).await,
            Which::Memory(a) => memory::run(&a).await,
            Which::Startup => startup::run(runs).await,
            Which::Api => api::run(runs).await,
            Which::Fleet(a) => match fleet::report(&a, runs).await {
                Ok(report) => {
                    if args.json {
                        out(&serde_json::to_string(&report).unwrap_or_default());
                    } else {
                        out(&fleet::table(&report));
                    }
                    Ok(Vec::new())
                }
                Err(e) => Err(e),
            },
        };
        match figures {
            Ok(figures) => {
                for figure in &figures {
                    print(figure, args.json);
                }
            }
            Err(e) => {
                report_error(&format!("benchmark failed: {e}"));
                return exit::APP_SERVER;
            }
        }
    }
    exit::OK
}

/// The path of this very binary, to start the synthetic app-server and other children.
pub fn self_exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().map_err(BenchError::from("cannot find the switchboard binary"))
}

/// Resident set size of this process in bytes, from /proc.
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

//! `switchboard soak`: the fault-injection soak run on the synthetic app-server, with a
//! JSON summary on stdout (docs/RELIABILITY.md).

use clap::Args;

use super::{exit, out, report_error};
use crate::lab::soak::{SoakConfig, run};

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Calls to raise in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub calls: u64,
    /// Seed of the fault and answer choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sessions driving turns at once, on each app-server.
    #[arg(long, default_value_t = 4)]
    pub sessions: usize,
    /// Synthetic app-servers the bridge drives at once (each its own connection, request
    /// ids and faults; the second is killed once and comes back).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub app_servers: usize,
    /// Claimants that go through the API of an in-process `serve` on loopback (HTTP
    /// claims and answers, the websocket for the calls), besides the in-process ones.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub remote_claimants: usize,
}

/// Exit 0 when every promise held, 1 when one broke (the summary lists which).
pub async fn run_soak(args: SoakArgs) -> u8 {
    let _log_guard = super::init_file_logging(&super::paths::data_dir(None), "soak.log");
    let mut config = SoakConfig::new(args.calls, args.seed);
    config.sessions = args.sessions.max(1);
    config.app_servers = args.app_servers.max(1);
    config.remote_claimants = args.remote_claimants;
    match run(config).await {
        Ok(report) => {
            out(&serde_json::to_string_pretty(&report).unwrap_or_default());
            if report.passed() {
                exit::OK
            } else {
                report_error(&format!(
                    "the soak run broke: {}",
                    report.violations.join("; ")
                ));
                exit::TURN_NOT_COMPLETED
            }
        }
        Err(e) => {
            report_error(&e.to_string());
            exit::APP_SERVER
        }
    }
}

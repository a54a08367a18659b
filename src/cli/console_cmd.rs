//! `switchboard` (the console) and `switchboard demo`.

use std::path::PathBuf;

use clap::Args;

use super::start::{load_catalog, start_bridge};
use super::{AppServerArgs, exit, report_error};
use crate::bridge::ManualPolicy;
use crate::console::{self, ConsoleOptions};

#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// The tool catalog (TOML) whose tools new sessions declare.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Run codex against the embedded scripted model (a built-in scenario name or a
    /// scenario file; see docs/scripted-model.md).
    #[arg(long, value_name = "SCENARIO", num_args = 0..=1, default_missing_value = "auto")]
    pub scripted_model: Option<String>,
    #[command(flatten)]
    pub app_server: AppServerArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The scripted model's scenario.
    #[arg(long, value_name = "SCENARIO", default_value = "auto")]
    pub scenario: String,
    /// The catalog to demonstrate (default: the example in assets/).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    #[command(flatten)]
    pub app_server: AppServerArgs,
}

/// The message the demo puts in the composer: one call answered by a handler, one by
/// a person.
pub const DEMO_MESSAGE: &str =
    "Look up ticket T-1 and escalate it: call:lookup_ticket call:escalate_ticket";

pub fn demo_catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/support.toml")
}

pub async fn run(args: ConsoleArgs) -> u8 {
    let options = ConsoleOptions::default();
    // Earlier sessions can only be resumed from a CODEX_HOME that outlives the run; the
    // scripted model's is temporary.
    let restore = args.scripted_model.is_none();
    start_and_run(args, options, restore).await
}

pub async fn demo(args: DemoArgs) -> u8 {
    let console_args = ConsoleArgs {
        catalog: Some(args.catalog.unwrap_or_else(demo_catalog)),
        scripted_model: Some(args.scenario),
        app_server: args.app_server,
    };
    let options = ConsoleOptions {
        first_message: Some(DEMO_MESSAGE.to_string()),
        ..ConsoleOptions::default()
    };
    start_and_run(console_args, options, false).await
}

async fn start_and_run(args: ConsoleArgs, options: ConsoleOptions, restore_sessions: bool) -> u8 {
    let data_dir = args.app_server.data_dir();
    let _log_guard = super::init_file_logging(&data_dir, "console.log");
    let catalog = match load_catalog(args.catalog.as_deref()) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let started = match start_bridge(
        &args.app_server,
        catalog,
        args.scripted_model.as_deref(),
        ManualPolicy::Wait,
        restore_sessions,
    )
    .await
    {
        Ok(started) => started,
        Err(code) => return code,
    };
    let result = console::run(started.bridge.clone(), options).await;
    started.bridge.shutdown().await;
    drop(started);
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            report_error(&e.to_string());
            exit::APP_SERVER
        }
    }
}

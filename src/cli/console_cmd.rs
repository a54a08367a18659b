//! `switchboard` (the console) and `switchboard demo`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::start::{Recovery, ScriptedChoice, load_catalog};
use super::{AppServerArgs, exit, report_error};
use crate::bridge::ManualPolicy;
use crate::console::app::ListenInfo;
use crate::console::{self, ConsoleOptions};

#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// The tool catalog (TOML) whose tools new sessions declare. It is reloaded when the
    /// file changes: handlers at once, tool definitions for new sessions.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Do not reload the catalog when its file changes.
    #[arg(long)]
    pub no_watch: bool,
    /// Run codex against the embedded scripted model (a built-in scenario name or a
    /// scenario file; see docs/scripted-model.md).
    #[arg(long, value_name = "SCENARIO", num_args = 0..=1, default_missing_value = "auto")]
    pub scripted_model: Option<String>,
    #[command(flatten)]
    pub sessions: SessionArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub app_server: AppServerArgs,
    /// Attempts to restart or redial app-server after the connection is lost, before
    /// giving up (then R in the console tries again).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub reconnect_attempts: u32,
    /// Attach to a running `switchboard serve` at URL (http://HOST:PORT) instead of
    /// starting a bridge: the same console over its API. Calls wait in `serve` while no
    /// console is attached, so closing or restarting this one loses nothing.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["catalog", "scripted_model", "listen", "no_watch"]
    )]
    pub remote: Option<String>,
    /// The bearer token of the `serve` given with --remote (default: $SWITCHBOARD_TOKEN,
    /// $CODEX_MANAGER_BEARER_TOKEN, the codex-manager profile's, then the token file
    /// `serve` wrote, for a server on this machine).
    #[arg(long, value_name = "TOKEN", requires = "remote")]
    pub token: Option<String>,
}

/// The sessions the console creates.
#[derive(Debug, Clone, Default, Args)]
pub struct SessionArgs {
    /// The approval policy of new sessions (untrusted, on-failure, on-request, never);
    /// default: codex's configuration. With `untrusted`, codex asks before running
    /// commands and writing files, and the console shows each request as a card.
    #[arg(long, value_name = "POLICY", value_parser = super::serve::parse_policy)]
    pub approval_policy: Option<crate::service::wire::ApprovalPolicy>,
    /// The sandbox of new sessions (read-only, workspace-write, danger-full-access);
    /// default: codex's configuration.
    #[arg(long, value_name = "MODE", value_parser = super::serve::parse_sandbox)]
    pub sandbox: Option<crate::service::wire::FilesystemSandbox>,
}

impl SessionArgs {
    fn defaults(&self) -> console::SessionDefaults {
        console::SessionDefaults {
            approval_policy: self.approval_policy.map(|p| p.codex_value().to_string()),
            sandbox: self.sandbox.map(|s| s.as_str().to_string()),
        }
    }
}

/// Serving the API from the console.
#[derive(Debug, Clone, Default, Args)]
pub struct ListenArgs {
    /// Also serve the HTTP + websocket API here (as `switchboard serve` does), so remote
    /// handlers and the CLI can answer this console's calls.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve the API without a bearer token; only allowed on a loopback address.
    #[arg(long, requires = "listen")]
    pub no_auth: bool,
    /// Where the API token is kept (default: $XDG_CONFIG_HOME/switchboard/token).
    #[arg(
        long,
        value_name = "PATH",
        requires = "listen",
        conflicts_with = "no_auth"
    )]
    pub token_file: Option<PathBuf>,
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
    pub listen: ListenArgs,
    #[command(flatten)]
    pub app_server: AppServerArgs,
    /// Attempts to restart or redial app-server after the connection is lost, before
    /// giving up (then R in the console tries again).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub reconnect_attempts: u32,
}

/// The message the demo puts in the composer: one call answered by a handler, one by
/// a person.
pub const DEMO_MESSAGE: &str =
    "Look up ticket T-1 and escalate it: call:lookup_ticket call:escalate_ticket";

/// The example catalog in the source tree, where a developer's edits show up at once.
pub fn demo_catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/support.toml")
}

/// The example catalog and its handler scripts, built into the binary for a demo run
/// away from the source tree (an installed or copied binary).
const EMBEDDED_DEMO: [(&str, &str); 3] = [
    ("support.toml", include_str!("../../assets/support.toml")),
    (
        "handlers/lookup_ticket.py",
        include_str!("../../assets/handlers/lookup_ticket.py"),
    ),
    (
        "handlers/search_kb.py",
        include_str!("../../assets/handlers/search_kb.py"),
    ),
];

/// The demo's catalog: the source tree's when it is there, else the embedded copy
/// written under `data_dir/demo` (its handlers' paths are relative to the catalog).
pub fn demo_catalog_in(data_dir: &Path) -> std::io::Result<PathBuf> {
    tree_or_embedded(demo_catalog(), data_dir)
}

fn tree_or_embedded(in_tree: PathBuf, data_dir: &Path) -> std::io::Result<PathBuf> {
    if in_tree.is_file() {
        return Ok(in_tree);
    }
    let dir = data_dir.join("demo");
    for (name, text) in EMBEDDED_DEMO {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(dir.join("support.toml"))
}

pub async fn run(args: ConsoleArgs) -> u8 {
    if let Some(url) = args.remote.clone() {
        return run_remote(args, &url).await;
    }
    // Earlier sessions can only be resumed from a CODEX_HOME that outlives the run; the
    // scripted model's is temporary.
    let restore = args.scripted_model.is_none();
    start_and_run(args, ConsoleOptions::default(), restore).await
}

pub async fn demo(args: DemoArgs) -> u8 {
    let catalog = match args.catalog {
        Some(catalog) => catalog,
        None => match demo_catalog_in(&args.app_server.data_dir()) {
            Ok(catalog) => catalog,
            Err(e) => {
                report_error(&format!(
                    "could not write the demo catalog under {}: {e}; pass --catalog FILE or --data-dir DIR",
                    args.app_server.data_dir().join("demo").display()
                ));
                return exit::INVALID_INPUT;
            }
        },
    };
    let console_args = ConsoleArgs {
        catalog: Some(catalog),
        no_watch: false,
        scripted_model: Some(args.scenario),
        sessions: SessionArgs::default(),
        listen: args.listen,
        app_server: args.app_server,
        reconnect_attempts: args.reconnect_attempts,
        remote: None,
        token: None,
    };
    let options = ConsoleOptions {
        first_message: Some(DEMO_MESSAGE.to_string()),
        ..ConsoleOptions::default()
    };
    start_and_run(console_args, options, false).await
}

/// Who answers from this console, as `serve` records it: `console OPERATOR`, the
/// operator's name from the console's config file (`operator`, default `$USER@host`),
/// the name others see on the calls it claims. A config file that does not load is
/// reported by the console itself; the default name stands in meanwhile.
fn console_name() -> String {
    let config = console::config::load().unwrap_or_default();
    format!("console {}", config.operator_name())
}

/// The console attached to a running `serve`: no bridge here, no app-server.
async fn run_remote(args: ConsoleArgs, url: &str) -> u8 {
    use crate::remote::{RemoteBridge, RemoteConfig, RemoteError};
    let _log_guard = super::init_file_logging(&args.app_server.data_dir(), "console.log");
    let base = match crate::remote::base_url(url) {
        Ok(base) => base,
        Err(e) => {
            report_error(&e.to_string());
            return exit::INVALID_INPUT;
        }
    };
    // The token from the same places as the API client commands.
    let endpoint = super::api_client::ClientArgs {
        url: Some(base.clone()),
        token: args.token.clone(),
        ..Default::default()
    }
    .endpoint();
    let config = RemoteConfig {
        url: base,
        token: endpoint.token,
        client_name: console_name(),
    };
    let remote = match RemoteBridge::connect(config).await {
        Ok(remote) => remote,
        Err(e) => {
            report_error(&e.to_string());
            return match e {
                RemoteError::BadUrl { .. } => exit::INVALID_INPUT,
                RemoteError::Unreachable { .. } => exit::UNREACHABLE,
                RemoteError::Unauthorized { .. } | RemoteError::NoToken { .. } => {
                    exit::UNAUTHORIZED
                }
                _ => exit::SERVER_ERROR,
            };
        }
    };
    let options = ConsoleOptions {
        codex: console::inspect::ProbeCodex {
            bin: args.app_server.codex_bin.clone(),
            app_server_args: args.app_server.app_server_args.clone(),
        },
        sessions: args.sessions.defaults(),
        ..ConsoleOptions::default()
    };
    match console::run(remote, options).await {
        Ok(()) => exit::OK,
        Err(e) => {
            report_error(&e.to_string());
            exit::UNREACHABLE
        }
    }
}

async fn start_and_run(
    args: ConsoleArgs,
    mut options: ConsoleOptions,
    restore_sessions: bool,
) -> u8 {
    options.codex = console::inspect::ProbeCodex {
        bin: args.app_server.codex_bin.clone(),
        app_server_args: args.app_server.app_server_args.clone(),
    };
    options.sessions = args.sessions.defaults();
    let data_dir = args.app_server.data_dir();
    let _log_guard = super::init_file_logging(&data_dir, "console.log");
    // Checked before anything starts, so a refused address costs nothing.
    let token = match args.listen.listen {
        Some(addr) => match super::serve::listen_token(
            addr,
            args.listen.no_auth,
            args.listen.token_file.as_deref(),
        ) {
            Ok(token) => Some(token.map(|(token, _)| token)),
            Err(code) => return code,
        },
        None => None,
    };
    let catalog = match load_catalog(args.catalog.as_deref()) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let scripted = args
        .scripted_model
        .as_deref()
        .map(|scenario| ScriptedChoice {
            scenario,
            options: super::scripted::model_options(&catalog),
        });
    let mut recovery = Recovery::attended(restore_sessions);
    recovery.reconnect.max_attempts = args.reconnect_attempts;
    recovery.reconnect.enabled = args.reconnect_attempts > 0;
    let started = match super::start::start_bridge_with(
        &args.app_server,
        catalog,
        scripted,
        ManualPolicy::Wait,
        recovery,
        crate::bridge::RequestPolicy::Ask,
    )
    .await
    {
        Ok(started) => started,
        Err(code) => return code,
    };
    let server = match (args.listen.listen, token) {
        (Some(addr), Some(token)) => {
            let config = crate::service::ServeConfig::new(addr, token.clone());
            match crate::service::serve(started.bridge.clone(), config).await {
                Ok(server) => {
                    options.listen = Some(ListenInfo {
                        url: server.url(),
                        token: token.unwrap_or_else(|| "none (--no-auth)".to_string()),
                    });
                    Some(server)
                }
                Err(e) => {
                    report_error(&format!("could not serve the API: {e}"));
                    started.bridge.shutdown().await;
                    return exit::INVALID_INPUT;
                }
            }
        }
        _ => None,
    };
    // Edits of the catalog file reach the console as `CatalogReloaded` events.
    let watch = if args.no_watch {
        None
    } else {
        super::catalog_watch::spawn(started.bridge.clone())
    };
    let result = console::run(started.bridge.clone(), options).await;
    drop(watch);
    if let Some(server) = server {
        server.shutdown().await;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn away_from_the_source_tree_the_demo_writes_its_embedded_catalog_and_handlers() {
        let data = tempfile::tempdir().unwrap();
        let gone = data.path().join("no-source-tree/assets/support.toml");
        let catalog = tree_or_embedded(gone, data.path()).unwrap();
        assert_eq!(catalog, data.path().join("demo/support.toml"));
        let loaded = crate::catalog::Catalog::load(&catalog).unwrap();
        assert!(loaded.tool(None, "lookup_ticket").is_some());
        assert!(data.path().join("demo/handlers/lookup_ticket.py").is_file());
        assert!(data.path().join("demo/handlers/search_kb.py").is_file());
        // In the source tree, the tree's own copy wins so that edits show at once.
        assert_eq!(
            tree_or_embedded(demo_catalog(), data.path()).unwrap(),
            demo_catalog()
        );
    }
}

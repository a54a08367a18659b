//! `switchboard serve`: the bridge, headless, behind the HTTP + websocket API.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::scripted::model_options;
use super::start::{Recovery, ScriptedChoice, start_bridge_with};
use super::{AppServerArgs, exit, note, paths, report_error};
use crate::bridge::{self, BridgeEvent, ConnectionState, ManualPolicy, RequestPolicy};
use crate::service::approvals::SessionDefaults;
use crate::service::auth;
use crate::service::wire::{ApprovalPolicy, FilesystemSandbox};
use crate::service::{self, DEFAULT_LISTEN, ServeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The tool catalog (TOML): its handlers answer their tools' calls; sessions created
    /// without `dynamicTools` declare its tools. Reloaded when the file changes, on
    /// SIGHUP and on `POST /api/catalog/reload`.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Do not reload the catalog when its file changes (SIGHUP and the API still do).
    #[arg(long)]
    pub no_watch: bool,
    /// Where to listen; port 0 picks a free one (the address is printed).
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Serve without a bearer token; only allowed on a loopback address.
    #[arg(long)]
    pub no_auth: bool,
    /// Where the token is kept (default: $XDG_CONFIG_HOME/switchboard/token, else
    /// ~/.config/switchboard/token); created with a random token when missing.
    #[arg(long, value_name = "PATH", conflicts_with = "no_auth")]
    pub token_file: Option<PathBuf>,
    /// Run codex against the embedded scripted model: a built-in scenario name (auto,
    /// single, parallel, multi-round, model-error, fail-stream) or a scenario file.
    #[arg(long, value_name = "SCENARIO", num_args = 0..=1, default_missing_value = "auto")]
    pub scripted_model: Option<String>,
    /// Approvals, user-input questions, permission requests and elicitations that no
    /// `[[approvals]]` rule of the catalog decides: `ask` keeps them pending for API
    /// clients (GET .../approvals, .../tool-input, /api/requests) to decide;
    /// `accept-rules-only` declines them at once, saying no rule decided (what a server
    /// nobody watches needs); `decline` declines every request, rules or not.
    #[arg(long, value_enum, default_value_t = ApprovalsMode::Ask)]
    pub approvals: ApprovalsMode,
    /// The approval policy of sessions created without `approvalPolicy` (untrusted,
    /// on-failure, on-request, never); default: codex's configuration.
    #[arg(long, value_name = "POLICY", value_parser = parse_policy)]
    pub approval_policy: Option<ApprovalPolicy>,
    /// The sandbox of sessions created without `filesystemSandbox` (read-only,
    /// workspace-write, danger-full-access); default: codex's configuration.
    #[arg(long, value_name = "MODE", value_parser = parse_sandbox)]
    pub sandbox: Option<FilesystemSandbox>,
    #[command(flatten)]
    pub app_server: AppServerArgs,
}

/// `--approvals` of `serve` and `exec`: what happens to a request no rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApprovalsMode {
    /// Rules first; the rest waits for a person or an API client.
    Ask,
    /// Rules decide; the rest is declined with a reason that says no rule decided.
    AcceptRulesOnly,
    /// Every request declined at once; rules are not asked.
    Decline,
}

impl ApprovalsMode {
    pub(super) fn policy(self) -> RequestPolicy {
        match self {
            ApprovalsMode::Ask => RequestPolicy::Ask,
            ApprovalsMode::AcceptRulesOnly => RequestPolicy::headless_default(),
            ApprovalsMode::Decline => RequestPolicy::decline_all(),
        }
    }
}

pub(super) fn parse_policy(text: &str) -> Result<ApprovalPolicy, String> {
    ApprovalPolicy::ALL
        .into_iter()
        .find(|p| p.as_str() == text)
        .ok_or_else(|| "expected untrusted, on-failure, on-request or never".to_string())
}

pub(super) fn parse_sandbox(text: &str) -> Result<FilesystemSandbox, String> {
    FilesystemSandbox::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| "expected read-only, workspace-write or danger-full-access".to_string())
}

/// The token and a sentence saying where it comes from.
fn resolve_token(
    no_auth: bool,
    token_file: Option<&std::path::Path>,
) -> Result<Option<(String, String)>, String> {
    if no_auth {
        return Ok(None);
    }
    let path = token_file
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(paths::token_path);
    let (token, source) = auth::server_token(&path).map_err(|e| e.to_string())?;
    Ok(Some((token, source.to_string())))
}

/// Checks what may be served where and finds the token; shared by `serve` and the
/// console's `--listen`. Errors are reported; the value is the exit status.
pub(super) fn listen_token(
    listen: SocketAddr,
    no_auth: bool,
    token_file: Option<&std::path::Path>,
) -> Result<Option<(String, String)>, u8> {
    if no_auth && !listen.ip().is_loopback() {
        report_error(&format!(
            "--no-auth is allowed only on loopback addresses, not {listen}"
        ));
        return Err(exit::INVALID_INPUT);
    }
    let token = resolve_token(no_auth, token_file).map_err(|message| {
        report_error(&message);
        exit::INVALID_INPUT
    })?;
    if let Err(e) = service::check_exposure(listen, token.as_ref().map(|(t, _)| t.as_str())) {
        report_error(&e.to_string());
        return Err(exit::INVALID_INPUT);
    }
    Ok(token)
}

pub async fn run(args: ServeArgs) -> u8 {
    let data_dir = args.app_server.data_dir();
    let _log_guard = super::init_file_logging(&data_dir, "serve.log");

    let token = match listen_token(args.listen, args.no_auth, args.token_file.as_deref()) {
        Ok(token) => token,
        Err(code) => return code,
    };
    let catalog = match super::start::load_catalog(args.catalog.as_deref()) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    for warning in &catalog.warnings {
        note(&format!("{}: {warning}", warning.label()));
    }
    // Sessions declare their own tools: the model may call any tool it is offered.
    let scripted = args
        .scripted_model
        .as_deref()
        .map(|scenario| ScriptedChoice {
            scenario,
            options: crate::model::ModelOptions {
                tool_names: None,
                ..model_options(&catalog)
            },
        });
    // A service rides out an app-server crash or a dropped websocket; it stops only when
    // reconnecting gives up. Earlier sessions can be resumed only from a CODEX_HOME that
    // outlives the run, which the scripted model's does not.
    let recovery = Recovery::attended(args.scripted_model.is_none());
    let signals = StopSignals::watch();
    let started = match start_bridge_with(
        &args.app_server,
        catalog,
        scripted,
        ManualPolicy::Wait,
        recovery,
        args.approvals.policy(),
    )
    .await
    {
        Ok(started) => started,
        Err(code) => return code,
    };
    let bridge = started.bridge.clone();
    let mut events = bridge.subscribe();
    let mut serve_config = ServeConfig::new(args.listen, token.as_ref().map(|(t, _)| t.clone()));
    serve_config.session_defaults = SessionDefaults {
        approval_policy: args.approval_policy,
        sandbox: args.sandbox,
    };
    let server = match service::serve(bridge.clone(), serve_config).await {
        Ok(server) => server,
        Err(e) => {
            report_error(&e.to_string());
            bridge.shutdown().await;
            return exit::INVALID_INPUT;
        }
    };
    note(&format!("listening on {}", server.url()));
    match &token {
        Some((_, source)) => note(&format!("bearer token: {source}")),
        None => note("no bearer token (--no-auth): any local process may use the API"),
    }
    let watch = if args.no_watch {
        None
    } else {
        super::catalog_watch::spawn(bridge.clone())
    };
    if watch.is_some() {
        note("the catalog is reloaded when its file changes, and on SIGHUP");
    }
    note("press Ctrl-C to stop");

    let code = wait_for_stop(&bridge, &mut events, signals).await;
    drop(watch);
    server.shutdown().await;
    bridge.shutdown().await;
    drop(started);
    code
}

/// SIGTERM and SIGHUP, watched from the start: one that arrives while `serve` starts
/// (or just after it says it listens) is handled, instead of killing the process by the
/// default action.
struct StopSignals {
    terminate: Option<tokio::signal::unix::Signal>,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn watch() -> StopSignals {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(e) => {
                report_error(&format!("cannot watch for {name}: {e}"));
                None
            }
        };
        StopSignals {
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
            hangup: watch(SignalKind::hangup(), "SIGHUP"),
        }
    }
}

/// Runs until Ctrl-C or SIGTERM (exit 0), or until app-server is lost (exit 3). SIGHUP
/// reloads the catalog; every reload (SIGHUP, the file watch, the API) is reported on
/// stderr, a failed one with every problem.
async fn wait_for_stop(
    bridge: &bridge::BridgeHandle,
    events: &mut bridge::EventReceiver,
    signals: StopSignals,
) -> u8 {
    async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
        match signal.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    let StopSignals {
        mut terminate,
        mut hangup,
    } = signals;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return exit::OK,
            _ = next(&mut terminate) => return exit::OK,
            _ = next(&mut hangup) => {
                note("SIGHUP: reloading the catalog");
                // The outcome comes back as an event, below.
                if let Err(e) = bridge.reload_catalog().await {
                    report_error(&format!("could not reload the catalog: {e}"));
                }
            }
            event = events.recv() => match event {
                Some(BridgeEvent::Connection { state: ConnectionState::Disconnected { reason, .. }, .. }) => {
                    report_error(&reason);
                    return exit::APP_SERVER;
                }
                Some(BridgeEvent::CatalogReloaded { reload, .. }) => match reload.error() {
                    None => note(&reload.summary()),
                    Some(error) => report_error(&format!(
                        "catalog reload failed, the previous catalog stays in use: {error}"
                    )),
                },
                Some(_) => {}
                None => {
                    report_error("the bridge stopped");
                    return exit::APP_SERVER;
                }
            },
        }
    }
}

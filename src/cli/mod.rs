//! The command line: argument types, logging set-up and dispatch. Commands print here
//! and nowhere else; the layers below only return values and errors.

pub mod api_client;
pub mod bench;
mod catalog_cmd;
mod catalog_probe;
mod catalog_test;
pub mod catalog_watch;
pub mod client;
pub mod console_cmd;
mod exec;
pub mod fleet;
pub mod paths;
pub mod scripted;
pub(crate) mod serve;
mod soak_cmd;
pub mod start;
mod worker;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit statuses shared by every command, so scripts can tell outcomes apart.
pub mod exit {
    /// The turn completed / the command did what was asked.
    pub const OK: u8 = 0;
    /// The turn ended without completing (failed, interrupted, timed out).
    pub const TURN_NOT_COMPLETED: u8 = 1;
    /// Bad input: an invalid catalog, scenario or argument. Nothing was started.
    pub const INVALID_INPUT: u8 = 2;
    /// app-server could not be started, or was lost.
    pub const APP_SERVER: u8 = 3;
    /// API client: the server answered 404 (no such session or pending call).
    pub const NOT_FOUND: u8 = 4;
    /// API client: 409 (another answer is being written, no running turn).
    pub const CONFLICT: u8 = 5;
    /// API client: 410 (the session was deleted).
    pub const GONE: u8 = 6;
    /// API client: 401 or 403 (missing or wrong token, refused origin).
    pub const UNAUTHORIZED: u8 = 7;
    /// API client: the server could not be reached.
    pub const UNREACHABLE: u8 = 8;
    /// API client: the server failed (5xx other than 503) or did not answer JSON.
    pub const SERVER_ERROR: u8 = 9;
    /// Interrupted by Ctrl-C.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Operator console and bridge for codex app-server dynamic tool calls",
    long_about = "Operator console and bridge for codex app-server dynamic tool calls.\n\nWith no command, opens the console. `switchboard demo` opens it on the embedded scripted model with the example catalog.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub console: console_cmd::ConsoleArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console on the embedded scripted model with the example catalog: some
    /// tools answered by script handlers, one waiting for you.
    Demo(console_cmd::DemoArgs),
    /// Open the console: what `switchboard` with no command does (`console --remote URL`
    /// attaches it to a running `serve`).
    Console(Box<console_cmd::ConsoleArgs>),
    /// Run one prompt headless: create a session with the catalog, answer tool calls with
    /// its handlers, wait for the turn, print the assistant reply.
    Exec(Box<exec::ExecArgs>),
    /// Work with catalog files.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Run the bridge headless behind the HTTP + websocket API (codex-manager compatible).
    Serve(Box<serve::ServeArgs>),
    /// Sessions on a running server.
    Sessions(client::SessionsArgs),
    /// Pending tool calls on a running server, and answering them.
    #[command(name = "tool-calls")]
    ToolCalls(client::ToolCallsArgs),
    /// Pending approvals on a running server, and deciding them.
    Approvals(client::ApprovalsArgs),
    /// Pending user-input questions on a running server, and answering them.
    #[command(name = "tool-input")]
    ToolInput(client::ToolInputArgs),
    /// Every pending request but tool calls (approvals, questions, permissions,
    /// elicitations) on a running server, and answering any of them.
    Requests(client::RequestsArgs),
    /// Print a running server's event stream.
    Stream(client::StreamArgs),
    /// Check a running server.
    Health(client::PlainArgs),
    /// Print the API's OpenAPI document.
    Openapi(client::OpenapiArgs),
    /// Answer a server's tool calls with a catalog's handlers (a remote handler process).
    Worker(Box<worker::WorkerArgs>),
    /// Benchmarks: the bridge core, handlers, real codex turns, the console, memory and
    /// start-up, each against a baseline measured in the same run.
    Bench(bench::BenchArgs),
    /// The soak run: a million calls (by default) through a bridge on the synthetic
    /// app-server with injected faults; prints a JSON summary, exits 1 if a call was
    /// lost or answered twice.
    Soak(soak_cmd::SoakArgs),
    /// A synthetic app-server on stdin/stdout, for benchmarks and fault injection only:
    /// it floods `item/tool/call` requests (see docs/PERFORMANCE.md).
    #[command(hide = true)]
    SyntheticAppServer(SyntheticArgs),
}

#[derive(Debug, Args)]
pub struct SyntheticArgs {
    /// The synthetic peer's settings as JSON (see `lab::synthetic::SyntheticConfig`);
    /// each turn's message may override them.
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Validate a catalog; print its warnings, the `dynamicTools` payload exactly as it
    /// is sent, and the instruction text.
    Check(catalog_cmd::CheckArgs),
    /// Run every example of a catalog (or a test file) against its handler; exit 1 if
    /// one fails.
    Test(catalog_test::TestArgs),
    /// Run the tool calls of a recorded session again against a catalog's handlers and
    /// show what changed; exit 1 if an answer changed.
    Replay(catalog_test::ReplayArgs),
    /// Make a running server (or a console serving the API) load its catalog file
    /// again; exit 2 if the file does not load (the server keeps the previous catalog).
    Reload(client::PlainArgs),
    /// A running server's per-tool statistics since it started: calls, arguments that
    /// broke input_schema, answers that broke output_schema, failures, latency.
    Stats(client::PlainArgs),
}

/// How to reach app-server; shared by every command that starts a bridge.
#[derive(Debug, Clone, Args)]
pub struct AppServerArgs {
    /// The codex binary (default: $SWITCHBOARD_CODEX_BIN, then `codex` on PATH, then
    /// the pinned copy installed by scripts/setup.sh).
    #[arg(long, value_name = "PATH")]
    pub codex_bin: Option<PathBuf>,
    /// Attach to a running `codex app-server --listen ws://HOST:PORT` instead of
    /// spawning one (repeat for several, with --codex-home and --fleet too: one bridge
    /// over all of them, named after each URL's HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub connect: Vec<String>,
    /// Spawn an app-server on this CODEX_HOME (repeat for several; each is named after
    /// the directory).
    #[arg(long = "codex-home", value_name = "DIR")]
    pub codex_homes: Vec<PathBuf>,
    /// The app-servers to drive, from a fleet file (default:
    /// $XDG_CONFIG_HOME/switchboard/fleet.toml when it exists and no --connect or
    /// --codex-home is given); see docs/fleet.md.
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// Bearer token for an app-server started with `--ws-auth`.
    #[arg(
        long,
        env = "SWITCHBOARD_WS_TOKEN",
        value_name = "TOKEN",
        requires = "connect"
    )]
    pub ws_token: Option<String>,
    /// An extra argument for `codex app-server` (repeat for several).
    #[arg(
        long = "app-server-arg",
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub app_server_args: Vec<String>,
    /// Where transcripts and logs are kept (default: $SWITCHBOARD_DATA_DIR, else
    /// $XDG_DATA_HOME/switchboard or ~/.local/share/switchboard).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// With the scripted model (`--scripted-model`, `demo`): spawn N app-servers on it,
    /// each with a temporary CODEX_HOME of its own, named scripted-1 … scripted-N, to
    /// try a fleet offline.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(1..=32)
    )]
    pub scripted_app_servers: Option<u16>,
}

impl AppServerArgs {
    /// The app-servers to drive (see `cli::fleet`), the default first.
    pub fn fleet(&self) -> Result<Vec<crate::bridge::AppServerSpec>, fleet::FleetError> {
        self.resolve_fleet(
            self.fleet.as_deref(),
            &self.codex_homes,
            paths::config_home().map(|d| d.join("switchboard").join(fleet::FLEET_FILE)),
        )
    }

    /// The fleet on the scripted model: `homes` (the model's own CODEX_HOMEs, one per
    /// spawned app-server) and `--connect`'s app-servers. A fleet file or `--codex-home`
    /// would spawn codex on homes that don't point at the model, so they are refused, and
    /// the config directory's fleet file is not read.
    pub fn scripted_fleet(
        &self,
        homes: &[PathBuf],
    ) -> Result<Vec<crate::bridge::AppServerSpec>, fleet::FleetError> {
        if self.fleet.is_some() {
            return Err(fleet::FleetError::ScriptedWithHomes { what: "--fleet" });
        }
        if !self.codex_homes.is_empty() {
            return Err(fleet::FleetError::ScriptedWithHomes {
                what: "--codex-home",
            });
        }
        let mut specs = self.resolve_fleet(None, homes, None)?;
        // Spawned ones come first; their temporary directories make poor names.
        for (index, spec) in specs.iter_mut().take(homes.len()).enumerate() {
            spec.name = if homes.len() == 1 {
                "scripted".to_string()
            } else {
                format!("scripted-{}", index + 1)
            };
        }
        Ok(specs)
    }

    /// `cli::fleet::resolve` over these flags, with the given fleet file, homes and
    /// config-directory file; each app-server is logged.
    fn resolve_fleet(
        &self,
        fleet_file: Option<&std::path::Path>,
        codex_homes: &[PathBuf],
        config_file: Option<PathBuf>,
    ) -> Result<Vec<crate::bridge::AppServerSpec>, fleet::FleetError> {
        let specs = fleet::resolve(
            &fleet::FleetFlags {
                fleet: fleet_file,
                codex_homes,
                connects: &self.connect,
                ws_token: self.ws_token.as_deref(),
                config_file,
            },
            &fleet::SpawnDefaults {
                codex_bin: self.codex_bin.as_deref(),
                args: &self.app_server_args,
            },
        )?;
        for spec in &specs {
            tracing::info!(target: "cli", "app-server {}: {}", spec.name, spec.transport.describe());
        }
        Ok(specs)
    }

    pub fn data_dir(&self) -> PathBuf {
        paths::data_dir(self.data_dir.as_deref())
    }
}

/// Runs a parsed command line and maps the outcome to an exit status.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            report_error(&format!("could not start the async runtime: {e}"));
            return ExitCode::from(exit::APP_SERVER);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            None => console_cmd::run(cli.console).await,
            Some(Command::Demo(args)) => console_cmd::demo(args).await,
            Some(Command::Console(args)) => console_cmd::run(*args).await,
            Some(Command::Exec(args)) => exec::run(*args).await,
            Some(Command::Catalog(command)) => catalog_cmd::run(command).await,
            Some(Command::Bench(args)) => bench::run(args).await,
            Some(Command::Soak(args)) => soak_cmd::run_soak(args).await,
            Some(Command::SyntheticAppServer(args)) => {
                let config = match args.config.as_deref().map(serde_json::from_str) {
                    None => crate::lab::synthetic::SyntheticConfig::default(),
                    Some(Ok(config)) => config,
                    Some(Err(e)) => {
                        report_error(&format!(
                            "--config is not a synthetic app-server config: {e}"
                        ));
                        return exit::INVALID_INPUT;
                    }
                };
                crate::lab::synthetic::serve_stdio(config).await;
                exit::OK
            }
            Some(Command::Serve(args)) => serve::run(*args).await,
            Some(Command::Sessions(args)) => client::sessions(args).await,
            Some(Command::ToolCalls(args)) => client::tool_calls(args).await,
            Some(Command::Approvals(args)) => client::approvals(args).await,
            Some(Command::ToolInput(args)) => client::tool_input(args).await,
            Some(Command::Requests(args)) => client::requests(args).await,
            Some(Command::Stream(args)) => client::stream(args).await,
            Some(Command::Health(args)) => client::health(args).await,
            Some(Command::Openapi(args)) => client::openapi(args).await,
            Some(Command::Worker(args)) => worker::run(*args).await,
        }
    });
    // Handler processes and app-server are killed with the runtime's tasks.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code)
}

/// Writes a line to stdout; a closed pipe (e.g. `| head`) is not an error worth a panic.
pub(crate) fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// Writes an error line to stderr, prefixed so it stands out among other output.
pub(crate) fn report_error(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "switchboard: error: {message}");
}

/// Writes a progress/status line to stderr (stdout stays clean for results).
pub(crate) fn note(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{message}");
}

/// Logs go to a file under the data directory; never to the terminal. The guard must
/// live until the program ends, or the last lines are lost.
pub(crate) fn init_file_logging(
    data_dir: &std::path::Path,
    file_name: &str,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let dir = data_dir.join("logs");
    if crate::util::create_private_dir_all(&dir).is_err() {
        return None;
    }
    let path = dir.join(file_name);
    let file = crate::util::open_private_append(&path).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = std::env::var("SWITCHBOARD_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true)
        .with_env_filter(filter)
        .try_init()
        .is_ok();
    installed.then_some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_server_args(args: &[&str]) -> AppServerArgs {
        let cli = Cli::try_parse_from(
            ["switchboard", "console", "--codex-bin", "/bin/true"]
                .iter()
                .chain(args),
        )
        .unwrap();
        match cli.command {
            Some(Command::Console(console)) => console.app_server,
            other => panic!("not the console: {other:?}"),
        }
    }

    /// `console --scripted-model --codex-home A --codex-home B` spawned codex on A and B,
    /// whose configs don't point at the model: the turns went to the real API and
    /// failed. The combination is refused, and the scripted fleet is named plainly.
    #[test]
    fn the_scripted_fleet_refuses_codex_homes_and_names_its_app_servers() {
        let homes = [PathBuf::from("/tmp/s1"), PathBuf::from("/tmp/s2")];
        let refused = app_server_args(&["--codex-home", "/tmp/a"])
            .scripted_fleet(&homes)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("cannot use --codex-home"), "{refused}");
        assert!(refused.contains("--scripted-app-servers N"), "{refused}");
        let refused = app_server_args(&["--fleet", "/tmp/fleet.toml"])
            .scripted_fleet(&homes)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("cannot use --fleet"), "{refused}");

        let specs = app_server_args(&["--connect", "ws://127.0.0.1:4500"])
            .scripted_fleet(&homes)
            .unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["scripted-1", "scripted-2", "127.0.0.1:4500"]);
        for (spec, home) in specs.iter().zip(&homes) {
            match &spec.transport {
                crate::appserver::TransportSpec::Stdio { env, .. } => assert!(
                    env.contains(&("CODEX_HOME".to_string(), home.display().to_string())),
                    "{env:?}"
                ),
                other => panic!("not spawned: {other:?}"),
            }
        }
        let one = app_server_args(&[]).scripted_fleet(&homes[..1]).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name, "scripted");
    }

    #[test]
    fn scripted_app_servers_are_bounded() {
        let error = Cli::try_parse_from(["switchboard", "console", "--scripted-app-servers", "0"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--scripted-app-servers"), "{error}");
    }
}

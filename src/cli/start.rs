//! Starting a bridge the way every command does: catalog, optional scripted model,
//! transport, data directory.

use std::path::Path;
use std::sync::Arc;

use super::scripted::ScriptedModel;
use super::{AppServerArgs, exit, report_error};
use crate::bridge::{self, BridgeConfig, BridgeHandle, ManualPolicy, ReconnectPolicy};
use crate::catalog::Catalog;

/// A started bridge and what must live as long as it does.
pub struct Started {
    pub bridge: BridgeHandle,
    /// The scripted model and its temporary CODEX_HOME, when used.
    pub scripted: Option<ScriptedModel>,
}

/// The scripted model to start: its scenario, and what it is told of the tools.
pub struct ScriptedChoice<'a> {
    pub scenario: &'a str,
    pub options: crate::model::ModelOptions,
}

/// Loads the catalog, or says what is wrong with it (exit status 2).
pub fn load_catalog(path: Option<&Path>) -> Result<Arc<Catalog>, u8> {
    match path {
        Some(path) => Catalog::load(path).map(Arc::new).map_err(|e| {
            report_error(&e.to_string());
            exit::INVALID_INPUT
        }),
        None => Ok(Arc::new(Catalog::empty())),
    }
}

/// How a command rides out a lost app-server and what it brings back from earlier runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub reconnect: ReconnectPolicy,
    /// Bring back earlier sessions from their transcripts, and resume them.
    pub restore_sessions: bool,
}

impl Recovery {
    /// `exec`: a lost app-server ends the run (exit status 3), nothing is restored.
    pub fn none() -> Recovery {
        Recovery {
            reconnect: ReconnectPolicy::off(),
            restore_sessions: false,
        }
    }

    /// The console and `serve`: reconnect with back-off; restore earlier sessions when
    /// their threads can be resumed (a CODEX_HOME that outlives the run).
    pub fn attended(restore_sessions: bool) -> Recovery {
        Recovery {
            reconnect: ReconnectPolicy::standard(),
            restore_sessions,
        }
    }
}

/// Starts the scripted model (if asked), app-server and the bridge, with the policy for
/// approvals, questions and elicitations no rule decides (the console asks the operator:
/// `RequestPolicy::Ask`; `exec` and `serve` take `--approvals`). Errors are reported
/// here; the returned status is the exit status to use.
pub async fn start_bridge_with(
    app_server: &AppServerArgs,
    catalog: Arc<Catalog>,
    scripted_model: Option<ScriptedChoice<'_>>,
    manual_policy: ManualPolicy,
    recovery: Recovery,
    request_policy: crate::bridge::RequestPolicy,
) -> Result<Started, u8> {
    let mut scripted = match scripted_model {
        Some(choice) => Some(
            ScriptedModel::start_with(Some(choice.scenario), choice.options)
                .await
                .map_err(|e| {
                    report_error(&e.to_string());
                    exit::INVALID_INPUT
                })?,
        ),
        None => None,
    };
    let specs = match scripted.as_mut() {
        Some(model) => {
            // With only `--connect`, nothing is spawned unless asked for, as without
            // the scripted model.
            let spawned = app_server
                .scripted_app_servers
                .map(usize::from)
                .unwrap_or(usize::from(app_server.connect.is_empty()));
            let mut homes = Vec::new();
            for index in 0..spawned {
                if index == 0 {
                    homes.push(model.codex_home.path().to_path_buf());
                    continue;
                }
                homes.push(model.add_codex_home().map_err(|e| {
                    report_error(&e.to_string());
                    exit::INVALID_INPUT
                })?);
            }
            app_server.scripted_fleet(&homes)
        }
        None if app_server.scripted_app_servers.is_some() => {
            report_error("--scripted-app-servers needs --scripted-model (or `switchboard demo`)");
            return Err(exit::INVALID_INPUT);
        }
        None => app_server.fleet(),
    };
    let specs = specs.map_err(|e| {
        report_error(&e.to_string());
        match e {
            super::fleet::FleetError::Locate(_) => exit::APP_SERVER,
            _ => exit::INVALID_INPUT,
        }
    })?;
    let Some(first) = specs.first() else {
        report_error("no app-server to start");
        return Err(exit::INVALID_INPUT);
    };
    let mut config = BridgeConfig::new(first.transport.clone(), catalog);
    config.app_servers = specs;
    config.data_dir = Some(app_server.data_dir());
    config.manual_policy = manual_policy;
    config.request_policy = request_policy;
    config.reconnect = recovery.reconnect;
    config.restore_sessions = recovery.restore_sessions;
    // What is restored is resumed at once where app-server still has it.
    config.resume_restored = recovery.restore_sessions;
    let bridge = bridge::start(config).await.map_err(|e| {
        report_error(&format!("could not start app-server: {e}"));
        exit::APP_SERVER
    })?;
    Ok(Started { bridge, scripted })
}

//! Shared helpers: the real codex binary, the scripted model, and temporary folders.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard::appserver::TransportSpec;
use switchboard::bridge::{
    self, BridgeConfig, BridgeEvent, BridgeHandle, EventReceiver, ManualPolicy,
};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};

/// Upper bound for anything the tests wait on; a guard against hangs, never a pause.
pub const WAIT: Duration = Duration::from_secs(60);

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The real codex binary: `SWITCHBOARD_CODEX_BIN` (set by scripts/test.sh) or the
/// pinned install. Missing codex is a failure, not a skip.
pub fn codex_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHBOARD_CODEX_BIN") {
        return PathBuf::from(path);
    }
    let pinned = switchboard::appserver::locate::pinned_codex_path();
    assert!(
        pinned.is_file(),
        "the pinned codex is not installed at {}: run scripts/setup.sh (scripts/test.sh does)",
        pinned.display()
    );
    pinned
}

/// The real codex app-server on the embedded scripted model, behind a bridge.
pub struct CodexBridge {
    pub bridge: BridgeHandle,
    pub events: EventReceiver,
    pub _model: ModelServer,
    pub _home: tempfile::TempDir,
}

impl CodexBridge {
    pub async fn start(catalog: &str, scenario: &str, policy: ManualPolicy) -> CodexBridge {
        CodexBridge::start_with(catalog, scenario, policy, false).await
    }

    /// `open_tools`: the model may call any tool a session declares, not only the
    /// catalog's (sessions created through the API declare their own).
    pub async fn start_with(
        catalog: &str,
        scenario: &str,
        policy: ManualPolicy,
        open_tools: bool,
    ) -> CodexBridge {
        CodexBridge::start_configured(catalog, scenario, policy, open_tools, |_| {}).await
    }

    /// Like [`CodexBridge::start_with`], with a last say on the bridge's configuration.
    pub async fn start_configured(
        catalog: &str,
        scenario: &str,
        policy: ManualPolicy,
        open_tools: bool,
        configure: impl FnOnce(&mut BridgeConfig),
    ) -> CodexBridge {
        let catalog = Arc::new(Catalog::load(&repo_path(catalog)).unwrap());
        let mut options = switchboard::cli::scripted::model_options(&catalog);
        if open_tools {
            options.tool_names = None;
        }
        let model = ModelServer::start(Scenario::load(scenario).unwrap(), options)
            .await
            .unwrap();
        let home = tempfile::tempdir().unwrap();
        let codex_home = home.path().join("codex");
        std::fs::create_dir_all(&codex_home).unwrap();
        switchboard::model::write_codex_home(&codex_home, &model.base_url()).unwrap();
        let transport = TransportSpec::Stdio {
            program: codex_bin(),
            args: vec!["app-server".to_string()],
            env: vec![("CODEX_HOME".to_string(), codex_home.display().to_string())],
        };
        let mut config = BridgeConfig::new(transport, catalog);
        config.data_dir = Some(home.path().join("data"));
        config.manual_policy = policy;
        configure(&mut config);
        let bridge = bridge::start(config).await.unwrap();
        let events = bridge.subscribe();
        CodexBridge {
            bridge,
            events,
            _model: model,
            _home: home,
        }
    }

    /// The next event that `pick` accepts; fails the test after [`WAIT`].
    pub async fn next_matching<T>(&mut self, mut pick: impl FnMut(&BridgeEvent) -> Option<T>) -> T {
        let wait = async {
            loop {
                let event = self.events.recv().await.expect("bridge stopped");
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("timed out waiting for a bridge event")
    }
}

/// A `CODEX_HOME` for the scripted model at `base_url` with codex's shell tool on
/// (the default config turns it off), and `extra` config text appended.
pub fn write_shell_codex_home(codex_home: &Path, base_url: &str, extra: &str) {
    switchboard::model::write_codex_home(codex_home, base_url).unwrap();
    let config_path = codex_home.join("config.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("shell_tool = false", "shell_tool = true")
        .replace("unified_exec = false", "unified_exec = true");
    std::fs::write(&config_path, format!("{config}{extra}")).unwrap();
}

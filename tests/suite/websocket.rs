//! The websocket transport against the real codex started with `--listen ws://...`.

use std::sync::Arc;

use switchboard::appserver::TransportSpec;
use switchboard::bridge::{self, BridgeConfig, CreateSession, ManualPolicy};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};
use switchboard::protocol::TurnStatus;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::support::{WAIT, codex_bin, repo_path};

/// A real `codex app-server --listen ws://127.0.0.1:0` on the scripted model; returns
/// the child and the URL it printed.
pub async fn listening_codex(
    model: &ModelServer,
    home: &std::path::Path,
) -> (tokio::process::Child, String) {
    switchboard::model::write_codex_home(home, &model.base_url()).unwrap();
    let mut child = tokio::process::Command::new(codex_bin())
        .args(["app-server", "--listen", "ws://127.0.0.1:0"])
        .env("CODEX_HOME", home)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.trim().strip_prefix("listening on: ") {
                return url.to_string();
            }
        }
        panic!("codex exited without printing its address");
    })
    .await
    .unwrap();
    // Keep draining stderr so codex never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_over_the_websocket_transport() {
    let catalog =
        Arc::new(Catalog::load(&repo_path("tests/fixtures/catalogs/manual.toml")).unwrap());
    let model = ModelServer::start(
        Scenario::load("auto").unwrap(),
        switchboard::cli::scripted::model_options(&catalog),
    )
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let (_codex, url) = listening_codex(&model, home.path()).await;

    let transport = TransportSpec::WebSocket { url, bearer: None };
    let mut config = BridgeConfig::new(transport, catalog);
    config.manual_policy = ManualPolicy::Wait;
    let bridge = bridge::start(config).await.unwrap();
    let status = bridge.status().await.unwrap();
    assert_eq!(status.transport.split(' ').next(), Some("websocket"));

    let session = bridge
        .create_session(CreateSession {
            cwd: Some(home.path().display().to_string()),
            ..CreateSession::default()
        })
        .await
        .unwrap();
    let turn_id = bridge
        .send_message(&session.thread_id, "call:echo_args please")
        .await
        .unwrap();
    let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&session.thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    let reply = turn.assistant_reply.unwrap();
    assert!(reply.contains("echo_args: {\"text\":"), "{reply}");
    bridge.shutdown().await;
}

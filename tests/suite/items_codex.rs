//! A turn's items from the real codex app-server in the transcript: the scripted model
//! runs codex's own `exec_command` (a command, and `apply_patch`) with the shell tool on
//! and approvals `never`, and the session's transcript (in memory and on disk) gets a
//! command row with its output and exit code, and a file-change row with its diff.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::appserver::TransportSpec;
use switchboard::bridge::items::ItemRow;
use switchboard::bridge::{self, BridgeConfig, CreateSession, TranscriptEntry};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};
use switchboard::protocol::TurnStatus;

use super::support::{WAIT, codex_bin, repo_path};

fn call_turn(matches: &str, tool: &str, arguments: &Value) -> String {
    let raw = toml::Value::String(arguments.to_string()).to_string();
    format!(
        "[[turn]]\nmatch = \"{matches}\"\n[[turn.round]]\ncalls = [ {{ tool = \"{tool}\", arguments_json = {raw} }} ]\n[turn.reply]\ntext = \"model saw: {{outputs}}\"\n\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_and_a_patch_of_a_real_turn_are_transcript_rows() {
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let patch = format!(
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: {}\n+hello from the patch\n*** End Patch\nEOF\n",
        work.join("new.txt").display()
    );
    let scenario = [
        call_turn(
            "run the command",
            "exec_command",
            &json!({ "cmd": "echo one; echo two >&2; exit 3" }),
        ),
        call_turn("patch the file", "exec_command", &json!({ "cmd": patch })),
    ]
    .concat();
    let scenario_path = home.path().join("scenario.toml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let catalog =
        Arc::new(Catalog::load(&repo_path("tests/fixtures/catalogs/manual.toml")).unwrap());
    let mut options = switchboard::cli::scripted::model_options(&catalog);
    options.tool_names = None;
    let model = ModelServer::start(
        Scenario::load(scenario_path.to_str().unwrap()).unwrap(),
        options,
    )
    .await
    .unwrap();
    let codex_home = home.path().join("codex");
    switchboard::model::write_codex_home(&codex_home, &model.base_url()).unwrap();
    let config_path = codex_home.join("config.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("shell_tool = false", "shell_tool = true")
        .replace("unified_exec = false", "unified_exec = true");
    std::fs::write(&config_path, config).unwrap();
    let transport = TransportSpec::Stdio {
        program: codex_bin(),
        args: vec!["app-server".to_string()],
        env: vec![("CODEX_HOME".to_string(), codex_home.display().to_string())],
    };
    let mut config = BridgeConfig::new(transport, catalog);
    let data = home.path().join("data");
    config.data_dir = Some(data.clone());
    let bridge = bridge::start(config).await.unwrap();
    let session = bridge
        .create_session(CreateSession {
            cwd: Some(work.display().to_string()),
            approval_policy: Some("never".to_string()),
            sandbox: Some("danger-full-access".to_string()),
            ..CreateSession::default()
        })
        .await
        .unwrap();
    let thread = session.thread_id;
    for text in ["run the command", "patch the file"] {
        let turn_id = bridge.send_message(&thread, text).await.unwrap();
        let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&thread, &turn_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(turn.status, TurnStatus::Completed, "{turn:?}");
    }
    let snapshot = bridge.session(&thread).await.unwrap().unwrap();
    let items: Vec<ItemRow> = snapshot
        .transcript
        .iter()
        .filter_map(|row| match &row.entry {
            TranscriptEntry::Item(item) => Some(item.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(items.len(), 2, "{items:#?}");
    match &items[0] {
        ItemRow::Command {
            command,
            cwd,
            status,
            exit_code,
            duration_ms,
            output,
            ..
        } => {
            assert!(
                command.contains("echo one; echo two >&2; exit 3"),
                "{command}"
            );
            assert_eq!(cwd, &work.display().to_string());
            assert_eq!((status.as_str(), *exit_code), ("failed", Some(3)));
            assert!(duration_ms.is_some());
            assert!(
                output.contains("one") && output.contains("two"),
                "{output:?}"
            );
        }
        other => panic!("not a command row: {other:?}"),
    }
    match &items[1] {
        ItemRow::FileChange { status, files, .. } => {
            assert_eq!(status, "completed");
            assert_eq!(files.len(), 1);
            assert_eq!(files[0].change, "add");
            assert!(files[0].path.ends_with("new.txt"));
            assert!(
                files[0].diff.contains("hello from the patch"),
                "{:?}",
                files[0].diff
            );
        }
        other => panic!("not a file change row: {other:?}"),
    }
    // The rows are in the transcript file as they are in memory.
    let file =
        std::fs::read_to_string(data.join("sessions").join(format!("{thread}.jsonl"))).unwrap();
    let kinds: Vec<String> = file
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "item")
        .map(|v| v["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["command", "file_change"]);
    bridge.shutdown().await;
}

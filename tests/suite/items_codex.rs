//! A turn's items from the real codex app-server in the transcript: the scripted model
//! runs codex's own `exec_command` (a command, and `apply_patch`) and `update_plan` with
//! the shell tool on and approvals `never`, and the session's transcript (in memory and
//! on disk) gets a command row with its output and exit code, a file-change row with its
//! diff, one plan row; a command's row is there while it runs, its output streaming in.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::appserver::TransportSpec;
use switchboard::bridge::items::ItemRow;
use switchboard::bridge::{self, BridgeConfig, BridgeEvent, CreateSession, TranscriptEntry};
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
    super::support::write_shell_codex_home(&codex_home, &model.base_url(), "");
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
    let items: Vec<ItemRow> = items
        .into_iter()
        .filter(|i| matches!(i, ItemRow::Command { .. } | ItemRow::FileChange { .. }))
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
    // The rows are in the transcript file as they are in memory: each as it started and
    // as it ended.
    let file =
        std::fs::read_to_string(data.join("sessions").join(format!("{thread}.jsonl"))).unwrap();
    let kinds: Vec<String> = file
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "item")
        .map(|v| v["kind"].as_str().unwrap_or_default().to_string())
        .filter(|k| k == "command" || k == "file_change")
        .collect();
    assert_eq!(kinds, ["command", "command", "file_change", "file_change"]);
    bridge.shutdown().await;
}

/// A bridge on the real codex, the shell tool and `update_plan` on, the scripted model
/// playing `scenario`; its session works in `work`.
struct Live {
    bridge: bridge::BridgeHandle,
    thread: String,
    work: std::path::PathBuf,
    data: std::path::PathBuf,
    _model: ModelServer,
    _home: tempfile::TempDir,
}

async fn live_codex(rounds: &[(&str, Value)]) -> Live {
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut scenario = "[[turn]]\nmatch = \"go\"\n".to_string();
    for (tool, arguments) in rounds {
        let raw = toml::Value::String(arguments.to_string()).to_string();
        scenario.push_str(&format!(
            "[[turn.round]]\ncalls = [ {{ tool = \"{tool}\", arguments_json = {raw} }} ]\n"
        ));
    }
    scenario.push_str("[turn.reply]\ntext = \"done\"\n");
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
    // codex offers `update_plan` only when asked to.
    super::support::write_shell_codex_home(
        &codex_home,
        &model.base_url(),
        "\n[tools.update_plan]\nenabled = true\n",
    );
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
    Live {
        bridge,
        thread: session.thread_id,
        work,
        data,
        _model: model,
        _home: home,
    }
}

/// The next live row update of a command, as `pick` wants it.
async fn command_update(
    events: &mut switchboard::bridge::EventReceiver,
    mut pick: impl FnMut(&str, &str, Option<i64>) -> bool,
) -> (u64, String) {
    loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("no such command row")
            .unwrap();
        if let BridgeEvent::TranscriptRowUpdated { row, .. } = event
            && let TranscriptEntry::Item(ItemRow::Command {
                status,
                output,
                exit_code,
                ..
            }) = &row.entry
            && pick(status, output, *exit_code)
        {
            return (row.seq, output.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_command_streams_into_its_row_and_the_plan_is_one_row() {
    let plan = |first: &str, second: &str| {
        json!({"plan": [{"step": "run the command", "status": first},
            {"step": "patch the file", "status": second}]})
    };
    // The command prints a line, then waits for a file the test creates once it has
    // seen that line in the row: the row is live before the command ends.
    let home = tempfile::tempdir().unwrap();
    let gate = home.path().join("gate");
    let command = format!(
        "echo first line; while [ ! -e {gate} ]; do sleep 0.05; done; echo second line",
        gate = gate.display()
    );
    let h = live_codex(&[
        ("update_plan", plan("in_progress", "pending")),
        ("exec_command", json!({ "cmd": command, "yield_time_ms": 30000 })),
        ("update_plan", plan("completed", "in_progress")),
        (
            "exec_command",
            json!({ "cmd": "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: new.txt\n+hello from the patch\n*** End Patch\nEOF\n" }),
        ),
        ("update_plan", plan("completed", "completed")),
    ])
    .await;
    let mut events = h.bridge.subscribe();
    let turn_id = h.bridge.send_message(&h.thread, "go").await.unwrap();
    let (seq, partial) = command_update(&mut events, |status, output, _| {
        status == "inProgress" && output.contains("first line")
    })
    .await;
    assert!(!partial.contains("second line"), "{partial:?}");
    // While it runs, the session's transcript has the row as it is now.
    let snapshot = h.bridge.session(&h.thread).await.unwrap().unwrap();
    let row = snapshot.transcript.iter().find(|r| r.seq == seq).unwrap();
    assert!(
        matches!(&row.entry, TranscriptEntry::Item(ItemRow::Command { status, .. }) if status == "inProgress")
    );
    std::fs::write(&gate, "").unwrap();
    let (done_seq, output) =
        command_update(&mut events, |_, _, exit_code| exit_code.is_some()).await;
    assert_eq!(done_seq, seq, "the same row, updated in place");
    assert!(
        output.contains("first line") && output.contains("second line"),
        "{output:?}"
    );
    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&h.thread, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed, "{turn:?}");
    assert!(h.work.join("new.txt").is_file());

    let snapshot = h.bridge.session(&h.thread).await.unwrap().unwrap();
    let items: Vec<(u64, ItemRow)> = snapshot
        .transcript
        .iter()
        .filter_map(|row| match &row.entry {
            TranscriptEntry::Item(item) => Some((row.seq, item.clone())),
            _ => None,
        })
        .collect();
    let commands: Vec<_> = items
        .iter()
        .filter(|(_, i)| matches!(i, ItemRow::Command { .. }))
        .collect();
    assert_eq!(commands.len(), 1, "{items:#?}");
    assert_eq!(commands[0].0, seq);
    assert!(
        matches!(&commands[0].1, ItemRow::Command { status, exit_code: Some(0), output_lines: 2, .. } if status == "completed")
    );
    let plans: Vec<_> = items
        .iter()
        .filter_map(|(_, i)| match i {
            ItemRow::Plan { steps, .. } => Some(steps.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(plans.len(), 1, "one plan row for the turn: {items:#?}");
    assert!(
        plans[0].iter().all(|s| s.status == "completed"),
        "{plans:?}"
    );
    let diffs = items
        .iter()
        .filter(|(_, i)| matches!(i, ItemRow::TurnDiff { diff } if diff.contains("+hello from the patch")))
        .count();
    assert_eq!(diffs, 1, "{items:#?}");
    assert!(
        items
            .iter()
            .any(|(_, i)| matches!(i, ItemRow::FileChange { status, .. } if status == "completed"))
    );

    // The file: each live row as it started and as it ended, none of the updates.
    let file = std::fs::read_to_string(h.data.join("sessions").join(format!("{}.jsonl", h.thread)))
        .unwrap();
    let count = |kind: &str| {
        file.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "item" && v["kind"] == kind)
            .count()
    };
    assert_eq!(
        (
            count("command"),
            count("plan"),
            count("turn_diff"),
            count("file_change")
        ),
        (2, 2, 2, 2)
    );
    // Read back, the transcript is as it was shown.
    let path = h.data.join("sessions").join(format!("{}.jsonl", h.thread));
    let (rows, _) = bridge::transcript::read_transcript(&path).unwrap();
    let back = bridge::items::keep_last_of_each(rows);
    let back_items: Vec<(u64, ItemRow)> = back
        .iter()
        .filter_map(|row| match &row.entry {
            TranscriptEntry::Item(item) => Some((row.seq, item.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(back_items, items);
    h.bridge.shutdown().await;
}

//! A live turn in the real console binary, in tmux, on the real codex (shell tool on,
//! approvals `never`): the scripted model updates its plan, runs a command that prints a
//! line and then waits for a file, and updates the plan again. The operator sees the
//! command's row running with its first line before it ends; the test then creates the
//! file (synchronised on the screen, never on time) and sees the second line, the exit
//! code and one plan row with every step done; the detail view pages the output.

use std::path::Path;

use serde_json::{Value, json};
use switchboard::model::{ModelServer, Scenario};

use super::console_tmux::Tmux;
use super::support::{codex_bin, repo_path};

fn prepare(
    home: &Path,
    gate: &Path,
    runtime: &tokio::runtime::Runtime,
) -> (ModelServer, std::path::PathBuf) {
    let plan = |first: &str, second: &str| {
        json!({"plan": [{"step": "print the first line", "status": first},
            {"step": "wait for the gate", "status": second}]})
    };
    let command = format!(
        "echo first line; while [ ! -e {gate} ]; do sleep 0.05; done; echo second line",
        gate = gate.display()
    );
    let rounds: [(&str, Value); 3] = [
        ("update_plan", plan("in_progress", "pending")),
        (
            "exec_command",
            json!({ "cmd": command, "yield_time_ms": 30000 }),
        ),
        ("update_plan", plan("completed", "completed")),
    ];
    let mut scenario = "[[turn]]\nmatch = \"watch live\"\n".to_string();
    for (tool, arguments) in rounds {
        let raw = toml::Value::String(arguments.to_string()).to_string();
        scenario.push_str(&format!(
            "[[turn.round]]\ncalls = [ {{ tool = \"{tool}\", arguments_json = {raw} }} ]\n"
        ));
    }
    scenario.push_str("[turn.reply]\ntext = \"all done\"\n");
    let scenario_path = home.join("scenario.toml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let model = runtime
        .block_on(ModelServer::start(
            Scenario::load(scenario_path.to_str().unwrap()).unwrap(),
            switchboard::model::ModelOptions::default(),
        ))
        .unwrap();
    let codex_home = home.join("codex");
    // codex offers `update_plan` only when asked to.
    super::support::write_shell_codex_home(
        &codex_home,
        &model.base_url(),
        "\n[tools.update_plan]\nenabled = true\n",
    );
    (model, codex_home)
}

fn watch_a_live_turn(width: u16, height: u16) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    let data = home.path().join("data");
    std::fs::create_dir_all(&work).unwrap();
    let gate = home.path().join("gate");
    let (_model, codex_home) = prepare(home.path(), &gate, &runtime);
    let command = format!(
        "cd '{}' && CODEX_HOME='{}' XDG_CONFIG_HOME='{}' SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' --catalog '{}' --approval-policy never --sandbox danger-full-access; echo switchboard-exited-$?; sleep 60",
        work.display(),
        codex_home.display(),
        home.path().join("config").display(),
        codex_bin().display(),
        data.display(),
        env!("CARGO_BIN_EXE_switchboard"),
        repo_path("tests/fixtures/catalogs/manual.toml").display(),
    );
    let tmux = Tmux::start(&command, width, height);
    tmux.wait_for("the console", |s| s.contains("connected"));
    tmux.keys(&["n"]);
    tmux.wait_for("a session", |s| s.contains("session ready"));
    tmux.literal("watch live");
    tmux.keys(&["Enter"]);

    // The command runs: its row shows the first line, and says so.
    let running = tmux.wait_for("the running command with its first line", |s| {
        s.contains("$ echo first line") && s.contains("running") && s.contains("│ first line")
    });
    assert!(!running.contains("│ second line"), "{running}");
    assert!(!gate.exists());
    assert!(
        running.contains("1 of 2 done") || running.contains("0 of 2 done"),
        "{running}"
    );
    std::fs::write(&gate, "").unwrap();

    // It ends: the second line, its exit code, and the one plan row with both steps done.
    let done = tmux.wait_for("the command's end and the plan done", |s| {
        s.contains("│ second line")
            && s.contains("completed · exit 0")
            && s.contains("2 of 2 done")
            && s.contains("all done")
    });
    assert_eq!(done.matches("≡ plan").count(), 1, "one plan row: {done}");
    assert!(!done.contains("running ·"), "{done}");

    // The detail view pages the command's output under its header: the transcript
    // focused (its footer offers Enter to expand), the selection moved up to the row.
    tmux.leave_composer();
    for _ in 0..4 {
        if footer(&tmux.screen()).contains("expand") {
            break;
        }
        tmux.keys(&["Tab"]);
        tmux.wait_for("the focus to move", |_| true);
    }
    assert!(
        footer(&tmux.screen()).contains("expand"),
        "{}",
        tmux.screen()
    );
    let mut pager = String::new();
    for _ in 0..8 {
        tmux.keys(&["k", "v"]);
        let screen = tmux.wait_for("a detail view", |s| s.contains("· lines "));
        if screen.contains("Command ·") {
            pager = screen;
            break;
        }
        tmux.keys(&["Escape"]);
        tmux.wait_for("the detail view closed", |s| !s.contains("· lines "));
    }
    assert!(pager.contains("exit code 0"), "{pager}");
    assert!(pager.contains("cwd"), "{pager}");
    assert!(
        pager.contains("first line") && pager.contains("second line"),
        "{pager}"
    );
    assert!(!pager.contains("aggregatedOutput"), "{pager}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the main view again", |s| !s.contains("Command ·"));
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
}

/// The screen's last line: the key hints of the focused pane.
fn footer(screen: &str) -> String {
    screen.lines().last().unwrap_or_default().to_string()
}

#[test]
fn an_operator_watches_a_command_stream_and_end_at_80x24() {
    watch_a_live_turn(80, 24);
}

#[test]
fn an_operator_watches_a_command_stream_and_end_at_160x48() {
    watch_a_live_turn(160, 48);
}

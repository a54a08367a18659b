//! The request cards in the real console binary, in tmux, on the real codex: the scripted
//! model makes codex ask for a command, a file change, an answer to a question and (through
//! `tests/fixtures/mcp_elicit.py`) an MCP tool call and its form, under the console's
//! `--approval-policy untrusted`. The operator answers each on its card; the test checks
//! the screen, the disk, the transcript file and what the model says it received.

use std::path::Path;

use serde_json::{Value, json};
use switchboard::model::{ModelServer, Scenario};

use super::console_tmux::Tmux;
use super::support::{codex_bin, repo_path};

fn call_turn(matches: &str, tool: &str, namespace: Option<&str>, arguments: &Value) -> String {
    let raw = toml::Value::String(arguments.to_string()).to_string();
    let namespace = namespace
        .map(|ns| format!(", namespace = \"{ns}\""))
        .unwrap_or_default();
    format!(
        "[[turn]]\nmatch = \"{matches}\"\n[[turn.round]]\ncalls = [ {{ tool = \"{tool}\"{namespace}, arguments_json = {raw} }} ]\n[turn.reply]\ntext = \"model saw: {{outputs}}\"\n\n"
    )
}

/// The scenario, and a CODEX_HOME whose config turns on the shell tool, questions and
/// the MCP server of the fixtures.
fn prepare(
    home: &Path,
    work: &Path,
    runtime: &tokio::runtime::Runtime,
) -> (ModelServer, std::path::PathBuf) {
    let patch = format!(
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: {}\n+hello from the patch\n*** End Patch\nEOF\n",
        work.join("new.txt").display()
    );
    let scenario = [
        call_turn(
            "run the command",
            "exec_command",
            None,
            &json!({ "cmd": format!("touch {}/ran.txt && echo RAN", work.display()) }),
        ),
        call_turn(
            "patch the file",
            "exec_command",
            None,
            &json!({ "cmd": patch }),
        ),
        call_turn(
            "ask me",
            "request_user_input",
            None,
            &json!({ "questions": [{ "id": "color", "header": "Color", "question": "Which color?",
                "isOther": true,
                "options": [{ "label": "Red", "description": "warm" },
                            { "label": "Blue", "description": "cool" }] }] }),
        ),
        call_turn(
            "use the probe",
            "probe_write",
            Some("mcp__probe"),
            &json!({}),
        ),
    ]
    .concat();
    let scenario_path = home.join("scenario.toml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let model = runtime
        .block_on(ModelServer::start(
            Scenario::load(scenario_path.to_str().unwrap()).unwrap(),
            switchboard::model::ModelOptions::default(),
        ))
        .unwrap();
    let codex_home = home.join("codex");
    switchboard::model::write_codex_home(&codex_home, &model.base_url()).unwrap();
    let config_path = codex_home.join("config.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("shell_tool = false", "shell_tool = true")
        .replace("unified_exec = false", "unified_exec = true")
        .replace(
            "[features]\n",
            "[features]\ndefault_mode_request_user_input = true\n",
        );
    let mcp_server = toml::Value::String(
        repo_path("tests/fixtures/mcp_elicit.py")
            .display()
            .to_string(),
    );
    let config =
        format!("{config}\n[mcp_servers.probe]\ncommand = \"python3\"\nargs = [{mcp_server}]\n");
    std::fs::write(&config_path, config).unwrap();
    (model, codex_home)
}

/// Sends a message from the composer of the selected session.
fn say(tmux: &Tmux, text: &str) {
    tmux.keys(&["i"]);
    tmux.literal(text);
    tmux.keys(&["Enter"]);
}

/// The transcript rows of every session in the data directory.
fn transcript_rows(data: &Path) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(&path).unwrap();
                rows.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
        }
    }
    rows
}

#[test]
fn an_operator_answers_every_kind_of_request_on_its_card() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    let data = home.path().join("data");
    std::fs::create_dir_all(&work).unwrap();
    let (_model, codex_home) = prepare(home.path(), &work, &runtime);
    let command = format!(
        "cd '{}' && CODEX_HOME='{}' XDG_CONFIG_HOME='{}' SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' --catalog '{}' --approval-policy untrusted --sandbox danger-full-access; echo switchboard-exited-$?; sleep 60",
        work.display(),
        codex_home.display(),
        home.path().join("config").display(),
        codex_bin().display(),
        data.display(),
        env!("CARGO_BIN_EXE_switchboard"),
        repo_path("tests/fixtures/catalogs/manual.toml").display(),
    );
    let tmux = Tmux::start(&command, 160, 48);
    tmux.wait_for("the console", |s| s.contains("connected"));
    tmux.keys(&["n"]);
    tmux.wait_for("a session", |s| s.contains("session ready"));

    // 1. A command: its card shows it unwrapped, with codex's decisions first; accept.
    tmux.literal("run the command");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the approval in the queue", |s| {
        s.contains("waiting on you 1") && s.contains("Approvals & questions 1")
    });
    tmux.leave_composer();
    tmux.keys(&["A"]);
    let card = tmux.wait_for("the command card", |s| {
        s.contains("command · session") && s.contains("ran.txt && echo RAN")
    });
    assert!(card.contains("1. accept (offered)"), "{card}");
    // The card's command line (the transcript beside it has the request's summary).
    let command_line = card.lines().find(|l| l.contains("│command  ")).unwrap();
    assert!(!command_line.contains("/bin/bash -lc"), "{card}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the command's output reaching the model", |s| {
        s.contains("model saw:") && s.contains("RAN") && s.contains("waiting on you 0")
    });
    assert!(work.join("ran.txt").exists());

    // 2. A file change: the diff is on the card before it is accepted; then it is written.
    say(&tmux, "patch the file");
    tmux.wait_for("the file change in the queue", |s| {
        s.contains("waiting on you 1")
    });
    tmux.leave_composer();
    tmux.keys(&["A"]);
    let card = tmux.wait_for("the file-change card with its diff", |s| {
        s.contains("file change · session") && s.contains("+hello from the patch")
    });
    assert!(card.contains("new.txt"), "{card}");
    assert!(!work.join("new.txt").exists());
    tmux.keys(&["Enter"]);
    tmux.wait_for("the patch's result reaching the model", |s| {
        s.contains("model saw:") && s.contains("Success") && s.contains("waiting on you 0")
    });
    assert_eq!(
        std::fs::read_to_string(work.join("new.txt")).unwrap(),
        "hello from the patch\n"
    );

    // 3. A question: typed as an "other" answer, with a note.
    say(&tmux, "ask me");
    tmux.wait_for("the question in the queue", |s| {
        s.contains("waiting on you 1")
    });
    tmux.leave_composer();
    tmux.keys(&["A"]);
    tmux.wait_for("the question card", |s| {
        s.contains("Question 1 of 1") && s.contains("Which color?") && s.contains("cool")
    });
    tmux.literal("Teal");
    tmux.keys(&["Down"]);
    tmux.literal("matches the logo");
    tmux.wait_for("the typed answer and note", |s| {
        s.contains("Other: Teal") && s.contains("matches the logo")
    });
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the answer reaching the model", |s| {
        s.contains("model saw:") && s.contains("Teal") && s.contains("waiting on you 0")
    });
    assert!(screen.contains("user_note: matches the logo"), "{screen}");

    // 4. An MCP tool: codex asks whether it may run (allow once), then the tool's form.
    say(&tmux, "use the probe");
    tmux.wait_for("the MCP tool approval", |s| s.contains("waiting on you 1"));
    tmux.leave_composer();
    tmux.keys(&["A"]);
    let card = tmux.wait_for("the MCP tool approval card", |s| {
        s.contains("elicitation · session") && s.contains("allow this call")
    });
    assert!(card.contains("probe"), "{card}");
    tmux.keys(&["1"]);
    // The approval leaves the queue and the MCP server's form takes its place.
    tmux.wait_for("the form in the queue", |s| {
        s.contains("mcp_elicitation accept by operator") && s.contains("MCP server probe asks")
    });
    tmux.keys(&["A"]);
    tmux.wait_for("the form card", |s| {
        s.contains("Whose greeting should the probe write?") && s.contains("Name*")
    });
    // Empty, it is not sent.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the form's complaint", |s| {
        s.contains("not sent: Name: required")
    });
    tmux.literal("Ada");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the form's answer reaching the model", |s| {
        s.contains(r#"elicited accept {"name": "Ada"}"#) && s.contains("waiting on you 0")
    });

    // The transcript file: a request row and an operator's resolved row for each.
    tmux.leave_composer();
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
    let rows = transcript_rows(&data);
    let resolved: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["type"] == "request.resolved")
        .map(|r| {
            assert_eq!(r["answeredBy"]["kind"], "operator", "{r}");
            (
                r["kind"].as_str().unwrap_or_default(),
                r["decision"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        resolved,
        [
            ("command_approval", "accept"),
            ("file_change_approval", "accept"),
            ("user_input", "1 answer(s)"),
            ("mcp_elicitation", "accept"),
            ("mcp_elicitation", "accept"),
        ],
        "{rows:#?}"
    );
    let opened = rows
        .iter()
        .filter(|r| r["type"] == "request.opened")
        .count();
    assert_eq!(opened, 5);
}

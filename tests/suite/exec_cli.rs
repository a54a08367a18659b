//! `switchboard exec` and `switchboard catalog check`, run as the real binary against
//! the real codex app-server and the scripted model.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::support::{codex_bin, repo_path};

fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.env("SWITCHBOARD_CODEX_BIN", codex_bin());
    command
}

struct ExecRun {
    output: Output,
    lines: Vec<Value>,
    _data: tempfile::TempDir,
}

impl ExecRun {
    fn result(&self) -> &Value {
        let last = self.lines.last().expect("no output lines");
        assert_eq!(
            last["type"], "result",
            "last line is not the result: {last}"
        );
        last
    }

    fn tool_calls(&self) -> Vec<&Value> {
        self.result()["toolCalls"]
            .as_array()
            .unwrap()
            .iter()
            .collect()
    }

    fn call_text(&self, tool: &str) -> String {
        let call = self
            .tool_calls()
            .into_iter()
            .find(|c| c["tool"] == tool)
            .unwrap_or_else(|| panic!("no call of {tool}"));
        call["result"]["contentItems"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["type"] == kind).collect()
    }
}

fn exec_json(catalog: &str, scenario: &str, prompt: &str) -> ExecRun {
    let data = tempfile::tempdir().unwrap();
    let output = switchboard()
        .args(["exec", "--json", "--catalog"])
        .arg(repo_path(catalog))
        .arg(format!("--scripted-model={scenario}"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("--cwd")
        .arg(data.path())
        .arg(prompt)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    ExecRun {
        output,
        lines,
        _data: data,
    }
}

#[test]
fn one_call_answered_by_a_command_handler() {
    let data = tempfile::tempdir().unwrap();
    let output = switchboard()
        .args(["exec", "--scripted-model", "--catalog"])
        .arg(repo_path("assets/support.toml"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("please call:lookup_ticket")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.contains("ticket T-1: open, owner dana"),
        "the reply should quote the handler's output: {stdout}"
    );
    assert!(
        stderr.contains("answered by handler lookup_ticket"),
        "{stderr}"
    );
}

#[test]
fn two_parallel_calls() {
    let run = exec_json(
        "assets/support.toml",
        "auto",
        "call:lookup_ticket call:search_kb",
    );
    assert!(run.output.status.success(), "{:?}", run.output);
    let result = run.result();
    assert_eq!(result["turnStatus"], "completed");
    assert_eq!(run.tool_calls().len(), 2);
    // Both requests were raised by one model response: both arrive before the reply.
    let requested = run.events_of("tool_call_requested");
    assert_eq!(requested.len(), 2);
    assert!(run.call_text("lookup_ticket").contains("ticket T-1"));
    let reply = result["assistantReply"].as_str().unwrap();
    assert!(reply.contains("ticket T-1: open"), "{reply}");
    assert!(reply.contains("Resetting a password"), "{reply}");
}

#[test]
fn multi_round_turn() {
    let run = exec_json(
        "assets/support.toml",
        "multi-round",
        "work through every tool",
    );
    assert!(run.output.status.success(), "{:?}", run.output);
    let calls = run.tool_calls();
    // Manual escalate_ticket is answered by the headless policy; the turn goes on.
    assert_eq!(calls.len(), 4, "{calls:?}");
    let distinct_turns: std::collections::HashSet<_> =
        calls.iter().map(|c| c["turnId"].clone()).collect();
    assert_eq!(distinct_turns.len(), 1);
    let escalate = calls
        .iter()
        .find(|c| c["tool"] == "escalate_ticket")
        .unwrap();
    assert_eq!(escalate["success"], false);
    assert!(
        run.call_text("escalate_ticket")
            .contains("no operator is available")
    );
    assert_eq!(run.result()["turnStatus"], "completed");
}

#[test]
fn failing_handlers_still_complete_the_turn() {
    let run = exec_json(
        "tests/fixtures/catalogs/faulty.toml",
        "auto",
        "call:exits_nonzero call:hangs call:prints_garbage",
    );
    assert!(run.output.status.success(), "{:?}", run.output);
    assert_eq!(run.result()["turnStatus"], "completed");
    for call in run.tool_calls() {
        assert_eq!(call["success"], false, "{call}");
        assert_eq!(call["status"], "resolved", "{call}");
    }
    let nonzero = run.call_text("exits_nonzero");
    assert!(
        nonzero.contains("exit") && nonzero.contains('3'),
        "{nonzero}"
    );
    assert!(
        nonzero.contains("database unreachable"),
        "stderr tail missing: {nonzero}"
    );
    let hang = run.call_text("hangs");
    assert!(hang.contains("timed out after 300 ms"), "{hang}");
    let garbage = run.call_text("prints_garbage");
    assert!(garbage.contains("contentItems"), "{garbage}");
    // Each says how its handler failed; only the hang timed out.
    for call in run.tool_calls() {
        assert!(call["handlerFailure"].is_string(), "{call}");
        assert_eq!(
            call["timedOut"].as_bool().unwrap_or(false),
            call["tool"] == "hangs",
            "{call}"
        );
    }
}

#[test]
fn an_answer_that_breaks_the_output_schema_is_flagged() {
    let run = exec_json(
        "tests/fixtures/catalogs/examples.toml",
        "auto",
        "call:customer call:ticket_status",
    );
    assert!(run.output.status.success(), "{:?}", run.output);
    let customer = run
        .tool_calls()
        .into_iter()
        .find(|c| c["tool"] == "customer")
        .expect("no customer call");
    let problems = customer["outputSchemaProblems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{customer}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .contains("\"id\" is a required property"),
        "{customer}"
    );
    // The event says so too, and so does the transcript row.
    let event = run
        .events_of("tool_call_resolved")
        .into_iter()
        .find(|e| e["call"]["tool"] == "customer")
        .expect("no resolved event");
    assert_eq!(
        event["call"]["outputSchemaProblems"],
        customer["outputSchemaProblems"]
    );
    let row = run
        .events_of("transcript_appended")
        .into_iter()
        .find(|e| e["row"]["type"] == "tool_call.resolved" && e["row"]["tool"] == "customer")
        .expect("no resolved row");
    assert_eq!(
        row["row"]["outputSchemaProblems"],
        customer["outputSchemaProblems"]
    );
    // A plain-text answer of a tool without an output schema is not flagged.
    let status = run
        .tool_calls()
        .into_iter()
        .find(|c| c["tool"] == "ticket_status")
        .expect("no ticket_status call");
    assert!(status.get("outputSchemaProblems").is_none(), "{status}");
    // Without --json, stderr says so under the call's line.
    let data = tempfile::tempdir().unwrap();
    let output = switchboard()
        .args(["exec", "--scripted-model", "--catalog"])
        .arg(repo_path("tests/fixtures/catalogs/examples.toml"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("call:customer")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("⚠ output_schema: answer: \"id\" is a required property"),
        "exec says so on stderr: {stderr}"
    );
}

#[test]
fn invalid_catalog_fails_before_anything_starts() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("started");
    let fake_codex = marker_dir.path().join("codex");
    std::fs::write(
        &fake_codex,
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_codex, std::fs::Permissions::from_mode(0o755)).unwrap();

    let output = switchboard()
        .args(["exec", "--scripted-model", "--codex-bin"])
        .arg(&fake_codex)
        .arg("--data-dir")
        .arg(marker_dir.path())
        .arg("--catalog")
        .arg(repo_path("tests/fixtures/catalogs/broken.toml"))
        .arg("hello")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.toml"), "{stderr}");
    assert!(stderr.contains("bad name!"), "{stderr}");
    assert!(stderr.contains("twice"), "{stderr}");
    assert!(
        !marker.exists(),
        "app-server was started for an invalid catalog"
    );
}

#[test]
fn app_server_killed_mid_turn() {
    let data = tempfile::tempdir().unwrap();
    let mut child = switchboard()
        .args([
            "exec",
            "--json",
            "--scripted-model",
            "--manual",
            "wait",
            "--catalog",
        ])
        .arg(repo_path("tests/fixtures/catalogs/manual.toml"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("call:approve_refund")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut pid = None;
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if line["type"] == "connection" && line["state"] == "connected" {
            pid = line["pid"].as_i64();
        }
        if line["type"] == "tool_call_requested" {
            let pid = pid.expect("no app-server pid reported");
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{lines:?}");
    let expired: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "tool_call_resolved")
        .collect();
    assert_eq!(expired.len(), 1, "{lines:?}");
    assert_eq!(expired[0]["call"]["status"], "expired");
    let reason = expired[0]["call"]["reason"].as_str().unwrap();
    assert!(reason.contains("app-server exited"), "{reason}");
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result");
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("app-server exited"),
        "{result}"
    );
}

#[test]
fn catalog_check_prints_payload_and_instructions() {
    let output = switchboard()
        .args(["catalog", "check", "--json"])
        .arg(repo_path("assets/support.toml"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let tools = report["dynamicTools"].as_array().unwrap();
    let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "lookup_ticket",
            "search_kb",
            "service_status",
            "escalate_ticket"
        ]
    );
    assert_eq!(tools[0]["inputSchema"]["required"][0], "ticket_id");
    assert!(
        report["instructionText"]
            .as_str()
            .unwrap()
            .contains("lookup_ticket")
    );

    let broken = switchboard()
        .args(["catalog", "check"])
        .arg(repo_path("tests/fixtures/catalogs/broken.toml"))
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
}

/// What Switchboard writes holds what the model and the handlers said: the data
/// directory and its folders are created 0700, transcripts and logs 0600.
#[test]
fn the_data_directory_transcripts_and_logs_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("fresh").join("data");
    let output = switchboard()
        .args(["exec", "--scripted-model", "--catalog"])
        .arg(repo_path("assets/support.toml"))
        .arg("--data-dir")
        .arg(&data)
        .arg("please call:lookup_ticket")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for dir in [data.clone(), data.join("logs"), data.join("sessions")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(mode(&data.join("logs").join("exec.log")), 0o600);
    let transcripts: Vec<_> = std::fs::read_dir(data.join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(transcripts.len(), 1);
    assert_eq!(mode(&transcripts[0]), 0o600);
}

//! The catalog author's loop on the real codex: `catalog check` refuses what codex
//! refuses (and codex really does), `check --through-codex` shows what the model gets,
//! `catalog test` runs examples, `catalog replay` re-runs a recorded session.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::appserver::{ProtocolTap, TransportSpec, connection, transport};
use switchboard::catalog::{Catalog, CatalogError};

use super::support::{codex_bin, repo_path};

fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.env("SWITCHBOARD_CODEX_BIN", codex_bin());
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// What the catalog text would be sent as if nothing checked it: `[[tools]]` in the
/// legacy shape, `[[namespaces]]` in the canonical one, side by side.
fn unchecked_payload(catalog: &str) -> Value {
    let table: toml::Table = toml::from_str(catalog).unwrap();
    let mut payload = Vec::new();
    let function = |tool: &toml::Value| {
        json!({
            "name": tool["name"].as_str(),
            "description": tool["description"].as_str(),
            "inputSchema": serde_json::to_value(&tool["input_schema"]).unwrap(),
        })
    };
    for tool in table
        .get("tools")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        let mut entry = function(tool);
        if let Some(namespace) = tool.get("namespace") {
            entry["namespace"] = json!(namespace.as_str());
        }
        payload.push(entry);
    }
    for namespace in table
        .get("namespaces")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        let tools: Vec<Value> = namespace["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| {
                let mut entry = function(tool);
                entry["type"] = json!("function");
                entry
            })
            .collect();
        payload.push(json!({
            "type": "namespace",
            "name": namespace["name"].as_str(),
            "description": namespace["description"].as_str(),
            "tools": tools,
        }));
    }
    Value::Array(payload)
}

/// The real codex app-server, initialised, with a private CODEX_HOME.
struct RawCodex {
    conn: switchboard::appserver::ConnectionHandle,
    _kill: Option<tokio::sync::oneshot::Sender<()>>,
    _inbound: tokio::sync::mpsc::Receiver<switchboard::appserver::Inbound>,
    _home: tempfile::TempDir,
}

impl RawCodex {
    async fn start() -> RawCodex {
        let home = tempfile::tempdir().unwrap();
        // No model request is made: thread/start alone is under test.
        switchboard::model::write_codex_home(home.path(), "http://127.0.0.1:9/v1").unwrap();
        let spec = TransportSpec::Stdio {
            program: codex_bin(),
            args: vec!["app-server".to_string()],
            env: vec![("CODEX_HOME".to_string(), home.path().display().to_string())],
        };
        let mut raw = transport::connect(&spec).await.unwrap();
        let kill = raw.kill.take();
        let (conn, inbound) =
            connection::start(raw, 0, ProtocolTap::default(), Duration::from_secs(60));
        conn.initialize("test").await.unwrap();
        RawCodex {
            conn,
            _kill: kill,
            _inbound: inbound,
            _home: home,
        }
    }

    async fn thread_start(&self, tools: Value) -> Result<Value, String> {
        let cwd = self._home.path().display().to_string();
        self.conn
            .request("thread/start", json!({ "cwd": cwd, "dynamicTools": tools }))
            .await
            .map_err(|e| e.to_string())
    }
}

fn tool(name: &str, namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|ns| format!("namespace = \"{ns}\"\n"))
        .unwrap_or_default();
    format!(
        "[[tools]]\nname = \"{name}\"\ndescription = \"d\"\ninput_schema = {{ type = \"object\" }}\n{namespace}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_exactly_what_codex_refuses_at_thread_start() {
    let long_name = "t".repeat(129);
    let long_namespace = "n".repeat(65);
    let mixed = format!(
        "{}\n[[namespaces]]\nname = \"crm\"\ndescription = \"Customer records\"\n[[namespaces.tools]]\nname = \"get\"\ndescription = \"d\"\ninput_schema = {{ type = \"object\" }}\n",
        tool("a", Some("other"))
    );
    // (catalog, the line, tool and words its problem must carry)
    let refused: Vec<(String, &str)> = vec![
        (
            tool("a", Some("web")),
            ":5: tool `a`: namespace `web` is reserved",
        ),
        (
            tool("a", Some("browser")),
            ":5: tool `a`: namespace `browser` is reserved",
        ),
        (
            tool("a", Some("python")),
            ":5: tool `a`: namespace `python` is reserved",
        ),
        (
            tool("a", Some("tool_search")),
            ":5: tool `a`: namespace `tool_search` is reserved",
        ),
        (
            tool("a", Some("container")),
            ":5: tool `a`: namespace `container` is reserved",
        ),
        (
            tool("a", Some("functions")),
            ":5: tool `a`: namespace `functions` is reserved",
        ),
        (
            tool("a", Some("mcp__files")),
            ":5: tool `a`: namespace `mcp__files` starts with `mcp__`",
        ),
        (
            tool(&long_name, None),
            ":2: tools[0]: name is 129 characters long",
        ),
        (
            tool("a", Some(&long_namespace)),
            ":5: tool `a`: namespace is 65 characters long",
        ),
        (
            mixed,
            ":5: tool `a`: namespace = \"other\" is the legacy shape",
        ),
    ];
    let codex = RawCodex::start().await;
    // The control: what the check accepts, codex accepts, in both shapes.
    for accepted in [
        tool(&"t".repeat(128), Some(&"n".repeat(64))),
        "[[namespaces]]\nname = \"crm\"\ndescription = \"Customer records\"\n[[namespaces.tools]]\nname = \"get\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n".to_string(),
    ] {
        let catalog = Catalog::parse(&accepted, Path::new("ok.toml")).unwrap();
        let payload = catalog.dynamic_tools_payload();
        assert_eq!(payload, unchecked_payload(&accepted));
        codex
            .thread_start(payload)
            .await
            .unwrap_or_else(|e| panic!("codex refused an accepted catalog: {e}\n{accepted}"));
    }
    for (catalog, expected) in refused {
        match Catalog::parse(&catalog, Path::new("refused.toml")) {
            Err(CatalogError::Invalid { problems, .. }) => assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&format!("refused.toml{expected}"))),
                "expected `{expected}` among {problems:?}"
            ),
            other => panic!("catalog check accepted what codex refuses: {other:?}\n{catalog}"),
        }
        let answer = codex.thread_start(unchecked_payload(&catalog)).await;
        assert!(
            answer.is_err(),
            "codex now accepts this catalog, so the check is stale: {catalog}\n{answer:?}"
        );
    }
}

#[test]
fn check_through_codex_shows_what_the_model_is_offered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.toml");
    std::fs::write(
        &file,
        r#"
[[tools]]
name = "view_image"
description = "My own image viewer"
input_schema = { type = "object", properties = { path = { type = "string" } } }
handler = { static_text = "x" }

[[tools]]
name = "due"
description = "When a ticket is due"
input_schema = { type = "object", properties = { when = { type = "date" }, ticket = { type = "string" } } }
handler = { static_text = "x" }

[[namespaces]]
name = "crm"
description = "Customer records: look people up"

[[namespaces.tools]]
name = "get"
description = "Get a record"
input_schema = { type = "object", properties = { id = { type = "integer" } } }
handler = { static_text = "record" }
"#,
    )
    .unwrap();
    let output = switchboard()
        .args(["catalog", "check", "--through-codex", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let differences: Vec<(String, String, String)> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["tool"].as_str().unwrap().to_string(),
                d["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let find = |kind: &str, tool: &str| {
        differences
            .iter()
            .find(|(k, t, _)| k == kind && t == tool)
            .unwrap_or_else(|| panic!("no `{kind}` difference for {tool} in {differences:?}"))
            .2
            .clone()
    };
    assert!(find("shadowed", "view_image").contains("codex's own"));
    assert!(find("sanitised", "due").contains("input_schema.properties.when is {}"));
    assert!(find("strict", "(every catalog tool)").contains("strict = false"));
    assert!(
        !differences
            .iter()
            .any(|(_, t, _)| t == "crm.get" || t == "crm")
    );
    // The namespace reaches the model with the catalog's description and its tool.
    let model_tools = report["modelTools"].as_array().unwrap();
    let crm = model_tools
        .iter()
        .find(|t| t["type"] == "namespace" && t["name"] == "crm")
        .unwrap_or_else(|| panic!("no crm namespace in {model_tools:?}"));
    assert_eq!(crm["description"], "Customer records: look people up");
    assert_eq!(crm["tools"][0]["name"], "get");
    assert_eq!(
        crm["tools"][0]["parameters"]["properties"]["id"]["type"],
        "integer"
    );
}

#[test]
fn catalog_test_passes_the_example_catalog_directly_and_through_codex() {
    for through_codex in [false, true] {
        let mut command = switchboard();
        command.args(["catalog", "test", "assets/support.toml"]);
        if through_codex {
            command.arg("--through-codex");
        }
        let output = command.current_dir(repo_path("")).output().unwrap();
        let (stdout, stderr) = text(&output);
        assert!(
            output.status.success(),
            "stdout: {stdout}\nstderr: {stderr}"
        );
        assert!(
            stdout.contains("ok   lookup_ticket an open ticket"),
            "{stdout}"
        );
        assert!(
            stdout.contains("ok   lookup_ticket an unknown ticket"),
            "{stdout}"
        );
        assert!(
            stdout
                .lines()
                .last()
                .unwrap()
                .starts_with("4 passed, 0 failed"),
            "{stdout}"
        );
    }
}

#[test]
fn catalog_test_reports_each_failing_example_like_a_test_runner() {
    let output = switchboard()
        .args(["catalog", "test", "--json"])
        .arg(repo_path("tests/fixtures/catalogs/examples.tests.toml"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(4))
    );
    let problems = |example: &str| -> Vec<String> {
        let found = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["example"] == example)
            .unwrap_or_else(|| panic!("no result for {example}: {report}"));
        found["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    assert!(problems("passes").is_empty());
    assert!(problems("from the test file").is_empty());
    assert_eq!(
        problems("wrong text"),
        vec!["text_contains: \"open\" is not in the answer \"closed\""]
    );
    assert_eq!(
        problems("bad arguments"),
        vec!["input_schema: arguments/ticket_id: 7 is not of type \"string\""]
    );
    assert_eq!(
        problems("times out"),
        vec![
            "expected success = true, got false: \"handler `slow` timed out after 300 ms and was killed\"",
            "the handler failed: handler `slow` timed out after 300 ms and was killed",
        ]
    );
    assert_eq!(
        problems("breaks output_schema"),
        vec!["output_schema: answer: \"id\" is a required property"]
    );

    // The text form, with each failure's file and line.
    let output = switchboard()
        .args(["catalog", "test"])
        .arg(repo_path("tests/fixtures/catalogs/examples.toml"))
        .output()
        .unwrap();
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL slow times out ("), "{stdout}");
    assert!(stdout.contains("examples.toml:29"), "{stdout}");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("1 passed, 4 failed"),
        "{stdout}"
    );
}

#[test]
fn replay_names_exactly_the_call_whose_handler_changed() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    let original = std::fs::read_to_string(repo_path("assets/support.toml"))
        .unwrap()
        .replace(
            "handlers/",
            &format!("{}/", repo_path("assets/handlers").display()),
        );
    std::fs::write(&catalog, &original).unwrap();
    let data = dir.path().join("data");
    let output = switchboard()
        .args(["exec", "--scripted-model", "--catalog"])
        .arg(&catalog)
        .arg("--data-dir")
        .arg(&data)
        .arg("--cwd")
        .arg(dir.path())
        .arg("call:lookup_ticket call:service_status call:escalate_ticket")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let transcript = std::fs::read_dir(data.join("sessions"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    let replay = |json: bool| {
        let mut command = switchboard();
        command
            .args(["catalog", "replay"])
            .arg(&transcript)
            .arg("--catalog")
            .arg(&catalog);
        if json {
            command.arg("--json");
        }
        command.output().unwrap()
    };
    let unchanged = replay(false);
    let (stdout, stderr) = text(&unchanged);
    assert!(
        unchanged.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.contains("3 calls: 2 same, 0 changed, 1 not re-run"),
        "{stdout}"
    );

    std::fs::write(
        &catalog,
        original.replace("all systems operational", "all systems degraded"),
    )
    .unwrap();
    let changed = replay(true);
    let (stdout, stderr) = text(&changed);
    assert_eq!(
        changed.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let calls = report["calls"].as_array().unwrap();
    let verdict = |tool: &str| {
        calls
            .iter()
            .find(|c| c["tool"] == tool)
            .unwrap_or_else(|| panic!("no {tool} in {calls:?}"))
    };
    assert_eq!(verdict("lookup_ticket")["verdict"], "same");
    assert_eq!(verdict("escalate_ticket")["verdict"], "not_rerun");
    let status = verdict("service_status");
    assert_eq!(status["verdict"], "changed");
    assert_eq!(
        status["diff"],
        json!(["- all systems operational", "+ all systems degraded"])
    );
    assert_eq!(report["changed"], 1);
}

/// The captured app-server line of `method` (codex 0.171.0), as written in the fixture.
fn captured_request_line(method: &str) -> String {
    let text =
        std::fs::read_to_string(repo_path("tests/fixtures/appserver_requests_0171.jsonl")).unwrap();
    let needle = format!("<< {{\"method\":\"{method}\",\"id\"");
    text.lines()
        .find(|line| line.starts_with(&needle))
        .unwrap_or_else(|| panic!("no captured {method}"))
        .to_string()
}

const RULES: &str = r#"
[[tools]]
name = "echo"
description = "Echo"
input_schema = { type = "object" }
handler = { static_text = "ok" }

[[approvals]]
match = { kind = "command", command_regex = "^rm " }
decision = "decline"
reason = "never delete from this console"

[[approvals]]
match = { kind = "command", command_prefix = ["touch"] }
decision = "accept"

[[approvals]]
match = { kind = "file_change", path_glob = "docs/**" }
decision = "accept"

[[approvals]]
match = { kind = "permissions" }
decision = "accept"

[[approvals]]
match = { kind = "user_input" }
handler = { command = ["python3", "decide.py"] }
"#;

fn explain(dir: &Path, request_line: &str, extra: &[&str]) -> Value {
    let catalog = dir.join("catalog.toml");
    std::fs::write(&catalog, RULES).unwrap();
    let request = dir.join("request.json");
    std::fs::write(&request, request_line).unwrap();
    let output = switchboard()
        .args(["catalog", "check", "--json", "--explain-approval"])
        .arg(&request)
        .arg(&catalog)
        .args(extra)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn rules_explain_approval_shows_the_rule_and_the_exact_answer_for_captured_requests() {
    let dir = tempfile::tempdir().unwrap();
    // codex 0.171 wraps the command: `/bin/bash -lc 'touch .. && echo RAN'`. The prefix
    // rule does not approve a compound command, so a person decides.
    let command = captured_request_line("item/commandExecution/requestApproval");
    let report = explain(dir.path(), &command, &[]);
    assert_eq!(report["outcome"], "ask", "{report}");
    assert_eq!(report["rule"], Value::Null);

    let simple = command.replace(
        "/bin/bash -lc 'touch /tmp/cap-t8no00fe/ran.txt && echo RAN'",
        "/bin/bash -lc 'touch /tmp/cap-t8no00fe/ran.txt'",
    );
    let report = explain(dir.path(), &simple, &[]);
    assert_eq!(report["outcome"], "decided", "{report}");
    assert_eq!(report["rule"], 2);
    assert_eq!(report["answer"], json!({"decision": "accept"}));

    let removal = command.replace(
        "/bin/bash -lc 'touch /tmp/cap-t8no00fe/ran.txt && echo RAN'",
        "/bin/bash -lc 'rm -rf /tmp/cap-t8no00fe'",
    );
    let report = explain(dir.path(), &removal, &[]);
    assert_eq!(report["rule"], 1, "{report}");
    assert_eq!(report["decision"], "decline");
    assert_eq!(report["reason"], "never delete from this console");
    assert_eq!(report["answer"], json!({"decision": "decline"}));

    let permissions = captured_request_line("item/permissions/requestApproval");
    let report = explain(dir.path(), &permissions, &[]);
    assert_eq!(report["rule"], 4, "{report}");
    assert_eq!(
        report["answer"],
        json!({"permissions": {"network": {"enabled": true}}, "scope": "turn"})
    );

    let file_change = captured_request_line("item/fileChange/requestApproval");
    let report = explain(dir.path(), &file_change, &[]);
    assert_eq!(report["outcome"], "ask", "paths unknown: {report}");
    let report = explain(
        dir.path(),
        &file_change,
        &["--changed-path", "docs/a.md", "--session-cwd", "/tmp/x"],
    );
    assert_eq!(report["rule"], 3, "{report}");
    assert_eq!(report["answer"], json!({"decision": "accept"}));

    let question = captured_request_line("item/tool/requestUserInput");
    let report = explain(dir.path(), &question, &[]);
    assert_eq!(report["outcome"], "handler", "{report}");
    assert_eq!(report["handler"], json!(["python3", "decide.py"]));
    assert_eq!(
        report["handlerInput"]["params"]["questions"][0]["id"],
        "color"
    );

    // Only the params, without the JSON-RPC envelope.
    let params: Value = serde_json::from_str(removal.trim_start_matches("<< ")).unwrap();
    let report = explain(dir.path(), &params["params"].to_string(), &[]);
    assert_eq!(report["rule"], 1, "{report}");
}

#[test]
fn rules_check_lists_rules_and_refuses_bad_ones_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, RULES).unwrap();
    let output = switchboard()
        .args(["catalog", "check"])
        .arg(&catalog)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("# approval rules (matched in order; no match: ask)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "rule 1 (line 8): kind command, command_regex \"^rm \" -> decline (never delete from this console)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("rule 5 (line 25): kind user_input -> handler python3 decide.py"),
        "{stdout}"
    );

    std::fs::write(
        &catalog,
        "[[approvals]]\nmatch = { kind = \"file_change\", path_glob = \"a[\" }\ndecision = \"accept\"\n",
    )
    .unwrap();
    let output = switchboard()
        .args(["catalog", "check"])
        .arg(&catalog)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "{}:2: approval rule 1 (approvals[0]): match.path_glob \"a[\" is not a valid glob",
            catalog.display()
        )),
        "{stderr}"
    );

    let request = dir.path().join("request.json");
    std::fs::write(&request, "not json").unwrap();
    std::fs::write(&catalog, RULES).unwrap();
    let output = switchboard()
        .args(["catalog", "check", "--explain-approval"])
        .arg(&request)
        .arg(&catalog)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("the request is not JSON"), "{stderr}");
}

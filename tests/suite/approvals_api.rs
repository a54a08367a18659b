//! Approvals and tool input decided over HTTP, codex-manager's way, on the real codex:
//! the scripted model makes codex ask (see `approvals_codex.rs`), the API's routes decide,
//! and the test checks the contract's statuses and what the model received afterwards.
//! The CLI commands for the same routes are run once each, and `exec`'s `--approvals`.

use serde_json::{Value, json};
use switchboard::bridge::RequestPolicy;
use switchboard::protocol::RequestKind;
use switchboard::service::{self, ServeConfig, ServerHandle};

use switchboard::catalog::Catalog;

use super::approvals_codex::{Approvals, scripted_codex};
use super::serve_support::{ServeProcess, switchboard};
use super::support::repo_path;

const TOKEN: &str = "approvals-api-token-7c2d9e";

/// The harness's bridge behind the API on 127.0.0.1:0.
struct Api {
    server: ServerHandle,
    http: reqwest::Client,
}

impl Api {
    async fn start(h: &Approvals) -> Api {
        let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
        let server = service::serve(h.bridge.clone(), config).await.unwrap();
        Api {
            server,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.url()))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `switchboard ARGS --url .. --token .. --json`: its exit status and stdout.
    async fn cli(&self, args: &[&str]) -> (i32, String) {
        let mut command = switchboard();
        command
            .args(args)
            .args(["--url", &self.server.url(), "--token", TOKEN, "--json"]);
        let output = tokio::process::Command::from(command)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "switchboard {args:?}: {}\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), stdout)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_approval_is_decided_over_http_and_a_second_answer_finds_nothing() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let api = Api::start(&h).await;
    let sid = h.thread_id.clone();

    let turn_id = h.send("run the command").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::CommandApproval);
    let (status, list) = api.get(&format!("/api/sessions/{sid}/approvals")).await;
    assert_eq!(status, 200, "{list}");
    let records = list["data"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{list}");
    let record = &records[0];
    let id = record["approvalId"].as_str().unwrap().to_string();
    assert_eq!(id, request.request_id);
    assert_eq!(record["method"], "item/commandExecution/requestApproval");
    assert_eq!(record["threadId"], sid.as_str());
    assert_eq!(record["turnId"], turn_id.as_str());
    assert_eq!(record["status"], "pending");
    assert!(
        record["summary"]
            .as_str()
            .unwrap()
            .starts_with("Command approval required"),
        "{record}"
    );
    assert!(
        record["details"]["command"]
            .as_str()
            .unwrap()
            .contains("ran.txt")
    );

    // A decision the schema does not allow: 400, and nothing is sent.
    let (status, body) = api
        .post(
            &format!("/api/approvals/{id}/decision"),
            json!({ "decision": "maybe" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_request", "{body}");
    let (_, list) = api.get(&format!("/api/sessions/{sid}/approvals")).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "still pending: {list}"
    );
    assert!(!h.work.join("ran.txt").exists());
    // Unknown ids, and an approval id on the tool-input route: 404.
    let (status, body) = api
        .post(
            "/api/approvals/no-such-id/decision",
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(
        (status, body.clone()),
        (
            404,
            json!({ "status": "not_found", "approvalId": "no-such-id" })
        )
    );
    let (status, _) = api
        .post(
            &format!("/api/tool-input/{id}/decision"),
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(status, 404);

    let (status, body) = api
        .post(
            &format!("/api/approvals/{id}/decision"),
            json!({ "decision": "accept", "scope": "turn" }),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "status": "ok", "approvalId": id, "threadId": sid })
        )
    );
    // Already decided: codex-manager's status for it is 404 not_found.
    let (status, body) = api
        .post(
            &format!("/api/approvals/{id}/decision"),
            json!({ "decision": "decline" }),
        )
        .await;
    assert_eq!(
        (status, body),
        (404, json!({ "status": "not_found", "approvalId": id }))
    );
    let reply = h.reply(&turn_id).await;
    assert!(
        reply.contains("RAN"),
        "the command ran and the model got its output: {reply}"
    );
    assert!(h.work.join("ran.txt").exists());
    let (_, list) = api.get(&format!("/api/sessions/{sid}/approvals")).await;
    assert_eq!(list["data"], json!([]));

    // The CLI, once: list, then decline.
    let turn_id = h.send("run the other command").await;
    let request = h.opened().await;
    let (_, listed) = api.cli(&["approvals", "list", &sid]).await;
    let listed: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(
        listed["data"][0]["approvalId"],
        request.request_id.as_str(),
        "{listed}"
    );
    let (_, decided) = api
        .cli(&[
            "approvals",
            "decide",
            &request.request_id,
            "--decision",
            "decline",
        ])
        .await;
    let decided: Value = serde_json::from_str(decided.trim()).unwrap();
    assert_eq!(decided["status"], "ok", "{decided}");
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("rejected"), "the model was told: {reply}");
    assert!(!h.work.join("other.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_over_http_and_the_answer_reaches_the_model() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let api = Api::start(&h).await;
    let sid = h.thread_id.clone();

    let turn_id = h.send("ask me").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::UserInput);
    let (status, list) = api.get(&format!("/api/sessions/{sid}/tool-input")).await;
    assert_eq!(status, 200, "{list}");
    let record = &list["data"][0];
    let id = record["requestId"].as_str().unwrap().to_string();
    assert_eq!(id, request.request_id);
    assert_eq!(record["method"], "item/tool/requestUserInput");
    assert_eq!(record["questions"][0]["id"], "color", "{record}");
    assert_eq!(
        record["questions"][0]["options"][1]["label"], "Blue",
        "{record}"
    );

    // `answers` must be a list of strings: 400, nothing sent.
    let (status, body) = api
        .post(
            &format!("/api/tool-input/{id}/decision"),
            json!({ "decision": "accept", "answers": { "color": { "answers": "Blue" } } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, list) = api.get(&format!("/api/sessions/{sid}/tool-input")).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "still pending: {list}"
    );
    let (status, body) = api
        .post(
            "/api/tool-input/no-such-id/decision",
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({ "status": "not_found", "requestId": "no-such-id" })
        )
    );
    let (status, _) = api
        .post(
            &format!("/api/approvals/{id}/decision"),
            json!({ "decision": "accept" }),
        )
        .await;
    assert_eq!(status, 404, "a question is not in the approvals store");

    let (status, body) = api
        .post(
            &format!("/api/tool-input/{id}/decision"),
            json!({ "decision": "accept", "answers": { "color": { "answers": ["Blue"] } } }),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "status": "ok", "requestId": id, "threadId": sid })
        )
    );
    let (status, body) = api
        .post(
            &format!("/api/tool-input/{id}/decision"),
            json!({ "decision": "decline" }),
        )
        .await;
    assert_eq!(
        (status, body),
        (404, json!({ "status": "not_found", "requestId": id }))
    );
    let reply = h.reply(&turn_id).await;
    assert!(
        reply.contains("Blue"),
        "the answer reached the model: {reply}"
    );

    // The CLI, once: list, then answer.
    let turn_id = h.send("ask me").await;
    let request = h.opened().await;
    let (_, listed) = api.cli(&["tool-input", "list", &sid]).await;
    let listed: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(
        listed["data"][0]["requestId"],
        request.request_id.as_str(),
        "{listed}"
    );
    let (_, decided) = api
        .cli(&[
            "tool-input",
            "decide",
            &request.request_id,
            "--decision",
            "accept",
            "--answers",
            r#"{"color":{"answers":["Red"]}}"#,
        ])
        .await;
    let decided: Value = serde_json::from_str(decided.trim()).unwrap();
    assert_eq!(decided["status"], "ok", "{decided}");
    let reply = h.reply(&turn_id).await;
    assert!(
        reply.contains("Red"),
        "the CLI's answer reached the model: {reply}"
    );
}

/// codex-manager's SDK flow for approvals and tool input (tests/python/approvals_flow.py,
/// standard library only) against `switchboard serve` on the real codex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_approvals_and_tool_input_flow_runs_against_serve() {
    const SDK_TOKEN: &str = "python-approvals-token-93b1";
    let home = tempfile::tempdir().unwrap();
    let catalog = Catalog::load(&repo_path("tests/fixtures/catalogs/manual.toml")).unwrap();
    let (_model, codex_home, work) = scripted_codex(home.path(), &catalog).await;
    let config_home = home.path().join("config");
    let data = home.path().join("data");
    let codex_home = codex_home.display().to_string();
    let serve = tokio::task::spawn_blocking(move || {
        ServeProcess::start(
            &config_home,
            &[
                ("CODEX_MANAGER_BEARER_TOKEN", SDK_TOKEN),
                ("CODEX_HOME", codex_home.as_str()),
            ],
            &["--approvals", "ask", "--data-dir", data.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    let output = tokio::process::Command::new("python3")
        .arg(repo_path("tests/python/approvals_flow.py"))
        .env("CODEX_MANAGER_API_BASE", &serve.url)
        .env("CODEX_MANAGER_BEARER_TOKEN", SDK_TOKEN)
        .env("SWITCHBOARD_WORK", &work)
        .env_remove("CODEX_MANAGER_API_PREFIX")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK flow failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserve:\n{}",
        serve.stderr_lines().join("\n")
    );
    assert!(stdout.trim_end().ends_with("PASS"), "{stdout}");
    assert!(work.join("ran.txt").exists());
    let status = tokio::task::spawn_blocking(move || serve.stop())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `switchboard exec` on the real codex (whose `CODEX_HOME` asks for every command):
/// its stdout (the reply) and stderr.
async fn exec(
    codex_home: &std::path::Path,
    work: &std::path::Path,
    args: &[&str],
) -> (String, String) {
    let mut command = switchboard();
    command
        .arg("exec")
        .args([
            "--catalog",
            repo_path("tests/fixtures/catalogs/rules.toml")
                .to_str()
                .unwrap(),
        ])
        .args([
            "--approval-policy",
            "untrusted",
            "--sandbox",
            "danger-full-access",
        ])
        .args(["--cwd", work.to_str().unwrap(), "--timeout", "60"])
        .args(["--data-dir", work.join("../exec-data").to_str().unwrap()])
        .args(args)
        .env("CODEX_HOME", codex_home);
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "exec {args:?}: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_exec_lets_rules_decide_and_declines_the_rest_with_a_reason() {
    let home = tempfile::tempdir().unwrap();
    let catalog = Catalog::load(&repo_path("tests/fixtures/catalogs/rules.toml")).unwrap();
    let (_model, codex_home, work) = scripted_codex(home.path(), &catalog).await;
    // accept-rules-only, the default: rules.toml approves the touch of ran.txt...
    let (stdout, _) = exec(&codex_home, &work, &["run the command"]).await;
    assert!(stdout.contains("RAN"), "{stdout}");
    assert!(work.join("ran.txt").exists());
    // ...and no rule decides the touch of other.txt: declined, and stderr says why.
    let (stdout, stderr) = exec(&codex_home, &work, &["run the other command"]).await;
    assert!(stdout.contains("rejected"), "{stdout}");
    assert!(
        stderr.contains("item/commandExecution/requestApproval decline")
            && stderr.contains("no approval rule decides"),
        "{stderr}"
    );
    assert!(!work.join("other.txt").exists());
    // --approvals decline does not ask the rules.
    std::fs::remove_file(work.join("ran.txt")).unwrap();
    let (stdout, stderr) = exec(
        &codex_home,
        &work,
        &["--approvals", "decline", "run the command"],
    )
    .await;
    assert!(stdout.contains("rejected"), "{stdout}");
    assert!(stderr.contains("(--approvals decline)"), "{stderr}");
    assert!(!work.join("ran.txt").exists());
}

/// A websocket on `serve`'s stream for one session.
async fn session_socket(url: &str, token: &str, sid: &str) -> super::api_support::Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let ws = format!(
        "{}/api/stream?threadId={sid}",
        url.replacen("http", "ws", 1)
    );
    let mut request = ws.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// `switchboard worker` with an approval rule whose handler script decides, against
/// `switchboard serve --approvals ask` on the real codex: the worker runs the script and
/// answers the server's pending approvals remotely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_worker_answers_approvals_with_its_rule_handler() {
    const WORKER_TOKEN: &str = "worker-approvals-token-4a8f";
    let home = tempfile::tempdir().unwrap();
    let catalog = Catalog::load(&repo_path("tests/fixtures/catalogs/manual.toml")).unwrap();
    let (_model, codex_home, work) = scripted_codex(home.path(), &catalog).await;
    let config_home = home.path().join("config");
    let data = home.path().join("data");
    let codex_home = codex_home.display().to_string();
    let serve = tokio::task::spawn_blocking(move || {
        ServeProcess::start(
            &config_home,
            &[
                ("CODEX_MANAGER_BEARER_TOKEN", WORKER_TOKEN),
                ("CODEX_HOME", codex_home.as_str()),
            ],
            &["--data-dir", data.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    let mut worker = tokio::process::Command::from({
        let mut command = switchboard();
        command
            .arg("worker")
            .args([
                "--catalog",
                repo_path("tests/fixtures/catalogs/rule_handlers.toml")
                    .to_str()
                    .unwrap(),
            ])
            .args(["--url", &serve.url, "--token", WORKER_TOKEN, "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        command
    })
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let mut answers =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(worker.stdout.take().unwrap()));

    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/api/sessions", serve.url))
        .bearer_auth(WORKER_TOKEN)
        .json(&json!({ "cwd": work, "approvalPolicy": "untrusted", "filesystemSandbox": "danger-full-access" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["session"]["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut socket = session_socket(&serve.url, WORKER_TOKEN, &sid).await;
    for (text, decision) in [
        ("run the command", "accept"),
        ("run the other command", "decline"),
    ] {
        let sent = http
            .post(format!("{}/api/sessions/{sid}/messages", serve.url))
            .bearer_auth(WORKER_TOKEN)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status().as_u16(), 202);
        let line = tokio::time::timeout(super::support::WAIT, answers.next_line())
            .await
            .expect("the worker answered nothing")
            .unwrap()
            .unwrap();
        let answered: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            answered["outcome"],
            format!("answered by approval rule 1: {decision}"),
            "{answered}"
        );
        let frames =
            super::api_support::frames_until(&mut socket, "app_server.turn.completed").await;
        let resolved = frames
            .iter()
            .find(|f| f["type"] == "approval_resolved")
            .unwrap_or_else(|| panic!("no approval_resolved in {frames:?}"));
        assert_eq!(resolved["payload"]["decision"], decision, "{resolved}");
    }
    assert!(work.join("ran.txt").exists(), "the accepted command ran");
    assert!(
        !work.join("other.txt").exists(),
        "the declined command did not"
    );
    worker.kill().await.unwrap();
    let status = tokio::task::spawn_blocking(move || serve.stop())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

//! The API's contract in writing and on the command line: the checked-in OpenAPI
//! document, a CLI command for every route, `switchboard serve` and the client commands
//! run as the real binary, and remote handler workers.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use clap::Parser;
use serde_json::{Value, json};
use switchboard::bridge::{BridgeEvent, CreateSession, TranscriptEntry};
use switchboard::cli::client::ROUTE_COMMANDS;
use switchboard::service::{self, ServeConfig};
use tokio::io::AsyncBufReadExt;

use super::api_support::{ApiHarness, TOKEN, fake_bridge, json_reply};
use super::serve_support::{ServeProcess, switchboard};
use super::support::{WAIT, repo_path};

const UPDATE_ENV: &str = "SWITCHBOARD_UPDATE_OPENAPI";

fn operations() -> Vec<(String, String)> {
    let document = service::openapi::document();
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            found.push((method.clone(), path.clone()));
        }
    }
    found
}

#[test]
fn the_checked_in_openapi_document_is_current() {
    let path = repo_path("docs/openapi.json");
    let generated = service::openapi::document_text();
    if std::env::var_os(UPDATE_ENV).is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the document generated from the route types; update it with `{UPDATE_ENV}=1 cargo test --test all openapi` (or `cargo run -- openapi --local > docs/openapi.json`) and review the diff"
    );
}

#[test]
fn every_route_has_a_cli_command() {
    let table: Vec<(String, String)> = ROUTE_COMMANDS
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    for operation in operations() {
        assert!(
            table.contains(&operation),
            "the API route {} {} has no CLI command: add one and a row to ROUTE_COMMANDS",
            operation.0,
            operation.1
        );
    }
    for (method, path, command) in ROUTE_COMMANDS {
        assert!(
            operations().contains(&(method.to_string(), path.to_string())),
            "ROUTE_COMMANDS lists {method} {path}, which the API does not have"
        );
        let mut argv = vec!["switchboard".to_string()];
        argv.extend(command.split_whitespace().map(str::to_string));
        if let Err(e) = switchboard::cli::Cli::try_parse_from(&argv) {
            panic!("`{command}` (for {method} {path}) is not a valid command: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let (bridge, mut fake) = fake_bridge("").await;
    // Routes with no body to check (the loaded threads, watching one) ask app-server at
    // once: the fake refuses whatever it is asked, so none waits out a timeout.
    let refusing = tokio::spawn(async move {
        while let Ok(Some(out)) = tokio::time::timeout(WAIT, fake.peer.from_client.recv()).await {
            if let Some(written) = out.written {
                let _ = written.send(Ok(()));
            }
            let request: Value = serde_json::from_str(&out.line).unwrap();
            if request.get("id").is_some() && request.get("method").is_some() {
                fake.send(json!({ "id": request["id"],
                    "error": { "code": -32600, "message": "the fake app-server refuses" } }))
                    .await;
            }
        }
    });
    let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    let server = service::serve(bridge, config).await.unwrap();
    let http = reqwest::Client::new();
    for (method, path) in operations() {
        let concrete = path
            .replace("{sessionId}", "s1")
            .replace("{threadId}", "t1")
            .replace("{requestId}", "r1");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // Bodies that fail validation, so no route waits on the fake app-server.
        let reply = json_reply(
            http.request(method.clone(), format!("{}{concrete}", server.url()))
                .bearer_auth(TOKEN)
                .json(&json!([]))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let message = reply.body["message"].as_str().unwrap_or_default();
        assert!(
            reply.status != 405 && !message.starts_with("no route"),
            "{method} {path} is documented but not served: {} {:?}",
            reply.status,
            reply.body
        );
    }
    refusing.abort();
}

#[test]
fn serve_refuses_no_auth_off_loopback() {
    let home = tempfile::tempdir().unwrap();
    let output = switchboard()
        .args(["serve", "--no-auth", "--listen", "0.0.0.0:0"])
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--no-auth is allowed only on loopback"),
        "{stderr}"
    );
    assert!(!home.path().join("switchboard/token").exists());
}

/// A token file in a folder that others can write to (so replace the token in) is
/// refused at start with what to fix, before anything listens.
#[test]
fn serve_refuses_a_token_file_in_a_world_writable_folder() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let open = home.path().join("open");
    std::fs::create_dir(&open).unwrap();
    let token = open.join("token");
    std::fs::write(&token, "secret-token-0123456789\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = switchboard()
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token)
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("which others can write to (mode 777)") && stderr.contains("chmod go-w"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

fn cli(url: &str, home: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = switchboard()
        .env("SWITCHBOARD_URL", url)
        .env("XDG_CONFIG_HOME", home)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    )
}

/// `switchboard stream --json` lines as JSON, read on a thread.
struct StreamProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl StreamProcess {
    fn start(url: &str, home: &std::path::Path, session: &str) -> StreamProcess {
        let mut child = switchboard()
            .env("SWITCHBOARD_URL", url)
            .env("XDG_CONFIG_HOME", home)
            .args(["stream", "--json", "--session", session])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line)
                    && tx.send(value).is_err()
                {
                    return;
                }
            }
        });
        StreamProcess { child, lines }
    }

    fn until(&self, kind: &str) -> Value {
        loop {
            let frame = self
                .lines
                .recv_timeout(WAIT)
                .expect("no such frame on the stream");
            if frame["type"] == kind {
                return frame;
            }
        }
    }
}

impl Drop for StreamProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_and_the_client_commands() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let catalog = repo_path("tests/fixtures/catalogs/manual.toml");
    let serve = ServeProcess::start(
        home.path(),
        &[],
        &[
            "--scripted-model",
            "--catalog",
            catalog.to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
    );
    // The token was generated into the config folder, private.
    let token_path = home.path().join("switchboard/token");
    assert!(
        serve.token_line.contains(&token_path.display().to_string()),
        "{}",
        serve.token_line
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let url = serve.url.clone();
    let run = |args: &[&str]| cli(&url, home.path(), args);

    let (code, out, err) = run(&["health"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("ok: switchboard"), "{out}");
    let (code, _, err) = run(&["health", "--token", "wrong"]);
    assert_eq!(code, Some(7), "{err}");
    let (code, _, _) = cli("http://127.0.0.1:1", home.path(), &["health"]);
    assert_eq!(code, Some(8));

    let (code, session, err) = run(&["sessions", "create", "--cwd", "."]);
    assert_eq!(code, Some(0), "{err}");
    let (_, listed, _) = run(&["sessions", "list"]);
    assert!(listed.contains(&session), "{listed}");

    let stream = StreamProcess::start(&url, home.path(), &session);
    stream.until("ready");
    let (code, turn, err) = run(&[
        "sessions",
        "send",
        &session,
        "please call:approve_refund for order 17",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let requested = stream.until("tool_call_requested");
    assert_eq!(requested["payload"]["turnId"], turn.as_str());
    let request_id = requested["payload"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, pending, _) = run(&["sessions", "tool-calls", "list", &session, "--json"]);
    assert_eq!(code, Some(0));
    let pending: Value = serde_json::from_str(&pending).unwrap();
    assert_eq!(pending["data"][0]["requestId"], request_id.as_str());
    let (_, all, _) = run(&["tool-calls", "list"]);
    assert!(all.contains(&request_id), "{all}");

    let (code, _, err) = run(&[
        "tool-calls",
        "respond",
        &request_id,
        "--text",
        "a",
        "--response",
        "{}",
    ]);
    assert_eq!(code, Some(2), "{err}");
    let (code, out, err) = run(&[
        "tool-calls",
        "respond",
        &request_id,
        "--text",
        "approved by the CLI",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("answered {request_id}"));
    let (code, _, err) = run(&["tool-calls", "respond", &request_id, "--text", "again"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("not pending"), "{err}");
    stream.until("app_server.turn.completed");

    let (code, reply, err) = run(&[
        "sessions",
        "send",
        &session,
        "call:echo_args with text",
        "--wait",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(reply.contains("echo_args"), "{reply}");
    // Both calls are in the server's statistics.
    let (code, stats, err) = run(&["catalog", "stats"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        stats.contains("approve_refund: 1 call(s), 0% broke input_schema"),
        "{stats}"
    );
    assert!(stats.contains("echo_args: 1 call(s)"), "{stats}");
    let (code, stats, _) = run(&["catalog", "stats", "--json"]);
    assert_eq!(code, Some(0));
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["tools"].as_array().unwrap().len(), 2, "{stats}");
    let (code, _, err) = run(&["sessions", "interrupt", &session]);
    assert_eq!(code, Some(5), "{err}");
    let (code, detail, _) = run(&["sessions", "get", &session, "--json"]);
    assert_eq!(code, Some(0));
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert!(
        detail["transcript"]
            .to_string()
            .contains("approved by the CLI")
    );
    let (code, text, _) = run(&["sessions", "get", &session]);
    assert_eq!(code, Some(0));
    assert!(text.contains("[assistant]"), "{text}");

    let (code, document, _) = run(&["openapi"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        &serde_json::from_str::<Value>(&document).unwrap(),
        service::openapi::document()
    );

    let (code, out, _) = run(&["sessions", "delete", &session]);
    assert_eq!(code, Some(0));
    assert_eq!(out, format!("deleted {session}"));
    assert_eq!(run(&["sessions", "get", &session]).0, Some(6));
    assert_eq!(run(&["sessions", "get", "no-such-session"]).0, Some(4));
    drop(stream);
    assert_eq!(serve.stop().code(), Some(0));
}

/// A worker process; its stdout lines (one JSON object per handled call) on a channel.
struct WorkerProcess {
    child: tokio::process::Child,
    answers: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

async fn start_worker(url: &str, name: &str) -> WorkerProcess {
    let catalog = repo_path("tests/fixtures/catalogs/worker.toml");
    let mut child = tokio::process::Command::from(switchboard())
        .args([
            "worker",
            "--json",
            "--url",
            url,
            "--token",
            TOKEN,
            "--name",
            name,
            "--catalog",
        ])
        .arg(catalog)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    // Connected (and the pending list drained) once it says so.
    tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.starts_with("worker connected") {
                return;
            }
        }
        panic!("the worker exited before connecting");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, answers) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = tx.send(value);
            }
        }
    });
    WorkerProcess { child, answers }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_answer_the_calls_of_a_console_session() {
    let mut h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    // A session made the way the console makes them: straight on the bridge.
    let session = h
        .codex
        .bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    let thread = session.thread_id.clone();
    let bridge = h.codex.bridge.clone();

    // Raised before any worker runs: the worker finds it when it drains on connect.
    let first_turn = bridge
        .send_message(&thread, "call:approve_refund order 1")
        .await
        .unwrap();
    h.codex
        .next_matching(|e| matches!(e, BridgeEvent::ToolCallRequested { .. }).then_some(()))
        .await;
    let mut worker = start_worker(&h.server.url(), "worker-a").await;
    let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&thread, &first_turn))
        .await
        .unwrap()
        .unwrap();
    assert!(
        turn.assistant_reply
            .as_deref()
            .unwrap_or_default()
            .contains("refund approved by the worker"),
        "{turn:?}"
    );
    let answer = tokio::time::timeout(WAIT, worker.answers.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["outcome"], "answered");
    assert_eq!(answer["tool"], "approve_refund");

    // Raised while two workers follow the stream: answered exactly once.
    let _second = start_worker(&h.server.url(), "worker-b").await;
    let second_turn = bridge
        .send_message(&thread, "call:approve_refund order 2")
        .await
        .unwrap();
    let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&thread, &second_turn))
        .await
        .unwrap()
        .unwrap();
    assert!(
        turn.assistant_reply
            .unwrap_or_default()
            .contains("refund approved by the worker")
    );
    let snapshot = bridge.session(&thread).await.unwrap().unwrap();
    let resolved: Vec<_> = snapshot
        .transcript
        .iter()
        .filter(|row| row.turn_id.as_deref() == Some(second_turn.as_str()))
        .filter_map(|row| match &row.entry {
            TranscriptEntry::ToolCallResolved { answered_by, .. } => Some(answered_by.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    let by = resolved[0].as_ref().map(|r| r.label()).unwrap_or_default();
    assert!(by == "remote worker-a" || by == "remote worker-b", "{by}");
    let _ = worker.child.start_kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_a_wrong_token_stops() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let output = tokio::process::Command::from(switchboard())
        .args([
            "worker",
            "--url",
            &h.server.url(),
            "--token",
            "wrong",
            "--catalog",
        ])
        .arg(repo_path("tests/fixtures/catalogs/worker.toml"))
        .output();
    let output = tokio::time::timeout(WAIT, output).await.unwrap().unwrap();
    assert_eq!(
        output.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

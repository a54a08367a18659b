//! `serve` restarted over its data directory, on the real codex: the sessions it
//! restores are resumed at start. Over `--connect` the call codex still waits on is
//! listed again under its old id and its answer completes the turn; over stdio the call
//! went with the old app-server (expired, with a reason) and the session takes new
//! messages.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};

use super::serve_support::ServeProcess;
use super::support::{WAIT, repo_path};
use super::websocket::listening_codex;

const MANUAL_CATALOG: &str = "tests/fixtures/catalogs/manual.toml";

async fn model() -> ModelServer {
    let catalog = Catalog::load(&repo_path(MANUAL_CATALOG)).unwrap();
    ModelServer::start(
        Scenario::load("auto").unwrap(),
        switchboard::cli::scripted::model_options(&catalog),
    )
    .await
    .unwrap()
}

fn serve(home: &std::path::Path, data: &std::path::Path, extra: &[&str]) -> ServeProcess {
    let catalog = repo_path(MANUAL_CATALOG);
    let mut args = vec![
        "--no-auth",
        "--catalog",
        catalog.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let home_env = home.display().to_string();
    ServeProcess::start(home, &[("CODEX_HOME", home_env.as_str())], &args)
}

/// Polls `GET path` until `pick` finds what it looks for, for a bounded time.
async fn until<T>(url: &str, path: &str, mut pick: impl FnMut(&Value) -> Option<T>) -> T {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let reply = client.get(format!("{url}{path}")).send().await.unwrap();
        last = reply.json().await.unwrap();
        if let Some(found) = pick(&last) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out polling {path}; last reply: {last}");
}

async fn post(url: &str, path: &str, body: Value) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// Creates a session and starts a turn that waits on a manual call; returns the session,
/// the turn and the call's request id.
async fn session_with_pending_call(url: &str, cwd: &std::path::Path) -> (String, String, String) {
    let (status, created) = post(
        url,
        "/api/sessions",
        json!({ "cwd": cwd.display().to_string() }),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let session = created["session"]["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, accepted) = post(
        url,
        &format!("/api/sessions/{session}/messages"),
        json!({ "text": "please call:approve_refund for order 17" }),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let turn = accepted["turnId"].as_str().unwrap().to_string();
    let request_id = until(url, &format!("/api/sessions/{session}/tool-calls"), |v| {
        v["data"][0]["requestId"].as_str().map(str::to_string)
    })
    .await;
    (session, turn, request_id)
}

fn turn_status(detail: &Value, turn: &str) -> Option<String> {
    detail["thread"]["turns"]
        .as_array()?
        .iter()
        .find(|t| t["id"] == turn)
        .and_then(|t| t["status"].as_str())
        .map(str::to_string)
}

async fn until_turn_ends(url: &str, session: &str, turn: &str) -> (String, Value) {
    until(url, &format!("/api/sessions/{session}"), |detail| {
        turn_status(detail, turn)
            .filter(|s| s != "inProgress")
            .map(|s| (s, detail.clone()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_serve_over_connect_answers_the_call_codex_still_waits_on() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let model = model().await;
    let (_codex, ws) = listening_codex(&model, home.path()).await;

    let first = serve(home.path(), &data, &["--connect", &ws]);
    let (session, turn, request_id) = session_with_pending_call(&first.url, home.path()).await;
    assert!(first.stop().success());

    let second = serve(home.path(), &data, &["--connect", &ws]);
    let listed = until(
        &second.url,
        &format!("/api/sessions/{session}/tool-calls"),
        |v| v["data"][0]["requestId"].as_str().map(str::to_string),
    )
    .await;
    assert_eq!(listed, request_id, "the call keeps its id over the restart");
    let (status, reply) = post(
        &second.url,
        &format!("/api/tool-calls/{request_id}/response"),
        json!({ "success": true, "contentItems": [{ "type": "inputText", "text": "approved after the restart" }] }),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, detail) = until_turn_ends(&second.url, &session, &turn).await;
    assert_eq!(status, "completed", "{detail}");
    assert!(
        detail.to_string().contains("approved after the restart"),
        "the model got the answer: {detail}"
    );
    assert!(second.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_serve_over_stdio_expires_the_lost_call_and_takes_new_messages() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let model = model().await;
    switchboard::model::write_codex_home(home.path(), &model.base_url()).unwrap();

    let first = serve(home.path(), &data, &[]);
    let (session, turn, request_id) = session_with_pending_call(&first.url, home.path()).await;
    assert!(first.stop().success());

    let second = serve(home.path(), &data, &[]);
    // The cut turn ends with the status codex gives it; nothing stays in progress.
    let (status, _) = until_turn_ends(&second.url, &session, &turn).await;
    assert_ne!(status, "completed");
    let listed = until(&second.url, "/api/tool-calls", |v| {
        v["data"].as_array().cloned()
    })
    .await;
    assert!(listed.is_empty(), "{listed:?}");
    let (status, accepted) = until_accepted(&second.url, &session).await;
    assert_eq!(status, 202, "{accepted}");
    let next = accepted["turnId"].as_str().unwrap().to_string();
    assert_ne!(next, turn);
    // The new turn runs on the resumed thread.
    until(&second.url, &format!("/api/sessions/{session}"), |detail| {
        turn_status(detail, &next)
    })
    .await;
    assert!(second.stop().success());

    let path = std::fs::read_dir(data.join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(&session))
        .unwrap();
    let (rows, _) = switchboard::bridge::transcript::read_transcript(&path).unwrap();
    let ends: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::to_value(&r.entry).unwrap())
        .filter(|e| e["type"] == "tool_call.resolved" && e["requestId"] == request_id.as_str())
        .collect();
    assert_eq!(ends.len(), 1, "the call ends exactly once: {ends:?}");
    assert_eq!(ends[0]["status"], "expired", "{ends:?}");
    assert!(
        ends[0]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{ends:?}"
    );
}

/// Sends a message; until the session is attached again it gets 409, so try again for a
/// bounded time.
async fn until_accepted(url: &str, session: &str) -> (u16, Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = post(
            url,
            &format!("/api/sessions/{session}/messages"),
            json!({ "text": "hello again" }),
        )
        .await;
        if status != 409 || Instant::now() >= deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

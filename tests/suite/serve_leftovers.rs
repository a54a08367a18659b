//! A `serve` killed with SIGKILL while a command handler runs leaves the handler
//! running (it has a process group of its own); the next `serve` on the same data
//! directory finds it by its pid file and ends it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::serve_support::ServeProcess;
use super::support::WAIT;

/// Whether `pid` runs (a zombie waiting for its parent does not).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits, for a bounded time, for `done` to hold; the handler is another process, so
/// there is nothing to await but its traces.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve(
    home: &std::path::Path,
    catalog: &std::path::Path,
    data: &std::path::Path,
) -> ServeProcess {
    ServeProcess::start(
        home,
        &[],
        &[
            "--no-auth",
            "--scripted-model",
            "auto",
            "--catalog",
            catalog.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_serve_ends_the_handlers_a_killed_one_left_running() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let marker = home.path().join("handler.pid");
    let catalog = home.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            r#"
[[tools]]
name = "slow"
description = "takes ten minutes"
input_schema = {{ type = "object" }}
handler = {{ command = ["sh", "-c", "echo $$ > '{}'; exec sleep 600"], timeout_ms = 600000 }}
"#,
            marker.display()
        ),
    )
    .unwrap();

    let first = serve(home.path(), &catalog, &data);
    let (status, created) = post(&first.url, "/api/sessions", json!({})).await;
    assert_eq!(status, 200, "{created}");
    let session = created["session"]["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, accepted) = post(
        &first.url,
        &format!("/api/sessions/{session}/messages"),
        json!({ "text": "please call:slow" }),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    wait_for("the handler to start", || {
        std::fs::read_to_string(&marker).is_ok_and(|t| t.trim().parse::<i32>().is_ok())
    });
    let pid: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid_file = data.join("handlers").join(format!("{pid}.json"));
    assert!(pid_file.exists(), "no pid file for the running handler");

    first.kill();
    assert!(running(pid), "the handler should outlive a SIGKILLed serve");

    let second = serve(home.path(), &catalog, &data);
    // Leftovers are ended before the bridge starts, so before `serve` listens.
    wait_for("the left handler to end", || !running(pid));
    assert!(!pid_file.exists(), "the pid file was not removed");
    assert!(second.stop().success());
}

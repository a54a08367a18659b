//! Worker claims on the real codex: `switchboard worker` processes claim each call
//! before running its handler, so two workers racing run each call's handler once; a
//! worker killed while it holds a claim loses it when the lease runs out, and another
//! worker answers the call; an answer without a claim (codex-manager's SDK) still
//! works on a call nobody claimed. Each handler appends the call's `requestId` to a
//! file: the file counts the runs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use switchboard::bridge::{BridgeEvent, ClaimChange, CreateSession};
use tokio::io::AsyncBufReadExt;

use super::api_support::{ApiHarness, TOKEN};
use super::serve_support::switchboard;
use super::support::WAIT;

/// A worker catalog whose `approve_refund` handler appends `<name> <requestId>` to
/// `runs`, sleeps `sleep_s`, then answers.
fn worker_catalog(dir: &Path, name: &str, runs: &Path, sleep_s: f64) -> PathBuf {
    let script = format!(
        "import json,sys,time; c=json.load(sys.stdin); f=open({runs:?},'a'); f.write({name:?}+' '+c['requestId']+'\\n'); f.close(); time.sleep({sleep_s}); print('refund approved by {name}')",
        runs = runs.display().to_string(),
    );
    let catalog = format!(
        "[[tools]]\nname = \"approve_refund\"\ndescription = \"Ask whether a refund may be issued\"\ninput_schema = {{ type = \"object\", properties = {{ order_id = {{ type = \"string\" }} }} }}\nhandler = {{ command = [\"python3\", \"-c\", {script:?}], timeout_ms = 60000 }}\n"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, catalog).unwrap();
    path
}

struct Worker {
    child: tokio::process::Child,
}

/// Starts `switchboard worker` and waits until it has connected and drained the list.
async fn start_worker(url: &str, name: &str, catalog: &Path, lease_ms: u64) -> Worker {
    let mut child = tokio::process::Command::from(switchboard())
        .args(["worker", "--json", "--url", url, "--token", TOKEN])
        .args([
            "--name",
            name,
            "--lease-ms",
            &lease_ms.to_string(),
            "--catalog",
        ])
        .arg(catalog)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
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
    Worker { child }
}

fn runs(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (name, id) = line.split_once(' ')?;
            Some((name.to_string(), id.to_string()))
        })
        .collect()
}

fn reply_text(turn: &switchboard::bridge::TurnRecord) -> String {
    turn.assistant_reply.clone().unwrap_or_default()
}

/// Two workers serving the same tool race over 5 calls: each call's handler runs exactly
/// once (before claims, 5 of 5 ran twice), and each call is answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_run_each_calls_handler_once() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.txt");
    let url = h.server.url();
    let a = worker_catalog(dir.path(), "worker-a", &runs_file, 0.2);
    let b = worker_catalog(dir.path(), "worker-b", &runs_file, 0.2);
    let _a = start_worker(&url, "worker-a", &a, 10_000).await;
    let _b = start_worker(&url, "worker-b", &b, 10_000).await;
    let bridge = h.codex.bridge.clone();
    let thread = bridge
        .create_session(CreateSession::default())
        .await
        .unwrap()
        .thread_id;
    let mut answered = Vec::new();
    for n in 1..=5 {
        let turn_id = bridge
            .send_message(&thread, &format!("call:approve_refund order {n}"))
            .await
            .unwrap();
        let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&thread, &turn_id))
            .await
            .unwrap()
            .unwrap();
        assert!(
            reply_text(&turn).contains("refund approved by worker-"),
            "{turn:?}"
        );
        answered.push(turn_id);
    }
    let snapshot = bridge.session(&thread).await.unwrap().unwrap();
    let resolved: Vec<String> = snapshot
        .transcript
        .iter()
        .filter_map(|row| match &row.entry {
            switchboard::bridge::TranscriptEntry::ToolCallResolved { request_id, .. } => {
                Some(request_id.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(resolved.len(), 5, "{resolved:?}");
    let ran = runs(&runs_file);
    let mut ids: Vec<&str> = ran.iter().map(|(_, id)| id.as_str()).collect();
    ids.sort();
    let mut expected: Vec<&str> = resolved.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(ids, expected, "each call's handler ran once: {ran:?}");
}

/// A worker SIGKILLed while its handler runs keeps its claim only until the lease runs
/// out: then the call is released (`expired`, holder named) and the other worker, which
/// was refused the claim before, runs it and answers; the dead worker's run never
/// answers. A call nobody claims takes an SDK-style answer without a claim id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_claim_runs_out_and_another_worker_answers() {
    let mut h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let dir = tempfile::tempdir().unwrap();
    let runs_file = dir.path().join("runs.txt");
    let url = h.server.url();
    let bridge = h.codex.bridge.clone();
    let thread = bridge
        .create_session(CreateSession::default())
        .await
        .unwrap()
        .thread_id;

    // The slow worker alone: it claims the call and its handler starts (and would run 30 s).
    let slow = worker_catalog(dir.path(), "slow", &runs_file, 30.0);
    let mut slow_worker = start_worker(&url, "slow", &slow, 1_500).await;
    let turn_id = bridge
        .send_message(&thread, "call:approve_refund order 7")
        .await
        .unwrap();
    let (request_id, claim) = h
        .codex
        .next_matching(|e| match e {
            BridgeEvent::ToolCallClaim {
                call,
                change: ClaimChange::Claimed,
                claim,
            } => Some((call.request_id.clone(), claim.clone())),
            _ => None,
        })
        .await;
    assert_eq!(claim.holder, "slow");
    tokio::time::timeout(WAIT, async {
        while runs(&runs_file).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the slow handler never started");
    // An answer without the claim is refused over HTTP, naming the holder.
    let refused = h
        .post(
            &format!("/api/tool-calls/{request_id}/response"),
            json!({ "text": "not the holder" }),
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "call_claimed");
    assert_eq!(refused.body["holder"], "slow");
    let listed = h.get("/api/tool-calls").await;
    assert_eq!(listed.body["data"][0]["claim"]["holder"], "slow");

    // A second worker comes: the claim is not its own, so it leaves the call.
    let fast = worker_catalog(dir.path(), "fast", &runs_file, 0.0);
    let _fast_worker = start_worker(&url, "fast", &fast, 10_000).await;
    slow_worker.child.start_kill().unwrap();
    let _ = slow_worker.child.wait().await;

    // The lease runs out without an answer: released, and the fast worker answers.
    let expired = h
        .codex
        .next_matching(|e| match e {
            BridgeEvent::ToolCallClaim {
                call,
                change: ClaimChange::Expired,
                claim,
            } if call.request_id == request_id => Some(claim.clone()),
            _ => None,
        })
        .await;
    assert_eq!(expired.holder, "slow");
    let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&thread, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        reply_text(&turn).contains("refund approved by fast"),
        "{turn:?}"
    );
    let ran = runs(&runs_file);
    assert_eq!(
        ran,
        vec![
            ("slow".to_string(), request_id.clone()),
            ("fast".to_string(), request_id.clone())
        ]
    );

    // No worker serves this tool any more (the fast one is stopped): a call nobody
    // claims is answered without a claim id, as codex-manager's SDK does.
    drop(_fast_worker);
    let turn_id = bridge
        .send_message(&thread, "call:approve_refund order 8")
        .await
        .unwrap();
    let call = h
        .codex
        .next_matching(|e| match e {
            BridgeEvent::ToolCallRequested { call } => Some(call.clone()),
            _ => None,
        })
        .await;
    assert_eq!(call.claim, None);
    let reply = h
        .post(
            &format!("/api/tool-calls/{}/response", call.request_id),
            json!({ "text": "answered by the SDK" }),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&thread, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        reply_text(&turn).contains("answered by the SDK"),
        "{turn:?}"
    );
}

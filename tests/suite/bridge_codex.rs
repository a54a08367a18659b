//! The bridge core against the real codex app-server and the scripted model.

use switchboard::bridge::{
    BridgeEvent, CallEnd, CreateSession, ManualPolicy, PendingCallView, RespondOutcome, Responder,
};
use switchboard::protocol::{ToolCallResult, TurnStatus};

use super::support::{CodexBridge, WAIT};

async fn start_manual_call(harness: &mut CodexBridge) -> (String, String, PendingCallView) {
    let session = harness
        .bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    let turn_id = harness
        .bridge
        .send_message(
            &session.thread_id,
            "please call:approve_refund for order 17",
        )
        .await
        .unwrap();
    let call = harness
        .next_matching(|e| match e {
            BridgeEvent::ToolCallRequested { call } => Some(call.clone()),
            _ => None,
        })
        .await;
    assert_eq!(call.tool, "approve_refund");
    assert_eq!(call.turn_id, turn_id);
    (session.thread_id, turn_id, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_expires_a_pending_manual_call() {
    let mut h = CodexBridge::start(
        "tests/fixtures/catalogs/manual.toml",
        "auto",
        ManualPolicy::Wait,
    )
    .await;
    let (thread_id, turn_id, call) = start_manual_call(&mut h).await;

    let listed = h.bridge.pending_calls(Some(&thread_id)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].request_id, call.request_id);

    let interrupted = h.bridge.interrupt(&thread_id).await.unwrap();
    assert_eq!(interrupted, turn_id);
    let ended = h
        .next_matching(|e| match e {
            BridgeEvent::ToolCallResolved { call } => Some(call.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.request_id, call.request_id);
    assert_eq!(ended.status, CallEnd::Expired);
    assert!(!ended.success);

    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Interrupted);

    let late = h
        .bridge
        .respond(
            &call.request_id,
            ToolCallResult::text(true, "too late"),
            Responder::Operator,
        )
        .await
        .unwrap();
    assert_eq!(late, RespondOutcome::NotFound);
    assert!(h.bridge.pending_calls(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_responds_write_exactly_one_answer() {
    let mut h = CodexBridge::start(
        "tests/fixtures/catalogs/manual.toml",
        "auto",
        ManualPolicy::Wait,
    )
    .await;
    let (thread_id, turn_id, call) = start_manual_call(&mut h).await;

    let mut tasks = Vec::new();
    for i in 0..8 {
        let bridge = h.bridge.clone();
        let request_id = call.request_id.clone();
        tasks.push(tokio::spawn(async move {
            bridge
                .respond(
                    &request_id,
                    ToolCallResult::text(true, format!("refund approved by responder {i}")),
                    Responder::Remote {
                        client: format!("r{i}"),
                    },
                )
                .await
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let accepted = outcomes
        .iter()
        .filter(|o| **o == RespondOutcome::Accepted)
        .count();
    assert_eq!(accepted, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        RespondOutcome::Accepted | RespondOutcome::InFlight | RespondOutcome::NotFound
    )));

    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    let reply = turn.assistant_reply.unwrap();
    assert!(reply.contains("refund approved by responder"), "{reply}");

    // The transcript holds one request row and one resolved row for the call.
    let snapshot = h.bridge.session(&thread_id).await.unwrap().unwrap();
    let kinds: Vec<String> = snapshot
        .transcript
        .iter()
        .map(|r| {
            serde_json::to_value(&r.entry).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "tool_call.request").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "tool_call.resolved").count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_is_written_to_disk_as_it_happens() {
    let h = CodexBridge::start(
        "tests/fixtures/catalogs/manual.toml",
        "auto",
        ManualPolicy::Wait,
    )
    .await;
    let session = h
        .bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    let turn_id = h
        .bridge
        .send_message(&session.thread_id, "call:echo_args now")
        .await
        .unwrap();
    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&session.thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);

    let path = session.transcript_path.expect("persisted transcript");
    let (rows, bad) =
        switchboard::bridge::transcript::read_transcript(std::path::Path::new(&path)).unwrap();
    assert_eq!(bad, 0);
    // No warning row: the scripted model's CODEX_HOME gives codex the model's metadata.
    let kinds: Vec<String> = rows
        .iter()
        .map(|r| serde_json::to_value(&r.entry).unwrap())
        .map(|v| match v["kind"].as_str() {
            Some(kind) => format!("{}:{kind}", v["type"].as_str().unwrap()),
            None => v["type"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "session.started",
            "turn.started",
            "user_message",
            "tool_call.request",
            "tool_call.resolved",
            "agent_message",
            "turn.completed"
        ],
        "{kinds:?}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_can_be_listed_and_resumed_by_a_new_app_server() {
    use std::sync::Arc;
    use switchboard::appserver::TransportSpec;
    use switchboard::bridge::{self, BridgeConfig};
    use switchboard::catalog::Catalog;

    let h = CodexBridge::start(
        "tests/fixtures/catalogs/manual.toml",
        "auto",
        ManualPolicy::Wait,
    )
    .await;
    let session = h
        .bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    let turn_id = h
        .bridge
        .send_message(&session.thread_id, "call:echo_args first")
        .await
        .unwrap();
    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&session.thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    h.bridge.shutdown().await;

    // A second app-server on the same CODEX_HOME knows the thread from disk.
    let codex_home = h._home.path().join("codex");
    let transport = TransportSpec::Stdio {
        program: super::support::codex_bin(),
        args: vec!["app-server".to_string()],
        env: vec![("CODEX_HOME".to_string(), codex_home.display().to_string())],
    };
    let catalog = Arc::new(
        Catalog::load(&super::support::repo_path(
            "tests/fixtures/catalogs/manual.toml",
        ))
        .unwrap(),
    );
    let mut config = BridgeConfig::new(transport, catalog);
    config.manual_policy = ManualPolicy::Wait;
    let second = bridge::start(config).await.unwrap();
    let threads = second.list_threads().await.unwrap();
    let listed = threads
        .iter()
        .find(|t| t.id == session.thread_id)
        .expect("thread listed");
    assert!(
        listed.preview.contains("call:echo_args first"),
        "{listed:?}"
    );

    let resumed = second.resume_session(&session.thread_id).await.unwrap();
    assert_eq!(resumed.thread_id, session.thread_id);
    // The tools came back with the thread: a new turn calls the catalog handler again.
    let turn_id = second
        .send_message(&session.thread_id, "call:echo_args again")
        .await
        .unwrap();
    let turn = tokio::time::timeout(WAIT, second.wait_turn(&session.thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    assert!(
        turn.assistant_reply.unwrap().contains("echo_args: {"),
        "the resumed thread kept its tools"
    );
    second.shutdown().await;
}

/// Issue 14 on the real codex: a turn reports its token usage (the scripted model
/// reports usage and codex passes it on), the session says what it is doing while the
/// turn runs (a manual call: "running tool approve_refund"), and a rename goes to
/// app-server (`thread/name/set`) and comes back as the session's title.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_usage_activity_and_a_rename_on_the_real_codex() {
    let mut h = CodexBridge::start(
        "tests/fixtures/catalogs/manual.toml",
        "auto",
        ManualPolicy::Wait,
    )
    .await;
    let (thread_id, _turn_id, call) = start_manual_call(&mut h).await;
    let summary = h
        .bridge
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.thread_id == thread_id)
        .unwrap();
    assert_eq!(
        summary.activity.as_deref(),
        Some("running tool approve_refund")
    );
    assert!(summary.turn_started_at_ms.is_some());

    h.bridge
        .rename_session(&thread_id, "refund for order 17")
        .await
        .unwrap();
    let summary = h
        .bridge
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.thread_id == thread_id)
        .unwrap();
    assert_eq!(summary.title, "refund for order 17");
    assert_eq!(summary.name.as_deref(), Some("refund for order 17"));

    // The turn ends once the call is answered: the activity goes with it.
    h.bridge
        .respond(
            &call.request_id,
            ToolCallResult::text(true, "refunded"),
            Responder::Operator,
        )
        .await
        .unwrap();
    h.next_matching(|e| match e {
        BridgeEvent::TurnCompleted { thread_id: t, .. } if *t == thread_id => Some(()),
        _ => None,
    })
    .await;
    let summary = h
        .bridge
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.thread_id == thread_id)
        .unwrap();
    assert_eq!(summary.activity, None);
    // codex reported the turn's usage (after each model response).
    let usage = summary.token_usage.expect("no token usage reported");
    assert!(usage.total.total_tokens > 0, "{usage:?}");
    assert_eq!(summary.title, "refund for order 17");
}

//! Recovery against the real codex app-server: a killed app-server is restarted and its
//! sessions resumed; a cut websocket is redialled and the pending call answered; a
//! restarted Switchboard picks up a call it left pending.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::appserver::TransportSpec;
use switchboard::bridge::{
    self, BridgeConfig, BridgeEvent, BridgeHandle, CallEnd, ConnectionState, CreateSession,
    ManualPolicy, ReconnectPolicy, RecoveryStep, RespondOutcome, Responder, SessionStatus,
};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};
use switchboard::protocol::{ToolCallResult, TurnStatus};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::support::{CodexBridge, WAIT, repo_path};
use super::websocket::listening_codex;

const MANUAL_CATALOG: &str = "tests/fixtures/catalogs/manual.toml";

fn quick_reconnect() -> ReconnectPolicy {
    ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        ..ReconnectPolicy::standard()
    }
}

fn entry_kinds(rows: &[switchboard::bridge::TranscriptRow]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            serde_json::to_value(&r.entry).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Answers a call that app-server is about to send again: until the replay arrives on
/// the new connection the bridge says `upstream_error`, so try again for a bounded time.
async fn answer_replayed(bridge: &BridgeHandle, request_id: &str, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let outcome = bridge
            .respond(
                request_id,
                ToolCallResult::text(true, text),
                Responder::Operator,
            )
            .await
            .unwrap();
        match outcome {
            RespondOutcome::Accepted => return,
            RespondOutcome::UpstreamError { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("the replayed call could not be answered: {other:?}"),
        }
    }
}

/// Killing app-server mid-turn: the pending call expires with "app-server exited", the
/// bridge starts a new app-server, resumes the thread (codex reports the cut turn
/// interrupted), and the session goes on with its history in the same transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_app_server_is_restarted_and_the_session_goes_on() {
    let mut h =
        CodexBridge::start_configured(MANUAL_CATALOG, "auto", ManualPolicy::Wait, false, |c| {
            c.reconnect = quick_reconnect();
        })
        .await;
    let session = h
        .bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    let thread = session.thread_id.clone();
    let first = h
        .bridge
        .send_message(&thread, "call:echo_args first")
        .await
        .unwrap();
    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&thread, &first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);

    let cut_turn = h
        .bridge
        .send_message(&thread, "please call:approve_refund for order 17")
        .await
        .unwrap();
    let call = h
        .next_matching(|e| match e {
            BridgeEvent::ToolCallRequested { call } if call.tool == "approve_refund" => {
                Some(call.clone())
            }
            _ => None,
        })
        .await;
    let ConnectionState::Connected {
        pid: Some(old_pid), ..
    } = h.bridge.status().await.unwrap().connection
    else {
        panic!("no app-server pid");
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    let ended = h
        .next_matching(|e| match e {
            BridgeEvent::ToolCallResolved { call: c } if c.request_id == call.request_id => {
                Some(c.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(ended.status, CallEnd::Expired);
    assert!(
        ended
            .reason
            .as_deref()
            .unwrap()
            .contains("app-server exited"),
        "{ended:?}"
    );
    let reconnecting = h
        .next_matching(|e| match e {
            BridgeEvent::Connection {
                state: s @ ConnectionState::Reconnecting { .. },
                ..
            } => Some(s.clone()),
            _ => None,
        })
        .await;
    assert!(matches!(
        reconnecting,
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
    let new_pid = h
        .next_matching(|e| match e {
            BridgeEvent::Connection {
                state: ConnectionState::Connected { pid, .. },
                ..
            } => *pid,
            _ => None,
        })
        .await;
    assert_ne!(new_pid, old_pid, "a new app-server process");
    let step = h
        .next_matching(|e| match e {
            BridgeEvent::SessionRecovery { step, .. } => Some(step.clone()),
            _ => None,
        })
        .await;
    assert!(matches!(step, RecoveryStep::Resumed { .. }), "{step:?}");
    let cut = tokio::time::timeout(WAIT, h.bridge.wait_turn(&thread, &cut_turn))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cut.status,
        TurnStatus::Interrupted,
        "codex reports the cut turn interrupted"
    );

    // The same thread goes on over the new app-server, tools and all.
    let again = h
        .bridge
        .send_message(&thread, "call:echo_args again")
        .await
        .unwrap();
    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&thread, &again))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    assert!(turn.assistant_reply.unwrap().contains("echo_args: {"));

    let path = session.transcript_path.unwrap();
    let (rows, bad) =
        switchboard::bridge::transcript::read_transcript(std::path::Path::new(&path)).unwrap();
    assert_eq!(bad, 0);
    let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..rows.len() as u64).collect::<Vec<_>>());
    let kinds = entry_kinds(&rows);
    assert_eq!(
        kinds.iter().filter(|k| *k == "session.started").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"error".to_string()) && kinds.contains(&"notice".to_string()),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "turn.completed").count(),
        3,
        "{kinds:?}"
    );
    h.bridge.shutdown().await;
}

/// A loopback TCP proxy between the bridge and codex whose connections can be cut.
struct CuttableProxy {
    addr: std::net::SocketAddr,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(upstream: std::net::SocketAddr) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accepted.lock().unwrap().push(link);
            }
        });
        CuttableProxy {
            addr,
            links,
            accept,
        }
    }

    /// Drops every open connection; new ones are still accepted.
    fn cut(&self) -> usize {
        let links: Vec<_> = self.links.lock().unwrap().drain(..).collect();
        for link in &links {
            link.abort();
        }
        links.len()
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn websocket_bridge(url: String, data_dir: Option<std::path::PathBuf>) -> BridgeHandle {
    let catalog = Arc::new(Catalog::load(&repo_path(MANUAL_CATALOG)).unwrap());
    let mut config = BridgeConfig::new(TransportSpec::WebSocket { url, bearer: None }, catalog);
    config.manual_policy = ManualPolicy::Wait;
    config.reconnect = quick_reconnect();
    config.data_dir = data_dir;
    config.restore_sessions = true;
    bridge::start(config).await.unwrap()
}

async fn next_event<T>(
    events: &mut bridge::EventReceiver,
    mut pick: impl FnMut(&BridgeEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("bridge stopped");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
    .expect("timed out waiting for a bridge event")
}

async fn model_and_codex(home: &std::path::Path) -> (ModelServer, tokio::process::Child, String) {
    let catalog = Catalog::load(&repo_path(MANUAL_CATALOG)).unwrap();
    let model = ModelServer::start(
        Scenario::load("auto").unwrap(),
        switchboard::cli::scripted::model_options(&catalog),
    )
    .await
    .unwrap();
    let (codex, url) = listening_codex(&model, home).await;
    (model, codex, url)
}

/// Cutting the websocket while a manual call waits: nothing expires, the bridge
/// redials, resumes the thread, codex sends the call again with the same id, and the
/// operator's answer to the same `requestId` completes the turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_websocket_is_redialled_and_the_pending_call_answered() {
    let home = tempfile::tempdir().unwrap();
    let (_model, _codex, url) = model_and_codex(home.path()).await;
    let upstream: std::net::SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = CuttableProxy::start(upstream).await;
    let bridge = websocket_bridge(format!("ws://{}", proxy.addr), None).await;
    let mut events = bridge.subscribe();
    let session = bridge
        .create_session(CreateSession {
            cwd: Some(home.path().display().to_string()),
            ..CreateSession::default()
        })
        .await
        .unwrap();
    let thread = session.thread_id.clone();
    let turn_id = bridge
        .send_message(&thread, "please call:approve_refund for order 17")
        .await
        .unwrap();
    let call = next_event(&mut events, |e| match e {
        BridgeEvent::ToolCallRequested { call } => Some(call.clone()),
        _ => None,
    })
    .await;

    assert_eq!(proxy.cut(), 1);
    next_event(&mut events, |e| match e {
        BridgeEvent::ToolCallResolved { call } => panic!("a call ended on the drop: {call:?}"),
        BridgeEvent::Connection {
            state: ConnectionState::Reconnecting { .. },
            ..
        } => Some(()),
        _ => None,
    })
    .await;
    let step = next_event(&mut events, |e| match e {
        BridgeEvent::ToolCallResolved { call } => panic!("a call ended on the drop: {call:?}"),
        BridgeEvent::SessionRecovery { step, .. } => Some(step.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        step,
        RecoveryStep::Resumed {
            calls_kept: 1,
            calls_expired: 0
        }
    );

    answer_replayed(
        &bridge,
        &call.request_id,
        "refund approved after the reconnect",
    )
    .await;
    let turn = tokio::time::timeout(WAIT, bridge.wait_turn(&thread, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    assert!(
        turn.assistant_reply
            .unwrap()
            .contains("refund approved after the reconnect"),
        "the model got the answer given after the reconnect"
    );
    let snapshot = bridge.session(&thread).await.unwrap().unwrap();
    let kinds = entry_kinds(&snapshot.transcript);
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
    let status = bridge.status().await.unwrap();
    assert_eq!(
        (status.totals.answered_by_hand, status.totals.expired),
        (1, 0)
    );
    bridge.shutdown().await;
}

/// Switchboard stops while a manual call waits and codex (over websocket) keeps
/// running: a new Switchboard on the same data directory restores the session from its
/// transcript, resumes the thread, gets the call back under its old id, and answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_switchboard_answers_a_call_left_pending() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let (_model, _codex, url) = model_and_codex(home.path()).await;

    let first = websocket_bridge(url.clone(), Some(data.clone())).await;
    let mut events = first.subscribe();
    let session = first
        .create_session(CreateSession {
            cwd: Some(home.path().display().to_string()),
            ..CreateSession::default()
        })
        .await
        .unwrap();
    let thread = session.thread_id.clone();
    let turn_id = first
        .send_message(&thread, "please call:approve_refund for order 17")
        .await
        .unwrap();
    let call = next_event(&mut events, |e| match e {
        BridgeEvent::ToolCallRequested { call } => Some(call.clone()),
        _ => None,
    })
    .await;
    drop(events);
    first.shutdown().await;
    drop(first);

    let second = websocket_bridge(url, Some(data)).await;
    let mut events = second.subscribe();
    let restored = second.sessions().await.unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].thread_id, thread);
    assert_eq!(restored[0].status, SessionStatus::Restored);

    second.resume_session(&thread).await.unwrap();
    let replayed = next_event(&mut events, |e| match e {
        BridgeEvent::ToolCallRequested { call } => Some(call.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        replayed.request_id, call.request_id,
        "the call keeps its id"
    );
    let outcome = second
        .respond(
            &call.request_id,
            ToolCallResult::text(true, "approved by the second switchboard"),
            Responder::Operator,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RespondOutcome::Accepted);
    let turn = tokio::time::timeout(WAIT, second.wait_turn(&thread, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    assert!(
        turn.assistant_reply
            .unwrap()
            .contains("approved by the second switchboard")
    );

    let path = session.transcript_path.unwrap();
    let (rows, bad) =
        switchboard::bridge::transcript::read_transcript(std::path::Path::new(&path)).unwrap();
    assert_eq!(bad, 0);
    let kinds = entry_kinds(&rows);
    assert_eq!(
        kinds.iter().filter(|k| *k == "session.started").count(),
        1,
        "{kinds:?}"
    );
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
    second.shutdown().await;
}

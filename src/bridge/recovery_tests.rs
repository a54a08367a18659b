//! Reconnects, resumes and restores on the in-memory transport. The real codex cases
//! (a killed app-server, a cut websocket, a restarted Switchboard) are in
//! tests/suite/recovery.rs; these cover what codex cannot be made to do on demand: a
//! reconnect that never succeeds, resume replies of every shape, duplicates.

use std::path::Path;

use super::*;
use crate::appserver::Connector;

/// Hands out in-memory transports; the test gets each app-server end as it is made.
fn memory_connector() -> (Connector, mpsc::UnboundedReceiver<FakeAppServer>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let connector: Connector = Arc::new(move || {
        let (raw, peer) = memory();
        let _ = tx.send(FakeAppServer {
            from_bridge: peer.from_client,
            to_bridge: peer.to_client,
        });
        Box::pin(async move { Ok(raw) })
    });
    (connector, rx)
}

/// A connector whose every attempt fails, like an app-server that will not start.
fn failing_connector() -> Connector {
    Arc::new(|| {
        Box::pin(async {
            Err(crate::appserver::AppServerError::Connect {
                url: "ws://127.0.0.1:9".to_string(),
                message: "connection refused".to_string(),
            })
        })
    })
}

fn fast_reconnect(max_attempts: u32) -> ReconnectPolicy {
    ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_attempts,
    }
}

fn stdio_spec() -> crate::appserver::TransportSpec {
    crate::appserver::TransportSpec::Stdio {
        program: "codex".into(),
        args: vec!["app-server".to_string()],
        env: Vec::new(),
    }
}

fn websocket_spec() -> crate::appserver::TransportSpec {
    crate::appserver::TransportSpec::WebSocket {
        url: "ws://127.0.0.1:1".to_string(),
        bearer: None,
    }
}

struct Recovering {
    bridge: BridgeHandle,
    events: EventReceiver,
    fake: FakeAppServer,
    connections: mpsc::UnboundedReceiver<FakeAppServer>,
}

async fn handshake(fake: &mut FakeAppServer) {
    fake.reply("initialize", json!({ "userAgent": "fake/0.169.0 (test)" }))
        .await;
    assert_eq!(fake.next().await["method"], "initialized");
}

async fn start_recovering(
    transport: crate::appserver::TransportSpec,
    data_dir: Option<&Path>,
    restore: bool,
) -> Recovering {
    let catalog = Catalog::parse(CATALOG, Path::new("/tmp/catalog.toml")).unwrap();
    let mut config = BridgeConfig::new(transport, Arc::new(catalog));
    config.reconnect = fast_reconnect(5);
    config.data_dir = data_dir.map(Path::to_path_buf);
    config.restore_sessions = restore;
    let (connector, mut connections) = memory_connector();
    let starting = tokio::spawn(start_with(config, connector));
    let mut fake = connections.recv().await.unwrap();
    handshake(&mut fake).await;
    let bridge = starting.await.unwrap().unwrap();
    let events = bridge.subscribe();
    Recovering {
        bridge,
        events,
        fake,
        connections,
    }
}

impl Recovering {
    async fn create_session(&mut self) -> String {
        let creating = {
            let bridge = self.bridge.clone();
            tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
        };
        self.fake
            .reply(
                "thread/start",
                json!({ "thread": { "id": "thread-1", "preview": "" } }),
            )
            .await;
        creating.await.unwrap().unwrap().thread_id
    }

    async fn turn_started(&self) {
        self.fake
            .send(
                json!({ "method": "turn/started", "params": { "threadId": "thread-1",
                "turn": { "id": "turn-1", "status": "inProgress" } } }),
            )
            .await;
    }

    /// Drops the current connection the way the transport reports it.
    async fn lose_connection(&self, reason: &str) {
        self.fake
            .to_bridge
            .send(Incoming::Closed {
                reason: reason.to_string(),
            })
            .await
            .unwrap();
    }

    /// The next app-server the bridge connects to, after the handshake.
    async fn reconnected(&mut self) -> FakeAppServer {
        let mut fake = tokio::time::timeout(Duration::from_secs(10), self.connections.recv())
            .await
            .expect("the bridge did not reconnect")
            .unwrap();
        handshake(&mut fake).await;
        fake
    }

    async fn connection_state(
        &mut self,
        pick: impl Fn(&ConnectionState) -> bool,
    ) -> ConnectionState {
        match next_event(
            &mut self.events,
            |e| matches!(e, BridgeEvent::Connection { state, .. } if pick(state)),
        )
        .await
        {
            BridgeEvent::Connection { state, .. } => state,
            _ => unreachable!(),
        }
    }

    async fn recovery_step(&mut self) -> RecoveryStep {
        match next_event(&mut self.events, |e| {
            matches!(e, BridgeEvent::SessionRecovery { .. })
        })
        .await
        {
            BridgeEvent::SessionRecovery { step, .. } => step,
            _ => unreachable!(),
        }
    }

    async fn status_of(&self, thread_id: &str) -> SessionStatus {
        self.bridge
            .sessions()
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.thread_id == thread_id)
            .unwrap()
            .status
    }
}

fn transcript_kinds(bridge_snapshot: &SessionSnapshot) -> Vec<String> {
    bridge_snapshot
        .transcript
        .iter()
        .map(|r| {
            serde_json::to_value(&r.entry).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn back_off_doubles_up_to_the_cap() {
    let policy = ReconnectPolicy::standard();
    let delays: Vec<u64> = (1..=8)
        .map(|n| policy.delay(n).as_millis() as u64)
        .collect();
    assert_eq!(delays, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert_eq!(policy.delay(u32::MAX), Duration::from_secs(10));
    assert!(!ReconnectPolicy::off().enabled);
    assert!(
        !BridgeConfig::new(websocket_spec(), Arc::new(Catalog::empty()))
            .reconnect
            .enabled
    );
}

/// A spawned app-server that dies takes its pending calls with it: they expire with the
/// exit reason, then the bridge starts a new one, resumes the thread, and the turn that
/// app-server reports interrupted ends so.
#[tokio::test]
async fn an_exited_app_server_is_restarted_and_its_sessions_resumed() {
    let mut r = start_recovering(stdio_spec(), None, false).await;
    let thread = r.create_session().await;
    r.turn_started().await;
    r.fake.send(tool_call(json!(0), "c1", "manual_tool")).await;
    let call = requested(&mut r.events).await;
    let waiting = {
        let bridge = r.bridge.clone();
        let thread = thread.clone();
        tokio::spawn(async move { bridge.wait_turn(&thread, "turn-1").await })
    };
    r.lose_connection("app-server exited (killed by signal 9)")
        .await;

    let ended = resolved(&mut r.events).await;
    assert_eq!(ended.request_id, call.request_id);
    assert_eq!(ended.status, CallEnd::Expired);
    assert!(ended.reason.unwrap().contains("app-server exited"));
    let state = r
        .connection_state(|s| matches!(s, ConnectionState::Reconnecting { .. }))
        .await;
    assert!(
        matches!(&state, ConnectionState::Reconnecting { attempt: 1, max_attempts: 5, reason, .. } if reason.contains("killed by signal 9")),
        "{state:?}"
    );
    assert_eq!(r.status_of(&thread).await, SessionStatus::Disconnected);

    let mut second = r.reconnected().await;
    let resume = second.next().await;
    assert_eq!(resume["method"], "thread/resume");
    assert_eq!(resume["params"]["threadId"], "thread-1");
    second
        .send(json!({ "id": resume["id"], "result": { "thread": {
            "id": "thread-1", "preview": "", "status": { "type": "idle" },
            "turns": [{ "id": "turn-1", "status": "interrupted", "items": [] }] } } }))
        .await;
    assert_eq!(
        r.recovery_step().await,
        RecoveryStep::Resumed {
            calls_kept: 0,
            calls_expired: 0
        }
    );
    let turn = waiting.await.unwrap().unwrap();
    assert_eq!(turn.status, crate::protocol::TurnStatus::Interrupted);
    assert_eq!(r.status_of(&thread).await, SessionStatus::Idle);
    assert!(matches!(
        r.bridge.status().await.unwrap().connection,
        ConnectionState::Connected { .. }
    ));

    // The session goes on over the new app-server.
    let sending = {
        let bridge = r.bridge.clone();
        let thread = thread.clone();
        tokio::spawn(async move { bridge.send_message(&thread, "again").await })
    };
    second
        .reply(
            "turn/start",
            json!({ "turn": { "id": "turn-2", "status": "inProgress" } }),
        )
        .await;
    assert_eq!(sending.await.unwrap().unwrap(), "turn-2");
    let snapshot = r.bridge.session(&thread).await.unwrap().unwrap();
    let kinds = transcript_kinds(&snapshot);
    assert!(kinds.contains(&"notice".to_string()), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "session.started").count(), 1);
}

/// A websocket app-server keeps the calls it sent: nothing expires on the drop, the call
/// it sends again after the resume is the same call (same id, no new row, no new event),
/// and one that ended meanwhile expires.
#[tokio::test]
async fn a_dropped_websocket_keeps_calls_and_a_replay_is_the_same_call() {
    let mut r = start_recovering(websocket_spec(), None, false).await;
    let thread = r.create_session().await;
    r.turn_started().await;
    r.fake.send(tool_call(json!(3), "c1", "manual_tool")).await;
    r.fake.send(tool_call(json!(4), "c2", "manual_tool")).await;
    let first = requested(&mut r.events).await;
    let second_call = requested(&mut r.events).await;
    r.lose_connection("websocket connection closed").await;
    r.connection_state(|s| matches!(s, ConnectionState::Reconnecting { .. }))
        .await;
    assert_eq!(r.bridge.pending_calls(None).await.unwrap().len(), 2);
    // Not answerable until app-server sends it again on the new connection.
    let early = r
        .bridge
        .respond(
            &first.request_id,
            ToolCallResult::text(true, "early"),
            Responder::Operator,
        )
        .await
        .unwrap();
    assert!(
        matches!(&early, RespondOutcome::UpstreamError { message }
            if message.contains("is not connected (reconnecting)")
                && message.contains(&format!("{} still waits", first.request_id))),
        "{early:?}"
    );

    let mut next = r.reconnected().await;
    let resume = next.next().await;
    assert_eq!(resume["method"], "thread/resume");
    next.send(json!({ "id": resume["id"], "result": { "thread": {
        "id": "thread-1", "preview": "", "status": { "type": "active", "activeFlags": [] },
        "turns": [{ "id": "turn-1", "status": "inProgress", "items": [
            { "type": "dynamicToolCall", "id": "c1", "tool": "manual_tool", "status": "inProgress" },
            { "type": "dynamicToolCall", "id": "c2", "tool": "manual_tool", "status": "completed", "success": true }
        ] }] } } }))
        .await;
    let ended = resolved(&mut r.events).await;
    assert_eq!(ended.request_id, second_call.request_id);
    assert!(ended.reason.unwrap().contains("item completed"));
    assert_eq!(
        r.recovery_step().await,
        RecoveryStep::Resumed {
            calls_kept: 1,
            calls_expired: 1
        }
    );
    // The replay: same call id, app-server's new request id.
    next.send(tool_call(json!(0), "c1", "manual_tool")).await;
    let listed = r.bridge.pending_calls(None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].request_id, first.request_id);
    let answering = {
        let bridge = r.bridge.clone();
        let id = first.request_id.clone();
        tokio::spawn(async move {
            bridge
                .respond(
                    &id,
                    ToolCallResult::text(true, "approved"),
                    Responder::Operator,
                )
                .await
        })
    };
    let answer = next.next().await;
    assert_eq!(answer["id"], 0);
    assert_eq!(answer["result"]["contentItems"][0]["text"], "approved");
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);
    assert_eq!(r.status_of(&thread).await, SessionStatus::Running);

    let snapshot = r.bridge.session(&thread).await.unwrap().unwrap();
    let kinds = transcript_kinds(&snapshot);
    assert_eq!(
        kinds.iter().filter(|k| *k == "tool_call.request").count(),
        2,
        "one request row per call, none for the replay: {kinds:?}"
    );
    // Every event of the first call: one request, one end.
    let requested_again = std::iter::from_fn(|| r.events.inner.try_recv().ok())
        .filter(|e| matches!(e, BridgeEvent::ToolCallRequested { .. }))
        .count();
    assert_eq!(requested_again, 0);
}

/// The answer was written just before the websocket dropped and app-server never read
/// it: it sends the call again after the resume, and the same answer goes again.
#[tokio::test]
async fn an_answer_lost_in_a_drop_is_sent_again_on_replay() {
    let mut r = start_recovering(websocket_spec(), None, false).await;
    let thread = r.create_session().await;
    r.turn_started().await;
    r.fake.send(tool_call(json!(1), "c1", "fixed")).await;
    assert_eq!(r.fake.next().await["id"], 1);
    resolved(&mut r.events).await;
    // A duplicate on the same connection is ignored: that connection has the answer.
    r.fake.send(tool_call(json!(1), "c1", "fixed")).await;
    r.bridge.status().await.unwrap();
    assert!(r.fake.from_bridge.try_recv().is_err());

    r.lose_connection("websocket connection closed").await;
    let mut next = r.reconnected().await;
    let resume = next.next().await;
    next.send(json!({ "id": resume["id"], "result": { "thread": {
        "id": "thread-1", "preview": "", "status": { "type": "active", "activeFlags": [] },
        "turns": [{ "id": "turn-1", "status": "inProgress", "items": [
            { "type": "dynamicToolCall", "id": "c1", "tool": "fixed", "status": "inProgress" }
        ] }] } } }))
    .await;
    next.send(tool_call(json!(0), "c1", "fixed")).await;
    let answer = next.next().await;
    assert_eq!(answer["id"], 0);
    assert_eq!(answer["result"]["contentItems"][0]["text"], "fixed answer");
    let snapshot = r.bridge.session(&thread).await.unwrap().unwrap();
    let kinds = transcript_kinds(&snapshot);
    assert_eq!(
        kinds.iter().filter(|k| *k == "tool_call.resolved").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        r.bridge
            .status()
            .await
            .unwrap()
            .totals
            .answered_automatically,
        1
    );
}

/// Reconnecting is bounded: when every attempt fails, the loss is final, and the calls
/// app-server was keeping for us expire with the reason.
#[tokio::test]
async fn reconnecting_gives_up_after_the_last_attempt() {
    let catalog = Catalog::parse(CATALOG, Path::new("/tmp/catalog.toml")).unwrap();
    let mut config = BridgeConfig::new(websocket_spec(), Arc::new(catalog));
    config.reconnect = fast_reconnect(3);
    let (raw, peer) = memory();
    let mut fake = FakeAppServer {
        from_bridge: peer.from_client,
        to_bridge: peer.to_client,
    };
    let first = Arc::new(std::sync::Mutex::new(Some(raw)));
    let failing = failing_connector();
    let connector: Connector = Arc::new(move || match first.lock().unwrap().take() {
        Some(raw) => Box::pin(async move { Ok(raw) }),
        None => failing(),
    });
    let starting = tokio::spawn(start_with(config, connector));
    handshake(&mut fake).await;
    let bridge = starting.await.unwrap().unwrap();
    let mut events = bridge.subscribe();
    let creating = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
    };
    fake.reply(
        "thread/start",
        json!({ "thread": { "id": "thread-1", "preview": "" } }),
    )
    .await;
    let thread = creating.await.unwrap().unwrap().thread_id;
    fake.send(tool_call(json!(0), "c1", "manual_tool")).await;
    requested(&mut events).await;
    fake.to_bridge
        .send(Incoming::Closed {
            reason: "websocket connection closed".to_string(),
        })
        .await
        .unwrap();

    let mut attempts = Vec::new();
    let reason = loop {
        match next_event(&mut events, |e| matches!(e, BridgeEvent::Connection { .. })).await {
            BridgeEvent::Connection {
                state: ConnectionState::Reconnecting { attempt, .. },
                ..
            } => attempts.push(attempt),
            BridgeEvent::Connection {
                state: ConnectionState::Disconnected { reason, .. },
                ..
            } => break reason,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(attempts, [1, 2, 3]);
    assert!(reason.contains("gave up reconnecting"), "{reason}");
    assert!(reason.contains("connection refused"), "{reason}");
    assert!(bridge.pending_calls(None).await.unwrap().is_empty());
    assert_eq!(bridge.status().await.unwrap().totals.expired, 1);
    let waited = bridge.wait_turn(&thread, "turn-1").await;
    assert!(
        matches!(waited, Err(BridgeError::Disconnected { .. })),
        "{waited:?}"
    );
}

/// After reconnecting gave up, the transcript's last row says so (not "reconnecting"),
/// the state offers a retry, and a retry (the console's key) reconnects and resumes the
/// session once app-server is back.
#[tokio::test]
async fn a_retry_after_giving_up_reconnects_and_resumes() {
    let catalog = Catalog::parse(CATALOG, Path::new("/tmp/catalog.toml")).unwrap();
    let mut config = BridgeConfig::new(stdio_spec(), Arc::new(catalog));
    config.reconnect = fast_reconnect(2);
    // app-server comes up, goes away (every attempt fails), then comes back.
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (working, mut connections) = memory_connector();
    let failing = failing_connector();
    let connector: Connector = {
        let up = up.clone();
        Arc::new(move || {
            if up.load(std::sync::atomic::Ordering::SeqCst) {
                working()
            } else {
                failing()
            }
        })
    };
    let starting = tokio::spawn(start_with(config, connector));
    let mut fake = connections.recv().await.unwrap();
    handshake(&mut fake).await;
    let bridge = starting.await.unwrap().unwrap();
    let mut events = bridge.subscribe();
    let creating = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
    };
    fake.reply(
        "thread/start",
        json!({ "thread": { "id": "thread-1", "preview": "" } }),
    )
    .await;
    let thread = creating.await.unwrap().unwrap().thread_id;
    // Nothing to retry while connected.
    bridge.reconnect().await.unwrap();
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    fake.to_bridge
        .send(Incoming::Closed {
            reason: "app-server exited (exit code 1)".to_string(),
        })
        .await
        .unwrap();
    let state = match next_event(&mut events, |e| {
        matches!(
            e,
            BridgeEvent::Connection {
                state: ConnectionState::Disconnected { .. },
                ..
            }
        )
    })
    .await
    {
        BridgeEvent::Connection { state, .. } => state,
        _ => unreachable!(),
    };
    assert!(
        matches!(&state, ConnectionState::Disconnected { retry: true, reason } if reason.contains("gave up")),
        "{state:?}"
    );
    let snapshot = bridge.session(&thread).await.unwrap().unwrap();
    let last = serde_json::to_value(&snapshot.transcript.last().unwrap().entry).unwrap();
    let message = last["message"].as_str().unwrap();
    assert!(message.starts_with("gave up reconnecting"), "{last}");

    up.store(true, std::sync::atomic::Ordering::SeqCst);
    bridge.reconnect().await.unwrap();
    let mut next = tokio::time::timeout(Duration::from_secs(10), connections.recv())
        .await
        .expect("the retry did not reconnect")
        .unwrap();
    handshake(&mut next).await;
    let resume = next.next().await;
    assert_eq!(resume["method"], "thread/resume");
    assert_eq!(resume["params"]["threadId"], "thread-1");
    next.send(
        json!({ "id": resume["id"], "result": { "thread": { "id": "thread-1",
        "preview": "", "turns": [] } } }),
    )
    .await;
    let step = match next_event(&mut events, |e| {
        matches!(e, BridgeEvent::SessionRecovery { .. })
    })
    .await
    {
        BridgeEvent::SessionRecovery { step, .. } => step,
        _ => unreachable!(),
    };
    assert!(matches!(step, RecoveryStep::Resumed { .. }), "{step:?}");
    assert!(matches!(
        bridge.status().await.unwrap().connection,
        ConnectionState::Connected { .. }
    ));
}

/// A thread that never had a turn has no rollout, so app-server cannot resume it: the
/// session is marked so, with the reason, and is not dropped.
#[tokio::test]
async fn a_session_that_cannot_be_resumed_says_why() {
    let mut r = start_recovering(stdio_spec(), None, false).await;
    let thread = r.create_session().await;
    r.lose_connection("app-server exited (exit code 1)").await;
    let mut next = r.reconnected().await;
    let resume = next.next().await;
    next.send(json!({ "id": resume["id"], "error": { "code": -32600,
        "message": "no rollout found for thread id thread-1" } }))
        .await;
    let step = r.recovery_step().await;
    let RecoveryStep::ResumeFailed { reason } = step else {
        panic!("{step:?}")
    };
    assert!(reason.contains("before its first turn"), "{reason}");
    assert!(reason.contains("no rollout found"), "{reason}");
    assert_eq!(r.status_of(&thread).await, SessionStatus::ResumeFailed);
    let err = r.bridge.send_message(&thread, "hello").await.unwrap_err();
    assert!(matches!(err, BridgeError::NotAttached { .. }), "{err}");
    let snapshot = r.bridge.session(&thread).await.unwrap().unwrap();
    let last = snapshot.transcript.last().unwrap();
    assert!(
        matches!(&last.entry, TranscriptEntry::Error { message } if message.contains("no rollout found")),
        "{last:?}"
    );
}

/// Sessions come back from their transcripts after a restart, unfinished calls
/// included: resuming the thread brings the call back under its old id.
#[tokio::test]
async fn sessions_are_restored_from_their_transcripts() {
    let data = tempfile::tempdir().unwrap();
    let mut first = start_recovering(websocket_spec(), Some(data.path()), true).await;
    let thread = first.create_session().await;
    first.turn_started().await;
    first
        .fake
        .send(tool_call(json!(0), "c1", "manual_tool"))
        .await;
    let call = requested(&mut first.events).await;
    first.bridge.shutdown().await;

    let mut second = start_recovering(websocket_spec(), Some(data.path()), true).await;
    let sessions = second.bridge.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].thread_id, thread);
    assert_eq!(sessions[0].status, SessionStatus::Restored);
    assert_eq!(sessions[0].turn_count, 1);
    // Restored calls are not live until app-server sends them again.
    assert!(second.bridge.pending_calls(None).await.unwrap().is_empty());
    let err = second.bridge.send_message(&thread, "hi").await.unwrap_err();
    assert!(matches!(err, BridgeError::NotAttached { .. }), "{err}");

    let resuming = {
        let bridge = second.bridge.clone();
        let thread = thread.clone();
        tokio::spawn(async move { bridge.resume_session(&thread).await })
    };
    second
        .fake
        .reply(
            "thread/resume",
            json!({ "thread": { "id": "thread-1", "preview": "",
                "status": { "type": "active", "activeFlags": [] },
                "turns": [{ "id": "turn-1", "status": "inProgress", "items": [
                    { "type": "dynamicToolCall", "id": "c1", "tool": "manual_tool", "status": "inProgress" }
                ] }] } }),
        )
        .await;
    resuming.await.unwrap().unwrap();
    second
        .fake
        .send(tool_call(json!(0), "c1", "manual_tool"))
        .await;
    let replayed = requested(&mut second.events).await;
    assert_eq!(replayed.request_id, call.request_id);
    let answering = {
        let bridge = second.bridge.clone();
        let id = call.request_id.clone();
        tokio::spawn(async move {
            bridge
                .respond(&id, ToolCallResult::text(true, "yes"), Responder::Operator)
                .await
        })
    };
    assert_eq!(second.fake.next().await["id"], 0);
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);

    let path = data.path().join("sessions").join("thread-1.jsonl");
    let (rows, bad) = transcript::read_transcript(&path).unwrap();
    assert_eq!(bad, 0);
    let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (0..rows.len() as u64).collect::<Vec<_>>(),
        "numbering goes on"
    );
    let kinds: Vec<String> = rows
        .iter()
        .map(|r| {
            serde_json::to_value(&r.entry).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "session.started",
            "turn.started",
            "tool_call.request",
            "notice",
            "tool_call.resolved"
        ]
    );
}

/// Restored calls whose turn ended while Switchboard was away end with that reason;
/// closed sessions come back closed; a torn last line does not spoil the next row.
#[tokio::test]
async fn restored_calls_of_finished_turns_expire_on_resume() {
    let data = tempfile::tempdir().unwrap();
    // What a Switchboard that died mid-call leaves: no end row, half a row at the end.
    let dir = data.path().join("sessions");
    let mut written = transcript::Transcript::persisted(&dir, "thread-1").unwrap();
    let rows = [
        (
            None,
            TranscriptEntry::SessionStarted {
                app_server: None,
                thread_id: "thread-1".to_string(),
                cwd: None,
                model: None,
                tools: vec!["manual_tool".to_string()],
                watched: false,
            },
        ),
        (Some("turn-1"), TranscriptEntry::TurnStarted),
        (
            Some("turn-1"),
            TranscriptEntry::ToolCallRequest {
                request_id: "old-0".to_string(),
                call_id: "c1".to_string(),
                tool: "manual_tool".to_string(),
                namespace: None,
                arguments: json!({ "n": 1 }),
                answerer: "you".to_string(),
            },
        ),
    ];
    for (turn, entry) in rows {
        written
            .append(1, turn.map(str::to_string), entry)
            .1
            .unwrap();
    }
    drop(written);
    let path = dir.join("thread-1.jsonl");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"seq\":99,\"atMs\":").unwrap();

    let mut second = start_recovering(stdio_spec(), Some(data.path()), true).await;
    let resuming = {
        let bridge = second.bridge.clone();
        tokio::spawn(async move { bridge.resume_session("thread-1").await })
    };
    second
        .fake
        .reply(
            "thread/resume",
            json!({ "thread": { "id": "thread-1", "preview": "", "status": { "type": "idle" },
                "turns": [{ "id": "turn-1", "status": "interrupted", "items": [] }] } }),
        )
        .await;
    resuming.await.unwrap().unwrap();
    let ended = resolved(&mut second.events).await;
    assert_eq!(ended.status, CallEnd::Expired);
    assert!(ended.reason.unwrap().contains("turn interrupted"));
    let (rows, bad) = transcript::read_transcript(&path).unwrap();
    assert_eq!(bad, 1, "only the torn line is lost");
    assert!(
        rows.iter()
            .any(|r| matches!(r.entry, TranscriptEntry::ToolCallResolved { .. }))
    );

    let closing = {
        let bridge = second.bridge.clone();
        tokio::spawn(async move { bridge.close_session("thread-1").await })
    };
    second.fake.reply("thread/unsubscribe", json!({})).await;
    closing.await.unwrap().unwrap();
    second.bridge.shutdown().await;
    let third = start_recovering(stdio_spec(), Some(data.path()), true).await;
    let sessions = third.bridge.sessions().await.unwrap();
    assert_eq!(sessions[0].status, SessionStatus::Closed);
}

/// A transcript with bytes that are not UTF-8 in the middle and a torn last line comes
/// back whole but for those two lines, and says how many it skipped.
#[tokio::test]
async fn a_garbled_transcript_loses_only_its_bad_lines_on_restore() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("sessions");
    let mut written = transcript::Transcript::persisted(&dir, "thread-1").unwrap();
    let started = TranscriptEntry::SessionStarted {
        app_server: None,
        thread_id: "thread-1".to_string(),
        cwd: None,
        model: None,
        tools: vec!["manual_tool".to_string()],
        watched: false,
    };
    written.append(1, None, started).1.unwrap();
    let path = dir.join("thread-1.jsonl");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(
        &mut file,
        b"{\"seq\":1,\"atMs\":2,\"type\":\"user_message\",\"text\":\"caf\xc3\"}\n",
    )
    .unwrap();
    drop(file);
    let said = TranscriptEntry::UserMessage {
        text: "still here".to_string(),
    };
    // Reopened as a restart would: numbering goes on after the last good row.
    let (rows, bad) = transcript::read_transcript(&path).unwrap();
    assert_eq!((rows.len(), bad), (1, 1));
    let mut written = transcript::Transcript::reopen(&dir, &path, "thread-1", &rows).unwrap();
    written.append(3, None, said).1.unwrap();
    drop(written);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"seq\":9,\"atMs\":").unwrap();

    let second = start_recovering(stdio_spec(), Some(data.path()), true).await;
    let sessions = second.bridge.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1, "the session is not lost");
    assert_eq!(sessions[0].status, SessionStatus::Restored);
    assert_eq!(sessions[0].title, "still here");
    let snapshot = second.bridge.session("thread-1").await.unwrap().unwrap();
    let Some(TranscriptEntry::Notice { message }) = snapshot.transcript.last().map(|r| &r.entry)
    else {
        panic!("no notice: {:?}", snapshot.transcript);
    };
    assert_eq!(
        message,
        "restored from the transcript; 2 unreadable line(s) (torn by a crash, not UTF-8 or not JSON) were skipped"
    );
    let (rows, bad) = transcript::read_transcript(&path).unwrap();
    assert_eq!(bad, 2);
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [0, 1, 2],
        "numbering goes on after the last good row"
    );
}

/// A transcript write that fails is retried after 1 s, then 2 s later, ... (paused
/// time): the failure is reported once, the session says why, and the retry after
/// space returns writes the waiting rows and says so.
#[tokio::test(start_paused = true)]
async fn a_failed_transcript_write_is_retried_with_back_off_and_reported_when_it_clears() {
    let Some(tmpfs) = transcript::tests::small_tmpfs(64 * 1024) else {
        return;
    };
    let ballast = tmpfs.path().join("ballast");
    {
        let mut file = std::fs::File::create(&ballast).unwrap();
        while std::io::Write::write_all(&mut file, &[0u8; 4096]).is_ok() {}
    }
    let data = tmpfs.path().join("data");
    let mut r = start_recovering(stdio_spec(), Some(&data), false).await;
    let thread_id = r.create_session().await;
    let failed = next_event(&mut r.events, |e| matches!(e, BridgeEvent::Error { .. })).await;
    let failed_at = tokio::time::Instant::now();
    let BridgeEvent::Error { message, .. } = failed else {
        unreachable!()
    };
    assert!(
        message.starts_with("transcript not persisted: could not write transcript ")
            && message.ends_with("No space left on device (os error 28); retrying"),
        "{message}"
    );
    let sessions = r.bridge.sessions().await.unwrap();
    assert!(!sessions[0].persisted);
    assert_eq!(
        sessions[0].persist_error.as_deref(),
        message
            .strip_prefix("transcript not persisted: ")
            .and_then(|m| m.strip_suffix("; retrying"))
    );
    let status = r.bridge.status().await.unwrap();
    assert_eq!(status.not_persisted.len(), 1);
    assert_eq!(status.not_persisted[0].thread_id, thread_id);

    // The first retry (after 1 s) still finds the disk full; space returns at 2.5 s;
    // the second retry (2 s after the first) writes the rows.
    tokio::time::sleep_until(failed_at + Duration::from_millis(2_500)).await;
    assert!(!r.bridge.sessions().await.unwrap()[0].persisted);
    std::fs::remove_file(&ballast).unwrap();
    let cleared = next_event(
        &mut r.events,
        |e| matches!(e, BridgeEvent::SessionUpdated { session } if session.persisted),
    )
    .await;
    assert_eq!(failed_at.elapsed(), Duration::from_secs(3));
    let BridgeEvent::SessionUpdated { session } = cleared else {
        unreachable!()
    };
    assert_eq!(session.persist_error, None);
    assert!(r.bridge.status().await.unwrap().not_persisted.is_empty());
    let path = data.join("sessions").join(format!("{thread_id}.jsonl"));
    let (rows, bad) = transcript::read_transcript(&path).unwrap();
    assert_eq!(bad, 0);
    let Some(TranscriptEntry::Notice { message }) = rows.last().map(|r| &r.entry) else {
        panic!("{rows:?}");
    };
    assert_eq!(
        message,
        "the transcript is written again: 2 row(s) that waited were written"
    );
}

/// Rows read back from disk are held as live rows are: a command's long output keeps
/// its tail in memory, both in a session restored at start-up and in a closed session
/// read back from its file; the file keeps the output whole.
#[tokio::test]
async fn rows_read_back_from_disk_keep_long_outputs_capped_in_memory() {
    use crate::bridge::items::{ItemRow, OUTPUT_IN_MEMORY};
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("sessions");
    let long: String = (0..3_000)
        .map(|n| format!("   Compiling crate-{n:04} v0.1.0\n"))
        .collect();
    let mut written = transcript::Transcript::persisted(&dir, "thread-1").unwrap();
    let started = TranscriptEntry::SessionStarted {
        app_server: None,
        thread_id: "thread-1".to_string(),
        cwd: None,
        model: None,
        tools: Vec::new(),
        watched: false,
    };
    written.append(1, None, started).1.unwrap();
    let command = TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "cargo build".to_string(),
        cwd: "/work".to_string(),
        status: "completed".to_string(),
        exit_code: Some(0),
        duration_ms: Some(4_000),
        output: long.clone(),
        output_cut_bytes: 0,
        output_lines: 0,
    });
    written
        .append(2, Some("turn-1".to_string()), command)
        .1
        .unwrap();
    drop(written);
    let path = dir.join("thread-1.jsonl");
    let held = |rows: &[TranscriptRow]| {
        rows.iter()
            .find_map(|r| match &r.entry {
                TranscriptEntry::Item(ItemRow::Command {
                    output,
                    output_cut_bytes,
                    ..
                }) => Some((output.clone(), *output_cut_bytes)),
                _ => None,
            })
            .expect("the command row")
    };
    let capped = |(output, cut): (String, usize)| {
        assert!(
            output.len() <= OUTPUT_IN_MEMORY,
            "{} bytes held",
            output.len()
        );
        assert_eq!(output.len() + cut, long.len());
        assert!(output.ends_with("crate-2999 v0.1.0\n"));
    };

    // A restart restores the session from its file.
    let second = start_recovering(stdio_spec(), Some(data.path()), true).await;
    let snapshot = second.bridge.session("thread-1").await.unwrap().unwrap();
    assert_eq!(snapshot.summary.status, SessionStatus::Restored);
    capped(held(&snapshot.transcript));
    second.bridge.shutdown().await;

    // A closed session that left memory is read back from its file when asked for.
    let read = crate::bridge::actor::recovery::read_back(&path).unwrap();
    let summary = read.folded.summary(&path);
    let snapshot = read.folded.snapshot(summary, read.rows);
    capped(held(&snapshot.transcript));

    let (rows, _) = transcript::read_transcript(&path).unwrap();
    assert_eq!(held(&rows), (long.clone(), 0), "the file keeps it whole");
}

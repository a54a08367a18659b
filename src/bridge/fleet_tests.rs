//! Several app-servers in one bridge, on in-memory transports: rpc ids that are the same
//! on two connections, one app-server lost while the other goes on, picking one by
//! name. `tests/suite/fleet_codex.rs` runs the same cases on real codex processes
//! under one `serve` (a spawned and a `--listen` app-server).

use std::path::Path;

use super::*;
use crate::appserver::Connector;

/// An app-server of the fleet: its connector, and each transport the bridge opens to it.
fn member(name: &str) -> (FleetMember, mpsc::UnboundedReceiver<FakeAppServer>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let connector: Connector = Arc::new(move || {
        let (raw, peer) = memory();
        let _ = tx.send(FakeAppServer {
            from_bridge: peer.from_client,
            to_bridge: peer.to_client,
        });
        Box::pin(async move { Ok(raw) })
    });
    let spec = AppServerSpec {
        name: name.to_string(),
        transport: crate::appserver::TransportSpec::Stdio {
            program: "codex".into(),
            args: vec!["app-server".to_string()],
            env: Vec::new(),
        },
        cwd: Some(format!("/srv/{name}")),
    };
    (
        FleetMember {
            spec,
            connector: Some(connector),
            opened: None,
        },
        rx,
    )
}

async fn handshake(fake: &mut FakeAppServer) {
    fake.reply("initialize", json!({ "userAgent": "fake/0.171.0 (test)" }))
        .await;
    assert_eq!(fake.next().await["method"], "initialized");
}

fn call_on(thread: &str, id: Value, call_id: &str) -> Value {
    json!({ "id": id, "method": "item/tool/call", "params": {
        "threadId": thread, "turnId": "turn-1", "callId": call_id, "namespace": null,
        "tool": "manual_tool", "arguments": { "n": 1 } } })
}

struct Fleet {
    bridge: BridgeHandle,
    events: EventReceiver,
    work: FakeAppServer,
    build: FakeAppServer,
    work_connections: mpsc::UnboundedReceiver<FakeAppServer>,
}

async fn start_two(reconnect: ReconnectPolicy) -> Fleet {
    let catalog = Catalog::parse(CATALOG, Path::new("/tmp/catalog.toml")).unwrap();
    let mut config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "ws://unused".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    config.reconnect = reconnect;
    let (work, mut work_connections) = member("work");
    let (build, mut build_connections) = member("build");
    let starting = tokio::spawn(start_fleet(config, vec![work, build]));
    let mut work = work_connections.recv().await.unwrap();
    let mut build = build_connections.recv().await.unwrap();
    // Both handshakes run at once: the second is answered before the first.
    handshake(&mut build).await;
    handshake(&mut work).await;
    let bridge = starting.await.unwrap().unwrap();
    let events = bridge.subscribe();
    Fleet {
        bridge,
        events,
        work,
        build,
        work_connections,
    }
}

/// Starts a session on the named app-server (the default with `None`).
async fn session_on(
    bridge: &BridgeHandle,
    fake: &mut FakeAppServer,
    app_server: Option<&str>,
    thread: &str,
) -> SessionSummary {
    let creating = {
        let bridge = bridge.clone();
        let app_server = app_server.map(str::to_string);
        tokio::spawn(async move {
            bridge
                .create_session(CreateSession {
                    app_server,
                    ..CreateSession::default()
                })
                .await
        })
    };
    let request = fake.next().await;
    assert_eq!(request["method"], "thread/start");
    fake.send(json!({ "id": request["id"], "result": { "thread": {
        "id": thread, "preview": "", "cwd": request["params"]["cwd"] } } }))
        .await;
    creating.await.unwrap().unwrap()
}

/// Answers a call by hand and returns the line its app-server got; the answer is
/// accepted once that app-server took it.
async fn answered(
    bridge: &BridgeHandle,
    fake: &mut FakeAppServer,
    request_id: &str,
    text: &str,
) -> Value {
    let answering = {
        let bridge = bridge.clone();
        let (id, text) = (request_id.to_string(), text.to_string());
        tokio::spawn(async move {
            bridge
                .respond(&id, ToolCallResult::text(true, &text), Responder::Operator)
                .await
        })
    };
    let line = fake.next().await;
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);
    line
}

fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy {
        enabled: true,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_attempts: 5,
    }
}

#[tokio::test]
async fn two_app_servers_with_the_same_rpc_ids_get_each_their_own_answer() {
    let mut f = start_two(ReconnectPolicy::off()).await;
    let on_work = session_on(&f.bridge, &mut f.work, None, "thread-w").await;
    let on_build = session_on(&f.bridge, &mut f.build, Some("build"), "thread-b").await;
    assert_eq!(on_work.app_server, "work");
    assert_eq!(on_work.cwd.as_deref(), Some("/srv/work"));
    assert_eq!(on_build.app_server, "build");

    // Each app-server counts its rpc ids from 0: the same id on both connections.
    f.work.send(call_on("thread-w", json!(0), "cw")).await;
    f.build.send(call_on("thread-b", json!(0), "cb")).await;
    let first = requested(&mut f.events).await;
    let second = requested(&mut f.events).await;
    let (work_call, build_call) = if first.app_server == "work" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(work_call.thread_id, "thread-w");
    assert_eq!(build_call.app_server, "build");
    assert_ne!(work_call.request_id, build_call.request_id);

    let answer = answered(&f.bridge, &mut f.build, &build_call.request_id, "for build").await;
    assert_eq!(answer["id"], json!(0));
    assert_eq!(answer["result"]["contentItems"][0]["text"], "for build");
    // The work call is untouched: still pending, answered on its own connection.
    let pending = f.bridge.pending_calls(None).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request_id, work_call.request_id);
    let answer = answered(&f.bridge, &mut f.work, &work_call.request_id, "for work").await;
    assert_eq!(answer["id"], json!(0));
    assert_eq!(answer["result"]["contentItems"][0]["text"], "for work");

    // `serverRequest/resolved` for id 0 on one connection ends nothing of the other.
    f.work.send(call_on("thread-w", json!(1), "cw2")).await;
    f.build.send(call_on("thread-b", json!(1), "cb2")).await;
    requested(&mut f.events).await;
    requested(&mut f.events).await;
    f.build
        .send(json!({ "method": "serverRequest/resolved",
            "params": { "threadId": "thread-b", "requestId": 1 } }))
        .await;
    let ended = resolved(&mut f.events).await;
    assert_eq!(ended.thread_id, "thread-b");
    let pending = f.bridge.pending_calls(None).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].app_server, "work");

    let status = f.bridge.status().await.unwrap();
    let names: Vec<_> = status.app_servers.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["work", "build"]);
    assert!(
        status
            .app_servers
            .iter()
            .all(|a| matches!(a.connection, ConnectionState::Connected { .. }) && a.sessions == 1)
    );
    assert_eq!(status.app_servers[0].pending, 1);
    assert_eq!(status.app_servers[1].pending, 0);
}

#[tokio::test]
async fn one_app_server_lost_ends_only_its_calls_and_the_other_goes_on() {
    let mut f = start_two(fast_reconnect()).await;
    session_on(&f.bridge, &mut f.work, None, "thread-w").await;
    session_on(&f.bridge, &mut f.build, Some("build"), "thread-b").await;
    f.work.send(call_on("thread-w", json!(0), "cw")).await;
    let work_call = requested(&mut f.events).await;
    f.build.send(call_on("thread-b", json!(0), "cb")).await;
    let build_call = requested(&mut f.events).await;

    // The stdio child of `work` dies: its call goes with it, nothing of `build` does.
    f.work
        .to_bridge
        .send(Incoming::Closed {
            reason: "app-server exited".to_string(),
        })
        .await
        .unwrap();
    let ended = resolved(&mut f.events).await;
    assert_eq!(ended.request_id, work_call.request_id);
    assert_eq!(ended.status, CallEnd::Expired);
    assert!(ended.reason.unwrap().contains("work"));
    match next_event(&mut f.events, |e| {
        matches!(
            e,
            BridgeEvent::Connection {
                state: ConnectionState::Reconnecting { .. },
                ..
            }
        )
    })
    .await
    {
        BridgeEvent::Connection { app_server, .. } => assert_eq!(app_server, "work"),
        _ => unreachable!(),
    }
    let sessions = f.bridge.sessions().await.unwrap();
    let status_of = |thread: &str| {
        sessions
            .iter()
            .find(|s| s.thread_id == thread)
            .map(|s| s.status)
    };
    assert_eq!(status_of("thread-w"), Some(SessionStatus::Disconnected));
    assert_eq!(status_of("thread-b"), Some(SessionStatus::Idle));
    // Meanwhile `build` answers its call as if nothing happened.
    let answer = answered(
        &f.bridge,
        &mut f.build,
        &build_call.request_id,
        "still here",
    )
    .await;
    assert_eq!(answer["id"], json!(0));
    // A new session on the one that is down says which one it is.
    let refused = f
        .bridge
        .create_session(CreateSession::default())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("app-server work"), "{refused}");

    // `work` comes back: its session is resumed on it, and only there.
    let mut again = f.work_connections.recv().await.unwrap();
    handshake(&mut again).await;
    let resume = again.next().await;
    assert_eq!(resume["method"], "thread/resume");
    assert_eq!(resume["params"]["threadId"], "thread-w");
    again
        .send(json!({ "id": resume["id"], "result": { "thread": {
            "id": "thread-w", "preview": "", "status": { "type": "idle" }, "turns": [] } } }))
        .await;
    next_event(
        &mut f.events,
        |e| matches!(e, BridgeEvent::SessionRecovery { thread_id, .. } if thread_id == "thread-w"),
    )
    .await;
    let status = f.bridge.status().await.unwrap();
    assert!(
        status
            .app_servers
            .iter()
            .all(|a| matches!(a.connection, ConnectionState::Connected { .. }))
    );
    // The new connection counts rpc ids from 0 again, like `build` does: still apart.
    again.send(call_on("thread-w", json!(0), "cw-new")).await;
    let fresh = requested(&mut f.events).await;
    assert_eq!(fresh.app_server, "work");
    let answer = answered(&f.bridge, &mut again, &fresh.request_id, "back").await;
    assert_eq!(answer["id"], json!(0));
}

#[tokio::test]
async fn an_unknown_app_server_is_refused_with_the_known_names() {
    let f = start_two(ReconnectPolicy::off()).await;
    let refused = f
        .bridge
        .create_session(CreateSession {
            app_server: Some("nope".to_string()),
            ..CreateSession::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "no app-server named \"nope\": this bridge has work, build"
    );
}

#[tokio::test]
async fn an_app_server_down_at_start_reconnects_while_the_others_work() {
    let catalog = Catalog::parse(CATALOG, Path::new("/tmp/catalog.toml")).unwrap();
    let mut config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "ws://unused".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    config.reconnect = fast_reconnect();
    let (work, mut work_connections) = member("work");
    let down = FleetMember {
        spec: AppServerSpec {
            name: "down".to_string(),
            transport: crate::appserver::TransportSpec::WebSocket {
                url: "ws://127.0.0.1:9".to_string(),
                bearer: None,
            },
            cwd: None,
        },
        connector: Some(Arc::new(|| {
            Box::pin(async {
                Err(crate::appserver::AppServerError::Connect {
                    url: "ws://127.0.0.1:9".to_string(),
                    message: "connection refused".to_string(),
                })
            })
        })),
        opened: None,
    };
    let starting = tokio::spawn(start_fleet(config, vec![work, down]));
    let mut work = work_connections.recv().await.unwrap();
    handshake(&mut work).await;
    let bridge = starting.await.unwrap().unwrap();
    let status = bridge.status().await.unwrap();
    assert!(matches!(
        status.app_servers[0].connection,
        ConnectionState::Connected { .. }
    ));
    assert!(
        matches!(
            status.app_servers[1].connection,
            ConnectionState::Reconnecting { .. } | ConnectionState::Disconnected { .. }
        ),
        "{:?}",
        status.app_servers[1]
    );
    let session = session_on(&bridge, &mut work, None, "thread-w").await;
    assert_eq!(session.app_server, "work");

    // Without reconnecting, the bridge does not start, and says which one failed.
    let catalog = Catalog::parse(CATALOG, Path::new("/tmp/catalog.toml")).unwrap();
    let config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "ws://unused".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    let (work, mut connections) = member("work");
    let (other, _more) = member("other");
    // `work` comes up; the bridge still gives up, for `other`.
    let answering = tokio::spawn(async move {
        let mut fake = connections.recv().await.unwrap();
        handshake(&mut fake).await;
        fake
    });
    let failing = FleetMember {
        connector: Some(Arc::new(|| {
            Box::pin(async {
                Err(crate::appserver::AppServerError::Connect {
                    url: "ws://127.0.0.1:9".to_string(),
                    message: "connection refused".to_string(),
                })
            })
        })),
        ..other
    };
    let error = start_fleet(config, vec![work, failing])
        .await
        .err()
        .unwrap();
    assert!(
        error.to_string().starts_with("app-server other: "),
        "{error}"
    );
    drop(answering.await.unwrap());
}

/// Answers one app-server's `thread/loaded/list` with `ids`.
async fn loaded_list(fake: &mut FakeAppServer, ids: &[&str]) {
    fake.reply(
        "thread/loaded/list",
        json!({ "data": ids, "nextCursor": null }),
    )
    .await;
}

/// Answers `thread/read` of a thread another client started.
async fn read_thread(fake: &mut FakeAppServer, thread: &str, originator: &str) {
    let request = fake.next().await;
    assert_eq!(request["method"], "thread/read", "{request}");
    assert_eq!(request["params"]["threadId"], thread);
    fake.send(json!({ "id": request["id"], "result": { "thread": {
        "id": thread, "preview": format!("the {thread} work"), "status": { "type": "idle" },
        "originator": originator, "source": "vscode" } } }))
        .await;
}

/// Answers `thread/resume` of a loaded thread.
async fn resumed(fake: &mut FakeAppServer, thread: &str) {
    let request = fake.next().await;
    assert_eq!(request["method"], "thread/resume", "{request}");
    assert_eq!(request["params"]["threadId"], thread);
    fake.send(json!({ "id": request["id"], "result": { "thread": {
        "id": thread, "preview": "", "status": { "type": "idle" }, "turns": [] } } }))
        .await;
}

#[tokio::test]
async fn every_app_server_lists_its_loaded_threads_and_a_watch_goes_to_the_one_that_has_it() {
    let mut f = start_two(ReconnectPolicy::off()).await;
    let listing = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.loaded_threads_of_fleet().await })
    };
    // Both are asked at once; each answers in its own time.
    loaded_list(&mut f.build, &["thread-b"]).await;
    loaded_list(&mut f.work, &["thread-w"]).await;
    read_thread(&mut f.build, "thread-b", "codex_vscode").await;
    read_thread(&mut f.work, "thread-w", "codex_cli").await;
    let loaded = listing.await.unwrap().unwrap();
    let listed: Vec<_> = loaded
        .threads
        .iter()
        .map(|t| (t.app_server.as_str(), t.thread_id.as_str(), t.started_by()))
        .collect();
    assert_eq!(
        listed,
        [
            ("work", "thread-w", "codex_cli"),
            ("build", "thread-b", "codex_vscode")
        ]
    );
    assert!(loaded.unreachable.is_empty());

    // Watched without a name: the bridge finds the app-server that has it loaded.
    let watching = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.watch_thread("thread-b").await })
    };
    loaded_list(&mut f.work, &["thread-w"]).await;
    loaded_list(&mut f.build, &["thread-b"]).await;
    resumed(&mut f.build, "thread-b").await;
    let session = watching.await.unwrap().unwrap();
    assert_eq!(session.app_server, "build");
    assert_eq!(session.origin, SessionOrigin::Watched);

    // Listed again, the watched thread says it is this bridge's, on its own app-server.
    let listing = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.loaded_threads().await })
    };
    loaded_list(&mut f.work, &["thread-w"]).await;
    loaded_list(&mut f.build, &["thread-b"]).await;
    read_thread(&mut f.work, "thread-w", "codex_cli").await;
    read_thread(&mut f.build, "thread-b", "codex_vscode").await;
    let threads = listing.await.unwrap().unwrap();
    let sessions: Vec<_> = threads.iter().map(|t| t.session).collect();
    assert_eq!(sessions, [None, Some(SessionOrigin::Watched)]);
}

#[tokio::test]
async fn a_thread_loaded_on_two_app_servers_needs_the_name_and_one_loaded_nowhere_is_refused() {
    let mut f = start_two(ReconnectPolicy::off()).await;
    // Two app-servers over one CODEX_HOME can both have a thread loaded.
    let watching = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.watch_thread("thread-x").await })
    };
    loaded_list(&mut f.work, &["thread-x"]).await;
    loaded_list(&mut f.build, &["thread-x"]).await;
    let refused = watching.await.unwrap().unwrap_err();
    assert!(
        matches!(&refused, BridgeError::ThreadOnSeveral { app_servers, .. } if app_servers == &["work", "build"]),
        "{refused}"
    );
    assert!(refused.to_string().contains("name the one"), "{refused}");

    // Named, it goes there and nowhere else.
    let watching = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.watch_thread_on("thread-x", Some("build")).await })
    };
    resumed(&mut f.build, "thread-x").await;
    assert_eq!(watching.await.unwrap().unwrap().app_server, "build");

    let watching = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.watch_thread("thread-gone").await })
    };
    loaded_list(&mut f.work, &[]).await;
    loaded_list(&mut f.build, &["thread-x"]).await;
    let refused = watching.await.unwrap().unwrap_err();
    assert!(
        matches!(refused, BridgeError::ThreadNotLoaded { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("any app-server (work, build)"),
        "{refused}"
    );
    // An unknown name lists the known ones, as for a new session.
    let refused = f
        .bridge
        .watch_thread_on("thread-y", Some("nope"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("work, build"), "{refused}");
}

#[tokio::test]
async fn an_app_server_that_is_down_is_reported_while_the_others_list_their_threads() {
    let mut f = start_two(ReconnectPolicy::off()).await;
    f.build
        .to_bridge
        .send(Incoming::Closed {
            reason: "app-server exited".to_string(),
        })
        .await
        .unwrap();
    next_event(&mut f.events, |e| {
        matches!(
            e,
            BridgeEvent::Connection {
                state: ConnectionState::Disconnected { .. },
                ..
            }
        )
    })
    .await;
    let listing = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.loaded_threads_of_fleet().await })
    };
    loaded_list(&mut f.work, &["thread-w"]).await;
    read_thread(&mut f.work, "thread-w", "codex_cli").await;
    let loaded = listing.await.unwrap().unwrap();
    assert_eq!(loaded.threads.len(), 1);
    assert_eq!(loaded.threads[0].app_server, "work");
    assert_eq!(loaded.unreachable.len(), 1);
    assert_eq!(loaded.unreachable[0].app_server, "build");
    assert!(
        loaded.unreachable[0].reason.contains("exited"),
        "{:?}",
        loaded.unreachable
    );

    // Watching without a name searches the ones that answer, and says which did not.
    let watching = {
        let bridge = f.bridge.clone();
        tokio::spawn(async move { bridge.watch_thread("thread-b").await })
    };
    loaded_list(&mut f.work, &["thread-w"]).await;
    let refused = watching.await.unwrap().unwrap_err().to_string();
    assert!(
        refused.contains("(work); build did not answer"),
        "{refused}"
    );
}

#[test]
fn a_remote_faces_calls_carry_the_app_server_and_older_ones_still_parse() {
    use super::calls::BridgeCall;
    let call: BridgeCall = serde_json::from_value(json!({
        "call": "create_session", "app_server": "build" }))
    .unwrap();
    assert!(
        matches!(call, BridgeCall::CreateSession { app_server: Some(ref name), .. } if name == "build")
    );
    // A console from before fleets sends no app-server: the default, or the one that
    // has the thread loaded.
    let call: BridgeCall =
        serde_json::from_value(json!({ "call": "watch", "thread_id": "t-1" })).unwrap();
    assert_eq!(
        call,
        BridgeCall::Watch {
            thread_id: "t-1".to_string(),
            app_server: None
        }
    );
    let loaded: LoadedThreads = serde_json::from_value(json!({
        "threads": [{ "threadId": "t-1", "status": "idle", "activeFlags": [], "name": null,
            "preview": "", "cwd": null, "originator": null, "source": null,
            "startedBySwitchboard": false, "session": null, "updatedAt": null }],
        "unreachable": [] }))
    .unwrap();
    assert_eq!(loaded.threads[0].app_server, "");
}

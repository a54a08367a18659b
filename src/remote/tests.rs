//! The remote bridge against a real `service::serve` on loopback, over a bridge whose
//! app-server is a scripted stand-in on the in-memory transport (a tool call on demand,
//! its answer read back), so each step of the link is seen from both ends.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::appserver::transport::{Incoming, Outgoing, memory};
use crate::bridge::calls::BridgeCall;
use crate::bridge::{
    BridgeConfig, BridgeHandle, CreateSession, PendingCallView, RespondOutcome, Responder,
};
use crate::protocol::ToolCallResult;

const CATALOG: &str = r#"
[[tools]]
name = "manual_tool"
description = "answered by a person"
input_schema = { type = "object" }
"#;

const TOKEN: &str = "remote-test-token";

/// The app-server end of the in-memory transport.
struct FakeAppServer {
    from_bridge: mpsc::Receiver<Outgoing>,
    to_bridge: mpsc::Sender<Incoming>,
}

impl FakeAppServer {
    async fn next(&mut self) -> Value {
        let out = tokio::time::timeout(Duration::from_secs(10), self.from_bridge.recv())
            .await
            .expect("the bridge wrote nothing")
            .expect("the bridge closed the transport");
        if let Some(written) = out.written {
            let _ = written.send(Ok(()));
        }
        serde_json::from_str(&out.line).unwrap()
    }

    async fn send(&self, value: Value) {
        self.to_bridge
            .send(Incoming::Line(value.to_string()))
            .await
            .unwrap();
    }

    async fn reply(&mut self, method: &str, result: Value) {
        let request = self.next().await;
        assert_eq!(request["method"], method, "{request}");
        self.send(json!({ "id": request["id"], "result": result }))
            .await;
    }
}

struct Rig {
    bridge: BridgeHandle,
    fake: FakeAppServer,
    server: crate::service::ServerHandle,
    thread_id: String,
    /// The catalog file, which snapshots read back.
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, CATALOG).unwrap();
    let catalog = Catalog::load(&path).unwrap();
    let (raw, peer) = memory();
    let mut fake = FakeAppServer {
        from_bridge: peer.from_client,
        to_bridge: peer.to_client,
    };
    let config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "memory".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    let starting = tokio::spawn(crate::bridge::start_on(config, raw));
    fake.reply("initialize", json!({ "userAgent": "fake/0.171.0 (test)" }))
        .await;
    assert_eq!(fake.next().await["method"], "initialized");
    let bridge = starting.await.unwrap().unwrap();
    let creating = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
    };
    fake.reply(
        "thread/start",
        json!({ "thread": { "id": "thread-1", "preview": "" } }),
    )
    .await;
    let thread_id = creating.await.unwrap().unwrap().thread_id;
    let listen = "127.0.0.1:0".parse().unwrap();
    let server = crate::service::serve(
        bridge.clone(),
        crate::service::ServeConfig::new(listen, Some(TOKEN.to_string())),
    )
    .await
    .unwrap();
    Rig {
        bridge,
        fake,
        server,
        thread_id,
        _dir: dir,
    }
}

fn config(rig: &Rig, token: Option<&str>) -> RemoteConfig {
    RemoteConfig {
        url: rig.server.url(),
        token: token.map(str::to_string),
        client_name: "console tester@box".to_string(),
    }
}

async fn next_bridge_event(
    events: &mut broadcast::Receiver<LinkEvent>,
    pick: impl Fn(&BridgeEvent) -> bool,
) -> BridgeEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let LinkEvent::Bridge(event) = events.recv().await.unwrap()
                && pick(&event)
            {
                return event;
            }
        }
    })
    .await
    .expect("no such event over the link")
}

async fn tool_call(rig: &mut Rig, id: u64, call_id: &str) {
    rig.fake
        .send(json!({ "id": id, "method": "item/tool/call", "params": {
            "threadId": rig.thread_id, "turnId": "turn-1", "callId": call_id,
            "namespace": null, "tool": "manual_tool", "arguments": { "n": id } } }))
        .await;
}

#[tokio::test]
async fn a_remote_console_loads_state_sees_a_call_and_answers_it_once_credited_to_its_name() {
    let mut rig = rig().await;
    let remote = RemoteBridge::connect(config(&rig, Some(TOKEN)))
        .await
        .unwrap();
    let mut events = remote.subscribe();
    // The snapshot taken on connect: the session, no calls yet, the server's catalog.
    let loaded = remote.load().await.unwrap();
    assert_eq!(loaded.sessions.len(), 1);
    assert_eq!(loaded.sessions[0].summary.thread_id, rig.thread_id);
    assert!(loaded.pending.is_empty());
    assert!(remote.catalog().tool(None, "manual_tool").is_some());

    tool_call(&mut rig, 40, "call_1").await;
    let call = match next_bridge_event(&mut events, |e| {
        matches!(e, BridgeEvent::ToolCallRequested { .. })
    })
    .await
    {
        BridgeEvent::ToolCallRequested { call } => call,
        _ => unreachable!(),
    };
    assert_eq!(call.tool, "manual_tool");
    assert_eq!(call.arguments, json!({ "n": 40 }));

    let answer = BridgeCall::Respond {
        request_id: call.request_id.clone(),
        result: ToolCallResult::text(true, "done remotely"),
        claim_id: None,
    };
    // The answer is written (and acknowledged by the stand-in) before the reply.
    let answering = {
        let remote = remote.clone();
        let answer = answer.clone();
        tokio::spawn(async move { remote.call::<RespondOutcome>(answer).await })
    };
    let written = rig.fake.next().await;
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);
    assert_eq!(written["id"], 40);
    assert_eq!(
        written["result"]["contentItems"][0]["text"],
        "done remotely"
    );
    let resolved = match next_bridge_event(&mut events, |e| {
        matches!(e, BridgeEvent::ToolCallResolved { .. })
    })
    .await
    {
        BridgeEvent::ToolCallResolved { call } => call,
        _ => unreachable!(),
    };
    assert_eq!(
        resolved.answered_by,
        Some(Responder::Remote {
            client: "console tester@box".to_string()
        })
    );
    // A second answer finds nothing: exactly one was written.
    let again: RespondOutcome = remote.call(answer).await.unwrap();
    assert_eq!(again, RespondOutcome::NotFound);
    rig.server.shutdown().await;
    rig.bridge.shutdown().await;
}

#[tokio::test]
async fn a_call_waits_in_serve_while_no_console_is_attached_and_the_next_one_answers_it() {
    let mut rig = rig().await;
    let first = RemoteBridge::connect(config(&rig, Some(TOKEN)))
        .await
        .unwrap();
    let mut events = first.subscribe();
    tool_call(&mut rig, 41, "call_2").await;
    next_bridge_event(&mut events, |e| {
        matches!(e, BridgeEvent::ToolCallRequested { .. })
    })
    .await;
    // The console goes away (closed, or killed) with the call unanswered.
    drop(events);
    drop(first);

    let second = RemoteBridge::connect(config(&rig, Some(TOKEN)))
        .await
        .unwrap();
    let pending: Vec<PendingCallView> = second.load().await.unwrap().pending;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let answering = {
        let request_id = pending[0].request_id.clone();
        tokio::spawn(async move {
            second
                .call::<RespondOutcome>(BridgeCall::Respond {
                    request_id,
                    result: ToolCallResult::text(true, "answered after a restart"),
                    claim_id: None,
                })
                .await
        })
    };
    assert_eq!(rig.fake.next().await["id"], 41);
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);
    rig.server.shutdown().await;
    rig.bridge.shutdown().await;
}

#[tokio::test]
async fn a_bridge_error_comes_back_as_its_message() {
    let rig = rig().await;
    let remote = RemoteBridge::connect(config(&rig, Some(TOKEN)))
        .await
        .unwrap();
    let refused = remote
        .call::<String>(BridgeCall::Interrupt {
            thread_id: "no-such-thread".to_string(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, RemoteError::Bridge(message) if message.contains("no-such-thread")),
        "{refused}"
    );
    rig.server.shutdown().await;
    rig.bridge.shutdown().await;
}

#[tokio::test]
async fn a_wrong_or_missing_token_and_an_absent_server_are_told_apart() {
    let rig = rig().await;
    let wrong = RemoteBridge::connect(config(&rig, Some("wrong")))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(wrong, RemoteError::Unauthorized { status: 401, .. }),
        "{wrong}"
    );
    assert!(wrong.to_string().contains("--token"), "{wrong}");
    let missing = RemoteBridge::connect(config(&rig, None))
        .await
        .err()
        .unwrap();
    assert!(matches!(missing, RemoteError::NoToken { .. }), "{missing}");
    let addr = rig.server.addr();
    rig.server.shutdown().await;
    let gone = RemoteBridge::connect(RemoteConfig {
        url: format!("http://{addr}"),
        token: Some(TOKEN.to_string()),
        client_name: "console".to_string(),
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(gone, RemoteError::Unreachable { .. }), "{gone}");
    assert!(gone.to_string().contains("switchboard serve"), "{gone}");
    rig.bridge.shutdown().await;
}

#[test]
fn urls_are_read_as_operators_type_them() {
    assert_eq!(base_url("127.0.0.1:3001").unwrap(), "http://127.0.0.1:3001");
    assert_eq!(
        base_url("http://localhost:3001/").unwrap(),
        "http://localhost:3001"
    );
    assert_eq!(base_url("ws://box:9/api").unwrap(), "http://box:9");
    assert_eq!(
        base_url("https://hub.example").unwrap(),
        "https://hub.example"
    );
    assert_eq!(
        events_url("https://hub.example"),
        "wss://hub.example/api/switchboard/events?protocol=true"
    );
    for bad in ["", "ftp://x", "http://"] {
        let error = base_url(bad).unwrap_err();
        assert!(
            matches!(error, RemoteError::BadUrl { .. }),
            "{bad}: {error}"
        );
        assert!(error.to_string().contains("http://HOST:PORT"), "{error}");
    }
}

#[test]
fn every_bridge_event_kind_reads_back_as_it_was_sent() {
    use crate::bridge::{ConnectionState, RecoveryStep};
    let events = vec![
        BridgeEvent::Connection {
            app_server: "work".to_string(),
            transport: "stdio".to_string(),
            state: ConnectionState::Reconnecting {
                attempt: 2,
                max_attempts: 10,
                delay_ms: 1000,
                reason: "gone".to_string(),
            },
        },
        BridgeEvent::SessionRecovery {
            thread_id: "t".to_string(),
            step: RecoveryStep::Resumed {
                calls_kept: 1,
                calls_expired: 2,
            },
        },
        BridgeEvent::TurnCompleted {
            thread_id: "t".to_string(),
            turn_id: "u".to_string(),
            status: crate::protocol::TurnStatus::Completed,
            error: None,
        },
        BridgeEvent::Lagged { skipped: 3 },
    ];
    for event in events {
        let text = serde_json::to_string(&json!({ "type": "event", "event": event })).unwrap();
        match read_frame(&text).unwrap() {
            Frame::Event(read, _) => assert_eq!(*read, event),
            _ => panic!("not an event: {text}"),
        }
    }
}

//! Bridge behaviour that the real codex cannot be made to produce on demand (approvals
//! with tools disabled, junk lines, string request ids, failed writes, replays), driven
//! through the in-memory transport by a scripted stand-in for app-server.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::appserver::transport::{Incoming, Outgoing, memory};
use crate::catalog::Catalog;
use crate::protocol::ToolCallResult;

const CATALOG: &str = r#"
[[tools]]
name = "manual_tool"
description = "answered by a person"
input_schema = { type = "object", properties = { n = { type = "integer" } }, required = ["n"] }

[[tools]]
name = "fixed"
description = "answered by a static handler"
input_schema = { type = "object" }
handler = { static_text = "fixed answer" }
"#;

/// The app-server end of the in-memory transport.
struct FakeAppServer {
    from_bridge: mpsc::Receiver<Outgoing>,
    to_bridge: mpsc::Sender<Incoming>,
}

impl FakeAppServer {
    /// The next line the bridge wrote, acknowledged with `ack`.
    async fn next_acked(&mut self, ack: std::result::Result<(), String>) -> Value {
        let out = tokio::time::timeout(Duration::from_secs(10), self.from_bridge.recv())
            .await
            .expect("the bridge wrote nothing")
            .expect("the bridge closed the transport");
        if let Some(written) = out.written {
            let _ = written.send(ack);
        }
        serde_json::from_str(&out.line).unwrap()
    }

    async fn next(&mut self) -> Value {
        self.next_acked(Ok(())).await
    }

    async fn send(&self, value: Value) {
        self.to_bridge
            .send(Incoming::Line(value.to_string()))
            .await
            .unwrap();
    }

    async fn send_raw(&self, line: &str) {
        self.to_bridge
            .send(Incoming::Line(line.to_string()))
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

async fn start(policy: ManualPolicy) -> (BridgeHandle, EventReceiver, FakeAppServer, String) {
    start_catalog(CATALOG, policy).await
}

async fn start_catalog(
    catalog_text: &str,
    policy: ManualPolicy,
) -> (BridgeHandle, EventReceiver, FakeAppServer, String) {
    start_catalog_at(
        catalog_text,
        std::path::Path::new("/tmp/catalog.toml"),
        policy,
    )
    .await
}

/// [`start_catalog`] with the catalog parsed as if read from `path` (where a reload
/// reads it again).
async fn start_catalog_at(
    catalog_text: &str,
    path: &std::path::Path,
    policy: ManualPolicy,
) -> (BridgeHandle, EventReceiver, FakeAppServer, String) {
    let catalog = Catalog::parse(catalog_text, path).unwrap();
    let (raw, peer) = memory();
    let mut fake = FakeAppServer {
        from_bridge: peer.from_client,
        to_bridge: peer.to_client,
    };
    let mut config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "memory".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    config.manual_policy = policy;
    let starting = tokio::spawn(start_on(config, raw));
    fake.reply("initialize", json!({ "userAgent": "fake/0.169.0 (test)" }))
        .await;
    assert_eq!(fake.next().await["method"], "initialized");
    let bridge = starting.await.unwrap().unwrap();
    let events = bridge.subscribe();

    let creating = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
    };
    let start = fake.next().await;
    assert_eq!(start["method"], "thread/start");
    assert_eq!(start["params"]["dynamicTools"][0]["name"], "manual_tool");
    fake.send(
        json!({ "id": start["id"], "result": { "thread": { "id": "thread-1", "preview": "" } } }),
    )
    .await;
    let session = creating.await.unwrap().unwrap();
    (bridge, events, fake, session.thread_id)
}

fn tool_call(id: Value, call_id: &str, tool: &str) -> Value {
    json!({ "id": id, "method": "item/tool/call", "params": {
        "threadId": "thread-1", "turnId": "turn-1", "callId": call_id, "namespace": null,
        "tool": tool, "arguments": { "n": 1 } } })
}

async fn next_event(
    events: &mut EventReceiver,
    pick: impl Fn(&BridgeEvent) -> bool,
) -> BridgeEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.unwrap();
            if pick(&event) {
                return event;
            }
        }
    })
    .await
    .expect("no such event")
}

async fn requested(events: &mut EventReceiver) -> PendingCallView {
    match next_event(events, |e| {
        matches!(e, BridgeEvent::ToolCallRequested { .. })
    })
    .await
    {
        BridgeEvent::ToolCallRequested { call } => call,
        _ => unreachable!(),
    }
}

async fn resolved(events: &mut EventReceiver) -> ResolvedCall {
    match next_event(events, |e| {
        matches!(e, BridgeEvent::ToolCallResolved { .. })
    })
    .await
    {
        BridgeEvent::ToolCallResolved { call } => call,
        _ => unreachable!(),
    }
}

/// One of each blocking request kind, as codex 0.169/0.171 sends them (abridged).
fn blocking_requests() -> Vec<(Value, Value)> {
    let t = |extra: Value| {
        let mut params = json!({ "threadId": "thread-1", "turnId": "turn-1" });
        if let (Some(p), Value::Object(more)) = (params.as_object_mut(), extra) {
            p.extend(more);
        }
        params
    };
    vec![
        (
            json!({ "id": 5, "method": "item/commandExecution/requestApproval", "params": t(json!({
                "itemId": "call_1", "startedAtMs": 1, "command": "/bin/bash -lc 'touch x'",
                "availableDecisions": ["accept", "cancel"] })) }),
            json!({ "id": 5, "result": { "decision": "decline" } }),
        ),
        (
            json!({ "id": "6", "method": "item/fileChange/requestApproval", "params": t(json!({
                "itemId": "call_2", "startedAtMs": 1, "reason": null, "grantRoot": null })) }),
            json!({ "id": "6", "result": { "decision": "decline" } }),
        ),
        (
            json!({ "id": 7, "method": "item/permissions/requestApproval", "params": t(json!({
                "itemId": "call_3", "startedAtMs": 1, "cwd": "/w", "reason": "net",
                "permissions": { "network": { "enabled": true }, "fileSystem": null } })) }),
            json!({ "id": 7, "result": { "permissions": {}, "scope": "turn" } }),
        ),
        (
            json!({ "id": 8, "method": "item/tool/requestUserInput", "params": t(json!({
                "itemId": "call_4", "isBlocking": false, "questions": [
                    { "id": "color", "header": "Color", "question": "Which?", "options": null }] })) }),
            json!({ "id": 8, "result": { "answers": {} } }),
        ),
        (
            json!({ "id": 9, "method": "mcpServer/elicitation/request", "params": t(json!({
                "serverName": "probe", "mode": "form", "message": "Allow the probe?",
                "requestedSchema": { "type": "object", "properties": {} },
                "_meta": { "codex_approval_kind": "mcp_tool_call" } })) }),
            json!({ "id": 9, "result": { "action": "decline" } }),
        ),
        (
            json!({ "id": 10, "method": "applyPatchApproval", "params": {
                "conversationId": "thread-1", "callId": "c10", "fileChanges": {} } }),
            json!({ "id": 10, "result": { "decision": { "denied": { "rejection":
                "declined by Switchboard: no approval rule decides `applyPatchApproval` and nobody can answer it here (--approvals accept-rules-only)" } } } }),
        ),
        (
            json!({ "id": 11, "method": "execCommandApproval", "params": {
                "conversationId": "thread-1", "callId": "c11", "command": ["rm", "-rf", "x"],
                "cwd": "/w", "parsedCmd": [] } }),
            json!({ "id": 11, "result": { "decision": { "denied": { "rejection":
                "declined by Switchboard: no approval rule decides `execCommandApproval` and nobody can answer it here (--approvals accept-rules-only)" } } } }),
        ),
    ]
}

async fn opened(events: &mut EventReceiver) -> PendingRequestView {
    match next_event(events, |e| matches!(e, BridgeEvent::RequestOpened { .. })).await {
        BridgeEvent::RequestOpened { request } => request,
        _ => unreachable!(),
    }
}

async fn request_resolved(events: &mut EventReceiver) -> ResolvedRequest {
    match next_event(events, |e| matches!(e, BridgeEvent::RequestResolved { .. })).await {
        BridgeEvent::RequestResolved { request } => request,
        _ => unreachable!(),
    }
}

/// A synthetic app-server sends every blocking kind (legacy ones codex no longer sends
/// on v2 threads among them): the headless policy answers each at once with a valid
/// refusal of its kind, echoing the id with its JSON type, and says why.
#[tokio::test]
async fn the_headless_policy_declines_every_blocking_kind_with_a_valid_answer() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    for (request, answer) in blocking_requests() {
        fake.send(request.clone()).await;
        assert_eq!(fake.next().await, answer, "answer to {request}");
        let open = opened(&mut events).await;
        assert_eq!(open.method, request["method"]);
        assert_eq!(serde_json::to_value(&open.rpc_id).unwrap(), request["id"]);
        let ended = request_resolved(&mut events).await;
        assert_eq!(ended.request_id, open.request_id);
        assert_eq!(ended.status, CallEnd::Resolved);
        let Some(Responder::Policy { reason }) = &ended.answered_by else {
            panic!("{ended:?}")
        };
        assert!(reason.contains("nobody can answer"), "{reason}");
        assert_eq!(Some(&answer["result"]), ended.answer.as_ref());
    }
    assert!(bridge.pending_requests(None).await.unwrap().is_empty());
    let snapshot = bridge.session("thread-1").await.unwrap().unwrap();
    let rows = |kind: &str| {
        snapshot
            .transcript
            .iter()
            .filter(|r| serde_json::to_value(r).unwrap()["type"] == kind)
            .count()
    };
    assert_eq!(rows("request.opened"), 7);
    assert_eq!(rows("request.resolved"), 7);
}

#[tokio::test]
async fn requests_switchboard_cannot_serve_are_refused_and_shown() {
    let (_bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    for (id, method) in [
        (6, "account/chatgptAuthTokens/refresh"),
        (7, "attestation/generate"),
        (8, "currentTime/read"),
    ] {
        fake.send(json!({ "id": id, "method": method, "params": { "reason": "x" } }))
            .await;
        let refused = fake.next().await;
        assert_eq!(refused["id"], id);
        assert_eq!(refused["error"]["code"], -32601);
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains(method)
        );
        let BridgeEvent::ServerRequestRefused {
            method: shown,
            answer,
            ..
        } = next_event(&mut events, |e| {
            matches!(e, BridgeEvent::ServerRequestRefused { .. })
        })
        .await
        else {
            unreachable!()
        };
        assert_eq!(shown, method);
        assert!(answer.contains("-32601"), "{answer}");
    }
}

async fn start_asking() -> (BridgeHandle, EventReceiver, FakeAppServer, String) {
    let (raw, peer) = memory();
    let catalog = Catalog::parse(CATALOG, std::path::Path::new("/tmp/catalog.toml")).unwrap();
    let mut fake = FakeAppServer {
        from_bridge: peer.from_client,
        to_bridge: peer.to_client,
    };
    let mut config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "memory".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    config.request_policy = RequestPolicy::Ask;
    let starting = tokio::spawn(start_on(config, raw));
    fake.reply("initialize", json!({ "userAgent": "fake/0.169.0 (test)" }))
        .await;
    assert_eq!(fake.next().await["method"], "initialized");
    let bridge = starting.await.unwrap().unwrap();
    let events = bridge.subscribe();
    let creating = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
    };
    fake.reply(
        "thread/start",
        json!({ "thread": { "id": "thread-1", "preview": "" } }),
    )
    .await;
    let session = creating.await.unwrap().unwrap();
    (bridge, events, fake, session.thread_id)
}

/// With `ask`, an approval waits for a person: listed with every decision codex takes
/// (its own list first), a wrong answer refused with nothing written, exactly one answer
/// written, a second one not found.
#[tokio::test]
async fn an_approval_waits_for_a_person_and_takes_exactly_one_valid_answer() {
    let (bridge, mut events, mut fake, _) = start_asking().await;
    let (request, _) = blocking_requests().remove(0);
    fake.send(request).await;
    let open = opened(&mut events).await;
    assert_eq!(open.kind, crate::protocol::RequestKind::CommandApproval);
    assert_eq!(
        open.decisions,
        vec![
            json!("accept"),
            json!("cancel"),
            json!("acceptForSession"),
            json!("decline")
        ]
    );
    assert_eq!(
        open.summary,
        "Command approval required: /bin/bash -lc 'touch x'"
    );
    let listed = bridge.pending_requests(Some("thread-1")).await.unwrap();
    assert_eq!(listed, vec![open.clone()]);
    assert!(bridge.pending_calls(None).await.unwrap().is_empty());
    let who = Responder::Remote {
        client: "test".to_string(),
    };
    for bad in [
        json!({ "decision": "denied" }),
        json!({ "decision": "accept", "scope": "session" }),
        json!({ "answers": {} }),
    ] {
        let outcome = bridge
            .answer_request(&open.request_id, bad.clone(), who.clone())
            .await
            .unwrap();
        assert!(
            matches!(outcome, AnswerOutcome::Invalid { .. }),
            "{bad}: {outcome:?}"
        );
    }
    // A tool-call answer on the tool-call route does not find it.
    assert_eq!(
        bridge
            .respond(
                &open.request_id,
                ToolCallResult::text(true, "x"),
                who.clone()
            )
            .await
            .unwrap(),
        RespondOutcome::NotFound
    );
    let deciding = {
        let (bridge, id, who) = (bridge.clone(), open.request_id.clone(), who.clone());
        tokio::spawn(async move { bridge.decide(&id, SimpleDecision::Accept, true, who).await })
    };
    // The first line written since is the one answer: nothing invalid went out.
    assert_eq!(
        fake.next().await,
        json!({ "id": 5, "result": { "decision": "acceptForSession" } })
    );
    assert_eq!(deciding.await.unwrap().unwrap(), AnswerOutcome::Accepted);
    let ended = request_resolved(&mut events).await;
    assert_eq!(ended.decision.as_deref(), Some("acceptForSession"));
    assert_eq!(ended.answered_by, Some(who.clone()));
    assert_eq!(
        bridge
            .decide(&open.request_id, SimpleDecision::Decline, false, who)
            .await
            .unwrap(),
        AnswerOutcome::NotFound
    );
    let status = bridge.status().await.unwrap();
    assert_eq!(status.totals.answered_remotely, 1);
    assert_eq!(status.totals.pending, 0);
}

/// codex asks again about an item it already had an answer for (a command retried
/// outside the sandbox after it failed inside): a new request, not a duplicate to drop.
#[tokio::test]
async fn a_second_approval_for_the_same_item_is_a_new_request() {
    let (bridge, mut events, mut fake, _) = start_asking().await;
    let (request, _) = blocking_requests().remove(0);
    fake.send(request.clone()).await;
    let first = opened(&mut events).await;
    let deciding = {
        let (bridge, id) = (bridge.clone(), first.request_id.clone());
        tokio::spawn(async move {
            bridge
                .decide(&id, SimpleDecision::Accept, false, Responder::Operator)
                .await
        })
    };
    assert_eq!(fake.next().await["result"], json!({ "decision": "accept" }));
    assert_eq!(deciding.await.unwrap().unwrap(), AnswerOutcome::Accepted);
    let mut again = request;
    again["id"] = json!(12);
    fake.send(again).await;
    let second = opened(&mut events).await;
    assert_ne!(second.request_id, first.request_id);
    assert_eq!(bridge.pending_requests(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_thread_app_server_closes_takes_its_pending_requests_with_it() {
    let (bridge, mut events, fake, thread_id) = start_asking().await;
    let (request, _) = blocking_requests().remove(3);
    fake.send(request).await;
    let open = opened(&mut events).await;
    fake.send(json!({ "method": "thread/closed", "params": { "threadId": "thread-1" } }))
        .await;
    let ended = request_resolved(&mut events).await;
    assert_eq!(ended.request_id, open.request_id);
    assert_eq!(
        ended.reason.as_deref(),
        Some("app-server closed the thread")
    );
    let session = bridge.session(&thread_id).await.unwrap().unwrap();
    assert_eq!(session.summary.status, SessionStatus::Closed);
}

/// Each way a pending request ends without our answer ends it exactly once: app-server's
/// `serverRequest/resolved`, the end of its turn, the session's close, the connection.
#[tokio::test]
async fn pending_requests_expire_once_on_resolved_turn_end_close_and_loss() {
    let (bridge, mut events, mut fake, thread_id) = start_asking().await;
    let input = |id: i64, item: &str, turn: &str| {
        json!({ "id": id, "method": "item/tool/requestUserInput", "params": {
            "threadId": "thread-1", "turnId": turn, "itemId": item, "isBlocking": false,
            "questions": [{ "id": "color", "header": "Color", "question": "Which?" }] } })
    };
    fake.send(input(1, "a", "turn-1")).await;
    let first = opened(&mut events).await;
    // An answer naming a question that was not asked is refused.
    let outcome = bridge
        .answer_request(
            &first.request_id,
            json!({ "answers": { "size": { "answers": ["L"] } } }),
            Responder::Operator,
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, AnswerOutcome::Invalid { ref message } if message.contains("\"size\"")),
        "{outcome:?}"
    );
    fake.send(json!({ "method": "serverRequest/resolved",
        "params": { "threadId": "thread-1", "requestId": 1 } }))
        .await;
    let ended = request_resolved(&mut events).await;
    assert_eq!(ended.request_id, first.request_id);
    assert_eq!(ended.status, CallEnd::Expired);

    fake.send(input(2, "b", "turn-2")).await;
    let second = opened(&mut events).await;
    fake.send(
        json!({ "method": "turn/completed", "params": { "threadId": "thread-1",
        "turn": { "id": "turn-2", "status": "interrupted" } } }),
    )
    .await;
    let ended = request_resolved(&mut events).await;
    assert_eq!(ended.request_id, second.request_id);
    assert_eq!(ended.reason.as_deref(), Some("turn interrupted"));

    fake.send(input(3, "c", "turn-3")).await;
    let third = opened(&mut events).await;
    let closing = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.close_session(&thread_id).await })
    };
    let ended = request_resolved(&mut events).await;
    assert_eq!(ended.request_id, third.request_id);
    fake.reply("thread/unsubscribe", json!({})).await;
    closing.await.unwrap().unwrap();

    let creating = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
    };
    fake.reply(
        "thread/start",
        json!({ "thread": { "id": "thread-2", "preview": "" } }),
    )
    .await;
    creating.await.unwrap().unwrap();
    fake.send(
        json!({ "id": 4, "method": "mcpServer/elicitation/request", "params": {
        "threadId": "thread-2", "turnId": null, "serverName": "probe", "mode": "url",
        "message": "Sign in", "url": "https://example.com", "elicitationId": "e1" } }),
    )
    .await;
    let fourth = opened(&mut events).await;
    assert_eq!(fourth.turn_id, None);
    drop(fake);
    let ended = request_resolved(&mut events).await;
    assert_eq!(ended.request_id, fourth.request_id);
    assert_eq!(ended.status, CallEnd::Expired);
    let status = bridge.status().await.unwrap();
    assert_eq!(status.totals.expired, 4);
    assert_eq!(status.totals.pending, 0);
}

#[tokio::test]
async fn junk_lines_are_counted_and_the_connection_stays_up() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    fake.send_raw("this is not json").await;
    fake.send_raw("{\"neither\": \"id nor method\"}").await;
    fake.send(json!({ "method": "some/futureNotification", "params": { "x": 1 } }))
        .await;
    fake.send(tool_call(json!(0), "c1", "fixed")).await;
    // The static handler answers; the answer proves the bridge kept reading.
    assert_eq!(
        fake.next().await,
        json!({ "id": 0, "result": { "contentItems": [{ "type": "inputText", "text": "fixed answer" }], "success": true } })
    );
    let ended = resolved(&mut events).await;
    assert_eq!(
        ended.answered_by,
        Some(Responder::Handler {
            name: "fixed".to_string()
        })
    );
    let status = bridge.status().await.unwrap();
    assert_eq!(status.junk_lines, 2);
    assert!(matches!(
        status.connection,
        ConnectionState::Connected { .. }
    ));
}

#[tokio::test]
async fn request_ids_are_echoed_with_their_json_type() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!("7"), "c1", "manual_tool")).await;
    let call = requested(&mut events).await;
    assert_eq!(call.answerer, Answerer::Person);
    let answering = {
        let bridge = bridge.clone();
        let id = call.request_id.clone();
        tokio::spawn(async move {
            bridge
                .respond(&id, ToolCallResult::text(true, "ok"), Responder::Operator)
                .await
        })
    };
    let answer = fake.next().await;
    assert_eq!(answer["id"], json!("7"), "a string id must stay a string");
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);
}

#[tokio::test]
async fn a_failed_write_leaves_the_call_pending_and_answerable() {
    let (bridge, mut events, mut fake, thread) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(3), "c1", "manual_tool")).await;
    let call = requested(&mut events).await;
    let first = {
        let bridge = bridge.clone();
        let id = call.request_id.clone();
        tokio::spawn(async move {
            bridge
                .respond(&id, ToolCallResult::text(true, "a"), Responder::Operator)
                .await
        })
    };
    fake.next_acked(Err("broken pipe".to_string())).await;
    let outcome = first.await.unwrap().unwrap();
    assert!(
        matches!(&outcome, RespondOutcome::UpstreamError { message } if message.contains("broken pipe")),
        "{outcome:?}"
    );
    let listed = bridge.pending_calls(Some(&thread)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].in_flight);

    let second = {
        let bridge = bridge.clone();
        let id = call.request_id.clone();
        tokio::spawn(async move {
            bridge
                .respond(&id, ToolCallResult::text(true, "b"), Responder::Operator)
                .await
        })
    };
    assert_eq!(fake.next().await["result"]["contentItems"][0]["text"], "b");
    assert_eq!(second.await.unwrap().unwrap(), RespondOutcome::Accepted);
    assert!(bridge.pending_calls(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_replayed_call_keeps_its_request_id_and_takes_the_new_rpc_id() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(1), "c1", "manual_tool")).await;
    let call = requested(&mut events).await;
    // app-server re-sends a pending call with the same call id after a resume.
    fake.send(tool_call(json!(9), "c1", "manual_tool")).await;
    let listed = bridge.pending_calls(None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].request_id, call.request_id);
    let answering = {
        let bridge = bridge.clone();
        let id = call.request_id.clone();
        tokio::spawn(async move {
            bridge
                .respond(&id, ToolCallResult::text(true, "ok"), Responder::Operator)
                .await
        })
    };
    assert_eq!(fake.next().await["id"], 9);
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);
}

#[tokio::test]
async fn calls_expire_when_their_item_or_turn_ends_without_an_answer() {
    let (bridge, mut events, fake, _) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(1), "c1", "manual_tool")).await;
    fake.send(tool_call(json!(2), "c2", "manual_tool")).await;
    let first = requested(&mut events).await;
    let _second = requested(&mut events).await;
    fake.send(json!({ "method": "item/completed", "params": { "threadId": "thread-1", "turnId": "turn-1",
        "item": { "type": "dynamicToolCall", "id": "c1", "tool": "manual_tool", "status": "completed",
                  "success": true, "contentItems": [] } } }))
        .await;
    let ended = resolved(&mut events).await;
    assert_eq!(
        (ended.request_id.as_str(), ended.status),
        (first.request_id.as_str(), CallEnd::Expired)
    );
    assert!(ended.reason.unwrap().contains("without our answer"));

    fake.send(
        json!({ "method": "turn/completed", "params": { "threadId": "thread-1",
        "turn": { "id": "turn-1", "status": "interrupted", "error": null } } }),
    )
    .await;
    let ended = resolved(&mut events).await;
    assert_eq!(ended.status, CallEnd::Expired);
    assert_eq!(ended.reason.as_deref(), Some("turn interrupted"));
    assert!(bridge.pending_calls(None).await.unwrap().is_empty());
    let totals = bridge.status().await.unwrap().totals;
    assert_eq!(totals.expired, 2);
}

#[tokio::test]
async fn unknown_tools_and_headless_manual_calls_are_refused_with_a_reason() {
    let (_bridge, mut events, mut fake, _) = start(ManualPolicy::Fail {
        message: "nobody for {tool}".to_string(),
    })
    .await;
    fake.send(tool_call(json!(1), "c1", "not_in_catalog")).await;
    let answer = fake.next().await;
    assert_eq!(answer["result"]["success"], false);
    assert_eq!(
        answer["result"]["contentItems"][0]["text"],
        "no handler registered for not_in_catalog"
    );
    fake.send(tool_call(json!(2), "c2", "manual_tool")).await;
    let answer = fake.next().await;
    assert_eq!(
        answer["result"]["contentItems"][0]["text"],
        "nobody for manual_tool"
    );
    let first = resolved(&mut events).await;
    assert!(matches!(first.answered_by, Some(Responder::Policy { .. })));
}

#[tokio::test]
async fn schema_problems_are_flagged_on_the_pending_call() {
    let (_bridge, mut events, fake, _) = start(ManualPolicy::Wait).await;
    fake.send(json!({ "id": 1, "method": "item/tool/call", "params": {
        "threadId": "thread-1", "turnId": "turn-1", "callId": "c1", "tool": "manual_tool",
        "arguments": { "n": "not a number" } } }))
        .await;
    let call = requested(&mut events).await;
    assert_eq!(call.schema_problems.len(), 1, "{:?}", call.schema_problems);
    assert!(
        call.schema_problems[0].contains("n"),
        "{:?}",
        call.schema_problems
    );
}

#[tokio::test]
async fn losing_the_connection_expires_every_call_and_fails_turn_waiters() {
    let (bridge, mut events, fake, thread) = start(ManualPolicy::Wait).await;
    fake.send(
        json!({ "method": "turn/started", "params": { "threadId": "thread-1",
        "turn": { "id": "turn-1", "status": "inProgress" } } }),
    )
    .await;
    fake.send(tool_call(json!(1), "c1", "manual_tool")).await;
    requested(&mut events).await;
    let waiting = {
        let bridge = bridge.clone();
        let thread = thread.clone();
        tokio::spawn(async move { bridge.wait_turn(&thread, "turn-1").await })
    };
    fake.to_bridge
        .send(Incoming::Closed {
            reason: "app-server exited (killed by signal 9)".to_string(),
        })
        .await
        .unwrap();
    let ended = resolved(&mut events).await;
    assert_eq!(ended.status, CallEnd::Expired);
    assert!(ended.reason.unwrap().contains("app-server exited"));
    let waited = waiting.await.unwrap();
    assert!(
        matches!(waited, Err(BridgeError::Disconnected { .. })),
        "{waited:?}"
    );
    let sessions = bridge.sessions().await.unwrap();
    assert_eq!(sessions[0].status, SessionStatus::Disconnected);
}

#[tokio::test]
async fn held_handlers_propose_and_a_person_sends() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    let hold = bridge
        .set_hold(HoldChange::Tool {
            tool: "fixed".to_string(),
            held: true,
        })
        .await
        .unwrap();
    assert!(hold.holds("fixed") && !hold.holds("manual_tool"));
    fake.send(tool_call(json!(1), "c1", "fixed")).await;
    let call = requested(&mut events).await;
    assert_eq!(
        call.answerer,
        Answerer::Review {
            name: "fixed".to_string()
        }
    );
    let proposed = match next_event(&mut events, |e| {
        matches!(e, BridgeEvent::ToolCallProposed { .. })
    })
    .await
    {
        BridgeEvent::ToolCallProposed { call } => call,
        _ => unreachable!(),
    };
    assert_eq!(
        proposed.proposed,
        Some(ToolCallResult::text(true, "fixed answer"))
    );
    // Nothing was written while the proposal waits for review.
    assert!(fake.from_bridge.try_recv().is_err());
    let status = bridge.status().await.unwrap();
    assert_eq!(status.totals.waiting_on_person, 1);

    // Running the handler on demand returns its answer without sending it.
    let outcome = bridge.run_handler(&call.request_id).await.unwrap();
    assert_eq!(outcome.result, ToolCallResult::text(true, "fixed answer"));
    assert!(fake.from_bridge.try_recv().is_err());

    let sending = {
        let bridge = bridge.clone();
        let id = call.request_id.clone();
        tokio::spawn(async move {
            bridge
                .respond(
                    &id,
                    ToolCallResult::text(true, "edited"),
                    Responder::Operator,
                )
                .await
        })
    };
    assert_eq!(
        fake.next().await["result"]["contentItems"][0]["text"],
        "edited"
    );
    assert_eq!(sending.await.unwrap().unwrap(), RespondOutcome::Accepted);
    let ended = resolved(&mut events).await;
    assert_eq!(ended.answered_by, Some(Responder::Operator));
    assert_eq!(bridge.status().await.unwrap().totals.answered_by_hand, 1);
}

#[tokio::test]
async fn running_a_handler_needs_a_live_call_with_a_handler() {
    let (bridge, mut events, fake, _) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(1), "c1", "manual_tool")).await;
    let call = requested(&mut events).await;
    let err = bridge.run_handler(&call.request_id).await.unwrap_err();
    assert!(
        matches!(err, BridgeError::NoHandler { ref tool } if tool == "manual_tool"),
        "{err}"
    );
    let err = bridge.run_handler("no-such-call").await.unwrap_err();
    assert!(matches!(err, BridgeError::CallEnded { .. }), "{err}");
}

/// The synthetic app-server (benchmarks and fault injection only) drives a whole turn
/// through the bridge and reports every call answered once.
#[tokio::test]
async fn the_synthetic_app_server_floods_a_turn_through_the_bridge() {
    use crate::lab::synthetic::{self, REPORT_METHOD, SyntheticConfig, SyntheticReport};
    let catalog = Catalog::parse(CATALOG, std::path::Path::new("/tmp/catalog.toml")).unwrap();
    let config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "memory".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    let raw = synthetic::spawn_memory(SyntheticConfig {
        tool: "fixed".to_string(),
        ..SyntheticConfig::default()
    });
    let bridge = start_on(config, raw).await.unwrap();
    let mut events = bridge.subscribe();
    let session = bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    bridge
        .send_message(
            &session.thread_id,
            &json!({"callsPerTurn": 500, "concurrency": 8}).to_string(),
        )
        .await
        .unwrap();
    let report = match next_event(&mut events, |e| {
        matches!(e, BridgeEvent::AppServerNotification { method, .. } if method == REPORT_METHOD)
    })
    .await
    {
        BridgeEvent::AppServerNotification { params, .. } => <SyntheticReport as serde::Deserialize>::deserialize(&*params).unwrap(),
        _ => unreachable!(),
    };
    assert_eq!(
        (report.calls, report.answered, report.failed_answers),
        (500, 500, 0)
    );
    assert_eq!(report.latencies_us.len(), 500);
    let status = bridge.status().await.unwrap();
    assert_eq!(status.totals.answered_automatically, 500);
    assert!(bridge.pending_calls(None).await.unwrap().is_empty());
}

#[path = "recovery_tests.rs"]
mod recovery;

#[path = "fleet_tests.rs"]
mod fleet;

#[tokio::test]
async fn a_call_that_ends_stops_its_running_handler() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let catalog = format!(
        r#"
[[tools]]
name = "manual_tool"
description = "declared so the session starts"
input_schema = {{ type = "object" }}

[[tools]]
name = "slow"
description = "a handler that outlives its call"
input_schema = {{ type = "object" }}
handler = {{ command = ["sh", "-c", "echo $$ > {}; exec sleep 60"], timeout_ms = 120000 }}
"#,
        pid_file.display()
    );
    let (bridge, mut events, fake, _) = start_catalog(&catalog, ManualPolicy::Wait).await;
    fake.send(tool_call(json!(1), "c1", "slow")).await;
    requested(&mut events).await;
    // Wait (bounded) for the handler to write its pid: it is running now.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the handler never started"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    fake.send(
        json!({ "method": "turn/completed", "params": { "threadId": "thread-1",
        "turn": { "id": "turn-1", "status": "interrupted", "error": null } } }),
    )
    .await;
    let ended = resolved(&mut events).await;
    assert_eq!(ended.status, CallEnd::Expired);
    // Expiry aborts the run, which kills the handler's process group.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "handler {pid} still runs after its call ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(bridge.pending_calls(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn subscribers_see_the_stream_end_when_the_bridge_stops() {
    let (bridge, mut events, _fake, _) = start(ManualPolicy::Wait).await;
    bridge.shutdown().await;
    // The handle is still held, yet the stream ends instead of waiting forever.
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while events.recv().await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the event stream did not end");
    assert!(bridge.subscribe().recv().await.is_none());
}

#[tokio::test]
async fn a_started_turn_shows_the_session_running() {
    let (bridge, mut events, fake, thread_id) = start(ManualPolicy::Wait).await;
    fake.send(
        json!({ "method": "turn/started", "params": { "threadId": "thread-1",
        "turn": { "id": "turn-1", "status": "inProgress", "error": null } } }),
    )
    .await;
    let updated = next_event(&mut events, |e| {
        matches!(e, BridgeEvent::SessionUpdated { session } if session.status == SessionStatus::Running)
    })
    .await;
    let BridgeEvent::SessionUpdated { session } = updated else {
        unreachable!()
    };
    assert_eq!(session.thread_id, thread_id);
    assert_eq!(session.active_turn_id.as_deref(), Some("turn-1"));
    // app-server's own status change that follows is no news, and the bridge agrees.
    let listed = bridge.sessions().await.unwrap();
    assert_eq!(listed[0].status, SessionStatus::Running);
}

/// Issue 14: the name, the token usage, the rate limits and what the session is doing
/// come from app-server's notifications as events, and the summary keeps them.
#[tokio::test]
async fn names_tokens_rate_limits_and_activity_become_events() {
    let (bridge, mut events, mut fake, thread) = start(ManualPolicy::Wait).await;
    fake.send(
        json!({ "method": "turn/started", "params": { "threadId": "thread-1",
        "turn": { "id": "turn-1", "status": "inProgress" } } }),
    )
    .await;
    let thinking = next_event(&mut events, |e| {
        matches!(e, BridgeEvent::SessionActivity { .. })
    })
    .await;
    assert_eq!(
        thinking,
        BridgeEvent::SessionActivity {
            thread_id: thread.clone(),
            activity: Some("thinking".to_string())
        }
    );
    fake.send(
        json!({ "method": "item/started", "params": { "threadId": "thread-1",
        "turnId": "turn-1", "item": { "type": "commandExecution", "id": "cmd-1",
        "command": "cargo test", "cwd": "/work", "status": "inProgress" } } }),
    )
    .await;
    let running = next_event(&mut events, |e| {
        matches!(e, BridgeEvent::SessionActivity { .. })
    })
    .await;
    assert_eq!(
        running,
        BridgeEvent::SessionActivity {
            thread_id: thread.clone(),
            activity: Some("running `cargo test`".to_string())
        }
    );
    fake.send(json!({ "method": "thread/tokenUsage/updated", "params": {
        "threadId": "thread-1", "turnId": "turn-1", "tokenUsage": {
        "total": { "totalTokens": 40, "inputTokens": 30, "cachedInputTokens": 0,
            "outputTokens": 10, "reasoningOutputTokens": 0 },
        "last": { "totalTokens": 20, "inputTokens": 15, "cachedInputTokens": 0,
            "outputTokens": 5, "reasoningOutputTokens": 0 },
        "modelContextWindow": 258400 } } }))
        .await;
    let BridgeEvent::TokenUsage { usage, .. } =
        next_event(&mut events, |e| matches!(e, BridgeEvent::TokenUsage { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(usage.total.total_tokens, 40);
    assert_eq!(usage.model_context_window, Some(258_400));
    // Rate limits are sparse: a null window keeps the one known before.
    fake.send(
        json!({ "method": "account/rateLimits/updated", "params": { "rateLimits": {
        "limitId": "codex", "primary": { "usedPercent": 12, "windowDurationMins": 300 } } } }),
    )
    .await;
    next_event(&mut events, |e| matches!(e, BridgeEvent::RateLimits { .. })).await;
    fake.send(
        json!({ "method": "account/rateLimits/updated", "params": { "rateLimits": {
        "limitId": "codex", "primary": null, "secondary": { "usedPercent": 3 } } } }),
    )
    .await;
    let BridgeEvent::RateLimits { rate_limits } =
        next_event(&mut events, |e| matches!(e, BridgeEvent::RateLimits { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(rate_limits["primary"]["usedPercent"], 12);
    assert_eq!(rate_limits["secondary"]["usedPercent"], 3);
    fake.send(json!({ "method": "thread/name/updated", "params": {
        "threadId": "thread-1", "threadName": "nightly triage" } }))
        .await;
    let BridgeEvent::SessionUpdated { session } = next_event(&mut events, |e| {
        matches!(e, BridgeEvent::SessionUpdated { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(session.name.as_deref(), Some("nightly triage"));
    assert_eq!(session.title, "nightly triage");
    assert_eq!(session.activity.as_deref(), Some("running `cargo test`"));
    assert_eq!(session.token_usage.map(|u| u.total.total_tokens), Some(40));
    assert!(session.turn_started_at_ms.is_some());
    let status = bridge.status().await.unwrap();
    assert_eq!(status.rate_limits.unwrap()["primary"]["usedPercent"], 12);

    // Renaming asks app-server, and the name is kept at once.
    let renaming = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.rename_session("thread-1", "  refunds  ").await })
    };
    let set = fake.next().await;
    assert_eq!(set["method"], "thread/name/set");
    assert_eq!(
        set["params"],
        json!({ "threadId": "thread-1", "name": "refunds" })
    );
    fake.send(json!({ "id": set["id"], "result": {} })).await;
    renaming.await.unwrap().unwrap();
    let summary = bridge.sessions().await.unwrap().remove(0);
    assert_eq!(summary.title, "refunds");

    // The turn ends: nothing is being done any more.
    fake.send(
        json!({ "method": "turn/completed", "params": { "threadId": "thread-1",
        "turn": { "id": "turn-1", "status": "completed" } } }),
    )
    .await;
    next_event(&mut events, |e| {
        matches!(e, BridgeEvent::TurnCompleted { .. })
    })
    .await;
    let summary = bridge.sessions().await.unwrap().remove(0);
    assert_eq!(summary.activity, None);
    assert_eq!(summary.turn_started_at_ms, None);
}

#[path = "claims_tests.rs"]
mod claims;
#[path = "evict_tests.rs"]
mod evict;
#[path = "reload_tests.rs"]
mod reload;
async fn claim_event(events: &mut EventReceiver) -> (ClaimChange, CallClaim, PendingCallView) {
    match next_event(events, |e| matches!(e, BridgeEvent::ToolCallClaim { .. })).await {
        BridgeEvent::ToolCallClaim {
            call,
            change,
            claim,
        } => (change, claim, call),
        _ => unreachable!(),
    }
}

fn claimed(outcome: ClaimOutcome) -> CallClaim {
    match outcome {
        ClaimOutcome::Claimed { claim, .. } => claim,
        other => panic!("not claimed: {other:?}"),
    }
}

fn text_answer(text: &str) -> ToolCallResult {
    ToolCallResult::text(true, text)
}

/// Answers and reads what the bridge wrote (acknowledging it while the answer waits, as
/// paused time would otherwise time the write out).
async fn answer_written(
    bridge: &BridgeHandle,
    fake: &mut FakeAppServer,
    request_id: &str,
    text: &str,
    claim_id: Option<&str>,
) -> Value {
    let answering = {
        let (bridge, id, text) = (bridge.clone(), request_id.to_string(), text.to_string());
        let claim_id = claim_id.map(str::to_string);
        tokio::spawn(async move {
            bridge
                .respond_claimed(
                    &id,
                    text_answer(&text),
                    Responder::Operator,
                    claim_id.as_deref(),
                )
                .await
        })
    };
    let written = fake.next().await;
    assert_eq!(answering.await.unwrap().unwrap(), RespondOutcome::Accepted);
    written
}

/// (Paused time.) While a worker's lease runs only its answer is taken; a renewal
/// keeps the call past the first lease; a lease that runs out frees it once, for the
/// next worker, whose answer is written exactly once.
#[tokio::test(start_paused = true)]
async fn a_claimed_call_takes_only_its_holders_answer_until_the_lease_runs_out() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(1), "call-1", "manual_tool"))
        .await;
    let id = requested(&mut events).await.request_id;
    let lease = Duration::from_secs(3);
    let first = claimed(bridge.claim_call(&id, "w1", lease, None).await.unwrap());
    assert_eq!(first.holder, "w1");
    let (change, _, view) = claim_event(&mut events).await;
    assert_eq!(change, ClaimChange::Claimed);
    assert_eq!(view.claim.as_ref(), Some(&first));
    // Another worker, anyone without the claim id, and the generic answer route are refused.
    assert_eq!(
        bridge.claim_call(&id, "w2", lease, None).await.unwrap(),
        ClaimOutcome::Held {
            claim: first.clone()
        }
    );
    let refused = RespondOutcome::Claimed {
        claim: first.clone(),
    };
    let remote = || Responder::Remote {
        client: "test".to_string(),
    };
    assert_eq!(
        bridge
            .respond(&id, text_answer("x"), remote())
            .await
            .unwrap(),
        refused
    );
    assert_eq!(
        bridge
            .respond_claimed(&id, text_answer("x"), remote(), Some("not-the-claim"))
            .await
            .unwrap(),
        refused
    );
    let generic = bridge
        .answer_request(&id, json!({"contentItems": [], "success": true}), remote())
        .await
        .unwrap();
    assert_eq!(
        generic,
        AnswerOutcome::Claimed {
            claim: first.clone()
        }
    );
    let listed = bridge.pending_calls(None).await.unwrap();
    assert_eq!(listed[0].claim.as_ref(), Some(&first));

    // Renewed at 2 s: the first lease's end (3 s) passes and w1 still holds it.
    tokio::time::advance(Duration::from_secs(2)).await;
    match bridge
        .claim_call(&id, "w1", lease, Some(&first.claim_id))
        .await
        .unwrap()
    {
        ClaimOutcome::Claimed { claim, renewed, .. } => {
            assert!(renewed);
            assert_eq!(claim.claim_id, first.claim_id);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(claim_event(&mut events).await.0, ClaimChange::Renewed);
    tokio::time::advance(Duration::from_millis(2_500)).await;
    assert!(matches!(
        bridge.claim_call(&id, "w2", lease, None).await.unwrap(),
        ClaimOutcome::Held { .. }
    ));

    // The renewed lease ends at 5 s without an answer (w1 died): freed, once.
    tokio::time::advance(Duration::from_secs(1)).await;
    let (change, ended, view) = claim_event(&mut events).await;
    assert_eq!(
        (change, ended.holder.as_str()),
        (ClaimChange::Expired, "w1")
    );
    assert_eq!(view.claim, None);
    assert_eq!(bridge.pending_calls(None).await.unwrap()[0].claim, None);
    let second = claimed(bridge.claim_call(&id, "w2", lease, None).await.unwrap());
    assert_ne!(second.claim_id, first.claim_id);
    // The next claim event is w2's: the expiry was reported once.
    assert_eq!(claim_event(&mut events).await.0, ClaimChange::Claimed);
    // w1 comes back with its old claim: refused, w2 holds it.
    assert_eq!(
        bridge
            .respond_claimed(&id, text_answer("late"), remote(), Some(&first.claim_id))
            .await
            .unwrap(),
        RespondOutcome::Claimed {
            claim: second.clone()
        }
    );
    let answer = answer_written(&bridge, &mut fake, &id, "by w2", Some(&second.claim_id)).await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["contentItems"][0]["text"], "by w2");
    assert_eq!(resolved(&mut events).await.request_id, id);
    // Its claim ended with it: the lease's end reports nothing.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        bridge.claim_call(&id, "w3", lease, None).await.unwrap(),
        ClaimOutcome::NotFound
    );
}

/// (Paused time.) Release gives the call back to anyone; only the holder releases; an
/// expiry report for a claim that was renewed or replaced changes nothing; a call nobody
/// claimed takes any answer (codex-manager's SDK), and one with a claim id of a claim
/// that is gone is still the first answer.
#[tokio::test(start_paused = true)]
async fn release_frees_a_call_and_a_stale_expiry_is_ignored() {
    let (bridge, mut events, mut fake, _) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(1), "call-1", "manual_tool"))
        .await;
    let id = requested(&mut events).await.request_id;
    let lease = Duration::from_secs(5);
    let claim = claimed(bridge.claim_call(&id, "w1", lease, None).await.unwrap());
    assert_eq!(
        bridge.release_claim(&id, "someone-else").await.unwrap(),
        ReleaseOutcome::Held {
            claim: claim.clone()
        }
    );
    // A stale report (its lease was renewed meanwhile) is a no-op.
    tokio::time::advance(Duration::from_secs(1)).await;
    claimed(
        bridge
            .claim_call(&id, "w1", lease, Some(&claim.claim_id))
            .await
            .unwrap(),
    );
    bridge
        .commands
        .send(Command::Internal(actor::Internal::ClaimExpired {
            request_id: id.clone(),
            claim_id: claim.claim_id.clone(),
        }))
        .await
        .unwrap();
    assert!(bridge.pending_calls(None).await.unwrap()[0].claim.is_some());
    assert!(matches!(
        bridge.release_claim(&id, &claim.claim_id).await.unwrap(),
        ReleaseOutcome::Released { .. }
    ));
    let changes: Vec<ClaimChange> = [
        claim_event(&mut events).await.0,
        claim_event(&mut events).await.0,
        claim_event(&mut events).await.0,
    ]
    .to_vec();
    assert_eq!(
        changes,
        [
            ClaimChange::Claimed,
            ClaimChange::Renewed,
            ClaimChange::Released
        ]
    );
    assert_eq!(
        bridge.release_claim(&id, &claim.claim_id).await.unwrap(),
        ReleaseOutcome::NotClaimed
    );
    let written = answer_written(&bridge, &mut fake, &id, "sdk", Some(&claim.claim_id)).await;
    assert_eq!(written["result"]["contentItems"][0]["text"], "sdk");
    // A second call, never claimed, takes a plain answer.
    fake.send(tool_call(json!(2), "call-2", "manual_tool"))
        .await;
    let id = requested(&mut events).await.request_id;
    let written = answer_written(&bridge, &mut fake, &id, "plain", None).await;
    assert_eq!(written["id"], 2);
}

/// Live rows: a command streaming a thousand lines at once reaches subscribers as two
/// row updates (the first line at once, the rest at the next 100 ms tick), then its end.
#[tokio::test(start_paused = true)]
async fn a_streaming_command_reaches_subscribers_at_most_every_100_ms() {
    let (bridge, mut events, fake, thread) = start(ManualPolicy::Wait).await;
    let item = json!({"type": "commandExecution", "id": "cmd-1", "command": "make", "cwd": "/w",
        "status": "inProgress", "commandActions": []});
    let delta = |text: &str| {
        json!({"method": "item/commandExecution/outputDelta", "params": {"threadId": "thread-1",
            "turnId": "turn-1", "itemId": "cmd-1", "delta": text}})
    };
    fake.send(
        json!({"method": "item/started", "params": {"threadId": "thread-1",
        "turnId": "turn-1", "item": item}}),
    )
    .await;
    let started = next_event(&mut events, |e| {
        matches!(e, BridgeEvent::TranscriptAppended { row, .. } if matches!(row.entry, TranscriptEntry::Item(_)))
    })
    .await;
    let BridgeEvent::TranscriptAppended { row: started, .. } = started else {
        unreachable!()
    };
    let updated = |e: &BridgeEvent| matches!(e, BridgeEvent::TranscriptRowUpdated { .. });
    let output = |e: BridgeEvent| match e {
        BridgeEvent::TranscriptRowUpdated { row, .. } => match row.entry {
            TranscriptEntry::Item(items::ItemRow::Command {
                output,
                output_lines,
                status,
                ..
            }) => (row.seq, output, output_lines, status),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let t0 = tokio::time::Instant::now();
    fake.send(delta("line 0\n")).await;
    let (seq, first, lines, status) = output(next_event(&mut events, updated).await);
    assert_eq!(
        (seq, first.as_str(), lines, status.as_str()),
        (started.seq, "line 0\n", 1, "inProgress")
    );
    for n in 1..1_000 {
        fake.send(delta(&format!("line {n}\n"))).await;
    }
    let (seq, _, lines, _) = output(next_event(&mut events, updated).await);
    assert_eq!(
        (seq, lines),
        (started.seq, 1_000),
        "the other 999 lines in one update"
    );
    assert!(t0.elapsed() >= items::FLUSH_EVERY);
    let mut done = item.clone();
    done["status"] = json!("completed");
    done["exitCode"] = json!(0);
    fake.send(
        json!({"method": "item/completed", "params": {"threadId": "thread-1",
        "turnId": "turn-1", "item": done}}),
    )
    .await;
    let (seq, last, lines, status) = output(next_event(&mut events, updated).await);
    assert_eq!(
        (seq, lines, status.as_str()),
        (started.seq, 1_000, "completed")
    );
    assert!(last.ends_with("line 999\n"));
    // Memory has one row for it, as it ended.
    let snapshot = bridge.session(&thread).await.unwrap().unwrap();
    let commands = snapshot
        .transcript
        .iter()
        .filter(|r| matches!(r.entry, TranscriptEntry::Item(_)))
        .count();
    assert_eq!(commands, 1);
}

/// Every server request reaches the consumers raw (`AppServerRequest`, for the API's
/// `server_request` frames) after the events that make it answerable or say how it was
/// refused, with app-server's id in its JSON type; every notification raw too, the
/// unreadable ones still with their thread.
#[tokio::test]
async fn server_requests_and_notifications_reach_consumers_raw() {
    let (_bridge, mut events, fake, thread) = start(ManualPolicy::Wait).await;
    fake.send(tool_call(json!(41), "call_raw", "manual_tool"))
        .await;
    fake.send(
        json!({ "id": "s-42", "method": "attestation/generate", "params": { "threadId": thread } }),
    )
    .await;
    let mut seen = Vec::new();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while raw.len() < 2 {
            let event = events.recv().await.unwrap();
            match &event {
                BridgeEvent::ToolCallRequested { .. } => seen.push("requested"),
                BridgeEvent::ServerRequestRefused { .. } => seen.push("refused"),
                BridgeEvent::AppServerRequest { .. } => {
                    seen.push("raw");
                    raw.push(event);
                }
                _ => {}
            }
        }
    })
    .await
    .expect("no raw server request");
    assert_eq!(seen, ["requested", "raw", "refused", "raw"]);
    let BridgeEvent::AppServerRequest {
        thread_id,
        id,
        method,
        params,
    } = &raw[0]
    else {
        unreachable!()
    };
    assert_eq!(thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(id, &crate::protocol::RequestId::Integer(41));
    assert_eq!(method, "item/tool/call");
    assert_eq!(params["callId"], "call_raw");
    assert_eq!(params["arguments"], json!({ "n": 1 }));
    let BridgeEvent::AppServerRequest { id, method, .. } = &raw[1] else {
        unreachable!()
    };
    assert_eq!(id, &crate::protocol::RequestId::String("s-42".into()));
    assert_eq!(method, "attestation/generate");

    // A notification the bridge cannot read is still its thread's.
    fake.send(json!({ "method": "item/completed", "params": { "threadId": thread, "item": 7 } }))
        .await;
    let BridgeEvent::AppServerNotification {
        thread_id, params, ..
    } = next_event(&mut events, |e| {
        matches!(e, BridgeEvent::AppServerNotification { method, .. } if method == "item/completed")
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(params["item"], 7);
}

//! The HTTP and websocket API over the real codex app-server and the scripted model:
//! every route and status code, expiry, concurrent answers, auth, and event order.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard::service::{self, ServeConfig, ServiceError};

use super::api_support::{
    ApiHarness, FakeAppServer, TOKEN, fake_bridge, frames_until, json_reply, next_frame,
    next_reply, send_command, tool_decl,
};

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Starts a turn that calls `tool` and returns (turn id, the pending-call record).
async fn raise_call(
    h: &ApiHarness,
    sid: &str,
    tool: &str,
    socket: &mut super::api_support::Socket,
) -> (String, Value) {
    let sent = h
        .post(
            &format!("/api/sessions/{sid}/messages"),
            json!({ "text": format!("please call:{tool}") }),
        )
        .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let turn_id = text(&sent.body["turnId"]).to_string();
    let frames = frames_until(socket, "tool_call_requested").await;
    let record = frames.last().unwrap()["payload"].clone();
    assert_eq!(record["turnId"], turn_id.as_str());
    (turn_id, record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_status_codes_through_a_whole_session() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let sid = h.create_session("lookup_ticket").await;
    let mut socket = h.socket(&format!("?threadId={sid}")).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!({ "type": "ready", "threadId": sid })
    );

    let list = h.get("/api/sessions").await;
    assert_eq!(list.status, 200);
    let listed = list.body["data"].as_array().unwrap();
    let info = listed
        .iter()
        .find(|s| s["sessionId"] == sid.as_str())
        .unwrap();
    assert_eq!(info["tools"], json!(["lookup_ticket"]));
    assert_eq!(
        info["cwd"],
        std::env::current_dir().unwrap().display().to_string()
    );
    for key in [
        "title",
        "materialized",
        "modelProvider",
        "approvalPolicy",
        "sessionControls",
        "createdAt",
        "updatedAt",
        "source",
        "projectId",
    ] {
        assert!(
            info.get(key).is_some(),
            "session summary lacks {key}: {info}"
        );
    }

    // The same catalog again is accepted; a different one, or no text, is not.
    let messages = format!("/api/sessions/{sid}/messages");
    let refused = h
        .post(
            &messages,
            json!({ "text": "x", "dynamicTools": [tool_decl("other")] }),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["code"], "invalid_request");
    assert_eq!(refused.body["issues"][0]["path"], json!(["dynamicTools"]));
    let refused = h.post(&messages, json!({ "text": "  " })).await;
    assert_eq!(refused.status, 400);
    let sent = h
        .post(&messages, json!({ "text": "please call:lookup_ticket", "dynamicTools": [tool_decl("lookup_ticket")] }))
        .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    assert_eq!(sent.body["status"], "accepted");
    assert_eq!(sent.body["sessionId"], sid.as_str());
    let turn_id = text(&sent.body["turnId"]).to_string();
    let frames = frames_until(&mut socket, "tool_call_requested").await;
    let record = frames.last().unwrap()["payload"].clone();
    let request_id = text(&record["requestId"]).to_string();

    // Registered before it was visible: the list has it, in the same shape.
    let calls_path = format!("/api/sessions/{sid}/tool-calls");
    let calls = h.get(&calls_path).await;
    assert_eq!(calls.status, 200);
    assert_eq!(calls.body["data"], json!([record.clone()]));
    assert_eq!(record["tool"], "lookup_ticket");
    assert_eq!(record["threadId"], sid.as_str());
    assert_eq!(record["method"], "item/tool/call");
    assert_eq!(record["status"], "pending");
    assert!(record["arguments"].is_object());
    assert_eq!(
        h.get("/api/tool-calls").await.body["data"],
        json!([record.clone()])
    );

    // Bad answers are refused before the lookup and leave the call pending.
    let respond_path = format!("/api/tool-calls/{request_id}/response");
    let bad = h
        .post(
            &respond_path,
            json!({ "success": "yes", "contentItems": [{ "type": "bogus" }] }),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["status"], "error");
    assert_eq!(bad.body["code"], "invalid_request");
    assert_eq!(bad.body["message"], "request validation failed");
    assert_eq!(bad.body["issues"].as_array().unwrap().len(), 2);
    let not_json = json_reply(
        h.http
            .post(h.url(&respond_path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.body["code"], "request_failed");
    let unknown_bad = h
        .post(
            "/api/tool-calls/no-such-call/response",
            json!({ "success": 1 }),
        )
        .await;
    assert_eq!(unknown_bad.status, 400);
    assert_eq!(
        h.get(&calls_path).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let answer = json!({ "response": { "contentItems": [{ "type": "inputText", "text": "ticket is open" }], "success": true } });
    let ok = h.post(&respond_path, answer.clone()).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(
        ok.body,
        json!({ "status": "ok", "requestId": request_id, "threadId": sid })
    );
    // Gone from the list at once, and a second answer is not accepted.
    assert_eq!(h.get(&calls_path).await.body["data"], json!([]));
    let again = h.post(&respond_path, answer).await;
    assert_eq!(again.status, 404);
    assert_eq!(
        again.body,
        json!({ "status": "not_found", "requestId": request_id })
    );

    let frames = frames_until(&mut socket, "app_server.turn.completed").await;
    assert!(frames.iter().any(|f| f["type"] == "tool_call_resolved"));
    let detail = h.get(&format!("/api/sessions/{sid}")).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body["session"]["sessionId"], sid.as_str());
    assert_eq!(detail.body["thread"]["id"], sid.as_str());
    let turn = &detail.body["thread"]["turns"][0];
    assert_eq!(turn["id"], turn_id.as_str());
    assert_eq!(turn["status"], "completed");
    let reply = detail.body["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["role"] == "assistant" && e["turnId"] == turn_id.as_str())
        .unwrap();
    assert_eq!(reply["status"], "complete");
    assert!(
        text(&reply["content"]).contains("ticket is open"),
        "{reply}"
    );

    let interrupt = format!("/api/sessions/{sid}/interrupt");
    let idle = h.post(&interrupt, json!({})).await;
    assert_eq!(idle.status, 409);
    assert_eq!(idle.body["status"], "no_active_turn");

    for (method, path) in [
        (Method::GET, "/api/sessions/nope".to_string()),
        (Method::DELETE, "/api/sessions/nope".to_string()),
        (Method::POST, "/api/sessions/nope/interrupt".to_string()),
        (Method::GET, "/api/sessions/nope/tool-calls".to_string()),
    ] {
        let reply = h.call(method, &path, None).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.body,
            json!({ "status": "not_found", "sessionId": "nope" })
        );
    }
    assert_eq!(
        h.post("/api/sessions/nope/messages", json!({ "text": "hi" }))
            .await
            .status,
        404
    );

    let session_path = format!("/api/sessions/{sid}");
    let deleted = h.call(Method::DELETE, &session_path, None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["status"], "ok");
    assert_eq!(deleted.body["sessionId"], sid.as_str());
    assert_eq!(deleted.body["deletedFileCount"], 0);
    let frames = frames_until(&mut socket, "session_deleted").await;
    assert_eq!(frames.last().unwrap()["threadId"], sid.as_str());
    let gone = h.get(&session_path).await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.body["status"], "deleted");
    assert_eq!(gone.body["sessionId"], sid.as_str());
    assert!(gone.body["deletedAt"].is_string() && gone.body["message"].is_string());
    assert_eq!(h.get(&calls_path).await.status, 410);
    assert_eq!(h.post(&messages, json!({ "text": "hi" })).await.status, 410);
    assert_eq!(h.post(&interrupt, json!({})).await.status, 410);
    assert_eq!(
        h.call(Method::DELETE, &session_path, None).await.status,
        410
    );
    assert!(
        !h.get("/api/sessions").await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["sessionId"] == sid.as_str())
    );

    let health = h.get("/api/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let unknown = h.get("/api/nothing-here").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "not_found");
    let wrong = h.call(Method::PUT, "/api/sessions", None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.body["code"], "method_not_allowed");
    let not_ws = h.get("/api/stream").await;
    assert!(not_ws.status >= 400, "{not_ws:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_json() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    config.max_body_bytes = 1024;
    let small = service::serve(h.codex.bridge.clone(), config)
        .await
        .unwrap();
    let reply = json_reply(
        h.http
            .post(format!("{}/api/tool-calls/x/response", small.url()))
            .bearer_auth(TOKEN)
            .json(&json!({ "text": "x".repeat(4096) }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body["code"], "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_an_interrupt_is_404() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let sid = h.create_session("approve_refund").await;
    let mut socket = h.socket(&format!("?threadId={sid}")).await;
    next_frame(&mut socket).await;
    let (turn_id, record) = raise_call(&h, &sid, "approve_refund", &mut socket).await;
    let request_id = text(&record["requestId"]).to_string();

    let interrupted = h
        .post(&format!("/api/sessions/{sid}/interrupt"), json!({}))
        .await;
    assert_eq!(interrupted.status, 200);
    assert_eq!(
        interrupted.body,
        json!({ "status": "ok", "sessionId": sid, "turnId": turn_id })
    );
    let frames = frames_until(&mut socket, "tool_call_resolved").await;
    let resolved = &frames.last().unwrap()["payload"];
    assert_eq!(resolved["requestId"], request_id.as_str());
    assert_eq!(resolved["status"], "expired");
    assert_eq!(resolved["success"], false);

    let late = h
        .post(
            &format!("/api/tool-calls/{request_id}/response"),
            json!({ "text": "too late" }),
        )
        .await;
    assert_eq!(late.status, 404);
    assert_eq!(
        h.get(&format!("/api/sessions/{sid}/tool-calls")).await.body["data"],
        json!([])
    );
    frames_until(&mut socket, "app_server.turn.completed").await;
    let detail = h.get(&format!("/api/sessions/{sid}")).await;
    assert_eq!(detail.body["thread"]["turns"][0]["status"], "interrupted");
    let entry = detail.body["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "tool_call.resolved")
        .unwrap()
        .clone();
    assert_eq!(entry["content"], "Tool call expired (success=false)");
    assert_eq!(entry["messageId"], format!("tool-call-{request_id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_answers_get_exactly_one_200() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let sid = h.create_session("approve_refund").await;
    let mut socket = h.socket(&format!("?threadId={sid}")).await;
    next_frame(&mut socket).await;
    let (_, record) = raise_call(&h, &sid, "approve_refund", &mut socket).await;
    let url = h.url(&format!(
        "/api/tool-calls/{}/response",
        text(&record["requestId"])
    ));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let http = h.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            json_reply(
                http.post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({ "text": format!("approved by responder {i}") }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    let accepted = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(accepted, 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != 200) {
        match reply.status {
            404 => assert_eq!(reply.body["status"], "not_found"),
            409 => {
                assert_eq!(reply.body["status"], "conflict");
                assert_eq!(reply.body["code"], "in_flight");
            }
            other => panic!("unexpected status {other}: {:?}", reply.body),
        }
    }
    let frames = frames_until(&mut socket, "app_server.turn.completed").await;
    assert_eq!(
        frames
            .iter()
            .filter(|f| f["type"] == "tool_call_resolved")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_commands_and_event_order() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let sid = h.create_session("lookup_ticket").await;
    let mut socket = h.socket("").await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!({ "type": "ready", "threadId": null })
    );
    send_command(&mut socket, r#"{"type":"ping"}"#).await;
    assert_eq!(next_reply(&mut socket).await, json!({ "type": "pong" }));
    send_command(&mut socket, r#"{"type":"shout"}"#).await;
    assert_eq!(
        next_reply(&mut socket).await,
        json!({ "type": "error", "message": "invalid websocket command" })
    );
    send_command(
        &mut socket,
        &json!({ "type": "subscribe", "threadId": sid }).to_string(),
    )
    .await;
    assert_eq!(
        next_reply(&mut socket).await,
        json!({ "type": "subscribed", "threadId": sid })
    );

    let sent = h
        .post(
            &format!("/api/sessions/{sid}/messages"),
            json!({ "text": "please call:lookup_ticket" }),
        )
        .await;
    assert_eq!(sent.status, 202);
    let mut seen = frames_until(&mut socket, "tool_call_requested").await;
    let request_id = text(&seen.last().unwrap()["payload"]["requestId"]).to_string();
    let answered = h
        .post(
            &format!("/api/tool-calls/{request_id}/response"),
            json!({ "text": "found it" }),
        )
        .await;
    assert_eq!(answered.status, 200);
    seen.extend(frames_until(&mut socket, "app_server.turn.completed").await);
    assert!(
        seen.iter().all(|f| f["threadId"] == sid.as_str()),
        "{seen:?}"
    );
    let position = |kind: &str| {
        seen.iter()
            .position(|f| f["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} frame in {seen:?}"))
    };
    assert!(position("app_server.turn.started") < position("app_server.request.item.tool.call"));
    assert!(position("app_server.request.item.tool.call") < position("tool_call_requested"));
    assert!(position("tool_call_requested") < position("tool_call_resolved"));
    assert!(position("tool_call_resolved") < position("app_server.turn.completed"));
    position("transcript_updated");
    position("app_server.item.completed");
    let resolved = &seen[position("tool_call_resolved")]["payload"];
    assert_eq!(resolved["requestId"], request_id.as_str());
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["success"], true);

    // Unsubscribed, the socket receives other sessions' events too.
    send_command(&mut socket, r#"{"type":"unsubscribe"}"#).await;
    frames_until(&mut socket, "unsubscribed").await;
    let other = h.create_session("lookup_ticket").await;
    let created = frames_until(&mut socket, "session_created").await;
    assert_eq!(created.last().unwrap()["threadId"], other.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signal_has_the_contract_shape_and_precedes_the_record() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let sid = h.create_session("lookup_ticket").await;
    let mut socket = h.socket(&format!("?threadId={sid}")).await;
    next_frame(&mut socket).await;
    let sent = h
        .post(
            &format!("/api/sessions/{sid}/messages"),
            json!({ "text": "please call:lookup_ticket" }),
        )
        .await;
    let turn_id = text(&sent.body["turnId"]).to_string();
    let frames = frames_until(&mut socket, "tool_call_requested").await;
    let signal_at = frames
        .iter()
        .position(|f| f["type"] == "app_server.request.item.tool.call")
        .expect("no tool-call signal before tool_call_requested");
    assert_eq!(signal_at, frames.len() - 2);
    let signal = &frames[signal_at];
    assert_eq!(signal["threadId"], sid.as_str());
    let payload = &signal["payload"];
    assert_eq!(payload["source"], "app_server");
    assert_eq!(payload["signalType"], "request");
    assert_eq!(payload["eventType"], "app_server.request.item.tool.call");
    assert_eq!(payload["method"], "item/tool/call");
    assert!(text(&payload["receivedAt"]).ends_with('Z'));
    assert_eq!(
        payload["context"],
        json!({ "threadId": sid, "turnId": turn_id })
    );
    assert_eq!(payload["params"]["threadId"], sid.as_str());
    assert_eq!(payload["params"]["turnId"], turn_id.as_str());
    assert_eq!(payload["params"]["tool"], "lookup_ticket");
    assert!(payload["params"]["arguments"].is_object());
    assert!(payload["params"]["callId"].is_string());
    assert!(payload["params"].get("namespace").is_some());
    assert_eq!(payload["session"]["id"], sid.as_str());
    assert!(payload["session"]["title"].is_string());
    assert!(payload["session"].get("projectId").is_some());
    let record = &frames.last().unwrap()["payload"];
    assert_eq!(payload["requestId"], record["requestId"]);
    // Answer the signal, as respond_to_signal does; the resolution comes after.
    let answered = h
        .post(
            &format!("/api/tool-calls/{}/response", text(&payload["requestId"])),
            json!({ "text": "ok" }),
        )
        .await;
    assert_eq!(answered.status, 200);
    let after = frames_until(&mut socket, "tool_call_resolved").await;
    assert!(!after.iter().any(|f| f["type"] == "tool_call_requested"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_on_http_and_the_websocket() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let none = json_reply(h.http.get(h.url("/api/sessions")).send().await.unwrap()).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["status"], "error");
    assert_eq!(none.body["code"], "unauthorized");
    let wrong = json_reply(
        h.http
            .get(h.url("/api/health"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let no_answer = json_reply(
        h.http
            .post(h.url("/api/tool-calls/x/response"))
            .json(&json!({ "text": "x" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(no_answer.status, 401);

    let url = format!("ws://{}/api/stream", h.server.addr());
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("a websocket without a token was not refused: {other:?}"),
    }
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403)
        }
        other => panic!("a foreign origin was not refused: {other:?}"),
    }

    // No token is never served off loopback; nothing is bound.
    let open = ServeConfig::new("0.0.0.0:0".parse().unwrap(), None);
    match service::serve(h.codex.bridge.clone(), open).await {
        Err(ServiceError::NoTokenOffLoopback { .. }) => {}
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("served off loopback without a token"),
    }
    // Without a token on loopback, requests need no header.
    let open = service::serve(
        h.codex.bridge.clone(),
        ServeConfig::new("127.0.0.1:0".parse().unwrap(), None),
    )
    .await
    .unwrap();
    let health = json_reply(
        h.http
            .get(format!("{}/api/health", open.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(health.status, 200);
}

const FAKE_CATALOG: &str = r#"
[[tools]]
name = "manual_tool"
description = "answered by a person"
input_schema = { type = "object" }
"#;

async fn fake_session(fake: &mut FakeAppServer, h: &reqwest::Client, url: &str) -> String {
    let creating = {
        let h = h.clone();
        let url = url.to_string();
        tokio::spawn(async move {
            json_reply(
                h.post(format!("{url}/api/sessions"))
                    .bearer_auth(TOKEN)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    let start = fake.next_acked(Ok(())).await;
    assert_eq!(start["method"], "thread/start");
    fake.send(json!({ "id": start["id"], "result": { "thread": { "id": "thread-1", "preview": "" }, "approvalPolicy": "never", "sandbox": { "type": "readOnly", "networkAccess": false } } }))
        .await;
    let created = creating.await.unwrap();
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["session"]["approvalPolicy"], "never");
    assert_eq!(
        created.body["session"]["sessionControls"]["filesystemSandbox"],
        "read-only"
    );
    "thread-1".to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_500_and_the_call_stays_pending() {
    let (bridge, mut fake) = fake_bridge(FAKE_CATALOG).await;
    let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    let server = service::serve(bridge.clone(), config).await.unwrap();
    let http = reqwest::Client::new();
    let url = server.url();
    let sid = fake_session(&mut fake, &http, &url).await;
    let mut events = bridge.subscribe();
    fake.send(json!({ "id": 7, "method": "item/tool/call", "params": {
        "threadId": sid, "turnId": "turn-1", "callId": "c1", "namespace": null,
        "tool": "manual_tool", "arguments": { "n": 1 } } }))
        .await;
    let request_id = loop {
        if let Some(switchboard::bridge::BridgeEvent::ToolCallRequested { call }) =
            events.recv().await
        {
            break call.request_id;
        }
    };
    let respond = |text: &'static str| {
        let http = http.clone();
        let url = format!("{url}/api/tool-calls/{request_id}/response");
        tokio::spawn(async move {
            json_reply(
                http.post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({ "text": text }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    let first = respond("a");
    assert_eq!(
        fake.next_acked(Err("broken pipe".to_string())).await["id"],
        7
    );
    let failed = first.await.unwrap();
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body["status"], "error");
    assert_eq!(failed.body["requestId"], request_id.as_str());
    let listed = json_reply(
        http.get(format!("{url}/api/tool-calls"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed.body["data"][0]["requestId"], request_id.as_str());

    let second = respond("b");
    let written = fake.next_acked(Ok(())).await;
    assert_eq!(written["result"]["contentItems"][0]["text"], "b");
    assert_eq!(second.await.unwrap().status, 200);
}

/// Messages sent while a turn runs, as codex-manager passes them on: each is accepted
/// (202) and joins the running turn (codex takes `turn/start` on a busy thread as more
/// input for the turn in progress), so every reply names that turn. Nothing is lost:
/// each message is in the transcript, and the next message after the turn starts a new
/// one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_during_a_turn_join_it_and_get_its_turn_id() {
    let h = ApiHarness::start("tests/fixtures/catalogs/manual.toml").await;
    let sid = h.create_session("approve_refund").await;
    let mut socket = h.socket(&format!("?threadId={sid}")).await;
    next_frame(&mut socket).await;
    // The turn waits on a manual call, so it is surely running while the others arrive.
    let (turn_id, record) = raise_call(&h, &sid, "approve_refund", &mut socket).await;
    let url = h.url(&format!("/api/sessions/{sid}/messages"));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let http = h.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            json_reply(
                http.post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({ "text": format!("one more thing, number {i}") }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }));
    }
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        assert_eq!(reply.body["turnId"], turn_id.as_str(), "{:?}", reply.body);
    }
    // Answer every call the turn makes until it ends.
    let answer = |request_id: String| {
        let h = &h;
        async move {
            let answered = h
                .post(
                    &format!("/api/tool-calls/{request_id}/response"),
                    json!({ "text": "approved" }),
                )
                .await;
            assert_eq!(answered.status, 200, "{:?}", answered.body);
        }
    };
    answer(text(&record["requestId"]).to_string()).await;
    loop {
        let frame = next_frame(&mut socket).await;
        match text(&frame["type"]) {
            "tool_call_requested" => {
                answer(text(&frame["payload"]["requestId"]).to_string()).await;
            }
            "app_server.turn.completed" => break,
            _ => {}
        }
    }
    let detail = h.get(&format!("/api/sessions/{sid}")).await;
    assert_eq!(detail.status, 200);
    let turns = detail.body["thread"]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0]["id"], turn_id.as_str());
    let transcript = detail.body["transcript"].to_string();
    for i in 0..10 {
        assert!(
            transcript.contains(&format!("one more thing, number {i}")),
            "message {i} is not in the transcript: {transcript}"
        );
    }
    let after = h
        .post(
            &format!("/api/sessions/{sid}/messages"),
            json!({ "text": "and now a new turn" }),
        )
        .await;
    assert_eq!(after.status, 202, "{:?}", after.body);
    assert_ne!(after.body["turnId"], turn_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolved_event_flags_an_answer_that_breaks_the_output_schema_and_stats_count_it() {
    let h = ApiHarness::start("tests/fixtures/catalogs/examples.toml").await;
    let empty = h.get("/api/catalog/stats").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({ "tools": [] }));
    // `customer`'s handler answers {"name": "Dana"}; its output_schema requires an id.
    let sid = h.create_session("customer").await;
    let mut socket = h.socket(&format!("?threadId={sid}")).await;
    next_frame(&mut socket).await;
    let sent = h
        .post(
            &format!("/api/sessions/{sid}/messages"),
            json!({ "text": "please call:customer" }),
        )
        .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let frames = frames_until(&mut socket, "tool_call_resolved").await;
    let resolved = &frames.last().unwrap()["payload"];
    assert_eq!(resolved["tool"], "customer");
    assert_eq!(resolved["success"], true);
    let problems = resolved["outputSchemaProblems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{resolved}");
    assert!(
        text(&problems[0]).contains("\"id\" is a required property"),
        "{resolved}"
    );

    let stats = h.get("/api/catalog/stats").await;
    assert_eq!(stats.status, 200);
    let tools = stats.body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "{}", stats.body);
    let customer = &tools[0];
    assert_eq!(customer["tool"], "customer");
    assert_eq!(customer["calls"], 1);
    assert_eq!(customer["badAnswers"], 1);
    assert_eq!(customer["badAnswersPercent"], 100);
    assert_eq!(customer["handlerFailures"], 0);
    assert_eq!(customer["timeouts"], 0);
    assert!(customer["medianLatencyMs"].is_u64(), "{customer}");
}

/// A fake app-server: what the routes send it is what this checks (real codex fills in
/// a cwd of its own, so it cannot show that none was sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_cwd_sends_none_and_watch_checks_its_app_server_field() {
    let (bridge, mut fake) = fake_bridge(FAKE_CATALOG).await;
    let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    let server = service::serve(bridge.clone(), config).await.unwrap();
    let http = reqwest::Client::new();
    let url = server.url();
    // The app-server's own cwd applies (a fleet entry's, else its folder): none is sent.
    let creating = {
        let (http, url) = (http.clone(), url.to_string());
        tokio::spawn(async move {
            json_reply(
                http.post(format!("{url}/api/sessions"))
                    .bearer_auth(TOKEN)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    let start = fake.next_acked(Ok(())).await;
    assert_eq!(start["method"], "thread/start");
    assert!(start["params"]["cwd"].is_null(), "{start}");
    fake.send(json!({ "id": start["id"], "result": { "thread": {
        "id": "thread-1", "preview": "", "cwd": "/srv/app-server" } } }))
        .await;
    let created = creating.await.unwrap();
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["session"]["cwd"], "/srv/app-server");

    // A watch body that is not `{appServer: NAME}` is refused before app-server is asked.
    for body in [json!({ "appServer": 5 }), json!([1])] {
        let refused = json_reply(
            http.post(format!("{url}/api/threads/thread-9/watch"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(refused.status, 400, "{:?}", refused.body);
        assert!(
            refused.body["issues"][0]["message"]
                .as_str()
                .unwrap()
                .contains("appServer"),
            "{:?}",
            refused.body
        );
    }
    // An unknown name lists the known ones.
    let refused = json_reply(
        http.post(format!("{url}/api/threads/thread-9/watch"))
            .bearer_auth(TOKEN)
            .json(&json!({ "appServer": "nope" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "unknown_app_server");
}

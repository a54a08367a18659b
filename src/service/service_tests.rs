//! Unit tests of the service layer: mappings, validation, auth checks, stream frames.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, header};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::auth::{self, Refusal};
use super::convert;
use super::stream;
use super::validate::{self, BodyProblem};
use super::wire::{ApprovalPolicy, FilesystemSandbox, NetworkAccess, TranscriptStatus};
use crate::bridge::{
    Answerer, BridgeEvent, CallEnd, PendingCallView, SessionSettings, SessionSetup,
    SessionSnapshot, SessionStatus, SessionSummary, TranscriptEntry, TranscriptRow, TurnRecord,
};
use crate::protocol::{ToolCallResult, TurnStatus};

fn summary() -> SessionSummary {
    SessionSummary {
        app_server: "local".to_string(),
        thread_id: "t1".into(),
        title: "session t1".into(),
        name: None,
        activity: None,
        turn_started_at_ms: None,
        token_usage: None,
        status: SessionStatus::Idle,
        origin: crate::bridge::SessionOrigin::Started,
        auto_answer: false,
        cwd: Some("/work".into()),
        model: Some("scripted".into()),
        model_provider: Some("local".into()),
        created_at_ms: 1_795_260_552_000,
        updated_at_ms: 1_795_260_553_500,
        turn_count: 1,
        active_turn_id: None,
        tools: vec!["lookup".into()],
        transcript_path: None,
        persisted: true,
        persist_error: None,
    }
}

fn row(seq: u64, turn: Option<&str>, entry: TranscriptEntry) -> TranscriptRow {
    TranscriptRow {
        seq,
        at_ms: 1000 + seq as i64,
        turn_id: turn.map(str::to_string),
        entry,
    }
}

fn call() -> PendingCallView {
    PendingCallView {
        app_server: "local".to_string(),
        request_id: "abc-0".into(),
        thread_id: "t1".into(),
        turn_id: "u1".into(),
        call_id: "call_1".into(),
        namespace: None,
        tool: "lookup".into(),
        arguments: json!({ "id": "T-1" }),
        received_at_ms: 1_795_260_552_964,
        answerer: Answerer::Person,
        schema_problems: Vec::new(),
        in_flight: false,
        proposed: None,
        claim: None,
    }
}

fn snapshot() -> SessionSnapshot {
    let rows = vec![
        row(
            0,
            None,
            TranscriptEntry::SessionStarted {
                app_server: None,
                thread_id: "t1".into(),
                cwd: None,
                model: None,
                tools: vec![],
                watched: false,
            },
        ),
        row(1, Some("u1"), TranscriptEntry::TurnStarted),
        row(
            2,
            Some("u1"),
            TranscriptEntry::UserMessage { text: "hi".into() },
        ),
        row(
            3,
            Some("u1"),
            TranscriptEntry::ToolCallRequest {
                request_id: "abc-0".into(),
                call_id: "call_1".into(),
                tool: "lookup".into(),
                namespace: None,
                arguments: json!({ "id": "T-1" }),
                answerer: "you".into(),
            },
        ),
        row(
            4,
            Some("u1"),
            TranscriptEntry::ToolCallResolved {
                request_id: "abc-0".into(),
                call_id: "call_1".into(),
                tool: "lookup".into(),
                status: CallEnd::Resolved,
                success: true,
                answered_by: None,
                latency_ms: 3,
                content: Some(ToolCallResult::text(true, "open")),
                reason: None,
                output_schema_problems: Vec::new(),
            },
        ),
        row(
            5,
            Some("u1"),
            TranscriptEntry::AgentMessage {
                item_id: "msg_1".into(),
                text: "T-1 is open".into(),
            },
        ),
        row(
            6,
            Some("u1"),
            TranscriptEntry::TurnCompleted {
                status: TurnStatus::Completed,
                error: None,
            },
        ),
    ];
    SessionSnapshot {
        summary: summary(),
        turns: vec![TurnRecord {
            id: "u1".into(),
            status: TurnStatus::Completed,
            started_at_ms: 1001,
            completed_at_ms: Some(1006),
            error: None,
            assistant_reply: Some("T-1 is open".into()),
        }],
        transcript: rows,
        streaming: Vec::new(),
        thread: json!({ "id": "t1", "preview": "", "createdAt": 1_795_260_552, "source": "vscode" }),
    }
}

#[test]
fn method_names_are_normalized_like_codex_manager() {
    assert_eq!(
        convert::normalize_method("item/agentMessage/delta"),
        "item.agent_message.delta"
    );
    assert_eq!(
        convert::normalize_method("item/tool/call"),
        "item.tool.call"
    );
    assert_eq!(
        convert::normalize_method("thread/tokenUsage/updated"),
        "thread.token_usage.updated"
    );
    assert_eq!(
        convert::normalize_method("turn/completed"),
        "turn.completed"
    );
    assert_eq!(
        convert::normalize_method("serverRequest/resolved"),
        "server_request.resolved"
    );
}

#[test]
fn pending_record_has_codex_manager_fields() {
    let record = serde_json::to_value(convert::pending_record(&call())).unwrap();
    assert_eq!(record["requestId"], "abc-0");
    assert_eq!(record["tool"], "lookup");
    assert_eq!(record["arguments"], json!({ "id": "T-1" }));
    assert_eq!(record["threadId"], "t1");
    assert_eq!(record["callId"], "call_1");
    assert_eq!(record["turnId"], "u1");
    assert_eq!(record["itemId"], "call_1");
    assert_eq!(record["method"], "item/tool/call");
    assert_eq!(record["summary"], "Tool call requested: lookup");
    assert_eq!(
        record["details"],
        json!({ "threadId": "t1", "turnId": "u1", "callId": "call_1", "namespace": null, "tool": "lookup", "arguments": { "id": "T-1" } })
    );
    assert_eq!(record["createdAt"], "2026-11-21T11:29:12.964Z");
    assert_eq!(record["status"], "pending");
    assert_eq!(
        record["answerer"],
        json!({ "kind": "person", "name": null })
    );
}

#[test]
fn pending_records_name_their_app_server() {
    let mut on_box = call();
    on_box.app_server = "build-box".to_string();
    let record = serde_json::to_value(convert::pending_record(&on_box)).unwrap();
    assert_eq!(record["appServer"], "build-box");
}

#[test]
fn tool_call_signal_has_the_contract_shape() {
    let signal =
        serde_json::to_value(convert::tool_call_signal(&call(), Some("New chat"))).unwrap();
    assert_eq!(
        signal,
        json!({
            "source": "app_server",
            "signalType": "request",
            "eventType": "app_server.request.item.tool.call",
            "method": "item/tool/call",
            "receivedAt": "2026-11-21T11:29:12.964Z",
            "context": { "threadId": "t1", "turnId": "u1" },
            "params": { "threadId": "t1", "turnId": "u1", "callId": "call_1", "namespace": null, "tool": "lookup", "arguments": { "id": "T-1" } },
            "session": { "id": "t1", "title": "New chat", "projectId": null },
            "requestId": "abc-0",
        })
    );
}

#[test]
fn a_tool_call_becomes_the_signal_then_the_record() {
    let mut titles = HashMap::from([("t1".to_string(), "New chat".to_string())]);
    let frames = stream::frames_for(
        &BridgeEvent::ToolCallRequested { call: call() },
        &mut titles,
    );
    let kinds: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str::<Value>(f.text.as_str()).unwrap())
        .collect();
    assert_eq!(kinds[0]["type"], "app_server.request.item.tool.call");
    assert_eq!(kinds[0]["threadId"], "t1");
    assert_eq!(kinds[0]["payload"]["session"]["title"], "New chat");
    assert_eq!(kinds[1]["type"], "tool_call_requested");
    assert_eq!(kinds[1]["payload"]["requestId"], "abc-0");
    assert_eq!(frames.len(), 2);
}

#[test]
fn notifications_become_app_server_events() {
    let mut titles = HashMap::new();
    let event = BridgeEvent::AppServerNotification {
        thread_id: Some("t1".into()),
        method: "item/agentMessage/delta".into(),
        params: json!({ "threadId": "t1", "turnId": "u1", "delta": "he" }).into(),
    };
    let frames = stream::frames_for(&event, &mut titles);
    let frame: Value = serde_json::from_str(frames[0].text.as_str()).unwrap();
    assert_eq!(frame["type"], "app_server.item.agent_message.delta");
    assert_eq!(frame["payload"]["signalType"], "notification");
    assert_eq!(frame["payload"]["method"], "item/agentMessage/delta");
    assert_eq!(
        frame["payload"]["context"],
        json!({ "threadId": "t1", "turnId": "u1" })
    );
    assert_eq!(frame["payload"]["params"]["delta"], "he");
}

#[test]
fn oversized_events_become_error_frames_that_name_the_call() {
    let mut big = call();
    big.arguments = json!({ "blob": "x".repeat(stream::MAX_FRAME_BYTES) });
    let frames = stream::frames_for(
        &BridgeEvent::ToolCallRequested { call: big },
        &mut HashMap::new(),
    );
    for frame in &frames {
        assert!(frame.text.len() < stream::MAX_FRAME_BYTES);
        let value: Value = serde_json::from_str(frame.text.as_str()).unwrap();
        assert_eq!(value["type"], "error");
        assert_eq!(value["threadId"], "t1");
        assert_eq!(value["payload"]["requestId"], "abc-0");
    }
}

#[test]
fn stream_commands() {
    let mut filter = None;
    let reply = |text: &str, filter: &mut Option<String>| -> Value {
        serde_json::from_str(stream::on_command(text, filter).as_str()).unwrap()
    };
    assert_eq!(
        reply(r#"{"type":"ping"}"#, &mut filter),
        json!({ "type": "pong" })
    );
    assert_eq!(
        reply(r#"{"type":"subscribe","threadId":"t1"}"#, &mut filter),
        json!({ "type": "subscribed", "threadId": "t1" })
    );
    assert_eq!(filter.as_deref(), Some("t1"));
    let bad = json!({ "type": "error", "message": "invalid websocket command" });
    assert_eq!(
        reply(r#"{"type":"subscribe","threadId":""}"#, &mut filter),
        bad
    );
    assert_eq!(reply(r#"{"type":"dance"}"#, &mut filter), bad);
    assert_eq!(reply("not json", &mut filter), bad);
    assert_eq!(reply("[1]", &mut filter), bad);
    assert_eq!(filter.as_deref(), Some("t1"));
    assert_eq!(
        reply(r#"{"type":"unsubscribe"}"#, &mut filter),
        json!({ "type": "unsubscribed", "threadId": null })
    );
    assert_eq!(filter, None);
}

#[test]
fn transcript_replaces_a_request_with_its_resolution() {
    let entries = convert::transcript(&snapshot());
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.kind.as_str(), e.content.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("turn.started", "Turn started"),
            ("userMessage", "hi"),
            ("tool_call.resolved", "Tool call resolved (success=true)"),
            ("agentMessage", "T-1 is open"),
            ("turn.completed", "Turn completed"),
        ]
    );
    let tool = &entries[2];
    assert_eq!(tool.message_id, "tool-call-abc-0");
    assert_eq!(tool.started_at, Some(1003));
    assert_eq!(tool.completed_at, Some(1004));
    let details: Value = serde_json::from_str(tool.details.as_deref().unwrap()).unwrap();
    assert_eq!(details["requestId"], "abc-0");
    assert_eq!(details["status"], "resolved");
    assert_eq!(details["success"], true);
    let reply = &entries[3];
    assert_eq!(serde_json::to_value(reply.role).unwrap(), "assistant");
    assert_eq!(reply.status, TranscriptStatus::Complete);
    assert_eq!(reply.turn_id, "u1");
}

#[test]
fn thread_turns_carry_items_from_the_transcript() {
    let thread = serde_json::to_value(convert::thread_view(&snapshot())).unwrap();
    assert_eq!(thread["id"], "t1");
    assert_eq!(thread["preview"], "hi");
    assert_eq!(thread["createdAt"], 1_795_260_552);
    assert_eq!(thread["source"], "vscode");
    let turn = &thread["turns"][0];
    assert_eq!(turn["id"], "u1");
    assert_eq!(turn["status"], "completed");
    let types: Vec<&str> = turn["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["userMessage", "dynamicToolCall", "agentMessage"]);
    assert_eq!(turn["items"][1]["status"], "completed");
    assert_eq!(turn["items"][1]["contentItems"][0]["text"], "open");
}

#[test]
fn session_info_reads_the_settings() {
    let setup = SessionSetup {
        settings: SessionSettings {
            model: Some("scripted".into()),
            approval_policy: Some(json!("untrusted")),
            sandbox: Some(json!({ "type": "workspaceWrite", "networkAccess": true })),
            reasoning_effort: Some("low".into()),
        },
        tools: Vec::new(),
        thread: json!({ "source": "vscode", "projectId": null }),
    };
    let info = convert::session_info(&summary(), Some(&setup));
    assert_eq!(info.approval_policy, ApprovalPolicy::Untrusted);
    assert_eq!(
        info.session_controls.filesystem_sandbox,
        FilesystemSandbox::WorkspaceWrite
    );
    assert_eq!(info.session_controls.network_access, NetworkAccess::Enabled);
    assert_eq!(
        info.session_controls.settings,
        json!({ "reasoningEffort": "low" })
    );
    assert_eq!(info.created_at, 1_795_260_552);
    assert_eq!(info.updated_at, 1_795_260_553);
    assert!(info.materialized);
    assert_eq!(info.source, "vscode");
}

fn issues(problem: BodyProblem) -> Vec<(String, Vec<Value>)> {
    match problem {
        BodyProblem::Invalid(issues) => issues.into_iter().map(|i| (i.code, i.path)).collect(),
        BodyProblem::NotJson(message) => panic!("not json: {message}"),
    }
}

#[test]
fn answers_are_checked_completely() {
    let result = validate::respond(json!({ "text": "done" })).unwrap();
    assert_eq!(result, ToolCallResult::text(true, "done"));
    let result = validate::respond(json!({
        "success": false,
        "contentItems": [{ "type": "inputText", "text": "a" }],
        "text": "ignored"
    }))
    .unwrap();
    assert_eq!(result, ToolCallResult::text(false, "a"));
    let result = validate::respond(json!({
        "response": { "contentItems": [{ "type": "inputText", "text": "r" }], "success": true },
        "success": "ignored when response is given"
    }))
    .unwrap();
    assert_eq!(result, ToolCallResult::text(true, "r"));
    assert_eq!(validate::respond(json!({})).unwrap().content_items, vec![]);

    let bad = validate::respond(json!({ "success": "yes", "contentItems": [{ "type": "bogus" }] }))
        .unwrap_err();
    assert_eq!(
        issues(bad),
        vec![
            ("invalid_type".to_string(), vec![json!("success")]),
            (
                "invalid_union".to_string(),
                vec![json!("contentItems"), json!(0)]
            ),
        ]
    );
    let bad = validate::respond(json!({ "response": { "success": true } })).unwrap_err();
    assert_eq!(
        issues(bad),
        vec![("custom".to_string(), vec![json!("response")])]
    );
    let bad = validate::respond(json!([1])).unwrap_err();
    assert_eq!(issues(bad), vec![("invalid_type".to_string(), vec![])]);
    assert!(matches!(
        validate::parse_json(b"{nope", false),
        Err(BodyProblem::NotJson(_))
    ));
    assert!(matches!(
        validate::parse_json(b"", false),
        Err(BodyProblem::NotJson(_))
    ));
    assert_eq!(validate::parse_json(b"  ", true).unwrap(), json!({}));
}

#[test]
fn dynamic_tools_are_checked() {
    let tool = |name: &str| json!({ "name": name, "description": "d", "inputSchema": { "type": "object" } });
    assert!(
        validate::create_session(json!({ "dynamicTools": [tool("a"), tool("b")], "cwd": "." }))
            .is_ok()
    );
    let bad = validate::create_session(json!({
        "dynamicTools": [tool("a"), tool("a"), tool("no dots."), { "name": "c", "description": "", "inputSchema": [] }],
        "approvalPolicy": "sometimes",
        "cwd": ""
    }))
    .unwrap_err();
    let codes: Vec<String> = issues(bad).into_iter().map(|(code, _)| code).collect();
    assert_eq!(
        codes,
        [
            "too_small",
            "invalid_enum_value",
            "custom",
            "invalid_string",
            "invalid_type",
            "invalid_type"
        ]
    );
    let many: Vec<Value> = (0..=validate::MAX_DYNAMIC_TOOLS)
        .map(|i| tool(&format!("t{i}")))
        .collect();
    let bad = validate::create_session(json!({ "dynamicTools": many })).unwrap_err();
    assert_eq!(issues(bad)[0].0, "too_big");
    let bad = validate::send_message(json!({ "text": "  " })).unwrap_err();
    assert_eq!(
        issues(bad),
        vec![("too_small".to_string(), vec![json!("text")])]
    );
    let sent =
        validate::send_message(json!({ "text": "hi", "unknown": 1, "effort": "low" })).unwrap();
    assert_eq!(sent.text, "hi");
}

#[test]
fn same_tools_ignores_order() {
    let spec = |name: &str| crate::protocol::DynamicToolSpec {
        name: name.into(),
        description: "d".into(),
        input_schema: json!({ "type": "object" }),
        namespace: None,
        defer_loading: None,
    };
    assert!(validate::same_tools(
        &[spec("a"), spec("b")],
        &[spec("b"), spec("a")]
    ));
    assert!(!validate::same_tools(&[spec("a"), spec("b")], &[spec("a")]));
    let mut changed = spec("a");
    changed.description = "other".into();
    assert!(!validate::same_tools(&[spec("a")], &[changed]));
}

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn bearer_token_and_origin_checks() {
    let host = (header::HOST, "127.0.0.1:3001");
    let good = (header::AUTHORIZATION, "Bearer s3cret");
    assert_eq!(
        auth::check(&headers(&[host.clone(), good.clone()]), Some("s3cret")),
        Ok(())
    );
    assert_eq!(
        auth::check(
            &headers(&[host.clone(), (header::AUTHORIZATION, "bearer s3cret")]),
            Some("s3cret")
        ),
        Ok(())
    );
    assert_eq!(
        auth::check(&headers(std::slice::from_ref(&host)), Some("s3cret")),
        Err(Refusal::Unauthorized)
    );
    assert_eq!(
        auth::check(
            &headers(&[host.clone(), (header::AUTHORIZATION, "Bearer s3cre")]),
            Some("s3cret")
        ),
        Err(Refusal::Unauthorized)
    );
    assert_eq!(
        auth::check(
            &headers(&[host.clone(), (header::AUTHORIZATION, "Basic s3cret")]),
            Some("s3cret")
        ),
        Err(Refusal::Unauthorized)
    );
    // Same origin passes; another origin does not, even with the token.
    let own = (header::ORIGIN, "http://127.0.0.1:3001");
    assert_eq!(
        auth::check(&headers(&[host.clone(), good.clone(), own]), Some("s3cret")),
        Ok(())
    );
    let other = (header::ORIGIN, "https://evil.example");
    assert!(matches!(
        auth::check(&headers(&[host.clone(), good, other]), Some("s3cret")),
        Err(Refusal::Forbidden(_))
    ));
    // Without a token only loopback names are served (no DNS rebinding).
    assert_eq!(auth::check(&headers(&[host]), None), Ok(()));
    assert_eq!(
        auth::check(&headers(&[(header::HOST, "localhost:3001")]), None),
        Ok(())
    );
    assert_eq!(
        auth::check(&headers(&[(header::HOST, "[::1]:3001")]), None),
        Ok(())
    );
    assert!(matches!(
        auth::check(&headers(&[(header::HOST, "rebound.example:3001")]), None),
        Err(Refusal::Forbidden(_))
    ));
}

#[test]
fn token_file_is_created_private_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard/token");
    let (token, created) = auth::load_or_create_token(&path).unwrap();
    assert!(created);
    assert_eq!(token.len(), 64);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (again, created) = auth::load_or_create_token(&path).unwrap();
    assert!(!created);
    assert_eq!(again, token);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        auth::load_or_create_token(&path),
        Err(auth::TokenError::Insecure { .. })
    ));
}

/// A token file that others could replace is refused, saying what to fix; a sticky
/// folder like /tmp is fine for a file of one's own.
#[test]
fn a_token_file_others_could_replace_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    let path = open.join("token");
    std::fs::write(&path, "secret\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = auth::read_token(&path).unwrap_err();
    assert!(matches!(
        error,
        auth::TokenError::FolderWritable { mode: 0o777, .. }
    ));
    assert!(
        error
            .to_string()
            .contains("which others can write to (mode 777)"),
        "{error}"
    );
    assert!(error.to_string().contains("chmod go-w"), "{error}");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert_eq!(auth::read_token(&path).unwrap(), "secret");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(auth::read_token(&path).unwrap(), "secret");
    // A file of another user (when the test can make one: as root).
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let error = auth::read_token(&path).unwrap_err();
        assert!(matches!(
            error,
            auth::TokenError::NotOwned {
                owner: 65534,
                me: 0,
                ..
            }
        ));
        assert!(
            error.to_string().contains("belongs to uid 65534"),
            "{error}"
        );
    }
}

#[test]
fn exposure_rules() {
    let any: std::net::SocketAddr = "0.0.0.0:3001".parse().unwrap();
    let loopback: std::net::SocketAddr = "127.0.0.1:3001".parse().unwrap();
    assert!(matches!(
        super::check_exposure(any, None),
        Err(super::ServiceError::NoTokenOffLoopback { .. })
    ));
    assert!(super::check_exposure(any, Some("t")).is_ok());
    assert!(super::check_exposure(loopback, None).is_ok());
    assert!(matches!(
        super::check_exposure(loopback, Some(" ")),
        Err(super::ServiceError::EmptyToken)
    ));
}

#[test]
fn relative_cwd_is_resolved_against_the_server_folder() {
    let base = std::path::Path::new("/srv/work");
    assert_eq!(super::routes::resolve_cwd(base, Some(".")), "/srv/work");
    assert_eq!(
        super::routes::resolve_cwd(base, Some("sub/./dir")),
        "/srv/work/sub/dir"
    );
    assert_eq!(super::routes::resolve_cwd(base, Some("/abs")), "/abs");
    assert_eq!(super::routes::resolve_cwd(base, None), "/srv/work");
}

/// Issue 14: the session detail carries the thread's name and its token usage, and
/// leaves both out while there are none.
#[test]
fn session_info_carries_the_name_and_the_token_usage() {
    let plain = serde_json::to_value(convert::session_info(&summary(), None)).unwrap();
    assert!(
        plain.get("name").is_none() && plain.get("tokenUsage").is_none(),
        "{plain}"
    );
    let mut named = summary();
    named.name = Some("nightly triage".into());
    named.title = "nightly triage".into();
    named.token_usage = Some(crate::protocol::TokenUsage {
        total: crate::protocol::TokenBreakdown {
            total_tokens: 40,
            input_tokens: 30,
            output_tokens: 10,
            ..Default::default()
        },
        last: crate::protocol::TokenBreakdown::default(),
        model_context_window: Some(258_400),
    });
    let info = serde_json::to_value(convert::session_info(&named, None)).unwrap();
    assert_eq!(info["name"], "nightly triage");
    assert_eq!(info["title"], "nightly triage");
    assert_eq!(info["tokenUsage"]["total"]["totalTokens"], 40);
    assert_eq!(info["tokenUsage"]["modelContextWindow"], 258_400);
}

// ----- raw frames, cut frames, item rows on the stream -----------------------------------

fn frames_of(event: BridgeEvent) -> Vec<(stream::Frame, Value)> {
    stream::frames_for(&event, &mut HashMap::new())
        .into_iter()
        .map(|frame| {
            let value = serde_json::from_str(frame.text.as_str()).unwrap();
            (frame, value)
        })
        .collect()
}

#[test]
fn every_notification_is_its_signal_then_its_raw_frame() {
    let params =
        json!({ "threadId": "t1", "turnId": "u1", "turn": { "id": "u1", "status": "completed" } });
    let frames = frames_of(BridgeEvent::AppServerNotification {
        thread_id: Some("t1".into()),
        method: "turn/completed".into(),
        params: params.clone().into(),
    });
    let kinds: Vec<&Value> = frames.iter().map(|(_, v)| &v["type"]).collect();
    assert_eq!(kinds, ["app_server.turn.completed", "notification"]);
    let (_, raw) = &frames[1];
    // codex-manager's raw frame: the notification as app-server sent it.
    assert_eq!(
        raw,
        &json!({ "type": "notification", "threadId": "t1", "payload": { "method": "turn/completed", "params": params } })
    );
    assert_eq!(frames[0].1["payload"]["params"], params);
    assert!(frames[0].1["payload"].get("truncated").is_none());
    // The socket's thread filter applies to both.
    for (frame, _) in &frames {
        assert!(frame.wanted_by(None) && frame.wanted_by(Some("t1")));
        assert!(!frame.wanted_by(Some("t2")));
    }
    // A notification of no thread goes to unfiltered sockets only, as codex-manager's.
    let frames = frames_of(BridgeEvent::AppServerNotification {
        thread_id: None,
        method: "account/rateLimits/updated".into(),
        params: json!({ "rateLimits": {} }).into(),
    });
    assert_eq!(frames[1].1["type"], "notification");
    assert_eq!(frames[1].1["threadId"], Value::Null);
    assert!(frames[1].0.wanted_by(None) && !frames[1].0.wanted_by(Some("t1")));
}

#[test]
fn every_server_request_is_a_raw_frame_with_app_servers_id() {
    for id in [json!(7), json!("s-8")] {
        let params = json!({ "threadId": "t1", "turnId": "u1", "callId": "call_1", "tool": "lookup", "arguments": { "id": "T-1" } });
        let frames = frames_of(BridgeEvent::AppServerRequest {
            thread_id: Some("t1".into()),
            id: serde_json::from_value(id.clone()).unwrap(),
            method: "item/tool/call".into(),
            params: params.clone().into(),
        });
        assert_eq!(frames.len(), 1);
        assert_eq!(
            frames[0].1,
            json!({ "type": "server_request", "threadId": "t1", "payload": { "method": "item/tool/call", "id": id, "params": params } })
        );
        assert!(!frames[0].0.wanted_by(Some("t2")));
    }
}

/// `item/completed` of a command that printed 3 MB: both frames stay under the SDK's
/// 1 MiB limit, the output keeps its start and end around a marker, and the rest of the
/// item is whole.
#[test]
fn a_3_mb_command_output_is_cut_to_fit_a_frame_with_a_marker() {
    let output: String = (0..300_000).map(|n| format!("line {n:06}\n")).collect();
    assert!(output.len() > 3_000_000);
    let params = json!({ "threadId": "t1", "turnId": "u1", "item": {
        "type": "commandExecution", "id": "call_9", "command": "seq 300000", "cwd": "/w",
        "status": "completed", "exitCode": 0, "durationMs": 812, "aggregatedOutput": output } });
    let frames = frames_of(BridgeEvent::AppServerNotification {
        thread_id: Some("t1".into()),
        method: "item/completed".into(),
        params: params.into(),
    });
    assert_eq!(frames.len(), 2);
    for (frame, value) in &frames {
        assert!(
            frame.text.len() < stream::MAX_FRAME_BYTES,
            "{}",
            frame.text.len()
        );
        let payload = &value["payload"];
        let item = &payload["params"]["item"];
        assert_eq!(
            (item["id"].as_str(), item["exitCode"].as_i64()),
            (Some("call_9"), Some(0))
        );
        assert_eq!(item["command"], "seq 300000");
        let text = item["aggregatedOutput"].as_str().unwrap();
        assert!(
            text.starts_with("line 000000\nline 000001\n"),
            "{}",
            &text[..40]
        );
        assert!(text.ends_with("line 299999\n"));
        let cut = payload["truncated"]["cutBytes"].as_u64().unwrap() as usize;
        assert_eq!(payload["truncated"]["strings"], 1);
        let marker = format!("\n[… {cut} bytes cut by Switchboard to fit a websocket frame …]\n");
        assert!(text.contains(&marker));
        assert_eq!(text.len(), output.len() - cut + marker.len());
        assert!(cut > 2_000_000 && cut < output.len());
    }
    assert_eq!(frames[0].1["type"], "app_server.item.completed");
    assert_eq!(frames[1].1["type"], "notification");
    assert_eq!(
        frames[0].1["payload"]["params"],
        frames[1].1["payload"]["params"]
    );
}

#[test]
fn fitting_cuts_the_longest_strings_on_character_boundaries() {
    let small = json!({ "a": "x".repeat(100) });
    let (raw, cut) = convert::fit_json(&small, 1000).unwrap();
    assert_eq!((raw.get(), cut), (small.to_string().as_str(), None));
    // Multi-byte text, two long strings and a short one that stays.
    let value = json!({ "short": "kept", "long": ["é".repeat(5000), "ü€".repeat(4000)] });
    let (raw, cut) = convert::fit_json(&value, 4000).unwrap();
    assert!(raw.get().len() <= 4000, "{}", raw.get().len());
    let fitted: Value = serde_json::from_str(raw.get()).unwrap();
    assert_eq!(fitted["short"], "kept");
    assert_eq!(cut.unwrap().strings, 2);
    for text in fitted["long"].as_array().unwrap() {
        assert!(text.as_str().unwrap().contains("bytes cut by Switchboard"));
    }
    // Bulk that is not in strings cannot be cut.
    let numbers = json!((0..10_000).collect::<Vec<u32>>());
    assert!(convert::fit_json(&numbers, 1000).is_none());
}

#[test]
fn a_server_request_too_large_in_its_numbers_becomes_an_error_frame() {
    let frames = frames_of(BridgeEvent::AppServerRequest {
        thread_id: Some("t1".into()),
        id: crate::protocol::RequestId::Integer(3),
        method: "item/tool/call".into(),
        params: json!({ "arguments": (0..300_000).collect::<Vec<u32>>() }).into(),
    });
    assert_eq!(frames[0].1["type"], "error");
    assert_eq!(frames[0].1["payload"]["eventType"], "server_request");
    assert!(frames[0].0.text.len() < stream::MAX_FRAME_BYTES);
}

#[test]
fn transcript_updates_carry_item_rows_in_codex_managers_entry_shape() {
    use crate::bridge::items::ItemRow;
    let command = ItemRow::Command {
        item_id: "call_9".into(),
        command: "cargo test".into(),
        cwd: "/w".into(),
        status: "failed".into(),
        exit_code: Some(101),
        duration_ms: Some(2300),
        output: "test result: FAILED\n".into(),
        output_cut_bytes: 0,
        output_lines: 1,
    };
    let frames = frames_of(BridgeEvent::TranscriptAppended {
        thread_id: "t1".into(),
        row: row(7, Some("u1"), TranscriptEntry::Item(command.clone())),
    });
    assert_eq!(frames.len(), 1);
    let frame = &frames[0].1;
    assert_eq!(frame["type"], "transcript_updated");
    assert_eq!(frame["threadId"], "t1");
    let payload = &frame["payload"];
    let entry = &payload["entry"];
    // codex-manager's fields beside the entry, and the entry keyed by its item.
    assert_eq!(
        (
            &payload["sessionId"],
            &payload["threadId"],
            &payload["turnId"],
            &payload["messageId"],
            &payload["type"]
        ),
        (
            &json!("t1"),
            &json!("t1"),
            &json!("u1"),
            &json!("call_9"),
            &json!("item.command")
        )
    );
    assert_eq!(entry["messageId"], "call_9");
    assert_eq!(entry["role"], "system");
    assert_eq!(entry["content"], "cargo test (failed, exit 101)");
    assert_eq!(entry["status"], "error");
    let details: Value = serde_json::from_str(entry["details"].as_str().unwrap()).unwrap();
    assert_eq!(details, serde_json::to_value(&command).unwrap());
    assert_eq!(details["output"], "test result: FAILED\n");
    // The same entry as the session detail has.
    let detail_entry =
        convert::transcript_entry(&row(7, Some("u1"), TranscriptEntry::Item(command))).unwrap();
    assert_eq!(entry, &serde_json::to_value(detail_entry).unwrap());
    // A plan update has no item: its row's id. A running item is streaming.
    let plan = convert::transcript_entry(&row(
        8,
        Some("u1"),
        TranscriptEntry::Item(ItemRow::Plan {
            item_id: None,
            explanation: None,
            steps: Vec::new(),
            text: Some("1. read".into()),
        }),
    ))
    .unwrap();
    assert_eq!(
        (plan.message_id.as_str(), plan.status),
        ("row-8", TranscriptStatus::Complete)
    );
    let running = convert::transcript_entry(&row(
        9,
        Some("u1"),
        TranscriptEntry::Item(ItemRow::McpToolCall {
            item_id: "mcp_1".into(),
            server: "docs".into(),
            tool: "search".into(),
            status: "inProgress".into(),
            arguments: json!({}),
            result: None,
            error: None,
            duration_ms: None,
        }),
    ))
    .unwrap();
    assert_eq!(
        (running.status, running.completed_at),
        (TranscriptStatus::Streaming, None)
    );
}

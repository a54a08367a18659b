//! Builders for console tests: an app in a known state, without a bridge or a terminal.

use std::sync::Arc;

use serde_json::json;

use super::app::App;
use crate::bridge::{
    Answerer, BridgeEvent, BridgeStatus, ConnectionState, HoldState, PendingCallView,
    SessionStatus, SessionSummary, Totals, TranscriptEntry, TranscriptRow,
};
use crate::catalog::Catalog;

pub const CATALOG: &str = r#"
instructions = "Help the support team."

[[tools]]
name = "lookup_ticket"
description = "Look up a support ticket by id"
input_schema = { type = "object", properties = { ticket_id = { type = "string" } }, required = ["ticket_id"] }
handler = { static_text = "ticket T-1: open" }

[[tools]]
name = "escalate_ticket"
description = "Escalate a ticket to a supervisor"
input_schema = { type = "object", properties = { ticket_id = { type = "string" }, reason = { type = "string" } }, required = ["ticket_id", "reason"] }
"#;

/// A fixed clock: 2026-11-21 12:00:00 UTC.
pub const NOW_MS: i64 = 1_795_262_400_000;

pub fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::parse(CATALOG, std::path::Path::new("/srv/support/catalog.toml")).unwrap())
}

pub fn status() -> BridgeStatus {
    BridgeStatus {
        app_servers: Vec::new(),
        transport: "stdio (/usr/bin/codex)".to_string(),
        connection: ConnectionState::Connected {
            server_version: Some("0.169.0".to_string()),
            user_agent: "switchboard/0.169.0".to_string(),
            pid: Some(4242),
        },
        junk_lines: 0,
        totals: Totals::default(),
        hold: HoldState::default(),
        not_persisted: Vec::new(),
        rate_limits: None,
    }
}

pub fn app() -> App {
    let mut app = App::new(catalog(), status());
    app.now_ms = NOW_MS;
    app
}

pub fn thread(n: u32) -> String {
    format!("01a1fe0b-14b9-7a61-9e00-00000000000{n}")
}

pub fn session(n: u32, status: SessionStatus) -> SessionSummary {
    SessionSummary {
        app_server: "local".to_string(),
        thread_id: thread(n),
        title: format!("session {}", crate::util::id_tail(&thread(n), 8)),
        name: None,
        activity: None,
        turn_started_at_ms: None,
        token_usage: None,
        status,
        origin: crate::bridge::SessionOrigin::Started,
        auto_answer: false,
        cwd: Some("/srv/support".to_string()),
        model: Some("scripted".to_string()),
        model_provider: Some("local".to_string()),
        created_at_ms: NOW_MS - 60_000,
        updated_at_ms: NOW_MS,
        turn_count: 1,
        active_turn_id: None,
        tools: vec!["lookup_ticket".to_string(), "escalate_ticket".to_string()],
        transcript_path: None,
        persisted: true,
        persist_error: None,
    }
}

pub fn call(n: u32, session: u32, tool: &str, answerer: Answerer) -> PendingCallView {
    PendingCallView {
        app_server: "local".to_string(),
        request_id: format!("req-{n}"),
        thread_id: thread(session),
        turn_id: "turn-0000000000001".to_string(),
        call_id: format!("call_{n}"),
        namespace: None,
        tool: tool.to_string(),
        arguments: json!({"ticket_id": "T-1", "reason": "customer waiting for 3 days"}),
        received_at_ms: NOW_MS - i64::from(n) * 7_000,
        answerer,
        schema_problems: Vec::new(),
        in_flight: false,
        proposed: None,
        claim: None,
    }
}

pub fn row(seq: u64, entry: TranscriptEntry) -> TranscriptRow {
    TranscriptRow {
        seq,
        at_ms: NOW_MS,
        turn_id: Some("turn-0000000000001".to_string()),
        entry,
    }
}

/// Feeds events to the app, ignoring effects.
pub fn feed(app: &mut App, events: impl IntoIterator<Item = BridgeEvent>) {
    for event in events {
        app.on_bridge_event(event);
    }
}

/// An app with two sessions, a short transcript and two pending calls, one waiting on
/// a person and one flagged for schema problems.
pub fn busy_app() -> App {
    use crate::bridge::{CallEnd, Responder};
    use crate::protocol::{ToolCallResult, TurnStatus};
    let mut app = app();
    feed(
        &mut app,
        [
            BridgeEvent::SessionStarted {
                session: session(1, SessionStatus::Running),
            },
            BridgeEvent::SessionStarted {
                session: session(2, SessionStatus::Idle),
            },
        ],
    );
    let rows = [
        TranscriptEntry::SessionStarted {
            app_server: None,
            thread_id: thread(1),
            cwd: Some("/srv/support".to_string()),
            model: Some("scripted".to_string()),
            tools: vec!["lookup_ticket".to_string(), "escalate_ticket".to_string()],
            watched: false,
        },
        TranscriptEntry::TurnStarted,
        TranscriptEntry::UserMessage {
            text: "Look up T-1 and escalate it".to_string(),
        },
        TranscriptEntry::ToolCallRequest {
            request_id: "req-0".to_string(),
            call_id: "call_0".to_string(),
            tool: "lookup_ticket".to_string(),
            namespace: None,
            arguments: json!({"ticket_id": "T-1"}),
            answerer: "lookup_ticket".to_string(),
        },
        TranscriptEntry::ToolCallResolved {
            request_id: "req-0".to_string(),
            call_id: "call_0".to_string(),
            tool: "lookup_ticket".to_string(),
            status: CallEnd::Resolved,
            success: true,
            answered_by: Some(Responder::Handler {
                name: "lookup_ticket".to_string(),
            }),
            latency_ms: 12,
            content: Some(ToolCallResult::text(true, "ticket T-1: open")),
            reason: None,
            output_schema_problems: Vec::new(),
        },
        TranscriptEntry::ToolCallRequest {
            request_id: "req-1".to_string(),
            call_id: "call_1".to_string(),
            tool: "escalate_ticket".to_string(),
            namespace: None,
            arguments: json!({"ticket_id": "T-1", "reason": "customer waiting for 3 days"}),
            answerer: "you".to_string(),
        },
        TranscriptEntry::TurnCompleted {
            status: TurnStatus::Completed,
            error: None,
        },
        TranscriptEntry::Error {
            message: "model metadata for `scripted` not found".to_string(),
        },
    ];
    for (seq, entry) in rows.into_iter().enumerate() {
        app.on_bridge_event(BridgeEvent::TranscriptAppended {
            thread_id: thread(1),
            row: row(seq as u64, entry),
        });
    }
    let mut flagged = call(
        2,
        2,
        "lookup_ticket",
        Answerer::Handler {
            name: "lookup_ticket".to_string(),
        },
    );
    flagged.arguments = json!({"ticket": 7});
    flagged.schema_problems = vec!["arguments: \"ticket_id\" is a required property".to_string()];
    feed(
        &mut app,
        [
            BridgeEvent::ToolCallRequested {
                call: call(3, 1, "escalate_ticket", Answerer::Person),
            },
            BridgeEvent::ToolCallRequested { call: flagged },
        ],
    );
    app
}

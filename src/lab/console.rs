//! A console loaded as a long-running operator sees it, without a bridge or a terminal:
//! sessions full of rows of every kind, calls waiting, a 300 KB held call. For the
//! console benchmarks (`bench console`, `bench memory`, `benches/micro.rs`).

use serde_json::json;

use super::synthetic::static_catalog;
use crate::bridge::{
    Answerer, BridgeEvent, BridgeStatus, ConnectionState, HoldState, PendingCallView,
    SessionStatus, SessionSummary, Totals, TranscriptEntry, TranscriptRow,
};
use crate::catalog::CatalogError;
use crate::console::app::App;

/// The status bar of a connected bridge.
pub fn status() -> BridgeStatus {
    BridgeStatus {
        transport: "stdio (codex)".to_string(),
        connection: ConnectionState::Connected {
            server_version: Some("0.169.0".to_string()),
            user_agent: "bench".to_string(),
            pid: None,
        },
        junk_lines: 0,
        app_servers: Vec::new(),
        totals: Totals::default(),
        hold: HoldState::default(),
        not_persisted: Vec::new(),
        rate_limits: None,
    }
}

pub fn session(n: usize) -> SessionSummary {
    SessionSummary {
        thread_id: format!("thread-{n:08}"),
        app_server: "local".to_string(),
        title: format!("session {n}"),
        name: None,
        activity: None,
        turn_started_at_ms: None,
        token_usage: None,
        status: SessionStatus::Running,
        cwd: None,
        model: None,
        model_provider: None,
        created_at_ms: 0,
        updated_at_ms: 0,
        turn_count: 1,
        active_turn_id: None,
        tools: Vec::new(),
        transcript_path: None,
        persisted: true,
        persist_error: None,
    }
}

/// Rows of every kind, as a long-running session has them.
pub fn sample_row(seq: u64) -> TranscriptEntry {
    match seq % 5 {
        0 => TranscriptEntry::UserMessage { text: format!("please look up ticket T-{seq} and tell me who owns it") },
        1 => TranscriptEntry::ToolCallRequest {
            request_id: format!("r-{seq}"),
            call_id: format!("c-{seq}"),
            tool: "lookup_ticket".to_string(),
            namespace: None,
            arguments: json!({"ticket_id": format!("T-{seq}")}),
            answerer: "lookup_ticket".to_string(),
        },
        2 => TranscriptEntry::ToolCallResolved {
            request_id: format!("r-{seq}"),
            call_id: format!("c-{seq}"),
            tool: "lookup_ticket".to_string(),
            status: crate::bridge::CallEnd::Resolved,
            success: true,
            answered_by: Some(crate::bridge::Responder::Handler { name: "lookup_ticket".to_string() }),
            latency_ms: 3,
            content: Some(crate::protocol::ToolCallResult::text(true, "ticket open, owner dana")),
            reason: None,
            output_schema_problems: Vec::new(),
        },
        3 => TranscriptEntry::AgentMessage {
            item_id: format!("m-{seq}"),
            text: "The ticket is open and owned by Dana. She was assigned yesterday and has not replied yet; I escalated it.".to_string(),
        },
        _ => TranscriptEntry::TurnCompleted { status: crate::protocol::TurnStatus::Completed, error: None },
    }
}

/// An app with `sessions` sessions of `rows` rows each and `pending` calls waiting.
pub fn loaded_app(sessions: usize, rows: u64, pending: usize) -> Result<App, CatalogError> {
    let mut app = App::new(static_catalog()?, status());
    for n in 0..sessions {
        let summary = session(n);
        let thread = summary.thread_id.clone();
        app.on_bridge_event(BridgeEvent::SessionStarted { session: summary });
        for seq in 0..rows {
            app.on_bridge_event(BridgeEvent::TranscriptAppended {
                thread_id: thread.clone(),
                row: TranscriptRow {
                    seq,
                    at_ms: 0,
                    turn_id: Some("turn".to_string()),
                    entry: sample_row(seq),
                },
            });
        }
    }
    for n in 0..pending {
        app.on_bridge_event(BridgeEvent::ToolCallRequested {
            call: PendingCallView {
                app_server: "local".to_string(),
                request_id: format!("req-{n}"),
                thread_id: format!("thread-{:08}", n % sessions.max(1)),
                turn_id: "turn".to_string(),
                call_id: format!("call-{n}"),
                namespace: None,
                tool: "escalate_ticket".to_string(),
                arguments: json!({"ticket_id": format!("T-{n}"), "reason": "customer waiting"}),
                received_at_ms: 0,
                answerer: Answerer::Person,
                schema_problems: Vec::new(),
                in_flight: false,
                proposed: None,
                claim: None,
            },
        });
    }
    Ok(app)
}

/// A held call whose arguments and proposed answer are 300 KB of multi-line text.
pub fn big_call() -> PendingCallView {
    let text: String = (0..6_000)
        .map(|i| format!("line {i:05} of a long document, about fifty characters\n"))
        .collect();
    PendingCallView {
        app_server: "local".to_string(),
        request_id: "req-big".to_string(),
        thread_id: "thread-00000000".to_string(),
        turn_id: "turn".to_string(),
        call_id: "call-big".to_string(),
        namespace: None,
        tool: "escalate_ticket".to_string(),
        arguments: json!({"ticket_id": "T-1", "reason": text}),
        received_at_ms: 0,
        answerer: Answerer::Review {
            name: "escalate_ticket".to_string(),
        },
        schema_problems: Vec::new(),
        in_flight: false,
        proposed: Some(crate::protocol::ToolCallResult::text(true, text)),
        claim: None,
    }
}

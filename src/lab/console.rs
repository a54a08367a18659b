//! A console loaded as a long-running operator sees it, without a bridge or a terminal:
//! sessions full of rows of every kind, calls waiting, a 300 KB held call. For the
//! console benchmarks (`bench console`, `bench memory`, `benches/micro.rs`).

use serde_json::json;

use super::synthetic::static_catalog;
use crate::bridge::items::{FileDiff, ItemRow};
use crate::bridge::{
    Answerer, BridgeEvent, BridgeStatus, ConnectionState, HoldState, PendingCallView,
    SessionStatus, SessionSummary, Totals, TranscriptEntry, TranscriptRow,
};
use crate::catalog::CatalogError;
use crate::console::app::App;
use crate::protocol::items::PlanStep;

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
        origin: crate::bridge::SessionOrigin::Started,
        auto_answer: false,
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

/// Rows of each turn of [`working_row`]'s session.
pub const TURN_ROWS: u64 = 50;
/// Where a turn's big command output is among its rows.
pub const BIG_OUTPUT_AT: u64 = 4;
/// Lines of each big command output.
pub const BIG_OUTPUT_LINES: usize = 1_000;

/// The output of `cargo test` over 1,000 lines (about 60 KB), different for each `seq`.
pub fn big_output(seq: u64) -> String {
    let mut out = String::with_capacity(BIG_OUTPUT_LINES * 64);
    out.push_str(&format!(
        "   Compiling switchboard v0.1.{seq} (/work/switchboard)\n    Finished `test` profile [unoptimized + debuginfo] target(s) in 41.20s\n"
    ));
    for line in 2..BIG_OUTPUT_LINES - 1 {
        let module = [
            "bridge::transcript",
            "console::ui",
            "service::routes",
            "catalog",
        ][line % 4];
        let verdict = if line % 97 == 0 { "FAILED" } else { "ok" };
        out.push_str(&format!(
            "test {module}::tests::case_{seq:05}_{line:04}_behaves ... {verdict}\n"
        ));
    }
    out.push_str("test result: FAILED. 987 passed; 10 failed; 0 ignored; finished in 3.21s\n");
    out
}

fn diff(path: &str, seq: u64) -> String {
    let mut diff =
        format!("--- a/{path}\n+++ b/{path}\n@@ -{seq},12 +{seq},14 @@ impl Transcript {{\n");
    for line in 0..12 {
        diff.push_str(&format!(
            "     let kept_{line} = self.rows.len() + {line};\n"
        ));
        if line % 4 == 1 {
            diff.push_str(&format!("-    old_call_{line}(&mut self.rows);\n"));
            diff.push_str(&format!("+    new_call_{line}(&mut self.rows, {seq});\n"));
        }
    }
    diff
}

fn plan(done: usize) -> ItemRow {
    let steps = [
        "Reproduce the failing test",
        "Find the cause in the transcript window",
        "Fix it and add a test",
        "Run the whole suite",
    ];
    ItemRow::Plan {
        item_id: None,
        explanation: Some("Work through the failure one step at a time.".to_string()),
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, step)| PlanStep {
                step: step.to_string(),
                status: match i.cmp(&done) {
                    std::cmp::Ordering::Less => "completed",
                    std::cmp::Ordering::Equal => "inProgress",
                    std::cmp::Ordering::Greater => "pending",
                }
                .to_string(),
            })
            .collect(),
        text: None,
    }
}

fn command(seq: u64, command: &str, exit_code: i64, output: String) -> ItemRow {
    ItemRow::Command {
        item_id: format!("cmd-{seq}"),
        command: command.to_string(),
        cwd: "/work/switchboard".to_string(),
        status: if exit_code == 0 {
            "completed"
        } else {
            "failed"
        }
        .to_string(),
        exit_code: Some(exit_code),
        duration_ms: Some(1_200 + i64::try_from(seq % 1_000).unwrap_or(0)),
        output_lines: crate::bridge::items::count_lines(&output),
        output,
        output_cut_bytes: 0,
    }
}

/// A row of a session that works as codex does, whole as its file keeps it: turns of
/// [`TURN_ROWS`] rows, each with a `cargo test` of [`BIG_OUTPUT_LINES`] lines of output
/// (at [`BIG_OUTPUT_AT`]), smaller commands, file changes with their diffs, reasoning,
/// plan updates, MCP and dynamic tool calls and messages; 10,000 rows hold 200 big
/// outputs.
pub fn working_row(seq: u64) -> TranscriptEntry {
    let item = |row: ItemRow| TranscriptEntry::Item(row);
    let at = seq % TURN_ROWS;
    match at {
        0 => TranscriptEntry::TurnStarted,
        1 => TranscriptEntry::UserMessage {
            text: format!("The transcript tests fail since commit {seq:07x}; find out why and fix it."),
        },
        2 => item(ItemRow::Reasoning {
            item_id: format!("rs-{seq}"),
            summary: vec![
                "**Reproducing the failure**".to_string(),
                "I'll run the test suite first to see which cases fail and how.".to_string(),
            ],
        }),
        3 => item(plan(0)),
        BIG_OUTPUT_AT => item(command(seq, "cargo test --workspace", 101, big_output(seq))),
        at if at == TURN_ROWS - 2 => TranscriptEntry::AgentMessage {
            item_id: format!("m-{seq}"),
            text: "Fixed: the window dropped its oldest row before the newest was written. The suite passes again; I added a test that restores a session and checks its last rows.".to_string(),
        },
        at if at == TURN_ROWS - 1 => TranscriptEntry::TurnCompleted {
            status: crate::protocol::TurnStatus::Completed,
            error: None,
        },
        at => match (at - BIG_OUTPUT_AT - 1) % 9 {
            0 => item(ItemRow::Reasoning {
                item_id: format!("rs-{seq}"),
                summary: vec![
                    "**Reading the window code**".to_string(),
                    "The failing cases all restore a session with more rows than the window; the oldest row goes before the newest is written, so a crash in between loses one.".to_string(),
                ],
            }),
            1 => item(command(
                seq,
                "rg -n 'MEMORY_WINDOW' src",
                0,
                (0..12)
                    .map(|n| format!("src/bridge/transcript.rs:{}:    if self.rows.len() == MEMORY_WINDOW {{\n", 600 + n))
                    .collect(),
            )),
            2 => item(ItemRow::FileChange {
                item_id: format!("fc-{seq}"),
                status: "completed".to_string(),
                files: vec![
                    FileDiff {
                        path: "src/bridge/transcript.rs".to_string(),
                        change: "update".to_string(),
                        move_path: None,
                        diff: diff("src/bridge/transcript.rs", seq),
                    },
                    FileDiff {
                        path: "src/bridge/transcript_tests.rs".to_string(),
                        change: "update".to_string(),
                        move_path: None,
                        diff: diff("src/bridge/transcript_tests.rs", seq),
                    },
                ],
                output: String::new(),
            }),
            3 => sample_row(1 + 5 * seq),
            4 => sample_row(2 + 5 * seq),
            5 => item(ItemRow::McpToolCall {
                item_id: format!("mcp-{seq}"),
                server: "docs".to_string(),
                tool: "search".to_string(),
                status: "completed".to_string(),
                arguments: json!({"query": "VecDeque pop_front amortised cost", "limit": 3}),
                result: Some(json!({"content": [{"type": "text", "text": "VecDeque::pop_front is O(1); the ring buffer never moves its elements."}]})),
                error: None,
                duration_ms: Some(240),
            }),
            6 => TranscriptEntry::AgentMessage {
                item_id: format!("m-{seq}"),
                text: "The window is a ring buffer, so dropping the oldest row is cheap; the order of the two steps is what matters.".to_string(),
            },
            7 => item(plan(usize::try_from(seq % 4).unwrap_or(0))),
            _ => item(command(
                seq,
                "git status --short",
                0,
                " M src/bridge/transcript.rs\n M src/bridge/transcript_tests.rs\n".to_string(),
            )),
        },
    }
}

/// An app with `sessions` sessions of `rows` rows each and `pending` calls waiting.
pub fn loaded_app(sessions: usize, rows: u64, pending: usize) -> Result<App, CatalogError> {
    loaded_with(sessions, rows, pending, sample_row)
}

/// An app with one session of `rows` rows of [`working_row`] (as the bridge sends them,
/// each output cut to its tail in memory) and `pending` calls waiting.
pub fn working_app(rows: u64, pending: usize) -> Result<App, CatalogError> {
    loaded_with(1, rows, pending, working_row)
}

fn loaded_with(
    sessions: usize,
    rows: u64,
    pending: usize,
    entry: fn(u64) -> TranscriptEntry,
) -> Result<App, CatalogError> {
    let mut app = App::new(static_catalog()?, status());
    for n in 0..sessions {
        let summary = session(n);
        let thread = summary.thread_id.clone();
        app.on_bridge_event(BridgeEvent::SessionStarted { session: summary });
        for seq in 0..rows {
            app.on_bridge_event(BridgeEvent::TranscriptAppended {
                thread_id: thread.clone(),
                row: crate::bridge::transcript::capped(TranscriptRow {
                    seq,
                    at_ms: 0,
                    turn_id: Some("turn".to_string()),
                    entry: entry(seq),
                }),
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

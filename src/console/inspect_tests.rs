//! The inspector's statistics and probe report, the transcript's replay key and the
//! output_schema flags: state changes and snapshots at 80x24 and 160x48.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use super::*;
use crate::bridge::{BridgeEvent, CallEnd, ResolvedCall, Responder, TranscriptEntry};
use crate::console::app::{Effect, Focus, Outcome};
use crate::console::test_support::*;
use crate::inspect::probe::Difference;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn screen(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| crate::console::ui::render(app, frame))
        .unwrap();
    terminal
}

fn screen_text(app: &App, width: u16, height: u16) -> String {
    let terminal = screen(app, width, height);
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in SIZES {
        let terminal = screen(app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

fn press(app: &mut App, text: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in text.chars() {
        effects.extend(app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    effects
}

fn ended(n: u32, tool: &str) -> ResolvedCall {
    ResolvedCall {
        request_id: format!("done-{n}"),
        thread_id: thread(1),
        turn_id: "turn-0000000000001".to_string(),
        call_id: format!("call_{n}"),
        namespace: None,
        tool: tool.to_string(),
        status: CallEnd::Resolved,
        success: true,
        answered_by: Some(Responder::Handler {
            name: tool.to_string(),
        }),
        reason: None,
        latency_ms: 10 * u64::from(n),
        result: None,
        schema_problems: Vec::new(),
        output_schema_problems: Vec::new(),
        handler_failure: None,
        timed_out: false,
    }
}

/// Eight calls of lookup_ticket: two with bad arguments, one timed out, one expired.
fn app_with_stats() -> App {
    let mut app = app();
    let mut events = Vec::new();
    for n in 1..=8 {
        let mut call = ended(n, "lookup_ticket");
        match n {
            2 | 3 => {
                call.schema_problems =
                    vec!["arguments: \"ticket_id\" is a required property".to_string()]
            }
            5 => {
                call.success = false;
                call.handler_failure = Some("timed out after 300 ms".to_string());
                call.timed_out = true;
            }
            8 => {
                call.status = CallEnd::Expired;
                call.success = false;
                call.answered_by = None;
            }
            _ => {}
        }
        events.push(BridgeEvent::ToolCallResolved { call });
    }
    feed(&mut app, events);
    app
}

#[test]
fn the_inspector_shows_each_tools_statistics() {
    let mut app = app_with_stats();
    press(&mut app, "t");
    let stats = app.model.tool_stats.get("lookup_ticket").unwrap();
    assert_eq!(
        (stats.calls, stats.bad_arguments, stats.timeouts),
        (8, 2, 1)
    );
    let text = screen_text(&app, 160, 48);
    assert!(text.contains("25% broke input_schema (2 of 8)"), "{text}");
    assert!(
        text.contains("most common (2x): arguments: \"ticket_id\" is a required property"),
        "{text}"
    );
    assert!(text.contains("1 (1 timed out)"), "{text}");
    snapshot("inspector_statistics", &app);
    // A tool with no call yet says so.
    press(&mut app, "j");
    assert!(screen_text(&app, 160, 48).contains("no call has ended yet"));
}

fn probe() -> crate::inspect::probe::Probe {
    let difference = |kind, tool: &str, detail: &str| Difference {
        kind,
        tool: tool.to_string(),
        detail: detail.to_string(),
    };
    crate::inspect::probe::Probe {
        tools: json!([{ "type": "function", "name": "lookup_ticket" }, { "type": "function", "name": "view_image" }]),
        differences: vec![
            difference(
                "sanitised",
                "lookup_ticket",
                "input_schema.properties.when is {} for the model (the catalog says type \"date\")",
            ),
            difference("missing", "crm.archive", "not offered to the model"),
            difference(
                "builtin",
                "view_image",
                "codex's own tool, offered beside the catalog's",
            ),
        ],
    }
}

#[test]
fn the_probe_runs_in_the_background_once_and_its_report_shows_in_the_inspector() {
    let mut app = app();
    press(&mut app, "t");
    assert!(screen_text(&app, 160, 48).contains("not probed yet"));
    assert_eq!(
        press(&mut app, "p"),
        vec![Effect::Inspect(InspectRequest::Probe)]
    );
    // A second p while it runs starts nothing.
    assert_eq!(press(&mut app, "p"), Vec::new());
    assert!(app.notice.as_deref().unwrap().contains("still running"));
    assert!(screen_text(&app, 160, 48).contains("probing…"));
    app.on_outcome(Outcome::Probed(Ok(probe())));
    let text = screen_text(&app, 160, 48);
    assert!(
        text.contains("2 entries in the model's tools, 3 difference(s)"),
        "{text}"
    );
    assert!(
        text.contains("this tool sanitised: input_schema.properties.when"),
        "{text}"
    );
    assert!(text.contains("missing crm.archive: not offered"), "{text}");
    assert!(
        text.contains("builtin: 1 of codex's own tools beside the catalog's: view_image"),
        "{text}"
    );
    snapshot("inspector_probe_report", &app);
    // The next tool has no difference of its own.
    press(&mut app, "j");
    let text = screen_text(&app, 160, 48);
    assert!(text.contains("offered as the catalog writes it"), "{text}");
    // A failed probe says why, and p runs it again.
    app.on_outcome(Outcome::Probed(Err(
        "could not start codex: no such file".to_string()
    )));
    assert!(screen_text(&app, 160, 48).contains("the probe failed: could not start codex"));
    assert_eq!(
        press(&mut app, "p"),
        vec![Effect::Inspect(InspectRequest::Probe)]
    );
}

#[test]
fn r_on_a_tool_call_row_replays_that_call_and_shows_the_diff() {
    let mut app = busy_app();
    app.focus = Focus::Transcript;
    // The cursor on the resolved row of req-0 (row 4 of the transcript).
    app.transcript_scroll.entry(thread(1)).or_default().follow = false;
    app.transcript_scroll.entry(thread(1)).or_default().cursor = 4;
    let effects = press(&mut app, "R");
    let [Effect::Inspect(InspectRequest::Replay(call))] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(call.request_id, "req-0");
    assert_eq!(call.arguments, json!({"ticket_id": "T-1"}));
    assert_eq!(
        call.answer,
        Some(crate::protocol::ToolCallResult::text(
            true,
            "ticket T-1: open"
        ))
    );
    // Again while it runs: nothing more.
    assert_eq!(press(&mut app, "R"), Vec::new());

    let report = crate::inspect::replay::ReplayReport {
        request_id: "req-0".to_string(),
        call_id: "call_0".to_string(),
        tool: "lookup_ticket".to_string(),
        verdict: crate::inspect::replay::Verdict::Changed,
        note: None,
        answered_by: Some("handler lookup_ticket".to_string()),
        recorded: call.answer.clone(),
        replayed: Some(crate::protocol::ToolCallResult::text(
            true,
            "ticket T-1: closed",
        )),
        diff: vec![
            "- ticket T-1: open".to_string(),
            "+ ticket T-1: closed".to_string(),
        ],
        output_schema_problems: Vec::new(),
    };
    app.on_outcome(Outcome::Replayed(Box::new(report)));
    assert!(app.inspect.replaying.is_none());
    let text = screen_text(&app, 160, 48);
    assert!(
        text.contains("CHANGED: today's handler answers differently"),
        "{text}"
    );
    assert!(text.contains("+ ticket T-1: closed"), "{text}");
    snapshot("replay_report", &app);

    // A row that is not a tool call's says what to select.
    app.views.detail = None;
    app.transcript_scroll.entry(thread(1)).or_default().cursor = 2;
    assert_eq!(press(&mut app, "R"), Vec::new());
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("select a tool call's row")
    );
}

#[test]
fn an_answer_that_breaks_the_output_schema_is_flagged_in_the_transcript_and_the_queue() {
    let catalog = r#"
[[tools]]
name = "customer"
description = "A customer record"
input_schema = { type = "object" }
output_schema = { type = "object", required = ["id"] }
handler = { static_text = "{}" }
"#;
    let mut app = App::new(
        std::sync::Arc::new(
            crate::catalog::Catalog::parse(catalog, std::path::Path::new("c.toml")).unwrap(),
        ),
        status(),
    );
    app.now_ms = NOW_MS;
    feed(
        &mut app,
        [BridgeEvent::SessionStarted {
            session: session(1, crate::bridge::SessionStatus::Running),
        }],
    );
    app.on_bridge_event(BridgeEvent::TranscriptAppended {
        thread_id: thread(1),
        row: row(
            0,
            TranscriptEntry::ToolCallResolved {
                request_id: "r1".to_string(),
                call_id: "c1".to_string(),
                tool: "customer".to_string(),
                status: CallEnd::Resolved,
                success: true,
                answered_by: Some(Responder::Handler {
                    name: "customer".to_string(),
                }),
                latency_ms: 3,
                content: Some(crate::protocol::ToolCallResult::text(true, "{}")),
                reason: None,
                output_schema_problems: vec![
                    "output_schema: answer: \"id\" is a required property".to_string(),
                ],
            },
        ),
    });
    // A held handler's proposal that breaks it waits in the queue.
    let mut held = call(
        2,
        1,
        "customer",
        crate::bridge::Answerer::Review {
            name: "customer".to_string(),
        },
    );
    held.proposed = Some(crate::protocol::ToolCallResult::text(true, "{\"name\": 1}"));
    assert_eq!(app.proposal_output_problems(&held).len(), 1);
    feed(&mut app, [BridgeEvent::ToolCallRequested { call: held }]);
    let text = screen_text(&app, 160, 48);
    assert!(text.contains("⚠ breaks output_schema"), "{text}");
    assert!(text.contains("⚠ output"), "{text}");
}

//! The console at real scale: long, nested, multi-line and non-Latin arguments, 150
//! calls, 19 sessions, namespaced tools, long protocol logs. Each test drives the app
//! with keys and the mouse and reads the drawn screen, as an operator would.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::style::Color;
use serde_json::json;

use crate::appserver::{Direction, ProtocolLine};
use crate::bridge::{
    Answerer, BridgeEvent, CallEnd, ConnectionState, PendingCallView, Responder, SessionStatus,
    TranscriptEntry,
};
use crate::console::app::{App, Focus};
use crate::console::test_support::*;
use crate::protocol::ToolCallResult;

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| super::render(app, frame)).unwrap();
    terminal
}

fn lines(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            let mut line = String::new();
            let mut x = 0;
            while x < buffer.area.width {
                let symbol = buffer[(x, y)].symbol();
                line.push_str(symbol);
                x += crate::console::text::width(symbol).max(1) as u16;
            }
            line
        })
        .collect()
}

fn screen(app: &App, width: u16, height: u16) -> String {
    lines(&draw(app, width, height)).join("\n")
}

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in [(80, 24), (160, 48)] {
        let terminal = draw(app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

fn press(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn alt(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::ALT));
}

fn ctrl(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
}

fn keys(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn wheel(app: &mut App, down: bool, column: u16, row: u16, screen: Rect) {
    app.on_mouse(
        MouseEvent {
            kind: if down {
                MouseEventKind::ScrollDown
            } else {
                MouseEventKind::ScrollUp
            },
            column,
            row,
            modifiers: KeyModifiers::NONE,
        },
        screen,
    );
}

fn click(app: &mut App, column: u16, row: u16, screen: Rect) {
    app.on_mouse(
        MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        },
        screen,
    );
}

/// A call the way a real model writes them: nested, long, multi-line, Japanese text.
fn realistic_call(n: u32) -> PendingCallView {
    let mut call = call(n, 1, "escalate_ticket", Answerer::Person);
    call.arguments = json!({
        "ticket_id": format!("T-{n}"),
        "reason": "Customer reports that the refund for order 17 never arrived.\nThey wrote three times:\n\t- on Monday\n\t- on Tuesday\n\t- today, angry",
        "customer": {"name": "山田 太郎", "tier": "gold", "history": [{"order": 17, "total": "¥12,800"}, {"order": 18, "total": "¥3,200"}]},
        "note": "注文番号17の返金がまだ届いていないとのことです。至急確認してください。",
        "tail": "THE LAST ARGUMENT LINE"
    });
    call.schema_problems = vec![
        "arguments: additional property \"customer\" is not allowed".to_string(),
        "arguments.note: longer than 20 characters".to_string(),
    ];
    call
}

fn with_calls(app: &mut App, calls: impl IntoIterator<Item = PendingCallView>) {
    feed(
        app,
        calls
            .into_iter()
            .map(|call| BridgeEvent::ToolCallRequested { call }),
    );
}

// ----- defect 1: the editor shows the arguments -----------------------------------------

#[test]
fn the_editor_shows_schema_problems_first_and_arguments_as_wrapped_text() {
    let mut app = app();
    feed(
        &mut app,
        [BridgeEvent::SessionStarted {
            session: session(1, SessionStatus::Running),
        }],
    );
    with_calls(&mut app, [realistic_call(1)]);
    keys(&mut app, "a");
    snapshot("editor_long_arguments", &app);
    let text = screen(&app, 80, 24);
    let problem = text.find("additional property").expect("problems shown");
    let arguments = text.find("\"ticket_id\"").unwrap_or(usize::MAX);
    assert!(problem < arguments, "problems come first:\n{text}");
    // The answer box is one line of text between its borders.
    let rows = lines(&draw(&app, 80, 24));
    let top = rows.iter().position(|l| l.contains("Text answer")).unwrap();
    let bottom = rows[top + 1..]
        .iter()
        .position(|l| l.contains('└'))
        .unwrap();
    assert_eq!(bottom, 1, "answer box of one line:\n{text}");
    // The arguments pane scrolls to their last line, and no further.
    assert!(!text.contains("THE LAST ARGUMENT LINE"), "{text}");
    for _ in 0..12 {
        alt(&mut app, KeyCode::Down);
        draw(&app, 80, 24);
    }
    // Strings are text: real line breaks and tabs, no escapes.
    let text = screen(&app, 80, 24);
    assert!(text.contains("They wrote three times:"), "{text}");
    assert!(text.contains("        - on Monday"), "{text}");
    assert!(!text.contains("\\n") && !text.contains("\\t"), "{text}");
    for _ in 0..40 {
        alt(&mut app, KeyCode::Down);
        draw(&app, 80, 24);
    }
    let text = screen(&app, 80, 24);
    assert!(text.contains("THE LAST ARGUMENT LINE"), "{text}");
    alt(&mut app, KeyCode::Up);
    let scrolled = screen(&app, 80, 24);
    assert_ne!(
        scrolled, text,
        "one step up moves at once (no scrolling past the end)"
    );
}

#[test]
fn a_300_kb_proposal_renders_only_its_visible_window() {
    let mut app = app();
    let mut call = realistic_call(1);
    call.answerer = Answerer::Review {
        name: "escalate_ticket".to_string(),
    };
    let big: String = (0..6_000)
        .map(|i| format!("line {i:05} of the held answer, forty-odd characters\n"))
        .collect();
    assert!(big.len() > 300_000);
    call.arguments = json!({"document": big});
    call.proposed = Some(ToolCallResult::text(true, big));
    with_calls(&mut app, [call]);
    keys(&mut app, "a");
    let text = screen(&app, 80, 24);
    assert!(text.contains("line 00000 of the held answer"), "{text}");
    ctrl(&mut app, 'g');
    press(&mut app, KeyCode::End);
    let text = screen(&app, 160, 48);
    assert!(text.contains("input schema"), "{text}");
    assert!(
        text.contains("line 05999"),
        "the end of the proposal:\n{text}"
    );
}

// ----- the detail view and zoom ---------------------------------------------------------

#[test]
fn the_detail_view_pages_through_a_call_from_top_to_bottom() {
    let mut app = app();
    with_calls(&mut app, [realistic_call(1)]);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    keys(&mut app, "v");
    snapshot("detail_call", &app);
    let top = screen(&app, 80, 24);
    assert!(
        top.contains("schema problems") && top.contains("lines 1–"),
        "{top}"
    );
    keys(&mut app, "G");
    let end = screen(&app, 80, 24);
    assert!(end.contains("\"required\""), "the schema's end:\n{end}");
    keys(&mut app, "g");
    assert_eq!(screen(&app, 80, 24), top);
    keys(&mut app, "j");
    assert_ne!(screen(&app, 80, 24), top);
    press(&mut app, KeyCode::Esc);
    assert!(app.views.detail.is_none());
}

#[test]
fn zoom_gives_the_focused_pane_the_whole_screen() {
    let mut app = busy_app();
    with_calls(&mut app, (10..40).map(realistic_call));
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    keys(&mut app, "z");
    snapshot("zoomed_queue", &app);
    let text = screen(&app, 80, 24);
    assert!(
        !text.contains("Transcript") && !text.contains("Sessions ("),
        "{text}"
    );
    assert!(text.matches("escalate_ticket").count() >= 15, "{text}");
}

// ----- defect 8: the queue at 50 to 200 calls -------------------------------------------

fn crowded_app() -> App {
    let mut app = busy_app();
    let calls = (10..160).map(|n| {
        let mut call = call(n, 1 + n % 2, "get", Answerer::Person);
        if n % 2 == 0 {
            call.namespace = Some("crm".to_string());
            call.tool = "get".to_string();
            call.arguments = json!({"customer": format!("C-{n}"), "fields": ["name", "email"], "region": "東京都"});
        } else {
            call.namespace = Some("billing".to_string());
            call.tool = "refund".to_string();
            call.arguments =
                json!({"currency": "EUR", "order_id": format!("O-{n}"), "amount": n * 10});
        }
        call
    });
    with_calls(&mut app, calls);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    app
}

#[test]
fn the_queue_filters_and_counts() {
    let mut app = crowded_app();
    keys(&mut app, "/CRM.GET");
    press(&mut app, KeyCode::Enter);
    snapshot("queue_filtered", &app);
    let text = screen(&app, 80, 24);
    assert!(text.contains("1 of 75"), "{text}");
    assert!(!text.contains("billing.refund"), "{text}");
    // Enter opens the selected match, not a hidden call.
    press(&mut app, KeyCode::Enter);
    let opened = screen(&app, 80, 24);
    assert!(opened.contains("Answer crm.get"), "{opened}");
    press(&mut app, KeyCode::Esc);
    keys(&mut app, "/");
    press(&mut app, KeyCode::Esc);
    let text = screen(&app, 80, 24);
    assert!(text.contains("of 152"), "Esc clears the filter:\n{text}");
}

#[test]
fn queue_rows_tell_similar_calls_apart_and_fit_their_columns() {
    let app = crowded_app();
    let rows = lines(&draw(&app, 80, 24));
    let calls: Vec<&String> = rows.iter().filter(|l| l.contains("crm.get")).collect();
    assert!(calls.len() >= 2, "{rows:#?}");
    assert_ne!(calls[0], calls[1], "two similar calls look different");
    assert!(
        calls[0].contains("customer=C-"),
        "the varying argument first: {}",
        calls[0]
    );
    for row in &rows {
        assert_eq!(crate::console::text::width(row), 80, "{row}");
    }
    // Cut text ends in an ellipsis.
    assert!(calls[0].contains('…'), "{}", calls[0]);
}

#[test]
fn moving_up_in_the_queue_keeps_the_rows_still() {
    let mut app = crowded_app();
    keys(&mut app, "G");
    draw(&app, 80, 24);
    keys(&mut app, "k");
    let rows = lines(&draw(&app, 80, 24));
    let bottom = rows
        .iter()
        .rposition(|l| l.contains("billing") || l.contains("crm"))
        .unwrap();
    keys(&mut app, "kk");
    let after = lines(&draw(&app, 80, 24));
    assert_eq!(rows[bottom], after[bottom], "the rows did not move");
}

#[test]
fn the_wheel_moves_through_the_queue() {
    let mut app = crowded_app();
    let screen = Rect::new(0, 0, 80, 24);
    let areas = super::layout(&app, screen);
    draw(&app, 80, 24);
    let before = app.selected_call;
    wheel(&mut app, true, areas.queue.x + 5, areas.queue.y + 3, screen);
    assert_eq!(app.selected_call, before + 3);
}

#[test]
fn the_queue_orders_by_tool() {
    let mut app = crowded_app();
    keys(&mut app, "o");
    let text = screen(&app, 160, 48);
    assert!(text.contains("by tool"), "{text}");
    let rows = lines(&draw(&app, 160, 48));
    let tools: Vec<bool> = rows
        .iter()
        .filter(|l| l.contains("billing.refund") || l.contains("crm.get"))
        .map(|l| l.contains("billing.refund"))
        .collect();
    assert!(
        tools.windows(2).filter(|w| w[0] != w[1]).count() <= 1,
        "grouped: {tools:?}"
    );
}

// ----- defect 9: the transcript ---------------------------------------------------------

fn long_row_app() -> App {
    let mut app = busy_app();
    let long: String = (1..=60).map(|i| format!("paragraph line {i}\n")).collect();
    feed(
        &mut app,
        [BridgeEvent::TranscriptAppended {
            thread_id: thread(1),
            row: row(
                8,
                TranscriptEntry::AgentMessage {
                    item_id: "m".to_string(),
                    text: long,
                },
            ),
        }],
    );
    for seq in 9..12 {
        feed(
            &mut app,
            [BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    seq,
                    TranscriptEntry::UserMessage {
                        text: format!("later message {seq}"),
                    },
                ),
            }],
        );
    }
    press(&mut app, KeyCode::Tab);
    app
}

#[test]
fn an_expanded_row_taller_than_the_pane_reads_from_its_top() {
    let mut app = long_row_app();
    keys(&mut app, "kkkk");
    press(&mut app, KeyCode::Enter);
    let text = screen(&app, 80, 24);
    assert!(text.contains("paragraph line 1 "), "its top:\n{text}");
    for _ in 0..80 {
        keys(&mut app, "j");
        draw(&app, 80, 24);
    }
    let text = screen(&app, 80, 24);
    assert!(text.contains("later message"), "past its end:\n{text}");
}

#[test]
fn scrolling_up_never_blanks_rows() {
    let mut app = busy_app();
    press(&mut app, KeyCode::Tab);
    for _ in 0..6 {
        keys(&mut app, "k");
        draw(&app, 80, 24);
    }
    let text = screen(&app, 80, 24);
    // The rows below the selection still show.
    assert!(text.contains("model metadata"), "{text}");
}

#[test]
fn a_resolved_row_at_80_columns_keeps_its_latency_and_result() {
    let mut app = busy_app();
    feed(
        &mut app,
        [BridgeEvent::TranscriptAppended {
            thread_id: thread(1),
            row: row(
                8,
                TranscriptEntry::ToolCallResolved {
                    request_id: "r".to_string(),
                    call_id: "c".to_string(),
                    tool: "customer_relationship_lookup_by_email".to_string(),
                    status: CallEnd::Resolved,
                    success: true,
                    answered_by: Some(Responder::Remote {
                        client: "worker-eu-west-1".to_string(),
                    }),
                    latency_ms: 1234,
                    content: Some(ToolCallResult::text(true, "found Dana Smith")),
                    reason: None,
                    output_schema_problems: Vec::new(),
                },
            ),
        }],
    );
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("1.2 s") && text.contains("found Dana"),
        "{text}"
    );
    // A name too long for the pane is cut at its end, never in its middle.
    assert!(
        text.contains("✔ customer_relationship_… in 1.2 s"),
        "{text}"
    );
}

/// At 80 columns the demo's rows read "lookup_ti…okup_ticket": the middle of the head
/// gave way and took the tool's name with it. Words go first now.
#[test]
fn narrow_call_rows_keep_the_tool_name_whole() {
    let mut app = busy_app();
    feed(
        &mut app,
        [
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    8,
                    TranscriptEntry::ToolCallRequest {
                        request_id: "r".to_string(),
                        call_id: "c".to_string(),
                        tool: "lookup_ticket".to_string(),
                        namespace: None,
                        arguments: serde_json::json!({"ticket_id": "T-1"}),
                        answerer: "lookup_ticket".to_string(),
                    },
                ),
            },
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    9,
                    TranscriptEntry::ToolCallResolved {
                        request_id: "r".to_string(),
                        call_id: "c".to_string(),
                        tool: "escalate_ticket".to_string(),
                        status: CallEnd::Resolved,
                        success: true,
                        answered_by: Some(Responder::Operator),
                        latency_ms: 9657,
                        content: Some(ToolCallResult::text(true, "Escalated to tier 2, ETA 1h")),
                        reason: None,
                        output_schema_problems: Vec::new(),
                    },
                ),
            },
        ],
    );
    let text = screen(&app, 80, 24);
    assert!(text.contains("⚙ lookup_ticket → lookup_ticket"), "{text}");
    assert!(
        text.contains("✔ escalate_ticket in 9.7 s: Escalated"),
        "{text}"
    );
}

// ----- defect 10: the protocol log ------------------------------------------------------

fn log_app(lines: usize) -> App {
    let mut app = busy_app();
    for i in 0..lines {
        app.on_protocol_line(ProtocolLine {
            at_ms: NOW_MS + i as i64,
            generation: 1,
            direction: if i % 2 == 0 { Direction::Out } else { Direction::In },
            text: format!(r#"{{"id":{i},"method":"Item/Tool/Call","params":{{"n":{i},"text":"line\nbreak"}}}}"#).into(),
        });
    }
    keys(&mut app, "l");
    app
}

#[test]
fn home_goes_to_the_top_and_k_stops_there() {
    let mut app = log_app(200);
    press(&mut app, KeyCode::Home);
    let text = screen(&app, 80, 24);
    assert!(text.contains(r#"{"id":0,"#), "{text}");
    keys(&mut app, "kkk");
    assert_eq!(screen(&app, 80, 24), text);
    keys(&mut app, "j");
    assert!(screen(&app, 80, 24).contains("line 2 of 200"));
}

#[test]
fn the_log_filter_ignores_case_and_esc_clears_it() {
    let mut app = log_app(20);
    keys(&mut app, "/item/tool");
    let text = screen(&app, 80, 24);
    assert!(text.contains("20 of 20"), "{text}");
    press(&mut app, KeyCode::Esc);
    keys(&mut app, "/\"n\":7,");
    assert!(screen(&app, 80, 24).contains("1 of 20"));
    press(&mut app, KeyCode::Esc);
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("20 of 20") && app.views.log_filter.text().is_empty(),
        "{text}"
    );
}

#[test]
fn a_whole_protocol_message_opens_in_the_detail_view() {
    let mut app = log_app(5);
    keys(&mut app, "k");
    press(&mut app, KeyCode::Enter);
    snapshot("detail_protocol_line", &app);
    let text = screen(&app, 80, 24);
    assert!(text.contains("\"method\": \"Item/Tool/Call\""), "{text}");
}

#[test]
fn a_scrolled_log_does_not_drift_as_lines_arrive() {
    let mut app = log_app(100);
    keys(&mut app, "kkkkk");
    let before = screen(&app, 80, 24);
    for i in 100..120 {
        app.on_protocol_line(ProtocolLine {
            at_ms: NOW_MS + i,
            generation: 1,
            direction: Direction::In,
            text: format!(r#"{{"id":{i}}}"#).into(),
        });
    }
    let after = screen(&app, 80, 24);
    let body = |s: &str| s.lines().skip(6).take(10).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&before), body(&after));
}

// ----- defects 11, 12: sessions clicks, inspector scrolling -----------------------------

#[test]
fn a_click_in_a_scrolled_sessions_list_selects_the_session_under_it() {
    let mut app = app();
    feed(
        &mut app,
        (1..=9).map(|n| BridgeEvent::SessionStarted {
            session: session(n, SessionStatus::Idle),
        }),
    );
    keys(&mut app, "G");
    let screen_rect = Rect::new(0, 0, 80, 24);
    let before = lines(&draw(&app, 80, 24));
    let areas = super::layout(&app, screen_rect);
    // The first visible session's title line.
    let first = before[usize::from(areas.sessions.y + 1)].clone();
    click(
        &mut app,
        areas.sessions.x + 3,
        areas.sessions.y + 1,
        screen_rect,
    );
    let title = &app.model.sessions[app.selected_session].title;
    assert!(first.contains(title.as_str()), "{first:?} vs {title}");
}

#[test]
fn the_inspector_details_scroll_and_stop_at_the_end() {
    let mut app = busy_app();
    keys(&mut app, "t");
    let top = screen(&app, 80, 24);
    press(&mut app, KeyCode::PageDown);
    let paged = screen(&app, 80, 24);
    assert_ne!(top, paged, "PgDn scrolls the details");
    let screen_rect = Rect::new(0, 0, 80, 24);
    for _ in 0..50 {
        wheel(&mut app, true, 50, 10, screen_rect);
        draw(&app, 80, 24);
    }
    let end = screen(&app, 80, 24);
    assert!(end.contains("\"type\": \"object\""), "{end}");
    wheel(&mut app, false, 50, 10, screen_rect);
    assert_ne!(screen(&app, 80, 24), end, "one notch up moves at once");
}

// ----- defect 13: 80 columns and the minimum size ---------------------------------------

#[test]
fn help_wraps_at_80_columns_and_stops_at_its_end() {
    let mut app = busy_app();
    keys(&mut app, "?");
    snapshot("help_wrapped", &app);
    let rows = lines(&draw(&app, 80, 24));
    // A long description goes on under itself instead of being cut.
    assert!(
        rows.iter()
            .any(|l| l.contains("         keeps it, Esc clears it)")),
        "{rows:#?}"
    );
    for _ in 0..200 {
        press(&mut app, KeyCode::Down);
        draw(&app, 80, 24);
    }
    let end = screen(&app, 80, 24);
    press(&mut app, KeyCode::Up);
    assert_ne!(screen(&app, 80, 24), end, "one step up moves at once");
}

#[test]
fn the_footer_always_shows_help_and_quit() {
    let mut app = busy_app();
    for _ in 0..3 {
        let text = screen(&app, 80, 24);
        let footer = text.lines().last().unwrap();
        assert!(
            footer.contains("? help") && footer.contains("q quit"),
            "{footer}"
        );
        press(&mut app, KeyCode::Tab);
    }
}

#[test]
fn at_40x12_a_call_row_is_visible() {
    let app = crowded_app();
    let text = screen(&app, 40, 12);
    assert!(
        text.contains("billing.r") || text.contains("crm.get"),
        "{text}"
    );
}

// ----- defects 15 and 16: what the header and the rows say ------------------------------

#[test]
fn the_reconnect_reason_is_not_cut_at_80_columns() {
    let mut app = busy_app();
    let reason =
        "app-server exited: approval_policy = \"untrusted\" is no longer supported (exit status 2)";
    feed(
        &mut app,
        [BridgeEvent::Connection {
            app_server: "local".to_string(),
            transport: "stdio (/usr/bin/codex)".to_string(),
            state: ConnectionState::Reconnecting {
                attempt: 3,
                max_attempts: 10,
                delay_ms: 2000,
                reason: reason.to_string(),
            },
        }],
    );
    let text = screen(&app, 80, 24).replace(['\n', '│'], " ");
    let squashed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        squashed.contains("no longer supported (exit status 2)"),
        "{squashed}"
    );
}

#[test]
fn codex_retries_and_recoveries_say_what_they_are() {
    let mut app = busy_app();
    feed(
        &mut app,
        [
            BridgeEvent::SessionUpdated {
                session: session(2, SessionStatus::ResumeFailed),
            },
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    8,
                    TranscriptEntry::Error {
                        message: "stream disconnected before completion (app-server will retry)"
                            .to_string(),
                    },
                ),
            },
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    9,
                    TranscriptEntry::Notice {
                        message: "resumed after the app-server connection came back: 0 call(s) still waiting, 150 ended meanwhile".to_string(),
                    },
                ),
            },
        ],
    );
    let terminal = draw(&app, 80, 24);
    let text = lines(&terminal).join("\n");
    assert!(text.contains("codex retries"), "{text}");
    assert!(!text.contains("0 call(s) still waiting"), "{text}");
    assert!(text.contains("150 call(s) ended"), "{text}");
    let buffer = terminal.backend().buffer();
    let (x, y) = (0..24u16)
        .flat_map(|y| (0..80u16).map(move |x| (x, y)))
        .find(|&(x, y)| {
            buffer[(x, y)].symbol() == "n"
                && (x..x + 13)
                    .map(|x| buffer[(x.min(79), y)].symbol())
                    .collect::<String>()
                    == "not resumable"
        })
        .expect("badge shown");
    assert_ne!(buffer[(x, y)].fg, Color::Green);
}

#[test]
fn the_token_is_not_in_the_header_for_good_and_sessions_have_real_titles() {
    let mut app = busy_app();
    app.listen = Some(crate::console::app::ListenInfo {
        url: "http://127.0.0.1:7070".to_string(),
        token: "sb_secret_0123456789abcdef".to_string(),
    });
    let text = screen(&app, 160, 48);
    assert!(!text.contains("sb_secret_0123456789abcdef"), "{text}");
    assert!(
        text.contains("Look up T-1 and escalate it"),
        "titled by its first message:\n{text}"
    );
    keys(&mut app, "?");
    assert!(screen(&app, 160, 48).contains("sb_secret_0123456789abcdef"));
}

#[test]
fn errors_show_short_thread_ids() {
    let mut app = busy_app();
    feed(
        &mut app,
        [BridgeEvent::TranscriptAppended {
            thread_id: thread(1),
            row: row(
                8,
                TranscriptEntry::Error {
                    message: format!("thread {} not found", thread(1)),
                },
            ),
        }],
    );
    let text = screen(&app, 160, 48);
    assert!(text.contains("thread 00000001 not found"), "{text}");
}

// ----- defect 4: a `/` filter on every list ---------------------------------------------

#[test]
fn every_list_filters_case_insensitively_with_a_count() {
    let mut app = busy_app();
    // Sessions.
    keys(&mut app, "/LOOK");
    press(&mut app, KeyCode::Enter);
    assert!(screen(&app, 80, 24).contains("Sessions 1 of 2"));
    keys(&mut app, "/");
    press(&mut app, KeyCode::Esc);
    assert!(screen(&app, 80, 24).contains("Sessions (2)"));
    // Transcript.
    press(&mut app, KeyCode::Tab);
    keys(&mut app, "/ESCALATE");
    let text = screen(&app, 160, 48);
    assert!(text.contains("of 8 row(s)"), "{text}");
    press(&mut app, KeyCode::Esc);
    // Inspector.
    keys(&mut app, "t/LOOKUP");
    press(&mut app, KeyCode::Enter);
    let text = screen(&app, 80, 24);
    assert!(text.contains("Tools 1 of 2"), "{text}");
}

#[test]
fn a_marked_range_covers_only_the_calls_the_filter_shows() {
    let mut app = crowded_app();
    keys(&mut app, "/crm.get");
    press(&mut app, KeyCode::Enter);
    keys(&mut app, " jjjV");
    assert_eq!(app.marked.len(), 5);
    for id in &app.marked {
        let call = app
            .model
            .pending
            .iter()
            .find(|c| &c.request_id == id)
            .unwrap();
        assert_eq!(call.namespace.as_deref(), Some("crm"), "{id}");
    }
    let text = screen(&app, 80, 24);
    assert!(text.contains("5 marked") && text.contains('●'), "{text}");
}

/// After a message is sent the focus moves to the transcript, where letters are
/// commands; the composer's "type a message" hint invited typing there, and the first
/// `c` of the next message opened "Close session?". Unfocused, it says how to get back.
#[test]
fn an_unfocused_composer_says_how_to_type_into_it() {
    let mut app = busy_app();
    app.focus = Focus::Transcript;
    let text = screen(&app, 80, 24);
    assert!(text.contains("press i to write a message"), "{text}");
    assert!(
        !text.contains("type a message for the selected session"),
        "{text}"
    );
    app.focus = Focus::Composer;
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("type a message for the selected session"),
        "{text}"
    );
}

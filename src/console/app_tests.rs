//! Key-driven state transitions of the console, without a terminal or a bridge.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use pretty_assertions::assert_eq;
use ratatui::layout::Rect;

use super::*;
use crate::bridge::{Answerer, CallEnd, ResolvedCall, Responder, SessionStatus};
use crate::console::editor::EditorMode;
use crate::console::test_support::*;
use crate::protocol::ToolCallResult;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn press(app: &mut App, keys: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in keys.chars() {
        effects.extend(app.on_key(key(KeyCode::Char(c))));
    }
    effects
}

fn resolved(
    request_id: &str,
    thread: String,
    by: Option<Responder>,
    status: CallEnd,
) -> ResolvedCall {
    ResolvedCall {
        request_id: request_id.to_string(),
        thread_id: thread,
        turn_id: "turn-0000000000001".to_string(),
        call_id: "call".to_string(),
        tool: "escalate_ticket".to_string(),
        status,
        success: status == CallEnd::Resolved,
        answered_by: by,
        reason: None,
        latency_ms: 40,
        result: None,
    }
}

#[test]
fn creating_a_session_then_sending_a_message() {
    let mut app = app();
    assert_eq!(
        press(&mut app, "n"),
        vec![Effect::Bridge(Request::CreateSession)]
    );
    app.on_outcome(Outcome::SessionCreated(Ok(session(1, SessionStatus::Idle))));
    assert_eq!(app.focus, Focus::Composer);
    assert_eq!(app.selected_thread(), Some(thread(1).as_str()));

    // Letters are text in the composer: 'q' does not quit.
    assert!(press(&mut app, "quote").is_empty());
    assert!(!app.quit);
    let effects = app.on_key(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Send {
            thread_id: thread(1),
            text: "quote".to_string()
        })]
    );
    assert_eq!(app.composer.lines(), [""]);
    // An empty message is not sent.
    assert!(app.on_key(key(KeyCode::Enter)).is_empty());
    assert_eq!(app.notice.as_deref(), Some("type a message first"));
}

#[test]
fn quitting_asks_first_only_when_calls_wait_on_a_person() {
    let mut idle = app();
    press(&mut idle, "q");
    assert!(idle.quit);

    let mut busy = busy_app();
    press(&mut busy, "q");
    assert!(!busy.quit);
    assert!(matches!(
        busy.top(),
        Some(Overlay::ConfirmQuit { waiting: 1 })
    ));
    press(&mut busy, "n");
    assert!(busy.overlays.is_empty() && !busy.quit);
    press(&mut busy, "qy");
    assert!(busy.quit);
}

#[test]
fn a_call_waiting_on_a_person_rings_and_retitles() {
    let mut app = app();
    app.on_bridge_event(BridgeEvent::SessionStarted {
        session: session(1, SessionStatus::Running),
    });
    let effects = app.on_bridge_event(BridgeEvent::ToolCallRequested {
        call: call(1, 1, "escalate_ticket", Answerer::Person),
    });
    assert_eq!(
        effects,
        vec![
            Effect::Bell,
            Effect::Title("Switchboard (1 waiting on you)".to_string())
        ]
    );
    assert_eq!(app.session_badge(&app.model.sessions[0]), "waiting on you");
    // A call a handler answers rings nothing.
    let effects = app.on_bridge_event(BridgeEvent::ToolCallRequested {
        call: call(
            2,
            1,
            "lookup_ticket",
            Answerer::Handler {
                name: "lookup_ticket".to_string(),
            },
        ),
    });
    assert_eq!(effects, vec![]);
    let effects = app.on_bridge_event(BridgeEvent::ToolCallResolved {
        call: resolved(
            "req-1",
            thread(1),
            Some(Responder::Operator),
            CallEnd::Resolved,
        ),
    });
    assert_eq!(effects, vec![Effect::Title("Switchboard".to_string())]);
    assert_eq!(app.model.totals.answered_by_hand, 1);
    assert_eq!(app.model.pending.len(), 1);
}

#[test]
fn answering_a_call_from_the_queue_in_text_mode() {
    let mut app = busy_app();
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.focus, Focus::Queue);
    assert_eq!(app.selected_call().unwrap().request_id, "req-3");
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.context(), Context::Editor);
    press(&mut app, "approved by Maria");
    let effects = app.on_key(ctrl('s'));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Respond {
            request_id: "req-3".to_string(),
            result: ToolCallResult::text(true, "approved by Maria"),
        })]
    );
    // A second ^S while sending does nothing.
    assert!(app.on_key(ctrl('s')).is_empty());
    app.on_outcome(Outcome::Responded {
        request_id: "req-3".to_string(),
        result: Ok(RespondOutcome::Accepted),
    });
    assert!(app.overlays.is_empty());
    assert_eq!(app.notice.as_deref(), Some("answer sent"));
}

#[test]
fn invalid_raw_input_is_never_sent() {
    let mut app = busy_app();
    press(&mut app, "a");
    app.on_key(ctrl('t'));
    let Some(editor) = app.editor_mut() else {
        panic!("no editor")
    };
    assert_eq!(editor.mode, EditorMode::Raw);
    editor.textarea.select_all();
    editor.textarea.cut();
    editor.textarea.insert_str("{\"contentItems\": [}");
    assert!(app.on_key(ctrl('s')).is_empty());
    let Some(editor) = app.editor() else {
        panic!("no editor")
    };
    let message = editor.message.clone().unwrap();
    assert!(message.starts_with("not sent: line 1, column"), "{message}");
}

#[test]
fn a_call_that_ends_while_the_editor_is_open_cannot_be_answered() {
    let mut app = busy_app();
    press(&mut app, "a");
    press(&mut app, "late answer");
    app.on_bridge_event(BridgeEvent::ToolCallResolved {
        call: resolved("req-3", thread(1), None, CallEnd::Expired),
    });
    assert!(app.on_key(ctrl('s')).is_empty());
    let Some(editor) = app.editor() else {
        panic!("no editor")
    };
    assert_eq!(editor.message.as_deref(), Some("call already ended"));

    // And an answer the bridge refuses as not found says the same.
    let mut app = busy_app();
    press(&mut app, "a");
    press(&mut app, "x");
    app.on_key(ctrl('s'));
    app.on_outcome(Outcome::Responded {
        request_id: "req-3".to_string(),
        result: Ok(RespondOutcome::NotFound),
    });
    let Some(editor) = app.editor() else {
        panic!("no editor")
    };
    assert_eq!(editor.message.as_deref(), Some("call already ended"));
}

#[test]
fn running_the_handler_loads_its_answer_for_review() {
    let mut app = busy_app();
    // The flagged lookup_ticket call has a handler.
    app.focus = Focus::Queue;
    app.selected_call = 1;
    app.on_key(key(KeyCode::Enter));
    let effects = app.on_key(ctrl('r'));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::RunHandler {
            request_id: "req-2".to_string()
        })]
    );
    app.on_outcome(Outcome::HandlerRan {
        request_id: "req-2".to_string(),
        result: Ok((ToolCallResult::text(true, "ticket T-1: open"), None)),
    });
    let Some(editor) = app.editor() else {
        panic!("no editor")
    };
    assert_eq!(editor.mode, EditorMode::Raw);
    assert_eq!(
        editor.validate().unwrap(),
        ToolCallResult::text(true, "ticket T-1: open")
    );

    // A manual tool has nothing to run.
    let mut app = busy_app();
    press(&mut app, "a");
    assert!(app.on_key(ctrl('r')).is_empty());
}

#[test]
fn failing_a_call_with_a_reason() {
    let mut app = busy_app();
    press(&mut app, "a");
    app.on_key(ctrl('f'));
    assert!(app.on_key(ctrl('s')).is_empty(), "a reason is required");
    press(&mut app, "no supervisor on duty");
    let effects = app.on_key(ctrl('s'));
    let [Effect::Bridge(Request::Respond { result, .. })] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert!(!result.success);
    assert!(result.joined_text().contains("no supervisor on duty"));
}

#[test]
fn hold_switches() {
    let mut app = busy_app();
    assert_eq!(
        press(&mut app, "h"),
        vec![Effect::Bridge(Request::Hold(HoldChange::All(true)))]
    );
    app.focus = Focus::Queue;
    app.selected_call = 1;
    assert_eq!(
        press(&mut app, "H"),
        vec![Effect::Bridge(Request::Hold(HoldChange::Tool {
            tool: "lookup_ticket".to_string(),
            held: true
        }))]
    );
    app.on_bridge_event(BridgeEvent::HoldChanged {
        hold: HoldState {
            all: false,
            tools: ["lookup_ticket".to_string()].into(),
        },
    });
    assert_eq!(
        press(&mut app, "H"),
        vec![Effect::Bridge(Request::Hold(HoldChange::Tool {
            tool: "lookup_ticket".to_string(),
            held: false
        }))]
    );
}

#[test]
fn the_transcript_follows_the_tail_until_scrolled_up() {
    let mut app = busy_app();
    let rows = app.transcript(&thread(1)).unwrap().rows.len();
    app.focus = Focus::Transcript;
    assert!(app.transcript(&thread(1)).unwrap().follow);
    app.on_key(key(KeyCode::Up));
    app.on_key(key(KeyCode::Up));
    let view = &app.transcript(&thread(1)).unwrap();
    assert!(!view.follow);
    assert_eq!(view.bottom(), rows - 3);
    app.on_bridge_event(BridgeEvent::TranscriptAppended {
        thread_id: thread(1),
        row: row(100, crate::bridge::TranscriptEntry::TurnStarted),
    });
    assert_eq!(
        app.transcript(&thread(1)).unwrap().bottom(),
        rows - 3,
        "scrolled view stays put"
    );
    app.on_key(key(KeyCode::Enter));
    let seq = app.transcript(&thread(1)).unwrap().rows[rows - 3].seq;
    assert!(app.transcript(&thread(1)).unwrap().expanded.contains(&seq));
    app.on_key(key(KeyCode::End));
    let view = &app.transcript(&thread(1)).unwrap();
    assert!(view.follow);
    assert_eq!(view.bottom(), rows);
}

#[test]
fn interrupt_close_and_resume() {
    let mut app = busy_app();
    assert_eq!(
        press(&mut app, "x"),
        vec![Effect::Bridge(Request::Interrupt {
            thread_id: thread(1)
        })]
    );
    assert!(press(&mut app, "c").is_empty());
    assert_eq!(app.context(), Context::Confirm);
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::Bridge(Request::Close {
            thread_id: thread(1)
        })]
    );

    assert_eq!(
        press(&mut app, "r"),
        vec![Effect::Bridge(Request::ListThreads)]
    );
    let listed: Vec<crate::protocol::ThreadInfo> = serde_json::from_value(serde_json::json!([
        {"id": "thread-a", "preview": "first"},
        {"id": "thread-b", "preview": "second"}
    ]))
    .unwrap();
    app.on_outcome(Outcome::Threads(Ok(listed)));
    assert_eq!(app.context(), Context::Picker);
    app.on_key(key(KeyCode::Down));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Effect::Bridge(Request::Resume {
            thread_id: "thread-b".to_string()
        })]
    );
    assert!(app.overlays.is_empty());
}

#[test]
fn views_and_the_log_filter() {
    let mut app = busy_app();
    press(&mut app, "l");
    assert_eq!(app.context(), Context::ProtocolLog);
    press(&mut app, "/");
    assert_eq!(app.context(), Context::LogFilter);
    press(&mut app, "tool/call");
    assert_eq!(app.protocol.filter_text(), "tool/call");
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.context(), Context::ProtocolLog);
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.view, View::Main);
    press(&mut app, "t");
    assert_eq!(app.context(), Context::Inspector);
    press(&mut app, "j");
    assert_eq!(app.inspector_selected, 1);
    press(&mut app, "?");
    assert_eq!(app.context(), Context::Help);
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.context(), Context::Inspector);
}

#[test]
fn pasted_line_ends_are_normalised() {
    let mut app = busy_app();
    press(&mut app, "i");
    app.on_paste("first\r\nsecond\rthird");
    assert_eq!(app.composer.lines(), ["first", "second", "third"]);
}

#[test]
fn lagging_behind_the_bridge_asks_for_a_resync() {
    let mut app = busy_app();
    assert_eq!(
        app.on_bridge_event(BridgeEvent::Lagged { skipped: 12 }),
        vec![Effect::Resync]
    );
}

#[test]
fn clicking_selects_and_a_second_click_opens_the_editor() {
    let mut app = busy_app();
    let screen = Rect::new(0, 0, 80, 24);
    let areas = crate::console::ui::main_layout(screen);
    let click = |row: u16| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: areas.queue.x + 3,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // Border, header, then the first call; the second call is one row lower.
    app.on_mouse(click(areas.queue.y + 3), screen);
    assert_eq!((app.focus, app.selected_call), (Focus::Queue, 1));
    app.on_mouse(click(areas.queue.y + 3), screen);
    assert_eq!(app.context(), Context::Editor);

    let mut app = busy_app();
    let second_session = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: areas.sessions.x + 2,
        row: areas.sessions.y + 3,
        modifiers: KeyModifiers::NONE,
    };
    app.on_mouse(second_session, screen);
    assert_eq!(app.selected_thread(), Some(thread(2).as_str()));
}

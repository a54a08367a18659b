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
        namespace: None,
        schema_problems: Vec::new(),
        output_schema_problems: Vec::new(),
        handler_failure: None,
        timed_out: false,
    }
}

#[test]
fn creating_a_session_then_sending_a_message() {
    let mut app = app();
    assert_eq!(
        press(&mut app, "n"),
        vec![Effect::Bridge(Request::CreateSession { app_server: None })]
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
    app.on_outcome(Outcome::Sent(Ok("turn-1".to_string())));
    assert_eq!(app.composer.lines(), [""]);
    // An empty message is not sent.
    app.focus = Focus::Composer;
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
    // The title changes at most once a second.
    app.now_ms += 1_000;
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
            claim: RespondClaim::None,
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
    app.on_key(fkey(2));
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
    let mut expired = resolved("req-3", thread(1), None, CallEnd::Expired);
    expired.reason = Some("turn interrupted".to_string());
    app.on_bridge_event(BridgeEvent::ToolCallResolved { call: expired });
    assert!(app.on_key(ctrl('s')).is_empty());
    let Some(editor) = app.editor() else {
        panic!("no editor")
    };
    // Defect 15: it says how the call ended.
    assert_eq!(
        editor.message.as_deref(),
        Some("call already ended (expired: turn interrupted)")
    );

    // An answer the bridge refuses as not found says the same; the event that ended
    // the call, arriving after the reply, says who answered it.
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
    app.on_bridge_event(BridgeEvent::ToolCallResolved {
        call: resolved(
            "req-3",
            thread(1),
            Some(Responder::Remote {
                client: "worker-7".to_string(),
            }),
            CallEnd::Resolved,
        ),
    });
    let Some(editor) = app.editor() else {
        panic!("no editor")
    };
    assert_eq!(
        editor.message.as_deref(),
        Some("call already ended (answered over the API by worker-7)")
    );

    // And when the event came first, the refusal says it at once.
    let mut app = busy_app();
    press(&mut app, "a");
    press(&mut app, "x");
    app.on_key(ctrl('s'));
    app.on_bridge_event(BridgeEvent::ToolCallResolved {
        call: resolved(
            "req-3",
            thread(1),
            Some(Responder::Handler {
                name: "lookup".to_string(),
            }),
            CallEnd::Resolved,
        ),
    });
    app.on_outcome(Outcome::Responded {
        request_id: "req-3".to_string(),
        result: Ok(RespondOutcome::NotFound),
    });
    let Some(editor) = app.editor() else {
        panic!("no editor")
    };
    assert_eq!(
        editor.message.as_deref(),
        Some("call already ended (answered by handler lookup)")
    );
}

#[test]
fn running_the_handler_loads_its_answer_for_review() {
    let mut app = busy_app();
    // The flagged lookup_ticket call has a handler.
    app.focus = Focus::Queue;
    app.selected_call = 1;
    app.on_key(key(KeyCode::Enter));
    let effects = app.on_key(fkey(5));
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
    // One text item is reviewed as its text.
    assert_eq!(editor.mode, EditorMode::Text);
    assert_eq!(
        editor.validate().unwrap(),
        ToolCallResult::text(true, "ticket T-1: open")
    );

    // A manual tool has nothing to run.
    let mut app = busy_app();
    press(&mut app, "a");
    assert!(app.on_key(fkey(5)).is_empty());
}

#[test]
fn failing_a_call_with_a_reason() {
    let mut app = busy_app();
    press(&mut app, "a");
    app.on_key(fkey(3));
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

/// Bug (polish16 1): the operator waits in the queue while the transcript follows;
/// opening and closing the editor or a card (Esc, or answering) is not a scroll, so the
/// transcript keeps following instead of jumping to the call's request row.
#[test]
fn following_survives_opening_and_closing_the_editor_and_cards() {
    let mut app = busy_app();
    app.on_bridge_event(BridgeEvent::TranscriptAppended {
        thread_id: thread(1),
        row: row(
            50,
            crate::bridge::TranscriptEntry::ToolCallRequest {
                request_id: "req-3".to_string(),
                call_id: "call_3".to_string(),
                tool: "escalate_ticket".to_string(),
                namespace: None,
                arguments: serde_json::json!({"ticket_id": "T-1"}),
                answerer: "you".to_string(),
            },
        ),
    });
    app.focus = Focus::Queue;
    let follows = |app: &App| app.transcript(&thread(1)).unwrap().follow;
    assert!(follows(&app));
    assert_eq!(app.selected_call().unwrap().request_id, "req-3");

    // An approval card, opened and closed without deciding.
    app.on_bridge_event(BridgeEvent::RequestOpened {
        request: crate::console::cards::tests::command_request(),
    });
    press(&mut app, "A");
    assert_eq!(app.context(), Context::Card);
    app.on_key(key(KeyCode::Esc));
    assert!(app.overlays.is_empty());
    assert!(follows(&app), "closing a card is not a scroll");

    // The editor, closed with Esc.
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.context(), Context::Editor);
    app.on_key(key(KeyCode::Esc));
    assert!(app.overlays.is_empty());
    assert!(follows(&app), "closing the editor is not a scroll");

    // The editor, answering.
    app.on_key(key(KeyCode::Enter));
    press(&mut app, "escalated");
    app.on_key(ctrl('s'));
    app.on_outcome(Outcome::Responded {
        request_id: "req-3".to_string(),
        result: Ok(RespondOutcome::Accepted),
    });
    app.on_bridge_event(BridgeEvent::ToolCallResolved {
        call: resolved(
            "req-3",
            thread(1),
            Some(Responder::Operator),
            CallEnd::Resolved,
        ),
    });
    assert!(app.overlays.is_empty());
    assert!(follows(&app), "answering is not a scroll");
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
    assert_eq!(app.context(), Context::Filter);
    press(&mut app, "tool/call");
    assert_eq!(app.views.log_filter.text(), "tool/call");
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

fn fkey(n: u8) -> KeyEvent {
    key(KeyCode::F(n))
}

fn editor_text(app: &App) -> String {
    app.editor().map(|e| e.text()).unwrap_or_default()
}

// ----- defect 6: drafts survive ----------------------------------------------------------

#[test]
fn ctrl_c_in_the_editor_keeps_it_and_a_second_ctrl_c_asks_over_it() {
    let mut app = busy_app();
    press(&mut app, "a");
    press(&mut app, "a long answer");
    app.on_key(ctrl('c'));
    assert_eq!(app.context(), Context::Editor, "one ^C only warns");
    assert!(!app.quit);
    assert_eq!(editor_text(&app), "a long answer");
    app.on_key(ctrl('c'));
    assert_eq!(
        app.context(),
        Context::Confirm,
        "calls wait: the quit asks first"
    );
    assert!(!app.quit);
    press(&mut app, "n");
    assert_eq!(
        app.context(),
        Context::Editor,
        "the dialog was over the editor"
    );
    assert_eq!(editor_text(&app), "a long answer");
}

#[test]
fn ctrl_f_moves_the_cursor_and_mode_keys_keep_the_text() {
    let mut app = busy_app();
    press(&mut app, "a");
    press(&mut app, "ab");
    app.on_key(key(KeyCode::Left));
    app.on_key(key(KeyCode::Left));
    app.on_key(ctrl('f'));
    press(&mut app, "X");
    assert_eq!(
        editor_text(&app),
        "aXb",
        "^F is forward-char, as in the textarea"
    );
    assert_eq!(app.editor().unwrap().mode, EditorMode::Text);
    // F3 fails the call with what was typed as the reason, and back.
    app.on_key(fkey(3));
    assert_eq!(app.editor().unwrap().mode, EditorMode::Fail);
    assert_eq!(editor_text(&app), "aXb");
    app.on_key(fkey(3));
    assert_eq!(app.editor().unwrap().mode, EditorMode::Text);
    assert_eq!(editor_text(&app), "aXb");
    // F2 goes to raw and back, keeping a single text item.
    app.on_key(fkey(2));
    assert_eq!(app.editor().unwrap().mode, EditorMode::Raw);
    app.on_key(fkey(2));
    assert_eq!(editor_text(&app), "aXb");
}

#[test]
fn a_draft_is_kept_per_call_when_the_editor_closes() {
    let mut app = busy_app();
    press(&mut app, "a");
    press(&mut app, "half an answer");
    app.on_key(key(KeyCode::Esc));
    assert!(app.overlays.is_empty());
    // Another call's editor starts empty.
    app.focus = Focus::Queue;
    app.selected_call = 1;
    app.on_key(key(KeyCode::Enter));
    assert_eq!(editor_text(&app), "");
    app.on_key(key(KeyCode::Esc));
    // The first call's draft is back.
    app.selected_call = 0;
    app.on_key(key(KeyCode::Enter));
    assert_eq!(editor_text(&app), "half an answer");
}

#[test]
fn the_composer_keeps_its_text_until_the_send_succeeds() {
    let mut app = busy_app();
    press(&mut app, "i");
    press(&mut app, "hello");
    let effects = app.on_key(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Send {
            thread_id: thread(1),
            text: "hello".to_string()
        })]
    );
    app.on_outcome(Outcome::Sent(Err("session is closed".to_string())));
    assert_eq!(
        app.composer.lines(),
        ["hello"],
        "a failed send keeps the text"
    );
    assert!(app.notice.as_deref().unwrap().contains("not sent"));
    app.focus = Focus::Composer;
    app.on_key(key(KeyCode::Enter));
    app.on_outcome(Outcome::Sent(Ok("turn-2".to_string())));
    assert_eq!(app.composer.lines(), [""]);
}

// ----- defects 2 and 3: focus traps, `a` in the queue ------------------------------------

#[test]
fn sending_leaves_the_composer_so_a_answers() {
    let mut app = busy_app();
    press(&mut app, "i");
    press(&mut app, "go");
    app.on_key(key(KeyCode::Enter));
    assert_ne!(app.focus, Focus::Composer);
    press(&mut app, "a");
    assert_eq!(app.context(), Context::Editor);
}

#[test]
fn tab_in_the_composer_moves_focus() {
    let mut app = busy_app();
    press(&mut app, "i");
    press(&mut app, "x");
    app.on_key(key(KeyCode::Tab));
    assert_ne!(app.focus, Focus::Composer);
    assert_eq!(app.composer.lines(), ["x"]);
}

#[test]
fn a_in_the_queue_answers_the_selected_call() {
    let mut app = busy_app();
    app.focus = Focus::Queue;
    app.selected_call = 1;
    press(&mut app, "a");
    assert_eq!(app.editor().unwrap().call.request_id, "req-2");
}

// ----- defect 14: dialogs ----------------------------------------------------------------

#[test]
fn enter_never_confirms_a_destructive_dialog() {
    let mut app = busy_app();
    press(&mut app, "q");
    assert_eq!(app.context(), Context::Confirm);
    app.on_key(key(KeyCode::Enter));
    assert!(!app.quit);
    press(&mut app, "y");
    assert!(app.quit);

    let mut app = busy_app();
    press(&mut app, "c");
    assert!(app.on_key(key(KeyCode::Enter)).is_empty());
    assert_eq!(app.context(), Context::Confirm);
}

#[test]
fn ctrl_c_in_the_quit_dialog_quits() {
    let mut app = busy_app();
    press(&mut app, "q");
    app.on_key(ctrl('c'));
    assert!(app.quit);
}

#[test]
fn closing_a_closed_session_does_not_ask() {
    let mut app = busy_app();
    app.on_bridge_event(BridgeEvent::SessionClosed {
        thread_id: thread(1),
        reason: "closed by the operator".to_string(),
    });
    assert!(press(&mut app, "c").is_empty());
    assert!(app.overlays.is_empty());
    assert!(app.notice.as_deref().unwrap().contains("already closed"));
}

// ----- defect 5: one bell per burst ------------------------------------------------------

#[test]
fn a_burst_of_calls_rings_once_and_retitles_at_most_once_a_second() {
    let mut app = app();
    app.on_bridge_event(BridgeEvent::SessionStarted {
        session: session(1, SessionStatus::Running),
    });
    let mut bells = 0;
    let mut titles = Vec::new();
    for n in 0..150u32 {
        // A call every 10 ms: the burst lasts 1.5 s.
        app.now_ms = NOW_MS + i64::from(n) * 10;
        for effect in app.on_bridge_event(BridgeEvent::ToolCallRequested {
            call: call(1000 + n, 1, "escalate_ticket", Answerer::Person),
        }) {
            match effect {
                Effect::Bell => bells += 1,
                Effect::Title(t) => titles.push(t),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(bells, 1);
    assert!(titles.len() <= 2, "{titles:?}");
    app.now_ms += 1_000;
    let effects = app.on_tick();
    assert_eq!(
        effects,
        vec![Effect::Title(
            "Switchboard (150 waiting on you)".to_string()
        )]
    );
    // A new call after a quiet second rings again.
    app.now_ms += 5_000;
    let effects = app.on_bridge_event(BridgeEvent::ToolCallRequested {
        call: call(2000, 1, "escalate_ticket", Answerer::Person),
    });
    assert!(effects.contains(&Effect::Bell), "{effects:?}");
}

// ----- defect 8: the queue acts on the selected call's session ---------------------------

fn respond_ids(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bridge(Request::Respond { request_id, .. }) => Some(request_id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn x_and_c_in_the_queue_act_on_the_selected_calls_session() {
    let mut app = busy_app();
    app.focus = Focus::Queue;
    // The flagged call belongs to session 2; the Sessions pane still selects session 1.
    app.selected_call = 1;
    assert_eq!(
        press(&mut app, "x"),
        vec![Effect::Bridge(Request::Interrupt {
            thread_id: thread(2)
        })]
    );
    press(&mut app, "c");
    assert!(
        matches!(app.top(), Some(Overlay::ConfirmClose { thread_id }) if *thread_id == thread(2))
    );
}

#[test]
fn selecting_a_call_shows_its_session_at_its_request_row() {
    let mut app = busy_app();
    app.on_bridge_event(BridgeEvent::TranscriptAppended {
        thread_id: thread(1),
        row: row(
            50,
            crate::bridge::TranscriptEntry::ToolCallRequest {
                request_id: "req-3".to_string(),
                call_id: "call_3".to_string(),
                tool: "escalate_ticket".to_string(),
                namespace: None,
                arguments: serde_json::json!({"ticket_id": "T-1"}),
                answerer: "you".to_string(),
            },
        ),
    });
    for seq in 51..60 {
        app.on_bridge_event(BridgeEvent::TranscriptAppended {
            thread_id: thread(1),
            row: row(seq, crate::bridge::TranscriptEntry::TurnStarted),
        });
    }
    app.focus = Focus::Queue;
    press(&mut app, "j");
    assert_eq!(app.selected_thread(), Some(thread(2).as_str()));
    press(&mut app, "k");
    assert_eq!(app.selected_thread(), Some(thread(1).as_str()));
    let view = app.transcript(&thread(1)).unwrap();
    assert!(!view.follow);
    let shown = &view.rows[view.bottom()];
    assert_eq!(shown.seq, 50, "the call's request row is on screen");
}

fn app_with_escalations(n: u32) -> App {
    let mut app = busy_app();
    for i in 0..n {
        app.on_bridge_event(BridgeEvent::ToolCallRequested {
            call: call(10 + i, 1, "escalate_ticket", Answerer::Person),
        });
    }
    app
}

#[test]
fn marked_calls_get_the_same_answer_at_once() {
    // Queue: req-3, req-2 (lookup), req-10, req-11, req-12.
    let mut app = app_with_escalations(3);
    app.focus = Focus::Queue;
    app.selected_call = 2;
    press(&mut app, " ");
    assert_eq!(app.selected_call, 3, "marking moves down");
    press(&mut app, "j");
    press(&mut app, "V");
    assert_eq!(
        app.marked.iter().cloned().collect::<Vec<_>>(),
        ["req-10", "req-11", "req-12"]
    );
    app.selected_call = 0;
    app.on_key(key(KeyCode::Enter));
    press(&mut app, "done");
    let effects = app.on_key(fkey(6));
    assert_eq!(
        respond_ids(&effects),
        ["req-3", "req-10", "req-11", "req-12"]
    );
    assert!(app.marked.is_empty());
    for id in ["req-10", "req-11", "req-12"] {
        app.on_outcome(Outcome::Responded {
            request_id: id.to_string(),
            result: Ok(RespondOutcome::Accepted),
        });
    }
    assert_eq!(
        app.notice.as_deref(),
        Some("answered 3 more call(s) at once")
    );
}

#[test]
fn the_rest_of_a_tools_calls_can_be_answered_like_this_one() {
    let mut app = app_with_escalations(2);
    press(&mut app, "a");
    app.on_key(fkey(3));
    press(&mut app, "no supervisor today");
    let effects = app.on_key(fkey(7));
    assert_eq!(respond_ids(&effects), ["req-3", "req-10", "req-11"]);
    for effect in &effects {
        let Effect::Bridge(Request::Respond { result, .. }) = effect else {
            panic!("{effect:?}")
        };
        assert!(!result.success, "a failure goes to every call");
    }
}

#[test]
fn held_calls_are_handed_back_with_their_proposals() {
    let mut app = busy_app();
    let mut held = call(
        7,
        1,
        "lookup_ticket",
        Answerer::Review {
            name: "lookup_ticket".to_string(),
        },
    );
    held.proposed = Some(ToolCallResult::text(true, "ticket T-1: open"));
    app.on_bridge_event(BridgeEvent::ToolCallRequested { call: held });
    app.focus = Focus::Queue;
    app.selected_call = 2;
    let effects = press(&mut app, "B");
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Respond {
            request_id: "req-7".to_string(),
            result: ToolCallResult::text(true, "ticket T-1: open"),
            claim: RespondClaim::First {
                holder: "operator".to_string(),
                lease_ms: 30_000,
            },
        })]
    );
}

#[test]
fn the_notice_history_keeps_what_flashed_by() {
    let mut app = busy_app();
    press(&mut app, "c");
    app.on_key(key(KeyCode::Esc));
    app.on_bridge_event(BridgeEvent::SessionClosed {
        thread_id: thread(1),
        reason: "x".to_string(),
    });
    press(&mut app, "c");
    press(&mut app, "j");
    press(&mut app, "N");
    assert_eq!(app.context(), Context::Notices);
    assert!(
        app.notices
            .iter()
            .any(|(_, n)| n.contains("already closed"))
    );
}

// ----- defects 7 and 16 ------------------------------------------------------------------

#[test]
fn ctrl_l_redraws_and_ctrl_z_suspends_from_anywhere() {
    let mut app = busy_app();
    assert_eq!(app.on_key(ctrl('l')), vec![Effect::Redraw]);
    press(&mut app, "a");
    press(&mut app, "draft");
    assert_eq!(app.on_key(ctrl('z')), vec![Effect::Suspend]);
    assert_eq!(editor_text(&app), "draft", "the editor is still there");
}

#[test]
fn holding_a_manual_tool_says_there_is_nothing_to_hold() {
    let mut app = busy_app();
    app.focus = Focus::Queue;
    // req-3 is escalate_ticket, which has no handler.
    assert!(press(&mut app, "H").is_empty());
    assert!(app.notice.as_deref().unwrap().contains("no handler"));
}

#[test]
fn typing_clears_what_the_editor_said_about_the_old_text() {
    let mut app = busy_app();
    press(&mut app, "a");
    app.on_key(ctrl('s'));
    assert!(
        app.editor()
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .contains("not sent")
    );
    press(&mut app, "x");
    assert_eq!(app.editor().unwrap().message, None);
}

// ----- the command line ------------------------------------------------------------------

fn command(app: &mut App, line: &str) -> Vec<Effect> {
    press(app, ":");
    assert_eq!(app.context(), Context::Command);
    app.on_paste(line);
    app.on_key(key(KeyCode::Enter))
}

#[test]
fn the_command_line_selects_sessions_and_tools_and_holds() {
    let mut app = busy_app();
    command(&mut app, "session 00000002");
    assert_eq!(app.selected_thread(), Some(thread(2).as_str()));
    command(&mut app, "tool lookup_ticket");
    assert_eq!((app.focus, app.selected_call), (Focus::Queue, 1));
    assert_eq!(
        command(&mut app, "hold lookup_ticket"),
        vec![Effect::Bridge(Request::Hold(HoldChange::Tool {
            tool: "lookup_ticket".to_string(),
            held: true
        }))]
    );
    command(&mut app, "nope");
    assert!(app.notice.as_deref().unwrap().contains("unknown command"));
    assert!(command(&mut app, "quit").is_empty());
    assert_eq!(app.context(), Context::Confirm, "calls wait: quitting asks");
}

#[test]
fn fail_all_asks_then_fails_every_call_waiting_on_you() {
    let mut app = app_with_escalations(2);
    command(&mut app, "fail-all supervisors are out");
    assert_eq!(app.context(), Context::Confirm);
    let effects = press(&mut app, "y");
    assert_eq!(respond_ids(&effects), ["req-3", "req-10", "req-11"]);
    let Effect::Bridge(Request::Respond { result, .. }) = &effects[0] else {
        panic!()
    };
    assert!(!result.success && result.joined_text().contains("supervisors are out"));
}

#[test]
fn tab_completes_a_command_and_its_argument() {
    let mut app = busy_app();
    press(&mut app, ":");
    press(&mut app, "ho");
    app.on_key(key(KeyCode::Tab));
    press(&mut app, "l");
    app.on_key(key(KeyCode::Tab));
    let Some(Overlay::Command { input, .. }) = app.top() else {
        panic!("no command line")
    };
    assert_eq!(input.lines(), ["hold lookup_ticket"]);
}

// ----- snapshots of the overlays this module adds ----------------------------------------

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in [(80, 24), (160, 48)] {
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| crate::console::ui::render(app, frame))
            .unwrap();
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

#[test]
fn command_line_with_candidates() {
    let mut app = busy_app();
    press(&mut app, ":");
    app.on_key(key(KeyCode::Tab));
    snapshot("command_line", &app);
}

#[test]
fn notice_history() {
    let mut app = busy_app();
    command(&mut app, "session nothing-like-it");
    command(&mut app, "tool lookup_ticket");
    press(&mut app, "N");
    snapshot("notice_history", &app);
}

#[test]
fn a_dialog_over_the_editor_with_a_draft() {
    let mut app = busy_app();
    press(&mut app, "a");
    press(&mut app, "Escalated to Maria");
    app.on_key(ctrl('c'));
    app.on_key(ctrl('c'));
    snapshot("quit_over_the_editor", &app);
}

// ----- the composer: lines, history, the external editor; copying ------------------------

#[test]
fn the_composer_takes_several_lines_and_recalls_what_was_sent() {
    let mut app = busy_app();
    press(&mut app, "i");
    press(&mut app, "first");
    app.on_key(ctrl('j'));
    press(&mut app, "second");
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT));
    press(&mut app, "third");
    assert_eq!(app.composer.lines(), ["first", "second", "third"]);
    let effects = app.on_key(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Send {
            thread_id: thread(1),
            text: "first\nsecond\nthird".to_string()
        })]
    );
    app.on_outcome(Outcome::Sent(Ok("turn-2".to_string())));
    press(&mut app, "i");
    press(&mut app, "draft");
    app.on_key(key(KeyCode::Up));
    assert_eq!(app.composer.lines(), ["first", "second", "third"]);
    app.on_key(key(KeyCode::Down));
    assert_eq!(
        app.composer.lines(),
        ["draft"],
        "back to what was being typed"
    );
}

#[test]
fn the_external_editor_edits_the_composer_or_the_answer() {
    let mut app = busy_app();
    press(&mut app, "i");
    press(&mut app, "short");
    let effects = app.on_key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::ALT));
    assert_eq!(
        effects,
        vec![Effect::EditExternally {
            target: EditTarget::Composer,
            text: "short".to_string()
        }]
    );
    app.on_edited(
        EditTarget::Composer,
        Ok("a much\nlonger prompt\n".to_string()),
    );
    assert_eq!(app.composer.lines(), ["a much", "longer prompt"]);

    app.on_key(key(KeyCode::Esc));
    press(&mut app, "a");
    let effects = app.on_key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::ALT));
    let [Effect::EditExternally { target, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    app.on_edited(target.clone(), Ok("edited answer".to_string()));
    assert_eq!(editor_text(&app), "edited answer");
    app.on_edited(target.clone(), Err("vi exited with 1".to_string()));
    assert_eq!(
        editor_text(&app),
        "edited answer",
        "a failed edit changes nothing"
    );
}

#[test]
fn copying_the_call_id_and_arguments() {
    let mut app = busy_app();
    app.focus = Focus::Queue;
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::Copy("req-3".to_string())]
    );
    let effects = press(&mut app, "Y");
    let [Effect::Copy(text)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert!(text.contains("\"ticket_id\": \"T-1\""), "{text}");
}

#[test]
fn a_session_whose_transcript_is_not_written_says_so_until_it_is() {
    let mut app = app();
    app.on_bridge_event(BridgeEvent::SessionStarted {
        session: session(1, SessionStatus::Idle),
    });
    let mut failing = session(1, SessionStatus::Idle);
    failing.persisted = false;
    failing.persist_error = Some("could not write transcript: No space left on device".into());
    app.on_bridge_event(BridgeEvent::SessionUpdated { session: failing });
    assert_eq!(app.session_badge(&app.model.sessions[0]), "not persisted");
    app.on_bridge_event(BridgeEvent::SessionUpdated {
        session: session(1, SessionStatus::Idle),
    });
    assert_eq!(app.session_badge(&app.model.sessions[0]), "idle");
}

#[test]
fn a_resume_after_calls_expired_does_not_say_that_none_wait() {
    let mut app = app();
    app.on_bridge_event(BridgeEvent::SessionStarted {
        session: session(1, SessionStatus::Idle),
    });
    app.on_bridge_event(BridgeEvent::SessionRecovery {
        thread_id: thread(1),
        step: crate::bridge::RecoveryStep::Resumed {
            calls_kept: 0,
            calls_expired: 150,
        },
    });
    let notice = app.notice.clone().unwrap();
    assert!(
        notice.ends_with("resumed: 150 call(s) ended meanwhile"),
        "{notice}"
    );
    assert!(!notice.contains("still waiting"), "{notice}");
}

/// Defect 15: after reconnecting gave up, ^R asks the bridge to try again; while
/// connected (or when the connection cannot be opened again) it says why it does not.
#[test]
fn ctrl_r_retries_the_connection_after_reconnecting_gave_up() {
    use crate::bridge::ConnectionState;
    let mut app = busy_app();
    assert!(app.on_key(ctrl('r')).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("nothing to retry"));
    app.on_bridge_event(BridgeEvent::Connection {
        app_server: "local".to_string(),
        transport: "stdio (codex)".to_string(),
        state: ConnectionState::Disconnected {
            reason: "gave up reconnecting to app-server after 10 attempts".to_string(),
            retry: true,
        },
    });
    // The notice of the loss leads with the key.
    app.on_bridge_event(BridgeEvent::Error {
        thread_id: None,
        message: "gave up reconnecting to app-server after 10 attempts".to_string(),
    });
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("^R retries · gave up"),
        "{:?}",
        app.notice
    );
    assert_eq!(
        app.on_key(ctrl('r')),
        vec![Effect::Bridge(Request::Reconnect)]
    );
    app.on_bridge_event(BridgeEvent::Connection {
        app_server: "local".to_string(),
        transport: "memory".to_string(),
        state: ConnectionState::Disconnected {
            reason: "app-server connection lost".to_string(),
            retry: false,
        },
    });
    assert!(app.on_key(ctrl('r')).is_empty());
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("cannot be opened again")
    );
}

/// Defect 16: errors and notices show thread and call ids as the panes do, short.
#[test]
fn notices_show_short_ids() {
    let mut app = busy_app();
    app.on_bridge_event(BridgeEvent::Error {
        thread_id: None,
        message: "session 019a4b2c-7d8e-7f00-8a1b-2c3d4e5f6a7b is not attached to app-server (disconnected): resume it first".to_string(),
    });
    assert_eq!(
        app.notice.as_deref(),
        Some("session 4e5f6a7b is not attached to app-server (disconnected): resume it first")
    );
    assert!(
        app.notices
            .back()
            .unwrap()
            .1
            .starts_with("session 4e5f6a7b ")
    );
}

#[path = "app_claims_tests.rs"]
mod claims;

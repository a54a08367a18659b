//! Snapshots of every view and state at 80x24 and 160x48, plus colour and edge cases the
//! text snapshots cannot show.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::appserver::{Direction, ProtocolLine};
use crate::console::app::App;
use crate::console::test_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| super::render(app, frame)).unwrap();
    terminal
}

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in SIZES {
        let terminal = draw(app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

fn keys(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

#[test]
fn empty_console() {
    snapshot("empty", &app());
}

#[test]
fn sessions_with_a_pending_queue() {
    snapshot("sessions_with_queue", &busy_app());
}

#[test]
fn editor_with_a_json_error() {
    let mut app = busy_app();
    keys(&mut app, "a");
    app.on_key(KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE));
    if let Some(editor) = app.editor_mut() {
        editor.textarea.select_all();
        editor.textarea.cut();
        editor.textarea.insert_str(
            "{\n  \"contentItems\": [\n    {\"type\": \"inputText\" \"text\": \"ok\"}\n  ]\n}",
        );
    }
    snapshot("editor_json_error", &app);
}

#[test]
fn catalog_inspector() {
    let mut app = busy_app();
    keys(&mut app, "t");
    snapshot("inspector", &app);
}

#[test]
fn protocol_log() {
    let mut app = busy_app();
    let lines = [
        (
            Direction::Out,
            r#"{"id":3,"method":"turn/start","params":{"threadId":"t","input":[{"type":"text","text":"hi"}]}}"#,
        ),
        (
            Direction::In,
            r#"{"id":3,"result":{"turn":{"id":"u","status":"inProgress"}}}"#,
        ),
        (
            Direction::In,
            r#"{"method":"item/tool/call","id":0,"params":{"tool":"escalate_ticket","arguments":{"ticket_id":"T-1"}}}"#,
        ),
        (
            Direction::Out,
            r#"{"id":0,"result":{"contentItems":[{"type":"inputText","text":"done"}],"success":true}}"#,
        ),
    ];
    for (i, (direction, text)) in lines.into_iter().enumerate() {
        app.on_protocol_line(ProtocolLine {
            at_ms: NOW_MS + i as i64 * 15,
            generation: 1,
            direction,
            text: text.into(),
        });
    }
    keys(&mut app, "l/tool");
    snapshot("protocol_log_filtered", &app);
}

#[test]
fn help_overlay() {
    let mut app = busy_app();
    keys(&mut app, "?");
    snapshot("help", &app);
}

#[test]
fn confirm_quit_with_calls_waiting() {
    let mut app = busy_app();
    keys(&mut app, "q");
    snapshot("confirm_quit", &app);
}

#[test]
fn waiting_calls_are_highlighted_in_colour() {
    let app = busy_app();
    let terminal = draw(&app, 80, 24);
    let buffer = terminal.backend().buffer();
    let areas = super::main_layout(buffer.area);
    // The "waiting on you" count in the header is magenta.
    let header_row: String = (0..80)
        .map(|x| buffer[(x, 1)].symbol().to_string())
        .collect();
    let at = header_row.find("waiting on you 1").unwrap() as u16;
    assert_eq!(buffer[(at, 1)].bg, Color::Magenta);
    // The queue row of the call waiting on a person names "you" in magenta.
    let row = areas.queue.y + 2;
    let line: String = (0..80)
        .map(|x| buffer[(x, row)].symbol().to_string())
        .collect();
    let you = line[..line.find(" you ").unwrap()].chars().count() as u16 + 1;
    assert_eq!(buffer[(you, row)].fg, Color::Magenta);
    // The flagged call carries the schema warning in yellow.
    let row = areas.queue.y + 3;
    let line: String = (0..80)
        .map(|x| buffer[(x, row)].symbol().to_string())
        .collect();
    let flag = line.find("⚠").unwrap();
    let column = line[..flag].chars().count() as u16;
    assert_eq!(buffer[(column, row)].fg, Color::Yellow);
}

#[test]
fn tiny_and_odd_sizes_do_not_panic_and_start_with_the_name() {
    let app = busy_app();
    for (width, height) in [(1, 1), (20, 5), (39, 30), (40, 12), (79, 23), (300, 100)] {
        let terminal = draw(&app, width, height);
        let first: String = (0..width.min(11))
            .map(|x| terminal.backend().buffer()[(x, 0)].symbol().to_string())
            .collect();
        assert!(
            "Switchboard".starts_with(first.trim_end()),
            "{width}x{height}: {first:?}"
        );
    }
}

#[test]
fn word_wrap_breaks_at_spaces_and_inside_long_words() {
    use super::transcript::wrap;
    assert_eq!(
        wrap("cannot reset their password", 16),
        ["cannot reset", "their password"]
    );
    assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    assert_eq!(wrap("a\n\nb", 10), ["a", "", "b"]);
    assert_eq!(wrap("", 10), [""]);
}

#[test]
fn the_transcript_renders_only_what_fits() {
    let mut app = busy_app();
    for seq in 8..10_000u64 {
        app.on_bridge_event(crate::bridge::BridgeEvent::TranscriptAppended {
            thread_id: thread(1),
            row: row(
                seq,
                crate::bridge::TranscriptEntry::UserMessage {
                    text: format!("message {seq}"),
                },
            ),
        });
    }
    let terminal = draw(&app, 80, 24);
    let buffer = terminal.backend().buffer();
    let screen: String = (0..24)
        .map(|y| {
            (0..80)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect();
    assert!(screen.contains("message 9999"), "{screen}");
    assert!(!screen.contains("message 9980"), "only the tail is shown");
}

/// What the operator sees while the bridge brings app-server back: the header shows the
/// attempt and its delay, the sessions their state, the transcript each step.
#[test]
fn reconnecting_after_app_server_exited() {
    use crate::bridge::{BridgeEvent, ConnectionState, RecoveryStep, SessionStatus};
    let mut app = busy_app();
    let reason = "app-server exited (killed by signal 9)".to_string();
    feed(
        &mut app,
        [
            BridgeEvent::Connection {
                transport: "stdio (/usr/bin/codex)".to_string(),
                state: ConnectionState::Reconnecting {
                    attempt: 2,
                    max_attempts: 10,
                    delay_ms: 500,
                    reason: reason.clone(),
                },
            },
            BridgeEvent::SessionUpdated {
                session: session(1, SessionStatus::Disconnected),
            },
            BridgeEvent::SessionUpdated {
                session: session(2, SessionStatus::Restored),
            },
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    8,
                    crate::bridge::TranscriptEntry::Error {
                        message: format!("{reason}; reconnecting"),
                    },
                ),
            },
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    9,
                    crate::bridge::TranscriptEntry::Notice {
                        message: "resumed after the app-server connection came back: 0 call(s) still waiting, 1 ended meanwhile".to_string(),
                    },
                ),
            },
            BridgeEvent::SessionRecovery {
                thread_id: thread(2),
                step: RecoveryStep::ResumeFailed {
                    reason: "could not resume the session: no rollout found".to_string(),
                },
            },
        ],
    );
    assert_eq!(app.session_badge(&app.model.sessions[1]), "restored");
    snapshot("reconnecting", &app);
}

/// A call a worker claimed names its holder in the queue's "who" column and at the top
/// of the editor's context.
#[test]
fn a_claimed_call_shows_its_holder_in_the_queue_and_the_editor() {
    use crate::bridge::{BridgeEvent, CallClaim, ClaimChange};
    let mut app = busy_app();
    for mut call in app.model.pending.clone() {
        let claim = CallClaim {
            claim_id: format!("claim-{}", call.request_id),
            holder: "worker-4711".to_string(),
            lease_expires_at_ms: NOW_MS + 12_000,
        };
        call.claim = Some(claim.clone());
        app.on_bridge_event(BridgeEvent::ToolCallClaim {
            call,
            change: ClaimChange::Claimed,
            claim,
        });
    }
    snapshot("claimed_call_queue", &app);
    keys(&mut app, "a");
    snapshot("claimed_call_editor", &app);
}

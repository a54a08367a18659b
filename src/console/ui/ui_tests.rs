//! Snapshots of every view and state at 80x24 and 160x48, plus colour and edge cases the
//! text snapshots cannot show.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::appserver::{Direction, ProtocolLine};
use crate::bridge::{BridgeEvent, SessionStatus};
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
                app_server: "local".to_string(),
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

/// Reconnecting gave up: the header says so (not "reconnecting") with the retry key,
/// the footer leads with it, and the transcript's last row says it gave up.
#[test]
fn gave_up_reconnecting_offers_a_retry() {
    use crate::bridge::{BridgeEvent, ConnectionState, SessionStatus, TranscriptEntry};
    let mut app = busy_app();
    let reason = "gave up reconnecting to app-server after 10 attempts; the last one failed with: app-server exited (exit code 1)".to_string();
    feed(
        &mut app,
        [
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    8,
                    TranscriptEntry::Error {
                        message: "app-server exited (exit code 1); reconnecting".to_string(),
                    },
                ),
            },
            BridgeEvent::TranscriptAppended {
                thread_id: thread(1),
                row: row(
                    9,
                    TranscriptEntry::Error {
                        message: reason.clone(),
                    },
                ),
            },
            BridgeEvent::Connection {
                app_server: "local".to_string(),
                transport: "stdio (/usr/bin/codex)".to_string(),
                state: ConnectionState::Disconnected {
                    reason,
                    retry: true,
                },
            },
            BridgeEvent::SessionUpdated {
                session: session(1, SessionStatus::Disconnected),
            },
        ],
    );
    app.notice = None;
    let screen = format!("{}", draw(&app, 80, 24).backend());
    let header: String = screen.lines().take(3).collect();
    assert!(
        header.contains("gave up reconnecting · ^R retries"),
        "{screen}"
    );
    assert!(!header.contains("Switchboard reconnecting"), "{screen}");
    snapshot("gave_up", &app);
}

/// The cells' colours as letters, one per palette entry, for a snapshot of a themed
/// frame: `a` accent, `w` warning, `e` error, `o` ok, `A` attention, `m` muted, `S` the
/// selection's background, `.` drawn in the terminal's own colour, ` ` blank.
fn colour_map(buffer: &ratatui::buffer::Buffer, theme: &crate::console::theme::Theme) -> String {
    let role = |color: Color| -> Option<char> {
        [
            (theme.accent, 'a'),
            (theme.warning, 'w'),
            (theme.error, 'e'),
            (theme.ok, 'o'),
            (theme.attention, 'A'),
            (theme.muted, 'm'),
        ]
        .iter()
        .find(|(c, _)| *c == Some(color))
        .map(|(_, letter)| *letter)
    };
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            let letter = if theme.selection.is_some() && cell.bg == theme.selection.unwrap() {
                'S'
            } else if let Some(letter) = role(cell.fg) {
                letter
            } else if cell.symbol().trim().is_empty() {
                ' '
            } else if cell.fg == Color::Reset {
                '.'
            } else {
                '?'
            };
            out.push(letter);
        }
        out.push('\n');
    }
    out
}

/// The light theme redraws every role in its own colour: no base colour is left, the
/// selection has its background, muted text its grey. NO_COLOR still wins (it strips
/// whatever the theme set).
#[test]
fn a_themed_frame() {
    use crate::console::theme::Theme;
    let theme = Theme::named("light").unwrap();
    let app = busy_app();
    for (width, height) in SIZES {
        let mut buffer = draw(&app, width, height).backend().buffer().clone();
        let buffer = &mut buffer;
        theme.apply(buffer);
        for cell in &buffer.content {
            for color in [cell.fg, cell.bg] {
                assert!(
                    !matches!(
                        color,
                        Color::Cyan | Color::Yellow | Color::Red | Color::Green | Color::Magenta
                    ),
                    "a base colour is left: {color:?}"
                );
            }
        }
        insta::assert_snapshot!(
            format!("themed_light_{width}x{height}"),
            colour_map(buffer, &theme)
        );
        crate::console::without_colors(buffer);
        assert!(
            buffer
                .content
                .iter()
                .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
        );
    }
}

/// Issue 14: a running session shows what it is doing and for how long, its tokens,
/// and the header the account's rate limits.
#[test]
fn a_running_session_shows_its_activity_tokens_and_the_rate_limits() {
    use crate::bridge::{BridgeEvent, SessionStatus};
    use crate::protocol::{TokenBreakdown, TokenUsage};
    let mut app = busy_app();
    let mut running = session(2, SessionStatus::Running);
    running.name = Some("nightly triage".to_string());
    running.title = "nightly triage".to_string();
    running.active_turn_id = Some("turn-2".to_string());
    running.turn_started_at_ms = Some(NOW_MS - 83_000);
    feed(
        &mut app,
        [
            BridgeEvent::SessionUpdated { session: running },
            BridgeEvent::SessionActivity {
                thread_id: thread(2),
                activity: Some("running `cargo test --workspace`".to_string()),
            },
            BridgeEvent::TokenUsage {
                thread_id: thread(2),
                turn_id: "turn-2".to_string(),
                usage: TokenUsage {
                    total: TokenBreakdown {
                        total_tokens: 48_210,
                        ..TokenBreakdown::default()
                    },
                    last: TokenBreakdown {
                        total_tokens: 25_840,
                        ..TokenBreakdown::default()
                    },
                    model_context_window: Some(258_400),
                },
            },
            BridgeEvent::RateLimits {
                rate_limits: serde_json::json!({
                    "limitId": "codex",
                    "primary": { "usedPercent": 12, "windowDurationMins": 300 },
                    "secondary": { "usedPercent": 3, "windowDurationMins": 10080 }
                }),
            },
        ],
    );
    app.selected_session = 1;
    let screen = format!("{}", draw(&app, 160, 48).backend());
    assert!(screen.contains("▸ nightly triage  running `cargo test --workspace` 01:23 · 48.2k tokens (10% of context)  limits 5h 12% · 7d 3%"), "{screen}");
    // At 80 columns the rate limits take a line of their own.
    let narrow = format!("{}", draw(&app, 80, 24).backend());
    assert!(
        narrow
            .lines()
            .nth(3)
            .unwrap()
            .contains("limits 5h 12% · 7d 3%"),
        "{narrow}"
    );
    assert!(screen.contains("nightly triage"), "{screen}");
    snapshot("session_activity", &app);
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

/// A team on one queue: a call another operator holds reads "being answered by NAME" in
/// the queue and in the editor, the takeover asks first, an approval's card someone
/// holds says who, and this console's own claim shows as "⚑ you".
#[test]
fn what_others_answer_says_who_and_a_takeover_asks_first() {
    use crate::bridge::{BridgeEvent, CallClaim, ClaimChange, ClaimOutcome};
    use crate::console::app::Outcome;
    let mut app = busy_app();
    app.claims = crate::console::claims::Claims::new("ana@desk", 30_000);
    let theirs = CallClaim {
        claim_id: "claim-bo".to_string(),
        holder: "bo@laptop".to_string(),
        lease_expires_at_ms: NOW_MS + 30_000,
    };
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = Some(theirs.clone());
    app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::Claimed,
        claim: theirs.clone(),
    });
    let mut request = crate::console::cards::tests::command_request();
    request.claim = Some(CallClaim {
        claim_id: "claim-cy".to_string(),
        holder: "cy@ops".to_string(),
        lease_expires_at_ms: NOW_MS + 30_000,
    });
    app.on_bridge_event(BridgeEvent::RequestOpened { request });
    snapshot("team_queue", &app);
    keys(&mut app, "a");
    snapshot("team_editor_answered_elsewhere", &app);
    app.on_key(KeyEvent::new(KeyCode::F(8), KeyModifiers::NONE));
    snapshot("team_takeover_confirm", &app);
    keys(&mut app, "y");
    let mine = CallClaim {
        claim_id: "claim-ana".to_string(),
        holder: "ana@desk".to_string(),
        lease_expires_at_ms: NOW_MS + 30_000,
    };
    app.on_outcome(Outcome::Claimed {
        request_id: "req-3".to_string(),
        takeover: true,
        result: Ok(ClaimOutcome::Claimed {
            claim: mine.clone(),
            thread_id: thread(1),
            renewed: false,
            replaced: Some(theirs.clone()),
        }),
    });
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = Some(mine);
    app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::TakenOver,
        claim: theirs,
    });
    snapshot("team_editor_taken_over", &app);
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    keys(&mut app, "A");
    snapshot("team_card_answered_elsewhere", &app);
}

fn loaded(
    n: u32,
    status: &str,
    originator: &str,
    session: Option<crate::bridge::SessionOrigin>,
) -> crate::bridge::LoadedThread {
    crate::bridge::LoadedThread {
        thread_id: thread(n),
        app_server: "local".to_string(),
        status: status.to_string(),
        active_flags: if status == "active" {
            vec!["waitingOnUserInput".to_string()]
        } else {
            Vec::new()
        },
        name: (n == 2).then(|| "nightly triage".to_string()),
        preview: format!("call:echo_args review the failing build {n}"),
        cwd: Some("/srv/work".to_string()),
        originator: Some(originator.to_string()),
        source: Some("vscode".to_string()),
        started_by_switchboard: originator == crate::protocol::CLIENT_NAME,
        session,
        updated_at: None,
    }
}

#[test]
fn loaded_threads_to_watch() {
    let mut app = app();
    app.on_outcome(crate::console::app::Outcome::LoadedThreads(Ok(
        crate::bridge::LoadedThreads {
            threads: vec![
                loaded(1, "idle", "other_client", None),
                loaded(
                    2,
                    "active",
                    "codex_vscode",
                    Some(crate::bridge::SessionOrigin::Watched),
                ),
                loaded(
                    3,
                    "idle",
                    crate::protocol::CLIENT_NAME,
                    Some(crate::bridge::SessionOrigin::Started),
                ),
            ],
            unreachable: Vec::new(),
        },
    )));
    snapshot("loaded_threads", &app);
}

#[test]
fn a_watched_session_is_marked_and_says_how_it_answers() {
    let mut app = app();
    let mut auto = session(2, SessionStatus::Idle);
    auto.origin = crate::bridge::SessionOrigin::Watched;
    auto.auto_answer = true;
    feed(
        &mut app,
        [
            BridgeEvent::SessionStarted { session: auto },
            BridgeEvent::SessionStarted {
                session: session(3, SessionStatus::Idle),
            },
        ],
    );
    app.on_outcome(crate::console::app::Outcome::Watched(Ok(session_watched(
        1,
    ))));
    snapshot("watched_sessions", &app);
}

fn session_watched(n: u32) -> crate::bridge::SessionSummary {
    let mut summary = session(n, SessionStatus::Idle);
    summary.origin = crate::bridge::SessionOrigin::Watched;
    summary
}

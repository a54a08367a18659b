//! A console over several app-servers: each session's badge, each connection's state
//! in the header (compact at 80 columns, whole at 160), the app-server picker of a new
//! session, and the loaded threads of every app-server. A console over one app-server
//! shows none of it (the other snapshots).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::bridge::{AppServerStatus, BridgeEvent, ConnectionState, SessionStatus};
use crate::console::app::{App, Effect, Outcome, Request};
use crate::console::test_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in SIZES {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| super::render(app, frame)).unwrap();
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

fn connected() -> ConnectionState {
    ConnectionState::Connected {
        server_version: Some("0.171.0".to_string()),
        user_agent: "codex/0.171.0".to_string(),
        pid: Some(4242),
    }
}

fn member(name: &str, transport: &str, connection: ConnectionState) -> AppServerStatus {
    AppServerStatus {
        name: name.to_string(),
        transport: transport.to_string(),
        connection,
        sessions: 1,
        pending: 0,
    }
}

/// Three app-servers; `build-box` in `state`, the others up; a session on each of
/// `work` and `build-box`, the one on `build-box` selected.
fn fleet_app(state: ConnectionState) -> App {
    let mut status = status();
    status.connection = connected();
    status.app_servers = vec![
        member("work", "stdio (/usr/bin/codex)", connected()),
        member("build-box", "websocket (ws://build-box:4500)", state),
        member("home", "stdio (/usr/bin/codex)", connected()),
    ];
    let mut app = App::new(catalog(), status);
    app.now_ms = NOW_MS;
    let mut on_work = session(1, SessionStatus::Idle);
    on_work.app_server = "work".to_string();
    on_work.title = "Look up T-1 and answer the customer".to_string();
    let mut on_build = session(2, SessionStatus::Disconnected);
    on_build.app_server = "build-box".to_string();
    on_build.title = "Nightly triage of the failing build".to_string();
    feed(
        &mut app,
        [
            BridgeEvent::SessionStarted { session: on_work },
            BridgeEvent::SessionStarted { session: on_build },
        ],
    );
    app.selected_session = 1;
    app
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn each_session_has_its_app_servers_badge_and_the_header_each_connection() {
    let app = fleet_app(ConnectionState::Reconnecting {
        attempt: 2,
        max_attempts: 10,
        delay_ms: 500,
        reason: "connecting to ws://build-box:4500 failed: connection refused".to_string(),
    });
    snapshot("fleet_reconnecting", &app);
}

#[test]
fn an_app_server_that_gave_up_is_named_down_with_the_retry_key() {
    let mut app = fleet_app(ConnectionState::Disconnected {
        reason: "gave up after 10 attempts: connection refused".to_string(),
        retry: true,
    });
    snapshot("fleet_down", &app);
    // The retry key retries it, though the first app-server is up.
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
        vec![Effect::Bridge(Request::Reconnect)]
    );
}

#[test]
fn a_new_session_asks_which_app_server_and_remembers_the_choice() {
    let mut app = fleet_app(connected());
    app.focus = crate::console::app::Focus::Sessions;
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    snapshot("fleet_new_session_picker", &app);
    key(&mut app, KeyCode::Down);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Bridge(Request::CreateSession {
            app_server: Some("build-box".to_string())
        })]
    );
    // The picker opens on the last choice; Esc leaves without a session.
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    match app.overlays.last() {
        Some(crate::console::app::Overlay::AppServers { selected, .. }) => {
            assert_eq!(*selected, 1)
        }
        _ => panic!("no picker"),
    }
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.overlays.is_empty());
}

#[test]
fn one_app_server_creates_at_once_without_a_picker() {
    let mut app = app();
    assert_eq!(
        key(&mut app, KeyCode::Char('n')),
        vec![Effect::Bridge(Request::CreateSession { app_server: None })]
    );
    assert!(app.overlays.is_empty());
}

fn loaded(n: u32, app_server: &str, originator: &str) -> crate::bridge::LoadedThread {
    crate::bridge::LoadedThread {
        thread_id: thread(n),
        app_server: app_server.to_string(),
        status: "idle".to_string(),
        active_flags: Vec::new(),
        name: None,
        preview: format!("review the failing build {n}"),
        cwd: Some("/srv/work".to_string()),
        originator: Some(originator.to_string()),
        source: Some("vscode".to_string()),
        started_by_switchboard: false,
        session: None,
        updated_at: None,
    }
}

#[test]
fn the_loaded_threads_of_every_app_server_and_a_watch_on_the_right_one() {
    let mut app = fleet_app(ConnectionState::Disconnected {
        reason: "app-server exited".to_string(),
        retry: false,
    });
    app.on_outcome(Outcome::LoadedThreads(Ok(crate::bridge::LoadedThreads {
        threads: vec![
            loaded(3, "work", "codex_vscode"),
            loaded(4, "home", "codex_cli"),
        ],
        unreachable: vec![crate::bridge::UnreachableAppServer {
            app_server: "build-box".to_string(),
            reason: "not connected to app-server: app-server exited".to_string(),
        }],
    })));
    snapshot("fleet_loaded_threads", &app);
    key(&mut app, KeyCode::Down);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Bridge(Request::Watch {
            thread_id: thread(4),
            app_server: Some("home".to_string()),
        })]
    );
}

/// Found in tmux at 80x24 (`demo --scripted-app-servers 2`): with a call waiting on
/// each, both sessions read "script… waiting on you" and nothing told them apart. The
/// state says "waiting" first, and a name still too long is cut in its middle.
#[test]
fn narrow_badges_keep_the_names_of_a_fleet_apart() {
    let mut status = status();
    status.connection = connected();
    status.app_servers = vec![
        member("scripted-1", "stdio (/usr/bin/codex)", connected()),
        member("scripted-2", "stdio (/usr/bin/codex)", connected()),
    ];
    let mut app = App::new(catalog(), status);
    app.now_ms = NOW_MS;
    let mut events = Vec::new();
    for (n, name) in [(1, "scripted-1"), (2, "scripted-2")] {
        let mut session = session(n, SessionStatus::Idle);
        session.app_server = name.to_string();
        events.push(BridgeEvent::SessionStarted { session });
        let mut waiting = call(n, n, "escalate_ticket", crate::bridge::Answerer::Person);
        waiting.app_server = name.to_string();
        events.push(BridgeEvent::ToolCallRequested { call: waiting });
    }
    feed(&mut app, events);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| super::render(&app, frame)).unwrap();
    let screen: String = terminal
        .backend()
        .buffer()
        .content()
        .chunks(80)
        .map(|line| line.iter().map(|c| c.symbol()).collect::<String>() + "\n")
        .collect();
    assert!(screen.contains("scripted-1 waiting"), "{screen}");
    assert!(screen.contains("scripted-2 waiting"), "{screen}");
    // A name that cannot fit whole keeps its distinguishing end.
    assert_eq!(
        super::app_server_badge("build-box-eu-west-1", 9),
        "buil…st-1"
    );
}

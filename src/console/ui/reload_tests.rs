//! The console after catalog reloads: the inspector's "new sessions only" marks, and a
//! failed reload in the header and the inspector until a good load.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::bridge::{BridgeEvent, CatalogReload, OutdatedSession, ReloadChange, ReloadOutcome};
use crate::catalog::Catalog;
use crate::console::app::{App, Effect, Request};
use crate::console::test_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| super::render(app, frame)).unwrap();
    format!("{}", terminal.backend())
}

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in SIZES {
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), draw(app, width, height));
    }
}

fn key(app: &mut App, c: char) -> Vec<Effect> {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// The support catalog with a better description of `lookup_ticket` and a new static
/// answer for it; `escalate_ticket` unchanged.
fn reloaded_catalog() -> Arc<Catalog> {
    let text = CATALOG
        .replace(
            "Look up a support ticket by id",
            "Look up a support ticket by its id (T-<number>)",
        )
        .replace("ticket T-1: open", "ticket T-1: open, assigned to Maria");
    Arc::new(Catalog::parse(&text, std::path::Path::new("/srv/support/catalog.toml")).unwrap())
}

fn loaded() -> BridgeEvent {
    BridgeEvent::CatalogReloaded {
        reload: CatalogReload {
            at_ms: NOW_MS,
            path: Some("/srv/support/catalog.toml".to_string()),
            generation: 1,
            outcome: ReloadOutcome::Loaded {
                changes: vec![ReloadChange {
                    tool: "lookup_ticket".to_string(),
                    change: "definition",
                    new_sessions_only: true,
                }],
            },
            outdated_sessions: vec![
                OutdatedSession {
                    thread_id: thread(1),
                    tools: vec!["lookup_ticket".to_string()],
                },
                OutdatedSession {
                    thread_id: thread(2),
                    tools: vec!["lookup_ticket".to_string()],
                },
            ],
        },
        catalog: Some(reloaded_catalog()),
    }
}

fn failed() -> BridgeEvent {
    BridgeEvent::CatalogReloaded {
        reload: CatalogReload {
            at_ms: NOW_MS,
            path: Some("/srv/support/catalog.toml".to_string()),
            generation: 1,
            outcome: ReloadOutcome::Failed {
                error: "tool catalog /srv/support/catalog.toml has 2 problems:\n  /srv/support/catalog.toml:7: tool `lookup_ticket`: input_schema must be a table (an object schema), not an integer\n  /srv/support/catalog.toml:12: tool `escalate_ticket`: description must not be empty".to_string(),
            },
            outdated_sessions: Vec::new(),
        },
        catalog: None,
    }
}

#[test]
fn the_inspector_marks_a_changed_definition_new_sessions_only() {
    let mut app = busy_app();
    app.on_bridge_event(loaded());
    // The console now shows (and routes nothing by) the catalog in use.
    assert_eq!(
        app.catalog.tools[0].description,
        "Look up a support ticket by its id (T-<number>)"
    );
    key(&mut app, 't');
    snapshot("inspector_after_reload", &app);
    // `n` in the inspector starts a session, which declares the catalog in use.
    assert!(
        key(&mut app, 'n').contains(&Effect::Bridge(Request::CreateSession { app_server: None }))
    );
    // Once the older sessions are closed, nothing is marked any more; the inspector
    // still says what the last reload changed.
    for n in [1, 2] {
        app.on_bridge_event(BridgeEvent::SessionClosed {
            thread_id: thread(n),
            reason: "session closed".to_string(),
        });
    }
    let screen = draw(&app, 160, 48);
    assert!(!screen.contains("running sessions keep"), "{screen}");
    assert!(!screen.contains(" NEW"), "{screen}");
    assert!(
        screen.contains("reload   definition, new sessions only"),
        "{screen}"
    );
}

#[test]
fn a_failed_reload_stays_in_the_header_and_the_inspector_until_a_good_load() {
    let mut app = busy_app();
    app.on_bridge_event(failed());
    snapshot("reload_failed", &app);
    key(&mut app, 't');
    snapshot("inspector_reload_failed", &app);
    app.on_bridge_event(loaded());
    for (width, height) in SIZES {
        let screen = draw(&app, width, height);
        assert!(!screen.contains("reload failed"), "{screen}");
    }
}

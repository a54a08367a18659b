//! The request cards: labels, keys (Esc never decides), the app's hooks (queue, bell,
//! title, answer, close on resolve) and snapshots at 80x24 and 160x48.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use super::*;
use crate::bridge::{
    Answerer, BridgeEvent, CallEnd, PendingRequestView, ResolvedRequest, Responder, SessionStatus,
};
use crate::console::app::{App, Card, Effect, Overlay, Request};
use crate::console::test_support::*;
use crate::protocol::{RequestId, RequestKind};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub(crate) fn command_request() -> PendingRequestView {
    PendingRequestView {
        app_server: "local".to_string(),
        request_id: "rq-7".to_string(),
        rpc_id: RequestId::Integer(7),
        kind: RequestKind::CommandApproval,
        method: "item/commandExecution/requestApproval".to_string(),
        thread_id: thread(1),
        turn_id: Some("turn-1".to_string()),
        item_id: Some("call_7".to_string()),
        summary: "run `git status --short` in /srv/support".to_string(),
        params: json!({
            "threadId": thread(1),
            "turnId": "turn-1",
            "itemId": "call_7",
            "command": "/bin/bash -lc 'git status --short'",
            "cwd": "/srv/support",
            "reason": "see what changed before committing",
            "commandActions": [{"type": "unknown", "command": "git status --short"}],
            "proposedExecpolicyAmendment": ["git", "status"],
            "availableDecisions": [
                "accept",
                {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["git", "status"]}},
                "cancel"
            ]
        }),
        decisions: vec![
            json!("accept"),
            json!({"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["git", "status"]}}),
            json!("cancel"),
            json!("acceptForSession"),
            json!("decline"),
        ],
        changes: None,
        received_at_ms: NOW_MS - 12_000,
        answerer: Answerer::Person,
        in_flight: false,
        claim: None,
    }
}

fn file_change_request() -> PendingRequestView {
    PendingRequestView {
        app_server: "local".to_string(),
        request_id: "rq-8".to_string(),
        rpc_id: RequestId::Integer(8),
        kind: RequestKind::FileChangeApproval,
        method: "item/fileChange/requestApproval".to_string(),
        thread_id: thread(1),
        turn_id: Some("turn-1".to_string()),
        item_id: Some("call_8".to_string()),
        summary: "change 1 file".to_string(),
        params: json!({"threadId": thread(1), "turnId": "turn-1", "itemId": "call_8",
            "reason": "fix the greeting", "grantRoot": "/srv/support"}),
        decisions: vec![
            json!("accept"),
            json!("acceptForSession"),
            json!("decline"),
            json!("cancel"),
        ],
        changes: Some(json!([{
            "path": "/srv/support/hello.txt",
            "kind": {"type": "update", "move_path": null},
            "diff": "@@ -1 +1 @@\n-helo\n+hello\n"
        }])),
        received_at_ms: NOW_MS - 3_000,
        answerer: Answerer::Person,
        in_flight: false,
        claim: None,
    }
}

fn resolved(request: &PendingRequestView) -> ResolvedRequest {
    ResolvedRequest {
        request_id: request.request_id.clone(),
        kind: request.kind,
        method: request.method.clone(),
        thread_id: request.thread_id.clone(),
        turn_id: request.turn_id.clone(),
        item_id: request.item_id.clone(),
        status: CallEnd::Resolved,
        answered_by: Some(Responder::Operator),
        decision: Some("accept".to_string()),
        answer: Some(json!({"decision": "accept"})),
        reason: None,
        latency_ms: 12_000,
    }
}

fn app_with(request: PendingRequestView) -> (App, Vec<Effect>) {
    let mut app = app();
    feed(
        &mut app,
        [BridgeEvent::SessionStarted {
            session: session(1, SessionStatus::Running),
        }],
    );
    let effects = app.on_bridge_event(BridgeEvent::RequestOpened { request });
    (app, effects)
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| crate::console::ui::render(app, frame))
        .unwrap();
    terminal
}

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in [(80, 24), (160, 48)] {
        let terminal = draw(app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

#[test]
fn the_command_is_unwrapped_from_its_shell() {
    assert_eq!(unwrap_shell("/bin/bash -lc 'git status'"), "git status");
    assert_eq!(unwrap_shell("bash -lc \"ls -la\""), "ls -la");
    assert_eq!(unwrap_shell("sh -c make"), "make");
    assert_eq!(unwrap_shell("cargo test"), "cargo test");
}

#[test]
fn decisions_get_plain_labels_offered_ones_first() {
    let labels: Vec<(String, bool)> = choices(&command_request())
        .into_iter()
        .map(|c| (c.label, c.offered))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("accept".to_string(), true),
            (
                "accept, and don't ask again for commands starting with `git status`".to_string(),
                true
            ),
            ("cancel, stop the turn".to_string(), true),
            ("accept for the session".to_string(), false),
            ("decline, continue without it".to_string(), false),
        ]
    );
    let network = json!({"applyNetworkPolicyAmendment": {"network_policy_amendment":
        {"host": "example.com", "action": "deny"}}});
    assert_eq!(
        decision_label(&network),
        "deny the host example.com from now on"
    );
}

#[test]
fn esc_closes_without_deciding_and_enter_or_a_number_decides() {
    let mut card = RequestCard::new(command_request());
    assert_eq!(card.on_key(key(KeyCode::Esc)), CardKey::Close);
    assert!(!card.sending);
    assert_eq!(card.on_key(key(KeyCode::Down)), CardKey::Stay);
    assert_eq!(
        card.on_key(key(KeyCode::Enter)),
        CardKey::Send(json!({"decision": {"acceptWithExecpolicyAmendment":
            {"execpolicy_amendment": ["git", "status"]}}}))
    );
    // One answer at a time.
    assert_eq!(card.on_key(key(KeyCode::Enter)), CardKey::Stay);
    let mut card = RequestCard::new(command_request());
    assert_eq!(
        card.on_key(key(KeyCode::Char('5'))),
        CardKey::Send(json!({"decision": "decline"}))
    );
    assert_eq!(card.on_key(key(KeyCode::Char('9'))), CardKey::Stay);
}

#[test]
fn a_request_rings_the_bell_retitles_and_shows_in_the_queue() {
    let (app, effects) = app_with(command_request());
    assert!(effects.contains(&Effect::Bell), "{effects:?}");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Title(t) if t.contains('1'))),
        "{effects:?}"
    );
    assert_eq!(app.model.requests.len(), 1);
    assert_eq!(app.session_badge(&app.model.sessions[0]), "waiting on you");
    let screen = format!("{:?}", draw(&app, 160, 48).backend());
    assert!(screen.contains("command"), "{screen}");
    assert!(screen.contains("git status --short"), "{screen}");
}

#[test]
fn the_card_answers_through_the_bridge_and_closes_when_resolved() {
    let request = command_request();
    let (mut app, _) = app_with(request.clone());
    app.on_key(key(KeyCode::Char('A')));
    assert!(matches!(
        app.top(),
        Some(Overlay::Card(card)) if matches!(card.as_ref(), Card::Request(_))
    ));
    // Esc closes; the request stays.
    assert!(app.on_key(key(KeyCode::Esc)).is_empty());
    assert!(app.top().is_none());
    assert_eq!(app.model.requests.len(), 1);
    // `a` with no tool call waiting opens it too.
    app.on_key(key(KeyCode::Char('a')));
    let effects = app.on_key(key(KeyCode::Char('1')));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::AnswerRequest {
            request_id: "rq-7".to_string(),
            answer: json!({"decision": "accept"}),
            claim_id: None,
        })]
    );
    app.on_bridge_event(BridgeEvent::RequestResolved {
        request: resolved(&request),
    });
    assert!(app.top().is_none());
    assert!(app.model.requests.is_empty());
}

#[test]
fn a_refused_answer_keeps_the_card_open_and_says_why() {
    let (mut app, _) = app_with(command_request());
    app.open_request(None);
    app.on_key(key(KeyCode::Enter));
    app.on_outcome(crate::console::app::Outcome::RequestAnswered {
        request_id: "rq-7".to_string(),
        result: Ok(crate::bridge::AnswerOutcome::Invalid {
            message: "not a decision".to_string(),
        }),
    });
    match app.top() {
        Some(Overlay::Card(card)) => match card.as_ref() {
            Card::Request(card) => assert!(!card.sending),
            Card::ToolCall(_) => panic!("a tool-call card"),
        },
        _ => panic!("the card closed"),
    }
    assert!(
        app.notice
            .as_deref()
            .is_some_and(|n| n.contains("not a decision"))
    );
}

#[test]
fn command_approval_card() {
    let (mut app, _) = app_with(command_request());
    app.open_request(None);
    snapshot("command_approval_card", &app);
}

#[test]
fn file_change_card() {
    let (mut app, _) = app_with(file_change_request());
    app.open_request(None);
    snapshot("file_change_card", &app);
}

#[test]
fn queue_with_a_request() {
    let (app, _) = app_with(command_request());
    snapshot("queue_with_a_request", &app);
}

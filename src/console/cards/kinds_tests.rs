//! The cards of the other kinds: questions (pages, other, secret, note, decline),
//! permissions, MCP forms (typed fields, validation), url elicitations, MCP tool-call
//! approvals, and the file change with the turn's diff. Every answer a card sends is
//! checked with `Answer::parse`, as the bridge checks it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

use super::*;
use crate::bridge::{Answerer, BridgeEvent, PendingRequestView, SessionStatus};
use crate::console::app::{App, Card, Effect, Overlay, Request};
use crate::console::test_support::*;
use crate::protocol::{Answer, RequestId, RequestKind};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn request(
    n: i64,
    kind: RequestKind,
    method: &str,
    summary: &str,
    params: Value,
) -> PendingRequestView {
    PendingRequestView {
        app_server: "local".to_string(),
        request_id: format!("rq-{n}"),
        rpc_id: RequestId::Integer(n),
        kind,
        method: method.to_string(),
        thread_id: thread(1),
        turn_id: Some("turn-1".to_string()),
        item_id: Some(format!("call_{n}")),
        summary: summary.to_string(),
        params,
        decisions: Vec::new(),
        changes: None,
        received_at_ms: NOW_MS - 5_000,
        answerer: Answerer::Person,
        in_flight: false,
        claim: None,
    }
}

fn questions_request() -> PendingRequestView {
    request(
        11,
        RequestKind::UserInput,
        "item/tool/requestUserInput",
        "Tool input required (2 questions)",
        json!({"threadId": thread(1), "turnId": "turn-1", "itemId": "call_11",
        "isBlocking": true,
        "questions": [
            {"id": "color", "header": "Color", "question": "Which color should the banner be?",
             "isOther": true, "isSecret": false,
             "options": [{"label": "Red (Recommended)", "description": "warm, stands out"},
                         {"label": "Blue", "description": "cool, calm"}]},
            {"id": "token", "header": "Token", "question": "Paste the deploy token",
             "isOther": false, "isSecret": true, "options": null}
        ]}),
    )
}

fn permissions_request() -> PendingRequestView {
    request(
        12,
        RequestKind::PermissionsApproval,
        "item/permissions/requestApproval",
        "Permissions requested: fetch the docs",
        json!({"threadId": thread(1), "turnId": "turn-1", "itemId": "call_12",
            "environmentId": "local", "cwd": "/srv/support", "reason": "fetch the docs",
            "permissions": {"network": {"enabled": true},
                            "fileSystem": {"read": ["/srv/docs"], "write": ["/srv/support/out"]}}}),
    )
}

fn form_request() -> PendingRequestView {
    request(
        13,
        RequestKind::McpElicitation,
        "mcpServer/elicitation/request",
        "MCP elicitation (probe): Whose greeting?",
        json!({"threadId": thread(1), "turnId": "turn-1", "serverName": "probe", "mode": "form",
        "message": "Whose greeting should the probe write?",
        "requestedSchema": {"type": "object", "required": ["name", "count"],
            "properties": {
                "name": {"type": "string", "title": "Name", "description": "who is greeted", "minLength": 2},
                "count": {"type": "integer", "title": "Count", "minimum": 1, "maximum": 5},
                "ratio": {"type": "number", "title": "Ratio", "default": 0.5},
                "loud": {"type": "boolean", "title": "Loud", "default": true},
                "tone": {"type": "string", "title": "Tone", "enum": ["warm", "dry"],
                         "enumNames": ["Warm", "Dry"], "default": "dry"}
            }}}),
    )
}

fn url_request() -> PendingRequestView {
    request(
        14,
        RequestKind::McpElicitation,
        "mcpServer/elicitation/request",
        "MCP elicitation (auth): sign in",
        json!({"threadId": thread(1), "turnId": null, "serverName": "auth", "mode": "url",
            "message": "Sign in to the wiki", "url": "https://wiki.example/login?code=42",
            "elicitationId": "el-1"}),
    )
}

fn tool_approval_request() -> PendingRequestView {
    request(
        15,
        RequestKind::McpElicitation,
        "mcpServer/elicitation/request",
        "MCP tool approval (probe): Allow the probe MCP server to run tool \"probe_write\"?",
        json!({"threadId": thread(1), "turnId": "turn-1", "serverName": "probe", "mode": "form",
            "message": "Allow the probe MCP server to run tool \"probe_write\"?",
            "requestedSchema": {"type": "object", "properties": {}},
            "_meta": {"codex_approval_kind": "mcp_tool_call", "persist": ["session", "always"],
                      "tool_name": "probe_write",
                      "tool_description": "Writes a greeting for a name it asks the user for",
                      "tool_params": {"path": "/srv/support/greeting.txt"}}}),
    )
}

fn file_change_request() -> PendingRequestView {
    let mut request = request(
        16,
        RequestKind::FileChangeApproval,
        "item/fileChange/requestApproval",
        "File change approval required",
        json!({"threadId": thread(1), "turnId": "turn-1", "itemId": "call_16",
            "reason": "fix the greeting", "grantRoot": null}),
    );
    request.decisions = vec![
        json!("accept"),
        json!("acceptForSession"),
        json!("decline"),
        json!("cancel"),
    ];
    request.changes = Some(json!([
        {"path": "/srv/support/hello.txt", "kind": {"type": "update", "move_path": null},
         "diff": "@@ -1 +1 @@\n-helo\n+hello\n"},
        {"path": "/srv/support/new.txt", "kind": {"type": "add"}, "diff": "fresh file\n"},
        {"path": "/srv/support/old.txt", "kind": {"type": "delete"}, "diff": "stale\n"}
    ]));
    request
}

const TURN_DIFF: &str = "diff --git a/hello.txt b/hello.txt\nindex 1111111..2222222 100644\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-helo\n+hello\ndiff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+fresh file\n";

fn app_with(request: PendingRequestView) -> App {
    let mut app = app();
    feed(
        &mut app,
        [BridgeEvent::SessionStarted {
            session: session(1, SessionStatus::Running),
        }],
    );
    app.on_bridge_event(BridgeEvent::RequestOpened { request });
    app
}

fn open(request: PendingRequestView) -> App {
    let mut app = app_with(request);
    app.open_request(None);
    app
}

fn card(app: &App) -> &RequestCard {
    match app.top() {
        Some(Overlay::Card(card)) => match card.as_ref() {
            Card::Request(card) => card,
            Card::ToolCall(_) => panic!("a tool-call card"),
        },
        _ => panic!("no card on top"),
    }
}

fn press(app: &mut App, keys: &[KeyEvent]) -> Vec<Effect> {
    keys.iter().flat_map(|k| app.on_key(*k)).collect()
}

fn typed(text: &str) -> Vec<KeyEvent> {
    text.chars().map(|c| key(KeyCode::Char(c))).collect()
}

/// The one answer the keys sent, checked as the bridge checks it.
#[track_caller]
fn sent(effects: &[Effect], kind: RequestKind) -> Value {
    let answers: Vec<&Value> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bridge(Request::AnswerRequest { answer, .. }) => Some(answer),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "{effects:?}");
    Answer::parse(kind, answers[0].clone()).unwrap_or_else(|e| panic!("{e}"));
    answers[0].clone()
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| crate::console::ui::render(app, frame))
        .unwrap();
    terminal
}

fn screen(app: &App, width: u16, height: u16) -> String {
    format!("{:?}", draw(app, width, height).backend())
}

#[track_caller]
fn snapshot(name: &str, app: &App) {
    for (width, height) in [(80, 24), (160, 48)] {
        let terminal = draw(app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

// ----- questions ----------------------------------------------------------------------

#[test]
fn questions_are_answered_page_by_page_with_other_secret_and_note() {
    let mut app = open(questions_request());
    // Page 1: the first option is picked; Down picks Blue; a note on the last row.
    press(&mut app, &[key(KeyCode::Down)]);
    press(&mut app, &[key(KeyCode::Down), key(KeyCode::Down)]);
    press(&mut app, &typed("for the spring sale"));
    let Body::Questions(questions) = &card(&app).body else {
        panic!("not a question card")
    };
    assert_eq!(
        questions.current().choice,
        Some(2),
        "the cursor left Blue for Other, then the note"
    );
    // Back up to Blue: the note stays.
    press(&mut app, &[key(KeyCode::Up), key(KeyCode::Up)]);
    // Enter goes to the next question; submitting with an empty secret says what is missing.
    assert!(press(&mut app, &[key(KeyCode::Enter)]).is_empty());
    assert!(press(&mut app, &[key(KeyCode::Enter)]).is_empty());
    assert!(
        card(&app)
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("question 2 (Token) has no answer")),
        "{:?}",
        card(&app).problem
    );
    press(&mut app, &typed("s3cr3t"));
    let text = screen(&app, 160, 48);
    assert!(
        text.contains("••••••") && !text.contains("s3cr3t"),
        "{text}"
    );
    let effects = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(
        sent(&effects, RequestKind::UserInput),
        json!({"answers": {
            "color": {"answers": ["Blue", "user_note: for the spring sale"]},
            "token": {"answers": ["s3cr3t"]}
        }})
    );
}

#[test]
fn typing_on_an_option_goes_to_other_and_a_digit_picks() {
    let mut app = open(questions_request());
    press(&mut app, &typed("Green"));
    press(&mut app, &[key(KeyCode::Tab)]);
    press(&mut app, &typed("tok"));
    let effects = press(&mut app, &[ctrl('s')]);
    assert_eq!(
        sent(&effects, RequestKind::UserInput)["answers"]["color"],
        json!({"answers": ["Green"]})
    );
    let mut app = open(questions_request());
    press(&mut app, &[key(KeyCode::Char('2')), key(KeyCode::Tab)]);
    press(&mut app, &typed("t"));
    let effects = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(
        sent(&effects, RequestKind::UserInput)["answers"]["color"],
        json!({"answers": ["Blue"]})
    );
}

#[test]
fn declining_questions_sends_no_answers_and_esc_sends_nothing() {
    let mut app = open(questions_request());
    assert!(press(&mut app, &[key(KeyCode::Esc)]).is_empty());
    assert!(app.top().is_none());
    app.open_request(None);
    let effects = press(&mut app, &[key(KeyCode::F(3))]);
    assert_eq!(
        sent(&effects, RequestKind::UserInput),
        json!({"answers": {}})
    );
}

#[test]
fn a_closed_card_keeps_its_draft_until_the_request_ends() {
    let mut app = open(questions_request());
    press(
        &mut app,
        &[key(KeyCode::Down), key(KeyCode::Down), key(KeyCode::Down)],
    );
    press(&mut app, &typed("half a note"));
    press(&mut app, &[key(KeyCode::Esc)]);
    // Reopened: the same page, row and text.
    app.open_request(None);
    let Body::Questions(questions) = &card(&app).body else {
        panic!("not a question card")
    };
    assert_eq!(questions.current().note.text, "half a note");
    assert_eq!(questions.current().row, 3);
    // A form's typing survives too.
    let mut app = open(form_request());
    press(&mut app, &typed("Ada"));
    press(&mut app, &[key(KeyCode::Esc)]);
    app.open_request(None);
    let Body::Form(form) = &card(&app).body else {
        panic!("not a form")
    };
    assert_eq!(form.fields[0].input.text, "Ada");
    // Once the request is resolved, the draft goes with it.
    press(&mut app, &[key(KeyCode::Esc)]);
    app.on_bridge_event(BridgeEvent::RequestResolved {
        request: crate::bridge::ResolvedRequest {
            request_id: "rq-13".to_string(),
            kind: RequestKind::McpElicitation,
            method: "mcpServer/elicitation/request".to_string(),
            thread_id: thread(1),
            turn_id: Some("turn-1".to_string()),
            item_id: None,
            status: crate::bridge::CallEnd::Expired,
            answered_by: None,
            decision: None,
            answer: None,
            reason: Some("turn ended".to_string()),
            latency_ms: 9_000,
        },
    });
    assert!(app.card_drafts.is_empty());
}

#[test]
fn question_card() {
    let mut app = open(questions_request());
    press(&mut app, &[key(KeyCode::Down)]);
    snapshot("question_card", &app);
}

#[test]
fn question_card_secret_page() {
    let mut app = open(questions_request());
    press(&mut app, &[key(KeyCode::Tab)]);
    press(&mut app, &typed("hunter2"));
    snapshot("question_card_secret_page", &app);
}

// ----- permissions --------------------------------------------------------------------

#[test]
fn permissions_are_granted_for_the_turn_or_the_session_or_denied() {
    let grant = json!({"network": {"enabled": true},
        "fileSystem": {"read": ["/srv/docs"], "write": ["/srv/support/out"]}});
    for (keys, expected) in [
        (
            vec![key(KeyCode::Enter)],
            json!({"permissions": grant, "scope": "turn"}),
        ),
        (
            vec![key(KeyCode::Char('2'))],
            json!({"permissions": grant, "scope": "session"}),
        ),
        (
            vec![key(KeyCode::Char('3'))],
            json!({"permissions": {}, "scope": "turn"}),
        ),
    ] {
        let mut app = open(permissions_request());
        let effects = press(&mut app, &keys);
        assert_eq!(sent(&effects, RequestKind::PermissionsApproval), expected);
    }
}

#[test]
fn permissions_card() {
    let app = open(permissions_request());
    let text = screen(&app, 160, 48);
    assert!(
        text.contains("/srv/docs") && text.contains("/srv/support/out"),
        "{text}"
    );
    snapshot("permissions_card", &app);
}

// ----- MCP forms ----------------------------------------------------------------------

#[test]
fn a_form_follows_its_schema_and_is_checked_before_it_is_sent() {
    let mut app = open(form_request());
    let Body::Form(form) = &card(&app).body else {
        panic!("not a form")
    };
    let names: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
    // Required fields first, in `required`'s order.
    assert_eq!(names, ["name", "count", "loud", "ratio", "tone"]);
    assert_eq!(form.fields[3].input.text, "0.5");
    assert!(form.fields[2].flag);
    assert_eq!(form.fields[4].choice, Some(1));
    // Nothing typed: the first required field is the problem, nothing is sent.
    assert!(press(&mut app, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(
        card(&app).problem.as_deref(),
        Some("not sent: Name: required")
    );
    press(&mut app, &typed("A"));
    assert!(press(&mut app, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(
        card(&app).problem.as_deref(),
        Some("not sent: Name: at least 2 character(s)")
    );
    press(&mut app, &typed("da"));
    press(&mut app, &[key(KeyCode::Tab)]);
    press(&mut app, &typed("two"));
    assert!(press(&mut app, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(
        card(&app).problem.as_deref(),
        Some("not sent: Count: `two` is not a whole number")
    );
    press(&mut app, &[key(KeyCode::Backspace); 3]);
    press(&mut app, &typed("9"));
    assert!(press(&mut app, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(
        card(&app).problem.as_deref(),
        Some("not sent: Count: at most 5")
    );
    press(&mut app, &[key(KeyCode::Backspace)]);
    press(&mut app, &typed("3"));
    // The boolean toggles with Space, the enum moves with Right.
    press(&mut app, &[key(KeyCode::Tab), key(KeyCode::Char(' '))]);
    press(
        &mut app,
        &[
            key(KeyCode::Tab),
            key(KeyCode::Backspace),
            key(KeyCode::Backspace),
        ],
    );
    press(&mut app, &typed(".x"));
    assert!(press(&mut app, &[key(KeyCode::Enter)]).is_empty());
    assert_eq!(
        card(&app).problem.as_deref(),
        Some("not sent: Ratio: `0.x` is not a number")
    );
    press(&mut app, &[key(KeyCode::Backspace)]);
    press(&mut app, &typed("25"));
    press(&mut app, &[key(KeyCode::Tab), key(KeyCode::Right)]);
    let effects = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(
        sent(&effects, RequestKind::McpElicitation),
        json!({"action": "accept", "content":
            {"name": "Ada", "count": 3, "loud": false, "ratio": 0.25, "tone": "warm"}})
    );
}

#[test]
fn a_form_can_be_declined_or_cancelled() {
    let mut app = open(form_request());
    let effects = press(&mut app, &[key(KeyCode::F(3))]);
    assert_eq!(
        sent(&effects, RequestKind::McpElicitation),
        json!({"action": "decline"})
    );
    let mut app = open(form_request());
    let effects = press(&mut app, &[key(KeyCode::F(4))]);
    assert_eq!(
        sent(&effects, RequestKind::McpElicitation),
        json!({"action": "cancel"})
    );
}

#[test]
fn elicitation_form_card() {
    let mut app = open(form_request());
    press(&mut app, &typed("A"));
    press(&mut app, &[key(KeyCode::Tab)]);
    snapshot("elicitation_form_card", &app);
}

// ----- url and MCP tool-call approvals ------------------------------------------------

#[test]
fn a_url_elicitation_shows_the_url_and_waits_for_accept_or_decline() {
    let app = open(url_request());
    let labels: Vec<&str> = card(&app)
        .choices
        .iter()
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "accept: I opened the url and did what it asks",
            "decline",
            "cancel"
        ]
    );
    let mut app = app;
    let effects = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(
        sent(&effects, RequestKind::McpElicitation),
        json!({"action": "accept"})
    );
    let mut app = open(url_request());
    let effects = press(&mut app, &[key(KeyCode::Char('2'))]);
    assert_eq!(
        sent(&effects, RequestKind::McpElicitation),
        json!({"action": "decline"})
    );
}

#[test]
fn elicitation_url_card() {
    let app = open(url_request());
    assert!(screen(&app, 160, 48).contains("https://wiki.example/login?code=42"));
    snapshot("elicitation_url_card", &app);
}

#[test]
fn an_mcp_tool_approval_offers_the_persist_options_of_the_request() {
    let app = open(tool_approval_request());
    let answers: Vec<(&str, &Value)> = card(&app)
        .choices
        .iter()
        .map(|c| (c.label.as_str(), &c.answer))
        .collect();
    assert_eq!(
        answers,
        [
            (
                "allow this call",
                &json!({"action": "accept", "content": {}})
            ),
            (
                "allow, and don't ask again this session",
                &json!({"action": "accept", "content": {}, "_meta": {"persist": "session"}})
            ),
            (
                "allow, and don't ask again",
                &json!({"action": "accept", "content": {}, "_meta": {"persist": "always"}})
            ),
            ("decline", &json!({"action": "decline"})),
            ("cancel", &json!({"action": "cancel"})),
        ]
    );
    for choice in &card(&app).choices {
        Answer::parse(RequestKind::McpElicitation, choice.answer.clone()).unwrap();
    }
    // Without persist options: allow once, decline, cancel.
    let mut plain = tool_approval_request();
    plain.params["_meta"]["persist"] = Value::Null;
    assert_eq!(choices(&plain).len(), 3);
}

#[test]
fn mcp_tool_approval_card() {
    let app = open(tool_approval_request());
    let text = screen(&app, 160, 48);
    assert!(
        text.contains("probe_write") && text.contains("greeting.txt"),
        "{text}"
    );
    snapshot("mcp_tool_approval_card", &app);
}

// ----- file change with the turn's diff ------------------------------------------------

fn diff_updated(app: &mut App) {
    app.on_bridge_event(BridgeEvent::AppServerNotification {
        thread_id: Some(thread(1)),
        method: "turn/diff/updated".to_string(),
        params: json!({"threadId": thread(1), "turnId": "turn-1", "diff": TURN_DIFF}).into(),
    });
}

#[test]
fn the_turn_diff_reaches_an_open_card_and_tab_goes_file_by_file() {
    let mut app = open(file_change_request());
    assert!(card(&app).turn_diff.is_none());
    diff_updated(&mut app);
    assert_eq!(card(&app).turn_diff.as_deref(), Some(TURN_DIFF));
    let starts = card(&app).file_starts();
    assert_eq!(
        starts.len(),
        5,
        "three files of the item, two of the turn diff"
    );
    let lines = card(&app).file_change_lines();
    assert!(
        lines.contains(&(Tone::Added, "+fresh file".to_string())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(Tone::Removed, "-stale".to_string())),
        "{lines:?}"
    );
    for &start in &starts {
        press(&mut app, &[key(KeyCode::Tab)]);
        assert_eq!(card(&app).scroll, start);
    }
    press(
        &mut app,
        &[KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)],
    );
    assert_eq!(card(&app).scroll, starts[3]);
    // A card opened after the diff came gets it too.
    let mut app = app_with(file_change_request());
    diff_updated(&mut app);
    app.open_request(None);
    assert_eq!(card(&app).turn_diff.as_deref(), Some(TURN_DIFF));
    // Accepting sends the decision.
    let effects = press(&mut app, &[key(KeyCode::Enter)]);
    assert_eq!(
        sent(&effects, RequestKind::FileChangeApproval),
        json!({"decision": "accept"})
    );
}

#[test]
fn file_change_card_with_the_turn_diff() {
    let mut app = open(file_change_request());
    diff_updated(&mut app);
    snapshot("file_change_card_with_the_turn_diff", &app);
}

// ----- the header and title count every kind ------------------------------------------

#[test]
fn the_header_and_the_title_count_every_kind_waiting() {
    let mut app = app_with(questions_request());
    let effects = app.on_bridge_event(BridgeEvent::RequestOpened {
        request: permissions_request(),
    });
    assert_eq!(app.waiting_count(), 2);
    let text = screen(&app, 160, 48);
    assert!(text.contains("waiting on you 2"), "{text}");
    // The title changes at most once a second; a tick later it says 2.
    app.now_ms += 2_000;
    let title: Vec<Effect> = effects.into_iter().chain(app.on_tick()).collect();
    assert!(
        title
            .iter()
            .any(|e| matches!(e, Effect::Title(t) if t.contains("2 waiting on you"))),
        "{title:?}"
    );
    assert!(app.needs_ticks());
}

#[test]
fn esc_never_decides_on_any_card_and_the_request_stays() {
    for request in [
        questions_request(),
        permissions_request(),
        form_request(),
        url_request(),
        tool_approval_request(),
        file_change_request(),
    ] {
        let kind = request.kind;
        let mut app = open(request);
        press(&mut app, &[key(KeyCode::Down)]);
        assert!(press(&mut app, &[key(KeyCode::Esc)]).is_empty(), "{kind:?}");
        assert!(app.top().is_none(), "{kind:?}");
        assert_eq!(app.model.requests.len(), 1, "{kind:?}");
        assert_eq!(app.waiting_count(), 1, "{kind:?}");
    }
}

//! The console's claims: what it opens is claimed for its operator, renewed while open
//! and released on close; what someone else answers is shown as theirs and cannot be
//! sent until taken over; bulk answers claim every call first.

use pretty_assertions::assert_eq;

use super::*;
use crate::bridge::{CallClaim, ClaimChange, ClaimOutcome};

fn claim(id: &str, holder: &str) -> CallClaim {
    CallClaim {
        claim_id: id.to_string(),
        holder: holder.to_string(),
        lease_expires_at_ms: NOW_MS + 30_000,
    }
}

fn granted(request_id: &str, claim: CallClaim, replaced: Option<CallClaim>) -> Outcome {
    Outcome::Claimed {
        request_id: request_id.to_string(),
        takeover: replaced.is_some(),
        result: Ok(ClaimOutcome::Claimed {
            claim,
            thread_id: thread(1),
            renewed: false,
            replaced,
        }),
    }
}

fn ask(request_id: &str, claim_id: Option<&str>, takeover: bool) -> Effect {
    Effect::Bridge(Request::Claim {
        request_id: request_id.to_string(),
        holder: "ana@desk".to_string(),
        lease_ms: 30_000,
        claim_id: claim_id.map(str::to_string),
        takeover,
    })
}

fn app_as_ana() -> App {
    let mut app = busy_app();
    app.claims = crate::console::claims::Claims::new("ana@desk", 30_000);
    app
}

/// Someone else (the CLI, another console) claims req-3.
fn claimed_elsewhere(app: &mut App, holder: &str) -> CallClaim {
    let theirs = claim("c-bo", holder);
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = Some(theirs.clone());
    app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::Claimed,
        claim: theirs.clone(),
    });
    theirs
}

#[test]
fn an_opened_call_is_claimed_renewed_while_open_and_released_on_close() {
    let mut app = app_as_ana();
    let effects = press(&mut app, "a");
    assert_eq!(effects, vec![ask("req-3", None, false)]);
    assert_eq!(
        app.on_outcome(granted("req-3", claim("c-1", "ana@desk"), None)),
        vec![]
    );
    assert_eq!(app.claims.claim_id("req-3"), Some("c-1"));
    // Every third of the lease while it is open.
    app.now_ms += 9_000;
    assert!(!app.on_tick().iter().any(|e| matches!(e, Effect::Bridge(_))));
    app.now_ms += 1_000;
    let renewals: Vec<Effect> = app
        .on_tick()
        .into_iter()
        .filter(|e| matches!(e, Effect::Bridge(_)))
        .collect();
    assert_eq!(renewals, vec![ask("req-3", Some("c-1"), false)]);
    // Esc closes the editor and gives the claim back.
    let effects = app.on_key(key(KeyCode::Esc));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Release {
            request_id: "req-3".to_string(),
            claim_id: "c-1".to_string(),
        })]
    );
    assert!(app.claims.is_empty());
}

#[test]
fn the_consoles_answer_carries_its_claim_and_a_late_grant_is_given_back() {
    let mut app = app_as_ana();
    press(&mut app, "a");
    app.on_outcome(granted("req-3", claim("c-1", "ana@desk"), None));
    press(&mut app, "done");
    let effects = app.on_key(ctrl('s'));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Respond {
            request_id: "req-3".to_string(),
            result: ToolCallResult::text(true, "done"),
            claim: RespondClaim::Held("c-1".to_string()),
        })]
    );
    app.on_outcome(Outcome::Responded {
        request_id: "req-3".to_string(),
        result: Ok(RespondOutcome::Accepted),
    });
    assert!(app.claims.is_empty(), "the claim ended with the call");
    // Opened and closed before the claim came back: the late grant is released.
    let mut app = app_as_ana();
    press(&mut app, "a");
    assert_eq!(app.on_key(key(KeyCode::Esc)), vec![]);
    assert_eq!(
        app.on_outcome(granted("req-3", claim("c-2", "ana@desk"), None)),
        vec![Effect::Bridge(Request::Release {
            request_id: "req-3".to_string(),
            claim_id: "c-2".to_string(),
        })]
    );
}

#[test]
fn a_call_someone_else_answers_is_shown_as_theirs_and_sent_only_after_a_takeover() {
    let mut app = app_as_ana();
    let theirs = claimed_elsewhere(&mut app, "bo@cli");
    assert_eq!(app.answered_elsewhere("req-3"), Some("bo@cli"));
    // Opening it claims nothing: bo holds it.
    assert_eq!(press(&mut app, "a"), vec![]);
    press(&mut app, "mine");
    assert_eq!(app.on_key(ctrl('s')), vec![]);
    let message = app.editor().unwrap().message.clone().unwrap();
    assert!(
        message.contains("being answered by bo@cli") && message.contains("F8"),
        "{message}"
    );
    // F8 asks first; n leaves it to bo.
    assert_eq!(app.on_key(fkey(8)), vec![]);
    assert!(
        matches!(app.top(), Some(Overlay::ConfirmTakeover { holder, .. }) if holder == "bo@cli")
    );
    assert_eq!(press(&mut app, "n"), vec![]);
    assert_eq!(app.context(), Context::Editor);
    app.on_key(fkey(8));
    assert_eq!(press(&mut app, "y"), vec![ask("req-3", None, true)]);
    app.on_outcome(granted("req-3", claim("c-9", "ana@desk"), Some(theirs)));
    let message = app.editor().unwrap().message.clone().unwrap();
    assert!(message.contains("over from bo@cli"), "{message}");
    // The bridge's event shows ana's claim now.
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = Some(claim("c-9", "ana@desk"));
    app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::TakenOver,
        claim: claim("c-bo", "bo@cli"),
    });
    assert_eq!(app.answered_elsewhere("req-3"), None);
    let effects = app.on_key(ctrl('s'));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Respond {
            request_id: "req-3".to_string(),
            result: ToolCallResult::text(true, "mine"),
            claim: RespondClaim::Held("c-9".to_string()),
        })]
    );
}

#[test]
fn a_console_whose_claim_is_taken_over_is_told_and_lets_go() {
    let mut app = app_as_ana();
    press(&mut app, "a");
    app.on_outcome(granted("req-3", claim("c-1", "ana@desk"), None));
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = Some(claim("c-bo", "bo@desk"));
    app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::TakenOver,
        claim: claim("c-1", "ana@desk"),
    });
    assert!(!app.claims.holds("req-3"));
    assert_eq!(app.answered_elsewhere("req-3"), Some("bo@desk"));
    let notice = app.notice.clone().unwrap();
    assert!(notice.contains("bo@desk took"), "{notice}");
    // Closing the editor has nothing to give back.
    assert_eq!(app.on_key(key(KeyCode::Esc)), vec![]);
}

#[test]
fn bulk_answers_claim_every_call_first_and_report_those_others_answer() {
    let mut app = app_as_ana();
    for n in 4..=6 {
        app.on_bridge_event(BridgeEvent::ToolCallRequested {
            call: call(n, 1, "escalate_ticket", Answerer::Person),
        });
    }
    // req-5 is being answered by bo.
    let mut five = app.model.call("req-5").cloned().unwrap();
    five.claim = Some(claim("c-bo", "bo@cli"));
    app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call: five,
        change: ClaimChange::Claimed,
        claim: claim("c-bo", "bo@cli"),
    });
    press(&mut app, "a");
    app.on_outcome(granted("req-3", claim("c-1", "ana@desk"), None));
    press(&mut app, "ok");
    let effects = app.on_key(fkey(7));
    let first = RespondClaim::First {
        holder: "ana@desk".to_string(),
        lease_ms: 30_000,
    };
    let claims: Vec<(String, RespondClaim)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bridge(Request::Respond {
                request_id, claim, ..
            }) => Some((request_id.clone(), claim.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        claims,
        vec![
            ("req-3".to_string(), RespondClaim::Held("c-1".to_string())),
            ("req-4".to_string(), first.clone()),
            ("req-6".to_string(), first),
        ]
    );
    let notice = app.notice.clone().unwrap();
    assert!(
        notice.contains("1 call(s) not claimed") && notice.contains("being answered by bo@cli"),
        "{notice}"
    );
    // req-6 was claimed by someone in between: refused, and said so.
    app.on_outcome(Outcome::Responded {
        request_id: "req-4".to_string(),
        result: Ok(RespondOutcome::Accepted),
    });
    app.on_outcome(Outcome::Responded {
        request_id: "req-6".to_string(),
        result: Ok(RespondOutcome::Claimed {
            claim: claim("c-cy", "cy@laptop"),
        }),
    });
    let notice = app.notice.clone().unwrap();
    assert!(
        notice.contains("answered 1 more call(s) at once, 1 refused (1 being answered by others"),
        "{notice}"
    );
}

#[test]
fn a_request_card_is_claimed_and_its_answer_carries_the_claim() {
    let mut app = app_as_ana();
    let request = crate::console::cards::tests::command_request();
    app.on_bridge_event(BridgeEvent::RequestOpened {
        request: request.clone(),
    });
    let effects = app.open_request(Some(&request.request_id));
    assert_eq!(effects, vec![ask("rq-7", None, false)]);
    app.on_outcome(granted("rq-7", claim("c-7", "ana@desk"), None));
    let effects = app.on_key(key(KeyCode::Char('1')));
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::AnswerRequest {
            request_id: "rq-7".to_string(),
            answer: serde_json::json!({"decision": "accept"}),
            claim_id: Some("c-7".to_string()),
        })]
    );
}

#[test]
fn a_request_card_someone_else_holds_says_who_and_sends_nothing() {
    let mut app = app_as_ana();
    let mut request = crate::console::cards::tests::command_request();
    request.claim = Some(claim("c-bo", "bo@cli"));
    app.on_bridge_event(BridgeEvent::RequestOpened {
        request: request.clone(),
    });
    assert_eq!(press(&mut app, "A"), vec![]);
    assert_eq!(app.on_key(key(KeyCode::Char('1'))), vec![]);
    // Worded by kind: it is an approval, not a call.
    assert_eq!(
        app.notice.as_deref(),
        Some(
            "not sent: the command approval is being answered by bo@cli; F8 takes it over (asks first)"
        )
    );
    // The bridge's refusal (the claim came in meanwhile) says the same.
    app.on_outcome(Outcome::RequestAnswered {
        request_id: "rq-7".to_string(),
        result: Ok(crate::bridge::AnswerOutcome::Claimed {
            claim: claim("c-bo", "bo@cli"),
        }),
    });
    assert_eq!(
        app.notice.as_deref(),
        Some(
            "the answer was not sent: the command approval is being answered by bo@cli (F8 takes it over)"
        )
    );
    // Released by bo: the card's request shows nobody, and the answer goes.
    request.claim = None;
    app.on_bridge_event(BridgeEvent::RequestClaim {
        request,
        change: ClaimChange::Released,
        claim: claim("c-bo", "bo@cli"),
    });
    assert_eq!(app.answered_elsewhere("rq-7"), None);
}

#[test]
fn a_call_its_holder_lets_go_of_is_claimed_by_the_console_that_has_it_open() {
    let mut app = app_as_ana();
    let theirs = claimed_elsewhere(&mut app, "bo@cli");
    assert_eq!(press(&mut app, "a"), vec![]);
    // bo's lease runs out (bo died): the open editor claims it for ana.
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = None;
    let effects = app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::Expired,
        claim: theirs,
    });
    assert_eq!(effects, vec![ask("req-3", None, false)]);
    // A call released while nobody here has it open is left alone.
    let mut app = app_as_ana();
    let theirs = claimed_elsewhere(&mut app, "bo@cli");
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = None;
    let effects = app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::Released,
        claim: theirs,
    });
    assert_eq!(effects, vec![]);
}

#[test]
fn an_answer_sent_before_the_consoles_claim_came_back_is_sent_again_with_it() {
    let mut app = app_as_ana();
    press(&mut app, "a");
    press(&mut app, "quick");
    // ^S before the grant: no claim to send with yet.
    let effects = app.on_key(ctrl('s'));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Bridge(Request::Respond {
            claim: RespondClaim::None,
            ..
        })]
    ));
    app.on_outcome(granted("req-3", claim("c-1", "ana@desk"), None));
    // The bridge had granted the claim first: the answer is refused as ana's, and sent again.
    let effects = app.on_outcome(Outcome::Responded {
        request_id: "req-3".to_string(),
        result: Ok(RespondOutcome::Claimed {
            claim: claim("c-1", "ana@desk"),
        }),
    });
    assert_eq!(
        effects,
        vec![Effect::Bridge(Request::Respond {
            request_id: "req-3".to_string(),
            result: ToolCallResult::text(true, "quick"),
            claim: RespondClaim::Held("c-1".to_string()),
        })]
    );
}

#[test]
fn the_consoles_own_claim_announced_before_its_grant_is_not_someone_elses() {
    // A card: the bridge's event naming ana's claim comes before the claim's reply.
    let mut app = app_as_ana();
    let mut request = crate::console::cards::tests::command_request();
    app.on_bridge_event(BridgeEvent::RequestOpened {
        request: request.clone(),
    });
    assert_eq!(
        app.open_request(Some(&request.request_id)),
        vec![ask("rq-7", None, false)]
    );
    request.claim = Some(claim("c-7", "ana@desk"));
    app.on_bridge_event(BridgeEvent::RequestClaim {
        request,
        change: ClaimChange::Claimed,
        claim: claim("c-7", "ana@desk"),
    });
    assert_eq!(app.answered_elsewhere("rq-7"), None);
    assert_eq!(
        app.on_key(key(KeyCode::Char('1'))),
        vec![Effect::Bridge(Request::AnswerRequest {
            request_id: "rq-7".to_string(),
            answer: serde_json::json!({"decision": "accept"}),
            claim_id: Some("c-7".to_string()),
        })]
    );
    // The editor: the same race on a tool call.
    let mut app = app_as_ana();
    assert_eq!(press(&mut app, "a"), vec![ask("req-3", None, false)]);
    let mut call = app.model.call("req-3").cloned().unwrap();
    call.claim = Some(claim("c-1", "ana@desk"));
    app.on_bridge_event(BridgeEvent::ToolCallClaim {
        call,
        change: ClaimChange::Claimed,
        claim: claim("c-1", "ana@desk"),
    });
    press(&mut app, "done");
    assert_eq!(
        app.on_key(ctrl('s')),
        vec![Effect::Bridge(Request::Respond {
            request_id: "req-3".to_string(),
            result: ToolCallResult::text(true, "done"),
            claim: RespondClaim::Held("c-1".to_string()),
        })]
    );
    // Someone else's claim under another name stays theirs.
    let mut app = app_as_ana();
    press(&mut app, "a");
    claimed_elsewhere(&mut app, "bo@cli");
    assert_eq!(app.answered_elsewhere("req-3"), Some("bo@cli"));
}

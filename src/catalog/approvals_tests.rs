use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::catalog::{Catalog, CatalogError};

fn rules(toml: &str) -> ApprovalRules {
    match Catalog::parse(toml, Path::new("/tmp/cat/catalog.toml")) {
        Ok(catalog) => catalog.approvals,
        Err(e) => panic!("catalog refused: {e}"),
    }
}

fn problems(toml: &str) -> Vec<String> {
    match Catalog::parse(toml, Path::new("/tmp/cat/catalog.toml")) {
        Ok(_) => panic!("catalog accepted"),
        Err(CatalogError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn request(method: &str, params: Value) -> ServerRequest {
    let line = json!({"id": 1, "method": method, "params": params}).to_string();
    parse_sample_request(&line).unwrap()
}

fn command(text: &str) -> ServerRequest {
    request(
        "item/commandExecution/requestApproval",
        json!({"threadId":"t","turnId":"u","itemId":"i","command":text,"cwd":"/work/repo"}),
    )
}

fn file_change() -> ServerRequest {
    request(
        "item/fileChange/requestApproval",
        json!({"threadId":"t","turnId":"u","itemId":"i"}),
    )
}

fn permissions() -> ServerRequest {
    request(
        "item/permissions/requestApproval",
        json!({"threadId":"t","turnId":"u","itemId":"i","cwd":"/work/repo",
               "permissions":{"network":{"enabled":true},"fileSystem":{"write":["/tmp/x"]}}}),
    )
}

fn user_input() -> ServerRequest {
    request(
        "item/tool/requestUserInput",
        json!({"threadId":"t","turnId":"u","itemId":"i",
               "questions":[{"id":"color","header":"h","question":"Which?"}]}),
    )
}

fn elicitation(server: &str, schema: Value, meta: Option<Value>) -> ServerRequest {
    let mut params = json!({"threadId":"t","turnId":"u","serverName":server,"mode":"form",
                            "message":"ok?","requestedSchema":schema});
    if let Some(meta) = meta {
        params["_meta"] = meta;
    }
    request("mcpServer/elicitation/request", params)
}

fn answer(outcome: RuleOutcome) -> (usize, Value) {
    match outcome {
        RuleOutcome::Decided {
            rule_index, answer, ..
        } => (rule_index, answer.to_value()),
        other => panic!("not decided: {other:?}"),
    }
}

fn none() -> RequestContext {
    RequestContext::default()
}

#[test]
fn command_prefix_matches_words_after_unwrapping_bash_lc() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "command", command_prefix = ["git", "status"] }
decision = "accept"
"#,
    );
    let (index, value) = answer(r.decide(&command("/bin/bash -lc 'git status --short'"), &none()));
    assert_eq!(index, 0);
    assert_eq!(value, json!({"decision": "accept"}));
    assert_eq!(
        r.decide(&command("git status"), &none()),
        r.decide(&command("sh -c \"git status\""), &none())
    );
    // Another command, a longer first word, and a compound command do not match.
    for other in [
        "git log",
        "gitx status",
        "/bin/bash -lc 'git status && rm -rf /'",
        "git status; rm x",
        "git status $(rm x)",
        "git status > out",
    ] {
        assert!(
            matches!(
                r.decide(&command(other), &none()),
                RuleOutcome::Ask {
                    rule_index: None,
                    ..
                }
            ),
            "{other}"
        );
    }
}

#[test]
fn command_regex_and_cwd_glob_and_order() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "command", command_regex = "^rm ", cwd_glob = "/work/**" }
decision = "decline"
reason = "never delete"

[[approvals]]
match = { kind = "command", command_regex = "^rm " }
decision = "cancel"

[[approvals]]
match = { kind = "command" }
decision = "accept_for_session"
"#,
    );
    match r.decide(&command("bash -lc 'rm -rf build'"), &none()) {
        RuleOutcome::Decided {
            decision,
            rule_index,
            reason,
            answer,
        } => {
            assert_eq!(decision, RuleDecision::Decline);
            assert_eq!(rule_index, 0);
            assert_eq!(reason.as_deref(), Some("never delete"));
            assert_eq!(answer.to_value(), json!({"decision": "decline"}));
        }
        other => panic!("{other:?}"),
    }
    let elsewhere = request(
        "item/commandExecution/requestApproval",
        json!({"threadId":"t","turnId":"u","itemId":"i","command":"rm x","cwd":"/home/me"}),
    );
    assert_eq!(
        answer(r.decide(&elsewhere, &none())),
        (1, json!({"decision": "cancel"}))
    );
    assert_eq!(
        answer(r.decide(&command("ls"), &none())),
        (2, json!({"decision": "acceptForSession"}))
    );
}

#[test]
fn file_change_path_glob_needs_every_path_and_known_paths() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "file_change", path_glob = "docs/**" }
decision = "accept"
"#,
    );
    let inside = RequestContext {
        cwd: Some("/work/repo".into()),
        file_paths: Some(vec!["/work/repo/docs/a.md".into(), "docs/sub/b.md".into()]),
    };
    assert_eq!(
        answer(r.decide(&file_change(), &inside)),
        (0, json!({"decision": "accept"}))
    );
    let mixed = RequestContext {
        cwd: Some("/work/repo".into()),
        file_paths: Some(vec!["/work/repo/docs/a.md".into(), "src/main.rs".into()]),
    };
    assert!(matches!(
        r.decide(&file_change(), &mixed),
        RuleOutcome::Ask { .. }
    ));
    assert!(matches!(
        r.decide(&file_change(), &none()),
        RuleOutcome::Ask { .. }
    ));
    // A rule of another kind never answers a file change.
    assert!(matches!(
        r.decide(&command("ls"), &inside),
        RuleOutcome::Ask { .. }
    ));
}

#[test]
fn permissions_accept_grants_what_was_asked() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "permissions", cwd_glob = "/work/*" }
decision = "accept"

[[approvals]]
match = { kind = "permissions" }
decision = "decline"
"#,
    );
    assert_eq!(
        answer(r.decide(&permissions(), &none())),
        (
            0,
            json!({"permissions":{"network":{"enabled":true},"fileSystem":{"write":["/tmp/x"]}},
                   "scope":"turn"})
        )
    );
    let r = rules(
        r#"
[[approvals]]
match = { kind = "permissions" }
decision = "accept_for_session"
"#,
    );
    assert_eq!(
        answer(r.decide(&permissions(), &none())).1["scope"],
        "session"
    );
    let r = rules(
        r#"
[[approvals]]
match = { kind = "permissions" }
decision = "decline"
"#,
    );
    assert_eq!(
        answer(r.decide(&permissions(), &none())).1,
        json!({"permissions":{}, "scope":"turn"})
    );
}

#[test]
fn user_input_is_declined_with_no_answers_or_accepted_with_given_ones() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "user_input" }
decision = "decline"
"#,
    );
    assert_eq!(
        answer(r.decide(&user_input(), &none())).1,
        json!({"answers": {}})
    );
    let r = rules(
        r#"
[[approvals]]
match = { kind = "user_input" }
decision = "accept"
answers = { color = "blue" }
"#,
    );
    assert_eq!(
        answer(r.decide(&user_input(), &none())).1,
        json!({"answers": {"color": {"answers": ["blue"]}}})
    );
    // A question the rule has no answer for goes to a person.
    let r = rules(
        r#"
[[approvals]]
match = { kind = "user_input" }
decision = "accept"
answers = { size = "L" }
"#,
    );
    assert!(matches!(
        r.decide(&user_input(), &none()),
        RuleOutcome::Ask {
            rule_index: Some(0),
            note: Some(_)
        }
    ));
}

#[test]
fn elicitation_by_server_accepts_tool_approvals_but_not_forms_with_fields() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "elicitation", server = "docs" }
decision = "accept_for_session"

[[approvals]]
match = { kind = "elicitation", server = "forms" }
decision = "accept"

[[approvals]]
match = { kind = "elicitation" }
decision = "decline"
"#,
    );
    let approval = elicitation(
        "docs",
        json!({"type":"object","properties":{}}),
        Some(json!({"codex_approval_kind":"mcp_tool_call"})),
    );
    assert_eq!(
        answer(r.decide(&approval, &none())),
        (
            0,
            json!({"action":"accept","content":{},"_meta":{"persist":"session"}})
        )
    );
    let form = elicitation(
        "forms",
        json!({"type":"object","properties":{"name":{"type":"string"}}}),
        None,
    );
    assert!(matches!(
        r.decide(&form, &none()),
        RuleOutcome::Ask {
            rule_index: Some(1),
            ..
        }
    ));
    assert_eq!(
        answer(r.decide(&elicitation("other", json!({}), None), &none())),
        (2, json!({"action":"decline"}))
    );
}

#[test]
fn ask_rules_and_no_rules_hand_the_request_to_a_person() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "command", command_prefix = ["make"] }
reason = "builds are looked at"
"#,
    );
    assert_eq!(
        r.decide(&command("make all"), &none()),
        RuleOutcome::Ask {
            rule_index: Some(0),
            note: Some("builds are looked at".into())
        }
    );
    assert_eq!(
        ApprovalRules::default().decide(&command("ls"), &none()),
        RuleOutcome::Ask {
            rule_index: None,
            note: None
        }
    );
}

#[test]
fn handler_rule_runs_the_script_with_the_request() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "command" }
handler = { command = ["python3", "decide.py"], timeout_ms = 2000 }
"#,
    );
    match r.decide(&command("bash -lc 'ls -la'"), &none()) {
        RuleOutcome::RunHandler {
            rule_index,
            spec,
            input,
        } => {
            assert_eq!(rule_index, 0);
            assert_eq!(spec.argv, vec!["python3", "decide.py"]);
            assert_eq!(spec.timeout.as_millis(), 2000);
            assert_eq!(input["kind"], "command");
            assert_eq!(input["method"], "item/commandExecution/requestApproval");
            assert_eq!(input["command"], "ls -la");
            assert_eq!(input["params"]["itemId"], "i");
        }
        other => panic!("{other:?}"),
    }
    let req = command("ls");
    assert_eq!(
        answer(answer_from_handler(&req, r#"{"decision":"decline","reason":"no"}"#, 0).unwrap()),
        (0, json!({"decision":"decline"}))
    );
    assert_eq!(
        answer(
            answer_from_handler(&req, r#"{"answer":{"decision":"acceptForSession"}}"#, 0).unwrap()
        )
        .1,
        json!({"decision":"acceptForSession"})
    );
    assert!(matches!(
        answer_from_handler(&req, r#"{"decision":"ask"}"#, 0).unwrap(),
        RuleOutcome::Ask { .. }
    ));
    for bad in [
        "not json",
        r#"{"decision":"maybe"}"#,
        r#"{}"#,
        r#"{"answer":{"decision":"yes"}}"#,
    ] {
        assert!(answer_from_handler(&req, bad, 0).is_err(), "{bad}");
    }
    // An amendment codex did not propose is not a decision this request allows.
    let amended = r#"{"answer":{"decision":{"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["rm"]}}}}"#;
    let refused = answer_from_handler(&req, amended, 3).unwrap_err();
    assert!(
        refused.contains("rule 3") && refused.contains("not one this request allows"),
        "{refused}"
    );
}

#[test]
fn rules_do_not_answer_tool_calls_or_other_requests() {
    let r = rules(
        r#"
[[approvals]]
match = { kind = "command" }
decision = "accept"
"#,
    );
    let call = request(
        "item/tool/call",
        json!({"threadId":"t","turnId":"u","callId":"c","tool":"x","arguments":{}}),
    );
    assert!(matches!(
        r.decide(&call, &none()),
        RuleOutcome::Ask {
            rule_index: None,
            ..
        }
    ));
}

#[test]
fn validation_names_file_line_and_rule() {
    let found = problems(
        r#"
[[approvals]]
match = { kind = "command", command_regex = "(" }
decision = "accept"

[[approvals]]
match = { kind = "file_change", path_glob = "docs/[" }
decision = "accept"

[[approvals]]
match = { kind = "shell" }
decision = "accept"

[[approvals]]
match = { kind = "permissions" }
decision = "cancel"

[[approvals]]
match = { kind = "command" }
decision = "accept"
handler = { command = ["x"] }

[[approvals]]
match = { kind = "user_input" }
decision = "accept"

[[approvals]]
match = { kind = "elicitation", command_prefix = ["ls"] }
decision = "maybe"

[[approvals]]
decision = "accept"
"#,
    );
    let joined = found.join("\n");
    let expect = [
        "/tmp/cat/catalog.toml:3: approval rule 1 (approvals[0]): match.command_regex \"(\" is not a valid regex",
        "/tmp/cat/catalog.toml:7: approval rule 2 (approvals[1]): match.path_glob \"docs/[\" is not a valid glob",
        "/tmp/cat/catalog.toml:11: approval rule 3 (approvals[2]): match.kind \"shell\" is not a kind of request",
        "/tmp/cat/catalog.toml:16: approval rule 4 (approvals[3]): a permissions request cannot take decision \"cancel\"",
        "approval rule 5 (approvals[4]): has both decision and handler",
        "approval rule 6 (approvals[5]): a user_input rule can accept only with answers",
        "approval rule 7 (approvals[6]): match.command_prefix does not apply to kind \"elicitation\"",
        "approval rule 7 (approvals[6]): decision \"maybe\" is not one of",
        "approval rule 8 (approvals[7]): match is missing",
    ];
    for text in expect {
        assert!(joined.contains(text), "missing {text:?} in\n{joined}");
    }
    assert_eq!(found.len(), expect.len(), "{joined}");
}

#[test]
fn globs() {
    let glob = PathGlob::new("docs/**/*.md").unwrap();
    assert!(glob.is_match("docs/a.md"));
    assert!(glob.is_match("docs/x/y/a.md"));
    assert!(!glob.is_match("docs/a.rs"));
    assert!(!glob.is_match("src/docs/a.md"));
    let glob = PathGlob::new("src/*.rs").unwrap();
    assert!(glob.is_match("src/main.rs"));
    assert!(!glob.is_match("src/a/main.rs"));
    let glob = PathGlob::new("file?.[ch]").unwrap();
    assert!(glob.is_match("file1.c"));
    assert!(!glob.is_match("file12.c"));
    assert!(PathGlob::new("a[!b]c").unwrap().is_match("axc"));
    assert!(!PathGlob::new("a[!b]c").unwrap().is_match("abc"));
    assert!(PathGlob::new("a.(b)+").unwrap().is_match("a.(b)+"));
    assert!(PathGlob::new("[").is_err());
    assert!(PathGlob::new("").is_err());
}

#[test]
fn unwrapping() {
    assert_eq!(unwrap_shell("/bin/bash -lc 'ls -la'"), "ls -la");
    assert_eq!(unwrap_shell("sh -c \"echo \\\"hi\\\"\""), "echo \"hi\"");
    assert_eq!(unwrap_shell("ls -la"), "ls -la");
    assert_eq!(unwrap_shell("bash -lc 'a' extra"), "bash -lc 'a' extra");
    assert_eq!(unwrap_shell("bash -lc 'unbalanced"), "bash -lc 'unbalanced");
}

#[test]
fn sample_requests_are_read_from_captured_lines_or_params() {
    let line = r#"<< {"method":"item/commandExecution/requestApproval","id":0,"params":{"threadId":"t","turnId":"u","itemId":"i","command":"ls"}}"#;
    assert!(matches!(
        parse_sample_request(line).unwrap(),
        ServerRequest::CommandApproval(_)
    ));
    let kinds = [
        (
            json!({"threadId":"t","turnId":"u","itemId":"i","command":"ls"}),
            ApprovalKind::Command,
        ),
        (
            json!({"threadId":"t","turnId":"u","itemId":"i"}),
            ApprovalKind::FileChange,
        ),
        (
            json!({"threadId":"t","turnId":"u","itemId":"i","permissions":{}}),
            ApprovalKind::Permissions,
        ),
        (
            json!({"threadId":"t","turnId":"u","itemId":"i","questions":[]}),
            ApprovalKind::UserInput,
        ),
        (
            json!({"threadId":"t","serverName":"s","mode":"form"}),
            ApprovalKind::Elicitation,
        ),
    ];
    for (params, kind) in kinds {
        let parsed = parse_sample_request(&params.to_string()).unwrap();
        assert_eq!(ApprovalKind::of(&parsed), Some(kind));
    }
    assert!(parse_sample_request("[1]").is_err());
    assert!(parse_sample_request("{").is_err());
}

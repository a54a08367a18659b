//! Every line of a real app-server session (captured from codex 0.169.0) survives a
//! round trip through the protocol types unchanged.

use serde_json::Value;
use switchboard::protocol::{Answer, Message, RequestKind, ServerNotification, ServerRequest};

use super::support::repo_path;

fn captured_lines() -> Vec<(String, String)> {
    lines_of("tests/fixtures/appserver_one_call.jsonl")
}

fn lines_of(fixture: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_path(fixture)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (dir, json) = l.split_at(3);
            (dir.trim().to_string(), json.to_string())
        })
        .collect()
}

#[test]
fn captured_lines_round_trip() {
    let lines = captured_lines();
    assert!(lines.len() > 20, "fixture too small");
    for (dir, line) in lines {
        let original: Value = serde_json::from_str(&line).unwrap();
        let message = Message::decode(&line).unwrap_or_else(|e| panic!("{dir} {line}: {e}"));
        let back = serde_json::to_value(&message).unwrap();
        // Our client lines were written without "jsonrpc"; app-server sends none either.
        assert_eq!(back, original, "round trip changed {line}");
    }
}

#[test]
fn captured_server_messages_are_typed() {
    let mut tool_calls = 0;
    let mut typed = 0;
    for (dir, line) in captured_lines() {
        if dir != "<<" {
            continue;
        }
        match Message::decode(&line).unwrap() {
            Message::Request(request) => {
                if let ServerRequest::ToolCall(params) =
                    ServerRequest::from_request(&request).unwrap()
                {
                    assert_eq!(params.tool, "lookup_ticket");
                    assert_eq!(params.arguments["ticket_id"], "T-1");
                    assert_eq!(params.call_id, "call_resp_0");
                    tool_calls += 1;
                }
            }
            Message::Notification(n) => {
                let parsed = ServerNotification::from_notification(&n).unwrap();
                if !matches!(parsed, ServerNotification::Other { .. }) {
                    typed += 1;
                }
            }
            Message::Response(_) | Message::Error(_) => {}
        }
    }
    assert_eq!(tool_calls, 1);
    assert!(typed >= 10, "only {typed} notifications were typed");
}

/// Drops null members, which the typed params leave out when they write back.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Approvals, a file change, a question and a permissions request captured from the real
/// codex 0.169.0 and 0.171.0 (tests/fixtures/capture.py): each request is typed,
/// its params write back unchanged, and the answer that was sent parses as its kind.
#[test]
fn captured_server_requests_are_typed_and_their_answers_parse() {
    for fixture in [
        "tests/fixtures/appserver_requests_0169.jsonl",
        "tests/fixtures/appserver_requests_0171.jsonl",
    ] {
        let lines = lines_of(fixture);
        let mut kinds = Vec::new();
        let mut resolved = 0;
        for (index, (dir, line)) in lines.iter().enumerate() {
            let original: Value = serde_json::from_str(line).unwrap();
            let message = Message::decode(line).unwrap();
            assert_eq!(serde_json::to_value(&message).unwrap(), original);
            match message {
                Message::Request(request) if dir == "<<" => {
                    let typed = ServerRequest::from_request(&request)
                        .unwrap_or_else(|e| panic!("{fixture}: {line}: {e}"));
                    let kind = typed.kind().unwrap_or_else(|| panic!("untyped {line}"));
                    let params = match &typed {
                        ServerRequest::CommandApproval(p) => serde_json::to_value(p),
                        ServerRequest::FileChangeApproval(p) => serde_json::to_value(p),
                        ServerRequest::PermissionsApproval(p) => serde_json::to_value(p),
                        ServerRequest::UserInput(p) => serde_json::to_value(p),
                        other => panic!("unexpected {other:?}"),
                    }
                    .unwrap();
                    assert_eq!(
                        without_nulls(&params),
                        without_nulls(request.params.as_ref().unwrap()),
                        "{fixture}: params changed in a round trip"
                    );
                    assert!(typed.thread_id().is_some() && typed.turn_id().is_some());
                    // The answer the capture sent is the next client line with this id.
                    let answer = lines[index + 1..]
                        .iter()
                        .filter(|(d, _)| d == ">>")
                        .find_map(|(_, l)| match Message::decode(l).unwrap() {
                            Message::Response(r) if r.id == request.id => Some(r.result),
                            _ => None,
                        })
                        .unwrap();
                    let parsed = Answer::parse(kind, answer.clone()).unwrap();
                    assert_eq!(parsed.to_value(), answer);
                    kinds.push(kind);
                }
                Message::Notification(n) => {
                    if let ServerNotification::ServerRequestResolved { .. } =
                        ServerNotification::from_notification(&n).unwrap()
                    {
                        resolved += 1;
                    }
                }
                _ => {}
            }
        }
        assert_eq!(
            kinds,
            vec![
                RequestKind::CommandApproval,
                RequestKind::FileChangeApproval,
                RequestKind::UserInput,
                RequestKind::PermissionsApproval
            ],
            "{fixture}"
        );
        assert_eq!(
            resolved, 4,
            "{fixture}: every request gets serverRequest/resolved"
        );
    }
}

//! Every line of a real app-server session (captured from codex 0.169.0) survives a
//! round trip through the protocol types unchanged.

use serde_json::Value;
use switchboard::protocol::{Message, ServerNotification, ServerRequest};

use super::support::repo_path;

fn captured_lines() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(repo_path("tests/fixtures/appserver_one_call.jsonl")).unwrap();
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

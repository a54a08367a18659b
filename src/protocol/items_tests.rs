use super::*;
use serde_json::json;

/// The protocol lines app-server sent in a capture (`tests/fixtures/capture.py`).
fn captured(name: &str) -> Vec<Notification> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("<< "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("id").is_none())
        .map(note)
        .collect()
}

fn note(v: Value) -> Notification {
    Notification {
        method: v["method"].as_str().unwrap().to_string(),
        params: v.get("params").cloned(),
        emitted_at_ms: None,
    }
}

const CAPTURES: [&str; 2] = ["appserver_items_0171.jsonl", "appserver_items_0169.jsonl"];

#[test]
fn every_captured_item_is_typed_and_written_back_as_it_came() {
    for capture in CAPTURES {
        let mut kinds = std::collections::BTreeSet::new();
        for n in captured(capture) {
            if n.method != method::ITEM_STARTED && n.method != method::ITEM_COMPLETED {
                continue;
            }
            let raw = n.params.as_ref().unwrap()["item"].clone();
            let item = Item::from_value(&raw);
            assert!(
                !matches!(item, Item::Unknown { .. }),
                "{capture}: not typed: {raw}"
            );
            assert_eq!(item.to_value(), raw, "{capture}: round trip");
            let again: Item = serde_json::from_str(&serde_json::to_string(&item).unwrap()).unwrap();
            assert_eq!(again, item);
            kinds.insert(item.kind().to_string());
        }
        let kinds: Vec<_> = kinds.into_iter().collect();
        assert_eq!(
            kinds,
            [
                "agentMessage",
                "commandExecution",
                "fileChange",
                "reasoning",
                "userMessage"
            ],
            "{capture}"
        );
    }
}

#[test]
fn captured_commands_carry_status_exit_code_duration_and_output() {
    for capture in CAPTURES {
        let commands: Vec<CommandExecution> = captured(capture)
            .iter()
            .filter_map(|n| match ItemNotification::parse(n)? {
                Ok(ItemNotification::Completed {
                    item: Item::CommandExecution(c),
                    ..
                }) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(commands.len(), 2, "{capture}");
        assert_eq!(commands[0].command, "/bin/bash -lc 'echo one; echo two'");
        assert_eq!(commands[0].cwd, "/tmp/cap-work");
        assert_eq!(
            (commands[0].status.as_str(), commands[0].exit_code),
            ("completed", Some(0))
        );
        assert_eq!(commands[0].aggregated_output.as_deref(), Some("one\ntwo\n"));
        assert!(commands[0].duration_ms.is_some());
        assert_eq!(
            (commands[1].status.as_str(), commands[1].exit_code),
            ("failed", Some(3))
        );
    }
}

#[test]
fn captured_deltas_and_diffs_are_typed() {
    for capture in CAPTURES {
        let typed: Vec<ItemNotification> = captured(capture)
            .iter()
            .filter_map(ItemNotification::parse)
            .map(Result::unwrap)
            .collect();
        let output: String = typed
            .iter()
            .filter_map(|n| match n {
                ItemNotification::Delta {
                    stream: DeltaStream::CommandOutput,
                    delta,
                    ..
                } => Some(delta.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(output, "one\ntwo\noops\n", "{capture}");
        assert!(typed.iter().any(|n| matches!(n,
            ItemNotification::Delta { stream: DeltaStream::ReasoningSummary(0), delta, .. }
                if delta == "**Thinking** about the answer")));
        assert!(typed.iter().any(|n| matches!(
            n,
            ItemNotification::ReasoningSummaryPartAdded {
                summary_index: 0,
                ..
            }
        )));
        assert!(typed.iter().any(|n| matches!(n,
            ItemNotification::DiffUpdated { diff, .. } if diff.contains("+hello"))));
        let changes: Vec<&FileChange> = typed
            .iter()
            .filter_map(|n| match n {
                ItemNotification::Completed {
                    item: Item::FileChange(f),
                    ..
                } => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(changes[0].changes[0].path, "/tmp/cap-work/new.txt");
        assert_eq!(changes[0].changes[0].kind_name(), "add");
        assert_eq!(changes[0].changes[0].diff, "hello\n");
    }
}

#[test]
fn an_unknown_item_kind_is_kept_whole() {
    let raw = json!({"type": "hookRun", "id": "h1", "hook": "pre", "status": "completed"});
    let item = Item::from_value(&raw);
    assert_eq!(
        item,
        Item::Unknown {
            kind: "hookRun".to_string(),
            raw: raw.clone()
        }
    );
    assert_eq!((item.id(), item.to_value()), ("h1", raw));
    // A known kind in a shape that does not parse is kept too, never dropped.
    let broken = json!({"type": "commandExecution", "id": "c1", "command": 7});
    assert!(
        matches!(Item::from_value(&broken), Item::Unknown { kind, raw } if kind == "commandExecution" && raw == broken)
    );
}

#[test]
fn plan_updates_and_other_kinds_from_the_schema_are_typed() {
    let n = note(json!({"method": "turn/plan/updated", "params": {
        "threadId": "T", "turnId": "U", "explanation": "two steps",
        "plan": [{"step": "look", "status": "completed"}, {"step": "fix", "status": "inProgress"}]}}));
    assert_eq!(
        ItemNotification::parse(&n).unwrap().unwrap(),
        ItemNotification::PlanUpdated {
            thread_id: "T".to_string(),
            turn_id: "U".to_string(),
            explanation: Some("two steps".to_string()),
            plan: vec![
                PlanStep {
                    step: "look".to_string(),
                    status: "completed".to_string()
                },
                PlanStep {
                    step: "fix".to_string(),
                    status: "inProgress".to_string()
                },
            ],
        }
    );
    let mcp = json!({"type": "mcpToolCall", "id": "m", "server": "docs", "tool": "search",
        "status": "failed", "arguments": {"q": 1}, "result": null, "error": {"message": "boom"},
        "durationMs": 5});
    match Item::from_value(&mcp) {
        Item::McpToolCall(call) => {
            assert_eq!(call.error_message(), Some("boom"));
            assert_eq!(Item::McpToolCall(call).to_value(), mcp);
        }
        other => panic!("{other:?}"),
    }
    for raw in [
        json!({"type": "webSearch", "id": "w", "query": "rust", "action": {"type": "search", "query": "rust"}}),
        json!({"type": "imageView", "id": "i", "path": "/a.png"}),
        json!({"type": "contextCompaction", "id": "c"}),
        json!({"type": "enteredReviewMode", "id": "r", "review": "the diff"}),
        json!({"type": "plan", "id": "p", "text": "1. look"}),
    ] {
        let item = Item::from_value(&raw);
        assert!(!matches!(item, Item::Unknown { .. }), "{raw}");
        assert_eq!(item.to_value(), raw);
    }
    let other = note(json!({"method": "thread/started", "params": {}}));
    assert!(ItemNotification::parse(&other).is_none());
}

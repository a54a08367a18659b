use super::*;
use serde_json::json;

use crate::bridge::TranscriptRow;

/// What app-server sent in a capture from real codex (`tests/fixtures/capture.py`).
fn captured(name: &str) -> Vec<Notification> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("<< "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("id").is_none())
        .map(|v| note(&v))
        .collect()
}

fn note(v: &Value) -> Notification {
    Notification {
        method: v["method"].as_str().unwrap().to_string(),
        params: v.get("params").cloned(),
        emitted_at_ms: None,
    }
}

fn rows_of(notes: &[Notification]) -> Vec<ItemRow> {
    let mut fold = ItemFold::default();
    let rows = notes
        .iter()
        .flat_map(|n| fold.fold(n))
        .map(|(_, _, entry)| match entry {
            TranscriptEntry::Item(row) => row,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fold.running(), 0, "every command's output was let go");
    rows
}

#[test]
fn a_real_codex_turn_gives_a_row_per_command_change_and_reasoning() {
    for capture in ["appserver_items_0171.jsonl", "appserver_items_0169.jsonl"] {
        let rows = rows_of(&captured(capture));
        assert_eq!(rows.len(), 4, "{capture}: {rows:#?}");
        assert_eq!(
            rows[0],
            ItemRow::Command {
                item_id: "call_1".to_string(),
                command: "/bin/bash -lc 'echo one; echo two'".to_string(),
                cwd: "/tmp/cap-work".to_string(),
                status: "completed".to_string(),
                exit_code: Some(0),
                duration_ms: match &rows[0] {
                    ItemRow::Command { duration_ms, .. } => *duration_ms,
                    _ => None,
                },
                output: "one\ntwo\n".to_string(),
                output_cut_bytes: 0,
            }
        );
        assert!(
            matches!(&rows[1], ItemRow::Command { status, exit_code: Some(3), output, .. }
            if status == "failed" && output == "oops\n")
        );
        assert_eq!(
            rows[2],
            ItemRow::FileChange {
                item_id: "call_1".to_string(),
                status: "completed".to_string(),
                files: vec![FileDiff {
                    path: "/tmp/cap-work/new.txt".to_string(),
                    change: "add".to_string(),
                    move_path: None,
                    diff: "hello\n".to_string(),
                }],
            }
        );
        assert_eq!(
            rows[3],
            ItemRow::Reasoning {
                item_id: "rs_1".to_string(),
                summary: vec!["**Thinking** about the answer".to_string()],
            }
        );
    }
}

fn started(item: Value) -> Notification {
    note(
        &json!({"method": "item/started", "params": {"threadId": "T", "turnId": "U", "item": item}}),
    )
}

fn completed(item: Value) -> Notification {
    note(
        &json!({"method": "item/completed", "params": {"threadId": "T", "turnId": "U", "item": item}}),
    )
}

#[test]
fn output_streamed_from_deltas_is_used_when_the_item_has_none() {
    let command = json!({"type": "commandExecution", "id": "c", "command": "ls", "cwd": "/w",
        "status": "inProgress", "commandActions": []});
    let delta = |d: &str| {
        note(
            &json!({"method": "item/commandExecution/outputDelta", "params": {
            "threadId": "T", "turnId": "U", "itemId": "c", "delta": d}}),
        )
    };
    let mut done = command.clone();
    done["status"] = json!("declined");
    let rows = rows_of(&[
        started(command),
        delta("a\n"),
        delta("b\n"),
        completed(done),
    ]);
    assert!(
        matches!(&rows[0], ItemRow::Command { output, status, exit_code: None, .. }
        if output == "a\nb\n" && status == "declined")
    );
}

#[test]
fn plans_mcp_calls_searches_and_unknown_items_become_rows() {
    let plan = note(
        &json!({"method": "turn/plan/updated", "params": {"threadId": "T",
        "turnId": "U", "explanation": null,
        "plan": [{"step": "look", "status": "completed"}, {"step": "fix", "status": "inProgress"}]}}),
    );
    let rows = rows_of(&[
        plan,
        completed(
            json!({"type": "mcpToolCall", "id": "m", "server": "docs", "tool": "find",
            "status": "failed", "arguments": {"q": "x"}, "result": null,
            "error": {"message": "no such page"}, "durationMs": 12}),
        ),
        completed(
            json!({"type": "webSearch", "id": "w", "query": "serde flatten", "action": null}),
        ),
        completed(json!({"type": "contextCompaction", "id": "k"})),
        completed(json!({"type": "enteredReviewMode", "id": "r", "review": "current changes"})),
        completed(json!({"type": "hookRun", "id": "h", "hook": "pre"})),
        completed(json!({"type": "agentMessage", "id": "a", "text": "shown as a message"})),
    ]);
    assert_eq!(rows.len(), 6, "{rows:#?}");
    assert!(
        matches!(&rows[0], ItemRow::Plan { steps, item_id: None, .. } if steps.len() == 2 && steps[1].status == "inProgress")
    );
    assert!(
        matches!(&rows[1], ItemRow::McpToolCall { error: Some(e), result: None, .. } if e == "no such page")
    );
    assert_eq!(rows[2].headline(), "web search: serde flatten");
    assert_eq!(rows[3].headline(), "context compacted");
    assert_eq!(rows[4].headline(), "entered review mode: current changes");
    assert_eq!(
        rows[5],
        ItemRow::Other {
            item_id: "h".to_string(),
            item_type: "hookRun".to_string(),
            item: json!({"type": "hookRun", "id": "h", "hook": "pre"}),
        }
    );
}

#[test]
fn item_rows_are_written_and_read_back_with_their_kind() {
    let row = TranscriptRow {
        seq: 3,
        at_ms: 1,
        turn_id: Some("U".to_string()),
        entry: TranscriptEntry::Item(ItemRow::Command {
            item_id: "c".to_string(),
            command: "ls".to_string(),
            cwd: "/w".to_string(),
            status: "completed".to_string(),
            exit_code: Some(0),
            duration_ms: Some(5),
            output: "x\n".to_string(),
            output_cut_bytes: 0,
        }),
    };
    let value = serde_json::to_value(&row).unwrap();
    assert_eq!(
        value,
        json!({"seq": 3, "atMs": 1, "turnId": "U", "type": "item", "kind": "command",
            "itemId": "c", "command": "ls", "cwd": "/w", "status": "completed", "exitCode": 0,
            "durationMs": 5, "output": "x\n"})
    );
    assert_eq!(serde_json::from_value::<TranscriptRow>(value).unwrap(), row);
}

#[test]
fn a_long_output_keeps_its_tail_in_memory_and_says_how_much_was_cut() {
    let long = format!("é{}end", "x".repeat(OUTPUT_IN_MEMORY));
    let mut entry = TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "yes".to_string(),
        cwd: "/".to_string(),
        status: "completed".to_string(),
        exit_code: Some(0),
        duration_ms: None,
        output: long.clone(),
        output_cut_bytes: 0,
    });
    cap_in_memory(&mut entry);
    let TranscriptEntry::Item(ItemRow::Command {
        output,
        output_cut_bytes,
        ..
    }) = entry
    else {
        panic!()
    };
    assert!(output.len() <= OUTPUT_IN_MEMORY && output.ends_with("end"));
    assert_eq!(output_cut_bytes + output.len(), long.len());
}

#[test]
fn the_transcript_file_keeps_a_long_output_whole_and_memory_keeps_its_tail() {
    let data = tempfile::tempdir().unwrap();
    let mut transcript = crate::bridge::transcript::Transcript::on_disk(data.path(), "thread-1");
    let long: String = (0..3000).map(|n| format!("line {n}\n")).collect();
    assert!(long.len() > OUTPUT_IN_MEMORY);
    let entry = TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "seq".to_string(),
        cwd: "/".to_string(),
        status: "completed".to_string(),
        exit_code: Some(0),
        duration_ms: Some(1),
        output: long.clone(),
        output_cut_bytes: 0,
    });
    let (sent, written) = transcript.append(1, Some("U".to_string()), entry);
    written.unwrap();
    let kept = |row: &TranscriptRow| match &row.entry {
        TranscriptEntry::Item(ItemRow::Command {
            output,
            output_cut_bytes,
            ..
        }) => (output.clone(), *output_cut_bytes),
        other => panic!("{other:?}"),
    };
    let (output, cut) = kept(&sent);
    assert!(output.len() <= OUTPUT_IN_MEMORY && output.ends_with("line 2999\n"));
    assert_eq!(cut + output.len(), long.len());
    assert_eq!(kept(transcript.rows().next().unwrap()), (output, cut));
    let file = std::fs::read_to_string(transcript.path().unwrap()).unwrap();
    let on_disk: TranscriptRow = serde_json::from_str(file.lines().next().unwrap()).unwrap();
    assert_eq!(kept(&on_disk), (long, 0));
}

use super::*;
use serde_json::json;
use std::time::Duration;

use tokio::time::Instant;

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

/// What the actor does with the fold's changes, on a transcript of its own: `memory`
/// (rows as shown, live ones changed in place) and `disk` (rows as written).
#[derive(Default)]
struct Sim {
    fold: ItemFold,
    memory: Vec<ItemRow>,
    disk: Vec<ItemRow>,
    updates: usize,
}

impl Sim {
    fn apply(&mut self, notes: &[Notification]) {
        let now = Instant::now();
        for n in notes {
            for change in self.fold.fold(n, now) {
                match change {
                    RowChange::Append {
                        thread_id,
                        entry: TranscriptEntry::Item(row),
                        live,
                        ..
                    } => {
                        let seq = self.memory.len() as u64;
                        self.memory.push(row.clone());
                        self.disk.push(row);
                        if let Some(key) = live {
                            self.fold.placed(thread_id.as_deref().unwrap(), &key, seq);
                        }
                    }
                    RowChange::Finish {
                        seq,
                        entry: TranscriptEntry::Item(row),
                        ..
                    } => {
                        self.memory[seq as usize] = row.clone();
                        self.disk.push(row);
                    }
                    other => panic!("{other:?}"),
                }
            }
            self.flush(now);
        }
    }

    fn flush(&mut self, now: Instant) {
        for (_, seq, _, entry) in self.fold.take_dirty(now) {
            let TranscriptEntry::Item(row) = entry else {
                panic!()
            };
            self.memory[seq as usize] = row;
            self.updates += 1;
        }
    }
}

/// The rows as shown once every notification is in.
fn rows_of(notes: &[Notification]) -> Vec<ItemRow> {
    let mut sim = Sim::default();
    sim.apply(notes);
    assert_eq!(sim.fold.running(), 0, "every live row ended");
    sim.memory
}

#[test]
fn a_real_codex_turn_gives_a_row_per_command_change_and_reasoning() {
    for capture in ["appserver_items_0171.jsonl", "appserver_items_0169.jsonl"] {
        let (warnings, rows): (Vec<ItemRow>, Vec<ItemRow>) = rows_of(&captured(capture))
            .into_iter()
            .partition(|r| matches!(r, ItemRow::Warning { .. }));
        assert!(!warnings.is_empty(), "codex warns about its test config");
        assert_eq!(rows.len(), 5, "{capture}: {rows:#?}");
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
                output_lines: 2,
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
                output: String::new(),
            }
        );
        assert!(matches!(&rows[3], ItemRow::TurnDiff { diff } if diff.contains("+hello")));
        assert_eq!(
            rows[4],
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
        turn_completed("completed"),
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
            output_lines: 1,
        }),
    };
    let value = serde_json::to_value(&row).unwrap();
    assert_eq!(
        value,
        json!({"seq": 3, "atMs": 1, "turnId": "U", "type": "item", "kind": "command",
            "itemId": "c", "command": "ls", "cwd": "/w", "status": "completed", "exitCode": 0,
            "durationMs": 5, "output": "x\n", "outputLines": 1})
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
        output_lines: 1,
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
        output_lines: 3000,
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

fn command(id: &str) -> Value {
    json!({"type": "commandExecution", "id": id, "command": "make", "cwd": "/w",
        "status": "inProgress", "commandActions": []})
}

fn output_delta(id: &str, delta: &str) -> Notification {
    note(
        &json!({"method": "item/commandExecution/outputDelta", "params": {
        "threadId": "T", "turnId": "U", "itemId": id, "delta": delta}}),
    )
}

fn turn_completed(status: &str) -> Notification {
    note(
        &json!({"method": "turn/completed", "params": {"threadId": "T",
        "turn": {"id": "U", "status": status, "items": []}}}),
    )
}

#[test]
fn a_running_command_is_one_row_that_changes_in_place_and_two_on_disk() {
    let mut sim = Sim::default();
    sim.apply(&[started(command("c")), output_delta("c", "first\n")]);
    assert_eq!(sim.memory.len(), 1);
    assert!(
        matches!(&sim.memory[0], ItemRow::Command { status, output, output_lines: 1, .. }
            if status == "inProgress" && output == "first\n"),
        "{:?}",
        sim.memory[0]
    );
    assert!(sim.memory[0].is_running());
    let mut done = command("c");
    done["status"] = json!("completed");
    done["exitCode"] = json!(0);
    done["aggregatedOutput"] = json!("first\nsecond\n");
    sim.apply(&[output_delta("c", "second\n"), completed(done)]);
    assert_eq!(sim.memory.len(), 1, "{:?}", sim.memory);
    assert!(
        matches!(&sim.memory[0], ItemRow::Command { status, exit_code: Some(0), output, output_lines: 2, .. }
        if status == "completed" && output == "first\nsecond\n")
    );
    // The file has the started row and the last one, not the deltas.
    assert_eq!(sim.disk.len(), 2);
    assert!(
        matches!(&sim.disk[0], ItemRow::Command { status, output, .. } if status == "inProgress" && output.is_empty())
    );
    assert_eq!(sim.disk[1], sim.memory[0]);
    assert_eq!(sim.fold.running(), 0);
}

#[test]
fn deltas_are_handed_out_at_most_every_100_ms_however_fast_they_come() {
    let mut fold = ItemFold::default();
    let start = Instant::now();
    let changes = fold.fold(&started(command("c")), start);
    let RowChange::Append {
        live: Some(key), ..
    } = &changes[0]
    else {
        panic!("{changes:?}")
    };
    fold.placed("T", key, 7);
    assert_eq!(fold.next_flush(), None, "nothing changed yet");
    // 1,000 lines a second for two seconds; the run loop flushes when it is time.
    let mut updates = Vec::new();
    for ms in 0..2_000u64 {
        let now = start + Duration::from_millis(ms);
        fold.fold(&output_delta("c", &format!("line {ms}\n")), now);
        if fold.next_flush().is_some_and(|at| at <= now) {
            updates.extend(fold.take_dirty(now));
        }
    }
    assert_eq!(fold.counts.changes, 2_000);
    assert!(
        (19..=21).contains(&updates.len()),
        "{} updates for 2,000 deltas",
        updates.len()
    );
    assert!(
        updates
            .iter()
            .all(|(thread, seq, _, _)| thread == "T" && *seq == 7)
    );
    // What is left goes out within 100 ms of the last flush.
    let last = start + Duration::from_millis(1_999);
    let next = fold.next_flush().unwrap();
    assert!(next > last && next <= last + FLUSH_EVERY);
    let (
        _,
        _,
        _,
        TranscriptEntry::Item(ItemRow::Command {
            output,
            output_lines,
            ..
        }),
    ) = fold.take_dirty(next).remove(0)
    else {
        panic!()
    };
    assert_eq!(output_lines, 2_000);
    assert!(output.ends_with("line 1999\n"));
    assert_eq!(fold.next_flush(), None);
}

#[test]
fn a_long_stream_keeps_its_tail_and_counts_every_line() {
    let mut sim = Sim::default();
    sim.apply(&[started(command("c"))]);
    let chunk: String = (0..1000).map(|n| format!("{n:07}\n")).collect();
    let deltas: Vec<_> = (0..200).map(|_| output_delta("c", &chunk)).collect();
    sim.apply(&deltas);
    let ItemRow::Command {
        output,
        output_cut_bytes,
        output_lines,
        ..
    } = &sim.memory[0]
    else {
        panic!()
    };
    assert_eq!(*output_lines, 200_000);
    assert!(output.len() <= OUTPUT_IN_MEMORY);
    assert_eq!(output_cut_bytes + output.len(), 200 * chunk.len());
    assert!(output.ends_with("0000999\n"));
}

#[test]
fn the_turn_plan_and_diff_are_one_row_each_updated_in_place() {
    let plan = |status: &str| {
        note(
            &json!({"method": "turn/plan/updated", "params": {"threadId": "T", "turnId": "U",
            "explanation": null, "plan": [{"step": "look", "status": "completed"},
            {"step": "fix", "status": status}]}}),
        )
    };
    let diff = |body: &str| {
        note(
            &json!({"method": "turn/diff/updated", "params": {"threadId": "T", "turnId": "U",
            "diff": body}}),
        )
    };
    let mut sim = Sim::default();
    sim.apply(&[
        plan("pending"),
        diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"),
        plan("inProgress"),
        plan("completed"),
        diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+c\n"),
    ]);
    assert_eq!(sim.memory.len(), 2, "{:?}", sim.memory);
    assert!(
        matches!(&sim.memory[0], ItemRow::Plan { steps, .. } if steps[1].status == "completed")
    );
    assert!(matches!(&sim.memory[1], ItemRow::TurnDiff { diff } if diff.contains("+c")));
    assert_eq!(sim.memory[1].headline(), "turn diff: 1 file(s)");
    assert_eq!(sim.disk.len(), 2, "updates are not written");
    sim.apply(&[turn_completed("completed")]);
    assert_eq!(sim.memory.len(), 2);
    assert_eq!(sim.disk.len(), 4, "the turn's end writes their last state");
    assert_eq!(sim.disk[2], sim.memory[0]);
    assert_eq!(sim.disk[3], sim.memory[1]);
    assert_eq!(sim.fold.running(), 0);
}

#[test]
fn reasoning_summaries_and_patch_output_stream_into_their_rows() {
    let mut sim = Sim::default();
    let part = |index: i64| {
        note(
            &json!({"method": "item/reasoning/summaryPartAdded", "params": {"threadId": "T",
            "turnId": "U", "itemId": "r", "summaryIndex": index}}),
        )
    };
    let text = |index: i64, delta: &str| {
        note(
            &json!({"method": "item/reasoning/summaryTextDelta", "params": {"threadId": "T",
            "turnId": "U", "itemId": "r", "summaryIndex": index, "delta": delta}}),
        )
    };
    sim.apply(&[
        started(json!({"type": "reasoning", "id": "r", "summary": [], "content": []})),
        part(0),
        text(0, "**Looking**"),
        text(0, " around"),
        part(1),
        text(1, "then fixing"),
    ]);
    assert_eq!(
        sim.memory[0],
        ItemRow::Reasoning {
            item_id: "r".to_string(),
            summary: vec!["**Looking** around".to_string(), "then fixing".to_string()],
        }
    );
    let change = json!({"type": "fileChange", "id": "f", "status": "inProgress",
        "changes": [{"path": "/w/a.txt", "kind": {"type": "add"}, "diff": "hi\n"}]});
    sim.apply(&[
        started(change.clone()),
        note(
            &json!({"method": "item/fileChange/outputDelta", "params": {"threadId": "T",
            "turnId": "U", "itemId": "f", "delta": "Success. Updated the following files:\n"}}),
        ),
    ]);
    assert!(
        matches!(&sim.memory[1], ItemRow::FileChange { output, status, .. }
        if output.starts_with("Success") && status == "inProgress")
    );
    let mut done = change;
    done["status"] = json!("completed");
    sim.apply(&[completed(done)]);
    assert!(
        matches!(&sim.memory[1], ItemRow::FileChange { output, status, files, .. }
        if output.starts_with("Success") && status == "completed" && files.len() == 1)
    );
}

#[test]
fn an_item_still_running_when_its_turn_ends_ends_with_the_turn() {
    let mut sim = Sim::default();
    sim.apply(&[started(command("c")), output_delta("c", "partial")]);
    sim.apply(&[turn_completed("interrupted")]);
    assert!(
        matches!(&sim.memory[0], ItemRow::Command { status, output, output_lines: 1, .. }
        if status == "interrupted" && output == "partial")
    );
    assert_eq!(sim.disk.len(), 2);
    assert_eq!(sim.fold.running(), 0);
}

#[test]
fn hooks_reroutes_warnings_and_errors_are_rows_of_their_own() {
    let hook = |method: &str, status: &str| {
        note(
            &json!({"method": method, "params": {"threadId": "T", "turnId": "U", "run": {
            "id": "run-1", "eventName": "preToolUse", "handlerType": "command",
            "executionMode": "sync", "scope": "turn", "source": "user",
            "sourcePath": "/home/me/.codex/hooks.toml", "displayOrder": 0, "startedAt": 1,
            "status": status, "statusMessage": null, "durationMs": null,
            "entries": if status == "running" { json!([]) } else {
                json!([{"kind": "feedback", "text": "checked"}]) }}}}),
        )
    };
    let mut sim = Sim::default();
    sim.apply(&[
        hook("hook/started", "running"),
        hook("hook/completed", "completed"),
        note(
            &json!({"method": "model/rerouted", "params": {"threadId": "T", "turnId": "U",
            "fromModel": "gpt-a", "toModel": "gpt-b", "reason": "highRiskCyberActivity"}}),
        ),
        note(&json!({"method": "warning", "params": {"threadId": "T",
            "message": "Model metadata for `scripted` not found."}})),
        note(
            &json!({"method": "guardianWarning", "params": {"threadId": "T",
            "message": "looks risky"}}),
        ),
        note(
            &json!({"method": "model/safetyBuffering/updated", "params": {"threadId": "T",
            "turnId": "U", "model": "gpt-b", "fasterModel": null, "reasons": ["cyber"],
            "showBufferingUi": true, "useCases": []}}),
        ),
        note(
            &json!({"method": "error", "params": {"threadId": "T", "turnId": "U",
            "willRetry": true, "error": {"message": "stream disconnected",
            "codexErrorInfo": {"httpConnectionFailed": {"httpStatusCode": 502}},
            "additionalDetails": "retrying 1 of 5"}}}),
        ),
    ]);
    let names: Vec<&str> = sim.memory.iter().map(ItemRow::type_name).collect();
    assert_eq!(
        names,
        [
            "item.hook",
            "item.model_reroute",
            "item.warning",
            "item.warning",
            "item.warning",
            "item.error"
        ]
    );
    assert!(
        matches!(&sim.memory[0], ItemRow::Hook { status, entries, source_path: Some(_), .. }
        if status == "completed" && entries.len() == 1)
    );
    assert_eq!(
        sim.memory[1].headline(),
        "model rerouted from gpt-a to gpt-b (highRiskCyberActivity)"
    );
    assert_eq!(
        sim.memory[2].headline(),
        "warning: Model metadata for `scripted` not found."
    );
    assert_eq!(sim.memory[3].headline(), "guardian warning: looks risky");
    assert!(
        matches!(&sim.memory[4], ItemRow::Warning { source: WarningKind::SafetyBuffering, details: Some(d), .. } if d == "cyber")
    );
    assert_eq!(
        sim.memory[5],
        ItemRow::Error {
            message: "stream disconnected".to_string(),
            details: Some("retrying 1 of 5".to_string()),
            code: Some("httpConnectionFailed".to_string()),
            will_retry: true,
        }
    );
    // Warnings about codex as a whole belong to no thread: every session shows them.
    let mut fold = ItemFold::default();
    let changes = fold.fold(
        &note(
            &json!({"method": "configWarning", "params": {"summary": "unknown key `foo`",
            "details": "line 3", "path": "/home/me/.codex/config.toml", "range": null}}),
        ),
        Instant::now(),
    );
    assert_eq!(
        changes,
        [RowChange::Append {
            thread_id: None,
            turn_id: None,
            entry: TranscriptEntry::Item(ItemRow::Warning {
                source: WarningKind::Config,
                message: "unknown key `foo`".to_string(),
                details: Some("/home/me/.codex/config.toml: line 3".to_string()),
            }),
            live: None,
        }]
    );
}

#[test]
fn reading_a_transcript_back_keeps_each_live_row_as_it_ended_in_its_place() {
    let data = tempfile::tempdir().unwrap();
    let mut transcript = crate::bridge::transcript::Transcript::on_disk(data.path(), "thread-1");
    let running = TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "make".to_string(),
        cwd: "/w".to_string(),
        status: "inProgress".to_string(),
        exit_code: None,
        duration_ms: None,
        output: String::new(),
        output_cut_bytes: 0,
        output_lines: 0,
    });
    let (first, _) = transcript.append(1, Some("U".to_string()), running);
    let _ = transcript.append(
        2,
        None,
        TranscriptEntry::Notice {
            message: "meanwhile".to_string(),
        },
    );
    let shown = transcript
        .update(
            first.seq,
            TranscriptEntry::Item(ItemRow::Command {
                item_id: "c".to_string(),
                command: "make".to_string(),
                cwd: "/w".to_string(),
                status: "inProgress".to_string(),
                exit_code: None,
                duration_ms: None,
                output: "half".to_string(),
                output_cut_bytes: 0,
                output_lines: 1,
            }),
        )
        .unwrap();
    assert_eq!((shown.seq, shown.at_ms), (0, 1));
    let done = TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "make".to_string(),
        cwd: "/w".to_string(),
        status: "completed".to_string(),
        exit_code: Some(0),
        duration_ms: Some(9),
        output: "all\n".to_string(),
        output_cut_bytes: 0,
        output_lines: 1,
    });
    let (kept, written) =
        transcript.append_final(3, Some("U".to_string()), first.seq, done.clone());
    written.unwrap();
    assert_eq!(
        (kept.seq, kept.at_ms, &kept.entry),
        (0, 1, &done),
        "in place, from its start"
    );
    assert_eq!(transcript.rows().count(), 2);
    assert_eq!(transcript.len(), 3, "the file has three rows");
    let path = transcript.path().unwrap().to_path_buf();
    let (rows, bad) = crate::bridge::transcript::read_transcript(&path).unwrap();
    assert_eq!((rows.len(), bad), (3, 0));
    let back = keep_last_of_each(rows.clone());
    assert_eq!(back.len(), 2);
    assert_eq!((back[0].seq, &back[0].entry), (0, &done));
    let reopened =
        crate::bridge::transcript::Transcript::reopen(data.path(), &path, "thread-1", &rows)
            .unwrap();
    assert_eq!(
        reopened.len(),
        3,
        "numbering goes on after the file's last row"
    );
    let memory: Vec<_> = reopened.rows().cloned().collect();
    assert_eq!(memory, back);
}

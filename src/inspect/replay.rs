//! A recorded session's calls against today's handlers: `catalog replay`, and the
//! console transcript's replay key (one call). Each call runs the current handler with
//! the recorded arguments; the recorded answer and the new one are compared line by
//! line. Nothing is sent to codex.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::bridge::events::Responder;
use crate::bridge::{TranscriptEntry, TranscriptRow};
use crate::catalog::{Catalog, answer_text};
use crate::handlers::{HandlerInput, HandlerRunner};
use crate::protocol::ToolCallResult;

/// A recorded call and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    pub request_id: String,
    pub call_id: String,
    pub tool: String,
    pub namespace: Option<String>,
    pub arguments: Value,
    pub answered_by: Option<Responder>,
    pub answer: Option<ToolCallResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The handler answers as recorded.
    Same,
    /// The handler answers differently (or the tool is gone from the catalog).
    Changed,
    /// Answered by a person, a remote client or a policy, or never answered: listed only.
    NotRerun,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    pub request_id: String,
    pub call_id: String,
    pub tool: String,
    pub verdict: Verdict,
    /// Why a call was not re-run, or why it changed without a new answer.
    pub note: Option<String>,
    pub answered_by: Option<String>,
    pub recorded: Option<ToolCallResult>,
    pub replayed: Option<ToolCallResult>,
    /// `-` recorded, `+` replayed; empty when the same.
    pub diff: Vec<String>,
    /// Where the new answer breaks the tool's `output_schema`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_schema_problems: Vec<String>,
}

/// Transcript rows from a transcript file, or from the `transcript_appended` events of
/// `exec --json` output. Lines that are neither are skipped; none at all is an error.
pub fn read_rows(path: &Path) -> Result<Vec<TranscriptRow>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read transcript {}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let row = match value.get("type").and_then(Value::as_str) {
            Some("transcript_appended") => value.get("row").cloned(),
            _ => Some(value),
        };
        if let Some(Ok(row)) = row.map(serde_json::from_value::<TranscriptRow>) {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Err(format!(
            "{} has no transcript rows: give a file from <data dir>/sessions/ or the output of `switchboard exec --json`",
            path.display()
        ));
    }
    Ok(rows)
}

/// The calls of `rows`, in request order, each with its recorded end.
pub fn recorded_calls<'r>(rows: impl IntoIterator<Item = &'r TranscriptRow>) -> Vec<RecordedCall> {
    let mut calls: Vec<RecordedCall> = Vec::new();
    for row in rows {
        match &row.entry {
            TranscriptEntry::ToolCallRequest {
                request_id,
                call_id,
                tool,
                namespace,
                arguments,
                ..
            } => {
                // A call app-server sent again after a reconnect keeps its request id.
                if calls.iter().any(|call| &call.request_id == request_id) {
                    continue;
                }
                calls.push(RecordedCall {
                    request_id: request_id.clone(),
                    call_id: call_id.clone(),
                    tool: tool.clone(),
                    namespace: namespace.clone(),
                    arguments: arguments.clone(),
                    answered_by: None,
                    answer: None,
                });
            }
            TranscriptEntry::ToolCallResolved {
                request_id,
                answered_by,
                content,
                ..
            } => {
                if let Some(call) = calls.iter_mut().find(|call| &call.request_id == request_id) {
                    call.answered_by = answered_by.clone();
                    call.answer = content.clone();
                }
            }
            _ => {}
        }
    }
    calls
}

/// Which recorded calls run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerun {
    /// Only calls a handler answered (`catalog replay`): a person's answer is listed,
    /// since it says nothing about the handler.
    HandlerAnswers,
    /// Any call whose tool has a handler now (the console's replay key on one chosen
    /// call): a person's answer, or none, is compared with what the handler says today.
    Any,
}

/// Every call, at most `parallel` handlers at a time, handler answers only.
pub async fn replay_calls(
    catalog: &Catalog,
    calls: &[RecordedCall],
    parallel: usize,
) -> Vec<ReplayReport> {
    let runner = HandlerRunner::new(parallel);
    let runs = calls.iter().map(|call| {
        let runner = &runner;
        async move { replay_one(catalog, runner, call, Rerun::HandlerAnswers).await }
    });
    futures_util::future::join_all(runs).await
}

/// One call against today's handler, whoever answered it (the console's replay key).
pub async fn replay_call(catalog: &Catalog, call: &RecordedCall) -> ReplayReport {
    let runner = HandlerRunner::new(1);
    replay_one(catalog, &runner, call, Rerun::Any).await
}

/// The recorded call of `request_id` among `rows`, with its recorded end.
pub fn recorded_call<'r>(
    rows: impl IntoIterator<Item = &'r TranscriptRow>,
    request_id: &str,
) -> Option<RecordedCall> {
    recorded_calls(rows)
        .into_iter()
        .find(|call| call.request_id == request_id)
}

async fn replay_one(
    catalog: &Catalog,
    runner: &HandlerRunner,
    call: &RecordedCall,
    rerun: Rerun,
) -> ReplayReport {
    let qualified = crate::catalog::qualified_name(call.namespace.as_deref(), &call.tool);
    let mut report = ReplayReport {
        request_id: call.request_id.clone(),
        call_id: call.call_id.clone(),
        tool: qualified.clone(),
        verdict: Verdict::NotRerun,
        note: None,
        answered_by: call.answered_by.as_ref().map(Responder::label),
        recorded: call.answer.clone(),
        replayed: None,
        diff: Vec::new(),
        output_schema_problems: Vec::new(),
    };
    let not_by_handler = match &call.answered_by {
        Some(Responder::Handler { .. }) => None,
        Some(Responder::Operator) => Some("not re-run: a person answered it".to_string()),
        Some(Responder::Remote { client }) => Some(format!(
            "answered by the remote client {client}: not re-run"
        )),
        Some(Responder::Policy { reason }) => {
            Some(format!("not re-run: a policy answered it ({reason})"))
        }
        None => Some("not re-run: never answered (expired or still pending)".to_string()),
    };
    let has_handler = catalog
        .tool(call.namespace.as_deref(), &call.tool)
        .is_some_and(|tool| tool.handler.is_some());
    match (not_by_handler, rerun) {
        (None, _) => {}
        (Some(note), Rerun::HandlerAnswers) => {
            report.note = Some(note);
            return report;
        }
        (Some(_), Rerun::Any) if !has_handler => {
            report.note = Some(format!(
                "not re-run: `{qualified}` has no handler to run (it is answered by a person)"
            ));
            return report;
        }
        (Some(_), Rerun::Any) => {
            let by = report
                .answered_by
                .as_deref()
                .unwrap_or("nobody (it expired)");
            report.note = Some(format!(
                "recorded answer by {by}; the new one is today's handler's"
            ));
        }
    }
    let Some(tool) = catalog.tool(call.namespace.as_deref(), &call.tool) else {
        report.verdict = Verdict::Changed;
        report.note = Some(format!("the catalog has no tool `{qualified}` any more"));
        return report;
    };
    let Some(handler) = &tool.handler else {
        report.verdict = Verdict::Changed;
        report.note = Some(format!(
            "`{qualified}` has no handler any more (a manual tool now)"
        ));
        return report;
    };
    let input = HandlerInput {
        tool: call.tool.clone(),
        arguments: call.arguments.clone(),
        call_id: call.call_id.clone(),
        thread_id: "catalog-replay".to_string(),
        turn_id: "catalog-replay".to_string(),
        request_id: call.request_id.clone(),
    };
    let outcome = runner.run(handler, &input).await;
    report.diff = diff_answers(call.answer.as_ref(), &outcome.result);
    report.verdict = if call.answer.as_ref() == Some(&outcome.result) {
        Verdict::Same
    } else {
        Verdict::Changed
    };
    if report.verdict == Verdict::Changed && report.diff.is_empty() {
        report.note = Some("the content items differ (not only in their text)".to_string());
    }
    if let Some(failure) = outcome.failure {
        report.note = Some(format!("the handler failed: {failure}"));
    }
    report.output_schema_problems = tool.output_problems(&outcome.result);
    report.replayed = Some(outcome.result);
    report
}

/// `success` and the text, line by line: `-` recorded, `+` replayed, ` ` both.
/// Empty when both are the same.
pub fn diff_answers(recorded: Option<&ToolCallResult>, replayed: &ToolCallResult) -> Vec<String> {
    let Some(recorded) = recorded else {
        return vec!["- (no recorded answer)".to_string()];
    };
    let mut diff = Vec::new();
    if recorded.success != replayed.success {
        diff.push(format!("- success: {}", recorded.success));
        diff.push(format!("+ success: {}", replayed.success));
    }
    let old = answer_text(recorded);
    let new = answer_text(replayed);
    if old != new {
        diff.extend(line_diff(&old, &new));
    }
    diff
}

/// A longest-common-subsequence line diff; texts are tool answers, so small.
fn line_diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: the common length of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CATALOG: &str = r#"
[[tools]]
name = "status"
description = "d"
input_schema = { type = "object" }
handler = { static_text = "fine" }

[[tools]]
name = "ask"
description = "d"
input_schema = { type = "object" }
handler = { static_text = "a handler answer" }
"#;

    /// A request row and its resolved row for `tool`, answered by `by` with `text`.
    fn call_rows(n: u32, tool: &str, by: Value, text: &str) -> Vec<Value> {
        vec![
            json!({ "seq": n * 2, "atMs": 1, "type": "tool_call.request", "requestId": format!("r{n}"),
                    "callId": format!("c{n}"), "tool": tool, "arguments": {}, "answerer": tool }),
            json!({ "seq": n * 2 + 1, "atMs": 2, "type": "tool_call.resolved", "requestId": format!("r{n}"),
                    "callId": format!("c{n}"), "tool": tool, "status": "resolved", "success": true,
                    "answeredBy": by, "latencyMs": 3,
                    "content": { "contentItems": [{ "type": "inputText", "text": text }], "success": true } }),
        ]
    }

    #[tokio::test]
    async fn calls_answered_by_a_person_are_listed_and_exec_json_is_read() {
        let catalog = Catalog::parse(CATALOG, Path::new("c.toml")).unwrap();
        let mut rows = call_rows(
            0,
            "status",
            json!({ "kind": "handler", "name": "status" }),
            "fine",
        );
        rows.extend(call_rows(
            1,
            "ask",
            json!({ "kind": "operator" }),
            "a person's answer",
        ));
        rows.extend(call_rows(
            2,
            "gone",
            json!({ "kind": "handler", "name": "gone" }),
            "x",
        ));
        // `exec --json` wraps each row in a transcript_appended event, among other events.
        let lines: Vec<String> = rows
            .iter()
            .map(|row| {
                json!({ "type": "transcript_appended", "threadId": "t", "row": row }).to_string()
            })
            .chain([json!({ "type": "turn_started", "threadId": "t", "turnId": "u" }).to_string()])
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("exec.jsonl");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let calls = recorded_calls(&read_rows(&file).unwrap());
        assert_eq!(calls.len(), 3);
        let reports = replay_calls(&catalog, &calls, 4).await;
        let verdicts: Vec<(&str, Verdict)> = reports
            .iter()
            .map(|r| (r.tool.as_str(), r.verdict))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                ("status", Verdict::Same),
                ("ask", Verdict::NotRerun),
                ("gone", Verdict::Changed),
            ]
        );
        assert_eq!(
            reports[1].note.as_deref(),
            Some("not re-run: a person answered it")
        );
        assert_eq!(reports[1].replayed, None);
        assert_eq!(
            reports[2].note.as_deref(),
            Some("the catalog has no tool `gone` any more")
        );

        std::fs::write(&file, "not a transcript\n").unwrap();
        assert!(
            read_rows(&file)
                .unwrap_err()
                .contains("has no transcript rows")
        );
    }

    #[tokio::test]
    async fn one_call_from_the_console_runs_whoever_answered_it_when_a_handler_exists() {
        let catalog = Catalog::parse(CATALOG, Path::new("c.toml")).unwrap();
        let mut rows: Vec<TranscriptRow> = Vec::new();
        for row in call_rows(1, "ask", json!({ "kind": "operator" }), "a person's answer")
            .into_iter()
            .chain(call_rows(
                2,
                "status",
                json!({ "kind": "handler", "name": "status" }),
                "fine",
            ))
        {
            rows.push(serde_json::from_value(row).unwrap());
        }
        let asked = recorded_call(&rows, "r1").unwrap();
        let report = replay_call(&catalog, &asked).await;
        assert_eq!(report.verdict, Verdict::Changed);
        assert_eq!(
            report.note.as_deref(),
            Some("recorded answer by operator; the new one is today's handler's")
        );
        assert_eq!(
            report.diff,
            vec!["- a person's answer", "+ a handler answer"]
        );
        let same = replay_call(&catalog, &recorded_call(&rows, "r2").unwrap()).await;
        assert_eq!(same.verdict, Verdict::Same);
        assert!(same.diff.is_empty());
        assert_eq!(recorded_call(&rows, "r9"), None);

        // A tool without a handler cannot be re-run, whoever asks.
        let manual = Catalog::parse(
            "[[tools]]\nname = \"ask\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let report = replay_call(&manual, &asked).await;
        assert_eq!(report.verdict, Verdict::NotRerun);
        assert_eq!(report.replayed, None);
        assert!(report.note.unwrap().contains("has no handler to run"));
    }

    #[test]
    fn line_diff_marks_changed_lines_only() {
        assert_eq!(
            line_diff("a\nb\nc", "a\nB\nc"),
            vec!["  a", "- b", "+ B", "  c"]
        );
        assert_eq!(line_diff("", "x"), vec!["+ x"]);
    }

    #[test]
    fn same_answers_have_no_diff() {
        let answer = ToolCallResult::text(true, "open");
        assert!(diff_answers(Some(&answer), &answer).is_empty());
        let failed = ToolCallResult::text(false, "open");
        assert_eq!(
            diff_answers(Some(&answer), &failed),
            vec!["- success: true", "+ success: false"]
        );
    }
}

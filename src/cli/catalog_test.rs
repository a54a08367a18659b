//! `switchboard catalog test` (a catalog's examples against their handlers) and
//! `switchboard catalog replay` (a recorded session's calls against today's handlers).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use super::{exit, note, out, report_error};
use crate::bridge::events::Responder;
use crate::bridge::{TranscriptEntry, TranscriptRow};
use crate::catalog::{Catalog, Example, ToolDef, answer_text};
use crate::handlers::{HandlerInput, HandlerRunner};
use crate::protocol::ToolCallResult;

/// Handlers run at once by `catalog test` and `catalog replay`.
const PARALLEL_HANDLERS: usize = 16;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// A catalog (its tools' `[[tools.examples]]`), or a test file
    /// (`catalog = "FILE"` and `[[examples]]` with a `tool` each).
    pub file: PathBuf,
    /// Print one JSON object: {"passed","failed","results":[...]}.
    #[arg(long)]
    pub json: bool,
    /// Run each example as a real turn through codex, the scripted model calling the
    /// tool with the example's arguments; check the answer the model received.
    #[arg(long)]
    pub through_codex: bool,
    /// The codex binary for --through-codex (default: $SWITCHBOARD_CODEX_BIN, then
    /// `codex` on PATH, then the pinned copy).
    #[arg(long, value_name = "PATH")]
    pub codex_bin: Option<PathBuf>,
}

/// One example to run.
pub(super) struct Case<'c> {
    pub tool: &'c ToolDef,
    pub example: &'c Example,
    /// The file the example is written in.
    pub file: &'c Path,
}

impl Case<'_> {
    pub(super) fn at(&self) -> String {
        match self.example.line {
            Some(line) => format!("{}:{line}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CaseReport {
    pub tool: String,
    pub example: String,
    pub at: String,
    pub passed: bool,
    pub problems: Vec<String>,
    pub elapsed_ms: u64,
    pub answer: Option<ToolCallResult>,
    /// The handler's own failure (timeout, exit status, bad output), when it had one.
    pub handler_failure: Option<String>,
}

/// Checks an answer the way every mode of `catalog test` does.
pub(super) fn judge(
    case: &Case<'_>,
    argument_problems: Vec<String>,
    answer: Option<ToolCallResult>,
    handler_failure: Option<String>,
    elapsed_ms: u64,
) -> CaseReport {
    let mut problems: Vec<String> = argument_problems
        .into_iter()
        .map(|problem| format!("input_schema: {problem}"))
        .collect();
    match &answer {
        Some(answer) => problems.extend(case.example.check(case.tool, answer)),
        None => problems.push("no answer".to_string()),
    }
    if let (false, Some(failure)) = (problems.is_empty(), &handler_failure) {
        problems.push(format!("the handler failed: {failure}"));
    }
    CaseReport {
        tool: case.tool.qualified_name(),
        example: case.example.label.clone(),
        at: case.at(),
        passed: problems.is_empty(),
        problems,
        elapsed_ms,
        answer,
        handler_failure,
    }
}

pub(super) fn cases<'c>(
    catalog: &'c Catalog,
    file_examples: &'c [crate::catalog::FileExample],
    test_file: &'c Path,
) -> Vec<Case<'c>> {
    // The catalog as the user named it, when FILE is the catalog itself.
    let given = std::path::absolute(test_file).ok();
    let catalog_file = match catalog.path.as_deref() {
        Some(path) if given.as_deref() != Some(path) => path,
        _ => test_file,
    };
    let mut cases: Vec<Case<'c>> = catalog
        .tools
        .iter()
        .flat_map(|tool| {
            tool.examples.iter().map(move |example| Case {
                tool,
                example,
                file: catalog_file,
            })
        })
        .collect();
    for found in file_examples {
        if let Some(tool) = catalog.tool_by_qualified_name(&found.tool) {
            cases.push(Case {
                tool,
                example: &found.example,
                file: test_file,
            });
        }
    }
    cases
}

pub async fn test(args: TestArgs) -> u8 {
    let (catalog, file_examples) = match Catalog::load_tests(&args.file) {
        Ok(loaded) => loaded,
        Err(e) => {
            if args.json {
                out(&json!({ "ok": false, "error": e.to_string() }).to_string());
            } else {
                report_error(&e.to_string());
            }
            return exit::INVALID_INPUT;
        }
    };
    let cases = cases(&catalog, &file_examples, &args.file);
    let started = Instant::now();
    let reports = if args.through_codex {
        match super::catalog_probe::run_examples(&catalog, &cases, args.codex_bin.as_deref()).await
        {
            Ok(reports) => reports,
            Err(e) => {
                report_error(&e);
                return exit::APP_SERVER;
            }
        }
    } else {
        run_direct(&cases).await
    };
    print_reports(&reports, args.json, started.elapsed().as_millis());
    if reports.iter().all(|report| report.passed) {
        exit::OK
    } else {
        exit::TURN_NOT_COMPLETED
    }
}

/// Every example against its handler, all at once (at most [`PARALLEL_HANDLERS`]
/// running), each under its handler's own timeout.
async fn run_direct(cases: &[Case<'_>]) -> Vec<CaseReport> {
    let runner = HandlerRunner::new(PARALLEL_HANDLERS);
    let runs = cases.iter().enumerate().map(|(index, case)| {
        let runner = &runner;
        async move {
            let argument_problems = case.tool.validate_arguments(&case.example.arguments);
            let Some(handler) = &case.tool.handler else {
                return judge(case, argument_problems, None, None, 0);
            };
            let input = HandlerInput {
                tool: case.tool.name.clone(),
                arguments: case.example.arguments.clone(),
                call_id: format!("example-{}", index + 1),
                thread_id: "catalog-test".to_string(),
                turn_id: "catalog-test".to_string(),
                request_id: format!("example-{}", index + 1),
            };
            let outcome = runner.run(handler, &input).await;
            let elapsed = u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX);
            judge(
                case,
                argument_problems,
                Some(outcome.result),
                outcome.failure,
                elapsed,
            )
        }
    });
    futures_util::future::join_all(runs).await
}

fn print_reports(reports: &[CaseReport], json: bool, total_ms: u128) {
    let passed = reports.iter().filter(|r| r.passed).count();
    let failed = reports.len() - passed;
    if json {
        out(&json!({
            "ok": failed == 0,
            "passed": passed,
            "failed": failed,
            "results": reports,
        })
        .to_string());
        return;
    }
    for report in reports {
        let mark = if report.passed { "ok  " } else { "FAIL" };
        out(&format!(
            "{mark} {} {} ({} ms)  {}",
            report.tool, report.example, report.elapsed_ms, report.at
        ));
        for problem in &report.problems {
            out(&format!("       {problem}"));
        }
    }
    if reports.is_empty() {
        note("no examples: add [[tools.examples]] to the catalog's tools (see docs/catalog.md)");
    }
    out(&format!("{passed} passed, {failed} failed ({total_ms} ms)"));
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A session transcript (`<data dir>/sessions/<thread>.jsonl`) or `exec --json` output.
    pub transcript: PathBuf,
    /// The catalog whose handlers answer the calls again.
    #[arg(long, value_name = "FILE")]
    pub catalog: PathBuf,
    /// Print one JSON object: {"same","changed","notRerun","calls":[...]}.
    #[arg(long)]
    pub json: bool,
}

/// A recorded call and how it ended.
#[derive(Debug, Clone)]
pub(super) struct RecordedCall {
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
pub(super) enum Verdict {
    /// The handler answers as recorded.
    Same,
    /// The handler answers differently (or the tool is gone from the catalog).
    Changed,
    /// Answered by a person, a remote client or a policy, or never answered: listed only.
    NotRerun,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReplayReport {
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
}

/// Transcript rows from a transcript file, or from the `transcript_appended` events of
/// `exec --json` output. Lines that are neither are skipped; none at all is an error.
pub(super) fn read_rows(path: &Path) -> Result<Vec<TranscriptRow>, String> {
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
pub(super) fn recorded_calls(rows: &[TranscriptRow]) -> Vec<RecordedCall> {
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

pub async fn replay(args: ReplayArgs) -> u8 {
    let catalog = match Catalog::load(&args.catalog) {
        Ok(catalog) => catalog,
        Err(e) => {
            report_error(&e.to_string());
            return exit::INVALID_INPUT;
        }
    };
    let rows = match read_rows(&args.transcript) {
        Ok(rows) => rows,
        Err(e) => {
            report_error(&e);
            return exit::INVALID_INPUT;
        }
    };
    let calls = recorded_calls(&rows);
    let reports = replay_calls(&catalog, &calls).await;
    let count = |verdict| reports.iter().filter(|r| r.verdict == verdict).count();
    let (same, changed, not_rerun) = (
        count(Verdict::Same),
        count(Verdict::Changed),
        count(Verdict::NotRerun),
    );
    if args.json {
        out(&json!({
            "ok": changed == 0,
            "same": same,
            "changed": changed,
            "notRerun": not_rerun,
            "calls": reports,
        })
        .to_string());
    } else {
        for report in &reports {
            let mark = match report.verdict {
                Verdict::Same => "same   ",
                Verdict::Changed => "CHANGED",
                Verdict::NotRerun => "listed ",
            };
            let by = report
                .answered_by
                .as_deref()
                .map(|by| format!(", answered by {by}"))
                .unwrap_or_default();
            out(&format!(
                "{mark} {} (request {}, call {}{by})",
                report.tool, report.request_id, report.call_id
            ));
            if let Some(note) = &report.note {
                out(&format!("        {note}"));
            }
            for line in &report.diff {
                out(&format!("        {line}"));
            }
        }
        out(&format!(
            "{} calls: {same} same, {changed} changed, {not_rerun} not re-run",
            reports.len()
        ));
    }
    if changed == 0 {
        exit::OK
    } else {
        exit::TURN_NOT_COMPLETED
    }
}

pub(super) async fn replay_calls(catalog: &Catalog, calls: &[RecordedCall]) -> Vec<ReplayReport> {
    let runner = HandlerRunner::new(PARALLEL_HANDLERS);
    let runs = calls.iter().map(|call| {
        let runner = &runner;
        async move { replay_one(catalog, runner, call).await }
    });
    futures_util::future::join_all(runs).await
}

async fn replay_one(
    catalog: &Catalog,
    runner: &HandlerRunner,
    call: &RecordedCall,
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
    };
    match &call.answered_by {
        Some(Responder::Handler { .. }) => {}
        Some(Responder::Operator) => {
            report.note = Some("not re-run: a person answered it".to_string());
            return report;
        }
        Some(Responder::Remote { client }) => {
            report.note = Some(format!(
                "answered by the remote client {client}: not re-run"
            ));
            return report;
        }
        Some(Responder::Policy { reason }) => {
            report.note = Some(format!("not re-run: a policy answered it ({reason})"));
            return report;
        }
        None => {
            report.note = Some("not re-run: never answered (expired or still pending)".to_string());
            return report;
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
    report.replayed = Some(outcome.result);
    report
}

/// `success` and the text, line by line: `-` recorded, `+` replayed, ` ` both.
/// Empty when both are the same.
pub(super) fn diff_answers(
    recorded: Option<&ToolCallResult>,
    replayed: &ToolCallResult,
) -> Vec<String> {
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
        let reports = replay_calls(&catalog, &calls).await;
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

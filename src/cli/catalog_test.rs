//! `switchboard catalog test` (a catalog's examples against their handlers) and
//! `switchboard catalog replay` (a recorded session's calls against today's handlers).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::Serialize;
use serde_json::json;

use super::{exit, note, out, report_error};
use crate::catalog::{Catalog, Example, ToolDef};
use crate::handlers::{HandlerInput, HandlerRunner};
use crate::inspect::replay::{Verdict, read_rows, recorded_calls, replay_calls};
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
    let reports = replay_calls(&catalog, &calls, PARALLEL_HANDLERS).await;
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
            for problem in &report.output_schema_problems {
                out(&format!("        new answer ⚠ {problem}"));
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

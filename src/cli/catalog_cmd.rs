//! `switchboard catalog check` (and dispatch of the other `catalog` commands).

use std::path::PathBuf;

use clap::Args;

use super::{CatalogCommand, exit, note, out, report_error};
use crate::catalog::approvals::{ApprovalKind, parse_sample_request};
use crate::catalog::{Catalog, RequestContext, RuleOutcome};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The catalog file (TOML).
    pub file: PathBuf,
    /// Print one JSON object: {"ok","warnings","dynamicTools","instructionText"} (and
    /// "modelTools", "differences" with --through-codex).
    #[arg(long)]
    pub json: bool,
    /// Also start the real codex on the scripted model, open one thread with the catalog
    /// and show the `tools` codex sends the model, with how they differ from the catalog.
    #[arg(long)]
    pub through_codex: bool,
    /// The codex binary for --through-codex (default: $SWITCHBOARD_CODEX_BIN, then
    /// `codex` on PATH, then the pinned copy).
    #[arg(long, value_name = "PATH")]
    pub codex_bin: Option<PathBuf>,
    /// Show which `[[approvals]]` rule decides this sample request and the exact answer
    /// that would be sent. The file holds one request: a JSON-RPC line captured from
    /// app-server (a leading `<< ` is allowed) or only its params.
    #[arg(long, value_name = "REQUEST.json")]
    pub explain_approval: Option<PathBuf>,
    /// With --explain-approval: a path the file change touches (repeat for each), for
    /// `path_glob` rules (the paths are in the `fileChange` item, not in the request).
    #[arg(long, value_name = "PATH", requires = "explain_approval")]
    pub changed_path: Vec<String>,
    /// With --explain-approval: the session's working directory, for `cwd_glob` and
    /// relative `path_glob` rules when the request carries no cwd.
    #[arg(long, value_name = "DIR", requires = "explain_approval")]
    pub session_cwd: Option<String>,
}

pub async fn run(command: CatalogCommand) -> u8 {
    match command {
        CatalogCommand::Check(args) => check(args).await,
        CatalogCommand::Test(args) => super::catalog_test::test(args).await,
        CatalogCommand::Replay(args) => super::catalog_test::replay(args).await,
        CatalogCommand::Stats(args) => super::client::catalog_stats(args).await,
    }
}

pub async fn check(args: CheckArgs) -> u8 {
    let catalog = match Catalog::load(&args.file) {
        Ok(catalog) => catalog,
        Err(e) => {
            if args.json {
                out(&serde_json::json!({ "ok": false, "error": e.to_string() }).to_string());
            } else {
                report_error(&e.to_string());
            }
            return exit::INVALID_INPUT;
        }
    };
    if let Some(path) = &args.explain_approval {
        return explain(&catalog, path, &args);
    }
    let tools = catalog.dynamic_tools_payload();
    let instructions = catalog.instruction_text();
    let probe = if args.through_codex {
        match crate::inspect::probe::probe_tools(&catalog, args.codex_bin.as_deref(), &[]).await {
            Ok(probe) => Some(probe),
            Err(e) => {
                if args.json {
                    out(&serde_json::json!({ "ok": false, "error": e }).to_string());
                } else {
                    report_error(&e);
                }
                return exit::APP_SERVER;
            }
        }
    } else {
        None
    };
    if args.json {
        let warnings: Vec<serde_json::Value> = catalog
            .warnings
            .iter()
            .map(|w| {
                serde_json::json!({
                    "severity": w.label(),
                    "tool": w.tool,
                    "line": w.line,
                    "message": w.message,
                })
            })
            .collect();
        let mut report = serde_json::json!({
            "ok": true,
            "warnings": warnings,
            "dynamicTools": tools,
            "instructionText": instructions,
            "approvals": catalog
                .approvals
                .rules
                .iter()
                .map(|rule| rule.summary())
                .collect::<Vec<_>>(),
        });
        if let (Some(probe), Some(map)) = (&probe, report.as_object_mut()) {
            map.insert("modelTools".to_string(), probe.tools.clone());
            map.insert(
                "differences".to_string(),
                serde_json::to_value(&probe.differences).unwrap_or_default(),
            );
        }
        out(&report.to_string());
        return exit::OK;
    }
    let manual = catalog.tools.iter().filter(|t| t.handler.is_none()).count();
    note(&format!(
        "{}: {} tool(s), {} with a handler, {} manual; {} warning(s)",
        args.file.display(),
        catalog.tools.len(),
        catalog.tools.len() - manual,
        manual,
        catalog.warnings.len()
    ));
    if !catalog.warnings.is_empty() {
        out("# warnings");
        for warning in &catalog.warnings {
            out(&format!("{}: {warning}", warning.label()));
        }
        out("");
    }
    if !catalog.approvals.is_empty() {
        out("# approval rules (matched in order; no match: ask)");
        for rule in &catalog.approvals.rules {
            out(&rule.summary());
        }
        out("");
    }
    out("# dynamicTools (sent with thread/start)");
    out(&serde_json::to_string_pretty(&tools).unwrap_or_default());
    out("");
    out("# instruction text");
    out(&instructions);
    if let Some(probe) = probe {
        out("");
        out("# tools the model is offered (codex's first model request)");
        out(&serde_json::to_string_pretty(&probe.tools).unwrap_or_default());
        out("");
        out("# differences from the catalog");
        if probe.differences.is_empty() {
            out("none");
        }
        for difference in &probe.differences {
            out(&format!(
                "{:<9} {}: {}",
                difference.kind, difference.tool, difference.detail
            ));
        }
    }
    exit::OK
}

/// `catalog check --explain-approval`: which rule decides a sample request, and the answer.
fn explain(catalog: &Catalog, path: &std::path::Path, args: &CheckArgs) -> u8 {
    let fail = |message: String| {
        if args.json {
            out(&serde_json::json!({ "ok": false, "error": message }).to_string());
        } else {
            report_error(&message);
        }
        exit::INVALID_INPUT
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return fail(format!("could not read {}: {e}", path.display())),
    };
    let request = match parse_sample_request(&text) {
        Ok(request) => request,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    let context = RequestContext {
        cwd: args.session_cwd.clone(),
        file_paths: (!args.changed_path.is_empty()).then(|| args.changed_path.clone()),
    };
    let outcome = catalog.approvals.decide(&request, &context);
    let kind = ApprovalKind::of(&request).map(ApprovalKind::as_str);
    let rule_text = |index: usize| {
        catalog
            .approvals
            .rules
            .get(index)
            .map(|rule| rule.summary())
            .unwrap_or_default()
    };
    let report = match &outcome {
        RuleOutcome::Decided {
            decision,
            rule_index,
            reason,
            answer,
        } => serde_json::json!({
            "ok": true,
            "method": request.method(),
            "kind": kind,
            "outcome": "decided",
            "rule": rule_index + 1,
            "ruleText": rule_text(*rule_index),
            "decision": decision.as_str(),
            "reason": reason,
            "answer": answer.to_value(),
        }),
        RuleOutcome::RunHandler {
            rule_index,
            spec,
            input,
        } => serde_json::json!({
            "ok": true,
            "method": request.method(),
            "kind": kind,
            "outcome": "handler",
            "rule": rule_index + 1,
            "ruleText": rule_text(*rule_index),
            "handler": spec.argv,
            "handlerInput": input,
        }),
        RuleOutcome::Ask { rule_index, note } => serde_json::json!({
            "ok": true,
            "method": request.method(),
            "kind": kind,
            "outcome": "ask",
            "rule": rule_index.map(|i| i + 1),
            "ruleText": rule_index.map(rule_text),
            "note": note,
        }),
    };
    if args.json {
        out(&report.to_string());
        return exit::OK;
    }
    out(&format!(
        "request: {} (kind {})",
        request.method(),
        kind.unwrap_or("none: rules do not answer it")
    ));
    match outcome {
        RuleOutcome::Decided {
            decision,
            rule_index,
            reason,
            answer,
        } => {
            out(&format!("decided by {}", rule_text(rule_index)));
            out(&format!("decision: {}", decision.as_str()));
            if let Some(reason) = reason {
                out(&format!("reason: {reason}"));
            }
            out(&format!("answer sent: {}", answer.to_value()));
        }
        RuleOutcome::RunHandler {
            rule_index, input, ..
        } => {
            out(&format!("decided by {}", rule_text(rule_index)));
            out("the handler runs with this on stdin and its decision is sent:");
            out(&input.to_string());
        }
        RuleOutcome::Ask { rule_index, note } => {
            match rule_index {
                Some(index) => out(&format!("asked by {}", rule_text(index))),
                None => out("no rule matches"),
            }
            if let Some(note) = note {
                out(&format!("note: {note}"));
            }
            out("answer: none, a person decides (ask)");
        }
    }
    exit::OK
}

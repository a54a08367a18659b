//! `switchboard catalog check` (and dispatch of the other `catalog` commands).

use std::path::PathBuf;

use clap::Args;

use super::{CatalogCommand, exit, note, out, report_error};
use crate::catalog::Catalog;

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
}

pub async fn run(command: CatalogCommand) -> u8 {
    match command {
        CatalogCommand::Check(args) => check(args).await,
        CatalogCommand::Test(args) => super::catalog_test::test(args).await,
        CatalogCommand::Replay(args) => super::catalog_test::replay(args).await,
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
    let tools = catalog.dynamic_tools_payload();
    let instructions = catalog.instruction_text();
    let probe = if args.through_codex {
        match super::catalog_probe::probe_tools(&catalog, args.codex_bin.as_deref()).await {
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

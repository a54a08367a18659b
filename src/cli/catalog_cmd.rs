//! `switchboard catalog check`.

use std::path::PathBuf;

use clap::Args;

use super::{exit, note, out, report_error};
use crate::catalog::Catalog;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The catalog file (TOML).
    pub file: PathBuf,
    /// Print one JSON object: {"ok","warnings","dynamicTools","instructionText"}.
    #[arg(long)]
    pub json: bool,
}

pub fn check(args: CheckArgs) -> u8 {
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
    let tools = catalog.dynamic_tools();
    let instructions = catalog.instruction_text();
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
        out(&serde_json::json!({
            "ok": true,
            "warnings": warnings,
            "dynamicTools": tools,
            "instructionText": instructions,
        })
        .to_string());
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
    exit::OK
}

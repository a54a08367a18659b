//! Examples as real turns through codex on the scripted model (`catalog test
//! --through-codex`). The probe of `catalog check --through-codex` is in
//! `inspect::probe`, which the console uses too.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::catalog_test::{Case, CaseReport, judge};
use crate::bridge::{self, BridgeConfig, BridgeEvent, CreateSession, ManualPolicy};
use crate::catalog::Catalog;
use crate::inspect::probe::{PROBE_WAIT, scripted_codex};
use crate::inspect::scripted::TempDir;
use crate::model::Scenario;

/// Each example as a real turn: the scripted model calls the example's tool with its
/// arguments, the bridge answers with the catalog's handler, and the answer the model
/// received is checked.
pub async fn run_examples(
    catalog: &Catalog,
    cases: &[Case<'_>],
    codex_bin: Option<&Path>,
) -> Result<Vec<CaseReport>, String> {
    let mut scenario = String::new();
    for (index, case) in cases.iter().enumerate() {
        let arguments = toml::Value::String(case.example.arguments.to_string());
        let tool = toml::Value::String(case.tool.name.clone());
        let namespace = case
            .tool
            .namespace
            .as_ref()
            .map(|ns| format!(", namespace = {}", toml::Value::String(ns.clone())))
            .unwrap_or_default();
        scenario.push_str(&format!(
            "[[turn]]\nmatch = \"[example-{index}]\"\n[[turn.round]]\ncalls = [ {{ tool = {tool}{namespace}, arguments_json = {arguments} }} ]\n[turn.reply]\ntext = \"done\"\n\n"
        ));
    }
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let scenario =
        Scenario::parse(&scenario, "catalog test --through-codex").map_err(|e| e.to_string())?;
    let (scripted, transport) = scripted_codex(
        scenario,
        super::scripted::model_options(catalog),
        codex_bin,
        &[],
    )
    .await?;
    let data = TempDir::new("switchboard-catalog-test")
        .map_err(|(path, e)| format!("could not create {}: {e}", path.display()))?;
    let mut config = BridgeConfig::new(transport, Arc::new(catalog.clone()));
    config.data_dir = Some(data.path().to_path_buf());
    config.manual_policy = ManualPolicy::headless_default();
    let bridge = bridge::start(config)
        .await
        .map_err(|e| format!("could not start codex: {e}"))?;
    let session = bridge
        .create_session(CreateSession {
            cwd: Some(scripted.codex_home.path().display().to_string()),
            ..CreateSession::default()
        })
        .await
        .map_err(|e| format!("codex refused the catalog at thread/start: {e}"))?;
    let mut reports = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let mut events = bridge.subscribe();
        let argument_problems = case.tool.validate_arguments(&case.example.arguments);
        let turn = bridge
            .send_message(&session.thread_id, &format!("run [example-{index}]"))
            .await
            .map_err(|e| format!("could not start a turn: {e}"))?;
        let wait = case
            .tool
            .handler
            .as_ref()
            .and_then(crate::catalog::HandlerSpec::timeout)
            .unwrap_or(Duration::ZERO)
            + PROBE_WAIT;
        let resolved = tokio::time::timeout(wait, async {
            loop {
                match events.recv().await {
                    Some(BridgeEvent::ToolCallResolved { call }) if call.turn_id == turn => {
                        return Some(call);
                    }
                    Some(BridgeEvent::TurnCompleted { turn_id, .. }) if turn_id == turn => {
                        return None;
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await
        .ok()
        .flatten();
        let report = match resolved {
            Some(call) => judge(case, argument_problems, call.result, None, call.latency_ms),
            None => judge(
                case,
                argument_problems,
                None,
                Some("the call never reached the handler".to_string()),
                0,
            ),
        };
        reports.push(report);
        // Let the turn end before the next one starts.
        let _ = tokio::time::timeout(PROBE_WAIT, async {
            loop {
                match events.recv().await {
                    Some(BridgeEvent::TurnCompleted { turn_id, .. }) if turn_id == turn => break,
                    None => break,
                    Some(_) => {}
                }
            }
        })
        .await;
    }
    bridge.shutdown().await;
    drop(scripted);
    Ok(reports)
}

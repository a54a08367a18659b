//! `switchboard exec`: one prompt, headless, the counterpart of codex-manager's
//! `send_and_handle(require_assistant_reply=True)`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::serve::ApprovalsMode;
use super::start::{Recovery, ScriptedChoice, start_bridge_with};
use super::{AppServerArgs, exit, note, out, report_error};
use crate::bridge::{
    BridgeEvent, BridgeHandle, CallEnd, ConnectionState, CreateSession, ManualPolicy, ResolvedCall,
};
use crate::protocol::TurnStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManualMode {
    /// Answer calls of manual tools at once with `success:false` (nobody is watching).
    Fail,
    /// Leave them waiting (useful with `--connect`, where another client may answer).
    Wait,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The tool catalog (TOML). Without it, the session has no dynamic tools.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Print one JSON object per line for each event and transcript row, then a final
    /// {"type":"result",...} line.
    #[arg(long)]
    pub json: bool,
    /// The session's working directory (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// The model slug to ask codex for.
    #[arg(long)]
    pub model: Option<String>,
    /// codex's approval policy for the session (untrusted, on-request, never).
    #[arg(long, value_name = "POLICY", value_parser = ["untrusted", "on-request", "never"])]
    pub approval_policy: Option<String>,
    /// codex's sandbox for the session (read-only, workspace-write, danger-full-access).
    #[arg(long, value_name = "MODE", value_parser = ["read-only", "workspace-write", "danger-full-access"])]
    pub sandbox: Option<String>,
    /// Run codex against the embedded scripted model: a built-in scenario name (auto,
    /// single, parallel, multi-round, model-error, fail-stream) or a scenario file.
    #[arg(long, value_name = "SCENARIO", num_args = 0..=1, default_missing_value = "auto")]
    pub scripted_model: Option<String>,
    /// Approvals, questions, permission requests and elicitations that no
    /// `[[approvals]]` rule decides: `accept-rules-only` declines them at once with a
    /// reason saying so (nobody is watching); `ask` leaves them waiting (with
    /// `--connect`, where another client may answer); `decline` declines every request,
    /// rules or not.
    #[arg(long, value_enum, default_value_t = ApprovalsMode::AcceptRulesOnly)]
    pub approvals: ApprovalsMode,
    /// What to do with calls of tools that have no handler.
    #[arg(long, value_enum, default_value = "fail")]
    pub manual: ManualMode,
    /// The answer text for manual calls under `--manual fail`; `{tool}` is replaced.
    #[arg(long, value_name = "TEXT")]
    pub manual_message: Option<String>,
    /// Give up (and interrupt the turn) after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
    #[command(flatten)]
    pub app_server: AppServerArgs,
    /// The user message, sent verbatim.
    pub prompt: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecResult {
    #[serde(rename = "type")]
    kind: &'static str,
    session_id: Option<String>,
    turn_id: Option<String>,
    turn_status: Option<TurnStatus>,
    assistant_reply: Option<String>,
    tool_calls: Vec<ResolvedCall>,
    error: Option<String>,
}

pub async fn run(args: ExecArgs) -> u8 {
    let data_dir = args.app_server.data_dir();
    let _log_guard = super::init_file_logging(&data_dir, "exec.log");

    let catalog = match super::start::load_catalog(args.catalog.as_deref()) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    if !args.json {
        for warning in &catalog.warnings {
            note(&format!("{}: {warning}", warning.label()));
        }
    }
    let manual_policy = match (args.manual, &args.manual_message) {
        (ManualMode::Wait, _) => ManualPolicy::Wait,
        (ManualMode::Fail, Some(message)) => ManualPolicy::Fail {
            message: message.clone(),
        },
        (ManualMode::Fail, None) => ManualPolicy::headless_default(),
    };
    let scripted = args
        .scripted_model
        .as_deref()
        .map(|scenario| ScriptedChoice {
            scenario,
            options: super::scripted::model_options(&catalog),
        });
    // No reconnect: a lost app-server ends the run with exit status 3.
    let started = match start_bridge_with(
        &args.app_server,
        catalog,
        scripted,
        manual_policy,
        Recovery::none(),
        args.approvals.policy(),
    )
    .await
    {
        Ok(started) => started,
        Err(code) => return code,
    };
    let bridge = started.bridge.clone();
    let code = drive(&bridge, &args).await;
    bridge.shutdown().await;
    drop(started);
    code
}

/// Creates the session, sends the prompt and follows the event stream to the end of
/// the turn.
async fn drive(bridge: &BridgeHandle, args: &ExecArgs) -> u8 {
    let mut events = bridge.subscribe();
    // The connection came up before we could subscribe: report it from the status.
    if let Ok(status) = bridge.status().await {
        for app_server in status.app_servers {
            print_event(
                args,
                &BridgeEvent::Connection {
                    app_server: app_server.name,
                    transport: app_server.transport,
                    state: app_server.connection,
                },
            );
        }
    }
    let mut result = ExecResult {
        kind: "result",
        session_id: None,
        turn_id: None,
        turn_status: None,
        assistant_reply: None,
        tool_calls: Vec::new(),
        error: None,
    };
    let cwd = args
        .cwd
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .map(|p| p.display().to_string());
    let session = match bridge
        .create_session(CreateSession {
            cwd,
            model: args.model.clone(),
            approval_policy: args.approval_policy.clone(),
            sandbox: args.sandbox.clone(),
            ..CreateSession::default()
        })
        .await
    {
        Ok(session) => session,
        Err(e) => {
            return finish(
                args,
                result,
                format!("could not create a session: {e}"),
                exit::APP_SERVER,
            );
        }
    };
    result.session_id = Some(session.thread_id.clone());
    let turn_id = match bridge.send_message(&session.thread_id, &args.prompt).await {
        Ok(turn_id) => turn_id,
        Err(e) => {
            return finish(
                args,
                result,
                format!("could not start the turn: {e}"),
                exit::APP_SERVER,
            );
        }
    };
    result.turn_id = Some(turn_id.clone());

    let deadline = tokio::time::sleep(Duration::from_secs(args.timeout));
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = &mut deadline => {
                let _ = bridge.interrupt(&session.thread_id).await;
                let message = format!("the turn did not end within {} s; interrupted it", args.timeout);
                return finish(args, result, message, exit::TURN_NOT_COMPLETED);
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = bridge.interrupt(&session.thread_id).await;
                return finish(args, result, "interrupted by Ctrl-C".to_string(), exit::INTERRUPTED);
            }
        };
        let Some(event) = event else {
            return finish(
                args,
                result,
                "the bridge stopped".to_string(),
                exit::APP_SERVER,
            );
        };
        if event.thread_id().is_some_and(|t| t != session.thread_id) {
            continue;
        }
        print_event(args, &event);
        match event {
            BridgeEvent::ToolCallResolved { call } if call.turn_id == turn_id => {
                result.tool_calls.push(call);
            }
            BridgeEvent::AgentMessageCompleted {
                turn_id: t, text, ..
            } if t == turn_id => {
                result.assistant_reply = Some(text);
            }
            BridgeEvent::TurnCompleted {
                turn_id: t,
                status,
                error,
                ..
            } if t == turn_id => {
                result.turn_status = Some(status);
                let code = if status == TurnStatus::Completed {
                    exit::OK
                } else {
                    exit::TURN_NOT_COMPLETED
                };
                let error = error.or_else(|| {
                    (status != TurnStatus::Completed).then(|| format!("turn {}", status.as_str()))
                });
                return match error {
                    Some(message) => finish(args, result, message, code),
                    None => finish_ok(args, result),
                };
            }
            BridgeEvent::Connection {
                state: ConnectionState::Disconnected { reason, .. },
                ..
            } => {
                // Calls expired with the connection; their events came first.
                return finish(args, result, reason, exit::APP_SERVER);
            }
            BridgeEvent::Lagged { .. } => {
                // Fell behind the stream: the turn's outcome is still known to the bridge.
                return match bridge.wait_turn(&session.thread_id, &turn_id).await {
                    Ok(turn) => {
                        result.turn_status = Some(turn.status);
                        result.assistant_reply = turn.assistant_reply;
                        if turn.status == TurnStatus::Completed {
                            finish_ok(args, result)
                        } else {
                            let message = turn
                                .error
                                .unwrap_or_else(|| format!("turn {}", turn.status.as_str()));
                            finish(args, result, message, exit::TURN_NOT_COMPLETED)
                        }
                    }
                    Err(e) => finish(args, result, e.to_string(), exit::APP_SERVER),
                };
            }
            _ => {}
        }
    }
}

fn print_event(args: &ExecArgs, event: &BridgeEvent) {
    if args.json {
        if !matches!(event, BridgeEvent::AppServerNotification { .. }) {
            out(&serde_json::to_string(event).unwrap_or_default());
        }
        return;
    }
    if let BridgeEvent::ToolCallResolved { call } = event {
        note(&describe_call(call));
        for problem in &call.output_schema_problems {
            note(&format!("  ⚠ {problem}"));
        }
    }
    if let BridgeEvent::Error { message, .. } = event {
        note(&format!("error: {message}"));
    }
    if let BridgeEvent::RequestResolved { request } = event {
        let by = request
            .answered_by
            .as_ref()
            .map(|r| format!(" by {}", r.label()))
            .unwrap_or_default();
        let what = match request.status {
            CallEnd::Resolved => request.decision.clone().unwrap_or_default(),
            CallEnd::Expired => "expired".to_string(),
        };
        note(&format!("{} {what}{by}", request.method));
    }
    if let BridgeEvent::ServerRequestRefused { method, answer, .. } = event {
        note(&format!("{method} {answer}"));
    }
}

fn describe_call(call: &ResolvedCall) -> String {
    let outcome = if call.success { "ok" } else { "failed" };
    match call.status {
        CallEnd::Resolved => format!(
            "tool {} answered by {} in {} ms ({outcome})",
            call.tool,
            call.answered_by
                .as_ref()
                .map(|r| r.label())
                .unwrap_or_else(|| "unknown".to_string()),
            call.latency_ms
        ),
        CallEnd::Expired => format!(
            "tool {} expired after {} ms: {}",
            call.tool,
            call.latency_ms,
            call.reason.as_deref().unwrap_or("no reason given")
        ),
    }
}

fn finish_ok(args: &ExecArgs, result: ExecResult) -> u8 {
    if args.json {
        out(&serde_json::to_string(&result).unwrap_or_default());
    } else {
        out(result.assistant_reply.as_deref().unwrap_or(""));
    }
    exit::OK
}

fn finish(args: &ExecArgs, mut result: ExecResult, error: String, code: u8) -> u8 {
    if args.json {
        result.error = Some(error);
        out(&serde_json::to_string(&result).unwrap_or_default());
    } else {
        if let Some(reply) = &result.assistant_reply {
            out(reply);
        }
        report_error(&error);
    }
    code
}

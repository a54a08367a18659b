//! `switchboard exec`: one prompt, headless, the counterpart of codex-manager's
//! `send_and_handle(require_assistant_reply=True)`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::serve::ApprovalsMode;
use super::start::{Recovery, ScriptedChoice, start_bridge_with};
use super::{AppServerArgs, exit, note, out, report_error};
use crate::bridge::items::ItemRow;
use crate::bridge::{
    BridgeEvent, BridgeHandle, CallEnd, ConnectionState, CreateSession, ManualPolicy, ResolvedCall,
    TranscriptEntry, TranscriptRow,
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
    let mut items = ItemLines::default();
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
                &mut items,
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
                flush_items(args, &mut items);
                let message = format!("the turn did not end within {} s; interrupted it", args.timeout);
                return finish(args, result, message, exit::TURN_NOT_COMPLETED);
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = bridge.interrupt(&session.thread_id).await;
                flush_items(args, &mut items);
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
        print_event(args, &event, &mut items);
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

/// An `item` line of `--json`: one thread item of the turn (a command, a file change,
/// reasoning, a plan, an MCP call, .., any kind not known yet), as the transcript keeps it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    thread_id: &'a str,
    turn_id: Option<&'a str>,
    seq: u64,
    at_ms: i64,
    item: &'a ItemRow,
}

/// The `item` lines of `--json`: each item row once, in its last state. A row changes in
/// place while its item runs (`TranscriptRowUpdated`); one that runs (a command, a file
/// change, an MCP call, a hook) is printed when it stops running, the others (reasoning,
/// the turn's plan, ..) when the turn ends, in transcript order.
#[derive(Debug, Default)]
pub struct ItemLines {
    /// Rows not printed yet, by transcript position: thread, row.
    waiting: std::collections::BTreeMap<u64, (String, TranscriptRow)>,
    printed: std::collections::HashSet<u64>,
}

impl ItemLines {
    /// The lines `event` completes.
    pub fn on_event(&mut self, event: &BridgeEvent) -> Vec<String> {
        let (BridgeEvent::TranscriptAppended { thread_id, row }
        | BridgeEvent::TranscriptRowUpdated { thread_id, row }) = event
        else {
            return Vec::new();
        };
        let TranscriptEntry::Item(item) = &row.entry else {
            return Vec::new();
        };
        if self.printed.contains(&row.seq) {
            return Vec::new();
        }
        if item.is_running() || !has_status(item) {
            self.waiting
                .insert(row.seq, (thread_id.clone(), row.clone()));
            return Vec::new();
        }
        self.waiting.remove(&row.seq);
        self.printed.insert(row.seq);
        vec![item_line(thread_id, row)]
    }

    /// The lines of every row still waiting (the turn is over).
    pub fn flush(&mut self) -> Vec<String> {
        let waiting = std::mem::take(&mut self.waiting);
        waiting
            .into_values()
            .map(|(thread_id, row)| {
                self.printed.insert(row.seq);
                item_line(&thread_id, &row)
            })
            .collect()
    }
}

/// Whether the row's item runs for a while and says when it stopped.
fn has_status(item: &ItemRow) -> bool {
    matches!(
        item,
        ItemRow::Command { .. }
            | ItemRow::FileChange { .. }
            | ItemRow::McpToolCall { .. }
            | ItemRow::Hook { .. }
    )
}

fn item_line(thread_id: &str, row: &TranscriptRow) -> String {
    let TranscriptEntry::Item(item) = &row.entry else {
        return String::new();
    };
    serde_json::to_string(&ItemLine {
        kind: "item",
        thread_id,
        turn_id: row.turn_id.as_deref(),
        seq: row.seq,
        at_ms: row.at_ms,
        item,
    })
    .unwrap_or_default()
}

fn flush_items(args: &ExecArgs, items: &mut ItemLines) {
    if args.json {
        for line in items.flush() {
            out(&line);
        }
    }
}

fn print_event(args: &ExecArgs, event: &BridgeEvent, items: &mut ItemLines) {
    if args.json {
        // The raw app-server messages are the API stream's; their effects are here.
        if !matches!(
            event,
            BridgeEvent::AppServerNotification { .. } | BridgeEvent::AppServerRequest { .. }
        ) {
            out(&serde_json::to_string(event).unwrap_or_default());
        }
        for line in items.on_event(event) {
            out(&line);
        }
        // The turn is over: the items still changing have their last state.
        if matches!(
            event,
            BridgeEvent::TurnCompleted { .. }
                | BridgeEvent::Connection {
                    state: ConnectionState::Disconnected { .. },
                    ..
                }
                | BridgeEvent::Lagged { .. }
        ) {
            flush_items(args, items);
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::ItemLines;
    use crate::bridge::items::ItemRow;
    use crate::bridge::{BridgeEvent, TranscriptEntry, TranscriptRow};

    fn row(seq: u64, item: ItemRow) -> TranscriptRow {
        TranscriptRow {
            seq,
            at_ms: 1000 + seq as i64,
            turn_id: Some("u1".into()),
            entry: TranscriptEntry::Item(item),
        }
    }

    fn command(status: &str, output: &str) -> ItemRow {
        ItemRow::Command {
            item_id: "call_1".into(),
            command: "cargo test".into(),
            cwd: "/w".into(),
            status: status.into(),
            exit_code: (status != "inProgress").then_some(0),
            duration_ms: None,
            output: output.into(),
            output_cut_bytes: 0,
            output_lines: output.lines().count(),
        }
    }

    fn reasoning(summary: &str) -> ItemRow {
        ItemRow::Reasoning {
            item_id: "rs_1".into(),
            summary: vec![summary.into()],
        }
    }

    fn appended(row: TranscriptRow) -> BridgeEvent {
        BridgeEvent::TranscriptAppended {
            thread_id: "t1".into(),
            row,
        }
    }

    fn updated(row: TranscriptRow) -> BridgeEvent {
        BridgeEvent::TranscriptRowUpdated {
            thread_id: "t1".into(),
            row,
        }
    }

    fn parse(lines: Vec<String>) -> Vec<Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Each item once, in its last state: a command when it stops running, reasoning
    /// (which says nothing of its end) when the turn is over.
    #[test]
    fn each_item_is_one_line_in_its_last_state() {
        let mut lines = ItemLines::default();
        assert!(
            lines
                .on_event(&appended(row(3, command("inProgress", ""))))
                .is_empty()
        );
        assert!(
            lines
                .on_event(&appended(row(4, reasoning("Reading"))))
                .is_empty()
        );
        assert!(
            lines
                .on_event(&updated(row(3, command("inProgress", "one\n"))))
                .is_empty()
        );
        assert!(
            lines
                .on_event(&updated(row(4, reasoning("Reading the tests"))))
                .is_empty()
        );
        let done = parse(lines.on_event(&updated(row(3, command("completed", "one\ntwo\n")))));
        assert_eq!(done.len(), 1);
        assert_eq!(
            (
                &done[0]["type"],
                &done[0]["threadId"],
                &done[0]["turnId"],
                &done[0]["seq"]
            ),
            (
                &Value::from("item"),
                &Value::from("t1"),
                &Value::from("u1"),
                &Value::from(3)
            )
        );
        assert_eq!(done[0]["item"]["kind"], "command");
        assert_eq!(done[0]["item"]["status"], "completed");
        assert_eq!(done[0]["item"]["output"], "one\ntwo\n");
        // A later copy of a printed row (read back, repeated) is not printed again.
        assert!(
            lines
                .on_event(&updated(row(3, command("completed", "one\ntwo\n"))))
                .is_empty()
        );
        let rest = parse(lines.flush());
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0]["item"]["kind"], "reasoning");
        assert_eq!(rest[0]["item"]["summary"][0], "Reading the tests");
        assert!(lines.flush().is_empty());
    }
}

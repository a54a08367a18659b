//! From bridge state to API bodies: sessions, turns, transcript entries, pending-call
//! records and stream signals. Pure functions, so every mapping is unit-tested.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::validate::content_item_body;
use super::wire::{
    AnswererView, ApprovalPolicy, CallEndStatus, DeletedSessionBody, DeletedStatus,
    FilesystemSandbox, NetworkAccess, NotificationSignal, PendingCallRecord, PendingStatus,
    SessionControls, SessionInfo, SignalContext, SignalSession, ThreadItemView, ThreadView,
    ToolCallItemStatus, ToolCallParamsView, ToolCallResolvedPayload, ToolCallSignal,
    TranscriptEntryView, TranscriptRole, TranscriptStatus, TurnErrorView, TurnState, TurnView,
    UserInputView,
};
use crate::bridge::{
    Answerer, CallEnd, PendingCallView, ResolvedCall, SessionSettings, SessionSetup,
    SessionSnapshot, SessionSummary, TranscriptEntry, TranscriptRow,
};
use crate::protocol::{TurnStatus, method};
use crate::util::iso8601_ms;

/// The event type of a tool-call signal.
pub const TOOL_CALL_SIGNAL: &str = "app_server.request.item.tool.call";

pub fn turn_state(status: TurnStatus) -> TurnState {
    match status {
        TurnStatus::InProgress => TurnState::InProgress,
        TurnStatus::Completed => TurnState::Completed,
        TurnStatus::Interrupted => TurnState::Interrupted,
        TurnStatus::Failed => TurnState::Failed,
    }
}

/// `item/agentMessage/delta` → `item.agent_message.delta`: split on `/`, snake-case each
/// segment, join with `.` (codex-manager's rule).
pub fn normalize_method(method: &str) -> String {
    method
        .split('/')
        .map(snake_case)
        .collect::<Vec<_>>()
        .join(".")
}

fn snake_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 4);
    for (index, c) in segment.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '-' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn approval_policy(settings: &SessionSettings) -> ApprovalPolicy {
    match settings.approval_policy.as_ref() {
        Some(Value::String(policy)) => match policy.as_str() {
            "untrusted" => ApprovalPolicy::Untrusted,
            "on-failure" => ApprovalPolicy::OnFailure,
            "never" => ApprovalPolicy::Never,
            _ => ApprovalPolicy::OnRequest,
        },
        // A granular policy asks for some approvals, and codex's default is on-request.
        Some(_) | None => ApprovalPolicy::OnRequest,
    }
}

/// Reads app-server's `SandboxPolicy` object. An external sandbox is reported as full
/// access: codex itself does not restrict it.
fn sandbox(settings: &SessionSettings) -> (FilesystemSandbox, NetworkAccess) {
    let policy = settings.sandbox.as_ref();
    let kind = policy.and_then(|p| p.get("type")).and_then(Value::as_str);
    let network = policy
        .and_then(|p| p.get("networkAccess"))
        .is_some_and(|n| n == &Value::Bool(true) || n == "enabled");
    let filesystem = match kind {
        Some("readOnly") => FilesystemSandbox::ReadOnly,
        Some("workspaceWrite") => FilesystemSandbox::WorkspaceWrite,
        _ => FilesystemSandbox::DangerFullAccess,
    };
    let network = if network || filesystem == FilesystemSandbox::DangerFullAccess {
        NetworkAccess::Enabled
    } else {
        NetworkAccess::Restricted
    };
    (filesystem, network)
}

fn text_field(thread: &Value, key: &str) -> Option<String> {
    thread.get(key).and_then(Value::as_str).map(str::to_string)
}

pub fn session_info(summary: &SessionSummary, setup: Option<&SessionSetup>) -> SessionInfo {
    let settings = setup.map(|s| s.settings.clone()).unwrap_or_default();
    let thread = setup.map(|s| &s.thread).unwrap_or(&Value::Null);
    let policy = approval_policy(&settings);
    let (filesystem_sandbox, network_access) = sandbox(&settings);
    let mut extra = serde_json::Map::new();
    if let Some(effort) = &settings.reasoning_effort {
        extra.insert("reasoningEffort".to_string(), json!(effort));
    }
    SessionInfo {
        session_id: summary.thread_id.clone(),
        title: summary.title.clone(),
        materialized: summary.turn_count > 0,
        model_provider: summary.model_provider.clone().unwrap_or_default(),
        approval_policy: policy,
        session_controls: SessionControls {
            model: settings.model.or_else(|| summary.model.clone()),
            approval_policy: policy,
            network_access,
            filesystem_sandbox,
            settings: Value::Object(extra),
        },
        created_at: seconds(summary.created_at_ms),
        updated_at: seconds(summary.updated_at_ms),
        cwd: summary.cwd.clone().unwrap_or_default(),
        source: match thread.get("source") {
            Some(Value::String(source)) => source.clone(),
            _ => "appServer".to_string(),
        },
        project_id: text_field(thread, "projectId"),
        status: summary.status.as_str().to_string(),
        turn_count: summary.turn_count,
        active_turn_id: summary.active_turn_id.clone(),
        tools: summary.tools.clone(),
        persisted: summary.persisted,
        persist_error: summary.persist_error.clone(),
        name: summary.name.clone(),
        token_usage: summary.token_usage.map(Into::into),
        app_server: summary.app_server.clone(),
    }
}

pub fn deleted_body(summary: &SessionSummary) -> DeletedSessionBody {
    DeletedSessionBody {
        status: DeletedStatus::Deleted,
        session_id: summary.thread_id.clone(),
        title: Some(summary.title.clone()),
        message: format!("session {} was deleted", summary.thread_id),
        deleted_at: iso8601_ms(summary.updated_at_ms),
    }
}

/// The turns of a snapshot, with items rebuilt from the transcript rows of each turn.
pub fn thread_view(snapshot: &SessionSnapshot) -> ThreadView {
    let summary = &snapshot.summary;
    let raw = &snapshot.thread;
    let mut items: HashMap<&str, Vec<ThreadItemView>> = HashMap::new();
    let mut first_user_text: Option<&str> = None;
    for row in &snapshot.transcript {
        let Some(turn_id) = row.turn_id.as_deref() else {
            continue;
        };
        let turn_items = items.entry(turn_id).or_default();
        match &row.entry {
            TranscriptEntry::UserMessage { text } => {
                first_user_text.get_or_insert(text);
                turn_items.push(ThreadItemView::UserMessage {
                    id: row_id(row),
                    content: vec![UserInputView {
                        kind: "text".to_string(),
                        text: text.clone(),
                    }],
                });
            }
            TranscriptEntry::AgentMessage { item_id, text } => {
                turn_items.push(ThreadItemView::AgentMessage {
                    id: item_id.clone(),
                    text: text.clone(),
                });
            }
            TranscriptEntry::ToolCallRequest {
                request_id,
                call_id,
                tool,
                namespace,
                arguments,
                ..
            } => turn_items.push(ThreadItemView::DynamicToolCall {
                id: call_id.clone(),
                request_id: request_id.clone(),
                tool: tool.clone(),
                namespace: namespace.clone(),
                arguments: arguments.clone(),
                status: ToolCallItemStatus::InProgress,
                success: None,
                content_items: None,
            }),
            TranscriptEntry::ToolCallResolved {
                request_id: resolved_id,
                status: end,
                success: ok,
                content,
                ..
            } => {
                for item in turn_items.iter_mut() {
                    if let ThreadItemView::DynamicToolCall {
                        request_id,
                        status,
                        success,
                        content_items,
                        ..
                    } = item
                        && request_id == resolved_id
                    {
                        *status = if *end == CallEnd::Resolved && *ok {
                            ToolCallItemStatus::Completed
                        } else {
                            ToolCallItemStatus::Failed
                        };
                        *success = Some(*ok);
                        *content_items = content
                            .as_ref()
                            .map(|r| r.content_items.iter().map(content_item_body).collect());
                    }
                }
            }
            TranscriptEntry::SessionStarted { .. }
            | TranscriptEntry::TurnStarted
            | TranscriptEntry::TurnCompleted { .. }
            | TranscriptEntry::Error { .. }
            | TranscriptEntry::Notice { .. }
            | TranscriptEntry::SessionClosed { .. }
            | TranscriptEntry::RequestOpened { .. }
            | TranscriptEntry::RequestResolved { .. }
            | TranscriptEntry::Item(_) => {}
        }
    }
    let turns = snapshot
        .turns
        .iter()
        .map(|turn| TurnView {
            id: turn.id.clone(),
            status: turn_state(turn.status),
            items: items.remove(turn.id.as_str()).unwrap_or_default(),
            error: turn.error.clone().map(|message| TurnErrorView { message }),
            started_at_ms: turn.started_at_ms,
            completed_at_ms: turn.completed_at_ms,
        })
        .collect();
    let raw_number = |key: &str| raw.get(key).and_then(Value::as_i64);
    let preview = text_field(raw, "preview")
        .filter(|p| !p.is_empty())
        .or_else(|| first_user_text.map(|t| crate::protocol::truncate_chars(t, 200).to_string()))
        .unwrap_or_default();
    ThreadView {
        id: summary.thread_id.clone(),
        preview,
        model_provider: summary.model_provider.clone().unwrap_or_default(),
        created_at: raw_number("createdAt").unwrap_or(seconds(summary.created_at_ms)),
        updated_at: raw_number("updatedAt")
            .unwrap_or(0)
            .max(seconds(summary.updated_at_ms)),
        cwd: summary.cwd.clone().unwrap_or_default(),
        source: raw.get("source").cloned().unwrap_or(json!("appServer")),
        turns,
    }
}

fn row_id(row: &TranscriptRow) -> String {
    format!("row-{}", row.seq)
}

fn tool_message_id(request_id: &str) -> String {
    format!("tool-call-{request_id}")
}

/// One transcript row as an API entry; `None` for the `session.started` row, whose data
/// is the session itself. A tool call's resolution keeps its request's `messageId`.
pub fn transcript_entry(row: &TranscriptRow) -> Option<TranscriptEntryView> {
    let turn_id = row.turn_id.clone().unwrap_or_default();
    let at = Some(row.at_ms);
    let entry =
        |message_id: String, role, kind: &str, content: String, status| TranscriptEntryView {
            message_id,
            turn_id: turn_id.clone(),
            role,
            kind: kind.to_string(),
            content,
            details: None,
            started_at: at,
            completed_at: if status == TranscriptStatus::Streaming {
                None
            } else {
                at
            },
            status,
        };
    let view = match &row.entry {
        // Approvals, questions and elicitations get their own rows with their routes.
        TranscriptEntry::SessionStarted { .. }
        | TranscriptEntry::RequestOpened { .. }
        | TranscriptEntry::RequestResolved { .. } => return None,
        TranscriptEntry::UserMessage { text } => entry(
            row_id(row),
            TranscriptRole::User,
            "userMessage",
            text.clone(),
            TranscriptStatus::Complete,
        ),
        TranscriptEntry::AgentMessage { item_id, text } => entry(
            item_id.clone(),
            TranscriptRole::Assistant,
            "agentMessage",
            text.clone(),
            TranscriptStatus::Complete,
        ),
        TranscriptEntry::ToolCallRequest {
            request_id,
            call_id,
            tool,
            namespace,
            arguments,
            answerer,
        } => TranscriptEntryView {
            details: Some(
                json!({
                    "requestId": request_id,
                    "callId": call_id,
                    "tool": tool,
                    "namespace": namespace,
                    "arguments": arguments,
                    "answerer": answerer,
                    "status": "pending",
                })
                .to_string(),
            ),
            ..entry(
                tool_message_id(request_id),
                TranscriptRole::System,
                "tool_call.request",
                format!("Tool call requested: {tool}"),
                TranscriptStatus::Streaming,
            )
        },
        TranscriptEntry::ToolCallResolved {
            request_id,
            call_id,
            tool,
            status,
            success,
            answered_by,
            latency_ms,
            content,
            reason,
            ..
        } => {
            let (word, state, end) = match status {
                CallEnd::Resolved => ("resolved", TranscriptStatus::Complete, "resolved"),
                CallEnd::Expired => ("expired", TranscriptStatus::Canceled, "expired"),
            };
            TranscriptEntryView {
                details: Some(
                    json!({
                        "requestId": request_id,
                        "status": end,
                        "success": success,
                        "callId": call_id,
                        "tool": tool,
                        "answeredBy": answered_by.as_ref().map(|r| r.label()),
                        "reason": reason,
                        "latencyMs": latency_ms,
                        "contentItems": content.as_ref().map(|r| &r.content_items),
                    })
                    .to_string(),
                ),
                ..entry(
                    tool_message_id(request_id),
                    TranscriptRole::System,
                    "tool_call.resolved",
                    format!("Tool call {word} (success={success})"),
                    state,
                )
            }
        }
        TranscriptEntry::TurnStarted => entry(
            row_id(row),
            TranscriptRole::System,
            "turn.started",
            "Turn started".to_string(),
            TranscriptStatus::Complete,
        ),
        TranscriptEntry::TurnCompleted { status, error } => {
            let (content, state) = match (status, error) {
                (TurnStatus::Completed, _) => {
                    ("Turn completed".to_string(), TranscriptStatus::Complete)
                }
                (TurnStatus::Interrupted, _) => {
                    ("Turn interrupted".to_string(), TranscriptStatus::Canceled)
                }
                (TurnStatus::Failed, Some(error)) => {
                    (format!("Turn failed: {error}"), TranscriptStatus::Error)
                }
                (TurnStatus::Failed, None) | (TurnStatus::InProgress, _) => {
                    (format!("Turn {}", status.as_str()), TranscriptStatus::Error)
                }
            };
            entry(
                row_id(row),
                TranscriptRole::System,
                "turn.completed",
                content,
                state,
            )
        }
        TranscriptEntry::Notice { message } => entry(
            row_id(row),
            TranscriptRole::System,
            "notice",
            message.clone(),
            TranscriptStatus::Complete,
        ),
        TranscriptEntry::SessionClosed { reason } => entry(
            row_id(row),
            TranscriptRole::System,
            "session.closed",
            format!("Session closed: {reason}"),
            TranscriptStatus::Complete,
        ),
        TranscriptEntry::Error { message } => entry(
            row_id(row),
            TranscriptRole::System,
            "error",
            message.clone(),
            TranscriptStatus::Error,
        ),
        TranscriptEntry::Item(item) => TranscriptEntryView {
            details: serde_json::to_string(item).ok(),
            ..entry(
                row_id(row),
                TranscriptRole::System,
                item.type_name(),
                item.headline(),
                TranscriptStatus::Complete,
            )
        },
    };
    Some(view)
}

/// The transcript of a snapshot: a tool call's request entry is replaced in place by its
/// resolution (as codex-manager does), and agent messages still streaming come last.
pub fn transcript(snapshot: &SessionSnapshot) -> Vec<TranscriptEntryView> {
    let mut out: Vec<TranscriptEntryView> = Vec::new();
    let mut tool_rows: HashMap<String, usize> = HashMap::new();
    for row in &snapshot.transcript {
        let Some(mut entry) = transcript_entry(row) else {
            continue;
        };
        match &row.entry {
            TranscriptEntry::ToolCallRequest { request_id, .. } => {
                tool_rows.insert(request_id.clone(), out.len());
            }
            TranscriptEntry::ToolCallResolved { request_id, .. } => {
                if let Some(&index) = tool_rows.get(request_id) {
                    entry.started_at = out[index].started_at;
                    out[index] = entry;
                    continue;
                }
            }
            TranscriptEntry::SessionStarted { .. }
            | TranscriptEntry::UserMessage { .. }
            | TranscriptEntry::AgentMessage { .. }
            | TranscriptEntry::TurnStarted
            | TranscriptEntry::TurnCompleted { .. }
            | TranscriptEntry::Error { .. }
            | TranscriptEntry::Notice { .. }
            | TranscriptEntry::SessionClosed { .. }
            | TranscriptEntry::RequestOpened { .. }
            | TranscriptEntry::RequestResolved { .. }
            | TranscriptEntry::Item(_) => {}
        }
        out.push(entry);
    }
    let streaming_turn = snapshot
        .summary
        .active_turn_id
        .clone()
        .or_else(|| snapshot.turns.last().map(|t| t.id.clone()))
        .unwrap_or_default();
    for (item_id, text) in &snapshot.streaming {
        out.push(TranscriptEntryView {
            message_id: item_id.clone(),
            turn_id: streaming_turn.clone(),
            role: TranscriptRole::Assistant,
            kind: "agentMessage".to_string(),
            content: text.clone(),
            details: None,
            started_at: None,
            completed_at: None,
            status: TranscriptStatus::Streaming,
        });
    }
    out
}

fn call_params(call: &PendingCallView) -> ToolCallParamsView {
    ToolCallParamsView {
        thread_id: call.thread_id.clone(),
        turn_id: call.turn_id.clone(),
        call_id: call.call_id.clone(),
        namespace: call.namespace.clone(),
        tool: call.tool.clone(),
        arguments: call.arguments.clone(),
    }
}

pub fn pending_record(call: &PendingCallView) -> PendingCallRecord {
    PendingCallRecord {
        request_id: call.request_id.clone(),
        tool: call.tool.clone(),
        arguments: call.arguments.clone(),
        thread_id: call.thread_id.clone(),
        call_id: call.call_id.clone(),
        turn_id: call.turn_id.clone(),
        item_id: call.call_id.clone(),
        method: method::TOOL_CALL.to_string(),
        summary: format!("Tool call requested: {}", call.tool),
        details: call_params(call),
        created_at: iso8601_ms(call.received_at_ms),
        status: PendingStatus::Pending,
        namespace: call.namespace.clone(),
        answerer: match &call.answerer {
            Answerer::Handler { name } => AnswererView {
                kind: "handler".to_string(),
                name: Some(name.clone()),
            },
            Answerer::Person => AnswererView {
                kind: "person".to_string(),
                name: None,
            },
            Answerer::Review { name } => AnswererView {
                kind: "review".to_string(),
                name: Some(name.clone()),
            },
        },
        schema_problems: call.schema_problems.clone(),
        claim: call.claim.as_ref().map(claim_view),
    }
}

pub fn claim_view(claim: &crate::bridge::CallClaim) -> super::wire::ClaimView {
    super::wire::ClaimView {
        claim_id: claim.claim_id.clone(),
        holder: claim.holder.clone(),
        lease_expires_at_ms: claim.lease_expires_at_ms,
    }
}

pub fn signal_session(thread_id: &str, title: Option<&str>) -> SignalSession {
    SignalSession {
        id: thread_id.to_string(),
        title: title.unwrap_or_default().to_string(),
        project_id: None,
    }
}

pub fn tool_call_signal(call: &PendingCallView, title: Option<&str>) -> ToolCallSignal {
    ToolCallSignal {
        source: "app_server".to_string(),
        signal_type: "request".to_string(),
        event_type: TOOL_CALL_SIGNAL.to_string(),
        method: method::TOOL_CALL.to_string(),
        received_at: iso8601_ms(call.received_at_ms),
        context: SignalContext {
            thread_id: Some(call.thread_id.clone()),
            turn_id: Some(call.turn_id.clone()),
        },
        params: call_params(call),
        session: signal_session(&call.thread_id, title),
        request_id: call.request_id.clone(),
    }
}

pub fn notification_signal(
    method: &str,
    thread_id: Option<&str>,
    params: &Value,
    title: Option<&str>,
    received_at_ms: i64,
) -> NotificationSignal {
    let turn_id = params
        .get("turnId")
        .or_else(|| params.pointer("/turn/id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    NotificationSignal {
        source: "app_server".to_string(),
        signal_type: "notification".to_string(),
        event_type: format!("app_server.{}", normalize_method(method)),
        method: method.to_string(),
        received_at: iso8601_ms(received_at_ms),
        context: SignalContext {
            thread_id: thread_id.map(str::to_string),
            turn_id,
        },
        params: params.clone(),
        session: thread_id.map(|id| signal_session(id, title)),
    }
}

pub fn resolved_payload(call: &ResolvedCall) -> ToolCallResolvedPayload {
    ToolCallResolvedPayload {
        request_id: call.request_id.clone(),
        status: match call.status {
            CallEnd::Resolved => CallEndStatus::Resolved,
            CallEnd::Expired => CallEndStatus::Expired,
        },
        success: call.success,
        thread_id: call.thread_id.clone(),
        turn_id: call.turn_id.clone(),
        call_id: call.call_id.clone(),
        tool: call.tool.clone(),
        answered_by: call.answered_by.as_ref().map(|r| r.label()),
        reason: call.reason.clone(),
        latency_ms: call.latency_ms,
        output_schema_problems: call.output_schema_problems.clone(),
    }
}

//! From bridge state to API bodies: sessions, turns, transcript entries, pending-call
//! records and stream signals. Pure functions, so every mapping is unit-tested.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::validate::content_item_body;
use super::wire::{
    AnswererView, ApprovalPolicy, CallEndStatus, DeletedSessionBody, DeletedStatus,
    FilesystemSandbox, NetworkAccess, NotificationSignal, PendingCallRecord, PendingStatus,
    SessionControls, SessionInfo, SignalContext, SignalSession, ThreadItemView, ThreadView,
    ToolCallItemStatus, ToolCallParamsView, ToolCallResolvedPayload, ToolCallSignal,
    TranscriptEntryView, TranscriptRole, TranscriptStatus, Truncation, TurnErrorView, TurnState,
    TurnView, UserInputView,
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
        origin: summary.origin.as_str().to_string(),
        auto_answer: summary.auto_answer,
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
        TranscriptEntry::Item(item) => {
            // Read through serde, so that kinds added later get the same treatment.
            let details = serde_json::to_value(item).unwrap_or(Value::Null);
            let message_id = details
                .get("itemId")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map_or_else(|| row_id(row), str::to_string);
            let status = item_status(details.get("status").and_then(Value::as_str));
            TranscriptEntryView {
                details: Some(details.to_string()),
                ..entry(
                    message_id,
                    TranscriptRole::System,
                    item.type_name(),
                    item.headline(),
                    status,
                )
            }
        }
    };
    Some(view)
}

/// An item row's status as a transcript entry's: codex's `inProgress` is still
/// streaming, `failed` an error, `declined` canceled, and anything else complete.
fn item_status(status: Option<&str>) -> TranscriptStatus {
    match status {
        Some("inProgress") => TranscriptStatus::Streaming,
        Some("failed") => TranscriptStatus::Error,
        Some("declined") => TranscriptStatus::Canceled,
        _ => TranscriptStatus::Complete,
    }
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
        app_server: call.app_server.clone(),
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

/// codex-manager's `app_server.<method>` signal of a notification whose params are
/// already serialised (`raw`, cut to fit a frame when `truncated` says so).
pub fn notification_signal(
    method: &str,
    thread_id: Option<&str>,
    params: &Value,
    (raw, truncated): (Box<RawValue>, Option<Truncation>),
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
        params: raw,
        session: thread_id.map(|id| signal_session(id, title)),
        truncated,
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

/// The start of the marker left where a string was cut to fit a frame.
pub const CUT_MARKER: &str = "[… ";

/// Room kept for a marker when planning a cut (the marker is shorter).
const MARKER_ROOM: usize = 96;

fn cut_marker(cut: usize) -> String {
    format!("\n{CUT_MARKER}{cut} bytes cut by Switchboard to fit a websocket frame …]\n")
}

fn string_lengths(value: &Value, out: &mut Vec<usize>) {
    match value {
        Value::String(s) => out.push(s.len()),
        Value::Array(values) => values.iter().for_each(|v| string_lengths(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_lengths(v, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Bytes that capping every string at `keep` bytes saves, after its marker.
fn saved_at(lengths: &[usize], keep: usize) -> usize {
    lengths
        .iter()
        .filter(|&&len| len > keep + MARKER_ROOM)
        .map(|&len| len - keep - MARKER_ROOM)
        .sum()
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// `value` with every string longer than `keep` bytes (plus a marker's room) cut to
/// its first and last `keep / 2` bytes around a marker saying how much went.
fn cap_strings(value: &Value, keep: usize, cut: &mut Truncation) -> Value {
    match value {
        Value::String(s) if s.len() > keep + MARKER_ROOM => {
            let head = floor_boundary(s, keep / 2);
            let tail = ceil_boundary(s, s.len() - keep / 2);
            let removed = tail - head;
            cut.cut_bytes += removed;
            cut.strings += 1;
            let mut out = String::with_capacity(keep + MARKER_ROOM);
            out.push_str(&s[..head]);
            out.push_str(&cut_marker(removed));
            out.push_str(&s[tail..]);
            Value::String(out)
        }
        Value::Array(values) => {
            Value::Array(values.iter().map(|v| cap_strings(v, keep, cut)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), cap_strings(v, keep, cut)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `value` serialised, its longest strings cut (start and end kept around a marker)
/// when it would not fit in `max_bytes`; `None` when even that does not make it fit
/// (the bulk is not in strings).
pub fn fit_json(value: &Value, max_bytes: usize) -> Option<(Box<RawValue>, Option<Truncation>)> {
    let whole = serde_json::value::to_raw_value(value).ok()?;
    if whole.get().len() <= max_bytes {
        return Some((whole, None));
    }
    let mut lengths = Vec::new();
    string_lengths(value, &mut lengths);
    let longest = lengths.iter().copied().max().unwrap_or(0);
    // Escapes (`\n`, `\"`) make a string longer on the wire than in memory: aim lower
    // and try again when the first cut was not enough.
    let mut budget = max_bytes;
    for _ in 0..4 {
        let excess = whole.get().len().saturating_sub(budget);
        if saved_at(&lengths, 0) < excess {
            return None;
        }
        // The most each string may keep while still saving `excess` bytes.
        let (mut low, mut high) = (0, longest);
        while low < high {
            let mid = (low + high).div_ceil(2);
            if saved_at(&lengths, mid) >= excess {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        let mut cut = Truncation {
            cut_bytes: 0,
            strings: 0,
        };
        let capped = cap_strings(value, low, &mut cut);
        let raw = serde_json::value::to_raw_value(&capped).ok()?;
        let len = raw.get().len();
        if len <= max_bytes {
            return Some((raw, Some(cut)));
        }
        budget = budget.saturating_sub(len - max_bytes + MARKER_ROOM);
    }
    None
}

//! Approvals and tool input: codex-manager's routes for command / file-change approvals
//! and `request_user_input` questions (so its SDK's `approvals` and `tool_input` calls work
//! unmodified), Switchboard's own route answering every other kind (permissions, MCP
//! elicitations) and listing them across sessions, the per-session approval policy, and
//! the websocket frames for opened and resolved requests.
//!
//! Ids: an `approvalId` / `requestId` is the bridge's request key (URL-path safe, unique
//! across app-server restarts), the same id the pass-through signal carries as `requestId`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::convert;
use super::error::{ApiError, json_reply};
use super::stream::{Frame, frame};
use super::wire::{
    ApprovalPolicy, ErrorStatus, Issue, NotFoundStatus, OkStatus, PendingStatus, SignalContext,
    SignalSession,
};
use crate::bridge::{
    AnswerOutcome, CallEnd, PendingRequestView, Responder, SessionStatus, SimpleDecision,
};
use crate::protocol::RequestKind;
use crate::util::iso8601_ms;

type ApiResult = Result<Response, ApiError>;

// ---------------------------------------------------------------------------------------
// Wire types

/// A pending command or file-change approval; also the `approval` event's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// What `POST /api/approvals/{approvalId}/decision` takes.
    pub approval_id: String,
    /// `item/commandExecution/requestApproval` or `item/fileChange/requestApproval`.
    pub method: String,
    pub thread_id: String,
    pub turn_id: Option<String>,
    pub item_id: Option<String>,
    pub summary: String,
    /// The request's params as app-server sent them.
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: String,
    pub status: PendingStatus,
    /// Switchboard extra: every decision codex accepts, those it listed first.
    #[schema(value_type = Vec<Object>)]
    pub available_decisions: Vec<Value>,
    /// Switchboard extra: a file change's changes, when its `fileChange` item was seen.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalList {
    pub data: Vec<ApprovalRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionOption {
    pub label: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Question {
    /// The key of this question's entry in `answers`.
    pub id: String,
    pub header: String,
    pub question: String,
    pub options: Option<Vec<QuestionOption>>,
    pub is_other: bool,
    pub is_secret: bool,
}

/// A pending `request_user_input`; also the `tool_user_input_requested` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolInputRecord {
    /// What `POST /api/tool-input/{requestId}/decision` takes.
    pub request_id: String,
    /// `item/tool/requestUserInput`.
    pub method: String,
    pub thread_id: String,
    pub turn_id: Option<String>,
    pub item_id: Option<String>,
    pub summary: String,
    pub questions: Vec<Question>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: String,
    pub status: PendingStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolInputList {
    pub data: Vec<ToolInputRecord>,
}

/// Switchboard's record of any pending request but a tool call (`GET /api/requests`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub request_id: String,
    /// `command_approval`, `file_change_approval`, `permissions_approval`, `user_input`,
    /// `mcp_elicitation` or `legacy_approval`.
    pub kind: String,
    pub method: String,
    pub thread_id: String,
    pub turn_id: Option<String>,
    pub item_id: Option<String>,
    pub summary: String,
    #[schema(value_type = Object)]
    pub details: Value,
    #[schema(value_type = Vec<Object>)]
    pub available_decisions: Vec<Value>,
    pub created_at: String,
    pub status: PendingStatus,
    /// Switchboard: who claimed it (an operator who has it open, a worker), while the
    /// lease runs; only the holder's answer is taken meanwhile.
    #[serde(default)]
    pub claim: Option<super::wire::ClaimView>,
    /// Switchboard: the app-server of the fleet that asked.
    #[serde(default)]
    pub app_server: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestList {
    pub data: Vec<RequestRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Accept,
    Decline,
    Cancel,
}

impl Decision {
    fn simple(self) -> SimpleDecision {
        match self {
            Decision::Accept => SimpleDecision::Accept,
            Decision::Decline => SimpleDecision::Decline,
            Decision::Cancel => SimpleDecision::Cancel,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Turn,
    Session,
}

/// `POST /api/approvals/{approvalId}/decision`. Unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalDecisionRequest {
    pub decision: Decision,
    /// `session` with `accept` is `acceptForSession`; ignored otherwise. Default `turn`.
    pub scope: Option<Scope>,
}

/// `POST /api/tool-input/{requestId}/decision`. Unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolInputDecisionRequest {
    /// `accept` sends `answers` (or none); `decline` and `cancel` send no answers.
    pub decision: Decision,
    /// `{<question id>: {answers: [text]}}`.
    #[schema(value_type = Option<Object>)]
    pub answers: Option<Value>,
    /// With `accept`: the whole result sent to app-server, checked against what codex
    /// parses. Ignored with `decline` / `cancel` (which send no answers).
    #[schema(value_type = Option<Object>)]
    pub response: Option<Value>,
}

/// `POST /api/requests/{requestId}/answer` (Switchboard): a decision, or the raw result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestAnswerRequest {
    pub decision: Option<Decision>,
    pub scope: Option<Scope>,
    /// The whole result app-server gets, checked against the request's kind (e.g. a
    /// permissions grant `{permissions, scope}`, an elicitation `{action, content}`).
    #[schema(value_type = Option<Object>)]
    pub response: Option<Value>,
    /// The answerer's claim (also taken from the `X-Switchboard-Claim` header): a
    /// claimed request takes only its holder's answer.
    #[serde(rename = "claimId")]
    pub claim_id: Option<String>,
}

/// `POST /api/sessions/{sessionId}/approval-policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicyRequest {
    pub approval_policy: ApprovalPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPolicySet {
    pub status: OkStatus,
    pub session_id: String,
    pub approval_policy: ApprovalPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecided {
    pub status: OkStatus,
    pub approval_id: String,
    pub thread_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalNotFound {
    pub status: NotFoundStatus,
    pub approval_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalFailed {
    pub status: ErrorStatus,
    pub approval_id: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestDecided {
    pub status: OkStatus,
    pub request_id: String,
    pub thread_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestNotFound {
    pub status: NotFoundStatus,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestFailed {
    pub status: ErrorStatus,
    pub request_id: String,
    pub message: String,
}

/// The pass-through signal `app_server.request.<normalized method>` for an approval, a
/// question or an elicitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestSignal {
    pub source: String,
    pub signal_type: String,
    pub event_type: String,
    pub method: String,
    pub received_at: String,
    pub context: SignalContext,
    #[schema(value_type = Object)]
    pub params: Value,
    pub session: SignalSession,
    /// The same id as the record's `approvalId` / `requestId`.
    pub request_id: String,
}

/// `approval_resolved` / `tool_user_input_resolved`: `status` `resolved` (with the
/// decision) or `expired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `resolved` or `expired`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Switchboard extra: why it expired, or which policy answered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Records

fn is_approval(kind: RequestKind) -> bool {
    matches!(
        kind,
        RequestKind::CommandApproval
            | RequestKind::FileChangeApproval
            | RequestKind::LegacyApproval
    )
}

pub fn approval_record(request: &PendingRequestView) -> ApprovalRecord {
    ApprovalRecord {
        approval_id: request.request_id.clone(),
        method: request.method.clone(),
        thread_id: request.thread_id.clone(),
        turn_id: request.turn_id.clone(),
        item_id: request.item_id.clone(),
        summary: request.summary.clone(),
        details: request.params.clone(),
        created_at: iso8601_ms(request.received_at_ms),
        status: PendingStatus::Pending,
        available_decisions: request.decisions.clone(),
        changes: request.changes.clone(),
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

/// codex-manager's normalisation: questions without string `id`/`header`/`question`
/// and options without string `label`/`description` are dropped; flags default false.
pub fn questions(params: &Value) -> Vec<Question> {
    let raw = params
        .get("questions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    raw.iter()
        .filter_map(|q| {
            Some(Question {
                id: text(q, "id")?,
                header: text(q, "header")?,
                question: text(q, "question")?,
                options: q.get("options").and_then(Value::as_array).map(|options| {
                    options
                        .iter()
                        .filter_map(|o| {
                            Some(QuestionOption {
                                label: text(o, "label")?,
                                description: text(o, "description")?,
                            })
                        })
                        .collect()
                }),
                is_other: q.get("isOther").and_then(Value::as_bool).unwrap_or(false),
                is_secret: q.get("isSecret").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

pub fn tool_input_record(request: &PendingRequestView) -> ToolInputRecord {
    let questions = questions(&request.params);
    let summary = match questions.len() {
        1 => "Tool input required (1 question)".to_string(),
        n => format!("Tool input required ({n} questions)"),
    };
    ToolInputRecord {
        request_id: request.request_id.clone(),
        method: request.method.clone(),
        thread_id: request.thread_id.clone(),
        turn_id: request.turn_id.clone(),
        item_id: request.item_id.clone(),
        summary,
        questions,
        details: request.params.clone(),
        created_at: iso8601_ms(request.received_at_ms),
        status: PendingStatus::Pending,
    }
}

pub fn request_record(request: &PendingRequestView) -> RequestRecord {
    RequestRecord {
        request_id: request.request_id.clone(),
        kind: request.kind.as_str().to_string(),
        method: request.method.clone(),
        thread_id: request.thread_id.clone(),
        turn_id: request.turn_id.clone(),
        item_id: request.item_id.clone(),
        summary: request.summary.clone(),
        details: request.params.clone(),
        available_decisions: request.decisions.clone(),
        created_at: iso8601_ms(request.received_at_ms),
        status: PendingStatus::Pending,
        claim: request.claim.as_ref().map(convert::claim_view),
        app_server: request.app_server.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Stream frames

pub fn request_signal(request: &PendingRequestView, title: Option<&str>) -> RequestSignal {
    RequestSignal {
        source: "app_server".to_string(),
        signal_type: "request".to_string(),
        event_type: format!(
            "app_server.request.{}",
            convert::normalize_method(&request.method)
        ),
        method: request.method.clone(),
        received_at: iso8601_ms(request.received_at_ms),
        context: SignalContext {
            thread_id: Some(request.thread_id.clone()),
            turn_id: request.turn_id.clone(),
        },
        params: request.params.clone(),
        session: convert::signal_session(&request.thread_id, title),
        request_id: request.request_id.clone(),
    }
}

/// The frames for an opened request, in codex-manager's order: the pass-through signal,
/// then `approval` / `tool_user_input_requested` (the record is already answerable).
pub fn opened_frames(request: &PendingRequestView, titles: &HashMap<String, String>) -> Vec<Frame> {
    let thread = Some(request.thread_id.as_str());
    let title = titles.get(&request.thread_id).map(String::as_str);
    let signal = request_signal(request, title);
    let mut frames = vec![frame(&signal.event_type, thread, &signal, false)];
    if is_approval(request.kind) {
        frames.push(frame("approval", thread, &approval_record(request), false));
    } else if request.kind == RequestKind::UserInput {
        frames.push(frame(
            "tool_user_input_requested",
            thread,
            &tool_input_record(request),
            false,
        ));
    }
    frames
}

/// `approval_resolved` / `tool_user_input_resolved` for an ended request; nothing for
/// the kinds codex-manager has no store for.
pub fn resolved_frames(request: &crate::bridge::ResolvedRequest) -> Vec<Frame> {
    let thread = Some(request.thread_id.as_str());
    let status = match request.status {
        CallEnd::Resolved => "resolved",
        CallEnd::Expired => "expired",
    };
    let answer = request.answer.as_ref();
    let reason = request.reason.clone();
    if is_approval(request.kind) {
        let (decision, scope) = match request.status {
            CallEnd::Expired => (None, None),
            CallEnd::Resolved => {
                let word = answer
                    .and_then(|a| a.get("decision"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let (decision, scope) = match word {
                    "accept" | "approved" => ("accept", "turn"),
                    "acceptForSession" | "approved_for_session" => ("accept", "session"),
                    "cancel" | "abort" => ("cancel", "turn"),
                    w if w.starts_with("accept") => ("accept", "turn"),
                    _ => ("decline", "turn"),
                };
                (Some(decision.to_string()), Some(scope.to_string()))
            }
        };
        let payload = ResolvedPayload {
            approval_id: Some(request.request_id.clone()),
            request_id: None,
            status: status.to_string(),
            decision,
            scope,
            reason,
        };
        vec![frame("approval_resolved", thread, &payload, false)]
    } else if request.kind == RequestKind::UserInput {
        let decision = match request.status {
            CallEnd::Expired => None,
            CallEnd::Resolved => {
                let answered = answer
                    .and_then(|a| a.get("answers"))
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty());
                Some(if answered { "accept" } else { "decline" }.to_string())
            }
        };
        let payload = ResolvedPayload {
            approval_id: None,
            request_id: Some(request.request_id.clone()),
            status: status.to_string(),
            decision,
            scope: None,
            reason,
        };
        vec![frame("tool_user_input_resolved", thread, &payload, false)]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Bodies

fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        issues: vec![Issue {
            code: "invalid_enum_value".to_string(),
            path: if path.is_empty() {
                vec![]
            } else {
                vec![json!(path)]
            },
            message: message.into(),
        }],
    }
}

fn body_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    match super::routes::read_body(body, false)? {
        Value::Object(map) => Ok(map),
        other => Err(invalid(
            "",
            format!("expected a JSON object, got {}", kind_of(&other)),
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn decision_field(map: &Map<String, Value>, required: bool) -> Result<Option<Decision>, ApiError> {
    match map.get("decision") {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(word)) => match word.as_str() {
            "accept" => Ok(Some(Decision::Accept)),
            "decline" => Ok(Some(Decision::Decline)),
            "cancel" => Ok(Some(Decision::Cancel)),
            _ => Err(invalid(
                "decision",
                format!("decision must be one of 'accept', 'decline', 'cancel', got '{word}'"),
            )),
        },
        _ => Err(invalid(
            "decision",
            "decision is required and must be one of 'accept', 'decline', 'cancel'",
        )),
    }
}

fn scope_field(map: &Map<String, Value>) -> Result<Scope, ApiError> {
    match map.get("scope") {
        None | Some(Value::Null) => Ok(Scope::Turn),
        Some(Value::String(word)) if word == "turn" => Ok(Scope::Turn),
        Some(Value::String(word)) if word == "session" => Ok(Scope::Session),
        Some(other) => Err(invalid(
            "scope",
            format!("scope must be 'turn' or 'session', got {other}"),
        )),
    }
}

fn client_name(headers: &HeaderMap) -> Responder {
    let client = headers
        .get(super::routes::CLIENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .map(|v| crate::protocol::truncate_chars(v.trim(), 80).to_string())
        .unwrap_or_else(|| "api client".to_string());
    Responder::Remote { client }
}

// ---------------------------------------------------------------------------------------
// Handlers

/// The session's deleted payload (410) if it is closed; unknown and live sessions pass.
async fn not_deleted(state: &AppState, session_id: &str) -> Result<(), ApiError> {
    let sessions = state
        .bridge
        .sessions()
        .await
        .map_err(ApiError::from_bridge)?;
    match sessions.iter().find(|s| s.thread_id == session_id) {
        Some(summary) if summary.status == SessionStatus::Closed => {
            Err(ApiError::SessionDeleted(convert::deleted_body(summary)))
        }
        _ => Ok(()),
    }
}

async fn pending(
    state: &AppState,
    session_id: Option<&str>,
) -> Result<Vec<PendingRequestView>, ApiError> {
    let requests = state
        .bridge
        .pending_requests(session_id)
        .await
        .map_err(ApiError::from_bridge)?;
    // One whose answer is being written is answered as far as clients are concerned.
    Ok(requests.into_iter().filter(|r| !r.in_flight).collect())
}

async fn find(state: &AppState, id: &str) -> Result<Option<PendingRequestView>, ApiError> {
    Ok(pending(state, None)
        .await?
        .into_iter()
        .find(|r| r.request_id == id))
}

#[utoipa::path(
    get,
    path = "/api/sessions/{sessionId}/approvals",
    tag = "approvals",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "The session's pending approvals, oldest first (empty for an unknown session)", body = ApprovalList),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn session_approvals(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    not_deleted(&state, &session_id).await?;
    let data = pending(&state, Some(&session_id))
        .await?
        .iter()
        .filter(|r| is_approval(r.kind))
        .map(approval_record)
        .collect();
    Ok(json_reply(StatusCode::OK, &ApprovalList { data }))
}

#[utoipa::path(
    get,
    path = "/api/sessions/{sessionId}/tool-input",
    tag = "approvals",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "The session's pending user-input requests, oldest first (empty for an unknown session)", body = ToolInputList),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn session_tool_input(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    not_deleted(&state, &session_id).await?;
    let data = pending(&state, Some(&session_id))
        .await?
        .iter()
        .filter(|r| r.kind == RequestKind::UserInput)
        .map(tool_input_record)
        .collect();
    Ok(json_reply(StatusCode::OK, &ToolInputList { data }))
}

#[utoipa::path(
    get,
    path = "/api/requests",
    tag = "approvals",
    responses((status = 200, description = "Switchboard: pending approvals, questions, permission requests and elicitations of every session, oldest first", body = RequestList))
)]
pub async fn all_requests(State(state): State<AppState>) -> ApiResult {
    let data = pending(&state, None)
        .await?
        .iter()
        .map(request_record)
        .collect();
    Ok(json_reply(StatusCode::OK, &RequestList { data }))
}

/// How a decision route reports an outcome.
enum Reply {
    Ok { thread_id: String },
    NotFound,
    Failed(String),
}

fn reply_of(outcome: AnswerOutcome, request: &PendingRequestView) -> Result<Reply, ApiError> {
    let (request_id, thread_id) = (request.request_id.as_str(), request.thread_id.clone());
    match outcome {
        AnswerOutcome::Claimed { claim } => Err(ApiError::CallClaimed {
            request_id: request_id.to_string(),
            kind: request.kind,
            claim,
        }),
        AnswerOutcome::Accepted => Ok(Reply::Ok { thread_id }),
        // Another decision is being written: this one lost, as a later one would.
        AnswerOutcome::NotFound | AnswerOutcome::InFlight => Ok(Reply::NotFound),
        AnswerOutcome::UpstreamError { message } => Ok(Reply::Failed(message)),
        AnswerOutcome::Invalid { message } => Err(ApiError::Invalid {
            issues: vec![Issue {
                code: "custom".to_string(),
                path: vec![],
                message: format!("{message}; nothing was sent and the request is still pending"),
            }],
        }),
    }
}

#[utoipa::path(
    post,
    path = "/api/approvals/{approvalId}/decision",
    tag = "approvals",
    params(("approvalId" = String, Path, description = "The pending approval's approvalId")),
    request_body = ApprovalDecisionRequest,
    responses(
        (status = 200, description = "Written to app-server; the approval left the list", body = ApprovalDecided),
        (status = 400, description = "Invalid body (checked before the lookup); nothing was sent", body = super::wire::ErrorBody),
        (status = 404, description = "Unknown, already decided, or expired", body = ApprovalNotFound),
        (status = 500, description = "Writing failed; the approval is pending again", body = ApprovalFailed),
    )
)]
pub async fn decide_approval(
    State(state): State<AppState>,
    UrlPath(approval_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let map = body_object(body)?;
    let decision = decision_field(&map, true)?.unwrap_or(Decision::Decline);
    let scope = scope_field(&map)?;
    let not_found = || {
        json_reply(
            StatusCode::NOT_FOUND,
            &ApprovalNotFound {
                status: NotFoundStatus::NotFound,
                approval_id: approval_id.clone(),
            },
        )
    };
    let Some(request) = find(&state, &approval_id)
        .await?
        .filter(|r| is_approval(r.kind))
    else {
        return Ok(not_found());
    };
    let outcome = state
        .bridge
        .decide(
            &approval_id,
            decision.simple(),
            decision == Decision::Accept && scope == Scope::Session,
            client_name(&headers),
        )
        .await
        .map_err(ApiError::from_bridge)?;
    Ok(match reply_of(outcome, &request)? {
        Reply::Ok { thread_id } => json_reply(
            StatusCode::OK,
            &ApprovalDecided {
                status: OkStatus::Ok,
                approval_id: approval_id.clone(),
                thread_id,
            },
        ),
        Reply::NotFound => not_found(),
        Reply::Failed(message) => json_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &ApprovalFailed {
                status: ErrorStatus::Error,
                approval_id: approval_id.clone(),
                message,
            },
        ),
    })
}

fn request_reply(request_id: &str, reply: Reply) -> Response {
    match reply {
        Reply::Ok { thread_id } => json_reply(
            StatusCode::OK,
            &RequestDecided {
                status: OkStatus::Ok,
                request_id: request_id.to_string(),
                thread_id,
            },
        ),
        Reply::NotFound => request_not_found(request_id),
        Reply::Failed(message) => json_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &RequestFailed {
                status: ErrorStatus::Error,
                request_id: request_id.to_string(),
                message,
            },
        ),
    }
}

fn request_not_found(request_id: &str) -> Response {
    json_reply(
        StatusCode::NOT_FOUND,
        &RequestNotFound {
            status: NotFoundStatus::NotFound,
            request_id: request_id.to_string(),
        },
    )
}

#[utoipa::path(
    post,
    path = "/api/tool-input/{requestId}/decision",
    tag = "approvals",
    params(("requestId" = String, Path, description = "The pending user-input request's requestId")),
    request_body = ToolInputDecisionRequest,
    responses(
        (status = 200, description = "Written to app-server; the request left the list", body = RequestDecided),
        (status = 400, description = "Invalid body, or answers codex could not parse; nothing was sent", body = super::wire::ErrorBody),
        (status = 404, description = "Unknown, already answered, or expired", body = RequestNotFound),
        (status = 500, description = "Writing failed; the request is pending again", body = RequestFailed),
    )
)]
pub async fn decide_tool_input(
    State(state): State<AppState>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let map = body_object(body)?;
    let decision = decision_field(&map, true)?.unwrap_or(Decision::Decline);
    let answers = map.get("answers").filter(|v| !v.is_null()).cloned();
    if let Some(answers) = &answers
        && !answers.is_object()
    {
        return Err(invalid(
            "answers",
            "answers must be an object {<question id>: {answers: [text]}}",
        ));
    }
    let response = map.get("response").filter(|v| !v.is_null()).cloned();
    let Some(request) = find(&state, &request_id)
        .await?
        .filter(|r| r.kind == RequestKind::UserInput)
    else {
        return Ok(request_not_found(&request_id));
    };
    let by = client_name(&headers);
    let outcome = match decision {
        // codex-manager sends `{status}` here, which codex reads as no answers: send that.
        Decision::Decline | Decision::Cancel => {
            state
                .bridge
                .answer_request(&request_id, json!({ "answers": {} }), by)
                .await
        }
        Decision::Accept => {
            let result = match (response, answers) {
                (Some(response), _) => response,
                (None, Some(answers)) => json!({ "answers": answers }),
                (None, None) => json!({ "answers": {} }),
            };
            state.bridge.answer_request(&request_id, result, by).await
        }
    }
    .map_err(ApiError::from_bridge)?;
    Ok(request_reply(&request_id, reply_of(outcome, &request)?))
}

#[utoipa::path(
    post,
    path = "/api/requests/{requestId}/answer",
    tag = "approvals",
    params(("requestId" = String, Path, description = "Any pending request's requestId (approval, question, permissions, elicitation)")),
    request_body = RequestAnswerRequest,
    responses(
        (status = 200, description = "Switchboard: written to app-server; the request left the lists", body = RequestDecided),
        (status = 400, description = "Invalid body, or an answer the request's kind does not take; nothing was sent", body = super::wire::ErrorBody),
        (status = 404, description = "Unknown, already answered, or expired", body = RequestNotFound),
        (status = 409, description = "Someone claimed the request (an operator who has it open, a worker) and this answer does not carry its `claimId` (`call_claimed`): nothing was sent", body = super::wire::CallClaimedBody),
        (status = 500, description = "Writing failed; the request is pending again", body = RequestFailed),
    )
)]
pub async fn answer_request(
    State(state): State<AppState>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let map = body_object(body)?;
    let decision = decision_field(&map, false)?;
    let scope = scope_field(&map)?;
    let response = map.get("response").filter(|v| !v.is_null()).cloned();
    if decision.is_none() && response.is_none() {
        return Err(invalid(
            "decision",
            "send a decision ('accept', 'decline', 'cancel') or a response object",
        ));
    }
    let claim_id = match map.get("claimId") {
        None | Some(Value::Null) => {
            super::routes::header_text(&headers, super::routes::CLAIM_HEADER)
        }
        Some(Value::String(id)) if !id.trim().is_empty() => Some(id.trim().to_string()),
        Some(_) => return Err(invalid("claimId", "claimId must be a non-empty string")),
    };
    let Some(request) = find(&state, &request_id).await? else {
        return Ok(request_not_found(&request_id));
    };
    let by = client_name(&headers);
    let outcome = match (response, decision) {
        (Some(response), _) => {
            state
                .bridge
                .answer_request_claimed(&request_id, response, by, claim_id.as_deref())
                .await
        }
        (None, Some(decision)) => {
            state
                .bridge
                .decide_claimed(
                    &request_id,
                    decision.simple(),
                    decision == Decision::Accept && scope == Scope::Session,
                    by,
                    claim_id.as_deref(),
                )
                .await
        }
        (None, None) => return Ok(request_not_found(&request_id)),
    }
    .map_err(ApiError::from_bridge)?;
    Ok(request_reply(&request_id, reply_of(outcome, &request)?))
}

#[utoipa::path(
    post,
    path = "/api/sessions/{sessionId}/approval-policy",
    tag = "approvals",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    request_body = ApprovalPolicyRequest,
    responses(
        (status = 200, description = "Stored: the session's next turns run under it (the running turn is not changed)", body = ApprovalPolicySet),
        (status = 400, description = "Invalid body (checked after the session)", body = super::wire::ErrorBody),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn set_approval_policy(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    super::routes::live_session(&state, &session_id).await?;
    let map = body_object(body)?;
    let policy = match map.get("approvalPolicy") {
        Some(Value::String(word)) => ApprovalPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == word)
            .ok_or_else(|| {
                invalid(
                    "approvalPolicy",
                    format!(
                        "approvalPolicy must be one of 'untrusted', 'on-failure', 'on-request', 'never', got '{word}'"
                    ),
                )
            })?,
        _ => {
            return Err(invalid(
                "approvalPolicy",
                "approvalPolicy is required: 'untrusted', 'on-failure', 'on-request' or 'never'",
            ));
        }
    };
    state.policies.set(&session_id, policy);
    Ok(json_reply(
        StatusCode::OK,
        &ApprovalPolicySet {
            status: OkStatus::Ok,
            session_id,
            approval_policy: policy,
        },
    ))
}

/// What a session created without `approvalPolicy` / `filesystemSandbox` gets
/// (`serve --approval-policy`, `--sandbox`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionDefaults {
    pub approval_policy: Option<ApprovalPolicy>,
    pub sandbox: Option<super::wire::FilesystemSandbox>,
}

/// Approval policies set with the approval-policy route, sent with the session's next
/// message (app-server keeps a turn's policy for the turns after it).
#[derive(Debug, Default)]
pub struct PolicyStore {
    next: std::sync::Mutex<HashMap<String, ApprovalPolicy>>,
}

impl PolicyStore {
    pub fn set(&self, session_id: &str, policy: ApprovalPolicy) {
        if let Ok(mut next) = self.next.lock() {
            next.insert(session_id.to_string(), policy);
        }
    }

    /// The policy to send with this session's next turn, if one was set since the last.
    pub fn take(&self, session_id: &str) -> Option<ApprovalPolicy> {
        self.next.lock().ok()?.remove(session_id)
    }
}

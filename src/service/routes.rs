//! The HTTP routes. Each handler reads its body, checks it completely, then asks the
//! bridge; the replies are the codex-manager shapes of `wire.rs`.

use std::path::{Component, Path, PathBuf};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::convert;
use super::error::{ApiError, error_body, json_reply};
use super::validate::{self, BodyProblem};
use super::wire::{
    AcceptedStatus, CreatedSession, ErrorBody, FilesystemSandbox, Health, Interrupted, Issue,
    MessageAccepted, NetworkAccess, OkStatus, PendingCallList, RespondAccepted, SessionDeleted,
    SessionDetail, SessionList,
};
use crate::appserver::timeline;
use crate::bridge::{
    BridgeError, ClaimOutcome, CreateSession, ReleaseOutcome, RespondOutcome, Responder,
    SessionState, SessionStatus, SessionSummary, TurnOptions,
};

/// Header a client may set to name itself in "answered by remote ..." records.
pub const CLIENT_HEADER: &str = "x-switchboard-client";

/// Header that carries a worker's claim id on the response and release routes.
pub const CLAIM_HEADER: &str = "x-switchboard-claim";

/// The lease of a claim that does not say.
pub const DEFAULT_LEASE_MS: u64 = 30_000;

pub(super) type ApiResult = Result<Response, ApiError>;

fn body_value(
    body: Result<Bytes, BytesRejection>,
    empty_is_object: bool,
) -> Result<Value, ApiError> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "request_failed"
        };
        ApiError::request(status, code, rejection.body_text())
    })?;
    validate::parse_json(&bytes, empty_is_object).map_err(problem)
}

/// The body as JSON (for the approvals routes): 400 if it is not JSON.
pub(super) fn read_body(
    body: Result<Bytes, BytesRejection>,
    empty_is_object: bool,
) -> Result<Value, ApiError> {
    body_value(body, empty_is_object)
}

fn problem(problem: BodyProblem) -> ApiError {
    match problem {
        BodyProblem::NotJson(message) => {
            ApiError::request(StatusCode::BAD_REQUEST, "request_failed", message)
        }
        BodyProblem::Invalid(issues) => ApiError::Invalid { issues },
    }
}

fn bridge_error(error: BridgeError) -> ApiError {
    ApiError::from_bridge(error)
}

/// A session the API may act on: 404 if unknown, 410 (deleted payload) if closed.
pub(super) async fn live_session(
    state: &AppState,
    session_id: &str,
) -> Result<SessionSummary, ApiError> {
    // One lookup by id; a closed session is found even after it left memory.
    let summary = state
        .bridge
        .session_summary(session_id)
        .await
        .map_err(bridge_error)?
        .ok_or_else(|| ApiError::SessionNotFound {
            session_id: session_id.to_string(),
        })?;
    if summary.status == SessionStatus::Closed {
        return Err(ApiError::SessionDeleted(convert::deleted_body(&summary)));
    }
    Ok(summary)
}

/// Maps a bridge error about one session, with the deleted payload for a closed one.
pub(super) async fn session_error(
    state: &AppState,
    session_id: &str,
    error: BridgeError,
) -> ApiError {
    match error {
        BridgeError::SessionClosed { .. } => match live_session(state, session_id).await {
            Err(e) => e,
            Ok(_) => ApiError::from_bridge(error),
        },
        other => ApiError::from_bridge(other),
    }
}

/// `cwd` as given, made absolute against the server's folder; `.` is that folder.
pub fn resolve_cwd(base: &Path, cwd: Option<&str>) -> String {
    let path = match cwd {
        Some(cwd) if Path::new(cwd).is_absolute() => PathBuf::from(cwd),
        Some(cwd) => base.join(cwd),
        None => base.to_path_buf(),
    };
    let cleaned: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    cleaned.display().to_string()
}

fn sandbox_policy(filesystem: FilesystemSandbox, network: Option<NetworkAccess>) -> Value {
    match (filesystem, network) {
        (FilesystemSandbox::DangerFullAccess, _) | (_, None) => {
            json!({ "type": filesystem.policy_type() })
        }
        (_, Some(network)) => json!({
            "type": filesystem.policy_type(),
            "networkAccess": network == NetworkAccess::Enabled,
        }),
    }
}

/// The filesystem part of a session's current sandbox policy.
fn current_filesystem(policy: Option<&Value>) -> FilesystemSandbox {
    match policy.and_then(|p| p.get("type")).and_then(Value::as_str) {
        Some("readOnly") => FilesystemSandbox::ReadOnly,
        Some("workspaceWrite") => FilesystemSandbox::WorkspaceWrite,
        _ => FilesystemSandbox::DangerFullAccess,
    }
}

#[utoipa::path(
    post,
    path = "/api/sessions",
    tag = "sessions",
    request_body = super::wire::CreateSessionRequest,
    responses(
        (status = 200, description = "The session was created", body = CreatedSession),
        (status = 400, description = "Invalid body, or app-server refused the options", body = ErrorBody),
        (status = 503, description = "app-server is not available", body = ErrorBody),
    )
)]
pub async fn create_session(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let request = validate::create_session(body_value(body, true)?).map_err(problem)?;
    let options = CreateSession {
        // Only when asked: else the app-server's configured cwd applies, or codex's
        // own (its process's folder), which for one on another machine is the only
        // one that exists there.
        cwd: request
            .cwd
            .as_deref()
            .map(|cwd| resolve_cwd(&state.base_dir, Some(cwd))),
        model: request.model,
        approval_policy: request
            .approval_policy
            .or(state.session_defaults.approval_policy)
            .map(|p| p.codex_value().to_string()),
        sandbox: request
            .filesystem_sandbox
            .or(state.session_defaults.sandbox)
            .map(|s| s.as_str().to_string()),
        tools: request
            .dynamic_tools
            .map(|tools| tools.into_iter().map(validate::tool_spec).collect()),
        network_access: request.network_access.map(|n| n == NetworkAccess::Enabled),
        app_server: request.app_server,
    };
    let summary = state
        .bridge
        .create_session(options)
        .await
        .map_err(bridge_error)?;
    let detail = detail(&state, &summary.thread_id).await?;
    Ok(json_reply(
        StatusCode::OK,
        &CreatedSession {
            session: detail.session,
            thread: detail.thread,
        },
    ))
}

#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "sessions",
    responses((status = 200, description = "Open sessions, oldest first", body = SessionList))
)]
pub async fn list_sessions(State(state): State<AppState>) -> ApiResult {
    let sessions = state.bridge.sessions().await.map_err(bridge_error)?;
    let mut data = Vec::new();
    for summary in sessions
        .iter()
        .filter(|s| s.status != SessionStatus::Closed)
    {
        let setup = state
            .bridge
            .session_setup(&summary.thread_id)
            .await
            .map_err(bridge_error)?;
        data.push(convert::session_info(summary, setup.as_ref()));
    }
    Ok(json_reply(StatusCode::OK, &SessionList { data }))
}

pub(super) async fn detail(state: &AppState, session_id: &str) -> Result<SessionDetail, ApiError> {
    // One snapshot for turns and transcript: a terminal turn always comes with its reply.
    // A closed session is answered from its summary: no transcript is read for a 410.
    let snapshot = match state
        .bridge
        .session_state(session_id)
        .await
        .map_err(bridge_error)?
    {
        Some(SessionState::Live(snapshot)) => snapshot,
        Some(SessionState::Closed(summary)) => {
            return Err(ApiError::SessionDeleted(convert::deleted_body(&summary)));
        }
        None => {
            return Err(ApiError::SessionNotFound {
                session_id: session_id.to_string(),
            });
        }
    };
    let setup = state
        .bridge
        .session_setup(session_id)
        .await
        .map_err(bridge_error)?;
    Ok(SessionDetail {
        session: convert::session_info(&snapshot.summary, setup.as_ref()),
        thread: convert::thread_view(&snapshot),
        transcript: convert::transcript(&snapshot),
    })
}

#[utoipa::path(
    get,
    path = "/api/sessions/{sessionId}",
    tag = "sessions",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "The session with its turns and transcript", body = SessionDetail),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn get_session(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    let detail = detail(&state, &session_id).await?;
    Ok(json_reply(StatusCode::OK, &detail))
}

#[utoipa::path(
    delete,
    path = "/api/sessions/{sessionId}",
    tag = "sessions",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "Closed: its pending calls expired; later requests get 410", body = SessionDeleted),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 410, description = "Already deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn delete_session(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    let summary = live_session(&state, &session_id).await?;
    if let Err(e) = state.bridge.close_session(&session_id).await {
        return Err(session_error(&state, &session_id, e).await);
    }
    Ok(json_reply(
        StatusCode::OK,
        &SessionDeleted {
            status: OkStatus::Ok,
            session_id,
            title: summary.title,
            deleted_file_count: 0,
        },
    ))
}

#[utoipa::path(
    post,
    path = "/api/sessions/{sessionId}/messages",
    tag = "sessions",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    request_body = super::wire::SendMessageRequest,
    responses(
        (status = 202, description = "The turn started; it runs on", body = MessageAccepted),
        (status = 400, description = "Invalid body, different tools, or refused by app-server", body = ErrorBody),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn send_message(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    timeline::mark("api.message.read");
    let request = validate::send_message(body_value(body, false)?).map_err(problem)?;
    live_session(&state, &session_id).await?;
    let setup = state
        .bridge
        .session_setup(&session_id)
        .await
        .map_err(bridge_error)?
        .ok_or_else(|| ApiError::SessionNotFound {
            session_id: session_id.clone(),
        })?;
    if let Some(tools) = request.dynamic_tools {
        let sent: Vec<_> = tools.into_iter().map(validate::tool_spec).collect();
        if !validate::same_tools(&setup.tools, &sent) {
            let declared: Vec<_> = setup.tools.iter().map(|t| t.name.as_str()).collect();
            return Err(ApiError::Invalid {
                issues: vec![Issue {
                    code: "custom".to_string(),
                    path: vec![json!("dynamicTools")],
                    message: format!(
                        "a session's tools are fixed when it is created; this one declares [{}]. Send the same dynamicTools or none, or create a new session",
                        declared.join(", ")
                    ),
                }],
            });
        }
    }
    let sandbox = match (request.filesystem_sandbox, request.network_access) {
        (None, None) => None,
        (Some(filesystem), network) => Some(sandbox_policy(filesystem, network)),
        (None, network) => Some(sandbox_policy(
            current_filesystem(setup.settings.sandbox.as_ref()),
            network,
        )),
    };
    let options = TurnOptions {
        model: request.model,
        effort: request.effort.map(|e| e.as_str().to_string()),
        // A policy set with the approval-policy route goes with the next turn; one given
        // here replaces it (app-server keeps it for later turns either way).
        approval_policy: request
            .approval_policy
            .or(state.policies.take(&session_id))
            .map(|p| p.codex_value().to_string()),
        sandbox_policy: sandbox,
    };
    match state
        .bridge
        .send_message_with(&session_id, &request.text, options)
        .await
    {
        Ok(turn_id) => Ok(timeline::marked(
            "api.message.replied",
            json_reply(
                StatusCode::ACCEPTED,
                &MessageAccepted {
                    status: AcceptedStatus::Accepted,
                    session_id,
                    turn_id,
                },
            ),
        )),
        Err(e) => Err(session_error(&state, &session_id, e).await),
    }
}

#[utoipa::path(
    post,
    path = "/api/sessions/{sessionId}/interrupt",
    tag = "sessions",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "The running turn was interrupted; its pending calls expire", body = Interrupted),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 409, description = "No turn is running", body = super::wire::NoActiveTurnBody),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn interrupt(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    match state.bridge.interrupt(&session_id).await {
        Ok(turn_id) => Ok(json_reply(
            StatusCode::OK,
            &Interrupted {
                status: OkStatus::Ok,
                session_id,
                turn_id,
            },
        )),
        Err(e) => Err(session_error(&state, &session_id, e).await),
    }
}

#[utoipa::path(
    post,
    path = "/api/sessions/{sessionId}/resume",
    tag = "sessions",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "Attached to app-server again (`thread/resume`); the calls app-server still waits on are listed again under their old ids. Resuming an attached session changes nothing", body = SessionDetail),
        (status = 400, description = "app-server refused to resume the thread (it keeps no record of a thread before its first turn)", body = ErrorBody),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn resume_session(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    live_session(&state, &session_id).await?;
    if let Err(e) = state.bridge.resume_session(&session_id).await {
        return Err(session_error(&state, &session_id, e).await);
    }
    let detail = detail(&state, &session_id).await?;
    Ok(json_reply(StatusCode::OK, &detail))
}

async fn pending(state: &AppState, session_id: Option<&str>) -> ApiResult {
    let calls = state
        .bridge
        .pending_calls(session_id)
        .await
        .map_err(bridge_error)?;
    // A call whose answer is being written is answered as far as clients are concerned:
    // listing it would make the SDK run its handler again.
    let data = calls
        .iter()
        .filter(|c| !c.in_flight)
        .map(convert::pending_record)
        .collect();
    Ok(json_reply(StatusCode::OK, &PendingCallList { data }))
}

#[utoipa::path(
    get,
    path = "/api/sessions/{sessionId}/tool-calls",
    tag = "tool-calls",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "The session's pending calls, oldest first", body = PendingCallList),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn session_tool_calls(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    live_session(&state, &session_id).await?;
    pending(&state, Some(&session_id)).await
}

#[utoipa::path(
    get,
    path = "/api/tool-calls",
    tag = "tool-calls",
    responses((status = 200, description = "Pending calls of every session, oldest first", body = PendingCallList))
)]
pub async fn all_tool_calls(State(state): State<AppState>) -> ApiResult {
    pending(&state, None).await
}

#[utoipa::path(
    post,
    path = "/api/tool-calls/{requestId}/response",
    tag = "tool-calls",
    params(("requestId" = String, Path, description = "The pending call's requestId")),
    request_body = super::wire::RespondRequest,
    responses(
        (status = 200, description = "Written to app-server; the call left the pending list", body = RespondAccepted),
        (status = 400, description = "Invalid body (checked before the lookup); the call stays pending", body = ErrorBody),
        (status = 404, description = "Unknown, already answered, or expired", body = super::wire::CallNotFoundBody),
        (status = 409, description = "Another answer is being written right now (`in_flight`), or a worker claimed the call and this answer does not carry its `claimId` (`call_claimed`, CallClaimedBody)", body = super::wire::CallInFlightBody),
        (status = 500, description = "Writing failed; the call is pending again", body = super::wire::RespondFailedBody),
    )
)]
pub async fn respond(
    State(state): State<AppState>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    timeline::mark("api.respond.read");
    let value = body_value(body, false)?;
    let claim_id = match validate::respond_claim_id(&value).map_err(problem)? {
        Some(id) => Some(id),
        None => header_text(&headers, CLAIM_HEADER),
    };
    let result = validate::respond(value).map_err(problem)?;
    let calls = state
        .bridge
        .pending_calls(None)
        .await
        .map_err(bridge_error)?;
    let Some(call) = calls.into_iter().find(|c| c.request_id == request_id) else {
        return Err(ApiError::CallNotFound { request_id });
    };
    let client = client_name(&headers);
    let outcome = state
        .bridge
        .respond_claimed(
            &request_id,
            result,
            Responder::Remote { client },
            claim_id.as_deref(),
        )
        .await
        .map_err(bridge_error)?;
    match outcome {
        RespondOutcome::Accepted => Ok(timeline::marked(
            "api.respond.replied",
            json_reply(
                StatusCode::OK,
                &RespondAccepted {
                    status: OkStatus::Ok,
                    request_id,
                    thread_id: call.thread_id,
                },
            ),
        )),
        RespondOutcome::NotFound => Err(ApiError::CallNotFound { request_id }),
        RespondOutcome::InFlight => Err(ApiError::CallInFlight { request_id }),
        RespondOutcome::Claimed { claim } => Err(ApiError::CallClaimed { request_id, claim }),
        RespondOutcome::UpstreamError { message } => Err(ApiError::AnswerNotWritten {
            request_id,
            message,
        }),
    }
}

/// A header's text, trimmed and at most 80 characters; `None` when absent or blank.
pub(super) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .map(|v| crate::protocol::truncate_chars(v.trim(), 80).to_string())
}

/// Who a client says it is (`X-Switchboard-Client`), for "answered by remote ...".
fn client_name(headers: &HeaderMap) -> String {
    header_text(headers, CLIENT_HEADER).unwrap_or_else(|| "api client".to_string())
}

#[utoipa::path(
    post,
    path = "/api/tool-calls/{requestId}/claim",
    tag = "tool-calls",
    params(("requestId" = String, Path, description = "The pending call's requestId")),
    request_body = super::wire::ClaimRequest,
    responses(
        (status = 200, description = "Claimed (or, with the caller's `claimId`, renewed; with `takeover`, taken over from its holder): until `leaseExpiresAtMs` only the holder answers the call, with its `claimId`. A lease that runs out frees the call for the next worker (`tool_call_released` with reason `expired`)", body = super::wire::ClaimGranted),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "Unknown, already answered, or expired", body = super::wire::CallNotFoundBody),
        (status = 409, description = "Another worker holds it (`call_claimed`), or its answer is being written (`in_flight`, CallInFlightBody), or the server's own handler answers it (`not_claimable`, ErrorBody)", body = super::wire::CallClaimedBody),
    )
)]
pub async fn claim_call(
    State(state): State<AppState>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    claim_any(&state, request_id, &headers, body).await
}

#[utoipa::path(
    post,
    path = "/api/requests/{requestId}/claim",
    tag = "approvals",
    params(("requestId" = String, Path, description = "Any pending request's requestId (tool call, approval, question, permissions, elicitation)")),
    request_body = super::wire::ClaimRequest,
    responses(
        (status = 200, description = "Switchboard: claimed (or, with the caller's `claimId`, renewed; with `takeover`, taken over from its holder): until `leaseExpiresAtMs` only the holder answers the request, with its `claimId` (`/api/requests/{requestId}/answer`). A lease that runs out frees it (`request_released` with reason `expired`)", body = super::wire::ClaimGranted),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "Unknown, already answered, or expired", body = super::wire::CallNotFoundBody),
        (status = 409, description = "Someone else holds it (`call_claimed`: take it over with `takeover`), or its answer is being written (`in_flight`, CallInFlightBody), or a rule or handler of the server answers it (`not_claimable`, ErrorBody)", body = super::wire::CallClaimedBody),
    )
)]
pub async fn claim_request(
    State(state): State<AppState>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    claim_any(&state, request_id, &headers, body).await
}

/// Both claim routes: every kind of request is claimed the same way.
async fn claim_any(
    state: &AppState,
    request_id: String,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let request = validate::claim(body_value(body, true)?).map_err(problem)?;
    let holder = request
        .holder
        .or(request.worker)
        .map(|w| crate::protocol::truncate_chars(w.trim(), 80).to_string())
        .unwrap_or_else(|| client_name(headers));
    let lease = std::time::Duration::from_millis(request.lease_ms.unwrap_or(DEFAULT_LEASE_MS));
    let outcome = state
        .bridge
        .claim_request(
            &request_id,
            crate::bridge::ClaimAsk {
                holder,
                lease,
                claim_id: request.claim_id,
                takeover: request.takeover.unwrap_or(false),
            },
        )
        .await
        .map_err(bridge_error)?;
    match outcome {
        ClaimOutcome::Claimed {
            claim,
            thread_id,
            renewed,
            replaced,
        } => Ok(json_reply(
            StatusCode::OK,
            &super::wire::ClaimGranted {
                status: super::wire::ClaimedStatus::Claimed,
                request_id,
                thread_id,
                claim_id: claim.claim_id,
                holder: claim.holder,
                lease_expires_at_ms: claim.lease_expires_at_ms,
                renewed,
                replaced: replaced.as_ref().map(convert::claim_view),
            },
        )),
        ClaimOutcome::Held { claim } => Err(ApiError::CallClaimed { request_id, claim }),
        ClaimOutcome::NotFound => Err(ApiError::CallNotFound { request_id }),
        ClaimOutcome::InFlight => Err(ApiError::CallInFlight { request_id }),
        ClaimOutcome::NotClaimable { message } => Err(ApiError::request(
            StatusCode::CONFLICT,
            "not_claimable",
            message,
        )),
    }
}

#[utoipa::path(
    delete,
    path = "/api/tool-calls/{requestId}/claim",
    tag = "tool-calls",
    params(("requestId" = String, Path, description = "The pending call's requestId")),
    request_body = super::wire::ReleaseRequest,
    responses(
        (status = 200, description = "Released (`released`), or nobody held it any more (`not_claimed`): anyone may claim or answer the call", body = super::wire::ClaimReleased),
        (status = 400, description = "Invalid body, or no `claimId` in the body or the `X-Switchboard-Claim` header", body = ErrorBody),
        (status = 404, description = "Unknown, already answered, or expired", body = super::wire::CallNotFoundBody),
        (status = 409, description = "Another worker holds it: only the holder releases it", body = super::wire::CallClaimedBody),
    )
)]
pub async fn release_claim(
    State(state): State<AppState>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    release_any(&state, request_id, &headers, body).await
}

#[utoipa::path(
    delete,
    path = "/api/requests/{requestId}/claim",
    tag = "approvals",
    params(("requestId" = String, Path, description = "Any pending request's requestId")),
    request_body = super::wire::ReleaseRequest,
    responses(
        (status = 200, description = "Switchboard: released (`released`), or nobody held it any more (`not_claimed`): anyone may claim or answer the request", body = super::wire::ClaimReleased),
        (status = 400, description = "Invalid body, or no `claimId` in the body or the `X-Switchboard-Claim` header", body = ErrorBody),
        (status = 404, description = "Unknown, already answered, or expired", body = super::wire::CallNotFoundBody),
        (status = 409, description = "Someone else holds it: only the holder releases it", body = super::wire::CallClaimedBody),
    )
)]
pub async fn release_request_claim(
    State(state): State<AppState>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    release_any(&state, request_id, &headers, body).await
}

async fn release_any(
    state: &AppState,
    request_id: String,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let request = validate::release(body_value(body, true)?).map_err(problem)?;
    let Some(claim_id) = request
        .claim_id
        .or_else(|| header_text(headers, CLAIM_HEADER))
    else {
        return Err(ApiError::Invalid {
            issues: vec![Issue {
                code: "invalid_type".to_string(),
                path: vec![json!("claimId")],
                message: "claimId is required (in the body or the X-Switchboard-Claim header): only the holder releases a claim".to_string(),
            }],
        });
    };
    let outcome = state
        .bridge
        .release_claim(&request_id, &claim_id)
        .await
        .map_err(bridge_error)?;
    let status = match outcome {
        ReleaseOutcome::Released { .. } => super::wire::ReleasedStatus::Released,
        ReleaseOutcome::NotClaimed => super::wire::ReleasedStatus::NotClaimed,
        ReleaseOutcome::Held { claim } => {
            return Err(ApiError::CallClaimed { request_id, claim });
        }
        ReleaseOutcome::NotFound => return Err(ApiError::CallNotFound { request_id }),
    };
    Ok(json_reply(
        StatusCode::OK,
        &super::wire::ClaimReleased { status, request_id },
    ))
}

/// A connection state in one word, as health says it.
fn connection_word(state: &crate::bridge::ConnectionState) -> &'static str {
    use crate::bridge::ConnectionState;
    match state {
        ConnectionState::Connected { .. } => "connected",
        ConnectionState::Reconnecting { .. } => "reconnecting",
        ConnectionState::Connecting => "connecting",
        ConnectionState::Disconnected { .. } => "disconnected",
    }
}

#[utoipa::path(
    get,
    path = "/api/health",
    tag = "service",
    responses(
        (status = 200, description = "Connected to app-server (`ok`, or `degraded` with a reason)", body = Health),
        (status = 503, description = "app-server is gone", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> ApiResult {
    let status = state.bridge.status().await.map_err(bridge_error)?;
    let catalog = state.bridge.catalog_status().await.map_err(bridge_error)?;
    use crate::bridge::ConnectionState;
    // With several app-servers: up while any is connected, degraded while some is not.
    let down: Vec<String> = status
        .app_servers
        .iter()
        .filter(|a| !matches!(a.connection, ConnectionState::Connected { .. }))
        .map(|a| {
            format!(
                "app-server {} is {}",
                a.name,
                connection_word(&a.connection)
            )
        })
        .collect();
    let any_up = status
        .app_servers
        .iter()
        .any(|a| matches!(a.connection, ConnectionState::Connected { .. }));
    let fleet_reason =
        (status.app_servers.len() > 1 && any_up && !down.is_empty()).then(|| down.join("; "));
    let (connected, word) = match &status.connection {
        _ if fleet_reason.is_some() => (true, "ok"),
        ConnectionState::Connected { .. } => (true, "ok"),
        // Still unavailable, but on its way back: a monitor can tell the two apart.
        ConnectionState::Reconnecting { .. } => (false, "reconnecting"),
        ConnectionState::Connecting | ConnectionState::Disconnected { .. } => {
            (false, "disconnected")
        }
    };
    // Up, but some transcript is not reaching the disk: 200, `degraded`, and why.
    // So is a catalog whose last reload failed: the server answers with the older one.
    let degraded = fleet_reason
        .or_else(|| crate::bridge::transcript::degraded_reason(&status.not_persisted))
        .or_else(|| super::catalog::degraded_reason(&catalog))
        .filter(|_| connected);
    let word = if degraded.is_some() { "degraded" } else { word };
    let body = Health {
        status: word.to_string(),
        reason: degraded,
        version: env!("CARGO_PKG_VERSION").to_string(),
        transport: status.transport.clone(),
        connection: serde_json::to_value(&status.connection).unwrap_or(Value::Null),
        totals: serde_json::to_value(&status.totals).unwrap_or(Value::Null),
        app_servers: status
            .app_servers
            .iter()
            .map(|a| serde_json::to_value(a).unwrap_or(Value::Null))
            .collect(),
        catalog: Some(super::catalog::info(&catalog)),
    };
    let code = if connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_reply(code, &body))
}

#[utoipa::path(
    get,
    path = "/api/catalog/stats",
    tag = "service",
    responses((status = 200, description = "Per-tool statistics since Switchboard started", body = super::wire::CatalogStats))
)]
pub async fn catalog_stats(State(state): State<AppState>) -> ApiResult {
    let tools = state.bridge.tool_stats().await.map_err(bridge_error)?;
    let body = super::wire::CatalogStats {
        tools: tools.into_iter().map(Into::into).collect(),
    };
    Ok(json_reply(StatusCode::OK, &body))
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "service",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn openapi() -> Response {
    json_reply(StatusCode::OK, super::openapi::document())
}

pub async fn no_route(method: Method, uri: Uri) -> Response {
    json_reply(
        StatusCode::NOT_FOUND,
        &error_body("not_found", format!("no route for {method} {}", uri.path())),
    )
}

pub async fn wrong_method(method: Method, uri: Uri) -> Response {
    json_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        &error_body(
            "method_not_allowed",
            format!("{} does not take {method}", uri.path()),
        ),
    )
}

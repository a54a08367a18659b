//! Threads other clients run on a shared app-server: the loaded threads, watching one,
//! detaching, and a watched session's auto-answer switch.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, json_reply};
use super::routes::{ApiResult, detail, live_session, session_error};
use super::wire::{Issue, OkStatus};
use crate::bridge::LoadedThread;

/// A thread app-server has loaded, whoever runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadedThreadRecord {
    pub thread_id: String,
    /// app-server's status: idle, active, systemError or notLoaded (unknown when the
    /// thread could not be read).
    pub status: String,
    /// What an active thread waits on: waitingOnApproval, waitingOnUserInput.
    pub active_flags: Vec<String>,
    pub name: Option<String>,
    pub preview: String,
    pub cwd: Option<String>,
    /// The client that started the thread (its `clientInfo.name`), when recorded.
    pub originator: Option<String>,
    /// app-server's session source (vscode, cli, exec, appServer, ..).
    pub source: Option<String>,
    /// Started by a Switchboard.
    pub started_by_switchboard: bool,
    /// How this server has it as a session: started, resumed or watched; null when it
    /// has none (watch it with `POST /api/threads/{threadId}/watch`).
    pub session: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoadedThreadList {
    pub data: Vec<LoadedThreadRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Detached {
    pub status: OkStatus,
    pub session_id: String,
}

/// `{"enabled": true|false}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AutoAnswerRequest {
    pub enabled: bool,
}

fn record(thread: LoadedThread) -> LoadedThreadRecord {
    LoadedThreadRecord {
        thread_id: thread.thread_id,
        status: thread.status,
        active_flags: thread.active_flags,
        name: thread.name,
        preview: thread.preview,
        cwd: thread.cwd,
        originator: thread.originator,
        source: thread.source,
        started_by_switchboard: thread.started_by_switchboard,
        session: thread.session.map(|o| o.as_str().to_string()),
    }
}

#[utoipa::path(
    get,
    path = "/api/threads/loaded",
    tag = "sessions",
    responses(
        (status = 200, description = "The threads app-server has loaded, of every client (`thread/loaded/list`, `thread/read`): status, who started them, and this server's session for each", body = LoadedThreadList),
        (status = 503, description = "app-server is not connected", body = super::wire::ErrorBody),
    )
)]
pub async fn loaded_threads(State(state): State<AppState>) -> ApiResult {
    let threads = state
        .bridge
        .loaded_threads()
        .await
        .map_err(ApiError::from_bridge)?;
    let data = threads.into_iter().map(record).collect();
    Ok(json_reply(StatusCode::OK, &LoadedThreadList { data }))
}

#[utoipa::path(
    post,
    path = "/api/threads/{threadId}/watch",
    tag = "sessions",
    params(("threadId" = String, Path, description = "The codex thread id, as `GET /api/threads/loaded` lists it")),
    responses(
        (status = 200, description = "Attached (`thread/resume`) as a watched session: its items and pending requests reach this server, which answers none automatically (see auto-answer). Watching a watched thread gives its session", body = super::wire::SessionDetail),
        (status = 400, description = "app-server refused to resume the thread (no such thread, or one before its first turn)", body = super::wire::ErrorBody),
        (status = 409, description = "The thread is already one of this server's own sessions", body = super::wire::ErrorBody),
    )
)]
pub async fn watch_thread(
    State(state): State<AppState>,
    UrlPath(thread_id): UrlPath<String>,
) -> ApiResult {
    if let Err(e) = state.bridge.watch_thread(&thread_id).await {
        return Err(session_error(&state, &thread_id, e).await);
    }
    let detail = detail(&state, &thread_id).await?;
    Ok(json_reply(StatusCode::OK, &detail))
}

#[utoipa::path(
    post,
    path = "/api/sessions/{sessionId}/detach",
    tag = "sessions",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    responses(
        (status = 200, description = "Stopped watching (`thread/unsubscribe`): its pending requests expired here (the client that runs the thread still answers them) and the session is closed", body = Detached),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 409, description = "Not a watched session: Switchboard's own sessions are deleted instead", body = super::wire::ErrorBody),
        (status = 410, description = "The session was deleted (or detached already)", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn detach(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
) -> ApiResult {
    live_session(&state, &session_id).await?;
    if let Err(e) = state.bridge.detach(&session_id).await {
        return Err(session_error(&state, &session_id, e).await);
    }
    Ok(json_reply(
        StatusCode::OK,
        &Detached {
            status: OkStatus::Ok,
            session_id,
        },
    ))
}

#[utoipa::path(
    post,
    path = "/api/sessions/{sessionId}/auto-answer",
    tag = "sessions",
    params(("sessionId" = String, Path, description = "The session (codex thread) id")),
    request_body = AutoAnswerRequest,
    responses(
        (status = 200, description = "Set, from the watched session's next request on: enabled, its requests go to the catalog's handlers, approval rules and request policy like this server's own; disabled (the default), a person or a client answers each", body = super::wire::SessionDetail),
        (status = 400, description = "Invalid body (checked after the session)", body = super::wire::ErrorBody),
        (status = 404, description = "No such session", body = super::wire::SessionNotFoundBody),
        (status = 409, description = "Not a watched session", body = super::wire::ErrorBody),
        (status = 410, description = "The session was deleted", body = super::wire::DeletedSessionBody),
    )
)]
pub async fn auto_answer(
    State(state): State<AppState>,
    UrlPath(session_id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    live_session(&state, &session_id).await?;
    let enabled = match super::routes::read_body(body, false)? {
        Value::Object(map) => match map.get("enabled") {
            Some(Value::Bool(on)) => *on,
            _ => return Err(invalid("enabled is required: true or false")),
        },
        _ => return Err(invalid("expected a JSON object: {\"enabled\": true|false}")),
    };
    if let Err(e) = state.bridge.set_auto_answer(&session_id, enabled).await {
        return Err(session_error(&state, &session_id, e).await);
    }
    let detail = detail(&state, &session_id).await?;
    Ok(json_reply(StatusCode::OK, &detail))
}

fn invalid(message: &str) -> ApiError {
    ApiError::Invalid {
        issues: vec![Issue {
            code: "invalid_type".to_string(),
            path: vec![json!("enabled")],
            message: message.to_string(),
        }],
    }
}

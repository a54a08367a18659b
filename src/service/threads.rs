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
    /// Switchboard: the app-server of the fleet that has it loaded (watch it there).
    pub app_server: String,
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
    /// Every app-server's, in fleet order.
    pub data: Vec<LoadedThreadRecord>,
    /// Switchboard: the app-servers that could not list theirs (down, or they
    /// failed), so their threads are missing from `data`.
    pub unreachable: Vec<UnreachableRecord>,
}

/// An app-server that could not list its loaded threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreachableRecord {
    pub app_server: String,
    pub reason: String,
}

/// `POST /api/threads/{threadId}/watch`'s optional body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WatchRequest {
    /// The app-server that has the thread loaded, by name, as `GET /api/threads/loaded`
    /// lists it. Without it: the one that has it loaded; needed when several have.
    pub app_server: Option<String>,
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
        app_server: thread.app_server,
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
        (status = 200, description = "The threads every app-server has loaded, of every client (`thread/loaded/list`, `thread/read`): its app-server, status, who started them, and this server's session for each; the app-servers that could not answer are listed in `unreachable`", body = LoadedThreadList),
        (status = 503, description = "No app-server is connected", body = super::wire::ErrorBody),
    )
)]
pub async fn loaded_threads(State(state): State<AppState>) -> ApiResult {
    let loaded = state
        .bridge
        .loaded_threads_of_fleet()
        .await
        .map_err(ApiError::from_bridge)?;
    let data = loaded.threads.into_iter().map(record).collect();
    let unreachable = loaded
        .unreachable
        .into_iter()
        .map(|u| UnreachableRecord {
            app_server: u.app_server,
            reason: u.reason,
        })
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        &LoadedThreadList { data, unreachable },
    ))
}

#[utoipa::path(
    post,
    path = "/api/threads/{threadId}/watch",
    tag = "sessions",
    params(("threadId" = String, Path, description = "The codex thread id, as `GET /api/threads/loaded` lists it")),
    request_body(content = Option<WatchRequest>, description = "Optional: `{\"appServer\": NAME}`"),
    responses(
        (status = 200, description = "Attached (`thread/resume`) as a watched session: its items and pending requests reach this server, which answers none automatically (see auto-answer). Watching a watched thread gives its session", body = super::wire::SessionDetail),
        (status = 400, description = "app-server refused to resume the thread (no such thread, or one before its first turn); an unknown `appServer` (`unknown_app_server`); a thread loaded on several app-servers without `appServer` (`app_server_required`)", body = super::wire::ErrorBody),
        (status = 404, description = "With several app-servers and no `appServer`: none has the thread loaded (`thread_not_loaded`)", body = super::wire::ErrorBody),
        (status = 409, description = "The thread is already one of this server's own sessions", body = super::wire::ErrorBody),
    )
)]
pub async fn watch_thread(
    State(state): State<AppState>,
    UrlPath(thread_id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let app_server = match super::routes::read_body(body, true)? {
        Value::Null => None,
        Value::Object(map) => match map.get("appServer") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if !name.trim().is_empty() => Some(name.clone()),
            Some(_) => {
                return Err(invalid_at(
                    "appServer",
                    "appServer must be the name of an app-server (GET /api/health lists them)",
                ));
            }
        },
        _ => {
            return Err(invalid_at(
                "",
                "expected a JSON object: {\"appServer\": NAME}, or no body",
            ));
        }
    };
    if let Err(e) = state
        .bridge
        .watch_thread_on(&thread_id, app_server.as_deref())
        .await
    {
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
    invalid_at("enabled", message)
}

/// A bad body: `key` is the field at fault (empty: the body itself).
fn invalid_at(key: &str, message: &str) -> ApiError {
    ApiError::Invalid {
        issues: vec![Issue {
            code: "invalid_type".to_string(),
            path: if key.is_empty() {
                Vec::new()
            } else {
                vec![json!(key)]
            },
            message: message.to_string(),
        }],
    }
}

//! The catalog route: `POST /api/catalog/reload`, and the catalog's part of
//! `/api/health` and of the `catalog_reloaded` event.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::error::{ApiError, json_reply};
use super::wire::{CatalogChange, CatalogInfo, CatalogReloadReply, OutdatedSessionRecord};
use crate::bridge::{CatalogReload, CatalogStatus, OutdatedSession, ReloadOutcome};

fn outdated(sessions: &[OutdatedSession]) -> Vec<OutdatedSessionRecord> {
    sessions
        .iter()
        .map(|s| OutdatedSessionRecord {
            session_id: s.thread_id.clone(),
            tools: s.tools.clone(),
        })
        .collect()
}

/// A reload as the API shows it.
pub fn reload_reply(reload: &CatalogReload) -> CatalogReloadReply {
    let (status, changes, error) = match &reload.outcome {
        ReloadOutcome::Loaded { changes } => (
            "ok",
            changes
                .iter()
                .map(|c| CatalogChange {
                    tool: c.tool.clone(),
                    change: c.change.to_string(),
                    new_sessions_only: c.new_sessions_only,
                })
                .collect(),
            None,
        ),
        ReloadOutcome::Failed { error } => ("failed", Vec::new(), Some(error.clone())),
    };
    CatalogReloadReply {
        status: status.to_string(),
        path: reload.path.clone(),
        generation: reload.generation,
        at_ms: reload.at_ms,
        changes,
        error,
        outdated_sessions: outdated(&reload.outdated_sessions),
    }
}

/// The catalog in use, for `/api/health`.
pub fn info(status: &CatalogStatus) -> CatalogInfo {
    CatalogInfo {
        path: status.path.clone(),
        generation: status.generation,
        tools: status.tools,
        last_reload: status.last_reload.as_ref().map(reload_reply),
        outdated_sessions: outdated(&status.outdated_sessions),
    }
}

/// Why health is `degraded` because of the catalog: its last reload failed.
pub fn degraded_reason(status: &CatalogStatus) -> Option<String> {
    let reload = status.last_reload.as_ref()?;
    reload.error().map(|error| {
        format!(
            "the last catalog reload failed, the previous catalog stays in use: {}",
            crate::bridge::reload::first_problem(error)
        )
    })
}

#[utoipa::path(
    post,
    path = "/api/catalog/reload",
    tag = "service",
    responses(
        (status = 200, description = "The catalog file was loaded again and is in use from the next call on: handlers, static answers and approval rules at once; changed tool definitions in sessions created from now on", body = CatalogReloadReply),
        (status = 422, description = "The file did not load (or the server has no catalog file): the previous catalog stays in use; `error` says what to fix, with file and line", body = CatalogReloadReply),
    )
)]
pub async fn reload(State(state): State<AppState>) -> Result<Response, ApiError> {
    let reload = state
        .bridge
        .reload_catalog()
        .await
        .map_err(ApiError::from_bridge)?;
    let code = if reload.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(json_reply(code, &reload_reply(&reload)))
}

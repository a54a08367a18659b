//! Error replies. Every one is JSON with `Content-Type: application/json`, in the shape
//! codex-manager uses for the same situation, so its SDK classifies them correctly.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::wire::{
    CallClaimedBody, CallInFlightBody, CallNotFoundBody, ClaimedCode, ConflictStatus,
    DeletedSessionBody, ErrorBody, ErrorStatus, InFlightCode, Issue, NoActiveTurnBody,
    NoActiveTurnStatus, NotFoundStatus, RespondFailedBody, SessionNotFoundBody,
};
use crate::appserver::AppServerError;
use crate::bridge::BridgeError;
use crate::protocol::codes;

/// JSON-RPC "invalid params": like `codes::INVALID_REQUEST`, the caller's fault.
const INVALID_PARAMS: i64 = -32602;

/// A request that did not succeed, as the client sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("request validation failed")]
    Invalid { issues: Vec<Issue> },
    /// Refused before it could be read: not JSON, too large, bad query.
    #[error("{message}")]
    Request {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("no session {session_id}")]
    SessionNotFound { session_id: String },
    #[error("session {} was deleted", .0.session_id)]
    SessionDeleted(DeletedSessionBody),
    #[error("session {session_id} has no running turn")]
    NoActiveTurn { session_id: String },
    #[error("no pending call {request_id}")]
    CallNotFound { request_id: String },
    #[error("another answer for {request_id} is being written")]
    CallInFlight { request_id: String },
    #[error("call {request_id} is claimed by {}", claim.holder)]
    CallClaimed {
        request_id: String,
        claim: crate::bridge::CallClaim,
    },
    #[error("could not write the answer for {request_id}: {message}")]
    AnswerNotWritten { request_id: String, message: String },
    /// app-server refused or failed a request, or is not there.
    #[error("{message}")]
    Upstream {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn request(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Request {
            status,
            code,
            message: message.into(),
        }
    }

    /// A bridge failure that is not about a particular session or call.
    pub fn from_bridge(error: BridgeError) -> ApiError {
        let upstream = |status, code, message: String| ApiError::Upstream {
            status,
            code,
            message,
        };
        match error {
            BridgeError::UnknownSession { thread_id } => ApiError::SessionNotFound {
                session_id: thread_id,
            },
            BridgeError::NoActiveTurn { thread_id } => ApiError::NoActiveTurn {
                session_id: thread_id,
            },
            // Callers that can say more (title, time) check for a closed session first.
            BridgeError::SessionClosed { thread_id } => {
                ApiError::SessionDeleted(DeletedSessionBody {
                    status: super::wire::DeletedStatus::Deleted,
                    message: format!("session {thread_id} was deleted"),
                    session_id: thread_id,
                    title: None,
                    deleted_at: crate::util::iso8601_ms(crate::util::now_ms()),
                })
            }
            BridgeError::AppServer(AppServerError::Rpc { method, error })
                if error.code == codes::INVALID_REQUEST || error.code == INVALID_PARAMS =>
            {
                upstream(
                    StatusCode::BAD_REQUEST,
                    "app_server_rejected",
                    format!("app-server refused `{method}`: {}", error.message),
                )
            }
            BridgeError::UnknownAppServer { .. } => upstream(
                StatusCode::BAD_REQUEST,
                "unknown_app_server",
                error.to_string(),
            ),
            BridgeError::ThreadOnSeveral { .. } => upstream(
                StatusCode::BAD_REQUEST,
                "app_server_required",
                error.to_string(),
            ),
            BridgeError::ThreadNotLoaded { .. } => upstream(
                StatusCode::NOT_FOUND,
                "thread_not_loaded",
                error.to_string(),
            ),
            BridgeError::CallEnded { .. } => {
                upstream(StatusCode::NOT_FOUND, "call_ended", error.to_string())
            }
            BridgeError::NoHandler { .. } => {
                upstream(StatusCode::CONFLICT, "no_handler", error.to_string())
            }
            BridgeError::TranscriptUnreadable { .. } => upstream(
                StatusCode::INTERNAL_SERVER_ERROR,
                "transcript_unreadable",
                error.to_string(),
            ),
            BridgeError::NotWatched { .. } => upstream(
                StatusCode::CONFLICT,
                "session_not_watched",
                error.to_string(),
            ),
            BridgeError::NotAttached { .. } => upstream(
                StatusCode::CONFLICT,
                "session_not_attached",
                error.to_string(),
            ),
            BridgeError::AppServer(AppServerError::Timeout { .. }) => upstream(
                StatusCode::GATEWAY_TIMEOUT,
                "app_server_timeout",
                error.to_string(),
            ),
            BridgeError::AppServer(AppServerError::Rpc { .. } | AppServerError::Decode { .. })
            | BridgeError::UnexpectedReply { .. } => upstream(
                StatusCode::BAD_GATEWAY,
                "app_server_error",
                error.to_string(),
            ),
            BridgeError::AppServer(
                AppServerError::Spawn { .. }
                | AppServerError::Connect { .. }
                | AppServerError::Closed { .. }
                | AppServerError::Write { .. },
            )
            | BridgeError::AppServerNamed { .. }
            | BridgeError::Disconnected { .. }
            | BridgeError::Stopped => upstream(
                StatusCode::SERVICE_UNAVAILABLE,
                "app_server_unavailable",
                error.to_string(),
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Request { status, .. } | ApiError::Upstream { status, .. } => *status,
            ApiError::SessionNotFound { .. } | ApiError::CallNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::SessionDeleted(_) => StatusCode::GONE,
            ApiError::NoActiveTurn { .. }
            | ApiError::CallInFlight { .. }
            | ApiError::CallClaimed { .. } => StatusCode::CONFLICT,
            ApiError::AnswerNotWritten { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A JSON reply; the content type is set explicitly so no layer can lose it.
pub fn json_reply<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn error_body(code: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        status: ErrorStatus::Error,
        code: code.to_string(),
        message: message.into(),
        issues: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            ApiError::Invalid { issues } => json_reply(
                status,
                &ErrorBody {
                    issues: Some(issues),
                    ..error_body("invalid_request", "request validation failed")
                },
            ),
            ApiError::Request { code, message, .. } | ApiError::Upstream { code, message, .. } => {
                json_reply(status, &error_body(code, message))
            }
            ApiError::SessionNotFound { session_id } => json_reply(
                status,
                &SessionNotFoundBody {
                    status: NotFoundStatus::NotFound,
                    session_id,
                },
            ),
            ApiError::SessionDeleted(body) => json_reply(status, &body),
            ApiError::NoActiveTurn { session_id } => json_reply(
                status,
                &NoActiveTurnBody {
                    status: NoActiveTurnStatus::NoActiveTurn,
                    session_id,
                },
            ),
            ApiError::CallNotFound { request_id } => json_reply(
                status,
                &CallNotFoundBody {
                    status: NotFoundStatus::NotFound,
                    request_id,
                },
            ),
            ApiError::CallInFlight { request_id } => json_reply(
                status,
                &CallInFlightBody {
                    status: ConflictStatus::Conflict,
                    code: InFlightCode::InFlight,
                    request_id,
                },
            ),
            ApiError::CallClaimed { request_id, claim } => json_reply(
                status,
                &CallClaimedBody {
                    status: ConflictStatus::Conflict,
                    code: ClaimedCode::CallClaimed,
                    message: format!(
                        "call {request_id} is claimed by {} until {}: only its holder answers it while the lease runs; claim it when it is released or the lease runs out, or take it over (`takeover: true`, `switchboard requests claim {request_id} --takeover`)",
                        claim.holder,
                        crate::util::iso8601_ms(claim.lease_expires_at_ms)
                    ),
                    request_id,
                    holder: claim.holder,
                    lease_expires_at_ms: claim.lease_expires_at_ms,
                },
            ),
            ApiError::AnswerNotWritten {
                request_id,
                message,
            } => json_reply(
                status,
                &RespondFailedBody {
                    status: ErrorStatus::Error,
                    request_id,
                    message,
                },
            ),
        }
    }
}

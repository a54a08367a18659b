//! The HTTP and websocket API over a bridge: codex-manager's routes (so its Python SDK
//! works unmodified) plus Switchboard's own, a bearer-token guard, and the OpenAPI
//! document generated from the route types. No terminal UI here; `switchboard serve`
//! and the console both start it with [`serve`].

pub mod approvals;
pub mod auth;
pub mod catalog;
pub mod convert;
pub mod error;
pub mod listen;
pub mod openapi;
pub mod routes;
pub mod stream;
pub mod validate;
pub mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bridge::BridgeHandle;

/// Where `switchboard serve` listens unless told otherwise: codex-manager's address, so
/// its SDK's defaults find Switchboard.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 3001);

/// Request bodies larger than this get 413. Answers may carry images as data URLs.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long [`ServerHandle::shutdown`] waits for open requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "refusing to listen on {addr} without a bearer token: --no-auth is allowed only on loopback addresses"
    )]
    NoTokenOffLoopback { addr: SocketAddr },
    #[error("the bearer token is empty")]
    EmptyToken,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Token(#[from] auth::TokenError),
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// The bearer token every request must carry; `None` only on loopback.
    pub token: Option<String>,
    pub max_body_bytes: usize,
    /// Relative session folders (`cwd: "."`) are resolved against this.
    pub base_dir: PathBuf,
    /// Header-read timeout and connection caps.
    pub limits: listen::Limits,
    /// Bytes of frames queued per websocket before it is dropped as lagged.
    pub max_socket_queue_bytes: usize,
    /// For sessions created without `approvalPolicy` / `filesystemSandbox`; `None`
    /// leaves them to codex's configuration.
    pub session_defaults: approvals::SessionDefaults,
}

impl ServeConfig {
    pub fn new(listen: SocketAddr, token: Option<String>) -> ServeConfig {
        ServeConfig {
            listen,
            token,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            base_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            limits: listen::Limits::default(),
            max_socket_queue_bytes: stream::DEFAULT_SOCKET_QUEUE_BYTES,
            session_defaults: approvals::SessionDefaults::default(),
        }
    }
}

/// Refuses what must never be served: no token off loopback, an empty token.
pub fn check_exposure(listen: SocketAddr, token: Option<&str>) -> Result<(), ServiceError> {
    match token {
        Some(token) if token.trim().is_empty() => Err(ServiceError::EmptyToken),
        Some(_) => Ok(()),
        None if listen.ip().is_loopback() => Ok(()),
        None => Err(ServiceError::NoTokenOffLoopback { addr: listen }),
    }
}

/// What every handler shares.
pub struct Shared {
    pub bridge: BridgeHandle,
    pub token: Option<String>,
    /// Serialised stream events, queued for every websocket.
    pub frames: Arc<stream::Hub>,
    pub base_dir: PathBuf,
    /// Flips to `true` when the server stops, so websockets close.
    pub shutdown: watch::Receiver<bool>,
    /// Approval policies waiting for a session's next turn.
    pub policies: approvals::PolicyStore,
    pub session_defaults: approvals::SessionDefaults,
}

pub type AppState = Arc<Shared>;

/// A running server. Dropping it stops the server (not the bridge).
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ServerHandle {
    /// The address actually bound (the port is known even for `:0`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes websockets, and waits a moment for open requests.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
        }
    }

    /// Waits until the server stops on its own (it only does on an I/O error).
    pub async fn stopped(&mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Binds and serves the API over `bridge` in the background.
pub async fn serve(
    bridge: BridgeHandle,
    config: ServeConfig,
) -> Result<ServerHandle, ServiceError> {
    check_exposure(config.listen, config.token.as_deref())?;
    let bind_error = |source| ServiceError::Bind {
        addr: config.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let frames = Arc::new(stream::Hub::new(config.max_socket_queue_bytes));
    // Subscribed before the first request can be served, so no event is missed.
    let events = bridge.subscribe();
    tokio::spawn(stream::fan_out(
        bridge.clone(),
        events,
        frames.clone(),
        shutdown_rx.clone(),
    ));
    let state = Arc::new(Shared {
        bridge,
        token: config.token,
        frames,
        base_dir: config.base_dir,
        shutdown: shutdown_rx.clone(),
        policies: approvals::PolicyStore::default(),
        session_defaults: config.session_defaults,
    });
    let app = router(state, config.max_body_bytes);
    // Each connection is a descriptor: take what the hard limit allows, and keep the
    // connection cap below it.
    let limits = config.limits.fitted_to(listen::raise_open_file_limit());
    let task = tokio::spawn(listen::serve(listener, app, limits, shutdown_rx));
    tracing::info!(target: "service", "API listening on http://{addr}");
    Ok(ServerHandle {
        addr,
        shutdown: shutdown_tx,
        task: Some(task),
    })
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/api/sessions",
            post(routes::create_session).get(routes::list_sessions),
        )
        .route(
            "/api/sessions/{sessionId}",
            get(routes::get_session).delete(routes::delete_session),
        )
        .route(
            "/api/sessions/{sessionId}/messages",
            post(routes::send_message),
        )
        .route(
            "/api/sessions/{sessionId}/interrupt",
            post(routes::interrupt),
        )
        .route(
            "/api/sessions/{sessionId}/resume",
            post(routes::resume_session),
        )
        .route(
            "/api/sessions/{sessionId}/tool-calls",
            get(routes::session_tool_calls),
        )
        .route("/api/tool-calls", get(routes::all_tool_calls))
        .route(
            "/api/tool-calls/{requestId}/response",
            post(routes::respond),
        )
        .route(
            "/api/tool-calls/{requestId}/claim",
            post(routes::claim_call).delete(routes::release_claim),
        )
        // Approvals and tool input (approvals.rs).
        .route(
            "/api/sessions/{sessionId}/approvals",
            get(approvals::session_approvals),
        )
        .route(
            "/api/sessions/{sessionId}/tool-input",
            get(approvals::session_tool_input),
        )
        .route(
            "/api/sessions/{sessionId}/approval-policy",
            post(approvals::set_approval_policy),
        )
        .route(
            "/api/approvals/{approvalId}/decision",
            post(approvals::decide_approval),
        )
        .route(
            "/api/tool-input/{requestId}/decision",
            post(approvals::decide_tool_input),
        )
        .route("/api/requests", get(approvals::all_requests))
        .route(
            "/api/requests/{requestId}/answer",
            post(approvals::answer_request),
        )
        .route(
            "/api/requests/{requestId}/claim",
            post(routes::claim_request).delete(routes::release_request_claim),
        )
        .route("/api/catalog/reload", post(catalog::reload))
        .route("/api/health", get(routes::health))
        .route("/api/catalog/stats", get(routes::catalog_stats))
        .route("/api/openapi.json", get(routes::openapi))
        .route("/api/stream", get(stream::stream))
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::wrong_method)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Error replies made below the routes (a websocket request that is not one, a bad
/// query) come as text; clients of this API always get JSON.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_client_error() => "request_failed",
        _ => "internal_error",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    error::json_reply(status, &error::error_body(code, message))
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;

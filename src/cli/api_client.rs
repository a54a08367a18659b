//! Talking to a running Switchboard API (or codex-manager): where it is, the token, one
//! request helper and the websocket. Shared by the client commands and the worker.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::exit;
use super::paths;
use crate::service::DEFAULT_LISTEN;
use crate::service::auth::{SWITCHBOARD_TOKEN_ENV, TOKEN_ENV};
use crate::service::routes::CLIENT_HEADER;

pub const URL_ENV: &str = "SWITCHBOARD_URL";
pub const CODEX_MANAGER_BASE_ENV: &str = "CODEX_MANAGER_API_BASE";
pub const CODEX_MANAGER_PREFIX_ENV: &str = "CODEX_MANAGER_API_PREFIX";

/// How long one HTTP request may take (codex-manager's SDK default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server is and how to authenticate; shared by every client command.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientArgs {
    /// The server (default: $SWITCHBOARD_URL, $CODEX_MANAGER_API_BASE, the codex-manager
    /// profile's baseUrl, then http://127.0.0.1:3001).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The bearer token (default: $SWITCHBOARD_TOKEN, $CODEX_MANAGER_BEARER_TOKEN, the
    /// profile's auth.bearer, then the token file `serve` wrote, for a loopback server).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The codex-manager CLI profile to read (default: its currentProfile, else "local").
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print the server's JSON replies (one per line) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A resolved connection.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Scheme, host and port, no trailing slash.
    pub base: String,
    /// `/api` unless configured.
    pub prefix: String,
    pub token: Option<String>,
    /// Extra headers from the profile.
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server URL {url:?}: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} refused the websocket handshake with HTTP {status}")]
    Rejected { url: String, status: u16 },
    #[error("{url} did not answer with JSON (HTTP {status}): {text}")]
    NotJson {
        url: String,
        status: u16,
        text: String,
    },
}

impl ClientError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::BadUrl { .. } => exit::INVALID_INPUT,
            ClientError::Unreachable { .. } => exit::UNREACHABLE,
            ClientError::NotJson { .. } => exit::SERVER_ERROR,
            ClientError::Rejected { status, .. } => Reply {
                status: *status,
                body: Value::Null,
            }
            .exit_code(),
        }
    }
}

/// One profile of codex-manager's `config.json`; unknown keys are ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Profile {
    base_url: Option<String>,
    api_prefix: Option<String>,
    headers: BTreeMap<String, String>,
    auth: ProfileAuth,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ProfileAuth {
    bearer: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ProfileFile {
    current_profile: Option<String>,
    profiles: BTreeMap<String, Profile>,
}

/// The chosen profile, as codex-manager's SDK picks it: the name given, else
/// `currentProfile`, else `local`; a missing name falls back to `local`; a missing or
/// unreadable file means no profile.
fn load_profile(name: Option<&str>) -> Profile {
    let Some(path) = paths::codex_manager_profile_path() else {
        return Profile::default();
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return Profile::default();
    };
    let Ok(mut file) = serde_json::from_str::<ProfileFile>(&text) else {
        return Profile::default();
    };
    let wanted = name
        .map(str::to_string)
        .or(file.current_profile.clone())
        .unwrap_or_else(|| "local".to_string());
    file.profiles
        .remove(&wanted)
        .or_else(|| file.profiles.remove("local"))
        .unwrap_or_default()
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

impl ClientArgs {
    pub fn endpoint(&self) -> Endpoint {
        let profile = load_profile(self.profile.as_deref());
        let base = self
            .url
            .clone()
            .or_else(|| env(URL_ENV))
            .or_else(|| env(CODEX_MANAGER_BASE_ENV))
            .or(profile.base_url)
            .unwrap_or_else(|| format!("http://{DEFAULT_LISTEN}"));
        let base = base.trim_end_matches('/').to_string();
        let prefix = env(CODEX_MANAGER_PREFIX_ENV)
            .or(profile.api_prefix)
            .unwrap_or_else(|| "/api".to_string());
        let prefix = format!("/{}", prefix.trim_matches('/'));
        let token = self
            .token
            .clone()
            .or_else(|| env(SWITCHBOARD_TOKEN_ENV))
            .or_else(|| env(TOKEN_ENV))
            .or(profile.auth.bearer)
            .or_else(|| local_token(&base));
        Endpoint {
            base,
            prefix,
            token,
            headers: profile.headers,
        }
    }
}

/// The token `switchboard serve` generated, offered only to a server on this machine.
fn local_token(base: &str) -> Option<String> {
    let authority = base.split_once("://").map(|(_, rest)| rest).unwrap_or(base);
    let authority = authority.split('/').next().unwrap_or_default();
    if !crate::service::auth::is_loopback_host(authority) {
        return None;
    }
    crate::service::auth::read_token(&paths::token_path()).ok()
}

/// A reply: the status and the JSON body (`null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The exit status for a reply that is not a success.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            200..=299 => exit::OK,
            401 | 403 => exit::UNAUTHORIZED,
            404 => exit::NOT_FOUND,
            409 => exit::CONFLICT,
            410 => exit::GONE,
            503 => exit::APP_SERVER,
            400..=499 => exit::INVALID_INPUT,
            _ => exit::SERVER_ERROR,
        }
    }

    /// What the server said went wrong, in one line.
    pub fn message(&self) -> String {
        let text = |key: &str| self.body.get(key).and_then(Value::as_str);
        let mut message = match (text("message"), text("status"), text("code")) {
            (Some(message), _, _) => message.to_string(),
            (None, Some(status), Some(code)) => format!("{status} ({code})"),
            (None, Some(status), None) => status.to_string(),
            (None, None, _) => format!("HTTP {}", self.status),
        };
        if let Some(issues) = self.body.get("issues").and_then(Value::as_array) {
            for issue in issues {
                let path: Vec<String> = issue
                    .get("path")
                    .and_then(Value::as_array)
                    .map(|p| {
                        p.iter()
                            .map(|s| s.to_string().trim_matches('"').to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                let what = issue
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid");
                message.push_str(&format!("; {}: {what}", path.join(".")));
            }
        }
        message
    }
}

/// A connection to the API.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    pub endpoint: Endpoint,
    /// Sent as `x-switchboard-client`, so answers are credited to this client.
    pub client_name: String,
}

impl Api {
    pub fn new(endpoint: Endpoint, client_name: &str) -> Result<Api, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ClientError::BadUrl {
                url: endpoint.base.clone(),
                message: e.to_string(),
            })?;
        Ok(Api {
            http,
            endpoint,
            client_name: client_name.to_string(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.endpoint.base, self.endpoint.prefix)
    }

    /// One request; any HTTP status is a reply, only transport failures are errors.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let url = self.url(path);
        let mut request = self
            .http
            .request(method, &url)
            .header(CLIENT_HEADER, &self.client_name);
        if let Some(token) = &self.endpoint.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &self.endpoint.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_builder() {
                ClientError::BadUrl {
                    url: url.clone(),
                    message: e.to_string(),
                }
            } else {
                ClientError::Unreachable {
                    url: url.clone(),
                    message: error_chain(&e),
                }
            }
        })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                message: error_chain(&e),
            })?;
        if text.trim().is_empty() {
            return Ok(Reply {
                status,
                body: Value::Null,
            });
        }
        let body = serde_json::from_str(&text).map_err(|_| ClientError::NotJson {
            url,
            status,
            text: crate::protocol::truncate_chars(&text, 200).to_string(),
        })?;
        Ok(Reply { status, body })
    }

    /// `ws[s]://host/<prefix>/stream[?threadId=...]`, as the SDK builds it.
    pub fn stream_url(&self, thread_id: Option<&str>) -> String {
        let (scheme, rest) = match self.endpoint.base.split_once("://") {
            Some(("https", rest)) => ("wss", rest),
            Some((_, rest)) => ("ws", rest),
            None => ("ws", self.endpoint.base.as_str()),
        };
        let host = rest.split('/').next().unwrap_or_default();
        let mut url = format!("{scheme}://{host}{}/stream", self.endpoint.prefix);
        if let Some(thread_id) = thread_id {
            url.push_str("?threadId=");
            url.push_str(thread_id);
        }
        url
    }

    /// Opens the event stream with the same headers as HTTP requests.
    pub async fn connect_stream(
        &self,
        thread_id: Option<&str>,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        ClientError,
    > {
        let url = self.stream_url(thread_id);
        let bad = |message: String| ClientError::BadUrl {
            url: url.clone(),
            message,
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| bad(e.to_string()))?;
        let mut headers: Vec<(String, String)> =
            self.endpoint.headers.clone().into_iter().collect();
        if let Some(token) = &self.endpoint.token {
            headers.push(("authorization".to_string(), format!("Bearer {token}")));
        }
        for (name, value) in headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            let value = value
                .parse()
                .map_err(|_| bad(format!("header {name} is not a valid value")))?;
            request.headers_mut().insert(name, value);
        }
        // TCP_NODELAY, like the HTTP client (reqwest sets it by default).
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(response) => ClientError::Rejected {
                    url: url.clone(),
                    status: response.status().as_u16(),
                },
                other => ClientError::Unreachable {
                    url: url.clone(),
                    message: other.to_string(),
                },
            })?;
        Ok(socket)
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

//! The bridge's operations as data, for a face that holds no [`BridgeHandle`] of its own:
//! the console attached to a running `serve` (`switchboard --remote URL`) sends a
//! [`BridgeCall`] to the service's native route, which runs it here against the bridge
//! and sends the reply back as JSON. Each call maps to one handle method, so a remote
//! console does exactly what an in-process one does.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    BridgeError, BridgeHandle, BridgeStatus, CreateSession, HoldChange, PendingCallView, Responder,
    SessionSnapshot,
};
use crate::catalog::Catalog;
use crate::protocol::ToolCallResult;

/// One request of a remote face. The answering calls carry no responder: the service
/// credits them to the client that sent them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum BridgeCall {
    /// Everything a console shows, read in one go: a [`Snapshot`].
    Snapshot,
    /// The catalog in use, as its file reads now: a [`CatalogSource`].
    Catalog,
    CreateSession {
        #[serde(default)]
        cwd: Option<String>,
        #[serde(default)]
        approval_policy: Option<String>,
        #[serde(default)]
        sandbox: Option<String>,
        /// The app-server to start it on, by name; `None`: the first.
        #[serde(default)]
        app_server: Option<String>,
    },
    Send {
        thread_id: String,
        text: String,
    },
    Interrupt {
        thread_id: String,
    },
    Close {
        thread_id: String,
    },
    Rename {
        thread_id: String,
        name: String,
    },
    Resume {
        thread_id: String,
    },
    ListThreads,
    /// The threads every app-server has loaded, whoever runs them: a
    /// [`super::LoadedThreads`].
    ListLoaded,
    /// Attaches to watch a thread another client runs, on the named app-server (`None`:
    /// the one that has it loaded).
    Watch {
        thread_id: String,
        #[serde(default)]
        app_server: Option<String>,
    },
    /// Stops watching a thread (`thread/unsubscribe`).
    Detach {
        thread_id: String,
    },
    /// Lets handlers and rules answer a watched thread's requests, or stops them.
    SetAutoAnswer {
        thread_id: String,
        on: bool,
    },
    /// Answers a tool call; `claim_id` is the caller's claim when it holds one.
    Respond {
        request_id: String,
        result: ToolCallResult,
        #[serde(default)]
        claim_id: Option<String>,
    },
    /// Claims any pending request for `holder` (or renews the caller's claim, or takes
    /// another holder's over): a [`super::ClaimOutcome`].
    Claim {
        request_id: String,
        holder: String,
        lease_ms: u64,
        #[serde(default)]
        claim_id: Option<String>,
        #[serde(default)]
        takeover: bool,
    },
    /// Gives a claim back: a [`super::ReleaseOutcome`].
    Release {
        request_id: String,
        claim_id: String,
    },
    /// Runs the call's handler now; the reply is `[result, failure]`.
    RunHandler {
        request_id: String,
    },
    /// Hold every handler (`tool: None`) or one tool's.
    SetHold {
        #[serde(default)]
        tool: Option<String>,
        held: bool,
    },
    AnswerRequest {
        request_id: String,
        answer: Value,
        #[serde(default)]
        claim_id: Option<String>,
    },
    ListRequests,
    Reconnect,
}

impl BridgeCall {
    /// The call's name, for logs and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            BridgeCall::Snapshot => "snapshot",
            BridgeCall::Catalog => "catalog",
            BridgeCall::CreateSession { .. } => "create_session",
            BridgeCall::Send { .. } => "send",
            BridgeCall::Interrupt { .. } => "interrupt",
            BridgeCall::Close { .. } => "close",
            BridgeCall::Rename { .. } => "rename",
            BridgeCall::Resume { .. } => "resume",
            BridgeCall::ListThreads => "list_threads",
            BridgeCall::ListLoaded => "list_loaded",
            BridgeCall::Watch { .. } => "watch",
            BridgeCall::Detach { .. } => "detach",
            BridgeCall::SetAutoAnswer { .. } => "set_auto_answer",
            BridgeCall::Respond { .. } => "respond",
            BridgeCall::Claim { .. } => "claim",
            BridgeCall::Release { .. } => "release",
            BridgeCall::RunHandler { .. } => "run_handler",
            BridgeCall::SetHold { .. } => "set_hold",
            BridgeCall::AnswerRequest { .. } => "answer_request",
            BridgeCall::ListRequests => "list_requests",
            BridgeCall::Reconnect => "reconnect",
        }
    }
}

/// What a console reads from the bridge at start and after a lag or a reconnect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub status: BridgeStatus,
    pub sessions: Vec<SessionSnapshot>,
    pub pending: Vec<PendingCallView>,
}

/// The catalog in use, as text a remote face parses with [`Catalog::parse`]: `text` is
/// `None` when there is no catalog file or it cannot be read now (the reason).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogSource {
    pub path: Option<String>,
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CatalogSource {
    /// The catalog this source describes: parsed as if read from its path (so relative
    /// handler paths resolve as on the server), or the empty catalog without a file.
    pub fn parse(&self) -> Result<Catalog, String> {
        match (&self.path, &self.text) {
            (Some(path), Some(text)) => {
                Catalog::parse(text, std::path::Path::new(path)).map_err(|e| e.to_string())
            }
            (None, _) => Ok(Catalog::empty()),
            (Some(path), None) => Err(format!(
                "the server could not read its catalog {path}: {}",
                self.error.as_deref().unwrap_or("unknown reason")
            )),
        }
    }
}

/// Reads a snapshot: status, every session with its transcript window, pending calls.
pub async fn snapshot(bridge: &BridgeHandle) -> Result<Snapshot, BridgeError> {
    let status = bridge.status().await?;
    let mut sessions = Vec::new();
    for summary in bridge.sessions().await? {
        if let Some(snapshot) = bridge.session(&summary.thread_id).await? {
            sessions.push(snapshot);
        }
    }
    let pending = bridge.pending_calls(None).await?;
    Ok(Snapshot {
        status,
        sessions,
        pending,
    })
}

/// The catalog in use, read back from its file.
pub async fn catalog_source(catalog: Arc<Catalog>) -> CatalogSource {
    let Some(path) = catalog.path.clone() else {
        return CatalogSource {
            path: None,
            text: None,
            error: None,
        };
    };
    let shown = path.display().to_string();
    let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(&path)).await;
    match read {
        Ok(Ok(text)) => CatalogSource {
            path: Some(shown),
            text: Some(text),
            error: None,
        },
        Ok(Err(e)) => CatalogSource {
            path: Some(shown),
            text: None,
            error: Some(e.to_string()),
        },
        Err(e) => CatalogSource {
            path: Some(shown),
            text: None,
            error: Some(e.to_string()),
        },
    }
}

fn json<T: Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Runs one call against the bridge; `by` is credited with the answers it gives.
pub async fn execute(
    bridge: &BridgeHandle,
    call: BridgeCall,
    by: Responder,
) -> Result<Value, BridgeError> {
    Ok(match call {
        BridgeCall::Snapshot => json(snapshot(bridge).await?),
        BridgeCall::Catalog => json(catalog_source(bridge.catalog()).await),
        BridgeCall::CreateSession {
            cwd,
            approval_policy,
            sandbox,
            app_server,
        } => json(
            bridge
                .create_session(CreateSession {
                    cwd,
                    approval_policy,
                    sandbox,
                    app_server,
                    ..CreateSession::default()
                })
                .await?,
        ),
        BridgeCall::Send { thread_id, text } => json(bridge.send_message(&thread_id, &text).await?),
        BridgeCall::Interrupt { thread_id } => json(bridge.interrupt(&thread_id).await?),
        BridgeCall::Close { thread_id } => json(bridge.close_session(&thread_id).await?),
        BridgeCall::Rename { thread_id, name } => {
            json(bridge.rename_session(&thread_id, &name).await?)
        }
        BridgeCall::Resume { thread_id } => json(bridge.resume_session(&thread_id).await?),
        BridgeCall::ListThreads => json(bridge.list_threads().await?),
        BridgeCall::ListLoaded => json(bridge.loaded_threads_of_fleet().await?),
        BridgeCall::Watch {
            thread_id,
            app_server,
        } => json(
            bridge
                .watch_thread_on(&thread_id, app_server.as_deref())
                .await?,
        ),
        BridgeCall::Detach { thread_id } => json(bridge.detach(&thread_id).await?),
        BridgeCall::SetAutoAnswer { thread_id, on } => {
            json(bridge.set_auto_answer(&thread_id, on).await?)
        }
        BridgeCall::Respond {
            request_id,
            result,
            claim_id,
        } => json(
            bridge
                .respond_claimed(&request_id, result, by, claim_id.as_deref())
                .await?,
        ),
        BridgeCall::Claim {
            request_id,
            holder,
            lease_ms,
            claim_id,
            takeover,
        } => json(
            bridge
                .claim_request(
                    &request_id,
                    super::ClaimAsk {
                        holder,
                        lease: std::time::Duration::from_millis(lease_ms),
                        claim_id,
                        takeover,
                    },
                )
                .await?,
        ),
        BridgeCall::Release {
            request_id,
            claim_id,
        } => json(bridge.release_claim(&request_id, &claim_id).await?),
        BridgeCall::RunHandler { request_id } => {
            let outcome = bridge.run_handler(&request_id).await?;
            json((outcome.result, outcome.failure))
        }
        BridgeCall::SetHold { tool, held } => {
            let change = match tool {
                Some(tool) => HoldChange::Tool { tool, held },
                None => HoldChange::All(held),
            };
            json(bridge.set_hold(change).await?)
        }
        BridgeCall::AnswerRequest {
            request_id,
            answer,
            claim_id,
        } => json(
            bridge
                .answer_request_claimed(&request_id, answer, by, claim_id.as_deref())
                .await?,
        ),
        BridgeCall::ListRequests => json(bridge.pending_requests(None).await?),
        BridgeCall::Reconnect => json(bridge.reconnect().await?),
    })
}

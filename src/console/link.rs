//! The console's one interface to a bridge: in this process ([`BridgeHandle`]) or in a
//! running `serve` ([`RemoteBridge`], `switchboard --remote URL`). The event loop and
//! its requests go through [`Link`] only, so nothing in the UI knows which it is.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use crate::appserver::ProtocolLine;
use crate::bridge::calls::{BridgeCall, Snapshot};
use crate::bridge::{
    AnswerOutcome, BridgeError, BridgeHandle, ClaimAsk, ClaimOutcome, CreateSession, EventReceiver,
    HoldChange, HoldState, LoadedThreads, PendingRequestView, ReleaseOutcome, RespondOutcome,
    Responder, SessionSummary,
};
use crate::catalog::Catalog;
use crate::protocol::{ThreadInfo, ToolCallResult};
pub use crate::remote::{LinkEvent, LinkState};
use crate::remote::{RemoteBridge, RemoteError};

/// A bridge, wherever it runs.
#[derive(Clone)]
pub enum Link {
    Local(BridgeHandle),
    Remote(RemoteBridge),
}

impl From<BridgeHandle> for Link {
    fn from(bridge: BridgeHandle) -> Link {
        Link::Local(bridge)
    }
}

impl From<&BridgeHandle> for Link {
    fn from(bridge: &BridgeHandle) -> Link {
        Link::Local(bridge.clone())
    }
}

impl From<&Link> for Link {
    fn from(link: &Link) -> Link {
        link.clone()
    }
}

impl From<RemoteBridge> for Link {
    fn from(bridge: RemoteBridge) -> Link {
        Link::Remote(bridge)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

type Result<T> = std::result::Result<T, LinkError>;

/// The events of a [`Link`]: bridge events, protocol lines and link changes.
pub enum LinkEvents {
    Local {
        events: EventReceiver,
        protocol: Option<broadcast::Receiver<ProtocolLine>>,
    },
    Remote(broadcast::Receiver<LinkEvent>),
}

impl LinkEvents {
    /// The next event, or `None` once the bridge (or the link's last handle) is gone.
    pub async fn recv(&mut self) -> Option<LinkEvent> {
        match self {
            LinkEvents::Local { events, protocol } => loop {
                let line = async {
                    match protocol.as_mut() {
                        Some(lines) => lines.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    event = events.recv() => return event.map(LinkEvent::Bridge),
                    line = line => match line {
                        Ok(line) => return Some(LinkEvent::Protocol(line)),
                        // The protocol log is best effort.
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => *protocol = None,
                    },
                }
            },
            LinkEvents::Remote(events) => match events.recv().await {
                Ok(event) => Some(event),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    Some(LinkEvent::Bridge(crate::bridge::BridgeEvent::Lagged {
                        skipped,
                    }))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
        }
    }
}

impl Link {
    /// Where the bridge is, when it is not in this process.
    pub fn remote_url(&self) -> Option<&str> {
        match self {
            Link::Local(_) => None,
            Link::Remote(remote) => Some(remote.url()),
        }
    }

    pub fn subscribe(&self) -> LinkEvents {
        match self {
            Link::Local(bridge) => LinkEvents::Local {
                events: bridge.subscribe(),
                protocol: Some(bridge.protocol_tap().subscribe()),
            },
            Link::Remote(remote) => LinkEvents::Remote(remote.subscribe()),
        }
    }

    /// The catalog in use: the inspector's tools, the probe's and replays' catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        match self {
            Link::Local(bridge) => bridge.catalog(),
            Link::Remote(remote) => remote.catalog(),
        }
    }

    /// Everything the console shows, read in one go.
    pub async fn load(&self) -> Result<Snapshot> {
        match self {
            Link::Local(bridge) => Ok(crate::bridge::calls::snapshot(bridge).await?),
            Link::Remote(remote) => Ok(remote.load().await?),
        }
    }

    async fn remote<T: DeserializeOwned>(remote: &RemoteBridge, call: BridgeCall) -> Result<T> {
        Ok(remote.call(call).await?)
    }

    pub async fn create_session(&self, options: CreateSession) -> Result<SessionSummary> {
        match self {
            Link::Local(bridge) => Ok(bridge.create_session(options).await?),
            Link::Remote(remote) => {
                let call = BridgeCall::CreateSession {
                    cwd: options.cwd,
                    approval_policy: options.approval_policy,
                    sandbox: options.sandbox,
                    app_server: options.app_server,
                };
                Self::remote(remote, call).await
            }
        }
    }

    pub async fn send_message(&self, thread_id: &str, text: &str) -> Result<String> {
        match self {
            Link::Local(bridge) => Ok(bridge.send_message(thread_id, text).await?),
            Link::Remote(remote) => {
                let call = BridgeCall::Send {
                    thread_id: thread_id.to_string(),
                    text: text.to_string(),
                };
                Self::remote(remote, call).await
            }
        }
    }

    pub async fn interrupt(&self, thread_id: &str) -> Result<String> {
        match self {
            Link::Local(bridge) => Ok(bridge.interrupt(thread_id).await?),
            Link::Remote(remote) => {
                let thread_id = thread_id.to_string();
                Self::remote(remote, BridgeCall::Interrupt { thread_id }).await
            }
        }
    }

    pub async fn close_session(&self, thread_id: &str) -> Result<()> {
        match self {
            Link::Local(bridge) => Ok(bridge.close_session(thread_id).await?),
            Link::Remote(remote) => {
                let thread_id = thread_id.to_string();
                Self::remote(remote, BridgeCall::Close { thread_id }).await
            }
        }
    }

    pub async fn rename_session(&self, thread_id: &str, name: &str) -> Result<()> {
        match self {
            Link::Local(bridge) => Ok(bridge.rename_session(thread_id, name).await?),
            Link::Remote(remote) => {
                let call = BridgeCall::Rename {
                    thread_id: thread_id.to_string(),
                    name: name.to_string(),
                };
                Self::remote(remote, call).await
            }
        }
    }

    pub async fn resume_session(&self, thread_id: &str) -> Result<SessionSummary> {
        match self {
            Link::Local(bridge) => Ok(bridge.resume_session(thread_id).await?),
            Link::Remote(remote) => {
                let thread_id = thread_id.to_string();
                Self::remote(remote, BridgeCall::Resume { thread_id }).await
            }
        }
    }

    pub async fn list_threads(&self) -> Result<Vec<ThreadInfo>> {
        match self {
            Link::Local(bridge) => Ok(bridge.list_threads().await?),
            Link::Remote(remote) => Self::remote(remote, BridgeCall::ListThreads).await,
        }
    }

    /// The loaded threads of every app-server, and those that could not list theirs.
    pub async fn loaded_threads(&self) -> Result<LoadedThreads> {
        match self {
            Link::Local(bridge) => Ok(bridge.loaded_threads_of_fleet().await?),
            Link::Remote(remote) => Self::remote(remote, BridgeCall::ListLoaded).await,
        }
    }

    /// Watches a thread on the named app-server (`None`: the one that has it loaded).
    pub async fn watch_thread(
        &self,
        thread_id: &str,
        app_server: Option<&str>,
    ) -> Result<SessionSummary> {
        match self {
            Link::Local(bridge) => Ok(bridge.watch_thread_on(thread_id, app_server).await?),
            Link::Remote(remote) => {
                let call = BridgeCall::Watch {
                    thread_id: thread_id.to_string(),
                    app_server: app_server.map(str::to_string),
                };
                Self::remote(remote, call).await
            }
        }
    }

    pub async fn detach(&self, thread_id: &str) -> Result<()> {
        match self {
            Link::Local(bridge) => Ok(bridge.detach(thread_id).await?),
            Link::Remote(remote) => {
                let thread_id = thread_id.to_string();
                Self::remote(remote, BridgeCall::Detach { thread_id }).await
            }
        }
    }

    pub async fn set_auto_answer(&self, thread_id: &str, on: bool) -> Result<SessionSummary> {
        match self {
            Link::Local(bridge) => Ok(bridge.set_auto_answer(thread_id, on).await?),
            Link::Remote(remote) => {
                let thread_id = thread_id.to_string();
                Self::remote(remote, BridgeCall::SetAutoAnswer { thread_id, on }).await
            }
        }
    }

    /// Answers a tool call as the person at this console (over the link: credited to
    /// the console's client name), with its claim when it holds one.
    pub async fn respond_claimed(
        &self,
        request_id: &str,
        result: ToolCallResult,
        claim_id: Option<&str>,
    ) -> Result<RespondOutcome> {
        match self {
            Link::Local(bridge) => Ok(bridge
                .respond_claimed(request_id, result, Responder::Operator, claim_id)
                .await?),
            Link::Remote(remote) => {
                let call = BridgeCall::Respond {
                    request_id: request_id.to_string(),
                    result,
                    claim_id: claim_id.map(str::to_string),
                };
                Self::remote(remote, call).await
            }
        }
    }

    /// Claims a pending request for the person at this console (or renews, or takes
    /// over).
    pub async fn claim_request(&self, request_id: &str, ask: ClaimAsk) -> Result<ClaimOutcome> {
        match self {
            Link::Local(bridge) => Ok(bridge.claim_request(request_id, ask).await?),
            Link::Remote(remote) => {
                let call = BridgeCall::Claim {
                    request_id: request_id.to_string(),
                    holder: ask.holder,
                    lease_ms: u64::try_from(ask.lease.as_millis()).unwrap_or(u64::MAX),
                    claim_id: ask.claim_id,
                    takeover: ask.takeover,
                };
                Self::remote(remote, call).await
            }
        }
    }

    pub async fn release_claim(&self, request_id: &str, claim_id: &str) -> Result<ReleaseOutcome> {
        match self {
            Link::Local(bridge) => Ok(bridge.release_claim(request_id, claim_id).await?),
            Link::Remote(remote) => {
                let call = BridgeCall::Release {
                    request_id: request_id.to_string(),
                    claim_id: claim_id.to_string(),
                };
                Self::remote(remote, call).await
            }
        }
    }

    /// Runs a call's handler now: its result and the handler's own failure.
    pub async fn run_handler(&self, request_id: &str) -> Result<(ToolCallResult, Option<String>)> {
        match self {
            Link::Local(bridge) => {
                let outcome = bridge.run_handler(request_id).await?;
                Ok((outcome.result, outcome.failure))
            }
            Link::Remote(remote) => {
                let request_id = request_id.to_string();
                Self::remote(remote, BridgeCall::RunHandler { request_id }).await
            }
        }
    }

    pub async fn set_hold(&self, change: HoldChange) -> Result<HoldState> {
        match self {
            Link::Local(bridge) => Ok(bridge.set_hold(change).await?),
            Link::Remote(remote) => {
                let call = match change {
                    HoldChange::All(held) => BridgeCall::SetHold { tool: None, held },
                    HoldChange::Tool { tool, held } => BridgeCall::SetHold {
                        tool: Some(tool),
                        held,
                    },
                };
                Self::remote(remote, call).await
            }
        }
    }

    /// Answers an approval, a question or an elicitation as the person at this console,
    /// with its claim when it holds one.
    pub async fn answer_request_claimed(
        &self,
        request_id: &str,
        answer: serde_json::Value,
        claim_id: Option<&str>,
    ) -> Result<AnswerOutcome> {
        match self {
            Link::Local(bridge) => Ok(bridge
                .answer_request_claimed(request_id, answer, Responder::Operator, claim_id)
                .await?),
            Link::Remote(remote) => {
                let call = BridgeCall::AnswerRequest {
                    request_id: request_id.to_string(),
                    answer,
                    claim_id: claim_id.map(str::to_string),
                };
                Self::remote(remote, call).await
            }
        }
    }

    pub async fn pending_requests(&self) -> Result<Vec<PendingRequestView>> {
        match self {
            Link::Local(bridge) => Ok(bridge.pending_requests(None).await?),
            Link::Remote(remote) => Self::remote(remote, BridgeCall::ListRequests).await,
        }
    }

    /// Asks app-server's connection to be tried again (the bridge's, not the link's).
    pub async fn reconnect(&self) -> Result<()> {
        match self {
            Link::Local(bridge) => Ok(bridge.reconnect().await?),
            Link::Remote(remote) => Self::remote(remote, BridgeCall::Reconnect).await,
        }
    }
}

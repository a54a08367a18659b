//! Notifications from app-server, typed where the bridge acts on them; every other
//! method is kept raw under `Other`, so a newer server never breaks the bridge.

use serde::Deserialize;
use serde_json::Value;

use super::jsonrpc::{Notification, RequestId};
use super::thread::{ThreadInfo, ThreadItem, ThreadStatus, TokenUsage, TurnError, TurnInfo};
use super::types::method;

/// A notification from app-server, typed where the bridge acts on it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerNotification {
    ThreadStarted {
        thread: ThreadInfo,
    },
    ThreadStatusChanged {
        thread_id: String,
        status: String,
    },
    ThreadClosed {
        thread_id: String,
    },
    TurnStarted {
        thread_id: String,
        turn: TurnInfo,
    },
    TurnCompleted {
        thread_id: String,
        turn: TurnInfo,
    },
    ItemStarted {
        thread_id: String,
        turn_id: String,
        item: ThreadItem,
        /// What the item shows the session doing ("running `cargo test`", "thinking"),
        /// from the raw item (see [`super::thread::item_activity`]).
        activity: Option<String>,
    },
    ItemCompleted {
        thread_id: String,
        turn_id: String,
        item: ThreadItem,
    },
    AgentMessageDelta {
        thread_id: String,
        turn_id: String,
        item_id: String,
        delta: String,
    },
    Error {
        thread_id: Option<String>,
        turn_id: Option<String>,
        message: String,
        will_retry: bool,
    },
    Warning {
        thread_id: Option<String>,
        message: String,
    },
    /// A server request ended (answered, or cleared by turn cleanup). codex sends it for
    /// every request but `item/tool/call`.
    ServerRequestResolved {
        thread_id: String,
        request_id: RequestId,
    },
    /// The thread's name changed (`thread/name/set`, by us or another client); `None`
    /// when it was cleared.
    ThreadNameUpdated {
        thread_id: String,
        name: Option<String>,
    },
    /// The thread's token usage after a model response.
    TokenUsageUpdated {
        thread_id: String,
        turn_id: String,
        usage: TokenUsage,
    },
    /// The account's rate limits: a sparse update, to merge into the last one.
    RateLimitsUpdated {
        rate_limits: Value,
    },
    Other {
        method: String,
        params: Value,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameParams {
    thread_id: String,
    #[serde(default)]
    thread_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenUsageParams {
    thread_id: String,
    #[serde(default)]
    turn_id: String,
    token_usage: TokenUsage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitsParams {
    rate_limits: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadAndTurn {
    thread_id: String,
    turn: TurnInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemParams {
    thread_id: String,
    turn_id: String,
    item: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaParams {
    thread_id: String,
    turn_id: String,
    item_id: String,
    delta: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorParams {
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    turn_id: Option<String>,
    error: TurnError,
    #[serde(default)]
    will_retry: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WarningParams {
    #[serde(default)]
    thread_id: Option<String>,
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusParams {
    thread_id: String,
    status: ThreadStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadIdParams {
    thread_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResolvedParams {
    thread_id: String,
    request_id: RequestId,
}

#[derive(Deserialize)]
struct ThreadParams {
    thread: ThreadInfo,
}

impl ServerNotification {
    /// Types a notification. A known method whose params do not parse is kept as
    /// `Other` (and the caller logs it) rather than failing the connection.
    pub fn from_notification(n: &Notification) -> Result<ServerNotification, serde_json::Error> {
        let params = n.params.clone().unwrap_or(Value::Null);
        let typed = match n.method.as_str() {
            method::THREAD_STARTED => {
                let p: ThreadParams = serde_json::from_value(params)?;
                ServerNotification::ThreadStarted { thread: p.thread }
            }
            method::THREAD_STATUS_CHANGED => {
                let p: StatusParams = serde_json::from_value(params)?;
                ServerNotification::ThreadStatusChanged {
                    thread_id: p.thread_id,
                    status: p.status.kind,
                }
            }
            method::THREAD_CLOSED => {
                let p: ThreadIdParams = serde_json::from_value(params)?;
                ServerNotification::ThreadClosed {
                    thread_id: p.thread_id,
                }
            }
            method::TURN_STARTED | method::TURN_COMPLETED => {
                let p: ThreadAndTurn = serde_json::from_value(params)?;
                if n.method == method::TURN_STARTED {
                    ServerNotification::TurnStarted {
                        thread_id: p.thread_id,
                        turn: p.turn,
                    }
                } else {
                    ServerNotification::TurnCompleted {
                        thread_id: p.thread_id,
                        turn: p.turn,
                    }
                }
            }
            method::ITEM_STARTED | method::ITEM_COMPLETED => {
                let p: ItemParams = serde_json::from_value(params)?;
                let item = ThreadItem::from_value(&p.item);
                if n.method == method::ITEM_STARTED {
                    ServerNotification::ItemStarted {
                        thread_id: p.thread_id,
                        turn_id: p.turn_id,
                        item,
                        activity: super::thread::item_activity(&p.item),
                    }
                } else {
                    ServerNotification::ItemCompleted {
                        thread_id: p.thread_id,
                        turn_id: p.turn_id,
                        item,
                    }
                }
            }
            method::AGENT_MESSAGE_DELTA => {
                let p: DeltaParams = serde_json::from_value(params)?;
                ServerNotification::AgentMessageDelta {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    item_id: p.item_id,
                    delta: p.delta,
                }
            }
            method::ERROR => {
                let p: ErrorParams = serde_json::from_value(params)?;
                ServerNotification::Error {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    message: p.error.message,
                    will_retry: p.will_retry,
                }
            }
            method::WARNING => {
                let p: WarningParams = serde_json::from_value(params)?;
                ServerNotification::Warning {
                    thread_id: p.thread_id,
                    message: p.message,
                }
            }
            method::SERVER_REQUEST_RESOLVED => {
                let p: ResolvedParams = serde_json::from_value(params)?;
                ServerNotification::ServerRequestResolved {
                    thread_id: p.thread_id,
                    request_id: p.request_id,
                }
            }
            method::THREAD_NAME_UPDATED => {
                let p: NameParams = serde_json::from_value(params)?;
                ServerNotification::ThreadNameUpdated {
                    thread_id: p.thread_id,
                    name: p.thread_name.filter(|n| !n.trim().is_empty()),
                }
            }
            method::THREAD_TOKEN_USAGE_UPDATED => {
                let p: TokenUsageParams = serde_json::from_value(params)?;
                ServerNotification::TokenUsageUpdated {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    usage: p.token_usage,
                }
            }
            method::ACCOUNT_RATE_LIMITS_UPDATED => {
                let p: RateLimitsParams = serde_json::from_value(params)?;
                ServerNotification::RateLimitsUpdated {
                    rate_limits: p.rate_limits,
                }
            }
            _ => ServerNotification::Other {
                method: n.method.clone(),
                params,
            },
        };
        Ok(typed)
    }

    /// The thread a notification belongs to, when it names one.
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            ServerNotification::ThreadStarted { thread } => Some(&thread.id),
            ServerNotification::ThreadStatusChanged { thread_id, .. }
            | ServerNotification::ThreadClosed { thread_id }
            | ServerNotification::TurnStarted { thread_id, .. }
            | ServerNotification::TurnCompleted { thread_id, .. }
            | ServerNotification::ItemStarted { thread_id, .. }
            | ServerNotification::ItemCompleted { thread_id, .. }
            | ServerNotification::AgentMessageDelta { thread_id, .. }
            | ServerNotification::ServerRequestResolved { thread_id, .. }
            | ServerNotification::ThreadNameUpdated { thread_id, .. }
            | ServerNotification::TokenUsageUpdated { thread_id, .. } => Some(thread_id),
            ServerNotification::RateLimitsUpdated { .. } => None,
            ServerNotification::Error { thread_id, .. }
            | ServerNotification::Warning { thread_id, .. } => thread_id.as_deref(),
            ServerNotification::Other { params, .. } => {
                params.get("threadId").and_then(Value::as_str)
            }
        }
    }
}

//! Threads and turns: the `thread/start`, `thread/resume` and `turn/start` params and
//! replies, and the parts of app-server's `Thread`, `Turn` and items the bridge tracks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A tool as declared to app-server in `thread/start.dynamicTools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_loading: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_details: Option<String>,
}

/// The parts of app-server's `Turn` that the bridge tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnInfo {
    pub id: String,
    pub status: TurnStatus,
    #[serde(default)]
    pub error: Option<TurnError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TurnStatus {
    InProgress,
    Completed,
    Interrupted,
    Failed,
}

impl TurnStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, TurnStatus::InProgress)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::InProgress => "inProgress",
            TurnStatus::Completed => "completed",
            TurnStatus::Interrupted => "interrupted",
            TurnStatus::Failed => "failed",
        }
    }
}

/// The parts of app-server's `Thread` that the bridge tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadInfo {
    pub id: String,
    #[serde(default)]
    pub preview: String,
    #[serde(default)]
    pub model_provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub status: Option<ThreadStatus>,
    #[serde(default)]
    pub turns: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadStatus {
    #[serde(rename = "type")]
    pub kind: String,
}

/// One user-visible item of a thread, reduced to what a transcript needs.
#[derive(Debug, Clone, PartialEq)]
pub enum ThreadItem {
    UserMessage {
        id: String,
        text: String,
    },
    AgentMessage {
        id: String,
        text: String,
    },
    DynamicToolCall {
        id: String,
        tool: String,
        status: String,
        success: Option<bool>,
        content_items: Option<Value>,
    },
    /// A patch codex is about to apply (on `item/started`) or applied (`item/completed`):
    /// `changes` is `[{path, kind: {type: add|delete|update, move_path?}, diff}]`.
    FileChange {
        id: String,
        status: String,
        changes: Value,
    },
    Other {
        kind: String,
        id: String,
    },
}

/// Tokens of one kind of count (`thread/tokenUsage/updated`'s `total` and `last`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenBreakdown {
    pub total_tokens: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
}

/// A thread's token usage: the whole thread so far, the last model response, and the
/// model's context window when codex knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenUsage {
    pub total: TokenBreakdown,
    pub last: TokenBreakdown,
    pub model_context_window: Option<u64>,
}

/// What an item that just started shows its session doing, for people: "running
/// `cargo test`", "running tool crm.get", "thinking", "editing 3 files". `None` for
/// items that are not work (the user's own message).
pub fn item_activity(item: &Value) -> Option<String> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
    let activity = match text("type") {
        "commandExecution" => {
            let command = match item.get("command") {
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                Some(Value::String(command)) => command.clone(),
                _ => String::new(),
            };
            let command = command
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let cut = super::types::truncate_chars(&command, 40);
            if cut.len() < command.len() {
                format!("running `{cut}…`")
            } else {
                format!("running `{command}`")
            }
        }
        "dynamicToolCall" => match item.get("namespace").and_then(Value::as_str) {
            Some(namespace) if !namespace.is_empty() => {
                format!("running tool {namespace}.{}", text("tool"))
            }
            _ => format!("running tool {}", text("tool")),
        },
        "mcpToolCall" => format!("running {}.{}", text("server"), text("tool")),
        "fileChange" => match item.get("changes") {
            Some(Value::Array(changes)) if changes.len() == 1 => "editing 1 file".to_string(),
            Some(Value::Array(changes)) => format!("editing {} files", changes.len()),
            Some(Value::Object(changes)) if changes.len() == 1 => "editing 1 file".to_string(),
            Some(Value::Object(changes)) => format!("editing {} files", changes.len()),
            _ => "editing files".to_string(),
        },
        "reasoning" => "thinking".to_string(),
        "agentMessage" => "writing".to_string(),
        "webSearch" => "searching the web".to_string(),
        "imageView" => "viewing an image".to_string(),
        "contextCompaction" => "compacting the context".to_string(),
        "plan" => "planning".to_string(),
        "userMessage" | "" => return None,
        other => format!("working ({other})"),
    };
    Some(activity)
}

impl ThreadItem {
    pub fn from_value(value: &Value) -> ThreadItem {
        let text_of = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let id = text_of("id");
        match value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "userMessage" => {
                let text = value
                    .get("content")
                    .and_then(Value::as_array)
                    .map(|parts| {
                        parts
                            .iter()
                            .filter_map(|p| p.get("text").and_then(Value::as_str))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default();
                ThreadItem::UserMessage { id, text }
            }
            "agentMessage" => ThreadItem::AgentMessage {
                id,
                text: text_of("text"),
            },
            "dynamicToolCall" => ThreadItem::DynamicToolCall {
                id,
                tool: text_of("tool"),
                status: text_of("status"),
                success: value.get("success").and_then(Value::as_bool),
                content_items: value.get("contentItems").filter(|v| !v.is_null()).cloned(),
            },
            "fileChange" => ThreadItem::FileChange {
                id,
                status: text_of("status"),
                changes: value.get("changes").cloned().unwrap_or(Value::Null),
            },
            other => ThreadItem::Other {
                kind: other.to_string(),
                id,
            },
        }
    }
}

/// The `clientInfo.name` Switchboard gives app-server: a thread's `originator` is the
/// name of the client that started it, so this tells Switchboard's threads apart.
pub const CLIENT_NAME: &str = "switchboard";

/// `thread/loaded/list` reply: the ids of the threads app-server has in memory (of
/// every client), a page at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadLoadedListResponse {
    pub data: Vec<String>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `initialize` params: dynamic tools need `experimentalApi`.
pub fn initialize_params(client_name: &str, client_version: &str) -> Value {
    serde_json::json!({
        "clientInfo": { "name": client_name, "title": "Switchboard", "version": client_version },
        "capabilities": { "experimentalApi": true },
    })
}

/// `thread/start` params. Unset fields fall back to codex's own configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStartParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `untrusted`, `on-failure`, `on-request` or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<String>,
    /// `read-only`, `workspace-write` or `danger-full-access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// codex configuration overrides, e.g. `sandbox_workspace_write.network_access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// The legacy flat list of [`DynamicToolSpec`]s or the canonical shape (`{type:
    /// "function"|"namespace", ..}`); the catalog picks one (`Catalog::thread_start_tools`),
    /// since codex refuses a mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_tools: Option<Value>,
}

/// The reply to `thread/start` and `thread/resume`: the thread and the settings it runs
/// with. The raw thread object is kept for consumers that show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStartResponse {
    pub thread: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One input item of a turn; Switchboard sends text only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum TurnInput {
    Text { text: String },
}

/// `turn/start` params. The overrides apply to this turn and the ones after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnStartParams {
    pub thread_id: String,
    pub input: Vec<TurnInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<String>,
    /// A `SandboxPolicy` object: `{"type":"readOnly"|"workspaceWrite"|"dangerFullAccess",..}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_policy: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnStartResponse {
    pub turn: TurnInfo,
}

/// `turn/interrupt` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnInterruptParams {
    pub thread_id: String,
    pub turn_id: String,
}

/// Params naming one thread: `thread/resume`, `thread/unsubscribe`, `thread/read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadIdParams {
    pub thread_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thread_and_turn_params_write_what_app_server_reads() {
        let params = ThreadStartParams {
            cwd: Some("/w".to_string()),
            approval_policy: Some("untrusted".to_string()),
            dynamic_tools: Some(
                serde_json::to_value(vec![DynamicToolSpec {
                    name: "t".to_string(),
                    description: "d".to_string(),
                    input_schema: json!({"type":"object"}),
                    namespace: None,
                    defer_loading: None,
                }])
                .unwrap(),
            ),
            ..ThreadStartParams::default()
        };
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({"cwd":"/w","approvalPolicy":"untrusted",
                   "dynamicTools":[{"name":"t","description":"d","inputSchema":{"type":"object"}}]})
        );
        let turn = TurnStartParams {
            thread_id: "T".to_string(),
            input: vec![TurnInput::Text {
                text: "hi".to_string(),
            }],
            model: None,
            effort: None,
            approval_policy: Some("never".to_string()),
            sandbox_policy: Some(json!({"type":"dangerFullAccess"})),
        };
        assert_eq!(
            serde_json::to_value(&turn).unwrap(),
            json!({"threadId":"T","input":[{"type":"text","text":"hi"}],"approvalPolicy":"never",
                   "sandboxPolicy":{"type":"dangerFullAccess"}})
        );
    }
}

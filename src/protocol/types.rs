//! Typed app-server messages: the subset of codex 0.169.0's v2 protocol that Switchboard
//! reads or writes. Everything else is kept as raw JSON under an `Other` variant so that a
//! newer server never breaks the bridge.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jsonrpc::{Notification, Request};

pub mod method {
    pub const INITIALIZE: &str = "initialize";
    pub const INITIALIZED: &str = "initialized";
    pub const THREAD_START: &str = "thread/start";
    pub const THREAD_RESUME: &str = "thread/resume";
    pub const THREAD_LIST: &str = "thread/list";
    pub const THREAD_READ: &str = "thread/read";
    pub const THREAD_UNSUBSCRIBE: &str = "thread/unsubscribe";
    pub const TURN_START: &str = "turn/start";
    pub const TURN_INTERRUPT: &str = "turn/interrupt";

    pub const TOOL_CALL: &str = "item/tool/call";

    pub const THREAD_STARTED: &str = "thread/started";
    pub const THREAD_STATUS_CHANGED: &str = "thread/status/changed";
    pub const THREAD_CLOSED: &str = "thread/closed";
    pub const TURN_STARTED: &str = "turn/started";
    pub const TURN_COMPLETED: &str = "turn/completed";
    pub const ITEM_STARTED: &str = "item/started";
    pub const ITEM_COMPLETED: &str = "item/completed";
    pub const AGENT_MESSAGE_DELTA: &str = "item/agentMessage/delta";
    pub const ERROR: &str = "error";
    pub const WARNING: &str = "warning";
    pub const SERVER_REQUEST_RESOLVED: &str = "serverRequest/resolved";
}

/// One item of a tool-call answer, as app-server accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ContentItem {
    InputText {
        text: String,
    },
    #[serde(rename_all = "camelCase")]
    InputImage {
        image_url: String,
    },
    #[serde(rename_all = "camelCase")]
    InputAudio {
        audio_url: String,
    },
}

impl ContentItem {
    pub fn text(text: impl Into<String>) -> Self {
        ContentItem::InputText { text: text.into() }
    }
}

/// The result of an `item/tool/call` request: what the model gets back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallResult {
    pub content_items: Vec<ContentItem>,
    pub success: bool,
}

impl ToolCallResult {
    pub fn text(success: bool, text: impl Into<String>) -> Self {
        ToolCallResult {
            content_items: vec![ContentItem::text(text)],
            success,
        }
    }

    /// Checks what serde cannot: an image or audio item needs a non-empty URL.
    pub fn validate(&self) -> Result<(), String> {
        for (index, item) in self.content_items.iter().enumerate() {
            match item {
                ContentItem::InputText { .. } => {}
                ContentItem::InputImage { image_url } if image_url.trim().is_empty() => {
                    return Err(format!("contentItems[{index}].imageUrl must not be empty"));
                }
                ContentItem::InputAudio { audio_url } if audio_url.trim().is_empty() => {
                    return Err(format!("contentItems[{index}].audioUrl must not be empty"));
                }
                ContentItem::InputImage { .. } | ContentItem::InputAudio { .. } => {}
            }
        }
        Ok(())
    }

    /// All text items joined, for summaries and for quoting in transcripts.
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for item in &self.content_items {
            if !out.is_empty() {
                out.push('\n');
            }
            match item {
                ContentItem::InputText { text } => out.push_str(text),
                ContentItem::InputImage { image_url } => {
                    out.push_str("[image ");
                    out.push_str(truncate_chars(image_url, 60));
                    out.push(']');
                }
                ContentItem::InputAudio { audio_url } => {
                    out.push_str("[audio ");
                    out.push_str(truncate_chars(audio_url, 60));
                    out.push(']');
                }
            }
        }
        out
    }
}

/// A prefix of at most `max` characters, cut on a character boundary.
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((byte, _)) => &text[..byte],
        None => text,
    }
}

/// Parses a tool-call answer strictly, with a message that says what to fix.
pub fn parse_tool_call_result(value: Value) -> Result<ToolCallResult, String> {
    let Value::Object(map) = &value else {
        return Err(format!(
            "a tool-call result must be a JSON object with contentItems and success, got {}",
            json_kind(&value)
        ));
    };
    if !map.contains_key("contentItems") {
        return Err("a tool-call result needs a contentItems array".to_string());
    }
    if let Some(key) = map
        .keys()
        .find(|k| k.as_str() != "contentItems" && k.as_str() != "success")
    {
        return Err(format!(
            "unknown field {key:?} in a tool-call result: only contentItems and success are allowed"
        ));
    }
    let mut map = map.clone();
    // `success` defaults to true, as in codex-manager's response route.
    map.entry("success").or_insert(Value::Bool(true));
    let result: ToolCallResult =
        serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            format!("invalid tool-call result at {path}: {inner} (content items are {{\"type\":\"inputText\",\"text\":..}}, {{\"type\":\"inputImage\",\"imageUrl\":..}} or {{\"type\":\"inputAudio\",\"audioUrl\":..}})")
        })?;
    result.validate()?;
    Ok(result)
}

pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

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

/// Params of the `item/tool/call` server request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicToolCallParams {
    pub thread_id: String,
    pub turn_id: String,
    pub call_id: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub tool: String,
    /// Not validated by codex against the tool's schema: any JSON value can arrive.
    #[serde(default)]
    pub arguments: Value,
}

/// A request app-server sends to its client.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerRequest {
    ToolCall(DynamicToolCallParams),
    /// Approvals, user input, elicitation and anything newer: answered by policy.
    Other {
        method: String,
        params: Value,
    },
}

impl ServerRequest {
    pub fn from_request(request: &Request) -> Result<ServerRequest, serde_json::Error> {
        let params = request.params.clone().unwrap_or(Value::Null);
        if request.method == method::TOOL_CALL {
            return serde_json::from_value(params).map(ServerRequest::ToolCall);
        }
        Ok(ServerRequest::Other {
            method: request.method.clone(),
            params,
        })
    }
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
    Other {
        kind: String,
        id: String,
    },
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
            other => ThreadItem::Other {
                kind: other.to_string(),
                id,
            },
        }
    }
}

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
    Other {
        method: String,
        params: Value,
    },
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
            | ServerNotification::AgentMessageDelta { thread_id, .. } => Some(thread_id),
            ServerNotification::Error { thread_id, .. }
            | ServerNotification::Warning { thread_id, .. } => thread_id.as_deref(),
            ServerNotification::Other { params, .. } => {
                params.get("threadId").and_then(Value::as_str)
            }
        }
    }
}

/// `initialize` params: dynamic tools need `experimentalApi`.
pub fn initialize_params(client_name: &str, client_version: &str) -> Value {
    serde_json::json!({
        "clientInfo": { "name": client_name, "title": "Switchboard", "version": client_version },
        "capabilities": { "experimentalApi": true },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_call_results_are_parsed_strictly_with_the_failing_path() {
        let ok = parse_tool_call_result(json!({"contentItems":[{"type":"inputText","text":"hi"}]}))
            .unwrap();
        assert_eq!(ok, ToolCallResult::text(true, "hi"));
        let cases = [
            (json!("text"), "got a string"),
            (json!({"success": true}), "needs a contentItems array"),
            (json!({"contentItems": 42}), "at contentItems"),
            (json!({"contentItems": [], "success": "yes"}), "at success"),
            (
                json!({"contentItems": [{"type":"bogus"}]}),
                "at contentItems[0]",
            ),
            (
                json!({"contentItems": [{"type":"inputImage","imageUrl":" "}]}),
                "imageUrl must not be empty",
            ),
            (
                json!({"contentItems": [], "extra": 1}),
                "unknown field \"extra\"",
            ),
        ];
        for (value, expected) in cases {
            let err = parse_tool_call_result(value.clone()).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
    }
}

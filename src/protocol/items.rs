//! The thread items of a codex turn, typed from the pinned app-server's schema (0.171.0;
//! 0.169.0 has the same item kinds), and the notifications that carry them or stream
//! into them: `item/started`, `item/completed`, the output, reasoning and plan deltas,
//! `turn/plan/updated` and `turn/diff/updated`; and what else of a turn a transcript
//! shows: hook runs, model reroutes, warnings and errors (same shapes in both versions).
//!
//! Nothing is dropped: every typed item keeps the fields Switchboard does not name in
//! `extra`, so an item written back is the item read; an item whose `type` is not known
//! here (or whose known shape does not parse) is kept whole as [`Item::Unknown`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jsonrpc::Notification;

pub mod method {
    pub const ITEM_STARTED: &str = "item/started";
    pub const ITEM_COMPLETED: &str = "item/completed";
    pub const AGENT_MESSAGE_DELTA: &str = "item/agentMessage/delta";
    pub const COMMAND_OUTPUT_DELTA: &str = "item/commandExecution/outputDelta";
    pub const FILE_CHANGE_OUTPUT_DELTA: &str = "item/fileChange/outputDelta";
    pub const REASONING_SUMMARY_DELTA: &str = "item/reasoning/summaryTextDelta";
    pub const REASONING_SUMMARY_PART_ADDED: &str = "item/reasoning/summaryPartAdded";
    pub const REASONING_TEXT_DELTA: &str = "item/reasoning/textDelta";
    pub const PLAN_DELTA: &str = "item/plan/delta";
    pub const TURN_PLAN_UPDATED: &str = "turn/plan/updated";
    pub const TURN_DIFF_UPDATED: &str = "turn/diff/updated";
    pub const HOOK_STARTED: &str = "hook/started";
    pub const HOOK_COMPLETED: &str = "hook/completed";
    pub const MODEL_REROUTED: &str = "model/rerouted";
    pub const SAFETY_BUFFERING_UPDATED: &str = "model/safetyBuffering/updated";
    pub const WARNING: &str = "warning";
    pub const GUARDIAN_WARNING: &str = "guardianWarning";
    pub const CONFIG_WARNING: &str = "configWarning";
    pub const DEPRECATION_NOTICE: &str = "deprecationNotice";
    pub const ERROR: &str = "error";
}

/// One run of a configured hook (`run` of `hook/started` and `hook/completed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    pub id: String,
    /// `preToolUse`, `postToolUse`, `sessionStart`, `stop`, ..
    pub event_name: String,
    /// `command`, `mcpTool`, `prompt` or `agent`.
    pub handler_type: String,
    /// `running`, `completed`, `failed`, `blocked` or `stopped`.
    pub status: String,
    #[serde(default)]
    pub status_message: Option<String>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(default)]
    pub entries: Vec<HookOutputEntry>,
    #[serde(default)]
    pub source_path: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a hook printed: `kind` is `warning`, `stop`, `feedback`, `context` or `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookOutputEntry {
    pub kind: String,
    pub text: String,
}

/// Which notification a warning came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// `warning`: codex's own (an unknown model's metadata, ..).
    Warning,
    /// `guardianWarning`: the safety guardian's.
    Guardian,
    /// `configWarning`: a problem in a config file (`path`).
    Config,
    /// `deprecationNotice`.
    Deprecation,
    /// `model/safetyBuffering/updated`: the model's answers are held back for a safety
    /// check (`reasons`), or another model is suggested.
    SafetyBuffering,
}

/// `commandExecution`: a shell command codex runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecution {
    pub id: String,
    pub command: String,
    pub cwd: String,
    /// `inProgress`, `completed`, `failed` or `declined`.
    pub status: String,
    #[serde(default)]
    pub aggregated_output: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One file of a `fileChange` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileUpdateChange {
    pub path: String,
    /// `{type: add|delete|update, move_path?}`.
    pub kind: Value,
    pub diff: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FileUpdateChange {
    /// `add`, `delete` or `update` (or what a newer codex says).
    pub fn kind_name(&self) -> &str {
        self.kind
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("update")
    }

    pub fn move_path(&self) -> Option<&str> {
        self.kind.get("move_path").and_then(Value::as_str)
    }
}

/// `fileChange`: a patch codex applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    pub id: String,
    pub changes: Vec<FileUpdateChange>,
    /// `inProgress`, `completed`, `failed` or `declined`.
    pub status: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `reasoning`: the model's reasoning summary (and raw content, when codex shows it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reasoning {
    pub id: String,
    #[serde(default)]
    pub summary: Vec<String>,
    #[serde(default)]
    pub content: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `mcpToolCall`: a call to a tool of an MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpToolCall {
    pub id: String,
    pub server: String,
    pub tool: String,
    /// `inProgress`, `completed` or `failed`.
    pub status: String,
    pub arguments: Value,
    /// `{content: [..], structuredContent?}`.
    #[serde(default)]
    pub result: Option<Value>,
    /// `{message}`.
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl McpToolCall {
    pub fn error_message(&self) -> Option<&str> {
        self.error
            .as_ref()
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
    }
}

/// `webSearch`: a search the model ran; `action` says what it did
/// (`{type: search|openPage|findInPage, ..}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSearch {
    pub id: String,
    pub query: String,
    #[serde(default)]
    pub action: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An item with an id and one text field: `plan` (`text`), `imageView` (`path`),
/// `enteredReviewMode` / `exitedReviewMode` (`review`), `agentMessage` (`text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plain {
    pub id: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Plain {
    pub fn text(&self, key: &str) -> &str {
        self.extra.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// One thread item, typed by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    UserMessage(Plain),
    AgentMessage(Plain),
    DynamicToolCall(Plain),
    Plan(Plain),
    Reasoning(Reasoning),
    CommandExecution(CommandExecution),
    FileChange(FileChange),
    McpToolCall(McpToolCall),
    WebSearch(WebSearch),
    ImageView(Plain),
    EnteredReviewMode(Plain),
    ExitedReviewMode(Plain),
    ContextCompaction(Plain),
    /// A kind not typed here, or a known kind in a shape that did not parse: kept whole.
    Unknown {
        kind: String,
        raw: Value,
    },
}

impl Item {
    /// Types an item; never fails (see [`Item::Unknown`]).
    pub fn from_value(value: &Value) -> Item {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Option<T> {
            let mut value = value.clone();
            if let Some(map) = value.as_object_mut() {
                map.remove("type");
            }
            serde_json::from_value(value).ok()
        }
        let item = match kind {
            "userMessage" => typed(value).map(Item::UserMessage),
            "agentMessage" => typed(value).map(Item::AgentMessage),
            "dynamicToolCall" => typed(value).map(Item::DynamicToolCall),
            "plan" => typed(value).map(Item::Plan),
            "reasoning" => typed(value).map(Item::Reasoning),
            "commandExecution" => typed(value).map(Item::CommandExecution),
            "fileChange" => typed(value).map(Item::FileChange),
            "mcpToolCall" => typed(value).map(Item::McpToolCall),
            "webSearch" => typed(value).map(Item::WebSearch),
            "imageView" => typed(value).map(Item::ImageView),
            "enteredReviewMode" => typed(value).map(Item::EnteredReviewMode),
            "exitedReviewMode" => typed(value).map(Item::ExitedReviewMode),
            "contextCompaction" => typed(value).map(Item::ContextCompaction),
            _ => None,
        };
        item.unwrap_or_else(|| Item::Unknown {
            kind: kind.to_string(),
            raw: value.clone(),
        })
    }

    /// The item's wire `type`.
    pub fn kind(&self) -> &str {
        match self {
            Item::UserMessage(_) => "userMessage",
            Item::AgentMessage(_) => "agentMessage",
            Item::DynamicToolCall(_) => "dynamicToolCall",
            Item::Plan(_) => "plan",
            Item::Reasoning(_) => "reasoning",
            Item::CommandExecution(_) => "commandExecution",
            Item::FileChange(_) => "fileChange",
            Item::McpToolCall(_) => "mcpToolCall",
            Item::WebSearch(_) => "webSearch",
            Item::ImageView(_) => "imageView",
            Item::EnteredReviewMode(_) => "enteredReviewMode",
            Item::ExitedReviewMode(_) => "exitedReviewMode",
            Item::ContextCompaction(_) => "contextCompaction",
            Item::Unknown { kind, .. } => kind,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Item::UserMessage(p)
            | Item::AgentMessage(p)
            | Item::DynamicToolCall(p)
            | Item::Plan(p)
            | Item::ImageView(p)
            | Item::EnteredReviewMode(p)
            | Item::ExitedReviewMode(p)
            | Item::ContextCompaction(p) => &p.id,
            Item::Reasoning(r) => &r.id,
            Item::CommandExecution(c) => &c.id,
            Item::FileChange(f) => &f.id,
            Item::McpToolCall(m) => &m.id,
            Item::WebSearch(w) => &w.id,
            Item::Unknown { raw, .. } => raw.get("id").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The item as app-server sent it.
    pub fn to_value(&self) -> Value {
        fn tagged(kind: &str, body: Result<Value, serde_json::Error>) -> Value {
            let mut value = body.unwrap_or(Value::Null);
            if let Some(map) = value.as_object_mut() {
                map.insert("type".to_string(), Value::String(kind.to_string()));
            }
            value
        }
        let kind = self.kind();
        match self {
            Item::UserMessage(p)
            | Item::AgentMessage(p)
            | Item::DynamicToolCall(p)
            | Item::Plan(p)
            | Item::ImageView(p)
            | Item::EnteredReviewMode(p)
            | Item::ExitedReviewMode(p)
            | Item::ContextCompaction(p) => tagged(kind, serde_json::to_value(p)),
            Item::Reasoning(r) => tagged(kind, serde_json::to_value(r)),
            Item::CommandExecution(c) => tagged(kind, serde_json::to_value(c)),
            Item::FileChange(f) => tagged(kind, serde_json::to_value(f)),
            Item::McpToolCall(m) => tagged(kind, serde_json::to_value(m)),
            Item::WebSearch(w) => tagged(kind, serde_json::to_value(w)),
            Item::Unknown { raw, .. } => raw.clone(),
        }
    }
}

impl Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(Item::from_value(&value))
    }
}

/// One step of `turn/plan/updated`; `status` is `pending`, `inProgress` or `completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    pub step: String,
    pub status: String,
}

/// The notifications about a turn's items, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemNotification {
    Started {
        thread_id: String,
        turn_id: String,
        item: Item,
    },
    Completed {
        thread_id: String,
        turn_id: String,
        item: Item,
    },
    /// A streamed piece of an item's text: command output, agent message, reasoning
    /// summary or raw reasoning, plan text, patch output.
    Delta {
        thread_id: String,
        turn_id: String,
        item_id: String,
        stream: DeltaStream,
        delta: String,
    },
    ReasoningSummaryPartAdded {
        thread_id: String,
        turn_id: String,
        item_id: String,
        summary_index: i64,
    },
    PlanUpdated {
        thread_id: String,
        turn_id: String,
        explanation: Option<String>,
        plan: Vec<PlanStep>,
    },
    DiffUpdated {
        thread_id: String,
        turn_id: String,
        diff: String,
    },
    /// `hook/started` (`completed` false) or `hook/completed`.
    Hook {
        thread_id: String,
        turn_id: Option<String>,
        run: HookRun,
        completed: bool,
    },
    ModelRerouted {
        thread_id: String,
        turn_id: String,
        from_model: String,
        to_model: String,
        /// `highRiskCyberActivity`.
        reason: String,
    },
    /// A warning; `configWarning` and `deprecationNotice` belong to no thread.
    Warning {
        thread_id: Option<String>,
        turn_id: Option<String>,
        kind: WarningKind,
        message: String,
        details: Option<String>,
    },
    /// `error`: a turn's error, final or retried.
    Error {
        thread_id: String,
        turn_id: String,
        message: String,
        details: Option<String>,
        /// `codexErrorInfo` in a word (`usageLimitExceeded`, `httpConnectionFailed`, ..).
        code: Option<String>,
        will_retry: bool,
    },
}

/// Which text of an item a delta extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaStream {
    CommandOutput,
    AgentMessage,
    /// The summary part numbered `summaryIndex`.
    ReasoningSummary(i64),
    /// The raw reasoning part numbered `contentIndex`.
    ReasoningText(i64),
    Plan,
    FileChangeOutput,
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
    #[serde(default)]
    delta: String,
    #[serde(default)]
    summary_index: i64,
    #[serde(default)]
    content_index: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanParams {
    thread_id: String,
    turn_id: String,
    #[serde(default)]
    explanation: Option<String>,
    plan: Vec<PlanStep>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiffParams {
    thread_id: String,
    turn_id: String,
    diff: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookParams {
    thread_id: String,
    #[serde(default)]
    turn_id: Option<String>,
    run: HookRun,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RerouteParams {
    thread_id: String,
    turn_id: String,
    from_model: String,
    to_model: String,
    reason: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WarningParams {
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    turn_id: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    path: Option<String>,
    // model/safetyBuffering/updated
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    faster_model: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TurnErrorBody {
    message: String,
    #[serde(default)]
    additional_details: Option<String>,
    #[serde(default)]
    codex_error_info: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorParams {
    thread_id: String,
    turn_id: String,
    error: TurnErrorBody,
    #[serde(default)]
    will_retry: bool,
}

/// A JSON enum value in a word: a string as it is, an object by its one key.
fn word(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map.keys().next().cloned(),
        _ => None,
    }
}

impl WarningParams {
    fn into_notification(self, kind: WarningKind) -> ItemNotification {
        let (message, details) = match kind {
            WarningKind::Warning | WarningKind::Guardian => {
                (self.message.unwrap_or_default(), self.details)
            }
            WarningKind::Deprecation => (self.summary.unwrap_or_default(), self.details),
            WarningKind::Config => {
                let details = match (self.path, self.details) {
                    (Some(path), Some(details)) => Some(format!("{path}: {details}")),
                    (Some(path), None) => Some(path),
                    (None, details) => details,
                };
                (self.summary.unwrap_or_default(), details)
            }
            WarningKind::SafetyBuffering => {
                let model = self.model.unwrap_or_default();
                let message = match self.faster_model {
                    Some(faster) => format!(
                        "{model}: answers held for a safety check ({faster} would be faster)"
                    ),
                    None => format!("{model}: answers held for a safety check"),
                };
                let details = (!self.reasons.is_empty()).then(|| self.reasons.join(", "));
                (message, details)
            }
        };
        ItemNotification::Warning {
            thread_id: self.thread_id,
            turn_id: self.turn_id,
            kind,
            message,
            details,
        }
    }
}

impl ItemNotification {
    /// Types a notification about items: `None` for other methods, an error for one of
    /// these methods whose params do not parse.
    pub fn parse(n: &Notification) -> Option<Result<ItemNotification, serde_json::Error>> {
        let params = || n.params.clone().unwrap_or(Value::Null);
        let delta = |stream: fn(&DeltaParams) -> DeltaStream| {
            serde_json::from_value::<DeltaParams>(params()).map(|p| ItemNotification::Delta {
                stream: stream(&p),
                thread_id: p.thread_id,
                turn_id: p.turn_id,
                item_id: p.item_id,
                delta: p.delta,
            })
        };
        let parsed = match n.method.as_str() {
            method::ITEM_STARTED | method::ITEM_COMPLETED => {
                serde_json::from_value::<ItemParams>(params()).map(|p| {
                    let item = Item::from_value(&p.item);
                    if n.method == method::ITEM_STARTED {
                        ItemNotification::Started {
                            thread_id: p.thread_id,
                            turn_id: p.turn_id,
                            item,
                        }
                    } else {
                        ItemNotification::Completed {
                            thread_id: p.thread_id,
                            turn_id: p.turn_id,
                            item,
                        }
                    }
                })
            }
            method::COMMAND_OUTPUT_DELTA => delta(|_| DeltaStream::CommandOutput),
            method::AGENT_MESSAGE_DELTA => delta(|_| DeltaStream::AgentMessage),
            method::FILE_CHANGE_OUTPUT_DELTA => delta(|_| DeltaStream::FileChangeOutput),
            method::PLAN_DELTA => delta(|_| DeltaStream::Plan),
            method::REASONING_SUMMARY_DELTA => {
                delta(|p| DeltaStream::ReasoningSummary(p.summary_index))
            }
            method::REASONING_TEXT_DELTA => delta(|p| DeltaStream::ReasoningText(p.content_index)),
            method::REASONING_SUMMARY_PART_ADDED => serde_json::from_value::<DeltaParams>(params())
                .map(|p| ItemNotification::ReasoningSummaryPartAdded {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    item_id: p.item_id,
                    summary_index: p.summary_index,
                }),
            method::TURN_PLAN_UPDATED => serde_json::from_value::<PlanParams>(params()).map(|p| {
                ItemNotification::PlanUpdated {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    explanation: p.explanation,
                    plan: p.plan,
                }
            }),
            method::TURN_DIFF_UPDATED => serde_json::from_value::<DiffParams>(params()).map(|p| {
                ItemNotification::DiffUpdated {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    diff: p.diff,
                }
            }),
            method::HOOK_STARTED | method::HOOK_COMPLETED => {
                serde_json::from_value::<HookParams>(params()).map(|p| ItemNotification::Hook {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    run: p.run,
                    completed: n.method == method::HOOK_COMPLETED,
                })
            }
            method::MODEL_REROUTED => serde_json::from_value::<RerouteParams>(params()).map(|p| {
                ItemNotification::ModelRerouted {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    from_model: p.from_model,
                    to_model: p.to_model,
                    reason: word(&p.reason).unwrap_or_default(),
                }
            }),
            method::WARNING
            | method::GUARDIAN_WARNING
            | method::CONFIG_WARNING
            | method::DEPRECATION_NOTICE
            | method::SAFETY_BUFFERING_UPDATED => {
                let kind = match n.method.as_str() {
                    method::GUARDIAN_WARNING => WarningKind::Guardian,
                    method::CONFIG_WARNING => WarningKind::Config,
                    method::DEPRECATION_NOTICE => WarningKind::Deprecation,
                    method::SAFETY_BUFFERING_UPDATED => WarningKind::SafetyBuffering,
                    _ => WarningKind::Warning,
                };
                serde_json::from_value::<WarningParams>(params()).map(|p| p.into_notification(kind))
            }
            method::ERROR => {
                serde_json::from_value::<ErrorParams>(params()).map(|p| ItemNotification::Error {
                    thread_id: p.thread_id,
                    turn_id: p.turn_id,
                    message: p.error.message,
                    details: p.error.additional_details,
                    code: p.error.codex_error_info.as_ref().and_then(word),
                    will_retry: p.will_retry,
                })
            }
            _ => return None,
        };
        Some(parsed)
    }

    /// The thread it belongs to; `None` for warnings about codex as a whole.
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            ItemNotification::Started { thread_id, .. }
            | ItemNotification::Completed { thread_id, .. }
            | ItemNotification::Delta { thread_id, .. }
            | ItemNotification::ReasoningSummaryPartAdded { thread_id, .. }
            | ItemNotification::PlanUpdated { thread_id, .. }
            | ItemNotification::DiffUpdated { thread_id, .. }
            | ItemNotification::Hook { thread_id, .. }
            | ItemNotification::ModelRerouted { thread_id, .. }
            | ItemNotification::Error { thread_id, .. } => Some(thread_id),
            ItemNotification::Warning { thread_id, .. } => thread_id.as_deref(),
        }
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;

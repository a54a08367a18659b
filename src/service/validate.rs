//! Request-body checks: every problem of a body at once, as zod-style issues, before the
//! body is used (and, for answers, before the call is looked up).

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::wire::{
    ApprovalPolicy, ContentItemBody, CreateSessionRequest, DynamicToolDecl, Effort,
    FilesystemSandbox, Issue, NetworkAccess, RespondRequest, SendMessageRequest,
};
use crate::protocol::{ContentItem, ToolCallResult, json_kind, parse_tool_call_result};

/// codex-manager's (and codex's) limit on declared tools.
pub const MAX_DYNAMIC_TOOLS: usize = 128;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyProblem {
    /// Not JSON at all.
    NotJson(String),
    /// JSON, but not what the route takes.
    Invalid(Vec<Issue>),
}

/// Parses a body; an empty body counts as `{}` when `empty_is_object`.
pub fn parse_json(bytes: &[u8], empty_is_object: bool) -> Result<Value, BodyProblem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if empty_is_object {
            Ok(Value::Object(Map::new()))
        } else {
            Err(BodyProblem::NotJson(
                "the body is empty; send a JSON object".to_string(),
            ))
        };
    }
    serde_json::from_slice(bytes)
        .map_err(|e| BodyProblem::NotJson(format!("the body is not valid JSON: {e}")))
}

struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn new() -> Checker {
        Checker { issues: Vec::new() }
    }

    fn issue(&mut self, code: &str, path: &[Value], message: impl Into<String>) {
        self.issues.push(Issue {
            code: code.to_string(),
            path: path.to_vec(),
            message: message.into(),
        });
    }

    fn object<'a>(&mut self, value: &'a Value) -> Option<&'a Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                let message = format!("expected a JSON object, got {}", json_kind(other));
                self.issue("invalid_type", &[], message);
                None
            }
        }
    }

    /// An optional string field; `non_empty` also refuses blank text.
    fn string(&mut self, map: &Map<String, Value>, key: &str, non_empty: bool) {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) if non_empty && text.trim().is_empty() => {
                self.issue(
                    "too_small",
                    &[json!(key)],
                    format!("{key} must not be empty"),
                );
            }
            Some(Value::String(_)) => {}
            Some(other) => {
                let message = format!("{key} must be a string, got {}", json_kind(other));
                self.issue("invalid_type", &[json!(key)], message);
            }
        }
    }

    fn boolean(&mut self, map: &Map<String, Value>, key: &str) {
        match map.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(_)) => {}
            Some(other) => {
                let message = format!("{key} must be a boolean, got {}", json_kind(other));
                self.issue("invalid_type", &[json!(key)], message);
            }
        }
    }

    fn one_of(&mut self, map: &Map<String, Value>, key: &str, allowed: &[&str]) {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) if allowed.contains(&text.as_str()) => {}
            Some(other) => {
                let message = format!(
                    "{key} must be one of {}, got {other}",
                    allowed
                        .iter()
                        .map(|a| format!("'{a}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.issue("invalid_enum_value", &[json!(key)], message);
            }
        }
    }

    fn session_options(&mut self, map: &Map<String, Value>) {
        self.string(map, "model", false);
        let policies = ApprovalPolicy::ALL.map(ApprovalPolicy::as_str);
        self.one_of(map, "approvalPolicy", &policies);
        self.one_of(
            map,
            "networkAccess",
            &NetworkAccess::ALL.map(NetworkAccess::as_str),
        );
        let sandboxes = FilesystemSandbox::ALL.map(FilesystemSandbox::as_str);
        self.one_of(map, "filesystemSandbox", &sandboxes);
    }

    fn dynamic_tools(&mut self, map: &Map<String, Value>) {
        let tools = match map.get("dynamicTools") {
            None | Some(Value::Null) => return,
            Some(Value::Array(tools)) => tools,
            Some(other) => {
                let message = format!("dynamicTools must be an array, got {}", json_kind(other));
                self.issue("invalid_type", &[json!("dynamicTools")], message);
                return;
            }
        };
        if tools.len() > MAX_DYNAMIC_TOOLS {
            self.issue(
                "too_big",
                &[json!("dynamicTools")],
                format!(
                    "dynamicTools holds {} tools; at most {MAX_DYNAMIC_TOOLS} are allowed",
                    tools.len()
                ),
            );
        }
        let mut seen = HashSet::new();
        for (index, tool) in tools.iter().enumerate() {
            let at = |key: &str| vec![json!("dynamicTools"), json!(index), json!(key)];
            let Value::Object(tool) = tool else {
                let message = format!("a tool must be an object, got {}", json_kind(tool));
                self.issue(
                    "invalid_type",
                    &[json!("dynamicTools"), json!(index)],
                    message,
                );
                continue;
            };
            match tool.get("name") {
                Some(Value::String(name)) if valid_tool_name(name) => {
                    let namespace = tool.get("namespace").and_then(Value::as_str);
                    if !seen.insert((namespace.map(str::to_string), name.clone())) {
                        self.issue(
                            "custom",
                            &at("name"),
                            format!("tool {name:?} is declared twice"),
                        );
                    }
                }
                Some(Value::String(name)) => self.issue(
                    "invalid_string",
                    &at("name"),
                    format!("tool name {name:?} must match ^[a-zA-Z0-9_-]+$"),
                ),
                _ => self.issue(
                    "invalid_type",
                    &at("name"),
                    "name must be a non-empty string",
                ),
            }
            match tool.get("description") {
                Some(Value::String(text)) if !text.trim().is_empty() => {}
                _ => self.issue(
                    "invalid_type",
                    &at("description"),
                    "description must be a non-empty string",
                ),
            }
            match tool.get("inputSchema") {
                Some(Value::Object(_)) => {}
                _ => self.issue(
                    "invalid_type",
                    &at("inputSchema"),
                    "inputSchema must be a JSON object (a JSON Schema)",
                ),
            }
            match tool.get("namespace") {
                None | Some(Value::Null) => {}
                Some(Value::String(ns)) if valid_tool_name(ns) && ns != "functions" => {}
                Some(_) => self.issue(
                    "invalid_string",
                    &at("namespace"),
                    "namespace must match ^[a-zA-Z0-9_-]+$ and must not be \"functions\"",
                ),
            }
            match tool.get("deferLoading") {
                None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                Some(Value::Bool(true)) if tool.get("namespace").is_some_and(Value::is_string) => {}
                Some(Value::Bool(true)) => self.issue(
                    "custom",
                    &at("deferLoading"),
                    "deferLoading needs a namespace",
                ),
                Some(_) => self.issue(
                    "invalid_type",
                    &at("deferLoading"),
                    "deferLoading must be a boolean",
                ),
            }
        }
    }

    fn finish<T: DeserializeOwned>(mut self, value: Value) -> Result<T, BodyProblem> {
        if !self.issues.is_empty() {
            return Err(BodyProblem::Invalid(self.issues));
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            self.issue("custom", &[json!(path)], e.into_inner().to_string());
            BodyProblem::Invalid(self.issues)
        })
    }
}

/// What codex accepts as a dynamic tool name.
pub fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn create_session(value: Value) -> Result<CreateSessionRequest, BodyProblem> {
    let mut check = Checker::new();
    if let Some(map) = check.object(&value) {
        check.string(map, "cwd", true);
        check.string(map, "appServer", true);
        check.session_options(map);
        check.dynamic_tools(map);
    }
    check.finish(value)
}

pub fn send_message(value: Value) -> Result<SendMessageRequest, BodyProblem> {
    let mut check = Checker::new();
    if let Some(map) = check.object(&value) {
        match map.get("text") {
            Some(Value::String(text)) if !text.trim().is_empty() => {}
            Some(Value::String(_)) => {
                check.issue("too_small", &[json!("text")], "text must not be empty")
            }
            _ => check.issue(
                "invalid_type",
                &[json!("text")],
                "text is required and must be a string",
            ),
        }
        check.session_options(map);
        check.one_of(map, "effort", &Effort::ALL.map(Effort::as_str));
        check.dynamic_tools(map);
    }
    check.finish(value)
}

/// Checks an answer and builds the result to send. Without `response`, the result is
/// `{success, contentItems}` from `contentItems`, else `text`, else no items.
pub fn respond(value: Value) -> Result<ToolCallResult, BodyProblem> {
    let mut check = Checker::new();
    if let Some(map) = check.object(&value) {
        if let Some(response) = map.get("response").filter(|v| !v.is_null()) {
            return parse_tool_call_result(response.clone()).map_err(|message| {
                BodyProblem::Invalid(vec![Issue {
                    code: "custom".to_string(),
                    path: vec![json!("response")],
                    message,
                }])
            });
        }
        check.boolean(map, "success");
        check.string(map, "text", false);
        match map.get("contentItems") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let at = vec![json!("contentItems"), json!(index)];
                    match serde_json::from_value::<ContentItemBody>(item.clone()) {
                        Ok(ContentItemBody::InputImage { image_url }) if image_url.trim().is_empty() => {
                            check.issue("too_small", &at, "imageUrl must not be empty");
                        }
                        Ok(ContentItemBody::InputAudio { audio_url }) if audio_url.trim().is_empty() => {
                            check.issue("too_small", &at, "audioUrl must not be empty");
                        }
                        Ok(_) => {}
                        Err(e) => check.issue(
                            "invalid_union",
                            &at,
                            format!("{e}: a content item is {{\"type\":\"inputText\",\"text\":..}}, {{\"type\":\"inputImage\",\"imageUrl\":..}} or {{\"type\":\"inputAudio\",\"audioUrl\":..}}"),
                        ),
                    }
                }
            }
            Some(other) => {
                let message = format!("contentItems must be an array, got {}", json_kind(other));
                check.issue("invalid_type", &[json!("contentItems")], message);
            }
        }
    }
    let request: RespondRequest = check.finish(value)?;
    let content_items = match (request.content_items, request.text) {
        (Some(items), _) => items.into_iter().map(content_item).collect(),
        (None, Some(text)) => vec![ContentItem::text(text)],
        (None, None) => Vec::new(),
    };
    Ok(ToolCallResult {
        content_items,
        success: request.success.unwrap_or(true),
    })
}

/// The `claimId` of a response body: a non-empty string, or absent.
pub fn respond_claim_id(value: &Value) -> Result<Option<String>, BodyProblem> {
    let mut check = Checker::new();
    let Some(map) = check.object(value) else {
        return Ok(None);
    };
    check.string(map, "claimId", true);
    if !check.issues.is_empty() {
        return Err(BodyProblem::Invalid(check.issues));
    }
    Ok(map
        .get("claimId")
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// The longest lease a claim may ask for, in ms.
pub const MAX_LEASE_MS: u64 = 600_000;

/// `POST /api/tool-calls/{requestId}/claim`: `worker` and `claimId` non-empty strings,
/// `leaseMs` 1 to 600000.
pub fn claim(value: Value) -> Result<super::wire::ClaimRequest, BodyProblem> {
    let mut check = Checker::new();
    if let Some(map) = check.object(&value) {
        check.string(map, "holder", true);
        check.string(map, "worker", true);
        check.string(map, "claimId", true);
        check.boolean(map, "takeover");
        match map.get("leaseMs") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64().is_some_and(|ms| (1..=MAX_LEASE_MS).contains(&ms)) => {}
            Some(other) => check.issue(
                "invalid_type",
                &[json!("leaseMs")],
                format!(
                    "leaseMs must be a whole number of milliseconds from 1 to {MAX_LEASE_MS}, got {other}"
                ),
            ),
        }
    }
    check.finish(value)
}

/// `DELETE /api/tool-calls/{requestId}/claim`: `claimId` a non-empty string.
pub fn release(value: Value) -> Result<super::wire::ReleaseRequest, BodyProblem> {
    let mut check = Checker::new();
    if let Some(map) = check.object(&value) {
        check.string(map, "claimId", true);
    }
    check.finish(value)
}

pub fn content_item(item: ContentItemBody) -> ContentItem {
    match item {
        ContentItemBody::InputText { text } => ContentItem::InputText { text },
        ContentItemBody::InputImage { image_url } => ContentItem::InputImage { image_url },
        ContentItemBody::InputAudio { audio_url } => ContentItem::InputAudio { audio_url },
    }
}

pub fn content_item_body(item: &ContentItem) -> ContentItemBody {
    match item {
        ContentItem::InputText { text } => ContentItemBody::InputText { text: text.clone() },
        ContentItem::InputImage { image_url } => ContentItemBody::InputImage {
            image_url: image_url.clone(),
        },
        ContentItem::InputAudio { audio_url } => ContentItemBody::InputAudio {
            audio_url: audio_url.clone(),
        },
    }
}

pub fn tool_spec(tool: DynamicToolDecl) -> crate::protocol::DynamicToolSpec {
    crate::protocol::DynamicToolSpec {
        name: tool.name,
        description: tool.description,
        input_schema: tool.input_schema,
        namespace: tool.namespace,
        defer_loading: tool.defer_loading,
    }
}

/// The same tools in any order: what a client re-sends with every message.
pub fn same_tools(
    declared: &[crate::protocol::DynamicToolSpec],
    sent: &[crate::protocol::DynamicToolSpec],
) -> bool {
    let key = |t: &crate::protocol::DynamicToolSpec| (t.namespace.clone(), t.name.clone());
    declared.len() == sent.len()
        && sent.iter().all(|s| {
            declared.iter().any(|d| {
                key(d) == key(s)
                    && d.description == s.description
                    && d.input_schema == s.input_schema
                    && d.defer_loading.unwrap_or(false) == s.defer_loading.unwrap_or(false)
            })
        })
}

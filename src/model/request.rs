//! Reading a Responses API request body: which tools codex offered, what the real user asked,
//! and how far the current turn has gone.
//!
//! The scripted model keeps no state between HTTP requests; everything it needs is in the
//! `input` items codex resends with every request of a turn.

use serde_json::Value;

/// Tool names codex 0.169.0 offers on its own. A dynamic tool with one of these names is
/// shadowed by the built-in, so it is never treated as a catalog tool.
const BUILTIN_TOOLS: &[&str] = &[
    "apply_patch",
    "create_goal",
    "exec_command",
    "get_goal",
    "image_generation",
    "js_repl",
    "js_repl_reset",
    "list_mcp_resource_templates",
    "list_mcp_resources",
    "local_shell",
    "read_mcp_resource",
    "request_user_input",
    "shell",
    "shell_command",
    "sleep",
    "tool_search",
    "tool_suggest",
    "update_goal",
    "update_plan",
    "view_image",
    "web_search",
    "write_stdin",
];

/// Namespaces that codex fills with its own tools.
const BUILTIN_NAMESPACES: &[&str] = &["multi_agent_v1"];

/// Text prefixes of user-role messages that codex writes itself (context, instructions).
const INJECTED_PREFIXES: &[&str] = &[
    "<environment_context>",
    "<user_instructions>",
    "<INSTRUCTIONS>",
    "# AGENTS.md",
    "<user_shell_command>",
    "<turn_aborted>",
    "<subagent_notification>",
];

/// One function tool from the request's `tools` array.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    pub namespace: Option<String>,
    pub parameters: Value,
}

impl ToolInfo {
    /// `namespace.name` for a namespaced tool, else the bare name.
    pub fn qualified(&self) -> String {
        qualify(self.namespace.as_deref(), &self.name)
    }

    /// Whether `reference` (a bare name or `namespace.name`) designates this tool.
    pub fn is_named(&self, reference: &str) -> bool {
        reference == self.name
            || self.namespace.as_deref().is_some_and(|ns| {
                reference.strip_prefix(ns).and_then(|r| r.strip_prefix('.'))
                    == Some(self.name.as_str())
            })
    }

    /// Whether codex provides this tool itself rather than the catalog.
    pub fn is_builtin(&self) -> bool {
        match self.namespace.as_deref() {
            Some(ns) => BUILTIN_NAMESPACES.contains(&ns),
            None => BUILTIN_TOOLS.contains(&self.name.as_str()),
        }
    }
}

pub fn qualify(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}.{name}"),
        None => name.to_owned(),
    }
}

/// A function call the model made earlier in the current turn, with what the tool answered.
#[derive(Debug, Clone, PartialEq)]
pub struct PastCall {
    pub call_id: String,
    pub name: String,
    pub namespace: Option<String>,
    /// `None` while codex has not sent an output for this call.
    pub output: Option<String>,
}

impl PastCall {
    pub fn qualified(&self) -> String {
        qualify(self.namespace.as_deref(), &self.name)
    }

    pub fn is_named(&self, reference: &str) -> bool {
        reference == self.name || reference == self.qualified()
    }
}

/// What one request tells about the turn in progress.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnView {
    /// Text of the last real user message ("" when there is none).
    pub user_message: String,
    /// How many model responses with function calls followed that message.
    pub round: usize,
    /// The calls of those rounds, in order.
    pub calls: Vec<PastCall>,
    /// Every function tool offered, namespaced ones flattened, in request order.
    pub tools: Vec<ToolInfo>,
    /// Number of `input` items, used only for the reported token usage.
    pub input_items: usize,
}

impl TurnView {
    pub fn find_tool(&self, reference: &str) -> Option<&ToolInfo> {
        // A top-level tool wins over a namespaced one with the same bare name.
        self.tools
            .iter()
            .find(|t| t.namespace.is_none() && t.name == reference)
            .or_else(|| self.tools.iter().find(|t| t.is_named(reference)))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    #[error("request body is not a json object")]
    NotAnObject,
    #[error("request field `input` must be a string or an array")]
    BadInput,
}

/// Reads the parts of a Responses API request body the scripted model needs.
pub fn parse_request(body: &Value) -> Result<TurnView, RequestError> {
    let object = body.as_object().ok_or(RequestError::NotAnObject)?;
    let tools = object.get("tools").map(parse_tools).unwrap_or_default();
    let items: &[Value] = match object.get("input") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(Value::String(text)) => {
            return Ok(TurnView {
                user_message: text.clone(),
                tools,
                input_items: 1,
                ..TurnView::default()
            });
        }
        Some(_) => return Err(RequestError::BadInput),
    };

    let start = items.iter().rposition(is_real_user_message);
    let user_message = start.map(|i| message_text(&items[i])).unwrap_or_default();
    let after = start.map_or(items, |i| &items[i + 1..]);

    let mut round = 0;
    let mut in_group = false;
    let mut calls: Vec<PastCall> = Vec::new();
    for item in after {
        if item_type(item) == Some("function_call") {
            // Consecutive function calls came from one model response (parallel calls).
            if !in_group {
                round += 1;
                in_group = true;
            }
            calls.push(PastCall {
                call_id: str_field(item, "call_id").to_owned(),
                name: str_field(item, "name").to_owned(),
                namespace: item
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                output: None,
            });
        } else {
            in_group = false;
            if item_type(item) == Some("function_call_output") {
                let call_id = str_field(item, "call_id");
                let output = output_text(item.get("output").unwrap_or(&Value::Null));
                if let Some(call) = calls.iter_mut().find(|c| c.call_id == call_id) {
                    call.output = Some(output);
                }
            }
        }
    }

    Ok(TurnView {
        user_message,
        round,
        calls,
        tools,
        input_items: items.len(),
    })
}

fn parse_tools(tools: &Value) -> Vec<ToolInfo> {
    let mut out = Vec::new();
    for tool in tools.as_array().map(Vec::as_slice).unwrap_or_default() {
        match item_type(tool) {
            Some("function") => out.push(function_tool(tool, None)),
            Some("namespace") => {
                let namespace = str_field(tool, "name");
                let inner = tool.get("tools").and_then(Value::as_array);
                for inner_tool in inner.map(Vec::as_slice).unwrap_or_default() {
                    if item_type(inner_tool) == Some("function") {
                        out.push(function_tool(inner_tool, Some(namespace)));
                    }
                }
            }
            // Hosted and freeform tools (web_search, custom, ...) are never catalog tools.
            _ => {}
        }
    }
    out
}

fn function_tool(tool: &Value, namespace: Option<&str>) -> ToolInfo {
    ToolInfo {
        name: str_field(tool, "name").to_owned(),
        namespace: namespace.map(str::to_owned),
        parameters: tool.get("parameters").cloned().unwrap_or(Value::Null),
    }
}

fn item_type(item: &Value) -> Option<&str> {
    item.get("type").and_then(Value::as_str)
}

fn str_field<'a>(item: &'a Value, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn is_real_user_message(item: &Value) -> bool {
    // Items without a type are messages in the Responses API's shorthand form.
    let is_message = matches!(item_type(item), None | Some("message"));
    is_message
        && item.get("role").and_then(Value::as_str) == Some("user")
        && !is_injected(&message_text(item))
}

/// Whether a user-role text was written by codex rather than typed by the user.
pub fn is_injected(text: &str) -> bool {
    let text = text.trim();
    INJECTED_PREFIXES.iter().any(|p| text.starts_with(p)) || is_tag_wrapped(text)
}

/// `<tag ...>...</tag>` around the whole text: how codex wraps the context it injects.
fn is_tag_wrapped(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('<') else {
        return false;
    };
    let tag: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    !tag.is_empty()
        && rest[tag.len()..].starts_with(['>', ' ', '\n'])
        && text.ends_with(&format!("</{tag}>"))
}

fn message_text(item: &Value) -> String {
    match item.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The text of a `function_call_output`: a string, or content items whose texts are joined.
pub fn output_text(output: &Value) -> String {
    match output {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .map(|part| match part.get("text").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None if item_type(part).is_some_and(|t| t.contains("image")) => {
                    "[image]".to_owned()
                }
                None => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        // Older payloads wrap the text as {"content": ..., "success": ...}.
        Value::Object(map) if map.contains_key("content") => {
            map.get("content").map(output_text).unwrap_or_default()
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/src/model/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn first_request_of_a_turn() {
        let view = parse_request(&fixture("first_round.json")).unwrap();
        assert_eq!(view.user_message, "please look up T-1");
        assert_eq!(view.round, 0);
        assert!(view.calls.is_empty());
        let names: Vec<_> = view.tools.iter().map(ToolInfo::qualified).collect();
        assert_eq!(names, ["request_user_input", "view_image", "lookup_ticket"]);
        let dynamic: Vec<_> = view.tools.iter().filter(|t| !t.is_builtin()).collect();
        assert_eq!(dynamic.len(), 1);
        assert_eq!(dynamic[0].name, "lookup_ticket");
        assert_eq!(dynamic[0].parameters["required"], json!(["ticket_id"]));
    }

    #[test]
    fn request_after_a_call_carries_the_output() {
        let view = parse_request(&fixture("after_call.json")).unwrap();
        assert_eq!(view.user_message, "please look up T-1");
        assert_eq!(view.round, 1);
        assert_eq!(
            view.calls,
            [PastCall {
                call_id: "call_resp_0".into(),
                name: "lookup_ticket".into(),
                namespace: None,
                output: Some("ticket T-1 is open".into()),
            }]
        );
    }

    #[test]
    fn namespaced_tools_and_calls() {
        let view = parse_request(&fixture("namespaced_after_call.json")).unwrap();
        let tool = view.find_tool("crm.get").unwrap();
        assert_eq!(tool.namespace.as_deref(), Some("crm"));
        assert_eq!(view.find_tool("get"), Some(tool));
        assert!(!tool.is_builtin());
        assert_eq!(view.calls[0].qualified(), "crm.get");
        assert_eq!(view.calls[0].output.as_deref(), Some("out of get"));
    }

    #[test]
    fn second_turn_starts_at_round_zero() {
        let view = parse_request(&fixture("second_turn.json")).unwrap();
        assert_eq!(view.user_message, "second turn");
        assert_eq!(view.round, 0);
        assert!(view.calls.is_empty());
    }

    #[test]
    fn rounds_are_groups_of_consecutive_calls() {
        let call = |id: &str, name: &str| json!({"type":"function_call","call_id":id,"name":name,"arguments":"{}"});
        let out = |id: &str, output: Value| json!({"type":"function_call_output","call_id":id,"output":output});
        let body = json!({"input": [
            {"type":"message","role":"user","content":[{"type":"input_text","text":"old question"}]},
            call("c0", "old"), out("c0", json!("old output")),
            {"type":"message","role":"user","content":[{"type":"input_text","text":"go"}]},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>\n  <cwd>/x</cwd>\n</environment_context>"}]},
            call("c1", "a"), call("c2", "b"),
            out("c1", json!("A")),
            out("c2", json!([{"type":"input_text","text":"B1"},{"type":"input_image","image_url":"data:,"},{"type":"input_text","text":"B2"}])),
            call("c3", "a"), out("c3", json!("A again")),
            call("c4", "c"),
        ]});
        let view = parse_request(&body).unwrap();
        assert_eq!(view.user_message, "go");
        assert_eq!(view.round, 3);
        let outputs: Vec<_> = view.calls.iter().map(|c| c.output.as_deref()).collect();
        assert_eq!(
            outputs,
            [Some("A"), Some("B1\n[image]\nB2"), Some("A again"), None]
        );
    }

    #[test]
    fn injected_context_is_not_the_user_message() {
        assert!(is_injected(
            "<environment_context>\n  <cwd>/tmp</cwd>\n</environment_context>"
        ));
        assert!(is_injected(
            "# AGENTS.md instructions for /repo\n\n<INSTRUCTIONS>x</INSTRUCTIONS>"
        ));
        assert!(is_injected(
            "<turn_aborted>\nThe user interrupted.\n</turn_aborted>"
        ));
        assert!(is_injected("<skill>\n<name>x</name>\n</skill>"));
        assert!(!is_injected("please look up T-1"));
        assert!(!is_injected("<b>bold</b> text"));
        assert!(!is_injected("a <tag>x</tag>"));
    }

    #[test]
    fn string_input_and_bad_bodies() {
        let view = parse_request(&json!({"input": "hello"})).unwrap();
        assert_eq!(view.user_message, "hello");
        assert_eq!(view.round, 0);
        assert_eq!(parse_request(&json!([1])), Err(RequestError::NotAnObject));
        assert_eq!(
            parse_request(&json!({"input": 3})),
            Err(RequestError::BadInput)
        );
        assert_eq!(parse_request(&json!({})).unwrap().user_message, "");
    }

    #[test]
    fn output_shapes() {
        assert_eq!(output_text(&json!("plain")), "plain");
        assert_eq!(
            output_text(&json!({"content": "wrapped", "success": true})),
            "wrapped"
        );
        assert_eq!(output_text(&json!(42)), "42");
        assert_eq!(output_text(&Value::Null), "");
    }
}

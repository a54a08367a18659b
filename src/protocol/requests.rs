//! The requests app-server sends to its client, and the answers it accepts, typed by
//! hand from the schema of the pinned codex (`codex app-server generate-json-schema
//! --experimental`). Params are read leniently (unknown fields are kept in `extra`, so a
//! newer codex never breaks the bridge); answers are checked strictly, so that an answer
//! codex could not parse is refused before it is written.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jsonrpc::Request;
use super::types::{json_kind, method, truncate_chars};

// ----- item/tool/call ------------------------------------------------------------------

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

// ----- item/commandExecution/requestApproval --------------------------------------------

/// A host and an allow/deny rule, proposed by codex or chosen in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicyAmendment {
    pub host: String,
    pub action: NetworkPolicyRuleAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPolicyRuleAction {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkApprovalContext {
    pub host: String,
    #[serde(default)]
    pub protocol: Option<String>,
}

/// The payload of `acceptWithExecpolicyAmendment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecpolicyAmendment {
    pub execpolicy_amendment: Vec<String>,
}

/// The payload of `applyNetworkPolicyAmendment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAmendment {
    pub network_policy_amendment: NetworkPolicyAmendment,
}

/// Every decision codex accepts for a command approval (`CommandExecutionApprovalDecision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandApprovalDecision {
    /// Run it.
    Accept,
    /// Run it, and do not ask again for it in this session.
    AcceptForSession,
    /// Run it, and add the proposed exec-policy rule so that matching commands run unasked.
    AcceptWithExecpolicyAmendment(ExecpolicyAmendment),
    /// Keep a persistent allow/deny rule for the host of a network request.
    ApplyNetworkPolicyAmendment(NetworkAmendment),
    /// Do not run it; the turn goes on.
    Decline,
    /// Do not run it, and interrupt the turn.
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandApprovalParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    /// `command`, `humanCommand` or `writeStdin` (absent on older servers: `command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_approval_context: Option<NetworkApprovalContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_actions: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_permissions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_execpolicy_amendment: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_network_policy_amendments: Option<Vec<NetworkPolicyAmendment>>,
    /// What codex suggests offering, in order. codex also accepts (and acts on) the
    /// decisions it leaves out: see [`CommandApprovalParams::decisions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_decisions: Option<Vec<CommandApprovalDecision>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CommandApprovalParams {
    /// Every decision this request can be answered with: those of `availableDecisions`
    /// first, in codex's order, then the others the schema allows (the exec-policy
    /// amendment only when codex proposed one, a network rule only for a network request).
    pub fn decisions(&self) -> Vec<CommandApprovalDecision> {
        let mut out: Vec<CommandApprovalDecision> =
            self.available_decisions.clone().unwrap_or_default();
        let mut others = vec![
            CommandApprovalDecision::Accept,
            CommandApprovalDecision::AcceptForSession,
        ];
        if let Some(amendment) = &self.proposed_execpolicy_amendment
            && !amendment.is_empty()
        {
            others.push(CommandApprovalDecision::AcceptWithExecpolicyAmendment(
                ExecpolicyAmendment {
                    execpolicy_amendment: amendment.clone(),
                },
            ));
        }
        for amendment in self
            .proposed_network_policy_amendments
            .iter()
            .flatten()
            .cloned()
        {
            others.push(CommandApprovalDecision::ApplyNetworkPolicyAmendment(
                NetworkAmendment {
                    network_policy_amendment: amendment,
                },
            ));
        }
        others.push(CommandApprovalDecision::Decline);
        others.push(CommandApprovalDecision::Cancel);
        for decision in others {
            if !out.contains(&decision) {
                out.push(decision);
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandApprovalResponse {
    pub decision: CommandApprovalDecision,
}

// ----- item/fileChange/requestApproval ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileChangeDecision {
    Accept,
    AcceptForSession,
    Decline,
    Cancel,
}

impl FileChangeDecision {
    pub const ALL: [FileChangeDecision; 4] = [
        FileChangeDecision::Accept,
        FileChangeDecision::AcceptForSession,
        FileChangeDecision::Decline,
        FileChangeDecision::Cancel,
    ];
}

/// The changes themselves are not here: they are in the `fileChange` item of the
/// `item/started` notification with the same `itemId`, just before the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChangeApprovalParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_root: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileChangeApprovalResponse {
    pub decision: FileChangeDecision,
}

// ----- item/permissions/requestApproval --------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsApprovalParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What is asked: `{network?: {enabled}, fileSystem?: {read, write, entries, ..}}`.
    #[serde(default)]
    pub permissions: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionGrantScope {
    #[default]
    Turn,
    Session,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPermissions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The granted subset of what was asked. Empty grants nothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantedPermissions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkPermissions>,
    /// `{read?: [path], write?: [path], entries?: [..], globScanMaxDepth?}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PermissionsApprovalResponse {
    pub permissions: GrantedPermissions,
    #[serde(default)]
    pub scope: PermissionGrantScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_auto_review: Option<bool>,
}

// ----- item/tool/requestUserInput (experimental) -----------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInputOption {
    pub label: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInputQuestion {
    pub id: String,
    #[serde(default)]
    pub header: String,
    pub question: String,
    #[serde(default)]
    pub is_other: bool,
    #[serde(default)]
    pub is_secret: bool,
    #[serde(default)]
    pub options: Option<Vec<UserInputOption>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInputParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    pub questions: Vec<UserInputQuestion>,
    #[serde(default)]
    pub is_blocking: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_resolution_ms: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInputAnswer {
    pub answers: Vec<String>,
}

/// Answers by question id. `{"answers":{}}` answers nothing: what a declined or cancelled
/// question gets (codex cannot parse codex-manager's `{"status":"decline"}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInputResponse {
    pub answers: BTreeMap<String, UserInputAnswer>,
}

// ----- mcpServer/elicitation/request ------------------------------------------------------

/// An MCP server (or codex, for an MCP tool-call approval) asks the user. The mode-specific
/// fields sit beside the common ones: `form` {message, requestedSchema}, `url` {message,
/// url, elicitationId}, `openai/form` / `openaiForm`, `openai/userVerification`
/// {challenge, description, title}.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpElicitationParams {
    pub thread_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    #[serde(default)]
    pub server_name: String,
    /// Since 0.171.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    #[serde(default)]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elicitation_id: Option<String>,
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl McpElicitationParams {
    /// codex asks whether an MCP tool may run: a form with an empty schema and
    /// `_meta.codex_approval_kind == "mcp_tool_call"`.
    pub fn is_tool_call_approval(&self) -> bool {
        self.meta
            .as_ref()
            .and_then(|m| m.get("codex_approval_kind"))
            .and_then(Value::as_str)
            == Some("mcp_tool_call")
    }

    pub fn is_url(&self) -> bool {
        self.mode == "url"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElicitationAction {
    Accept,
    Decline,
    Cancel,
}

/// `content` holds the form's values on accept; `_meta.persist` ("session" or "always")
/// remembers an MCP tool-call approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpElicitationResponse {
    pub action: ElicitationAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

// ----- applyPatchApproval / execCommandApproval (legacy v1) -------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LegacyApprovalMethod {
    #[serde(rename = "applyPatchApproval")]
    ApplyPatch,
    #[serde(rename = "execCommandApproval")]
    ExecCommand,
}

impl LegacyApprovalMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LegacyApprovalMethod::ApplyPatch => method::APPLY_PATCH_APPROVAL,
            LegacyApprovalMethod::ExecCommand => method::EXEC_COMMAND_APPROVAL,
        }
    }
}

/// Both legacy approvals in one shape: `fileChanges`/`grantRoot` for a patch,
/// `command`/`cwd`/`parsedCmd` for a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyApprovalParams {
    #[serde(skip)]
    pub method: Option<LegacyApprovalMethod>,
    pub conversation_id: String,
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_changes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_root: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyDenied {
    pub rejection: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyExecpolicyAmendment {
    pub proposed_execpolicy_amendment: Vec<String>,
}

/// codex's `ReviewDecision`. There is no bare `"denied"`: a denial carries its rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approved,
    ApprovedExecpolicyAmendment(LegacyExecpolicyAmendment),
    ApprovedForSession,
    ApprovedMcpPolicyAmendment,
    NetworkPolicyAmendment(NetworkAmendment),
    Denied(LegacyDenied),
    TimedOut,
    Abort,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyApprovalResponse {
    pub decision: ReviewDecision,
}

// ----- the request enum -------------------------------------------------------------------

/// The kind of a server request, for views, events and totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    ToolCall,
    CommandApproval,
    FileChangeApproval,
    PermissionsApproval,
    UserInput,
    McpElicitation,
    LegacyApproval,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::ToolCall => "tool_call",
            RequestKind::CommandApproval => "command_approval",
            RequestKind::FileChangeApproval => "file_change_approval",
            RequestKind::PermissionsApproval => "permissions_approval",
            RequestKind::UserInput => "user_input",
            RequestKind::McpElicitation => "mcp_elicitation",
            RequestKind::LegacyApproval => "legacy_approval",
        }
    }

    /// What a person calls a request of this kind, in messages ("command approval
    /// 7 is claimed by ana").
    pub fn noun(self) -> &'static str {
        match self {
            RequestKind::ToolCall => "call",
            RequestKind::CommandApproval => "command approval",
            RequestKind::FileChangeApproval => "file change approval",
            RequestKind::PermissionsApproval => "permission request",
            RequestKind::UserInput => "question",
            RequestKind::McpElicitation => "MCP form",
            RequestKind::LegacyApproval => "approval",
        }
    }
}

/// A request app-server sends to its client.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerRequest {
    ToolCall(DynamicToolCallParams),
    CommandApproval(Box<CommandApprovalParams>),
    FileChangeApproval(FileChangeApprovalParams),
    PermissionsApproval(PermissionsApprovalParams),
    UserInput(UserInputParams),
    McpElicitation(Box<McpElicitationParams>),
    /// `applyPatchApproval` / `execCommandApproval` (v1; codex does not send them on v2
    /// threads).
    LegacyApproval(Box<LegacyApprovalParams>),
    /// `account/chatgptAuthTokens/refresh`, `attestation/generate`, `currentTime/read`
    /// and anything newer: refused with -32601.
    Other {
        method: String,
        params: Value,
    },
}

fn typed<T: DeserializeOwned>(params: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(params)
}

impl ServerRequest {
    /// Types a request by its method. A known method whose params do not parse is an
    /// error (the caller answers it with -32600 and says why).
    pub fn from_request(request: &Request) -> Result<ServerRequest, serde_json::Error> {
        let params = request.params.clone().unwrap_or(Value::Null);
        Ok(match request.method.as_str() {
            method::TOOL_CALL => ServerRequest::ToolCall(typed(params)?),
            method::COMMAND_APPROVAL => ServerRequest::CommandApproval(Box::new(typed(params)?)),
            method::FILE_CHANGE_APPROVAL => ServerRequest::FileChangeApproval(typed(params)?),
            method::PERMISSIONS_APPROVAL => ServerRequest::PermissionsApproval(typed(params)?),
            method::USER_INPUT => ServerRequest::UserInput(typed(params)?),
            method::MCP_ELICITATION => ServerRequest::McpElicitation(Box::new(typed(params)?)),
            method::APPLY_PATCH_APPROVAL | method::EXEC_COMMAND_APPROVAL => {
                let mut legacy: LegacyApprovalParams = typed(params)?;
                legacy.method = Some(if request.method == method::APPLY_PATCH_APPROVAL {
                    LegacyApprovalMethod::ApplyPatch
                } else {
                    LegacyApprovalMethod::ExecCommand
                });
                ServerRequest::LegacyApproval(Box::new(legacy))
            }
            _ => ServerRequest::Other {
                method: request.method.clone(),
                params,
            },
        })
    }

    pub fn kind(&self) -> Option<RequestKind> {
        Some(match self {
            ServerRequest::ToolCall(_) => RequestKind::ToolCall,
            ServerRequest::CommandApproval(_) => RequestKind::CommandApproval,
            ServerRequest::FileChangeApproval(_) => RequestKind::FileChangeApproval,
            ServerRequest::PermissionsApproval(_) => RequestKind::PermissionsApproval,
            ServerRequest::UserInput(_) => RequestKind::UserInput,
            ServerRequest::McpElicitation(_) => RequestKind::McpElicitation,
            ServerRequest::LegacyApproval(_) => RequestKind::LegacyApproval,
            ServerRequest::Other { .. } => return None,
        })
    }

    pub fn method(&self) -> &str {
        match self {
            ServerRequest::ToolCall(_) => method::TOOL_CALL,
            ServerRequest::CommandApproval(_) => method::COMMAND_APPROVAL,
            ServerRequest::FileChangeApproval(_) => method::FILE_CHANGE_APPROVAL,
            ServerRequest::PermissionsApproval(_) => method::PERMISSIONS_APPROVAL,
            ServerRequest::UserInput(_) => method::USER_INPUT,
            ServerRequest::McpElicitation(_) => method::MCP_ELICITATION,
            ServerRequest::LegacyApproval(p) => p
                .method
                .unwrap_or(LegacyApprovalMethod::ExecCommand)
                .as_str(),
            ServerRequest::Other { method, .. } => method,
        }
    }

    /// The thread the request belongs to, when it names one.
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            ServerRequest::ToolCall(p) => Some(&p.thread_id),
            ServerRequest::CommandApproval(p) => Some(&p.thread_id),
            ServerRequest::FileChangeApproval(p) => Some(&p.thread_id),
            ServerRequest::PermissionsApproval(p) => Some(&p.thread_id),
            ServerRequest::UserInput(p) => Some(&p.thread_id),
            ServerRequest::McpElicitation(p) => Some(&p.thread_id),
            ServerRequest::LegacyApproval(p) => Some(&p.conversation_id),
            ServerRequest::Other { params, .. } => params.get("threadId").and_then(Value::as_str),
        }
    }

    /// The turn the request belongs to, when it names one.
    pub fn turn_id(&self) -> Option<&str> {
        match self {
            ServerRequest::ToolCall(p) => Some(&p.turn_id),
            ServerRequest::CommandApproval(p) => Some(&p.turn_id),
            ServerRequest::FileChangeApproval(p) => Some(&p.turn_id),
            ServerRequest::PermissionsApproval(p) => Some(&p.turn_id),
            ServerRequest::UserInput(p) => Some(&p.turn_id),
            ServerRequest::McpElicitation(p) => p.turn_id.as_deref(),
            ServerRequest::LegacyApproval(_) => None,
            ServerRequest::Other { params, .. } => params.get("turnId").and_then(Value::as_str),
        }
    }

    /// The item the request is about (the model's call id for approvals and input).
    pub fn item_id(&self) -> Option<&str> {
        match self {
            ServerRequest::ToolCall(p) => Some(&p.call_id),
            ServerRequest::CommandApproval(p) => Some(&p.item_id),
            ServerRequest::FileChangeApproval(p) => Some(&p.item_id),
            ServerRequest::PermissionsApproval(p) => Some(&p.item_id),
            ServerRequest::UserInput(p) => Some(&p.item_id),
            ServerRequest::LegacyApproval(p) => Some(&p.call_id),
            ServerRequest::McpElicitation(_) | ServerRequest::Other { .. } => None,
        }
    }
}

// ----- answers ------------------------------------------------------------------------------

/// An answer to a server request, typed by the request's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    ToolCall(ToolCallResult),
    CommandApproval(CommandApprovalResponse),
    FileChangeApproval(FileChangeApprovalResponse),
    PermissionsApproval(PermissionsApprovalResponse),
    UserInput(UserInputResponse),
    McpElicitation(McpElicitationResponse),
    LegacyApproval(LegacyApprovalResponse),
}

fn strict<T: DeserializeOwned>(kind: RequestKind, value: Value) -> Result<T, String> {
    if !value.is_object() {
        return Err(format!(
            "an answer to a {} must be a JSON object, got {}",
            kind.as_str(),
            json_kind(&value)
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        format!(
            "invalid answer to a {} at {path}: {inner} (expected {})",
            kind.as_str(),
            expected_shape(kind)
        )
    })
}

/// The answer shapes, as the error messages show them.
pub fn expected_shape(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::ToolCall => {
            r#"{"contentItems":[{"type":"inputText","text":".."}],"success":true}"#
        }
        RequestKind::CommandApproval => {
            r#"{"decision": "accept" | "acceptForSession" | {"acceptWithExecpolicyAmendment":{"execpolicy_amendment":[..]}} | {"applyNetworkPolicyAmendment":{"network_policy_amendment":{"host":..,"action":"allow"|"deny"}}} | "decline" | "cancel"}"#
        }
        RequestKind::FileChangeApproval => {
            r#"{"decision": "accept" | "acceptForSession" | "decline" | "cancel"}"#
        }
        RequestKind::PermissionsApproval => {
            r#"{"permissions":{"network"?:{"enabled":bool},"fileSystem"?:{"read"?:[..],"write"?:[..]}},"scope"?:"turn"|"session","strictAutoReview"?:bool}"#
        }
        RequestKind::UserInput => r#"{"answers":{"<question id>":{"answers":["..."]}}}"#,
        RequestKind::McpElicitation => {
            r#"{"action":"accept"|"decline"|"cancel","content"?:{..},"_meta"?:{..}}"#
        }
        RequestKind::LegacyApproval => {
            r#"{"decision": "approved" | "approved_for_session" | {"denied":{"rejection":".."}} | "abort" | ..}"#
        }
    }
}

impl Answer {
    /// Reads an answer for a request of `kind` strictly: a shape codex could not parse
    /// is an error that says what to fix.
    pub fn parse(kind: RequestKind, value: Value) -> Result<Answer, String> {
        Ok(match kind {
            RequestKind::ToolCall => Answer::ToolCall(parse_tool_call_result(value)?),
            RequestKind::CommandApproval => Answer::CommandApproval(strict(kind, value)?),
            RequestKind::FileChangeApproval => Answer::FileChangeApproval(strict(kind, value)?),
            RequestKind::PermissionsApproval => Answer::PermissionsApproval(strict(kind, value)?),
            RequestKind::UserInput => Answer::UserInput(strict(kind, value)?),
            RequestKind::McpElicitation => {
                let response: McpElicitationResponse = strict(kind, value)?;
                if let Some(content) = &response.content
                    && !(content.is_object() || content.is_null())
                {
                    return Err(format!(
                        "invalid answer to a mcp_elicitation at content: must be an object, got {}",
                        json_kind(content)
                    ));
                }
                Answer::McpElicitation(response)
            }
            RequestKind::LegacyApproval => Answer::LegacyApproval(strict(kind, value)?),
        })
    }

    pub fn kind(&self) -> RequestKind {
        match self {
            Answer::ToolCall(_) => RequestKind::ToolCall,
            Answer::CommandApproval(_) => RequestKind::CommandApproval,
            Answer::FileChangeApproval(_) => RequestKind::FileChangeApproval,
            Answer::PermissionsApproval(_) => RequestKind::PermissionsApproval,
            Answer::UserInput(_) => RequestKind::UserInput,
            Answer::McpElicitation(_) => RequestKind::McpElicitation,
            Answer::LegacyApproval(_) => RequestKind::LegacyApproval,
        }
    }

    /// The JSON-RPC `result` to write.
    pub fn to_value(&self) -> Value {
        let value = match self {
            Answer::ToolCall(r) => serde_json::to_value(r),
            Answer::CommandApproval(r) => serde_json::to_value(r),
            Answer::FileChangeApproval(r) => serde_json::to_value(r),
            Answer::PermissionsApproval(r) => serde_json::to_value(r),
            Answer::UserInput(r) => serde_json::to_value(r),
            Answer::McpElicitation(r) => serde_json::to_value(r),
            Answer::LegacyApproval(r) => serde_json::to_value(r),
        };
        // These types have string keys only: serialising them cannot fail.
        value.unwrap_or(Value::Null)
    }

    /// The answer that refuses a request of `kind` and lets the turn go on: a declined
    /// approval, no permissions, no answers, a declined elicitation, a denied legacy
    /// approval carrying `reason`, a failed tool call saying `reason`.
    pub fn decline(kind: RequestKind, reason: &str) -> Answer {
        match kind {
            RequestKind::ToolCall => Answer::ToolCall(ToolCallResult::text(false, reason)),
            RequestKind::CommandApproval => Answer::CommandApproval(CommandApprovalResponse {
                decision: CommandApprovalDecision::Decline,
            }),
            RequestKind::FileChangeApproval => {
                Answer::FileChangeApproval(FileChangeApprovalResponse {
                    decision: FileChangeDecision::Decline,
                })
            }
            RequestKind::PermissionsApproval => {
                Answer::PermissionsApproval(PermissionsApprovalResponse {
                    permissions: GrantedPermissions::default(),
                    scope: PermissionGrantScope::Turn,
                    strict_auto_review: None,
                })
            }
            RequestKind::UserInput => Answer::UserInput(UserInputResponse::default()),
            RequestKind::McpElicitation => Answer::McpElicitation(McpElicitationResponse {
                action: ElicitationAction::Decline,
                content: None,
                meta: None,
            }),
            RequestKind::LegacyApproval => Answer::LegacyApproval(LegacyApprovalResponse {
                decision: ReviewDecision::Denied(LegacyDenied {
                    rejection: reason.to_string(),
                }),
            }),
        }
    }

    /// A short label of the decision, for transcripts and events.
    pub fn label(&self) -> String {
        let decision = |v: Value| match v.get("decision") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        match self {
            Answer::ToolCall(r) if r.success => "answered".to_string(),
            Answer::ToolCall(_) => "failed".to_string(),
            Answer::CommandApproval(_)
            | Answer::FileChangeApproval(_)
            | Answer::LegacyApproval(_) => decision(self.to_value()),
            Answer::PermissionsApproval(r) => {
                if r.permissions == GrantedPermissions::default() {
                    "denied".to_string()
                } else {
                    match r.scope {
                        PermissionGrantScope::Turn => "granted for the turn".to_string(),
                        PermissionGrantScope::Session => "granted for the session".to_string(),
                    }
                }
            }
            Answer::UserInput(r) if r.answers.is_empty() => "no answers".to_string(),
            Answer::UserInput(r) => format!("{} answer(s)", r.answers.len()),
            Answer::McpElicitation(r) => match r.action {
                ElicitationAction::Accept => "accept".to_string(),
                ElicitationAction::Decline => "decline".to_string(),
                ElicitationAction::Cancel => "cancel".to_string(),
            },
        }
    }
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

    #[test]
    fn every_answer_shape_of_the_schema_parses_and_writes_back_unchanged() {
        let cases = [
            (RequestKind::CommandApproval, json!({"decision":"accept"})),
            (
                RequestKind::CommandApproval,
                json!({"decision":"acceptForSession"}),
            ),
            (
                RequestKind::CommandApproval,
                json!({"decision":{"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["touch","x"]}}}),
            ),
            (
                RequestKind::CommandApproval,
                json!({"decision":{"applyNetworkPolicyAmendment":{"network_policy_amendment":{"host":"example.com","action":"deny"}}}}),
            ),
            (RequestKind::CommandApproval, json!({"decision":"decline"})),
            (RequestKind::CommandApproval, json!({"decision":"cancel"})),
            (
                RequestKind::FileChangeApproval,
                json!({"decision":"acceptForSession"}),
            ),
            (
                RequestKind::PermissionsApproval,
                json!({"permissions":{"network":{"enabled":true}},"scope":"session"}),
            ),
            (
                RequestKind::PermissionsApproval,
                json!({"permissions":{"fileSystem":{"write":["/tmp"]}},"scope":"turn","strictAutoReview":true}),
            ),
            (
                RequestKind::UserInput,
                json!({"answers":{"color":{"answers":["Blue","user_note: cool"]}}}),
            ),
            (RequestKind::UserInput, json!({"answers":{}})),
            (
                RequestKind::McpElicitation,
                json!({"action":"accept","content":{"name":"x"},"_meta":{"persist":"session"}}),
            ),
            (RequestKind::McpElicitation, json!({"action":"decline"})),
            (
                RequestKind::LegacyApproval,
                json!({"decision":{"denied":{"rejection":"no"}}}),
            ),
            (RequestKind::LegacyApproval, json!({"decision":"abort"})),
            (
                RequestKind::LegacyApproval,
                json!({"decision":"approved_for_session"}),
            ),
        ];
        for (kind, value) in cases {
            let answer = Answer::parse(kind, value.clone()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(answer.kind(), kind);
            assert_eq!(answer.to_value(), value);
        }
    }

    #[test]
    fn answers_codex_cannot_parse_are_refused_with_what_to_fix() {
        let cases = [
            (
                RequestKind::CommandApproval,
                json!({"decision":"maybe"}),
                "at decision",
            ),
            (
                RequestKind::CommandApproval,
                json!({"decision":"accept","scope":"session"}),
                "unknown field `scope`",
            ),
            (
                RequestKind::LegacyApproval,
                json!({"decision":"denied"}),
                "at decision",
            ),
            (
                RequestKind::UserInput,
                json!({"status":"decline"}),
                "unknown field `status`",
            ),
            (
                RequestKind::UserInput,
                json!({"answers":{"color":{"answers":"Blue"}}}),
                "at answers.color.answers",
            ),
            (
                RequestKind::PermissionsApproval,
                json!({"permissions":{},"scope":"forever"}),
                "at scope",
            ),
            (
                RequestKind::McpElicitation,
                json!({"action":"accept","content":"x"}),
                "at content",
            ),
            (
                RequestKind::FileChangeApproval,
                json!("accept"),
                "got a string",
            ),
        ];
        for (kind, value, expected) in cases {
            let err = Answer::parse(kind, value.clone()).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
    }

    #[test]
    fn declines_are_valid_answers_of_their_kind() {
        let expected = [
            (RequestKind::CommandApproval, json!({"decision":"decline"})),
            (
                RequestKind::FileChangeApproval,
                json!({"decision":"decline"}),
            ),
            (
                RequestKind::PermissionsApproval,
                json!({"permissions":{},"scope":"turn"}),
            ),
            (RequestKind::UserInput, json!({"answers":{}})),
            (RequestKind::McpElicitation, json!({"action":"decline"})),
            (
                RequestKind::LegacyApproval,
                json!({"decision":{"denied":{"rejection":"why"}}}),
            ),
        ];
        for (kind, value) in expected {
            let answer = Answer::decline(kind, "why");
            assert_eq!(answer.to_value(), value);
            assert_eq!(Answer::parse(kind, value).unwrap(), answer);
        }
    }

    #[test]
    fn command_decisions_offer_available_ones_first_then_every_other_the_schema_allows() {
        let params: CommandApprovalParams = serde_json::from_value(json!({
            "threadId":"t","turnId":"u","itemId":"call_1","startedAtMs":1,
            "command":"/bin/bash -lc 'touch x'",
            "proposedExecpolicyAmendment":["touch","x"],
            "availableDecisions":["accept",{"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["touch","x"]}},"cancel"],
        }))
        .unwrap();
        let decisions: Vec<Value> = params
            .decisions()
            .iter()
            .map(|d| serde_json::to_value(d).unwrap())
            .collect();
        assert_eq!(
            decisions,
            vec![
                json!("accept"),
                json!({"acceptWithExecpolicyAmendment":{"execpolicy_amendment":["touch","x"]}}),
                json!("cancel"),
                json!("acceptForSession"),
                json!("decline"),
            ]
        );
    }

    #[test]
    fn requests_are_typed_by_method_and_unknown_ones_kept() {
        let request = |method: &str, params: Value| Request {
            id: super::super::RequestId::Integer(3),
            method: method.to_string(),
            params: Some(params),
        };
        let elicitation = ServerRequest::from_request(&request(
            method::MCP_ELICITATION,
            json!({"threadId":"t","turnId":"u","serverName":"probe","mode":"form","message":"Allow?",
                   "requestedSchema":{"type":"object","properties":{}},"_meta":{"codex_approval_kind":"mcp_tool_call"}}),
        ))
        .unwrap();
        let ServerRequest::McpElicitation(params) = &elicitation else {
            panic!("{elicitation:?}")
        };
        assert!(params.is_tool_call_approval());
        assert_eq!(elicitation.turn_id(), Some("u"));
        let legacy = ServerRequest::from_request(&request(
            method::APPLY_PATCH_APPROVAL,
            json!({"conversationId":"t","callId":"c","fileChanges":{}}),
        ))
        .unwrap();
        assert_eq!(legacy.method(), "applyPatchApproval");
        assert_eq!(legacy.kind(), Some(RequestKind::LegacyApproval));
        let other =
            ServerRequest::from_request(&request("attestation/generate", json!({}))).unwrap();
        assert_eq!(other.kind(), None);
        assert_eq!(other.method(), "attestation/generate");
        assert!(
            ServerRequest::from_request(&request(method::USER_INPUT, json!({"threadId":"t"})))
                .is_err()
        );
    }
}

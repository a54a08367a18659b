//! The API's request and response bodies: what goes over HTTP and the websocket. Field
//! names follow codex-manager's API so its Python SDK works unmodified; fields it does
//! not have are Switchboard extras, which its clients ignore. The OpenAPI document is
//! generated from these types (see `openapi.rs`), so it cannot drift from them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// `status: "ok"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OkStatus {
    Ok,
}

/// `status: "error"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStatus {
    Error,
}

/// `status: "not_found"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotFoundStatus {
    NotFound,
}

/// `status: "deleted"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletedStatus {
    Deleted,
}

/// `status: "conflict"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Conflict,
}

/// `code: "in_flight"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InFlightCode {
    InFlight,
}

/// `status: "no_active_turn"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoActiveTurnStatus {
    NoActiveTurn,
}

/// `status: "accepted"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AcceptedStatus {
    Accepted,
}

/// `status: "pending"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    Untrusted,
    /// Removed from codex 0.169; sent to app-server as `on-request`, its successor.
    OnFailure,
    OnRequest,
    Never,
}

impl ApprovalPolicy {
    pub const ALL: [ApprovalPolicy; 4] = [
        ApprovalPolicy::Untrusted,
        ApprovalPolicy::OnFailure,
        ApprovalPolicy::OnRequest,
        ApprovalPolicy::Never,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Untrusted => "untrusted",
            ApprovalPolicy::OnFailure => "on-failure",
            ApprovalPolicy::OnRequest => "on-request",
            ApprovalPolicy::Never => "never",
        }
    }

    /// The value codex 0.169 accepts.
    pub fn codex_value(self) -> &'static str {
        match self {
            ApprovalPolicy::OnFailure => "on-request",
            other => other.as_str(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkAccess {
    Restricted,
    Enabled,
}

impl NetworkAccess {
    pub const ALL: [NetworkAccess; 2] = [NetworkAccess::Restricted, NetworkAccess::Enabled];

    pub fn as_str(self) -> &'static str {
        match self {
            NetworkAccess::Restricted => "restricted",
            NetworkAccess::Enabled => "enabled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FilesystemSandbox {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

impl FilesystemSandbox {
    pub const ALL: [FilesystemSandbox; 3] = [
        FilesystemSandbox::ReadOnly,
        FilesystemSandbox::WorkspaceWrite,
        FilesystemSandbox::DangerFullAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FilesystemSandbox::ReadOnly => "read-only",
            FilesystemSandbox::WorkspaceWrite => "workspace-write",
            FilesystemSandbox::DangerFullAccess => "danger-full-access",
        }
    }

    /// The `type` of app-server's `SandboxPolicy` object.
    pub fn policy_type(self) -> &'static str {
        match self {
            FilesystemSandbox::ReadOnly => "readOnly",
            FilesystemSandbox::WorkspaceWrite => "workspaceWrite",
            FilesystemSandbox::DangerFullAccess => "dangerFullAccess",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

impl Effort {
    pub const ALL: [Effort; 6] = [
        Effort::None,
        Effort::Minimal,
        Effort::Low,
        Effort::Medium,
        Effort::High,
        Effort::Xhigh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
        }
    }
}

// ----- requests ---------------------------------------------------------------------

/// A dynamic tool the session declares to codex (`thread/start.dynamicTools`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DynamicToolDecl {
    /// `^[a-zA-Z0-9_-]+$`, unique within its namespace.
    pub name: String,
    pub description: String,
    /// A JSON Schema object for the arguments.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defer_loading: Option<bool>,
}

/// `POST /api/sessions`. Every field is optional; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionRequest {
    /// The session's working directory. Relative paths (such as `.`) are resolved against
    /// the directory the server runs in. Without it: the app-server's configured `cwd`
    /// (a fleet entry's), else codex's default, the folder its app-server runs in.
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub approval_policy: Option<ApprovalPolicy>,
    pub network_access: Option<NetworkAccess>,
    pub filesystem_sandbox: Option<FilesystemSandbox>,
    /// The session's tools, fixed for its lifetime (at most 128). Without it the session
    /// declares the server's catalog.
    pub dynamic_tools: Option<Vec<DynamicToolDecl>>,
    /// Switchboard: the app-server of the fleet to start it on, by name (400
    /// `unknown_app_server` for another); without it, the first.
    #[serde(default)]
    pub app_server: Option<String>,
}

/// `POST /api/sessions/{sessionId}/messages`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageRequest {
    /// Sent verbatim as the user message; must not be blank.
    pub text: String,
    /// Tools are fixed when the session is created: the same catalog again is accepted
    /// and ignored, a different one is refused (400).
    pub dynamic_tools: Option<Vec<DynamicToolDecl>>,
    pub model: Option<String>,
    pub effort: Option<Effort>,
    pub approval_policy: Option<ApprovalPolicy>,
    pub network_access: Option<NetworkAccess>,
    pub filesystem_sandbox: Option<FilesystemSandbox>,
}

/// One item of a tool-call answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ContentItemBody {
    InputText {
        text: String,
    },
    #[serde(rename_all = "camelCase")]
    InputImage {
        /// A URL or a data URL; not empty.
        image_url: String,
    },
    #[serde(rename_all = "camelCase")]
    InputAudio {
        /// A URL or a data URL; not empty.
        audio_url: String,
    },
}

/// `POST /api/tool-calls/{requestId}/response`. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RespondRequest {
    /// The whole tool-call result, `{contentItems, success}`; when present the other
    /// fields are ignored.
    #[schema(value_type = Object)]
    pub response: Option<Value>,
    /// Default `true`.
    pub success: Option<bool>,
    pub content_items: Option<Vec<ContentItemBody>>,
    /// One `inputText` item, used when `contentItems` is absent.
    pub text: Option<String>,
    /// Switchboard: the answerer's claim (also taken from the `X-Switchboard-Claim`
    /// header). A claimed call takes only its holder's answer; a call nobody claimed
    /// takes any.
    pub claim_id: Option<String>,
}

// ----- sessions ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionControls {
    pub model: Option<String>,
    pub approval_policy: ApprovalPolicy,
    pub network_access: NetworkAccess,
    pub filesystem_sandbox: FilesystemSandbox,
    /// Other settings; `reasoningEffort` when codex reports one.
    #[schema(value_type = Object)]
    pub settings: Value,
}

/// A session, in the shape of codex-manager's `SessionSummary` plus Switchboard extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The codex thread id; used in every path and as the websocket `threadId`.
    pub session_id: String,
    pub title: String,
    /// Whether the session has had a turn (codex has written its rollout).
    pub materialized: bool,
    pub model_provider: String,
    pub approval_policy: ApprovalPolicy,
    pub session_controls: SessionControls,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Seconds since the Unix epoch.
    pub updated_at: i64,
    pub cwd: String,
    pub source: String,
    pub project_id: Option<String>,
    /// Switchboard: idle, running, failed, disconnected or closed.
    pub status: String,
    /// Switchboard: the number of turns so far.
    pub turn_count: usize,
    /// Switchboard: the running turn, if any.
    pub active_turn_id: Option<String>,
    /// Switchboard: the names of the declared tools.
    pub tools: Vec<String>,
    /// Switchboard: every row of the session's transcript is on disk.
    #[serde(default)]
    pub persisted: bool,
    /// Switchboard: why the transcript is not being written now (e.g. a full disk);
    /// its rows wait in memory and writing is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_error: Option<String>,
    /// Switchboard: the thread's name (`thread/name/set`, by any client), when it has
    /// one; the title is the name then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Switchboard: the thread's token usage as codex last reported it
    /// (`thread/tokenUsage/updated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsageView>,
    /// Switchboard: `started` or `resumed` by this server, or `watched` (a thread
    /// another client runs, attached with `POST /api/threads/{threadId}/watch`).
    #[serde(default)]
    pub origin: String,
    /// Switchboard: a watched session's requests are answered automatically (the
    /// catalog's handlers and rules); false by default, always false for the others.
    #[serde(default)]
    pub auto_answer: bool,
    /// Switchboard: the app-server of the fleet the session is on.
    #[serde(default)]
    pub app_server: String,
}

/// A thread's token usage: the whole thread, the last model response, and the model's
/// context window when codex knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsageView {
    pub total: TokenCountsView,
    pub last: TokenCountsView,
    pub model_context_window: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCountsView {
    pub total_tokens: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
}

impl From<crate::protocol::TokenBreakdown> for TokenCountsView {
    fn from(b: crate::protocol::TokenBreakdown) -> Self {
        TokenCountsView {
            total_tokens: b.total_tokens,
            input_tokens: b.input_tokens,
            cached_input_tokens: b.cached_input_tokens,
            output_tokens: b.output_tokens,
            reasoning_output_tokens: b.reasoning_output_tokens,
        }
    }
}

impl From<crate::protocol::TokenUsage> for TokenUsageView {
    fn from(u: crate::protocol::TokenUsage) -> Self {
        TokenUsageView {
            total: u.total.into(),
            last: u.last.into(),
            model_context_window: u.model_context_window,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TurnState {
    InProgress,
    Completed,
    Interrupted,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TurnErrorView {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserInputView {
    /// Always `text`.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ToolCallItemStatus {
    InProgress,
    Completed,
    Failed,
}

/// An item of a turn, in app-server's shape, rebuilt from the session's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ThreadItemView {
    UserMessage {
        id: String,
        content: Vec<UserInputView>,
    },
    AgentMessage {
        id: String,
        text: String,
    },
    #[serde(rename_all = "camelCase")]
    DynamicToolCall {
        /// The call id.
        id: String,
        request_id: String,
        tool: String,
        namespace: Option<String>,
        #[schema(value_type = Object)]
        arguments: Value,
        status: ToolCallItemStatus,
        success: Option<bool>,
        content_items: Option<Vec<ContentItemBody>>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TurnView {
    pub id: String,
    pub status: TurnState,
    pub items: Vec<ThreadItemView>,
    pub error: Option<TurnErrorView>,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    pub completed_at_ms: Option<i64>,
}

/// The session's codex thread, with its turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThreadView {
    pub id: String,
    pub preview: String,
    pub model_provider: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Seconds since the Unix epoch.
    pub updated_at: i64,
    pub cwd: String,
    #[schema(value_type = Object)]
    pub source: Value,
    pub turns: Vec<TurnView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptRole {
    User,
    Assistant,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptStatus {
    Streaming,
    Complete,
    Canceled,
    Error,
}

/// One transcript entry, codex-manager style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptEntryView {
    pub message_id: String,
    /// Empty for entries outside any turn.
    pub turn_id: String,
    pub role: TranscriptRole,
    /// `userMessage`, `agentMessage`, `tool_call.request`, `tool_call.resolved`,
    /// `turn.started`, `turn.completed` or `error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    /// JSON text with the entry's data, for tool-call rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
    pub status: TranscriptStatus,
}

/// `POST /api/sessions` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedSession {
    pub session: SessionInfo,
    pub thread: ThreadView,
}

/// `GET /api/sessions/{sessionId}` reply: turns and transcript from one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionDetail {
    pub session: SessionInfo,
    pub thread: ThreadView,
    pub transcript: Vec<TranscriptEntryView>,
}

/// `GET /api/sessions` reply: open sessions, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub data: Vec<SessionInfo>,
}

/// `DELETE /api/sessions/{sessionId}` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDeleted {
    pub status: OkStatus,
    pub session_id: String,
    pub title: String,
    /// Always 0: the transcript file is kept.
    pub deleted_file_count: u64,
}

/// 410: the session was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedSessionBody {
    pub status: DeletedStatus,
    pub session_id: String,
    pub title: Option<String>,
    pub message: String,
    /// ISO-8601.
    pub deleted_at: String,
}

/// `POST /api/sessions/{sessionId}/messages` reply (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAccepted {
    pub status: AcceptedStatus,
    pub session_id: String,
    pub turn_id: String,
}

/// `POST /api/sessions/{sessionId}/interrupt` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Interrupted {
    pub status: OkStatus,
    pub session_id: String,
    pub turn_id: String,
}

/// 409 from `interrupt`: nothing to interrupt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoActiveTurnBody {
    pub status: NoActiveTurnStatus,
    pub session_id: String,
}

/// 404 for an unknown session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionNotFoundBody {
    pub status: NotFoundStatus,
    pub session_id: String,
}

// ----- tool calls -------------------------------------------------------------------

/// The params of app-server's `item/tool/call` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallParamsView {
    pub thread_id: String,
    pub turn_id: String,
    pub call_id: String,
    pub namespace: Option<String>,
    pub tool: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnswererView {
    /// `handler`: a catalog handler of the server answers it; `person`: it waits for an
    /// operator or a remote client.
    pub kind: String,
    pub name: Option<String>,
}

/// A tool call app-server is waiting on: codex-manager's pending-call record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCallRecord {
    /// The id to answer it with (URL-safe).
    pub request_id: String,
    pub tool: String,
    /// The parsed arguments, as the model sent them (not checked against the schema).
    #[schema(value_type = Object)]
    pub arguments: Value,
    pub thread_id: String,
    pub call_id: String,
    pub turn_id: String,
    /// The `dynamicToolCall` item id (the call id).
    pub item_id: String,
    /// Always `item/tool/call`.
    pub method: String,
    /// `Tool call requested: <tool>`.
    pub summary: String,
    pub details: ToolCallParamsView,
    /// ISO-8601.
    pub created_at: String,
    pub status: PendingStatus,
    /// Switchboard: the tool's namespace.
    pub namespace: Option<String>,
    /// Switchboard: who is expected to answer.
    pub answerer: AnswererView,
    /// Switchboard: where the arguments miss the catalog's input schema.
    pub schema_problems: Vec<String>,
    /// Switchboard: the worker that claimed the call, while its lease runs (`null` when
    /// nobody holds it: anyone may claim or answer it).
    #[serde(default)]
    pub claim: Option<ClaimView>,
    /// Switchboard: the app-server of the fleet that asked for it.
    #[serde(default)]
    pub app_server: String,
}

/// Payload of `tool_call_claimed` and `tool_call_released`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimEventPayload {
    pub request_id: String,
    pub thread_id: String,
    /// `claimed`, `renewed`, `released`, `expired` (the lease ran out without an
    /// answer: the holder died or stalled) or `taken_over` (`claim` is the replaced
    /// one; `call.claim` the new holder's).
    pub reason: String,
    /// The claim that was taken, renewed or ended.
    pub claim: ClaimView,
    /// The call as it is now (its `claim` is `null` once released or expired).
    pub call: PendingCallRecord,
}

/// Payload of `request_claimed` and `request_released`: the same for an approval, a
/// question or an elicitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestClaimEventPayload {
    pub request_id: String,
    pub thread_id: String,
    /// `claimed`, `renewed`, `released`, `expired` or `taken_over` (`claim` is the
    /// replaced one; `request.claim` the new holder's).
    pub reason: String,
    /// The claim that was taken, renewed or ended.
    pub claim: ClaimView,
    /// The request as it is now (its `claim` is `null` once released or expired).
    pub request: super::approvals::RequestRecord,
}

/// A worker's (or an operator's) claim on a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    pub claim_id: String,
    pub holder: String,
    /// When the lease ends unless renewed (ms since the epoch).
    pub lease_expires_at_ms: i64,
}

/// `POST /api/tool-calls/{requestId}/claim` and `POST /api/requests/{requestId}/claim`.
/// Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRequest {
    /// Who claims it, as others see it ("being answered by ..."): an operator's or a
    /// worker's name (default: `worker`, else the `X-Switchboard-Client` header, else
    /// `api client`).
    pub holder: Option<String>,
    /// The same as `holder` (the name workers have sent since claims began).
    pub worker: Option<String>,
    /// How long the claim holds without a renewal, 1 to 600000 (default 30000).
    pub lease_ms: Option<u64>,
    /// The caller's claim, to renew its lease.
    pub claim_id: Option<String>,
    /// Take the request over from another holder (default false: a held request is
    /// refused with `409 call_claimed`). The replaced holder's answers are refused from
    /// then on; `tool_call_released` / `request_released` with reason `taken_over`
    /// tells everyone.
    pub takeover: Option<bool>,
}

/// `status: "claimed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimedStatus {
    Claimed,
}

/// 200 from the claim route: the caller holds the call until `leaseExpiresAtMs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimGranted {
    pub status: ClaimedStatus,
    pub request_id: String,
    pub thread_id: String,
    pub claim_id: String,
    pub holder: String,
    pub lease_expires_at_ms: i64,
    /// The caller's own claim was renewed.
    pub renewed: bool,
    /// The claim this one took over (`takeover`), `null` otherwise.
    #[serde(default)]
    pub replaced: Option<ClaimView>,
}

/// `code: "call_claimed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimedCode {
    CallClaimed,
}

/// 409 from the claim, release and response routes: another worker holds the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallClaimedBody {
    pub status: ConflictStatus,
    pub code: ClaimedCode,
    pub request_id: String,
    pub holder: String,
    pub lease_expires_at_ms: i64,
    pub message: String,
}

/// `DELETE /api/tool-calls/{requestId}/claim`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRequest {
    /// The claim to give back (also taken from the `X-Switchboard-Claim` header).
    pub claim_id: Option<String>,
}

/// `status: "released"` / `"not_claimed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleasedStatus {
    Released,
    /// Nobody held it (its lease had run out): nothing to give back.
    NotClaimed,
}

/// 200 from the release route: anyone may claim or answer the call again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimReleased {
    pub status: ReleasedStatus,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PendingCallList {
    pub data: Vec<PendingCallRecord>,
}

/// 200 from the response route: the answer was written to app-server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RespondAccepted {
    pub status: OkStatus,
    pub request_id: String,
    pub thread_id: String,
}

/// 404 from the response route: unknown, already answered, or expired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallNotFoundBody {
    pub status: NotFoundStatus,
    pub request_id: String,
}

/// 409 from the response route: another answer is being written right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallInFlightBody {
    pub status: ConflictStatus,
    pub code: InFlightCode,
    pub request_id: String,
}

/// 500 from the response route: writing failed; the call is pending again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RespondFailedBody {
    pub status: ErrorStatus,
    pub request_id: String,
    pub message: String,
}

// ----- errors and health ------------------------------------------------------------

/// One validation problem, in the spirit of a zod issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Issue {
    /// `invalid_type`, `invalid_enum_value`, `too_small`, `too_big` or `custom`.
    pub code: String,
    /// Where: field names and array indexes.
    #[schema(value_type = Vec<Object>)]
    pub path: Vec<Value>,
    pub message: String,
}

/// Every other error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub status: ErrorStatus,
    /// `invalid_request`, `request_failed`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `payload_too_large`, `app_server_rejected`,
    /// `app_server_error`, `app_server_unavailable`, `app_server_timeout`.
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues: Option<Vec<Issue>>,
}

/// Per-tool statistics of the calls that ended since Switchboard started
/// (`GET /api/catalog/stats`): what tells a catalog's author which description or
/// schema the model misunderstands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogStats {
    /// One entry per tool called, by qualified name.
    pub tools: Vec<ToolStatsRecord>,
}

/// One tool's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolStatsRecord {
    /// The qualified name (`namespace.name` for a tool in a namespace).
    pub tool: String,
    /// Calls that ended (answered or expired).
    pub calls: u64,
    /// Calls whose arguments broke the tool's `input_schema`, and their share in percent.
    pub bad_arguments: u64,
    pub bad_arguments_percent: u64,
    /// The argument problem seen most often.
    pub most_common_problem: Option<String>,
    /// Answers that broke the tool's `output_schema`, and their share in percent.
    pub bad_answers: u64,
    pub bad_answers_percent: u64,
    /// Answers with `success: false`.
    pub failures: u64,
    /// Calls whose handler itself failed (timeouts included).
    pub handler_failures: u64,
    pub timeouts: u64,
    pub expired: u64,
    /// Of the last 1,000 answered calls.
    pub median_latency_ms: Option<u64>,
}

impl From<crate::bridge::ToolStatsView> for ToolStatsRecord {
    fn from(v: crate::bridge::ToolStatsView) -> ToolStatsRecord {
        ToolStatsRecord {
            tool: v.tool,
            calls: v.calls,
            bad_arguments: v.bad_arguments,
            bad_arguments_percent: v.bad_arguments_percent,
            most_common_problem: v.most_common_problem,
            bad_answers: v.bad_answers,
            bad_answers_percent: v.bad_answers_percent,
            failures: v.failures,
            handler_failures: v.handler_failures,
            timeouts: v.timeouts,
            expired: v.expired,
            median_latency_ms: v.median_latency_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`; `degraded` when some session's transcript is not being written (a full
    /// disk: `reason` says which and why); `reconnecting` or `disconnected` (with HTTP
    /// 503) when app-server is gone.
    pub status: String,
    /// Why the status is `degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub version: String,
    /// How the bridge reaches app-server.
    pub transport: String,
    /// The app-server connection: `{state, ...}`.
    #[schema(value_type = Object)]
    pub connection: Value,
    /// Sessions, pending calls and answer counts.
    #[schema(value_type = Object)]
    pub totals: Value,
    /// Every app-server of the fleet, the default first: `{name, transport,
    /// connection: {state, ...}, sessions, pending}`. With several, `status` is `ok`
    /// only while all are connected, `degraded` (naming them) while some are not.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub app_servers: Vec<Value>,
    /// The catalog in use and its last reload; `degraded` while that reload failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogInfo>,
}

/// The catalog the server answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogInfo {
    /// The catalog file; absent when the server runs without one.
    pub path: Option<String>,
    /// Successful loads since the server started, the first being 0.
    pub generation: u64,
    pub tools: usize,
    /// The last reload (SIGHUP, a change of the file, `POST /api/catalog/reload`).
    pub last_reload: Option<CatalogReloadReply>,
    /// Sessions started with tool definitions that differ from the catalog in use.
    pub outdated_sessions: Vec<OutdatedSessionRecord>,
}

/// What a reload did: the reply of `POST /api/catalog/reload` and the payload of the
/// `catalog_reloaded` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogReloadReply {
    /// `ok`: the file was loaded and is in use from the next call on; `failed`: it was
    /// not (`error` says what to fix, with file and line), the previous catalog stays.
    pub status: String,
    pub path: Option<String>,
    /// The generation in use after the reload.
    pub generation: u64,
    pub at_ms: i64,
    /// How each tool changed (empty when nothing changed, or the load failed).
    pub changes: Vec<CatalogChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sessions that keep older definitions of some tools (codex fixes them at
    /// `thread/start`): a new session gets the new ones.
    pub outdated_sessions: Vec<OutdatedSessionRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogChange {
    /// The tool's qualified name (`namespace.name`).
    pub tool: String,
    /// `added`, `removed`, `definition` (description, schemas, namespace) or
    /// `answering` (handler, static answer, examples).
    pub change: String,
    /// Only sessions created from now on see it; running ones keep what they declared.
    /// False for `answering`, which applies to the next call of every session.
    pub new_sessions_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutdatedSessionRecord {
    pub session_id: String,
    /// The tools whose definition in the session differs from the catalog in use.
    pub tools: Vec<String>,
}

// ----- websocket --------------------------------------------------------------------

/// A frame the client sends on `/api/stream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum StreamCommand {
    /// Receive only this session's events (replaces any earlier filter); answered with
    /// `{"type":"subscribed","threadId":...}`.
    #[serde(rename_all = "camelCase")]
    Subscribe { thread_id: String },
    /// Receive every event again; answered with `{"type":"unsubscribed"}`.
    Unsubscribe,
    /// Answered with `{"type":"pong"}`.
    Ping,
    /// Claim any pending request (tool call, approval, question, elicitation), renew
    /// the caller's claim, or take it over (as the claim routes do); answered with
    /// `{"type":"claimed", requestId, threadId, claimId, holder, leaseExpiresAtMs,
    /// renewed, replaced}` or `{"type":"claim_refused", requestId, code, message,
    /// holder?, leaseExpiresAtMs?}` (`call_claimed`, `not_found`, `in_flight`,
    /// `not_claimable`).
    #[serde(rename_all = "camelCase")]
    Claim {
        request_id: String,
        holder: Option<String>,
        worker: Option<String>,
        lease_ms: Option<u64>,
        claim_id: Option<String>,
        #[serde(default)]
        takeover: bool,
    },
    /// Give a claim back; answered with `{"type":"released", requestId, status}` or
    /// `claim_refused`.
    #[serde(rename_all = "camelCase")]
    Release {
        request_id: String,
        claim_id: String,
    },
}

/// A frame the server sends on `/api/stream`: `ready` on connect, the answers to
/// commands, `error` for a bad command or a skipped oversized event, and events.
///
/// Event types: `app_server.request.item.tool.call` (payload [`ToolCallSignal`]),
/// `tool_call_requested` ([`PendingCallRecord`]), `tool_call_resolved`
/// ([`ToolCallResolvedPayload`]), `app_server.<method>` for every app-server
/// notification ([`NotificationSignal`]), then its raw `notification` ([`RawNotification`]),
/// `server_request` for every server request, raw ([`RawServerRequest`]),
/// `transcript_updated` ([`TranscriptUpdate`]),
/// `session_created`, `session_updated`, `session_deleted` ([`SessionEventPayload`]),
/// `server_request_refused`, `bridge_error`, `connection`, `tool_call_claimed` and
/// `tool_call_released` ([`ClaimEventPayload`]: a worker claimed or renewed a call, or
/// released it, or its lease ran out, after which any worker may claim it, or someone
/// took it over), `request_claimed` and `request_released` (the same for approvals,
/// questions and elicitations, [`RequestClaimEventPayload`]), and
/// `lagged` (`{skipped}`: this socket missed events; re-read state over HTTP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub payload: Option<Value>,
    /// Only on `error` frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignalContext {
    pub thread_id: Option<String>,
    pub turn_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignalSession {
    pub id: String,
    pub title: String,
    pub project_id: Option<String>,
}

/// Payload of `app_server.request.item.tool.call`, codex-manager's signal shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallSignal {
    /// `app_server`.
    pub source: String,
    /// `request`.
    pub signal_type: String,
    /// `app_server.request.item.tool.call`.
    pub event_type: String,
    /// `item/tool/call`.
    pub method: String,
    /// ISO-8601.
    pub received_at: String,
    pub context: SignalContext,
    pub params: ToolCallParamsView,
    pub session: SignalSession,
    /// The id the response route accepts.
    pub request_id: String,
}

/// Payload of `app_server.<method>` events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSignal {
    /// `app_server`.
    pub source: String,
    /// `notification`.
    pub signal_type: String,
    pub event_type: String,
    pub method: String,
    pub received_at: String,
    pub context: SignalContext,
    /// The notification's params, serialised once and shared with its raw
    /// `notification` frame; cut to fit a frame when too large (see `truncated`).
    #[schema(value_type = Object)]
    pub params: Box<RawValue>,
    pub session: Option<SignalSession>,
    /// Switchboard: present when strings of `params` were cut to keep the frame under
    /// 1,000,000 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncation>,
}

/// What was cut from an event too large for one websocket frame: the longest strings
/// keep their start and end around a marker (`[… N bytes cut by Switchboard …]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Truncation {
    /// Bytes cut, over every string.
    pub cut_bytes: usize,
    /// Strings that were cut.
    pub strings: usize,
}

/// Payload of `notification`, codex-manager's raw frame for every app-server
/// notification: `{method, params}` as app-server sent them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RawNotification {
    pub method: String,
    #[schema(value_type = Object)]
    pub params: Box<RawValue>,
    /// Switchboard: present when strings of `params` were cut to fit a frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncation>,
}

/// Payload of `server_request`, codex-manager's raw frame for a server request:
/// `{method, id, params}` as app-server sent them (`id` is app-server's JSON-RPC id, a
/// number or a string, not the `requestId` the answer routes take).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RawServerRequest {
    pub method: String,
    #[schema(value_type = Object)]
    pub id: Value,
    #[schema(value_type = Object)]
    pub params: Box<RawValue>,
    /// Switchboard: present when strings of `params` were cut to fit a frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallEndStatus {
    Resolved,
    Expired,
}

/// Payload of `tool_call_resolved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallResolvedPayload {
    pub request_id: String,
    pub status: CallEndStatus,
    pub success: bool,
    pub thread_id: String,
    pub turn_id: String,
    pub call_id: String,
    pub tool: String,
    /// Who answered: `handler NAME`, `operator`, `remote CLIENT`, `policy (...)`.
    pub answered_by: Option<String>,
    /// Why an expired call expired.
    pub reason: Option<String>,
    pub latency_ms: u64,
    /// Switchboard: where the answer breaks the tool's `output_schema` (a successful
    /// JSON answer of a tool that has one); empty when it matches.
    #[serde(default)]
    pub output_schema_problems: Vec<String>,
}

/// Payload of `transcript_updated`: a new entry, or a new version of one with the same
/// `messageId` (a tool call's request entry is replaced by its resolution). `threadId`,
/// `turnId`, `messageId` and `type` repeat the entry's, as codex-manager sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptUpdate {
    pub session_id: String,
    pub thread_id: String,
    pub turn_id: String,
    pub message_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub entry: TranscriptEntryView,
}

/// Payload of `session_created`, `session_updated` and `session_deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionEventPayload {
    pub session_id: String,
    pub title: Option<String>,
    pub status: Option<String>,
    pub active_turn_id: Option<String>,
    /// Why a deleted session ended.
    pub reason: Option<String>,
    /// Switchboard: every row of the transcript is on disk (see `SessionInfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persisted: Option<bool>,
    /// Switchboard: why the transcript is not being written now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist_error: Option<String>,
}

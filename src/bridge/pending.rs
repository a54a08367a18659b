//! The store of requests app-server is waiting on: tool calls, approvals, questions and
//! elicitations alike. Pure data: the bridge actor owns it, so every transition happens in
//! one place and exactly once, whatever the kind of request.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::SimpleDecision;
use super::events::Responder;
use crate::appserver::ConnectionId;
use crate::protocol::{
    Answer, CommandApprovalParams, FileChangeApprovalParams, LegacyApprovalParams,
    McpElicitationParams, PermissionsApprovalParams, RequestId, RequestKind, ToolCallResult,
    UserInputParams,
};

/// Who is expected to answer a waiting request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answerer {
    /// A catalog handler runs for it.
    Handler { name: String },
    /// Nobody automatic: an operator or a remote client.
    Person,
    /// A handler is held for review: it runs, and a person sends (or edits) its answer.
    Review { name: String },
}

impl Answerer {
    pub fn label(&self) -> &str {
        match self {
            Answerer::Handler { name } => name,
            Answerer::Person | Answerer::Review { .. } => "you",
        }
    }

    /// Whether a person (or a remote client) has to act for the request to end.
    pub fn needs_person(&self) -> bool {
        matches!(self, Answerer::Person | Answerer::Review { .. })
    }
}

/// Where a request's one answer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerState {
    /// Nothing yet (a handler may be running for it).
    Waiting,
    /// A held handler's answer, waiting for a person to review and send it.
    Proposed(Answer),
    /// An automatic answer (handler, policy) that could not be written because the
    /// connection was lost: written as soon as app-server sends the request again.
    Stashed { answer: Answer, by: Responder },
    /// An answer is being written to app-server right now; `proposed` comes back if the
    /// write fails.
    Writing {
        by: Responder,
        proposed: Option<Answer>,
    },
}

impl AnswerState {
    pub fn is_writing(&self) -> bool {
        matches!(self, AnswerState::Writing { .. })
    }

    pub fn proposed(&self) -> Option<&Answer> {
        match self {
            AnswerState::Proposed(answer) => Some(answer),
            AnswerState::Writing { proposed, .. } => proposed.as_ref(),
            AnswerState::Waiting | AnswerState::Stashed { .. } => None,
        }
    }
}

/// A claim on a pending request (a worker's on a tool call, an operator's on whatever
/// their console has open): until its lease ends, only its holder may answer it (a
/// request nobody claimed is answerable by anyone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallClaim {
    /// What the holder renews, releases and answers with.
    pub claim_id: String,
    /// Who holds it (a worker's or an operator's name).
    pub holder: String,
    /// When the lease ends unless renewed (ms since the epoch).
    pub lease_expires_at_ms: i64,
}

/// A claim as the actor keeps it: the view, the lease's end on the runtime's clock, and
/// the timer that reports the end.
#[derive(Debug, Clone)]
pub struct HeldClaim {
    pub claim: CallClaim,
    /// How long each lease (and each renewal) runs.
    pub lease: std::time::Duration,
    pub expires_at: tokio::time::Instant,
    pub timer: tokio::task::AbortHandle,
}

/// What is particular to a pending tool call.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub call_id: String,
    pub namespace: Option<String>,
    pub tool: String,
    pub arguments: Value,
    /// Where the arguments break the tool's `input_schema` (codex does not check).
    pub schema_problems: Vec<String>,
    /// The handler running for this call, aborted when the call ends.
    pub handler_task: Option<tokio::task::AbortHandle>,
    /// How the handler itself failed for this call (its answer says so to the model).
    pub handler_failure: Option<HandlerFailure>,
}

/// A handler's own failure (exit status, bad output, unreachable URL, timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerFailure {
    pub message: String,
    /// It ran out of its `timeout_ms`.
    pub timed_out: bool,
}

impl HandlerFailure {
    /// The failure of a run, if it failed: a failed run that lasted its whole
    /// `timeout_ms` timed out.
    pub fn of(
        spec: &crate::catalog::HandlerSpec,
        outcome: &crate::handlers::HandlerOutcome,
    ) -> Option<HandlerFailure> {
        let message = outcome.failure.clone()?;
        let timed_out = spec
            .timeout()
            .is_some_and(|timeout| outcome.elapsed >= timeout);
        Some(HandlerFailure { message, timed_out })
    }
}

/// What a pending request is, with the params its answer is checked against.
#[derive(Debug, Clone)]
pub enum PendingKind {
    ToolCall(ToolCall),
    CommandApproval(Box<CommandApprovalParams>),
    /// `changes` come from the `fileChange` item of the `item/started` before the request.
    FileChangeApproval {
        params: FileChangeApprovalParams,
        changes: Option<Value>,
    },
    PermissionsApproval(PermissionsApprovalParams),
    UserInput(UserInputParams),
    McpElicitation(Box<McpElicitationParams>),
    LegacyApproval(Box<LegacyApprovalParams>),
}

impl PendingKind {
    pub fn request_kind(&self) -> RequestKind {
        match self {
            PendingKind::ToolCall(_) => RequestKind::ToolCall,
            PendingKind::CommandApproval(_) => RequestKind::CommandApproval,
            PendingKind::FileChangeApproval { .. } => RequestKind::FileChangeApproval,
            PendingKind::PermissionsApproval(_) => RequestKind::PermissionsApproval,
            PendingKind::UserInput(_) => RequestKind::UserInput,
            PendingKind::McpElicitation(_) => RequestKind::McpElicitation,
            PendingKind::LegacyApproval(_) => RequestKind::LegacyApproval,
        }
    }

    /// What identifies the request within its thread across a reconnect (app-server sends
    /// it again with a new rpc id): the call or item id, or the elicitation id.
    pub fn item_key(&self) -> Option<String> {
        match self {
            PendingKind::ToolCall(call) => Some(call.call_id.clone()),
            PendingKind::CommandApproval(p) => {
                Some(p.approval_id.clone().unwrap_or_else(|| p.item_id.clone()))
            }
            PendingKind::FileChangeApproval { params, .. } => Some(params.item_id.clone()),
            PendingKind::PermissionsApproval(p) => Some(p.item_id.clone()),
            PendingKind::UserInput(p) => Some(p.item_id.clone()),
            PendingKind::McpElicitation(p) => p.elicitation_id.clone(),
            PendingKind::LegacyApproval(p) => Some(p.call_id.clone()),
        }
    }

    pub fn tool_call(&self) -> Option<&ToolCall> {
        match self {
            PendingKind::ToolCall(call) => Some(call),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PendingRequest {
    /// Ours: URL-safe, unique across app-server restarts.
    pub key: String,
    /// app-server's JSON-RPC id, echoed with its exact JSON type.
    pub rpc: RequestId,
    /// Which connection the rpc id belongs to; ids restart with each app-server process
    /// (and each app-server of a fleet counts from 0 on its own).
    pub connection: ConnectionId,
    /// The app-server of the fleet that sent it.
    pub app_server: String,
    pub method: String,
    pub thread_id: String,
    /// `None` only for an MCP elicitation app-server could not tie to a turn.
    pub turn_id: Option<String>,
    /// The request's params as app-server sent them, for consumers that show them.
    pub params: Value,
    pub received_at_ms: i64,
    pub received_at: Instant,
    pub answerer: Answerer,
    pub kind: PendingKind,
    pub answer: AnswerState,
    /// app-server reported the request ended while our answer was being written.
    pub completed_upstream: bool,
    /// Who claimed it (a worker, an operator), while the lease runs.
    pub claim: Option<HeldClaim>,
}

/// What consumers see of a pending tool call. Field names follow codex-manager's
/// pending-call record so the service can pass it on unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCallView {
    pub request_id: String,
    /// The app-server of the fleet that asked for it.
    pub app_server: String,
    pub thread_id: String,
    pub turn_id: String,
    pub call_id: String,
    pub namespace: Option<String>,
    pub tool: String,
    pub arguments: Value,
    pub received_at_ms: i64,
    pub answerer: Answerer,
    pub schema_problems: Vec<String>,
    pub in_flight: bool,
    /// A held handler's answer, ready for review.
    pub proposed: Option<ToolCallResult>,
    /// The worker that claimed it, while its lease runs.
    pub claim: Option<CallClaim>,
}

/// What consumers see of a pending approval, question or elicitation.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequestView {
    /// Ours, as for tool calls: what the answer methods take.
    pub request_id: String,
    /// The app-server of the fleet that asked.
    pub app_server: String,
    /// app-server's JSON-RPC id (codex-manager's `approvalId` / `requestId` is its decimal
    /// text).
    pub rpc_id: RequestId,
    pub kind: RequestKind,
    pub method: String,
    pub thread_id: String,
    pub turn_id: Option<String>,
    /// The item the request is about (the model's call id), when it names one.
    pub item_id: Option<String>,
    /// One line saying what is asked.
    pub summary: String,
    /// The params as app-server sent them.
    pub params: Value,
    /// For a command or file-change approval: every decision codex accepts, those it
    /// listed in `availableDecisions` first. Empty for the other kinds.
    pub decisions: Vec<Value>,
    /// For a file-change approval: the changes of its `fileChange` item, when seen.
    pub changes: Option<Value>,
    pub received_at_ms: i64,
    pub answerer: Answerer,
    pub in_flight: bool,
    /// Who claimed it (an operator who has it open, a worker), while the lease runs;
    /// only the holder's answer is taken meanwhile.
    pub claim: Option<CallClaim>,
}

impl PendingRequest {
    pub fn request_kind(&self) -> RequestKind {
        self.kind.request_kind()
    }

    /// What recognises it when app-server sends it again; `None` if nothing can.
    pub fn item_key(&self) -> Option<ItemKey> {
        let item = self.kind.item_key()?;
        Some(ItemKey::new(&self.thread_id, self.request_kind(), &item))
    }

    pub fn tool_call(&self) -> Option<&ToolCall> {
        self.kind.tool_call()
    }

    pub fn tool_call_mut(&mut self) -> Option<&mut ToolCall> {
        match &mut self.kind {
            PendingKind::ToolCall(call) => Some(call),
            _ => None,
        }
    }

    /// The tool-call view, for a tool call.
    pub fn call_view(&self) -> Option<PendingCallView> {
        let call = self.tool_call()?;
        Some(PendingCallView {
            request_id: self.key.clone(),
            app_server: self.app_server.clone(),
            thread_id: self.thread_id.clone(),
            turn_id: self.turn_id.clone().unwrap_or_default(),
            call_id: call.call_id.clone(),
            namespace: call.namespace.clone(),
            tool: call.tool.clone(),
            arguments: call.arguments.clone(),
            received_at_ms: self.received_at_ms,
            answerer: self.answerer.clone(),
            schema_problems: call.schema_problems.clone(),
            in_flight: self.answer.is_writing(),
            proposed: match self.answer.proposed() {
                Some(Answer::ToolCall(result)) => Some(result.clone()),
                _ => None,
            },
            claim: self.claim.as_ref().map(|held| held.claim.clone()),
        })
    }

    /// The request view, for every kind but tool calls.
    pub fn request_view(&self) -> Option<PendingRequestView> {
        if self.tool_call().is_some() {
            return None;
        }
        let (decisions, changes) = match &self.kind {
            PendingKind::CommandApproval(p) => (
                p.decisions()
                    .iter()
                    .filter_map(|d| serde_json::to_value(d).ok())
                    .collect(),
                None,
            ),
            PendingKind::FileChangeApproval { changes, .. } => (
                crate::protocol::FileChangeDecision::ALL
                    .iter()
                    .filter_map(|d| serde_json::to_value(d).ok())
                    .collect(),
                changes.clone(),
            ),
            _ => (Vec::new(), None),
        };
        Some(PendingRequestView {
            request_id: self.key.clone(),
            app_server: self.app_server.clone(),
            rpc_id: self.rpc.clone(),
            kind: self.request_kind(),
            method: self.method.clone(),
            thread_id: self.thread_id.clone(),
            turn_id: self.turn_id.clone(),
            item_id: self.item_id(),
            summary: self.summary(),
            params: self.params.clone(),
            decisions,
            changes,
            received_at_ms: self.received_at_ms,
            answerer: self.answerer.clone(),
            in_flight: self.answer.is_writing(),
            claim: self.claim.as_ref().map(|held| held.claim.clone()),
        })
    }

    pub fn item_id(&self) -> Option<String> {
        match &self.kind {
            PendingKind::ToolCall(call) => Some(call.call_id.clone()),
            PendingKind::CommandApproval(p) => Some(p.item_id.clone()),
            PendingKind::FileChangeApproval { params, .. } => Some(params.item_id.clone()),
            PendingKind::PermissionsApproval(p) => Some(p.item_id.clone()),
            PendingKind::UserInput(p) => Some(p.item_id.clone()),
            PendingKind::McpElicitation(_) => None,
            PendingKind::LegacyApproval(p) => Some(p.call_id.clone()),
        }
    }

    /// The answer of codex-manager's `accept` / `decline` / `cancel` for this request:
    ///
    /// | kind | accept (`for_session`) | decline | cancel |
    /// |---|---|---|---|
    /// | command, file change | `accept` (`acceptForSession`) | `decline` | `cancel` |
    /// | permissions | all that was asked, scope `turn` (`session`) | nothing granted | nothing granted |
    /// | user input | `{"answers":{}}` (answers come with a full answer) | `{"answers":{}}` | `{"answers":{}}` |
    /// | MCP elicitation | `accept` (with `{}` content in form mode) | `decline` | `cancel` |
    /// | legacy | `approved` (`approved_for_session`) | `denied` with a rejection | `abort` |
    /// | tool call | not a decision: answer with content | | |
    pub fn simple_answer(
        &self,
        decision: SimpleDecision,
        for_session: bool,
    ) -> Result<Answer, String> {
        use crate::protocol::{
            CommandApprovalDecision as C, CommandApprovalResponse, ElicitationAction,
            FileChangeApprovalResponse, FileChangeDecision as F, GrantedPermissions,
            LegacyApprovalResponse, LegacyDenied, McpElicitationResponse, PermissionGrantScope,
            PermissionsApprovalResponse, ReviewDecision as R, UserInputResponse,
        };
        let kind = self.request_kind();
        Ok(match (&self.kind, decision) {
            (PendingKind::ToolCall(_), _) => {
                return Err(format!(
                    "request {} is a tool call: answer it with contentItems, not a decision",
                    self.key
                ));
            }
            (PendingKind::CommandApproval(_), d) => {
                Answer::CommandApproval(CommandApprovalResponse {
                    decision: match d {
                        SimpleDecision::Accept if for_session => C::AcceptForSession,
                        SimpleDecision::Accept => C::Accept,
                        SimpleDecision::Decline => C::Decline,
                        SimpleDecision::Cancel => C::Cancel,
                    },
                })
            }
            (PendingKind::FileChangeApproval { .. }, d) => {
                Answer::FileChangeApproval(FileChangeApprovalResponse {
                    decision: match d {
                        SimpleDecision::Accept if for_session => F::AcceptForSession,
                        SimpleDecision::Accept => F::Accept,
                        SimpleDecision::Decline => F::Decline,
                        SimpleDecision::Cancel => F::Cancel,
                    },
                })
            }
            (PendingKind::PermissionsApproval(params), SimpleDecision::Accept) => {
                let asked = without_nulls(&params.permissions);
                let permissions: GrantedPermissions = serde_json::from_value(asked)
                    .map_err(|e| format!("cannot grant what request {} asks: {e}", self.key))?;
                Answer::PermissionsApproval(PermissionsApprovalResponse {
                    permissions,
                    scope: if for_session {
                        PermissionGrantScope::Session
                    } else {
                        PermissionGrantScope::Turn
                    },
                    strict_auto_review: None,
                })
            }
            (PendingKind::UserInput(_), _) => Answer::UserInput(UserInputResponse::default()),
            (PendingKind::McpElicitation(params), d) => {
                Answer::McpElicitation(McpElicitationResponse {
                    action: match d {
                        SimpleDecision::Accept => ElicitationAction::Accept,
                        SimpleDecision::Decline => ElicitationAction::Decline,
                        SimpleDecision::Cancel => ElicitationAction::Cancel,
                    },
                    content: (d == SimpleDecision::Accept && !params.is_url())
                        .then(|| Value::Object(serde_json::Map::new())),
                    meta: None,
                })
            }
            (PendingKind::LegacyApproval(_), d) => Answer::LegacyApproval(LegacyApprovalResponse {
                decision: match d {
                    SimpleDecision::Accept if for_session => R::ApprovedForSession,
                    SimpleDecision::Accept => R::Approved,
                    SimpleDecision::Decline => R::Denied(LegacyDenied {
                        rejection: "declined by the operator".to_string(),
                    }),
                    SimpleDecision::Cancel => R::Abort,
                },
            }),
            (PendingKind::PermissionsApproval(_), _) => Answer::decline(kind, "denied"),
        })
    }

    /// One line saying what is asked, like codex-manager's `summary`.
    pub fn summary(&self) -> String {
        let with = |head: &str, detail: Option<&str>| match detail {
            Some(detail) if !detail.is_empty() => format!("{head}: {detail}"),
            _ => head.to_string(),
        };
        match &self.kind {
            PendingKind::ToolCall(call) => format!("Tool call: {}", call.tool),
            PendingKind::CommandApproval(p) => with(
                "Command approval required",
                p.command.as_deref().or(p.reason.as_deref()),
            ),
            PendingKind::FileChangeApproval { params, .. } => {
                with("File change approval required", params.reason.as_deref())
            }
            PendingKind::PermissionsApproval(p) => {
                with("Permissions requested", p.reason.as_deref())
            }
            PendingKind::UserInput(p) => match p.questions.len() {
                1 => "Tool input required (1 question)".to_string(),
                n => format!("Tool input required ({n} questions)"),
            },
            PendingKind::McpElicitation(p) if p.is_tool_call_approval() => with(
                &format!("MCP tool approval ({})", p.server_name),
                p.message.as_deref(),
            ),
            PendingKind::McpElicitation(p) => with(
                &format!("MCP server {} asks", p.server_name),
                p.message.as_deref(),
            ),
            PendingKind::LegacyApproval(p) => {
                with("Approval required (legacy)", p.reason.as_deref())
            }
        }
    }
}

/// What recognises a request when app-server sends it again (after a reconnect, or to a
/// restarted Switchboard) under a new rpc id: its thread, its kind, and its item (the call
/// id of a tool call, the item or approval id of an approval or question, the
/// elicitation id of a url elicitation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub thread_id: String,
    pub kind: RequestKind,
    pub item: String,
}

impl ItemKey {
    pub fn new(thread_id: &str, kind: RequestKind, item: &str) -> ItemKey {
        ItemKey {
            thread_id: thread_id.to_string(),
            kind,
            item: item.to_string(),
        }
    }
}

/// Pending requests with the indexes the bridge needs: by our key (ordered by arrival),
/// by (thread, kind, item) to recognise a request app-server sends again after a
/// reconnect, and by (connection, rpc id) for `serverRequest/resolved`.
#[derive(Default)]
pub struct PendingStore {
    /// Keyed by arrival order so listing is oldest first without sorting.
    requests: BTreeMap<u64, PendingRequest>,
    by_key: HashMap<String, u64>,
    by_item: HashMap<ItemKey, u64>,
    by_rpc: HashMap<(ConnectionId, RequestId), u64>,
    next_order: u64,
}

impl PendingStore {
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    pub fn insert(&mut self, request: PendingRequest) {
        let order = self.next_order;
        self.next_order += 1;
        self.by_key.insert(request.key.clone(), order);
        if let Some(item) = request.kind.item_key() {
            self.by_item.insert(
                ItemKey::new(&request.thread_id, request.request_kind(), &item),
                order,
            );
        }
        self.by_rpc
            .insert((request.connection, request.rpc.clone()), order);
        self.requests.insert(order, request);
    }

    pub fn get(&self, key: &str) -> Option<&PendingRequest> {
        self.by_key
            .get(key)
            .and_then(|order| self.requests.get(order))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut PendingRequest> {
        let order = self.by_key.get(key)?;
        self.requests.get_mut(order)
    }

    /// The request of this thread, kind and item (call id, item id), if pending.
    pub fn find_by_item_mut(
        &mut self,
        thread_id: &str,
        kind: RequestKind,
        item: &str,
    ) -> Option<&mut PendingRequest> {
        let order = self.by_item.get(&ItemKey::new(thread_id, kind, item))?;
        self.requests.get_mut(order)
    }

    /// The pending tool call with this call id.
    pub fn find_call_mut(&mut self, thread_id: &str, call_id: &str) -> Option<&mut PendingRequest> {
        self.find_by_item_mut(thread_id, RequestKind::ToolCall, call_id)
    }

    /// The key of the request app-server knows by this rpc id on this connection.
    pub fn key_of_rpc(&self, connection: ConnectionId, rpc: &RequestId) -> Option<String> {
        let order = self.by_rpc.get(&(connection, rpc.clone()))?;
        self.requests.get(order).map(|r| r.key.clone())
    }

    /// app-server sent the request again (after a reconnect) under a new rpc id.
    pub fn rebind(&mut self, key: &str, rpc: RequestId, connection: ConnectionId) {
        let Some(&order) = self.by_key.get(key) else {
            return;
        };
        let Some(request) = self.requests.get_mut(&order) else {
            return;
        };
        self.by_rpc
            .remove(&(request.connection, request.rpc.clone()));
        request.rpc = rpc;
        request.connection = connection;
        self.by_rpc
            .insert((request.connection, request.rpc.clone()), order);
    }

    pub fn remove(&mut self, key: &str) -> Option<PendingRequest> {
        let order = self.by_key.remove(key)?;
        let request = self.requests.remove(&order)?;
        if let Some(item) = request.kind.item_key() {
            self.by_item.remove(&ItemKey::new(
                &request.thread_id,
                request.request_kind(),
                &item,
            ));
        }
        self.by_rpc
            .remove(&(request.connection, request.rpc.clone()));
        Some(request)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &PendingRequest> {
        self.requests.values()
    }

    /// Keys of the requests matching `keep`, oldest first.
    pub fn keys_where(&self, keep: impl Fn(&PendingRequest) -> bool) -> Vec<String> {
        self.requests
            .values()
            .filter(|r| keep(r))
            .map(|r| r.key.clone())
            .collect()
    }
}

/// Drops null members: codex sends `"fileSystem": null` for what it does not ask.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

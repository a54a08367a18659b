//! The store of tool calls that app-server is waiting on. Pure data: the bridge actor
//! owns it, so every transition happens in one place and exactly once.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::events::Responder;
use crate::protocol::{RequestId, ToolCallResult};

/// Who is expected to answer a waiting call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

    /// Whether a person (or a remote client) has to act for the call to end.
    pub fn needs_person(&self) -> bool {
        matches!(self, Answerer::Person | Answerer::Review { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// Waiting for an answer (a handler may be running for it).
    Waiting,
    /// An answer is being written to app-server right now.
    Writing { by: Responder },
}

#[derive(Debug, Clone)]
pub struct PendingCall {
    /// Ours: URL-safe, unique across app-server restarts.
    pub request_id: String,
    /// app-server's JSON-RPC id, echoed with its exact JSON type.
    pub rpc_id: RequestId,
    /// Which connection the rpc id belongs to; ids restart with each app-server process.
    pub generation: u64,
    pub thread_id: String,
    pub turn_id: String,
    pub call_id: String,
    pub namespace: Option<String>,
    pub tool: String,
    pub arguments: Value,
    pub received_at_ms: i64,
    pub received_at: Instant,
    pub answerer: Answerer,
    /// Where the arguments break the tool's `input_schema` (codex does not check).
    pub schema_problems: Vec<String>,
    pub state: CallState,
    /// app-server reported the call's item completed while our answer was being written.
    pub completed_upstream: bool,
    /// A held handler's answer, waiting for a person to review and send it.
    pub proposed: Option<ToolCallResult>,
    /// An automatic answer (handler, policy) that could not be written because the
    /// connection was lost: written as soon as app-server sends the call again.
    pub stashed: Option<(ToolCallResult, Responder)>,
    /// The handler running for this call, aborted when the call ends.
    pub handler_task: Option<tokio::task::AbortHandle>,
}

/// What consumers see of a pending call. Field names follow codex-manager's pending-call
/// record so the service can pass it on unchanged.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCallView {
    pub request_id: String,
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
}

impl PendingCall {
    pub fn view(&self) -> PendingCallView {
        PendingCallView {
            request_id: self.request_id.clone(),
            thread_id: self.thread_id.clone(),
            turn_id: self.turn_id.clone(),
            call_id: self.call_id.clone(),
            namespace: self.namespace.clone(),
            tool: self.tool.clone(),
            arguments: self.arguments.clone(),
            received_at_ms: self.received_at_ms,
            answerer: self.answerer.clone(),
            schema_problems: self.schema_problems.clone(),
            in_flight: matches!(self.state, CallState::Writing { .. }),
            proposed: self.proposed.clone(),
        }
    }
}

/// Pending calls with the indexes the bridge needs: by our id (ordered by arrival),
/// by (thread, callId) to recognise a call app-server sends again after a reconnect,
/// and by (generation, rpc id).
#[derive(Default)]
pub struct PendingStore {
    /// Keyed by arrival order so listing is oldest first without sorting.
    calls: BTreeMap<u64, PendingCall>,
    by_request_id: HashMap<String, u64>,
    by_call: HashMap<(String, String), u64>,
    next_order: u64,
}

impl PendingStore {
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn insert(&mut self, call: PendingCall) {
        let order = self.next_order;
        self.next_order += 1;
        self.by_request_id.insert(call.request_id.clone(), order);
        self.by_call
            .insert((call.thread_id.clone(), call.call_id.clone()), order);
        self.calls.insert(order, call);
    }

    pub fn get(&self, request_id: &str) -> Option<&PendingCall> {
        self.by_request_id
            .get(request_id)
            .and_then(|order| self.calls.get(order))
    }

    pub fn get_mut(&mut self, request_id: &str) -> Option<&mut PendingCall> {
        let order = self.by_request_id.get(request_id)?;
        self.calls.get_mut(order)
    }

    pub fn find_by_call_mut(&mut self, thread_id: &str, call_id: &str) -> Option<&mut PendingCall> {
        let key = (thread_id.to_string(), call_id.to_string());
        let order = self.by_call.get(&key)?;
        self.calls.get_mut(order)
    }

    pub fn remove(&mut self, request_id: &str) -> Option<PendingCall> {
        let order = self.by_request_id.remove(request_id)?;
        let call = self.calls.remove(&order)?;
        self.by_call
            .remove(&(call.thread_id.clone(), call.call_id.clone()));
        Some(call)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &PendingCall> {
        self.calls.values()
    }

    /// Request ids of the calls matching `keep`, oldest first.
    pub fn ids_where(&self, keep: impl Fn(&PendingCall) -> bool) -> Vec<String> {
        self.calls
            .values()
            .filter(|c| keep(c))
            .map(|c| c.request_id.clone())
            .collect()
    }
}

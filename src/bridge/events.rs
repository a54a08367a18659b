//! What the bridge tells its consumers (console, service, `exec`): a typed event stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use serde::Serialize;
use serde_json::{Value, json};

use super::pending::{CallClaim, PendingCallView, PendingRequestView};
use super::session::SessionSummary;
use super::transcript::TranscriptRow;
use crate::protocol::{RequestId, RequestKind, TokenUsage, ToolCallResult, TurnStatus};

/// Who answered a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Responder {
    /// A catalog handler answered on its own.
    Handler { name: String },
    /// A person in the console.
    Operator,
    /// A client of the service API (a remote handler, the CLI, a worker).
    Remote { client: String },
    /// A bridge policy answered, e.g. a manual tool in headless mode.
    Policy { reason: String },
}

impl Responder {
    pub fn label(&self) -> String {
        match self {
            Responder::Handler { name } => format!("handler {name}"),
            Responder::Operator => "operator".to_string(),
            Responder::Remote { client } => format!("remote {client}"),
            Responder::Policy { reason } => format!("policy ({reason})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEnd {
    Resolved,
    Expired,
}

/// How a tool call ended; the payload of `tool_call_resolved`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedCall {
    pub request_id: String,
    pub thread_id: String,
    pub turn_id: String,
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub tool: String,
    pub status: CallEnd,
    pub success: bool,
    pub answered_by: Option<Responder>,
    /// Why an expired call expired.
    pub reason: Option<String>,
    pub latency_ms: u64,
    pub result: Option<ToolCallResult>,
    /// Where the call's arguments broke the tool's `input_schema`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_problems: Vec<String>,
    /// Where the answer broke the tool's `output_schema` (a successful JSON answer only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_schema_problems: Vec<String>,
    /// The handler's own failure (exit status, bad output, timeout), when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_failure: Option<String>,
    /// The handler ran out of its timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

impl ResolvedCall {
    /// How the call ended, for people: who answered it, or why it expired ("answered by
    /// handler lookup", "expired: turn interrupted").
    pub fn how(&self) -> String {
        how_it_ended(
            self.status,
            self.answered_by.as_ref(),
            self.reason.as_deref(),
        )
    }
}

/// The reason of a request that ended because another client of a shared app-server
/// answered it first (its `item/completed` came with an answer that was not ours).
pub const ANSWERED_ELSEWHERE: &str = "answered by another client";

/// How a request ended, for people: answered by whom (a handler, an approval rule, a
/// policy, the API, the operator), or expired and why.
pub fn how_it_ended(status: CallEnd, by: Option<&Responder>, reason: Option<&str>) -> String {
    match (status, by) {
        (CallEnd::Expired, _) => match reason {
            Some(reason) if reason.starts_with(ANSWERED_ELSEWHERE) => reason.to_string(),
            Some(reason) => format!("expired: {reason}"),
            None => "expired".to_string(),
        },
        // Approval rules answer as a handler named after them.
        (CallEnd::Resolved, Some(Responder::Handler { name }))
            if name.starts_with("approval rule") =>
        {
            format!("answered by {name}")
        }
        (CallEnd::Resolved, Some(Responder::Handler { name })) => {
            format!("answered by handler {name}")
        }
        (CallEnd::Resolved, Some(Responder::Operator)) => {
            "answered by the operator in this console".to_string()
        }
        (CallEnd::Resolved, Some(Responder::Remote { client })) => {
            format!("answered over the API by {client}")
        }
        (CallEnd::Resolved, Some(Responder::Policy { reason })) => {
            format!("answered by policy: {reason}")
        }
        (CallEnd::Resolved, None) => "answered".to_string(),
    }
}

/// How an approval, a question or an elicitation ended; the payload of `request_resolved`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRequest {
    pub request_id: String,
    pub kind: RequestKind,
    pub method: String,
    pub thread_id: String,
    pub turn_id: Option<String>,
    pub item_id: Option<String>,
    pub status: CallEnd,
    pub answered_by: Option<Responder>,
    /// The decision in a word or two (`accept`, `decline`, `1 answer(s)`).
    pub decision: Option<String>,
    /// The answer written, as app-server received it.
    pub answer: Option<Value>,
    /// Why it was answered by a policy, or why it expired.
    pub reason: Option<String>,
    pub latency_ms: u64,
}

/// Which handlers are held for review instead of answering on their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldState {
    /// Every handler is held.
    pub all: bool,
    /// These tools' handlers are held.
    pub tools: std::collections::BTreeSet<String>,
}

impl HoldState {
    pub fn holds(&self, tool: &str) -> bool {
        self.all || self.tools.contains(tool)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    Connecting,
    Connected {
        server_version: Option<String>,
        user_agent: String,
        /// The app-server child's process id, when Switchboard spawned it.
        pid: Option<u32>,
    },
    /// The connection was lost and the bridge is restarting or redialling app-server:
    /// attempt `attempt` of `max_attempts` starts after `delay_ms`.
    Reconnecting {
        attempt: u32,
        max_attempts: u32,
        delay_ms: u64,
        /// Why the connection was lost, or why the previous attempt failed.
        reason: String,
    },
    /// Lost for good: no reconnect is configured, or every attempt failed.
    Disconnected {
        reason: String,
        /// The bridge can try again when asked (`BridgeHandle::reconnect`): it knows
        /// how to restart or redial app-server.
        #[serde(default)]
        retry: bool,
    },
}

/// A step in bringing a session back after a reconnect or a Switchboard restart.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum RecoveryStep {
    /// Read back from its transcript at start; `resume_session` re-attaches it.
    Restored {
        rows: u64,
        /// Calls with a request row and no end row: app-server may still wait on them.
        #[serde(rename = "unfinishedCalls")]
        unfinished_calls: usize,
        /// Lines of the file that were not whole rows (torn by a crash, not UTF-8, not
        /// JSON): dropped, the rest of the session kept.
        #[serde(rename = "skippedLines")]
        skipped_lines: usize,
    },
    /// `thread/resume` succeeded: the session goes on with its history.
    Resumed {
        /// Calls app-server still waits on; it sends them again to be answered.
        #[serde(rename = "callsKept")]
        calls_kept: usize,
        /// Calls that ended while the connection was down.
        #[serde(rename = "callsExpired")]
        calls_expired: usize,
    },
    /// `thread/resume` failed: the session cannot go on.
    ResumeFailed { reason: String },
}

impl RecoveryStep {
    /// What a resume found, for people: "2 call(s) still waiting, 1 ended meanwhile",
    /// leaving out a count that is zero (no "0 calls still waiting" after 150 expired).
    pub fn resumed_text(calls_kept: usize, calls_expired: usize) -> String {
        match (calls_kept, calls_expired) {
            (0, 0) => "no call was waiting".to_string(),
            (kept, 0) => format!("{kept} call(s) still waiting"),
            (0, expired) => format!("{expired} call(s) ended meanwhile"),
            (kept, expired) => {
                format!("{kept} call(s) still waiting, {expired} ended meanwhile")
            }
        }
    }
}

/// What happened to a call's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimChange {
    Claimed,
    Renewed,
    /// Its holder gave it back.
    Released,
    /// Its lease ran out without an answer (the worker died or stalled): any worker
    /// may claim it now.
    Expired,
    /// Someone else claimed it over this claim, explicitly: the event's `claim` is the
    /// one that ended, the request's `claim` the new holder's.
    TakenOver,
}

impl ClaimChange {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimChange::Claimed => "claimed",
            ClaimChange::Renewed => "renewed",
            ClaimChange::Released => "released",
            ClaimChange::Expired => "expired",
            ClaimChange::TakenOver => "taken_over",
        }
    }
}

/// One event of the bridge. Serialised with a `type` tag for `exec --json` and the API.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BridgeEvent {
    Connection {
        /// The app-server of the fleet whose connection this is.
        #[serde(rename = "appServer")]
        app_server: String,
        transport: String,
        #[serde(flatten)]
        state: ConnectionState,
    },
    SessionStarted {
        session: SessionSummary,
    },
    SessionUpdated {
        session: SessionSummary,
    },
    SessionClosed {
        #[serde(rename = "threadId")]
        thread_id: String,
        reason: String,
    },
    TurnStarted {
        #[serde(rename = "threadId")]
        thread_id: String,
        #[serde(rename = "turnId")]
        turn_id: String,
    },
    TurnCompleted {
        #[serde(rename = "threadId")]
        thread_id: String,
        #[serde(rename = "turnId")]
        turn_id: String,
        status: TurnStatus,
        error: Option<String>,
    },
    AgentMessageDelta {
        #[serde(rename = "threadId")]
        thread_id: String,
        #[serde(rename = "turnId")]
        turn_id: String,
        #[serde(rename = "itemId")]
        item_id: String,
        delta: String,
    },
    AgentMessageCompleted {
        #[serde(rename = "threadId")]
        thread_id: String,
        #[serde(rename = "turnId")]
        turn_id: String,
        #[serde(rename = "itemId")]
        item_id: String,
        text: String,
    },
    ToolCallRequested {
        call: PendingCallView,
    },
    ToolCallResolved {
        call: ResolvedCall,
    },
    /// A held handler answered; its answer waits on the call for a person to review.
    ToolCallProposed {
        call: PendingCallView,
    },
    /// A worker claimed a call, renewed its lease, released it, or let the lease run
    /// out; `call.claim` is the claim now (`None` once released or expired), `claim` the
    /// one that changed.
    ToolCallClaim {
        call: PendingCallView,
        change: ClaimChange,
        claim: CallClaim,
    },
    /// The same for an approval, a question or an elicitation: an operator (or a
    /// client) claimed it, renewed, released, let the lease run out, or was taken over.
    RequestClaim {
        request: PendingRequestView,
        change: ClaimChange,
        claim: CallClaim,
    },
    HoldChanged {
        hold: HoldState,
    },
    /// An approval, a question or an elicitation is pending: registered, answerable.
    RequestOpened {
        request: PendingRequestView,
    },
    /// It ended: answered (by whom, what) or expired (why). Exactly once per request.
    RequestResolved {
        request: ResolvedRequest,
    },
    TranscriptAppended {
        #[serde(rename = "threadId")]
        thread_id: String,
        row: TranscriptRow,
    },
    /// A live row changed in place (a running command's output, the turn's plan, ..):
    /// `row.seq` names the row appended before, which `row` replaces. Sent at most
    /// every 100 ms per row, however fast app-server streams (`bridge/items.rs`).
    TranscriptRowUpdated {
        #[serde(rename = "threadId")]
        thread_id: String,
        row: TranscriptRow,
    },
    /// Every app-server notification, raw, for consumers that mirror app-server. The
    /// params are shared, so that every subscriber gets them without a copy.
    AppServerNotification {
        #[serde(rename = "threadId")]
        thread_id: Option<String>,
        method: String,
        params: Arc<Value>,
    },
    /// Every server request, raw, as app-server sent it (`id` is its JSON-RPC id), for
    /// consumers that mirror app-server. Sent once the bridge has taken the request in:
    /// after the events that make it answerable (`ToolCallRequested`, `RequestOpened`)
    /// or that say how it was refused.
    AppServerRequest {
        #[serde(rename = "threadId")]
        thread_id: Option<String>,
        id: RequestId,
        method: String,
        params: Arc<Value>,
    },
    /// A server request Switchboard cannot serve (token refresh, attestation, anything
    /// unknown), refused with JSON-RPC error -32601, or one whose params could not be read.
    ServerRequestRefused {
        #[serde(rename = "threadId")]
        thread_id: Option<String>,
        method: String,
        answer: String,
    },
    Error {
        #[serde(rename = "threadId")]
        thread_id: Option<String>,
        message: String,
    },
    /// A session was restored, resumed after a reconnect, or could not be resumed.
    SessionRecovery {
        #[serde(rename = "threadId")]
        thread_id: String,
        #[serde(flatten)]
        step: RecoveryStep,
    },
    /// What a session is doing changed: an item of its running turn started or ended
    /// ("running `cargo test`", "thinking"); `None` once the turn is over.
    SessionActivity {
        #[serde(rename = "threadId")]
        thread_id: String,
        activity: Option<String>,
    },
    /// The thread's token usage after a model response (`thread/tokenUsage/updated`).
    TokenUsage {
        #[serde(rename = "threadId")]
        thread_id: String,
        #[serde(rename = "turnId")]
        turn_id: String,
        usage: TokenUsage,
    },
    /// The account's rate limits (`account/rateLimits/updated`), the sparse updates
    /// merged into the last known ones.
    RateLimits {
        #[serde(rename = "rateLimits")]
        rate_limits: Value,
    },
    /// The catalog was loaded again (its changes, and the sessions that keep older
    /// definitions), or could not be (the error; the previous catalog stays in use).
    CatalogReloaded {
        reload: super::reload::CatalogReload,
        /// The catalog in use from now on, when the reload loaded one; for faces in the
        /// same process (the console's inspector), not sent over the API.
        #[serde(skip)]
        catalog: Option<std::sync::Arc<crate::catalog::Catalog>>,
    },
    /// This subscriber fell behind and missed events; re-read state from the handle.
    Lagged {
        skipped: u64,
    },
}

impl BridgeEvent {
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            BridgeEvent::Connection { .. }
            | BridgeEvent::Lagged { .. }
            | BridgeEvent::RateLimits { .. }
            | BridgeEvent::HoldChanged { .. }
            | BridgeEvent::CatalogReloaded { .. } => None,
            BridgeEvent::SessionStarted { session } | BridgeEvent::SessionUpdated { session } => {
                Some(&session.thread_id)
            }
            BridgeEvent::SessionClosed { thread_id, .. }
            | BridgeEvent::TurnStarted { thread_id, .. }
            | BridgeEvent::TurnCompleted { thread_id, .. }
            | BridgeEvent::AgentMessageDelta { thread_id, .. }
            | BridgeEvent::AgentMessageCompleted { thread_id, .. }
            | BridgeEvent::TranscriptAppended { thread_id, .. }
            | BridgeEvent::TranscriptRowUpdated { thread_id, .. }
            | BridgeEvent::SessionActivity { thread_id, .. }
            | BridgeEvent::TokenUsage { thread_id, .. }
            | BridgeEvent::SessionRecovery { thread_id, .. } => Some(thread_id),
            BridgeEvent::ToolCallRequested { call }
            | BridgeEvent::ToolCallProposed { call }
            | BridgeEvent::ToolCallClaim { call, .. } => Some(&call.thread_id),
            BridgeEvent::ToolCallResolved { call } => Some(&call.thread_id),
            BridgeEvent::RequestOpened { request } | BridgeEvent::RequestClaim { request, .. } => {
                Some(&request.thread_id)
            }
            BridgeEvent::RequestResolved { request } => Some(&request.thread_id),
            BridgeEvent::AppServerNotification { thread_id, .. }
            | BridgeEvent::AppServerRequest { thread_id, .. }
            | BridgeEvent::ServerRequestRefused { thread_id, .. }
            | BridgeEvent::Error { thread_id, .. } => thread_id.as_deref(),
        }
    }
}

/// Bytes of raw params (`AppServerNotification`, `AppServerRequest`) the bridge's events
/// may hold at once by default: see [`RawLedger`].
pub const RAW_EVENT_BUDGET_BYTES: usize = 32 * 1024 * 1024;

/// The raw params still held, counted in JSON bytes: by the event ring (an event stays
/// there until every subscriber has read it) or by a consumer that kept them.
#[derive(Debug, Default)]
pub struct RawStats {
    held_bytes: AtomicU64,
    peak_bytes: AtomicU64,
    held_events: AtomicU64,
    omitted: AtomicU64,
}

/// A reading of [`RawStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RawHeld {
    /// JSON bytes of the raw params held now, and at most since the bridge started.
    pub held_bytes: u64,
    pub peak_bytes: u64,
    pub held_events: u64,
    /// Raw events sent with their params left out, because the ones held had reached the
    /// budget (a subscriber that reads slowly or not at all).
    pub omitted: u64,
}

impl RawStats {
    pub fn read(&self) -> RawHeld {
        RawHeld {
            held_bytes: self.held_bytes.load(Ordering::Relaxed),
            peak_bytes: self.peak_bytes.load(Ordering::Relaxed),
            held_events: self.held_events.load(Ordering::Relaxed),
            omitted: self.omitted.load(Ordering::Relaxed),
        }
    }
}

/// Hands out the raw params of the raw events, counting what is still held, and bounds
/// it in bytes. The event ring is bounded in events (8,192), not in bytes: a subscriber
/// that falls behind (or never reads) keeps the last 8,192 events alive, and with them
/// each raw copy of app-server's messages, however large (a command's whole output, a
/// turn's diff). Past the budget, a raw event carries a small stand-in for its params
/// instead (`{"switchboardOmitted": {"bytes": N}}`), so what is held stays under the
/// budget plus one message plus 8,192 stand-ins of about 40 bytes. The typed events
/// (transcript rows, calls, requests) are unaffected, and a subscriber that keeps up
/// sees no difference, since what every subscriber has read is freed.
#[derive(Debug)]
pub struct RawLedger {
    /// Params handed out and their sizes, oldest first; an entry leaves when nothing
    /// holds its params any more.
    entries: VecDeque<(Weak<Value>, usize)>,
    held: usize,
    budget: usize,
    stats: Arc<RawStats>,
    since_sweep: usize,
}

/// Over budget, the whole ledger is swept (not only its oldest end) at most this often.
const SWEEP_EVERY: usize = 256;

impl RawLedger {
    pub fn new(budget: usize) -> RawLedger {
        RawLedger {
            entries: VecDeque::new(),
            held: 0,
            budget,
            stats: Arc::default(),
            since_sweep: 0,
        }
    }

    pub fn stats(&self) -> Arc<RawStats> {
        self.stats.clone()
    }

    /// The params to send in a raw event: shared as they are, or, once the raw params
    /// still held reach the budget, a stand-in naming their size.
    pub fn share(&mut self, params: Value) -> Arc<Value> {
        self.forget_freed();
        let bytes = json_len(&params);
        if self.held + bytes > self.budget && self.since_sweep >= SWEEP_EVERY {
            self.sweep();
        }
        self.since_sweep += 1;
        let shared = if self.held + bytes > self.budget {
            self.stats.omitted.fetch_add(1, Ordering::Relaxed);
            // Small, as 8,192 of them may be held too: `bytes` is the size of what was
            // left out (docs/RELIABILITY.md, "Soak").
            Arc::new(json!({ "switchboardOmitted": { "bytes": bytes } }))
        } else {
            Arc::new(params)
        };
        let size = json_len(&shared);
        self.entries.push_back((Arc::downgrade(&shared), size));
        self.held += size;
        self.publish();
        shared
    }

    /// Drops the oldest entries whose params nobody holds any more.
    fn forget_freed(&mut self) {
        while let Some((weak, size)) = self.entries.front() {
            if weak.strong_count() > 0 {
                break;
            }
            self.held -= size;
            self.entries.pop_front();
        }
    }

    /// Drops every entry whose params nobody holds, wherever it is.
    fn sweep(&mut self) {
        self.since_sweep = 0;
        let mut held = 0;
        self.entries.retain(|(weak, size)| {
            let alive = weak.strong_count() > 0;
            if alive {
                held += size;
            }
            alive
        });
        self.held = held;
    }

    fn publish(&self) {
        let held = u64::try_from(self.held).unwrap_or(u64::MAX);
        self.stats.held_bytes.store(held, Ordering::Relaxed);
        self.stats.peak_bytes.fetch_max(held, Ordering::Relaxed);
        self.stats.held_events.store(
            u64::try_from(self.entries.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// The length of a value's compact JSON text, without writing it anywhere.
pub fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::{CallEnd, RecoveryStep, Responder, how_it_ended};
    use super::{RawLedger, json_len};
    use serde_json::json;
    use std::sync::Arc;

    fn big(n: usize) -> serde_json::Value {
        json!({ "threadId": "t", "delta": "x".repeat(n) })
    }

    #[test]
    fn raw_params_held_by_a_subscriber_that_never_reads_stay_within_the_budget() {
        let budget = 1024 * 1024;
        let mut ledger = RawLedger::new(budget);
        // A ring of 8,192 events that nobody reads holds every one of them.
        let (tx, _never_read) = tokio::sync::broadcast::channel::<Arc<serde_json::Value>>(8192);
        let mut whole = 0;
        for _ in 0..20_000 {
            let shared = ledger.share(big(10_000));
            if shared.get("delta").is_some() {
                whole += 1;
            }
            let _ = tx.send(shared);
        }
        let held = ledger.stats().read();
        // 8,192 events of 10 kB would be 80 MB: the ledger keeps what is held under 1 MiB
        // plus one message plus the ring's stand-ins, and says how many it left out.
        let stand_in = json_len(&serde_json::json!({ "switchboardOmitted": { "bytes": 10_022 } }));
        let bound = (budget + json_len(&big(10_000)) + 8_193 * stand_in) as u64;
        assert!(held.peak_bytes <= bound, "{held:?} over {bound}");
        assert!(held.held_bytes <= bound, "{held:?} over {bound}");
        assert!(whole >= 100 && held.omitted > 0, "{whole} whole, {held:?}");
        assert_eq!(whole + held.omitted, 20_000);
    }

    #[test]
    fn raw_params_read_by_every_subscriber_are_freed_and_never_left_out() {
        let mut ledger = RawLedger::new(1024 * 1024);
        let (tx, mut rx) = tokio::sync::broadcast::channel::<Arc<serde_json::Value>>(8192);
        for _ in 0..20_000 {
            let _ = tx.send(ledger.share(big(10_000)));
            let read = rx.try_recv().unwrap();
            assert!(read.get("delta").is_some());
        }
        let held = ledger.stats().read();
        assert_eq!(held.omitted, 0, "{held:?}");
        // Each was freed once read; the ledger counts at most the last one or two.
        assert!(
            held.held_bytes <= 2 * json_len(&big(10_000)) as u64,
            "{held:?}"
        );
    }

    #[test]
    fn how_a_call_ended_names_who_or_why() {
        let by = |r: Responder| how_it_ended(CallEnd::Resolved, Some(&r), None);
        assert_eq!(
            by(Responder::Handler {
                name: "lookup".to_string()
            }),
            "answered by handler lookup"
        );
        assert_eq!(
            by(Responder::Handler {
                name: "approval rule 2".to_string()
            }),
            "answered by approval rule 2"
        );
        assert_eq!(
            by(Responder::Remote {
                client: "worker-1".to_string()
            }),
            "answered over the API by worker-1"
        );
        assert_eq!(
            by(Responder::Operator),
            "answered by the operator in this console"
        );
        assert_eq!(
            how_it_ended(CallEnd::Expired, None, Some("turn interrupted")),
            "expired: turn interrupted"
        );
    }

    #[test]
    fn a_resume_leaves_out_the_counts_that_are_zero() {
        assert_eq!(RecoveryStep::resumed_text(0, 0), "no call was waiting");
        assert_eq!(RecoveryStep::resumed_text(2, 0), "2 call(s) still waiting");
        assert_eq!(
            RecoveryStep::resumed_text(0, 150),
            "150 call(s) ended meanwhile"
        );
        assert_eq!(
            RecoveryStep::resumed_text(1, 3),
            "1 call(s) still waiting, 3 ended meanwhile"
        );
    }
}

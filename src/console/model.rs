//! What the console knows about the bridge: a pure fold of `BridgeEvent`s (and of fresh
//! reads after a lag) into sessions, pending calls, totals, transcripts and per-tool
//! statistics. No terminal, no keys, no selection: the UI part (`app.rs`) holds those
//! and follows what each event changed. Nothing here names ratatui or crossterm, so the
//! fold can serve any face that keeps a live picture of a bridge.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::bridge::{
    BridgeEvent, BridgeStatus, CallEnd, ConnectionState, HoldState, PendingCallView,
    PendingRequestView, Responder, SessionSnapshot, SessionStatus, SessionSummary, ToolStatsTable,
    Totals, TranscriptRow,
};

/// Transcript rows kept per session in the console; older rows stay on disk.
pub const TRANSCRIPT_WINDOW: usize = 10_000;
/// How the last calls ended, kept so a late answer can be told who got there first.
const ENDINGS_KEPT: usize = 2_048;

/// How the most recent calls ended (`ResolvedCall::how`), by request id.
#[derive(Debug, Default)]
pub struct Endings {
    order: VecDeque<String>,
    how: HashMap<String, String>,
}

impl Endings {
    fn record(&mut self, request_id: &str, how: String) {
        if self.how.insert(request_id.to_string(), how).is_none() {
            self.order.push_back(request_id.to_string());
        }
        while self.order.len() > ENDINGS_KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.how.remove(&oldest);
            }
        }
    }

    /// How the call ended, if it ended lately.
    pub fn get(&self, request_id: &str) -> Option<&str> {
        self.how.get(request_id).map(String::as_str)
    }
}

/// One session's transcript: its last rows and the agent messages still streaming.
#[derive(Debug, Default)]
pub struct Transcript {
    pub rows: VecDeque<TranscriptRow>,
    /// Agent messages still streaming: item id → text so far.
    pub streaming: BTreeMap<String, String>,
}

impl Transcript {
    /// Appends a row (a row already seen is ignored), a long command output cut to its
    /// tail as the bridge keeps it; true when the oldest row was dropped to keep the
    /// window, so indices into `rows` moved down by one.
    fn push(&mut self, row: TranscriptRow) -> bool {
        if self.rows.back().is_some_and(|last| last.seq >= row.seq) {
            return false;
        }
        let row = crate::bridge::transcript::capped(row);
        let dropped = self.rows.len() == TRANSCRIPT_WINDOW;
        if dropped {
            self.rows.pop_front();
        }
        self.rows.push_back(row);
        dropped
    }

    /// A live row changed in place (same `seq`); a row not in the window yet is
    /// appended like a new one. True when it replaced a row.
    fn update(&mut self, row: &TranscriptRow) -> bool {
        match self.rows.binary_search_by_key(&row.seq, |r| r.seq) {
            Ok(at) => {
                self.rows[at] = crate::bridge::transcript::capped(row.clone());
                true
            }
            Err(_) => {
                self.push(row.clone());
                false
            }
        }
    }

    /// The index of the `tool_call.request` row of `request_id`, if it is in the window.
    pub fn request_row(&self, request_id: &str) -> Option<usize> {
        self.rows.iter().rposition(|row| {
            matches!(&row.entry, crate::bridge::TranscriptEntry::ToolCallRequest { request_id: id, .. } if id == request_id)
        })
    }
}

/// What an event changed that the UI part must follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// A pending call left the queue at this index.
    pub removed_call: Option<usize>,
    /// A call that waits on a person joined the queue.
    pub person_call_added: bool,
    /// The oldest row of this session's transcript was dropped.
    pub dropped_row: Option<String>,
    /// A row was appended to this session's transcript.
    pub appended_row: Option<String>,
    /// A live row of this session's transcript changed in place: (thread, row number).
    pub updated_row: Option<(String, u64)>,
}

/// The fold itself.
#[derive(Debug)]
pub struct Model {
    /// The first app-server's transport and connection (the only ones with one).
    pub transport: String,
    pub connection: ConnectionState,
    /// Every app-server's connection, in fleet order (the header shows each when
    /// there are several).
    pub app_servers: Vec<crate::bridge::AppServerStatus>,
    pub totals: Totals,
    pub hold: HoldState,
    pub sessions: Vec<SessionSummary>,
    /// Pending calls across sessions, oldest first.
    pub pending: Vec<PendingCallView>,
    pub transcripts: HashMap<String, Transcript>,
    /// Per-tool statistics of the calls that ended since the console started.
    pub tool_stats: ToolStatsTable,
    /// Pending requests other than tool calls (approvals, questions, elicitations),
    /// oldest first.
    pub requests: Vec<PendingRequestView>,
    /// How the last calls ended.
    pub endings: Endings,
    /// The account's rate limits (`rateLimits` of `account/rateLimits/updated`).
    pub rate_limits: Option<serde_json::Value>,
    /// Catalog reloads: the last one, and the sessions that keep older definitions.
    pub reloads: super::catalog_reload::CatalogReloads,
}

impl Model {
    pub fn new(status: BridgeStatus) -> Model {
        Model {
            transport: status.transport,
            connection: status.connection,
            app_servers: status.app_servers,
            totals: status.totals,
            hold: status.hold,
            sessions: Vec::new(),
            pending: Vec::new(),
            transcripts: HashMap::new(),
            tool_stats: ToolStatsTable::default(),
            requests: Vec::new(),
            endings: Endings::default(),
            rate_limits: status.rate_limits,
            reloads: Default::default(),
        }
    }

    /// Replaces everything known with a fresh read from the bridge.
    pub fn load(
        &mut self,
        status: BridgeStatus,
        snapshots: Vec<SessionSnapshot>,
        pending: Vec<PendingCallView>,
    ) {
        self.transport = status.transport;
        self.connection = status.connection;
        self.app_servers = status.app_servers;
        self.totals = status.totals;
        self.hold = status.hold;
        if status.rate_limits.is_some() {
            self.rate_limits = status.rate_limits;
        }
        self.sessions = snapshots.iter().map(|s| s.summary.clone()).collect();
        for snapshot in snapshots {
            let transcript = self
                .transcripts
                .entry(snapshot.summary.thread_id.clone())
                .or_default();
            transcript.rows.clear();
            for row in snapshot.transcript {
                transcript.push(row);
            }
            transcript.streaming = snapshot.streaming.into_iter().collect();
        }
        self.pending = pending;
    }

    pub fn session(&self, thread_id: &str) -> Option<&SessionSummary> {
        self.sessions.iter().find(|s| s.thread_id == thread_id)
    }

    fn session_mut(&mut self, thread_id: &str) -> Option<&mut SessionSummary> {
        self.sessions.iter_mut().find(|s| s.thread_id == thread_id)
    }

    pub fn call(&self, request_id: &str) -> Option<&PendingCallView> {
        self.pending.iter().find(|c| c.request_id == request_id)
    }

    /// Replaces the pending requests other than tool calls with a fresh read.
    pub fn load_requests(&mut self, requests: Vec<PendingRequestView>) {
        self.requests = requests
            .into_iter()
            .filter(|r| r.kind != crate::protocol::RequestKind::ToolCall)
            .collect();
    }

    pub fn request(&self, request_id: &str) -> Option<&PendingRequestView> {
        self.requests.iter().find(|r| r.request_id == request_id)
    }

    /// Requests other than tool calls that need a person, oldest first.
    pub fn requests_waiting(&self) -> impl Iterator<Item = &PendingRequestView> {
        self.requests.iter().filter(|r| r.answerer.needs_person())
    }

    /// Calls that need a person, oldest first.
    pub fn waiting_on_person(&self) -> impl Iterator<Item = &PendingCallView> {
        self.pending.iter().filter(|c| c.answerer.needs_person())
    }

    /// The badge of a session: its bridge status, or "waiting on you".
    pub fn session_badge(&self, session: &SessionSummary) -> &'static str {
        let waiting = self
            .waiting_on_person()
            .any(|c| c.thread_id == session.thread_id)
            || self
                .requests_waiting()
                .any(|r| r.thread_id == session.thread_id);
        match session.status {
            SessionStatus::Closed => "closed",
            SessionStatus::Disconnected => "disconnected",
            SessionStatus::Restored => "restored",
            SessionStatus::ResumeFailed => "not resumable",
            _ if waiting => "waiting on you",
            _ if session.persist_error.is_some() => "not persisted",
            SessionStatus::Failed => "failed",
            SessionStatus::Running => "running",
            SessionStatus::Idle => "idle",
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &BridgeEvent) -> Applied {
        let mut applied = Applied::default();
        match event {
            BridgeEvent::Connection {
                app_server,
                transport,
                state,
            } => {
                let first = self
                    .app_servers
                    .first()
                    .is_none_or(|a| &a.name == app_server);
                if first {
                    self.transport = transport.clone();
                    self.connection = state.clone();
                }
                if let Some(known) = self.app_servers.iter_mut().find(|a| &a.name == app_server) {
                    known.transport = transport.clone();
                    known.connection = state.clone();
                }
            }
            BridgeEvent::SessionStarted { session } | BridgeEvent::SessionUpdated { session } => {
                self.transcripts
                    .entry(session.thread_id.clone())
                    .or_default();
                match self
                    .sessions
                    .iter_mut()
                    .find(|s| s.thread_id == session.thread_id)
                {
                    Some(existing) => *existing = session.clone(),
                    None => {
                        self.sessions.push(session.clone());
                        self.totals.sessions = self.sessions.len();
                    }
                }
            }
            BridgeEvent::SessionClosed { thread_id, .. } => {
                if let Some(session) = self.sessions.iter_mut().find(|s| &s.thread_id == thread_id)
                {
                    session.status = SessionStatus::Closed;
                }
                self.reloads.session_closed(thread_id);
            }
            BridgeEvent::TurnCompleted { thread_id, .. } => {
                // A message cut off with its turn never completes.
                if let Some(transcript) = self.transcripts.get_mut(thread_id) {
                    transcript.streaming.clear();
                }
                if let Some(session) = self.session_mut(thread_id) {
                    session.activity = None;
                    session.turn_started_at_ms = None;
                }
            }
            BridgeEvent::SessionActivity {
                thread_id,
                activity,
            } => {
                if let Some(session) = self.session_mut(thread_id) {
                    session.activity = activity.clone();
                }
            }
            BridgeEvent::TokenUsage {
                thread_id, usage, ..
            } => {
                if let Some(session) = self.session_mut(thread_id) {
                    session.token_usage = Some(*usage);
                }
            }
            BridgeEvent::RateLimits { rate_limits } => {
                self.rate_limits = Some(rate_limits.clone());
            }
            // Approvals, questions and elicitations are folded into `requests` below.
            BridgeEvent::TurnStarted { .. }
            | BridgeEvent::AppServerNotification { .. }
            | BridgeEvent::AppServerRequest { .. }
            | BridgeEvent::ServerRequestRefused { .. }
            | BridgeEvent::Error { .. }
            | BridgeEvent::SessionRecovery { .. }
            | BridgeEvent::Lagged { .. } => {}
            BridgeEvent::AgentMessageDelta {
                thread_id,
                item_id,
                delta,
                ..
            } => {
                let transcript = self.transcripts.entry(thread_id.clone()).or_default();
                transcript
                    .streaming
                    .entry(item_id.clone())
                    .or_default()
                    .push_str(delta);
            }
            BridgeEvent::AgentMessageCompleted {
                thread_id, item_id, ..
            } => {
                if let Some(transcript) = self.transcripts.get_mut(thread_id) {
                    transcript.streaming.remove(item_id);
                }
            }
            BridgeEvent::TranscriptAppended { thread_id, row } => {
                let transcript = self.transcripts.entry(thread_id.clone()).or_default();
                if transcript.push(row.clone()) {
                    applied.dropped_row = Some(thread_id.clone());
                }
                applied.appended_row = Some(thread_id.clone());
            }
            BridgeEvent::TranscriptRowUpdated { thread_id, row } => {
                let transcript = self.transcripts.entry(thread_id.clone()).or_default();
                if transcript.update(row) {
                    applied.updated_row = Some((thread_id.clone(), row.seq));
                } else {
                    applied.appended_row = Some(thread_id.clone());
                }
            }
            BridgeEvent::ToolCallRequested { call } => {
                if call.answerer.needs_person() {
                    self.totals.waiting_on_person += 1;
                    applied.person_call_added = true;
                }
                self.totals.pending += 1;
                self.pending.push(call.clone());
            }
            BridgeEvent::ToolCallProposed { call } | BridgeEvent::ToolCallClaim { call, .. } => {
                if let Some(existing) = self
                    .pending
                    .iter_mut()
                    .find(|c| c.request_id == call.request_id)
                {
                    *existing = call.clone();
                }
            }
            BridgeEvent::ToolCallResolved { call } => {
                self.endings.record(&call.request_id, call.how());
                self.tool_stats.record(call);
                if let Some(index) = self
                    .pending
                    .iter()
                    .position(|c| c.request_id == call.request_id)
                {
                    let removed = self.pending.remove(index);
                    self.totals.pending = self.totals.pending.saturating_sub(1);
                    if removed.answerer.needs_person() {
                        self.totals.waiting_on_person =
                            self.totals.waiting_on_person.saturating_sub(1);
                    }
                    applied.removed_call = Some(index);
                }
                match (&call.status, &call.answered_by) {
                    (CallEnd::Expired, _) => self.totals.expired += 1,
                    (CallEnd::Resolved, Some(Responder::Operator)) => {
                        self.totals.answered_by_hand += 1
                    }
                    (CallEnd::Resolved, Some(Responder::Remote { .. })) => {
                        self.totals.answered_remotely += 1
                    }
                    (CallEnd::Resolved, _) => self.totals.answered_automatically += 1,
                }
                if call.status == CallEnd::Resolved && !call.success {
                    self.totals.failed += 1;
                }
            }
            BridgeEvent::HoldChanged { hold } => self.hold = hold.clone(),
            BridgeEvent::CatalogReloaded { reload, .. } => self.reloads.apply(reload),
            BridgeEvent::RequestOpened { request }
                if request.kind != crate::protocol::RequestKind::ToolCall =>
            {
                if !self
                    .requests
                    .iter()
                    .any(|r| r.request_id == request.request_id)
                {
                    applied.person_call_added = request.answerer.needs_person();
                    self.requests.push(request.clone());
                }
            }
            BridgeEvent::RequestResolved { request }
                if request.kind != crate::protocol::RequestKind::ToolCall =>
            {
                self.requests.retain(|r| r.request_id != request.request_id);
            }
            BridgeEvent::RequestOpened { .. } | BridgeEvent::RequestResolved { .. } => {}
            BridgeEvent::RequestClaim { request, .. } => {
                if let Some(existing) = self
                    .requests
                    .iter_mut()
                    .find(|r| r.request_id == request.request_id)
                {
                    existing.claim = request.claim.clone();
                }
            }
        }
        applied
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;

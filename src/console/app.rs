//! The console's state and its transitions. Pure: keys, bridge events and the outcomes of
//! bridge requests go in; effects (bridge requests, a bell, a title) come out. The event
//! loop applies the effects, so everything here is tested without a terminal or sockets.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::TextArea;

use super::editor::{EditorState, ResponseEditor};
use super::keys::{self, Action, Context};
use crate::appserver::ProtocolLine;
use crate::bridge::{
    Answerer, BridgeEvent, BridgeStatus, CallEnd, ConnectionState, HoldChange, HoldState,
    PendingCallView, RespondOutcome, SessionSnapshot, SessionStatus, SessionSummary, Totals,
    TranscriptRow,
};
use crate::catalog::Catalog;
use crate::protocol::{ThreadInfo, ToolCallResult};

/// The notice line for a step of bringing a session back.
fn recovery_notice(thread_id: &str, step: &crate::bridge::RecoveryStep) -> String {
    let session = short(thread_id);
    match step {
        crate::bridge::RecoveryStep::Restored {
            unfinished_calls, ..
        } => format!(
            "session {session} restored from its transcript ({unfinished_calls} unfinished call(s)): r resumes it"
        ),
        crate::bridge::RecoveryStep::Resumed {
            calls_kept,
            calls_expired,
        } => format!(
            "session {session} resumed: {calls_kept} call(s) still waiting, {calls_expired} ended meanwhile"
        ),
        crate::bridge::RecoveryStep::ResumeFailed { reason } => {
            format!("session {session}: {reason}")
        }
    }
}

/// Transcript rows kept per session in the console; older rows stay on disk.
pub const TRANSCRIPT_WINDOW: usize = 10_000;
/// Protocol lines kept for the protocol log.
pub const PROTOCOL_WINDOW: usize = 5_000;
/// Latencies kept per tool for the median.
const LATENCY_WINDOW: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Sessions,
    Transcript,
    Queue,
    Composer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Main,
    Inspector,
    ProtocolLog,
}

pub enum Overlay {
    Help {
        scroll: u16,
    },
    Editor(Box<ResponseEditor>),
    ConfirmQuit {
        waiting: usize,
    },
    ConfirmClose {
        thread_id: String,
    },
    Threads {
        threads: Vec<ThreadInfo>,
        selected: usize,
    },
}

/// A request for the bridge, made by the event loop on the app's behalf.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    CreateSession,
    Send {
        thread_id: String,
        text: String,
    },
    Interrupt {
        thread_id: String,
    },
    Close {
        thread_id: String,
    },
    Respond {
        request_id: String,
        result: ToolCallResult,
    },
    RunHandler {
        request_id: String,
    },
    Hold(HoldChange),
    ListThreads,
    Resume {
        thread_id: String,
    },
}

/// What a bridge request came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    SessionCreated(Result<SessionSummary, String>),
    Sent(Result<String, String>),
    Interrupted(Result<String, String>),
    Closed(Result<(), String>),
    Responded {
        request_id: String,
        result: Result<RespondOutcome, String>,
    },
    HandlerRan {
        request_id: String,
        result: Result<(ToolCallResult, Option<String>), String>,
    },
    Hold(Result<HoldState, String>),
    Threads(Result<Vec<ThreadInfo>, String>),
    Resumed(Result<SessionSummary, String>),
    /// Everything read afresh from the bridge: at start and after a lag.
    Loaded(Box<(BridgeStatus, Vec<SessionSnapshot>, Vec<PendingCallView>)>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Bridge(Request),
    /// Ring the terminal bell: a call started waiting for a person.
    Bell,
    /// Set the terminal title.
    Title(String),
    /// Re-read everything from the bridge (after this console lagged behind its events).
    Resync,
}

#[derive(Debug, Clone, Default)]
pub struct ToolStats {
    pub calls: u64,
    pub failures: u64,
    pub expired: u64,
    latencies: VecDeque<u64>,
}

impl ToolStats {
    pub fn median_latency_ms(&self) -> Option<u64> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut sorted: Vec<u64> = self.latencies.iter().copied().collect();
        sorted.sort_unstable();
        Some(sorted[sorted.len() / 2])
    }
}

/// One session's transcript as the console shows it.
#[derive(Debug)]
pub struct TranscriptView {
    pub rows: VecDeque<TranscriptRow>,
    /// Agent messages still streaming: item id → text so far.
    pub streaming: BTreeMap<String, String>,
    /// Follow the tail; false once the user scrolls up.
    pub follow: bool,
    /// The selected row (the bottom of the view) when not following.
    pub cursor: usize,
    /// Rows shown in full, by `seq`.
    pub expanded: HashSet<u64>,
}

impl Default for TranscriptView {
    /// A new transcript follows its tail.
    fn default() -> Self {
        TranscriptView {
            rows: VecDeque::new(),
            streaming: BTreeMap::new(),
            follow: true,
            cursor: 0,
            expanded: HashSet::new(),
        }
    }
}

impl TranscriptView {
    fn push(&mut self, row: TranscriptRow) {
        if self.rows.back().is_some_and(|last| last.seq >= row.seq) {
            return;
        }
        if self.rows.len() == TRANSCRIPT_WINDOW {
            self.rows.pop_front();
            self.cursor = self.cursor.saturating_sub(1);
        }
        self.rows.push_back(row);
        if self.follow {
            self.cursor = self.rows.len().saturating_sub(1);
        }
    }

    /// The bottom row of the view.
    pub fn bottom(&self) -> usize {
        if self.follow {
            self.rows.len().saturating_sub(1)
        } else {
            self.cursor.min(self.rows.len().saturating_sub(1))
        }
    }
}

#[derive(Debug, Default)]
pub struct ProtocolLog {
    pub lines: VecDeque<ProtocolLine>,
    /// Lines dropped from the front of the window so far.
    pub dropped: u64,
}

/// Where the API is served, when the console serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenInfo {
    pub url: String,
    pub token: String,
}

pub struct App {
    pub catalog: Arc<Catalog>,
    pub transport: String,
    pub connection: ConnectionState,
    pub totals: Totals,
    pub hold: HoldState,
    pub sessions: Vec<SessionSummary>,
    pub selected_session: usize,
    /// Pending calls across sessions, oldest first.
    pub pending: Vec<PendingCallView>,
    pub selected_call: usize,
    pub transcripts: HashMap<String, TranscriptView>,
    pub focus: Focus,
    pub view: View,
    pub overlay: Option<Overlay>,
    pub composer: TextArea<'static>,
    /// A one-line message for the footer, until the next key.
    pub notice: Option<String>,
    pub tool_stats: BTreeMap<String, ToolStats>,
    pub protocol: ProtocolLog,
    /// Filters, offsets, scrolls, the detail view and zoom (`view.rs`, `navigate.rs`).
    pub views: super::view::Views,
    pub inspector_selected: usize,
    pub inspector_scroll: u16,
    pub listen: Option<ListenInfo>,
    /// The clock for wait timers, set by the loop.
    pub now_ms: i64,
    pub quit: bool,
    /// Waiting-on-person count last shown in the title.
    titled_waiting: Option<usize>,
}

impl App {
    pub fn new(catalog: Arc<Catalog>, status: BridgeStatus) -> App {
        let mut composer = TextArea::default();
        composer.set_placeholder_text("type a message for the selected session; Enter sends");
        App {
            catalog,
            transport: status.transport,
            connection: status.connection,
            totals: status.totals,
            hold: status.hold,
            sessions: Vec::new(),
            selected_session: 0,
            pending: Vec::new(),
            selected_call: 0,
            transcripts: HashMap::new(),
            focus: Focus::Sessions,
            view: View::Main,
            overlay: None,
            composer,
            notice: None,
            tool_stats: BTreeMap::new(),
            protocol: ProtocolLog::default(),
            views: super::view::Views::default(),
            inspector_selected: 0,
            inspector_scroll: 0,
            listen: None,
            now_ms: crate::util::now_ms(),
            quit: false,
            titled_waiting: None,
        }
    }

    /// Replaces everything known with a fresh read from the bridge.
    pub fn load(
        &mut self,
        status: BridgeStatus,
        snapshots: Vec<SessionSnapshot>,
        pending: Vec<PendingCallView>,
    ) -> Vec<Effect> {
        self.transport = status.transport;
        self.connection = status.connection;
        self.totals = status.totals;
        self.hold = status.hold;
        let selected = self.selected_thread().map(str::to_string);
        self.sessions = snapshots.iter().map(|s| s.summary.clone()).collect();
        for snapshot in snapshots {
            let view = self
                .transcripts
                .entry(snapshot.summary.thread_id.clone())
                .or_default();
            view.rows.clear();
            for row in snapshot.transcript {
                view.push(row);
            }
            view.streaming = snapshot.streaming.into_iter().collect();
        }
        if let Some(thread) = selected {
            self.select_thread(&thread);
        }
        self.pending = pending;
        self.clamp_selection();
        self.attention(false)
    }

    pub fn selected_thread(&self) -> Option<&str> {
        self.sessions
            .get(self.selected_session)
            .map(|s| s.thread_id.as_str())
    }

    pub fn selected_call(&self) -> Option<&PendingCallView> {
        self.pending.get(self.selected_call)
    }

    fn select_thread(&mut self, thread_id: &str) {
        if let Some(index) = self.sessions.iter().position(|s| s.thread_id == thread_id) {
            self.selected_session = index;
        }
    }

    fn clamp_selection(&mut self) {
        self.selected_session = self
            .selected_session
            .min(self.sessions.len().saturating_sub(1));
        self.selected_call = self.selected_call.min(self.pending.len().saturating_sub(1));
    }

    /// Calls that need a person, oldest first.
    pub fn waiting_on_person(&self) -> impl Iterator<Item = &PendingCallView> {
        self.pending.iter().filter(|c| c.answerer.needs_person())
    }

    /// The badge of a session: its bridge status, or "waiting on you".
    pub fn session_badge(&self, session: &SessionSummary) -> &'static str {
        let waiting = self
            .waiting_on_person()
            .any(|c| c.thread_id == session.thread_id);
        match session.status {
            SessionStatus::Closed => "closed",
            SessionStatus::Disconnected => "disconnected",
            SessionStatus::Restored => "restored",
            SessionStatus::ResumeFailed => "not resumable",
            _ if waiting => "waiting on you",
            SessionStatus::Failed => "failed",
            SessionStatus::Running => "running",
            SessionStatus::Idle => "idle",
        }
    }

    /// Where keys go now.
    pub fn context(&self) -> Context {
        if let Some(context) = self.view_context() {
            return context;
        }
        match &self.overlay {
            Some(Overlay::Help { .. }) => return Context::Help,
            Some(Overlay::Editor(_)) => return Context::Editor,
            Some(Overlay::ConfirmQuit { .. } | Overlay::ConfirmClose { .. }) => {
                return Context::Confirm;
            }
            Some(Overlay::Threads { .. }) => return Context::Picker,
            None => {}
        }
        match self.view {
            View::Inspector => Context::Inspector,
            View::ProtocolLog => Context::ProtocolLog,
            View::Main => match self.focus {
                Focus::Sessions => Context::Sessions,
                Focus::Transcript => Context::Transcript,
                Focus::Queue => Context::Queue,
                Focus::Composer => Context::Composer,
            },
        }
    }

    /// Whether wait timers are on screen, so the loop must tick once a second.
    pub fn needs_ticks(&self) -> bool {
        !self.pending.is_empty()
    }

    // ----- bridge events -------------------------------------------------------------

    pub fn on_bridge_event(&mut self, event: BridgeEvent) -> Vec<Effect> {
        match event {
            BridgeEvent::Connection { transport, state } => {
                self.transport = transport;
                self.connection = state;
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
                    Some(existing) => *existing = session,
                    None => {
                        self.sessions.push(session);
                        self.totals.sessions = self.sessions.len();
                    }
                }
            }
            BridgeEvent::SessionClosed { thread_id, .. } => {
                if let Some(session) = self.sessions.iter_mut().find(|s| s.thread_id == thread_id) {
                    session.status = SessionStatus::Closed;
                }
            }
            BridgeEvent::TurnCompleted { thread_id, .. } => {
                // A message cut off with its turn never completes.
                if let Some(view) = self.transcripts.get_mut(&thread_id) {
                    view.streaming.clear();
                }
            }
            BridgeEvent::TurnStarted { .. }
            | BridgeEvent::AppServerNotification { .. }
            | BridgeEvent::ServerRequestRefused { .. } => {}
            BridgeEvent::AgentMessageDelta {
                thread_id,
                item_id,
                delta,
                ..
            } => {
                let view = self.transcripts.entry(thread_id).or_default();
                view.streaming.entry(item_id).or_default().push_str(&delta);
            }
            BridgeEvent::AgentMessageCompleted {
                thread_id, item_id, ..
            } => {
                if let Some(view) = self.transcripts.get_mut(&thread_id) {
                    view.streaming.remove(&item_id);
                }
            }
            BridgeEvent::TranscriptAppended { thread_id, row } => {
                self.transcripts.entry(thread_id).or_default().push(row);
            }
            BridgeEvent::ToolCallRequested { call } => {
                if call.answerer.needs_person() {
                    self.totals.waiting_on_person += 1;
                }
                self.totals.pending += 1;
                self.pending.push(call);
                return self.attention(true);
            }
            BridgeEvent::ToolCallProposed { call } => {
                if let Some(existing) = self
                    .pending
                    .iter_mut()
                    .find(|c| c.request_id == call.request_id)
                {
                    *existing = call.clone();
                }
                if let Some(Overlay::Editor(editor)) = &mut self.overlay
                    && editor.call.request_id == call.request_id
                    && editor.state == EditorState::Editing
                    && let Some(result) = &call.proposed
                {
                    editor.load_result(result);
                    editor.message = Some("the held handler answered: review, then ^S".to_string());
                }
            }
            BridgeEvent::ToolCallResolved { call } => {
                let stats = self.tool_stats.entry(call.tool.clone()).or_default();
                stats.calls += 1;
                match call.status {
                    CallEnd::Resolved if !call.success => stats.failures += 1,
                    CallEnd::Resolved => {}
                    CallEnd::Expired => stats.expired += 1,
                }
                if stats.latencies.len() == LATENCY_WINDOW {
                    stats.latencies.pop_front();
                }
                stats.latencies.push_back(call.latency_ms);
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
                    if index < self.selected_call {
                        self.selected_call -= 1;
                    }
                }
                self.clamp_selection();
                match (&call.status, &call.answered_by) {
                    (CallEnd::Expired, _) => self.totals.expired += 1,
                    (CallEnd::Resolved, Some(crate::bridge::Responder::Operator)) => {
                        self.totals.answered_by_hand += 1
                    }
                    (CallEnd::Resolved, Some(crate::bridge::Responder::Remote { .. })) => {
                        self.totals.answered_remotely += 1
                    }
                    (CallEnd::Resolved, _) => self.totals.answered_automatically += 1,
                }
                if call.status == CallEnd::Resolved && !call.success {
                    self.totals.failed += 1;
                }
                if let Some(Overlay::Editor(editor)) = &mut self.overlay
                    && editor.call.request_id == call.request_id
                    && editor.state != EditorState::Sending
                {
                    editor.call_ended();
                }
                return self.attention(false);
            }
            BridgeEvent::HoldChanged { hold } => self.hold = hold,
            BridgeEvent::Error { message, .. } => self.notice = Some(message),
            BridgeEvent::SessionRecovery { thread_id, step } => {
                self.notice = Some(recovery_notice(&thread_id, &step));
            }
            BridgeEvent::Lagged { .. } => return vec![Effect::Resync],
        }
        Vec::new()
    }

    /// Bell and title when a call starts waiting on a person; the title also follows
    /// the count down.
    fn attention(&mut self, new_call: bool) -> Vec<Effect> {
        let waiting = self.waiting_on_person().count();
        let mut effects = Vec::new();
        if new_call
            && waiting > self.titled_waiting.unwrap_or(0)
            && self
                .pending
                .last()
                .is_some_and(|c| c.answerer.needs_person())
        {
            effects.push(Effect::Bell);
        }
        if self.titled_waiting != Some(waiting) {
            self.titled_waiting = Some(waiting);
            effects.push(Effect::Title(match waiting {
                0 => "Switchboard".to_string(),
                n => format!("Switchboard ({n} waiting on you)"),
            }));
        }
        effects
    }

    pub fn on_protocol_line(&mut self, line: ProtocolLine) {
        if self.protocol.lines.len() == PROTOCOL_WINDOW {
            self.protocol.lines.pop_front();
            self.protocol.dropped += 1;
        }
        self.protocol.lines.push_back(line);
    }

    // ----- outcomes of bridge requests ---------------------------------------------

    pub fn on_outcome(&mut self, outcome: Outcome) -> Vec<Effect> {
        match outcome {
            Outcome::Loaded(loaded) => {
                let (status, snapshots, pending) = *loaded;
                return self.load(status, snapshots, pending);
            }
            Outcome::SessionCreated(Ok(session)) | Outcome::Resumed(Ok(session)) => {
                let thread_id = session.thread_id.clone();
                self.on_bridge_event(BridgeEvent::SessionStarted { session });
                self.select_thread(&thread_id);
                self.focus = Focus::Composer;
                self.notice = Some("session ready: type a message, Enter sends".to_string());
            }
            Outcome::SessionCreated(Err(e)) => {
                self.notice = Some(format!("could not create a session: {e}"))
            }
            Outcome::Resumed(Err(e)) => self.notice = Some(format!("could not resume: {e}")),
            Outcome::Sent(Ok(_)) => {}
            Outcome::Sent(Err(e)) => self.notice = Some(format!("message not sent: {e}")),
            Outcome::Interrupted(Ok(turn)) => {
                self.notice = Some(format!("interrupted turn {}", short(&turn)))
            }
            Outcome::Interrupted(Err(e)) => self.notice = Some(format!("nothing interrupted: {e}")),
            Outcome::Closed(Ok(())) => self.notice = Some("session closed".to_string()),
            Outcome::Closed(Err(e)) => self.notice = Some(format!("could not close: {e}")),
            Outcome::Hold(Ok(hold)) => self.hold = hold,
            Outcome::Hold(Err(e)) => self.notice = Some(e),
            Outcome::Threads(Ok(threads)) if threads.is_empty() => {
                self.notice = Some("app-server has no saved threads".to_string())
            }
            Outcome::Threads(Ok(threads)) => {
                self.overlay = Some(Overlay::Threads {
                    threads,
                    selected: 0,
                })
            }
            Outcome::Threads(Err(e)) => self.notice = Some(format!("could not list threads: {e}")),
            Outcome::Responded { request_id, result } => {
                self.on_responded(&request_id, result);
            }
            Outcome::HandlerRan { request_id, result } => {
                if let Some(Overlay::Editor(editor)) = &mut self.overlay
                    && editor.call.request_id == request_id
                {
                    if editor.state == EditorState::RunningHandler {
                        editor.state = EditorState::Editing;
                    }
                    match result {
                        Ok((answer, failure)) => {
                            editor.load_result(&answer);
                            editor.message = Some(match failure {
                                Some(f) => format!("handler failed: {f}; review before sending"),
                                None => "handler answered: review, then ^S to send".to_string(),
                            });
                        }
                        Err(e) => editor.message = Some(format!("could not run the handler: {e}")),
                    }
                }
            }
        }
        Vec::new()
    }

    fn on_responded(&mut self, request_id: &str, result: Result<RespondOutcome, String>) {
        let Some(Overlay::Editor(editor)) = &mut self.overlay else {
            return;
        };
        if editor.call.request_id != request_id {
            return;
        }
        match result {
            Ok(RespondOutcome::Accepted) => {
                self.overlay = None;
                self.notice = Some("answer sent".to_string());
            }
            Ok(RespondOutcome::NotFound) => editor.call_ended(),
            Ok(RespondOutcome::InFlight) => {
                editor.state = EditorState::Editing;
                editor.message = Some("another answer for this call is being written".to_string());
            }
            Ok(RespondOutcome::UpstreamError { message }) => {
                editor.state = EditorState::Editing;
                editor.message = Some(format!(
                    "not delivered ({message}); the call is still pending"
                ));
            }
            Err(e) => {
                editor.state = EditorState::Editing;
                editor.message = Some(format!("not sent: {e}"));
            }
        }
    }

    // ----- keys, paste, mouse ----------------------------------------------------------

    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.notice = None;
        let context = self.context();
        match keys::lookup(context, &key) {
            Some(action) => self.act(action),
            None => {
                match context {
                    Context::Composer => {
                        self.composer.input(key);
                    }
                    Context::Editor => {
                        if let Some(Overlay::Editor(editor)) = &mut self.overlay
                            && editor.state == EditorState::Editing
                        {
                            editor.textarea.input(key);
                        }
                    }
                    Context::Filter => self.filter_input(&key),
                    _ => {}
                }
                Vec::new()
            }
        }
    }

    /// Pasted text goes to whatever takes text now, with CR line ends made LF.
    pub fn on_paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        match self.context() {
            Context::Composer => {
                self.composer.insert_str(&text);
            }
            Context::Editor => {
                if let Some(Overlay::Editor(editor)) = &mut self.overlay
                    && editor.state == EditorState::Editing
                {
                    editor.textarea.insert_str(&text);
                }
            }
            Context::Filter => self.filter_paste(&text),
            _ => {}
        }
    }

    pub fn on_mouse(&mut self, mouse: MouseEvent, screen: Rect) -> Vec<Effect> {
        if let Some(effects) = self.view_mouse(mouse, screen) {
            return effects;
        }
        // The views took the wheel and clicks in lists; a click elsewhere focuses.
        if self.overlay.is_some()
            || self.view != View::Main
            || mouse.kind != MouseEventKind::Down(MouseButton::Left)
        {
            return Vec::new();
        }
        let at = Position::new(mouse.column, mouse.row);
        let areas = super::ui::layout(self, screen);
        if areas.transcript.contains(at) {
            self.focus = Focus::Transcript;
        } else if areas.composer.contains(at) {
            self.focus = Focus::Composer;
        }
        Vec::new()
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        if let Some(effects) = self.view_action(action) {
            return effects;
        }
        let bridge = |r: Request| vec![Effect::Bridge(r)];
        match action {
            Action::Quit => {
                let waiting = self.waiting_on_person().count();
                if waiting > 0 && !matches!(self.overlay, Some(Overlay::ConfirmQuit { .. })) {
                    self.overlay = Some(Overlay::ConfirmQuit { waiting });
                } else {
                    self.quit = true;
                }
            }
            Action::Help => self.overlay = Some(Overlay::Help { scroll: 0 }),
            Action::Back => {
                if self.overlay.is_some() {
                    self.overlay = None;
                } else {
                    self.view = View::Main;
                }
            }
            Action::FocusNext | Action::FocusPrev => {
                let order = [
                    Focus::Sessions,
                    Focus::Transcript,
                    Focus::Queue,
                    Focus::Composer,
                ];
                let at = order.iter().position(|f| *f == self.focus).unwrap_or(0);
                let step = if action == Action::FocusNext {
                    1
                } else {
                    order.len() - 1
                };
                self.focus = order[(at + step) % order.len()];
            }
            Action::NewSession => {
                self.notice = Some("creating a session…".to_string());
                return bridge(Request::CreateSession);
            }
            Action::Compose => {
                if self.sessions.is_empty() {
                    self.notice = Some("no session yet: press n to create one".to_string());
                } else {
                    self.focus = Focus::Composer;
                }
            }
            Action::LeaveComposer => self.focus = Focus::Sessions,
            Action::SendMessage => {
                let text = self.composer.lines().join("\n");
                let Some(thread_id) = self.selected_thread().map(str::to_string) else {
                    self.notice = Some("no session yet: press Esc, then n".to_string());
                    return Vec::new();
                };
                if text.trim().is_empty() {
                    self.notice = Some("type a message first".to_string());
                    return Vec::new();
                }
                self.composer = TextArea::default();
                self.composer
                    .set_placeholder_text("type a message for the selected session; Enter sends");
                if let Some(view) = self.transcripts.get_mut(&thread_id) {
                    view.follow = true;
                }
                return bridge(Request::Send { thread_id, text });
            }
            Action::Interrupt => {
                if let Some(thread_id) = self.selected_thread().map(str::to_string) {
                    return bridge(Request::Interrupt { thread_id });
                }
            }
            Action::CloseSession => {
                if let Some(thread_id) = self.selected_thread().map(str::to_string) {
                    self.overlay = Some(Overlay::ConfirmClose { thread_id });
                }
            }
            Action::ResumeThread => {
                if let Some(Overlay::Threads { threads, selected }) = &self.overlay {
                    let Some(thread) = threads.get(*selected) else {
                        return Vec::new();
                    };
                    let thread_id = thread.id.clone();
                    self.overlay = None;
                    return bridge(Request::Resume { thread_id });
                }
                return bridge(Request::ListThreads);
            }
            Action::OpenCall => self.open_editor(),
            Action::ToggleHoldAll => {
                return bridge(Request::Hold(HoldChange::All(!self.hold.all)));
            }
            Action::ToggleHoldTool => {
                let tool = match self.view {
                    View::Inspector => self
                        .catalog
                        .tools
                        .get(self.inspector_selected)
                        .map(|t| t.name.clone()),
                    _ => self.selected_call().map(|c| c.tool.clone()),
                };
                if let Some(tool) = tool {
                    let held = !self.hold.tools.contains(&tool);
                    return bridge(Request::Hold(HoldChange::Tool { tool, held }));
                }
            }
            Action::Inspector => self.view = View::Inspector,
            Action::ProtocolLog => self.view = View::ProtocolLog,
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                let delta: isize = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -10,
                    _ => 10,
                };
                self.move_selection(delta);
            }
            Action::Top => self.move_selection(isize::MIN / 2),
            Action::Bottom => self.move_selection(isize::MAX / 2),
            Action::Expand => {
                if let Some(thread) = self.selected_thread().map(str::to_string)
                    && let Some(view) = self.transcripts.get_mut(&thread)
                    && let Some(row) = view.rows.get(view.bottom())
                {
                    let seq = row.seq;
                    if !view.expanded.remove(&seq) {
                        view.expanded.insert(seq);
                    }
                }
            }
            Action::EditorSend => return self.editor_send(),
            Action::EditorCancel => self.overlay = None,
            Action::EditorToggleMode => self.with_editor(ResponseEditor::toggle_mode),
            Action::EditorToggleSuccess => self.with_editor(ResponseEditor::toggle_success),
            Action::EditorFail => self.with_editor(ResponseEditor::start_failing),
            Action::EditorRunHandler => {
                if let Some(Overlay::Editor(editor)) = &mut self.overlay {
                    if !editor.has_handler {
                        editor.message =
                            Some(format!("{} has no handler to run", editor.call.tool));
                    } else if editor.state == EditorState::Editing {
                        editor.state = EditorState::RunningHandler;
                        editor.message = Some("running the handler…".to_string());
                        return bridge(Request::RunHandler {
                            request_id: editor.call.request_id.clone(),
                        });
                    }
                }
            }
            Action::Confirm => match self.overlay.take() {
                Some(Overlay::ConfirmQuit { .. }) => self.quit = true,
                Some(Overlay::ConfirmClose { thread_id }) => {
                    return bridge(Request::Close { thread_id });
                }
                other => self.overlay = other,
            },
            Action::Decline => self.overlay = None,
            // The views' actions, taken by `view_action` (navigate.rs) before this match.
            Action::Filter
            | Action::FilterApply
            | Action::FilterClear
            | Action::Detail
            | Action::Zoom
            | Action::GroupQueue
            | Action::ContextUp
            | Action::ContextDown
            | Action::ContextPageUp
            | Action::ContextPageDown => {}
        }
        Vec::new()
    }

    fn with_editor(&mut self, change: impl FnOnce(&mut ResponseEditor)) {
        if let Some(Overlay::Editor(editor)) = &mut self.overlay
            && editor.state == EditorState::Editing
        {
            change(editor);
        }
    }

    fn editor_send(&mut self) -> Vec<Effect> {
        let Some(Overlay::Editor(editor)) = &mut self.overlay else {
            return Vec::new();
        };
        if editor.state != EditorState::Editing {
            return Vec::new();
        }
        match editor.validate() {
            Ok(result) => {
                editor.state = EditorState::Sending;
                editor.message = Some("sending…".to_string());
                vec![Effect::Bridge(Request::Respond {
                    request_id: editor.call.request_id.clone(),
                    result,
                })]
            }
            Err(e) => {
                editor.message = Some(format!("not sent: {e}"));
                Vec::new()
            }
        }
    }

    /// Opens the editor on the selected call, or (outside the queue) on the oldest call
    /// waiting on a person.
    fn open_editor(&mut self) {
        let call = if self.focus == Focus::Queue {
            self.selected_call().cloned()
        } else {
            self.waiting_on_person().next().cloned()
        };
        let Some(call) = call else {
            self.notice = Some("no call is waiting".to_string());
            return;
        };
        let tool = self.catalog.tool(call.namespace.as_deref(), &call.tool);
        let schema = tool.map(|t| t.input_schema.clone());
        let has_handler = tool.is_some_and(|t| t.handler.is_some());
        self.overlay = Some(Overlay::Editor(Box::new(ResponseEditor::new(
            call,
            schema,
            has_handler,
        ))));
    }

    fn move_selection(&mut self, delta: isize) {
        if let Some(Overlay::Threads { threads, selected }) = &mut self.overlay {
            *selected = selected
                .saturating_add_signed(delta)
                .min(threads.len().saturating_sub(1));
            return;
        }
        if let Some(Overlay::Help { scroll }) = &mut self.overlay {
            *scroll = scroll.saturating_add_signed(delta.clamp(-100, 100) as i16);
            return;
        }
        match self.view {
            View::Inspector => {
                self.inspector_selected = self
                    .inspector_selected
                    .saturating_add_signed(delta)
                    .min(self.catalog.tools.len().saturating_sub(1));
                self.inspector_scroll = 0;
            }
            View::ProtocolLog => {}
            View::Main => match self.focus {
                Focus::Sessions => {
                    self.selected_session = self
                        .selected_session
                        .saturating_add_signed(delta)
                        .min(self.sessions.len().saturating_sub(1));
                }
                Focus::Queue => {
                    self.selected_call = self
                        .selected_call
                        .saturating_add_signed(delta)
                        .min(self.pending.len().saturating_sub(1));
                }
                Focus::Transcript | Focus::Composer => {}
            },
        }
    }
}

/// Ids as the console shows them: their last 8 characters.
pub fn short(id: &str) -> &str {
    crate::util::id_tail(id, 8)
}

/// Whether `call` is flagged in the queue: its arguments break the tool's schema.
pub fn flagged(call: &PendingCallView) -> bool {
    !call.schema_problems.is_empty()
}

/// Who answers a call, as the queue shows it.
pub fn answerer_label(call: &PendingCallView) -> String {
    match &call.answerer {
        Answerer::Handler { name } => name.clone(),
        Answerer::Person => "you".to_string(),
        Answerer::Review { name } if call.proposed.is_some() => format!("you (review {name})"),
        Answerer::Review { name } => format!("you ({name} running)"),
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;

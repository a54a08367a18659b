//! The console's state and its transitions. Pure: keys, bridge events and the outcomes of
//! bridge requests go in; effects (bridge requests, a bell, a title) come out. The event
//! loop applies the effects, so everything here is tested without a terminal or sockets.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::TextArea;

use super::editor::{Draft, EditorState, ResponseEditor};
use super::keys::{self, Action, Context};
use super::model::Model;
use crate::appserver::ProtocolLine;
use crate::bridge::{
    Answerer, BridgeEvent, BridgeStatus, HoldChange, HoldState, PendingCallView, RespondOutcome,
    SessionSnapshot, SessionStatus, SessionSummary, TranscriptRow,
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
            "session {session} resumed: {}",
            crate::bridge::RecoveryStep::resumed_text(*calls_kept, *calls_expired)
        ),
        crate::bridge::RecoveryStep::ResumeFailed { reason } => {
            format!("session {session}: {reason}")
        }
    }
}

pub use super::model::TRANSCRIPT_WINDOW;
pub use crate::bridge::ToolStats;

/// Protocol lines kept for the protocol log ...
pub const PROTOCOL_WINDOW: usize = 5_000;
/// ... and their bytes at most (an `item/completed` of a command carries its whole
/// output): beyond either, the oldest lines go.
pub const PROTOCOL_BYTES: usize = 16 * 1024 * 1024;
/// Notices kept for the history (`N`).
pub const NOTICE_HISTORY: usize = 100;
/// Calls that arrive less than this apart are one burst: the bell rings once for it.
pub const BURST_GAP_MS: i64 = 1_000;
/// The shortest time between two title changes.
pub const TITLE_INTERVAL_MS: i64 = 1_000;
/// A second ^C within this time quits.
pub const DOUBLE_CTRL_C_MS: i64 = 2_000;

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

/// A request that waits on the operator, shown as a card over the main view. The
/// tool-call editor is the first kind; approvals, questions and elicitations plug in
/// beside it, each with its own context, keys and render function.
// Cards live boxed in `Overlay::Card`, so the larger editor costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Card {
    ToolCall(ResponseEditor),
    /// An approval, question or elicitation (`cards/`).
    Request(super::cards::RequestCard),
}

impl Card {
    /// The bridge's id of the request the card answers.
    pub fn request_id(&self) -> &str {
        match self {
            Card::ToolCall(editor) => &editor.call.request_id,
            Card::Request(card) => &card.request.request_id,
        }
    }

    /// Where keys go while the card is on top.
    pub fn context(&self) -> Context {
        match self {
            Card::ToolCall(_) => Context::Editor,
            Card::Request(_) => Context::Card,
        }
    }

    pub fn tool_call(&self) -> Option<&ResponseEditor> {
        match self {
            Card::ToolCall(editor) => Some(editor),
            Card::Request(_) => None,
        }
    }

    pub fn tool_call_mut(&mut self) -> Option<&mut ResponseEditor> {
        match self {
            Card::ToolCall(editor) => Some(editor),
            Card::Request(_) => None,
        }
    }
}

/// One layer over the current view. Layers stack: a dialog opens over a card, and a
/// card never replaces a dialog; keys go to the top layer.
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Card(Box<Card>),
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
    /// The threads app-server has loaded, of every client: watch one.
    Loaded {
        threads: Vec<crate::bridge::LoadedThread>,
        selected: usize,
    },
    /// Which app-server a new session goes to, when the bridge has several.
    AppServers {
        names: Vec<String>,
        selected: usize,
    },
    /// Turning auto-answer on for a watched session, asked first.
    ConfirmAutoAnswer {
        thread_id: String,
    },
    /// The notice history, newest last.
    Notices {
        scroll: u16,
    },
    /// The `:` command line, with the candidates of the last completion.
    Command {
        input: Box<TextArea<'static>>,
        candidates: Vec<String>,
    },
    /// `:fail-all REASON`, asked first.
    ConfirmFailAll {
        reason: String,
        count: usize,
    },
    /// Take a request over from the operator (or worker) answering it, asked first.
    ConfirmTakeover {
        request_id: String,
        holder: String,
    },
}

impl Overlay {
    fn context(&self) -> Context {
        match self {
            Overlay::Help { .. } => Context::Help,
            Overlay::Card(card) => card.context(),
            Overlay::ConfirmQuit { .. }
            | Overlay::ConfirmClose { .. }
            | Overlay::ConfirmAutoAnswer { .. }
            | Overlay::ConfirmFailAll { .. }
            | Overlay::ConfirmTakeover { .. } => Context::Confirm,
            Overlay::Command { .. } => Context::Command,
            Overlay::Threads { .. } => Context::Picker,
            Overlay::Loaded { .. } => Context::Watch,
            Overlay::AppServers { .. } => Context::AppServers,
            Overlay::Notices { .. } => Context::Notices,
        }
    }
}

/// A request for the bridge, made by the event loop on the app's behalf.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A new session, on the named app-server (`None`: the default).
    CreateSession {
        app_server: Option<String>,
    },
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
        /// The console's claim on the call, or a claim to take first (bulk answers).
        claim: RespondClaim,
    },
    RunHandler {
        request_id: String,
    },
    Hold(HoldChange),
    ListThreads,
    Resume {
        thread_id: String,
    },
    /// The threads app-server has loaded (other clients' too).
    ListLoaded,
    /// Attach to a thread another client runs, to watch it, on the app-server that
    /// listed it.
    Watch {
        thread_id: String,
        app_server: Option<String>,
    },
    Detach {
        thread_id: String,
    },
    AutoAnswer {
        thread_id: String,
        on: bool,
    },
    /// Answer an approval, question or elicitation with the JSON app-server gets.
    AnswerRequest {
        request_id: String,
        answer: serde_json::Value,
        /// The console's claim on the request, when it holds one.
        claim_id: Option<String>,
    },
    /// Claim a request for this console's operator (its card opened), renew the claim
    /// (`claim_id`), or take the request over from its holder (`takeover`).
    Claim {
        request_id: String,
        holder: String,
        lease_ms: u64,
        claim_id: Option<String>,
        takeover: bool,
    },
    /// Give a claim back (its card closed).
    Release {
        request_id: String,
        claim_id: String,
    },
    /// Read the pending approvals, questions and elicitations afresh.
    ListRequests,
    /// Try app-server again after reconnecting gave up.
    Reconnect,
    /// Name a session's thread (`thread/name/set`).
    Rename {
        thread_id: String,
        name: String,
    },
}

/// How an answer to a tool call goes with the console's claim on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RespondClaim {
    /// The console holds no claim (yet): a call someone else holds refuses it.
    #[default]
    None,
    /// The console's claim on the call.
    Held(String),
    /// Claim the call first and answer only when the claim is granted (bulk answers:
    /// a call someone else holds is left to them, and reported).
    First { holder: String, lease_ms: u64 },
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
    LoadedThreads(Result<crate::bridge::LoadedThreads, String>),
    Watched(Result<SessionSummary, String>),
    Detached(Result<(), String>),
    AutoAnswer(Result<SessionSummary, String>),
    RequestAnswered {
        request_id: String,
        result: Result<crate::bridge::AnswerOutcome, String>,
    },
    Requests(Result<Vec<crate::bridge::PendingRequestView>, String>),
    /// A claim (a new one, a renewal, a takeover) came back.
    Claimed {
        request_id: String,
        takeover: bool,
        result: Result<crate::bridge::ClaimOutcome, String>,
    },
    /// A claim given back (nothing to do unless it failed).
    Released {
        request_id: String,
        result: Result<crate::bridge::ReleaseOutcome, String>,
    },
    Reconnect(Result<(), String>),
    Renamed(Result<(), String>),
    /// Everything read afresh from the bridge: at start and after a lag.
    Loaded(Box<(BridgeStatus, Vec<SessionSnapshot>, Vec<PendingCallView>)>),
    /// The inspector's probe ended (`console/inspect.rs`).
    Probed(Result<crate::inspect::probe::Probe, String>),
    /// A transcript call's replay ended.
    Replayed(Box<crate::inspect::replay::ReplayReport>),
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
    /// Clear the terminal and draw everything again (^L).
    Redraw,
    /// Give the terminal back and stop until resumed (^Z).
    Suspend,
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    /// Edit `text` in the external editor; the loop hands the result to `on_edited`.
    EditExternally {
        target: EditTarget,
        text: String,
    },
    /// Run a probe or a replay beside the loop (`console/inspect.rs`).
    Inspect(super::inspect::InspectRequest),
}

/// What an external edit goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditTarget {
    Composer,
    /// The tool-call editor open on this call.
    Call(String),
}

/// How the operator looks at one session's transcript: UI state beside the model's rows.
#[derive(Debug)]
pub struct TranscriptScroll {
    /// Follow the tail; false once the user scrolls up.
    pub follow: bool,
    /// The selected row (the bottom of the view) when not following.
    pub cursor: usize,
    /// Rows shown in full, by `seq`.
    pub expanded: HashSet<u64>,
}

impl Default for TranscriptScroll {
    /// A new transcript follows its tail.
    fn default() -> Self {
        TranscriptScroll {
            follow: true,
            cursor: 0,
            expanded: HashSet::new(),
        }
    }
}

/// A session's transcript as the console shows it: the model's rows with the view's
/// scroll state.
pub struct TranscriptView<'a> {
    pub rows: &'a VecDeque<TranscriptRow>,
    pub streaming: &'a BTreeMap<String, String>,
    pub follow: bool,
    pub cursor: usize,
    pub expanded: &'a HashSet<u64>,
}

impl TranscriptView<'_> {
    /// The bottom row of the view.
    pub fn bottom(&self) -> usize {
        if self.follow {
            self.rows.len().saturating_sub(1)
        } else {
            self.cursor.min(self.rows.len().saturating_sub(1))
        }
    }
}

impl TranscriptScroll {
    fn bottom(&self, rows: usize) -> usize {
        if self.follow {
            rows.saturating_sub(1)
        } else {
            self.cursor.min(rows.saturating_sub(1))
        }
    }

    /// Stops following and puts the cursor on `row`.
    fn show(&mut self, row: usize) {
        self.follow = false;
        self.cursor = row;
    }
}

#[derive(Debug, Default)]
pub struct ProtocolLog {
    pub lines: VecDeque<ProtocolLine>,
    /// Lines dropped from the front of the window so far.
    pub dropped: u64,
    /// Bytes of the lines kept.
    pub bytes: usize,
}

/// Where the API is served, when the console serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenInfo {
    pub url: String,
    pub token: String,
}

/// The console's UI state over the model: focus, view, the overlay stack, selections,
/// drafts. Changes only through `on_key`, `on_mouse`, `on_paste`, `on_bridge_event`,
/// `on_protocol_line` and `on_outcome`, which return effects instead of performing them.
pub struct App {
    pub catalog: Arc<Catalog>,
    /// What is known about the bridge: a pure fold of its events.
    pub model: Model,
    pub selected_session: usize,
    pub selected_call: usize,
    /// Scroll state per session's transcript.
    pub transcript_scroll: HashMap<String, TranscriptScroll>,
    pub focus: Focus,
    pub view: View,
    /// Layers over the view, bottom first; keys go to the last one.
    pub overlays: Vec<Overlay>,
    pub composer: TextArea<'static>,
    /// A one-line message for the footer, until the next key.
    pub notice: Option<String>,
    pub protocol: ProtocolLog,
    /// Filters, offsets, scrolls, the detail view and zoom (`view.rs`, `navigate.rs`).
    pub views: super::view::Views,
    pub inspector_selected: usize,
    pub inspector_scroll: u16,
    pub listen: Option<ListenInfo>,
    /// The link to `serve`, for a console attached to one (`--remote URL`).
    pub remote: Option<super::link::LinkState>,
    /// The app-server the last new session went to: the picker starts on it.
    pub last_app_server: Option<String>,
    /// The clock for wait timers, set by the loop.
    pub now_ms: i64,
    pub quit: bool,
    /// Waiting-on-person count last shown in the title.
    titled_waiting: Option<usize>,
    /// When the title last changed.
    titled_at_ms: Option<i64>,
    /// When the last call waiting on a person arrived (for the one bell per burst).
    last_person_call_ms: Option<i64>,
    /// Answers typed but not sent, by request id.
    pub drafts: HashMap<String, Draft>,
    /// Request cards closed before they were answered, as they were left (choices,
    /// pages, typed text), by request id.
    pub card_drafts: HashMap<String, super::cards::RequestCard>,
    /// The last `turn/diff/updated` of each session: (turn id, diff).
    pub turn_diffs: HashMap<String, (String, String)>,
    /// The composer text on its way to the bridge; cleared from the composer only when
    /// the send succeeds.
    pub sending_message: Option<String>,
    /// When ^C was pressed without a second one yet.
    ctrl_c_at_ms: Option<i64>,
    /// The last notices with their time, oldest first.
    pub notices: VecDeque<(i64, String)>,
    /// Messages sent from the composer, oldest first, for Up/Down.
    pub history: Vec<String>,
    /// The history entry shown, while browsing.
    history_at: Option<usize>,
    /// What was typed before browsing the history began.
    history_stash: String,
    /// Calls marked in the queue for a bulk answer, by request id.
    pub marked: BTreeSet<String>,
    /// Where the last mark was made, for marking a range.
    mark_anchor: Option<String>,
    /// Answers sent to several calls at once, still unconfirmed; and how those that
    /// came back did.
    bulk: HashSet<String>,
    bulk_answered: usize,
    bulk_refused: usize,
    /// Of those refused, how many someone else was answering.
    bulk_claimed: usize,
    /// The probe and replay keys' state.
    pub inspect: super::inspect::InspectState,
    /// The requests this console claimed for its operator (`claims.rs`).
    pub claims: super::claims::Claims,
    /// Effects made where none can be returned (a card popped, a card opened), sent
    /// with the next batch.
    outbox: Vec<Effect>,
}

impl App {
    pub fn new(catalog: Arc<Catalog>, status: BridgeStatus) -> App {
        App {
            catalog,
            model: Model::new(status),
            selected_session: 0,
            selected_call: 0,
            transcript_scroll: HashMap::new(),
            focus: Focus::Sessions,
            view: View::Main,
            overlays: Vec::new(),
            composer: new_composer(),
            notice: None,
            protocol: ProtocolLog::default(),
            views: super::view::Views::default(),
            inspector_selected: 0,
            inspector_scroll: 0,
            listen: None,
            remote: None,
            last_app_server: None,
            now_ms: crate::util::now_ms(),
            quit: false,
            titled_waiting: None,
            titled_at_ms: None,
            last_person_call_ms: None,
            drafts: HashMap::new(),
            card_drafts: HashMap::new(),
            turn_diffs: HashMap::new(),
            sending_message: None,
            ctrl_c_at_ms: None,
            notices: VecDeque::new(),
            history: Vec::new(),
            history_at: None,
            history_stash: String::new(),
            marked: BTreeSet::new(),
            mark_anchor: None,
            bulk: HashSet::new(),
            bulk_answered: 0,
            bulk_refused: 0,
            bulk_claimed: 0,
            inspect: Default::default(),
            claims: Default::default(),
            outbox: Vec::new(),
        }
    }

    /// Replaces everything known with a fresh read from the bridge.
    pub fn load(
        &mut self,
        status: BridgeStatus,
        snapshots: Vec<SessionSnapshot>,
        pending: Vec<PendingCallView>,
    ) -> Vec<Effect> {
        let selected = self.selected_thread().map(str::to_string);
        let selected_call = self.selected_call().map(|c| c.request_id.clone());
        self.model.load(status, snapshots, pending);
        for (thread, scroll) in &mut self.transcript_scroll {
            let rows = self
                .model
                .transcripts
                .get(thread)
                .map_or(0, |t| t.rows.len());
            scroll.cursor = scroll.cursor.min(rows.saturating_sub(1));
        }
        if let Some(thread) = selected {
            self.select_thread(&thread);
        }
        if let Some(request_id) = selected_call
            && let Some(index) = self
                .model
                .pending
                .iter()
                .position(|c| c.request_id == request_id)
        {
            self.selected_call = index;
        }
        self.clamp_selection();
        self.attention(false)
    }

    pub fn selected_thread(&self) -> Option<&str> {
        self.model
            .sessions
            .get(self.selected_session)
            .map(|s| s.thread_id.as_str())
    }

    pub fn selected_call(&self) -> Option<&PendingCallView> {
        self.model.pending.get(self.selected_call)
    }

    /// A session's transcript with its scroll state, for drawing.
    pub fn transcript(&self, thread_id: &str) -> Option<TranscriptView<'_>> {
        let transcript = self.model.transcripts.get(thread_id)?;
        static NONE: std::sync::OnceLock<HashSet<u64>> = std::sync::OnceLock::new();
        let scroll = self.transcript_scroll.get(thread_id);
        Some(TranscriptView {
            rows: &transcript.rows,
            streaming: &transcript.streaming,
            follow: scroll.is_none_or(|s| s.follow),
            cursor: scroll.map_or(0, |s| s.cursor),
            expanded: scroll.map_or_else(|| NONE.get_or_init(HashSet::new), |s| &s.expanded),
        })
    }

    /// The top overlay, if any.
    pub fn top(&self) -> Option<&Overlay> {
        self.overlays.last()
    }

    /// The open tool-call editor, wherever it is in the stack.
    pub fn editor(&self) -> Option<&ResponseEditor> {
        self.overlays.iter().rev().find_map(|o| match o {
            Overlay::Card(card) => card.tool_call(),
            _ => None,
        })
    }

    pub fn editor_mut(&mut self) -> Option<&mut ResponseEditor> {
        self.overlays.iter_mut().rev().find_map(|o| match o {
            Overlay::Card(card) => card.tool_call_mut(),
            _ => None,
        })
    }

    /// The tool-call editor when it is the top layer (it gets the keys).
    fn top_editor_mut(&mut self) -> Option<&mut ResponseEditor> {
        match self.overlays.last_mut() {
            Some(Overlay::Card(card)) => card.tool_call_mut(),
            _ => None,
        }
    }

    fn push_overlay(&mut self, overlay: Overlay) {
        self.overlays.push(overlay);
    }

    /// Removes the top layer; a card leaves its draft behind.
    fn pop_overlay(&mut self) -> Option<Overlay> {
        let popped = self.overlays.pop();
        if let Some(Overlay::Card(card)) = &popped {
            self.keep_draft(card);
            let request_id = card.request_id().to_string();
            self.card_closed(&request_id);
        }
        popped
    }

    /// A card closed without its request ending: its claim goes back, unless another
    /// card of the same request is still open.
    fn card_closed(&mut self, request_id: &str) {
        let still_open = self
            .overlays
            .iter()
            .any(|o| matches!(o, Overlay::Card(card) if card.request_id() == request_id));
        if !still_open && let Some(release) = self.claims.release(request_id) {
            self.outbox.push(Effect::Bridge(release));
        }
    }

    /// Claims a request whose card just opened, unless this console holds it already
    /// or someone else does (the card then says who, and how to take it over).
    fn claim_opened(&mut self, request_id: &str, claim: Option<&crate::bridge::CallClaim>) {
        if self.claims.holds(request_id) || self.claims.other_holder(claim).is_some() {
            return;
        }
        let ask = self.claims.claim(request_id, self.now_ms, false);
        self.outbox.push(Effect::Bridge(ask));
    }

    /// The claim of `request_id` as the queue knows it: a tool call's or a request's.
    pub fn claim_of(&self, request_id: &str) -> Option<&crate::bridge::CallClaim> {
        match self.model.call(request_id) {
            Some(call) => call.claim.as_ref(),
            None => self.model.request(request_id)?.claim.as_ref(),
        }
    }

    /// A request as notices name it: its tool (a call) or its kind, with its short id.
    fn request_name(&self, request_id: &str) -> String {
        if let Some(call) = self.model.call(request_id) {
            return format!("{} ({})", qualified(call), short(request_id));
        }
        match self.model.request(request_id) {
            Some(request) => format!(
                "the {} ({})",
                request.kind.as_str().replace('_', " "),
                short(request_id)
            ),
            None => short(request_id).to_string(),
        }
    }

    /// Who else is answering `request_id` right now, if anyone.
    pub fn answered_elsewhere(&self, request_id: &str) -> Option<&str> {
        self.claims.other_holder(self.claim_of(request_id))
    }

    /// The effects of one input, with what was made on the way (`outbox`).
    fn with_outbox(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        effects.append(&mut self.outbox);
        effects
    }

    /// Keeps what was typed on a closing card, while its call still waits.
    fn keep_draft(&mut self, card: &Card) {
        match card {
            Card::ToolCall(editor) => {
                let request_id = &editor.call.request_id;
                if editor.has_input() && self.model.call(request_id).is_some() {
                    self.drafts.insert(request_id.clone(), editor.draft());
                } else {
                    self.drafts.remove(request_id);
                }
            }
            Card::Request(card) => {
                let request_id = &card.request.request_id;
                if self.model.request(request_id).is_some() {
                    let mut parked = card.clone();
                    parked.sending = false;
                    self.card_drafts.insert(request_id.clone(), parked);
                } else {
                    self.card_drafts.remove(request_id);
                }
            }
        }
    }

    /// Removes the card answering `request_id` (it was answered), with its draft.
    fn remove_card(&mut self, request_id: &str) {
        self.overlays
            .retain(|o| !matches!(o, Overlay::Card(card) if card.request_id() == request_id));
        self.drafts.remove(request_id);
        self.card_drafts.remove(request_id);
        // The claim ended with its request.
        self.claims.forget(request_id);
    }

    /// Everything waiting on a person: tool calls, approvals, questions, elicitations.
    pub fn waiting_count(&self) -> usize {
        self.waiting_on_person().count() + self.model.requests_waiting().count()
    }

    /// Keeps a session's latest turn diff, for the file-change cards of that turn.
    fn turn_diff_updated(&mut self, params: &serde_json::Value) {
        let get = |name: &str| params.get(name).and_then(serde_json::Value::as_str);
        let (Some(thread), Some(turn), Some(diff)) = (get("threadId"), get("turnId"), get("diff"))
        else {
            return;
        };
        self.turn_diffs
            .insert(thread.to_string(), (turn.to_string(), diff.to_string()));
        let cards = self
            .overlays
            .iter_mut()
            .filter_map(|o| match o {
                Overlay::Card(card) => match card.as_mut() {
                    Card::Request(card) => Some(card),
                    Card::ToolCall(_) => None,
                },
                _ => None,
            })
            .chain(self.card_drafts.values_mut());
        for card in cards {
            if card.request.thread_id == thread && card.request.turn_id.as_deref() == Some(turn) {
                card.turn_diff = Some(diff.to_string());
            }
        }
    }

    /// Shows a notice in the footer and keeps it in the history.
    pub(super) fn say(&mut self, text: impl Into<String>) {
        // Ids as the panes show them (errors from the bridge carry them in full).
        let text = super::text::shorten_ids(&text.into());
        if self.notices.len() == NOTICE_HISTORY {
            self.notices.pop_front();
        }
        self.notices.push_back((self.now_ms, text.clone()));
        self.notice = Some(text);
    }

    fn select_thread(&mut self, thread_id: &str) {
        if let Some(index) = self
            .model
            .sessions
            .iter()
            .position(|s| s.thread_id == thread_id)
        {
            self.selected_session = index;
        }
    }

    fn clamp_selection(&mut self) {
        self.selected_session = self
            .selected_session
            .min(self.model.sessions.len().saturating_sub(1));
        self.selected_call = self
            .selected_call
            .min(self.model.pending.len().saturating_sub(1));
    }

    /// Calls that need a person, oldest first.
    pub fn waiting_on_person(&self) -> impl Iterator<Item = &PendingCallView> {
        self.model.waiting_on_person()
    }

    /// The badge of a session: its bridge status, or "waiting on you".
    pub fn session_badge(&self, session: &SessionSummary) -> &'static str {
        self.model.session_badge(session)
    }

    /// Where keys go now.
    pub fn context(&self) -> Context {
        if let Some(context) = self.view_context() {
            return context;
        }
        if let Some(overlay) = self.top() {
            return overlay.context();
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

    /// Whether wait timers are on screen or a title change waits for its slot, so the
    /// loop must tick once a second.
    pub fn needs_ticks(&self) -> bool {
        !self.model.pending.is_empty()
            || !self.model.requests.is_empty()
            || self.titled_waiting != Some(self.waiting_count())
            // A running turn's commands count their seconds.
            || self
                .model
                .sessions
                .iter()
                .any(|s| s.turn_started_at_ms.is_some())
    }

    /// The once-a-second tick (while `needs_ticks`): timers move on; anything held back
    /// for a quieter moment goes out now.
    pub fn on_tick(&mut self) -> Vec<Effect> {
        let mut effects: Vec<Effect> = self.retitle().into_iter().collect();
        effects.extend(
            self.claims
                .renewals(self.now_ms)
                .into_iter()
                .map(Effect::Bridge),
        );
        self.with_outbox(effects)
    }

    // ----- bridge events -------------------------------------------------------------

    pub fn on_bridge_event(&mut self, event: BridgeEvent) -> Vec<Effect> {
        let effects = self.handle_bridge_event(event);
        self.with_outbox(effects)
    }

    fn handle_bridge_event(&mut self, event: BridgeEvent) -> Vec<Effect> {
        let applied = self.model.apply(&event);
        if let Some(thread) = &applied.dropped_row
            && let Some(scroll) = self.transcript_scroll.get_mut(thread)
        {
            scroll.cursor = scroll.cursor.saturating_sub(1);
        }
        if let Some(index) = applied.removed_call
            && index < self.selected_call
        {
            self.selected_call -= 1;
        }
        match event {
            BridgeEvent::ToolCallRequested { .. } | BridgeEvent::RequestOpened { .. } => {
                return self.attention(applied.person_call_added);
            }
            BridgeEvent::ToolCallProposed { call } => {
                if let Some(editor) = self.editor_mut()
                    && editor.call.request_id == call.request_id
                    && editor.state == EditorState::Editing
                    && let Some(result) = &call.proposed
                {
                    editor.review_result(result);
                    editor.message = Some("the held handler answered: review, then ^S".to_string());
                }
            }
            BridgeEvent::ToolCallClaim {
                call,
                change,
                claim,
            } => {
                let request_id = call.request_id.clone();
                if let Some(editor) = self.editor_mut()
                    && editor.call.request_id == call.request_id
                {
                    editor.call.claim = call.claim.clone();
                }
                self.claim_changed(&request_id, change, &claim, call.claim.as_ref());
            }
            BridgeEvent::RequestClaim {
                request,
                change,
                claim,
            } => {
                for overlay in &mut self.overlays {
                    if let Overlay::Card(card) = overlay
                        && let Card::Request(card) = card.as_mut()
                        && card.request.request_id == request.request_id
                    {
                        card.request.claim = request.claim.clone();
                    }
                }
                self.claim_changed(&request.request_id, change, &claim, request.claim.as_ref());
            }
            BridgeEvent::ToolCallResolved { call } => {
                self.clamp_selection();
                self.drafts.remove(&call.request_id);
                self.marked.remove(&call.request_id);
                let how = call.how();
                if let Some(editor) = self.editor_mut()
                    && editor.call.request_id == call.request_id
                    && editor.state != EditorState::Sending
                {
                    editor.call_ended(Some(&how));
                }
                return self.attention(false);
            }
            BridgeEvent::Error { message, .. } => match &self.model.connection {
                // The connection is lost for good: the notice leads with the retry key.
                crate::bridge::ConnectionState::Disconnected {
                    reason,
                    retry: true,
                } if *reason == message => self.say(format!(
                    "{} retries · {message}",
                    keys::label_of(Action::Reconnect)
                )),
                _ => self.say(message),
            },
            BridgeEvent::SessionRecovery { thread_id, step } => {
                self.say(recovery_notice(&thread_id, &step));
            }
            BridgeEvent::Lagged { .. } => return vec![Effect::Resync],
            BridgeEvent::TurnStarted { thread_id, .. } => {
                // The elapsed time counts from here when the summary did not say.
                let now = self.now_ms;
                if let Some(session) = self
                    .model
                    .sessions
                    .iter_mut()
                    .find(|s| s.thread_id == thread_id)
                    && session.turn_started_at_ms.is_none()
                {
                    session.turn_started_at_ms = Some(now);
                }
            }
            BridgeEvent::CatalogReloaded { reload, catalog } => {
                if let Some(catalog) = catalog {
                    self.catalog = catalog;
                    self.inspector_selected = self
                        .inspector_selected
                        .min(self.catalog.tools.len().saturating_sub(1));
                }
                self.say(reload.summary());
            }
            BridgeEvent::Connection { .. }
            | BridgeEvent::SessionStarted { .. }
            | BridgeEvent::SessionUpdated { .. }
            | BridgeEvent::SessionClosed { .. }
            | BridgeEvent::SessionActivity { .. }
            | BridgeEvent::TokenUsage { .. }
            | BridgeEvent::RateLimits { .. }
            | BridgeEvent::TurnCompleted { .. }
            | BridgeEvent::AgentMessageDelta { .. }
            | BridgeEvent::AgentMessageCompleted { .. }
            | BridgeEvent::TranscriptAppended { .. }
            | BridgeEvent::HoldChanged { .. }
            | BridgeEvent::AppServerRequest { .. }
            | BridgeEvent::ServerRequestRefused { .. } => {}
            BridgeEvent::AppServerNotification { method, params, .. } => {
                if method == crate::protocol::method::TURN_DIFF_UPDATED {
                    self.turn_diff_updated(&params);
                }
            }
            BridgeEvent::RequestResolved { request } => self.remove_card(&request.request_id),
            BridgeEvent::TranscriptRowUpdated { thread_id, row } => {
                // The detail view open on a live row follows it.
                if let Some(pager) = &mut self.views.detail
                    && pager.source.as_ref() == Some(&(thread_id.clone(), row.seq))
                {
                    let fresh = super::navigate::row_pager(&row, &thread_id, self.now_ms);
                    pager.replace(fresh.title.clone(), fresh.into_lines());
                }
            }
        }
        Vec::new()
    }

    /// The bell when a call starts waiting on a person, once per burst: only when no
    /// such call arrived in the last `BURST_GAP_MS`. The title follows the count, at most
    /// once per `TITLE_INTERVAL_MS`; a change held back goes out on a later tick.
    fn attention(&mut self, person_call_added: bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        if person_call_added {
            let quiet = self
                .last_person_call_ms
                .is_none_or(|last| self.now_ms - last >= BURST_GAP_MS);
            if quiet {
                effects.push(Effect::Bell);
            }
            self.last_person_call_ms = Some(self.now_ms);
        }
        effects.extend(self.retitle());
        effects
    }

    /// A new title when the count changed and the last change is old enough.
    fn retitle(&mut self) -> Option<Effect> {
        let waiting = self.waiting_count();
        let due = self
            .titled_at_ms
            .is_none_or(|at| self.now_ms - at >= TITLE_INTERVAL_MS);
        if self.titled_waiting == Some(waiting) || !due {
            return None;
        }
        self.titled_waiting = Some(waiting);
        self.titled_at_ms = Some(self.now_ms);
        Some(Effect::Title(title_for(waiting)))
    }

    /// A claim changed on the bridge: this console learns that it was taken over.
    fn claim_changed(
        &mut self,
        request_id: &str,
        change: crate::bridge::ClaimChange,
        claim: &crate::bridge::CallClaim,
        now: Option<&crate::bridge::CallClaim>,
    ) {
        use crate::bridge::ClaimChange;
        // Someone else let go of a request this console has open: it is the operator's now.
        let open_here = self
            .overlays
            .iter()
            .any(|o| matches!(o, Overlay::Card(card) if card.request_id() == request_id));
        if matches!(change, ClaimChange::Released | ClaimChange::Expired)
            && now.is_none()
            && open_here
            && !self.claims.holds(request_id)
        {
            let ask = self.claims.claim(request_id, self.now_ms, false);
            self.outbox.push(Effect::Bridge(ask));
            return;
        }
        if change == ClaimChange::TakenOver && self.claims.is_mine(claim) {
            self.claims.forget(request_id);
            let by = now.map_or("someone", |c| c.holder.as_str()).to_string();
            let text = format!(
                "{by} took {} over: it is being answered by {by}",
                self.request_name(request_id)
            );
            if let Some(editor) = self.editor_mut()
                && editor.call.request_id == request_id
            {
                editor.message = Some(text.clone());
            }
            self.say(text);
        }
    }

    /// A claim came back: kept while the card is open, given back when it closed
    /// meanwhile; a held request's card says who holds it.
    fn on_claimed(
        &mut self,
        request_id: &str,
        takeover: bool,
        result: Result<crate::bridge::ClaimOutcome, String>,
    ) -> Vec<Effect> {
        use crate::bridge::ClaimOutcome;
        match result {
            Ok(ClaimOutcome::Claimed {
                claim, replaced, ..
            }) => {
                if !self
                    .claims
                    .granted(request_id, &claim.claim_id, self.now_ms)
                {
                    return vec![Effect::Bridge(Request::Release {
                        request_id: request_id.to_string(),
                        claim_id: claim.claim_id,
                    })];
                }
                if let Some(replaced) = replaced {
                    let text = format!(
                        "you took {} over from {}: it is yours to answer",
                        self.request_name(request_id),
                        replaced.holder
                    );
                    if let Some(editor) = self.editor_mut()
                        && editor.call.request_id == request_id
                    {
                        editor.message = Some(text.clone());
                    }
                    self.say(text);
                }
            }
            Ok(ClaimOutcome::Held { claim }) => {
                if self.claims.is_mine(&claim) {
                    return Vec::new();
                }
                self.claims.forget(request_id);
                let text = format!(
                    "being answered by {}: {} takes it over",
                    claim.holder,
                    keys::label_of(Action::TakeOver)
                );
                if let Some(editor) = self.editor_mut()
                    && editor.call.request_id == request_id
                {
                    editor.message = Some(text.clone());
                }
                if takeover {
                    self.say(text);
                }
            }
            // Nothing to hold: it ended, its answer is on its way, or a handler of the
            // server answers it.
            Ok(ClaimOutcome::NotFound | ClaimOutcome::InFlight) => {
                self.claims.forget(request_id);
            }
            Ok(ClaimOutcome::NotClaimable { message }) => {
                self.claims.forget(request_id);
                if takeover {
                    self.say(message);
                }
            }
            Err(e) => {
                self.claims.forget(request_id);
                self.say(format!("could not claim {}: {e}", short(request_id)));
            }
        }
        Vec::new()
    }

    /// Asks before taking the top card's request over from whoever is answering it.
    fn ask_takeover(&mut self) {
        let Some(Overlay::Card(card)) = self.top() else {
            return;
        };
        let request_id = card.request_id().to_string();
        match self.answered_elsewhere(&request_id).map(str::to_string) {
            Some(holder) => self.push_overlay(Overlay::ConfirmTakeover { request_id, holder }),
            None => self.say("nobody else is answering it: it is yours".to_string()),
        }
    }

    pub fn on_protocol_line(&mut self, line: ProtocolLine) {
        let log = &mut self.protocol;
        log.bytes += line.text.len();
        log.lines.push_back(line);
        while log.lines.len() > PROTOCOL_WINDOW
            || (log.bytes > PROTOCOL_BYTES && log.lines.len() > 1)
        {
            let Some(oldest) = log.lines.pop_front() else {
                break;
            };
            log.bytes = log.bytes.saturating_sub(oldest.text.len());
            log.dropped += 1;
        }
    }

    // ----- outcomes of bridge requests ---------------------------------------------

    pub fn on_outcome(&mut self, outcome: Outcome) -> Vec<Effect> {
        let effects = self.handle_outcome(outcome);
        self.with_outbox(effects)
    }

    fn handle_outcome(&mut self, outcome: Outcome) -> Vec<Effect> {
        match outcome {
            Outcome::Loaded(loaded) => {
                let (status, snapshots, pending) = *loaded;
                let mut effects = self.load(status, snapshots, pending);
                effects.push(Effect::Bridge(Request::ListRequests));
                return effects;
            }
            Outcome::RequestAnswered { request_id, result } => {
                self.on_request_answered(&request_id, result);
            }
            Outcome::Claimed {
                request_id,
                takeover,
                result,
            } => return self.on_claimed(&request_id, takeover, result),
            Outcome::Released { request_id, result } => {
                if let Err(e) = result {
                    self.say(format!(
                        "could not give back the claim on {}: {e} (its lease runs out by itself)",
                        short(&request_id)
                    ));
                }
            }
            Outcome::Probed(result) => self.on_probed(result),
            Outcome::Replayed(report) => self.on_replayed(*report),
            Outcome::Requests(Ok(requests)) => {
                self.model.load_requests(requests);
                return self.attention(false);
            }
            Outcome::Requests(Err(message)) => {
                self.say(format!("could not read the pending approvals: {message}"));
            }
            Outcome::SessionCreated(Ok(session)) | Outcome::Resumed(Ok(session)) => {
                let thread_id = session.thread_id.clone();
                self.handle_bridge_event(BridgeEvent::SessionStarted { session });
                self.select_thread(&thread_id);
                self.focus = Focus::Composer;
                self.say("session ready: type a message, Enter sends".to_string());
            }
            Outcome::SessionCreated(Err(e)) => self.say(format!("could not create a session: {e}")),
            Outcome::LoadedThreads(Ok(loaded)) => {
                // The app-servers that did not answer are named, so none is missed.
                let unreachable: Vec<String> = loaded
                    .unreachable
                    .iter()
                    .map(|u| format!("{} ({})", u.app_server, u.reason))
                    .collect();
                let missing = if unreachable.is_empty() {
                    String::new()
                } else {
                    format!("; not listed: {}", unreachable.join(", "))
                };
                if loaded.threads.is_empty() {
                    let whose = if self.model.app_servers.len() > 1 {
                        "no app-server has loaded threads"
                    } else {
                        "app-server has no loaded threads"
                    };
                    self.say(format!("{whose}{missing}"));
                } else {
                    if !missing.is_empty() {
                        self.say(format!("loaded threads{missing}"));
                    }
                    self.push_overlay(Overlay::Loaded {
                        threads: loaded.threads,
                        selected: 0,
                    });
                }
            }
            Outcome::LoadedThreads(Err(e)) => {
                self.say(format!("could not list the loaded threads: {e}"))
            }
            Outcome::Watched(Ok(session)) => {
                let thread_id = session.thread_id.clone();
                self.handle_bridge_event(BridgeEvent::SessionStarted { session });
                self.select_thread(&thread_id);
                self.focus = Focus::Sessions;
                self.say(format!(
                    "watching {}: its requests wait for you ({} auto-answers, {} detaches)",
                    short(&thread_id),
                    keys::label_of(keys::Action::ToggleAutoAnswer),
                    keys::label_of(keys::Action::Detach)
                ));
            }
            Outcome::Watched(Err(e)) => self.say(format!("could not watch: {e}")),
            Outcome::Detached(Ok(())) => {
                self.say("detached: the thread goes on in the client that runs it")
            }
            Outcome::Detached(Err(e)) => self.say(format!("could not detach: {e}")),
            Outcome::AutoAnswer(Ok(session)) => {
                let what = if session.auto_answer {
                    "auto-answer ON: the catalog's handlers and rules answer its requests"
                } else {
                    "auto-answer off: its requests wait for you"
                };
                self.say(format!("{} {what}", short(&session.thread_id)));
                self.handle_bridge_event(BridgeEvent::SessionUpdated { session });
            }
            Outcome::AutoAnswer(Err(e)) => self.say(format!("auto-answer not changed: {e}")),
            Outcome::Resumed(Err(e)) => self.say(format!("could not resume: {e}")),
            Outcome::Sent(Ok(_)) => {
                if let Some(sent) = self.sending_message.take() {
                    let text = self.composer.lines().join("\n");
                    // Whatever was typed after the send stays.
                    let rest = text.strip_prefix(&sent).unwrap_or(&text).to_string();
                    self.composer = new_composer();
                    self.composer.insert_str(rest.trim_start_matches('\n'));
                }
            }
            Outcome::Sent(Err(e)) => {
                self.sending_message = None;
                self.say(format!(
                    "message not sent: {e} (it is still in the composer: i edits it)"
                ));
            }
            Outcome::Interrupted(Ok(turn)) => {
                self.say(format!("interrupted turn {}", short(&turn)))
            }
            Outcome::Interrupted(Err(e)) => self.say(format!("nothing interrupted: {e}")),
            Outcome::Closed(Ok(())) => self.say("session closed".to_string()),
            Outcome::Closed(Err(e)) => self.say(format!("could not close: {e}")),
            // The session's new title comes with its `session_updated` event.
            Outcome::Renamed(Ok(())) => self.say("session renamed"),
            Outcome::Renamed(Err(e)) => self.say(format!("could not rename: {e}")),
            Outcome::Reconnect(Ok(())) => {}
            Outcome::Reconnect(Err(e)) => self.say(format!("cannot retry: {e}")),
            Outcome::Hold(Ok(hold)) => self.model.hold = hold,
            Outcome::Hold(Err(e)) => self.say(e),
            Outcome::Threads(Ok(threads)) if threads.is_empty() => {
                self.say("app-server has no saved threads".to_string())
            }
            Outcome::Threads(Ok(threads)) => self.push_overlay(Overlay::Threads {
                threads,
                selected: 0,
            }),
            Outcome::Threads(Err(e)) => self.say(format!("could not list threads: {e}")),
            Outcome::Responded { request_id, result } => {
                self.on_responded(&request_id, result);
            }
            Outcome::HandlerRan { request_id, result } => {
                if let Some(editor) = self.editor_mut()
                    && editor.call.request_id == request_id
                {
                    if editor.state == EditorState::RunningHandler {
                        editor.state = EditorState::Editing;
                    }
                    match result {
                        Ok((answer, failure)) => {
                            editor.review_result(&answer);
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
        if self.bulk.remove(request_id) {
            match result {
                Ok(RespondOutcome::Accepted) => self.bulk_answered += 1,
                Ok(RespondOutcome::Claimed { claim }) => {
                    self.bulk_refused += 1;
                    self.bulk_claimed += 1;
                    self.say(format!(
                        "call {}: not claimed, being answered by {}",
                        short(request_id),
                        claim.holder
                    ));
                }
                Ok(other) => {
                    self.bulk_refused += 1;
                    self.say(format!(
                        "call {}: not answered: {other:?}",
                        short(request_id)
                    ));
                }
                Err(e) => {
                    self.bulk_refused += 1;
                    self.say(format!("call {}: not answered: {e}", short(request_id)));
                }
            }
            if self.bulk.is_empty() {
                let (answered, refused, claimed) =
                    (self.bulk_answered, self.bulk_refused, self.bulk_claimed);
                self.bulk_answered = 0;
                self.bulk_refused = 0;
                self.bulk_claimed = 0;
                self.say(format!(
                    "answered {answered} more call(s) at once{}{}",
                    if refused > 0 {
                        format!(", {refused} refused")
                    } else {
                        String::new()
                    },
                    if claimed > 0 {
                        format!(" ({claimed} being answered by others: not claimed)")
                    } else {
                        String::new()
                    }
                ));
            }
            return;
        }
        let how = self.model.endings.get(request_id).map(str::to_string);
        // Sent before this console's own claim came back: send again, with it.
        let resend =
            matches!(&result, Ok(RespondOutcome::Claimed { claim }) if self.claims.is_mine(claim));
        let Some(editor) = self.editor_mut() else {
            return;
        };
        if editor.call.request_id != request_id {
            return;
        }
        if resend {
            editor.state = EditorState::Editing;
            let effects = self.editor_send();
            self.outbox.extend(effects);
            return;
        }
        match result {
            Ok(RespondOutcome::Accepted) => {
                self.remove_card(request_id);
                self.say("answer sent".to_string());
            }
            // The event that ended it may come after this reply: it fills in how.
            Ok(RespondOutcome::NotFound) => editor.call_ended(how.as_deref()),
            Ok(RespondOutcome::InFlight) => {
                editor.state = EditorState::Editing;
                editor.message = Some("another answer for this call is being written".to_string());
            }
            Ok(RespondOutcome::Claimed { claim }) => {
                editor.state = EditorState::Editing;
                editor.message = Some(format!(
                    "not sent: being answered by {} ({} takes it over)",
                    claim.holder,
                    keys::label_of(Action::TakeOver)
                ));
            }
            Ok(RespondOutcome::UpstreamError { message }) => {
                editor.state = EditorState::Editing;
                editor.message = Some(super::text::shorten_ids(&format!(
                    "not delivered ({message}); the call is still pending"
                )));
            }
            Err(e) => {
                editor.state = EditorState::Editing;
                editor.message = Some(super::text::shorten_ids(&format!("not sent: {e}")));
            }
        }
    }

    // ----- keys, paste, mouse ----------------------------------------------------------

    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let before = self.queue_position();
        let effects = self.handle_key(key);
        self.follow_queue_moves(before);
        self.with_outbox(effects)
    }

    /// The focused queue's selected call, to see whether an input moved it.
    fn queue_position(&self) -> Option<(Focus, Option<String>)> {
        (self.view == View::Main && self.overlays.is_empty()).then(|| {
            (
                self.focus,
                self.selected_call().map(|c| c.request_id.clone()),
            )
        })
    }

    /// A new selection in the focused queue (by key, click or focus) selects that
    /// call's session and shows its request row, whichever path moved it.
    /// Opening or closing an overlay (the editor, a card) or another view is no move: the
    /// transcript keeps following.
    fn follow_queue_moves(&mut self, before: Option<(Focus, Option<String>)>) {
        let (Some(before), Some(now)) = (before, self.queue_position()) else {
            return;
        };
        if now != before && now.0 == Focus::Queue && now.1.is_some() {
            self.follow_selected_call();
        }
    }

    fn handle_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.notice = None;
        let context = self.context();
        if context == Context::Card
            && matches!(keys::lookup(context, &key), None | Some(Action::CardKey))
        {
            return self.on_card_key(key);
        }
        let newline = context == Context::Composer
            && key.code == crossterm::event::KeyCode::Enter
            && key.modifiers.intersects(
                crossterm::event::KeyModifiers::SHIFT | crossterm::event::KeyModifiers::ALT,
            );
        let action = if newline {
            Some(Action::ComposerNewline)
        } else {
            keys::lookup(context, &key)
        };
        if action != Some(Action::CtrlC) {
            self.ctrl_c_at_ms = None;
        }
        match action {
            Some(action) => self.act(action),
            None => {
                match context {
                    Context::Composer => {
                        self.composer.input(key);
                    }
                    Context::Editor => {
                        if let Some(editor) = self.top_editor_mut()
                            && editor.state == EditorState::Editing
                            && editor.textarea.input(key)
                        {
                            // What was said about the old text no longer holds.
                            editor.message = None;
                        }
                    }
                    Context::Command => {
                        if let Some(Overlay::Command { input, .. }) = self.overlays.last_mut() {
                            input.input(key);
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
                if let Some(editor) = self.top_editor_mut()
                    && editor.state == EditorState::Editing
                {
                    editor.textarea.insert_str(&text);
                }
            }
            Context::Command => {
                if let Some(Overlay::Command { input, .. }) = self.overlays.last_mut() {
                    input.insert_str(text.replace('\n', " "));
                }
            }
            Context::Filter => self.filter_paste(&text),
            Context::Card => {
                if let Some(Overlay::Card(card)) = self.overlays.last_mut()
                    && let Card::Request(card) = card.as_mut()
                {
                    card.paste(&text);
                }
            }
            _ => {}
        }
    }

    pub fn on_mouse(&mut self, mouse: MouseEvent, screen: Rect) -> Vec<Effect> {
        let before = self.queue_position();
        let effects = self.handle_mouse(mouse, screen);
        self.follow_queue_moves(before);
        self.with_outbox(effects)
    }

    fn handle_mouse(&mut self, mouse: MouseEvent, screen: Rect) -> Vec<Effect> {
        if let Some(effects) = self.view_mouse(mouse, screen) {
            return effects;
        }
        // The views took the wheel and clicks in lists; a click elsewhere focuses.
        if !self.overlays.is_empty()
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
                if waiting > 0 && !matches!(self.top(), Some(Overlay::ConfirmQuit { .. })) {
                    self.push_overlay(Overlay::ConfirmQuit { waiting });
                } else {
                    self.quit = true;
                }
            }
            Action::CtrlC => match self.top() {
                // The quit dialog is open: a ^C means it.
                Some(Overlay::ConfirmQuit { .. }) => self.quit = true,
                // Any other question, and the command line: ^C cancels it.
                Some(
                    Overlay::ConfirmClose { .. }
                    | Overlay::ConfirmFailAll { .. }
                    | Overlay::ConfirmTakeover { .. }
                    | Overlay::Command { .. },
                ) => {
                    self.pop_overlay();
                }
                _ => {
                    let armed = self
                        .ctrl_c_at_ms
                        .is_some_and(|at| self.now_ms - at <= DOUBLE_CTRL_C_MS);
                    if armed {
                        self.ctrl_c_at_ms = None;
                        return self.act(Action::Quit);
                    }
                    self.ctrl_c_at_ms = Some(self.now_ms);
                    self.notice = Some("press ^C again to quit".to_string());
                }
            },
            Action::ToggleMark => {
                if let Some(id) = self.selected_call().map(|c| c.request_id.clone()) {
                    if !self.marked.remove(&id) {
                        self.marked.insert(id.clone());
                    }
                    self.mark_anchor = Some(id);
                    // Marking walks down the queue (the rows its filter shows), as in lazygit.
                    self.queue_step(1);
                }
            }
            Action::MarkRange => {
                // The range runs over the rows the queue shows (its filter and order).
                let rows = self.queue_rows();
                let at = |index: usize| rows.iter().position(|&i| i == index);
                let selected = at(self.selected_call).unwrap_or(0);
                let anchor = self
                    .mark_anchor
                    .as_ref()
                    .and_then(|id| self.model.pending.iter().position(|c| &c.request_id == id))
                    .and_then(at)
                    .unwrap_or(selected);
                let (from, to) = (anchor.min(selected), anchor.max(selected));
                for &index in rows.iter().take(to + 1).skip(from) {
                    self.marked
                        .insert(self.model.pending[index].request_id.clone());
                }
                self.say(format!("{} call(s) marked", self.marked.len()));
            }
            Action::ClearMarks => {
                self.marked.clear();
                self.mark_anchor = None;
            }
            Action::HandBack => return self.hand_back(),
            Action::EditorSendMarked => return self.editor_send_many(false),
            Action::EditorSendTool => return self.editor_send_many(true),
            Action::ComposerNewline => {
                self.composer.insert_newline();
            }
            Action::HistoryPrev => self.history_step(-1),
            Action::HistoryNext => self.history_step(1),
            Action::ExternalEditor => {
                if self.context() == Context::Editor {
                    if let Some(editor) = self.top_editor_mut()
                        && editor.state == EditorState::Editing
                    {
                        return vec![Effect::EditExternally {
                            target: EditTarget::Call(editor.call.request_id.clone()),
                            text: editor.text(),
                        }];
                    }
                } else {
                    return vec![Effect::EditExternally {
                        target: EditTarget::Composer,
                        text: self.composer.lines().join("\n"),
                    }];
                }
            }
            Action::CopyId => {
                if let Some(call) = self.selected_call() {
                    let id = call.request_id.clone();
                    self.say(format!("copied call id {id}"));
                    return vec![Effect::Copy(id)];
                }
            }
            Action::CopyArguments => {
                if let Some(call) = self.selected_call() {
                    let text = serde_json::to_string_pretty(&call.arguments).unwrap_or_default();
                    self.say(format!("copied the arguments of {}", call.tool));
                    return vec![Effect::Copy(text)];
                }
            }
            Action::CopyAnswer => {
                if let Some(editor) = self.top_editor_mut() {
                    let text = editor.text();
                    editor.message = Some("copied the answer".to_string());
                    return vec![Effect::Copy(text)];
                }
            }
            Action::CommandLine => self.push_overlay(Overlay::Command {
                input: Box::default(),
                candidates: Vec::new(),
            }),
            Action::Rename => {
                // The command line, with `rename ` and the current title to edit.
                let Some(session) = self.model.sessions.get(self.selected_session) else {
                    self.say("no session to rename: press n to create one");
                    return Vec::new();
                };
                let current = session.name.clone().unwrap_or_default();
                let mut input = TextArea::new(vec![format!("rename {current}")]);
                input.move_cursor(ratatui_textarea::CursorMove::End);
                self.push_overlay(Overlay::Command {
                    input: Box::new(input),
                    candidates: Vec::new(),
                });
            }
            Action::RunCommand => {
                if let Some(Overlay::Command { input, .. }) = self.top() {
                    let line = input.lines().join(" ");
                    self.pop_overlay();
                    return self.run_command(&line);
                }
            }
            Action::CompleteCommand => {
                let arguments = |command: &str| self.command_arguments(command);
                if let Some(Overlay::Command { input, .. }) = self.top() {
                    let (line, candidates) =
                        super::command::complete(&input.lines().join(" "), arguments);
                    if let Some(Overlay::Command {
                        input,
                        candidates: shown,
                    }) = self.overlays.last_mut()
                    {
                        **input = TextArea::new(vec![line]);
                        input.move_cursor(ratatui_textarea::CursorMove::End);
                        *shown = candidates;
                    }
                }
            }
            Action::Reconnect => {
                use crate::bridge::ConnectionState::Disconnected;
                // Every app-server's connection: the bridge retries each that is lost.
                let states: Vec<&crate::bridge::ConnectionState> =
                    if self.model.app_servers.len() > 1 {
                        self.model
                            .app_servers
                            .iter()
                            .map(|a| &a.connection)
                            .collect()
                    } else {
                        vec![&self.model.connection]
                    };
                if states
                    .iter()
                    .any(|s| matches!(s, Disconnected { retry: true, .. }))
                {
                    self.say("reconnecting to app-server…");
                    return bridge(Request::Reconnect);
                } else if states.iter().any(|s| matches!(s, Disconnected { .. })) {
                    self.say("this connection cannot be opened again: start the console anew");
                } else {
                    self.say("the connection to app-server is not lost: nothing to retry");
                }
            }
            Action::Redraw => return vec![Effect::Redraw],
            Action::Suspend => return vec![Effect::Suspend],
            Action::Notices => {
                if self.notices.is_empty() {
                    self.notice = Some("no notices yet".to_string());
                } else {
                    self.push_overlay(Overlay::Notices { scroll: 0 });
                }
            }
            Action::Help => self.push_overlay(Overlay::Help { scroll: 0 }),
            Action::Back => {
                if self.pop_overlay().is_none() {
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
            Action::NewSession => return self.new_session(),
            Action::Compose => {
                self.follow_queue();
                if self.model.sessions.is_empty() {
                    self.say("no session yet: press n to create one".to_string());
                } else {
                    self.focus = Focus::Composer;
                }
            }
            Action::LeaveComposer => self.focus = Focus::Sessions,
            Action::SendMessage => {
                let text = self.composer.lines().join("\n");
                let Some(thread_id) = self.selected_thread().map(str::to_string) else {
                    self.say("no session yet: press Esc, then n".to_string());
                    return Vec::new();
                };
                if text.trim().is_empty() {
                    self.say("type a message first".to_string());
                    return Vec::new();
                }
                if self.sending_message.is_some() {
                    self.say("the last message is still on its way".to_string());
                    return Vec::new();
                }
                // The text stays in the composer until the bridge took it.
                self.sending_message = Some(text.clone());
                if self.history.last() != Some(&text) {
                    self.history.push(text.clone());
                }
                self.history_at = None;
                self.focus = Focus::Transcript;
                if let Some(scroll) = self.transcript_scroll.get_mut(&thread_id) {
                    scroll.follow = true;
                }
                return bridge(Request::Send { thread_id, text });
            }
            Action::Interrupt => {
                self.follow_queue();
                if let Some(thread_id) = self.selected_thread().map(str::to_string) {
                    return bridge(Request::Interrupt { thread_id });
                }
            }
            Action::CloseSession => {
                self.follow_queue();
                if let Some(session) = self.model.sessions.get(self.selected_session) {
                    let thread_id = session.thread_id.clone();
                    if session.status == SessionStatus::Closed {
                        self.say(format!("session {} is already closed", short(&thread_id)));
                    } else {
                        self.push_overlay(Overlay::ConfirmClose { thread_id });
                    }
                }
            }
            Action::WatchThread => {
                if let Some(Overlay::Loaded { threads, selected }) = self.top() {
                    let Some(thread) = threads.get(*selected) else {
                        return Vec::new();
                    };
                    let thread_id = thread.thread_id.clone();
                    let app_server =
                        Some(thread.app_server.clone()).filter(|name| !name.is_empty());
                    self.pop_overlay();
                    return bridge(Request::Watch {
                        thread_id,
                        app_server,
                    });
                }
                return bridge(Request::ListLoaded);
            }
            Action::Detach | Action::ToggleAutoAnswer => {
                let Some(session) = self.model.sessions.get(self.selected_session) else {
                    return Vec::new();
                };
                let thread_id = session.thread_id.clone();
                if session.origin != crate::bridge::SessionOrigin::Watched {
                    self.say(format!(
                        "session {} is Switchboard's own ({}): only a watched session detaches or auto-answers ({} lists threads to watch)",
                        short(&thread_id),
                        session.origin.as_str(),
                        keys::label_of(keys::Action::WatchThread)
                    ));
                    return Vec::new();
                }
                if session.status == SessionStatus::Closed {
                    self.say(format!("session {} is detached already", short(&thread_id)));
                    return Vec::new();
                }
                if action == Action::Detach {
                    return bridge(Request::Detach { thread_id });
                }
                if session.auto_answer {
                    return bridge(Request::AutoAnswer {
                        thread_id,
                        on: false,
                    });
                }
                self.push_overlay(Overlay::ConfirmAutoAnswer { thread_id });
            }
            Action::ResumeThread => {
                if let Some(Overlay::Threads { threads, selected }) = self.top() {
                    let Some(thread) = threads.get(*selected) else {
                        return Vec::new();
                    };
                    let thread_id = thread.id.clone();
                    self.pop_overlay();
                    return bridge(Request::Resume { thread_id });
                }
                return bridge(Request::ListThreads);
            }
            Action::OpenCall => self.open_editor(),
            Action::OpenRequest => return self.open_request(None),
            Action::TakeOver => self.ask_takeover(),
            Action::CardKey => {}
            Action::ToggleHoldAll => {
                return bridge(Request::Hold(HoldChange::All(!self.model.hold.all)));
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
                    return self.toggle_hold(&tool);
                }
            }
            Action::Inspector => self.view = View::Inspector,
            Action::Probe => return self.start_probe(),
            Action::ReplayCall => return self.start_replay(),
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
                if let Some(thread) = self.selected_thread().map(str::to_string) {
                    let rows = self.model.transcripts.get(&thread).map(|t| &t.rows);
                    let scroll = self.transcript_scroll.entry(thread).or_default();
                    if let Some(rows) = rows
                        && let Some(row) = rows.get(scroll.bottom(rows.len()))
                    {
                        let seq = row.seq;
                        if !scroll.expanded.remove(&seq) {
                            scroll.expanded.insert(seq);
                        }
                    }
                }
            }
            Action::EditorSend => return self.editor_send(),
            Action::EditorCancel => {
                let typed = self.editor().is_some_and(ResponseEditor::has_input);
                self.pop_overlay();
                if typed {
                    self.say("draft kept: open the call again to go on".to_string());
                }
            }
            Action::EditorToggleMode => self.with_editor(ResponseEditor::toggle_mode),
            Action::EditorToggleSuccess => self.with_editor(ResponseEditor::toggle_success),
            Action::EditorFail => self.with_editor(ResponseEditor::toggle_fail),
            Action::EditorRunHandler => {
                if let Some(editor) = self.top_editor_mut() {
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
            Action::Confirm => match self.top() {
                Some(Overlay::ConfirmQuit { .. }) => {
                    self.pop_overlay();
                    self.quit = true;
                }
                Some(Overlay::ConfirmClose { thread_id }) => {
                    let thread_id = thread_id.clone();
                    self.pop_overlay();
                    return bridge(Request::Close { thread_id });
                }
                Some(Overlay::ConfirmAutoAnswer { thread_id }) => {
                    let thread_id = thread_id.clone();
                    self.pop_overlay();
                    return bridge(Request::AutoAnswer {
                        thread_id,
                        on: true,
                    });
                }
                Some(Overlay::ConfirmFailAll { reason, .. }) => {
                    let result = super::editor::failure(reason);
                    self.pop_overlay();
                    let ids: Vec<String> = self
                        .waiting_on_person()
                        .filter(|c| !c.in_flight)
                        .map(|c| c.request_id.clone())
                        .collect();
                    return self.bulk_send(ids, &result);
                }
                Some(Overlay::ConfirmTakeover { request_id, .. }) => {
                    let request_id = request_id.clone();
                    self.pop_overlay();
                    let ask = self.claims.claim(&request_id, self.now_ms, true);
                    return vec![Effect::Bridge(ask)];
                }
                _ => {}
            },
            Action::Decline => {
                self.pop_overlay();
            }
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

    /// Sends the editor's answer to its call and to others: the marked calls, or every
    /// other call of the same tool waiting on a person.
    fn editor_send_many(&mut self, same_tool: bool) -> Vec<Effect> {
        let Some((call, result)) = self
            .top_editor_mut()
            .filter(|e| e.state == EditorState::Editing)
            .map(|e| (e.call.clone(), e.validate()))
        else {
            return Vec::new();
        };
        let result = match result {
            Ok(result) => result,
            Err(e) => {
                if let Some(editor) = self.top_editor_mut() {
                    editor.message = Some(format!("not sent: {e}"));
                }
                return Vec::new();
            }
        };
        let others: Vec<String> = self
            .model
            .pending
            .iter()
            .filter(|c| c.request_id != call.request_id && !c.in_flight)
            .filter(|c| {
                if same_tool {
                    c.tool == call.tool
                        && c.namespace == call.namespace
                        && c.answerer.needs_person()
                } else {
                    self.marked.contains(&c.request_id)
                }
            })
            .map(|c| c.request_id.clone())
            .collect();
        if others.is_empty() {
            if let Some(editor) = self.top_editor_mut() {
                editor.message = Some(if same_tool {
                    format!(
                        "no other {} call waits on you: ^S sends this one",
                        call.tool
                    )
                } else {
                    "no call is marked (Space in the queue marks): ^S sends this one".to_string()
                });
            }
            return Vec::new();
        }
        let mut effects = self.editor_send();
        if effects.is_empty() {
            // This call's own answer was refused (someone else answers it): nor the others.
            return effects;
        }
        effects.extend(self.bulk_send(others, &result));
        self.marked.clear();
        effects
    }

    /// Sends one answer to several calls, each claimed first: a call someone else is
    /// answering is left to them, said now or when its claim is refused.
    fn bulk_send(&mut self, request_ids: Vec<String>, result: &ToolCallResult) -> Vec<Effect> {
        let (elsewhere, free): (Vec<String>, Vec<String>) = request_ids
            .into_iter()
            .partition(|id| self.answered_elsewhere(id).is_some());
        if !elsewhere.is_empty() {
            let names: Vec<String> = elsewhere
                .iter()
                .map(|id| {
                    format!(
                        "{} (being answered by {})",
                        short(id),
                        self.answered_elsewhere(id).unwrap_or("someone")
                    )
                })
                .collect();
            self.say(format!(
                "{} call(s) not claimed, left to others: {}",
                elsewhere.len(),
                names.join(", ")
            ));
        }
        free.into_iter()
            .map(|request_id| {
                self.bulk.insert(request_id.clone());
                self.drafts.remove(&request_id);
                let claim = match self.claims.claim_id(&request_id) {
                    Some(id) => RespondClaim::Held(id.to_string()),
                    None => RespondClaim::First {
                        holder: self.claims.operator.clone(),
                        lease_ms: self.claims.lease_ms,
                    },
                };
                Effect::Bridge(Request::Respond {
                    request_id,
                    result: result.clone(),
                    claim,
                })
            })
            .collect()
    }

    /// Sends held handlers' proposals for the marked calls (or the selected one).
    fn hand_back(&mut self) -> Vec<Effect> {
        let targets: Vec<&PendingCallView> = if self.marked.is_empty() {
            self.selected_call().into_iter().collect()
        } else {
            self.model
                .pending
                .iter()
                .filter(|c| self.marked.contains(&c.request_id))
                .collect()
        };
        let sends: Vec<(String, ToolCallResult)> = targets
            .iter()
            .filter_map(|c| c.proposed.clone().map(|p| (c.request_id.clone(), p)))
            .collect();
        let skipped = targets.len() - sends.len();
        if sends.is_empty() {
            self.say("no marked call has a held handler's answer to send".to_string());
            return Vec::new();
        }
        let mut effects = Vec::new();
        for (request_id, result) in sends {
            effects.extend(self.bulk_send(vec![request_id], &result));
        }
        if skipped > 0 {
            self.say(format!(
                "{skipped} call(s) have no proposed answer yet and stay"
            ));
        }
        self.marked.clear();
        effects
    }

    /// Up/Down in the composer: move between lines, and past the first or last line
    /// through the messages sent before.
    fn history_step(&mut self, step: isize) {
        use ratatui_textarea::CursorMove;
        let row = self.composer.cursor().0;
        let last_row = self.composer.lines().len().saturating_sub(1);
        if step < 0 && row > 0 {
            self.composer.move_cursor(CursorMove::Up);
            return;
        }
        if step > 0 && row < last_row {
            self.composer.move_cursor(CursorMove::Down);
            return;
        }
        let next = match (self.history_at, step < 0) {
            (None, true) if !self.history.is_empty() => {
                self.history_stash = self.composer.lines().join("\n");
                Some(self.history.len() - 1)
            }
            (None, _) => return,
            (Some(at), true) => Some(at.saturating_sub(1)),
            (Some(at), false) if at + 1 < self.history.len() => Some(at + 1),
            (Some(_), false) => None,
        };
        self.history_at = next;
        let text = match next {
            Some(at) => self.history[at].clone(),
            None => std::mem::take(&mut self.history_stash),
        };
        self.set_composer_text(&text);
    }

    fn set_composer_text(&mut self, text: &str) {
        self.composer = new_composer();
        self.composer.insert_str(text);
    }

    /// The external editor came back: its text replaces the edited one (`None`: it
    /// failed, and nothing changes).
    pub fn on_edited(&mut self, target: EditTarget, text: Result<String, String>) {
        let text = match text {
            Ok(text) => text.trim_end_matches('\n').to_string(),
            Err(e) => {
                self.say(format!("the external editor failed: {e}"));
                return;
            }
        };
        match target {
            EditTarget::Composer => self.set_composer_text(&text),
            EditTarget::Call(request_id) => {
                if let Some(editor) = self.editor_mut()
                    && editor.call.request_id == request_id
                    && editor.state == EditorState::Editing
                {
                    editor.replace_text(&text);
                }
            }
        }
    }

    /// What `:command` completes its argument from.
    fn command_arguments(&self, command: &str) -> Vec<String> {
        match command {
            "session" | "s" => self
                .model
                .sessions
                .iter()
                .map(|s| short(&s.thread_id).to_string())
                .collect(),
            "tool" | "t" => self
                .catalog
                .tools
                .iter()
                .map(|t| t.qualified_name())
                .collect(),
            "hold" => self
                .catalog
                .tools
                .iter()
                .filter(|t| t.handler.is_some())
                .map(|t| t.qualified_name())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Runs one `:` command line.
    fn run_command(&mut self, line: &str) -> Vec<Effect> {
        use super::command::Command;
        let command = match super::command::parse(line) {
            Ok(command) => command,
            Err(e) => {
                self.say(e);
                return Vec::new();
            }
        };
        match command {
            Command::Quit => return self.act(Action::Quit),
            Command::Rename(name) => {
                let Some(thread_id) = self.selected_thread().map(str::to_string) else {
                    self.say("no session to rename: press n to create one");
                    return Vec::new();
                };
                self.say(format!("renaming session {}…", short(&thread_id)));
                return vec![Effect::Bridge(Request::Rename { thread_id, name })];
            }
            Command::Hold(tool) => return self.toggle_hold(&tool),
            Command::Session(id) => {
                let matching: Vec<usize> = (0..self.model.sessions.len())
                    .filter(|&i| {
                        let thread = &self.model.sessions[i].thread_id;
                        thread.ends_with(&id) || thread.contains(&id)
                    })
                    .collect();
                match matching.as_slice() {
                    [index] => {
                        self.selected_session = *index;
                        self.view = View::Main;
                        self.focus = Focus::Sessions;
                    }
                    [] => self.say(format!("no session matches `{id}`")),
                    many => self.say(format!(
                        "`{id}` matches {} sessions: give more of the id",
                        many.len()
                    )),
                }
            }
            Command::Tool(name) => {
                let first = self
                    .model
                    .pending
                    .iter()
                    .position(|c| c.tool == name || qualified(c) == name);
                let count = self
                    .model
                    .pending
                    .iter()
                    .filter(|c| c.tool == name || qualified(c) == name)
                    .count();
                match first {
                    Some(index) => {
                        self.view = View::Main;
                        self.focus = Focus::Queue;
                        self.selected_call = index;
                        self.follow_selected_call();
                        self.say(format!(
                            "{count} call(s) of {name} wait: a answers this one, F7 in the editor all of them"
                        ));
                    }
                    None if self
                        .catalog
                        .tools
                        .iter()
                        .any(|t| t.name == name || t.qualified_name() == name) =>
                    {
                        self.say(format!("no call of {name} waits"))
                    }
                    None => self.say(format!("no tool `{name}` in the catalog")),
                }
            }
            Command::FailAll(reason) => {
                let count = self.waiting_on_person().filter(|c| !c.in_flight).count();
                if count == 0 {
                    self.say("no call waits on you".to_string());
                } else {
                    self.push_overlay(Overlay::ConfirmFailAll { reason, count });
                }
            }
        }
        Vec::new()
    }

    /// Holds or releases one tool's handler; a tool without one has nothing to hold.
    fn toggle_hold(&mut self, tool: &str) -> Vec<Effect> {
        let Some(spec) = self
            .catalog
            .tools
            .iter()
            .find(|t| t.name == tool || t.qualified_name() == tool)
        else {
            self.say(format!("no tool `{tool}` in the catalog"));
            return Vec::new();
        };
        if spec.handler.is_none() {
            self.say(format!(
                "{tool} has no handler: its calls already wait on you, there is nothing to hold"
            ));
            return Vec::new();
        }
        let tool = spec.name.clone();
        let held = !self.model.hold.tools.contains(&tool);
        vec![Effect::Bridge(Request::Hold(HoldChange::Tool {
            tool,
            held,
        }))]
    }

    /// In the queue, `x`, `c` and the composer act on the selected call's session.
    fn follow_queue(&mut self) {
        if self.view == View::Main && self.focus == Focus::Queue {
            self.follow_selected_call();
        }
    }

    /// Selecting a call selects its session and shows its request row.
    pub(super) fn follow_selected_call(&mut self) {
        let Some(call) = self.selected_call() else {
            return;
        };
        let (thread, request_id) = (call.thread_id.clone(), call.request_id.clone());
        self.select_thread(&thread);
        if let Some(row) = self
            .model
            .transcripts
            .get(&thread)
            .and_then(|t| t.request_row(&request_id))
        {
            self.transcript_scroll.entry(thread).or_default().show(row);
        }
    }

    fn with_editor(&mut self, change: impl FnOnce(&mut ResponseEditor)) {
        if let Some(editor) = self.top_editor_mut()
            && editor.state == EditorState::Editing
        {
            change(editor);
        }
    }

    fn editor_send(&mut self) -> Vec<Effect> {
        let Some(request_id) = self.top_editor_mut().map(|e| e.call.request_id.clone()) else {
            return Vec::new();
        };
        let elsewhere = self.answered_elsewhere(&request_id).map(str::to_string);
        let claim = match self.claims.claim_id(&request_id) {
            Some(id) => RespondClaim::Held(id.to_string()),
            None => RespondClaim::None,
        };
        let Some(editor) = self.top_editor_mut() else {
            return Vec::new();
        };
        if editor.state != EditorState::Editing {
            return Vec::new();
        }
        if let Some(holder) = elsewhere {
            editor.message = Some(format!(
                "not sent: being answered by {holder}; {} takes it over (asks first)",
                keys::label_of(Action::TakeOver)
            ));
            return Vec::new();
        }
        match editor.validate() {
            Ok(result) => {
                editor.state = EditorState::Sending;
                editor.message = Some("sending…".to_string());
                vec![Effect::Bridge(Request::Respond {
                    request_id,
                    result,
                    claim,
                })]
            }
            Err(e) => {
                editor.message = Some(format!("not sent: {e}"));
                Vec::new()
            }
        }
    }

    // ----- approval, question and elicitation cards (`cards/`) ----------------------

    /// Opens the card of `request_id`, or of the oldest request waiting on a person;
    /// the effects claim it for the operator.
    pub fn open_request(&mut self, request_id: Option<&str>) -> Vec<Effect> {
        let request = match request_id {
            Some(id) => self.model.request(id),
            None => self.model.requests_waiting().next(),
        };
        let Some(request) = request.cloned() else {
            self.say("no approval or question is waiting".to_string());
            return Vec::new();
        };
        self.overlays.retain(
            |o| !matches!(o, Overlay::Card(card) if card.request_id() == request.request_id),
        );
        // A card closed before keeps what was chosen and typed on it.
        let mut card = match self.card_drafts.remove(&request.request_id) {
            Some(mut parked) => {
                parked.request = request;
                parked
            }
            None => super::cards::RequestCard::new(request),
        };
        if let Some((turn, diff)) = self.turn_diffs.get(&card.request.thread_id)
            && card.request.turn_id.as_deref() == Some(turn.as_str())
        {
            card.turn_diff = Some(diff.clone());
        }
        let (request_id, claim) = (card.request.request_id.clone(), card.request.claim.clone());
        self.push_overlay(Overlay::Card(Box::new(Card::Request(card))));
        self.claim_opened(&request_id, claim.as_ref());
        std::mem::take(&mut self.outbox)
    }

    fn on_card_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Card(card)) = self.overlays.last_mut() else {
            return Vec::new();
        };
        let Card::Request(card) = card.as_mut() else {
            return Vec::new();
        };
        match card.on_key(key) {
            super::cards::CardKey::Stay => Vec::new(),
            super::cards::CardKey::Close => {
                self.pop_overlay();
                Vec::new()
            }
            super::cards::CardKey::Send(answer) => {
                let request_id = card.request.request_id.clone();
                if let Some(holder) = self.answered_elsewhere(&request_id).map(str::to_string) {
                    if let Some(Overlay::Card(card)) = self.overlays.last_mut()
                        && let Card::Request(card) = card.as_mut()
                    {
                        card.sending = false;
                    }
                    self.say(format!(
                        "not sent: being answered by {holder}; {} takes it over (asks first)",
                        keys::label_of(Action::TakeOver)
                    ));
                    return Vec::new();
                }
                vec![Effect::Bridge(Request::AnswerRequest {
                    claim_id: self.claims.claim_id(&request_id).map(str::to_string),
                    request_id,
                    answer,
                })]
            }
        }
    }

    fn on_request_answered(
        &mut self,
        request_id: &str,
        result: Result<crate::bridge::AnswerOutcome, String>,
    ) {
        use crate::bridge::AnswerOutcome;
        let problem = match result {
            Ok(AnswerOutcome::Accepted) => None,
            Ok(AnswerOutcome::NotFound) => Some("it was already answered or expired".to_string()),
            Ok(AnswerOutcome::InFlight) => Some("another answer is being sent".to_string()),
            Ok(AnswerOutcome::UpstreamError { message }) => Some(message),
            Ok(AnswerOutcome::Invalid { message }) => Some(message),
            Ok(AnswerOutcome::Claimed { claim }) => Some(format!(
                "being answered by {} ({} takes it over)",
                claim.holder,
                keys::label_of(Action::TakeOver)
            )),
            Err(message) => Some(message),
        };
        match problem {
            None => self.remove_card(request_id),
            Some(problem) => {
                for overlay in &mut self.overlays {
                    if let Overlay::Card(card) = overlay
                        && let Card::Request(card) = card.as_mut()
                        && card.request.request_id == request_id
                    {
                        card.sending = false;
                    }
                }
                self.say(format!("the answer was not sent: {problem}"));
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
            if self.model.requests_waiting().next().is_some() {
                let effects = self.open_request(None);
                self.outbox.extend(effects);
            } else {
                self.say("no call is waiting".to_string());
            }
            return;
        };
        let tool = self.catalog.tool(call.namespace.as_deref(), &call.tool);
        let schema = tool.map(|t| t.input_schema.clone());
        let has_handler = tool.is_some_and(|t| t.handler.is_some());
        let mut editor = ResponseEditor::new(call, schema, has_handler);
        if let Some(draft) = self.drafts.get(&editor.call.request_id) {
            editor.restore(draft);
        }
        let (request_id, claim) = (editor.call.request_id.clone(), editor.call.claim.clone());
        self.push_overlay(Overlay::Card(Box::new(Card::ToolCall(editor))));
        self.claim_opened(&request_id, claim.as_ref());
    }

    /// `n`: a new session on the only app-server; with several, the picker first
    /// (on the last one chosen), and in the picker, on the selected one.
    fn new_session(&mut self) -> Vec<Effect> {
        let create = |app: &mut App, app_server: Option<String>| {
            let on = app_server
                .as_deref()
                .map(|name| format!(" on {name}"))
                .unwrap_or_default();
            app.say(format!("creating a session{on}…"));
            vec![Effect::Bridge(Request::CreateSession { app_server })]
        };
        if let Some(Overlay::AppServers { names, selected }) = self.top() {
            let name = names.get(*selected).cloned();
            self.pop_overlay();
            self.last_app_server.clone_from(&name);
            return create(self, name);
        }
        let names: Vec<String> = self
            .model
            .app_servers
            .iter()
            .map(|a| a.name.clone())
            .collect();
        if names.len() < 2 {
            return create(self, None);
        }
        let selected = self
            .last_app_server
            .as_ref()
            .and_then(|last| names.iter().position(|n| n == last))
            .unwrap_or(0);
        self.push_overlay(Overlay::AppServers { names, selected });
        Vec::new()
    }

    fn move_selection(&mut self, delta: isize) {
        match self.overlays.last_mut() {
            Some(Overlay::Threads { threads, selected }) => {
                *selected = selected
                    .saturating_add_signed(delta)
                    .min(threads.len().saturating_sub(1));
                return;
            }
            Some(Overlay::Loaded { threads, selected }) => {
                *selected = selected
                    .saturating_add_signed(delta)
                    .min(threads.len().saturating_sub(1));
                return;
            }
            Some(Overlay::AppServers { names, selected }) => {
                *selected = selected
                    .saturating_add_signed(delta)
                    .min(names.len().saturating_sub(1));
                return;
            }
            Some(Overlay::Help { scroll } | Overlay::Notices { scroll }) => {
                *scroll = scroll.saturating_add_signed(delta.clamp(-100, 100) as i16);
                return;
            }
            _ => {}
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
                        .min(self.model.sessions.len().saturating_sub(1));
                }
                Focus::Queue => {
                    self.selected_call = self
                        .selected_call
                        .saturating_add_signed(delta)
                        .min(self.model.pending.len().saturating_sub(1));
                }
                Focus::Transcript | Focus::Composer => {}
            },
        }
    }
}

fn new_composer() -> TextArea<'static> {
    let mut composer = TextArea::default();
    composer.set_placeholder_text("type a message for the selected session; Enter sends");
    composer
}

/// The terminal title for `waiting` calls waiting on a person.
fn title_for(waiting: usize) -> String {
    match waiting {
        0 => "Switchboard".to_string(),
        n => format!("Switchboard ({n} waiting on you)"),
    }
}

/// A call's tool as the catalog names it: `namespace.tool`, or the bare name.
pub fn qualified(call: &PendingCallView) -> String {
    match &call.namespace {
        Some(namespace) => format!("{namespace}.{}", call.tool),
        None => call.tool.clone(),
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

/// Who answers a call, as the queue shows it: a claim's holder first ("⚑ you" for
/// this console's own).
pub fn answerer_label(claims: &super::claims::Claims, call: &PendingCallView) -> String {
    if let Some(claim) = &call.claim {
        if claims.is_mine(claim) {
            return "⚑ you".to_string();
        }
        return format!("⚑ {}", claim.holder);
    }
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

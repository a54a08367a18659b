//! The bridge core: sessions, pending requests (tool calls, approvals, questions,
//! elicitations), transcripts, events and answer outcomes, over one app-server connection. One actor task owns all state; the
//! cloneable [`BridgeHandle`] talks to it through commands with one-shot replies.

mod actor;
pub mod calls;
pub mod dispatch;
pub mod events;
pub mod fleet;
pub mod items;
pub mod pending;
pub mod reload;
pub mod session;
pub mod stats;
pub mod transcript;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::appserver::{AppServerError, ConnectionHandle, Connector, ProtocolTap, TransportSpec};
use crate::catalog::Catalog;
use crate::protocol::{
    Answer, DynamicToolSpec, ThreadIdParams, ThreadInfo, ThreadStartParams, ThreadStartResponse,
    ToolCallResult, TurnInput, TurnInterruptParams, TurnStartParams, TurnStartResponse, method,
};
use serde_json::Value;

pub use dispatch::{ManualPolicy, RequestPolicy, Route};
pub use events::{
    BridgeEvent, CallEnd, ClaimChange, ConnectionState, HoldState, RecoveryStep, ResolvedCall,
    ResolvedRequest, Responder,
};
pub use fleet::{AppServerSpec, AppServerStatus, dedupe_names};
pub use pending::{Answerer, CallClaim, PendingCallView, PendingRequestView};
pub use reload::{CatalogReload, CatalogStatus, OutdatedSession, ReloadChange, ReloadOutcome};
pub use session::{
    LoadedThread, LoadedThreads, SessionOrigin, SessionSettings, SessionSetup, SessionSnapshot,
    SessionStatus, SessionSummary, TurnRecord, UnreachableAppServer,
};
pub use stats::{ToolStats, ToolStatsTable, ToolStatsView};
pub use transcript::{NotPersisted, TranscriptEntry, TranscriptRow};

/// Pages of `thread/loaded/list` read at most.
const LOADED_PAGES: usize = 100;

/// Queued commands per bridge; a full queue makes callers wait.
const COMMAND_CAPACITY: usize = 1024;
/// Events buffered per subscriber before it is told it lagged.
const EVENT_CAPACITY: usize = 8192;

#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The app-server's transport when `app_servers` is empty (one app-server, named
    /// after it); otherwise the first one's, and not read.
    pub transport: TransportSpec,
    /// Several app-servers, in order: the first is where new sessions go by default.
    /// Empty: one, from `transport`. See [`BridgeConfig::fleet`].
    pub app_servers: Vec<AppServerSpec>,
    /// Where transcripts are written (`<dir>/sessions/<thread>.jsonl`); `None` keeps
    /// them in memory only.
    pub data_dir: Option<PathBuf>,
    pub catalog: Arc<Catalog>,
    pub manual_policy: ManualPolicy,
    /// What happens to an approval, a question or an elicitation: kept for a person
    /// (`Ask`), or declined at once with a reason (`Decline`, the default, so that
    /// nothing headless ever hangs on one).
    pub request_policy: RequestPolicy,
    /// How long to wait for app-server to answer one of our requests.
    pub request_timeout: Duration,
    /// Handler runs allowed at once; more wait in a queue.
    pub max_concurrent_handlers: usize,
    /// What to do when the app-server connection is lost: give up at once (the default,
    /// what `exec` wants) or restart/redial with back-off and resume every session.
    pub reconnect: ReconnectPolicy,
    /// Bring back the sessions whose transcripts are in `data_dir` at start, as
    /// [`SessionStatus::Restored`] sessions that `resume_session` re-attaches.
    pub restore_sessions: bool,
    /// Resume the restored sessions at start (`thread/resume` for each): those
    /// app-server has come back attached, the rest show `resume_failed` with the reason.
    pub resume_restored: bool,
    /// Closed sessions whose summary stays in memory, the most recently closed; a
    /// closed session's rows always leave memory once they are all on disk, and are
    /// read back from its transcript when asked for (see docs/RELIABILITY.md).
    pub closed_sessions_kept: usize,
    /// New sessions' transcripts go to what this opens instead of their files (the
    /// soak's injected short writes and full disks); `None`: the files.
    pub transcript_store: Option<transcript::StoreOpener>,
}

/// Closed sessions whose summary a bridge keeps by default (a few hundred bytes each).
pub const CLOSED_SESSIONS_KEPT: usize = 1_000;

/// Reconnecting after the app-server connection is lost: attempt `n` waits
/// `initial_delay * 2^(n-1)`, capped at `max_delay`, and there are at most
/// `max_attempts` attempts before the bridge gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub enabled: bool,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl ReconnectPolicy {
    /// No reconnect: a lost connection ends every pending call and turn at once.
    pub fn off() -> ReconnectPolicy {
        ReconnectPolicy {
            enabled: false,
            ..ReconnectPolicy::standard()
        }
    }

    /// Reconnect with back-off from 0.25 s doubling to 10 s, 10 attempts (about a minute).
    pub fn standard() -> ReconnectPolicy {
        ReconnectPolicy {
            enabled: true,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_attempts: 10,
        }
    }

    /// How long to wait before attempt `attempt` (counted from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

impl BridgeConfig {
    pub fn new(transport: TransportSpec, catalog: Arc<Catalog>) -> BridgeConfig {
        BridgeConfig {
            transport,
            app_servers: Vec::new(),
            data_dir: None,
            catalog,
            manual_policy: ManualPolicy::Wait,
            request_policy: RequestPolicy::headless_default(),
            request_timeout: Duration::from_secs(30),
            max_concurrent_handlers: 64,
            reconnect: ReconnectPolicy::off(),
            restore_sessions: false,
            resume_restored: false,
            closed_sessions_kept: CLOSED_SESSIONS_KEPT,
            transcript_store: None,
        }
    }

    /// The app-servers this bridge drives, the default first: `app_servers`, or one
    /// named after `transport`.
    pub fn fleet(&self) -> Vec<AppServerSpec> {
        if self.app_servers.is_empty() {
            vec![AppServerSpec::from_transport(self.transport.clone())]
        } else {
            self.app_servers.clone()
        }
    }
}

/// Options of a new session; unset fields fall back to codex's own configuration.
#[derive(Debug, Clone, Default)]
pub struct CreateSession {
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub approval_policy: Option<String>,
    pub sandbox: Option<String>,
    /// The tools to declare. `None` declares the bridge's catalog.
    pub tools: Option<Vec<DynamicToolSpec>>,
    /// Network access under the `workspace-write` sandbox (codex's
    /// `sandbox_workspace_write.network_access` setting).
    pub network_access: Option<bool>,
    /// The app-server to start it on, by name; `None`: the first of the fleet.
    pub app_server: Option<String>,
}

/// Overrides for one turn; app-server keeps them for the turns after it. Unset fields
/// leave the session's settings alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnOptions {
    pub model: Option<String>,
    pub effort: Option<String>,
    pub approval_policy: Option<String>,
    /// A `SandboxPolicy` object as `turn/start` takes it.
    pub sandbox_policy: Option<serde_json::Value>,
}

impl TurnOptions {
    pub fn is_empty(&self) -> bool {
        *self == TurnOptions::default()
    }
}

/// The outcome of answering a pending call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RespondOutcome {
    /// Written to app-server; the call is resolved.
    Accepted,
    /// No such pending call: unknown, already answered or expired.
    NotFound,
    /// Another answer for this call is being written right now.
    InFlight,
    /// Writing failed; the call is pending again and may be answered again.
    UpstreamError { message: String },
    /// A worker holds the call (see [`BridgeHandle::claim_call`]) and this answer did
    /// not come with its claim id: nothing was written, the call is still pending.
    Claimed { claim: CallClaim },
}

/// The longest lease a claim may ask for.
pub const MAX_LEASE: Duration = Duration::from_secs(600);

/// What a claim asks for (see [`BridgeHandle::claim_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAsk {
    /// Who claims it: a worker's name, an operator's (`operator` in console.toml, or
    /// `$USER@host`).
    pub holder: String,
    /// How long it holds without a renewal (at most [`MAX_LEASE`]).
    pub lease: Duration,
    /// The caller's claim, to renew it.
    pub claim_id: Option<String>,
    /// Replace another holder's claim: an explicit takeover, announced to both.
    pub takeover: bool,
}

/// The outcome of claiming a pending request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// The caller holds the call until `claim.lease_expires_at_ms` (a new claim, or its
    /// own renewed).
    Claimed {
        claim: CallClaim,
        thread_id: String,
        renewed: bool,
        /// The claim this one replaced (an explicit takeover).
        replaced: Option<CallClaim>,
    },
    /// Someone else holds it; try again when it is released or its lease runs out, or
    /// take it over.
    Held { claim: CallClaim },
    /// No such pending tool call: unknown, answered or expired.
    NotFound,
    /// Its answer is being written right now.
    InFlight,
    /// It cannot be claimed: the server's own handler answers it.
    NotClaimable { message: String },
}

/// The outcome of giving a claim back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// Released: anyone may claim or answer the call again.
    Released {
        thread_id: String,
    },
    /// The call is not claimed (its lease ran out, or it never was).
    NotClaimed,
    /// Someone else holds it: only its holder releases it.
    Held {
        claim: CallClaim,
    },
    NotFound,
}

/// The outcome of answering any pending request (`BridgeHandle::answer_request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AnswerOutcome {
    /// Written to app-server; the request is resolved.
    Accepted,
    /// No such pending request: unknown, already answered or expired.
    NotFound,
    /// Another answer for this request is being written right now.
    InFlight,
    /// Writing failed; the request is pending again and may be answered again.
    UpstreamError { message: String },
    /// The answer does not fit the request (its shape, its kind, its question ids):
    /// nothing was written, and the request is still pending.
    Invalid { message: String },
    /// Someone holds the request (see [`BridgeHandle::claim_request`]) and this answer
    /// did not come with its claim id: nothing was written, it is still pending.
    Claimed { claim: CallClaim },
}

impl AnswerOutcome {
    /// As the tool-call route reports it: an answer that does not fit a tool call was
    /// given for something that is not a pending tool call.
    pub fn into_respond(self) -> RespondOutcome {
        match self {
            AnswerOutcome::Accepted => RespondOutcome::Accepted,
            AnswerOutcome::NotFound | AnswerOutcome::Invalid { .. } => RespondOutcome::NotFound,
            AnswerOutcome::InFlight => RespondOutcome::InFlight,
            AnswerOutcome::UpstreamError { message } => RespondOutcome::UpstreamError { message },
            AnswerOutcome::Claimed { claim } => RespondOutcome::Claimed { claim },
        }
    }
}

/// An answer as a caller gives it: raw JSON (checked against the request's kind), or
/// already typed.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerInput {
    Raw(serde_json::Value),
    Typed(Answer),
    /// codex-manager's decisions (`accept`, `decline`, `cancel`, and `accept` with
    /// `scope: "session"`), mapped to the request's kind: see [`PendingRequestView`] and
    /// docs/ARCHITECTURE.md for each kind's answer.
    Decision {
        decision: SimpleDecision,
        for_session: bool,
    },
}

/// A decision as codex-manager's approval and tool-input routes take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimpleDecision {
    Accept,
    Decline,
    Cancel,
}

/// How a request ended, as [`Totals::record`] counts it.
#[derive(Debug, Clone, Copy)]
pub struct EndedRequest<'a> {
    pub status: CallEnd,
    pub answered_by: Option<&'a Responder>,
    /// Resolved with a successful answer (a tool call's `success`; always true for the
    /// other kinds once answered).
    pub success: bool,
}

impl<'a> From<&'a ResolvedCall> for EndedRequest<'a> {
    fn from(call: &'a ResolvedCall) -> Self {
        EndedRequest {
            status: call.status,
            answered_by: call.answered_by.as_ref(),
            success: call.success,
        }
    }
}

impl<'a> From<&'a ResolvedRequest> for EndedRequest<'a> {
    fn from(request: &'a ResolvedRequest) -> Self {
        EndedRequest {
            status: request.status,
            answered_by: request.answered_by.as_ref(),
            success: request.status == CallEnd::Resolved,
        }
    }
}

/// Counts for the console header and `/api/health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub sessions: usize,
    pub pending: usize,
    pub waiting_on_person: usize,
    pub answered_automatically: u64,
    pub answered_by_hand: u64,
    pub answered_remotely: u64,
    pub expired: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeStatus {
    /// The first app-server's transport and connection (the only ones of a bridge
    /// with one app-server); `app_servers` has each.
    pub transport: String,
    pub connection: ConnectionState,
    /// Every app-server's connection, in fleet order.
    pub app_servers: Vec<AppServerStatus>,
    pub junk_lines: u64,
    pub totals: Totals,
    pub hold: HoldState,
    /// Sessions whose transcript is not being written now, and why (empty when every
    /// transcript is on disk); health reports `degraded` while there are any.
    pub not_persisted: Vec<NotPersisted>,
    /// The account's rate limits as app-server last reported them
    /// (`account/rateLimits/updated`, merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Value>,
}

/// A change to which handlers are held for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldChange {
    All(bool),
    Tool { tool: String, held: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    AppServer(#[from] AppServerError),
    #[error("no session {thread_id}")]
    UnknownSession { thread_id: String },
    #[error("session {thread_id} is closed")]
    SessionClosed { thread_id: String },
    #[error("session {thread_id} is not attached to app-server ({status}): resume it first")]
    NotAttached { thread_id: String, status: String },
    #[error("session {thread_id} has no running turn")]
    NoActiveTurn { thread_id: String },
    #[error("not connected to app-server: {reason}")]
    Disconnected { reason: String },
    #[error("app-server sent an unexpected reply to `{method}`: {message}")]
    UnexpectedReply { method: String, message: String },
    #[error(
        "session {thread_id} is Switchboard's own ({origin}), not a watched thread: {what} only a thread another client runs"
    )]
    NotWatched {
        thread_id: String,
        origin: &'static str,
        what: &'static str,
    },
    #[error("call {request_id} already ended")]
    CallEnded { request_id: String },
    #[error("tool {tool} has no handler to run")]
    NoHandler { tool: String },
    #[error("could not read the transcript of session {thread_id}: {message}")]
    TranscriptUnreadable { thread_id: String, message: String },
    #[error("the bridge has stopped")]
    Stopped,
    #[error("app-server {name}: {source}")]
    AppServerNamed {
        name: String,
        source: AppServerError,
    },
    #[error("no app-server named {name:?}: this bridge has {}", known.join(", "))]
    UnknownAppServer { name: String, known: Vec<String> },
    #[error(
        "thread {thread_id} is loaded on several app-servers ({}): name the one to watch",
        app_servers.join(", ")
    )]
    ThreadOnSeveral {
        thread_id: String,
        app_servers: Vec<String>,
    },
    #[error(
        "thread {thread_id} is not loaded on {}: list the loaded threads again, or name its app-server",
        searched_text(searched, unreachable)
    )]
    ThreadNotLoaded {
        thread_id: String,
        searched: Vec<String>,
        unreachable: Vec<String>,
    },
}

/// Where a thread was looked for: "any app-server (a, b)", and which did not answer.
fn searched_text(searched: &[String], unreachable: &[String]) -> String {
    let mut text = if searched.is_empty() {
        "any app-server: none answered".to_string()
    } else {
        format!("any app-server ({})", searched.join(", "))
    };
    if !searched.is_empty() && !unreachable.is_empty() {
        text.push_str(&format!("; {} did not answer", unreachable.join(", ")));
    }
    text
}

/// A session looked up by id: in memory, or (a closed session evicted from memory)
/// where its transcript is, with its summary when the bridge still keeps one.
enum Lookup<T> {
    Live(T),
    OnDisk {
        path: PathBuf,
        summary: Option<Box<SessionSummary>>,
    },
    Unknown,
}

/// A session as the API reads it: a live one whole, a closed one by its summary (all a
/// `410` needs, so no transcript is read for it).
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    Live(Box<SessionSnapshot>),
    Closed(Box<SessionSummary>),
}

impl Totals {
    /// Counts one ended request: the one place where the bridge (and any consumer that
    /// keeps its own totals from events) adds it up.
    pub fn record(&mut self, ended: EndedRequest<'_>) {
        match (ended.status, ended.answered_by) {
            (CallEnd::Expired, _) => self.expired += 1,
            (CallEnd::Resolved, Some(Responder::Operator)) => self.answered_by_hand += 1,
            (CallEnd::Resolved, Some(Responder::Remote { .. })) => self.answered_remotely += 1,
            (CallEnd::Resolved, _) => self.answered_automatically += 1,
        }
        if ended.status == CallEnd::Resolved && !ended.success {
            self.failed += 1;
        }
    }
}

pub type Result<T> = std::result::Result<T, BridgeError>;

type Reply<T> = oneshot::Sender<T>;

/// Requests to the actor. Those that talk to app-server first run in the caller's task
/// (see [`BridgeHandle`]) and only hand the outcome to the actor, so a slow app-server
/// reply never holds up tool calls.
enum Command {
    Connection {
        target: fleet::Target,
        reply: Reply<Result<Picked>>,
    },
    CheckSession {
        thread_id: String,
        reply: Reply<Result<Option<String>>>,
    },
    RegisterSession {
        /// The app-server the thread is on.
        app_server: String,
        thread: serde_json::Value,
        settings: SessionSettings,
        tools: Vec<DynamicToolSpec>,
        /// Set when `tools` are the catalog's: later catalogs are compared with them.
        declared: Option<reload::DeclaredCatalog>,
        origin: SessionOrigin,
        reply: Reply<Result<SessionSummary>>,
    },
    /// A watch is starting (`on`), or its `thread/resume` failed (`!on`): meanwhile the
    /// thread's requests wait for a person.
    Attaching {
        thread_id: String,
        on: bool,
    },
    /// Stop watching a thread another client runs: its requests expire here (the
    /// other client still answers them), the session closes as detached.
    Detach {
        thread_id: String,
        reply: Reply<Result<()>>,
    },
    /// Let a watched session's requests be answered automatically (or not).
    SetAutoAnswer {
        thread_id: String,
        on: bool,
        reply: Reply<Result<SessionSummary>>,
    },
    RecordTurn {
        thread_id: String,
        turn_id: String,
        options: TurnOptions,
    },
    CloseSession {
        thread_id: String,
        reason: String,
        reply: Reply<Result<()>>,
    },
    ListPending {
        thread_id: Option<String>,
        reply: Reply<Vec<PendingCallView>>,
    },
    ListRequests {
        thread_id: Option<String>,
        reply: Reply<Vec<PendingRequestView>>,
    },
    Respond {
        request_id: String,
        result: ToolCallResult,
        by: Responder,
        /// The answerer's claim: needed when the call is claimed.
        claim_id: Option<String>,
        reply: Reply<RespondOutcome>,
    },
    Claim {
        request_id: String,
        ask: ClaimAsk,
        reply: Reply<ClaimOutcome>,
    },
    Release {
        request_id: String,
        claim_id: String,
        reply: Reply<ReleaseOutcome>,
    },
    Answer {
        request_id: String,
        answer: AnswerInput,
        by: Responder,
        /// The answerer's claim: needed when the request is claimed.
        claim_id: Option<String>,
        reply: Reply<AnswerOutcome>,
    },
    Sessions {
        reply: Reply<Vec<SessionSummary>>,
    },
    Session {
        thread_id: String,
        reply: Reply<Lookup<Box<SessionSnapshot>>>,
    },
    /// A session's summary: no rows are copied, nor read from disk for a closed
    /// session whose summary the bridge keeps.
    Summary {
        thread_id: String,
        reply: Reply<Lookup<SessionSummary>>,
    },
    SessionSetup {
        thread_id: String,
        reply: Reply<Option<SessionSetup>>,
    },
    WaitTurn {
        thread_id: String,
        turn_id: String,
        reply: Reply<Result<TurnRecord>>,
    },
    /// A retry of a failed transcript write (see `transcript::report_changes`); the
    /// reply says whether that failure goes on.
    RetryTranscript {
        thread_id: String,
        epoch: u64,
        reply: Reply<bool>,
    },
    Status {
        reply: Reply<BridgeStatus>,
    },
    ToolStats {
        reply: Reply<Vec<ToolStatsView>>,
    },
    SetHold {
        change: HoldChange,
        reply: Reply<HoldState>,
    },
    PrepareHandler {
        request_id: String,
        reply: Reply<Result<PreparedHandler>>,
    },
    /// Try to reach app-server again after the connection was lost for good.
    Reconnect {
        reply: Reply<Result<()>>,
    },
    /// The thread's name changed: keep it (app-server's `thread/name/updated` says the
    /// same, later or never).
    SetName {
        thread_id: String,
        name: Option<String>,
    },
    /// Use this catalog from the next call on (or report why it could not be loaded,
    /// keeping the one in use).
    ReloadCatalog {
        loaded: std::result::Result<Arc<Catalog>, String>,
        reply: Reply<CatalogReload>,
    },
    CatalogStatus {
        reply: Reply<CatalogStatus>,
    },
    Shutdown {
        reply: Reply<()>,
    },
    /// What the actor's own tasks report (writes, handlers, reconnects); never sent by
    /// a handle.
    Internal(actor::Internal),
}

/// The connection to one app-server of the fleet, for a request made in the caller's
/// task.
struct Picked {
    app_server: String,
    conn: ConnectionHandle,
    /// The app-server's configured working directory for new sessions.
    cwd: Option<String>,
}

/// What running a call's handler on demand needs; run in the caller's task.
struct PreparedHandler {
    runner: Arc<crate::handlers::HandlerRunner>,
    spec: crate::catalog::HandlerSpec,
    input: crate::handlers::HandlerInput,
}

/// A cloneable handle on a running bridge.
#[derive(Clone)]
pub struct BridgeHandle {
    commands: mpsc::Sender<Command>,
    /// Weak, so that subscribers see the stream end when the actor stops, even while
    /// they hold a handle.
    events: broadcast::WeakSender<BridgeEvent>,
    tap: ProtocolTap,
    /// The catalog in use; the actor swaps it on a reload.
    catalog: watch::Receiver<Arc<Catalog>>,
}

/// One app-server to start a bridge with: its spec, and how its transport is opened.
pub struct FleetMember {
    pub spec: AppServerSpec,
    /// Opens a transport now and on every reconnect; `None` for one handed over open.
    pub connector: Option<Connector>,
    /// A transport already open (tests, benchmarks): used for the first connection.
    pub opened: Option<crate::appserver::RawConnection>,
}

impl FleetMember {
    /// Spawns or dials what its spec says, now and on every reconnect.
    pub fn from_spec(spec: AppServerSpec) -> FleetMember {
        FleetMember {
            connector: Some(crate::appserver::transport::connector(&spec.transport)),
            spec,
            opened: None,
        }
    }
}

/// Starts the bridge: connects to every app-server of `config.fleet()`, runs the
/// handshakes, and spawns the actor. Fails if an app-server cannot be reached or refuses
/// the handshake, unless there are several and `config.reconnect` allows reconnecting:
/// then that one starts reconnecting and the others go on. Reconnects spawn or dial its
/// transport again.
pub async fn start(config: BridgeConfig) -> Result<BridgeHandle> {
    let members = config
        .fleet()
        .into_iter()
        .map(FleetMember::from_spec)
        .collect();
    start_fleet(config, members).await
}

/// Starts the bridge on transports made by `connector`: called once now and again for
/// every reconnect. Tests and the soak run use it with in-memory transports.
pub async fn start_with(config: BridgeConfig, connector: Connector) -> Result<BridgeHandle> {
    let spec = first_spec(&config);
    start_fleet(
        config,
        vec![FleetMember {
            spec,
            connector: Some(connector),
            opened: None,
        }],
    )
    .await
}

/// Starts the bridge on a transport that is already open: the in-memory transport of
/// tests and benchmarks (see `appserver::transport::memory`), or one made by
/// [`crate::appserver::transport::connect`]. `config.transport` only labels it.
/// There is no way to reconnect: a lost connection is final.
pub async fn start_on(
    config: BridgeConfig,
    raw: crate::appserver::RawConnection,
) -> Result<BridgeHandle> {
    let spec = first_spec(&config);
    start_fleet(
        config,
        vec![FleetMember {
            spec,
            connector: None,
            opened: Some(raw),
        }],
    )
    .await
}

fn first_spec(config: &BridgeConfig) -> AppServerSpec {
    config
        .fleet()
        .into_iter()
        .next()
        .unwrap_or_else(|| AppServerSpec::from_transport(config.transport.clone()))
}

/// Starts the bridge over several app-servers, the first being the default.
pub async fn start_fleet(config: BridgeConfig, members: Vec<FleetMember>) -> Result<BridgeHandle> {
    let (commands, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (events, _) = broadcast::channel(EVENT_CAPACITY);
    let tap = ProtocolTap::default();
    let (catalog_tx, catalog) = watch::channel(config.catalog.clone());
    let wiring = actor::Wiring {
        self_tx: commands.downgrade(),
        commands: command_rx,
        events: events.clone(),
        tap: tap.clone(),
        catalog_tx,
    };
    actor::spawn(config, members, wiring).await?;
    Ok(BridgeHandle {
        commands,
        events: events.downgrade(),
        tap,
        catalog,
    })
}

/// Sends a typed request and reads its typed reply; a reply of the wrong shape is an
/// `UnexpectedReply` naming the method.
async fn request_typed<R: serde::de::DeserializeOwned>(
    conn: &ConnectionHandle,
    method: &str,
    params: &impl Serialize,
) -> Result<R> {
    let unexpected = |message: String| BridgeError::UnexpectedReply {
        method: method.to_string(),
        message,
    };
    let params = serde_json::to_value(params).map_err(|e| unexpected(e.to_string()))?;
    let result = conn.request(method, params).await?;
    serde_json::from_value(result).map_err(|e| unexpected(e.to_string()))
}

/// Reads a closed session's transcript back, in a blocking task (never in the actor).
/// `None` when there is no such file, or (unless `known`: the bridge keeps its summary)
/// when the file is not the transcript of a closed session with this id.
async fn read_closed(
    thread_id: &str,
    path: PathBuf,
    known: bool,
) -> Result<Option<(actor::recovery::ReadBack, SessionSummary)>> {
    let unreadable = |message: String| BridgeError::TranscriptUnreadable {
        thread_id: thread_id.to_string(),
        message,
    };
    if !known && !path.exists() {
        return Ok(None);
    }
    let shown = path.clone();
    let read = tokio::task::spawn_blocking(move || actor::recovery::read_back(&path))
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    match read {
        Ok(read) if read.folded.thread_id() == thread_id && read.folded.closed() => {
            let summary = read.folded.summary(&shown);
            Ok(Some((read, summary)))
        }
        Ok(_) if !known => Ok(None),
        Ok(_) => Err(unreadable(format!(
            "{} is not the transcript of this closed session",
            shown.display()
        ))),
        Err(_) if !known => Ok(None),
        Err(message) => Err(unreadable(message)),
    }
}

/// Receives bridge events; lag becomes a [`BridgeEvent::Lagged`] instead of an error.
pub struct EventReceiver {
    inner: broadcast::Receiver<BridgeEvent>,
}

impl EventReceiver {
    /// The next event, or `None` once the bridge has stopped.
    pub async fn recv(&mut self) -> Option<BridgeEvent> {
        match self.inner.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                Some(BridgeEvent::Lagged { skipped })
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl BridgeHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| BridgeError::Stopped)?;
        rx.await.map_err(|_| BridgeError::Stopped)
    }

    pub fn subscribe(&self) -> EventReceiver {
        EventReceiver {
            // A stopped bridge gives a stream that has already ended.
            inner: match self.events.upgrade() {
                Some(events) => events.subscribe(),
                None => broadcast::channel(1).1,
            },
        }
    }

    pub fn protocol_tap(&self) -> &ProtocolTap {
        &self.tap
    }

    /// The catalog in use now: new sessions declare its tools, the next call is routed
    /// by it. A reload replaces it (see [`BridgeHandle::reload_catalog`]).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.borrow().clone()
    }

    /// Loads the catalog file again and uses it from the next call on: handlers, static
    /// answers and `[[approvals]]` rules at once; changed tool definitions in sessions
    /// created from now on (running threads keep theirs: codex fixes them at
    /// `thread/start`). A file that does not load keeps the catalog in use; the reload
    /// reports why, as `catalog check` would. Either way a `CatalogReloaded` event
    /// announces it.
    pub async fn reload_catalog(&self) -> Result<CatalogReload> {
        let loaded = match self.catalog().path.clone() {
            None => Err(
                "there is no catalog file to reload: Switchboard was started without --catalog"
                    .to_string(),
            ),
            Some(path) => tokio::task::spawn_blocking(move || Catalog::load(&path))
                .await
                .map_err(|e| format!("loading the catalog stopped: {e}"))
                .and_then(|loaded| loaded.map(Arc::new).map_err(|e| e.to_string())),
        };
        self.ask(|reply| Command::ReloadCatalog { loaded, reply })
            .await
    }

    /// Uses `catalog` from the next call on, as [`BridgeHandle::reload_catalog`] does
    /// with a catalog loaded elsewhere.
    pub async fn swap_catalog(&self, catalog: Arc<Catalog>) -> Result<CatalogReload> {
        self.ask(|reply| Command::ReloadCatalog {
            loaded: Ok(catalog),
            reply,
        })
        .await
    }

    /// The catalog in use, the last reload and the sessions that keep older definitions.
    pub async fn catalog_status(&self) -> Result<CatalogStatus> {
        self.ask(|reply| Command::CatalogStatus { reply }).await
    }

    async fn connection(&self, target: fleet::Target) -> Result<Picked> {
        self.ask(|reply| Command::Connection { target, reply })
            .await?
    }

    /// The connection of the app-server a session is on.
    async fn connection_of(&self, thread_id: &str) -> Result<ConnectionHandle> {
        Ok(self
            .connection(fleet::Target::Thread(thread_id.to_string()))
            .await?
            .conn)
    }

    /// `thread/start` with the catalog's (or the given) dynamic tools, on the app-server
    /// `options.app_server` names (the first by default).
    pub async fn create_session(&self, options: CreateSession) -> Result<SessionSummary> {
        let Picked {
            app_server,
            conn,
            cwd,
        } = self
            .connection(fleet::Target::named(options.app_server.as_deref()))
            .await?;
        // One catalog for the whole start, even if a reload comes meanwhile (the actor
        // then marks the session outdated at once).
        let catalog = self.catalog();
        let declared = options.tools.is_none().then(|| reload::DeclaredCatalog {
            namespaces: catalog.namespaces.clone(),
        });
        let tools = options
            .tools
            .clone()
            .unwrap_or_else(|| catalog.dynamic_tools());
        let params = ThreadStartParams {
            cwd: options.cwd.or(cwd),
            model: options.model,
            approval_policy: options.approval_policy,
            sandbox: options.sandbox,
            config: options.network_access.map(|allowed| {
                serde_json::json!({ "sandbox_workspace_write": { "network_access": allowed } })
            }),
            // The catalog picks the legacy or the canonical shape (see catalog.md).
            dynamic_tools: (!tools.is_empty()).then(|| catalog.thread_start_tools(&tools)),
        };
        let reply: ThreadStartResponse =
            request_typed(&conn, method::THREAD_START, &params).await?;
        let settings = SessionSettings::from_response(&reply);
        self.ask(|reply_to| Command::RegisterSession {
            app_server,
            thread: reply.thread,
            settings,
            tools,
            declared,
            origin: SessionOrigin::Started,
            reply: reply_to,
        })
        .await?
    }

    /// `thread/resume`: takes over a thread app-server knows (its tools come back with
    /// it) and re-registers it as a session: on the app-server of the session when the
    /// bridge knows it, else on the first.
    pub async fn resume_session(&self, thread_id: &str) -> Result<SessionSummary> {
        self.resume_session_on(thread_id, None).await
    }

    /// [`BridgeHandle::resume_session`] on the app-server named `app_server` (a thread
    /// the bridge does not know yet, listed by [`BridgeHandle::list_threads_on`]).
    pub async fn resume_session_on(
        &self,
        thread_id: &str,
        app_server: Option<&str>,
    ) -> Result<SessionSummary> {
        self.attach(thread_id, app_server, SessionOrigin::Resumed)
            .await
    }

    /// `thread/resume` on the named app-server, else the session's, else the first.
    async fn attach(
        &self,
        thread_id: &str,
        app_server: Option<&str>,
        origin: SessionOrigin,
    ) -> Result<SessionSummary> {
        let target = match app_server {
            Some(name) => fleet::Target::Named(name.to_string()),
            None => fleet::Target::Thread(thread_id.to_string()),
        };
        let Picked {
            app_server, conn, ..
        } = self.connection(target).await?;
        let params = ThreadIdParams {
            thread_id: thread_id.to_string(),
        };
        let reply: ThreadStartResponse =
            request_typed(&conn, method::THREAD_RESUME, &params).await?;
        let settings = SessionSettings::from_response(&reply);
        self.ask(|reply_to| Command::RegisterSession {
            app_server,
            thread: reply.thread,
            settings,
            tools: Vec::new(),
            declared: None,
            origin,
            reply: reply_to,
        })
        .await?
    }

    /// The names of the fleet's app-servers, the default first.
    async fn fleet_names(&self) -> Result<Vec<String>> {
        Ok(self
            .status()
            .await?
            .app_servers
            .into_iter()
            .map(|a| a.name)
            .collect())
    }

    /// The ids of the threads one app-server has loaded (`thread/loaded/list`).
    async fn loaded_ids(conn: &ConnectionHandle) -> Result<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        // Bounded: a server that keeps handing out cursors cannot hold the caller.
        for _ in 0..LOADED_PAGES {
            let page: crate::protocol::ThreadLoadedListResponse = request_typed(
                conn,
                method::THREAD_LOADED_LIST,
                &serde_json::json!({ "cursor": cursor }),
            )
            .await?;
            ids.extend(page.data);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(ids)
    }

    /// One app-server's loaded threads, each read (`thread/read`).
    async fn loaded_on(
        &self,
        name: &str,
        sessions: &[SessionSummary],
    ) -> Result<Vec<LoadedThread>> {
        let conn = self
            .connection(fleet::Target::Named(name.to_string()))
            .await?
            .conn;
        let ids = Self::loaded_ids(&conn).await?;
        let mut threads = Vec::with_capacity(ids.len());
        for thread_id in ids {
            let read = conn
                .request(
                    method::THREAD_READ,
                    serde_json::json!({ "threadId": thread_id, "includeTurns": false }),
                )
                .await;
            let thread = match read {
                Ok(result) => result.get("thread").cloned().unwrap_or(Value::Null),
                // Unloaded meanwhile, or unreadable: listed by its id alone.
                Err(e) => {
                    tracing::info!(target: "bridge", "thread/read {thread_id} on {name} failed: {e}");
                    Value::Null
                }
            };
            let session = sessions.iter().find(|s| {
                s.thread_id == thread_id
                    && s.app_server == name
                    && s.status != SessionStatus::Closed
            });
            threads.push(LoadedThread::from_thread(
                name, &thread_id, &thread, session,
            ));
        }
        Ok(threads)
    }

    /// The threads app-server has loaded (`thread/loaded/list`, then `thread/read` for
    /// each): who started them, their status, and whether this bridge has them as a
    /// session. On an app-server shared with other clients these include theirs. With
    /// several app-servers, every one's (see [`BridgeHandle::loaded_threads_of_fleet`]).
    pub async fn loaded_threads(&self) -> Result<Vec<LoadedThread>> {
        Ok(self.loaded_threads_of_fleet().await?.threads)
    }

    /// The loaded threads of every app-server, each with its app-server's name, asked
    /// at once; an app-server that cannot answer (down, or it failed) is reported in
    /// `unreachable` while the others are listed. An error only when none answered.
    pub async fn loaded_threads_of_fleet(&self) -> Result<LoadedThreads> {
        let names = self.fleet_names().await?;
        let sessions = self.sessions().await?;
        let lists = futures_util::future::join_all(
            names.iter().map(|name| self.loaded_on(name, &sessions)),
        )
        .await;
        let mut loaded = LoadedThreads::default();
        let mut first_error = None;
        for (name, listed) in names.iter().zip(lists) {
            match listed {
                Ok(threads) => loaded.threads.extend(threads),
                Err(e) => {
                    loaded.unreachable.push(UnreachableAppServer {
                        app_server: name.clone(),
                        reason: e.to_string(),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if loaded.unreachable.len() == names.len() => Err(e),
            _ => Ok(loaded),
        }
    }

    /// Attaches to a thread another client runs (`thread/resume`), as a
    /// [`SessionOrigin::Watched`] session: its items stream here and its pending
    /// requests reach Switchboard too (the first answer wins), but none is answered
    /// automatically until [`BridgeHandle::set_auto_answer`] says so. Watching a thread
    /// already watched gives its session; one of Switchboard's own is refused.
    pub async fn watch_thread(&self, thread_id: &str) -> Result<SessionSummary> {
        self.watch_thread_on(thread_id, None).await
    }

    /// [`BridgeHandle::watch_thread`] on the app-server named `app_server`. Without a
    /// name, a bridge with several app-servers looks for the one that has the thread
    /// loaded: a thread loaded on several needs the name ([`BridgeError::ThreadOnSeveral`]),
    /// one loaded nowhere is [`BridgeError::ThreadNotLoaded`].
    pub async fn watch_thread_on(
        &self,
        thread_id: &str,
        app_server: Option<&str>,
    ) -> Result<SessionSummary> {
        if let Some(known) = self.session_summary(thread_id).await?
            && known.status.is_attached()
        {
            return match known.origin {
                SessionOrigin::Watched => Ok(known),
                origin => Err(BridgeError::NotWatched {
                    thread_id: thread_id.to_string(),
                    origin: origin.as_str(),
                    what: "it is attached already; watching is for",
                }),
            };
        }
        let app_server = match app_server {
            Some(name) => Some(name.to_string()),
            None => self.app_server_loading(thread_id).await?,
        };
        let attaching = |on| Command::Attaching {
            thread_id: thread_id.to_string(),
            on,
        };
        self.commands
            .send(attaching(true))
            .await
            .map_err(|_| BridgeError::Stopped)?;
        let attached = self
            .attach(thread_id, app_server.as_deref(), SessionOrigin::Watched)
            .await;
        if attached.is_err() {
            let _ = self.commands.send(attaching(false)).await;
        }
        attached
    }

    /// The app-server that has `thread_id` loaded, when the fleet has several (`None`
    /// with one: it goes to that one, as before there were fleets).
    async fn app_server_loading(&self, thread_id: &str) -> Result<Option<String>> {
        let names = self.fleet_names().await?;
        if names.len() < 2 {
            return Ok(None);
        }
        let found = futures_util::future::join_all(names.iter().map(|name| async move {
            let conn = self
                .connection(fleet::Target::Named(name.clone()))
                .await?
                .conn;
            Self::loaded_ids(&conn).await
        }))
        .await;
        let mut holding = Vec::new();
        let mut searched = Vec::new();
        let mut unreachable = Vec::new();
        for (name, ids) in names.into_iter().zip(found) {
            match ids {
                Ok(ids) => {
                    if ids.iter().any(|id| id == thread_id) {
                        holding.push(name.clone());
                    }
                    searched.push(name);
                }
                Err(_) => unreachable.push(name),
            }
        }
        match holding.len() {
            1 => Ok(holding.pop()),
            0 => Err(BridgeError::ThreadNotLoaded {
                thread_id: thread_id.to_string(),
                searched,
                unreachable,
            }),
            _ => Err(BridgeError::ThreadOnSeveral {
                thread_id: thread_id.to_string(),
                app_servers: holding,
            }),
        }
    }

    /// Stops watching a thread (`thread/unsubscribe`): its pending requests expire here
    /// (the client that runs it still answers them) and the session closes as detached.
    /// Only for watched sessions: Switchboard's own are closed.
    pub async fn detach(&self, thread_id: &str) -> Result<()> {
        self.ask(|reply| Command::Detach {
            thread_id: thread_id.to_string(),
            reply,
        })
        .await??;
        self.unsubscribe(thread_id).await;
        Ok(())
    }

    /// Turns automatic answers on (or off) for a watched session: on, its requests go
    /// to the catalog's handlers, approval rules and request policy like Switchboard's
    /// own, from the next request on; off (the default), a person answers each.
    pub async fn set_auto_answer(&self, thread_id: &str, on: bool) -> Result<SessionSummary> {
        self.ask(|reply| Command::SetAutoAnswer {
            thread_id: thread_id.to_string(),
            on,
            reply,
        })
        .await?
    }

    /// `thread/name/set`: names the session's thread; the name becomes its title.
    pub async fn rename_session(&self, thread_id: &str, name: &str) -> Result<()> {
        let name = name.trim();
        self.ask(|reply| Command::CheckSession {
            thread_id: thread_id.to_string(),
            reply,
        })
        .await??;
        let conn = self.connection_of(thread_id).await?;
        let _: Value = request_typed(
            &conn,
            method::THREAD_NAME_SET,
            &serde_json::json!({ "threadId": thread_id, "name": name }),
        )
        .await?;
        self.commands
            .send(Command::SetName {
                thread_id: thread_id.to_string(),
                name: Some(name.to_string()),
            })
            .await
            .map_err(|_| BridgeError::Stopped)
    }

    /// `thread/list`: threads the first app-server has on disk, newest first.
    pub async fn list_threads(&self) -> Result<Vec<ThreadInfo>> {
        self.list_threads_on(None).await
    }

    /// `thread/list` on the app-server named `app_server` (the first by default).
    pub async fn list_threads_on(&self, app_server: Option<&str>) -> Result<Vec<ThreadInfo>> {
        let conn = self
            .connection(fleet::Target::named(app_server))
            .await?
            .conn;
        let result = conn
            .request(crate::protocol::method::THREAD_LIST, serde_json::json!({}))
            .await?;
        let data = result
            .get("data")
            .cloned()
            .unwrap_or(serde_json::Value::Array(Vec::new()));
        serde_json::from_value(data).map_err(|e| BridgeError::UnexpectedReply {
            method: "thread/list".to_string(),
            message: e.to_string(),
        })
    }

    /// `turn/start` with one text item, the message verbatim. Returns the turn id.
    pub async fn send_message(&self, thread_id: &str, text: &str) -> Result<String> {
        self.send_message_with(thread_id, text, TurnOptions::default())
            .await
    }

    /// [`BridgeHandle::send_message`] with overrides for this turn and the next ones.
    pub async fn send_message_with(
        &self,
        thread_id: &str,
        text: &str,
        options: TurnOptions,
    ) -> Result<String> {
        self.ask(|reply| Command::CheckSession {
            thread_id: thread_id.to_string(),
            reply,
        })
        .await??;
        let conn = self.connection_of(thread_id).await?;
        let params = TurnStartParams {
            thread_id: thread_id.to_string(),
            input: vec![TurnInput::Text {
                text: text.to_string(),
            }],
            model: options.model.clone(),
            effort: options.effort.clone(),
            approval_policy: options.approval_policy.clone(),
            sandbox_policy: options.sandbox_policy.clone(),
        };
        let reply: TurnStartResponse = request_typed(&conn, method::TURN_START, &params).await?;
        let turn_id = reply.turn.id;
        self.commands
            .send(Command::RecordTurn {
                thread_id: thread_id.to_string(),
                turn_id: turn_id.clone(),
                options,
            })
            .await
            .map_err(|_| BridgeError::Stopped)?;
        Ok(turn_id)
    }

    /// `turn/interrupt` on the session's running turn. Its pending calls expire when
    /// app-server reports the turn interrupted. Returns the interrupted turn's id.
    pub async fn interrupt(&self, thread_id: &str) -> Result<String> {
        let active = self
            .ask(|reply| Command::CheckSession {
                thread_id: thread_id.to_string(),
                reply,
            })
            .await??;
        let turn_id = active.ok_or_else(|| BridgeError::NoActiveTurn {
            thread_id: thread_id.to_string(),
        })?;
        let conn = self.connection_of(thread_id).await?;
        let params = TurnInterruptParams {
            thread_id: thread_id.to_string(),
            turn_id: turn_id.clone(),
        };
        let _: Value = request_typed(&conn, method::TURN_INTERRUPT, &params).await?;
        Ok(turn_id)
    }

    /// Closes a session: its pending calls expire, app-server stops sending its events.
    pub async fn close_session(&self, thread_id: &str) -> Result<()> {
        self.ask(|reply| Command::CloseSession {
            thread_id: thread_id.to_string(),
            reason: "session closed".to_string(),
            reply,
        })
        .await??;
        self.unsubscribe(thread_id).await;
        Ok(())
    }

    /// Best effort: the session is closed on our side whatever app-server says.
    async fn unsubscribe(&self, thread_id: &str) {
        if let Ok(conn) = self.connection_of(thread_id).await
            && let Err(e) = request_typed::<Value>(
                &conn,
                method::THREAD_UNSUBSCRIBE,
                &ThreadIdParams {
                    thread_id: thread_id.to_string(),
                },
            )
            .await
        {
            tracing::info!(target: "bridge", "thread/unsubscribe for {thread_id} failed: {e}");
        }
    }

    /// Pending calls, oldest first; all sessions or one.
    pub async fn pending_calls(&self, thread_id: Option<&str>) -> Result<Vec<PendingCallView>> {
        self.ask(|reply| Command::ListPending {
            thread_id: thread_id.map(str::to_string),
            reply,
        })
        .await
    }

    /// Answers a pending call. Exactly one answer is ever written per call. A call a
    /// worker claimed gets `Claimed` (see [`BridgeHandle::respond_claimed`]).
    pub async fn respond(
        &self,
        request_id: &str,
        result: ToolCallResult,
        by: Responder,
    ) -> Result<RespondOutcome> {
        self.respond_claimed(request_id, result, by, None).await
    }

    /// [`BridgeHandle::respond`] by a claim's holder: a claimed call takes only the
    /// answer that comes with its claim id. A claim id for a call that is no longer
    /// claimed is no obstacle: the answer is still the first.
    pub async fn respond_claimed(
        &self,
        request_id: &str,
        result: ToolCallResult,
        by: Responder,
        claim_id: Option<&str>,
    ) -> Result<RespondOutcome> {
        self.ask(|reply| Command::Respond {
            request_id: request_id.to_string(),
            result,
            by,
            claim_id: claim_id.map(str::to_string),
            reply,
        })
        .await
    }

    /// Claims a pending tool call for `holder` for `lease` (at most [`MAX_LEASE`]), or
    /// renews the caller's claim when `claim_id` is its id. While the lease runs only
    /// the holder answers the call; a lease that runs out frees it for anyone
    /// (`ToolCallClaim` with `Expired`).
    pub async fn claim_call(
        &self,
        request_id: &str,
        holder: &str,
        lease: Duration,
        claim_id: Option<&str>,
    ) -> Result<ClaimOutcome> {
        self.claim_request(
            request_id,
            ClaimAsk {
                holder: holder.to_string(),
                lease,
                claim_id: claim_id.map(str::to_string),
                takeover: false,
            },
        )
        .await
    }

    /// Claims any pending request (tool call, approval, question, elicitation), renews
    /// the caller's claim, or (`takeover`) replaces another holder's: the replaced
    /// holder's answers are refused from then on, and the `ToolCallClaim` /
    /// `RequestClaim` event with `TakenOver` tells everyone. A lease that runs out
    /// frees the request (`Expired`).
    pub async fn claim_request(&self, request_id: &str, ask: ClaimAsk) -> Result<ClaimOutcome> {
        self.ask(|reply| Command::Claim {
            request_id: request_id.to_string(),
            ask: ClaimAsk {
                lease: ask.lease.min(MAX_LEASE),
                ..ask
            },
            reply,
        })
        .await
    }

    /// Gives a claim back: the request is answerable by anyone again.
    pub async fn release_claim(&self, request_id: &str, claim_id: &str) -> Result<ReleaseOutcome> {
        self.ask(|reply| Command::Release {
            request_id: request_id.to_string(),
            claim_id: claim_id.to_string(),
            reply,
        })
        .await
    }

    /// Pending approvals, questions and elicitations, oldest first; all sessions or one.
    /// (Tool calls are listed by [`BridgeHandle::pending_calls`].)
    pub async fn pending_requests(
        &self,
        thread_id: Option<&str>,
    ) -> Result<Vec<PendingRequestView>> {
        self.ask(|reply| Command::ListRequests {
            thread_id: thread_id.map(str::to_string),
            reply,
        })
        .await
    }

    /// Answers any pending request with the JSON `result` app-server gets. The answer is
    /// checked against the request's kind first: one codex could not parse is refused
    /// (`Invalid`, nothing written). Exactly one answer is ever written per request.
    pub async fn answer_request(
        &self,
        request_id: &str,
        answer: serde_json::Value,
        by: Responder,
    ) -> Result<AnswerOutcome> {
        self.answer_request_claimed(request_id, answer, by, None)
            .await
    }

    /// [`BridgeHandle::answer_request`] by a claim's holder: a claimed request takes
    /// only the answer that comes with its claim id (`Claimed` otherwise).
    pub async fn answer_request_claimed(
        &self,
        request_id: &str,
        answer: serde_json::Value,
        by: Responder,
        claim_id: Option<&str>,
    ) -> Result<AnswerOutcome> {
        self.ask(|reply| Command::Answer {
            request_id: request_id.to_string(),
            answer: AnswerInput::Raw(answer),
            by,
            claim_id: claim_id.map(str::to_string),
            reply,
        })
        .await
    }

    /// Decides a request with codex-manager's `accept` / `decline` / `cancel` (and
    /// `for_session`, its `scope: "session"`), mapped to the answer of the request's kind.
    pub async fn decide(
        &self,
        request_id: &str,
        decision: SimpleDecision,
        for_session: bool,
        by: Responder,
    ) -> Result<AnswerOutcome> {
        self.decide_claimed(request_id, decision, for_session, by, None)
            .await
    }

    /// [`BridgeHandle::decide`] by a claim's holder (see `answer_request_claimed`).
    pub async fn decide_claimed(
        &self,
        request_id: &str,
        decision: SimpleDecision,
        for_session: bool,
        by: Responder,
        claim_id: Option<&str>,
    ) -> Result<AnswerOutcome> {
        self.ask(|reply| Command::Answer {
            request_id: request_id.to_string(),
            answer: AnswerInput::Decision {
                decision,
                for_session,
            },
            by,
            claim_id: claim_id.map(str::to_string),
            reply,
        })
        .await
    }

    /// [`BridgeHandle::answer_request`] with a typed answer (e.g. `Answer::decline`).
    pub async fn decide_request(
        &self,
        request_id: &str,
        answer: Answer,
        by: Responder,
    ) -> Result<AnswerOutcome> {
        self.ask(|reply| Command::Answer {
            request_id: request_id.to_string(),
            answer: AnswerInput::Typed(answer),
            by,
            claim_id: None,
            reply,
        })
        .await
    }

    pub async fn sessions(&self) -> Result<Vec<SessionSummary>> {
        self.ask(|reply| Command::Sessions { reply }).await
    }

    /// A session with its turns and (the last rows of) its transcript. A closed session
    /// that left memory is read back from its transcript file.
    pub async fn session(&self, thread_id: &str) -> Result<Option<SessionSnapshot>> {
        let found = self
            .ask(|reply| Command::Session {
                thread_id: thread_id.to_string(),
                reply,
            })
            .await?;
        match found {
            Lookup::Live(snapshot) => Ok(Some(*snapshot)),
            Lookup::OnDisk { path, summary } => {
                match (
                    read_closed(thread_id, path, summary.is_some()).await,
                    summary,
                ) {
                    (Ok(Some((read, on_disk))), summary) => Ok(Some(
                        read.folded
                            .snapshot(summary.map_or(on_disk, |s| *s), read.rows),
                    )),
                    (Ok(None), _) => Ok(None),
                    // The file went (or went bad) after the session closed: what the
                    // bridge kept of it is still true.
                    (Err(e), Some(summary)) => {
                        tracing::warn!(target: "bridge", "{e}");
                        Ok(Some(SessionSnapshot {
                            summary: *summary,
                            turns: Vec::new(),
                            transcript: Vec::new(),
                            streaming: Vec::new(),
                            thread: Value::Null,
                        }))
                    }
                    (Err(e), None) => Err(e),
                }
            }
            Lookup::Unknown => Ok(None),
        }
    }

    /// A session's summary, closed ones included: one that left memory past the cap
    /// is read from its transcript file.
    pub async fn session_summary(&self, thread_id: &str) -> Result<Option<SessionSummary>> {
        let found = self
            .ask(|reply| Command::Summary {
                thread_id: thread_id.to_string(),
                reply,
            })
            .await?;
        match found {
            Lookup::Live(summary) => Ok(Some(summary)),
            Lookup::OnDisk { path, summary } => Ok(match summary {
                Some(summary) => Some(*summary),
                None => read_closed(thread_id, path, false)
                    .await?
                    .map(|(_, summary)| summary),
            }),
            Lookup::Unknown => Ok(None),
        }
    }

    /// A live session whole, or a closed one by its summary (no transcript is read
    /// unless the session left memory past the cap).
    pub async fn session_state(&self, thread_id: &str) -> Result<Option<SessionState>> {
        let found = self
            .ask(|reply| Command::Session {
                thread_id: thread_id.to_string(),
                reply,
            })
            .await?;
        Ok(match found {
            Lookup::Live(snapshot) if snapshot.summary.status == SessionStatus::Closed => {
                Some(SessionState::Closed(Box::new(snapshot.summary)))
            }
            Lookup::Live(snapshot) => Some(SessionState::Live(snapshot)),
            Lookup::OnDisk {
                summary: Some(summary),
                ..
            } => Some(SessionState::Closed(summary)),
            Lookup::OnDisk {
                path,
                summary: None,
            } => read_closed(thread_id, path, false)
                .await?
                .map(|(_, summary)| SessionState::Closed(Box::new(summary))),
            Lookup::Unknown => None,
        })
    }

    /// The session's settings and declared tools.
    pub async fn session_setup(&self, thread_id: &str) -> Result<Option<SessionSetup>> {
        self.ask(|reply| Command::SessionSetup {
            thread_id: thread_id.to_string(),
            reply,
        })
        .await
    }

    /// Waits until the turn ends; fails if the session closes or app-server goes away
    /// first.
    pub async fn wait_turn(&self, thread_id: &str, turn_id: &str) -> Result<TurnRecord> {
        self.ask(|reply| Command::WaitTurn {
            thread_id: thread_id.to_string(),
            turn_id: turn_id.to_string(),
            reply,
        })
        .await?
    }

    pub async fn status(&self) -> Result<BridgeStatus> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Per-tool statistics of the calls that ended since the bridge started.
    pub async fn tool_stats(&self) -> Result<Vec<ToolStatsView>> {
        self.ask(|reply| Command::ToolStats { reply }).await
    }

    /// Holds handlers for review (all, or one tool's): their answers wait on the call
    /// as a proposal instead of being sent. Calls already pending are not changed.
    pub async fn set_hold(&self, change: HoldChange) -> Result<HoldState> {
        self.ask(|reply| Command::SetHold { change, reply }).await
    }

    /// Runs the handler of a pending call's tool and returns what it answered, without
    /// sending anything: the operator reviews it first.
    pub async fn run_handler(&self, request_id: &str) -> Result<crate::handlers::HandlerOutcome> {
        let prepared = self
            .ask(|reply| Command::PrepareHandler {
                request_id: request_id.to_string(),
                reply,
            })
            .await??;
        Ok(prepared.runner.run(&prepared.spec, &prepared.input).await)
    }

    /// Tries to reach app-server again after the connection was lost for good
    /// (`ConnectionState::Disconnected` with `retry`): a new round of reconnect attempts,
    /// then every session that was attached is resumed, as after a lost connection.
    /// Does nothing while connected or reconnecting.
    pub async fn reconnect(&self) -> Result<()> {
        self.ask(|reply| Command::Reconnect { reply }).await?
    }

    /// Stops the bridge and app-server. Pending calls expire.
    pub async fn shutdown(&self) {
        let _ = self.ask(|reply| Command::Shutdown { reply }).await;
    }
}

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod tests;

//! The bridge actor: the one task that owns sessions, pending requests and transcripts.
//! It reacts to app-server messages, to commands from handles and to its own tasks'
//! reports, in arrival order. By concern:
//!
//! - `intake`: what app-server sends (server requests, notifications);
//! - `answers`: writing the one answer of a request, and ending it (`finish`);
//! - `claims`: workers' claims on tool calls, with leases;
//! - `live`: transcript rows that change in place while their item runs;
//! - `sessions`: sessions and turns, and what a lost connection ends;
//! - `queries`: read-only commands;
//! - `recovery`: reconnecting, resuming, restoring from transcripts.

mod answers;
mod claims;
mod intake;
mod live;
mod queries;
pub(super) mod recovery;
mod sessions;

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::events::{BridgeEvent, ConnectionState, HoldState, Responder};
use super::pending::PendingStore;
use super::session::{ClosedSessions, Session, TurnRecord};
use super::transcript::TranscriptEntry;
use super::{
    AnswerInput, AnswerOutcome, BridgeConfig, BridgeError, Command, HoldChange, Lookup, Reply,
    RespondOutcome, Result, Totals,
};
use crate::appserver::{self, ConnectionHandle, ConnectionId, Connector, Inbound, ProtocolTap};
use crate::catalog::Catalog;
use crate::handlers::HandlerRunner;
use crate::protocol::{Answer, ToolCallResult};
use crate::util::now_ms;
pub(super) use answers::Origin;
use recovery::RecoveryState;

/// What the actor's own tasks report back: never sent by a handle.
pub(super) enum Internal {
    /// An answer was written (or not) to app-server.
    WriteDone(answers::WriteDone),
    /// A handler finished for a call: send its answer, or propose it when held.
    HandlerAnswered {
        request_id: String,
        result: ToolCallResult,
        by: Responder,
        held: bool,
        /// The handler's own failure, kept on the call for its resolved event.
        failure: Option<super::pending::HandlerFailure>,
    },
    /// An approval rule's handler script finished: what it printed, or why it printed
    /// no decision.
    RuleHandlerDone {
        request_id: String,
        rule: usize,
        printed: std::result::Result<String, String>,
    },
    /// Progress of a reconnect or of resuming sessions after one (see `recovery.rs`).
    Recovery(recovery::Progress),
    /// A claim's lease timer fired (see `claims.rs`).
    ClaimExpired {
        request_id: String,
        claim_id: String,
    },
}

/// The actor's ends of the channels its handles use.
pub(super) struct Wiring {
    pub self_tx: mpsc::WeakSender<Command>,
    pub commands: mpsc::Receiver<Command>,
    pub events: broadcast::Sender<BridgeEvent>,
    pub tap: ProtocolTap,
    pub catalog_tx: watch::Sender<Arc<Catalog>>,
    /// Counts (and bounds) the raw params the raw events hold.
    pub raw: crate::bridge::events::RawLedger,
}

/// An app-server's place in `Actor::upstreams`, in fleet order: 0 is the default.
pub(super) type Slot = usize;

/// The first connection to one app-server of the fleet: initialized, or why not.
struct Opened {
    spec: super::AppServerSpec,
    connector: Option<Connector>,
    id: ConnectionId,
    result: std::result::Result<FirstLink, appserver::AppServerError>,
}

struct FirstLink {
    conn: ConnectionHandle,
    inbound: mpsc::Receiver<Inbound>,
    info: appserver::InitializeInfo,
    kill: Option<oneshot::Sender<()>>,
    pid: Option<u32>,
}

/// Opens and initializes the first connection of one app-server.
async fn open_first(
    member: super::FleetMember,
    id: ConnectionId,
    tap: ProtocolTap,
    timeout: std::time::Duration,
) -> Opened {
    let super::FleetMember {
        spec,
        connector,
        opened,
    } = member;
    let result = async {
        let raw = match (opened, &connector) {
            (Some(raw), _) => raw,
            (None, Some(connector)) => connector().await?,
            (None, None) => {
                return Err(appserver::AppServerError::Closed {
                    reason: "no transport to open".to_string(),
                });
            }
        };
        let kill = raw.kill;
        let pid = raw.child_pid;
        let raw = appserver::RawConnection { kill: None, ..raw };
        let (conn, inbound) = appserver::connection::start(raw, id.0, tap, timeout);
        match conn.initialize(env!("CARGO_PKG_VERSION")).await {
            Ok(info) => Ok(FirstLink {
                conn,
                inbound,
                info,
                kill,
                pid,
            }),
            Err(e) => {
                if let Some(kill) = kill {
                    let _ = kill.send(());
                }
                Err(e)
            }
        }
    }
    .await;
    Opened {
        spec,
        connector,
        id,
        result,
    }
}

/// Connects to every app-server (at once, so a slow one delays no other) and spawns
/// the actor. The actor stops when every handle is dropped or on `Shutdown`; the
/// app-servers it spawned are killed with it.
pub(super) async fn spawn(
    config: BridgeConfig,
    members: Vec<super::FleetMember>,
    wiring: Wiring,
) -> Result<()> {
    let Wiring {
        self_tx,
        commands,
        events,
        tap,
        catalog_tx,
        raw,
    } = wiring;
    let fleet = members.len();
    let opened =
        futures_util::future::join_all(members.into_iter().enumerate().map(|(slot, member)| {
            let id = ConnectionId(u64::try_from(slot).unwrap_or(u64::MAX - 1) + 1);
            open_first(member, id, tap.clone(), config.request_timeout)
        }))
        .await;
    // With several app-servers, one that cannot be reached at start reconnects with
    // back-off like one lost later, when the bridge reconnects at all.
    let may_wait = fleet > 1 && config.reconnect.enabled && config.reconnect.max_attempts > 0;
    if let Some(failed) = opened
        .iter()
        .position(|o| o.result.is_err() && !(may_wait && o.connector.is_some()))
    {
        let mut opened = opened;
        let failed = opened.swap_remove(failed);
        // Dropping the others' kill switches stops what was spawned.
        drop(opened);
        return Err(match failed.result {
            Err(source) if fleet > 1 => BridgeError::AppServerNamed {
                name: failed.spec.name,
                source,
            },
            Err(e) => e.into(),
            Ok(_) => BridgeError::Stopped,
        });
    }
    let sessions_dir = config.data_dir.as_ref().map(|d| d.join("sessions"));
    let config_closed_kept = config.closed_sessions_kept;
    let mut handlers = HandlerRunner::new(config.max_concurrent_handlers);
    if let Some(dir) = &config.data_dir {
        handlers = handlers.with_pid_dir(dir.join("handlers"));
        let leftovers = handlers.end_leftovers();
        if !leftovers.ended.is_empty() {
            tracing::warn!(target: "bridge", "ended {} command handler(s) an earlier Switchboard left running: {}", leftovers.ended.len(), leftovers.ended.join(", "));
        }
    }
    let mut upstreams = Vec::with_capacity(fleet);
    let mut inbounds = Vec::with_capacity(fleet);
    let mut unreachable = Vec::new();
    for (slot, opened) in opened.into_iter().enumerate() {
        let label = opened.spec.transport.describe();
        let (conn, kill, state, inbound) = match opened.result {
            Ok(link) => {
                tracing::info!(target: "bridge", "connected to app-server {} ({}) {} over {}", opened.spec.name, opened.id, link.info.user_agent, label);
                let state = ConnectionState::Connected {
                    server_version: link.info.server_version.clone(),
                    user_agent: link.info.user_agent,
                    pid: link.pid,
                };
                (Some(link.conn), link.kill, state, Some(link.inbound))
            }
            Err(e) => {
                let reason = format!("could not start app-server {}: {e}", opened.spec.name);
                tracing::warn!(target: "bridge", "{reason}");
                unreachable.push((slot, reason.clone()));
                (
                    None,
                    None,
                    ConnectionState::Disconnected {
                        reason,
                        retry: true,
                    },
                    None,
                )
            }
        };
        let _ = events.send(BridgeEvent::Connection {
            app_server: opened.spec.name.clone(),
            transport: label.clone(),
            state: state.clone(),
        });
        inbounds.push(inbound);
        upstreams.push(Upstream {
            name: opened.spec.name,
            keeps_calls: matches!(
                opened.spec.transport,
                appserver::TransportSpec::WebSocket { .. }
            ),
            cwd: opened.spec.cwd,
            id: opened.id,
            conn,
            kill,
            label,
            state,
            connector: opened.connector,
            reconnection: recovery::Reconnection::default(),
        });
    }
    let connections = upstreams
        .iter()
        .enumerate()
        .map(|(slot, u)| (u.id, slot))
        .collect();
    let mut actor = Actor {
        handlers: Arc::new(handlers),
        config,
        sessions_dir,
        self_tx,
        events,
        next_connection: u64::try_from(fleet).unwrap_or(u64::MAX - 1) + 1,
        connections,
        upstreams,
        source: 0,
        sessions: HashMap::new(),
        closed: ClosedSessions::new(config_closed_kept),
        pending: PendingStore::default(),
        file_changes: HashMap::new(),
        items: super::items::ItemFold::default(),
        turn_waiters: HashMap::new(),
        totals: Totals::default(),
        tool_stats: super::stats::ToolStatsTable::default(),
        hold: HoldState::default(),
        started_writes: Vec::new(),
        id_prefix: crate::util::base36(u64::try_from(now_ms()).unwrap_or(0)),
        next_request: 0,
        next_claim: 0,
        recovery: RecoveryState::default(),
        tap,
        rate_limits: None,
        catalog_tx,
        catalog_generation: 0,
        last_reload: None,
        attaching: std::collections::HashSet::new(),
        raw,
    };
    for (slot, reason) in unreachable {
        actor.start_first_reconnect(slot, reason);
    }
    if actor.config.restore_sessions {
        actor.restore_sessions();
        if actor.config.resume_restored {
            actor.resume_restored();
        }
    }
    tokio::spawn(actor.run(commands, inbounds));
    Ok(())
}

/// The next message from any app-server, with its slot (`None`: that connection's
/// reader stopped). Starts after the slot served last, so a busy one starves no other.
fn next_inbound<'a>(
    inbounds: &'a mut [Option<mpsc::Receiver<Inbound>>],
    after: &'a mut Slot,
) -> impl std::future::Future<Output = (Slot, Option<Inbound>)> + 'a {
    std::future::poll_fn(move |cx| {
        let count = inbounds.len();
        for k in 1..=count {
            let slot = (*after + k) % count;
            if let Some(receiver) = inbounds[slot].as_mut()
                && let std::task::Poll::Ready(message) = receiver.poll_recv(cx)
            {
                *after = slot;
                return std::task::Poll::Ready((slot, message));
            }
        }
        std::task::Poll::Pending
    })
}

/// Writing one answer to app-server; yields the report to apply.
type WriteFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Internal> + Send>>;

/// One app-server of the fleet: its connection and what belongs to it.
struct Upstream {
    /// Its name in the fleet (a session's `appServer`).
    name: String,
    /// A websocket app-server outlives its connection and keeps the calls it sent; a
    /// child on stdio is gone with its pipes, and its calls with it.
    keeps_calls: bool,
    /// The working directory of new sessions on it, unless they ask for another.
    cwd: Option<String>,
    /// `None` while disconnected or reconnecting.
    conn: Option<ConnectionHandle>,
    /// The current (or last) connection; each reconnect opens a new one. Unique across
    /// the fleet, so rpc ids (which restart at 0 with each app-server) are told apart.
    id: ConnectionId,
    /// Dropping or firing this kills the app-server child.
    kill: Option<oneshot::Sender<()>>,
    /// How the transport is described to people (`stdio: codex app-server`, a URL).
    label: String,
    state: ConnectionState,
    /// Opens a new transport to reconnect; `None` when the bridge was started on a
    /// transport it cannot open again.
    connector: Option<Connector>,
    /// Its reconnect rounds and the sessions to resume on it (`recovery.rs`).
    reconnection: recovery::Reconnection,
}

struct Actor {
    config: BridgeConfig,
    sessions_dir: Option<std::path::PathBuf>,
    /// Weak, so that the actor's own sender does not keep its queue open after every
    /// handle is gone; handler tasks upgrade it to post their answers.
    self_tx: mpsc::WeakSender<Command>,
    events: broadcast::Sender<BridgeEvent>,
    /// The app-servers, in fleet order.
    upstreams: Vec<Upstream>,
    /// Which app-server each connection, current or past, belongs to.
    connections: HashMap<ConnectionId, Slot>,
    /// The id of the next connection opened (to any app-server).
    next_connection: u64,
    /// The app-server whose message is being handled (`on_inbound`).
    source: Slot,
    /// Open sessions, and closed ones whose transcript is not (all) on disk.
    sessions: HashMap<String, Session>,
    /// Closed sessions evicted from memory: their summary only (see `evict_closed`).
    closed: ClosedSessions,
    pending: PendingStore,
    /// The changes of `fileChange` items that started, by (thread, item): what a
    /// file-change approval shows. Dropped when the item or its turn completes.
    file_changes: HashMap<(String, String), serde_json::Value>,
    /// Live item rows until their item completes (`bridge/items.rs`, `live.rs`).
    items: super::items::ItemFold,
    turn_waiters: HashMap<(String, String), Vec<Reply<Result<TurnRecord>>>>,
    totals: Totals,
    /// Per-tool statistics of ended calls (`stats.rs`).
    tool_stats: super::stats::ToolStatsTable,
    hold: HoldState,
    handlers: Arc<HandlerRunner>,
    /// Writes started since the run loop last looked; it moves them to its own set.
    started_writes: Vec<WriteFuture>,
    /// Request ids are `<prefix>-<n>`: the prefix (start time, base 36) keeps them
    /// unique across restarts of app-server and of Switchboard.
    id_prefix: String,
    next_request: u64,
    /// Claim ids are `<prefix>-claim-<n>`.
    next_claim: u64,
    /// Reconnect progress, requests restored from transcripts, answers kept for replays.
    recovery: RecoveryState,
    /// Shared with every connection, so the protocol log spans reconnects.
    tap: ProtocolTap,
    /// The account's rate limits, merged from app-server's sparse updates.
    rate_limits: Option<serde_json::Value>,
    /// Tells the handles which catalog is in use (`config.catalog`, swapped on reload).
    catalog_tx: watch::Sender<Arc<Catalog>>,
    /// Threads being attached to watch (`thread/resume` sent, session not registered
    /// yet): their requests wait for a person like a watched session's.
    attaching: std::collections::HashSet<String>,
    /// Successful catalog loads since start, the first being 0.
    catalog_generation: u64,
    last_reload: Option<crate::bridge::CatalogReload>,
    /// The raw events' params: shared, counted while held, bounded in bytes.
    raw: crate::bridge::events::RawLedger,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbounds: Vec<Option<mpsc::Receiver<Inbound>>>,
    ) {
        let mut served: Slot = 0;
        // Answers being written; polled here rather than spawned, one task fewer per call.
        let mut writes: FuturesUnordered<WriteFuture> = FuturesUnordered::new();
        loop {
            writes.extend(self.started_writes.drain(..));
            let reading = inbounds.iter().any(Option::is_some);
            let flush_at = self.next_live_flush();
            tokio::select! {
                biased;
                // First, so that a flood of deltas cannot hold live rows back.
                () = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {
                    self.flush_live_rows();
                }
                Some(done) = writes.next(), if !writes.is_empty() => {
                    if let Some((slot, next)) = self.on_internal(done) {
                        inbounds[slot] = Some(next);
                    }
                }
                (slot, message) = next_inbound(&mut inbounds, &mut served), if reading => {
                    self.source = slot;
                    match message {
                        Some(message) => self.on_inbound(message),
                        None => {
                            inbounds[slot] = None;
                            self.on_connection_lost(slot, "app-server connection reader stopped".to_string());
                        }
                    }
                },
                command = commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.stop("switchboard shut down");
                        let _ = reply.send(());
                        return;
                    }
                    Some(Command::Internal(internal)) => {
                        if let Some((slot, next)) = self.on_internal(internal) {
                            inbounds[slot] = Some(next);
                        }
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.stop("switchboard shut down");
                        return;
                    }
                },
            }
        }
    }

    fn emit(&self, event: BridgeEvent) {
        let _ = self.events.send(event);
    }

    fn next_key(&mut self) -> String {
        let key = format!("{}-{}", self.id_prefix, self.next_request);
        self.next_request += 1;
        key
    }

    /// The upstream named `name`.
    fn slot_named(&self, name: &str) -> Option<Slot> {
        self.upstreams.iter().position(|u| u.name == name)
    }

    /// The upstream a session is on; the default for a thread the bridge does not know.
    fn slot_of_thread(&self, thread_id: &str) -> Slot {
        self.sessions
            .get(thread_id)
            .and_then(|s| self.slot_named(&s.app_server))
            .unwrap_or(0)
    }

    /// The upstream a connection (current or past) belongs to.
    fn slot_of_connection(&self, id: ConnectionId) -> Slot {
        self.connections.get(&id).copied().unwrap_or(0)
    }

    /// The upstream a pending request came from.
    fn slot_of_request(&self, request_id: &str) -> Option<Slot> {
        self.pending
            .get(request_id)
            .map(|r| self.slot_of_connection(r.connection))
    }

    /// The pending requests an upstream sent, on any of its connections.
    fn requests_of(&self, slot: Slot) -> Vec<String> {
        let connections = &self.connections;
        self.pending
            .keys_where(|r| connections.get(&r.connection).copied().unwrap_or(0) == slot)
    }

    /// The name an app-server's messages call it by: empty with only one, so that a
    /// bridge with one app-server says what it always said.
    fn called(&self, slot: Slot) -> String {
        match self.upstreams.get(slot) {
            Some(up) if self.upstreams.len() > 1 => format!(" {}", up.name),
            _ => String::new(),
        }
    }

    /// Tells everyone an upstream's connection state.
    fn emit_connection(&self, slot: Slot) {
        if let Some(up) = self.upstreams.get(slot) {
            self.emit(BridgeEvent::Connection {
                app_server: up.name.clone(),
                transport: up.label.clone(),
                state: up.state.clone(),
            });
        }
    }

    fn disconnected_reason(&self, slot: Slot) -> Option<String> {
        let called = self.called(slot);
        match &self.upstreams.get(slot)?.state {
            ConnectionState::Disconnected { reason, .. } => Some(reason.clone()),
            ConnectionState::Reconnecting {
                attempt,
                max_attempts,
                reason,
                ..
            } => Some(format!(
                "reconnecting to app-server{called} (attempt {attempt} of {max_attempts}) after: {reason}"
            )),
            ConnectionState::Connecting | ConnectionState::Connected { .. } => None,
        }
    }

    /// Applies a report of the actor's own tasks. Returns the inbound receiver of a new
    /// connection and its upstream, which the run loop reads from then on.
    fn on_internal(&mut self, internal: Internal) -> Option<(Slot, mpsc::Receiver<Inbound>)> {
        match internal {
            Internal::WriteDone(done) => self.on_write_done(done),
            Internal::HandlerAnswered {
                request_id,
                result,
                by,
                held,
                failure,
            } => {
                if let Some(super::pending::PendingRequest {
                    kind: super::pending::PendingKind::ToolCall(call),
                    ..
                }) = self.pending.get_mut(&request_id)
                {
                    call.handler_failure = failure;
                }
                if held {
                    self.propose(&request_id, Answer::ToolCall(result));
                } else {
                    self.start_write(request_id, Answer::ToolCall(result), by, Origin::Automatic);
                }
            }
            Internal::RuleHandlerDone {
                request_id,
                rule,
                printed,
            } => self.on_rule_handler_done(request_id, rule, printed),
            Internal::Recovery(progress) => return self.on_recovery(progress),
            Internal::ClaimExpired {
                request_id,
                claim_id,
            } => self.on_claim_expired(&request_id, &claim_id),
        }
        None
    }

    /// One method per command; the run loop handles `Shutdown` and `Internal` itself.
    fn on_command(&mut self, command: Command) {
        match command {
            Command::Connection { target, reply } => {
                let _ = reply.send(self.connection(&target));
            }
            Command::CheckSession { thread_id, reply } => {
                let _ = reply.send(self.check_session(thread_id));
            }
            Command::RegisterSession {
                app_server,
                thread,
                settings,
                tools,
                declared,
                origin,
                reply,
            } => {
                let _ = reply.send(
                    self.register_session(app_server, thread, settings, tools, declared, origin),
                );
            }
            Command::Attaching { thread_id, on } => {
                if on {
                    self.attaching.insert(thread_id);
                } else {
                    self.attaching.remove(&thread_id);
                }
            }
            Command::Detach { thread_id, reply } => {
                let _ = reply.send(self.detach(&thread_id));
            }
            Command::SetAutoAnswer {
                thread_id,
                on,
                reply,
            } => {
                let _ = reply.send(self.set_auto_answer(&thread_id, on));
            }
            Command::RecordTurn {
                thread_id,
                turn_id,
                options,
            } => {
                self.apply_turn_options(&thread_id, options);
                self.record_turn(&thread_id, &turn_id);
            }
            Command::CloseSession {
                thread_id,
                reason,
                reply,
            } => {
                let result = if self.sessions.contains_key(&thread_id) {
                    self.close_session(&thread_id, &reason);
                    Ok(())
                } else if self.closed.contains(&thread_id) {
                    // Closed already (and evicted): closing again changes nothing.
                    Ok(())
                } else {
                    Err(BridgeError::UnknownSession { thread_id })
                };
                let _ = reply.send(result);
            }
            Command::ListPending { thread_id, reply } => {
                let _ = reply.send(self.list_pending_calls(thread_id.as_deref()));
            }
            Command::ListRequests { thread_id, reply } => {
                let _ = reply.send(self.list_pending_requests(thread_id.as_deref()));
            }
            Command::Respond {
                request_id,
                result,
                by,
                claim_id,
                reply,
            } => match self.claim_refusal(&request_id, claim_id.as_deref()) {
                Some(claim) => {
                    let _ = reply.send(RespondOutcome::Claimed { claim });
                }
                None => self.start_write(
                    request_id,
                    Answer::ToolCall(result),
                    by,
                    Origin::ToolCaller(reply),
                ),
            },
            Command::Claim {
                request_id,
                ask,
                reply,
            } => {
                let _ = reply.send(self.claim(request_id, ask));
            }
            Command::Release {
                request_id,
                claim_id,
                reply,
            } => {
                let _ = reply.send(self.release(&request_id, &claim_id));
            }
            Command::Answer {
                request_id,
                answer,
                by,
                claim_id,
                reply,
            } => self.answer_request(request_id, answer, by, claim_id.as_deref(), reply),
            Command::Sessions { reply } => {
                let _ = reply.send(self.session_summaries());
            }
            Command::Session { thread_id, reply } => {
                let _ = reply.send(self.lookup(&thread_id, |s| Box::new(s.snapshot())));
            }
            Command::Summary { thread_id, reply } => {
                let found = match self.closed.get(&thread_id) {
                    Some(summary) => Lookup::Live(summary.clone()),
                    None => self.lookup(&thread_id, Session::summary),
                };
                let _ = reply.send(found);
            }
            Command::SessionSetup { thread_id, reply } => {
                let _ = reply.send(self.sessions.get(&thread_id).map(Session::setup));
            }
            Command::WaitTurn {
                thread_id,
                turn_id,
                reply,
            } => self.wait_turn(thread_id, turn_id, reply),
            Command::RetryTranscript {
                thread_id,
                epoch,
                reply,
            } => {
                let failing = self
                    .sessions
                    .get_mut(&thread_id)
                    .is_some_and(|s| s.transcript.retry(epoch));
                self.report_transcript(&thread_id);
                // A closed session whose rows were waiting can leave memory now.
                self.evict_closed(&thread_id);
                let _ = reply.send(failing);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::ToolStats { reply } => {
                let _ = reply.send(self.tool_stats.views());
            }
            Command::SetHold { change, reply } => {
                let _ = reply.send(self.set_hold(change));
            }
            Command::PrepareHandler { request_id, reply } => {
                let _ = reply.send(self.prepare_handler(&request_id));
            }
            Command::Reconnect { reply } => {
                let _ = reply.send(self.retry_connection());
            }
            Command::SetName { thread_id, name } => self.set_name(&thread_id, name),
            Command::ReloadCatalog { loaded, reply } => {
                let _ = reply.send(self.reload_catalog(loaded));
            }
            Command::CatalogStatus { reply } => {
                let _ = reply.send(self.catalog_status());
            }
            Command::Shutdown { reply } => {
                // The run loop stops on it before it gets here.
                let _ = reply.send(());
            }
            Command::Internal(internal) => {
                // The run loop takes these first; kept total for the compiler.
                let _ = self.on_internal(internal);
            }
        }
    }

    /// Swaps the catalog in (or reports why it could not be loaded) and says so. Calls
    /// already routed keep the handler spec they were routed with; the next one reads
    /// the new catalog. Sessions compare what they declared with it.
    fn reload_catalog(
        &mut self,
        loaded: std::result::Result<Arc<Catalog>, String>,
    ) -> crate::bridge::CatalogReload {
        use crate::bridge::reload::{self, ReloadChange, ReloadOutcome};
        let outcome = match loaded {
            Ok(catalog) => {
                let changes = self
                    .config
                    .catalog
                    .changes_to(&catalog)
                    .iter()
                    .map(ReloadChange::from)
                    .collect();
                self.config.catalog = catalog.clone();
                // A worker whose catalog entry changed is started again on its next call.
                let handlers = self.handlers.clone();
                let in_use = catalog.clone();
                tokio::spawn(async move { handlers.retire_workers(&in_use).await });
                self.catalog_tx.send_replace(catalog);
                self.catalog_generation += 1;
                for session in self.sessions.values_mut() {
                    if let Some(declared) = &session.declared {
                        session.outdated =
                            reload::outdated_tools(&session.tools, declared, &self.config.catalog);
                    }
                }
                ReloadOutcome::Loaded { changes }
            }
            Err(error) => ReloadOutcome::Failed { error },
        };
        let reload = crate::bridge::CatalogReload {
            at_ms: now_ms(),
            path: self
                .config
                .catalog
                .path
                .as_ref()
                .map(|p| p.display().to_string()),
            generation: self.catalog_generation,
            outcome,
            outdated_sessions: self.outdated_sessions(),
        };
        match reload.error() {
            None => tracing::info!(target: "bridge", "{}", reload.summary()),
            Some(error) => tracing::warn!(target: "bridge", "catalog reload failed: {error}"),
        }
        self.last_reload = Some(reload.clone());
        self.emit(BridgeEvent::CatalogReloaded {
            reload: reload.clone(),
            catalog: reload.is_ok().then(|| self.config.catalog.clone()),
        });
        reload
    }

    /// Open sessions whose threads carry older definitions, oldest first.
    fn outdated_sessions(&self) -> Vec<crate::bridge::OutdatedSession> {
        let mut list: Vec<_> = self
            .sessions
            .values()
            .filter(|s| !s.outdated.is_empty() && s.status != super::SessionStatus::Closed)
            .map(|s| (s.created_at_ms, s.thread_id.clone(), s.outdated.clone()))
            .collect();
        list.sort();
        list.into_iter()
            .map(|(_, thread_id, tools)| crate::bridge::OutdatedSession { thread_id, tools })
            .collect()
    }

    fn catalog_status(&self) -> crate::bridge::CatalogStatus {
        crate::bridge::CatalogStatus {
            path: self
                .config
                .catalog
                .path
                .as_ref()
                .map(|p| p.display().to_string()),
            generation: self.catalog_generation,
            tools: self.config.catalog.tools.len(),
            last_reload: self.last_reload.clone(),
            outdated_sessions: self.outdated_sessions(),
        }
    }

    fn set_hold(&mut self, change: HoldChange) -> HoldState {
        match change {
            HoldChange::All(held) => self.hold.all = held,
            HoldChange::Tool { tool, held: true } => {
                self.hold.tools.insert(tool);
            }
            HoldChange::Tool { tool, held: false } => {
                self.hold.tools.remove(&tool);
            }
        }
        self.emit(BridgeEvent::HoldChanged {
            hold: self.hold.clone(),
        });
        self.hold.clone()
    }

    /// Checks an answer against its request's kind, then writes it like any other.
    fn answer_request(
        &mut self,
        request_id: String,
        answer: AnswerInput,
        by: Responder,
        claim_id: Option<&str>,
        reply: Reply<AnswerOutcome>,
    ) {
        if let Some(claim) = self.claim_refusal(&request_id, claim_id) {
            let _ = reply.send(AnswerOutcome::Claimed { claim });
            return;
        }
        let Some(request) = self.pending.get(&request_id) else {
            let _ = reply.send(AnswerOutcome::NotFound);
            return;
        };
        let kind = request.request_kind();
        let parsed = match answer {
            AnswerInput::Raw(value) => Answer::parse(kind, value),
            AnswerInput::Typed(answer) => Ok(answer),
            AnswerInput::Decision {
                decision,
                for_session,
            } => request.simple_answer(decision, for_session),
        }
        .and_then(|answer| answers::check_answer(request, &answer).map(|()| answer));
        match parsed {
            Ok(answer) => self.start_write(request_id, answer, by, Origin::Caller(reply)),
            Err(message) => {
                let _ = reply.send(AnswerOutcome::Invalid { message });
            }
        }
    }

    /// A session by id: from memory, or where its transcript is when it is not there
    /// (with its summary when the bridge keeps one: an evicted closed session).
    fn lookup<T>(&self, thread_id: &str, live: impl FnOnce(&Session) -> T) -> Lookup<T> {
        if let Some(session) = self.sessions.get(thread_id) {
            return Lookup::Live(live(session));
        }
        match (&self.sessions_dir, super::transcript::file_name(thread_id)) {
            (Some(dir), Ok(name)) => Lookup::OnDisk {
                path: dir.join(name),
                summary: self.closed.get(thread_id).cloned().map(Box::new),
            },
            _ => Lookup::Unknown,
        }
    }

    /// Moves a closed session out of memory once every row of its transcript is on
    /// disk: its summary stays (see `ClosedSessions`), its rows are read back from the
    /// file when asked for. A session without a transcript file (a bridge without a
    /// data directory) stays whole: there is nothing to read it back from.
    fn evict_closed(&mut self, thread_id: &str) {
        let Some(session) = self.sessions.get(thread_id) else {
            return;
        };
        if session.status != super::session::SessionStatus::Closed
            || session.transcript.path().is_none()
            || !session.transcript.is_persisted()
        {
            return;
        }
        if let Some(session) = self.sessions.remove(thread_id) {
            self.file_changes
                .retain(|(thread, _), _| thread != thread_id);
            self.closed.insert(session.summary());
        }
    }

    /// Appends a row to a session's transcript; its number, if the session is known.
    fn append_row(
        &mut self,
        thread_id: &str,
        turn_id: Option<String>,
        entry: TranscriptEntry,
    ) -> Option<u64> {
        let session = self.sessions.get_mut(thread_id)?;
        // A row that cannot be written waits and is retried; `report_transcript` says so.
        let (row, _written) = session.transcript.append(now_ms(), turn_id, entry);
        let seq = row.seq;
        self.emit(BridgeEvent::TranscriptAppended {
            thread_id: thread_id.to_string(),
            row,
        });
        self.report_transcript(thread_id);
        Some(seq)
    }

    /// Reports a transcript that stopped (or started again) reaching the disk.
    fn report_transcript(&mut self, thread_id: &str) {
        if let Some(session) = self.sessions.get_mut(thread_id) {
            let events = super::transcript::report_changes(session, now_ms(), &self.self_tx);
            for event in events {
                self.emit(event);
            }
        }
    }
}

/// The reason given for a lost connection, saying that it is app-server's.
fn loss_reason(reason: String) -> String {
    if reason.starts_with("app-server") {
        reason
    } else {
        format!("app-server connection lost: {reason}")
    }
}

//! Recovery: what the bridge does when app-server is lost, and when Switchboard starts
//! again over transcripts it wrote before.
//!
//! - **Lost connection** (`on_connection_lost`): with a reconnect policy, the bridge
//!   restarts (stdio) or redials (websocket) app-server with back-off in a task of its
//!   own, initializes it, and resumes every session that was attached (`thread/resume`).
//!   A stdio child takes its pending requests with it, so those calls expire at once; a
//!   websocket app-server keeps them and sends them again after the resume, so they stay
//!   pending and are reconciled against the resumed thread.
//! - **Restart** (`restore_sessions`): sessions come back from their JSONL transcripts as
//!   `Restored`; their unfinished calls are remembered so that a replay after
//!   `resume_session` keeps the call's id and request row.
//!
//! Every step is an event (`Connection { Reconnecting | Connected | Disconnected }`,
//! `SessionRecovery`) and a transcript row, so the console and the API can show it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::{Actor, Internal, Slot, loss_reason};
use crate::appserver::{
    self, ConnectionHandle, ConnectionId, Connector, Inbound, InitializeInfo, ProtocolTap,
    RawConnection,
};
use crate::bridge::events::{BridgeEvent, ConnectionState, RecoveryStep};
use crate::bridge::pending::{ItemKey, PendingRequest};
use crate::bridge::session::{Session, SessionSnapshot, SessionStatus, SessionSummary, TurnRecord};
use crate::bridge::transcript::{
    MEMORY_WINDOW, Transcript, TranscriptEntry, TranscriptRow, read_transcript,
};
use crate::bridge::{Command, ReconnectPolicy};
use crate::catalog::Catalog;
use crate::protocol::{
    Answer, Request, RequestKind, ThreadIdParams, ThreadInfo, ThreadItem, TurnInfo, TurnStatus,
    method,
};
use crate::util::now_ms;

/// Answers kept for calls app-server may send again after a reconnect.
const KEPT_ANSWERS: usize = 1024;

/// What the reconnect and resume tasks report to the actor.
/// Each is about one app-server of the fleet, its `slot`.
pub(in crate::bridge) enum Progress {
    /// Attempt `attempt` (2 and up; the first is announced on the loss) starts after
    /// its back-off delay; `reason` is why the previous one failed.
    Attempt {
        slot: Slot,
        epoch: u64,
        attempt: u32,
        reason: String,
    },
    /// A new connection is open and initialized.
    Connected {
        slot: Slot,
        epoch: u64,
        link: Box<Link>,
    },
    /// Every attempt failed.
    GaveUp {
        slot: Slot,
        epoch: u64,
        reason: String,
    },
    /// The outcome of `thread/resume` for one session after a reconnect.
    Resumed {
        slot: Slot,
        generation: ConnectionId,
        thread_id: String,
        result: Result<Value, String>,
    },
}

/// A new, initialized connection to app-server.
pub(in crate::bridge) struct Link {
    conn: ConnectionHandle,
    inbound: mpsc::Receiver<Inbound>,
    info: InitializeInfo,
    /// Dropping or firing it kills a spawned app-server.
    kill: Option<oneshot::Sender<()>>,
    pid: Option<u32>,
    generation: ConnectionId,
}

/// One app-server's reconnecting: each has its own rounds and back-off, so one that is
/// down never holds up the others.
#[derive(Default)]
pub(super) struct Reconnection {
    /// Counts connection losses, so progress from the reconnect task of an earlier loss
    /// is recognised and ignored.
    epoch: u64,
    /// Sessions to resume once a new connection is up.
    to_resume: HashSet<String>,
    /// Sessions whose `thread/resume` is under way on the current connection.
    resuming: HashSet<String>,
    /// Sessions that were waiting to be resumed when reconnecting gave up; a retry
    /// resumes them.
    gave_up: HashSet<String>,
}

/// What recovery keeps across the fleet (request ids are unique across app-servers).
#[derive(Default)]
pub(super) struct RecoveryState {
    /// Junk lines counted by connections that are gone, for the status total.
    pub(super) junk_lines_before: u64,
    /// Calls kept over a lost connection (or restored from a transcript and sent again),
    /// so a resume counts those app-server sent again before its reply was handled.
    /// A call leaves it when it ends (`Actor::finish`).
    pub(super) carried: HashSet<String>,
    /// Requests read back from transcripts with no end row, by (thread, kind, item).
    restored_calls: HashMap<ItemKey, RestoredCall>,
    kept_answers: KeptAnswers,
}

/// A call whose request row has no end row in a restored transcript: app-server may
/// still be waiting on it.
#[derive(Debug, Clone)]
pub(super) struct RestoredCall {
    pub(super) request_id: String,
    pub(super) thread_id: String,
    pub(super) turn_id: Option<String>,
    pub(super) kind: RequestKind,
    pub(super) method: String,
    /// The call id of a tool call, the item id of an approval or question.
    pub(super) item_id: String,
    /// The tool of a tool call, empty for the other kinds.
    pub(super) tool: String,
    pub(super) received_at_ms: i64,
}

impl RestoredCall {
    fn key(&self) -> ItemKey {
        ItemKey::new(&self.thread_id, self.kind, &self.item_id)
    }
}

/// The last answers written, by (thread, callId), with the connection they went to.
/// When a websocket drops just after an answer was written, app-server may never have
/// read it and sends the call again on resume: the same answer goes again (app-server
/// takes the first answer it gets, so this is never a second answer).
#[derive(Default)]
struct KeptAnswers {
    order: VecDeque<ItemKey>,
    answers: HashMap<ItemKey, KeptAnswer>,
}

struct KeptAnswer {
    request_id: String,
    answer: Answer,
    connection: ConnectionId,
}

impl KeptAnswers {
    fn keep(&mut self, key: ItemKey, answer: KeptAnswer) {
        if self.answers.insert(key.clone(), answer).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > KEPT_ANSWERS {
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
    }
}

/// Where app-server stands with a request after a resume: still waiting, or ended (why).
enum Standing {
    Waiting,
    Ended(String),
}

impl Actor {
    /// A websocket app-server outlives its connection and keeps the calls it sent; a
    /// child on stdio is gone with its pipes, and its calls with it.
    pub(super) fn keeps_calls(&self, slot: Slot) -> bool {
        self.upstreams.get(slot).is_some_and(|u| u.keeps_calls)
    }

    /// An app-server's connection is gone. Without a reconnect policy (or a way to
    /// reconnect) this is final; otherwise its sessions wait while a task restarts or
    /// redials it. The other app-servers are not touched.
    pub(super) fn on_connection_lost(&mut self, slot: Slot, reason: String) {
        let Some(up) = self.upstreams.get(slot) else {
            return;
        };
        if up.conn.is_none() {
            return;
        }
        let policy = self.config.reconnect.clone();
        let connector = match &up.connector {
            Some(connector) if policy.enabled && policy.max_attempts > 0 => connector.clone(),
            _ => return self.on_disconnect(slot, reason),
        };
        let reason = match self.called(slot) {
            called if called.is_empty() => loss_reason(reason),
            called => format!("app-server{called}: {}", loss_reason(reason)),
        };
        tracing::warn!(target: "bridge", "{reason}; reconnecting");
        let up = &mut self.upstreams[slot];
        if let Some(conn) = up.conn.take() {
            self.recovery.junk_lines_before += conn.junk_lines();
        }
        if let Some(kill) = up.kill.take() {
            let _ = kill.send(());
        }
        let name = up.name.clone();
        let requests = self.requests_of(slot);
        if self.keeps_calls(slot) {
            self.recovery.carried.extend(requests);
        } else {
            // The process is gone, and every request it sent with it.
            for request_id in requests {
                self.expire(&request_id, reason.clone());
            }
        }
        let reconnection = &mut self.upstreams[slot].reconnection;
        let interrupted: Vec<String> = reconnection.resuming.drain().collect();
        reconnection.to_resume.extend(interrupted);
        let mut detached = Vec::new();
        for session in self.sessions.values_mut() {
            if session.app_server == name
                && (is_attached(session.status) || session.status == SessionStatus::Disconnected)
            {
                session.status = SessionStatus::Disconnected;
                session.updated_at_ms = now_ms();
                detached.push(session.thread_id.clone());
            }
        }
        detached.sort();
        for thread_id in &detached {
            self.upstreams[slot]
                .reconnection
                .to_resume
                .insert(thread_id.clone());
            self.append_row(
                thread_id,
                None,
                TranscriptEntry::Error {
                    message: format!("{reason}; reconnecting"),
                },
            );
            self.emit_session(thread_id);
        }
        self.emit(BridgeEvent::Error {
            thread_id: None,
            message: format!("{reason}; reconnecting"),
        });
        self.start_reconnect(slot, connector, policy, reason);
    }

    /// An app-server of a fleet that could not be reached at start: it reconnects with
    /// back-off like one lost later (see `actor::spawn`).
    pub(super) fn start_first_reconnect(&mut self, slot: Slot, reason: String) {
        let Some(connector) = self.upstreams.get(slot).and_then(|u| u.connector.clone()) else {
            return;
        };
        let policy = self.config.reconnect.clone();
        self.start_reconnect(slot, connector, policy, reason);
    }

    /// Announces attempt 1 and starts the task that restarts or redials an app-server.
    fn start_reconnect(
        &mut self,
        slot: Slot,
        connector: Connector,
        policy: ReconnectPolicy,
        reason: String,
    ) {
        let generation = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.connections.insert(generation, slot);
        let up = &mut self.upstreams[slot];
        up.reconnection.epoch += 1;
        up.state = reconnecting(&policy, 1, reason.clone());
        let epoch = up.reconnection.epoch;
        let called = self.called(slot);
        self.emit_connection(slot);
        tokio::spawn(reconnect(Reconnect {
            slot,
            called,
            connector,
            policy,
            commands: self.self_tx.clone(),
            epoch,
            generation,
            tap: self.tap.clone(),
            request_timeout: self.config.request_timeout,
            reason,
        }));
    }

    /// Applies what the reconnect and resume tasks report. Returns the inbound receiver
    /// of a new connection and its app-server, which the run loop reads from then on.
    pub(super) fn on_recovery(
        &mut self,
        progress: Progress,
    ) -> Option<(Slot, mpsc::Receiver<Inbound>)> {
        match progress {
            Progress::Attempt {
                slot,
                epoch,
                attempt,
                reason,
            } => {
                let policy = self.config.reconnect.clone();
                if let Some(up) = self.upstreams.get_mut(slot)
                    && epoch == up.reconnection.epoch
                    && up.conn.is_none()
                {
                    up.state = reconnecting(&policy, attempt, reason);
                    self.emit_connection(slot);
                }
                None
            }
            Progress::Connected { slot, epoch, link } => self
                .on_reconnected(slot, epoch, *link)
                .map(|inbound| (slot, inbound)),
            Progress::GaveUp {
                slot,
                epoch,
                reason,
            } => {
                let up = self.upstreams.get_mut(slot)?;
                if epoch == up.reconnection.epoch && up.conn.is_none() {
                    tracing::error!(target: "bridge", "{reason}");
                    // A retry (`retry_connection`) resumes these again.
                    let mut gave_up: Vec<String> = up.reconnection.to_resume.drain().collect();
                    gave_up.sort();
                    up.reconnection.gave_up.extend(gave_up.iter().cloned());
                    for thread_id in &gave_up {
                        self.append_row(
                            thread_id,
                            None,
                            TranscriptEntry::Error {
                                message: reason.clone(),
                            },
                        );
                    }
                    self.lose_for_good(slot, reason);
                }
                None
            }
            Progress::Resumed {
                slot,
                generation,
                thread_id,
                result,
            } => {
                self.on_resumed(slot, generation, &thread_id, result);
                None
            }
        }
    }

    /// Tries again after connections were lost for good (reconnecting gave up, or no
    /// reconnect was configured): one more round of attempts with back-off for each
    /// app-server that is down, and the sessions that were attached to it are resumed
    /// once one succeeds. Connected or already reconnecting, there is nothing to do.
    pub(super) fn retry_connection(&mut self) -> crate::bridge::Result<()> {
        let mut refused = None;
        for slot in 0..self.upstreams.len() {
            if let Err(e) = self.retry_upstream(slot) {
                refused.get_or_insert(e);
            }
        }
        refused.map_or(Ok(()), Err)
    }

    fn retry_upstream(&mut self, slot: Slot) -> crate::bridge::Result<()> {
        let up = &mut self.upstreams[slot];
        if !matches!(up.state, ConnectionState::Disconnected { .. }) {
            return Ok(());
        }
        let Some(connector) = up.connector.clone() else {
            return Err(crate::bridge::BridgeError::Disconnected {
                reason:
                    "this connection cannot be opened again (it was handed to Switchboard open)"
                        .to_string(),
            });
        };
        let policy = match &self.config.reconnect {
            policy if policy.enabled && policy.max_attempts > 0 => policy.clone(),
            _ => ReconnectPolicy::standard(),
        };
        let name = up.name.clone();
        let mut threads: Vec<String> = up.reconnection.gave_up.drain().collect();
        if threads.is_empty() {
            // Lost without a reconnect policy: every session of it that is not closed.
            threads = self
                .sessions
                .values()
                .filter(|s| s.status == SessionStatus::Disconnected && s.app_server == name)
                .map(|s| s.thread_id.clone())
                .collect();
        }
        threads.sort();
        let reason = "retrying as asked".to_string();
        let called = self.called(slot);
        tracing::info!(target: "bridge", "reconnecting to app-server{called} again, as asked");
        for thread_id in &threads {
            if self
                .sessions
                .get(thread_id)
                .is_some_and(|s| s.status != SessionStatus::Closed)
            {
                self.upstreams[slot]
                    .reconnection
                    .to_resume
                    .insert(thread_id.clone());
                self.append_row(
                    thread_id,
                    None,
                    TranscriptEntry::Notice {
                        message: format!("reconnecting to app-server{called} again, as asked"),
                    },
                );
            }
        }
        self.start_reconnect(slot, connector, policy, reason);
        Ok(())
    }

    fn on_reconnected(
        &mut self,
        slot: Slot,
        epoch: u64,
        link: Link,
    ) -> Option<mpsc::Receiver<Inbound>> {
        let up = self.upstreams.get_mut(slot)?;
        if epoch != up.reconnection.epoch || up.conn.is_some() {
            if let Some(kill) = link.kill {
                let _ = kill.send(());
            }
            return None;
        }
        tracing::info!(target: "bridge", "reconnected to app-server {} {} (connection {})", up.name, link.info.user_agent, link.generation);
        up.id = link.generation;
        up.kill = link.kill;
        up.conn = Some(link.conn.clone());
        up.state = ConnectionState::Connected {
            server_version: link.info.server_version,
            user_agent: link.info.user_agent,
            pid: link.pid,
        };
        let mut threads: Vec<String> = up.reconnection.to_resume.drain().collect();
        threads.sort();
        up.reconnection.resuming = threads.iter().cloned().collect();
        self.emit_connection(slot);
        spawn_resumes(&link.conn, &self.self_tx, slot, link.generation, threads);
        Some(link.inbound)
    }

    /// Resumes every restored session at start, each on its app-server, as a reconnect
    /// resumes the attached ones.
    pub(super) fn resume_restored(&mut self) {
        for slot in 0..self.upstreams.len() {
            let up = &self.upstreams[slot];
            let Some(conn) = up.conn.clone() else {
                continue;
            };
            let mut threads: Vec<String> = self
                .sessions
                .values()
                .filter(|s| s.status == SessionStatus::Restored && s.app_server == up.name)
                .map(|s| s.thread_id.clone())
                .collect();
            threads.sort();
            let generation = up.id;
            self.upstreams[slot]
                .reconnection
                .resuming
                .extend(threads.iter().cloned());
            spawn_resumes(&conn, &self.self_tx, slot, generation, threads);
        }
    }

    fn on_resumed(
        &mut self,
        slot: Slot,
        generation: ConnectionId,
        thread_id: &str,
        result: Result<Value, String>,
    ) {
        let Some(up) = self.upstreams.get_mut(slot) else {
            return;
        };
        // Lost again meanwhile: the next reconnect resumes the session again.
        if generation != up.id || up.conn.is_none() {
            return;
        }
        if !up.reconnection.resuming.remove(thread_id) {
            return;
        }
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        // Closed meanwhile, or resumed by hand.
        let was = session.status;
        if !matches!(was, SessionStatus::Disconnected | SessionStatus::Restored) {
            return;
        }
        let parsed = result.and_then(|reply| {
            session.settings = crate::bridge::SessionSettings::from_thread_result(&reply);
            let thread = reply
                .get("thread")
                .cloned()
                .ok_or_else(|| "no `thread` in the reply".to_string())?;
            let info: ThreadInfo =
                serde_json::from_value(thread.clone()).map_err(|e| e.to_string())?;
            Ok((thread, info))
        });
        match parsed {
            Ok((thread, info)) => {
                session.thread = thread;
                session.status = SessionStatus::Idle;
                self.reconcile_resumed(thread_id, &info, was);
                self.emit_session(thread_id);
            }
            Err(reason) => self.resume_failed(thread_id, &reason),
        }
    }

    /// Brings a resumed session in line with what app-server reports of its thread:
    /// calls and turns that ended while we were away end here too, the rest go on.
    pub(super) fn reconcile_resumed(
        &mut self,
        thread_id: &str,
        info: &ThreadInfo,
        was: SessionStatus,
    ) {
        let resuming = matches!(
            was,
            SessionStatus::Disconnected | SessionStatus::Restored | SessionStatus::ResumeFailed
        );
        if !resuming {
            return;
        }
        let turns = thread_turns(info);
        let active = info.status.as_ref().is_some_and(|s| s.kind == "active");
        let slot = self.slot_of_thread(thread_id);
        let generation = self.upstreams[slot].id;
        let (mut kept, mut expired) = (0, 0);
        // Sent again before this reply was handled: app-server still waits on them.
        let carried = &mut self.recovery.carried;
        for request in self.pending.iter() {
            if request.thread_id == thread_id
                && request.connection == generation
                && carried.remove(&request.key)
            {
                kept += 1;
            }
        }
        let left_behind: Vec<(String, String, String)> = self
            .pending
            .iter()
            .filter(|r| r.thread_id == thread_id && r.connection != generation)
            .map(|r| {
                (
                    r.key.clone(),
                    r.turn_id.clone().unwrap_or_default(),
                    r.item_id().unwrap_or_default(),
                )
            })
            .collect();
        for (request_id, turn_id, item_id) in left_behind {
            self.recovery.carried.remove(&request_id);
            match standing(&turns, &turn_id, &item_id, active) {
                Standing::Waiting => kept += 1,
                Standing::Ended(reason) => {
                    self.expire(&request_id, reason);
                    expired += 1;
                }
            }
        }
        let restored: Vec<RestoredCall> = self
            .recovery
            .restored_calls
            .values()
            .filter(|c| c.thread_id == thread_id)
            .cloned()
            .collect();
        // A child on stdio started with this Switchboard: the calls of the earlier one
        // went with the process that asked them.
        let fresh_process = was == SessionStatus::Restored && !self.keeps_calls(slot);
        for call in restored {
            let turn_id = call.turn_id.clone().unwrap_or_default();
            let standing = match standing(&turns, &turn_id, &call.item_id, active) {
                Standing::Waiting if fresh_process => Standing::Ended(
                    "the app-server that asked for it is gone: Switchboard restarted it"
                        .to_string(),
                ),
                other => other,
            };
            match standing {
                Standing::Waiting => kept += 1,
                Standing::Ended(reason) => {
                    self.expire(&call.request_id, reason);
                    expired += 1;
                }
            }
        }
        let running: Vec<String> = self
            .sessions
            .get(thread_id)
            .map(|s| {
                s.turns
                    .iter()
                    .filter(|t| !t.status.is_terminal())
                    .map(|t| t.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for turn_id in running {
            match turns.iter().find(|(turn, _)| turn.id == turn_id) {
                Some((turn, _)) if turn.status.is_terminal() => self.complete_turn(
                    thread_id,
                    &turn_id,
                    turn.status,
                    turn.error.as_ref().map(|e| e.message.clone()),
                ),
                Some(_) => {}
                None if active => {}
                None => self.complete_turn(
                    thread_id,
                    &turn_id,
                    TurnStatus::Interrupted,
                    Some("app-server no longer knows this turn".to_string()),
                ),
            }
        }
        if let Some(session) = self.sessions.get_mut(thread_id) {
            session.status = if active {
                SessionStatus::Running
            } else {
                SessionStatus::Idle
            };
            session.updated_at_ms = now_ms();
        }
        let after = match was {
            SessionStatus::Restored => "after Switchboard restarted",
            _ => "after the app-server connection came back",
        };
        self.append_row(
            thread_id,
            None,
            TranscriptEntry::Notice {
                message: format!(
                    "resumed {after}: {}",
                    RecoveryStep::resumed_text(kept, expired)
                ),
            },
        );
        self.emit(BridgeEvent::SessionRecovery {
            thread_id: thread_id.to_string(),
            step: RecoveryStep::Resumed {
                calls_kept: kept,
                calls_expired: expired,
            },
        });
    }

    /// `thread/resume` failed after a reconnect: the session cannot go on. Its calls and
    /// turns end with the reason, which the transcript keeps.
    fn resume_failed(&mut self, thread_id: &str, reason: &str) {
        let reason = if reason.contains("no rollout found") {
            format!(
                "could not resume the session: app-server keeps no record of a thread before its first turn ({reason})"
            )
        } else {
            format!("could not resume the session: {reason}")
        };
        tracing::warn!(target: "bridge", "{thread_id}: {reason}");
        let running: Vec<String> = match self.sessions.get_mut(thread_id) {
            Some(session) => {
                session.status = SessionStatus::ResumeFailed;
                session.updated_at_ms = now_ms();
                session
                    .turns
                    .iter()
                    .filter(|t| !t.status.is_terminal())
                    .map(|t| t.id.clone())
                    .collect()
            }
            None => return,
        };
        for request_id in self.pending.keys_where(|r| r.thread_id == thread_id) {
            self.expire(&request_id, reason.clone());
        }
        self.expire_restored_calls(thread_id, None, &reason);
        for turn_id in running {
            self.complete_turn(
                thread_id,
                &turn_id,
                TurnStatus::Failed,
                Some(reason.clone()),
            );
        }
        self.append_row(
            thread_id,
            None,
            TranscriptEntry::Error {
                message: reason.clone(),
            },
        );
        self.emit_session(thread_id);
        self.emit(BridgeEvent::SessionRecovery {
            thread_id: thread_id.to_string(),
            step: RecoveryStep::ResumeFailed { reason },
        });
    }

    fn emit_session(&self, thread_id: &str) {
        if let Some(session) = self.sessions.get(thread_id) {
            self.emit(BridgeEvent::SessionUpdated {
                session: session.summary(),
            });
        }
    }

    // ----- answers app-server may ask for again ----------------------------------------

    pub(super) fn keep_answer(&mut self, request: &PendingRequest, answer: &Answer) {
        let Some(key) = request.item_key() else {
            return;
        };
        self.recovery.kept_answers.keep(
            key,
            KeptAnswer {
                request_id: request.key.clone(),
                answer: answer.clone(),
                connection: request.connection,
            },
        );
    }

    /// A request we already answered came again. On a newer connection app-server never
    /// read the answer, so it is written again. On the connection that got the answer a
    /// tool call is a duplicate, ignored, while an approval or a question about the same
    /// item is a new request. Returns whether the request was taken care of.
    pub(super) fn resend_kept_answer(
        &mut self,
        request: &Request,
        thread_id: &str,
        turn_id: &str,
        kind: RequestKind,
        item: &str,
    ) -> bool {
        let key = ItemKey::new(thread_id, kind, item);
        let Some(kept) = self.recovery.kept_answers.answers.get(&key) else {
            return false;
        };
        let Some(conn) = self.upstreams[self.source].conn.clone() else {
            return true;
        };
        if kept.connection == conn.id() {
            if kind != RequestKind::ToolCall {
                // codex may ask again about the same item on the same connection (a
                // command retried without the sandbox after it failed in it): a new
                // request, not a duplicate.
                self.recovery.kept_answers.answers.remove(&key);
                return false;
            }
            tracing::info!(target: "bridge", "ignoring app-server's duplicate of answered request {}", kept.request_id);
            return true;
        }
        let request_id = kept.request_id.clone();
        let value = kept.answer.to_value();
        if let Some(kept) = self.recovery.kept_answers.answers.get_mut(&key) {
            kept.connection = conn.id();
        }
        let rpc_id = request.id.clone();
        let label = request_id.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.respond(rpc_id, value).await {
                tracing::warn!(target: "bridge", "could not send the answer of {label} again: {e}");
            }
        });
        self.append_row(
            thread_id,
            Some(turn_id.to_string()),
            TranscriptEntry::Notice {
                message: format!(
                    "app-server asked for call {request_id} again after the reconnect: its answer had not arrived, so it was sent again"
                ),
            },
        );
        true
    }

    // ----- sessions read back from transcripts ------------------------------------------

    /// Reads every transcript in the data directory back as a `Restored` session (or a
    /// `Closed` one). Files that cannot be read are logged and left alone.
    pub(super) fn restore_sessions(&mut self) {
        let Some(dir) = self.sessions_dir.clone() else {
            return;
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!(target: "bridge", "could not list {}: {e}", dir.display());
                return;
            }
        };
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
            .collect();
        paths.sort();
        let mut closed = Vec::new();
        for path in paths {
            let read = match read_back(&path) {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(target: "bridge", "not restoring {}: {e}", path.display());
                    continue;
                }
            };
            let thread_id = read.folded.thread_id.clone();
            if self.sessions.contains_key(&thread_id) || self.closed.contains(&thread_id) {
                continue;
            }
            if read.folded.closed {
                // Closed: only its summary is kept in memory (see `ClosedSessions`).
                if crate::bridge::transcript::file_name(&thread_id)
                    .is_ok_and(|name| dir.join(name) == path)
                {
                    closed.push(read.folded.summary(&path));
                } else {
                    tracing::warn!(target: "bridge", "not restoring {}: it is not the transcript file of thread {thread_id}", path.display());
                }
                continue;
            }
            let (rows, skipped_lines) = (read.folded.row_count, read.skipped_lines);
            let app_server = self.app_server_for(read.folded.app_server.as_deref());
            match restore_session(&dir, &path, read, &self.config.catalog, app_server) {
                Ok((session, calls)) => {
                    let unfinished = calls.len();
                    for call in calls {
                        self.recovery.restored_calls.insert(call.key(), call);
                    }
                    let summary = session.summary();
                    self.sessions.insert(thread_id.clone(), session);
                    tracing::info!(target: "bridge", "restored session {thread_id} ({rows} rows, {unfinished} unfinished calls, {skipped_lines} unreadable lines skipped)");
                    self.emit(BridgeEvent::SessionStarted { session: summary });
                    self.emit(BridgeEvent::SessionRecovery {
                        thread_id: thread_id.clone(),
                        step: RecoveryStep::Restored {
                            rows,
                            unfinished_calls: unfinished,
                            skipped_lines,
                        },
                    });
                    if let Some(message) = super::super::transcript::skipped_notice(skipped_lines) {
                        self.append_row(&thread_id, None, TranscriptEntry::Notice { message });
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "bridge", "not restoring {}: {e}", path.display());
                }
            }
        }
        // The most recently closed are the ones kept when there are more than the cap.
        closed.sort_by_key(|s| s.updated_at_ms);
        for summary in closed {
            tracing::info!(target: "bridge", "restored closed session {} (summary only)", summary.thread_id);
            self.emit(BridgeEvent::SessionStarted {
                session: summary.clone(),
            });
            self.closed.insert(summary);
        }
    }

    /// The app-server a session read back from its transcript is on: the one its first
    /// row names when the fleet has it, else the default.
    fn app_server_for(&self, recorded: Option<&str>) -> String {
        let slot = recorded.and_then(|name| self.slot_named(name)).unwrap_or(0);
        self.upstreams
            .get(slot)
            .map(|u| u.name.clone())
            .unwrap_or_default()
    }

    /// Brings a closed session back into memory from its transcript, to be resumed: its
    /// file is opened to append to, numbering going on after its last row. False when
    /// it is not a closed session of this data directory.
    pub(super) fn bring_back_closed(&mut self, thread_id: &str) -> bool {
        let Some(dir) = self.sessions_dir.clone() else {
            return false;
        };
        let Ok(name) = crate::bridge::transcript::file_name(thread_id) else {
            return false;
        };
        let path = dir.join(name);
        let read = match read_back(&path) {
            Ok(read) if read.folded.closed && read.folded.thread_id == thread_id => read,
            Ok(_) => return false,
            Err(e) => {
                if self.closed.contains(thread_id) {
                    tracing::warn!(target: "bridge", "could not read closed session {thread_id} back: {e}");
                }
                return false;
            }
        };
        let app_server = self.app_server_for(read.folded.app_server.as_deref());
        match restore_session(&dir, &path, read, &self.config.catalog, app_server) {
            Ok((session, _)) => {
                self.closed.remove(thread_id);
                self.sessions.insert(thread_id.to_string(), session);
                true
            }
            Err(e) => {
                tracing::warn!(target: "bridge", "could not reopen closed session {thread_id}: {e}");
                false
            }
        }
    }

    /// The restored request app-server sent again, if it is one: it becomes live under
    /// its old id, which is returned.
    pub(super) fn take_restored_item(
        &mut self,
        thread_id: &str,
        kind: RequestKind,
        item: &str,
    ) -> Option<String> {
        let call = self
            .recovery
            .restored_calls
            .remove(&ItemKey::new(thread_id, kind, item))?;
        self.recovery.carried.insert(call.request_id.clone());
        Some(call.request_id)
    }

    /// The restored request with this id, taken out to be ended (by `finish`).
    pub(super) fn take_restored(&mut self, request_id: &str) -> Option<RestoredCall> {
        let key = self
            .recovery
            .restored_calls
            .iter()
            .find(|(_, c)| c.request_id == request_id)
            .map(|(k, _)| k.clone())?;
        self.recovery.restored_calls.remove(&key)
    }

    /// Ends restored requests of a session (or of one of its turns) that app-server will
    /// not send again.
    pub(super) fn expire_restored_calls(
        &mut self,
        thread_id: &str,
        turn_id: Option<&str>,
        reason: &str,
    ) {
        if self.recovery.restored_calls.is_empty() {
            return;
        }
        let mut ids: Vec<(i64, String)> = self
            .recovery
            .restored_calls
            .values()
            .filter(|c| {
                c.thread_id == thread_id && turn_id.is_none_or(|t| c.turn_id.as_deref() == Some(t))
            })
            .map(|c| (c.received_at_ms, c.request_id.clone()))
            .collect();
        ids.sort();
        for (_, request_id) in ids {
            self.expire(&request_id, reason.to_string());
        }
    }
}

/// Sessions that were talking to app-server when the connection went.
pub(super) fn is_attached(status: SessionStatus) -> bool {
    match status {
        SessionStatus::Idle | SessionStatus::Running | SessionStatus::Failed => true,
        SessionStatus::Disconnected
        | SessionStatus::Restored
        | SessionStatus::ResumeFailed
        | SessionStatus::Closed => false,
    }
}

fn reconnecting(policy: &ReconnectPolicy, attempt: u32, reason: String) -> ConnectionState {
    ConnectionState::Reconnecting {
        attempt,
        max_attempts: policy.max_attempts,
        delay_ms: u64::try_from(policy.delay(attempt).as_millis()).unwrap_or(u64::MAX),
        reason,
    }
}

/// A resumed thread's turns with their items.
fn thread_turns(info: &ThreadInfo) -> Vec<(TurnInfo, Vec<ThreadItem>)> {
    info.turns
        .iter()
        .filter_map(|value| {
            let turn: TurnInfo = serde_json::from_value(value.clone()).ok()?;
            let items = value
                .get("items")
                .and_then(Value::as_array)
                .map(|items| items.iter().map(ThreadItem::from_value).collect())
                .unwrap_or_default();
            Some((turn, items))
        })
        .collect()
}

/// Whether app-server still waits on a call, judged from the resumed thread.
fn standing(
    turns: &[(TurnInfo, Vec<ThreadItem>)],
    turn_id: &str,
    call_id: &str,
    thread_active: bool,
) -> Standing {
    let Some((turn, items)) = turns.iter().find(|(turn, _)| turn.id == turn_id) else {
        return if thread_active {
            Standing::Waiting
        } else {
            Standing::Ended("app-server no longer runs the call's turn".to_string())
        };
    };
    let item_status = items.iter().find_map(|item| match item {
        ThreadItem::DynamicToolCall { id, status, .. } if id == call_id => Some(status.as_str()),
        _ => None,
    });
    match item_status {
        Some(status) if status != "inProgress" => Standing::Ended(format!(
            "app-server ended the call while Switchboard was away (item {status})"
        )),
        _ if turn.status.is_terminal() => Standing::Ended(format!(
            "turn {} while Switchboard was away",
            turn.status.as_str()
        )),
        _ => Standing::Waiting,
    }
}

/// Starts `thread/resume` for each thread on `conn`; each outcome comes back as
/// [`Progress::Resumed`].
fn spawn_resumes(
    conn: &ConnectionHandle,
    commands: &mpsc::WeakSender<Command>,
    slot: Slot,
    generation: ConnectionId,
    threads: Vec<String>,
) {
    for thread_id in threads {
        let conn = conn.clone();
        let commands = commands.clone();
        tokio::spawn(async move {
            let params = ThreadIdParams {
                thread_id: thread_id.clone(),
            };
            let result = match serde_json::to_value(&params) {
                Ok(params) => conn
                    .request(method::THREAD_RESUME, params)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            report(
                &commands,
                Progress::Resumed {
                    slot,
                    generation,
                    thread_id,
                    result,
                },
            )
            .await;
        });
    }
}

/// What a reconnect task needs.
struct Reconnect {
    slot: Slot,
    /// The app-server's name as messages say it (empty with a single app-server).
    called: String,
    connector: Connector,
    policy: ReconnectPolicy,
    /// Weak, like the actor's own sender: a reconnect never keeps a stopped bridge alive.
    commands: mpsc::WeakSender<Command>,
    epoch: u64,
    generation: ConnectionId,
    tap: ProtocolTap,
    request_timeout: Duration,
    reason: String,
}

/// Tries to open and initialize a new connection with back-off, and reports each step.
async fn reconnect(task: Reconnect) {
    let mut reason = task.reason;
    for attempt in 1..=task.policy.max_attempts {
        if attempt > 1
            && !report(
                &task.commands,
                Progress::Attempt {
                    slot: task.slot,
                    epoch: task.epoch,
                    attempt,
                    reason: reason.clone(),
                },
            )
            .await
        {
            return;
        }
        tokio::time::sleep(task.policy.delay(attempt)).await;
        match open(
            &task.connector,
            task.generation,
            &task.tap,
            task.request_timeout,
        )
        .await
        {
            Ok(link) => {
                // If the bridge stopped meanwhile, dropping the link kills the child.
                report(
                    &task.commands,
                    Progress::Connected {
                        slot: task.slot,
                        epoch: task.epoch,
                        link: Box::new(link),
                    },
                )
                .await;
                return;
            }
            Err(e) => {
                tracing::warn!(target: "bridge", "reconnect attempt {attempt} to app-server{} failed: {e}", task.called);
                reason = e.to_string();
            }
        }
    }
    report(
        &task.commands,
        Progress::GaveUp {
            slot: task.slot,
            epoch: task.epoch,
            reason: format!(
                "gave up reconnecting to app-server{} after {} attempts; the last one failed with: {reason}",
                task.called, task.policy.max_attempts
            ),
        },
    )
    .await;
}

async fn open(
    connector: &Connector,
    generation: ConnectionId,
    tap: &ProtocolTap,
    request_timeout: Duration,
) -> Result<Link, appserver::AppServerError> {
    let RawConnection {
        outgoing,
        incoming,
        child_pid,
        kill,
    } = connector().await?;
    // The kill switch stays with us: the connection must not kill the child when its
    // reader ends, only the bridge decides that.
    let raw = RawConnection {
        outgoing,
        incoming,
        child_pid,
        kill: None,
    };
    let (conn, inbound) =
        appserver::connection::start(raw, generation.0, tap.clone(), request_timeout);
    match conn.initialize(env!("CARGO_PKG_VERSION")).await {
        Ok(info) => Ok(Link {
            conn,
            inbound,
            info,
            kill,
            pid: child_pid,
            generation,
        }),
        Err(e) => {
            if let Some(kill) = kill {
                let _ = kill.send(());
            }
            Err(e)
        }
    }
}

/// Sends progress to the actor; false once the bridge has stopped.
async fn report(commands: &mpsc::WeakSender<Command>, progress: Progress) -> bool {
    let Some(tx) = commands.upgrade() else {
        return false;
    };
    tx.send(Command::Internal(Internal::Recovery(progress)))
        .await
        .is_ok()
}

/// What a transcript's rows say about its session.
pub(in crate::bridge) struct Folded {
    thread_id: String,
    /// The app-server its first row names (only a bridge with several writes it).
    app_server: Option<String>,
    cwd: Option<String>,
    model: Option<String>,
    tools: Vec<String>,
    watched: bool,
    turns: Vec<TurnRecord>,
    title: String,
    closed: bool,
    calls: HashMap<String, RestoredCall>,
    created_at_ms: i64,
    updated_at_ms: i64,
    row_count: u64,
}

impl Folded {
    pub(in crate::bridge) fn closed(&self) -> bool {
        self.closed
    }

    pub(in crate::bridge) fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// A watched thread stays watched when read back (its requests are not ours to
    /// answer); any other is one of Switchboard's own.
    fn origin(&self) -> crate::bridge::SessionOrigin {
        if self.watched {
            crate::bridge::SessionOrigin::Watched
        } else {
            crate::bridge::SessionOrigin::Started
        }
    }

    /// The summary of a session that is not in memory: everything it says is on disk.
    pub(in crate::bridge) fn summary(&self, path: &Path) -> SessionSummary {
        SessionSummary {
            thread_id: self.thread_id.clone(),
            app_server: self.app_server.clone().unwrap_or_default(),
            title: self.title.clone(),
            // The name, activity and token usage are not in the transcript rows.
            name: None,
            activity: None,
            turn_started_at_ms: None,
            token_usage: None,
            status: if self.closed {
                SessionStatus::Closed
            } else {
                SessionStatus::Restored
            },
            origin: self.origin(),
            auto_answer: false,
            cwd: self.cwd.clone(),
            model: self.model.clone(),
            model_provider: None,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            turn_count: self.turns.len(),
            active_turn_id: None,
            tools: self.tools.clone(),
            transcript_path: Some(path.display().to_string()),
            persisted: true,
            persist_error: None,
        }
    }

    /// A snapshot of a session read back from disk: its turns and its last rows (as
    /// many as a live session keeps in memory).
    pub(in crate::bridge) fn snapshot(
        self,
        summary: SessionSummary,
        rows: Vec<TranscriptRow>,
    ) -> SessionSnapshot {
        let keep_from = rows.len().saturating_sub(MEMORY_WINDOW);
        SessionSnapshot {
            summary,
            turns: self.turns,
            transcript: rows
                .into_iter()
                .skip(keep_from)
                .map(crate::bridge::transcript::capped)
                .collect(),
            streaming: Vec::new(),
            thread: Value::Null,
        }
    }
}

/// Folds a transcript's rows into what they say about the session: its turns, title,
/// whether it was closed and the requests that have no end row.
pub(in crate::bridge) fn fold_rows(rows: &[TranscriptRow]) -> Result<Folded, String> {
    let Some(first) = rows.first() else {
        return Err("the transcript is empty".to_string());
    };
    let TranscriptEntry::SessionStarted {
        thread_id,
        cwd,
        model,
        tools,
        watched,
        app_server,
    } = &first.entry
    else {
        return Err("the first row is not `session.started`".to_string());
    };
    let mut turns: Vec<TurnRecord> = Vec::new();
    let mut calls: HashMap<String, RestoredCall> = HashMap::new();
    let mut title = None;
    let mut closed = false;
    for row in rows {
        let turn_id = row.turn_id.clone().unwrap_or_default();
        match &row.entry {
            TranscriptEntry::TurnStarted => {
                if !turns.iter().any(|t| t.id == turn_id) {
                    turns.push(TurnRecord {
                        id: turn_id,
                        status: TurnStatus::InProgress,
                        started_at_ms: row.at_ms,
                        completed_at_ms: None,
                        error: None,
                        assistant_reply: None,
                    });
                }
            }
            TranscriptEntry::TurnCompleted { status, error } => {
                if let Some(turn) = turns.iter_mut().find(|t| t.id == turn_id) {
                    turn.status = *status;
                    turn.completed_at_ms = Some(row.at_ms);
                    turn.error = error.clone();
                }
            }
            TranscriptEntry::AgentMessage { text, .. } => {
                if let Some(turn) = turns.iter_mut().find(|t| t.id == turn_id) {
                    turn.assistant_reply = Some(text.clone());
                }
            }
            TranscriptEntry::UserMessage { text } => {
                if title.is_none() {
                    title = Some(crate::protocol::truncate_chars(text, 60).to_string());
                }
            }
            TranscriptEntry::ToolCallRequest {
                request_id,
                call_id,
                tool,
                ..
            } => {
                calls.insert(
                    request_id.clone(),
                    RestoredCall {
                        request_id: request_id.clone(),
                        thread_id: thread_id.clone(),
                        turn_id: row.turn_id.clone(),
                        kind: RequestKind::ToolCall,
                        method: method::TOOL_CALL.to_string(),
                        item_id: call_id.clone(),
                        tool: tool.clone(),
                        received_at_ms: row.at_ms,
                    },
                );
            }
            TranscriptEntry::RequestOpened {
                request_id,
                kind,
                method,
                item_key,
                ..
            } => {
                // One that cannot be recognised when it comes again is not kept.
                if let Some(item_id) = item_key {
                    calls.insert(
                        request_id.clone(),
                        RestoredCall {
                            request_id: request_id.clone(),
                            thread_id: thread_id.clone(),
                            turn_id: row.turn_id.clone(),
                            kind: *kind,
                            method: method.clone(),
                            item_id: item_id.clone(),
                            tool: String::new(),
                            received_at_ms: row.at_ms,
                        },
                    );
                }
            }
            TranscriptEntry::ToolCallResolved { request_id, .. }
            | TranscriptEntry::RequestResolved { request_id, .. } => {
                calls.remove(request_id);
            }
            TranscriptEntry::SessionClosed { .. } => closed = true,
            TranscriptEntry::SessionStarted { .. }
            | TranscriptEntry::Error { .. }
            | TranscriptEntry::Notice { .. }
            | TranscriptEntry::Item(_) => {}
        }
    }
    Ok(Folded {
        thread_id: thread_id.clone(),
        app_server: app_server.clone(),
        cwd: cwd.clone(),
        model: model.clone(),
        tools: tools.clone(),
        watched: *watched,
        turns,
        title: title.unwrap_or_else(|| format!("session {}", crate::util::id_tail(thread_id, 8))),
        closed,
        calls,
        created_at_ms: first.at_ms,
        updated_at_ms: rows.last().map_or(first.at_ms, |r: &TranscriptRow| r.at_ms),
        row_count: rows.last().map_or(0, |r| r.seq + 1),
    })
}

/// A transcript read back: its rows, what they say, and how many lines were unreadable.
pub(in crate::bridge) struct ReadBack {
    pub(in crate::bridge) rows: Vec<TranscriptRow>,
    pub(in crate::bridge) folded: Folded,
    pub(in crate::bridge) skipped_lines: usize,
}

/// Reads and folds one transcript file.
pub(in crate::bridge) fn read_back(path: &Path) -> Result<ReadBack, String> {
    let (rows, bad) = read_transcript(path).map_err(|e| e.to_string())?;
    if bad > 0 {
        tracing::warn!(target: "bridge", "{}: skipped {bad} unreadable line(s)", path.display());
    }
    let folded = fold_rows(&rows)?;
    Ok(ReadBack {
        rows,
        folded,
        skipped_lines: bad,
    })
}

/// Makes a transcript read back a session again, its file open to append to, with its
/// unfinished calls (none for a closed session: they ended with it).
fn restore_session(
    dir: &Path,
    path: &Path,
    read: ReadBack,
    catalog: &Catalog,
    app_server: String,
) -> Result<(Session, Vec<RestoredCall>), String> {
    let ReadBack { rows, folded, .. } = read;
    let origin = folded.origin();
    let transcript =
        Transcript::reopen(dir, path, &folded.thread_id, &rows).map_err(|e| e.to_string())?;
    let declared: Vec<_> = catalog
        .dynamic_tools()
        .into_iter()
        .filter(|t| folded.tools.contains(&t.name))
        .collect();
    let session = Session {
        thread_id: folded.thread_id,
        app_server,
        title: folded.title,
        name: None,
        activity: None,
        token_usage: None,
        status: if folded.closed {
            SessionStatus::Closed
        } else {
            SessionStatus::Restored
        },
        origin,
        auto_answer: false,
        cwd: folded.cwd,
        model: folded.model,
        model_provider: None,
        created_at_ms: folded.created_at_ms,
        updated_at_ms: folded.updated_at_ms,
        tools: declared,
        declared: None,
        outdated: Vec::new(),
        settings: crate::bridge::SessionSettings::default(),
        turns: folded.turns,
        transcript,
        streaming: HashMap::new(),
        thread: Value::Null,
    };
    let calls = if folded.closed {
        Vec::new()
    } else {
        let mut calls: Vec<RestoredCall> = folded.calls.into_values().collect();
        calls.sort_by_key(|c| c.received_at_ms);
        calls
    };
    Ok((session, calls))
}

//! Sessions and turns: registering, turn bookkeeping, closing, and what a lost
//! connection or a shutdown ends.

use std::collections::HashMap;

use serde_json::Value;

use super::{Actor, Slot, loss_reason};
use crate::bridge::events::{BridgeEvent, ConnectionState};
use crate::bridge::session::{Session, SessionOrigin, SessionStatus, TurnRecord};
use crate::bridge::transcript::{Transcript, TranscriptEntry};
use crate::bridge::{BridgeError, Reply, Result};
use crate::protocol::TurnStatus;
use crate::util::now_ms;

/// Why a detached session's requests ended, and its close reason.
pub(super) const DETACHED: &str =
    "detached from the thread (thread/unsubscribe): the client that runs it goes on";

impl Actor {
    /// An app-server's connection is gone: it forgets every pending request with it, so
    /// they all expire now, and everyone waiting on a turn of its sessions hears why.
    /// The other app-servers go on.
    pub(super) fn on_disconnect(&mut self, slot: Slot, reason: String) {
        if self.upstreams.get(slot).is_none_or(|u| u.conn.is_none()) {
            return;
        }
        tracing::warn!(target: "bridge", "app-server{} connection lost: {reason}", self.called(slot));
        self.upstreams[slot].conn = None;
        self.lose_for_good(slot, loss_reason(reason));
    }

    /// Ends everything that depended on one app-server: its pending calls expire, its
    /// sessions show disconnected, their turn waiters hear why. Also where a reconnect
    /// that gave up ends.
    pub(super) fn lose_for_good(&mut self, slot: Slot, reason: String) {
        let Some(up) = self.upstreams.get_mut(slot) else {
            return;
        };
        up.state = ConnectionState::Disconnected {
            reason: reason.clone(),
            retry: up.connector.is_some(),
        };
        let name = up.name.clone();
        // Expiries first: whoever reacts to the disconnect has already seen every call end.
        for request_id in self.requests_of(slot) {
            self.expire(&request_id, reason.clone());
        }
        self.emit_connection(slot);
        let mut changed = Vec::new();
        for session in self.sessions.values_mut() {
            if session.status != SessionStatus::Closed && session.app_server == name {
                session.status = SessionStatus::Disconnected;
                session.updated_at_ms = now_ms();
                changed.push(session.summary());
            }
        }
        let threads: std::collections::HashSet<String> =
            changed.iter().map(|s| s.thread_id.clone()).collect();
        for summary in changed {
            self.emit(BridgeEvent::SessionUpdated { session: summary });
        }
        let waiting: Vec<_> = self
            .turn_waiters
            .keys()
            .filter(|(thread, _)| threads.contains(thread))
            .cloned()
            .collect();
        for key in waiting {
            for waiter in self.turn_waiters.remove(&key).unwrap_or_default() {
                let _ = waiter.send(Err(BridgeError::Disconnected {
                    reason: reason.clone(),
                }));
            }
        }
        self.emit(BridgeEvent::Error {
            thread_id: None,
            message: reason,
        });
    }

    pub(super) fn stop(&mut self, reason: &str) {
        // A websocket app-server keeps waiting on these calls after we leave; their
        // transcript stays open so a restarted Switchboard can pick them up again.
        for slot in 0..self.upstreams.len() {
            if !self.upstreams[slot].keeps_calls {
                for request_id in self.requests_of(slot) {
                    self.expire(&request_id, reason.to_string());
                }
            }
        }
        for (_, waiters) in self.turn_waiters.drain() {
            for waiter in waiters {
                let _ = waiter.send(Err(BridgeError::Stopped));
            }
        }
        for up in &mut self.upstreams {
            if let Some(kill) = up.kill.take() {
                let _ = kill.send(());
            }
            up.conn = None;
        }
    }

    pub(super) fn register_session(
        &mut self,
        app_server: String,
        thread: Value,
        settings: crate::bridge::SessionSettings,
        tools: Vec<crate::protocol::DynamicToolSpec>,
        declared: Option<crate::bridge::reload::DeclaredCatalog>,
        origin: SessionOrigin,
    ) -> Result<crate::bridge::SessionSummary> {
        let info: crate::protocol::ThreadInfo =
            serde_json::from_value(thread.clone()).map_err(|e| BridgeError::UnexpectedReply {
                method: "thread/start".to_string(),
                message: e.to_string(),
            })?;
        let thread_id = info.id.clone();
        self.attaching.remove(&thread_id);
        if !self.sessions.contains_key(&thread_id) {
            // A resume of a closed session that left memory: its transcript goes on.
            self.bring_back_closed(&thread_id);
        }
        if let Some(existing) = self.sessions.get_mut(&thread_id) {
            // A resume of a session we already track: it is live again.
            let was = existing.status;
            // A closed session comes back as what it is attached as now; a live one
            // stays what it was (Switchboard's own thread is not watched).
            if was == SessionStatus::Closed {
                existing.origin = origin;
                existing.auto_answer = false;
            }
            existing.status = SessionStatus::Idle;
            existing.app_server = app_server;
            if let Some(name) = thread
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
            {
                existing.name = Some(name.to_string());
            }
            existing.thread = thread;
            existing.settings = settings;
            if !tools.is_empty() {
                existing.tools = tools;
            }
            self.reconcile_resumed(&thread_id, &info, was);
            let summary = self.sessions.get(&thread_id).map(Session::summary).ok_or(
                BridgeError::UnknownSession {
                    thread_id: thread_id.clone(),
                },
            )?;
            self.emit(BridgeEvent::SessionUpdated {
                session: summary.clone(),
            });
            return Ok(summary);
        }
        // Failures to open or write it are reported by `append_row`, and retried.
        let transcript = match &self.sessions_dir {
            Some(dir) => {
                Transcript::on_store(dir, &thread_id, self.config.transcript_store.clone())
            }
            None => Transcript::in_memory(),
        };
        let now = now_ms();
        let title = if info.preview.is_empty() {
            format!("session {}", crate::util::id_tail(&thread_id, 8))
        } else {
            crate::protocol::truncate_chars(&info.preview, 60).to_string()
        };
        let name = thread
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .map(str::to_string);
        // A reload between reading the catalog and this registration leaves the thread
        // with the older definitions: say so from the start.
        let outdated = declared
            .as_ref()
            .map(|d| crate::bridge::reload::outdated_tools(&tools, d, &self.config.catalog))
            .unwrap_or_default();
        let session = Session {
            thread_id: thread_id.clone(),
            app_server: app_server.clone(),
            title,
            name,
            activity: None,
            token_usage: None,
            status: SessionStatus::Idle,
            origin,
            auto_answer: false,
            cwd: info.cwd.clone(),
            model: info.model.clone(),
            model_provider: info.model_provider.clone(),
            created_at_ms: now,
            updated_at_ms: now,
            tools,
            declared,
            outdated,
            settings,
            turns: Vec::new(),
            transcript,
            streaming: HashMap::new(),
            thread,
        };
        let tool_names = session.tools.iter().map(|t| t.name.clone()).collect();
        self.sessions.insert(thread_id.clone(), session);
        self.append_row(
            &thread_id,
            None,
            TranscriptEntry::SessionStarted {
                thread_id: thread_id.clone(),
                cwd: info.cwd.clone(),
                model: info.model.clone(),
                tools: tool_names,
                watched: origin == SessionOrigin::Watched,
                app_server: (self.upstreams.len() > 1).then_some(app_server),
            },
        );
        if origin == SessionOrigin::Watched {
            self.adopt_running_turns(&thread_id, &info);
        }
        let summary = self.sessions.get(&thread_id).map(Session::summary).ok_or(
            BridgeError::UnknownSession {
                thread_id: thread_id.clone(),
            },
        )?;
        self.emit(BridgeEvent::SessionStarted {
            session: summary.clone(),
        });
        Ok(summary)
    }

    /// A watched thread may be in the middle of a turn when Switchboard attaches: the
    /// turn is recorded from the resume reply, so the session shows it running and its
    /// end completes it (there is no `turn/started` for it).
    fn adopt_running_turns(&mut self, thread_id: &str, info: &crate::protocol::ThreadInfo) {
        let running: Vec<String> = info
            .turns
            .iter()
            .filter(|t| t.get("status").and_then(Value::as_str) == Some("inProgress"))
            .filter_map(|t| t.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        let active = info.status.as_ref().is_some_and(|s| s.kind == "active");
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        for turn_id in &running {
            session.ensure_turn(turn_id, now_ms());
        }
        if active && session.status == SessionStatus::Idle {
            session.status = SessionStatus::Running;
        }
    }

    /// The watched session, or why it is not one.
    fn watched(&self, thread_id: &str, what: &'static str) -> Result<&Session> {
        let Some(session) = self.sessions.get(thread_id) else {
            return Err(if self.closed.contains(thread_id) {
                BridgeError::SessionClosed {
                    thread_id: thread_id.to_string(),
                }
            } else {
                BridgeError::UnknownSession {
                    thread_id: thread_id.to_string(),
                }
            });
        };
        if session.origin != SessionOrigin::Watched {
            return Err(BridgeError::NotWatched {
                thread_id: thread_id.to_string(),
                origin: session.origin.as_str(),
                what,
            });
        }
        if session.status == SessionStatus::Closed {
            return Err(BridgeError::SessionClosed {
                thread_id: thread_id.to_string(),
            });
        }
        Ok(session)
    }

    /// Stops watching: what is pending here expires (the client that runs the thread
    /// still answers it), and the session closes as detached.
    pub(super) fn detach(&mut self, thread_id: &str) -> Result<()> {
        self.watched(thread_id, "detach is for")?;
        self.close_session(thread_id, DETACHED);
        Ok(())
    }

    /// Automatic answers on or off for a watched session, from its next request on.
    pub(super) fn set_auto_answer(
        &mut self,
        thread_id: &str,
        on: bool,
    ) -> Result<crate::bridge::SessionSummary> {
        self.watched(thread_id, "auto-answer is for")?;
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return Err(BridgeError::UnknownSession {
                thread_id: thread_id.to_string(),
            });
        };
        if session.auto_answer != on {
            session.auto_answer = on;
            session.updated_at_ms = now_ms();
            let message = if on {
                "auto-answer on: this watched thread's requests go to the catalog's handlers, rules and request policy from now on"
            } else {
                "auto-answer off: a person answers this watched thread's requests"
            };
            self.append_row(
                thread_id,
                None,
                TranscriptEntry::Notice {
                    message: message.to_string(),
                },
            );
        }
        let summary = self
            .sessions
            .get(thread_id)
            .map(Session::summary)
            .ok_or_else(|| BridgeError::UnknownSession {
                thread_id: thread_id.to_string(),
            })?;
        self.emit(BridgeEvent::SessionUpdated {
            session: summary.clone(),
        });
        Ok(summary)
    }

    /// The thread's name changed (ours, or `thread/name/updated`): it is the title now.
    pub(super) fn set_name(&mut self, thread_id: &str, name: Option<String>) {
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        if session.name == name {
            return;
        }
        session.name = name;
        session.updated_at_ms = now_ms();
        let summary = session.summary();
        self.emit(BridgeEvent::SessionUpdated { session: summary });
    }

    /// What the session is doing in its running turn; an event when it changed.
    pub(super) fn set_activity(&mut self, thread_id: &str, activity: Option<String>) {
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        if session.activity == activity {
            return;
        }
        session.activity = activity.clone();
        self.emit(BridgeEvent::SessionActivity {
            thread_id: thread_id.to_string(),
            activity,
        });
    }

    /// app-server keeps a turn's overrides for the turns after it; so does the session.
    pub(super) fn apply_turn_options(
        &mut self,
        thread_id: &str,
        options: crate::bridge::TurnOptions,
    ) {
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        let settings = &mut session.settings;
        if let Some(model) = options.model {
            settings.model = Some(model);
        }
        if let Some(effort) = options.effort {
            settings.reasoning_effort = Some(effort);
        }
        if let Some(policy) = options.approval_policy {
            settings.approval_policy = Some(Value::String(policy));
        }
        if let Some(sandbox) = options.sandbox_policy {
            settings.sandbox = Some(sandbox);
        }
    }

    pub(super) fn record_turn(&mut self, thread_id: &str, turn_id: &str) {
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        let status_before = session.status;
        if session.ensure_turn(turn_id, now_ms()) {
            session.updated_at_ms = now_ms();
            // The session went Running here: say so now, since app-server's own
            // `thread/status/changed` that follows is then no change and sends nothing.
            let updated = (session.status != status_before).then(|| session.summary());
            if let Some(session) = updated {
                self.emit(BridgeEvent::SessionUpdated { session });
            }
            self.append_row(
                thread_id,
                Some(turn_id.to_string()),
                TranscriptEntry::TurnStarted,
            );
            self.emit(BridgeEvent::TurnStarted {
                thread_id: thread_id.to_string(),
                turn_id: turn_id.to_string(),
            });
            // Until its first item says more, a turn is the model thinking.
            self.set_activity(thread_id, Some("thinking".to_string()));
        }
    }

    pub(super) fn complete_turn(
        &mut self,
        thread_id: &str,
        turn_id: &str,
        status: TurnStatus,
        error: Option<String>,
    ) {
        // Calls of a finished turn can no longer be answered; codex abandons them.
        let reason = format!("turn {}", status.as_str());
        for request_id in self.pending.keys_where(|r| {
            r.thread_id == thread_id
                && r.turn_id.as_deref() == Some(turn_id)
                && !r.answer.is_writing()
        }) {
            self.expire(&request_id, reason.clone());
        }
        self.expire_restored_calls(thread_id, Some(turn_id), &reason);
        self.file_changes
            .retain(|(thread, _), _| thread != thread_id);
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        // An agent message cut off with its turn never completes: drop its partial text.
        session.streaming.clear();
        session.activity = None;
        session.ensure_turn(turn_id, now_ms());
        let record = match session.turn_mut(turn_id) {
            Some(turn) if !turn.status.is_terminal() => {
                turn.status = status;
                turn.completed_at_ms = Some(now_ms());
                turn.error = error.clone();
                turn.clone()
            }
            _ => return,
        };
        if !matches!(
            session.status,
            SessionStatus::Closed
                | SessionStatus::Disconnected
                | SessionStatus::Restored
                | SessionStatus::ResumeFailed
        ) {
            session.status = if status == TurnStatus::Failed {
                SessionStatus::Failed
            } else {
                SessionStatus::Idle
            };
        }
        session.updated_at_ms = now_ms();
        let summary = session.summary();
        self.append_row(
            thread_id,
            Some(turn_id.to_string()),
            TranscriptEntry::TurnCompleted {
                status,
                error: error.clone(),
            },
        );
        self.emit(BridgeEvent::TurnCompleted {
            thread_id: thread_id.to_string(),
            turn_id: turn_id.to_string(),
            status,
            error,
        });
        self.emit(BridgeEvent::SessionUpdated { session: summary });
        if let Some(waiters) = self
            .turn_waiters
            .remove(&(thread_id.to_string(), turn_id.to_string()))
        {
            for waiter in waiters {
                let _ = waiter.send(Ok(record.clone()));
            }
        }
    }

    pub(super) fn wait_turn(
        &mut self,
        thread_id: String,
        turn_id: String,
        reply: Reply<Result<TurnRecord>>,
    ) {
        if self.closed.contains(&thread_id) {
            let _ = reply.send(Err(BridgeError::SessionClosed { thread_id }));
            return;
        }
        let Some(session) = self.sessions.get_mut(&thread_id) else {
            let _ = reply.send(Err(BridgeError::UnknownSession { thread_id }));
            return;
        };
        if let Some(turn) = session.turn_mut(&turn_id)
            && turn.status.is_terminal()
        {
            let _ = reply.send(Ok(turn.clone()));
            return;
        }
        if session.status == SessionStatus::Closed {
            let _ = reply.send(Err(BridgeError::SessionClosed { thread_id }));
            return;
        }
        // While reconnecting the turn may still end: the waiter stays.
        let slot = self.slot_of_thread(&thread_id);
        if let Some(ConnectionState::Disconnected { reason, .. }) =
            self.upstreams.get(slot).map(|u| &u.state)
        {
            let _ = reply.send(Err(BridgeError::Disconnected {
                reason: reason.clone(),
            }));
            return;
        }
        self.turn_waiters
            .entry((thread_id, turn_id))
            .or_default()
            .push(reply);
    }

    pub(super) fn close_session(&mut self, thread_id: &str, reason: &str) {
        for request_id in self.pending.keys_where(|r| r.thread_id == thread_id) {
            self.expire(&request_id, reason.to_string());
        }
        self.expire_restored_calls(thread_id, None, reason);
        let Some(session) = self.sessions.get_mut(thread_id) else {
            return;
        };
        if session.status == SessionStatus::Closed {
            return;
        }
        session.status = SessionStatus::Closed;
        session.updated_at_ms = now_ms();
        self.items.forget_thread(thread_id);
        self.append_row(
            thread_id,
            None,
            TranscriptEntry::SessionClosed {
                reason: reason.to_string(),
            },
        );
        let waiting: Vec<_> = self
            .turn_waiters
            .keys()
            .filter(|(t, _)| t == thread_id)
            .cloned()
            .collect();
        for key in waiting {
            for waiter in self.turn_waiters.remove(&key).unwrap_or_default() {
                let _ = waiter.send(Err(BridgeError::SessionClosed {
                    thread_id: thread_id.to_string(),
                }));
            }
        }
        self.emit(BridgeEvent::SessionClosed {
            thread_id: thread_id.to_string(),
            reason: reason.to_string(),
        });
        self.evict_closed(thread_id);
    }
}

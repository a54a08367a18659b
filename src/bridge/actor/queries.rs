//! Read-only commands: state snapshots for handles.

use super::Actor;
use crate::bridge::fleet::{AppServerStatus, Target};
use crate::bridge::pending::{PendingCallView, PendingRequestView};
use crate::bridge::session::{Session, SessionStatus, SessionSummary};
use crate::bridge::{BridgeError, BridgeStatus, Picked, PreparedHandler, Result};
use crate::handlers::HandlerInput;

impl Actor {
    /// The connection of the app-server a request goes to, while it is connected.
    pub(super) fn connection(&self, target: &Target) -> Result<Picked> {
        let slot = match target {
            Target::Default => 0,
            Target::Thread(thread_id) => self.slot_of_thread(thread_id),
            Target::Named(name) => {
                self.slot_named(name)
                    .ok_or_else(|| BridgeError::UnknownAppServer {
                        name: name.clone(),
                        known: self.upstreams.iter().map(|u| u.name.clone()).collect(),
                    })?
            }
        };
        let Some(up) = self.upstreams.get(slot) else {
            return Err(BridgeError::Stopped);
        };
        match (&up.conn, self.disconnected_reason(slot)) {
            (Some(conn), _) => Ok(Picked {
                app_server: up.name.clone(),
                conn: conn.clone(),
                cwd: up.cwd.clone(),
            }),
            (None, reason) => Err(BridgeError::Disconnected {
                reason: reason.unwrap_or_else(|| "not connected".to_string()),
            }),
        }
    }

    /// Whether a session can take a turn; its running turn, if any.
    pub(super) fn check_session(&self, thread_id: String) -> Result<Option<String>> {
        match self.sessions.get(&thread_id) {
            None if self.closed.contains(&thread_id) => {
                Err(BridgeError::SessionClosed { thread_id })
            }
            None => Err(BridgeError::UnknownSession { thread_id }),
            Some(s) if s.status == SessionStatus::Closed => {
                Err(BridgeError::SessionClosed { thread_id })
            }
            Some(s)
                if matches!(
                    s.status,
                    SessionStatus::Restored | SessionStatus::ResumeFailed
                ) =>
            {
                Err(BridgeError::NotAttached {
                    thread_id,
                    status: s.status.as_str().to_string(),
                })
            }
            Some(s) => Ok(s.active_turn().map(|t| t.id.clone())),
        }
    }

    /// Pending tool calls, oldest first.
    pub(super) fn list_pending_calls(&self, thread_id: Option<&str>) -> Vec<PendingCallView> {
        self.pending
            .iter()
            .filter(|r| thread_id.is_none_or(|t| t == r.thread_id))
            .filter_map(|r| r.call_view())
            .collect()
    }

    /// Pending approvals, questions and elicitations, oldest first.
    pub(super) fn list_pending_requests(&self, thread_id: Option<&str>) -> Vec<PendingRequestView> {
        self.pending
            .iter()
            .filter(|r| thread_id.is_none_or(|t| t == r.thread_id))
            .filter_map(|r| r.request_view())
            .collect()
    }

    pub(super) fn session_summaries(&self) -> Vec<SessionSummary> {
        let mut list: Vec<_> = self
            .sessions
            .values()
            .map(Session::summary)
            .chain(self.closed.summaries().cloned())
            .collect();
        list.sort_by_key(|s| s.created_at_ms);
        list
    }

    pub(super) fn prepare_handler(&self, request_id: &str) -> Result<PreparedHandler> {
        let ended = || BridgeError::CallEnded {
            request_id: request_id.to_string(),
        };
        let request = self.pending.get(request_id).ok_or_else(ended)?;
        let call = request.tool_call().ok_or_else(ended)?;
        let spec = self
            .config
            .catalog
            .tool(call.namespace.as_deref(), &call.tool)
            .and_then(|t| t.handler.clone())
            .ok_or_else(|| BridgeError::NoHandler {
                tool: call.tool.clone(),
            })?;
        Ok(PreparedHandler {
            runner: self.handlers.clone(),
            spec,
            input: HandlerInput {
                tool: call.tool.clone(),
                arguments: call.arguments.clone(),
                call_id: call.call_id.clone(),
                thread_id: request.thread_id.clone(),
                turn_id: request.turn_id.clone().unwrap_or_default(),
                request_id: request.key.clone(),
            },
        })
    }

    pub(super) fn status(&self) -> BridgeStatus {
        let mut totals = self.totals.clone();
        totals.sessions = self.sessions.len() + self.closed.len();
        totals.pending = self.pending.len();
        totals.waiting_on_person = self
            .pending
            .iter()
            .filter(|r| r.answerer.needs_person())
            .count();
        let app_servers: Vec<AppServerStatus> = self
            .upstreams
            .iter()
            .enumerate()
            .map(|(slot, up)| AppServerStatus {
                name: up.name.clone(),
                transport: up.label.clone(),
                connection: up.state.clone(),
                sessions: self
                    .sessions
                    .values()
                    .filter(|s| s.app_server == up.name && s.status != SessionStatus::Closed)
                    .count(),
                pending: self.requests_of(slot).len(),
            })
            .collect();
        let first = app_servers.first();
        BridgeStatus {
            transport: first.map(|a| a.transport.clone()).unwrap_or_default(),
            connection: first.map_or(crate::bridge::ConnectionState::Connecting, |a| {
                a.connection.clone()
            }),
            junk_lines: self.recovery.junk_lines_before
                + self
                    .upstreams
                    .iter()
                    .filter_map(|u| u.conn.as_ref())
                    .map(|c| c.junk_lines())
                    .sum::<u64>(),
            app_servers,
            totals,
            hold: self.hold.clone(),
            not_persisted: super::super::transcript::not_persisted(self.sessions.values()),
            rate_limits: self.rate_limits.clone(),
        }
    }
}

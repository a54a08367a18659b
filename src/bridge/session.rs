//! Sessions: one per app-server thread the bridge drives, with its turns and transcript.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::transcript::{Transcript, TranscriptRow};
use crate::protocol::{DynamicToolSpec, TokenUsage, TurnStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Idle,
    Running,
    /// The last turn failed.
    Failed,
    /// The app-server connection that carried it is gone.
    Disconnected,
    /// Read back from its transcript when Switchboard started; not attached to
    /// app-server until it is resumed.
    Restored,
    /// `thread/resume` failed after a reconnect; the transcript says why.
    ResumeFailed,
    Closed,
}

impl SessionStatus {
    /// Attached to app-server now: its events come, its requests can be answered.
    pub fn is_attached(self) -> bool {
        matches!(
            self,
            SessionStatus::Idle | SessionStatus::Running | SessionStatus::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Idle => "idle",
            SessionStatus::Running => "running",
            SessionStatus::Failed => "failed",
            SessionStatus::Disconnected => "disconnected",
            SessionStatus::Restored => "restored",
            SessionStatus::ResumeFailed => "resume_failed",
            SessionStatus::Closed => "closed",
        }
    }
}

/// Who runs a session's thread: Switchboard (it started or resumed it), or another
/// client of a shared app-server that Switchboard only watches (`thread/resume` on a
/// loaded thread). A watched thread's requests are never answered automatically
/// unless its `auto_answer` is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOrigin {
    /// Switchboard started the thread (`thread/start`).
    #[default]
    Started,
    /// Switchboard took over a saved thread (`thread/resume` from the thread list).
    Resumed,
    /// Another client runs the thread; Switchboard attached to watch it.
    Watched,
}

impl SessionOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionOrigin::Started => "started",
            SessionOrigin::Resumed => "resumed",
            SessionOrigin::Watched => "watched",
        }
    }
}

/// A thread app-server has loaded, whoever runs it (`BridgeHandle::loaded_threads`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedThread {
    pub thread_id: String,
    /// The app-server of the fleet that has it loaded.
    #[serde(default)]
    pub app_server: String,
    /// app-server's status: `idle`, `active`, `systemError` or `notLoaded` (`unknown`
    /// when the thread could not be read).
    pub status: String,
    /// What an active thread waits on: `waitingOnApproval`, `waitingOnUserInput`.
    pub active_flags: Vec<String>,
    pub name: Option<String>,
    pub preview: String,
    pub cwd: Option<String>,
    /// The client that started the thread (its `initialize` `clientInfo.name`), when
    /// app-server recorded it.
    pub originator: Option<String>,
    /// app-server's session source (`vscode`, `cli`, `exec`, `appServer`, ..).
    pub source: Option<String>,
    /// Started by a Switchboard (this one or another).
    pub started_by_switchboard: bool,
    /// How this bridge has it as a session, when it does (closed ones excluded).
    pub session: Option<SessionOrigin>,
    pub updated_at: Option<i64>,
}

impl LoadedThread {
    /// From a `thread/read` reply's thread (`Null` when it could not be read).
    pub fn from_thread(
        app_server: &str,
        thread_id: &str,
        thread: &Value,
        session: Option<&SessionSummary>,
    ) -> LoadedThread {
        let text = |key: &str| thread.get(key).and_then(Value::as_str).map(str::to_string);
        let status = thread.get("status");
        let originator = text("originator").filter(|o| !o.is_empty());
        let source = match thread.get("source") {
            Some(Value::String(source)) => Some(source.clone()),
            Some(Value::Object(map)) => map.keys().next().cloned(),
            _ => None,
        };
        LoadedThread {
            thread_id: thread_id.to_string(),
            app_server: app_server.to_string(),
            status: status
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            active_flags: status
                .and_then(|s| s.get("activeFlags"))
                .and_then(Value::as_array)
                .map(|flags| {
                    flags
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            name: text("name").filter(|n| !n.trim().is_empty()),
            preview: text("preview").unwrap_or_default(),
            cwd: text("cwd"),
            started_by_switchboard: originator.as_deref() == Some(crate::protocol::CLIENT_NAME),
            originator,
            source,
            session: session.map(|s| s.origin),
            updated_at: thread.get("updatedAt").and_then(Value::as_i64),
        }
    }

    /// Who started it, for people: "switchboard", the other client's name, or its
    /// source when app-server did not record a name.
    pub fn started_by(&self) -> &str {
        self.originator
            .as_deref()
            .or(self.source.as_deref())
            .unwrap_or("unknown client")
    }
}

/// The loaded threads of every app-server of the fleet
/// (`BridgeHandle::loaded_threads_of_fleet`), and the app-servers that could not list
/// theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedThreads {
    /// In fleet order, each app-server's in its own order.
    pub threads: Vec<LoadedThread>,
    pub unreachable: Vec<UnreachableAppServer>,
}

/// An app-server that could not answer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreachableAppServer {
    pub app_server: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnRecord {
    pub id: String,
    pub status: TurnStatus,
    pub started_at_ms: i64,
    pub completed_at_ms: Option<i64>,
    pub error: Option<String>,
    /// The last completed agent message of the turn.
    pub assistant_reply: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub thread_id: String,
    /// The app-server of the fleet the session's thread is on.
    pub app_server: String,
    /// The thread's name when it has one (`thread/name/set`), else its preview or
    /// `session <id>`.
    pub title: String,
    /// The thread's name, as app-server has it (`thread/name/updated`).
    pub name: Option<String>,
    /// What the session is doing in its running turn ("running `cargo test`",
    /// "thinking", "editing 3 files"); `None` between turns.
    pub activity: Option<String>,
    /// When the running turn started, for its elapsed time.
    pub turn_started_at_ms: Option<i64>,
    /// The thread's token usage as app-server last reported it.
    pub token_usage: Option<TokenUsage>,
    pub status: SessionStatus,
    /// Started or resumed by Switchboard, or watched (run by another client).
    pub origin: SessionOrigin,
    /// A watched session's requests go to the catalog's handlers and rules, and the
    /// request policy, as Switchboard's own do (off by default: a person answers).
    pub auto_answer: bool,
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub model_provider: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub turn_count: usize,
    pub active_turn_id: Option<String>,
    pub tools: Vec<String>,
    pub transcript_path: Option<String>,
    /// Every row of the transcript is on disk (false for a transcript kept in memory).
    pub persisted: bool,
    /// Why the transcript is not being written now (a full disk, a refused thread id),
    /// while it is not; its rows wait in memory and writing is retried.
    pub persist_error: Option<String>,
}

/// The session's policies as app-server reported them at `thread/start` (or resume),
/// updated by the overrides of later turns. Raw JSON where app-server's shape is richer
/// than a string (a granular approval policy, a sandbox policy object).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSettings {
    pub model: Option<String>,
    pub approval_policy: Option<Value>,
    /// A `SandboxPolicy` object, e.g. `{"type":"workspaceWrite","networkAccess":false}`.
    pub sandbox: Option<Value>,
    pub reasoning_effort: Option<String>,
}

impl SessionSettings {
    /// Reads the settings from a `thread/start` or `thread/resume` result.
    pub fn from_response(reply: &crate::protocol::ThreadStartResponse) -> SessionSettings {
        SessionSettings {
            model: reply.model.clone(),
            approval_policy: reply.approval_policy.clone().filter(|v| !v.is_null()),
            sandbox: reply.sandbox.clone().filter(|v| !v.is_null()),
            reasoning_effort: reply.reasoning_effort.clone(),
        }
    }

    pub fn from_thread_result(result: &Value) -> SessionSettings {
        let text = |key: &str| result.get(key).and_then(Value::as_str).map(str::to_string);
        let raw = |key: &str| result.get(key).filter(|v| !v.is_null()).cloned();
        SessionSettings {
            model: text("model"),
            approval_policy: raw("approvalPolicy"),
            sandbox: raw("sandbox"),
            reasoning_effort: text("reasoningEffort"),
        }
    }
}

/// What a session was set up with: its settings, the tools it declared and the raw
/// thread object app-server returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSetup {
    pub settings: SessionSettings,
    pub tools: Vec<DynamicToolSpec>,
    pub thread: Value,
}

/// A session's state read in one step, so turns and transcript always agree.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    pub summary: SessionSummary,
    pub turns: Vec<TurnRecord>,
    pub transcript: Vec<TranscriptRow>,
    /// Agent messages still streaming, by item id.
    pub streaming: Vec<(String, String)>,
    /// The raw thread object app-server returned when the session started.
    pub thread: serde_json::Value,
}

pub struct Session {
    pub thread_id: String,
    /// The app-server of the fleet the thread is on.
    pub app_server: String,
    /// The title without a name: the preview, or `session <id>`.
    pub title: String,
    pub name: Option<String>,
    pub activity: Option<String>,
    pub token_usage: Option<TokenUsage>,
    pub status: SessionStatus,
    pub origin: SessionOrigin,
    /// Only for watched sessions: answer their requests automatically.
    pub auto_answer: bool,
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub model_provider: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub tools: Vec<DynamicToolSpec>,
    /// Set when `tools` are the catalog's, as it was at `thread/start`; `None` for tools
    /// of the session's own (the API's `dynamicTools`) or not known (restored).
    pub declared: Option<super::reload::DeclaredCatalog>,
    /// The tools whose definition in this thread differs from the catalog in use (after
    /// a reload): they stay as they were until the session ends.
    pub outdated: Vec<String>,
    pub settings: SessionSettings,
    pub turns: Vec<TurnRecord>,
    pub transcript: Transcript,
    /// Agent message text received so far, by item id, until the item completes.
    pub streaming: HashMap<String, String>,
    pub thread: serde_json::Value,
}

impl Session {
    pub fn active_turn(&self) -> Option<&TurnRecord> {
        self.turns.iter().rev().find(|t| !t.status.is_terminal())
    }

    pub fn turn_mut(&mut self, turn_id: &str) -> Option<&mut TurnRecord> {
        self.turns.iter_mut().rev().find(|t| t.id == turn_id)
    }

    /// Records a turn once, whichever of the `turn/start` reply and the `turn/started`
    /// notification the bridge sees first.
    pub fn ensure_turn(&mut self, turn_id: &str, at_ms: i64) -> bool {
        if self.turns.iter().any(|t| t.id == turn_id) {
            return false;
        }
        self.turns.push(TurnRecord {
            id: turn_id.to_string(),
            status: TurnStatus::InProgress,
            started_at_ms: at_ms,
            completed_at_ms: None,
            error: None,
            assistant_reply: None,
        });
        if self.status != SessionStatus::Closed {
            self.status = SessionStatus::Running;
        }
        true
    }

    /// Whether this session's requests may be answered without a person: always for
    /// Switchboard's own threads, for a watched one only once its operator said so.
    pub fn answers_automatically(&self) -> bool {
        self.origin != SessionOrigin::Watched || self.auto_answer
    }

    pub fn has_tool(&self, namespace: Option<&str>, name: &str) -> bool {
        self.tools
            .iter()
            .any(|t| t.name == name && t.namespace.as_deref() == namespace)
    }

    pub fn summary(&self) -> SessionSummary {
        let active = self.active_turn();
        SessionSummary {
            thread_id: self.thread_id.clone(),
            app_server: self.app_server.clone(),
            title: self.name.clone().unwrap_or_else(|| self.title.clone()),
            name: self.name.clone(),
            activity: active.and(self.activity.clone()),
            turn_started_at_ms: active.map(|t| t.started_at_ms),
            token_usage: self.token_usage,
            status: self.status,
            origin: self.origin,
            auto_answer: self.auto_answer,
            cwd: self.cwd.clone(),
            model: self.model.clone(),
            model_provider: self.model_provider.clone(),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            turn_count: self.turns.len(),
            active_turn_id: active.map(|t| t.id.clone()),
            tools: self.tools.iter().map(|t| t.name.clone()).collect(),
            transcript_path: self.transcript.path().map(|p| p.display().to_string()),
            persisted: self.transcript.is_persisted(),
            persist_error: self.transcript.persist_error().map(str::to_string),
        }
    }

    pub fn setup(&self) -> SessionSetup {
        SessionSetup {
            settings: self.settings.clone(),
            tools: self.tools.clone(),
            thread: self.thread.clone(),
        }
    }

    pub fn snapshot(&self) -> SessionSnapshot {
        let mut streaming: Vec<(String, String)> = self
            .streaming
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        streaming.sort();
        SessionSnapshot {
            summary: self.summary(),
            turns: self.turns.clone(),
            transcript: self.transcript.rows().cloned().collect(),
            streaming,
            thread: self.thread.clone(),
        }
    }
}

/// Closed sessions whose transcript is all on disk, evicted from memory: only their
/// summary is kept (a few hundred bytes each), for at most `cap` of them, the most
/// recently closed. Their rows are read back from the transcript when asked for
/// (`BridgeHandle::session`); one evicted past the cap is found on disk by its id.
#[derive(Debug, Default)]
pub struct ClosedSessions {
    summaries: HashMap<String, SessionSummary>,
    /// Thread ids, the oldest closed first.
    order: std::collections::VecDeque<String>,
    cap: usize,
}

impl ClosedSessions {
    pub fn new(cap: usize) -> ClosedSessions {
        ClosedSessions {
            summaries: HashMap::new(),
            order: std::collections::VecDeque::new(),
            cap,
        }
    }

    /// Keeps a closed session's summary; beyond the cap the oldest one is dropped.
    pub fn insert(&mut self, mut summary: SessionSummary) {
        summary.status = SessionStatus::Closed;
        summary.active_turn_id = None;
        let thread_id = summary.thread_id.clone();
        if self.summaries.insert(thread_id.clone(), summary).is_some() {
            self.order.retain(|t| *t != thread_id);
        }
        self.order.push_back(thread_id);
        while self.order.len() > self.cap {
            if let Some(oldest) = self.order.pop_front() {
                self.summaries.remove(&oldest);
            }
        }
    }

    pub fn get(&self, thread_id: &str) -> Option<&SessionSummary> {
        self.summaries.get(thread_id)
    }

    pub fn remove(&mut self, thread_id: &str) -> Option<SessionSummary> {
        let summary = self.summaries.remove(thread_id)?;
        self.order.retain(|t| t != thread_id);
        Some(summary)
    }

    pub fn contains(&self, thread_id: &str) -> bool {
        self.summaries.contains_key(thread_id)
    }

    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    pub fn summaries(&self) -> impl Iterator<Item = &SessionSummary> {
        self.summaries.values()
    }
}

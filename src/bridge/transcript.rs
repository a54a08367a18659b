//! Per-session transcripts: rows kept in a bounded in-memory window and appended to a
//! JSONL file as they happen, so a crash loses nothing that was shown.
//!
//! What can go wrong on disk, and what happens then:
//! - **A full disk or a failed write.** A row is written whole or not at all: after a
//!   short write the file is cut back to the end of its last whole row. The row waits in
//!   memory (with every later one, in order) and is written when a write works again:
//!   on the next row, or on a retry with back-off. The failure and its end are reported
//!   once each (see [`report_changes`]).
//! - **Torn or garbled lines** (a crash mid-write, a byte that is not UTF-8): reading
//!   splits bytes into lines and drops and counts each line that does not decode; the
//!   rest of the session is kept.
//! - **Hostile thread ids.** The file name is derived from the thread id by
//!   [`file_name`]: plain ids are used as they are, others are hex-encoded, and ids that
//!   fit neither are refused, so no id can name a file outside the sessions folder.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::Command;
use super::events::{BridgeEvent, CallEnd, Responder};
use super::session::Session;
use crate::protocol::{RequestKind, ToolCallResult, TurnStatus};

/// Rows kept in memory per session; older ones live only on disk.
pub const MEMORY_WINDOW: usize = 5_000;
/// Rows that could not be written yet wait in memory up to this many ...
pub const MAX_WAITING_ROWS: usize = MEMORY_WINDOW;
/// ... and this many bytes; beyond either, the oldest waiting row is dropped (and counted).
pub const MAX_WAITING_BYTES: usize = 64 * 1024 * 1024;
/// The first retry of a failed transcript write; each later one waits twice as long.
pub const RETRY_START: Duration = Duration::from_secs(1);
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// Thread ids of letters, digits, `-`, `_` and `.` up to this long are file names as is.
const MAX_PLAIN_ID: usize = 200;
/// Other thread ids up to this long are hex-encoded (`~<hex>.jsonl`, at most 247 bytes).
const MAX_ENCODED_ID: usize = 120;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptRow {
    /// Position in the session's transcript, from 0.
    pub seq: u64,
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    #[serde(flatten)]
    pub entry: TranscriptEntry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TranscriptEntry {
    /// First row of every file: what is needed to show and resume the session later.
    #[serde(rename = "session.started", rename_all = "camelCase")]
    SessionStarted {
        thread_id: String,
        cwd: Option<String>,
        model: Option<String>,
        tools: Vec<String>,
        /// Another client runs the thread: Switchboard attached to watch it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        watched: bool,
        /// The app-server of the fleet the thread is on; written only by a bridge with
        /// several (one with a single app-server writes what it always wrote).
        #[serde(default, rename = "appServer", skip_serializing_if = "Option::is_none")]
        app_server: Option<String>,
    },
    #[serde(rename = "user_message")]
    UserMessage { text: String },
    #[serde(rename = "agent_message", rename_all = "camelCase")]
    AgentMessage { item_id: String, text: String },
    #[serde(rename = "tool_call.request", rename_all = "camelCase")]
    ToolCallRequest {
        request_id: String,
        call_id: String,
        tool: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        arguments: Value,
        /// Who is expected to answer: a handler name, or "operator".
        answerer: String,
    },
    #[serde(rename = "tool_call.resolved", rename_all = "camelCase")]
    ToolCallResolved {
        request_id: String,
        call_id: String,
        tool: String,
        status: CallEnd,
        success: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answered_by: Option<Responder>,
        latency_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<ToolCallResult>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Where the answer broke the tool's `output_schema`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        output_schema_problems: Vec<String>,
    },
    /// An approval, a question or an elicitation app-server waits on.
    #[serde(rename = "request.opened", rename_all = "camelCase")]
    RequestOpened {
        request_id: String,
        kind: RequestKind,
        method: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        /// What recognises the request when app-server sends it again after a
        /// reconnect or a restart (the item id, or the elicitation id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_key: Option<String>,
        summary: String,
        params: Value,
        /// Who is expected to answer: "you", or the policy that answers at once.
        answerer: String,
    },
    /// How it ended: who decided what, or why it expired.
    #[serde(rename = "request.resolved", rename_all = "camelCase")]
    RequestResolved {
        request_id: String,
        kind: RequestKind,
        method: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        status: CallEnd,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answered_by: Option<Responder>,
        /// The decision in a word or two (`accept`, `decline`, `1 answer(s)`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decision: Option<String>,
        /// The answer written, as app-server received it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<Value>,
        latency_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "turn.started")]
    TurnStarted,
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        status: TurnStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    #[serde(rename = "error")]
    Error { message: String },
    /// What the bridge did for the session: resumed it after a reconnect or a restart.
    #[serde(rename = "notice")]
    Notice { message: String },
    /// The session was closed; a restarted Switchboard shows it as closed.
    #[serde(rename = "session.closed")]
    SessionClosed { reason: String },
    /// A thread item of a turn other than messages and dynamic tool calls (commands, file
    /// changes, reasoning, plans, ..), by `kind`; see `bridge/items.rs`.
    #[serde(rename = "item")]
    Item(super::items::ItemRow),
}

#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("could not open transcript {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write transcript {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("thread id {shown} cannot name a transcript file: {why}")]
    ThreadId { shown: String, why: &'static str },
    #[error(
        "{} holds the transcript of thread {shown}, whose transcript file is {expected}; not using it",
        path.display()
    )]
    Misplaced {
        path: PathBuf,
        shown: String,
        expected: String,
    },
    /// A row waits in memory because the transcript cannot be written now.
    #[error("{reason}")]
    NotWritten { reason: String },
}

/// The file name of a thread's transcript, inside the sessions folder whatever the id:
/// `<id>.jsonl` for ids made of ASCII letters, digits, `-`, `_` and `.` (not first) up
/// to 200 bytes (codex's UUIDs), `~<hex of the id's bytes>.jsonl` for other ids up to
/// 120 bytes. Empty and longer ids are refused.
pub fn file_name(thread_id: &str) -> Result<String, TranscriptError> {
    let refuse = |why| TranscriptError::ThreadId {
        shown: shown_id(thread_id),
        why,
    };
    if thread_id.is_empty() {
        return Err(refuse("it is empty"));
    }
    let plain = thread_id.len() <= MAX_PLAIN_ID
        && !thread_id.starts_with('.')
        && thread_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if plain {
        return Ok(format!("{thread_id}.jsonl"));
    }
    let simple = thread_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if simple && thread_id.len() > MAX_PLAIN_ID {
        return Err(refuse("it is longer than 200 bytes"));
    }
    if thread_id.len() > MAX_ENCODED_ID {
        return Err(refuse(
            "it is longer than 120 bytes and not a plain id (letters, digits, `-`, `_` and `.`, not first, up to 200 bytes)",
        ));
    }
    let mut name = String::with_capacity(thread_id.len() * 2 + 7);
    name.push('~');
    for byte in thread_id.bytes() {
        name.push_str(&format!("{byte:02x}"));
    }
    name.push_str(".jsonl");
    Ok(name)
}

/// A thread id quoted for a message: escaped, and cut if long.
fn shown_id(thread_id: &str) -> String {
    format!("{:?}", crate::protocol::truncate_chars(thread_id, 80))
}

/// Where rows go: a file, or what tests and the soak put in its place to make writes
/// come up short or fail.
pub trait Store: Send {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
    /// The file's length in bytes.
    fn byte_len(&mut self) -> std::io::Result<u64>;
}

/// Opens the store of a transcript's path instead of the file (fault injection: see
/// `BridgeConfig::transcript_store`). A store it opens starts empty.
#[derive(Clone)]
pub struct StoreOpener(pub std::sync::Arc<OpenStore>);

/// What a [`StoreOpener`] calls with the transcript's path.
pub type OpenStore = dyn Fn(&Path) -> std::io::Result<Box<dyn Store>> + Send + Sync;

impl std::fmt::Debug for StoreOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreOpener(..)")
    }
}

impl Store for File {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        std::io::Write::write(self, bytes)
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }

    fn byte_len(&mut self) -> std::io::Result<u64> {
        self.metadata().map(|m| m.len())
    }
}

/// A transcript's file and the rows waiting to go into it.
struct Disk {
    path: PathBuf,
    /// Opens something else than the file (fault injection).
    opener: Option<StoreOpener>,
    /// `None` until the file could be opened.
    store: Option<Box<dyn Store>>,
    /// The file's length up to the end of its last whole row.
    good_len: u64,
    /// The file ends inside a line (a crash, or a cut that failed): the next write
    /// starts with a newline, so that the torn part stays a line of its own.
    torn_tail: bool,
    /// Serialised rows (with their newline) not written yet, oldest first.
    waiting: VecDeque<Vec<u8>>,
    waiting_bytes: usize,
    /// Since the failure began: rows dropped from `waiting`, rows written late.
    dropped: u64,
    written_late: u64,
}

impl Disk {
    fn new(path: PathBuf) -> Disk {
        Disk {
            path,
            opener: None,
            store: None,
            good_len: 0,
            torn_tail: false,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            dropped: 0,
            written_late: 0,
        }
    }

    /// Opens the file (created 0600) if it is not open yet.
    fn open(&mut self) -> Result<&mut Box<dyn Store>, TranscriptError> {
        let open_error = |path: &Path, source| TranscriptError::Open {
            path: path.to_path_buf(),
            source,
        };
        if self.store.is_none()
            && let Some(opener) = &self.opener
        {
            let store = (opener.0)(&self.path).map_err(|e| open_error(&self.path, e))?;
            self.store = Some(store);
        }
        if self.store.is_none() {
            if let Some(dir) = self.path.parent() {
                crate::util::create_private_dir_all(dir).map_err(|e| open_error(&self.path, e))?;
            }
            let mut file =
                open_private_append_nofollow(&self.path).map_err(|e| open_error(&self.path, e))?;
            let len = Store::byte_len(&mut file).map_err(|e| open_error(&self.path, e))?;
            self.torn_tail = len > 0 && !ends_with_newline(&file, len);
            self.good_len = len;
            self.store = Some(Box::new(file));
        }
        match self.store.as_mut() {
            Some(store) => Ok(store),
            None => Err(open_error(&self.path, std::io::Error::other("not open"))),
        }
    }

    fn queue(&mut self, line: Vec<u8>) {
        self.waiting_bytes += line.len();
        self.waiting.push_back(line);
        while self.waiting.len() > MAX_WAITING_ROWS
            || (self.waiting_bytes > MAX_WAITING_BYTES && self.waiting.len() > 1)
        {
            // Keep the first row of a file that has none yet: it makes the file a session.
            let oldest = usize::from(self.good_len == 0 && self.waiting.len() > 1);
            if let Some(dropped) = self.waiting.remove(oldest) {
                self.waiting_bytes -= dropped.len();
                self.dropped += 1;
            }
        }
    }

    /// Writes the waiting rows in order; stops at the first that cannot be written.
    fn flush(&mut self, late: bool) -> Result<(), TranscriptError> {
        if self.waiting.is_empty() {
            return Ok(());
        }
        self.open()?;
        while let Some(line) = self.waiting.front() {
            let Some(store) = self.store.as_mut() else {
                break;
            };
            let result = if self.torn_tail {
                let mut fixed = Vec::with_capacity(line.len() + 1);
                fixed.push(b'\n');
                fixed.extend_from_slice(line);
                write_whole(store.as_mut(), &fixed, &mut self.good_len)
            } else {
                write_whole(store.as_mut(), line, &mut self.good_len)
            };
            match result {
                Ok(()) => {
                    self.torn_tail = false;
                    if let Some(line) = self.waiting.pop_front() {
                        self.waiting_bytes -= line.len();
                    }
                    if late {
                        self.written_late += 1;
                    }
                }
                Err((source, torn)) => {
                    self.torn_tail |= torn;
                    return Err(TranscriptError::Write {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Appends `bytes` whole or not at all: after a short write or an error the file is cut
/// back to `good_len`. The error comes with whether the cut failed too (the file then
/// ends inside a line).
fn write_whole(
    store: &mut dyn Store,
    bytes: &[u8],
    good_len: &mut u64,
) -> Result<(), (std::io::Error, bool)> {
    let mut done = 0;
    let error = loop {
        if done == bytes.len() {
            *good_len += bytes.len() as u64;
            return Ok(());
        }
        match store.write(&bytes[done..]) {
            Ok(0) => break std::io::Error::from(std::io::ErrorKind::WriteZero),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break e,
        }
    };
    if done == 0 {
        return Err((error, false));
    }
    match store.truncate(*good_len) {
        Ok(()) => Err((error, false)),
        Err(_) => {
            // The file keeps the partial row; learn where it ends now.
            *good_len = store.byte_len().unwrap_or(*good_len + done as u64);
            Err((error, true))
        }
    }
}

fn ends_with_newline(file: &File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut last = [0u8; 1];
    matches!(file.read_at(&mut last, len - 1), Ok(1) if last[0] == b'\n')
}

/// Like `util::open_private_append`, but a symlink planted at the transcript's place is
/// refused rather than followed.
fn open_private_append_nofollow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

enum Persist {
    /// No data directory: memory only, by configuration.
    Memory,
    /// The thread id cannot name a file; nothing is ever written.
    Refused {
        shown: String,
        why: &'static str,
    },
    Disk(Disk),
}

/// A change in whether a transcript is being written, to report once.
#[derive(Debug, Clone, PartialEq)]
pub enum PersistChange {
    /// Rows are not reaching the disk. `retry` unless it can never work (a refused id).
    Failed {
        message: String,
        retry: bool,
        epoch: u64,
    },
    /// Writing works again; the waiting rows were written.
    Cleared { message: String },
}

/// A session whose transcript is not being written, for `status()` and health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotPersisted {
    pub thread_id: String,
    pub reason: String,
}

/// One session's transcript.
pub struct Transcript {
    rows: VecDeque<TranscriptRow>,
    next_seq: u64,
    persist: Persist,
    /// Why rows are not reaching the disk now.
    failure: Option<String>,
    /// Whether the current failure was reported ([`Transcript::take_change`]).
    reported: bool,
    /// Counts failures, so that a retry loop belongs to one.
    epoch: u64,
}

impl Transcript {
    fn with(persist: Persist) -> Transcript {
        Transcript {
            rows: VecDeque::new(),
            next_seq: 0,
            persist,
            failure: None,
            reported: false,
            epoch: 0,
        }
    }

    /// A transcript persisted to `dir/<file_name(thread id)>` (created 0600), opened now.
    pub fn persisted(dir: &Path, thread_id: &str) -> Result<Transcript, TranscriptError> {
        let mut disk = Disk::new(dir.join(file_name(thread_id)?));
        disk.open()?;
        Ok(Transcript::with(Persist::Disk(disk)))
    }

    /// The transcript of a new session in `dir`. It never fails: a file that cannot be
    /// opened or written is tried again, and a thread id that cannot name a file keeps
    /// the transcript in memory; either is reported by [`Transcript::take_change`].
    pub fn on_disk(dir: &Path, thread_id: &str) -> Transcript {
        Transcript::on_store(dir, thread_id, None)
    }

    /// [`Transcript::on_disk`], written to what `opener` opens instead of the file.
    pub fn on_store(dir: &Path, thread_id: &str, opener: Option<StoreOpener>) -> Transcript {
        match file_name(thread_id) {
            Ok(name) => {
                let mut disk = Disk::new(dir.join(name));
                disk.opener = opener;
                Transcript::with(Persist::Disk(disk))
            }
            Err(TranscriptError::ThreadId { shown, why }) => {
                let failure = TranscriptError::ThreadId {
                    shown: shown.clone(),
                    why,
                };
                let mut transcript = Transcript::with(Persist::Refused { shown, why });
                transcript.failure = Some(failure.to_string());
                transcript
            }
            Err(other) => {
                let mut transcript = Transcript::with(Persist::Memory);
                transcript.failure = Some(other.to_string());
                transcript
            }
        }
    }

    /// Opens the transcript `read_from` (what [`read_transcript`] read as `rows`) to
    /// append to it: numbering goes on after the last row, and the last rows are kept in
    /// memory as if they had just been written. The file must be the one the thread's id
    /// names in `dir`.
    pub fn reopen(
        dir: &Path,
        read_from: &Path,
        thread_id: &str,
        rows: &[TranscriptRow],
    ) -> Result<Transcript, TranscriptError> {
        let expected = file_name(thread_id)?;
        if read_from != dir.join(&expected) {
            return Err(TranscriptError::Misplaced {
                path: read_from.to_path_buf(),
                shown: shown_id(thread_id),
                expected,
            });
        }
        let mut transcript = Transcript::persisted(dir, thread_id)?;
        if let Persist::Disk(disk) = &mut transcript.persist
            && disk.torn_tail
            && let Some(store) = disk.store.as_mut()
        {
            // A crash mid-write can leave a last line without its newline; end it now
            // (or, if that fails, with the next row), so the next row stays readable.
            if write_whole(store.as_mut(), b"\n", &mut disk.good_len).is_ok() {
                disk.torn_tail = false;
            }
        }
        transcript.next_seq = rows.last().map_or(0, |r| r.seq + 1);
        // A live row's later states replace its first (bridge/items.rs).
        let rows = super::items::keep_last_of_each(rows.to_vec());
        let keep_from = rows.len().saturating_sub(MEMORY_WINDOW);
        transcript.rows = rows[keep_from..].iter().cloned().map(capped).collect();
        Ok(transcript)
    }

    pub fn in_memory() -> Transcript {
        Transcript::with(Persist::Memory)
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.persist {
            Persist::Disk(disk) => Some(disk.path.as_path()),
            Persist::Memory | Persist::Refused { .. } => None,
        }
    }

    /// True when every row so far is on disk.
    pub fn is_persisted(&self) -> bool {
        matches!(self.persist, Persist::Disk(_)) && self.failure.is_none()
    }

    /// Why rows are not reaching the disk, while they are not (`None` for a transcript
    /// kept in memory by configuration).
    pub fn persist_error(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Appends a row: written to disk first, then kept in memory. A row that cannot be
    /// written now waits (after any older waiting rows) and the error says why; the row
    /// is kept all the same, so the session goes on.
    pub fn append(
        &mut self,
        at_ms: i64,
        turn_id: Option<String>,
        entry: TranscriptEntry,
    ) -> (TranscriptRow, Result<(), TranscriptError>) {
        let row = TranscriptRow {
            seq: self.next_seq,
            at_ms,
            turn_id,
            entry,
        };
        self.next_seq += 1;
        let written = self.write(&row);
        let mut row = row;
        super::items::cap_in_memory(&mut row.entry);
        if self.rows.len() == MEMORY_WINDOW {
            self.rows.pop_front();
        }
        self.rows.push_back(row.clone());
        (row, written)
    }

    /// A live row changed (see `bridge/items.rs`): row `seq` in memory takes `entry`;
    /// nothing is written. The row as it is now, if it is still in memory.
    pub fn update(&mut self, seq: u64, mut entry: TranscriptEntry) -> Option<TranscriptRow> {
        super::items::cap_in_memory(&mut entry);
        let at = self.rows.binary_search_by_key(&seq, |r| r.seq).ok()?;
        let row = self.rows.get_mut(at)?;
        row.entry = entry;
        Some(row.clone())
    }

    /// A live row's last state: written as a new row (the file is only appended to; a
    /// reader keeps a live row's last state), and in memory it replaces row `live_seq`,
    /// which keeps its number and start time. The row as memory has it now.
    pub fn append_final(
        &mut self,
        at_ms: i64,
        turn_id: Option<String>,
        live_seq: u64,
        entry: TranscriptEntry,
    ) -> (TranscriptRow, Result<(), TranscriptError>) {
        let Ok(at) = self.rows.binary_search_by_key(&live_seq, |r| r.seq) else {
            return self.append(at_ms, turn_id, entry);
        };
        let row = TranscriptRow {
            seq: self.next_seq,
            at_ms,
            turn_id,
            entry,
        };
        self.next_seq += 1;
        let written = self.write(&row);
        let mut entry = row.entry;
        super::items::cap_in_memory(&mut entry);
        let Some(kept) = self.rows.get_mut(at) else {
            return (TranscriptRow { entry, ..row }, written);
        };
        kept.entry = entry;
        (kept.clone(), written)
    }

    /// Writes a row to the file (or has it wait); memory is the caller's.
    fn write(&mut self, row: &TranscriptRow) -> Result<(), TranscriptError> {
        match &mut self.persist {
            Persist::Memory => match &self.failure {
                Some(reason) => Err(TranscriptError::NotWritten {
                    reason: reason.clone(),
                }),
                None => Ok(()),
            },
            Persist::Refused { shown, why } => Err(TranscriptError::ThreadId {
                shown: shown.clone(),
                why,
            }),
            Persist::Disk(disk) => {
                match serde_json::to_vec(row) {
                    Ok(mut line) => {
                        line.push(b'\n');
                        disk.queue(line);
                    }
                    Err(e) => {
                        tracing::error!(target: "bridge", "could not encode a transcript row: {e}")
                    }
                }
                let late = self.failure.is_some();
                match disk.flush(late) {
                    Ok(()) => {
                        self.failure = None;
                        Ok(())
                    }
                    Err(error) => {
                        self.failure = Some(error.to_string());
                        Err(error)
                    }
                }
            }
        }
    }

    /// Tries again to write the rows that wait. True while the failure numbered `epoch`
    /// goes on (so its retry loop should go on).
    pub fn retry(&mut self, epoch: u64) -> bool {
        if self.failure.is_none() || epoch != self.epoch {
            return false;
        }
        if let Persist::Disk(disk) = &mut self.persist {
            match disk.flush(true) {
                Ok(()) => self.failure = None,
                Err(error) => {
                    tracing::debug!(target: "bridge", "transcript retry failed: {error}");
                    self.failure = Some(error.to_string());
                }
            }
        }
        self.failure.is_some()
    }

    /// What changed in whether rows reach the disk since the last call, once per change.
    pub fn take_change(&mut self) -> Option<PersistChange> {
        match (&self.failure, self.reported) {
            (Some(message), false) => {
                self.reported = true;
                self.epoch += 1;
                Some(PersistChange::Failed {
                    message: message.clone(),
                    retry: matches!(self.persist, Persist::Disk(_)),
                    epoch: self.epoch,
                })
            }
            (None, true) => {
                self.reported = false;
                let (late, dropped) = match &mut self.persist {
                    Persist::Disk(disk) => (
                        std::mem::take(&mut disk.written_late),
                        std::mem::take(&mut disk.dropped),
                    ),
                    Persist::Memory | Persist::Refused { .. } => (0, 0),
                };
                let mut message = format!(
                    "the transcript is written again: {late} row(s) that waited were written"
                );
                if dropped > 0 {
                    message.push_str(&format!(
                        "; {dropped} older row(s) were lost (more than {MAX_WAITING_ROWS} rows or {} MiB waited)",
                        MAX_WAITING_BYTES / (1024 * 1024)
                    ));
                }
                Some(PersistChange::Cleared { message })
            }
            _ => None,
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = &TranscriptRow> {
        self.rows.iter()
    }

    pub fn len(&self) -> u64 {
        self.next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }
}

/// Reports what changed in whether `session`'s transcript reaches the disk: a failure
/// as an `error` event, an `error` row (which waits with the others) and the updated
/// session summary (`persisted: false` and why), then a retry loop with back-off; its
/// end as a `notice` row and the summary again. Returns the events to send, in order.
pub(super) fn report_changes(
    session: &mut Session,
    now_ms: i64,
    commands: &mpsc::WeakSender<Command>,
) -> Vec<BridgeEvent> {
    let mut events = Vec::new();
    // A notice that fails to be written is itself a failure to report; no more rounds.
    for _ in 0..3 {
        let Some(change) = session.transcript.take_change() else {
            break;
        };
        let thread_id = session.thread_id.clone();
        let entry = match change {
            PersistChange::Failed {
                message,
                retry,
                epoch,
            } => {
                let message = if retry {
                    tracing::error!(target: "bridge", "session {thread_id}: {message}; retrying");
                    spawn_retry(thread_id.clone(), epoch, commands.clone());
                    format!("transcript not persisted: {message}; retrying")
                } else {
                    tracing::error!(target: "bridge", "session {thread_id}: {message}; keeping the transcript in memory only");
                    format!(
                        "transcript not persisted: {message}; the transcript is kept in memory only"
                    )
                };
                events.push(BridgeEvent::Error {
                    thread_id: Some(thread_id.clone()),
                    message: message.clone(),
                });
                TranscriptEntry::Error { message }
            }
            PersistChange::Cleared { message } => {
                tracing::info!(target: "bridge", "session {thread_id}: {message}");
                TranscriptEntry::Notice { message }
            }
        };
        let (row, _) = session.transcript.append(now_ms, None, entry);
        events.push(BridgeEvent::TranscriptAppended {
            thread_id: thread_id.clone(),
            row,
        });
        events.push(BridgeEvent::SessionUpdated {
            session: session.summary(),
        });
    }
    events
}

/// The sessions whose transcript is not being written now, by thread id.
pub(super) fn not_persisted<'a>(sessions: impl Iterator<Item = &'a Session>) -> Vec<NotPersisted> {
    let mut list: Vec<NotPersisted> = sessions
        .filter_map(|s| {
            s.transcript.persist_error().map(|reason| NotPersisted {
                thread_id: s.thread_id.clone(),
                reason: reason.to_string(),
            })
        })
        .collect();
    list.sort_by(|a, b| a.thread_id.cmp(&b.thread_id));
    list
}

/// What health says while transcripts are not being written: how many, and the first.
pub fn degraded_reason(not_persisted: &[NotPersisted]) -> Option<String> {
    let first = not_persisted.first()?;
    Some(format!(
        "{} session(s) not persisted; session {}: {}",
        not_persisted.len(),
        first.thread_id,
        first.reason
    ))
}

/// Asks the actor to retry a failed transcript after 1 s, 2 s, 4 s ... (at most 30 s
/// apart) until the failure numbered `epoch` ends or the bridge stops.
fn spawn_retry(thread_id: String, epoch: u64, commands: mpsc::WeakSender<Command>) {
    tokio::spawn(async move {
        let mut delay = RETRY_START;
        loop {
            tokio::time::sleep(delay).await;
            // Upgraded only to send: a sleeping retry never keeps the bridge alive.
            let Some(tx) = commands.upgrade() else {
                return;
            };
            let (reply, answer) = oneshot::channel();
            let asked = Command::RetryTranscript {
                thread_id: thread_id.clone(),
                epoch,
                reply,
            };
            if tx.send(asked).await.is_err() {
                return;
            }
            drop(tx);
            if !matches!(answer.await, Ok(true)) {
                return;
            }
            delay = (delay * 2).min(RETRY_MAX);
        }
    });
}

/// A row as memory keeps it (a command's output cut to its tail, see
/// [`super::items::cap_in_memory`]): every row a session holds, appended or read back
/// from disk, goes through this; the file keeps the row whole.
pub fn capped(mut row: TranscriptRow) -> TranscriptRow {
    super::items::cap_in_memory(&mut row.entry);
    row
}

/// Reads a transcript file back: its bytes are split into lines and each line decoded
/// on its own (UTF-8, then JSON), so a torn or garbled line costs only itself. Returns
/// the rows and how many non-blank lines were dropped.
pub fn read_transcript(path: &Path) -> std::io::Result<(Vec<TranscriptRow>, usize)> {
    Ok(parse_transcript(&std::fs::read(path)?))
}

/// The notice a restored session's transcript gets when lines were dropped reading it.
pub(super) fn skipped_notice(skipped_lines: usize) -> Option<String> {
    (skipped_lines > 0).then(|| {
        format!(
            "restored from the transcript; {skipped_lines} unreadable line(s) (torn by a crash, not UTF-8 or not JSON) were skipped"
        )
    })
}

/// [`read_transcript`] on bytes already read.
pub fn parse_transcript(bytes: &[u8]) -> (Vec<TranscriptRow>, usize) {
    let mut rows = Vec::new();
    let mut bad = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row = std::str::from_utf8(line)
            .ok()
            .and_then(|text| serde_json::from_str::<TranscriptRow>(text).ok());
        match row {
            Some(row) => rows.push(row),
            None => bad += 1,
        }
    }
    (rows, bad)
}

#[cfg(test)]
#[path = "transcript_tests.rs"]
pub(super) mod tests;

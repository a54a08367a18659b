//! Per-session transcripts: rows kept in a bounded in-memory window and appended to a
//! JSONL file as they happen, so a crash loses nothing that was shown.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::events::{CallEnd, Responder};
use crate::protocol::{RequestKind, ToolCallResult, TurnStatus};

/// Rows kept in memory per session; older ones live only on disk.
pub const MEMORY_WINDOW: usize = 5_000;

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
}

/// One session's transcript.
pub struct Transcript {
    rows: VecDeque<TranscriptRow>,
    next_seq: u64,
    file: Option<(PathBuf, File)>,
}

impl Transcript {
    /// A transcript persisted to `dir/<thread id>.jsonl` (created 0600).
    pub fn persisted(dir: &Path, thread_id: &str) -> Result<Transcript, TranscriptError> {
        let path = dir.join(format!("{thread_id}.jsonl"));
        crate::util::create_private_dir_all(dir).map_err(|source| TranscriptError::Open {
            path: path.clone(),
            source,
        })?;
        let file =
            crate::util::open_private_append(&path).map_err(|source| TranscriptError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Transcript {
            rows: VecDeque::new(),
            next_seq: 0,
            file: Some((path, file)),
        })
    }

    /// Opens an existing transcript to append to it after `rows` (what
    /// [`read_transcript`] read from it): numbering goes on after the last row, and the
    /// last rows are kept in memory as if they had just been written.
    pub fn reopen(
        dir: &Path,
        thread_id: &str,
        rows: &[TranscriptRow],
    ) -> Result<Transcript, TranscriptError> {
        let mut transcript = Transcript::persisted(dir, thread_id)?;
        if let Some((path, file)) = &mut transcript.file {
            // A crash mid-write can leave a last line without its newline; end it, or the
            // next row would be glued to it and both would be unreadable.
            let unterminated = std::fs::read(path.as_path())
                .map(|bytes| bytes.last().is_some_and(|b| *b != b'\n'))
                .unwrap_or(false);
            if unterminated {
                file.write_all(b"\n")
                    .map_err(|source| TranscriptError::Write {
                        path: path.clone(),
                        source,
                    })?;
            }
        }
        transcript.next_seq = rows.last().map_or(0, |r| r.seq + 1);
        let keep_from = rows.len().saturating_sub(MEMORY_WINDOW);
        transcript.rows = rows[keep_from..].iter().cloned().collect();
        Ok(transcript)
    }

    pub fn in_memory() -> Transcript {
        Transcript {
            rows: VecDeque::new(),
            next_seq: 0,
            file: None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Appends a row: written to disk first, then kept in memory. A failed write is
    /// reported but the row is still kept, so the session goes on.
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
        let written = match &mut self.file {
            Some((path, file)) => write_row(file, &row).map_err(|source| TranscriptError::Write {
                path: path.clone(),
                source,
            }),
            None => Ok(()),
        };
        if self.rows.len() == MEMORY_WINDOW {
            self.rows.pop_front();
        }
        self.rows.push_back(row.clone());
        (row, written)
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

fn write_row(file: &mut File, row: &TranscriptRow) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(row).map_err(std::io::Error::other)?;
    line.push(b'\n');
    // One write per row: a crash never leaves half of an earlier row behind.
    file.write_all(&line)
}

/// Reads a transcript file back, skipping (and counting) lines that do not parse.
pub fn read_transcript(path: &Path) -> std::io::Result<(Vec<TranscriptRow>, usize)> {
    let text = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(row) => rows.push(row),
            Err(_) => bad += 1,
        }
    }
    Ok((rows, bad))
}

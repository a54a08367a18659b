//! Transcript rows for the thread items of a turn that are not messages or dynamic tool
//! calls: commands, file changes, reasoning, plans, MCP tool calls, web searches, image
//! views, review mode, context compaction, any kind not known yet (kept whole), and what
//! else happens in a turn: the turn's diff, hook runs, model reroutes, warnings, errors.
//!
//! [`ItemFold`] is a pure fold of app-server notifications into row changes. A row is
//! *live* from its `item/started` (or the turn's first plan or diff update) until its
//! `item/completed` (or the turn's end): it is appended once when it starts, changes in
//! memory as deltas arrive (command output, reasoning summary, patch output, plan text,
//! the turn's plan and diff), and its last state is appended again when it ends (same
//! item id: reading back keeps the last, see [`keep_last_of_each`]). The fold marks live
//! rows dirty and hands them out at most every [`FLUSH_EVERY`] ([`ItemFold::take_dirty`]),
//! so a command printing a thousand lines a second costs subscribers ten updates a
//! second, and the disk two rows.
//!
//! A command's output is written to disk whole; the row kept in memory (and sent to
//! subscribers) keeps its last [`OUTPUT_IN_MEMORY`] bytes and says how many were cut
//! ([`cap_in_memory`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::transcript::{TranscriptEntry, TranscriptRow};
use crate::protocol::Notification;
use crate::protocol::items::{
    DeltaStream, HookOutputEntry, HookRun, Item, ItemNotification, PlanStep, WarningKind,
};

/// Bytes of a command's output a row keeps in memory; the file has all of it.
pub const OUTPUT_IN_MEMORY: usize = 16 * 1024;
/// Bytes of streamed output kept per running command (its tail), used when the
/// completed item carries no `aggregatedOutput`.
pub const STREAMED_OUTPUT_MAX: usize = 1024 * 1024;
/// Live rows that changed are handed out at most this often.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One file of a file change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDiff {
    pub path: String,
    /// `add`, `delete` or `update`.
    pub change: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_path: Option<String>,
    pub diff: String,
}

/// A thread item as a transcript row, by kind (`"type":"item","kind":..` on disk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ItemRow {
    #[serde(rename_all = "camelCase")]
    Command {
        item_id: String,
        command: String,
        cwd: String,
        /// `inProgress` while it runs, then `completed`, `failed`, `declined` (or
        /// `interrupted` when its turn ended first).
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<i64>,
        output: String,
        /// Bytes cut from the front of `output` in memory; the file has them.
        #[serde(default, skip_serializing_if = "is_zero")]
        output_cut_bytes: usize,
        /// Lines of the whole output, cut ones included.
        #[serde(default, skip_serializing_if = "is_zero")]
        output_lines: usize,
    },
    #[serde(rename_all = "camelCase")]
    FileChange {
        item_id: String,
        status: String,
        files: Vec<FileDiff>,
        /// What applying the patch printed (`item/fileChange/outputDelta`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        output: String,
    },
    #[serde(rename_all = "camelCase")]
    Reasoning {
        item_id: String,
        summary: Vec<String>,
    },
    /// The turn's plan as it stands (`turn/plan/updated`), or a `plan` item's text.
    #[serde(rename_all = "camelCase")]
    Plan {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        explanation: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        steps: Vec<PlanStep>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// The turn's whole diff so far (`turn/diff/updated`): one row per turn.
    #[serde(rename_all = "camelCase")]
    TurnDiff { diff: String },
    #[serde(rename_all = "camelCase")]
    McpToolCall {
        item_id: String,
        server: String,
        tool: String,
        status: String,
        arguments: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<i64>,
    },
    #[serde(rename_all = "camelCase")]
    WebSearch {
        item_id: String,
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<Value>,
    },
    #[serde(rename_all = "camelCase")]
    ImageView { item_id: String, path: String },
    #[serde(rename_all = "camelCase")]
    ReviewMode {
        item_id: String,
        entered: bool,
        review: String,
    },
    #[serde(rename_all = "camelCase")]
    ContextCompaction { item_id: String },
    /// A configured hook's run (`hook/started`, `hook/completed`).
    #[serde(rename_all = "camelCase")]
    Hook {
        run_id: String,
        event_name: String,
        handler_type: String,
        /// `running`, `completed`, `failed`, `blocked` or `stopped`.
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status_message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        entries: Vec<HookOutputEntry>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_path: Option<String>,
    },
    /// codex moved the turn to another model (`model/rerouted`).
    #[serde(rename_all = "camelCase")]
    ModelReroute {
        from_model: String,
        to_model: String,
        reason: String,
    },
    /// A warning (`warning`, `guardianWarning`, `configWarning`, `deprecationNotice`,
    /// `model/safetyBuffering/updated`).
    #[serde(rename_all = "camelCase")]
    Warning {
        source: WarningKind,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<String>,
    },
    /// A turn's error (`error`): final, or retried by codex.
    #[serde(rename_all = "camelCase")]
    Error {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default)]
        will_retry: bool,
    },
    /// An item kind Switchboard does not show yet: its type and the item as it came.
    #[serde(rename_all = "camelCase")]
    Other {
        item_id: String,
        item_type: String,
        item: Value,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ItemRow {
    /// The row's kind as the API names it (`item.command`, ..).
    pub fn type_name(&self) -> &'static str {
        match self {
            ItemRow::Command { .. } => "item.command",
            ItemRow::FileChange { .. } => "item.file_change",
            ItemRow::Reasoning { .. } => "item.reasoning",
            ItemRow::Plan { .. } => "item.plan",
            ItemRow::TurnDiff { .. } => "item.turn_diff",
            ItemRow::McpToolCall { .. } => "item.mcp_tool_call",
            ItemRow::WebSearch { .. } => "item.web_search",
            ItemRow::ImageView { .. } => "item.image_view",
            ItemRow::ReviewMode { .. } => "item.review_mode",
            ItemRow::ContextCompaction { .. } => "item.context_compaction",
            ItemRow::Hook { .. } => "item.hook",
            ItemRow::ModelReroute { .. } => "item.model_reroute",
            ItemRow::Warning { .. } => "item.warning",
            ItemRow::Error { .. } => "item.error",
            ItemRow::Other { .. } => "item.other",
        }
    }

    /// One line saying what the item was.
    pub fn headline(&self) -> String {
        match self {
            ItemRow::Command {
                command,
                status,
                exit_code,
                ..
            } => match exit_code {
                Some(code) => format!("{command} ({status}, exit {code})"),
                None => format!("{command} ({status})"),
            },
            ItemRow::FileChange { status, files, .. } => {
                format!("{} file(s) changed ({status})", files.len())
            }
            ItemRow::Reasoning { summary, .. } => summary.join(" "),
            ItemRow::Plan { steps, text, .. } => match text {
                Some(text) if steps.is_empty() => text.clone(),
                _ => format!("plan: {} step(s)", steps.len()),
            },
            ItemRow::TurnDiff { diff } => {
                format!("turn diff: {} file(s)", diff_files(diff).len())
            }
            ItemRow::McpToolCall {
                server,
                tool,
                status,
                ..
            } => format!("{server}.{tool} ({status})"),
            ItemRow::WebSearch { query, .. } => format!("web search: {query}"),
            ItemRow::ImageView { path, .. } => format!("viewed image {path}"),
            ItemRow::ReviewMode {
                entered, review, ..
            } => {
                let what = if *entered { "entered" } else { "exited" };
                format!("{what} review mode: {review}")
            }
            ItemRow::ContextCompaction { .. } => "context compacted".to_string(),
            ItemRow::Hook {
                event_name,
                handler_type,
                status,
                ..
            } => format!("hook {event_name} ({handler_type}): {status}"),
            ItemRow::ModelReroute {
                from_model,
                to_model,
                reason,
            } => format!("model rerouted from {from_model} to {to_model} ({reason})"),
            ItemRow::Warning {
                source, message, ..
            } => format!("{}: {message}", warning_label(*source)),
            ItemRow::Error {
                message,
                will_retry,
                ..
            } => {
                if *will_retry {
                    format!("error (codex retries): {message}")
                } else {
                    format!("error: {message}")
                }
            }
            ItemRow::Other { item_type, .. } => format!("{item_type} item"),
        }
    }

    /// True while the row is live: its item has not completed yet.
    pub fn is_running(&self) -> bool {
        match self {
            ItemRow::Command { status, .. }
            | ItemRow::FileChange { status, .. }
            | ItemRow::McpToolCall { status, .. } => status == "inProgress",
            ItemRow::Hook { status, .. } => status == "running",
            _ => false,
        }
    }
}

/// How a warning's source is named on screen.
pub fn warning_label(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::Warning => "warning",
        WarningKind::Guardian => "guardian warning",
        WarningKind::Config => "config warning",
        WarningKind::Deprecation => "deprecated",
        WarningKind::SafetyBuffering => "safety check",
    }
}

/// The files a unified diff touches (its `+++ b/..` lines, or `--- a/..` for deletions).
pub fn diff_files(diff: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut old = None;
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("--- ") {
            old = Some(path.trim_start_matches("a/").to_string());
        } else if let Some(path) = line.strip_prefix("+++ ") {
            let path = if path == "/dev/null" {
                old.take().unwrap_or_default()
            } else {
                path.trim_start_matches("b/").to_string()
            };
            files.push(path);
        }
    }
    files
}

/// The row of an item; `None` for the kinds the bridge shows otherwise (user and agent
/// messages, dynamic tool calls). `streamed` is the command output gathered from its
/// deltas, used when the item carries none.
pub fn item_row(item: Item, streamed: Option<String>) -> Option<ItemRow> {
    let row = match item {
        Item::UserMessage(_) | Item::AgentMessage(_) | Item::DynamicToolCall(_) => return None,
        Item::CommandExecution(c) => {
            let output = c.aggregated_output.or(streamed).unwrap_or_default();
            ItemRow::Command {
                item_id: c.id,
                command: c.command,
                cwd: c.cwd,
                status: c.status,
                exit_code: c.exit_code,
                duration_ms: c.duration_ms,
                output_lines: count_lines(&output),
                output,
                output_cut_bytes: 0,
            }
        }
        Item::FileChange(f) => ItemRow::FileChange {
            item_id: f.id,
            status: f.status,
            files: f
                .changes
                .into_iter()
                .map(|c| FileDiff {
                    change: c.kind_name().to_string(),
                    move_path: c.move_path().map(str::to_string),
                    path: c.path,
                    diff: c.diff,
                })
                .collect(),
            output: String::new(),
        },
        Item::Reasoning(r) => ItemRow::Reasoning {
            item_id: r.id,
            summary: r.summary,
        },
        Item::Plan(p) => ItemRow::Plan {
            text: Some(p.text("text").to_string()),
            item_id: Some(p.id),
            explanation: None,
            steps: Vec::new(),
        },
        Item::McpToolCall(m) => ItemRow::McpToolCall {
            error: m.error_message().map(str::to_string),
            item_id: m.id,
            server: m.server,
            tool: m.tool,
            status: m.status,
            arguments: m.arguments,
            result: m.result.filter(|r| !r.is_null()),
            duration_ms: m.duration_ms,
        },
        Item::WebSearch(w) => ItemRow::WebSearch {
            item_id: w.id,
            query: w.query,
            action: w.action.filter(|a| !a.is_null()),
        },
        Item::ImageView(p) => ItemRow::ImageView {
            path: p.text("path").to_string(),
            item_id: p.id,
        },
        Item::EnteredReviewMode(p) => ItemRow::ReviewMode {
            entered: true,
            review: p.text("review").to_string(),
            item_id: p.id,
        },
        Item::ExitedReviewMode(p) => ItemRow::ReviewMode {
            entered: false,
            review: p.text("review").to_string(),
            item_id: p.id,
        },
        Item::ContextCompaction(p) => ItemRow::ContextCompaction { item_id: p.id },
        Item::Unknown { kind, raw } => ItemRow::Other {
            item_id: raw
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            item_type: kind,
            item: raw,
        },
    };
    Some(row)
}

fn hook_row(run: HookRun) -> ItemRow {
    ItemRow::Hook {
        run_id: run.id,
        event_name: run.event_name,
        handler_type: run.handler_type,
        status: run.status,
        status_message: run.status_message,
        duration_ms: run.duration_ms,
        entries: run.entries,
        source_path: run.source_path,
    }
}

/// Lines of `text`, a last line without its newline included.
pub fn count_lines(text: &str) -> usize {
    let newlines = text.bytes().filter(|b| *b == b'\n').count();
    newlines + usize::from(!text.is_empty() && !text.ends_with('\n'))
}

/// What identifies a row that changes in place, within its thread: the item id, or for
/// the rows of a turn (plan, diff, safety check) the turn's id, or a hook run's id.
/// `None` for rows that never change.
pub fn live_key(turn_id: Option<&str>, row: &ItemRow) -> Option<String> {
    let key = match row {
        ItemRow::Command { item_id, .. }
        | ItemRow::FileChange { item_id, .. }
        | ItemRow::Reasoning { item_id, .. }
        | ItemRow::McpToolCall { item_id, .. }
        | ItemRow::WebSearch { item_id, .. }
        | ItemRow::ImageView { item_id, .. }
        | ItemRow::ReviewMode { item_id, .. }
        | ItemRow::ContextCompaction { item_id, .. }
        | ItemRow::Other { item_id, .. }
        | ItemRow::Plan {
            item_id: Some(item_id),
            ..
        } => item_id.clone(),
        ItemRow::Plan { item_id: None, .. } => format!("plan@{}", turn_id?),
        ItemRow::TurnDiff { .. } => format!("diff@{}", turn_id?),
        ItemRow::Hook { run_id, .. } => format!("hook@{run_id}"),
        ItemRow::Warning {
            source: WarningKind::SafetyBuffering,
            ..
        } => format!("safety@{}", turn_id?),
        ItemRow::ModelReroute { .. } | ItemRow::Warning { .. } | ItemRow::Error { .. } => {
            return None;
        }
    };
    (!key.is_empty()).then_some(key)
}

/// Rows read back from a transcript file as they were last shown: a live row's later
/// states (the same turn and [`live_key`]) replace its first one, in the first one's
/// place.
pub fn keep_last_of_each(rows: Vec<TranscriptRow>) -> Vec<TranscriptRow> {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<TranscriptRow> = Vec::with_capacity(rows.len());
    for row in rows {
        // Item ids are unique in a turn only (the scripted model reuses `call_1`).
        let key = match &row.entry {
            TranscriptEntry::Item(item) => live_key(row.turn_id.as_deref(), item)
                .map(|key| format!("{}/{key}", row.turn_id.as_deref().unwrap_or_default())),
            _ => None,
        };
        match key {
            Some(key) => match first.get(&key) {
                Some(&at) => out[at].entry = row.entry,
                None => {
                    first.insert(key, out.len());
                    out.push(row);
                }
            },
            None => out.push(row),
        }
    }
    out
}

/// What a notification changes in the transcripts.
#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    /// A new row, for `thread_id` (every open session when `None`: a warning about
    /// codex as a whole). `live`: its key, when later notifications change it in place;
    /// tell [`ItemFold::placed`] the row's number.
    Append {
        thread_id: Option<String>,
        turn_id: Option<String>,
        entry: TranscriptEntry,
        live: Option<String>,
    },
    /// A live row's last state: appended to the file as a new row, and in memory it
    /// replaces row `seq`.
    Finish {
        thread_id: String,
        turn_id: Option<String>,
        seq: u64,
        entry: TranscriptEntry,
    },
}

/// A row while it is live.
#[derive(Debug)]
struct Live {
    turn_id: Option<String>,
    /// The row's number once appended.
    seq: Option<u64>,
    row: ItemRow,
    /// A command's newlines so far (all of them, also those cut from `row.output`).
    newlines: usize,
    /// Bytes of a command's streamed output cut from the front (beyond
    /// [`STREAMED_OUTPUT_MAX`]).
    cut: usize,
}

/// Counts of what the fold did: what the coalescing saves.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FoldCounts {
    /// Deltas and updates folded into live rows.
    pub changes: u64,
    /// Times dirty rows were handed out.
    pub flushes: u64,
    /// Row updates handed out.
    pub updates: u64,
}

/// What the bridge keeps between a turn's notifications: the live rows.
#[derive(Debug, Default)]
pub struct ItemFold {
    /// By (thread, live key).
    live: HashMap<(String, String), Live>,
    /// Live rows changed since the last flush.
    dirty: HashSet<(String, String)>,
    /// When the first of them changed.
    dirty_since: Option<Instant>,
    last_flush: Option<Instant>,
    pub counts: FoldCounts,
}

impl ItemFold {
    /// Folds one notification received at `now`; gives the rows it adds or ends.
    pub fn fold(&mut self, notification: &Notification, now: Instant) -> Vec<RowChange> {
        if notification.method == crate::protocol::types::method::TURN_COMPLETED {
            let params = notification.params.as_ref();
            let field = |key: &str| {
                params
                    .and_then(|p| p.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let turn = params.and_then(|p| p.get("turn"));
            let turn_id = turn.and_then(|t| t.get("id")).and_then(Value::as_str);
            let status = turn
                .and_then(|t| t.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("completed");
            return match (field("threadId"), turn_id) {
                (Some(thread), Some(turn_id)) => self.end_turn(&thread, turn_id, status),
                _ => Vec::new(),
            };
        }
        let Some(Ok(typed)) = ItemNotification::parse(notification) else {
            return Vec::new();
        };
        self.fold_typed(typed, now)
    }

    pub fn fold_typed(&mut self, notification: ItemNotification, now: Instant) -> Vec<RowChange> {
        match notification {
            ItemNotification::Started {
                thread_id,
                turn_id,
                item,
            } => match item_row(item, None) {
                Some(row) => self.open(thread_id, Some(turn_id), row),
                None => Vec::new(),
            },
            ItemNotification::Delta {
                thread_id,
                item_id,
                stream,
                delta,
                ..
            } => {
                self.change(&thread_id, &item_id, now, |live| {
                    apply_delta(live, stream, &delta)
                });
                Vec::new()
            }
            ItemNotification::ReasoningSummaryPartAdded {
                thread_id,
                item_id,
                summary_index,
                ..
            } => {
                self.change(&thread_id, &item_id, now, |live| {
                    if let ItemRow::Reasoning { summary, .. } = &mut live.row {
                        let index = usize::try_from(summary_index).unwrap_or(0);
                        if summary.len() <= index {
                            summary.resize(index + 1, String::new());
                        }
                    }
                });
                Vec::new()
            }
            ItemNotification::Completed {
                thread_id,
                turn_id,
                item,
            } => {
                let key = (thread_id.clone(), item.id().to_string());
                let live = self.live.remove(&key);
                self.dirty.remove(&key);
                let streamed = live.as_ref().and_then(|l| match &l.row {
                    ItemRow::Command { output, .. } => Some(output.clone()),
                    _ => None,
                });
                let Some(mut row) = item_row(item, streamed) else {
                    return Vec::new();
                };
                if let (Some(live), ItemRow::FileChange { output, .. }) = (&live, &mut row)
                    && let ItemRow::FileChange {
                        output: streamed, ..
                    } = &live.row
                    && output.is_empty()
                {
                    output.clone_from(streamed);
                }
                self.close(thread_id, Some(turn_id), live, row)
            }
            ItemNotification::PlanUpdated {
                thread_id,
                turn_id,
                explanation,
                plan,
            } => self.upsert(
                thread_id,
                Some(turn_id),
                ItemRow::Plan {
                    item_id: None,
                    explanation,
                    steps: plan,
                    text: None,
                },
                now,
            ),
            ItemNotification::DiffUpdated {
                thread_id,
                turn_id,
                diff,
            } => self.upsert(thread_id, Some(turn_id), ItemRow::TurnDiff { diff }, now),
            ItemNotification::Hook {
                thread_id,
                turn_id,
                run,
                completed,
            } => {
                let row = hook_row(run);
                if completed {
                    let live = live_key(None, &row).and_then(|key| {
                        let key = (thread_id.clone(), key);
                        self.dirty.remove(&key);
                        self.live.remove(&key)
                    });
                    self.close(thread_id, turn_id, live, row)
                } else {
                    self.open(thread_id, turn_id, row)
                }
            }
            ItemNotification::ModelRerouted {
                thread_id,
                turn_id,
                from_model,
                to_model,
                reason,
            } => vec![RowChange::Append {
                thread_id: Some(thread_id),
                turn_id: Some(turn_id),
                entry: TranscriptEntry::Item(ItemRow::ModelReroute {
                    from_model,
                    to_model,
                    reason,
                }),
                live: None,
            }],
            ItemNotification::Warning {
                thread_id,
                turn_id,
                kind,
                message,
                details,
            } => {
                let row = ItemRow::Warning {
                    source: kind,
                    message,
                    details,
                };
                match (&thread_id, live_key(turn_id.as_deref(), &row)) {
                    (Some(thread), Some(_)) => self.upsert(thread.clone(), turn_id, row, now),
                    _ => vec![RowChange::Append {
                        thread_id,
                        turn_id,
                        entry: TranscriptEntry::Item(row),
                        live: None,
                    }],
                }
            }
            ItemNotification::Error {
                thread_id,
                turn_id,
                message,
                details,
                code,
                will_retry,
            } => vec![RowChange::Append {
                thread_id: Some(thread_id),
                turn_id: Some(turn_id),
                entry: TranscriptEntry::Item(ItemRow::Error {
                    message,
                    details,
                    code,
                    will_retry,
                }),
                live: None,
            }],
        }
    }

    /// A row that starts live.
    fn open(&mut self, thread_id: String, turn_id: Option<String>, row: ItemRow) -> Vec<RowChange> {
        let Some(key) = live_key(turn_id.as_deref(), &row) else {
            return Vec::new();
        };
        let entry = TranscriptEntry::Item(row.clone());
        self.live.insert(
            (thread_id.clone(), key.clone()),
            Live {
                turn_id: turn_id.clone(),
                seq: None,
                row,
                newlines: 0,
                cut: 0,
            },
        );
        vec![RowChange::Append {
            thread_id: Some(thread_id),
            turn_id,
            entry,
            live: Some(key),
        }]
    }

    /// A row's last state: it replaces its live row, or is a new row when there was none.
    fn close(
        &mut self,
        thread_id: String,
        turn_id: Option<String>,
        live: Option<Live>,
        mut row: ItemRow,
    ) -> Vec<RowChange> {
        let entry = |row: ItemRow| TranscriptEntry::Item(row);
        match live {
            Some(Live {
                seq: Some(seq),
                turn_id: live_turn,
                newlines,
                cut,
                row: live_row,
            }) => {
                if let ItemRow::Command {
                    output,
                    output_lines,
                    output_cut_bytes,
                    ..
                } = &mut row
                    && let ItemRow::Command {
                        output: streamed, ..
                    } = &live_row
                    && output == streamed
                    && cut > 0
                {
                    // Only the tail of the stream was kept, and the item has no more.
                    *output_cut_bytes = cut;
                    *output_lines = newlines + usize::from(!output.ends_with('\n'));
                }
                vec![RowChange::Finish {
                    thread_id,
                    turn_id: turn_id.or(live_turn),
                    seq,
                    entry: entry(row),
                }]
            }
            _ => vec![RowChange::Append {
                thread_id: Some(thread_id),
                turn_id,
                entry: entry(row),
                live: None,
            }],
        }
    }

    /// A row of the turn that is replaced whole by each update (plan, diff, safety check).
    fn upsert(
        &mut self,
        thread_id: String,
        turn_id: Option<String>,
        row: ItemRow,
        now: Instant,
    ) -> Vec<RowChange> {
        let Some(key) = live_key(turn_id.as_deref(), &row) else {
            return Vec::new();
        };
        if self.live.contains_key(&(thread_id.clone(), key.clone())) {
            self.change(&thread_id, &key, now, |live| live.row = row);
            Vec::new()
        } else {
            self.open(thread_id, turn_id, row)
        }
    }

    /// Changes a live row in memory and marks it for the next flush.
    fn change(&mut self, thread_id: &str, key: &str, now: Instant, apply: impl FnOnce(&mut Live)) {
        let key = (thread_id.to_string(), key.to_string());
        let Some(live) = self.live.get_mut(&key) else {
            return;
        };
        apply(live);
        self.counts.changes += 1;
        if self.dirty.is_empty() {
            self.dirty_since = Some(now);
        }
        self.dirty.insert(key);
    }

    /// Tells the fold the number of the row it asked to append for `key`.
    pub fn placed(&mut self, thread_id: &str, key: &str, seq: u64) {
        if let Some(live) = self.live.get_mut(&(thread_id.to_string(), key.to_string())) {
            live.seq = Some(seq);
        }
    }

    /// When dirty rows should be handed out: [`FLUSH_EVERY`] after the last time, at
    /// once when that is past; `None` when nothing changed.
    pub fn next_flush(&self) -> Option<Instant> {
        let since = self.dirty_since?;
        Some(match self.last_flush {
            Some(last) => (last + FLUSH_EVERY).max(since),
            None => since,
        })
    }

    /// The live rows that changed since the last call, as they stand (a command's
    /// output capped for memory): thread, row number, turn, entry.
    pub fn take_dirty(
        &mut self,
        now: Instant,
    ) -> Vec<(String, u64, Option<String>, TranscriptEntry)> {
        self.last_flush = Some(now);
        self.dirty_since = None;
        let mut out = Vec::with_capacity(self.dirty.len());
        for key in self.dirty.drain() {
            let Some(live) = self.live.get(&key) else {
                continue;
            };
            let Some(seq) = live.seq else {
                continue;
            };
            out.push((
                key.0,
                seq,
                live.turn_id.clone(),
                TranscriptEntry::Item(shown(live)),
            ));
        }
        if !out.is_empty() {
            self.counts.flushes += 1;
            self.counts.updates += out.len() as u64;
        }
        out
    }

    /// The turn ended: its live rows end as they stand (an item still in progress gets the
    /// turn's status, `interrupted` or `failed`, or `incomplete`).
    fn end_turn(&mut self, thread_id: &str, turn_id: &str, status: &str) -> Vec<RowChange> {
        let keys: Vec<(String, String)> = self
            .live
            .iter()
            .filter(|((thread, _), live)| {
                thread == thread_id && live.turn_id.as_deref() == Some(turn_id)
            })
            .map(|(key, _)| key.clone())
            .collect();
        let mut changes = Vec::new();
        let ended = if status == "completed" {
            "incomplete"
        } else {
            status
        };
        let mut keys = keys;
        keys.sort_by_key(|key| self.live.get(key).and_then(|l| l.seq));
        for key in keys {
            self.dirty.remove(&key);
            let Some(mut live) = self.live.remove(&key) else {
                continue;
            };
            let mut row = shown_whole(&live);
            match &mut row {
                ItemRow::Command { status, .. }
                | ItemRow::FileChange { status, .. }
                | ItemRow::McpToolCall { status, .. }
                    if status == "inProgress" =>
                {
                    *status = ended.to_string();
                }
                ItemRow::Hook { status, .. } if status == "running" => {
                    *status = ended.to_string();
                }
                _ => {}
            }
            live.row = row.clone();
            changes.extend(self.close(key.0, Some(turn_id.to_string()), Some(live), row));
        }
        if self.dirty.is_empty() {
            self.dirty_since = None;
        }
        changes
    }

    /// Forgets a thread's live rows (its session closed).
    pub fn forget_thread(&mut self, thread_id: &str) {
        self.live.retain(|(thread, _), _| thread != thread_id);
        self.dirty.retain(|(thread, _)| thread != thread_id);
        if self.dirty.is_empty() {
            self.dirty_since = None;
        }
    }

    /// Rows that are live.
    pub fn running(&self) -> usize {
        self.live.len()
    }
}

fn apply_delta(live: &mut Live, stream: DeltaStream, delta: &str) {
    match (&mut live.row, stream) {
        (ItemRow::Command { output, .. }, DeltaStream::CommandOutput) => {
            live.newlines += delta.bytes().filter(|b| *b == b'\n').count();
            output.push_str(delta);
            // Keep the tail, cut in steps so that a long stream is not moved per delta.
            if output.len() > STREAMED_OUTPUT_MAX + STREAMED_OUTPUT_MAX / 8 {
                let mut cut = output.len() - STREAMED_OUTPUT_MAX;
                while !output.is_char_boundary(cut) {
                    cut += 1;
                }
                output.drain(..cut);
                live.cut += cut;
            }
        }
        (ItemRow::FileChange { output, .. }, DeltaStream::FileChangeOutput) => {
            output.push_str(delta);
        }
        (ItemRow::Reasoning { summary, .. }, DeltaStream::ReasoningSummary(index)) => {
            let index = usize::try_from(index).unwrap_or(0);
            if summary.len() <= index {
                summary.resize(index + 1, String::new());
            }
            summary[index].push_str(delta);
        }
        (ItemRow::Plan { text, .. }, DeltaStream::Plan) => {
            text.get_or_insert_with(String::new).push_str(delta);
        }
        _ => {}
    }
}

/// A live row as subscribers see it: a command's output capped to its memory tail
/// (copying only that), with its line count.
fn shown(live: &Live) -> ItemRow {
    match &live.row {
        ItemRow::Command {
            item_id,
            command,
            cwd,
            status,
            exit_code,
            duration_ms,
            output,
            ..
        } => {
            let mut from = output.len().saturating_sub(OUTPUT_IN_MEMORY);
            while !output.is_char_boundary(from) {
                from += 1;
            }
            ItemRow::Command {
                item_id: item_id.clone(),
                command: command.clone(),
                cwd: cwd.clone(),
                status: status.clone(),
                exit_code: *exit_code,
                duration_ms: *duration_ms,
                output: output[from..].to_string(),
                output_cut_bytes: live.cut + from,
                output_lines: live.newlines
                    + usize::from(!output.is_empty() && !output.ends_with('\n')),
            }
        }
        other => other.clone(),
    }
}

/// A live row whole (what the file gets when it ends without its item completing).
fn shown_whole(live: &Live) -> ItemRow {
    let mut row = live.row.clone();
    if let ItemRow::Command {
        output,
        output_cut_bytes,
        output_lines,
        ..
    } = &mut row
    {
        *output_cut_bytes = live.cut;
        *output_lines = live.newlines + usize::from(!output.is_empty() && !output.ends_with('\n'));
    }
    row
}

/// Caps a row for memory once it is on disk: a command keeps its last
/// [`OUTPUT_IN_MEMORY`] bytes at most, from the start of a line (or, in a long line, of
/// a character).
pub fn cap_in_memory(entry: &mut TranscriptEntry) {
    if let TranscriptEntry::Item(ItemRow::Command {
        output,
        output_cut_bytes,
        output_lines,
        ..
    }) = entry
        && output.len() > OUTPUT_IN_MEMORY
    {
        if *output_lines == 0 {
            *output_lines = count_lines(output);
        }
        let mut cut = output.len() - OUTPUT_IN_MEMORY;
        while !output.is_char_boundary(cut) {
            cut += 1;
        }
        // Whole lines: the rest of a cut line goes too, unless that is much of the tail.
        if output.as_bytes()[cut - 1] != b'\n'
            && let Some(end) = output[cut..].find('\n')
            && end < OUTPUT_IN_MEMORY / 4
            && cut + end + 1 < output.len()
        {
            cut += end + 1;
        }
        output.drain(..cut);
        *output_cut_bytes += cut;
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;

//! Transcript rows for the thread items of a turn that are not messages or dynamic tool
//! calls: commands, file changes, reasoning, plans, MCP tool calls, web searches, image
//! views, review mode, context compaction, and any kind not known yet (kept whole).
//!
//! [`ItemFold`] is a pure fold of app-server notifications: it keeps each running
//! command's streamed output (bounded) and gives the rows to append when an item
//! completes or the turn's plan changes. A command's output is written to disk whole;
//! the row kept in memory (and sent to subscribers) keeps its last
//! [`OUTPUT_IN_MEMORY`] bytes and says how many were cut ([`cap_in_memory`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::transcript::TranscriptEntry;
use crate::protocol::Notification;
use crate::protocol::items::{DeltaStream, Item, ItemNotification, PlanStep};

/// Bytes of a command's output a row keeps in memory; the file has all of it.
pub const OUTPUT_IN_MEMORY: usize = 16 * 1024;
/// Bytes of streamed output kept per running command, used when the completed item
/// carries no `aggregatedOutput`.
pub const STREAMED_OUTPUT_MAX: usize = 1024 * 1024;

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
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<i64>,
        output: String,
        /// Bytes cut from the front of `output` in memory; the file has them.
        #[serde(default, skip_serializing_if = "is_zero")]
        output_cut_bytes: usize,
    },
    #[serde(rename_all = "camelCase")]
    FileChange {
        item_id: String,
        status: String,
        files: Vec<FileDiff>,
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
            ItemRow::McpToolCall { .. } => "item.mcp_tool_call",
            ItemRow::WebSearch { .. } => "item.web_search",
            ItemRow::ImageView { .. } => "item.image_view",
            ItemRow::ReviewMode { .. } => "item.review_mode",
            ItemRow::ContextCompaction { .. } => "item.context_compaction",
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
            ItemRow::Other { item_type, .. } => format!("{item_type} item"),
        }
    }
}

/// The row of a completed item; `None` for the kinds the bridge shows otherwise (user
/// and agent messages, dynamic tool calls). `streamed` is the command output gathered
/// from its deltas.
pub fn item_row(item: Item, streamed: Option<String>) -> Option<ItemRow> {
    let row = match item {
        Item::UserMessage(_) | Item::AgentMessage(_) | Item::DynamicToolCall(_) => return None,
        Item::CommandExecution(c) => ItemRow::Command {
            item_id: c.id,
            command: c.command,
            cwd: c.cwd,
            status: c.status,
            exit_code: c.exit_code,
            duration_ms: c.duration_ms,
            output: c.aggregated_output.or(streamed).unwrap_or_default(),
            output_cut_bytes: 0,
        },
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

/// What the bridge keeps between an item's notifications.
#[derive(Debug, Default)]
pub struct ItemFold {
    /// Streamed output of running commands, by (thread, item).
    outputs: HashMap<(String, String), String>,
}

/// A row to append: thread, turn, entry.
pub type NewRow = (String, String, TranscriptEntry);

impl ItemFold {
    /// Folds one notification; gives the rows it adds.
    pub fn fold(&mut self, notification: &Notification) -> Vec<NewRow> {
        if notification.method == crate::protocol::types::method::TURN_COMPLETED {
            if let Some(thread) = notification
                .params
                .as_ref()
                .and_then(|p| p.get("threadId"))
                .and_then(Value::as_str)
            {
                self.outputs.retain(|(t, _), _| t != thread);
            }
            return Vec::new();
        }
        let Some(Ok(typed)) = ItemNotification::parse(notification) else {
            return Vec::new();
        };
        self.fold_typed(typed)
    }

    pub fn fold_typed(&mut self, notification: ItemNotification) -> Vec<NewRow> {
        match notification {
            ItemNotification::Started {
                thread_id,
                item: Item::CommandExecution(c),
                ..
            } => {
                self.outputs.insert((thread_id, c.id), String::new());
                Vec::new()
            }
            ItemNotification::Delta {
                thread_id,
                item_id,
                stream: DeltaStream::CommandOutput,
                delta,
                ..
            } => {
                let output = self.outputs.entry((thread_id, item_id)).or_default();
                if output.len() + delta.len() <= STREAMED_OUTPUT_MAX {
                    output.push_str(&delta);
                }
                Vec::new()
            }
            ItemNotification::Completed {
                thread_id,
                turn_id,
                item,
            } => {
                let streamed = self
                    .outputs
                    .remove(&(thread_id.clone(), item.id().to_string()));
                match item_row(item, streamed) {
                    Some(row) => vec![(thread_id, turn_id, TranscriptEntry::Item(row))],
                    None => Vec::new(),
                }
            }
            ItemNotification::PlanUpdated {
                thread_id,
                turn_id,
                explanation,
                plan,
            } => vec![(
                thread_id,
                turn_id,
                TranscriptEntry::Item(ItemRow::Plan {
                    item_id: None,
                    explanation,
                    steps: plan,
                    text: None,
                }),
            )],
            ItemNotification::Started { .. }
            | ItemNotification::Delta { .. }
            | ItemNotification::ReasoningSummaryPartAdded { .. }
            | ItemNotification::DiffUpdated { .. } => Vec::new(),
        }
    }

    /// Commands whose output is being gathered.
    pub fn running(&self) -> usize {
        self.outputs.len()
    }
}

/// Caps a row for memory once it is on disk: a command keeps its last
/// [`OUTPUT_IN_MEMORY`] bytes at most, from the start of a line (or, in a long line, of
/// a character).
pub fn cap_in_memory(entry: &mut TranscriptEntry) {
    if let TranscriptEntry::Item(ItemRow::Command {
        output,
        output_cut_bytes,
        ..
    }) = entry
        && output.len() > OUTPUT_IN_MEMORY
    {
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

//! Live rows: what the item fold (`bridge/items.rs`) asks of the transcripts. A row that
//! starts live is appended (disk and memory) and its number given back to the fold; its
//! changes update memory only and go out as `TranscriptRowUpdated`, at most every
//! `items::FLUSH_EVERY` (the run loop's timer); its last state is appended to the file
//! and replaces the live row in memory.

use tokio::time::Instant;

use super::Actor;
use crate::bridge::events::BridgeEvent;
use crate::bridge::items::RowChange;
use crate::bridge::session::SessionStatus;
use crate::protocol::Notification;
use crate::util::now_ms;

impl Actor {
    /// Folds a notification into the item rows and applies what it changes.
    pub(super) fn fold_items(&mut self, notification: &Notification) {
        let changes = self.items.fold(notification, Instant::now());
        for change in changes {
            self.apply_row_change(change);
        }
    }

    fn apply_row_change(&mut self, change: RowChange) {
        match change {
            RowChange::Append {
                thread_id: Some(thread_id),
                turn_id,
                entry,
                live,
            } => {
                let seq = self.append_row(&thread_id, turn_id, entry);
                if let (Some(key), Some(seq)) = (live, seq) {
                    self.items.placed(&thread_id, &key, seq);
                }
            }
            // About codex as a whole: every open session shows it.
            RowChange::Append {
                thread_id: None,
                turn_id,
                entry,
                ..
            } => {
                let open: Vec<String> = self
                    .sessions
                    .values()
                    .filter(|s| s.status != SessionStatus::Closed)
                    .map(|s| s.thread_id.clone())
                    .collect();
                for thread_id in open {
                    self.append_row(&thread_id, turn_id.clone(), entry.clone());
                }
            }
            RowChange::Finish {
                thread_id,
                turn_id,
                seq,
                entry,
            } => {
                let Some(session) = self.sessions.get_mut(&thread_id) else {
                    return;
                };
                let (row, _written) =
                    session
                        .transcript
                        .append_final(now_ms(), turn_id, seq, entry);
                let event = if row.seq == seq {
                    BridgeEvent::TranscriptRowUpdated {
                        thread_id: thread_id.clone(),
                        row,
                    }
                } else {
                    BridgeEvent::TranscriptAppended {
                        thread_id: thread_id.clone(),
                        row,
                    }
                };
                self.emit(event);
                self.report_transcript(&thread_id);
            }
        }
    }

    /// When the run loop should hand out live rows that changed.
    pub(super) fn next_live_flush(&self) -> Option<Instant> {
        self.items.next_flush()
    }

    /// Hands out the live rows that changed: memory takes them, subscribers hear of them.
    pub(super) fn flush_live_rows(&mut self) {
        for (thread_id, seq, _turn, entry) in self.items.take_dirty(Instant::now()) {
            let Some(session) = self.sessions.get_mut(&thread_id) else {
                continue;
            };
            if let Some(row) = session.transcript.update(seq, entry) {
                self.emit(BridgeEvent::TranscriptRowUpdated { thread_id, row });
            }
        }
    }
}

//! The console's catalog debugging keys: the inspector's probe (what codex hands the
//! model, run in the background as `catalog check --through-codex` does) and the
//! transcript's replay of one call (today's handler with the recorded arguments,
//! compared with the recorded answer; nothing is sent). The work itself is
//! `crate::inspect`'s, run by the event loop beside the UI; this holds its state.

use crate::inspect::probe::Probe;
use crate::inspect::replay::{RecordedCall, ReplayReport, Verdict};
use crate::protocol::ToolCallResult;

use super::app::{App, Effect, View};
use super::text;
use super::view::{Pager, plain};

/// The codex the probe starts: the sessions' binary and app-server arguments.
#[derive(Debug, Clone, Default)]
pub struct ProbeCodex {
    pub bin: Option<std::path::PathBuf>,
    pub app_server_args: Vec<String>,
}

/// What the loop runs for the inspect keys.
#[derive(Debug, Clone, PartialEq)]
pub enum InspectRequest {
    /// The probe, with the bridge's catalog and the console's codex, on the scripted model.
    Probe,
    /// One recorded call against today's handler.
    Replay(Box<RecordedCall>),
}

/// The inspector's probe: not run yet, running, or its report (or why it failed).
#[derive(Debug, Clone, Default)]
pub enum ProbeState {
    #[default]
    NotRun,
    Running {
        started_ms: i64,
    },
    Done {
        at_ms: i64,
        result: Result<Probe, String>,
    },
}

/// The inspect keys' state beside the rest of the UI.
#[derive(Debug, Default)]
pub struct InspectState {
    pub probe: ProbeState,
    /// The call being replayed, by request id.
    pub replaying: Option<String>,
}

impl App {
    /// Where a held handler's proposed answer breaks the tool's `output_schema`.
    pub fn proposal_output_problems(&self, call: &crate::bridge::PendingCallView) -> Vec<String> {
        match (
            &call.proposed,
            self.catalog.tool(call.namespace.as_deref(), &call.tool),
        ) {
            (Some(proposed), Some(tool)) => tool.output_problems(proposed),
            _ => Vec::new(),
        }
    }

    /// `p` in the inspector: starts the probe unless one is running.
    pub fn start_probe(&mut self) -> Vec<Effect> {
        if matches!(self.inspect.probe, ProbeState::Running { .. }) {
            self.say("the probe is still running (its report appears in the inspector)");
            return Vec::new();
        }
        self.inspect.probe = ProbeState::Running {
            started_ms: self.now_ms,
        };
        self.say("probing: codex on the scripted model with this catalog (the console goes on)");
        vec![Effect::Inspect(InspectRequest::Probe)]
    }

    pub fn on_probed(&mut self, result: Result<Probe, String>) {
        let text = match &result {
            Ok(probe) => format!(
                "probe done: {} difference(s) between the catalog and what the model sees",
                probe.differences.len()
            ),
            Err(e) => format!("the probe failed: {e}"),
        };
        self.inspect.probe = ProbeState::Done {
            at_ms: self.now_ms,
            result,
        };
        self.say(text);
    }

    /// `R` on a tool call's row in the transcript: replays that call.
    pub fn start_replay(&mut self) -> Vec<Effect> {
        let Some(thread_id) = self.selected_thread().map(str::to_string) else {
            self.say("no session selected");
            return Vec::new();
        };
        let Some(view) = self.transcript(&thread_id) else {
            return Vec::new();
        };
        let request_id = match view.rows.get(view.bottom()).map(|row| &row.entry) {
            Some(
                crate::bridge::TranscriptEntry::ToolCallRequest { request_id, .. }
                | crate::bridge::TranscriptEntry::ToolCallResolved { request_id, .. },
            ) => request_id.clone(),
            _ => {
                self.say("select a tool call's row in the transcript to replay it (R)");
                return Vec::new();
            }
        };
        if self.inspect.replaying.as_deref() == Some(request_id.as_str()) {
            self.say("this call is being replayed already");
            return Vec::new();
        }
        let Some(call) = crate::inspect::replay::recorded_call(view.rows.iter(), &request_id)
        else {
            self.say("the call's request row is no longer in the console's window");
            return Vec::new();
        };
        self.inspect.replaying = Some(request_id);
        self.say(format!(
            "replaying {}: today's handler with the recorded arguments (nothing is sent)",
            call.tool
        ));
        vec![Effect::Inspect(InspectRequest::Replay(Box::new(call)))]
    }

    /// The replay's report opens in the detail view, unless something is open there.
    pub fn on_replayed(&mut self, report: ReplayReport) {
        self.inspect.replaying = None;
        let verdict = match report.verdict {
            Verdict::Same => "the same answer",
            Verdict::Changed => "a different answer",
            Verdict::NotRerun => "not re-run",
        };
        let text = format!("replay of {}: {verdict}", report.tool);
        if self.views.detail.is_none() && self.overlays.is_empty() && self.view == View::Main {
            self.views.detail = Some(replay_pager(&report));
            self.say(text);
        } else {
            self.say(format!(
                "{text} (close what is open and press R again to see it)"
            ));
        }
    }
}

fn answer_lines(answer: Option<&ToolCallResult>, lines: &mut Vec<text::TextLine>) {
    match answer {
        Some(answer) => {
            lines.push(plain(&format!("  success: {}", answer.success)));
            for line in crate::catalog::answer_text(answer).lines() {
                lines.push(plain(&format!("  {line}")));
            }
        }
        None => lines.push(plain("  (none)")),
    }
}

/// The replay report for reading: the verdict, the recorded answer, the new one and
/// their diff (the same diff as `catalog replay`).
pub fn replay_pager(report: &ReplayReport) -> Pager {
    let mut lines = Vec::new();
    let verdict = match report.verdict {
        Verdict::Same => "same: today's handler gives the recorded answer",
        Verdict::Changed => "CHANGED: today's handler answers differently",
        Verdict::NotRerun => "not re-run",
    };
    lines.push(plain(verdict));
    lines.push(plain(&format!(
        "request {} · call {}",
        report.request_id, report.call_id
    )));
    if let Some(note) = &report.note {
        lines.push(plain(note));
    }
    lines.push(plain("nothing was sent to codex"));
    lines.push(plain(""));
    lines.push(plain(&format!(
        "recorded answer{}",
        report
            .answered_by
            .as_deref()
            .map(|by| format!(" (by {by})"))
            .unwrap_or_default()
    )));
    answer_lines(report.recorded.as_ref(), &mut lines);
    lines.push(plain(""));
    lines.push(plain("new answer (today's handler)"));
    answer_lines(report.replayed.as_ref(), &mut lines);
    for problem in &report.output_schema_problems {
        lines.push(plain(&format!("  ⚠ {problem}")));
    }
    if report.replayed.is_some() {
        lines.push(plain(""));
        if report.diff.is_empty() {
            lines.push(plain("diff: none"));
        } else {
            lines.push(plain("diff (- recorded, + new)"));
            for line in &report.diff {
                lines.push(plain(&format!("  {line}")));
            }
        }
    }
    Pager::new(format!(" Replay of {} ", report.tool), lines)
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;

//! Per-tool statistics: a pure fold of resolved calls that tells a catalog's author
//! which description or schema the model misunderstands (arguments that break
//! `input_schema`, answers that break `output_schema`, handler failures, timeouts,
//! latency). The actor keeps one table for the API, the console folds its own from
//! the events it receives; both call [`ToolStatsTable::record`].

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::events::{CallEnd, ResolvedCall};

/// Latencies kept per tool for the median.
const LATENCY_WINDOW: usize = 1_000;
/// Distinct argument problems counted per tool; later new ones count as "other".
const PROBLEM_KINDS: usize = 100;

/// What is known of one tool's calls since the start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolStats {
    /// Calls that ended (answered or expired).
    pub calls: u64,
    /// Calls whose arguments broke `input_schema`.
    pub bad_arguments: u64,
    /// Calls whose answer broke `output_schema`.
    pub bad_answers: u64,
    /// Calls answered with `success: false` (by anyone).
    pub failures: u64,
    /// Calls whose handler itself failed (exit status, bad output, unreachable), timeouts
    /// included.
    pub handler_failures: u64,
    /// Calls whose handler ran out of its `timeout_ms`.
    pub timeouts: u64,
    /// Calls that ended without an answer.
    pub expired: u64,
    /// Each argument problem and how often it was seen.
    problems: BTreeMap<String, u64>,
    /// Answer latencies of answered calls, the newest last.
    latencies: VecDeque<u64>,
}

impl ToolStats {
    /// Folds one ended call in.
    pub fn record(&mut self, call: &ResolvedCall) {
        self.calls += 1;
        if !call.schema_problems.is_empty() {
            self.bad_arguments += 1;
            for problem in &call.schema_problems {
                let known = self.problems.len() < PROBLEM_KINDS
                    || self.problems.contains_key(problem.as_str());
                let key = if known { problem.as_str() } else { "other" };
                *self.problems.entry(key.to_string()).or_default() += 1;
            }
        }
        if !call.output_schema_problems.is_empty() {
            self.bad_answers += 1;
        }
        if call.handler_failure.is_some() {
            self.handler_failures += 1;
        }
        if call.timed_out {
            self.timeouts += 1;
        }
        match call.status {
            CallEnd::Expired => self.expired += 1,
            CallEnd::Resolved => {
                if !call.success {
                    self.failures += 1;
                }
                if self.latencies.len() == LATENCY_WINDOW {
                    self.latencies.pop_front();
                }
                self.latencies.push_back(call.latency_ms);
            }
        }
    }

    /// The median latency of the last answered calls (at most 1,000).
    pub fn median_latency_ms(&self) -> Option<u64> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut sorted: Vec<u64> = self.latencies.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied()
    }

    /// The argument problem seen most often, with its count (the first in text order
    /// among equals).
    pub fn most_common_problem(&self) -> Option<(&str, u64)> {
        let mut best: Option<(&str, u64)> = None;
        for (problem, &count) in &self.problems {
            if best.is_none_or(|(_, most)| count > most) {
                best = Some((problem.as_str(), count));
            }
        }
        best
    }

    /// `part` of the calls, in whole percent (rounded to the nearest).
    pub fn percent(&self, part: u64) -> u64 {
        if self.calls == 0 {
            return 0;
        }
        (part * 100 + self.calls / 2) / self.calls
    }

    /// The figures as the API and `--json` show them.
    pub fn view(&self, tool: &str) -> ToolStatsView {
        ToolStatsView {
            tool: tool.to_string(),
            calls: self.calls,
            bad_arguments: self.bad_arguments,
            bad_arguments_percent: self.percent(self.bad_arguments),
            most_common_problem: self.most_common_problem().map(|(p, _)| p.to_string()),
            bad_answers: self.bad_answers,
            bad_answers_percent: self.percent(self.bad_answers),
            failures: self.failures,
            handler_failures: self.handler_failures,
            timeouts: self.timeouts,
            expired: self.expired,
            median_latency_ms: self.median_latency_ms(),
        }
    }
}

/// One tool's statistics, as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolStatsView {
    /// The qualified tool name (`namespace.name` for a tool in a namespace).
    pub tool: String,
    pub calls: u64,
    pub bad_arguments: u64,
    pub bad_arguments_percent: u64,
    pub most_common_problem: Option<String>,
    pub bad_answers: u64,
    pub bad_answers_percent: u64,
    pub failures: u64,
    pub handler_failures: u64,
    pub timeouts: u64,
    pub expired: u64,
    pub median_latency_ms: Option<u64>,
}

/// Statistics of every tool called, by qualified name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolStatsTable {
    pub tools: BTreeMap<String, ToolStats>,
}

impl ToolStatsTable {
    pub fn record(&mut self, call: &ResolvedCall) {
        let name = crate::catalog::qualified_name(call.namespace.as_deref(), &call.tool);
        self.tools.entry(name).or_default().record(call);
    }

    pub fn get(&self, qualified_name: &str) -> Option<&ToolStats> {
        self.tools.get(qualified_name)
    }

    pub fn views(&self) -> Vec<ToolStatsView> {
        self.tools
            .iter()
            .map(|(name, stats)| stats.view(name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: &str) -> ResolvedCall {
        ResolvedCall {
            request_id: "r".to_string(),
            thread_id: "t".to_string(),
            turn_id: "u".to_string(),
            call_id: "c".to_string(),
            namespace: None,
            tool: tool.to_string(),
            status: CallEnd::Resolved,
            success: true,
            answered_by: None,
            reason: None,
            latency_ms: 10,
            result: None,
            schema_problems: Vec::new(),
            output_schema_problems: Vec::new(),
            handler_failure: None,
            timed_out: false,
        }
    }

    #[test]
    fn each_kind_of_trouble_is_counted_per_tool() {
        let mut table = ToolStatsTable::default();
        let required = "arguments: \"ticket_id\" is a required property".to_string();
        for latency in [30, 10, 20] {
            let mut c = call("lookup");
            c.latency_ms = latency;
            table.record(&c);
        }
        let mut bad = call("lookup");
        bad.schema_problems = vec![required.clone()];
        table.record(&bad);
        let mut bad = call("lookup");
        bad.schema_problems = vec![required.clone(), "arguments/n: 5 is not a string".into()];
        bad.output_schema_problems = vec!["output_schema: answer: \"x\" is required".into()];
        table.record(&bad);
        let mut timeout = call("lookup");
        timeout.success = false;
        timeout.handler_failure = Some("timed out after 100 ms".into());
        timeout.timed_out = true;
        timeout.latency_ms = 100;
        table.record(&timeout);
        let mut crashed = call("lookup");
        crashed.success = false;
        crashed.handler_failure = Some("exit status 2".into());
        table.record(&crashed);
        let mut expired = call("lookup");
        expired.status = CallEnd::Expired;
        expired.success = false;
        expired.latency_ms = 90_000;
        table.record(&expired);
        let mut other = call("other");
        other.namespace = Some("crm".into());
        table.record(&other);

        let stats = table.get("lookup").unwrap();
        assert_eq!(stats.calls, 8);
        assert_eq!(stats.bad_arguments, 2);
        assert_eq!(stats.percent(stats.bad_arguments), 25);
        assert_eq!(stats.most_common_problem(), Some((required.as_str(), 2)));
        assert_eq!(stats.bad_answers, 1);
        assert_eq!(stats.handler_failures, 2);
        assert_eq!(stats.timeouts, 1);
        assert_eq!(stats.failures, 2);
        assert_eq!(stats.expired, 1);
        // Answered calls only: 10 10 10 10 20 30 100 (the expired call waited, it was
        // never answered).
        assert_eq!(stats.median_latency_ms(), Some(10));
        assert_eq!(table.get("crm.other").unwrap().calls, 1);
        assert_eq!(table.get("other"), None);
        let view = stats.view("lookup");
        assert_eq!(view.bad_answers_percent, 13);
        assert_eq!(view.most_common_problem.as_deref(), Some(required.as_str()));
    }

    #[test]
    fn nothing_called_has_no_median_and_no_share() {
        let stats = ToolStats::default();
        assert_eq!(stats.median_latency_ms(), None);
        assert_eq!(stats.percent(0), 0);
        assert_eq!(stats.most_common_problem(), None);
    }

    #[test]
    fn the_median_keeps_the_last_thousand_answers() {
        let mut stats = ToolStats::default();
        for latency in 0..2_000 {
            let mut c = call("t");
            c.latency_ms = latency;
            stats.record(&c);
        }
        // 1000..=1999 kept: the median is the 501st of them.
        assert_eq!(stats.median_latency_ms(), Some(1_500));
    }
}

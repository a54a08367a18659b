//! Handlers: a tool call in, an answer out. Command, http and static handlers run here;
//! manual tools never reach this module. Approval rules' handler scripts run here too
//! ([`HandlerRunner::run_approval`]): a request in, the decision they printed out.
//!
//! A handler run never returns an error: whatever goes wrong (no such program, timeout,
//! garbage output, connection refused) becomes a `success: false` answer whose text tells
//! the model what happened, plus a one-line `failure` for the operator.

mod approval;
mod command;
mod http;
pub mod output;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::catalog::{CommandSpec, HandlerSpec};
use crate::protocol::ToolCallResult;

pub use output::{Captured, CommandEnd, map_command_output, map_http_reply};

/// What a handler receives: one JSON object on stdin, or the POST body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandlerInput {
    pub tool: String,
    pub arguments: Value,
    pub call_id: String,
    pub thread_id: String,
    pub turn_id: String,
    pub request_id: String,
}

/// The answer for the model, and how the run went.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerOutcome {
    pub result: ToolCallResult,
    /// Time spent running, after any wait for a free slot.
    pub elapsed: Duration,
    /// Time spent waiting for a free slot (see [`HandlerRunner::new`]).
    pub queued: Duration,
    /// Set when the handler itself failed (exit code, signal, timeout, bad output,
    /// unreachable URL); `None` when it answered, even with `success: false`.
    pub failure: Option<String>,
}

/// Runs handlers, at most `max_concurrent` at a time; further calls wait their turn in
/// arrival order (tokio's semaphore is fair).
#[derive(Debug)]
pub struct HandlerRunner {
    /// Shared so http handlers reuse connections. An error here (TLS setup) only fails
    /// http handlers, with its text.
    http: Result<reqwest::Client, String>,
    /// One permit per running command or http handler.
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    /// Calls waiting for a slot, for status displays.
    waiting: AtomicUsize,
    /// Long-lived worker processes, started on their first call.
    workers: worker::Workers,
}

impl HandlerRunner {
    /// `max_concurrent` is at least 1.
    pub fn new(max_concurrent: usize) -> HandlerRunner {
        let max_concurrent = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        HandlerRunner {
            http: http::build_client(),
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            waiting: AtomicUsize::new(0),
            workers: worker::Workers::default(),
        }
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Handlers running now.
    pub fn running(&self) -> usize {
        self.max_concurrent - self.slots.available_permits()
    }

    /// Calls waiting for a free slot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Runs one call. Dropping the future abandons the call and kills a command handler's
    /// whole process group.
    pub async fn run(&self, spec: &HandlerSpec, input: &HandlerInput) -> HandlerOutcome {
        let arrived = Instant::now();
        let mut queued = Duration::ZERO;
        let mut started = arrived;
        let (result, failure) = match spec {
            // Static answers cost nothing, so they never wait for a slot.
            HandlerSpec::Static(result) => (result.clone(), None),
            // A worker is one process whatever the number of calls: no slot either.
            HandlerSpec::Worker(spec) => self.workers.run(spec, input).await,
            HandlerSpec::Command(command) => match self.acquire().await {
                Ok(_slot) => {
                    started = Instant::now();
                    queued = started - arrived;
                    command::run(command, input).await
                }
                Err(closed) => output::failure_outcome(closed),
            },
            HandlerSpec::Http(http_spec) => match self.acquire().await {
                Ok(_slot) => {
                    started = Instant::now();
                    queued = started - arrived;
                    http::run(&self.http, http_spec, input).await
                }
                Err(closed) => output::failure_outcome(closed),
            },
        };
        let elapsed = started.elapsed();
        // Debug level: the caller decides how loudly to report a failed handler.
        match &failure {
            Some(failure) => tracing::debug!(
                tool = %input.tool,
                call_id = %input.call_id,
                kind = spec.kind(),
                elapsed_ms = elapsed.as_millis() as u64,
                "handler failed: {failure}"
            ),
            None => tracing::debug!(
                tool = %input.tool,
                call_id = %input.call_id,
                kind = spec.kind(),
                elapsed_ms = elapsed.as_millis() as u64,
                queued_ms = queued.as_millis() as u64,
                success = result.success,
                "handler answered"
            ),
        }
        HandlerOutcome {
            result,
            elapsed,
            queued,
            failure,
        }
    }

    /// Runs an approval rule's handler script for one request (`input` on stdin), in a
    /// slot like a command handler. `Ok` is what it printed; `Err` says why it printed no
    /// decision (could not start, exit code, signal, timeout, nothing printed).
    pub async fn run_approval(
        &self,
        spec: &CommandSpec,
        input: &Value,
        label: &str,
    ) -> Result<String, String> {
        let _slot = self.acquire().await?;
        approval::run(spec, input, label).await
    }

    async fn acquire(&self) -> Result<tokio::sync::SemaphorePermit<'_>, String> {
        let _waiting = WaitingGuard::enter(&self.waiting);
        self.slots
            .acquire()
            .await
            .map_err(|_| "the handler runner is shut down".to_string())
    }
}

/// Counts a waiting call, also when the waiting future is dropped.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> WaitingGuard<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        WaitingGuard(counter)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
#[path = "handlers_tests.rs"]
mod tests;

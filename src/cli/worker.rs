//! `switchboard worker`: a remote handler process. It follows a server's event stream and
//! answers the calls of its catalog's tools with the catalog's handlers, like
//! codex-manager's Python remote skills, and the server's pending approvals and questions
//! with the catalog's `[[approvals]]` rules (see `worker_approvals.rs`).
//!
//! Delivery: on every (re)connect, and whenever the stream says it skipped events, the
//! worker re-reads the pending list, so a call raised while it was away is still answered.
//!
//! Claims: before running a handler the worker claims the call
//! (`POST /api/tool-calls/{id}/claim` with a lease), runs it only when the claim is its
//! own, renews the lease every third of it while the handler runs, and answers with its
//! claim id. A call another worker holds is left to it; when that claim is released or
//! its lease runs out (`tool_call_released`: the holder died) the call is offered again,
//! so several workers serving one server run each call's handler once while they live.
//! A server without the claim route (codex-manager) is served without claims. What a
//! claim cannot promise: a worker that stalls past its lease without renewing can run
//! alongside the next holder, so handlers with side effects should still be idempotent
//! per `requestId`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::api_client::{Api, ClientArgs, ClientError};
use super::{exit, note, out, report_error};
use crate::catalog::{ApprovalRules, Catalog, HandlerSpec};
use crate::handlers::{HandlerInput, HandlerRunner};
use crate::protocol::ToolCallResult;

#[path = "worker_approvals.rs"]
mod approvals;

/// Finished request ids remembered, so a pending list read just before an answer landed
/// does not run a handler twice.
const REMEMBERED: usize = 4096;
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
const KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The catalog whose handlers answer calls; tools without a handler are left alone.
    #[arg(long, value_name = "FILE")]
    pub catalog: PathBuf,
    /// Serve only this session's calls (default: every session's).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Handler runs at once; more wait.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Tries per answer when the server fails transiently (5xx, unreachable).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_submit_attempts: u32,
    /// How answers are credited, and who holds its claims (default: worker-<pid>).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The lease of each claim, renewed every third of it while the handler runs; a
    /// worker that dies holding a claim frees the call after this long.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(300..=600_000))]
    pub lease_ms: u64,
}

/// How claiming one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claimed {
    /// Ours, with this claim id.
    Ours(String),
    /// The server has no claim route: run without one, as before claims.
    Unsupported,
    /// Another worker holds it: it is offered again when released or expired.
    Held(String),
    /// Answered, expired, answered by the server's own handler, or refused: nothing to run.
    Gone(String),
}

/// How submitting one answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Answered,
    /// 404 or 409: answered by someone else, expired, or being written.
    AlreadyDone(u16),
    /// The server refused the answer itself (4xx) or kept failing.
    Failed(String),
}

/// Request ids being handled or recently finished.
#[derive(Default)]
struct Seen {
    active: HashSet<String>,
    finished: VecDeque<String>,
    finished_set: HashSet<String>,
}

impl Seen {
    /// Claims an id for this worker; false if it is already being (or was) handled.
    fn claim(&mut self, id: &str) -> bool {
        if self.active.contains(id) || self.finished_set.contains(id) {
            return false;
        }
        self.active.insert(id.to_string());
        true
    }

    /// Lets an id be offered again (another worker held it).
    fn forget(&mut self, id: &str) {
        self.active.remove(id);
    }

    fn finish(&mut self, id: &str) {
        self.active.remove(id);
        if self.finished_set.insert(id.to_string()) {
            self.finished.push_back(id.to_string());
        }
        while self.finished.len() > REMEMBERED {
            if let Some(old) = self.finished.pop_front() {
                self.finished_set.remove(&old);
            }
        }
    }
}

struct Worker {
    api: Api,
    handlers: HashMap<(Option<String>, String), (String, HandlerSpec)>,
    /// The catalog's `[[approvals]]` rules, for the server's pending requests.
    rules: ApprovalRules,
    runner: Arc<HandlerRunner>,
    seen: Mutex<Seen>,
    max_attempts: u32,
    json: bool,
    session: Option<String>,
    name: String,
    lease: Duration,
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Worker {
    /// Starts a handler for a pending-call record if it is ours and not taken.
    fn offer(self: &Arc<Self>, record: &Value) {
        // The server's own catalog handler answers this one.
        if record.pointer("/answerer/kind").and_then(Value::as_str) == Some("handler") {
            return;
        }
        let namespace = record
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let tool = text(record, "tool");
        let request_id = text(record, "requestId");
        if request_id.is_empty() {
            return;
        }
        if self
            .session
            .as_deref()
            .is_some_and(|s| s != text(record, "threadId"))
        {
            return;
        }
        let Some((name, spec)) = self.handlers.get(&(namespace, tool.clone())).cloned() else {
            return;
        };
        let claimed = self
            .seen
            .lock()
            .map(|mut seen| seen.claim(&request_id))
            .unwrap_or(false);
        if !claimed {
            return;
        }
        let input = HandlerInput {
            tool,
            arguments: record.get("arguments").cloned().unwrap_or(Value::Null),
            call_id: text(record, "callId"),
            thread_id: text(record, "threadId"),
            turn_id: text(record, "turnId"),
            request_id: request_id.clone(),
        };
        let worker = Arc::clone(self);
        tokio::spawn(async move {
            let claim_id = match worker.claim(&request_id, None).await {
                Claimed::Ours(claim_id) => Some(claim_id),
                Claimed::Unsupported => None,
                Claimed::Held(holder) => {
                    if let Ok(mut seen) = worker.seen.lock() {
                        seen.forget(&request_id);
                    }
                    worker.skipped(&input, &format!("claimed by {holder}"));
                    return;
                }
                Claimed::Gone(why) => {
                    if let Ok(mut seen) = worker.seen.lock() {
                        seen.finish(&request_id);
                    }
                    worker.skipped(&input, &why);
                    return;
                }
            };
            let started = Instant::now();
            let run = worker.runner.run(&spec, &input);
            let outcome = match &claim_id {
                Some(claim_id) => worker.renewing(&request_id, claim_id, run).await,
                None => run.await,
            };
            let submitted = worker
                .submit(&request_id, &outcome.result, claim_id.as_deref())
                .await;
            if let (Submitted::Failed(_), Some(claim_id)) = (&submitted, &claim_id) {
                // Give the call back so that another worker (or this one) can try.
                worker.release(&request_id, claim_id).await;
            }
            if let Ok(mut seen) = worker.seen.lock() {
                seen.finish(&request_id);
            }
            worker.report(
                &input,
                &name,
                &outcome.result,
                &submitted,
                started.elapsed(),
            );
        });
    }

    /// Claims a call (or renews `claim_id`), retrying transient failures.
    async fn claim(&self, request_id: &str, claim_id: Option<&str>) -> Claimed {
        let path = format!("/tool-calls/{request_id}/claim");
        let mut body = json!({
            "worker": self.name,
            "leaseMs": u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX),
        });
        if let Some(claim_id) = claim_id {
            body["claimId"] = json!(claim_id);
        }
        let mut last = String::new();
        for attempt in 1..=self.max_attempts.max(1) {
            match self.api.call(Method::POST, &path, Some(&body)).await {
                Ok(reply) if reply.ok() => {
                    return match reply.body.get("claimId").and_then(Value::as_str) {
                        Some(id) => Claimed::Ours(id.to_string()),
                        None => {
                            Claimed::Gone("the server's claim reply has no claimId".to_string())
                        }
                    };
                }
                Ok(reply) if reply.status == 409 => {
                    return match reply.body.get("code").and_then(Value::as_str) {
                        Some("call_claimed") => Claimed::Held(text(&reply.body, "holder")),
                        _ => Claimed::Gone(reply.message()),
                    };
                }
                // A pending-call 404 names the call; a 404 without one is a server with
                // no claim route.
                Ok(reply) if reply.status == 404 && reply.body.get("requestId").is_some() => {
                    return Claimed::Gone("already answered or ended".to_string());
                }
                Ok(reply) if reply.status == 404 || reply.status == 405 => {
                    return Claimed::Unsupported;
                }
                Ok(reply) if reply.status < 500 => return Claimed::Gone(reply.message()),
                Ok(reply) => last = format!("HTTP {}: {}", reply.status, reply.message()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100) * attempt).await;
        }
        Claimed::Gone(format!("could not claim it: {last}"))
    }

    /// Runs `work` while renewing the claim every third of its lease.
    async fn renewing<F: std::future::Future>(
        &self,
        request_id: &str,
        claim_id: &str,
        work: F,
    ) -> F::Output {
        let mut work = std::pin::pin!(work);
        let period = (self.lease / 3).max(Duration::from_millis(100));
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut holding = true;
        loop {
            tokio::select! {
                output = &mut work => return output,
                _ = renew.tick(), if holding => {
                    match self.claim(request_id, Some(claim_id)).await {
                        Claimed::Ours(_) => {}
                        Claimed::Held(holder) => {
                            note(&format!("lost the claim on {request_id} to {holder} (the lease ran out): its answer will be refused"));
                            holding = false;
                        }
                        Claimed::Gone(_) | Claimed::Unsupported => holding = false,
                    }
                }
            }
        }
    }

    /// Gives a claim back; failures are only logged (the lease ends it anyway).
    async fn release(&self, request_id: &str, claim_id: &str) {
        let path = format!("/tool-calls/{request_id}/claim");
        let body = json!({ "claimId": claim_id });
        if let Err(e) = self.api.call(Method::DELETE, &path, Some(&body)).await {
            note(&format!("could not release the claim on {request_id}: {e}"));
        }
    }

    fn skipped(&self, input: &HandlerInput, why: &str) {
        if self.json {
            out(&json!({
                "requestId": input.request_id,
                "tool": input.tool,
                "outcome": "skipped",
                "detail": why,
            })
            .to_string());
        } else {
            note(&format!(
                "left {} ({}): {why}",
                input.request_id, input.tool
            ));
        }
    }

    /// Sends an answer, retrying transient failures.
    async fn submit(
        &self,
        request_id: &str,
        result: &ToolCallResult,
        claim_id: Option<&str>,
    ) -> Submitted {
        let path = format!("/tool-calls/{request_id}/response");
        let mut body = json!({ "response": result });
        if let Some(claim_id) = claim_id {
            body["claimId"] = json!(claim_id);
        }
        let mut last = String::new();
        for attempt in 1..=self.max_attempts.max(1) {
            match self.api.call(Method::POST, &path, Some(&body)).await {
                Ok(reply) if reply.ok() => return Submitted::Answered,
                Ok(reply) if reply.status == 404 || reply.status == 409 => {
                    return Submitted::AlreadyDone(reply.status);
                }
                Ok(reply) if reply.status < 500 => return Submitted::Failed(reply.message()),
                Ok(reply) => last = format!("HTTP {}: {}", reply.status, reply.message()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100) * attempt).await;
        }
        Submitted::Failed(format!(
            "gave up after {} attempts: {last}",
            self.max_attempts.max(1)
        ))
    }

    fn report(
        &self,
        input: &HandlerInput,
        handler: &str,
        result: &ToolCallResult,
        submitted: &Submitted,
        elapsed: Duration,
    ) {
        let (outcome, detail) = match submitted {
            Submitted::Answered => ("answered", String::new()),
            Submitted::AlreadyDone(status) => ("already_done", format!("HTTP {status}")),
            Submitted::Failed(message) => ("failed", message.clone()),
        };
        if self.json {
            out(&json!({
                "requestId": input.request_id,
                "tool": input.tool,
                "handler": handler,
                "outcome": outcome,
                "success": result.success,
                "detail": detail,
                "elapsedMs": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            })
            .to_string());
            return;
        }
        let line = match submitted {
            Submitted::Answered => format!(
                "answered {} ({}) in {} ms ({})",
                input.request_id,
                input.tool,
                elapsed.as_millis(),
                if result.success { "ok" } else { "failed" }
            ),
            Submitted::AlreadyDone(status) => format!(
                "{} ({}) was already answered or ended (HTTP {status})",
                input.request_id, input.tool
            ),
            Submitted::Failed(message) => {
                format!(
                    "could not answer {} ({}): {message}",
                    input.request_id, input.tool
                )
            }
        };
        note(&line);
    }

    /// Reads the pending list and offers every call.
    async fn drain(self: &Arc<Self>) -> Result<(), ClientError> {
        let path = match &self.session {
            Some(session) => format!("/sessions/{session}/tool-calls"),
            None => "/tool-calls".to_string(),
        };
        let reply = self.api.call(Method::GET, &path, None).await?;
        if let Some(calls) = reply.body.get("data").and_then(Value::as_array) {
            for call in calls {
                self.offer(call);
            }
        } else if !reply.ok() {
            note(&format!(
                "could not list pending calls: {}",
                reply.message()
            ));
        }
        Ok(())
    }
}

pub async fn run(args: WorkerArgs) -> u8 {
    let catalog = match Catalog::load(&args.catalog) {
        Ok(catalog) => catalog,
        Err(e) => {
            report_error(&e.to_string());
            return exit::INVALID_INPUT;
        }
    };
    let handlers: HashMap<_, _> = catalog
        .tools
        .iter()
        .filter_map(|tool| {
            let spec = tool.handler.clone()?;
            Some((
                (tool.namespace.clone(), tool.name.clone()),
                (tool.qualified_name(), spec),
            ))
        })
        .collect();
    if handlers.is_empty() && catalog.approvals.is_empty() {
        report_error(&format!(
            "{} has no tool with a handler and no approval rule: nothing to answer",
            args.catalog.display()
        ));
        return exit::INVALID_INPUT;
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let api = match Api::new(args.client.endpoint(), &name) {
        Ok(api) => api,
        Err(e) => {
            report_error(&e.to_string());
            return e.exit_code();
        }
    };
    let worker = Arc::new(Worker {
        api,
        handlers,
        rules: catalog.approvals.clone(),
        runner: Arc::new(HandlerRunner::new(args.concurrency)),
        seen: Mutex::new(Seen::default()),
        max_attempts: args.max_submit_attempts,
        json: args.client.json,
        session: args.session.clone(),
        name,
        lease: Duration::from_millis(args.lease_ms),
    });
    tokio::select! {
        code = serve_forever(&worker) => code,
        _ = tokio::signal::ctrl_c() => exit::OK,
    }
}

async fn serve_forever(worker: &Arc<Worker>) -> u8 {
    let mut backoff = BACKOFF_START;
    loop {
        match follow_stream(worker).await {
            Ok(()) => {
                note("the stream closed; reconnecting");
                backoff = BACKOFF_START;
            }
            Err(ClientError::Rejected { status, url }) if status == 401 || status == 403 => {
                report_error(&format!("{url} refused the token (HTTP {status})"));
                return exit::UNAUTHORIZED;
            }
            Err(e) => note(&format!("{e}; retrying in {} ms", backoff.as_millis())),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection: drain once the stream is up, then follow it until it drops.
async fn follow_stream(worker: &Arc<Worker>) -> Result<(), ClientError> {
    let mut socket = worker.api.connect_stream(worker.session.as_deref()).await?;
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    let mut ready = false;
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = keepalive.tick() => {
                if socket.send(WsMessage::text(r#"{"type":"ping"}"#)).await.is_err() {
                    return Ok(());
                }
                continue;
            }
        };
        let frame = match message {
            Some(Ok(WsMessage::Text(text))) => match serde_json::from_str::<Value>(text.as_str()) {
                Ok(frame) => frame,
                Err(_) => continue,
            },
            Some(Ok(WsMessage::Close(_))) | None => return Ok(()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                return Err(ClientError::Unreachable {
                    url: worker.api.stream_url(worker.session.as_deref()),
                    message: e.to_string(),
                });
            }
        };
        match frame
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            // Subscribed before reading the list: nothing raised in between is missed.
            "ready" if !ready => {
                ready = true;
                note(&format!("worker connected to {}", worker.api.endpoint.base));
                worker.drain().await?;
                worker.drain_requests().await?;
            }
            "tool_call_requested" => worker.offer(&frame["payload"]),
            // A claim was given back or its holder died (lease ran out): offer it again.
            "tool_call_released" => worker.offer(&frame["payload"]["call"]),
            // Events were skipped (this socket lagged, or one was too large to send).
            "lagged" | "error" => {
                worker.drain().await?;
                worker.drain_requests().await?;
            }
            kind if approvals::is_request_event(kind) => worker.drain_requests().await?,
            _ => {}
        }
    }
}

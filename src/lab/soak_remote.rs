//! The soak's remote claimants: workers that reach the bridge only through the service
//! API, as `switchboard worker` does. An in-process `serve` listens on loopback; each
//! claimant follows its websocket (`/api/stream`: `tool_call_requested`, and
//! `tool_call_released` when a claim is given back or its lease ran out), claims a call
//! over HTTP (`POST /api/tool-calls/{id}/claim`, or the same on `/api/requests/{id}/claim`
//! for every other claimant), renews it while it works, answers with its claim id
//! (`POST /api/tool-calls/{id}/response`), and sometimes gives the claim back
//! (`DELETE .../claim`) or dies holding it: its process is gone (its socket closes,
//! its other claims are abandoned too) and comes back as a new one, which reads the
//! pending list again. They race with the in-process claimants for the same calls, and
//! record their handler runs in the same set, so a handler run twice across both kinds
//! is seen.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Counters, RemoteTally, Runs, SoakConfig, SoakError, add, get};
use crate::bridge::BridgeHandle;
use crate::lab::rng::Rng;
use crate::service::{ServeConfig, ServerHandle, serve};

/// The soak server's bearer token (loopback only, for this process's claimants).
const TOKEN: &str = "soak-remote-claimants";
/// Calls one remote claimant holds at once; calls offered beyond that are left to the
/// others (every call has in-process claimants racing for it too).
const IN_HAND: usize = 8;
/// A dead claimant's process comes back after this long.
const RESPAWN: Duration = Duration::from_millis(20);
/// Tries of one answer that the server could not write (the connection was down).
const ANSWER_TRIES: u32 = 2_000;

#[derive(Default)]
struct Tally {
    streams_opened: AtomicU64,
    streams_lagged: AtomicU64,
    calls_offered: AtomicU64,
    claims_via_tool_calls: AtomicU64,
    claims_via_requests: AtomicU64,
    claims_granted: AtomicU64,
    claims_refused: AtomicU64,
    claims_too_late: AtomicU64,
    claims_renewed: AtomicU64,
    claims_released: AtomicU64,
    died: AtomicU64,
    handler_runs: AtomicU64,
    answers_sent: AtomicU64,
    answers_accepted: AtomicU64,
    answers_not_found: AtomicU64,
    answers_retried: AtomicU64,
    http_errors: AtomicU64,
    unexpected_replies: AtomicU64,
}

/// The running claimants and their server.
pub(super) struct Remote {
    server: Option<ServerHandle>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    tally: Arc<Tally>,
    claimants: u64,
}

impl Remote {
    /// Stops the claimants and the server; what they did.
    pub(super) async fn stop(self) -> RemoteTally {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if let Some(server) = self.server {
            server.shutdown().await;
        }
        let t = &self.tally;
        RemoteTally {
            claimants: self.claimants,
            streams_opened: get(&t.streams_opened),
            streams_lagged: get(&t.streams_lagged),
            calls_offered: get(&t.calls_offered),
            claims_via_tool_calls: get(&t.claims_via_tool_calls),
            claims_via_requests: get(&t.claims_via_requests),
            claims_granted: get(&t.claims_granted),
            claims_refused: get(&t.claims_refused),
            claims_too_late: get(&t.claims_too_late),
            claims_renewed: get(&t.claims_renewed),
            claims_released: get(&t.claims_released),
            died: get(&t.died),
            handler_runs: get(&t.handler_runs),
            answers_sent: get(&t.answers_sent),
            answers_accepted: get(&t.answers_accepted),
            answers_not_found: get(&t.answers_not_found),
            answers_retried: get(&t.answers_retried),
            http_errors: get(&t.http_errors),
            unexpected_replies: get(&t.unexpected_replies),
        }
    }
}

/// Starts `config.remote_claimants` claimants on a new loopback server over `bridge`
/// (none, and no server, for 0).
pub(super) async fn start(
    bridge: &BridgeHandle,
    config: &SoakConfig,
    counters: Arc<Counters>,
    runs: Runs,
) -> Result<Remote, SoakError> {
    let (stop, stopping) = watch::channel(false);
    let tally = Arc::new(Tally::default());
    let mut remote = Remote {
        server: None,
        stop,
        tasks: Vec::new(),
        tally: tally.clone(),
        claimants: u64::try_from(config.remote_claimants).unwrap_or(u64::MAX),
    };
    if config.remote_claimants == 0 {
        return Ok(remote);
    }
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let server = serve(
        bridge.clone(),
        ServeConfig::new(listen, Some(TOKEN.to_string())),
    )
    .await?;
    let base = server.url();
    remote.server = Some(server);
    for index in 0..config.remote_claimants {
        let name = format!("remote-{}", index + 1);
        let mut headers = HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {TOKEN}"))
            .map_err(|e| SoakError::Remote(e.to_string()))?;
        headers.insert(AUTHORIZATION, bearer);
        let client_name =
            HeaderValue::from_str(&name).map_err(|e| SoakError::Remote(e.to_string()))?;
        headers.insert(crate::service::routes::CLIENT_HEADER, client_name);
        let client = reqwest::Client::builder()
            .default_headers(headers)
            // Below the server's header-read timeout, which closes idle connections: a
            // claim sent on one the server just closed would get no reply.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| SoakError::Remote(e.to_string()))?;
        let claimant = Arc::new(Claimant {
            name,
            base: base.clone(),
            client,
            by_requests: index % 2 == 1,
            lease_ms: config.lease_ms.max(1),
            max_delay_us: config.max_answer_delay_us,
            failed_answer: config.failed_answer,
            dies: config.remote_claimant_dies,
            release: config.remote_release,
            renew: config.renew,
            rng: Mutex::new(Rng::new(config.seed ^ (0xC1A1_u64 + index as u64))),
            in_hand: Arc::new(Semaphore::new(IN_HAND)),
            incarnation: AtomicU64::new(0),
            died: Notify::new(),
            counters: counters.clone(),
            runs: runs.clone(),
            tally: tally.clone(),
        });
        remote
            .tasks
            .push(tokio::spawn(claimant.live(stopping.clone())));
    }
    Ok(remote)
}

/// What a claimant does with one call it claimed.
struct Plan {
    delay: Duration,
    success: bool,
    dies: bool,
    release: bool,
    renew: bool,
}

struct Claimant {
    name: String,
    base: String,
    client: reqwest::Client,
    /// Claims on `/api/requests/{id}/claim` rather than `/api/tool-calls/{id}/claim`.
    by_requests: bool,
    lease_ms: u64,
    max_delay_us: u64,
    failed_answer: f64,
    dies: f64,
    release: f64,
    renew: f64,
    rng: Mutex<Rng>,
    in_hand: Arc<Semaphore>,
    /// Which process this is: a death starts the next one, and abandons the claims of
    /// the one that died.
    incarnation: AtomicU64,
    died: Notify,
    counters: Arc<Counters>,
    runs: Runs,
    tally: Arc<Tally>,
}

/// How a stream ended.
enum Ended {
    Stopped,
    /// This claimant died; its next process starts.
    Died,
    /// The server closed it (lagged) or it failed: connect again.
    Closed,
}

/// A reply of the API: its status and JSON body (`Null` when it had none).
struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

impl Claimant {
    /// Its processes, one after another, until the run stops.
    async fn live(self: Arc<Self>, mut stopping: watch::Receiver<bool>) {
        while !*stopping.borrow() {
            match self.follow(&mut stopping).await {
                Ended::Stopped => return,
                Ended::Died | Ended::Closed => {
                    tokio::select! {
                        () = tokio::time::sleep(RESPAWN) => {}
                        _ = stopping.changed() => return,
                    }
                }
            }
        }
    }

    /// One process: connects the websocket, reads the pending list once it is ready,
    /// and offers itself every remote call it hears of.
    async fn follow(self: &Arc<Self>, stopping: &mut watch::Receiver<bool>) -> Ended {
        let url = format!("{}/api/stream", self.base.replacen("http", "ws", 1));
        let Ok(mut request) = url.as_str().into_client_request() else {
            add(&self.tally.unexpected_replies);
            return Ended::Stopped;
        };
        if let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {TOKEN}")) {
            request.headers_mut().insert(AUTHORIZATION, bearer);
        }
        let mut socket = match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => socket,
            Err(_) => {
                add(&self.tally.http_errors);
                return Ended::Closed;
            }
        };
        add(&self.tally.streams_opened);
        let incarnation = self.incarnation.load(Ordering::SeqCst);
        loop {
            let message = tokio::select! {
                message = socket.next() => message,
                () = self.died.notified() => return Ended::Died,
                _ = stopping.changed() => return Ended::Stopped,
            };
            let frame = match message {
                // Only the frames it acts on are read (frames start with their type): a
                // claimant that parsed every frame would fall behind the stream.
                Some(Ok(Message::Text(text))) if wanted(text.as_str()) => {
                    match serde_json::from_str::<Value>(text.as_str()) {
                        Ok(frame) => frame,
                        Err(_) => continue,
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ended::Closed,
                Some(Ok(_)) => continue,
            };
            match frame["type"].as_str().unwrap_or_default() {
                // Subscribed before the list is read: nothing raised in between is missed.
                "ready" => self.drain(incarnation).await,
                "tool_call_requested" => self.offer(&frame["payload"], incarnation),
                "tool_call_released" => self.offer(&frame["payload"]["call"], incarnation),
                // Events were skipped (the server's fan-out fell behind, or this socket
                // did and is closed next): what is pending is read again.
                "lagged" => {
                    add(&self.tally.streams_lagged);
                    self.drain(incarnation).await;
                }
                _ => {}
            }
        }
    }

    /// Offers itself every remote call pending and unclaimed.
    async fn drain(self: &Arc<Self>, incarnation: u64) {
        let reply = self
            .call(reqwest::Method::GET, "/api/tool-calls", None)
            .await;
        match reply {
            Some(reply) if reply.status.is_success() => {
                for record in reply.body["data"].as_array().into_iter().flatten() {
                    if record["claim"].is_null() {
                        self.offer(record, incarnation);
                    }
                }
            }
            Some(_) => add(&self.tally.unexpected_replies),
            None => {}
        }
    }

    /// Races for a call of the remote tool, unless it has enough in hand.
    fn offer(self: &Arc<Self>, record: &Value, incarnation: u64) {
        if record["tool"].as_str() != Some("remote") {
            return;
        }
        let Some(request_id) = record["requestId"].as_str() else {
            return;
        };
        let Ok(permit) = self.in_hand.clone().try_acquire_owned() else {
            return;
        };
        add(&self.tally.calls_offered);
        let plan = match self.rng.lock() {
            Ok(mut rng) => Plan {
                delay: Duration::from_micros(rng.next_u64() % (self.max_delay_us + 1)),
                success: !rng.chance(self.failed_answer),
                dies: rng.chance(self.dies),
                release: rng.chance(self.release),
                renew: rng.chance(self.renew),
            },
            Err(_) => return,
        };
        let claimant = self.clone();
        let request_id = request_id.to_string();
        tokio::spawn(async move {
            claimant
                .claim_and_answer(&request_id, plan, incarnation)
                .await;
            drop(permit);
        });
    }

    fn claim_path(&self, request_id: &str) -> String {
        if self.by_requests {
            format!("/api/requests/{request_id}/claim")
        } else {
            format!("/api/tool-calls/{request_id}/claim")
        }
    }

    /// One HTTP call; `None` (counted) when it did not get a reply.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Option<Reply> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(_) => {
                add(&self.tally.http_errors);
                return None;
            }
        };
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Some(Reply { status, body })
    }

    /// Claims (or, with `claim_id`, renews): the claim id when it is ours.
    async fn claim(&self, request_id: &str, claim_id: Option<&str>) -> Result<String, Refused> {
        let mut body = json!({ "worker": self.name, "leaseMs": self.lease_ms });
        if let Some(claim_id) = claim_id {
            body["claimId"] = json!(claim_id);
        }
        let Some(reply) = self
            .call(
                reqwest::Method::POST,
                &self.claim_path(request_id),
                Some(&body),
            )
            .await
        else {
            return Err(Refused::Unreachable);
        };
        match (reply.status.as_u16(), reply.code()) {
            (200, _) => match reply.body["claimId"].as_str() {
                Some(id) => Ok(id.to_string()),
                None => {
                    add(&self.tally.unexpected_replies);
                    Err(Refused::Gone)
                }
            },
            (409, "call_claimed") => Err(Refused::Held),
            (404, _) | (409, "in_flight") => Err(Refused::Gone),
            _ => {
                add(&self.tally.unexpected_replies);
                Err(Refused::Gone)
            }
        }
    }

    /// The process this claim belongs to is still alive.
    fn alive(&self, incarnation: u64) -> bool {
        self.incarnation.load(Ordering::SeqCst) == incarnation
    }

    /// Dies: this process's claims are all abandoned, its socket closes.
    fn die(&self, incarnation: u64) {
        if self
            .incarnation
            .compare_exchange(
                incarnation,
                incarnation + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
        {
            self.died.notify_one();
        }
    }

    async fn claim_and_answer(&self, request_id: &str, plan: Plan, incarnation: u64) {
        if self.by_requests {
            add(&self.tally.claims_via_requests);
        } else {
            add(&self.tally.claims_via_tool_calls);
        }
        let claim_id = match self.claim(request_id, None).await {
            Ok(claim_id) => claim_id,
            Err(Refused::Held) => {
                add(&self.tally.claims_refused);
                return;
            }
            Err(Refused::Gone) => {
                add(&self.tally.claims_too_late);
                return;
            }
            Err(Refused::Unreachable) => return,
        };
        add(&self.tally.claims_granted);
        if plan.release {
            // Gives it back before running anything: the next claimant takes it.
            let body = json!({ "claimId": claim_id });
            match self
                .call(
                    reqwest::Method::DELETE,
                    &self.claim_path(request_id),
                    Some(&body),
                )
                .await
            {
                Some(reply) if reply.status.is_success() => add(&self.tally.claims_released),
                Some(_) => add(&self.tally.unexpected_replies),
                None => {}
            }
            return;
        }
        add(&self.tally.handler_runs);
        add(&self.counters.handler_runs);
        if plan.dies || !self.alive(incarnation) {
            // Dies holding the claim: the lease runs out, and another claimant takes it.
            add(&self.tally.died);
            self.die(incarnation);
            return;
        }
        let ran_before = self
            .runs
            .lock()
            .map(|mut runs| !runs.insert(request_id.to_string()))
            .unwrap_or(false);
        if ran_before {
            add(&self.counters.handlers_run_twice);
        }
        // Renews every third of the lease while it works, like `switchboard worker`.
        let work = self.work_and_answer(request_id, &claim_id, &plan, incarnation);
        let mut work = std::pin::pin!(work);
        let period = Duration::from_millis(self.lease_ms / 3).max(Duration::from_millis(1));
        let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                () = &mut work => return,
                _ = renewals.tick() => {
                    if !self.alive(incarnation) {
                        continue;
                    }
                    match self.claim(request_id, Some(&claim_id)).await {
                        Ok(_) => add(&self.tally.claims_renewed),
                        Err(Refused::Held) => {
                            add(&self.counters.lost_claims);
                            return;
                        }
                        // Ended, or its answer is being written: the work finishes it.
                        Err(Refused::Gone | Refused::Unreachable) => {}
                    }
                }
            }
        }
    }

    /// The handler's time, then the answer with the claim id.
    async fn work_and_answer(
        &self,
        request_id: &str,
        claim_id: &str,
        plan: &Plan,
        incarnation: u64,
    ) {
        tokio::time::sleep(plan.delay).await;
        if plan.renew && self.alive(incarnation) {
            match self.claim(request_id, Some(claim_id)).await {
                Ok(_) => add(&self.tally.claims_renewed),
                Err(Refused::Held) => {
                    add(&self.counters.lost_claims);
                    return;
                }
                Err(Refused::Gone | Refused::Unreachable) => {}
            }
        }
        let body = json!({
            "success": plan.success,
            "text": if plan.success { "approved remotely" } else { "the remote claimant failed" },
            "claimId": claim_id,
        });
        let path = format!("/api/tool-calls/{request_id}/response");
        for _ in 0..ANSWER_TRIES {
            if !self.alive(incarnation) {
                // Its process died while it worked: the claim is abandoned with it.
                if let Ok(mut runs) = self.runs.lock() {
                    runs.remove(request_id);
                }
                add(&self.tally.died);
                return;
            }
            add(&self.tally.answers_sent);
            let Some(reply) = self.call(reqwest::Method::POST, &path, Some(&body)).await else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            match (reply.status.as_u16(), reply.code()) {
                (200, _) => {
                    add(&self.tally.answers_accepted);
                    return;
                }
                (404, _) => {
                    add(&self.tally.answers_not_found);
                    return;
                }
                (409, "call_claimed") => {
                    add(&self.counters.lost_claims);
                    return;
                }
                // Not written (the connection was down): still ours; send it again.
                (500, _) => {
                    add(&self.tally.answers_retried);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                _ => {
                    add(&self.tally.unexpected_replies);
                    return;
                }
            }
        }
    }
}

/// The frames a claimant reads: event frames start with their `type`; control frames
/// (`ready`) are small, and read whatever their key order.
fn wanted(text: &str) -> bool {
    text.len() < 256
        || ["tool_call_requested", "tool_call_released", "lagged"]
            .iter()
            .any(|kind| {
                text.strip_prefix(r#"{"type":""#)
                    .and_then(|rest| rest.strip_prefix(kind))
                    .is_some_and(|rest| rest.starts_with('"'))
            })
}

enum Refused {
    /// Another claimant holds it.
    Held,
    /// It ended, or is being answered.
    Gone,
    /// No reply (counted as an HTTP error).
    Unreachable,
}

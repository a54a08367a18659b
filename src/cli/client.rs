//! Client commands: every API route has one (see [`ROUTE_COMMANDS`]). Text output by
//! default, the server's JSON with `--json`; the exit status tells outcomes apart.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::api_client::{Api, ClientArgs, Reply};
use super::{exit, note, out, report_error};
use crate::catalog::Catalog;

/// Each API route and the command that calls it; a test checks this table against the
/// OpenAPI document and the command-line parser, so a new route needs a command.
pub const ROUTE_COMMANDS: &[(&str, &str, &str)] = &[
    ("post", "/api/sessions", "sessions create"),
    ("get", "/api/sessions", "sessions list"),
    ("get", "/api/sessions/{sessionId}", "sessions get SESSION"),
    (
        "delete",
        "/api/sessions/{sessionId}",
        "sessions delete SESSION",
    ),
    (
        "post",
        "/api/sessions/{sessionId}/messages",
        "sessions send SESSION TEXT",
    ),
    (
        "post",
        "/api/sessions/{sessionId}/interrupt",
        "sessions interrupt SESSION",
    ),
    (
        "post",
        "/api/sessions/{sessionId}/resume",
        "sessions resume SESSION",
    ),
    (
        "get",
        "/api/sessions/{sessionId}/tool-calls",
        "sessions tool-calls list SESSION",
    ),
    ("get", "/api/tool-calls", "tool-calls list"),
    (
        "post",
        "/api/tool-calls/{requestId}/response",
        "tool-calls respond REQUEST --text T",
    ),
    (
        "post",
        "/api/tool-calls/{requestId}/claim",
        "tool-calls claim REQUEST --worker NAME",
    ),
    (
        "delete",
        "/api/tool-calls/{requestId}/claim",
        "tool-calls release REQUEST --claim-id ID",
    ),
    (
        "get",
        "/api/sessions/{sessionId}/approvals",
        "approvals list SESSION",
    ),
    (
        "post",
        "/api/approvals/{approvalId}/decision",
        "approvals decide APPROVAL --decision accept",
    ),
    (
        "get",
        "/api/sessions/{sessionId}/tool-input",
        "tool-input list SESSION",
    ),
    (
        "post",
        "/api/tool-input/{requestId}/decision",
        "tool-input decide REQUEST --decision accept",
    ),
    (
        "post",
        "/api/sessions/{sessionId}/approval-policy",
        "sessions approval-policy SESSION never",
    ),
    ("get", "/api/requests", "requests list"),
    (
        "post",
        "/api/requests/{requestId}/answer",
        "requests answer REQUEST --decision decline",
    ),
    (
        "post",
        "/api/requests/{requestId}/claim",
        "requests claim REQUEST --holder NAME",
    ),
    (
        "delete",
        "/api/requests/{requestId}/claim",
        "requests release REQUEST --claim-id ID",
    ),
    ("get", "/api/threads/loaded", "sessions loaded"),
    (
        "post",
        "/api/threads/{threadId}/watch",
        "sessions watch THREAD --app-server NAME",
    ),
    (
        "post",
        "/api/sessions/{sessionId}/detach",
        "sessions detach SESSION",
    ),
    (
        "post",
        "/api/sessions/{sessionId}/auto-answer",
        "sessions auto-answer SESSION on",
    ),
    ("post", "/api/catalog/reload", "catalog reload"),
    ("get", "/api/health", "health"),
    ("get", "/api/catalog/stats", "catalog stats"),
    ("get", "/api/openapi.json", "openapi"),
    ("get", "/api/stream", "stream"),
];

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: SessionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List open sessions.
    List,
    /// Create a session; prints its id.
    Create(CreateArgs),
    /// Show a session: its turns and transcript.
    Get { session: String },
    /// Delete (close) a session; its pending calls expire.
    Delete { session: String },
    /// Send a message (a new turn); prints the turn id, or with --wait the reply.
    Send(SendArgs),
    /// Interrupt the running turn; its pending calls expire.
    Interrupt { session: String },
    /// Re-attach a session to app-server (after a restart); its waiting calls come back.
    Resume { session: String },
    /// The threads every app-server has loaded, of every client: its app-server,
    /// status, who started them, and this server's session for each.
    Loaded,
    /// Watch a thread another client runs (`thread/resume`): its items and pending
    /// requests reach the server, which answers none automatically.
    Watch {
        thread: String,
        /// The app-server that has it loaded (`sessions loaded` lists it); needed when
        /// several have.
        #[arg(long, value_name = "NAME")]
        app_server: Option<String>,
    },
    /// Stop watching a thread (`thread/unsubscribe`); its pending requests expire here.
    Detach { session: String },
    /// Let a watched session's requests be answered automatically (on) or not (off).
    #[command(name = "auto-answer")]
    AutoAnswer {
        session: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// A session's pending tool calls.
    #[command(subcommand, name = "tool-calls")]
    ToolCalls(SessionToolCallsCommand),
    /// Set the approval policy of the session's next turns (untrusted, on-failure,
    /// on-request or never); the running turn keeps its own.
    #[command(name = "approval-policy")]
    ApprovalPolicy { session: String, policy: String },
}

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// A session's pending command and file-change approvals, oldest first.
    List { session: String },
    /// Decide an approval.
    Decide {
        approval_id: String,
        /// accept, decline or cancel.
        #[arg(long)]
        decision: String,
        /// turn (default) or session: `accept` for the rest of the session.
        #[arg(long)]
        scope: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ToolInputArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ToolInputCommand,
}

#[derive(Debug, Subcommand)]
pub enum ToolInputCommand {
    /// A session's pending user-input questions, oldest first.
    List { session: String },
    /// Answer a user-input request.
    Decide {
        request_id: String,
        /// accept (send the answers), decline or cancel (no answers).
        #[arg(long)]
        decision: String,
        /// {<question id>: {answers: [text]}}: JSON, or @FILE.
        #[arg(long, value_name = "JSON|@FILE")]
        answers: Option<String>,
        /// The whole result sent to app-server: JSON, or @FILE.
        #[arg(long, value_name = "JSON|@FILE")]
        response: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RequestsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: RequestsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Pending approvals, questions, permission requests and elicitations of every
    /// session, oldest first.
    List,
    /// Answer any pending request with a decision or a raw response.
    Answer {
        request_id: String,
        /// accept, decline or cancel.
        #[arg(long)]
        decision: Option<String>,
        /// turn (default) or session.
        #[arg(long)]
        scope: Option<String>,
        /// The whole result sent to app-server: JSON, or @FILE.
        #[arg(long, value_name = "JSON|@FILE")]
        response: Option<String>,
        /// Your claim on the request (a claimed request takes only its holder's answer).
        #[arg(long, value_name = "ID")]
        claim_id: Option<String>,
    },
    /// Claim any pending request (tool call, approval, question, elicitation), renew
    /// your claim with --claim-id, or take it over from its holder with --takeover:
    /// until the lease ends only you may answer it, with that claim id. Prints the
    /// claim id.
    Claim(ClaimArgs),
    /// Give a claim back: anyone may claim or answer the request again.
    Release(ReleaseArgs),
}

#[derive(Debug, Subcommand)]
pub enum SessionToolCallsCommand {
    /// List the session's pending tool calls, oldest first.
    List { session: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The session's folder; relative paths are resolved by the server.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    /// untrusted, on-failure, on-request or never.
    #[arg(long, value_name = "POLICY")]
    pub approval_policy: Option<String>,
    /// restricted or enabled.
    #[arg(long, value_name = "ACCESS")]
    pub network_access: Option<String>,
    /// read-only, workspace-write or danger-full-access.
    #[arg(long, value_name = "MODE")]
    pub sandbox: Option<String>,
    /// Declare this catalog's tools (default: the server's catalog).
    #[arg(long, value_name = "FILE", conflicts_with = "tools")]
    pub catalog: Option<PathBuf>,
    /// Declare these tools: a JSON array of {name, description, inputSchema}, or @FILE.
    #[arg(long, value_name = "JSON|@FILE")]
    pub tools: Option<String>,
    /// The app-server to start it on, by name (`health` lists them; default: the
    /// server's first).
    #[arg(long, value_name = "NAME")]
    pub app_server: Option<String>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    pub session: String,
    /// The user message, sent verbatim.
    pub text: String,
    /// Wait for the turn to end and print the assistant's reply (exit 1 if the turn did
    /// not complete).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ToolCallsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ToolCallsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ToolCallsCommand {
    /// Pending tool calls of every session, oldest first.
    List,
    /// Answer a pending tool call.
    Respond(RespondArgs),
    /// Claim a pending tool call (or renew your claim with --claim-id): until the lease
    /// ends only you may answer it, with that claim id. Prints the claim id.
    Claim(ClaimArgs),
    /// Give a claim back: anyone may claim or answer the call again.
    Release(ReleaseArgs),
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    pub request_id: String,
    /// Who holds the claim, as others see it ("being answered by NAME"; default: cli).
    #[arg(long, visible_alias = "holder", value_name = "NAME")]
    pub worker: Option<String>,
    /// How long the claim holds without a renewal (1 to 600000; the server's default
    /// is 30000).
    #[arg(long, value_name = "MS")]
    pub lease_ms: Option<u64>,
    /// Renew this claim (yours) instead of taking a new one.
    #[arg(long, value_name = "ID")]
    pub claim_id: Option<String>,
    /// Take the request over when someone else holds it (their answers are refused
    /// from then on, and they are told).
    #[arg(long)]
    pub takeover: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    pub request_id: String,
    /// The claim to give back.
    #[arg(long, value_name = "ID")]
    pub claim_id: String,
}

#[derive(Debug, Args)]
pub struct RespondArgs {
    pub request_id: String,
    /// Whether the call succeeded (default true).
    #[arg(long, value_name = "BOOL")]
    pub success: Option<bool>,
    /// The answer as one text item.
    #[arg(long, conflicts_with_all = ["content_items", "response"])]
    pub text: Option<String>,
    /// The answer's content items: a JSON array, or @FILE.
    #[arg(long, value_name = "JSON|@FILE", conflicts_with = "response")]
    pub content_items: Option<String>,
    /// The whole result, {contentItems, success}: JSON, or @FILE.
    #[arg(long, value_name = "JSON|@FILE", conflicts_with = "success")]
    pub response: Option<String>,
    /// Your claim on the call (a claimed call takes only its holder's answer).
    #[arg(long, value_name = "ID")]
    pub claim_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only this session's events.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlainArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print the document built into this binary instead of asking a server.
    #[arg(long)]
    pub local: bool,
}

/// Reads `@FILE` or takes the text itself, then parses it as JSON.
fn json_arg(flag: &str, text: &str) -> Result<Value, String> {
    let source = match text.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("{flag}: cannot read {path}: {e}"))?
        }
        None => text.to_string(),
    };
    serde_json::from_str(&source).map_err(|e| format!("{flag}: not valid JSON: {e}"))
}

fn api(client: &ClientArgs) -> Result<Api, u8> {
    Api::new(client.endpoint(), "cli").map_err(|e| {
        report_error(&e.to_string());
        e.exit_code()
    })
}

/// Sends one request. With `--json` the body is printed whatever the status; a failure
/// is reported on stderr and becomes the exit status.
async fn request(
    api: &Api,
    json: bool,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Reply, u8> {
    let reply = api.call(method, path, body).await.map_err(|e| {
        report_error(&e.to_string());
        e.exit_code()
    })?;
    if json {
        out(&reply.body.to_string());
    }
    if reply.ok() {
        Ok(reply)
    } else {
        let what = match reply.status {
            404 => "not found: ",
            409 => "conflict: ",
            410 => "gone: ",
            _ => "",
        };
        if json {
            note(&format!("{what}{}", reply.message()));
        } else {
            report_error(&format!("{what}{}", reply.message()));
        }
        Err(reply.exit_code())
    }
}

fn code(result: Result<(), u8>) -> u8 {
    result.err().unwrap_or(exit::OK)
}

fn text_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn print_call(call: &Value) {
    out(&format!(
        "{}  {}  {}  (session {}, turn {}{})",
        text_of(call, "requestId"),
        text_of(call, "tool"),
        call.get("arguments")
            .map(Value::to_string)
            .unwrap_or_default(),
        text_of(call, "threadId"),
        text_of(call, "turnId"),
        claimed_by(call),
    ));
}

fn print_calls(reply: &Reply) {
    let calls = reply
        .body
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if calls.is_empty() {
        note("no pending tool calls");
    }
    for call in &calls {
        print_call(call);
    }
}

pub async fn health(args: PlainArgs) -> u8 {
    code(
        async {
            let api = api(&args.client)?;
            let reply = request(&api, args.client.json, Method::GET, "/health", None).await?;
            if !args.client.json {
                let totals = &reply.body["totals"];
                out(&format!(
                    "{}: switchboard {} over {}; {} sessions, {} pending calls",
                    text_of(&reply.body, "status"),
                    text_of(&reply.body, "version"),
                    text_of(&reply.body, "transport"),
                    totals["sessions"],
                    totals["pending"],
                ));
                // `degraded`: why (transcripts not being written).
                if let Some(reason) = reply.body["reason"].as_str() {
                    out(reason);
                }
            }
            Ok(())
        }
        .await,
    )
}

/// `catalog reload`: the server loads its catalog file again. Exit 0 when it did, 2 when
/// the file did not load (the server keeps the previous catalog; every problem is
/// printed, with file and line).
pub async fn catalog_reload(args: PlainArgs) -> u8 {
    code(
        async {
            let api = api(&args.client)?;
            let reply = api
                .call(Method::POST, "/catalog/reload", None)
                .await
                .map_err(|e| {
                    report_error(&e.to_string());
                    e.exit_code()
                })?;
            let json = args.client.json;
            if json {
                out(&reply.body.to_string());
            }
            match reply.status {
                200 => {
                    if !json {
                        print_reload(&reply.body);
                    }
                    Ok(())
                }
                422 => {
                    report_error(&format!(
                        "the catalog did not load; the server keeps the previous one: {}",
                        text_of(&reply.body, "error")
                    ));
                    Err(exit::INVALID_INPUT)
                }
                _ => {
                    report_error(&reply.message());
                    Err(reply.exit_code())
                }
            }
        }
        .await,
    )
}

/// `catalog stats`: a running server's per-tool statistics.
pub async fn catalog_stats(args: PlainArgs) -> u8 {
    code(
        async {
            let api = api(&args.client)?;
            let reply = request(
                &api,
                args.client.json,
                Method::GET,
                "/catalog/stats",
                None,
            )
            .await?;
            if !args.client.json {
                let tools = reply.body["tools"].as_array().cloned().unwrap_or_default();
                if tools.is_empty() {
                    note("no tool call has ended yet");
                }
                for t in &tools {
                    let median = t["medianLatencyMs"]
                        .as_u64()
                        .map_or_else(|| "-".to_string(), |m| format!("{m} ms"));
                    out(&format!(
                        "{}: {} call(s), {}% broke input_schema, {}% broke output_schema, {} handler failure(s) ({} timed out), {} expired, median {median}",
                        text_of(t, "tool"),
                        t["calls"],
                        t["badArgumentsPercent"],
                        t["badAnswersPercent"],
                        t["handlerFailures"],
                        t["timeouts"],
                        t["expired"],
                    ));
                    if let Some(problem) = t["mostCommonProblem"].as_str() {
                        out(&format!("    most common argument problem: {problem}"));
                    }
                }
            }
            Ok(())
        }
        .await,
    )
}

fn print_reload(body: &Value) {
    let changes = body["changes"].as_array().cloned().unwrap_or_default();
    out(&format!(
        "reloaded {} (generation {}): {} tool(s) changed",
        text_of(body, "path"),
        body["generation"],
        changes.len()
    ));
    for change in &changes {
        let when = if change["newSessionsOnly"].as_bool() == Some(true) {
            "new sessions only"
        } else {
            "applies to the next call"
        };
        out(&format!(
            "  {}: {} ({when})",
            text_of(change, "tool"),
            text_of(change, "change")
        ));
    }
    for session in body["outdatedSessions"].as_array().into_iter().flatten() {
        let tools: Vec<&str> = session["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out(&format!(
            "  session {} keeps older definitions of: {}",
            text_of(session, "sessionId"),
            tools.join(", ")
        ));
    }
}

pub async fn openapi(args: OpenapiArgs) -> u8 {
    if args.local {
        out(crate::service::openapi::document_text().trim_end());
        return exit::OK;
    }
    code(
        async {
            let api = api(&args.client)?;
            let reply = request(&api, false, Method::GET, "/openapi.json", None).await?;
            out(&serde_json::to_string_pretty(&reply.body).unwrap_or_default());
            Ok(())
        }
        .await,
    )
}

pub async fn sessions(args: SessionsArgs) -> u8 {
    let json = args.client.json;
    code(
        async {
            let api = api(&args.client)?;
            match args.command {
                SessionsCommand::List => {
                    let reply = request(&api, json, Method::GET, "/sessions", None).await?;
                    if !json {
                        let sessions = reply.body["data"].as_array().cloned().unwrap_or_default();
                        if sessions.is_empty() {
                            note("no open sessions");
                        }
                        // The app-server column, as wide as its longest name.
                        let width = sessions
                            .iter()
                            .map(|s| text_of(s, "appServer").chars().count())
                            .max()
                            .unwrap_or(0);
                        for s in &sessions {
                            out(&format!(
                                "{}  {:<12} {:<width$}  turns={:<3} {}{}",
                                text_of(s, "sessionId"),
                                text_of(s, "status"),
                                text_of(s, "appServer"),
                                s["turnCount"],
                                text_of(s, "title"),
                                watching_mark(s)
                            ));
                        }
                    }
                }
                SessionsCommand::Create(create) => {
                    let body = create_body(&create).map_err(|message| {
                        report_error(&message);
                        exit::INVALID_INPUT
                    })?;
                    let reply = request(&api, json, Method::POST, "/sessions", Some(&body)).await?;
                    if !json {
                        out(text_of(&reply.body["session"], "sessionId"));
                    }
                }
                SessionsCommand::Get { session } => {
                    let reply = request(
                        &api,
                        json,
                        Method::GET,
                        &format!("/sessions/{session}"),
                        None,
                    )
                    .await?;
                    if !json {
                        print_session(&reply.body);
                    }
                }
                SessionsCommand::Delete { session } => {
                    request(
                        &api,
                        json,
                        Method::DELETE,
                        &format!("/sessions/{session}"),
                        None,
                    )
                    .await?;
                    if !json {
                        out(&format!("deleted {session}"));
                    }
                }
                SessionsCommand::Send(send) => {
                    return match send_message(&api, json, send).await {
                        exit::OK => Ok(()),
                        code => Err(code),
                    };
                }
                SessionsCommand::ApprovalPolicy { session, policy } => {
                    let path = format!("/sessions/{session}/approval-policy");
                    let body = json!({ "approvalPolicy": policy });
                    request(&api, json, Method::POST, &path, Some(&body)).await?;
                    if !json {
                        out(&format!("the next turns of {session} run under {policy}"));
                    }
                }
                SessionsCommand::Interrupt { session } => {
                    let path = format!("/sessions/{session}/interrupt");
                    let reply = request(&api, json, Method::POST, &path, None).await?;
                    if !json {
                        out(&format!(
                            "interrupted turn {}",
                            text_of(&reply.body, "turnId")
                        ));
                    }
                }
                SessionsCommand::Resume { session } => {
                    let path = format!("/sessions/{session}/resume");
                    let reply = request(&api, json, Method::POST, &path, None).await?;
                    if !json {
                        print_session(&reply.body);
                    }
                }
                SessionsCommand::Loaded => {
                    let reply = request(&api, json, Method::GET, "/threads/loaded", None).await?;
                    if !json {
                        print_loaded(&reply.body);
                    }
                }
                SessionsCommand::Watch { thread, app_server } => {
                    let path = format!("/threads/{thread}/watch");
                    let body = app_server.map(|name| json!({ "appServer": name }));
                    let reply = request(&api, json, Method::POST, &path, body.as_ref()).await?;
                    if !json {
                        print_session(&reply.body);
                    }
                }
                SessionsCommand::Detach { session } => {
                    let path = format!("/sessions/{session}/detach");
                    request(&api, json, Method::POST, &path, None).await?;
                    if !json {
                        out(&format!("detached from {session}"));
                    }
                }
                SessionsCommand::AutoAnswer { session, state } => {
                    let path = format!("/sessions/{session}/auto-answer");
                    let body = json!({ "enabled": state == "on" });
                    request(&api, json, Method::POST, &path, Some(&body)).await?;
                    if !json {
                        out(&format!("auto-answer {state} for {session}"));
                    }
                }
                SessionsCommand::ToolCalls(SessionToolCallsCommand::List { session }) => {
                    let path = format!("/sessions/{session}/tool-calls");
                    let reply = request(&api, json, Method::GET, &path, None).await?;
                    if !json {
                        print_calls(&reply);
                    }
                }
            }
            Ok(())
        }
        .await,
    )
}

/// One line per loaded thread: id, app-server, status, who started it, this server's
/// session; then the app-servers that could not list theirs.
fn print_loaded(body: &Value) {
    let threads = body["data"].as_array().cloned().unwrap_or_default();
    let unreachable = body["unreachable"].as_array().cloned().unwrap_or_default();
    if threads.is_empty() {
        note("no app-server has loaded threads");
    }
    // The app-server column, as wide as its longest name.
    let width = threads
        .iter()
        .map(|t| text_of(t, "appServer").chars().count())
        .max()
        .unwrap_or(0);
    for t in &threads {
        let by = t["originator"]
            .as_str()
            .or(t["source"].as_str())
            .unwrap_or("unknown client");
        let here = t["session"].as_str().unwrap_or("not attached");
        let title = t["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(text_of(t, "preview"));
        out(&format!(
            "{}  {:<width$}  {:<11} by {:<16} {:<12} {}",
            text_of(t, "threadId"),
            text_of(t, "appServer"),
            text_of(t, "status"),
            by,
            here,
            title
        ));
    }
    for u in &unreachable {
        note(&format!(
            "{} did not list its threads: {}",
            text_of(u, "appServer"),
            text_of(u, "reason")
        ));
    }
}

fn create_body(create: &CreateArgs) -> Result<Value, String> {
    let mut body = serde_json::Map::new();
    let fields = [
        ("cwd", &create.cwd),
        ("model", &create.model),
        ("approvalPolicy", &create.approval_policy),
        ("networkAccess", &create.network_access),
        ("filesystemSandbox", &create.sandbox),
        ("appServer", &create.app_server),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            body.insert(key.to_string(), json!(value));
        }
    }
    if let Some(path) = &create.catalog {
        let catalog = Catalog::load(path).map_err(|e| e.to_string())?;
        body.insert("dynamicTools".to_string(), json!(catalog.dynamic_tools()));
    }
    if let Some(tools) = &create.tools {
        body.insert("dynamicTools".to_string(), json_arg("--tools", tools)?);
    }
    Ok(Value::Object(body))
}

/// "  watching" (and whether it answers automatically) for a watched session.
fn watching_mark(session: &Value) -> &'static str {
    match (session["origin"].as_str(), session["autoAnswer"].as_bool()) {
        (Some("watched"), Some(true)) => "  [watching, auto-answer on]",
        (Some("watched"), _) => "  [watching]",
        _ => "",
    }
}

fn print_session(detail: &Value) {
    let session = &detail["session"];
    out(&format!(
        "session {}  {}{}  {}",
        text_of(session, "sessionId"),
        text_of(session, "status"),
        watching_mark(session),
        text_of(session, "title")
    ));
    for turn in detail["thread"]["turns"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        out(&format!(
            "turn {}  {}",
            text_of(&turn, "id"),
            text_of(&turn, "status")
        ));
    }
    for entry in detail["transcript"].as_array().cloned().unwrap_or_default() {
        out(&format!(
            "  [{}] {}",
            text_of(&entry, "role"),
            text_of(&entry, "content").replace('\n', "\n      ")
        ));
    }
}

async fn send_message(api: &Api, json: bool, send: SendArgs) -> u8 {
    let path = format!("/sessions/{}/messages", send.session);
    let body = json!({ "text": send.text });
    let reply = match request(api, json && !send.wait, Method::POST, &path, Some(&body)).await {
        Ok(reply) => reply,
        Err(code) => return code,
    };
    let turn_id = text_of(&reply.body, "turnId").to_string();
    if !send.wait {
        if !json {
            out(&turn_id);
        }
        return exit::OK;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(send.timeout);
    let detail_path = format!("/sessions/{}", send.session);
    loop {
        let detail = match request(api, false, Method::GET, &detail_path, None).await {
            Ok(reply) => reply.body,
            Err(code) => return code,
        };
        let status = detail["thread"]["turns"]
            .as_array()
            .and_then(|turns| turns.iter().find(|t| t["id"] == turn_id.as_str()))
            .map(|t| text_of(t, "status").to_string())
            .unwrap_or_default();
        if !status.is_empty() && status != "inProgress" {
            let reply_text = detail["transcript"]
                .as_array()
                .and_then(|entries| {
                    entries.iter().rev().find(|e| {
                        e["turnId"] == turn_id.as_str()
                            && e["role"] == "assistant"
                            && e["status"] == "complete"
                    })
                })
                .map(|e| text_of(e, "content").to_string());
            if json {
                out(&json!({ "sessionId": send.session, "turnId": turn_id, "turnStatus": status, "assistantReply": reply_text }).to_string());
            } else if let Some(text) = &reply_text {
                out(text);
            }
            if status == "completed" {
                return exit::OK;
            }
            report_error(&format!("turn {turn_id} ended {status}"));
            return exit::TURN_NOT_COMPLETED;
        }
        if tokio::time::Instant::now() >= deadline {
            report_error(&format!(
                "turn {turn_id} did not end within {} s",
                send.timeout
            ));
            return exit::TURN_NOT_COMPLETED;
        }
        // The poll interval of codex-manager's SDK.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn tool_calls(args: ToolCallsArgs) -> u8 {
    let json = args.client.json;
    code(
        async {
            let api = api(&args.client)?;
            match args.command {
                ToolCallsCommand::List => {
                    let reply = request(&api, json, Method::GET, "/tool-calls", None).await?;
                    if !json {
                        print_calls(&reply);
                    }
                }
                ToolCallsCommand::Respond(respond) => {
                    let body = respond_body(&respond).map_err(|message| {
                        report_error(&message);
                        exit::INVALID_INPUT
                    })?;
                    let path = format!("/tool-calls/{}/response", respond.request_id);
                    let reply = api
                        .call(Method::POST, &path, Some(&body))
                        .await
                        .map_err(|e| {
                            report_error(&e.to_string());
                            e.exit_code()
                        })?;
                    if json {
                        out(&reply.body.to_string());
                    }
                    match reply.status {
                        200..=299 => {
                            if !json {
                                out(&format!("answered {}", respond.request_id));
                            }
                        }
                        // Not failures of this command: someone else answered, or it ended.
                        404 => {
                            note(&format!(
                                "{} is not pending: already answered, expired, or unknown",
                                respond.request_id
                            ));
                            return Err(exit::NOT_FOUND);
                        }
                        409 => {
                            note(&format!(
                                "{}: {}",
                                respond.request_id,
                                if reply.body.get("code").and_then(Value::as_str)
                                    == Some("call_claimed")
                                {
                                    reply.message()
                                } else {
                                    "another answer is being written".to_string()
                                }
                            ));
                            return Err(exit::CONFLICT);
                        }
                        _ => {
                            report_error(&reply.message());
                            return Err(reply.exit_code());
                        }
                    }
                }
                ToolCallsCommand::Claim(claim) => {
                    claim_command(&api, json, "tool-calls", &claim).await?;
                }
                ToolCallsCommand::Release(release) => {
                    release_command(&api, json, "tool-calls", &release).await?;
                }
            }
            Ok(())
        }
        .await,
    )
}

/// `tool-calls claim` and `requests claim`: the claim id on stdout, what happened on
/// stderr.
async fn claim_command(api: &Api, json: bool, route: &str, claim: &ClaimArgs) -> Result<(), u8> {
    let mut body = serde_json::Map::new();
    if let Some(worker) = &claim.worker {
        body.insert("holder".to_string(), json!(worker));
    }
    if let Some(lease_ms) = claim.lease_ms {
        body.insert("leaseMs".to_string(), json!(lease_ms));
    }
    if let Some(claim_id) = &claim.claim_id {
        body.insert("claimId".to_string(), json!(claim_id));
    }
    if claim.takeover {
        body.insert("takeover".to_string(), json!(true));
    }
    let path = format!("/{route}/{}/claim", claim.request_id);
    let reply = request(api, json, Method::POST, &path, Some(&Value::Object(body))).await?;
    if !json {
        out(text_of(&reply.body, "claimId"));
        let replaced = reply.body["replaced"]["holder"]
            .as_str()
            .map(|holder| format!(" (taken over from {holder})"))
            .unwrap_or_default();
        note(&format!(
            "{} {} by {} until {}{replaced}",
            claim.request_id,
            if reply.body["renewed"] == json!(true) {
                "renewed"
            } else {
                "claimed"
            },
            text_of(&reply.body, "holder"),
            reply.body["leaseExpiresAtMs"]
                .as_i64()
                .map(crate::util::iso8601_ms)
                .unwrap_or_default()
        ));
    }
    Ok(())
}

async fn release_command(
    api: &Api,
    json: bool,
    route: &str,
    release: &ReleaseArgs,
) -> Result<(), u8> {
    let path = format!("/{route}/{}/claim", release.request_id);
    let body = json!({ "claimId": release.claim_id });
    let reply = request(api, json, Method::DELETE, &path, Some(&body)).await?;
    if !json {
        out(&format!(
            "{} {}",
            release.request_id,
            if text_of(&reply.body, "status") == "released" {
                "released"
            } else {
                "was not claimed"
            }
        ));
    }
    Ok(())
}

/// ", being answered by NAME" for a record someone claimed.
fn claimed_by(record: &Value) -> String {
    record["claim"]["holder"]
        .as_str()
        .map(|holder| format!(", being answered by {holder}"))
        .unwrap_or_default()
}

fn print_requests(reply: &Reply, id_key: &str, what: &str) {
    let data = reply.body["data"].as_array().cloned().unwrap_or_default();
    if data.is_empty() {
        note(&format!("no pending {what}"));
    }
    for record in &data {
        out(&format!(
            "{}  {}  (session {}, turn {}{})",
            text_of(record, id_key),
            text_of(record, "summary"),
            text_of(record, "threadId"),
            text_of(record, "turnId"),
            claimed_by(record),
        ));
    }
}

/// Sends a decision body and says what happened.
async fn post_decision(api: &Api, json: bool, path: &str, body: &Value) -> Result<(), u8> {
    request(api, json, Method::POST, path, Some(body)).await?;
    if !json {
        out("ok");
    }
    Ok(())
}

fn optional_json(flag: &str, text: Option<&String>) -> Result<Option<Value>, u8> {
    text.map(|t| json_arg(flag, t))
        .transpose()
        .map_err(|message| {
            report_error(&message);
            exit::INVALID_INPUT
        })
}

pub async fn approvals(args: ApprovalsArgs) -> u8 {
    let json = args.client.json;
    code(
        async {
            let api = api(&args.client)?;
            match args.command {
                ApprovalsCommand::List { session } => {
                    let path = format!("/sessions/{session}/approvals");
                    let reply = request(&api, json, Method::GET, &path, None).await?;
                    if !json {
                        print_requests(&reply, "approvalId", "approvals");
                    }
                }
                ApprovalsCommand::Decide {
                    approval_id,
                    decision,
                    scope,
                } => {
                    let mut body = json!({ "decision": decision });
                    if let Some(scope) = scope {
                        body["scope"] = json!(scope);
                    }
                    let path = format!("/approvals/{approval_id}/decision");
                    post_decision(&api, json, &path, &body).await?;
                }
            }
            Ok(())
        }
        .await,
    )
}

pub async fn tool_input(args: ToolInputArgs) -> u8 {
    let json = args.client.json;
    code(
        async {
            let api = api(&args.client)?;
            match args.command {
                ToolInputCommand::List { session } => {
                    let path = format!("/sessions/{session}/tool-input");
                    let reply = request(&api, json, Method::GET, &path, None).await?;
                    if !json {
                        print_requests(&reply, "requestId", "user-input requests");
                    }
                }
                ToolInputCommand::Decide {
                    request_id,
                    decision,
                    answers,
                    response,
                } => {
                    let mut body = json!({ "decision": decision });
                    if let Some(answers) = optional_json("--answers", answers.as_ref())? {
                        body["answers"] = answers;
                    }
                    if let Some(response) = optional_json("--response", response.as_ref())? {
                        body["response"] = response;
                    }
                    let path = format!("/tool-input/{request_id}/decision");
                    post_decision(&api, json, &path, &body).await?;
                }
            }
            Ok(())
        }
        .await,
    )
}

pub async fn requests(args: RequestsArgs) -> u8 {
    let json = args.client.json;
    code(
        async {
            let api = api(&args.client)?;
            match args.command {
                RequestsCommand::List => {
                    let reply = request(&api, json, Method::GET, "/requests", None).await?;
                    if !json {
                        print_requests(&reply, "requestId", "requests");
                    }
                }
                RequestsCommand::Claim(claim) => {
                    claim_command(&api, json, "requests", &claim).await?;
                }
                RequestsCommand::Release(release) => {
                    release_command(&api, json, "requests", &release).await?;
                }
                RequestsCommand::Answer {
                    request_id,
                    decision,
                    scope,
                    response,
                    claim_id,
                } => {
                    let mut body = json!({});
                    if let Some(claim_id) = claim_id {
                        body["claimId"] = json!(claim_id);
                    }
                    if let Some(decision) = decision {
                        body["decision"] = json!(decision);
                    }
                    if let Some(scope) = scope {
                        body["scope"] = json!(scope);
                    }
                    if let Some(response) = optional_json("--response", response.as_ref())? {
                        body["response"] = response;
                    }
                    let path = format!("/requests/{request_id}/answer");
                    post_decision(&api, json, &path, &body).await?;
                }
            }
            Ok(())
        }
        .await,
    )
}

fn respond_body(respond: &RespondArgs) -> Result<Value, String> {
    let mut body = serde_json::Map::new();
    if let Some(success) = respond.success {
        body.insert("success".to_string(), json!(success));
    }
    if let Some(text) = &respond.text {
        body.insert("text".to_string(), json!(text));
    }
    if let Some(items) = &respond.content_items {
        body.insert(
            "contentItems".to_string(),
            json_arg("--content-items", items)?,
        );
    }
    if let Some(response) = &respond.response {
        body.insert("response".to_string(), json_arg("--response", response)?);
    }
    if let Some(claim_id) = &respond.claim_id {
        body.insert("claimId".to_string(), json!(claim_id));
    }
    Ok(Value::Object(body))
}

/// A frame in one line for people.
fn describe_frame(frame: &Value) -> String {
    let kind = text_of(frame, "type");
    let payload = &frame["payload"];
    let thread = frame
        .get("threadId")
        .and_then(Value::as_str)
        .map(|t| format!(" [{t}]"))
        .unwrap_or_default();
    let detail = match kind {
        "tool_call_requested" => format!(
            "{} {} {}",
            text_of(payload, "requestId"),
            text_of(payload, "tool"),
            payload
                .get("arguments")
                .map(Value::to_string)
                .unwrap_or_default()
        ),
        "tool_call_resolved" => format!(
            "{} {} success={}",
            text_of(payload, "requestId"),
            text_of(payload, "status"),
            payload["success"]
        ),
        "transcript_updated" => format!(
            "{}: {}",
            text_of(&payload["entry"], "role"),
            crate::protocol::truncate_chars(text_of(&payload["entry"], "content"), 120)
        ),
        "error" => text_of(frame, "message").to_string(),
        _ => String::new(),
    };
    format!("{kind}{thread} {detail}").trim_end().to_string()
}

/// Prints the event stream until it closes or Ctrl-C.
pub async fn stream(args: StreamArgs) -> u8 {
    let api = match api(&args.client) {
        Ok(api) => api,
        Err(code) => return code,
    };
    let mut socket = match api.connect_stream(args.session.as_deref()).await {
        Ok(socket) => socket,
        Err(e) => {
            report_error(&e.to_string());
            return e.exit_code();
        }
    };
    let mut keepalive = tokio::time::interval(Duration::from_secs(15));
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = keepalive.tick() => {
                let _ = socket.send(WsMessage::text(r#"{"type":"ping"}"#)).await;
                continue;
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = socket.close(None).await;
                return exit::OK;
            }
        };
        match message {
            Some(Ok(WsMessage::Text(text))) => {
                if args.client.json {
                    out(text.as_str());
                } else if let Ok(frame) = serde_json::from_str::<Value>(text.as_str())
                    && frame["type"] != "pong"
                {
                    out(&describe_frame(&frame));
                }
            }
            Some(Ok(WsMessage::Close(_))) | None => {
                note("the stream closed");
                return exit::OK;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                report_error(&format!("the stream failed: {e}"));
                return exit::UNREACHABLE;
            }
        }
    }
}

//! Approvals and questions raised by the real codex app-server: the scripted model calls
//! codex's own `exec_command` (a command, or `apply_patch` for a file change) and
//! `request_user_input`, under `approvalPolicy: untrusted`. Each is answered through the
//! bridge, and the test checks what happened on disk and what the model received.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::appserver::TransportSpec;
use switchboard::bridge::{
    self, AnswerOutcome, BridgeConfig, BridgeEvent, BridgeHandle, CallEnd, CreateSession,
    EventReceiver, PendingRequestView, RequestPolicy, ResolvedRequest, Responder, SimpleDecision,
};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};
use switchboard::protocol::{RequestKind, TurnStatus};

use super::support::{WAIT, codex_bin, repo_path};

/// A bridge on the real codex with the shell tool and `request_user_input` turned on.
pub(super) struct Approvals {
    pub(super) bridge: BridgeHandle,
    events: EventReceiver,
    pub(super) work: std::path::PathBuf,
    /// What a second bridge on the same app-server and data directory needs.
    config: BridgeConfig,
    pub(super) thread_id: String,
    _model: ModelServer,
    _home: tempfile::TempDir,
}

fn call_turn(matches: &str, tool: &str, arguments: &Value) -> String {
    namespaced_call_turn(matches, tool, None, arguments)
}

fn namespaced_call_turn(
    matches: &str,
    tool: &str,
    namespace: Option<&str>,
    arguments: &Value,
) -> String {
    let raw = toml::Value::String(arguments.to_string()).to_string();
    let namespace = namespace
        .map(|ns| format!(", namespace = \"{ns}\""))
        .unwrap_or_default();
    format!(
        "[[turn]]\nmatch = \"{matches}\"\n[[turn.round]]\ncalls = [ {{ tool = \"{tool}\"{namespace}, arguments_json = {raw} }} ]\n[turn.reply]\ntext = \"model saw: {{outputs}}\"\n\n"
    )
}

fn patch_command(path: &Path) -> String {
    format!(
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: {}\n+hello from the patch\n*** End Patch\nEOF\n",
        path.display()
    )
}

/// The scripted model and a `CODEX_HOME` (under `home`) whose codex has the shell tool,
/// `request_user_input`, `request_permissions` and the eliciting MCP server; the
/// scenario's commands work in `home/work`. Returns the model, `CODEX_HOME` and the
/// work folder.
pub(super) async fn scripted_codex(
    home: &Path,
    catalog: &Catalog,
) -> (ModelServer, std::path::PathBuf, std::path::PathBuf) {
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let scenario_path = home.join("scenario.toml");
    let scenario = [
        call_turn(
            "run the command",
            "exec_command",
            &json!({ "cmd": format!("touch {}/ran.txt && echo RAN", work.display()) }),
        ),
        call_turn(
            "run the other command",
            "exec_command",
            &json!({ "cmd": format!("touch {}/other.txt && echo OTHER", work.display()) }),
        ),
        call_turn(
            "patch the file",
            "exec_command",
            &json!({ "cmd": patch_command(&work.join("new.txt")) }),
        ),
        call_turn(
            "ask me",
            "request_user_input",
            &json!({ "questions": [{ "id": "color", "header": "Color", "question": "Which color?",
                "options": [{ "label": "Red", "description": "warm" },
                            { "label": "Blue", "description": "cool" }] }] }),
        ),
        // codex offers an MCP server's tools in the namespace `mcp__<server>`.
        namespaced_call_turn("use the probe", "probe_write", Some("mcp__probe"), &json!({})),
        call_turn(
            "grant network",
            "request_permissions",
            &json!({ "permissions": { "network": { "enabled": true } }, "reason": "fetch the docs" }),
        ),
    ]
    .concat();
    std::fs::write(&scenario_path, scenario).unwrap();
    let mut options = switchboard::cli::scripted::model_options(catalog);
    options.tool_names = None;
    let model = ModelServer::start(
        Scenario::load(scenario_path.to_str().unwrap()).unwrap(),
        options,
    )
    .await
    .unwrap();
    let codex_home = home.join("codex");
    switchboard::model::write_codex_home(&codex_home, &model.base_url()).unwrap();
    // codex's shell tool and questions, which the small default config turns off.
    let config_path = codex_home.join("config.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("shell_tool = false", "shell_tool = true")
        .replace("unified_exec = false", "unified_exec = true")
        .replace(
            "[features]\n",
            "[features]\ndefault_mode_request_user_input = true\nrequest_permissions_tool = true\n",
        );
    // A small MCP server of our own whose tool elicits (tests/fixtures/mcp_elicit.py).
    let mcp_server = toml::Value::String(
        repo_path("tests/fixtures/mcp_elicit.py")
            .display()
            .to_string(),
    );
    let config =
        format!("{config}\n[mcp_servers.probe]\ncommand = \"python3\"\nargs = [{mcp_server}]\n");
    std::fs::write(&config_path, config).unwrap();
    (model, codex_home, work)
}

/// Where app-server runs: a child on stdio, or a listening one over a websocket that
/// goes through a proxy whose connections can be cut.
pub(super) enum Link {
    Stdio,
    WebSocket,
}

/// A loopback TCP proxy whose open connections can be dropped.
pub(super) struct CuttableProxy {
    addr: std::net::SocketAddr,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(upstream: std::net::SocketAddr) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let accepted = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accepted.lock().unwrap().push(link);
            }
        });
        CuttableProxy {
            addr,
            links,
            accept,
        }
    }

    fn cut(&self) -> usize {
        let links: Vec<_> = self.links.lock().unwrap().drain(..).collect();
        for link in &links {
            link.abort();
        }
        links.len()
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// `codex app-server --listen` on a free loopback port; its address.
async fn listening_codex(codex_home: &Path) -> (tokio::process::Child, std::net::SocketAddr) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(codex_bin())
        .args(["app-server", "--listen", "ws://127.0.0.1:0"])
        .env("CODEX_HOME", codex_home)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.trim().strip_prefix("listening on: ") {
                return url.to_string();
            }
        }
        panic!("codex exited without printing its address");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    (child, addr)
}

impl Approvals {
    pub(super) async fn start(policy: RequestPolicy) -> Approvals {
        Approvals::start_on(policy, Link::Stdio).await.0
    }

    async fn start_on(
        policy: RequestPolicy,
        link: Link,
    ) -> (Approvals, Option<(CuttableProxy, tokio::process::Child)>) {
        Approvals::start_with("tests/fixtures/catalogs/manual.toml", policy, link).await
    }

    pub(super) async fn start_with(
        catalog: &str,
        policy: RequestPolicy,
        link: Link,
    ) -> (Approvals, Option<(CuttableProxy, tokio::process::Child)>) {
        let home = tempfile::tempdir().unwrap();
        let catalog = Arc::new(Catalog::load(&repo_path(catalog)).unwrap());
        let (model, codex_home, work) = scripted_codex(home.path(), &catalog).await;
        let (transport, remote) = match link {
            Link::Stdio => (
                TransportSpec::Stdio {
                    program: codex_bin(),
                    args: vec!["app-server".to_string()],
                    env: vec![("CODEX_HOME".to_string(), codex_home.display().to_string())],
                },
                None,
            ),
            Link::WebSocket => {
                let (child, addr) = listening_codex(&codex_home).await;
                let proxy = CuttableProxy::start(addr).await;
                let url = format!("ws://{}", proxy.addr);
                (
                    TransportSpec::WebSocket { url, bearer: None },
                    Some((proxy, child)),
                )
            }
        };
        let mut config = BridgeConfig::new(transport, catalog);
        config.data_dir = Some(home.path().join("data"));
        config.request_policy = policy;
        if remote.is_some() {
            config.reconnect = switchboard::bridge::ReconnectPolicy {
                initial_delay: std::time::Duration::from_millis(50),
                ..switchboard::bridge::ReconnectPolicy::standard()
            };
            config.restore_sessions = true;
        }
        let bridge = bridge::start(config.clone()).await.unwrap();
        let events = bridge.subscribe();
        let session = bridge
            .create_session(CreateSession {
                cwd: Some(work.display().to_string()),
                approval_policy: Some("untrusted".to_string()),
                sandbox: Some("danger-full-access".to_string()),
                ..CreateSession::default()
            })
            .await
            .unwrap();
        let harness = Approvals {
            bridge,
            events,
            work,
            config,
            thread_id: session.thread_id,
            _model: model,
            _home: home,
        };
        (harness, remote)
    }

    async fn next_matching<T>(&mut self, mut pick: impl FnMut(&BridgeEvent) -> Option<T>) -> T {
        let wait = async {
            loop {
                let event = self.events.recv().await.expect("bridge stopped");
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("timed out waiting for a bridge event")
    }

    pub(super) async fn opened(&mut self) -> PendingRequestView {
        self.next_matching(|e| match e {
            BridgeEvent::RequestOpened { request } => Some(request.clone()),
            _ => None,
        })
        .await
    }

    pub(super) async fn resolved(&mut self) -> ResolvedRequest {
        self.next_matching(|e| match e {
            BridgeEvent::RequestResolved { request } => Some(request.clone()),
            _ => None,
        })
        .await
    }

    /// Sends a message; returns its turn id.
    pub(super) async fn send(&self, text: &str) -> String {
        self.bridge
            .send_message(&self.thread_id, text)
            .await
            .unwrap()
    }

    /// What the model answered at the end of the turn.
    pub(super) async fn reply(&self, turn_id: &str) -> String {
        let turn = tokio::time::timeout(WAIT, self.bridge.wait_turn(&self.thread_id, turn_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(turn.status, TurnStatus::Completed, "{turn:?}");
        turn.assistant_reply.unwrap_or_default()
    }
}

fn operator() -> Responder {
    Responder::Operator
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_command_runs_and_the_model_gets_its_output() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let turn_id = h.send("run the command").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::CommandApproval);
    assert_eq!(request.turn_id.as_deref(), Some(turn_id.as_str()));
    assert!(
        request.summary.contains("touch") && request.summary.contains("ran.txt"),
        "{}",
        request.summary
    );
    // codex's own list first, then what it also accepts.
    assert_eq!(request.decisions[0], json!("accept"));
    assert!(request.decisions.contains(&json!("decline")));
    assert!(request.decisions.contains(&json!("acceptForSession")));
    let listed = h.bridge.pending_requests(Some(&h.thread_id)).await.unwrap();
    assert_eq!(listed.len(), 1);
    let outcome = h
        .bridge
        .answer_request(
            &request.request_id,
            json!({ "decision": request.decisions[0] }),
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let ended = h.resolved().await;
    assert_eq!(ended.request_id, request.request_id);
    assert_eq!(ended.status, CallEnd::Resolved);
    assert_eq!(ended.decision.as_deref(), Some("accept"));
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("RAN"), "{reply}");
    assert!(h.work.join("ran.txt").exists());
    assert!(h.bridge.pending_requests(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_command_does_not_run_and_the_model_is_told() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let turn_id = h.send("run the command").await;
    let request = h.opened().await;
    // An answer codex could not parse is refused and nothing is sent: it still waits.
    let outcome = h
        .bridge
        .answer_request(
            &request.request_id,
            json!({ "decision": "denied" }),
            operator(),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, AnswerOutcome::Invalid { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.bridge.pending_requests(None).await.unwrap().len(), 1);
    let outcome = h
        .bridge
        .decide(
            &request.request_id,
            SimpleDecision::Decline,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("rejected"), "{reply}");
    assert!(!h.work.join("ran.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_the_policy_declines_the_command_and_says_why() {
    let mut h = Approvals::start(RequestPolicy::headless_default()).await;
    let turn_id = h.send("run the command").await;
    let ended = h.resolved().await;
    assert_eq!(ended.kind, RequestKind::CommandApproval);
    assert_eq!(ended.answer, Some(json!({ "decision": "decline" })));
    let Some(Responder::Policy { reason }) = &ended.answered_by else {
        panic!("{ended:?}")
    };
    assert!(reason.contains("nobody can answer"), "{reason}");
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("rejected"), "{reply}");
    assert!(!h.work.join("ran.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_change_shows_its_diff_and_is_written_once_accepted() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let turn_id = h.send("patch the file").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::FileChangeApproval);
    let changes = request
        .changes
        .clone()
        .expect("the fileChange item's changes");
    let target = h.work.join("new.txt");
    assert_eq!(changes[0]["path"], json!(target.display().to_string()));
    assert!(
        changes[0]["diff"]
            .as_str()
            .unwrap()
            .contains("hello from the patch")
    );
    assert!(!target.exists());
    let outcome = h
        .bridge
        .decide(
            &request.request_id,
            SimpleDecision::Accept,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("Success"), "{reply}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "hello from the patch\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_and_the_answer_reaches_the_model() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let turn_id = h.send("ask me").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::UserInput);
    assert_eq!(request.params["questions"][0]["id"], "color");
    let outcome = h
        .bridge
        .answer_request(
            &request.request_id,
            json!({ "answers": { "shade": { "answers": ["Blue"] } } }),
            operator(),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, AnswerOutcome::Invalid { .. }),
        "{outcome:?}"
    );
    let outcome = h
        .bridge
        .answer_request(
            &request.request_id,
            json!({ "answers": { "color": { "answers": ["Blue"] } } }),
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("Blue"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_expires_a_pending_approval_and_nothing_runs() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let turn_id = h.send("run the command").await;
    let request = h.opened().await;
    assert_eq!(h.bridge.interrupt(&h.thread_id).await.unwrap(), turn_id);
    let ended = h.resolved().await;
    assert_eq!(ended.request_id, request.request_id);
    assert_eq!(ended.status, CallEnd::Expired);
    let late = h
        .bridge
        .decide(
            &request.request_id,
            SimpleDecision::Accept,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(late, AnswerOutcome::NotFound);
    let turn = tokio::time::timeout(WAIT, h.bridge.wait_turn(&h.thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Interrupted);
    assert!(!h.work.join("ran.txt").exists());
    assert!(h.bridge.pending_requests(None).await.unwrap().is_empty());
}

/// Cutting the websocket while an approval waits: nothing expires, the bridge redials and
/// resumes the thread, codex sends the approval again, and the one answer given after the
/// reconnect runs the command. The transcript has one request row and one end row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_pending_over_a_cut_websocket_is_answered_after_the_reconnect() {
    let (mut h, remote) = Approvals::start_on(RequestPolicy::Ask, Link::WebSocket).await;
    let (proxy, _codex) = remote.unwrap();
    let turn_id = h.send("run the command").await;
    let request = h.opened().await;
    assert_eq!(proxy.cut(), 1);
    let step = h
        .next_matching(|e| match e {
            BridgeEvent::RequestResolved { request } => {
                panic!("a request ended on the drop: {request:?}")
            }
            BridgeEvent::SessionRecovery { step, .. } => Some(step.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        step,
        switchboard::bridge::RecoveryStep::Resumed {
            calls_kept: 1,
            calls_expired: 0
        }
    );
    // Until codex sends it again on the new connection it cannot be answered.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match h
            .bridge
            .decide(
                &request.request_id,
                SimpleDecision::Accept,
                false,
                operator(),
            )
            .await
            .unwrap()
        {
            AnswerOutcome::Accepted => break,
            AnswerOutcome::UpstreamError { .. } if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => panic!("the replayed approval could not be answered: {other:?}"),
        }
    }
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("RAN"), "{reply}");
    assert!(h.work.join("ran.txt").exists());
    let snapshot = h.bridge.session(&h.thread_id).await.unwrap().unwrap();
    let count = |kind: &str| {
        snapshot
            .transcript
            .iter()
            .filter(|r| serde_json::to_value(r).unwrap()["type"] == kind)
            .count()
    };
    assert_eq!((count("request.opened"), count("request.resolved")), (1, 1));
    h.bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permissions_request_is_granted_for_the_turn_and_the_model_gets_the_grant() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let turn_id = h.send("grant network").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::PermissionsApproval);
    assert_eq!(request.summary, "Permissions requested: fetch the docs");
    assert_eq!(request.params["permissions"]["network"]["enabled"], true);
    let outcome = h
        .bridge
        .decide(
            &request.request_id,
            SimpleDecision::Accept,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let ended = h.resolved().await;
    assert_eq!(
        ended.answer,
        Some(json!({ "permissions": { "network": { "enabled": true } }, "scope": "turn" }))
    );
    let reply = h.reply(&turn_id).await;
    assert!(
        reply.contains(r#""network":{"enabled":true}"#) && reply.contains(r#""scope":"turn""#),
        "{reply}"
    );
}

/// app-server exits while an approval waits: the approval expires with the reason, and
/// an answer after it is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_expires_when_app_server_exits() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    h.send("run the command").await;
    let request = h.opened().await;
    let status = h.bridge.status().await.unwrap();
    let switchboard::bridge::ConnectionState::Connected { pid: Some(pid), .. } = status.connection
    else {
        panic!("{:?}", status.connection)
    };
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let ended = h.resolved().await;
    assert_eq!(ended.request_id, request.request_id);
    assert_eq!(ended.status, CallEnd::Expired);
    assert!(
        ended
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("app-server"),
        "{ended:?}"
    );
    let late = h
        .bridge
        .decide(
            &request.request_id,
            SimpleDecision::Accept,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(late, AnswerOutcome::NotFound);
    assert!(!h.work.join("ran.txt").exists());
}

/// An MCP tool under `untrusted`: codex first asks whether the tool may run (an
/// elicitation marked `mcp_tool_call`), then the MCP server asks for a name through a
/// form. Both are answered through the bridge; the tool's result, which quotes the form's
/// answer, reaches the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_tool_approval_and_its_form_are_answered_and_the_model_gets_the_result() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let turn_id = h.send("use the probe").await;
    let approval = h.opened().await;
    assert_eq!(approval.kind, RequestKind::McpElicitation);
    assert_eq!(
        approval.params["_meta"]["codex_approval_kind"],
        "mcp_tool_call"
    );
    assert!(
        approval.summary.starts_with("MCP tool approval (probe)"),
        "{}",
        approval.summary
    );
    let outcome = h
        .bridge
        .decide(
            &approval.request_id,
            SimpleDecision::Accept,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let form = h.opened().await;
    assert_eq!(form.kind, RequestKind::McpElicitation);
    assert_eq!(form.params["requestedSchema"]["required"], json!(["name"]));
    let outcome = h
        .bridge
        .answer_request(
            &form.request_id,
            json!({ "action": "accept", "content": "Ada" }),
            operator(),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, AnswerOutcome::Invalid { .. }),
        "{outcome:?}"
    );
    let outcome = h
        .bridge
        .answer_request(
            &form.request_id,
            json!({ "action": "accept", "content": { "name": "Ada" } }),
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let reply = h.reply(&turn_id).await;
    assert!(
        reply.contains(r#"elicited accept {"name": "Ada"}"#),
        "{reply}"
    );
}

/// Switchboard stops while an approval waits and codex (over websocket) keeps it: a new
/// Switchboard on the same data directory restores the session, resumes the thread, gets
/// the approval back under its old id (no second request row), and the answer runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_switchboard_answers_an_approval_left_pending() {
    let (mut h, remote) = Approvals::start_on(RequestPolicy::Ask, Link::WebSocket).await;
    let _remote = remote.unwrap();
    let turn_id = h.send("run the command").await;
    let request = h.opened().await;
    h.bridge.shutdown().await;

    let second = bridge::start(h.config.clone()).await.unwrap();
    let mut events = second.subscribe();
    second.resume_session(&h.thread_id).await.unwrap();
    let replayed = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(BridgeEvent::RequestOpened { request }) = events.recv().await {
                return request;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(replayed.request_id, request.request_id, "it keeps its id");
    let outcome = second
        .decide(
            &request.request_id,
            SimpleDecision::Accept,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let turn = tokio::time::timeout(WAIT, second.wait_turn(&h.thread_id, &turn_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.status, TurnStatus::Completed);
    assert!(h.work.join("ran.txt").exists());
    let snapshot = second.session(&h.thread_id).await.unwrap().unwrap();
    let count = |kind: &str| {
        snapshot
            .transcript
            .iter()
            .filter(|r| serde_json::to_value(r).unwrap()["type"] == kind)
            .count()
    };
    assert_eq!((count("request.opened"), count("request.resolved")), (1, 1));
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_rule_accepts_the_command_and_no_person_is_asked() {
    let (mut h, _) = Approvals::start_with(
        "tests/fixtures/catalogs/rules.toml",
        RequestPolicy::Ask,
        Link::Stdio,
    )
    .await;
    let turn_id = h.send("run the command").await;
    // codex wraps the command in a shell; the rule matches what runs: `touch ...`.
    let ended = h.resolved().await;
    assert_eq!(ended.kind, RequestKind::CommandApproval);
    assert_eq!(ended.status, CallEnd::Resolved);
    assert_eq!(ended.answer, Some(json!({ "decision": "accept" })));
    let Some(Responder::Policy { reason }) = &ended.answered_by else {
        panic!("{ended:?}")
    };
    assert_eq!(reason, "approval rule 2");
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("RAN"), "{reply}");
    assert!(h.work.join("ran.txt").exists());
    assert!(h.bridge.pending_requests(None).await.unwrap().is_empty());
}

/// The rule's reason, from a request answered by a rule or a policy.
fn policy_reason(ended: &ResolvedRequest) -> String {
    match &ended.answered_by {
        Some(Responder::Policy { reason }) => reason.clone(),
        other => panic!("not answered by a rule or a policy: {other:?}"),
    }
}

/// The notices of the session's transcript.
async fn notices(h: &Approvals) -> Vec<String> {
    let snapshot = h.bridge.session(&h.thread_id).await.unwrap().unwrap();
    snapshot
        .transcript
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .filter(|r| r["type"] == "notice")
        .filter_map(|r| r["message"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_handler_script_approves_one_command_and_declines_another() {
    let (mut h, _) = Approvals::start_with(
        "tests/fixtures/catalogs/rule_handlers.toml",
        RequestPolicy::Ask,
        Link::Stdio,
    )
    .await;
    // tests/fixtures/handlers/decide_approval.py reads the request and decides.
    let turn_id = h.send("run the command").await;
    let ended = h.resolved().await;
    assert_eq!(ended.kind, RequestKind::CommandApproval);
    assert_eq!(ended.status, CallEnd::Resolved);
    assert_eq!(ended.answer, Some(json!({ "decision": "accept" })));
    assert_eq!(
        policy_reason(&ended),
        "approval rule 1 handler: accept: touching ran.txt is fine"
    );
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("RAN"), "{reply}");
    assert!(h.work.join("ran.txt").exists());

    let turn_id = h.send("run the other command").await;
    let ended = h.resolved().await;
    assert_eq!(ended.answer, Some(json!({ "decision": "decline" })));
    assert_eq!(
        policy_reason(&ended),
        "approval rule 1 handler: decline: other.txt stays as it is"
    );
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("rejected"), "{reply}");
    assert!(!h.work.join("other.txt").exists());
    assert!(h.bridge.pending_requests(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_handler_that_prints_no_decision_leaves_the_file_change_to_a_person() {
    let (mut h, _) = Approvals::start_with(
        "tests/fixtures/catalogs/rule_handlers.toml",
        RequestPolicy::Ask,
        Link::Stdio,
    )
    .await;
    let turn_id = h.send("patch the file").await;
    // Shown only once the handler failed, and then for a person.
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::FileChangeApproval);
    assert!(request.answerer.needs_person(), "{:?}", request.answerer);
    let said = notices(&h).await;
    assert!(
        said.iter().any(
            |n| n.contains("the approval handler of rule 2 did not print JSON")
                && n.contains("a person decides")
        ),
        "{said:?}"
    );
    let outcome = h
        .bridge
        .decide(
            &request.request_id,
            SimpleDecision::Accept,
            false,
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    h.reply(&turn_id).await;
    assert!(h.work.join("new.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_a_rule_handler_that_prints_no_decision_gets_the_request_declined_and_says_why() {
    let (mut h, _) = Approvals::start_with(
        "tests/fixtures/catalogs/rule_handlers.toml",
        RequestPolicy::headless_default(),
        Link::Stdio,
    )
    .await;
    let turn_id = h.send("patch the file").await;
    let ended = h.resolved().await;
    assert_eq!(ended.kind, RequestKind::FileChangeApproval);
    assert_eq!(ended.answer, Some(json!({ "decision": "decline" })));
    let reason = policy_reason(&ended);
    assert!(
        reason.contains("the approval handler of rule 2 did not print JSON")
            && reason.contains("no approval rule decides")
            && reason.contains("accept-rules-only"),
        "{reason}"
    );
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("rejected"), "{reply}");
    assert!(!h.work.join("new.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_decline_declines_even_what_a_rule_would_accept() {
    let (mut h, _) = Approvals::start_with(
        "tests/fixtures/catalogs/rules.toml",
        RequestPolicy::decline_all(),
        Link::Stdio,
    )
    .await;
    let turn_id = h.send("run the command").await;
    let ended = h.resolved().await;
    assert_eq!(ended.answer, Some(json!({ "decision": "decline" })));
    let reason = policy_reason(&ended);
    assert!(reason.contains("(--approvals decline)"), "{reason}");
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("rejected"), "{reply}");
    assert!(!h.work.join("ran.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_handler_that_hangs_is_killed_at_its_timeout_and_the_question_goes_to_a_person() {
    let (mut h, _) = Approvals::start_with(
        "tests/fixtures/catalogs/rule_handlers.toml",
        RequestPolicy::Ask,
        Link::Stdio,
    )
    .await;
    let turn_id = h.send("ask me").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::UserInput);
    assert!(request.answerer.needs_person(), "{:?}", request.answerer);
    let said = notices(&h).await;
    assert!(
        said.iter().any(
            |n| n.contains("approval rule 3 handler timed out after 300 ms")
                && n.contains("a person decides")
        ),
        "{said:?}"
    );
    let outcome = h
        .bridge
        .answer_request(
            &request.request_id,
            json!({ "answers": { "color": { "answers": ["Blue"] } } }),
            operator(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AnswerOutcome::Accepted);
    let reply = h.reply(&turn_id).await;
    assert!(reply.contains("Blue"), "{reply}");
}

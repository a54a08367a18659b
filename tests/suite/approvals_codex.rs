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
struct Approvals {
    bridge: BridgeHandle,
    events: EventReceiver,
    work: std::path::PathBuf,
    thread_id: String,
    _model: ModelServer,
    _home: tempfile::TempDir,
}

fn call_turn(matches: &str, tool: &str, arguments: &Value) -> String {
    let raw = toml::Value::String(arguments.to_string()).to_string();
    format!(
        "[[turn]]\nmatch = \"{matches}\"\n[[turn.round]]\ncalls = [ {{ tool = \"{tool}\", arguments_json = {raw} }} ]\n[turn.reply]\ntext = \"model saw: {{outputs}}\"\n\n"
    )
}

fn patch_command(path: &Path) -> String {
    format!(
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: {}\n+hello from the patch\n*** End Patch\nEOF\n",
        path.display()
    )
}

impl Approvals {
    async fn start(policy: RequestPolicy) -> Approvals {
        let home = tempfile::tempdir().unwrap();
        let work = home.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let scenario_path = home.path().join("scenario.toml");
        let scenario = [
            call_turn(
                "run the command",
                "exec_command",
                &json!({ "cmd": format!("touch {}/ran.txt && echo RAN", work.display()) }),
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
        ]
        .concat();
        std::fs::write(&scenario_path, scenario).unwrap();
        let catalog =
            Arc::new(Catalog::load(&repo_path("tests/fixtures/catalogs/manual.toml")).unwrap());
        let mut options = switchboard::cli::scripted::model_options(&catalog);
        options.tool_names = None;
        let model = ModelServer::start(
            Scenario::load(scenario_path.to_str().unwrap()).unwrap(),
            options,
        )
        .await
        .unwrap();
        let codex_home = home.path().join("codex");
        switchboard::model::write_codex_home(&codex_home, &model.base_url()).unwrap();
        // codex's shell tool and questions, which the small default config turns off.
        let config_path = codex_home.join("config.toml");
        let config = std::fs::read_to_string(&config_path)
            .unwrap()
            .replace("shell_tool = false", "shell_tool = true")
            .replace("unified_exec = false", "unified_exec = true")
            .replace(
                "[features]\n",
                "[features]\ndefault_mode_request_user_input = true\n",
            );
        std::fs::write(&config_path, config).unwrap();
        let transport = TransportSpec::Stdio {
            program: codex_bin(),
            args: vec!["app-server".to_string()],
            env: vec![("CODEX_HOME".to_string(), codex_home.display().to_string())],
        };
        let mut config = BridgeConfig::new(transport, catalog);
        config.data_dir = Some(home.path().join("data"));
        config.request_policy = policy;
        let bridge = bridge::start(config).await.unwrap();
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
        Approvals {
            bridge,
            events,
            work,
            thread_id: session.thread_id,
            _model: model,
            _home: home,
        }
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

    async fn opened(&mut self) -> PendingRequestView {
        self.next_matching(|e| match e {
            BridgeEvent::RequestOpened { request } => Some(request.clone()),
            _ => None,
        })
        .await
    }

    async fn resolved(&mut self) -> ResolvedRequest {
        self.next_matching(|e| match e {
            BridgeEvent::RequestResolved { request } => Some(request.clone()),
            _ => None,
        })
        .await
    }

    /// Sends a message; returns its turn id.
    async fn send(&self, text: &str) -> String {
        self.bridge
            .send_message(&self.thread_id, text)
            .await
            .unwrap()
    }

    /// What the model answered at the end of the turn.
    async fn reply(&self, turn_id: &str) -> String {
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

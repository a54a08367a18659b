//! Threads Switchboard did not start: on a real `codex app-server --listen` shared with a
//! second client of our own (`ws_client.rs`), Switchboard lists the loaded threads,
//! attaches to watch one, sees its items and its pending tool call (never answered
//! automatically), the first answer wins either way, and it detaches.

use std::sync::Arc;

use switchboard::appserver::TransportSpec;
use switchboard::bridge::{
    self, Answerer, BridgeConfig, BridgeEvent, BridgeHandle, CallEnd, EventReceiver, ManualPolicy,
    PendingCallView, ResolvedCall, RespondOutcome, Responder, SessionOrigin, SessionStatus,
    TranscriptEntry,
};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};
use switchboard::protocol::{ToolCallResult, TurnStatus};

use super::api_support::TOKEN;
use super::support::{WAIT, repo_path};
use super::websocket::listening_codex;
use super::ws_client::OtherClient;

/// The tool both the other client's thread and Switchboard's catalog have: the catalog
/// answers it with a command handler, which must never run for a watched thread.
const TOOL: &str = "echo_args";

struct Shared {
    bridge: BridgeHandle,
    events: EventReceiver,
    other: OtherClient,
    thread_id: String,
    _codex: tokio::process::Child,
    _model: ModelServer,
    _home: tempfile::TempDir,
}

/// A listening codex, the other client with a thread that ran one turn (a thread can
/// be resumed only once it has one), and a Switchboard bridge on the same app-server,
/// configured as the console is (everything the catalog can answer, it answers).
async fn shared_app_server() -> Shared {
    let catalog =
        Arc::new(Catalog::load(&repo_path("tests/fixtures/catalogs/manual.toml")).unwrap());
    let model = ModelServer::start(
        Scenario::load("auto").unwrap(),
        switchboard::cli::scripted::model_options(&catalog),
    )
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let (codex, url) = listening_codex(&model, home.path()).await;
    let cwd = home.path().display().to_string();

    let mut other = OtherClient::connect(&url, "other_client").await;
    let thread_id = other.start_thread(TOOL, &cwd).await;
    other.start_turn(&thread_id, "call:echo_args first").await;
    let call = other.next_tool_call(&thread_id).await;
    other
        .answer_tool_call(&call, "answered before anyone watched")
        .await;
    assert_eq!(other.turn_completed(&thread_id).await, "completed");

    let transport = TransportSpec::WebSocket { url, bearer: None };
    let mut config = BridgeConfig::new(transport, catalog);
    config.manual_policy = ManualPolicy::Wait;
    let bridge = bridge::start(config).await.unwrap();
    let events = bridge.subscribe();
    Shared {
        bridge,
        events,
        other,
        thread_id,
        _codex: codex,
        _model: model,
        _home: home,
    }
}

impl Shared {
    async fn next<T>(&mut self, mut pick: impl FnMut(&BridgeEvent) -> Option<T>) -> T {
        tokio::time::timeout(WAIT, async {
            loop {
                let event = self.events.recv().await.expect("bridge stopped");
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
        })
        .await
        .expect("timed out waiting for a bridge event")
    }

    /// Lists the loaded threads, attaches to the other client's, and checks both.
    async fn list_and_watch(&mut self) {
        let loaded = self.bridge.loaded_threads().await.unwrap();
        let theirs = loaded
            .iter()
            .find(|t| t.thread_id == self.thread_id)
            .expect("the other client's thread is listed");
        assert_eq!(theirs.originator.as_deref(), Some("other_client"));
        assert!(!theirs.started_by_switchboard);
        assert_eq!(theirs.session, None);
        assert_eq!(theirs.status, "idle");

        let session = self.bridge.watch_thread(&self.thread_id).await.unwrap();
        assert_eq!(session.origin, SessionOrigin::Watched);
        assert!(!session.auto_answer);
        let loaded = self.bridge.loaded_threads().await.unwrap();
        let theirs = loaded.iter().find(|t| t.thread_id == self.thread_id);
        assert_eq!(theirs.and_then(|t| t.session), Some(SessionOrigin::Watched));
    }

    /// The other client starts a turn; Switchboard sees it start, its user message and
    /// its tool call, pending for a person (the catalog's handler for the tool is not
    /// run). Returns Switchboard's copy and the other client's request.
    async fn turn_with_a_call(&mut self, text: &str) -> (PendingCallView, serde_json::Value) {
        let thread_id = self.thread_id.clone();
        self.other.start_turn(&thread_id, text).await;
        let theirs = self.other.next_tool_call(&thread_id).await;
        let turn = self
            .next(|e| match e {
                BridgeEvent::TurnStarted {
                    thread_id: t,
                    turn_id,
                } if *t == thread_id => Some(turn_id.clone()),
                _ => None,
            })
            .await;
        let ours = self
            .next(|e| match e {
                BridgeEvent::ToolCallRequested { call } if call.thread_id == thread_id => {
                    Some(call.clone())
                }
                _ => None,
            })
            .await;
        assert_eq!(ours.turn_id, turn);
        assert_eq!(ours.tool, TOOL);
        assert_eq!(ours.answerer, Answerer::Person);
        let pending = self.bridge.pending_calls(Some(&thread_id)).await.unwrap();
        assert_eq!(pending.len(), 1, "the call waits here, unanswered");
        let snapshot = self.bridge.session(&thread_id).await.unwrap().unwrap();
        assert!(
            snapshot
                .transcript
                .iter()
                .any(|r| matches!(&r.entry, TranscriptEntry::UserMessage { text: t } if t == text)),
            "the watched turn's user message streams into the transcript"
        );
        (ours, theirs)
    }

    /// Every end of our copy of `request_id` until Switchboard sees the turn complete.
    async fn ends_until_turn_completes(&mut self, request_id: &str) -> Vec<ResolvedCall> {
        let thread_id = self.thread_id.clone();
        let mut ends = Vec::new();
        loop {
            let event = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("timed out waiting for the turn")
                .expect("bridge stopped");
            match event {
                BridgeEvent::ToolCallResolved { call } if call.request_id == request_id => {
                    ends.push(call);
                }
                BridgeEvent::TurnCompleted {
                    thread_id: t,
                    status,
                    ..
                } if t == thread_id => {
                    assert_eq!(status, TurnStatus::Completed);
                    return ends;
                }
                _ => {}
            }
        }
    }

    /// Detaches; the other client's next turn goes on without Switchboard.
    async fn detach_and_check(&mut self) {
        let thread_id = self.thread_id.clone();
        let turns_before = self
            .bridge
            .session_summary(&thread_id)
            .await
            .unwrap()
            .unwrap()
            .turn_count;
        self.bridge.detach(&thread_id).await.unwrap();
        let summary = self
            .bridge
            .session_summary(&thread_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(summary.status, SessionStatus::Closed);
        assert_eq!(summary.origin, SessionOrigin::Watched);
        // Detaching twice says why not, rather than pretending.
        let again = self.bridge.detach(&thread_id).await.unwrap_err();
        assert!(again.to_string().contains("closed"), "{again}");

        self.other
            .start_turn(&thread_id, "call:echo_args alone")
            .await;
        let call = self.other.next_tool_call(&thread_id).await;
        self.other.answer_tool_call(&call, "nobody else here").await;
        assert_eq!(self.other.turn_completed(&thread_id).await, "completed");
        // A round trip through app-server after the turn: its events would be here.
        let loaded = self.bridge.loaded_threads().await.unwrap();
        let theirs = loaded.iter().find(|t| t.thread_id == thread_id);
        assert_eq!(theirs.map(|t| t.session), Some(None));
        let summary = self
            .bridge
            .session_summary(&thread_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            summary.turn_count, turns_before,
            "no turn reached a detached session"
        );
        assert!(self.bridge.pending_calls(None).await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_threads_call_answered_by_its_own_client_ends_once_here() {
    let mut shared = shared_app_server().await;
    shared.list_and_watch().await;
    let thread_id = shared.thread_id.clone();

    let (ours, theirs) = shared.turn_with_a_call("call:echo_args second").await;
    shared
        .other
        .answer_tool_call(&theirs, "the other client's answer")
        .await;
    let item = shared.other.call_completed(&theirs).await;
    assert_eq!(
        item["params"]["item"]["contentItems"][0]["text"], "the other client's answer",
        "the first answer (theirs) is the one codex took: {item}"
    );
    let ends = shared.ends_until_turn_completes(&ours.request_id).await;
    assert_eq!(ends.len(), 1, "our copy ends exactly once: {ends:?}");
    assert_eq!(ends[0].status, CallEnd::Expired);
    assert_eq!(ends[0].how(), "answered by another client");
    // Too late now: the call is gone here.
    let late = shared
        .bridge
        .respond(
            &ours.request_id,
            ToolCallResult::text(true, "late"),
            Responder::Operator,
        )
        .await
        .unwrap();
    assert_eq!(late, RespondOutcome::NotFound);

    // With auto-answer on, the next call goes to the catalog's handler, as Switchboard's own.
    let summary = shared
        .bridge
        .set_auto_answer(&thread_id, true)
        .await
        .unwrap();
    assert!(summary.auto_answer);
    shared
        .other
        .start_turn(&thread_id, "call:echo_args third")
        .await;
    let _theirs = shared.other.next_tool_call(&thread_id).await;
    let answered = shared
        .next(|e| match e {
            BridgeEvent::ToolCallResolved { call } if call.thread_id == thread_id => {
                Some(call.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(answered.status, CallEnd::Resolved);
    assert_eq!(
        answered.answered_by,
        Some(Responder::Handler {
            name: TOOL.to_string()
        })
    );
    assert_eq!(shared.other.turn_completed(&thread_id).await, "completed");

    shared.detach_and_check().await;
    through_the_api(&shared).await;
}

/// The same over the API: list, watch again (a detached session comes back watched),
/// auto-answer with a bad body and a good one, detach, and detach again.
async fn through_the_api(shared: &Shared) {
    use switchboard::service::{self, ServeConfig};
    let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    let server = service::serve(shared.bridge.clone(), config).await.unwrap();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut request = http
            .request(method, format!("{}{path}", server.url()))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let reply = request.send().await.unwrap();
            let status = reply.status().as_u16();
            (status, reply.json::<serde_json::Value>().await.unwrap())
        }
    };
    let id = &shared.thread_id;
    let (status, loaded) = call(reqwest::Method::GET, "/api/threads/loaded".into(), None).await;
    assert_eq!(status, 200, "{loaded}");
    let theirs = loaded["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["threadId"] == *id)
        .cloned()
        .unwrap();
    assert_eq!(theirs["originator"], "other_client");
    assert_eq!(theirs["session"], serde_json::Value::Null);

    let (status, watched) = call(
        reqwest::Method::POST,
        format!("/api/threads/{id}/watch"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{watched}");
    assert_eq!(watched["session"]["origin"], "watched");
    assert_eq!(watched["session"]["autoAnswer"], false);

    let path = format!("/api/sessions/{id}/auto-answer");
    let (status, bad) = call(
        reqwest::Method::POST,
        path.clone(),
        Some(serde_json::json!({"enabled": "yes"})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("enabled is required"), "{bad}");
    let (status, on) = call(
        reqwest::Method::POST,
        path,
        Some(serde_json::json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["session"]["autoAnswer"], true);

    let (status, detached) = call(
        reqwest::Method::POST,
        format!("/api/sessions/{id}/detach"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{detached}");
    let (status, again) = call(
        reqwest::Method::POST,
        format!("/api/sessions/{id}/detach"),
        None,
    )
    .await;
    assert_eq!(status, 410, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchboard_answers_a_watched_threads_call_and_its_client_goes_on() {
    let mut shared = shared_app_server().await;
    shared.list_and_watch().await;
    let thread_id = shared.thread_id.clone();
    // Watching a thread twice gives the same session; Switchboard's own threads are
    // not watched, detached or switched to auto-answer.
    let again = shared.bridge.watch_thread(&thread_id).await.unwrap();
    assert_eq!(again.origin, SessionOrigin::Watched);
    let own = shared
        .bridge
        .create_session(switchboard::bridge::CreateSession::default())
        .await
        .unwrap();
    assert_eq!(own.origin, SessionOrigin::Started);
    for refused in [
        shared.bridge.watch_thread(&own.thread_id).await.map(|_| ()),
        shared.bridge.detach(&own.thread_id).await,
        shared
            .bridge
            .set_auto_answer(&own.thread_id, true)
            .await
            .map(|_| ()),
    ] {
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("Switchboard's own (started)"), "{message}");
    }

    let (ours, theirs) = shared.turn_with_a_call("call:echo_args second").await;
    let outcome = shared
        .bridge
        .respond(
            &ours.request_id,
            ToolCallResult::text(true, "Switchboard's answer"),
            Responder::Operator,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RespondOutcome::Accepted);
    let item = shared.other.call_completed(&theirs).await;
    assert_eq!(
        item["params"]["item"]["contentItems"][0]["text"], "Switchboard's answer",
        "{item}"
    );
    assert_eq!(shared.other.turn_completed(&thread_id).await, "completed");
    let ends = shared.ends_until_turn_completes(&ours.request_id).await;
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].status, CallEnd::Resolved);
    assert_eq!(ends[0].answered_by, Some(Responder::Operator));
    let snapshot = shared.bridge.session(&thread_id).await.unwrap().unwrap();
    assert!(
        snapshot.transcript.iter().any(|r| matches!(&r.entry,
            TranscriptEntry::AgentMessage { text, .. } if text.contains("Switchboard's answer"))),
        "the other client's turn went on with our answer, and its reply streamed here"
    );

    shared.detach_and_check().await;
}

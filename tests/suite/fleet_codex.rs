//! One `switchboard serve` (the real binary) over two real codex app-servers on the
//! scripted model: one it spawns over stdio (`--codex-home`), one the test starts with
//! `codex app-server --listen ws://127.0.0.1:PORT` and `serve` attaches to (`--connect`,
//! or a `--fleet` file naming both). A session on each, a manual call on each answered
//! (one over the API, one with the CLI) reaches the codex that asked. Then one of them is
//! killed while a call of each waits: only the killed one's sessions show it, only its
//! calls end (each exactly once, as the event stream says), `/api/health` is degraded
//! naming it, and the other answers its call and runs a new turn meanwhile. The killed
//! one comes back (the test starts the `--listen` codex again on the same port; `serve`
//! respawns the stdio one with back-off) and its session takes a new turn.
//! Last, `exec` over two `--codex-home`s reports each connection and runs its turn.

use std::path::PathBuf;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use super::serve_support::{ServeProcess, switchboard};
use super::support::{WAIT, codex_bin, repo_path};

const MANUAL_CATALOG: &str = "tests/fixtures/catalogs/manual.toml";
/// The stdio app-server's `CODEX_HOME`; `serve` names the app-server after it.
const STDIO_HOME: &str = "stdio-home";

async fn model() -> ModelServer {
    let catalog = Catalog::load(&repo_path(MANUAL_CATALOG)).unwrap();
    ModelServer::start(
        Scenario::load("auto").unwrap(),
        switchboard::cli::scripted::model_options(&catalog),
    )
    .await
    .unwrap()
}

/// A `codex app-server --listen` the test owns: started, killed and started again on
/// the same port.
struct ListenCodex {
    child: Option<tokio::process::Child>,
    home: PathBuf,
    port: u16,
}

impl ListenCodex {
    /// Starts one on a free port, on the scripted model at `base_url`.
    async fn start(home: PathBuf, base_url: &str) -> ListenCodex {
        std::fs::create_dir_all(&home).unwrap();
        switchboard::model::write_codex_home(&home, base_url).unwrap();
        let mut codex = ListenCodex {
            child: None,
            home,
            port: 0,
        };
        codex.listen().await;
        codex
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Starts codex on `self.port` (0: any) and waits for the address it prints.
    async fn listen(&mut self) {
        let mut child = tokio::process::Command::new(codex_bin())
            .args([
                "app-server",
                "--listen",
                &format!("ws://127.0.0.1:{}", self.port),
            ])
            .env("CODEX_HOME", &self.home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.trim().strip_prefix("listening on: ") {
                    return url
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                        .unwrap_or_else(|| panic!("no port in codex's address {url}"));
                }
            }
            panic!(
                "codex exited without printing its address (port {})",
                self.port
            );
        })
        .await
        .expect("codex printed no address");
        // Keep draining stderr so codex never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        assert!(self.port == 0 || self.port == port, "codex moved to {port}");
        self.port = port;
        self.child = Some(child);
    }

    /// SIGKILL, and reaped.
    async fn kill(&mut self) {
        let mut child = self.child.take().expect("codex is not running");
        child.kill().await.unwrap();
    }
}

/// Every frame of `serve`'s `/api/stream`, in order, read by a task of its own.
struct Stream {
    frames: tokio::sync::mpsc::UnboundedReceiver<Value>,
    /// Every frame read so far (by `next`), for counting afterwards.
    seen: Vec<Value>,
}

impl Stream {
    async fn open(serve_url: &str) -> Stream {
        let url = format!("{}/api/stream", serve_url.replacen("http://", "ws://", 1));
        let (mut socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("timed out opening the event stream")
            .expect("could not open the event stream");
        let (tx, frames) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message
                    && let Ok(frame) = serde_json::from_str::<Value>(&text)
                    && tx.send(frame).is_err()
                {
                    return;
                }
            }
        });
        let mut stream = Stream {
            frames,
            seen: Vec::new(),
        };
        stream
            .next("the ready frame", |f| f["type"] == "ready")
            .await;
        stream
    }

    /// The next frame `pick` accepts (earlier ones are kept in `seen`); fails after WAIT.
    async fn next(&mut self, what: &str, mut pick: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.frames.recv()).await {
                Ok(Some(frame)) => {
                    self.seen.push(frame.clone());
                    if pick(&frame) {
                        return frame;
                    }
                }
                Ok(None) => panic!("the event stream closed while waiting for {what}"),
                Err(_) => panic!(
                    "no {what} on the event stream within {WAIT:?}; last frames: {:#?}",
                    &self.seen[self.seen.len().saturating_sub(8)..]
                ),
            }
        }
    }

    /// A frame `pick` accepts among those seen already, else the next one.
    async fn seen_or_next(&mut self, what: &str, mut pick: impl FnMut(&Value) -> bool) -> Value {
        if let Some(found) = self.seen.iter().find(|f| pick(f)) {
            return found.clone();
        }
        self.next(what, pick).await
    }

    /// The `tool_call_resolved` frames of one call seen so far.
    fn resolutions(&self, request_id: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|f| {
                f["type"] == "tool_call_resolved" && f["payload"]["requestId"] == request_id
            })
            .collect()
    }

    /// The next `connection` frame of `app_server` in `state`.
    async fn connection(&mut self, app_server: &str, state: &str) -> Value {
        self.next(&format!("app-server {app_server} {state}"), |f| {
            f["type"] == "connection"
                && f["payload"]["appServer"] == app_server
                && f["payload"]["state"]["state"] == state
        })
        .await
    }
}

/// The two app-servers and the `serve` over them.
struct Fleet {
    serve: ServeProcess,
    url: String,
    listen: ListenCodex,
    /// The name `serve` gives the websocket app-server.
    ws_name: String,
    stdio_name: String,
    dir: PathBuf,
    _model: ModelServer,
    _tmp: tempfile::TempDir,
}

/// How `serve` is told about its app-servers.
enum Naming {
    /// `--codex-home DIR --connect URL`: names made from them.
    Flags,
    /// A `--fleet FILE` that names them.
    FleetFile,
}

impl Fleet {
    async fn start(naming: Naming) -> Fleet {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let model = model().await;
        let stdio_home = dir.join(STDIO_HOME);
        std::fs::create_dir_all(&stdio_home).unwrap();
        switchboard::model::write_codex_home(&stdio_home, &model.base_url()).unwrap();
        let listen = ListenCodex::start(dir.join("listen-home"), &model.base_url()).await;
        let catalog = repo_path(MANUAL_CATALOG);
        let data = dir.join("data");
        let mut args: Vec<String> = [
            "--no-auth",
            "--catalog",
            catalog.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ]
        .map(str::to_string)
        .to_vec();
        let (stdio_name, ws_name) = match naming {
            Naming::Flags => {
                args.extend([
                    "--codex-home".to_string(),
                    stdio_home.display().to_string(),
                    "--connect".to_string(),
                    listen.url(),
                ]);
                (STDIO_HOME.to_string(), format!("127.0.0.1:{}", listen.port))
            }
            Naming::FleetFile => {
                let file = dir.join("fleet.toml");
                std::fs::write(
                    &file,
                    format!(
                        "[[app_servers]]\nname = \"work\"\nspawn = {{ codex_home = {:?}, cwd = {:?} }}\n\n\
                         [[app_servers]]\nname = \"build-box\"\nconnect = {{ url = {:?}, cwd = {:?} }}\n",
                        stdio_home.display().to_string(),
                        dir.display().to_string(),
                        listen.url(),
                        dir.display().to_string(),
                    ),
                )
                .unwrap();
                args.extend(["--fleet".to_string(), file.display().to_string()]);
                ("work".to_string(), "build-box".to_string())
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // No CODEX_HOME of its own: each app-server has the one the fleet gives it.
        let serve = ServeProcess::start(&dir, &[], &args);
        let url = serve.url.clone();
        Fleet {
            serve,
            url,
            listen,
            ws_name,
            stdio_name,
            dir,
            _model: model,
            _tmp: tmp,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let reply = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let reply = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }

    /// A new session on the app-server named `app_server`.
    async fn session_on(&self, app_server: &str) -> String {
        let (status, created) = self
            .post(
                "/api/sessions",
                json!({ "cwd": self.dir.display().to_string(), "appServer": app_server }),
            )
            .await;
        assert_eq!(status, 200, "creating a session on {app_server}: {created}");
        assert_eq!(created["session"]["appServer"], app_server, "{created}");
        created["session"]["sessionId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Starts a turn whose model calls the manual tool; returns the turn and, once the
    /// stream shows it, the call's request id.
    async fn turn_with_call(
        &self,
        stream: &mut Stream,
        session: &str,
        order: u32,
    ) -> (String, String) {
        let (status, accepted) = self
            .post(
                &format!("/api/sessions/{session}/messages"),
                json!({ "text": format!("please call:approve_refund for order {order}") }),
            )
            .await;
        assert_eq!(status, 202, "{accepted}");
        let turn = accepted["turnId"].as_str().unwrap().to_string();
        let requested = stream
            .next(&format!("the call of session {session}"), |f| {
                f["type"] == "tool_call_requested" && f["threadId"] == session
            })
            .await;
        let request_id = requested["payload"]["requestId"]
            .as_str()
            .unwrap_or_else(|| panic!("no requestId in {requested}"))
            .to_string();
        (turn, request_id)
    }

    /// Answers a call over the API.
    async fn answer(&self, request_id: &str, text: &str) {
        let (status, reply) = self
            .post(
                &format!("/api/tool-calls/{request_id}/response"),
                json!({ "success": true, "contentItems": [{ "type": "inputText", "text": text }] }),
            )
            .await;
        assert_eq!(status, 200, "answering {request_id}: {reply}");
    }

    /// Answers a call with `switchboard tool-calls respond`, as an operator would.
    fn answer_with_cli(&self, request_id: &str, text: &str) {
        let output = switchboard()
            .args([
                "tool-calls",
                "respond",
                "--url",
                &self.url,
                "--text",
                text,
                request_id,
            ])
            .env("XDG_CONFIG_HOME", &self.dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "tool-calls respond failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Waits (on the stream) for the turn to end; returns its status and the session's
    /// detail as the API gives it then.
    async fn turn_end(&self, stream: &mut Stream, session: &str, turn: &str) -> (String, Value) {
        let done = stream
            .seen_or_next(&format!("the end of turn {turn}"), |f| {
                f["type"] == "app_server.turn.completed"
                    && f["threadId"] == session
                    && f["payload"]["params"]["turn"]["id"] == turn
            })
            .await;
        let status = done["payload"]["params"]["turn"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (code, detail) = self.get(&format!("/api/sessions/{session}")).await;
        assert_eq!(code, 200, "{detail}");
        (status, detail)
    }

    async fn health(&self) -> (u16, Value) {
        self.get("/api/health").await
    }

    async fn session_status(&self, session: &str) -> String {
        let (code, detail) = self.get(&format!("/api/sessions/{session}")).await;
        assert_eq!(code, 200, "{detail}");
        detail["session"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn pending(&self) -> Vec<String> {
        let (code, listed) = self.get("/api/tool-calls").await;
        assert_eq!(code, 200, "{listed}");
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["requestId"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// The state of `name` in a health body.
fn health_state<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["appServers"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["name"] == name))
        .map_or(&Value::Null, |a| &a["connection"]["state"])
}

/// Sessions on each app-server, a call on each answered and reaching the codex that
/// asked: the turn completes with the answer's text.
async fn a_call_answered_on_each(fleet: &Fleet, stream: &mut Stream) -> (String, String) {
    let (code, health) = fleet.health().await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(
        health_state(&health, &fleet.stdio_name),
        "connected",
        "{health}"
    );
    assert_eq!(
        health_state(&health, &fleet.ws_name),
        "connected",
        "{health}"
    );

    let on_stdio = fleet.session_on(&fleet.stdio_name).await;
    let on_ws = fleet.session_on(&fleet.ws_name).await;
    let (stdio_turn, stdio_call) = fleet.turn_with_call(stream, &on_stdio, 1).await;
    let (ws_turn, ws_call) = fleet.turn_with_call(stream, &on_ws, 2).await;
    let (code, listed) = fleet.get("/api/tool-calls").await;
    assert_eq!(code, 200);
    for (call, name) in [(&stdio_call, &fleet.stdio_name), (&ws_call, &fleet.ws_name)] {
        let record = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["requestId"] == call.as_str())
            .unwrap_or_else(|| panic!("{call} is not listed: {listed}"));
        assert_eq!(record["appServer"], name.as_str(), "{record}");
    }
    // Answered in the other order than asked, one over the API and one with the CLI.
    fleet.answer_with_cli(&ws_call, "refund 2 approved over the websocket");
    fleet
        .answer(&stdio_call, "refund 1 approved over stdio")
        .await;
    for (session, turn, text) in [
        (&on_ws, &ws_turn, "refund 2 approved over the websocket"),
        (&on_stdio, &stdio_turn, "refund 1 approved over stdio"),
    ] {
        let (status, detail) = fleet.turn_end(stream, session, turn).await;
        assert_eq!(status, "completed", "{detail}");
        let reply = detail["thread"]["turns"]
            .as_array()
            .and_then(|turns| turns.iter().find(|t| t["id"] == turn.as_str()))
            .map(|t| t.to_string())
            .unwrap_or_default();
        assert!(reply.contains(text), "the model got {text:?}: {detail}");
    }
    (on_stdio, on_ws)
}

/// A new turn on `session` whose call is answered completes with the answer.
async fn a_new_turn_runs(fleet: &Fleet, stream: &mut Stream, session: &str, order: u32) {
    let (turn, call) = fleet.turn_with_call(stream, session, order).await;
    let text = format!("refund {order} approved");
    fleet.answer(&call, &text).await;
    let (status, detail) = fleet.turn_end(stream, session, &turn).await;
    assert_eq!(status, "completed", "{detail}");
    assert!(detail.to_string().contains(&text), "{detail}");
    assert_eq!(stream.resolutions(&call).len(), 1, "{call} ends once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_codex_killed_only_its_calls_end_and_it_comes_back_on_its_port() {
    let mut fleet = Fleet::start(Naming::Flags).await;
    let mut stream = Stream::open(&fleet.url).await;
    let (on_stdio, on_ws) = a_call_answered_on_each(&fleet, &mut stream).await;

    // A call waits on each; then the --listen codex dies.
    let (stdio_turn, stdio_call) = fleet.turn_with_call(&mut stream, &on_stdio, 3).await;
    let (_ws_turn, ws_call) = fleet.turn_with_call(&mut stream, &on_ws, 4).await;
    fleet.listen.kill().await;
    let ws_name = fleet.ws_name.clone();
    stream.connection(&ws_name, "reconnecting").await;
    assert_eq!(fleet.session_status(&on_ws).await, "disconnected");
    assert_eq!(fleet.session_status(&on_stdio).await, "running");
    let (code, health) = fleet.health().await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    let reason = health["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&ws_name),
        "the reason names {ws_name}: {health}"
    );
    assert!(!reason.contains(&fleet.stdio_name), "{health}");
    assert_eq!(
        health_state(&health, &fleet.stdio_name),
        "connected",
        "{health}"
    );

    // The stdio one goes on: its waiting call is answered, and a new turn runs.
    assert!(fleet.pending().await.contains(&stdio_call));
    fleet
        .answer(&stdio_call, "refund 3 approved while the other was down")
        .await;
    let (status, detail) = fleet.turn_end(&mut stream, &on_stdio, &stdio_turn).await;
    assert_eq!(status, "completed", "{detail}");
    assert!(
        detail
            .to_string()
            .contains("refund 3 approved while the other was down")
    );
    a_new_turn_runs(&fleet, &mut stream, &on_stdio, 5).await;
    // A websocket app-server may outlive its connection: its call waits for it.
    assert!(fleet.pending().await.contains(&ws_call));
    assert!(stream.resolutions(&ws_call).is_empty());
    // An answer meanwhile is refused, saying why, and the call still waits.
    let (code, refused) = fleet
        .post(
            &format!("/api/tool-calls/{ws_call}/response"),
            json!({ "success": true, "contentItems": [{ "type": "inputText", "text": "too soon" }] }),
        )
        .await;
    assert_eq!(code, 500, "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "app-server {ws_name} is not connected (reconnecting)"
        )) && message.contains("still waits"),
        "{refused}"
    );
    assert!(fleet.pending().await.contains(&ws_call));

    // The --listen codex comes back on its port: the bridge redials it, the call the
    // dead process asked for ends (once), and the session takes a new turn.
    fleet.listen.listen().await;
    stream.connection(&ws_name, "connected").await;
    stream
        .next("the resume of the websocket session", |f| {
            f["type"] == "session_recovery" && f["threadId"] == on_ws.as_str()
        })
        .await;
    let ended = stream
        .seen_or_next(&format!("the end of {ws_call}"), |f| {
            f["type"] == "tool_call_resolved" && f["payload"]["requestId"] == ws_call.as_str()
        })
        .await;
    assert_eq!(ended["payload"]["status"], "expired", "{ended}");
    // The codex that asked for it is gone; the new one says the turn did not go on.
    assert!(
        ended["payload"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("while Switchboard was away")),
        "{ended}"
    );
    assert!(!fleet.pending().await.contains(&ws_call));
    let (code, health) = fleet.health().await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    a_new_turn_runs(&fleet, &mut stream, &on_ws, 6).await;
    assert_eq!(stream.resolutions(&ws_call).len(), 1, "{ws_call} ends once");
    assert_eq!(
        stream.resolutions(&stdio_call).len(),
        1,
        "{stdio_call} ends once"
    );
    assert!(fleet.serve.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spawned_codex_killed_is_respawned_while_the_websocket_one_goes_on() {
    let fleet = Fleet::start(Naming::FleetFile).await;
    let mut stream = Stream::open(&fleet.url).await;
    let (on_stdio, on_ws) = a_call_answered_on_each(&fleet, &mut stream).await;

    let (_stdio_turn, stdio_call) = fleet.turn_with_call(&mut stream, &on_stdio, 3).await;
    let (ws_turn, ws_call) = fleet.turn_with_call(&mut stream, &on_ws, 4).await;
    let (_, health) = fleet.health().await;
    let pid = health["appServers"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["name"] == fleet.stdio_name.as_str()))
        .and_then(|a| a["connection"]["pid"].as_i64())
        .unwrap_or_else(|| panic!("no pid of {} in {health}", fleet.stdio_name));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    // The stdio child took its call with it: that call ends at once, exactly once.
    let ended = stream
        .seen_or_next(&format!("the end of {stdio_call}"), |f| {
            f["type"] == "tool_call_resolved" && f["payload"]["requestId"] == stdio_call.as_str()
        })
        .await;
    assert_eq!(ended["payload"]["status"], "expired", "{ended}");
    assert!(
        fleet.pending().await.contains(&ws_call),
        "the other call still waits"
    );

    // The websocket one goes on.
    fleet
        .answer(&ws_call, "refund 4 approved while the other was down")
        .await;
    let (status, detail) = fleet.turn_end(&mut stream, &on_ws, &ws_turn).await;
    assert_eq!(status, "completed", "{detail}");
    assert!(
        detail
            .to_string()
            .contains("refund 4 approved while the other was down")
    );

    // Respawned: connected again, with a new pid, and its session takes a new turn.
    let connected = stream.connection(&fleet.stdio_name, "connected").await;
    assert_ne!(connected["payload"]["state"]["pid"], pid, "{connected}");
    stream
        .next("the resume of the stdio session", |f| {
            f["type"] == "session_recovery" && f["threadId"] == on_stdio.as_str()
        })
        .await;
    let (code, health) = fleet.health().await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    a_new_turn_runs(&fleet, &mut stream, &on_stdio, 5).await;
    a_new_turn_runs(&fleet, &mut stream, &on_ws, 6).await;
    assert_eq!(
        stream.resolutions(&stdio_call).len(),
        1,
        "{stdio_call} ends once"
    );
    assert_eq!(stream.resolutions(&ws_call).len(), 1, "{ws_call} ends once");
    assert!(fleet.serve.stop().success());
}

/// `exec` over two spawned app-servers (`--codex-home` twice): it reports each
/// connection, and its turn runs on the first with the catalog's handler answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_two_app_servers_reports_each_and_runs_its_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model().await;
    let homes = [tmp.path().join("codex-one"), tmp.path().join("codex-two")];
    for home in &homes {
        switchboard::model::write_codex_home(home, &model.base_url()).unwrap();
    }
    let catalog = repo_path(MANUAL_CATALOG);
    let output = tokio::process::Command::from(switchboard())
        .args(["exec", "--json", "--timeout", "60", "--catalog"])
        .arg(&catalog)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("--cwd")
        .arg(tmp.path())
        .arg("--codex-home")
        .arg(&homes[0])
        .arg("--codex-home")
        .arg(&homes[1])
        .arg("please call:echo_args with some text")
        .env("XDG_CONFIG_HOME", tmp.path())
        .output();
    let output = tokio::time::timeout(WAIT, output)
        .await
        .expect("exec did not end")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for name in ["codex-one", "codex-two"] {
        let reported = lines
            .iter()
            .find(|l| l["type"] == "connection" && l["appServer"] == name)
            .unwrap_or_else(|| panic!("no connection line of {name}: {stdout}"));
        assert_eq!(reported["state"], "connected", "{reported}");
    }
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result", "{result}");
    assert_eq!(result["turnStatus"], "completed", "{result}");
    let reply = result["assistantReply"].as_str().unwrap_or_default();
    assert!(reply.contains("echo_args: {\"text\":"), "{result}");
}

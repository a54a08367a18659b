//! The same rows everywhere, on the real codex app-server: with the shell tool on and
//! approvals `never`, the scripted model runs a command, then calls a catalog tool. A
//! websocket client of the API receives codex-manager's raw `notification` frames for
//! the command's items, its output and the turn's end, a raw `server_request` for the
//! tool call, and a `transcript_updated` with the command row; `exec --json` on the same
//! script prints the command as an `item` line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard::appserver::TransportSpec;
use switchboard::bridge::{self, BridgeConfig, CreateSession};
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};
use switchboard::service::{self, ServeConfig};
use tokio_tungstenite::tungstenite::Message;

use super::support::{WAIT, codex_bin};

const CATALOG: &str = r#"
[[tools]]
name = "ticket_status"
description = "The status of a ticket"
input_schema = { type = "object", properties = { ticket_id = { type = "string" } }, required = ["ticket_id"] }
handler = { static_text = "closed" }
"#;

/// One turn: codex's own `exec_command`, then the catalog's tool, then a reply. The
/// command prints a line, then waits for the `gate` file, so its output streams in two
/// parts whatever the machine's load: the test creates the gate once it has seen the
/// first part as a raw output delta.
fn scenario(gate: &Path) -> String {
    format!(
        r#"
[[turn]]
match = "run the command"
[[turn.round]]
calls = [ {{ tool = "exec_command", arguments_json = "{{\"cmd\":\"echo one; while [ ! -e {gate} ]; do sleep 0.05; done; echo two\",\"yield_time_ms\":30000}}" }} ]
[[turn.round]]
calls = [ {{ tool = "ticket_status", arguments = {{ ticket_id = "T-1" }} }} ]
[turn.reply]
text = "model saw: {{outputs}}"
"#,
        gate = gate.display()
    )
}

const PROMPT: &str = "run the command, then look up T-1";

/// The scripted model and a `CODEX_HOME` for it with the shell tool on.
struct Rig {
    _model: ModelServer,
    home: tempfile::TempDir,
    catalog_path: PathBuf,
    codex_home: PathBuf,
    work: PathBuf,
}

impl Rig {
    async fn start() -> Rig {
        let home = tempfile::tempdir().unwrap();
        let work = home.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let catalog_path = home.path().join("tools.toml");
        std::fs::write(&catalog_path, CATALOG).unwrap();
        let scenario_path = home.path().join("scenario.toml");
        std::fs::write(&scenario_path, scenario(&home.path().join("gate"))).unwrap();
        let catalog = Catalog::load(&catalog_path).unwrap();
        let mut options = switchboard::cli::scripted::model_options(&catalog);
        // codex's own tools (exec_command) as well as the catalog's.
        options.tool_names = None;
        let model = ModelServer::start(
            Scenario::load(scenario_path.to_str().unwrap()).unwrap(),
            options,
        )
        .await
        .unwrap();
        let codex_home = home.path().join("codex");
        super::support::write_shell_codex_home(&codex_home, &model.base_url(), "");
        Rig {
            _model: model,
            home,
            catalog_path,
            codex_home,
            work,
        }
    }

    fn data(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}

fn is_command(item: &Value) -> bool {
    item["type"] == "commandExecution"
}

fn methods(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "notification")
        .map(|f| {
            f["payload"]["method"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_raw_frames_and_item_rows_and_exec_prints_the_items() {
    let rig = Rig::start().await;
    let catalog = Arc::new(Catalog::load(&rig.catalog_path).unwrap());
    let transport = TransportSpec::Stdio {
        program: codex_bin(),
        args: vec!["app-server".to_string()],
        env: vec![(
            "CODEX_HOME".to_string(),
            rig.codex_home.display().to_string(),
        )],
    };
    let mut config = BridgeConfig::new(transport, catalog);
    config.data_dir = Some(rig.data("serve-data"));
    let bridge = bridge::start(config).await.unwrap();
    let server = service::serve(
        bridge.clone(),
        ServeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), None),
    )
    .await
    .unwrap();
    let session = bridge
        .create_session(CreateSession {
            cwd: Some(rig.work.display().to_string()),
            approval_policy: Some("never".to_string()),
            sandbox: Some("danger-full-access".to_string()),
            ..CreateSession::default()
        })
        .await
        .unwrap();
    let thread = session.thread_id;
    let url = format!("ws://{}/api/stream?threadId={thread}", server.addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut frames: Vec<Value> = Vec::new();
    let mut next = async || -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, socket.next())
                .await
                .expect("no frame in time")
                .expect("the stream closed")
                .unwrap();
            if let Message::Text(text) = message {
                assert!(text.len() < 1 << 20, "a frame of {} bytes", text.len());
                return serde_json::from_str(&text).unwrap();
            }
        }
    };
    assert_eq!(next().await["type"], "ready");
    let turn_id = bridge.send_message(&thread, PROMPT).await.unwrap();
    // Until the raw frame of this turn's end, as codex-manager's smoke test waits.
    loop {
        let frame = next().await;
        let done = frame["type"] == "notification"
            && frame["payload"]["method"] == "turn/completed"
            && frame["payload"]["params"]["turn"]["id"] == turn_id.as_str();
        if frame["type"] == "notification"
            && frame["payload"]["method"] == "item/commandExecution/outputDelta"
        {
            std::fs::write(rig.data("gate"), "").unwrap();
        }
        frames.push(frame);
        if done {
            break;
        }
    }
    let seen: Vec<&str> = frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or_default())
        .collect();
    // Every frame is this session's: the socket's filter holds for the raw frames too.
    for frame in &frames {
        assert_eq!(frame["threadId"], thread.as_str(), "{frame}");
    }
    let raw = |method: &str, pick: &dyn Fn(&Value) -> bool| -> usize {
        frames
            .iter()
            .position(|f| {
                f["type"] == "notification"
                    && f["payload"]["method"] == method
                    && pick(&f["payload"]["params"])
            })
            .unwrap_or_else(|| panic!("no raw {method} in {:?}", methods(&frames)))
    };
    let started = raw("item/started", &|p| is_command(&p["item"]));
    let delta = raw("item/commandExecution/outputDelta", &|_| true);
    let completed = raw("item/completed", &|p| is_command(&p["item"]));
    let turn_end = raw("turn/completed", &|_| true);
    assert!(
        started < delta && delta < completed && completed < turn_end,
        "{seen:?}"
    );
    // Each raw frame right after its codex-manager signal, with the same params.
    for at in [started, delta, completed, turn_end] {
        let signal = &frames[at - 1];
        let method = frames[at]["payload"]["method"].as_str().unwrap();
        assert_eq!(
            signal["payload"]["method"],
            method,
            "{:?}",
            &seen[at - 1..=at]
        );
        assert_eq!(signal["payload"]["params"], frames[at]["payload"]["params"]);
    }
    let item = &frames[completed]["payload"]["params"]["item"];
    assert!(
        item["command"]
            .as_str()
            .unwrap()
            .contains("echo one; while [ ! -e "),
        "{item}"
    );
    assert_eq!(item["exitCode"], 0);

    // The tool call, raw, with app-server's own id, after its signal and record.
    let request = frames
        .iter()
        .position(|f| f["type"] == "server_request")
        .unwrap_or_else(|| panic!("no server_request in {seen:?}"));
    let payload = &frames[request]["payload"];
    assert_eq!(payload["method"], "item/tool/call");
    assert_eq!(payload["params"]["tool"], "ticket_status");
    assert_eq!(
        payload["params"]["arguments"],
        json!({ "ticket_id": "T-1" })
    );
    assert!(payload["id"].is_number(), "{payload}");
    let requested = seen
        .iter()
        .position(|k| *k == "tool_call_requested")
        .unwrap();
    assert!(requested < request, "{seen:?}");

    // The command row, live from item/started (streaming), last as the session detail
    // has it.
    let rows: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "transcript_updated" && f["payload"]["type"] == "item.command")
        .collect();
    assert_eq!(
        rows[0]["payload"]["entry"]["status"], "streaming",
        "{rows:?}"
    );
    let row = rows
        .last()
        .unwrap_or_else(|| panic!("no command row in {seen:?}"));
    let entry = &row["payload"]["entry"];
    assert_eq!(entry["turnId"], turn_id.as_str());
    assert_eq!(entry["messageId"], item["id"]);
    assert_eq!(
        (&entry["role"], &entry["status"]),
        (&json!("system"), &json!("complete"))
    );
    let details: Value = serde_json::from_str(entry["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["exitCode"], 0);
    assert!(
        details["output"].as_str().unwrap().contains("one\ntwo"),
        "{details}"
    );
    let detail: Value = reqwest::get(format!("{}/api/sessions/{thread}", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "item.command")
        .unwrap();
    assert_eq!(listed, entry);
    drop(socket);
    server.shutdown().await;
    bridge.shutdown().await;

    exec_prints_the_items(&rig).await;
}

/// `exec --json` on the same script: the command is an `item` line of its own.
async fn exec_prints_the_items(rig: &Rig) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("exec")
        .arg("--json")
        .arg("--catalog")
        .arg(&rig.catalog_path)
        .args([
            "--approval-policy",
            "never",
            "--sandbox",
            "danger-full-access",
        ])
        .arg("--cwd")
        .arg(&rig.work)
        .arg("--data-dir")
        .arg(rig.data("exec-data"))
        .arg("--codex-bin")
        .arg(codex_bin())
        .arg(PROMPT)
        .env("CODEX_HOME", &rig.codex_home)
        .output();
    let output = tokio::time::timeout(WAIT, output).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let items: Vec<&Value> = lines.iter().filter(|l| l["type"] == "item").collect();
    let command = items
        .iter()
        .find(|l| l["item"]["kind"] == "command")
        .unwrap_or_else(|| panic!("no command item in {stdout}"));
    assert!(
        command["item"]["command"]
            .as_str()
            .unwrap()
            .contains("echo one; while [ ! -e ")
    );
    assert_eq!(command["item"]["exitCode"], 0);
    assert!(
        command["item"]["output"]
            .as_str()
            .unwrap()
            .contains("one\ntwo")
    );
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(command["threadId"], result["sessionId"]);
    assert_eq!(command["turnId"], result["turnId"]);
    assert_eq!(result["toolCalls"][0]["tool"], "ticket_status");
    // The raw app-server messages are the API stream's, not exec's.
    assert!(
        lines
            .iter()
            .all(|l| l["type"] != "app_server_notification" && l["type"] != "app_server_request")
    );
}

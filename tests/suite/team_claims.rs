//! A team on one queue, on the real codex: claims on an approval over the API, the
//! websocket and the CLI (claim, refusal naming the holder, explicit takeover announced
//! on the stream, the holder's answer written once); and in tmux, the console started
//! with `--listen` sharing its queue with a CLI client: a call the CLI holds reads "being
//! answered by NAME" and cannot be sent until the console takes it over, and a call the
//! console has open refuses the CLI's answer as claimed until the editor closes.

use std::process::Command;

use serde_json::{Value, json};
use switchboard::bridge::RequestPolicy;
use switchboard::protocol::RequestKind;
use switchboard::service::{self, ServeConfig};

use super::api_support::{Socket, frames_until, next_reply, send_command};
use super::approvals_codex::Approvals;
use super::console_tmux::Tmux;
use super::support::codex_bin;

const TOKEN: &str = "team-claims-token-5e1f08";

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn socket(addr: std::net::SocketAddr) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/api/stream")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_claimed_refused_to_others_taken_over_and_answered_once() {
    let mut h = Approvals::start(RequestPolicy::Ask).await;
    let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Some(TOKEN.to_string()));
    let server = service::serve(h.bridge.clone(), config).await.unwrap();
    let base = server.url();
    let http = reqwest::Client::new();
    let mut ws = socket(server.addr()).await;
    assert_eq!(next_reply(&mut ws).await["type"], "ready");

    h.send("run the command").await;
    let request = h.opened().await;
    assert_eq!(request.kind, RequestKind::CommandApproval);
    let id = request.request_id.clone();

    // ana claims it over the websocket.
    send_command(
        &mut ws,
        &json!({ "type": "claim", "requestId": id, "holder": "ana@desk", "leaseMs": 30000 })
            .to_string(),
    )
    .await;
    let frames = frames_until(&mut ws, "claimed").await;
    let granted = frames.last().unwrap();
    assert_eq!(granted["holder"], "ana@desk", "{granted}");
    let ana = granted["claimId"].as_str().unwrap().to_string();
    let (_, listed) = call(
        &http,
        &base,
        reqwest::Method::GET,
        "/api/requests",
        json!(null),
    )
    .await;
    assert_eq!(listed["data"][0]["claim"]["holder"], "ana@desk", "{listed}");

    // bo is refused the claim and the answer, naming ana.
    let claim_path = format!("/api/requests/{id}/claim");
    let (status, refused) = call(
        &http,
        &base,
        reqwest::Method::POST,
        &claim_path,
        json!({ "holder": "bo@cli" }),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("call_claimed"))
    );
    assert_eq!(refused["holder"], "ana@desk");
    // Worded by kind: an approval, not a call.
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "command approval {id} is claimed by ana@desk until "
        )),
        "{message}"
    );
    let answer_path = format!("/api/requests/{id}/answer");
    let (status, refused) = call(
        &http,
        &base,
        reqwest::Method::POST,
        &answer_path,
        json!({ "decision": "accept" }),
    )
    .await;
    assert_eq!(
        (status, refused["holder"].as_str()),
        (409, Some("ana@desk")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("command approval {id} is claimed by ana@desk")),
        "{refused}"
    );
    // codex-manager's decision route is refused too: nothing is written behind ana's back.
    let (status, _) = call(
        &http,
        &base,
        reqwest::Method::POST,
        &format!("/api/approvals/{id}/decision"),
        json!({ "decision": "decline" }),
    )
    .await;
    assert_eq!(status, 409);

    // bo takes it over: the stream tells ana, whose answer is refused from then on.
    let (status, taken) = call(
        &http,
        &base,
        reqwest::Method::POST,
        &claim_path,
        json!({ "holder": "bo@cli", "takeover": true, "leaseMs": 30000 }),
    )
    .await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken["replaced"]["holder"], "ana@desk");
    let bo = taken["claimId"].as_str().unwrap().to_string();
    let frames = frames_until(&mut ws, "request_released").await;
    let released = frames.last().unwrap();
    assert_eq!(released["payload"]["reason"], "taken_over", "{released}");
    assert_eq!(released["payload"]["claim"]["holder"], "ana@desk");
    assert_eq!(released["payload"]["request"]["claim"]["holder"], "bo@cli");
    let (status, _) = call(
        &http,
        &base,
        reqwest::Method::POST,
        &answer_path,
        json!({ "decision": "decline", "claimId": ana }),
    )
    .await;
    assert_eq!(status, 409);
    // ana's websocket release is refused: bo holds it.
    send_command(
        &mut ws,
        &json!({ "type": "release", "requestId": id, "claimId": ana }).to_string(),
    )
    .await;
    let refusal = frames_until(&mut ws, "claim_refused").await;
    assert_eq!(refusal.last().unwrap()["holder"], "bo@cli");
    assert_eq!(
        refusal.last().unwrap()["message"],
        format!("command approval {id} is claimed by bo@cli: only its holder releases it")
    );

    // bo answers with the CLI and its claim: written once, the request ends.
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "requests",
            "answer",
            &id,
            "--decision",
            "accept",
            "--claim-id",
            &bo,
            "--url",
            &base,
            "--token",
            TOKEN,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let ended = h.resolved().await;
    assert_eq!(ended.request_id, id);
    assert_eq!(ended.decision.as_deref(), Some("accept"));
    let (status, _) = call(
        &http,
        &base,
        reqwest::Method::POST,
        &answer_path,
        json!({ "decision": "accept", "claimId": bo }),
    )
    .await;
    assert_eq!(status, 404);
}

/// `switchboard ARGS --url URL`: its status, stdout and stderr.
fn cli(url: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .args(["--url", url])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// The pending escalate_ticket call's request id.
fn pending_call(url: &str) -> String {
    let (ok, listed, err) = cli(url, &["tool-calls", "list", "--json"]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tool"] == "escalate_ticket")
        .expect("the console's call is listed by the API")["requestId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_console_and_the_cli_share_one_queue_without_a_double_answer() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("console.toml");
    std::fs::write(&config, "operator = \"ana\"\nclaim_lease_ms = 30000\n").unwrap();
    let command = format!(
        "SWITCHBOARD_CONSOLE_CONFIG='{}' SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' demo --listen 127.0.0.1:0 --no-auth; echo switchboard-exited-$?; sleep 60",
        config.display(),
        codex_bin().display(),
        home.path().join("data").display(),
        env!("CARGO_BIN_EXE_switchboard"),
    );
    let tmux = Tmux::start(&command, 160, 48);
    let screen = tmux.wait_for("the API address in the header", |s| {
        s.contains("API http://127.0.0.1:")
    });
    let url = screen
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap()
        .to_string();
    tmux.wait_for("the demo session", |s| s.contains("session ready"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the manual call", |s| s.contains("waiting on you 1"));
    let first = pending_call(&url);

    // 1. The CLI claims the call: the console shows who answers it.
    let (ok, bo, err) = cli(
        &url,
        &[
            "requests",
            "claim",
            &first,
            "--holder",
            "bo@cli",
            "--lease-ms",
            "60000",
        ],
    );
    assert!(ok, "{err}");
    let bo = bo.trim().to_string();
    assert!(err.contains("claimed by bo@cli"), "{err}");
    tmux.wait_for("the claim in the queue", |s| {
        s.contains("being answered by bo@cli") && s.contains("⚑ bo@cli")
    });
    let (_, listed, _) = cli(&url, &["tool-calls", "list"]);
    assert!(listed.contains("being answered by bo@cli"), "{listed}");

    // 2. The console opens it: its editor says who, and ^S is refused.
    tmux.leave_composer();
    tmux.keys(&["a"]);
    tmux.wait_for("the editor naming the holder", |s| {
        s.contains("Answer escalate_ticket")
            && s.contains("being answered by bo@cli · F8 takes it over")
    });
    tmux.literal("escalated by ana");
    tmux.keys(&["C-s"]);
    tmux.wait_for("the refusal", |s| {
        s.contains("not sent: being answered by bo@cli")
    });

    // 3. F8 asks, y takes it over: bo's answer is refused from then on.
    tmux.keys(&["F8"]);
    tmux.wait_for("the takeover question", |s| s.contains("Take it over?"));
    tmux.keys(&["y"]);
    tmux.wait_for("the takeover", |s| {
        s.contains("you took") && s.contains("over from bo@cli")
    });
    let (ok, _, err) = cli(
        &url,
        &[
            "tool-calls",
            "respond",
            &first,
            "--text",
            "by bo",
            "--claim-id",
            &bo,
        ],
    );
    assert!(!ok);
    assert!(err.contains("claimed by ana"), "{err}");

    // 4. The console sends: answered once, by the operator.
    tmux.keys(&["C-s"]);
    tmux.wait_for("the console's answer", |s| {
        s.contains("escalate_ticket answered by operator")
            && s.contains("- escalate_ticket: escalated by ana")
    });

    // 5. The reverse: the console has a call open, the CLI's answer is refused as claimed.
    tmux.keys(&["i"]);
    tmux.literal("please escalate T-2: call:escalate_ticket");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the second call", |s| s.contains("waiting on you 1"));
    let second = pending_call(&url);
    assert_ne!(second, first);
    tmux.leave_composer();
    tmux.keys(&["a"]);
    tmux.wait_for("the console's own claim", |s| {
        s.contains("⚑ yours: others see \"being answered by ana\"")
    });
    let (ok, _, err) = cli(
        &url,
        &["tool-calls", "respond", &second, "--text", "by the cli"],
    );
    assert!(!ok);
    assert!(err.contains("claimed by ana"), "{err}");
    let (_, listed, _) = cli(&url, &["tool-calls", "list"]);
    assert!(listed.contains("being answered by ana"), "{listed}");

    // 6. Esc gives the claim back (the queue shows nobody holds it): now the CLI's answer
    // goes, once.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the claim given back", |s| {
        !s.contains("Answer escalate_ticket")
            && !s.contains("⚑ you")
            && s.contains("escalate_ticket")
    });
    let (ok, _, err) = cli(
        &url,
        &["tool-calls", "respond", &second, "--text", "by the cli"],
    );
    assert!(ok, "{err}");
    tmux.wait_for("the CLI's answer", |s| {
        s.contains("escalate_ticket answered by remote") && s.contains("waiting on you 0")
    });

    // 7. A claimant that dies (claims with a short lease, never renews): the console that
    // has the call open claims it when the lease runs out, and answers.
    tmux.keys(&["i"]);
    tmux.literal("please escalate T-3: call:escalate_ticket");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the third call", |s| s.contains("waiting on you 1"));
    let third = pending_call(&url);
    let (ok, _, err) = cli(
        &url,
        &[
            "requests",
            "claim",
            &third,
            "--holder",
            "cy@gone",
            "--lease-ms",
            "1500",
        ],
    );
    assert!(ok, "{err}");
    tmux.leave_composer();
    tmux.keys(&["a"]);
    tmux.wait_for("the editor naming the dying holder", |s| {
        s.contains("being answered by cy@gone")
    });
    tmux.wait_for("the console's claim after the lease ran out", |s| {
        s.contains("⚑ yours: others see \"being answered by ana\"")
    });
    tmux.literal("taken after cy's lease");
    tmux.keys(&["C-s"]);
    tmux.wait_for("the console's answer", |s| {
        s.contains("- escalate_ticket: taken after cy's lease")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
}

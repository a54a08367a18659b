//! The real `switchboard demo` binary in tmux, against the real codex and the scripted
//! model: an operator creates a session, sends a message, answers the manual call from
//! the editor, sees the answer quoted back, and quits; takes a burst of 150 parallel
//! manual calls at 80x24; the terminal comes back after SIGTERM and SIGHUP; and the
//! catalog is reloaded live when its file is edited.

use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{WAIT, codex_bin};

/// A detached tmux session running one command; killed when dropped.
pub(super) struct Tmux {
    name: String,
}

impl Tmux {
    pub(super) fn start(command: &str, width: u16, height: u16) -> Tmux {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("switchboard-test-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(command)
            .status()
            .expect("tmux is required for this test (scripts/setup.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { name }
    }

    pub(super) fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(super) fn literal(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Leaves the composer (when it has the keys) and waits until the main keys apply:
    /// a key sent right after an Escape would reach the console as Alt+key, so no
    /// Escape goes out when there is no composer to leave (the composer's footer has
    /// `Tab focus` too, hence `Enter send`).
    pub(super) fn leave_composer(&self) {
        let in_composer = |s: &str| s.lines().last().is_some_and(|l| l.contains("Enter send"));
        if in_composer(&self.screen()) {
            self.keys(&["Escape"]);
        }
        self.wait_for("the main view's keys", |s| {
            s.lines()
                .last()
                .is_some_and(|l| l.contains("Tab focus") && !l.contains("Enter send"))
        });
    }

    /// Pastes `text` as one bracketed paste, as a terminal does.
    fn paste(&self, text: &str) {
        let buffer = format!("{}-paste", self.name);
        let status = Command::new("tmux")
            .args(["set-buffer", "-b", &buffer, text])
            .status()
            .unwrap();
        assert!(status.success());
        let status = Command::new("tmux")
            .args(["paste-buffer", "-p", "-d", "-b", &buffer, "-t", &self.name])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Appends everything the program writes to `path` (for counting bells).
    fn record_output(&self, path: &std::path::Path) {
        let status = Command::new("tmux")
            .args(["pipe-pane", "-o", "-t", &self.name])
            .arg(format!("cat >> '{}'", path.display()))
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// A tmux format variable of the pane, e.g. `#{alternate_on}`.
    fn pane_flag(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.name, format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The pid of the switchboard process under the pane's shell.
    pub(super) fn switchboard_pid(&self) -> String {
        let shell = self.pane_flag("#{pane_pid}");
        let out = Command::new("pgrep")
            .args(["-P", &shell, "-x", "switchboard"])
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            !pid.is_empty(),
            "no switchboard under the pane's shell {shell}"
        );
        pid
    }

    pub(super) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the pane until `check` accepts it; fails with the last screen after WAIT.
    pub(super) fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen was:\n{screen}"
            );
            // Polling a pane: tmux offers no way to be told when it changes.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[test]
fn an_operator_answers_a_manual_call_in_the_demo() {
    let data = tempfile::tempdir().unwrap();
    let command = format!(
        "SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' demo; echo switchboard-exited-$?; sleep 60",
        codex_bin().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_switchboard"),
    );
    let tmux = Tmux::start(&command, 120, 36);

    // 1. The demo starts with one session and a suggested message.
    tmux.wait_for("the demo's first session", |s| {
        s.contains("Sessions (1)") && s.contains("connected")
    });

    // 2. Create a session and send a message.
    tmux.leave_composer();
    tmux.keys(&["n"]);
    tmux.wait_for("a second session", |s| {
        s.contains("Sessions (2)") && s.contains("session ready")
    });
    tmux.literal("please escalate T-1: call:escalate_ticket");
    tmux.keys(&["Enter"]);

    // 3. The manual call shows up in the queue, waiting on the operator.
    let screen = tmux.wait_for("the manual call in the queue", |s| {
        s.contains("waiting on you 1") && s.contains("Pending calls 1 of 1 · 1 on you")
    });
    assert!(screen.contains("escalate_ticket"), "{screen}");

    // 4. Open the editor, type an answer, send it.
    tmux.leave_composer();
    tmux.keys(&["a"]);
    tmux.wait_for("the response editor", |s| {
        s.contains("Answer escalate_ticket")
    });
    tmux.literal("Escalated to Maria, who calls the customer today");
    tmux.wait_for("a valid answer", |s| {
        s.contains("valid: 1 item(s), success true")
    });
    tmux.keys(&["C-s"]);

    // 5. The resolved row, and the assistant reply quoting the answer.
    let screen = tmux.wait_for("the assistant reply", |s| {
        s.contains("escalate_ticket answered by operator")
            && s.contains("- escalate_ticket: Escalated to Maria")
    });
    assert!(screen.contains("waiting on you 0"), "{screen}");
    assert!(screen.contains("by hand 1"), "{screen}");

    // 6. Quit cleanly: nothing waits, so no question is asked.
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
}

#[test]
fn a_remote_client_answers_a_call_shown_in_the_console() {
    let data = tempfile::tempdir().unwrap();
    let command = format!(
        "SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' demo --listen 127.0.0.1:0 --no-auth; echo switchboard-exited-$?; sleep 60",
        codex_bin().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_switchboard"),
    );
    let tmux = Tmux::start(&command, 120, 36);
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

    let listed = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["tool-calls", "list", "--json", "--url", &url])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let call = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tool"] == "escalate_ticket")
        .expect("the console's call is listed by the API");
    let request_id = call["requestId"].as_str().unwrap();
    let answered = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "tool-calls",
            "respond",
            request_id,
            "--text",
            "escalated from another terminal",
            "--url",
            &url,
        ])
        .status()
        .unwrap();
    assert!(answered.success());

    let screen = tmux.wait_for("the remote answer in the transcript", |s| {
        s.contains("escalate_ticket answered by remote")
            && s.contains("- escalate_ticket: escalated from another terminal")
    });
    assert!(screen.contains("waiting on you 0"), "{screen}");
    // The composer still has focus after sending: leave it, then quit.
    tmux.leave_composer();
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
}

/// BEL characters in `bytes` that are bells, not the ends of OSC sequences (titles).
fn bells(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut in_osc = false;
    let mut previous = 0u8;
    for &b in bytes {
        match b {
            b']' if previous == 0x1b => in_osc = true,
            0x07 if in_osc => in_osc = false,
            0x07 => count += 1,
            b'\\' if in_osc && previous == 0x1b => in_osc = false,
            _ => {}
        }
        previous = b;
    }
    count
}

#[test]
fn sigterm_and_sighup_give_the_terminal_back() {
    for signal in ["TERM", "HUP"] {
        let data = tempfile::tempdir().unwrap();
        let command = format!(
            "SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' demo; echo switchboard-exited-$?; sleep 60",
            codex_bin().display(),
            data.path().display(),
            env!("CARGO_BIN_EXE_switchboard"),
        );
        let tmux = Tmux::start(&command, 80, 24);
        tmux.wait_for("the demo session", |s| s.contains("session ready"));
        assert_eq!(tmux.pane_flag("#{alternate_on}"), "1");
        let pid = tmux.switchboard_pid();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
        tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
        assert_eq!(
            tmux.pane_flag("#{alternate_on} #{mouse_any_flag} #{mouse_button_flag}"),
            "0 0 0",
            "SIG{signal} left the alternate screen or the mouse on"
        );
    }
}

/// A catalog of two manual tools, for a burst that waits on the operator.
const BURST_CATALOG: &str = r#"
instructions = "Escalate and refund as told."

[[tools]]
name = "escalate_ticket"
description = "Escalate a ticket to a supervisor"
input_schema = { type = "object", properties = { ticket_id = { type = "string" } }, required = ["ticket_id"] }

[[tools]]
name = "refund_order"
description = "Refund an order"
input_schema = { type = "object", properties = { order_id = { type = "string" } }, required = ["order_id"] }
"#;

#[test]
fn an_operator_takes_a_burst_of_150_parallel_calls_at_80x24() {
    const ESCALATIONS: usize = 100;
    const REFUNDS: usize = 50;
    let data = tempfile::tempdir().unwrap();
    let catalog = data.path().join("burst.toml");
    std::fs::write(&catalog, BURST_CATALOG).unwrap();
    let output = data.path().join("pane.bytes");
    let command = format!(
        "SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' demo --catalog '{}'; echo switchboard-exited-$?; sleep 60",
        codex_bin().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_switchboard"),
        catalog.display(),
    );
    let tmux = Tmux::start(&command, 80, 24);
    tmux.record_output(&output);
    tmux.wait_for("the demo's first session", |s| s.contains("session ready"));

    // One message that makes the model call both tools 150 times in one response, in
    // place of the demo's suggestion (^A ^K: the composer's line start and kill line).
    tmux.keys(&["C-a", "C-k"]);
    tmux.wait_for("an empty composer", |s| {
        s.contains("for the selected session; Enter sends")
    });
    let message = format!(
        "{}{}",
        "call:escalate_ticket ".repeat(ESCALATIONS),
        "call:refund_order ".repeat(REFUNDS)
    );
    tmux.paste(message.trim_end());
    tmux.keys(&["Enter"]);
    tmux.wait_for("the whole burst in the queue", |s| {
        s.contains("of 150 · 150 on you")
    });

    // Enter moved focus to the transcript; Tab goes on to the queue. Filter it to the
    // escalations, mark them all (Space on the first, End, V for the range), open one
    // and send its answer to every marked call (F6).
    tmux.keys(&["Tab"]);
    tmux.wait_for("the queue focused", |s| {
        s.lines().last().is_some_and(|l| l.contains("mark"))
    });
    // (The session's title is its first message, which names both tools: filter on
    // what only the escalations' arguments hold.)
    tmux.keys(&["/"]);
    tmux.literal("ticket_id");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the escalations only", |s| s.contains("1 of 100 (of 150)"));
    tmux.keys(&["Space"]);
    tmux.keys(&["End"]);
    tmux.keys(&["V"]);
    tmux.wait_for("every escalation marked", |s| s.contains("100 marked"));
    tmux.keys(&["a"]);
    tmux.wait_for("the editor on an escalation", |s| {
        s.contains("Answer escalate_ticket")
    });
    tmux.literal("escalated to Maria");
    tmux.wait_for("a valid answer", |s| s.contains("valid: 1 item(s)"));
    tmux.keys(&["F6"]);
    tmux.wait_for("the escalations answered", |s| {
        s.contains("waiting on you 50") && !s.contains("marked")
    });
    // Clear the filter: the refunds are left.
    tmux.keys(&["/"]);
    tmux.keys(&["Escape"]);
    tmux.wait_for("only the refunds left", |s| s.contains("of 50 · 50 on you"));

    // One refund by hand, after reading it in the detail view.
    tmux.keys(&["v"]);
    tmux.wait_for("the call in the detail view", |s| {
        s.contains("tool refund_order · call")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the queue again", |s| s.contains("of 50 · 50 on you"));
    tmux.keys(&["a"]);
    tmux.wait_for("the editor on a refund", |s| {
        s.contains("Answer refund_order")
    });
    tmux.literal("refunded in full");
    tmux.wait_for("a valid answer", |s| s.contains("valid: 1 item(s)"));
    tmux.keys(&["C-s"]);
    tmux.wait_for("49 refunds left", |s| s.contains("of 49 · 49 on you"));

    // Fail the rest at once, with a reason.
    tmux.keys(&["a"]);
    tmux.wait_for("the editor on a refund", |s| {
        s.contains("Answer refund_order")
    });
    tmux.keys(&["F3"]);
    tmux.wait_for("fail mode", |s| s.contains("Reason for failing"));
    tmux.literal("refunds are frozen today");
    tmux.wait_for("a valid failure", |s| s.contains("success false"));
    tmux.keys(&["F7"]);
    let screen = tmux.wait_for("an empty queue and the model's reply", |s| {
        s.contains("no tool call is waiting") && s.contains("waiting on you 0")
    });
    assert!(screen.contains("by hand 150"), "{screen}");

    // Quit: nothing waits, so nothing is asked.
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));

    // One bell for the burst (the calls came in one response), not one per call.
    let written = std::fs::read(&output).unwrap();
    let rung = bells(&written);
    assert!((1..=3).contains(&rung), "{rung} bells for one burst");

    // Every call ended exactly once, as the operator said.
    let sessions = data.path().join("sessions");
    let mut requested = std::collections::HashSet::new();
    let mut ended: std::collections::HashMap<String, Vec<serde_json::Value>> =
        std::collections::HashMap::new();
    for file in std::fs::read_dir(&sessions).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = row["requestId"].as_str().unwrap_or_default().to_string();
            match row["type"].as_str() {
                Some("tool_call.request") => {
                    requested.insert(id);
                }
                Some("tool_call.resolved") => ended.entry(id).or_default().push(row),
                _ => {}
            }
        }
    }
    assert_eq!(requested.len(), ESCALATIONS + REFUNDS);
    let mut failed = 0;
    for id in &requested {
        let ends = ended.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(ends.len(), 1, "call {id} ended {} times", ends.len());
        assert_eq!(ends[0]["status"], "resolved", "{}", ends[0]);
        if ends[0]["success"] == false {
            failed += 1;
        }
    }
    assert_eq!(failed, REFUNDS - 1);
}

/// A real `codex app-server --listen` on `url` (`ws://127.0.0.1:PORT`), on the scripted
/// model whose codex home is `home`; returns once it listens.
async fn codex_listening_at(home: &std::path::Path, url: &str) -> tokio::process::Child {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(codex_bin())
        .args(["app-server", "--listen", url])
        .env("CODEX_HOME", home)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.trim().starts_with("listening on: ") {
                return;
            }
        }
        panic!("codex exited without listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Defect 15 and issue 14 on the real binary and the real codex: the console names a
/// session (`e`, `thread/name/set`) and shows its tokens; when app-server goes away and
/// reconnecting gives up, the header and the transcript say it gave up and offer ^R;
/// with app-server back, ^R reconnects and the session is resumed.
#[test]
fn after_reconnecting_gives_up_r_reconnects_to_the_real_codex() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let catalog_path = super::support::repo_path("tests/fixtures/catalogs/manual.toml");
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let (model, codex, url) = runtime.block_on(async {
        let catalog = switchboard::catalog::Catalog::load(&catalog_path).unwrap();
        let model = switchboard::model::ModelServer::start(
            switchboard::model::Scenario::load("auto").unwrap(),
            switchboard::cli::scripted::model_options(&catalog),
        )
        .await
        .unwrap();
        let (codex, url) = super::websocket::listening_codex(&model, home.path()).await;
        (model, codex, url)
    });
    let command = format!(
        "SWITCHBOARD_DATA_DIR='{}' XDG_CONFIG_HOME='{}' '{}' --connect '{url}' --reconnect-attempts 2 --catalog '{}'; echo switchboard-exited-$?; sleep 60",
        data.path().display(),
        config.path().display(),
        env!("CARGO_BIN_EXE_switchboard"),
        catalog_path.display(),
    );
    let tmux = Tmux::start(&command, 120, 36);
    let header = |s: &str| s.lines().next().unwrap_or_default().to_string();
    tmux.wait_for("the connection", |s| header(s).contains("· connected"));

    // A session with one turn (so app-server can resume it later), then named.
    tmux.keys(&["n"]);
    tmux.wait_for("a session", |s| s.contains("session ready"));
    // Only the handler's tool: the turn ends on its own.
    tmux.literal("please call:echo_args");
    tmux.keys(&["Enter"]);
    // Enter moved the focus to the transcript: keys are commands again.
    tmux.wait_for("the turn's end", |s| s.contains("completed ──"));
    tmux.keys(&["e"]);
    tmux.wait_for("the command line", |s| s.contains(":rename"));
    tmux.literal("nightly triage");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the new name and the tokens", |s| {
        s.contains("▸ nightly triage") && s.contains("tokens")
    });
    assert!(screen.contains("│nightly triage"), "{screen}");

    // app-server goes away: two attempts fail, the console gives up and says so.
    runtime.block_on(async {
        let mut codex = codex;
        codex.kill().await.unwrap();
    });
    // The header and the footer's notice come from two events, maybe two frames: wait
    // for both.
    let last_line = |s: &str| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string()
    };
    let screen = tmux.wait_for("giving up", |s| {
        header(s).contains("gave up reconnecting · ^R retries")
            && last_line(s).starts_with("^R retr")
    });
    assert!(
        !header(&screen).contains("reconnecting (attempt"),
        "{screen}"
    );
    assert!(
        screen.contains("gave up reconnecting to app-server after 2"),
        "the transcript's last row says it gave up:\n{screen}"
    );
    // The footer (its notice, then its hints) leads with the retry key.
    assert!(last_line(&screen).starts_with("^R retr"), "{screen}");

    // app-server is back on the same address: R reconnects and resumes the session.
    let _codex = runtime.block_on(codex_listening_at(home.path(), &url));
    tmux.keys(&["C-r"]);
    let screen = tmux.wait_for("the reconnect and the resume", |s| {
        header(s).contains("· connected") && s.contains("resumed")
    });
    assert!(screen.contains("nightly triage"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
    drop(model);
}

/// A catalog whose `lookup` answers `answer` and whose `other` (listed first, so the
/// inspector selects it) is described `about`.
pub(super) fn reload_catalog(answer: &str, about: &str) -> String {
    format!(
        r#"[[tools]]
name = "other"
description = "{about}"
input_schema = {{ type = "object" }}
handler = {{ static_text = "other answer" }}

[[tools]]
name = "lookup"
description = "looks a ticket up"
input_schema = {{ type = "object" }}
handler = {{ static_text = "{answer}" }}
"#
    )
}

#[test]
fn the_console_reloads_its_catalog_when_the_file_changes() {
    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("catalog.toml");
    std::fs::write(&path, reload_catalog("answer one", "another tool")).unwrap();
    let command = format!(
        "SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' --catalog '{}' --scripted-model; echo switchboard-exited-$?; sleep 60",
        codex_bin().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_switchboard"),
        path.display(),
    );
    let tmux = Tmux::start(&command, 120, 36);
    tmux.wait_for("the console", |s| s.contains("connected"));

    // 1. A session, and a call answered by the handler as the file first had it.
    tmux.keys(&["n"]);
    tmux.wait_for("a session", |s| {
        s.contains("Sessions (1)") && s.contains("session ready")
    });
    tmux.literal("call:lookup");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the first answer", |s| s.contains("- lookup: answer one"));

    // 2. Edit a handler and a description while the console runs. The new description
    // reaches new sessions only: the inspector says so.
    std::fs::write(
        &path,
        reload_catalog("answer two", "another tool, described better"),
    )
    .unwrap();
    leave_composer(&tmux);
    tmux.keys(&["t"]);
    tmux.wait_for("the inspector's mark", |s| {
        s.contains("other static NEW")
            && s.contains("new sessions only: 1 running session")
            && s.contains("another tool, described better")
    });
    // The next call of the running session gets the new handler.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the main view's keys", |s| {
        s.lines().last().is_some_and(|l| l.contains("Tab focus"))
    });
    tmux.keys(&["i"]);
    tmux.wait_for("the composer", |s| {
        s.lines().last().is_some_and(|l| l.contains("Enter send"))
    });
    tmux.literal("call:lookup");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the new handler's answer", |s| {
        s.contains("- lookup: answer two")
    });
    leave_composer(&tmux);
    tmux.keys(&["t"]);
    tmux.wait_for("the inspector", |s| s.contains("other static NEW"));

    // 3. A broken edit keeps the catalog in use and says where it is wrong, in the
    // header and the inspector.
    std::fs::write(
        &path,
        reload_catalog("answer three", "x").replace(
            "input_schema = { type = \"object\" }\nhandler = { static_text = \"answer three\" }",
            "input_schema = 5",
        ),
    )
    .unwrap();
    let at = format!("{}:10: tool `lookup`", path.display());
    let screen = tmux.wait_for("the reload error", |s| {
        s.contains("catalog reload failed, the previous catalog stays in use:")
            && s.contains("catalog reload failed: the previous catalog stays")
    });
    assert!(screen.contains(&at), "{screen}");
    assert!(
        screen.contains("another tool, described better"),
        "{screen}"
    );

    // 4. `n` in the inspector starts a session with the catalog in use.
    tmux.keys(&["n"]);
    tmux.wait_for("a second session", |s| {
        s.contains("sessions 2") && s.contains("session ready")
    });

    // 5. Fixed again: the error goes away, and the new handler is in use.
    std::fs::write(
        &path,
        reload_catalog("answer three", "another tool, described better"),
    )
    .unwrap();
    tmux.wait_for("the error gone", |s| !s.contains("reload failed"));
    tmux.keys(&["j"]);
    let screen = tmux.wait_for("the handler's change", |s| {
        s.contains("reload   handler, applies now")
    });
    // The static answer, wrapped in the details: `..."text":"answer three"}]...`.
    assert!(screen.contains("three\"}],\"success\":true}"), "{screen}");

    // 6. Back to the main view, where the new session's composer has the focus; leave
    // it, and quit.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the composer of the main view", |s| {
        s.lines().last().is_some_and(|l| l.contains("Enter send"))
    });
    leave_composer(&tmux);
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
}

/// Leaves the composer and waits until the main view's keys apply, which the composer's
/// own footer (it has `Tab focus` too) does not show: a key sent before would follow the
/// Escape too closely and reach the console as Alt+key.
fn leave_composer(tmux: &Tmux) {
    tmux.keys(&["Escape"]);
    tmux.wait_for("the main view's keys", |s| {
        s.lines()
            .last()
            .is_some_and(|l| l.contains("Tab focus") && !l.contains("Enter send"))
    });
}

/// The probe key and the replay key on the real binary and the real codex: the
/// inspector shows what the model sees, and a call replayed after its handler's answer
/// changed shows the recorded answer, the new one and the diff.
#[test]
fn the_inspector_probes_the_catalog_and_the_transcript_replays_a_call() {
    let data = tempfile::tempdir().unwrap();
    let answer = data.path().join("answer.txt");
    std::fs::write(&answer, "ticket T-1: open\n").unwrap();
    let catalog = data.path().join("probe.toml");
    std::fs::write(
        &catalog,
        format!(
            r#"
[[tools]]
name = "lookup_ticket"
description = "Look up a ticket"
input_schema = {{ type = "object", properties = {{ ticket_id = {{ type = "string" }} }} }}
handler = {{ command = ["cat", "{}"] }}

[[tools]]
name = "due_date"
description = "When a ticket is due"
input_schema = {{ type = "object", properties = {{ when = {{ type = "date" }} }} }}
handler = {{ static_text = "tomorrow" }}
"#,
            answer.display()
        ),
    )
    .unwrap();
    let command = format!(
        "SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' demo --catalog '{}'; echo switchboard-exited-$?; sleep 60",
        codex_bin().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_switchboard"),
        catalog.display(),
    );
    let tmux = Tmux::start(&command, 160, 48);
    tmux.wait_for("the demo's first session", |s| s.contains("session ready"));

    // 1. One call, answered by the handler.
    tmux.keys(&["C-a", "C-k"]);
    tmux.wait_for("an empty composer", |s| {
        s.contains("for the selected session; Enter sends")
    });
    tmux.literal("call:lookup_ticket");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the handler's answer", |s| {
        s.contains("lookup_ticket answered by handler lookup_ticket")
    });

    // 2. The probe, in the background: the inspector shows what the model sees.
    tmux.leave_composer();
    tmux.keys(&["t"]);
    tmux.wait_for("the inspector", |s| s.contains("not probed yet"));
    tmux.keys(&["p"]);
    let screen = tmux.wait_for("the probe's report", |s| s.contains("probed at"));
    assert!(
        screen.contains("this tool offered as the catalog writes it"),
        "{screen}"
    );
    assert!(
        screen.contains("sanitised due_date: input_schema.properties.when is {} for the model"),
        "{screen}"
    );
    // The statistics of the call made above.
    assert!(
        screen.contains("0% broke input_schema (0 of 1)"),
        "{screen}"
    );

    // 3. The handler now answers otherwise; replay the recorded call from the
    // transcript (its resolved row, found with the filter).
    std::fs::write(&answer, "ticket T-1: closed\n").unwrap();
    tmux.keys(&["Escape"]);
    tmux.wait_for("the main view", |s| s.contains("Tab focus"));
    // Filter the focused pane; Tab on until the filter is the transcript's.
    for attempt in 0.. {
        assert!(attempt < 4, "the transcript never took the focus");
        tmux.keys(&["/"]);
        tmux.literal("tool_call.resolved");
        tmux.keys(&["Enter"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut found = false;
        while !found && Instant::now() < deadline {
            found = tmux.screen().contains("row(s) /tool_call.resolved");
            // Polling a pane: tmux offers no way to be told when it changes.
            std::thread::sleep(Duration::from_millis(50));
        }
        if found {
            break;
        }
        tmux.keys(&["Tab"]);
    }
    tmux.keys(&["g", "R"]);
    let screen = tmux.wait_for("the replay report", |s| {
        s.contains("Replay of lookup_ticket") && s.contains("+ ticket T-1: closed")
    });
    assert!(
        screen.contains("CHANGED: today's handler answers differently"),
        "{screen}"
    );
    assert!(screen.contains("- ticket T-1: open"), "{screen}");
    assert!(screen.contains("nothing was sent to codex"), "{screen}");

    // 4. Back, and quit cleanly.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the main view", |s| !s.contains("Replay of lookup_ticket"));
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
}

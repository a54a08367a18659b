//! The real `switchboard demo` binary in tmux, against the real codex and the scripted
//! model: an operator creates a session, sends a message, answers the manual call from
//! the editor, sees the answer quoted back, and quits.

use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{WAIT, codex_bin};

/// A detached tmux session running one command; killed when dropped.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(command: &str, width: u16, height: u16) -> Tmux {
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

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn literal(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Leaves the composer and waits until the main keys apply: a key sent right after
    /// Escape would reach the console as Alt+key.
    fn leave_composer(&self) {
        self.keys(&["Escape"]);
        self.wait_for("the main view's keys", |s| {
            s.lines().last().is_some_and(|l| l.contains("Tab focus"))
        });
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the pane until `check` accepts it; fails with the last screen after WAIT.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
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

//! The fleet in the console, on the real binary in tmux: `demo --scripted-app-servers 2`
//! runs two real codex app-servers on the scripted model. The header counts them, `n`
//! asks which one a new session goes to, the session carries its app-server's name, and
//! when one codex is killed only its call ends while the other's still waits.

use std::process::Command;

use super::console_tmux::Tmux;
use super::support::codex_bin;

/// The pid of the codex whose CODEX_HOME is the `index`th scripted home of the
/// switchboard process `switchboard` (the second and later are named `-N-`).
fn scripted_codex_pid(switchboard: &str, index: usize) -> Option<String> {
    let home = format!("switchboard-codex-home-{index}-{switchboard}-");
    let out = Command::new("pgrep")
        .args(["-f", "codex app-server"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|var| String::from_utf8_lossy(var).contains(&home))
            })
        })
        .map(str::to_string)
}

fn fleet_in_the_console(width: u16, height: u16) {
    let data = tempfile::tempdir().unwrap();
    let command = format!(
        "SWITCHBOARD_CODEX_BIN='{}' SWITCHBOARD_DATA_DIR='{}' '{}' demo --scripted-app-servers 2; echo switchboard-exited-$?; sleep 60",
        codex_bin().display(),
        data.path().display(),
        env!("CARGO_BIN_EXE_switchboard"),
    );
    let tmux = Tmux::start(&command, width, height);
    let both_up = |s: &str| {
        s.contains("2/2 up") || (s.contains("scripted-1 up") && s.contains("scripted-2 up"))
    };
    tmux.wait_for("both app-servers up and the demo's session", |s| {
        both_up(s) && s.contains("session ready")
    });

    // The demo's session went to the default; its call waits on the operator.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the first session's call", |s| {
        s.contains("Pending calls 1 of 1")
    });

    // A new session asks which app-server; the second is picked.
    tmux.leave_composer();
    tmux.keys(&["n"]);
    let picker = tmux.wait_for("the app-server picker", |s| {
        s.contains("New session on") && s.contains("scripted-2")
    });
    assert!(picker.contains("scripted-1"), "{picker}");
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for("a session on scripted-2", |s| {
        s.contains("on scripted-2") && s.contains("session ready")
    });
    tmux.literal("please escalate: call:escalate_ticket");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("a call on each app-server", |s| {
        s.contains("Pending calls") && s.contains("of 2")
    });
    assert!(
        screen.contains("scripted-1") && screen.contains("scripted-2"),
        "each session shows its app-server:\n{screen}"
    );

    // scripted-2's codex dies: only its call ends; scripted-1's still waits, and
    // scripted-2 comes back (a spawned app-server is restarted).
    let switchboard = tmux.switchboard_pid();
    let pid = scripted_codex_pid(&switchboard, 2).expect("scripted-2's codex process");
    let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success());
    let screen = tmux.wait_for("scripted-2's call expired, scripted-1's waiting", |s| {
        s.contains("expired 1") && s.contains("Pending calls 1 of 1")
    });
    assert!(screen.contains("scripted-2"), "{screen}");
    tmux.wait_for("scripted-2 back", both_up);

    // The waiting call is scripted-1's, and it is still answerable (sending the message
    // left the composer; the footer may be showing the lost connection's notice).
    tmux.keys(&["a"]);
    tmux.wait_for("the editor on the remaining call", |s| {
        s.contains("Answer escalate_ticket")
    });
    tmux.literal("escalated on the first app-server");
    tmux.wait_for("a valid answer", |s| s.contains("valid: 1 item(s)"));
    tmux.keys(&["C-s"]);
    tmux.wait_for("the remaining call answered", |s| {
        s.contains("by hand 1") && s.contains("no tool call is waiting")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
}

#[test]
fn a_console_over_two_app_servers_at_80x24() {
    fleet_in_the_console(80, 24);
}

#[test]
fn a_console_over_two_app_servers_at_160x48() {
    fleet_in_the_console(160, 48);
}

//! Remote consoles (`switchboard --remote URL`) in tmux, on a `switchboard serve` over the
//! real codex and the scripted model: the real binary at 80x24 and 160x48.
//!
//! - A console killed while a call waits loses nothing: the call is still pending in
//!   `serve`, a new console shows it waiting on you and answers it from the editor, and
//!   codex's turn completes with that answer. When `serve` itself restarts, the header
//!   says the link is lost and the console comes back to the new server on its own.
//! - Two consoles with their own operator names share one queue: the call one has open
//!   reads "being answered by ana" on the other, whose send is refused; the holder's
//!   answer is written once and credited to her; a console killed while holding a claim
//!   frees it when its lease runs out, to the console that has the call open.
//! - A command approval claimed on one console shows as claimed on the other, which
//!   cannot decide it; the holder's decision runs the command once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;

use serde_json::{Value, json};
use switchboard::model::{ModelServer, Scenario};

use super::console_tmux::Tmux;
use super::serve_support::switchboard;
use super::support::{WAIT, codex_bin, repo_path, write_shell_codex_home};
use std::time::Instant;

const CATALOG: &str = "assets/support.toml";

/// `switchboard serve` at a given address (port 0: a free one), stopped with SIGTERM.
struct Serve {
    child: Child,
    url: String,
    token: String,
}

impl Serve {
    /// Starts `serve --listen ADDR ARGS` with `home` as its config home (its token file
    /// is written there) and waits for its address.
    fn start(home: &Path, listen: &str, envs: &[(&str, &str)], args: &[&str]) -> Serve {
        let mut command = switchboard();
        command
            .current_dir(home)
            .arg("serve")
            .args(["--listen", listen])
            .args(args)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let url = loop {
            let line = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
                panic!("serve printed no address; status {:?}", child.try_wait())
            });
            if let Some(found) = line.strip_prefix("listening on ") {
                break found.trim().to_string();
            }
        };
        let token_file = home.join("config/switchboard/token");
        let token = std::fs::read_to_string(&token_file)
            .unwrap_or_else(|e| panic!("{}: {e}", token_file.display()))
            .trim()
            .to_string();
        Serve { child, url, token }
    }

    /// `host:port`, to start the next server at the same address.
    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// `switchboard ARGS --url URL --token TOKEN`: succeeded, stdout, stderr.
    fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let output = switchboard()
            .args(args)
            .args(["--url", &self.url, "--token", &self.token])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    }

    /// The pending tool calls, as the API lists them.
    fn pending_calls(&self) -> Vec<Value> {
        let (ok, out, err) = self.cli(&["tool-calls", "list", "--json"]);
        assert!(ok, "{err}");
        let listed: Value = serde_json::from_str(&out).unwrap();
        listed["data"].as_array().cloned().unwrap_or_default()
    }

    /// The request id of the one pending call.
    fn the_pending_call(&self) -> String {
        let calls = self.pending_calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls[0]["requestId"].as_str().unwrap().to_string()
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.terminate();
        self.child.wait().unwrap()
    }

    fn terminate(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            let _ = self.child.wait();
        }
    }
}

/// `serve` on the scripted model with the example catalog, over a stdio codex.
fn scripted_serve(home: &Path, listen: &str) -> Serve {
    let catalog = repo_path(CATALOG);
    let data = home.join("data");
    Serve::start(
        home,
        listen,
        &[],
        &[
            "--scripted-model",
            "--catalog",
            catalog.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    )
}

/// A remote console on `serve` in tmux, as operator `name` (its console.toml, with a
/// short claim lease), in `home/work`.
fn console(home: &Path, serve: &Serve, name: &str, width: u16, height: u16) -> Tmux {
    let dir = home.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("console.toml");
    std::fs::write(
        &config,
        format!("operator = \"{name}\"\nclaim_lease_ms = 3000\n"),
    )
    .unwrap();
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    // The token comes from the file `serve` wrote, as for a console on its machine.
    let command = format!(
        "cd '{}' && XDG_CONFIG_HOME='{}' SWITCHBOARD_CONSOLE_CONFIG='{}' SWITCHBOARD_DATA_DIR='{}' SWITCHBOARD_CODEX_BIN='{}' '{}' --remote {}; echo switchboard-exited-$?; sleep 60",
        work.display(),
        home.join("config").display(),
        config.display(),
        dir.join("data").display(),
        codex_bin().display(),
        env!("CARGO_BIN_EXE_switchboard"),
        serve.url,
    );
    let tmux = Tmux::start(&command, width, height);
    tmux.wait_for("the console attached to serve", |s| {
        s.contains("remote 127.0.0.1:") && s.contains("connected")
    });
    tmux
}

/// Kills the console's process with SIGKILL: no chance to release anything.
fn kill(tmux: &Tmux) {
    let pid: i32 = tmux.switchboard_pid().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The shell's "Killed" line lands over the screen the console left: the marker may
    // wrap across rows.
    tmux.wait_for("the killed console's shell", |s| {
        s.lines()
            .collect::<String>()
            .contains("switchboard-exited-137")
    });
}

/// Leaves the composer when it has the keys, and waits for the main view's keys. A
/// notice ("answer sent") takes the footer's line until the next key, so the footer
/// cannot tell then: F12, which is bound to nothing and types nothing, clears it.
fn main_keys(tmux: &Tmux) {
    let deadline = Instant::now() + WAIT;
    loop {
        let screen = tmux.screen();
        let footer = screen.lines().last().unwrap_or_default().to_string();
        if footer.contains("Tab focus") && !footer.contains("Enter send") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the main view's keys; the screen was:\n{screen}"
        );
        if footer.contains("Enter send") {
            tmux.keys(&["Escape"]);
            // The next key goes only once this Escape is read (else: Alt+key).
            tmux.wait_for("the composer left", |s| {
                !s.lines().last().is_some_and(|l| l.contains("Enter send"))
            });
        } else {
            tmux.keys(&["F12"]);
            tmux.wait_for("the notice cleared", |s| {
                s.lines().last() != Some(footer.as_str())
            });
        }
    }
}

/// Sends a message from the composer of the selected session.
fn say(tmux: &Tmux, text: &str) {
    main_keys(tmux);
    tmux.keys(&["i"]);
    tmux.literal(text);
    tmux.keys(&["Enter"]);
}

/// Opens the oldest call in the editor.
fn open_call(tmux: &Tmux) {
    main_keys(tmux);
    tmux.keys(&["a"]);
    tmux.wait_for("the editor", |s| s.contains("Answer escalate_ticket"));
}

/// The transcript rows of every session `serve` wrote under `data`.
fn transcript_rows(data: &Path) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(&path).unwrap();
                rows.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
        }
    }
    rows
}

/// The `tool_call.resolved` rows of `request_id`.
fn resolutions(data: &Path, request_id: &str) -> Vec<Value> {
    transcript_rows(data)
        .into_iter()
        .filter(|r| r["type"] == "tool_call.resolved" && r["requestId"] == request_id)
        .collect()
}

#[test]
fn a_killed_remote_console_loses_no_call_and_the_link_comes_back_after_serve_restarts() {
    let home = tempfile::tempdir().unwrap();
    let serve = scripted_serve(home.path(), "127.0.0.1:0");

    // 1. A console at 80x24 starts a turn that raises a manual call.
    let first = console(home.path(), &serve, "ana", 80, 24);
    main_keys(&first);
    first.keys(&["n"]);
    first.wait_for("a session", |s| s.contains("session ready"));
    first.literal("please escalate T-1: call:escalate_ticket");
    first.keys(&["Enter"]);
    first.wait_for("the call waiting", |s| {
        s.contains("waiting on you 1") && s.contains("escalate_ticket")
    });
    let request_id = serve.the_pending_call();

    // 2. The console dies while the call waits; the call still waits in serve.
    kill(&first);
    drop(first);
    assert_eq!(serve.the_pending_call(), request_id);

    // 3. A new console shows it waiting on you and answers it from the editor; the turn
    // completes with that answer.
    let second = console(home.path(), &serve, "ana", 80, 24);
    second.wait_for("the call still waiting", |s| {
        s.contains("waiting on you 1") && s.contains("escalate_ticket")
    });
    open_call(&second);
    second.literal("after the restart");
    second.wait_for("a valid answer", |s| s.contains("valid: 1 item(s)"));
    second.keys(&["C-s"]);
    second.wait_for("the model's reply quoting the answer", |s| {
        s.contains("- escalate_ticket: after the restart")
            && s.contains("completed ──")
            && s.contains("waiting on you 0")
    });
    assert!(serve.pending_calls().is_empty());

    // 4. serve restarts at the same address: the header says the link is lost while it
    // is down, and the console is back on the new server once it is up.
    let addr = serve.addr().to_string();
    assert!(serve.stop().success());
    second.wait_for("the lost link in the header", |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.contains("link lost, retrying (attempt"))
    });
    let serve = scripted_serve(home.path(), &addr);
    // The new server starts empty (the scripted model's sessions are not restored).
    second.wait_for("the link back, on the new server", |s| {
        s.lines().next().is_some_and(|l| l.contains("connected")) && s.contains("sessions 0")
    });
    main_keys(&second);
    second.keys(&["n"]);
    second.wait_for("a session on the new server", |s| {
        s.contains("session ready") && s.contains("sessions 1")
    });
    main_keys(&second);
    second.keys(&["q"]);
    second.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
    assert!(serve.stop().success());
    let ends = resolutions(&home.path().join("data"), &request_id);
    assert_eq!(ends.len(), 1, "the call ends exactly once: {ends:?}");
}

#[test]
fn two_remote_consoles_share_one_queue_without_a_double_answer() {
    let home = tempfile::tempdir().unwrap();
    let serve = scripted_serve(home.path(), "127.0.0.1:0");
    let ana = console(home.path(), &serve, "ana", 80, 24);
    let bo = console(home.path(), &serve, "bo", 160, 48);

    // 1. ana's turn raises a call; both consoles see it.
    main_keys(&ana);
    ana.keys(&["n"]);
    ana.wait_for("a session", |s| s.contains("session ready"));
    ana.literal("please escalate T-1: call:escalate_ticket");
    ana.keys(&["Enter"]);
    for tmux in [&ana, &bo] {
        tmux.wait_for("the call in the queue", |s| {
            s.contains("Pending calls 1 of 1")
        });
    }
    let first = serve.the_pending_call();

    // 2. ana opens it (claims it); bo sees who answers it, and his send is refused.
    open_call(&ana);
    ana.wait_for("ana's claim", |s| {
        s.contains("⚑ yours: others see \"being answered by ana\"")
    });
    bo.wait_for("the claim in bo's queue", |s| {
        s.contains("being answered by ana") && s.contains("⚑ ana")
    });
    open_call(&bo);
    bo.wait_for("bo's editor naming the holder", |s| {
        s.contains("being answered by ana · F8 takes it over")
    });
    bo.literal("by bo");
    bo.keys(&["C-s"]);
    bo.wait_for("the refusal", |s| {
        s.contains("not sent: being answered by ana")
    });

    // 3. ana answers: once, credited to her, on both consoles.
    ana.literal("by ana");
    ana.keys(&["C-s"]);
    ana.wait_for("ana's answer reaching the model", |s| {
        s.contains("- escalate_ticket: by ana") && s.contains("waiting on you 0")
    });
    bo.wait_for("bo told the call ended", |s| {
        s.contains("call already ended")
    });
    bo.keys(&["Escape"]);
    let screen = bo.wait_for("the answer on bo's console", |s| {
        s.contains("escalate_ticket answered by remote console ana")
            && s.contains("- escalate_ticket: by ana")
            && s.contains("waiting on you 0")
    });
    assert_eq!(
        screen.matches("escalate_ticket answered by").count(),
        1,
        "{screen}"
    );
    assert!(serve.pending_calls().is_empty());

    // 4. A second call: ana opens it and dies holding the claim; bo, who has it open,
    // takes it when her lease runs out, and answers.
    say(&ana, "please escalate T-2: call:escalate_ticket");
    bo.wait_for("the second call in bo's queue", |s| {
        s.contains("Pending calls 1 of 1")
    });
    let second = serve.the_pending_call();
    assert_ne!(second, first);
    open_call(&ana);
    ana.wait_for("ana's claim", |s| {
        s.contains("⚑ yours: others see \"being answered by ana\"")
    });
    open_call(&bo);
    bo.wait_for("bo's editor naming ana", |s| {
        s.contains("being answered by ana · F8 takes it over")
    });
    kill(&ana);
    bo.wait_for("bo's claim after ana's lease ran out", |s| {
        s.contains("⚑ yours: others see \"being answered by bo\"")
    });
    bo.literal("bo after ana died");
    bo.keys(&["C-s"]);
    bo.wait_for("bo's answer reaching the model", |s| {
        s.contains("- escalate_ticket: bo after ana died") && s.contains("waiting on you 0")
    });
    main_keys(&bo);
    bo.keys(&["q"]);
    bo.wait_for("a clean exit", |s| s.contains("switchboard-exited-0"));
    assert!(serve.stop().success());

    let data = home.path().join("data");
    for (request_id, by) in [(&first, "console ana"), (&second, "console bo")] {
        let ends = resolutions(&data, request_id);
        assert_eq!(ends.len(), 1, "answered exactly once: {ends:?}");
        assert_eq!(
            ends[0]["answeredBy"],
            json!({ "kind": "remote", "client": by }),
            "{ends:?}"
        );
    }
}

#[test]
fn an_approval_claimed_on_one_remote_console_is_shown_claimed_on_the_other() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let command = json!({ "cmd": format!("touch {}/ran.txt && echo RAN", work.display()) });
    let scenario = format!(
        "[[turn]]\nmatch = \"run the command\"\n[[turn.round]]\ncalls = [ {{ tool = \"exec_command\", arguments_json = {} }} ]\n[turn.reply]\ntext = \"model saw: {{outputs}}\"\n",
        toml::Value::String(command.to_string())
    );
    let scenario_path = home.path().join("scenario.toml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let model = runtime
        .block_on(ModelServer::start(
            Scenario::load(scenario_path.to_str().unwrap()).unwrap(),
            switchboard::model::ModelOptions::default(),
        ))
        .unwrap();
    let codex_home: PathBuf = home.path().join("codex");
    write_shell_codex_home(&codex_home, &model.base_url(), "");
    let data = home.path().join("data");
    let serve = Serve::start(
        home.path(),
        "127.0.0.1:0",
        &[("CODEX_HOME", codex_home.to_str().unwrap())],
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--approval-policy",
            "untrusted",
            "--sandbox",
            "danger-full-access",
        ],
    );
    let ana = console(home.path(), &serve, "ana", 80, 24);
    let bo = console(home.path(), &serve, "bo", 160, 48);

    main_keys(&ana);
    ana.keys(&["n"]);
    ana.wait_for("a session", |s| s.contains("session ready"));
    ana.literal("run the command");
    ana.keys(&["Enter"]);
    for tmux in [&ana, &bo] {
        tmux.wait_for("the approval", |s| s.contains("Approvals & questions 1"));
    }

    // ana opens its card (claims it); bo's list says who answers it, his card too.
    main_keys(&ana);
    ana.keys(&["A"]);
    ana.wait_for("ana's command card", |s| s.contains("command · session"));
    bo.wait_for("the claim in bo's list", |s| {
        s.contains("being answered by ana · ")
    });
    main_keys(&bo);
    bo.keys(&["A"]);
    bo.wait_for("bo's card naming the holder", |s| {
        s.contains("command · session") && s.contains("⚑ being answered by ana · F8 takes it over")
    });
    // bo's accept is refused: nothing runs.
    bo.keys(&["Enter"]);
    bo.wait_for("bo's decision refused", |s| {
        s.contains("not sent: the command approval is being answered by ana")
    });
    assert!(!work.join("ran.txt").exists());

    // ana accepts: the command runs once, and both consoles see the approval gone.
    ana.keys(&["Enter"]);
    ana.wait_for("the command's output reaching the model", |s| {
        s.contains("model saw:") && s.contains("RAN")
    });
    assert!(work.join("ran.txt").exists());
    bo.keys(&["Escape"]);
    bo.wait_for("the approval resolved on bo's console", |s| {
        s.contains("model saw:") && !s.contains("Approvals & questions 1")
    });
    let (ok, out, err) = serve.cli(&["requests", "list", "--json"]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["data"], json!([]), "{listed}");
    drop(ana);
    drop(bo);
    assert!(serve.stop().success());
}

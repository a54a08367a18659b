//! `switchboard serve` as a child process on 127.0.0.1:0, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use super::support::{WAIT, codex_bin};

pub fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.env("SWITCHBOARD_CODEX_BIN", codex_bin());
    for key in [
        "SWITCHBOARD_URL",
        "SWITCHBOARD_TOKEN",
        "CODEX_MANAGER_API_BASE",
        "CODEX_MANAGER_API_PREFIX",
        "CODEX_MANAGER_BEARER_TOKEN",
    ] {
        command.env_remove(key);
    }
    command
}

pub struct ServeProcess {
    child: Child,
    pub url: String,
    /// The `bearer token: ...` line.
    pub token_line: String,
    stderr: mpsc::Receiver<String>,
}

impl ServeProcess {
    /// Starts `serve` with `args` (plus `--listen 127.0.0.1:0`) and waits for its address.
    pub fn start(
        config_home: &std::path::Path,
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> ServeProcess {
        let mut command = switchboard();
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("XDG_CONFIG_HOME", config_home)
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
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut url = None;
        let mut token_line = None;
        while url.is_none() || token_line.is_none() {
            let line = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
                panic!("serve printed no address; status {:?}", child.try_wait())
            });
            if let Some(found) = line.strip_prefix("listening on ") {
                url = Some(found.trim().to_string());
            }
            if line.starts_with("bearer token") || line.starts_with("no bearer token") {
                token_line = Some(line);
            }
        }
        ServeProcess {
            child,
            url: url.unwrap_or_default(),
            token_line: token_line.unwrap_or_default(),
            stderr: rx,
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate();
        self.child.wait().unwrap()
    }

    /// SIGKILL: `serve` gets no chance to clean up.
    pub fn kill(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }

    /// Stderr lines printed so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// The next stderr line that `check` accepts (earlier ones are dropped); fails after
    /// WAIT.
    pub fn wait_for_stderr(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if check(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("serve printed no line with {what}"),
            }
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            let _ = self.child.wait();
        }
    }
}

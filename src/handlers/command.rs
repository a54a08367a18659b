//! Command handlers: one process per call, the call as JSON on stdin, the answer on stdout.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};
use tokio::sync::watch;

use super::HandlerInput;
use super::output::{Captured, CommandEnd, MAX_OUTPUT_BYTES, failure_outcome, map_command_output};
use crate::catalog::CommandSpec;
use crate::protocol::ToolCallResult;

/// How long pipes may stay open after the handler exits. They close as soon as every process
/// holding them is gone; only a background process started by the handler keeps them open.
const PIPE_GRACE: Duration = Duration::from_millis(250);

const READ_CHUNK: usize = 64 * 1024;

/// Runs `spec` for one call. Never fails: every problem becomes a `success: false` answer.
pub(super) async fn run(
    spec: &CommandSpec,
    input: &HandlerInput,
) -> (ToolCallResult, Option<String>) {
    let tool = input.tool.as_str();
    let mut payload = match serde_json::to_vec(input) {
        Ok(payload) => payload,
        Err(error) => {
            return failure_outcome(format!(
                "could not encode the call for handler `{tool}`: {error}"
            ));
        }
    };
    payload.push(b'\n');
    match run_process(spec, payload, tool).await {
        Ok(run) => map_command_output(tool, run.end, &run.captured()),
        Err(summary) => failure_outcome(summary),
    }
}

/// What one run of a command produced.
pub(super) struct ProcessRun {
    pub end: CommandEnd,
    stdout: Capture,
    stderr: Capture,
}

impl ProcessRun {
    pub fn captured(&self) -> Captured<'_> {
        Captured {
            stdout: &self.stdout.bytes,
            stderr: &self.stderr.bytes,
            stdout_truncated: self.stdout.truncated,
            stderr_truncated: self.stderr.truncated,
        }
    }
}

/// Runs `spec` once with `payload` on stdin: its process group, its timeout, its capped
/// pipes. `Err` only when it could not be started or waited for; `label` names it.
pub(super) async fn run_process(
    spec: &CommandSpec,
    payload: Vec<u8>,
    label: &str,
) -> Result<ProcessRun, String> {
    let tool = label;
    let mut command = Command::new(&spec.program);
    command
        .args(spec.argv.get(1..).unwrap_or_default())
        .current_dir(&spec.cwd)
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout can kill whatever the handler started as well.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let place = if spec.cwd.is_dir() {
                String::new()
            } else {
                format!(" (its folder {} does not exist)", spec.cwd.display())
            };
            return Err(format!(
                "could not start handler `{tool}`: {}: {error}{place}",
                spec.program.display()
            ));
        }
    };
    // The group id is the child's pid (process_group(0)). Until the child is reaped its pid
    // cannot be reused, so killing the group before reaping never hits a stranger.
    let mut group = GroupGuard {
        pgid: child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw),
        armed: true,
    };

    // Every pipe task holds a receiver; when all have finished, `stop.closed()` resolves.
    let (stop, stop_rx) = watch::channel(false);
    let write = write_input(child.stdin.take(), payload, stop_rx.clone());
    let read_out = read_capped(child.stdout.take(), Keep::Head, stop_rx.clone());
    let read_err = read_capped(child.stderr.take(), Keep::Tail, stop_rx);

    let supervise = async {
        let end = match tokio::time::timeout(spec.timeout, child.wait()).await {
            Ok(Ok(status)) => Ok(command_end(status)),
            Ok(Err(error)) => {
                group.kill();
                let _ = child.kill().await;
                Err(format!("could not wait for handler `{tool}`: {error}"))
            }
            Err(_) => {
                group.kill();
                let _ = child.kill().await;
                Ok(CommandEnd::TimedOut(spec.timeout))
            }
        };
        if tokio::time::timeout(PIPE_GRACE, stop.closed())
            .await
            .is_err()
        {
            tracing::warn!(
                tool,
                "handler left processes holding its output pipes; killing its process group"
            );
            group.kill();
            if tokio::time::timeout(PIPE_GRACE, stop.closed())
                .await
                .is_err()
            {
                // Something left the group (setsid) and still holds a pipe: stop reading.
                let _ = stop.send(true);
            }
        }
        end
    };

    let (end, (), stdout, stderr) = tokio::join!(supervise, write, read_out, read_err);
    match &end {
        // The run ended normally: background processes that let go of the pipes may stay.
        Ok(CommandEnd::Exited(_) | CommandEnd::Signaled(_)) => group.armed = false,
        Ok(CommandEnd::TimedOut(_)) | Err(_) => {}
    }
    Ok(ProcessRun {
        end: end?,
        stdout,
        stderr,
    })
}

fn command_end(status: ExitStatus) -> CommandEnd {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => CommandEnd::Exited(code),
        (None, Some(signal)) => CommandEnd::Signaled(signal),
        // Neither code nor signal does not happen on Unix for a waited-for child.
        (None, None) => CommandEnd::Exited(-1),
    }
}

/// Kills the handler's process group when dropped armed: on timeout and when the call is
/// abandoned (the future dropped), `kill_on_drop` alone would only reach the direct child.
struct GroupGuard {
    pgid: Option<Pid>,
    armed: bool,
}

impl GroupGuard {
    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            // ESRCH just means the group is already gone.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            self.kill();
        }
    }
}

/// Writes the call then closes stdin. A handler that never reads stdin is fine: the write
/// fails with a broken pipe once it exits, or stops when told to.
async fn write_input(stdin: Option<ChildStdin>, payload: Vec<u8>, mut stop: watch::Receiver<bool>) {
    let Some(mut stdin) = stdin else {
        return;
    };
    tokio::select! {
        _ = async {
            let _ = stdin.write_all(&payload).await;
            let _ = stdin.shutdown().await;
        } => {}
        _ = stop.changed() => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Stdout: the answer is at the start.
    Head,
    /// Stderr: the error is usually at the end.
    Tail,
}

#[derive(Debug, Default)]
struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Reads a pipe to its end, keeping at most [`MAX_OUTPUT_BYTES`]. It goes on reading and
/// discarding past the cap, so a chatty handler never blocks on a full pipe.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: Option<R>,
    keep: Keep,
    mut stop: watch::Receiver<bool>,
) -> Capture {
    let mut capture = Capture::default();
    let Some(mut reader) = reader else {
        return capture;
    };
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let read = tokio::select! {
            read = reader.read(&mut chunk) => read,
            _ = stop.changed() => break,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = &chunk[..n];
        match keep {
            Keep::Head => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(capture.bytes.len());
                if data.len() > room {
                    capture.truncated = true;
                }
                capture
                    .bytes
                    .extend_from_slice(&data[..data.len().min(room)]);
            }
            Keep::Tail => {
                capture.bytes.extend_from_slice(data);
                // Trim in batches so a long stream costs amortised linear time.
                if capture.bytes.len() > 2 * MAX_OUTPUT_BYTES {
                    let excess = capture.bytes.len() - MAX_OUTPUT_BYTES;
                    capture.bytes.drain(..excess);
                    capture.truncated = true;
                }
            }
        }
    }
    if capture.bytes.len() > MAX_OUTPUT_BYTES {
        let excess = capture.bytes.len() - MAX_OUTPUT_BYTES;
        capture.bytes.drain(..excess);
        capture.truncated = true;
    }
    capture
}

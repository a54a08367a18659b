//! Approval-rule handlers (`[[approvals]] handler = { command = [...] }`): one process per
//! request, the request as JSON on stdin, a decision as JSON on stdout. What the decision
//! means is the catalog's business (`catalog::answer_from_handler`); here a run becomes
//! the text it printed, or a one-line reason why it gave none.

use serde_json::Value;

use super::command;
use super::output::{Captured, CommandEnd};
use crate::catalog::CommandSpec;

/// How much of the end of stderr a failure quotes.
const STDERR_QUOTE_BYTES: usize = 512;

/// Runs the handler; `Ok` is what it printed on stdout (exit 0, UTF-8, not empty).
pub(super) async fn run(spec: &CommandSpec, input: &Value, label: &str) -> Result<String, String> {
    let mut payload = serde_json::to_vec(input)
        .map_err(|e| format!("could not encode the request for {label}: {e}"))?;
    payload.push(b'\n');
    let run = command::run_process(spec, payload, label).await?;
    map_output(label, run.end, &run.captured())
}

/// What a finished run means: its stdout, or why it is no decision. Pure.
pub fn map_output(label: &str, end: CommandEnd, captured: &Captured<'_>) -> Result<String, String> {
    let stderr = stderr_quote(captured.stderr);
    let failed = |what: String| Err(format!("{label} {what}{stderr}"));
    match end {
        CommandEnd::TimedOut(after) => {
            return failed(format!(
                "timed out after {} ms and was killed",
                after.as_millis()
            ));
        }
        CommandEnd::Signaled(signal) => return failed(format!("was killed by signal {signal}")),
        CommandEnd::Exited(0) => {}
        CommandEnd::Exited(code) => return failed(format!("exited with code {code}")),
    }
    if captured.stdout_truncated {
        return failed("printed more than 1 MiB".to_string());
    }
    let Ok(text) = std::str::from_utf8(captured.stdout) else {
        return failed("printed invalid UTF-8 on stdout".to_string());
    };
    let text = text.trim();
    if text.is_empty() {
        return failed(
            "exited 0 but printed nothing (it must print a decision such as {\"decision\":\"accept\"})"
                .to_string(),
        );
    }
    Ok(text.to_string())
}

/// `; stderr: ...` with the end of stderr, or nothing.
fn stderr_quote(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_QUOTE_BYTES);
    let text = String::from_utf8_lossy(&stderr[start..]);
    let text = text.trim_start_matches('\u{FFFD}').trim();
    if text.is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", text.replace('\n', " | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn captured(stdout: &'static [u8], stderr: &'static [u8]) -> Captured<'static> {
        Captured {
            stdout,
            stderr,
            stdout_truncated: false,
            stderr_truncated: false,
        }
    }

    #[test]
    fn a_clean_run_gives_its_stdout_and_every_failure_says_what_went_wrong() {
        let ok = map_output(
            "h",
            CommandEnd::Exited(0),
            &captured(b" {\"decision\":\"accept\"}\n", b""),
        );
        assert_eq!(ok, Ok("{\"decision\":\"accept\"}".to_string()));
        let cases = [
            (
                CommandEnd::Exited(3),
                captured(b"x", b"boom\n"),
                "h exited with code 3; stderr: boom",
            ),
            (
                CommandEnd::Exited(0),
                captured(b"  \n", b""),
                "h exited 0 but printed nothing",
            ),
            (
                CommandEnd::Exited(0),
                captured(b"\xff", b""),
                "h printed invalid UTF-8",
            ),
            (
                CommandEnd::Signaled(9),
                captured(b"", b""),
                "h was killed by signal 9",
            ),
            (
                CommandEnd::TimedOut(Duration::from_millis(200)),
                captured(b"", b""),
                "h timed out after 200 ms",
            ),
        ];
        for (end, out, expected) in cases {
            let got = map_output("h", end, &out).unwrap_err();
            assert!(got.starts_with(expected), "{got}");
        }
    }
}

//! Turning what a handler produced into the answer the model gets. Pure functions, so every
//! rule is tested without processes or sockets.

use std::time::Duration;

use serde_json::Value;

use crate::protocol::{ContentItem, ToolCallResult, parse_tool_call_result, truncate_chars};

/// The most stdout, stderr or response body kept from one handler run.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// How much of the end of stderr a failure answer quotes.
pub const STDERR_TAIL_BYTES: usize = 2 * 1024;
/// How much of an HTTP error body a failure answer quotes.
pub const BODY_EXCERPT_BYTES: usize = 2 * 1024;

const TRUNCATED_NOTE: &str = "(output truncated at 1 MiB)";

/// How a command handler's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandEnd {
    Exited(i32),
    Signaled(i32),
    /// Killed (with its whole process group) after the catalog's `timeout_ms`.
    TimedOut(Duration),
}

/// What was read from a command handler's pipes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Captured<'a> {
    pub stdout: &'a [u8],
    pub stderr: &'a [u8],
    /// Stdout stopped being kept after [`MAX_OUTPUT_BYTES`].
    pub stdout_truncated: bool,
    /// Stderr kept only its last [`MAX_OUTPUT_BYTES`].
    pub stderr_truncated: bool,
}

/// The answer for a finished command, and a one-line failure summary when the handler
/// itself failed (as opposed to answering `success: false` on purpose).
pub fn map_command_output(
    tool: &str,
    end: CommandEnd,
    captured: &Captured<'_>,
) -> (ToolCallResult, Option<String>) {
    let stderr = StderrTail::new(captured.stderr, captured.stderr_truncated);
    let code = match end {
        CommandEnd::TimedOut(after) => {
            let header = format!(
                "handler `{tool}` timed out after {} ms and was killed",
                after.as_millis()
            );
            return failed(header, None, &stderr);
        }
        CommandEnd::Signaled(signal) => {
            let header = format!(
                "handler `{tool}` was killed by signal {signal}{}",
                signal_name(signal)
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default()
            );
            return failed(header, None, &stderr);
        }
        CommandEnd::Exited(code) => code,
    };
    let exit_note = if code == 0 {
        String::new()
    } else {
        format!(" and exited with code {code}")
    };
    let stdout = match utf8_prefix(captured.stdout, captured.stdout_truncated) {
        Ok(text) => text.trim(),
        Err(at) => {
            let header = format!(
                "handler `{tool}` printed invalid UTF-8 on stdout (at byte {at}){exit_note}"
            );
            return failed(header, None, &stderr);
        }
    };
    if code != 0 {
        let header = format!("handler `{tool}` exited with code {code}");
        // A handler that explains its failure as a proper result keeps its own words.
        if let Some(Ok(result)) = as_tool_result(stdout) {
            return failed_with_items(header, result.content_items, &stderr);
        }
        let body = (!stdout.is_empty()).then(|| {
            let mut body = format!("stdout:\n{stdout}");
            if captured.stdout_truncated {
                body.push('\n');
                body.push_str(TRUNCATED_NOTE);
            }
            body
        });
        return failed(header, body, &stderr);
    }
    if stdout.is_empty() {
        let header = format!(
            "handler `{tool}` exited 0 but printed nothing (a handler must print its answer on stdout)"
        );
        return failed(header, None, &stderr);
    }
    match as_tool_result(stdout) {
        Some(Ok(result)) => (result, None),
        Some(Err(problem)) => {
            let header = format!("handler `{tool}` printed a bad answer: {problem}");
            failed(header, None, &stderr)
        }
        None => (
            ToolCallResult::text(
                true,
                with_truncation_note(stdout, captured.stdout_truncated),
            ),
            None,
        ),
    }
}

/// The answer for an HTTP reply that arrived (any status).
pub fn map_http_reply(
    tool: &str,
    status: u16,
    body: &[u8],
    truncated: bool,
) -> (ToolCallResult, Option<String>) {
    let status_text = describe_status(status);
    let no_stderr = StderrTail::new(&[], false);
    if !(200..300).contains(&status) {
        let header = format!("handler `{tool}` answered HTTP {status_text}");
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT_BYTES)]);
        let excerpt = excerpt.trim();
        let body = (!excerpt.is_empty()).then(|| {
            let more = if body.len() > BODY_EXCERPT_BYTES || truncated {
                " (first 2 KiB)"
            } else {
                ""
            };
            format!("body{more}:\n{excerpt}")
        });
        return failed(header, body, &no_stderr);
    }
    let text = match utf8_prefix(body, truncated) {
        Ok(text) => text.trim(),
        Err(at) => {
            let header = format!(
                "handler `{tool}` answered HTTP {status_text} with a body that is not UTF-8 (at byte {at})"
            );
            return failed(header, None, &no_stderr);
        }
    };
    if text.is_empty() {
        let header = format!("handler `{tool}` answered HTTP {status_text} with an empty body");
        return failed(header, None, &no_stderr);
    }
    match as_tool_result(text) {
        Some(Ok(result)) => (result, None),
        Some(Err(problem)) => {
            let header = format!(
                "handler `{tool}` answered HTTP {status_text} with a bad answer: {problem}"
            );
            failed(header, None, &no_stderr)
        }
        None => (
            ToolCallResult::text(true, with_truncation_note(text, truncated)),
            None,
        ),
    }
}

/// A failure before any output existed (spawn, connect, timeout): the text is the summary.
pub fn failure_outcome(summary: String) -> (ToolCallResult, Option<String>) {
    (ToolCallResult::text(false, summary.clone()), Some(summary))
}

/// `Some` when the text is a JSON object meant as a tool-call result (it has
/// `contentItems`); other JSON, such as a plain data object, is passed on as text.
fn as_tool_result(text: &str) -> Option<Result<ToolCallResult, String>> {
    if !text.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    value.get("contentItems")?;
    Some(parse_tool_call_result(value))
}

/// The valid UTF-8 text, or the byte offset of the first invalid byte. When the data was cut
/// at the size cap, a character split by the cut is dropped rather than called invalid.
fn utf8_prefix(bytes: &[u8], truncated: bool) -> Result<&str, usize> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(error) if truncated && error.error_len().is_none() => {
            Ok(std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default())
        }
        Err(error) => Err(error.valid_up_to()),
    }
}

/// The text, with the note that says it was cut at the cap when it was.
pub(super) fn with_truncation_note(text: &str, truncated: bool) -> String {
    if truncated {
        format!("{text}\n{TRUNCATED_NOTE}")
    } else {
        text.to_string()
    }
}

/// The end of stderr, ready to quote.
struct StderrTail {
    text: String,
    cut: bool,
}

impl StderrTail {
    fn new(stderr: &[u8], truncated: bool) -> StderrTail {
        let start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
        let lossy = String::from_utf8_lossy(&stderr[start..]);
        // The byte cut may land inside a character; drop its replacement character.
        let text = if start > 0 {
            lossy.trim_start_matches('\u{FFFD}')
        } else {
            &lossy
        };
        StderrTail {
            text: text.trim().to_string(),
            cut: start > 0 || truncated,
        }
    }

    fn section(&self) -> Option<String> {
        if self.text.is_empty() {
            return None;
        }
        let label = if self.cut {
            "stderr (last 2 KiB)"
        } else {
            "stderr"
        };
        Some(format!("{label}:\n{}", self.text))
    }

    fn last_line(&self) -> Option<&str> {
        self.text
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty())
    }
}

/// A failed answer: the header, an optional body, then the stderr tail, as one text item.
fn failed(
    header: String,
    body: Option<String>,
    stderr: &StderrTail,
) -> (ToolCallResult, Option<String>) {
    let mut text = header.clone();
    for section in body.into_iter().chain(stderr.section()) {
        text.push_str("\n\n");
        text.push_str(&section);
    }
    (
        ToolCallResult::text(false, text),
        Some(summary(header, stderr)),
    )
}

/// A failed answer that keeps the handler's own items and adds what went wrong.
fn failed_with_items(
    header: String,
    mut items: Vec<ContentItem>,
    stderr: &StderrTail,
) -> (ToolCallResult, Option<String>) {
    let mut text = header.clone();
    if let Some(section) = stderr.section() {
        text.push_str("\n\n");
        text.push_str(&section);
    }
    items.push(ContentItem::text(text));
    (
        ToolCallResult {
            content_items: items,
            success: false,
        },
        Some(summary(header, stderr)),
    )
}

/// One line for logs and lists: the header plus the last line of stderr.
fn summary(header: String, stderr: &StderrTail) -> String {
    match stderr.last_line() {
        Some(line) => format!("{header}: {}", truncate_chars(line, 200)),
        None => header,
    }
}

fn describe_status(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    nix::sys::signal::Signal::try_from(signal)
        .ok()
        .map(|signal| signal.as_str())
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;

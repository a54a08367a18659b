//! The `handler` table of a tool: which kind it is, its keys, and their checks.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Value as Toml;

use super::fields::{Fields, Reported, to_json, toml_kind};
use super::{CommandSpec, DEFAULT_TIMEOUT, HandlerSpec, HttpSpec, Severity};
use crate::protocol::{ToolCallResult, parse_tool_call_result};

/// The kinds of handler, each named by the key that selects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HandlerKind {
    Command,
    Worker,
    Url,
    StaticText,
    StaticResult,
}

/// Every key any handler takes, for telling "unknown" from "belongs to another kind".
const HANDLER_KEYS: &[&str] = &[
    "command",
    "worker",
    "url",
    "static_text",
    "static_result",
    "timeout_ms",
    "env",
    "cwd",
    "headers",
    "success",
];

/// An example argv, shown in messages.
const ARGV_EXAMPLE: &str = "[\"python3\", \"handlers/tool.py\"]";

impl HandlerKind {
    const ALL: [HandlerKind; 5] = [
        HandlerKind::Command,
        HandlerKind::Worker,
        HandlerKind::Url,
        HandlerKind::StaticText,
        HandlerKind::StaticResult,
    ];

    /// The key that selects this kind.
    fn key(self) -> &'static str {
        match self {
            HandlerKind::Command => "command",
            HandlerKind::Worker => "worker",
            HandlerKind::Url => "url",
            HandlerKind::StaticText => "static_text",
            HandlerKind::StaticResult => "static_result",
        }
    }

    /// Every key a handler of this kind takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            HandlerKind::Command => &["command", "timeout_ms", "env", "cwd"],
            HandlerKind::Worker => &["worker", "timeout_ms", "env", "cwd"],
            HandlerKind::Url => &["url", "timeout_ms", "headers"],
            HandlerKind::StaticText => &["static_text", "success"],
            HandlerKind::StaticResult => &["static_result"],
        }
    }

    /// "a command handler", for messages.
    fn label(self) -> &'static str {
        match self {
            HandlerKind::Command => "a command handler",
            HandlerKind::Worker => "a worker handler",
            HandlerKind::Url => "an http handler",
            HandlerKind::StaticText => "a static_text handler",
            HandlerKind::StaticResult => "a static_result handler",
        }
    }
}

/// The tool's `handler` value. `tool_name` is the tool's qualified name for warnings.
pub(super) fn parse_handler(
    fields: &mut Fields<'_, '_>,
    dir: &Path,
    tool_name: Option<&str>,
) -> Option<HandlerSpec> {
    let raw = fields.get("handler")?;
    let Toml::Table(table) = raw else {
        fields.problem(
            "handler",
            format!(
                "handler must be a table such as {{ command = [...] }}, {{ worker = [...] }}, {{ url = \"...\" }}, {{ static_text = \"...\" }} or {{ static_result = {{ ... }} }}, not {}; leave handler out for a manual tool",
                toml_kind(raw)
            ),
        );
        return None;
    };
    let mut handler = fields.nested("handler", table);
    let before = handler.report.count();
    let kind = handler_kind(&mut handler);
    check_keys(&mut handler, kind);
    let spec = match kind? {
        HandlerKind::Command => {
            parse_command(&mut handler, "command", dir, tool_name).map(HandlerSpec::Command)
        }
        HandlerKind::Worker => {
            parse_command(&mut handler, "worker", dir, tool_name).map(HandlerSpec::Worker)
        }
        HandlerKind::Url => parse_http(&mut handler).map(HandlerSpec::Http),
        HandlerKind::StaticText => parse_static_text(&mut handler).map(HandlerSpec::Static),
        HandlerKind::StaticResult => parse_static_result(&mut handler).map(HandlerSpec::Static),
    };
    if handler.report.count() > before {
        return None;
    }
    spec
}

/// Exactly one kind key must be present.
fn handler_kind(handler: &mut Fields<'_, '_>) -> Option<HandlerKind> {
    let kinds: Vec<HandlerKind> = HandlerKind::ALL
        .into_iter()
        .filter(|kind| handler.table.contains_key(kind.key()))
        .collect();
    match kinds.as_slice() {
        [kind] => Some(*kind),
        [] => {
            handler.problem_here(
                "handler has none of command, worker, url, static_text or static_result: give exactly one, or leave handler out for a manual tool",
            );
            None
        }
        several => {
            let list = several
                .iter()
                .map(|kind| format!("`{}`", kind.key()))
                .collect::<Vec<_>>()
                .join(" and ");
            handler.problem_here(format!(
                "handler has {list}: give exactly one kind of handler"
            ));
            None
        }
    }
}

/// Unknown keys, and keys of another kind of handler.
fn check_keys(handler: &mut Fields<'_, '_>, kind: Option<HandlerKind>) {
    let (allowed, label) = match kind {
        Some(kind) => (kind.keys(), kind.label()),
        None => (HANDLER_KEYS, "a handler"),
    };
    let table = handler.table;
    for key in table.keys() {
        let key = key.as_str();
        if !HANDLER_KEYS.contains(&key) {
            let message =
                super::fields::unknown_key(key, allowed, "handler key", &format!("{label} takes"));
            handler.problem_here(message);
        } else if !allowed.contains(&key) {
            handler.problem_here(format!(
                "handler key `{key}` does not apply to {label} ({label} takes: {})",
                allowed.join(", ")
            ));
        }
    }
}

fn timeout(handler: &mut Fields<'_, '_>) -> Result<Duration, Reported> {
    Ok(handler
        .positive_int("timeout_ms", "milliseconds")?
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis))
}

fn parse_command(
    handler: &mut Fields<'_, '_>,
    key: &str,
    dir: &Path,
    tool_name: Option<&str>,
) -> Option<CommandSpec> {
    let before = handler.report.count();
    let argv = handler.string_array(key, ARGV_EXAMPLE).ok().flatten();
    let path = handler.path(key);
    match argv.as_deref() {
        Some([]) => handler.problem(
            key,
            format!("{path} is empty: give the program and its arguments, e.g. {ARGV_EXAMPLE}"),
        ),
        Some([program, ..]) if program.trim().is_empty() => handler.problem(
            key,
            format!("{path}[0] (the program) is empty: name the program to run"),
        ),
        _ => {}
    }
    let timeout = timeout(handler);
    let env = handler.string_map("env");
    for name in env.keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            handler.problem(
                "env",
                format!("handler.env has the variable name {name:?}: names must be non-empty, without '=' or NUL"),
            );
        }
    }
    if env.values().any(|value| value.contains('\0')) {
        handler.problem("env", "handler.env values must not contain NUL characters");
    }
    let cwd = match handler.string_as("cwd", "a string (a folder, relative to the catalog folder)")
    {
        Ok(Some(cwd)) if !cwd.trim().is_empty() => dir.join(cwd),
        Ok(Some(_)) => {
            handler.problem(
                "cwd",
                "handler.cwd is empty: remove it to run in the catalog folder, or name a folder",
            );
            dir.to_path_buf()
        }
        Ok(None) | Err(Reported) => dir.to_path_buf(),
    };
    if handler.report.count() > before {
        return None;
    }
    let timeout = timeout.ok()?;
    let argv = argv?;
    let written = argv.first()?;
    let program = resolve_program(written, &cwd);
    warn_about_paths(handler, &program, &cwd, written, tool_name);
    Some(CommandSpec {
        argv,
        program,
        timeout,
        env,
        cwd,
    })
}

/// A relative path with a `/` is taken from the working directory the handler runs in;
/// a bare name is left for the PATH lookup.
fn resolve_program(program: &str, cwd: &Path) -> PathBuf {
    let path = Path::new(program);
    if program.contains('/') && path.is_relative() {
        cwd.join(path)
    } else {
        path.to_path_buf()
    }
}

/// Missing folders and scripts are warnings, not errors: they may be created after the
/// catalog is loaded, but usually they are a typo worth seeing before the first call.
fn warn_about_paths(
    handler: &mut Fields<'_, '_>,
    program: &Path,
    cwd: &Path,
    written: &str,
    tool_name: Option<&str>,
) {
    let line = handler.place.line();
    if !cwd.is_dir() {
        handler.report.warn(
            tool_name,
            line,
            Severity::Warning,
            format!(
                "handler folder {} does not exist: the handler cannot start until it does",
                cwd.display()
            ),
        );
        return;
    }
    if !written.contains('/') {
        return;
    }
    let warning = match std::fs::metadata(program) {
        Err(_) => format!(
            "handler program {} does not exist: the handler cannot start until it does",
            program.display()
        ),
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 == 0 => format!(
            "handler program {} is not executable: chmod +x it, or run it through its interpreter, e.g. [\"python3\", \"{written}\"]",
            program.display()
        ),
        Ok(_) => return,
    };
    handler
        .report
        .warn(tool_name, line, Severity::Warning, warning);
}

fn parse_http(handler: &mut Fields<'_, '_>) -> Option<HttpSpec> {
    let before = handler.report.count();
    let url = handler.string("url");
    if let Ok(Some(url)) = &url {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            handler.problem(
                "url",
                format!("handler.url {url:?} must start with http:// or https://"),
            );
        } else if let Err(error) = reqwest::Url::parse(url) {
            handler.problem(
                "url",
                format!("handler.url {url:?} is not a valid URL: {error}"),
            );
        }
    }
    let timeout = timeout(handler);
    let headers = handler.string_map("headers");
    for (name, value) in &headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            handler.problem(
                "headers",
                format!("handler.headers has {name:?}, which is not a valid HTTP header name"),
            );
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            handler.problem(
                "headers",
                format!(
                    "handler.headers.{name} is not a valid HTTP header value: no line breaks or control characters"
                ),
            );
        }
    }
    if handler.report.count() > before {
        return None;
    }
    Some(HttpSpec {
        url: url.ok()??,
        timeout: timeout.ok()?,
        headers,
    })
}

fn parse_static_text(handler: &mut Fields<'_, '_>) -> Option<ToolCallResult> {
    let text = handler.string("static_text");
    let success = handler.bool("success");
    Some(ToolCallResult::text(
        success.ok()?.unwrap_or(true),
        text.ok()??,
    ))
}

fn parse_static_result(handler: &mut Fields<'_, '_>) -> Option<ToolCallResult> {
    let raw = handler.get("static_result")?;
    let parsed = to_json(raw, "handler.static_result").and_then(|value| {
        parse_tool_call_result(value).map_err(|problem| format!("handler.static_result: {problem}"))
    });
    match parsed {
        Ok(result) => Some(result),
        Err(problem) => {
            handler.problem("static_result", problem);
            None
        }
    }
}

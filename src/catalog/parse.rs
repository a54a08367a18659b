//! Walks the catalog TOML by hand rather than through `deny_unknown_fields`, so that one
//! pass reports every problem with its line and tool, and says what to write instead.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value as Json;
use toml::{Spanned, Value as Toml};

use super::schema;
use super::{
    CODEX_BUILTIN_TOOLS, CODEX_MULTI_AGENT_NAMESPACE, CatalogError, CatalogWarning, CommandSpec,
    DEFAULT_TIMEOUT, HandlerSpec, HttpSpec, Severity, ToolDef, qualified_name,
};
use crate::protocol::{ToolCallResult, parse_tool_call_result};

const TOP_KEYS: &[&str] = &["instructions", "tools"];
const TOOL_KEYS: &[&str] = &[
    "name",
    "description",
    "input_schema",
    "output_schema",
    "namespace",
    "defer_loading",
    "handler",
];
const HANDLER_KINDS: &[&str] = &["command", "worker", "url", "static_text", "static_result"];
const COMMAND_KEYS: &[&str] = &["command", "timeout_ms", "env", "cwd"];
const WORKER_KEYS: &[&str] = &["worker", "timeout_ms", "env", "cwd"];
const HTTP_KEYS: &[&str] = &["url", "timeout_ms", "headers"];
const STATIC_TEXT_KEYS: &[&str] = &["static_text", "success"];
const STATIC_RESULT_KEYS: &[&str] = &["static_result"];
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

/// The OpenAI API's documented limit on function names.
const MAX_NAME_LEN: usize = 64;

pub(super) struct Parsed {
    pub instructions: Option<String>,
    pub tools: Vec<ToolDef>,
    pub warnings: Vec<CatalogWarning>,
}

/// Spans of each tool's keys, read in a second pass: `toml::Table` drops positions.
#[derive(Deserialize)]
struct ToolSpans {
    #[serde(default)]
    tools: Vec<Spanned<BTreeMap<String, Spanned<IgnoredAny>>>>,
}

/// Byte offset to 1-based line and column.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Lines { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset)
    }

    fn column(&self, text: &str, offset: usize) -> usize {
        let line_start = self.starts[self.line(offset).saturating_sub(1)];
        text.get(line_start..offset)
            .map_or(1, |prefix| prefix.chars().count() + 1)
    }
}

/// Where a tool sits in the file.
#[derive(Default)]
struct Place {
    line: Option<usize>,
    keys: BTreeMap<String, usize>,
}

impl Place {
    /// The line of `key`, or of the tool when the key is absent or its line unknown.
    fn of(&self, key: &str) -> Option<usize> {
        self.keys.get(key).copied().or(self.line)
    }
}

/// Problems and warnings collected over the whole file.
struct Report {
    file: String,
    problems: Vec<(Option<usize>, String)>,
    warnings: Vec<CatalogWarning>,
}

impl Report {
    fn problem(&mut self, line: Option<usize>, who: &str, message: impl AsRef<str>) {
        let mut text = self.file.clone();
        if let Some(line) = line {
            let _ = write!(text, ":{line}");
        }
        text.push_str(": ");
        if !who.is_empty() {
            text.push_str(who);
            text.push_str(": ");
        }
        text.push_str(message.as_ref());
        self.problems.push((line, text));
    }

    fn warn(
        &mut self,
        tool: Option<&str>,
        line: Option<usize>,
        severity: Severity,
        message: String,
    ) {
        self.warnings.push(CatalogWarning {
            tool: tool.map(str::to_string),
            line,
            severity,
            message,
        });
    }

    fn count(&self) -> usize {
        self.problems.len()
    }
}

pub(super) fn parse_catalog(text: &str, path: &Path, dir: &Path) -> Result<Parsed, CatalogError> {
    let lines = Lines::new(text);
    let table: toml::Table = toml::from_str(text).map_err(|error| CatalogError::Syntax {
        path: path.to_path_buf(),
        message: match error.span() {
            Some(span) => format!(
                "line {}, column {}: {}",
                lines.line(span.start),
                lines.column(text, span.start),
                error.message().trim_end()
            ),
            None => error.to_string().trim_end().to_string(),
        },
    })?;
    // Positions are a nicety: if the shape is too broken to read them, go without.
    let top_lines: BTreeMap<String, usize> =
        toml::from_str::<BTreeMap<String, Spanned<IgnoredAny>>>(text)
            .map(|spans| {
                spans
                    .into_iter()
                    .map(|(key, span)| (key, lines.line(span.span().start)))
                    .collect()
            })
            .unwrap_or_default();
    let places: Vec<Place> = toml::from_str::<ToolSpans>(text)
        .map(|spans| {
            spans
                .tools
                .iter()
                .map(|tool| Place {
                    line: Some(lines.line(tool.span().start)),
                    keys: tool
                        .get_ref()
                        .iter()
                        .map(|(key, span)| (key.clone(), lines.line(span.span().start)))
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();

    let mut report = Report {
        file: path.display().to_string(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };

    for key in table.keys() {
        if !TOP_KEYS.contains(&key.as_str()) {
            report.problem(
                top_lines.get(key).copied(),
                "",
                unknown_key(key, TOP_KEYS, "top-level key", "the top level takes"),
            );
        }
    }

    let instructions = match table.get("instructions") {
        None => None,
        Some(Toml::String(text)) => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
        Some(other) => {
            report.problem(
                top_lines.get("instructions").copied(),
                "",
                format!("instructions must be a string, not {}", toml_kind(other)),
            );
            None
        }
    };

    let empty = Vec::new();
    let raw_tools = match table.get("tools") {
        None => &empty,
        Some(Toml::Array(items)) => items,
        Some(other) => {
            report.problem(
                top_lines.get("tools").copied(),
                "",
                format!(
                    "tools must be an array of tables, not {}: write each tool under a [[tools]] header",
                    toml_kind(other)
                ),
            );
            &empty
        }
    };
    if raw_tools.is_empty() && table.get("tools").is_none_or(Toml::is_array) {
        report.warn(
            None,
            top_lines.get("tools").copied(),
            Severity::Warning,
            "the catalog declares no tools: add a [[tools]] table for each tool".to_string(),
        );
    }

    let no_place = Place::default();
    let mut tools = Vec::new();
    // (namespace, name) -> (index, line) of the first definition.
    let mut seen: HashMap<(Option<String>, String), (usize, Option<usize>)> = HashMap::new();
    for (index, raw) in raw_tools.iter().enumerate() {
        let place = places.get(index).unwrap_or(&no_place);
        let Toml::Table(raw) = raw else {
            report.problem(
                place.line,
                &format!("tools[{index}]"),
                format!(
                    "must be a table with name, description and input_schema, not {}: write it under a [[tools]] header",
                    toml_kind(raw)
                ),
            );
            continue;
        };
        let parsed = parse_tool(index, raw, place, dir, &mut report);
        if let Some(key) = parsed.key {
            let who = format!("tool `{}`", qualified_name(key.0.as_deref(), &key.1));
            match seen.get(&key) {
                Some((first, first_line)) => {
                    let at = first_line
                        .map(|l| format!("line {l}, "))
                        .unwrap_or_default();
                    report.problem(
                        place.of("name"),
                        &who,
                        format!(
                            "is defined twice (first at {at}tools[{first}]): tool names must be unique within a namespace; rename or remove one"
                        ),
                    );
                }
                None => {
                    seen.insert(key, (index, place.of("name")));
                }
            }
        }
        if let Some(tool) = parsed.tool {
            tools.push(tool);
        }
    }

    if report.problems.is_empty() {
        return Ok(Parsed {
            instructions,
            tools,
            warnings: report.warnings,
        });
    }
    // File order reads best; problems without a line (rare) come first.
    report.problems.sort_by_key(|(line, _)| *line);
    Err(CatalogError::Invalid {
        path: path.to_path_buf(),
        problems: report.problems.into_iter().map(|(_, text)| text).collect(),
    })
}

struct ParsedTool {
    /// `(namespace, name)` when both are valid, for the duplicate check.
    key: Option<(Option<String>, String)>,
    /// Only when the tool has no problem at all.
    tool: Option<ToolDef>,
}

fn parse_tool(
    index: usize,
    raw: &toml::Table,
    place: &Place,
    dir: &Path,
    report: &mut Report,
) -> ParsedTool {
    let before = report.count();
    let anonymous = format!("tools[{index}]");

    let name = match raw.get("name") {
        None => {
            report.problem(
                place.line,
                &anonymous,
                "name is missing: add name = \"...\" using ASCII letters, digits, '_' and '-'",
            );
            None
        }
        Some(Toml::String(name)) => match name_problem(name) {
            Some(problem) => {
                report.problem(place.of("name"), &anonymous, format!("name {problem}"));
                None
            }
            None => Some(name.clone()),
        },
        Some(other) => {
            report.problem(
                place.of("name"),
                &anonymous,
                format!("name must be a string, not {}", toml_kind(other)),
            );
            None
        }
    };
    let name_label = match &name {
        Some(name) => format!("tool `{name}`"),
        None => anonymous.clone(),
    };

    // Ok(None) is "no namespace"; Err(()) is a namespace with a problem already reported.
    let namespace: Result<Option<String>, ()> = match raw.get("namespace") {
        None => Ok(None),
        Some(Toml::String(namespace)) => {
            let problem = if namespace.trim().is_empty() {
                Some("namespace is empty: remove it, or name the namespace".to_string())
            } else if namespace == "functions" {
                Some(
                    "namespace `functions` is reserved by codex and refused: choose another name"
                        .to_string(),
                )
            } else {
                name_problem(namespace).map(|problem| format!("namespace {problem}"))
            };
            match problem {
                Some(problem) => {
                    report.problem(place.of("namespace"), &name_label, problem);
                    Err(())
                }
                None => Ok(Some(namespace.clone())),
            }
        }
        Some(other) => {
            report.problem(
                place.of("namespace"),
                &name_label,
                format!("namespace must be a string, not {}", toml_kind(other)),
            );
            Err(())
        }
    };

    let qualified = name
        .as_ref()
        .map(|name| qualified_name(namespace.clone().ok().flatten().as_deref(), name));
    let who = match &qualified {
        Some(qualified) => format!("tool `{qualified}`"),
        None => anonymous.clone(),
    };

    for key in raw.keys() {
        if !TOOL_KEYS.contains(&key.as_str()) {
            report.problem(
                place.of(key),
                &who,
                unknown_key(key, TOOL_KEYS, "key", "a tool takes"),
            );
        }
    }

    let description = match raw.get("description") {
        None => {
            report.problem(
                place.line,
                &who,
                "description is missing: say what the tool does and when to use it",
            );
            None
        }
        Some(Toml::String(text)) if text.trim().is_empty() => {
            report.problem(
                place.of("description"),
                &who,
                "description is empty: say what the tool does and when to use it",
            );
            None
        }
        Some(Toml::String(text)) => Some(text.clone()),
        Some(other) => {
            report.problem(
                place.of("description"),
                &who,
                format!("description must be a string, not {}", toml_kind(other)),
            );
            None
        }
    };

    let defer_loading = match raw.get("defer_loading") {
        None => None,
        Some(Toml::Boolean(defer)) => Some(*defer),
        Some(other) => {
            report.problem(
                place.of("defer_loading"),
                &who,
                format!(
                    "defer_loading must be true or false, not {}",
                    toml_kind(other)
                ),
            );
            None
        }
    };
    if defer_loading == Some(true) && raw.get("namespace").is_none() {
        report.problem(
            place.of("defer_loading"),
            &who,
            "defer_loading = true needs a namespace (codex refuses it otherwise): add namespace = \"...\" or remove defer_loading",
        );
    }

    let tool_name = qualified.as_deref();
    let input = match raw.get("input_schema") {
        None => {
            report.problem(
                place.line,
                &who,
                "input_schema is missing: add input_schema = { type = \"object\", properties = { ... } }",
            );
            None
        }
        Some(raw_schema) => {
            let line = place.of("input_schema");
            let checked = check_schema(raw_schema, "input_schema", line, &who, tool_name, report);
            if let Some((schema, _)) = &checked
                && let Some(concern) = schema::top_level_concern(schema)
            {
                report.warn(tool_name, line, Severity::Warning, concern);
            }
            checked
        }
    };
    let output_schema = raw.get("output_schema").and_then(|raw_schema| {
        let line = place.of("output_schema");
        check_schema(raw_schema, "output_schema", line, &who, tool_name, report)
            .map(|(schema, _)| schema)
    });

    let handler = raw.get("handler").and_then(|raw_handler| {
        parse_handler(
            raw_handler,
            place.of("handler"),
            &who,
            dir,
            tool_name,
            report,
        )
    });

    if let (Some(name), Ok(namespace)) = (&name, &namespace) {
        let in_builtin_namespace = namespace
            .as_deref()
            .is_none_or(|namespace| namespace == CODEX_MULTI_AGENT_NAMESPACE);
        if in_builtin_namespace && CODEX_BUILTIN_TOOLS.contains(&name.as_str()) {
            report.warn(
                tool_name,
                place.of("name"),
                Severity::Warning,
                format!(
                    "codex has a built-in tool named `{name}` and silently calls it instead of this one: rename the tool"
                ),
            );
        }
        if name.len() > MAX_NAME_LEN {
            report.warn(
                tool_name,
                place.of("name"),
                Severity::Warning,
                format!(
                    "name is {} characters long: the OpenAI API refuses function names over {MAX_NAME_LEN}",
                    name.len()
                ),
            );
        }
        if namespace.as_deref() == Some(CODEX_MULTI_AGENT_NAMESPACE) {
            report.warn(
                tool_name,
                place.of("namespace"),
                Severity::Warning,
                format!(
                    "namespace `{CODEX_MULTI_AGENT_NAMESPACE}` is codex's built-in multi-agent namespace: the tool is merged into it; choose another namespace unless that is intended"
                ),
            );
        }
    }
    if raw.get("handler").is_none() {
        report.warn(
            tool_name,
            place.line,
            Severity::Info,
            "no handler: calls wait for an operator or a remote answer".to_string(),
        );
    }

    let key = match (&name, &namespace) {
        (Some(name), Ok(namespace)) => Some((namespace.clone(), name.clone())),
        _ => None,
    };
    if report.count() > before {
        return ParsedTool { key, tool: None };
    }
    let tool = match (name, namespace, description, input) {
        (Some(name), Ok(namespace), Some(description), Some((input_schema, validator))) => {
            let mut tool = ToolDef::new(name, description, input_schema);
            tool.output_schema = output_schema;
            tool.namespace = namespace;
            tool.defer_loading = defer_loading;
            tool.handler = handler;
            Some(match validator {
                Some(validator) => tool.with_validator(validator),
                None => tool,
            })
        }
        _ => None,
    };
    ParsedTool { key, tool }
}

/// What is wrong with a tool or namespace name, as the end of a sentence starting with it.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(
            "is empty: use ASCII letters, digits, '_' and '-' (codex refuses other characters)"
                .to_string(),
        );
    }
    if name.trim() != name {
        return Some(format!(
            "{name:?} has leading or trailing whitespace: remove it"
        ));
    }
    let bad: String = name
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        .fold(String::new(), |mut bad, c| {
            if !bad.contains(c) {
                bad.push(c);
            }
            bad
        });
    if bad.is_empty() {
        return None;
    }
    Some(format!(
        "{name:?} contains {bad:?}: use only ASCII letters, digits, '_' and '-' (codex refuses other characters)"
    ))
}

/// Reads, sanitises and compiles a schema. Returns the schema as written plus its compiled
/// validator (`None` only when the schema had problems, which are reported).
fn check_schema(
    raw: &Toml,
    key: &str,
    line: Option<usize>,
    who: &str,
    tool_name: Option<&str>,
    report: &mut Report,
) -> Option<(Json, Option<jsonschema::Validator>)> {
    let schema = match raw {
        Toml::Table(_) => match to_json(raw, key) {
            Ok(schema) => schema,
            Err(problem) => {
                report.problem(line, who, problem);
                return None;
            }
        },
        // Long schemas are easier to paste as JSON text than to translate to TOML.
        Toml::String(text) => match serde_json::from_str::<Json>(text) {
            Ok(schema @ Json::Object(_)) => schema,
            Ok(other) => {
                report.problem(
                    line,
                    who,
                    format!(
                        "{key} holds JSON text of {}, but a schema must be an object",
                        crate::protocol::json_kind(&other)
                    ),
                );
                return None;
            }
            Err(error) => {
                report.problem(
                    line,
                    who,
                    format!("{key} is a string but not JSON text of a schema object: {error}"),
                );
                return None;
            }
        },
        other => {
            report.problem(
                line,
                who,
                format!(
                    "{key} must be a table (a JSON Schema object), not {}",
                    toml_kind(other)
                ),
            );
            return None;
        }
    };
    let (sanitized, unknown) = schema::sanitize_property_types(&schema, key);
    for found in unknown {
        let consequence = if key == "input_schema" {
            "codex replaces it with {} (any value)"
        } else {
            "argument checks treat it as {} (any value)"
        };
        report.warn(
            tool_name,
            line,
            Severity::Warning,
            format!(
                "{} has type {}, which is not a JSON Schema type: {consequence}; use one of {}",
                found.location,
                found.found,
                schema::JSON_TYPES.join(", ")
            ),
        );
    }
    match schema::compile(&sanitized, key) {
        Ok(validator) => Some((schema, Some(validator))),
        Err(problems) => {
            for problem in problems {
                report.problem(line, who, problem);
            }
            None
        }
    }
}

fn parse_handler(
    raw: &Toml,
    line: Option<usize>,
    who: &str,
    dir: &Path,
    tool_name: Option<&str>,
    report: &mut Report,
) -> Option<HandlerSpec> {
    let Toml::Table(table) = raw else {
        report.problem(
            line,
            who,
            format!(
                "handler must be a table such as {{ command = [...] }}, {{ worker = [...] }}, {{ url = \"...\" }}, {{ static_text = \"...\" }} or {{ static_result = {{ ... }} }}, not {}; leave handler out for a manual tool",
                toml_kind(raw)
            ),
        );
        return None;
    };
    let before = report.count();
    let kinds: Vec<&str> = HANDLER_KINDS
        .iter()
        .copied()
        .filter(|kind| table.contains_key(*kind))
        .collect();
    let kind = match kinds.as_slice() {
        [kind] => Some(*kind),
        [] => {
            report.problem(
                line,
                who,
                "handler has none of command, worker, url, static_text or static_result: give exactly one, or leave handler out for a manual tool",
            );
            None
        }
        several => {
            let list = several
                .iter()
                .map(|kind| format!("`{kind}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            report.problem(
                line,
                who,
                format!("handler has {list}: give exactly one kind of handler"),
            );
            None
        }
    };
    let (allowed, kind_name) = match kind {
        Some("command") => (COMMAND_KEYS, "a command handler"),
        Some("worker") => (WORKER_KEYS, "a worker handler"),
        Some("url") => (HTTP_KEYS, "an http handler"),
        Some("static_text") => (STATIC_TEXT_KEYS, "a static_text handler"),
        Some(_) => (STATIC_RESULT_KEYS, "a static_result handler"),
        None => (HANDLER_KEYS, "a handler"),
    };
    for key in table.keys() {
        let key = key.as_str();
        if !HANDLER_KEYS.contains(&key) {
            report.problem(
                line,
                who,
                unknown_key(key, allowed, "handler key", &format!("{kind_name} takes")),
            );
        } else if !allowed.contains(&key) {
            report.problem(
                line,
                who,
                format!(
                    "handler key `{key}` does not apply to {kind_name} ({kind_name} takes: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
    let spec = match kind? {
        "command" => parse_command("command", table, line, who, dir, tool_name, report)
            .map(HandlerSpec::Command),
        "worker" => parse_command("worker", table, line, who, dir, tool_name, report)
            .map(HandlerSpec::Worker),
        "url" => parse_http(table, line, who, report).map(HandlerSpec::Http),
        "static_text" => parse_static_text(table, line, who, report).map(HandlerSpec::Static),
        _ => parse_static_result(table, line, who, report).map(HandlerSpec::Static),
    };
    if report.count() > before {
        return None;
    }
    spec
}

fn parse_timeout(
    table: &toml::Table,
    line: Option<usize>,
    who: &str,
    report: &mut Report,
) -> Option<Duration> {
    match table.get("timeout_ms") {
        None => Some(DEFAULT_TIMEOUT),
        Some(Toml::Integer(ms)) if *ms > 0 => Some(Duration::from_millis(ms.unsigned_abs())),
        Some(Toml::Integer(ms)) => {
            report.problem(
                line,
                who,
                format!("handler.timeout_ms is {ms}: it must be greater than 0 (milliseconds)"),
            );
            None
        }
        Some(other) => {
            report.problem(
                line,
                who,
                format!(
                    "handler.timeout_ms must be a whole number of milliseconds, not {}",
                    toml_kind(other)
                ),
            );
            None
        }
    }
}

/// A table of string values (`env`, `headers`); problems are reported, bad entries dropped.
fn string_map(
    table: &toml::Table,
    key: &str,
    line: Option<usize>,
    who: &str,
    report: &mut Report,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    match table.get(key) {
        None => {}
        Some(Toml::Table(entries)) => {
            for (name, value) in entries {
                match value {
                    Toml::String(value) => {
                        map.insert(name.clone(), value.clone());
                    }
                    other => report.problem(
                        line,
                        who,
                        format!(
                            "handler.{key}.{name} must be a string, not {}: quote it",
                            toml_kind(other)
                        ),
                    ),
                }
            }
        }
        Some(other) => report.problem(
            line,
            who,
            format!(
                "handler.{key} must be a table of strings such as {{ NAME = \"value\" }}, not {}",
                toml_kind(other)
            ),
        ),
    }
    map
}

fn parse_command(
    key: &str,
    table: &toml::Table,
    line: Option<usize>,
    who: &str,
    dir: &Path,
    tool_name: Option<&str>,
    report: &mut Report,
) -> Option<CommandSpec> {
    let before = report.count();
    let argv: Vec<String> = match table.get(key) {
        Some(Toml::Array(items)) if items.is_empty() => {
            report.problem(
                line,
                who,
                format!("handler.{key} is empty: give the program and its arguments, e.g. [\"python3\", \"handlers/tool.py\"]"),
            );
            Vec::new()
        }
        Some(Toml::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item {
                Toml::String(arg) => Some(arg.clone()),
                other => {
                    report.problem(
                        line,
                        who,
                        format!(
                            "handler.{key}[{index}] must be a string, not {}",
                            toml_kind(other)
                        ),
                    );
                    None
                }
            })
            .collect(),
        Some(other) => {
            report.problem(
                line,
                who,
                format!(
                    "handler.{key} must be an array of strings such as [\"python3\", \"handlers/tool.py\"], not {}",
                    toml_kind(other)
                ),
            );
            Vec::new()
        }
        // parse_handler only calls this when the key exists.
        None => Vec::new(),
    };
    if let Some(program) = argv.first()
        && program.trim().is_empty()
    {
        report.problem(
            line,
            who,
            format!("handler.{key}[0] (the program) is empty: name the program to run"),
        );
    }
    let timeout = parse_timeout(table, line, who, report);
    let env = string_map(table, "env", line, who, report);
    for name in env.keys() {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            report.problem(
                line,
                who,
                format!("handler.env has the variable name {name:?}: names must be non-empty, without '=' or NUL"),
            );
        }
    }
    if env.values().any(|value| value.contains('\0')) {
        report.problem(
            line,
            who,
            "handler.env values must not contain NUL characters",
        );
    }
    let cwd = match table.get("cwd") {
        None => dir.to_path_buf(),
        Some(Toml::String(cwd)) if !cwd.trim().is_empty() => dir.join(cwd),
        Some(Toml::String(_)) => {
            report.problem(
                line,
                who,
                "handler.cwd is empty: remove it to run in the catalog folder, or name a folder",
            );
            dir.to_path_buf()
        }
        Some(other) => {
            report.problem(
                line,
                who,
                format!(
                    "handler.cwd must be a string (a folder, relative to the catalog folder), not {}",
                    toml_kind(other)
                ),
            );
            dir.to_path_buf()
        }
    };
    if report.count() > before {
        return None;
    }
    let timeout = timeout?;
    let program = resolve_program(argv.first()?, &cwd);
    warn_about_paths(&program, &cwd, argv.first()?, line, tool_name, report);
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
pub(super) fn resolve_program(program: &str, cwd: &Path) -> PathBuf {
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
    program: &Path,
    cwd: &Path,
    written: &str,
    line: Option<usize>,
    tool_name: Option<&str>,
    report: &mut Report,
) {
    if !cwd.is_dir() {
        report.warn(
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
    match std::fs::metadata(program) {
        Err(_) => report.warn(
            tool_name,
            line,
            Severity::Warning,
            format!(
                "handler program {} does not exist: the handler cannot start until it does",
                program.display()
            ),
        ),
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 == 0 => report.warn(
            tool_name,
            line,
            Severity::Warning,
            format!(
                "handler program {} is not executable: chmod +x it, or run it through its interpreter, e.g. [\"python3\", \"{written}\"]",
                program.display()
            ),
        ),
        Ok(_) => {}
    }
}

fn parse_http(
    table: &toml::Table,
    line: Option<usize>,
    who: &str,
    report: &mut Report,
) -> Option<HttpSpec> {
    let before = report.count();
    let url = match table.get("url") {
        Some(Toml::String(url)) => {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                report.problem(
                    line,
                    who,
                    format!("handler.url {url:?} must start with http:// or https://"),
                );
            } else if let Err(error) = reqwest::Url::parse(url) {
                report.problem(
                    line,
                    who,
                    format!("handler.url {url:?} is not a valid URL: {error}"),
                );
            }
            url.clone()
        }
        Some(other) => {
            report.problem(
                line,
                who,
                format!("handler.url must be a string, not {}", toml_kind(other)),
            );
            String::new()
        }
        None => String::new(),
    };
    let timeout = parse_timeout(table, line, who, report);
    let headers = string_map(table, "headers", line, who, report);
    for (name, value) in &headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            report.problem(
                line,
                who,
                format!("handler.headers has {name:?}, which is not a valid HTTP header name"),
            );
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            report.problem(
                line,
                who,
                format!(
                    "handler.headers.{name} is not a valid HTTP header value: no line breaks or control characters"
                ),
            );
        }
    }
    if report.count() > before {
        return None;
    }
    Some(HttpSpec {
        url,
        timeout: timeout?,
        headers,
    })
}

fn parse_static_text(
    table: &toml::Table,
    line: Option<usize>,
    who: &str,
    report: &mut Report,
) -> Option<ToolCallResult> {
    let text = match table.get("static_text") {
        Some(Toml::String(text)) => Some(text.clone()),
        Some(other) => {
            report.problem(
                line,
                who,
                format!(
                    "handler.static_text must be a string, not {}",
                    toml_kind(other)
                ),
            );
            None
        }
        None => None,
    };
    let success = match table.get("success") {
        None => Some(true),
        Some(Toml::Boolean(success)) => Some(*success),
        Some(other) => {
            report.problem(
                line,
                who,
                format!(
                    "handler.success must be true or false, not {}",
                    toml_kind(other)
                ),
            );
            None
        }
    };
    Some(ToolCallResult::text(success?, text?))
}

fn parse_static_result(
    table: &toml::Table,
    line: Option<usize>,
    who: &str,
    report: &mut Report,
) -> Option<ToolCallResult> {
    let raw = table.get("static_result")?;
    let parsed = to_json(raw, "handler.static_result").and_then(|value| {
        parse_tool_call_result(value).map_err(|problem| format!("handler.static_result: {problem}"))
    });
    match parsed {
        Ok(result) => Some(result),
        Err(problem) => {
            report.problem(line, who, problem);
            None
        }
    }
}

/// TOML to JSON, refusing what JSON cannot hold. `at` names the value in messages.
fn to_json(value: &Toml, at: &str) -> Result<Json, String> {
    Ok(match value {
        Toml::String(text) => Json::String(text.clone()),
        Toml::Integer(number) => Json::from(*number),
        Toml::Float(number) => serde_json::Number::from_f64(*number)
            .map(Json::Number)
            .ok_or_else(|| format!("{at} is {number}, which JSON cannot represent"))?,
        Toml::Boolean(flag) => Json::Bool(*flag),
        Toml::Datetime(datetime) => {
            return Err(format!(
                "{at} is a TOML date or time ({datetime}), which JSON has no type for: quote it as a string"
            ));
        }
        Toml::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| to_json(item, &format!("{at}[{index}]")))
                .collect::<Result<_, _>>()?,
        ),
        Toml::Table(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, item)| Ok((key.clone(), to_json(item, &format!("{at}.{key}"))?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn toml_kind(value: &Toml) -> &'static str {
    match value {
        Toml::String(_) => "a string",
        Toml::Integer(_) => "an integer",
        Toml::Float(_) => "a float",
        Toml::Boolean(_) => "a boolean",
        Toml::Datetime(_) => "a date",
        Toml::Array(_) => "an array",
        Toml::Table(_) => "a table",
    }
}

/// `unknown key `x`: did you mean `y`? (a tool takes: a, b)`.
fn unknown_key(key: &str, allowed: &[&str], what: &str, takes: &str) -> String {
    let hint = suggest(key, allowed)
        .map(|near| format!(": did you mean `{near}`?"))
        .unwrap_or_default();
    format!(
        "unknown {what} `{key}`{hint} ({takes}: {})",
        allowed.join(", ")
    )
}

/// The allowed key a typo most likely meant: same letters ignoring case and separators
/// (`inputSchema`), or within two edits (`timeout`, `tool`).
fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let squash = |text: &str| -> String {
        text.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let squashed = squash(key);
    if let Some(exact) = allowed
        .iter()
        .find(|candidate| squash(candidate) == squashed)
    {
        return Some(exact);
    }
    if squashed.chars().count() < 3 {
        return None;
    }
    allowed
        .iter()
        .map(|candidate| (edit_distance(&squashed, &squash(candidate)), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
        .or_else(|| {
            // A known prefix, e.g. `timeout` for `timeout_ms`.
            allowed
                .iter()
                .find(|candidate| squash(candidate).starts_with(&squashed))
                .copied()
        })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

//! Walks the catalog TOML by hand rather than through `deny_unknown_fields`, so that one
//! pass reports every problem with its line and tool, and says what to write instead.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;
use toml::Value as Toml;

use super::approvals::{ApprovalRules, parse_approvals};
use super::examples::parse_examples;
use super::fields::{Fields, Lines, Place, Read, Report, Reported, SpanTree, to_json, toml_kind};
use super::handler::parse_handler;
use super::schema;
use super::{
    CODEX_BUILTIN_TOOLS, CODEX_MULTI_AGENT_NAMESPACE, CatalogError, CatalogWarning, NamespaceDef,
    Severity, ToolDef, qualified_name,
};

const TOP_KEYS: &[&str] = &["instructions", "tools", "namespaces", "approvals"];
const NAMESPACE_KEYS: &[&str] = &["name", "description", "tools"];
const TOOL_KEYS: &[&str] = &[
    "name",
    "description",
    "input_schema",
    "output_schema",
    "namespace",
    "defer_loading",
    "handler",
    "examples",
];
/// A tool under `[[namespaces]]`: the same without `namespace`.
const NAMESPACED_TOOL_KEYS: &[&str] = &[
    "name",
    "description",
    "input_schema",
    "output_schema",
    "defer_loading",
    "handler",
    "examples",
];
/// Namespaces codex keeps for its own tools and refuses at `thread/start`.
pub(super) const RESERVED_NAMESPACES: &[&str] = &[
    "functions",
    "web",
    "browser",
    "python",
    "tool_search",
    "container",
];
/// The prefix of MCP servers' namespaces, refused too.
pub(super) const MCP_PREFIX: &str = "mcp__";
/// codex's own limits at `thread/start`.
const MAX_CODEX_NAME_LEN: usize = 128;
const MAX_NAMESPACE_LEN: usize = 64;

/// The OpenAI API's documented limit on function names.
const MAX_NAME_LEN: usize = 64;

pub(super) struct Parsed {
    pub instructions: Option<String>,
    pub namespaces: Vec<NamespaceDef>,
    pub tools: Vec<ToolDef>,
    pub warnings: Vec<CatalogWarning>,
    pub approvals: ApprovalRules,
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
    let spans = toml::from_str::<SpanTree>(text).ok();
    let root = Place::root(spans.as_ref(), &lines);
    let mut report = Report::new(path.display().to_string());
    let mut top = Fields::new(&table, root, String::new(), &mut report);
    top.unknown_keys(TOP_KEYS, "top-level key", "the top level takes");
    let instructions = top
        .string("instructions")
        .ok()
        .flatten()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    let canonical = top.get("namespaces").is_some();
    let mut sources = tool_list(&mut top, canonical);
    let namespaces = namespace_list(&mut top, &mut sources);
    let approvals = parse_approvals(&table, root, dir, &mut report);

    let mut tools = Vec::new();
    // (namespace, name) -> (label, line) of the first definition.
    let mut seen: HashMap<(Option<String>, String), (String, Option<usize>)> = HashMap::new();
    for source in sources {
        let place = source.place;
        let Toml::Table(raw) = source.raw else {
            report.problem(
                place.line(),
                &source.label,
                format!(
                    "must be a table with name, description and input_schema, not {}: write it under a {} header",
                    toml_kind(source.raw),
                    source.header,
                ),
            );
            continue;
        };
        let label = source.label.clone();
        let parsed = parse_tool(&source, raw, canonical, dir, &mut report);
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
                            "is defined twice (first at {at}{first}): tool names must be unique within a namespace; rename or remove one"
                        ),
                    );
                }
                None => {
                    seen.insert(key, (label, place.of("name")));
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
            namespaces,
            tools,
            warnings: report.warnings,
            approvals,
        });
    }
    // File order reads best; problems without a line (rare) come first.
    report.problems.sort_by_key(|(line, _)| *line);
    Err(CatalogError::Invalid {
        path: path.to_path_buf(),
        problems: report.problems.into_iter().map(|(_, text)| text).collect(),
    })
}

/// One tool table still to read, wherever it sits.
struct ToolSource<'a> {
    /// `tools[0]` or `namespaces[1].tools[0]`, for messages until the name is known.
    label: String,
    /// The header that makes such a table, for messages.
    header: &'static str,
    raw: &'a Toml,
    place: Place<'a>,
    /// `None` for a top-level `[[tools]]`; the enclosing namespace for one under
    /// `[[namespaces]]` (`Err` when that namespace's name has a problem).
    enclosing: Option<Result<String, Reported>>,
}

/// The top-level `tools` array; a warning when the catalog has no tools at all.
fn tool_list<'a>(top: &mut Fields<'a, '_>, canonical: bool) -> Vec<ToolSource<'a>> {
    let tools: &'a [Toml] = match top.get("tools") {
        None => &[],
        Some(Toml::Array(items)) => items,
        Some(other) => {
            let message = format!(
                "tools must be an array of tables, not {}: write each tool under a [[tools]] header",
                toml_kind(other)
            );
            top.problem("tools", message);
            return Vec::new();
        }
    };
    if tools.is_empty() && !canonical {
        top.warn(
            None,
            "tools",
            Severity::Warning,
            "the catalog declares no tools: add a [[tools]] table for each tool".to_string(),
        );
    }
    let place = top.place.key("tools");
    tools
        .iter()
        .enumerate()
        .map(|(index, raw)| ToolSource {
            label: format!("tools[{index}]"),
            header: "[[tools]]",
            raw,
            place: place.index(index),
            enclosing: None,
        })
        .collect()
}

/// The canonical shape: `[[namespaces]]` with a name, a description and its tools (added
/// to `sources`).
fn namespace_list<'a>(
    top: &mut Fields<'a, '_>,
    sources: &mut Vec<ToolSource<'a>>,
) -> Vec<NamespaceDef> {
    let items: &'a [Toml] = match top.get("namespaces") {
        None => return Vec::new(),
        Some(Toml::Array(items)) => items,
        Some(other) => {
            let message = format!(
                "namespaces must be an array of tables, not {}: write each namespace under a [[namespaces]] header",
                toml_kind(other)
            );
            top.problem("namespaces", message);
            return Vec::new();
        }
    };
    let mut namespaces: Vec<NamespaceDef> = Vec::new();
    for (index, raw) in items.iter().enumerate() {
        let place = top.place.key("namespaces").index(index);
        let label = format!("namespaces[{index}]");
        let Toml::Table(table) = raw else {
            top.report.problem(
                place.line(),
                &label,
                format!(
                    "must be a table with name, description and tools, not {}: write it under a [[namespaces]] header",
                    toml_kind(raw)
                ),
            );
            continue;
        };
        let mut fields = Fields::new(table, place, label.clone(), &mut *top.report);
        fields.unknown_keys(NAMESPACE_KEYS, "key", "a namespace takes");
        let name = namespace_name(&mut fields);
        if let Ok(name) = &name {
            fields.who = format!("namespace `{name}`");
        }
        let description = fields.non_empty_string(
            "description",
            "say what the tools of this namespace are for",
        );
        let description = fields.required(
            "description",
            description,
            "add description = \"...\": codex shows it to the model with the namespace",
        );
        let tools: &'a [Toml] = match fields.get("tools") {
            Some(Toml::Array(tools)) if !tools.is_empty() => tools,
            Some(Toml::Array(_)) | None => {
                fields.problem_here(
                    "has no tools: add [[namespaces.tools]] tables under it, or remove it (codex refuses an empty namespace)",
                );
                &[]
            }
            Some(other) => {
                fields.wrong_type(
                    "tools",
                    "an array of tables written under [[namespaces.tools]] headers",
                    other,
                );
                &[]
            }
        };
        let tools_place = place.key("tools");
        for (position, raw) in tools.iter().enumerate() {
            sources.push(ToolSource {
                label: format!("{label}.tools[{position}]"),
                header: "[[namespaces.tools]]",
                raw,
                place: tools_place.index(position),
                enclosing: Some(name.clone()),
            });
        }
        let (Ok(name), Some(description)) = (name, description) else {
            continue;
        };
        if let Some(first) = namespaces.iter().find(|ns| ns.name == name) {
            let at = first
                .line
                .map(|l| format!(" at line {l}"))
                .unwrap_or_default();
            fields.problem(
                "name",
                format!(
                    "is declared twice (first{at}): put all its tools under one [[namespaces]]"
                ),
            );
            continue;
        }
        let line = fields.line("name");
        namespaces.push(NamespaceDef {
            name,
            description,
            line,
        });
    }
    namespaces
}

/// A `[[namespaces]]` entry's `name`.
fn namespace_name(fields: &mut Fields<'_, '_>) -> Result<String, Reported> {
    let name = fields.string("name");
    let name = fields
        .required(
            "name",
            name,
            "add name = \"...\" using ASCII letters, digits, '_' and '-'",
        )
        .ok_or(Reported)?;
    match namespace_problem(&name) {
        Some(problem) => {
            fields.problem("name", problem);
            Err(Reported)
        }
        None => Ok(name),
    }
}

/// What is wrong with a namespace name, as a sentence; `None` when codex accepts it.
fn namespace_problem(namespace: &str) -> Option<String> {
    if namespace.trim().is_empty() {
        return Some("namespace is empty: remove it, or name the namespace".to_string());
    }
    if RESERVED_NAMESPACES.contains(&namespace) {
        return Some(format!(
            "namespace `{namespace}` is reserved by codex and refused: choose another name"
        ));
    }
    if namespace.starts_with(MCP_PREFIX) {
        return Some(format!(
            "namespace `{namespace}` starts with `{MCP_PREFIX}`, which codex reserves for MCP servers and refuses: choose another name"
        ));
    }
    if namespace.chars().count() > MAX_NAMESPACE_LEN {
        return Some(format!(
            "namespace is {} characters long: codex refuses namespaces over {MAX_NAMESPACE_LEN} at thread/start; shorten it",
            namespace.chars().count()
        ));
    }
    name_problem(namespace).map(|problem| format!("namespace {problem}"))
}

struct ParsedTool {
    /// `(namespace, name)` when both are valid, for the duplicate check.
    key: Option<(Option<String>, String)>,
    /// Only when the tool has no problem at all.
    tool: Option<ToolDef>,
}

fn parse_tool(
    source: &ToolSource<'_>,
    raw: &toml::Table,
    canonical: bool,
    dir: &Path,
    report: &mut Report,
) -> ParsedTool {
    let before = report.count();
    let mut fields = Fields::new(raw, source.place, source.label.clone(), report);
    let (name, namespace) = tool_identity(&mut fields, source, canonical);
    let qualified = name
        .as_ref()
        .map(|name| qualified_name(namespace.clone().ok().flatten().as_deref(), name));
    let tool_name = qualified.as_deref();
    let keys = match source.enclosing {
        Some(_) => NAMESPACED_TOOL_KEYS,
        None => TOOL_KEYS,
    };
    fields.unknown_keys_but(keys, &["namespace"], "key", "a tool takes");
    let description =
        fields.non_empty_string("description", "say what the tool does and when to use it");
    let description = fields.required(
        "description",
        description,
        "say what the tool does and when to use it",
    );
    let defer_loading = fields.bool("defer_loading").ok().flatten();
    if defer_loading == Some(true)
        && fields.get("namespace").is_none()
        && source.enclosing.is_none()
    {
        fields.problem(
            "defer_loading",
            "defer_loading = true needs a namespace (codex refuses it otherwise): add namespace = \"...\" or remove defer_loading",
        );
    }
    let input = input_schema(&mut fields, tool_name);
    let output_schema = fields.get("output_schema").and_then(|raw_schema| {
        check_schema(&mut fields, raw_schema, "output_schema", tool_name).map(|(schema, _)| schema)
    });
    let handler = parse_handler(&mut fields, dir, tool_name);
    let examples = parse_examples(&mut fields).unwrap_or_default();
    if !examples.is_empty() && fields.get("handler").is_none() {
        fields.problem(
            "examples",
            "has examples but no handler: `catalog test` runs examples against the handler; add one, or remove the examples",
        );
    }
    if let (Some(name), Ok(namespace)) = (&name, &namespace) {
        name_warnings(&mut fields, name, namespace.as_deref(), tool_name);
    }
    if fields.get("handler").is_none() {
        let line = fields.place.line();
        fields.report.warn(
            tool_name,
            line,
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
            tool.examples = examples;
            Some(match validator {
                Some(validator) => tool.with_validator(validator),
                None => tool,
            })
        }
        _ => None,
    };
    ParsedTool { key, tool }
}

/// The tool's name and namespace; `fields.who` names the tool from then on.
fn tool_identity(
    fields: &mut Fields<'_, '_>,
    source: &ToolSource<'_>,
    canonical: bool,
) -> (Option<String>, Result<Option<String>, Reported>) {
    let name = tool_name(fields).ok().flatten();
    if let Some(name) = &name {
        fields.who = format!("tool `{name}`");
    }
    let namespace = tool_namespace(fields, source.enclosing.as_ref(), canonical);
    if let (Some(name), Ok(Some(namespace))) = (&name, &namespace) {
        fields.who = format!("tool `{}`", qualified_name(Some(namespace), name));
    }
    (name, namespace)
}

/// `name`: present, a string, and a name codex accepts.
fn tool_name(fields: &mut Fields<'_, '_>) -> Read<String> {
    let name = fields.string("name");
    let name = fields.required(
        "name",
        name,
        "add name = \"...\" using ASCII letters, digits, '_' and '-'",
    );
    let Some(name) = name else {
        return Err(Reported);
    };
    let problem = name_problem(&name).map(|problem| format!("name {problem}")).or_else(|| {
        (name.chars().count() > MAX_CODEX_NAME_LEN).then(|| {
            format!(
                "name is {} characters long: codex refuses tool names over {MAX_CODEX_NAME_LEN} at thread/start; shorten it",
                name.chars().count()
            )
        })
    });
    match problem {
        Some(problem) => {
            fields.problem("name", problem);
            Err(Reported)
        }
        None => Ok(Some(name)),
    }
}

/// `Ok(None)` is "no namespace"; `Err` a namespace with a problem already reported.
/// `enclosing` is the `[[namespaces]]` entry a tool sits under; `canonical` says the
/// catalog has `[[namespaces]]`, where a legacy `namespace = ".."` key would mix shapes.
fn tool_namespace(
    fields: &mut Fields<'_, '_>,
    enclosing: Option<&Result<String, Reported>>,
    canonical: bool,
) -> Result<Option<String>, Reported> {
    let written = fields.string("namespace")?;
    if let Some(enclosing) = enclosing {
        if written.is_some() {
            fields.problem(
                "namespace",
                "a tool under [[namespaces]] belongs to that namespace: remove its namespace key",
            );
        }
        return enclosing.clone().map(Some);
    }
    let Some(namespace) = written else {
        return Ok(None);
    };
    if canonical {
        fields.problem(
            "namespace",
            format!(
                "namespace = \"{namespace}\" is the legacy shape, but this catalog declares [[namespaces]] (the canonical shape), and codex refuses a mix of the two at thread/start: move the tool under [[namespaces.tools]] of a [[namespaces]] named `{namespace}`"
            ),
        );
        return Err(Reported);
    }
    match namespace_problem(&namespace) {
        Some(problem) => {
            fields.problem("namespace", problem);
            Err(Reported)
        }
        None => Ok(Some(namespace)),
    }
}

/// The checked input schema and its validator; a warning for a schema codex takes oddly.
fn input_schema(
    fields: &mut Fields<'_, '_>,
    tool_name: Option<&str>,
) -> Option<(Json, Option<jsonschema::Validator>)> {
    let Some(raw_schema) = fields.get("input_schema") else {
        fields.problem_here(
            "input_schema is missing: add input_schema = { type = \"object\", properties = { ... } }",
        );
        return None;
    };
    let checked = check_schema(fields, raw_schema, "input_schema", tool_name);
    if let Some((schema, _)) = &checked
        && let Some(concern) = schema::top_level_concern(schema)
    {
        fields.warn(tool_name, "input_schema", Severity::Warning, concern);
    }
    checked
}

/// Names codex accepts but treats in a way the author probably does not expect.
fn name_warnings(
    fields: &mut Fields<'_, '_>,
    name: &str,
    namespace: Option<&str>,
    tool_name: Option<&str>,
) {
    let in_builtin_namespace =
        namespace.is_none_or(|namespace| namespace == CODEX_MULTI_AGENT_NAMESPACE);
    if in_builtin_namespace && CODEX_BUILTIN_TOOLS.contains(&name) {
        fields.warn(
            tool_name,
            "name",
            Severity::Warning,
            format!(
                "codex has a built-in tool named `{name}` and silently calls it instead of this one: rename the tool"
            ),
        );
    }
    if name.len() > MAX_NAME_LEN {
        fields.warn(
            tool_name,
            "name",
            Severity::Warning,
            format!(
                "name is {} characters long: the OpenAI API refuses function names over {MAX_NAME_LEN}",
                name.len()
            ),
        );
    }
    if namespace == Some(CODEX_MULTI_AGENT_NAMESPACE) {
        fields.warn(
            tool_name,
            "namespace",
            Severity::Warning,
            format!(
                "namespace `{CODEX_MULTI_AGENT_NAMESPACE}` is codex's built-in multi-agent namespace: the tool is merged into it; choose another namespace unless that is intended"
            ),
        );
    }
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
    fields: &mut Fields<'_, '_>,
    raw: &Toml,
    key: &str,
    tool_name: Option<&str>,
) -> Option<(Json, Option<jsonschema::Validator>)> {
    let schema = match raw {
        Toml::Table(_) => match to_json(raw, key) {
            Ok(schema) => schema,
            Err(problem) => {
                fields.problem(key, problem);
                return None;
            }
        },
        // Long schemas are easier to paste as JSON text than to translate to TOML.
        Toml::String(text) => match serde_json::from_str::<Json>(text) {
            Ok(schema @ Json::Object(_)) => schema,
            Ok(other) => {
                fields.problem(
                    key,
                    format!(
                        "{key} holds JSON text of {}, but a schema must be an object",
                        crate::protocol::json_kind(&other)
                    ),
                );
                return None;
            }
            Err(error) => {
                fields.problem(
                    key,
                    format!("{key} is a string but not JSON text of a schema object: {error}"),
                );
                return None;
            }
        },
        other => {
            fields.problem(
                key,
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
        fields.warn(
            tool_name,
            key,
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
                fields.problem(key, problem);
            }
            None
        }
    }
}

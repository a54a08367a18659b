//! Examples: a tool's calls with the answers they must get, run by `catalog test`.
//!
//! An example is `arguments` plus `expect`; the checks are pure functions of the tool and
//! the answer, so `catalog test`, `--through-codex` and anything else that has an answer
//! share them.

use std::sync::Arc;

use serde_json::Value as Json;
use toml::Value as Toml;

use super::fields::{Fields, Reported, to_json, toml_kind};
use super::{ToolDef, schema};
use crate::protocol::{ContentItem, ToolCallResult};

const EXAMPLE_KEYS: &[&str] = &["name", "arguments", "expect"];
const EXPECT_KEYS: &[&str] = &[
    "success",
    "text_contains",
    "text_matches",
    "json_equals",
    "json_schema",
];

/// One example of a tool.
#[derive(Debug, Clone)]
pub struct Example {
    /// The example's own `name`, else `#N` (from 1, in file order).
    pub label: String,
    /// Line of the example in its file.
    pub line: Option<usize>,
    pub arguments: Json,
    pub expect: Expect,
}

impl PartialEq for Example {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
            && self.line == other.line
            && self.arguments == other.arguments
            && self.expect == other.expect
    }
}

/// What the answer must be. Without any key: `success = true`.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub success: Option<bool>,
    /// Each must occur in the answer's text.
    pub text_contains: Vec<String>,
    /// A regular expression (ECMA 262, as in JSON Schema's `pattern`) the text must match
    /// somewhere.
    pub text_matches: Option<String>,
    /// The text, read as JSON, must equal this.
    pub json_equals: Option<Json>,
    /// The text, read as JSON, must match this schema.
    pub json_schema: Option<Json>,
    pattern: Option<Arc<jsonschema::Validator>>,
    json_validator: Option<Arc<jsonschema::Validator>>,
}

impl PartialEq for Expect {
    // The validators are compiled from the fields beside them.
    fn eq(&self, other: &Self) -> bool {
        self.success == other.success
            && self.text_contains == other.text_contains
            && self.text_matches == other.text_matches
            && self.json_equals == other.json_equals
            && self.json_schema == other.json_schema
    }
}

/// The answer's text: its text items joined by newlines.
pub fn answer_text(result: &ToolCallResult) -> String {
    result
        .content_items
        .iter()
        .filter_map(|item| match item {
            ContentItem::InputText { text } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl ToolDef {
    /// How a successful JSON answer misses the tool's `output_schema`; empty when it
    /// matches, when the tool has none, when the answer is `success: false` (an error
    /// text) or when its text is not JSON (plain text is not checked).
    pub fn output_problems(&self, result: &ToolCallResult) -> Vec<String> {
        let Some(output_schema) = &self.output_schema else {
            return Vec::new();
        };
        if !result.success {
            return Vec::new();
        }
        let Ok(answer) = serde_json::from_str::<Json>(&answer_text(result)) else {
            return Vec::new();
        };
        let (sanitized, _) = schema::sanitize_property_types(output_schema, "");
        match jsonschema::validator_for(&sanitized) {
            Ok(validator) => validator
                .iter_errors(&answer)
                .take(10)
                .map(|error| format!("output_schema: answer{}: {error}", error.instance_path()))
                .collect(),
            Err(error) => vec![format!("output_schema cannot be used: {error}")],
        }
    }
}

impl Example {
    /// Everything wrong with `result` as this example's answer, in a fixed order:
    /// `success`, the output schema, then the other expectations. Empty: it passed.
    pub fn check(&self, tool: &ToolDef, result: &ToolCallResult) -> Vec<String> {
        let mut problems = Vec::new();
        let expect = &self.expect;
        let text = answer_text(result);
        let wanted = expect.success.unwrap_or(true);
        if result.success != wanted {
            problems.push(format!(
                "expected success = {wanted}, got {}: {}",
                result.success,
                shorten(&text)
            ));
        }
        problems.extend(tool.output_problems(result));
        for needle in &expect.text_contains {
            if !text.contains(needle.as_str()) {
                problems.push(format!(
                    "text_contains: {needle:?} is not in the answer {}",
                    shorten(&text)
                ));
            }
        }
        if let (Some(pattern), Some(validator)) = (&expect.text_matches, &expect.pattern)
            && !validator.is_valid(&Json::String(text.clone()))
        {
            problems.push(format!(
                "text_matches: /{pattern}/ does not match the answer {}",
                shorten(&text)
            ));
        }
        if expect.json_equals.is_some() || expect.json_validator.is_some() {
            match serde_json::from_str::<Json>(&text) {
                Err(error) => problems.push(format!(
                    "the answer is not JSON ({error}), but the example expects JSON: {}",
                    shorten(&text)
                )),
                Ok(answer) => {
                    if let Some(expected) = &expect.json_equals
                        && *expected != answer
                    {
                        problems.push(format!("json_equals: expected {expected}, got {answer}"));
                    }
                    if let Some(validator) = &expect.json_validator {
                        problems.extend(validator.iter_errors(&answer).take(10).map(|error| {
                            format!("json_schema: answer{}: {error}", error.instance_path())
                        }));
                    }
                }
            }
        }
        problems
    }
}

/// At most 200 characters of an answer, quoted, for messages.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 200;
    if text.chars().count() <= LIMIT {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(LIMIT).collect();
    format!("{head:?}...")
}

/// A tool's `examples` (`[[tools.examples]]`), problems reported.
pub(super) fn parse_examples(fields: &mut Fields<'_, '_>) -> Result<Vec<Example>, Reported> {
    let items = match fields.get("examples") {
        None => return Ok(Vec::new()),
        Some(Toml::Array(items)) => items,
        Some(other) => {
            return Err(fields.wrong_type(
                "examples",
                "an array of tables written under [[tools.examples]] headers",
                other,
            ));
        }
    };
    let mut examples = Vec::new();
    let mut bad = false;
    for (index, item) in items.iter().enumerate() {
        let Toml::Table(table) = item else {
            let message = format!(
                "examples[{index}] must be a table with arguments and expect, not {}",
                toml_kind(item)
            );
            fields.problem("examples", message);
            bad = true;
            continue;
        };
        let mut example = fields.nested_item("examples", index, table);
        match parse_example(&mut example, index) {
            Ok(parsed) => examples.push(parsed),
            Err(Reported) => bad = true,
        }
    }
    if bad { Err(Reported) } else { Ok(examples) }
}

/// Parses one example table: `fields` reads `examples[index]`.
pub(super) fn parse_example(
    fields: &mut Fields<'_, '_>,
    index: usize,
) -> Result<Example, Reported> {
    let before = fields.report.count();
    fields.unknown_keys(EXAMPLE_KEYS, "example key", "an example takes");
    let example = parse_example_keys(fields, index);
    if fields.report.count() > before {
        return Err(Reported);
    }
    example
}

/// `name`, `arguments` and `expect` of an example; unknown keys are the caller's.
fn parse_example_keys(fields: &mut Fields<'_, '_>, index: usize) -> Result<Example, Reported> {
    let before = fields.report.count();
    let label = fields
        .non_empty_string("name", "remove it, or name the example")
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("#{}", index + 1));
    let arguments = match fields.get("arguments") {
        None => Json::Object(serde_json::Map::new()),
        Some(raw) => to_json(raw, &fields.path("arguments")).unwrap_or_else(|problem| {
            fields.problem("arguments", problem);
            Json::Null
        }),
    };
    let expect = match fields.get("expect") {
        None => Expect::default(),
        Some(Toml::Table(table)) => {
            let mut expect = fields.nested("expect", table);
            parse_expect(&mut expect)
        }
        Some(other) => {
            fields.wrong_type(
                "expect",
                "a table such as { success = true, text_contains = \"...\" }",
                other,
            );
            Expect::default()
        }
    };
    if fields.report.count() > before {
        return Err(Reported);
    }
    Ok(Example {
        label,
        line: fields.place.line(),
        arguments,
        expect,
    })
}

fn parse_expect(fields: &mut Fields<'_, '_>) -> Expect {
    fields.unknown_keys(EXPECT_KEYS, "expect key", "expect takes");
    let success = fields.bool("success").ok().flatten();
    let text_contains = match fields.get("text_contains") {
        Some(Toml::String(text)) => vec![text.clone()],
        _ => fields
            .string_array("text_contains", "[\"open\", \"T-1\"]")
            .ok()
            .flatten()
            .unwrap_or_default(),
    };
    let text_matches = fields.string("text_matches").ok().flatten();
    let pattern = text_matches.as_ref().and_then(|pattern| {
        let schema = serde_json::json!({ "type": "string", "pattern": pattern });
        match jsonschema::validator_for(&schema) {
            Ok(validator) => Some(Arc::new(validator)),
            Err(error) => {
                let message = format!(
                    "{} is not a valid regular expression: {error}",
                    fields.path("text_matches")
                );
                fields.problem("text_matches", message);
                None
            }
        }
    });
    let json_equals = fields.get("json_equals").and_then(|raw| {
        to_json(raw, &fields.path("json_equals"))
            .map_err(|problem| fields.problem("json_equals", problem))
            .ok()
    });
    let json_schema = fields.get("json_schema").and_then(|raw| {
        let Toml::Table(_) = raw else {
            fields.wrong_type("json_schema", "a table (a JSON Schema object)", raw);
            return None;
        };
        to_json(raw, &fields.path("json_schema"))
            .map_err(|problem| fields.problem("json_schema", problem))
            .ok()
    });
    let json_validator = json_schema.as_ref().and_then(|schema| {
        let path = fields.path("json_schema");
        match schema::compile(schema, &path) {
            Ok(validator) => Some(Arc::new(validator)),
            Err(problems) => {
                for problem in problems {
                    fields.problem("json_schema", problem);
                }
                None
            }
        }
    });
    Expect {
        success,
        text_contains,
        text_matches,
        json_equals,
        json_schema,
        pattern,
        json_validator,
    }
}

/// An example from a test file, for the tool it names.
#[derive(Debug, Clone, PartialEq)]
pub struct FileExample {
    /// The tool's qualified name (`ns.tool` or `tool`).
    pub tool: String,
    pub example: Example,
}

const TEST_FILE_KEYS: &[&str] = &["catalog", "examples"];
const FILE_EXAMPLE_KEYS: &[&str] = &["tool", "name", "arguments", "expect"];

/// A test file: `catalog = "PATH"` (relative to the file) and `[[examples]]`, each with
/// the `tool` it calls. Returns the catalog path and the examples; tool names are checked
/// by the caller, which has the catalog.
pub(super) fn parse_test_file(
    text: &str,
    path: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(std::path::PathBuf, Vec<FileExample>), super::CatalogError> {
    use super::fields::{Lines, Place, Report, SpanTree};
    let lines = Lines::new(text);
    let table: toml::Table = toml::from_str(text).map_err(|error| super::CatalogError::Syntax {
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
    let spans = toml::from_str::<SpanTree>(text).ok();
    let root = Place::root(spans.as_ref(), &lines);
    let mut report = Report::new(path.display().to_string());
    let mut top = Fields::new(&table, root, String::new(), &mut report);
    top.unknown_keys(TEST_FILE_KEYS, "top-level key", "a test file takes");
    let catalog = top.non_empty_string("catalog", "name the catalog file, relative to this file");
    let catalog = top.required(
        "catalog",
        catalog,
        "add catalog = \"FILE\": the catalog whose tools these examples call",
    );
    let items: &[Toml] = match top.get("examples") {
        Some(Toml::Array(items)) => items,
        Some(other) => {
            top.wrong_type(
                "examples",
                "an array of tables under [[examples]] headers",
                other,
            );
            &[]
        }
        None => &[],
    };
    let mut examples = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Toml::Table(table) = item else {
            let message = format!(
                "examples[{index}] must be a table with tool, arguments and expect, not {}",
                toml_kind(item)
            );
            top.problem("examples", message);
            continue;
        };
        let mut fields = top.nested_item("examples", index, table);
        fields.who = format!("examples[{index}]");
        let tool = fields.non_empty_string("tool", "name the tool, e.g. tool = \"lookup_ticket\"");
        let tool = fields.required("tool", tool, "add tool = \"NAME\" (or \"namespace.name\")");
        if let Some(tool) = &tool {
            fields.who = format!("example of `{tool}`");
        }
        // `tool` is this file's own key; the rest is an ordinary example.
        let rest: toml::Table = table
            .iter()
            .filter(|(key, _)| key.as_str() != "tool")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        for key in table.keys() {
            if !FILE_EXAMPLE_KEYS.contains(&key.as_str()) {
                let message = super::fields::unknown_key(
                    key,
                    FILE_EXAMPLE_KEYS,
                    "example key",
                    "an example takes",
                );
                fields.problem(key, message);
            }
        }
        let mut inner = Fields::new(&rest, fields.place, fields.who.clone(), &mut *fields.report);
        let parsed = parse_example_keys(&mut inner, index);
        if let (Some(tool), Ok(example)) = (tool, parsed) {
            examples.push(FileExample { tool, example });
        }
    }
    if report.problems.is_empty()
        && let Some(catalog) = catalog
    {
        return Ok((dir.join(catalog), examples));
    }
    report.problems.sort_by_key(|(line, _)| *line);
    Err(super::CatalogError::Invalid {
        path: path.to_path_buf(),
        problems: report.problems.into_iter().map(|(_, text)| text).collect(),
    })
}

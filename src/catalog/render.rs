//! The instruction text: a deterministic description of the catalog for the prompt.

use serde_json::{Map, Value};

use super::ToolDef;

/// Renders the preamble, then one section per tool in catalog order. Schemas are pretty
/// JSON with sorted keys, so the text depends only on the catalog's content, never on map
/// ordering, and a prompt cache keyed on it stays warm.
pub(super) fn instruction_text(instructions: Option<&str>, tools: &[ToolDef]) -> String {
    let mut out = String::new();
    if let Some(preamble) = instructions.map(str::trim).filter(|text| !text.is_empty()) {
        out.push_str(preamble);
        out.push('\n');
    }
    if tools.is_empty() {
        return out;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str("# Tools\n");
    for tool in tools {
        out.push_str("\n## ");
        out.push_str(&tool.name);
        if let Some(namespace) = &tool.namespace {
            out.push_str(" (namespace `");
            out.push_str(namespace);
            out.push_str("`)");
        }
        out.push('\n');
        out.push_str(tool.description.trim());
        out.push_str("\n\nInput schema:\n");
        push_json_block(&mut out, &tool.input_schema);
        if let Some(output_schema) = &tool.output_schema {
            out.push_str("\nOutput schema:\n");
            push_json_block(&mut out, output_schema);
        }
    }
    out
}

fn push_json_block(out: &mut String, value: &Value) {
    out.push_str("```json\n");
    out.push_str(&canonical_pretty_json(value));
    out.push_str("\n```\n");
}

/// Pretty JSON with object keys sorted at every level, whatever map order serde_json uses.
pub(crate) fn canonical_pretty_json(value: &Value) -> String {
    let sorted = sort_keys(value);
    // Serialising a `Value` cannot fail: its keys are strings and its numbers are finite.
    serde_json::to_string_pretty(&sorted).unwrap_or_else(|_| sorted.to_string())
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut sorted = Map::new();
            for (key, child) in entries {
                sorted.insert(key.clone(), sort_keys(child));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

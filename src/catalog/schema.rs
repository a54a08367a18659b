//! JSON Schema checks for catalog schemas: codex's property-type sanitising, meta-schema
//! validation that reports every problem, and compiling the argument validator.

use serde_json::{Map, Value};

/// The type names JSON Schema defines; codex replaces a property with any other type by `{}`.
pub(super) const JSON_TYPES: [&str; 7] = [
    "string", "number", "integer", "boolean", "object", "array", "null",
];

/// Keywords whose value is a single subschema.
const SCHEMA_KEYWORDS: [&str; 9] = [
    "items",
    "additionalProperties",
    "additionalItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "not",
    "if",
    "then",
    "else",
];
/// Keywords whose value is an array of subschemas.
const SCHEMA_ARRAY_KEYWORDS: [&str; 5] = ["items", "prefixItems", "anyOf", "oneOf", "allOf"];
/// Keywords whose value maps names to subschemas.
const SCHEMA_MAP_KEYWORDS: [&str; 4] = ["properties", "patternProperties", "$defs", "definitions"];

/// A subschema whose `type` codex would not keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnknownType {
    /// Dotted location, e.g. `input_schema.properties.due`.
    pub location: String,
    /// The `type` value as JSON text.
    pub found: String,
}

fn is_known_type(value: &Value) -> bool {
    match value {
        Value::String(name) => JSON_TYPES.contains(&name.as_str()),
        Value::Array(names) => names
            .iter()
            .all(|name| name.as_str().is_some_and(|name| JSON_TYPES.contains(&name))),
        _ => false,
    }
}

/// A copy of `schema` in which every nested schema with an unknown `type` is `{}`, as codex
/// sends it to the model, plus where that happened. The root is left alone: an unknown root
/// type is an invalid schema, not something codex repairs.
pub(super) fn sanitize_property_types(schema: &Value, root: &str) -> (Value, Vec<UnknownType>) {
    let mut sanitized = schema.clone();
    let mut found = Vec::new();
    if let Value::Object(map) = &mut sanitized {
        sanitize_children(map, root, &mut found);
    }
    (sanitized, found)
}

fn sanitize_children(map: &mut Map<String, Value>, at: &str, found: &mut Vec<UnknownType>) {
    for (key, child) in map.iter_mut() {
        let key = key.as_str();
        if SCHEMA_KEYWORDS.contains(&key) {
            sanitize_schema(child, &join(at, key), found);
        }
        if SCHEMA_ARRAY_KEYWORDS.contains(&key)
            && let Value::Array(items) = child
        {
            for (index, item) in items.iter_mut().enumerate() {
                sanitize_schema(item, &format!("{}[{index}]", join(at, key)), found);
            }
        }
        if SCHEMA_MAP_KEYWORDS.contains(&key)
            && let Value::Object(entries) = child
        {
            for (name, entry) in entries.iter_mut() {
                sanitize_schema(entry, &join(&join(at, key), name), found);
            }
        }
    }
}

fn sanitize_schema(schema: &mut Value, at: &str, found: &mut Vec<UnknownType>) {
    let Value::Object(map) = schema else {
        return;
    };
    if let Some(kind) = map.get("type")
        && !is_known_type(kind)
    {
        found.push(UnknownType {
            location: at.to_string(),
            found: kind.to_string(),
        });
        *schema = Value::Object(Map::new());
        return;
    }
    sanitize_children(map, at, found);
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// Checks `schema` against its meta-schema, reporting every violation, then compiles it.
/// `key` prefixes each message (`input_schema at /properties/x: ...`).
pub(super) fn compile(schema: &Value, key: &str) -> Result<jsonschema::Validator, Vec<String>> {
    let meta =
        jsonschema::meta::validator_for(schema).map_err(|error| vec![format!("{key}: {error}")])?;
    let problems: Vec<String> = meta
        .iter_errors(schema)
        .map(|error| {
            let at = error.instance_path().as_str();
            if at.is_empty() {
                format!("{key} is not a valid JSON Schema: {error}")
            } else {
                format!("{key} is not a valid JSON Schema at {at}: {error}")
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    jsonschema::validator_for(schema)
        .map_err(|error| vec![format!("{key} cannot be compiled: {error}")])
}

/// Why a top-level input schema gives the model no useful shape, if it does not.
pub(super) fn top_level_concern(schema: &Value) -> Option<String> {
    let map = schema.as_object()?;
    if map.is_empty() {
        return Some(
            "input_schema is {}: codex passes it unchanged and the model may send any JSON, \
             even a bare string; describe the arguments with type = \"object\" and properties"
                .to_string(),
        );
    }
    match map.get("type") {
        Some(Value::String(kind)) if kind == "object" => None,
        Some(kind) => Some(format!(
            "input_schema has type {kind}, not \"object\": function-call arguments are a JSON \
             object, so the model is likely to get it wrong"
        )),
        None => Some(
            "input_schema has no top-level type = \"object\": the model may send arguments \
             that are not an object"
                .to_string(),
        ),
    }
}

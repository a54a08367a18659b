//! Deterministic example arguments built from a tool's JSON Schema, so a scenario can call a
//! tool without spelling out its arguments.

use serde_json::{Map, Number, Value, json};

/// Nesting deeper than this yields `{}`: schemas from a catalog are trees, but nothing stops
/// one from being absurdly deep.
const MAX_DEPTH: usize = 16;

/// Arguments for a tool whose `parameters` schema is `schema`. A missing or unusable schema
/// gives `{}`, which is what a model would send to a tool without parameters.
pub fn example_arguments(schema: &Value) -> Value {
    match schema {
        Value::Object(map) if !map.is_empty() => example_value(schema, "", 0),
        _ => Value::Object(Map::new()),
    }
}

fn example_value(schema: &Value, name: &str, depth: usize) -> Value {
    let Some(map) = schema.as_object() else {
        return Value::Object(Map::new());
    };
    if depth > MAX_DEPTH {
        return Value::Object(Map::new());
    }
    if let Some(value) = map.get("const") {
        return value.clone();
    }
    if let Some(first) = map
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(value) = map.get("default") {
        return value.clone();
    }
    if let Some(first) = map
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = map
            .get(key)
            .and_then(Value::as_array)
            .and_then(|v| first_non_null(v))
        {
            return example_value(first, name, depth + 1);
        }
    }

    match schema_type(map).as_deref() {
        Some("object") => example_object(map, depth),
        Some("array") => example_array(map, name, depth),
        Some("string") => Value::String(example_string(map, name)),
        Some("integer") => example_integer(map),
        Some("number") => example_number(map),
        Some("boolean") => Value::Bool(true),
        Some("null") => Value::Null,
        _ => Value::Object(Map::new()),
    }
}

fn first_non_null(schemas: &[Value]) -> Option<&Value> {
    schemas
        .iter()
        .find(|s| s.get("type").and_then(Value::as_str) != Some("null"))
        .or_else(|| schemas.first())
}

/// The declared type, the first non-null one of a type list, or one implied by the keywords.
fn schema_type(map: &Map<String, Value>) -> Option<String> {
    match map.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            names
                .iter()
                .find(|t| **t != "null")
                .or(names.first())
                .map(|t| (*t).to_owned())
        }
        _ if map.contains_key("properties") => Some("object".to_owned()),
        _ if map.contains_key("items") => Some("array".to_owned()),
        _ => None,
    }
}

fn example_object(map: &Map<String, Value>, depth: usize) -> Value {
    let empty = Map::new();
    let properties = map
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    if required.is_empty() {
        for (key, sub) in properties {
            out.insert(key.clone(), example_value(sub, key, depth + 1));
        }
    } else {
        for key in required {
            // A required key without a schema still gets a value a tool can print.
            let value = match properties.get(key) {
                Some(sub) => example_value(sub, key, depth + 1),
                None => Value::String(format!("example-{key}")),
            };
            out.insert(key.to_owned(), value);
        }
    }
    Value::Object(out)
}

fn example_array(map: &Map<String, Value>, name: &str, depth: usize) -> Value {
    let count = map
        .get("minItems")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 8);
    let items = match map.get("items").or_else(|| map.get("prefixItems")) {
        // Tuple form: one value per position.
        Some(Value::Array(positions)) => positions
            .iter()
            .map(|s| example_value(s, name, depth + 1))
            .collect(),
        Some(item) => (0..count)
            .map(|_| example_value(item, name, depth + 1))
            .collect(),
        None => (0..count)
            .map(|_| Value::String(format!("example-{}", or_item(name))))
            .collect(),
    };
    Value::Array(items)
}

fn or_item(name: &str) -> &str {
    if name.is_empty() { "item" } else { name }
}

fn example_string(map: &Map<String, Value>, name: &str) -> String {
    let name = if name.is_empty() { "value" } else { name };
    let text = match map.get("format").and_then(Value::as_str) {
        Some("date") => "2024-01-01".to_owned(),
        Some("date-time") => "2024-01-01T00:00:00Z".to_owned(),
        Some("time") => "12:00:00".to_owned(),
        Some("email") | Some("idn-email") => format!("{name}@example.com"),
        Some("uri") | Some("url") | Some("iri") | Some("uri-reference") => {
            format!("https://example.com/{name}")
        }
        Some("hostname") | Some("idn-hostname") => "example.com".to_owned(),
        Some("ipv4") => "192.0.2.1".to_owned(),
        Some("ipv6") => "2001:db8::1".to_owned(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
        _ => format!("example-{name}"),
    };
    let min = map.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    let max = map.get("maxLength").and_then(Value::as_u64);
    fit_length(text, min, max)
}

fn fit_length(mut text: String, min: u64, max: Option<u64>) -> String {
    let len = |t: &str| t.chars().count() as u64;
    if let Some(max) = max
        && len(&text) > max
    {
        text = text
            .chars()
            .take(usize::try_from(max).unwrap_or(usize::MAX))
            .collect();
    }
    // Padding is capped so a silly minLength cannot blow up the request.
    while len(&text) < min.min(4096) {
        text.push('x');
    }
    text
}

fn example_integer(map: &Map<String, Value>) -> Value {
    let min = map.get("minimum").and_then(Value::as_i64);
    let exclusive_min = map
        .get("exclusiveMinimum")
        .and_then(Value::as_i64)
        .map(|m| m.saturating_add(1));
    let max = map.get("maximum").and_then(Value::as_i64);
    let value = min.or(exclusive_min).unwrap_or(1);
    let value = max.map_or(value, |max| value.min(max));
    Value::Number(value.into())
}

fn example_number(map: &Map<String, Value>) -> Value {
    let min = map.get("minimum").and_then(Value::as_f64);
    let max = map.get("maximum").and_then(Value::as_f64);
    let in_range = min.is_none_or(|m| 1.5 >= m) && max.is_none_or(|m| 1.5 <= m);
    let value = if in_range {
        1.5
    } else {
        min.or(max).unwrap_or(1.5)
    };
    Number::from_f64(value).map_or_else(|| json!(1.5), Value::Number)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_only() {
        let schema = json!({"type":"object","properties":{"ticket_id":{"type":"string"},"verbose":{"type":"boolean"}},"required":["ticket_id"]});
        assert_eq!(
            example_arguments(&schema),
            json!({"ticket_id":"example-ticket_id"})
        );
    }

    #[test]
    fn all_properties_when_none_required() {
        let schema = json!({"type":"object","properties":{
            "count":{"type":"integer"},
            "ratio":{"type":"number"},
            "flag":{"type":"boolean"},
            "tags":{"type":"array","items":{"type":"string"}},
            "inner":{"type":"object","properties":{"when":{"type":"string","format":"date"}}},
            "nothing":{"type":"null"},
            "anything":{}
        }});
        assert_eq!(
            example_arguments(&schema),
            json!({
                "count":1, "ratio":1.5, "flag":true, "tags":["example-tags"],
                "inner":{"when":"2024-01-01"}, "nothing":null, "anything":{}
            })
        );
    }

    #[test]
    fn string_sources_in_order() {
        let s = |schema: Value| example_value(&schema, "field", 0);
        assert_eq!(
            s(json!({"type":"string","enum":["b","a"],"default":"d"})),
            json!("b")
        );
        assert_eq!(
            s(json!({"type":"string","default":"d","examples":["e"]})),
            json!("d")
        );
        assert_eq!(s(json!({"type":"string","examples":["e"]})), json!("e"));
        assert_eq!(
            s(json!({"type":"string","format":"date-time"})),
            json!("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            s(json!({"type":"string","format":"email"})),
            json!("field@example.com")
        );
        assert_eq!(
            s(json!({"type":"string","format":"uri"})),
            json!("https://example.com/field")
        );
        assert_eq!(s(json!({"type":"string","maxLength":3})), json!("exa"));
        assert_eq!(
            s(json!({"type":"string","minLength":16})),
            json!("example-fieldxxx")
        );
        assert_eq!(s(json!({"const":"fixed"})), json!("fixed"));
    }

    #[test]
    fn numbers_honour_bounds() {
        let s = |schema: Value| example_value(&schema, "n", 0);
        assert_eq!(s(json!({"type":"integer","default":7})), json!(7));
        assert_eq!(s(json!({"type":"integer","minimum":5})), json!(5));
        assert_eq!(s(json!({"type":"integer","exclusiveMinimum":5})), json!(6));
        assert_eq!(s(json!({"type":"integer","maximum":-2})), json!(-2));
        assert_eq!(s(json!({"type":"number","minimum":10})), json!(10.0));
        assert_eq!(s(json!({"type":["number","null"]})), json!(1.5));
    }

    #[test]
    fn arrays_unions_and_odd_schemas() {
        let s = |schema: Value| example_value(&schema, "xs", 0);
        assert_eq!(
            s(json!({"type":"array","items":{"type":"integer"},"minItems":2})),
            json!([1, 1])
        );
        assert_eq!(
            s(json!({"type":"array","items":[{"type":"string"},{"type":"boolean"}]})),
            json!(["example-xs", true])
        );
        assert_eq!(
            s(json!({"anyOf":[{"type":"null"},{"type":"boolean"}]})),
            json!(true)
        );
        assert_eq!(example_arguments(&json!({})), json!({}));
        assert_eq!(example_arguments(&Value::Null), json!({}));
        assert_eq!(
            example_arguments(&json!({"type":"string"})),
            json!("example-value")
        );
        assert_eq!(example_arguments(&json!({"type":"mystery"})), json!({}));
    }

    #[test]
    fn deep_schemas_stop() {
        let mut schema = json!({"type":"string"});
        for _ in 0..40 {
            schema = json!({"type":"object","properties":{"a":schema}});
        }
        let value = example_arguments(&schema);
        assert!(value.is_object());
        assert_eq!(example_arguments(&schema), value, "deterministic");
    }
}

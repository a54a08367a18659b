//! Property tests of what reads untrusted input: the JSON-RPC decoder (every line from
//! app-server) and the tool-call result parser (handler output, API bodies, the
//! response editor). A short run goes with `cargo test`; a long one with
//! `PROPTEST_CASES=100000 cargo test --lib fuzz` (docs/RELIABILITY.md).

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{Message, RequestId, ToolCallResult, parse_tool_call_result};

/// 64 cases unless `PROPTEST_CASES` asks for more: quick in CI, long on demand.
pub(crate) fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

/// Any JSON value, nested a few levels.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[a-z0-9]{0,6}".prop_map(Value::String),
        json_value(),
    ]
}

/// Objects shaped like JSON-RPC messages: each member present or not, of any type.
fn message_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(id()),
        prop::option::of(prop_oneof![
            "[a-z/]{1,16}".prop_map(Value::String),
            json_value()
        ]),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(prop_oneof![
            (any::<i64>(), ".{0,12}")
                .prop_map(|(code, message)| json!({ "code": code, "message": message })),
            json_value()
        ]),
        prop::option::of(json_value()),
    )
        .prop_map(|(id, method, params, result, error, jsonrpc)| {
            let mut map = Map::new();
            let mut put = |key: &str, value: Option<Value>| {
                if let Some(value) = value {
                    map.insert(key.to_string(), value);
                }
            };
            put("id", id);
            put("method", method);
            put("params", params);
            put("result", result);
            put("error", error);
            put("jsonrpc", jsonrpc);
            Value::Object(map)
        })
}

/// What a decoded object must be, modelled member by member: `Err` where the decoder
/// must refuse it. `null` counts as absent, as JSON-RPC decoders usually take it.
fn expected_kind(object: &Map<String, Value>) -> Result<&'static str, ()> {
    let present = |key: &str| object.get(key).filter(|v| !v.is_null());
    let id = match present("id") {
        None => false,
        Some(id) if id.is_i64() || id.is_string() => true,
        Some(_) => return Err(()),
    };
    let method = match present("method") {
        None => false,
        Some(Value::String(_)) => true,
        Some(_) => return Err(()),
    };
    let error = match present("error") {
        None => false,
        Some(error) if serde_json::from_value::<super::RpcError>(error.clone()).is_ok() => true,
        Some(_) => return Err(()),
    };
    // `"result": null` is a result (a reply with nothing in it), unlike a missing one.
    let result = object.contains_key("result");
    match (id, method) {
        (true, true) => Ok("request"),
        (false, true) => Ok("notification"),
        (true, false) if error => Ok("error"),
        (true, false) if result => Ok("response"),
        _ => Err(()),
    }
}

fn kind(message: &Message) -> &'static str {
    match message {
        Message::Request(_) => "request",
        Message::Notification(_) => "notification",
        Message::Response(_) => "response",
        Message::Error(_) => "error",
    }
}

proptest! {
    #![proptest_config(config())]

    /// Garbage from app-server is an error, never a panic.
    #[test]
    fn decode_never_panics_on_any_text(text in ".{0,200}") {
        let _ = Message::decode(&text);
    }

    #[test]
    fn decode_never_panics_on_any_bytes_read_lossily(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::decode(&String::from_utf8_lossy(&bytes));
    }

    /// The decoder accepts exactly the messages the model says, classifies them by
    /// their members, and what it accepts encodes back to the same message.
    #[test]
    fn decode_classifies_and_round_trips(value in message_like()) {
        let text = value.to_string();
        let Value::Object(object) = &value else { unreachable!() };
        let decoded = Message::decode(&text);
        match (&decoded, expected_kind(object)) {
            (Ok(message), Ok(expected)) => {
                prop_assert_eq!(kind(message), expected, "{}", text);
                let again = Message::decode(&message.encode())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&again, message);
            }
            (Err(_), Err(())) => {}
            (decoded, expected) => {
                return Err(TestCaseError::fail(format!(
                    "{text}: decoded {:?}, expected {expected:?}",
                    decoded.as_ref().map(kind).map_err(ToString::to_string)
                )));
            }
        }
    }

    /// Request ids keep their JSON type through a round trip: `6` and `"6"` differ.
    #[test]
    fn request_ids_keep_their_type(n in any::<i64>(), s in "[0-9]{1,6}") {
        for id in [json!(n), json!(s)] {
            let text = json!({ "id": id, "result": {} }).to_string();
            let Ok(Message::Response(response)) = Message::decode(&text) else {
                return Err(TestCaseError::fail(format!("{text} is not a response")));
            };
            let expected = if id.is_string() {
                RequestId::String(s.clone())
            } else {
                RequestId::Integer(n)
            };
            prop_assert_eq!(&response.id, &expected);
            prop_assert_eq!(serde_json::to_value(&response.id).unwrap_or(Value::Null), id);
        }
    }

    /// Any JSON is either a valid tool-call result or an error that says what to fix;
    /// never a panic, and what is accepted is valid and round-trips.
    #[test]
    fn tool_call_results_parse_strictly(value in json_value()) {
        match parse_tool_call_result(value) {
            Ok(result) => {
                prop_assert!(result.validate().is_ok());
                let again = parse_tool_call_result(serde_json::to_value(&result).unwrap_or(Value::Null));
                prop_assert_eq!(again, Ok(result));
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    /// Results shaped almost right: every accepted one is exactly what was meant.
    #[test]
    fn near_valid_tool_call_results(
        texts in prop::collection::vec(".{0,20}", 0..4),
        success in prop::option::of(any::<bool>()),
        extra in prop::option::of((
            "[a-z]{1,8}".prop_filter("a field of its own", |k| k != "success"),
            json_value(),
        )),
        wrong_type in any::<bool>(),
    ) {
        let items: Vec<Value> = texts
            .iter()
            .map(|t| if wrong_type { json!({ "type": "outputText", "text": t }) } else { json!({ "type": "inputText", "text": t }) })
            .collect();
        let mut object = Map::new();
        object.insert("contentItems".to_string(), Value::Array(items));
        if let Some(success) = success {
            object.insert("success".to_string(), Value::Bool(success));
        }
        if let Some((key, value)) = &extra {
            object.insert(key.clone(), value.clone());
        }
        let parsed = parse_tool_call_result(Value::Object(object));
        if (wrong_type && !texts.is_empty()) || extra.is_some() {
            prop_assert!(parsed.is_err());
        } else {
            let expected = ToolCallResult {
                content_items: texts.iter().map(|t| super::ContentItem::text(t.clone())).collect(),
                success: success.unwrap_or(true),
            };
            prop_assert_eq!(parsed, Ok(expected));
        }
    }
}

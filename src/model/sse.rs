//! Server-sent event streams in the shape codex 0.169.0 accepts from the Responses API.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::scenario::FailEvent;
use super::turn::PlannedCall;

/// Token counts reported in `response.completed`. Kept tiny on purpose: real counts would
/// eventually make codex compact a long test thread, which the scripted model cannot do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A function call with the ids it goes out with.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentifiedCall<'a> {
    pub item_id: String,
    pub call_id: String,
    pub call: &'a PlannedCall,
}

/// One SSE event: `event: TYPE` and a JSON `data` line whose `type` repeats the event name.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: &'static str,
    pub data: Value,
}

impl Event {
    fn new(kind: &'static str, mut data: Value) -> Event {
        if let Value::Object(map) = &mut data {
            map.insert("type".to_owned(), Value::String(kind.to_owned()));
        }
        Event { kind, data }
    }
}

/// Writes events as an SSE body.
pub fn encode(events: &[Event]) -> String {
    let mut body = String::new();
    for event in events {
        // serde_json never emits raw newlines, so each payload fits one `data:` line.
        let _ = write!(body, "event: {}\ndata: {}\n\n", event.kind, event.data);
    }
    body
}

fn created(response_id: &str) -> Event {
    Event::new(
        "response.created",
        json!({"response": {"id": response_id, "object": "response", "status": "in_progress"}}),
    )
}

fn completed(response_id: &str, usage: Usage) -> Event {
    Event::new(
        "response.completed",
        json!({"response": {
            "id": response_id,
            "object": "response",
            "status": "completed",
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
            },
        }}),
    )
}

/// A response made of function calls; several calls are parallel calls.
pub fn function_calls(response_id: &str, calls: &[IdentifiedCall<'_>], usage: Usage) -> Vec<Event> {
    let mut events = vec![created(response_id)];
    for (index, identified) in calls.iter().enumerate() {
        let mut item = json!({
            "type": "function_call",
            "id": identified.item_id,
            "call_id": identified.call_id,
            "name": identified.call.name,
            "arguments": identified.call.arguments,
            "status": "completed",
        });
        if let (Some(namespace), Value::Object(map)) = (&identified.call.namespace, &mut item) {
            map.insert("namespace".to_owned(), Value::String(namespace.clone()));
        }
        events.push(Event::new(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        ));
        events.push(Event::new(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
    }
    events.push(completed(response_id, usage));
    events
}

/// A response with one assistant message, streamed one line per delta.
pub fn message(response_id: &str, message_id: &str, text: &str, usage: Usage) -> Vec<Event> {
    let mut events = vec![
        created(response_id),
        Event::new(
            "response.output_item.added",
            json!({"output_index": 0, "item": {
                "type": "message", "id": message_id, "role": "assistant",
                "status": "in_progress", "content": [],
            }}),
        ),
        Event::new(
            "response.content_part.added",
            json!({"item_id": message_id, "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": ""}}),
        ),
    ];
    // At least one delta, even for an empty reply, as a real model stream has.
    let deltas: Vec<&str> = if text.is_empty() {
        vec![""]
    } else {
        text.split_inclusive('\n').collect()
    };
    for delta in deltas {
        events.push(Event::new(
            "response.output_text.delta",
            json!({"item_id": message_id, "output_index": 0, "content_index": 0, "delta": delta}),
        ));
    }
    events.push(Event::new(
        "response.output_item.done",
        json!({"output_index": 0, "item": {
            "type": "message", "id": message_id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text}],
        }}),
    ));
    events.push(completed(response_id, usage));
    events
}

/// A stream that starts and then fails instead of completing.
pub fn failure(response_id: &str, event: FailEvent, message: &str) -> Vec<Event> {
    let response = match event {
        FailEvent::Failed => json!({
            "id": response_id, "object": "response", "status": "failed",
            "error": {"code": "server_error", "message": message},
        }),
        FailEvent::Incomplete => json!({
            "id": response_id, "object": "response", "status": "incomplete",
            "incomplete_details": {"reason": message},
        }),
    };
    vec![
        created(response_id),
        Event::new(event.name(), json!({ "response": response })),
    ]
}

/// The JSON body of an HTTP error answer, shaped like the OpenAI API's.
pub fn error_body(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": kind}})
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const USAGE: Usage = Usage {
        input_tokens: 3,
        output_tokens: 1,
    };

    fn kinds(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn calls_stream() {
        let plain = PlannedCall {
            name: "lookup_ticket".into(),
            namespace: None,
            arguments: r#"{"ticket_id":"T-1"}"#.into(),
        };
        let namespaced = PlannedCall {
            name: "get".into(),
            namespace: Some("crm".into()),
            arguments: "{".into(),
        };
        let calls = [
            IdentifiedCall {
                item_id: "fc_1".into(),
                call_id: "call_1".into(),
                call: &plain,
            },
            IdentifiedCall {
                item_id: "fc_2".into(),
                call_id: "call_2".into(),
                call: &namespaced,
            },
        ];
        let events = function_calls("resp_1", &calls, USAGE);
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.output_item.added",
                "response.output_item.done",
                "response.output_item.added",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(
            events[2].data,
            json!({"type":"response.output_item.done","output_index":0,"item":{
                "type":"function_call","id":"fc_1","call_id":"call_1","name":"lookup_ticket",
                "arguments":"{\"ticket_id\":\"T-1\"}","status":"completed"}})
        );
        assert_eq!(events[4].data["item"]["namespace"], "crm");
        assert_eq!(events[4].data["item"]["arguments"], "{");
        assert_eq!(events[4].data["output_index"], 1);
        assert_eq!(
            events[5].data["response"]["usage"],
            json!({"input_tokens":3,"output_tokens":1,"total_tokens":4})
        );
    }

    #[test]
    fn message_stream() {
        let events = message("resp_2", "msg_2", "line one\nline two", USAGE);
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(events[3].data["delta"], "line one\n");
        assert_eq!(events[4].data["delta"], "line two");
        assert_eq!(events[3].data["item_id"], "msg_2");
        assert_eq!(
            events[5].data["item"]["content"],
            json!([{"type":"output_text","text":"line one\nline two"}])
        );
        // An empty reply still yields a well-formed message, with one empty delta.
        assert_eq!(message("r", "m", "", USAGE).len(), 6);
    }

    #[test]
    fn failure_streams_and_encoding() {
        let events = failure("resp_3", FailEvent::Failed, "nope");
        assert_eq!(kinds(&events), ["response.created", "response.failed"]);
        assert_eq!(events[1].data["response"]["error"]["message"], "nope");
        let incomplete = failure("resp_3", FailEvent::Incomplete, "max_output_tokens");
        assert_eq!(
            incomplete[1].data["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );

        let body = encode(&events[..1]);
        assert_eq!(
            body,
            "event: response.created\ndata: {\"response\":{\"id\":\"resp_3\",\"object\":\"response\",\"status\":\"in_progress\"},\"type\":\"response.created\"}\n\n"
        );
        let multi = encode(&message("r", "m", "a\nb", USAGE));
        assert!(multi.split("\n\n").filter(|b| !b.is_empty()).all(|block| {
            let lines: Vec<_> = block.lines().collect();
            lines.len() == 2 && lines[0].starts_with("event: ") && lines[1].starts_with("data: ")
        }));
    }
}

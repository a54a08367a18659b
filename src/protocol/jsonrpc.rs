//! The untyped JSON-RPC envelope that codex app-server speaks.
//!
//! app-server never sends `"jsonrpc"` and accepts messages without it, so neither side
//! requires it. One message is one line on stdio or one text frame on websocket.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A JSON-RPC request id. app-server matches ids by JSON type as well as value, so an
/// id must be echoed exactly as it arrived: `6` and `"6"` are different requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Integer(i64),
    String(String),
}

impl fmt::Display for RequestId {
    /// Shows a string id quoted so that `1` and `"1"` never look alike in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Integer(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// The `error` member of a JSON-RPC error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

/// Standard JSON-RPC error codes used by this project.
pub mod codes {
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub id: RequestId,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// app-server stamps each notification with the time it was emitted.
    #[serde(
        rename = "emittedAtMs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub emitted_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    pub id: RequestId,
    pub result: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorResponse {
    pub id: RequestId,
    pub error: RpcError,
}

/// One JSON-RPC message in either direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    Response(Response),
    Error(ErrorResponse),
}

/// Every member any message kind may carry; classified after parsing, which is both
/// faster than serde's untagged matching and gives precise errors.
#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    id: Option<RequestId>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
    #[serde(rename = "emittedAtMs", default)]
    emitted_at_ms: Option<i64>,
}

/// Keeps `"result": null` distinguishable from a missing `result`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawMessage::deserialize(d)?;
        match (raw.id, raw.method) {
            (Some(id), Some(method)) => Ok(Message::Request(Request {
                id,
                method,
                params: raw.params,
            })),
            (None, Some(method)) => Ok(Message::Notification(Notification {
                method,
                params: raw.params,
                emitted_at_ms: raw.emitted_at_ms,
            })),
            (Some(id), None) => match (raw.result, raw.error) {
                (_, Some(error)) => Ok(Message::Error(ErrorResponse { id, error })),
                (Some(result), None) => Ok(Message::Response(Response { id, result })),
                (None, None) => Err(D::Error::custom(
                    "message has an id but no method, result or error",
                )),
            },
            (None, None) => Err(D::Error::custom("message has neither an id nor a method")),
        }
    }
}

/// Why a line could not be read as a JSON-RPC message.
#[derive(Debug, thiserror::Error)]
#[error("not a JSON-RPC message: {source}")]
pub struct DecodeError {
    #[from]
    source: serde_json::Error,
}

impl Message {
    /// Parses one line or frame.
    pub fn decode(text: &str) -> Result<Message, DecodeError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Serialises to one line, without the trailing newline.
    pub fn encode(&self) -> String {
        // Serialising these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request(r) => Some(&r.method),
            Message::Notification(n) => Some(&n.method),
            Message::Response(_) | Message::Error(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_of_different_json_types_never_look_alike() {
        let number = RequestId::Integer(1);
        let text = RequestId::String("1".to_string());
        assert_eq!(number.to_string(), "1");
        assert_eq!(text.to_string(), "\"1\"");
        assert_ne!(number, text);
        assert_eq!(serde_json::to_string(&number).unwrap(), "1");
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"1\"");
    }
}

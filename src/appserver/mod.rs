//! The app-server connection: transports (child stdio, websocket, in-memory) and the
//! JSON-RPC connection on top of them. Knows nothing of sessions or tool calls.

pub mod connection;
pub mod locate;
pub mod timeline;
pub mod transport;

use std::time::Duration;

pub use connection::{
    ConnectionHandle, ConnectionId, Direction, Inbound, InitializeInfo, ProtocolLine, ProtocolTap,
};
pub use transport::{Connector, MemoryPeer, RawConnection, TransportSpec};

use crate::protocol::RpcError;

#[derive(Debug, thiserror::Error)]
pub enum AppServerError {
    #[error("could not start app-server `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("could not connect to app-server at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("app-server refused `{method}`: {error}")]
    Rpc { method: String, error: RpcError },
    #[error("app-server did not answer `{method}` within {after:?}")]
    Timeout { method: String, after: Duration },
    #[error("app-server connection closed: {reason}")]
    Closed { reason: String },
    #[error("writing to app-server failed: {reason}")]
    Write { reason: String },
    #[error("app-server sent an unexpected reply to `{method}`: {source}")]
    Decode {
        method: String,
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, AppServerError>;

//! Wire types only: the JSON-RPC envelope and the typed app-server messages, in both
//! directions. No I/O and no async runtime here.
//!
//! - [`requests`]: what app-server asks of its client (tool calls, approvals, user input,
//!   elicitations) and the answers it accepts, checked strictly before they are written;
//! - [`notifications`]: what app-server reports, typed where the bridge acts on it;
//! - [`thread`]: thread and turn params and replies, and the items the bridge tracks;
//! - [`items`]: every thread item of a turn, typed, and the notifications that stream them.

pub mod items;
pub mod jsonrpc;
pub mod notifications;
pub mod requests;
pub mod thread;
pub mod types;

pub use jsonrpc::{
    ErrorResponse, Message, Notification, Request, RequestId, Response, RpcError, codes,
};
pub use notifications::ServerNotification;
pub use requests::*;
pub use thread::*;
pub use types::*;

#[cfg(test)]
#[path = "fuzz_tests.rs"]
pub(crate) mod fuzz_tests;

//! Wire types only: the JSON-RPC envelope and the typed app-server messages.
//! No I/O and no async runtime here.

pub mod jsonrpc;
pub mod types;

pub use jsonrpc::{
    ErrorResponse, Message, Notification, Request, RequestId, Response, RpcError, codes,
};
pub use types::*;

#[cfg(test)]
#[path = "fuzz_tests.rs"]
pub(crate) mod fuzz_tests;

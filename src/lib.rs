//! Switchboard: an operator console and bridge for codex app-server dynamic tool calls.
//!
//! Layers, lowest first (see docs/ARCHITECTURE.md):
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

/// Transports to app-server (child stdio, websocket, in-memory) and the JSON-RPC connection.
pub mod appserver;
/// The bridge core: sessions, pending calls, transcripts, events, respond outcomes.
pub mod bridge;
/// The tool catalog file: load, validate, `dynamicTools` payload, instruction text.
pub mod catalog;
/// Command-line faces: the console, `demo`, `exec`, `catalog check`, `serve`, the API
/// client commands, `worker`, `bench`.
pub mod cli;
/// The operator console (ratatui): the only module that draws to a terminal.
pub mod console;
/// Handlers that answer tool calls: command, http, static.
pub mod handlers;
/// Catalog debugging for the faces: the probe through codex, replays of recorded calls.
pub mod inspect;
/// Benchmark and soak rig: the synthetic app-server, fault injection, the soak run,
/// loaded-console fixtures. Nothing else depends on it.
pub mod lab;
/// The embedded scripted model: a local Responses-API server for demos and tests.
pub mod model;
/// Wire types: the JSON-RPC envelope and typed app-server messages. No I/O.
pub mod protocol;
/// A bridge in a running `serve`, over its native routes: the remote console's link.
pub mod remote;
/// The HTTP + websocket API over a bridge (codex-manager compatible), with its OpenAPI.
pub mod service;
/// Small shared helpers.
pub mod util;

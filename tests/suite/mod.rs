mod api_support;
mod bridge_codex;
mod exec_cli;
mod protocol_fixtures;
mod service_api;
mod support;
mod websocket;

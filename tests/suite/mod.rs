mod bridge_codex;
mod exec_cli;
mod protocol_fixtures;
mod support;
mod websocket;

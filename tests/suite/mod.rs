mod bridge_codex;
mod console_tmux;
mod exec_cli;
mod protocol_fixtures;
mod recovery;
mod support;
mod websocket;

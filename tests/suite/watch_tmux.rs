//! Watching a thread another client runs, in the real console binary in tmux, on a real
//! `codex app-server --listen` shared with a second client of our own (`ws_client.rs`):
//! `w` lists the loaded threads with who started them, Enter attaches, the session is
//! marked as watched, the other client's next tool call shows in the queue waiting for
//! the operator (the catalog's handler for the tool never runs), `D` detaches, and the
//! other client answers its own call and its turn goes on.

use super::console_tmux::Tmux;
use super::support::{codex_bin, repo_path};
use super::websocket::listening_codex;
use super::ws_client::OtherClient;
use switchboard::catalog::Catalog;
use switchboard::model::{ModelServer, Scenario};

const TOOL: &str = "echo_args";

fn watch_another_clients_thread(width: u16, height: u16) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let home = tempfile::tempdir().unwrap();
    let catalog_path = repo_path("tests/fixtures/catalogs/manual.toml");
    let catalog = Catalog::load(&catalog_path).unwrap();
    let model = runtime
        .block_on(ModelServer::start(
            Scenario::load("auto").unwrap(),
            switchboard::cli::scripted::model_options(&catalog),
        ))
        .unwrap();
    let codex_home = home.path().join("codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    let (_codex, url) = runtime.block_on(listening_codex(&model, &codex_home));
    let cwd = home.path().display().to_string();

    // The other client's thread, with one turn behind it (only then can it be resumed).
    let mut other = runtime.block_on(OtherClient::connect(&url, "other_client"));
    let thread_id = runtime.block_on(async {
        let thread_id = other.start_thread(TOOL, &cwd).await;
        other.start_turn(&thread_id, "call:echo_args first").await;
        let call = other.next_tool_call(&thread_id).await;
        other.answer_tool_call(&call, "answered alone").await;
        assert_eq!(other.turn_completed(&thread_id).await, "completed");
        thread_id
    });

    let command = format!(
        "cd '{}' && XDG_CONFIG_HOME='{}' SWITCHBOARD_DATA_DIR='{}' '{}' --connect '{}' --catalog '{}'; echo switchboard-exited-$?; sleep 60",
        home.path().display(),
        home.path().join("config").display(),
        home.path().join("data").display(),
        env!("CARGO_BIN_EXE_switchboard"),
        url,
        catalog_path.display(),
    );
    let _ = codex_bin();
    let tmux = Tmux::start(&command, width, height);
    tmux.wait_for("the console", |s| s.contains("connected"));

    // The loaded threads: the other client's, with who started it.
    tmux.keys(&["w"]);
    let listed = tmux.wait_for("the loaded threads", |s| {
        s.contains("Loaded threads") && s.contains("other_client")
    });
    let tail = &thread_id[thread_id.len() - 8..];
    assert!(listed.contains(tail), "{tail} in {listed}");
    tmux.keys(&["Enter"]);
    let watching = tmux.wait_for("the watched session", |s| {
        s.contains("watching") && !s.contains("Loaded threads")
    });
    assert!(watching.contains("its requests wait for you"), "{watching}");

    // Its next call waits for the operator: the catalog's handler does not answer it.
    let call = runtime.block_on(async {
        other.start_turn(&thread_id, "call:echo_args second").await;
        other.next_tool_call(&thread_id).await
    });
    let queued = tmux.wait_for("the other client's call in the queue", |s| {
        s.contains("waiting on you 1") && s.contains(TOOL)
    });
    assert!(queued.contains("auto 0"), "{queued}");
    // Its items stream into the transcript: the other client's message is there.
    assert!(queued.contains("call:echo_args second"), "{queued}");

    // Detach: the console lets the thread go; the other client answers and goes on.
    tmux.keys(&["D"]);
    tmux.wait_for("the detach", |s| s.contains("detached"));
    runtime.block_on(async {
        other
            .answer_tool_call(&call, "answered by its own client")
            .await;
        let completed = other.call_completed(&call).await;
        assert_eq!(
            completed["params"]["item"]["contentItems"][0]["text"],
            "answered by its own client"
        );
        assert_eq!(other.turn_completed(&thread_id).await, "completed");
    });
    let after = tmux.screen();
    assert!(after.contains("waiting on you 0"), "{after}");
}

#[test]
fn the_console_watches_another_clients_thread_at_80x24() {
    watch_another_clients_thread(80, 24);
}

#[test]
fn the_console_watches_another_clients_thread_at_160x48() {
    watch_another_clients_thread(160, 48);
}

//! Live reload of `serve`'s catalog on the real codex and the scripted model: SIGHUP and
//! `POST /api/catalog/reload` (through `switchboard catalog reload`) swap the handlers
//! for the next call, a broken file keeps the catalog in use and says where it is
//! wrong (the CLI, stderr, `/api/health`), and a fixed file is used again.

use serde_json::Value;

use super::console_tmux::reload_catalog as catalog;
use super::serve_support::{ServeProcess, switchboard};

fn cli(url: &str, home: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = switchboard()
        .env("SWITCHBOARD_URL", url)
        .env("XDG_CONFIG_HOME", home)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    )
}

#[test]
fn serve_reloads_its_catalog_on_sighup_and_on_the_reload_route() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, catalog("answer one", "another tool")).unwrap();
    let path_text = path.display().to_string();
    // Without the file watch, so that each reload here is the one the test asks for.
    let serve = ServeProcess::start(
        &home,
        &[],
        &[
            "--no-auth",
            "--catalog",
            &path_text,
            "--scripted-model",
            "--no-watch",
        ],
    );
    let run = |args: &[&str]| cli(&serve.url, &home, args);
    let (code, session, err) = run(&["sessions", "create"]);
    assert_eq!(code, Some(0), "{err}");
    let ask = || {
        let (code, reply, err) = run(&["sessions", "send", &session, "call:lookup", "--wait"]);
        assert_eq!(code, Some(0), "{err}");
        reply
    };
    assert!(ask().contains("answer one"));

    // SIGHUP: a new static answer applies to the next call of the running session; the
    // new description only to new sessions.
    std::fs::write(
        &path,
        catalog("answer two", "another tool, described better"),
    )
    .unwrap();
    serve.signal(nix::sys::signal::Signal::SIGHUP);
    let line = serve.wait_for_stderr("the reload", |l| l.starts_with("catalog reloaded"));
    assert_eq!(
        line,
        "catalog reloaded: 2 changes (other: definition, new sessions only; lookup: handler, applies now)"
    );
    let reply = ask();
    assert!(reply.contains("answer two"), "{reply}");
    let (code, health, _) = run(&["health", "--json"]);
    assert_eq!(code, Some(0));
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["catalog"]["generation"], 1);
    assert_eq!(health["catalog"]["lastReload"]["status"], "ok");
    assert_eq!(
        health["catalog"]["outdatedSessions"],
        serde_json::json!([{ "sessionId": session, "tools": ["other"] }])
    );

    // Broken: the route refuses it with the file and line, the server keeps answering
    // with the catalog in use, and health says why it is degraded.
    std::fs::write(
        &path,
        catalog("answer three", "x").replace(
            "input_schema = { type = \"object\" }\nhandler = { static_text = \"answer three\" }",
            "input_schema = 5",
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["catalog", "reload"]);
    assert_eq!(code, Some(2), "{err}");
    let at = format!("{path_text}:10: tool `lookup`");
    assert!(err.contains(&at), "{err}");
    // A line that says so, then the problems as `catalog check` prints them.
    serve.wait_for_stderr("the failed reload", |l| l.contains("catalog reload failed"));
    serve.wait_for_stderr("the problem's file and line", |l| l.contains(&at));
    let (_, health, _) = run(&["health", "--json"]);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reason"].as_str().unwrap_or_default().contains(&at),
        "{health}"
    );
    assert!(ask().contains("answer two"));

    // Fixed again: in use, and health is back to ok.
    std::fs::write(
        &path,
        catalog("answer three", "another tool, described better"),
    )
    .unwrap();
    let (code, out, err) = run(&["catalog", "reload", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let reply: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(reply["generation"], 2);
    assert_eq!(
        reply["changes"],
        serde_json::json!([{ "tool": "lookup", "change": "answering", "newSessionsOnly": false }])
    );
    assert!(ask().contains("answer three"));
    let (_, health, _) = run(&["health", "--json"]);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(serve.stop().code(), Some(0));
}

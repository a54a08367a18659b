//! Swapping the catalog of a running bridge: what applies to the next call at once, what
//! a running call keeps, and what only new sessions see.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn with_lookup(handler: &str) -> String {
    format!(
        r#"{CATALOG}
[[tools]]
name = "lookup"
description = "looks a ticket up"
input_schema = {{ type = "object" }}
handler = {handler}
"#
    )
}

async fn reloaded(events: &mut EventReceiver) -> CatalogReload {
    match next_event(events, |e| matches!(e, BridgeEvent::CatalogReloaded { .. })).await {
        BridgeEvent::CatalogReloaded { reload, .. } => reload,
        _ => unreachable!(),
    }
}

fn answer_text(answer: &Value) -> &str {
    answer["result"]["contentItems"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_next_call_uses_the_new_handler_while_a_running_call_keeps_its_own() {
    // The old handler is an http handler this test answers by hand, so its call is
    // still running when the catalog changes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let old = with_lookup(&format!(
        r#"{{ url = "http://127.0.0.1:{port}/", timeout_ms = 20000 }}"#
    ));
    let (bridge, mut events, mut fake, _) = start_catalog(&old, ManualPolicy::Wait).await;
    fake.send(tool_call(json!(7), "call-1", "lookup")).await;
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut request = vec![0u8; 4096];
    let _ = socket.read(&mut request).await.unwrap();

    let new = Catalog::parse(
        &with_lookup(r#"{ static_text = "new answer" }"#),
        std::path::Path::new("/tmp/catalog.toml"),
    )
    .unwrap();
    let reload = bridge.swap_catalog(Arc::new(new)).await.unwrap();
    assert_eq!(
        reload.outcome,
        ReloadOutcome::Loaded {
            changes: vec![ReloadChange {
                tool: "lookup".to_string(),
                change: "answering",
                new_sessions_only: false,
            }]
        }
    );
    assert_eq!(reload.generation, 1);
    // A new handler changes nothing the thread carries.
    assert!(reload.outdated_sessions.is_empty());
    assert_eq!(reloaded(&mut events).await, reload);

    fake.send(tool_call(json!(8), "call-2", "lookup")).await;
    let second = fake.next().await;
    assert_eq!(second["id"], 8);
    assert_eq!(answer_text(&second), "new answer");

    let body = "old answer";
    socket
        .write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let first = fake.next().await;
    assert_eq!(first["id"], 7);
    assert_eq!(answer_text(&first), "old answer");
}

#[tokio::test]
async fn a_broken_file_keeps_the_catalog_in_use_and_a_fixed_one_is_used_by_new_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, CATALOG).unwrap();
    let (bridge, mut events, mut fake, thread) =
        start_catalog_at(CATALOG, &path, ManualPolicy::Wait).await;
    let before = bridge.catalog();

    // Broken: the old catalog stays, and the error names the file and line.
    std::fs::write(
        &path,
        CATALOG.replace("input_schema = { type = \"object\" }", "input_schema = 5"),
    )
    .unwrap();
    let failed = bridge.reload_catalog().await.unwrap();
    let error = failed.error().expect("the broken file loaded").to_string();
    assert!(
        error.contains(&format!("{}:10: tool `fixed`", path.display())),
        "{error}"
    );
    assert_eq!(failed.generation, 0);
    assert_eq!(reloaded(&mut events).await, failed);
    assert!(Arc::ptr_eq(&bridge.catalog(), &before));
    assert_eq!(
        bridge.catalog_status().await.unwrap().last_reload,
        Some(failed)
    );
    fake.send(tool_call(json!(1), "call-1", "fixed")).await;
    assert_eq!(answer_text(&fake.next().await), "fixed answer");

    // Fixed, with a new description: the running session keeps the old one.
    let fixed = CATALOG.replace("answered by a static handler", "answered at once");
    std::fs::write(&path, &fixed).unwrap();
    let reload = bridge.reload_catalog().await.unwrap();
    assert_eq!(
        reload.outcome,
        ReloadOutcome::Loaded {
            changes: vec![ReloadChange {
                tool: "fixed".to_string(),
                change: "definition",
                new_sessions_only: true,
            }]
        }
    );
    assert_eq!(reload.generation, 1);
    assert_eq!(
        reload.outdated_sessions,
        vec![OutdatedSession {
            thread_id: thread.clone(),
            tools: vec!["fixed".to_string()],
        }]
    );
    assert_eq!(bridge.catalog().tools[1].description, "answered at once");
    let status = bridge.catalog_status().await.unwrap();
    assert_eq!(status.generation, 1);
    assert!(
        status
            .last_reload
            .as_ref()
            .is_some_and(CatalogReload::is_ok)
    );

    // A new session declares the new definitions, and is not outdated.
    let creating = {
        let bridge = bridge.clone();
        tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
    };
    let start = fake.next().await;
    assert_eq!(start["method"], "thread/start");
    assert_eq!(
        start["params"]["dynamicTools"][1]["description"],
        "answered at once"
    );
    fake.send(
        json!({ "id": start["id"], "result": { "thread": { "id": "thread-2", "preview": "" } } }),
    )
    .await;
    creating.await.unwrap().unwrap();
    assert_eq!(
        bridge.catalog_status().await.unwrap().outdated_sessions,
        reload.outdated_sessions
    );

    // Closing the old session leaves nobody outdated.
    bridge.close_session(&thread).await.unwrap();
    assert!(
        bridge
            .catalog_status()
            .await
            .unwrap()
            .outdated_sessions
            .is_empty()
    );
}

#[tokio::test]
async fn approval_rules_of_the_new_catalog_decide_the_next_request() {
    let rules = format!(
        r#"{CATALOG}
[[approvals]]
match = {{ kind = "command" }}
decision = "accept"
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, CATALOG).unwrap();
    let (bridge, _events, mut fake, _) = start_catalog_at(CATALOG, &path, ManualPolicy::Wait).await;
    std::fs::write(&path, &rules).unwrap();
    assert!(bridge.reload_catalog().await.unwrap().is_ok());
    let (request, _) = blocking_requests().remove(0);
    fake.send(request).await;
    let answer = fake.next().await;
    assert_eq!(answer["result"]["decision"], "accept", "{answer}");
}

#[tokio::test]
async fn a_bridge_without_a_catalog_file_says_there_is_nothing_to_reload() {
    let (bridge, _events, _fake, _) = start(ManualPolicy::Wait).await;
    // `start` parses its catalog as /tmp/catalog.toml, which may or may not exist; a
    // catalog made in code has no file at all.
    let reload = bridge
        .swap_catalog(Arc::new(Catalog::empty()))
        .await
        .unwrap();
    assert!(reload.is_ok());
    let reload = bridge.reload_catalog().await.unwrap();
    assert_eq!(
        reload.error(),
        Some("there is no catalog file to reload: Switchboard was started without --catalog")
    );
}

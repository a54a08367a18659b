//! Hundreds of slow handlers at once through a bridge. Uses the synthetic app-server:
//! real codex cannot be made to raise 300 parallel calls on demand.

use std::sync::Arc;
use std::time::Duration;

use switchboard::appserver::TransportSpec;
use switchboard::bridge::{self, BridgeConfig, CreateSession, ManualPolicy};
use switchboard::catalog::Catalog;
use switchboard::lab::synthetic::{SyntheticConfig, spawn_memory};
use switchboard::protocol::TurnStatus;

use super::support::WAIT;

const CATALOG: &str = r#"
[[tools]]
name = "slow"
description = "takes a while"
input_schema = { type = "object" }
handler = { command = ["sh", "-c", "sleep 0.1; echo slow answer"], timeout_ms = 20000 }

[[tools]]
name = "instant"
description = "answers at once"
input_schema = { type = "object" }
handler = { static_text = "instant answer" }
"#;

/// 300 slow command handlers queue behind a cap of 16, and meanwhile a static
/// handler's calls are answered at once and their turn completes; then every slow call
/// is answered too, none failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_slow_handlers_queue_while_other_calls_are_answered() {
    let catalog = Arc::new(Catalog::parse(CATALOG, std::path::Path::new("load.toml")).unwrap());
    let mut config = BridgeConfig::new(
        TransportSpec::WebSocket {
            url: "synthetic://load".to_string(),
            bearer: None,
        },
        catalog,
    );
    config.manual_policy = ManualPolicy::Wait;
    config.max_concurrent_handlers = 16;
    let raw = spawn_memory(SyntheticConfig::default());
    let bridge = bridge::start_on(config, raw).await.unwrap();

    let slow_session = bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    let slow_turn = bridge
        .send_message(
            &slow_session.thread_id,
            r#"{"callsPerTurn": 300, "concurrency": 300, "tool": "slow"}"#,
        )
        .await
        .unwrap();
    // Bounded poll until the slow calls are all waiting on the handler queue.
    let deadline = tokio::time::Instant::now() + WAIT;
    while bridge.pending_calls(None).await.unwrap().len() < 250 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow calls never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let quick_session = bridge
        .create_session(CreateSession::default())
        .await
        .unwrap();
    let quick_turn = bridge
        .send_message(
            &quick_session.thread_id,
            r#"{"callsPerTurn": 50, "concurrency": 10, "tool": "instant"}"#,
        )
        .await
        .unwrap();
    let quick = tokio::time::timeout(
        Duration::from_secs(5),
        bridge.wait_turn(&quick_session.thread_id, &quick_turn),
    )
    .await
    .expect("the static handler's turn waited behind the slow handlers")
    .unwrap();
    assert_eq!(quick.status, TurnStatus::Completed);
    let still_slow = bridge
        .pending_calls(Some(&slow_session.thread_id))
        .await
        .unwrap();
    assert!(
        still_slow.len() > 100,
        "the slow calls were still queued while the quick turn completed ({} left)",
        still_slow.len()
    );

    let slow = tokio::time::timeout(WAIT, bridge.wait_turn(&slow_session.thread_id, &slow_turn))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(slow.status, TurnStatus::Completed);
    let totals = bridge.status().await.unwrap().totals;
    assert_eq!(totals.answered_automatically, 350);
    assert_eq!((totals.failed, totals.expired, totals.pending), (0, 0, 0));
    bridge.shutdown().await;
}

//! Closed sessions leave memory once their transcript is all on disk: only a summary
//! stays (up to a cap), and reading one back goes to its transcript file.

use std::path::Path;

use super::*;

struct Evicting {
    bridge: BridgeHandle,
    fake: FakeAppServer,
}

async fn start_evicting(data_dir: &Path, kept: usize, restore: bool) -> Evicting {
    let catalog = Catalog::parse(CATALOG, Path::new("/tmp/catalog.toml")).unwrap();
    let (raw, peer) = memory();
    let mut fake = FakeAppServer {
        from_bridge: peer.from_client,
        to_bridge: peer.to_client,
    };
    let mut config = BridgeConfig::new(
        crate::appserver::TransportSpec::WebSocket {
            url: "memory".to_string(),
            bearer: None,
        },
        Arc::new(catalog),
    );
    config.data_dir = Some(data_dir.to_path_buf());
    config.closed_sessions_kept = kept;
    config.restore_sessions = restore;
    let starting = tokio::spawn(start_on(config, raw));
    fake.reply("initialize", json!({ "userAgent": "fake/0.169.0 (test)" }))
        .await;
    assert_eq!(fake.next().await["method"], "initialized");
    let bridge = starting.await.unwrap().unwrap();
    Evicting { bridge, fake }
}

impl Evicting {
    async fn create(&mut self, thread_id: &str) {
        let creating = {
            let bridge = self.bridge.clone();
            tokio::spawn(async move { bridge.create_session(CreateSession::default()).await })
        };
        self.fake
            .reply(
                "thread/start",
                json!({ "thread": { "id": thread_id, "preview": "" } }),
            )
            .await;
        creating.await.unwrap().unwrap();
    }

    /// A turn with a user message and a reply, so the transcript has rows of each kind.
    async fn turn(&mut self, thread_id: &str, turn_id: &str) {
        self.fake
            .send(
                json!({ "method": "turn/started", "params": { "threadId": thread_id,
                "turn": { "id": turn_id, "status": "inProgress" } } }),
            )
            .await;
        self.fake
            .send(
                json!({ "method": "item/completed", "params": { "threadId": thread_id,
                "turnId": turn_id, "item": { "type": "agentMessage", "id": "m1",
                "text": format!("reply in {thread_id}") } } }),
            )
            .await;
        self.fake
            .send(
                json!({ "method": "turn/completed", "params": { "threadId": thread_id,
                "turn": { "id": turn_id, "status": "completed" } } }),
            )
            .await;
        let turn = self.bridge.wait_turn(thread_id, turn_id).await.unwrap();
        assert_eq!(turn.status, crate::protocol::TurnStatus::Completed);
    }

    async fn close(&mut self, thread_id: &str) {
        let closing = {
            let bridge = self.bridge.clone();
            let thread_id = thread_id.to_string();
            tokio::spawn(async move { bridge.close_session(&thread_id).await })
        };
        self.fake.reply("thread/unsubscribe", json!({})).await;
        closing.await.unwrap().unwrap();
    }
}

fn transcript_file(data_dir: &Path, thread_id: &str) -> std::path::PathBuf {
    data_dir.join("sessions").join(format!("{thread_id}.jsonl"))
}

/// A row written to the file by hand after the session closed: a snapshot that shows
/// it was read from disk, not from memory.
fn append_marker(data_dir: &Path, thread_id: &str, seq: u64) {
    use std::io::Write;
    let row = json!({ "seq": seq, "atMs": 1, "type": "notice", "message": "written by the test" });
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(transcript_file(data_dir, thread_id))
        .unwrap();
    writeln!(file, "{row}").unwrap();
}

fn has_marker(snapshot: &SessionSnapshot) -> bool {
    snapshot.transcript.iter().any(|r| {
        matches!(&r.entry, TranscriptEntry::Notice { message } if message == "written by the test")
    })
}

#[tokio::test]
async fn a_closed_session_leaves_memory_and_is_read_back_from_its_transcript() {
    let data = tempfile::tempdir().unwrap();
    let mut e = start_evicting(data.path(), 100, false).await;
    e.create("thread-1").await;
    e.turn("thread-1", "turn-1").await;
    let live = e.bridge.session("thread-1").await.unwrap().unwrap();
    assert!(!has_marker(&live));
    e.close("thread-1").await;

    // Rows are read from the file now: one added there after the close shows up.
    let rows_on_disk = live.transcript.len() as u64 + 1;
    append_marker(data.path(), "thread-1", rows_on_disk);
    let closed = e.bridge.session("thread-1").await.unwrap().unwrap();
    assert!(
        has_marker(&closed),
        "the snapshot came from memory: {:?}",
        closed.transcript
    );
    assert_eq!(closed.summary.status, SessionStatus::Closed);
    assert_eq!(closed.turns.len(), 1);
    assert_eq!(
        closed.turns[0].assistant_reply.as_deref(),
        Some("reply in thread-1")
    );
    assert!(matches!(
        closed.transcript.first().map(|r| &r.entry),
        Some(TranscriptEntry::SessionStarted { .. })
    ));

    // The summary stays in memory: listed, and closed for every command.
    let listed = e.bridge.sessions().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, SessionStatus::Closed);
    assert_eq!(listed[0].turn_count, 1);
    assert!(matches!(
        e.bridge.session_state("thread-1").await.unwrap(),
        Some(SessionState::Closed(summary)) if summary.thread_id == "thread-1"
    ));
    let err = e.bridge.send_message("thread-1", "hi").await.unwrap_err();
    assert!(matches!(err, BridgeError::SessionClosed { .. }), "{err}");
    let err = e.bridge.wait_turn("thread-1", "turn-2").await.unwrap_err();
    assert!(matches!(err, BridgeError::SessionClosed { .. }), "{err}");
    assert_eq!(e.bridge.status().await.unwrap().totals.sessions, 1);
    assert!(e.bridge.session("thread-0").await.unwrap().is_none());
    assert!(
        e.bridge
            .session_summary("thread-0")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn past_the_cap_a_closed_session_is_found_on_disk_by_its_id() {
    let data = tempfile::tempdir().unwrap();
    let mut e = start_evicting(data.path(), 2, false).await;
    for n in 1..=3 {
        let thread = format!("thread-{n}");
        e.create(&thread).await;
        e.turn(&thread, "turn-1").await;
        e.close(&thread).await;
    }
    e.create("thread-4").await;
    let mut listed: Vec<_> = e
        .bridge
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.thread_id, s.status))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        [
            ("thread-2".to_string(), SessionStatus::Closed),
            ("thread-3".to_string(), SessionStatus::Closed),
            ("thread-4".to_string(), SessionStatus::Idle),
        ]
    );
    // The oldest is still a closed session, not an unknown one.
    let summary = e.bridge.session_summary("thread-1").await.unwrap().unwrap();
    assert_eq!(summary.status, SessionStatus::Closed);
    assert_eq!(summary.turn_count, 1);
    let snapshot = e.bridge.session("thread-1").await.unwrap().unwrap();
    assert_eq!(
        snapshot.turns[0].assistant_reply.as_deref(),
        Some("reply in thread-1")
    );
    assert!(matches!(
        e.bridge.session_state("thread-1").await.unwrap(),
        Some(SessionState::Closed(_))
    ));
    // A transcript that was never closed is not taken for one.
    assert!(
        e.bridge
            .session_summary("thread-9")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_resumed_closed_session_goes_on_numbering_its_transcript() {
    let data = tempfile::tempdir().unwrap();
    let mut e = start_evicting(data.path(), 100, false).await;
    e.create("thread-1").await;
    e.turn("thread-1", "turn-1").await;
    e.close("thread-1").await;
    let before = e.bridge.session("thread-1").await.unwrap().unwrap();
    let last_seq = before.transcript.last().unwrap().seq;

    let resuming = {
        let bridge = e.bridge.clone();
        tokio::spawn(async move { bridge.resume_session("thread-1").await })
    };
    e.fake
        .reply(
            "thread/resume",
            json!({ "thread": { "id": "thread-1", "preview": "", "status": { "type": "idle" },
                "turns": [{ "id": "turn-1", "status": "completed", "items": [] }] } }),
        )
        .await;
    let summary = resuming.await.unwrap().unwrap();
    assert_eq!(summary.status, SessionStatus::Idle);
    e.turn("thread-1", "turn-2").await;
    let (rows, bad) =
        transcript::read_transcript(&transcript_file(data.path(), "thread-1")).unwrap();
    assert_eq!(bad, 0);
    let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    let expected: Vec<u64> = (0..seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "numbering restarted after the resume");
    assert!(seqs.len() as u64 > last_seq + 1);
}

#[tokio::test]
async fn closed_transcripts_come_back_as_summaries_at_start() {
    let data = tempfile::tempdir().unwrap();
    let mut first = start_evicting(data.path(), 100, false).await;
    for n in 1..=3 {
        let thread = format!("thread-{n}");
        first.create(&thread).await;
        first.turn(&thread, "turn-1").await;
        first.close(&thread).await;
    }
    first.bridge.shutdown().await;

    let second = start_evicting(data.path(), 2, true).await;
    let mut listed: Vec<_> = second
        .bridge
        .sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.thread_id, s.status))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    // The two most recently closed are kept; the first is on disk only.
    assert_eq!(
        listed,
        [
            ("thread-2".to_string(), SessionStatus::Closed),
            ("thread-3".to_string(), SessionStatus::Closed),
        ]
    );
    let oldest = second.bridge.session("thread-1").await.unwrap().unwrap();
    assert_eq!(oldest.summary.status, SessionStatus::Closed);
    assert_eq!(oldest.turns.len(), 1);
}

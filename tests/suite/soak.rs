//! The soak run in short, as CI runs it: 6,000 calls on three faulty synthetic
//! app-servers, with claimants in-process and over the API (real codex cannot inject these faults, nor raise calls by the thousand).
//! The full run is `switchboard soak --calls 1000000` (docs/RELIABILITY.md).

use switchboard::lab::soak::{SoakConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_loses_no_call_and_writes_no_answer_twice() {
    let mut config = SoakConfig::new(6_000, 7);
    // Three app-servers with two sessions each, and a websocket fan-out for the remote
    // claimants: kept small enough for a debug build on a loaded machine.
    config.sessions = 2;
    config.concurrency = 16;
    // Enough of every fault to matter in a short run.
    config.drop_connection = 0.001;
    config.restart = 0.0003;
    config.flaky_every = 500;
    config.interrupt_turn = 0.2;
    config.claimant_dies = 0.005;
    // Leases that outlast a starved runtime: on a loaded machine a 1 s lease can run out
    // while its holder's renewal waits its turn, and the call goes to another claimant.
    config.lease_ms = 3_000;
    config.transcript_failure = 0.001;
    config.remote_claimant_dies = 0.25;
    // The in-process claimants wait up to 10 ms, so that the remote ones (a websocket
    // and HTTP away, in a debug build) win some races.
    config.claim_delay_us = 10_000;
    config.remote_release = 0.1;
    let report = run(config).await.unwrap();
    let text = serde_json::to_string_pretty(&report).unwrap();
    assert!(report.passed(), "{text}");
    assert_eq!(report.calls_lost, 0, "{text}");
    let faults = &report.app_server;
    assert!(faults.connection_drops > 0 && faults.restarts > 0, "{text}");
    assert!(
        faults.duplicate_requests > 0 && faults.early_completions > 0,
        "{text}"
    );
    assert!(faults.interrupted_turns > 0 && faults.replays > 0, "{text}");
    assert!(
        report.responder.duplicate_answers > 0 && report.responder.late_answers > 0,
        "{text}"
    );
    assert_eq!(report.bridge.junk_lines, faults.junk_lines, "{text}");
    // Workers raced for every remote call, some died holding a claim and their calls
    // went to the next worker when the lease ran out; no handler ran twice.
    let workers = &report.responder;
    assert!(
        workers.claims_refused > 0 && workers.claimants_died > 0 && workers.leases_expired > 0,
        "{text}"
    );
    // Full disks were injected into the transcripts, reported, and written through.
    let transcripts = &report.transcripts;
    assert!(
        transcripts.stores.short_writes > 0 && transcripts.failures_reported > 0,
        "{text}"
    );
    assert_eq!(transcripts.stores.cuts_inside_a_row, 0, "{text}");
    assert_eq!(
        transcripts.stores.rows_written, transcripts.rows_appended,
        "{text}"
    );
    // Three app-servers, each its own connection and request ids from 0: each raised its
    // share, each call ended once, no answer written twice on any; the second was killed
    // once, refused connections while down, and came back.
    assert_eq!(report.connections.len(), 3, "{text}");
    for conn in &report.connections {
        assert_eq!(conn.app_server.calls_raised, conn.calls_planned, "{text}");
        assert_eq!(conn.calls_ended, conn.calls_planned, "{text}");
        assert_eq!(conn.app_server.double_answers, 0, "{text}");
    }
    let killed = &report.connections[1];
    assert!(
        killed.app_server.kills == 1 && killed.app_server.connects_refused > 0,
        "{text}"
    );
    // Remote claimants over the API (HTTP claims, the websocket) raced the in-process
    // ones and won some (on a loaded machine, few: a websocket and an HTTP round trip
    // away, they are late for most); no handler ran twice across both kinds (`passed`).
    let remote = &report.remote;
    assert!(
        remote.streams_opened >= 2
            && remote.claims_granted > 0
            && remote.claims_refused > 0
            && remote.claims_via_requests > 0
            && remote.claims_via_tool_calls > 0,
        "{text}"
    );
    assert_eq!(remote.unexpected_replies, 0, "{text}");
    // Memory, counted in bytes held rather than resident size (other tests share this
    // process): the raw copies of app-server's messages that the events held stayed within
    // their budget, and none was left out (the websocket's raw frames were all whole).
    let memory = &report.memory;
    assert!(
        memory.raw_held_peak_bytes > 0 && memory.raw_held_peak_bytes <= memory.raw_budget_bytes,
        "{text}"
    );
    assert_eq!(memory.raw_omitted, 0, "{text}");
}

//! The soak run in short, as CI runs it: 20,000 calls on the faulty synthetic
//! app-server (real codex cannot inject these faults, nor raise calls by the thousand).
//! The full run is `switchboard soak --calls 1000000` (docs/RELIABILITY.md).

use switchboard::lab::soak::{SoakConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_loses_no_call_and_writes_no_answer_twice() {
    let mut config = SoakConfig::new(20_000, 7);
    // Enough of every fault to matter in a short run.
    config.drop_connection = 0.001;
    config.restart = 0.0003;
    config.flaky_every = 500;
    config.interrupt_turn = 0.2;
    config.claimant_dies = 0.01;
    config.transcript_failure = 0.001;
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
    // Flat: no growth worth the name once warm (transcript windows, queues).
    let memory = &report.memory;
    assert!(
        memory.end_kib <= memory.warm_kib + 64 * 1024,
        "memory grew from {} KiB to {} KiB: {text}",
        memory.warm_kib,
        memory.end_kib
    );
}

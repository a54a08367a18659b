//! Worker handlers under faults: bytes that are not UTF-8 on either pipe, lines of any
//! length, workers that die, and the restart back-off (in paused time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::json;
use tokio::io::{AsyncRead, ReadBuf};

use super::*;
use crate::catalog::HandlerSpec;
use crate::handlers::HandlerRunner;

/// A stream of `prefix`, then `fill` repeated `repeat` times, then `suffix`, made as it
/// is read: a 200 MB line without 200 MB anywhere.
struct Generated {
    parts: Vec<(Vec<u8>, usize)>,
    at: usize,
    offset: usize,
}

impl Generated {
    fn new(parts: Vec<(Vec<u8>, usize)>) -> Generated {
        Generated {
            parts,
            at: 0,
            offset: 0,
        }
    }
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while buf.remaining() > 0 && self.at < self.parts.len() {
            let (bytes, repeat) = &self.parts[self.at];
            let total = bytes.len() * repeat;
            if self.offset == total {
                self.at += 1;
                self.offset = 0;
                continue;
            }
            let start = self.offset % bytes.len();
            let n = (bytes.len() - start).min(buf.remaining());
            buf.put_slice(&bytes[start..start + n]);
            self.offset += n;
        }
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_200_mb_line_is_read_within_the_cap_and_the_next_line_is_whole() {
    let fill = vec![b'x'; 64 * 1024];
    let repeat = 200 * 1024 * 1024 / fill.len();
    let mut reader = tokio::io::BufReader::new(Generated::new(vec![
        (b"{\"id\":3,\"text\":\"".to_vec(), 1),
        (fill, repeat),
        (b"\"}\n{\"id\":4,\"text\":\"next\"}\n".to_vec(), 1),
    ]));
    let line = read_line_capped(&mut reader, MAX_OUTPUT_BYTES)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.len, 16 + 200 * 1024 * 1024 + 2);
    assert_eq!(line.head.len(), MAX_OUTPUT_BYTES);
    assert!(
        line.head.capacity() <= MAX_OUTPUT_BYTES && line.tail.capacity() <= 8 * TAIL_BYTES,
        "memory stays bounded: {} and {}",
        line.head.capacity(),
        line.tail.capacity()
    );
    let (id, answer) = decode_line(&line);
    assert_eq!(id, Some(3));
    let Ok(Reply::Cut {
        text,
        success: true,
    }) = answer
    else {
        panic!("{answer:?}");
    };
    assert_eq!(text.len(), MAX_OUTPUT_BYTES - 16);
    let next = read_line_capped(&mut reader, MAX_OUTPUT_BYTES)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decode_line(&next).0, Some(4));
    assert!(
        read_line_capped(&mut reader, MAX_OUTPUT_BYTES)
            .await
            .unwrap()
            .is_none()
    );
}

fn cut_line(text: &[u8], len: usize) -> Line {
    Line {
        head: text.to_vec(),
        tail: Vec::new(),
        len,
    }
}

#[test]
fn the_start_of_a_cut_line_gives_its_id_success_and_text() {
    let fields = scan_head(br#"{"success": false, "meta": {"a": [1, "}"]}, "id": 12, "text": "caf\u00e9 \"q\" \ud83d\ude00 \u"#);
    assert_eq!(fields.id, Some(12));
    assert_eq!(fields.success, Some(false));
    assert_eq!(fields.text.unwrap().unwrap(), "café \"q\" 😀 ");
    // A character cut in half is dropped, not called invalid.
    let mut head = br#"{"id": 1, "text": "ab"#.to_vec();
    head.extend_from_slice(&"é".as_bytes()[..1]);
    assert_eq!(scan_head(&head).text.unwrap().unwrap(), "ab");
    // A surrogate pair cut between its halves is dropped whole.
    assert_eq!(
        scan_head(br#"{"id": 1, "text": "ab\ud83d\ude"#)
            .text
            .unwrap()
            .unwrap(),
        "ab"
    );
    // An id cut in its digits is no id.
    assert_eq!(scan_head(br#"{"id": 12"#).id, None);
    // Not UTF-8 inside the text is said so.
    let bad = scan_head(b"{\"id\": 2, \"text\": \"a\xffb\"").text.unwrap();
    assert!(bad.unwrap_err().contains("not UTF-8"));
    // An id at the end is found in the tail.
    assert_eq!(tail_id(br#"xxxx", "id": 77}"#), Some(77));
    assert_eq!(tail_id(br#"xxxx "id": 77}"#), None);
    assert_eq!(tail_id(br#", "id": 77]"#), None);

    let (id, answer) = decode_line(&cut_line(br#"{"id": 5, "contentItems": [{"#, 3 << 20));
    assert_eq!(id, Some(5));
    assert!(
        answer
            .unwrap_err()
            .contains("only `text` answers can be cut")
    );
}

#[test]
fn restarts_back_off_from_250_ms_to_10_s() {
    let delays: Vec<u128> = (0..9).map(|n| restart_delay(n).as_millis()).collect();
    assert_eq!(
        delays,
        [0, 250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]
    );
    assert_eq!(restart_delay(u32::MAX), RESTART_MAX);
}

fn spec(dir: &Path, program: &str, args: &[&str], timeout_ms: u64) -> HandlerSpec {
    let mut argv = vec![program.to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    HandlerSpec::Worker(CommandSpec {
        argv,
        program: PathBuf::from(program),
        timeout: Duration::from_millis(timeout_ms),
        env: BTreeMap::new(),
        cwd: dir.to_path_buf(),
    })
}

fn call(arguments: Value) -> HandlerInput {
    HandlerInput {
        tool: "lookup_ticket".to_string(),
        arguments,
        call_id: "call-1".to_string(),
        thread_id: "thread-1".to_string(),
        turn_id: "turn-1".to_string(),
        request_id: "r1".to_string(),
    }
}

/// A worker that cannot be started is tried again only after its back-off; a call whose
/// timeout ends first fails at once, saying when the next start is.
#[tokio::test(start_paused = true)]
async fn a_failing_worker_is_started_again_with_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let spec_long = spec(dir.path(), "/nonexistent/worker", &[], 60_000);
    let spec_short = spec(dir.path(), "/nonexistent/worker", &[], 100);
    let runner = HandlerRunner::new(1);
    let started = Instant::now();
    let first = runner.run(&spec_long, &call(json!({}))).await;
    assert!(
        first
            .result
            .joined_text()
            .starts_with("worker for `lookup_ticket` could not be started: /nonexistent/worker: "),
        "{:?}",
        first.result
    );
    assert_eq!(Instant::now() - started, Duration::ZERO);
    let hurried = runner.run(&spec_short, &call(json!({}))).await;
    assert_eq!(
        hurried.result.joined_text().split(" (last: ").next(),
        Some("worker for `lookup_ticket` failed 1 time(s) in a row without answering")
    );
    assert!(
        hurried
            .result
            .joined_text()
            .ends_with("it is started again in 250 ms"),
        "{:?}",
        hurried.result
    );
    // A patient call waits out the back-off: 250 ms, then 500 ms, then 1 s.
    for (n, waited) in [(2, 250), (3, 750), (4, 1750)] {
        let again = runner.run(&spec_long, &call(json!({}))).await;
        assert!(again.failure.is_some());
        assert_eq!(
            Instant::now() - started,
            Duration::from_millis(waited),
            "start {n}"
        );
    }
}

/// The test worker: every call logs bytes that are not UTF-8 on stderr first; `kind`
/// picks the answer: `bad` (not UTF-8), `noid` (garbage with no id, then a proper
/// answer), `huge` (a `text` of `mib` MiB), `huge_id_last`, `huge_items`, else its pid.
const PY_WORKER: &str = r#"
import json, os, sys
out = sys.stdout.buffer
for line in sys.stdin:
    call = json.loads(line)
    args = call["arguments"]
    n = call["id"]
    sys.stderr.buffer.write(b"\xff\xfe not utf-8 on stderr\n")
    sys.stderr.flush()
    kind = args.get("kind")
    chunk = ("\u00e9" * 512 * 1024).encode()
    if kind == "bad":
        out.write(b'{"id": %d, "text": "\xff"}\n' % n)
    elif kind == "huge":
        out.write(b'{"id": %d, "text": "' % n)
        for _ in range(args["mib"]):
            out.write(chunk)
        out.write(b'"}\n')
    elif kind == "huge_id_last":
        out.write(b'{"success": false, "text": "')
        for _ in range(3):
            out.write(chunk)
        out.write(b'", "id": %d}\n' % n)
    elif kind == "huge_items":
        out.write(b'{"id": %d, "contentItems": [{"type": "inputText", "text": "' % n)
        for _ in range(3):
            out.write(chunk)
        out.write(b'"}]}\n')
    else:
        if kind == "noid":
            out.write(b"\xff garbage without an id\n")
        out.write(json.dumps({"id": n, "text": "pid %d" % os.getpid()}).encode() + b"\n")
    out.flush()
"#;

fn py_worker(dir: &Path) -> HandlerSpec {
    std::fs::write(dir.join("worker.py"), PY_WORKER).unwrap();
    spec(dir, "python3", &["worker.py"], 30_000)
}

#[tokio::test]
async fn bytes_that_are_not_utf8_fail_only_their_call_and_the_worker_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let spec = py_worker(dir.path());
    let runner = HandlerRunner::new(1);
    let first = runner.run(&spec, &call(json!({}))).await;
    assert_eq!(first.failure, None, "{:?}", first.result);
    let pid = first.result.joined_text();
    assert!(pid.starts_with("pid "), "{pid}");

    let bad = runner.run(&spec, &call(json!({ "kind": "bad" }))).await;
    assert_eq!(
        bad.result,
        ToolCallResult::text(
            false,
            "worker for `lookup_ticket` printed an answer that is not UTF-8 (invalid byte at 19 of the line); answers must be UTF-8 JSON"
        )
    );
    // Garbage with no id is logged; the call is answered by the line after it.
    let noid = runner.run(&spec, &call(json!({ "kind": "noid" }))).await;
    assert_eq!(noid.result.joined_text(), pid);
    // Every call wrote bytes that are not UTF-8 on stderr: the worker is still the same.
    for _ in 0..3 {
        let again = runner.run(&spec, &call(json!({}))).await;
        assert_eq!(again.result, ToolCallResult::text(true, pid.clone()));
    }
}

#[tokio::test]
async fn a_long_answer_is_cut_at_1_mib_with_the_note_and_the_worker_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let spec = py_worker(dir.path());
    let runner = HandlerRunner::new(1);
    let huge = runner
        .run(&spec, &call(json!({ "kind": "huge", "mib": 20 })))
        .await;
    assert_eq!(huge.failure, None);
    assert!(huge.result.success);
    let text = huge.result.joined_text();
    let body = text.strip_suffix("\n(output truncated at 1 MiB)").unwrap();
    assert!(body.len() <= MAX_OUTPUT_BYTES && body.len() > MAX_OUTPUT_BYTES - 64);
    assert!(body.chars().all(|c| c == 'é'));

    let id_last = runner
        .run(&spec, &call(json!({ "kind": "huge_id_last" })))
        .await;
    assert!(!id_last.result.success, "its own success: false is kept");
    assert!(
        id_last
            .result
            .joined_text()
            .ends_with("(output truncated at 1 MiB)")
    );

    let items = runner
        .run(&spec, &call(json!({ "kind": "huge_items" })))
        .await;
    let text = items.result.joined_text();
    assert!(
        text.starts_with("worker for `lookup_ticket` printed an answer of 31457")
            && text.ends_with(
                "bytes, over the 1 MiB limit, with no `text` in its first MiB to cut (only `text` answers can be cut)"
            ),
        "{text}"
    );
    let after = runner.run(&spec, &call(json!({}))).await;
    assert!(after.result.joined_text().starts_with("pid "));
}

/// A worker that dies at start fails the calls it had; once it can start, the next call
/// gets a new process (after the back-off) and its answer.
#[tokio::test]
async fn a_dead_worker_is_marked_dead_and_started_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flaky.py"),
        r#"
import json, os, sys
if not os.path.exists("ready"):
    sys.exit(3)
for line in sys.stdin:
    call = json.loads(line)
    print(json.dumps({"id": call["id"], "text": "up"}), flush=True)
"#,
    )
    .unwrap();
    let spec = spec(dir.path(), "python3", &["flaky.py"], 30_000);
    let runner = HandlerRunner::new(1);
    let died = runner.run(&spec, &call(json!({}))).await;
    let text = died.result.joined_text();
    assert!(
        text.contains("exited: closed its stdout (exit status: 3)")
            || text.contains("not accepting calls (it stopped reading its stdin)"),
        "{text}"
    );
    std::fs::write(dir.path().join("ready"), b"").unwrap();
    let up = runner.run(&spec, &call(json!({}))).await;
    assert_eq!(up.result, ToolCallResult::text(true, "up"));
}

/// After a reload, a worker the new catalog no longer runs as it was is started again on
/// its next call; one it still runs keeps its process.
#[tokio::test]
async fn retired_workers_are_started_again_on_their_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let spec = py_worker(dir.path());
    let HandlerSpec::Worker(command) = &spec else {
        unreachable!()
    };
    let runner = HandlerRunner::new(1);
    let pid = runner
        .run(&spec, &call(json!({})))
        .await
        .result
        .joined_text();
    assert!(pid.starts_with("pid "), "{pid}");
    runner.workers.retire_except(&[command]).await;
    assert_eq!(
        runner
            .run(&spec, &call(json!({})))
            .await
            .result
            .joined_text(),
        pid
    );
    runner.workers.retire_except(&[]).await;
    let again = runner
        .run(&spec, &call(json!({})))
        .await
        .result
        .joined_text();
    assert!(
        again.starts_with("pid ") && again != pid,
        "{again} after {pid}"
    );
}

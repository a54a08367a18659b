#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::catalog::{Catalog, CommandSpec, HttpSpec};
use crate::protocol::ContentItem;

fn input() -> HandlerInput {
    HandlerInput {
        tool: "lookup_ticket".to_string(),
        arguments: json!({ "ticket_id": "T-1" }),
        call_id: "call_1".to_string(),
        thread_id: "thr_1".to_string(),
        turn_id: "turn_1".to_string(),
        request_id: "7".to_string(),
    }
}

/// `sh -c SCRIPT`, run in `dir`.
fn sh(dir: &Path, script: &str, timeout_ms: u64) -> HandlerSpec {
    HandlerSpec::Command(CommandSpec {
        argv: vec!["sh".to_string(), "-c".to_string(), script.to_string()],
        program: PathBuf::from("sh"),
        timeout: Duration::from_millis(timeout_ms),
        env: BTreeMap::new(),
        cwd: dir.to_path_buf(),
    })
}

fn with_env(mut spec: HandlerSpec, name: &str, value: &str) -> HandlerSpec {
    if let HandlerSpec::Command(command) = &mut spec {
        command.env.insert(name.to_string(), value.to_string());
    }
    spec
}

async fn run(spec: &HandlerSpec) -> HandlerOutcome {
    HandlerRunner::new(4).run(spec, &input()).await
}

/// Alive means signalable and not a zombie (an orphan may stay a zombie when PID 1 does
/// not reap, but it is dead all the same).
fn alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits for a condition that another process brings about, failing after 10 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect()
}

#[tokio::test]
async fn command_text_output_is_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&sh(dir.path(), "printf 'ticket T-1 is open\\n'", 5000)).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(true, "ticket T-1 is open")
    );
    assert_eq!(outcome.failure, None);
    assert!(outcome.elapsed > Duration::ZERO);
}

#[tokio::test]
async fn command_gets_exactly_the_call_as_json_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    // Echo all of stdin back, then how many lines it had: one object, then EOF.
    let script = "cat > call.json; cat call.json; printf '\\nlines=%s' \"$(wc -l < call.json)\"";
    let outcome = run(&sh(dir.path(), script, 5000)).await;
    let text = outcome.result.joined_text();
    let (call, lines) = text.rsplit_once('\n').unwrap();
    assert_eq!(lines.trim(), "lines=1");
    let call: serde_json::Value = serde_json::from_str(call).unwrap();
    assert_eq!(
        call,
        json!({
            "tool": "lookup_ticket",
            "arguments": { "ticket_id": "T-1" },
            "callId": "call_1",
            "threadId": "thr_1",
            "turnId": "turn_1",
            "requestId": "7"
        })
    );
}

#[tokio::test]
async fn command_json_result_is_sent_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"printf '%s' '{"contentItems":[{"type":"inputText","text":"a"},{"type":"inputImage","imageUrl":"data:image/png;base64,AA=="}],"success":false}'"#;
    let outcome = run(&sh(dir.path(), script, 5000)).await;
    assert_eq!(
        outcome.result,
        ToolCallResult {
            content_items: vec![
                ContentItem::text("a"),
                ContentItem::InputImage {
                    image_url: "data:image/png;base64,AA==".to_string()
                }
            ],
            success: false,
        }
    );
    assert_eq!(outcome.failure, None);
}

#[tokio::test]
async fn command_non_zero_exit_quotes_the_stderr_tail() {
    let dir = tempfile::tempdir().unwrap();
    let script = "echo partial; echo 'db connection refused' >&2; exit 3";
    let outcome = run(&sh(dir.path(), script, 5000)).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` exited with code 3\n\nstdout:\npartial\n\nstderr:\ndb connection refused"
        )
    );
    assert_eq!(
        outcome.failure.as_deref(),
        Some("handler `lookup_ticket` exited with code 3: db connection refused")
    );
}

#[tokio::test]
async fn command_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // One grandchild keeps the output pipes open, one has let go of them.
    let script = "sleep 60 & a=$!; sleep 60 >/dev/null 2>&1 </dev/null & b=$!; \
                  echo \"$a $b\" > pids.tmp; mv pids.tmp pids; echo working >&2; wait";
    let outcome = run(&sh(dir.path(), script, 1500)).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` timed out after 1500 ms and was killed\n\nstderr:\nworking"
        )
    );
    assert!(
        outcome.elapsed < Duration::from_secs(30),
        "{:?}",
        outcome.elapsed
    );
    let grandchildren = read_pids(&pids);
    assert_eq!(
        grandchildren.len(),
        2,
        "the script did not record its children"
    );
    for pid in grandchildren {
        eventually(&format!("grandchild {pid} to die"), || !alive(pid)).await;
    }
}

#[tokio::test]
async fn dropping_a_run_kills_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = "sleep 60 & echo \"$$ $!\" > pids.tmp; mv pids.tmp pids; wait";
    let spec = sh(dir.path(), script, 60_000);
    let runner = HandlerRunner::new(1);
    let call = input();
    tokio::select! {
        outcome = runner.run(&spec, &call) => panic!("the handler should still run: {outcome:?}"),
        () = eventually("the handler to start", || pids.exists()) => {}
    }
    // The run future is dropped here: the shell and its child must go.
    for pid in read_pids(&pids) {
        eventually(&format!("process {pid} to die"), || !alive(pid)).await;
    }
    assert_eq!(runner.running(), 0);
}

#[tokio::test]
async fn background_processes_holding_the_pipes_do_not_hold_up_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    // The background sleep inherits stdout, so the pipe stays open after the shell exits.
    let script = "echo answer; sleep 60 & echo $! > pid.tmp; mv pid.tmp pid";
    let outcome = run(&sh(dir.path(), script, 30_000)).await;
    assert_eq!(outcome.result, ToolCallResult::text(true, "answer"));
    assert!(
        outcome.elapsed < Duration::from_secs(10),
        "{:?}",
        outcome.elapsed
    );
    for pid in read_pids(&dir.path().join("pid")) {
        eventually(&format!("background process {pid} to die"), || !alive(pid)).await;
    }
}

#[tokio::test]
async fn a_process_that_left_the_group_cannot_hold_up_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    // setsid puts the sleep out of reach of the group kill, still holding stdout.
    let script = "echo answer; setsid sleep 60 & echo $! > pid.tmp; mv pid.tmp pid";
    let outcome = run(&sh(dir.path(), script, 30_000)).await;
    let escaped = read_pids(&dir.path().join("pid"));
    for pid in &escaped {
        let _ = kill(Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
    }
    assert_eq!(outcome.result, ToolCallResult::text(true, "answer"));
    assert!(
        outcome.elapsed < Duration::from_secs(10),
        "{:?}",
        outcome.elapsed
    );
    assert_eq!(escaped.len(), 1);
}

#[tokio::test]
async fn command_garbage_result_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&sh(
        dir.path(),
        r#"printf '%s' '{"contentItems":[{"type":"bogus"}]}'"#,
        5000,
    ))
    .await;
    assert!(!outcome.result.success);
    let text = outcome.result.joined_text();
    assert!(
        text.starts_with(
            "handler `lookup_ticket` printed a bad answer: invalid tool-call result at contentItems[0].type: unknown variant `bogus`"
        ),
        "{text}"
    );
    assert!(outcome.failure.is_some());
}

#[tokio::test]
async fn command_invalid_utf8_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&sh(dir.path(), "printf 'ok\\377'", 5000)).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` printed invalid UTF-8 on stdout (at byte 2)"
        )
    );
}

#[tokio::test]
async fn command_huge_output_is_truncated_without_blocking_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    // 3 MB on each pipe at the same time: a reader that stopped at the cap, or read the
    // pipes one after the other, would leave the handler blocked until the timeout.
    let script = "(head -c 3000000 /dev/zero | tr '\\0' e >&2) & \
                  head -c 3000000 /dev/zero | tr '\\0' a; wait";
    let outcome = run(&sh(dir.path(), script, 20_000)).await;
    assert_eq!(outcome.failure, None);
    assert!(outcome.result.success);
    let text = outcome.result.joined_text();
    assert_eq!(
        text.len(),
        output::MAX_OUTPUT_BYTES + "\n(output truncated at 1 MiB)".len()
    );
    assert!(text.starts_with("aaaa") && text.ends_with("a\n(output truncated at 1 MiB)"));
}

#[tokio::test]
async fn command_that_prints_nothing_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&sh(dir.path(), "echo 'nothing found' >&2", 5000)).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` exited 0 but printed nothing (a handler must print its answer on stdout)\n\nstderr:\nnothing found"
        )
    );
    assert!(outcome.failure.is_some());
}

#[tokio::test]
async fn command_killed_by_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(&sh(dir.path(), "kill -9 $$", 5000)).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` was killed by signal 9 (SIGKILL)"
        )
    );
}

#[tokio::test]
async fn command_that_cannot_start_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let spec = HandlerSpec::Command(CommandSpec {
        argv: vec!["./missing.sh".to_string()],
        program: dir.path().join("missing.sh"),
        timeout: Duration::from_secs(5),
        env: BTreeMap::new(),
        cwd: dir.path().to_path_buf(),
    });
    let outcome = run(&spec).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(
            false,
            format!(
                "could not start handler `lookup_ticket`: {}/missing.sh: No such file or directory (os error 2)",
                dir.path().display()
            )
        )
    );
    assert_eq!(
        outcome.failure.as_deref(),
        Some(outcome.result.joined_text().as_str())
    );
}

#[tokio::test]
async fn command_from_a_catalog_runs_in_the_catalog_folder_with_its_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("handlers")).unwrap();
    let script = dir.path().join("handlers/where.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s in %s' \"$MODE\" \"$(pwd -P)\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("handlers/lookup.py"),
        "import json, sys\n\
         call = json.load(sys.stdin)\n\
         text = 'ticket ' + call['arguments']['ticket_id'] + ' is open'\n\
         print(json.dumps({'contentItems': [{'type': 'inputText', 'text': text}]}))\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("catalog.toml"),
        r#"
[[tools]]
name = "where"
description = "d"
input_schema = { type = "object" }
handler = { command = ["./handlers/where.sh"], env = { MODE = "test" } }

[[tools]]
name = "lookup_ticket"
description = "d"
input_schema = { type = "object" }
handler = { command = ["python3", "handlers/lookup.py"], timeout_ms = 20000 }
"#,
    )
    .unwrap();
    let catalog = Catalog::load(&dir.path().join("catalog.toml")).unwrap();
    let runner = HandlerRunner::new(2);

    let spec = catalog
        .tool(None, "where")
        .unwrap()
        .handler
        .clone()
        .unwrap();
    let outcome = runner.run(&spec, &input()).await;
    let real_dir = dir.path().canonicalize().unwrap();
    assert_eq!(
        outcome.result,
        ToolCallResult::text(true, format!("test in {}", real_dir.display()))
    );

    let spec = catalog
        .tool(None, "lookup_ticket")
        .unwrap()
        .handler
        .clone()
        .unwrap();
    let outcome = runner.run(&spec, &input()).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(true, "ticket T-1 is open")
    );
    assert_eq!(outcome.failure, None);
}

#[tokio::test]
async fn at_most_max_concurrent_handlers_run_and_the_rest_queue() {
    let dir = tempfile::tempdir().unwrap();
    let script =
        "touch \"started.$ID\"; while [ ! -e release ]; do sleep 0.01; done; echo \"done $ID\"";
    let specs: Vec<HandlerSpec> = (1..=3)
        .map(|id| with_env(sh(dir.path(), script, 30_000), "ID", &id.to_string()))
        .collect();
    let runner = HandlerRunner::new(2);
    assert_eq!(runner.max_concurrent(), 2);
    let started = |id: u32| dir.path().join(format!("started.{id}")).exists();
    let call = input();
    let control = async {
        eventually("two handlers to start and one to queue", || {
            started(1) && started(2) && runner.waiting() == 1
        })
        .await;
        assert_eq!(runner.running(), 2);
        assert!(
            !started(3),
            "the third handler started before a slot was free"
        );
        std::fs::write(dir.path().join("release"), "").unwrap();
    };
    let (first, second, third, ()) = tokio::join!(
        runner.run(&specs[0], &call),
        runner.run(&specs[1], &call),
        runner.run(&specs[2], &call),
        control
    );
    assert_eq!(first.result, ToolCallResult::text(true, "done 1"));
    assert_eq!(second.result, ToolCallResult::text(true, "done 2"));
    assert_eq!(third.result, ToolCallResult::text(true, "done 3"));
    assert!(
        third.queued > first.queued,
        "{:?} vs {:?}",
        third.queued,
        first.queued
    );
    assert_eq!((runner.running(), runner.waiting()), (0, 0));
}

#[tokio::test]
async fn static_handlers_answer_without_a_slot() {
    let fixed = ToolCallResult::text(false, "closed");
    let runner = HandlerRunner::new(1);
    let outcome = runner
        .run(&HandlerSpec::Static(fixed.clone()), &input())
        .await;
    assert_eq!(outcome.result, fixed);
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.queued, Duration::ZERO);
}

/// A local server with one route per behaviour; returns its base URL.
async fn serve() -> String {
    let app = Router::new()
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/result",
            post(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"contentItems":[{"type":"inputText","text":"from http"}],"success":true}"#,
                )
            }),
        )
        .route(
            "/fail",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom\n") }),
        )
        .route(
            "/redirect",
            post(|| async { (StatusCode::SEE_OTHER, [(header::LOCATION, "/echo")]) }),
        )
        .route(
            "/headers",
            post(|headers: HeaderMap| async move {
                let token = headers
                    .get("x-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                let kind = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                format!("{token} {kind}").into_response()
            }),
        )
        .route(
            "/big",
            post(|| async { "b".repeat(2 * output::MAX_OUTPUT_BYTES) }),
        )
        .route("/hang", post(std::future::pending::<String>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{address}")
}

fn http(url: String, timeout_ms: u64) -> HandlerSpec {
    HandlerSpec::Http(HttpSpec {
        url,
        timeout: Duration::from_millis(timeout_ms),
        headers: BTreeMap::new(),
    })
}

#[tokio::test]
async fn http_handler_posts_the_call_and_maps_replies() {
    let base = serve().await;
    let runner = HandlerRunner::new(4);

    let echo = runner
        .run(&http(format!("{base}/echo"), 5000), &input())
        .await;
    assert!(echo.result.success);
    let posted: HandlerInput = serde_json::from_str(&echo.result.joined_text()).unwrap();
    assert_eq!(posted, input());

    let result = runner
        .run(&http(format!("{base}/result"), 5000), &input())
        .await;
    assert_eq!(result.result, ToolCallResult::text(true, "from http"));
    assert_eq!(result.failure, None);

    let fail = runner
        .run(&http(format!("{base}/fail"), 5000), &input())
        .await;
    assert_eq!(
        fail.result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` answered HTTP 500 Internal Server Error\n\nbody:\nboom"
        )
    );
    assert_eq!(
        fail.failure.as_deref(),
        Some("handler `lookup_ticket` answered HTTP 500 Internal Server Error")
    );

    // Following a 303 would turn the POST into a GET without the call.
    let redirect = runner
        .run(&http(format!("{base}/redirect"), 5000), &input())
        .await;
    assert_eq!(
        redirect.result,
        ToolCallResult::text(false, "handler `lookup_ticket` answered HTTP 303 See Other")
    );

    let big = runner
        .run(&http(format!("{base}/big"), 5000), &input())
        .await;
    assert!(big.result.success);
    let text = big.result.joined_text();
    assert_eq!(
        text.len(),
        output::MAX_OUTPUT_BYTES + "\n(output truncated at 1 MiB)".len()
    );
}

#[tokio::test]
async fn http_handler_sends_the_catalog_headers() {
    let base = serve().await;
    let mut spec = http(format!("{base}/headers"), 5000);
    if let HandlerSpec::Http(http) = &mut spec {
        http.headers
            .insert("X-Token".to_string(), "secret".to_string());
    }
    let outcome = HandlerRunner::new(1).run(&spec, &input()).await;
    assert_eq!(
        outcome.result,
        ToolCallResult::text(true, "secret application/json")
    );
}

#[tokio::test]
async fn http_handler_timeout_is_a_failure() {
    let base = serve().await;
    let url = format!("{base}/hang");
    let outcome = HandlerRunner::new(1)
        .run(&http(url.clone(), 300), &input())
        .await;
    let expected = format!("handler `lookup_ticket` timed out after 300 ms ({url})");
    assert_eq!(
        outcome.result,
        ToolCallResult::text(false, expected.clone())
    );
    assert_eq!(outcome.failure, Some(expected));
}

#[tokio::test]
async fn http_handler_that_cannot_be_reached_is_a_failure() {
    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/lookup", listener.local_addr().unwrap());
    drop(listener);
    let outcome = HandlerRunner::new(1)
        .run(&http(url.clone(), 5000), &input())
        .await;
    assert!(!outcome.result.success);
    let text = outcome.result.joined_text();
    assert!(
        text.starts_with(&format!(
            "could not reach handler `lookup_ticket` at {url}: "
        )),
        "{text}"
    );
    assert!(text.contains("onnection refused"), "{text}");
}

/// A python worker: answers each call with its ticket id, `exit` makes it quit after
/// answering, `slow` makes it never answer that call.
const PY_WORKER: &str = r#"
import json, sys
for line in sys.stdin:
    call = json.loads(line)
    args = call["arguments"]
    if args.get("slow"):
        continue
    print(json.dumps({"id": call["id"], "text": "worker saw " + str(args.get("ticket_id")) + " in " + call["requestId"]}), flush=True)
    if args.get("exit"):
        sys.exit(0)
"#;

fn worker(dir: &Path, timeout_ms: u64) -> HandlerSpec {
    std::fs::write(dir.join("worker.py"), PY_WORKER).unwrap();
    HandlerSpec::Worker(CommandSpec {
        argv: vec!["python3".to_string(), "worker.py".to_string()],
        program: PathBuf::from("python3"),
        timeout: Duration::from_millis(timeout_ms),
        env: BTreeMap::new(),
        cwd: dir.to_path_buf(),
    })
}

fn call_with(arguments: serde_json::Value, request_id: &str) -> HandlerInput {
    HandlerInput {
        arguments,
        request_id: request_id.to_string(),
        ..input()
    }
}

#[tokio::test]
async fn a_worker_answers_many_calls_from_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let spec = worker(dir.path(), 5_000);
    let runner = HandlerRunner::new(1);
    let calls: Vec<_> = (0..20)
        .map(|i| call_with(json!({ "ticket_id": format!("T-{i}") }), &format!("r{i}")))
        .collect();
    // Concurrent calls share the process; the one-slot cap does not apply to workers.
    let outcomes = futures_util::future::join_all(calls.iter().map(|c| runner.run(&spec, c))).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.failure, None);
        assert_eq!(
            outcome.result,
            ToolCallResult::text(true, format!("worker saw T-{i} in r{i}"))
        );
    }
}

#[tokio::test]
async fn a_worker_that_exits_is_started_again_and_a_silent_call_times_out() {
    let dir = tempfile::tempdir().unwrap();
    // Generous for calls that are answered (a loaded machine starts python slowly);
    // the same worker with a short timeout for the call it never answers.
    let spec = worker(dir.path(), 10_000);
    let short = worker(dir.path(), 400);
    let runner = HandlerRunner::new(4);
    let first = runner
        .run(
            &spec,
            &call_with(json!({ "ticket_id": "A", "exit": true }), "r1"),
        )
        .await;
    assert_eq!(
        first.result,
        ToolCallResult::text(true, "worker saw A in r1")
    );
    // The process is gone now; the next call starts a new one (or, if it raced the exit,
    // fails saying the worker exited).
    let mut second = runner
        .run(&spec, &call_with(json!({ "ticket_id": "B" }), "r2"))
        .await;
    if second.failure.is_some() {
        assert!(
            second.result.joined_text().contains("exited"),
            "{:?}",
            second.result
        );
        second = runner
            .run(&spec, &call_with(json!({ "ticket_id": "B" }), "r2"))
            .await;
    }
    assert_eq!(
        second.result,
        ToolCallResult::text(true, "worker saw B in r2")
    );
    let silent = runner
        .run(&short, &call_with(json!({ "slow": true }), "r3"))
        .await;
    assert!(!silent.result.success);
    assert!(
        silent
            .result
            .joined_text()
            .contains("did not answer within 400 ms"),
        "{:?}",
        silent.result
    );
    // The worker is still there for the next call.
    let after = runner
        .run(&spec, &call_with(json!({ "ticket_id": "C" }), "r4"))
        .await;
    assert_eq!(
        after.result,
        ToolCallResult::text(true, "worker saw C in r4")
    );
}

/// The model's arguments reach a command handler only as JSON on stdin: never in its
/// argv or environment, and never through a shell, whatever they contain.
#[tokio::test]
async fn hostile_arguments_never_reach_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let hostile = json!({
        "path": "; rm -rf / #",
        "subst": format!("$(touch {})", marker.display()),
        "backticks": format!("`touch {}`", marker.display()),
        "quotes": "' \" \\ \n --help",
        "flag": "--output=/etc/passwd",
    });
    let script = "tr '\\0' '\\n' < /proc/$$/cmdline > argv.txt; \
                  tr '\\0' '\\n' < /proc/$$/environ > env.txt; \
                  cat > stdin.json; echo done";
    let call = HandlerInput {
        arguments: hostile.clone(),
        ..input()
    };
    let outcome = HandlerRunner::new(1)
        .run(&sh(dir.path(), script, 5000), &call)
        .await;
    assert_eq!(outcome.result, ToolCallResult::text(true, "done"));
    let argv = std::fs::read_to_string(dir.path().join("argv.txt")).unwrap();
    assert_eq!(argv.lines().collect::<Vec<_>>(), ["sh", "-c", script]);
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    for text in ["rm -rf", "touch", "--output", "passwd"] {
        assert!(!argv.contains(text) && !env.contains(text), "{text} leaked");
    }
    let stdin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stdin.json")).unwrap())
            .unwrap();
    assert_eq!(stdin["arguments"], hostile);
    assert!(!marker.exists(), "an argument was run by a shell");
}

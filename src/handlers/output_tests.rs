#![allow(clippy::unwrap_used, clippy::expect_used)]

use pretty_assertions::assert_eq;

use super::*;

const TOOL: &str = "lookup_ticket";

fn command(end: CommandEnd, stdout: &[u8], stderr: &[u8]) -> (ToolCallResult, Option<String>) {
    map_command_output(
        TOOL,
        end,
        &Captured {
            stdout,
            stderr,
            ..Captured::default()
        },
    )
}

fn text_of(result: &ToolCallResult) -> String {
    result.joined_text()
}

#[test]
fn plain_stdout_is_one_trimmed_text_item() {
    let (result, failure) = command(CommandEnd::Exited(0), b"\n  ticket T-1 is open \n", b"");
    assert_eq!(result, ToolCallResult::text(true, "ticket T-1 is open"));
    assert_eq!(failure, None);
}

#[test]
fn json_data_without_content_items_is_passed_on_as_text() {
    let (result, failure) = command(CommandEnd::Exited(0), br#"{"ticketId":"T-1"}"#, b"");
    assert_eq!(result, ToolCallResult::text(true, r#"{"ticketId":"T-1"}"#));
    assert_eq!(failure, None);
}

#[test]
fn a_tool_call_result_on_stdout_is_sent_as_given() {
    let stdout = br#"{"contentItems":[{"type":"inputText","text":"a"},{"type":"inputImage","imageUrl":"data:image/png;base64,AA=="}],"success":false}"#;
    let (result, failure) = command(CommandEnd::Exited(0), stdout, b"");
    assert_eq!(
        result,
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
    // The handler chose success:false itself: that is an answer, not a handler failure.
    assert_eq!(failure, None);

    let (result, _) = command(
        CommandEnd::Exited(0),
        br#"{"contentItems":[{"type":"inputText","text":"ok"}]}"#,
        b"",
    );
    assert_eq!(result, ToolCallResult::text(true, "ok"));
}

#[test]
fn an_invalid_tool_call_result_is_a_failure_that_says_why() {
    let (result, failure) = command(
        CommandEnd::Exited(0),
        br#"{"contentItems":[{"type":"inputImage","imageUrl":""}]}"#,
        b"",
    );
    let expected =
        "handler `lookup_ticket` printed a bad answer: contentItems[0].imageUrl must not be empty";
    assert_eq!(result, ToolCallResult::text(false, expected));
    assert_eq!(failure.as_deref(), Some(expected));

    let (result, _) = command(
        CommandEnd::Exited(0),
        br#"{"contentItems":[],"extra":1}"#,
        b"",
    );
    assert_eq!(
        text_of(&result),
        "handler `lookup_ticket` printed a bad answer: unknown field \"extra\" in a tool-call result: only contentItems and success are allowed"
    );
}

#[test]
fn non_zero_exit_reports_code_stdout_and_stderr() {
    let (result, failure) = command(CommandEnd::Exited(3), b"partial\n", b"warming up\noops\n");
    assert_eq!(
        result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` exited with code 3\n\nstdout:\npartial\n\nstderr:\nwarming up\noops"
        )
    );
    assert_eq!(
        failure.as_deref(),
        Some("handler `lookup_ticket` exited with code 3: oops")
    );

    let (result, failure) = command(CommandEnd::Exited(1), b"", b"");
    assert_eq!(
        result,
        ToolCallResult::text(false, "handler `lookup_ticket` exited with code 1")
    );
    assert_eq!(
        failure.as_deref(),
        Some("handler `lookup_ticket` exited with code 1")
    );
}

#[test]
fn non_zero_exit_keeps_a_printed_result_and_adds_what_happened() {
    let (result, failure) = command(
        CommandEnd::Exited(2),
        br#"{"contentItems":[{"type":"inputText","text":"no such ticket"}],"success":true}"#,
        b"lookup failed\n",
    );
    assert_eq!(
        result,
        ToolCallResult {
            content_items: vec![
                ContentItem::text("no such ticket"),
                ContentItem::text(
                    "handler `lookup_ticket` exited with code 2\n\nstderr:\nlookup failed"
                ),
            ],
            success: false,
        }
    );
    assert_eq!(
        failure.as_deref(),
        Some("handler `lookup_ticket` exited with code 2: lookup failed")
    );
}

#[test]
fn signals_and_timeouts_are_failures() {
    let (result, failure) = command(CommandEnd::Signaled(9), b"half", b"");
    assert_eq!(
        result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` was killed by signal 9 (SIGKILL)"
        )
    );
    assert!(failure.is_some());

    let (result, failure) = command(
        CommandEnd::TimedOut(std::time::Duration::from_millis(5000)),
        b"",
        b"still thinking\n",
    );
    assert_eq!(
        text_of(&result),
        "handler `lookup_ticket` timed out after 5000 ms and was killed\n\nstderr:\nstill thinking"
    );
    assert!(!result.success);
    assert_eq!(
        failure.as_deref(),
        Some("handler `lookup_ticket` timed out after 5000 ms and was killed: still thinking")
    );
}

#[test]
fn invalid_utf8_on_stdout_is_a_failure() {
    let (result, failure) = command(CommandEnd::Exited(0), b"ok \xff\xfe", b"");
    assert_eq!(
        result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` printed invalid UTF-8 on stdout (at byte 3)"
        )
    );
    assert!(failure.is_some());

    let (result, _) = command(CommandEnd::Exited(4), b"\xff", b"");
    assert_eq!(
        text_of(&result),
        "handler `lookup_ticket` printed invalid UTF-8 on stdout (at byte 0) and exited with code 4"
    );
}

#[test]
fn a_character_split_by_the_size_cap_is_not_invalid_utf8() {
    // "é" is two bytes; the cap cut after the first.
    let (result, failure) = map_command_output(
        TOOL,
        CommandEnd::Exited(0),
        &Captured {
            stdout: b"abc\xc3",
            stdout_truncated: true,
            ..Captured::default()
        },
    );
    assert_eq!(
        result,
        ToolCallResult::text(true, "abc\n(output truncated at 1 MiB)")
    );
    assert_eq!(failure, None);
}

#[test]
fn printing_nothing_is_a_failure() {
    for stdout in [&b""[..], b"  \n\t\n"] {
        let (result, failure) = command(CommandEnd::Exited(0), stdout, b"loaded 3 tickets\n");
        assert_eq!(
            result,
            ToolCallResult::text(
                false,
                "handler `lookup_ticket` exited 0 but printed nothing (a handler must print its answer on stdout)\n\nstderr:\nloaded 3 tickets"
            )
        );
        assert_eq!(
            failure.as_deref(),
            Some(
                "handler `lookup_ticket` exited 0 but printed nothing (a handler must print its answer on stdout): loaded 3 tickets"
            )
        );
    }
}

#[test]
fn only_the_last_2_kib_of_stderr_is_quoted_cut_on_a_character() {
    // 3-byte characters, so the 2 KiB cut lands inside one.
    let mut stderr = "€".repeat(1000).into_bytes();
    stderr.extend_from_slice(b"\nfinal line\n");
    assert_ne!((stderr.len() - STDERR_TAIL_BYTES) % 3, 0);
    let (result, failure) = command(CommandEnd::Exited(1), b"", &stderr);
    let text = text_of(&result);
    let tail = text
        .strip_prefix("handler `lookup_ticket` exited with code 1\n\nstderr (last 2 KiB):\n")
        .unwrap();
    assert!(tail.len() <= STDERR_TAIL_BYTES, "{}", tail.len());
    assert!(tail.len() > STDERR_TAIL_BYTES - 4, "{}", tail.len());
    assert!(
        tail.starts_with('€') && tail.ends_with("final line"),
        "{tail}"
    );
    assert_eq!(
        failure.as_deref(),
        Some("handler `lookup_ticket` exited with code 1: final line")
    );
}

#[test]
fn a_truncated_stderr_is_labelled_as_a_tail() {
    let (result, _) = map_command_output(
        TOOL,
        CommandEnd::Exited(1),
        &Captured {
            stderr: b"short",
            stderr_truncated: true,
            ..Captured::default()
        },
    );
    assert_eq!(
        text_of(&result),
        "handler `lookup_ticket` exited with code 1\n\nstderr (last 2 KiB):\nshort"
    );
}

#[test]
fn truncated_stdout_says_so() {
    let stdout = vec![b'a'; MAX_OUTPUT_BYTES];
    let (result, failure) = map_command_output(
        TOOL,
        CommandEnd::Exited(0),
        &Captured {
            stdout: &stdout,
            stdout_truncated: true,
            ..Captured::default()
        },
    );
    let text = text_of(&result);
    assert!(result.success);
    assert_eq!(failure, None);
    assert_eq!(
        text.len(),
        MAX_OUTPUT_BYTES + "\n(output truncated at 1 MiB)".len()
    );
    assert!(text.ends_with("a\n(output truncated at 1 MiB)"));
}

#[test]
fn http_2xx_bodies() {
    let (result, failure) = map_http_reply(
        TOOL,
        200,
        br#" {"contentItems":[{"type":"inputText","text":"open"}],"success":true} "#,
        false,
    );
    assert_eq!(result, ToolCallResult::text(true, "open"));
    assert_eq!(failure, None);

    let (result, failure) = map_http_reply(TOOL, 201, b"  created T-2\n", false);
    assert_eq!(result, ToolCallResult::text(true, "created T-2"));
    assert_eq!(failure, None);

    let (result, _) = map_http_reply(TOOL, 200, b"abc", true);
    assert_eq!(
        result,
        ToolCallResult::text(true, "abc\n(output truncated at 1 MiB)")
    );
}

#[test]
fn http_2xx_problems_are_failures() {
    let cases: &[(u16, &[u8], &str)] = &[
        (
            204,
            b"",
            "handler `lookup_ticket` answered HTTP 204 No Content with an empty body",
        ),
        (
            200,
            b"\xff\xfe",
            "handler `lookup_ticket` answered HTTP 200 OK with a body that is not UTF-8 (at byte 0)",
        ),
        (
            200,
            br#"{"contentItems":"open"}"#,
            "handler `lookup_ticket` answered HTTP 200 OK with a bad answer: invalid tool-call result at contentItems: invalid type: string \"open\", expected a sequence (content items are {\"type\":\"inputText\",\"text\":..}, {\"type\":\"inputImage\",\"imageUrl\":..} or {\"type\":\"inputAudio\",\"audioUrl\":..})",
        ),
    ];
    for (status, body, expected) in cases {
        let (result, failure) = map_http_reply(TOOL, *status, body, false);
        assert_eq!(result, ToolCallResult::text(false, *expected));
        assert_eq!(failure.as_deref(), Some(*expected));
    }
}

#[test]
fn http_error_statuses_quote_the_start_of_the_body() {
    let (result, failure) = map_http_reply(TOOL, 500, b"boom\n", false);
    assert_eq!(
        result,
        ToolCallResult::text(
            false,
            "handler `lookup_ticket` answered HTTP 500 Internal Server Error\n\nbody:\nboom"
        )
    );
    assert_eq!(
        failure.as_deref(),
        Some("handler `lookup_ticket` answered HTTP 500 Internal Server Error")
    );

    let long = "x".repeat(5000);
    let (result, _) = map_http_reply(TOOL, 404, long.as_bytes(), false);
    let text = text_of(&result);
    assert_eq!(
        text,
        format!(
            "handler `lookup_ticket` answered HTTP 404 Not Found\n\nbody (first 2 KiB):\n{}",
            "x".repeat(BODY_EXCERPT_BYTES)
        )
    );

    let (result, _) = map_http_reply(TOOL, 599, b"", false);
    assert_eq!(
        result,
        ToolCallResult::text(false, "handler `lookup_ticket` answered HTTP 599")
    );
}

#[test]
fn failure_outcome_uses_the_summary_as_text() {
    let (result, failure) = failure_outcome("could not start handler `x`: nope".to_string());
    assert_eq!(
        result,
        ToolCallResult::text(false, "could not start handler `x`: nope")
    );
    assert_eq!(
        failure.as_deref(),
        Some("could not start handler `x`: nope")
    );
}

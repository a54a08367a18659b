//! Each item row kind at 80x24 and 160x48, folded and expanded.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::widgets::Paragraph;
use serde_json::json;

use super::*;
use crate::bridge::items::FileDiff;

fn step(step: &str, status: &str) -> PlanStep {
    PlanStep {
        step: step.to_string(),
        status: status.to_string(),
    }
}

fn kinds() -> Vec<(&'static str, ItemRow)> {
    let output: String = (1..=30)
        .map(|n| format!("test case_{n} ... ok\n"))
        .collect();
    vec![
        (
            "command",
            ItemRow::Command {
                item_id: "c".to_string(),
                command: "/bin/bash -lc 'cargo test --lib'".to_string(),
                cwd: "/work/project".to_string(),
                status: "failed".to_string(),
                exit_code: Some(101),
                duration_ms: Some(5230),
                output,
                output_cut_bytes: 2048,
                output_lines: 42,
            },
        ),
        (
            "command_running",
            ItemRow::Command {
                item_id: "c2".to_string(),
                command: "/bin/bash -lc 'cargo build'".to_string(),
                cwd: "/work/project".to_string(),
                status: "inProgress".to_string(),
                exit_code: None,
                duration_ms: None,
                output: "   Compiling serde v1.0.228\n   Compiling tokio v1.48.0\n   Compiling ratatui v0.30.0\n   Compiling switchboard v0.1.0\n".to_string(),
                output_cut_bytes: 0,
                output_lines: 4,
            },
        ),
        (
            "file_change",
            ItemRow::FileChange {
                item_id: "f".to_string(),
                status: "completed".to_string(),
                files: vec![
                    FileDiff {
                        path: "src/lib.rs".to_string(),
                        change: "update".to_string(),
                        move_path: None,
                        diff: "@@ -1,2 +1,2 @@\n-fn old() {}\n+fn new() {}\n unchanged\n"
                            .to_string(),
                    },
                    FileDiff {
                        path: "notes.txt".to_string(),
                        change: "add".to_string(),
                        move_path: None,
                        diff: "hello\n".to_string(),
                    },
                ],
                output: "Success. Updated the following files:\nM src/lib.rs\nA notes.txt\n"
                    .to_string(),
            },
        ),
        (
            "turn_diff",
            ItemRow::TurnDiff {
                diff: "diff --git a/src/lib.rs b/src/lib.rs\nindex 1111111..2222222 100644\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,2 +1,2 @@\n-fn old() {}\n+fn new() {}\n unchanged\ndiff --git a/notes.txt b/notes.txt\nnew file mode 100644\n--- /dev/null\n+++ b/notes.txt\n@@ -0,0 +1 @@\n+hello\n".to_string(),
            },
        ),
        (
            "hook",
            ItemRow::Hook {
                run_id: "run-1".to_string(),
                event_name: "preToolUse".to_string(),
                handler_type: "command".to_string(),
                status: "blocked".to_string(),
                status_message: Some("rm -rf is not allowed here".to_string()),
                duration_ms: Some(31),
                entries: vec![
                    crate::protocol::items::HookOutputEntry {
                        kind: "stop".to_string(),
                        text: "blocked by policy.sh".to_string(),
                    },
                    crate::protocol::items::HookOutputEntry {
                        kind: "feedback".to_string(),
                        text: "use trash instead".to_string(),
                    },
                ],
                source_path: Some("/home/me/.codex/hooks/policy.sh".to_string()),
            },
        ),
        (
            "model_reroute",
            ItemRow::ModelReroute {
                from_model: "gpt-5.3-codex".to_string(),
                to_model: "gpt-5.2".to_string(),
                reason: "highRiskCyberActivity".to_string(),
            },
        ),
        (
            "warning",
            ItemRow::Warning {
                source: crate::protocol::items::WarningKind::Config,
                message: "unknown key `approval_polcy`".to_string(),
                details: Some("/home/me/.codex/config.toml: line 3".to_string()),
            },
        ),
        (
            "error",
            ItemRow::Error {
                message: "stream disconnected before completion".to_string(),
                details: Some("retrying 2 of 5 in 1.6 s".to_string()),
                code: Some("httpConnectionFailed".to_string()),
                will_retry: true,
            },
        ),
        (
            "reasoning",
            ItemRow::Reasoning {
                item_id: "r".to_string(),
                summary: vec![
                    "**Reading the tests**".to_string(),
                    "The failing test expects a trailing newline.".to_string(),
                    "I will fix the formatter.".to_string(),
                ],
            },
        ),
        (
            "plan",
            ItemRow::Plan {
                item_id: None,
                explanation: Some("Fix the formatter, then run the suite.".to_string()),
                steps: vec![
                    step("Find the failing test", "completed"),
                    step("Fix the formatter", "inProgress"),
                    step("Run the suite", "pending"),
                ],
                text: None,
            },
        ),
        (
            "mcp_tool_call",
            ItemRow::McpToolCall {
                item_id: "m".to_string(),
                server: "docs".to_string(),
                tool: "search".to_string(),
                status: "completed".to_string(),
                arguments: json!({"query": "serde flatten", "limit": 3}),
                result: Some(json!({"content": [{"type": "text", "text": "3 pages"}]})),
                error: None,
                duration_ms: Some(42),
            },
        ),
        (
            "web_search",
            ItemRow::WebSearch {
                item_id: "w".to_string(),
                query: "ratatui paragraph wrap".to_string(),
                action: Some(json!({"type": "search", "query": "ratatui paragraph wrap"})),
            },
        ),
        (
            "image_view",
            ItemRow::ImageView {
                item_id: "i".to_string(),
                path: "/work/project/screenshot.png".to_string(),
            },
        ),
        (
            "review_mode",
            ItemRow::ReviewMode {
                item_id: "v".to_string(),
                entered: true,
                review: "current changes".to_string(),
            },
        ),
        (
            "context_compaction",
            ItemRow::ContextCompaction {
                item_id: "k".to_string(),
            },
        ),
        (
            "unknown",
            ItemRow::Other {
                item_id: "h".to_string(),
                item_type: "hookRun".to_string(),
                item: json!({"type": "hookRun", "id": "h", "hook": "pre-commit", "status": "completed"}),
            },
        ),
    ]
}

fn draw(row: &ItemRow, width: u16, height: u16, expanded: bool) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let lines = row_lines(row, usize::from(width), expanded, 12_400);
    terminal
        .draw(|frame| frame.render_widget(Paragraph::new(lines), frame.area()))
        .unwrap();
    terminal
}

#[test]
fn each_item_kind_folded_and_expanded() {
    for (name, row) in kinds() {
        for (width, height) in [(80, 24), (160, 48)] {
            for (expanded, how) in [(false, "folded"), (true, "expanded")] {
                let terminal = draw(&row, width, height, expanded);
                insta::assert_snapshot!(
                    format!("item_{name}_{how}_{width}x{height}"),
                    terminal.backend()
                );
            }
        }
    }
}

#[test]
fn folded_rows_count_what_they_hide() {
    let rows = kinds();
    let text = |row: &ItemRow, expanded| {
        row_lines(row, 80, expanded, 0)
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    };
    let command = text(&rows[0].1, false);
    assert_eq!(command.len(), 2);
    assert!(command[0].contains("failed · exit 101 · 5230 ms"));
    assert!(command[1].contains("42 line(s) of output"));
    let all = text(&rows[0].1, true);
    assert!(all.iter().any(|l| l.contains("test case_30 ... ok")));
    assert!(all[1].contains("2048 earlier byte(s) only in the transcript file"));
    assert_eq!(text(&rows[2].1, false).len(), 3, "one line per file");
    // A running command: elapsed, line count, its last lines.
    let running = text(&rows[1].1, false);
    assert!(
        running[0].contains("running · 0 ms · 4 line(s)"),
        "{running:?}"
    );
    assert_eq!(running.len(), 4);
    assert!(running[3].contains("Compiling switchboard"));
}

#[test]
fn diffs_are_coloured_and_the_running_plan_step_stands_out() {
    let rows = kinds();
    let diff = row_lines(&rows[2].1, 80, true, 0);
    let added = diff
        .iter()
        .find(|l| l.to_string().contains("+fn new"))
        .unwrap();
    let removed = diff
        .iter()
        .find(|l| l.to_string().contains("-fn old"))
        .unwrap();
    assert_eq!(added.style.fg, Some(Color::Green));
    assert_eq!(removed.style.fg, Some(Color::Red));
    let plan = row_lines(&rows[9].1, 80, false, 0);
    let running = plan.iter().find(|l| l.to_string().contains("▶")).unwrap();
    assert_eq!(running.spans[0].style.fg, Some(Color::Yellow));
}

fn draw_detail(row: &ItemRow, width: u16, height: u16, bottom: bool) -> Terminal<TestBackend> {
    let transcript_row = crate::bridge::TranscriptRow {
        seq: 4,
        at_ms: 1_000,
        turn_id: Some("U".to_string()),
        entry: crate::bridge::TranscriptEntry::Item(row.clone()),
    };
    let pager = crate::console::navigate::row_pager(&transcript_row, "T", 13_400);
    if bottom {
        pager.scroll.by(isize::MAX / 2);
    }
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| super::super::overlays::render_pager(&pager, frame, frame.area()))
        .unwrap();
    terminal
}

#[test]
fn each_item_kind_in_the_detail_view_from_its_top_and_its_end() {
    for (name, row) in kinds() {
        for (width, height) in [(80, 24), (160, 48)] {
            for (bottom, at) in [(false, "top"), (true, "end")] {
                let terminal = draw_detail(&row, width, height, bottom);
                insta::assert_snapshot!(
                    format!("detail_{name}_{at}_{width}x{height}"),
                    terminal.backend()
                );
            }
        }
    }
}

#[test]
fn the_detail_view_of_a_command_is_a_pager_over_its_output_not_json() {
    let rows = kinds();
    let lines = detail_lines(&rows[0].1, 0);
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts[0], "$ /bin/bash -lc 'cargo test --lib'");
    assert!(texts.contains(&"cwd       /work/project"));
    assert!(texts.contains(&"exit code 101"));
    assert!(texts.contains(&"took      5.2 s"));
    assert!(texts.contains(&"test case_30 ... ok"));
    assert!(!texts.iter().any(|t| t.contains("\"output\"")), "{texts:?}");
    let exit = lines
        .iter()
        .find(|l| l.text.starts_with("exit code"))
        .unwrap();
    assert_eq!(exit.tone, Tone::Bad);
    // A diff is coloured per line, file by file.
    let diff = detail_lines(&rows[2].1, 0);
    let tone_of = |text: &str| diff.iter().find(|l| l.text == text).unwrap().tone;
    assert_eq!(tone_of("+fn new() {}"), Tone::Added);
    assert_eq!(tone_of("-fn old() {}"), Tone::Removed);
    assert_eq!(tone_of("@@ -1,2 +1,2 @@"), Tone::Hunk);
    assert_eq!(tone_of("update src/lib.rs  +1 -1"), Tone::FileHeader);
    // A running command says how long it has run.
    let running = detail_lines(&rows[1].1, 65_000);
    assert!(running.iter().any(|l| l.text == "running   for 1m05s"));
}

#[test]
fn the_turn_diff_folds_to_its_files_with_their_counts() {
    let rows = kinds();
    let folded: Vec<String> = row_lines(&rows[3].1, 80, false, 0)
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(folded.len(), 3, "{folded:?}");
    assert!(
        folded[0].contains("turn diff  2 file(s)  +2 -1"),
        "{folded:?}"
    );
    assert!(folded[1].contains("src/lib.rs  +1 -1"));
    assert!(folded[2].contains("notes.txt  +1 -0"));
}

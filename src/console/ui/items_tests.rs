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
    let lines = row_lines(row, usize::from(width), expanded);
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
        row_lines(row, 80, expanded)
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    };
    let command = text(&rows[0].1, false);
    assert_eq!(command.len(), 2);
    assert!(command[0].contains("failed · exit 101 · 5230 ms"));
    assert!(command[1].contains("30 line(s) of output"));
    let all = text(&rows[0].1, true);
    assert!(all.iter().any(|l| l.contains("test case_30 ... ok")));
    assert!(all[1].contains("2048 earlier byte(s) only in the transcript file"));
    assert_eq!(text(&rows[1].1, false).len(), 3, "one line per file");
}

#[test]
fn diffs_are_coloured_and_the_running_plan_step_stands_out() {
    let rows = kinds();
    let diff = row_lines(&rows[1].1, 80, true);
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
    let plan = row_lines(&rows[3].1, 80, false);
    let running = plan.iter().find(|l| l.to_string().contains("▶")).unwrap();
    assert_eq!(running.spans[0].style.fg, Some(Color::Yellow));
}

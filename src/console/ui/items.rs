//! Transcript rows of a turn's items (commands, file changes, reasoning, plans, MCP tool
//! calls, web searches, ..), each kind in its own style. Folded, a row is its headline
//! and a line count; expanded (Enter, or the detail view `v`) it is whole.

use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};

use crate::bridge::items::ItemRow;
use crate::console::text;
use crate::protocol::items::PlanStep;

/// Output or diff lines a folded row shows: none, only their count.
const FOLDED_REASONING_LINES: usize = 2;

fn hint(indent: usize, count: usize, what: &str) -> Line<'static> {
    Line::from(format!(
        "{}… {count} {what} (Enter shows all)",
        " ".repeat(indent)
    ))
    .dim()
}

/// `text` as lines `width` wide, each indented by `indent` and styled.
fn body(text: &str, width: usize, indent: usize, style: Style) -> Vec<Line<'static>> {
    text.lines()
        .flat_map(|l| text::wrap(&text::printable(l), width.saturating_sub(indent).max(4)))
        .map(|l| Line::from(format!("{}{l}", " ".repeat(indent))).style(style))
        .collect()
}

fn json(value: &serde_json::Value, width: usize) -> Vec<Line<'static>> {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    body(&pretty, width, 4, Style::new().dim())
}

fn head(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    let mut used = 0;
    let mut kept = Vec::new();
    for span in spans {
        let room = width.saturating_sub(used);
        if room == 0 {
            break;
        }
        let content = text::truncate(&span.content, room);
        used += text::width(&content);
        kept.push(Span::styled(content, span.style));
    }
    Line::from(kept)
}

fn status_style(status: &str) -> Style {
    match status {
        "completed" => Style::new().green(),
        "inProgress" => Style::new().yellow(),
        _ => Style::new().red(),
    }
}

fn line_count(text: &str) -> usize {
    text.lines().count()
}

fn diff_lines(diff: &str, width: usize) -> Vec<Line<'static>> {
    diff.lines()
        .map(|l| {
            let style = if l.starts_with("+++") || l.starts_with("---") {
                Style::new().bold()
            } else if l.starts_with('+') {
                Style::new().green()
            } else if l.starts_with('-') {
                Style::new().red()
            } else if l.starts_with("@@") {
                Style::new().cyan()
            } else {
                Style::new()
            };
            Line::from(text::truncate(
                &format!("    {}", text::printable(l)),
                width,
            ))
            .style(style)
        })
        .collect()
}

fn step_line(step: &PlanStep, width: usize) -> Line<'static> {
    let (mark, style) = match step.status.as_str() {
        "completed" => ("✔", Style::new().green()),
        "inProgress" => ("▶", Style::new().yellow().bold()),
        _ => ("○", Style::new()),
    };
    head(
        vec![
            Span::styled(format!("  {mark} "), style),
            Span::styled(step.step.clone(), style),
        ],
        width,
    )
}

/// The lines of one item row, `width` columns wide.
pub fn row_lines(row: &ItemRow, width: usize, expanded: bool) -> Vec<Line<'static>> {
    match row {
        ItemRow::Command {
            command,
            cwd,
            status,
            exit_code,
            duration_ms,
            output,
            output_cut_bytes,
            ..
        } => {
            let mut facts = status.clone();
            if let Some(code) = exit_code {
                facts.push_str(&format!(" · exit {code}"));
            }
            if let Some(ms) = duration_ms {
                facts.push_str(&format!(" · {ms} ms"));
            }
            let mut lines = vec![head(
                vec![
                    Span::styled("$ ", Style::new().blue().bold()),
                    Span::styled(
                        format!("{}  ", text::printable(command)),
                        Style::new().bold(),
                    ),
                    Span::styled(facts, status_style(status)),
                    Span::raw(format!(" · {cwd}")).dim(),
                ],
                width,
            )];
            let count = line_count(output);
            if expanded {
                if *output_cut_bytes > 0 {
                    lines.push(
                        Line::from(format!(
                            "    … {output_cut_bytes} earlier byte(s) only in the transcript file"
                        ))
                        .dim(),
                    );
                }
                lines.extend(body(output, width, 4, Style::new()));
            } else if count > 0 {
                lines.push(hint(4, count, "line(s) of output"));
            }
            lines
        }
        ItemRow::FileChange { status, files, .. } => {
            let mut lines = vec![head(
                vec![
                    Span::styled("✎ ", Style::new().magenta().bold()),
                    Span::styled(
                        format!("{} file(s) changed  ", files.len()),
                        Style::new().magenta(),
                    ),
                    Span::styled(status.clone(), status_style(status)),
                ],
                width,
            )];
            for file in files {
                let (mark, style) = match file.change.as_str() {
                    "add" => ("A", Style::new().green()),
                    "delete" => ("D", Style::new().red()),
                    _ => ("M", Style::new().yellow()),
                };
                let to = file
                    .move_path
                    .as_ref()
                    .map(|p| format!(" → {p}"))
                    .unwrap_or_default();
                lines.push(head(
                    vec![
                        Span::styled(format!("  {mark} "), style),
                        Span::raw(format!("{}{to}  ", file.path)),
                        Span::raw(format!("{} line(s)", line_count(&file.diff))).dim(),
                    ],
                    width,
                ));
                if expanded {
                    lines.extend(diff_lines(&file.diff, width));
                }
            }
            lines
        }
        ItemRow::Reasoning { summary, .. } => {
            let style = Style::new().magenta().add_modifier(Modifier::ITALIC);
            let text = if summary.is_empty() {
                "(no summary)".to_string()
            } else {
                summary.join("\n")
            };
            let mut all = body(&text, width, 4, style);
            let mut lines = vec![Line::from(Span::styled("thinking ▸", style.bold()))];
            if !expanded && all.len() > FOLDED_REASONING_LINES {
                let more = all.len() - FOLDED_REASONING_LINES;
                all.truncate(FOLDED_REASONING_LINES);
                lines.extend(all);
                lines.push(hint(4, more, "more line(s)"));
            } else {
                lines.extend(all);
            }
            lines
        }
        ItemRow::Plan {
            explanation,
            steps,
            text,
            ..
        } => {
            let done = steps.iter().filter(|s| s.status == "completed").count();
            let mut lines = vec![head(
                vec![
                    Span::styled("≡ plan", Style::new().cyan().bold()),
                    Span::raw(if steps.is_empty() {
                        String::new()
                    } else {
                        format!("  {done} of {} done", steps.len())
                    })
                    .dim(),
                ],
                width,
            )];
            if expanded && let Some(explanation) = explanation {
                lines.extend(body(explanation, width, 2, Style::new().dim()));
            }
            lines.extend(steps.iter().map(|s| step_line(s, width)));
            if let Some(text) = text {
                let all = body(text, width, 2, Style::new());
                if expanded || all.len() <= FOLDED_REASONING_LINES {
                    lines.extend(all);
                } else {
                    let count = all.len();
                    lines.push(hint(2, count, "line(s)"));
                }
            }
            lines
        }
        ItemRow::McpToolCall {
            server,
            tool,
            status,
            arguments,
            result,
            error,
            duration_ms,
            ..
        } => {
            let took = duration_ms
                .map(|ms| format!(" · {ms} ms"))
                .unwrap_or_default();
            let mut lines = vec![head(
                vec![
                    Span::styled("⚙ ", Style::new().yellow().bold()),
                    Span::styled(format!("{server}.{tool}  "), Style::new().yellow()),
                    Span::styled(format!("{status}{took}  "), status_style(status)),
                    Span::raw(super::preview(arguments, width)).dim(),
                ],
                width,
            )];
            if let Some(error) = error {
                lines.extend(body(
                    &format!("error: {error}"),
                    width,
                    4,
                    Style::new().red(),
                ));
            }
            if expanded {
                lines.push(Line::from("    arguments").dim());
                lines.extend(json(arguments, width));
                if let Some(result) = result {
                    lines.push(Line::from("    result").dim());
                    lines.extend(json(result, width));
                }
            } else if result.is_some() {
                lines.push(Line::from("    … result (Enter shows all)").dim());
            }
            lines
        }
        ItemRow::WebSearch { query, action, .. } => {
            let mut lines = vec![head(
                vec![
                    Span::styled("⌕ web search  ", Style::new().blue().bold()),
                    Span::raw(query.clone()),
                ],
                width,
            )];
            if expanded && let Some(action) = action {
                lines.extend(json(action, width));
            }
            lines
        }
        ItemRow::ImageView { path, .. } => vec![head(
            vec![
                Span::styled("▣ viewed image  ", Style::new().blue().bold()),
                Span::raw(path.clone()),
            ],
            width,
        )],
        ItemRow::ReviewMode { .. } | ItemRow::ContextCompaction { .. } => {
            text::wrap(&format!("· {}", row.headline()), width)
                .into_iter()
                .map(|l| Line::from(l).cyan())
                .collect()
        }
        ItemRow::Other {
            item_type, item, ..
        } => {
            let mut lines = vec![head(
                vec![
                    Span::styled("◇ ", Style::new().dim()),
                    Span::raw(format!("{item_type} item  ")),
                    Span::raw(super::preview(item, width)).dim(),
                ],
                width,
            )];
            if expanded {
                lines.extend(json(item, width));
            }
            lines
        }
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;

//! The selected session's transcript: only the rows on screen are laid out, from the
//! bottom up, so a frame costs the same with ten rows or ten thousand.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthChar;

use super::pane;
use crate::bridge::{CallEnd, TranscriptEntry, TranscriptRow};
use crate::console::app::{App, Focus, short};
use crate::protocol::TurnStatus;

/// Lines a message shows before it is folded (Enter expands).
const FOLDED_MESSAGE_LINES: usize = 8;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Transcript;
    let Some(thread) = app.selected_thread() else {
        let welcome = Paragraph::new(vec![
            Line::from("Welcome to Switchboard.".bold()),
            Line::from(""),
            Line::from(vec![
                "n".cyan().bold(),
                "  create a session with the catalog's tools".into(),
            ]),
            Line::from(vec![
                "i".cyan().bold(),
                "  type a message; Enter sends it".into(),
            ]),
            Line::from(vec![
                "a".cyan().bold(),
                "  answer the oldest call waiting on you".into(),
            ]),
            Line::from(vec![
                "t".cyan().bold(),
                "  inspect the catalog   ".into(),
                "l".cyan().bold(),
                "  protocol log".into(),
            ]),
            Line::from(vec!["?".cyan().bold(), "  every key".into()]),
        ])
        .block(pane(" Transcript ", focused));
        frame.render_widget(welcome, area);
        return;
    };
    let Some(view) = app.transcript(thread) else {
        frame.render_widget(
            Paragraph::new("").block(pane(" Transcript ", focused)),
            area,
        );
        return;
    };
    let width = usize::from(area.width.saturating_sub(2)).max(10);
    let height = usize::from(area.height.saturating_sub(2));
    let mut lines: Vec<Line<'static>> = Vec::new();
    let following = view.follow;
    if following {
        for text in view.streaming.values() {
            let mut streaming = message_lines(
                "assistant ▸ ",
                Style::new().green().bold(),
                text,
                width,
                usize::MAX,
            );
            if let Some(last) = streaming.last_mut() {
                last.push_span("▌".green());
            }
            streaming.reverse();
            lines.extend(streaming);
        }
    }
    let bottom = view.bottom();
    if !view.rows.is_empty() {
        for index in (0..=bottom).rev() {
            if lines.len() >= height {
                break;
            }
            let Some(row) = view.rows.get(index) else {
                continue;
            };
            let mut row_lines = row_lines(row, width, view.expanded.contains(&row.seq));
            if focused && !following && index == bottom {
                for line in &mut row_lines {
                    line.style = line.style.add_modifier(Modifier::REVERSED);
                }
            }
            row_lines.reverse();
            lines.extend(row_lines);
        }
    }
    lines.truncate(height);
    lines.reverse();
    let title = if following {
        format!(" Transcript · session {} ", short(thread))
    } else {
        format!(
            " Transcript · session {} · scrolled (End follows) ",
            short(thread)
        )
    };
    frame.render_widget(Paragraph::new(lines).block(pane(title, focused)), area);
}

/// Splits `text` into lines of at most `width` columns, at spaces where it can and
/// anywhere inside a word longer than a line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for word in raw.split_inclusive(' ') {
            let word_width: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
            let fits_alone = word
                .trim_end()
                .chars()
                .map(|c| c.width().unwrap_or(0))
                .sum::<usize>()
                <= width;
            if used + word_width > width && used > 0 && fits_alone {
                out.push(std::mem::take(&mut line).trim_end().to_string());
                used = 0;
            }
            for c in word.chars() {
                let w = c.width().unwrap_or(0);
                if used + w > width {
                    if c == ' ' {
                        continue;
                    }
                    out.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += w;
            }
        }
        out.push(line.trim_end().to_string());
    }
    out
}

fn message_lines(
    prefix: &str,
    style: Style,
    text: &str,
    width: usize,
    max: usize,
) -> Vec<Line<'static>> {
    let indent = prefix.chars().count();
    let body = wrap(text, width.saturating_sub(indent));
    let folded = body.len() > max;
    let mut lines: Vec<Line<'static>> = body
        .into_iter()
        .take(max)
        .enumerate()
        .map(|(i, part)| {
            let lead = if i == 0 {
                Span::styled(prefix.to_string(), style)
            } else {
                Span::raw(" ".repeat(indent))
            };
            Line::from(vec![lead, Span::raw(part)])
        })
        .collect();
    if folded {
        lines.push(Line::from(" ".repeat(indent) + "… (Enter shows all)").dim());
    }
    lines
}

fn json_lines(value: &impl serde::Serialize, width: usize) -> Vec<Line<'static>> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    wrap(&text, width.saturating_sub(4))
        .into_iter()
        .map(|l| Line::from(format!("    {l}")).dim())
        .collect()
}

/// The lines of one transcript row, `width` columns wide.
pub fn row_lines(row: &TranscriptRow, width: usize, expanded: bool) -> Vec<Line<'static>> {
    let fold = if expanded {
        usize::MAX
    } else {
        FOLDED_MESSAGE_LINES
    };
    match &row.entry {
        TranscriptEntry::SessionStarted {
            cwd, model, tools, ..
        } => vec![
            Line::from(format!(
                "· session started · {} · model {} · {} tool(s)",
                cwd.as_deref().unwrap_or("?"),
                model.as_deref().unwrap_or("?"),
                tools.len()
            ))
            .dim(),
        ],
        TranscriptEntry::UserMessage { text } => {
            message_lines("you ▸ ", Style::new().cyan().bold(), text, width, fold)
        }
        TranscriptEntry::AgentMessage { text, .. } => message_lines(
            "assistant ▸ ",
            Style::new().green().bold(),
            text,
            width,
            fold,
        ),
        TranscriptEntry::ToolCallRequest {
            tool,
            arguments,
            answerer,
            ..
        } => {
            let head = format!("⚙ {tool} requested → {answerer}  ");
            let room = width.saturating_sub(head.chars().count());
            let mut lines = vec![Line::from(vec![
                Span::styled(head, Style::new().yellow()),
                Span::raw(super::preview(arguments, room)).dim(),
            ])];
            if expanded {
                lines.extend(json_lines(arguments, width));
            }
            lines
        }
        TranscriptEntry::ToolCallResolved {
            tool,
            status,
            success,
            answered_by,
            latency_ms,
            content,
            reason,
            ..
        } => {
            let (mark, style, what) = match (status, success) {
                (CallEnd::Expired, _) => ("⌛", Style::new().magenta(), "expired".to_string()),
                (CallEnd::Resolved, true) => ("✔", Style::new().green(), "answered".to_string()),
                (CallEnd::Resolved, false) => ("✘", Style::new().red(), "failed".to_string()),
            };
            let by = answered_by
                .as_ref()
                .map(|r| format!(" by {}", r.label()))
                .unwrap_or_default();
            let summary = match (content, reason) {
                (Some(result), _) => result.joined_text().replace('\n', " ⏎ "),
                (None, Some(reason)) => reason.clone(),
                (None, None) => String::new(),
            };
            let head = format!("{mark} {tool} {what}{by} in {latency_ms} ms: ");
            let room = width.saturating_sub(head.chars().count());
            let mut lines = vec![Line::from(vec![
                Span::styled(head, style),
                Span::raw(truncated(&summary, room)),
            ])];
            if expanded && let Some(result) = content {
                lines.extend(json_lines(result, width));
            }
            lines
        }
        TranscriptEntry::TurnStarted => vec![
            Line::from(format!(
                "── turn {} started ──",
                short(row.turn_id.as_deref().unwrap_or("?"))
            ))
            .dim(),
        ],
        TranscriptEntry::TurnCompleted { status, error } => {
            let style = match status {
                TurnStatus::Completed => Style::new().green().dim(),
                TurnStatus::Interrupted => Style::new().yellow(),
                TurnStatus::Failed | TurnStatus::InProgress => Style::new().red(),
            };
            let mut text = format!(
                "── turn {} {} ──",
                short(row.turn_id.as_deref().unwrap_or("?")),
                status.as_str()
            );
            if let Some(error) = error {
                text.push_str(&format!(" {error}"));
            }
            wrap(&text, width)
                .into_iter()
                .map(|l| Line::styled(l, style))
                .collect()
        }
        TranscriptEntry::Error { message } => {
            message_lines("error ▸ ", Style::new().red().bold(), message, width, fold)
        }
        TranscriptEntry::Notice { message } => wrap(&format!("· {message}"), width)
            .into_iter()
            .map(|l| Line::styled(l, Style::new().yellow()))
            .collect(),
        TranscriptEntry::SessionClosed { reason } => {
            vec![Line::from(format!("· session closed: {reason}")).dim()]
        }
    }
}

fn truncated(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!(
            "{}…",
            crate::protocol::truncate_chars(text, max.saturating_sub(1))
        )
    }
}

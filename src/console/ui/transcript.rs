//! The selected session's transcript: only the rows on screen are laid out, from the
//! bottom up, so a frame costs the same with ten rows or ten thousand.

use crate::console::text;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

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
    let filter = &app.views.transcript_filter;
    let rows = app.transcript_rows(thread);
    let following = view.follow;
    let lines = if following {
        tail_lines(app, &view, &rows, width, height)
    } else {
        window_lines(app, &view, &rows, width, height, focused)
    };
    let mut title = format!(" Transcript · session {}", short(thread));
    if app.model.app_servers.len() > 1
        && let Some(session) = app.model.sessions.iter().find(|s| s.thread_id == thread)
    {
        title.push_str(&format!(
            " · on {}",
            super::app_server_badge(&session.app_server, 24)
        ));
    }
    if filter.is_active() || filter.editing {
        title.push_str(&format!(
            " · {} of {} row(s){}",
            rows.len(),
            view.rows.len(),
            filter.label()
        ));
    }
    if !following {
        title.push_str(" · scrolled (End follows)");
    }
    title.push(' ');
    frame.render_widget(Paragraph::new(lines).block(pane(title, focused)), area);
}

/// Following: the newest rows (and text still streaming), laid out from the bottom up.
fn tail_lines(
    app: &App,
    view: &crate::console::app::TranscriptView<'_>,
    rows: &[usize],
    width: usize,
    height: usize,
) -> Vec<Line<'static>> {
    app.views.transcript_top.set(None);
    let mut lines: Vec<Line<'static>> = Vec::new();
    if !app.views.transcript_filter.is_active() {
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
    for &index in rows.iter().rev() {
        if lines.len() >= height {
            break;
        }
        let row = &view.rows[index];
        let mut row_lines = row_lines(row, width, view.expanded.contains(&row.seq), app.now_ms);
        row_lines.reverse();
        lines.extend(row_lines);
    }
    lines.truncate(height);
    lines.reverse();
    lines
}

/// Scrolled: rows from a top row kept from frame to frame, so moving the selection
/// inside the pane does not move the rows; rows after the selection fill the pane (no
/// blank lines under it), and a selected row taller than the pane shows from its top,
/// scrolled by the keys.
fn window_lines(
    app: &App,
    view: &crate::console::app::TranscriptView<'_>,
    rows: &[usize],
    width: usize,
    height: usize,
    focused: bool,
) -> Vec<Line<'static>> {
    if rows.is_empty() || height == 0 {
        return Vec::new();
    }
    let lay = |position: usize| {
        let row = &view.rows[rows[position]];
        row_lines(row, width, view.expanded.contains(&row.seq), app.now_ms)
    };
    let cursor = rows
        .iter()
        .position(|&i| i >= view.cursor)
        .unwrap_or(rows.len() - 1);
    let selected = laid_selected(app, &view.rows[rows[cursor]], width, view);
    let inside = app.views.transcript_inside.clamp(selected.len(), height);
    app.views.transcript_measure.set((selected.len(), height));
    // The top row: last frame's, moved only as far as needed to show the selection.
    let mut top = match app.views.transcript_top.get() {
        Some(top) if top <= cursor => top,
        Some(_) => cursor,
        None => {
            // Just scrolled up from the tail: the selection at the bottom.
            let mut used = selected.len();
            let mut top = cursor;
            while top > 0 {
                let above = lay(top - 1).len();
                if used + above > height {
                    break;
                }
                used += above;
                top -= 1;
            }
            top
        }
    };
    let mut used: usize = (top..cursor).map(|p| lay(p).len()).sum::<usize>() + selected.len();
    while top < cursor && used > height {
        used -= lay(top).len();
        top += 1;
    }
    app.views.transcript_top.set(Some(top));
    let mut lines: Vec<Line<'static>> = Vec::new();
    for position in top..rows.len() {
        if lines.len() >= height {
            break;
        }
        let mut row = if position == cursor {
            selected.iter().skip(inside).take(height).cloned().collect()
        } else {
            lay(position)
        };
        if position == cursor && focused {
            for line in &mut row {
                line.style = line.style.add_modifier(Modifier::REVERSED);
            }
        }
        lines.extend(row);
    }
    lines.truncate(height);
    lines
}

/// The selected row's lines, laid out again only when the row, the width or its fold
/// (or the time, for a running command) changed since the last frame: an expanded
/// output is hundreds of wrapped lines.
fn laid_selected(
    app: &App,
    row: &TranscriptRow,
    width: usize,
    view: &crate::console::app::TranscriptView<'_>,
) -> std::sync::Arc<Vec<Line<'static>>> {
    let key = (width, view.expanded.contains(&row.seq), app.now_ms);
    let mut laid = app.views.transcript_laid.borrow_mut();
    if let Some((kept_key, kept, lines)) = laid.as_ref()
        && *kept_key == key
        && kept == row
    {
        return lines.clone();
    }
    let lines = std::sync::Arc::new(row_lines(row, width, key.1, key.2));
    *laid = Some((key, row.clone(), lines.clone()));
    lines
}

/// Splits `text` into lines of at most `width` columns (see `text::wrap`).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    text::wrap(text, width)
}

fn message_lines(
    prefix: &str,
    style: Style,
    text: &str,
    width: usize,
    max: usize,
) -> Vec<Line<'static>> {
    let indent = text::width(prefix);
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
/// A row's lines; `now_ms` times a running command.
pub fn row_lines(
    row: &TranscriptRow,
    width: usize,
    expanded: bool,
    now_ms: i64,
) -> Vec<Line<'static>> {
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
            namespace,
            arguments,
            answerer,
            ..
        } => {
            let tool = crate::catalog::qualified_name(namespace.as_deref(), tool);
            let args = super::preview(arguments, width);
            let keep = text::width(&args).min((width / 3).max(10));
            // Narrow panes drop words before they cut the tool's name.
            let head = fitting_head(
                &[
                    format!("⚙ {tool} requested → {answerer}  "),
                    format!("⚙ {tool} → {answerer}  "),
                    format!("⚙ {tool}  "),
                ],
                width.saturating_sub(keep).max(6),
            );
            let room = width.saturating_sub(text::width(&head));
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
            output_schema_problems,
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
            let broke = if output_schema_problems.is_empty() {
                ""
            } else {
                " ⚠ breaks output_schema"
            };
            // Narrow panes drop words first ("answered", then who answered) so the tool's
            // name, the latency and the start of the result stay readable.
            let latency = format!(
                " in {}: ",
                super::items::took(i64::try_from(*latency_ms).unwrap_or(i64::MAX))
            );
            let summary = text::printable(&summary);
            let keep = text::width(&summary).min((width / 3).max(10));
            let head_room = width.saturating_sub(text::width(&latency) + keep).max(6);
            let head = fitting_head(
                &[
                    format!("{mark} {tool} {what}{broke}{by}"),
                    format!("{mark} {tool}{broke}{by}"),
                    format!("{mark} {tool}{broke}"),
                ],
                head_room,
            );
            let room = width.saturating_sub(text::width(&head) + text::width(&latency));
            let mut lines = vec![Line::from(vec![
                Span::styled(head + &latency, style),
                Span::raw(text::truncate(&summary, room)),
            ])];
            if expanded && let Some(result) = content {
                lines.extend(json_lines(result, width));
            }
            if expanded {
                for problem in output_schema_problems {
                    lines.push(
                        Line::from(text::truncate(&format!("  ⚠ {problem}"), width)).yellow(),
                    );
                }
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
        // codex retrying its own model request is not Switchboard reconnecting.
        TranscriptEntry::Error { message } => {
            match message.strip_suffix(" (app-server will retry)") {
                Some(message) => message_lines(
                    "codex retries ▸ ",
                    Style::new().yellow().bold(),
                    &format!(
                        "{} (codex retries the model request itself)",
                        shorten_ids(message)
                    ),
                    width,
                    fold,
                ),
                None => message_lines(
                    "error ▸ ",
                    Style::new().red().bold(),
                    &shorten_ids(message),
                    width,
                    fold,
                ),
            }
        }
        TranscriptEntry::Notice { message } => wrap(&format!("· {}", notice_text(message)), width)
            .into_iter()
            .map(|l| Line::styled(l, Style::new().yellow()))
            .collect(),
        TranscriptEntry::Item(item) => {
            super::items::row_lines(item, width, expanded, now_ms - row.at_ms)
        }
        TranscriptEntry::SessionClosed { reason } => {
            let text = if reason.is_empty() || reason == "session closed" {
                "· session closed".to_string()
            } else {
                format!("· session closed: {reason}")
            };
            vec![Line::from(text).dim()]
        }
        TranscriptEntry::RequestOpened {
            summary, answerer, ..
        } => wrap(&format!("? {summary} → {answerer}"), width)
            .into_iter()
            .map(|l| Line::styled(l, Style::new().yellow()))
            .collect(),
        TranscriptEntry::RequestResolved {
            kind,
            status,
            answered_by,
            decision,
            latency_ms,
            reason,
            ..
        } => {
            let by = answered_by
                .as_ref()
                .map(|r| format!(" by {}", r.label()))
                .unwrap_or_default();
            let what = match status {
                CallEnd::Resolved => decision.clone().unwrap_or_default(),
                CallEnd::Expired => "expired".to_string(),
            };
            let why = reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            wrap(
                &format!("· {} {what}{by} in {latency_ms} ms{why}", kind.as_str()),
                width,
            )
            .into_iter()
            .map(|l| Line::styled(l, Style::new().dim()))
            .collect()
        }
    }
}

/// A recovery notice written by an older Switchboard, without "0 call(s) still waiting"
/// right after calls expired (the bridge no longer writes a zero count).
fn notice_text(message: &str) -> String {
    match message.split_once(": 0 call(s) still waiting, ") {
        Some((before, after)) => match after.strip_suffix(" ended meanwhile") {
            Some(ended) => format!("{before}: {ended} call(s) ended meanwhile"),
            None => format!("{before}: {after}"),
        },
        None => shorten_ids(message),
    }
}

use crate::console::text::shorten_ids;

/// The first of `forms` (most to least wordy) that fits in `room` columns; the last one,
/// cut at its end, when none does.
fn fitting_head(forms: &[String], room: usize) -> String {
    forms
        .iter()
        .find(|form| text::width(form) <= room)
        .cloned()
        .unwrap_or_else(|| text::truncate(forms.last().map_or("", String::as_str), room))
}

//! Drawing the console. Every function here reads the app state and draws; none changes
//! it. The layout function is shared with mouse handling so clicks land where things are.

mod overlays;
mod transcript;
mod views;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, List, ListItem, ListState, Paragraph, Row, Table};

use super::app::{self, App, Focus, View};
use super::keys;
use crate::bridge::ConnectionState;

pub use transcript::row_lines;

/// Below this size the console only asks for a larger terminal.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;

/// The main view's areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainAreas {
    pub header: Rect,
    pub sessions: Rect,
    pub transcript: Rect,
    pub queue: Rect,
    pub composer: Rect,
    pub footer: Rect,
}

/// Lays out the main view; works from 80x24 up and degrades below.
pub fn main_layout(screen: Rect) -> MainAreas {
    let queue_height = (screen.height * 28 / 100).max(6);
    let [header, middle, queue, composer, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(queue_height),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(screen);
    let sessions_width = if screen.width >= 120 { 34 } else { 26 };
    let [sessions, transcript] =
        Layout::horizontal([Constraint::Length(sessions_width), Constraint::Min(10)]).areas(middle);
    MainAreas {
        header,
        sessions,
        transcript,
        queue,
        composer,
        footer,
    }
}

/// The first queue row shown, so that the selected call stays visible.
pub fn queue_offset(app: &App, queue: Rect) -> usize {
    let visible = usize::from(queue.height.saturating_sub(3)).max(1);
    app.selected_call.saturating_sub(visible - 1)
}

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame) {
    let screen = frame.area();
    if screen.width < MIN_WIDTH || screen.height < MIN_HEIGHT {
        let text = format!(
            "Switchboard needs at least {MIN_WIDTH}x{MIN_HEIGHT}; this terminal is {}x{}",
            screen.width, screen.height
        );
        frame.render_widget(
            Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: true }),
            screen,
        );
        return;
    }
    let areas = main_layout(screen);
    render_header(app, frame, areas.header);
    match app.view {
        View::Main => {
            render_sessions(app, frame, areas.sessions);
            transcript::render(app, frame, areas.transcript);
            render_queue(app, frame, areas.queue);
            render_composer(app, frame, areas.composer);
        }
        View::Inspector | View::ProtocolLog => {
            let body = Rect {
                y: areas.sessions.y,
                height: screen
                    .height
                    .saturating_sub(areas.header.height + areas.footer.height),
                ..screen
            };
            if app.view == View::Inspector {
                views::render_inspector(app, frame, body);
            } else {
                views::render_protocol_log(app, frame, body);
            }
        }
    }
    render_footer(app, frame, areas.footer);
    overlays::render(app, frame, screen);
}

fn pane<'a>(title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    let block = Block::default().borders(Borders::ALL).title(title);
    if focused {
        block.border_style(Style::new().cyan())
    } else {
        block.border_style(Style::new().dim())
    }
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let (state, state_style) = match &app.model.connection {
        ConnectionState::Connected { .. } => ("connected".to_string(), Style::new().green()),
        ConnectionState::Connecting => ("connecting".to_string(), Style::new().yellow()),
        ConnectionState::Reconnecting {
            attempt,
            max_attempts,
            delay_ms,
            reason,
        } => (
            format!(
                "reconnecting (attempt {attempt}/{max_attempts} in {:.2} s): {reason}",
                *delay_ms as f64 / 1000.0
            ),
            Style::new().yellow().bold(),
        ),
        ConnectionState::Disconnected { reason } => {
            (format!("disconnected: {reason}"), Style::new().red().bold())
        }
    };
    let version = match &app.model.connection {
        ConnectionState::Connected {
            server_version: Some(v),
            ..
        } => format!("codex {v}"),
        _ => "codex ?".to_string(),
    };
    let transport = app
        .model
        .transport
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut first = vec![
        "Switchboard".bold(),
        "  ".into(),
        version.into(),
        " · ".dim(),
        transport.into(),
        " · ".dim(),
        Span::styled(state, state_style),
    ];
    if app.model.hold.all {
        first.push("  HOLD ALL".black().on_yellow().bold());
    } else if !app.model.hold.tools.is_empty() {
        first.push(
            format!("  HOLD {}", app.model.hold.tools.len())
                .black()
                .on_yellow(),
        );
    }
    if let Some(listen) = &app.listen {
        first.push(format!("  API {} token {}", listen.url, listen.token).dim());
    }
    let totals = &app.model.totals;
    let waiting = app.waiting_on_person().count();
    let waiting_span = if waiting > 0 {
        format!("waiting on you {waiting}")
            .black()
            .on_magenta()
            .bold()
    } else {
        "waiting on you 0".into()
    };
    let second = vec![
        format!("sessions {}", app.model.sessions.len()).into(),
        " · ".dim(),
        waiting_span,
        " · ".dim(),
        format!("auto {}", totals.answered_automatically).into(),
        " · ".dim(),
        format!(
            "by hand {}",
            totals.answered_by_hand + totals.answered_remotely
        )
        .into(),
        " · ".dim(),
        format!("expired {}", totals.expired).into(),
        " · ".dim(),
        if totals.failed > 0 {
            format!("failed {}", totals.failed).red()
        } else {
            "failed 0".into()
        },
    ];
    frame.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

fn badge_style(badge: &str) -> Style {
    match badge {
        "waiting on you" => Style::new().magenta().bold(),
        "running" => Style::new().cyan(),
        "failed" => Style::new().red(),
        "disconnected" => Style::new().red().bold(),
        "closed" => Style::new().dim(),
        _ => Style::new().green(),
    }
}

fn render_sessions(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Sessions;
    let items: Vec<ListItem> = app
        .model
        .sessions
        .iter()
        .map(|s| {
            let badge = app.session_badge(s);
            ListItem::new(vec![
                Line::from(s.title.clone()),
                Line::from(vec![
                    Span::raw("  "),
                    Span::styled(badge, badge_style(badge)),
                ]),
            ])
        })
        .collect();
    let title = format!(" Sessions ({}) ", app.model.sessions.len());
    if items.is_empty() {
        let hint = Paragraph::new(vec![
            Line::from("no sessions yet"),
            Line::from(vec!["n".cyan().bold(), " creates one".into()]),
        ])
        .block(pane(title, focused));
        frame.render_widget(hint, area);
        return;
    }
    let list = List::new(items)
        .block(pane(title, focused))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(app.selected_session));
    frame.render_stateful_widget(list, area, &mut state);
}

/// `mm:ss` (or `h:mm:ss`) since `received_at_ms`.
pub fn wait_label(now_ms: i64, received_at_ms: i64) -> String {
    let secs = (now_ms - received_at_ms).max(0) / 1000;
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{:02}:{:02}", secs / 60, secs % 60)
    }
}

/// A one-line preview of arguments, at most `max` characters.
pub fn preview(value: &serde_json::Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        text
    } else {
        let cut = crate::protocol::truncate_chars(&text, max.saturating_sub(1));
        format!("{cut}…")
    }
}

fn render_queue(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Queue;
    let waiting = app.waiting_on_person().count();
    let title = Line::from(vec![
        format!(" Pending calls ({}", app.model.pending.len()).into(),
        if waiting > 0 {
            format!(", {waiting} on you").magenta().bold()
        } else {
            "".into()
        },
        ") oldest first ".into(),
    ]);
    let block = pane(title, focused);
    if app.model.pending.is_empty() {
        frame.render_widget(
            Paragraph::new("no tool call is waiting".dim()).block(block),
            area,
        );
        return;
    }
    let offset = queue_offset(app, area);
    let visible = usize::from(area.height.saturating_sub(3));
    let args_width = usize::from(area.width).saturating_sub(60).max(12);
    let rows: Vec<Row> = app
        .model
        .pending
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(index, call)| {
            let who = app::answerer_label(call);
            let who_style = if call.answerer.needs_person() {
                Style::new().magenta().bold()
            } else {
                Style::new().green()
            };
            let flag = if app::flagged(call) {
                Cell::from("⚠ schema".yellow().bold())
            } else if call.in_flight {
                Cell::from("sending".cyan())
            } else {
                Cell::from("")
            };
            let row = Row::new(vec![
                Cell::from(wait_label(app.now_ms, call.received_at_ms)),
                Cell::from(app::short(&call.thread_id).to_string()).dim(),
                Cell::from(call.tool.clone()).bold(),
                Cell::from(preview(&call.arguments, args_width)),
                Cell::from(Span::styled(who, who_style)),
                flag,
            ]);
            if index == app.selected_call && focused {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else if index == app.selected_call {
                row.style(Style::new().add_modifier(Modifier::BOLD))
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Min(12),
            Constraint::Length(16),
            Constraint::Length(8),
        ],
    )
    .header(Row::new(["wait", "session", "tool", "arguments", "answered by", ""]).dim())
    .block(block);
    frame.render_widget(table, area);
}

fn render_composer(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Composer;
    let target = app
        .selected_thread()
        .map(|t| format!(" Message to session {} ", app::short(t)))
        .unwrap_or_else(|| " Message (create a session first: n) ".to_string());
    let mut composer = app.composer.clone();
    composer.set_block(pane(target, focused));
    if !focused {
        composer.set_cursor_style(Style::new());
    }
    frame.render_widget(&composer, area);
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    if let Some(notice) = &app.notice {
        frame.render_widget(Paragraph::new(notice.clone().yellow()), area);
        return;
    }
    let mut spans = Vec::new();
    let mut width = 0usize;
    for (label, hint) in keys::hints(app.context()) {
        let piece = label.chars().count() + hint.chars().count() + 3;
        if width + piece > usize::from(area.width) {
            break;
        }
        width += piece;
        spans.push(label.cyan().bold());
        spans.push(format!(" {hint}  ").into());
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A rectangle of `percent_x` × `percent_y` of `area`, centred, at least `min` in size.
fn centered(area: Rect, percent_x: u16, percent_y: u16, min_w: u16, min_h: u16) -> Rect {
    // In u32: a wide terminal times a percentage overflows u16.
    let scale = |size: u16, percent: u16| {
        u16::try_from(u32::from(size) * u32::from(percent) / 100).unwrap_or(size)
    };
    let width = scale(area.width, percent_x).max(min_w).min(area.width);
    let height = scale(area.height, percent_y).max(min_h).min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
#[path = "ui_tests.rs"]
mod tests;

//! Drawing the console. Every function here reads the app state and draws; none changes
//! it. The layout function is shared with mouse handling so clicks land where things are.

mod cards;
pub(crate) mod items;
mod overlays;
mod transcript;
mod views;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, List, ListItem, Paragraph, Row, Table};

use super::app::{self, App, Focus, View};
use super::keys;
use super::navigate;
use super::text;
use crate::bridge::ConnectionState;
use crate::console::link::LinkState;

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
    areas(screen, 2, 28)
}

/// The main view's areas as `app` shows them: the header grows by the lines of a
/// connection problem's reason, and a zoomed pane takes the whole body (the others are
/// empty).
pub fn layout(app: &App, screen: Rect) -> MainAreas {
    let header = 2
        + activity_lines(app, screen.width).len() as u16
        + header_reason(app, screen.width).len() as u16;
    // Many calls waiting: the queue takes more of the screen.
    let share = if app.model.pending.len() > 3 { 40 } else { 28 };
    let mut areas = areas(screen, header, share);
    if app.views.zoom && app.view == View::Main && app.focus != Focus::Composer {
        let body = Rect {
            y: areas.sessions.y,
            height: areas.footer.y.saturating_sub(areas.sessions.y),
            ..screen
        };
        let empty = Rect::default();
        let (sessions, transcript, queue) = match app.focus {
            Focus::Sessions => (body, empty, empty),
            Focus::Transcript => (empty, body, empty),
            _ => (empty, empty, body),
        };
        areas = MainAreas {
            sessions,
            transcript,
            queue,
            composer: empty,
            ..areas
        };
    }
    areas
}

fn areas(screen: Rect, header_height: u16, queue_share: u16) -> MainAreas {
    // At the minimum height the middle gives way first, so a call row stays in view.
    let queue_height = (screen.height * queue_share / 100).max(6);
    let [header, middle, queue, composer, footer] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Min(0),
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
    let areas = layout(app, screen);
    render_header(app, frame, areas.header);
    match app.view {
        View::Main => {
            if !areas.sessions.is_empty() {
                render_sessions(app, frame, areas.sessions);
            }
            if !areas.transcript.is_empty() {
                transcript::render(app, frame, areas.transcript);
            }
            if !areas.queue.is_empty() {
                render_queue(app, frame, areas.queue);
            }
            if !areas.composer.is_empty() {
                render_composer(app, frame, areas.composer);
            }
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
    if let Some(pager) = &app.views.detail {
        overlays::render_pager(pager, frame, screen);
    }
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
        // The reason goes on lines of its own (`header_reason`), so it is never cut.
        ConnectionState::Reconnecting {
            attempt,
            max_attempts,
            delay_ms,
            ..
        } => (
            format!(
                "Switchboard reconnecting (attempt {attempt}/{max_attempts} in {:.2} s)",
                *delay_ms as f64 / 1000.0
            ),
            Style::new().yellow().bold(),
        ),
        ConnectionState::Disconnected { reason, retry } => {
            let what = if reason.starts_with("gave up") {
                "gave up reconnecting"
            } else {
                "disconnected"
            };
            let text = if *retry {
                format!(
                    "{what} · {} retries",
                    keys::label_of(keys::Action::Reconnect)
                )
            } else {
                what.to_string()
            };
            (text, Style::new().red().bold())
        }
    };
    // With several app-servers, the first one connected tells the version.
    let version = std::iter::once(&app.model.connection)
        .chain(app.model.app_servers.iter().map(|a| &a.connection))
        .find_map(|state| match state {
            ConnectionState::Connected {
                server_version: Some(v),
                ..
            } => Some(format!("codex {v}")),
            _ => None,
        })
        .unwrap_or_else(|| "codex ?".to_string());
    // Several app-servers: each one's connection instead of the first's alone.
    let fleet = fleet_spans(app, area.width);
    let transport = app
        .model
        .transport
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut first = vec!["Switchboard".bold(), "  ".into()];
    // Attached to a `serve`: where, and the link's own state. While the link is down,
    // what was last heard of app-server is stale, so it is not shown.
    match &app.remote {
        Some(LinkState::Reconnecting {
            url,
            attempt,
            delay_ms,
            ..
        }) => {
            first.push(format!("remote {}", short_url(url)).into());
            first.push(" · ".dim());
            first.push(Span::styled(
                format!(
                    "link lost, retrying (attempt {attempt} in {:.2} s)",
                    *delay_ms as f64 / 1000.0
                ),
                Style::new().yellow().bold(),
            ));
        }
        Some(LinkState::Connected { url }) => {
            first.push(version.into());
            if fleet.is_none() {
                first.extend([" · ".dim(), transport.into()]);
            }
            first.extend([" · ".dim(), format!("remote {}", short_url(url)).into()]);
            match fleet {
                Some(fleet) => first.extend(fleet),
                None => first.extend([" · ".dim(), Span::styled(state, state_style)]),
            }
        }
        None => {
            first.push(version.into());
            match fleet {
                Some(fleet) => first.extend(fleet),
                None => first.extend([
                    " · ".dim(),
                    transport.into(),
                    " · ".dim(),
                    Span::styled(state, state_style),
                ]),
            }
        }
    }
    if app.model.hold.all {
        first.push("  HOLD ALL".black().on_yellow().bold());
    } else if !app.model.hold.tools.is_empty() {
        first.push(
            format!("  HOLD {}", app.model.hold.tools.len())
                .black()
                .on_yellow(),
        );
    }
    if let Some(s) = app.model.sessions.get(app.selected_session)
        && s.origin == crate::bridge::SessionOrigin::Watched
        && s.status != crate::bridge::SessionStatus::Closed
    {
        // No id: the transcript's title has it, and 80 columns must show the rest.
        first.push("  WATCHING".magenta().bold());
        first.push(if s.auto_answer {
            "  auto-answer ON".black().on_red().bold()
        } else {
            "  auto-answer off".dim()
        });
    }
    if let Some(listen) = &app.listen {
        // The whole token is in the help overlay (?), not on screen for good.
        first.push(format!("  API {} token {}", listen.url, masked(&listen.token)).dim());
    }
    let totals = &app.model.totals;
    // Tool calls and every other kind of request waiting on a person; those others hold
    // a claim on count apart (short at 80 columns).
    let elsewhere = app.waiting_elsewhere();
    let waiting = app.waiting_count() - elsewhere;
    let compact = area.width < 120;
    let label = if elsewhere > 0 && compact {
        "on you"
    } else {
        "waiting on you"
    };
    let waiting_span = if waiting > 0 {
        format!("{label} {waiting}").black().on_magenta().bold()
    } else {
        format!("{label} 0").into()
    };
    let mut second = vec![
        format!("sessions {}", app.model.sessions.len()).into(),
        " · ".dim(),
        waiting_span,
    ];
    if elsewhere > 0 {
        second.push(" · ".dim());
        second.push(if compact {
            format!("others {elsewhere}").magenta()
        } else {
            format!("being answered by others {elsewhere}").magenta()
        });
    }
    second.extend([
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
    ]);
    let trouble = fleet_trouble(app).map_or(&app.model.connection, |(_, state)| state);
    let style = match trouble {
        ConnectionState::Disconnected { .. } => Style::new().red(),
        ConnectionState::Connected { .. } if app.model.reloads.error().is_some() => {
            Style::new().red()
        }
        _ => Style::new().yellow(),
    };
    let mut lines = vec![Line::from(first), Line::from(second)];
    lines.extend(activity_lines(app, area.width));
    lines.extend(
        header_reason(app, area.width)
            .into_iter()
            .map(|l| Line::styled(l, style)),
    );
    frame.render_widget(Paragraph::new(lines), area);
}

/// The header's wide layout (each app-server's state in full) starts at this width.
const FLEET_FULL_WIDTH: u16 = 120;

/// One app-server's connection in a word or two, and its colour: `full` says how far
/// a reconnect has got, else the compact words (`down`).
pub(super) fn connection_words(state: &ConnectionState, full: bool) -> (String, Style) {
    match state {
        ConnectionState::Connected { .. } => ("up".to_string(), Style::new().green()),
        ConnectionState::Connecting => ("connecting".to_string(), Style::new().yellow()),
        ConnectionState::Reconnecting {
            attempt,
            max_attempts,
            ..
        } if full => (
            format!("reconnecting {attempt}/{max_attempts}"),
            Style::new().yellow().bold(),
        ),
        ConnectionState::Reconnecting { .. } => {
            ("reconnecting".to_string(), Style::new().yellow().bold())
        }
        ConnectionState::Disconnected { reason, .. } if full && reason.starts_with("gave up") => {
            ("gave up".to_string(), Style::new().red().bold())
        }
        ConnectionState::Disconnected { .. } => ("down".to_string(), Style::new().red().bold()),
    }
}

/// The header's part about the app-servers when there are several (`None` with one):
/// at 80 columns how many are up and the names of the others (`2/3 up · build-box
/// down`); from 120 columns every one with its state.
fn fleet_spans(app: &App, width: u16) -> Option<Vec<Span<'static>>> {
    let fleet = &app.model.app_servers;
    if fleet.len() < 2 {
        return None;
    }
    let up = fleet
        .iter()
        .filter(|a| matches!(a.connection, ConnectionState::Connected { .. }))
        .count();
    let full = width >= FLEET_FULL_WIDTH;
    let mut spans = vec![" · ".dim()];
    if full {
        for (i, a) in fleet.iter().enumerate() {
            if i > 0 {
                spans.push(" · ".dim());
            }
            let (words, style) = connection_words(&a.connection, true);
            spans.push(Span::raw(format!("{} ", text::printable(&a.name))));
            spans.push(Span::styled(words, style));
        }
    } else {
        let style = if up == fleet.len() {
            Style::new().green()
        } else {
            Style::new().yellow().bold()
        };
        spans.push(Span::styled(format!("{up}/{} up", fleet.len()), style));
        for a in fleet
            .iter()
            .filter(|a| !matches!(a.connection, ConnectionState::Connected { .. }))
        {
            let (words, style) = connection_words(&a.connection, false);
            spans.push(" · ".dim());
            spans.push(Span::styled(
                format!("{} {words}", text::printable(&a.name)),
                style,
            ));
        }
    }
    let retry = fleet.iter().any(|a| {
        matches!(
            a.connection,
            ConnectionState::Disconnected { retry: true, .. }
        )
    });
    if retry {
        spans.push(format!(" · {} retries", keys::label_of(keys::Action::Reconnect)).dim());
    }
    Some(spans)
}

/// With several app-servers, the first one whose connection is not up: its reason goes
/// under the header.
fn fleet_trouble(app: &App) -> Option<(&str, &ConnectionState)> {
    let fleet = &app.model.app_servers;
    if fleet.len() < 2 {
        return None;
    }
    fleet
        .iter()
        .find(|a| {
            matches!(
                a.connection,
                ConnectionState::Reconnecting { .. } | ConnectionState::Disconnected { .. }
            )
        })
        .map(|a| (a.name.as_str(), &a.connection))
}

/// A server's URL without `http://`, as the header shows it.
fn short_url(url: &str) -> &str {
    url.strip_prefix("http://").unwrap_or(url)
}

/// The start of a token, enough to tell two apart.
pub fn masked(token: &str) -> String {
    if token.starts_with("none (") {
        return token.to_string();
    }
    format!(
        "{}… (? shows it)",
        crate::protocol::truncate_chars(token, 4)
    )
}

/// Why the connection is down, else why the last catalog reload failed, wrapped to the
/// header's width (at most two lines).
fn header_reason(app: &App, width: u16) -> Vec<String> {
    let trouble = fleet_trouble(app);
    let connection = trouble.map_or(&app.model.connection, |(_, state)| state);
    let reason = match (&app.remote, connection) {
        (Some(LinkState::Reconnecting { reason, .. }), _) => format!("why: {reason}"),
        (_, ConnectionState::Reconnecting { reason, .. })
        | (_, ConnectionState::Disconnected { reason, .. })
            if trouble.is_some() =>
        {
            let name = trouble.map_or("", |(name, _)| name);
            format!("{} why: {reason}", text::printable(name))
        }
        (_, ConnectionState::Reconnecting { reason, .. })
        | (_, ConnectionState::Disconnected { reason, .. }) => format!("why: {reason}"),
        _ => match app.model.reloads.error() {
            Some(error) => views::reload_error_line(error),
            None => return Vec::new(),
        },
    };
    let width = usize::from(width).max(1);
    let mut lines = text::wrap(&reason, width);
    if lines.len() > 2 {
        lines.truncate(2);
        lines[1] = text::truncate(&format!("{}…", lines[1]), width);
    }
    lines
}

fn badge_style(badge: &str) -> Style {
    match badge {
        "waiting on you" => Style::new().magenta().bold(),
        "running" => Style::new().cyan(),
        "failed" | "not persisted" => Style::new().red(),
        "disconnected" => Style::new().red().bold(),
        "closed" => Style::new().dim(),
        "not resumable" => Style::new().red(),
        "restored" => Style::new().yellow(),
        _ => Style::new().green(),
    }
}

fn render_sessions(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Sessions;
    let filter = &app.views.sessions_filter;
    let rows = app.session_rows();
    let title = if filter.is_active() || filter.editing {
        format!(
            " Sessions {} of {}{} ",
            rows.len(),
            app.model.sessions.len(),
            filter.label()
        )
    } else {
        format!(" Sessions ({}) ", app.model.sessions.len())
    };
    if rows.is_empty() {
        let hint = if app.model.sessions.is_empty() {
            Paragraph::new(vec![
                Line::from("no sessions yet"),
                Line::from(vec!["n".cyan().bold(), " creates one".into()]),
            ])
        } else {
            Paragraph::new("no session matches (Esc clears)".dim())
        };
        frame.render_widget(hint.block(pane(title, focused)), area);
        return;
    }
    let width = usize::from(area.width.saturating_sub(2));
    let visible = usize::from(area.height.saturating_sub(2)) / 2;
    // Several app-servers: each session says which it is on.
    let badges = app.model.app_servers.len() > 1;
    let selected = rows
        .iter()
        .position(|&i| i == app.selected_session)
        .unwrap_or(0);
    let offset = app.views.sessions.window(selected, rows.len(), visible);
    let items: Vec<ListItem> = rows
        .iter()
        .skip(offset)
        .take(visible.max(1))
        .map(|&i| {
            let s = &app.model.sessions[i];
            let mut badge = app.session_badge(s);
            let id = app::short(&s.thread_id);
            let title = navigate::session_title(app, s);
            let mut second = vec![Span::raw("  ")];
            let mut used = 2;
            if badges {
                // A narrow pane says "waiting" for "waiting on you" before it cuts the
                // name, which is then cut in its middle: `scripted-1` and `scripted-2`
                // stay apart.
                let full = text::width(&text::printable(&s.app_server));
                if badge == "waiting on you" && full + 3 + badge.len() > width {
                    badge = "waiting";
                }
                let status_width = match (badge, &s.activity) {
                    ("running", Some(_)) => 8,
                    _ => badge.len(),
                };
                let room = width.saturating_sub(3 + status_width).min(width / 2);
                let name = app_server_badge(&s.app_server, room);
                used += text::width(&name) + 1;
                second.push(Span::styled(name, Style::new().cyan().bold()));
                second.push(Span::raw(" "));
            }
            match (badge, &s.activity) {
                // What a running turn is doing says more than "running".
                ("running", Some(activity)) => {
                    let elapsed = s
                        .turn_started_at_ms
                        .map(|at| format!(" {}", wait_label(app.now_ms, at)))
                        .unwrap_or_default();
                    let room = width.saturating_sub(2 + text::width(&elapsed));
                    let activity = text::truncate(&text::printable(activity), room);
                    used += text::width(&activity) + text::width(&elapsed);
                    second.push(Span::styled(activity, badge_style(badge)));
                    second.push(elapsed.dim());
                }
                _ => {
                    used += badge.len();
                    second.push(Span::styled(badge, badge_style(badge)));
                }
            }
            if let Some(usage) = &s.token_usage {
                let tokens = format!(" · {} tok", tokens_label(usage.total.total_tokens));
                if used + text::width(&tokens) <= width {
                    used += text::width(&tokens);
                    second.push(tokens.dim());
                }
            }
            if used + id.len() + 3 <= width && !title.contains(id) {
                second.push(format!(" · {id}").dim());
            }
            let style = if i == app.selected_session {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            let first = if s.origin == crate::bridge::SessionOrigin::Watched {
                let mark = if s.auto_answer {
                    "watching·auto "
                } else {
                    "watching "
                };
                Line::from(vec![
                    Span::raw(mark).magenta().bold(),
                    Span::raw(text::truncate(
                        &text::printable(&title),
                        width.saturating_sub(mark.len()),
                    )),
                ])
            } else {
                Line::from(text::truncate(&text::printable(&title), width))
            };
            ListItem::new(vec![first, Line::from(second)]).style(style)
        })
        .collect();
    frame.render_widget(List::new(items).block(pane(title, focused)), area);
}

/// An app-server's name as a session's badge, cut in its middle to `room` columns
/// (names of one fleet often differ only at their end).
pub fn app_server_badge(name: &str, room: usize) -> String {
    text::truncate_middle(&text::printable(name), room.max(4))
}

/// A token count in a few columns: `950`, `12.3k`, `1.2M`.
pub fn tokens_label(tokens: u64) -> String {
    match tokens {
        0..1_000 => tokens.to_string(),
        1_000..1_000_000 => format!("{:.1}k", tokens as f64 / 1_000.0),
        _ => format!("{:.1}M", tokens as f64 / 1_000_000.0),
    }
}

/// The account's rate limits in a few words: `limits 5h 12% · 7d 3%`, from the
/// `primary` and `secondary` windows app-server reported (none: `None`).
pub fn rate_limits_label(limits: &serde_json::Value) -> Option<String> {
    let windows: Vec<String> = ["primary", "secondary"]
        .iter()
        .filter_map(|key| {
            let window = limits.get(key)?;
            let used = window.get("usedPercent")?.as_f64()?;
            let span = match window.get("windowDurationMins").and_then(|m| m.as_u64()) {
                Some(mins) if mins > 0 && mins % 1440 == 0 => format!("{}d", mins / 1440),
                Some(mins) if mins > 0 && mins % 60 == 0 => format!("{}h", mins / 60),
                Some(mins) if mins > 0 => format!("{mins}m"),
                _ => (*key).to_string(),
            };
            Some(format!("{span} {used:.0}%"))
        })
        .collect();
    let mut label = (!windows.is_empty()).then(|| format!("limits {}", windows.join(" · ")))?;
    if let Some(reached) = limits.get("rateLimitReachedType").and_then(|v| v.as_str()) {
        label.push_str(&format!(" ({})", reached.replace('_', " ")));
    }
    Some(label)
}

/// The header's lines about the selected session and the account: what the session
/// is doing and for how long, its tokens, and the rate limits, on one line where they
/// fit and on two where they do not. None when nothing is known.
fn activity_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let (session, limits) = activity_spans(app);
    let width_of =
        |spans: &[Span<'static>]| -> usize { spans.iter().map(|s| text::width(&s.content)).sum() };
    let session = fit_spans(session, usize::from(width));
    match (session.is_empty(), limits) {
        (true, None) => Vec::new(),
        (true, Some(limits)) => vec![Line::from(limits)],
        (false, None) => vec![Line::from(session)],
        (false, Some(limits))
            if width_of(&session) + 2 + text::width(&limits.content) <= usize::from(width) =>
        {
            let mut spans = session;
            spans.push("  ".into());
            spans.push(limits);
            vec![Line::from(spans)]
        }
        (false, Some(limits)) => vec![Line::from(session), Line::from(limits)],
    }
}

/// `spans` cut to `width` columns, the cut span ending in `…`.
fn fit_spans(spans: Vec<Span<'static>>, width: usize) -> Vec<Span<'static>> {
    let mut room = width;
    let mut out = Vec::new();
    for span in spans {
        let columns = text::width(&span.content);
        if columns <= room {
            room -= columns;
            out.push(span);
            continue;
        }
        if room > 0 {
            out.push(Span::styled(
                text::truncate(&span.content, room),
                span.style,
            ));
        }
        break;
    }
    out
}

/// The selected session's spans and the rate limits' span, for `activity_lines`.
fn activity_spans(app: &App) -> (Vec<Span<'static>>, Option<Span<'static>>) {
    let mut spans: Vec<Span<'static>> = Vec::new();
    if let Some(session) = app.model.sessions.get(app.selected_session) {
        let running = session.activity.is_some();
        if running || session.token_usage.is_some() {
            let title = navigate::session_title(app, session);
            spans.push(format!("▸ {}", text::truncate(&text::printable(&title), 24)).bold());
            let badge = app.session_badge(session);
            if badge == "waiting on you" {
                spans.push("  waiting on you".magenta().bold());
            } else if let Some(activity) = &session.activity {
                spans.push(format!("  {}", text::printable(activity)).cyan());
            }
            if let (true, Some(at)) = (running, session.turn_started_at_ms) {
                spans.push(format!(" {}", wait_label(app.now_ms, at)).dim());
            }
            if let Some(usage) = &session.token_usage {
                let mut tokens = format!(" · {} tokens", tokens_label(usage.total.total_tokens));
                if let Some(window) = usage.model_context_window.filter(|w| *w > 0) {
                    let percent = usage.last.total_tokens.saturating_mul(100) / window;
                    tokens.push_str(&format!(" ({percent}% of context)"));
                }
                spans.push(tokens.into());
            }
        }
    }
    let limits = app
        .model
        .rate_limits
        .as_ref()
        .and_then(rate_limits_label)
        .map(|l| l.dim());
    (spans, limits)
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

/// A one-line preview of arguments, at most `max` columns, ending in `…` when cut.
pub fn preview(value: &serde_json::Value, max: usize) -> String {
    text::truncate(&text::summary(value), max)
}

/// Top-level argument keys whose values differ between calls of the same tool, so a
/// row can show what tells similar calls apart first.
fn varying_keys(app: &App, tools: &[String]) -> std::collections::HashMap<String, Vec<String>> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    let mut out = HashMap::new();
    for tool in tools {
        // Distinct values per key, counted up to a cap.
        const CAP: usize = 64;
        let mut seen: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
        // Whether a key ever holds an object or array, and its longest value.
        let mut shape: HashMap<&str, (bool, usize)> = HashMap::new();
        let mut calls = 0;
        for call in app
            .model
            .pending
            .iter()
            .filter(|c| &navigate::qualified_tool(c) == tool)
        {
            calls += 1;
            if let serde_json::Value::Object(map) = &call.arguments {
                for (k, v) in map {
                    // Long strings are told apart by their length and start.
                    let text = match v {
                        serde_json::Value::String(s) if s.len() > 256 => {
                            format!("{}:{}", s.len(), crate::protocol::truncate_chars(s, 128))
                        }
                        other => other.to_string(),
                    };
                    let entry = shape.entry(k.as_str()).or_default();
                    entry.0 |= v.is_object() || v.is_array();
                    entry.1 = entry.1.max(text.len());
                    let values = seen.entry(k.as_str()).or_default();
                    if values.len() < CAP {
                        values.insert(text);
                    }
                }
            }
        }
        // First the plain values (an id reads better than a nested object), then the
        // keys that tell most calls apart, then the shortest.
        let mut keys: Vec<(bool, std::cmp::Reverse<usize>, usize, String)> = seen
            .into_iter()
            .filter(|(_, values)| calls > 1 && values.len() > 1)
            .map(|(k, values)| {
                let (nested, longest) = shape.get(k).copied().unwrap_or_default();
                (
                    nested,
                    std::cmp::Reverse(values.len()),
                    longest,
                    k.to_string(),
                )
            })
            .collect();
        keys.sort();
        let keys: Vec<String> = keys.into_iter().map(|(.., k)| k).collect();
        out.insert(tool.clone(), keys);
    }
    out
}

/// `arguments` summarised with the keys in `first` leading.
fn distinguishing_summary(arguments: &serde_json::Value, first: &[String]) -> String {
    let serde_json::Value::Object(map) = arguments else {
        return text::summary(arguments);
    };
    // One key at a time: a JSON map would sort them again.
    let mut line = first
        .iter()
        .filter_map(|key| {
            let value = map.get(key)?;
            let mut one = serde_json::Map::new();
            one.insert(key.clone(), value.clone());
            Some(text::summary(&serde_json::Value::Object(one)))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let rest: serde_json::Map<String, serde_json::Value> = map
        .iter()
        .filter(|(k, _)| !first.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        if !line.is_empty() {
            line.push_str(" · ");
        }
        line.push_str(&text::summary(&serde_json::Value::Object(rest)));
    }
    line
}

/// The queue's column widths at `width`: wait, session, tool, arguments, who, flag.
fn queue_columns(width: u16) -> [u16; 6] {
    let inner = width.saturating_sub(2);
    let (wait, session, tool, who, flag) = if inner >= 120 {
        (9, 9, 24, 18, 8)
    } else if inner >= 70 {
        (6, 8, 16, 10, 2)
    } else {
        (6, 0, 12, 4, 2)
    };
    let gaps = 5;
    let fixed = wait + session + tool + who + flag + gaps;
    [
        wait,
        session,
        tool,
        inner.saturating_sub(fixed).max(6),
        who,
        flag,
    ]
}

fn render_queue(app: &App, frame: &mut Frame, area: Rect) {
    let area = if app.model.requests.is_empty() {
        area
    } else {
        let height = (app.model.requests.len() as u16 + 2).min(area.height / 2);
        let [calls, requests] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(height)]).areas(area);
        cards::render_requests(app, frame, requests);
        calls
    };
    let focused = app.focus == Focus::Queue;
    let waiting = app.waiting_on_person().count();
    let filter = &app.views.queue_filter;
    let rows = app.queue_rows();
    let position = rows.iter().position(|&i| i == app.selected_call);
    let mut title = vec![" Pending calls ".into()];
    match position {
        Some(at) if !rows.is_empty() => title.push(format!("{} of {}", at + 1, rows.len()).bold()),
        _ => title.push(format!("{}", rows.len()).into()),
    }
    if filter.is_active() || filter.editing {
        title.push(format!(" (of {}){}", app.model.pending.len(), filter.label()).into());
    }
    if waiting > 0 {
        title.push(" · ".into());
        title.push(format!("{waiting} on you").magenta().bold());
    }
    if !app.marked.is_empty() {
        title.push(" · ".into());
        title.push(format!("{} marked", app.marked.len()).cyan().bold());
    }
    title.push(format!(" · {} ", app.views.queue_order.label()).into());
    let block = pane(Line::from(title), focused);
    if rows.is_empty() {
        let message = if app.model.pending.is_empty() {
            "no tool call is waiting"
        } else {
            "no call matches the filter (Esc clears it)"
        };
        frame.render_widget(Paragraph::new(message.dim()).block(block), area);
        return;
    }
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let offset = app
        .views
        .queue
        .window(position.unwrap_or(0), rows.len(), visible);
    let columns = queue_columns(area.width);
    let shown: Vec<usize> = rows.iter().copied().skip(offset).take(visible).collect();
    // Worked out once per pending set (reading every call's arguments is slow with
    // hundreds of big ones), for every tool that has calls.
    let pending_set = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for call in &app.model.pending {
            call.request_id.hash(&mut hasher);
        }
        hasher.finish()
    };
    let mut cache = app.views.queue_varying.borrow_mut();
    if cache.as_ref().map(|(set, _)| *set) != Some(pending_set) {
        let mut tools: Vec<String> = app
            .model
            .pending
            .iter()
            .map(navigate::qualified_tool)
            .collect();
        tools.sort();
        tools.dedup();
        *cache = Some((pending_set, varying_keys(app, &tools)));
    }
    let no_keys = std::collections::HashMap::new();
    let varying = cache.as_ref().map_or(&no_keys, |(_, keys)| keys);
    let cell = |text: &str, width: u16| text::truncate(&text::printable(text), usize::from(width));
    let table_rows: Vec<Row> = shown
        .iter()
        .map(|&index| {
            let call = &app.model.pending[index];
            let who = app::answerer_label(&app.claims, call);
            let elsewhere = app.claims.other_holder(call.claim.as_ref());
            let who_style = if call.answerer.needs_person() {
                Style::new().magenta().bold()
            } else {
                Style::new().green()
            };
            let flag = if app::flagged(call) {
                Cell::from(
                    if columns[5] >= 8 { "⚠ schema" } else { "⚠" }
                        .yellow()
                        .bold(),
                )
            } else if !app.proposal_output_problems(call).is_empty() {
                // A held handler's answer that breaks the tool's output_schema.
                Cell::from(
                    if columns[5] >= 8 { "⚠ output" } else { "⚠" }
                        .yellow()
                        .bold(),
                )
            } else if call.in_flight {
                Cell::from(if columns[5] >= 8 { "sending" } else { "…" }.cyan())
            } else {
                Cell::from("")
            };
            let tool = navigate::qualified_tool(call);
            let first = varying.get(&tool).map(Vec::as_slice).unwrap_or(&[]);
            let mark = if app.marked.contains(&call.request_id) {
                "●"
            } else {
                " "
            };
            let row = Row::new(vec![
                Cell::from(Line::from(vec![
                    mark.cyan().bold(),
                    wait_label(app.now_ms, call.received_at_ms).into(),
                ])),
                Cell::from(app::short(&call.thread_id).to_string()).dim(),
                Cell::from(text::truncate_middle(&tool, usize::from(columns[2]))).bold(),
                match elsewhere {
                    Some(holder) => Cell::from(Span::styled(
                        cell(
                            &format!(
                                "being answered by {holder} · {}",
                                distinguishing_summary(&call.arguments, first)
                            ),
                            columns[3],
                        ),
                        Style::new().yellow(),
                    )),
                    None => Cell::from(cell(
                        &distinguishing_summary(&call.arguments, first),
                        columns[3],
                    )),
                },
                Cell::from(Span::styled(cell(&who, columns[4]), who_style)),
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
    let header = match columns {
        [_, 0, ..] => [" wait", "", "tool", "arguments", "who", ""],
        [_, _, _, _, who, _] if who < 11 => [" wait", "session", "tool", "arguments", "who", ""],
        _ => [" wait", "session", "tool", "arguments", "answered by", ""],
    };
    let table = Table::new(table_rows, columns.map(Constraint::Length))
        .header(Row::new(header.map(|h| text::truncate(h, 12))).dim())
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
        // Keys typed elsewhere are commands (c closes a session): say how to get here.
        composer.set_placeholder_text(format!(
            "press {} to write a message; keys typed now are commands",
            keys::label_of(keys::Action::Compose)
        ));
    }
    frame.render_widget(&composer, area);
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    if let Some(notice) = &app.notice {
        frame.render_widget(
            Paragraph::new(text::truncate(notice, usize::from(area.width)).yellow()),
            area,
        );
        return;
    }
    let context = app.context();
    let retry = keys::label_of(keys::Action::Reconnect);
    let offers_retry = matches!(
        app.model.connection,
        ConnectionState::Disconnected { retry: true, .. }
    ) && keys::bindings()
        .iter()
        .any(|b| b.action == keys::Action::Reconnect && b.contexts.contains(&context));
    if offers_retry {
        // The connection is lost for good: the retry key comes first.
        let cost = u16::try_from(text::width(retry) + 9).unwrap_or(u16::MAX);
        let mut spans = vec![retry.red().bold(), " retry  ".into()];
        spans.extend(footer_line(context, area.width.saturating_sub(cost)).spans);
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    frame.render_widget(Paragraph::new(footer_line(context, area.width)), area);
}

/// The footer's hints for `context` in `width` columns. `? help` and `q quit` (where
/// they apply) are always there, at the end; the others fill the room before them.
pub fn footer_line(context: keys::Context, width: u16) -> Line<'static> {
    let always = |b: &&&keys::Binding| matches!(b.action, keys::Action::Help | keys::Action::Quit);
    let hints: Vec<&keys::Binding> = keys::bindings()
        .iter()
        .filter(|b| !b.hint.is_empty() && b.contexts.contains(&context))
        .collect();
    let cost = |b: &keys::Binding| text::width(b.label) + text::width(b.hint) + 3;
    let reserved: usize = hints.iter().filter(always).map(|b| cost(b)).sum();
    let mut room = usize::from(width).saturating_sub(reserved);
    let mut spans = Vec::new();
    let push = |spans: &mut Vec<Span<'static>>, b: &keys::Binding| {
        spans.push(b.label.cyan().bold());
        spans.push(format!(" {}  ", b.hint).into());
    };
    for b in hints.iter().filter(|b| !always(b)) {
        if cost(b) > room {
            continue;
        }
        room -= cost(b);
        push(&mut spans, b);
    }
    for b in hints.iter().filter(always) {
        push(&mut spans, b);
    }
    Line::from(spans)
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

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod fleet_tests;

#[cfg(test)]
#[path = "scale_tests.rs"]
mod scale_tests;

#[cfg(test)]
#[path = "reload_tests.rs"]
mod reload_tests;

//! Overlays drawn over the current view: help, the response editor, confirmations and
//! the thread picker.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::{centered, pane};
use crate::console::app::{App, Card, Overlay, short};
use crate::console::editor::{EditorMode, EditorState, ResponseEditor};
use crate::console::keys::{Context, bindings};
use crate::console::navigate::qualified_tool;
use crate::console::text::TextLine;
use crate::console::view::{Pager, plain};

pub(super) fn render(app: &App, frame: &mut Frame, screen: Rect) {
    // Bottom layer first, so the top one is drawn last, over the others.
    for overlay in &app.overlays {
        render_one(app, overlay, frame, screen);
    }
}

fn render_one(app: &App, overlay: &Overlay, frame: &mut Frame, screen: Rect) {
    match overlay {
        Overlay::Notices { scroll } => render_notices(app, frame, screen, *scroll),
        Overlay::Command { input, candidates } => render_command(input, candidates, frame, screen),
        Overlay::ConfirmFailAll { reason, count } => render_confirm(
            frame,
            screen,
            " Fail every call? ",
            &format!("Fail the {count} call(s) waiting on you with \"{reason}\"?"),
        ),
        Overlay::Help { .. } => render_help(app, frame, screen),
        Overlay::Card(card) => match card.as_ref() {
            Card::ToolCall(editor) => render_editor(app, editor, frame, screen),
            Card::Request(card) => super::cards::render_card(app, card, frame, screen),
        },
        Overlay::ConfirmQuit { waiting } => render_confirm(
            frame,
            screen,
            " Quit? ",
            &format!(
                "{waiting} call(s) still wait on you. Quitting ends Switchboard and app-server; those calls expire."
            ),
        ),
        Overlay::ConfirmTakeover { request_id, holder } => render_confirm(
            frame,
            screen,
            " Take it over? ",
            &format!(
                "{} is being answered by {holder}. Take it over? Their answer is refused from then on, and they are told.",
                short(request_id)
            ),
        ),
        Overlay::ConfirmClose { thread_id } => render_confirm(
            frame,
            screen,
            " Close session? ",
            &format!(
                "Close session {}? Its pending calls expire.",
                short(thread_id)
            ),
        ),
        Overlay::ConfirmAutoAnswer { thread_id } => render_confirm(
            frame,
            screen,
            " Auto-answer? ",
            &format!(
                "Answer the requests of watched session {} automatically (the catalog's handlers, rules and request policy), though another client runs it?",
                short(thread_id)
            ),
        ),
        Overlay::AppServers { names, selected } => {
            render_app_servers(app, names, *selected, frame, screen)
        }
        Overlay::Loaded { threads, selected } => {
            let area = centered(screen, 90, 70, 40, 8);
            frame.render_widget(Clear, area);
            // Several app-servers: each thread says which one has it loaded.
            let fleet_width = (app.model.app_servers.len() > 1).then(|| {
                threads
                    .iter()
                    .map(|t| crate::console::text::width(&t.app_server).min(16))
                    .max()
                    .unwrap_or(0)
            });
            let items: Vec<ListItem> = threads
                .iter()
                .map(|t| {
                    let title = t
                        .name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| t.preview.replace('\n', " "));
                    let here = match t.session {
                        Some(origin) => format!("{:<9}", origin.as_str()),
                        None => "-        ".to_string(),
                    };
                    let mut spans = vec![Span::raw(format!("{}  ", short(&t.thread_id))).dim()];
                    if let Some(width) = fleet_width {
                        let name = super::app_server_badge(&t.app_server, width);
                        let pad = width.saturating_sub(crate::console::text::width(&name));
                        spans.push(Span::styled(
                            format!("{name}{}  ", " ".repeat(pad)),
                            Style::new().cyan().bold(),
                        ));
                    }
                    spans.extend([
                        Span::raw(format!("{:<11}", t.status)),
                        Span::raw(format!("by {:<14} ", t.started_by())),
                        Span::raw(here).dim(),
                        Span::raw(if title.is_empty() {
                            "(no messages)".to_string()
                        } else {
                            title
                        }),
                    ]);
                    ListItem::new(Line::from(spans))
                })
                .collect();
            let list = List::new(items)
                .block(pane(
                    " Loaded threads: status, who started them (Enter watches, Esc closes) ",
                    true,
                ))
                .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
            let mut state = ListState::default().with_selected(Some(*selected));
            frame.render_stateful_widget(list, area, &mut state);
        }
        Overlay::Threads { threads, selected } => {
            let area = centered(screen, 80, 70, 40, 8);
            frame.render_widget(Clear, area);
            let items: Vec<ListItem> = threads
                .iter()
                .map(|t| {
                    let preview = if t.preview.is_empty() {
                        "(no messages)"
                    } else {
                        t.preview.as_str()
                    };
                    ListItem::new(Line::from(vec![
                        Span::raw(format!("{}  ", short(&t.id))).dim(),
                        Span::raw(preview.replace('\n', " ")),
                    ]))
                })
                .collect();
            let list = List::new(items)
                .block(pane(" Resume a thread (Enter resumes, Esc closes) ", true))
                .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
            let mut state = ListState::default().with_selected(Some(*selected));
            frame.render_stateful_widget(list, area, &mut state);
        }
    }
}

fn render_confirm(frame: &mut Frame, screen: Rect, title: &str, text: &str) {
    let area = centered(screen, 50, 20, 40, 6);
    frame.render_widget(Clear, area);
    let body = Paragraph::new(vec![
        Line::from(text.to_string()),
        Line::from(""),
        Line::from(vec![
            "y".cyan().bold(),
            " yes   ".into(),
            "n".cyan().bold(),
            " no".into(),
        ]),
    ])
    .wrap(Wrap { trim: true })
    .block(pane(title.to_string(), true));
    frame.render_widget(body, area);
}

/// The app-servers a new session can go to, each with its connection's state.
fn render_app_servers(
    app: &App,
    names: &[String],
    selected: usize,
    frame: &mut Frame,
    screen: Rect,
) {
    use crate::console::text::{printable, truncate, width};
    let title = " New session on (Enter creates, Esc cancels) ";
    let name_width = names.iter().map(|n| width(n)).max().unwrap_or(0).min(40);
    let rows: Vec<(String, String, Style, String)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let status = app.model.app_servers.iter().find(|a| &a.name == name);
            let (state, style) = status.map_or_else(
                || ("?".to_string(), Style::new().dim()),
                |a| super::connection_words(&a.connection, true),
            );
            let sessions = status.map(|a| a.sessions).unwrap_or(0);
            let default = if i == 0 { ", the default" } else { "" };
            (
                truncate(&printable(name), name_width),
                state,
                style,
                format!(" · {sessions} session(s){default}"),
            )
        })
        .collect();
    let widest = rows
        .iter()
        .map(|(_, state, _, rest)| name_width + 3 + width(state) + width(rest))
        .max()
        .unwrap_or(0)
        .max(width(title));
    let w = u16::try_from(widest + 4)
        .unwrap_or(u16::MAX)
        .min(screen.width);
    let h = u16::try_from(rows.len() + 2)
        .unwrap_or(u16::MAX)
        .min(screen.height);
    let area = Rect {
        x: screen.x + (screen.width - w) / 2,
        y: screen.y + (screen.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, area);
    let items: Vec<ListItem> = rows
        .into_iter()
        .map(|(name, state, style, rest)| {
            let pad = name_width.saturating_sub(width(&name));
            ListItem::new(Line::from(vec![
                Span::raw(format!(" {name}{}  ", " ".repeat(pad))).bold(),
                Span::styled(state, style),
                Span::raw(rest).dim(),
            ]))
        })
        .collect();
    let list = List::new(items)
        .block(pane(title, true))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(selected));
    frame.render_stateful_widget(list, area, &mut state);
}

/// Help sections; a binding is listed under the first section it applies to.
const HELP_SECTIONS: &[(&str, &[Context])] = &[
    ("Main view", &[Context::Sessions]),
    ("Pending calls", &[Context::Queue]),
    ("Transcript", &[Context::Transcript]),
    ("Composer", &[Context::Composer]),
    ("Response editor", &[Context::Editor]),
    ("Catalog inspector", &[Context::Inspector]),
    ("Protocol log", &[Context::ProtocolLog]),
    ("Filters", &[Context::Filter]),
    ("Detail view", &[Context::Detail]),
    (
        "Dialogs",
        &[
            Context::Picker,
            Context::Watch,
            Context::AppServers,
            Context::Confirm,
            Context::Help,
        ],
    ),
];

fn render_help(app: &App, frame: &mut Frame, screen: Rect) {
    let area = centered(screen, 80, 90, 60, 12);
    frame.render_widget(Clear, area);
    let width = usize::from(area.width.saturating_sub(2)).max(20);
    let mut listed = vec![false; bindings().len()];
    let mut lines: Vec<Line> = Vec::new();
    if let Some(listen) = &app.listen {
        lines.push(Line::from("API").bold());
        for part in
            crate::console::text::wrap(&format!("  {} token {}", listen.url, listen.token), width)
        {
            lines.push(Line::from(part));
        }
    }
    // A description wraps under itself, past the key column.
    let key_column = 9;
    for (title, contexts) in HELP_SECTIONS {
        let mut section = Vec::new();
        for (index, binding) in bindings().iter().enumerate() {
            if !listed[index] && binding.contexts.iter().any(|c| contexts.contains(c)) {
                listed[index] = true;
                let parts =
                    crate::console::text::wrap(binding.help, width.saturating_sub(key_column));
                for (i, part) in parts.into_iter().enumerate() {
                    let key = if i == 0 {
                        format!("  {:<7}", binding.label)
                    } else {
                        " ".repeat(key_column)
                    };
                    section.push(Line::from(vec![
                        Span::styled(key, Style::new().cyan().bold()),
                        Span::raw(part),
                    ]));
                }
            }
        }
        if !section.is_empty() {
            lines.push(Line::from(title.to_string()).bold());
            lines.extend(section);
        }
    }
    let height = usize::from(area.height.saturating_sub(2));
    let top = app.views.help.clamp(lines.len(), height);
    let end = (top + height).min(lines.len());
    let help = Paragraph::new(lines[top..end].to_vec()).block(pane(
        format!(
            " Keys {}–{} of {} (↑/↓ PgUp/PgDn scroll, Esc closes) ",
            top + 1,
            end,
            lines.len()
        ),
        true,
    ));
    frame.render_widget(help, area);
}

/// The detail view: the whole screen, wrapped, scrolled from the top.
pub(super) fn render_pager(pager: &Pager, frame: &mut Frame, screen: Rect) {
    frame.render_widget(Clear, screen);
    let [body, hints] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(screen);
    let width = usize::from(body.width.saturating_sub(2)).max(1);
    let height = usize::from(body.height.saturating_sub(2));
    let lines = pager.wrapped(width);
    let top = pager.scroll.clamp(lines.len(), height);
    let end = (top + height).min(lines.len());
    let shown: Vec<Line> = lines[top..end].iter().map(text_line).collect();
    let title = format!(
        "{}· lines {}–{} of {} ",
        pager.title,
        if lines.is_empty() { 0 } else { top + 1 },
        end,
        lines.len()
    );
    frame.render_widget(Paragraph::new(shown).block(pane(title, true)), body);
    frame.render_widget(
        Paragraph::new(super::footer_line(Context::Detail, screen.width)),
        hints,
    );
}

/// A laid-out line of a value: indented; string text plain, JSON around it dimmer.
fn text_line(line: &TextLine) -> Line<'static> {
    let text = format!("{}{}", " ".repeat(line.indent), line.text);
    if line.tone != crate::console::text::Tone::Auto {
        Line::from(text).style(super::items::tone_style(line.tone))
    } else if line.is_text {
        Line::from(text)
    } else if line.text.starts_with('⚠') {
        Line::from(text).yellow()
    } else {
        Line::from(text).cyan()
    }
}

/// The editor's context pane: schema problems first, then the arguments as text, then
/// the input schema folded to one line (^G shows the call in full).
fn context_lines(app: &App, editor: &ResponseEditor) -> Vec<TextLine> {
    let mut lines = Vec::new();
    match &editor.call.claim {
        Some(claim) if app.claims.is_mine(claim) => {
            lines.push(plain(&format!(
                "⚑ yours: others see \"being answered by {}\" while it is open",
                claim.holder
            )));
            lines.push(plain(""));
        }
        Some(claim) => {
            lines.push(plain(&super::cards::claim_banner(&claim.holder)));
            lines.push(plain(""));
        }
        None => {}
    }
    for problem in &editor.call.schema_problems {
        lines.push(plain(&format!("⚠ {problem}")));
    }
    if !editor.call.schema_problems.is_empty() {
        lines.push(plain(""));
    }
    lines.extend(crate::console::text::value_lines(&editor.call.arguments));
    lines.push(plain(""));
    let schema = match &editor.input_schema {
        Some(schema) => {
            let properties = schema
                .get("properties")
                .and_then(|p| p.as_object())
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            format!("▸ input schema: {properties} (^G shows it)")
        }
        None => "▸ the tool is not in the catalog".to_string(),
    };
    lines.push(plain(&schema));
    lines
}

fn render_editor(app: &App, editor: &ResponseEditor, frame: &mut Frame, screen: Rect) {
    let area = centered(screen, 92, 92, 60, 20);
    frame.render_widget(Clear, area);
    let block = pane(
        format!(
            " Answer {} · call {} · session {} ",
            qualified_tool(&editor.call),
            short(&editor.call.call_id),
            short(&editor.call.thread_id)
        ),
        true,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The answer box is as tall as its text (usually one line), up to half the overlay.
    let answer_lines = editor.textarea.lines().len() as u16;
    let answer_height = (answer_lines + 2).clamp(3, (inner.height / 2).max(3));
    let status_height = if editor.message.is_some() { 2 } else { 1 };
    let [context, input, status, hints] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(answer_height),
        Constraint::Length(status_height),
        Constraint::Length(1),
    ])
    .areas(inner);

    let width = usize::from(context.width.saturating_sub(2)).max(1);
    let height = usize::from(context.height.saturating_sub(2));
    let view = &app.views.editor;
    let id = &editor.call.request_id;
    // The lines change when the claim does (someone else's, this console's, none).
    let claim_key = match &editor.call.claim {
        Some(claim) if app.claims.is_mine(claim) => "mine".to_string(),
        Some(claim) => format!("held {} {}", claim.claim_id, claim.holder),
        None => String::new(),
    };
    let lines = view.lines(&format!("{id}\u{0}{claim_key}"), width, || {
        context_lines(app, editor)
    });
    let top = if view.is_for(id) {
        view.arguments.clamp(lines.len(), height)
    } else {
        0
    };
    let end = (top + height).min(lines.len());
    let shown: Vec<Line> = lines[top..end].iter().map(text_line).collect();
    let more = if lines.len() > height {
        format!(
            " Arguments · lines {}–{} of {} · M-↑/M-↓ scroll, ^G full view ",
            top + 1,
            end,
            lines.len()
        )
    } else {
        " Arguments · ^G full view ".to_string()
    };
    frame.render_widget(
        Paragraph::new(shown).block(
            Block::default()
                .borders(Borders::ALL)
                .title(more)
                .border_style(Style::new().dim()),
        ),
        context,
    );

    let mode = match editor.mode {
        EditorMode::Text => format!(" Text answer · success {} (^O) ", editor.success),
        EditorMode::Raw => " Raw result JSON {\"contentItems\":[..],\"success\":..} ".to_string(),
        EditorMode::Fail => " Reason for failing the call ".to_string(),
    };
    let border = if editor.mode == EditorMode::Fail {
        Style::new().red()
    } else {
        Style::new().cyan()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(mode)
        .border_style(border);
    let text_area = block.inner(input);
    frame.render_widget(block, input);
    // The editor's own textarea, not a copy: it keeps its layout of the lines between
    // frames, so a long answer is laid out once, not at every frame.
    frame.render_widget(&editor.textarea, text_area);

    let validity = match (&editor.state, editor.validate()) {
        (EditorState::Ended(why), _) => Line::from(format!("✘ {why}: nothing will be sent"))
            .red()
            .bold(),
        (EditorState::Sending, _) => Line::from("sending…").cyan(),
        (EditorState::RunningHandler, _) => Line::from("running the handler…").cyan(),
        (EditorState::Editing, Ok(result)) => Line::from(format!(
            "✔ valid: {} item(s), success {}",
            result.content_items.len(),
            result.success
        ))
        .green(),
        // Nothing typed yet is a prompt, not an error.
        (EditorState::Editing, Err(e)) if editor.text().trim().is_empty() => {
            Line::from(format!("· {e}")).dim()
        }
        (EditorState::Editing, Err(e)) => Line::from(format!("✘ {e}")).red(),
    };
    let mut status_lines = vec![validity];
    if let Some(message) = &editor.message {
        status_lines.push(Line::from(message.clone()).yellow());
    }
    frame.render_widget(Paragraph::new(status_lines), status);

    frame.render_widget(
        Paragraph::new(super::footer_line(Context::Editor, hints.width)),
        hints,
    );
}

/// The notice history, newest at the bottom.
fn render_notices(app: &App, frame: &mut Frame, screen: Rect, scroll: u16) {
    let area = centered(screen, 80, 70, 40, 8);
    frame.render_widget(Clear, area);
    let lines: Vec<Line> = app
        .notices
        .iter()
        .map(|(at_ms, text)| {
            let secs = at_ms.div_euclid(1000).rem_euclid(86_400);
            Line::from(vec![
                Span::raw(format!(
                    "{:02}:{:02}:{:02}  ",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                ))
                .dim(),
                Span::raw(text.clone()),
            ])
        })
        .collect();
    let notices = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .block(pane(
            format!(" Notices ({}; Esc closes) ", app.notices.len()),
            true,
        ));
    frame.render_widget(notices, area);
}

/// The `:` command line on the bottom row, with the candidates of the last Tab above it.
fn render_command(
    input: &ratatui_textarea::TextArea<'static>,
    candidates: &[String],
    frame: &mut Frame,
    screen: Rect,
) {
    let row = Rect {
        y: screen.y + screen.height.saturating_sub(1),
        height: 1,
        ..screen
    };
    frame.render_widget(Clear, row);
    let [prompt, field] =
        Layout::horizontal([Constraint::Length(1), Constraint::Min(1)]).areas(row);
    frame.render_widget(Paragraph::new(":".cyan().bold()), prompt);
    let mut field_input = input.clone();
    field_input.set_placeholder_text(
        "session ID · tool NAME · fail-all REASON · hold TOOL · quit   (Tab completes)",
    );
    frame.render_widget(&field_input, field);
    if !candidates.is_empty() && row.y > screen.y {
        let above = Rect {
            y: row.y - 1,
            ..row
        };
        frame.render_widget(Clear, above);
        frame.render_widget(Paragraph::new(candidates.join("  ").dim()), above);
    }
}

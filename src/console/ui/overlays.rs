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
use crate::console::keys::{self, BINDINGS, Context};

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
        Overlay::Help { scroll } => render_help(frame, screen, *scroll),
        Overlay::Card(card) => match card.as_ref() {
            Card::ToolCall(editor) => render_editor(editor, frame, screen),
        },
        Overlay::ConfirmQuit { waiting } => render_confirm(
            frame,
            screen,
            " Quit? ",
            &format!(
                "{waiting} call(s) still wait on you. Quitting ends Switchboard and app-server; those calls expire."
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

/// Help sections; a binding is listed under the first section it applies to.
const HELP_SECTIONS: &[(&str, &[Context])] = &[
    ("Main view", &[Context::Sessions]),
    ("Pending calls", &[Context::Queue]),
    ("Transcript", &[Context::Transcript]),
    ("Composer", &[Context::Composer]),
    ("Response editor", &[Context::Editor]),
    ("Catalog inspector", &[Context::Inspector]),
    ("Protocol log", &[Context::ProtocolLog, Context::LogFilter]),
    (
        "Dialogs",
        &[Context::Picker, Context::Confirm, Context::Help],
    ),
];

fn render_help(frame: &mut Frame, screen: Rect, scroll: u16) {
    let area = centered(screen, 80, 90, 60, 12);
    frame.render_widget(Clear, area);
    let mut listed = vec![false; BINDINGS.len()];
    let mut lines: Vec<Line> = Vec::new();
    for (title, contexts) in HELP_SECTIONS {
        let mut section = Vec::new();
        for (index, binding) in BINDINGS.iter().enumerate() {
            if !listed[index] && binding.contexts.iter().any(|c| contexts.contains(c)) {
                listed[index] = true;
                section.push(Line::from(vec![
                    Span::styled(
                        format!("  {:<7}", binding.label),
                        Style::new().cyan().bold(),
                    ),
                    Span::raw(binding.help.to_string()),
                ]));
            }
        }
        if !section.is_empty() {
            lines.push(Line::from(title.to_string()).bold());
            lines.extend(section);
        }
    }
    let help = Paragraph::new(lines)
        .scroll((scroll, 0))
        .block(pane(" Keys (↑/↓ scroll, Esc closes) ", true));
    frame.render_widget(help, area);
}

fn render_editor(editor: &ResponseEditor, frame: &mut Frame, screen: Rect) {
    let area = centered(screen, 92, 92, 60, 20);
    frame.render_widget(Clear, area);
    let block = pane(
        format!(
            " Answer {} · call {} · session {} ",
            editor.call.tool,
            short(&editor.call.call_id),
            short(&editor.call.thread_id)
        ),
        true,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [context, input, status, hints] = Layout::vertical([
        Constraint::Percentage(38),
        Constraint::Min(4),
        Constraint::Length(2),
        Constraint::Length(1),
    ])
    .areas(inner);

    let [arguments, schema] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(context);
    let mut argument_lines: Vec<Line> = serde_json::to_string_pretty(&editor.call.arguments)
        .unwrap_or_default()
        .lines()
        .map(|l| Line::from(l.to_string()))
        .collect();
    for problem in &editor.call.schema_problems {
        argument_lines.push(Line::from(format!("⚠ {problem}")).yellow());
    }
    frame.render_widget(
        Paragraph::new(argument_lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Arguments ")
                .dim(),
        ),
        arguments,
    );
    let schema_text = editor
        .input_schema
        .as_ref()
        .map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
        .unwrap_or_else(|| "(tool not in the catalog)".to_string());
    frame.render_widget(
        Paragraph::new(schema_text).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Input schema ")
                .dim(),
        ),
        schema,
    );

    let mode = match editor.mode {
        EditorMode::Text => format!(" Text answer · success {} (^O) ", editor.success),
        EditorMode::Raw => " Raw result JSON {\"contentItems\":[..],\"success\":..} ".to_string(),
        EditorMode::Fail => " Reason for failing the call ".to_string(),
    };
    let mut textarea = editor.textarea.clone();
    let border = if editor.mode == EditorMode::Fail {
        Style::new().red()
    } else {
        Style::new().cyan()
    };
    textarea.set_block(
        Block::default()
            .borders(Borders::ALL)
            .title(mode)
            .border_style(border),
    );
    frame.render_widget(&textarea, input);

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
        (EditorState::Editing, Err(e)) => Line::from(format!("✘ {e}")).red(),
    };
    let mut status_lines = vec![validity];
    if let Some(message) = &editor.message {
        status_lines.push(Line::from(message.clone()).yellow());
    }
    frame.render_widget(Paragraph::new(status_lines), status);

    let spans: Vec<Span> = keys::hints(Context::Editor)
        .flat_map(|(label, hint)| [label.cyan().bold(), format!(" {hint}  ").into()])
        .collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), hints);
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

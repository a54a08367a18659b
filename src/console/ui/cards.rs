//! Drawing the request cards (`console/cards/`) and the queue's list of pending
//! approvals, questions and elicitations.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use serde_json::Value;

use super::{centered, pane, wait_label};
use crate::console::app::{App, short};
use crate::console::cards::{Body, FieldKind, Form, Questions, RequestCard, Row, Tone};
use crate::console::text;
use crate::protocol::RequestKind;

/// A request kind in a word or two.
pub fn kind_label(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::ToolCall => "tool call",
        RequestKind::CommandApproval => "command",
        RequestKind::FileChangeApproval => "file change",
        RequestKind::PermissionsApproval => "permissions",
        RequestKind::UserInput => "question",
        RequestKind::McpElicitation => "elicitation",
        RequestKind::LegacyApproval => "approval",
    }
}

/// The queue's part for requests other than tool calls: kind, session, summary, wait.
pub fn render_requests(app: &App, frame: &mut Frame, area: Rect) {
    let block = pane(
        Line::from(vec![
            " Approvals & questions ".into(),
            format!("{} ", app.model.requests.len()).bold(),
            "· A opens ".dim(),
        ]),
        false,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let lines: Vec<Line> = app
        .model
        .requests
        .iter()
        .take(usize::from(inner.height))
        .map(|request| {
            let head = format!(
                "{:>6} {:<11} {:<8} ",
                wait_label(app.now_ms, request.received_at_ms),
                kind_label(request.kind),
                short(&request.thread_id)
            );
            let rest = width.saturating_sub(text::width(&head));
            let claimed = app.claims.other_holder(request.claim.as_ref());
            let summary = match claimed {
                Some(holder) => format!("being answered by {holder} · {}", request.summary),
                None => request.summary.clone(),
            };
            let summary = text::truncate(&text::printable(&summary), rest);
            Line::from(vec![
                Span::styled(head, Style::new().magenta()),
                if claimed.is_some() {
                    Span::styled(summary, Style::new().yellow())
                } else {
                    Span::raw(summary)
                },
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A request card, centred over the screen.
pub fn render_card(app: &App, card: &RequestCard, frame: &mut Frame, screen: Rect) {
    let area = centered(screen, 92, 92, 60, 20);
    frame.render_widget(Clear, area);
    let request = &card.request;
    let block = pane(
        format!(
            " {} · session {} · waiting {} ",
            kind_label(request.kind),
            short(&request.thread_id),
            wait_label(app.now_ms, request.received_at_ms)
        ),
        true,
    );
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    // Someone else is answering it: say who first, and how to take it over.
    if let Some(holder) = app.claims.other_holder(request.claim.as_ref()) {
        let [banner, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
        frame.render_widget(
            Paragraph::new(Line::from(claim_banner(holder)).yellow().bold()),
            banner,
        );
        inner = rest;
    }
    match &card.body {
        Body::Decisions => render_decisions(card, frame, inner),
        Body::Questions(questions) => render_questions(card, questions, frame, inner),
        Body::Form(form) => render_form(card, form, frame, inner),
    }
}

/// What a card or the editor says when someone else holds its request.
pub fn claim_banner(holder: &str) -> String {
    format!(
        "⚑ being answered by {holder} · {} takes it over",
        crate::console::keys::label_of(crate::console::keys::Action::TakeOver)
    )
}

/// The footer of every card: what went wrong, then the keys (or "sending…"), wrapped;
/// with the rows it takes.
fn footer(card: &RequestCard, keys: &str, width: u16) -> (Paragraph<'static>, u16) {
    let width = usize::from(width.max(1));
    let rows = |text: &str| u16::try_from(text::width(text).div_ceil(width).max(1)).unwrap_or(1);
    let mut lines = Vec::new();
    let mut height = 0;
    if let Some(problem) = &card.problem {
        height += rows(problem).min(2);
        lines.push(Line::from(problem.clone().red().bold()));
    }
    let hint = if card.sending { "sending…" } else { keys };
    height += rows(hint).min(3);
    lines.push(Line::from(hint.to_string().dim()));
    (Paragraph::new(lines).wrap(Wrap { trim: true }), height)
}

fn render_decisions(card: &RequestCard, frame: &mut Frame, inner: Rect) {
    let request = &card.request;
    let choices_height = (card.choices.len() as u16 + 2).min(inner.height / 2);
    let keys = if request.kind == RequestKind::FileChangeApproval {
        "Enter decide · 1-9 pick · ↑↓ choose · Tab/⇧Tab next/previous file · PgUp/PgDn scroll · Esc close (the request stays)"
    } else {
        "Enter decide · 1-9 pick · ↑↓ choose · PgUp/PgDn scroll · Esc close (the request stays)"
    };
    let (footer, footer_height) = footer(card, keys, inner.width);
    let [details, choices, hints] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(choices_height),
        Constraint::Length(footer_height),
    ])
    .areas(inner);
    if request.kind == RequestKind::FileChangeApproval {
        render_file_change(card, frame, details);
    } else {
        frame.render_widget(
            Paragraph::new(detail_lines(card))
                .wrap(Wrap { trim: false })
                .scroll((card.scroll, 0)),
            details,
        );
    }
    let mut lines: Vec<Line> = vec![Line::from("Decide:".bold())];
    for (index, choice) in card.choices.iter().enumerate() {
        let marker = if index == card.selected { "▶" } else { " " };
        let mut spans = vec![
            Span::raw(format!("{marker} {}. ", index + 1)),
            if index == card.selected {
                Span::styled(choice.label.clone(), Style::new().reversed())
            } else {
                Span::raw(choice.label.clone())
            },
        ];
        if choice.offered {
            spans.push(" (offered)".dim());
        }
        lines.push(Line::from(spans));
    }
    if card.choices.is_empty() {
        lines.push(Line::from(
            "this kind is answered over the API for now (Esc closes)".dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines), choices);
    frame.render_widget(footer, hints);
}

/// A file change: `grantRoot` and the reason on top, then every file with its diff,
/// coloured, scrolled as a whole (lines are cut, not wrapped, so that Tab lands on a
/// file's first line).
fn render_file_change(card: &RequestCard, frame: &mut Frame, area: Rect) {
    let mut head: Vec<Line<'static>> = Vec::new();
    if let Some(root) = card.param_str("grantRoot") {
        head.push(field("grants", format!("write access under {root}")));
    }
    if let Some(reason) = card.param_str("reason") {
        head.push(field("reason", reason.to_string()));
    }
    let files = card.file_starts().len();
    let at = card
        .file_starts()
        .iter()
        .filter(|&&start| start <= card.scroll)
        .count()
        .clamp(files.min(1), files);
    head.push(Line::from(
        format!("file {at} of {files} · line {}", card.scroll + 1).dim(),
    ));
    let [top, body] =
        Layout::vertical([Constraint::Length(head.len() as u16), Constraint::Min(1)]).areas(area);
    frame.render_widget(Paragraph::new(head), top);
    let width = usize::from(body.width);
    let lines: Vec<Line> = card
        .file_change_lines()
        .into_iter()
        .skip(usize::from(card.scroll))
        .take(usize::from(body.height))
        .map(|(tone, line)| {
            let line = text::truncate(&text::printable(&line), width);
            match tone {
                Tone::Section => Line::from(line.bold().underlined()),
                Tone::File => Line::from(line.cyan().bold()),
                Tone::Added => Line::from(line.green()),
                Tone::Removed => Line::from(line.red()),
                Tone::Hunk => Line::from(line.magenta()),
                Tone::Faint => Line::from(line.dim()),
                Tone::Plain => Line::from(line),
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}

fn render_questions(card: &RequestCard, questions: &Questions, frame: &mut Frame, inner: Rect) {
    let question = questions.question();
    let page = questions.current();
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut head = vec![
        format!(
            "Question {} of {}",
            questions.page + 1,
            questions.questions.len()
        )
        .bold(),
    ];
    if !question.header.is_empty() {
        head.push(" · ".dim());
        head.push(question.header.clone().cyan().bold());
    }
    if question.is_secret {
        head.push(" · secret (masked)".dim());
    }
    lines.push(Line::from(head));
    lines.push(Line::from(question.question.clone()));
    lines.push(Line::from(""));
    let options = question.options.as_deref().unwrap_or_default();
    for (at, row) in questions.rows().into_iter().enumerate() {
        let cursor = if at == page.row { "▶ " } else { "  " };
        let focused = at == page.row;
        let style = |span: Span<'static>| {
            if focused { span.reversed() } else { span }
        };
        match row {
            Row::Option(index) => {
                let picked = if page.choice == Some(index) {
                    "(•)"
                } else {
                    "( )"
                };
                let option = &options[index];
                let mut spans = vec![
                    Span::raw(format!("{cursor}{picked} {}. ", index + 1)),
                    style(Span::raw(option.label.clone())),
                ];
                if !option.description.is_empty() {
                    spans.push(format!("  {}", option.description).dim());
                }
                lines.push(Line::from(spans));
            }
            Row::Free => {
                let picked = if page.choice == Some(options.len()) {
                    "(•)"
                } else {
                    "( )"
                };
                let label = if options.is_empty() {
                    "Answer:"
                } else {
                    "Other:"
                };
                let mut value = page.free.shown(question.is_secret);
                if focused {
                    value.push('█');
                }
                lines.push(Line::from(vec![
                    Span::raw(format!("{cursor}{picked} {label} ")),
                    style(Span::raw(value)),
                ]));
            }
            Row::Note => {
                let mut value = page.note.text.clone();
                if focused {
                    value.push('█');
                }
                lines.push(Line::from(vec![
                    Span::raw(format!("{cursor}    Note (optional): ")),
                    style(Span::raw(value)),
                ]));
            }
        }
    }
    lines.push(Line::from(""));
    for (index, other) in questions.questions.iter().enumerate() {
        let state = match questions.answer(index) {
            Ok(_) => "answered".green(),
            Err(_) => "no answer yet".yellow(),
        };
        let name = if other.header.is_empty() {
            other.id.clone()
        } else {
            other.header.clone()
        };
        let marker = if index == questions.page { "▸" } else { " " };
        lines.push(Line::from(vec![
            format!("{marker} {}. {name}: ", index + 1).dim(),
            state,
        ]));
    }
    let (footer, footer_height) = footer(
        card,
        "↑↓ choose · type to answer · Tab/⇧Tab next/previous question · Enter next, submit on the last · ^S submit · F3 decline (answers nothing) · Esc close (kept)",
        inner.width,
    );
    let [body, hints] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(footer_height)]).areas(inner);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((card.scroll, 0)),
        body,
    );
    frame.render_widget(footer, hints);
}

fn render_form(card: &RequestCard, form: &Form, frame: &mut Frame, inner: Rect) {
    let params = &card.request.params;
    let mut lines: Vec<Line<'static>> = Vec::new();
    if let Some(server) = card.param_str("serverName") {
        lines.push(field("server", server.to_string()));
    }
    if let Some(message) = params.get("message").and_then(Value::as_str) {
        lines.push(field("asks", message.to_string()));
    }
    lines.push(Line::from(""));
    for (index, field) in form.fields.iter().enumerate() {
        let focused = index == form.selected;
        let cursor = if focused { "▶ " } else { "  " };
        let required = if field.required { "*" } else { "" };
        let mut value = field.shown();
        if focused && !matches!(field.kind, FieldKind::Boolean | FieldKind::Enum(_)) {
            value.push('█');
        }
        let value = if focused {
            Span::styled(value, Style::new().reversed())
        } else {
            Span::raw(value)
        };
        lines.push(Line::from(vec![
            Span::raw(cursor.to_string()),
            Span::styled(format!("{}{required}", field.title), Style::new().bold()),
            format!(" ({}): ", field.kind.word()).dim(),
            value,
        ]));
        if let Some(description) = &field.description {
            lines.push(Line::from(format!("    {description}").dim()));
        }
        if let FieldKind::Enum(values) = &field.kind
            && focused
        {
            let names: Vec<&str> = values.iter().map(|(_, l)| l.as_str()).collect();
            lines.push(Line::from(
                format!("    choices: {}", names.join(", ")).dim(),
            ));
        }
        if let Some(problem) = form.problem(index) {
            lines.push(Line::from(format!("    ✗ {problem}").red()));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from("* required".dim()));
    let (footer, footer_height) = footer(
        card,
        "↑↓/Tab field · type, Space/←→ toggle or pick · Enter or ^S submit (checked first) · F3 decline · F4 cancel · Esc close (kept)",
        inner.width,
    );
    let [body, hints] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(footer_height)]).areas(inner);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((card.scroll, 0)),
        body,
    );
    frame.render_widget(footer, hints);
}

fn field(name: &str, value: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<9}"), Style::new().bold()),
        Span::raw(value),
    ])
}

/// What the request asks, kind by kind.
fn detail_lines(card: &RequestCard) -> Vec<Line<'static>> {
    let request = &card.request;
    let params = &request.params;
    let mut lines: Vec<Line<'static>> = Vec::new();
    match request.kind {
        RequestKind::CommandApproval => {
            if let Some(command) = card.command() {
                lines.push(field("command", command));
            }
            if let Some(cwd) = card.param_str("cwd") {
                lines.push(field("cwd", cwd.to_string()));
            }
            if let Some(network) = params
                .get("networkApprovalContext")
                .filter(|v| !v.is_null())
            {
                let host = network.get("host").and_then(Value::as_str).unwrap_or("?");
                let protocol = network
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                lines.push(field(
                    "network",
                    format!("{host} {protocol}").trim_end().to_string(),
                ));
            }
            if let Some(actions) = params.get("commandActions").and_then(Value::as_array) {
                for action in actions {
                    lines.push(field("action", action_label(action)));
                }
            }
            if let Some(extra) = params.get("additionalPermissions").filter(|v| !v.is_null()) {
                lines.push(field("asks for", compact(extra)));
            }
        }
        RequestKind::PermissionsApproval => permission_lines(params, &mut lines),
        RequestKind::McpElicitation => elicitation_lines(params, &mut lines),
        _ => {
            lines.push(field("asks", request.summary.clone()));
            for line in serde_json::to_string_pretty(params)
                .unwrap_or_default()
                .lines()
            {
                lines.push(Line::from(line.to_string()));
            }
        }
    }
    if let Some(reason) = card.param_str("reason") {
        lines.push(field("reason", reason.to_string()));
    }
    lines
}

/// What a permissions request asks: network, then file-system read and write paths.
fn permission_lines(params: &Value, lines: &mut Vec<Line<'static>>) {
    let asked = params.get("permissions").unwrap_or(&Value::Null);
    let mut any = false;
    if let Some(network) = asked.get("network").filter(|n| n.is_object()) {
        let on = network.get("enabled").and_then(Value::as_bool);
        lines.push(field(
            "network",
            match on {
                Some(true) => "network access".to_string(),
                Some(false) => "no network access".to_string(),
                None => compact(network),
            },
        ));
        any = true;
    }
    if let Some(file_system) = asked.get("fileSystem").and_then(Value::as_object) {
        for (key, value) in file_system {
            if value.is_null() {
                continue;
            }
            let label = key.as_str();
            match value.as_array() {
                Some(paths) => {
                    for path in paths {
                        let path = path
                            .as_str()
                            .map_or_else(|| path.to_string(), str::to_string);
                        lines.push(field(label, path));
                    }
                }
                None => lines.push(field(label, compact(value))),
            }
            any = true;
        }
    }
    if !any {
        lines.push(field("asks", compact(asked)));
    }
    if let Some(cwd) = params.get("cwd").and_then(Value::as_str) {
        lines.push(field("cwd", cwd.to_string()));
    }
}

/// An elicitation without fields: an MCP tool-call approval (tool, description,
/// arguments), a url to open, or whatever else the server sent.
fn elicitation_lines(params: &Value, lines: &mut Vec<Line<'static>>) {
    let get = |name: &str| params.get(name).and_then(Value::as_str);
    let meta = params.get("_meta").cloned().unwrap_or(Value::Null);
    let meta_str = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_string);
    if let Some(server) = get("serverName") {
        lines.push(field("server", server.to_string()));
    }
    if let Some(tool) = meta_str("tool_title").or_else(|| meta_str("tool_name")) {
        lines.push(field("tool", tool));
    }
    if let Some(description) = meta_str("tool_description") {
        lines.push(field("does", description));
    }
    if let Some(message) = get("message") {
        lines.push(field("asks", message.to_string()));
    }
    if let Some(url) = get("url") {
        lines.push(field("url", url.to_string()));
        lines.push(Line::from(
            "         open it yourself; accept once done there".dim(),
        ));
    }
    if let Some(arguments) = meta.get("tool_params").filter(|v| !v.is_null()) {
        lines.push(Line::from("arguments".bold()));
        for line in serde_json::to_string_pretty(arguments)
            .unwrap_or_default()
            .lines()
        {
            lines.push(Line::from(format!("  {line}")));
        }
    }
    let mode = get("mode").unwrap_or("form");
    if !matches!(mode, "form" | "url") {
        lines.push(field("mode", mode.to_string()));
        for line in serde_json::to_string_pretty(params)
            .unwrap_or_default()
            .lines()
        {
            lines.push(Line::from(line.to_string()));
        }
    }
}

/// One parsed command action: `read src/lib.rs`, `search "foo" in src`, `run …`.
fn action_label(action: &Value) -> String {
    let kind = action
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let get = |name: &str| action.get(name).and_then(Value::as_str);
    match kind {
        "read" => format!("read {}", get("path").or(get("name")).unwrap_or("?")),
        "listFiles" => format!("list {}", get("path").unwrap_or(".")),
        "search" => format!(
            "search {} in {}",
            get("query").unwrap_or("?"),
            get("path").unwrap_or(".")
        ),
        _ => format!("run {}", get("command").unwrap_or("?")),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

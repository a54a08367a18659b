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
use crate::console::cards::RequestCard;
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
            Line::from(vec![
                Span::styled(head, Style::new().magenta()),
                Span::raw(text::truncate(&text::printable(&request.summary), rest)),
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
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let choices_height = (card.choices.len() as u16 + 2).min(inner.height / 2);
    let [details, choices, hints] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(choices_height),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(detail_lines(card))
            .wrap(Wrap { trim: false })
            .scroll((card.scroll, 0)),
        details,
    );
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
    let hint = if card.sending {
        "sending…".to_string()
    } else {
        "Enter decide · 1-9 pick · ↑↓ choose · PgUp/PgDn scroll · Esc close (the request stays)"
            .to_string()
    };
    frame.render_widget(
        Paragraph::new(text::truncate(&hint, usize::from(hints.width)).dim()),
        hints,
    );
}

fn field<'a>(name: &'a str, value: String) -> Line<'a> {
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
        RequestKind::FileChangeApproval => {
            if let Some(root) = card.param_str("grantRoot") {
                lines.push(field("grants", format!("write access under {root}")));
            }
            match &request.changes {
                Some(Value::Array(changes)) => {
                    for change in changes {
                        change_lines(change, &mut lines);
                    }
                }
                Some(other) => lines.push(Line::from(compact(other))),
                None => lines.push(Line::from("(the changes were not seen)".dim())),
            }
        }
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

/// One file of a `fileChange` item: its path and kind, then its diff.
fn change_lines(change: &Value, lines: &mut Vec<Line<'static>>) {
    let path = change.get("path").and_then(Value::as_str).unwrap_or("?");
    let kind = change.get("kind");
    let kind_word = kind
        .and_then(|k| k.get("type").and_then(Value::as_str).or(k.as_str()))
        .unwrap_or("update");
    let moved = kind
        .and_then(|k| k.get("move_path").or(k.get("movePath")))
        .and_then(Value::as_str);
    let mut head = format!("{kind_word} {path}");
    if let Some(to) = moved {
        head.push_str(&format!(" → {to}"));
    }
    lines.push(Line::from(head.bold()));
    let diff = change.get("diff").and_then(Value::as_str).unwrap_or("");
    for line in diff.lines() {
        let styled = if line.starts_with('+') && !line.starts_with("+++") {
            Span::styled(line.to_string(), Style::new().green())
        } else if line.starts_with('-') && !line.starts_with("---") {
            Span::styled(line.to_string(), Style::new().red())
        } else {
            Span::raw(line.to_string())
        };
        lines.push(Line::from(styled));
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

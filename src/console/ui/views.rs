//! Full-screen views: the catalog inspector and the protocol log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};

use super::pane;
use crate::appserver::Direction;
use crate::catalog::HandlerSpec;
use crate::console::app::App;

fn handler_text(spec: Option<&HandlerSpec>) -> String {
    match spec {
        None => "none: manual (an operator or a remote client answers)".to_string(),
        Some(HandlerSpec::Command(c)) => format!(
            "command {} (timeout {} ms, in {})",
            serde_json::to_string(&c.argv).unwrap_or_default(),
            c.timeout.as_millis(),
            c.cwd.display()
        ),
        Some(HandlerSpec::Worker(c)) => format!(
            "worker {} (one process, JSON lines; timeout {} ms)",
            serde_json::to_string(&c.argv).unwrap_or_default(),
            c.timeout.as_millis()
        ),
        Some(HandlerSpec::Http(h)) => {
            format!("POST {} (timeout {} ms)", h.url, h.timeout.as_millis())
        }
        Some(HandlerSpec::Static(result)) => format!(
            "static: {}",
            serde_json::to_string(result).unwrap_or_default()
        ),
    }
}

pub(super) fn render_inspector(app: &App, frame: &mut Frame, area: Rect) {
    let [list_area, detail_area] =
        Layout::horizontal([Constraint::Length(28), Constraint::Min(20)]).areas(area);
    let items: Vec<ListItem> = app
        .catalog
        .tools
        .iter()
        .map(|t| {
            let kind = t
                .handler
                .as_ref()
                .map(HandlerSpec::kind)
                .unwrap_or("manual");
            let mut spans = vec![
                Span::raw(t.qualified_name()),
                Span::raw(format!(" {kind}")).dim(),
            ];
            if app.model.hold.holds(&t.name) {
                spans.push(" HOLD".yellow().bold());
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let list = List::new(items)
        .block(pane(format!(" Tools ({}) ", app.catalog.tools.len()), true))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(app.inspector_selected));
    frame.render_stateful_widget(list, list_area, &mut state);

    let mut lines: Vec<Line> = Vec::new();
    if let Some(tool) = app.catalog.tools.get(app.inspector_selected) {
        let stats = app.model.tool_stats.get(&tool.name);
        lines.push(Line::from(tool.qualified_name()).bold());
        lines.push(Line::from(tool.description.clone()));
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            "handler  ".dim(),
            handler_text(tool.handler.as_ref()).into(),
        ]));
        lines.push(Line::from(vec![
            "hold     ".dim(),
            if app.model.hold.holds(&tool.name) {
                "held for review (H releases)".yellow()
            } else {
                "answers on its own (H holds)".into()
            },
        ]));
        let (calls, failures, expired, median) = stats
            .map(|s| (s.calls, s.failures, s.expired, s.median_latency_ms()))
            .unwrap_or((0, 0, 0, None));
        lines.push(Line::from(vec![
            "stats    ".dim(),
            format!(
                "{calls} call(s), {failures} failure(s), {expired} expired, median latency {}",
                median
                    .map(|m| format!("{m} ms"))
                    .unwrap_or_else(|| "-".to_string())
            )
            .into(),
        ]));
        lines.push(Line::from(""));
        lines.push(Line::from("input schema").bold());
        for l in serde_json::to_string_pretty(&tool.input_schema)
            .unwrap_or_default()
            .lines()
        {
            lines.push(Line::from(l.to_string()));
        }
        if let Some(output) = &tool.output_schema {
            lines.push(Line::from("output schema").bold());
            for l in serde_json::to_string_pretty(output)
                .unwrap_or_default()
                .lines()
            {
                lines.push(Line::from(l.to_string()));
            }
        }
    } else {
        lines.push(Line::from(
            "the catalog has no tools (start with --catalog FILE)",
        ));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(format!("catalog warnings ({})", app.catalog.warnings.len())).bold());
    for warning in &app.catalog.warnings {
        lines.push(Line::from(format!("{}: {warning}", warning.label())).yellow());
    }
    lines.push(Line::from(""));
    lines.push(Line::from("instruction text").bold());
    for l in app.catalog.instruction_text().lines() {
        lines.push(Line::from(l.to_string()).dim());
    }
    let path = app
        .catalog
        .path
        .as_ref()
        .map(|p| format!(" Catalog {} ", p.display()))
        .unwrap_or_else(|| " Catalog (none) ".to_string());
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.inspector_scroll, 0))
            .block(pane(path, false)),
        detail_area,
    );
}

pub(super) fn render_protocol_log(app: &App, frame: &mut Frame, area: Rect) {
    let filter = app.protocol.filter_text();
    let [filter_area, log_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(area);
    let mut filter_box = app.protocol.filter.clone();
    filter_box.set_placeholder_text("press / and type to filter (substring)");
    filter_box.set_block(pane(" Filter ", app.filtering_log));
    if !app.filtering_log {
        filter_box.set_cursor_style(Style::new());
    }
    frame.render_widget(&filter_box, filter_area);

    let height = usize::from(log_area.height.saturating_sub(2));
    let width = usize::from(log_area.width.saturating_sub(2));
    let matching: Vec<_> = app
        .protocol
        .lines
        .iter()
        .filter(|l| filter.is_empty() || l.text.contains(filter.as_str()))
        .collect();
    let end = matching
        .len()
        .saturating_sub(app.protocol.scroll.min(matching.len()));
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = matching[start..end]
        .iter()
        .map(|l| {
            let (arrow, style) = match l.direction {
                Direction::In => ("◀ in ", Style::new().cyan()),
                Direction::Out => ("▶ out", Style::new().yellow()),
            };
            let clock = clock(l.at_ms);
            let room = width.saturating_sub(clock.len() + 7);
            Line::from(vec![
                Span::raw(clock).dim(),
                Span::raw(" "),
                Span::styled(arrow, style),
                Span::raw(" "),
                Span::raw(crate::protocol::truncate_chars(&l.text, room).to_string()),
            ])
        })
        .collect();
    let title = format!(
        " Protocol log: {} of {} line(s){} ",
        matching.len(),
        app.protocol.lines.len(),
        if app.protocol.scroll > 0 {
            " · scrolled"
        } else {
            ""
        }
    );
    frame.render_widget(
        Paragraph::new(lines).block(pane(title, !app.filtering_log)),
        log_area,
    );
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in milliseconds.
fn clock(at_ms: i64) -> String {
    let ms = at_ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

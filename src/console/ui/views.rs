//! Full-screen views: the catalog inspector and the protocol log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, Paragraph};

use super::pane;
use crate::appserver::Direction;
use crate::bridge::ToolStats;
use crate::catalog::{HandlerSpec, ToolDef};
use crate::console::app::App;
use crate::console::inspect::ProbeState;
use crate::console::text;

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

/// The inspector's statistics of one tool since the console started: what tells an
/// author which description or schema the model misunderstands.
fn stats_lines(tool: &ToolDef, stats: Option<&ToolStats>) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(""),
        Line::from("since the console started").bold(),
    ];
    let Some(stats) = stats.filter(|s| s.calls > 0) else {
        lines.push(Line::from("  no call has ended yet".dim()));
        return lines;
    };
    let row = |label: &str, value: String, bad: bool| {
        let value = if bad {
            Span::raw(value).yellow()
        } else {
            Span::raw(value)
        };
        Line::from(vec![Span::raw(format!("  {label:<17}")).dim(), value])
    };
    lines.push(row("calls", stats.calls.to_string(), false));
    let mut arguments = format!(
        "{}% broke input_schema ({} of {})",
        stats.percent(stats.bad_arguments),
        stats.bad_arguments,
        stats.calls
    );
    if let Some((problem, count)) = stats.most_common_problem() {
        arguments.push_str(&format!("; most common ({count}x): {problem}"));
    }
    lines.push(row("arguments", arguments, stats.bad_arguments > 0));
    let answers = if tool.output_schema.is_some() {
        format!(
            "{}% broke output_schema ({} of {})",
            stats.percent(stats.bad_answers),
            stats.bad_answers,
            stats.calls
        )
    } else {
        "not checked (no output_schema)".to_string()
    };
    lines.push(row("answers", answers, stats.bad_answers > 0));
    lines.push(row(
        "handler failures",
        format!("{} ({} timed out)", stats.handler_failures, stats.timeouts),
        stats.handler_failures > 0,
    ));
    lines.push(row(
        "success: false",
        stats.failures.to_string(),
        stats.failures > 0,
    ));
    lines.push(row("expired", stats.expired.to_string(), stats.expired > 0));
    lines.push(row(
        "median latency",
        stats
            .median_latency_ms()
            .map(|m| format!("{m} ms"))
            .unwrap_or_else(|| "- (none answered)".to_string()),
        false,
    ));
    lines
}

/// The probe's report (`p`): how what codex hands the model differs from the catalog,
/// this tool's differences first.
fn probe_lines(app: &App, tool: &str) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(""),
        Line::from("what the model sees (p probes)").bold(),
    ];
    match &app.inspect.probe {
        ProbeState::NotRun => lines.push(Line::from(
            "  not probed yet: p starts codex on the scripted model with this catalog, in the background"
                .dim(),
        )),
        ProbeState::Running { started_ms } => lines.push(Line::from(
            format!(
                "  probing… started {} s ago (the console goes on)",
                app.now_ms.saturating_sub(*started_ms) / 1000
            )
            .cyan(),
        )),
        ProbeState::Done { result: Err(e), .. } => {
            lines.push(Line::from(format!("  the probe failed: {e}").red()));
        }
        ProbeState::Done {
            at_ms,
            result: Ok(probe),
        } => {
            let entries = probe.tools.as_array().map_or(0, Vec::len);
            lines.push(Line::from(format!(
                "  probed at {} UTC: {entries} entr{} in the model's tools, {} difference(s)",
                &clock(*at_ms)[..8],
                if entries == 1 { "y" } else { "ies" },
                probe.differences.len()
            )));
            let (mine, others): (Vec<_>, Vec<_>) =
                probe.differences.iter().partition(|d| d.tool == tool);
            if mine.is_empty() {
                lines.push(Line::from(vec![
                    "  this tool ".dim(),
                    "offered as the catalog writes it".green(),
                ]));
            }
            for d in mine {
                lines.push(Line::from(format!("  this tool {}: {}", d.kind, d.detail)).yellow());
            }
            let builtins: Vec<&str> = others
                .iter()
                .filter(|d| d.kind == "builtin")
                .map(|d| d.tool.as_str())
                .collect();
            for d in others.iter().filter(|d| d.kind != "builtin") {
                lines.push(Line::from(format!("  {} {}: {}", d.kind, d.tool, d.detail)));
            }
            if !builtins.is_empty() {
                lines.push(Line::from(
                    format!(
                        "  builtin: {} of codex's own tools beside the catalog's: {}",
                        builtins.len(),
                        builtins.join(", ")
                    )
                    .dim(),
                ));
            }
        }
    }
    lines
}

pub(super) fn render_inspector(app: &App, frame: &mut Frame, area: Rect) {
    let [list_area, detail_area] =
        Layout::horizontal([Constraint::Length(28), Constraint::Min(20)]).areas(area);
    let rows = app.inspector_rows();
    let visible = usize::from(list_area.height.saturating_sub(2));
    let selected = rows
        .iter()
        .position(|&i| i == app.inspector_selected)
        .unwrap_or(0);
    let offset = app.views.inspector.window(selected, rows.len(), visible);
    let row_width = usize::from(list_area.width.saturating_sub(2));
    let items: Vec<ListItem> = rows
        .iter()
        .skip(offset)
        .take(visible.max(1))
        .map(|&i| {
            let t = &app.catalog.tools[i];
            let kind = t
                .handler
                .as_ref()
                .map(HandlerSpec::kind)
                .unwrap_or("manual");
            let held = if app.model.hold.holds(&t.name) {
                " HOLD"
            } else {
                ""
            };
            let tail = format!(" {kind}{held}");
            let name = text::truncate_middle(
                &t.qualified_name(),
                row_width.saturating_sub(text::width(&tail)),
            );
            let mut spans = vec![Span::raw(name), Span::raw(format!(" {kind}")).dim()];
            if !held.is_empty() {
                spans.push(held.yellow().bold());
            }
            let item = ListItem::new(Line::from(spans));
            if i == app.inspector_selected {
                item.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                item
            }
        })
        .collect();
    let filter = &app.views.inspector_filter;
    let title = if filter.is_active() || filter.editing {
        format!(
            " Tools {} of {}{} ",
            rows.len(),
            app.catalog.tools.len(),
            filter.label()
        )
    } else {
        format!(" Tools ({}) ", app.catalog.tools.len())
    };
    frame.render_widget(List::new(items).block(pane(title, true)), list_area);

    let mut lines: Vec<Line> = Vec::new();
    if let Some(tool) = app.catalog.tools.get(app.inspector_selected) {
        let stats = app.model.tool_stats.get(&tool.qualified_name());
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
        lines.extend(stats_lines(tool, stats));
        lines.extend(probe_lines(app, &tool.qualified_name()));
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
    // Wrapped here, so the scroll knows the real number of lines and stops at the end.
    let width = usize::from(detail_area.width.saturating_sub(2)).max(1);
    let height = usize::from(detail_area.height.saturating_sub(2));
    let mut wrapped: Vec<Line> = Vec::new();
    for line in lines {
        let style = line.style;
        let plain: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        if line.spans.len() > 1 && text::width(&plain) <= width {
            wrapped.push(line);
            continue;
        }
        for part in text::wrap(&plain, width) {
            wrapped.push(Line::styled(part, style));
        }
    }
    let top = app.views.inspector_detail.clamp(wrapped.len(), height);
    let end = (top + height).min(wrapped.len());
    let title = if wrapped.len() > height {
        format!(
            "{}· lines {}–{} of {} (PgUp/PgDn) ",
            path,
            top + 1,
            end,
            wrapped.len()
        )
    } else {
        path
    };
    frame.render_widget(
        Paragraph::new(wrapped[top..end].to_vec()).block(pane(title, false)),
        detail_area,
    );
}

pub(super) fn render_protocol_log(app: &App, frame: &mut Frame, area: Rect) {
    let filter = &app.views.log_filter;
    let [filter_area, log_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(area);
    let filter_line = if filter.editing {
        Line::from(vec![Span::raw(filter.text().to_string()), "▏".cyan()])
    } else if filter.is_active() {
        Line::from(filter.text().to_string())
    } else {
        Line::from("press / and type to filter (case-insensitive)".dim())
    };
    frame.render_widget(
        Paragraph::new(filter_line).block(pane(" Filter ", filter.editing)),
        filter_area,
    );

    let height = usize::from(log_area.height.saturating_sub(2)).max(1);
    let width = usize::from(log_area.width.saturating_sub(2));
    let rows = app.log_rows();
    let selected = if app.views.log_follow {
        rows.len().saturating_sub(1)
    } else {
        let index = app.log_selected_index(&rows);
        rows.iter().position(|&i| i == index).unwrap_or(0)
    };
    let offset = app.views.log.window(selected, rows.len(), height);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(at, &i)| {
            let l = &app.protocol.lines[i];
            let (arrow, style) = match l.direction {
                Direction::In => ("◀ in ", Style::new().cyan()),
                Direction::Out => ("▶ out", Style::new().yellow()),
            };
            let clock = clock(l.at_ms);
            let room = width.saturating_sub(clock.len() + 7);
            let line = Line::from(vec![
                Span::raw(clock).dim(),
                Span::raw(" "),
                Span::styled(arrow, style),
                Span::raw(" "),
                Span::raw(text::truncate(&text::printable(&l.text), room)),
            ]);
            if at == selected && !app.views.log_follow {
                line.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                line
            }
        })
        .collect();
    let title = format!(
        " Protocol log: {} of {} line(s){}{} ",
        rows.len(),
        app.protocol.lines.len(),
        filter.label(),
        if app.views.log_follow {
            " · following (k scrolls, Enter opens a line)".to_string()
        } else {
            format!(" · line {} of {} (End follows)", selected + 1, rows.len())
        }
    );
    frame.render_widget(
        Paragraph::new(lines).block(pane(title, !filter.editing)),
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

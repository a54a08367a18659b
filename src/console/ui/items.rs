//! Transcript rows of a turn's items (commands, file changes, reasoning, plans, MCP tool
//! calls, web searches, the turn's diff, hook runs, reroutes, warnings, errors, ..), each
//! kind in its own style. Folded, a row is its headline and a line count; expanded
//! (Enter) it is whole. A running command shows its elapsed time and its last lines as
//! they stream. The detail view (`v`) pages through a row ([`detail_lines`]): a command's
//! output under a header, a diff coloured per file.

use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};

use crate::bridge::items::{ItemRow, count_lines, diff_files, warning_label};
use crate::console::text::{self, TextLine, Tone};
use crate::protocol::items::PlanStep;

/// Reasoning lines a folded row shows.
const FOLDED_REASONING_LINES: usize = 2;
/// Output lines a running command shows while folded: its last ones.
const LIVE_TAIL_LINES: usize = 3;

/// How long something took, for people: `830 ms`, `4.2 s`, `3m05s`.
pub fn took(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// A status as people say it.
fn status_word(status: &str) -> &str {
    match status {
        "inProgress" => "running",
        other => other,
    }
}

fn hint(indent: usize, count: usize, what: &str) -> Line<'static> {
    Line::from(format!(
        "{}… {count} {what} (Enter shows all)",
        " ".repeat(indent)
    ))
    .dim()
}

/// `text` as lines `width` wide, each indented by `indent` and styled.
fn body(text: &str, width: usize, indent: usize, style: Style) -> Vec<Line<'static>> {
    text.lines()
        .flat_map(|l| text::wrap(&text::printable(l), width.saturating_sub(indent).max(4)))
        .map(|l| Line::from(format!("{}{l}", " ".repeat(indent))).style(style))
        .collect()
}

fn json(value: &serde_json::Value, width: usize) -> Vec<Line<'static>> {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    body(&pretty, width, 4, Style::new().dim())
}

fn head(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    let mut used = 0;
    let mut kept = Vec::new();
    for span in spans {
        let room = width.saturating_sub(used);
        if room == 0 {
            break;
        }
        let content = text::truncate(&span.content, room);
        used += text::width(&content);
        kept.push(Span::styled(content, span.style));
    }
    Line::from(kept)
}

fn status_style(status: &str) -> Style {
    match status {
        "completed" => Style::new().green(),
        "inProgress" | "running" => Style::new().yellow(),
        _ => Style::new().red(),
    }
}

fn line_count(text: &str) -> usize {
    text.lines().count()
}

/// Added and removed lines of a diff (not its `+++`/`---` headers).
fn diff_counts(diff: &str) -> (usize, usize) {
    let mut added = 0;
    let mut removed = 0;
    for line in diff.lines() {
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        if line.starts_with('+') {
            added += 1;
        } else if line.starts_with('-') {
            removed += 1;
        }
    }
    (added, removed)
}

/// A file's diff as lines and tones: codex gives an added or deleted file as its text,
/// which reads as all added (or removed) lines.
fn file_diff(file: &crate::bridge::items::FileDiff) -> Vec<(String, Tone)> {
    let whole = match file.change.as_str() {
        "add" if !file.diff.starts_with("@@") => Some(Tone::Added),
        "delete" if !file.diff.starts_with("@@") => Some(Tone::Removed),
        _ => None,
    };
    file.diff
        .lines()
        .map(|line| match whole {
            Some(Tone::Added) => (format!("+{line}"), Tone::Added),
            Some(tone) => (format!("-{line}"), tone),
            None => (line.to_string(), diff_tone(line)),
        })
        .collect()
}

/// How a diff line reads: its tone.
fn diff_tone(line: &str) -> Tone {
    if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff --git") {
        Tone::FileHeader
    } else if line.starts_with('+') {
        Tone::Added
    } else if line.starts_with('-') {
        Tone::Removed
    } else if line.starts_with("@@") {
        Tone::Hunk
    } else {
        Tone::Plain
    }
}

/// The style of a tone, shared by the transcript and the detail view.
pub fn tone_style(tone: Tone) -> Style {
    match tone {
        Tone::Auto | Tone::Plain => Style::new(),
        Tone::Heading => Style::new().bold(),
        Tone::FileHeader => Style::new().bold(),
        Tone::Added => Style::new().green(),
        Tone::Removed => Style::new().red(),
        Tone::Hunk => Style::new().cyan(),
        Tone::Dim => Style::new().dim(),
        Tone::Good => Style::new().green(),
        Tone::Warn => Style::new().yellow(),
        Tone::Bad => Style::new().red(),
    }
}

fn diff_lines(diff: &str, width: usize) -> Vec<Line<'static>> {
    diff.lines()
        .map(|l| {
            Line::from(text::truncate(
                &format!("    {}", text::printable(l)),
                width,
            ))
            .style(tone_style(diff_tone(l)))
        })
        .collect()
}

/// The files of a unified diff with their added and removed line counts.
fn diff_summary(diff: &str, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut current: Option<(String, String)> = None;
    let flush = |current: &mut Option<(String, String)>, lines: &mut Vec<Line<'static>>| {
        if let Some((path, body)) = current.take() {
            let (added, removed) = diff_counts(&body);
            lines.push(head(
                vec![
                    Span::styled("  M ", Style::new().yellow()),
                    Span::raw(format!("{path}  ")),
                    Span::styled(format!("+{added}"), Style::new().green()),
                    Span::raw(" "),
                    Span::styled(format!("-{removed}"), Style::new().red()),
                ],
                width,
            ));
        }
    };
    let files = diff_files(diff);
    let mut next_file = files.into_iter();
    for line in diff.lines() {
        if line.starts_with("diff --git") || (current.is_none() && line.starts_with("--- ")) {
            flush(&mut current, &mut lines);
            current = Some((next_file.next().unwrap_or_default(), String::new()));
        }
        if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(&mut current, &mut lines);
    lines
}

fn step_line(step: &PlanStep, width: usize) -> Line<'static> {
    let (mark, style) = match step.status.as_str() {
        "completed" => ("✔", Style::new().green()),
        "inProgress" => ("▶", Style::new().yellow().bold()),
        _ => ("○", Style::new()),
    };
    head(
        vec![
            Span::styled(format!("  {mark} "), style),
            Span::styled(step.step.clone(), style),
        ],
        width,
    )
}

/// The lines of one item row, `width` columns wide; `elapsed_ms` is how long ago the
/// row started (a running command counts it).
pub fn row_lines(
    row: &ItemRow,
    width: usize,
    expanded: bool,
    elapsed_ms: i64,
) -> Vec<Line<'static>> {
    match row {
        ItemRow::Command {
            command,
            cwd,
            status,
            exit_code,
            duration_ms,
            output,
            output_cut_bytes,
            output_lines,
            ..
        } => {
            let running = status == "inProgress";
            let count = if *output_lines > 0 {
                *output_lines
            } else {
                line_count(output)
            };
            let mut facts = status_word(status).to_string();
            if let Some(code) = exit_code {
                facts.push_str(&format!(" · exit {code}"));
            }
            match duration_ms {
                Some(ms) => facts.push_str(&format!(" · {ms} ms")),
                None if running => facts.push_str(&format!(" · {}", took(elapsed_ms))),
                None => {}
            }
            if running {
                facts.push_str(&format!(" · {count} line(s)"));
            }
            let mut lines = vec![head(
                vec![
                    Span::styled("$ ", Style::new().blue().bold()),
                    Span::styled(
                        format!("{}  ", text::printable(command)),
                        Style::new().bold(),
                    ),
                    Span::styled(facts, status_style(status)),
                    Span::raw(format!(" · {cwd}")).dim(),
                ],
                width,
            )];
            if expanded {
                if *output_cut_bytes > 0 {
                    lines.push(
                        Line::from(format!(
                            "    … {output_cut_bytes} earlier byte(s) only in the transcript file"
                        ))
                        .dim(),
                    );
                }
                lines.extend(body(output, width, 4, Style::new()));
            } else if running {
                // The last lines as they stream, under a bar that says they are live.
                let tail: Vec<&str> = output.lines().collect();
                let from = tail.len().saturating_sub(LIVE_TAIL_LINES);
                for line in &tail[from..] {
                    lines.push(head(
                        vec![
                            Span::styled("  │ ", Style::new().yellow()),
                            Span::raw(text::printable(line)),
                        ],
                        width,
                    ));
                }
            } else if count > 0 {
                lines.push(hint(4, count, "line(s) of output"));
            }
            lines
        }
        ItemRow::FileChange {
            status,
            files,
            output,
            ..
        } => {
            let mut lines = vec![head(
                vec![
                    Span::styled("✎ ", Style::new().magenta().bold()),
                    Span::styled(
                        format!("{} file(s) changed  ", files.len()),
                        Style::new().magenta(),
                    ),
                    Span::styled(status_word(status).to_string(), status_style(status)),
                ],
                width,
            )];
            for file in files {
                let (mark, style) = match file.change.as_str() {
                    "add" => ("A", Style::new().green()),
                    "delete" => ("D", Style::new().red()),
                    _ => ("M", Style::new().yellow()),
                };
                let to = file
                    .move_path
                    .as_ref()
                    .map(|p| format!(" → {p}"))
                    .unwrap_or_default();
                lines.push(head(
                    vec![
                        Span::styled(format!("  {mark} "), style),
                        Span::raw(format!("{}{to}  ", file.path)),
                        Span::raw(format!("{} line(s)", line_count(&file.diff))).dim(),
                    ],
                    width,
                ));
                if expanded {
                    lines.extend(file_diff(file).into_iter().map(|(line, tone)| {
                        Line::from(text::truncate(
                            &format!("    {}", text::printable(&line)),
                            width,
                        ))
                        .style(tone_style(tone))
                    }));
                }
            }
            if expanded && !output.is_empty() {
                lines.extend(body(output, width, 4, Style::new().dim()));
            }
            lines
        }
        ItemRow::Reasoning { summary, .. } => {
            let style = Style::new().magenta().add_modifier(Modifier::ITALIC);
            let text = if summary.iter().all(String::is_empty) {
                "(no summary)".to_string()
            } else {
                summary.join("\n")
            };
            let mut all = body(&text, width, 4, style);
            let mut lines = vec![Line::from(Span::styled("thinking ▸", style.bold()))];
            if !expanded && all.len() > FOLDED_REASONING_LINES {
                let more = all.len() - FOLDED_REASONING_LINES;
                all.truncate(FOLDED_REASONING_LINES);
                lines.extend(all);
                lines.push(hint(4, more, "more line(s)"));
            } else {
                lines.extend(all);
            }
            lines
        }
        ItemRow::Plan {
            explanation,
            steps,
            text,
            ..
        } => {
            let done = steps.iter().filter(|s| s.status == "completed").count();
            let mut lines = vec![head(
                vec![
                    Span::styled("≡ plan", Style::new().cyan().bold()),
                    Span::raw(if steps.is_empty() {
                        String::new()
                    } else {
                        format!("  {done} of {} done", steps.len())
                    })
                    .dim(),
                ],
                width,
            )];
            if expanded && let Some(explanation) = explanation {
                lines.extend(body(explanation, width, 2, Style::new().dim()));
            }
            lines.extend(steps.iter().map(|s| step_line(s, width)));
            if let Some(text) = text {
                let all = body(text, width, 2, Style::new());
                if expanded || all.len() <= FOLDED_REASONING_LINES {
                    lines.extend(all);
                } else {
                    let count = all.len();
                    lines.push(hint(2, count, "line(s)"));
                }
            }
            lines
        }
        ItemRow::McpToolCall {
            server,
            tool,
            status,
            arguments,
            result,
            error,
            duration_ms,
            ..
        } => {
            let took = duration_ms
                .map(|ms| format!(" · {ms} ms"))
                .unwrap_or_default();
            let mut lines = vec![head(
                vec![
                    Span::styled("⚙ ", Style::new().yellow().bold()),
                    Span::styled(format!("{server}.{tool}  "), Style::new().yellow()),
                    Span::styled(
                        format!("{}{took}  ", status_word(status)),
                        status_style(status),
                    ),
                    Span::raw(super::preview(arguments, width)).dim(),
                ],
                width,
            )];
            if let Some(error) = error {
                lines.extend(body(
                    &format!("error: {error}"),
                    width,
                    4,
                    Style::new().red(),
                ));
            }
            if expanded {
                lines.push(Line::from("    arguments").dim());
                lines.extend(json(arguments, width));
                if let Some(result) = result {
                    lines.push(Line::from("    result").dim());
                    lines.extend(json(result, width));
                }
            } else if result.is_some() {
                lines.push(Line::from("    … result (Enter shows all)").dim());
            }
            lines
        }
        ItemRow::WebSearch { query, action, .. } => {
            let mut lines = vec![head(
                vec![
                    Span::styled("⌕ web search  ", Style::new().blue().bold()),
                    Span::raw(query.clone()),
                ],
                width,
            )];
            if expanded && let Some(action) = action {
                lines.extend(json(action, width));
            }
            lines
        }
        ItemRow::ImageView { path, .. } => vec![head(
            vec![
                Span::styled("▣ viewed image  ", Style::new().blue().bold()),
                Span::raw(path.clone()),
            ],
            width,
        )],
        ItemRow::ReviewMode { .. } | ItemRow::ContextCompaction { .. } => {
            text::wrap(&format!("· {}", row.headline()), width)
                .into_iter()
                .map(|l| Line::from(l).cyan())
                .collect()
        }
        ItemRow::TurnDiff { diff } => {
            let (added, removed) = diff_counts(diff);
            let files = diff_files(diff);
            let mut lines = vec![head(
                vec![
                    Span::styled("± turn diff  ", Style::new().cyan().bold()),
                    Span::raw(format!("{} file(s)  ", files.len())),
                    Span::styled(format!("+{added}"), Style::new().green()),
                    Span::raw(" "),
                    Span::styled(format!("-{removed}"), Style::new().red()),
                ],
                width,
            )];
            if expanded {
                lines.extend(diff_lines(diff, width));
            } else {
                lines.extend(diff_summary(diff, width));
            }
            lines
        }
        ItemRow::Hook {
            event_name,
            handler_type,
            status,
            status_message,
            duration_ms,
            entries,
            source_path,
            ..
        } => {
            let took = duration_ms
                .map(|ms| format!(" · {ms} ms"))
                .unwrap_or_default();
            let mut lines = vec![head(
                vec![
                    Span::styled("↪ hook ", Style::new().blue().bold()),
                    Span::styled(format!("{event_name}  "), Style::new().blue()),
                    Span::raw(format!("{handler_type}  ")).dim(),
                    Span::styled(format!("{status}{took}"), status_style(status)),
                ],
                width,
            )];
            if let Some(message) = status_message {
                lines.extend(body(message, width, 4, Style::new()));
            }
            for entry in entries {
                let style = match entry.kind.as_str() {
                    "error" | "stop" => Style::new().red(),
                    "warning" => Style::new().yellow(),
                    _ => Style::new().dim(),
                };
                let all = body(&format!("{}: {}", entry.kind, entry.text), width, 4, style);
                if expanded {
                    lines.extend(all);
                } else {
                    lines.extend(all.into_iter().take(1));
                }
            }
            if expanded && let Some(path) = source_path {
                lines.push(Line::from(format!("    from {path}")).dim());
            }
            lines
        }
        ItemRow::ModelReroute {
            from_model,
            to_model,
            reason,
        } => vec![head(
            vec![
                Span::styled("⇄ model rerouted  ", Style::new().yellow().bold()),
                Span::raw(format!("{from_model} → {to_model}  ")),
                Span::raw(format!("({reason})")).dim(),
            ],
            width,
        )],
        ItemRow::Warning {
            source,
            message,
            details,
        } => {
            let style = Style::new().yellow();
            let mut lines: Vec<Line<'static>> = text::wrap(
                &format!("⚠ {}: {}", warning_label(*source), text::printable(message)),
                width,
            )
            .into_iter()
            .map(|l| Line::from(l).style(style))
            .collect();
            if let Some(details) = details {
                if expanded {
                    lines.extend(body(details, width, 2, Style::new().dim()));
                } else {
                    let count = line_count(details);
                    lines.push(hint(2, count, "line(s) of details"));
                }
            }
            lines
        }
        ItemRow::Error {
            message,
            details,
            code,
            will_retry,
        } => {
            let mut first = vec![
                Span::styled("✖ error  ", Style::new().red().bold()),
                Span::styled(text::printable(message), Style::new().red()),
            ];
            if let Some(code) = code {
                first.push(Span::raw(format!("  ({code})")).dim());
            }
            if *will_retry {
                first.push(Span::raw("  codex retries").yellow());
            }
            let mut lines = if expanded {
                text::wrap(
                    &first.iter().map(|s| s.content.as_ref()).collect::<String>(),
                    width,
                )
                .into_iter()
                .map(|l| Line::from(l).red())
                .collect()
            } else {
                vec![head(first, width)]
            };
            if let Some(details) = details {
                if expanded {
                    lines.extend(body(details, width, 2, Style::new()));
                } else {
                    lines.push(hint(2, line_count(details), "line(s) of details"));
                }
            }
            lines
        }
        ItemRow::Other {
            item_type, item, ..
        } => {
            let mut lines = vec![head(
                vec![
                    Span::styled("◇ ", Style::new().dim()),
                    Span::raw(format!("{item_type} item  ")),
                    Span::raw(super::preview(item, width)).dim(),
                ],
                width,
            )];
            if expanded {
                lines.extend(json(item, width));
            }
            lines
        }
    }
}

/// The detail view of an item row: what it is, as a header of facts, then its body for
/// reading (a command's output, each file's diff coloured, a plan's steps, ..).
/// `elapsed_ms`: how long ago the row started.
pub fn detail_lines(row: &ItemRow, elapsed_ms: i64) -> Vec<TextLine> {
    let mut out = Vec::new();
    let fact = |out: &mut Vec<TextLine>, name: &str, value: &str, tone: Tone| {
        out.push(TextLine::toned(0, &format!("{name:<9} {value}"), tone));
    };
    let text_block = |out: &mut Vec<TextLine>, text: &str, tone: Tone| {
        for line in text.split('\n') {
            out.push(TextLine::toned(0, line, tone));
        }
    };
    let diff_block = |out: &mut Vec<TextLine>, diff: &str| {
        for line in diff.lines() {
            out.push(TextLine::toned(0, line, diff_tone(line)));
        }
    };
    let status_tone = |status: &str| match status {
        "completed" => Tone::Good,
        "inProgress" | "running" => Tone::Warn,
        _ => Tone::Bad,
    };
    match row {
        ItemRow::Command {
            command,
            cwd,
            status,
            exit_code,
            duration_ms,
            output,
            output_cut_bytes,
            output_lines,
            ..
        } => {
            out.push(TextLine::toned(0, &format!("$ {command}"), Tone::Heading));
            fact(&mut out, "cwd", cwd, Tone::Plain);
            fact(&mut out, "status", status_word(status), status_tone(status));
            if let Some(code) = exit_code {
                let tone = if *code == 0 { Tone::Good } else { Tone::Bad };
                fact(&mut out, "exit code", &code.to_string(), tone);
            }
            match duration_ms {
                Some(ms) => fact(&mut out, "took", &took(*ms), Tone::Plain),
                None if status == "inProgress" => fact(
                    &mut out,
                    "running",
                    &format!("for {}", took(elapsed_ms)),
                    Tone::Warn,
                ),
                None => {}
            }
            let count = if *output_lines > 0 {
                *output_lines
            } else {
                count_lines(output)
            };
            fact(&mut out, "output", &format!("{count} line(s)"), Tone::Plain);
            out.push(TextLine::toned(0, "", Tone::Plain));
            if *output_cut_bytes > 0 {
                out.push(TextLine::toned(
                    0,
                    &format!(
                        "… {output_cut_bytes} earlier byte(s) are only in the transcript file"
                    ),
                    Tone::Dim,
                ));
            }
            let body = output.strip_suffix('\n').unwrap_or(output);
            if !body.is_empty() {
                text_block(&mut out, body, Tone::Plain);
            }
        }
        ItemRow::FileChange {
            status,
            files,
            output,
            ..
        } => {
            out.push(TextLine::toned(
                0,
                &format!("{} file(s) changed", files.len()),
                Tone::Heading,
            ));
            fact(&mut out, "status", status_word(status), status_tone(status));
            for file in files {
                out.push(TextLine::toned(0, "", Tone::Plain));
                let to = file
                    .move_path
                    .as_ref()
                    .map(|p| format!(" → {p}"))
                    .unwrap_or_default();
                let lines = file_diff(file);
                let added = lines.iter().filter(|(_, t)| *t == Tone::Added).count();
                let removed = lines.iter().filter(|(_, t)| *t == Tone::Removed).count();
                out.push(TextLine::toned(
                    0,
                    &format!("{} {}{to}  +{added} -{removed}", file.change, file.path),
                    Tone::FileHeader,
                ));
                for (line, tone) in lines {
                    out.push(TextLine::toned(0, &line, tone));
                }
            }
            if !output.is_empty() {
                out.push(TextLine::toned(0, "", Tone::Plain));
                out.push(TextLine::toned(0, "output", Tone::Heading));
                text_block(&mut out, output.trim_end(), Tone::Plain);
            }
        }
        ItemRow::TurnDiff { diff } => {
            let (added, removed) = diff_counts(diff);
            out.push(TextLine::toned(
                0,
                &format!(
                    "the turn's diff: {} file(s), +{added} -{removed}",
                    diff_files(diff).len()
                ),
                Tone::Heading,
            ));
            out.push(TextLine::toned(0, "", Tone::Plain));
            diff_block(&mut out, diff);
        }
        ItemRow::Reasoning { summary, .. } => {
            out.push(TextLine::toned(0, "reasoning summary", Tone::Heading));
            for part in summary {
                out.push(TextLine::toned(0, "", Tone::Plain));
                text_block(&mut out, part, Tone::Plain);
            }
        }
        ItemRow::Plan {
            explanation,
            steps,
            text,
            ..
        } => {
            let done = steps.iter().filter(|s| s.status == "completed").count();
            out.push(TextLine::toned(
                0,
                &format!("plan: {done} of {} step(s) done", steps.len()),
                Tone::Heading,
            ));
            if let Some(explanation) = explanation {
                text_block(&mut out, explanation, Tone::Dim);
            }
            for step in steps {
                let (mark, tone) = match step.status.as_str() {
                    "completed" => ("✔", Tone::Good),
                    "inProgress" => ("▶", Tone::Warn),
                    _ => ("○", Tone::Plain),
                };
                out.push(TextLine::toned(2, &format!("{mark} {}", step.step), tone));
            }
            if let Some(text) = text {
                text_block(&mut out, text, Tone::Plain);
            }
        }
        ItemRow::McpToolCall {
            server,
            tool,
            status,
            arguments,
            result,
            error,
            duration_ms,
            ..
        } => {
            out.push(TextLine::toned(
                0,
                &format!("{server}.{tool}"),
                Tone::Heading,
            ));
            fact(&mut out, "status", status_word(status), status_tone(status));
            if let Some(ms) = duration_ms {
                fact(&mut out, "took", &took(*ms), Tone::Plain);
            }
            if let Some(error) = error {
                fact(&mut out, "error", error, Tone::Bad);
            }
            out.push(TextLine::toned(0, "", Tone::Plain));
            out.push(TextLine::toned(0, "arguments", Tone::Heading));
            out.extend(text::value_lines(arguments));
            if let Some(result) = result {
                out.push(TextLine::toned(0, "", Tone::Plain));
                out.push(TextLine::toned(0, "result", Tone::Heading));
                out.extend(text::value_lines(result));
            }
        }
        ItemRow::Hook {
            run_id,
            event_name,
            handler_type,
            status,
            status_message,
            duration_ms,
            entries,
            source_path,
        } => {
            out.push(TextLine::toned(
                0,
                &format!("hook {event_name}"),
                Tone::Heading,
            ));
            fact(&mut out, "handler", handler_type, Tone::Plain);
            fact(&mut out, "status", status, status_tone(status));
            if let Some(ms) = duration_ms {
                fact(&mut out, "took", &took(*ms), Tone::Plain);
            }
            if let Some(path) = source_path {
                fact(&mut out, "from", path, Tone::Plain);
            }
            fact(&mut out, "run", run_id, Tone::Dim);
            if let Some(message) = status_message {
                out.push(TextLine::toned(0, "", Tone::Plain));
                text_block(&mut out, message, Tone::Plain);
            }
            for entry in entries {
                let tone = match entry.kind.as_str() {
                    "error" | "stop" => Tone::Bad,
                    "warning" => Tone::Warn,
                    _ => Tone::Plain,
                };
                out.push(TextLine::toned(0, "", Tone::Plain));
                out.push(TextLine::toned(0, &entry.kind, Tone::Heading));
                text_block(&mut out, &entry.text, tone);
            }
        }
        ItemRow::ModelReroute { .. }
        | ItemRow::WebSearch { .. }
        | ItemRow::ImageView { .. }
        | ItemRow::ReviewMode { .. }
        | ItemRow::ContextCompaction { .. } => {
            out.push(TextLine::toned(0, &row.headline(), Tone::Heading));
            if let ItemRow::WebSearch {
                action: Some(action),
                ..
            } = row
            {
                out.push(TextLine::toned(0, "", Tone::Plain));
                out.extend(text::value_lines(action));
            }
        }
        ItemRow::Warning {
            source,
            message,
            details,
        } => {
            out.push(TextLine::toned(0, warning_label(*source), Tone::Warn));
            text_block(&mut out, message, Tone::Plain);
            if let Some(details) = details {
                out.push(TextLine::toned(0, "", Tone::Plain));
                text_block(&mut out, details, Tone::Dim);
            }
        }
        ItemRow::Error {
            message,
            details,
            code,
            will_retry,
        } => {
            out.push(TextLine::toned(0, "error", Tone::Bad));
            text_block(&mut out, message, Tone::Plain);
            if let Some(code) = code {
                fact(&mut out, "kind", code, Tone::Plain);
            }
            if *will_retry {
                fact(&mut out, "retry", "codex retries the request", Tone::Warn);
            }
            if let Some(details) = details {
                out.push(TextLine::toned(0, "", Tone::Plain));
                text_block(&mut out, details, Tone::Plain);
            }
        }
        ItemRow::Other {
            item_type, item, ..
        } => {
            out.push(TextLine::toned(
                0,
                &format!("{item_type} item (a kind Switchboard does not show yet)"),
                Tone::Heading,
            ));
            out.push(TextLine::toned(0, "", Tone::Plain));
            out.extend(text::value_lines(item));
        }
    }
    out
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;

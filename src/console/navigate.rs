//! How keys and the mouse move through the views: `/` filters, the detail view, zoom,
//! list movement that keeps a stateful offset, scrolling that stops at the end. `App`
//! hands each key's action here first (`view_action`); what is not a view's business
//! goes on to the state machine in `app.rs`.

use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use serde_json::{Value, json};

use super::app::{App, Effect, Focus, Overlay, View, short};
use super::keys::{Action, Context};
use super::text::{self, TextLine};
use super::view::{Filter, Pager, plain};
use crate::bridge::{PendingCallView, SessionSummary, TranscriptEntry, TranscriptRow};

/// How the queue is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueOrder {
    #[default]
    Oldest,
    ByTool,
    BySession,
}

impl QueueOrder {
    pub fn label(self) -> &'static str {
        match self {
            QueueOrder::Oldest => "oldest first",
            QueueOrder::ByTool => "by tool",
            QueueOrder::BySession => "by session",
        }
    }
}

/// A call's tool as the operator knows it: `crm.get`, not `get`.
pub fn qualified_tool(call: &PendingCallView) -> String {
    match &call.namespace {
        Some(namespace) => format!("{namespace}.{}", call.tool),
        None => call.tool.clone(),
    }
}

/// A session's title: its own, unless that is only the default `session <id>`, in which
/// case the first user message (or `session <id>` while there is none).
pub fn session_title(app: &App, session: &SessionSummary) -> String {
    if !session.title.starts_with("session ") {
        return session.title.clone();
    }
    let first = app
        .model
        .transcripts
        .get(&session.thread_id)
        .and_then(|view| {
            view.rows.iter().find_map(|row| match &row.entry {
                TranscriptEntry::UserMessage { text } => {
                    text.lines().find(|l| !l.trim().is_empty()).map(str::trim)
                }
                _ => None,
            })
        });
    match first {
        Some(text) => text.to_string(),
        None => session.title.clone(),
    }
}

/// The text a transcript row is searched by.
pub fn row_search_text(row: &TranscriptRow) -> String {
    serde_json::to_string(&row.entry).unwrap_or_default()
}

impl App {
    /// The detail view and a filter being typed take keys before anything else.
    pub(super) fn view_context(&self) -> Option<Context> {
        if self.views.detail.is_some() {
            return Some(Context::Detail);
        }
        if self.overlays.is_empty() && self.focused_filter().is_some_and(|f| f.editing) {
            return Some(Context::Filter);
        }
        None
    }

    /// The filter of the focused list.
    pub fn focused_filter(&self) -> Option<&Filter> {
        match self.view {
            View::ProtocolLog => Some(&self.views.log_filter),
            View::Inspector => Some(&self.views.inspector_filter),
            View::Main => match self.focus {
                Focus::Sessions => Some(&self.views.sessions_filter),
                Focus::Transcript => Some(&self.views.transcript_filter),
                Focus::Queue => Some(&self.views.queue_filter),
                Focus::Composer => None,
            },
        }
    }

    fn focused_filter_mut(&mut self) -> Option<&mut Filter> {
        match self.view {
            View::ProtocolLog => Some(&mut self.views.log_filter),
            View::Inspector => Some(&mut self.views.inspector_filter),
            View::Main => match self.focus {
                Focus::Sessions => Some(&mut self.views.sessions_filter),
                Focus::Transcript => Some(&mut self.views.transcript_filter),
                Focus::Queue => Some(&mut self.views.queue_filter),
                Focus::Composer => None,
            },
        }
    }

    /// A key typed into the focused filter.
    pub(super) fn filter_input(&mut self, key: &KeyEvent) {
        if let Some(filter) = self.focused_filter_mut() {
            filter.input(key);
        }
        self.after_filter_change();
    }

    pub(super) fn filter_paste(&mut self, pasted: &str) {
        if let Some(filter) = self.focused_filter_mut() {
            let text = format!("{}{pasted}", filter.text());
            filter.set(&text);
        }
        self.after_filter_change();
    }

    /// Keeps each selection on a row its filter shows.
    fn after_filter_change(&mut self) {
        let rows = self.queue_rows();
        if !rows.is_empty() && !rows.contains(&self.selected_call) {
            self.selected_call = rows[0];
        }
        let sessions = self.session_rows();
        if !sessions.is_empty() && !sessions.contains(&self.selected_session) {
            self.selected_session = sessions[0];
        }
        let tools = self.inspector_rows();
        if !tools.is_empty() && !tools.contains(&self.inspector_selected) {
            self.inspector_selected = tools[0];
        }
        self.views.log_follow = true;
        if let Some(thread) = self.selected_thread().map(str::to_string) {
            self.transcript_scroll.entry(thread).or_default().follow = true;
        }
    }

    /// The queue's rows: indices into `pending`, filtered and ordered.
    pub fn queue_rows(&self) -> Vec<usize> {
        let filter = &self.views.queue_filter;
        let mut rows: Vec<usize> = (0..self.model.pending.len())
            .filter(|&i| !filter.is_active() || filter.matches(&self.call_search_text(i)))
            .collect();
        match self.views.queue_order {
            QueueOrder::Oldest => {}
            QueueOrder::ByTool => {
                rows.sort_by_cached_key(|&i| qualified_tool(&self.model.pending[i]))
            }
            QueueOrder::BySession => {
                rows.sort_by_cached_key(|&i| self.model.pending[i].thread_id.clone())
            }
        }
        rows
    }

    fn call_search_text(&self, index: usize) -> String {
        let call = &self.model.pending[index];
        let title = self
            .model
            .sessions
            .iter()
            .find(|s| s.thread_id == call.thread_id)
            .map(|s| session_title(self, s))
            .unwrap_or_default();
        format!(
            "{} {} {} {} {}",
            qualified_tool(call),
            call.thread_id,
            title,
            super::app::answerer_label(&self.claims, call),
            text::summary(&call.arguments)
        )
    }

    /// The sessions list's rows: indices into `sessions`.
    pub fn session_rows(&self) -> Vec<usize> {
        let filter = &self.views.sessions_filter;
        (0..self.model.sessions.len())
            .filter(|&i| {
                let s = &self.model.sessions[i];
                !filter.is_active()
                    || filter.matches(&format!(
                        "{} {} {}",
                        session_title(self, s),
                        s.thread_id,
                        self.session_badge(s)
                    ))
            })
            .collect()
    }

    /// The inspector's rows: indices into the catalog's tools.
    pub fn inspector_rows(&self) -> Vec<usize> {
        let filter = &self.views.inspector_filter;
        (0..self.catalog.tools.len())
            .filter(|&i| {
                let t = &self.catalog.tools[i];
                !filter.is_active()
                    || filter.matches(&format!("{} {}", t.qualified_name(), t.description))
            })
            .collect()
    }

    /// The protocol log's rows: indices into its lines.
    pub fn log_rows(&self) -> Vec<usize> {
        let filter = &self.views.log_filter;
        (0..self.protocol.lines.len())
            .filter(|&i| !filter.is_active() || filter.matches(&self.protocol.lines[i].text))
            .collect()
    }

    /// The selected transcript's rows that match its filter.
    pub fn transcript_rows(&self, thread: &str) -> Vec<usize> {
        let filter = &self.views.transcript_filter;
        let Some(view) = self.model.transcripts.get(thread) else {
            return Vec::new();
        };
        (0..view.rows.len())
            .filter(|&i| !filter.is_active() || filter.matches(&row_search_text(&view.rows[i])))
            .collect()
    }

    /// The transcript row selected in `thread`: while following, the last row its filter
    /// shows; scrolled, the cursor's.
    pub(super) fn transcript_selected(&self, thread: &str) -> Option<usize> {
        let view = self.transcript(thread)?;
        if view.follow {
            self.transcript_rows(thread).last().copied()
        } else {
            (!view.rows.is_empty()).then(|| view.bottom())
        }
    }

    /// Moves the queue's selection by `delta` rows among those it shows.
    pub(super) fn queue_step(&mut self, delta: isize) {
        let rows = self.queue_rows();
        self.selected_call = moved(&rows, self.selected_call, delta);
        self.follow_selected_call();
    }

    /// The tool-call editor when it is the top layer.
    fn top_tool_call(&self) -> Option<&super::editor::ResponseEditor> {
        match self.top() {
            Some(Overlay::Card(card)) => card.tool_call(),
            _ => None,
        }
    }

    /// The actions of the views; `None` leaves the action to the state machine.
    pub(super) fn view_action(&mut self, action: Action) -> Option<Vec<Effect>> {
        match action {
            Action::Filter => {
                if let Some(filter) = self.focused_filter_mut() {
                    filter.editing = true;
                }
            }
            Action::FilterApply => {
                if let Some(filter) = self.focused_filter_mut() {
                    filter.editing = false;
                }
            }
            Action::FilterClear => {
                if let Some(filter) = self.focused_filter_mut() {
                    filter.clear();
                }
                self.after_filter_change();
            }
            Action::Detail => self.open_detail(),
            Action::Back if self.views.detail.is_some() => self.views.detail = None,
            Action::Zoom => self.views.zoom = !self.views.zoom,
            Action::GroupQueue => {
                self.views.queue_order = match self.views.queue_order {
                    QueueOrder::Oldest => QueueOrder::ByTool,
                    QueueOrder::ByTool => QueueOrder::BySession,
                    QueueOrder::BySession => QueueOrder::Oldest,
                };
            }
            Action::ContextUp
            | Action::ContextDown
            | Action::ContextPageUp
            | Action::ContextPageDown => {
                let Some(id) = self.top_tool_call().map(|e| e.call.request_id.clone()) else {
                    return Some(Vec::new());
                };
                let scroll = &self.views.editor.for_call(&id).arguments;
                match action {
                    Action::ContextUp => scroll.by(-1),
                    Action::ContextDown => scroll.by(1),
                    Action::ContextPageUp => scroll.pages(-1),
                    _ => scroll.pages(1),
                }
            }
            Action::OpenCall if self.overlays.is_empty() && self.focus == Focus::Queue => {
                // Never open a call the filter hides.
                let rows = self.queue_rows();
                if rows.is_empty() {
                    self.notice = Some("no call matches the filter (Esc clears it)".to_string());
                    return Some(Vec::new());
                }
                if !rows.contains(&self.selected_call) {
                    self.selected_call = rows[0];
                }
                return None;
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => return self.view_move(action).then(Vec::new),
            _ => return None,
        }
        Some(Vec::new())
    }

    /// Moves in the focused list or scrolls the focused text; false when the state
    /// machine moves (the thread picker).
    fn view_move(&mut self, action: Action) -> bool {
        let step = |page: usize| -> isize {
            let page = page.saturating_sub(1).max(1) as isize;
            match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -page,
                Action::PageDown => page,
                Action::Top => isize::MIN / 2,
                _ => isize::MAX / 2,
            }
        };
        if let Some(pager) = &self.views.detail {
            scroll_by(&pager.scroll, action);
            return true;
        }
        match self.top() {
            Some(Overlay::Help { .. }) => {
                scroll_by(&self.views.help, action);
                return true;
            }
            Some(_) => return false,
            None => {}
        }
        match self.view {
            View::Inspector => match action {
                Action::Up | Action::Down | Action::Top | Action::Bottom => {
                    let rows = self.inspector_rows();
                    self.inspector_selected = moved(&rows, self.inspector_selected, step(1));
                    self.views.inspector_detail.home();
                }
                _ => scroll_by(&self.views.inspector_detail, action),
            },
            View::ProtocolLog => {
                let rows = self.log_rows();
                let current = if self.views.log_follow {
                    rows.last().copied().unwrap_or(0)
                } else {
                    self.log_selected_index(&rows)
                };
                let next = moved(&rows, current, step(self.views.log.page()));
                self.views.log_follow = rows.last() == Some(&next) && step(1) > 0;
                self.views.log_selected = self.protocol.dropped + next as u64;
            }
            View::Main => match self.focus {
                Focus::Sessions => {
                    let rows = self.session_rows();
                    self.selected_session = moved(
                        &rows,
                        self.selected_session,
                        step(self.views.sessions.page()),
                    );
                }
                Focus::Queue => {
                    let rows = self.queue_rows();
                    self.selected_call =
                        moved(&rows, self.selected_call, step(self.views.queue.page()));
                    self.follow_selected_call();
                }
                Focus::Transcript => self.transcript_move(action),
                Focus::Composer => {}
            },
        }
        true
    }

    /// The selected protocol line's index, found by its number since the start.
    pub fn log_selected_index(&self, rows: &[usize]) -> usize {
        let wanted = self
            .views
            .log_selected
            .saturating_sub(self.protocol.dropped) as usize;
        rows.iter()
            .copied()
            .min_by_key(|&i| i.abs_diff(wanted))
            .unwrap_or(0)
    }

    /// Transcript movement: by row, but a selected row taller than the pane scrolls
    /// through its lines first, so every line of it can be read from its top.
    fn transcript_move(&mut self, action: Action) {
        let Some(thread) = self.selected_thread().map(str::to_string) else {
            return;
        };
        let rows = self.transcript_rows(&thread);
        let inside = &self.views.transcript_inside;
        let (row_lines, page) = self.views.transcript_measure.get();
        let view = self.transcript_scroll.entry(thread).or_default();
        let current = if view.follow {
            rows.last().copied().unwrap_or(0)
        } else {
            view.cursor
        };
        let tall = !view.follow && row_lines > page;
        let line_step: isize = match action {
            Action::Up => -1,
            Action::Down => 1,
            Action::PageUp => -(page.saturating_sub(1).max(1) as isize),
            Action::PageDown => page.saturating_sub(1).max(1) as isize,
            _ => 0,
        };
        if tall && line_step != 0 {
            let top = inside.top();
            let last_top = row_lines - page;
            if (line_step < 0 && top > 0) || (line_step > 0 && top < last_top) {
                inside.by(line_step);
                inside.clamp(row_lines, page);
                return;
            }
        }
        let delta = match action {
            Action::Up => -1,
            Action::Down => 1,
            Action::PageUp => -((page / 2).max(1) as isize),
            Action::PageDown => (page / 2).max(1) as isize,
            Action::Top => isize::MIN / 2,
            _ => isize::MAX / 2,
        };
        let next = moved(&rows, current, delta);
        inside.home();
        view.cursor = next;
        view.follow = rows.last() == Some(&next) && delta > 0;
    }

    /// Opens the detail view on what is selected where the operator is.
    fn open_detail(&mut self) {
        let pager = match (self.top(), self.view, self.focus) {
            (Some(Overlay::Card(card)), _, _) => card
                .tool_call()
                .map(|editor| call_pager(&self.claims, &editor.call, editor.input_schema.as_ref())),
            (Some(_), _, _) => None,
            (None, View::ProtocolLog, _) => {
                let rows = self.log_rows();
                let index = if self.views.log_follow {
                    rows.last().copied()
                } else {
                    Some(self.log_selected_index(&rows))
                };
                index.and_then(|i| self.protocol.lines.get(i)).map(|line| {
                    let value = serde_json::from_str::<Value>(&line.text)
                        .unwrap_or_else(|_| Value::String(line.text.to_string()));
                    let direction = match line.direction {
                        crate::appserver::Direction::In => "from app-server",
                        crate::appserver::Direction::Out => "to app-server",
                    };
                    Pager::new(
                        format!(" Protocol line {direction} "),
                        text::value_lines(&value),
                    )
                })
            }
            (None, View::Inspector, _) => {
                self.catalog.tools.get(self.inspector_selected).map(|t| {
                    let mut sections = vec![("input schema", &t.input_schema)];
                    if let Some(output) = &t.output_schema {
                        sections.push(("output schema", output));
                    }
                    let mut pager =
                        Pager::sections(format!(" Tool {} ", t.qualified_name()), &sections);
                    pager.prepend(vec![plain(&t.description), plain("")]);
                    pager
                })
            }
            (None, View::Main, Focus::Queue) => {
                let tool = self.selected_call().and_then(|c| {
                    self.catalog
                        .tool(c.namespace.as_deref(), &c.tool)
                        .map(|t| t.input_schema.clone())
                });
                self.selected_call()
                    .map(|c| call_pager(&self.claims, c, tool.as_ref()))
            }
            (None, View::Main, Focus::Transcript) => self.selected_thread().and_then(|thread| {
                let view = self.transcript(thread)?;
                let row = view.rows.get(self.transcript_selected(thread)?)?;
                Some(row_pager(row, thread, self.now_ms))
            }),
            (None, View::Main, Focus::Sessions) => {
                self.model.sessions.get(self.selected_session).map(|s| {
                    let value = serde_json::to_value(s).unwrap_or(Value::Null);
                    Pager::new(
                        format!(" Session {} ", short(&s.thread_id)),
                        text::value_lines(&value),
                    )
                })
            }
            (None, View::Main, Focus::Composer) => None,
        };
        match pager {
            Some(pager) => self.views.detail = Some(pager),
            None => self.notice = Some("nothing selected to view".to_string()),
        }
    }

    /// Mouse input the views handle: the wheel over any list or text, clicks in the
    /// sessions list and the queue (by the offset they were drawn with). `None` leaves
    /// the event to the state machine.
    pub(super) fn view_mouse(&mut self, mouse: MouseEvent, screen: Rect) -> Option<Vec<Effect>> {
        let at = Position::new(mouse.column, mouse.row);
        let wheel = match mouse.kind {
            MouseEventKind::ScrollUp => Some(Action::Up),
            MouseEventKind::ScrollDown => Some(Action::Down),
            _ => None,
        };
        if self.views.detail.is_some() || matches!(self.top(), Some(Overlay::Help { .. })) {
            if let Some(action) = wheel {
                for _ in 0..3 {
                    self.view_move(action);
                }
            }
            return Some(Vec::new());
        }
        if let Some(Overlay::Card(card)) = self.top() {
            if let Some(action) = wheel
                && let Some(id) = card.tool_call().map(|e| e.call.request_id.clone())
            {
                self.views
                    .editor
                    .for_call(&id)
                    .arguments
                    .by(if action == Action::Up { -3 } else { 3 });
            }
            return Some(Vec::new());
        }
        if !self.overlays.is_empty() {
            return None;
        }
        if self.view != View::Main {
            if let Some(action) = wheel {
                let action = match (self.view, action) {
                    (View::Inspector, Action::Up) => Action::PageUp,
                    (View::Inspector, _) => Action::PageDown,
                    (_, a) => a,
                };
                let repeat = if self.view == View::Inspector { 1 } else { 3 };
                for _ in 0..repeat {
                    self.view_move(action);
                }
            }
            return Some(Vec::new());
        }
        let areas = super::ui::layout(self, screen);
        let over = [
            (areas.sessions, Focus::Sessions),
            (areas.transcript, Focus::Transcript),
            (areas.queue, Focus::Queue),
        ]
        .into_iter()
        .find(|(area, _)| area.contains(at))
        .map(|(_, focus)| focus);
        if let Some(action) = wheel {
            if let Some(focus) = over {
                let before = self.focus;
                self.focus = focus;
                for _ in 0..3 {
                    self.view_move(action);
                }
                self.focus = before;
            }
            return Some(Vec::new());
        }
        if mouse.kind != MouseEventKind::Down(MouseButton::Left) {
            return None;
        }
        match over {
            Some(Focus::Sessions) => {
                self.focus = Focus::Sessions;
                // Each session takes two lines: its title and its badge.
                let row = usize::from(at.y.saturating_sub(areas.sessions.y + 1)) / 2;
                let rows = self.session_rows();
                if let Some(&index) = rows.get(self.views.sessions.get() + row) {
                    self.selected_session = index;
                }
                Some(Vec::new())
            }
            Some(Focus::Queue) => {
                self.focus = Focus::Queue;
                // Row 0 is the border, row 1 the column header.
                let Some(row) = at.y.checked_sub(areas.queue.y + 2) else {
                    return Some(Vec::new());
                };
                let rows = self.queue_rows();
                if let Some(&index) = rows.get(self.views.queue.get() + usize::from(row)) {
                    let again = index == self.selected_call;
                    self.selected_call = index;
                    self.follow_selected_call();
                    if again {
                        return Some(self.on_key(KeyEvent::from(crossterm::event::KeyCode::Enter)));
                    }
                }
                Some(Vec::new())
            }
            _ => None,
        }
    }
}

/// `current` moved by `delta` among `rows` (a list's visible indices), clamped to its
/// ends; a current row the list no longer shows moves from the nearest one.
fn moved(rows: &[usize], current: usize, delta: isize) -> usize {
    if rows.is_empty() {
        return current;
    }
    let at = rows
        .iter()
        .position(|&i| i >= current)
        .unwrap_or(rows.len() - 1);
    let next = at.saturating_add_signed(delta).min(rows.len() - 1);
    rows[next]
}

fn scroll_by(scroll: &super::view::Scroll, action: Action) {
    match action {
        Action::Up => scroll.by(-1),
        Action::Down => scroll.by(1),
        Action::PageUp => scroll.pages(-1),
        Action::PageDown => scroll.pages(1),
        Action::Top => scroll.home(),
        _ => scroll.end(),
    }
}

/// A call in full: what it is, its schema problems first, its arguments, a proposed
/// answer, the tool's input schema.
pub fn call_pager(
    claims: &super::claims::Claims,
    call: &PendingCallView,
    schema: Option<&Value>,
) -> Pager {
    let mut lines = vec![
        plain(&format!(
            "tool {} · call {} · session {} · answered by {}",
            qualified_tool(call),
            call.call_id,
            short(&call.thread_id),
            super::app::answerer_label(claims, call)
        )),
        plain(""),
    ];
    if !call.schema_problems.is_empty() {
        lines.push(plain("schema problems"));
        for problem in &call.schema_problems {
            lines.push(plain(&format!("⚠ {problem}")));
        }
        lines.push(plain(""));
    }
    lines.push(plain("arguments"));
    lines.extend(text::value_lines(&call.arguments));
    if let Some(proposed) = &call.proposed {
        lines.push(plain(""));
        lines.push(plain("proposed answer"));
        lines.extend(result_lines(proposed));
    }
    lines.push(plain(""));
    lines.push(plain("input schema"));
    match schema {
        Some(schema) => lines.extend(text::value_lines(schema)),
        None => lines.push(plain("(tool not in the catalog)")),
    }
    Pager::new(format!(" Call {} ", qualified_tool(call)), lines)
}

/// An answer: its text items as text, then the whole result as JSON.
fn result_lines(result: &crate::protocol::ToolCallResult) -> Vec<TextLine> {
    let value = serde_json::to_value(result).unwrap_or(Value::Null);
    text::value_lines(&value)
}

/// A transcript row in full.
/// The detail view of a transcript row of session `thread`: an item row as its pager
/// (`ui/items.rs`, kept current while it is live), any other as its JSON.
pub fn row_pager(row: &TranscriptRow, thread: &str, now_ms: i64) -> Pager {
    if let TranscriptEntry::Item(item) = &row.entry {
        let mut pager = Pager::new(
            format!(" {} ", item_title(item)),
            crate::console::ui::items::detail_lines(item, now_ms - row.at_ms),
        );
        pager.source = Some((thread.to_string(), row.seq));
        return pager;
    }
    let (title, value) = match &row.entry {
        TranscriptEntry::UserMessage { text } => ("your message".to_string(), json!(text)),
        TranscriptEntry::AgentMessage { text, .. } => {
            ("assistant message".to_string(), json!(text))
        }
        TranscriptEntry::Error { message } => ("error".to_string(), json!(message)),
        TranscriptEntry::Notice { message } => ("notice".to_string(), json!(message)),
        TranscriptEntry::ToolCallRequest {
            tool,
            namespace,
            arguments,
            ..
        } => (
            format!(
                "{} requested",
                crate::catalog::qualified_name(namespace.as_deref(), tool)
            ),
            arguments.clone(),
        ),
        TranscriptEntry::ToolCallResolved { tool, .. } => (
            format!("{tool} resolved"),
            serde_json::to_value(&row.entry).unwrap_or(Value::Null),
        ),
        _ => (
            "transcript row".to_string(),
            serde_json::to_value(&row.entry).unwrap_or(Value::Null),
        ),
    };
    Pager::new(format!(" {title} "), text::value_lines(&value))
}

/// The detail view's title for an item row.
fn item_title(item: &crate::bridge::items::ItemRow) -> String {
    use crate::bridge::items::ItemRow;
    match item {
        ItemRow::Command { status, .. } if status == "inProgress" => {
            "Command (running)".to_string()
        }
        ItemRow::Command { .. } => "Command".to_string(),
        ItemRow::FileChange { .. } => "File change".to_string(),
        ItemRow::TurnDiff { .. } => "Turn diff".to_string(),
        ItemRow::Reasoning { .. } => "Reasoning".to_string(),
        ItemRow::Plan { .. } => "Plan".to_string(),
        ItemRow::McpToolCall { .. } => "MCP tool call".to_string(),
        ItemRow::WebSearch { .. } => "Web search".to_string(),
        ItemRow::ImageView { .. } => "Image view".to_string(),
        ItemRow::ReviewMode { .. } => "Review mode".to_string(),
        ItemRow::ContextCompaction { .. } => "Context compaction".to_string(),
        ItemRow::Hook { .. } => "Hook run".to_string(),
        ItemRow::ModelReroute { .. } => "Model reroute".to_string(),
        ItemRow::Warning { .. } => "Warning".to_string(),
        ItemRow::Error { .. } => "Error".to_string(),
        ItemRow::Other { item_type, .. } => format!("{item_type} item"),
    }
}

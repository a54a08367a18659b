//! What the console keeps about how things are shown, beside what it shows: scroll
//! positions, list offsets, filters, the detail view (a pager) and the zoomed pane.
//!
//! Heights are only known when a frame is drawn, so drawing clamps a scroll position to
//! its content and keeps a list's offset from the last frame (in a `Cell`): keys then
//! never scroll past the end, moving up does not pin the selection to the last visible
//! row, and a click lands on the row that was drawn there.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;

use super::text::{self, TextLine};

/// Lines wrapped to a width, kept until the width changes.
type WrapCache = RefCell<Option<(usize, Arc<Vec<TextLine>>)>>;

/// Per tool, the argument keys whose values differ between its pending calls.
pub type VaryingKeys = std::collections::HashMap<String, Vec<String>>;

/// A transcript row laid out: the width, fold and time (a running command shows its
/// elapsed time) it was laid out for, the row as it was (a live row changes in place),
/// and its lines.
pub type LaidRow = (
    (usize, bool, i64),
    crate::bridge::TranscriptRow,
    Arc<Vec<ratatui::text::Line<'static>>>,
);

/// A scroll position over lines whose number is known when drawn.
#[derive(Debug, Default)]
pub struct Scroll {
    top: Cell<usize>,
    page: Cell<usize>,
}

impl Scroll {
    /// The first line shown at the last frame (or as set since).
    pub fn top(&self) -> usize {
        self.top.get()
    }

    pub fn by(&self, delta: isize) {
        self.top.set(self.top.get().saturating_add_signed(delta));
    }

    /// Scrolls by `pages` screens (a screen less one line, so a line stays in view).
    pub fn pages(&self, pages: isize) {
        let page = self.page.get().saturating_sub(1).max(1);
        self.by(pages.saturating_mul(page as isize));
    }

    pub fn home(&self) {
        self.top.set(0);
    }

    pub fn end(&self) {
        self.top.set(usize::MAX / 2);
    }

    /// Clamps to `total` lines shown `height` at a time; returns the first line to draw.
    pub fn clamp(&self, total: usize, height: usize) -> usize {
        self.page.set(height);
        let top = self.top.get().min(total.saturating_sub(height));
        self.top.set(top);
        top
    }
}

/// The first row a list shows, kept from frame to frame.
#[derive(Debug, Default)]
pub struct ListOffset {
    offset: Cell<usize>,
    page: Cell<usize>,
}

impl ListOffset {
    /// The first of `len` rows to draw in `height` rows so that row `selected` shows:
    /// the last frame's offset where the selection is still inside it.
    pub fn window(&self, selected: usize, len: usize, height: usize) -> usize {
        let height = height.max(1);
        let mut offset = self.offset.get().min(len.saturating_sub(height));
        if selected < offset {
            offset = selected;
        } else if selected >= offset + height {
            offset = selected + 1 - height;
        }
        self.offset.set(offset);
        self.page.set(height);
        offset
    }

    /// The offset drawn at the last frame.
    pub fn get(&self) -> usize {
        self.offset.get()
    }

    /// Rows shown at the last frame (at least 1).
    pub fn page(&self) -> usize {
        self.page.get().max(1)
    }
}

/// A `/` filter over a list: case-insensitive substring.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    text: String,
    lower: String,
    /// Keys go to the filter text.
    pub editing: bool,
}

impl Filter {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_active(&self) -> bool {
        !self.text.is_empty()
    }

    pub fn set(&mut self, text: &str) {
        self.text = text.replace(['\n', '\r'], " ");
        self.lower = self.text.to_lowercase();
    }

    /// Typing into the filter: characters, Backspace, ^U (clear the text). Returns
    /// whether the key was taken.
    pub fn input(&mut self, key: &KeyEvent) -> bool {
        let mut text = self.text.clone();
        match key.code {
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                text.push(c)
            }
            KeyCode::Backspace => {
                text.pop();
            }
            _ => return false,
        }
        self.set(&text);
        true
    }

    /// Esc: the filter is gone.
    pub fn clear(&mut self) {
        self.set("");
        self.editing = false;
    }

    pub fn matches(&self, haystack: &str) -> bool {
        text::contains_ignore_case(haystack, &self.lower)
    }

    /// `/text` for a pane's title, `` when there is no filter.
    pub fn label(&self) -> String {
        if self.editing {
            format!(" /{}▏", self.text)
        } else if self.is_active() {
            format!(" /{}", self.text)
        } else {
            String::new()
        }
    }
}

/// A full-screen detail view of one thing: a call, an answer, a transcript row, a
/// protocol line. Wrapped, scrollable from top to bottom.
#[derive(Debug)]
pub struct Pager {
    pub title: String,
    lines: Vec<TextLine>,
    wrapped: WrapCache,
    pub scroll: Scroll,
    /// The transcript row shown (session, row number), so that a live row's changes
    /// reach the open pager.
    pub source: Option<(String, u64)>,
}

impl Pager {
    pub fn new(title: impl Into<String>, lines: Vec<TextLine>) -> Pager {
        Pager {
            title: title.into(),
            lines,
            wrapped: RefCell::new(None),
            scroll: Scroll::default(),
            source: None,
        }
    }

    /// New lines and title for what the pager shows (a live row changed); the scroll
    /// stays where it is.
    pub fn replace(&mut self, title: String, lines: Vec<TextLine>) {
        self.title = title;
        self.lines = lines;
        *self.wrapped.borrow_mut() = None;
    }

    /// A pager over sections: each a heading and a value shown for reading.
    pub fn sections(title: impl Into<String>, sections: &[(&str, &Value)]) -> Pager {
        let mut lines = Vec::new();
        for (i, (heading, value)) in sections.iter().enumerate() {
            if i > 0 {
                lines.push(plain(""));
            }
            lines.push(plain(heading));
            lines.extend(text::value_lines(value));
        }
        Pager::new(title, lines)
    }

    /// The pager's lines, unwrapped.
    pub fn into_lines(self) -> Vec<TextLine> {
        self.lines
    }

    /// Puts `lines` before the pager's own.
    pub fn prepend(&mut self, mut lines: Vec<TextLine>) {
        lines.append(&mut self.lines);
        self.lines = lines;
        *self.wrapped.borrow_mut() = None;
    }

    /// The lines wrapped to `width`, computed once per width.
    pub fn wrapped(&self, width: usize) -> Arc<Vec<TextLine>> {
        cached_wrap(&self.wrapped, &self.lines, width)
    }
}

/// A heading or a plain line in a pager.
pub fn plain(text: &str) -> TextLine {
    TextLine {
        indent: 0,
        text: text::printable(text),
        is_text: false,
        tone: text::Tone::Auto,
    }
}

fn cached_wrap(cache: &WrapCache, lines: &[TextLine], width: usize) -> Arc<Vec<TextLine>> {
    if let Some((cached_width, wrapped)) = &*cache.borrow()
        && *cached_width == width
    {
        return wrapped.clone();
    }
    let wrapped = Arc::new(text::wrap_lines(lines, width));
    *cache.borrow_mut() = Some((width, wrapped.clone()));
    wrapped
}

/// How the response editor shows its call: the arguments pane's scroll and whether the
/// input schema is unfolded. Kept per call (by request id).
#[derive(Debug, Default)]
pub struct EditorView {
    request_id: String,
    pub arguments: Scroll,
    pub show_schema: bool,
    lines: RefCell<Option<(String, Vec<TextLine>)>>,
    wrapped: WrapCache,
}

impl EditorView {
    /// Starts over when the editor is on another call than last time.
    pub fn for_call(&mut self, request_id: &str) -> &mut EditorView {
        if self.request_id != request_id {
            *self = EditorView {
                request_id: request_id.to_string(),
                ..EditorView::default()
            };
        }
        self
    }

    /// The scroll of the arguments pane, 0 when it was set for another call.
    pub fn is_for(&self, request_id: &str) -> bool {
        self.request_id == request_id
    }

    /// The context pane's lines for `request_id` (built by `build` once per call),
    /// wrapped to `width` (once per width).
    pub fn lines(
        &self,
        request_id: &str,
        width: usize,
        build: impl FnOnce() -> Vec<TextLine>,
    ) -> Arc<Vec<TextLine>> {
        let mut lines = self.lines.borrow_mut();
        if lines.as_ref().is_none_or(|(id, _)| id != request_id) {
            *lines = Some((request_id.to_string(), build()));
            *self.wrapped.borrow_mut() = None;
        }
        let built = lines.as_ref().map(|(_, l)| l.as_slice()).unwrap_or(&[]);
        cached_wrap(&self.wrapped, built, width)
    }
}

/// Every filter, offset and scroll of the console's views.
#[derive(Debug)]
pub struct Views {
    pub queue: ListOffset,
    pub queue_filter: Filter,
    pub sessions: ListOffset,
    pub sessions_filter: Filter,
    pub transcript_filter: Filter,
    pub queue_order: super::navigate::QueueOrder,
    pub log: ListOffset,
    pub log_filter: Filter,
    /// The protocol log follows its newest line.
    pub log_follow: bool,
    /// The selected protocol line, numbered since the console started (so it stays put
    /// as lines arrive and old ones drop).
    pub log_selected: u64,
    /// The first transcript row drawn at the last frame (while not following).
    pub transcript_top: Cell<Option<usize>>,
    /// The selected transcript row's scroll when it is taller than the pane.
    pub transcript_inside: Scroll,
    /// The selected transcript row's height and the pane's, at the last frame.
    pub transcript_measure: Cell<(usize, usize)>,
    /// The selected transcript row as last laid out (width, expanded, the row, its
    /// lines), so a tall row (an expanded output) is not laid out again every frame.
    pub transcript_laid: RefCell<Option<LaidRow>>,
    /// The queue's argument keys that tell calls of each tool apart, with the pending set
    /// they were worked out for (a hash of its request ids): worked out again only when
    /// that set changes, not every frame.
    pub queue_varying: RefCell<Option<(u64, VaryingKeys)>>,
    pub inspector: ListOffset,
    pub inspector_filter: Filter,
    pub inspector_detail: Scroll,
    pub help: Scroll,
    pub editor: EditorView,
    /// The detail view, drawn over everything while open.
    pub detail: Option<Pager>,
    /// The focused pane of the main view takes the whole body.
    pub zoom: bool,
}

impl Default for Views {
    fn default() -> Self {
        Views {
            queue: ListOffset::default(),
            queue_filter: Filter::default(),
            queue_order: Default::default(),
            log: ListOffset::default(),
            log_filter: Filter::default(),
            log_follow: true,
            log_selected: 0,
            transcript_top: Cell::new(None),
            transcript_inside: Scroll::default(),
            transcript_measure: Cell::new((0, 0)),
            transcript_laid: RefCell::new(None),
            queue_varying: RefCell::new(None),
            inspector: ListOffset::default(),
            sessions: ListOffset::default(),
            sessions_filter: Filter::default(),
            transcript_filter: Filter::default(),
            inspector_filter: Filter::default(),
            inspector_detail: Scroll::default(),
            help: Scroll::default(),
            editor: EditorView::default(),
            detail: None,
            zoom: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_keeps_its_offset_while_the_selection_moves_inside_it() {
        let list = ListOffset::default();
        // 100 rows, 5 visible; selecting row 50 scrolls it to the bottom.
        assert_eq!(list.window(50, 100, 5), 46);
        // Moving up keeps the offset until the selection reaches the top row.
        assert_eq!(list.window(49, 100, 5), 46);
        assert_eq!(list.window(46, 100, 5), 46);
        assert_eq!(list.window(45, 100, 5), 45);
        // A list that shrinks pulls the offset back.
        assert_eq!(list.window(2, 3, 5), 0);
    }

    #[test]
    fn a_scroll_never_passes_the_end() {
        let scroll = Scroll::default();
        scroll.end();
        assert_eq!(scroll.clamp(30, 10), 20);
        scroll.by(-1);
        assert_eq!(scroll.clamp(30, 10), 19);
        scroll.by(100);
        assert_eq!(scroll.clamp(30, 10), 20);
        scroll.by(-100);
        assert_eq!(scroll.clamp(30, 10), 0);
    }

    #[test]
    fn a_filter_ignores_case_and_esc_clears_it() {
        let mut filter = Filter::default();
        for c in "ESC".chars() {
            filter.input(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        assert!(filter.matches("escalate_ticket"));
        assert!(!filter.matches("lookup_ticket"));
        filter.clear();
        assert!(!filter.is_active() && filter.matches("lookup_ticket"));
    }
}

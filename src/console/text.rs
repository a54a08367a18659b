//! Text for the screen: display widths (CJK and emoji take two columns), truncation with
//! an ellipsis at the end or in the middle, word wrap, and JSON values laid out for
//! reading: strings as text (real line breaks and tabs, no `\n` escapes), everything
//! else pretty-printed.

use serde_json::Value;
use unicode_width::UnicodeWidthChar;

/// Columns between tab stops when a tab is shown.
const TAB: usize = 4;

/// `text` with thread ids (UUIDs) and codex call ids (`call_…`) shortened to the last
/// 8 characters, the form the console shows them in everywhere else.
pub fn shorten_ids(text: &str) -> String {
    let bytes = text.as_bytes();
    let starts_word = |at: usize| at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
    let is_uuid = |at: usize| {
        bytes.len() >= at + 36
            && bytes[at..at + 36].iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
            && starts_word(at)
            && bytes
                .get(at + 36)
                .is_none_or(|b| !b.is_ascii_alphanumeric())
    };
    // `call_` and at least 9 more id characters: longer than its short form.
    let call_id_len = |at: usize| {
        if !(bytes[at..].starts_with(b"call_") && starts_word(at)) {
            return None;
        }
        let len = 5 + bytes[at + 5..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
            .count();
        (len > 13).then_some(len)
    };
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < bytes.len() {
        if is_uuid(at) {
            out.push_str(crate::util::id_tail(&text[at..at + 36], 8));
            at += 36;
            continue;
        }
        if let Some(len) = call_id_len(at) {
            out.push_str(crate::util::id_tail(&text[at..at + len], 8));
            at += len;
            continue;
        }
        let c = text[at..].chars().next().unwrap_or(' ');
        out.push(c);
        at += c.len_utf8();
    }
    out
}

/// Columns `c` takes on screen (control characters are shown as one-column pictures).
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(1)
}

/// Columns `text` takes on screen.
pub fn width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// `text` made safe to draw on one line: tabs expanded to the next stop, line breaks
/// and other control characters shown as their Unicode pictures (`␊`, `␍`).
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let pad = TAB - column % TAB;
                out.extend(std::iter::repeat_n(' ', pad));
                column += pad;
            }
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�'));
                column += 1;
            }
            '\u{7f}' => {
                out.push('␡');
                column += 1;
            }
            c => {
                out.push(c);
                column += char_width(c);
            }
        }
    }
    out
}

/// The longest start of `text` that fits in `max` columns.
fn head(text: &str, max: usize) -> (&str, usize) {
    let mut used = 0;
    for (at, c) in text.char_indices() {
        let w = char_width(c);
        if used + w > max {
            return (&text[..at], used);
        }
        used += w;
    }
    (text, used)
}

/// The longest end of `text` that fits in `max` columns.
fn tail(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (at, c) in text.char_indices().rev() {
        let w = char_width(c);
        if used + w > max {
            return &text[at + c.len_utf8()..];
        }
        used += w;
    }
    text
}

/// `text` in at most `max` columns, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let (start, _) = head(text, max - 1);
    format!("{start}…")
}

/// `text` in at most `max` columns, its start and end kept and `…` in the middle.
pub fn truncate_middle(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max < 3 {
        return truncate(text, max);
    }
    let room = max - 1;
    let (start, used) = head(text, room.div_ceil(2));
    let end = tail(text, room - used);
    format!("{start}…{end}")
}

/// Splits `text` into lines of at most `width` columns, at spaces where it can and
/// anywhere inside a word longer than a line. Tabs and control characters are made
/// printable first.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        wrap_line(&printable(raw), width, &mut out);
    }
    out
}

fn wrap_line(raw: &str, width: usize, out: &mut Vec<String>) {
    let mut line = String::new();
    let mut used = 0;
    for word in raw.split_inclusive(' ') {
        let word_width = self::width(word.trim_end());
        let fits_alone = word_width <= width;
        if used + word_width > width && used > 0 && fits_alone {
            out.push(std::mem::take(&mut line).trim_end().to_string());
            used = 0;
        }
        for c in word.chars() {
            let w = char_width(c);
            if used + w > width {
                if c == ' ' {
                    continue;
                }
                out.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += w;
        }
    }
    out.push(line.trim_end().to_string());
}

/// One line of a value laid out for reading: its indentation and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLine {
    pub indent: usize,
    pub text: String,
    /// Part of a string's text (drawn plain), not JSON punctuation or keys.
    pub is_text: bool,
    /// How it is drawn; `Auto` by `is_text`.
    pub tone: Tone,
}

/// How a pager line is drawn, by role (the detail view maps it to a style): a diff's
/// added and removed lines, headings, ..
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    /// Text plain, JSON around it dimmer.
    #[default]
    Auto,
    Plain,
    Heading,
    FileHeader,
    Added,
    Removed,
    Hunk,
    Dim,
    Good,
    Warn,
    Bad,
}

impl TextLine {
    /// A line drawn in `tone`.
    pub fn toned(indent: usize, text: &str, tone: Tone) -> TextLine {
        TextLine {
            indent,
            text: printable(text),
            is_text: true,
            tone,
        }
    }
}

/// `value` laid out for reading: pretty JSON in which a string is shown as its text. A
/// string with line breaks becomes a block between `"""` lines, its lines as they are.
pub fn value_lines(value: &Value) -> Vec<TextLine> {
    let mut out = Vec::new();
    if let Value::String(s) = value {
        // A bare string (an answer's text) is just its text.
        for line in s.split('\n') {
            out.push(TextLine {
                indent: 0,
                text: printable(line),
                is_text: true,
                tone: Tone::Auto,
            });
        }
        return out;
    }
    push_value(None, value, 0, false, &mut out);
    out
}

fn key_text(key: &str) -> String {
    serde_json::to_string(key).unwrap_or_default()
}

fn push_value(
    key: Option<&str>,
    value: &Value,
    indent: usize,
    comma: bool,
    out: &mut Vec<TextLine>,
) {
    let lead = key
        .map(|k| format!("{}: ", key_text(k)))
        .unwrap_or_default();
    let comma = if comma { "," } else { "" };
    let line = |indent: usize, text: String| TextLine {
        indent,
        text,
        is_text: false,
        tone: Tone::Auto,
    };
    match value {
        Value::Object(map) if map.is_empty() => {
            out.push(line(indent, format!("{lead}{{}}{comma}")))
        }
        Value::Array(items) if items.is_empty() => {
            out.push(line(indent, format!("{lead}[]{comma}")))
        }
        Value::Object(map) => {
            out.push(line(indent, format!("{lead}{{")));
            let last = map.len() - 1;
            for (i, (k, v)) in map.iter().enumerate() {
                push_value(Some(k), v, indent + 2, i < last, out);
            }
            out.push(line(indent, format!("}}{comma}")));
        }
        Value::Array(items) => {
            out.push(line(indent, format!("{lead}[")));
            let last = items.len() - 1;
            for (i, v) in items.iter().enumerate() {
                push_value(None, v, indent + 2, i < last, out);
            }
            out.push(line(indent, format!("]{comma}")));
        }
        Value::String(s) if s.contains('\n') => {
            out.push(line(indent, format!("{lead}\"\"\"")));
            for text in s.split('\n') {
                out.push(TextLine {
                    indent: indent + 2,
                    text: printable(text),
                    is_text: true,
                    tone: Tone::Auto,
                });
            }
            out.push(line(indent, format!("\"\"\"{comma}")));
        }
        Value::String(s) => out.push(TextLine {
            indent,
            text: format!("{lead}\"{}\"{comma}", printable(s)),
            is_text: false,
            tone: Tone::Auto,
        }),
        other => out.push(line(indent, format!("{lead}{other}{comma}"))),
    }
}

/// `lines` wrapped to `width` columns; a wrapped line keeps its indentation (unless the
/// indentation would leave less than half the width).
pub fn wrap_lines(lines: &[TextLine], width: usize) -> Vec<TextLine> {
    let width = width.max(1);
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let indent = if line.indent * 2 <= width {
            line.indent
        } else {
            0
        };
        let mut parts = Vec::new();
        wrap_line(&line.text, width - indent, &mut parts);
        for text in parts {
            out.push(TextLine {
                indent,
                text,
                is_text: line.is_text,
                tone: line.tone,
            });
        }
    }
    out
}

/// A one-line summary of arguments for a list row: `key=value` pairs, strings without
/// quotes, line breaks shown as `⏎`, nested values compact.
pub fn summary(value: &Value) -> String {
    // A summary is one line: a long string is cut before it is made printable.
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => {
                let s = crate::protocol::truncate_chars(s, 400);
                printable(&s.replace('\n', " ⏎ "))
            }
            other => printable(&other.to_string()),
        }
    }
    match value {
        Value::Object(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => scalar(other),
    }
}

/// Whether `haystack` contains `needle_lower` (already lower-case), ignoring case.
pub fn contains_ignore_case(haystack: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    if needle_lower.is_ascii() {
        let needle = needle_lower.as_bytes();
        return haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle));
    }
    haystack.to_lowercase().contains(needle_lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thread_and_call_ids_are_shortened_as_the_panes_show_them() {
        assert_eq!(
            shorten_ids(
                "session 019a4b2c-7d8e-7f00-8a1b-2c3d4e5f6a7b is closed; call call_Xy12ab34cd56ef78 ended"
            ),
            "session 4e5f6a7b is closed; call cd56ef78 ended"
        );
        // Short ids and words that only look like ids stay as they are.
        assert_eq!(
            shorten_ids("call_abc recall_0123456789abcdef"),
            "call_abc recall_0123456789abcdef"
        );
    }

    #[test]
    fn wide_characters_take_two_columns_and_truncation_ends_in_an_ellipsis() {
        assert_eq!(width("注文番号"), 8);
        assert_eq!(truncate("注文番号を確認", 7), "注文番…");
        assert_eq!(width(&truncate("注文番号を確認", 7)), 7);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(
            truncate_middle("escalate_ticket answered in 12 ms", 15),
            "escalat…n 12 ms"
        );
        assert_eq!(width(&truncate_middle("注文番号を確認してください", 9)), 9);
    }

    #[test]
    fn strings_are_shown_as_text_and_the_rest_pretty_printed() {
        let value = json!({
            "id": "T-1",
            "body": "Dear team,\n\tplease look\nbye",
            "items": [1, {"a": null}],
            "empty": {}
        });
        let lines: Vec<String> = value_lines(&value)
            .into_iter()
            .map(|l| format!("{}{}", " ".repeat(l.indent), l.text))
            .collect();
        assert_eq!(
            lines,
            [
                "{",
                "  \"body\": \"\"\"",
                "    Dear team,",
                "        please look",
                "    bye",
                "  \"\"\",",
                "  \"empty\": {},",
                "  \"id\": \"T-1\",",
                "  \"items\": [",
                "    1,",
                "    {",
                "      \"a\": null",
                "    }",
                "  ]",
                "}",
            ]
        );
    }

    #[test]
    fn wrapped_lines_keep_their_indentation() {
        let lines = value_lines(&json!({"note": "one two three four five six"}));
        let wrapped = wrap_lines(&lines, 16);
        let texts: Vec<(usize, &str)> = wrapped
            .iter()
            .map(|l| (l.indent, l.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                (0, "{"),
                (2, "\"note\": \"one"),
                (2, "two three four"),
                (2, "five six\""),
                (0, "}")
            ]
        );
    }

    #[test]
    fn summaries_and_case_insensitive_search() {
        assert_eq!(
            summary(&json!({"order": "A-1", "note": "x\ny", "n": 2})),
            "n=2 note=x ⏎ y order=A-1"
        );
        assert!(contains_ignore_case("Escalate_Ticket", "escalate"));
        assert!(contains_ignore_case("注文 ABC", "abc"));
        assert!(contains_ignore_case("Ärger", "ärg"));
        assert!(!contains_ignore_case("lookup", "escalate"));
    }
}

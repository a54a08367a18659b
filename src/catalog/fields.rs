//! The catalog parser's cursor: where each key sits in the file, the report that collects
//! every problem, and a field reader whose type checks all say "`key` must be X, not Y"
//! at the key's own line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use toml::{Spanned, Value as Toml};

use super::{CatalogWarning, Severity};

/// Byte offset to 1-based line and column.
pub(super) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(super) fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Lines { starts }
    }

    pub(super) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset)
    }

    pub(super) fn column(&self, text: &str, offset: usize) -> usize {
        let line_start = self.starts[self.line(offset).saturating_sub(1)];
        text.get(line_start..offset)
            .map_or(1, |prefix| prefix.chars().count() + 1)
    }
}

/// The shape of the document with a span on every value: `toml::Table` drops positions,
/// so they are read in a second pass.
#[derive(Debug, Default)]
pub(super) enum SpanTree {
    Table(BTreeMap<String, Spanned<SpanTree>>),
    Array(Vec<Spanned<SpanTree>>),
    #[default]
    Leaf,
}

impl<'de> Deserialize<'de> for SpanTree {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpanVisitor)
    }
}

struct SpanVisitor;

macro_rules! leaf {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<SpanTree, E> {
            Ok(SpanTree::Leaf)
        })*
    };
}

impl<'de> Visitor<'de> for SpanVisitor {
    type Value = SpanTree;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any TOML value")
    }

    leaf!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpanTree, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            // toml hands a date over as a map with one private key: a leaf for us.
            if key.starts_with("$__") {
                map.next_value::<de::IgnoredAny>()?;
                return Ok(SpanTree::Leaf);
            }
            entries.insert(key, map.next_value::<Spanned<SpanTree>>()?);
        }
        Ok(SpanTree::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SpanTree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<SpanTree>>()? {
            items.push(item);
        }
        Ok(SpanTree::Array(items))
    }
}

/// A position in the [`SpanTree`]: a value whose line is known, or nothing (positions are
/// a nicety; a document too odd to read them from goes without).
#[derive(Clone, Copy)]
pub(super) struct Place<'a> {
    node: Option<&'a SpanTree>,
    line: Option<usize>,
    lines: &'a Lines,
}

impl<'a> Place<'a> {
    pub(super) fn root(tree: Option<&'a SpanTree>, lines: &'a Lines) -> Place<'a> {
        Place {
            node: tree,
            line: None,
            lines,
        }
    }

    fn at(&self, spanned: Option<&'a Spanned<SpanTree>>) -> Place<'a> {
        Place {
            node: spanned.map(Spanned::get_ref),
            line: spanned.map(|s| self.lines.line(s.span().start)),
            lines: self.lines,
        }
    }

    /// The value under `key` of this table.
    pub(super) fn key(&self, key: &str) -> Place<'a> {
        match self.node {
            Some(SpanTree::Table(entries)) => self.at(entries.get(key)),
            _ => self.at(None),
        }
    }

    /// Item `index` of this array.
    pub(super) fn index(&self, index: usize) -> Place<'a> {
        match self.node {
            Some(SpanTree::Array(items)) => self.at(items.get(index)),
            _ => self.at(None),
        }
    }

    /// This value's own line.
    pub(super) fn line(&self) -> Option<usize> {
        self.line
    }

    /// The line of `key`, or of this table when the key is absent or its line unknown.
    pub(super) fn of(&self, key: &str) -> Option<usize> {
        self.key(key).line.or(self.line)
    }
}

/// Problems and warnings collected over the whole file.
pub(super) struct Report {
    file: String,
    pub(super) problems: Vec<(Option<usize>, String)>,
    pub(super) warnings: Vec<CatalogWarning>,
}

impl Report {
    pub(super) fn new(file: String) -> Report {
        Report {
            file,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn problem(&mut self, line: Option<usize>, who: &str, message: impl AsRef<str>) {
        let mut text = self.file.clone();
        if let Some(line) = line {
            let _ = write!(text, ":{line}");
        }
        text.push_str(": ");
        if !who.is_empty() {
            text.push_str(who);
            text.push_str(": ");
        }
        text.push_str(message.as_ref());
        self.problems.push((line, text));
    }

    pub(super) fn warn(
        &mut self,
        tool: Option<&str>,
        line: Option<usize>,
        severity: Severity,
        message: String,
    ) {
        self.warnings.push(CatalogWarning {
            tool: tool.map(str::to_string),
            line,
            severity,
            message,
        });
    }

    pub(super) fn count(&self) -> usize {
        self.problems.len()
    }
}

/// A problem was reported for this field; the caller goes on without its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reported;

/// `Ok(None)`: the key is absent. `Err(Reported)`: it is there but wrong, and said so.
pub(super) type Read<T> = Result<Option<T>, Reported>;

/// Reads the keys of one table: `who` names the tool in messages, `prefix` the table
/// (`handler.`), `place` where its keys sit.
pub(super) struct Fields<'a, 'r> {
    pub(super) table: &'a toml::Table,
    pub(super) place: Place<'a>,
    pub(super) who: String,
    prefix: String,
    pub(super) report: &'r mut Report,
}

impl<'a, 'r> Fields<'a, 'r> {
    pub(super) fn new(
        table: &'a toml::Table,
        place: Place<'a>,
        who: String,
        report: &'r mut Report,
    ) -> Fields<'a, 'r> {
        Fields {
            table,
            place,
            who,
            prefix: String::new(),
            report,
        }
    }

    /// A reader for the sub-table `table` found under `key`, sharing the report.
    pub(super) fn nested<'s>(&'s mut self, key: &str, table: &'a toml::Table) -> Fields<'a, 's> {
        Fields {
            table,
            place: self.place.key(key),
            who: self.who.clone(),
            prefix: format!("{}{key}.", self.prefix),
            report: &mut *self.report,
        }
    }

    /// A reader for item `index` of the array of tables under `key`.
    pub(super) fn nested_item<'s>(
        &'s mut self,
        key: &str,
        index: usize,
        table: &'a toml::Table,
    ) -> Fields<'a, 's> {
        Fields {
            table,
            place: self.place.key(key).index(index),
            who: self.who.clone(),
            prefix: format!("{}{key}[{index}].", self.prefix),
            report: &mut *self.report,
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Toml> {
        self.table.get(key)
    }

    /// The key as messages name it, e.g. `handler.timeout_ms`.
    pub(super) fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(super) fn line(&self, key: &str) -> Option<usize> {
        self.place.of(key)
    }

    /// Reports a problem at `key`'s line.
    pub(super) fn problem(&mut self, key: &str, message: impl AsRef<str>) {
        let line = self.line(key);
        self.report.problem(line, &self.who, message);
    }

    /// Reports a problem at this table's own line (for keys that are missing).
    pub(super) fn problem_here(&mut self, message: impl AsRef<str>) {
        self.report.problem(self.place.line(), &self.who, message);
    }

    pub(super) fn warn(
        &mut self,
        tool: Option<&str>,
        key: &str,
        severity: Severity,
        message: String,
    ) {
        let line = self.line(key);
        self.report.warn(tool, line, severity, message);
    }

    /// `path must be WHAT, not KIND` at the key's line.
    pub(super) fn wrong_type(&mut self, key: &str, what: &str, found: &Toml) -> Reported {
        let message = format!(
            "{} must be {what}, not {}",
            self.path(key),
            toml_kind(found)
        );
        self.problem(key, message);
        Reported
    }

    /// Reports `key is missing: HINT` at the table's line when the key is absent.
    pub(super) fn required<T>(&mut self, key: &str, read: Read<T>, hint: &str) -> Option<T> {
        match read {
            Ok(Some(value)) => Some(value),
            Ok(None) => {
                let message = format!("{} is missing: {hint}", self.path(key));
                self.problem_here(message);
                None
            }
            Err(Reported) => None,
        }
    }

    /// A string described as `what` in the type message.
    pub(super) fn string_as(&mut self, key: &str, what: &str) -> Read<String> {
        match self.get(key) {
            None => Ok(None),
            Some(Toml::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.wrong_type(key, what, other)),
        }
    }

    pub(super) fn string(&mut self, key: &str) -> Read<String> {
        self.string_as(key, "a string")
    }

    /// A string with more than whitespace; an empty one is `key is empty: HINT`.
    pub(super) fn non_empty_string(&mut self, key: &str, hint: &str) -> Read<String> {
        match self.string(key)? {
            Some(text) if text.trim().is_empty() => {
                let message = format!("{} is empty: {hint}", self.path(key));
                self.problem(key, message);
                Err(Reported)
            }
            other => Ok(other),
        }
    }

    pub(super) fn bool(&mut self, key: &str) -> Read<bool> {
        match self.get(key) {
            None => Ok(None),
            Some(Toml::Boolean(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    /// A whole number greater than 0, in `unit` (for messages).
    pub(super) fn positive_int(&mut self, key: &str, unit: &str) -> Read<u64> {
        match self.get(key) {
            None => Ok(None),
            Some(Toml::Integer(number)) if *number > 0 => Ok(Some(number.unsigned_abs())),
            Some(Toml::Integer(number)) => {
                let message = format!(
                    "{} is {number}: it must be greater than 0 ({unit})",
                    self.path(key)
                );
                self.problem(key, message);
                Err(Reported)
            }
            Some(other) => Err(self.wrong_type(key, &format!("a whole number of {unit}"), other)),
        }
    }

    /// An array of strings; `example` shows one in the type message. Items that are not
    /// strings are reported one by one.
    pub(super) fn string_array(&mut self, key: &str, example: &str) -> Read<Vec<String>> {
        let items = match self.get(key) {
            None => return Ok(None),
            Some(Toml::Array(items)) => items,
            Some(other) => {
                let what = format!("an array of strings such as {example}");
                return Err(self.wrong_type(key, &what, other));
            }
        };
        let mut strings = Vec::with_capacity(items.len());
        let mut bad = false;
        for (index, item) in items.iter().enumerate() {
            match item {
                Toml::String(text) => strings.push(text.clone()),
                other => {
                    bad = true;
                    let message = format!(
                        "{}[{index}] must be a string, not {}",
                        self.path(key),
                        toml_kind(other)
                    );
                    self.problem(key, message);
                }
            }
        }
        if bad {
            Err(Reported)
        } else {
            Ok(Some(strings))
        }
    }

    /// A table of string values (`env`, `headers`). Entries that are not strings are
    /// reported one by one and dropped; the rest are kept.
    pub(super) fn string_map(&mut self, key: &str) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        match self.get(key) {
            None => {}
            Some(Toml::Table(entries)) => {
                for (name, value) in entries {
                    match value {
                        Toml::String(value) => {
                            map.insert(name.clone(), value.clone());
                        }
                        other => {
                            let message = format!(
                                "{}.{name} must be a string, not {}: quote it",
                                self.path(key),
                                toml_kind(other)
                            );
                            self.problem(key, message);
                        }
                    }
                }
            }
            Some(other) => {
                self.wrong_type(
                    key,
                    "a table of strings such as { NAME = \"value\" }",
                    other,
                );
            }
        }
        map
    }

    /// Every key not in `allowed` is a problem, with a likely fix.
    pub(super) fn unknown_keys(&mut self, allowed: &[&str], what: &str, takes: &str) {
        self.unknown_keys_but(allowed, &[], what, takes);
    }

    /// [`Fields::unknown_keys`], leaving alone `skipped` keys that get a message of their own.
    pub(super) fn unknown_keys_but(
        &mut self,
        allowed: &[&str],
        skipped: &[&str],
        what: &str,
        takes: &str,
    ) {
        let table = self.table;
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) && !skipped.contains(&key.as_str()) {
                self.problem(key, unknown_key(key, allowed, what, takes));
            }
        }
    }
}

/// TOML to JSON, refusing what JSON cannot hold. `at` names the value in messages.
pub(super) fn to_json(value: &Toml, at: &str) -> Result<Json, String> {
    Ok(match value {
        Toml::String(text) => Json::String(text.clone()),
        Toml::Integer(number) => Json::from(*number),
        Toml::Float(number) => serde_json::Number::from_f64(*number)
            .map(Json::Number)
            .ok_or_else(|| format!("{at} is {number}, which JSON cannot represent"))?,
        Toml::Boolean(flag) => Json::Bool(*flag),
        Toml::Datetime(datetime) => {
            return Err(format!(
                "{at} is a TOML date or time ({datetime}), which JSON has no type for: quote it as a string"
            ));
        }
        Toml::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| to_json(item, &format!("{at}[{index}]")))
                .collect::<Result<_, _>>()?,
        ),
        Toml::Table(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, item)| Ok((key.clone(), to_json(item, &format!("{at}.{key}"))?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

pub(super) fn toml_kind(value: &Toml) -> &'static str {
    match value {
        Toml::String(_) => "a string",
        Toml::Integer(_) => "an integer",
        Toml::Float(_) => "a float",
        Toml::Boolean(_) => "a boolean",
        Toml::Datetime(_) => "a date",
        Toml::Array(_) => "an array",
        Toml::Table(_) => "a table",
    }
}

/// `unknown key `x`: did you mean `y`? (a tool takes: a, b)`.
pub(super) fn unknown_key(key: &str, allowed: &[&str], what: &str, takes: &str) -> String {
    let hint = suggest(key, allowed)
        .map(|near| format!(": did you mean `{near}`?"))
        .unwrap_or_default();
    format!(
        "unknown {what} `{key}`{hint} ({takes}: {})",
        allowed.join(", ")
    )
}

/// The allowed key a typo most likely meant: same letters ignoring case and separators
/// (`inputSchema`), or within two edits (`timeout`, `tool`).
fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let squash = |text: &str| -> String {
        text.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let squashed = squash(key);
    if let Some(exact) = allowed
        .iter()
        .find(|candidate| squash(candidate) == squashed)
    {
        return Some(exact);
    }
    if squashed.chars().count() < 3 {
        return None;
    }
    allowed
        .iter()
        .map(|candidate| (edit_distance(&squashed, &squash(candidate)), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
        .or_else(|| {
            // A known prefix, e.g. `timeout` for `timeout_ms`.
            allowed
                .iter()
                .find(|candidate| squash(candidate).starts_with(&squashed))
                .copied()
        })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

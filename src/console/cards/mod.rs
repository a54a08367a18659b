//! Cards for the requests other than tool calls that wait on the operator: command,
//! file-change and permission approvals, MCP tool-call approvals and url elicitations (a
//! list of decisions), user-input questions (`questions.rs`, a page per question) and MCP
//! forms (`form.rs`, generated from `requestedSchema`). Pure state and keys: `ui/cards.rs`
//! draws them, `app.rs` opens, parks (drafts) and closes them.

mod form;
mod input;
mod questions;

use crossterm::event::{KeyCode, KeyEvent};
use serde_json::{Map, Value, json};

pub use form::{FieldKind, Form, FormKey};
pub use questions::{Questions, QuestionsKey, Row};

use crate::bridge::PendingRequestView;
use crate::protocol::RequestKind;

/// One decision the card offers, with the answer app-server gets for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub label: String,
    /// Whether codex listed it in `availableDecisions`.
    pub offered: bool,
    pub answer: Value,
}

/// What a key on a card asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum CardKey {
    /// Nothing beyond the card's own state.
    Stay,
    /// Close the card; the request stays pending (and the card's state is kept).
    Close,
    /// Send this answer.
    Send(Value),
}

/// What the card holds beyond its list of decisions.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Decisions only: approvals, url elicitations, MCP tool-call approvals.
    Decisions,
    Questions(Questions),
    Form(Form),
}

/// The tone of a line of a file-change card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A section's title.
    Section,
    /// A file's header: its kind and path.
    File,
    Added,
    Removed,
    Hunk,
    Plain,
    Faint,
}

/// A card answering one pending request.
#[derive(Debug, Clone)]
pub struct RequestCard {
    pub request: PendingRequestView,
    pub body: Body,
    pub choices: Vec<Choice>,
    pub selected: usize,
    pub scroll: u16,
    /// An answer is on its way.
    pub sending: bool,
    /// For a file change: the turn's diff from `turn/diff/updated`.
    pub turn_diff: Option<String>,
    /// What was wrong with the last try to send, shown on the card.
    pub problem: Option<String>,
}

impl RequestCard {
    pub fn new(request: PendingRequestView) -> RequestCard {
        let choices = choices(&request);
        let body = match request.kind {
            RequestKind::UserInput => {
                Questions::from_params(&request.params).map_or(Body::Decisions, Body::Questions)
            }
            RequestKind::McpElicitation => request
                .params
                .get("requestedSchema")
                .and_then(Form::from_schema)
                .filter(|_| !is_tool_call_approval(&request.params))
                .map_or(Body::Decisions, Body::Form),
            _ => Body::Decisions,
        };
        RequestCard {
            request,
            body,
            choices,
            selected: 0,
            scroll: 0,
            sending: false,
            turn_diff: None,
            problem: None,
        }
    }

    /// Esc closes (never decides); the rest depends on the card: a list of decisions,
    /// the pages of questions, or a form.
    pub fn on_key(&mut self, key: KeyEvent) -> CardKey {
        if key.code == KeyCode::Esc {
            return CardKey::Close;
        }
        match key.code {
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_add(10).min(self.max_scroll());
                return CardKey::Stay;
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(10);
                return CardKey::Stay;
            }
            _ => {}
        }
        if self.sending {
            return CardKey::Stay;
        }
        match &mut self.body {
            Body::Decisions => self.decision_key(key),
            Body::Questions(questions) => match questions.on_key(key) {
                QuestionsKey::Stay => {
                    self.problem = None;
                    CardKey::Stay
                }
                QuestionsKey::Problem(problem) => {
                    self.problem = Some(problem);
                    CardKey::Stay
                }
                QuestionsKey::Submit(response) => {
                    let answer = serde_json::to_value(response).unwrap_or(Value::Null);
                    self.send_value(answer)
                }
                QuestionsKey::Decline => self.send_value(json!({ "answers": {} })),
            },
            Body::Form(form) => match form.on_key(key) {
                FormKey::Stay => {
                    self.problem = None;
                    CardKey::Stay
                }
                FormKey::Problem(problem) => {
                    self.problem = Some(format!("not sent: {problem}"));
                    CardKey::Stay
                }
                FormKey::Submit(content) => {
                    self.send_value(json!({ "action": "accept", "content": content }))
                }
                FormKey::Decline => self.send_value(json!({ "action": "decline" })),
                FormKey::Cancel => self.send_value(json!({ "action": "cancel" })),
            },
        }
    }

    /// Up/Down choose; Enter or a number sends; Tab/Shift-Tab go to the next or
    /// previous file of a file change.
    fn decision_key(&mut self, key: KeyEvent) -> CardKey {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                CardKey::Stay
            }
            KeyCode::Down | KeyCode::Char('j') => {
                if self.selected + 1 < self.choices.len() {
                    self.selected += 1;
                }
                CardKey::Stay
            }
            KeyCode::Tab => {
                let scroll = self.scroll;
                if let Some(next) = self.file_starts().into_iter().find(|&at| at > scroll) {
                    self.scroll = next;
                }
                CardKey::Stay
            }
            KeyCode::BackTab => {
                let scroll = self.scroll;
                self.scroll = self
                    .file_starts()
                    .into_iter()
                    .rev()
                    .find(|&at| at < scroll)
                    .unwrap_or(0);
                CardKey::Stay
            }
            KeyCode::Home => {
                self.scroll = 0;
                CardKey::Stay
            }
            KeyCode::Enter => self.send(self.selected),
            KeyCode::Char(c @ '1'..='9') => {
                let index = usize::from(c as u8 - b'1');
                if index < self.choices.len() {
                    self.selected = index;
                    self.send(index)
                } else {
                    CardKey::Stay
                }
            }
            _ => CardKey::Stay,
        }
    }

    fn send(&mut self, index: usize) -> CardKey {
        match self.choices.get(index) {
            Some(choice) => {
                let answer = choice.answer.clone();
                self.send_value(answer)
            }
            None => CardKey::Stay,
        }
    }

    fn send_value(&mut self, answer: Value) -> CardKey {
        if self.sending {
            return CardKey::Stay;
        }
        self.sending = true;
        self.problem = None;
        CardKey::Send(answer)
    }

    /// Pasted text goes to the input under the cursor, if any.
    pub fn paste(&mut self, text: &str) {
        match &mut self.body {
            Body::Questions(questions) => questions.paste(text),
            Body::Form(form) => form.paste(text),
            Body::Decisions => {}
        }
    }

    /// The command, unwrapped from `bash -lc '…'` (and `sh -c`, `zsh -lc`).
    pub fn command(&self) -> Option<String> {
        let command = self.request.params.get("command")?.as_str()?;
        Some(unwrap_shell(command))
    }

    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.request.params.get(name)?.as_str()
    }

    /// Where each file starts in [`RequestCard::file_change_lines`].
    pub fn file_starts(&self) -> Vec<u16> {
        if self.request.kind != RequestKind::FileChangeApproval {
            return Vec::new();
        }
        self.file_change_lines()
            .iter()
            .enumerate()
            .filter(|(_, (tone, _))| *tone == Tone::File)
            .map(|(at, _)| u16::try_from(at).unwrap_or(u16::MAX))
            .collect()
    }

    fn max_scroll(&self) -> u16 {
        let lines = match self.request.kind {
            RequestKind::FileChangeApproval => self.file_change_lines().len(),
            _ => 200,
        };
        u16::try_from(lines.saturating_sub(1)).unwrap_or(u16::MAX)
    }

    /// A file change, file by file: the changes of its `fileChange` item, then the
    /// turn's diff so far (`turn/diff/updated`), each line with its tone.
    pub fn file_change_lines(&self) -> Vec<(Tone, String)> {
        let mut lines = Vec::new();
        match &self.request.changes {
            Some(Value::Array(changes)) => {
                lines.push((
                    Tone::Section,
                    format!("This change: {} file(s)", changes.len()),
                ));
                for change in changes {
                    change_lines(change, &mut lines);
                }
            }
            Some(other) => lines.push((Tone::Plain, other.to_string())),
            None => lines.push((
                Tone::Faint,
                "(the item's changes were not seen)".to_string(),
            )),
        }
        lines.push((Tone::Plain, String::new()));
        match self.turn_diff.as_deref().filter(|d| !d.trim().is_empty()) {
            Some(diff) => {
                let files = diff
                    .lines()
                    .filter(|l| l.starts_with("diff --git "))
                    .count();
                lines.push((
                    Tone::Section,
                    format!("The turn's diff so far: {files} file(s)"),
                ));
                for line in diff.lines() {
                    if let Some(paths) = line.strip_prefix("diff --git ") {
                        let path = paths.rsplit(" b/").next().unwrap_or(paths);
                        lines.push((Tone::File, format!("diff {path}")));
                    } else {
                        lines.push((diff_tone(line), line.to_string()));
                    }
                }
            }
            None => lines.push((
                Tone::Faint,
                "The turn's diff: none yet (turn/diff/updated)".to_string(),
            )),
        }
        lines
    }
}

fn diff_tone(line: &str) -> Tone {
    if line.starts_with("+++") || line.starts_with("---") {
        Tone::Faint
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

/// One file of a `fileChange` item: its kind and path, then its diff.
fn change_lines(change: &Value, lines: &mut Vec<(Tone, String)>) {
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
    lines.push((Tone::File, head));
    // An added file's `diff` is its content, a deleted one's what it held; an update's
    // is a unified diff.
    let diff = change.get("diff").and_then(Value::as_str).unwrap_or("");
    for line in diff.lines() {
        lines.push(match kind_word {
            "add" => (Tone::Added, format!("+{line}")),
            "delete" => (Tone::Removed, format!("-{line}")),
            _ => (diff_tone(line), line.to_string()),
        });
    }
}

fn is_tool_call_approval(params: &Value) -> bool {
    params
        .get("_meta")
        .and_then(|m| m.get("codex_approval_kind"))
        .and_then(Value::as_str)
        == Some("mcp_tool_call")
}

/// `bash -lc 'git status'` → `git status`; anything else as it is.
pub fn unwrap_shell(command: &str) -> String {
    let trimmed = command.trim();
    for shell in [
        "bash",
        "sh",
        "zsh",
        "/bin/bash",
        "/bin/sh",
        "/bin/zsh",
        "/usr/bin/bash",
    ] {
        for flag in ["-lc", "-c"] {
            let prefix = format!("{shell} {flag} ");
            if let Some(rest) = trimmed.strip_prefix(&prefix) {
                let rest = rest.trim();
                for quote in ['\'', '"'] {
                    if rest.len() >= 2 && rest.starts_with(quote) && rest.ends_with(quote) {
                        return rest[1..rest.len() - 1].to_string();
                    }
                }
                return rest.to_string();
            }
        }
    }
    trimmed.to_string()
}

/// The decisions of a request with plain labels: those of `availableDecisions` first
/// (the bridge orders them so), then the others codex accepts.
pub fn choices(request: &PendingRequestView) -> Vec<Choice> {
    let offered: Vec<Value> = request
        .params
        .get("availableDecisions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !request.decisions.is_empty() {
        return request
            .decisions
            .iter()
            .map(|decision| Choice {
                label: decision_label(decision),
                offered: offered.contains(decision),
                answer: json!({ "decision": decision }),
            })
            .collect();
    }
    let choice = |label: &str, answer: Value| Choice {
        label: label.to_string(),
        offered: false,
        answer,
    };
    match request.kind {
        RequestKind::UserInput => vec![choice(
            "skip the question (answer nothing)",
            json!({ "answers": {} }),
        )],
        RequestKind::PermissionsApproval => {
            let granted = granted(request.params.get("permissions").unwrap_or(&Value::Null));
            vec![
                choice(
                    "grant for the turn",
                    json!({ "permissions": granted, "scope": "turn" }),
                ),
                choice(
                    "grant for the session",
                    json!({ "permissions": granted, "scope": "session" }),
                ),
                choice("deny", json!({ "permissions": {}, "scope": "turn" })),
            ]
        }
        RequestKind::McpElicitation => elicitation_choices(&request.params),
        RequestKind::LegacyApproval => vec![
            choice("approve", json!({ "decision": "approved" })),
            choice(
                "approve for the session",
                json!({ "decision": "approved_for_session" }),
            ),
            choice(
                "deny, continue without it",
                json!({ "decision": { "denied": { "rejection": "denied by the operator" } } }),
            ),
            choice("abort, stop the turn", json!({ "decision": "abort" })),
        ],
        RequestKind::ToolCall | RequestKind::CommandApproval | RequestKind::FileChangeApproval => {
            Vec::new()
        }
    }
}

/// Exactly what a permissions request asks, as a grant: network and file-system access.
pub fn granted(asked: &Value) -> Value {
    let mut grant = Map::new();
    if let Some(network) = asked.get("network").filter(|n| n.is_object()) {
        let mut enabled = Map::new();
        if let Some(on) = network.get("enabled").and_then(Value::as_bool) {
            enabled.insert("enabled".to_string(), Value::Bool(on));
        }
        grant.insert("network".to_string(), Value::Object(enabled));
    }
    if let Some(file_system) = asked.get("fileSystem").filter(|f| f.is_object()) {
        let kept: Map<String, Value> = file_system
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        grant.insert("fileSystem".to_string(), Value::Object(kept));
    }
    Value::Object(grant)
}

/// The persist options an MCP tool-call approval offers (`_meta.persist`: a word or a
/// list of them).
pub fn persist_options(params: &Value) -> Vec<String> {
    match params.get("_meta").and_then(|m| m.get("persist")) {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// An elicitation without fields to fill: accept (with the persist options of an MCP
/// tool-call approval), decline, cancel.
fn elicitation_choices(params: &Value) -> Vec<Choice> {
    let choice = |label: String, answer: Value| Choice {
        label,
        offered: false,
        answer,
    };
    let url = params.get("mode").and_then(Value::as_str) == Some("url");
    let approval = is_tool_call_approval(params);
    let mut choices = Vec::new();
    if approval {
        choices.push(choice(
            "allow this call".to_string(),
            json!({ "action": "accept", "content": {} }),
        ));
        for persist in persist_options(params) {
            let label = match persist.as_str() {
                "session" => "allow, and don't ask again this session".to_string(),
                "always" => "allow, and don't ask again".to_string(),
                other => format!("allow, and remember ({other})"),
            };
            choices.push(choice(
                label,
                json!({ "action": "accept", "content": {}, "_meta": { "persist": persist } }),
            ));
        }
    } else if url {
        choices.push(choice(
            "accept: I opened the url and did what it asks".to_string(),
            json!({ "action": "accept" }),
        ));
    } else {
        choices.push(choice(
            "accept".to_string(),
            json!({ "action": "accept", "content": {} }),
        ));
    }
    choices.push(choice(
        "decline".to_string(),
        json!({ "action": "decline" }),
    ));
    choices.push(choice("cancel".to_string(), json!({ "action": "cancel" })));
    choices
}

/// A decision in plain words.
pub fn decision_label(decision: &Value) -> String {
    if let Some(word) = decision.as_str() {
        return match word {
            "accept" => "accept".to_string(),
            "acceptForSession" => "accept for the session".to_string(),
            "decline" => "decline, continue without it".to_string(),
            "cancel" => "cancel, stop the turn".to_string(),
            other => other.to_string(),
        };
    }
    if let Some(amendment) = decision.get("acceptWithExecpolicyAmendment") {
        let prefix = amendment
            .get("execpolicy_amendment")
            .and_then(Value::as_array)
            .map(|words| {
                words
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        return format!("accept, and don't ask again for commands starting with `{prefix}`");
    }
    if let Some(amendment) = decision.get("applyNetworkPolicyAmendment") {
        let rule = amendment
            .get("network_policy_amendment")
            .unwrap_or(amendment);
        let host = rule.get("host").and_then(Value::as_str).unwrap_or("?");
        return match rule.get("action").and_then(Value::as_str) {
            Some("deny") => format!("deny the host {host} from now on"),
            _ => format!("allow the host {host} from now on"),
        };
    }
    decision.to_string()
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod kinds_tests;

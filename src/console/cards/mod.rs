//! Cards for the requests other than tool calls that wait on the operator: command and
//! file-change approvals first (a list of decisions), with a plain card for the other
//! kinds. Pure state and keys: `ui/cards.rs` draws them, `app.rs` opens and closes them.

use crossterm::event::{KeyCode, KeyEvent};
use serde_json::{Value, json};

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
    /// Close the card; the request stays pending.
    Close,
    /// Send this answer.
    Send(Value),
}

/// A card answering one pending request.
#[derive(Debug, Clone)]
pub struct RequestCard {
    pub request: PendingRequestView,
    pub choices: Vec<Choice>,
    pub selected: usize,
    pub scroll: u16,
    /// An answer is on its way.
    pub sending: bool,
}

impl RequestCard {
    pub fn new(request: PendingRequestView) -> RequestCard {
        let choices = choices(&request);
        RequestCard {
            request,
            choices,
            selected: 0,
            scroll: 0,
            sending: false,
        }
    }

    /// Esc closes (never decides); Up/Down choose; Enter or a number sends.
    pub fn on_key(&mut self, key: KeyEvent) -> CardKey {
        match key.code {
            KeyCode::Esc => CardKey::Close,
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
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_add(10);
                CardKey::Stay
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(10);
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
            Some(choice) if !self.sending => {
                self.sending = true;
                CardKey::Send(choice.answer.clone())
            }
            _ => CardKey::Stay,
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
    match request.kind {
        RequestKind::UserInput => vec![Choice {
            label: "skip the question (answer nothing)".to_string(),
            offered: false,
            answer: json!({ "answers": {} }),
        }],
        _ => Vec::new(),
    }
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
mod tests;

//! A one-line text input for the cards: typed characters go at the end, Backspace takes
//! the last one back. Secrets are drawn masked.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub text: String,
}

impl Input {
    pub fn new(text: impl Into<String>) -> Input {
        Input { text: text.into() }
    }

    /// Applies a typing key; whether the key was one.
    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return false;
        }
        match key.code {
            KeyCode::Char(c) => {
                self.text.push(c);
                true
            }
            KeyCode::Backspace => {
                self.text.pop();
                true
            }
            _ => false,
        }
    }

    /// Pasted text, on one line.
    pub fn paste(&mut self, text: &str) {
        self.text.extend(
            text.chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// What the screen shows: the text, or one `•` per character for a secret.
    pub fn shown(&self, secret: bool) -> String {
        if secret {
            "•".repeat(self.text.chars().count())
        } else {
            self.text.clone()
        }
    }
}

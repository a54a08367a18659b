//! The user-input card (`item/tool/requestUserInput`): one page per question with its
//! header, the question, the options and their descriptions, a free answer when the
//! question allows "other" (masked when it is a secret), and an optional note.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;

use super::input::Input;
use crate::protocol::{UserInputAnswer, UserInputQuestion, UserInputResponse};

/// Where the cursor is on a question's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Option(usize),
    /// The free answer: "other" next to options, or the only answer without them.
    Free,
    Note,
}

/// What the operator chose on one question's page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub row: usize,
    /// The option picked, or `options.len()` for the free answer.
    pub choice: Option<usize>,
    pub free: Input,
    pub note: Input,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Questions {
    pub questions: Vec<UserInputQuestion>,
    pub pages: Vec<Page>,
    pub page: usize,
}

/// What a key on the question card leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum QuestionsKey {
    Stay,
    /// Every question is answered: send this.
    Submit(UserInputResponse),
    /// The operator declines to answer: `{"answers":{}}`.
    Decline,
    /// Not sent: what to fix.
    Problem(String),
}

impl Questions {
    /// The questions of a request's params; `None` when they do not parse.
    pub fn from_params(params: &Value) -> Option<Questions> {
        let questions: Vec<UserInputQuestion> =
            serde_json::from_value(params.get("questions")?.clone()).ok()?;
        if questions.is_empty() {
            return None;
        }
        let pages = questions
            .iter()
            .map(|q| Page {
                row: 0,
                choice: if option_count(q) > 0 {
                    Some(0)
                } else {
                    Some(0).filter(|_| has_free(q))
                },
                ..Page::default()
            })
            .collect();
        Some(Questions {
            questions,
            pages,
            page: 0,
        })
    }

    pub fn question(&self) -> &UserInputQuestion {
        &self.questions[self.page]
    }

    pub fn current(&self) -> &Page {
        &self.pages[self.page]
    }

    /// The rows of the current page, top to bottom.
    pub fn rows(&self) -> Vec<Row> {
        rows(self.question())
    }

    pub fn on_key(&mut self, key: KeyEvent) -> QuestionsKey {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('s') if ctrl => return self.submit(),
            KeyCode::F(3) => return QuestionsKey::Decline,
            KeyCode::Char('x') if alt => return QuestionsKey::Decline,
            KeyCode::Tab => self.turn_page(1),
            KeyCode::BackTab => self.turn_page(-1),
            KeyCode::Enter => {
                if self.page + 1 < self.questions.len() {
                    self.turn_page(1);
                } else {
                    return self.submit();
                }
            }
            KeyCode::Up => self.move_row(-1),
            KeyCode::Down => self.move_row(1),
            _ => self.type_key(key),
        }
        QuestionsKey::Stay
    }

    pub fn paste(&mut self, text: &str) {
        let rows = self.rows();
        let page = &mut self.pages[self.page];
        match rows[page.row] {
            Row::Free => page.free.paste(text),
            Row::Note => page.note.paste(text),
            Row::Option(_) => {}
        }
    }

    fn turn_page(&mut self, delta: isize) {
        let last = self.questions.len().saturating_sub(1);
        self.page = self.page.saturating_add_signed(delta).min(last);
    }

    fn move_row(&mut self, delta: isize) {
        let rows = self.rows();
        let page = &mut self.pages[self.page];
        page.row = page
            .row
            .saturating_add_signed(delta)
            .min(rows.len().saturating_sub(1));
        let options = rows.iter().filter(|r| matches!(r, Row::Option(_))).count();
        match rows[page.row] {
            Row::Option(index) => page.choice = Some(index),
            Row::Free => page.choice = Some(options),
            Row::Note => {}
        }
    }

    fn type_key(&mut self, key: KeyEvent) {
        let rows = self.rows();
        let options = rows.iter().filter(|r| matches!(r, Row::Option(_))).count();
        let page = &mut self.pages[self.page];
        match rows[page.row] {
            Row::Free => {
                page.free.on_key(&key);
            }
            Row::Note => {
                page.note.on_key(&key);
            }
            Row::Option(_) => {
                // A digit picks an option; anything else typed goes to the free answer.
                if let KeyCode::Char(c @ '1'..='9') = key.code {
                    let index = usize::from(c as u8 - b'1');
                    if index < options {
                        page.row = index;
                        page.choice = Some(index);
                    }
                } else if let Some(free) = rows.iter().position(|r| *r == Row::Free)
                    && matches!(key.code, KeyCode::Char(_))
                {
                    page.row = free;
                    page.choice = Some(options);
                    page.free.on_key(&key);
                }
            }
        }
    }

    /// The answer to question `index`, or why there is none yet.
    pub fn answer(&self, index: usize) -> Result<UserInputAnswer, String> {
        let question = &self.questions[index];
        let page = &self.pages[index];
        let options = question.options.as_deref().unwrap_or_default();
        let name = if question.header.is_empty() {
            format!("question {}", index + 1)
        } else {
            format!("question {} ({})", index + 1, question.header)
        };
        let mut answers = match page.choice {
            Some(choice) if choice < options.len() => vec![options[choice].label.clone()],
            Some(_) if !page.free.is_empty() => vec![page.free.text.trim().to_string()],
            Some(_) => {
                return Err(format!("{name} has no answer yet: type one"));
            }
            None => return Err(format!("{name} has no answer yet: pick an option")),
        };
        if !page.note.is_empty() {
            answers.push(format!("user_note: {}", page.note.text.trim()));
        }
        Ok(UserInputAnswer { answers })
    }

    fn submit(&mut self) -> QuestionsKey {
        let mut answers = BTreeMap::new();
        for index in 0..self.questions.len() {
            match self.answer(index) {
                Ok(answer) => {
                    answers.insert(self.questions[index].id.clone(), answer);
                }
                Err(problem) => {
                    self.page = index;
                    return QuestionsKey::Problem(problem);
                }
            }
        }
        QuestionsKey::Submit(UserInputResponse { answers })
    }
}

fn option_count(question: &UserInputQuestion) -> usize {
    question.options.as_ref().map_or(0, Vec::len)
}

/// A free answer: "other" beside options, and always when there are no options.
pub fn has_free(question: &UserInputQuestion) -> bool {
    question.is_other || option_count(question) == 0
}

pub fn rows(question: &UserInputQuestion) -> Vec<Row> {
    let mut rows: Vec<Row> = (0..option_count(question)).map(Row::Option).collect();
    if has_free(question) {
        rows.push(Row::Free);
    }
    rows.push(Row::Note);
    rows
}

//! The MCP elicitation form: one field per property of `requestedSchema` (string,
//! number, integer, boolean, enum), with required fields and defaults, each value
//! checked against its type before anything is sent.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Map, Value, json};

use super::input::Input;

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text,
    Number,
    Integer,
    Boolean,
    /// The values sent, with the labels shown.
    Enum(Vec<(Value, String)>),
}

impl FieldKind {
    pub fn word(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Integer => "whole number",
            FieldKind::Boolean => "yes/no",
            FieldKind::Enum(_) => "one of",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub kind: FieldKind,
    pub required: bool,
    pub input: Input,
    pub flag: bool,
    /// The enum value picked.
    pub choice: Option<usize>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    /// Changed by the operator (its problems show from then on).
    pub touched: bool,
}

impl Field {
    fn from_schema(name: &str, schema: &Value, required: bool) -> Field {
        let text = |key: &str| schema.get(key).and_then(Value::as_str).map(str::to_string);
        let kind = enum_values(schema).map(FieldKind::Enum).unwrap_or_else(|| {
            match schema.get("type").and_then(Value::as_str) {
                Some("number") => FieldKind::Number,
                Some("integer") => FieldKind::Integer,
                Some("boolean") => FieldKind::Boolean,
                _ => FieldKind::Text,
            }
        });
        let default = schema.get("default");
        let mut field = Field {
            name: name.to_string(),
            title: text("title").unwrap_or_else(|| name.to_string()),
            description: text("description"),
            required,
            input: Input::default(),
            flag: false,
            choice: None,
            min_length: schema.get("minLength").and_then(Value::as_u64),
            max_length: schema.get("maxLength").and_then(Value::as_u64),
            minimum: schema.get("minimum").and_then(Value::as_f64),
            maximum: schema.get("maximum").and_then(Value::as_f64),
            touched: false,
            kind,
        };
        match (&field.kind, default) {
            (FieldKind::Boolean, Some(Value::Bool(b))) => field.flag = *b,
            (FieldKind::Enum(values), Some(d)) => {
                field.choice = values.iter().position(|(v, _)| v == d);
            }
            (_, Some(Value::String(s))) => field.input = Input::new(s.clone()),
            (_, Some(Value::Number(n))) => field.input = Input::new(n.to_string()),
            _ => {}
        }
        field
    }

    /// The value to send (`None`: left out), or what is wrong with it.
    pub fn value(&self) -> Result<Option<Value>, String> {
        let text = self.input.text.trim();
        let missing = || {
            if self.required {
                Err("required".to_string())
            } else {
                Ok(None)
            }
        };
        match &self.kind {
            FieldKind::Boolean => Ok(Some(Value::Bool(self.flag))),
            FieldKind::Enum(values) => match self.choice {
                Some(index) => Ok(values.get(index).map(|(v, _)| v.clone())),
                None => missing(),
            },
            _ if text.is_empty() => missing(),
            FieldKind::Text => {
                let length = text.chars().count() as u64;
                if let Some(min) = self.min_length
                    && length < min
                {
                    return Err(format!("at least {min} character(s)"));
                }
                if let Some(max) = self.max_length
                    && length > max
                {
                    return Err(format!("at most {max} character(s)"));
                }
                Ok(Some(Value::String(text.to_string())))
            }
            FieldKind::Integer => {
                let n: i64 = text
                    .parse()
                    .map_err(|_| format!("`{text}` is not a whole number"))?;
                self.in_range(n as f64)?;
                Ok(Some(json!(n)))
            }
            FieldKind::Number => {
                let n: f64 = text
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| format!("`{text}` is not a number"))?;
                self.in_range(n)?;
                Ok(Some(json!(n)))
            }
        }
    }

    fn in_range(&self, n: f64) -> Result<(), String> {
        if let Some(min) = self.minimum
            && n < min
        {
            return Err(format!("at least {min}"));
        }
        if let Some(max) = self.maximum
            && n > max
        {
            return Err(format!("at most {max}"));
        }
        Ok(())
    }

    /// What the field shows as its value.
    pub fn shown(&self) -> String {
        match &self.kind {
            FieldKind::Boolean => (if self.flag { "[x] yes" } else { "[ ] no" }).to_string(),
            FieldKind::Enum(values) => {
                let picked = self
                    .choice
                    .and_then(|i| values.get(i))
                    .map_or("(none)", |(_, label)| label.as_str());
                format!("◀ {picked} ▶  ({} choices)", values.len())
            }
            _ => self.input.text.clone(),
        }
    }

    fn on_key(&mut self, key: &KeyEvent) {
        match &self.kind {
            FieldKind::Boolean => {
                if matches!(
                    key.code,
                    KeyCode::Char(' ' | 'y' | 'n') | KeyCode::Left | KeyCode::Right
                ) {
                    self.flag = match key.code {
                        KeyCode::Char('y') => true,
                        KeyCode::Char('n') => false,
                        _ => !self.flag,
                    };
                    self.touched = true;
                }
            }
            FieldKind::Enum(values) => {
                let count = values.len();
                if count == 0 {
                    return;
                }
                let next = match (key.code, self.choice) {
                    (KeyCode::Right | KeyCode::Char(' '), None) => 0,
                    (KeyCode::Left, None) => count - 1,
                    (KeyCode::Right | KeyCode::Char(' '), Some(i)) => (i + 1) % count,
                    (KeyCode::Left, Some(i)) => (i + count - 1) % count,
                    _ => return,
                };
                self.choice = Some(next);
                self.touched = true;
            }
            _ => {
                if self.input.on_key(key) {
                    self.touched = true;
                }
            }
        }
    }
}

/// An enum's values and labels: `enum` (with `enumNames`), or `oneOf`/`anyOf` of
/// `{const, title}`.
fn enum_values(schema: &Value) -> Option<Vec<(Value, String)>> {
    let label = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names = schema.get("enumNames").and_then(Value::as_array);
        return Some(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let name = names
                        .and_then(|n| n.get(i))
                        .and_then(Value::as_str)
                        .map_or_else(|| label(v), str::to_string);
                    (v.clone(), name)
                })
                .collect(),
        );
    }
    let options = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    let values: Vec<(Value, String)> = options
        .iter()
        .filter_map(|o| {
            let value = o.get("const")?.clone();
            let title = o
                .get("title")
                .and_then(Value::as_str)
                .map_or_else(|| label(&value), str::to_string);
            Some((value, title))
        })
        .collect();
    (!values.is_empty()).then_some(values)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub fields: Vec<Field>,
    pub selected: usize,
    /// A submit was tried: every problem shows.
    pub submitted: bool,
}

/// What a key on the form leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum FormKey {
    Stay,
    /// Valid: accept with this content.
    Submit(Value),
    Decline,
    Cancel,
    Problem(String),
}

impl Form {
    /// The form of a `requestedSchema`; `None` when it has no fields. Required fields
    /// first, in the order `required` lists them, then the others by name.
    pub fn from_schema(schema: &Value) -> Option<Form> {
        let properties = schema.get("properties")?.as_object()?;
        if properties.is_empty() {
            return None;
        }
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut names: Vec<&String> = properties.keys().collect();
        names.sort_by_key(|name| {
            (
                required
                    .iter()
                    .position(|r| *r == name.as_str())
                    .unwrap_or(usize::MAX),
                name.to_string(),
            )
        });
        let fields = names
            .into_iter()
            .map(|name| {
                Field::from_schema(name, &properties[name], required.contains(&name.as_str()))
            })
            .collect();
        Some(Form {
            fields,
            selected: 0,
            submitted: false,
        })
    }

    /// The problem a field shows now.
    pub fn problem(&self, index: usize) -> Option<String> {
        let field = self.fields.get(index)?;
        if !(field.touched || self.submitted) {
            return None;
        }
        field.value().err()
    }

    pub fn on_key(&mut self, key: KeyEvent) -> FormKey {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let last = self.fields.len().saturating_sub(1);
        match key.code {
            KeyCode::Enter => return self.submit(),
            KeyCode::Char('s') if ctrl => return self.submit(),
            KeyCode::F(3) => return FormKey::Decline,
            KeyCode::Char('x') if alt => return FormKey::Decline,
            KeyCode::F(4) => return FormKey::Cancel,
            KeyCode::Char('c') if alt => return FormKey::Cancel,
            KeyCode::Tab | KeyCode::Down => self.selected = (self.selected + 1).min(last),
            KeyCode::BackTab | KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            _ => {
                if let Some(field) = self.fields.get_mut(self.selected) {
                    field.on_key(&key);
                }
            }
        }
        FormKey::Stay
    }

    pub fn paste(&mut self, text: &str) {
        if let Some(field) = self.fields.get_mut(self.selected)
            && matches!(
                field.kind,
                FieldKind::Text | FieldKind::Number | FieldKind::Integer
            )
        {
            field.input.paste(text);
            field.touched = true;
        }
    }

    /// The content when every field is valid; otherwise the first problem, selected.
    pub fn submit(&mut self) -> FormKey {
        self.submitted = true;
        let mut content = Map::new();
        for (index, field) in self.fields.iter().enumerate() {
            match field.value() {
                Ok(Some(value)) => {
                    content.insert(field.name.clone(), value);
                }
                Ok(None) => {}
                Err(problem) => {
                    self.selected = index;
                    return FormKey::Problem(format!("{}: {problem}", field.title));
                }
            }
        }
        FormKey::Submit(Value::Object(content))
    }
}

//! The response editor: answer one pending call by hand, as text, as a raw result, or by
//! failing it with a reason. Validation is live; invalid input is never sent.

use ratatui_textarea::TextArea;
use serde_json::Value;

use crate::bridge::PendingCallView;
use crate::protocol::{ToolCallResult, parse_tool_call_result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorMode {
    /// The text becomes one `inputText` item.
    Text,
    /// The text is the whole result: `{"contentItems":[..],"success":..}`.
    Raw,
    /// The text is the reason; the call is answered `success:false`.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorState {
    Editing,
    Sending,
    RunningHandler,
    /// The call ended while the editor was open; nothing can be sent any more.
    Ended(String),
}

/// Why the current input cannot be sent, with where (1-based) when JSON is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "line {line}, column {column}: {}", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

/// The result that fails a call for `reason`: the model is told the operator failed it.
pub fn failure(reason: &str) -> ToolCallResult {
    ToolCallResult::text(
        false,
        format!("The operator failed this tool call: {}", reason.trim()),
    )
}

/// An answer typed but not sent, kept per call while the editor is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub mode: EditorMode,
    pub success: bool,
    pub text: String,
}

pub struct ResponseEditor {
    pub call: PendingCallView,
    pub input_schema: Option<Value>,
    pub has_handler: bool,
    pub mode: EditorMode,
    /// Text mode's `success` flag.
    pub success: bool,
    pub textarea: TextArea<'static>,
    pub state: EditorState,
    /// The last thing worth telling the operator (an error or an outcome).
    pub message: Option<String>,
}

impl ResponseEditor {
    pub fn new(call: PendingCallView, input_schema: Option<Value>, has_handler: bool) -> Self {
        let proposed = call.proposed.clone();
        let mut editor = ResponseEditor {
            call,
            input_schema,
            has_handler,
            mode: EditorMode::Text,
            success: true,
            textarea: TextArea::default(),
            state: EditorState::Editing,
            message: None,
        };
        match proposed {
            Some(result) => {
                editor.review_result(&result);
                editor.message = Some("the held handler's answer: review it, then ^S".to_string());
            }
            None => editor.set_text(""),
        }
        editor
    }

    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    fn set_text(&mut self, text: &str) {
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        self.textarea = TextArea::new(lines);
        self.textarea.set_placeholder_text(match self.mode {
            EditorMode::Text => "type the answer the model gets",
            EditorMode::Raw => {
                "{\"contentItems\":[{\"type\":\"inputText\",\"text\":\"...\"}],\"success\":true}"
            }
            EditorMode::Fail => "why the call fails (the model is told)",
        });
    }

    /// Shows a result in raw mode, for review (a handler's answer, a held proposal).
    /// Shows a result for review: a single text item as its text in text mode (real
    /// lines: a long answer reads as text and stays cheap to draw), anything else in raw
    /// mode.
    pub fn review_result(&mut self, result: &ToolCallResult) {
        match result.content_items.as_slice() {
            [crate::protocol::ContentItem::InputText { text }] => {
                self.mode = EditorMode::Text;
                self.success = result.success;
                let text = text.clone();
                self.set_text(&text);
            }
            _ => self.load_result(result),
        }
    }

    pub fn load_result(&mut self, result: &ToolCallResult) {
        self.mode = EditorMode::Raw;
        let text = serde_json::to_string_pretty(result).unwrap_or_default();
        self.set_text(&text);
    }

    /// Text → raw keeps what was typed, as a result; raw → text keeps a single text
    /// item's text. Fail mode goes back to text with the reason as the text. No switch
    /// loses what was typed.
    pub fn toggle_mode(&mut self) {
        match self.mode {
            EditorMode::Text => {
                let result = ToolCallResult::text(self.success, self.text());
                self.load_result(&result);
            }
            EditorMode::Raw => {
                let text = self.raw_as_text();
                self.mode = EditorMode::Text;
                self.set_text(&text);
            }
            EditorMode::Fail => {
                let text = self.text();
                self.mode = EditorMode::Text;
                self.set_text(&text);
            }
        }
    }

    /// Raw input as plain text: a valid result's text, else the JSON as typed.
    fn raw_as_text(&mut self) -> String {
        match self.validate() {
            Ok(result) => {
                self.success = result.success;
                result.joined_text()
            }
            Err(_) => self.text(),
        }
    }

    pub fn toggle_success(&mut self) {
        if self.mode == EditorMode::Text {
            self.success = !self.success;
        } else {
            self.message = Some("success is part of the JSON in raw mode".to_string());
        }
    }

    /// Into fail mode, with what was typed as the reason; from fail mode back to text.
    pub fn toggle_fail(&mut self) {
        let text = match self.mode {
            EditorMode::Fail => {
                self.toggle_mode();
                return;
            }
            EditorMode::Raw => self.raw_as_text(),
            EditorMode::Text => self.text(),
        };
        self.mode = EditorMode::Fail;
        self.set_text(&text);
    }

    /// Replaces the text (from the external editor), keeping the mode.
    pub fn replace_text(&mut self, text: &str) {
        self.set_text(text);
        self.textarea
            .move_cursor(ratatui_textarea::CursorMove::Bottom);
        self.textarea.move_cursor(ratatui_textarea::CursorMove::End);
        self.message = None;
    }

    /// Whether closing would lose typed work if it were not kept as a draft.
    pub fn has_input(&self) -> bool {
        !self.text().trim().is_empty()
    }

    /// What was typed, to restore when the editor opens on the call again.
    pub fn draft(&self) -> Draft {
        Draft {
            mode: self.mode,
            success: self.success,
            text: self.text(),
        }
    }

    pub fn restore(&mut self, draft: &Draft) {
        self.mode = draft.mode;
        self.success = draft.success;
        self.set_text(&draft.text);
        self.textarea
            .move_cursor(ratatui_textarea::CursorMove::Bottom);
        self.textarea.move_cursor(ratatui_textarea::CursorMove::End);
        self.message = Some("your draft for this call".to_string());
    }

    /// What would be sent, or why nothing can be.
    pub fn validate(&self) -> Result<ToolCallResult, InputError> {
        let text = self.text();
        let plain = |message: &str| InputError {
            message: message.to_string(),
            line: None,
            column: None,
        };
        match self.mode {
            EditorMode::Text if text.trim().is_empty() => Err(plain("type an answer first")),
            EditorMode::Text => Ok(ToolCallResult::text(self.success, text)),
            EditorMode::Fail if text.trim().is_empty() => {
                Err(plain("type the reason the call fails"))
            }
            EditorMode::Fail => Ok(failure(&text)),
            EditorMode::Raw => {
                let value: Value = serde_json::from_str(&text).map_err(|e| {
                    // serde_json appends the position, which is shown separately.
                    let full = e.to_string();
                    let suffix = format!(" at line {} column {}", e.line(), e.column());
                    InputError {
                        message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
                        line: Some(e.line()),
                        column: Some(e.column()),
                    }
                })?;
                let result = parse_tool_call_result(value).map_err(|message| InputError {
                    message,
                    line: None,
                    column: None,
                })?;
                // As in text mode: an answer with nothing in it is not an answer.
                let empty = result.content_items.iter().all(|item| {
                    matches!(item, crate::protocol::ContentItem::InputText { text } if text.trim().is_empty())
                });
                if empty {
                    return Err(plain(
                        "the answer is empty: put the model's text in contentItems",
                    ));
                }
                Ok(result)
            }
        }
    }

    pub fn can_send(&self) -> bool {
        self.state == EditorState::Editing && self.validate().is_ok()
    }

    /// The call ended meanwhile: say so, and how when it is known ("answered by
    /// handler lookup", "expired: turn interrupted"), and send nothing from now on.
    pub fn call_ended(&mut self, how: Option<&str>) {
        let text = match how {
            Some(how) => format!("call already ended ({how})"),
            None => "call already ended".to_string(),
        };
        self.state = EditorState::Ended(text.clone());
        self.message = Some(text);
        // Nobody is answering it any more: no "being answered by" banner over the end.
        self.call.claim = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::Answerer;
    use serde_json::json;

    fn call() -> PendingCallView {
        PendingCallView {
            app_server: "local".to_string(),
            request_id: "r-1".to_string(),
            thread_id: "t".to_string(),
            turn_id: "u".to_string(),
            call_id: "c".to_string(),
            namespace: None,
            tool: "approve_refund".to_string(),
            arguments: json!({"order_id": "17"}),
            received_at_ms: 0,
            answerer: Answerer::Person,
            schema_problems: Vec::new(),
            in_flight: false,
            proposed: None,
            claim: None,
        }
    }

    fn type_text(editor: &mut ResponseEditor, text: &str) {
        editor.textarea.insert_str(text);
    }

    #[test]
    fn a_call_that_ends_while_open_drops_its_claim_banner() {
        let mut claimed = call();
        claimed.claim = Some(crate::bridge::CallClaim {
            claim_id: "k-1".to_string(),
            holder: "ana".to_string(),
            lease_expires_at_ms: 0,
        });
        let mut editor = ResponseEditor::new(claimed, None, false);
        editor.call_ended(Some("answered by remote console ana"));
        assert_eq!(editor.call.claim, None);
        assert_eq!(
            editor.state,
            EditorState::Ended("call already ended (answered by remote console ana)".to_string())
        );
    }

    #[test]
    fn text_mode_sends_one_text_item_with_the_success_flag() {
        let mut editor = ResponseEditor::new(call(), None, false);
        assert!(editor.validate().is_err(), "empty text is not an answer");
        type_text(&mut editor, "approved");
        assert_eq!(
            editor.validate().unwrap(),
            ToolCallResult::text(true, "approved")
        );
        editor.toggle_success();
        assert_eq!(
            editor.validate().unwrap(),
            ToolCallResult::text(false, "approved")
        );
    }

    #[test]
    fn raw_mode_reports_json_errors_with_line_and_column() {
        let mut editor = ResponseEditor::new(call(), None, false);
        type_text(&mut editor, "ok");
        editor.toggle_mode();
        assert_eq!(editor.mode, EditorMode::Raw);
        assert_eq!(editor.validate().unwrap(), ToolCallResult::text(true, "ok"));
        editor.set_text(
            "{\n  \"contentItems\": [\n    {\"type\": \"inputText\" \"text\": \"x\"}\n  ]\n}",
        );
        let err = editor.validate().unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(26)), "{err}");
        editor.set_text("{\"contentItems\": [{\"type\": \"bogus\"}]}");
        let err = editor.validate().unwrap_err();
        assert!(err.message.contains("contentItems[0]"), "{err}");
        assert!(!editor.can_send());
    }

    #[test]
    fn an_empty_raw_answer_is_refused_like_an_empty_text_one() {
        let mut editor = ResponseEditor::new(call(), None, false);
        editor.toggle_mode();
        assert_eq!(editor.mode, EditorMode::Raw);
        let err = editor.validate().unwrap_err();
        assert!(err.message.contains("empty"), "{err}");
        editor.set_text("{\"contentItems\": [], \"success\": true}");
        assert!(editor.validate().is_err());
    }

    #[test]
    fn switching_back_to_text_keeps_a_single_text_item() {
        let mut editor = ResponseEditor::new(call(), None, false);
        editor.load_result(&ToolCallResult::text(false, "from the handler"));
        editor.toggle_mode();
        assert_eq!(editor.mode, EditorMode::Text);
        assert_eq!(editor.text(), "from the handler");
        assert!(!editor.success);
    }

    #[test]
    fn failing_needs_a_reason_and_tells_the_model() {
        let mut editor = ResponseEditor::new(call(), None, false);
        editor.toggle_fail();
        assert!(editor.validate().is_err());
        type_text(&mut editor, "refunds are frozen");
        let result = editor.validate().unwrap();
        assert!(!result.success);
        assert!(
            result.joined_text().contains("failed")
                && result.joined_text().contains("refunds are frozen")
        );
    }

    #[test]
    fn a_held_proposal_opens_as_its_text_and_an_ended_call_cannot_send() {
        let mut held = call();
        held.proposed = Some(ToolCallResult::text(true, "proposed\nsecond line"));
        let mut editor = ResponseEditor::new(held, None, true);
        assert_eq!(editor.mode, EditorMode::Text);
        assert_eq!(editor.textarea.lines(), ["proposed", "second line"]);
        assert_eq!(
            editor.validate().unwrap(),
            ToolCallResult::text(true, "proposed\nsecond line")
        );
        assert!(editor.can_send());
        editor.call_ended(None);
        assert!(!editor.can_send());
        assert_eq!(editor.message.as_deref(), Some("call already ended"));
    }
}

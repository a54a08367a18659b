//! The fold's own rules: what it keeps of a session's rows.

use super::*;
use crate::bridge::TranscriptEntry;
use crate::bridge::items::{ItemRow, OUTPUT_IN_MEMORY};
use crate::console::test_support::row;

fn command(output: &str) -> TranscriptEntry {
    TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "cargo test".to_string(),
        cwd: "/work".to_string(),
        status: "completed".to_string(),
        exit_code: Some(0),
        duration_ms: Some(900),
        output: output.to_string(),
        output_cut_bytes: 0,
        output_lines: 0,
    })
}

fn held(transcript: &Transcript) -> Vec<(usize, usize)> {
    transcript
        .rows
        .iter()
        .filter_map(|r| match &r.entry {
            TranscriptEntry::Item(ItemRow::Command {
                output,
                output_cut_bytes,
                ..
            }) => Some((output.len(), *output_cut_bytes)),
            _ => None,
        })
        .collect()
}

/// Rows that reach the console whole (a snapshot or an event from a bridge that did not
/// cut them, or from elsewhere) are held as the bridge holds them: a long command output
/// keeps its tail and says how much was cut.
#[test]
fn the_console_holds_a_long_command_output_cut_to_its_tail() {
    let long: String = (0..2_000)
        .map(|n| format!("test case {n:04} ... ok\n"))
        .collect();
    assert!(long.len() > OUTPUT_IN_MEMORY);
    let mut model = Model::new(crate::lab::console::status());
    model.apply(&BridgeEvent::TranscriptAppended {
        thread_id: "thread-1".to_string(),
        row: row(0, command(&long)),
    });
    model.apply(&BridgeEvent::TranscriptAppended {
        thread_id: "thread-1".to_string(),
        row: row(1, command("short\n")),
    });
    let transcript = &model.transcripts["thread-1"];
    let kept = held(transcript);
    assert_eq!(kept[1], (6, 0), "a short output is kept whole");
    let (len, cut) = kept[0];
    assert!(len <= OUTPUT_IN_MEMORY);
    assert_eq!(len + cut, long.len());
    let TranscriptEntry::Item(ItemRow::Command { output, .. }) = &transcript.rows[0].entry else {
        panic!("not a command row");
    };
    assert!(
        output.ends_with("test case 1999 ... ok\n"),
        "the tail is kept"
    );
}

/// The protocol log keeps the raw lines, and a command's `item/completed` carries its
/// whole output: the log keeps at most `PROTOCOL_BYTES` of them, dropping the oldest.
#[test]
fn the_protocol_log_keeps_a_bounded_number_of_bytes() {
    use crate::appserver::{Direction, ProtocolLine};
    use crate::console::app::{App, PROTOCOL_BYTES};
    let mut app = App::new(
        crate::lab::synthetic::static_catalog().unwrap(),
        crate::lab::console::status(),
    );
    let big = "x".repeat(1024 * 1024);
    for i in 0..20 {
        app.on_protocol_line(ProtocolLine {
            at_ms: i,
            generation: 1,
            direction: Direction::In,
            text: format!(r#"{{"n":{i},"output":"{big}"}}"#).into(),
        });
    }
    let log = &app.protocol;
    let held: usize = log.lines.iter().map(|l| l.text.len()).sum();
    assert_eq!(held, log.bytes);
    assert!(held <= PROTOCOL_BYTES, "{held} bytes held");
    assert_eq!(log.lines.len() as u64 + log.dropped, 20);
    assert!(log.lines.back().unwrap().text.starts_with(r#"{"n":19,"#));
    // A single line larger than the budget is still shown.
    app.on_protocol_line(ProtocolLine {
        at_ms: 20,
        generation: 1,
        direction: Direction::In,
        text: "y".repeat(PROTOCOL_BYTES + 1).into(),
    });
    assert_eq!(app.protocol.lines.len(), 1);
}

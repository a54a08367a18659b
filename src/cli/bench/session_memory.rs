//! The memory of one working session (10,000 rows with 200 command outputs of 1,000
//! lines, [`crate::lab::console::working_row`]): the bytes each holder of its rows
//! keeps, measured as the sum of the rows' serialized sizes, against the same rows
//! whole (as the transcript file has them). The holders: the bridge's window of the
//! live session, the window of the same session restored from its file after a
//! restart, and the console's window.

use super::bridge::tempdir;
use super::{BenchError, Figure, Result};
use crate::bridge::TranscriptRow;
use crate::bridge::items::{ItemRow, OUTPUT_IN_MEMORY};
use crate::bridge::transcript::{MEMORY_WINDOW, Transcript, TranscriptEntry, read_transcript};
use crate::lab::console::{session, working_app, working_row};

/// Rows of the session (after its `session.started` row).
const ROWS: u64 = 10_000;

fn bytes(row: &TranscriptRow) -> usize {
    serde_json::to_vec(row).map_or(0, |line| line.len())
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// What one holder keeps: the rows' bytes, and the most output bytes any row keeps.
struct Held {
    rows: usize,
    bytes: usize,
    outputs: usize,
    largest_output: usize,
}

/// Measures `rows` and checks each command against its whole row in `whole` (by
/// seq): at most [`OUTPUT_IN_MEMORY`] bytes kept, and the cut bytes counted.
fn held<'a>(
    rows: impl Iterator<Item = &'a TranscriptRow>,
    whole: &std::collections::HashMap<u64, usize>,
    holder: &str,
) -> Result<Held> {
    let mut held = Held {
        rows: 0,
        bytes: 0,
        outputs: 0,
        largest_output: 0,
    };
    for row in rows {
        held.rows += 1;
        held.bytes += bytes(row);
        if let TranscriptEntry::Item(ItemRow::Command {
            output,
            output_cut_bytes,
            ..
        }) = &row.entry
        {
            held.outputs += 1;
            held.largest_output = held.largest_output.max(output.len());
            let full = whole.get(&row.seq).copied().unwrap_or_default();
            if output.len() > OUTPUT_IN_MEMORY || output.len() + output_cut_bytes != full {
                return Err(BenchError(format!(
                    "{holder}: row {} keeps {} of {full} output bytes and says {output_cut_bytes} were cut",
                    row.seq,
                    output.len()
                )));
            }
        }
    }
    Ok(held)
}

fn figure(holder: &str, held: &Held, whole_bytes: usize) -> Figure {
    Figure::new(
        &format!(
            "bytes held by {holder}, session of 10,000 rows with 200 command outputs of 1,000 lines"
        ),
        "MiB",
        &[mib(held.bytes)],
    )
    .against("the same rows whole (as on disk)", &[mib(whole_bytes)])
    .note(format!(
        "{} rows held, {} of them commands; largest output held {} bytes",
        held.rows, held.outputs, held.largest_output
    ))
    .target(&format!(
        "each output <= {} KiB in memory (full text on disk)",
        OUTPUT_IN_MEMORY / 1024
    ))
}

pub fn figures() -> Result<Vec<Figure>> {
    let data = tempdir()?;
    let thread = session(0).thread_id;
    let mut live =
        Transcript::persisted(data.path(), &thread).map_err(BenchError::from("transcript"))?;
    let started = TranscriptEntry::SessionStarted {
        app_server: None,
        thread_id: thread.clone(),
        cwd: Some("/work/switchboard".to_string()),
        model: Some("gpt-5.1-codex".to_string()),
        tools: Vec::new(),
        watched: false,
    };
    live.append(0, None, started)
        .1
        .map_err(BenchError::from("transcript write"))?;
    for seq in 0..ROWS {
        live.append(0, Some("turn".to_string()), working_row(seq))
            .1
            .map_err(BenchError::from("transcript write"))?;
    }
    let path = live
        .path()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| BenchError("the transcript has no file".to_string()))?;
    // The file has every row whole.
    let (on_disk, bad) = read_transcript(&path).map_err(BenchError::from("read back"))?;
    if bad > 0 || on_disk.len() as u64 != ROWS + 1 {
        return Err(BenchError(format!(
            "read back {} rows and {bad} bad line(s)",
            on_disk.len()
        )));
    }
    let whole_output: std::collections::HashMap<u64, usize> = on_disk
        .iter()
        .filter_map(|row| match &row.entry {
            TranscriptEntry::Item(ItemRow::Command { output, .. }) => Some((row.seq, output.len())),
            _ => None,
        })
        .collect();
    let whole_last = |n: usize| -> usize {
        on_disk[on_disk.len().saturating_sub(n)..]
            .iter()
            .map(bytes)
            .sum()
    };
    let file_bytes = usize::try_from(
        std::fs::metadata(&path)
            .map_err(BenchError::from("transcript file"))?
            .len(),
    )
    .unwrap_or(usize::MAX);

    let bridge = held(live.rows(), &whole_output, "the bridge")?;
    drop(live);
    // A restart: the file read back and reopened, as the bridge restores a session.
    let restored = Transcript::reopen(data.path(), &path, &thread, &on_disk)
        .map_err(BenchError::from("reopen"))?;
    let restored_held = held(restored.rows(), &whole_output, "the restored session")?;
    drop(restored);
    let app = working_app(ROWS, 0).map_err(BenchError::from("bench catalog"))?;
    let console_rows = app
        .model
        .transcripts
        .get(&thread)
        .ok_or_else(|| BenchError("the console has no transcript".to_string()))?;
    // The console's rows are numbered from 0 without the `session.started` row.
    let console_whole: std::collections::HashMap<u64, usize> = whole_output
        .iter()
        .map(|(seq, len)| (seq.saturating_sub(1), *len))
        .collect();
    let console = held(console_rows.rows.iter(), &console_whole, "the console")?;
    let console_whole_bytes: usize = (0..ROWS)
        .map(|seq| {
            bytes(&TranscriptRow {
                seq,
                at_ms: 0,
                turn_id: Some("turn".to_string()),
                entry: working_row(seq),
            })
        })
        .sum();

    Ok(vec![
        figure(
            &format!(
                "the bridge's window ({},{:03} rows)",
                MEMORY_WINDOW / 1000,
                MEMORY_WINDOW % 1000
            ),
            &bridge,
            whole_last(bridge.rows),
        )
        .note(format!(
            "{} rows held, {} of them commands; largest output held {} bytes; the file has all {} rows in {:.1} MiB",
            bridge.rows,
            bridge.outputs,
            bridge.largest_output,
            ROWS + 1,
            mib(file_bytes)
        )),
        figure(
            "the same session restored from its file after a restart",
            &restored_held,
            whole_last(restored_held.rows),
        ),
        figure(
            "the console's window (10,000 rows)",
            &console,
            console_whole_bytes,
        ),
    ])
}

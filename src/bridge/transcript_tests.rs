//! Transcripts under faults: short writes, a full disk (a real tmpfs when the machine
//! allows mounting one), torn and garbled lines, hostile thread ids.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;

/// A disk with `free` bytes left: a write takes what fits (a short write) and fails
/// with ENOSPC when nothing fits, like a full file system.
#[derive(Clone, Default)]
struct FakeDisk(Arc<Mutex<FakeState>>);

#[derive(Default)]
struct FakeState {
    bytes: Vec<u8>,
    free: usize,
    truncate_fails: bool,
}

impl FakeDisk {
    fn with_free(free: usize) -> FakeDisk {
        let disk = FakeDisk::default();
        disk.0.lock().unwrap().free = free;
        disk
    }

    fn set_free(&self, free: usize) {
        self.0.lock().unwrap().free = free;
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().bytes.clone()
    }

    fn transcript(&self) -> Transcript {
        let mut disk = Disk::new(PathBuf::from("/fake/thread-1.jsonl"));
        disk.store = Some(Box::new(self.clone()));
        Transcript::with(Persist::Disk(disk))
    }
}

impl Store for FakeDisk {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock().unwrap();
        if state.free == 0 {
            return Err(std::io::Error::from_raw_os_error(nix::libc::ENOSPC));
        }
        let n = bytes.len().min(state.free);
        state.bytes.extend_from_slice(&bytes[..n]);
        state.free -= n;
        Ok(n)
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        let mut state = self.0.lock().unwrap();
        if state.truncate_fails {
            return Err(std::io::Error::from_raw_os_error(nix::libc::EIO));
        }
        let len = len as usize;
        let cut = state.bytes.len() - len;
        state.bytes.truncate(len);
        state.free += cut;
        Ok(())
    }

    fn byte_len(&mut self) -> std::io::Result<u64> {
        Ok(self.0.lock().unwrap().bytes.len() as u64)
    }
}

fn said(text: &str) -> TranscriptEntry {
    TranscriptEntry::UserMessage {
        text: text.to_string(),
    }
}

fn line_of(transcript_row: &TranscriptRow) -> Vec<u8> {
    let mut line = serde_json::to_vec(transcript_row).unwrap();
    line.push(b'\n');
    line
}

fn texts(rows: &[TranscriptRow]) -> Vec<String> {
    rows.iter()
        .map(|r| match &r.entry {
            TranscriptEntry::UserMessage { text } => text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_short_write_that_cuts_a_character_leaves_only_whole_rows_and_the_row_waits() {
    let disk = FakeDisk::with_free(usize::MAX);
    let mut transcript = disk.transcript();
    let (first, written) = transcript.append(1, None, said("first"));
    written.unwrap();
    let first_len = line_of(&first).len();
    // The second row's text is all two-byte characters; leave room for its start and
    // one byte of one character, so the short write cuts that character in half.
    let text = "é".repeat(40);
    let probe = line_of(&TranscriptRow {
        seq: 1,
        at_ms: 2,
        turn_id: None,
        entry: said(&text),
    });
    let start_of_text = probe.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    disk.set_free(start_of_text + 2 * 5 + 1);

    let (_, written) = transcript.append(2, None, said(&text));
    let error = written.unwrap_err().to_string();
    assert!(error.contains("No space left on device"), "{error}");
    assert_eq!(
        disk.bytes().len(),
        first_len,
        "cut back to the last whole row"
    );
    assert!(!transcript.is_persisted());
    assert_eq!(transcript.persist_error(), Some(error.as_str()));
    let Some(PersistChange::Failed { retry: true, .. }) = transcript.take_change() else {
        panic!("the failure is reported once");
    };
    assert_eq!(transcript.take_change(), None);

    // Still full: the next row waits behind the second.
    let (_, written) = transcript.append(3, None, said("third"));
    assert!(written.is_err());
    assert_eq!(disk.bytes().len(), first_len);

    // Space comes back: the retry writes both, in order.
    disk.set_free(usize::MAX);
    assert!(!transcript.retry(1), "the failure is over");
    assert!(transcript.is_persisted());
    let Some(PersistChange::Cleared { message }) = transcript.take_change() else {
        panic!("the end of the failure is reported");
    };
    assert!(
        message.contains("2 row(s) that waited were written"),
        "{message}"
    );

    let (rows, bad) = parse_transcript(&disk.bytes());
    assert_eq!(bad, 0);
    assert_eq!(texts(&rows), ["first", text.as_str(), "third"]);
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn a_cut_that_fails_leaves_the_torn_part_on_a_line_of_its_own() {
    let disk = FakeDisk::with_free(usize::MAX);
    let mut transcript = disk.transcript();
    transcript.append(1, None, said("first")).1.unwrap();
    disk.0.lock().unwrap().truncate_fails = true;
    disk.set_free(10);
    assert!(transcript.append(2, None, said("second")).1.is_err());
    disk.set_free(usize::MAX);
    transcript.append(3, None, said("third")).1.unwrap();
    let (rows, bad) = parse_transcript(&disk.bytes());
    assert_eq!(bad, 1, "only the torn part is lost");
    assert_eq!(texts(&rows), ["first", "second", "third"]);
}

#[test]
fn rows_that_wait_are_bounded_and_the_first_row_is_kept() {
    let disk = FakeDisk::with_free(0);
    let mut transcript = disk.transcript();
    let rows = MAX_WAITING_ROWS + 10;
    for n in 0..rows {
        let _ = transcript.append(n as i64, None, said(&format!("row {n}")));
    }
    assert!(transcript.take_change().is_some());
    disk.set_free(usize::MAX);
    assert!(!transcript.retry(1));
    let Some(PersistChange::Cleared { message }) = transcript.take_change() else {
        panic!("cleared");
    };
    assert!(message.contains("10 older row(s) were lost"), "{message}");
    let (written, bad) = parse_transcript(&disk.bytes());
    assert_eq!(bad, 0);
    assert_eq!(written.len(), MAX_WAITING_ROWS);
    assert_eq!(texts(&written[..2]), ["row 0", "row 11"]);
}

#[test]
fn every_byte_sequence_costs_only_its_own_line() {
    let good = |seq: u64| {
        line_of(&TranscriptRow {
            seq,
            at_ms: 0,
            turn_id: None,
            entry: said("ça va"),
        })
    };
    let mut bytes = good(0);
    bytes.extend_from_slice(
        b"{\"seq\":1,\"atMs\":0,\"type\":\"user_message\",\"text\":\"\xff\xfe\"}\n",
    );
    bytes.extend_from_slice(&good(2));
    // Half of a two-byte character, then the rest of the file.
    bytes.extend_from_slice(&good(3)[..30]);
    bytes.extend_from_slice(&[0xc3, b'\n']);
    bytes.extend_from_slice(b"not json\n\n   \n");
    bytes.extend_from_slice(&good(4));
    bytes.extend_from_slice(b"{\"seq\":5,\"atMs\":");
    let (rows, bad) = parse_transcript(&bytes);
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(
        bad, 4,
        "invalid UTF-8, a torn character, not JSON, a torn last line"
    );
}

#[test]
fn thread_ids_name_files_inside_the_folder_or_are_refused() {
    assert_eq!(
        file_name("019a1fe0-14b9-7a61-9e00-0123456789ab").unwrap(),
        "019a1fe0-14b9-7a61-9e00-0123456789ab.jsonl"
    );
    assert_eq!(file_name("a.b_c").unwrap(), "a.b_c.jsonl");
    for hostile in [
        "../../../x",
        "/etc/passwd",
        "..",
        ".hidden",
        "a/b",
        "a\\b",
        "x\0y",
        "naïve",
        "~7878",
    ] {
        let name = file_name(hostile).unwrap();
        assert!(name.starts_with('~') && name.ends_with(".jsonl"), "{name}");
        assert!(
            name[1..name.len() - 6]
                .bytes()
                .all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(Path::new(&name).components().count(), 1);
    }
    assert_ne!(file_name("../x").unwrap(), file_name("..x").unwrap());
    for (refused, why) in [
        (String::new(), "it is empty"),
        ("/".repeat(121), "longer than 120 bytes"),
        ("a".repeat(201), "longer than 200 bytes"),
    ] {
        let error = file_name(&refused).unwrap_err().to_string();
        assert!(error.starts_with("thread id \""), "{error}");
        assert!(error.contains("cannot name a transcript file"), "{error}");
        assert!(error.contains(why), "{error}");
    }
}

#[test]
fn a_hostile_thread_id_never_writes_outside_the_sessions_folder() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("sessions");
    let outside = data.path().join("x.jsonl");
    let absolute = data.path().join("abs");
    for id in [
        "../x".to_string(),
        "../../../x".to_string(),
        absolute.display().to_string(),
    ] {
        let mut transcript = Transcript::on_disk(&dir, &id);
        transcript.append(1, None, said("hello")).1.unwrap();
        let path = transcript.path().unwrap().to_path_buf();
        assert_eq!(path.parent(), Some(dir.as_path()), "{id}");
        assert!(path.exists());
    }
    assert!(!outside.exists());
    assert!(!absolute.with_extension("jsonl").exists());
    assert!(!Path::new("/x.jsonl").exists());
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3);

    // An id that cannot name a file keeps its transcript in memory, and says why, once.
    let mut refused = Transcript::on_disk(&dir, &"/".repeat(500));
    let (_, written) = refused.append(1, None, said("hello"));
    assert!(
        written
            .unwrap_err()
            .to_string()
            .contains("cannot name a transcript file")
    );
    assert_eq!(refused.path(), None);
    assert!(!refused.is_persisted());
    let Some(PersistChange::Failed { retry: false, .. }) = refused.take_change() else {
        panic!("refused ids are reported, not retried");
    };
    assert_eq!(refused.take_change(), None);
}

#[test]
fn a_transcript_in_the_wrong_file_or_behind_a_symlink_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("sessions");
    std::fs::create_dir_all(&dir).unwrap();
    // A planted file whose first row names another thread is not reopened as that one.
    let planted = dir.join("innocent.jsonl");
    let error = Transcript::reopen(&dir, &planted, "../../escape", &[])
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("whose transcript file is ~"), "{error}");
    // A symlink at a transcript's place is not followed.
    let target = data.path().join("target");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("thread-1.jsonl")).unwrap();
    let error = Transcript::persisted(&dir, "thread-1")
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("could not open transcript"), "{error}");
    assert_eq!(std::fs::read(&target).unwrap(), b"");
}

/// A tmpfs mounted for one test, unmounted when dropped.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes, or says why it cannot.
    fn mount(size: usize) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("could not run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Mounts a small tmpfs, or explains why not: a failure when
/// `SWITCHBOARD_REQUIRE_TMPFS` is set (CI as root), a printed reason otherwise (the
/// injected short writes above cover the same code).
pub(crate) fn small_tmpfs(size: usize) -> Option<Tmpfs> {
    match Tmpfs::mount(size) {
        Ok(tmpfs) => Some(tmpfs),
        Err(why)
            if std::env::var("SWITCHBOARD_REQUIRE_TMPFS")
                .is_ok_and(|v| !v.is_empty() && v != "0") =>
        {
            panic!("SWITCHBOARD_REQUIRE_TMPFS is set but {why}")
        }
        Err(why) => {
            eprintln!("not testing on a real full disk: {why}");
            None
        }
    }
}

#[test]
fn a_real_full_disk_leaves_whole_rows_and_the_rows_go_on_when_space_returns() {
    let Some(tmpfs) = small_tmpfs(64 * 1024) else {
        return;
    };
    let ballast = tmpfs.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 16 * 1024]).unwrap();
    let dir = tmpfs.path().join("sessions");
    let mut transcript = Transcript::on_disk(&dir, "thread-1");
    let path = transcript.path().unwrap().to_path_buf();
    // Rows of 3,000 bytes of two- and three-byte characters: the one that does not fit
    // is written in part by the kernel, then ENOSPC.
    let text = "é€".repeat(600);
    let mut whole = 0;
    let error = loop {
        match transcript.append(whole, None, said(&text)).1 {
            Ok(()) => whole += 1,
            Err(e) => break e.to_string(),
        }
        assert!(whole < 64, "a 64 KiB tmpfs never filled up");
    };
    assert!(error.contains("No space left on device"), "{error}");
    let Some(PersistChange::Failed { epoch, .. }) = transcript.take_change() else {
        panic!("the failure is reported");
    };
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk.last(), Some(&b'\n'), "no part of a row is left");
    let (rows, bad) = parse_transcript(&on_disk);
    assert_eq!((rows.len() as i64, bad), (whole, 0));

    // More rows while the disk is full wait; a retry on a full disk fails again.
    assert!(transcript.append(100, None, said("while full")).1.is_err());
    assert!(transcript.retry(epoch));
    std::fs::remove_file(&ballast).unwrap();
    assert!(!transcript.retry(epoch));
    assert!(matches!(
        transcript.take_change(),
        Some(PersistChange::Cleared { .. })
    ));
    let (rows, bad) = read_transcript(&path).unwrap();
    assert_eq!(bad, 0);
    assert_eq!(rows.len() as i64, whole + 2);
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (0..rows.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(texts(&rows).last().map(String::as_str), Some("while full"));
}

/// A transcript reopened after a restart holds its rows as a live one does: a command's
/// long output keeps its tail in memory; the file keeps all of it.
#[test]
fn rows_reopened_from_disk_keep_a_long_output_capped_in_memory() {
    use crate::bridge::items::{ItemRow, OUTPUT_IN_MEMORY};
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("sessions");
    let long: String = (0..3_000)
        .map(|n| format!("line {n:04} of the output\n"))
        .collect();
    let entry = TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "seq 3000".to_string(),
        cwd: "/".to_string(),
        status: "completed".to_string(),
        exit_code: Some(0),
        duration_ms: Some(1),
        output: long.clone(),
        output_cut_bytes: 0,
        output_lines: 0,
    });
    let mut written = Transcript::persisted(&dir, "thread-1").unwrap();
    written.append(1, None, said("before")).1.unwrap();
    written.append(2, None, entry).1.unwrap();
    let path = written.path().unwrap().to_path_buf();
    drop(written);

    let (rows, bad) = read_transcript(&path).unwrap();
    assert_eq!(bad, 0);
    let output = |row: &TranscriptRow| match &row.entry {
        TranscriptEntry::Item(ItemRow::Command {
            output,
            output_cut_bytes,
            ..
        }) => (output.clone(), *output_cut_bytes),
        other => panic!("not a command: {other:?}"),
    };
    assert_eq!(output(&rows[1]), (long.clone(), 0), "the file has it whole");
    let reopened = Transcript::reopen(&dir, &path, "thread-1", &rows).unwrap();
    let held: Vec<&TranscriptRow> = reopened.rows().collect();
    assert_eq!(held.len(), 2);
    let (kept, cut) = output(held[1]);
    assert!(kept.len() <= OUTPUT_IN_MEMORY, "{} bytes held", kept.len());
    assert_eq!(kept.len() + cut, long.len());
    assert!(kept.ends_with("line 2999 of the output\n"));
}

/// A long output keeps whole lines in memory: the line the cut falls in goes whole, so
/// the first line shown is a real one.
#[test]
fn a_capped_output_starts_at_a_line() {
    use crate::bridge::items::{ItemRow, OUTPUT_IN_MEMORY};
    let long: String = (0..1_000)
        .map(|n| format!("test bridge::tests::case_{n:04}_behaves ... ok\n"))
        .collect();
    let entry = TranscriptEntry::Item(ItemRow::Command {
        item_id: "c".to_string(),
        command: "cargo test".to_string(),
        cwd: "/".to_string(),
        status: "completed".to_string(),
        exit_code: Some(0),
        duration_ms: None,
        output: long.clone(),
        output_cut_bytes: 0,
        output_lines: 0,
    });
    let mut transcript = Transcript::in_memory();
    let (row, _) = transcript.append(1, None, entry);
    let TranscriptEntry::Item(ItemRow::Command {
        output,
        output_cut_bytes,
        ..
    }) = row.entry
    else {
        panic!("not a command");
    };
    assert!(output.len() <= OUTPUT_IN_MEMORY);
    assert!(
        output.starts_with("test bridge::tests::case_"),
        "{}",
        &output[..60]
    );
    assert!(long[..output_cut_bytes].ends_with('\n'));
    assert_eq!(&long[output_cut_bytes..], output);
}

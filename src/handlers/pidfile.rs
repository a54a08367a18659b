//! Pid files of running command handlers, so that a `serve` restarted after it was
//! killed (SIGKILL, OOM, a power cut of the supervisor) can end the handlers it left.
//!
//! A command handler runs in a process group of its own (so a timeout can kill all it
//! started), which also means it outlives a Switchboard that dies without a chance to
//! kill it. While one runs, `<data dir>/handlers/<pid>.json` says which group it is
//! (its leader's pid and start time) and which Switchboard process started it (pid and
//! start time). At start, [`PidDir::end_leftovers`] reads them all:
//!
//! - the Switchboard that wrote it is still running (another `serve` on the same data
//!   directory): left alone;
//! - the group leader is the process that was started (same pid, same start time), or
//!   no process has that pid any more (a pid cannot be reused while a process group
//!   with that id exists, so any group with that id is still the handler's): the group
//!   is killed (SIGKILL) and the file removed;
//! - the pid belongs to a process started later: the handler's group is gone (its id
//!   was reused), so only the file is removed.
//!
//! Start times come from `/proc/<pid>/stat` (Linux); where there is no `/proc` nothing is
//! ever killed, and the files are removed.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// What one pid file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    /// The group leader's pid, which is also the group id.
    pid: i32,
    /// The leader's start time, in clock ticks since boot (`/proc/<pid>/stat` field 22).
    start_time: u64,
    /// The Switchboard process that started it.
    owner_pid: i32,
    owner_start_time: u64,
    tool: String,
    program: String,
}

/// The folder of pid files; see the module docs.
#[derive(Debug, Clone)]
pub struct PidDir {
    dir: PathBuf,
}

/// Removes its pid file when the handler's run ends (or is abandoned).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(target: "handlers", "could not remove {}: {e}", self.path.display());
        }
    }
}

/// What [`PidDir::end_leftovers`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Handler groups that were still running, and were killed: `tool (pid N)`.
    pub ended: Vec<String>,
    /// Files of handlers that were gone already, removed.
    pub gone: usize,
    /// Files of a Switchboard that is still running, left alone.
    pub still_owned: usize,
}

impl PidDir {
    pub fn new(dir: PathBuf) -> PidDir {
        PidDir { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Records a handler that just started as the leader of group `pid`. A file that
    /// cannot be written is logged: the handler runs all the same.
    pub fn record(&self, pid: i32, tool: &str, program: &Path) -> Option<PidFile> {
        let me = i32::try_from(std::process::id()).ok()?;
        let (Some(start_time), Some(owner_start_time)) = (start_time(pid), start_time(me)) else {
            // No /proc: a restarted Switchboard could not tell the handler from a
            // stranger, so there is nothing worth writing.
            return None;
        };
        let record = Record {
            pid,
            start_time,
            owner_pid: me,
            owner_start_time,
            tool: tool.to_string(),
            program: program.display().to_string(),
        };
        let path = self.dir.join(format!("{pid}.json"));
        let written = crate::util::create_private_dir_all(&self.dir).and_then(|()| {
            let text = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
            write_private(&path, &text)
        });
        match written {
            Ok(()) => Some(PidFile { path }),
            Err(e) => {
                tracing::warn!(target: "handlers", "could not write {}: {e}", path.display());
                None
            }
        }
    }

    /// Ends the handlers a Switchboard that is gone left running; see the module docs.
    pub fn end_leftovers(&self) -> Leftovers {
        let mut found = Leftovers::default();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(target: "handlers", "could not list {}: {e}", self.dir.display());
                }
                return found;
            }
        };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let record = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok());
            let Some(record) = record else {
                tracing::warn!(target: "handlers", "removing {}: not a handler pid file", path.display());
                remove(&path);
                continue;
            };
            if record.owner_pid > 0 && start_time(record.owner_pid) == Some(record.owner_start_time)
            {
                found.still_owned += 1;
                continue;
            }
            match decide(&record, start_time(record.pid)) {
                Verdict::Kill => {
                    match killpg(Pid::from_raw(record.pid), Signal::SIGKILL) {
                        Ok(()) => {
                            tracing::warn!(target: "handlers", "ended handler `{}` (process group {}, {}) left running by a Switchboard that is gone", record.tool, record.pid, record.program);
                            found
                                .ended
                                .push(format!("{} (pid {})", record.tool, record.pid));
                        }
                        // ESRCH: the whole group had exited already.
                        Err(_) => found.gone += 1,
                    }
                }
                Verdict::Gone => found.gone += 1,
            }
            remove(&path);
        }
        found
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Kill,
    Gone,
}

/// Whether the group of `record` may still run, given the start time of the process
/// that has its pid now (`None`: no process has it).
fn decide(record: &Record, now: Option<u64>) -> Verdict {
    if record.pid <= 1 {
        return Verdict::Gone;
    }
    match now {
        Some(start) if start == record.start_time => Verdict::Kill,
        // Reused: the id was free, so the handler's group had ended.
        Some(_) => Verdict::Gone,
        // The leader exited; members of its group may remain under its id.
        None => Verdict::Kill,
    }
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(target: "handlers", "could not remove {}: {e}", path.display());
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// A process's start time in clock ticks since boot, from `/proc/<pid>/stat`; `None`
/// when there is no such process (a zombie counts as gone: it runs nothing).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); start time is field 22.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: i32, start_time: u64) -> Record {
        Record {
            pid,
            start_time,
            owner_pid: 0,
            owner_start_time: 0,
            tool: "slow".to_string(),
            program: "sleep".to_string(),
        }
    }

    #[test]
    fn only_the_process_that_was_started_or_a_free_pid_is_killed() {
        assert_eq!(decide(&record(4242, 10), Some(10)), Verdict::Kill);
        assert_eq!(decide(&record(4242, 10), Some(11)), Verdict::Gone);
        assert_eq!(decide(&record(4242, 10), None), Verdict::Kill);
        assert_eq!(decide(&record(1, 10), Some(10)), Verdict::Gone);
        assert_eq!(decide(&record(-5, 10), None), Verdict::Gone);
    }

    #[test]
    fn start_times_are_read_for_live_processes_only() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(start_time(me).is_some());
        assert_eq!(start_time(me), start_time(me));
        assert_eq!(start_time(i32::MAX), None);
    }

    fn spawn_group() -> std::process::Child {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("sleep")
            .arg("600")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn write(dir: &Path, record: &Record) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join(format!("{}.json", record.pid)),
            serde_json::to_vec(record).unwrap(),
        )
        .unwrap();
    }

    /// A handler left by a Switchboard that is gone is killed; one whose pid now names
    /// another process is not; one of a Switchboard still running is left alone.
    #[test]
    fn leftovers_of_a_gone_switchboard_are_ended_and_others_spared() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("handlers");
        let pids = PidDir::new(dir.clone());

        let mut left = spawn_group();
        let left_pid = i32::try_from(left.id()).unwrap();
        let mut left_record = record(left_pid, start_time(left_pid).unwrap());
        left_record.owner_pid = i32::MAX; // no such process: its Switchboard is gone
        write(&dir, &left_record);

        let mut reused = spawn_group();
        let reused_pid = i32::try_from(reused.id()).unwrap();
        write(
            &dir,
            &record(reused_pid, start_time(reused_pid).unwrap() + 1),
        );

        let mut owned = spawn_group();
        let owned_pid = i32::try_from(owned.id()).unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        let mut owned_record = record(owned_pid, start_time(owned_pid).unwrap());
        owned_record.owner_pid = me;
        owned_record.owner_start_time = start_time(me).unwrap();
        write(&dir, &owned_record);
        std::fs::write(dir.join("junk.json"), "not json").unwrap();

        let found = pids.end_leftovers();
        assert_eq!(found.ended, [format!("slow (pid {left_pid})")]);
        assert_eq!(found.gone, 1);
        assert_eq!(found.still_owned, 1);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(left.wait().unwrap().signal(), Some(9));
        assert!(
            reused.try_wait().unwrap().is_none(),
            "a stranger was killed"
        );
        assert!(
            owned.try_wait().unwrap().is_none(),
            "a live owner's handler was killed"
        );
        let mut remaining: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        remaining.sort();
        assert_eq!(remaining, [format!("{owned_pid}.json")]);
        for mut child in [reused, owned] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    #[test]
    fn a_recorded_run_removes_its_file_when_it_ends() {
        let data = tempfile::tempdir().unwrap();
        let pids = PidDir::new(data.path().join("handlers"));
        let mut child = spawn_group();
        let pid = i32::try_from(child.id()).unwrap();
        let file = pids.record(pid, "slow", Path::new("sleep")).unwrap();
        let path = data.path().join("handlers").join(format!("{pid}.json"));
        let written: Record = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written.pid, pid);
        assert_eq!(
            written.owner_pid,
            i32::try_from(std::process::id()).unwrap()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(file);
        assert!(!path.exists());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

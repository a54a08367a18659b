//! Watching the catalog file for the console and `serve`: poll, debounce, reload.
//!
//! The file is polled every [`POLL_INTERVAL`]: its size, modification time and a hash of
//! its bytes. Polling, rather than inotify through a crate such as `notify`, because
//! editors save by writing a new file and renaming it over the old one (vim, most IDEs),
//! which an inotify watch on the file loses and a watch on its folder sees as a burst of
//! events that needs its own debouncing; because inotify is missing on some mounts
//! (network file systems, some container volumes); and because it adds no crate. Reading
//! a catalog of a few kilobytes twice a second costs nothing worth measuring. The hash
//! catches a save within the file system's timestamp granularity that keeps the size.
//!
//! A change is reloaded once the file has looked the same for one more poll, so an
//! editor's truncate-then-write, or a rename with a moment without the file, is one
//! reload of the finished file, not a failed load of a half-written one.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::bridge::{BridgeError, BridgeHandle};

pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What one poll saw of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// It could not be read (missing while an editor replaces it, or for good): the
    /// error kind, so that a lasting absence is reloaded once and reported.
    Unreadable(std::io::ErrorKind),
    File {
        len: u64,
        modified: Option<SystemTime>,
        hash: u64,
    },
}

/// Looks at the file once.
pub fn fingerprint(path: &Path) -> Seen {
    let read = std::fs::metadata(path).and_then(|meta| {
        let bytes = std::fs::read(path)?;
        Ok((meta, bytes))
    });
    match read {
        Ok((meta, bytes)) => {
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            Seen::File {
                len: meta.len(),
                modified: meta.modified().ok(),
                hash: hasher.finish(),
            }
        }
        Err(e) => Seen::Unreadable(e.kind()),
    }
}

/// Decides when a change is complete: seen the same in two polls in a row.
#[derive(Debug)]
pub struct Debounce {
    /// What the catalog in use was loaded from (or the last reload tried).
    loaded: Seen,
    /// A change seen once, waiting for one more poll that sees the same.
    pending: Option<Seen>,
}

impl Debounce {
    pub fn new(loaded: Seen) -> Debounce {
        Debounce {
            loaded,
            pending: None,
        }
    }

    /// Takes one poll; true when the file should be reloaded now. A reload that fails
    /// is not retried until the file changes again.
    pub fn observe(&mut self, seen: Seen) -> bool {
        if seen == self.loaded {
            self.pending = None;
            return false;
        }
        if self.pending.as_ref() == Some(&seen) {
            self.pending = None;
            self.loaded = seen;
            return true;
        }
        self.pending = Some(seen);
        false
    }
}

/// Stops the watch when dropped.
pub struct Watch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches the bridge's catalog file and reloads it on a change, until the bridge
/// stops or the watch is dropped; `None` when the bridge has no catalog file. The
/// reload's outcome reaches everyone as a `CatalogReloaded` event.
pub fn spawn(bridge: BridgeHandle) -> Option<Watch> {
    let path: PathBuf = bridge.catalog().path.clone()?;
    let task = tokio::spawn(async move {
        let look = |path: PathBuf| async move {
            tokio::task::spawn_blocking(move || fingerprint(&path))
                .await
                .unwrap_or(Seen::Unreadable(std::io::ErrorKind::Other))
        };
        let mut debounce = Debounce::new(look(path.clone()).await);
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if !debounce.observe(look(path.clone()).await) {
                continue;
            }
            tracing::info!(target: "cli", "catalog {} changed: reloading", path.display());
            if let Err(BridgeError::Stopped) = bridge.reload_catalog().await {
                return;
            }
        }
    });
    Some(Watch { task })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(hash: u64) -> Seen {
        Seen::File {
            len: 10,
            modified: None,
            hash,
        }
    }

    #[test]
    fn a_change_is_reloaded_once_it_has_been_seen_twice() {
        let mut debounce = Debounce::new(file(1));
        assert!(!debounce.observe(file(1)));
        // Half written, then finished: only the finished file is loaded.
        assert!(!debounce.observe(file(2)));
        assert!(!debounce.observe(file(3)));
        assert!(debounce.observe(file(3)));
        // Loaded: nothing more until it changes again.
        assert!(!debounce.observe(file(3)));
        assert!(!debounce.observe(file(3)));
    }

    #[test]
    fn a_moment_without_the_file_is_no_reload_but_a_lasting_one_is() {
        let missing = Seen::Unreadable(std::io::ErrorKind::NotFound);
        let mut debounce = Debounce::new(file(1));
        // An editor renaming its new file over the old one.
        assert!(!debounce.observe(missing.clone()));
        assert!(!debounce.observe(file(2)));
        assert!(debounce.observe(file(2)));
        // Gone for good: one reload, which reports the file missing.
        assert!(!debounce.observe(missing.clone()));
        assert!(debounce.observe(missing.clone()));
        assert!(!debounce.observe(missing));
    }

    #[test]
    fn an_edit_back_to_the_loaded_text_is_no_change() {
        let mut debounce = Debounce::new(file(1));
        assert!(!debounce.observe(file(2)));
        assert!(!debounce.observe(file(1)));
        assert!(!debounce.observe(file(1)));
    }

    #[test]
    fn the_fingerprint_sees_a_same_size_edit_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.toml");
        std::fs::write(&path, "a = 1").unwrap();
        let first = fingerprint(&path);
        std::fs::write(&path, "a = 2").unwrap();
        assert_ne!(fingerprint(&path), first);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            fingerprint(&path),
            Seen::Unreadable(std::io::ErrorKind::NotFound)
        );
    }
}

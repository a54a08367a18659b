//! Transcript stores for the soak: they keep no bytes, only what proves that rows are
//! written whole or not at all, and they inject the failures of a full disk: a write
//! that comes up short (cutting a row, maybe inside a character) followed by ENOSPC,
//! then a few more ENOSPC, then space again.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::rng::Rng;
use crate::bridge::transcript::{Store, StoreOpener};

/// What every store of one run saw.
#[derive(Debug, Default)]
pub struct StoreCounts {
    pub stores: AtomicU64,
    pub rows_written: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Failures begun (a short write, then ENOSPC until space comes back).
    pub failures: AtomicU64,
    pub short_writes: AtomicU64,
    pub enospc: AtomicU64,
    pub truncates: AtomicU64,
    /// A cut that left part of a row behind: the promise broken.
    pub cuts_inside_a_row: AtomicU64,
    /// Stores whose content ends inside a row when asked at the end.
    pub torn_at_end: AtomicU64,
}

/// [`StoreCounts`] as the report shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreTally {
    pub transcripts: u64,
    pub rows_written: u64,
    pub bytes_written: u64,
    pub failures_injected: u64,
    pub short_writes: u64,
    pub enospc_errors: u64,
    pub truncates: u64,
    pub cuts_inside_a_row: u64,
    pub torn_at_end: u64,
}

impl StoreCounts {
    pub fn tally(&self) -> StoreTally {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreTally {
            transcripts: get(&self.stores),
            rows_written: get(&self.rows_written),
            bytes_written: get(&self.bytes_written),
            failures_injected: get(&self.failures),
            short_writes: get(&self.short_writes),
            enospc_errors: get(&self.enospc),
            truncates: get(&self.truncates),
            cuts_inside_a_row: get(&self.cuts_inside_a_row),
            torn_at_end: get(&self.torn_at_end),
        }
    }
}

/// The stores of a run: opened by the bridge, checked at the end.
pub struct FaultyDisk {
    counts: Arc<StoreCounts>,
    /// Each store's state, to check at the end that it ends on a row boundary.
    states: Arc<Mutex<Vec<Arc<Mutex<State>>>>>,
}

#[derive(Debug, Default)]
struct State {
    len: u64,
    /// Where the last whole row ends.
    row_end: u64,
}

struct FaultyStore {
    state: Arc<Mutex<State>>,
    counts: Arc<StoreCounts>,
    rng: Rng,
    /// A write fails with this probability (starting a failure).
    failure: f64,
    /// Writes still to refuse in the current failure.
    failing: u32,
}

impl FaultyDisk {
    /// Stores that start a failure on one write in `1 / failure`.
    pub fn new(seed: u64, failure: f64) -> (FaultyDisk, StoreOpener) {
        let counts = Arc::new(StoreCounts::default());
        let states: Arc<Mutex<Vec<Arc<Mutex<State>>>>> = Arc::default();
        let next_seed = Arc::new(AtomicU64::new(seed));
        let opener = {
            let counts = counts.clone();
            let states = states.clone();
            StoreOpener(Arc::new(move |_path: &Path| {
                counts.stores.fetch_add(1, Ordering::Relaxed);
                let state = Arc::new(Mutex::new(State::default()));
                if let Ok(mut all) = states.lock() {
                    all.push(state.clone());
                }
                let store: Box<dyn Store> = Box::new(FaultyStore {
                    state,
                    counts: counts.clone(),
                    rng: Rng::new(next_seed.fetch_add(0x9E37, Ordering::Relaxed)),
                    failure,
                    failing: 0,
                });
                Ok(store)
            }))
        };
        (FaultyDisk { counts, states }, opener)
    }

    pub fn counts(&self) -> &StoreCounts {
        &self.counts
    }

    /// Counts the stores that end inside a row; call once the run is over.
    pub fn check_ends(&self) {
        let Ok(all) = self.states.lock() else {
            return;
        };
        for state in all.iter() {
            if let Ok(state) = state.lock()
                && state.len != state.row_end
            {
                self.counts.torn_at_end.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Store for FaultyStore {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let enospc = || std::io::Error::from_raw_os_error(28);
        if self.failing > 0 {
            self.failing -= 1;
            add(&self.counts.enospc, 1);
            return Err(enospc());
        }
        let mut state = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("store poisoned"))?;
        let n = if bytes.len() > 1 && self.rng.chance(self.failure) {
            // The disk fills up mid-row: part of it goes, then ENOSPC for a while.
            add(&self.counts.failures, 1);
            add(&self.counts.short_writes, 1);
            self.failing = 1 + u32::try_from(self.rng.below(3)).unwrap_or(0);
            1 + usize::try_from(self.rng.below(bytes.len() as u64 - 1)).unwrap_or(0)
        } else {
            bytes.len()
        };
        let written = &bytes[..n];
        if let Some(last) = written.iter().rposition(|&b| b == b'\n') {
            state.row_end = state.len + last as u64 + 1;
        }
        let rows = written.iter().filter(|&&b| b == b'\n').count() as u64;
        state.len += n as u64;
        add(&self.counts.rows_written, rows);
        add(&self.counts.bytes_written, n as u64);
        Ok(n)
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("store poisoned"))?;
        add(&self.counts.truncates, 1);
        if len != state.row_end || len > state.len {
            add(&self.counts.cuts_inside_a_row, 1);
        }
        state.len = len;
        Ok(())
    }

    fn byte_len(&mut self) -> std::io::Result<u64> {
        self.state
            .lock()
            .map(|s| s.len)
            .map_err(|_| std::io::Error::other("store poisoned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_write_is_counted_and_a_cut_back_to_the_last_row_is_whole() {
        let (disk, opener) = FaultyDisk::new(1, 1.0);
        let mut store = (opener.0)(Path::new("/x.jsonl")).unwrap();
        let n = store.write(b"row one\n").unwrap();
        assert!(n < 8);
        assert_eq!(store.write(b"rest").unwrap_err().raw_os_error(), Some(28));
        store.truncate(0).unwrap();
        assert_eq!(disk.counts().tally().cuts_inside_a_row, 0);
        store.truncate(1).unwrap();
        assert_eq!(disk.counts().tally().cuts_inside_a_row, 1);
    }
}

//! An optional per-hop timeline, to see where a turn's time goes (`bench codex`): a
//! monotonic timestamp at each hop, in the log at trace level (target `timeline`) and,
//! while a benchmark records, in memory. When neither is on, a mark costs an atomic load
//! and a disabled-trace check.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Marks kept while recording; a forgotten recorder cannot grow without bound.
const MAX_MARKS: usize = 100_000;

static RECORDING: AtomicBool = AtomicBool::new(false);
static MARKS: Mutex<Vec<Mark>> = Mutex::new(Vec::new());

/// One hop: what happened, and when (µs on [`now_us`]'s clock).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark {
    pub at_us: u64,
    pub hop: String,
}

/// The timeline's clock: monotonic microseconds since the first call in this process,
/// shared by everything in it.
pub fn now_us() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Whether marks go anywhere; callers that build a label check this first.
pub fn on() -> bool {
    RECORDING.load(Ordering::Relaxed)
        || tracing::enabled!(target: "timeline", tracing::Level::TRACE)
}

/// Records that `hop` happened now.
pub fn mark(hop: &str) {
    if !on() {
        return;
    }
    let at_us = now_us();
    tracing::trace!(target: "timeline", at_us, hop);
    if RECORDING.load(Ordering::Relaxed)
        && let Ok(mut marks) = MARKS.lock()
        && marks.len() < MAX_MARKS
    {
        marks.push(Mark {
            at_us,
            hop: hop.to_string(),
        });
    }
}

/// Marks `hop` and hands `value` back: for marking just before a reply.
pub fn marked<T>(hop: &str, value: T) -> T {
    mark(hop);
    value
}

/// Starts (clearing what was kept) or stops keeping marks in memory.
pub fn record(on: bool) {
    if let Ok(mut marks) = MARKS.lock() {
        marks.clear();
    }
    RECORDING.store(on, Ordering::Relaxed);
}

/// The marks kept since the last call (or since recording started), oldest first.
pub fn take() -> Vec<Mark> {
    MARKS
        .lock()
        .map(|mut marks| std::mem::take(&mut *marks))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_kept_only_while_recording_and_in_order() {
        record(true);
        mark("a");
        mark("b");
        let marks = take();
        record(false);
        mark("c");
        let hops: Vec<_> = marks.iter().map(|m| m.hop.as_str()).collect();
        // Other tests in this process may mark too; ours come in order.
        let a = hops.iter().position(|h| *h == "a");
        let b = hops.iter().position(|h| *h == "b");
        assert!(a.is_some() && b > a, "{hops:?}");
        assert!(marks.windows(2).all(|w| w[0].at_us <= w[1].at_us));
        assert!(!take().iter().any(|m| m.hop == "c"));
    }
}

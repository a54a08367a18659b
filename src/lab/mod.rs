//! The lab: what benchmarks, fault injection and the soak run need, and nothing in
//! production does. The synthetic app-server (and its faulty variant), the soak run, the
//! seeded generator they share, and a console loaded with data. It sits at the bottom
//! of the graph: it may use every layer, and no layer uses it (only the thin `bench`,
//! `soak` and `synthetic-app-server` commands, and tests).

/// A console loaded with sessions, rows and calls, for the console benchmarks.
pub mod console;
/// Transcript stores that keep no bytes and inject full disks, for the soak.
pub mod faulty_store;
/// SplitMix64, seeded: the faults' and the soak responder's choices.
pub mod rng;
/// The soak run: a bridge on the faulty synthetic app-server, checked for lost calls,
/// double answers and memory growth.
pub mod soak;
/// A stand-in for `codex app-server` that floods tool calls (benchmarks only), and its
/// seeded fault injection (`synthetic::faults`, the soak's).
pub mod synthetic;

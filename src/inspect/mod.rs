//! Catalog debugging below the faces: what codex hands the model (`probe`), recorded
//! calls against today's handlers (`replay`), and the scripted model both run on
//! (`scripted`). The CLI's `catalog check --through-codex` and `catalog replay` and the
//! console's probe and replay keys call the same code, so the console never names
//! `cli`. No printing, no terminal.

pub mod probe;
pub mod replay;
pub mod scripted;

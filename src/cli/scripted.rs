//! The scripted model for the commands: it lives in `inspect::scripted`, below the
//! console, which runs the catalog probe on it too.

pub use crate::inspect::scripted::{ScriptedError, ScriptedModel, TempDir, model_options};

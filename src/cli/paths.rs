//! Where Switchboard keeps its files.

use std::path::{Path, PathBuf};

pub const DATA_DIR_ENV: &str = "SWITCHBOARD_DATA_DIR";

/// `--data-dir`, else `$SWITCHBOARD_DATA_DIR`, else `$XDG_DATA_HOME/switchboard`, else
/// `~/.local/share/switchboard`, else `./.switchboard`.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    let env_dir = |key: &str| {
        std::env::var_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env_dir(DATA_DIR_ENV) {
        return dir;
    }
    if let Some(dir) = env_dir("XDG_DATA_HOME") {
        return dir.join("switchboard");
    }
    if let Some(home) = env_dir("HOME") {
        return home.join(".local/share/switchboard");
    }
    PathBuf::from(".switchboard")
}

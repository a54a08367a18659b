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

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home() -> Option<PathBuf> {
    let env_dir = |key: &str| {
        std::env::var_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env_dir("XDG_CONFIG_HOME").or_else(|| env_dir("HOME").map(|home| home.join(".config")))
}

/// Where `switchboard serve` keeps the API token it generates: `<config home>/switchboard/token`.
pub fn token_path() -> PathBuf {
    config_home()
        .unwrap_or_else(|| PathBuf::from(".switchboard"))
        .join("switchboard")
        .join("token")
}

/// codex-manager's CLI profile file, which its Python SDK's `from_profile()` also reads.
pub fn codex_manager_profile_path() -> Option<PathBuf> {
    config_home().map(|dir| dir.join("codex-manager").join("cli").join("config.json"))
}

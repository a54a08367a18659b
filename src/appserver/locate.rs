//! Finding the codex binary: `--codex-bin`, then `SWITCHBOARD_CODEX_BIN`, then `codex` on
//! `PATH`, then the pinned copy that the project's setup script installs.

use std::path::{Path, PathBuf};

/// The codex version the project pins, tests against, and installs.
pub const PINNED_CODEX_VERSION: &str = "0.171.0";

/// Environment variable naming the codex binary.
pub const CODEX_BIN_ENV: &str = "SWITCHBOARD_CODEX_BIN";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedCodex {
    pub path: PathBuf,
    /// Which rule found it, for `--verbose` output and error messages.
    pub source: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("the codex binary given by {origin} does not exist: {}", path.display())]
    Missing { path: PathBuf, origin: &'static str },
    #[error(
        "no codex binary found: pass --codex-bin PATH, set {CODEX_BIN_ENV}, put `codex` on PATH, or run scripts/setup.sh to install the pinned @openai/codex@{PINNED_CODEX_VERSION}"
    )]
    NotFound,
}

/// Resolves the codex binary by the documented order.
pub fn locate_codex(explicit: Option<&Path>) -> Result<LocatedCodex, LocateError> {
    let from_env = std::env::var_os(CODEX_BIN_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    locate_with(
        explicit,
        from_env.as_deref(),
        std::env::var_os("PATH").as_deref(),
        &pinned_codex_path(),
    )
}

fn locate_with(
    explicit: Option<&Path>,
    from_env: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
    pinned: &Path,
) -> Result<LocatedCodex, LocateError> {
    for (given, source) in [(explicit, "--codex-bin"), (from_env, CODEX_BIN_ENV)] {
        if let Some(path) = given {
            return if path.is_file() {
                Ok(LocatedCodex {
                    path: path.to_path_buf(),
                    source,
                })
            } else {
                Err(LocateError::Missing {
                    path: path.to_path_buf(),
                    origin: source,
                })
            };
        }
    }
    if let Some(path_var) = path_var {
        for dir in std::env::split_paths(path_var) {
            let candidate = dir.join("codex");
            if is_executable(&candidate) {
                return Ok(LocatedCodex {
                    path: candidate,
                    source: "PATH",
                });
            }
        }
    }
    if pinned.is_file() {
        return Ok(LocatedCodex {
            path: pinned.to_path_buf(),
            source: "the pinned install",
        });
    }
    Err(LocateError::NotFound)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Where `scripts/setup.sh` puts the native codex binary of the pinned npm package.
pub fn pinned_codex_path() -> PathBuf {
    let (package, triple) = match std::env::consts::ARCH {
        "aarch64" => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        _ => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/codex/node_modules/@openai")
        .join(package)
        .join("vendor")
        .join(triple)
        .join("bin/codex")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_wins_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("mycodex");
        std::fs::write(&bin, "").unwrap();
        let found = locate_with(Some(&bin), None, None, Path::new("/nonexistent")).unwrap();
        assert_eq!(found.source, "--codex-bin");
        let missing = dir.path().join("nope");
        let err = locate_with(Some(&missing), Some(&bin), None, Path::new("/x")).unwrap_err();
        assert!(err.to_string().contains("--codex-bin"), "{err}");
    }

    #[test]
    fn env_then_path_then_pinned() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let env_bin = dir.path().join("envcodex");
        std::fs::write(&env_bin, "").unwrap();
        let found = locate_with(None, Some(&env_bin), None, Path::new("/x")).unwrap();
        assert_eq!(found.source, CODEX_BIN_ENV);

        let path_dir = dir.path().join("bin");
        std::fs::create_dir(&path_dir).unwrap();
        let on_path = path_dir.join("codex");
        std::fs::write(&on_path, "").unwrap();
        std::fs::set_permissions(&on_path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = locate_with(None, None, Some(path_dir.as_os_str()), Path::new("/x")).unwrap();
        assert_eq!((found.path, found.source), (on_path, "PATH"));

        let pinned = dir.path().join("pinned");
        std::fs::write(&pinned, "").unwrap();
        let empty = dir.path().join("empty");
        let found = locate_with(None, None, Some(empty.as_os_str()), &pinned).unwrap();
        assert_eq!(found.source, "the pinned install");

        let err = locate_with(None, None, None, &dir.path().join("none")).unwrap_err();
        assert!(err.to_string().contains("scripts/setup.sh"), "{err}");
    }
}

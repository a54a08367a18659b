//! The fleet of app-servers a command starts its bridge on: a fleet file (`--fleet FILE`,
//! else `$XDG_CONFIG_HOME/switchboard/fleet.toml` when there is one), plus repeated
//! `--codex-home DIR` and `--connect URL` flags; with none of them, one spawned
//! app-server as always.
//!
//! ```toml
//! [[app_servers]]
//! name = "work"
//! spawn = { codex_home = "~/.codex-work", cwd = "~/src/work", args = [] }
//!
//! [[app_servers]]
//! name = "build-box"
//! connect = { url = "ws://build-box:4500", token_env = "BUILD_BOX_TOKEN" }
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::appserver::TransportSpec;
use crate::bridge::AppServerSpec;

/// The file's name in the config directory.
pub const FLEET_FILE: &str = "fleet.toml";

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("could not read fleet file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Says the file, the line and the key, and what to change.
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "--scripted-model gives each app-server it spawns a temporary CODEX_HOME of its own, \
         so it cannot use {what} (those homes would not see the scripted model): drop it, \
         or use --scripted-app-servers N for several app-servers on the scripted model \
         (--connect still attaches to running ones)"
    )]
    ScriptedWithHomes { what: &'static str },
    #[error(transparent)]
    Locate(#[from] crate::appserver::locate::LocateError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    #[serde(default)]
    app_servers: Vec<Spanned<Entry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Spanned<String>,
    spawn: Option<Spanned<Spawn>>,
    connect: Option<Spanned<Connect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spawn {
    codex_home: Option<String>,
    cwd: Option<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Connect {
    url: Spanned<String>,
    token_env: Option<Spanned<String>>,
    cwd: Option<String>,
}

/// How a spawned app-server is started: the codex binary and `--app-server-arg`s.
pub struct SpawnDefaults<'a> {
    pub codex_bin: Option<&'a Path>,
    pub args: &'a [String],
}

impl SpawnDefaults<'_> {
    fn spec(
        &self,
        codex_home: Option<String>,
        extra_args: &[String],
    ) -> Result<TransportSpec, FleetError> {
        let codex = crate::appserver::locate::locate_codex(self.codex_bin)?;
        let mut args = vec!["app-server".to_string()];
        args.extend(self.args.iter().cloned());
        args.extend(extra_args.iter().cloned());
        let env = codex_home
            .map(|home| vec![("CODEX_HOME".to_string(), home)])
            .unwrap_or_default();
        Ok(TransportSpec::Stdio {
            program: codex.path,
            args,
            env,
        })
    }
}

/// `~/x` is `$HOME/x`; anything else stays as written.
fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest).display().to_string(),
        _ if path == "~" => std::env::var("HOME").unwrap_or_else(|_| path.to_string()),
        _ => path.to_string(),
    }
}

/// The line (from 1) of a byte offset.
fn line_of(text: &str, span: &Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads a fleet file. Every mistake names the file, the line and the key.
pub fn load(
    path: &Path,
    defaults: &SpawnDefaults<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<AppServerSpec>, FleetError> {
    let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, path, defaults, env)
}

/// Reads a fleet file's text (see [`load`]).
pub fn parse(
    text: &str,
    path: &Path,
    defaults: &SpawnDefaults<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<AppServerSpec>, FleetError> {
    let shown = path.display().to_string();
    let invalid = |span: &Range<usize>, message: String| FleetError::Invalid {
        path: shown.clone(),
        line: line_of(text, span),
        message,
    };
    let file: FleetFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        invalid(&span, format!("{message} (see docs/fleet.md)"))
    })?;
    if file.app_servers.is_empty() {
        return Err(invalid(
            &(0..0),
            "no `[[app_servers]]`: name at least one, with `spawn = {..}` or `connect = {..}`"
                .to_string(),
        ));
    }
    let mut specs: Vec<AppServerSpec> = Vec::new();
    for entry in file.app_servers {
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let name_span = entry.name.span();
        let name = entry.name.into_inner();
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(invalid(
                &name_span,
                format!("app_servers.name {name:?}: give each app-server a name people can read"),
            ));
        }
        if specs.iter().any(|s| s.name == name) {
            return Err(invalid(
                &name_span,
                format!("app_servers.name {name:?} is used twice: names must be unique"),
            ));
        }
        let spec = match (entry.spawn, entry.connect) {
            (Some(spawn), None) => {
                let spawn = spawn.into_inner();
                AppServerSpec {
                    transport: defaults
                        .spec(spawn.codex_home.map(|h| expand_home(&h)), &spawn.args)?,
                    cwd: spawn.cwd.map(|c| expand_home(&c)),
                    name,
                }
            }
            (None, Some(connect)) => {
                let connect = connect.into_inner();
                let url_span = connect.url.span();
                let url = connect.url.into_inner();
                if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                    return Err(invalid(
                        &url_span,
                        format!(
                            "app_servers.connect.url {url:?} of {name}: give a ws:// or wss:// URL (`codex app-server --listen ws://HOST:PORT`)"
                        ),
                    ));
                }
                let bearer = match connect.token_env {
                    None => None,
                    Some(var) => {
                        let var_span = var.span();
                        let var = var.into_inner();
                        match env(&var) {
                            Some(token) if !token.is_empty() => Some(token),
                            _ => {
                                return Err(invalid(
                                    &var_span,
                                    format!(
                                        "app_servers.connect.token_env of {name}: ${var} is not set; export the app-server's token in it"
                                    ),
                                ));
                            }
                        }
                    }
                };
                AppServerSpec {
                    transport: TransportSpec::WebSocket { url, bearer },
                    cwd: connect.cwd,
                    name,
                }
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &entry_span,
                    format!("app_servers {name}: has both `spawn` and `connect`; keep one"),
                ));
            }
            (None, None) => {
                return Err(invalid(
                    &entry_span,
                    format!(
                        "app_servers {name}: say how to reach it: `spawn = {{ codex_home = \"..\" }}` or `connect = {{ url = \"ws://..\" }}`"
                    ),
                ));
            }
        };
        specs.push(spec);
    }
    Ok(specs)
}

/// What the flags and files of one command say about its app-servers.
pub struct FleetFlags<'a> {
    pub fleet: Option<&'a Path>,
    pub codex_homes: &'a [PathBuf],
    pub connects: &'a [String],
    pub ws_token: Option<&'a str>,
    /// The fleet file in the config directory, read when no flag names app-servers.
    pub config_file: Option<PathBuf>,
}

/// The fleet of a command: the fleet file's app-servers, then one per `--codex-home`,
/// then one per `--connect` (names made from them, repeats suffixed); without any, the
/// config directory's fleet file when there is one; else one spawned app-server.
pub fn resolve(
    flags: &FleetFlags<'_>,
    defaults: &SpawnDefaults<'_>,
) -> Result<Vec<AppServerSpec>, FleetError> {
    let env = |var: &str| std::env::var(var).ok();
    let mut specs = match flags.fleet {
        Some(path) => load(path, defaults, &env)?,
        None => Vec::new(),
    };
    let mut from_flags = Vec::new();
    for home in flags.codex_homes {
        let home = expand_home(&home.display().to_string());
        from_flags.push(AppServerSpec::from_transport(
            defaults.spec(Some(home), &[])?,
        ));
    }
    for url in flags.connects {
        from_flags.push(AppServerSpec::from_transport(TransportSpec::WebSocket {
            url: url.clone(),
            bearer: flags.ws_token.map(str::to_string),
        }));
    }
    crate::bridge::dedupe_names(&mut from_flags);
    for mut spec in from_flags {
        while specs.iter().any(|s| s.name == spec.name) {
            spec.name.push('+');
        }
        specs.push(spec);
    }
    if specs.is_empty()
        && let Some(path) = flags.config_file.as_deref().filter(|p| p.is_file())
    {
        specs = load(path, defaults, &env)?;
    }
    if specs.is_empty() {
        specs.push(AppServerSpec::from_transport(defaults.spec(None, &[])?));
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> SpawnDefaults<'static> {
        SpawnDefaults {
            codex_bin: Some(Path::new("/bin/true")),
            args: &[],
        }
    }

    fn parse_text(text: &str) -> Result<Vec<AppServerSpec>, String> {
        let env = |var: &str| (var == "BOX_TOKEN").then(|| "secret".to_string());
        parse(text, Path::new("/cfg/fleet.toml"), &defaults(), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn a_fleet_file_names_spawned_and_attached_app_servers() {
        let specs = parse_text(
            r#"
[[app_servers]]
name = "work"
spawn = { codex_home = "/home/me/.codex-work", cwd = "/src/work", args = ["-c", "x=1"] }

[[app_servers]]
name = "build-box"
connect = { url = "ws://build-box:4500", token_env = "BOX_TOKEN" }
"#,
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name, "work");
        assert_eq!(specs[0].cwd.as_deref(), Some("/src/work"));
        match &specs[0].transport {
            TransportSpec::Stdio { args, env, .. } => {
                assert_eq!(args, &["app-server", "-c", "x=1"]);
                assert_eq!(
                    env,
                    &[("CODEX_HOME".to_string(), "/home/me/.codex-work".to_string())]
                );
            }
            other => panic!("{other:?}"),
        }
        match &specs[1].transport {
            TransportSpec::WebSocket { url, bearer } => {
                assert_eq!(url, "ws://build-box:4500");
                assert_eq!(bearer.as_deref(), Some("secret"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mistakes_name_the_file_the_line_and_the_key() {
        let cases = [
            (
                "[[app_servers]]\nname = \"a\"\nspawn = { codex_hom = \"/x\" }\n",
                "/cfg/fleet.toml:3: unknown field `codex_hom`",
            ),
            (
                "[[app_servers]]\nspawn = {}\n",
                "/cfg/fleet.toml:1: missing field `name`",
            ),
            (
                "[[app_servers]]\nname = \"a\"\n",
                "/cfg/fleet.toml:1: app_servers a: say how to reach it",
            ),
            (
                "[[app_servers]]\nname = \"a\"\nspawn = {}\n\n[[app_servers]]\nname = \"a\"\nspawn = {}\n",
                "/cfg/fleet.toml:6: app_servers.name \"a\" is used twice",
            ),
            (
                "[[app_servers]]\nname = \"b\"\nconnect = { url = \"http://x\" }\n",
                "/cfg/fleet.toml:3: app_servers.connect.url \"http://x\" of b: give a ws://",
            ),
            (
                "[[app_servers]]\nname = \"b\"\nconnect = { url = \"ws://x:1\", token_env = \"NOPE\" }\n",
                "/cfg/fleet.toml:3: app_servers.connect.token_env of b: $NOPE is not set",
            ),
            (
                "[[app_servers]]\nname = \"b\"\nspawn = {}\nconnect = { url = \"ws://x:1\" }\n",
                "/cfg/fleet.toml:1: app_servers b: has both `spawn` and `connect`",
            ),
            ("", "/cfg/fleet.toml:1: no `[[app_servers]]`"),
        ];
        for (text, expected) in cases {
            let error = parse_text(text).unwrap_err();
            assert!(error.starts_with(expected), "{error}\n  wanted {expected}");
        }
    }

    #[test]
    fn flags_add_app_servers_named_after_them() {
        let homes = [PathBuf::from("/h/.codex-a"), PathBuf::from("/h/.codex-a")];
        let connects = ["ws://127.0.0.1:4500".to_string()];
        let flags = FleetFlags {
            fleet: None,
            codex_homes: &homes,
            connects: &connects,
            ws_token: None,
            config_file: None,
        };
        let specs = resolve(&flags, &defaults()).unwrap();
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["codex-a", "codex-a-2", "127.0.0.1:4500"]);
        let flags = FleetFlags {
            fleet: None,
            codex_homes: &[],
            connects: &[],
            ws_token: None,
            config_file: Some(PathBuf::from("/nonexistent/fleet.toml")),
        };
        let specs = resolve(&flags, &defaults()).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "local");
    }
}

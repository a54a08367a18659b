//! The console's config file: key bindings and colours. TOML at
//! `$SWITCHBOARD_CONSOLE_CONFIG`, else `$XDG_CONFIG_HOME/switchboard/console.toml`, else
//! `~/.config/switchboard/console.toml`; a missing file means the defaults. `NO_COLOR`
//! (any non-empty value) turns colours off whatever the file says.
//!
//! ```toml
//! colors = false          # true (default) or false: only bold, reverse and dim
//! theme = "light"         # a built-in theme: "dark" (default) or "light"
//! operator = "ana"        # your name on the calls you open ("being answered by ana");
//!                         # default `$USER@host`
//! claim_lease_ms = 30000  # how long a claim holds if this console dies (1000-600000)
//!
//! [colors]                # or, instead of `colors = false`: palette entries
//! accent = "#0055aa"      # a colour name, an index 0-255 or #rrggbb
//!
//! [keys]                  # action = key, or a list of keys; names as in docs/console.md
//! quit = "ctrl-q"
//! open-call = ["a", "enter"]
//! editor-send = "f9"
//! ```

use std::path::{Path, PathBuf};

use super::keys::{self, Action, Key};
use super::theme::{self, Theme};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub colors: bool,
    /// The palette: a built-in theme with the file's `[colors]` entries over it.
    pub theme: Theme,
    /// Actions whose keys the file replaces.
    pub keys: Vec<(Action, Vec<Key>)>,
    /// The operator's name on the requests this console claims; `None`: `$USER@host`.
    pub operator: Option<String>,
    /// How long a claim holds without a renewal: what a console that dies keeps its
    /// requests for.
    pub claim_lease_ms: u64,
}

/// The lease of the console's claims unless the file says (renewed every third of it
/// while the card is open).
pub const DEFAULT_CLAIM_LEASE_MS: u64 = 30_000;

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            colors: true,
            theme: Theme::default(),
            keys: Vec::new(),
            operator: None,
            claim_lease_ms: DEFAULT_CLAIM_LEASE_MS,
        }
    }
}

impl ConsoleConfig {
    /// The operator's name: the file's `operator`, else `$USER@host`.
    pub fn operator_name(&self) -> String {
        if let Some(name) = &self.operator {
            return name.clone();
        }
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "operator".to_string());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
        match host {
            Some(host) => format!("{user}@{host}"),
            None => user,
        }
    }
}

/// Where the config file is looked for.
pub fn path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(path) = var("SWITCHBOARD_CONSOLE_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let base = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("switchboard").join("console.toml"))
}

/// The config in force: the file (if any) and `NO_COLOR`.
pub fn load() -> Result<ConsoleConfig, ConfigError> {
    let mut config = match path() {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConsoleConfig::default(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        },
        None => ConsoleConfig::default(),
    };
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        config.colors = false;
    }
    Ok(config)
}

/// Reads a config file's text; errors name the key at fault and what to write instead.
pub fn parse(text: &str, path: &Path) -> Result<ConsoleConfig, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
    let mut config = ConsoleConfig::default();
    // Where a key is written, for errors: `line N: ...`.
    let at = |section: Option<&str>, key: &str, message: String| match line_of(text, section, key) {
        Some(line) => invalid(format!("line {line}: {message}")),
        None => invalid(message),
    };
    // The theme first: `[colors]` entries go over it wherever the file puts them.
    match table.get("theme") {
        None => {}
        Some(toml::Value::String(name)) => {
            config.theme = Theme::named(name).ok_or_else(|| {
                at(
                    None,
                    "theme",
                    format!(
                        "theme: there is no built-in theme `{name}`; write one of {}",
                        quoted(theme::THEMES)
                    ),
                )
            })?;
        }
        Some(other) => {
            return Err(at(
                None,
                "theme",
                format!(
                    "theme must be a theme's name ({}), not {}",
                    quoted(theme::THEMES),
                    other.type_str()
                ),
            ));
        }
    }
    for (name, value) in &table {
        match (name.as_str(), value) {
            ("theme", _) => {}
            ("operator", toml::Value::String(name)) if !name.trim().is_empty() => {
                config.operator =
                    Some(crate::protocol::truncate_chars(name.trim(), 80).to_string());
            }
            ("operator", other) => {
                return Err(at(
                    None,
                    "operator",
                    format!(
                        "operator must be your name in quotes (operator = \"ana\"), not {}",
                        if other.is_str() {
                            "an empty string"
                        } else {
                            other.type_str()
                        }
                    ),
                ));
            }
            ("claim_lease_ms", toml::Value::Integer(ms)) if (1_000..=600_000).contains(ms) => {
                config.claim_lease_ms = *ms as u64;
            }
            ("claim_lease_ms", other) => {
                return Err(at(
                    None,
                    "claim_lease_ms",
                    format!(
                        "claim_lease_ms must be a whole number of milliseconds from 1000 to 600000 (default {DEFAULT_CLAIM_LEASE_MS}), not {other}"
                    ),
                ));
            }
            ("colors", toml::Value::Boolean(on)) => config.colors = *on,
            ("colors", toml::Value::Table(entries)) => {
                for (entry, value) in entries {
                    let error = |message: String| at(Some("colors"), entry, message);
                    let Some(text) = value.as_str() else {
                        return Err(error(format!(
                            "colors.{entry} must be a colour in quotes (\"cyan\", \"#0055aa\"), not {}",
                            value.type_str()
                        )));
                    };
                    let color = theme::parse_color(text)
                        .map_err(|e| error(format!("colors.{entry}: {e}")))?;
                    if !config.theme.set(entry, color) {
                        return Err(error(format!(
                            "colors.{entry}: no such palette entry; the entries are {}",
                            quoted(theme::ENTRIES)
                        )));
                    }
                }
            }
            ("colors", other) => {
                return Err(at(
                    None,
                    "colors",
                    format!(
                        "colors must be true or false, or a table of palette entries ([colors]), not {}",
                        other.type_str()
                    ),
                ));
            }
            ("keys", toml::Value::Table(keys)) => {
                for (action_name, keys_value) in keys {
                    let action = keys::action_named(action_name).ok_or_else(|| {
                        invalid(format!(
                            "keys.{action_name}: no such action (see docs/console.md for their names)"
                        ))
                    })?;
                    let texts: Vec<&str> = match keys_value {
                        toml::Value::String(key) => vec![key.as_str()],
                        toml::Value::Array(list) => list
                            .iter()
                            .map(|v| {
                                v.as_str().ok_or_else(|| {
                                    invalid(format!("keys.{action_name}: keys are strings"))
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        other => {
                            return Err(invalid(format!(
                                "keys.{action_name} must be a key or a list of keys, not {}",
                                other.type_str()
                            )));
                        }
                    };
                    if texts.is_empty() {
                        return Err(invalid(format!(
                            "keys.{action_name}: give at least one key"
                        )));
                    }
                    let parsed = texts
                        .iter()
                        .map(|t| {
                            keys::parse_key(t)
                                .map_err(|e| invalid(format!("keys.{action_name}: {e}")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    config.keys.push((action, parsed));
                }
            }
            ("keys", other) => {
                return Err(invalid(format!(
                    "keys must be a table ([keys]), not {}",
                    other.type_str()
                )));
            }
            (other, _) => {
                return Err(at(
                    None,
                    other,
                    format!(
                        "unknown setting `{other}`: the file takes `colors`, `theme`, `operator`, `claim_lease_ms`, `[colors]` and `[keys]`"
                    ),
                ));
            }
        }
    }
    Ok(config)
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line (from 1) where `key` is set in `section` (`None`: the top of the file), as
/// `key = ...` or `[key]`.
fn line_of(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            let name = header.split(']').next().unwrap_or_default().trim();
            if section.is_none() && name == key {
                return Some(index + 1);
            }
            current = Some(name.to_string());
            continue;
        }
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        let dotted = section.map(|s| format!("{s}.{key}"));
        let here = match (section, current.as_deref()) {
            (None, None) => name == key,
            (Some(wanted), Some(current)) => wanted == current && name == key,
            (Some(_), None) => dotted.as_deref() == Some(name),
            (None, Some(_)) => false,
        };
        if here {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn parse_ok(text: &str) -> ConsoleConfig {
        parse(text, Path::new("/home/op/.config/switchboard/console.toml")).unwrap()
    }

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("console.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn keys_and_colours_are_read() {
        let config = parse_ok(
            "colors = false\n[keys]\nquit = \"ctrl-q\"\nopen-call = [\"a\", \"enter\"]\neditor_send = \"F9\"\n",
        );
        assert!(!config.colors);
        let keys_of = |action: Action| {
            config
                .keys
                .iter()
                .find(|(a, _)| *a == action)
                .map(|(_, keys)| keys.clone())
                .unwrap()
        };
        assert_eq!(
            keys_of(Action::Quit),
            [Key {
                code: KeyCode::Char('q'),
                modifiers: KeyModifiers::CONTROL
            }]
        );
        assert_eq!(keys_of(Action::OpenCall).len(), 2);
        assert_eq!(keys_of(Action::EditorSend)[0].code, KeyCode::F(9));
        // The table built from it binds the new keys, and labels them.
        let table = keys::table_with(&config.keys);
        let ctrl_q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL);
        assert_eq!(
            keys::lookup_in(table, keys::Context::Queue, &ctrl_q),
            Some(Action::Quit)
        );
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(keys::lookup_in(table, keys::Context::Queue, &q), None);
        assert!(
            table
                .iter()
                .any(|b| b.action == Action::Quit && b.label == "^Q")
        );
    }

    #[test]
    fn every_action_name_is_documented() {
        let doc = include_str!("../../docs/console.md");
        for binding in keys::BINDINGS {
            let name = keys::action_name(binding.action);
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/console.md lacks `{name}`"
            );
            assert_eq!(keys::action_named(&name), Some(binding.action));
        }
    }

    #[test]
    fn without_colours_a_frame_keeps_its_modifiers() {
        use ratatui::style::{Color, Modifier, Style};
        let mut buffer = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, 4, 1));
        buffer.set_string(
            0,
            0,
            "wait",
            Style::new()
                .fg(Color::Magenta)
                .bg(Color::Black)
                .add_modifier(Modifier::BOLD),
        );
        crate::console::without_colors(&mut buffer);
        let cell = &buffer.content[0];
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
        assert!(cell.modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn a_theme_and_palette_entries_are_read() {
        use ratatui::style::Color;
        let config =
            parse_ok("theme = \"light\"\n[colors]\naccent = \"#112233\"\nerror = \"light-red\"\n");
        assert!(config.colors);
        assert_eq!(config.theme.accent, Some(Color::Rgb(0x11, 0x22, 0x33)));
        assert_eq!(config.theme.error, Some(Color::LightRed));
        // The rest comes from the light theme.
        assert_eq!(config.theme.ok, Theme::named("light").unwrap().ok);
        assert_eq!(parse_ok("theme = \"dark\"").theme, Theme::default());
    }

    #[test]
    fn palette_mistakes_name_the_key_and_the_line() {
        let err = parse_err("theme = \"dark\"\n\n[colors]\naccent = \"purpel\"\n");
        assert!(
            err.starts_with("console.toml: line 4: colors.accent: `purpel` is not a colour"),
            "{err}"
        );
        let err = parse_err("[colors]\nacent = \"red\"\n");
        assert!(
            err.contains("line 2: colors.acent: no such palette entry; the entries are \"accent\""),
            "{err}"
        );
        let err = parse_err("[keys]\nquit = \"q\"\n[colors]\nok = 3\n");
        assert!(
            err.contains("line 4: colors.ok must be a colour in quotes"),
            "{err}"
        );
        let err = parse_err("colors = true\ntheme = \"solarized\"\n");
        assert!(err.contains("line 2: theme: there is no built-in theme `solarized`; write one of \"dark\", \"light\""), "{err}");
    }

    #[test]
    fn mistakes_say_what_to_fix() {
        assert!(parse_err("colours = true").contains("unknown setting `colours`"));
        assert!(parse_err("colors = \"no\"").contains("true or false"));
        assert!(parse_err("[keys]\nfly = \"f\"").contains("keys.fly: no such action"));
        assert!(parse_err("[keys]\nquit = \"hyper-q\"").contains("is not a key"));
        assert!(parse_err("[keys]\nquit = 3").contains("a key or a list of keys"));
        assert!(parse_err("colors = ").starts_with("console.toml: "));
    }
}

//! The app-servers of one bridge: each has a name people use (a session's badge, the
//! API's `appServer`, `--app-server NAME`), a transport, and its own connection,
//! recovery and back-off in the actor. The first one is the default, where a new
//! session goes unless it names another. A bridge started with one transport has one
//! app-server, named after it ([`AppServerSpec::default_name`]).

use serde::Serialize;

use super::events::ConnectionState;
use crate::appserver::TransportSpec;

/// One app-server of the fleet, as configured.
#[derive(Debug, Clone)]
pub struct AppServerSpec {
    /// Unique within the fleet; shown on each of its sessions.
    pub name: String,
    pub transport: TransportSpec,
    /// The working directory of new sessions on it, unless a session asks for another.
    pub cwd: Option<String>,
}

impl AppServerSpec {
    /// An app-server named after its transport (see [`AppServerSpec::default_name`]).
    pub fn from_transport(transport: TransportSpec) -> AppServerSpec {
        AppServerSpec {
            name: AppServerSpec::default_name(&transport),
            transport,
            cwd: None,
        }
    }

    /// The name of an app-server nobody named: the `CODEX_HOME` a spawned one runs in
    /// (its last path component, without a leading dot), `local` for a spawned one on
    /// the default home, `HOST:PORT` of a websocket URL.
    pub fn default_name(transport: &TransportSpec) -> String {
        match transport {
            TransportSpec::Stdio { env, .. } => env
                .iter()
                .rev()
                .find(|(key, _)| key == "CODEX_HOME")
                .and_then(|(_, home)| {
                    std::path::Path::new(home)
                        .file_name()
                        .map(|n| n.to_string_lossy().trim_start_matches('.').to_string())
                })
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "local".to_string()),
            TransportSpec::WebSocket { url, .. } => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                if host.is_empty() {
                    url.clone()
                } else {
                    host.to_string()
                }
            }
        }
    }
}

/// Makes every name of a fleet unique by suffixing repeats (`work`, `work-2`, ...):
/// for names made from flags, which nobody chose. Named entries of a fleet file are
/// checked instead (see `cli::fleet`).
pub fn dedupe_names(specs: &mut [AppServerSpec]) {
    let mut seen: Vec<String> = Vec::new();
    for spec in specs.iter_mut() {
        let base = spec.name.clone();
        let mut n = 1;
        while seen.contains(&spec.name) {
            n += 1;
            spec.name = format!("{base}-{n}");
        }
        seen.push(spec.name.clone());
    }
}

/// One app-server's connection as `status()` and `/api/health` show it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppServerStatus {
    pub name: String,
    /// How it is reached (`stdio (/path/to/codex)`, `websocket (ws://...)`).
    pub transport: String,
    pub connection: ConnectionState,
    /// Its sessions that are not closed.
    pub sessions: usize,
    /// Requests it sent that wait for an answer.
    pub pending: usize,
}

/// Which app-server a request to app-server goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The first of the fleet.
    Default,
    /// By name; an unknown name is an error that lists the known ones.
    Named(String),
    /// The one a session is on; a thread the bridge does not know goes to the default.
    Thread(String),
}

impl Target {
    pub(super) fn named(name: Option<&str>) -> Target {
        match name {
            Some(name) => Target::Named(name.to_string()),
            None => Target::Default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio(home: Option<&str>) -> TransportSpec {
        TransportSpec::Stdio {
            program: "codex".into(),
            args: Vec::new(),
            env: home
                .map(|h| vec![("CODEX_HOME".to_string(), h.to_string())])
                .unwrap_or_default(),
        }
    }

    fn ws(url: &str) -> TransportSpec {
        TransportSpec::WebSocket {
            url: url.to_string(),
            bearer: None,
        }
    }

    #[test]
    fn names_come_from_the_codex_home_or_the_url() {
        assert_eq!(AppServerSpec::default_name(&stdio(None)), "local");
        assert_eq!(
            AppServerSpec::default_name(&stdio(Some("/home/me/.codex-work"))),
            "codex-work"
        );
        assert_eq!(
            AppServerSpec::default_name(&stdio(Some("/srv/build/"))),
            "build"
        );
        assert_eq!(
            AppServerSpec::default_name(&ws("ws://build-box:4500")),
            "build-box:4500"
        );
        assert_eq!(
            AppServerSpec::default_name(&ws("wss://u@host:1/path?x")),
            "host:1"
        );
    }

    #[test]
    fn repeated_names_get_a_suffix() {
        let mut specs = vec![
            AppServerSpec::from_transport(stdio(None)),
            AppServerSpec::from_transport(stdio(None)),
            AppServerSpec::from_transport(stdio(None)),
        ];
        dedupe_names(&mut specs);
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["local", "local-2", "local-3"]);
    }
}

//! Live reload of the catalog: what a swap reports, and which sessions keep the tool
//! definitions they started with.
//!
//! A swap replaces the catalog the actor routes by. Handlers, static answers and
//! `[[approvals]]` rules are read from it for every call or request, so they apply to
//! the next one at once; a call already running keeps the handler spec it was routed
//! with. Tool definitions (names, descriptions, schemas, namespaces) are fixed by codex
//! at `thread/start`: a session started before keeps its own, and is listed as
//! outdated for each tool whose definition differs from the catalog now.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{Catalog, ChangeKind, NamespaceDef, ToolChange, qualified_name};
use crate::protocol::DynamicToolSpec;

/// What one reload did: the catalog now in use (`generation` counts the successful
/// loads since start, 0 being the first), and the changes or the error.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogReload {
    pub at_ms: i64,
    /// The catalog file, as loaded.
    pub path: Option<String>,
    /// The generation in use after this reload: unchanged when it failed.
    pub generation: u64,
    #[serde(flatten)]
    pub outcome: ReloadOutcome,
    /// Sessions started with tool definitions that differ from the catalog in use now
    /// (after this reload); their threads keep the old ones until they end.
    pub outdated_sessions: Vec<OutdatedSession>,
}

impl CatalogReload {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, ReloadOutcome::Loaded { .. })
    }

    /// The error of a failed reload.
    pub fn error(&self) -> Option<&str> {
        match &self.outcome {
            ReloadOutcome::Failed { error } => Some(error),
            ReloadOutcome::Loaded { .. } => None,
        }
    }

    /// One line for people: `catalog reloaded: 2 changes (a: handler, applies now; b:
    /// definition, new sessions only)`, or the first line of the error.
    pub fn summary(&self) -> String {
        match &self.outcome {
            ReloadOutcome::Failed { error } => {
                format!(
                    "catalog reload failed, the previous catalog stays in use: {}",
                    first_problem(error)
                )
            }
            ReloadOutcome::Loaded { changes } if changes.is_empty() => {
                "catalog reloaded: no tool changed".to_string()
            }
            ReloadOutcome::Loaded { changes } => {
                let list: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{}: {}", c.tool, c.describe()))
                    .collect();
                let noun = if changes.len() == 1 {
                    "change"
                } else {
                    "changes"
                };
                format!(
                    "catalog reloaded: {} {noun} ({})",
                    changes.len(),
                    list.join("; ")
                )
            }
        }
    }
}

/// The first problem of a load error (its line names the file and line), and how many
/// more there are; the error itself when it is one line.
pub fn first_problem(error: &str) -> String {
    let lines: Vec<&str> = error.lines().map(str::trim).collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => (*only).to_string(),
        [_, first] => (*first).to_string(),
        [_, first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The new catalog is in use.
    Loaded { changes: Vec<ReloadChange> },
    /// The file could not be loaded: the previous catalog stays in use. `error` names
    /// the file, line and tool of each problem, as `catalog check` does.
    Failed { error: String },
}

/// How one tool changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadChange {
    /// The tool's qualified name (`namespace.name`).
    pub tool: String,
    /// `added`, `removed`, `definition` (description, schemas, namespace) or `answering`
    /// (its handler or examples).
    pub change: &'static str,
    /// Running sessions keep what they declared at `thread/start`: only sessions started
    /// from now on see this change. False for a changed handler, which answers the next
    /// call of every session.
    pub new_sessions_only: bool,
}

/// A change read back (the remote console's events); a word this build does not know
/// reads as `definition`.
impl<'de> serde::Deserialize<'de> for ReloadChange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Read {
            tool: String,
            change: String,
            new_sessions_only: bool,
        }
        let read = Read::deserialize(deserializer)?;
        Ok(ReloadChange {
            tool: read.tool,
            change: ["added", "removed", "definition", "answering"]
                .into_iter()
                .find(|known| *known == read.change)
                .unwrap_or("definition"),
            new_sessions_only: read.new_sessions_only,
        })
    }
}

impl ReloadChange {
    pub fn describe(&self) -> &'static str {
        match (self.change, self.new_sessions_only) {
            ("added", _) => "added, new sessions only",
            ("removed", _) => "removed, new sessions only",
            (_, true) => "definition, new sessions only",
            _ => "handler, applies now",
        }
    }
}

impl From<&ToolChange> for ReloadChange {
    fn from(change: &ToolChange) -> Self {
        let word = match change.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Definition => "definition",
            ChangeKind::Answering => "answering",
        };
        ReloadChange {
            tool: change.tool.clone(),
            change: word,
            // A removed tool is still declared by running sessions: their calls of it go
            // to a person, as a manual tool's do.
            new_sessions_only: change.kind.new_sessions_only()
                || change.kind == ChangeKind::Removed,
        }
    }
}

/// A session whose thread carries older definitions of some tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutdatedSession {
    pub thread_id: String,
    /// Qualified names of the tools whose definition in the session differs from the
    /// catalog's (or that one of the two lacks).
    pub tools: Vec<String>,
}

/// The catalog in use, for `/api/health` and the console.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogStatus {
    pub path: Option<String>,
    pub generation: u64,
    pub tools: usize,
    /// The last reload, good or failed; `None` before the first.
    pub last_reload: Option<CatalogReload>,
    pub outdated_sessions: Vec<OutdatedSession>,
}

/// What a session declared from the catalog at `thread/start`, to compare later
/// catalogs with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeclaredCatalog {
    pub namespaces: Vec<NamespaceDef>,
}

/// The tools (qualified names, sorted) whose definition in a session that declared
/// `tools` with `namespaces` differs from `catalog`'s: changed, added or removed.
pub fn outdated_tools(
    tools: &[DynamicToolSpec],
    declared: &DeclaredCatalog,
    catalog: &Catalog,
) -> Vec<String> {
    let description = |namespaces: &[NamespaceDef], name: Option<&str>| {
        name.and_then(|name| {
            namespaces
                .iter()
                .find(|ns| ns.name == name)
                .map(|ns| ns.description.clone())
        })
    };
    let mut session: BTreeMap<String, (&DynamicToolSpec, Option<String>)> = BTreeMap::new();
    for tool in tools {
        session.insert(
            qualified_name(tool.namespace.as_deref(), &tool.name),
            (
                tool,
                description(&declared.namespaces, tool.namespace.as_deref()),
            ),
        );
    }
    let mut outdated = Vec::new();
    for def in &catalog.tools {
        let name = def.qualified_name();
        let now = (
            def.dynamic_tool(),
            description(&catalog.namespaces, def.namespace.as_deref()),
        );
        match session.remove(&name) {
            Some((spec, ns)) if *spec == now.0 && ns == now.1 => {}
            _ => outdated.push(name),
        }
    }
    outdated.extend(session.into_keys());
    outdated.sort();
    outdated
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn catalog(text: &str) -> Catalog {
        Catalog::parse(text, Path::new("/srv/catalog.toml")).unwrap()
    }

    const OLD: &str = r#"
[[tools]]
name = "a"
description = "first"
input_schema = { type = "object" }
handler = { static_text = "one" }

[[tools]]
name = "b"
description = "second"
input_schema = { type = "object" }
handler = { static_text = "two" }
"#;

    #[test]
    fn a_session_is_outdated_by_definitions_only() {
        let old = catalog(OLD);
        let declared = DeclaredCatalog::default();
        let tools = old.dynamic_tools();
        assert!(outdated_tools(&tools, &declared, &old).is_empty());
        // A new static answer: nothing the thread carries changed.
        let answering = catalog(&OLD.replace("\"one\"", "\"uno\""));
        assert!(outdated_tools(&tools, &declared, &answering).is_empty());
        // A new description of `b` and a new tool `c`; `a` is gone.
        let newer = catalog(
            &OLD.replace("\"second\"", "\"second, better\"")
                .replace("name = \"a\"", "name = \"c\""),
        );
        assert_eq!(
            outdated_tools(&tools, &declared, &newer),
            vec!["a".to_string(), "b".to_string(), "c".to_string()]
        );
    }

    #[test]
    fn a_namespace_description_is_part_of_the_definition() {
        let text = r#"
[[namespaces]]
name = "desk"
description = "the help desk"

[[namespaces.tools]]
name = "a"
description = "first"
input_schema = { type = "object" }
handler = { static_text = "one" }
"#;
        let old = catalog(text);
        let declared = DeclaredCatalog {
            namespaces: old.namespaces.clone(),
        };
        let tools = old.dynamic_tools();
        assert!(outdated_tools(&tools, &declared, &old).is_empty());
        let newer = catalog(&text.replace("the help desk", "the service desk"));
        assert_eq!(
            outdated_tools(&tools, &declared, &newer),
            vec!["desk.a".to_string()]
        );
    }

    #[test]
    fn the_summary_says_what_applies_now_and_what_waits_for_new_sessions() {
        let old = catalog(OLD);
        let newer = catalog(
            &OLD.replace("\"one\"", "\"uno\"")
                .replace("\"second\"", "\"second, better\""),
        );
        let changes: Vec<ReloadChange> = old
            .changes_to(&newer)
            .iter()
            .map(ReloadChange::from)
            .collect();
        let reload = CatalogReload {
            at_ms: 0,
            path: None,
            generation: 1,
            outcome: ReloadOutcome::Loaded { changes },
            outdated_sessions: Vec::new(),
        };
        assert_eq!(
            reload.summary(),
            "catalog reloaded: 2 changes (a: handler, applies now; b: definition, new sessions only)"
        );
        let failed = CatalogReload {
            outcome: ReloadOutcome::Failed {
                error: "tool catalog /srv/catalog.toml has 2 problems:\n  /srv/catalog.toml:3: tool `a`: x\n  /srv/catalog.toml:9: tool `b`: y"
                    .to_string(),
            },
            ..reload
        };
        assert_eq!(
            failed.summary(),
            "catalog reload failed, the previous catalog stays in use: /srv/catalog.toml:3: tool `a`: x (and 1 more)"
        );
    }
}

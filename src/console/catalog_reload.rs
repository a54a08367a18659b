//! What the console knows of catalog reloads: the last one (its error stays in the header
//! until a good load), and which sessions keep older tool definitions, so the inspector
//! can mark those tools "new sessions only".

use std::collections::BTreeMap;

use crate::bridge::CatalogReload;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogReloads {
    /// The last reload, good or failed.
    pub last: Option<CatalogReload>,
    /// The last good one, for its change list.
    pub last_loaded: Option<CatalogReload>,
    /// Thread id -> the tools whose definition in that thread is older than the catalog's.
    pub outdated: BTreeMap<String, Vec<String>>,
}

impl CatalogReloads {
    pub fn apply(&mut self, reload: &CatalogReload) {
        self.outdated = reload
            .outdated_sessions
            .iter()
            .map(|s| (s.thread_id.clone(), s.tools.clone()))
            .collect();
        if reload.is_ok() {
            self.last_loaded = Some(reload.clone());
        }
        self.last = Some(reload.clone());
    }

    /// A closed session no longer keeps anything.
    pub fn session_closed(&mut self, thread_id: &str) {
        self.outdated.remove(thread_id);
    }

    /// The error of the last reload, while no good load came after it.
    pub fn error(&self) -> Option<&str> {
        self.last.as_ref().and_then(CatalogReload::error)
    }

    /// The sessions (thread ids) whose definition of `tool` (qualified) is older.
    pub fn sessions_with_older(&self, tool: &str) -> Vec<&str> {
        self.outdated
            .iter()
            .filter(|(_, tools)| tools.iter().any(|t| t == tool))
            .map(|(thread, _)| thread.as_str())
            .collect()
    }

    /// How `tool` changed at the last good reload: `definition, new sessions only`,
    /// `handler, applies now`, ...
    pub fn last_change(&self, tool: &str) -> Option<&'static str> {
        let reload = self.last_loaded.as_ref()?;
        match &reload.outcome {
            crate::bridge::ReloadOutcome::Loaded { changes } => changes
                .iter()
                .find(|c| c.tool == tool)
                .map(crate::bridge::ReloadChange::describe),
            crate::bridge::ReloadOutcome::Failed { .. } => None,
        }
    }
}

//! Who answers a tool call: a pure decision, kept apart from the actor that applies it
//! so the rules are tested without sockets or processes.

use crate::catalog::{Catalog, HandlerSpec};

/// What to do with headless calls that nobody is there to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualPolicy {
    /// Leave them waiting for an operator or a remote client (console, `serve`).
    Wait,
    /// Answer `success:false` with this text at once (`exec`, where nobody is watching).
    Fail { message: String },
}

impl ManualPolicy {
    pub fn headless_default() -> ManualPolicy {
        ManualPolicy::Fail {
            message: "no operator is available to answer `{tool}`: it is a manual tool and Switchboard runs headless".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run this catalog handler and send what it answers.
    RunHandler { name: String, spec: HandlerSpec },
    /// Leave the call for a person or a remote client.
    WaitForPerson,
    /// Answer at once with a failure that says why.
    Refuse { text: String, reason: &'static str },
}

/// `declared_by_session`: the session registered this tool itself (e.g. through the API
/// with its own `dynamicTools`), so a remote client is expected to answer it.
pub fn decide(
    catalog: &Catalog,
    namespace: Option<&str>,
    tool: &str,
    declared_by_session: bool,
    policy: &ManualPolicy,
) -> Decision {
    match catalog.tool(namespace, tool) {
        Some(def) => match &def.handler {
            Some(spec) => Decision::RunHandler {
                name: def.name.clone(),
                spec: spec.clone(),
            },
            None => manual(tool, policy),
        },
        None if declared_by_session => manual(tool, policy),
        None => Decision::Refuse {
            text: format!("no handler registered for {tool}"),
            reason: "unknown tool",
        },
    }
}

fn manual(tool: &str, policy: &ManualPolicy) -> Decision {
    match policy {
        ManualPolicy::Wait => Decision::WaitForPerson,
        ManualPolicy::Fail { message } => Decision::Refuse {
            text: message.replace("{tool}", tool),
            reason: "manual tool in headless mode",
        },
    }
}

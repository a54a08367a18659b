//! Who answers a request: a pure routing decision, kept apart from the actor that
//! applies it so the rules are tested without sockets or processes.

use crate::catalog::{Catalog, HandlerSpec, RuleOutcome};
use crate::protocol::{Answer, RequestKind};

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

/// What to do with approvals, questions and elicitations that nobody here can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestPolicy {
    /// Keep them pending for a person (the console) or a remote client (the API).
    Ask,
    /// Answer at once with the kind's refusal (declined, nothing granted, no answers),
    /// saying why in the transcript and the event: what `exec` needs, where nobody
    /// watches. `{method}` in the reason is replaced by the request's method.
    Decline { reason: String },
}

impl RequestPolicy {
    /// The headless default: decline, and say so.
    pub fn headless_default() -> RequestPolicy {
        RequestPolicy::Decline {
            reason: "declined by Switchboard: nobody can answer `{method}` here (request policy `decline`)".to_string(),
        }
    }
}

/// Where a tool call goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
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
) -> Route {
    match catalog.tool(namespace, tool) {
        Some(def) => match &def.handler {
            Some(spec) => Route::RunHandler {
                name: def.name.clone(),
                spec: spec.clone(),
            },
            None => manual(tool, policy),
        },
        None if declared_by_session => manual(tool, policy),
        None => Route::Refuse {
            text: format!("no handler registered for {tool}"),
            reason: "unknown tool",
        },
    }
}

fn manual(tool: &str, policy: &ManualPolicy) -> Route {
    match policy {
        ManualPolicy::Wait => Route::WaitForPerson,
        ManualPolicy::Fail { message } => Route::Refuse {
            text: message.replace("{tool}", tool),
            reason: "manual tool in headless mode",
        },
    }
}

/// Where an approval, a question or an elicitation goes: to a person, or answered at once
/// by the policy with the kind's refusal and the reason.
pub fn route_request(kind: RequestKind, method: &str, policy: &RequestPolicy) -> RequestRoute {
    match policy {
        RequestPolicy::Ask => RequestRoute::WaitForPerson,
        RequestPolicy::Decline { reason } => {
            let reason = reason.replace("{method}", method);
            RequestRoute::Refuse {
                answer: Answer::decline(kind, &reason),
                reason,
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RequestRoute {
    WaitForPerson,
    Refuse {
        answer: Answer,
        reason: String,
    },
    /// An `[[approvals]]` rule of the catalog decided (`rule` counts from 1).
    ByRule {
        answer: Answer,
        rule: usize,
        reason: Option<String>,
    },
}

impl RequestRoute {
    /// How a rule's outcome routes a request: a decided rule answers it, anything else
    /// (ask, or a handler rule, which is not run yet) leaves it to the request policy.
    pub fn from_rule(outcome: RuleOutcome, policy_route: impl FnOnce() -> RequestRoute) -> Self {
        match outcome {
            RuleOutcome::Decided {
                rule_index,
                reason,
                answer,
                ..
            } => RequestRoute::ByRule {
                answer,
                rule: rule_index + 1,
                reason,
            },
            RuleOutcome::RunHandler { .. } | RuleOutcome::Ask { .. } => policy_route(),
        }
    }

    /// Who answers, as the transcript and the queue name it.
    pub fn responder_label(&self) -> String {
        match self {
            RequestRoute::WaitForPerson => "you".to_string(),
            RequestRoute::Refuse { .. } => "request policy (decline)".to_string(),
            RequestRoute::ByRule { rule, .. } => format!("approval rule {rule}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headless_policy_declines_each_kind_with_a_reason_that_says_why() {
        let route = route_request(
            RequestKind::CommandApproval,
            "item/commandExecution/requestApproval",
            &RequestPolicy::headless_default(),
        );
        let RequestRoute::Refuse { answer, reason } = route else {
            panic!("{route:?}")
        };
        assert_eq!(answer.to_value(), serde_json::json!({"decision":"decline"}));
        assert!(
            reason.contains("nobody can answer `item/commandExecution/requestApproval` here"),
            "{reason}"
        );
        assert_eq!(
            route_request(RequestKind::UserInput, "m", &RequestPolicy::Ask),
            RequestRoute::WaitForPerson
        );
    }
}

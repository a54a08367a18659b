//! Who answers a request: a pure routing decision, kept apart from the actor that
//! applies it so the rules are tested without sockets or processes.

use serde_json::Value;

use crate::catalog::{Catalog, CommandSpec, HandlerSpec, RuleOutcome};
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

/// What to do with approvals, questions and elicitations that no rule decides and
/// nobody here can answer (`--approvals ask|accept-rules-only|decline`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestPolicy {
    /// Rules first; the rest stays pending for a person (the console) or a remote client
    /// (the API).
    Ask,
    /// Rules first; the rest is answered at once with the kind's refusal (declined,
    /// nothing granted, no answers), saying why in the transcript and the event: what
    /// `exec` needs, where nobody watches. `{method}` in the reason is replaced by the
    /// request's method.
    RulesOnly { reason: String },
    /// Every request refused at once with the reason; the rules are not asked.
    Decline { reason: String },
}

impl RequestPolicy {
    /// The headless default (`accept-rules-only`): the rules decide, the rest is
    /// declined, and the reason says so.
    pub fn headless_default() -> RequestPolicy {
        RequestPolicy::RulesOnly {
            reason: "declined by Switchboard: no approval rule decides `{method}` and nobody can answer it here (--approvals accept-rules-only)".to_string(),
        }
    }

    /// `--approvals decline`: everything declined, rules or not.
    pub fn decline_all() -> RequestPolicy {
        RequestPolicy::Decline {
            reason:
                "declined by Switchboard: nobody can answer `{method}` here (--approvals decline)"
                    .to_string(),
        }
    }

    /// Whether the catalog's `[[approvals]]` rules are asked first.
    pub fn asks_rules(&self) -> bool {
        !matches!(self, RequestPolicy::Decline { .. })
    }

    /// The `--approvals` word for it.
    pub fn word(&self) -> &'static str {
        match self {
            RequestPolicy::Ask => "ask",
            RequestPolicy::RulesOnly { .. } => "accept-rules-only",
            RequestPolicy::Decline { .. } => "decline",
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

/// Where an approval, a question or an elicitation goes when no rule decided it: to a
/// person, or answered at once by the policy with the kind's refusal and the reason.
pub fn route_request(kind: RequestKind, method: &str, policy: &RequestPolicy) -> RequestRoute {
    match policy {
        RequestPolicy::Ask => RequestRoute::WaitForPerson,
        RequestPolicy::RulesOnly { reason } | RequestPolicy::Decline { reason } => {
            let reason = reason.replace("{method}", method);
            RequestRoute::Refuse {
                answer: Answer::decline(kind, &reason),
                reason,
                policy: policy.word(),
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
        /// The `--approvals` word of the policy that refused.
        policy: &'static str,
    },
    /// An `[[approvals]]` rule of the catalog decided (`rule` counts from 1).
    ByRule {
        answer: Answer,
        rule: usize,
        reason: Option<String>,
    },
    /// A rule's handler script decides: run it with `input` on stdin (`rule` counts
    /// from 1). What it prints is read by `catalog::answer_from_handler`; a failing or
    /// undecided handler leaves the request to the policy.
    RunHandler {
        rule: usize,
        spec: CommandSpec,
        input: Value,
    },
}

impl RequestRoute {
    /// How a rule's outcome routes a request: a decided rule answers it, a handler rule
    /// runs its script, anything else (ask, no rule) leaves it to the request policy.
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
            RuleOutcome::RunHandler {
                rule_index,
                spec,
                input,
            } => RequestRoute::RunHandler {
                rule: rule_index + 1,
                spec,
                input,
            },
            RuleOutcome::Ask { .. } => policy_route(),
        }
    }

    /// Who answers, as the transcript and the queue name it.
    pub fn responder_label(&self) -> String {
        match self {
            RequestRoute::WaitForPerson => "you".to_string(),
            RequestRoute::Refuse { policy, .. } => format!("request policy ({policy})"),
            RequestRoute::ByRule { rule, .. } => format!("approval rule {rule}"),
            RequestRoute::RunHandler { rule, .. } => format!("approval rule {rule} handler"),
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
        let RequestRoute::Refuse {
            answer,
            reason,
            policy,
        } = route
        else {
            panic!("{route:?}")
        };
        assert_eq!(answer.to_value(), serde_json::json!({"decision":"decline"}));
        assert_eq!(policy, "accept-rules-only");
        assert!(
            reason.contains("no approval rule decides `item/commandExecution/requestApproval`")
                && reason.contains("nobody can answer it here"),
            "{reason}"
        );
        assert_eq!(
            route_request(RequestKind::UserInput, "m", &RequestPolicy::Ask),
            RequestRoute::WaitForPerson
        );
        let RequestRoute::Refuse { reason, policy, .. } =
            route_request(RequestKind::UserInput, "m", &RequestPolicy::decline_all())
        else {
            panic!()
        };
        assert_eq!(policy, "decline");
        assert!(reason.contains("nobody can answer `m` here"), "{reason}");
        assert!(RequestPolicy::headless_default().asks_rules());
        assert!(RequestPolicy::Ask.asks_rules());
        assert!(!RequestPolicy::decline_all().asks_rules());
    }
}

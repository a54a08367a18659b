//! Deciding the model's next response from the scenario and what the request says about the
//! turn so far.

use super::request::{PastCall, ToolInfo, TurnView};
use super::scenario::{
    ArgumentsSpec, CallSpec, Failure, Part, Round, Rounds, Scenario, Template, TurnEnd, TurnRule,
};
use super::schema::example_arguments;

/// What the model answers to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Function calls, all in one response (parallel when more than one).
    Calls(Vec<PlannedCall>),
    Reply(String),
    Fail(Failure),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall {
    pub name: String,
    pub namespace: Option<String>,
    /// JSON text, or whatever raw text the scenario asked for.
    pub arguments: String,
}

/// What the model does when no rule of the scenario matches the user message.
static AUTO_RULE: TurnRule = TurnRule {
    matches: None,
    rounds: Rounds::Auto,
    end: TurnEnd::ToolResults,
};

/// A step of the turn once the scenario is applied to this request's tools and message.
enum Step {
    Calls(Vec<PlannedCall>),
    Fail(Failure),
}

/// The model's answer to a request. `catalog` names the dynamic tools; `None` means every
/// tool of the request that codex does not provide itself.
pub fn decide(scenario: &Scenario, view: &TurnView, catalog: Option<&[String]>) -> Decision {
    let dynamic: Vec<&ToolInfo> = view
        .tools
        .iter()
        .filter(|t| match catalog {
            Some(names) => names.iter().any(|n| t.is_named(n)),
            None => !t.is_builtin(),
        })
        .collect();

    let rule = scenario
        .turns
        .iter()
        .find(|t| t.applies_to(&view.user_message))
        .unwrap_or(&AUTO_RULE);

    let mut steps = plan_rounds(rule, view, &dynamic);
    let directed = directives(&view.user_message);
    if !directed.is_empty() {
        let calls = directed.iter().map(|r| plan_reference(r, view)).collect();
        match steps.first_mut() {
            Some(first) => *first = Step::Calls(calls),
            None => steps.push(Step::Calls(calls)),
        }
    }

    match steps.into_iter().nth(view.round) {
        Some(Step::Calls(calls)) => Decision::Calls(calls),
        Some(Step::Fail(failure)) => Decision::Fail(failure),
        None => match &rule.end {
            TurnEnd::Reply(template) => Decision::Reply(render(template, view)),
            TurnEnd::ToolResults => Decision::Reply(tool_results(view)),
            TurnEnd::Fail(failure) => Decision::Fail(failure.clone()),
        },
    }
}

fn plan_rounds(rule: &TurnRule, view: &TurnView, dynamic: &[&ToolInfo]) -> Vec<Step> {
    let one_round = |tools: Vec<&ToolInfo>| -> Vec<Step> {
        if tools.is_empty() {
            Vec::new()
        } else {
            vec![Step::Calls(tools.into_iter().map(plan_tool).collect())]
        }
    };
    match &rule.rounds {
        Rounds::Script(rounds) => rounds
            .iter()
            .map(|round| match round {
                Round::Calls(specs) => {
                    Step::Calls(specs.iter().map(|s| plan_spec(s, view)).collect())
                }
                Round::Fail(failure) => Step::Fail(failure.clone()),
            })
            .collect(),
        Rounds::Auto => {
            let named = named_tools(&view.user_message, dynamic);
            one_round(if named.is_empty() {
                dynamic.to_vec()
            } else {
                named
            })
        }
        Rounds::First => one_round(dynamic.iter().take(1).copied().collect()),
        Rounds::All => one_round(dynamic.to_vec()),
        Rounds::EachInTurn => dynamic
            .iter()
            .map(|t| Step::Calls(vec![plan_tool(t)]))
            .collect(),
    }
}

fn plan_tool(tool: &ToolInfo) -> PlannedCall {
    PlannedCall {
        name: tool.name.clone(),
        namespace: tool.namespace.clone(),
        arguments: example_arguments(&tool.parameters).to_string(),
    }
}

fn plan_spec(spec: &CallSpec, view: &TurnView) -> PlannedCall {
    let found = match &spec.namespace {
        Some(ns) => view
            .tools
            .iter()
            .find(|t| t.namespace.as_deref() == Some(ns) && t.name == spec.tool),
        None => view.find_tool(&spec.tool),
    };
    let (name, namespace) = match (found, &spec.namespace) {
        (Some(tool), _) => (tool.name.clone(), tool.namespace.clone()),
        (None, Some(ns)) => (spec.tool.clone(), Some(ns.clone())),
        (None, None) => split_reference(&spec.tool),
    };
    let arguments = match &spec.arguments {
        ArgumentsSpec::Value(value) => value.to_string(),
        ArgumentsSpec::Raw(text) => text.clone(),
        // An unknown tool has no schema; codex answers such a call itself anyway.
        ArgumentsSpec::Derived => found
            .map(|t| example_arguments(&t.parameters))
            .unwrap_or_else(|| serde_json::json!({}))
            .to_string(),
    };
    PlannedCall {
        name,
        namespace,
        arguments,
    }
}

fn plan_reference(reference: &str, view: &TurnView) -> PlannedCall {
    plan_spec(
        &CallSpec {
            tool: reference.to_owned(),
            namespace: None,
            arguments: ArgumentsSpec::Derived,
        },
        view,
    )
}

/// `ns.name` → (`name`, `ns`); tool names cannot contain dots, so the split is unambiguous.
fn split_reference(reference: &str) -> (String, Option<String>) {
    match reference.split_once('.') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            (name.to_owned(), Some(ns.to_owned()))
        }
        _ => (reference.to_owned(), None),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Words of a message, as tool references: runs of name characters without trailing dots
/// (a tool named at the end of a sentence).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_name_char(c))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| !w.is_empty())
}

/// Tools named by `call:TOOL` tokens, in message order, repeats kept (two calls of one tool
/// in a round is a legitimate test).
pub fn directives(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("call:") {
        let preceded_by_word = rest[..pos].chars().next_back().is_some_and(is_name_char);
        let after = &rest[pos + "call:".len()..];
        let end = after
            .find(|c: char| !is_name_char(c))
            .unwrap_or(after.len());
        let name = after[..end].trim_end_matches('.');
        if !preceded_by_word && !name.is_empty() {
            found.push(name.to_owned());
        }
        rest = &after[end..];
    }
    found
}

/// Catalog tools named as words of the message, in the order they are first mentioned.
fn named_tools<'a>(text: &str, dynamic: &[&'a ToolInfo]) -> Vec<&'a ToolInfo> {
    let mut named: Vec<&ToolInfo> = Vec::new();
    for word in words(text) {
        if let Some(tool) = dynamic.iter().find(|t| t.is_named(word))
            && !named.iter().any(|n| std::ptr::eq(*n, *tool))
        {
            named.push(tool);
        }
    }
    named
}

fn output_lines<'a>(calls: &'a [PastCall]) -> impl Iterator<Item = String> + 'a {
    calls.iter().map(|c| {
        format!(
            "{}: {}",
            c.qualified(),
            c.output.as_deref().unwrap_or_default()
        )
    })
}

/// The reply of the built-in scenarios: every output quoted, or an echo when no tool ran.
fn tool_results(view: &TurnView) -> String {
    if view.calls.is_empty() {
        return view.user_message.clone();
    }
    let mut text = "Tool results:".to_owned();
    for line in output_lines(&view.calls) {
        text.push_str("\n- ");
        text.push_str(&line);
    }
    text
}

fn render(template: &Template, view: &TurnView) -> String {
    let mut text = String::new();
    for part in &template.parts {
        match part {
            Part::Text(literal) => text.push_str(literal),
            Part::User => text.push_str(&view.user_message),
            Part::Outputs => {
                text.push_str(&output_lines(&view.calls).collect::<Vec<_>>().join("\n"))
            }
            Part::Output(tool) => {
                let last = view.calls.iter().rev().find(|c| c.is_named(tool));
                text.push_str(last.and_then(|c| c.output.as_deref()).unwrap_or_default());
            }
        }
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::request::parse_request;
    use serde_json::{Value, json};

    fn tool(name: &str, namespace: Option<&str>, parameters: Value) -> ToolInfo {
        ToolInfo {
            name: name.into(),
            namespace: namespace.map(Into::into),
            parameters,
        }
    }

    fn tools() -> Vec<ToolInfo> {
        vec![
            tool("request_user_input", None, json!({"type":"object"})),
            tool(
                "lookup_ticket",
                None,
                json!({"type":"object","properties":{"ticket_id":{"type":"string"}},"required":["ticket_id"]}),
            ),
            tool(
                "get_weather",
                None,
                json!({"type":"object","properties":{"city":{"type":"string","default":"Paris"}}}),
            ),
            tool(
                "get",
                Some("crm"),
                json!({"type":"object","properties":{"id":{"type":"integer"}}}),
            ),
        ]
    }

    fn view(user: &str, calls: &[(&str, Option<&str>, &str)]) -> TurnView {
        let groups = if calls.is_empty() { 0 } else { 1 };
        TurnView {
            user_message: user.into(),
            round: groups,
            calls: calls
                .iter()
                .enumerate()
                .map(|(i, (name, ns, out))| PastCall {
                    call_id: format!("c{i}"),
                    name: (*name).into(),
                    namespace: ns.map(Into::into),
                    output: Some((*out).into()),
                })
                .collect(),
            tools: tools(),
            input_items: 0,
        }
    }

    fn at_round(mut v: TurnView, round: usize) -> TurnView {
        v.round = round;
        v
    }

    fn call(name: &str, namespace: Option<&str>, arguments: &str) -> PlannedCall {
        PlannedCall {
            name: name.into(),
            namespace: namespace.map(Into::into),
            arguments: arguments.into(),
        }
    }

    fn names(decision: &Decision) -> Vec<String> {
        match decision {
            Decision::Calls(calls) => calls
                .iter()
                .map(|c| super::super::request::qualify(c.namespace.as_deref(), &c.name))
                .collect(),
            other => panic!("expected calls, got {other:?}"),
        }
    }

    #[test]
    fn auto_calls_every_catalog_tool_then_quotes_outputs() {
        let auto = Scenario::default();
        let first = decide(&auto, &view("hello", &[]), None);
        assert_eq!(
            first,
            Decision::Calls(vec![
                call(
                    "lookup_ticket",
                    None,
                    r#"{"ticket_id":"example-ticket_id"}"#
                ),
                call("get_weather", None, r#"{"city":"Paris"}"#),
                call("get", Some("crm"), r#"{"id":1}"#),
            ])
        );
        let done = view(
            "hello",
            &[
                ("lookup_ticket", None, "open"),
                ("get_weather", None, "sunny\nwarm"),
                ("get", Some("crm"), "{\"id\":1}"),
            ],
        );
        assert_eq!(
            decide(&auto, &done, None),
            Decision::Reply(
                "Tool results:\n- lookup_ticket: open\n- get_weather: sunny\nwarm\n- crm.get: {\"id\":1}".into()
            )
        );
    }

    #[test]
    fn auto_calls_only_the_tools_the_message_names() {
        let auto = Scenario::default();
        let d = decide(
            &auto,
            &view("what is get_weather, then lookup_ticket.", &[]),
            None,
        );
        assert_eq!(names(&d), ["get_weather", "lookup_ticket"]);
        let d = decide(&auto, &view("use crm.get please", &[]), None);
        assert_eq!(names(&d), ["crm.get"]);
        // Part of a longer word is not a mention.
        let d = decide(&auto, &view("lookup_tickets", &[]), None);
        assert_eq!(names(&d).len(), 3);
    }

    #[test]
    fn no_dynamic_tools_echoes() {
        let mut v = view("just chatting", &[]);
        v.tools.retain(ToolInfo::is_builtin);
        assert_eq!(
            decide(&Scenario::default(), &v, None),
            Decision::Reply("just chatting".into())
        );
    }

    #[test]
    fn catalog_restricts_dynamic_tools() {
        let catalog = vec!["get_weather".to_owned(), "crm.get".to_owned()];
        let d = decide(&Scenario::default(), &view("hi", &[]), Some(&catalog));
        assert_eq!(names(&d), ["get_weather", "crm.get"]);
        let d = decide(
            &Scenario::default(),
            &view("hi", &[]),
            Some(&["request_user_input".to_owned()]),
        );
        assert_eq!(names(&d), ["request_user_input"]);
    }

    #[test]
    fn builtin_shapes() {
        let single = Scenario::builtin("single").unwrap();
        assert_eq!(
            names(&decide(&single, &view("x", &[]), None)),
            ["lookup_ticket"]
        );
        assert!(matches!(
            decide(&single, &view("x", &[("lookup_ticket", None, "o")]), None),
            Decision::Reply(_)
        ));

        let parallel = Scenario::builtin("parallel").unwrap();
        assert_eq!(
            names(&decide(&parallel, &view("lookup_ticket", &[]), None)).len(),
            3
        );

        let multi = Scenario::builtin("multi-round").unwrap();
        let v = view("x", &[]);
        assert_eq!(
            names(&decide(&multi, &at_round(v.clone(), 0), None)),
            ["lookup_ticket"]
        );
        assert_eq!(
            names(&decide(&multi, &at_round(v.clone(), 1), None)),
            ["get_weather"]
        );
        assert_eq!(
            names(&decide(&multi, &at_round(v.clone(), 2), None)),
            ["crm.get"]
        );
        assert!(matches!(
            decide(&multi, &at_round(v, 3), None),
            Decision::Reply(_)
        ));

        let error = Scenario::builtin("model-error").unwrap();
        assert!(matches!(
            decide(&error, &view("x", &[]), None),
            Decision::Fail(Failure::Http { status: 500, .. })
        ));
        let stream = Scenario::builtin("fail-stream").unwrap();
        assert!(matches!(
            decide(&stream, &view("x", &[]), None),
            Decision::Fail(Failure::Event { .. })
        ));
    }

    #[test]
    fn directives_override_round_zero() {
        assert_eq!(
            directives("please call:lookup_ticket call:get_weather, and `call:crm.get`. recall:x"),
            ["lookup_ticket", "get_weather", "crm.get"]
        );
        assert_eq!(directives("call:a call:a call:"), ["a", "a"]);

        let multi = Scenario::builtin("multi-round").unwrap();
        let v = view("call:get_weather call:get_weather call:nope", &[]);
        assert_eq!(
            decide(&multi, &v, None),
            Decision::Calls(vec![
                call("get_weather", None, r#"{"city":"Paris"}"#),
                call("get_weather", None, r#"{"city":"Paris"}"#),
                call("nope", None, "{}"),
            ])
        );
        assert_eq!(
            names(&decide(&multi, &at_round(v, 1), None)),
            ["get_weather"]
        );

        // A failing scenario still fails, after the directed calls.
        let error = Scenario::builtin("model-error").unwrap();
        let v = view("call:get", &[]);
        assert_eq!(names(&decide(&error, &v, None)), ["crm.get"]);
        assert!(matches!(
            decide(&error, &at_round(v, 1), None),
            Decision::Fail(_)
        ));
    }

    #[test]
    fn scripted_turns() {
        let text = r#"
[[turn]]
match = "ticket"
[[turn.round]]
calls = [ { tool = "lookup_ticket", arguments = { ticket_id = "T-1" } }, { tool = "get_weather" } ]
[[turn.round]]
calls = [ { tool = "summarize", arguments_json = "not json {" }, { tool = "get", namespace = "crm" }, { tool = "other.thing" } ]
[turn.reply]
text = "Outputs:\n{outputs}\nticket={output:lookup_ticket} crm={output:crm.get} none={output:zzz} user={user}"

[[turn]]
match = "mid"
[[turn.round]]
calls = [ { tool = "get_weather" } ]
[[turn.round]]
fail = { event = "response.failed", message = "bad" }
"#;
        let scenario = Scenario::parse(text, "s.toml").unwrap();
        let v = view("check ticket", &[]);
        assert_eq!(
            decide(&scenario, &v, None),
            Decision::Calls(vec![
                call("lookup_ticket", None, r#"{"ticket_id":"T-1"}"#),
                call("get_weather", None, r#"{"city":"Paris"}"#),
            ])
        );
        assert_eq!(
            decide(&scenario, &at_round(v, 1), None),
            Decision::Calls(vec![
                call("summarize", None, "not json {"),
                call("get", Some("crm"), r#"{"id":1}"#),
                call("thing", Some("other"), "{}"),
            ])
        );
        let mut done = view(
            "check ticket",
            &[
                ("lookup_ticket", None, "open"),
                ("get_weather", None, "sun"),
                ("get", Some("crm"), "c"),
            ],
        );
        done.round = 2;
        assert_eq!(
            decide(&scenario, &done, None),
            Decision::Reply(
                "Outputs:\nlookup_ticket: open\nget_weather: sun\ncrm.get: c\nticket=open crm=c none= user=check ticket".into()
            )
        );

        let mid = view("mid", &[]);
        assert_eq!(names(&decide(&scenario, &mid, None)), ["get_weather"]);
        assert_eq!(
            decide(&scenario, &at_round(mid, 1), None),
            Decision::Fail(Failure::Event {
                event: crate::model::scenario::FailEvent::Failed,
                message: "bad".into()
            })
        );

        // No rule matches: the model behaves as `auto`.
        assert_eq!(
            names(&decide(&scenario, &view("get_weather?", &[]), None)),
            ["get_weather"]
        );
    }

    #[test]
    fn decisions_from_real_requests() {
        let read = |name: &str| -> Value {
            let path = format!("{}/src/model/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let auto = Scenario::default();
        let first = parse_request(&read("first_round.json")).unwrap();
        assert_eq!(
            decide(&auto, &first, None),
            Decision::Calls(vec![call(
                "lookup_ticket",
                None,
                r#"{"ticket_id":"example-ticket_id"}"#
            )])
        );
        let after = parse_request(&read("after_call.json")).unwrap();
        assert_eq!(
            decide(&auto, &after, None),
            Decision::Reply("Tool results:\n- lookup_ticket: ticket T-1 is open".into())
        );
    }
}

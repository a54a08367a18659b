//! Scenarios: what the scripted model does in each turn, built in or read from TOML.
//!
//! A scenario file is a list of turn rules; the first rule whose `match` is a substring of
//! the user message wins (no `match` matches everything, and must then be the last rule):
//!
//! ```toml
//! description = "free text"            # optional, ignored
//!
//! [[turn]]
//! match = "ticket"                     # optional
//! [[turn.round]]                       # one model response; several calls = parallel calls
//! calls = [ { tool = "lookup_ticket", arguments = { ticket_id = "T-1" } },
//!           { tool = "get", namespace = "crm" },        # or tool = "crm.get"
//!           { tool = "get_weather" } ]  # no arguments: derived from the tool's schema
//! [[turn.round]]
//! calls = [ { tool = "summarize", arguments_json = "not json {" } ]   # raw text, sent as is
//! [[turn.round]]                       # a round may fail the turn instead
//! fail = { event = "response.failed", message = "..." }
//! [turn.reply]                         # or `fail = {...}` at the turn level; neither: the
//! text = "{outputs}"                   # built-in "Tool results:" reply (echo if no calls)
//! ```
//!
//! Placeholders in `reply.text`: `{outputs}` (one `tool: output` line per call of the turn),
//! `{output:TOOL}` (last output of that tool, "" if none), `{user}`; `{{`/`}}` are braces.
//! A failure is `{ http_status = 400..599, message }` or
//! `{ event = "response.failed" | "response.incomplete", message }`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::ModelError;

/// Names accepted by [`Scenario::builtin`], the default first.
pub const BUILTIN_SCENARIOS: &[&str] = &[
    "auto",
    "single",
    "parallel",
    "multi-round",
    "model-error",
    "fail-stream",
];

/// What the scripted model does each turn: a list of turn rules, the first whose `match` is
/// a substring of the user message wins; when none matches, the model behaves as `auto`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    name: String,
    pub(crate) turns: Vec<TurnRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TurnRule {
    pub matches: Option<String>,
    pub rounds: Rounds,
    pub end: TurnEnd,
}

impl TurnRule {
    pub fn applies_to(&self, user_message: &str) -> bool {
        self.matches
            .as_deref()
            .is_none_or(|m| user_message.contains(m))
    }
}

/// The function-call rounds of a turn, scripted or chosen from the tools codex offers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rounds {
    Script(Vec<Round>),
    /// Tools the user message names, else every catalog tool, in one round.
    Auto,
    /// The first catalog tool.
    First,
    /// Every catalog tool in one round.
    All,
    /// Every catalog tool, one round each.
    EachInTurn,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Round {
    Calls(Vec<CallSpec>),
    Fail(Failure),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallSpec {
    /// A bare tool name or `namespace.name`.
    pub tool: String,
    pub namespace: Option<String>,
    pub arguments: ArgumentsSpec,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArgumentsSpec {
    /// Built from the tool's schema in the request.
    Derived,
    Value(Value),
    /// Sent as is, valid JSON or not.
    Raw(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TurnEnd {
    Reply(Template),
    /// "Tool results:" with one line per call, or the user message when no call was made.
    ToolResults,
    Fail(Failure),
}

/// A model-side failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The HTTP request fails with this status and a JSON error body.
    Http { status: u16, message: String },
    /// The stream starts, then ends with this event instead of `response.completed`.
    Event { event: FailEvent, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailEvent {
    Failed,
    Incomplete,
}

impl FailEvent {
    pub const NAMES: &[&str] = &["response.failed", "response.incomplete"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Failed => "response.failed",
            Self::Incomplete => "response.incomplete",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "response.failed" => Some(Self::Failed),
            "response.incomplete" => Some(Self::Incomplete),
            _ => None,
        }
    }
}

/// Reply text with placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    /// One `tool: output` line per call of the turn.
    Outputs,
    /// The last output of the named tool.
    Output(String),
    User,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!(
                            "unclosed `{{{name}` in reply text (write `{{{{` for a literal brace)"
                        ));
                    }
                    let part = match name.as_str() {
                        "outputs" => Part::Outputs,
                        "user" => Part::User,
                        _ => match name.strip_prefix("output:") {
                            Some(tool) if !tool.trim().is_empty() => {
                                Part::Output(tool.trim().to_owned())
                            }
                            _ => {
                                return Err(format!(
                                    "unknown placeholder `{{{name}}}` in reply text: use {{outputs}}, {{output:TOOL}} or {{user}} (`{{{{` and `}}}}` for literal braces)"
                                ));
                            }
                        },
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self::dynamic("auto", Rounds::Auto)
    }
}

impl Scenario {
    /// A built-in scenario: `auto`, `single`, `parallel`, `multi-round`, `model-error` or
    /// `fail-stream` (see [`BUILTIN_SCENARIOS`]).
    pub fn builtin(name: &str) -> Option<Scenario> {
        let scenario = match name {
            "auto" => Self::default(),
            "single" => Self::dynamic(name, Rounds::First),
            "parallel" => Self::dynamic(name, Rounds::All),
            "multi-round" => Self::dynamic(name, Rounds::EachInTurn),
            "model-error" => Self::failing(
                name,
                Failure::Http {
                    status: 500,
                    message: "scripted model error".to_owned(),
                },
            ),
            "fail-stream" => Self::failing(
                name,
                Failure::Event {
                    event: FailEvent::Failed,
                    message: "scripted stream failure".to_owned(),
                },
            ),
            _ => return None,
        };
        Some(scenario)
    }

    /// A built-in name, or else the path of a TOML scenario file.
    pub fn load(spec: &str) -> Result<Scenario, ModelError> {
        if let Some(scenario) = Self::builtin(spec) {
            return Ok(scenario);
        }
        let path = Path::new(spec);
        let looks_like_path = spec.contains(std::path::MAIN_SEPARATOR)
            || spec.contains('/')
            || spec.ends_with(".toml")
            || path.exists();
        if !looks_like_path {
            return Err(ModelError::UnknownScenario {
                name: spec.to_owned(),
                known: BUILTIN_SCENARIOS.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::ScenarioRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, spec)
    }

    /// Parses a TOML scenario; `origin` (usually the file path) names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ModelError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| ModelError::ScenarioSyntax {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |message: String| ModelError::ScenarioInvalid {
            origin: origin.to_owned(),
            message,
        };
        if raw.turn.is_empty() {
            return Err(invalid(
                "scenario has no [[turn]] entries; add at least one".to_owned(),
            ));
        }
        let mut turns = Vec::with_capacity(raw.turn.len());
        let mut catch_all: Option<usize> = None;
        for (index, raw_turn) in raw.turn.into_iter().enumerate() {
            let number = index + 1;
            if let Some(first) = catch_all {
                return Err(invalid(format!(
                    "turn {number} can never be used: turn {first} has no `match` and matches every message"
                )));
            }
            if raw_turn.matches.as_deref().is_none_or(str::is_empty) {
                catch_all = Some(number);
            }
            let turn =
                convert_turn(raw_turn).map_err(|m| invalid(format!("turn {number}: {m}")))?;
            turns.push(turn);
        }
        Ok(Scenario {
            name: origin.to_owned(),
            turns,
        })
    }

    /// The built-in name, or the origin the scenario was parsed from.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn dynamic(name: &str, rounds: Rounds) -> Scenario {
        Scenario {
            name: name.to_owned(),
            turns: vec![TurnRule {
                matches: None,
                rounds,
                end: TurnEnd::ToolResults,
            }],
        }
    }

    fn failing(name: &str, failure: Failure) -> Scenario {
        Scenario {
            name: name.to_owned(),
            turns: vec![TurnRule {
                matches: None,
                rounds: Rounds::Script(Vec::new()),
                end: TurnEnd::Fail(failure),
            }],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    /// Free text for the reader of the file; not used.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    turn: Vec<RawTurn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    #[serde(rename = "match")]
    matches: Option<String>,
    #[serde(default)]
    round: Vec<RawRound>,
    reply: Option<RawReply>,
    fail: Option<RawFail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRound {
    calls: Option<Vec<RawCall>>,
    fail: Option<RawFail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    tool: String,
    namespace: Option<String>,
    arguments: Option<toml::Value>,
    arguments_json: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFail {
    http_status: Option<u16>,
    event: Option<String>,
    message: Option<String>,
}

fn convert_turn(raw: RawTurn) -> Result<TurnRule, String> {
    let mut rounds = Vec::with_capacity(raw.round.len());
    let mut failed_at: Option<usize> = None;
    for (index, raw_round) in raw.round.into_iter().enumerate() {
        let number = index + 1;
        if let Some(at) = failed_at {
            return Err(format!(
                "round {number} can never run: round {at} fails the turn"
            ));
        }
        let round = convert_round(raw_round).map_err(|m| format!("round {number}: {m}"))?;
        if matches!(round, Round::Fail(_)) {
            failed_at = Some(number);
        }
        rounds.push(round);
    }
    let end = match (raw.reply, raw.fail) {
        (Some(_), Some(_)) => {
            return Err("has both `reply` and `fail`; keep one".to_owned());
        }
        (Some(reply), None) => TurnEnd::Reply(Template::parse(&reply.text)?),
        (None, Some(fail)) => TurnEnd::Fail(convert_fail(fail).map_err(|m| format!("fail: {m}"))?),
        (None, None) => TurnEnd::ToolResults,
    };
    if let (Some(at), TurnEnd::Reply(_) | TurnEnd::Fail(_)) = (failed_at, &end) {
        return Err(format!(
            "its `reply`/`fail` can never be used: round {at} fails the turn"
        ));
    }
    Ok(TurnRule {
        matches: raw.matches.filter(|m| !m.is_empty()),
        rounds: Rounds::Script(rounds),
        end,
    })
}

fn convert_round(raw: RawRound) -> Result<Round, String> {
    match (raw.calls, raw.fail) {
        (Some(_), Some(_)) => Err("has both `calls` and `fail`; keep one".to_owned()),
        (None, None) => Err("needs `calls = [...]` or `fail = {...}`".to_owned()),
        (None, Some(fail)) => Ok(Round::Fail(
            convert_fail(fail).map_err(|m| format!("fail: {m}"))?,
        )),
        (Some(calls), None) => {
            if calls.is_empty() {
                return Err("`calls` is empty; a round needs at least one call".to_owned());
            }
            let calls = calls
                .into_iter()
                .enumerate()
                .map(|(i, c)| convert_call(c).map_err(|m| format!("call {}: {m}", i + 1)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Round::Calls(calls))
        }
    }
}

fn convert_call(raw: RawCall) -> Result<CallSpec, String> {
    if raw.tool.trim().is_empty() {
        return Err("`tool` is empty".to_owned());
    }
    if raw.tool.trim() != raw.tool {
        return Err(format!("`tool` {:?} has surrounding whitespace", raw.tool));
    }
    if raw.namespace.is_some() && raw.tool.contains('.') {
        return Err(format!(
            "`tool` {:?} already names a namespace; drop `namespace` or the `namespace.` prefix",
            raw.tool
        ));
    }
    if raw.namespace.as_deref().is_some_and(str::is_empty) {
        return Err("`namespace` is empty".to_owned());
    }
    let arguments = match (raw.arguments, raw.arguments_json) {
        (Some(_), Some(_)) => {
            return Err("has both `arguments` and `arguments_json`; keep one".to_owned());
        }
        (Some(value), None) => ArgumentsSpec::Value(toml_to_json(value)?),
        (None, Some(text)) => ArgumentsSpec::Raw(text),
        (None, None) => ArgumentsSpec::Derived,
    };
    Ok(CallSpec {
        tool: raw.tool,
        namespace: raw.namespace,
        arguments,
    })
}

fn convert_fail(raw: RawFail) -> Result<Failure, String> {
    let message = raw
        .message
        .unwrap_or_else(|| "scripted model failure".to_owned());
    match (raw.http_status, raw.event) {
        (Some(_), Some(_)) => Err("has both `http_status` and `event`; keep one".to_owned()),
        (None, None) => Err(format!(
            "needs `http_status = 400..599` or `event = {}`",
            FailEvent::NAMES.join(" | ")
        )),
        (Some(status), None) => {
            if (400..=599).contains(&status) {
                Ok(Failure::Http { status, message })
            } else {
                Err(format!(
                    "`http_status` {status} is not an error status (400..599)"
                ))
            }
        }
        (None, Some(name)) => match FailEvent::from_name(&name) {
            Some(event) => Ok(Failure::Event { event, message }),
            None => Err(format!(
                "unknown `event` {name:?}; known: {}",
                FailEvent::NAMES.join(", ")
            )),
        },
    }
}

fn toml_to_json(value: toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("`arguments` holds {f}, which json cannot carry"))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        // JSON has no date type; tools get the TOML text of the date.
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(toml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| Ok((k, toml_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invalid_message(text: &str) -> String {
        match Scenario::parse(text, "t.toml") {
            Err(ModelError::ScenarioInvalid { origin, message }) => {
                assert_eq!(origin, "t.toml");
                message
            }
            other => panic!("expected ScenarioInvalid, got {other:?}"),
        }
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
description = "demo"

[[turn]]
match = "ticket"
[[turn.round]]
calls = [ { tool = "lookup_ticket", arguments = { ticket_id = "T-1", n = 2, when = 2024-01-02 } }, { tool = "get_weather" } ]
[[turn.round]]
calls = [ { tool = "summarize", arguments_json = "not json {" }, { tool = "get", namespace = "crm" } ]
[turn.reply]
text = "Here:\n{outputs}\nlast={output:lookup_ticket} you={user} {{literal}}"

[[turn]]
match = "boom"
fail = { http_status = 503, message = "down" }

[[turn]]
[[turn.round]]
fail = { event = "response.failed" }
"#;
        let scenario = Scenario::parse(text, "demo.toml").unwrap();
        assert_eq!(scenario.name(), "demo.toml");
        assert_eq!(scenario.turns.len(), 3);
        let first = &scenario.turns[0];
        assert_eq!(first.matches.as_deref(), Some("ticket"));
        let Rounds::Script(rounds) = &first.rounds else {
            panic!("scripted rounds expected")
        };
        assert_eq!(
            rounds[0],
            Round::Calls(vec![
                CallSpec {
                    tool: "lookup_ticket".into(),
                    namespace: None,
                    arguments: ArgumentsSpec::Value(
                        json!({"ticket_id":"T-1","n":2,"when":"2024-01-02"})
                    ),
                },
                CallSpec {
                    tool: "get_weather".into(),
                    namespace: None,
                    arguments: ArgumentsSpec::Derived,
                },
            ])
        );
        let Round::Calls(second) = &rounds[1] else {
            panic!("calls expected")
        };
        assert_eq!(second[0].arguments, ArgumentsSpec::Raw("not json {".into()));
        assert_eq!(second[1].namespace.as_deref(), Some("crm"));
        assert_eq!(
            first.end,
            TurnEnd::Reply(Template {
                parts: vec![
                    Part::Text("Here:\n".into()),
                    Part::Outputs,
                    Part::Text("\nlast=".into()),
                    Part::Output("lookup_ticket".into()),
                    Part::Text(" you=".into()),
                    Part::User,
                    Part::Text(" {literal}".into()),
                ]
            })
        );
        assert_eq!(
            scenario.turns[1].end,
            TurnEnd::Fail(Failure::Http {
                status: 503,
                message: "down".into()
            })
        );
        assert_eq!(
            scenario.turns[2].rounds,
            Rounds::Script(vec![Round::Fail(Failure::Event {
                event: FailEvent::Failed,
                message: "scripted model failure".into()
            })])
        );
        assert_eq!(scenario.turns[2].end, TurnEnd::ToolResults);
    }

    #[test]
    fn syntax_errors_name_the_origin() {
        for text in [
            "[[turn]\n",
            "[[turn]]\nmatc = \"x\"\n",
            "[[turn]]\nmatch = 3\n",
        ] {
            match Scenario::parse(text, "bad.toml") {
                Err(ModelError::ScenarioSyntax { origin, message }) => {
                    assert_eq!(origin, "bad.toml");
                    assert!(!message.is_empty());
                }
                other => panic!("expected syntax error for {text:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn validation_errors_name_turn_round_and_call() {
        assert!(invalid_message("").contains("no [[turn]]"));
        assert_eq!(
            invalid_message("[[turn]]\nreply = { text = \"a\" }\nfail = { http_status = 500 }"),
            "turn 1: has both `reply` and `fail`; keep one"
        );
        assert_eq!(
            invalid_message("[[turn]]\nmatch = \"a\"\n[[turn.round]]\n[[turn]]"),
            "turn 1: round 1: needs `calls = [...]` or `fail = {...}`"
        );
        assert_eq!(
            invalid_message("[[turn]]\nmatch = \"a\"\n[[turn]]\n[[turn.round]]\ncalls = []"),
            "turn 2: round 1: `calls` is empty; a round needs at least one call"
        );
        assert_eq!(
            invalid_message(
                "[[turn]]\n[[turn.round]]\ncalls = [{tool = \"a\"}, {tool = \"b\", arguments = {}, arguments_json = \"{}\"}]"
            ),
            "turn 1: round 1: call 2: has both `arguments` and `arguments_json`; keep one"
        );
        assert!(
            invalid_message("[[turn]]\n[[turn.round]]\ncalls = [{tool = \"\"}]")
                .contains("`tool` is empty")
        );
        assert!(
            invalid_message(
                "[[turn]]\n[[turn.round]]\ncalls = [{tool = \"crm.get\", namespace = \"crm\"}]"
            )
            .contains("already names a namespace")
        );
        assert!(
            invalid_message("[[turn]]\nfail = { http_status = 200 }")
                .contains("not an error status")
        );
        assert!(
            invalid_message("[[turn]]\nfail = { event = \"response.nope\" }")
                .contains("unknown `event`")
        );
        assert!(
            invalid_message("[[turn]]\nfail = { message = \"x\" }").contains("needs `http_status")
        );
        assert!(
            invalid_message("[[turn]]\nreply = { text = \"{oops}\" }")
                .contains("unknown placeholder `{oops}`")
        );
        assert!(invalid_message("[[turn]]\nreply = { text = \"{outputs\" }").contains("unclosed"));
        assert_eq!(
            invalid_message("[[turn]]\n[[turn]]\nmatch = \"x\""),
            "turn 2 can never be used: turn 1 has no `match` and matches every message"
        );
        assert_eq!(
            invalid_message(
                "[[turn]]\n[[turn.round]]\nfail = { http_status = 500 }\n[[turn.round]]\ncalls = [{tool = \"a\"}]"
            ),
            "turn 1: round 2 can never run: round 1 fails the turn"
        );
        assert!(
            invalid_message(
                "[[turn]]\nreply = { text = \"x\" }\n[[turn.round]]\nfail = { http_status = 500 }"
            )
            .contains("can never be used")
        );
        assert!(
            invalid_message(
                "[[turn]]\n[[turn.round]]\ncalls = [{tool = \"a\", arguments = { x = nan }}]"
            )
            .contains("json cannot carry")
        );
    }

    #[test]
    fn builtins_and_load() {
        for name in BUILTIN_SCENARIOS {
            let scenario = Scenario::builtin(name).unwrap();
            assert_eq!(scenario.name(), *name);
            assert_eq!(Scenario::load(name).unwrap(), scenario);
        }
        assert_eq!(Scenario::default(), Scenario::builtin("auto").unwrap());
        assert!(Scenario::builtin("nope").is_none());
        match Scenario::load("nope") {
            Err(ModelError::UnknownScenario { name, known }) => {
                assert_eq!(name, "nope");
                assert_eq!(known.len(), BUILTIN_SCENARIOS.len());
            }
            other => panic!("expected UnknownScenario, got {other:?}"),
        }
        match Scenario::load("/nonexistent/x.toml") {
            Err(ModelError::ScenarioRead { path, .. }) => {
                assert_eq!(path, Path::new("/nonexistent/x.toml"));
            }
            other => panic!("expected ScenarioRead, got {other:?}"),
        }
    }

    #[test]
    fn load_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "[[turn]]\nreply = { text = \"hi {user}\" }\n").unwrap();
        let scenario = Scenario::load(path.to_str().unwrap()).unwrap();
        assert_eq!(scenario.name(), path.to_str().unwrap());
        assert_eq!(scenario.turns.len(), 1);
    }

    #[test]
    fn example_file_loads() {
        let path = format!(
            "{}/src/model/testdata/example_scenario.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let scenario = Scenario::load(&path).unwrap();
        let matches: Vec<_> = scenario
            .turns
            .iter()
            .map(|t| t.matches.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(
            matches,
            ["ticket", "bad request", "incomplete", "midway", "plain"]
        );
    }

    #[test]
    fn first_matching_turn_wins() {
        let scenario =
            Scenario::parse("[[turn]]\nmatch = \"a\"\n[[turn]]\nmatch = \"\"\n", "x").unwrap();
        assert!(scenario.turns[0].applies_to("cat"));
        assert!(!scenario.turns[0].applies_to("dog"));
        assert!(scenario.turns[1].applies_to("dog"));
    }
}

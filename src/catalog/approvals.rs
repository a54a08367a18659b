//! `[[approvals]]`: rules that answer the requests a person need not see (command and
//! file-change approvals, permission requests, user-input questions, MCP elicitations).
//!
//! Rules are matched in file order; the first whose `match` fits decides. A rule either
//! names a `decision` (`ask` hands the request to a person) or a `handler` script that
//! receives the request as JSON on stdin and prints a decision. [`ApprovalRules::decide`]
//! is pure: it never runs anything, it says what to do.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde_json::{Map, Value};
use toml::Value as Toml;

use super::CommandSpec;
use super::HandlerSpec;
use super::fields::{Fields, Place, Report, toml_kind};
use super::handler::parse_handler;
use crate::protocol::{
    Answer, CommandApprovalDecision, CommandApprovalResponse, ElicitationAction,
    FileChangeApprovalResponse, FileChangeDecision, GrantedPermissions, McpElicitationResponse,
    NetworkPermissions, PermissionGrantScope, PermissionsApprovalResponse, ServerRequest,
    UserInputAnswer, UserInputResponse,
};

const RULE_KEYS: &[&str] = &["match", "decision", "reason", "handler", "answers"];
const MATCH_KEYS: &[&str] = &[
    "kind",
    "command_prefix",
    "command_regex",
    "path_glob",
    "cwd_glob",
    "server",
];

/// The kinds of request a rule can match, as the catalog names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalKind {
    Command,
    FileChange,
    Permissions,
    UserInput,
    Elicitation,
}

impl ApprovalKind {
    pub const ALL: [ApprovalKind; 5] = [
        ApprovalKind::Command,
        ApprovalKind::FileChange,
        ApprovalKind::Permissions,
        ApprovalKind::UserInput,
        ApprovalKind::Elicitation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::Command => "command",
            ApprovalKind::FileChange => "file_change",
            ApprovalKind::Permissions => "permissions",
            ApprovalKind::UserInput => "user_input",
            ApprovalKind::Elicitation => "elicitation",
        }
    }

    fn parse(word: &str) -> Option<ApprovalKind> {
        ApprovalKind::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// The kind of a server request; `None` for requests rules do not answer (tool calls
    /// have the catalog's handlers, legacy approvals and unknown requests have none).
    pub fn of(request: &ServerRequest) -> Option<ApprovalKind> {
        Some(match request {
            ServerRequest::CommandApproval(_) => ApprovalKind::Command,
            ServerRequest::FileChangeApproval(_) => ApprovalKind::FileChange,
            ServerRequest::PermissionsApproval(_) => ApprovalKind::Permissions,
            ServerRequest::UserInput(_) => ApprovalKind::UserInput,
            ServerRequest::McpElicitation(_) => ApprovalKind::Elicitation,
            _ => return None,
        })
    }

    /// The decisions a rule of this kind may name.
    fn decisions(self) -> &'static [RuleDecision] {
        use RuleDecision::*;
        match self {
            ApprovalKind::Command | ApprovalKind::FileChange | ApprovalKind::Elicitation => {
                &[Accept, AcceptForSession, Decline, Cancel, Ask]
            }
            ApprovalKind::Permissions => &[Accept, AcceptForSession, Decline, Ask],
            ApprovalKind::UserInput => &[Accept, Decline, Ask],
        }
    }

    /// The matcher keys that make sense for this kind (besides `kind`).
    fn matchers(self) -> &'static [&'static str] {
        match self {
            ApprovalKind::Command => &["command_prefix", "command_regex", "cwd_glob"],
            ApprovalKind::FileChange => &["path_glob", "cwd_glob"],
            ApprovalKind::Permissions => &["cwd_glob"],
            ApprovalKind::UserInput => &[],
            ApprovalKind::Elicitation => &["server"],
        }
    }
}

/// What a rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDecision {
    Accept,
    AcceptForSession,
    Decline,
    Cancel,
    /// A person decides (the default when no rule matches).
    Ask,
}

impl RuleDecision {
    const ALL: [RuleDecision; 5] = [
        RuleDecision::Accept,
        RuleDecision::AcceptForSession,
        RuleDecision::Decline,
        RuleDecision::Cancel,
        RuleDecision::Ask,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleDecision::Accept => "accept",
            RuleDecision::AcceptForSession => "accept_for_session",
            RuleDecision::Decline => "decline",
            RuleDecision::Cancel => "cancel",
            RuleDecision::Ask => "ask",
        }
    }

    pub fn parse(word: &str) -> Option<RuleDecision> {
        RuleDecision::ALL.into_iter().find(|d| d.as_str() == word)
    }
}

/// A glob over paths: `*` and `?` stay within one path segment, `**` crosses segments,
/// `[abc]`, `[a-z]` and `[!x]` are character classes. The whole path must match.
#[derive(Debug, Clone)]
pub struct PathGlob {
    pub pattern: String,
    regex: Regex,
}

impl PathGlob {
    pub fn new(pattern: &str) -> Result<PathGlob, String> {
        if pattern.trim().is_empty() {
            return Err("is empty".to_string());
        }
        let mut out = String::from("^");
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    i += 1;
                    // `**/` also matches no folder at all.
                    if chars.get(i + 1) == Some(&'/') {
                        i += 1;
                        out.push_str("(?:.*/)?");
                    } else {
                        out.push_str(".*");
                    }
                }
                '*' => out.push_str("[^/]*"),
                '?' => out.push_str("[^/]"),
                '[' => {
                    let Some(end) = chars[i + 1..].iter().position(|&c| c == ']') else {
                        return Err(format!("has `[` at {} without a closing `]`", i + 1));
                    };
                    let class: String = chars[i + 1..i + 1 + end].iter().collect();
                    let (negated, body) = match class.strip_prefix('!') {
                        Some(rest) => (true, rest.to_string()),
                        None => (false, class.clone()),
                    };
                    if body.is_empty() {
                        return Err(format!("has an empty character class at {}", i + 1));
                    }
                    out.push('[');
                    if negated {
                        out.push('^');
                    }
                    for ch in body.chars() {
                        if matches!(ch, '\\' | '[' | ']' | '^' | '&' | '~') {
                            out.push('\\');
                        }
                        out.push(ch);
                    }
                    out.push(']');
                    i += end + 1;
                }
                other => out.push_str(&regex::escape(&other.to_string())),
            }
            i += 1;
        }
        out.push('$');
        let regex = Regex::new(&out).map_err(|e| format!("cannot be used: {e}"))?;
        Ok(PathGlob {
            pattern: pattern.to_string(),
            regex,
        })
    }

    pub fn is_match(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }
}

impl PartialEq for PathGlob {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

/// The `match` table of a rule. Every matcher given must fit.
#[derive(Debug, Clone)]
pub struct RuleMatch {
    pub kind: ApprovalKind,
    /// The command's first words (after unwrapping `bash -lc '..'`). Never matches a
    /// command with shell operators (`;`, `&&`, `|`, redirections, `$(..)`, backquotes).
    pub command_prefix: Option<Vec<String>>,
    /// Searched in the unwrapped command text.
    pub command_regex: Option<Regex>,
    /// Every changed file must match (relative to the session's cwd when under it).
    pub path_glob: Option<PathGlob>,
    pub cwd_glob: Option<PathGlob>,
    /// The MCP server's name, exactly.
    pub server: Option<String>,
}

impl PartialEq for RuleMatch {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.command_prefix == other.command_prefix
            && self.command_regex.as_ref().map(Regex::as_str)
                == other.command_regex.as_ref().map(Regex::as_str)
            && self.path_glob == other.path_glob
            && self.cwd_glob == other.cwd_glob
            && self.server == other.server
    }
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleAction {
    Decision(RuleDecision),
    /// A script decides: the request on stdin, a decision JSON on stdout.
    Handler(CommandSpec),
}

/// One `[[approvals]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRule {
    /// Its place in the file, from 0.
    pub index: usize,
    pub line: Option<usize>,
    pub matcher: RuleMatch,
    pub action: RuleAction,
    pub reason: Option<String>,
    /// For `user_input` with `decision = "accept"`: the answers by question id.
    pub answers: BTreeMap<String, Vec<String>>,
}

/// The rules of a catalog, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApprovalRules {
    pub rules: Vec<ApprovalRule>,
}

/// What the bridge knows about a request beyond its params.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The session's working directory.
    pub cwd: Option<String>,
    /// For a file change: the paths of its `fileChange` item (from `item/started`).
    /// `None` (unknown) never matches a `path_glob`.
    pub file_paths: Option<Vec<String>>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleOutcome {
    /// Send `answer` at once.
    Decided {
        decision: RuleDecision,
        rule_index: usize,
        reason: Option<String>,
        answer: Answer,
    },
    /// Run `spec` with `input` on stdin, then [`answer_from_handler`] on its output.
    RunHandler {
        rule_index: usize,
        spec: CommandSpec,
        input: Value,
    },
    /// A person decides. `rule_index` is the rule that said `ask`, `None` when none
    /// matched (or the request is not one rules answer).
    Ask {
        rule_index: Option<usize>,
        note: Option<String>,
    },
}

impl ApprovalRules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule that fits `request`, and what it says. Pure.
    pub fn decide(&self, request: &ServerRequest, context: &RequestContext) -> RuleOutcome {
        let Some(kind) = ApprovalKind::of(request) else {
            return RuleOutcome::Ask {
                rule_index: None,
                note: None,
            };
        };
        let Some(rule) = self
            .rules
            .iter()
            .find(|rule| rule.matcher.kind == kind && matches(&rule.matcher, request, context))
        else {
            return RuleOutcome::Ask {
                rule_index: None,
                note: None,
            };
        };
        match &rule.action {
            RuleAction::Handler(spec) => RuleOutcome::RunHandler {
                rule_index: rule.index,
                spec: spec.clone(),
                input: handler_input(request, rule),
            },
            RuleAction::Decision(RuleDecision::Ask) => RuleOutcome::Ask {
                rule_index: Some(rule.index),
                note: rule.reason.clone(),
            },
            RuleAction::Decision(decision) => match answer_for(request, *decision, &rule.answers) {
                Ok(answer) => RuleOutcome::Decided {
                    decision: *decision,
                    rule_index: rule.index,
                    reason: rule.reason.clone(),
                    answer,
                },
                Err(note) => RuleOutcome::Ask {
                    rule_index: Some(rule.index),
                    note: Some(note),
                },
            },
        }
    }
}

/// The JSON a handler script receives on stdin.
fn handler_input(request: &ServerRequest, rule: &ApprovalRule) -> Value {
    let params = request_params(request);
    let mut input = serde_json::json!({
        "kind": ApprovalKind::of(request).map(ApprovalKind::as_str),
        "method": request.method(),
        "params": params,
        "rule": rule.index,
    });
    if let (ServerRequest::CommandApproval(p), Some(map)) = (request, input.as_object_mut()) {
        map.insert(
            "command".to_string(),
            p.command
                .as_deref()
                .map(|c| Value::String(unwrap_shell(c)))
                .unwrap_or(Value::Null),
        );
    }
    input
}

fn request_params(request: &ServerRequest) -> Value {
    let value = match request {
        ServerRequest::ToolCall(p) => serde_json::to_value(p),
        ServerRequest::CommandApproval(p) => serde_json::to_value(p),
        ServerRequest::FileChangeApproval(p) => serde_json::to_value(p),
        ServerRequest::PermissionsApproval(p) => serde_json::to_value(p),
        ServerRequest::UserInput(p) => serde_json::to_value(p),
        ServerRequest::McpElicitation(p) => serde_json::to_value(p),
        ServerRequest::LegacyApproval(p) => serde_json::to_value(p),
        ServerRequest::Other { params, .. } => Ok(params.clone()),
    };
    value.unwrap_or(Value::Null)
}

/// Reads what a handler script printed: `{"decision": "accept"|"accept_for_session"|
/// "decline"|"cancel"|"ask", "reason"?: "..", "answers"?: {"id": ["..."]}}`, or
/// `{"answer": <the exact response>}` (checked against the response schema).
pub fn answer_from_handler(
    request: &ServerRequest,
    stdout: &str,
    rule_index: usize,
) -> Result<RuleOutcome, String> {
    let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        format!("the approval handler of rule {rule_index} did not print JSON: {e}")
    })?;
    let reason = value
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(raw) = value.get("answer") {
        let kind = request
            .kind()
            .ok_or_else(|| format!("rule {rule_index}: this request takes no answer"))?;
        let answer = Answer::parse(kind, raw.clone())
            .map_err(|e| format!("the approval handler of rule {rule_index}: {e}"))?;
        offered(request, &answer)
            .map_err(|e| format!("the approval handler of rule {rule_index}: {e}"))?;
        return Ok(RuleOutcome::Decided {
            decision: RuleDecision::Accept,
            rule_index,
            reason,
            answer,
        });
    }
    let word = value.get("decision").and_then(Value::as_str).ok_or_else(|| {
        format!(
            "the approval handler of rule {rule_index} printed no \"decision\": print {{\"decision\":\"accept\"|\"accept_for_session\"|\"decline\"|\"cancel\"|\"ask\"}}"
        )
    })?;
    let decision = RuleDecision::parse(word).ok_or_else(|| {
        format!(
            "the approval handler of rule {rule_index} printed the decision {word:?}: it must be accept, accept_for_session, decline, cancel or ask"
        )
    })?;
    if decision == RuleDecision::Ask {
        return Ok(RuleOutcome::Ask {
            rule_index: Some(rule_index),
            note: reason,
        });
    }
    let mut answers = BTreeMap::new();
    if let Some(Value::Object(map)) = value.get("answers") {
        for (id, given) in map {
            let list = match given {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            answers.insert(id.clone(), list);
        }
    }
    let answer = answer_for(request, decision, &answers)
        .and_then(|answer| offered(request, &answer).map(|()| answer))
        .map_err(|e| format!("the approval handler of rule {rule_index}: {e}"))?;
    Ok(RuleOutcome::Decided {
        decision,
        rule_index,
        reason,
        answer,
    })
}

/// A command approval's decision must be one the request allows: those of
/// `availableDecisions`, or the others codex accepts (an exec-policy amendment only as
/// proposed, a network rule only for its host).
fn offered(request: &ServerRequest, answer: &Answer) -> Result<(), String> {
    if let (ServerRequest::CommandApproval(params), Answer::CommandApproval(response)) =
        (request, answer)
    {
        let allowed = params.decisions();
        if !allowed.contains(&response.decision) {
            let listed: Vec<String> = allowed
                .iter()
                .filter_map(|d| serde_json::to_string(d).ok())
                .collect();
            return Err(format!(
                "the decision {} is not one this request allows ({})",
                serde_json::to_string(&response.decision).unwrap_or_default(),
                listed.join(", ")
            ));
        }
    }
    Ok(())
}

/// The response a decision means for this request. `Err` says why the decision cannot
/// be sent for it (the request then goes to a person).
pub fn answer_for(
    request: &ServerRequest,
    decision: RuleDecision,
    answers: &BTreeMap<String, Vec<String>>,
) -> Result<Answer, String> {
    let refuse = |what: &str| {
        Err(format!(
            "a {what} cannot be answered `{}` by a rule",
            decision.as_str()
        ))
    };
    match request {
        ServerRequest::CommandApproval(_) => {
            let decision = match decision {
                RuleDecision::Accept => CommandApprovalDecision::Accept,
                RuleDecision::AcceptForSession => CommandApprovalDecision::AcceptForSession,
                RuleDecision::Decline => CommandApprovalDecision::Decline,
                RuleDecision::Cancel => CommandApprovalDecision::Cancel,
                RuleDecision::Ask => return refuse("command approval"),
            };
            Ok(Answer::CommandApproval(CommandApprovalResponse {
                decision,
            }))
        }
        ServerRequest::FileChangeApproval(_) => {
            let decision = match decision {
                RuleDecision::Accept => FileChangeDecision::Accept,
                RuleDecision::AcceptForSession => FileChangeDecision::AcceptForSession,
                RuleDecision::Decline => FileChangeDecision::Decline,
                RuleDecision::Cancel => FileChangeDecision::Cancel,
                RuleDecision::Ask => return refuse("file change"),
            };
            Ok(Answer::FileChangeApproval(FileChangeApprovalResponse {
                decision,
            }))
        }
        ServerRequest::PermissionsApproval(p) => {
            let (permissions, scope) = match decision {
                RuleDecision::Accept => (granted(&p.permissions), PermissionGrantScope::Turn),
                RuleDecision::AcceptForSession => {
                    (granted(&p.permissions), PermissionGrantScope::Session)
                }
                RuleDecision::Decline => {
                    (GrantedPermissions::default(), PermissionGrantScope::Turn)
                }
                RuleDecision::Cancel | RuleDecision::Ask => return refuse("permissions request"),
            };
            Ok(Answer::PermissionsApproval(PermissionsApprovalResponse {
                permissions,
                scope,
                strict_auto_review: None,
            }))
        }
        ServerRequest::UserInput(p) => match decision {
            RuleDecision::Decline => Ok(Answer::UserInput(UserInputResponse::default())),
            RuleDecision::Accept => {
                let mut out = BTreeMap::new();
                for question in &p.questions {
                    let Some(given) = answers.get(&question.id) else {
                        return Err(format!(
                            "the rule gives no answer to question `{}`",
                            question.id
                        ));
                    };
                    out.insert(
                        question.id.clone(),
                        UserInputAnswer {
                            answers: given.clone(),
                        },
                    );
                }
                Ok(Answer::UserInput(UserInputResponse { answers: out }))
            }
            _ => refuse("user-input question"),
        },
        ServerRequest::McpElicitation(p) => {
            let action = match decision {
                RuleDecision::Accept | RuleDecision::AcceptForSession => ElicitationAction::Accept,
                RuleDecision::Decline => ElicitationAction::Decline,
                RuleDecision::Cancel => ElicitationAction::Cancel,
                RuleDecision::Ask => return refuse("MCP elicitation"),
            };
            let mut meta = None;
            if action == ElicitationAction::Accept {
                let fields = p
                    .requested_schema
                    .as_ref()
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .is_some_and(|props| !props.is_empty());
                if fields {
                    return Err(
                        "a rule cannot fill an MCP form with fields: a person fills it".to_string(),
                    );
                }
                if decision == RuleDecision::AcceptForSession {
                    if !p.is_tool_call_approval() {
                        return Err("accept_for_session applies to MCP tool-call approvals only"
                            .to_string());
                    }
                    meta = Some(serde_json::json!({ "persist": "session" }));
                }
            }
            let content = (action == ElicitationAction::Accept && !p.is_url())
                .then(|| Value::Object(Map::new()));
            Ok(Answer::McpElicitation(McpElicitationResponse {
                action,
                content,
                meta,
            }))
        }
        ServerRequest::LegacyApproval(_) | ServerRequest::ToolCall(_) => {
            refuse("request of this kind")
        }
        ServerRequest::Other { method, .. } => Err(format!("`{method}` takes no rule")),
    }
}

/// Exactly what was asked: network and file-system access.
fn granted(asked: &Value) -> GrantedPermissions {
    GrantedPermissions {
        network: asked.get("network").map(|n| NetworkPermissions {
            enabled: n.get("enabled").and_then(Value::as_bool),
        }),
        file_system: asked.get("fileSystem").and_then(Value::as_object).cloned(),
    }
}

fn matches(m: &RuleMatch, request: &ServerRequest, context: &RequestContext) -> bool {
    let cwd = match request {
        ServerRequest::CommandApproval(p) => p.cwd.clone().or_else(|| context.cwd.clone()),
        ServerRequest::PermissionsApproval(p) => p.cwd.clone().or_else(|| context.cwd.clone()),
        _ => context.cwd.clone(),
    };
    if let Some(glob) = &m.cwd_glob
        && !cwd.as_deref().is_some_and(|cwd| glob.is_match(cwd))
    {
        return false;
    }
    if m.command_prefix.is_some() || m.command_regex.is_some() {
        let ServerRequest::CommandApproval(p) = request else {
            return false;
        };
        let Some(command) = p.command.as_deref() else {
            return false;
        };
        let command = unwrap_shell(command);
        if let Some(prefix) = &m.command_prefix {
            let Some(words) = simple_words(&command) else {
                return false;
            };
            if words.len() < prefix.len() || words[..prefix.len()] != prefix[..] {
                return false;
            }
        }
        if let Some(regex) = &m.command_regex
            && !regex.is_match(&command)
        {
            return false;
        }
    }
    if let Some(glob) = &m.path_glob {
        let Some(paths) = context.file_paths.as_ref().filter(|p| !p.is_empty()) else {
            return false;
        };
        let all = paths.iter().all(|path| {
            glob.is_match(path)
                || cwd
                    .as_deref()
                    .and_then(|cwd| Path::new(path).strip_prefix(cwd).ok())
                    .and_then(Path::to_str)
                    .is_some_and(|relative| glob.is_match(relative))
        });
        if !all {
            return false;
        }
    }
    if let Some(server) = &m.server {
        let ServerRequest::McpElicitation(p) = request else {
            return false;
        };
        if &p.server_name != server {
            return false;
        }
    }
    true
}

/// `bash -lc 'X'`, `/bin/sh -c "X"`, `zsh -lc X` -> `X`; anything else unchanged.
pub fn unwrap_shell(command: &str) -> String {
    let Some(words) = shell_words(command) else {
        return command.to_string();
    };
    if let [shell, flag, script] = words.as_slice() {
        let name = Path::new(shell)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if matches!(name, "bash" | "sh" | "zsh" | "dash")
            && matches!(flag.as_str(), "-c" | "-lc" | "-cl")
        {
            return script.clone();
        }
    }
    command.to_string()
}

/// The words of a command line with quotes removed; `None` when it has unbalanced quotes.
fn shell_words(text: &str) -> Option<Vec<String>> {
    split_words(text, false)
}

/// [`shell_words`], but `None` also when the command has unquoted shell operators, so a
/// prefix rule never approves `git status && rm -rf x`.
fn simple_words(text: &str) -> Option<Vec<String>> {
    split_words(text, true)
}

fn split_words(text: &str, refuse_operators: bool) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        ch => word.push(ch),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => word.push(chars.next()?),
                        '$' | '`' if refuse_operators => return None,
                        ch => word.push(ch),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            ';' | '&' | '|' | '<' | '>' | '`' | '(' | ')' | '\n' | '$' if refuse_operators => {
                return None;
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ch => {
                in_word = true;
                word.push(ch);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

// ----- parsing ------------------------------------------------------------------------------

/// The top-level `approvals` array.
pub(super) fn parse_approvals(
    table: &toml::Table,
    root: Place<'_>,
    dir: &Path,
    report: &mut Report,
) -> ApprovalRules {
    let items = match table.get("approvals") {
        None => return ApprovalRules::default(),
        Some(Toml::Array(items)) => items,
        Some(other) => {
            report.problem(
                root.of("approvals"),
                "",
                format!(
                    "approvals must be an array of tables, not {}: write each rule under an [[approvals]] header",
                    toml_kind(other)
                ),
            );
            return ApprovalRules::default();
        }
    };
    let mut rules = Vec::new();
    for (index, raw) in items.iter().enumerate() {
        let place = root.key("approvals").index(index);
        let who = format!("approval rule {} (approvals[{index}])", index + 1);
        let Toml::Table(rule) = raw else {
            report.problem(
                place.line(),
                &who,
                format!(
                    "must be a table with match and decision, not {}: write it under an [[approvals]] header",
                    toml_kind(raw)
                ),
            );
            continue;
        };
        let mut fields = Fields::new(rule, place, who, report);
        if let Some(rule) = parse_rule(&mut fields, index, dir) {
            rules.push(rule);
        }
    }
    ApprovalRules { rules }
}

fn parse_rule(fields: &mut Fields<'_, '_>, index: usize, dir: &Path) -> Option<ApprovalRule> {
    let before = fields.report.count();
    fields.unknown_keys(RULE_KEYS, "key", "an approval rule takes");
    let matcher = parse_match(fields);
    let reason = fields
        .non_empty_string("reason", "say why, or remove reason")
        .ok()
        .flatten();
    let decision = match fields.string("decision") {
        Ok(Some(word)) => match RuleDecision::parse(&word) {
            Some(decision) => Some(decision),
            None => {
                fields.problem(
                    "decision",
                    format!(
                        "decision {word:?} is not one of accept, accept_for_session, decline, cancel, ask"
                    ),
                );
                None
            }
        },
        _ => None,
    };
    let handler = if fields.get("handler").is_some() {
        if fields.get("decision").is_some() {
            fields.problem(
                "handler",
                "has both decision and handler: keep decision for a fixed answer, or handler for a script that decides",
            );
            None
        } else {
            match parse_handler(fields, dir, None) {
                Some(HandlerSpec::Command(spec)) => Some(spec),
                Some(other) => {
                    let kind = other.kind();
                    fields.problem(
                        "handler",
                        format!(
                            "an approval handler must be {{ command = [...], timeout_ms = .. }}, not a {kind} handler"
                        ),
                    );
                    None
                }
                None => None,
            }
        }
    } else {
        None
    };
    let answers = parse_answers(fields);
    if let Some(matcher) = &matcher {
        let kind = matcher.kind;
        if let Some(decision) = decision
            && !kind.decisions().contains(&decision)
        {
            let allowed: Vec<&str> = kind.decisions().iter().map(|d| d.as_str()).collect();
            fields.problem(
                "decision",
                format!(
                    "a {} request cannot take decision {:?}: use one of {}",
                    kind.as_str(),
                    decision.as_str(),
                    allowed.join(", ")
                ),
            );
        }
        if kind == ApprovalKind::UserInput
            && decision == Some(RuleDecision::Accept)
            && answers.is_empty()
        {
            fields.problem(
                "decision",
                "a user_input rule can accept only with answers = { question_id = [\"answer\"] }: add them, or decide decline or ask",
            );
        }
        let takes_answers =
            kind == ApprovalKind::UserInput && decision == Some(RuleDecision::Accept);
        if !answers.is_empty() && !takes_answers {
            fields.problem(
                "answers",
                "answers only go with kind = \"user_input\" and decision = \"accept\"",
            );
        }
    }
    let action = match (decision, handler) {
        (_, Some(spec)) => RuleAction::Handler(spec),
        (Some(decision), None) => RuleAction::Decision(decision),
        (None, None) => RuleAction::Decision(RuleDecision::Ask),
    };
    if fields.report.count() > before {
        return None;
    }
    Some(ApprovalRule {
        index,
        line: fields.place.line(),
        matcher: matcher?,
        action,
        reason,
        answers,
    })
}

fn parse_answers(fields: &mut Fields<'_, '_>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    match fields.get("answers") {
        None => {}
        Some(Toml::Table(table)) => {
            for (id, value) in table {
                match value {
                    Toml::String(text) => {
                        out.insert(id.clone(), vec![text.clone()]);
                    }
                    Toml::Array(items) if items.iter().all(Toml::is_str) => {
                        out.insert(
                            id.clone(),
                            items
                                .iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect(),
                        );
                    }
                    other => {
                        let message = format!(
                            "answers.{id} must be a string or an array of strings, not {}",
                            toml_kind(other)
                        );
                        fields.problem("answers", message);
                    }
                }
            }
        }
        Some(other) => {
            fields.wrong_type(
                "answers",
                "a table such as { question_id = \"yes\" }",
                other,
            );
        }
    }
    out
}

fn parse_match(fields: &mut Fields<'_, '_>) -> Option<RuleMatch> {
    let raw = fields.get("match");
    let table = match raw {
        None => {
            fields.problem_here(
                "match is missing: add match = { kind = \"command\", ... } (kinds: command, file_change, permissions, user_input, elicitation)",
            );
            return None;
        }
        Some(Toml::Table(table)) => table,
        Some(other) => {
            fields.wrong_type("match", "a table such as { kind = \"command\" }", other);
            return None;
        }
    };
    let mut m = fields.nested("match", table);
    let before = m.report.count();
    m.unknown_keys(MATCH_KEYS, "key", "match takes");
    let kind = match m.string("kind") {
        Ok(Some(word)) => match ApprovalKind::parse(&word) {
            Some(kind) => Some(kind),
            None => {
                m.problem(
                    "kind",
                    format!(
                        "match.kind {word:?} is not a kind of request: use command, file_change, permissions, user_input or elicitation"
                    ),
                );
                None
            }
        },
        Ok(None) => {
            m.problem_here(
                "match.kind is missing: add kind = \"command\" (or file_change, permissions, user_input, elicitation)",
            );
            None
        }
        Err(_) => None,
    };
    let command_prefix = match m.string_array("command_prefix", "[\"git\", \"status\"]") {
        Ok(Some(words)) if words.is_empty() => {
            m.problem(
                "command_prefix",
                "match.command_prefix is empty: give the command's first words, e.g. [\"git\", \"status\"]",
            );
            None
        }
        Ok(words) => words,
        Err(_) => None,
    };
    let command_regex = match m.string("command_regex") {
        Ok(Some(pattern)) => match Regex::new(&pattern) {
            Ok(regex) => Some(regex),
            Err(e) => {
                let first = e.to_string();
                let first = first.lines().last().unwrap_or("").trim().to_string();
                m.problem(
                    "command_regex",
                    format!("match.command_regex {pattern:?} is not a valid regex: {first}"),
                );
                None
            }
        },
        _ => None,
    };
    let glob = |m: &mut Fields<'_, '_>, key: &str| match m.string(key) {
        Ok(Some(pattern)) => match PathGlob::new(&pattern) {
            Ok(glob) => Some(glob),
            Err(e) => {
                let message = format!("match.{key} {pattern:?} is not a valid glob: it {e}");
                m.problem(key, message);
                None
            }
        },
        _ => None,
    };
    let path_glob = glob(&mut m, "path_glob");
    let cwd_glob = glob(&mut m, "cwd_glob");
    let server = m
        .non_empty_string("server", "name the MCP server, or remove server")
        .ok()
        .flatten();
    if let Some(kind) = kind {
        for key in MATCH_KEYS {
            if *key != "kind" && m.get(key).is_some() && !kind.matchers().contains(key) {
                let allowed = kind.matchers();
                let message = format!(
                    "match.{key} does not apply to kind {:?}: {}",
                    kind.as_str(),
                    if allowed.is_empty() {
                        "this kind is matched by kind alone".to_string()
                    } else {
                        format!("it takes {}", allowed.join(", "))
                    }
                );
                m.problem(key, message);
            }
        }
    }
    if m.report.count() > before {
        return None;
    }
    Some(RuleMatch {
        kind: kind?,
        command_prefix,
        command_regex,
        path_glob,
        cwd_glob,
        server,
    })
}

impl ApprovalRule {
    /// One line for listings: `1 (line 12): command prefix "git status" -> accept`.
    pub fn summary(&self) -> String {
        let m = &self.matcher;
        let mut parts = vec![format!("kind {}", m.kind.as_str())];
        if let Some(prefix) = &m.command_prefix {
            parts.push(format!("command_prefix {:?}", prefix.join(" ")));
        }
        if let Some(regex) = &m.command_regex {
            parts.push(format!("command_regex {:?}", regex.as_str()));
        }
        if let Some(glob) = &m.path_glob {
            parts.push(format!("path_glob {:?}", glob.pattern));
        }
        if let Some(glob) = &m.cwd_glob {
            parts.push(format!("cwd_glob {:?}", glob.pattern));
        }
        if let Some(server) = &m.server {
            parts.push(format!("server {server:?}"));
        }
        let action = match &self.action {
            RuleAction::Decision(d) => d.as_str().to_string(),
            RuleAction::Handler(spec) => format!("handler {}", spec.argv.join(" ")),
        };
        let line = self
            .line
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        let reason = self
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        format!(
            "rule {}{line}: {} -> {action}{reason}",
            self.index + 1,
            parts.join(", ")
        )
    }
}

/// Reads a sample request for `catalog check --explain-approval`: a whole JSON-RPC
/// request line (as captured from app-server, with or without a leading `<< `), or only
/// its params (the kind is then told by the fields: `questions` for user input,
/// `serverName` for an elicitation, `permissions`, `command`, else a file change).
pub fn parse_sample_request(text: &str) -> Result<ServerRequest, String> {
    let text = text.trim();
    let text = text.strip_prefix("<<").unwrap_or(text).trim();
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the request is not JSON: {e}"))?;
    let Value::Object(map) = &value else {
        return Err("the request must be a JSON object".to_string());
    };
    let (method, params) = match map.get("method").and_then(Value::as_str) {
        Some(method) => (
            method.to_string(),
            map.get("params").cloned().unwrap_or(Value::Null),
        ),
        None => {
            let method = if map.contains_key("questions") {
                crate::protocol::method::USER_INPUT
            } else if map.contains_key("serverName") || map.contains_key("mode") {
                crate::protocol::method::MCP_ELICITATION
            } else if map.contains_key("permissions") {
                crate::protocol::method::PERMISSIONS_APPROVAL
            } else if map.contains_key("command") || map.contains_key("commandActions") {
                crate::protocol::method::COMMAND_APPROVAL
            } else {
                crate::protocol::method::FILE_CHANGE_APPROVAL
            };
            (method.to_string(), value.clone())
        }
    };
    let request = crate::protocol::Request {
        id: crate::protocol::RequestId::Integer(0),
        method: method.clone(),
        params: Some(params),
    };
    ServerRequest::from_request(&request)
        .map_err(|e| format!("the params of `{method}` do not parse: {e}"))
}

#[cfg(test)]
#[path = "approvals_tests.rs"]
mod tests;

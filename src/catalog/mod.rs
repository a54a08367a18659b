//! The tool catalog file: a TOML list of dynamic tools and how each one is answered.
//!
//! Loading collects every problem of the file at once (with its line and tool) instead of
//! stopping at the first, because a catalog is edited by hand and a fix-one-rerun loop is
//! slow. Things codex accepts but handles surprisingly are warnings, not errors.
//!
//! The catalog produces the exact `thread/start.dynamicTools` payload, a deterministic
//! instruction text for the prompt, and checks a call's arguments against the tool's input
//! schema (codex itself never does).

pub mod approvals;
mod examples;
mod fields;
mod handler;
mod parse;
mod render;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::protocol::{DynamicToolSpec, ToolCallResult};

pub use approvals::{
    ApprovalRules, RequestContext, RuleDecision, RuleOutcome, answer_from_handler,
};
pub use examples::{Example, Expect, FileExample, answer_text};

/// How long a command or http handler may run when the catalog does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// Tool names that codex 0.169.0 already uses for its own tools. A dynamic tool with one
/// of these names is accepted at `thread/start` but never called: the built-in wins.
pub const CODEX_BUILTIN_TOOLS: &[&str] = &[
    "exec_command",
    "write_stdin",
    "shell",
    "local_shell",
    "apply_patch",
    "update_plan",
    "view_image",
    "request_user_input",
    "web_search",
    "image_generation",
    "read_file",
    "list_dir",
    "grep_files",
    "spawn_agent",
    "send_input",
    "wait",
    "close_agent",
];

/// The built-in namespace that codex merges dynamic tools into.
pub const CODEX_MULTI_AGENT_NAMESPACE: &str = "multi_agent_v1";

/// The most argument-validation messages reported for one call; the rest are counted.
const MAX_ARGUMENT_MESSAGES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("could not read tool catalog {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("tool catalog {} is not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}", invalid_summary(path, problems))]
    Invalid {
        path: PathBuf,
        /// One entry per problem, each `FILE:LINE: tool `x`: what is wrong and how to fix it`.
        problems: Vec<String>,
    },
}

fn invalid_summary(path: &Path, problems: &[String]) -> String {
    let count = problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    let mut out = format!("tool catalog {} has {count} {noun}:", path.display());
    for problem in problems {
        out.push_str("\n  ");
        out.push_str(problem);
    }
    out
}

pub type Result<T> = std::result::Result<T, CatalogError>;

/// A loaded, fully validated catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// The file it came from, made absolute; `None` for [`Catalog::empty`].
    pub path: Option<PathBuf>,
    /// The folder of the catalog file, absolute: relative handler paths resolve here.
    pub dir: PathBuf,
    /// Optional preamble of the instruction text.
    pub instructions: Option<String>,
    /// The `[[namespaces]]` of the canonical shape, in file order; empty for a catalog in
    /// the legacy shape (tools with a `namespace` key, or none).
    pub namespaces: Vec<NamespaceDef>,
    /// In file order, which is also the order of `dynamicTools`.
    pub tools: Vec<ToolDef>,
    pub warnings: Vec<CatalogWarning>,
    /// `[[approvals]]`, in file order: what answers requests a person need not see.
    pub approvals: ApprovalRules,
}

/// A `[[namespaces]]` entry: codex shows the model its description with its tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDef {
    pub name: String,
    pub description: String,
    /// Line of its name in the catalog file.
    pub line: Option<usize>,
}

/// One tool of the catalog.
#[derive(Clone)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// Sent to codex unchanged.
    pub input_schema: Value,
    /// Only rendered in the instruction text; codex has no field for it.
    pub output_schema: Option<Value>,
    pub namespace: Option<String>,
    pub defer_loading: Option<bool>,
    /// `None` for a manual tool: an operator or a remote client answers its calls.
    pub handler: Option<HandlerSpec>,
    /// `[[tools.examples]]`, in file order, for `catalog test`.
    pub examples: Vec<Example>,
    /// The compiled argument validator. Filled at load time so a call never pays for
    /// compiling; lazily for tools built in code. It reflects `input_schema` as it was when
    /// first filled, so changing `input_schema` afterwards needs a new `ToolDef`.
    validator: OnceLock<std::result::Result<Arc<jsonschema::Validator>, String>>,
}

impl ToolDef {
    /// A manual tool in no namespace; set the public fields to refine it.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
    ) -> ToolDef {
        ToolDef {
            name: name.into(),
            description: description.into(),
            input_schema,
            output_schema: None,
            namespace: None,
            defer_loading: None,
            handler: None,
            examples: Vec::new(),
            validator: OnceLock::new(),
        }
    }

    /// `namespace.name`, or `name` without a namespace. Names cannot contain dots, so this
    /// is unambiguous; it is only for display and lookups, never sent to codex.
    pub fn qualified_name(&self) -> String {
        qualified_name(self.namespace.as_deref(), &self.name)
    }

    pub fn is_manual(&self) -> bool {
        self.handler.is_none()
    }

    /// What codex gets for this tool in `thread/start.dynamicTools`.
    pub fn dynamic_tool(&self) -> DynamicToolSpec {
        DynamicToolSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            input_schema: self.input_schema.clone(),
            namespace: self.namespace.clone(),
            defer_loading: self.defer_loading,
        }
    }

    /// Messages saying how `arguments` miss the input schema; empty when they match.
    /// Codex forwards whatever the model produced, so this is the only check there is.
    pub fn validate_arguments(&self, arguments: &Value) -> Vec<String> {
        let compiled = self.validator.get_or_init(|| {
            let (sanitized, _) = schema::sanitize_property_types(&self.input_schema, "");
            schema::compile(&sanitized, "input_schema")
                .map(Arc::new)
                .map_err(|problems| problems.join("; "))
        });
        let validator = match compiled {
            Ok(validator) => validator,
            Err(problem) => {
                return vec![format!(
                    "the input schema of tool `{}` cannot be used to check arguments: {problem}",
                    self.qualified_name()
                )];
            }
        };
        let mut messages = Vec::new();
        let mut more = 0usize;
        for error in validator.iter_errors(arguments) {
            if messages.len() == MAX_ARGUMENT_MESSAGES {
                more += 1;
                continue;
            }
            messages.push(format!("arguments{}: {error}", error.instance_path()));
        }
        if more > 0 {
            messages.push(format!("and {more} more argument problems"));
        }
        messages
    }

    /// Used by the parser, which has already compiled the schema to check it.
    fn with_validator(mut self, validator: jsonschema::Validator) -> ToolDef {
        self.validator = OnceLock::from(Ok(Arc::new(validator)));
        self
    }
}

impl fmt::Debug for ToolDef {
    // The compiled validator is large and says nothing the schema does not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolDef")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("input_schema", &self.input_schema)
            .field("output_schema", &self.output_schema)
            .field("namespace", &self.namespace)
            .field("defer_loading", &self.defer_loading)
            .field("handler", &self.handler)
            .field("examples", &self.examples)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ToolDef {
    // The validator is derived from `input_schema`, so it takes no part in equality.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.input_schema == other.input_schema
            && self.output_schema == other.output_schema
            && self.namespace == other.namespace
            && self.defer_loading == other.defer_loading
            && self.handler == other.handler
            && self.examples == other.examples
    }
}

/// The canonical `dynamicTools` shape; see [`Catalog::thread_start_tools`].
fn canonical_tools(namespaces: &[NamespaceDef], tools: &[DynamicToolSpec]) -> Value {
    fn function(tool: &DynamicToolSpec) -> Value {
        let mut object = serde_json::json!({
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "inputSchema": tool.input_schema,
        });
        if let (Some(defer), Some(map)) = (tool.defer_loading, object.as_object_mut()) {
            map.insert("deferLoading".to_string(), Value::Bool(defer));
        }
        object
    }
    let mut out: Vec<Value> = Vec::new();
    // Namespace name -> its index in `out`.
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    for tool in tools {
        let Some(namespace) = tool.namespace.as_deref() else {
            out.push(function(tool));
            continue;
        };
        let at = *placed.entry(namespace).or_insert_with(|| {
            // A session's own tool in a namespace the catalog does not describe gets its
            // name as description: codex requires one.
            let description = namespaces
                .iter()
                .find(|ns| ns.name == namespace)
                .map_or(namespace, |ns| ns.description.as_str());
            out.push(serde_json::json!({
                "type": "namespace",
                "name": namespace,
                "description": description,
                "tools": [],
            }));
            out.len() - 1
        });
        if let Some(Value::Array(list)) = out.get_mut(at).and_then(|ns| ns.get_mut("tools")) {
            list.push(function(tool));
        }
    }
    Value::Array(out)
}

pub(crate) fn qualified_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}.{name}"),
        None => name.to_string(),
    }
}

/// How one tool differs between two loads of a catalog (for live reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolChange {
    /// The tool's qualified name.
    pub tool: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only in the new catalog: sessions started from now on get it.
    Added,
    /// Only in the old catalog: running sessions still declare it.
    Removed,
    /// Its description, schemas, `defer_loading` or namespace description changed: codex
    /// fixes those at `thread/start`, so only new sessions see the change.
    Definition,
    /// Its handler or examples changed: applies to the next call at once.
    Answering,
}

impl ChangeKind {
    /// Whether running sessions see the change.
    pub fn new_sessions_only(self) -> bool {
        matches!(self, ChangeKind::Added | ChangeKind::Definition)
    }
}

impl Catalog {
    /// How the tools of `newer` differ from this catalog's, in `newer`'s order, then the
    /// removed ones.
    pub fn changes_to(&self, newer: &Catalog) -> Vec<ToolChange> {
        let describe = |catalog: &Catalog, tool: &ToolDef| {
            let namespace = tool.namespace.as_deref().and_then(|name| {
                catalog
                    .namespaces
                    .iter()
                    .find(|ns| ns.name == name)
                    .map(|ns| ns.description.clone())
            });
            (tool.dynamic_tool(), tool.output_schema.clone(), namespace)
        };
        let mut changes = Vec::new();
        for tool in &newer.tools {
            let kind = match self.tool(tool.namespace.as_deref(), &tool.name) {
                None => Some(ChangeKind::Added),
                Some(old) if describe(self, old) != describe(newer, tool) => {
                    Some(ChangeKind::Definition)
                }
                Some(old) if old.handler != tool.handler || old.examples != tool.examples => {
                    Some(ChangeKind::Answering)
                }
                Some(_) => None,
            };
            if let Some(kind) = kind {
                changes.push(ToolChange {
                    tool: tool.qualified_name(),
                    kind,
                });
            }
        }
        for tool in &self.tools {
            if newer.tool(tool.namespace.as_deref(), &tool.name).is_none() {
                changes.push(ToolChange {
                    tool: tool.qualified_name(),
                    kind: ChangeKind::Removed,
                });
            }
        }
        changes
    }
}

/// How a tool's calls are answered automatically.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlerSpec {
    Command(CommandSpec),
    /// One long-lived process answering calls as JSON lines (see `handlers::worker`).
    Worker(CommandSpec),
    Http(HttpSpec),
    Static(ToolCallResult),
}

impl HandlerSpec {
    /// The catalog word for this kind of handler, for listings and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            HandlerSpec::Command(_) => "command",
            HandlerSpec::Worker(_) => "worker",
            HandlerSpec::Http(_) => "http",
            HandlerSpec::Static(_) => "static",
        }
    }

    /// How long one call may run (`timeout_ms`); `None` for a static answer.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        match self {
            HandlerSpec::Command(spec) | HandlerSpec::Worker(spec) => Some(spec.timeout),
            HandlerSpec::Http(spec) => Some(spec.timeout),
            HandlerSpec::Static(_) => None,
        }
    }
}

/// A program run once per call, fed the call as JSON on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// As written in the catalog; `argv[0]` is the program.
    pub argv: Vec<String>,
    /// `argv[0]` resolved: a relative path with a `/` is joined to `cwd`, so it does not
    /// depend on the directory Switchboard was started in; a bare name is left for a PATH
    /// lookup.
    pub program: PathBuf,
    pub timeout: Duration,
    /// Added to the inherited environment.
    pub env: BTreeMap<String, String>,
    /// Absolute working directory: the catalog folder, or `cwd` resolved against it.
    pub cwd: PathBuf,
}

/// A URL that receives the call as a JSON POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub url: String,
    pub timeout: Duration,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Worth knowing, nothing to fix (a manual tool).
    Info,
    /// Accepted, but codex will not behave as the author probably expects.
    Warning,
}

/// Something accepted that deserves a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogWarning {
    /// The tool's qualified name; `None` for the catalog as a whole.
    pub tool: Option<String>,
    /// Line in the catalog file, when known.
    pub line: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

impl CatalogWarning {
    /// `warning` or `note`, for the line prefix.
    pub fn label(&self) -> &'static str {
        match self.severity {
            Severity::Info => "note",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for CatalogWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tool {
            Some(tool) => write!(f, "tool `{tool}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl Catalog {
    /// Reads and validates a catalog file.
    pub fn load(path: &Path) -> Result<Catalog> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Catalog::parse(&text, path)
    }

    /// Validates catalog text; `path` is used in messages and to find the catalog folder.
    /// Nothing is read from disk except to warn about missing handler programs.
    pub fn parse(text: &str, path: &Path) -> Result<Catalog> {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = match absolute.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let parsed = parse::parse_catalog(text, path, &dir)?;
        Ok(Catalog {
            path: Some(absolute),
            dir,
            instructions: parsed.instructions,
            namespaces: parsed.namespaces,
            tools: parsed.tools,
            warnings: parsed.warnings,
            approvals: parsed.approvals,
        })
    }

    /// What `catalog test FILE` runs: `FILE` is a catalog (its tools' examples), or a test
    /// file (`catalog = "..."` and `[[examples]]`), whose examples run beside those of
    /// the catalog it names. A test file's example of an unknown or manual tool is a
    /// problem of the test file.
    pub fn load_tests(path: &Path) -> Result<(Catalog, Vec<FileExample>)> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let is_test_file = toml::from_str::<toml::Table>(&text)
            .map(|table| table.contains_key("catalog"))
            .unwrap_or(false);
        if !is_test_file {
            return Ok((Catalog::parse(&text, path)?, Vec::new()));
        }
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = absolute.parent().unwrap_or(Path::new(".")).to_path_buf();
        let (catalog_path, examples) = examples::parse_test_file(&text, path, &dir)?;
        let catalog = Catalog::load(&catalog_path)?;
        let problems: Vec<String> = examples
            .iter()
            .filter_map(|found| {
                let at = found
                    .example
                    .line
                    .map(|line| format!("{}:{line}", path.display()))
                    .unwrap_or_else(|| path.display().to_string());
                match catalog.tool_by_qualified_name(&found.tool) {
                    None => Some(format!(
                        "{at}: example of `{}`: the catalog {} has no such tool (it has: {})",
                        found.tool,
                        catalog_path.display(),
                        catalog
                            .tools
                            .iter()
                            .map(ToolDef::qualified_name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    Some(tool) if tool.is_manual() => Some(format!(
                        "{at}: example of `{}`: the tool has no handler to run the example against",
                        found.tool
                    )),
                    Some(_) => None,
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(CatalogError::Invalid {
                path: path.to_path_buf(),
                problems,
            });
        }
        Ok((catalog, examples))
    }

    /// The tool named `namespace.name` or `name`.
    pub fn tool_by_qualified_name(&self, qualified: &str) -> Option<&ToolDef> {
        self.tools
            .iter()
            .find(|tool| tool.qualified_name() == qualified)
    }

    /// No tools: every call is unknown. Used when no catalog file is configured.
    pub fn empty() -> Catalog {
        Catalog {
            path: None,
            dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            instructions: None,
            namespaces: Vec::new(),
            tools: Vec::new(),
            warnings: Vec::new(),
            approvals: ApprovalRules::default(),
        }
    }

    /// The tool an `item/tool/call` names; `namespace` as the call carries it.
    pub fn tool(&self, namespace: Option<&str>, name: &str) -> Option<&ToolDef> {
        self.tools
            .iter()
            .find(|tool| tool.name == name && tool.namespace.as_deref() == namespace)
    }

    /// The `thread/start.dynamicTools` payload, in file order.
    pub fn dynamic_tools(&self) -> Vec<DynamicToolSpec> {
        self.tools.iter().map(ToolDef::dynamic_tool).collect()
    }

    /// The `thread/start.dynamicTools` value for `tools` (the catalog's, or a session's
    /// own): the legacy flat array `[{name, description, inputSchema, namespace?,
    /// deferLoading?}]` for a catalog without `[[namespaces]]`, exactly as before; the
    /// canonical shape when it has them, since codex refuses a mix of the two. In the
    /// canonical shape a plain tool is `{type:"function", ..}` and the tools of a namespace
    /// are one `{type:"namespace", name, description, tools}` at the place of its first
    /// tool.
    pub fn thread_start_tools(&self, tools: &[DynamicToolSpec]) -> Value {
        if self.namespaces.is_empty() {
            return serde_json::to_value(tools).unwrap_or(Value::Null);
        }
        canonical_tools(&self.namespaces, tools)
    }

    /// [`Catalog::thread_start_tools`] for the catalog's own tools.
    pub fn dynamic_tools_payload(&self) -> Value {
        self.thread_start_tools(&self.dynamic_tools())
    }

    /// Prompt text describing the tools. Same catalog, byte-identical text.
    pub fn instruction_text(&self) -> String {
        render::instruction_text(self.instructions.as_deref(), &self.tools)
    }

    /// Messages saying how `arguments` miss `tool`'s input schema; empty when they match.
    pub fn validate_arguments(&self, tool: &ToolDef, arguments: &Value) -> Vec<String> {
        tool.validate_arguments(arguments)
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "fuzz_tests.rs"]
mod fuzz_tests;

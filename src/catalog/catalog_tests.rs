#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::protocol::ContentItem;

const FILE: &str = "/srv/switchboard/catalog.toml";

fn parse(text: &str) -> Result<Catalog> {
    Catalog::parse(text, Path::new(FILE))
}

#[track_caller]
fn parse_ok(text: &str) -> Catalog {
    match parse(text) {
        Ok(catalog) => catalog,
        Err(error) => panic!("expected a valid catalog, got:\n{error}"),
    }
}

#[track_caller]
fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Err(CatalogError::Invalid { path, problems }) => {
            assert_eq!(path, PathBuf::from(FILE));
            problems
        }
        Err(other) => panic!("expected CatalogError::Invalid, got {other:?}"),
        Ok(catalog) => panic!("expected problems, got a catalog: {catalog:?}"),
    }
}

fn warnings(catalog: &Catalog) -> Vec<String> {
    catalog.warnings.iter().map(ToString::to_string).collect()
}

const GOOD_TOOL: &str = r#"
[[tools]]
name = "lookup_ticket"
description = "Look up a support ticket by id"
input_schema = { type = "object", properties = { ticket_id = { type = "string" } }, required = ["ticket_id"] }
handler = { static_text = "open" }
"#;

#[test]
fn broken_catalogs_name_file_line_tool_and_problem() {
    // (what is broken, catalog text, the exact problem line expected among the problems)
    let cases: &[(&str, &str, &str)] = &[
        (
            "missing name",
            "[[tools]]\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:1: tools[0]: name is missing: add name = \"...\" using ASCII letters, digits, '_' and '-'",
        ),
        (
            "name with a space",
            "[[tools]]\nname = \"look up\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:2: tools[0]: name \"look up\" contains \" \": use only ASCII letters, digits, '_' and '-' (codex refuses other characters)",
        ),
        (
            "name with dots and a slash",
            "[[tools]]\nname = \"a.b/c\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:2: tools[0]: name \"a.b/c\" contains \"./\": use only ASCII letters, digits, '_' and '-' (codex refuses other characters)",
        ),
        (
            "name with surrounding whitespace",
            "[[tools]]\nname = \" lookup\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:2: tools[0]: name \" lookup\" has leading or trailing whitespace: remove it",
        ),
        (
            "empty name",
            "[[tools]]\nname = \"\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:2: tools[0]: name is empty: use ASCII letters, digits, '_' and '-' (codex refuses other characters)",
        ),
        (
            "name not a string",
            "[[tools]]\nname = 7\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:2: tools[0]: name must be a string, not an integer",
        ),
        (
            "missing description",
            "[[tools]]\nname = \"a\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:1: tool `a`: description is missing: say what the tool does and when to use it",
        ),
        (
            "blank description",
            "[[tools]]\nname = \"a\"\ndescription = \"  \"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:3: tool `a`: description is empty: say what the tool does and when to use it",
        ),
        (
            "missing input_schema",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\n",
            "/srv/switchboard/catalog.toml:1: tool `a`: input_schema is missing: add input_schema = { type = \"object\", properties = { ... } }",
        ),
        (
            "input_schema not a table",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = 5\n",
            "/srv/switchboard/catalog.toml:4: tool `a`: input_schema must be a table (a JSON Schema object), not an integer",
        ),
        (
            "input_schema string that is not JSON",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = \"object\"\n",
            "/srv/switchboard/catalog.toml:4: tool `a`: input_schema is a string but not JSON text of a schema object: expected value at line 1 column 1",
        ),
        (
            "input_schema JSON text of an array",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = '[1]'\n",
            "/srv/switchboard/catalog.toml:4: tool `a`: input_schema holds JSON text of an array, but a schema must be an object",
        ),
        (
            "input_schema that is not a valid JSON Schema",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\", required = \"ticket_id\" }\n",
            "/srv/switchboard/catalog.toml:4: tool `a`: input_schema is not a valid JSON Schema at /required: \"ticket_id\" is not of type \"array\"",
        ),
        (
            "a TOML date inside a schema",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\", default = 1979-05-27 }\n",
            "/srv/switchboard/catalog.toml:4: tool `a`: input_schema.default is a TOML date or time (1979-05-27), which JSON has no type for: quote it as a string",
        ),
        (
            "output_schema not a table",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\noutput_schema = [1]\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: output_schema must be a table (a JSON Schema object), not an array",
        ),
        (
            "namespace functions",
            "[[tools]]\nname = \"a\"\nnamespace = \"functions\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:3: tool `a`: namespace `functions` is reserved by codex and refused: choose another name",
        ),
        (
            "empty namespace",
            "[[tools]]\nname = \"a\"\nnamespace = \"\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:3: tool `a`: namespace is empty: remove it, or name the namespace",
        ),
        (
            "namespace with a dot",
            "[[tools]]\nname = \"a\"\nnamespace = \"my.ns\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:3: tool `a`: namespace \"my.ns\" contains \".\": use only ASCII letters, digits, '_' and '-' (codex refuses other characters)",
        ),
        (
            "defer_loading without namespace",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\ndefer_loading = true\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: defer_loading = true needs a namespace (codex refuses it otherwise): add namespace = \"...\" or remove defer_loading",
        ),
        (
            "defer_loading not a boolean",
            "[[tools]]\nname = \"a\"\nnamespace = \"n\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\ndefer_loading = \"yes\"\n",
            "/srv/switchboard/catalog.toml:6: tool `n.a`: defer_loading must be true or false, not a string",
        ),
        (
            "unknown tool key with a camelCase spelling",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninputSchema = { type = \"object\" }\ninput_schema = { type = \"object\" }\n",
            "/srv/switchboard/catalog.toml:4: tool `a`: unknown key `inputSchema`: did you mean `input_schema`? (a tool takes: name, description, input_schema, output_schema, namespace, defer_loading, handler, examples)",
        ),
        (
            "handler that is not a table",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = \"python3 a.py\"\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler must be a table such as { command = [...] }, { worker = [...] }, { url = \"...\" }, { static_text = \"...\" } or { static_result = { ... } }, not a string; leave handler out for a manual tool",
        ),
        (
            "handler with no kind",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { timeout_ms = 5 }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler has none of command, worker, url, static_text or static_result: give exactly one, or leave handler out for a manual tool",
        ),
        (
            "handler with two kinds",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = [\"x\"], url = \"http://h/\" }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler has `command` and `url`: give exactly one kind of handler",
        ),
        (
            "unknown handler key",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = [\"x\"], timeout = 5 }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: unknown handler key `timeout`: did you mean `timeout_ms`? (a command handler takes: command, timeout_ms, env, cwd)",
        ),
        (
            "handler key of another kind",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = [\"x\"], headers = { A = \"b\" } }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler key `headers` does not apply to a command handler (a command handler takes: command, timeout_ms, env, cwd)",
        ),
        (
            "zero timeout",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = [\"x\"], timeout_ms = 0 }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.timeout_ms is 0: it must be greater than 0 (milliseconds)",
        ),
        (
            "fractional timeout",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { url = \"http://h/\", timeout_ms = 1.5 }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.timeout_ms must be a whole number of milliseconds, not a float",
        ),
        (
            "empty argv",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = [] }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.command is empty: give the program and its arguments, e.g. [\"python3\", \"handlers/tool.py\"]",
        ),
        (
            "command as a shell string",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = \"python3 a.py\" }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.command must be an array of strings such as [\"python3\", \"handlers/tool.py\"], not a string",
        ),
        (
            "argv element not a string",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = [\"sleep\", 5] }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.command[1] must be a string, not an integer",
        ),
        (
            "env value not a string",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { command = [\"x\"], env = { PORT = 8080 } }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.env.PORT must be a string, not an integer: quote it",
        ),
        (
            "url with another scheme",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { url = \"ftp://example.com/x\" }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.url \"ftp://example.com/x\" must start with http:// or https://",
        ),
        (
            "url without a host",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { url = \"http://\" }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.url \"http://\" is not a valid URL: empty host",
        ),
        (
            "header value with a line break",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { url = \"http://h/\", headers = { X-Token = \"a\\nb\" } }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.headers.X-Token is not a valid HTTP header value: no line breaks or control characters",
        ),
        (
            "static_result without contentItems",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { static_result = { success = true } }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.static_result: a tool-call result needs a contentItems array",
        ),
        (
            "static_result with an unknown content type",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { static_result = { contentItems = [{ type = \"outputText\", text = \"x\" }] } }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.static_result: invalid tool-call result at contentItems[0].type: unknown variant `outputText`, expected one of `inputText`, `inputImage`, `inputAudio` (content items are {\"type\":\"inputText\",\"text\":..}, {\"type\":\"inputImage\",\"imageUrl\":..} or {\"type\":\"inputAudio\",\"audioUrl\":..})",
        ),
        (
            "static_text success not a boolean",
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = { type = \"object\" }\nhandler = { static_text = \"x\", success = \"no\" }\n",
            "/srv/switchboard/catalog.toml:5: tool `a`: handler.success must be true or false, not a string",
        ),
        (
            "a [[tool]] typo at the top level",
            "[[tool]]\nname = \"a\"\n",
            "/srv/switchboard/catalog.toml:1: unknown top-level key `tool`: did you mean `tools`? (the top level takes: instructions, tools, namespaces, approvals)",
        ),
        (
            "tools not an array",
            "tools = \"lookup\"\n",
            "/srv/switchboard/catalog.toml:1: tools must be an array of tables, not a string: write each tool under a [[tools]] header",
        ),
        (
            "a tool that is not a table",
            "tools = [\"lookup\"]\n",
            "/srv/switchboard/catalog.toml:1: tools[0]: must be a table with name, description and input_schema, not a string: write it under a [[tools]] header",
        ),
        (
            "instructions not a string",
            "instructions = [\"a\"]\n",
            "/srv/switchboard/catalog.toml:1: instructions must be a string, not an array",
        ),
    ];
    for (what, text, expected) in cases {
        let found = problems(text);
        assert!(
            found.iter().any(|problem| problem == expected),
            "case {what:?}: expected the problem\n  {expected}\namong\n  {}",
            found.join("\n  ")
        );
    }
}

#[test]
fn duplicate_names_are_refused_within_a_namespace_only() {
    let text = r#"
[[tools]]
name = "lookup"
description = "first"
input_schema = { type = "object" }
handler = { static_text = "1" }

[[tools]]
name = "lookup"
description = "second"
input_schema = { type = "object" }
handler = { static_text = "2" }
"#;
    assert_eq!(
        problems(text),
        vec![
            "/srv/switchboard/catalog.toml:9: tool `lookup`: is defined twice (first at line 3, tools[0]): tool names must be unique within a namespace; rename or remove one"
        ]
    );

    let namespaced = r#"
[[tools]]
name = "lookup"
description = "first"
input_schema = { type = "object" }
handler = { static_text = "1" }

[[tools]]
name = "lookup"
namespace = "billing"
description = "second"
input_schema = { type = "object" }
handler = { static_text = "2" }
"#;
    let catalog = parse_ok(namespaced);
    assert_eq!(catalog.tool(None, "lookup").unwrap().description, "first");
    assert_eq!(
        catalog.tool(Some("billing"), "lookup").unwrap().description,
        "second"
    );
    assert!(catalog.tool(Some("other"), "lookup").is_none());
}

#[test]
fn every_problem_is_collected_in_file_order_and_listed_one_per_line() {
    let text = r#"
[[tools]]
name = "bad name"
description = ""
input_schema = { type = "object" }

[[tools]]
name = "ok_name"
description = "fine"
input_schema = { type = "object" }
handler = { command = [], timeout_ms = -1 }

[[tools]]
description = "no name"
input_schema = 3
"#;
    let found = problems(text);
    assert_eq!(
        found,
        vec![
            "/srv/switchboard/catalog.toml:3: tools[0]: name \"bad name\" contains \" \": use only ASCII letters, digits, '_' and '-' (codex refuses other characters)",
            "/srv/switchboard/catalog.toml:4: tools[0]: description is empty: say what the tool does and when to use it",
            "/srv/switchboard/catalog.toml:11: tool `ok_name`: handler.command is empty: give the program and its arguments, e.g. [\"python3\", \"handlers/tool.py\"]",
            "/srv/switchboard/catalog.toml:11: tool `ok_name`: handler.timeout_ms is -1: it must be greater than 0 (milliseconds)",
            "/srv/switchboard/catalog.toml:13: tools[2]: name is missing: add name = \"...\" using ASCII letters, digits, '_' and '-'",
            "/srv/switchboard/catalog.toml:15: tools[2]: input_schema must be a table (a JSON Schema object), not an integer",
        ]
    );
    let error = parse(text).unwrap_err();
    let shown = error.to_string();
    assert!(
        shown.starts_with("tool catalog /srv/switchboard/catalog.toml has 6 problems:\n  /srv/switchboard/catalog.toml:3: tools[0]: name"),
        "{shown}"
    );
    assert_eq!(shown.lines().count(), 7, "{shown}");
}

#[test]
fn syntax_errors_give_the_file_line_and_column() {
    let error = parse("[[tools]]\nname = = \"a\"\n").unwrap_err();
    let CatalogError::Syntax { path, message } = &error else {
        panic!("expected a syntax error, got {error:?}");
    };
    assert_eq!(path, Path::new(FILE));
    assert!(message.starts_with("line 2, column 8: "), "{message}");
    assert!(
        error.to_string().starts_with(
            "tool catalog /srv/switchboard/catalog.toml is not valid TOML: line 2, column 8: "
        ),
        "{error}"
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let error = Catalog::load(&path).unwrap_err();
    assert!(matches!(&error, CatalogError::Read { path: p, .. } if p == &path));
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("could not read tool catalog {}: ", path.display())),
        "{shown}"
    );
    assert!(shown.contains("No such file"), "{shown}");
}

#[test]
fn load_resolves_handler_paths_against_the_catalog_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("handlers")).unwrap();
    let script = dir.path().join("handlers/lookup.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let catalog_path = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog_path,
        r#"
[[tools]]
name = "lookup"
description = "d"
input_schema = { type = "object" }
handler = { command = ["./handlers/lookup.sh", "--flag"], timeout_ms = 1500, env = { MODE = "test" } }

[[tools]]
name = "in_subfolder"
description = "d"
input_schema = { type = "object" }
handler = { command = ["./lookup.sh"], cwd = "handlers" }

[[tools]]
name = "on_path"
description = "d"
input_schema = { type = "object" }
handler = { command = ["python3", "handlers/x.py"] }
"#,
    )
    .unwrap();
    let catalog = Catalog::load(&catalog_path).unwrap();
    assert_eq!(catalog.path.as_deref(), Some(catalog_path.as_path()));
    assert_eq!(catalog.dir, dir.path());
    assert_eq!(warnings(&catalog), Vec::<String>::new());

    let spec = |name: &str| match &catalog.tool(None, name).unwrap().handler {
        Some(HandlerSpec::Command(spec)) => spec.clone(),
        other => panic!("expected a command handler, got {other:?}"),
    };
    let lookup = spec("lookup");
    assert_eq!(lookup.argv, vec!["./handlers/lookup.sh", "--flag"]);
    assert_eq!(lookup.program, dir.path().join("./handlers/lookup.sh"));
    assert_eq!(lookup.cwd, dir.path());
    assert_eq!(lookup.timeout, Duration::from_millis(1500));
    assert_eq!(lookup.env.get("MODE").map(String::as_str), Some("test"));

    let in_subfolder = spec("in_subfolder");
    assert_eq!(in_subfolder.cwd, dir.path().join("handlers"));
    assert_eq!(
        in_subfolder.program,
        dir.path().join("handlers/./lookup.sh")
    );
    assert_eq!(in_subfolder.timeout, DEFAULT_TIMEOUT);

    let on_path = spec("on_path");
    assert_eq!(on_path.program, PathBuf::from("python3"));
}

#[test]
fn missing_or_non_executable_handler_programs_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.py"), "print('x')\n").unwrap();
    let text = r#"
[[tools]]
name = "missing"
description = "d"
input_schema = { type = "object" }
handler = { command = ["./nope.sh"] }

[[tools]]
name = "plain"
description = "d"
input_schema = { type = "object" }
handler = { command = ["./plain.py"] }

[[tools]]
name = "no_folder"
description = "d"
input_schema = { type = "object" }
handler = { command = ["x"], cwd = "gone" }
"#;
    let catalog = Catalog::parse(text, &dir.path().join("catalog.toml")).unwrap();
    let root = dir.path().display();
    assert_eq!(
        warnings(&catalog),
        vec![
            format!(
                "tool `missing`: handler program {root}/./nope.sh does not exist: the handler cannot start until it does"
            ),
            format!(
                "tool `plain`: handler program {root}/./plain.py is not executable: chmod +x it, or run it through its interpreter, e.g. [\"python3\", \"./plain.py\"]"
            ),
            format!(
                "tool `no_folder`: handler folder {root}/gone does not exist: the handler cannot start until it does"
            ),
        ]
    );
}

#[test]
fn accepted_but_surprising_things_are_warnings() {
    let text = r#"
[[tools]]
name = "exec_command"
description = "shadowed by the built-in"
input_schema = { type = "object" }
handler = { static_text = "x" }

[[tools]]
name = "exec_command"
namespace = "mine"
description = "namespaced, so not shadowed"
input_schema = { type = "object" }
handler = { static_text = "x" }

[[tools]]
name = "schedule"
description = "odd property type"
input_schema = { type = "object", properties = { when = { type = "date" }, nested = { type = "object", properties = { n = { type = ["string", "datetime"] } } } } }
handler = { static_text = "x" }

[[tools]]
name = "anything"
description = "empty schema"
input_schema = {}
handler = { static_text = "x" }

[[tools]]
name = "text_only"
description = "string schema"
input_schema = { type = "string" }
handler = { static_text = "x" }

[[tools]]
name = "spawn_helper"
namespace = "multi_agent_v1"
description = "merged namespace"
input_schema = { type = "object" }
handler = { static_text = "x" }

[[tools]]
name = "ask_operator"
description = "manual"
input_schema = { type = "object" }
"#;
    let catalog = parse_ok(text);
    assert_eq!(
        warnings(&catalog),
        vec![
            "tool `exec_command`: codex has a built-in tool named `exec_command` and silently calls it instead of this one: rename the tool",
            "tool `schedule`: input_schema.properties.nested.properties.n has type [\"string\",\"datetime\"], which is not a JSON Schema type: codex replaces it with {} (any value); use one of string, number, integer, boolean, object, array, null",
            "tool `schedule`: input_schema.properties.when has type \"date\", which is not a JSON Schema type: codex replaces it with {} (any value); use one of string, number, integer, boolean, object, array, null",
            "tool `anything`: input_schema is {}: codex passes it unchanged and the model may send any JSON, even a bare string; describe the arguments with type = \"object\" and properties",
            "tool `text_only`: input_schema has type \"string\", not \"object\": function-call arguments are a JSON object, so the model is likely to get it wrong",
            "tool `multi_agent_v1.spawn_helper`: namespace `multi_agent_v1` is codex's built-in multi-agent namespace: the tool is merged into it; choose another namespace unless that is intended",
            "tool `ask_operator`: no handler: calls wait for an operator or a remote answer",
        ]
    );
    let severities: Vec<Severity> = catalog.warnings.iter().map(|w| w.severity).collect();
    assert_eq!(severities.last(), Some(&Severity::Info));
    assert!(
        severities[..severities.len() - 1]
            .iter()
            .all(|s| *s == Severity::Warning)
    );
    assert_eq!(catalog.warnings[0].line, Some(3));
    assert_eq!(catalog.warnings[0].tool.as_deref(), Some("exec_command"));
    assert!(catalog.tool(None, "ask_operator").unwrap().is_manual());
}

#[test]
fn every_builtin_name_is_warned_about() {
    for builtin in CODEX_BUILTIN_TOOLS {
        let text = format!(
            "[[tools]]\nname = \"{builtin}\"\ndescription = \"d\"\ninput_schema = {{ type = \"object\" }}\nhandler = {{ static_text = \"x\" }}\n"
        );
        let catalog = parse_ok(&text);
        assert_eq!(
            warnings(&catalog),
            vec![format!(
                "tool `{builtin}`: codex has a built-in tool named `{builtin}` and silently calls it instead of this one: rename the tool"
            )]
        );
    }
}

#[test]
fn an_empty_catalog_is_allowed_with_a_warning() {
    for text in ["", "instructions = \"nothing yet\"\n", "tools = []\n"] {
        let catalog = parse_ok(text);
        assert!(catalog.tools.is_empty());
        assert_eq!(
            warnings(&catalog),
            vec!["the catalog declares no tools: add a [[tools]] table for each tool"]
        );
        assert_eq!(catalog.warnings[0].tool, None);
    }
    let empty = Catalog::empty();
    assert!(empty.tools.is_empty() && empty.warnings.is_empty() && empty.path.is_none());
    assert_eq!(empty.dynamic_tools(), Vec::new());
    assert_eq!(empty.instruction_text(), "");
}

#[test]
fn handler_kinds_are_parsed() {
    let text = r#"
[[tools]]
name = "by_url"
description = "d"
input_schema = { type = "object" }
handler = { url = "https://tools.example.com/lookup", headers = { Authorization = "Bearer x" } }

[[tools]]
name = "fixed"
description = "d"
input_schema = { type = "object" }
handler = { static_text = "closed", success = false }

[[tools]]
name = "fixed_items"
description = "d"
input_schema = { type = "object" }
[tools.handler.static_result]
contentItems = [{ type = "inputText", text = "a" }, { type = "inputImage", imageUrl = "data:image/png;base64,AA==" }]
"#;
    let catalog = parse_ok(text);
    assert_eq!(warnings(&catalog), Vec::<String>::new());
    assert_eq!(
        catalog.tools[0].handler,
        Some(HandlerSpec::Http(HttpSpec {
            url: "https://tools.example.com/lookup".to_string(),
            timeout: DEFAULT_TIMEOUT,
            headers: [("Authorization".to_string(), "Bearer x".to_string())].into(),
        }))
    );
    assert_eq!(
        catalog.tools[1].handler,
        Some(HandlerSpec::Static(ToolCallResult::text(false, "closed")))
    );
    assert_eq!(
        catalog.tools[2].handler,
        Some(HandlerSpec::Static(ToolCallResult {
            content_items: vec![
                ContentItem::text("a"),
                ContentItem::InputImage {
                    image_url: "data:image/png;base64,AA==".to_string()
                },
            ],
            success: true,
        }))
    );
    assert_eq!(catalog.tools[2].handler.as_ref().unwrap().kind(), "static");
}

#[test]
fn dynamic_tools_is_the_thread_start_payload_in_file_order() {
    let text = r#"
instructions = "Use these tools for support requests."

[[tools]]
name = "lookup_ticket"
description = "Look up a support ticket by id"
input_schema = { type = "object", properties = { ticket_id = { type = "string" } }, required = ["ticket_id"] }
output_schema = { type = "object" }
namespace = "support"
defer_loading = true
handler = { command = ["python3", "handlers/lookup_ticket.py"], timeout_ms = 5000 }

[[tools]]
name = "escalate"
description = "Escalate to a human"
input_schema = '{"type": "object", "properties": {"reason": {"type": "string"}}}'
"#;
    let catalog = parse_ok(text);
    let payload = serde_json::to_value(catalog.dynamic_tools()).unwrap();
    assert_eq!(
        payload,
        json!([
            {
                "name": "lookup_ticket",
                "description": "Look up a support ticket by id",
                "inputSchema": {
                    "type": "object",
                    "properties": { "ticket_id": { "type": "string" } },
                    "required": ["ticket_id"]
                },
                "namespace": "support",
                "deferLoading": true
            },
            {
                "name": "escalate",
                "description": "Escalate to a human",
                "inputSchema": {
                    "type": "object",
                    "properties": { "reason": { "type": "string" } }
                }
            }
        ])
    );
}

const RENDERED: &str = r#"
instructions = "You can use these tools to handle support requests."

[[tools]]
name = "lookup_ticket"
namespace = "support"
description = "Look up a support ticket by id"
input_schema = { type = "object", required = ["ticket_id"], properties = { ticket_id = { type = "string", description = "The id" } } }
output_schema = { type = "object", properties = { status = { type = "string" } } }
handler = { static_text = "open" }

[[tools]]
name = "escalate"
description = "Hand the conversation to a human"
input_schema = { type = "object" }
"#;

#[test]
fn instruction_text_is_exact() {
    let expected = r#"You can use these tools to handle support requests.

# Tools

## lookup_ticket (namespace `support`)
Look up a support ticket by id

Input schema:
```json
{
  "properties": {
    "ticket_id": {
      "description": "The id",
      "type": "string"
    }
  },
  "required": [
    "ticket_id"
  ],
  "type": "object"
}
```

Output schema:
```json
{
  "properties": {
    "status": {
      "type": "string"
    }
  },
  "type": "object"
}
```

## escalate
Hand the conversation to a human

Input schema:
```json
{
  "type": "object"
}
```
"#;
    assert_eq!(parse_ok(RENDERED).instruction_text(), expected);
}

#[test]
fn instruction_text_is_byte_stable_across_spellings_of_the_same_catalog() {
    let first = parse_ok(RENDERED).instruction_text();
    assert_eq!(parse_ok(RENDERED).instruction_text(), first);
    // Same content: keys in another order, schemas as sub-tables and as JSON text.
    let respelled = r#"
instructions = """
You can use these tools to handle support requests.
"""

[[tools]]
description = "Look up a support ticket by id"
namespace = "support"
name = "lookup_ticket"
handler = { static_text = "open" }
[tools.input_schema]
properties = { ticket_id = { description = "The id", type = "string" } }
type = "object"
required = ["ticket_id"]
[tools.output_schema]
properties.status.type = "string"
type = "object"

[[tools]]
input_schema = '{"type":"object"}'
name = "escalate"
description = "Hand the conversation to a human"
"#;
    assert_eq!(parse_ok(respelled).instruction_text(), first);
}

#[test]
fn instruction_text_without_tools_is_the_preamble() {
    assert_eq!(
        parse_ok("instructions = \"  Be brief.  \"\n").instruction_text(),
        "Be brief.\n"
    );
    let no_preamble = parse_ok(GOOD_TOOL).instruction_text();
    assert!(
        no_preamble.starts_with("# Tools\n\n## lookup_ticket\n"),
        "{no_preamble}"
    );
}

#[test]
fn arguments_are_checked_against_the_input_schema() {
    let catalog = parse_ok(GOOD_TOOL);
    let tool = catalog.tool(None, "lookup_ticket").unwrap();
    // Compiled at load time, not on the first call.
    assert!(tool.validator.get().is_some());

    assert_eq!(
        catalog.validate_arguments(tool, &json!({ "ticket_id": "T-1" })),
        Vec::<String>::new()
    );
    assert_eq!(
        catalog.validate_arguments(tool, &json!({})),
        vec!["arguments: \"ticket_id\" is a required property"]
    );
    assert_eq!(
        catalog.validate_arguments(tool, &json!({ "ticket_id": 5 })),
        vec!["arguments/ticket_id: 5 is not of type \"string\""]
    );
    assert_eq!(
        catalog.validate_arguments(tool, &json!("T-1")),
        vec!["arguments: \"T-1\" is not of type \"object\""]
    );
}

#[test]
fn argument_messages_are_capped() {
    let properties: serde_json::Map<String, Value> = (0..15)
        .map(|i| (format!("p{i:02}"), json!({ "type": "integer" })))
        .collect();
    let tool = ToolDef::new(
        "many",
        "d",
        json!({ "type": "object", "properties": properties }),
    );
    let arguments: serde_json::Map<String, Value> =
        (0..15).map(|i| (format!("p{i:02}"), json!("x"))).collect();
    let messages = tool.validate_arguments(&Value::Object(arguments));
    assert_eq!(messages.len(), 11, "{messages:?}");
    assert_eq!(messages[10], "and 5 more argument problems");
}

#[test]
fn unknown_property_types_accept_any_value_like_codex() {
    let catalog = parse_ok(
        r#"
[[tools]]
name = "schedule"
description = "d"
input_schema = { type = "object", properties = { when = { type = "date" }, count = { type = "integer" } } }
handler = { static_text = "ok" }
"#,
    );
    let tool = &catalog.tools[0];
    assert_eq!(
        tool.validate_arguments(&json!({ "when": 12, "count": 1 })),
        Vec::<String>::new()
    );
    assert_eq!(
        tool.validate_arguments(&json!({ "when": "x", "count": "1" })),
        vec!["arguments/count: \"1\" is not of type \"integer\""]
    );
}

#[test]
fn tools_built_in_code_compile_their_validator_on_first_use() {
    let tool = ToolDef::new("adhoc", "d", json!({ "type": "object", "required": ["a"] }));
    assert!(tool.validator.get().is_none());
    assert_eq!(
        tool.validate_arguments(&json!({})),
        vec!["arguments: \"a\" is a required property"]
    );
    assert!(tool.validator.get().is_some());

    let broken = ToolDef::new("broken", "d", json!({ "type": 5 }));
    let messages = broken.validate_arguments(&json!({}));
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].starts_with(
            "the input schema of tool `broken` cannot be used to check arguments: input_schema is not a valid JSON Schema at /type: "
        ),
        "{messages:?}"
    );
}

#[test]
fn tool_defs_compare_and_print_without_the_validator() {
    let catalog = parse_ok(GOOD_TOOL);
    let loaded = catalog.tools[0].clone();
    let mut built = ToolDef::new(
        "lookup_ticket",
        "Look up a support ticket by id",
        loaded.input_schema.clone(),
    );
    built.handler = Some(HandlerSpec::Static(ToolCallResult::text(true, "open")));
    assert_eq!(loaded, built);
    let printed = format!("{loaded:?}");
    assert!(
        printed.starts_with("ToolDef { name: \"lookup_ticket\""),
        "{printed}"
    );
    assert!(!printed.contains("Validator"), "{printed}");
    assert_eq!(loaded.qualified_name(), "lookup_ticket");
}

#[test]
fn worker_handlers_parse_like_commands_and_reject_command_only_mistakes() {
    let catalog = parse_ok(
        r#"
[[tools]]
name = "fast"
description = "d"
input_schema = { type = "object" }
handler = { worker = ["python3", "workers/fast.py"], timeout_ms = 2000, env = { MODE = "x" } }
"#,
    );
    let Some(HandlerSpec::Worker(spec)) = &catalog.tools[0].handler else {
        panic!("not a worker: {:?}", catalog.tools[0].handler)
    };
    assert_eq!(spec.argv, ["python3", "workers/fast.py"]);
    assert_eq!(spec.timeout, std::time::Duration::from_millis(2000));
    assert_eq!(
        catalog.tools[0].handler.as_ref().map(HandlerSpec::kind),
        Some("worker")
    );

    let err = parse(
        r#"
[[tools]]
name = "both"
description = "d"
input_schema = { type = "object" }
handler = { worker = [], headers = { A = "b" } }
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("handler.worker is empty"), "{err}");
    assert!(err.contains("does not apply to a worker handler"), "{err}");
}

/// Files that are not catalog text at all: each error names the file and says why.
#[test]
fn unreadable_and_malformed_files_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, b'\n', 0x00]).unwrap();
    let cases: Vec<(&str, std::path::PathBuf, &str)> = vec![
        ("not UTF-8", binary, "valid UTF-8"),
        ("a folder", dir.path().to_path_buf(), "directory"),
    ];
    for (what, path, expected) in cases {
        let shown = Catalog::load(&path).unwrap_err().to_string();
        assert!(
            shown.starts_with(&format!("could not read tool catalog {}: ", path.display()))
                && shown.contains(expected),
            "case {what:?}: {shown}"
        );
    }
    let texts: &[(&str, &str, &str)] = &[
        (
            "a key given twice",
            "[[tools]]\nname = \"a\"\nname = \"b\"\n",
            "line 3",
        ),
        ("an unclosed string", "[[tools]]\nname = \"a\n", "line 2"),
        (
            "an unclosed table header",
            "[[tools\nname = \"a\"\n",
            "line 1",
        ),
        ("a NUL byte", "[[tools]]\nname = \"a\u{0}\"\n", "line 2"),
    ];
    for (what, text, line) in texts {
        let error = parse(text).unwrap_err();
        let shown = error.to_string();
        assert!(
            matches!(error, CatalogError::Syntax { .. })
                && shown.starts_with(&format!("tool catalog {FILE} is not valid TOML: {line}")),
            "case {what:?}: {shown}"
        );
    }
}

#[test]
fn what_codex_refuses_at_thread_start_is_a_problem_naming_file_line_and_tool() {
    let tool = |namespace: &str| {
        format!(
            "[[tools]]\nname = \"a\"\ndescription = \"d\"\ninput_schema = {{ type = \"object\" }}\nnamespace = \"{namespace}\"\n"
        )
    };
    for reserved in [
        "web",
        "browser",
        "python",
        "tool_search",
        "container",
        "functions",
    ] {
        assert_eq!(
            problems(&tool(reserved)),
            vec![format!(
                "{FILE}:5: tool `a`: namespace `{reserved}` is reserved by codex and refused: choose another name"
            )]
        );
    }
    assert_eq!(
        problems(&tool("mcp__tickets")),
        vec![format!(
            "{FILE}:5: tool `a`: namespace `mcp__tickets` starts with `mcp__`, which codex reserves for MCP servers and refuses: choose another name"
        )]
    );
    let long_namespace = "n".repeat(65);
    assert_eq!(
        problems(&tool(&long_namespace)),
        vec![format!(
            "{FILE}:5: tool `a`: namespace is 65 characters long: codex refuses namespaces over 64 at thread/start; shorten it"
        )]
    );
    parse_ok(&tool(&"n".repeat(64)));
    let long_name = "t".repeat(129);
    assert_eq!(
        problems(&format!(
            "[[tools]]\nname = \"{long_name}\"\ndescription = \"d\"\ninput_schema = {{ type = \"object\" }}\n"
        )),
        vec![format!(
            "{FILE}:2: tools[0]: name is 129 characters long: codex refuses tool names over 128 at thread/start; shorten it"
        )]
    );
}

const CANONICAL: &str = r#"
[[tools]]
name = "status"
description = "Platform status"
input_schema = { type = "object" }
handler = { static_text = "fine" }

[[namespaces]]
name = "crm"
description = "Customer records"

[[namespaces.tools]]
name = "get"
description = "Get a record"
input_schema = { type = "object", properties = { id = { type = "integer" } } }
defer_loading = true
handler = { static_text = "record" }

[[namespaces.tools]]
name = "find"
description = "Find records"
input_schema = { type = "object" }
"#;

#[test]
fn namespaces_are_sent_in_the_canonical_shape() {
    let catalog = parse_ok(CANONICAL);
    assert_eq!(
        catalog.namespaces,
        vec![NamespaceDef {
            name: "crm".into(),
            description: "Customer records".into(),
            line: Some(9),
        }]
    );
    let names: Vec<String> = catalog.tools.iter().map(ToolDef::qualified_name).collect();
    assert_eq!(names, vec!["status", "crm.get", "crm.find"]);
    assert_eq!(
        catalog.dynamic_tools_payload(),
        json!([
            { "type": "function", "name": "status", "description": "Platform status",
              "inputSchema": { "type": "object" } },
            { "type": "namespace", "name": "crm", "description": "Customer records", "tools": [
                { "type": "function", "name": "get", "description": "Get a record",
                  "inputSchema": { "type": "object", "properties": { "id": { "type": "integer" } } },
                  "deferLoading": true },
                { "type": "function", "name": "find", "description": "Find records",
                  "inputSchema": { "type": "object" } },
            ] },
        ])
    );
}

#[test]
fn a_catalog_without_namespaces_keeps_the_legacy_payload() {
    let catalog = parse_ok(GOOD_TOOL);
    assert_eq!(
        catalog.dynamic_tools_payload(),
        serde_json::to_value(catalog.dynamic_tools()).unwrap()
    );
}

#[test]
fn a_mix_of_shapes_and_bad_namespaces_are_problems() {
    let text = format!(
        "{CANONICAL}\n[[tools]]\nname = \"legacy\"\ndescription = \"d\"\ninput_schema = {{ type = \"object\" }}\nnamespace = \"crm\"\n\n[[namespaces]]\nname = \"crm\"\ndescription = \"again\"\n[[namespaces.tools]]\nname = \"other\"\ndescription = \"d\"\ninput_schema = {{ type = \"object\" }}\nnamespace = \"crm\"\n\n[[namespaces]]\nname = \"empty\"\n"
    );
    assert_eq!(
        problems(&text),
        vec![
            format!(
                "{FILE}:28: tool `legacy`: namespace = \"crm\" is the legacy shape, but this catalog declares [[namespaces]] (the canonical shape), and codex refuses a mix of the two at thread/start: move the tool under [[namespaces.tools]] of a [[namespaces]] named `crm`"
            ),
            format!(
                "{FILE}:31: namespace `crm`: is declared twice (first at line 9): put all its tools under one [[namespaces]]"
            ),
            format!(
                "{FILE}:37: tool `other`: a tool under [[namespaces]] belongs to that namespace: remove its namespace key"
            ),
            format!(
                "{FILE}:39: namespace `empty`: description is missing: add description = \"...\": codex shows it to the model with the namespace"
            ),
            format!(
                "{FILE}:39: namespace `empty`: has no tools: add [[namespaces.tools]] tables under it, or remove it (codex refuses an empty namespace)"
            ),
        ]
    );
}

const WITH_EXAMPLES: &str = r#"
[[tools]]
name = "lookup"
description = "Look a ticket up"
input_schema = { type = "object", properties = { id = { type = "string" } } }
output_schema = { type = "object", required = ["status"] }
handler = { static_text = "{\"status\": \"open\"}" }

[[tools.examples]]
name = "open"
arguments = { id = "T-1" }
expect = { success = true, text_contains = ["open", "status"], text_matches = "\"open\"\\}$", json_equals = { status = "open" }, json_schema = { type = "object" } }

[[tools.examples]]
"#;

#[test]
fn examples_are_read_and_checked() {
    let catalog = parse_ok(WITH_EXAMPLES);
    let tool = &catalog.tools[0];
    assert_eq!(tool.examples.len(), 2);
    let [open, bare] = [&tool.examples[0], &tool.examples[1]];
    assert_eq!(open.label, "open");
    assert_eq!(open.line, Some(9));
    assert_eq!(open.arguments, json!({ "id": "T-1" }));
    assert_eq!(bare.label, "#2");
    assert_eq!(bare.arguments, json!({}));

    let good = ToolCallResult::text(true, "{\"status\": \"open\"}");
    assert_eq!(open.check(tool, &good), Vec::<String>::new());
    assert_eq!(bare.check(tool, &good), Vec::<String>::new());

    let other = ToolCallResult::text(true, "{\"state\": 1}");
    assert_eq!(
        open.check(tool, &other),
        vec![
            "output_schema: answer: \"status\" is a required property".to_string(),
            "text_contains: \"open\" is not in the answer \"{\\\"state\\\": 1}\"".to_string(),
            "text_contains: \"status\" is not in the answer \"{\\\"state\\\": 1}\"".to_string(),
            "text_matches: /\"open\"\\}$/ does not match the answer \"{\\\"state\\\": 1}\""
                .to_string(),
            "json_equals: expected {\"status\":\"open\"}, got {\"state\":1}".to_string(),
        ]
    );
    // A failed answer is an error text: output_schema does not apply to it.
    let failed = ToolCallResult::text(false, "boom");
    assert_eq!(
        bare.check(tool, &failed),
        vec!["expected success = true, got false: \"boom\"".to_string()]
    );
    // Plain text is not held to output_schema.
    assert!(
        tool.output_problems(&ToolCallResult::text(true, "open"))
            .is_empty()
    );
}

#[test]
fn broken_examples_are_problems() {
    let text = r#"
[[tools]]
name = "lookup"
description = "d"
input_schema = { type = "object" }
handler = { static_text = "x" }

[[tools.examples]]
argument = { id = 1 }
expect = { succes = true, text_matches = "(", json_schema = { type = "nonsense" } }

[[tools]]
name = "manual"
description = "d"
input_schema = { type = "object" }
[[tools.examples]]
"#;
    let found = problems(text);
    assert_eq!(
        found,
        vec![
            format!(
                "{FILE}:9: tool `lookup`: unknown example key `argument`: did you mean `arguments`? (an example takes: name, arguments, expect)"
            ),
            format!(
                "{FILE}:10: tool `lookup`: unknown expect key `succes`: did you mean `success`? (expect takes: success, text_contains, text_matches, json_equals, json_schema)"
            ),
            format!(
                "{FILE}:10: tool `lookup`: examples[0].expect.text_matches is not a valid regular expression: \"(\" is not a \"regex\""
            ),
            found[3].clone(),
            format!(
                "{FILE}:16: tool `manual`: has examples but no handler: `catalog test` runs examples against the handler; add one, or remove the examples"
            ),
        ]
    );
    assert!(
        found[3].starts_with(&format!(
            "{FILE}:10: tool `lookup`: examples[0].expect.json_schema is not a valid JSON Schema"
        )),
        "{}",
        found[3]
    );
}

#[test]
fn a_test_file_names_its_catalog_and_tools() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("catalog.toml"), WITH_EXAMPLES).unwrap();
    let tests = dir.path().join("catalog.tests.toml");
    std::fs::write(
        &tests,
        "catalog = \"catalog.toml\"\n\n[[examples]]\ntool = \"lookup\"\narguments = { id = \"T-2\" }\n",
    )
    .unwrap();
    let (catalog, examples) = Catalog::load_tests(&tests).unwrap();
    assert_eq!(catalog.tools.len(), 1);
    assert_eq!(examples.len(), 1);
    assert_eq!(examples[0].tool, "lookup");
    assert_eq!(examples[0].example.line, Some(3));
    assert_eq!(examples[0].example.arguments, json!({ "id": "T-2" }));

    std::fs::write(
        &tests,
        "catalog = \"catalog.toml\"\n[[examples]]\ntool = \"nope\"\n",
    )
    .unwrap();
    let error = Catalog::load_tests(&tests).unwrap_err().to_string();
    assert!(
        error.contains("catalog.tests.toml:2: example of `nope`: the catalog")
            && error.contains("has no such tool (it has: lookup)"),
        "{error}"
    );
    // A plain catalog is its own test file.
    let (_, none) = Catalog::load_tests(&dir.path().join("catalog.toml")).unwrap();
    assert!(none.is_empty());
}

#[test]
fn changes_between_two_loads_say_which_apply_at_once() {
    let old = parse_ok(CANONICAL);
    let edited = CANONICAL
        .replace("handler = { static_text = \"fine\" }", "handler = { static_text = \"better\" }")
        .replace("description = \"Customer records\"", "description = \"Customer records, all of them\"")
        .replace(
            "[[namespaces.tools]]\nname = \"find\"\ndescription = \"Find records\"\ninput_schema = { type = \"object\" }\n",
            "[[namespaces.tools]]\nname = \"search\"\ndescription = \"Search\"\ninput_schema = { type = \"object\" }\n",
        );
    let new = parse_ok(&edited);
    let changes: Vec<(String, ChangeKind)> = old
        .changes_to(&new)
        .into_iter()
        .map(|c| (c.tool, c.kind))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("status".to_string(), ChangeKind::Answering),
            ("crm.get".to_string(), ChangeKind::Definition),
            ("crm.search".to_string(), ChangeKind::Added),
            ("crm.find".to_string(), ChangeKind::Removed),
        ]
    );
    assert!(!ChangeKind::Answering.new_sessions_only());
    assert!(ChangeKind::Definition.new_sessions_only());
    assert!(old.changes_to(&parse_ok(CANONICAL)).is_empty());
}

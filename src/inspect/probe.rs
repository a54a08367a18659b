//! What codex hands the model for a catalog: the probe behind `catalog check
//! --through-codex` and the console inspector's probe key. It starts the real codex on
//! the scripted model, opens one thread with the catalog, runs one turn and compares the
//! `tools` of codex's first model request with the catalog.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::scripted::{ScriptedModel, TempDir};
use crate::appserver::{Inbound, ProtocolTap, TransportSpec, connection, locate, transport};
use crate::catalog::{CODEX_BUILTIN_TOOLS, CODEX_MULTI_AGENT_NAMESPACE, Catalog};
use crate::model::{ModelOptions, ModelServer, Scenario};

/// How long a probe waits for codex to start, answer or finish a turn.
pub const PROBE_WAIT: Duration = Duration::from_secs(60);

/// The scripted model with a private CODEX_HOME, and the transport to a codex using it.
pub async fn scripted_codex(
    scenario: Scenario,
    options: ModelOptions,
    codex_bin: Option<&Path>,
    extra_args: &[String],
) -> Result<(ScriptedModel, TransportSpec), String> {
    let server = ModelServer::start(scenario, options)
        .await
        .map_err(|e| e.to_string())?;
    let codex_home = TempDir::new("switchboard-probe")
        .map_err(|(path, e)| format!("could not create {}: {e}", path.display()))?;
    crate::model::write_codex_home(codex_home.path(), &server.base_url())
        .map_err(|e| format!("could not write {}: {e}", codex_home.path().display()))?;
    let scripted = ScriptedModel {
        server,
        codex_home,
        extra_homes: Vec::new(),
    };
    let codex = locate::locate_codex(codex_bin).map_err(|e| e.to_string())?;
    let transport = TransportSpec::Stdio {
        program: codex.path,
        args: std::iter::once("app-server".to_string())
            .chain(extra_args.iter().cloned())
            .collect(),
        env: scripted.env(),
    };
    Ok((scripted, transport))
}

/// What codex made of the catalog, seen from the model's side.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// The `tools` array of codex's first request to the model, as sent.
    pub tools: Value,
    pub differences: Vec<Difference>,
}

/// One way the model's view differs from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// `shadowed`, `missing`, `sanitised`, `merged`, `strict`, `deferred`, `builtin`.
    pub kind: &'static str,
    /// The catalog tool (qualified name), or the built-in's name.
    pub tool: String,
    pub detail: String,
}

/// Starts codex on the scripted model, opens one thread with the catalog, runs one turn
/// in which the model only replies, and compares the `tools` of codex's first model
/// request with the catalog.
/// `codex_bin` and `extra_args` (for `codex app-server`) as the session's codex uses
/// them; the model is always the scripted one.
pub async fn probe_tools(
    catalog: &Catalog,
    codex_bin: Option<&Path>,
    extra_args: &[String],
) -> Result<Probe, String> {
    let scenario = Scenario::parse(
        "[[turn]]\n[turn.reply]\ntext = \"probe done\"\n",
        "catalog check --through-codex",
    )
    .map_err(|e| e.to_string())?;
    let options = ModelOptions {
        addr: None,
        tool_names: Some(Vec::new()),
        input_schemas: Vec::new(),
    };
    let (scripted, transport) = scripted_codex(scenario, options, codex_bin, extra_args).await?;
    let mut raw = transport::connect(&transport)
        .await
        .map_err(|e| format!("could not start codex: {e}"))?;
    // codex is killed when this is dropped: at the end of the probe.
    let _kill = raw.kill.take();
    let (conn, mut inbound) = connection::start(raw, 0, ProtocolTap::default(), PROBE_WAIT);
    conn.initialize(env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| format!("codex refused initialize: {e}"))?;
    let cwd = scripted.codex_home.path().display().to_string();
    let started = conn
        .request(
            crate::protocol::method::THREAD_START,
            json!({ "cwd": cwd, "dynamicTools": catalog.dynamic_tools_payload() }),
        )
        .await
        .map_err(|e| format!("codex refused thread/start: {e}"))?;
    let thread_id = started
        .pointer("/thread/id")
        .and_then(Value::as_str)
        .ok_or("codex's thread/start reply has no thread id")?
        .to_string();
    conn.request(
        crate::protocol::method::TURN_START,
        json!({ "threadId": thread_id, "input": [{ "type": "text", "text": "list your tools" }] }),
    )
    .await
    .map_err(|e| format!("codex refused turn/start: {e}"))?;
    // When the turn is over, the model's first request has been made.
    let ended = tokio::time::timeout(PROBE_WAIT, async {
        while let Some(message) = inbound.recv().await {
            match message {
                Inbound::Notification(n) if n.method == crate::protocol::method::TURN_COMPLETED => {
                    return Ok(());
                }
                Inbound::Closed { reason } => return Err(format!("codex stopped: {reason}")),
                _ => {}
            }
        }
        Err("codex stopped".to_string())
    })
    .await;
    match ended {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(format!(
                "the probe turn did not end within {} s",
                PROBE_WAIT.as_secs()
            ));
        }
    }
    let tools = scripted
        .server
        .seen_tools()
        .into_iter()
        .next()
        .ok_or("codex never asked the scripted model: no tools to show")?;
    let differences = differences(catalog, &tools);
    Ok(Probe { tools, differences })
}

/// A tool of the model request: its namespace (for one inside a namespace entry), name,
/// and the entry itself.
struct Offered<'a> {
    namespace: Option<&'a str>,
    name: &'a str,
    entry: &'a Value,
}

fn offered(tools: &Value) -> Vec<Offered<'_>> {
    let mut list = Vec::new();
    for entry in tools.as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match entry.get("type").and_then(Value::as_str) {
            Some("namespace") => {
                for inner in entry
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    list.push(Offered {
                        namespace: Some(name),
                        name: inner
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        entry: inner,
                    });
                }
            }
            _ => list.push(Offered {
                namespace: None,
                name: entry
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(entry.get("type").and_then(Value::as_str).unwrap_or("?")),
                entry,
            }),
        }
    }
    list
}

/// The catalog against what the model was offered.
pub fn differences(catalog: &Catalog, tools: &Value) -> Vec<Difference> {
    let offered = offered(tools);
    let mut found = Vec::new();
    let mut claimed = vec![false; offered.len()];
    let mut stricts: Vec<(String, Value)> = Vec::new();
    for tool in &catalog.tools {
        let qualified = tool.qualified_name();
        let position = offered
            .iter()
            .position(|o| o.name == tool.name && o.namespace == tool.namespace.as_deref());
        let Some(position) = position else {
            let shadowed =
                tool.namespace.is_none() && CODEX_BUILTIN_TOOLS.contains(&tool.name.as_str());
            let (kind, detail) = if shadowed {
                (
                    "shadowed",
                    "absent: codex keeps the name for its built-in and drops this tool (even with the built-in turned off); rename it",
                )
            } else if tool.defer_loading == Some(true) {
                (
                    "deferred",
                    "not in the model's first request: codex holds a defer_loading tool back until the model searches for it",
                )
            } else {
                ("missing", "not offered to the model")
            };
            found.push(Difference {
                kind,
                tool: qualified,
                detail: detail.to_string(),
            });
            continue;
        };
        if let Some(slot) = claimed.get_mut(position) {
            *slot = true;
        }
        let Some(entry) = offered.get(position).map(|o| o.entry) else {
            continue;
        };
        let description = entry
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if description != tool.description {
            found.push(Difference {
                kind: "shadowed",
                tool: qualified.clone(),
                detail: format!(
                    "the model gets another tool of this name, described {description:?}: codex's own"
                ),
            });
            continue;
        }
        let parameters = entry.get("parameters").unwrap_or(&Value::Null);
        for (path, wanted, sent) in property_changes(&tool.input_schema, parameters, "input_schema")
        {
            found.push(Difference {
                kind: "sanitised",
                tool: qualified.clone(),
                detail: format!("{path} is {sent} for the model (the catalog says {wanted})"),
            });
        }
        if let Some(strict) = entry.get("strict") {
            stricts.push((qualified.clone(), strict.clone()));
        }
        if entry.get("defer_loading").is_some() || tool.defer_loading == Some(true) {
            let sent = entry.get("defer_loading").cloned().unwrap_or(Value::Null);
            found.push(Difference {
                kind: "deferred",
                tool: qualified.clone(),
                detail: format!(
                    "defer_loading in the catalog: {:?}, sent to the model: {sent}",
                    tool.defer_loading
                ),
            });
        }
        if tool.namespace.as_deref() == Some(CODEX_MULTI_AGENT_NAMESPACE) {
            found.push(Difference {
                kind: "merged",
                tool: qualified.clone(),
                detail: format!(
                    "merged into codex's own `{CODEX_MULTI_AGENT_NAMESPACE}` namespace"
                ),
            });
        }
    }
    if !stricts.is_empty()
        && stricts
            .iter()
            .all(|(_, strict)| *strict == Value::Bool(false))
    {
        found.push(Difference {
            kind: "strict",
            tool: "(every catalog tool)".to_string(),
            detail: "sent with strict = false: the model is not held to input_schema, so check arguments".to_string(),
        });
    } else {
        for (tool, strict) in stricts {
            found.push(Difference {
                kind: "strict",
                tool,
                detail: format!("sent with strict = {strict}"),
            });
        }
    }
    found.extend(namespace_descriptions(catalog, tools));
    // Namespaces that hold catalog tools and codex's own: merged.
    for (position, o) in offered.iter().enumerate() {
        if claimed.get(position).copied().unwrap_or(true) {
            continue;
        }
        let in_catalog_namespace = o.namespace.is_some_and(|ns| {
            catalog
                .tools
                .iter()
                .any(|t| t.namespace.as_deref() == Some(ns))
        });
        let name = crate::catalog::qualified_name(o.namespace, o.name);
        found.push(Difference {
            kind: if in_catalog_namespace {
                "merged"
            } else {
                "builtin"
            },
            tool: name,
            detail: if in_catalog_namespace {
                "codex's own tool in the same namespace as catalog tools".to_string()
            } else {
                "codex's own tool, offered beside the catalog's".to_string()
            },
        });
    }
    found
}

/// How each namespace of the catalog is described to the model.
fn namespace_descriptions(catalog: &Catalog, tools: &Value) -> Vec<Difference> {
    let mut found = Vec::new();
    for entry in tools.as_array().map(Vec::as_slice).unwrap_or_default() {
        if entry.get("type").and_then(Value::as_str) != Some("namespace") {
            continue;
        }
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !catalog
            .tools
            .iter()
            .any(|t| t.namespace.as_deref() == Some(name))
        {
            continue;
        }
        let sent = entry
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let declared = catalog.namespaces.iter().find(|ns| ns.name == name);
        match declared {
            Some(ns) if ns.description == sent => {}
            Some(ns) => found.push(Difference {
                kind: "namespace",
                tool: name.to_string(),
                detail: format!(
                    "described to the model as {sent:?}, not as the catalog's {:?}",
                    ns.description
                ),
            }),
            None => found.push(Difference {
                kind: "namespace",
                tool: name.to_string(),
                detail: format!(
                    "described to the model as {sent:?} (codex's default): declare it under [[namespaces]] with a description to say more"
                ),
            }),
        }
    }
    found
}

/// Properties whose schema the model gets in another shape than the catalog wrote:
/// `(path, catalog's type, sent)`. Only the `type` of properties is compared.
fn property_changes(wanted: &Value, sent: &Value, at: &str) -> Vec<(String, String, String)> {
    let mut changes = Vec::new();
    let (Some(wanted_props), sent_props) = (
        wanted.get("properties").and_then(Value::as_object),
        sent.get("properties").and_then(Value::as_object),
    ) else {
        return changes;
    };
    for (name, wanted_prop) in wanted_props {
        let path = format!("{at}.properties.{name}");
        let sent_prop = sent_props.and_then(|props| props.get(name));
        let Some(sent_prop) = sent_prop else {
            changes.push((path, type_of(wanted_prop), "absent".to_string()));
            continue;
        };
        if wanted_prop.get("type") != sent_prop.get("type") {
            changes.push((path.clone(), type_of(wanted_prop), sent_prop.to_string()));
            continue;
        }
        changes.extend(property_changes(wanted_prop, sent_prop, &path));
    }
    changes
}

fn type_of(schema: &Value) -> String {
    schema
        .get("type")
        .map_or_else(|| "untyped".to_string(), |kind| format!("type {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_way_the_model_view_departs_from_the_catalog() {
        let catalog = Catalog::parse(
            r#"
[[tools]]
name = "view_image"
description = "mine"
input_schema = { type = "object" }

[[tools]]
name = "exec_command"
description = "mine"
input_schema = { type = "object" }

[[tools]]
name = "due"
description = "d"
input_schema = { type = "object", properties = { when = { type = "date" }, deep = { type = "object", properties = { at = { type = "time" } } } } }

[[tools]]
name = "lazy"
description = "d"
input_schema = { type = "object" }
namespace = "crm"
defer_loading = true

[[tools]]
name = "get"
description = "d"
input_schema = { type = "object" }
namespace = "crm"

[[tools]]
name = "gone"
description = "d"
input_schema = { type = "object" }
"#,
            Path::new("c.toml"),
        )
        .unwrap();
        let tools = json!([
            { "type": "function", "name": "view_image", "description": "codex's viewer", "strict": false, "parameters": {} },
            { "type": "function", "name": "due", "description": "d", "strict": false,
              "parameters": { "type": "object", "properties": { "when": {}, "deep": { "type": "object", "properties": { "at": {} } } } } },
            { "type": "namespace", "name": "crm", "description": "Tools in the crm namespace.", "tools": [
                { "type": "function", "name": "get", "description": "d", "strict": false, "parameters": { "type": "object" } },
                { "type": "function", "name": "own", "description": "codex's", "strict": false, "parameters": {} },
            ] },
        ]);
        let found: Vec<(&str, String)> = differences(&catalog, &tools)
            .into_iter()
            .map(|d| (d.kind, d.tool))
            .collect();
        assert_eq!(
            found,
            vec![
                ("shadowed", "view_image".to_string()),
                ("shadowed", "exec_command".to_string()),
                ("sanitised", "due".to_string()),
                ("sanitised", "due".to_string()),
                ("deferred", "crm.lazy".to_string()),
                ("missing", "gone".to_string()),
                ("strict", "(every catalog tool)".to_string()),
                ("namespace", "crm".to_string()),
                ("merged", "crm.own".to_string()),
            ]
        );
    }
}

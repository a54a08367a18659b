//! The embedded scripted model: a local HTTP server speaking enough of the OpenAI Responses
//! API for codex 0.169.0 to use it as its model, with scripted behaviour. It lets a tool
//! catalog be exercised end to end through the real codex without a model account.
//!
//! The model keeps no state between requests: codex resends the whole turn with every
//! request, so the last real user message, the function calls after it and their outputs
//! tell the model where it is.

mod request;
mod scenario;
mod schema;
mod server;
mod sse;
mod turn;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use scenario::{BUILTIN_SCENARIOS, Scenario};
pub use server::{ModelOptions, ModelServer};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read scenario file {}: {source}", path.display())]
    ScenarioRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario {origin} is not valid toml: {message}")]
    ScenarioSyntax { origin: String, message: String },
    #[error("scenario {origin}: {message}")]
    ScenarioInvalid { origin: String, message: String },
    #[error("unknown scenario {name:?}: not a file, and not one of {}", known.join(", "))]
    UnknownScenario { name: String, known: Vec<String> },
}

/// Features that would add tools or start-up network traffic; all turned off so the model
/// sees a short tool list and an offline codex stays quiet.
const DISABLED_FEATURES: &[&str] = &[
    "shell_tool",
    "unified_exec",
    "goals",
    "plugins",
    "apps",
    "image_generation",
    "sleep_tool",
    "tool_suggest",
    "skill_search",
];

/// The file in the scripted model's `CODEX_HOME` that tells codex what the model is
/// (`model_catalog_json`), so codex does not warn on every turn that it has no metadata
/// for `scripted`.
pub const MODEL_CATALOG_FILE: &str = "scripted-model.json";

/// The `config.toml` that points codex at a scripted model server at `base_url`, with
/// the model's metadata read from `model_catalog` (an absolute path).
pub fn codex_config(base_url: &str, model_catalog: &Path) -> String {
    let quoted_url = toml::Value::String(base_url.to_owned()).to_string();
    let quoted_catalog = toml::Value::String(model_catalog.display().to_string()).to_string();
    // Top-level keys must come before the first table, or TOML files them under that table.
    let mut text = format!(
        "model = \"scripted\"\n\
         model_provider = \"local\"\n\
         model_catalog_json = {quoted_catalog}\n\
         approval_policy = \"never\"\n\
         sandbox_mode = \"danger-full-access\"\n\
         web_search = \"disabled\"\n\
         \n\
         [model_providers.local]\n\
         name = \"Switchboard scripted model\"\n\
         base_url = {quoted_url}\n\
         wire_api = \"responses\"\n\
         request_max_retries = 0\n\
         stream_max_retries = 0\n\
         stream_idle_timeout_ms = 300000\n\
         \n\
         [features]\n"
    );
    for feature in DISABLED_FEATURES {
        let _ = writeln!(text, "{feature} = false");
    }
    text.push_str("\n[agents]\nenabled = false\n");
    text
}

/// The model catalog codex reads through `model_catalog_json`: one model, `scripted`,
/// described as codex describes a model it has no metadata for (the same tools, shell
/// and truncation as its fallback), with instructions of its own. codex 0.169.0 and
/// 0.171.0 need `base_instructions` (or an instructions template) and take defaults for
/// the fields left out.
pub fn model_catalog() -> serde_json::Value {
    serde_json::json!({
        "models": [{
            "slug": "scripted",
            "display_name": "Switchboard scripted model",
            "description": "Switchboard's scripted model: its replies follow a scenario",
            "base_instructions": "You are Switchboard's scripted model. Your replies follow a scenario; call the tools the user's message names.",
            "default_reasoning_level": null,
            "supported_reasoning_levels": [],
            "shell_type": "default",
            "visibility": "list",
            "supported_in_api": true,
            "priority": 99,
            "upgrade": null,
            "supports_reasoning_summaries": false,
            "default_reasoning_summary": "auto",
            "support_verbosity": false,
            "default_verbosity": null,
            "apply_patch_tool_type": null,
            "web_search_tool_type": "text",
            "truncation_policy": {"mode": "bytes", "limit": 10_000},
            "supports_parallel_tool_calls": false,
            "supports_image_detail_original": false,
            "context_window": 272_000,
            "max_context_window": 272_000,
            "auto_compact_token_limit": null,
            "experimental_supported_tools": [],
            "input_modalities": ["text", "image"],
            "supports_search_tool": false,
            "use_responses_lite": false,
            "tool_mode": null,
            "multi_agent_version": null
        }]
    })
}

/// Writes `dir/config.toml` (creating `dir` if needed) pointing codex at the model server,
/// and the model's metadata beside it.
pub fn write_codex_home(dir: &Path, base_url: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let catalog = std::path::absolute(dir.join(MODEL_CATALOG_FILE))?;
    std::fs::write(&catalog, model_catalog().to_string())?;
    std::fs::write(dir.join("config.toml"), codex_config(base_url, &catalog))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn codex_home_config() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        write_codex_home(&home, "http://127.0.0.1:4321/v1").unwrap();
        let text = std::fs::read_to_string(home.join("config.toml")).unwrap();
        let first_table = text.find('[').unwrap();
        assert!(text.find("web_search = \"disabled\"").unwrap() < first_table);

        let config: toml::Table = text.parse().unwrap();
        assert_eq!(config["model"].as_str(), Some("scripted"));
        // The model's metadata, so codex does not warn that it has none.
        let catalog_path = config["model_catalog_json"].as_str().unwrap();
        assert_eq!(
            std::path::Path::new(catalog_path),
            home.join(MODEL_CATALOG_FILE)
        );
        let catalog: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(catalog_path).unwrap()).unwrap();
        let model = &catalog["models"][0];
        assert_eq!(model["slug"], "scripted");
        assert!(
            model["base_instructions"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert_eq!(config["model_provider"].as_str(), Some("local"));
        assert_eq!(config["approval_policy"].as_str(), Some("never"));
        assert_eq!(config["sandbox_mode"].as_str(), Some("danger-full-access"));
        assert_eq!(config["web_search"].as_str(), Some("disabled"));
        let provider = &config["model_providers"]["local"];
        assert_eq!(
            provider["base_url"].as_str(),
            Some("http://127.0.0.1:4321/v1")
        );
        assert_eq!(provider["wire_api"].as_str(), Some("responses"));
        assert_eq!(provider["request_max_retries"].as_integer(), Some(0));
        assert_eq!(provider["stream_max_retries"].as_integer(), Some(0));
        assert_eq!(
            provider["stream_idle_timeout_ms"].as_integer(),
            Some(300_000)
        );
        let features = config["features"].as_table().unwrap();
        assert_eq!(features.len(), DISABLED_FEATURES.len());
        assert!(features.values().all(|v| v.as_bool() == Some(false)));
        assert_eq!(config["agents"]["enabled"].as_bool(), Some(false));
    }

    #[test]
    fn odd_urls_stay_valid_toml() {
        let config: toml::Table = codex_config("http://h/\"x\\y", Path::new("/tmp/a \"b\"/m.json"))
            .parse()
            .unwrap();
        assert_eq!(
            config["model_providers"]["local"]["base_url"].as_str(),
            Some("http://h/\"x\\y")
        );
        assert_eq!(
            config["model_catalog_json"].as_str(),
            Some("/tmp/a \"b\"/m.json")
        );
    }

    #[test]
    fn error_texts() {
        let err = ModelError::UnknownScenario {
            name: "x".into(),
            known: vec!["auto".into(), "single".into()],
        };
        assert_eq!(
            err.to_string(),
            "unknown scenario \"x\": not a file, and not one of auto, single"
        );
        let err = ModelError::ScenarioInvalid {
            origin: "s.toml".into(),
            message: "turn 1: bad".into(),
        };
        assert_eq!(err.to_string(), "scenario s.toml: turn 1: bad");
    }
}

//! Running codex against the embedded scripted model: the model server plus a private,
//! temporary `CODEX_HOME` whose config points codex at it.

use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::model::{ModelOptions, ModelServer, Scenario};

/// The model server and the temporary `CODEX_HOME`; both go away when this is dropped.
pub struct ScriptedModel {
    pub server: ModelServer,
    pub codex_home: TempDir,
    /// More homes on the same model, one per further app-server of a scripted fleet.
    pub extra_homes: Vec<TempDir>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScriptedError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("could not prepare a CODEX_HOME for the scripted model in {}: {source}", path.display())]
    CodexHome {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ScriptedModel {
    /// `scenario`: a built-in scenario name or a scenario file; `None` for "auto".
    pub async fn start(
        scenario: Option<&str>,
        catalog: &Catalog,
    ) -> Result<ScriptedModel, ScriptedError> {
        ScriptedModel::start_with(scenario, model_options(catalog)).await
    }

    /// [`ScriptedModel::start`] with explicit model options (`serve`, whose sessions
    /// declare tools of their own, lets the model use every tool a request offers).
    pub async fn start_with(
        scenario: Option<&str>,
        options: ModelOptions,
    ) -> Result<ScriptedModel, ScriptedError> {
        let scenario = match scenario {
            Some(spec) => Scenario::load(spec)?,
            None => Scenario::load("auto")?,
        };
        let server = ModelServer::start(scenario, options).await?;
        let codex_home = scripted_home(&server, "switchboard-codex-home")?;
        Ok(ScriptedModel {
            server,
            codex_home,
            extra_homes: Vec::new(),
        })
    }

    /// One more private `CODEX_HOME` on this model, for another spawned app-server
    /// (each app-server keeps its own state there); it goes away with the model.
    pub fn add_codex_home(&mut self) -> Result<PathBuf, ScriptedError> {
        let prefix = format!("switchboard-codex-home-{}", self.extra_homes.len() + 2);
        let home = scripted_home(&self.server, &prefix)?;
        let path = home.path().to_path_buf();
        self.extra_homes.push(home);
        Ok(path)
    }

    /// The environment a spawned app-server needs to use the scripted model.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![(
            "CODEX_HOME".to_string(),
            self.codex_home.path().display().to_string(),
        )]
    }
}

fn scripted_home(server: &ModelServer, prefix: &str) -> Result<TempDir, ScriptedError> {
    let home =
        TempDir::new(prefix).map_err(|(path, source)| ScriptedError::CodexHome { path, source })?;
    crate::model::write_codex_home(home.path(), &server.base_url()).map_err(|source| {
        ScriptedError::CodexHome {
            path: home.path().to_path_buf(),
            source,
        }
    })?;
    Ok(home)
}

/// Tells the model the catalog's tools and their full input schemas.
pub fn model_options(catalog: &Catalog) -> ModelOptions {
    ModelOptions {
        addr: None,
        tool_names: Some(catalog.tools.iter().map(|t| t.qualified_name()).collect()),
        input_schemas: catalog
            .tools
            .iter()
            .map(|t| (t.qualified_name(), t.input_schema.clone()))
            .collect(),
    }
}

/// A private directory removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir, (PathBuf, std::io::Error)> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            crate::util::base36(u64::try_from(crate::util::now_ms()).unwrap_or(0))
        ));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(|e| (path.clone(), e))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

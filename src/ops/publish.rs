//! `chart publish`: package a chart and push it to an OCI registry, optionally stamping a
//! release version (and writing it into the tree's `Chart.yaml` after the push).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{DepsSource, Invocation};
use crate::deps::{bump, publish};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::oci::RegistrySettings;
use crate::process::cancellable;
use crate::repo::Repo;

use super::deps::FileDiff;

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The chart directory (holding `Chart.yaml`), relative to the invocation's directory.
    pub chart_dir: PathBuf,
    /// `oci://host/path`.
    pub to: String,
    /// Publish as this version (version and appVersion in the package).
    pub version: Option<String>,
    /// Also write `version` into the tree's `Chart.yaml` once the push succeeded.
    pub write: bool,
    pub source: DepsSource,
}

/// What a publish did (the JSON document of `chart publish`).
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub chart: String,
    pub chart_version: String,
    /// `oci://host/path/name:tag`.
    pub reference: String,
    pub manifest_digest: String,
    pub archive_digest: String,
    /// The `Chart.yaml` written with `--write`, repository-relative.
    pub wrote: Option<String>,
    /// The change written, with its diff.
    pub change: Option<FileDiff>,
}

/// Publish a chart. The chart may live outside a Stack repository (a service repository
/// publishing its own chart): then only the environment and the flags configure registries.
pub async fn publish(invocation: &Invocation, request: &PublishRequest) -> Result<PublishReport> {
    let chart_dir = invocation.cwd.join(&request.chart_dir);
    if !chart_dir.is_dir() {
        return Err(Error::usage(format!(
            "{} is not a directory",
            chart_dir.display()
        )));
    }
    let repo = Repo::discover(&chart_dir).ok();
    let env_root = repo
        .as_ref()
        .map(|r| r.root.clone())
        .unwrap_or(invocation.cwd.clone());
    let env = Environment::load(&env_root)?;
    let registries = repo
        .as_ref()
        .map(|r| r.config.registries.clone())
        .unwrap_or_default();
    let settings = RegistrySettings::resolve(
        &registries,
        &env,
        &request.source.mirrors,
        &request.source.insecure,
    )?;
    let display = display_dir(repo.as_ref(), &chart_dir);
    let plan = publish::prepare(
        &chart_dir,
        &display,
        &request.to,
        request.version.as_deref(),
        &settings,
    )?;
    let pushed = cancellable(
        &invocation.cancel,
        publish::push(&plan, &settings, env, invocation.cancel.clone()),
    )
    .await?;
    let wrote = match (&plan.chart_yaml_change, request.write) {
        (Some(change), true) => {
            if invocation.cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            bump::apply(std::slice::from_ref(change))?;
            Some(change)
        }
        _ => None,
    };
    Ok(PublishReport {
        chart: plan.packaged.name.clone(),
        chart_version: plan.packaged.version.clone(),
        reference: format!("oci://{}", pushed.reference),
        manifest_digest: pushed.manifest_digest,
        archive_digest: plan.packaged.digest.clone(),
        wrote: wrote.map(|c| c.display.clone()),
        change: wrote.map(FileDiff::from),
    })
}

fn display_dir(repo: Option<&Repo>, dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match repo {
        Some(repo) => repo.display_path(&dir),
        None => dir.display().to_string(),
    }
}

//! `chart publish`: package a chart directory and push it to an OCI registry as a Helm chart
//! artifact, optionally stamping a release version into the package (and, with `--write`,
//! into the tree's Chart.yaml, span-edited so its comments survive).

use std::collections::BTreeMap;
use std::path::Path;

use crate::deps::bump::FileChange;
use crate::deps::chartfile::is_exact_version;
use crate::deps::chartfile::{CHART_FILE, ChartFile};
use crate::deps::document::{self, Source};
use crate::deps::package;
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::oci::PackagedChart;
use crate::oci::registry::{PushedChart, RegistryClient};
use crate::oci::{RegistrySettings, RepositoryLocation};
use crate::process::Cancel;

/// Everything a push needs, computed before any network I/O.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub packaged: PackagedChart,
    pub location: RepositoryLocation,
    /// The Chart.yaml edit `--write` makes in the tree, when the version changes.
    pub chart_yaml_change: Option<FileChange>,
    /// The chart metadata as JSON (the artifact's config blob).
    pub config: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// Package `chart_dir` for `to` (`oci://host/path`), with `version` stamped if given.
pub fn prepare(
    chart_dir: &Path,
    display: &str,
    to: &str,
    version: Option<&str>,
    settings: &RegistrySettings,
) -> Result<PublishPlan> {
    if !to.starts_with("oci://") {
        return Err(Error::usage(format!(
            "--to {to:?} is not an OCI repository; write it like oci://ghcr.io/jetscale-ai/charts"
        )));
    }
    let location = settings.locate(to)?;
    let chart = ChartFile::load(chart_dir)?;
    let chart_yaml = match version {
        Some(version) => {
            if !is_exact_version(version) {
                return Err(Error::usage(format!(
                    "--version {version:?} is not an exact version like 0.25.0"
                )));
            }
            stamp_version(&chart, version)?
        }
        None => chart.source.text.clone(),
    };
    require_built_dependencies(&chart, chart_dir)?;
    let packaged = package::package_dir(chart_dir, Some(&chart_yaml))?;
    let chart_yaml_change = (chart_yaml != chart.source.text).then(|| FileChange {
        path: chart.path.clone(),
        display: format!("{display}/{CHART_FILE}"),
        before: Some(chart.source.text.clone()),
        after: chart_yaml.clone(),
    });
    let metadata = Source::parse(chart_yaml.clone())
        .map_err(|e| Error::config(format!("the stamped Chart.yaml is invalid: {}", e.message)))?;
    let config = helm_config_json(&document::to_json(&metadata.root));
    let mut annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            packaged.name.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            packaged.version.clone(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        ),
    ]);
    if let Some(description) = document::get(&metadata.root, "description")
        .and_then(|n| metadata.scalar(n))
        .filter(|d| !d.value.is_empty())
    {
        annotations.insert(
            "org.opencontainers.image.description".to_string(),
            description.value,
        );
    }
    Ok(PublishPlan {
        packaged,
        location,
        chart_yaml_change,
        config,
        annotations,
    })
}

/// Push a prepared chart.
pub async fn push(
    plan: &PublishPlan,
    settings: &RegistrySettings,
    env: Environment,
    cancel: Cancel,
) -> Result<PushedChart> {
    RegistryClient::new(settings, env, cancel)
        .push_chart(
            &plan.location,
            &plan.packaged,
            plan.config.clone(),
            plan.annotations.clone(),
        )
        .await
}

/// Chart.yaml text with `version` and `appVersion` set to `version`; an absent appVersion is
/// added after the version line.
pub fn stamp_version(chart: &ChartFile, version: &str) -> Result<String> {
    let text = &chart.source.text;
    let Some(current) = &chart.version else {
        return Err(
            Error::config(format!("{} has no version to stamp", chart.path.display()))
                .at(&chart.path, Some(1)),
        );
    };
    let rewrite = |scalar: &document::ScalarText| {
        scalar.rewrite(version).ok_or_else(|| {
            Error::config(format!(
                "cannot rewrite line {} in place (block scalars are not edited)",
                scalar.line
            ))
            .at(&chart.path, Some(scalar.line))
        })
    };
    let mut edits = vec![(current.range.clone(), rewrite(current)?)];
    match &chart.app_version {
        Some(app) => edits.push((app.range.clone(), rewrite(app)?)),
        None => {
            let line_end = text[current.range.end..]
                .find('\n')
                .map(|i| current.range.end + i + 1)
                .unwrap_or(text.len());
            let newline = if line_end == text.len() && !text.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            edits.push((
                line_end..line_end,
                format!("{newline}appVersion: \"{version}\"\n"),
            ));
        }
    }
    Ok(document::splice(text, edits))
}

/// helm refuses to package an umbrella chart whose dependencies are not in `charts/`; say so
/// before building a package helm could not install.
fn require_built_dependencies(chart: &ChartFile, chart_dir: &Path) -> Result<()> {
    if chart.dependencies.is_empty() {
        return Ok(());
    }
    let charts_dir = chart_dir.join("charts");
    let mut present = std::collections::BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(&charts_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "tgz") {
                if let Ok(meta) = std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| package::read_metadata(&b))
                {
                    present.insert(meta.name);
                }
            } else if path.join(CHART_FILE).is_file()
                && let Ok(sub) = ChartFile::load(&path)
            {
                present.insert(sub.name().to_string());
            }
        }
    }
    let missing: Vec<_> = chart
        .dependencies
        .iter()
        .map(|d| d.fields.name.as_str())
        .filter(|name| !present.contains(*name))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::config(format!(
            "{} lacks the dependencies {}",
            charts_dir.display(),
            missing.join(", ")
        ))
        .with_hint("run `stackctl deps build` first, so the package carries its dependencies"))
    }
}

/// The chart metadata as helm stores it in the config blob: the fields of helm's `Metadata`
/// in its order (helm drops unknown fields, so do we).
fn helm_config_json(metadata: &serde_json::Value) -> Vec<u8> {
    const ORDER: &[&str] = &[
        "name",
        "home",
        "sources",
        "version",
        "description",
        "keywords",
        "maintainers",
        "icon",
        "apiVersion",
        "condition",
        "tags",
        "appVersion",
        "deprecated",
        "annotations",
        "kubeVersion",
        "dependencies",
        "type",
    ];
    let mut out = serde_json::Map::new();
    if let serde_json::Value::Object(map) = metadata {
        for key in ORDER {
            if let Some(value) = map.get(*key) {
                out.insert(key.to_string(), value.clone());
            }
        }
    }
    serde_json::to_vec(&serde_json::Value::Object(out)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_version_and_app_version_keeping_comments() {
        let text = "apiVersion: v2\nname: jetscale\n# CI sets these\nversion: 0.24.9 # release\nappVersion: \"0.24.9\"\n";
        let chart = ChartFile::parse(Path::new("Chart.yaml"), text).unwrap();
        assert_eq!(
            stamp_version(&chart, "0.25.0").unwrap(),
            "apiVersion: v2\nname: jetscale\n# CI sets these\nversion: 0.25.0 # release\nappVersion: \"0.25.0\"\n"
        );
    }

    #[test]
    fn adds_a_missing_app_version() {
        let chart = ChartFile::parse(
            Path::new("Chart.yaml"),
            "name: backend\nversion: 1.0.0\ntype: application\n",
        )
        .unwrap();
        assert_eq!(
            stamp_version(&chart, "1.1.0").unwrap(),
            "name: backend\nversion: 1.1.0\nappVersion: \"1.1.0\"\ntype: application\n"
        );
    }

    #[test]
    fn config_json_follows_helm_field_order() {
        let json = helm_config_json(&serde_json::json!({
            "apiVersion": "v2", "version": "1.0.0", "name": "backend", "extra": 1
        }));
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"name":"backend","version":"1.0.0","apiVersion":"v2"}"#
        );
    }
}

//! `deps bump <chart> <version>`: the upversion protocol in one step. Every alias of the chart
//! in Chart.yaml, every image tag of the chart's image in `envs/` and in the chart's values
//! files, and the lock move together, so image tags can no longer lag the chart they ship
//! with (the drift that had CI testing weeks-old images).
//!
//! Edits replace the bytes of the version and tag scalars only, keeping their quoting; every
//! comment and every other byte of the files stays as it was.

use std::path::{Path, PathBuf};

use crate::deps::chartfile::is_exact_version;
use crate::deps::chartfile::{CHART_FILE, ChartFile, LOCK_FILE, LockFile};
use crate::deps::document::{self, Node, ScalarText, Source};
use crate::deps::update::planned_lock;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::repo::Repo;

/// A planned change to one file.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: PathBuf,
    /// Repository-relative path, for diffs and messages.
    pub display: String,
    /// The current content; `None` when the file does not exist yet.
    pub before: Option<String>,
    pub after: String,
}

impl FileChange {
    /// A unified diff of the change (`a/<file>` → `b/<file>`).
    pub fn diff(&self) -> String {
        let before = self.before.as_deref().unwrap_or("");
        similar::TextDiff::from_lines(before, &self.after)
            .unified_diff()
            .context_radius(3)
            .header(
                &if self.before.is_some() {
                    format!("a/{}", self.display)
                } else {
                    "/dev/null".to_string()
                },
                &format!("b/{}", self.display),
            )
            .to_string()
    }
}

/// Write every change, each atomically. Callers compute all changes first, so a failure in
/// planning or verification touches no file.
pub fn apply(changes: &[FileChange]) -> Result<()> {
    let _commit = crate::process::committing();
    for change in changes {
        fsutil::write_atomic(&change.path, change.after.as_bytes())?;
    }
    Ok(())
}

/// Everything a bump will change.
#[derive(Debug, Clone)]
pub struct BumpPlan {
    pub chart: String,
    /// The versions Chart.yaml had for the chart (one per distinct value, in file order).
    pub from: Vec<String>,
    pub to: String,
    /// The image repository whose tags were followed.
    pub image: String,
    pub changes: Vec<FileChange>,
    /// Chart.yaml as it will be after the bump.
    pub new_chart: ChartFile,
}

impl BumpPlan {
    /// A conventional-commit message for the change.
    pub fn commit_message(&self) -> String {
        let from = if self.from.is_empty() {
            "?".to_string()
        } else {
            self.from.join(", ")
        };
        format!("fix(deps): bump {} {from} → {}", self.chart, self.to)
    }
}

/// Compute the edits of a bump without writing anything.
pub fn plan(repo: &Repo, chart_name: &str, version: &str) -> Result<BumpPlan> {
    if !is_exact_version(version) {
        return Err(Error::usage(format!(
            "{version:?} is not an exact version like 4.6.13"
        )));
    }
    let chart_dir = repo.chart_dir();
    let chart = ChartFile::load(&chart_dir)?;
    let matching: Vec<_> = chart
        .dependencies
        .iter()
        .filter(|d| d.fields.name == chart_name)
        .collect();
    if matching.is_empty() {
        let names: Vec<_> = chart
            .dependencies
            .iter()
            .map(|d| d.fields.name.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(Error::usage(format!(
            "{} has no dependency named {chart_name:?} (its dependencies: {})",
            repo.display_path(&chart.path),
            names.join(", ")
        ))
        .with_hint("name the chart, not an alias: `stackctl deps bump backend 4.6.13`"));
    }
    let mut from: Vec<String> = Vec::new();
    let mut edits = Vec::new();
    for dep in &matching {
        let Some(scalar) = &dep.version_at else {
            return Err(Error::config(format!(
                "dependency {} has no version to bump",
                dep.fields.effective_name()
            ))
            .at(&chart.path, Some(dep.line)));
        };
        if !from.contains(&scalar.value) {
            from.push(scalar.value.clone());
        }
        if scalar.value != version {
            edits.push(replacement(&chart.path, scalar, version)?);
        }
    }
    let mut changes = Vec::new();
    let chart_after = document::splice(&chart.source.text, edits);
    if chart_after != chart.source.text {
        changes.push(FileChange {
            path: chart.path.clone(),
            display: repo.display_path(&chart.path),
            before: Some(chart.source.text.clone()),
            after: chart_after.clone(),
        });
    }
    let new_chart = ChartFile::parse(&chart.path, chart_after)?;

    let repository = matching
        .first()
        .map(|d| d.fields.repository.as_str())
        .unwrap_or_default();
    let image = repo.config.dependencies.image_for(chart_name, repository);
    for path in values_files(repo)? {
        let text = crate::fsutil::read_text(&path).map_err(|problem| problem.into_error(&path))?;
        let source = Source::parse(text.clone()).map_err(|e| {
            Error::config(format!(
                "{} is not valid YAML: {}",
                repo.display_path(&path),
                e.message
            ))
            .at(&path, Some(e.line))
        })?;
        let mut edits = Vec::new();
        collect_tag_edits(&source, &source.root, &path, &image, version, &mut edits)?;
        if edits.is_empty() {
            continue;
        }
        changes.push(FileChange {
            display: repo.display_path(&path),
            before: Some(text.clone()),
            after: document::splice(&text, edits),
            path,
        });
    }

    let existing_lock = LockFile::load(&chart_dir)?;
    let (lock_text, lock_changed) = planned_lock(&new_chart, existing_lock.as_ref());
    if lock_changed {
        let lock_path = chart_dir.join(LOCK_FILE);
        changes.push(FileChange {
            display: repo.display_path(&lock_path),
            before: existing_lock.map(|l| l.source.text),
            after: lock_text,
            path: lock_path,
        });
    }
    Ok(BumpPlan {
        chart: chart_name.to_string(),
        from,
        to: version.to_string(),
        image,
        changes,
        new_chart,
    })
}

fn replacement(
    path: &Path,
    scalar: &ScalarText,
    value: &str,
) -> Result<(std::ops::Range<usize>, String)> {
    let text = scalar.rewrite(value).ok_or_else(|| {
        Error::config(format!(
            "cannot rewrite the value at line {} in place (block scalars are not edited)",
            scalar.line
        ))
        .at(path, Some(scalar.line))
        .with_hint("write the value as a plain or quoted scalar")
    })?;
    Ok((scalar.range.clone(), text))
}

/// The umbrella chart's values files and every YAML file under `envs/`, sorted.
fn values_files(repo: &Repo) -> Result<Vec<PathBuf>> {
    let is_yaml = |p: &Path| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        )
    };
    let mut files = Vec::new();
    let chart_dir = repo.chart_dir();
    if let Ok(entries) = std::fs::read_dir(&chart_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_file() && is_yaml(&path) && name.starts_with("values") && name != CHART_FILE
            {
                files.push(path);
            }
        }
    }
    let envs = repo.envs_dir();
    if envs.is_dir() {
        for entry in walkdir::WalkDir::new(&envs).sort_by_file_name() {
            let entry = entry
                .map_err(|e| Error::environment(format!("cannot read {}: {e}", envs.display())))?;
            if entry.file_type().is_file() && is_yaml(entry.path()) {
                files.push(entry.path().to_path_buf());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Find image references of `image` below `node` whose tag is not `version`: mappings with
/// `repository: <image>` and `tag: <x>`, and strings `<image>:<x>`.
fn collect_tag_edits(
    source: &Source,
    node: &Node,
    path: &Path,
    image: &str,
    version: &str,
    edits: &mut Vec<(std::ops::Range<usize>, String)>,
) -> Result<()> {
    match &node.data {
        saphyr::YamlData::Mapping(_) => {
            let repository = document::get(node, "repository").and_then(|n| source.scalar(n));
            let tag = document::get(node, "tag").and_then(|n| source.scalar(n));
            if let (Some(repository), Some(tag)) = (repository, tag)
                && repository.value == image
                && tag.value != version
            {
                edits.push(replacement(path, &tag, version)?);
            }
            for (_, _, value) in document::entries(node) {
                collect_tag_edits(source, value, path, image, version, edits)?;
            }
        }
        saphyr::YamlData::Sequence(items) => {
            for item in items {
                collect_tag_edits(source, item, path, image, version, edits)?;
            }
        }
        _ => {
            if let Some(scalar) = source.scalar(node)
                && let Some(tag) = scalar
                    .value
                    .strip_prefix(image)
                    .and_then(|rest| rest.strip_prefix(':'))
                && tag != version
                && !tag.contains('/')
            {
                edits.push(replacement(path, &scalar, &format!("{image}:{version}"))?);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tags_in_image_blocks_and_image_strings() {
        let text = "\
backend-api:
  image:
    repository: ghcr.io/jetscale-ai/backend
    tag: \"4.6.12\" # keep in step with Chart.yaml
frontend:
  image:
    repository: ghcr.io/jetscale-ai/frontend
    tag: \"2.7.1\"
jobs:
  - image: 'ghcr.io/jetscale-ai/backend:4.6.12'
  - image: ghcr.io/jetscale-ai/backend-worker:1.0.0
";
        let source = Source::parse(text).unwrap();
        let mut edits = Vec::new();
        collect_tag_edits(
            &source,
            &source.root,
            Path::new("x.yaml"),
            "ghcr.io/jetscale-ai/backend",
            "4.6.13",
            &mut edits,
        )
        .unwrap();
        let after = document::splice(text, edits);
        assert_eq!(
            after,
            text.replace("tag: \"4.6.12\"", "tag: \"4.6.13\"").replace(
                "'ghcr.io/jetscale-ai/backend:4.6.12'",
                "'ghcr.io/jetscale-ai/backend:4.6.13'"
            )
        );
    }
}

//! Targets: the env files to validate, and the chain of values layers each one applies.
//!
//! For `envs/<dir>/<file>.yaml` the chain is: `envs/<cloud>.yaml`, then `envs/<dir>/default.yaml`
//! (or `default.yml`) if present, then the file itself; the chart's own `values.yaml` sits
//! beneath them all. Files directly in `envs/` are cloud files, not targets, and files named
//! `default.yaml`/`default.yml` are layers, not targets. Targets come in lexical path order.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::display_join;
use crate::repo::Repo;
use crate::target::{Target, TargetKind};

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn is_default_layer(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("default.yaml") | Some("default.yml")
    )
}

/// Check a symlink of the envs directory: it must resolve, without a loop, to a path inside the
/// repository. Anything else is an error naming the link and where it points.
fn check_link(repo: &Repo, path: &Path) -> Result<()> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(());
    }
    let display = repo.display_path(path);
    let points_to = std::fs::read_link(path)
        .map(|target| target.display().to_string())
        .unwrap_or_else(|_| "?".to_string());
    let link_error = |why: String, hint: &str| {
        Error::config(format!("{display} is a symlink to {points_to}, {why}"))
            .at(repo.display_path(path), None)
            .with_hint(hint.to_string())
    };
    let inside =
        "point it at a values file inside the repository, or replace it with the file itself";
    let resolved = match path.canonicalize() {
        Ok(resolved) => resolved,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(link_error(
                "which loops back on itself (a symlink loop)".into(),
                inside,
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(link_error("which does not exist".into(), inside));
        }
        Err(e) => return Err(Error::io("resolve", path, e)),
    };
    let root = repo
        .root
        .canonicalize()
        .unwrap_or_else(|_| repo.root.clone());
    if !resolved.starts_with(&root) {
        return Err(link_error(
            format!(
                "which is outside the repository ({}): env files are read only inside it",
                resolved.display()
            ),
            inside,
        ));
    }
    Ok(())
}

/// An error for a values file of the envs directory that is not a regular file.
fn not_regular(repo: &Repo, path: &Path, what: &str) -> Error {
    Error::config(format!(
        "{} is {what}, not a regular file: a values layer must be a file",
        repo.display_path(path)
    ))
    .at(repo.display_path(path), None)
    .with_hint("replace it with a values file, or remove it (stackctl reads no FIFO, device, socket or directory)")
}

/// Whether a values layer exists at `path` as a regular file (following symlinks inside the
/// repository); an error when something else is there.
fn regular_layer(repo: &Repo, path: &Path) -> Result<bool> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(false);
    }
    check_link(repo, path)?;
    let metadata = std::fs::metadata(path).map_err(|e| Error::io("inspect", path, e))?;
    match crate::fsutil::special_kind(&metadata.file_type()) {
        None => Ok(true),
        Some(what) => Err(not_regular(repo, path, what)),
    }
}

/// What stopped the walk of the envs directory: a symlink loop, a link to nothing, a
/// directory that cannot be read.
fn walk_error(repo: &Repo, dir: &Path, error: walkdir::Error) -> Error {
    if let Some(path) = error.path() {
        if let Some(ancestor) = error.loop_ancestor() {
            return Error::config(format!(
                "{} is a symlink loop: it leads back to {}",
                repo.display_path(path),
                repo.display_path(ancestor)
            ))
            .at(repo.display_path(path), None)
            .with_hint("remove the link or point it at a directory that does not contain it");
        }
        if let Err(e) = check_link(repo, path) {
            return e;
        }
    }
    Error::environment(format!("cannot walk {}: {error}", repo.display_path(dir)))
}

/// The clouds this repository has: the YAML files directly in `envs/`.
pub fn clouds(repo: &Repo) -> Result<Vec<String>> {
    let dir = repo.envs_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        Error::config(format!(
            "cannot read the envs directory {}: {e}",
            repo.display_path(&dir)
        ))
        .with_hint("set envs.dir in stackctl.toml if the environments live elsewhere")
    })?;
    let mut clouds: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_yaml(p))
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect();
    clouds.sort();
    clouds.dedup();
    Ok(clouds)
}

/// The cloud file of `cloud`, or an error that lists the clouds that exist.
pub fn cloud_file(repo: &Repo, cloud: &str) -> Result<PathBuf> {
    let dir = repo.envs_dir();
    for ext in ["yaml", "yml"] {
        let candidate = dir.join(format!("{cloud}.{ext}"));
        if regular_layer(repo, &candidate)? {
            return Ok(candidate);
        }
    }
    let known = clouds(repo)?;
    let expected = repo.display_path(&dir.join(format!("{cloud}.yaml")));
    let hint = if known.is_empty() {
        format!("create {expected} with the values every environment on {cloud} shares")
    } else {
        format!("clouds in this repository: {}", known.join(", "))
    };
    Err(Error::usage(format!(
        "no cloud values file for {cloud:?}: expected {expected}"
    ))
    .with_hint(hint))
}

/// Every env target for `cloud`, with its layer chain, release and namespace.
pub fn env_targets(repo: &Repo, cloud: &str) -> Result<Vec<Target>> {
    let cloud_file = cloud_file(repo, cloud)?;
    let dir = repo.envs_dir();
    let mut files = Vec::new();
    // Symlinks are followed (a linked env file is a target like any other) once checked to
    // stay inside the repository; walkdir reports loops.
    let walk = walkdir::WalkDir::new(&dir)
        .min_depth(2)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(|e| walk_error(repo, &dir, e))?;
        let path = entry.path();
        if entry.path_is_symlink() {
            check_link(repo, path)?;
        }
        if !is_yaml(path) || is_default_layer(path) {
            continue;
        }
        match crate::fsutil::special_kind(&entry.file_type()) {
            None => files.push(path.to_path_buf()),
            Some(what) => return Err(not_regular(repo, path, what)),
        }
    }
    if files.is_empty() {
        return Err(Error::usage(format!(
            "no environments found: {} has no .yaml or .yml files in its subdirectories",
            repo.display_path(&dir)
        ))
        .with_hint("add an env file such as envs/prod/console.yaml; files directly in envs/ are cloud layers"));
    }
    files
        .into_iter()
        .map(|file| env_target(repo, &cloud_file, &file))
        .collect()
}

fn env_target(repo: &Repo, cloud_file: &Path, file: &Path) -> Result<Target> {
    let mut layers = vec![repo.display_path(cloud_file)];
    let parent = file.parent().expect("env files live in a directory");
    for name in ["default.yaml", "default.yml"] {
        let default = parent.join(name);
        // A default layer that is a directory or a FIFO is an error, never dropped.
        if regular_layer(repo, &default)? {
            layers.push(repo.display_path(&default));
            break;
        }
    }
    let name = repo.display_path(file);
    layers.push(name.clone());
    let envs = display_join(&repo.display_path(&repo.envs_dir()), "");
    let group = name
        .strip_prefix(&envs)
        .and_then(|rest| rest.split_once('/'))
        .map(|(dir, _)| dir.to_string());
    let cloud = cloud_file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned());
    let settings = repo.config.targets.get(&name);
    let release = settings
        .and_then(|t| t.release.clone())
        .unwrap_or_else(|| repo.config.render.release.clone());
    let namespace = settings
        .and_then(|t| t.namespace.clone())
        .unwrap_or_else(|| repo.config.render.namespace.clone());
    let external_refs = settings
        .map(|t| expand_refs(&t.external_refs, &release))
        .unwrap_or_default();
    Ok(Target {
        name,
        layers,
        release,
        namespace,
        external_refs,
        kind: TargetKind::Env,
        group,
        cloud,
    })
}

/// The lifecycle variants declared in `stackctl.toml`, in name order.
pub fn variant_targets(repo: &Repo) -> Vec<Target> {
    let chart = repo.config.chart.path.clone();
    repo.config
        .variants
        .iter()
        .map(|(name, variant)| Target {
            name: name.clone(),
            layers: variant
                .layers
                .iter()
                .map(|layer| repo.display_path(&normalize(&repo.path(chart.join(layer)))))
                .collect(),
            release: variant.release.clone(),
            namespace: variant
                .namespace
                .clone()
                .unwrap_or_else(|| repo.config.render.namespace.clone()),
            external_refs: expand_refs(&variant.external_refs, &variant.release),
            kind: TargetKind::Variant,
            group: None,
            cloud: None,
        })
        .collect()
}

/// Resolve `.` and `..` without touching the file system, so a variant layer written
/// `../../envs/aws.yaml` is reported as `envs/aws.yaml`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn expand_refs(refs: &[String], release: &str) -> Vec<String> {
    refs.iter()
        .map(|r| r.replace("{release}", release))
        .collect()
}

/// The target a user names on the command line: a variant name from `stackctl.toml`, an env
/// file (its chain built on `cloud`, by default the only cloud or `aws`), or a values file of
/// the chart (the variant ending with it, else that file alone).
pub fn resolve_target(repo: &Repo, cwd: &Path, spec: &str, cloud: Option<&str>) -> Result<Target> {
    let variants = variant_targets(repo);
    if let Some(variant) = variants.iter().find(|v| v.name == spec) {
        return Ok(variant.clone());
    }
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let accepted = || {
        let chart = repo.display_path(&repo.chart_dir());
        let envs = repo.display_path(&repo.envs_dir());
        let mut text = format!(
            "a target is an env file under {envs}/<dir>/ (such as {envs}/prod/console.yaml), a values file of {chart}/"
        );
        if !names.is_empty() {
            text.push_str(&format!(", or a variant: {}", names.join(", ")));
        }
        text
    };
    let joined = normalize(&cwd.join(spec));
    if std::fs::symlink_metadata(&joined).is_err() {
        return Err(Error::usage(format!(
            "no target {spec:?}: not a variant of stackctl.toml, nor a file"
        ))
        .with_hint(accepted()));
    }
    let root = repo
        .root
        .canonicalize()
        .unwrap_or_else(|_| repo.root.clone());
    let resolved = joined.canonicalize().ok();
    let inside = resolved.as_ref().is_some_and(|p| p.starts_with(&root));
    if !inside && !joined.starts_with(&repo.root) {
        return Err(Error::usage(format!(
            "{spec} is outside the repository {}: it is not a target",
            repo.root.display()
        ))
        .with_hint(accepted()));
    }
    // Keep the name as written when it is inside the repository (a linked env file is named
    // by its link), else the resolved path.
    let path = if joined.starts_with(&repo.root) {
        joined
    } else {
        resolved.clone().unwrap_or(joined)
    };
    if !regular_layer(repo, &path)? {
        return Err(
            Error::usage(format!("no target {spec:?}: the file does not exist"))
                .with_hint(accepted()),
        );
    }
    let name = repo.display_path(&path);
    let envs_dir = repo.envs_dir();
    let in_env_subdir = path
        .strip_prefix(&envs_dir)
        .is_ok_and(|rest| rest.components().count() >= 2);
    if in_env_subdir {
        if !is_yaml(&path) {
            return Err(
                Error::usage(format!("{name} is not a values file (.yaml or .yml)"))
                    .with_hint(accepted()),
            );
        }
        if is_default_layer(&path) {
            return Err(
                Error::usage(format!("{name} is a shared layer, not a target"))
                    .with_hint("name one of the env files of its directory"),
            );
        }
        let cloud = match cloud {
            Some(cloud) => cloud.to_string(),
            None => {
                let known = clouds(repo)?;
                match known.as_slice() {
                    [only] => only.clone(),
                    _ if known.iter().any(|c| c == "aws") => "aws".to_string(),
                    _ => {
                        return Err(Error::usage(format!("{name}: which cloud? pass --cloud"))
                            .with_hint(format!(
                                "clouds in this repository: {}",
                                known.join(", ")
                            )));
                    }
                }
            }
        };
        let cloud_file = cloud_file(repo, &cloud)?;
        return env_target(repo, &cloud_file, &path);
    }
    if let Some(variant) = variants.iter().find(|v| v.layers.last() == Some(&name)) {
        return Ok(variant.clone());
    }
    let in_chart_dir = path.parent() == Some(repo.chart_dir().as_path());
    if !(in_chart_dir && is_yaml(&path)) {
        return Err(Error::usage(format!("{name} is not a target")).with_hint(accepted()));
    }
    Ok(Target {
        name: name.clone(),
        layers: vec![name],
        release: repo.config.render.release.clone(),
        namespace: repo.config.render.namespace.clone(),
        external_refs: Vec::new(),
        kind: TargetKind::Variant,
        group: None,
        cloud: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with(files: &[&str], config: &str) -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}\n").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("charts")).unwrap();
        std::fs::write(dir.path().join("stackctl.toml"), config).unwrap();
        let repo = Repo::open(dir.path().to_path_buf()).unwrap();
        (dir, repo)
    }

    #[test]
    fn discovers_targets_and_chains_like_the_layering_rules() {
        let (_dir, repo) = repo_with(
            &[
                "envs/aws.yaml",
                "envs/README.md",
                "envs/prod/default.yaml",
                "envs/prod/console.yaml",
                "envs/prod/demo.yml",
                "envs/preview/preview.yaml",
                "envs/staging/default.yml",
                "envs/staging/link4.yaml",
                "envs/staging/nested/deep.yaml",
            ],
            "[targets.\"envs/prod/console.yaml\"]\nrelease = \"jetscale-console\"\nnamespace = \"jetscale-console\"\nexternal-refs = [\"{release}-aws-client-secret\"]\n",
        );
        let targets = env_targets(&repo, "aws").unwrap();
        let summary: Vec<(&str, Vec<&str>)> = targets
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.layers.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "envs/preview/preview.yaml",
                    vec!["envs/aws.yaml", "envs/preview/preview.yaml"]
                ),
                (
                    "envs/prod/console.yaml",
                    vec![
                        "envs/aws.yaml",
                        "envs/prod/default.yaml",
                        "envs/prod/console.yaml"
                    ]
                ),
                (
                    "envs/prod/demo.yml",
                    vec![
                        "envs/aws.yaml",
                        "envs/prod/default.yaml",
                        "envs/prod/demo.yml"
                    ]
                ),
                (
                    "envs/staging/link4.yaml",
                    vec![
                        "envs/aws.yaml",
                        "envs/staging/default.yml",
                        "envs/staging/link4.yaml"
                    ]
                ),
                (
                    "envs/staging/nested/deep.yaml",
                    vec!["envs/aws.yaml", "envs/staging/nested/deep.yaml"]
                ),
            ]
        );
        let console = &targets[1];
        assert_eq!(console.release, "jetscale-console");
        assert_eq!(
            console.external_refs,
            vec!["jetscale-console-aws-client-secret"]
        );
        assert_eq!(targets[0].release, "jetscale");
        assert_eq!(targets[0].namespace, "default");
    }

    #[test]
    fn missing_cloud_file_lists_the_clouds_that_exist() {
        let (_dir, repo) = repo_with(
            &["envs/aws.yaml", "envs/azure.yaml", "envs/prod/a.yaml"],
            "",
        );
        let err = env_targets(&repo, "gcp").unwrap_err();
        assert!(err.message.contains("envs/gcp.yaml"), "{}", err.message);
        assert_eq!(
            err.hint.as_deref(),
            Some("clouds in this repository: aws, azure")
        );
    }

    #[test]
    fn empty_envs_dir_says_what_is_expected() {
        let (_dir, repo) = repo_with(&["envs/aws.yaml"], "");
        let err = env_targets(&repo, "aws").unwrap_err();
        assert!(
            err.message.contains("no environments found"),
            "{}",
            err.message
        );
    }

    #[test]
    fn variants_resolve_layers_in_the_chart_directory() {
        let (_dir, repo) = repo_with(
            &["envs/aws.yaml"],
            "[variants.test-ci]\nlayers = [\"values.test.yaml\", \"values.test.ci.yaml\"]\nrelease = \"jetscale-ci\"\nnamespace = \"jetscale-ci\"\n",
        );
        let variants = variant_targets(&repo);
        assert_eq!(variants.len(), 1);
        assert_eq!(
            variants[0].layers,
            vec![
                "charts/jetscale/values.test.yaml",
                "charts/jetscale/values.test.ci.yaml"
            ]
        );
        assert_eq!(variants[0].kind, TargetKind::Variant);
    }
}

//! Targets: the env files to validate, and the chain of values layers each one applies.
//!
//! Which files of the envs directory are targets, and which layers go under each, is the
//! repository's layout ([`Layout`], `[envs] targets` and `layers` in `stackctl.toml`). By
//! default, for `envs/<dir>/<file>.yaml` the chain is: `envs/<cloud>.yaml`, then
//! `envs/<dir>/default.yaml` (or `default.yml`) if present, then the file itself; the chart's
//! own `values.yaml` sits beneath them all. Files directly in `envs/` are cloud files, not
//! targets, and files named `default.yaml`/`default.yml` are layers, not targets. Targets come
//! in lexical path order.

use std::path::{Path, PathBuf};

use super::layout::{Layout, yml_alternatives};
use crate::config::TargetConfig;
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

/// Every file of the envs directory the layout makes a target, in path order. Symlinks are
/// followed (a linked env file is a target like any other) once checked to stay inside the
/// repository; walkdir reports loops.
pub fn env_files(repo: &Repo, layout: &Layout) -> Result<Vec<PathBuf>> {
    let dir = &layout.dir;
    require_envs_dir(repo, dir)?;
    let mut files = Vec::new();
    let charts = ChartDirs::new(dir);
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(|e| walk_error(repo, dir, e))?;
        let path = entry.path();
        if entry.path_is_symlink() {
            check_link(repo, path)?;
        }
        let relative = relative_to(dir, path);
        if !layout.is_target(&relative) {
            continue;
        }
        if let Some(chart) = charts.holding(path)
            && !(path.parent() == Some(chart.as_path()) && is_values_file(path))
        {
            tracing::info!(
                "{} is a file of the chart {}, not a values file: not a target",
                repo.display_path(path),
                repo.display_path(&chart)
            );
            continue;
        }
        // A directory named like a target is an error, never skipped.
        if entry.file_type().is_dir() {
            return Err(not_regular(repo, path, "a directory"));
        }
        match crate::fsutil::special_kind(&entry.file_type()) {
            None => files.push(path.to_path_buf()),
            Some(what) => return Err(not_regular(repo, path, what)),
        }
    }
    Ok(files)
}

/// The charts inside the envs directory other than the umbrella chart (a flat layout keeps
/// its env files in the umbrella's directory on purpose): a configuration to warn about, as
/// every YAML file of an envs directory is usually a target.
pub fn charts_in_envs(repo: &Repo) -> Vec<PathBuf> {
    let umbrella = repo.chart_dir();
    ChartDirs::new(&repo.envs_dir())
        .dirs
        .into_iter()
        .filter(|dir| *dir != umbrella)
        .collect()
}

/// A chart's values file: `values.yaml`, `values-prod.yaml`, `values.prod.yml`.
fn is_values_file(path: &Path) -> bool {
    is_yaml(path)
        && path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("values"))
}

/// The chart directories inside the envs directory (one holding a `Chart.yaml`), whose files
/// other than their values files are never targets.
struct ChartDirs {
    dirs: Vec<PathBuf>,
}

impl ChartDirs {
    fn new(envs: &Path) -> ChartDirs {
        let dirs: Vec<PathBuf> = walkdir::WalkDir::new(envs)
            .follow_links(true)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_dir() && e.path().join("Chart.yaml").is_file())
            .map(|e| e.path().to_path_buf())
            .collect();
        ChartDirs { dirs }
    }

    /// The innermost chart directory holding `path`.
    fn holding(&self, path: &Path) -> Option<PathBuf> {
        self.dirs
            .iter()
            .filter(|dir| path.starts_with(dir))
            .max_by_key(|dir| dir.components().count())
            .cloned()
    }
}

/// The envs directory must be one: an error naming it and the setting otherwise.
fn require_envs_dir(repo: &Repo, dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::config(format!(
        "cannot read the envs directory {}: it is not a directory",
        repo.display_path(dir)
    ))
    .with_hint("set envs.dir in stackctl.toml if the environments live elsewhere"))
}

/// `path` relative to `dir`, `/`-separated.
fn relative_to(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The clouds this repository has: the values of `{cloud}` whose cloud layer exists
/// (`aws` for `envs/aws.yaml` under the default layers); none when no layer names a cloud.
pub fn clouds(repo: &Repo) -> Result<Vec<String>> {
    let layout = Layout::of(repo)?;
    if !layout.has_cloud() {
        return Ok(Vec::new());
    }
    let dir = &layout.dir;
    require_envs_dir(repo, dir)?;
    let entries = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(layout.cloud_depth())
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| relative_to(dir, e.path()))
        .collect::<Vec<_>>();
    Ok(layout.clouds(&entries))
}

/// The release of a target without its own: `[render] release`, else the chart's name (as
/// `helm install` users name a first release), else the chart directory's name.
pub fn default_release(repo: &Repo) -> String {
    if let Some(release) = &repo.config.render.release {
        return release.clone();
    }
    let chart_dir = repo.chart_dir();
    crate::deps::chartfile::ChartFile::load(&chart_dir)
        .ok()
        .map(|chart| chart.name().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| {
            let root = repo
                .root
                .canonicalize()
                .unwrap_or_else(|_| repo.root.clone());
            chart_dir
                .canonicalize()
                .unwrap_or(chart_dir)
                .file_name()
                .or(root.file_name())
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "release".to_string())
}

/// Every env target on `cloud` (which the layout needs when a layer names `{cloud}`, and
/// refuses when none does), with its layer chain, release and namespace.
pub fn env_targets(repo: &Repo, cloud: Option<&str>) -> Result<Vec<Target>> {
    let layout = Layout::of(repo)?;
    let cloud = check_cloud(repo, &layout, cloud)?;
    let files = env_files(repo, &layout)?;
    if files.is_empty() {
        let dir = repo.display_path(&layout.dir);
        return Err(Error::usage(format!(
            "no environments found: no file of {} matches envs.targets ({})",
            display_join(&dir, ""),
            repo.config.envs.targets.join(", ")
        ))
        .with_hint(format!(
            "add an env file such as {}, or set envs.targets in stackctl.toml",
            repo.display_file(&layout.dir, "<dir>/<name>.yaml")
        )));
    }
    // Read once: the default comes from the chart's Chart.yaml.
    let release = default_release(repo);
    files
        .into_iter()
        .map(|file| env_target(repo, &layout, cloud.as_deref(), &release, &file))
        .collect()
}

/// The cloud a run validates on: the one named, which must have its layer; none when the
/// layout names no cloud.
fn check_cloud(repo: &Repo, layout: &Layout, cloud: Option<&str>) -> Result<Option<String>> {
    let known = clouds(repo)?;
    match (layout.has_cloud(), cloud) {
        (false, None) => Ok(None),
        (false, Some(cloud)) => Err(Error::usage(format!(
            "no cloud layer: envs.layers ({}) names no {{cloud}}, so there is no {cloud:?} to validate on",
            repo.config.envs.layers.join(", ")
        ))
        .with_hint("run `stackctl validate envs` without a cloud")),
        (true, Some(cloud)) if known.iter().any(|k| k == cloud) => Ok(Some(cloud.to_string())),
        (true, named) => {
            let template = layout
                .layers
                .iter()
                .find(|l| l.template.contains("{cloud}"))
                .map(|l| l.template.clone())
                .unwrap_or_default();
            let example = named.unwrap_or("<cloud>");
            let expected = repo.display_file(&layout.dir, &template.replace("{cloud}", example));
            let hint = if known.is_empty() {
                format!("create {expected} with the values every environment on {example} shares")
            } else {
                format!("clouds in this repository: {}", known.join(", "))
            };
            let message = match named {
                Some(cloud) => format!("no cloud values file for {cloud:?}: expected {expected}"),
                None => "name the cloud to validate on: `stackctl validate envs <cloud>`".to_string(),
            };
            Err(Error::usage(message).with_hint(hint))
        }
    }
}

/// The target `file` on `cloud`: its layers by the layout, its release and namespace by
/// `[targets]` and `[render]` (`default_release` when neither names one).
fn env_target(
    repo: &Repo,
    layout: &Layout,
    cloud: Option<&str>,
    default_release: &str,
    file: &Path,
) -> Result<Target> {
    let relative = relative_to(&layout.dir, file);
    let name = repo.display_path(file);
    let mut layers = Vec::new();
    for (path, template) in layout.chain(&relative, cloud) {
        if template.template == "{file}" {
            layers.push(name.clone());
            continue;
        }
        let mut found = None;
        for candidate in yml_alternatives(&path) {
            let candidate = layout.dir.join(candidate);
            // A layer that is a directory or a FIFO is an error, never dropped.
            if regular_layer(repo, &candidate)? {
                found = Some(candidate);
                break;
            }
        }
        match found {
            Some(layer) => layers.push(repo.display_path(&layer)),
            None if template.optional => {}
            None => {
                return Err(Error::config(format!(
                    "{name}: its layer {} ({:?} of envs.layers) does not exist",
                    repo.display_file(&layout.dir, &path),
                    template.template
                ))
                .at(name.clone(), None)
                .with_hint(
                    "create it, or mark the layer optional in stackctl.toml with a final `?`",
                ));
            }
        }
    }
    let group = relative.split_once('/').map(|(dir, _)| dir.to_string());
    let (settings, tables) = target_settings(repo, &name);
    let placeholders = TargetNames::new(&relative);
    let release = settings
        .release
        .map(|template| placeholders.expand(&template))
        .unwrap_or_else(|| placeholders.expand(default_release));
    let namespace = settings
        .namespace
        .unwrap_or_else(|| repo.config.render.namespace.clone());
    let namespace = placeholders.expand(&namespace);
    let external_refs = expand_refs(&settings.external_refs.unwrap_or_default(), &release);
    Ok(Target {
        name,
        layers,
        release,
        namespace,
        external_refs,
        kind: TargetKind::Env,
        group,
        cloud: cloud.map(str::to_string),
        tables,
    })
}

/// Whether a `[targets]` key is a glob (`envs/staging/*`) rather than one file.
pub fn is_table_pattern(key: &str) -> bool {
    key.contains(['*', '?', '[', '{'])
}

/// The matcher of a `[targets]` pattern key (`*` within a directory, `**` across any);
/// `None` when it is not a glob.
pub fn table_pattern(key: &str) -> Option<globset::GlobMatcher> {
    globset::GlobBuilder::new(key)
        .literal_separator(true)
        .build()
        .ok()
        .map(|glob| glob.compile_matcher())
}

/// The `[targets]` tables that apply to the env file `name` (repository-relative), least
/// specific first, folded into one: a file's own table beats any pattern, a pattern with more
/// literal characters beats one with fewer (`envs/staging/*` over `envs/*/*`), and each table
/// sets only the fields it names. Also the keys of the tables that applied.
pub fn target_settings(repo: &Repo, name: &str) -> (TargetConfig, Vec<String>) {
    let mut matching: Vec<(bool, usize, &String, &TargetConfig)> = repo
        .config
        .targets
        .iter()
        .filter_map(|(key, table)| {
            if key == name {
                return Some((true, key.len(), key, table));
            }
            let literal = key.chars().filter(|c| !"*?[]{}".contains(*c)).count();
            (is_table_pattern(key) && table_pattern(key)?.is_match(name))
                .then_some((false, literal, key, table))
        })
        .collect();
    matching.sort_by_key(|(exact, literal, key, _)| (*exact, *literal, (*key).clone()));
    let mut folded = TargetConfig::default();
    for (_, _, _, table) in &matching {
        if table.release.is_some() {
            folded.release = table.release.clone();
        }
        if table.namespace.is_some() {
            folded.namespace = table.namespace.clone();
        }
        if table.external_refs.is_some() {
            folded.external_refs = table.external_refs.clone();
        }
    }
    let keys = matching
        .into_iter()
        .map(|(_, _, key, _)| key.clone())
        .collect();
    (folded, keys)
}

/// What release and namespace templates may say of an env target: `{name}` (its file name
/// without extension), `{dir}` (its directory under the envs directory, `/` written `-`).
struct TargetNames {
    name: String,
    dir: String,
}

impl TargetNames {
    fn new(relative: &str) -> TargetNames {
        let path = Path::new(relative);
        TargetNames {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: path
                .parent()
                .map(|p| p.to_string_lossy().replace('/', "-"))
                .unwrap_or_default(),
        }
    }

    fn expand(&self, template: &str) -> String {
        template
            .replace("{name}", &self.name)
            .replace("{dir}", &self.dir)
    }
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
            tables: Vec::new(),
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
        let chart_values = match chart.as_str() {
            "" => "a values file of the chart at the repository root".to_string(),
            chart => format!("a values file of {chart}/"),
        };
        let mut text = format!(
            "a target is an env file under {}, {chart_values}",
            display_join(&envs, "<dir>/")
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
    let layout = Layout::of(repo)?;
    if path.starts_with(&layout.dir) {
        let relative = relative_to(&layout.dir, &path);
        if layout.is_target(&relative) {
            let cloud = match (layout.has_cloud(), cloud) {
                (true, None) => {
                    let known = clouds(repo)?;
                    match known.as_slice() {
                        [only] => Some(only.clone()),
                        _ if known.iter().any(|c| c == "aws") => Some("aws".to_string()),
                        _ => {
                            return Err(Error::usage(format!("{name}: which cloud? pass --cloud"))
                                .with_hint(format!(
                                    "clouds in this repository: {}",
                                    known.join(", ")
                                )));
                        }
                    }
                }
                (_, named) => named.map(str::to_string),
            };
            let cloud = check_cloud(repo, &layout, cloud.as_deref())?;
            return env_target(
                repo,
                &layout,
                cloud.as_deref(),
                &default_release(repo),
                &path,
            );
        }
        if layout.is_layer(&relative) {
            return Err(
                Error::usage(format!("{name} is a shared layer, not a target"))
                    .with_hint("name one of the env files it lies under"),
            );
        }
        if relative.contains('/') && !is_yaml(&path) {
            return Err(
                Error::usage(format!("{name} is not a values file (.yaml or .yml)"))
                    .with_hint(accepted()),
            );
        }
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
        release: default_release(repo),
        namespace: repo.config.render.namespace.clone(),
        external_refs: Vec::new(),
        kind: TargetKind::Variant,
        group: None,
        cloud: None,
        tables: Vec::new(),
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
        let targets = env_targets(&repo, Some("aws")).unwrap();
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
        let err = env_targets(&repo, Some("gcp")).unwrap_err();
        assert!(err.message.contains("envs/gcp.yaml"), "{}", err.message);
        assert_eq!(
            err.hint.as_deref(),
            Some("clouds in this repository: aws, azure")
        );
    }

    #[test]
    fn empty_envs_dir_says_what_is_expected() {
        let (_dir, repo) = repo_with(&["envs/aws.yaml"], "");
        let err = env_targets(&repo, Some("aws")).unwrap_err();
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

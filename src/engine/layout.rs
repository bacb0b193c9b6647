//! How a repository lays out its environments: which files of the envs directory are targets
//! (`[envs] targets`, globs) and which values layers go under each (`[envs] layers`, path
//! templates), as `stackctl.toml` says, with this repository's layout as the default:
//!
//! ```toml
//! [envs]
//! targets = ["*/**/*.yaml", "*/**/*.yml"]
//! layers = ["{cloud}.yaml", "{dir}/default.yaml?", "{file}"]
//! ```
//!
//! A layer template may use `{file}` (the target, relative to the envs directory), `{dir}` (its
//! directory, `staging` for `staging/link4.yaml`; empty at the top), `{name}` (its file name
//! without extension) and `{cloud}` (the cloud `validate envs <cloud>` names). A template
//! ending in `?` is optional: a missing file is skipped. A template ending in `.yaml` also
//! finds the same name ending in `.yml`. A file that a layer template could name is a layer,
//! never a target.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::repo::Repo;

/// The placeholders layer templates may use.
const PLACEHOLDERS: [&str; 4] = ["{file}", "{dir}", "{name}", "{cloud}"];

/// One `[envs] layers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerTemplate {
    /// The path template, relative to the envs directory, without the optional marker.
    pub template: String,
    pub optional: bool,
}

impl LayerTemplate {
    fn parse(written: &str) -> LayerTemplate {
        match written.strip_suffix('?') {
            Some(template) => LayerTemplate {
                template: template.to_string(),
                optional: true,
            },
            None => LayerTemplate {
                template: written.to_string(),
                optional: false,
            },
        }
    }

    fn is_target(&self) -> bool {
        self.template == "{file}"
    }

    fn uses_cloud(&self) -> bool {
        self.template.contains("{cloud}")
    }

    /// The path this template names for the target `file` on `cloud` (relative to the envs
    /// directory), `.` components and empty directories removed.
    fn resolve(&self, file: &str, cloud: Option<&str>) -> String {
        let path = Path::new(file);
        let dir = path
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let resolved = self
            .template
            .replace("{file}", file)
            .replace("{dir}", &dir)
            .replace("{name}", &name)
            .replace("{cloud}", cloud.unwrap_or_default());
        resolved
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A glob for every file this template could name, whatever the target: a file it
    /// matches is a layer, not a target.
    fn as_glob(&self) -> String {
        let glob = self
            .template
            .replace("{dir}/", "**/")
            .replace("{dir}", "**")
            .replace("{name}", "*")
            .replace("{cloud}", "*");
        glob.trim_start_matches("./").to_string()
    }
}

/// The environments' layout of a repository.
#[derive(Debug)]
pub struct Layout {
    /// The envs directory, absolute.
    pub dir: PathBuf,
    targets: GlobSet,
    /// Files that are layers, never targets.
    layer_files: GlobSet,
    pub layers: Vec<LayerTemplate>,
}

/// A glob matched against `/`-separated paths relative to the envs directory, where `*`
/// stays within one directory and `**` crosses any number.
fn glob(pattern: &str) -> std::result::Result<Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

impl Layout {
    /// The layout `stackctl.toml` describes; a template or glob that cannot work is a
    /// configuration error at its line.
    pub fn of(repo: &Repo) -> Result<Layout> {
        let config = &repo.config.envs;
        let file = Path::new(crate::config::CONFIG_FILE);
        let at = |key: &str| {
            repo.config
                .entry_lines
                .get(&("envs".to_string(), key.to_string()))
                .copied()
        };
        let invalid = |key: &str, message: String, hint: &str| {
            Error::config(format!("invalid {}: envs.{key} {message}", file.display()))
                .at(file, at(key))
                .with_hint(hint.to_string())
        };
        let mut targets = GlobSetBuilder::new();
        for pattern in &config.targets {
            let compiled = glob(pattern).map_err(|e| {
                invalid(
                    "targets",
                    format!("{pattern:?} is not a glob: {}", e.kind()),
                    "write globs relative to envs.dir, like \"*/**/*.yaml\" or \"values-*.yaml\"",
                )
            })?;
            targets.add(compiled);
        }
        let layers: Vec<LayerTemplate> = config
            .layers
            .iter()
            .map(|l| LayerTemplate::parse(l))
            .collect();
        let layer_hint = "list the layers lowest first, with \"{file}\" (the target) once, like [\"{cloud}.yaml\", \"{dir}/default.yaml?\", \"{file}\"]";
        if layers.iter().filter(|l| l.is_target()).count() != 1 {
            return Err(invalid(
                "layers",
                "must name the target itself, \"{file}\", exactly once".to_string(),
                layer_hint,
            ));
        }
        let mut layer_files = GlobSetBuilder::new();
        for layer in layers.iter().filter(|l| !l.is_target()) {
            let mut rest = layer.template.clone();
            for placeholder in PLACEHOLDERS {
                rest = rest.replace(placeholder, "");
            }
            if let Some(open) = rest.find('{') {
                return Err(invalid(
                    "layers",
                    format!(
                        "{:?} uses {}, which is not a placeholder",
                        layer.template,
                        &rest[open..rest[open..].find('}').map_or(rest.len(), |c| open + c + 1)]
                    ),
                    "placeholders: {file}, {dir}, {name}, {cloud}",
                ));
            }
            if layer.template.contains("{file}") {
                return Err(invalid(
                    "layers",
                    format!("{:?} uses {{file}} inside a path", layer.template),
                    layer_hint,
                ));
            }
            let pattern = layer.as_glob();
            for pattern in yml_alternatives(&pattern) {
                let compiled = glob(&pattern).map_err(|e| {
                    invalid(
                        "layers",
                        format!("{:?} is not a path template: {}", layer.template, e.kind()),
                        layer_hint,
                    )
                })?;
                layer_files.add(compiled);
            }
        }
        let build = |set: GlobSetBuilder, key: &str| {
            set.build()
                .map_err(|e| invalid(key, format!("cannot be compiled: {e}"), "fix the globs"))
        };
        Ok(Layout {
            dir: repo.envs_dir(),
            targets: build(targets, "targets")?,
            layer_files: build(layer_files, "layers")?,
            layers,
        })
    }

    /// Whether a layer names a cloud: then `validate envs` needs one.
    pub fn has_cloud(&self) -> bool {
        self.layers.iter().any(LayerTemplate::uses_cloud)
    }

    /// Whether `relative` (to the envs directory, `/`-separated) is a target.
    pub fn is_target(&self, relative: &str) -> bool {
        self.targets.is_match(relative) && !self.is_layer(relative)
    }

    /// Whether `relative` is a file some layer template names.
    pub fn is_layer(&self, relative: &str) -> bool {
        self.layer_files.is_match(relative)
    }

    /// How many directory levels deep the cloud layer lies (1 for `{cloud}.yaml`): how far
    /// to look for the clouds.
    pub fn cloud_depth(&self) -> usize {
        self.layers
            .iter()
            .find(|l| l.uses_cloud())
            .map_or(1, |l| l.template.split('/').count())
    }

    /// The clouds: the values of `{cloud}` for which the cloud layer exists (`aws` for
    /// `aws.yaml` under `{cloud}.yaml`), sorted.
    pub fn clouds(&self, files: &[String]) -> Vec<String> {
        let Some(template) = self.layers.iter().find(|l| l.uses_cloud()) else {
            return Vec::new();
        };
        let (before, after) = template
            .template
            .split_once("{cloud}")
            .expect("a cloud template holds {cloud}");
        let mut clouds: Vec<String> = files
            .iter()
            .filter_map(|file| {
                yml_alternatives(after).into_iter().find_map(|after| {
                    let cloud = file.strip_prefix(before)?.strip_suffix(&after)?;
                    (!cloud.is_empty() && !cloud.contains('/')).then(|| cloud.to_string())
                })
            })
            .collect();
        clouds.sort();
        clouds.dedup();
        clouds
    }

    /// The layers of the target `file` on `cloud`, lowest first, each as a path relative to
    /// the envs directory with whether it may be missing. The `.yml` alternative of a `.yaml`
    /// layer is the caller's to try.
    pub fn chain(&self, file: &str, cloud: Option<&str>) -> Vec<(String, &LayerTemplate)> {
        self.layers
            .iter()
            .map(|layer| (layer.resolve(file, cloud), layer))
            .collect()
    }
}

/// `pattern`, and the same ending in `.yml` when it ends in `.yaml`.
pub fn yml_alternatives(pattern: &str) -> Vec<String> {
    match pattern.strip_suffix(".yaml") {
        Some(stem) => vec![pattern.to_string(), format!("{stem}.yml")],
        None => vec![pattern.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(targets: &[&str], layers: &[&str]) -> Layout {
        let mut repo = Repo::for_tests(Path::new("/repo"));
        repo.config.envs.targets = targets.iter().map(|t| t.to_string()).collect();
        repo.config.envs.layers = layers.iter().map(|t| t.to_string()).collect();
        Layout::of(&repo).unwrap()
    }

    fn default_layout() -> Layout {
        Layout::of(&Repo::for_tests(Path::new("/repo"))).unwrap()
    }

    #[test]
    fn the_default_layout_is_clouds_then_directory_defaults_then_the_file() {
        let layout = default_layout();
        assert!(layout.has_cloud());
        for target in ["prod/console.yaml", "staging/link4.yml", "a/b/c.yaml"] {
            assert!(layout.is_target(target), "{target}");
        }
        for not_target in [
            "aws.yaml",
            "prod/default.yaml",
            "prod/default.yml",
            "README.md",
            "prod/notes.txt",
        ] {
            assert!(!layout.is_target(not_target), "{not_target}");
        }
        let chain: Vec<(String, bool)> = layout
            .chain("staging/link4.yaml", Some("aws"))
            .into_iter()
            .map(|(path, layer)| (path, layer.optional))
            .collect();
        assert_eq!(
            chain,
            [
                ("aws.yaml".to_string(), false),
                ("staging/default.yaml".to_string(), true),
                ("staging/link4.yaml".to_string(), false),
            ]
        );
        let files = ["aws.yaml", "gcp.yml", "prod/console.yaml", "README.md"].map(String::from);
        assert_eq!(layout.clouds(&files), ["aws", "gcp"]);
    }

    #[test]
    fn other_layouts_are_described_by_globs_and_templates() {
        // environments/<env>/values.yaml, no cloud.
        let per_env = layout(&["*/values.yaml"], &["common.yaml?", "{file}"]);
        assert!(!per_env.has_cloud());
        assert!(per_env.is_target("prod/values.yaml"));
        assert!(!per_env.is_target("prod/extra.yaml"));
        assert_eq!(per_env.chain("prod/values.yaml", None)[0].0, "common.yaml");
        // values-<env>.yaml inside the chart.
        let flat = layout(&["values-*.yaml"], &["{file}"]);
        assert!(flat.is_target("values-prod.yaml"));
        assert!(!flat.is_target("values.yaml"));
        assert!(!flat.is_target("Chart.yaml"));
        // A layer named after the target.
        let named = layout(&["*.yaml"], &["{name}.defaults.yaml?", "{file}"]);
        assert!(named.is_target("prod.yaml"));
        assert!(!named.is_target("prod.defaults.yaml"));
    }

    #[test]
    fn a_layer_list_without_the_target_or_with_an_unknown_placeholder_is_refused() {
        for layers in [
            vec!["{cloud}.yaml"],
            vec!["{file}", "{file}"],
            vec!["{env}.yaml", "{file}"],
        ] {
            let mut repo = Repo::for_tests(Path::new("/repo"));
            repo.config.envs.layers = layers.iter().map(|t| t.to_string()).collect();
            let err = Layout::of(&repo).unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::Config, "{layers:?}");
            assert!(err.message.contains("envs.layers"), "{err}");
        }
        let mut repo = Repo::for_tests(Path::new("/repo"));
        repo.config.envs.targets = vec!["[".to_string()];
        assert!(
            Layout::of(&repo)
                .unwrap_err()
                .message
                .contains("envs.targets")
        );
    }
}

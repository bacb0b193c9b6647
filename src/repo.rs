//! The repository: where its root is, where the chart and envs live, and its configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{CONFIG_FILE, Config};
use crate::error::{Error, Result};

/// A located repository with its configuration resolved.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Absolute path of the repository root.
    pub root: PathBuf,
    pub config: Config,
    /// Whether the configuration came from a `stackctl.toml` (false: all defaults).
    pub config_found: bool,
}

impl Repo {
    /// Find the repository that contains `start`: the nearest ancestor holding `stackctl.toml`,
    /// else the nearest holding both `charts/` and `envs/`.
    pub fn discover(start: &Path) -> Result<Repo> {
        Repo::open(Repo::find_root(start)?)
    }

    /// The root of the repository that contains `start`, as [`Repo::discover`] finds it.
    pub fn find_root(start: &Path) -> Result<PathBuf> {
        let start = start
            .canonicalize()
            .map_err(|e| Error::io("resolve", start, e))?;
        let root = start
            .ancestors()
            .find(|dir| dir.join(CONFIG_FILE).is_file())
            .or_else(|| {
                start
                    .ancestors()
                    .find(|dir| dir.join("charts").is_dir() && dir.join("envs").is_dir())
            })
            .ok_or_else(|| {
                Error::usage(format!(
                    "{} is not inside a Stack repository (no {CONFIG_FILE}, and no directory with both charts/ and envs/ above it)",
                    start.display()
                ))
                .with_hint("run stackctl from the repository, or pass -C <repository>")
            })?
            .to_path_buf();
        Ok(root)
    }

    /// Open the repository at `root`, reading `stackctl.toml` if it exists.
    pub fn open(root: PathBuf) -> Result<Repo> {
        let path = root.join(CONFIG_FILE);
        let (config, config_found) = match crate::fsutil::read_text(&path) {
            Ok(text) => (Config::parse(&text, Path::new(CONFIG_FILE))?, true),
            Err(problem) if problem.is_missing() => (Config::default(), false),
            Err(problem) => return Err(problem.into_error(&path)),
        };
        Ok(Repo::configured(root, config, config_found))
    }

    /// The repository at `root` as if it had no `stackctl.toml`: every setting at its
    /// default, the chart found. What `init` starts from, whatever file is there.
    pub fn unconfigured(root: PathBuf) -> Repo {
        Repo::configured(root, Config::default(), false)
    }

    fn configured(root: PathBuf, config: Config, config_found: bool) -> Repo {
        let mut config = config;
        if !config.chart.path_set
            && let Some(found) = find_chart(&root)
        {
            config.chart.path = found;
        }
        crate::fsutil::set_max_input_size(config.files.max_size.0);
        Repo {
            root,
            config,
            config_found,
        }
    }

    /// Local sources of dependency charts, by name: `[dependencies.sources]`, else every
    /// chart directory beside the umbrella chart (`charts/backend` beside `charts/app`),
    /// by its directory's name. A source is used for a dependency only when its `Chart.yaml`
    /// declares the locked name and version.
    pub fn local_sources(&self) -> BTreeMap<String, PathBuf> {
        if let Some(sources) = &self.config.dependencies.sources {
            return sources.clone();
        }
        let chart = &self.config.chart.path;
        let Some(parent) = chart.parent().filter(|_| !chart.as_os_str().is_empty()) else {
            return BTreeMap::new();
        };
        let Ok(entries) = std::fs::read_dir(self.path(parent)) else {
            return BTreeMap::new();
        };
        entries
            .flatten()
            .map(|entry| parent.join(entry.file_name()))
            .filter(|dir| dir != chart && self.path(dir).join("Chart.yaml").is_file())
            .filter_map(|dir| {
                let name = dir.file_name()?.to_string_lossy().into_owned();
                Some((name, dir))
            })
            .collect()
    }

    /// A repository at `root` with the default configuration, for unit tests.
    #[cfg(test)]
    pub fn for_tests(root: &Path) -> Repo {
        Repo {
            root: root.to_path_buf(),
            config: Config::default(),
            config_found: false,
        }
    }

    /// An absolute path for a repository-relative one.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// The umbrella chart directory.
    pub fn chart_dir(&self) -> PathBuf {
        self.path(&self.config.chart.path)
    }

    pub fn envs_dir(&self) -> PathBuf {
        self.path(&self.config.envs.dir)
    }

    /// `name` inside the repository directory `dir`, as reports show it: `values.yaml` for the
    /// root, `charts/app/values.yaml` for `charts/app`.
    pub fn display_file(&self, dir: &Path, name: &str) -> String {
        self.display_path(&dir.join(name))
    }

    /// Render a path as the repository-relative, `/`-separated form used in reports.
    pub fn display_path(&self, path: &Path) -> String {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The umbrella chart of a repository whose `stackctl.toml` does not name it: a chart at the
/// root; else the only chart directly under `charts/`; else the only one of them that has
/// dependencies (the umbrella over its service charts). `None` when that is not one chart.
fn find_chart(root: &Path) -> Option<PathBuf> {
    const CHART_FILE: &str = "Chart.yaml";
    if root.join(CHART_FILE).is_file() {
        return Some(PathBuf::new());
    }
    let mut charts: Vec<PathBuf> = std::fs::read_dir(root.join("charts"))
        .ok()?
        .flatten()
        .map(|entry| Path::new("charts").join(entry.file_name()))
        .filter(|dir| root.join(dir).join(CHART_FILE).is_file())
        .collect();
    charts.sort();
    if charts.len() > 1 {
        // A quick look, not a parse: a chart whose Chart.yaml has a `dependencies:` key.
        charts.retain(|dir| {
            crate::fsutil::read_text(&root.join(dir).join(CHART_FILE))
                .is_ok_and(|text| text.lines().any(|line| line.starts_with("dependencies:")))
        });
    }
    match charts.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

//! `Chart.yaml` and `Chart.lock` as helm reads them, with the line and byte span of every
//! field stackctl reports on or edits.

use std::path::{Path, PathBuf};

use crate::deps::document::{self, Node, ScalarText, Source};
use crate::error::{Error, Result};

pub const CHART_FILE: &str = "Chart.yaml";
pub const LOCK_FILE: &str = "Chart.lock";

/// A dependency with exactly the fields of helm's `chart.Dependency` that enter the lock
/// digest, in helm's terms (empty string = absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HelmDependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<serde_json::Value>,
    pub enabled: bool,
    pub import_values: Vec<serde_json::Value>,
    pub alias: String,
}

impl HelmDependency {
    /// The name the parent chart's values use for this dependency: its alias, else its name.
    pub fn effective_name(&self) -> &str {
        if self.alias.is_empty() {
            &self.name
        } else {
            &self.alias
        }
    }
}

/// One entry of a `dependencies` list, located in its file.
#[derive(Debug, Clone)]
pub struct DependencyEntry {
    pub fields: HelmDependency,
    /// 1-based line of the list item (its first key).
    pub line: usize,
    pub column: usize,
    pub name_at: Option<ScalarText>,
    pub version_at: Option<ScalarText>,
    pub repository_at: Option<ScalarText>,
}

impl DependencyEntry {
    /// The line of the version field, else of the entry.
    pub fn version_line(&self) -> (usize, usize) {
        self.version_at
            .as_ref()
            .map(|s| (s.line, s.column))
            .unwrap_or((self.line, self.column))
    }
    pub fn repository_line(&self) -> (usize, usize) {
        self.repository_at
            .as_ref()
            .map(|s| (s.line, s.column))
            .unwrap_or((self.line, self.column))
    }
    pub fn name_line(&self) -> (usize, usize) {
        self.name_at
            .as_ref()
            .map(|s| (s.line, s.column))
            .unwrap_or((self.line, self.column))
    }
}

/// A parsed `Chart.yaml`.
#[derive(Debug, Clone)]
pub struct ChartFile {
    pub path: PathBuf,
    pub source: Source,
    pub name: Option<ScalarText>,
    pub version: Option<ScalarText>,
    pub app_version: Option<ScalarText>,
    pub dependencies: Vec<DependencyEntry>,
    /// Line of the `dependencies:` key, for findings about the list as a whole.
    pub dependencies_line: Option<usize>,
}

impl ChartFile {
    /// Read `<chart_dir>/Chart.yaml`. A missing or unreadable file is a configuration error.
    pub fn load(chart_dir: &Path) -> Result<ChartFile> {
        let path = chart_dir.join(CHART_FILE);
        let text = crate::fsutil::read_input_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::config(format!("{} does not exist", path.display()))
                    .at(&path, None)
                    .with_hint("check chart.path in stackctl.toml, or run from the repository")
            } else {
                Error::io("read", &path, e)
            }
        })?;
        ChartFile::parse(&path, text)
    }

    pub fn parse(path: &Path, text: impl Into<String>) -> Result<ChartFile> {
        let source = parse_source(path, text)?;
        let root = &source.root;
        let scalar = |key: &str| document::get(root, key).and_then(|n| source.scalar(n));
        let name = scalar("name");
        let version = scalar("version");
        let app_version = scalar("appVersion");
        let (dependencies, dependencies_line) = match document::get(root, "dependencies") {
            None => (Vec::new(), None),
            Some(list) => (
                parse_dependencies(path, &source, list)?,
                key_line(root, "dependencies"),
            ),
        };
        Ok(ChartFile {
            path: path.to_path_buf(),
            source,
            name,
            version,
            app_version,
            dependencies,
            dependencies_line,
        })
    }

    pub fn name(&self) -> &str {
        self.name.as_ref().map(|s| s.value.as_str()).unwrap_or("")
    }

    pub fn version(&self) -> &str {
        self.version
            .as_ref()
            .map(|s| s.value.as_str())
            .unwrap_or("")
    }

    pub fn helm_dependencies(&self) -> Vec<HelmDependency> {
        self.dependencies.iter().map(|d| d.fields.clone()).collect()
    }
}

/// A parsed `Chart.lock`.
#[derive(Debug, Clone)]
pub struct LockFile {
    pub path: PathBuf,
    pub source: Source,
    pub dependencies: Vec<DependencyEntry>,
    pub dependencies_line: Option<usize>,
    pub digest: Option<ScalarText>,
    pub generated: Option<ScalarText>,
}

impl LockFile {
    /// Read `<chart_dir>/Chart.lock`; `Ok(None)` when it does not exist.
    pub fn load(chart_dir: &Path) -> Result<Option<LockFile>> {
        let path = chart_dir.join(LOCK_FILE);
        match crate::fsutil::read_input_string(&path) {
            Ok(text) => LockFile::parse(&path, text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    pub fn parse(path: &Path, text: impl Into<String>) -> Result<LockFile> {
        let source = parse_source(path, text)?;
        let root = &source.root;
        let (dependencies, dependencies_line) = match document::get(root, "dependencies") {
            None => (Vec::new(), None),
            Some(list) => (
                parse_dependencies(path, &source, list)?,
                key_line(root, "dependencies"),
            ),
        };
        let digest = document::get(root, "digest").and_then(|n| source.scalar(n));
        let generated = document::get(root, "generated").and_then(|n| source.scalar(n));
        Ok(LockFile {
            path: path.to_path_buf(),
            source,
            dependencies,
            dependencies_line,
            digest,
            generated,
        })
    }

    pub fn digest(&self) -> &str {
        self.digest.as_ref().map(|s| s.value.as_str()).unwrap_or("")
    }

    pub fn helm_dependencies(&self) -> Vec<HelmDependency> {
        self.dependencies.iter().map(|d| d.fields.clone()).collect()
    }
}

fn parse_source(path: &Path, text: impl Into<String>) -> Result<Source> {
    let source = Source::parse(text).map_err(|e| {
        Error::config(format!(
            "{} is not valid YAML: {}",
            path.display(),
            e.message
        ))
        .at(path, Some(e.line))
    })?;
    if !matches!(source.root.data, saphyr::YamlData::Mapping(_)) && !document::is_null(&source.root)
    {
        return Err(
            Error::config(format!("{} must be a YAML mapping", path.display())).at(path, Some(1)),
        );
    }
    Ok(source)
}

fn key_line(map: &Node, key: &str) -> Option<usize> {
    document::entries(map)
        .into_iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, k, _)| k.span.start.line())
}

fn parse_dependencies(path: &Path, source: &Source, list: &Node) -> Result<Vec<DependencyEntry>> {
    if document::is_null(list) {
        return Ok(Vec::new());
    }
    if !matches!(list.data, saphyr::YamlData::Sequence(_)) {
        let (line, _) = Source::position(list);
        return Err(
            Error::config(format!("{}: `dependencies` must be a list", path.display()))
                .at(path, Some(line)),
        );
    }
    document::items(list)
        .iter()
        .map(|item| parse_dependency(path, source, item))
        .collect()
}

fn parse_dependency(path: &Path, source: &Source, item: &Node) -> Result<DependencyEntry> {
    let (line, column) = Source::position(item);
    if !matches!(item.data, saphyr::YamlData::Mapping(_)) {
        return Err(Error::config(format!(
            "{}: every entry of `dependencies` must be a mapping with name, version and repository",
            path.display()
        ))
        .at(path, Some(line)));
    }
    let scalar = |key: &str| document::get(item, key).and_then(|n| source.scalar(n));
    let text = |key: &str| scalar(key).map(|s| s.value).unwrap_or_default();
    let list = |key: &str| match document::get(item, key).map(document::to_json) {
        Some(serde_json::Value::Array(values)) => values,
        _ => Vec::new(),
    };
    let enabled = matches!(
        document::get(item, "enabled").map(document::to_json),
        Some(serde_json::Value::Bool(true))
    );
    let fields = HelmDependency {
        name: text("name"),
        version: text("version"),
        repository: text("repository"),
        condition: text("condition"),
        tags: list("tags"),
        enabled,
        import_values: list("import-values"),
        alias: text("alias"),
    };
    Ok(DependencyEntry {
        fields,
        line,
        column,
        name_at: scalar("name"),
        version_at: scalar("version"),
        repository_at: scalar("repository"),
    })
}

/// Whether a version is one exact SemVer version (what a pin must be).
pub fn is_exact_version(version: &str) -> bool {
    semver::Version::parse(version).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: &str = r#"apiVersion: v2
name: jetscale
# CI sets these; do not edit by hand.
version: 0.24.9
appVersion: "0.24.9"
dependencies:
  - name: backend
    alias: backend-api
    version: "4.6.12"
    repository: oci://ghcr.io/jetscale-ai/charts
    condition: backend-api.enabled
  - name: frontend
    version: "2.7.1"
    repository: oci://ghcr.io/jetscale-ai/charts
    tags: [web]
    import-values:
      - child: exports
        parent: frontend
"#;

    #[test]
    fn reads_dependencies_with_positions() {
        let chart = ChartFile::parse(Path::new("Chart.yaml"), CHART).unwrap();
        assert_eq!(chart.name(), "jetscale");
        assert_eq!(chart.version(), "0.24.9");
        assert_eq!(chart.dependencies_line, Some(6));
        let backend = &chart.dependencies[0];
        assert_eq!(backend.fields.alias, "backend-api");
        assert_eq!(backend.fields.effective_name(), "backend-api");
        assert_eq!(backend.line, 7);
        assert_eq!(backend.version_line(), (9, 14));
        let frontend = &chart.dependencies[1];
        assert_eq!(frontend.fields.tags, vec![serde_json::json!("web")]);
        assert_eq!(
            frontend.fields.import_values,
            vec![serde_json::json!({"child": "exports", "parent": "frontend"})]
        );
    }

    #[test]
    fn a_scalar_where_a_list_belongs_is_a_config_error() {
        let err =
            ChartFile::parse(Path::new("Chart.yaml"), "name: x\ndependencies: nope\n").unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Config);
        assert_eq!(err.location.unwrap().1, Some(2));
    }
}

//! The workspace: what every target of a run shares, loaded once. The umbrella chart's
//! defaults and schema, each built dependency's defaults and schema, and every values layer,
//! parsed on first use and shared by the targets that apply it.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::deps::chartfile::ChartFile;
use crate::error::{Error, Result};
use crate::findings::Diagnostic;
use crate::helm::{Helm, RenderError, Rendered, TemplateRequest};
use crate::repo::Repo;
use crate::rules::{self, DependencyView, sources::Sources};
use crate::target::Target;
use crate::values::schema::Schema;
use crate::values::{
    Layer, MergeOptions, Merged, ParsedLayer, Suppressions, YamlError, merge_chain_with,
    scan_suppressions, scope_subchart,
};

/// A target's layers as loaded: parsed (all of them, or `None` when one cannot be read),
/// their suppressions, what reading them found, and why a layer could not be read.
pub struct TargetLayers {
    pub parsed: Option<Vec<ParsedLayer>>,
    pub suppressions: Vec<Arc<Suppressions>>,
    /// Findings in layers that were read (duplicate keys, extra documents, …).
    pub findings: Vec<Diagnostic>,
    /// Why a layer could not be read (`values/syntax`).
    pub failures: Vec<Diagnostic>,
}

/// A dependency of the umbrella chart, as built into `charts/<chart>/charts/`.
#[derive(Debug)]
pub struct Dependency {
    /// Where its values live in the umbrella's: the alias, else the name.
    pub key: String,
    pub chart: String,
    pub version: String,
    /// The values path that enables it (`backend-api.enabled`), empty when always on.
    pub condition: String,
    pub image: String,
    pub defaults: ParsedLayer,
    pub schema: Option<Schema>,
}

/// Everything targets share, loaded once per run.
pub struct Workspace {
    pub repo: Repo,
    pub helm: Helm,
    pub chart_dir: PathBuf,
    /// The chart directory's name, as helm prefixes the sources of its templates.
    chart_name: String,
    /// The chart directory, repository-relative.
    chart_display: String,
    pub defaults: ParsedLayer,
    pub schema: Option<Schema>,
    pub dependencies: Vec<Dependency>,
    /// Parsed layers by file, shared by the targets that apply them.
    layers: Mutex<HashMap<String, LayerLoad>>,
}

/// A layer read and parsed once: its values (or why not) and its suppressions.
#[derive(Clone)]
pub(crate) enum LayerLoad {
    Parsed(ParsedLayer, Arc<Suppressions>),
    Failed(Box<Diagnostic>, Arc<Suppressions>),
    /// Nested deeper than stackctl reads ([`YamlError::too_deep`]).
    Refused(Box<YamlError>, Arc<Suppressions>),
}

impl LayerLoad {
    pub(crate) fn suppressions(&self) -> &Arc<Suppressions> {
        match self {
            LayerLoad::Parsed(_, s) | LayerLoad::Failed(_, s) | LayerLoad::Refused(_, s) => s,
        }
    }
}

impl Workspace {
    /// Load the umbrella chart and its built dependencies (`archives`: chart name and version
    /// to the archive in `charts/`).
    pub fn load(
        repo: Repo,
        helm: Helm,
        archives: &BTreeMap<(String, String), PathBuf>,
    ) -> Result<Workspace> {
        let chart_dir = repo.chart_dir();
        let chart = ChartFile::load(&chart_dir)?;
        let defaults_file = repo.display_file(&chart_dir, "values.yaml");
        let defaults = Layer::read(&repo.root, &defaults_file)?
            .parse()
            .map_err(Error::from)?;
        let schema = read_schema(
            &chart_dir.join("values.schema.json"),
            &repo.display_file(&chart_dir, "values.schema.json"),
        )?;

        let mut dependencies = Vec::new();
        for entry in &chart.dependencies {
            let dep = &entry.fields;
            let archive = archives
                .get(&(dep.name.clone(), dep.version.clone()))
                .ok_or_else(|| {
                    Error::internal(format!(
                        "dependency {} {} was not built",
                        dep.name, dep.version
                    ))
                })?;
            let archive_rel = repo.display_path(archive);
            let bytes =
                crate::fsutil::read_regular_within(archive, repo.config.registries.max_blob_size.0)
                    .map_err(|problem| problem.into_error(archive))?;
            let files = archive_files(&bytes, &["values.yaml", "values.schema.json"])
                .map_err(|e| Error::environment(format!("{archive_rel}: {e}")).at(archive, None))?;
            let values_text = files.get("values.yaml").cloned().unwrap_or_default();
            let defaults = Layer::new(format!("{archive_rel}/values.yaml"), values_text)
                .parse()
                .map_err(Error::from)?;
            let schema = match files.get("values.schema.json") {
                Some(text) => Some(Schema::compile(
                    text,
                    &format!("{archive_rel}/values.schema.json"),
                )?),
                None => None,
            };
            dependencies.push(Dependency {
                key: dep.effective_name().to_string(),
                chart: dep.name.clone(),
                version: dep.version.clone(),
                condition: dep.condition.clone(),
                image: repo
                    .config
                    .dependencies
                    .image_for(&dep.name, &dep.repository),
                defaults,
                schema,
            });
        }
        let chart_display = repo.display_path(&chart_dir);
        // helm names template sources by the chart's name (`# Source: <name>/templates/…`),
        // which need not be its directory's (a chart at the repository root).
        let chart_name = match chart.name() {
            "" => chart_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            name => name.to_string(),
        };
        Ok(Workspace {
            repo,
            helm,
            chart_dir,
            chart_name,
            chart_display,
            defaults,
            schema,
            dependencies,
            layers: Mutex::new(HashMap::new()),
        })
    }

    /// One layer, read and parsed on first use.
    pub(crate) fn layer(&self, file: &str) -> LayerLoad {
        if let Some(load) = self.layers.lock().expect("layer cache").get(file) {
            return load.clone();
        }
        let load = match crate::fsutil::read_text(&self.repo.path(file)) {
            Err(problem) => LayerLoad::Failed(
                Box::new(rules::values::unreadable(file, &problem)),
                Arc::new(Suppressions::default()),
            ),
            Ok(text) => {
                let suppressions = Arc::new(scan_suppressions(file, &text));
                match Layer::new(file, text).parse() {
                    Ok(parsed) => LayerLoad::Parsed(parsed, suppressions),
                    Err(e) if e.too_deep => LayerLoad::Refused(Box::new(e), suppressions),
                    Err(e) => {
                        LayerLoad::Failed(Box::new(rules::values::syntax_error(&e)), suppressions)
                    }
                }
            }
        };
        self.layers
            .lock()
            .expect("layer cache")
            .insert(file.to_string(), load.clone());
        load
    }

    /// Drop `file` from the layers read: a temporary layer, read once.
    pub(crate) fn forget_layer(&self, file: &str) {
        self.layers.lock().expect("layer cache").remove(file);
    }

    /// Read each of `files` (once per run, as [`Workspace::layer`]); one that nests deeper
    /// than stackctl reads stops the run: it is an input error (exit 2) at its line, not a
    /// finding of the targets that apply it.
    pub fn refuse_too_deep<'f>(&self, files: impl IntoIterator<Item = &'f String>) -> Result<()> {
        for file in files {
            if let LayerLoad::Refused(error, _) = self.layer(file) {
                return Err(Error::from(*error));
            }
        }
        Ok(())
    }

    /// The dependencies as target rules see them, `scoped` holding each one's values for
    /// the target (`None` when it is disabled).
    pub fn views<'a>(&'a self, scoped: &'a [Option<Merged>]) -> Vec<DependencyView<'a>> {
        debug_assert_eq!(scoped.len(), self.dependencies.len());
        self.dependencies
            .iter()
            .zip(scoped)
            .map(|(d, scoped)| DependencyView {
                key: &d.key,
                chart: &d.chart,
                version: &d.version,
                image: &d.image,
                defaults: d.defaults.value(),
                schema: d.schema.as_ref(),
                scoped: scoped.as_ref(),
            })
            .collect()
    }

    /// The layers of `target`, each read and parsed once per run.
    pub fn load_layers(&self, target: &Target) -> TargetLayers {
        let mut loaded = TargetLayers {
            parsed: Some(Vec::new()),
            suppressions: Vec::new(),
            findings: Vec::new(),
            failures: Vec::new(),
        };
        for file in &target.layers {
            match self.layer(file) {
                LayerLoad::Parsed(layer, s) => {
                    loaded
                        .findings
                        .extend(rules::values::layer_findings(&layer));
                    if let Some(parsed) = &mut loaded.parsed {
                        parsed.push(layer);
                    }
                    loaded.suppressions.push(s);
                }
                LayerLoad::Refused(error, s) => {
                    loaded.failures.push(rules::values::syntax_error(&error));
                    loaded.suppressions.push(s);
                    loaded.parsed = None;
                }
                LayerLoad::Failed(diagnostic, s) => {
                    loaded.failures.push(*diagnostic);
                    loaded.suppressions.push(s);
                    loaded.parsed = None;
                }
            }
        }
        loaded
    }

    /// The umbrella's merge of `layers` over the chart's defaults; each dependency's block
    /// holds what the layers set for it.
    pub fn merge(&self, layers: &[ParsedLayer]) -> Merged {
        let options = MergeOptions {
            subcharts: self.dependencies.iter().map(|d| d.key.clone()).collect(),
        };
        merge_chain_with(&self.defaults, layers, &options)
    }

    /// For each dependency, the values it renders with when `merged` enables it (its
    /// defaults under the umbrella's block); a block that cannot be scoped is a finding.
    pub fn scope_dependencies(
        &self,
        merged: &Merged,
        out: &mut Vec<Diagnostic>,
    ) -> Vec<Option<Merged>> {
        self.dependencies
            .iter()
            .map(|dep| {
                if !self.enabled(dep, &merged.value) {
                    return None;
                }
                match scope_subchart(merged, &dep.key, &dep.defaults) {
                    Ok(scoped) => Some(scoped),
                    Err(e) => {
                        out.push(rules::values::syntax_error(&e));
                        None
                    }
                }
            })
            .collect()
    }

    /// Where findings about this workspace's rendered objects point.
    pub fn sources(&self) -> Sources<'_> {
        Sources {
            chart_name: &self.chart_name,
            chart_dir: &self.chart_display,
            root: Some(&self.repo.root),
        }
    }

    /// Render a target with helm.
    pub async fn helm_render(&self, target: &Target) -> std::result::Result<Rendered, RenderError> {
        let values: Vec<PathBuf> = target.layers.iter().map(|l| self.repo.path(l)).collect();
        let request = TemplateRequest {
            release: &target.release,
            namespace: &target.namespace,
            chart_dir: &self.chart_dir,
            values: &values,
            kube_version: &self.repo.config.render.kube_version,
            cwd: &self.repo.root,
            timeout: self.repo.config.render.timeout(),
            max_output: self.repo.config.render.max_output_size.0,
        };
        self.helm.template(&request).await
    }

    /// Whether a dependency is enabled by the merged values (Helm: a condition that resolves
    /// to a boolean decides; anything else leaves the dependency on).
    pub fn enabled(&self, dep: &Dependency, values: &Value) -> bool {
        if dep.condition.is_empty() {
            return true;
        }
        dep.condition
            .split(',')
            .map(str::trim)
            .find_map(|path| {
                values
                    .pointer(&crate::values::pointer(path.split('.')))
                    .and_then(Value::as_bool)
            })
            .unwrap_or(true)
    }
}

fn read_schema(path: &Path, display: &str) -> Result<Option<Schema>> {
    match crate::fsutil::read_text(path) {
        Ok(text) => Ok(Some(Schema::compile(&text, display)?)),
        Err(problem) if problem.is_missing() => Ok(None),
        Err(problem) => Err(problem.into_error(path)),
    }
}

/// Read some top-level files of a chart archive (`<chart>/values.yaml`, …).
fn archive_files(
    bytes: &[u8],
    wanted: &[&str],
) -> std::result::Result<HashMap<String, String>, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut found = HashMap::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("not a chart archive: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("corrupt chart archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("corrupt chart archive: {e}"))?
            .into_owned();
        let parts: Vec<_> = path.components().collect();
        if parts.len() != 2 {
            continue;
        }
        let name = parts[1].as_os_str().to_string_lossy().into_owned();
        if wanted.contains(&name.as_str()) {
            // The same limit as the repository's own input files: an archive from a registry
            // can hold a file that decompresses to anything.
            let limit = crate::fsutil::max_input_size();
            let mut text = String::new();
            (&mut entry)
                .take(limit.saturating_add(1))
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read {name} in the archive: {e}"))?;
            if text.len() as u64 > limit {
                return Err(format!(
                    "its {name} is larger than the {} limit of input files (raise `max-size` under [files] in stackctl.toml)",
                    crate::fsutil::format_size(limit)
                ));
            }
            found.insert(name, text);
        }
    }
    Ok(found)
}

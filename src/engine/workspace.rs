//! The workspace: what every target of a run shares, loaded once. The umbrella chart's
//! defaults and schema, each built dependency's defaults and schema, each chart's known value
//! paths (for `values/unknown-key` without a schema), and every values layer, parsed on first
//! use and shared by the targets that apply it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
use crate::values::known::{KnownPaths, TemplateReads, read_template};
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
    /// The paths its values may have, for a chart without a schema (`values/unknown-key`).
    pub known: KnownPaths,
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
    /// The paths the umbrella's values may have, for when it has no schema.
    pub known: KnownPaths,
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
        let mut library_reads = Vec::new();
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
            let archived = read_archive(&bytes)
                .map_err(|e| Error::environment(format!("{archive_rel}: {e}")).at(archive, None))?;
            let files = &archived.files;
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
            let mut known = archived.known_paths(defaults.value());
            // The parent's condition names a path in the block it gives this chart
            // (`backend-api.enabled`): the chart's own values then have it.
            for path in dep.condition.split(',').map(str::trim) {
                if let Some(rest) = path
                    .strip_prefix(dep.effective_name())
                    .and_then(|rest| rest.strip_prefix('.'))
                {
                    known.add(rest.split('.'));
                }
            }
            if archived.is_library() {
                // A library's helpers run with the parent's values: what they read is the
                // umbrella's.
                library_reads.push(archived.reads.clone());
            }
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
                known,
            });
        }
        let known = umbrella_known_paths(
            &chart_dir,
            &defaults,
            &chart.helm_dependencies(),
            &dependencies,
            &library_reads,
        );
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
            known,
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
                known: Some(&d.known),
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

/// Templates of one chart read past this many bytes in all make every key known: an archive
/// from a registry can hold anything, and the reader's work stays bounded.
const MAX_TEMPLATE_BYTES: u64 = 64 * 1024 * 1024;

/// What stackctl reads of a chart archive: its top-level files (`values.yaml`,
/// `values.schema.json`, `Chart.yaml`), what its templates read, and the names of the charts it
/// carries in its own `charts/`.
struct ArchivedChart {
    files: HashMap<String, String>,
    reads: TemplateReads,
    carried: BTreeSet<String>,
}

impl ArchivedChart {
    fn chart_file(&self) -> Option<ChartFile> {
        let text = self.files.get("Chart.yaml")?;
        ChartFile::parse(Path::new("Chart.yaml"), text.clone()).ok()
    }

    fn is_library(&self) -> bool {
        self.chart_file().is_some_and(|chart| {
            crate::deps::document::get(&chart.source.root, "type")
                .and_then(|node| chart.source.scalar(node))
                .is_some_and(|kind| kind.value == "library")
        })
    }

    /// The paths the chart's own values may have.
    fn known_paths(&self, defaults: &Value) -> KnownPaths {
        let mut known = KnownPaths::new();
        known.add_defaults(defaults);
        known.add_reads(&self.reads);
        for name in &self.carried {
            known.open([name]);
        }
        if let Some(chart) = self.chart_file() {
            owned_elsewhere(&mut known, &chart.helm_dependencies(), &[]);
        }
        known
    }
}

/// The umbrella's known paths: its defaults, its templates (and its library dependencies'),
/// and the keys owned elsewhere.
fn umbrella_known_paths(
    chart_dir: &Path,
    defaults: &ParsedLayer,
    declared: &[crate::deps::chartfile::HelmDependency],
    dependencies: &[Dependency],
    library_reads: &[TemplateReads],
) -> KnownPaths {
    let mut known = KnownPaths::new();
    known.add_defaults(defaults.value());
    let mut reads = TemplateReads::default();
    let mut total = 0u64;
    for entry in walkdir::WalkDir::new(chart_dir.join("templates"))
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
    {
        // A file that cannot be read is helm's to report (render/helm-error); what it reads
        // is not known, so nothing is reported on its account.
        let Ok(text) = crate::fsutil::read_text(entry.path()) else {
            reads.everything = true;
            continue;
        };
        total += text.len() as u64;
        if total > MAX_TEMPLATE_BYTES {
            reads.everything = true;
            break;
        }
        read_template(&text, &mut reads);
    }
    known.add_reads(&reads);
    library_reads.iter().for_each(|r| known.add_reads(r));
    // Charts in `charts/`, unpacked or packaged, are dependencies too when undeclared: their
    // values live under their name. A declared one's live under its alias (below), and its
    // name alone is no key of the chart.
    if let Ok(entries) = std::fs::read_dir(chart_dir.join("charts")) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = match entry.path().join("Chart.yaml").is_file() {
                true => Some(file.as_str()),
                false => archived_chart_name(&file),
            };
            if let Some(name) = name.filter(|n| !declared.iter().any(|d| d.name == *n)) {
                known.open([name]);
            }
        }
    }
    let exports: Vec<(&str, &Value)> = dependencies
        .iter()
        .map(|d| (d.key.as_str(), d.defaults.value()))
        .collect();
    owned_elsewhere(&mut known, declared, &exports);
    known
}

/// Keys a chart's values hold for others: each dependency's block (its alias, else its
/// name), the dependencies' conditions and tags, and what `import-values` brings in
/// (`exports` are looked up in `children`, each dependency's key and defaults).
fn owned_elsewhere(
    known: &mut KnownPaths,
    declared: &[crate::deps::chartfile::HelmDependency],
    children: &[(&str, &Value)],
) {
    for dep in declared {
        known.open([dep.effective_name()]);
        for path in dep.condition.split(',').map(str::trim) {
            if !path.is_empty() {
                known.add(path.split('.'));
            }
        }
        for tag in dep.tags.iter().filter_map(Value::as_str) {
            known.add(["tags", tag]);
        }
        for import in &dep.import_values {
            match import {
                // `- data`: the child's `exports.data` is merged at the parent's top.
                Value::String(name) => {
                    let exported = children
                        .iter()
                        .find(|(key, _)| *key == dep.effective_name())
                        .and_then(|(_, defaults)| defaults.get("exports")?.get(name));
                    match exported {
                        Some(Value::Object(map)) => map.keys().for_each(|k| known.open([k])),
                        // Exports not found: whatever they hold may be set.
                        _ => known.open_everything(),
                    }
                }
                Value::Object(map) => match map.get("parent").and_then(Value::as_str) {
                    Some(parent) if !parent.is_empty() => known.open(parent.split('.')),
                    _ => known.open_everything(),
                },
                _ => {}
            }
        }
    }
}

/// How many entries of a chart archive are walked, and how many charts it may carry, before
/// every key of the chart is taken as known: far past any real chart, and bounding the work
/// and memory an archive from a registry (small compressed, huge unpacked) can cause.
const MAX_ARCHIVE_ENTRIES: usize = 100_000;
const MAX_CARRIED_CHARTS: usize = 1_000;

/// The chart name of a packaged chart's file name: `backend` for `backend-4.6.12.tgz`.
fn archived_chart_name(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".tgz")?;
    stem.match_indices('-')
        .find(|(i, _)| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|(i, _)| &stem[..i])
}

/// Read a chart archive: the top-level files stackctl uses, the templates (what they read),
/// and the names of the charts under its `charts/`.
fn read_archive(bytes: &[u8]) -> std::result::Result<ArchivedChart, String> {
    const TOP: [&str; 3] = ["values.yaml", "values.schema.json", "Chart.yaml"];
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut chart = ArchivedChart {
        files: HashMap::new(),
        reads: TemplateReads::default(),
        carried: BTreeSet::new(),
    };
    let mut template_bytes = 0u64;
    for (walked, entry) in archive
        .entries()
        .map_err(|e| format!("not a chart archive: {e}"))?
        .enumerate()
    {
        if walked >= MAX_ARCHIVE_ENTRIES {
            // An archive of countless tiny entries: what it reads is not known.
            chart.reads.everything = true;
            break;
        }
        let mut entry = entry.map_err(|e| format!("corrupt chart archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("corrupt chart archive: {e}"))?
            .into_owned();
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match parts.as_slice() {
            [_, name] if TOP.contains(&name.as_str()) => {
                let text = read_entry(&mut entry, name)?;
                chart.files.insert(name.clone(), text);
            }
            [_, templates, ..] if templates == "templates" => {
                let size = entry.header().size().unwrap_or(u64::MAX);
                template_bytes = template_bytes.saturating_add(size);
                if template_bytes > MAX_TEMPLATE_BYTES || chart.reads.everything {
                    chart.reads.everything = true;
                    continue;
                }
                match read_entry(&mut entry, &parts[1..].join("/")) {
                    Ok(text) => read_template(&text, &mut chart.reads),
                    // Not text, or too large: what it reads is not known.
                    Err(_) => chart.reads.everything = true,
                }
            }
            [_, charts, sub, rest @ ..] if charts == "charts" => {
                let name = match rest {
                    [] => archived_chart_name(sub).map(str::to_string),
                    _ => Some(sub.clone()),
                };
                if chart.carried.len() >= MAX_CARRIED_CHARTS {
                    // Past any real chart: its keys are taken as known rather than counted.
                    chart.reads.everything = true;
                } else {
                    chart.carried.extend(name);
                }
            }
            _ => {}
        }
    }
    Ok(chart)
}

/// The text of one archive entry, within the limit of the repository's own input files (an
/// archive from a registry can hold a file that decompresses to anything).
fn read_entry(entry: &mut impl Read, name: &str) -> std::result::Result<String, String> {
    let limit = crate::fsutil::max_input_size();
    let mut text = String::new();
    entry
        .take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {name} in the archive: {e}"))?;
    if text.len() as u64 > limit {
        return Err(format!(
            "its {name} is larger than the {} limit of input files (raise `max-size` under [files] in stackctl.toml)",
            crate::fsutil::format_size(limit)
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::chartfile::HelmDependency;
    use serde_json::json;

    fn pointers(known: &KnownPaths, values: &Value) -> Vec<String> {
        known
            .unknown_keys(values)
            .into_iter()
            .map(|u| u.pointer)
            .collect()
    }

    /// A chart directory packaged as helm would, read back as the workspace reads archives.
    fn archived(chart_yaml: &str) -> (ArchivedChart, Value) {
        let dir = tempfile::tempdir().unwrap();
        let write = |relative: &str, text: &str| {
            let path = dir.path().join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("Chart.yaml", chart_yaml);
        write("values.yaml", "image:\n  tag: \"\"\n");
        write(
            "templates/deploy.yaml",
            "image: {{ .Values.image.tag }}\nflag: {{ .Values.only.inTemplates }}\n",
        );
        write(
            "templates/_helpers.tpl",
            "{{- define \"api.x\" -}}{{ .Values.fromHelper }}{{- end -}}\n",
        );
        write(
            "charts/metrics/Chart.yaml",
            "apiVersion: v2\nname: metrics\nversion: 0.1.0\n",
        );
        let packaged = crate::deps::package::package_dir(dir.path(), None).unwrap();
        let chart = read_archive(&packaged.bytes).unwrap();
        let defaults = json!({"image": {"tag": ""}});
        (chart, defaults)
    }

    #[test]
    fn an_archived_chart_knows_its_templates_helpers_carried_charts_and_dependencies() {
        let (chart, defaults) = archived(
            "apiVersion: v2\nname: api\nversion: 1.0.0\ndependencies:\n  - name: redis\n    version: 1.0.0\n    repository: oci://example.com/charts\n    alias: cache\n    condition: cache.enabled,features.cache\n    tags: [storage]\n",
        );
        assert!(!chart.is_library());
        assert!(chart.files.contains_key("values.yaml"));
        let known = chart.known_paths(&defaults);
        let values = json!({
            "image": {"tag": "1", "tga": "1"},
            "only": {"inTemplates": true},
            "fromHelper": 1,
            "cache": {"anything": {"deep": 1}},
            "features": {"cache": true, "other": 1},
            "metrics": {"x": 1},
            "tags": {"storage": true},
            "global": {"y": 1},
            "bogus": 1,
        });
        assert_eq!(
            pointers(&known, &values),
            ["/image/tga", "/features/other", "/bogus"]
        );
    }

    #[test]
    fn a_packaged_chart_is_named_without_its_version() {
        assert_eq!(archived_chart_name("backend-4.6.12.tgz"), Some("backend"));
        assert_eq!(archived_chart_name("my-app-0.1.0-rc.1.tgz"), Some("my-app"));
        assert_eq!(archived_chart_name("README.md"), None);
        assert_eq!(archived_chart_name("noversion.tgz"), None);
    }

    #[test]
    fn an_archive_carrying_countless_charts_is_not_counted_past_a_limit() {
        let mut builder = tar::Builder::new(Vec::new());
        for i in 0..=MAX_CARRIED_CHARTS {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_cksum();
            builder
                .append_data(&mut header, format!("big/charts/c{i}/Chart.yaml"), &[][..])
                .unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let chart = read_archive(&gz.finish().unwrap()).unwrap();
        assert_eq!(chart.carried.len(), MAX_CARRIED_CHARTS);
        assert!(chart.reads.everything, "past the limit every key is known");
    }

    #[test]
    fn a_library_chart_is_recognised_by_its_type() {
        let (chart, _) = archived("apiVersion: v2\nname: common\nversion: 1.0.0\ntype: library\n");
        assert!(chart.is_library());
        assert!(chart.reads.read.contains(&vec!["fromHelper".to_string()]));
    }

    #[test]
    fn imported_values_are_known_where_they_land() {
        let declared = [HelmDependency {
            name: "api".into(),
            import_values: vec![
                json!("data"),
                json!({"child": "settings", "parent": "imported.cfg"}),
            ],
            ..HelmDependency::default()
        }];
        let child = json!({"exports": {"data": {"myint": 1}}});
        let mut known = KnownPaths::new();
        owned_elsewhere(&mut known, &declared, &[("api", &child)]);
        let values = json!({
            "myint": {"a": 1},
            "imported": {"cfg": {"z": 1}, "other": 1},
            "api": {"b": 1},
        });
        assert_eq!(pointers(&known, &values), ["/imported/other"]);
        // Exports the child does not have: whatever they hold may be set anywhere.
        let declared = [HelmDependency {
            name: "api".into(),
            import_values: vec![json!("missing")],
            ..HelmDependency::default()
        }];
        let mut known = KnownPaths::new();
        owned_elsewhere(&mut known, &declared, &[("api", &child)]);
        assert!(known.knows_everything());
    }
}

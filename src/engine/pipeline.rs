//! Validation of targets: parse every layer, merge it the way Helm does, check the values
//! against the schemas and the value rules, render with helm, and collect every finding.
//!
//! A [`Workspace`] holds what all targets share (the chart's defaults and schemas, each
//! dependency's defaults and schema, parsed layers) and is loaded once per run; targets are
//! then checked in parallel, each by [`check_target`], or found in the [`cache`] when nothing
//! it depends on has changed. Nothing here prints.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use super::cache::{EnvFact, ResultCache};
use crate::deps::chartfile::ChartFile;
use crate::engine::targets::Target;
use crate::error::{Error, Result};
use crate::findings::{Diagnostic, Report, Severity, Status, TargetResult};
use crate::helm::{Helm, RenderError, Rendered, TemplateRequest};
use crate::repo::Repo;
use crate::rules::render as render_rules;
use crate::rules::values::{DependencyView, image_tags, keyed_map_overrides, locate};
use crate::rules::{self, finding};
use crate::values::schema::{Schema, Violation};
use crate::values::{
    Layer, MergeOptions, Merged, ParsedLayer, Suppressions, dotted_path, merge_chain_with,
    scan_suppressions, scope_subchart,
};

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
    pub defaults: ParsedLayer,
    pub schema: Option<Schema>,
    pub dependencies: Vec<Dependency>,
    /// Parsed layers by file, shared by the targets that apply them.
    layers: Mutex<HashMap<String, LayerLoad>>,
}

/// A layer read and parsed once: its values (or why not) and its suppressions.
#[derive(Clone)]
enum LayerLoad {
    Parsed(ParsedLayer, Arc<Suppressions>),
    Failed(Box<Diagnostic>, Arc<Suppressions>),
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
        let chart_rel = repo.display_path(&chart_dir);
        let chart = ChartFile::load(&chart_dir)?;
        let defaults_file = format!("{chart_rel}/values.yaml");
        let defaults = Layer::read(&repo.root, &defaults_file)?
            .parse()
            .map_err(Error::from)?;
        let schema = read_schema(
            &chart_dir.join("values.schema.json"),
            &format!("{chart_rel}/values.schema.json"),
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
            let bytes = std::fs::read(archive).map_err(|e| Error::io("read", archive, e))?;
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
                image: repo.config.dependencies.image_for(&dep.name),
                defaults,
                schema,
            });
        }
        Ok(Workspace {
            repo,
            helm,
            chart_dir,
            defaults,
            schema,
            dependencies,
            layers: Mutex::new(HashMap::new()),
        })
    }

    fn layer(&self, file: &str) -> LayerLoad {
        if let Some(load) = self.layers.lock().expect("layer cache").get(file) {
            return load.clone();
        }
        let load = match std::fs::read_to_string(self.repo.path(file)) {
            Err(e) => LayerLoad::Failed(
                Box::new(
                    finding("values/syntax", format!("cannot read {file}: {e}"))
                        .in_file(file)
                        .with_hint(
                            "the layer chain names a file that does not exist or cannot be read",
                        ),
                ),
                Arc::new(Suppressions::default()),
            ),
            Ok(text) => {
                let suppressions = Arc::new(scan_suppressions(file, &text));
                match Layer::new(file, text).parse() {
                    Ok(parsed) => LayerLoad::Parsed(parsed, suppressions),
                    Err(e) => LayerLoad::Failed(Box::new(e.to_diagnostic()), suppressions),
                }
            }
        };
        self.layers
            .lock()
            .expect("layer cache")
            .insert(file.to_string(), load.clone());
        load
    }

    fn views(&self) -> Vec<DependencyView<'_>> {
        self.dependencies
            .iter()
            .map(|d| DependencyView {
                key: &d.key,
                chart: &d.chart,
                version: &d.version,
                image: &d.image,
                defaults: d.defaults.value(),
            })
            .collect()
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
                let pointer: String = path
                    .split('.')
                    .map(|k| format!("/{}", crate::values::escape_key(k)))
                    .collect();
                values.pointer(&pointer).and_then(Value::as_bool)
            })
            .unwrap_or(true)
    }
}

fn read_schema(path: &Path, display: &str) -> Result<Option<Schema>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(Schema::compile(&text, display)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
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
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read {name} in the archive: {e}"))?;
            found.insert(name, text);
        }
    }
    Ok(found)
}

/// What checking one target produced.
pub struct TargetOutcome {
    pub target: Target,
    pub diagnostics: Vec<Diagnostic>,
    pub suppressions: Vec<Arc<Suppressions>>,
    pub merged: Option<Merged>,
    pub rendered: Option<Rendered>,
    /// What `ingress/parity` compares across targets (AWS env targets only).
    pub ingress: Option<crate::rules::ingress::IngressFacts>,
    /// What `envs/consistent-env` compares across targets.
    pub env: Option<EnvFact>,
    /// Reported from the result cache, without rendering.
    pub cached: bool,
    /// Whether the verdict depends only on the inputs (not on helm failing to run).
    pub cacheable: bool,
    pub duration_ms: u64,
}

/// Check one target: layers, merge, schemas, value rules, render.
pub async fn check_target(ws: &Workspace, target: Target) -> TargetOutcome {
    let started = Instant::now();
    let mut diagnostics = Vec::new();
    let mut suppressions = Vec::new();
    let mut layers = Vec::new();
    let mut broken = false;
    for file in &target.layers {
        match ws.layer(file) {
            LayerLoad::Parsed(layer, s) => {
                diagnostics.extend(layer.findings().iter().map(|f| f.to_diagnostic()));
                layers.push(layer);
                suppressions.push(s);
            }
            LayerLoad::Failed(diagnostic, s) => {
                diagnostics.push(*diagnostic);
                suppressions.push(s);
                broken = true;
            }
        }
    }
    let mut outcome = TargetOutcome {
        target,
        diagnostics: Vec::new(),
        suppressions,
        merged: None,
        rendered: None,
        ingress: None,
        env: None,
        cached: false,
        cacheable: true,
        duration_ms: 0,
    };
    if !broken {
        let merged = check_values(ws, &layers, &mut diagnostics);
        outcome.env = merged.get("/global/env").map(|value| EnvFact {
            value: value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
            at: merged
                .provenance
                .locate("/global/env")
                .map(|o| (o.file.to_string(), o.line, o.column)),
        });
        match render(ws, &outcome.target).await {
            Ok(rendered) => {
                let chart_dir = ws.repo.display_path(&ws.chart_dir);
                let chart_name = ws
                    .chart_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let sources = crate::rules::sources::Sources {
                    chart_name: &chart_name,
                    chart_dir: &chart_dir,
                    root: Some(&ws.repo.root),
                };
                let target = &outcome.target;
                diagnostics.extend(render_rules::duplicate_objects(
                    &rendered.objects,
                    &target.namespace,
                    &sources,
                ));
                let dependency_keys: Vec<&str> =
                    ws.dependencies.iter().map(|d| d.key.as_str()).collect();
                let release_at = ws
                    .repo
                    .config
                    .release_lines
                    .get(&target.name)
                    .map(|&line| (crate::config::CONFIG_FILE.to_string(), line, 1));
                diagnostics.extend(render_rules::name_lengths(
                    &rendered.objects,
                    &target.release,
                    release_at.as_ref(),
                    &sources,
                ));
                diagnostics.extend(render_rules::external_secret_keys(
                    &rendered.objects,
                    &sources,
                ));
                diagnostics.extend(render_rules::cronjob_schedules(
                    &rendered.objects,
                    &target.release,
                    &dependency_keys,
                    Some(&merged),
                    &sources,
                ));
                diagnostics.extend(render_rules::resources(
                    &rendered.objects,
                    Some(&merged),
                    &sources,
                ));
                diagnostics.extend(crate::rules::k8s::k8s_schema(
                    &rendered.objects,
                    Some(&merged),
                    &sources,
                ));
                if target.kind == crate::engine::targets::TargetKind::Variant {
                    diagnostics.extend(crate::rules::values::release_hosts(
                        &merged,
                        &target.release,
                        &dependency_keys,
                    ));
                }
                if cloud_of(&ws.repo, target).as_deref() == Some("aws") {
                    diagnostics.extend(crate::rules::ingress::ingress_tls(
                        &rendered.objects,
                        Some(&merged),
                        &sources,
                    ));
                    let facts = crate::rules::ingress::ingress_facts(
                        &target.name,
                        &rendered.objects,
                        Some(&merged),
                        in_envs_dir(&ws.repo, target, "prod"),
                        &sources,
                    );
                    diagnostics.extend(facts.findings.iter().cloned());
                    outcome.ingress = Some(facts);
                }
                if is_preview(&ws.repo, target) {
                    diagnostics.extend(render_rules::preview_cronjobs(
                        &rendered.objects,
                        &target.release,
                        &dependency_keys,
                        Some(&merged),
                        &sources,
                    ));
                }
                diagnostics.extend(render_rules::dangling_references(
                    &rendered.objects,
                    &target.release,
                    &target.external_refs,
                    Some(&merged),
                    &sources,
                ));
                diagnostics.extend(rendered.warnings.iter().map(|w| {
                    finding("render/helm-warning", w.clone()).with_hint(
                        "helm warns when values are dropped or overridden with another type",
                    )
                }));
                outcome.rendered = Some(rendered);
            }
            Err(e) => {
                // helm failing to start or to speak is about this machine, not the target.
                outcome.cacheable = matches!(e, RenderError::Helm { .. });
                diagnostics.push(render_error(ws, e));
            }
        }
        outcome.merged = Some(merged);
    }
    for d in &mut diagnostics {
        if d.target.is_none() {
            d.target = Some(outcome.target.name.clone());
        }
    }
    outcome.diagnostics = diagnostics;
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// Merge the layers and run every value check; returns the merged values.
fn check_values(ws: &Workspace, layers: &[ParsedLayer], out: &mut Vec<Diagnostic>) -> Merged {
    let options = MergeOptions {
        subcharts: ws.dependencies.iter().map(|d| d.key.clone()).collect(),
    };
    let merged = merge_chain_with(&ws.defaults, layers, &options);
    merge_events(&merged, "", out);
    if let Some(schema) = &ws.schema {
        out.extend(schema_findings(schema, &merged, ""));
    }
    for dep in &ws.dependencies {
        if !ws.enabled(dep, &merged.value) {
            continue;
        }
        match scope_subchart(&merged, &dep.key, &dep.defaults) {
            Ok(scoped) => {
                let prefix = format!("/{}", crate::values::escape_key(&dep.key));
                merge_events(&scoped, &prefix, out);
                if let Some(schema) = &dep.schema {
                    out.extend(schema_findings(schema, &scoped, &prefix));
                }
            }
            Err(e) => out.push(e.to_diagnostic()),
        }
    }
    out.extend(keyed_map_overrides(
        ws.defaults.value(),
        layers,
        &ws.views(),
    ));
    out.extend(image_tags(&merged, &ws.views()));
    merged
}

/// `values/type-change` and `values/noop-empty-map` from a merge, at the user's line.
fn merge_events(merged: &Merged, prefix: &str, out: &mut Vec<Diagnostic>) {
    for change in &merged.type_changes {
        let mut d = finding(
            "values/type-change",
            format!(
                "{} replaces a {} default with a {}",
                dotted_path(&format!("{prefix}{}", change.pointer)),
                change.default_kind,
                change.user_kind
            ),
        )
        .with_hint("keep the default's type; to drop map entries set each one to null or false")
        .with_path(format!("{prefix}{}", change.pointer));
        if let Some(at) = &change.user {
            d = d.at(at.file.clone(), at.line, at.column);
        }
        out.push(d);
    }
    for empty in &merged.empty_map_overrides {
        let mut d = finding(
            "values/noop-empty-map",
            format!(
                "{}: {{}} removes nothing; the {} default entries stay",
                dotted_path(&format!("{prefix}{}", empty.pointer)),
                empty.kept_keys
            ),
        )
        .with_hint("set the unwanted entries to false or null, or the whole key to null")
        .with_path(format!("{prefix}{}", empty.pointer));
        if let Some(at) = &empty.at {
            d = d.at(at.file.clone(), at.line, at.column);
        }
        out.push(d);
    }
}

/// Schema violations located at the layer line that set the offending value.
fn schema_findings(schema: &Schema, merged: &Merged, prefix: &str) -> Vec<Diagnostic> {
    schema
        .violations(&merged.value)
        .into_iter()
        .map(
            |Violation {
                 pointer,
                 message,
                 unknown_key,
                 ..
             }| {
                let (rule, hint) = match &unknown_key {
                    Some(_) => (
                        "values/unknown-key",
                        format!("remove it, or check its spelling against {}", schema.file),
                    ),
                    None => (
                        "values/schema",
                        format!("see {} for the allowed values", schema.file),
                    ),
                };
                let shown = format!("{prefix}{pointer}");
                let d =
                    finding(rule, format!("{}: {message}", dotted_path(&shown))).with_hint(hint);
                let d = locate(d, &merged.provenance, &pointer);
                d.with_path(shown)
            },
        )
        .collect()
}

/// Whether an env target lives in `envs/<dir>/`.
fn in_envs_dir(repo: &Repo, target: &Target, dir: &str) -> bool {
    let prefix = format!("{}/{dir}/", repo.display_path(&repo.envs_dir()));
    target.kind == crate::engine::targets::TargetKind::Env && target.name.starts_with(&prefix)
}

/// Preview environments: the env files under `envs/preview/`.
fn is_preview(repo: &Repo, target: &Target) -> bool {
    in_envs_dir(repo, target, "preview")
}

/// The cloud of an env target: the name of its first layer, `envs/<cloud>.yaml`.
fn cloud_of(repo: &Repo, target: &Target) -> Option<String> {
    if target.kind != crate::engine::targets::TargetKind::Env {
        return None;
    }
    let envs = format!("{}/", repo.display_path(&repo.envs_dir()));
    let first = target.layers.first()?.strip_prefix(&envs)?;
    Some(
        first
            .rsplit_once('.')
            .map(|(name, _)| name)
            .unwrap_or(first)
            .to_string(),
    )
}

/// The cross-target half of `ingress/parity`: preview and prod share one certificate.
pub fn ingress_parity(repo: &Repo, outcomes: &[TargetOutcome]) -> Vec<Diagnostic> {
    let group: Vec<crate::rules::ingress::IngressFacts> = outcomes
        .iter()
        .filter(|o| in_envs_dir(repo, &o.target, "prod") || is_preview(repo, &o.target))
        .filter_map(|o| o.ingress.clone())
        .collect();
    crate::rules::ingress::certificate_parity(&group)
}

/// `envs/consistent-env`: within one directory of `envs/`, every target's merged `global.env`
/// is the same; a target that differs from the directory's most common value is reported at
/// the line that set its value.
pub fn consistent_env(outcomes: &[TargetOutcome]) -> Vec<Diagnostic> {
    let mut by_dir: BTreeMap<String, Vec<(&TargetOutcome, &EnvFact)>> = BTreeMap::new();
    for outcome in outcomes {
        if outcome.target.kind != crate::engine::targets::TargetKind::Env {
            continue;
        }
        let Some(fact) = &outcome.env else {
            continue;
        };
        let dir = outcome
            .target
            .name
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
        by_dir.entry(dir).or_default().push((outcome, fact));
    }
    let mut out = Vec::new();
    for (dir, members) in by_dir {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, fact) in &members {
            *counts.entry(fact.value.as_str()).or_default() += 1;
        }
        if counts.len() < 2 {
            continue;
        }
        let (common, _) = counts.iter().max_by_key(|(_, n)| **n).expect("non-empty");
        for (outcome, fact) in &members {
            let env = &fact.value;
            if env == common {
                continue;
            }
            let d = finding(
                "envs/consistent-env",
                format!(
                    "{} sets global.env {env:?}, but the other envs of {dir}/ use {common:?}",
                    outcome.target.name
                ),
            )
            .with_hint(format!(
                "use global.env: {common} (set it once in {dir}/default.yaml)"
            ))
            .with_target(outcome.target.name.clone())
            .with_path("/global/env");
            out.push(match &fact.at {
                Some((file, line, column)) => d.at(file.clone(), *line, *column),
                None => d,
            });
        }
    }
    out
}

/// Render a target with helm.
pub async fn render(ws: &Workspace, target: &Target) -> std::result::Result<Rendered, RenderError> {
    let values: Vec<PathBuf> = target.layers.iter().map(|l| ws.repo.path(l)).collect();
    let request = TemplateRequest {
        release: &target.release,
        namespace: &target.namespace,
        chart_dir: &ws.chart_dir,
        values: &values,
        kube_version: &ws.repo.config.render.kube_version,
        cwd: &ws.repo.root,
    };
    ws.helm.template(&request).await
}

fn render_error(ws: &Workspace, error: RenderError) -> Diagnostic {
    match error {
        RenderError::Helm { message, template } => {
            let mut d = finding("render/helm-error", message)
                .with_hint("the layer chain shows which values files were applied");
            if let Some(t) = template {
                // Umbrella templates are files of this repository; a dependency's live in its
                // archive, so its location stays in the message.
                let chart_name = ws
                    .chart_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Some(rest) = t.file.strip_prefix(&format!("{chart_name}/templates/")) {
                    let file = format!("{}/templates/{rest}", ws.repo.display_path(&ws.chart_dir));
                    d = d.at(file, t.line.unwrap_or(1), t.column.unwrap_or(1));
                }
            }
            d
        }
        RenderError::Run(message) | RenderError::Output(message) => {
            finding("render/helm-error", message)
        }
    }
}

/// Called with each target's name as it finishes (progress display).
pub type OnDone = Arc<dyn Fn(&str) + Send + Sync>;

/// Run every target, at most `jobs` helm processes at once, in the order given.
///
/// With a result cache, a target whose inputs are unchanged is reported from it without
/// rendering, and every fresh verdict is stored.
pub async fn check_all(
    ws: Arc<Workspace>,
    targets: Vec<Target>,
    jobs: usize,
    cache: Option<Arc<ResultCache>>,
    on_done: Option<OnDone>,
) -> Vec<TargetOutcome> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (index, target) in targets.into_iter().enumerate() {
        let ws = Arc::clone(&ws);
        let semaphore = Arc::clone(&semaphore);
        let on_done = on_done.clone();
        let cache = cache.clone();
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore open");
            let outcome = match &cache {
                Some(cache) => check_target_cached(&ws, cache, target).await,
                None => check_target(&ws, target).await,
            };
            if let Some(on_done) = on_done {
                on_done(&outcome.target.name);
            }
            (index, outcome)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(pair) => outcomes.push(pair),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// [`check_target`] through the result cache.
async fn check_target_cached(ws: &Workspace, cache: &ResultCache, target: Target) -> TargetOutcome {
    let started = Instant::now();
    let key = cache.key(&ws.repo.root, &target);
    if let Some(entry) = cache.get(&key, &target.name) {
        // Suppressions are applied when the report is assembled, so they are read afresh.
        let suppressions = target
            .layers
            .iter()
            .map(|file| match ws.layer(file) {
                LayerLoad::Parsed(_, s) | LayerLoad::Failed(_, s) => s,
            })
            .collect();
        return TargetOutcome {
            target,
            diagnostics: entry.diagnostics,
            suppressions,
            merged: None,
            rendered: None,
            ingress: entry.ingress,
            env: entry.env,
            cached: true,
            cacheable: true,
            duration_ms: started.elapsed().as_millis() as u64,
        };
    }
    let outcome = check_target(ws, target).await;
    if outcome.cacheable {
        cache.put(
            &key,
            &outcome.target.name,
            &outcome.diagnostics,
            outcome.env.as_ref(),
            outcome.ingress.as_ref(),
        );
    }
    outcome
}

/// `secrets/literal` over every values file the run reads, each file once however many targets
/// apply it: the chart's defaults, `extra` files (the local service charts' defaults) and every
/// layer of `targets`. Not part of any target's cached verdict: it runs every time, and so
/// registers every literal it finds for redaction before anything is printed. Returns the
/// findings and the suppressions of the files scanned.
pub fn secret_literals(
    ws: &Workspace,
    targets: &[Target],
    extra: &[String],
) -> (Vec<Diagnostic>, Vec<Arc<Suppressions>>) {
    let mut files: Vec<String> = vec![ws.defaults.file().to_string()];
    files.extend(extra.iter().cloned());
    files.extend(targets.iter().flat_map(|t| t.layers.iter().cloned()));
    let mut seen = HashSet::new();
    let mut findings = Vec::new();
    let mut suppressions = Vec::new();
    for file in files {
        if !seen.insert(file.clone()) {
            continue;
        }
        // A layer that does not parse is reported by `values/syntax` through its targets.
        if let LayerLoad::Parsed(layer, s) = ws.layer(&file) {
            findings.extend(crate::rules::secrets::scan_layer(&layer, &s));
            suppressions.push(s);
        }
    }
    (findings, suppressions)
}

/// Turn outcomes (plus findings of the run as a whole) into a report: rule configuration and
/// suppressions applied, findings of shared layers reported once, each target's status.
pub fn assemble(
    repo: &Repo,
    outcomes: &[TargetOutcome],
    general: Vec<Diagnostic>,
    started: Instant,
) -> Report {
    assemble_with(repo, outcomes, general, &[], started)
}

/// [`assemble`], honouring also the suppressions of files no target applies (the chart's
/// defaults, scanned by [`secret_literals`]).
pub fn assemble_with(
    repo: &Repo,
    outcomes: &[TargetOutcome],
    mut general: Vec<Diagnostic>,
    more_suppressions: &[Arc<Suppressions>],
    started: Instant,
) -> Report {
    let mut diagnostics = Vec::new();
    let mut seen = HashSet::new();
    for d in general
        .drain(..)
        .chain(outcomes.iter().flat_map(|o| o.diagnostics.iter().cloned()))
    {
        // A finding in a layer several targets share (envs/aws.yaml) is one finding.
        let key = (
            d.rule.clone(),
            d.file.clone(),
            d.line,
            d.column,
            d.message.clone(),
            d.file.is_none().then(|| d.target.clone()),
        );
        if seen.insert(key) {
            diagnostics.push(d);
        }
    }
    let mut suppressions = Vec::new();
    let mut files = HashSet::new();
    for s in outcomes
        .iter()
        .flat_map(|o| &o.suppressions)
        .chain(more_suppressions)
    {
        let file = s
            .items
            .first()
            .map(|i| i.file.clone())
            .or_else(|| s.problems.first().map(|p| p.file.clone()));
        if let Some(file) = file
            && files.insert(file)
        {
            suppressions.push((**s).clone());
        }
    }
    let diagnostics = rules::finalize(diagnostics, &repo.config, &suppressions);
    let targets = outcomes
        .iter()
        .map(|o| {
            let failed = diagnostics.iter().any(|d| {
                d.severity == Severity::Error
                    && (d.target.as_deref() == Some(o.target.name.as_str())
                        || d.file.as_ref().is_some_and(|f| o.target.layers.contains(f)))
            });
            TargetResult {
                target: o.target.name.clone(),
                layers: o.target.layers.clone(),
                release: o.target.release.clone(),
                status: if failed {
                    Status::Failed
                } else {
                    Status::Passed
                },
                cached: o.cached,
                duration_ms: o.duration_ms,
            }
        })
        .collect();
    Report {
        targets,
        diagnostics,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// The values helm renders a target with: the merge of its chain with every enabled
/// dependency's scoped values embedded under its key.
pub fn merged_values(ws: &Workspace, target: &Target) -> Result<Merged> {
    let mut layers = Vec::new();
    for file in &target.layers {
        match ws.layer(file) {
            LayerLoad::Parsed(layer, _) => layers.push(layer),
            LayerLoad::Failed(diagnostic, _) => {
                let line = diagnostic.line;
                return Err(Error::config(diagnostic.message).at(file, line));
            }
        }
    }
    let options = MergeOptions {
        subcharts: ws.dependencies.iter().map(|d| d.key.clone()).collect(),
    };
    let mut merged = merge_chain_with(&ws.defaults, &layers, &options);
    for dep in &ws.dependencies {
        if ws.enabled(dep, &merged.value) {
            let scoped = scope_subchart(&merged, &dep.key, &dep.defaults).map_err(Error::from)?;
            merged.embed_subchart(&dep.key, &scoped);
        }
    }
    Ok(merged)
}

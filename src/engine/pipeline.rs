//! Checking targets: each target's layers are read, merged the way Helm merges them,
//! rendered with helm, and handed to every target rule of the registry
//! ([`rules::target_rules`]); the facts the cross-target rules compare are collected on the
//! way. Targets run in parallel, each checked afresh or found in the result cache when
//! nothing it depends on has changed. Nothing here prints.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::cache::ResultCache;
use super::workspace::{LayerLoad, TargetLayers, Workspace};
use crate::findings::Diagnostic;
use crate::helm::{RenderError, Rendered};
use crate::rules::{self, Facts, TargetCx};
use crate::target::Target;
use crate::values::Suppressions;

/// What checking one target produced.
pub struct TargetOutcome {
    pub target: Target,
    /// Findings before rule levels and suppressions are applied.
    pub diagnostics: Vec<Diagnostic>,
    pub suppressions: Vec<Arc<Suppressions>>,
    /// The facts of the cross-target rules, by rule ID.
    pub facts: Facts,
    /// Reported from the result cache, without rendering.
    pub cached: bool,
    /// Whether the verdict depends only on the inputs (not on helm failing to run).
    pub cacheable: bool,
    /// helm was stopped at this timeout (`[render] timeout`) while rendering the target.
    pub render_timeout: Option<std::time::Duration>,
    pub duration_ms: u64,
}

/// Check one target: layers, merge, render, then every target rule.
pub async fn check_target(ws: &Workspace, target: Target) -> TargetOutcome {
    let started = Instant::now();
    let loaded = ws.load_layers(&target);
    let render = match loaded.parsed {
        Some(_) => Some(ws.helm_render(&target).await),
        None => None,
    };
    check_loaded(ws, target, loaded, render, started)
}

/// Every target rule over a target whose layers are `loaded` and whose render (when its
/// layers could be read) ended with `render`. When helm failed, the rules that need no
/// rendered objects (the value rules) still report: their findings are located in the
/// values files, and are often why helm failed.
pub(crate) fn check_loaded(
    ws: &Workspace,
    target: Target,
    loaded: TargetLayers,
    render: Option<std::result::Result<Rendered, RenderError>>,
    started: Instant,
) -> TargetOutcome {
    let mut diagnostics = loaded.findings;
    diagnostics.extend(loaded.failures);
    let mut outcome = TargetOutcome {
        target,
        diagnostics: Vec::new(),
        suppressions: loaded.suppressions,
        facts: Facts::new(),
        cached: false,
        cacheable: true,
        render_timeout: None,
        duration_ms: 0,
    };
    if let (Some(layers), Some(render)) = (loaded.parsed, render) {
        let sources = ws.sources();
        let merged = ws.merge(&layers);
        let scoped = ws.scope_dependencies(&merged, &mut diagnostics);
        let rendered = match render {
            Ok(rendered) => Some(rendered),
            Err(e) => {
                // helm failing to start, to speak or to finish is about this machine (or
                // this run), not a verdict on the target's inputs.
                outcome.cacheable = matches!(e, RenderError::Helm { .. });
                if let RenderError::Timeout(after) = e {
                    outcome.render_timeout = Some(after);
                }
                diagnostics.push(rules::render::helm_error(e, &outcome.target.name, &sources));
                None
            }
        };
        let dependencies = ws.views(&scoped);
        let cx = TargetCx {
            target: &outcome.target,
            config: &ws.repo.config,
            defaults: &ws.defaults,
            schema: ws.schema.as_ref(),
            known: &ws.known,
            dependencies: &dependencies,
            layers: &layers,
            merged: &merged,
            rendered: rendered.as_ref(),
            sources: &sources,
        };
        for rule in rules::target_rules() {
            rule.check(&cx, &mut diagnostics);
        }
        outcome.facts = rules::collect_facts(&cx);
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

/// The cross-target rules over every outcome of a run.
pub fn cross_target_findings(ws: &Workspace, outcomes: &[TargetOutcome]) -> Vec<Diagnostic> {
    let facts: Vec<(&Target, &Facts)> = outcomes.iter().map(|o| (&o.target, &o.facts)).collect();
    rules::compare_facts(&facts, &ws.repo.config)
}

/// Called with each target's outcome as it finishes, before the others are done (progress,
/// and a render that timed out, reported at once).
pub type OnDone = Arc<dyn Fn(&TargetOutcome) + Send + Sync>;

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
                on_done(&outcome);
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
            .map(|file| Arc::clone(ws.layer(file).suppressions()))
            .collect();
        return TargetOutcome {
            target,
            diagnostics: entry.diagnostics,
            suppressions,
            facts: entry.facts,
            cached: true,
            cacheable: true,
            render_timeout: None,
            duration_ms: started.elapsed().as_millis() as u64,
        };
    }
    let outcome = check_target(ws, target).await;
    if outcome.cacheable && !ws.helm.interrupted() {
        cache.put(
            &key,
            &outcome.target.name,
            &outcome.diagnostics,
            &outcome.facts,
        );
    }
    outcome
}

/// Every values file a run over `targets` reads, each once: the chart's defaults, `extra`
/// files (the local service charts' defaults), then every layer of `targets`.
pub fn files_read(ws: &Workspace, targets: &[Target], extra: &[String]) -> Vec<String> {
    let mut files: Vec<String> = vec![ws.defaults.file().to_string()];
    files.extend(extra.iter().cloned());
    files.extend(targets.iter().flat_map(|t| t.layers.iter().cloned()));
    let mut seen = HashSet::new();
    files.retain(|file| seen.insert(file.clone()));
    files
}

/// The checks of one file on its own, over every values file the run reads ([`files_read`]),
/// each file once however many targets apply it: `secrets/literal`, and the YAML-level rules
/// (`values/duplicate-key`, `values/extra-document`, `values/coerced-key`) on the files no
/// target applies as a layer (the chart's defaults, `extra`; a target reports its own layers'
/// through its verdict). Not part of any target's cached verdict: it runs every time, and so
/// registers every literal it finds for redaction before anything is printed. Returns the
/// findings and the suppressions of the files scanned.
pub fn file_checks(
    ws: &Workspace,
    targets: &[Target],
    extra: &[String],
) -> (Vec<Diagnostic>, Vec<Arc<Suppressions>>) {
    let layers: HashSet<&String> = targets.iter().flat_map(|t| &t.layers).collect();
    let mut findings = Vec::new();
    let mut suppressions = Vec::new();
    for file in files_read(ws, targets, extra) {
        // A layer that does not parse is reported by `values/syntax` through its targets.
        if let LayerLoad::Parsed(layer, s) = ws.layer(&file) {
            findings.extend(crate::rules::secrets::scan_layer(&layer, &s));
            if !layers.contains(&file) {
                findings.extend(crate::rules::values::layer_findings(&layer));
            }
            suppressions.push(s);
        }
    }
    (findings, suppressions)
}

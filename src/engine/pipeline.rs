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
use crate::findings::{Diagnostic, Fix};
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

/// Check one target: layers, merge, render, then every target rule; findings another one
/// causes are folded under it ([`fold_consequences`]).
pub async fn check_target(ws: &Workspace, target: Target) -> TargetOutcome {
    let started = Instant::now();
    let mut outcome = check_once(ws, target).await;
    fold_consequences(ws, &mut outcome).await;
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// Layers, merge, render and every target rule, once.
async fn check_once(ws: &Workspace, target: Target) -> TargetOutcome {
    let started = Instant::now();
    let loaded = ws.load_layers(&target);
    let render = match loaded.parsed {
        Some(_) => Some(ws.helm_render(&target).await),
        None => None,
    };
    check_loaded(ws, target, loaded, render, started)
}

/// How many findings of one target are tried as causes of the others: each try renders the
/// target once more.
pub const MAX_CAUSES_TRIED: usize = 3;

/// One mistake, one finding: a finding that comes with a [`Fix`] (a mistyped key, a value of
/// the wrong type) is tried as the cause of the target's other findings. The target is checked
/// again with the fix applied as one more layer; the findings that are gone then were caused
/// by it and move under it as its consequences. A try whose render fails proves nothing and
/// is dropped, as are tries past [`MAX_CAUSES_TRIED`].
async fn fold_consequences(ws: &Workspace, outcome: &mut TargetOutcome) {
    let causes: Vec<usize> = (0..outcome.diagnostics.len())
        .filter(|&i| outcome.diagnostics[i].fix.is_some())
        .take(MAX_CAUSES_TRIED)
        .collect();
    if causes.is_empty() || outcome.diagnostics.len() == causes.len() {
        return;
    }
    let cause_of = try_causes(ws, outcome, &causes).await;
    regroup(outcome, &cause_of);
}

/// For each finding of `outcome`, the cause among `causes` whose fix makes it go away.
async fn try_causes(
    ws: &Workspace,
    outcome: &mut TargetOutcome,
    causes: &[usize],
) -> Vec<Option<usize>> {
    let key = |d: &Diagnostic| (d.rule.clone(), d.message.clone());
    let before: HashSet<_> = outcome.diagnostics.iter().map(key).collect();
    let mut cause_of: Vec<Option<usize>> = vec![None; outcome.diagnostics.len()];
    for &cause in causes {
        let Some(tried) = check_with_fix(ws, &outcome.target, &outcome.diagnostics[cause]).await
        else {
            // Nothing learnt, for a reason of this machine: the verdict is not the inputs'.
            outcome.cacheable = false;
            continue;
        };
        if !tried.cacheable || tried.render_timeout.is_some() {
            outcome.cacheable = false;
            continue;
        }
        let render_failed = tried
            .diagnostics
            .iter()
            .any(|d| d.rule == "render/helm-error" && !before.contains(&key(d)));
        if render_failed {
            continue;
        }
        let after: HashSet<_> = tried.diagnostics.iter().map(key).collect();
        for (i, d) in outcome.diagnostics.iter().enumerate() {
            if cause_of[i].is_none()
                && !causes.contains(&i)
                && d.fix.is_none()
                && !after.contains(&key(d))
            {
                cause_of[i] = Some(cause);
            }
        }
    }
    cause_of
}

/// Move each finding under its cause, in report order and each once (the report dedups the
/// same way: a container and its init container can read one Secret).
fn regroup(outcome: &mut TargetOutcome, cause_of: &[Option<usize>]) {
    let mut kept = Vec::new();
    let mut consequences: Vec<Vec<Diagnostic>> = vec![Vec::new(); outcome.diagnostics.len()];
    for (i, d) in std::mem::take(&mut outcome.diagnostics)
        .into_iter()
        .enumerate()
    {
        match cause_of[i] {
            Some(cause) => consequences[cause].push(d),
            None => kept.push((i, d)),
        }
    }
    outcome.diagnostics = kept
        .into_iter()
        .map(|(i, mut d)| {
            let mut folded = std::mem::take(&mut consequences[i]);
            folded.sort_by(|a, b| {
                (&a.file, a.line, a.column, &a.message)
                    .cmp(&(&b.file, b.line, b.column, &b.message))
            });
            folded.dedup();
            d.consequences = folded;
            d
        })
        .collect();
}

/// `fix` as a values layer (JSON, which is YAML): each pointer's keys as nested maps.
fn as_layer(fix: &Fix) -> String {
    let mut root = serde_json::Map::new();
    for (pointer, value) in &fix.set {
        let keys: Vec<String> = crate::values::pointer_keys(pointer).collect();
        let Some((last, parents)) = keys.split_last() else {
            continue;
        };
        let mut map = &mut root;
        for key in parents {
            let child = map
                .entry(key.clone())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !child.is_object() {
                *child = serde_json::Value::Object(Default::default());
            }
            map = child.as_object_mut().expect("made an object");
        }
        map.insert(last.clone(), value.clone());
    }
    serde_json::Value::Object(root).to_string()
}

/// The target checked again with `cause`'s fix as one more layer, right after the layer that
/// holds the cause, so the fix takes that layer's precedence, as the edit would; last when the
/// cause is in no layer of the target. The fix is written to a private temporary file (its
/// values may hold secrets) that is gone when the check is. `None` when the file cannot be
/// written.
async fn check_with_fix(
    ws: &Workspace,
    target: &Target,
    cause: &Diagnostic,
) -> Option<TargetOutcome> {
    let fix = cause.fix.as_ref()?;
    let dir = tempfile::tempdir().ok()?;
    let file = dir.path().join("fix.yaml");
    crate::fsutil::write_atomic(&file, as_layer(fix).as_bytes()).ok()?;
    let name = file.to_str()?.to_string();
    let mut tried = target.clone();
    let at = cause
        .file
        .as_ref()
        .and_then(|f| tried.layers.iter().position(|l| l == f))
        .map_or(tried.layers.len(), |i| i + 1);
    tried.layers.insert(at, name.clone());
    let outcome = check_once(ws, tried).await;
    ws.forget_layer(&name);
    Some(outcome)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fix_is_a_layer_of_nested_maps_with_escaped_keys_unescaped() {
        let fix = Fix {
            set: vec![
                (
                    "/backend-api/cronJobs/pull-co".into(),
                    json!({"suspend": true}),
                ),
                ("/backend-api/cronJobs/pull-co-x".into(), json!(null)),
                ("/a~1b/c~0d".into(), json!(1)),
            ],
        };
        let layer: serde_json::Value = serde_json::from_str(&as_layer(&fix)).unwrap();
        assert_eq!(
            layer,
            json!({
                "backend-api": {"cronJobs": {"pull-co": {"suspend": true}, "pull-co-x": null}},
                "a/b": {"c~d": 1}
            })
        );
    }
}

//! The dependency operations (`deps check|build|update|bump|link|unlink|status`), and
//! preparing the workspace every rendering operation starts from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::{Context, DepsSource, Notice};
use crate::deps::build::{self, BuildOutcome, BuiltDependency, DependencyStatus, DepsOptions};
use crate::deps::bump;
use crate::deps::chartfile::{ChartFile, LOCK_FILE, LockFile};
use crate::deps::exclusive::RepoLock;
use crate::deps::links::{self, Link};
use crate::deps::update;
use crate::engine::Workspace;
use crate::error::{Error, Result};
use crate::findings::{Diagnostic, Report, Severity};
use crate::process::cancellable;
use crate::rules;

/// `Chart.yaml` and `Chart.lock` as committed, and what the dependency and lock rules find
/// in them (rule levels of `stackctl.toml` applied).
struct SupplyChain {
    lock: Option<LockFile>,
    lock_path: PathBuf,
    findings: Vec<Diagnostic>,
}

impl SupplyChain {
    fn load(cx: &Context) -> Result<SupplyChain> {
        let repo = &cx.repo;
        let chart_dir = repo.chart_dir();
        let chart = ChartFile::load(&chart_dir)?;
        let lock = LockFile::load(&chart_dir)?;
        let lock_path = chart_dir.join(LOCK_FILE);
        let findings = rules::deps::check_files(
            &chart,
            lock.as_ref(),
            &repo.display_path(&chart.path),
            &repo.display_path(&lock_path),
        );
        Ok(SupplyChain {
            lock,
            lock_path,
            findings: rules::finalize(findings, &repo.config, &[]),
        })
    }

    /// The errors among the findings of `rules`: what forbids an operation.
    fn blocking(&self, rules: &[&str]) -> Vec<Diagnostic> {
        self.findings
            .iter()
            .filter(|d| d.severity == Severity::Error && rules.contains(&d.rule.as_str()))
            .cloned()
            .collect()
    }
}

/// The supply-chain findings of the repository as committed: the dependency and lock rules,
/// and under `CI=true` an active link.
pub fn supply_chain(cx: &Context) -> Result<Vec<Diagnostic>> {
    let mut findings = SupplyChain::load(cx)?.findings;
    if cx.env.is_ci() {
        let links = rules::deps::check_links(&links::load(&cx.repo)?);
        findings.extend(rules::finalize(links, &cx.repo.config, &[]));
    }
    Ok(findings)
}

/// `deps check`: the supply-chain findings as a report. The registry settings are resolved
/// only to refuse malformed flags as the other deps commands do; the check itself is offline.
pub fn check(cx: &Context, source: &DepsSource) -> Result<Report> {
    let started = Instant::now();
    crate::oci::RegistrySettings::resolve(
        &cx.repo.config.registries,
        &cx.env,
        &source.mirrors,
        &source.insecure,
    )?;
    announce_links(cx)?;
    Ok(Report {
        targets: Vec::new(),
        diagnostics: supply_chain(cx)?,
        duration_ms: started.elapsed().as_millis() as u64,
        stopped: None,
    })
}

/// Active links are announced on every run that uses dependencies.
fn announce_links(cx: &Context) -> Result<Vec<Link>> {
    let active = links::load(&cx.repo)?;
    if let Some(banner) = links::banner(&active) {
        cx.progress().notice(Notice::Banner(&banner));
    }
    Ok(active)
}

/// The lock, unless it does not match `Chart.yaml` (helm refuses to build from such a lock
/// too): then the first finding that forbids building, at its line.
fn buildable_lock(cx: &Context) -> Result<LockFile> {
    let supply = SupplyChain::load(cx)?;
    let blocking = supply.blocking(&[
        rules::deps::OCI_ONLY,
        rules::lock::LOCK_MISSING,
        rules::lock::LOCK_IN_SYNC,
        rules::lock::LOCK_DIGEST,
    ]);
    if let Some(error) = refusal("cannot build dependencies", &blocking, cx) {
        return Err(error);
    }
    match supply.lock {
        Some(lock) => Ok(lock),
        // No dependencies and no lock: nothing to build.
        None => LockFile::parse(&supply.lock_path, "dependencies: []\n"),
    }
}

/// An error naming the first of `blocking` (at its line), or `None` when there is none.
fn refusal(what: &str, blocking: &[Diagnostic], cx: &Context) -> Option<Error> {
    let first = blocking.first()?;
    let more = match blocking.len() {
        1 => String::new(),
        n => format!(" (and {} more: `stackctl deps check` lists them)", n - 1),
    };
    let mut error = Error::config(format!("{what}: {} [{}]{more}", first.message, first.rule));
    if let (Some(file), Some(line)) = (&first.file, first.line) {
        error = error.at(cx.repo.path(file), Some(line));
    }
    if let Some(hint) = &first.hint {
        error = error.with_hint(hint.clone());
    }
    Some(error)
}

fn options(cx: &Context, source: &DepsSource) -> Result<DepsOptions> {
    let mut options = DepsOptions::new(
        &cx.repo,
        cx.env.clone(),
        source.offline,
        &source.mirrors,
        &source.insecure,
        cx.cancel().clone(),
    )?;
    let progress = Arc::clone(&cx.invocation.progress);
    options.on_warning = Arc::new(move |warning: &str| progress.notice(Notice::Warning(warning)));
    Ok(options)
}

/// `deps build`: make `charts/` hold exactly the locked archives.
pub async fn build(cx: &Context, source: &DepsSource) -> Result<BuildReport> {
    announce_links(cx)?;
    let outcome = ensure_built(cx, source).await?;
    announce_local_fallback(cx, &outcome, "built");
    Ok(BuildReport::new(cx, &outcome, None))
}

/// One line per registry whose charts came from the local chart sources because no
/// credentials exist for it.
fn announce_local_fallback(cx: &Context, outcome: &BuildOutcome, done: &str) {
    for host in &outcome.local_fallback {
        cx.progress().notice(Notice::Banner(&format!(
            "{done} against local chart sources: no credentials for {host}"
        )));
    }
}

/// Make `charts/` hold exactly the locked archives, quietly (the build every rendering
/// operation starts with). Interrupting it leaves `charts/` as it was.
async fn ensure_built(cx: &Context, source: &DepsSource) -> Result<BuildOutcome> {
    let lock = buildable_lock(cx)?;
    let options = options(cx, source)?;
    // Held until `charts/` is complete: a run started meanwhile waits, then finds it built.
    let _write_lock = write_lock(cx).await?;
    let resolution = cancellable(cx.cancel(), build::resolve(&cx.repo, &lock, &options)).await?;
    cx.check_cancelled()?;
    resolution.commit(&cx.repo)
}

/// Take the repository's write lock (on `.stackctl/`), saying so when another run holds it;
/// Ctrl-C ends the wait.
async fn write_lock(cx: &Context) -> Result<RepoLock> {
    let progress = &cx.invocation.progress;
    let tell = |file: &str| {
        progress.notice(Notice::Step(&format!(
            "waiting for another stackctl run in this repository to finish writing dependencies (it holds the lock on {file}/)"
        )))
    };
    cancellable(cx.cancel(), RepoLock::acquire(&cx.repo, tell)).await
}

/// Build the dependencies and load the workspace: what `validate`, `render` and `values`
/// start from. `done` says what the run does with the charts (`validated`, `rendered`), for
/// the notice that local chart sources stood in for a registry without credentials.
pub async fn prepare_workspace(cx: &Context, source: &DepsSource, done: &str) -> Result<Workspace> {
    announce_links(cx)?;
    let outcome = cx.helm_first(ensure_built(cx, source).await).await?;
    announce_local_fallback(cx, &outcome, done);
    let archives: BTreeMap<(String, String), PathBuf> = outcome
        .dependencies
        .iter()
        .map(|d| {
            (
                (d.name.clone(), d.version.clone()),
                outcome.charts_dir.join(&d.file),
            )
        })
        .collect();
    Workspace::load(cx.repo.clone(), cx.helm().await?.clone(), &archives)
}

/// What a build or an update did: the JSON document of `deps build` and `deps update`.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// `charts/` of the umbrella chart, repository-relative.
    pub charts_dir: String,
    pub dependencies: Vec<BuiltDependency>,
    /// Archives removed because the lock no longer lists them.
    pub removed: Vec<String>,
    /// Problems worked around (a corrupt cache entry refetched, a stray file in `charts/`).
    pub warnings: Vec<String>,
    /// Whether `Chart.lock` was (re)written: `null` for `deps build`, which never writes it.
    pub lock_written: Option<bool>,
    /// `deps update` only: the lock file, repository-relative.
    #[serde(skip)]
    pub lock_file: String,
}

impl BuildReport {
    fn new(cx: &Context, outcome: &BuildOutcome, lock_written: Option<bool>) -> BuildReport {
        BuildReport {
            charts_dir: cx.repo.display_path(&outcome.charts_dir),
            dependencies: outcome.dependencies.clone(),
            removed: outcome.removed.clone(),
            warnings: outcome.warnings.clone(),
            lock_written,
            lock_file: cx.repo.display_path(&cx.repo.chart_dir().join(LOCK_FILE)),
        }
    }

    /// True when nothing was written or removed.
    pub fn unchanged(&self) -> bool {
        self.removed.is_empty() && self.dependencies.iter().all(|d| !d.written)
    }
}

/// What `deps update` concluded.
pub enum UpdateResult {
    /// Nothing can be locked until these findings are fixed.
    Blocked(Report),
    Updated(BuildReport),
}

/// `deps update`: prove every pin exists, rewrite the lock as helm would, build.
pub async fn update(cx: &Context, source: &DepsSource) -> Result<UpdateResult> {
    let started = Instant::now();
    let repo = &cx.repo;
    let chart = ChartFile::load(&repo.chart_dir())?;
    // What makes a lock impossible to compute; the lock itself is about to be rewritten.
    let blockers = SupplyChain::load(cx)?.blocking(&[
        rules::deps::OCI_ONLY,
        rules::deps::PINNED,
        rules::deps::ALIAS_VERSIONS,
    ]);
    if !blockers.is_empty() {
        return Ok(UpdateResult::Blocked(Report {
            targets: Vec::new(),
            diagnostics: blockers,
            duration_ms: started.elapsed().as_millis() as u64,
            stopped: None,
        }));
    }
    announce_links(cx)?;
    let options = options(cx, source)?;
    let _write_lock = write_lock(cx).await?;
    let outcome = cancellable(cx.cancel(), update::update(repo, &chart, &options)).await?;
    Ok(UpdateResult::Updated(BuildReport::new(
        cx,
        &outcome.build,
        Some(outcome.lock_written),
    )))
}

/// What `deps bump` is asked.
#[derive(Debug, Clone)]
pub struct BumpRequest {
    pub chart: String,
    pub version: String,
    /// Compute the diff only: write nothing, contact no registry.
    pub dry_run: bool,
    pub source: DepsSource,
}

/// What `deps bump` did (the JSON document of `deps bump`).
#[derive(Debug, Clone, Serialize)]
pub struct BumpReport {
    /// The dependency chart bumped (`backend`).
    pub chart: String,
    /// The versions `Chart.yaml` had for it, one per distinct value.
    pub from: Vec<String>,
    pub to: String,
    /// The image repository whose tags followed the chart.
    pub image: String,
    pub dry_run: bool,
    /// Whether the files were written (false for a dry run or when nothing changes).
    pub written: bool,
    /// One entry per file that changes, in order.
    pub changes: Vec<FileDiff>,
    /// A conventional-commit message for the change (`null` when nothing changes).
    pub commit_message: Option<String>,
}

/// One file a command changes, with its unified diff.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    /// Repository-relative path.
    pub file: String,
    pub diff: String,
}

impl From<&bump::FileChange> for FileDiff {
    fn from(change: &bump::FileChange) -> FileDiff {
        FileDiff {
            file: change.display.clone(),
            diff: change.diff(),
        }
    }
}

/// `deps bump`: the chart's version in `Chart.yaml` (every alias), its image tags and the
/// lock, in one step. The new version must exist before any file is touched.
pub async fn bump(cx: &Context, request: &BumpRequest) -> Result<BumpReport> {
    let plan = bump::plan(&cx.repo, &request.chart, &request.version)?;
    let write = !request.dry_run && !plan.changes.is_empty();
    if write {
        let options = options(cx, &request.source)?;
        let _write_lock = write_lock(cx).await?;
        cancellable(
            cx.cancel(),
            update::verify_versions_exist(&cx.repo, &plan.new_chart, &options),
        )
        .await?;
        cx.check_cancelled()?;
        bump::apply(&plan.changes)?;
    }
    Ok(BumpReport {
        chart: plan.chart.clone(),
        from: plan.from.clone(),
        to: plan.to.clone(),
        image: plan.image.clone(),
        dry_run: request.dry_run,
        written: write,
        changes: plan.changes.iter().map(FileDiff::from).collect(),
        commit_message: (!plan.changes.is_empty()).then(|| plan.commit_message()),
    })
}

/// `deps link`: record that `chart` comes from `dir`.
pub fn link(cx: &Context, chart: &str, dir: &Path) -> Result<Link> {
    links::link(&cx.repo, chart, dir)
}

/// `deps unlink`: end `chart`'s link.
pub fn unlink(cx: &Context, chart: &str) -> Result<()> {
    if links::unlink(&cx.repo, chart)? {
        Ok(())
    } else {
        Err(Error::usage(format!("{chart} is not linked"))
            .with_hint("`stackctl deps status` shows the active links"))
    }
}

/// `deps status`: every dependency's requested and locked version, source and presence.
pub fn status(cx: &Context) -> Result<Vec<DependencyStatus>> {
    announce_links(cx)?;
    build::status(&cx.repo)
}

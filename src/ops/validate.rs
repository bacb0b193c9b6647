//! `validate`: the supply-chain checks, then every target of the scope checked in parallel
//! (or found in the result cache), the charts linted when the scope includes them, the
//! cross-target rules, and one report.

use std::sync::Arc;
use std::time::Instant;

use super::{Context, DepsSource, Notice, deps};
use crate::engine::cache::ResultCache;
use crate::engine::{self, targets};
use crate::error::Result;
use crate::findings::{Diagnostic, Report, Stopped};
use crate::oci::cache::ChartCache;
use crate::repo::Repo;
use crate::rules;
use crate::target::Target;

/// What to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything: dependencies, the charts and their variants, every cloud's envs.
    All,
    /// The envs of one cloud (of the only layering when no layer names a cloud).
    Envs { cloud: Option<String> },
    /// The charts: lint, variants, agnosticism.
    Chart,
}

impl Scope {
    /// The command that validates this scope, as reports name it.
    pub fn command(&self) -> String {
        match self {
            Scope::All => "validate".to_string(),
            Scope::Envs { cloud: Some(cloud) } => format!("validate envs {cloud}"),
            Scope::Envs { cloud: None } => "validate envs".to_string(),
            Scope::Chart => "validate chart".to_string(),
        }
    }

    fn includes_charts(&self) -> bool {
        !matches!(self, Scope::Envs { .. })
    }
}

/// A `validate` run's parameters.
#[derive(Debug, Clone)]
pub struct ValidateRequest {
    pub scope: Scope,
    pub source: DepsSource,
    /// How many targets to render at once (default: the number of cores).
    pub jobs: Option<usize>,
    /// Read and write the result cache.
    pub use_cache: bool,
}

/// Validate the repository; the report holds every finding.
pub async fn validate(cx: &Context, request: &ValidateRequest) -> Result<Report> {
    let started = Instant::now();
    let repo = &cx.repo;
    cx.require_helm().await?;
    // The lock is checked as committed, before anything could touch it.
    let mut general = cx.helm_first(deps::supply_chain(cx)).await?;
    let targets = cx.helm_first(select_targets(repo, &request.scope)).await?;
    if !matches!(request.scope, Scope::Chart) {
        for chart in targets::charts_in_envs(repo) {
            cx.invocation.progress.notice(Notice::Warning(&format!(
                "the envs directory {} contains the chart {}: only its values files can be targets; keep charts out of envs.dir (or run with -v to see what was skipped)",
                repo.display_path(&repo.envs_dir()),
                repo.display_path(&chart)
            )));
        }
    }
    // Repository-wide and cheap, and `.gitignore` is no input of any target's cached verdict:
    // checked on every run.
    if request.scope != Scope::Chart {
        general.extend(rules::secrets::check_gitignore(&repo.root));
    }
    let workspace = match deps::prepare_workspace(cx, &request.source, "validated").await {
        Ok(workspace) => Arc::new(workspace),
        // The findings so far (a lock out of sync, a file:// leak: often why the chart cannot
        // be built) and the error are reported together, the exit code the error's.
        Err(e) if !e.is_cancelled() && !general.is_empty() => {
            let mut report = engine::assemble(repo, &[], general, started);
            report.stopped = Some(Stopped {
                message: e.text(),
                file: e.location.as_ref().map(|(file, _)| repo.display_path(file)),
                line: e.location.as_ref().and_then(|(_, line)| *line),
                hint: e.hint.clone(),
                exit_code: e.kind.exit_code() as u8,
            });
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    if request.scope.includes_charts() {
        general.extend(chart_findings(cx, &workspace).await?);
    }
    let extra = service_values(repo, &request.scope);
    workspace.refuse_too_deep(&engine::files_read(&workspace, &targets, &extra))?;
    let (literals, scanned) = engine::file_checks(&workspace, &targets, &extra);
    general.extend(literals);
    let cache = match request.use_cache {
        true => Some(Arc::new(ResultCache::open(
            &ChartCache::default_dir(&cx.env)?,
            repo,
            cx.helm().await?,
        )?)),
        false => None,
    };
    let progress = Arc::clone(&cx.invocation.progress);
    progress.begin("validating", targets.len());
    let on_done: engine::OnDone = {
        let progress = Arc::clone(&progress);
        Arc::new(move |outcome: &engine::TargetOutcome| {
            // A hung render is said as soon as it is stopped, not after the other targets.
            if let Some(after) = outcome.render_timeout {
                progress.notice(Notice::Warning(&format!(
                    "helm template of {} did not finish within {} ([render] timeout in stackctl.toml); stopped it, the other targets go on",
                    outcome.target.name,
                    crate::process::seconds(after)
                )));
            }
            progress.advance(&outcome.target.name)
        })
    };
    let outcomes = engine::check_all(
        Arc::clone(&workspace),
        targets,
        jobs(request),
        cache,
        Some(on_done),
    )
    .await;
    progress.end();
    cx.check_cancelled()?;
    general.extend(engine::cross_target_findings(&workspace, &outcomes));
    Ok(engine::assemble_with(
        repo, &outcomes, general, &scanned, started,
    ))
}

/// The targets of a `validate` scope.
fn select_targets(repo: &Repo, scope: &Scope) -> Result<Vec<Target>> {
    Ok(match scope {
        Scope::Envs { cloud } => targets::env_targets(repo, cloud.as_deref())?,
        Scope::Chart => targets::variant_targets(repo),
        Scope::All => {
            let mut all = Vec::new();
            if !crate::engine::layout::Layout::of(repo)?.has_cloud() {
                all.extend(targets::env_targets(repo, None)?);
            }
            for cloud in targets::clouds(repo)? {
                all.extend(targets::env_targets(repo, Some(&cloud))?);
            }
            all.extend(targets::variant_targets(repo));
            all
        }
    })
}

/// `chart/agnostic` over the umbrella's templates and `chart/lint` of every chart.
async fn chart_findings(cx: &Context, workspace: &engine::Workspace) -> Result<Vec<Diagnostic>> {
    let repo = &cx.repo;
    let mut findings = rules::chart::check_templates(
        &workspace.chart_dir,
        &repo.display_path(&workspace.chart_dir),
    );
    findings.extend(engine::lint::lint_charts(workspace, &targets::variant_targets(repo)).await?);
    cx.check_cancelled()?;
    Ok(findings)
}

/// The defaults of the local service charts, scanned for secrets when the charts are in
/// scope.
fn service_values(repo: &Repo, scope: &Scope) -> Vec<String> {
    if !scope.includes_charts() {
        return Vec::new();
    }
    repo.local_sources()
        .values()
        .map(|source| repo.path(source))
        .filter(|dir| dir.join("values.yaml").is_file())
        .map(|dir| repo.display_file(&dir, "values.yaml"))
        .collect()
}

fn jobs(request: &ValidateRequest) -> usize {
    request.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    })
}

//! Turning outcomes into a report: rule levels and suppressions applied, findings of shared
//! layers reported once, each target's status.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::pipeline::TargetOutcome;
use crate::findings::{Diagnostic, Report, Severity, Status, TargetResult};
use crate::repo::Repo;
use crate::rules;
use crate::values::Suppressions;

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
/// defaults, scanned by [`file_checks`]).
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
        stopped: None,
    }
}

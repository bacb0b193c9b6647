//! Turning outcomes into a report: rule levels and suppressions applied, findings of shared
//! layers reported once, each target's status.

use std::collections::{HashMap, HashSet};
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
    let diagnostics = once_each(
        general
            .drain(..)
            .chain(outcomes.iter().flat_map(|o| o.diagnostics.iter().cloned())),
    );
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
    // Consequences of a cause that is suppressed, off or milder stand on their own again, and
    // may then be the same finding as another target's.
    let diagnostics = once_each(rules::finalize(diagnostics, &repo.config, &suppressions));
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

/// Each finding once: a finding in a layer several targets share (`envs/aws.yaml`) is one
/// finding, holding the consequences it has in every target (each once).
fn once_each(diagnostics: impl IntoIterator<Item = Diagnostic>) -> Vec<Diagnostic> {
    let mut kept: Vec<Diagnostic> = Vec::new();
    let mut index = HashMap::new();
    for d in diagnostics {
        let key = (
            d.rule.clone(),
            d.file.clone(),
            d.line,
            d.column,
            d.message.clone(),
            d.file.is_none().then(|| d.target.clone()),
        );
        match index.get(&key) {
            Some(&at) => {
                let first: &mut Diagnostic = &mut kept[at];
                for c in d.consequences {
                    if !first.consequences.contains(&c) {
                        first.consequences.push(c);
                    }
                }
            }
            None => {
                index.insert(key, kept.len());
                kept.push(d);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuleLevel;
    use crate::target::{Target, TargetKind};

    /// An outcome of target `name` (layers `envs/aws.yaml` and its own file) whose only
    /// finding is an unknown key in the shared `envs/aws.yaml`, causing one error of its own.
    fn outcome(name: &str) -> TargetOutcome {
        let mut cause = Diagnostic::error("values/unknown-key", "imge: unknown key")
            .at("envs/aws.yaml", 3, 1)
            .with_target(name);
        cause.consequences = vec![
            Diagnostic::error(
                "render/dangling-reference",
                format!("{name} reads a Secret"),
            )
            .at(name, 5, 1)
            .with_target(name),
        ];
        TargetOutcome {
            target: Target {
                name: name.to_string(),
                layers: vec!["envs/aws.yaml".to_string(), name.to_string()],
                release: "r".to_string(),
                namespace: "r".to_string(),
                external_refs: Vec::new(),
                kind: TargetKind::Env,
                group: None,
                cloud: None,
                tables: Vec::new(),
            },
            diagnostics: vec![cause],
            suppressions: Vec::new(),
            facts: Default::default(),
            cached: false,
            cacheable: true,
            render_timeout: None,
            duration_ms: 0,
        }
    }

    #[test]
    fn a_cause_in_a_shared_layer_is_one_finding_with_the_consequences_of_every_target() {
        let repo = Repo::for_tests(std::path::Path::new("/nonexistent"));
        let outcomes = [outcome("envs/prod/a.yaml"), outcome("envs/prod/b.yaml")];
        let report = assemble(&repo, &outcomes, Vec::new(), Instant::now());
        assert_eq!(report.diagnostics.len(), 1, "{:?}", report.diagnostics);
        assert_eq!(report.diagnostics[0].consequences.len(), 2);
        assert_eq!(report.failed(), 2);
    }

    #[test]
    fn consequences_of_a_milder_shared_cause_fail_each_their_own_target() {
        let mut repo = Repo::for_tests(std::path::Path::new("/nonexistent"));
        repo.config
            .rules
            .insert("values/unknown-key".into(), RuleLevel::Warning);
        let outcomes = [outcome("envs/prod/a.yaml"), outcome("envs/prod/b.yaml")];
        let report = assemble(&repo, &outcomes, Vec::new(), Instant::now());
        let errors: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.target.as_deref().unwrap())
            .collect();
        assert_eq!(errors, ["envs/prod/a.yaml", "envs/prod/b.yaml"]);
        assert_eq!(report.failed(), 2);
        assert_eq!(report.warnings(), 1);
    }
}

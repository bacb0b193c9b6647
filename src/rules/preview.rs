//! `preview/cronjobs-suspended`: a per-PR preview environment never runs the production
//! jobs.

use serde_json::Value;

use super::render::cronjob_entry;
use super::sources::{Sources, describe};
use super::{Scope, TargetCx, TargetRule, finding, rule};
use crate::findings::{Diagnostic, Severity};
use crate::helm::RenderedObject;
use crate::values::Merged;

pub const RULES: &[super::Rule] = &[rule(
    "preview/cronjobs-suspended",
    Severity::Error,
    Scope::Target,
    "every CronJob of a preview environment is suspended",
)];

/// `preview/cronjobs-suspended` on the envs of the preview directories (`envs.preview-dirs`).
pub struct CronjobsSuspended;

impl TargetRule for CronjobsSuspended {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        let Some(rendered) = cx.rendered else {
            return;
        };
        if cx.in_group(&cx.config.envs.preview_dirs) {
            out.extend(preview_cronjobs(
                &rendered.objects,
                &cx.target.release,
                &cx.dependency_keys(),
                Some(cx.merged),
                cx.sources,
            ));
        }
    }
}

/// `preview/cronjobs-suspended`: in a preview environment every CronJob is suspended, so a
/// throwaway environment never runs the production jobs. Located at the `suspend:` value that
/// is false, in whichever layer set it (that is the line to change); when no layer sets
/// `suspend`, at the entry of the `cronJobs` map in the target's own file when it has one,
/// else at that map (where the line is to be added).
pub fn preview_cronjobs(
    objects: &[RenderedObject],
    release: &str,
    dependency_keys: &[&str],
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for cronjob in objects.iter().filter(|o| o.kind() == "CronJob") {
        if cronjob.value.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
            continue;
        }
        let mut d = finding(
            "preview/cronjobs-suspended",
            format!("{} runs in a preview environment", describe(cronjob)),
        )
        .with_hint("set suspend: true for it under cronJobs in the preview values");
        let entry = cronjob_entry(cronjob, release, dependency_keys);
        let suspend = entry.as_ref().and_then(|pointer| {
            let pointer = format!("{pointer}/suspend");
            let merged = merged?;
            // A `suspend: true` the chart did not honour is not the line to change.
            if merged.get(&pointer) == Some(&Value::Bool(true)) {
                return None;
            }
            Some((merged.origin(&pointer)?, pointer))
        });
        if let Some((origin, pointer)) = suspend {
            out.push(
                d.at(origin.file.to_string(), origin.line, origin.column)
                    .with_path(pointer),
            );
            continue;
        }
        let origin = entry.as_ref().and_then(|pointer| {
            let provenance = &merged?.provenance;
            let last = provenance.layers().last()?;
            // The deepest part of the entry the target's own file writes.
            let mut at = pointer.as_str();
            loop {
                if let Some(span) = last.span(at) {
                    let p = span.primary();
                    return Some((last.file().to_string(), p.line, p.column));
                }
                at = &at[..at.rfind('/')?];
                if at.is_empty() {
                    return None;
                }
            }
        });
        d = match (origin, entry) {
            (Some((file, line, column)), Some(pointer)) => d
                .at(file, line, column)
                .with_path(format!("{pointer}/suspend")),
            _ => sources.locate(d, cronjob),
        };
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::render::fixtures::{SOURCES, locations, objects};
    use crate::values::{merge_chain, parse_layer};

    const JOBS: &str = "---\n# Source: jetscale/charts/backend-api/templates/cronjobs.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: pr-1-backend-api-pull-ce}\nspec: {schedule: '0 4 * * *', suspend: false}\n---\n# Source: jetscale/charts/backend-api/templates/cronjobs.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: pr-1-backend-api-pull-co}\nspec: {schedule: '0 3 * * *', suspend: false}\n---\n# Source: jetscale/charts/backend-api/templates/cronjobs.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: pr-1-backend-api-pull-coh}\nspec: {schedule: '0 2 * * *', suspend: true}\n";

    /// The line that un-suspends a job is the `suspend: false` value, wherever it is set; a
    /// job no layer suspends points at its key in the preview file.
    #[test]
    fn an_unsuspended_job_points_at_its_suspend_false_value_else_at_its_key() {
        let defaults = parse_layer(
            "charts/jetscale/values.yaml",
            "backend-api:\n  cronJobs:\n    pull-ce: {schedule: '0 4 * * *'}\n    pull-co: {schedule: '0 3 * * *'}\n    pull-coh: {schedule: '0 2 * * *', suspend: true}\n",
        )
        .unwrap();
        let preview = parse_layer(
            "envs/preview/preview.yaml",
            "backend-api:\n  cronJobs:\n    pull-ce:\n      schedule: '0 4 * * *'\n      suspend: false\n    pull-co:\n      schedule: '0 5 * * *'\n",
        )
        .unwrap();
        let merged = merge_chain(&defaults, &[preview]);
        let found = preview_cronjobs(
            &objects(JOBS),
            "pr-1",
            &["backend-api"],
            Some(&merged),
            &SOURCES,
        );
        let at = locations(&found);
        assert_eq!(
            at,
            [
                (
                    "envs/preview/preview.yaml",
                    5,
                    "/backend-api/cronJobs/pull-ce/suspend"
                ),
                (
                    "envs/preview/preview.yaml",
                    6,
                    "/backend-api/cronJobs/pull-co/suspend"
                ),
            ]
        );
    }
}

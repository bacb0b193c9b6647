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
/// throwaway environment never runs the production jobs. Located at the entry of the
/// `cronJobs` map in the target's own file when it has one, else at that map.
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

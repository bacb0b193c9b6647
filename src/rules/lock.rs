//! `lock/*`: `Chart.lock` exists, lists what `Chart.yaml` asks for, and carries the digest
//! helm computes. A check never writes the lock: a stale lock is reported, not repaired
//! (repairing it silently is how drift used to reach CI unnoticed).

use super::{Scope, finding, rule};
use crate::deps::chartfile::{ChartFile, LockFile, is_exact_version};
use crate::deps::lock::helm_digest;
use crate::findings::{Diagnostic, Severity};

pub const LOCK_MISSING: &str = "lock/missing";
pub const LOCK_IN_SYNC: &str = "lock/in-sync";
pub const LOCK_DIGEST: &str = "lock/digest";

pub const RULES: &[super::Rule] = &[
    rule(
        LOCK_MISSING,
        Severity::Error,
        Scope::Repository,
        "Chart.lock exists",
    ),
    rule(
        LOCK_IN_SYNC,
        Severity::Error,
        Scope::Repository,
        "Chart.lock lists the same dependencies as Chart.yaml, in order",
    ),
    rule(
        LOCK_DIGEST,
        Severity::Error,
        Scope::Repository,
        "Chart.lock's digest is the one helm computes",
    ),
];

const UPDATE_HINT: &str =
    "run `stackctl deps update` to rewrite Chart.lock from Chart.yaml, then commit both files";

/// The lock rules for one chart. A chart without dependencies needs no lock, but a lock that
/// still lists charts is out of sync all the same.
pub fn check(
    chart: &ChartFile,
    lock: Option<&LockFile>,
    chart_display: &str,
    lock_display: &str,
) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    if chart.dependencies.is_empty() {
        if let Some(lock) = lock {
            check_in_sync(chart, lock, chart_display, lock_display, &mut findings);
        }
        return findings;
    }
    let Some(lock) = lock else {
        findings.push(
            finding(
                LOCK_MISSING,
                format!(
                    "Chart.yaml has {} dependencies but {lock_display} does not exist",
                    chart.dependencies.len()
                ),
            )
            .at(chart_display, chart.dependencies_line.unwrap_or(1), 1)
            .with_hint("run `stackctl deps update` and commit Chart.lock with Chart.yaml"),
        );
        return findings;
    };
    let before = findings.len();
    check_in_sync(chart, lock, chart_display, lock_display, &mut findings);
    let out_of_sync = findings[before..].iter().any(|d| d.rule == LOCK_IN_SYNC);
    // An out-of-sync lock necessarily has another digest; saying so twice is noise.
    if !out_of_sync {
        check_digest(chart, lock, lock_display, &mut findings);
    }
    findings
}

fn check_in_sync(
    chart: &ChartFile,
    lock: &LockFile,
    chart_file: &str,
    lock_file: &str,
    findings: &mut Vec<Diagnostic>,
) {
    let requested = &chart.dependencies;
    let locked = &lock.dependencies;
    // A longer lock is reported entry by entry, below.
    if requested.len() > locked.len() {
        findings.push(
            finding(
                LOCK_IN_SYNC,
                format!(
                    "{lock_file} lists {} dependencies but {chart_file} has {}",
                    locked.len(),
                    requested.len()
                ),
            )
            .at(lock_file, lock.dependencies_line.unwrap_or(1), 1)
            .with_hint(UPDATE_HINT),
        );
    }
    for (index, (want, have)) in requested.iter().zip(locked).enumerate() {
        let position = index + 1;
        if want.fields.name != have.fields.name {
            let (line, column) = have.name_line();
            findings.push(
                finding(
                    LOCK_IN_SYNC,
                    format!(
                        "{lock_file} entry {position} is `{}` but {chart_file} entry {position} (line {}) is `{}`: the lock must list the same charts in the same order",
                        have.fields.name,
                        want.name_line().0,
                        want.fields.name
                    ),
                )
                .at(lock_file, line, column)
                .with_hint(UPDATE_HINT),
            );
            // The rest of this pair compares different charts: nothing more to learn.
            continue;
        }
        if want.fields.repository != have.fields.repository {
            let (line, column) = have.repository_line();
            findings.push(
                finding(
                    LOCK_IN_SYNC,
                    format!(
                        "{lock_file} locks {} from {} but {chart_file} (line {}) asks for {}",
                        have.fields.name,
                        have.fields.repository,
                        want.repository_line().0,
                        want.fields.repository
                    ),
                )
                .at(lock_file, line, column)
                .with_hint(UPDATE_HINT),
            );
        }
        // A range is deps/pinned's finding; comparing it to the locked version says nothing.
        if is_exact_version(&want.fields.version) && want.fields.version != have.fields.version {
            let (line, column) = have.version_line();
            findings.push(
                finding(
                    LOCK_IN_SYNC,
                    format!(
                        "{lock_file} locks {} {} but {chart_file} (line {}) asks for {}",
                        have.fields.name,
                        have.fields.version,
                        want.version_line().0,
                        want.fields.version
                    ),
                )
                .at(lock_file, line, column)
                .with_hint(UPDATE_HINT),
            );
        }
    }
    for (index, stale) in locked.iter().enumerate().skip(requested.len()) {
        let (line, column) = stale.name_line();
        findings.push(
            finding(
                LOCK_IN_SYNC,
                format!(
                    "{lock_file} entry {} locks `{}`, but {chart_file} lists only {} dependencies: helm would build a chart nothing asks for",
                    index + 1,
                    stale.fields.name,
                    requested.len()
                ),
            )
            .at(lock_file, line, column)
            .with_hint(UPDATE_HINT),
        );
    }
}

fn check_digest(
    chart: &ChartFile,
    lock: &LockFile,
    lock_file: &str,
    findings: &mut Vec<Diagnostic>,
) {
    let expected = helm_digest(&chart.helm_dependencies(), &lock.helm_dependencies());
    if lock.digest() == expected {
        return;
    }
    let (line, column) = lock
        .digest
        .as_ref()
        .map(|d| (d.line, d.column))
        .unwrap_or((1, 1));
    let message = if lock.digest().is_empty() {
        format!("{lock_file} has no digest")
    } else {
        format!(
            "{lock_file} digest {} is not the digest helm computes for these dependencies ({expected}): the lock was edited by hand, or Chart.yaml changed a condition, alias, tag or import without `deps update`",
            lock.digest()
        )
    };
    findings.push(
        finding(LOCK_DIGEST, message)
            .at(lock_file, line, column)
            .with_hint(UPDATE_HINT),
    );
}

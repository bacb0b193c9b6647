//! The supply-chain rules of the umbrella chart's dependencies, checked offline.
//!
//! Every rule has a stable ID (documented in `docs/rules.md`) and locates its finding at the
//! `Chart.yaml` or `Chart.lock` line to fix. A check never writes a file: a stale lock is
//! reported, not repaired (repairing it silently is how drift used to reach CI unnoticed).

use std::collections::BTreeMap;

use crate::deps::chartfile::{ChartFile, DependencyEntry, LockFile};
use crate::deps::links::{self, LINKS_FILE, Link};
use crate::deps::lock::helm_digest;
use crate::environment::Environment;
use crate::error::Result;
use crate::findings::Diagnostic;
use crate::repo::Repo;
use crate::rules;

pub const OCI_ONLY: &str = "deps/oci-only";
pub const PINNED: &str = "deps/pinned";
pub const ALIAS_VERSIONS: &str = "deps/alias-versions";
pub const LINK_MODE: &str = "deps/link-mode";
pub const LOCK_MISSING: &str = "lock/missing";
pub const LOCK_IN_SYNC: &str = "lock/in-sync";
pub const LOCK_DIGEST: &str = "lock/digest";

const UPDATE_HINT: &str =
    "run `stackctl deps update` to rewrite Chart.lock from Chart.yaml, then commit both files";

/// Check the repository's umbrella chart: dependency rules, lock rules and, under CI, link
/// mode. Severity overrides from `stackctl.toml` (`[rules]`) are applied.
pub fn check(repo: &Repo, env: &Environment) -> Result<Vec<Diagnostic>> {
    let chart_dir = repo.chart_dir();
    let chart = ChartFile::load(&chart_dir)?;
    let lock = LockFile::load(&chart_dir)?;
    let chart_display = repo.display_path(&chart.path);
    let lock_display = repo.display_path(&chart_dir.join(crate::deps::chartfile::LOCK_FILE));
    let mut findings = check_files(&chart, lock.as_ref(), &chart_display, &lock_display);
    if env.is_ci() {
        findings.extend(check_links(&links::load(repo)?));
    }
    Ok(apply_levels(repo, findings))
}

/// Drop findings of rules turned off and re-grade those given another level (`[rules]` in
/// stackctl.toml). Chart.yaml and Chart.lock carry no inline suppressions.
pub fn apply_levels(repo: &Repo, findings: Vec<Diagnostic>) -> Vec<Diagnostic> {
    rules::finalize(findings, &repo.config, &[])
}

/// Active links are findings in CI: a CI run must test the locked, published charts.
pub fn check_links(active: &[Link]) -> Vec<Diagnostic> {
    active
        .iter()
        .map(|link| {
            rules::finding(
                LINK_MODE,
                format!(
                    "dependency `{}` is linked to the local directory {} while CI=true",
                    link.chart,
                    link.dir.display()
                ),
            )
            .at(LINKS_FILE, link.line, 1)
            .with_hint(format!(
                "CI must build from the locked OCI charts: run `stackctl deps unlink {}` (or remove {LINKS_FILE})",
                link.chart
            ))
        })
        .collect()
}

/// The dependency and lock rules for one chart, without touching the disk.
pub fn check_files(
    chart: &ChartFile,
    lock: Option<&LockFile>,
    chart_display: &str,
    lock_display: &str,
) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    check_repositories(chart, chart_display, &mut findings);
    check_pins(chart, chart_display, &mut findings);
    check_alias_versions(chart, chart_display, &mut findings);
    if chart.dependencies.is_empty() {
        return findings;
    }
    let Some(lock) = lock else {
        findings.push(
            rules::finding(
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

fn label(dep: &DependencyEntry) -> String {
    if dep.fields.alias.is_empty() {
        format!("`{}`", dep.fields.name)
    } else {
        format!("`{}` ({})", dep.fields.alias, dep.fields.name)
    }
}

fn check_repositories(chart: &ChartFile, file: &str, findings: &mut Vec<Diagnostic>) {
    // The registry the other dependencies use is the best suggestion for a stray one.
    let registry = chart
        .dependencies
        .iter()
        .map(|d| d.fields.repository.as_str())
        .find(|r| r.starts_with("oci://"))
        .unwrap_or("oci://<registry>/<path>");
    for dep in &chart.dependencies {
        let repository = dep.fields.repository.as_str();
        if repository.starts_with("oci://") {
            continue;
        }
        let (line, column) = dep.repository_line();
        let finding = if repository.starts_with("file://") {
            rules::finding(
                OCI_ONLY,
                format!(
                    "dependency {} points at a local directory ({repository}): link mode was committed",
                    label(dep)
                ),
            )
            .with_hint(format!(
                "set `repository: {registry}` again; for local work use `stackctl deps link {} <dir>`, which never edits Chart.yaml",
                dep.fields.name
            ))
        } else if repository.is_empty() {
            rules::finding(
                OCI_ONLY,
                format!("dependency {} has no repository", label(dep)),
            )
            .with_hint(format!("set `repository: {registry}`"))
        } else {
            rules::finding(
                OCI_ONLY,
                format!(
                    "dependency {} comes from {repository}, which is not an OCI registry",
                    label(dep)
                ),
            )
            .with_hint(format!(
                "publish the chart to an OCI registry and reference it as `{registry}`"
            ))
        };
        findings.push(finding.at(file, line, column));
    }
}

/// Whether a version is one exact SemVer version (what a pin must be).
pub fn is_exact_version(version: &str) -> bool {
    semver::Version::parse(version).is_ok()
}

fn check_pins(chart: &ChartFile, file: &str, findings: &mut Vec<Diagnostic>) {
    for dep in &chart.dependencies {
        let version = dep.fields.version.as_str();
        if is_exact_version(version) {
            continue;
        }
        let (line, column) = dep.version_line();
        let message = if version.is_empty() {
            format!("dependency {} has no version", label(dep))
        } else {
            format!(
                "dependency {} version `{version}` is not an exact version (ranges, wildcards and `v` prefixes resolve to whatever was published last)",
                label(dep)
            )
        };
        findings.push(
            rules::finding(PINNED, message)
                .at(file, line, column)
                .with_hint(format!(
                    "pin the exact version that was tested, e.g. `version: \"4.6.12\"` (`stackctl deps bump {} <version>` edits every alias)",
                    dep.fields.name
                )),
        );
    }
}

fn check_alias_versions(chart: &ChartFile, file: &str, findings: &mut Vec<Diagnostic>) {
    let mut first_by_name: BTreeMap<&str, &DependencyEntry> = BTreeMap::new();
    for dep in &chart.dependencies {
        let Some(first) = first_by_name.get(dep.fields.name.as_str()) else {
            first_by_name.insert(&dep.fields.name, dep);
            continue;
        };
        if first.fields.version == dep.fields.version {
            continue;
        }
        let (line, column) = dep.version_line();
        findings.push(
            rules::finding(
                ALIAS_VERSIONS,
                format!(
                    "{} uses {} {} but {} (line {}) uses {}: every alias of a chart must carry the same version",
                    label(dep),
                    dep.fields.name,
                    dep.fields.version,
                    label(first),
                    first.version_line().0,
                    first.fields.version
                ),
            )
            .at(file, line, column)
            .with_hint(format!(
                "`stackctl deps bump {} <version>` sets every alias at once",
                dep.fields.name
            )),
        );
    }
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
    if requested.len() != locked.len() {
        findings.push(
            rules::finding(
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
                rules::finding(
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
                rules::finding(
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
                rules::finding(
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
        rules::finding(LOCK_DIGEST, message)
            .at(lock_file, line, column)
            .with_hint(UPDATE_HINT),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::lock::{lock_entries, render_lock};
    use std::path::Path;

    const CHART: &str = "apiVersion: v2
name: jetscale
version: 0.1.0
dependencies:
  - name: backend
    alias: backend-api
    version: \"4.6.12\"
    repository: oci://ghcr.io/jetscale-ai/charts
    condition: backend-api.enabled
  - name: backend
    alias: backend-ws
    version: \"4.6.12\"
    repository: oci://ghcr.io/jetscale-ai/charts
    condition: backend-ws.enabled
  - name: frontend
    version: \"2.7.1\"
    repository: oci://ghcr.io/jetscale-ai/charts
    condition: frontend.enabled
";

    fn lock_for(chart_text: &str) -> String {
        let chart = ChartFile::parse(Path::new("Chart.yaml"), chart_text).unwrap();
        let entries = lock_entries(&chart.helm_dependencies());
        let locked: Vec<_> = entries.iter().map(|e| e.to_helm()).collect();
        let digest = helm_digest(&chart.helm_dependencies(), &locked);
        render_lock(&entries, &digest, "2026-02-25T08:39:23.1-05:00")
    }

    fn run(chart_text: &str, lock_text: Option<&str>) -> Vec<(String, String, usize)> {
        let chart = ChartFile::parse(Path::new("Chart.yaml"), chart_text).unwrap();
        let lock = lock_text.map(|t| LockFile::parse(Path::new("Chart.lock"), t).unwrap());
        check_files(&chart, lock.as_ref(), "Chart.yaml", "Chart.lock")
            .into_iter()
            .map(|d| (d.rule, d.file.unwrap(), d.line.unwrap()))
            .collect()
    }

    fn owned(expected: &[(&str, &str, usize)]) -> Vec<(String, String, usize)> {
        expected
            .iter()
            .map(|(r, f, l)| (r.to_string(), f.to_string(), *l))
            .collect()
    }

    /// Each broken Chart.yaml / Chart.lock pair yields exactly its rule, at the line to fix.
    #[test]
    fn table_of_broken_pairs() {
        let good_lock = lock_for(CHART);
        let bumped = CHART.replacen("\"4.6.12\"", "\"4.6.13\"", 2);
        let bumped_lock = lock_for(&bumped);
        let file_dep = CHART.replace(
            "version: \"2.7.1\"\n    repository: oci://ghcr.io/jetscale-ai/charts",
            "version: \"2.7.1\"\n    repository: file://../../../frontend/chart",
        );
        type Case<'a> = (
            &'a str,
            String,
            Option<String>,
            Vec<(&'a str, &'a str, usize)>,
        );
        let cases: Vec<Case> = vec![
            ("in sync", CHART.into(), Some(good_lock.clone()), vec![]),
            (
                "Chart.yaml bumped, lock unchanged",
                bumped.clone(),
                Some(good_lock.clone()),
                vec![
                    (LOCK_IN_SYNC, "Chart.lock", 4),
                    (LOCK_IN_SYNC, "Chart.lock", 7),
                ],
            ),
            (
                "bumped with its lock",
                bumped.clone(),
                Some(bumped_lock),
                vec![],
            ),
            (
                "file:// dependency",
                file_dep.clone(),
                Some(lock_for(&file_dep)),
                vec![(OCI_ONLY, "Chart.yaml", 17)],
            ),
            (
                "range",
                CHART.replace("\"2.7.1\"", "\"^2.7.0\""),
                Some(good_lock.clone()),
                vec![(PINNED, "Chart.yaml", 16), (LOCK_DIGEST, "Chart.lock", 11)],
            ),
            (
                "wildcard",
                CHART.replace("\"2.7.1\"", "2.7.x"),
                Some(good_lock.clone()),
                vec![(PINNED, "Chart.yaml", 16), (LOCK_DIGEST, "Chart.lock", 11)],
            ),
            (
                "one alias bumped",
                CHART.replacen("\"4.6.12\"", "\"4.6.13\"", 1),
                Some(lock_for(&CHART.replacen("\"4.6.12\"", "\"4.6.13\"", 1))),
                vec![(ALIAS_VERSIONS, "Chart.yaml", 12)],
            ),
            (
                "no lock",
                CHART.into(),
                None,
                vec![(LOCK_MISSING, "Chart.yaml", 4)],
            ),
            (
                "condition changed without update",
                CHART.replace("frontend.enabled", "web.enabled"),
                Some(good_lock.clone()),
                vec![(LOCK_DIGEST, "Chart.lock", 11)],
            ),
            (
                "lock entries reordered",
                CHART.into(),
                Some(good_lock.replacen("- name: backend", "- name: frontend", 1)),
                vec![(LOCK_IN_SYNC, "Chart.lock", 2)],
            ),
            (
                "lock misses an entry",
                CHART.into(),
                Some(lock_for(
                    &CHART[..CHART.find("  - name: frontend").unwrap()],
                )),
                vec![(LOCK_IN_SYNC, "Chart.lock", 1)],
            ),
            (
                "lock from another registry",
                CHART.into(),
                Some(good_lock.replacen("ghcr.io/jetscale-ai", "example.com/other", 1)),
                vec![(LOCK_IN_SYNC, "Chart.lock", 3)],
            ),
            (
                "digest edited by hand",
                CHART.into(),
                Some(good_lock.replace("digest: sha256:", "digest: sha256:0")),
                vec![(LOCK_DIGEST, "Chart.lock", 11)],
            ),
        ];
        for (name, chart, lock, expected) in cases {
            assert_eq!(
                run(&chart, lock.as_deref()),
                owned(&expected),
                "case: {name}"
            );
        }
    }

    #[test]
    fn file_dependency_message_suggests_link_mode() {
        let chart_text = CHART.replace(
            "repository: oci://ghcr.io/jetscale-ai/charts\n    condition: frontend",
            "repository: file://../frontend\n    condition: frontend",
        );
        let chart = ChartFile::parse(Path::new("Chart.yaml"), chart_text).unwrap();
        let findings = check_files(&chart, None, "Chart.yaml", "Chart.lock");
        let oci = findings.iter().find(|d| d.rule == OCI_ONLY).unwrap();
        assert!(oci.message.contains("link mode"), "{}", oci.message);
        let hint = oci.hint.as_deref().unwrap();
        assert!(hint.contains("stackctl deps link frontend"), "{hint}");
        assert!(hint.contains("oci://ghcr.io/jetscale-ai/charts"), "{hint}");
    }

    /// Every dependency rule's section in docs/rules.md says what it catches, the incident
    /// it prevents and the fix, and shows an example finding.
    #[test]
    fn dependency_rules_are_documented_with_examples() {
        let docs = include_str!("../../docs/rules.md");
        for id in [
            OCI_ONLY,
            PINNED,
            ALIAS_VERSIONS,
            LINK_MODE,
            LOCK_MISSING,
            LOCK_IN_SYNC,
            LOCK_DIGEST,
        ] {
            assert!(rules::lookup(id).is_some(), "{id} is not registered");
            let heading = format!("## `{id}`\n");
            let start = docs
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/rules.md has no section for {id}"));
            let rest = &docs[start + heading.len()..];
            let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
            for part in ["**Catches:**", "**Incident:**", "**Fix:**"] {
                assert!(section.contains(part), "{id}: no {part}");
            }
            assert!(
                section.contains(&format!("[{id}]")),
                "{id}: no example finding"
            );
        }
    }

    #[test]
    fn links_are_findings_in_ci() {
        let link = Link {
            chart: "backend".into(),
            dir: "/src/backend/chart".into(),
            line: 4,
        };
        let findings = check_links(&[link]);
        assert_eq!(findings[0].rule, LINK_MODE);
        assert_eq!(findings[0].line, Some(4));
    }
}

//! `deps/*`: the supply-chain rules of the umbrella chart's dependencies in `Chart.yaml`,
//! checked offline. Each finding points at the `Chart.yaml` line to fix. Together with the
//! lock rules ([`super::lock`]) they are what `deps check` reports and what a build refuses
//! to go past.

use std::collections::BTreeMap;

use super::{Scope, finding, lock, rule};
use crate::deps::chartfile::{ChartFile, DependencyEntry, LockFile, is_exact_version};
use crate::deps::links::{LINKS_FILE, Link};
use crate::findings::{Diagnostic, Severity};

pub const OCI_ONLY: &str = "deps/oci-only";
pub const PINNED: &str = "deps/pinned";
pub const ALIAS_VERSIONS: &str = "deps/alias-versions";
pub const LINK_MODE: &str = "deps/link-mode";

pub const RULES: &[super::Rule] = &[
    rule(
        OCI_ONLY,
        Severity::Error,
        Scope::Repository,
        "every dependency repository is oci:// (file:// is a link-mode leak)",
    ),
    rule(
        PINNED,
        Severity::Error,
        Scope::Repository,
        "every dependency version is an exact SemVer pin",
    ),
    rule(
        ALIAS_VERSIONS,
        Severity::Error,
        Scope::Repository,
        "one version per chart name across its aliases",
    ),
    rule(
        LINK_MODE,
        Severity::Error,
        Scope::Repository,
        "a dependency link is active under CI=true",
    ),
];

/// Active links are findings in CI: a CI run must test the locked, published charts.
pub fn check_links(active: &[Link]) -> Vec<Diagnostic> {
    active
        .iter()
        .map(|link| {
            finding(
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
    findings.extend(lock::check(chart, lock, chart_display, lock_display));
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
            finding(
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
            finding(
                OCI_ONLY,
                format!("dependency {} has no repository", label(dep)),
            )
            .with_hint(format!("set `repository: {registry}`"))
        } else {
            finding(
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
            finding(PINNED, message)
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
            finding(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::lock::{helm_digest, lock_entries, render_lock};
    use crate::rules;
    use crate::rules::lock::{LOCK_DIGEST, LOCK_IN_SYNC, LOCK_MISSING};
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
                "lock has an entry Chart.yaml no longer lists",
                CHART[..CHART.find("  - name: frontend").unwrap()].to_string(),
                Some(good_lock.clone()),
                vec![(LOCK_IN_SYNC, "Chart.lock", 8)],
            ),
            (
                "no dependencies, a lock of three",
                format!(
                    "{}dependencies: []\n",
                    &CHART[..CHART.find("dependencies:").unwrap()]
                ),
                Some(good_lock.clone()),
                vec![
                    (LOCK_IN_SYNC, "Chart.lock", 2),
                    (LOCK_IN_SYNC, "Chart.lock", 5),
                    (LOCK_IN_SYNC, "Chart.lock", 8),
                ],
            ),
            (
                "no dependencies, an empty lock",
                format!(
                    "{}dependencies: []\n",
                    &CHART[..CHART.find("dependencies:").unwrap()]
                ),
                Some(lock_for(&CHART[..CHART.find("dependencies:").unwrap()])),
                vec![],
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

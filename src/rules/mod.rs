//! The rule catalogue: every check stackctl makes has a stable ID, a default severity and an
//! entry in `docs/rules.md`. Checks produce [`Diagnostic`]s through [`finding`]; [`finalize`]
//! then applies the user's severity overrides (`[rules]` in `stackctl.toml`) and inline
//! suppressions (`# stackctl:ignore <rule> <reason>`).

pub mod chart;
pub mod ingress;
pub mod k8s;
pub mod render;
pub mod secrets;
pub mod sources;
pub mod values;

use crate::config::Config;
use crate::findings::{Diagnostic, Severity};
use crate::values::{Suppression, Suppressions};

/// A rule's identity and default severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what the rule catches.
    pub summary: &'static str,
}

const fn rule(id: &'static str, severity: Severity, summary: &'static str) -> Rule {
    Rule {
        id,
        severity,
        summary,
    }
}

use Severity::{Error, Warning};

/// Every rule, in documentation order. IDs are a public contract: never rename one.
pub const RULES: &[Rule] = &[
    rule(
        "deps/oci-only",
        Error,
        "every dependency repository is oci:// (file:// is a link-mode leak)",
    ),
    rule(
        "deps/pinned",
        Error,
        "every dependency version is an exact SemVer pin",
    ),
    rule(
        "deps/alias-versions",
        Error,
        "one version per chart name across its aliases",
    ),
    rule(
        "deps/link-mode",
        Error,
        "a dependency link is active under CI=true",
    ),
    rule("lock/missing", Error, "Chart.lock exists"),
    rule(
        "lock/in-sync",
        Error,
        "Chart.lock lists the same dependencies as Chart.yaml, in order",
    ),
    rule(
        "lock/digest",
        Error,
        "Chart.lock's digest is the one helm computes",
    ),
    rule(
        "values/syntax",
        Error,
        "every values layer is valid YAML with a map at the top",
    ),
    rule(
        "values/schema",
        Error,
        "merged values satisfy the chart's and each dependency's JSON schema",
    ),
    rule(
        "values/unknown-key",
        Error,
        "every key is one the chart knows",
    ),
    rule(
        "values/keyed-map-override",
        Error,
        "an override in a keyed map (cronJobs) names a key the defaults have",
    ),
    rule(
        "values/type-change",
        Warning,
        "an override keeps the type of the default (map stays map)",
    ),
    rule(
        "values/noop-empty-map",
        Warning,
        "an empty map override removes nothing",
    ),
    rule(
        "images/tag-matches-chart",
        Error,
        "an image of a dependency chart carries the dependency's version as its tag",
    ),
    rule(
        "chart/lint",
        Error,
        "helm lint --strict passes for each chart and lifecycle variant",
    ),
    rule(
        "chart/agnostic",
        Error,
        "templates carry no cloud-specific annotations, identities or ARNs",
    ),
    rule(
        "render/helm-error",
        Error,
        "helm template renders the target",
    ),
    rule(
        "render/helm-warning",
        Warning,
        "helm prints no warning while rendering",
    ),
    rule(
        "render/duplicate-object",
        Error,
        "no two rendered objects share group, kind, namespace and name",
    ),
    rule(
        "render/dangling-reference",
        Error,
        "every Service, port, Secret and ConfigMap a rendered object references exists",
    ),
    rule(
        "render/name-too-long",
        Error,
        "rendered names are DNS-1123 names within Kubernetes' length limits",
    ),
    rule(
        "render/external-secret-key",
        Error,
        "every ExternalSecret remote key is a full path",
    ),
    rule(
        "render/cronjob-schedule",
        Error,
        "every CronJob has a five-field schedule and a command",
    ),
    rule(
        "render/resources",
        Error,
        "no container requests more CPU or memory than its limit",
    ),
    rule(
        "render/k8s-schema",
        Error,
        "every object of a built-in kind is one the Kubernetes API takes as written: known fields, right types, served apiVersion",
    ),
    rule(
        "variants/release-hosts",
        Error,
        "a lifecycle variant's database, Redis and API hosts are its release's Services",
    ),
    rule(
        "ingress/tls",
        Error,
        "every AWS Ingress serves HTTPS: ports 80 and 443, redirect, pinned policy, certificate",
    ),
    rule(
        "ingress/parity",
        Error,
        "preview and prod share a certificate; DNS and API URLs match the Ingress host",
    ),
    rule(
        "preview/cronjobs-suspended",
        Error,
        "every CronJob of a preview environment is suspended",
    ),
    rule(
        "envs/consistent-env",
        Error,
        "the envs of one directory share one global.env",
    ),
    rule(
        "secrets/literal",
        Error,
        "no secret-looking literal (password, token, key, private key) in a values file",
    ),
    rule(
        "secrets/gitignore",
        Error,
        ".gitignore keeps .env, *.secret.yaml and .stackctl/ out of git",
    ),
    rule(
        "suppress/unused",
        Warning,
        "an inline suppression suppresses something",
    ),
    rule(
        "suppress/missing-reason",
        Error,
        "an inline suppression gives its reason",
    ),
];

/// Look a rule up by ID.
pub fn lookup(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// A diagnostic for `id` at its default severity.
///
/// # Panics
/// When `id` is not in [`RULES`]: every finding must belong to a documented rule.
pub fn finding(id: &str, message: impl Into<String>) -> Diagnostic {
    let rule = lookup(id).unwrap_or_else(|| panic!("rule {id} is not registered in rules::RULES"));
    Diagnostic::new(rule.id, rule.severity, message)
}

/// Apply severity overrides and suppressions, and report suppressions that are unused or
/// malformed. Rules configured `off` disappear.
pub fn finalize(
    diagnostics: Vec<Diagnostic>,
    config: &Config,
    suppressions: &[Suppressions],
) -> Vec<Diagnostic> {
    let items: Vec<&Suppression> = suppressions.iter().flat_map(|s| &s.items).collect();
    let mut used = vec![false; items.len()];
    let mut out = Vec::with_capacity(diagnostics.len());
    for diagnostic in diagnostics {
        let suppressed = items.iter().position(|s| {
            s.rule == diagnostic.rule
                && diagnostic.file.as_deref() == Some(s.file.as_str())
                && diagnostic.line == Some(s.line)
        });
        if let Some(index) = suppressed {
            used[index] = true;
            continue;
        }
        out.extend(configured(diagnostic, config));
    }
    for (suppression, used) in items.iter().zip(used) {
        if used {
            continue;
        }
        let diagnostic = finding(
            "suppress/unused",
            format!(
                "suppression of {} matches no finding on line {}",
                suppression.rule, suppression.line
            ),
        )
        .with_hint(
            "remove the comment, or move it onto (or directly above) the line it is meant for",
        )
        .at(suppression.file.clone(), suppression.comment_line, 1);
        out.extend(configured(diagnostic, config));
    }
    for problem in suppressions.iter().flat_map(|s| &s.problems) {
        let diagnostic = finding("suppress/missing-reason", problem.message.clone())
            .with_hint(
                "write the rule and why it does not apply: # stackctl:ignore <rule> <reason>",
            )
            .at(problem.file.clone(), problem.line, problem.column);
        out.extend(configured(diagnostic, config));
    }
    out
}

/// The diagnostic at its configured severity, or nothing when its rule is off.
fn configured(mut diagnostic: Diagnostic, config: &Config) -> Option<Diagnostic> {
    if let Some(level) = config.rule_level(&diagnostic.rule) {
        diagnostic.severity = level.severity()?;
    }
    Some(diagnostic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuleLevel;
    use crate::values::scan_suppressions;

    fn diag(rule: &str, file: &str, line: usize) -> Diagnostic {
        finding(rule, "m").at(file, line, 1)
    }

    #[test]
    fn rule_ids_are_unique_and_well_formed() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        let re = regex::Regex::new(r"^[a-z0-9]+/[a-z0-9-]+$").unwrap();
        assert!(RULES.iter().all(|r| re.is_match(r.id)));
    }

    #[test]
    fn every_rule_is_documented() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
            .expect("docs/rules.md exists");
        for rule in RULES {
            assert!(
                docs.contains(&format!("## `{}`", rule.id)),
                "docs/rules.md has no section for {}",
                rule.id
            );
        }
    }

    #[test]
    fn severity_overrides_and_off() {
        let mut config = Config::default();
        config
            .rules
            .insert("values/type-change".into(), RuleLevel::Error);
        config
            .rules
            .insert("render/helm-warning".into(), RuleLevel::Off);
        let out = finalize(
            vec![
                diag("values/type-change", "f", 1),
                diag("render/helm-warning", "f", 2),
            ],
            &config,
            &[],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].severity, Severity::Error);
    }

    #[test]
    fn suppressions_need_a_reason_and_a_match() {
        let config = Config::default();
        let text = "a: 1\n# stackctl:ignore values/unknown-key kept for the migration\nb: 2\nc: 3 # stackctl:ignore values/unknown-key\nd: 4\ne: 5 # stackctl:ignore values/schema stale\n";
        let suppressions = scan_suppressions("envs/a.yaml", text);
        let out = finalize(
            vec![
                diag("values/unknown-key", "envs/a.yaml", 3),
                diag("values/unknown-key", "envs/a.yaml", 4),
            ],
            &config,
            &[suppressions],
        );
        let summary: Vec<(&str, Option<usize>)> =
            out.iter().map(|d| (d.rule.as_str(), d.line)).collect();
        assert_eq!(
            summary,
            vec![
                ("values/unknown-key", Some(4)),
                ("suppress/unused", Some(6)),
                ("suppress/missing-reason", Some(4)),
            ]
        );
    }
}

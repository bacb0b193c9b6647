//! The rules: every check stackctl makes, registered with a stable ID, a default severity, a
//! scope and a one-line summary, documented in `docs/rules.md`.
//!
//! A rule's ID names where it lives: `family/name` is in `src/rules/<family>.rs`, or in
//! `src/rules/<family>/<name>.rs` for a family that is a directory (`render/k8s-schema` is
//! `src/rules/render/k8s_schema.rs`). Its unit tests sit next to its code, its integration
//! case in the broken-repository table of `tests/it/validate.rs`, and its documentation under
//! `## \`family/name\`` in `docs/rules.md`; tests keep the three in step with [`all`].
//!
//! Each family file declares its rules ([`Rule`]) and their checks. The engine runs every
//! [`TargetRule`] on each target it renders, collects each [`CrossTargetRule`]'s fact per
//! target (cached with the target's verdict) and compares the facts across targets; the other
//! scopes are run by the operation that owns their input (the layer reader, `deps check`, the
//! chart lint). [`finalize`] then applies the configured levels and inline suppressions.

pub mod chart;
pub mod deps;
pub mod envs;
pub mod images;
pub mod ingress;
pub mod lock;
pub mod preview;
pub mod render;
pub mod secrets;
pub mod sources;
pub mod suppress;
pub mod values;
pub mod variants;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::Config;
use crate::findings::{Diagnostic, Severity};
use crate::helm::Rendered;
use crate::target::Target;
use crate::values::known::KnownPaths;
use crate::values::schema::Schema;
use crate::values::{Merged, ParsedLayer, Suppressions};
use sources::Sources;

/// What a rule looks at, which decides who runs it and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One file on its own: a values layer as YAML, `.gitignore`.
    File,
    /// One target: its merged values and what helm rendered for it.
    Target,
    /// Facts of several targets compared with each other.
    CrossTarget,
    /// The repository as a whole: the chart, its dependencies and lock.
    Repository,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::File => "file",
            Scope::Target => "target",
            Scope::CrossTarget => "cross-target",
            Scope::Repository => "repository",
        }
    }
}

/// A rule's identity: what the registry knows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// `family/name`, stable: never rename one.
    pub id: &'static str,
    pub severity: Severity,
    pub scope: Scope,
    /// One line: what the rule requires.
    pub summary: &'static str,
}

pub(crate) const fn rule(
    id: &'static str,
    severity: Severity,
    scope: Scope,
    summary: &'static str,
) -> Rule {
    Rule {
        id,
        severity,
        scope,
        summary,
    }
}

/// The rules of every family, in documentation order.
const FAMILIES: &[&[Rule]] = &[
    deps::RULES,
    lock::RULES,
    values::RULES,
    images::RULES,
    chart::RULES,
    render::RULES,
    variants::RULES,
    ingress::RULES,
    preview::RULES,
    envs::RULES,
    secrets::RULES,
    suppress::RULES,
];

/// Every rule stackctl can report, in documentation order.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    FAMILIES.iter().flat_map(|family| family.iter())
}

/// Look a rule up by ID.
pub fn lookup(id: &str) -> Option<&'static Rule> {
    all().find(|r| r.id == id)
}

/// A diagnostic for `id` at its default severity.
///
/// # Panics
/// When `id` is not registered: every finding must belong to a documented rule.
pub fn finding(id: &str, message: impl Into<String>) -> Diagnostic {
    let rule = lookup(id).unwrap_or_else(|| panic!("rule {id} is not registered in rules::all()"));
    Diagnostic::new(rule.id, rule.severity, message)
}

/// A dependency of the umbrella chart as the target rules see it.
#[derive(Debug, Clone)]
pub struct DependencyView<'a> {
    /// The key its values live under: the alias, else the chart name (`backend-api`).
    pub key: &'a str,
    /// The chart's name (`backend`).
    pub chart: &'a str,
    /// The pinned version.
    pub version: &'a str,
    /// The image repository the chart ships (`ghcr.io/jetscale-ai/backend`).
    pub image: &'a str,
    /// The chart's own defaults (its values.yaml).
    pub defaults: &'a Value,
    pub schema: Option<&'a Schema>,
    /// The paths its values may have, checked when it has no schema.
    pub known: Option<&'a KnownPaths>,
    /// The values the dependency renders with (its defaults under the umbrella's block for
    /// it), when the target enables it.
    pub scoped: Option<&'a Merged>,
}

#[cfg(test)]
impl<'a> DependencyView<'a> {
    /// A dependency with no schema that the target does not enable: what rules on the
    /// umbrella's own values need to know of it.
    pub fn bare(
        key: &'a str,
        chart: &'a str,
        version: &'a str,
        image: &'a str,
        defaults: &'a Value,
    ) -> DependencyView<'a> {
        DependencyView {
            key,
            chart,
            version,
            image,
            defaults,
            schema: None,
            known: None,
            scoped: None,
        }
    }
}

/// Everything a target rule may look at.
pub struct TargetCx<'a> {
    pub target: &'a Target,
    pub config: &'a Config,
    /// The umbrella chart's defaults (its values.yaml) and schema.
    pub defaults: &'a ParsedLayer,
    pub schema: Option<&'a Schema>,
    /// The paths the umbrella's values may have, checked when it has no schema.
    pub known: &'a KnownPaths,
    pub dependencies: &'a [DependencyView<'a>],
    /// The target's layers, in order.
    pub layers: &'a [ParsedLayer],
    /// The umbrella's merged values, each dependency's block as the layers set it.
    pub merged: &'a Merged,
    /// What helm rendered, when it rendered.
    pub rendered: Option<&'a Rendered>,
    /// Where findings about rendered objects point.
    pub sources: &'a Sources<'a>,
}

impl TargetCx<'_> {
    /// The keys dependencies' values live under (`backend-api`, `frontend`).
    pub fn dependency_keys(&self) -> Vec<&str> {
        self.dependencies.iter().map(|d| d.key).collect()
    }

    /// The target's cloud, for an env target.
    pub fn cloud(&self) -> Option<&str> {
        self.target.cloud.as_deref()
    }

    /// Whether the target is an env of a directory listed in `dirs` (`envs/<dir>/…`).
    pub fn in_group(&self, dirs: &[String]) -> bool {
        self.target
            .group
            .as_ref()
            .is_some_and(|group| dirs.contains(group))
    }

    /// Whether the target's Ingresses become AWS load balancers (`envs.aws-clouds`).
    pub fn on_aws(&self) -> bool {
        self.cloud()
            .is_some_and(|cloud| self.config.envs.aws_clouds.iter().any(|c| c == cloud))
    }
}

/// A rule checked on each target once its values are merged (and rendered, when helm could).
pub trait TargetRule: Sync {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>);
}

/// One target's fact for a cross-target rule, as collected and cached.
#[derive(Debug, Clone)]
pub struct TargetFact<'a> {
    pub target: &'a Target,
    pub fact: &'a Value,
}

/// A rule that compares targets: it collects one fact per target (a JSON value, cached with
/// the target's verdict, so a cached target still takes part), then compares them all.
pub trait CrossTargetRule: Sync {
    /// The rule's ID: the key its facts are stored under.
    fn id(&self) -> &'static str;
    /// The target's fact, or `None` when the rule does not concern it.
    fn collect(&self, cx: &TargetCx<'_>) -> Option<Value>;
    /// Findings from the facts of every target that has one.
    fn compare(&self, facts: &[TargetFact<'_>], config: &Config) -> Vec<Diagnostic>;
}

/// A target's fact for `rule`, as its `collect` wrote it. Facts are cached with the verdict of
/// the binary that wrote them (the cache key includes the binary), so one that does not decode
/// is a bug: it is logged, and the target takes no part in the comparison.
pub fn decode_fact<T: serde::de::DeserializeOwned>(
    rule: &dyn CrossTargetRule,
    fact: &TargetFact<'_>,
) -> Option<T> {
    match serde_json::from_value(fact.fact.clone()) {
        Ok(decoded) => Some(decoded),
        Err(e) => {
            tracing::warn!(
                "{}: the fact of {} does not decode ({e}); it is left out",
                rule.id(),
                fact.target.name
            );
            None
        }
    }
}

/// Every target rule, run by the engine on each target.
pub fn target_rules() -> &'static [&'static dyn TargetRule] {
    &[
        &values::Merge,
        &values::SchemaRule,
        &values::UnknownKey,
        &values::KeyedMapOverride,
        &images::TagMatchesChart,
        &render::HelmWarning,
        &render::DuplicateObject,
        &render::NameTooLong,
        &render::ExternalSecretKey,
        &render::CronjobSchedule,
        &render::Resources,
        &render::k8s_schema::K8sSchema,
        &render::DanglingReference,
        &variants::ReleaseHosts,
        &ingress::Tls,
        &ingress::ParityWithinTarget,
        &preview::CronjobsSuspended,
    ]
}

/// Every cross-target rule, run by the engine over all targets of a run.
pub fn cross_target_rules() -> &'static [&'static dyn CrossTargetRule] {
    &[
        &envs::ConsistentEnv,
        &ingress::CertificateParity,
        &ingress::HostUnique,
    ]
}

/// Facts of the cross-target rules for one target, by rule ID.
pub type Facts = BTreeMap<String, Value>;

/// Collect every cross-target rule's fact for one target.
pub fn collect_facts(cx: &TargetCx<'_>) -> Facts {
    cross_target_rules()
        .iter()
        .filter_map(|rule| Some((rule.id().to_string(), rule.collect(cx)?)))
        .collect()
}

/// Compare the facts of every target (in the order given) for each cross-target rule.
pub fn compare_facts(targets: &[(&Target, &Facts)], config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for rule in cross_target_rules() {
        let facts: Vec<TargetFact<'_>> = targets
            .iter()
            .filter_map(|(target, facts)| {
                Some(TargetFact {
                    target,
                    fact: facts.get(rule.id())?,
                })
            })
            .collect();
        out.extend(rule.compare(&facts, config));
    }
    out
}

/// Apply severity overrides and suppressions, and report suppressions that are unused or
/// malformed (`suppress/*`). Rules configured `off` disappear.
///
/// A finding's consequences are finalized with it, as findings of their own: a consequence
/// suppressed or turned off is dropped; one whose cause is suppressed, turned off or of a
/// lower severity than itself stands on its own again, since nothing shown explains it.
pub fn finalize(
    diagnostics: Vec<Diagnostic>,
    config: &Config,
    suppressions: &[Suppressions],
) -> Vec<Diagnostic> {
    // Flatten, each finding tagged with its cause's index and whether it is a consequence,
    // so that suppressions see them all. The `suppress/*` findings they add are untagged.
    let mut flat: Vec<(Option<(usize, bool)>, Diagnostic)> = Vec::new();
    for (index, mut d) in diagnostics.into_iter().enumerate() {
        let consequences = std::mem::take(&mut d.consequences);
        flat.push((Some((index, false)), d));
        flat.extend(consequences.into_iter().map(|c| (Some((index, true)), c)));
    }
    let mut kept: Vec<(Option<usize>, Diagnostic)> = Vec::new();
    let mut consequences: Vec<(usize, Diagnostic)> = Vec::new();
    for (tag, d) in suppress::apply(flat, suppressions) {
        let Some(d) = configured(d, config) else {
            continue;
        };
        match tag {
            Some((cause, true)) => consequences.push((cause, d)),
            Some((cause, false)) => kept.push((Some(cause), d)),
            None => kept.push((None, d)),
        }
    }
    for (cause, consequence) in consequences {
        let explained = kept
            .iter_mut()
            .find(|(index, d)| *index == Some(cause) && d.severity >= consequence.severity);
        match explained {
            Some((_, d)) => d.consequences.push(consequence),
            None => kept.push((None, consequence)),
        }
    }
    kept.into_iter().map(|(_, d)| d).collect()
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

    fn diag(rule: &str, file: &str, line: usize) -> Diagnostic {
        finding(rule, "m").at(file, line, 1)
    }

    #[test]
    fn rule_ids_are_unique_and_well_formed() {
        let mut ids: Vec<_> = all().map(|r| r.id).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
        let re = regex::Regex::new(r"^[a-z0-9]+/[a-z0-9-]+$").unwrap();
        assert!(all().all(|r| re.is_match(r.id)));
    }

    /// `docs/rules.md` has one `## \`id\`` section per registered rule, in the registry's
    /// order, and no section for a rule the code cannot report; each section states the
    /// rule's default severity and scope.
    #[test]
    fn the_registry_and_docs_rules_md_list_the_same_rules() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
            .expect("docs/rules.md exists");
        let heading = regex::Regex::new(r"(?m)^## `([a-z0-9]+/[a-z0-9-]+)`").unwrap();
        let documented: Vec<&str> = heading
            .captures_iter(&docs)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        let registered: Vec<&str> = all().map(|r| r.id).collect();
        for id in &registered {
            assert!(
                documented.contains(id),
                "docs/rules.md has no section for {id}"
            );
        }
        for id in &documented {
            assert!(
                registered.contains(id),
                "docs/rules.md documents {id}, which no code reports"
            );
        }
        assert_eq!(
            documented, registered,
            "docs/rules.md lists the rules in another order"
        );
        for rule in all() {
            let start = docs.find(&format!("## `{}`", rule.id)).unwrap();
            let section = &docs[start..];
            let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
            let section = &section[..end];
            let stated = format!(
                "**Default:** {}. **Scope:** {}.",
                rule.severity.as_str(),
                rule.scope.as_str()
            );
            assert!(
                section.contains(&stated),
                "docs/rules.md's section for {} does not say `{stated}`",
                rule.id
            );
        }
    }

    /// A rule `family/name` is declared and reported in `src/rules/family.rs` or in
    /// `src/rules/family/name.rs`: its ID (or the constant holding it) appears there outside
    /// the declarations, where a finding is made.
    #[test]
    fn every_rule_is_reported_in_the_file_its_id_names() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/rules"));
        // What is not a report: the RULES list, a `rule(…)` declaration, an ID constant.
        let declarations = regex::Regex::new(
            r#"(?s)pub const RULES: &\[super::Rule\] = &\[.*?\];|pub const RULE: [^=]*= rule\(.*?\);|pub const [A-Z_]+: &str = "[^"]*";"#,
        )
        .unwrap();
        for rule in all() {
            let (family, name) = rule.id.split_once('/').unwrap();
            let candidates = [
                root.join(format!("{family}.rs")),
                root.join(family).join("mod.rs"),
                root.join(family)
                    .join(format!("{}.rs", name.replace('-', "_"))),
            ];
            let reported = candidates.iter().any(|file| {
                let Ok(text) = std::fs::read_to_string(file) else {
                    return false;
                };
                let constants: Vec<String> = regex::Regex::new(&format!(
                    r#"pub const ([A-Z_]+): &str = "{}";"#,
                    regex::escape(rule.id)
                ))
                .unwrap()
                .captures_iter(&text)
                .map(|c| c[1].to_string())
                .collect();
                let rest = declarations.replace_all(&text, "");
                rest.contains(&format!("\"{}\"", rule.id))
                    || constants.iter().any(|c| {
                        regex::Regex::new(&format!(r"\b{c}\b"))
                            .unwrap()
                            .is_match(&rest)
                    })
            });
            assert!(reported, "{} is not reported in {:?}", rule.id, candidates);
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

    /// A cause with two consequences, the second on line 5.
    fn cause_of_two() -> Diagnostic {
        let mut cause = diag("values/unknown-key", "envs/a.yaml", 1);
        cause.consequences = vec![
            diag("render/dangling-reference", "envs/a.yaml", 4),
            diag("render/dangling-reference", "envs/a.yaml", 5),
        ];
        cause
    }

    #[test]
    fn consequences_stay_under_their_cause_and_are_suppressed_like_any_finding() {
        let text = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5 # stackctl:ignore render/dangling-reference provided by hand\n";
        let suppressions = crate::values::scan_suppressions("envs/a.yaml", text);
        let out = finalize(vec![cause_of_two()], &Config::default(), &[suppressions]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].rule, "values/unknown-key");
        let lines: Vec<_> = out[0].consequences.iter().map(|c| c.line).collect();
        assert_eq!(
            lines,
            vec![Some(4)],
            "the suppression is used, not reported unused"
        );
    }

    #[test]
    fn a_finding_about_a_suppression_never_takes_in_consequences() {
        // The first finding's cause is suppressed, and a comment elsewhere lacks its reason:
        // the consequences stand on their own, not under `suppress/missing-reason`.
        let text = "a: 1 # stackctl:ignore values/unknown-key kept for the migration\nb: 2 # stackctl:ignore\n";
        let suppressions = crate::values::scan_suppressions("envs/a.yaml", text);
        let out = finalize(vec![cause_of_two()], &Config::default(), &[suppressions]);
        assert!(out.iter().all(|d| d.consequences.is_empty()), "{out:?}");
        let rules: Vec<_> = out.iter().map(|d| d.rule.as_str()).collect();
        assert_eq!(
            rules,
            [
                "suppress/missing-reason",
                "render/dangling-reference",
                "render/dangling-reference"
            ]
        );
    }

    #[test]
    fn consequences_of_a_cause_suppressed_off_or_milder_stand_on_their_own() {
        let text = "a: 1 # stackctl:ignore values/unknown-key kept for the migration\n";
        let suppressed = crate::values::scan_suppressions("envs/a.yaml", text);
        let out = finalize(vec![cause_of_two()], &Config::default(), &[suppressed]);
        let rules: Vec<_> = out.iter().map(|d| d.rule.as_str()).collect();
        assert_eq!(rules, ["render/dangling-reference"; 2]);

        for level in [RuleLevel::Off, RuleLevel::Warning] {
            let mut config = Config::default();
            config.rules.insert("values/unknown-key".into(), level);
            let out = finalize(vec![cause_of_two()], &config, &[]);
            let errors = out
                .iter()
                .filter(|d| d.rule == "render/dangling-reference" && d.consequences.is_empty())
                .count();
            assert_eq!(errors, 2, "{level:?}: {out:?}");
        }
    }
}

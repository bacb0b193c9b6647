//! `values/*`: what the layers of a target say, before anything is rendered. Some rules
//! look at one layer as YAML (syntax, duplicate keys, extra documents, coerced keys: scope
//! file), the others at the target's merged values (schema, unknown keys, overrides of keyed
//! maps, type changes, empty maps: scope target).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{DependencyView, Scope, TargetCx, TargetRule, finding, rule};
use crate::findings::{Diagnostic, Fix, Severity};
use crate::values::known::KnownPaths;
use crate::values::schema::{Schema, Violation};
use crate::values::{
    LayerFinding, LayerFindingKind, Merged, ParsedLayer, Provenance, YamlError, dotted_path,
    escape_key, parent_pointer, pointer_keys,
};

pub const RULES: &[super::Rule] = &[
    rule(
        "values/syntax",
        Severity::Error,
        Scope::File,
        "every values layer is valid YAML with a map at the top",
    ),
    rule(
        "values/duplicate-key",
        Severity::Error,
        Scope::File,
        "no key appears twice in one map of a values layer",
    ),
    rule(
        "values/extra-document",
        Severity::Error,
        Scope::File,
        "a values layer holds one YAML document",
    ),
    rule(
        "values/coerced-key",
        Severity::Warning,
        Scope::File,
        "keys are written as strings, not numbers or booleans helm turns into strings",
    ),
    rule(
        "values/empty-layer",
        Severity::Warning,
        Scope::File,
        "a values layer is not empty (an empty file sets nothing)",
    ),
    rule(
        "values/schema",
        Severity::Error,
        Scope::Target,
        "merged values satisfy the chart's and each dependency's JSON schema",
    ),
    rule(
        "values/unknown-key",
        Severity::Error,
        Scope::Target,
        "every key is one the chart knows",
    ),
    rule(
        "values/keyed-map-override",
        Severity::Error,
        Scope::Target,
        "an override in a keyed map (cronJobs) names a key the defaults have",
    ),
    rule(
        "values/type-change",
        Severity::Warning,
        Scope::Target,
        "an override keeps the type of the default (map stays map)",
    ),
    rule(
        "values/noop-empty-map",
        Severity::Warning,
        Scope::Target,
        "an empty map override removes nothing",
    ),
];

/// `values/syntax`: a layer that cannot be read as Helm values.
pub fn syntax_error(error: &YamlError) -> Diagnostic {
    let d = finding("values/syntax", &error.message).at(&error.file, error.line, error.column);
    match error.too_deep {
        true => d.with_hint(crate::nesting::TOO_DEEP_HINT),
        false => d,
    }
}

/// `values/syntax`: a layer the chain names that cannot be read: missing, not a regular
/// file, or not UTF-8 text (located at the first byte that is not).
pub fn unreadable(file: &str, problem: &crate::fsutil::ReadProblem) -> Diagnostic {
    let diagnostic = finding("values/syntax", format!("cannot read {file}: {problem}"));
    let diagnostic = match problem.line() {
        Some(line) => diagnostic.at(file, line, 1),
        None => diagnostic.in_file(file),
    };
    let hint = match problem {
        crate::fsutil::ReadProblem::Missing(_) => {
            "the layer chain names a file that does not exist: create it, or fix the chain"
        }
        other => other.hint(),
    };
    diagnostic.with_hint(hint)
}

/// `values/duplicate-key`, `values/extra-document` and `values/coerced-key`: what the YAML
/// reader noticed in a layer that Helm would read without complaint.
pub fn layer_findings(layer: &ParsedLayer) -> Vec<Diagnostic> {
    layer.findings().iter().map(layer_finding).collect()
}

fn layer_finding(found: &LayerFinding) -> Diagnostic {
    let (rule, hint) = match &found.kind {
        LayerFindingKind::DuplicateKey { first, .. } => (
            "values/duplicate-key",
            format!(
                "helm keeps only this one; delete the entry at line {} or this one",
                first.line
            ),
        ),
        LayerFindingKind::ExtraDocument => (
            "values/extra-document",
            "keep one document: move what follows the `---` into the first, or into a file of its own".to_string(),
        ),
        LayerFindingKind::CoercedKey { written, .. } => (
            "values/coerced-key",
            format!("quote the key (\"{written}\") if a string was meant"),
        ),
        LayerFindingKind::Empty => (
            "values/empty-layer",
            crate::values::EMPTY_LAYER_HINT.to_string(),
        ),
    };
    let mut d = finding(rule, &found.message)
        .at(&found.file, found.span.line, found.span.column)
        .with_hint(hint);
    if !found.pointer.is_empty() {
        d = d.with_path(&found.pointer);
    }
    d
}

/// Attach the location of `pointer` (the layer line that set it, or its nearest ancestor).
pub fn locate(diagnostic: Diagnostic, provenance: &Provenance, pointer: &str) -> Diagnostic {
    let diagnostic = diagnostic.with_path(pointer);
    match provenance.locate(pointer) {
        Some(origin) => diagnostic.at(origin.file, origin.line, origin.column),
        None => diagnostic,
    }
}

/// `values/type-change` and `values/noop-empty-map`, from the umbrella's merge and from each
/// enabled dependency's.
pub struct Merge;

impl TargetRule for Merge {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        merge_events(cx.merged, "", out);
        for dep in cx.dependencies {
            if let Some(scoped) = dep.scoped {
                merge_events(scoped, &format!("/{}", escape_key(dep.key)), out);
            }
        }
    }
}

/// `values/type-change` and `values/noop-empty-map` from a merge, at the user's line.
fn merge_events(merged: &Merged, prefix: &str, out: &mut Vec<Diagnostic>) {
    for change in &merged.type_changes {
        let mut d = finding(
            "values/type-change",
            format!(
                "{} replaces a {} default with a {}",
                dotted_path(&format!("{prefix}{}", change.pointer)),
                change.default_kind,
                change.user_kind
            ),
        )
        .with_hint("keep the default's type; to drop map entries set each one to null or false")
        .with_path(format!("{prefix}{}", change.pointer));
        if let Some(at) = &change.user {
            d = d.at(at.file.clone(), at.line, at.column);
        }
        out.push(d);
    }
    for empty in &merged.empty_map_overrides {
        let mut d = finding(
            "values/noop-empty-map",
            format!(
                "{}: {{}} removes nothing; the {} default entries stay",
                dotted_path(&format!("{prefix}{}", empty.pointer)),
                empty.kept_keys
            ),
        )
        .with_hint("set the unwanted entries to false or null, or the whole key to null")
        .with_path(format!("{prefix}{}", empty.pointer));
        if let Some(at) = &empty.at {
            d = d.at(at.file.clone(), at.line, at.column);
        }
        out.push(d);
    }
}

/// `values/schema` and `values/unknown-key`: the umbrella's merged values against its schema,
/// each enabled dependency's values against the dependency's.
pub struct SchemaRule;

impl TargetRule for SchemaRule {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(schema) = cx.schema {
            out.extend(schema_findings(schema, cx.merged, cx.defaults.value(), ""));
        }
        for dep in cx.dependencies {
            if let (Some(scoped), Some(schema)) = (dep.scoped, dep.schema) {
                let prefix = format!("/{}", escape_key(dep.key));
                out.extend(schema_findings(schema, scoped, dep.defaults, &prefix));
            }
        }
    }
}

/// Schema violations located at the layer line that set the offending value. `defaults` are
/// the chart's own (its values.yaml): an unknown key's did-you-mean is among the keys they
/// have beside it. Pointers of `merged` are under `prefix` in the umbrella's values.
fn schema_findings(
    schema: &Schema,
    merged: &Merged,
    defaults: &Value,
    prefix: &str,
) -> Vec<Diagnostic> {
    schema
        .violations(&merged.value)
        .into_iter()
        .map(
            |Violation {
                 pointer,
                 message,
                 unknown_key,
                 ..
             }| {
                let shown = format!("{prefix}{pointer}");
                let mut d = match &unknown_key {
                    Some(key) => {
                        let parent = parent_pointer(&pointer).unwrap_or_default();
                        let known = defaults
                            .pointer(parent)
                            .and_then(Value::as_object)
                            .map(|map| map.keys().cloned().collect())
                            .unwrap_or_default();
                        let d = finding(
                            "values/unknown-key",
                            format!("{}: {message}", dotted_path(&shown)),
                        );
                        match closest(&known, key).filter(|_| through_maps(&merged.value, &pointer))
                        {
                            Some(meant) => d
                                .with_hint(format!("did you mean {meant:?}? (see {})", schema.file))
                                .with_fix(renamed(
                                    &format!("{prefix}{pointer}"),
                                    &format!("{prefix}{parent}/{}", escape_key(&meant)),
                                    merged.get(&pointer),
                                )),
                            None => d.with_hint(format!(
                                "remove it, or check its spelling against {}",
                                schema.file
                            )),
                        }
                    }
                    None => {
                        let d = finding(
                            "values/schema",
                            format!("{}: {message}", dotted_path(&shown)),
                        )
                        .with_hint(format!("see {} for the allowed values", schema.file));
                        match reverted(merged, &pointer, prefix) {
                            Some(fix) => d.with_fix(fix),
                            None => d,
                        }
                    }
                };
                d = locate(d, &merged.provenance, &pointer);
                d.with_path(shown)
            },
        )
        .collect()
}

/// Whether every node above `pointer` in `value` is a map: a [`Fix`] sets values through
/// maps only (a list item has no key a layer could set).
fn through_maps(value: &Value, pointer: &str) -> bool {
    let mut at = value;
    for key in pointer_keys(pointer) {
        let Value::Object(map) = at else {
            return false;
        };
        match map.get(&key) {
            Some(child) => at = child,
            None => return true,
        }
    }
    true
}

/// The name among `known` that `key` most likely meant to be, when one is close enough.
/// Swapped letters (`tga` for `tag`) count as one edit.
fn closest(known: &BTreeSet<String>, key: &str) -> Option<String> {
    ranked(known, key)
        .into_iter()
        .find(|(score, k)| *score >= 0.4 || strsim::normalized_damerau_levenshtein(k, key) >= 0.5)
        .map(|(_, k)| k.clone())
}

/// The fix of a mis-named key: its value under the meant name, the mis-named one removed.
fn renamed(from: &str, to: &str, value: Option<&Value>) -> Fix {
    Fix {
        set: vec![
            (to.to_string(), value.cloned().unwrap_or(Value::Null)),
            (from.to_string(), Value::Null),
        ],
    }
}

/// The fix of a value that breaks the schema: what the layers under the one that set it say
/// (nothing, when none does). None when the lowest layer (the chart's own defaults, or a
/// subchart's) sets it: there is nothing under it to go back to.
fn reverted(merged: &Merged, pointer: &str, prefix: &str) -> Option<Fix> {
    if !through_maps(&merged.value, pointer) {
        return None;
    }
    let history = merged.history(pointer);
    let winner = history.winner.filter(|w| *w > 0)?;
    let below = history.layers[..winner]
        .iter()
        .rev()
        .find_map(|l| l.value)
        .cloned()
        .unwrap_or(Value::Null);
    Some(Fix {
        set: vec![(format!("{prefix}{pointer}"), below)],
    })
}

/// `values/unknown-key` for a chart without a schema: a key that neither the chart's defaults
/// nor its templates know (see [`crate::values::known`]), in the umbrella's merged values and
/// in each enabled dependency's. A chart with a schema is left to [`SchemaRule`].
pub struct UnknownKey;

impl TargetRule for UnknownKey {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if cx.schema.is_none() {
            out.extend(unknown_key_findings(
                cx.known,
                cx.merged,
                "",
                cx.sources.chart_name,
            ));
        }
        for dep in cx.dependencies {
            if let (Some(scoped), None, Some(known)) = (dep.scoped, dep.schema, dep.known) {
                let prefix = format!("/{}", escape_key(dep.key));
                out.extend(unknown_key_findings(known, scoped, &prefix, dep.chart));
            }
        }
    }
}

/// Keys of `merged` the chart does not know, located at the layer line that set each one,
/// with the likeliest known key beside it as a did-you-mean.
fn unknown_key_findings(
    known: &KnownPaths,
    merged: &Merged,
    prefix: &str,
    chart: &str,
) -> Vec<Diagnostic> {
    known
        .unknown_keys(&merged.value)
        .into_iter()
        .map(|unknown| {
            let shown = format!("{prefix}{}", unknown.pointer);
            let message = format!(
                "{}: unknown key {:?}: the chart {chart} neither sets it in its values.yaml nor reads it in a template",
                dotted_path(&shown),
                unknown.key
            );
            let effect = "Helm ignores a key no template reads, so this setting has no effect";
            let candidates = ranked(&unknown.siblings, &unknown.key);
            let meant = closest(&unknown.siblings, &unknown.key);
            let hint = match &meant {
                Some(closest) => format!("did you mean {closest:?}? {effect}"),
                None if candidates.is_empty() => format!("remove it: {effect}"),
                None => format!(
                    "remove it, or move it where it is meant: {effect} (keys known here, most similar first: {})",
                    candidates
                        .iter()
                        .take(8)
                        .map(|(_, k)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let mut d = finding("values/unknown-key", message).with_hint(hint);
            if let Some(meant) = meant.filter(|_| through_maps(&merged.value, &unknown.pointer)) {
                d = d.with_fix(renamed(
                    &shown,
                    &format!("{prefix}{}/{}", parent_pointer(&unknown.pointer).unwrap_or_default(), escape_key(&meant)),
                    merged.get(&unknown.pointer),
                ));
            }
            locate(d, &merged.provenance, &unknown.pointer).with_path(shown)
        })
        .collect()
}

/// `values/keyed-map-override` on a target's layers.
pub struct KeyedMapOverride;

impl TargetRule for KeyedMapOverride {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        out.extend(keyed_map_overrides(
            cx.defaults.value(),
            cx.layers,
            cx.dependencies,
        ));
    }
}

/// Maps whose keys name objects the chart creates: an unknown key adds an object. Each comes
/// with the keys of which an entry needs one to stand as an object of its own: a CronJob runs
/// a `command` in an `image`; without either, the entry only tweaks a job (`suspend`,
/// `schedule`, `resources`) and can only have been meant as an override.
const KEYED_MAPS: &[(&str, &[&str])] = &[("cronJobs", &["command", "image"])];

/// The defaults' keys ranked as did-you-mean candidates for `key`, most likely first: a
/// default that is a whole-word prefix of the key (`pull-co` for `pull-co-recommendations`,
/// the usual shape of a name extended by hand) before the others, then by similarity, then by
/// name. Each comes with its similarity score.
fn ranked<'k>(known: &'k BTreeSet<String>, key: &str) -> Vec<(f64, &'k String)> {
    let word_prefix = |a: &str, b: &str| {
        b.strip_prefix(a)
            .is_some_and(|rest| rest.starts_with(['-', '_', '.']))
    };
    let mut ranked: Vec<(bool, f64, &String)> = known
        .iter()
        .map(|k| {
            (
                word_prefix(k, key) || word_prefix(key, k),
                strsim::normalized_levenshtein(k, key),
                k,
            )
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.total_cmp(&a.1))
            .then_with(|| a.2.cmp(b.2))
    });
    ranked.into_iter().map(|(_, score, k)| (score, k)).collect()
}

/// `values/keyed-map-override`: an override in a keyed map (`backend-api.cronJobs`) whose key
/// the defaults do not have. Helm merges it in as a new entry: a duplicate CronJob, or one
/// with no schedule. An entry that cannot stand as an object of its own (a CronJob with no
/// `command` and no `image`) is a mis-keyed override whatever its name; a complete new entry
/// whose name resembles no default is taken as a deliberate addition.
pub fn keyed_map_overrides(
    umbrella_defaults: &Value,
    layers: &[ParsedLayer],
    dependencies: &[DependencyView<'_>],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for dep in dependencies {
        for (map, standalone_keys) in KEYED_MAPS {
            let umbrella_pointer = format!("/{}/{map}", escape_key(dep.key));
            let mut known: BTreeSet<String> = BTreeSet::new();
            for defaults in [
                umbrella_defaults.pointer(&umbrella_pointer),
                dep.defaults.get(*map),
            ] {
                if let Some(Value::Object(entries)) = defaults {
                    known.extend(entries.keys().cloned());
                }
            }
            for layer in layers {
                let Some(Value::Object(entries)) = layer.get(&umbrella_pointer) else {
                    continue;
                };
                for (key, entry) in entries {
                    if known.contains(key) || entry.is_null() || entry == &Value::Bool(false) {
                        continue;
                    }
                    let candidates = ranked(&known, key);
                    let closest = closest(&known, key);
                    let has_schedule = entry.get("schedule").is_some();
                    let standalone = standalone_keys.iter().any(|k| entry.get(k).is_some());
                    if standalone && closest.is_none() {
                        continue;
                    }
                    let pointer = format!("{umbrella_pointer}/{}", escape_key(key));
                    let what = match (has_schedule, standalone) {
                        (false, _) => {
                            "adds an entry with no schedule instead of overriding one".to_string()
                        }
                        (true, true) => "adds a new entry next to the chart's defaults".to_string(),
                        (true, false) => format!(
                            "adds an entry with no {} instead of overriding one: it cannot run on its own",
                            standalone_keys.join(" and no ")
                        ),
                    };
                    let mut d = finding(
                        "values/keyed-map-override",
                        format!(
                            "{}.{map} has no default {key:?}: this override {what}",
                            dep.key
                        ),
                    );
                    d = match (&closest, candidates.first()) {
                        (Some(k), _) => d.with_hint(format!("did you mean {k:?}? keys the chart defines: {}", join(&known))),
                        (None, _) if known.is_empty() => d.with_hint(format!(
                            "{}.{map} has no defaults: define the whole entry (schedule, command) or remove it",
                            dep.key
                        )),
                        // No name is close, but the entry can only be an override: offer
                        // every default, the likeliest first.
                        (None, Some((_, first))) if !standalone => d.with_hint(format!(
                            "did you mean {first:?}? keys the chart defines, most similar first: {}",
                            candidates.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>().join(", ")
                        )),
                        (None, _) => d.with_hint(format!("keys the chart defines: {}", join(&known))),
                    };
                    // What this entry breaks goes away with it: moved to the key meant when a
                    // name is close (the likeliest of several would be a guess that changes
                    // another job), else removed.
                    d = d.with_fix(match closest.clone() {
                        Some(meant) => renamed(
                            &pointer,
                            &format!("{umbrella_pointer}/{}", escape_key(&meant)),
                            Some(entry),
                        ),
                        None => Fix {
                            set: vec![(pointer.clone(), Value::Null)],
                        },
                    });
                    d = d.with_path(pointer.clone());
                    if let Some(span) = layer.span(&pointer) {
                        let at = span.primary();
                        d = d.at(layer.file(), at.line, at.column);
                    }
                    out.push(d);
                }
            }
        }
    }
    out
}

fn join(keys: &BTreeSet<String>) -> String {
    keys.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::parse_layer;
    use serde_json::json;

    fn backend_defaults() -> Value {
        json!({"cronJobs": {}})
    }

    #[test]
    fn mis_keyed_cronjob_override_is_found_with_a_suggestion() {
        let found = backend_api(
            "backend-api:\n  cronJobs:\n    pull-coh: {schedule: '30 2 * * *'}\n    discover-aws: {schedule: '0 3 * * *'}\n",
            "backend-api:\n  cronJobs:\n    discover-aws-resources:\n      schedule: '0 */4 * * *'\n    pull-coh:\n      suspend: true\n    brand-new:\n      schedule: '1 1 * * *'\n      command: [x]\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, "values/keyed-map-override");
        assert_eq!(
            (found[0].file.as_deref(), found[0].line),
            (Some("envs/prod/console.yaml"), Some(3))
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("did you mean \"discover-aws\"")
        );
    }

    fn backend_api(defaults: &str, env: &str) -> Vec<Diagnostic> {
        let defaults = parse_layer("charts/jetscale/values.yaml", defaults).unwrap();
        let env = parse_layer("envs/prod/console.yaml", env).unwrap();
        let sub = backend_defaults();
        let deps = [DependencyView::bare(
            "backend-api",
            "backend",
            "4.6.12",
            "ghcr.io/jetscale-ai/backend",
            &sub,
        )];
        keyed_map_overrides(defaults.value(), &[env], &deps)
    }

    const JOBS: &str = "backend-api:\n  cronJobs:\n    pull-coh: {schedule: '30 2 * * *', command: [a]}\n    pull-co: {schedule: '0 3 * * *', command: [b]}\n    pull-ce: {schedule: '0 4 * * *', command: [c]}\n    discover-aws: {schedule: '0 5 * * *', command: [d]}\n";

    /// The incident: a schedule change keyed by a name too far from any default for the
    /// similarity score. With no command and no image it cannot run as a job, so it is an
    /// override whatever its name, and the did-you-mean ranks the defaults.
    #[test]
    fn an_entry_that_cannot_run_on_its_own_is_an_override_whatever_its_name() {
        let found = backend_api(
            JOBS,
            "backend-api:\n  cronJobs:\n    pull-co-recommendations:\n      schedule: '45 */12 * * *'\n      suspend: false\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(3));
        assert!(
            found[0].message.contains("no command and no image"),
            "{}",
            found[0].message
        );
        let hint = found[0].hint.as_deref().unwrap();
        assert!(
            hint.starts_with(
                "did you mean \"pull-co\"? keys the chart defines, most similar first: pull-co, "
            ),
            "{hint}"
        );
        // Resources or suspend alone, under a name like no default: still an override.
        let found = backend_api(
            JOBS,
            "backend-api:\n  cronJobs:\n    nightly:\n      resources: {limits: {memory: 1Gi}}\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
    }

    /// A complete new job (a command to run) named like no default is a deliberate addition;
    /// the same job named like a default is still suspicious.
    #[test]
    fn a_job_that_can_run_on_its_own_is_an_addition_unless_its_name_is_close() {
        let found = backend_api(
            JOBS,
            "backend-api:\n  cronJobs:\n    rotate-keys:\n      schedule: '0 1 * * *'\n      command: [rotate]\n    report-usage:\n      schedule: '0 1 * * *'\n      image: ghcr.io/jetscale-ai/reports:1.0.0\n",
        );
        assert!(found.is_empty(), "{found:?}");
        let found = backend_api(
            JOBS,
            "backend-api:\n  cronJobs:\n    pull-cox:\n      schedule: '0 1 * * *'\n      command: [x]\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("adds a new entry"));
    }

    #[test]
    fn candidates_rank_a_whole_word_prefix_first_then_by_similarity() {
        let known: BTreeSet<String> = ["pull-coh", "pull-co", "pull-ce", "discover-aws"]
            .into_iter()
            .map(String::from)
            .collect();
        let names = |key| {
            ranked(&known, key)
                .into_iter()
                .map(|(_, k)| k.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("pull-co-recommendations"),
            // pull-ce and pull-coh are as similar: by name.
            ["pull-co", "pull-ce", "pull-coh", "discover-aws"]
        );
        assert_eq!(names("pull-cee")[0], "pull-ce");
    }

    /// A chart without a schema: known paths from its defaults and its templates.
    fn schemaless_findings(env: &str) -> Vec<Diagnostic> {
        let defaults = parse_layer(
            "charts/app/values.yaml",
            "image:\n  repository: nginx\n  tag: \"\"\nservice:\n  port: 80\n",
        )
        .unwrap();
        let mut known = KnownPaths::new();
        known.add_defaults(defaults.value());
        known.add_template("{{ .Values.image.repository }}:{{ .Values.image.tag }}\n{{ with .Values.service }}{{ .port }}{{ .nodePort }}{{ end }}\n{{ toYaml .Values.podLabels }}");
        let env = parse_layer("envs/prod/eu.yaml", env).unwrap();
        let merged = crate::values::merge_chain(&defaults, &[env]);
        unknown_key_findings(&known, &merged, "", "app")
    }

    #[test]
    fn a_key_neither_defaults_nor_templates_know_is_found_at_its_line_with_a_did_you_mean() {
        let found = schemaless_findings(
            "image:\n  tga: \"1.27\"\nservice:\n  nodePort: 30080\npodLabels:\n  team: web\nimageOld:\n  tag: x\nzzz: 1\n",
        );
        let at: Vec<(&str, Option<usize>, Option<&str>)> = found
            .iter()
            .map(|d| (d.rule.as_str(), d.line, d.path.as_deref()))
            .collect();
        assert_eq!(
            at,
            [
                ("values/unknown-key", Some(2), Some("/image/tga")),
                ("values/unknown-key", Some(7), Some("/imageOld")),
                ("values/unknown-key", Some(9), Some("/zzz")),
            ],
            "{found:?}"
        );
        assert_eq!(found[0].file.as_deref(), Some("envs/prod/eu.yaml"));
        assert!(
            found[0]
                .message
                .starts_with("image.tga: unknown key \"tga\": the chart app"),
            "{}",
            found[0].message
        );
        let hint = |i: usize| found[i].hint.as_deref().unwrap();
        assert!(hint(0).starts_with("did you mean \"tag\"?"), "{}", hint(0));
        assert!(
            hint(1).starts_with("did you mean \"image\"?"),
            "{}",
            hint(1)
        );
        // Nothing near: the keys known there, most similar first.
        assert!(
            hint(2).starts_with("remove it, or move it where it is meant"),
            "{}",
            hint(2)
        );
        assert!(hint(2).contains("global"), "{}", hint(2));
    }

    #[test]
    fn keys_read_only_by_templates_and_open_subtrees_pass() {
        let found = schemaless_findings(
            "service:\n  nodePort: 30080\npodLabels:\n  team: web\n  any: thing\nglobal:\n  x: 1\n",
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn suspend_only_override_where_there_are_no_defaults_is_found() {
        let defaults = parse_layer("charts/jetscale/values.yaml", "backend-ws: {}\n").unwrap();
        let env = parse_layer(
            "envs/preview/preview.yaml",
            "backend-ws:\n  cronJobs:\n    pull-ce:\n      suspend: true\n",
        )
        .unwrap();
        let sub = backend_defaults();
        let deps = [DependencyView::bare(
            "backend-ws",
            "backend",
            "4.6.12",
            "ghcr.io/jetscale-ai/backend",
            &sub,
        )];
        let found = keyed_map_overrides(defaults.value(), &[env], &deps);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(3));
    }
}

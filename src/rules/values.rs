//! Rules on values: what the layers of a target say, before anything is rendered.

use std::collections::BTreeSet;

use serde_json::Value;

use super::finding;
use crate::findings::Diagnostic;
use crate::values::{Merged, ParsedLayer, Provenance, escape_key};

/// A dependency of the umbrella chart as the value rules see it.
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
}

/// Maps whose keys name objects the chart creates: an unknown key adds an object.
const KEYED_MAPS: &[&str] = &["cronJobs"];

/// Attach the location of `pointer` (the layer line that set it, or its nearest ancestor).
pub fn locate(diagnostic: Diagnostic, provenance: &Provenance, pointer: &str) -> Diagnostic {
    let diagnostic = diagnostic.with_path(pointer);
    match provenance.locate(pointer) {
        Some(origin) => diagnostic.at(origin.file, origin.line, origin.column),
        None => diagnostic,
    }
}

/// `values/keyed-map-override`: an override in a keyed map (`backend-api.cronJobs`) whose key
/// the defaults do not have. Helm merges it in as a new entry: a duplicate CronJob, or one
/// with no schedule. A complete new entry (with a `schedule`) whose name resembles no default
/// is taken as a deliberate addition.
pub fn keyed_map_overrides(
    umbrella_defaults: &Value,
    layers: &[ParsedLayer],
    dependencies: &[DependencyView<'_>],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for dep in dependencies {
        for map in KEYED_MAPS {
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
                    let closest = known
                        .iter()
                        .map(|k| (strsim::normalized_levenshtein(k, key), k))
                        .filter(|(score, _)| *score >= 0.4)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map(|(_, k)| k.clone());
                    let complete = entry.get("schedule").is_some();
                    if complete && closest.is_none() {
                        continue;
                    }
                    let pointer = format!("{umbrella_pointer}/{}", escape_key(key));
                    let what = if complete {
                        "adds a new entry next to the chart's defaults"
                    } else {
                        "adds an entry with no schedule instead of overriding one"
                    };
                    let mut d = finding(
                        "values/keyed-map-override",
                        format!(
                            "{}.{map} has no default {key:?}: this override {what}",
                            dep.key
                        ),
                    );
                    d = match &closest {
                        Some(k) => d.with_hint(format!("did you mean {k:?}? keys the chart defines: {}", join(&known))),
                        None if known.is_empty() => d.with_hint(format!(
                            "{}.{map} has no defaults: define the whole entry (schedule, command) or remove it",
                            dep.key
                        )),
                        None => d.with_hint(format!("keys the chart defines: {}", join(&known))),
                    };
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

/// `images/tag-matches-chart`: every image whose repository is a dependency chart's image
/// carries that dependency's pinned version as its tag.
pub fn image_tags(merged: &Merged, dependencies: &[DependencyView<'_>]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk_images(&merged.value, String::new(), &mut |pointer, image| {
        let Some(repository) = image.get("repository").and_then(Value::as_str) else {
            return;
        };
        let Some(dep) = dependencies.iter().find(|d| d.image == repository) else {
            return;
        };
        let tag = match image.get("tag") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let (message, at) = match tag.as_deref() {
            Some(tag) if tag == dep.version => return,
            Some("") | None => (
                format!(
                    "image {repository} has no tag; the {} chart is pinned at {}",
                    dep.chart, dep.version
                ),
                format!("{pointer}/repository"),
            ),
            Some(tag) => (
                format!(
                    "image {repository}:{tag} does not match the {} chart version {}",
                    dep.chart, dep.version
                ),
                format!("{pointer}/tag"),
            ),
        };
        out.push(locate(
            finding("images/tag-matches-chart", message).with_hint(format!(
                "set the tag to \"{}\" (stackctl deps bump {} <version> keeps chart and tags together)",
                dep.version, dep.chart
            )),
            &merged.provenance,
            &at,
        ));
    });
    out
}

fn walk_images(
    value: &Value,
    pointer: String,
    visit: &mut impl FnMut(&str, &serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(map) => {
            if map.contains_key("repository") {
                visit(&pointer, map);
            }
            for (key, child) in map {
                walk_images(child, format!("{pointer}/{}", escape_key(key)), visit);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk_images(child, format!("{pointer}/{index}"), visit);
            }
        }
        _ => {}
    }
}

/// `variants/release-hosts`: in a lifecycle variant (Kind, Tilt), the database, Redis and API
/// hosts the pods are given are the Services the variant's release creates. Values written for
/// one release and reused for another point at Services that do not exist.
pub fn release_hosts(merged: &Merged, release: &str, dependency_keys: &[&str]) -> Vec<Diagnostic> {
    let enabled = |pointer: &str| merged.get(pointer) == Some(&Value::Bool(true));
    let mut expected: Vec<(String, String)> = Vec::new();
    for key in dependency_keys {
        let env = format!("/{}/env", escape_key(key));
        if enabled("/postgres/enabled") {
            expected.push((
                format!("{env}/JETSCALE_DB_HOST"),
                format!("{release}-postgres"),
            ));
        }
        if enabled("/redis/enabled") {
            expected.push((
                format!("{env}/JETSCALE_REDIS_HOST"),
                format!("{release}-redis-master"),
            ));
        }
    }
    let mut out = Vec::new();
    for (pointer, want) in expected {
        let Some(actual) = merged.get(&pointer).and_then(Value::as_str) else {
            continue;
        };
        if actual != want {
            out.push(locate(
                finding(
                    "variants/release-hosts",
                    format!(
                        "{} is {actual:?}, but release {release} names that Service {want:?}",
                        display(&pointer)
                    ),
                )
                .with_hint(format!("set it to {want}")),
                &merged.provenance,
                &pointer,
            ));
        }
    }
    // The frontend's API URL, when it names a Service of the cluster (no dots, not localhost).
    let pointer = "/frontend/env/VITE_API_BASE_URL";
    if let Some(url) = merged.get(pointer).and_then(Value::as_str) {
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(url)
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        let want = format!("{release}-backend-api");
        if !host.contains('.') && host != "localhost" && host != want {
            out.push(locate(
                finding(
                    "variants/release-hosts",
                    format!("{} points at {host:?}, but release {release} names the API Service {want:?}", display(pointer)),
                )
                .with_hint(format!("use http://{want}:8000")),
                &merged.provenance,
                pointer,
            ));
        }
    }
    out
}

fn display(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .replace('/', ".")
        .replace("~1", "/")
        .replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{merge_chain, parse_layer};
    use serde_json::json;

    fn backend_defaults() -> Value {
        json!({"cronJobs": {}})
    }

    #[test]
    fn mis_keyed_cronjob_override_is_found_with_a_suggestion() {
        let defaults = parse_layer(
            "charts/jetscale/values.yaml",
            "backend-api:\n  cronJobs:\n    pull-coh: {schedule: '30 2 * * *'}\n    discover-aws: {schedule: '0 3 * * *'}\n",
        )
        .unwrap();
        let env = parse_layer(
            "envs/prod/console.yaml",
            "backend-api:\n  cronJobs:\n    discover-aws-resources:\n      schedule: '0 */4 * * *'\n    pull-coh:\n      suspend: true\n    brand-new:\n      schedule: '1 1 * * *'\n      command: [x]\n",
        )
        .unwrap();
        let sub = backend_defaults();
        let deps = [DependencyView {
            key: "backend-api",
            chart: "backend",
            version: "4.6.12",
            image: "ghcr.io/jetscale-ai/backend",
            defaults: &sub,
        }];
        let found = keyed_map_overrides(defaults.value(), &[env], &deps);
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

    #[test]
    fn suspend_only_override_where_there_are_no_defaults_is_found() {
        let defaults = parse_layer("charts/jetscale/values.yaml", "backend-ws: {}\n").unwrap();
        let env = parse_layer(
            "envs/preview/preview.yaml",
            "backend-ws:\n  cronJobs:\n    pull-ce:\n      suspend: true\n",
        )
        .unwrap();
        let sub = backend_defaults();
        let deps = [DependencyView {
            key: "backend-ws",
            chart: "backend",
            version: "4.6.12",
            image: "ghcr.io/jetscale-ai/backend",
            defaults: &sub,
        }];
        let found = keyed_map_overrides(defaults.value(), &[env], &deps);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(3));
    }

    #[test]
    fn image_tags_must_match_the_dependency_version() {
        let defaults = parse_layer(
            "charts/jetscale/values.yaml",
            "backend-api: {}\nfrontend: {}\n",
        )
        .unwrap();
        let env = parse_layer(
            "envs/prod/console.yaml",
            "backend-api:\n  image:\n    repository: ghcr.io/jetscale-ai/backend\n    tag: \"4.6.11\"\nfrontend:\n  image:\n    repository: ghcr.io/jetscale-ai/frontend\nother:\n  image:\n    repository: 1234.dkr.ecr.us-east-1.amazonaws.com/x\n",
        )
        .unwrap();
        let merged = merge_chain(&defaults, &[env]);
        let empty = json!({});
        let deps = [
            DependencyView {
                key: "backend-api",
                chart: "backend",
                version: "4.6.12",
                image: "ghcr.io/jetscale-ai/backend",
                defaults: &empty,
            },
            DependencyView {
                key: "frontend",
                chart: "frontend",
                version: "2.7.1",
                image: "ghcr.io/jetscale-ai/frontend",
                defaults: &empty,
            },
        ];
        let found = image_tags(&merged, &deps);
        let summary: Vec<(Option<usize>, &str)> = found
            .iter()
            .map(|d| (d.line, d.path.as_deref().unwrap()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some(4), "/backend-api/image/tag"),
                (Some(7), "/frontend/image/repository")
            ]
        );
        assert!(found[1].message.contains("no tag"));
    }
}

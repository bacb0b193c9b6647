//! Which chart value makes an object render, for the message about an object the cluster
//! cannot take: "rendered by jetscale/templates/ext-secret-app.yaml because
//! externalSecret.enabled is true (envs/prod/console.yaml:10)".
//!
//! Templates are guarded by `enabled` flags named after what they render (`externalSecret`,
//! `httpRoute`). Without the template's text, the flag is found by name: among the `enabled`
//! values that are true (in the subchart's block for a subchart's template), the one whose
//! path best matches the kind, its API group and the template's file name.

use serde_json::Value;

use crate::helm::RenderedObject;
use crate::values::Merged;

/// How deep under the values' root (or a subchart's block) `enabled` flags are looked for.
const MAX_DEPTH: usize = 4;

/// One sentence: the template that rendered `object` and the value(s) that turned it on,
/// each with the file and line that set it.
pub(super) fn rendering_values(object: &RenderedObject, values: Option<&Merged>) -> String {
    let source = if object.source.is_empty() {
        "the chart".to_string()
    } else {
        object.source.clone()
    };
    let Some(values) = values else {
        return format!("rendered by {source}");
    };
    let flags = enabling_flags(object, values);
    if flags.is_empty() {
        return format!(
            "rendered by {source}; no `enabled` value of the target's values names it (read the template's `if` to find the value that renders it)"
        );
    }
    let said: Vec<String> = flags
        .iter()
        .map(|pointer| {
            let origin = values
                .origin(pointer)
                .map(|o| format!(" ({}:{})", o.file, o.line))
                .unwrap_or_default();
            format!("{} is true{origin}", dotted(pointer))
        })
        .collect();
    format!("rendered by {source} because {}", said.join(" and "))
}

/// The best matching `enabled: true` flag and the `enabled: true` flags of its ancestors,
/// outermost first (`/externalSecret/enabled`, `/externalSecret/app/enabled`).
fn enabling_flags(object: &RenderedObject, values: &Merged) -> Vec<String> {
    let scope = subchart_scope(&object.source)
        .filter(|key| values.value.get(key).is_some_and(Value::is_object))
        .map(|key| format!("/{}", escape(&key)))
        .unwrap_or_default();
    // The whole values for the umbrella's templates ("" is the root pointer).
    let Some(root) = values.get(&scope) else {
        return Vec::new();
    };
    let clues = Clues::of(object);
    let mut candidates: Vec<(Vec<String>, u32)> = Vec::new();
    collect_true_flags(root, &mut Vec::new(), &mut |path| {
        let score = clues.score(path);
        if score > 0 {
            candidates.push((path.to_vec(), score));
        }
    });
    // Highest score; on a tie the shorter path (the outer switch).
    let Some((best, _)) = candidates
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.len().cmp(&a.0.len())))
        .cloned()
    else {
        return Vec::new();
    };
    let mut flags = Vec::new();
    for depth in 1..=best.len() {
        let pointer = format!(
            "{scope}{}/enabled",
            best[..depth]
                .iter()
                .map(|k| format!("/{}", escape(k)))
                .collect::<String>()
        );
        if values.get(&pointer) == Some(&Value::Bool(true)) {
            flags.push(pointer);
        }
    }
    flags
}

/// Calls `found` with the path (without the final `enabled`) of every `enabled: true`.
fn collect_true_flags(value: &Value, path: &mut Vec<String>, found: &mut dyn FnMut(&[String])) {
    let Value::Object(map) = value else {
        return;
    };
    if map.get("enabled") == Some(&Value::Bool(true)) && !path.is_empty() {
        found(path);
    }
    if path.len() >= MAX_DEPTH {
        return;
    }
    for (key, child) in map {
        path.push(key.clone());
        collect_true_flags(child, path, found);
        path.pop();
    }
}

/// What an object's identity says about the value that renders it.
struct Clues {
    /// `externalsecret` for kind ExternalSecret.
    kind: String,
    /// `externalsecret` for group external-secrets.io (dashes out, plural s off).
    group: String,
    /// The template file's words: `ext`, `secret`, `app` for `ext-secret-app.yaml`.
    words: Vec<String>,
}

impl Clues {
    fn of(object: &RenderedObject) -> Clues {
        let group = object
            .group()
            .split('.')
            .next()
            .unwrap_or_default()
            .replace('-', "")
            .to_lowercase();
        let stem = object
            .source
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml")
            .trim_end_matches(".tpl");
        Clues {
            kind: object.kind().to_lowercase(),
            group: group.strip_suffix('s').unwrap_or(&group).to_string(),
            words: stem
                .split(['-', '_', '.'])
                .filter(|w| w.len() >= 2)
                .map(str::to_lowercase)
                .collect(),
        }
    }

    /// How well a flag's path matches: the kind's name as a key counts most, then the API
    /// group's, then each word of the template's name.
    fn score(&self, path: &[String]) -> u32 {
        let mut score = 0;
        for key in path {
            let key = key.replace(['-', '_'], "").to_lowercase();
            if key == self.kind {
                score += 10;
            } else if !self.group.is_empty() && key == self.group {
                score += 8;
            }
            if self.words.contains(&key) {
                score += 3;
            }
        }
        score
    }
}

/// `backend-api` for `jetscale/charts/backend-api/templates/x.yaml`.
fn subchart_scope(source: &str) -> Option<String> {
    let parts: Vec<&str> = source.split('/').collect();
    parts
        .windows(3)
        .rev()
        .find(|w| w[0] == "charts" && w[2] == "templates")
        .map(|w| w[1].to_string())
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// `externalSecret.app.enabled` for `/externalSecret/app/enabled`.
fn dotted(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|k| k.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{merge_chain, parse_layer};

    fn object(source: &str, api_version: &str, kind: &str) -> RenderedObject {
        RenderedObject {
            source: source.to_string(),
            value: serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}),
        }
    }

    fn merged() -> Merged {
        let defaults = parse_layer(
            "charts/jetscale/values.yaml",
            "externalSecret:\n  enabled: false\n  app:\n    enabled: true\n  db:\n    enabled: true\nhttpRoute:\n  enabled: false\ningress:\n  enabled: true\nbackend-api:\n  monitor:\n    enabled: true\n",
        )
        .unwrap();
        let env = parse_layer(
            "envs/prod/console.yaml",
            "externalSecret:\n  enabled: true\nhttpRoute:\n  enabled: true\n",
        )
        .unwrap();
        merge_chain(&defaults, &[env])
    }

    #[test]
    fn the_kind_and_template_name_find_the_flags_with_their_lines() {
        let values = merged();
        let said = rendering_values(
            &object(
                "jetscale/templates/ext-secret-app.yaml",
                "external-secrets.io/v1",
                "ExternalSecret",
            ),
            Some(&values),
        );
        assert_eq!(
            said,
            "rendered by jetscale/templates/ext-secret-app.yaml because externalSecret.enabled is true (envs/prod/console.yaml:2) and externalSecret.app.enabled is true (charts/jetscale/values.yaml:4)"
        );
        let said = rendering_values(
            &object(
                "jetscale/templates/httproute.yaml",
                "gateway.networking.k8s.io/v1",
                "HTTPRoute",
            ),
            Some(&values),
        );
        assert!(
            said.ends_with("httpRoute.enabled is true (envs/prod/console.yaml:4)"),
            "{said}"
        );
    }

    #[test]
    fn the_api_group_finds_the_flag_when_the_kind_does_not() {
        let said = rendering_values(
            &object(
                "jetscale/templates/secretstore.yaml",
                "external-secrets.io/v1",
                "SecretStore",
            ),
            Some(&merged()),
        );
        assert!(
            said.ends_with("because externalSecret.enabled is true (envs/prod/console.yaml:2)"),
            "{said}"
        );
    }

    #[test]
    fn subchart_templates_look_in_their_block_and_nothing_found_is_said() {
        let values = merged();
        let said = rendering_values(
            &object(
                "jetscale/charts/backend-api/templates/servicemonitor.yaml",
                "monitoring.coreos.com/v1",
                "ServiceMonitor",
            ),
            Some(&values),
        );
        assert!(said.contains("no `enabled` value"), "{said}");
        let said = rendering_values(
            &object(
                "jetscale/charts/backend-api/templates/monitor.yaml",
                "monitoring.coreos.com/v1",
                "PodMonitor",
            ),
            Some(&values),
        );
        assert!(
            said.ends_with(
                "because backend-api.monitor.enabled is true (charts/jetscale/values.yaml:13)"
            ),
            "{said}"
        );
        assert_eq!(
            rendering_values(&object("jetscale/templates/x.yaml", "a/v1", "X"), None),
            "rendered by jetscale/templates/x.yaml"
        );
    }
}

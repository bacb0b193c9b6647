//! `images/tag-matches-chart`: an image shipped by a dependency chart runs the version the
//! chart is pinned at.

use serde_json::Value;

use super::values::locate;
use super::{DependencyView, Scope, TargetCx, TargetRule, finding, rule};
use crate::findings::{Diagnostic, Severity};
use crate::values::{Merged, escape_key};

pub const RULES: &[super::Rule] = &[rule(
    "images/tag-matches-chart",
    Severity::Error,
    Scope::Target,
    "an image of a dependency chart carries the dependency's version as its tag",
)];

/// `images/tag-matches-chart` on a target's merged values.
pub struct TagMatchesChart;

impl TargetRule for TagMatchesChart {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        out.extend(image_tags(cx.merged, cx.dependencies));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{merge_chain, parse_layer};
    use serde_json::json;

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
            DependencyView::bare(
                "backend-api",
                "backend",
                "4.6.12",
                "ghcr.io/jetscale-ai/backend",
                &empty,
            ),
            DependencyView::bare(
                "frontend",
                "frontend",
                "2.7.1",
                "ghcr.io/jetscale-ai/frontend",
                &empty,
            ),
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

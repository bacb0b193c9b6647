//! The value paths a chart knows when it has no `values.schema.json`: the defaults in its
//! `values.yaml`, every `.Values…` path its templates read ([`templates`]), and the keys owned
//! elsewhere (`global`, each dependency's block, dependency conditions and tags).
//!
//! Helm ignores a key no template reads, without a word: a top-level key left in an env file
//! after a rename does nothing. [`KnownPaths::unknown_keys`] lists such keys in merged values,
//! with the keys known beside each one for a did-you-mean.
//!
//! Where the chart is unsure, the paths are permissive: a subtree handed whole to `toYaml`,
//! `range`, `include` or `tpl`, and a map whose default is empty (`podAnnotations: {}`),
//! accept any key beneath them; `.Values` handed whole, or a template that cannot be followed,
//! makes every key known.

pub mod templates;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::nesting::MAX_DEPTH;
pub use templates::{TemplateReads, read_template};

/// Keys a chart knows, as a tree.
#[derive(Debug, Clone, Default)]
pub struct KnownPaths {
    root: Node,
    /// Every key is known (`.Values` handed whole to a template function).
    everything: bool,
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: BTreeMap<String, Node>,
    /// Any key beneath is known.
    open: bool,
}

/// A key of the values that the chart does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// JSON pointer of the key (`/externalSecret/awsRegoin`).
    pub pointer: String,
    pub key: String,
    /// The keys the chart knows beside it, for a did-you-mean.
    pub siblings: BTreeSet<String>,
}

impl KnownPaths {
    /// A chart's known paths, starting with `global`, which belongs to every chart.
    pub fn new() -> KnownPaths {
        let mut known = KnownPaths::default();
        known.open(["global"]);
        known
    }

    /// Whether every key is known (nothing can be reported).
    pub fn knows_everything(&self) -> bool {
        self.everything || self.root.open
    }

    /// Every key of the chart's defaults. A map whose default is empty is open: it is there to
    /// be filled (`annotations: {}`) with keys the chart cannot list. Strings holding template
    /// actions are read as templates: a chart that renders its values with `tpl` reads what
    /// they name.
    pub fn add_defaults(&mut self, defaults: &Value) {
        fn walk(node: &mut Node, value: &Value, reads: &mut TemplateReads) {
            match value {
                Value::Object(map) if map.is_empty() => node.open = true,
                Value::Object(map) => {
                    for (key, child) in map {
                        walk(node.children.entry(key.clone()).or_default(), child, reads);
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| strings(item, reads)),
                Value::String(text) if text.contains("{{") => read_template(text, reads),
                _ => {}
            }
        }
        // Strings inside lists hold templates too; their keys are not paths of the chart.
        fn strings(value: &Value, reads: &mut TemplateReads) {
            match value {
                Value::Object(map) => map.values().for_each(|v| strings(v, reads)),
                Value::Array(items) => items.iter().for_each(|v| strings(v, reads)),
                Value::String(text) if text.contains("{{") => read_template(text, reads),
                _ => {}
            }
        }
        let mut reads = TemplateReads::default();
        walk(&mut self.root, defaults, &mut reads);
        self.add_reads(&reads);
    }

    /// What a template of the chart reads.
    pub fn add_template(&mut self, text: &str) {
        let mut reads = TemplateReads::default();
        read_template(text, &mut reads);
        self.add_reads(&reads);
    }

    pub fn add_reads(&mut self, reads: &TemplateReads) {
        self.everything |= reads.everything;
        for path in &reads.read {
            self.node(path);
        }
        for path in &reads.open {
            self.node(path).open = true;
        }
    }

    /// A path the chart knows (a dependency's condition, a tag).
    pub fn add<S: AsRef<str>>(&mut self, path: impl IntoIterator<Item = S>) {
        self.node(path);
    }

    /// A subtree whose keys are all known (a dependency's block, an imported value).
    pub fn open<S: AsRef<str>>(&mut self, path: impl IntoIterator<Item = S>) {
        self.node(path).open = true;
    }

    /// Make every key known.
    pub fn open_everything(&mut self) {
        self.everything = true;
    }

    fn node<S: AsRef<str>>(&mut self, path: impl IntoIterator<Item = S>) -> &mut Node {
        let mut node = &mut self.root;
        for key in path.into_iter().take(MAX_DEPTH) {
            node = node.children.entry(key.as_ref().to_string()).or_default();
        }
        node
    }

    /// The keys of `values` the chart does not know, each with its pointer. Below an unknown
    /// key nothing more is reported; lists are not looked into (their entries are read by
    /// `range`).
    pub fn unknown_keys(&self, values: &Value) -> Vec<UnknownKey> {
        fn walk(node: &Node, value: &Value, pointer: &str, out: &mut Vec<UnknownKey>) {
            let Value::Object(map) = value else {
                return;
            };
            if node.open {
                return;
            }
            for (key, child) in map {
                let here = format!("{pointer}/{}", super::escape_key(key));
                match node.children.get(key) {
                    Some(known) => walk(known, child, &here, out),
                    None => out.push(UnknownKey {
                        pointer: here,
                        key: key.clone(),
                        siblings: node.children.keys().cloned().collect(),
                    }),
                }
            }
        }
        let mut out = Vec::new();
        if !self.knows_everything() {
            // Values are never nested deeper than MAX_DEPTH (the readers refuse them), nor is
            // this tree, so the recursion is bounded.
            walk(&self.root, values, "", &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(found: &[UnknownKey]) -> Vec<&str> {
        found.iter().map(|u| u.pointer.as_str()).collect()
    }

    #[test]
    fn defaults_and_template_reads_are_known_and_the_rest_is_not() {
        let mut known = KnownPaths::new();
        known.add_defaults(&json!({"image": {"repository": "x", "tag": ""}, "podAnnotations": {}}));
        known.add_template("{{ .Values.extra.flag }}{{ toYaml .Values.resources }}");
        let values = json!({
            "image": {"repository": "y", "tga": "1"},
            "podAnnotations": {"a/b": "c"},
            "extra": {"flag": true, "other": 1},
            "resources": {"limits": {"cpu": 1}},
            "global": {"anything": 1},
            "replicas": 2,
        });
        let found = known.unknown_keys(&values);
        assert_eq!(
            pointers(&found),
            // In the order of the values (the values keep their keys' order).
            ["/image/tga", "/extra/other", "/replicas"],
            "{found:?}"
        );
        let tga = &found[0];
        assert_eq!(tga.key, "tga");
        assert_eq!(
            tga.siblings.iter().map(String::as_str).collect::<Vec<_>>(),
            ["repository", "tag"]
        );
        let top = &found[2];
        assert!(top.siblings.contains("image") && top.siblings.contains("global"));
    }

    #[test]
    fn values_handed_whole_or_an_unreadable_template_report_nothing() {
        for template in ["{{ toYaml .Values }}", "{{ if .Values.a }}never ends"] {
            let mut known = KnownPaths::new();
            known.add_defaults(&json!({"a": 1}));
            known.add_template(template);
            assert!(known.knows_everything(), "{template}");
            assert!(
                known.unknown_keys(&json!({"b": 1})).is_empty(),
                "{template}"
            );
        }
    }

    #[test]
    fn dependency_blocks_conditions_and_tpl_strings_in_defaults_are_known() {
        let mut known = KnownPaths::new();
        known.open(["backend-api"]);
        known.add(["tags", "monitoring"]);
        known.add_defaults(&json!({"ingress": {"annotations": {"x": "{{ .Values.host.name }}"}}}));
        let values = json!({
            "backend-api": {"whatever": {"deep": 1}},
            "tags": {"monitoring": true, "monitorng": false},
            "host": {"name": "a"},
        });
        assert_eq!(pointers(&known.unknown_keys(&values)), ["/tags/monitorng"]);
    }

    #[test]
    fn a_scalar_default_given_a_map_reports_the_keys_beneath_and_lists_are_not_entered() {
        let mut known = KnownPaths::new();
        known.add_defaults(&json!({"nodePort": null, "hosts": []}));
        let values = json!({"nodePort": {"x": 1}, "hosts": [{"anything": 1}]});
        assert_eq!(pointers(&known.unknown_keys(&values)), ["/nodePort/x"]);
    }
}

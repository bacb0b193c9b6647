//! How deep a schema nests once its `$ref`s are followed.
//!
//! The JSON Schema library inlines every non-recursive `$ref` when it compiles a schema and
//! follows it again on each validation, one stack frame per hop. The file's own nesting is
//! bounded by [`MAX_DEPTH`](crate::nesting::MAX_DEPTH), but a flat list of definitions that
//! refer to each other in a chain (`a0 → a1 → … → a30000`) nests as deep as the chain is long:
//! compiling it takes quadratic time and validating through it overflows the stack. This module
//! measures that resolved depth without recursion, so a schema can be refused before it is
//! compiled.
//!
//! Local references are followed: `#`, `#/json/pointer` (percent-encoded or not), plain-name
//! fragments declared by an `$id` of `#name`, and any of these prefixed by the root's `$id`. A
//! reference that leads back into the chain that reached it (a recursive schema) is a cycle the
//! library handles lazily: it adds no depth.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// What [`resolved_depth`] found: the deepest nesting once references are followed, and the
/// first `$ref` of the longest chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDepth {
    /// Levels of maps and lists, each followed `$ref` counting one level more than the schema
    /// it points to (the library spends a frame on the reference itself).
    pub depth: usize,
    /// How many `$ref`s the deepest path follows.
    pub hops: usize,
    /// The `$ref` that starts the deepest path, as written (`None` when it follows none).
    pub first_ref: Option<String>,
}

/// One `$ref` in the schema.
struct Site {
    /// Object depth of the object holding the `$ref` (the root object is 0).
    depth: usize,
    /// Pointer of the object holding the `$ref`.
    pointer: String,
    /// The reference as written.
    raw: String,
    /// Pointer of the schema it resolves to, when it is local and resolves.
    target: Option<String>,
}

/// Keywords whose values are data, not schemas: a `$ref` inside them is not followed.
const DATA_KEYWORDS: [&str; 4] = ["enum", "const", "default", "examples"];

/// Measure `schema`. Recursion over the document's structure is bounded by its nesting (the
/// caller has checked it against the limit); following references is iterative.
pub fn resolved_depth(schema: &Value) -> ResolvedDepth {
    let root_id = schema
        .get("$id")
        .and_then(Value::as_str)
        .map(|id| id.split('#').next().unwrap_or_default().to_string())
        .filter(|id| !id.is_empty());
    let mut sites = Vec::new();
    let mut anchors = HashMap::new();
    collect(schema, String::new(), 0, &mut sites, &mut anchors);
    for site in &mut sites {
        site.target = resolve(&site.raw, root_id.as_deref(), &anchors)
            .filter(|pointer| schema.pointer(pointer).is_some());
    }

    // Every schema a chain can pass through: the root and each reference's target.
    let mut targets: HashSet<String> = sites.iter().filter_map(|s| s.target.clone()).collect();
    targets.insert(String::new());
    let mut heights = HashMap::new();
    for target in &targets {
        heights.insert(
            target.clone(),
            height(schema.pointer(target).unwrap_or(schema)),
        );
    }
    // The references inside each target's subtree: walk each site's ancestors (at most the
    // file's nesting limit of them).
    let mut inside: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, site) in sites.iter().enumerate() {
        if site.target.is_none() {
            continue;
        }
        let mut prefix = site.pointer.as_str();
        loop {
            if let Some(key) = targets.get(prefix) {
                inside.entry(key.as_str()).or_default().push(index);
            }
            match prefix.rfind('/') {
                Some(cut) => prefix = &prefix[..cut],
                None => break,
            }
        }
    }

    longest_from_root(&sites, &heights, &inside)
}

/// The longest path from the root, by an iterative depth-first search over targets with
/// memoised results; a reference back to a target still being explored adds nothing.
fn longest_from_root(
    sites: &[Site],
    heights: &HashMap<String, usize>,
    inside: &HashMap<&str, Vec<usize>>,
) -> ResolvedDepth {
    #[derive(Clone, Copy)]
    struct Best {
        depth: usize,
        hops: usize,
        site: Option<usize>,
    }
    let pointer_depth = |p: &str| p.matches('/').count();
    let mut done: HashMap<&str, Best> = HashMap::new();
    let mut open: HashSet<&str> = HashSet::new();
    // Each frame: a target and how many of its inner references have been looked at.
    let mut stack: Vec<(&str, usize)> = vec![("", 0)];
    open.insert("");
    while let Some(&mut (target, ref mut next)) = stack.last_mut() {
        let refs = inside.get(target).map(Vec::as_slice).unwrap_or_default();
        if let Some(&site) = refs.get(*next) {
            *next += 1;
            let to = sites[site].target.as_deref().unwrap_or_default();
            if !done.contains_key(to) && !open.contains(to) {
                open.insert(to);
                stack.push((to, 0));
            }
            continue;
        }
        // Every inner reference explored: this target's best path is known.
        let mut best = Best {
            depth: heights.get(target).copied().unwrap_or_default(),
            hops: 0,
            site: None,
        };
        for &site in refs {
            let to = sites[site].target.as_deref().unwrap_or_default();
            let Some(after) = done.get(to) else { continue }; // a cycle: no depth
            let depth = sites[site].depth - pointer_depth(target) + 1 + after.depth;
            if depth > best.depth {
                best = Best {
                    depth,
                    hops: after.hops + 1,
                    site: Some(site),
                };
            }
        }
        open.remove(target);
        done.insert(target, best);
        stack.pop();
    }
    let root = done[""];
    ResolvedDepth {
        depth: root.depth,
        hops: root.hops,
        first_ref: root.site.map(|site| sites[site].raw.clone()),
    }
}

/// Every `$ref` and `$id` anchor under `value`, with the object depth of each.
fn collect(
    value: &Value,
    pointer: String,
    depth: usize,
    sites: &mut Vec<Site>,
    anchors: &mut HashMap<String, String>,
) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(raw)) = map.get("$ref") {
                sites.push(Site {
                    depth,
                    pointer: pointer.clone(),
                    raw: raw.clone(),
                    target: None,
                });
            }
            if let Some(anchor) = map
                .get("$id")
                .and_then(Value::as_str)
                .and_then(|id| id.strip_prefix('#'))
                .filter(|name| !name.is_empty() && !name.starts_with('/'))
            {
                anchors.insert(anchor.to_string(), pointer.clone());
            }
            for (key, child) in map {
                if DATA_KEYWORDS.contains(&key.as_str()) {
                    continue;
                }
                let child_pointer = format!("{pointer}/{}", super::escape_pointer_token(key));
                collect(child, child_pointer, depth + 1, sites, anchors);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect(
                    child,
                    format!("{pointer}/{index}"),
                    depth + 1,
                    sites,
                    anchors,
                );
            }
        }
        _ => {}
    }
}

/// The pointer a local reference resolves to; `None` for a remote one.
fn resolve(raw: &str, root_id: Option<&str>, anchors: &HashMap<String, String>) -> Option<String> {
    let local = match root_id.and_then(|id| raw.strip_prefix(id)) {
        Some(rest) => rest,
        None => raw,
    };
    let fragment = local.strip_prefix('#')?;
    let fragment = percent_encoding::percent_decode_str(fragment)
        .decode_utf8()
        .ok()?
        .into_owned();
    if fragment.is_empty() || fragment.starts_with('/') {
        Some(fragment)
    } else {
        anchors.get(&fragment).cloned()
    }
}

/// Levels of maps and lists in `value` (a scalar is 0).
fn height(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(height).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(height).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(length: usize) -> Value {
        let mut definitions = serde_json::Map::new();
        for i in 0..length {
            definitions.insert(
                format!("a{i}"),
                json!({"$ref": format!("#/definitions/a{}", i + 1)}),
            );
        }
        definitions.insert(format!("a{length}"), json!({"type": "object"}));
        json!({"definitions": definitions, "properties": {"global": {"$ref": "#/definitions/a0"}}})
    }

    #[test]
    fn a_schema_without_references_is_as_deep_as_it_is_written() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let found = resolved_depth(&schema);
        assert_eq!((found.depth, found.hops, found.first_ref), (3, 0, None));
    }

    #[test]
    fn each_hop_of_a_chain_adds_the_depth_of_its_target() {
        let found = resolved_depth(&chain(3));
        // root → properties → global ($ref) → a0 → a1 → a2 → a3 {type}: 2 + 4 hops + 1
        assert_eq!(found.hops, 4);
        assert_eq!(found.depth, 7);
        assert_eq!(found.first_ref.as_deref(), Some("#/definitions/a0"));
        let deep = resolved_depth(&chain(50_000));
        assert_eq!(deep.hops, 50_001);
        assert!(deep.depth >= 50_000, "{deep:?}");
    }

    #[test]
    fn nested_references_add_their_own_depth() {
        let schema = json!({
            "definitions": {
                "leaf": {"type": "object", "properties": {"x": {"type": "string"}}},
                "mid": {"properties": {"inner": {"properties": {"deep": {"$ref": "#/definitions/leaf"}}}}}
            },
            "properties": {"top": {"$ref": "#/definitions/mid"}}
        });
        let found = resolved_depth(&schema);
        // properties/top (2) + mid's properties/inner/properties/deep (4) + leaf's height (3),
        // and one level for each of the two hops
        assert_eq!((found.depth, found.hops), (11, 2));
    }

    #[test]
    fn cycles_add_no_depth() {
        let schema = json!({
            "definitions": {
                "a": {"$ref": "#/definitions/b"},
                "b": {"$ref": "#/definitions/a"},
                "node": {"properties": {"children": {"items": {"$ref": "#"}}}}
            },
            "properties": {"global": {"$ref": "#/definitions/a"}, "tree": {"$ref": "#/definitions/node"}}
        });
        let found = resolved_depth(&schema);
        assert!(found.depth < 10, "{found:?}");
    }

    #[test]
    fn anchors_escapes_and_the_root_id_are_followed() {
        let schema = json!({
            "$id": "https://example.com/values.schema.json",
            "definitions": {
                "a/b": {"$id": "#named", "properties": {"x": {"$ref": "https://example.com/values.schema.json#/definitions/c%20d"}}},
                "c d": {"properties": {"y": {"properties": {"z": {"type": "string"}}}}}
            },
            "properties": {"global": {"$ref": "#named"}, "other": {"$ref": "#/definitions/a~1b"}}
        });
        let found = resolved_depth(&schema);
        assert_eq!(found.hops, 2, "{found:?}");
    }

    #[test]
    fn references_inside_data_and_remote_references_are_not_followed() {
        let schema = json!({
            "definitions": {"deep": {"properties": {"a": {"properties": {"b": {"type": "string"}}}}}},
            "properties": {
                "x": {"default": {"$ref": "#/definitions/deep"}},
                "y": {"$ref": "https://example.com/other.json#/definitions/deep"},
                "z": {"$ref": "#/definitions/missing"}
            }
        });
        let found = resolved_depth(&schema);
        assert_eq!(found.hops, 0, "{found:?}");
    }
}

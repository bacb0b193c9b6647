//! PATCH bodies: JSON patch (RFC 6902) and JSON merge patch (RFC 7386) through the
//! `json-patch` crate, strategic merge patch treated as a merge patch, and server-side apply
//! for one field manager at a time.
//!
//! Server-side apply here is "the applied object plus the fields others own": the result is
//! the live object, minus the fields this manager applied last time and no longer applies,
//! with the new configuration merged over it (maps merge key by key; lists and scalars are
//! replaced). Fields the server or controllers set (uid, status, a Service's clusterIP, a
//! Job's generated labels) survive a re-apply, as they do on a real apiserver. What is not
//! modelled: list-map merge keys (`containers[name]`) shared between managers, and ownership of
//! fields written by updates rather than applies.

use serde_json::{Map, Value};

/// The four patch content types the apiserver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// RFC 7386 merge patch (nulls delete).
pub fn merge(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch; the error text is what the apiserver would put in its message.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    json_patch::patch(target, &ops).map_err(|e| e.to_string())
}

/// Removes `null` values from maps, recursively: an applied configuration that sets a field to
/// null does not own it.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The result of applying `applied` over `live`, given what the same manager applied before.
pub fn apply(live: &Value, previous: Option<&Value>, applied: &Value) -> Value {
    let mut result = live.clone();
    if let Some(previous) = previous {
        prune(&mut result, previous, applied);
    }
    overlay(&mut result, applied);
    result
}

/// Drops from `base` the fields `previous` set that `applied` no longer sets.
fn prune(base: &mut Value, previous: &Value, applied: &Value) {
    let (Value::Object(base), Value::Object(previous)) = (base, previous) else {
        return;
    };
    for (key, prev_value) in previous {
        match applied.get(key) {
            None => {
                base.remove(key);
            }
            Some(now) => {
                if let Some(base_value) = base.get_mut(key)
                    && prev_value.is_object()
                    && now.is_object()
                {
                    prune(base_value, prev_value, now);
                }
            }
        }
    }
}

/// Merges `top` into `base`: maps key by key, everything else replaced.
fn overlay(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        overlay(existing, value)
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, top) => *base = top.clone(),
    }
}

/// The leaf paths (`.spec.replicas`) where `applied` sets a value different from `other`'s
/// configuration: conflicts between two apply managers.
pub fn conflicting_fields(other: &Value, applied: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_conflicts(other, applied, String::new(), &mut out);
    out
}

fn collect_conflicts(other: &Value, applied: &Value, path: String, out: &mut Vec<String>) {
    match (other, applied) {
        (Value::Object(o), Value::Object(a)) => {
            for (key, value) in a {
                if let Some(theirs) = o.get(key) {
                    collect_conflicts(theirs, value, format!("{path}.{key}"), out);
                }
            }
        }
        (o, a) if o != a => out.push(path),
        _ => {}
    }
}

/// Removes the fields at `paths` (`.spec.replicas`) from a configuration: a forced apply takes
/// them over from their previous manager.
pub fn remove_fields(config: &mut Value, paths: &[String]) {
    for path in paths {
        let segments: Vec<&str> = path.trim_start_matches('.').split('.').collect();
        remove_path(config, &segments);
    }
}

fn remove_path(value: &mut Value, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let Some(map) = value.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        map.remove(*first);
    } else if let Some(child) = map.get_mut(*first) {
        remove_path(child, rest);
    }
}

/// Everything but `metadata` and `status`: a change here is a spec change that bumps
/// `metadata.generation`.
pub fn without_metadata_and_status(object: &Value) -> Map<String, Value> {
    object
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "metadata" && *k != "status")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reapply_keeps_server_fields_and_drops_unapplied_ones() {
        let first = json!({"metadata": {"name": "s", "labels": {"a": "1", "b": "2"}}, "spec": {"ports": [{"port": 80}]}});
        let live = json!({
            "metadata": {"name": "s", "uid": "u", "labels": {"a": "1", "b": "2"}},
            "spec": {"ports": [{"port": 80}], "clusterIP": "10.96.0.7"},
            "status": {"loadBalancer": {}}
        });
        let second = json!({"metadata": {"name": "s", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 81}]}});
        let out = apply(&live, Some(&first), &second);
        assert_eq!(out["metadata"]["uid"], "u");
        assert_eq!(out["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(out["spec"]["clusterIP"], "10.96.0.7");
        assert_eq!(out["spec"]["ports"], json!([{"port": 81}]));
        assert_eq!(out["status"], json!({"loadBalancer": {}}));
    }

    #[test]
    fn conflicts_are_leaf_paths_with_different_values() {
        let theirs = json!({"spec": {"replicas": 3, "paused": false}});
        let mine = json!({"spec": {"replicas": 1, "paused": false, "x": 1}});
        assert_eq!(conflicting_fields(&theirs, &mine), vec![".spec.replicas"]);
        let mut cfg = theirs.clone();
        remove_fields(&mut cfg, &[".spec.replicas".into()]);
        assert_eq!(cfg, json!({"spec": {"paused": false}}));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml; charset=utf-8"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }
}

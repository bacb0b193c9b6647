//! The validation a deploy tool runs into: names, selectors that must match their template,
//! required fields, and the immutable fields that make a re-deploy fail with `422 Invalid`
//! (a Service's clusterIP, a Job's template, a Deployment's selector, most of a StatefulSet's
//! spec). Messages follow the apiserver's; values are shown in Go syntax for strings and
//! label maps, as compact JSON for larger values.

use serde_json::Value;

use crate::resources::ResourceType;
use crate::status::{ApiError, Cause};

/// A value as the apiserver prints it in `Invalid value: …`.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "\"\"".into(),
        other => other.to_string(),
    }
}

/// A label map in Go's `%#v` form: `map[string]string{"app":"web"}`.
fn show_labels(labels: &Value) -> String {
    let mut pairs: Vec<String> = labels
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

fn show_selector(selector: &Value) -> String {
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}",
        show_labels(&selector["matchLabels"])
    )
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// What a field must be for the apiserver to decode the object at all.
#[derive(Clone, Copy)]
enum Shape {
    Object,
    StringMap,
    Array,
    ObjectArray,
    Integer,
}

impl Shape {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Shape::Object => v.is_object(),
            Shape::StringMap => v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string)),
            Shape::Array => v.is_array(),
            Shape::ObjectArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
            Shape::Integer => v.is_i64(),
        }
    }

    fn go_type(self) -> &'static str {
        match self {
            Shape::Object => "struct",
            Shape::StringMap => "map[string]string",
            Shape::Array => "[]string",
            Shape::ObjectArray => "[]struct",
            Shape::Integer => "int32",
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const POD_SPEC_FIELDS: &[(&str, Shape)] = &[
    ("containers", Shape::ObjectArray),
    ("initContainers", Shape::ObjectArray),
    ("volumes", Shape::ObjectArray),
    ("containers/*/ports", Shape::ObjectArray),
    ("containers/*/env", Shape::ObjectArray),
    ("containers/*/envFrom", Shape::ObjectArray),
    ("initContainers/*/ports", Shape::ObjectArray),
];

/// Fields that must have a given JSON type wherever present: what the apiserver's typed
/// decoding refuses with 400 before anything else looks at the object. (Controllers and
/// defaulting rely on these shapes.)
fn shapes(rt: &ResourceType) -> Vec<(String, Shape)> {
    let mut out: Vec<(String, Shape)> = [
        ("metadata", Shape::Object),
        ("metadata/labels", Shape::StringMap),
        ("metadata/annotations", Shape::StringMap),
        ("metadata/finalizers", Shape::Array),
        ("metadata/ownerReferences", Shape::ObjectArray),
        ("spec", Shape::Object),
        ("status", Shape::Object),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), *s))
    .collect();
    let pod_spec_at = |out: &mut Vec<(String, Shape)>, prefix: &str| {
        for (p, s) in POD_SPEC_FIELDS {
            out.push((format!("{prefix}/{p}"), *s));
        }
    };
    let template_prefix = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => {
            pod_spec_at(&mut out, "spec");
            None
        }
        ("apps", _) | ("batch", "jobs") => Some("spec"),
        ("batch", "cronjobs") => Some("spec/jobTemplate/spec"),
        _ => None,
    };
    if let Some(prefix) = template_prefix {
        for (p, s) in [
            ("selector", Shape::Object),
            ("selector/matchLabels", Shape::StringMap),
            ("template", Shape::Object),
            ("template/metadata", Shape::Object),
            ("template/metadata/labels", Shape::StringMap),
            ("template/spec", Shape::Object),
            ("replicas", Shape::Integer),
            ("volumeClaimTemplates", Shape::ObjectArray),
        ] {
            out.push((format!("{prefix}/{p}"), s));
        }
        if rt.plural == "cronjobs" {
            out.push(("spec/jobTemplate".into(), Shape::Object));
            out.push(("spec/jobTemplate/spec".into(), Shape::Object));
        }
        pod_spec_at(&mut out, &format!("{prefix}/template/spec"));
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "services") => {
            out.push(("spec/ports".into(), Shape::ObjectArray));
            out.push(("spec/selector".into(), Shape::StringMap));
        }
        ("", "configmaps") => out.push(("data".into(), Shape::StringMap)),
        ("", "secrets") => {
            out.push(("data".into(), Shape::StringMap));
            out.push(("stringData".into(), Shape::StringMap));
        }
        _ => {}
    }
    out
}

/// The values at `path` (segments; `*` walks every array element).
fn values_at<'a>(v: &'a Value, path: &[&str], out: &mut Vec<(&'a Value, String)>, shown: String) {
    let Some((first, rest)) = path.split_first() else {
        out.push((v, shown));
        return;
    };
    if *first == "*" {
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            values_at(item, rest, out, format!("{shown}[{i}]"));
        }
    } else if let Some(child) = v.get(*first).filter(|c| !c.is_null()) {
        let shown = if shown.is_empty() {
            (*first).to_string()
        } else {
            format!("{shown}.{first}")
        };
        values_at(child, rest, out, shown);
    }
}

/// Refuses objects the apiserver could not decode into their type (a string where an object
/// belongs, a number in a label map), with its 400 message.
pub fn check_shape(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let undecodable = |what: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {what}",
            kind = rt.kind,
            version = rt.version
        ))
    };
    if !obj.is_object() {
        return Err(undecodable(format!(
            "json: cannot unmarshal {} into Go value of type {}",
            json_type(obj),
            rt.kind
        )));
    }
    for (path, shape) in shapes(rt) {
        let segments: Vec<&str> = path.split('/').collect();
        let mut found = Vec::new();
        values_at(obj, &segments, &mut found, String::new());
        for (value, shown) in found {
            if shape.accepts(value) {
                continue;
            }
            // In a map of strings, the entry that is not one.
            let (offender, go_type) = match (shape, value.as_object()) {
                (Shape::StringMap, Some(map)) => (
                    map.values().find(|v| !v.is_string()).unwrap_or(value),
                    "string",
                ),
                _ => (value, shape.go_type()),
            };
            return Err(undecodable(format!(
                "json: cannot unmarshal {} into Go struct field {}.{shown} of type {go_type}",
                json_type(offender),
                rt.kind,
            )));
        }
    }
    Ok(())
}

/// Checks on every create and update.
pub fn validate(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut causes = Vec::new();
    let label_names = matches!(rt.plural.as_str(), "namespaces" | "services");
    if label_names && !is_dns_label(name) {
        causes.push(Cause::invalid(
            "metadata.name",
            &show(&Value::String(name.into())),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ));
    } else if !label_names && !is_dns_subdomain(name) {
        causes.push(Cause::invalid(
            "metadata.name",
            &show(&Value::String(name.into())),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ));
    }

    let spec = &obj["spec"];
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments" | "replicasets" | "statefulsets") => {
            if spec["selector"].is_null() {
                causes.push(Cause::required("spec.selector", ""));
            } else {
                let selector = crate::selectors::LabelSelector::from_object(&spec["selector"]);
                let labels = spec.pointer("/template/metadata/labels");
                if selector.is_empty() {
                    causes.push(Cause::invalid(
                        "spec.selector",
                        &show_selector(&spec["selector"]),
                        "empty selector is invalid for deployment",
                    ));
                } else if !selector.matches_labels(labels.and_then(Value::as_object)) {
                    causes.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        &show_labels(labels.unwrap_or(&Value::Null)),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            if !has_containers(&spec["template"]["spec"]) {
                causes.push(Cause::required("spec.template.spec.containers", ""));
            }
        }
        ("batch", "jobs") => {
            if !has_containers(&spec["template"]["spec"]) {
                causes.push(Cause::required("spec.template.spec.containers", ""));
            }
            if spec
                .pointer("/template/spec/restartPolicy")
                .and_then(Value::as_str)
                == Some("Always")
            {
                causes.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: "spec.template.spec.restartPolicy".into(),
                    message:
                        "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
                            .into(),
                });
            }
        }
        ("", "pods") if !has_containers(spec) => {
            causes.push(Cause::required("spec.containers", ""));
        }
        ("", "services") => {
            let kind = spec["type"].as_str().unwrap_or("ClusterIP");
            let headless = spec["clusterIP"] == "None";
            let no_ports = spec["ports"].as_array().is_none_or(Vec::is_empty);
            if kind != "ExternalName" && !headless && no_ports {
                causes.push(Cause::required("spec.ports", ""));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt, name, causes))
    }
}

fn has_containers(pod_spec: &Value) -> bool {
    pod_spec["containers"]
        .as_array()
        .is_some_and(|c| !c.is_empty())
}

/// Checks of an update against the stored object: the immutable fields.
pub fn validate_update(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ApiError> {
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (o, n) = (&old["spec"], &new["spec"]);
    let mut causes = Vec::new();
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments" | "replicasets") if o["selector"] != n["selector"] => {
            causes.push(Cause::immutable(
                "spec.selector",
                &show_selector(&n["selector"]),
            ));
        }
        ("apps", "statefulsets") => {
            const MUTABLE: &[&str] = &[
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            let strip = |spec: &Value| -> Value {
                let mut s = spec.clone();
                if let Some(m) = s.as_object_mut() {
                    m.retain(|k, _| !MUTABLE.contains(&k.as_str()));
                }
                s
            };
            if strip(o) != strip(n) {
                causes.push(Cause::forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        ("batch", "jobs") => {
            if o["selector"] != n["selector"] {
                causes.push(Cause::immutable(
                    "spec.selector",
                    &show_selector(&n["selector"]),
                ));
            }
            if o["template"] != n["template"] {
                causes.push(Cause::immutable("spec.template", &show(&n["template"])));
            }
            if o["completions"] != n["completions"] {
                causes.push(Cause::immutable(
                    "spec.completions",
                    &show(&n["completions"]),
                ));
            }
        }
        ("", "services") => {
            let was = o["clusterIP"].as_str().unwrap_or_default();
            let now = n["clusterIP"].as_str().unwrap_or_default();
            if !was.is_empty() && was != now {
                causes.push(Cause::immutable("spec.clusterIP", &show(&n["clusterIP"])));
                causes.push(Cause::invalid(
                    "spec.clusterIPs[0]",
                    &format!("[]string{{{:?}}}", now),
                    "may not change once set",
                ));
            }
        }
        ("", "persistentvolumeclaims") => {
            let strip = |spec: &Value| -> Value {
                let mut s = spec.clone();
                if let Some(m) = s.as_object_mut() {
                    m.remove("resources");
                    m.remove("volumeAttributesClassName");
                }
                s
            };
            if strip(o) != strip(n) {
                causes.push(Cause::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        ("", "configmaps" | "secrets")
            if old["immutable"] == Value::Bool(true)
                && (old["data"] != new["data"] || old["binaryData"] != new["binaryData"]) =>
        {
            causes.push(Cause::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt, name, causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceTable;
    use serde_json::json;

    fn deployment(selector: &str, label: &str) -> Value {
        json!({
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": selector}},
                "template": {"metadata": {"labels": {"app": label}}, "spec": {"containers": [{"name": "c"}]}}
            }
        })
    }

    #[test]
    fn selector_must_match_template_labels() {
        let t = ResourceTable::new(&[]);
        let rt = t.builtin("apps", "deployments");
        assert!(validate(&rt, &deployment("web", "web")).is_ok());
        let err = validate(&rt, &deployment("web", "api")).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message
                .contains("`selector` does not match template `labels`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn deployment_selector_is_immutable() {
        let t = ResourceTable::new(&[]);
        let rt = t.builtin("apps", "deployments");
        let err =
            validate_update(&rt, &deployment("web", "web"), &deployment("api", "api")).unwrap_err();
        assert_eq!(err.details.unwrap()["causes"][0]["field"], "spec.selector");
    }

    #[test]
    fn undecodable_shapes_are_refused() {
        let t = ResourceTable::new(&[]);
        let rt = t.builtin("apps", "deployments");
        let mut d = deployment("web", "web");
        assert!(check_shape(&rt, &d).is_ok());
        d["spec"]["template"]["spec"]["containers"] = json!("app");
        let err = check_shape(&rt, &d).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message
                .contains("Deployment.spec.template.spec.containers"),
            "{}",
            err.message
        );
        let mut d = deployment("web", "web");
        d["metadata"]["labels"] = json!({"a": 1});
        assert!(
            check_shape(&rt, &d)
                .unwrap_err()
                .message
                .contains("cannot unmarshal number")
        );
        assert_eq!(check_shape(&rt, &json!("x")).unwrap_err().code, 400);
    }

    #[test]
    fn names_are_checked() {
        let t = ResourceTable::new(&[]);
        let err = validate(
            &t.builtin("", "configmaps"),
            &json!({"metadata": {"name": "Bad_Name"}}),
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("metadata.name: Invalid value: \"Bad_Name\""),
            "{}",
            err.message
        );
    }
}

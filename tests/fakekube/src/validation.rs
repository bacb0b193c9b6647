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

//! `render/k8s-schema`: every rendered object of a built-in kind is an object the Kubernetes
//! API accepts as written.
//!
//! Each object is deserialised into its `k8s-openapi` type and serialised back. A field of the
//! input that does not come back is one the API does not define at that place (a misspelling
//! or a field one level too high or too low): Kubernetes drops it, and helm only warns, so the
//! setting silently has no effect. A value of the wrong type (a string where an integer
//! belongs) fails deserialisation and is reported with serde's message. A built-in kind under
//! an API version the cluster does not serve (`extensions/v1beta1` Ingress) is reported too.
//!
//! The types are those of one Kubernetes minor version, chosen when stackctl is compiled
//! ([`KUBERNETES`], the `k8s-openapi` feature in `Cargo.toml`), whatever `kube-version` says.

use std::cell::RefCell;
use std::collections::HashMap;

use k8s_openapi::Resource;
use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy, rbac, scheduling};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::findings::{Diagnostic, Severity};
use crate::helm::RenderedObject;
use crate::rules::sources::{Sources, describe};
use crate::rules::{Scope, TargetCx, TargetRule, finding, rule};
use crate::values::{Merged, escape_key};

pub const RULE: crate::rules::Rule = rule(
    "render/k8s-schema",
    Severity::Error,
    Scope::Target,
    "every object of a built-in kind is one the Kubernetes API takes as written: known fields, right types, served apiVersion",
);

/// `render/k8s-schema` on a target's rendered objects.
pub struct K8sSchema;

impl TargetRule for K8sSchema {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered {
            out.extend(k8s_schema(&rendered.objects, Some(cx.merged), cx.sources));
        }
    }
}

/// The Kubernetes minor version whose API types stackctl checks against: the `k8s-openapi`
/// feature enabled in `Cargo.toml`.
pub const KUBERNETES: &str = "1.33";

/// One step of a path inside an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// `spec.template.spec.containers[0].image`; keys that are not plain names are quoted
/// (`metadata.labels["app.kubernetes.io/name"]`).
pub fn display(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(k) if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Key(k) => out.push_str(&format!("[{k:?}]")),
        }
    }
    out
}

/// What is wrong with one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A field the API type at `path`'s parent does not define.
    Unknown {
        path: Vec<Segment>,
        /// The type that lacks it, and the fields it has (when the parent is a typed object).
        parent: Option<(&'static str, &'static [&'static str])>,
        /// Where the field probably belongs: a close name, or a neighbouring object that has it.
        suggestion: Option<String>,
    },
    /// The object does not deserialise: serde's message, at the deepest path it reached.
    Invalid { path: Vec<Segment>, message: String },
    /// A container resource (`resources.requests.memroy`) that is neither a standard one nor
    /// domain-prefixed: the API server refuses the object.
    ResourceName {
        path: Vec<Segment>,
        suggestion: Option<&'static str>,
    },
    /// A built-in kind under an API version this Kubernetes does not serve.
    ApiVersion { served: Vec<&'static str> },
    /// A built-in kind under an API version Kubernetes removed in `removed_in`, and the one
    /// that replaced it (`None` when the API has none, like PodSecurityPolicy).
    Removed {
        removed_in: &'static str,
        replacement: Option<&'static str>,
    },
}

type Check = fn(&Value) -> Vec<Problem>;

/// A built-in kind and how to check it.
struct Kind {
    api_version: &'static str,
    kind: &'static str,
    check: Check,
}

const fn kind<T>() -> Kind
where
    T: Resource + Serialize + for<'de> Deserialize<'de>,
{
    Kind {
        api_version: T::API_VERSION,
        kind: T::KIND,
        check: round_trip::<T>,
    }
}

/// The generally available kinds charts render. Alpha and beta APIs are left out: clusters
/// serve them only when enabled.
static KINDS: &[Kind] = &[
    kind::<apps::v1::Deployment>(),
    kind::<apps::v1::StatefulSet>(),
    kind::<apps::v1::DaemonSet>(),
    kind::<apps::v1::ReplicaSet>(),
    kind::<batch::v1::Job>(),
    kind::<batch::v1::CronJob>(),
    kind::<core::v1::Pod>(),
    kind::<core::v1::PodTemplate>(),
    kind::<core::v1::ReplicationController>(),
    kind::<core::v1::Service>(),
    kind::<core::v1::Endpoints>(),
    kind::<core::v1::ConfigMap>(),
    kind::<core::v1::Secret>(),
    kind::<core::v1::ServiceAccount>(),
    kind::<core::v1::PersistentVolumeClaim>(),
    kind::<core::v1::PersistentVolume>(),
    kind::<core::v1::Namespace>(),
    kind::<core::v1::LimitRange>(),
    kind::<core::v1::ResourceQuota>(),
    kind::<k8s_openapi::api::discovery::v1::EndpointSlice>(),
    kind::<networking::v1::Ingress>(),
    kind::<networking::v1::IngressClass>(),
    kind::<networking::v1::NetworkPolicy>(),
    kind::<autoscaling::v2::HorizontalPodAutoscaler>(),
    kind::<autoscaling::v1::HorizontalPodAutoscaler>(),
    kind::<policy::v1::PodDisruptionBudget>(),
    kind::<rbac::v1::Role>(),
    kind::<rbac::v1::RoleBinding>(),
    kind::<rbac::v1::ClusterRole>(),
    kind::<rbac::v1::ClusterRoleBinding>(),
    kind::<scheduling::v1::PriorityClass>(),
    kind::<k8s_openapi::api::storage::v1::StorageClass>(),
    kind::<k8s_openapi::api::storage::v1::CSIDriver>(),
    kind::<k8s_openapi::api::node::v1::RuntimeClass>(),
    kind::<k8s_openapi::api::coordination::v1::Lease>(),
    kind::<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration>(),
    kind::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>(),
    kind::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy>(),
    kind::<k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>(),
    kind::<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    >(),
    kind::<k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService>(),
];

/// Beta versions of listed kinds that Kubernetes 1.33 still serves when a cluster enables
/// them: not checked, and not reported as removed.
const OPT_IN: &[(&str, &str)] = &[
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingAdmissionPolicy",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingAdmissionPolicyBinding",
    ),
];

/// Group/versions of built-in kinds that Kubernetes removed: the version that stopped serving
/// them, and the group/version to use instead (`None` when the API has no successor).
const REMOVED: &[(&str, &str, &str, Option<&str>)] = &[
    ("extensions/v1beta1", "Deployment", "1.16", Some("apps/v1")),
    ("extensions/v1beta1", "DaemonSet", "1.16", Some("apps/v1")),
    ("extensions/v1beta1", "ReplicaSet", "1.16", Some("apps/v1")),
    (
        "extensions/v1beta1",
        "NetworkPolicy",
        "1.16",
        Some("networking.k8s.io/v1"),
    ),
    ("extensions/v1beta1", "PodSecurityPolicy", "1.16", None),
    (
        "extensions/v1beta1",
        "Ingress",
        "1.22",
        Some("networking.k8s.io/v1"),
    ),
    ("apps/v1beta1", "Deployment", "1.16", Some("apps/v1")),
    ("apps/v1beta1", "StatefulSet", "1.16", Some("apps/v1")),
    (
        "apps/v1beta1",
        "ControllerRevision",
        "1.16",
        Some("apps/v1"),
    ),
    ("apps/v1beta2", "Deployment", "1.16", Some("apps/v1")),
    ("apps/v1beta2", "StatefulSet", "1.16", Some("apps/v1")),
    ("apps/v1beta2", "DaemonSet", "1.16", Some("apps/v1")),
    ("apps/v1beta2", "ReplicaSet", "1.16", Some("apps/v1")),
    (
        "apps/v1beta2",
        "ControllerRevision",
        "1.16",
        Some("apps/v1"),
    ),
    (
        "networking.k8s.io/v1beta1",
        "Ingress",
        "1.22",
        Some("networking.k8s.io/v1"),
    ),
    (
        "networking.k8s.io/v1beta1",
        "IngressClass",
        "1.22",
        Some("networking.k8s.io/v1"),
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        "Role",
        "1.22",
        Some("rbac.authorization.k8s.io/v1"),
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        "RoleBinding",
        "1.22",
        Some("rbac.authorization.k8s.io/v1"),
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        "ClusterRole",
        "1.22",
        Some("rbac.authorization.k8s.io/v1"),
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        "ClusterRoleBinding",
        "1.22",
        Some("rbac.authorization.k8s.io/v1"),
    ),
    (
        "storage.k8s.io/v1beta1",
        "CSIDriver",
        "1.22",
        Some("storage.k8s.io/v1"),
    ),
    (
        "storage.k8s.io/v1beta1",
        "CSINode",
        "1.22",
        Some("storage.k8s.io/v1"),
    ),
    (
        "storage.k8s.io/v1beta1",
        "StorageClass",
        "1.22",
        Some("storage.k8s.io/v1"),
    ),
    (
        "storage.k8s.io/v1beta1",
        "VolumeAttachment",
        "1.22",
        Some("storage.k8s.io/v1"),
    ),
    (
        "storage.k8s.io/v1beta1",
        "CSIStorageCapacity",
        "1.27",
        Some("storage.k8s.io/v1"),
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration",
        "1.22",
        Some("admissionregistration.k8s.io/v1"),
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
        "1.22",
        Some("admissionregistration.k8s.io/v1"),
    ),
    (
        "apiextensions.k8s.io/v1beta1",
        "CustomResourceDefinition",
        "1.22",
        Some("apiextensions.k8s.io/v1"),
    ),
    (
        "apiregistration.k8s.io/v1beta1",
        "APIService",
        "1.22",
        Some("apiregistration.k8s.io/v1"),
    ),
    (
        "scheduling.k8s.io/v1beta1",
        "PriorityClass",
        "1.22",
        Some("scheduling.k8s.io/v1"),
    ),
    (
        "coordination.k8s.io/v1beta1",
        "Lease",
        "1.22",
        Some("coordination.k8s.io/v1"),
    ),
    ("batch/v1beta1", "CronJob", "1.25", Some("batch/v1")),
    (
        "discovery.k8s.io/v1beta1",
        "EndpointSlice",
        "1.25",
        Some("discovery.k8s.io/v1"),
    ),
    (
        "node.k8s.io/v1beta1",
        "RuntimeClass",
        "1.25",
        Some("node.k8s.io/v1"),
    ),
    (
        "policy/v1beta1",
        "PodDisruptionBudget",
        "1.25",
        Some("policy/v1"),
    ),
    ("policy/v1beta1", "PodSecurityPolicy", "1.25", None),
    (
        "autoscaling/v2beta1",
        "HorizontalPodAutoscaler",
        "1.25",
        Some("autoscaling/v2"),
    ),
    (
        "autoscaling/v2beta2",
        "HorizontalPodAutoscaler",
        "1.26",
        Some("autoscaling/v2"),
    ),
];

/// The resource names a container may request without a domain prefix (besides
/// `hugepages-<size>`).
const STANDARD_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage", "storage"];

/// Whether the API server takes `name` as a container resource: a standard name,
/// `hugepages-<size>`, or a domain-prefixed extended resource (`nvidia.com/gpu`).
fn resource_name_valid(name: &str) -> bool {
    STANDARD_RESOURCES.contains(&name)
        || name
            .strip_prefix("hugepages-")
            .is_some_and(|size| super::parse_quantity(size).is_some())
        || name.contains('/')
}

/// Report the resource names of every container (`containers`, `initContainers`,
/// `ephemeralContainers`, wherever the pod spec is) that the API server would refuse.
fn resource_names(value: &Value, path: &mut Vec<Segment>, out: &mut Vec<Problem>) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, value) in map {
        path.push(Segment::Key(key.clone()));
        match value {
            Value::Array(items)
                if matches!(
                    key.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                ) =>
            {
                for (i, container) in items.iter().enumerate() {
                    for list in ["requests", "limits"] {
                        let Some(Value::Object(names)) =
                            container.get("resources").and_then(|r| r.get(list))
                        else {
                            continue;
                        };
                        for name in names.keys().filter(|n| !resource_name_valid(n)) {
                            let suggestion = STANDARD_RESOURCES
                                .iter()
                                // A swap is one edit (`memroy`); `gpu` is not `cpu`.
                                .map(|s| (strsim::normalized_damerau_levenshtein(s, name), *s))
                                .filter(|(score, _)| *score >= 0.7)
                                .max_by(|a, b| a.0.total_cmp(&b.0))
                                .map(|(_, s)| s);
                            let mut at = path.clone();
                            at.extend([
                                Segment::Index(i),
                                Segment::Key("resources".into()),
                                Segment::Key(list.into()),
                                Segment::Key(name.clone()),
                            ]);
                            out.push(Problem::ResourceName {
                                path: at,
                                suggestion,
                            });
                        }
                    }
                }
            }
            Value::Object(_) => resource_names(value, path, out),
            _ => {}
        }
        path.pop();
    }
}

/// Whether an API group is one of Kubernetes' own (so its kinds are the built-in ones, not a
/// custom resource that happens to share a name, like Knative's `Service`).
fn built_in_group(group: &str) -> bool {
    group.is_empty()
        || group.ends_with(".k8s.io")
        || matches!(
            group,
            "apps" | "batch" | "extensions" | "policy" | "autoscaling"
        )
}

/// Check one object; `None` when it is not of a built-in kind (a custom resource).
pub fn check_object(value: &Value) -> Option<Vec<Problem>> {
    let api_version = value.get("apiVersion").and_then(Value::as_str)?;
    let kind = value.get("kind").and_then(Value::as_str)?;
    if let Some(known) = KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
    {
        let mut problems = (known.check)(value);
        if !problems
            .iter()
            .any(|p| matches!(p, Problem::Invalid { .. }))
        {
            resource_names(value, &mut Vec::new(), &mut problems);
        }
        return Some(problems);
    }
    if let Some(&(_, _, removed_in, replacement)) = REMOVED
        .iter()
        .find(|(v, k, _, _)| *v == api_version && *k == kind)
    {
        return Some(vec![Problem::Removed {
            removed_in,
            replacement,
        }]);
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let served: Vec<&'static str> = KINDS
        .iter()
        .filter(|k| k.kind == kind)
        .map(|k| k.api_version)
        .collect();
    if served.is_empty() || !built_in_group(group) || OPT_IN.contains(&(api_version, kind)) {
        return None;
    }
    Some(vec![Problem::ApiVersion { served }])
}

/// `render/k8s-schema`: objects of built-in kinds that the Kubernetes API would not take as
/// written. Each finding points at the values line that produced the offending field when
/// the chart passes a values map through unchanged (`toYaml`), else at the template line.
pub fn k8s_schema(
    objects: &[RenderedObject],
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for object in objects {
        for problem in check_object(&object.value).unwrap_or_default() {
            let (message, hint, path) = match &problem {
                Problem::Unknown {
                    path,
                    parent,
                    suggestion,
                } => {
                    let key = match path.last() {
                        Some(Segment::Key(key)) => key.as_str(),
                        _ => "",
                    };
                    let message = match parent {
                        Some((name, _)) => format!(
                            "{}: {} is not a field of {name}",
                            describe(object),
                            display(path)
                        ),
                        None => format!("{}: {} is not a field", describe(object), display(path)),
                    };
                    let effect = "Kubernetes drops fields its API does not define (helm only warns), so the setting has no effect.";
                    let hint = match (suggestion, parent) {
                        (Some(s), _) => format!("{s} {effect}"),
                        (None, Some((name, fields))) => {
                            format!("{name} defines {}. {effect}", fields.join(", "))
                        }
                        (None, None) => {
                            format!("Remove {key} or move it where it belongs. {effect}")
                        }
                    };
                    (message, hint, path.as_slice())
                }
                Problem::Invalid { path, message } => {
                    let at = if path.is_empty() {
                        String::new()
                    } else {
                        format!(" {}:", display(path))
                    };
                    let hint = if message.starts_with("the value is not valid base64") {
                        "encode the value with base64 (or give it as plain text under stringData): the API server refuses this object"
                    } else {
                        "give the field the type the Kubernetes API defines: the API server refuses this object"
                    };
                    (
                        format!("{}:{at} {message}", describe(object)),
                        hint.to_string(),
                        path.as_slice(),
                    )
                }
                Problem::ResourceName { path, suggestion } => {
                    let name = match path.last() {
                        Some(Segment::Key(name)) => name.as_str(),
                        _ => "",
                    };
                    let known = "a resource is cpu, memory, ephemeral-storage, storage, hugepages-<size> or a domain-prefixed extended resource (nvidia.com/gpu)";
                    (
                        format!(
                            "{}: {} is not a resource name",
                            describe(object),
                            display(path)
                        ),
                        match suggestion {
                            Some(s) => format!(
                                "did you mean {s}? The API server refuses the object: {known}"
                            ),
                            None => format!("the API server refuses {name}: {known}"),
                        },
                        path.as_slice(),
                    )
                }
                Problem::ApiVersion { served } => (
                    format!(
                        "{} uses apiVersion {}, which Kubernetes {KUBERNETES} does not serve",
                        describe(object),
                        object.api_version()
                    ),
                    format!(
                        "use apiVersion {} (the API was removed; check the fields too when changing it)",
                        served.join(" or ")
                    ),
                    &[][..],
                ),
                Problem::Removed {
                    removed_in,
                    replacement,
                } => (
                    format!(
                        "{} uses apiVersion {}, which was removed in Kubernetes {removed_in}",
                        describe(object),
                        object.api_version()
                    ),
                    match replacement {
                        Some(v) => format!(
                            "use apiVersion {v} (the API was removed; check the fields too when changing it)"
                        ),
                        None if object.kind() == "PodSecurityPolicy" => "PodSecurityPolicy has no replacement API: enforce pod security with Pod Security Admission (pod-security.kubernetes.io labels on the namespace) or a policy engine, and remove this object".to_string(),
                        None => format!("{} has no replacement API: remove this object", object.kind()),
                    },
                    &[][..],
                ),
            };
            let d = finding("render/k8s-schema", message).with_hint(hint);
            out.push(locate(d, object, path, merged, sources));
        }
    }
    out
}

/// Point a finding at the values line that set the field, else at the template line that
/// writes it, else at the template.
fn locate(
    d: Diagnostic,
    object: &RenderedObject,
    path: &[Segment],
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Diagnostic {
    if let Some(merged) = merged {
        let scope = sources
            .dependency_key(object)
            .map(|key| format!("/{}", escape_key(key)))
            .unwrap_or_default();
        if let Some(pointer) = values_pointer(&merged.value, &scope, &object.value, path)
            && let Some(o) = merged.provenance.origin(&pointer)
        {
            return d.at(o.file, o.line, o.column).with_path(pointer);
        }
    }
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect();
    // A finding about the object as a whole (its apiVersion) points at its first line.
    let keys = if keys.is_empty() {
        vec!["apiVersion"]
    } else {
        keys
    };
    sources.locate_field(d, object, &keys)
}

fn child<'v>(value: &'v Value, segment: &Segment) -> Option<&'v Value> {
    match segment {
        Segment::Key(key) => value.get(key),
        Segment::Index(index) => value.get(index),
    }
}

/// The pointer of the values node that the chart rendered verbatim as the parent of `path`'s
/// last field: a map whose entries all appear in the rendered parent, with the same value for
/// that field (or a list equal to the rendered one). Among several, the one whose key names
/// match the rendered path's most closely wins.
fn values_pointer(values: &Value, scope: &str, object: &Value, path: &[Segment]) -> Option<String> {
    let (leaf, parent_path) = path.split_last()?;
    let parent = parent_path.iter().try_fold(object, child)?;
    let field = child(parent, leaf)?;
    let matches = |node: &Value| match (node, parent, leaf) {
        (Value::Object(node), Value::Object(parent), Segment::Key(key)) => {
            node.get(key) == Some(field) && node.iter().all(|(k, v)| parent.get(k) == Some(v))
        }
        (Value::Array(node), Value::Array(parent), Segment::Index(_)) => node == parent,
        _ => false,
    };
    let mut found: Vec<String> = Vec::new();
    let mut stack = vec![(values.pointer(scope)?, scope.to_string())];
    while let Some((node, pointer)) = stack.pop() {
        if matches(node) {
            found.push(pointer.clone());
        }
        match node {
            Value::Object(map) => stack.extend(
                map.iter()
                    .map(|(k, v)| (v, format!("{pointer}/{}", escape_key(k)))),
            ),
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v, format!("{pointer}/{i}"))),
            ),
            _ => {}
        }
    }
    let names: Vec<&str> = parent_path
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect();
    let score = |pointer: &String| {
        pointer
            .rsplit('/')
            .zip(names.iter().rev())
            .take_while(|(a, b)| a.replace("~1", "/").replace("~0", "~") == **b)
            .count()
    };
    // A node of one entry is a subset of many rendered objects by chance (`enabled: true`):
    // it counts only when its key names follow the rendered path's.
    let size = |pointer: &String| match values.pointer(pointer) {
        Some(Value::Object(map)) => map.len(),
        Some(Value::Array(items)) => items.len(),
        _ => 0,
    };
    let best = found
        .iter()
        .filter(|pointer| size(pointer) >= 2 || score(pointer) > 0)
        .max_by(|a, b| score(a).cmp(&score(b)).then_with(|| b.cmp(a)))?;
    let leaf = match leaf {
        Segment::Key(key) => escape_key(key).into_owned(),
        Segment::Index(index) => index.to_string(),
    };
    Some(format!("{best}/{leaf}"))
}

/// Deserialise into `T`, serialise back, and report what did not survive.
fn round_trip<T>(value: &Value) -> Vec<Problem>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let state = State::default();
    let typed = match T::deserialize(Tracked {
        value,
        at: &Chain::Root,
        state: &state,
    }) {
        Ok(typed) => typed,
        Err(e) => {
            let path = state.error_at.into_inner().unwrap_or_default();
            return vec![Problem::Invalid {
                path,
                message: e.to_string(),
            }];
        }
    };
    let output = match serde_json::to_value(&typed) {
        Ok(output) => output,
        Err(e) => {
            return vec![Problem::Invalid {
                path: Vec::new(),
                message: e.to_string(),
            }];
        }
    };
    let structs = state.structs.into_inner();
    let mut problems = Vec::new();
    lost(value, &output, &mut Vec::new(), &structs, &mut problems);
    problems
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

type Structs = HashMap<Vec<Segment>, (&'static str, &'static [&'static str])>;

/// Paths of `input` that `output` lacks. Nulls, and empty values of fields the type defines,
/// are representational: serialisation may drop them without meaning anything.
fn lost(
    input: &Value,
    output: &Value,
    path: &mut Vec<Segment>,
    structs: &Structs,
    out: &mut Vec<Problem>,
) {
    match (input, output) {
        (Value::Object(input), Value::Object(output)) => {
            let parent = structs.get(path.as_slice()).copied();
            for (key, value) in input {
                if value.is_null() {
                    continue;
                }
                path.push(Segment::Key(key.clone()));
                match output.get(key) {
                    Some(kept) => lost(value, kept, path, structs, out),
                    None => {
                        let defined = parent.is_some_and(|(_, fields)| fields.contains(&&**key));
                        // Without a type for the parent, an empty value may be one serialisation drops.
                        let representational = parent.is_none() && is_empty(value);
                        if !defined && !representational {
                            out.push(Problem::Unknown {
                                suggestion: suggest(key, path, structs),
                                path: path.clone(),
                                parent,
                            });
                        }
                    }
                }
                path.pop();
            }
        }
        (Value::Array(input), Value::Array(output)) if input.len() == output.len() => {
            for (i, (value, kept)) in input.iter().zip(output).enumerate() {
                path.push(Segment::Index(i));
                lost(value, kept, path, structs, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Where an unknown field `key` at `path` probably belongs: the closest field name of its
/// parent type, else a neighbouring typed object (a sibling of the field, or the parent's
/// parent) that defines `key`.
fn suggest(key: &str, path: &[Segment], structs: &Structs) -> Option<String> {
    let parent_path = &path[..path.len() - 1];
    if let Some((_, fields)) = structs.get(parent_path) {
        let closest = fields
            .iter()
            .map(|f| (strsim::normalized_levenshtein(f, key), *f))
            .filter(|(score, _)| *score >= 0.6)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, field)) = closest {
            return Some(format!("did you mean {field}?"));
        }
    }
    let mut siblings: Vec<(&Vec<Segment>, &'static str)> = structs
        .iter()
        .filter(|(p, (_, fields))| {
            p.len() == path.len() && p.starts_with(parent_path) && fields.contains(&key)
        })
        .map(|(p, (name, _))| (p, *name))
        .collect();
    siblings.sort();
    if let Some((sibling, name)) = siblings.first() {
        return Some(format!(
            "{key} belongs to {name}: move it under {}.",
            display(sibling)
        ));
    }
    let grandparent = parent_path.get(..parent_path.len().checked_sub(1)?)?;
    let (name, fields) = structs.get(grandparent)?;
    fields.contains(&key).then(|| {
        let at = display(grandparent);
        if at.is_empty() {
            format!("{key} belongs to {name}: move it one level up, to the top of the object.")
        } else {
            format!("{key} belongs to {name}: move it one level up, under {at}.")
        }
    })
}

/// What the tracking deserialiser learns: the fields of every typed object by path, and the
/// path where deserialisation failed.
#[derive(Default)]
struct State {
    structs: RefCell<Structs>,
    error_at: RefCell<Option<Vec<Segment>>>,
}

impl State {
    /// Remember the first (deepest) place an error passed through.
    fn failed_at(&self, at: &Chain<'_>) {
        let mut error_at = self.error_at.borrow_mut();
        if error_at.is_none() {
            *error_at = Some(at.to_vec());
        }
    }
}

/// Why `text` is not base64, with offsets counted in `text` as written (line breaks
/// included, since the decoder saw the text without them).
fn base64_error(text: &str, error: &base64::DecodeError) -> String {
    // The offset in `text` of the `offset`th character that is not a line break.
    let at = |offset: usize| {
        text.bytes()
            .enumerate()
            .filter(|(_, b)| !matches!(b, b'\r' | b'\n'))
            .nth(offset)
            .map_or(offset, |(i, _)| i)
    };
    match error {
        base64::DecodeError::InvalidByte(offset, byte) => format!(
            "the value is not valid base64: {:?} at offset {} is not a base64 symbol there",
            char::from(*byte),
            at(*offset)
        ),
        base64::DecodeError::InvalidLastSymbol(offset, byte) => format!(
            "the value is not valid base64: its last symbol {:?} (offset {}) encodes bits past the end of the data",
            char::from(*byte),
            at(*offset)
        ),
        base64::DecodeError::InvalidLength(length) => format!(
            "the value is not valid base64: {length} symbols (line breaks left out) is not a length base64 encodes to"
        ),
        base64::DecodeError::InvalidPadding => {
            "the value is not valid base64: its `=` padding is wrong".to_string()
        }
    }
}

/// The path to the value being deserialised, as a chain of stack frames.
enum Chain<'a> {
    Root,
    Key(&'a Chain<'a>, &'a str),
    Index(&'a Chain<'a>, usize),
}

impl Chain<'_> {
    /// Whether the value here is base64 data (a `ByteString`): a Secret's `data` or a
    /// ConfigMap's `binaryData` entry, or a `caBundle` (webhooks, APIService, CRD conversion).
    fn holds_base64(&self) -> bool {
        matches!(
            self,
            Chain::Key(_, "caBundle")
                | Chain::Key(Chain::Key(Chain::Root, "data" | "binaryData"), _)
        )
    }

    fn to_vec(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut at = self;
        loop {
            match at {
                Chain::Root => break,
                Chain::Key(parent, key) => {
                    out.push(Segment::Key((*key).to_string()));
                    at = parent;
                }
                Chain::Index(parent, index) => {
                    out.push(Segment::Index(*index));
                    at = parent;
                }
            }
        }
        out.reverse();
        out
    }
}

/// A deserialiser over a JSON value that records the fields of each struct it is asked for
/// and where an error happened.
struct Tracked<'a, 'de> {
    value: &'de Value,
    at: &'a Chain<'a>,
    state: &'a State,
}

impl<'de> de::Deserializer<'de> for Tracked<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Object(map) => visitor.visit_map(Entries {
                iter: map.iter(),
                pending: None,
                at: self.at,
                state: self.state,
            }),
            Value::Array(items) => visitor.visit_seq(Items {
                iter: items.iter().enumerate(),
                at: self.at,
                state: self.state,
            }),
            scalar => de::Deserializer::deserialize_any(scalar, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// Only `ByteString` (base64 data) asks for a borrowed string in the `k8s-openapi`
    /// types. At the places that hold base64, line breaks are removed first, as the API
    /// server's decoder skips them (`base64` wraps its output at 76 characters, and a `|`
    /// block ends with one), and a value that still does not decode says so.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.value {
            Value::String(text) if self.at.holds_base64() => {
                let joined: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
                if let Err(e) = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    joined.as_bytes(),
                ) {
                    return Err(de::Error::custom(base64_error(text, &e)));
                }
                visitor.visit_str(&joined)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.state
            .structs
            .borrow_mut()
            .insert(self.at.to_vec(), (name, fields));
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_enum(self.value, name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct Entries<'a, 'de> {
    iter: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    at: &'a Chain<'a>,
    state: &'a State,
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.pending = Some((key.as_str(), value));
        let key = de::value::BorrowedStrDeserializer::<serde_json::Error>::new(key.as_str());
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        let at = Chain::Key(self.at, key);
        seed.deserialize(Tracked {
            value,
            at: &at,
            state: self.state,
        })
        .inspect_err(|_| self.state.failed_at(&at))
    }
}

struct Items<'a, 'de> {
    iter: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    at: &'a Chain<'a>,
    state: &'a State,
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        let Some((index, value)) = self.iter.next() else {
            return Ok(None);
        };
        let at = Chain::Index(self.at, index);
        seed.deserialize(Tracked {
            value,
            at: &at,
            state: self.state,
        })
        .map(Some)
        .inspect_err(|_| self.state.failed_at(&at))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::render::fixtures::{SOURCES, objects};
    use crate::values::{merge_chain, parse_layer};

    fn problems(manifest: &str) -> Vec<Problem> {
        objects(manifest)
            .iter()
            .flat_map(|o| check_object(&o.value).unwrap_or_default())
            .collect()
    }

    /// Objects as charts write them, with every representational variant the API accepts:
    /// numbers as quantities, names as ports, nulls, empty values and an empty status.
    const VALID: &str = r#"---
# Source: jetscale/charts/backend-api/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: r-backend-api
  creationTimestamp: null
  labels: {app.kubernetes.io/name: backend-api}
  annotations: {}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: api}, creationTimestamp: null}
    spec:
      imagePullSecrets: []
      securityContext: {runAsNonRoot: true, fsGroup: 1000}
      containers:
        - name: api
          image: ghcr.io/jetscale-ai/backend:4.6.12
          imagePullPolicy: IfNotPresent
          command: [uvicorn]
          args: ["--port", "8000"]
          ports: [{name: http, containerPort: 8000, protocol: TCP}]
          env:
            - {name: A, value: "1"}
            - {name: B, valueFrom: {secretKeyRef: {name: s, key: k, optional: true}}}
          envFrom: [{secretRef: {name: r-db-secret}}, {configMapRef: {name: r-config}}]
          livenessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 10}
          readinessProbe: {tcpSocket: {port: 8000}}
          resources: {requests: {cpu: 1, memory: 512Mi}, limits: {cpu: 1.5, memory: 1Gi}}
          volumeMounts: [{name: tmp, mountPath: /tmp, readOnly: false}]
      volumes:
        - {name: tmp, emptyDir: {}}
        - {name: cfg, configMap: {name: r-config, items: [{key: a, path: a.yaml}]}}
status: {}
---
# Source: jetscale/charts/backend-api/templates/cronjobs.yaml
apiVersion: batch/v1
kind: CronJob
metadata: {name: r-pull-ce}
spec:
  schedule: "30 2 * * *"
  suspend: true
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: job, image: x, command: [python, -m, job]}]
---
# Source: jetscale/templates/psql.yaml
apiVersion: v1
kind: Service
metadata: {name: r-postgres}
spec:
  type: ClusterIP
  selector: {app: postgres}
  ports: [{name: pg, port: 5432, targetPort: 5432}]
---
# Source: jetscale/templates/cm-app.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: r-config}
data: {ENV: prod, PORT: "8000"}
---
# Source: jetscale/templates/test-secrets.yaml
apiVersion: v1
kind: Secret
metadata: {name: r-db-secret}
type: Opaque
data: {password: c2VjcmV0}
stringData: {user: app}
---
# Source: jetscale/templates/ingress.yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: r}
spec:
  ingressClassName: alb
  tls: [{hosts: [a.example.com]}]
  rules:
    - host: a.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: r-frontend, port: {number: 80}}}}
---
# Source: jetscale/templates/ext-secret-db.yaml
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: r-db-secret}
spec: {anythingGoes: {here: true}}
"#;

    #[test]
    fn objects_the_api_takes_pass() {
        let objs = objects(VALID);
        assert_eq!(objs.len(), 7);
        assert_eq!(problems(VALID), vec![]);
        // The custom resource is skipped, not checked.
        assert_eq!(check_object(&objs[6].value), None);
        assert_eq!(check_object(&objs[0].value), Some(vec![]));
    }

    #[test]
    fn misspelled_and_misplaced_fields_are_found_with_a_suggestion() {
        let found = problems(
            r#"---
# Source: x
apiVersion: apps/v1
kind: Deployment
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
        - name: a
          image: x
          imagePullPolicyy: Always
          livenessProbe: {httpGet: {port: 80}, path: /health}
      replicas: 2
"#,
        );
        let summary: Vec<(String, Option<&str>, Option<&str>)> = found
            .iter()
            .map(|p| match p {
                Problem::Unknown {
                    path,
                    parent,
                    suggestion,
                } => (
                    display(path),
                    parent.map(|(name, _)| name),
                    suggestion.as_deref(),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "spec.template.spec.containers[0].imagePullPolicyy".to_string(),
                    Some("Container"),
                    Some("did you mean imagePullPolicy?")
                ),
                (
                    "spec.template.spec.containers[0].livenessProbe.path".to_string(),
                    Some("Probe"),
                    Some(
                        "path belongs to HTTPGetAction: move it under spec.template.spec.containers[0].livenessProbe.httpGet."
                    )
                ),
                (
                    "spec.template.spec.replicas".to_string(),
                    Some("PodSpec"),
                    None
                ),
            ]
        );
    }

    #[test]
    fn a_field_one_level_too_deep_is_sent_up() {
        let found = problems(
            "---\n# Source: x\napiVersion: v1\nkind: Service\nmetadata: {name: s, selector: {app: a}}\nspec: {ports: [{port: 80}]}\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let Problem::Unknown { suggestion, .. } = &found[0] else {
            panic!("{found:?}")
        };
        // `selector` is neither a close name in ObjectMeta nor a field of the top level.
        assert_eq!(suggestion.as_deref(), None);
        let found = problems(
            "---\n# Source: x\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}], metadata: {name: t}}\n",
        );
        let Problem::Unknown { suggestion, .. } = &found[0] else {
            panic!("{found:?}")
        };
        assert_eq!(
            suggestion.as_deref(),
            Some("metadata belongs to Service: move it one level up, to the top of the object.")
        );
    }

    #[test]
    fn wrong_types_are_found_at_their_path_with_serdes_message() {
        let cases = [
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: r}\nspec: {replicas: three, selector: {}, template: {}}\n",
                "spec.replicas",
                "invalid type: string \"three\", expected i32",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, ports: [{containerPort: \"8000\"}]}]}\n",
                "spec.containers[0].ports[0].containerPort",
                "invalid type: string \"8000\", expected i32",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, env: [{name: NUM, value: 3}]}]}\n",
                "spec.containers[0].env[0].value",
                "invalid type: integer `3`, expected a string",
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app.kubernetes.io/version: 1.2}}\n",
                "metadata.labels[\"app.kubernetes.io/version\"]",
                "invalid type: floating point `1.2`, expected a string",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: {name: a, image: x}}\n",
                "spec.containers",
                "invalid type: map, expected a sequence",
            ),
        ];
        for (object, at, message) in cases {
            let found = problems(&format!("---\n# Source: x\n{object}"));
            let summary: Vec<(String, &str)> = found
                .iter()
                .map(|p| match p {
                    Problem::Invalid { path, message } => (display(path), message.as_str()),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(summary, vec![(at.to_string(), message)], "{object}");
        }
    }

    #[test]
    fn wrapped_base64_passes_and_invalid_base64_is_named() {
        // `base64` wraps at 76 characters; a `|` block scalar ends with a line break.
        let long = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\nNTY3ODk=\n";
        let secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"cert": long, "key": "c2VjcmV0\n"},
        });
        assert_eq!(check_object(&secret), Some(vec![]));
        let config_map = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "binaryData": {"blob": long}, "data": {"text": "a\nb\n"},
        });
        assert_eq!(check_object(&config_map), Some(vec![]));
        let webhook = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "w"},
            "webhooks": [{"name": "w.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "clientConfig": {"caBundle": long, "service": {"name": "s", "namespace": "n"}}}],
        });
        assert_eq!(check_object(&webhook), Some(vec![]));
        let api_service = serde_json::json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1.example.com"},
            "spec": {"group": "example.com", "version": "v1", "groupPriorityMinimum": 1,
                "versionPriority": 1, "caBundle": long},
        });
        assert_eq!(check_object(&api_service), Some(vec![]));
        let broken = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "c2Vj\ncmV0-"},
        });
        assert_eq!(
            check_object(&broken),
            Some(vec![Problem::Invalid {
                path: vec![Segment::Key("data".into()), Segment::Key("password".into())],
                message:
                    "the value is not valid base64: '-' at offset 9 is not a base64 symbol there"
                        .into(),
            }])
        );
    }

    #[test]
    fn container_resource_names_the_api_refuses_are_found() {
        let found = problems(
            "---\n# Source: x\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: r}\nspec:\n  selector: {}\n  template:\n    spec:\n      initContainers: [{name: i, resources: {limits: {cpu: 1, hugepages-2Mi: 10Mi, nvidia.com/gpu: 1, ephemeral-storage: 1Gi}}}]\n      containers:\n        - name: a\n          resources: {requests: {cpu: 100m, memroy: 1Gi}, limits: {gpu: 1}}\n",
        );
        assert_eq!(
            found,
            vec![
                Problem::ResourceName {
                    path: vec![
                        Segment::Key("spec".into()),
                        Segment::Key("template".into()),
                        Segment::Key("spec".into()),
                        Segment::Key("containers".into()),
                        Segment::Index(0),
                        Segment::Key("resources".into()),
                        Segment::Key("requests".into()),
                        Segment::Key("memroy".into()),
                    ],
                    suggestion: Some("memory"),
                },
                Problem::ResourceName {
                    path: vec![
                        Segment::Key("spec".into()),
                        Segment::Key("template".into()),
                        Segment::Key("spec".into()),
                        Segment::Key("containers".into()),
                        Segment::Index(0),
                        Segment::Key("resources".into()),
                        Segment::Key("limits".into()),
                        Segment::Key("gpu".into()),
                    ],
                    suggestion: None,
                },
            ]
        );
        let objs = objects(
            "---\n# Source: x\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, resources: {requests: {memroy: 1Gi}}}]}\n",
        );
        let found = k8s_schema(&objs, None, &SOURCES);
        assert_eq!(
            found[0].message,
            "Pod p: spec.containers[0].resources.requests.memroy is not a resource name"
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("did you mean memory? The API server refuses")
        );
    }

    #[test]
    fn removed_api_versions_of_built_in_kinds_are_found_and_crds_are_not() {
        let found = problems(
            "---\n# Source: x\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: r}\n---\n# Source: x\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\n---\n# Source: x\napiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n---\n# Source: x\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\n---\n# Source: x\napiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h1}\nspec: {scaleTargetRef: {kind: Deployment, name: d}, maxReplicas: 3}\n",
        );
        assert_eq!(
            found,
            vec![
                Problem::Removed {
                    removed_in: "1.22",
                    replacement: Some("networking.k8s.io/v1")
                },
                Problem::Removed {
                    removed_in: "1.25",
                    replacement: Some("batch/v1")
                },
                Problem::Removed {
                    removed_in: "1.26",
                    replacement: Some("autoscaling/v2")
                },
            ]
        );
        // Kinds Kubernetes no longer has at all are found too, with no replacement.
        let found = problems(
            "---\n# Source: x\napiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: p}\n---\n# Source: x\napiVersion: apps/v1beta2\nkind: ReplicaSet\nmetadata: {name: r}\n---\n# Source: x\napiVersion: storage.k8s.io/v1beta1\nkind: CSINode\nmetadata: {name: n}\n",
        );
        assert_eq!(
            found,
            vec![
                Problem::Removed {
                    removed_in: "1.25",
                    replacement: None
                },
                Problem::Removed {
                    removed_in: "1.16",
                    replacement: Some("apps/v1")
                },
                Problem::Removed {
                    removed_in: "1.22",
                    replacement: Some("storage.k8s.io/v1")
                },
            ]
        );
        let objs = objects(
            "---\n# Source: jetscale/templates/psp.yaml\napiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: p}\n",
        );
        let found = k8s_schema(&objs, None, &SOURCES);
        assert_eq!(
            found[0].message,
            "PodSecurityPolicy p uses apiVersion policy/v1beta1, which was removed in Kubernetes 1.25"
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("PodSecurityPolicy has no replacement API")
        );
    }

    #[test]
    fn a_field_from_values_is_reported_at_the_values_line() {
        let defaults = parse_layer(
            "charts/jetscale/values.yaml",
            "backend-api:\n  livenessProbe: {}\nbackend-ws:\n  livenessProbe: {}\n",
        )
        .unwrap();
        let env = parse_layer(
            "envs/prod/console.yaml",
            "backend-api:\n  livenessProbe:\n    httpGet: {path: /health, port: http}\n    periodSecond: 10\nbackend-ws:\n  livenessProbe:\n    httpGet: {path: /health, port: http}\n    periodSecond: 10\n",
        )
        .unwrap();
        let merged = merge_chain(&defaults, &[env]);
        let manifest = |chart: &str| {
            format!(
                "---\n# Source: jetscale/charts/{chart}/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: r-{chart}}}\nspec:\n  selector: {{}}\n  template:\n    spec:\n      containers:\n        - name: a\n          livenessProbe: {{httpGet: {{path: /health, port: http}}, periodSecond: 10}}\n"
            )
        };
        let objs = objects(&(manifest("backend-api") + &manifest("backend-ws")));
        let found = k8s_schema(&objs, Some(&merged), &SOURCES);
        let at: Vec<(Option<&str>, Option<usize>, Option<&str>)> = found
            .iter()
            .map(|d| (d.file.as_deref(), d.line, d.path.as_deref()))
            .collect();
        assert_eq!(
            at,
            vec![
                (
                    Some("envs/prod/console.yaml"),
                    Some(4),
                    Some("/backend-api/livenessProbe/periodSecond")
                ),
                (
                    Some("envs/prod/console.yaml"),
                    Some(8),
                    Some("/backend-ws/livenessProbe/periodSecond")
                ),
            ]
        );
        assert_eq!(
            found[0].message,
            "Deployment r-backend-api: spec.template.spec.containers[0].livenessProbe.periodSecond is not a field of Probe"
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("did you mean periodSeconds?")
        );
    }

    #[test]
    fn a_values_map_of_one_entry_that_matches_by_chance_is_not_the_source() {
        let defaults = parse_layer(
            "charts/jetscale/values.yaml",
            "externalSecret:\n  common:\n    enabled: true\nbackend-api:\n  probe:\n    periodSecond: 10\n",
        )
        .unwrap();
        let merged = merge_chain(&defaults, &[]);
        let object = |container: &str| {
            objects(&format!(
                "---\n# Source: jetscale/templates/x.yaml\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n    - {container}\n"
            ))
        };
        let path = |keys: &[&str]| {
            let mut path = vec![
                Segment::Key("spec".into()),
                Segment::Key("containers".into()),
                Segment::Index(0),
            ];
            path.extend(keys.iter().map(|k| Segment::Key(k.to_string())));
            path
        };
        // The template hard-codes `enabled: true`; values hold an unrelated `enabled: true`.
        let objs = object("{name: a, image: x, enabled: true}");
        assert_eq!(
            values_pointer(&merged.value, "", &objs[0].value, &path(&["enabled"])),
            None
        );
        // One entry, but under a key named like the rendered field's parent: from values.
        let objs = object("{name: a, image: x, probe: {periodSecond: 10}}");
        assert_eq!(
            values_pointer(
                &merged.value,
                "",
                &objs[0].value,
                &path(&["probe", "periodSecond"])
            ),
            Some("/backend-api/probe/periodSecond".to_string())
        );
    }

    #[test]
    fn a_field_a_template_writes_is_reported_at_the_template_line() {
        let dir = tempfile::tempdir().unwrap();
        let template = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-pg\n  labels:\n    name: pg\nspec:\n  selector:\n    name: pg\n  ports:\n    - name: pg\n      port: 5432\n      tragetPort: 5432\n";
        std::fs::create_dir_all(dir.path().join("charts/jetscale/templates")).unwrap();
        std::fs::write(
            dir.path().join("charts/jetscale/templates/psql.yaml"),
            template,
        )
        .unwrap();
        let objs = objects(
            "---\n# Source: jetscale/templates/psql.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: r-pg\n  labels:\n    name: pg\nspec:\n  selector:\n    name: pg\n  ports:\n    - name: pg\n      port: 5432\n      tragetPort: 5432\n",
        );
        let sources = Sources {
            root: Some(dir.path()),
            ..SOURCES
        };
        let found = k8s_schema(&objs, None, &sources);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].file.as_deref(), found[0].line, found[0].column),
            (
                Some("charts/jetscale/templates/psql.yaml"),
                Some(13),
                Some(7)
            )
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("did you mean targetPort?")
        );
        // The key chain picks the right one of several `name:` lines.
        assert_eq!(
            crate::rules::sources::template_line(template, &["spec", "ports", "name"]),
            Some((11, 7))
        );
        assert_eq!(
            crate::rules::sources::template_line(template, &["metadata", "labels", "name"]),
            Some((6, 5))
        );
        assert_eq!(
            crate::rules::sources::template_line(template, &["spec", "missing"]),
            None
        );
    }
}

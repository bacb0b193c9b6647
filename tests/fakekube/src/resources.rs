//! The one static table of resource types the stand-in serves. Discovery, the OpenAPI index,
//! the router and the store all read this table, so a type is either served everywhere or
//! nowhere: leaving a CRD group out of a scenario makes its paths answer `404 page not found`,
//! exactly as a cluster without that CRD does.

use std::sync::Arc;

use serde::Deserialize;

/// One resource type (one `group/version/plural`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    /// The URL segment, e.g. `deployments`.
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Subresources served under `{plural}/{name}/{sub}`: `status`, `scale`, `log`, `portforward`.
    pub subresources: Vec<String>,
    /// Whether the server keeps `metadata.generation` (bumped on every spec change).
    pub tracks_generation: bool,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name the apiserver uses in messages: `deployments.apps`, or `pods` for the core group.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The kind as qualified in `Invalid` messages: `Deployment.apps`, or `Service`.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s == name)
    }

    /// Writes to the main resource ignore `.status` when the type has a status subresource.
    pub fn has_status(&self) -> bool {
        self.has_subresource("status")
    }

    /// The path prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// A custom resource a scenario declares (as if its CRD were installed).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CrdSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Default: the lowercased kind plus `s`.
    #[serde(default)]
    pub plural: Option<String>,
    #[serde(default = "default_true")]
    pub namespaced: bool,
    #[serde(default)]
    pub short_names: Vec<String>,
    /// Whether the CRD declares the status subresource.
    #[serde(default)]
    pub status_subresource: bool,
}

fn default_true() -> bool {
    true
}

/// (group, version, plural, kind, namespaced, short names, categories, subresources, generation)
type BuiltIn = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STATUS: &[&str] = &["status"];
const STATUS_SCALE: &[&str] = &["status", "scale"];

/// The built-in types: what the chart renders, what a deploy tool watches, and what an empty
/// kind cluster shows (nodes, the kube-system namespace).
const BUILT_IN: &[BuiltIn] = &[
    (
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        NONE,
        &["status", "finalize"],
        false,
    ),
    (
        "",
        "v1",
        "nodes",
        "Node",
        false,
        &["no"],
        NONE,
        STATUS,
        false,
    ),
    (
        "",
        "v1",
        "pods",
        "Pod",
        true,
        &["po"],
        ALL,
        &["status", "log", "portforward"],
        false,
    ),
    (
        "",
        "v1",
        "services",
        "Service",
        true,
        &["svc"],
        ALL,
        STATUS,
        false,
    ),
    (
        "",
        "v1",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        NONE,
        NONE,
        false,
    ),
    (
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        true,
        &["cm"],
        NONE,
        NONE,
        false,
    ),
    ("", "v1", "secrets", "Secret", true, NONE, NONE, NONE, false),
    (
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        NONE,
        NONE,
        false,
    ),
    (
        "",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        NONE,
        NONE,
        false,
    ),
    (
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        NONE,
        STATUS,
        false,
    ),
    (
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        ALL,
        STATUS_SCALE,
        true,
    ),
    (
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        ALL,
        STATUS_SCALE,
        true,
    ),
    (
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        ALL,
        STATUS_SCALE,
        true,
    ),
    ("batch", "v1", "jobs", "Job", true, NONE, ALL, STATUS, true),
    (
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        ALL,
        STATUS,
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        NONE,
        STATUS,
        true,
    ),
];

/// Every type served, built-ins first, then the scenario's custom resources.
#[derive(Debug, Default)]
pub struct ResourceTable {
    types: Vec<Arc<ResourceType>>,
}

impl ResourceTable {
    pub fn new(crds: &[CrdSpec]) -> Self {
        let mut types: Vec<Arc<ResourceType>> = BUILT_IN
            .iter()
            .map(
                |&(group, version, plural, kind, namespaced, short, cats, subs, generation)| {
                    Arc::new(ResourceType {
                        group: group.into(),
                        version: version.into(),
                        plural: plural.into(),
                        singular: kind.to_lowercase(),
                        kind: kind.into(),
                        namespaced,
                        short_names: short.iter().map(|s| s.to_string()).collect(),
                        categories: cats.iter().map(|s| s.to_string()).collect(),
                        subresources: subs.iter().map(|s| s.to_string()).collect(),
                        tracks_generation: generation,
                    })
                },
            )
            .collect();
        for crd in crds {
            types.push(Arc::new(ResourceType {
                group: crd.group.clone(),
                version: crd.version.clone(),
                plural: crd
                    .plural
                    .clone()
                    .unwrap_or_else(|| format!("{}s", crd.kind.to_lowercase())),
                singular: crd.kind.to_lowercase(),
                kind: crd.kind.clone(),
                namespaced: crd.namespaced,
                short_names: crd.short_names.clone(),
                categories: Vec::new(),
                subresources: if crd.status_subresource {
                    vec!["status".into()]
                } else {
                    Vec::new()
                },
                tracks_generation: true,
            }));
        }
        Self { types }
    }

    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// The type served at `group/version/plural`, if any.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// The type of a group and plural, whatever the version (the store keys on these two).
    pub fn by_plural(&self, group: &str, plural: &str) -> Option<&Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    /// Every served API group, in table order, with its (single) version. The core group is
    /// the empty string.
    pub fn group_versions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in &self.types {
            if !out.iter().any(|(g, v)| *g == t.group && *v == t.version) {
                out.push((t.group.clone(), t.version.clone()));
            }
        }
        out
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceType>> + 'a {
        self.types
            .iter()
            .filter(move |t| t.group == group && t.version == version)
    }

    /// Convenience for controllers: the built-in type with this plural (panics if absent,
    /// which would be a bug in the table).
    pub fn builtin(&self, group: &str, plural: &str) -> Arc<ResourceType> {
        self.by_plural(group, plural)
            .cloned()
            .unwrap_or_else(|| panic!("{group}/{plural} is not in the built-in table"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_groups_appear_only_when_declared() {
        let plain = ResourceTable::new(&[]);
        assert!(
            plain
                .by_plural("external-secrets.io", "externalsecrets")
                .is_none()
        );
        let with = ResourceTable::new(&[CrdSpec {
            group: "external-secrets.io".into(),
            version: "v1".into(),
            kind: "ExternalSecret".into(),
            plural: None,
            namespaced: true,
            short_names: vec!["es".into()],
            status_subresource: true,
        }]);
        let es = with
            .find("external-secrets.io", "v1", "externalsecrets")
            .unwrap();
        assert_eq!(es.kind, "ExternalSecret");
        assert!(es.has_status());
        assert!(
            with.group_versions()
                .contains(&("external-secrets.io".into(), "v1".into()))
        );
    }

    #[test]
    fn names_in_messages_follow_the_apiserver() {
        let t = ResourceTable::new(&[]);
        assert_eq!(
            t.builtin("apps", "deployments").group_resource(),
            "deployments.apps"
        );
        assert_eq!(t.builtin("", "pods").group_resource(), "pods");
        assert_eq!(
            t.builtin("apps", "deployments").group_kind(),
            "Deployment.apps"
        );
        assert_eq!(t.builtin("", "services").group_kind(), "Service");
    }
}

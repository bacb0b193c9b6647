//! Discovery documents, all derived from the resource table: `/version`, the legacy
//! `/api`, `/api/v1`, `/apis`, `/apis/{g}/{v}`, aggregated discovery (`apidiscovery.k8s.io/v2`,
//! chosen by the Accept header) and a minimal OpenAPI v3 (`/openapi/v3`), which kubectl reads
//! to learn that PATCH supports server-side field validation.

use serde_json::{Value, json};

use crate::resources::{ResourceTable, ResourceType};

/// The Kubernetes version the stand-in claims (the `k8s-openapi` feature the project builds
/// with); the build metadata says what it really is.
pub const GIT_VERSION: &str = "v1.33.0+fakekube";

/// The content type of aggregated discovery responses.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an Accept header asks for aggregated discovery (v2; v2beta1 is answered as v2).
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let media = media.replace(' ', "");
        media.starts_with("application/json")
            && media.contains("g=apidiscovery.k8s.io")
            && media.contains("v=v2")
            && media.contains("as=APIGroupDiscoveryList")
    })
}

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

const WRITE_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn subresource_verbs(sub: &str) -> Vec<&'static str> {
    match sub {
        "log" => vec!["get"],
        "portforward" => vec!["create", "get"],
        "finalize" => vec!["update"],
        _ => vec!["get", "patch", "update"],
    }
}

fn subresource_kind<'a>(rt: &'a ResourceType, sub: &str) -> (&'a str, &'a str, &'a str) {
    match sub {
        "scale" => ("autoscaling", "v1", "Scale"),
        "portforward" => ("", "v1", "PodPortForwardOptions"),
        _ => (rt.group.as_str(), rt.version.as_str(), rt.kind.as_str()),
    }
}

/// `/api`: the legacy core versions.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}],
    })
}

/// `/apis`: the legacy group list.
pub fn group_list(table: &ResourceTable) -> Value {
    let groups: Vec<Value> = table
        .group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(group, version)| {
            let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`: one group.
pub fn group(table: &ResourceTable, group: &str) -> Option<Value> {
    let (g, version) = table
        .group_versions()
        .into_iter()
        .find(|(g, _)| g == group && !g.is_empty())?;
    let gv = json!({"groupVersion": format!("{g}/{version}"), "version": version});
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv.clone()], "preferredVersion": gv}),
    )
}

/// `/api/v1` or `/apis/{group}/{version}`: the legacy resource list of one group version.
pub fn resource_list(table: &ResourceTable, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for rt in table.in_group_version(group, version) {
        let mut entry = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": WRITE_VERBS,
        });
        if !rt.short_names.is_empty() {
            entry["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            entry["categories"] = json!(rt.categories);
        }
        resources.push(entry);
        for sub in &rt.subresources {
            let (g, v, kind) = subresource_kind(rt, sub);
            let mut entry = json!({
                "name": format!("{}/{sub}", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": subresource_verbs(sub),
            });
            if sub == "scale" {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            resources.push(entry);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// Aggregated discovery of the core group (`/api`) or of every other group (`/apis`).
pub fn aggregated(table: &ResourceTable, core: bool) -> Value {
    let mut items = Vec::new();
    for (group, version) in table.group_versions() {
        if group.is_empty() != core {
            continue;
        }
        let resources: Vec<Value> = table
            .in_group_version(&group, &version)
            .map(|rt| {
                let mut entry = json!({
                    "resource": rt.plural,
                    "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                    "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": rt.singular,
                    "verbs": WRITE_VERBS,
                });
                if !rt.short_names.is_empty() {
                    entry["shortNames"] = json!(rt.short_names);
                }
                if !rt.categories.is_empty() {
                    entry["categories"] = json!(rt.categories);
                }
                if !rt.subresources.is_empty() {
                    entry["subresources"] = rt
                        .subresources
                        .iter()
                        .map(|sub| {
                            let (g, v, kind) = subresource_kind(rt, sub);
                            json!({
                                "subresource": sub,
                                "responseKind": {"group": g, "version": v, "kind": kind},
                                "verbs": subresource_verbs(sub),
                            })
                        })
                        .collect();
                }
                entry
            })
            .collect();
        let mut metadata = json!({"creationTimestamp": null});
        if !core {
            metadata["name"] = json!(group);
        }
        items.push(json!({
            "metadata": metadata,
            "versions": [{"version": version, "resources": resources, "freshness": "Current"}],
        }));
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn openapi_path_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_index(table: &ResourceTable) -> Value {
    let mut paths = serde_json::Map::new();
    for (group, version) in table.group_versions() {
        let key = openapi_path_key(&group, &version);
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash=FAKEKUBE")}),
        );
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/{api/v1 | apis/g/v}`: a minimal document. It lists each object path with its
/// GET, PUT, PATCH and DELETE operations and their group-version-kind and query parameters,
/// and no schemas: enough for kubectl to see that the server validates fields itself.
pub fn openapi_v3_group_version(
    table: &ResourceTable,
    group: &str,
    version: &str,
) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    for rt in table.in_group_version(group, version) {
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let base = if rt.namespaced {
            format!(
                "{}/namespaces/{{namespace}}/{}",
                rt.group_version_path(),
                rt.plural
            )
        } else {
            format!("{}/{}", rt.group_version_path(), rt.plural)
        };
        let op = |action: &str, params: Vec<Value>| {
            json!({
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
            })
        };
        paths.insert(
            base.clone(),
            json!({
                "get": op("list", vec![query("labelSelector"), query("fieldSelector"), query("watch")]),
                "post": op("post", vec![query("dryRun"), query("fieldManager"), query("fieldValidation")]),
            }),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": op("get", vec![]),
                "put": op("put", vec![query("dryRun"), query("fieldManager"), query("fieldValidation")]),
                "patch": op("patch", vec![query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")]),
                "delete": op("delete", vec![query("dryRun"), query("propagationPolicy")]),
            }),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (fakekube stand-in)", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_is_chosen_by_accept() {
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json, */*"));
    }

    #[test]
    fn core_and_groups_are_split() {
        let t = ResourceTable::new(&[]);
        let core = aggregated(&t, true);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let groups = aggregated(&t, false);
        let names: Vec<&str> = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["apps", "batch", "networking.k8s.io"]);
        let pods = resource_list(&t, "", "v1").unwrap();
        assert!(
            pods["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "pods/portforward")
        );
    }
}

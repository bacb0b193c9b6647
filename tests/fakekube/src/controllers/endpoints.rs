//! The endpoints controller: for each Service with a selector, an Endpoints object listing the
//! selected pods' IPs (Ready ones as addresses, others as notReadyAddresses) with each
//! Service port resolved against the pod. A named `targetPort` that a pod does not declare
//! leaves that pod out, so a Service pointing at a missing port name has no endpoints, as on a
//! real cluster.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Pass, pod_ready};
use crate::meta;
use crate::selectors::LabelSelector;
use crate::store::ObjectKey;

pub fn reconcile(pass: &mut Pass<'_, '_>) {
    let ep_rt = pass.txn.table.builtin("", "endpoints");
    let mut wanted = std::collections::HashSet::new();
    for (_, svc) in pass.txn.list("", "services", None) {
        let selector = &svc["spec"]["selector"];
        if selector.as_object().is_none_or(|s| s.is_empty())
            || svc["spec"]["type"] == "ExternalName"
        {
            continue;
        }
        let namespace = meta::namespace(&svc).to_string();
        let name = meta::name(&svc).to_string();
        let key = ObjectKey::new(&ep_rt, &namespace, &name);
        wanted.insert(key.clone());
        let subsets = subsets(pass, &svc, selector, &namespace);
        let mut endpoints = json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "labels": svc["metadata"]["labels"]},
        });
        if endpoints["metadata"]["labels"].is_null() {
            endpoints["metadata"]
                .as_object_mut()
                .expect("object")
                .remove("labels");
        }
        if !subsets.is_empty() {
            endpoints["subsets"] = json!(subsets);
        }
        match pass.txn.get(&key).cloned() {
            None => {
                if let Ok(created) =
                    crate::crud::create(pass.txn, &ep_rt, &namespace, endpoints, false)
                {
                    let _ = created;
                    pass.state.endpoints.insert(key);
                }
            }
            Some(existing) => {
                let mut new = existing.clone();
                new["subsets"] = endpoints["subsets"].clone();
                if new["subsets"].is_null() {
                    new.as_object_mut().expect("object").remove("subsets");
                }
                if new != existing {
                    pass.txn.put(key.clone(), new);
                }
                pass.state.endpoints.insert(key);
            }
        }
    }
    // Endpoints this controller made for Services that are gone.
    let stale: Vec<ObjectKey> = pass
        .state
        .endpoints
        .iter()
        .filter(|k| !wanted.contains(*k))
        .cloned()
        .collect();
    for key in stale {
        pass.state.endpoints.remove(&key);
        if pass.txn.get(&key).is_some() {
            pass.txn.remove(&key);
        }
    }
}

/// One subset of an Endpoints object: pods that resolve the Service's ports alike.
struct Subset {
    ready: Vec<Value>,
    not_ready: Vec<Value>,
    ports: Vec<Value>,
}

/// The port a Service port targets on one pod, if the pod has it.
fn resolve_port(svc_port: &Value, pod: &Value) -> Option<i64> {
    match &svc_port["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => pod["spec"]["containers"]
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_i64()),
        _ => svc_port["port"].as_i64(),
    }
}

fn subsets(pass: &Pass<'_, '_>, svc: &Value, selector: &Value, namespace: &str) -> Vec<Value> {
    let selector = LabelSelector::from_object(&json!({"matchLabels": selector}));
    let svc_ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    // Pods grouped by the ports they resolve to, as the controller groups subsets.
    let mut groups: BTreeMap<String, Subset> = BTreeMap::new();
    for (_, pod) in pass.txn.list("", "pods", Some(namespace)) {
        let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
        if ip.is_empty() || meta::is_terminating(&pod) || !selector.matches(&pod) {
            continue;
        }
        let ports: Vec<Value> = svc_ports
            .iter()
            .filter_map(|sp| {
                let port = resolve_port(sp, &pod)?;
                let mut p =
                    json!({"port": port, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
                if let Some(name) = sp["name"].as_str() {
                    p["name"] = json!(name);
                }
                Some(p)
            })
            .collect();
        if ports.is_empty() {
            continue;
        }
        let address = json!({
            "ip": ip,
            "nodeName": pod["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "namespace": namespace, "name": meta::name(&pod), "uid": meta::uid(&pod)},
        });
        let entry = groups
            .entry(Value::Array(ports.clone()).to_string())
            .or_insert_with(|| Subset {
                ready: Vec::new(),
                not_ready: Vec::new(),
                ports,
            });
        if pod_ready(&pod) {
            entry.ready.push(address);
        } else {
            entry.not_ready.push(address);
        }
    }
    groups
        .into_values()
        .map(
            |Subset {
                 ready,
                 not_ready,
                 ports,
             }| {
                let mut subset = json!({"ports": ports});
                if !ready.is_empty() {
                    subset["addresses"] = json!(ready);
                }
                if !not_ready.is_empty() {
                    subset["notReadyAddresses"] = json!(not_ready);
                }
                subset
            },
        )
        .collect()
}

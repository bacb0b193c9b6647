//! The StatefulSet controller: pods `<name>-<ordinal>` created in order (OrderedReady waits for
//! each to be Ready; Parallel does not), PersistentVolumeClaims from `volumeClaimTemplates`
//! (bound at once), rolling updates from the highest ordinal, and the status `kubectl rollout
//! status` reads (ready, current and updated replicas, current and update revisions).

use serde_json::{Value, json};

use super::events::{self, Event};
use super::{Pass, pod_from_template, pod_ready, replicas, template_hash, write_status};
use crate::crud::{self, DeleteOptions};
use crate::meta;
use crate::store::ObjectKey;

pub fn reconcile(pass: &mut Pass<'_, '_>) {
    for (key, sts) in pass.txn.list("apps", "statefulsets", None) {
        if !meta::is_terminating(&sts) {
            sync(pass, &key, &sts);
        }
    }
}

fn revision_of(pod: &Value) -> &str {
    pod.pointer("/metadata/labels/controller-revision-hash")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn sync(pass: &mut Pass<'_, '_>, key: &ObjectKey, sts: &Value) {
    let name = meta::name(sts).to_string();
    let namespace = meta::namespace(sts).to_string();
    let desired = replicas(sts);
    let update_revision = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
    let ordered = sts["spec"]["podManagementPolicy"] != "Parallel";
    let pod_rt = pass.txn.table.builtin("", "pods");
    let pod_key = |i: i64| ObjectKey::new(&pod_rt, &namespace, &format!("{name}-{i}"));

    for i in 0..desired {
        let key = pod_key(i);
        match pass.txn.get(&key).cloned() {
            Some(pod) => {
                if ordered && !pod_ready(&pod) {
                    break;
                }
            }
            None => {
                create_pod(pass, sts, i, &update_revision);
                if ordered {
                    break;
                }
            }
        }
    }
    // Scale down from the highest ordinal.
    let existing: Vec<(ObjectKey, Value)> = pass
        .txn
        .list("", "pods", Some(&namespace))
        .into_iter()
        .filter(|(_, p)| meta::controller_uid(p) == Some(meta::uid(sts)))
        .collect();
    let ordinal = |p: &Value| -> i64 {
        meta::name(p)
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1)
    };
    let mut surplus: Vec<&(ObjectKey, Value)> = existing
        .iter()
        .filter(|(_, p)| ordinal(p) >= desired)
        .collect();
    surplus.sort_by_key(|(_, p)| std::cmp::Reverse(ordinal(p)));
    for (k, p) in surplus.iter().take(if ordered { 1 } else { usize::MAX }) {
        delete_pod(pass, sts, k, p);
    }
    // Rolling update: once all are Ready, replace the highest outdated pod.
    let in_range: Vec<&(ObjectKey, Value)> = existing
        .iter()
        .filter(|(_, p)| ordinal(p) < desired)
        .collect();
    let all_ready = in_range.len() as i64 == desired && in_range.iter().all(|(_, p)| pod_ready(p));
    if all_ready
        && let Some((k, p)) = in_range
            .iter()
            .filter(|(_, p)| revision_of(p) != update_revision && !meta::is_terminating(p))
            .max_by_key(|(_, p)| ordinal(p))
    {
        delete_pod(pass, sts, k, p);
    }

    let pods: Vec<Value> = pass
        .txn
        .list("", "pods", Some(&namespace))
        .into_iter()
        .filter(|(_, p)| meta::controller_uid(p) == Some(meta::uid(sts)))
        .map(|(_, p)| p)
        .collect();
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let updated = pods
        .iter()
        .filter(|p| revision_of(p) == update_revision)
        .count() as i64;
    let old_current = sts["status"]["currentRevision"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let current_revision = if old_current.is_empty() || (updated == desired && ready == desired) {
        update_revision.clone()
    } else {
        old_current
    };
    let current = pods
        .iter()
        .filter(|p| revision_of(p) == current_revision)
        .count() as i64;
    let status = json!({
        "observedGeneration": sts["metadata"]["generation"],
        "replicas": pods.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    });
    write_status(pass.txn, key, status);
}

fn create_pod(pass: &mut Pass<'_, '_>, sts: &Value, ordinal: i64, revision: &str) {
    let name = meta::name(sts).to_string();
    let namespace = meta::namespace(sts).to_string();
    let pod_name = format!("{name}-{ordinal}");
    let mut pod = pod_from_template(sts, &sts["spec"]["template"], &pod_name);
    let labels = &mut pod["metadata"]["labels"];
    labels["controller-revision-hash"] = json!(revision);
    labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
    labels["apps.kubernetes.io/pod-index"] = json!(ordinal.to_string());
    pod["spec"]["hostname"] = json!(pod_name);
    if let Some(service) = sts["spec"]["serviceName"].as_str() {
        pod["spec"]["subdomain"] = json!(service);
    }
    let pvc_rt = pass.txn.table.builtin("", "persistentvolumeclaims");
    for template in sts["spec"]["volumeClaimTemplates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let claim = meta::name(&template).to_string();
        let claim_name = format!("{claim}-{pod_name}");
        let key = ObjectKey::new(&pvc_rt, &namespace, &claim_name);
        if pass.txn.get(&key).is_none() {
            let mut labels = template["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            let pvc = json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim_name, "labels": labels},
                "spec": template["spec"],
            });
            if crud::create(pass.txn, &pvc_rt, &namespace, pvc, false).is_ok() {
                let capacity = template["spec"]["resources"]["requests"]["storage"].clone();
                super::write_status(
                    pass.txn,
                    &key,
                    json!({"phase": "Bound", "accessModes": template["spec"]["accessModes"], "capacity": {"storage": capacity}}),
                );
                events::record(
                    pass,
                    sts,
                    Event::normal(
                        "SuccessfulCreate",
                        format!(
                            "create Claim {claim_name} Pod {pod_name} in StatefulSet {name} success"
                        ),
                        "statefulset-controller",
                    ),
                );
            }
        }
        let volumes = &mut pod["spec"]["volumes"];
        if !volumes.is_array() {
            *volumes = json!([]);
        }
        if let Some(v) = volumes.as_array_mut() {
            v.retain(|v| v["name"] != claim.as_str());
            v.push(json!({"name": claim, "persistentVolumeClaim": {"claimName": claim_name}}));
        }
    }
    let pod_rt = pass.txn.table.builtin("", "pods");
    if crud::create(pass.txn, &pod_rt, &namespace, pod, false).is_ok() {
        events::record(
            pass,
            sts,
            Event::normal(
                "SuccessfulCreate",
                format!("create Pod {pod_name} in StatefulSet {name} successful"),
                "statefulset-controller",
            ),
        );
    }
}

fn delete_pod(pass: &mut Pass<'_, '_>, sts: &Value, key: &ObjectKey, pod: &Value) {
    let rt = pass.txn.table.builtin("", "pods");
    if crud::delete(
        pass.txn,
        &rt,
        &key.namespace,
        &key.name,
        &DeleteOptions::default(),
    )
    .is_ok()
    {
        events::record(
            pass,
            sts,
            Event::normal(
                "SuccessfulDelete",
                format!(
                    "delete Pod {} in StatefulSet {} successful",
                    meta::name(pod),
                    meta::name(sts)
                ),
                "statefulset-controller",
            ),
        );
    }
}

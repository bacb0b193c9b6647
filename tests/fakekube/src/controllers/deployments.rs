//! The Deployment and ReplicaSet controllers.
//!
//! A Deployment's controller observes a new generation after the scenario's lag (until then
//! its status, observedGeneration included, still describes the previous generation). It then
//! owns one ReplicaSet per pod template (`<name>-<pod-template-hash>`), scales the new one to
//! `spec.replicas`, scales old ones to zero once the new one is fully available, and reports
//! replica counts and the Available and Progressing conditions, including
//! ProgressDeadlineExceeded when the rollout makes no progress for the deadline. A
//! ReplicaSet's controller creates and deletes pods to match its replica count.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::events::{self, Event};
use super::{
    Pass, condition, controlled_by, pod_from_template, pod_ready, replicas, template_hash,
    write_status,
};
use crate::crud::{self, DeleteOptions, Part};
use crate::meta;
use crate::store::ObjectKey;

/// The controller's memory of one Deployment.
pub struct DeploymentClock {
    /// The generation last seen, and when.
    generation: i64,
    generation_seen_at: Instant,
    /// When the rollout last made progress, and the counts that progress is measured on.
    progress_at: Instant,
    progress_mark: (String, i64, i64, i64),
}

pub fn reconcile(pass: &mut Pass<'_, '_>) {
    for (key, deployment) in pass.txn.list("apps", "deployments", None) {
        if !meta::is_terminating(&deployment) {
            sync_deployment(pass, &key, &deployment);
        }
    }
    for (key, rs) in pass.txn.list("apps", "replicasets", None) {
        if !meta::is_terminating(&rs) {
            sync_replicaset(pass, &key, &rs);
        }
    }
}

/// `maxUnavailable` of a rolling update, resolved against the replica count (rounded down,
/// as for percentages); zero for Recreate.
fn max_unavailable(deployment: &Value, desired: i64) -> i64 {
    let strategy = &deployment["spec"]["strategy"];
    if strategy["type"] == "Recreate" || desired == 0 {
        return 0;
    }
    match &strategy["rollingUpdate"]["maxUnavailable"] {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(0, |p| desired * p / 100),
        _ => desired / 4,
    }
}

fn scale_replicaset(
    pass: &mut Pass<'_, '_>,
    deployment: &Value,
    rs_key: &ObjectKey,
    rs: &Value,
    to: i64,
) {
    let from = replicas(rs);
    if from == to {
        return;
    }
    let rt = pass.txn.table.builtin("apps", "replicasets");
    let mut new = rs.clone();
    new["spec"]["replicas"] = json!(to);
    new["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(replicas(deployment).to_string());
    if crud::commit_update(pass.txn, &rt, rs_key, rs, new, Part::Main, false).is_ok() {
        let verb = if to > from { "up" } else { "down" };
        events::record(
            pass,
            deployment,
            Event::normal(
                "ScalingReplicaSet",
                format!(
                    "Scaled {verb} replica set {} from {from} to {to}",
                    meta::name(rs)
                ),
                "deployment-controller",
            ),
        );
    }
}

fn sync_deployment(pass: &mut Pass<'_, '_>, key: &ObjectKey, deployment: &Value) {
    let uid = meta::uid(deployment).to_string();
    let name = meta::name(deployment).to_string();
    let namespace = meta::namespace(deployment).to_string();
    let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
    let now = pass.now;
    let clock = pass
        .state
        .deployments
        .entry(uid.clone())
        .or_insert_with(|| DeploymentClock {
            generation,
            generation_seen_at: now,
            progress_at: now,
            progress_mark: (String::new(), -1, -1, -1),
        });
    if clock.generation != generation {
        clock.generation = generation;
        clock.generation_seen_at = now;
    }
    let rule = pass.scenario.deployment_rule(&namespace, &name);
    let lag = Duration::from_millis(rule.map_or(0, |r| r.observed_generation_lag_ms));
    let observe_at = clock.generation_seen_at + lag;
    if now < observe_at {
        pass.state.wake_at(observe_at);
        return;
    }
    let deadline = Duration::from_millis(rule.and_then(|r| r.progress_deadline_ms).unwrap_or_else(
        || {
            deployment["spec"]["progressDeadlineSeconds"]
                .as_u64()
                .unwrap_or(600)
                * 1000
        },
    ));

    let desired = replicas(deployment);
    let template = &deployment["spec"]["template"];
    let hash = template_hash(template);
    let owned = controlled_by(pass.txn, "apps", "replicasets", &namespace, &uid);
    let new_rs = owned
        .iter()
        .find(|(_, rs)| {
            rs.pointer("/metadata/labels/pod-template-hash")
                .and_then(Value::as_str)
                == Some(hash.as_str())
        })
        .cloned();
    let mut created_now = false;
    let (new_key, new_rs) = match new_rs {
        Some(found) => found,
        None => {
            let revision = owned
                .iter()
                .filter_map(|(_, rs)| {
                    rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                        .and_then(Value::as_str)
                        .and_then(|r| r.parse::<i64>().ok())
                })
                .max()
                .unwrap_or(0)
                + 1;
            let rs_name = format!("{name}-{hash}");
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = deployment["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name,
                    "namespace": namespace,
                    "labels": rs_template["metadata"]["labels"],
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                        "deployment.kubernetes.io/max-replicas": (desired + 1).to_string(),
                        "deployment.kubernetes.io/revision": revision.to_string(),
                    },
                    "ownerReferences": [meta::owner_reference(deployment)],
                },
                "spec": {"replicas": desired, "selector": selector, "template": rs_template},
            });
            let rt = pass.txn.table.builtin("apps", "replicasets");
            let Ok(created) = crud::create(pass.txn, &rt, &namespace, rs, false) else {
                return;
            };
            events::record(
                pass,
                deployment,
                Event::normal(
                    "ScalingReplicaSet",
                    format!("Scaled up replica set {rs_name} from 0 to {desired}"),
                    "deployment-controller",
                ),
            );
            created_now = true;
            (ObjectKey::new(&rt, &namespace, &rs_name), created)
        }
    };
    if !created_now {
        scale_replicaset(pass, deployment, &new_key, &new_rs, desired);
    }
    let count = |rs: &Value, field: &str| rs["status"][field].as_i64().unwrap_or(0);
    if count(&new_rs, "availableReplicas") >= desired {
        for (k, rs) in &owned {
            if *k != new_key && replicas(rs) > 0 {
                scale_replicaset(pass, deployment, k, rs, 0);
            }
        }
    }

    // Status from the ReplicaSets' current status.
    let owned = controlled_by(pass.txn, "apps", "replicasets", &namespace, &uid);
    let sum = |field: &str| owned.iter().map(|(_, rs)| count(rs, field)).sum::<i64>();
    let (total, ready, available) = (
        sum("replicas"),
        sum("readyReplicas"),
        sum("availableReplicas"),
    );
    let updated = owned
        .iter()
        .find(|(k, _)| *k == new_key)
        .map_or(0, |(_, rs)| count(rs, "replicas"));
    let new_rs_name = new_key.name.clone();

    let clock = pass
        .state
        .deployments
        .get_mut(&uid)
        .expect("inserted above");
    let mark = (new_rs_name.clone(), updated, ready, available);
    if created_now || clock.progress_mark != mark {
        clock.progress_mark = mark;
        clock.progress_at = now;
    }
    let complete = updated == desired && total == desired && available == desired;
    let deadline_at = clock.progress_at + deadline;
    let timed_out = !complete && now >= deadline_at;
    if !complete && !timed_out {
        pass.state.wake_at(deadline_at);
    }

    let stamp = meta::timestamp(pass.wall);
    let old = &deployment["status"]["conditions"];
    let min_available = desired - max_unavailable(deployment, desired);
    let available_condition = if available >= min_available {
        condition(
            old,
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            &stamp,
            true,
        )
    } else {
        condition(
            old,
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            &stamp,
            true,
        )
    };
    let progressing = if complete {
        condition(
            old,
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{new_rs_name}\" has successfully progressed."),
            &stamp,
            true,
        )
    } else if timed_out {
        condition(
            old,
            "Progressing",
            false,
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet \"{new_rs_name}\" has timed out progressing."),
            &stamp,
            true,
        )
    } else if created_now
        || old
            .as_array()
            .is_none_or(|c| !c.iter().any(|c| c["type"] == "Progressing"))
    {
        condition(
            old,
            "Progressing",
            true,
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{new_rs_name}\""),
            &stamp,
            true,
        )
    } else {
        condition(
            old,
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{new_rs_name}\" is progressing."),
            &stamp,
            true,
        )
    };
    let mut status = json!({
        "observedGeneration": generation,
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [available_condition, progressing],
    });
    let unavailable = desired - available;
    if unavailable > 0 {
        status["unavailableReplicas"] = json!(unavailable);
    }
    // Zero counts are omitted, as the apiserver's omitempty does.
    if let Some(m) = status.as_object_mut() {
        m.retain(|k, v| !(k.ends_with("Replicas") || k == "replicas") || v.as_i64() != Some(0));
    }
    write_status(pass.txn, key, status);
}

fn sync_replicaset(pass: &mut Pass<'_, '_>, key: &ObjectKey, rs: &Value) {
    let uid = meta::uid(rs).to_string();
    let namespace = meta::namespace(rs).to_string();
    let desired = replicas(rs);
    let mut pods: Vec<(ObjectKey, Value)> = controlled_by(pass.txn, "", "pods", &namespace, &uid)
        .into_iter()
        .filter(|(_, p)| !meta::is_terminating(p))
        .collect();
    let pod_rt = pass.txn.table.builtin("", "pods");
    let mut count = pods.len() as i64;
    while count < desired {
        let name = format!("{}-{}", meta::name(rs), pass.txn.name_suffix(5));
        let mut pod = pod_from_template(rs, &rs["spec"]["template"], &name);
        pod["metadata"]["generateName"] = json!(format!("{}-", meta::name(rs)));
        match crud::create(pass.txn, &pod_rt, &namespace, pod, false) {
            Ok(created) => {
                events::record(
                    pass,
                    rs,
                    Event::normal(
                        "SuccessfulCreate",
                        format!("Created pod: {name}"),
                        "replicaset-controller",
                    ),
                );
                pods.push((ObjectKey::new(&pod_rt, &namespace, &name), created));
                count += 1;
            }
            Err(_) => break,
        }
    }
    if count > desired {
        // Delete not-ready pods first, then the newest.
        pods.sort_by_key(|(_, p)| {
            (
                pod_ready(p),
                std::cmp::Reverse(
                    p["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        });
        let surplus = (count - desired) as usize;
        let doomed: Vec<(ObjectKey, Value)> = pods.drain(..surplus).collect();
        for (k, p) in doomed {
            if crud::delete(
                pass.txn,
                &pod_rt,
                &k.namespace,
                &k.name,
                &DeleteOptions::default(),
            )
            .is_ok()
            {
                events::record(
                    pass,
                    rs,
                    Event::normal(
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", meta::name(&p)),
                        "replicaset-controller",
                    ),
                );
            }
        }
    }
    let ready = pods.iter().filter(|(_, p)| pod_ready(p)).count() as i64;
    let total = pods.len() as i64;
    let mut status = json!({
        "replicas": total,
        "fullyLabeledReplicas": total,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs["metadata"]["generation"],
    });
    if let Some(m) = status.as_object_mut() {
        m.retain(|k, v| k == "replicas" || k == "observedGeneration" || v.as_i64() != Some(0));
    }
    write_status(pass.txn, key, status);
}

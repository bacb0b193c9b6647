//! When a workload is rolled out, by the rules of `kubectl rollout status`
//! (`k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go`), plus failing fast on what
//! cannot heal, seen on the pods of the current revision only (old pods are going away).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::pods;

/// Where a workload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    /// It cannot become ready without a change.
    Failed(String),
    /// Not yet: what it waits for, in one line.
    Waiting(String),
}

/// A Deployment: its controller has observed the current generation, the deadline to
/// progress has not passed, and every replica is updated and available, with no old one left.
pub fn deployment(d: &Deployment, replica_sets: &[Arc<ReplicaSet>], pods: &[Arc<Pod>]) -> Verdict {
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if observed < generation {
        // The status still describes the previous generation: saying anything from it would
        // be the false success `kubectl rollout status` guards against.
        return Verdict::Waiting(format!(
            "waiting for the deployment controller to observe generation {generation} (observed {observed})"
        ));
    }
    let new_pods = new_replica_set(d, replica_sets)
        .map(|rs| owned(pods, rs.metadata.uid.as_deref()))
        .unwrap_or_default();
    let deadline_passed = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(c) = deadline_passed {
        return Verdict::Failed(format!(
            "ProgressDeadlineExceeded: {}{}",
            c.message
                .as_deref()
                .unwrap_or("the rollout did not progress in time"),
            first_not_ready(&new_pods)
        ));
    }
    if let Some(fatal) = first_unhealable(&new_pods) {
        return Verdict::Failed(fatal);
    }
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired {
        return Verdict::Waiting(format!(
            "{updated} of {desired} new replicas updated{}",
            first_not_ready(&new_pods)
        ));
    }
    if replicas > updated {
        return Verdict::Waiting(format!(
            "{} old replicas pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return Verdict::Waiting(format!(
            "{available} of {updated} updated replicas available{}",
            first_not_ready(&new_pods)
        ));
    }
    Verdict::Ready
}

/// The ReplicaSet of the Deployment's current template: one it controls whose template,
/// without the `pod-template-hash` label the controller adds, is the Deployment's (how
/// the deployment controller itself finds it).
pub fn new_replica_set<'a>(
    d: &Deployment,
    replica_sets: &'a [Arc<ReplicaSet>],
) -> Option<&'a ReplicaSet> {
    let uid = d.metadata.uid.as_deref()?;
    let wanted = serde_json::to_value(&d.spec.as_ref()?.template).ok()?;
    replica_sets
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .find(|rs| {
            let Some(template) = rs.spec.as_ref().and_then(|s| s.template.as_ref()) else {
                return false;
            };
            let Ok(mut template) = serde_json::to_value(template) else {
                return false;
            };
            if let Some(labels) = template
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                labels.remove("pod-template-hash");
                if labels.is_empty() {
                    template["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("labels"));
                }
            }
            template == wanted
        })
        .map(|rs| rs.as_ref())
}

/// A StatefulSet: observed, every replica ready, and for a rolling update every pod at the
/// update revision (or, partitioned, every pod above the partition updated).
pub fn statefulset(s: &StatefulSet, pods: &[Arc<Pod>]) -> Verdict {
    let generation = s.metadata.generation.unwrap_or(0);
    let status = s.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if observed == 0 || observed < generation {
        return Verdict::Waiting(format!(
            "waiting for the statefulset controller to observe generation {generation} (observed {observed})"
        ));
    }
    let owned_pods = owned(pods, s.metadata.uid.as_deref());
    let update_revision = status.update_revision.clone().unwrap_or_default();
    let new_pods: Vec<Arc<Pod>> = owned_pods
        .iter()
        .filter(|p| {
            update_revision.is_empty()
                || p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("controller-revision-hash"))
                    == Some(&update_revision)
        })
        .cloned()
        .collect();
    if let Some(fatal) = first_unhealable(&new_pods) {
        return Verdict::Failed(fatal);
    }
    let spec = s.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    if ready < replicas {
        return Verdict::Waiting(format!(
            "{ready} of {replicas} pods ready{}",
            first_not_ready(&owned_pods)
        ));
    }
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    let rolling = strategy
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    if !rolling {
        // OnDelete: pods change only when deleted; ready pods are all there is to wait for.
        return Verdict::Ready;
    }
    let partition = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    if partition > 0 {
        if updated < replicas - partition {
            return Verdict::Waiting(format!(
                "partitioned roll out: {updated} of {} new pods updated",
                replicas - partition
            ));
        }
        return Verdict::Ready;
    }
    if status.current_revision.as_deref() != Some(update_revision.as_str()) {
        return Verdict::Waiting(format!(
            "rolling update: {updated} of {replicas} pods at revision {update_revision}"
        ));
    }
    Verdict::Ready
}

/// A Job: its `Complete` condition; `Failed` (or the `FailureTarget` that precedes it) is
/// a failure.
pub fn job(j: &Job, pods: &[Arc<Pod>]) -> Verdict {
    let status = j.status.clone().unwrap_or_default();
    let true_condition = |kind: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == kind && c.status == "True")
            .cloned()
    };
    if true_condition("Complete").is_some() {
        return Verdict::Ready;
    }
    let owned_pods = owned(pods, j.metadata.uid.as_deref());
    if let Some(c) = true_condition("Failed").or_else(|| true_condition("FailureTarget")) {
        let failed_pod = owned_pods
            .iter()
            .find_map(|p| failed_container(p))
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        return Verdict::Failed(format!(
            "{}: {}{failed_pod}",
            c.reason.as_deref().unwrap_or("Failed"),
            c.message.as_deref().unwrap_or("the job failed")
        ));
    }
    if let Some(fatal) = first_unhealable(&owned_pods) {
        return Verdict::Failed(fatal);
    }
    Verdict::Waiting(format!(
        "{} active, {} succeeded, {} failed{}",
        status.active.unwrap_or(0),
        status.succeeded.unwrap_or(0),
        status.failed.unwrap_or(0),
        first_not_ready(&owned_pods)
    ))
}

/// `pod x: container y exit code 1 (Error)` for a pod whose container ended in failure.
fn failed_container(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status.container_statuses.iter().flatten().find_map(|c| {
        let t = c.state.as_ref()?.terminated.as_ref()?;
        (t.exit_code != 0).then(|| {
            format!(
                "pod {}: {} {}",
                pod.metadata.name.as_deref().unwrap_or_default(),
                pods::container_label(false, &c.name),
                pods::terminated_text(t.exit_code, t.reason.as_deref(), t.message.as_deref())
            )
        })
    })
}

fn owned(pods: &[Arc<Pod>], uid: Option<&str>) -> Vec<Arc<Pod>> {
    let Some(uid) = uid else {
        return Vec::new();
    };
    pods.iter()
        .filter(|p| pods::owned_by(p, uid))
        .cloned()
        .collect()
}

fn first_unhealable(pods: &[Arc<Pod>]) -> Option<String> {
    pods.iter().find_map(|p| {
        pods::unhealable(p).map(|why| {
            format!(
                "pod {}: {why}",
                p.metadata.name.as_deref().unwrap_or_default()
            )
        })
    })
}

/// ` (pod x: container y: running, not ready)` for the first pod not ready, or nothing.
fn first_not_ready(pods: &[Arc<Pod>]) -> String {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && !pods::is_ready(p))
        .map(|p| format!(" ({})", pods::not_ready_text(p)))
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment_with(status: serde_json::Value, generation: i64) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "uid": "d1", "generation": generation},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "x"}]}}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_lagging_observed_generation_is_never_success() {
        let complete = json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert_eq!(
            deployment(&deployment_with(complete.clone(), 1), &[], &[]),
            Verdict::Ready
        );
        assert!(matches!(
            deployment(&deployment_with(complete, 2), &[], &[]),
            Verdict::Waiting(w) if w.contains("observe generation 2")
        ));
    }

    #[test]
    fn deployments_follow_kubectl_rollout_status() {
        let waiting = |status| match deployment(&deployment_with(status, 1), &[], &[]) {
            Verdict::Waiting(w) => w,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            waiting(
                json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1})
            ),
            "1 of 2 new replicas updated"
        );
        assert_eq!(
            waiting(
                json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2})
            ),
            "1 old replicas pending termination"
        );
        assert_eq!(
            waiting(
                json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1})
            ),
            "1 of 2 updated replicas available"
        );
        let stuck = json!({"observedGeneration": 1, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}
        ]});
        assert_eq!(
            deployment(&deployment_with(stuck, 1), &[], &[]),
            Verdict::Failed(
                "ProgressDeadlineExceeded: ReplicaSet \"web-1\" has timed out progressing.".into()
            )
        );
    }

    #[test]
    fn only_pods_of_the_new_replica_set_fail_fast() {
        let d = deployment_with(
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
            1,
        );
        let rs = |uid: &str, image: &str| -> Arc<ReplicaSet> {
            Arc::new(serde_json::from_value(json!({
                "metadata": {"name": format!("web-{uid}"), "uid": uid, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": true}]},
                "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": uid}}, "spec": {"containers": [{"name": "app", "image": image}]}}},
            })).unwrap())
        };
        let backing_off = |owner: &str| -> Arc<Pod> {
            Arc::new(serde_json::from_value(json!({
                "metadata": {"name": format!("pod-of-{owner}"), "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": owner}]},
                "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]},
            })).unwrap())
        };
        let sets = [rs("old", "y"), rs("new", "x")];
        assert!(matches!(
            deployment(&d, &sets, &[backing_off("old")]),
            Verdict::Waiting(_)
        ));
        assert_eq!(
            deployment(&d, &sets, &[backing_off("new")]),
            Verdict::Failed("pod pod-of-new: container app: ImagePullBackOff".into())
        );
    }

    #[test]
    fn statefulsets_wait_for_ready_pods_and_the_update_revision() {
        let sts = |status| -> StatefulSet {
            serde_json::from_value(json!({
                "metadata": {"name": "db", "uid": "s1", "generation": 1},
                "spec": {"replicas": 1, "selector": {}, "serviceName": "db", "template": {}},
                "status": status,
            }))
            .unwrap()
        };
        assert!(
            matches!(statefulset(&sts(json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 0})), &[]), Verdict::Waiting(w) if w.starts_with("0 of 1 pods ready"))
        );
        assert!(
            matches!(statefulset(&sts(json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"})), &[]), Verdict::Waiting(w) if w.contains("revision b"))
        );
        assert_eq!(
            statefulset(
                &sts(
                    json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "currentRevision": "b", "updateRevision": "b"})
                ),
                &[]
            ),
            Verdict::Ready
        );
    }

    #[test]
    fn jobs_complete_or_fail_by_their_conditions() {
        let job_with = |conditions| -> Job {
            serde_json::from_value(json!({"metadata": {"name": "j", "uid": "j1"}, "spec": {"template": {}}, "status": {"conditions": conditions}})).unwrap()
        };
        assert_eq!(
            job(
                &job_with(json!([{"type": "Complete", "status": "True"}])),
                &[]
            ),
            Verdict::Ready
        );
        assert_eq!(
            job(
                &job_with(
                    json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}])
                ),
                &[]
            ),
            Verdict::Failed(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            )
        );
        assert!(matches!(
            job(&job_with(json!([])), &[]),
            Verdict::Waiting(_)
        ));
        // The failed pod's exit comes along when its status is known.
        let failed_pod: Arc<Pod> = Arc::new(serde_json::from_value(json!({
            "metadata": {"name": "j-x", "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "j1"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "task", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 2, "reason": "Error", "message": "no database"}}}]},
        })).unwrap());
        let failed = job_with(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}]),
        );
        assert_eq!(
            job(&failed, &[failed_pod]),
            Verdict::Failed(
                "BackoffLimitExceeded: limit (pod j-x: container task exit code 2 (Error): no database)".into()
            )
        );
    }
}

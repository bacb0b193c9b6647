//! Why workloads did not become ready: for each, its pods (the current revision's first),
//! their init and regular containers' states with how their previous run ended, the last
//! events of the workload, its current ReplicaSet and its pods, the tails of their current and
//! previous logs, and one next step.
//!
//! Best effort by design: every call has a deadline of [`CALL_DEADLINE`], and a call that fails
//! becomes a line of [`WorkloadDiagnosis::unavailable`], never an error of the run.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams, LogParams};
use kube::core::Selector;

use super::Cluster;
use super::api;
use super::wait::{self, WorkloadResult, WorkloadState};
use crate::checks::{ContainerDiagnosis, EventLine, PodDiagnosis, WorkloadDiagnosis};

/// The deadline of every call a diagnosis makes.
pub const CALL_DEADLINE: Duration = Duration::from_secs(5);
/// At most this many events per workload (the most recent).
const MAX_EVENTS: usize = 20;
/// At most this many log lines per container and run.
const LOG_LINES: i64 = 20;
/// At most this many pods per workload: the current revision's not-ready ones first.
const MAX_PODS: usize = 5;

/// A diagnosis of each workload of `workloads` that is not ready, in their order.
pub async fn diagnose(
    cluster: &Cluster,
    namespace: &str,
    workloads: &[WorkloadResult],
) -> Vec<WorkloadDiagnosis> {
    let failing = workloads
        .iter()
        .filter(|w| w.state != WorkloadState::Ready)
        .map(|w| diagnose_one(cluster, namespace, w));
    futures_util::future::join_all(failing).await
}

/// What a diagnosis gathers before it is written down.
struct Gathered {
    /// The workload's pods, the current revision's first.
    pods: Vec<Pod>,
    /// Objects whose events matter, as (kind, name): the workload, its current ReplicaSet.
    owners: Vec<(String, String)>,
    unavailable: Vec<String>,
}

async fn diagnose_one(
    cluster: &Cluster,
    namespace: &str,
    result: &WorkloadResult,
) -> WorkloadDiagnosis {
    let workload = &result.workload;
    let namespace = workload.namespace.as_deref().unwrap_or(namespace);
    let problem = match &result.state {
        WorkloadState::Failed { reason } => reason.clone(),
        WorkloadState::TimedOut { last } => format!("not ready by the deadline: {last}"),
        WorkloadState::Ready => "ready".to_string(),
    };
    let mut gathered = gather(cluster, namespace, &workload.kind, &workload.name).await;

    let mut involved = gathered.owners.clone();
    involved.extend(gathered.pods.iter().map(|p| {
        (
            "Pod".to_string(),
            p.metadata.name.clone().unwrap_or_default(),
        )
    }));
    let events = events(cluster, namespace, &involved, &mut gathered.unavailable).await;

    let mut pods = Vec::new();
    for pod in &gathered.pods {
        pods.push(pod_diagnosis(cluster, namespace, pod, &mut gathered.unavailable).await);
    }
    let next_step = next_step(
        cluster,
        namespace,
        workload.kind.as_str(),
        &workload.name,
        &gathered.pods,
    );
    WorkloadDiagnosis {
        kind: workload.kind.clone(),
        name: workload.name.clone(),
        namespace: namespace.to_string(),
        problem,
        pods,
        events,
        next_step,
        unavailable: gathered.unavailable,
    }
}

/// One call with the diagnosis deadline; a failure is written to `unavailable`.
async fn attempt<T>(
    cluster: &Cluster,
    what: &str,
    unavailable: &mut Vec<String>,
    call: impl std::future::Future<Output = kube::Result<T>>,
) -> Option<T> {
    match api::call(cluster, what, CALL_DEADLINE, call).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(status)) => {
            unavailable.push(format!("{what}: {}", api::refusal_text(&status)));
            None
        }
        Err(e) => {
            unavailable.push(e.to_string());
            None
        }
    }
}

/// The workload's pods and the objects whose events explain it.
async fn gather(cluster: &Cluster, namespace: &str, kind: &str, name: &str) -> Gathered {
    let client = cluster.client().clone();
    let mut gathered = Gathered {
        pods: Vec::new(),
        owners: vec![(kind.to_string(), name.to_string())],
        unavailable: Vec::new(),
    };
    let unavailable = &mut gathered.unavailable;
    let what = format!("get {kind}/{name}");
    // (selector, uid of the pods' owner for the current revision, label marking it)
    let (selector, current_owner, current_label): (
        Option<LabelSelector>,
        Option<String>,
        Option<(String, String)>,
    ) = match kind {
        "Deployment" => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
            let Some(d) = attempt(cluster, &what, unavailable, api.get(name)).await else {
                return gathered;
            };
            let selector = d.spec.as_ref().map(|s| s.selector.clone());
            let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
            let listed = match list_params(selector.as_ref()) {
                Some(params) => {
                    let what = format!("list the ReplicaSets of {kind}/{name}");
                    attempt(cluster, &what, unavailable, sets.list(&params)).await
                }
                None => None,
            };
            let sets: Vec<Arc<ReplicaSet>> = listed
                .map(|l| l.items.into_iter().map(Arc::new).collect())
                .unwrap_or_default();
            let current = wait::new_replica_set(&d, &sets);
            if let Some(rs) = current {
                gathered.owners.push((
                    "ReplicaSet".to_string(),
                    rs.metadata.name.clone().unwrap_or_default(),
                ));
            }
            (
                selector,
                current.and_then(|rs| rs.metadata.uid.clone()),
                None,
            )
        }
        "StatefulSet" => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
            let Some(s) = attempt(cluster, &what, unavailable, api.get(name)).await else {
                return gathered;
            };
            let revision = s.status.as_ref().and_then(|st| st.update_revision.clone());
            (
                s.spec.as_ref().map(|sp| sp.selector.clone()),
                None,
                revision.map(|r| ("controller-revision-hash".to_string(), r)),
            )
        }
        "Job" => {
            let api: Api<Job> = Api::namespaced(client.clone(), namespace);
            let Some(j) = attempt(cluster, &what, unavailable, api.get(name)).await else {
                return gathered;
            };
            (
                j.spec.as_ref().and_then(|s| s.selector.clone()),
                j.metadata.uid.clone(),
                None,
            )
        }
        _ => return gathered,
    };
    let pods_api: Api<Pod> = Api::namespaced(client, namespace);
    let Some(params) = list_params(selector.as_ref()) else {
        unavailable.push(format!(
            "the pods of {kind}/{name}: it has no label selector stackctl can list by"
        ));
        return gathered;
    };
    let Some(listed) = attempt(
        cluster,
        &format!("list the pods of {kind}/{name}"),
        unavailable,
        pods_api.list(&params),
    )
    .await
    else {
        return gathered;
    };
    let is_current = |p: &Pod| match (&current_owner, &current_label) {
        (Some(uid), _) => wait::owned_by(p, uid),
        (None, Some((key, value))) => {
            p.metadata.labels.as_ref().and_then(|l| l.get(key)) == Some(value)
        }
        (None, None) => true,
    };
    let mut pods = listed.items;
    // The current revision's pods first, not-ready ones first among them.
    pods.sort_by_key(|p| (!is_current(p), wait::is_ready(p), p.metadata.name.clone()));
    pods.truncate(MAX_PODS);
    gathered.pods = pods;
    gathered
}

/// A list of what `selector` selects; `None` when there is no selector, or one kube-rs
/// cannot express (listing everything instead would show other workloads' pods).
fn list_params(selector: Option<&LabelSelector>) -> Option<ListParams> {
    let selector = Selector::try_from(selector?.clone()).ok()?;
    Some(ListParams::default().labels_from(&selector))
}

/// The last events of `involved` objects, oldest first.
async fn events(
    cluster: &Cluster,
    namespace: &str,
    involved: &[(String, String)],
    unavailable: &mut Vec<String>,
) -> Vec<EventLine> {
    let api: Api<Event> = Api::namespaced(cluster.client().clone(), namespace);
    let lists = involved.iter().map(|(kind, name)| {
        let api = api.clone();
        async move {
            let params = ListParams::default().fields(&format!(
                "involvedObject.kind={kind},involvedObject.name={name}"
            ));
            let what = format!("events of {kind}/{name}");
            (
                what,
                api::call(
                    cluster,
                    &format!("list events of {kind}/{name}"),
                    CALL_DEADLINE,
                    api.list(&params),
                )
                .await,
            )
        }
    });
    let mut all: Vec<Event> = Vec::new();
    for (what, answer) in futures_util::future::join_all(lists).await {
        match answer {
            Ok(Ok(list)) => all.extend(list.items),
            Ok(Err(status)) => unavailable.push(format!("{what}: {}", api::refusal_text(&status))),
            Err(e) => unavailable.push(format!("{what}: {e}")),
        }
    }
    all.sort_by_key(event_time);
    let skip = all.len().saturating_sub(MAX_EVENTS);
    all.into_iter()
        .skip(skip)
        .map(|e| EventLine {
            kind: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            object: format!(
                "{}/{}",
                e.involved_object.kind.as_deref().unwrap_or_default(),
                e.involved_object.name.as_deref().unwrap_or_default()
            ),
            message: e.message.clone().unwrap_or_default().trim().to_string(),
            count: e
                .series
                .as_ref()
                .and_then(|s| s.count)
                .or(e.count)
                .unwrap_or(1)
                .max(1) as u32,
        })
        .collect()
}

/// When an event last happened, for ordering (RFC 3339 strings of one format sort in time
/// order; the newest of the fields an event may carry).
fn event_time(e: &Event) -> String {
    let stamp = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| t.0.to_string();
    e.last_timestamp
        .as_ref()
        .map(stamp)
        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| e.first_timestamp.as_ref().map(stamp))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(stamp))
        .unwrap_or_default()
}

async fn pod_diagnosis(
    cluster: &Cluster,
    namespace: &str,
    pod: &Pod,
    unavailable: &mut Vec<String>,
) -> PodDiagnosis {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let conditions = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.status != "True")
        .map(|c| {
            let mut text = c.type_.clone();
            if let Some(reason) = c.reason.as_deref().filter(|r| !r.is_empty()) {
                text.push_str(&format!(": {reason}"));
            }
            if let Some(message) = c.message.as_deref().filter(|m| !m.is_empty()) {
                text.push_str(&format!(": {message}"));
            }
            text
        })
        .collect();
    let spec_image = |container: &str| {
        pod.spec
            .iter()
            .flat_map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
            })
            .find(|c| c.name == container)
            .and_then(|c| c.image.clone())
    };
    let api: Api<Pod> = Api::namespaced(cluster.client().clone(), namespace);
    let mut containers = Vec::new();
    for (init, c) in wait::containers(pod) {
        let ran = c.restart_count > 0
            || c.state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some());
        let interesting = !c.ready || c.restart_count > 0;
        let log_tail = if ran && interesting {
            log(cluster, &api, &name, &c.name, false, unavailable).await
        } else {
            Vec::new()
        };
        let previous_log_tail = if c.restart_count > 0 {
            log(cluster, &api, &name, &c.name, true, unavailable).await
        } else {
            Vec::new()
        };
        containers.push(ContainerDiagnosis {
            image: spec_image(&c.name).unwrap_or_else(|| c.image.clone()),
            init,
            ready: c.ready,
            restarts: c.restart_count.max(0) as u32,
            state: wait::state_text(c.state.as_ref()),
            last_terminated: wait::last_exit(c),
            log_tail,
            previous_log_tail,
            name: c.name.clone(),
        });
    }
    PodDiagnosis {
        name,
        phase: status.phase.unwrap_or_else(|| "Unknown".to_string()),
        conditions,
        containers,
    }
}

/// The last lines of a container's log (its previous run's with `previous`).
async fn log(
    cluster: &Cluster,
    api: &Api<Pod>,
    pod: &str,
    container: &str,
    previous: bool,
    unavailable: &mut Vec<String>,
) -> Vec<String> {
    let params = LogParams {
        container: Some(container.to_string()),
        previous,
        tail_lines: Some(LOG_LINES),
        ..LogParams::default()
    };
    let what = format!(
        "{}log of pod {pod} container {container}",
        if previous { "previous " } else { "" }
    );
    let Some(text) = attempt(cluster, &what, unavailable, api.logs(pod, &params)).await else {
        return Vec::new();
    };
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let skip = lines.len().saturating_sub(LOG_LINES as usize);
    lines.into_iter().skip(skip).collect()
}

/// The one thing to try next, from the worst state among the pods.
fn next_step(cluster: &Cluster, namespace: &str, kind: &str, name: &str, pods: &[Pod]) -> String {
    let kubectl = format!("kubectl --context {} -n {namespace}", cluster.context());
    for pod in pods {
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        let describe = format!("`{kubectl} describe pod {pod_name}`");
        for (_, c) in wait::containers(pod) {
            let waiting = c
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .unwrap_or_default();
            match waiting {
                "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" => {
                    return format!(
                        "check the image tag {}: the node cannot pull it (the Failed event above says why); {describe}",
                        c.image
                    );
                }
                "CreateContainerConfigError" => {
                    return format!(
                        "a ConfigMap or Secret container {} needs is missing: {describe} names it",
                        c.name
                    );
                }
                _ => {}
            }
            let last_exit = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code)
                .filter(|code| *code != 0);
            if let Some(code) = last_exit {
                return format!(
                    "container {} exits {code}: see its previous log above (`{kubectl} logs {pod_name} -c {} --previous`)",
                    c.name, c.name
                );
            }
            let running_not_ready =
                c.state.as_ref().is_some_and(|s| s.running.is_some()) && !c.ready;
            if running_not_ready {
                return format!(
                    "container {} runs but is not ready (its readiness probe fails): see the Unhealthy events and its log above; {describe}",
                    c.name
                );
            }
        }
        let unschedulable = pod
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable"));
        if unschedulable {
            return format!(
                "no node can run pod {pod_name} (see the FailedScheduling event above); {describe}"
            );
        }
    }
    match pods.first() {
        Some(pod) => format!(
            "`{kubectl} describe pod {}`",
            pod.metadata.name.as_deref().unwrap_or_default()
        ),
        None => format!("`{kubectl} describe {} {name}`", kind.to_lowercase()),
    }
}

//! Every behaviour a scenario can script, observed through the API with kube-rs.

use std::time::{Duration, Instant};

use fakekube::{Behaviour, DeploymentRule, FakeKube, Fault, PodMatch, PodRule, Scenario};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Event, Namespace, Pod, Service};
use kube::Resource;
use kube::api::{
    Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, WAIT, client};

/// Polls `api.get(name)` until `check` holds; every wait ends after [`WAIT`].
async fn wait_get<K>(api: &Api<K>, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    loop {
        if let Ok(obj) = api.get(name).await {
            if check(&obj) {
                return obj;
            }
            last = Some(obj);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls a list until an item satisfies `check`, and returns the first that does.
async fn wait_first<K>(
    api: &Api<K>,
    params: &ListParams,
    what: &str,
    check: impl Fn(&K) -> bool,
) -> K
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let deadline = Instant::now() + WAIT;
    loop {
        let items = api.list(params).await.expect("list").items;
        if let Some(found) = items.iter().find(|i| check(i)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last list: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether the kubelet has reported the pod's containers yet.
fn has_container_statuses(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some()
}

fn typed<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).expect("a valid object")
}

async fn setup(scenario: Scenario, ns: &str) -> (FakeKube, kube::Client) {
    let kube = FakeKube::start(scenario).unwrap();
    let client = client(&kube).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &typed(support::namespace(ns)))
        .await
        .unwrap();
    (kube, client)
}

async fn deploy(client: &kube::Client, ns: &str, name: &str, replicas: i64) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    api.create(
        &PostParams::default(),
        &typed(support::deployment(name, ns, replicas)),
    )
    .await
    .unwrap();
}

/// The pods of a Deployment (by its `app` label).
fn pods_of(name: &str) -> ListParams {
    ListParams::default().labels(&format!("app={name}"))
}

fn container_state(pod: &Pod) -> Value {
    serde_json::to_value(
        &pod.status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0],
    )
    .unwrap()
}

async fn events_of(client: &kube::Client, ns: &str, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .unwrap()
        .items
}

fn has_event(events: &[Event], kind: &str, reason: &str, message_part: &str) -> bool {
    events.iter().any(|e| {
        e.type_.as_deref() == Some(kind)
            && e.reason.as_deref() == Some(reason)
            && e.message
                .as_deref()
                .is_some_and(|m| m.contains(message_part))
    })
}

#[tokio::test]
async fn pod_ready_runs_init_containers_then_becomes_ready() {
    let (_kube, client) = setup(Scenario::ready(), "ready").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "ready");
    let mut pod = support::deployment("x", "ready", 1)["spec"]["template"].clone();
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    pod["metadata"]["name"] = json!("solo");
    pod["spec"]["initContainers"] = json!([{"name": "setup-db", "image": "busybox:1"}]);
    pods.create(&PostParams::default(), &typed(pod))
        .await
        .unwrap();
    let pod = wait_get(&pods, "solo", "solo ready", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    let status = pod.status.unwrap();
    assert_eq!(
        pod.spec.unwrap().node_name.as_deref(),
        Some("kind-control-plane")
    );
    assert!(status.pod_ip.unwrap().starts_with("10.244."));
    let init = &status.init_container_statuses.unwrap()[0];
    assert_eq!(
        init.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    let ready = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True");
    let events = events_of(&client, "ready", "solo").await;
    assert!(has_event(
        &events,
        "Normal",
        "Scheduled",
        "Successfully assigned ready/solo to kind-control-plane"
    ));
    assert!(has_event(
        &events,
        "Normal",
        "Started",
        "Started container app"
    ));
}

#[tokio::test]
async fn pod_slow_is_container_creating_first() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("tortoise"), Behaviour::Slow).delay_ms(400));
    let (_kube, client) = setup(scenario, "slow").await;
    deploy(&client, "slow", "tortoise", 1).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "slow");
    let started = Instant::now();
    let pod = wait_first(
        &pods,
        &pods_of("tortoise"),
        "a creating pod",
        has_container_statuses,
    )
    .await;
    assert_eq!(
        container_state(&pod)["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    let name = pod.metadata.name.unwrap();
    wait_get(&pods, &name, "ready after the delay", |p| {
        container_state(p)["ready"] == true
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "ready only after the delay"
    );
}

#[tokio::test]
async fn pod_image_pull_backoff_goes_from_err_image_pull_to_back_off_with_events() {
    let scenario = Scenario::ready().with_pod(
        PodRule::new(PodMatch::owner("broken"), Behaviour::ImagePullBackoff).delay_ms(150),
    );
    let (_kube, client) = setup(scenario, "pull").await;
    deploy(&client, "pull", "broken", 1).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "pull");
    let pod = wait_first(
        &pods,
        &pods_of("broken"),
        "ErrImagePull",
        has_container_statuses,
    )
    .await;
    assert_eq!(
        container_state(&pod)["state"]["waiting"]["reason"],
        "ErrImagePull"
    );
    let name = pod.metadata.name.unwrap();
    let pod = wait_get(&pods, &name, "ImagePullBackOff", |p| {
        container_state(p)["state"]["waiting"]["reason"] == "ImagePullBackOff"
    })
    .await;
    assert_eq!(
        container_state(&pod)["state"]["waiting"]["message"],
        "Back-off pulling image \"ghcr.io/example/broken:1.0\""
    );
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Pending"));
    let events = events_of(&client, "pull", &name).await;
    assert!(has_event(
        &events,
        "Normal",
        "Pulling",
        "Pulling image \"ghcr.io/example/broken:1.0\""
    ));
    assert!(has_event(
        &events,
        "Warning",
        "Failed",
        "Failed to pull image \"ghcr.io/example/broken:1.0\""
    ));
    assert!(has_event(
        &events,
        "Warning",
        "Failed",
        "Error: ErrImagePull"
    ));
    assert!(has_event(
        &events,
        "Normal",
        "BackOff",
        "Back-off pulling image"
    ));
    assert!(has_event(
        &events,
        "Warning",
        "Failed",
        "Error: ImagePullBackOff"
    ));
    // The kubelet refuses logs of a container that never started.
    let err = pods.logs(&name, &LogParams::default()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("is waiting to start: trying and failing to pull image"),
        "{err}"
    );
}

#[tokio::test]
async fn pod_crashloop_restarts_with_last_state_and_previous_logs() {
    let rule = PodRule {
        exit_code: Some(3),
        ..PodRule::new(PodMatch::owner("crasher"), Behaviour::Crashloop).delay_ms(40)
    };
    let (_kube, client) = setup(Scenario::ready().with_pod(rule), "crash").await;
    deploy(&client, "crash", "crasher", 1).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "crash");
    let pod = wait_first(&pods, &pods_of("crasher"), "two restarts", |p| {
        container_state(p)["restartCount"].as_u64() >= Some(2)
    })
    .await;
    let state = container_state(&pod);
    assert_eq!(state["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(state["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(state["ready"], false);
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    let name = pod.metadata.name.unwrap();
    let back_off = wait_get(&pods, &name, "CrashLoopBackOff", |p| {
        container_state(p)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    })
    .await;
    let message = container_state(&back_off)["state"]["waiting"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("back-off ")
            && message.contains("restarting failed container=app pod=crasher-"),
        "{message}"
    );
    let previous = pods
        .logs(
            &name,
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert!(previous.contains("exited with code 3"), "{previous}");
}

#[tokio::test]
async fn pod_never_ready_runs_without_becoming_ready() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("sulky"), Behaviour::NeverReady).delay_ms(50));
    let (_kube, client) = setup(scenario, "sulk").await;
    deploy(&client, "sulk", "sulky", 1).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "sulk");
    let pod = wait_first(&pods, &pods_of("sulky"), "a running pod", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    let state = container_state(&pod);
    assert!(state["state"]["running"].is_object());
    assert_eq!(state["ready"], false);
    let name = pod.metadata.name.unwrap();
    let events = events_of(&client, "sulk", &name).await;
    assert!(has_event(
        &events,
        "Warning",
        "Unhealthy",
        "Readiness probe failed"
    ));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "sulk");
    let d = wait_get(&deployments, "sulky", "status observed", |d| {
        d.status.as_ref().and_then(|s| s.observed_generation) == Some(1)
    })
    .await;
    assert_eq!(
        d.status.unwrap().available_replicas,
        None,
        "nothing available"
    );
}

#[tokio::test]
async fn pod_init_crash_stays_initializing() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("initfail"), Behaviour::InitCrash).delay_ms(30));
    let (_kube, client) = setup(scenario, "init").await;
    let mut deployment = support::deployment("initfail", "init", 1);
    deployment["spec"]["template"]["spec"]["initContainers"] =
        json!([{"name": "setup-db", "image": "busybox:1"}]);
    let api: Api<Deployment> = Api::namespaced(client.clone(), "init");
    api.create(&PostParams::default(), &typed(deployment))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "init");
    let pod = wait_first(&pods, &pods_of("initfail"), "an init restart", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_ref())
            .is_some_and(|s| s[0].restart_count >= 1)
    })
    .await;
    let status = pod.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    let init = &status.init_container_statuses.unwrap()[0];
    assert_eq!(
        init.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
    assert_eq!(
        container_state_of(&status.container_statuses.unwrap()[0]),
        "PodInitializing"
    );
    let initialized = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Initialized")
        .unwrap();
    assert_eq!(
        (initialized.status.as_str(), initialized.reason.as_deref()),
        ("False", Some("ContainersNotInitialized"))
    );
}

fn container_state_of(status: &k8s_openapi::api::core::v1::ContainerStatus) -> String {
    status
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .reason
        .clone()
        .unwrap()
}

#[tokio::test]
async fn pod_unschedulable_is_never_bound() {
    let scenario = Scenario::ready().with_pod(PodRule::new(
        PodMatch::labels([("app", "huge")]),
        Behaviour::Unschedulable,
    ));
    let (_kube, client) = setup(scenario, "sched").await;
    deploy(&client, "sched", "huge", 1).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "sched");
    let pod = wait_first(&pods, &pods_of("huge"), "an unschedulable pod", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some()
    })
    .await;
    assert_eq!(pod.spec.as_ref().unwrap().node_name, None);
    let scheduled = pod
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(
        (scheduled.status.as_str(), scheduled.reason.as_deref()),
        ("False", Some("Unschedulable"))
    );
    let events = events_of(&client, "sched", &pod.metadata.name.unwrap()).await;
    assert!(has_event(
        &events,
        "Warning",
        "FailedScheduling",
        "0/1 nodes are available"
    ));
}

#[tokio::test]
async fn deployment_rolls_out_through_a_replicaset_with_conditions_and_events() {
    let (_kube, client) = setup(Scenario::ready(), "roll").await;
    deploy(&client, "roll", "web", 2).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "roll");
    let d = wait_get(&deployments, "web", "web available", |d| {
        d.status.as_ref().and_then(|s| s.available_replicas) == Some(2)
    })
    .await;
    let status = d.status.unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas
        ),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(status.observed_generation, Some(1));
    let conditions = status.conditions.unwrap();
    let available = conditions.iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    let progressing = conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );

    let replicasets: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        Api::namespaced(client.clone(), "roll");
    let rs = replicasets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(rs.len(), 1);
    let hash = rs[0].metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        rs[0].metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "roll");
    let pods = pods.list(&pods_of("web")).await.unwrap().items;
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| {
        p.metadata
            .name
            .as_ref()
            .unwrap()
            .starts_with(&format!("web-{hash}-"))
    }));
    assert!(
        pods.iter()
            .all(|p| p.metadata.labels.as_ref().unwrap()["pod-template-hash"] == hash)
    );
    let events = events_of(&client, "roll", "web").await;
    assert!(has_event(
        &events,
        "Normal",
        "ScalingReplicaSet",
        &format!("Scaled up replica set web-{hash} from 0 to 2")
    ));

    // A new template: a second ReplicaSet, the old one scaled down once the new is available.
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}})))
        .await
        .unwrap();
    wait_get(&deployments, "web", "generation 2 rolled out", |d| {
        let s = d.status.as_ref().unwrap();
        s.observed_generation == Some(2)
            && s.updated_replicas == Some(2)
            && s.replicas == Some(2)
            && s.available_replicas == Some(2)
    })
    .await;
    let events = events_of(&client, "roll", "web").await;
    assert!(has_event(
        &events,
        "Normal",
        "ScalingReplicaSet",
        &format!("Scaled down replica set web-{hash} from 2 to 0")
    ));
}

#[tokio::test]
async fn deployment_observed_generation_lags_as_configured() {
    let scenario = Scenario::ready()
        .with_deployment(DeploymentRule::new("laggy").observed_generation_lag_ms(500));
    let (_kube, client) = setup(scenario, "lag").await;
    deploy(&client, "lag", "laggy", 1).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "lag");
    wait_get(&deployments, "laggy", "generation 1 available", |d| {
        d.status.as_ref().and_then(|s| s.available_replicas) == Some(1)
    })
    .await;
    let changed_at = Instant::now();
    let patched = deployments
        .patch("laggy", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/example/laggy:2.0"}]}}}})))
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    // The status still describes generation 1, complete, for the lag.
    let stale = deployments.get("laggy").await.unwrap();
    let s = stale.status.unwrap();
    assert_eq!(
        (s.observed_generation, s.available_replicas),
        (Some(1), Some(1))
    );
    let observed = wait_get(&deployments, "laggy", "generation 2 observed", |d| {
        d.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
    })
    .await;
    assert!(
        changed_at.elapsed() >= Duration::from_millis(450),
        "observed after {:?}",
        changed_at.elapsed()
    );
    assert_eq!(observed.metadata.generation, Some(2));
}

#[tokio::test]
async fn deployment_progress_deadline_exceeded() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(
            PodMatch::owner("stalled"),
            Behaviour::ImagePullBackoff,
        ))
        .with_deployment(DeploymentRule::new("stalled").progress_deadline_ms(300));
    let (_kube, client) = setup(scenario, "deadline").await;
    deploy(&client, "deadline", "stalled", 1).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "deadline");
    let d = wait_get(&deployments, "stalled", "ProgressDeadlineExceeded", |d| {
        d.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.type_ == "Progressing"
                        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                })
            })
    })
    .await;
    let status = d.status.unwrap();
    let progressing = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(progressing.status, "False");
    assert!(
        progressing
            .message
            .unwrap()
            .ends_with("has timed out progressing.")
    );
    assert_eq!(status.unavailable_replicas, Some(1));
}

#[tokio::test]
async fn statefulset_creates_ordered_pods_and_claims() {
    let (_kube, client) = setup(Scenario::ready(), "sts").await;
    let sts = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {
            "replicas": 2, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "pg", "image": "postgres:15-alpine"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    });
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), "sts");
    api.create(&PostParams::default(), &typed(sts))
        .await
        .unwrap();
    let ready = wait_get(&api, "db", "2 ready replicas", |s| {
        s.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await;
    let status = ready.status.unwrap();
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(status.observed_generation, Some(1));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "sts");
    let names: Vec<String> = pods
        .list(&pods_of("db"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["db-0", "db-1"]);
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client.clone(), "sts");
    let claim = claims.get("data-db-0").await.unwrap();
    assert_eq!(claim.status.unwrap().phase.as_deref(), Some("Bound"));
}

#[tokio::test]
async fn jobs_complete_or_fail() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("doomed"), Behaviour::Crashloop).delay_ms(20));
    let (_kube, client) = setup(scenario, "jobs").await;
    let job = |name: &str| {
        typed::<Job>(json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox:1"}]}}},
        }))
    };
    let jobs: Api<Job> = Api::namespaced(client.clone(), "jobs");
    jobs.create(&PostParams::default(), &job("fine"))
        .await
        .unwrap();
    jobs.create(&PostParams::default(), &job("doomed"))
        .await
        .unwrap();
    let condition = |j: &Job, kind: &str| {
        j.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
    };
    let fine = wait_get(&jobs, "fine", "Complete", |j| condition(j, "Complete")).await;
    assert_eq!(fine.status.as_ref().unwrap().succeeded, Some(1));
    assert!(condition(&fine, "SuccessCriteriaMet"));
    let doomed = wait_get(&jobs, "doomed", "Failed", |j| condition(j, "Failed")).await;
    let failed = doomed
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Failed")
        .unwrap()
        .clone();
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        doomed.status.unwrap().failed,
        Some(2),
        "backoffLimit 1: two failed pods"
    );
    let events = events_of(&client, "jobs", "doomed").await;
    assert!(has_event(
        &events,
        "Warning",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit"
    ));
}

#[tokio::test]
async fn services_get_cluster_ips_and_endpoints() {
    let (_kube, client) = setup(Scenario::ready(), "svc").await;
    deploy(&client, "svc", "web", 2).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "svc");
    for (name, target) in [
        ("web", json!("http")),
        ("web-missing-port", json!("websocket")),
    ] {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8000, "targetPort": target}]}});
        services
            .create(&PostParams::default(), &typed(svc))
            .await
            .unwrap();
    }
    let svc = services.get("web").await.unwrap();
    let ip = svc.spec.unwrap().cluster_ip.unwrap();
    assert!(ip.starts_with("10.96."), "{ip}");
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "svc");
    let ep = wait_get(&endpoints, "web", "two ready addresses", |e| {
        e.subsets
            .as_ref()
            .and_then(|s| s.first())
            .and_then(|s| s.addresses.as_ref())
            .is_some_and(|a| a.len() == 2)
    })
    .await;
    let subset = &ep.subsets.unwrap()[0];
    assert_eq!(subset.ports.as_ref().unwrap()[0].port, 8000);
    assert!(
        subset
            .addresses
            .as_ref()
            .unwrap()
            .iter()
            .all(|a| a.ip.starts_with("10.244."))
    );
    // A named targetPort the pods do not declare: no endpoints (the backend-ws trap). The
    // controller writes each Service's Endpoints in its own time: wait for it to exist.
    let missing = wait_get(
        &endpoints,
        "web-missing-port",
        "an Endpoints object",
        |_| true,
    )
    .await;
    assert!(
        missing.subsets.is_none_or(|s| s.is_empty()),
        "no pod has a `websocket` port"
    );
}

#[tokio::test]
async fn namespace_deletion_cascades_or_sticks() {
    let kube = FakeKube::start(Scenario::ready().with_stuck_namespace("sticky")).unwrap();
    let client = client(&kube).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in ["gone", "sticky"] {
        namespaces
            .create(&PostParams::default(), &typed(support::namespace(name)))
            .await
            .unwrap();
        let ns = wait_get(&namespaces, name, "Active", |n| {
            n.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active")
        })
        .await;
        assert_eq!(ns.spec.unwrap().finalizers.unwrap(), ["kubernetes"]);
        deploy(&client, name, "web", 1).await;
    }
    let mut watch = namespaces
        .watch(
            &WatchParams::default()
                .fields("metadata.name=gone")
                .timeout(10),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    namespaces
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    let mut terminating = false;
    loop {
        match support::within("namespace events", watch.try_next())
            .await
            .unwrap()
        {
            Some(WatchEvent::Modified(ns)) => {
                terminating |= ns.status.unwrap().phase.as_deref() == Some("Terminating");
            }
            Some(WatchEvent::Deleted(_)) => break,
            Some(_) => {}
            None => panic!("the watch ended before the namespace was gone"),
        }
    }
    assert!(terminating, "Terminating before gone");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "gone");
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    namespaces
        .delete("sticky", &DeleteParams::default())
        .await
        .unwrap();
    let sticky = wait_get(&namespaces, "sticky", "stuck with its contents gone", |n| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "NamespaceContentRemaining" && c.status == "False")
            })
    })
    .await;
    let status = sticky.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Terminating"));
    let discovery = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "NamespaceDeletionDiscoveryFailure")
        .unwrap();
    assert_eq!(
        (discovery.status.as_str(), discovery.reason.as_deref()),
        ("True", Some("DiscoveryFailed"))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(namespaces.get("sticky").await.is_ok(), "still there");
}

#[tokio::test]
async fn fault_latency_and_status_codes() {
    let scenario = Scenario::ready()
        .with_fault(
            Fault::path("/api/v1/namespaces/faults/configmaps")
                .method("GET")
                .watch(false)
                .latency_ms(250),
        )
        .with_fault(
            Fault::path("/api/v1/namespaces/faults/secrets")
                .status(500)
                .times(2),
        )
        .with_fault(
            Fault::path("/api/v1/namespaces/faults/serviceaccounts")
                .status(503)
                .times(2),
        );
    let (_kube, client) = setup(scenario, "faults").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "faults");
    let begun = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(
        begun.elapsed() >= Duration::from_millis(250),
        "slow route: {:?}",
        begun.elapsed()
    );
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "faults");
    for _ in 0..2 {
        match secrets.list(&ListParams::default()).await.unwrap_err() {
            kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (500, "InternalError")),
            other => panic!("{other:?}"),
        }
    }
    secrets
        .list(&ListParams::default())
        .await
        .expect("healthy after two failures");
    // kube-rs retries 503 by itself: two injected 503s make one slower, successful call.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "faults");
    accounts
        .list(&ListParams::default())
        .await
        .expect("retried through two 503s");
}

#[tokio::test]
async fn fault_watch_dropped_after_n_events() {
    let scenario = Scenario::ready().with_fault(
        Fault::path("/api/v1/namespaces/drop/configmaps")
            .watch(true)
            .drop_watch_after_events(2),
    );
    let (_kube, client) = setup(scenario, "drop").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "drop");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    for i in 0..4 {
        cms.create(
            &PostParams::default(),
            &typed(json!({"metadata": {"name": format!("c{i}")}})),
        )
        .await
        .unwrap();
    }
    let mut received = 0;
    while let Some(event) = support::within("watch events", stream.try_next())
        .await
        .unwrap()
    {
        assert!(matches!(event, WatchEvent::Added(_)), "{event:?}");
        received += 1;
    }
    assert_eq!(received, 2, "the stream ended after two events");
}

#[tokio::test]
async fn fault_port_forward_closed_after_n_bytes() {
    let scenario = Scenario::ready()
        .with_fault(Fault::path("/api/v1/namespaces/cut/pods").close_after_bytes(40));
    let (kube, client) = setup(scenario, "cut").await;
    deploy(&client, "cut", "web", 1).await;
    let pod = support::wait_pod(&kube, "cut", "a ready pod", |p| {
        support::first_container(p)["ready"] == true
    });
    let pods: Api<Pod> = Api::namespaced(client.clone(), "cut");
    let mut forwarder = pods.portforward(&pod, &[8000]).await.unwrap();
    let mut stream = forwarder.take_stream(8000).unwrap();
    stream
        .write_all(
            b"GET /api/v2/system/diagnostics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = support::within("the cut stream", stream.read_to_end(&mut got)).await;
    assert_eq!(got.len(), 40, "cut after 40 bytes");
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
}

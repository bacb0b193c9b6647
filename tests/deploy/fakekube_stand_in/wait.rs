//! `cluster::wait`: rollout rules, failing fast, deadlines, surviving watch faults, measured
//! against the stand-in's pod behaviours.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fakekube::{Behaviour, DeploymentRule, Fault, PodMatch, PodRule, Scenario};
use futures_util::StreamExt;
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use stackctl::cluster::wait::{WaitRequest, WorkloadResult, WorkloadState, wait};

use super::support::{
    self, Stand, deployment, job, reference, seed, stand_in, statefulset, within,
};

const NS: &str = "waits";

/// Wait in this module's namespace.
async fn wait_for(
    stand: &Stand,
    workloads: &[&Value],
    timeout: Duration,
) -> (Vec<WorkloadResult>, Duration) {
    support::wait_for(stand, NS, workloads, timeout).await
}

/// A stand-in with `scenario` holding the Deployment `web` (as `edit` leaves it).
async fn web_on(scenario: Scenario, edit: impl FnOnce(&mut Value)) -> (Stand, Value) {
    let stand = stand_in(scenario).await;
    let mut web = deployment("web", NS);
    edit(&mut web);
    seed(&stand.kube, NS, &[&web]);
    (stand, web)
}

fn pods_of_web(behaviour: Behaviour) -> Scenario {
    Scenario::ready().with_pod(PodRule::new(PodMatch::owner("web"), behaviour))
}

/// `web` rolled out on `scenario` fails well before a 60 s deadline: why.
async fn fails_fast(scenario: Scenario, edit: impl FnOnce(&mut Value)) -> String {
    let (stand, web) = web_on(scenario, edit).await;
    let (results, took) = wait_for(&stand, &[&web], Duration::from_secs(60)).await;
    assert!(
        took < Duration::from_secs(5),
        "failed fast, not at the deadline: {took:?}"
    );
    failed_reason(&results[0]).to_string()
}

/// `web` rolled out on `scenario` is not ready at a 1.5 s deadline: what it last waited for.
async fn times_out(scenario: Scenario) -> String {
    let (stand, web) = web_on(scenario, |_| {}).await;
    let deadline = Duration::from_millis(1500);
    let (results, took) = wait_for(&stand, &[&web], deadline).await;
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(1),
        "{took:?}"
    );
    assert!(results[0].duration_ms >= 1500);
    match &results[0].state {
        WorkloadState::TimedOut { last } => last.clone(),
        other => panic!("waits for the deadline, not {other:?}"),
    }
}

fn failed_reason(result: &WorkloadResult) -> &str {
    match &result.state {
        WorkloadState::Failed { reason } => reason,
        other => panic!("{} should have failed, it is {other:?}", result.workload),
    }
}

#[tokio::test]
async fn deployments_statefulsets_and_jobs_become_ready_with_progress() {
    let stand = stand_in(Scenario::ready()).await;
    let (web, db, task) = (
        deployment("web", NS),
        statefulset("db", NS),
        job("migrate", NS),
    );
    seed(&stand.kube, NS, &[&web, &db, &task]);
    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let progress = {
        let seen = seen.clone();
        move |ready: usize, total: usize| seen.lock().unwrap().push((ready, total))
    };
    let request = WaitRequest {
        namespace: NS.to_string(),
        workloads: [&web, &db, &task].iter().map(|w| reference(w)).collect(),
        timeout: support::WAIT,
    };
    let results = within("wait", wait(&stand.cluster, &request, &progress))
        .await
        .unwrap();
    for result in &results {
        assert_eq!(result.state, WorkloadState::Ready, "{}", result.workload);
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first().map(|s| s.1), Some(3), "{seen:?}");
    assert_eq!(seen.last(), Some(&(3, 3)), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "called on changes only: {seen:?}"
    );
}

#[tokio::test]
async fn image_pull_backoff_fails_fast_naming_the_container_and_reason() {
    let reason = fails_fast(pods_of_web(Behaviour::ImagePullBackoff), |_| {}).await;
    assert!(reason.contains("container app"), "{reason}");
    assert!(
        reason.contains("ErrImagePull") || reason.contains("ImagePullBackOff"),
        "{reason}"
    );
    assert!(
        reason.contains("ghcr.io/example/web:1.0"),
        "the message names the image: {reason}"
    );
}

#[tokio::test]
async fn a_crash_loop_fails_fast_after_restarts() {
    let reason = fails_fast(pods_of_web(Behaviour::Crashloop), |_| {}).await;
    // Two restarts at least (a loaded machine may see the stand-in's third first).
    let restarts: u32 = reason
        .split("CrashLoopBackOff after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{reason}"));
    assert!(
        reason.contains("container app: CrashLoopBackOff after ") && restarts >= 2,
        "{reason}"
    );
    assert!(reason.contains("exit code 1"), "{reason}");
}

#[tokio::test]
async fn an_init_container_crash_loop_fails_fast() {
    let reason = fails_fast(pods_of_web(Behaviour::InitCrash), |web| {
        web["spec"]["template"]["spec"]["initContainers"] =
            json!([{"name": "migrate", "image": "ghcr.io/example/migrate:1.0"}]);
    })
    .await;
    assert!(
        reason.contains("init container migrate: CrashLoopBackOff"),
        "{reason}"
    );
}

#[tokio::test]
async fn the_progress_deadline_fails_fast() {
    let scenario = pods_of_web(Behaviour::NeverReady)
        .with_deployment(DeploymentRule::new("web").progress_deadline_ms(300));
    let reason = fails_fast(scenario, |_| {}).await;
    assert!(reason.starts_with("ProgressDeadlineExceeded"), "{reason}");
    assert!(
        reason.contains("running, not ready"),
        "the pod's state comes along: {reason}"
    );
}

#[tokio::test]
async fn never_ready_times_out_at_the_deadline() {
    let last = times_out(pods_of_web(Behaviour::NeverReady)).await;
    assert!(last.contains("0 of 1 updated replicas available"), "{last}");
    assert!(last.contains("container app: running, not ready"), "{last}");
}

#[tokio::test]
async fn unschedulable_pods_do_not_fail_fast() {
    let last = times_out(pods_of_web(Behaviour::Unschedulable)).await;
    assert!(last.contains("PodScheduled: Unschedulable"), "{last}");
}

#[tokio::test]
async fn an_observed_generation_lag_gives_no_success_before_it_ends() {
    const LAG: Duration = Duration::from_millis(800);
    let (stand, web) = web_on(
        Scenario::ready().with_deployment(
            DeploymentRule::new("web").observed_generation_lag_ms(LAG.as_millis() as u64),
        ),
        |_| {},
    )
    .await;
    let (first, _) = wait_for(&stand, &[&web], support::WAIT).await;
    assert_eq!(first[0].state, WorkloadState::Ready);

    // A new template: generation 2, while the status still describes generation 1 as complete.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(stand.cluster.client().clone(), NS);
    let changed = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/example/web:2.0"}]}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(&changed))
        .await
        .unwrap();
    let patched_at = Instant::now();
    let (second, _) = wait_for(&stand, &[&web], support::WAIT).await;
    let took = patched_at.elapsed();
    assert_eq!(second[0].state, WorkloadState::Ready);
    // The stand-in started the lag when it stored the patch, just before `patched_at`.
    assert!(
        took >= LAG - Duration::from_millis(50),
        "success {took:?} after the patch, before the {LAG:?} lag ended"
    );
    let live = stand
        .kube
        .store()
        .get("deployments.apps", NS, "web")
        .unwrap();
    assert_eq!(live["status"]["observedGeneration"], 2);
}

#[tokio::test]
async fn a_dropped_watch_is_survived() {
    // Every watch stream ends after 2 events; the pods take 600 ms to start, so readiness
    // arrives on a resumed watch.
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("web"), Behaviour::Slow).delay_ms(600))
        .with_fault(Fault::path("/").watch(true).drop_watch_after_events(2));
    let (stand, web) = web_on(scenario, |_| {}).await;
    let (results, took) = wait_for(&stand, &[&web], support::WAIT).await;
    assert_eq!(results[0].state, WorkloadState::Ready);
    assert!(
        took >= Duration::from_millis(500),
        "readiness came after the drops: {took:?}"
    );
}

#[tokio::test]
async fn a_410_gone_is_survived_by_a_relist() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("web"), Behaviour::Slow).delay_ms(800));
    let (stand, web) = web_on(scenario, |_| {}).await;
    let workloads = [&web];
    let waiting = wait_for(&stand, &workloads, support::WAIT);
    let expire = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Forget the history and end every watch: resuming from the old resourceVersion
        // gets 410 Expired, on which the watcher lists again.
        stand.kube.compact();
        stand.kube.reset_watches();
    };
    let ((results, took), ()) = tokio::join!(waiting, expire);
    assert_eq!(results[0].state, WorkloadState::Ready);
    assert!(took >= Duration::from_millis(700), "{took:?}");
}

#[tokio::test]
async fn cancellation_ends_the_wait_at_once() {
    let (stand, web) = web_on(pods_of_web(Behaviour::NeverReady), |_| {}).await;
    let request = WaitRequest {
        namespace: NS.to_string(),
        workloads: vec![reference(&web)],
        timeout: Duration::from_secs(60),
    };
    let cancel = stand.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let result = within("cancelled wait", wait(&stand.cluster, &request, &|_, _| {})).await;
    let error = result.expect_err("a cancelled wait is an error");
    assert!(error.is_cancelled(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// `b - a` in milliseconds, negative when `b` came first.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    if b >= a {
        (b - a).as_secs_f64() * 1000.0
    } else {
        -((a - b).as_secs_f64() * 1000.0)
    }
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "{} (median {:.1} ms)",
        ms.iter()
            .map(|l| format!("{l:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        ms[ms.len() / 2]
    )
}

/// Whether a Deployment (as JSON) is Available for its current generation.
fn available(d: &Value) -> bool {
    d["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    }) && d["status"]["observedGeneration"] == d["metadata"]["generation"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_detection_latency_is_measured() {
    // Measured and printed, not asserted (the goal, docs/performance.md, is under 50 ms), over five
    // rollouts, one at a time, two ways:
    // - end to end: from the first instant a thread reading the stand-in's store without
    //   pause sees the Deployment Available, to `wait` returning Ready. On a loaded 2-core
    //   machine that thread is not always scheduled: it can see the change late, even after
    //   `wait` returned (negative values).
    // - stackctl's own share: from a plain kube-rs watch of the Deployment in this process
    //   receiving the Available status, to `wait` returning.
    let stand = Arc::new(
        stand_in(Scenario::ready().with_pod(
            PodRule::new(PodMatch::labels([("measured", "yes")]), Behaviour::Slow).delay_ms(300),
        ))
        .await,
    );
    stand.kube.create(support::namespace(NS)).unwrap();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(stand.cluster.client().clone(), NS);
    let (mut end_to_end, mut own) = (Vec::new(), Vec::new());
    for round in 0..5 {
        let name = format!("web-{round}");
        let mut web = deployment(&name, NS);
        web["spec"]["template"]["metadata"]["labels"]["measured"] = json!("yes");
        stand.kube.create(web.clone()).unwrap();
        let observer = {
            let stand = stand.clone();
            let name = name.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + support::WAIT;
                while Instant::now() < deadline {
                    let d = stand.kube.store().get("deployments.apps", NS, &name);
                    if d.as_ref().is_some_and(available) {
                        return Some(Instant::now());
                    }
                    std::thread::yield_now();
                }
                None
            })
        };
        let reference = {
            let deployments = deployments.clone();
            let params = WatchParams::default().fields(&format!("metadata.name={name}"));
            tokio::spawn(async move {
                let mut stream = deployments.watch(&params, "0").await.unwrap().boxed();
                while let Some(event) = stream.next().await {
                    if let Ok(WatchEvent::Added(d) | WatchEvent::Modified(d)) = event
                        && available(&serde_json::to_value(&d).unwrap())
                    {
                        return Instant::now();
                    }
                }
                panic!("the reference watch ended");
            })
        };
        let (results, _) = wait_for(&stand, &[&web], support::WAIT).await;
        let returned = Instant::now();
        assert_eq!(results[0].state, WorkloadState::Ready);
        let stored = observer
            .join()
            .unwrap()
            .expect("the stand-in marked it available");
        let delivered = within("reference watch", reference).await.unwrap();
        end_to_end.push(signed_ms(stored, returned));
        own.push(signed_ms(delivered, returned));
    }
    eprintln!(
        "readiness detection latency, 5 rollouts, ms: end to end (stand-in store -> wait returns): {}; stackctl's own (watch event received -> wait returns): {}",
        summary(end_to_end),
        summary(own)
    );
}

//! Acceptance 4 and 5: `test ci` survives a watch that the stand-in API server ends in the
//! middle of the wait, and a port-forward stream it cuts in the middle of a response; a
//! re-run after an object left the chart deletes it from the cluster.

use fakekube::{Behaviour, FakeKube, Fault, PodMatch, PodRule, Scenario};

use super::*;

/// The watch requests stackctl's client made on `path`, from its debug log
/// (`STACKCTL_LOG=kube_client=debug` logs every request with its URL).
fn watch_requests(stderr: &str, path: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("requesting") && l.contains(path) && l.contains("watch=true"))
        .count()
}

#[test]
fn fakekube_a_watch_dropped_mid_wait_is_resumed_and_the_run_passes() {
    // Every watch of the namespace's pods and Deployments ends after one event, while pods
    // take 600 ms to start: the wait sees its streams end many times before it is done.
    let pods = format!("/api/v1/namespaces/{CI_NAMESPACE}/pods");
    let deployments = format!("/apis/apps/v1/namespaces/{CI_NAMESPACE}/deployments");
    let kube = FakeKube::start(
        Scenario::ready()
            .with_pod(PodRule::new(PodMatch::default(), Behaviour::Slow).delay_ms(600))
            .with_fault(Fault::path(&pods).watch(true).drop_watch_after_events(1))
            .with_fault(
                Fault::path(&deployments)
                    .watch(true)
                    .drop_watch_after_events(1),
            ),
    )
    .unwrap();
    let mut sandbox = sandbox_for(&kube);
    sandbox.set_env("STACKCTL_LOG", "stackctl=debug,kube_client=debug");
    let (run, took) = test_ci(&sandbox, "json", &[]);
    eprintln!("test ci with dropped watches took {took:?}");
    let doc = run.json();
    run.success();
    assert_none_failed(&doc);
    assert_every_smoke_check_passed(&doc);
    // The streams were ended and watched again (from where they stopped): more than one
    // watch request each.
    let pod_watches = watch_requests(&run.stderr, &format!("{pods}?"));
    let deployment_watches = watch_requests(&run.stderr, &format!("{deployments}?"));
    eprintln!("pod watches: {pod_watches}, deployment watches: {deployment_watches}");
    assert!(pod_watches >= 2, "pods watched {pod_watches} times");
    assert!(
        deployment_watches >= 2,
        "deployments watched {deployment_watches} times"
    );
    // Each workload was ready only after its pods had started.
    let rollout = check(&doc, &format!("rollout/{CI_FRONTEND}"))["duration_ms"]
        .as_u64()
        .unwrap();
    assert!(rollout >= 300, "frontend ready after {rollout} ms");
}

#[test]
fn fakekube_a_port_forward_stream_cut_mid_response_is_survived() {
    // The first two port-forward streams to the API's pod are cut after 40 bytes from the
    // pod: in the middle of the first HTTP response (its status line and first header).
    let api_pods = format!("/api/v1/namespaces/{CI_NAMESPACE}/pods/{CI_API}-");
    let kube = FakeKube::start(
        Scenario::ready().with_fault(Fault::path(&api_pods).close_after_bytes(40).times(2)),
    )
    .unwrap();
    let mut sandbox = sandbox_for(&kube);
    sandbox.set_env("STACKCTL_LOG", "stackctl=debug,kube_client=debug");
    let (run, took) = test_ci(&sandbox, "json", &[]);
    eprintln!("test ci with cut port-forwards took {took:?}");
    let doc = run.json();
    run.success();
    assert_none_failed(&doc);
    assert_every_smoke_check_passed(&doc);
    // The API's pod was forwarded to more than twice: the cut streams, then good ones.
    let forwards = run
        .stderr
        .lines()
        .filter(|l| {
            l.contains("requesting") && l.contains(&api_pods) && l.contains("/portforward?")
        })
        .count();
    eprintln!("port-forward streams to the API pod: {forwards}");
    assert!(forwards >= 3, "{forwards} streams:\n{}", run.stderr);
}

#[test]
fn fakekube_a_rerun_after_redis_left_the_chart_deletes_it_from_the_cluster() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let sandbox = sandbox_for(&kube);
    let (run, _) = test_ci(&sandbox, "json", &[]);
    run.success();
    let redis = |kube: &FakeKube| {
        (
            kube.store()
                .get("statefulsets.apps", CI_NAMESPACE, "jetscale-ci-redis"),
            kube.store()
                .get("services", CI_NAMESPACE, "jetscale-ci-redis-master"),
        )
    };
    let (statefulset, service) = redis(&kube);
    assert!(statefulset.is_some() && service.is_some());
    let others = kube
        .store()
        .list("deployments.apps", Some(CI_NAMESPACE))
        .len();

    // Redis disabled in the variant's own values file: the chart no longer renders it.
    let values = sandbox.read("charts/jetscale/values.test.ci.yaml");
    sandbox.write(
        "charts/jetscale/values.test.ci.yaml",
        &format!("{values}\nredis:\n  enabled: false\n"),
    );
    let (run, _) = test_ci(&sandbox, "json", &[]);
    let doc = run.json();
    run.success();
    assert_eq!(redis(&kube), (None, None), "redis is still in the cluster");
    assert!(
        kube.store()
            .list("pods", Some(CI_NAMESPACE))
            .iter()
            .all(|p| !p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("jetscale-ci-redis-")),
        "a redis pod is left"
    );
    let apply = check(&doc, "apply")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(apply.contains("pruned"), "{apply}");
    assert!(apply.contains("jetscale-ci-redis"), "{apply}");
    // Nothing else went.
    assert_eq!(
        kube.store()
            .list("deployments.apps", Some(CI_NAMESPACE))
            .len(),
        others
    );
    assert!(
        kube.store()
            .get("statefulsets.apps", CI_NAMESPACE, "jetscale-ci-postgres")
            .is_some()
    );
}

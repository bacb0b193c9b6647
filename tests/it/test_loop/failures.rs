//! Acceptance 2 and 3: workloads that cannot become ready fail `test ci` fast (never-ready at
//! its deadline), with the pod, the container, the reason and the log or event lines that
//! explain it, in the human output and in `report.json` under `--diagnostics-dir` (with the
//! manifests and the layer chain); and a Deployment whose controller lags behind its
//! generation is never reported ready before the controller has caught up.

use std::time::Duration;

use fakekube::{Behaviour, DeploymentRule, FakeKube, PodMatch, PodRule, Scenario};
use serde_json::Value;

use super::*;

/// What a failure scenario must show.
struct Expect<'a> {
    /// The Deployment that fails.
    workload: &'a str,
    /// The container that explains it.
    container: &'a str,
    /// The reason, as the check and the diagnosis give it: one of these (the kubelet's
    /// reason can change while it is read, ErrImagePull to ImagePullBackOff).
    reasons: &'a [&'a str],
    /// Lines of a log or of events that explain it, each in the output and in the report.
    explanation: &'a [&'a str],
}

/// The `--timeout` of the scenarios that must fail fast: the run must end well before it.
const LONG_TIMEOUT: &str = "60s";
/// "Within seconds": the fail-fast runs end within this, a quarter of [`LONG_TIMEOUT`].
const FAST: Duration = Duration::from_secs(15);

/// Run `test ci` (human output, diagnostics written) against `scenario` with `--timeout
/// timeout`; check it fails with `expect` shown in the output and in `report.json`. Returns
/// how long the run took, the output and the report.
fn failing_run(scenario: Scenario, timeout: &str, expect: &Expect) -> (Duration, String, Value) {
    let kube = FakeKube::start(scenario).unwrap();
    let sandbox = sandbox_for(&kube);
    let dir = diagnostics_dir(&sandbox);
    let dir_arg = dir.display().to_string();
    let (run, took) = test_ci(
        &sandbox,
        "human",
        &["--timeout", timeout, "--diagnostics-dir", &dir_arg],
    );
    eprintln!("{}: exit {} after {took:?}", expect.workload, run.code);
    run.expect(1);
    let output = run.stdout.clone();

    // The pod that failed is one the cluster has, with the container named.
    let pods = pods_of(&kube, CI_NAMESPACE, expect.workload);
    assert!(!pods.is_empty(), "no pod of {}", expect.workload);
    let report = read_report(&dir);
    let rollout = check(&report, &format!("rollout/{}", expect.workload));
    assert_eq!(rollout["outcome"], "failed", "{rollout:#}");
    let message = rollout["message"].as_str().unwrap();
    let reason = |text: &str| expect.reasons.iter().any(|r| text.contains(r));
    assert!(reason(message), "{message}");
    assert!(
        output.contains(&format!("FAIL  rollout/{}", expect.workload)),
        "{output}"
    );

    // The human output: the diagnosis names the pod, the container, the reason and the
    // lines that explain it.
    assert!(
        output.contains(&format!("Deployment {CI_NAMESPACE}/{}: ", expect.workload)),
        "{output}"
    );
    assert!(
        pods.iter()
            .any(|pod| output.contains(&format!("  pod {pod} ("))),
        "none of {pods:?} in\n{output}"
    );
    assert!(
        output.contains(&format!("container {} (", expect.container)),
        "{output}"
    );
    assert!(reason(&output), "{output}");
    for line in expect.explanation {
        assert!(output.contains(line), "{line:?} not in\n{output}");
    }
    assert!(output.contains("next step: "), "{output}");

    // The same in report.json.
    let diagnosis = report["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == expect.workload)
        .unwrap_or_else(|| panic!("no diagnosis of {}: {report:#}", expect.workload));
    assert_eq!(diagnosis["kind"], "Deployment");
    let pod = diagnosis["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| pods.iter().any(|name| p["name"] == name.as_str()))
        .unwrap_or_else(|| panic!("none of {pods:?} in {diagnosis:#}"));
    let container = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == expect.container)
        .unwrap_or_else(|| panic!("no container {} in {pod:#}", expect.container));
    assert!(
        reason(&container.to_string()) || reason(diagnosis["problem"].as_str().unwrap()),
        "{diagnosis:#}"
    );
    for line in expect.explanation {
        assert!(
            strings(diagnosis).iter().any(|s| s.contains(line)),
            "{line:?} not in {diagnosis:#}"
        );
    }
    assert!(
        !diagnosis["next_step"].as_str().unwrap().is_empty(),
        "{diagnosis:#}"
    );

    // The manifests and the layer chain beside it.
    let manifest = std::fs::read_to_string(dir.join("manifest.yaml")).unwrap();
    assert!(
        manifest.contains(&format!("name: {}\n", expect.workload)),
        "{manifest}"
    );
    let layers = std::fs::read_to_string(dir.join("layers.txt")).unwrap();
    assert_eq!(
        layers,
        "charts/jetscale/values.yaml\ncharts/jetscale/values.test.yaml\ncharts/jetscale/values.test.ci.yaml\n"
    );
    (took, output, report)
}

/// Every string in a JSON value.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn fakekube_image_pull_backoff_fails_fast_naming_pod_container_and_pull_error() {
    let scenario = Scenario::ready().with_pod(PodRule::new(
        PodMatch::owner(CI_FRONTEND),
        Behaviour::ImagePullBackoff,
    ));
    let (took, ..) = failing_run(
        scenario,
        LONG_TIMEOUT,
        &Expect {
            workload: CI_FRONTEND,
            container: "frontend",
            reasons: &["ErrImagePull", "ImagePullBackOff"],
            explanation: &[
                "Failed to pull image \"ghcr.io/jetscale-ai/frontend:2.7.1\"",
                "Error: ErrImagePull",
            ],
        },
    );
    assert!(took < FAST, "took {took:?}");
}

#[test]
fn fakekube_crashloop_fails_fast_with_the_exit_code_and_the_previous_log() {
    let scenario = crashing(
        CI_WS,
        Behaviour::Crashloop,
        "backend-ws",
        "Traceback (most recent call last):\nRuntimeError: redis is on fire\n",
    );
    let (took, ..) = failing_run(
        scenario,
        LONG_TIMEOUT,
        &Expect {
            workload: CI_WS,
            container: "backend-ws",
            reasons: &["CrashLoopBackOff"],
            explanation: &["RuntimeError: redis is on fire", "exit code 1"],
        },
    );
    assert!(took < FAST, "took {took:?}");
}

#[test]
fn fakekube_init_crash_fails_fast_naming_the_init_container_and_its_log() {
    let scenario = crashing(
        CI_API,
        Behaviour::InitCrash,
        "setup-db",
        "waiting for postgres: connection refused\npostgres did not become reachable\n",
    );
    let (took, output, _) = failing_run(
        scenario,
        LONG_TIMEOUT,
        &Expect {
            workload: CI_API,
            container: "setup-db",
            reasons: &["CrashLoopBackOff"],
            explanation: &["postgres did not become reachable"],
        },
    );
    assert!(took < FAST, "took {took:?}");
    assert!(output.contains("init container setup-db ("), "{output}");
}

#[test]
fn fakekube_progress_deadline_fails_fast_with_the_deployment_condition() {
    // Pods that take a minute to start, and a progress deadline of 400 ms: the controller
    // says ProgressDeadlineExceeded long before the run's deadline.
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner(CI_WS), Behaviour::Slow).delay_ms(60_000))
        .with_deployment(DeploymentRule::new(CI_WS).progress_deadline_ms(400));
    let (took, ..) = failing_run(
        scenario,
        LONG_TIMEOUT,
        &Expect {
            workload: CI_WS,
            container: "backend-ws",
            reasons: &["ProgressDeadlineExceeded"],
            explanation: &["has timed out progressing", "ContainerCreating"],
        },
    );
    assert!(took < FAST, "took {took:?}");
}

#[test]
fn fakekube_never_ready_fails_at_the_deadline_with_the_readiness_events() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner(CI_FRONTEND), Behaviour::NeverReady).delay_ms(200));
    let (took, _, report) = failing_run(
        scenario,
        "3s",
        &Expect {
            workload: CI_FRONTEND,
            container: "frontend",
            reasons: &["not ready"],
            explanation: &["Readiness probe failed", "Unhealthy"],
        },
    );
    let rollout = check(&report, &format!("rollout/{CI_FRONTEND}"));
    assert!(
        rollout["message"]
            .as_str()
            .unwrap()
            .starts_with("not ready after 3 s: "),
        "{rollout:#}"
    );
    let rollout_ms = rollout["duration_ms"].as_u64().unwrap();
    assert!(
        rollout_ms >= 3000,
        "gave up after {rollout_ms} ms, before the deadline"
    );
    assert!(took >= Duration::from_secs(3), "took {took:?}");
    assert!(took < Duration::from_secs(3) + FAST, "took {took:?}");
}

#[test]
fn fakekube_a_lagging_observed_generation_is_not_reported_ready_before_the_lag_ends() {
    const LAG_MS: u64 = 1500;
    let kube = FakeKube::start(
        Scenario::ready()
            .with_deployment(DeploymentRule::new(CI_FRONTEND).observed_generation_lag_ms(LAG_MS)),
    )
    .unwrap();
    let sandbox = sandbox_for(&kube);
    let (run, took) = test_ci(&sandbox, "json", &[]);
    run.success();
    assert!(took >= Duration::from_millis(LAG_MS), "took {took:?}");

    // A change of the frontend's pod template: generation 2, while the status still says
    // generation 1 is fully available until the controller observes the change. A wait
    // that believed that status would report ready at once.
    let values = sandbox.read("charts/jetscale/values.test.ci.yaml");
    let changed = values.replace(
        "VITE_API_BASE_URL: http://jetscale-ci-backend-api:8000",
        "VITE_API_BASE_URL: http://jetscale-ci-backend-api:8000/\n    FEATURE_FLAG: \"on\"",
    );
    assert_ne!(values, changed);
    sandbox.write("charts/jetscale/values.test.ci.yaml", &changed);
    let (run, took) = test_ci(&sandbox, "json", &[]);
    let doc = run.json();
    run.success();
    assert_none_failed(&doc);
    let frontend = kube
        .store()
        .get("deployments.apps", CI_NAMESPACE, CI_FRONTEND)
        .unwrap();
    assert_eq!(frontend["metadata"]["generation"], 2, "{frontend:#}");
    assert_eq!(frontend["status"]["observedGeneration"], 2);
    // The lag began when the apply changed the Deployment, within the apply phase; the wait
    // began after it. Ready before apply + rollout reach the lag would be too early.
    let rollout_ms = check(&doc, &format!("rollout/{CI_FRONTEND}"))["duration_ms"]
        .as_u64()
        .unwrap();
    let apply_ms = phase_ms(&doc, "apply");
    eprintln!("second run: {took:?}, apply {apply_ms} ms, frontend ready after {rollout_ms} ms");
    assert!(
        apply_ms + rollout_ms >= LAG_MS,
        "reported ready {rollout_ms} ms into the wait (apply took {apply_ms} ms): before the {LAG_MS} ms lag ended"
    );
    assert!(took >= Duration::from_millis(LAG_MS), "took {took:?}");
}

//! `cluster::diagnose`: what a failing workload's diagnosis carries, and that a failing
//! diagnostic call is a line, not an error.

use std::time::Duration;

use fakekube::{Behaviour, Fault, LogRule, PodMatch, PodRule, Scenario};
use stackctl::checks::WorkloadDiagnosis;
use stackctl::cluster::diagnose::diagnose;
use stackctl::cluster::wait::WorkloadState;

use super::support::{Stand, deployment, job, seed, stand_in, statefulset, wait_for, within};

const NS: &str = "diag";

/// Roll out the Deployment `web`, expect it to fail, and diagnose it.
async fn failed_and_diagnosed(stand: &Stand) -> WorkloadDiagnosis {
    let web = deployment("web", NS);
    seed(&stand.kube, NS, &[&web]);
    let (results, _) = wait_for(stand, NS, &[&web], Duration::from_secs(60)).await;
    assert!(
        matches!(results[0].state, WorkloadState::Failed { .. }),
        "{:?}",
        results[0]
    );
    let mut diagnoses = within("diagnose", diagnose(&stand.cluster, NS, &results)).await;
    assert_eq!(diagnoses.len(), 1);
    diagnoses.remove(0)
}

#[tokio::test]
async fn an_image_pull_backoff_diagnosis_carries_the_reason_and_the_events() {
    let stand = stand_in(Scenario::ready().with_pod(PodRule::new(
        PodMatch::owner("web"),
        Behaviour::ImagePullBackoff,
    )))
    .await;
    let d = failed_and_diagnosed(&stand).await;
    assert_eq!(
        (d.kind.as_str(), d.name.as_str(), d.namespace.as_str()),
        ("Deployment", "web", NS)
    );
    assert!(d.problem.contains("ImagePull"), "{}", d.problem);
    assert_eq!(d.pods.len(), 1);
    let pod = &d.pods[0];
    assert_eq!(pod.phase, "Pending");
    let container = &pod.containers[0];
    assert_eq!(
        (container.name.as_str(), container.image.as_str()),
        ("app", "ghcr.io/example/web:1.0")
    );
    assert!(
        container.state.starts_with("waiting: ErrImagePull")
            || container.state.starts_with("waiting: ImagePullBackOff"),
        "{}",
        container.state
    );
    assert!(
        container.log_tail.is_empty(),
        "a container that never ran has no log to ask for"
    );
    assert!(
        d.events.iter().any(|e| e.kind == "Warning"
            && e.reason == "Failed"
            && e.message.contains("Failed to pull image")
            && e.object.starts_with("Pod/web-")),
        "{:#?}",
        d.events
    );
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == "ScalingReplicaSet" && e.object == "Deployment/web"),
        "the workload's own events: {:#?}",
        d.events
    );
    assert!(d.events.len() <= 20);
    assert!(
        d.next_step
            .starts_with("check the image tag ghcr.io/example/web:1.0"),
        "{}",
        d.next_step
    );
    assert!(
        d.next_step
            .contains("`kubectl --context kind-kind -n diag describe pod web-"),
        "{}",
        d.next_step
    );
    assert!(d.unavailable.is_empty(), "{:?}", d.unavailable);
}

#[tokio::test]
async fn a_crash_loop_diagnosis_carries_the_exit_code_events_and_previous_log() {
    let stand = stand_in(
        Scenario::ready()
            .with_pod(PodRule::new(PodMatch::owner("web"), Behaviour::Crashloop))
            .with_logs(LogRule {
                select: PodMatch::owner("web"),
                container: None,
                current: Some("starting\n".to_string()),
                previous: Some("Traceback (most recent call last):\n  File \"main.py\", line 1\nRuntimeError: boom\n".to_string()),
            }),
    )
    .await;
    let d = failed_and_diagnosed(&stand).await;
    let container = &d.pods[0].containers[0];
    assert!(container.restarts >= 2, "{container:?}");
    assert_eq!(
        container.last_terminated.as_deref(),
        Some("exit code 1 (Error)")
    );
    assert!(
        container
            .previous_log_tail
            .iter()
            .any(|l| l == "RuntimeError: boom"),
        "{:?}",
        container.previous_log_tail
    );
    assert!(d.events.iter().any(|e| e.reason == "BackOff" && e.message.contains("restarting failed container app")), "{:#?}", d.events);
    assert!(
        d.next_step
            .starts_with("container app exits 1: see its previous log above"),
        "{}",
        d.next_step
    );
    assert!(
        d.next_step.contains("logs web-") && d.next_step.contains("-c app --previous`"),
        "{}",
        d.next_step
    );
    assert!(
        d.pods[0]
            .conditions
            .iter()
            .any(|c| c.starts_with("Ready: ")),
        "{:?}",
        d.pods[0].conditions
    );
}

#[tokio::test]
async fn a_failing_diagnostic_call_becomes_a_line_of_the_diagnosis() {
    let stand = stand_in(
        Scenario::ready()
            .with_pod(PodRule::new(
                PodMatch::owner("web"),
                Behaviour::ImagePullBackoff,
            ))
            .with_fault(Fault::path(&format!("/api/v1/namespaces/{NS}/events")).status(500)),
    )
    .await;
    let d = failed_and_diagnosed(&stand).await;
    assert!(d.events.is_empty());
    assert!(!d.unavailable.is_empty());
    assert!(
        d.unavailable
            .iter()
            .all(|line| line.starts_with("events of ")),
        "{:?}",
        d.unavailable
    );
    // The rest is there.
    assert!(d.pods[0].containers[0].state.contains("ImagePull"));
}

#[tokio::test]
async fn jobs_and_statefulsets_are_diagnosed_from_their_own_pods() {
    let stand = stand_in(
        Scenario::ready()
            .with_pod(PodRule::new(
                PodMatch::owner("migrate"),
                Behaviour::Crashloop,
            ))
            .with_pod(PodRule::new(
                PodMatch::owner("db"),
                Behaviour::Unschedulable,
            )),
    )
    .await;
    let (task, db) = (job("migrate", NS), statefulset("db", NS));
    seed(&stand.kube, NS, &[&task, &db]);
    // The Job fails by itself; the StatefulSet waits for a node until its deadline.
    let (mut results, _) = wait_for(&stand, NS, &[&task], super::support::WAIT).await;
    results.extend(
        wait_for(&stand, NS, &[&db], Duration::from_millis(1000))
            .await
            .0,
    );
    assert!(
        matches!(results[0].state, WorkloadState::Failed { .. }),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(results[1].state, WorkloadState::TimedOut { .. }),
        "{:?}",
        results[1]
    );
    let diagnoses = within("diagnose", diagnose(&stand.cluster, NS, &results)).await;
    assert_eq!(diagnoses.len(), 2);

    let job = &diagnoses[0];
    assert_eq!((job.kind.as_str(), job.name.as_str()), ("Job", "migrate"));
    assert!(
        job.problem.contains("BackoffLimitExceeded"),
        "{}",
        job.problem
    );
    let task = &job.pods[0].containers[0];
    assert_eq!(task.state, "terminated: exit code 1 (Error)");
    assert_eq!(job.pods[0].phase, "Failed");
    assert!(job.unavailable.is_empty(), "{:?}", job.unavailable);

    let sts = &diagnoses[1];
    assert_eq!(
        (sts.kind.as_str(), sts.name.as_str()),
        ("StatefulSet", "db")
    );
    assert!(
        sts.problem.starts_with("not ready by the deadline"),
        "{}",
        sts.problem
    );
    assert_eq!(sts.pods[0].name, "db-0");
    assert!(
        sts.pods[0]
            .conditions
            .iter()
            .any(|c| c.starts_with("PodScheduled: Unschedulable")),
        "{:?}",
        sts.pods[0].conditions
    );
    assert!(
        sts.events.iter().any(|e| e.reason == "FailedScheduling"),
        "{:#?}",
        sts.events
    );
    assert!(
        sts.next_step.starts_with("no node can run pod db-0"),
        "{}",
        sts.next_step
    );
}

//! The real kubectl 1.37.1 against the stand-in: where they disagree, the stand-in is wrong.
//! Every kubectl runs without extra flags (no `--validate=false`): the stand-in serves the
//! OpenAPI v3 index kubectl reads before a server-side apply.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fakekube::{Behaviour, DeploymentRule, FakeKube, PodMatch, PodRule, Scenario};
use serde_json::json;

use crate::support::{self, Kubectl, WAIT, eventually};

fn apply_namespace(kubectl: &Kubectl, name: &str) {
    let file = kubectl.dir().join(format!("ns-{name}.yaml"));
    std::fs::write(
        &file,
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
    )
    .unwrap();
    let out = kubectl
        .run(&["apply", "--server-side", "-f", file.to_str().unwrap()])
        .ok();
    assert_eq!(out.trim(), format!("namespace/{name} serverside-applied"));
}

fn apply_json(kubectl: &Kubectl, name: &str, object: &serde_json::Value) -> String {
    let file = kubectl.dir().join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec(object).unwrap()).unwrap();
    kubectl
        .run(&["apply", "--server-side", "-f", file.to_str().unwrap()])
        .ok()
}

#[test]
fn kubectl_sees_an_empty_healthy_cluster() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let kubectl = Kubectl::new(&kube);
    let nodes = kubectl.run(&["get", "nodes", "-o", "name"]).ok();
    assert_eq!(nodes.trim(), "node/kind-control-plane");
    let ready = kubectl
        .run(&[
            "get",
            "node",
            "kind-control-plane",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .ok();
    assert_eq!(ready, "True");
    let namespaces = kubectl.run(&["get", "namespaces", "-o", "name"]).ok();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            namespaces.contains(&format!("namespace/{ns}")),
            "{namespaces}"
        );
    }
    let out = kubectl
        .run(&[
            "wait",
            "--for=condition=available",
            "deployment/coredns",
            "-n",
            "kube-system",
            "--timeout=10s",
        ])
        .ok();
    assert_eq!(out.trim(), "deployment.apps/coredns condition met");
    let version = kubectl.run(&["version", "-o", "json"]).ok();
    let version: serde_json::Value = serde_json::from_str(&version).unwrap();
    assert_eq!(
        version["serverVersion"]["gitVersion"],
        fakekube::GIT_VERSION
    );
    let missing = kubectl.run(&["get", "deployment", "nope", "-n", "default"]);
    assert!(!missing.success);
    assert_eq!(
        missing.stderr.trim(),
        "Error from server (NotFound): deployments.apps \"nope\" not found"
    );
}

#[test]
fn kubectl_get_watch_prints_changes_as_they_happen() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let kubectl = Kubectl::new(&kube);
    apply_namespace(&kubectl, "watched");
    let mut child = kubectl
        .command(&[
            "get",
            "configmaps",
            "-n",
            "watched",
            "--watch",
            "-o",
            "name",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next_line = |what: &str| {
        rx.recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("kubectl get --watch printed no {what}"))
    };
    // The initial list, then the watch.
    assert_eq!(next_line("initial list"), "configmap/kube-root-ca.crt");
    kube.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fresh", "namespace": "watched"}}))
        .unwrap();
    assert_eq!(next_line("watch event"), "configmap/fresh");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kubectl_get_prints_the_apiservers_columns() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("pull"), Behaviour::ImagePullBackoff).delay_ms(20))
        .with_pod(PodRule::new(PodMatch::owner("crash"), Behaviour::Crashloop).delay_ms(20));
    let kube = FakeKube::start(scenario).unwrap();
    let kubectl = Kubectl::new(&kube);
    let nodes = kubectl.run(&["get", "nodes"]).ok();
    let mut lines = nodes.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    let node: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        (node[0], node[1], node[2], node[4]),
        ("kind-control-plane", "Ready", "control-plane", "v1.33.0")
    );

    apply_namespace(&kubectl, "cols");
    for name in ["ok", "pull", "crash"] {
        apply_json(&kubectl, name, &support::deployment(name, "cols", 1));
    }
    eventually(&kube, "two restarts and a pull back-off", |s| {
        let pods = s.list("pods", Some("cols"));
        let state = |prefix: &str| {
            pods.iter()
                .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with(prefix))
                .map(|p| p["status"]["containerStatuses"][0].clone())
        };
        let pulled = state("pull-")?["state"]["waiting"]["reason"] == "ImagePullBackOff";
        let crashed = state("crash-")?["restartCount"].as_u64()? >= 2;
        let ok = state("ok-")?["ready"] == true;
        (pulled && crashed && ok).then_some(())
    });
    let pods = kubectl.run(&["get", "pods", "-n", "cols"]).ok();
    let rows: Vec<Vec<&str>> = pods
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let row = |prefix: &str| {
        rows.iter()
            .find(|r| r[0].starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {pods}"))
    };
    assert_eq!(&row("ok-")[1..4], ["1/1", "Running", "0"]);
    assert_eq!(&row("pull-")[1..4], ["0/1", "ImagePullBackOff", "0"]);
    let crash = row("crash-");
    assert_eq!(crash[1], "0/1");
    assert!(
        ["CrashLoopBackOff", "Error", "Running"].contains(&crash[2]),
        "{pods}"
    );
    // RESTARTS reads "2 (0s ago)", as kubectl prints restarts with the last one's age.
    assert!(crash[3].parse::<u32>().unwrap() >= 2, "{pods}");
    assert!(crash[4].starts_with('(') && crash[5] == "ago)", "{pods}");
    let deployments = kubectl.run(&["get", "deployments", "-n", "cols"]).ok();
    let rows: Vec<Vec<&str>> = deployments
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(
        rows.iter().any(|r| r[..4] == ["ok", "1/1", "1", "1"]),
        "{deployments}"
    );
    assert!(
        rows.iter().any(|r| r[..4] == ["pull", "0/1", "1", "0"]),
        "{deployments}"
    );
}

#[test]
fn kubectl_server_side_applies_the_rendered_ci_chart() {
    let (text, objects) = support::rendered_test_chart();
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let kubectl = Kubectl::new(&kube);
    apply_namespace(&kubectl, "jetscale-ci");
    let file = kubectl.dir().join("rendered.yaml");
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap();
    let first = kubectl
        .run(&["apply", "--server-side", "-n", "jetscale-ci", "-f", file])
        .ok();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), objects.len(), "{first}");
    assert!(
        lines.iter().all(|l| l.ends_with(" serverside-applied")),
        "{first}"
    );
    for obj in &objects {
        let name = obj["metadata"]["name"].as_str().unwrap();
        assert!(
            first.contains(&format!("/{name} serverside-applied")),
            "{name} in {first}"
        );
    }
    // Again, unchanged; then a server-side dry run.
    let again = kubectl
        .run(&["apply", "--server-side", "-n", "jetscale-ci", "-f", file])
        .ok();
    assert_eq!(again.lines().count(), objects.len());
    let dry = kubectl
        .run(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-n",
            "jetscale-ci",
            "-f",
            file,
        ])
        .ok();
    assert!(
        dry.lines()
            .all(|l| l.ends_with("serverside-applied (server dry run)")),
        "{dry}"
    );
    // What kubectl reads back is what the chart rendered.
    let image = kubectl
        .run(&[
            "get",
            "deployment",
            "jetscale-ci-backend-api",
            "-n",
            "jetscale-ci",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .ok();
    assert_eq!(image, "ghcr.io/jetscale-ai/backend:4.6.12");
    let out = kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/jetscale-ci-backend-api",
            "-n",
            "jetscale-ci",
            "--timeout=10s",
        ])
        .ok();
    assert!(
        out.trim_end()
            .ends_with("deployment \"jetscale-ci-backend-api\" successfully rolled out"),
        "{out}"
    );
    let out = kubectl
        .run(&[
            "rollout",
            "status",
            "statefulset/jetscale-ci-postgres",
            "-n",
            "jetscale-ci",
            "--timeout=10s",
        ])
        .ok();
    assert!(
        out.contains("partitioned roll out complete") || out.contains("rolling update complete"),
        "{out}"
    );
}

#[test]
fn kubectl_rollout_status_succeeds_for_ready_and_fails_like_kubectl_otherwise() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(
            PodMatch::owner("pull"),
            Behaviour::ImagePullBackoff,
        ))
        .with_pod(PodRule::new(
            PodMatch::owner("late"),
            Behaviour::ImagePullBackoff,
        ))
        .with_deployment(DeploymentRule::new("late").progress_deadline_ms(300));
    let kube = FakeKube::start(scenario).unwrap();
    let kubectl = Kubectl::new(&kube);
    apply_namespace(&kubectl, "ro");
    for name in ["ok", "pull", "late"] {
        apply_json(&kubectl, name, &support::deployment(name, "ro", 1));
    }

    let ok = kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/ok",
            "-n",
            "ro",
            "--timeout=10s",
        ])
        .ok();
    assert!(
        ok.trim_end()
            .ends_with("deployment \"ok\" successfully rolled out"),
        "{ok}"
    );

    let pull = kubectl.run(&[
        "rollout",
        "status",
        "deployment/pull",
        "-n",
        "ro",
        "--timeout=1s",
    ]);
    assert!(!pull.success);
    assert!(
        pull.stdout.contains("Waiting for deployment \"pull\" rollout to finish: 0 of 1 updated replicas are available..."),
        "{pull:?}"
    );
    assert_eq!(
        pull.stderr.trim(),
        "error: timed out waiting for the condition"
    );

    let late = kubectl.run(&[
        "rollout",
        "status",
        "deployment/late",
        "-n",
        "ro",
        "--timeout=10s",
    ]);
    assert!(!late.success);
    assert_eq!(
        late.stderr.trim(),
        "error: deployment \"late\" exceeded its progress deadline"
    );

    let wait = kubectl.run(&[
        "wait",
        "--for=condition=available",
        "deployment/pull",
        "-n",
        "ro",
        "--timeout=1s",
    ]);
    assert!(!wait.success);
    assert_eq!(
        wait.stderr.trim(),
        "error: timed out waiting for the condition on deployments/pull"
    );
    let ok = kubectl
        .run(&[
            "wait",
            "--for=condition=available",
            "deployment/ok",
            "-n",
            "ro",
            "--timeout=10s",
        ])
        .ok();
    assert_eq!(ok.trim(), "deployment.apps/ok condition met");
}

#[test]
fn kubectl_rollout_status_waits_while_observed_generation_lags() {
    let lag = Duration::from_millis(1500);
    let scenario = Scenario::ready().with_deployment(
        DeploymentRule::new("slowpoke").observed_generation_lag_ms(lag.as_millis() as u64),
    );
    let kube = FakeKube::start(scenario).unwrap();
    let kubectl = Kubectl::new(&kube);
    apply_namespace(&kubectl, "lag");
    apply_json(
        &kubectl,
        "slowpoke",
        &support::deployment("slowpoke", "lag", 1),
    );
    kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/slowpoke",
            "-n",
            "lag",
            "--timeout=10s",
        ])
        .ok();

    // A new template: the stored status still says "complete" for generation 1.
    let mut changed = support::deployment("slowpoke", "lag", 1);
    changed["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("ghcr.io/example/slowpoke:2.0");
    let changed_at = Instant::now();
    apply_json(&kubectl, "slowpoke-2", &changed);
    let early = kubectl.run(&[
        "rollout",
        "status",
        "deployment/slowpoke",
        "-n",
        "lag",
        "--timeout=500ms",
    ]);
    assert!(
        !early.success,
        "no success while the controller has not observed generation 2: {early:?}"
    );
    assert!(changed_at.elapsed() < lag, "the check ran inside the lag");
    assert!(
        early
            .stdout
            .contains("Waiting for deployment spec update to be observed..."),
        "{early:?}"
    );
    assert_eq!(
        early.stderr.trim(),
        "error: timed out waiting for the condition"
    );

    let done = kubectl
        .run(&[
            "rollout",
            "status",
            "deployment/slowpoke",
            "-n",
            "lag",
            "--timeout=10s",
        ])
        .ok();
    assert!(changed_at.elapsed() >= lag);
    assert!(
        done.trim_end()
            .ends_with("deployment \"slowpoke\" successfully rolled out"),
        "{done}"
    );
}

#[test]
fn kubectl_logs_previous_of_a_crash_loop() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("crashy"), Behaviour::Crashloop).delay_ms(30));
    let kube = FakeKube::start(scenario).unwrap();
    let kubectl = Kubectl::new(&kube);
    apply_namespace(&kubectl, "logs");
    apply_json(
        &kubectl,
        "crashy",
        &support::deployment("crashy", "logs", 1),
    );
    apply_json(&kubectl, "fine", &support::deployment("fine", "logs", 1));
    let crashed = support::wait_pod(&kube, "logs", "a restart", |p| {
        support::first_container(p)["restartCount"].as_u64() >= Some(1)
    });
    let previous = kubectl
        .run(&[
            "logs",
            "--previous",
            &format!("pod/{crashed}"),
            "-n",
            "logs",
        ])
        .ok();
    assert!(previous.contains("exited with code 1"), "{previous}");
    let by_deployment = kubectl
        .run(&[
            "logs",
            "--previous",
            "deployment/crashy",
            "-n",
            "logs",
            "--tail=1",
        ])
        .ok();
    assert_eq!(
        by_deployment.trim(),
        "fakekube stand-in: container app exited with code 1"
    );

    let fine = support::wait_pod(&kube, "logs", "a ready pod", |p| {
        p["metadata"]["name"].as_str().unwrap().starts_with("fine-")
            && support::first_container(p)["ready"] == true
    });
    let none = kubectl.run(&["logs", "--previous", &format!("pod/{fine}"), "-n", "logs"]);
    assert!(!none.success);
    assert_eq!(
        none.stderr.trim(),
        format!(
            "Error from server (BadRequest): previous terminated container \"app\" in pod \"{fine}\" not found"
        )
    );
    let current = kubectl
        .run(&["logs", &format!("pod/{fine}"), "-n", "logs"])
        .ok();
    assert!(current.contains("container app is running"), "{current}");
}

#[test]
fn kubectl_delete_namespace_waits_until_it_is_gone() {
    let kube = FakeKube::start(Scenario::ready().with_stuck_namespace("stuck")).unwrap();
    let kubectl = Kubectl::new(&kube);
    for ns in ["doomed", "stuck"] {
        apply_namespace(&kubectl, ns);
        apply_json(
            &kubectl,
            &format!("web-{ns}"),
            &support::deployment("web", ns, 2),
        );
        kubectl
            .run(&[
                "rollout",
                "status",
                "deployment/web",
                "-n",
                ns,
                "--timeout=10s",
            ])
            .ok();
    }
    let out = kubectl
        .run(&["delete", "namespace", "doomed", "--wait", "--timeout=20s"])
        .ok();
    assert_eq!(out.trim(), "namespace \"doomed\" deleted");
    let gone = kubectl.run(&["get", "namespace", "doomed"]);
    assert_eq!(
        gone.stderr.trim(),
        "Error from server (NotFound): namespaces \"doomed\" not found"
    );
    assert!(kube.store().list("pods", Some("doomed")).is_empty());

    let stuck = kubectl.run(&["delete", "namespace", "stuck", "--wait", "--timeout=1s"]);
    assert!(!stuck.success, "a stuck namespace never goes: {stuck:?}");
    assert!(
        stuck.stderr.contains("timed out waiting for the condition"),
        "{stuck:?}"
    );
    let phase = kubectl
        .run(&[
            "get",
            "namespace",
            "stuck",
            "-o",
            "jsonpath={.status.phase}",
        ])
        .ok();
    assert_eq!(phase, "Terminating");
}

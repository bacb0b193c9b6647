//! The `fakekube` binary, and the stand-in's timings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fakekube::{FakeKube, Scenario};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};

use crate::support::{self, run, within};

#[test]
fn the_binary_serves_the_ready_scenario_until_killed() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakekube"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("fakekube (a test stand-in, not a Kubernetes) serving http://127.0.0.1:"),
        "{first}"
    );
    let mut rest = Vec::new();
    for _ in 0..3 {
        rest.push(lines.next().unwrap().unwrap());
    }
    assert!(
        rest[1].starts_with("platform stub (stand-in): http://127.0.0.1:"),
        "{rest:?}"
    );
    let kubectl = support::kubectl_path();
    let mut cmd = Command::new(kubectl);
    cmd.env_clear()
        .env("HOME", dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .args(["--context", "kind-kind", "get", "nodes", "-o", "name"]);
    let out = run(cmd, Duration::from_secs(30));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(out.ok().trim(), "node/kind-control-plane");
}

#[test]
fn the_binary_refuses_bad_arguments_and_scenarios() {
    let bin = env!("CARGO_BIN_EXE_fakekube");
    let out = run(Command::new(bin), Duration::from_secs(10));
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("--kubeconfig OUT is required"),
        "{}",
        out.stderr
    );
    let help = run(
        {
            let mut c = Command::new(bin);
            c.arg("--help");
            c
        },
        Duration::from_secs(10),
    );
    assert!(
        help.ok()
            .contains("stand-in Kubernetes API server for tests (not a Kubernetes)")
    );
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(
        &scenario,
        "pods:\n  - match: {owner: x}\n    behaviour: sleepy\n",
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--kubeconfig")
        .arg(dir.path().join("kc"))
        .arg("--scenario")
        .arg(&scenario);
    let out = run(cmd, Duration::from_secs(10));
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("invalid scenario"), "{}", out.stderr);
}

#[test]
fn the_binary_reads_a_scenario_file() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(&scenario, "context: kind-other\nstub: {enabled: false}\n").unwrap();
    let kubeconfig = dir.path().join("kc");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakekube"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--scenario")
        .arg(&scenario)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let printed: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(printed[1].ends_with("(context kind-other)"), "{printed:?}");
    assert!(
        printed[2].starts_with("started in"),
        "no stub line: {printed:?}"
    );
    assert!(
        std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .contains("current-context: kind-other")
    );
}

#[test]
fn dropping_the_handle_stops_the_server_and_the_stub() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let api = kube.addr();
    let stub: std::net::SocketAddr = kube
        .stub_url()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    // An open watch must not hold the shutdown up.
    let mut watch = std::net::TcpStream::connect(api).unwrap();
    std::io::Write::write_all(
        &mut watch,
        b"GET /api/v1/pods?watch=true HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    assert!(std::net::TcpStream::connect(stub).is_ok());
    let begun = Instant::now();
    drop(kube);
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "stopped in {:?}",
        begun.elapsed()
    );
    assert!(
        std::net::TcpStream::connect(api).is_err(),
        "the API port is closed"
    );
    assert!(
        std::net::TcpStream::connect(stub).is_err(),
        "the stub port is closed"
    );
}

/// Startup and rollout times of the `ready` scenario, printed (not asserted: a loaded machine
/// must not fail the suite). Run with `--nocapture` to see them.
#[tokio::test]
async fn fakekube_startup_and_rollout_timings() {
    let mut startups = Vec::new();
    let mut rollouts = Vec::new();
    for round in 0..5 {
        let begun = Instant::now();
        let kube = FakeKube::start(Scenario::ready()).unwrap();
        startups.push(begun.elapsed());
        let client = support::client(&kube).await;
        let deployments: Api<Deployment> = Api::namespaced(client, "default");
        let name = format!("timed-{round}");
        let mut watch = deployments
            .watch(
                &WatchParams::default()
                    .fields(&format!("metadata.name={name}"))
                    .timeout(10),
                "0",
            )
            .await
            .unwrap()
            .boxed();
        let created = Instant::now();
        deployments
            .create(
                &PostParams::default(),
                &serde_json::from_value(support::deployment(&name, "default", 1)).unwrap(),
            )
            .await
            .unwrap();
        loop {
            match within("the deployment's events", watch.next()).await {
                Some(Ok(WatchEvent::Added(d) | WatchEvent::Modified(d))) => {
                    if support::available(&serde_json::to_value(&d).unwrap()) {
                        rollouts.push(created.elapsed());
                        break;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the watch ended: {other:?}"),
            }
        }
        // The stand-in stopped (dropped) before the next round starts.
        drop(kube);
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let show = |ds: &[Duration]| {
        ds.iter()
            .map(|d| format!("{:.1}", ms(d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let max = |ds: &[Duration]| ds.iter().map(ms).fold(0.0, f64::max);
    println!(
        "fakekube startup (ms): {} (max {:.1}; target < 50)",
        show(&startups),
        max(&startups)
    );
    println!(
        "Deployment Available after create (ms): {} (max {:.1}; target < 200)",
        show(&rollouts),
        max(&rollouts)
    );
    assert_eq!(rollouts.len(), 5, "every round measured a rollout");
}

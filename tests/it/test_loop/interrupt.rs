//! Acceptance 8: SIGINT ends `test ci` within two seconds with exit 130, during the rollout
//! wait and during the smoke suite, when its port-forward listeners are open; after it,
//! nothing listens on their ports.

use std::net::TcpStream;

use fakekube::{Behaviour, FakeKube, PodMatch, PodRule, Scenario, StubConfig, StubFault};

use super::*;

/// The TCP ports process `pid` listens on, from /proc: its socket inodes matched against
/// the LISTEN entries (state 0A) of /proc/<pid>/net/tcp.
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    target
                        .strip_prefix("socket:[")
                        .and_then(|t| t.strip_suffix(']'))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            if *state != "0A" || !inodes.iter().any(|i| i == inode) {
                return None;
            }
            u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
        })
        .collect()
}

/// Send SIGINT to `started`, and check it exits 130 within 2 s, saying so and
/// reporting nothing.
fn interrupt(started: support::Started) {
    let run = started.interrupt_promptly();
    assert!(run.stderr.contains("interrupted"), "{}", run.all());
    assert_eq!(run.stdout, "", "an interrupted run reports nothing");
    assert!(!run.all().contains(TOKEN_SENTINEL));
}

/// Whether `workload`'s Deployment or StatefulSet in the CI namespace reports every replica
/// ready.
fn ready(kube: &FakeKube, resource: &str, name: &str) -> bool {
    kube.store()
        .get(resource, CI_NAMESPACE, name)
        .is_some_and(|o| {
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            o["status"]["readyReplicas"].as_i64().unwrap_or(0) == want
        })
}

#[test]
fn fakekube_sigint_during_the_rollout_wait_exits_130_within_2_s() {
    let kube = FakeKube::start(Scenario::ready().with_pod(PodRule::new(
        PodMatch::owner(CI_FRONTEND),
        Behaviour::NeverReady,
    )))
    .unwrap();
    let sandbox = sandbox_for(&kube);
    let started = spawn(
        &sandbox,
        &[
            "--format",
            "json",
            "test",
            "ci",
            "--offline",
            "--timeout",
            "10m",
        ],
    );
    // Everything applied and ready but the frontend, whose pod runs and is never ready: the
    // run is waiting for it (and will for ten minutes).
    kube.wait_for("every workload but the frontend ready", RUN_LIMIT, |_| {
        let others = [
            ("deployments.apps", CI_API),
            ("deployments.apps", CI_WS),
            ("statefulsets.apps", "jetscale-ci-postgres"),
            ("statefulsets.apps", "jetscale-ci-redis"),
        ];
        let frontend_running = kube
            .store()
            .list("pods", Some(CI_NAMESPACE))
            .iter()
            .any(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(CI_FRONTEND)
                    && p["status"]["phase"] == "Running"
            });
        (frontend_running && others.iter().all(|(r, n)| ready(&kube, r, n))).then_some(())
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pid = started.id();
    assert_eq!(listening_ports(pid), Vec::<u16>::new(), "no forward yet");
    interrupt(started);
}

#[test]
fn fakekube_sigint_during_the_smoke_suite_closes_the_port_forwards_and_exits_130_within_2_s() {
    // `ready` answers after a minute: the smoke suite waits on it through its forward.
    let stub = StubConfig::default()
        .with_fault(StubFault::path("/api/v2/system/ready").latency_ms(60_000));
    let kube = FakeKube::start(Scenario::ready().with_stub(stub)).unwrap();
    let sandbox = sandbox_for(&kube);
    let started = spawn(&sandbox, &["--format", "json", "test", "ci", "--offline"]);
    let pid = started.id();
    // The three forwards (api, websocket, frontend) listen once the smoke suite starts.
    let deadline = Instant::now() + RUN_LIMIT;
    let ports = loop {
        let ports = listening_ports(pid);
        if ports.len() >= 3 {
            break ports;
        }
        assert!(Instant::now() < deadline, "stackctl never forwarded");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(300));
    for port in &ports {
        TcpStream::connect(("127.0.0.1", *port))
            .unwrap_or_else(|e| panic!("forward {port} does not accept: {e}"));
    }
    interrupt(started);
    for port in &ports {
        assert!(
            TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "something still listens on forwarded port {port}"
        );
    }
}

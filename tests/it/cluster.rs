//! `stackctl cluster up|delete|status` against stand-ins: `kind` and `docker` scripts
//! (`tests/it/standins/`, labelled as such: they run no container and no cluster, they keep
//! files and record every call with its arguments and stdin) and fakekube, the stand-in API
//! server, as the cluster the stand-in kind "creates".

use std::path::{Path, PathBuf};
use std::time::Duration;

use fakekube::{Behaviour, FakeKube, PodMatch, PodRule, Scenario};
use serde_json::{Value, json};

use crate::support::standins::StandIns;
use crate::support::{Run, Sandbox};

/// Longest any one stackctl run of these tests may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A machine with stand-in `kind` and `docker` on its PATH (and nothing else: no real tool can
/// be picked up), their state, and a repository copy to run stackctl in.
struct Machine {
    sandbox: Sandbox,
    standins: StandIns,
}

impl Machine {
    /// Both stand-ins; `kind create cluster` points the context at `api` (a fakekube URL).
    fn new(api: &str) -> Machine {
        Machine::with_tools(api, &["kind", "docker"])
    }

    fn with_tools(api: &str, tools: &[&str]) -> Machine {
        let mut sandbox = Sandbox::with_repo();
        let standins = StandIns::install(&mut sandbox, tools);
        sandbox.set_env("STANDIN_API_SERVER", api);
        Machine { sandbox, standins }
    }

    /// Point the contexts the stand-in kind writes from now on at `api`.
    fn set_api(&mut self, api: &str) {
        self.sandbox.set_env("STANDIN_API_SERVER", api);
    }

    /// `stackctl ARGS`, bounded in time.
    fn stackctl(&self, args: &[&str]) -> Run {
        self.sandbox.spawn_stackctl(args).finish(RUN_LIMIT).0
    }

    /// `stackctl --format json ARGS`, which must succeed: its document.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let run = self.stackctl(&all);
        run.success();
        run.json()
    }

    /// Every call the stand-ins recorded so far, one line each.
    fn calls(&self) -> Vec<String> {
        self.standins.calls()
    }

    /// The calls recorded since `before` (a count of [`Machine::calls`]).
    fn calls_since(&self, before: usize) -> Vec<String> {
        self.calls().split_off(before)
    }

    fn stdin_log(&self) -> String {
        std::fs::read_to_string(self.standins.state().join("stdin.log")).unwrap_or_default()
    }

    /// A container's state line, as the stand-in docker keeps it.
    fn set_container(&self, name: &str, line: &str) {
        std::fs::write(
            self.standins.state().join("containers").join(name),
            format!("{line}\n"),
        )
        .unwrap();
    }

    fn container(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.standins.state().join("containers").join(name)).ok()
    }

    /// A file a `docker exec` wrote inside a node.
    fn node_file(&self, node: &str, path: &str) -> Option<String> {
        let inside = self
            .standins
            .state()
            .join("nodes")
            .join(node)
            .join(path.trim_start_matches('/'));
        std::fs::read_to_string(inside).ok()
    }

    fn kubeconfig(&self) -> PathBuf {
        Path::new(self.sandbox.env("HOME")).join(".kube/config")
    }
}

fn count(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(prefix)).count()
}

/// A URL nobody listens on: an API server that is down.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// CoreDNS's pods in kube-system behaving as `behaviour` (rules must name the namespace to
/// reach kube-system).
fn coredns(behaviour: Behaviour, delay_ms: u64) -> PodRule {
    PodRule::new(
        PodMatch {
            namespace: Some("kube-system".into()),
            ..PodMatch::owner("coredns")
        },
        behaviour,
    )
    .delay_ms(delay_ms)
}

const HOSTS_DIR: &str = "/etc/containerd/certs.d/localhost:5000";
const HOSTS_TOML: &str = "[host.\"http://ctlptl-registry:5000\"]\n";

#[test]
fn cluster_up_on_nothing_creates_registry_and_cluster_once_with_stand_in_kind_and_docker() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let machine = Machine::new(&fake.url());
    let doc = machine.json(&["cluster", "up"]);

    let calls = machine.calls();
    let root = machine.sandbox.root();
    let expected = [
        "docker container inspect --format".to_string(),
        "docker run --detach --restart=always --publish 127.0.0.1:5000:5000 --network bridge --name ctlptl-registry registry:2".to_string(),
        "kind get clusters".to_string(),
        format!(
            "kind create cluster --name kind --config {}",
            root.join("kind/kind-config.yaml").display()
        ),
        "docker network connect kind ctlptl-registry".to_string(),
        "kind get nodes --name kind".to_string(),
        format!(
            "docker exec -i kind-control-plane sh -c 'mkdir -p \"$1\" && cat > \"$1/hosts.toml\"' sh {HOSTS_DIR}"
        ),
    ];
    assert_eq!(calls.len(), expected.len(), "{calls:#?}");
    for (call, expected) in calls.iter().zip(&expected) {
        assert!(
            call.starts_with(expected.as_str()),
            "{call}\nexpected {expected}"
        );
    }
    assert!(calls[0].ends_with(" ctlptl-registry"), "{}", calls[0]);

    // The host configuration reached the node through stdin, and landed where containerd
    // reads it.
    assert_eq!(
        machine.stdin_log(),
        format!("== {}\n{HOSTS_TOML}", calls[6])
    );
    assert_eq!(
        machine.node_file("kind-control-plane", &format!("{HOSTS_DIR}/hosts.toml")),
        Some(HOSTS_TOML.to_string())
    );
    assert_eq!(
        machine.container("ctlptl-registry").as_deref(),
        Some("running;127.0.0.1:5000->5000/tcp ;bridge kind \n")
    );

    // The ConfigMap of KEP-1755, applied by stackctl.
    let cm = fake
        .store()
        .get("configmaps", "kube-public", "local-registry-hosting")
        .expect("the local-registry-hosting ConfigMap");
    assert_eq!(
        cm["data"]["localRegistryHosting.v1"],
        "host: \"localhost:5000\"\nhostFromClusterNetwork: \"ctlptl-registry:5000\"\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
    );

    assert_eq!(doc["version"], 1);
    assert_eq!(
        doc["cluster"],
        json!({"name": "kind", "context": "kind-kind", "action": "created", "context_restored": false})
    );
    assert_eq!(
        doc["registry"],
        json!({"name": "ctlptl-registry", "address": "localhost:5000", "action": "created", "network": "kind", "from_nodes": "ctlptl-registry:5000"})
    );
    assert_eq!(
        doc["registry_hosts"],
        json!({"file": format!("{HOSTS_DIR}/hosts.toml"), "nodes": ["kind-control-plane"]})
    );
    assert_eq!(
        doc["registry_hosting"],
        "kube-public/local-registry-hosting"
    );
    assert_eq!(
        doc["nodes"],
        json!([{"name": "kind-control-plane", "ready": true, "problem": null}])
    );
    assert_eq!(doc["coredns"]["available"], true);
}

#[test]
fn a_second_cluster_up_reuses_the_registry_and_the_cluster() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let machine = Machine::new(&fake.url());
    machine.stackctl(&["cluster", "up"]).success();
    let before = machine.calls().len();

    let run = machine.stackctl(&["cluster", "up"]);
    run.success();
    let again = machine.calls_since(before);
    assert_eq!(count(&again, "kind create"), 0, "{again:#?}");
    assert_eq!(count(&again, "docker run"), 0, "{again:#?}");
    assert_eq!(count(&again, "docker start"), 0, "{again:#?}");
    // The wiring is applied again; "already connected" is not an error.
    assert_eq!(
        count(&again, "docker network connect kind ctlptl-registry"),
        1
    );
    assert_eq!(count(&again, "docker exec -i kind-control-plane"), 1);
    assert!(
        run.stdout.contains("registry  ctlptl-registry      reused"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cluster   kind                 reused"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("next: `tilt up`"), "{}", run.stdout);

    let doc = machine.json(&["cluster", "up"]);
    assert_eq!(doc["cluster"]["action"], "reused");
    assert_eq!(doc["registry"]["action"], "reused");
    let all = machine.calls();
    assert_eq!(count(&all, "kind create"), 1);
    assert_eq!(count(&all, "docker run"), 1);
}

#[test]
fn cluster_up_waits_for_a_node_that_becomes_ready_and_for_slow_coredns() {
    // CoreDNS's pods take 2.5 s to start; a second node registers without a Ready condition
    // and turns Ready 1 s after stackctl has applied its ConfigMap, the step before the wait.
    let fake = FakeKube::start(Scenario::ready().with_pod(coredns(Behaviour::Slow, 2500))).unwrap();
    fake.create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kind-worker"}}))
        .unwrap();
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    fake.write_kubeconfig(kubeconfig.path()).unwrap();
    let kubectl = crate::support::required_tool("STACKCTL_TEST_KUBECTL", "kubectl 1.37.1");
    let machine = Machine::new(&fake.url());
    let doc = std::thread::scope(|scope| {
        scope.spawn(|| {
            fake.wait_for("the ConfigMap stackctl applies", RUN_LIMIT, |store| {
                store.get("configmaps", "kube-public", "local-registry-hosting")
            })
            .unwrap();
            std::thread::sleep(Duration::from_secs(1));
            let patch = r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status"}]}}"#;
            let out = std::process::Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(kubeconfig.path())
                .args(["patch", "node", "kind-worker", "--subresource=status", "--type=merge", "-p", patch])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        });
        machine.json(&["cluster", "up", "--timeout", "30s"])
    });

    let waited = doc["waited_ms"].as_u64().unwrap();
    assert!(
        waited >= 900,
        "reported ready after {waited} ms: it did not wait for the node"
    );
    assert_eq!(
        doc["nodes"],
        json!([
            {"name": "kind-control-plane", "ready": true, "problem": null},
            {"name": "kind-worker", "ready": true, "problem": null},
        ])
    );
    assert_eq!(
        doc["coredns"],
        json!({"available": true, "available_replicas": 2, "replicas": 2, "problem": null})
    );
}

#[test]
fn cluster_up_fails_at_the_deadline_when_coredns_never_becomes_ready() {
    let fake =
        FakeKube::start(Scenario::ready().with_pod(coredns(Behaviour::NeverReady, 100))).unwrap();
    let machine = Machine::new(&fake.url());
    let started = std::time::Instant::now();
    let run = machine.stackctl(&["cluster", "up", "--timeout", "2s"]);
    let took = started.elapsed();
    run.expect(3);
    assert!(
        took >= Duration::from_secs(2),
        "failed before the deadline: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(run.stdout, "");
    let stderr = &run.stderr;
    assert!(
        stderr.contains(r#"error: the cluster of context "kind-kind" was not ready within 2 s: CoreDNS (kube-system/coredns) is not available: 0 of 2 replicas available"#),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: `stackctl cluster status`"),
        "{stderr}"
    );
    assert!(stderr.contains("--timeout"), "{stderr}");
}

#[test]
fn an_existing_cluster_whose_api_is_down_is_reported_not_recreated() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let mut machine = Machine::new(&fake.url());
    machine.stackctl(&["cluster", "up"]).success();
    // The node container stopped and its API server with it (as after `docker stop`).
    drop(fake);
    machine.set_container(
        "kind-control-plane",
        "exited;127.0.0.1:6443->6443/tcp ;kind ",
    );
    machine.set_api(&closed_url());
    let before = machine.calls().len();

    let run = machine.stackctl(&["cluster", "up"]);
    run.expect(3);
    let stderr = &run.stderr;
    assert!(
        stderr.contains(r#"error: the kind cluster "kind" exists but is not healthy, so it was left as it is: the API server of context "kind-kind""#),
        "{stderr}"
    );
    assert!(stderr.contains("does not answer"), "{stderr}");
    assert!(
        stderr.contains("its node container kind-control-plane is exited"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: `stackctl cluster delete` then `stackctl cluster up` recreates it"),
        "{stderr}"
    );
    let after = machine.calls_since(before);
    assert_eq!(count(&after, "kind create"), 0, "{after:#?}");
    assert_eq!(count(&after, "kind delete"), 0, "{after:#?}");
    assert_eq!(count(&after, "docker exec"), 0, "{after:#?}");
}

#[test]
fn an_existing_cluster_with_a_node_not_ready_is_reported_not_recreated() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let machine = Machine::new(&fake.url());
    machine.stackctl(&["cluster", "up"]).success();
    fake.create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kind-worker"}}))
        .unwrap();
    let before = machine.calls().len();

    let run = machine.stackctl(&["cluster", "up"]);
    run.expect(3);
    assert!(
        run.stderr.contains(r#"error: the kind cluster "kind" exists but is not healthy, so it was left as it is: node kind-worker is not Ready (its kubelet has not reported a Ready condition)"#),
        "{}",
        run.stderr
    );
    let after = machine.calls_since(before);
    assert_eq!(count(&after, "kind create"), 0, "{after:#?}");
    assert_eq!(count(&after, "kind delete"), 0, "{after:#?}");
}

#[test]
fn a_cluster_whose_context_was_removed_gets_it_back_from_kind() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let machine = Machine::new(&fake.url());
    machine.stackctl(&["cluster", "up"]).success();
    std::fs::remove_file(machine.kubeconfig()).unwrap();
    let before = machine.calls().len();

    let doc = machine.json(&["cluster", "up"]);
    assert_eq!(doc["cluster"]["action"], "reused");
    assert_eq!(doc["cluster"]["context_restored"], true);
    let after = machine.calls_since(before);
    assert_eq!(
        count(&after, "kind export kubeconfig --name kind"),
        1,
        "{after:#?}"
    );
    assert_eq!(count(&after, "kind create"), 0, "{after:#?}");
}

#[test]
fn a_stopped_registry_is_started_and_one_on_another_port_is_refused() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let machine = Machine::new(&fake.url());
    machine.set_container(
        "ctlptl-registry",
        "exited;127.0.0.1:5000->5000/tcp ;bridge kind ",
    );
    let run = machine.stackctl(&["--format", "json", "cluster", "up"]);
    run.success();
    assert_eq!(run.json()["registry"]["action"], "started");
    assert!(
        run.stderr
            .contains("warning: the registry container ctlptl-registry was exited: started it"),
        "{}",
        run.stderr
    );
    assert_eq!(count(&machine.calls(), "docker start ctlptl-registry"), 1);
    assert_eq!(count(&machine.calls(), "docker run"), 0);

    machine.set_container(
        "ctlptl-registry",
        "running;127.0.0.1:5001->5000/tcp ;bridge kind ",
    );
    let run = machine.stackctl(&["cluster", "up"]);
    run.expect(3);
    assert!(
        run.stderr.contains("error: the container ctlptl-registry exists but does not publish the registry on port 5000 (it publishes 127.0.0.1:5001->5000/tcp)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("registry-port"), "{}", run.stderr);
}

#[test]
fn cluster_delete_removes_both_then_status_shows_nothing_and_a_second_delete_is_fine() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let machine = Machine::new(&fake.url());
    machine.stackctl(&["cluster", "up"]).success();
    let before = machine.calls().len();

    let run = machine.stackctl(&["cluster", "delete"]);
    run.success();
    assert_eq!(
        run.stdout,
        "cluster   kind                 deleted\nregistry  ctlptl-registry      deleted\n"
    );
    let after = machine.calls_since(before);
    assert_eq!(
        count(&after, "kind delete cluster --name kind"),
        1,
        "{after:#?}"
    );
    assert_eq!(
        count(&after, "docker rm --force --volumes ctlptl-registry"),
        1,
        "{after:#?}"
    );
    assert_eq!(machine.container("ctlptl-registry"), None);

    let doc = machine.json(&["cluster", "status"]);
    assert_eq!(doc["ready"], false);
    assert_eq!(doc["registry"]["state"], "absent");
    assert_eq!(doc["cluster"]["exists"], false);
    assert_eq!(doc["cluster"]["server"], Value::Null);
    assert_eq!(doc["cluster"]["nodes"], Value::Null);

    let run = machine.stackctl(&["cluster", "status"]);
    run.success();
    assert!(
        run.stdout.contains("registry  ctlptl-registry      absent"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cluster   kind                 absent"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("not ready: `stackctl cluster up` creates or completes it\n")
    );

    let doc = machine.json(&["cluster", "delete"]);
    assert_eq!(
        doc,
        json!({
            "version": 1,
            "cluster": {"name": "kind", "action": "absent"},
            "registry": {"name": "ctlptl-registry", "action": "absent"},
        })
    );
}

#[test]
fn cluster_status_after_up_as_json_and_for_people() {
    let fake = FakeKube::start(Scenario::ready()).unwrap();
    let machine = Machine::new(&fake.url());
    machine.stackctl(&["cluster", "up"]).success();
    let calls = machine.calls().len();

    let json = machine.stackctl(&["--format", "json", "cluster", "status"]);
    json.success();
    let human = machine.stackctl(&["cluster", "status"]);
    human.success();
    // Status changes nothing.
    let after = machine.calls_since(calls);
    assert!(
        after
            .iter()
            .all(|c| c.starts_with("docker container inspect") || c.starts_with("kind get")),
        "{after:#?}"
    );

    insta::with_settings!({filters => vec![(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:[PORT]")]}, {
        insta::assert_snapshot!("cluster-status.json", json.stdout);
        insta::assert_snapshot!("cluster-status.txt", human.stdout);
    });
}

#[test]
fn cluster_commands_without_kind_or_docker_exit_3_saying_how_to_install() {
    let machine = Machine::with_tools(&closed_url(), &["docker"]);
    for command in ["up", "status", "delete"] {
        let run = machine.stackctl(&["cluster", command]);
        run.expect(3);
        assert!(
            run.stderr
                .contains("error: kind is not installed (no `kind` on PATH)"),
            "{command}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("hint: install kind"), "{}", run.stderr);
    }
    assert!(machine.calls().is_empty(), "{:#?}", machine.calls());

    let machine = Machine::with_tools(&closed_url(), &["kind"]);
    let run = machine.stackctl(&["cluster", "up"]);
    run.expect(3);
    assert!(
        run.stderr.contains("error: docker is not installed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: install Docker"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_timeout_is_a_usage_error() {
    let machine = Machine::new(&closed_url());
    let run = machine.stackctl(&["cluster", "up", "--timeout", "soon"]);
    run.expect(2);
    assert!(
        run.stderr
            .contains(r#"--timeout: "soon" is not a duration"#),
        "{}",
        run.stderr
    );
    assert!(machine.calls().is_empty());
}

#[test]
fn doctor_finds_the_stand_in_kind_and_docker_for_the_cluster_commands() {
    let machine = Machine::new(&closed_url());
    // No helm on this PATH: doctor prints its document, then exits 3 for the missing helm.
    let run = machine.stackctl(&["--format", "json", "doctor"]);
    run.expect(3);
    let doc = run.json();
    let names: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["helm", "kind", "docker"]);
    let users = json!([
        "cluster up",
        "cluster delete",
        "cluster status",
        "test local"
    ]);
    for (tool, version) in [(&doc["tools"][1], "0.31.0"), (&doc["tools"][2], "28.2.2")] {
        assert_eq!(tool["found"], true, "{tool}");
        assert_eq!(tool["version"], version, "{tool}");
        assert_eq!(tool["needed_by"], users, "{tool}");
    }
}

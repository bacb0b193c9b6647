//! The local kind cluster and its image registry.
//!
//! Both are made by the real tools: `kind` creates, lists and deletes clusters, `docker`
//! runs the registry container, connects it to kind's network and writes the containerd
//! host configuration into the nodes. Every call goes through [`Command`] (a timeout, the
//! run's cancellation, redacted stderr). What the cluster says about itself (node readiness,
//! CoreDNS, the registry's `local-registry-hosting` ConfigMap) goes through kube-rs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::Serialize;

use super::Cluster;
use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, Cancel, Command, Output, cancellable};

/// The image of the local registry (CNCF distribution), as kind's local-registry guide runs it.
pub const REGISTRY_IMAGE: &str = "registry:2";

/// The docker network kind puts every node of every cluster on.
pub const KIND_NETWORK: &str = "kind";

/// The port the registry listens on inside its container, which the nodes use to reach it by
/// its container name on the kind network.
pub const REGISTRY_INTERNAL_PORT: u16 = 5000;

/// Where containerd on a node looks for per-registry host configuration (`config_path` in
/// `kind/kind-config.yaml`).
pub const CERTS_D: &str = "/etc/containerd/certs.d";

/// The namespace and name of the ConfigMap that tells tools where the cluster's local
/// registry is (KEP-1755, "Standard for communicating a local registry"; Tilt reads it).
pub const REGISTRY_HOSTING_NAMESPACE: &str = "kube-public";
pub const REGISTRY_HOSTING_NAME: &str = "local-registry-hosting";

/// The field manager of everything stackctl applies.
const FIELD_MANAGER: &str = "stackctl";

/// `kind create cluster` pulls the node image (hundreds of MB) the first time.
const CREATE_TIMEOUT: Duration = Duration::from_secs(600);
/// `docker run registry:2` may pull its image first.
const REGISTRY_RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// `kind delete cluster` stops and removes the node containers.
const DELETE_TIMEOUT: Duration = Duration::from_secs(180);
/// Every other call answers from docker's state at once.
const QUICK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one look at the cluster (a list of nodes, a get of CoreDNS) may take.
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the readiness wait looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long the readiness wait's last look may outlast the deadline.
const LAST_LOOK: Duration = Duration::from_secs(1);

/// The `kind` and `docker` programs, found on `PATH`.
#[derive(Debug, Clone)]
pub struct Tools {
    kind: PathBuf,
    docker: PathBuf,
}

impl Tools {
    /// Find both programs, or say how to install the first one missing
    /// ([`ErrorKind::ToolMissing`]).
    pub fn locate() -> Result<Tools> {
        let kind = process::find_on_path("kind").ok_or_else(|| {
            Error::new(
                ErrorKind::ToolMissing,
                "kind is not installed (no `kind` on PATH): the local cluster is a kind cluster",
            )
            .with_hint(
                "install kind 0.20 or later: `go install sigs.k8s.io/kind@latest`, or a release \
                 binary from https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
            )
        })?;
        let docker = process::find_on_path("docker").ok_or_else(|| {
            Error::new(
                ErrorKind::ToolMissing,
                "docker is not installed (no `docker` on PATH): kind runs its nodes and the \
                 local registry as docker containers",
            )
            .with_hint(
                "install Docker Engine (https://docs.docker.com/engine/install/) or Docker \
                 Desktop, and start it",
            )
        })?;
        Ok(Tools { kind, docker })
    }

    /// The names of the kind clusters that exist (`kind get clusters`).
    pub async fn clusters(&self, cancel: &Cancel) -> Result<Vec<String>> {
        let output = self
            .run_kind(&["get", "clusters"], QUICK_TIMEOUT, cancel)
            .await?;
        // With no cluster, kind prints "No kind clusters found." on stderr and nothing here.
        Ok(lines(&output))
    }

    /// `kind create cluster --name NAME --config CONFIG`. kind writes the context
    /// `kind-NAME` into the user's kubeconfig. Readiness is awaited through the API
    /// afterwards ([`wait_ready`]), not with kind's `--wait`, so that a slow cluster is
    /// reported with what is not ready.
    pub async fn create_cluster(&self, name: &str, config: &Path, cancel: &Cancel) -> Result<()> {
        let config = config.display().to_string();
        let args = ["create", "cluster", "--name", name, "--config", &config];
        self.run_kind(&args, CREATE_TIMEOUT, cancel).await?;
        Ok(())
    }

    /// `kind delete cluster --name NAME`: its node containers and its kubeconfig context.
    pub async fn delete_cluster(&self, name: &str, cancel: &Cancel) -> Result<()> {
        let args = ["delete", "cluster", "--name", name];
        self.run_kind(&args, DELETE_TIMEOUT, cancel).await?;
        Ok(())
    }

    /// The node containers of cluster `name` (`kind get nodes --name NAME`).
    pub async fn nodes(&self, name: &str, cancel: &Cancel) -> Result<Vec<String>> {
        let args = ["get", "nodes", "--name", name];
        Ok(lines(&self.run_kind(&args, QUICK_TIMEOUT, cancel).await?))
    }

    /// Write the context `kind-NAME` into the user's kubeconfig again
    /// (`kind export kubeconfig --name NAME`), for a cluster whose context was removed.
    pub async fn export_kubeconfig(&self, name: &str, cancel: &Cancel) -> Result<()> {
        let args = ["export", "kubeconfig", "--name", name];
        self.run_kind(&args, QUICK_TIMEOUT, cancel).await?;
        Ok(())
    }

    /// A container's state and published ports, or `None` when no container has that name.
    pub async fn container(&self, name: &str, cancel: &Cancel) -> Result<Option<Container>> {
        // One line: the state, the published ports, the networks, separated by `;`.
        const FORMAT: &str = "{{.State.Status}};\
            {{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}}:{{.HostPort}}->{{$p}} {{end}}{{end}};\
            {{range $n, $e := .NetworkSettings.Networks}}{{$n}} {{end}}";
        let args = ["container", "inspect", "--format", FORMAT, name];
        let output = self
            .docker_command(&args, QUICK_TIMEOUT)
            .run(cancel)
            .await?;
        if !output.success() {
            if output.stderr.to_lowercase().contains("no such container") {
                return Ok(None);
            }
            return Err(failed("docker container inspect", &output));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Container::parse(text.trim()).map(Some).ok_or_else(|| {
            Error::environment(format!(
                "docker container inspect {name} printed what stackctl cannot read: {:?}",
                text.trim()
            ))
        })
    }

    /// Start the registry container `name`, published on `127.0.0.1:PORT`, restarted with
    /// docker, on docker's default bridge network (kind's network is joined once it exists).
    pub async fn run_registry(&self, name: &str, port: u16, cancel: &Cancel) -> Result<()> {
        let publish = format!("127.0.0.1:{port}:{REGISTRY_INTERNAL_PORT}");
        let args = [
            "run",
            "--detach",
            "--restart=always",
            "--publish",
            &publish,
            "--network",
            "bridge",
            "--name",
            name,
            REGISTRY_IMAGE,
        ];
        self.run_docker(&args, REGISTRY_RUN_TIMEOUT, cancel).await?;
        Ok(())
    }

    /// Start a stopped container.
    pub async fn start_container(&self, name: &str, cancel: &Cancel) -> Result<()> {
        self.run_docker(&["start", name], QUICK_TIMEOUT, cancel)
            .await?;
        Ok(())
    }

    /// Remove a container, running or not, with its anonymous volumes (the registry's
    /// storage), so that nothing is left behind.
    pub async fn remove_container(&self, name: &str, cancel: &Cancel) -> Result<()> {
        self.run_docker(&["rm", "--force", "--volumes", name], QUICK_TIMEOUT, cancel)
            .await?;
        Ok(())
    }

    /// Connect `container` to `network`; `false` when it already was.
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        cancel: &Cancel,
    ) -> Result<bool> {
        let args = ["network", "connect", network, container];
        let output = self
            .docker_command(&args, QUICK_TIMEOUT)
            .run(cancel)
            .await?;
        if output.success() {
            return Ok(true);
        }
        // "endpoint with name X already exists in network kind": connected before.
        if output.stderr.contains("already exists") {
            return Ok(false);
        }
        Err(failed("docker network connect", &output))
    }

    /// Write `content` to `dir/file` inside the node container `node`, creating `dir`. The
    /// content goes through stdin (`docker exec -i`), never on a command line.
    pub async fn write_node_file(
        &self,
        node: &str,
        dir: &str,
        file: &str,
        content: &str,
        cancel: &Cancel,
    ) -> Result<()> {
        // The path is an argument of the script ($1), so no quoting of it is ever needed.
        let script = format!("mkdir -p \"$1\" && cat > \"$1/{file}\"");
        let args = ["exec", "-i", node, "sh", "-c", &script, "sh", dir];
        let output = self
            .docker_command(&args, QUICK_TIMEOUT)
            .stdin(content.as_bytes().to_vec())
            .run(cancel)
            .await?;
        if !output.success() {
            return Err(failed(
                &format!("writing {dir}/{file} on node {node}"),
                &output,
            ));
        }
        Ok(())
    }

    async fn run_kind(&self, args: &[&str], timeout: Duration, cancel: &Cancel) -> Result<Output> {
        let label = format!("kind {}", args[..2.min(args.len())].join(" "));
        let output = Command::new(&self.kind)
            .args(args)
            .timeout(timeout)
            .label(&label)
            .run(cancel)
            .await?;
        if !output.success() {
            return Err(failed(&label, &output));
        }
        Ok(output)
    }

    async fn run_docker(
        &self,
        args: &[&str],
        timeout: Duration,
        cancel: &Cancel,
    ) -> Result<Output> {
        let output = self.docker_command(args, timeout).run(cancel).await?;
        if !output.success() {
            return Err(failed(&format!("docker {}", args[0]), &output));
        }
        Ok(output)
    }

    fn docker_command(&self, args: &[&str], timeout: Duration) -> Command {
        Command::new(&self.docker)
            .args(args)
            .timeout(timeout)
            .label(format!("docker {}", args[0]))
    }
}

/// A program of the cluster's tools that exited with an error, with what it said. docker (and
/// kind, which drives docker) without a running daemon is unreachable, not broken.
fn failed(what: &str, output: &Output) -> Error {
    let said = output.stderr.trim();
    let said = if said.is_empty() {
        output.stdout_text().trim().to_string()
    } else {
        said.to_string()
    };
    if said.contains("Cannot connect to the Docker daemon") {
        return Error::new(
            ErrorKind::Unreachable,
            format!("{what}: the Docker daemon is not running ({said})"),
        )
        .with_hint("start Docker (Docker Desktop, or `sudo systemctl start docker`), then run the command again");
    }
    Error::environment(format!("{what} failed ({}): {said}", output.status))
}

/// The non-empty lines of a program's stdout.
fn lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A docker container as `docker container inspect` describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    /// docker's state: `created`, `running`, `paused`, `restarting`, `exited`, `dead`.
    pub state: String,
    /// Published ports, `HOST_IP:HOST_PORT->PORT/PROTO` (the host IP is empty when docker
    /// publishes on every address).
    pub published: Vec<String>,
    /// The docker networks it is connected to.
    pub networks: Vec<String>,
}

impl Container {
    /// Read the `state;ports;networks` line of [`Tools::container`]'s format.
    fn parse(line: &str) -> Option<Container> {
        let mut fields = line.splitn(3, ';');
        let state = fields.next()?.trim();
        if state.is_empty() {
            return None;
        }
        let words = |field: Option<&str>| -> Vec<String> {
            let mut words: Vec<String> = field
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            words.sort();
            words
        };
        Some(Container {
            state: state.to_string(),
            published: words(fields.next()),
            networks: words(fields.next()),
        })
    }

    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// Whether the registry port inside the container is published on host port `port`
    /// (on 127.0.0.1 or every address: either way `localhost:PORT` reaches it).
    pub fn publishes(&self, port: u16) -> bool {
        let inside = format!("{REGISTRY_INTERNAL_PORT}/tcp");
        self.published.iter().any(|binding| {
            binding
                .rsplit_once("->")
                .and_then(|(host, container)| {
                    (container == inside).then_some(host.rsplit_once(':')?.1)
                })
                .is_some_and(|host_port| host_port == port.to_string())
        })
    }

    pub fn on_network(&self, network: &str) -> bool {
        self.networks.iter().any(|n| n == network)
    }
}

/// The containerd host configuration that sends pulls of `localhost:PORT/…` on a node to the
/// registry container over plain HTTP on the kind network: the file and its directory.
pub fn registry_hosts(registry: &str, port: u16) -> (String, String) {
    let dir = format!("{CERTS_D}/localhost:{port}");
    let content = format!("[host.\"http://{registry}:{REGISTRY_INTERNAL_PORT}\"]\n");
    (dir, content)
}

/// The `local-registry-hosting` ConfigMap of KEP-1755. `host` is where people and Tilt push
/// (`localhost:PORT`, which the nodes resolve through their containerd host configuration);
/// `hostFromClusterNetwork` is how pods reach the registry directly. `hostFromContainerRuntime`
/// is left out: it defaults to `host`, which is right here.
pub fn registry_hosting(registry: &str, port: u16) -> ConfigMap {
    let value = format!(
        "host: \"localhost:{port}\"\n\
         hostFromClusterNetwork: \"{registry}:{REGISTRY_INTERNAL_PORT}\"\n\
         help: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
    );
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": REGISTRY_HOSTING_NAME,
            "namespace": REGISTRY_HOSTING_NAMESPACE,
        },
        "data": {"localRegistryHosting.v1": value},
    }))
    .expect("a valid ConfigMap")
}

/// Apply the registry's `local-registry-hosting` ConfigMap (server-side apply).
pub async fn apply_registry_hosting(cluster: &Cluster, registry: &str, port: u16) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), REGISTRY_HOSTING_NAMESPACE);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let config_map = registry_hosting(registry, port);
    let patch = Patch::Apply(&config_map);
    let applied = api.patch(REGISTRY_HOSTING_NAME, &params, &patch);
    cancellable(cluster.cancel(), async {
        match tokio::time::timeout(OBSERVE_TIMEOUT, applied).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::environment(format!(
                "cannot apply the ConfigMap {REGISTRY_HOSTING_NAMESPACE}/{REGISTRY_HOSTING_NAME}: {e}"
            ))),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "applying the ConfigMap {REGISTRY_HOSTING_NAMESPACE}/{REGISTRY_HOSTING_NAME} got no answer within {} s",
                    OBSERVE_TIMEOUT.as_secs()
                ),
            )),
        }
    })
    .await
}

/// One node as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeHealth {
    pub name: String,
    pub ready: bool,
    /// Why it is not Ready: the Ready condition's reason and message, or that the kubelet
    /// posted none. Null when Ready.
    pub problem: Option<String>,
}

/// The `kube-system/coredns` Deployment as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoreDnsHealth {
    /// Its `Available` condition is True: enough replicas answer DNS.
    pub available: bool,
    pub available_replicas: i32,
    pub replicas: i32,
    /// Why it is not available, when it is not. Null when available.
    pub problem: Option<String>,
}

/// What the cluster's readiness consists of: every node Ready, CoreDNS available.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub nodes: Vec<NodeHealth>,
    pub coredns: CoreDnsHealth,
}

impl Health {
    /// At least one node, all Ready.
    pub fn nodes_ready(&self) -> bool {
        !self.nodes.is_empty() && self.nodes.iter().all(|n| n.ready)
    }

    pub fn ready(&self) -> bool {
        self.nodes_ready() && self.coredns.available
    }

    /// What keeps the nodes from being ready, one phrase each.
    pub fn node_problems(&self) -> Vec<String> {
        if self.nodes.is_empty() {
            return vec!["no node has registered with the API server".to_string()];
        }
        self.nodes
            .iter()
            .filter(|n| !n.ready)
            .map(|n| {
                format!(
                    "node {} is not Ready ({})",
                    n.name,
                    n.problem.as_deref().unwrap_or("no reason given")
                )
            })
            .collect()
    }

    /// Everything that keeps the cluster from being ready, one phrase each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.node_problems();
        if !self.coredns.available {
            problems.push(format!(
                "CoreDNS (kube-system/coredns) is not available: {}",
                self.coredns.problem.as_deref().unwrap_or("no reason given")
            ));
        }
        problems
    }
}

/// Look once at the nodes and CoreDNS.
pub async fn observe(cluster: &Cluster) -> Result<Health> {
    let look = async {
        let nodes: Api<Node> = Api::all(cluster.client().clone());
        let deployments: Api<Deployment> = Api::namespaced(cluster.client().clone(), "kube-system");
        let every = ListParams::default();
        let (nodes, coredns) = tokio::try_join!(nodes.list(&every), deployments.get_opt("coredns"))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unreachable,
                    format!(
                        "the API server of context {:?} did not answer: {e}",
                        cluster.context()
                    ),
                )
            })?;
        Ok(Health {
            nodes: nodes.items.iter().map(node_health).collect(),
            coredns: coredns_health(coredns.as_ref()),
        })
    };
    cancellable(cluster.cancel(), async {
        tokio::time::timeout(OBSERVE_TIMEOUT, look)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the API server of context {:?} did not answer within {} s",
                        cluster.context(),
                        OBSERVE_TIMEOUT.as_secs()
                    ),
                ))
            })
    })
    .await
}

fn node_health(node: &Node) -> NodeHealth {
    let name = node.metadata.name.clone().unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status == "True" => NodeHealth {
            name,
            ready: true,
            problem: None,
        },
        Some(c) => NodeHealth {
            name,
            ready: false,
            problem: Some(condition_text(
                &c.status,
                c.reason.as_deref(),
                c.message.as_deref(),
            )),
        },
        None => NodeHealth {
            name,
            ready: false,
            problem: Some("its kubelet has not reported a Ready condition".to_string()),
        },
    }
}

fn coredns_health(deployment: Option<&Deployment>) -> CoreDnsHealth {
    let Some(deployment) = deployment else {
        return CoreDnsHealth {
            available: false,
            available_replicas: 0,
            replicas: 0,
            problem: Some("the Deployment does not exist".to_string()),
        };
    };
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.as_ref();
    let available_replicas = status.and_then(|s| s.available_replicas).unwrap_or(0);
    let condition = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Available"));
    let available = condition.is_some_and(|c| c.status == "True");
    let problem = (!available).then(|| {
        let counts = format!("{available_replicas} of {replicas} replicas available");
        match condition {
            Some(c) => format!(
                "{counts}; {}",
                condition_text(&c.status, c.reason.as_deref(), c.message.as_deref())
            ),
            None => counts,
        }
    });
    CoreDnsHealth {
        available,
        available_replicas,
        replicas,
        problem,
    }
}

/// `Ready=False, KubeletNotReady: container runtime network not ready`.
fn condition_text(status: &str, reason: Option<&str>, message: Option<&str>) -> String {
    let mut text = format!("status {status}");
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        text.push_str(&format!(", {reason}"));
    }
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        text.push_str(&format!(": {message}"));
    }
    text
}

/// Wait until every node is Ready and CoreDNS is available, at most `timeout`.
///
/// It polls (a list of nodes and a get of one Deployment every 250 ms) rather than watching:
/// the wait happens once per `cluster up`, right after kubeadm has started a control plane
/// whose API server can still restart, and a fresh request each time needs no watch state to
/// recover; 250 ms is nothing beside the tens of seconds a cluster takes to start. An error
/// of one look is remembered and the wait goes on; at the deadline the error says what was
/// still not ready ([`ErrorKind::Timeout`]).
pub async fn wait_ready(cluster: &Cluster, timeout: Duration) -> Result<(Health, Duration)> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<Result<Health>> = None;
    loop {
        // The last look starts at the deadline at the latest; a slow answer to it is given
        // LAST_LOOK more, so that the outcome at the deadline is what counts.
        match tokio::time::timeout_at(deadline + LAST_LOOK, observe(cluster)).await {
            Ok(Ok(health)) if health.ready() => return Ok((health, started.elapsed())),
            Ok(Err(e)) if e.is_cancelled() => return Err(e),
            Ok(looked) => last = Some(looked),
            Err(_) => {}
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(not_ready(cluster.context(), timeout, last));
        }
        let pause = POLL_INTERVAL.min(deadline - now);
        cancellable(cluster.cancel(), async {
            tokio::time::sleep(pause).await;
            Ok(())
        })
        .await?;
    }
}

fn not_ready(context: &str, timeout: Duration, last: Option<Result<Health>>) -> Error {
    let why = match last {
        Some(Ok(health)) => health.problems().join("; "),
        Some(Err(e)) => e.message,
        None => "the API server did not answer".to_string(),
    };
    let waited = if timeout.subsec_millis() == 0 {
        format!("{} s", timeout.as_secs())
    } else {
        format!("{:.1} s", timeout.as_secs_f64())
    };
    Error::new(
        ErrorKind::Timeout,
        format!("the cluster of context {context:?} was not ready within {waited}: {why}"),
    )
    .with_hint(
        "`stackctl cluster status` shows what is not ready; `stackctl cluster up --timeout 10m` waits longer",
    )
}

/// The API server URL of `context` in the user's kubeconfig (`$KUBECONFIG`, else
/// `~/.kube/config`): `None` when the kubeconfig has no such context (or there is no
/// kubeconfig), `Some("")` when the context's cluster names no server.
pub fn kubeconfig_server(context: &str) -> Option<String> {
    let config = kube::config::Kubeconfig::read().ok()?;
    let cluster = &config
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .cluster;
    let server = config
        .clusters
        .iter()
        .find(|c| &c.name == cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone());
    Some(server.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_line_is_read_with_its_ports_and_networks() {
        let c = Container::parse("running;127.0.0.1:5000->5000/tcp ;kind bridge ").unwrap();
        assert_eq!(c.state, "running");
        assert_eq!(c.published, ["127.0.0.1:5000->5000/tcp"]);
        assert_eq!(c.networks, ["bridge", "kind"]);
        assert!(c.running() && c.publishes(5000) && !c.publishes(5001));
        assert!(c.on_network("kind"));

        let stopped = Container::parse("exited;;").unwrap();
        assert!(!stopped.running() && !stopped.publishes(5000));
        assert!(stopped.networks.is_empty());
        // Published on every address: docker leaves the host IP empty.
        assert!(
            Container::parse("running;:5000->5000/tcp ;bridge")
                .unwrap()
                .publishes(5000)
        );
        // Another container port published on 5000 is not the registry.
        assert!(
            !Container::parse("running;127.0.0.1:5000->80/tcp;")
                .unwrap()
                .publishes(5000)
        );
        assert_eq!(Container::parse(""), None);
    }

    #[test]
    fn the_registry_hosts_file_points_localhost_at_the_container() {
        let (dir, content) = registry_hosts("ctlptl-registry", 5000);
        assert_eq!(dir, "/etc/containerd/certs.d/localhost:5000");
        assert_eq!(content, "[host.\"http://ctlptl-registry:5000\"]\n");
    }

    #[test]
    fn the_registry_hosting_config_map_follows_kep_1755() {
        let cm = registry_hosting("ctlptl-registry", 5001);
        assert_eq!(cm.metadata.namespace.as_deref(), Some("kube-public"));
        let value = &cm.data.unwrap()["localRegistryHosting.v1"];
        assert!(value.starts_with("host: \"localhost:5001\"\n"), "{value}");
        assert!(value.contains("hostFromClusterNetwork: \"ctlptl-registry:5000\"\n"));
    }

    fn node(name: &str, ready: Option<(&str, &str)>) -> Node {
        let conditions = ready.map(|(status, reason)| {
            serde_json::json!([{"type": "Ready", "status": status, "reason": reason, "message": "m"}])
        });
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    #[test]
    fn health_names_every_node_that_is_not_ready_and_why() {
        let health = Health {
            nodes: vec![
                node_health(&node("a", Some(("True", "KubeletReady")))),
                node_health(&node("b", Some(("False", "KubeletNotReady")))),
                node_health(&node("c", None)),
            ],
            coredns: coredns_health(None),
        };
        assert!(!health.nodes_ready() && !health.ready());
        assert_eq!(
            health.problems(),
            [
                "node b is not Ready (status False, KubeletNotReady: m)",
                "node c is not Ready (its kubelet has not reported a Ready condition)",
                "CoreDNS (kube-system/coredns) is not available: the Deployment does not exist",
            ]
        );
        let empty = Health {
            nodes: vec![],
            coredns: health.coredns.clone(),
        };
        assert!(!empty.nodes_ready());
    }

    #[test]
    fn coredns_is_available_when_its_condition_says_so() {
        let deployment = |available: &str| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "coredns"},
                "spec": {"replicas": 2, "selector": {}, "template": {}},
                "status": {"availableReplicas": 1, "conditions": [
                    {"type": "Available", "status": available, "reason": "MinimumReplicasAvailable"}
                ]},
            }))
            .unwrap()
        };
        let up = coredns_health(Some(&deployment("True")));
        assert!(up.available && up.problem.is_none());
        assert_eq!((up.available_replicas, up.replicas), (1, 2));
        let down = coredns_health(Some(&deployment("False")));
        assert_eq!(
            down.problem.as_deref(),
            Some("1 of 2 replicas available; status False, MinimumReplicasAvailable")
        );
    }
}

//! `cluster up|delete|status`: the local kind cluster (`[cluster].name`, context
//! `kind-<name>`) and its image registry (`[cluster].registry` on
//! `127.0.0.1:<registry-port>`), the cluster the Kind test loops and the dev loop run on.
//!
//! `up` is idempotent: what exists and is healthy is reused, what is missing is created, and
//! the wiring between the two (kind's network, each node's containerd host configuration, the
//! `local-registry-hosting` ConfigMap) is applied every time, so a half-made setup is
//! completed. A cluster that exists but is unhealthy is reported, never silently recreated:
//! recreating it would throw away whatever runs in it.

use std::time::Duration;

use serde::Serialize;

use super::{Context, Notice};
use crate::cluster::Cluster;
use crate::cluster::kind::{
    self, CoreDnsHealth, Health, KIND_NETWORK, NodeHealth, REGISTRY_HOSTING_NAME,
    REGISTRY_HOSTING_NAMESPACE, REGISTRY_INTERNAL_PORT, Tools,
};
use crate::config::{ClusterConfig, Config, TestLoopConfig, parse_duration};
use crate::error::{Error, ErrorKind, Result};

/// What `cluster up` is asked.
#[derive(Debug, Clone)]
pub struct UpRequest {
    /// How long the nodes and CoreDNS may take to become ready (`90s`, `5m`).
    pub timeout: String,
}

/// What was done to a container or a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was made.
    Created,
    /// It existed, stopped, and was started.
    Started,
    /// It existed and was healthy: used as it was.
    Reused,
    /// It existed and was removed.
    Deleted,
    /// It did not exist: nothing to do.
    Absent,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Started => "started",
            Action::Reused => "reused",
            Action::Deleted => "deleted",
            Action::Absent => "absent",
        }
    }
}

/// The kind cluster after `cluster up`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterOutcome {
    pub name: String,
    pub context: String,
    pub action: Action,
    /// The cluster existed but its context was missing from the kubeconfig, and
    /// `kind export kubeconfig` wrote it again.
    pub context_restored: bool,
}

/// The registry after `cluster up`.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryOutcome {
    /// The container's name, which is also how the nodes reach it on kind's network.
    pub name: String,
    /// Where images are pushed: `localhost:<registry-port>`.
    pub address: String,
    pub action: Action,
    /// The docker network it was connected to (kind's).
    pub network: String,
    /// Where the nodes pull from, on that network: `<name>:5000`.
    pub from_nodes: String,
}

/// The containerd host configuration written into the nodes.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryHosts {
    /// The file written on each node.
    pub file: String,
    /// The node containers it was written to.
    pub nodes: Vec<String>,
}

/// The result of `cluster up` (the JSON document `ClusterUp`).
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub cluster: ClusterOutcome,
    pub registry: RegistryOutcome,
    pub registry_hosts: RegistryHosts,
    /// The ConfigMap that tells tools where the registry is, `namespace/name`.
    pub registry_hosting: String,
    /// Every node, Ready.
    pub nodes: Vec<NodeHealth>,
    pub coredns: CoreDnsHealth,
    /// How long the wait for the nodes and CoreDNS took.
    pub waited_ms: u64,
}

/// Bring up the registry and the kind cluster, wire them together and wait until the cluster
/// is ready.
pub async fn up(cx: &Context, request: &UpRequest) -> Result<UpReport> {
    let timeout =
        parse_duration(&request.timeout).map_err(|e| Error::usage(format!("--timeout: {e}")))?;
    let settings = &cx.repo.config.cluster;
    let tools = Tools::locate()?;
    let progress = cx.progress();
    progress.begin("cluster up", 6);
    let result = up_steps(cx, &tools, settings, timeout).await;
    progress.end();
    result
}

async fn up_steps(
    cx: &Context,
    tools: &Tools,
    settings: &ClusterConfig,
    timeout: Duration,
) -> Result<UpReport> {
    let cancel = cx.cancel();
    let progress = cx.progress();
    let port = settings.registry_port;

    let registry_action = ensure_registry(tools, settings, cx).await?;
    progress.advance(&format!(
        "registry {} {}",
        settings.registry,
        registry_action.as_str()
    ));
    cx.check_cancelled()?;

    let (cluster, cluster_outcome) = ensure_cluster(cx, tools, settings).await?;
    progress.advance(&format!(
        "cluster {} {}",
        settings.name,
        cluster_outcome.action.as_str()
    ));
    cx.check_cancelled()?;

    tools
        .connect_network(KIND_NETWORK, &settings.registry, cancel)
        .await?;
    progress.advance(&format!(
        "registry {} on the {KIND_NETWORK} network",
        settings.registry
    ));

    let (dir, content) = kind::registry_hosts(&settings.registry, port);
    let nodes = tools.nodes(&settings.name, cancel).await?;
    for node in &nodes {
        tools
            .write_node_file(node, &dir, "hosts.toml", &content, cancel)
            .await?;
    }
    progress.advance(&format!("{dir}/hosts.toml on {} node(s)", nodes.len()));
    cx.check_cancelled()?;

    kind::apply_registry_hosting(&cluster, &settings.registry, port).await?;
    progress.advance(&format!(
        "ConfigMap {REGISTRY_HOSTING_NAMESPACE}/{REGISTRY_HOSTING_NAME}"
    ));

    let (health, waited) = kind::wait_ready(&cluster, timeout).await?;
    progress.advance("nodes Ready, CoreDNS available");

    Ok(UpReport {
        cluster: cluster_outcome,
        registry: RegistryOutcome {
            name: settings.registry.clone(),
            address: format!("localhost:{port}"),
            action: registry_action,
            network: KIND_NETWORK.to_string(),
            from_nodes: format!("{}:{REGISTRY_INTERNAL_PORT}", settings.registry),
        },
        registry_hosts: RegistryHosts {
            file: format!("{dir}/hosts.toml"),
            nodes,
        },
        registry_hosting: format!("{REGISTRY_HOSTING_NAMESPACE}/{REGISTRY_HOSTING_NAME}"),
        nodes: health.nodes,
        coredns: health.coredns,
        waited_ms: waited.as_millis() as u64,
    })
}

/// The registry container, running and published on `127.0.0.1:<registry-port>`.
async fn ensure_registry(tools: &Tools, settings: &ClusterConfig, cx: &Context) -> Result<Action> {
    let (name, port) = (&settings.registry, settings.registry_port);
    let cancel = cx.cancel();
    let Some(container) = tools.container(name, cancel).await? else {
        tools.run_registry(name, port, cancel).await?;
        return Ok(Action::Created);
    };
    // Docker keeps a container's port bindings while it is stopped: check them first, as a
    // registry on another port would take pushes that the nodes never see.
    if !container.publishes(port) {
        let publishes = if container.published.is_empty() {
            "no port".to_string()
        } else {
            container.published.join(", ")
        };
        return Err(Error::environment(format!(
            "the container {name} exists but does not publish the registry on port {port} (it publishes {publishes}): images pushed to localhost:{port} would not reach it"
        ))
        .with_hint(format!(
            "remove it (`docker rm -f {name}`) so that `stackctl cluster up` creates the registry, or set [cluster].registry-port in stackctl.toml to the port it uses"
        )));
    }
    if container.running() {
        return Ok(Action::Reused);
    }
    tools.start_container(name, cancel).await?;
    cx.progress().notice(Notice::Warning(&format!(
        "the registry container {name} was {}: started it",
        container.state
    )));
    Ok(Action::Started)
}

/// The kind cluster, connected: reused when it exists and is healthy, else created. An
/// existing cluster that is not healthy is an error that says what is wrong.
async fn ensure_cluster(
    cx: &Context,
    tools: &Tools,
    settings: &ClusterConfig,
) -> Result<(Cluster, ClusterOutcome)> {
    let cancel = cx.cancel();
    let (name, context) = (&settings.name, settings.context());
    let exists = tools.clusters(cancel).await?.contains(name);
    let mut outcome = ClusterOutcome {
        name: name.clone(),
        context: context.clone(),
        action: Action::Reused,
        context_restored: false,
    };
    if exists {
        // The cluster exists but the context went missing (a kubeconfig cleaned by hand, a
        // new machine user): kind writes it again, which changes nothing in the cluster.
        if kind::kubeconfig_server(&context).is_none() {
            tools.export_kubeconfig(name, cancel).await?;
            outcome.context_restored = true;
        }
        let cluster = reuse(cx, tools, name, &context).await?;
        return Ok((cluster, outcome));
    }
    let config = cx.repo.root.join(&settings.config);
    if !config.is_file() {
        return Err(Error::config(format!(
            "the kind configuration {} does not exist",
            settings.config.display()
        ))
        .with_hint("[cluster].config in stackctl.toml names it, relative to the repository root (default kind/kind-config.yaml)"));
    }
    cx.progress().notice(Notice::Banner(&format!(
        "creating the kind cluster {name} from {} (the first time, kind downloads its node image: minutes)",
        settings.config.display()
    )));
    tools.create_cluster(name, &config, cancel).await?;
    outcome.action = Action::Created;
    let cluster = Cluster::connect(None, &context, cancel).await?;
    Ok((cluster, outcome))
}

/// Connect to an existing cluster and check it is healthy: its API answers and every node is
/// Ready. CoreDNS is not judged here: it is awaited afterwards like on a new cluster.
async fn reuse(cx: &Context, tools: &Tools, name: &str, context: &str) -> Result<Cluster> {
    let cancel = cx.cancel();
    let looked = match Cluster::connect(None, context, cancel).await {
        Ok(cluster) => kind::observe(&cluster)
            .await
            .map(|health| (cluster, health)),
        Err(e) => Err(e),
    };
    let problems = match looked {
        Ok((cluster, health)) if health.nodes_ready() => return Ok(cluster),
        Ok((_, health)) => health.node_problems(),
        Err(e) if e.is_cancelled() => return Err(e),
        // The API does not answer: the node containers' states usually say why.
        Err(e) => {
            let mut problems = vec![e.message];
            for node in tools.nodes(name, cancel).await.unwrap_or_default() {
                match tools.container(&node, cancel).await {
                    Ok(Some(c)) if !c.running() => {
                        problems.push(format!("its node container {node} is {}", c.state))
                    }
                    Ok(None) => problems.push(format!("its node container {node} does not exist")),
                    _ => {}
                }
            }
            problems
        }
    };
    Err(Error::environment(format!(
        "the kind cluster {name:?} exists but is not healthy, so it was left as it is: {}",
        problems.join("; ")
    ))
    .with_hint(
        "`stackctl cluster delete` then `stackctl cluster up` recreates it (what runs in it is lost); `stackctl cluster status` shows what exists",
    ))
}

/// The result of `cluster delete` (the JSON document `ClusterDelete`).
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    pub cluster: Removed,
    pub registry: Removed,
}

/// A cluster or container `cluster delete` removed, or found absent.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub name: String,
    /// `deleted` or `absent`.
    pub action: Action,
}

/// Delete the kind cluster and the registry container; what is already gone is fine.
pub async fn delete(cx: &Context) -> Result<DeleteReport> {
    let settings = &cx.repo.config.cluster;
    let tools = Tools::locate()?;
    let cancel = cx.cancel();
    let progress = cx.progress();
    progress.begin("cluster delete", 2);
    let result = async {
        let cluster = if tools.clusters(cancel).await?.contains(&settings.name) {
            tools.delete_cluster(&settings.name, cancel).await?;
            Action::Deleted
        } else {
            Action::Absent
        };
        progress.advance(&format!("cluster {} {}", settings.name, cluster.as_str()));
        cx.check_cancelled()?;
        let registry = if tools.container(&settings.registry, cancel).await?.is_some() {
            tools.remove_container(&settings.registry, cancel).await?;
            Action::Deleted
        } else {
            Action::Absent
        };
        progress.advance(&format!(
            "registry {} {}",
            settings.registry,
            registry.as_str()
        ));
        Ok(DeleteReport {
            cluster: Removed {
                name: settings.name.clone(),
                action: cluster,
            },
            registry: Removed {
                name: settings.registry.clone(),
                action: registry,
            },
        })
    }
    .await;
    progress.end();
    result
}

/// The registry as `cluster status` sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryStatus {
    pub name: String,
    /// Where images are pushed: `localhost:<registry-port>`.
    pub address: String,
    /// docker's state of the container (`running`, `exited`, …), or `absent`.
    pub state: String,
    /// Its published ports, `HOST_IP:HOST_PORT->PORT/PROTO`.
    pub published: Vec<String>,
    /// Whether it is published on `<registry-port>`, where pushes go.
    pub published_on_port: bool,
    /// Whether it is on kind's network, where the nodes pull from it.
    pub on_kind_network: bool,
}

/// A node container of the kind cluster, as docker sees it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeContainer {
    pub name: String,
    /// docker's state, or `absent`.
    pub state: String,
}

/// The kind cluster as `cluster status` sees it.
#[derive(Debug, Clone, Serialize)]
pub struct KindStatus {
    pub name: String,
    /// Whether `kind get clusters` lists it.
    pub exists: bool,
    pub node_containers: Vec<NodeContainer>,
    /// The kubeconfig context (`kind-<name>`).
    pub context: String,
    /// The API server that context points at; null when the kubeconfig has no such context.
    pub server: Option<String>,
    /// Why the API could not be asked about the nodes and CoreDNS; null when it answered, or
    /// when there was nothing to ask.
    pub api_problem: Option<String>,
    /// The nodes as the API reports them; null when it was not asked or did not answer.
    pub nodes: Option<Vec<NodeHealth>>,
    pub coredns: Option<CoreDnsHealth>,
}

/// What a test command will use.
#[derive(Debug, Clone, Serialize)]
pub struct TestTarget {
    /// `test local` or `test ci`.
    pub command: String,
    /// The lifecycle variant it deploys.
    pub variant: String,
    /// The kubeconfig context it deploys to.
    pub context: String,
    /// Whether that context is the kind cluster's.
    pub on_kind_cluster: bool,
    /// The namespace it deploys to: the variant's, else `[render].namespace`; null when the
    /// variant is not declared.
    pub namespace: Option<String>,
    /// The registry it pushes the images it builds to; null when it builds none (`test ci`
    /// pulls what the variant's values name).
    pub images: Option<String>,
}

/// The result of `cluster status` (the JSON document `ClusterStatus`).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The registry runs on its port and on kind's network, the cluster exists, its nodes
    /// are Ready and CoreDNS is available: what `cluster up` leaves behind.
    pub ready: bool,
    pub registry: RegistryStatus,
    pub cluster: KindStatus,
    pub tests: Vec<TestTarget>,
}

/// What exists of the local cluster and its registry, and what the test commands will use.
/// Changes nothing.
pub async fn status(cx: &Context) -> Result<ClusterStatus> {
    let config = &cx.repo.config;
    let settings = &config.cluster;
    let tools = Tools::locate()?;
    let cancel = cx.cancel();
    let port = settings.registry_port;

    let container = tools.container(&settings.registry, cancel).await?;
    let registry = RegistryStatus {
        name: settings.registry.clone(),
        address: format!("localhost:{port}"),
        state: container
            .as_ref()
            .map_or_else(|| "absent".to_string(), |c| c.state.clone()),
        published: container
            .as_ref()
            .map(|c| c.published.clone())
            .unwrap_or_default(),
        published_on_port: container.as_ref().is_some_and(|c| c.publishes(port)),
        on_kind_network: container
            .as_ref()
            .is_some_and(|c| c.on_network(KIND_NETWORK)),
    };
    cx.check_cancelled()?;

    let cluster = kind_status(cx, &tools, settings).await?;
    let health = match (&cluster.nodes, &cluster.coredns) {
        (Some(nodes), Some(coredns)) => Some(Health {
            nodes: nodes.clone(),
            coredns: coredns.clone(),
        }),
        _ => None,
    };
    let ready = container.as_ref().is_some_and(|c| c.running())
        && registry.published_on_port
        && registry.on_kind_network
        && cluster.exists
        && health.is_some_and(|h| h.ready());
    Ok(ClusterStatus {
        ready,
        registry,
        tests: vec![
            test_target("test local", &config.test.local, config, Some(port)),
            test_target("test ci", &config.test.ci, config, None),
        ],
        cluster,
    })
}

async fn kind_status(cx: &Context, tools: &Tools, settings: &ClusterConfig) -> Result<KindStatus> {
    let cancel = cx.cancel();
    let context = settings.context();
    let exists = tools.clusters(cancel).await?.contains(&settings.name);
    let mut node_containers = Vec::new();
    if exists {
        for node in tools.nodes(&settings.name, cancel).await? {
            let state = tools
                .container(&node, cancel)
                .await?
                .map_or_else(|| "absent".to_string(), |c| c.state);
            node_containers.push(NodeContainer { name: node, state });
        }
    }
    let server = kind::kubeconfig_server(&context);
    let mut status = KindStatus {
        name: settings.name.clone(),
        exists,
        node_containers,
        context: context.clone(),
        server,
        api_problem: None,
        nodes: None,
        coredns: None,
    };
    // Without a cluster there is nothing to ask; a context left behind by a deleted cluster
    // would only time out.
    if !exists || status.server.is_none() {
        return Ok(status);
    }
    let looked = match Cluster::connect(None, &context, cancel).await {
        Ok(cluster) => kind::observe(&cluster).await,
        Err(e) => Err(e),
    };
    match looked {
        Ok(health) => {
            status.nodes = Some(health.nodes);
            status.coredns = Some(health.coredns);
        }
        Err(e) if e.kind == ErrorKind::Cancelled => return Err(e),
        Err(e) => status.api_problem = Some(e.message),
    }
    Ok(status)
}

fn test_target(
    command: &str,
    test: &TestLoopConfig,
    config: &Config,
    registry_port: Option<u16>,
) -> TestTarget {
    let kind_context = config.cluster.context();
    let context = test.context.clone().unwrap_or_else(|| kind_context.clone());
    TestTarget {
        command: command.to_string(),
        variant: test.variant.clone(),
        on_kind_cluster: context == kind_context,
        context,
        namespace: config.variants.get(&test.variant).map(|v| {
            v.namespace
                .clone()
                .unwrap_or_else(|| config.render.namespace.clone())
        }),
        images: registry_port.map(|port| format!("localhost:{port}")),
    }
}

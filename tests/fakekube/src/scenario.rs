//! Scenarios: what the stand-in cluster does, kwok style. Pods behave per rule (keyed by the
//! name of any owner in their chain, or by labels); Deployments can lag or hit their progress
//! deadline early; namespaces can stick in Terminating; routes can be slow, fail, drop
//! watches or cut port-forwards; custom resource groups exist only when declared.
//!
//! A scenario is built in Rust ([`Scenario::ready`] and the `with_*` methods) or read from a
//! YAML file ([`Scenario::from_yaml`]); the README documents the file format.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::resources::CrdSpec;
use crate::stub::StubConfig;

/// What the pods a rule selects do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Scheduled, init containers complete, containers running and Ready at once. Pods of
    /// Jobs (restartPolicy Never/OnFailure) run for `delay-ms` and succeed.
    #[default]
    Ready,
    /// Like `ready`, but ContainerCreating for `delay-ms` (default 1000) first.
    Slow,
    /// Running but never Ready (readiness probe failing, with Unhealthy events).
    NeverReady,
    /// ErrImagePull, then ImagePullBackOff after `delay-ms` (default 100), with the kubelet's
    /// Pulling / Failed / BackOff events.
    ImagePullBackoff,
    /// The container exits with `exit-code` (default 1) every `delay-ms` (default 100, doubling
    /// up to 32x as the kubelet's back-off does): restarts grow, `lastState.terminated` is set,
    /// previous logs exist, the state is CrashLoopBackOff. Pods of Jobs with restartPolicy
    /// Never fail instead.
    Crashloop,
    /// The first init container crash-loops; the pod stays Pending in Init:CrashLoopBackOff.
    InitCrash,
    /// Never scheduled: PodScheduled=False, reason Unschedulable, a FailedScheduling event.
    Unschedulable,
}

/// Which pods a rule applies to. Every given field must match; an empty match selects all.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PodMatch {
    /// The name of the pod or of any owner in its chain (ReplicaSet, Deployment, StatefulSet,
    /// Job, CronJob).
    pub owner: Option<String>,
    /// Labels the pod must carry.
    pub labels: BTreeMap<String, String>,
    pub namespace: Option<String>,
}

impl PodMatch {
    pub fn owner(name: &str) -> Self {
        Self {
            owner: Some(name.into()),
            ..Self::default()
        }
    }

    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            labels: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Self::default()
        }
    }

    /// Whether a pod with these owner-chain names, labels and namespace is selected.
    pub fn matches(
        &self,
        owners: &[String],
        labels: &BTreeMap<String, String>,
        namespace: &str,
    ) -> bool {
        self.owner.as_ref().is_none_or(|o| owners.contains(o))
            && self.namespace.as_ref().is_none_or(|n| n == namespace)
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// A pod behaviour for the pods a match selects.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PodRule {
    #[serde(rename = "match", default)]
    pub select: PodMatch,
    pub behaviour: Behaviour,
    /// The behaviour's time constant, in milliseconds (see [`Behaviour`]).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// The container the failure applies to (default: every container; for `init-crash`, the
    /// first init container).
    #[serde(default)]
    pub container: Option<String>,
    /// Exit code of crashing containers (default 1).
    #[serde(default)]
    pub exit_code: Option<i64>,
}

impl PodRule {
    pub fn new(select: PodMatch, behaviour: Behaviour) -> Self {
        Self {
            select,
            behaviour,
            delay_ms: None,
            container: None,
            exit_code: None,
        }
    }

    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = Some(ms);
        self
    }

    pub fn container(mut self, name: &str) -> Self {
        self.container = Some(name.into());
        self
    }
}

/// Timing of one Deployment's controller.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeploymentRule {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// How long the controller takes to observe a new generation: until then the status still
    /// describes the previous one (`observedGeneration` < `generation`).
    #[serde(default)]
    pub observed_generation_lag_ms: u64,
    /// Replaces `spec.progressDeadlineSeconds` x 1000, so ProgressDeadlineExceeded arrives in
    /// milliseconds.
    #[serde(default)]
    pub progress_deadline_ms: Option<u64>,
}

impl DeploymentRule {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            namespace: None,
            observed_generation_lag_ms: 0,
            progress_deadline_ms: None,
        }
    }

    pub fn observed_generation_lag_ms(mut self, ms: u64) -> Self {
        self.observed_generation_lag_ms = ms;
        self
    }

    pub fn progress_deadline_ms(mut self, ms: u64) -> Self {
        self.progress_deadline_ms = Some(ms);
        self
    }
}

/// A fault on the API routes a request matches (method, path prefix, watch or not).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Fault {
    pub method: Option<String>,
    /// A path prefix, e.g. `/apis/apps/v1/namespaces/ci/deployments`.
    pub path: String,
    /// Only watch requests (true) or only others (false); both if absent.
    pub watch: Option<bool>,
    /// Added before the answer.
    pub latency_ms: u64,
    /// Answer with a Status of this code instead of serving the request.
    pub status: Option<u16>,
    /// Apply the fault to the first N matching requests only (then the route is healthy).
    pub times: Option<u32>,
    /// End a watch stream after this many events (bookmarks not counted).
    pub drop_watch_after_events: Option<usize>,
    /// Cut a port-forward connection after this many bytes from the pod.
    pub close_after_bytes: Option<u64>,
}

impl Fault {
    pub fn path(prefix: &str) -> Self {
        Self {
            path: prefix.into(),
            ..Self::default()
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.into());
        self
    }

    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = Some(watch);
        self
    }

    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }

    pub fn status(mut self, code: u16) -> Self {
        self.status = Some(code);
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub fn drop_watch_after_events(mut self, n: usize) -> Self {
        self.drop_watch_after_events = Some(n);
        self
    }

    pub fn close_after_bytes(mut self, n: u64) -> Self {
        self.close_after_bytes = Some(n);
        self
    }
}

/// Where connections to a pod port go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTarget {
    /// The platform stub (the default when the stub runs).
    Stub,
    /// Nothing listens: the kubelet's "connection refused" error.
    Refused,
    /// A local address, `127.0.0.1:8080`.
    Address(String),
}

impl<'de> Deserialize<'de> for ForwardTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "stub" => Self::Stub,
            "refused" => Self::Refused,
            _ => Self::Address(text),
        })
    }
}

/// The target of port-forwards to the pods a match selects (one port, or all).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PortForwardRule {
    #[serde(rename = "match", default)]
    pub select: PodMatch,
    #[serde(default)]
    pub port: Option<u16>,
    pub target: ForwardTarget,
}

/// Log text of the pods a match selects (one container, or all).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LogRule {
    #[serde(rename = "match", default)]
    pub select: PodMatch,
    #[serde(default)]
    pub container: Option<String>,
    /// The current container's log.
    #[serde(default)]
    pub current: Option<String>,
    /// The previous (crashed) container's log.
    #[serde(default)]
    pub previous: Option<String>,
}

/// Everything the stand-in cluster does.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Scenario {
    /// Name of the kubeconfig context, cluster and user (default `kind-kind`).
    pub context: String,
    /// Custom resource groups that exist (as if their CRDs were installed).
    pub crds: Vec<CrdSpec>,
    /// Pod behaviours; the first matching rule wins, pods no rule selects are `ready`.
    pub pods: Vec<PodRule>,
    pub deployments: Vec<DeploymentRule>,
    /// Namespaces whose deletion never completes: they stay Terminating with the condition a
    /// failing aggregated API causes.
    pub stuck_namespaces: Vec<String>,
    pub faults: Vec<Fault>,
    /// Port-forward targets; the first matching rule wins, the default is the stub.
    pub port_forwards: Vec<PortForwardRule>,
    pub logs: Vec<LogRule>,
    /// The platform stub the port-forwards reach.
    pub stub: StubConfig,
    /// How many changes watches can resume from before older resourceVersions get 410.
    pub history_window: usize,
    /// How often idle watches that asked for bookmarks receive one.
    pub bookmark_interval_ms: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            context: "kind-kind".into(),
            crds: Vec::new(),
            pods: Vec::new(),
            deployments: Vec::new(),
            stuck_namespaces: Vec::new(),
            faults: Vec::new(),
            port_forwards: Vec::new(),
            logs: Vec::new(),
            stub: StubConfig::default(),
            history_window: 10_000,
            bookmark_interval_ms: 1_000,
        }
    }
}

impl Scenario {
    /// The `ready` scenario: a healthy cluster where every pod becomes Ready at once, the stub
    /// runs and every pod port forwards to it.
    pub fn ready() -> Self {
        Self::default()
    }

    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("invalid scenario: {e}"))
    }

    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn with_pod(mut self, rule: PodRule) -> Self {
        self.pods.push(rule);
        self
    }

    pub fn with_deployment(mut self, rule: DeploymentRule) -> Self {
        self.deployments.push(rule);
        self
    }

    pub fn with_stuck_namespace(mut self, name: &str) -> Self {
        self.stuck_namespaces.push(name.into());
        self
    }

    pub fn with_crd(mut self, crd: CrdSpec) -> Self {
        self.crds.push(crd);
        self
    }

    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    pub fn with_port_forward(mut self, rule: PortForwardRule) -> Self {
        self.port_forwards.push(rule);
        self
    }

    pub fn with_logs(mut self, rule: LogRule) -> Self {
        self.logs.push(rule);
        self
    }

    pub fn with_stub(mut self, stub: StubConfig) -> Self {
        self.stub = stub;
        self
    }

    pub fn with_history_window(mut self, changes: usize) -> Self {
        self.history_window = changes;
        self
    }

    pub fn with_bookmark_interval_ms(mut self, ms: u64) -> Self {
        self.bookmark_interval_ms = ms;
        self
    }

    /// The first pod rule selecting a pod.
    pub fn pod_rule(
        &self,
        owners: &[String],
        labels: &BTreeMap<String, String>,
        namespace: &str,
    ) -> Option<&PodRule> {
        self.pods
            .iter()
            .find(|r| r.select.matches(owners, labels, namespace))
    }

    pub fn deployment_rule(&self, namespace: &str, name: &str) -> Option<&DeploymentRule> {
        self.deployments
            .iter()
            .find(|r| r.name == name && r.namespace.as_ref().is_none_or(|n| n == namespace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_file_reads_into_rules() {
        let yaml = r#"
context: kind-ci
crds:
  - {group: external-secrets.io, version: v1, kind: ExternalSecret}
pods:
  - match: {owner: jetscale-ci-backend-api}
    behaviour: image-pull-backoff
    delay-ms: 50
  - match: {labels: {app.kubernetes.io/component: frontend}}
    behaviour: crashloop
deployments:
  - {name: jetscale-ci-frontend, observed-generation-lag-ms: 300, progress-deadline-ms: 500}
stuck-namespaces: [old-ns]
faults:
  - {path: /apis/apps/v1, watch: true, drop-watch-after-events: 2}
port-forwards:
  - {match: {owner: jetscale-ci-backend-ws}, port: 8001, target: refused}
  - {target: "127.0.0.1:9"}
logs:
  - {match: {owner: jetscale-ci-backend-api}, previous: "Traceback: boom"}
stub:
  password: other
"#;
        let s = Scenario::from_yaml(yaml).unwrap();
        assert_eq!(s.context, "kind-ci");
        assert_eq!(s.pods[0].behaviour, Behaviour::ImagePullBackoff);
        assert_eq!(
            s.pods[1].select.labels["app.kubernetes.io/component"],
            "frontend"
        );
        assert_eq!(s.port_forwards[0].target, ForwardTarget::Refused);
        assert_eq!(
            s.port_forwards[1].target,
            ForwardTarget::Address("127.0.0.1:9".into())
        );
        assert_eq!(s.stub.password, "other");
        assert!(s.stub.enabled);
        assert_eq!(s.history_window, 10_000);
        assert!(Scenario::from_yaml("pods: [{behaviour: sleepy}]").is_err());
        assert!(Scenario::from_yaml("podz: []").is_err());
    }

    #[test]
    fn owner_matching_uses_the_whole_chain() {
        let m = PodMatch::owner("web");
        let owners = vec![
            "web-5d4f-abcde".to_string(),
            "web-5d4f".into(),
            "web".into(),
        ];
        assert!(m.matches(&owners, &BTreeMap::new(), "ns"));
        assert!(!PodMatch::owner("api").matches(&owners, &BTreeMap::new(), "ns"));
    }
}

//! Applying a render to the cluster: server-side apply of every object (field manager
//! [`FIELD_MANAGER`]), Helm hooks run as Helm runs them or refused, and a prune of what an
//! earlier apply of the release left and this render no longer has.
//!
//! Every object applied carries the label [`INVENTORY_LABEL`] with the release as its value:
//! that label is the inventory. Helm keeps its inventory in a release Secret; stackctl applies
//! `helm template` output, so it keeps its own, in the objects themselves, as
//! `kubectl apply --prune -l` does.
//!
//! What the cluster refuses about one object (a kind it does not serve, an immutable field) is
//! an [`ApplyProblem`] of the outcome, and the other objects are still applied; an `Err` means
//! the environment failed: no answer, refused credentials, a namespace being deleted, an
//! interrupted run.

mod hooks;
mod prune;
mod values_hint;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{GroupVersionKind, Status};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use serde::Serialize;
use serde_json::Value;

use super::Cluster;
use super::api::{self, CALL_TIMEOUT};
use super::namespace;
use crate::error::{Error, ErrorKind, Result};
use crate::helm::RenderedObject;
use crate::values::Merged;

pub use hooks::{HookOutcome, HookRun};
pub use prune::PRUNABLE_KINDS;

/// The field manager of every server-side apply stackctl makes.
pub const FIELD_MANAGER: &str = "stackctl";

/// The label every applied object carries; its value is the release. Helm names cluster-scoped
/// objects after the release too, so two releases of one name in two namespaces would collide
/// on those objects anyway: the release alone identifies an inventory.
pub const INVENTORY_LABEL: &str = "stackctl.dev/inventory";

/// How long a hook may run when the caller has no better deadline: Helm's default `--timeout`.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// How many objects of one stage are applied at once.
const PARALLEL_APPLIES: usize = 8;

/// What to apply, and where.
pub struct ApplyRequest<'a> {
    /// The release: the value of the inventory label.
    pub release: &'a str,
    /// Where namespaced objects without a namespace go. Created if missing.
    pub namespace: &'a str,
    pub objects: &'a [RenderedObject],
    /// The values the objects were rendered with, to name the chart value that renders an
    /// object the cluster cannot take (`externalSecret.enabled is true (envs/prod/x.yaml:9)`).
    pub values: Option<&'a Merged>,
    /// How long each hook may run (Jobs until complete); [`DEFAULT_HOOK_TIMEOUT`] is Helm's.
    pub hook_timeout: Duration,
}

/// One object in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    /// `apps/v1`, `v1`.
    pub api_version: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.to_string(),
            api_version: api_version.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// The API group (`apps`), empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// Deployments, StatefulSets and Jobs: what [`super::wait::wait`] waits for.
    pub fn is_workload(&self) -> bool {
        matches!(
            (self.group(), self.kind.as_str()),
            ("apps", "Deployment") | ("apps", "StatefulSet") | ("batch", "Job")
        )
    }
}

/// `Deployment/jetscale-ci-backend-api`, as kubectl names objects.
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// What the cluster refused about one object, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyProblem {
    pub object: ObjectRef,
    pub message: String,
    pub hint: Option<String>,
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// Every object applied (hooks excepted), in the order applied.
    pub applied: Vec<ObjectRef>,
    /// Objects of the release's inventory this render no longer has, deleted.
    pub pruned: Vec<ObjectRef>,
    /// The hooks run, in the order run.
    pub hooks: Vec<HookRun>,
    /// What the cluster could not take, hooks that failed or were refused.
    pub problems: Vec<ApplyProblem>,
}

impl ApplyOutcome {
    /// True when every object was applied and every hook succeeded.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The applied Deployments, StatefulSets and Jobs: what to wait for.
    pub fn workloads(&self) -> Vec<ObjectRef> {
        self.applied
            .iter()
            .filter(|o| o.is_workload())
            .cloned()
            .collect()
    }
}

/// Apply `request.objects` to the cluster, run their hooks, and prune what the release's
/// inventory holds that they no longer render. The namespace is created if missing.
pub async fn apply(cluster: &Cluster, request: &ApplyRequest<'_>) -> Result<ApplyOutcome> {
    namespace::ensure(cluster, request.namespace).await?;
    let served = Served::discover(cluster).await?;
    let mut outcome = ApplyOutcome::default();

    let mut rendered: Vec<ObjectRef> = Vec::new();
    let mut resources: Vec<Prepared> = Vec::new();
    let mut hook_objects: Vec<(hooks::Hook, Prepared)> = Vec::new();
    for object in request.objects {
        rendered.push(object_ref(object, request.namespace, &served));
        let prepared = match Prepared::new(object, request, &served) {
            Ok(prepared) => prepared,
            Err(problem) => {
                outcome.problems.push(*problem);
                continue;
            }
        };
        match hooks::Hook::of(object) {
            None => resources.push(prepared),
            Some(Ok(hook)) => hook_objects.push((hook, prepared)),
            Some(Err(refusal)) => outcome.problems.push(ApplyProblem {
                object: prepared.reference,
                message: refusal.message,
                hint: Some(refusal.hint),
            }),
        }
    }

    // What the inventory holds now says whether this is a first install (for the hooks) and
    // what to prune once the render is applied.
    let inventory = prune::Inventory::list(cluster, &served, request, &rendered).await?;
    let install = inventory.is_empty();

    let pre = hooks::select(&hook_objects, hooks::Stage::Pre, install);
    let pre_ok = hooks::run(cluster, request, &pre, &mut outcome).await?;
    if !pre_ok {
        // Helm stops a release at a failed pre hook: nothing else is applied or pruned.
        return Ok(outcome);
    }

    resources.sort_by_key(|p| p.stage);
    let mut start = 0;
    while start < resources.len() {
        let stage = resources[start].stage;
        let end = resources[start..]
            .iter()
            .position(|p| p.stage != stage)
            .map_or(resources.len(), |n| start + n);
        let results: Vec<Result<Option<ApplyProblem>>> =
            futures_util::stream::iter(&resources[start..end])
                .map(|prepared| apply_one(cluster, prepared))
                .buffered(PARALLEL_APPLIES)
                .collect()
                .await;
        for (prepared, result) in resources[start..end].iter().zip(results) {
            match result? {
                None => outcome.applied.push(prepared.reference.clone()),
                Some(problem) => outcome.problems.push(problem),
            }
        }
        start = end;
    }

    let post = hooks::select(&hook_objects, hooks::Stage::Post, install);
    hooks::run(cluster, request, &post, &mut outcome).await?;

    inventory
        .prune(cluster, request, &rendered, &mut outcome)
        .await?;
    Ok(outcome)
}

/// The kinds the cluster serves, from one discovery (aggregated where the server supports
/// it: two requests instead of one per group version).
pub(super) struct Served {
    discovery: Discovery,
}

impl Served {
    async fn discover(cluster: &Cluster) -> Result<Served> {
        let aggregated = api::call(
            cluster,
            "discover the API",
            CALL_TIMEOUT,
            Discovery::new(cluster.client().clone()).run_aggregated(),
        )
        .await;
        let why_not = match aggregated {
            Ok(Ok(discovery)) => return Ok(Served { discovery }),
            Ok(Err(status)) => api::refusal_text(&status),
            // An answer kube-rs cannot read as aggregated discovery: an older server.
            Err(e) if e.kind == ErrorKind::Environment => e.to_string(),
            Err(e) => return Err(e),
        };
        // Servers older than Kubernetes 1.26 have no aggregated discovery: one request per
        // group version instead.
        tracing::debug!("aggregated discovery failed ({why_not}); asking each group");
        let discovery = api::call(
            cluster,
            "discover the API",
            CALL_TIMEOUT,
            Discovery::new(cluster.client().clone()).run(),
        )
        .await?
        .map_err(|status| {
            Error::environment(format!(
                "the API server refuses discovery: {}",
                api::refusal_text(&status)
            ))
        })?;
        Ok(Served { discovery })
    }

    fn resolve(&self, api_version: &str, kind: &str) -> Option<(ApiResource, ApiCapabilities)> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.discovery
            .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
    }

    /// The preferred version of a kind, for kinds stackctl looks for without an object.
    fn recommended(&self, group: &str, kind: &str) -> Option<(ApiResource, ApiCapabilities)> {
        self.discovery.get(group)?.recommended_kind(kind)
    }
}

/// Where an object sits in the apply order. Helm's install order (`kind_sorter.go`) in five
/// stages: what everything else refers to first, workloads after the configuration and
/// Services they use, and last what refers to workloads or is unknown (custom resources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// CRDs, namespaces and other cluster-scoped objects.
    Cluster,
    /// ServiceAccounts, Secrets, ConfigMaps, claims, RBAC, policies.
    Configuration,
    Services,
    Workloads,
    /// Ingresses, autoscalers, webhooks, custom resources.
    Rest,
}

impl Stage {
    fn of(kind: &str, scope: &Scope) -> Stage {
        match kind {
            "CustomResourceDefinition" | "Namespace" => Stage::Cluster,
            "NetworkPolicy"
            | "ResourceQuota"
            | "LimitRange"
            | "PodDisruptionBudget"
            | "ServiceAccount"
            | "Secret"
            | "ConfigMap"
            | "PersistentVolumeClaim"
            | "Role"
            | "RoleBinding" => Stage::Configuration,
            "Service" => Stage::Services,
            "DaemonSet"
            | "Pod"
            | "ReplicationController"
            | "ReplicaSet"
            | "Deployment"
            | "StatefulSet"
            | "Job"
            | "CronJob" => Stage::Workloads,
            _ if *scope == Scope::Cluster && !is_webhook(kind) => Stage::Cluster,
            _ => Stage::Rest,
        }
    }
}

fn is_webhook(kind: &str) -> bool {
    matches!(
        kind,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" | "APIService"
    )
}

/// An object ready to apply: its body with the inventory label and namespace set, and the
/// resource it goes to.
pub(super) struct Prepared {
    reference: ObjectRef,
    body: Value,
    resource: ApiResource,
    scope: Scope,
    stage: Stage,
}

impl Prepared {
    fn new(
        object: &RenderedObject,
        request: &ApplyRequest<'_>,
        served: &Served,
    ) -> std::result::Result<Prepared, Box<ApplyProblem>> {
        let reference = object_ref(object, request.namespace, served);
        let Some((resource, caps)) = served.resolve(object.api_version(), object.kind()) else {
            return Err(Box::new(unserved(object, reference, request.values)));
        };
        let mut body = object.value.clone();
        if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            let labels = metadata
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if !labels.is_object() {
                *labels = Value::Object(Default::default());
            }
            labels[INVENTORY_LABEL] = Value::String(request.release.to_string());
            match caps.scope {
                Scope::Namespaced => {
                    metadata.insert(
                        "namespace".into(),
                        Value::String(object.namespace(request.namespace).to_string()),
                    );
                }
                Scope::Cluster => {
                    metadata.remove("namespace");
                }
            }
        }
        Ok(Prepared {
            stage: Stage::of(object.kind(), &caps.scope),
            reference,
            body,
            resource,
            scope: caps.scope,
        })
    }

    fn api(&self, cluster: &Cluster) -> Api<DynamicObject> {
        match (&self.scope, &self.reference.namespace) {
            (Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(cluster.client().clone(), ns, &self.resource)
            }
            _ => Api::all_with(cluster.client().clone(), &self.resource),
        }
    }
}

/// The object as it will be in the cluster: namespaced objects in their namespace, or the
/// request's; cluster-scoped ones (as the server says, when it serves the kind) in none.
fn object_ref(object: &RenderedObject, namespace: &str, served: &Served) -> ObjectRef {
    let cluster_scoped = served
        .resolve(object.api_version(), object.kind())
        .is_some_and(|(_, caps)| caps.scope == Scope::Cluster);
    ObjectRef::new(
        object.api_version(),
        object.kind(),
        (!cluster_scoped).then(|| object.namespace(namespace)),
        object.name(),
    )
}

/// Server-side apply of one object; `Some` problem when the API server refuses it.
async fn apply_one(cluster: &Cluster, prepared: &Prepared) -> Result<Option<ApplyProblem>> {
    let what = format!("apply {}", prepared.reference);
    let answer = api::call(
        cluster,
        &what,
        CALL_TIMEOUT,
        prepared.api(cluster).patch(
            &prepared.reference.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&prepared.body),
        ),
    )
    .await?;
    match answer {
        Ok(_) => Ok(None),
        Err(status) => refused(cluster, &prepared.reference, &status).map(Some),
    }
}

/// The problem an API refusal of `object` is; a namespace being deleted stops the apply.
fn refused(cluster: &Cluster, object: &ObjectRef, status: &Status) -> Result<ApplyProblem> {
    if api::is_terminating_namespace(status) {
        return Err(Error::environment(format!(
            "cannot apply {object}: {}",
            status.message
        ))
        .with_hint(
            "the namespace is being deleted: wait until it is gone (`stackctl test local` recreates it and waits)",
        ));
    }
    let fields: Vec<&str> = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .filter(|c| !c.field.is_empty())
        .map(|c| c.field.as_str())
        .collect();
    let immutable = status.code == 422
        && status
            .details
            .iter()
            .flat_map(|d| d.causes.iter())
            .any(|c| c.message.contains("immutable"));
    let mut message = api::refusal_text(status);
    if !fields.is_empty() && status.code == 422 {
        message = format!("{message}; field: {}", fields.join(", "));
    }
    let hint = if immutable {
        let namespace = object
            .namespace
            .as_deref()
            .map(|ns| format!(" -n {ns}"))
            .unwrap_or_default();
        Some(format!(
            "{} cannot change on an existing {}: delete it (`kubectl --context {}{namespace} delete {} {}`) and apply again, or use `stackctl test local`, which recreates the namespace",
            if fields.is_empty() {
                "this field".to_string()
            } else {
                fields.join(", ")
            },
            object.kind,
            cluster.context(),
            object.kind.to_lowercase(),
            object.name
        ))
    } else if status.code == 422 {
        Some("the API server rejects the object as rendered: fix the chart or the values that render it".to_string())
    } else {
        None
    };
    Ok(ApplyProblem {
        object: object.clone(),
        message,
        hint,
    })
}

/// A kind the cluster does not serve, as kubectl says it, with the chart value that renders
/// the object when it can be found.
fn unserved(
    object: &RenderedObject,
    reference: ObjectRef,
    values: Option<&Merged>,
) -> ApplyProblem {
    let message = format!(
        "no matches for kind \"{}\" in version \"{}\": the cluster does not serve it (is its CRD installed?)",
        object.kind(),
        object.api_version()
    );
    let because = values_hint::rendering_values(object, values);
    ApplyProblem {
        object: reference,
        message,
        hint: Some(format!(
            "{because}; install the CRD of {} in the cluster, or turn that value off for this target",
            object.api_version()
        )),
    }
}

/// The identities of `rendered` (group, kind, namespace, name), to compare with the
/// inventory.
fn identities(rendered: &[ObjectRef]) -> BTreeSet<(String, String, Option<String>, String)> {
    rendered
        .iter()
        .map(|o| {
            (
                o.group().to_string(),
                o.kind.clone(),
                o.namespace.clone(),
                o.name.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_helms_install_order() {
        let ns = Scope::Namespaced;
        let order = [
            ("Namespace", Scope::Cluster),
            ("ClusterRole", Scope::Cluster),
            ("ConfigMap", ns.clone()),
            ("Service", ns.clone()),
            ("Deployment", ns.clone()),
            ("Ingress", ns.clone()),
            ("ExternalSecret", ns.clone()),
            ("ValidatingWebhookConfiguration", Scope::Cluster),
        ];
        let stages: Vec<Stage> = order.iter().map(|(k, s)| Stage::of(k, s)).collect();
        assert!(stages.windows(2).all(|w| w[0] <= w[1]), "{stages:?}");
        assert_eq!(Stage::of("Job", &ns), Stage::Workloads);
        assert_eq!(Stage::of("Secret", &ns), Stage::Configuration);
    }

    #[test]
    fn object_refs_know_their_group_and_workloads() {
        let d = ObjectRef::new("apps/v1", "Deployment", Some("ns"), "web");
        assert_eq!(d.group(), "apps");
        assert!(d.is_workload());
        assert_eq!(d.to_string(), "Deployment/web");
        let cm = ObjectRef::new("v1", "ConfigMap", Some("ns"), "c");
        assert_eq!(cm.group(), "");
        assert!(!cm.is_workload());
        assert!(ObjectRef::new("batch/v1", "Job", None, "j").is_workload());
        assert!(!ObjectRef::new("batch/v1", "CronJob", None, "j").is_workload());
    }
}

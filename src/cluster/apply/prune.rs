//! The release's inventory: the objects carrying its [`INVENTORY_LABEL`], listed before the
//! apply (a first install has none, which the hooks need to know) and pruned after it when
//! the render no longer has them.
//!
//! The label is on the objects, so the kinds to look at must be known in advance: the kinds
//! of this render and [`PRUNABLE_KINDS`], the built-in kinds a chart commonly renders. An
//! object of another kind (a custom resource the chart no longer renders at all) is not
//! found, so not pruned.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::discovery::{ApiResource, Scope, verbs};

use super::{ApplyOutcome, ApplyProblem, ApplyRequest, INVENTORY_LABEL, ObjectRef, Served};
use crate::cluster::Cluster;
use crate::cluster::api::{self, CALL_TIMEOUT};
use crate::error::Result;

/// Built-in kinds looked at besides the render's own: (group, kind).
pub const PRUNABLE_KINDS: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "PersistentVolumeClaim"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
];

/// An object of the inventory and where to delete it.
struct Member {
    reference: ObjectRef,
    resource: ApiResource,
}

pub(super) struct Inventory {
    members: Vec<Member>,
}

impl Inventory {
    /// Every object labelled with the release, in the namespaces the render uses and among
    /// cluster-scoped objects, of the render's kinds and [`PRUNABLE_KINDS`].
    pub(super) async fn list(
        cluster: &Cluster,
        served: &Served,
        request: &ApplyRequest<'_>,
        rendered: &[ObjectRef],
    ) -> Result<Inventory> {
        let mut kinds: BTreeMap<(String, String), (ApiResource, Scope)> = BTreeMap::new();
        let wanted = rendered
            .iter()
            .filter_map(|o| served.resolve(&o.api_version, &o.kind))
            .chain(
                PRUNABLE_KINDS
                    .iter()
                    .filter_map(|(group, kind)| served.recommended(group, kind)),
            );
        for (resource, caps) in wanted {
            if caps.supports_operation(verbs::LIST) && caps.supports_operation(verbs::DELETE) {
                kinds
                    .entry((resource.group.clone(), resource.kind.clone()))
                    .or_insert((resource, caps.scope));
            }
        }
        let namespaces: BTreeSet<&str> = rendered
            .iter()
            .filter_map(|o| o.namespace.as_deref())
            .chain([request.namespace])
            .collect();
        let selector = format!("{INVENTORY_LABEL}={}", request.release);
        let mut lists = Vec::new();
        for (resource, scope) in kinds.values() {
            let places: Vec<Option<&str>> = match scope {
                Scope::Namespaced => namespaces.iter().map(|ns| Some(*ns)).collect(),
                Scope::Cluster => vec![None],
            };
            for namespace in places {
                lists.push(list_one(cluster, resource, namespace, &selector));
            }
        }
        let mut members = Vec::new();
        for listed in futures_util::future::join_all(lists).await {
            members.extend(listed?);
        }
        Ok(Inventory { members })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Delete every member `rendered` does not have (never the release's namespace), and
    /// record them in `outcome.pruned`; a refused deletion is a problem.
    pub(super) async fn prune(
        self,
        cluster: &Cluster,
        request: &ApplyRequest<'_>,
        rendered: &[ObjectRef],
        outcome: &mut ApplyOutcome,
    ) -> Result<()> {
        let keep = super::identities(rendered);
        for member in self.members {
            let r = &member.reference;
            let key = (
                r.group().to_string(),
                r.kind.clone(),
                r.namespace.clone(),
                r.name.clone(),
            );
            if keep.contains(&key) || (r.kind == "Namespace" && r.name == request.namespace) {
                continue;
            }
            let api: Api<DynamicObject> = match &r.namespace {
                Some(ns) => Api::namespaced_with(cluster.client().clone(), ns, &member.resource),
                None => Api::all_with(cluster.client().clone(), &member.resource),
            };
            let what = format!("prune {r}");
            // Background: the dependents (a Job's pods, a Deployment's ReplicaSets) go too;
            // the API's default for Jobs would orphan them.
            let answer = api::call(
                cluster,
                &what,
                CALL_TIMEOUT,
                api.delete(&r.name, &DeleteParams::background()),
            )
            .await?;
            match answer {
                Ok(_) => outcome.pruned.push(member.reference),
                Err(status) if status.code == 404 => {}
                Err(status) => outcome.problems.push(ApplyProblem {
                    object: member.reference,
                    message: format!(
                        "not in the render any more, but it cannot be deleted: {}",
                        api::refusal_text(&status)
                    ),
                    hint: None,
                }),
            }
        }
        Ok(())
    }
}

/// The objects of one kind with the inventory label, in one namespace (or cluster-wide).
/// Objects being deleted and objects another controller owns are not the inventory's.
async fn list_one(
    cluster: &Cluster,
    resource: &ApiResource,
    namespace: Option<&str>,
    selector: &str,
) -> Result<Vec<Member>> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(cluster.client().clone(), ns, resource),
        None => Api::all_with(cluster.client().clone(), resource),
    };
    let what = format!("list {} labelled {selector}", resource.plural);
    // Forbidden is no failure here: a user allowed one namespace cannot list ClusterRoles,
    // and what they cannot see they did not apply with these credentials.
    let answer = api::call_if_allowed(
        cluster,
        &what,
        CALL_TIMEOUT,
        api.list_metadata(&ListParams::default().labels(selector)),
    )
    .await?;
    let list = match answer {
        Ok(list) => list,
        Err(status) => {
            tracing::debug!(
                "{what}: {}; objects of that kind are not pruned",
                api::refusal_text(&status)
            );
            return Ok(Vec::new());
        }
    };
    Ok(list
        .items
        .into_iter()
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        .filter(|o| {
            !o.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|owner| owner.controller == Some(true))
        })
        .map(|o| Member {
            reference: ObjectRef::new(
                &resource.api_version,
                &resource.kind,
                o.metadata.namespace.as_deref().or(namespace),
                o.metadata.name.as_deref().unwrap_or_default(),
            ),
            resource: resource.clone(),
        })
        .collect())
}

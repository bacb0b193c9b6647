//! The namespace a release lives in: made sure it exists, or made fresh (deleted, its
//! deletion awaited through a watch, created again). A namespace that stays Terminating is
//! the classic leak of test loops; when it does, the error names what holds it: the
//! finalizers still set on the namespace and on the objects left in it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::{Discovery, Scope, verbs};
use serde_json::json;

use super::Cluster;
use super::api::{self, CALL_TIMEOUT};
use super::apply::FIELD_MANAGER;
use crate::error::{Error, ErrorKind, Result};

/// How long the search for what holds a stuck namespace may take in all: it runs after the
/// deadline already passed, so it must not add much.
const HOLDERS_BUDGET: Duration = Duration::from_secs(5);

/// Create the namespace `name` unless it exists (server-side apply). An existing namespace
/// is only read, so credentials limited to the namespace do. A namespace that is being
/// deleted is an error: objects cannot be created in it.
pub async fn ensure(cluster: &Cluster, name: &str) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(cluster.client().clone());
    let existing = api::call_if_allowed(
        cluster,
        &format!("get Namespace/{name}"),
        CALL_TIMEOUT,
        namespaces.get_opt(name),
    )
    .await?;
    if let Ok(Some(existing)) = &existing {
        return refuse_terminating(cluster, existing);
    }
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let what = format!("apply Namespace/{name}");
    let applied = api::call(
        cluster,
        &what,
        CALL_TIMEOUT,
        namespaces.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        ),
    )
    .await?
    .map_err(|status| {
        Error::environment(format!(
            "cannot create namespace {name}: {}",
            api::refusal_text(&status)
        ))
    })?;
    refuse_terminating(cluster, &applied)
}

fn refuse_terminating(cluster: &Cluster, ns: &Namespace) -> Result<()> {
    if !is_terminating(ns) {
        return Ok(());
    }
    let name = ns.metadata.name.as_deref().unwrap_or_default();
    Err(Error::environment(format!(
        "namespace {name} is being deleted (Terminating): nothing can be created in it until it is gone"
    ))
    .with_hint(format!(
        "wait for the deletion to finish (`kubectl --context {} get namespace {name} -w`), or recreate it with a deadline (`stackctl test local` does)",
        cluster.context()
    )))
}

/// Make `name` fresh: delete it, wait (through a watch) until it is gone, create it again.
/// A namespace still Terminating after `timeout` is an error whose hint names the finalizers
/// still set, on the namespace and on the objects left in it, and the commands to look.
pub async fn recreate(cluster: &Cluster, name: &str, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let namespaces: Api<Namespace> = Api::all(cluster.client().clone());
    let what = format!("delete Namespace/{name}");
    let deleted = api::call(
        cluster,
        &what,
        CALL_TIMEOUT,
        namespaces.delete(name, &DeleteParams::background()),
    )
    .await?;
    match deleted {
        Ok(_) => {}
        Err(status) if status.code == 404 => return ensure(cluster, name).await,
        Err(status) => {
            return Err(Error::environment(format!(
                "cannot delete namespace {name}: {}",
                api::refusal_text(&status)
            )));
        }
    }
    let remaining = timeout.saturating_sub(started.elapsed());
    if !wait_until_gone(cluster, &namespaces, name, remaining).await? {
        return Err(stuck(cluster, &namespaces, name, timeout).await);
    }
    ensure(cluster, name).await
}

/// Watch the namespace until it is gone (or replaced by a new one of the same name); false
/// when `timeout` passes first.
async fn wait_until_gone(
    cluster: &Cluster,
    namespaces: &Api<Namespace>,
    name: &str,
    timeout: Duration,
) -> Result<bool> {
    let mut first_uid: Option<String> = None;
    let gone = api::watch_object_until(cluster, namespaces.clone(), name, timeout, |ns| {
        let Some(ns) = ns else {
            return Some(());
        };
        let uid = ns.metadata.uid.clone();
        match &first_uid {
            None => first_uid = uid,
            // Another namespace of the same name: ours is gone.
            Some(first) if uid.as_ref() != Some(first) => return Some(()),
            Some(_) => {}
        }
        None
    })
    .await?;
    Ok(gone.is_some())
}

fn is_terminating(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

/// The error for a namespace still Terminating at the deadline: what holds it.
async fn stuck(
    cluster: &Cluster,
    namespaces: &Api<Namespace>,
    name: &str,
    timeout: Duration,
) -> Error {
    let context = cluster.context();
    let mut holders: Vec<String> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    match api::call(
        cluster,
        "get namespace",
        HOLDERS_BUDGET,
        namespaces.get(name),
    )
    .await
    {
        Ok(Ok(ns)) => {
            let mut finalizers: Vec<String> = ns
                .spec
                .as_ref()
                .and_then(|s| s.finalizers.clone())
                .unwrap_or_default();
            finalizers.extend(ns.metadata.finalizers.clone().unwrap_or_default());
            if !finalizers.is_empty() {
                holders.push(format!("Namespace/{name}: {}", finalizers.join(", ")));
            }
            for c in ns
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
            {
                if c.status == "True" {
                    conditions.push(format!(
                        "{}: {}",
                        c.type_,
                        c.message.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
        Ok(Err(status)) => holders.push(format!(
            "the namespace cannot be read: {}",
            api::refusal_text(&status)
        )),
        Err(e) => holders.push(format!("the namespace cannot be read: {e}")),
    }
    match tokio::time::timeout(HOLDERS_BUDGET, objects_with_finalizers(cluster, name)).await {
        Ok(found) => holders.extend(found),
        Err(_) => holders.push(format!(
            "(the objects left in it could not all be listed within {} s)",
            HOLDERS_BUDGET.as_secs()
        )),
    }
    let mut message = format!(
        "namespace {name} is still Terminating after {} s",
        timeout.as_secs()
    );
    if !conditions.is_empty() {
        message.push_str(&format!(" ({})", conditions.join("; ")));
    }
    let held_by = if holders.is_empty() {
        "no finalizer is visible".to_string()
    } else {
        format!("finalizers still set: {}", holders.join("; "))
    };
    Error::new(ErrorKind::Timeout, message).with_hint(format!(
        "{held_by}. Inspect with `kubectl --context {context} get namespace {name} -o yaml` and \
         `kubectl --context {context} api-resources --verbs=list --namespaced -o name | xargs -n 1 \
         kubectl --context {context} get --show-kind --ignore-not-found -n {name}`; a finalizer \
         whose controller is gone can be removed with `kubectl patch … --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'`"
    ))
}

/// `Kind/name: finalizers` for every object left in the namespace that has finalizers,
/// across every namespaced kind the server lists. A kind that cannot be listed is skipped:
/// this is a hint, gathered after the deadline.
async fn objects_with_finalizers(cluster: &Cluster, namespace: &str) -> Vec<String> {
    let Ok(discovery) = Discovery::new(cluster.client().clone())
        .run_aggregated()
        .await
    else {
        return Vec::new();
    };
    let lists = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .filter(|(_, caps)| caps.scope == Scope::Namespaced && caps.supports_operation(verbs::LIST))
        .map(|(resource, _)| {
            let api: Api<DynamicObject> =
                Api::namespaced_with(cluster.client().clone(), namespace, &resource);
            async move {
                let Ok(list) = api.list_metadata(&ListParams::default()).await else {
                    return Vec::new();
                };
                list.items
                    .iter()
                    .filter_map(|o| {
                        let finalizers = o.metadata.finalizers.clone().unwrap_or_default();
                        (!finalizers.is_empty()).then(|| {
                            format!(
                                "{}/{}: {}",
                                resource.kind,
                                o.metadata.name.as_deref().unwrap_or_default(),
                                finalizers.join(", ")
                            )
                        })
                    })
                    .collect::<Vec<_>>()
            }
        });
    futures_util::future::join_all(lists)
        .await
        .into_iter()
        .flatten()
        .collect()
}

//! The namespace controller: a terminating namespace has its contents deleted, reports what
//! remains in its conditions, and disappears once empty (its `kubernetes` finalizer removed).
//! A namespace the scenario marks stuck keeps Terminating with the condition a failing
//! aggregated API causes. Active namespaces get their `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap, as the service account and root CA publishers do.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Pass, condition};
use crate::crud::{self, DeleteOptions};
use crate::meta;
use crate::store::ObjectKey;

pub fn reconcile(pass: &mut Pass<'_, '_>) {
    let namespaces = pass.txn.list("", "namespaces", None);
    for (key, ns) in namespaces {
        if meta::is_terminating(&ns) {
            finalize(pass, key, ns);
        } else {
            publish_defaults(pass, meta::name(&ns));
        }
    }
}

fn publish_defaults(pass: &mut Pass<'_, '_>, namespace: &str) {
    let sa = pass.txn.table.builtin("", "serviceaccounts");
    if pass
        .txn
        .get(&ObjectKey::new(&sa, namespace, "default"))
        .is_none()
    {
        let obj =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        let _ = crud::create(pass.txn, &sa, namespace, obj, false);
    }
    let cm = pass.txn.table.builtin("", "configmaps");
    if pass
        .txn
        .get(&ObjectKey::new(&cm, namespace, "kube-root-ca.crt"))
        .is_none()
    {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nZmFrZWt1YmUgc3RhbmQtaW4gQ0E=\n-----END CERTIFICATE-----\n"},
        });
        let _ = crud::create(pass.txn, &cm, namespace, obj, false);
    }
}

fn finalize(pass: &mut Pass<'_, '_>, key: ObjectKey, ns: Value) {
    let name = meta::name(&ns).to_string();
    let stuck = pass.scenario.stuck_namespaces.contains(&name);
    let options = DeleteOptions::default();
    for content in pass.txn.keys_in_namespace(&name) {
        let Some(obj) = pass.txn.get(&content).cloned() else {
            continue;
        };
        if meta::is_terminating(&obj) {
            continue;
        }
        if let Some(rt) = pass
            .txn
            .table
            .by_plural(&content.group, &content.plural)
            .cloned()
        {
            let _ = crud::delete(pass.txn, &rt, &content.namespace, &content.name, &options);
        }
    }

    // What is left: objects waiting for finalizers.
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for content in pass.txn.keys_in_namespace(&name) {
        let resource = if content.group.is_empty() {
            format!("{}.", content.plural)
        } else {
            format!("{}.{}", content.plural, content.group)
        };
        *remaining.entry(resource).or_default() += 1;
        if let Some(obj) = pass.txn.get(&content) {
            for f in meta::finalizers(obj) {
                *finalizers.entry(f).or_default() += 1;
            }
        }
    }

    let now = meta::timestamp(pass.wall);
    let old = &ns["status"]["conditions"];
    let (discovery_failed, discovery_reason, discovery_message) = if stuck {
        (
            true,
            "DiscoveryFailed",
            "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: stale GroupVersion discovery: metrics.k8s.io/v1beta1",
        )
    } else {
        (
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered",
        )
    };
    let remaining_message = remaining
        .iter()
        .map(|(r, n)| format!("{r} has {n} resource instances"))
        .collect::<Vec<_>>()
        .join(", ");
    let finalizer_message = finalizers
        .iter()
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect::<Vec<_>>()
        .join(", ");
    let conditions = json!([
        condition(
            old,
            "NamespaceDeletionDiscoveryFailure",
            discovery_failed,
            discovery_reason,
            discovery_message,
            &now,
            false
        ),
        condition(
            old,
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
            &now,
            false
        ),
        condition(
            old,
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
            &now,
            false
        ),
        if remaining.is_empty() {
            condition(
                old,
                "NamespaceContentRemaining",
                false,
                "ContentRemoved",
                "All content successfully removed",
                &now,
                false,
            )
        } else {
            condition(
                old,
                "NamespaceContentRemaining",
                true,
                "SomeResourcesRemain",
                &format!("Some resources are remaining: {remaining_message}"),
                &now,
                false,
            )
        },
        if finalizers.is_empty() {
            condition(
                old,
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished",
                &now,
                false,
            )
        } else {
            condition(
                old,
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                &format!(
                    "Some content in the namespace has finalizers remaining: {finalizer_message}"
                ),
                &now,
                false,
            )
        },
    ]);

    if remaining.is_empty() && !stuck {
        let mut done = ns.clone();
        done["spec"]["finalizers"] = json!([]);
        if meta::finalizers(&done).is_empty() {
            pass.txn.remove(&key);
        } else {
            pass.txn.put(key, done);
        }
        return;
    }
    let status = json!({"phase": "Terminating", "conditions": conditions});
    super::write_status(pass.txn, &key, status);
}

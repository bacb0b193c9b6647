//! `cluster::namespace`: ensure, recreate awaited through a watch, a stuck namespace named
//! with its finalizers.

use std::time::{Duration, Instant};

use fakekube::Scenario;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use stackctl::cluster::namespace::{ensure, recreate};
use stackctl::error::ErrorKind;

use super::support::{stand_in, within};

fn held_config_map(namespace: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": namespace, "finalizers": ["example.com/hold"]},
    })
}

fn uid(stand: &super::support::Stand, name: &str) -> String {
    stand
        .kube
        .store()
        .get("namespaces", "", name)
        .expect("the namespace exists")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn ensure_creates_once_and_changes_nothing_after() {
    let stand = stand_in(Scenario::ready()).await;
    within("ensure", ensure(&stand.cluster, "fresh"))
        .await
        .unwrap();
    let first = stand.kube.store().get("namespaces", "", "fresh").unwrap();
    within("ensure", ensure(&stand.cluster, "fresh"))
        .await
        .unwrap();
    let second = stand.kube.store().get("namespaces", "", "fresh").unwrap();
    assert_eq!(
        first["metadata"]["resourceVersion"],
        second["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn recreate_waits_until_the_old_namespace_is_gone() {
    let stand = stand_in(Scenario::ready()).await;
    within("ensure", ensure(&stand.cluster, "loop"))
        .await
        .unwrap();
    let old = uid(&stand, "loop");
    // A finalizer holds the old namespace until its controller (this test) lets go 400 ms on.
    stand.kube.create(held_config_map("loop")).unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(stand.cluster.client().clone(), "loop");
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        config_maps
            .patch(
                "held",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await
            .expect("the finalizer is removed");
    });
    let started = Instant::now();
    within(
        "recreate",
        recreate(&stand.cluster, "loop", Duration::from_secs(10)),
    )
    .await
    .expect("recreated");
    let took = started.elapsed();
    release.await.unwrap();
    assert!(
        took >= Duration::from_millis(350),
        "waited for the deletion: {took:?}"
    );
    assert_ne!(uid(&stand, "loop"), old, "a new namespace");
    assert!(
        stand
            .kube
            .store()
            .get("configmaps", "loop", "held")
            .is_none()
    );
}

#[tokio::test]
async fn recreate_of_a_missing_namespace_creates_it() {
    let stand = stand_in(Scenario::ready()).await;
    within(
        "recreate",
        recreate(&stand.cluster, "new", Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert!(stand.kube.store().get("namespaces", "", "new").is_some());
}

#[tokio::test]
async fn a_stuck_namespace_reports_its_finalizers_and_how_to_look() {
    let stand = stand_in(Scenario::ready().with_stuck_namespace("stuck")).await;
    within("ensure", ensure(&stand.cluster, "stuck"))
        .await
        .unwrap();
    stand.kube.create(held_config_map("stuck")).unwrap();
    let started = Instant::now();
    let error = within(
        "recreate",
        recreate(&stand.cluster, "stuck", Duration::from_secs(1)),
    )
    .await
    .expect_err("still Terminating at the deadline");
    let took = started.elapsed();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(
        error
            .message
            .contains("namespace stuck is still Terminating after 1 s"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("NamespaceDeletionDiscoveryFailure"),
        "{}",
        error.message
    );
    let hint = error.hint.as_deref().unwrap();
    assert!(hint.contains("Namespace/stuck: kubernetes"), "{hint}");
    assert!(hint.contains("ConfigMap/held: example.com/hold"), "{hint}");
    assert!(
        hint.contains("`kubectl --context kind-kind get namespace stuck -o yaml`"),
        "{hint}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // And ensure refuses a namespace being deleted.
    let error = within("ensure", ensure(&stand.cluster, "stuck"))
        .await
        .unwrap_err();
    assert!(
        error.message.contains("is being deleted"),
        "{}",
        error.message
    );
}

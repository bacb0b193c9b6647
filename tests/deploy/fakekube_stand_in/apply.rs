//! `cluster::apply`: the chart's CI variant applied and rolled out, idempotence, prune,
//! what the cluster cannot take, Helm hooks.

use std::collections::BTreeMap;

use fakekube::{Behaviour, Fault, PodMatch, PodRule, Scenario};
use serde_json::json;
use stackctl::cluster::apply::{
    ApplyOutcome, ApplyRequest, DEFAULT_HOOK_TIMEOUT, HookOutcome, INVENTORY_LABEL, apply,
};
use stackctl::cluster::wait::WorkloadState;
use stackctl::helm::RenderedObject;

use super::support::{self, Stand, ci_render, config_map, object, prod_render, stand_in, within};

async fn apply_all(stand: &Stand, request: &ApplyRequest<'_>) -> ApplyOutcome {
    within("apply", apply(&stand.cluster, request))
        .await
        .expect("the apply ends without an environment error")
}

/// Every object of the inventory in `namespace`: name and kind → resourceVersion.
fn inventory(stand: &Stand, namespace: &str) -> BTreeMap<(String, String), String> {
    let mut found = BTreeMap::new();
    for resource in [
        "configmaps",
        "secrets",
        "services",
        "serviceaccounts",
        "deployments.apps",
        "statefulsets.apps",
        "jobs.batch",
        "cronjobs.batch",
    ] {
        for o in stand.kube.store().list(resource, Some(namespace)) {
            if o["metadata"]["labels"][INVENTORY_LABEL].is_string() {
                found.insert(
                    (
                        resource.to_string(),
                        o["metadata"]["name"].as_str().unwrap().to_string(),
                    ),
                    o["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    found
}

#[tokio::test]
async fn the_ci_variant_applies_and_every_workload_becomes_ready() {
    let stand = stand_in(Scenario::ready()).await;
    let render = ci_render();
    let outcome = apply_all(&stand, &render.request()).await;
    assert!(outcome.ok(), "{:#?}", outcome.problems);
    assert_eq!(outcome.applied.len(), render.objects.len());
    assert!(outcome.hooks.is_empty() && outcome.pruned.is_empty());
    // Helm's order: configuration before Services before workloads.
    let position = |kind: &str| outcome.applied.iter().position(|o| o.kind == kind).unwrap();
    assert!(position("ConfigMap") < position("Service"));
    assert!(position("Service") < position("Deployment"));

    let workloads = outcome.workloads();
    assert!(
        workloads.iter().any(|w| w.kind == "Deployment")
            && workloads.iter().any(|w| w.kind == "StatefulSet")
    );
    let (results, _) =
        support::wait_refs(&stand, &render.namespace, workloads, support::WAIT).await;
    for result in &results {
        assert_eq!(result.state, WorkloadState::Ready, "{}", result.workload);
    }
    let deployment = stand
        .kube
        .store()
        .get(
            "deployments.apps",
            &render.namespace,
            "jetscale-ci-backend-api",
        )
        .expect("applied");
    assert_eq!(
        deployment["metadata"]["labels"][INVENTORY_LABEL],
        "jetscale-ci"
    );
}

#[tokio::test]
async fn a_second_apply_changes_nothing() {
    let stand = stand_in(Scenario::ready()).await;
    let render = ci_render();
    let first = apply_all(&stand, &render.request()).await;
    assert!(first.ok(), "{:#?}", first.problems);
    support::wait_refs(&stand, &render.namespace, first.workloads(), support::WAIT).await;
    let before = inventory(&stand, &render.namespace);
    assert!(before.len() > 10, "{before:?}");

    let second = apply_all(&stand, &render.request()).await;
    assert!(second.ok(), "{:#?}", second.problems);
    assert_eq!(second.applied, first.applied);
    assert!(second.pruned.is_empty(), "{:?}", second.pruned);
    // Server-side apply of the same configuration writes nothing: no object got a new
    // resourceVersion.
    assert_eq!(inventory(&stand, &render.namespace), before);
}

#[tokio::test]
async fn prune_deletes_what_the_render_no_longer_has() {
    let stand = stand_in(Scenario::ready()).await;
    let render = ci_render();
    let first = apply_all(&stand, &render.request()).await;
    assert!(first.ok(), "{:#?}", first.problems);
    // Something of someone else's in the namespace: no inventory label, never pruned.
    stand
        .kube
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-ours", "namespace": render.namespace}}))
        .unwrap();

    let removed = ["jetscale-ci-frontend", "jetscale-ci-config"];
    let fewer: Vec<RenderedObject> = render
        .objects
        .iter()
        .filter(|o| {
            !(removed.contains(&o.name()) && matches!(o.kind(), "Deployment" | "ConfigMap"))
        })
        .cloned()
        .collect();
    assert_eq!(
        fewer.len(),
        render.objects.len() - 2,
        "the render has both objects"
    );
    let request = ApplyRequest {
        objects: &fewer,
        ..render.request()
    };
    let second = apply_all(&stand, &request).await;
    assert!(second.ok(), "{:#?}", second.problems);
    let mut pruned: Vec<String> = second.pruned.iter().map(|o| o.to_string()).collect();
    pruned.sort();
    assert_eq!(
        pruned,
        [
            "ConfigMap/jetscale-ci-config",
            "Deployment/jetscale-ci-frontend"
        ]
    );
    let exists = |resource: &str, name: &str| {
        stand
            .kube
            .store()
            .get(resource, &render.namespace, name)
            .is_some()
    };
    assert!(!exists("deployments.apps", "jetscale-ci-frontend"));
    assert!(!exists("configmaps", "jetscale-ci-config"));
    assert!(exists("configmaps", "not-ours"));
    assert!(exists("configmaps", "kube-root-ca.crt"));
    assert!(exists("deployments.apps", "jetscale-ci-backend-api"));
}

/// The line of `externalSecret:`'s `enabled: true` in `envs/prod/console.yaml`.
fn external_secret_enabled_line() -> usize {
    let text =
        std::fs::read_to_string(support::repo_root().join("envs/prod/console.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let block = lines
        .iter()
        .position(|l| *l == "externalSecret:")
        .expect("the env turns External Secrets on");
    block
        + 1
        + lines[block..]
            .iter()
            .position(|l| l.trim() == "enabled: true")
            .unwrap()
}

#[tokio::test]
async fn an_unserved_kind_is_a_problem_naming_the_value_and_pre_install_hooks_run_by_weight() {
    // No external-secrets.io group: as a cluster without the External Secrets operator.
    let stand = stand_in(Scenario::ready()).await;
    let render = prod_render();
    let outcome = apply_all(&stand, &render.request()).await;

    let unserved: Vec<_> = render
        .objects
        .iter()
        .filter(|o| o.group() == "external-secrets.io")
        .collect();
    assert!(
        unserved.len() >= 2,
        "the prod env renders ExternalSecrets and a SecretStore"
    );
    assert_eq!(
        outcome.problems.len(),
        unserved.len(),
        "{:#?}",
        outcome.problems
    );
    let flag = format!(
        "externalSecret.enabled is true (envs/prod/console.yaml:{})",
        external_secret_enabled_line()
    );
    for problem in &outcome.problems {
        assert!(
            problem.message.starts_with(&format!(
                "no matches for kind \"{}\" in version \"external-secrets.io/v1\"",
                problem.object.kind
            )),
            "{}",
            problem.message
        );
        let hint = problem.hint.as_deref().unwrap();
        assert!(hint.contains(&flag), "{hint}");
        assert!(hint.contains("rendered by jetscale/templates/"), "{hint}");
    }
    // Everything else is applied.
    assert_eq!(
        outcome.applied.len() + outcome.hooks.len() + outcome.problems.len(),
        render.objects.len()
    );

    // The pre-install hooks: the ServiceAccount (weight -20), then the bootstrap Job (-10),
    // awaited to completion and deleted (hook-succeeded).
    let runs: Vec<(String, i32, &str)> = outcome
        .hooks
        .iter()
        .map(|h| (h.object.kind.clone(), h.weight, h.event.as_str()))
        .collect();
    assert_eq!(
        runs,
        [
            ("ServiceAccount".to_string(), -20, "pre-install"),
            ("Job".to_string(), -10, "pre-install")
        ]
    );
    assert!(
        outcome
            .hooks
            .iter()
            .all(|h| h.outcome == HookOutcome::Succeeded),
        "{:#?}",
        outcome.hooks
    );
    let job = &outcome.hooks[1].object;
    assert!(
        stand
            .kube
            .store()
            .get("jobs.batch", &render.namespace, &job.name)
            .is_none(),
        "deleted once succeeded"
    );
    let sa = &outcome.hooks[0].object;
    assert!(
        stand
            .kube
            .store()
            .get("serviceaccounts", &render.namespace, &sa.name)
            .is_some()
    );
}

#[tokio::test]
async fn without_aggregated_discovery_each_group_is_asked() {
    // The first request under /apis is the aggregated discovery: refused, as an API server
    // older than 1.26 would not serve it.
    let stand =
        stand_in(Scenario::ready().with_fault(Fault::path("/apis").times(1).status(406))).await;
    let objects = [object(support::deployment("web", "old-server"))];
    let outcome = apply_all(&stand, &synthetic("r", "old-server", &objects)).await;
    assert!(outcome.ok(), "{:#?}", outcome.problems);
    assert_eq!(outcome.applied[0].to_string(), "Deployment/web");
}

#[tokio::test]
async fn an_immutable_field_is_a_problem_naming_the_field() {
    let stand = stand_in(Scenario::ready()).await;
    let service = |ip: &str| {
        object(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
            "spec": {"clusterIP": ip, "selector": {"app": "api"}, "ports": [{"port": 8000}]},
        }))
    };
    let first = [service("10.96.10.10")];
    let request = synthetic("r", "immutable", &first);
    assert!(apply_all(&stand, &request).await.ok());
    let changed = [service("10.96.10.11")];
    let outcome = apply_all(
        &stand,
        &ApplyRequest {
            objects: &changed,
            ..request
        },
    )
    .await;
    assert_eq!(outcome.problems.len(), 1, "{:#?}", outcome.problems);
    let problem = &outcome.problems[0];
    assert_eq!(problem.object.to_string(), "Service/api");
    assert!(
        problem.message.contains("field: spec.clusterIP"),
        "{}",
        problem.message
    );
    assert!(problem.message.contains("immutable"), "{}", problem.message);
    let hint = problem.hint.as_deref().unwrap();
    assert!(
        hint.contains("`kubectl --context kind-kind -n immutable delete service api`")
            && hint.contains("stackctl test local"),
        "{hint}"
    );
    assert!(outcome.applied.is_empty());
}

/// An apply of synthetic objects without values.
fn synthetic<'a>(
    release: &'a str,
    namespace: &'a str,
    objects: &'a [RenderedObject],
) -> ApplyRequest<'a> {
    ApplyRequest {
        release,
        namespace,
        objects,
        values: None,
        hook_timeout: DEFAULT_HOOK_TIMEOUT,
    }
}

fn hook(
    kind: &str,
    name: &str,
    events: &str,
    weight: &str,
    policy: Option<&str>,
) -> RenderedObject {
    let mut annotations = json!({"helm.sh/hook": events, "helm.sh/hook-weight": weight});
    if let Some(policy) = policy {
        annotations["helm.sh/hook-delete-policy"] = json!(policy);
    }
    let mut value = match kind {
        "Job" => support::job(name, "hooks"),
        "Pod" => json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "test", "image": "busybox:1.36"}]}}),
        _ => config_map(name, "hook"),
    };
    value["metadata"]["annotations"] = annotations;
    object(value)
}

#[tokio::test]
async fn hooks_run_by_weight_then_name_and_a_test_hook_is_refused() {
    let stand = stand_in(Scenario::ready()).await;
    let objects = vec![
        object(config_map("plain", "x")),
        hook(
            "Job",
            "hook-b",
            "pre-install,pre-upgrade",
            "0",
            Some("hook-succeeded"),
        ),
        hook("Job", "hook-a", "pre-install,pre-upgrade", "0", None),
        hook(
            "ConfigMap",
            "hook-post",
            "post-install,post-upgrade",
            "0",
            None,
        ),
        hook(
            "ConfigMap",
            "hook-first",
            "pre-install,pre-upgrade",
            "-5",
            None,
        ),
        hook("Pod", "helm-test", "test", "0", None),
    ];
    let request = synthetic("hooked", "hooks", &objects);
    let install = apply_all(&stand, &request).await;
    let runs: Vec<(String, &str)> = install
        .hooks
        .iter()
        .map(|h| (h.object.name.clone(), h.event.as_str()))
        .collect();
    assert_eq!(
        runs,
        [
            ("hook-first".to_string(), "pre-install"),
            ("hook-a".to_string(), "pre-install"),
            ("hook-b".to_string(), "pre-install"),
            ("hook-post".to_string(), "post-install"),
        ]
    );
    assert!(
        install
            .hooks
            .iter()
            .all(|h| h.outcome == HookOutcome::Succeeded)
    );
    assert_eq!(install.problems.len(), 1, "{:#?}", install.problems);
    assert_eq!(install.problems[0].object.name, "helm-test");
    assert!(
        install.problems[0].message.contains("Helm test hook"),
        "{}",
        install.problems[0].message
    );
    assert_eq!(
        install
            .applied
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        ["plain"]
    );
    let store = stand.kube.store();
    assert!(
        store.get("jobs.batch", "hooks", "hook-b").is_none(),
        "hook-succeeded deletes it"
    );
    assert!(
        store.get("pods", "hooks", "helm-test").is_none(),
        "refused, not applied"
    );
    let first_a = store.get("jobs.batch", "hooks", "hook-a").expect("kept");

    // The inventory is not empty any more: an upgrade, whose hooks are the pre-upgrade ones;
    // before-hook-creation replaces hook-a with a new Job.
    let upgrade = apply_all(&stand, &request).await;
    let events: Vec<&str> = upgrade.hooks.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(
        events,
        ["pre-upgrade", "pre-upgrade", "pre-upgrade", "post-upgrade"]
    );
    let second_a = store
        .get("jobs.batch", "hooks", "hook-a")
        .expect("recreated");
    assert_ne!(first_a["metadata"]["uid"], second_a["metadata"]["uid"]);
}

#[tokio::test]
async fn a_failing_hook_job_is_reported_and_stops_the_apply() {
    let stand = stand_in(Scenario::ready().with_pod(PodRule::new(
        PodMatch::owner("hook-fails"),
        Behaviour::Crashloop,
    )))
    .await;
    let objects = vec![
        object(config_map("plain", "x")),
        hook(
            "Job",
            "hook-fails",
            "pre-install",
            "-1",
            Some("hook-failed"),
        ),
        hook("ConfigMap", "hook-later", "pre-install", "5", None),
    ];
    let request = synthetic("hooked", "hooks", &objects);
    let outcome = apply_all(&stand, &request).await;
    assert_eq!(
        outcome.hooks.len(),
        1,
        "the hooks after a failed one do not run: {:#?}",
        outcome.hooks
    );
    let HookOutcome::Failed { reason } = &outcome.hooks[0].outcome else {
        panic!("{:#?}", outcome.hooks);
    };
    assert!(reason.contains("BackoffLimitExceeded"), "{reason}");
    assert_eq!(outcome.problems.len(), 1);
    assert!(
        outcome.problems[0]
            .message
            .starts_with("the pre-install hook failed"),
        "{}",
        outcome.problems[0].message
    );
    assert!(outcome.applied.is_empty());
    let store = stand.kube.store();
    assert!(store.get("configmaps", "hooks", "plain").is_none());
    assert!(store.get("configmaps", "hooks", "hook-later").is_none());
    assert!(
        store.get("jobs.batch", "hooks", "hook-fails").is_none(),
        "hook-failed deletes it"
    );
}

//! Helm hooks (`helm.sh/hook` annotations), run as `helm install`/`helm upgrade` runs them:
//! pre hooks before everything else, post hooks after, each event's hooks by
//! `helm.sh/hook-weight` then name, one at a time; Jobs awaited until complete (and Pods until
//! they succeed) within the hook deadline; `helm.sh/hook-delete-policy` honoured
//! (`before-hook-creation` when none is given, as Helm does). A failed pre hook stops the
//! apply, as it stops a Helm release.
//!
//! Hooks of events stackctl never goes through (`test`, `pre-delete`, `post-rollback`…) are
//! refused with a problem, never silently dropped: `helm template` output does not say a
//! hook will not run.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, DynamicObject};
use serde::Serialize;

use super::{ApplyOutcome, ApplyProblem, ApplyRequest, ObjectRef, Prepared, apply_one};
use crate::cluster::Cluster;
use crate::cluster::api::{self, CALL_TIMEOUT};
use crate::cluster::wait::{self, WaitRequest, WorkloadState};
use crate::error::Result;
use crate::helm::RenderedObject;

const HOOK: &str = "helm.sh/hook";
const WEIGHT: &str = "helm.sh/hook-weight";
const DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// The events stackctl fires: a first install or an upgrade, before and after the release's
/// objects are applied.
const HONOURED: &[&str] = &["pre-install", "pre-upgrade", "post-install", "post-upgrade"];

const BEFORE_HOOK_CREATION: &str = "before-hook-creation";
const HOOK_SUCCEEDED: &str = "hook-succeeded";
const HOOK_FAILED: &str = "hook-failed";

/// One hook run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookRun {
    pub object: ObjectRef,
    /// The event it ran for: `pre-install`, `pre-upgrade`, `post-install`, `post-upgrade`.
    pub event: String,
    pub weight: i32,
    pub outcome: HookOutcome,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum HookOutcome {
    Succeeded,
    Failed { reason: String },
}

/// A hook's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hook {
    events: Vec<String>,
    weight: i32,
    delete_policies: Vec<String>,
}

/// Why a hook is not applied.
pub(super) struct Refusal {
    pub message: String,
    pub hint: String,
}

/// Before or after the release's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Pre,
    Post,
}

impl Hook {
    /// The object's hook, `None` when it is not one, a refusal when stackctl cannot honour it.
    pub(super) fn of(object: &RenderedObject) -> Option<std::result::Result<Hook, Refusal>> {
        let annotations = object.value.pointer("/metadata/annotations")?;
        let text = |key: &str| annotations.get(key).and_then(|v| v.as_str());
        let events: Vec<String> = text(HOOK)?
            .split(',')
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        if !events.iter().any(|e| HONOURED.contains(&e.as_str())) {
            return Some(Err(refusal(&events)));
        }
        // Helm reads an unparsable weight as 0.
        let weight = text(WEIGHT)
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        let mut delete_policies: Vec<String> = text(DELETE_POLICY)
            .unwrap_or_default()
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if delete_policies.is_empty() {
            delete_policies.push(BEFORE_HOOK_CREATION.to_string());
        }
        Some(Ok(Hook {
            events,
            weight,
            delete_policies,
        }))
    }

    fn deletes_on(&self, policy: &str) -> bool {
        self.delete_policies.iter().any(|p| p == policy)
    }
}

fn refusal(events: &[String]) -> Refusal {
    let list = events.join(",");
    if events.iter().any(|e| e.starts_with("test")) {
        Refusal {
            message: format!(
                "{HOOK}: {list}: a Helm test hook; stackctl does not run Helm tests, so this object is not applied"
            ),
            hint: "the smoke suite of `stackctl test` checks the deployment; to keep the object, remove its hook annotation".to_string(),
        }
    } else {
        Refusal {
            message: format!(
                "{HOOK}: {list}: stackctl runs pre-install, pre-upgrade, post-install and post-upgrade hooks only, so this object is not applied"
            ),
            hint: "these events belong to a Helm release's lifecycle (delete, rollback); deploy with helm if they matter, or remove the hook annotation".to_string(),
        }
    }
}

/// The hooks of `stage` for a first install or an upgrade, in Helm's order: by weight, then
/// by name.
pub(super) fn select(
    hooks: &[(Hook, Prepared)],
    stage: Stage,
    install: bool,
) -> Vec<(&Hook, &Prepared, &'static str)> {
    let event = match (stage, install) {
        (Stage::Pre, true) => "pre-install",
        (Stage::Pre, false) => "pre-upgrade",
        (Stage::Post, true) => "post-install",
        (Stage::Post, false) => "post-upgrade",
    };
    let mut selected: Vec<(&Hook, &Prepared, &'static str)> = hooks
        .iter()
        .filter(|(hook, _)| hook.events.iter().any(|e| e == event))
        .map(|(hook, prepared)| (hook, prepared, event))
        .collect();
    selected.sort_by(|a, b| {
        a.0.weight
            .cmp(&b.0.weight)
            .then_with(|| a.1.reference.name.cmp(&b.1.reference.name))
    });
    selected
}

/// Run `hooks` one after the other, recording each in `outcome`. False when one failed: the
/// ones after it are not run.
pub(super) async fn run(
    cluster: &Cluster,
    request: &ApplyRequest<'_>,
    hooks: &[(&Hook, &Prepared, &'static str)],
    outcome: &mut ApplyOutcome,
) -> Result<bool> {
    for (hook, prepared, event) in hooks {
        let started = Instant::now();
        let result = run_one(cluster, request, hook, prepared).await?;
        let reference = prepared.reference.clone();
        let failed = match &result {
            HookOutcome::Succeeded => None,
            HookOutcome::Failed { reason } => Some(reason.clone()),
        };
        outcome.hooks.push(HookRun {
            object: reference.clone(),
            event: event.to_string(),
            weight: hook.weight,
            outcome: result,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        if let Some(reason) = failed {
            outcome.problems.push(ApplyProblem {
                object: reference,
                message: format!("the {event} hook failed: {reason}"),
                hint: Some(if event.starts_with("pre-") {
                    format!(
                        "{}; nothing else was applied: a failed pre hook stops the deploy, as it stops a Helm release",
                        next_step(cluster, prepared)
                    )
                } else {
                    next_step(cluster, prepared)
                }),
            });
            return Ok(false);
        }
    }
    Ok(true)
}

async fn run_one(
    cluster: &Cluster,
    request: &ApplyRequest<'_>,
    hook: &Hook,
    prepared: &Prepared,
) -> Result<HookOutcome> {
    if hook.deletes_on(BEFORE_HOOK_CREATION)
        && let Some(refusal) = delete(cluster, prepared, Some(request.hook_timeout)).await?
    {
        return Ok(HookOutcome::Failed {
            reason: format!("its previous instance cannot be deleted: {refusal}"),
        });
    }
    if let Some(problem) = apply_one(cluster, prepared).await? {
        let reason = match &problem.hint {
            Some(hint) => format!("{} ({hint})", problem.message),
            None => problem.message,
        };
        return Ok(HookOutcome::Failed { reason });
    }
    let result = completion(cluster, prepared, request.hook_timeout).await?;
    let policy = match result {
        HookOutcome::Succeeded => HOOK_SUCCEEDED,
        HookOutcome::Failed { .. } => HOOK_FAILED,
    };
    if hook.deletes_on(policy)
        && let Some(refusal) = delete(cluster, prepared, None).await?
    {
        tracing::warn!(
            "the {policy} delete policy of {} could not be honoured: {refusal}",
            prepared.reference
        );
    }
    Ok(result)
}

/// Wait until the hook has done its work: a Job complete, a Pod succeeded; other kinds are
/// done once applied (as for Helm).
async fn completion(
    cluster: &Cluster,
    prepared: &Prepared,
    timeout: Duration,
) -> Result<HookOutcome> {
    let object = &prepared.reference;
    match (object.group(), object.kind.as_str()) {
        ("batch", "Job") => {
            let request = WaitRequest {
                namespace: object.namespace.clone().unwrap_or_default(),
                workloads: vec![object.clone()],
                timeout,
            };
            let results = wait::wait(cluster, &request, &|_, _| {}).await?;
            Ok(match results.into_iter().next().map(|r| r.state) {
                Some(WorkloadState::Ready) => HookOutcome::Succeeded,
                Some(WorkloadState::Failed { reason }) => HookOutcome::Failed { reason },
                Some(WorkloadState::TimedOut { last }) => HookOutcome::Failed {
                    reason: format!("not complete within {} s ({last})", timeout.as_secs()),
                },
                None => HookOutcome::Failed {
                    reason: "the wait returned nothing".to_string(),
                },
            })
        }
        ("", "Pod") => pod_completion(cluster, object, timeout).await,
        _ => Ok(HookOutcome::Succeeded),
    }
}

/// Watch a hook Pod until it succeeds or fails.
async fn pod_completion(
    cluster: &Cluster,
    object: &ObjectRef,
    timeout: Duration,
) -> Result<HookOutcome> {
    let pods: Api<Pod> = Api::namespaced(
        cluster.client().clone(),
        object.namespace.as_deref().unwrap_or_default(),
    );
    let name = &object.name;
    let ended = api::watch_object_until(cluster, pods, name, timeout, |pod| {
        let Some(pod) = pod else {
            return Some(HookOutcome::Failed {
                reason: format!("pod {name} was deleted before it completed"),
            });
        };
        match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Succeeded") => Some(HookOutcome::Succeeded),
            Some("Failed") => Some(HookOutcome::Failed {
                reason: format!("pod {name} failed"),
            }),
            _ => None,
        }
    })
    .await?;
    Ok(ended.unwrap_or_else(|| HookOutcome::Failed {
        reason: format!("pod {name} did not complete within {} s", timeout.as_secs()),
    }))
}

/// Delete the hook object (its pods too); with `wait_for`, wait until it is gone. `Some`
/// refusal text when the API server refuses.
async fn delete(
    cluster: &Cluster,
    prepared: &Prepared,
    wait_for: Option<Duration>,
) -> Result<Option<String>> {
    let api = prepared.api(cluster);
    let what = format!("delete {}", prepared.reference);
    let answer = api::call(
        cluster,
        &what,
        CALL_TIMEOUT,
        api.delete(&prepared.reference.name, &DeleteParams::background()),
    )
    .await?;
    let uid = match answer {
        Ok(either) => either.left().and_then(|o| o.metadata.uid),
        Err(status) if status.code == 404 => return Ok(None),
        Err(status) => return Ok(Some(api::refusal_text(&status))),
    };
    let Some(timeout) = wait_for else {
        return Ok(None);
    };
    gone(cluster, api, &prepared.reference.name, uid, timeout).await
}

/// Wait until the object `name` (with `uid`, when known) no longer exists; `Some` text
/// when it is still there at the deadline.
async fn gone(
    cluster: &Cluster,
    api: Api<DynamicObject>,
    name: &str,
    uid: Option<String>,
    timeout: Duration,
) -> Result<Option<String>> {
    let vanished = api::watch_object_until(cluster, api, name, timeout, |object| match object {
        None => Some(()),
        Some(o) if uid.is_some() && o.metadata.uid != uid => Some(()),
        Some(_) => None,
    })
    .await?;
    Ok(vanished
        .is_none()
        .then(|| format!("still there after {} s", timeout.as_secs())))
}

fn next_step(cluster: &Cluster, prepared: &Prepared) -> String {
    let r = &prepared.reference;
    let namespace = r
        .namespace
        .as_deref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default();
    match r.kind.as_str() {
        "Job" => format!(
            "see its pods' logs: `kubectl --context {}{namespace} logs job/{} --all-containers`",
            cluster.context(),
            r.name
        ),
        _ => format!(
            "see `kubectl --context {}{namespace} describe {} {}`",
            cluster.context(),
            r.kind.to_lowercase(),
            r.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(annotations: serde_json::Value) -> RenderedObject {
        RenderedObject {
            source: "t.yaml".into(),
            value: json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": annotations}}),
        }
    }

    #[test]
    fn annotations_are_read_as_helm_reads_them() {
        assert!(Hook::of(&object(json!({"a": "b"}))).is_none());
        let hook = Hook::of(&object(
            json!({HOOK: "pre-install, pre-upgrade", WEIGHT: "-10"}),
        ))
        .unwrap()
        .ok()
        .unwrap();
        assert_eq!(hook.events, ["pre-install", "pre-upgrade"]);
        assert_eq!(hook.weight, -10);
        // No policy: before-hook-creation, Helm's default.
        assert_eq!(hook.delete_policies, [BEFORE_HOOK_CREATION]);
        let hook = Hook::of(&object(
            json!({HOOK: "post-install", WEIGHT: "x", DELETE_POLICY: "hook-succeeded,hook-failed"}),
        ))
        .unwrap()
        .ok()
        .unwrap();
        assert_eq!(hook.weight, 0);
        assert!(hook.deletes_on(HOOK_FAILED) && !hook.deletes_on(BEFORE_HOOK_CREATION));
    }

    #[test]
    fn test_and_lifecycle_hooks_are_refused_with_a_reason() {
        let Some(Err(refusal)) = Hook::of(&object(json!({HOOK: "test"}))) else {
            panic!("a test hook is refused");
        };
        assert!(
            refusal.message.contains("Helm test hook"),
            "{}",
            refusal.message
        );
        let Some(Err(refusal)) = Hook::of(&object(json!({HOOK: "pre-delete,post-rollback"})))
        else {
            panic!("a delete hook is refused");
        };
        assert!(
            refusal.message.contains("pre-delete,post-rollback"),
            "{}",
            refusal.message
        );
    }
}

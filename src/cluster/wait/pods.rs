//! What a pod's status says, in one line, and whether it shows a state that cannot heal by
//! waiting. Shared by the wait (to fail fast) and the diagnosis (to describe).

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};

/// Waiting reasons that do not go away by waiting: the image cannot be pulled, its name is
/// invalid, a ConfigMap or Secret the container needs is missing. (The kubelet retries
/// pulls, but a rollout that hits one of these is broken until someone changes something.)
const UNHEALABLE_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
];

/// A crash loop counts as fatal from this many restarts: one crash can be a dependency not up
/// yet, two in a back-off loop is a container that cannot start.
pub const CRASHLOOP_RESTARTS: i32 = 2;

/// Why `pod` cannot become ready by waiting (`container backend-api: ImagePullBackOff: …`),
/// or `None`. Pending and Unschedulable are never fatal: a node may come.
pub fn unhealable(pod: &Pod) -> Option<String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    for (is_init, container) in containers(pod) {
        let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        let label = container_label(is_init, &container.name);
        if UNHEALABLE_WAITING.contains(&reason) {
            let message = waiting
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Some(format!("{label}: {reason}{message}"));
        }
        if reason == "CrashLoopBackOff" && container.restart_count >= CRASHLOOP_RESTARTS {
            return Some(format!(
                "{label}: CrashLoopBackOff after {} restarts{}",
                container.restart_count,
                last_exit(container)
                    .map(|e| format!(", last {e}"))
                    .unwrap_or_default()
            ));
        }
    }
    None
}

/// The pod's container statuses, init containers first, each with whether it is one.
pub fn containers(pod: &Pod) -> impl Iterator<Item = (bool, &ContainerStatus)> {
    let status = pod.status.as_ref();
    let init = status
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| (true, c));
    let main = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| (false, c));
    init.chain(main)
}

/// `container x` or `init container x`.
pub fn container_label(init: bool, name: &str) -> String {
    if init {
        format!("init container {name}")
    } else {
        format!("container {name}")
    }
}

/// How the previous run ended: `exit code 1 (Error): message`.
pub fn last_exit(container: &ContainerStatus) -> Option<String> {
    let t = container.last_state.as_ref()?.terminated.as_ref()?;
    Some(terminated_text(
        t.exit_code,
        t.reason.as_deref(),
        t.message.as_deref(),
    ))
}

pub fn terminated_text(exit_code: i32, reason: Option<&str>, message: Option<&str>) -> String {
    let mut text = format!("exit code {exit_code}");
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(message) = message.map(str::trim).filter(|m| !m.is_empty()) {
        text.push_str(&format!(": {message}"));
    }
    text
}

/// A container state as one line: `waiting: ImagePullBackOff: <message>`, `running`,
/// `terminated: exit code 1 (Error): <message>`.
pub fn state_text(state: Option<&ContainerState>) -> String {
    let Some(state) = state else {
        return "unknown".to_string();
    };
    if let Some(w) = &state.waiting {
        let mut text = format!("waiting: {}", w.reason.as_deref().unwrap_or("(no reason)"));
        if let Some(m) = w.message.as_deref().filter(|m| !m.is_empty()) {
            text.push_str(&format!(": {m}"));
        }
        return text;
    }
    if state.running.is_some() {
        return "running".to_string();
    }
    if let Some(t) = &state.terminated {
        return format!(
            "terminated: {}",
            terminated_text(t.exit_code, t.reason.as_deref(), t.message.as_deref())
        );
    }
    "unknown".to_string()
}

/// Whether the pod's Ready condition is true.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Why a pod is not ready, in one line: the first not-ready container's state, or the
/// condition that holds it (`Pending: PodScheduled: Unschedulable: 0/1 nodes are available…`).
pub fn not_ready_text(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let Some(status) = pod.status.as_ref() else {
        return format!("pod {name}: no status yet");
    };
    let phase = status.phase.as_deref().unwrap_or("Unknown");
    for (is_init, c) in containers(pod) {
        let done = c
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| is_init && t.exit_code == 0);
        if !c.ready && !done {
            let state = state_text(c.state.as_ref());
            let state = if state == "running" {
                "running, not ready".to_string()
            } else {
                state
            };
            return format!("pod {name}: {}: {state}", container_label(is_init, &c.name));
        }
    }
    let holding = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.status != "True" && c.reason.is_some());
    match holding {
        Some(c) => format!(
            "pod {name}: {phase}: {}: {}{}",
            c.type_,
            c.reason.as_deref().unwrap_or_default(),
            c.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        None => format!("pod {name}: {phase}"),
    }
}

/// Whether `pod` is controlled by the object with `uid`.
pub fn owned_by(pod: &Pod, uid: &str) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    #[test]
    fn image_pull_and_config_errors_are_fatal_at_once() {
        let p = pod(json!({"phase": "Pending", "containerStatuses": [
            {"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}
        ]}));
        assert_eq!(
            unhealable(&p).as_deref(),
            Some("container app: ImagePullBackOff: Back-off pulling image \"x\"")
        );
        assert!(not_ready_text(&p).contains("waiting: ImagePullBackOff"));
    }

    #[test]
    fn a_crash_loop_is_fatal_from_the_second_restart_and_init_containers_count() {
        let looping = |restarts: i32| {
            pod(json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "image": "x", "imageID": "", "ready": false, "restartCount": restarts,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}
            ]}))
        };
        assert_eq!(unhealable(&looping(1)), None);
        assert_eq!(
            unhealable(&looping(2)).as_deref(),
            Some(
                "init container migrate: CrashLoopBackOff after 2 restarts, last exit code 3 (Error)"
            )
        );
    }

    #[test]
    fn pending_and_unschedulable_are_never_fatal() {
        let p = pod(json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available"}
        ]}));
        assert_eq!(unhealable(&p), None);
        assert_eq!(
            not_ready_text(&p),
            "pod p: Pending: PodScheduled: Unschedulable: 0/1 nodes are available"
        );
    }
}

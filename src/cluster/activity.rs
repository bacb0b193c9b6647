//! What happened in a namespace while a test ran: containers that restarted and Warning
//! events that appeared. A smoke suite that passes while the API restarts under it has not
//! passed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};

use super::Cluster;
use crate::checks::Check;
use crate::error::{Error, ErrorKind, Result};
use crate::process::cancellable;

/// How long one listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// A namespace's restart counts and Warning events at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Restarts by `pod/container`.
    restarts: BTreeMap<String, i32>,
    /// Warning events by uid, with a line describing each.
    warnings: BTreeMap<String, String>,
}

/// Read the namespace's restart counts and Warning events.
pub async fn snapshot(cluster: &Cluster, namespace: &str) -> Result<Activity> {
    let pods: Api<Pod> = Api::namespaced(cluster.client().clone(), namespace);
    let events: Api<Event> = Api::namespaced(cluster.client().clone(), namespace);
    let list = async {
        let pods = pods.list(&ListParams::default()).await;
        let warnings = events
            .list(&ListParams::default().fields("type=Warning"))
            .await;
        (pods, warnings)
    };
    let (pods, warnings) = cancellable(cluster.cancel(), async {
        tokio::time::timeout(LIST_TIMEOUT, list)
            .await
            .map_err(|_| Error::new(ErrorKind::Timeout, "listing pods and events took too long"))
    })
    .await?;
    let pods = pods.map_err(|e| listing_failed("pods", &e))?;
    let warnings = warnings.map_err(|e| listing_failed("events", &e))?;
    let mut activity = Activity::default();
    for pod in pods.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let statuses = pod.status.as_ref().into_iter().flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        });
        for status in statuses {
            activity
                .restarts
                .insert(format!("{name}/{}", status.name), status.restart_count);
        }
    }
    for event in warnings.items {
        let uid = event.metadata.uid.clone().unwrap_or_default();
        let object = format!(
            "{}/{}",
            event.involved_object.kind.as_deref().unwrap_or("?"),
            event.involved_object.name.as_deref().unwrap_or("?")
        );
        let line = format!(
            "{object}: {}: {}",
            event.reason.as_deref().unwrap_or(""),
            event.message.as_deref().unwrap_or("").trim()
        );
        activity.warnings.insert(uid, line);
    }
    Ok(activity)
}

fn listing_failed(what: &str, error: &kube::Error) -> Error {
    Error::environment(format!("cannot list the {what} of the namespace: {error}"))
}

/// The check `smoke/no-restarts-or-warnings`: nothing restarted and no new Warning event
/// between `before` and `after`.
pub fn quiet_between(before: &Activity, after: &Activity, duration_ms: u64) -> Check {
    const NAME: &str = "smoke/no-restarts-or-warnings";
    let mut problems = Vec::new();
    for (container, count) in &after.restarts {
        let earlier = before.restarts.get(container).copied().unwrap_or(0);
        if *count > earlier {
            problems.push(format!("{container} restarted {} time(s)", count - earlier));
        }
    }
    let seen: BTreeSet<&String> = before.warnings.keys().collect();
    for (uid, line) in &after.warnings {
        if !seen.contains(uid) {
            problems.push(format!("Warning {line}"));
        }
    }
    if problems.is_empty() {
        Check::passed(NAME, duration_ms)
    } else {
        Check::failed(
            NAME,
            duration_ms,
            format!("during the smoke suite: {}", problems.join("; ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;

    #[test]
    fn a_restart_or_a_new_warning_fails_the_check() {
        let before = Activity {
            restarts: BTreeMap::from([("api/app".to_string(), 1)]),
            warnings: BTreeMap::from([("old".to_string(), "Pod/api: BackOff: old".to_string())]),
        };
        assert_eq!(quiet_between(&before, &before, 5).outcome, Outcome::Passed);
        let mut after = before.clone();
        after.restarts.insert("api/app".to_string(), 2);
        after.warnings.insert(
            "new".to_string(),
            "Pod/api: Unhealthy: probe failed".to_string(),
        );
        let check = quiet_between(&before, &after, 5);
        assert_eq!(check.outcome, Outcome::Failed);
        let message = check.message.unwrap();
        assert!(message.contains("api/app restarted 1 time(s)"), "{message}");
        assert!(
            message.contains("Warning Pod/api: Unhealthy: probe failed"),
            "{message}"
        );
        assert!(!message.contains("old"), "{message}");
    }
}

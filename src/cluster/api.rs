//! Calls to the API server, as the deploy path makes them: each with a deadline and bound to
//! the run's cancellation, and the one mapping of kube-rs errors to stackctl's.
//!
//! An answer of the API server about one object (422 Invalid, 404, 409…) is the caller's to
//! judge: most become a problem of that object. What says the environment is broken (no
//! answer, refused credentials, an interrupted run) becomes an [`Error`] here.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use kube::Resource;
use kube::api::Api;
use kube::core::Status;
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::Cluster;
use crate::error::{Error, ErrorKind, Result};

/// How long one write, read or list may take before the API server counts as not answering.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The answer of one call: the value, or the API server's refusal (a `Status`), which the
/// caller judges. The outer `Result` is for the environment: cancelled, no answer, refused
/// credentials.
pub type Answer<T> = Result<std::result::Result<T, Box<Status>>>;

/// Run one API call `what` (for messages: `apply Deployment/x`) with `timeout`, ending early
/// when the run is cancelled.
pub async fn call<T>(
    cluster: &Cluster,
    what: &str,
    timeout: Duration,
    call: impl Future<Output = kube::Result<T>>,
) -> Answer<T> {
    answer(cluster, what, timeout, call, Forbidden::IsAnError).await
}

/// Like [`call`], for calls that are only a bonus (listing kinds a prune might find): a 403
/// Forbidden is handed back like any other refusal instead of failing the run.
pub async fn call_if_allowed<T>(
    cluster: &Cluster,
    what: &str,
    timeout: Duration,
    call: impl Future<Output = kube::Result<T>>,
) -> Answer<T> {
    answer(cluster, what, timeout, call, Forbidden::IsAnAnswer).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Forbidden {
    IsAnError,
    IsAnAnswer,
}

async fn answer<T>(
    cluster: &Cluster,
    what: &str,
    timeout: Duration,
    call: impl Future<Output = kube::Result<T>>,
    forbidden: Forbidden,
) -> Answer<T> {
    tokio::select! {
        biased;
        _ = cluster.cancel().cancelled() => Err(Error::cancelled()),
        answered = tokio::time::timeout(timeout, call) => match answered {
            Err(_) => Err(no_answer(cluster, what, &format!("no answer within {} s", timeout.as_secs()))),
            Ok(Ok(value)) => Ok(Ok(value)),
            Ok(Err(e)) => judge(cluster, what, e, forbidden),
        },
    }
}

/// An API refusal stays with the caller unless it is about the credentials; anything else
/// is an environment error.
fn judge<T>(cluster: &Cluster, what: &str, error: kube::Error, forbidden: Forbidden) -> Answer<T> {
    match error {
        kube::Error::Api(status)
            if is_credentials_refusal(&status)
                && !(forbidden == Forbidden::IsAnAnswer && status.code == 403) =>
        {
            Err(credentials_rejected(cluster, what, &status.message))
        }
        kube::Error::Api(status) => Ok(Err(status)),
        kube::Error::Auth(e) => Err(credentials_rejected(cluster, what, &e.to_string())),
        kube::Error::SerdeError(e) => Err(Error::environment(format!(
            "{what}: the API server of context {:?} sent an answer stackctl cannot read: {e}",
            cluster.context()
        ))),
        other => Err(no_answer(cluster, what, &other.to_string())),
    }
}

/// 401, and 403 other than the one about a namespace being deleted (that one is about the
/// namespace, not about who asks).
pub fn is_credentials_refusal(status: &Status) -> bool {
    status.code == 401 || (status.code == 403 && !is_terminating_namespace(status))
}

/// The apiserver's refusal to create objects in a namespace that is being deleted.
pub fn is_terminating_namespace(status: &Status) -> bool {
    status.code == 403 && status.message.contains("because it is being terminated")
}

pub fn credentials_rejected(cluster: &Cluster, what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::CredentialsRejected,
        format!(
            "{what}: the API server of context {:?} refused the credentials: {why}",
            cluster.context()
        ),
    )
    .with_hint(format!(
        "check what the context's user may do: `kubectl --context {} auth can-i --list`",
        cluster.context()
    ))
}

pub fn no_answer(cluster: &Cluster, what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Unreachable,
        format!(
            "{what}: the API server of context {:?} does not answer: {why}",
            cluster.context()
        ),
    )
    .with_hint("is the cluster running? `stackctl cluster status` says what exists")
}

/// The message of an API refusal as kubectl prints it (`Error from server (NotFound): …`).
pub fn refusal_text(status: &Status) -> String {
    if status.reason.is_empty() {
        format!("{} (HTTP {})", status.message, status.code)
    } else {
        format!("{} ({})", status.message, status.reason)
    }
}

/// Whether a kube-runtime watcher error is the credentials being refused (it would be
/// retried forever otherwise).
pub fn watcher_refusal(error: &kube::runtime::watcher::Error) -> Option<&Status> {
    use kube::runtime::watcher::Error as W;
    let status = match error {
        W::InitialListFailed(kube::Error::Api(s))
        | W::WatchStartFailed(kube::Error::Api(s))
        | W::WatchFailed(kube::Error::Api(s)) => s.as_ref(),
        W::WatchError(s) => s.as_ref(),
        _ => return None,
    };
    is_credentials_refusal(status).then_some(status)
}

/// Watch the object `name` until `settled` makes something of what it sees (`None` when the
/// object does not exist) or `timeout` passes (`Ok(None)`). kube-runtime's `watch_object`
/// resumes a dropped watch and re-lists after a 410; refused credentials end the watch.
pub async fn watch_object_until<K, R>(
    cluster: &Cluster,
    api: Api<K>,
    name: &str,
    timeout: Duration,
    mut settled: impl FnMut(Option<&K>) -> Option<R>,
) -> Result<Option<R>>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let watch = watcher::watch_object(api, name).backoff(RetryBackoff::default());
    let mut watch = std::pin::pin!(watch);
    let what = format!("watch {name}");
    let outcome = async {
        while let Some(event) = watch.next().await {
            match event {
                Ok(object) => {
                    if let Some(result) = settled(object.as_ref()) {
                        return Ok(Some(result));
                    }
                }
                Err(e) => {
                    if let Some(status) = watcher_refusal(&e) {
                        return Err(credentials_rejected(cluster, &what, &status.message));
                    }
                    tracing::debug!("{what}: {e}; the watcher resumes");
                }
            }
        }
        Ok(None)
    };
    tokio::select! {
        biased;
        _ = cluster.cancel().cancelled() => Err(Error::cancelled()),
        _ = tokio::time::sleep(timeout) => Ok(None),
        outcome = outcome => outcome,
    }
}

/// The pause before a watcher retries after an error: short at first (a dropped connection
/// or a 410 recovers at once), doubling to 5 s for a server that keeps failing.
#[derive(Debug, Clone, Copy)]
pub struct RetryBackoff {
    next_ms: u64,
}

const FIRST_RETRY_MS: u64 = 50;
const MAX_RETRY_MS: u64 = 5_000;

impl Default for RetryBackoff {
    fn default() -> Self {
        RetryBackoff {
            next_ms: FIRST_RETRY_MS,
        }
    }
}

impl Iterator for RetryBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let now = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(MAX_RETRY_MS);
        Some(Duration::from_millis(now))
    }
}

impl Backoff for RetryBackoff {
    fn reset(&mut self) {
        *self = RetryBackoff::default();
    }
}

//! Waiting for a release's workloads to roll out: every Deployment, StatefulSet and Job at
//! once, driven by watches, by the rules of `kubectl rollout status` ([`rollout`]), failing
//! fast on pods of the current revision in a state that cannot heal ([`pods::unhealable`]).
//!
//! kube-runtime's `await_condition` is not used: it ends at the first watch error (a 410
//! included) and has no deadline, and its `is_deployment_completed` ignores
//! `observedGeneration`. Instead one kube-runtime `watcher` per kind feeds a reflector store,
//! and every change re-evaluates every workload from the stores. The watcher resumes a dropped
//! watch from the last resourceVersion and re-lists after a 410; nothing polls.

mod pods;
mod rollout;

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use serde::de::DeserializeOwned;

// What the diagnosis and the port-forward read from pods the same way the wait does.
pub(crate) use pods::{containers, is_ready, last_exit, not_ready_text, owned_by, state_text};
pub(crate) use rollout::new_replica_set;

use super::Cluster;
use super::api;
use super::apply::ObjectRef;
use crate::error::{Error, Result};
use rollout::Verdict;

/// What to wait for.
#[derive(Debug, Clone)]
pub struct WaitRequest {
    /// Where the workloads are (workloads naming another namespace fail).
    pub namespace: String,
    /// Deployments, StatefulSets and Jobs; other kinds fail as not waitable.
    pub workloads: Vec<ObjectRef>,
    /// The deadline for all of them together.
    pub timeout: Duration,
}

/// How one workload ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum WorkloadState {
    Ready,
    /// It cannot become ready without a change (a pod in ImagePullBackOff, a crash loop,
    /// the progress deadline passed, the Job failed).
    Failed {
        reason: String,
    },
    /// Not ready at the deadline; `last` is what it was waiting for then.
    TimedOut {
        last: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadResult {
    pub workload: ObjectRef,
    pub state: WorkloadState,
    /// From the start of the wait to the verdict (the deadline for those that timed out).
    pub duration_ms: u64,
}

/// Wait until every workload is ready or failed, or `request.timeout` passes. `progress` is
/// called with (ready, total) whenever the number of ready workloads changes (and once at
/// the start). Cancellation ends the wait at once with [`Error::cancelled`]; an API server
/// that refuses the credentials, or cannot even be listed from before the deadline, is an
/// error.
pub async fn wait(
    cluster: &Cluster,
    request: &WaitRequest,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<Vec<WorkloadResult>> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + request.timeout);
    let total = request.workloads.len();
    let mut verdicts: Vec<Option<(WorkloadState, u64)>> = request
        .workloads
        .iter()
        .map(|w| {
            not_waitable(w, &request.namespace)
                .map(|why| (WorkloadState::Failed { reason: why }, 0))
        })
        .collect();
    let mut last: Vec<String> = vec!["not seen yet".to_string(); total];

    let mut watches = Watches::start(cluster, request);
    let mut ready_shown: Option<usize> = None;
    let mut last_error: Option<String> = None;
    loop {
        if watches.all_listed() {
            let stores = &watches.stores;
            for (i, workload) in request.workloads.iter().enumerate() {
                if verdicts[i].is_some() {
                    continue;
                }
                match stores.verdict(workload) {
                    Verdict::Ready => {
                        verdicts[i] = Some((WorkloadState::Ready, elapsed_ms(started)))
                    }
                    Verdict::Failed(reason) => {
                        tracing::debug!("{workload} failed: {reason}");
                        verdicts[i] = Some((WorkloadState::Failed { reason }, elapsed_ms(started)))
                    }
                    Verdict::Waiting(what) => last[i] = what,
                }
            }
        }
        let ready = verdicts
            .iter()
            .filter(|v| matches!(v, Some((WorkloadState::Ready, _))))
            .count();
        if ready_shown != Some(ready) && (watches.all_listed() || ready_shown.is_none()) {
            progress(ready, total);
            ready_shown = Some(ready);
        }
        if verdicts.iter().all(Option::is_some) {
            break;
        }
        tokio::select! {
            biased;
            _ = cluster.cancel().cancelled() => return Err(Error::cancelled()),
            _ = tokio::time::sleep_until(deadline) => break,
            seen = watches.next() => match seen {
                Some(Seen::Error(e)) => {
                    if let Some(status) = api::watcher_refusal(&e) {
                        return Err(api::credentials_rejected(cluster, "watch the workloads", &status.message));
                    }
                    tracing::debug!("watch error (the watcher resumes): {e}");
                    last_error = Some(e.to_string());
                }
                Some(Seen::Listed(index)) => watches.listed[index] = true,
                Some(Seen::Changed) => {}
                None => break,
            },
        }
    }
    if !watches.all_listed() {
        let why = last_error.unwrap_or_else(|| "no answer to the first list".to_string());
        return Err(api::no_answer(
            cluster,
            &format!("watch the workloads of namespace {}", request.namespace),
            &why,
        ));
    }
    let timed_out_ms = elapsed_ms(started);
    Ok(request
        .workloads
        .iter()
        .zip(verdicts.into_iter().zip(last))
        .map(|(workload, (verdict, last))| {
            let (state, duration_ms) =
                verdict.unwrap_or((WorkloadState::TimedOut { last }, timed_out_ms));
            WorkloadResult {
                workload: workload.clone(),
                state,
                duration_ms,
            }
        })
        .collect())
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Why stackctl cannot wait for `workload`, if it cannot.
fn not_waitable(workload: &ObjectRef, namespace: &str) -> Option<String> {
    if !workload.is_workload() {
        return Some(format!(
            "stackctl waits for Deployments, StatefulSets and Jobs, not {} ({})",
            workload.kind, workload.api_version
        ));
    }
    match workload.namespace.as_deref() {
        Some(ns) if ns != namespace => Some(format!(
            "it is in namespace {ns}; this wait watches namespace {namespace}"
        )),
        _ => None,
    }
}

/// What one watch stream reports, after updating its store.
enum Seen {
    /// The watch (re)listed everything: its store is complete.
    Listed(usize),
    Changed,
    Error(watcher::Error),
}

/// The stores the verdicts read, each fed by one watcher.
#[derive(Default)]
struct Stores {
    deployments: Option<Store<Deployment>>,
    replica_sets: Option<Store<ReplicaSet>>,
    statefulsets: Option<Store<StatefulSet>>,
    jobs: Option<Store<Job>>,
    pods: Option<Store<Pod>>,
}

impl Stores {
    fn verdict(&self, workload: &ObjectRef) -> Verdict {
        let name = workload.name.as_str();
        let pods = self.pods.as_ref().map(Store::state).unwrap_or_default();
        let missing = || Verdict::Waiting(format!("{workload} does not exist"));
        match workload.kind.as_str() {
            "Deployment" => {
                let Some(d) = find(self.deployments.as_ref(), name) else {
                    return missing();
                };
                let sets = self
                    .replica_sets
                    .as_ref()
                    .map(Store::state)
                    .unwrap_or_default();
                rollout::deployment(&d, &sets, &pods)
            }
            "StatefulSet" => match find(self.statefulsets.as_ref(), name) {
                Some(s) => rollout::statefulset(&s, &pods),
                None => missing(),
            },
            "Job" => match find(self.jobs.as_ref(), name) {
                Some(j) => rollout::job(&j, &pods),
                None => missing(),
            },
            _ => Verdict::Failed(format!("cannot wait for {}", workload.kind)),
        }
    }
}

fn find<K: kube::Resource<DynamicType = ()> + Clone>(
    store: Option<&Store<K>>,
    name: &str,
) -> Option<Arc<K>> {
    store?.find(|o| o.meta().name.as_deref() == Some(name))
}

type SeenStream = Pin<Box<dyn Stream<Item = Seen> + Send>>;

/// The watchers of a wait: one per kind it needs, all in the request's namespace.
struct Watches {
    stores: Stores,
    streams: futures_util::stream::SelectAll<SeenStream>,
    /// Per stream: whether it has listed once (its store is complete).
    listed: Vec<bool>,
}

impl Watches {
    fn start(cluster: &Cluster, request: &WaitRequest) -> Watches {
        let has = |kind: &str| request.workloads.iter().any(|w| w.kind == kind);
        let mut watches = Watches {
            stores: Stores::default(),
            streams: futures_util::stream::SelectAll::new(),
            listed: Vec::new(),
        };
        let ns = request.namespace.as_str();
        if has("Deployment") {
            watches.stores.deployments = Some(watches.watch(cluster, ns));
            watches.stores.replica_sets = Some(watches.watch(cluster, ns));
        }
        if has("StatefulSet") {
            watches.stores.statefulsets = Some(watches.watch(cluster, ns));
        }
        if has("Job") {
            watches.stores.jobs = Some(watches.watch(cluster, ns));
        }
        if !watches.listed.is_empty() {
            watches.stores.pods = Some(watches.watch(cluster, ns));
        }
        watches
    }

    /// Start a watcher of `K` feeding a new store; return the store.
    fn watch<K>(&mut self, cluster: &Cluster, namespace: &str) -> Store<K>
    where
        K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let index = self.listed.len();
        self.listed.push(false);
        let (reader, writer) = reflector::store();
        let api: Api<K> = Api::namespaced(cluster.client().clone(), namespace);
        let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
            .backoff(api::RetryBackoff::default())
            .map(move |event| match event {
                Ok(watcher::Event::InitDone) => Seen::Listed(index),
                Ok(_) => Seen::Changed,
                Err(e) => Seen::Error(e),
            });
        self.streams.push(Box::pin(stream));
        reader
    }

    fn all_listed(&self) -> bool {
        self.listed.iter().all(|l| *l)
    }

    async fn next(&mut self) -> Option<Seen> {
        if self.streams.is_empty() {
            // Nothing to watch: wait for the deadline or cancellation.
            std::future::pending::<()>().await;
        }
        self.streams.next().await
    }
}

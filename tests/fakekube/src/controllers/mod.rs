//! Simulated controllers: namespace lifecycle, garbage collection, Deployments and their
//! ReplicaSets, StatefulSets, Jobs, Endpoints, the scheduler and a kubelet that plays the
//! scenario's pod behaviours.
//!
//! They are level-triggered and event-driven: one task wakes on every committed change (the
//! store's broadcast) or at the next time-based transition a controller asked for (a pod
//! becoming ready after a delay, a progress deadline), then runs reconcile passes, each in one
//! store transaction, until a pass changes nothing. Everything happens in milliseconds.

mod deployments;
mod endpoints;
mod events;
mod gc;
mod jobs;
mod kubelet;
mod namespaces;
mod statefulsets;

pub use kubelet::{NODE_IP, NODE_NAME};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::http::Shutdown;
use crate::meta;
use crate::scenario::Scenario;
use crate::store::{ObjectKey, Store, Txn};

/// What the controllers remember between passes (a real controller's caches and clocks).
#[derive(Default)]
pub struct State {
    /// Per pod uid: when the kubelet first saw it, and its address.
    pods: HashMap<String, kubelet::PodClock>,
    /// Per Deployment uid: generation timing and progress.
    deployments: HashMap<String, deployments::DeploymentClock>,
    /// Emitted events, keyed by (involved uid, reason, message), for counting repeats.
    events: HashMap<(String, String, String), ObjectKey>,
    /// Endpoints objects the endpoints controller owns.
    endpoints: std::collections::HashSet<ObjectKey>,
    next_pod_ip: u32,
    /// The earliest time-based transition any controller is waiting for.
    wake_at: Option<Instant>,
}

impl State {
    fn wake_at(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

/// One reconcile pass's view: the transaction, the scenario, the clock.
pub struct Pass<'t, 'a> {
    pub txn: &'t mut Txn<'a>,
    pub scenario: &'t Scenario,
    pub state: &'t mut State,
    pub now: Instant,
    pub wall: SystemTime,
}

/// Runs every controller until shutdown.
pub async fn run(store: Arc<Store>, scenario: Arc<Scenario>, shutdown: Shutdown) {
    let mut changes = store.subscribe();
    let mut state = State::default();
    loop {
        // A bug in one controller must not stop the others: report it, carry on.
        let settled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reconcile(&store, &scenario, &mut state)
        }))
        .unwrap_or_else(|_| {
            eprintln!("fakekube: a controller panicked (a bug in the stand-in); reconciling on");
            store.resource_version()
        });
        let wake = state.wake_at.take();
        // Wait for a change newer than what the last pass saw, or the next transition.
        loop {
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(c) if c.rv <= settled => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
                () = sleep => break,
                () = shutdown.wait() => return,
            }
        }
    }
}

/// Reconcile passes until one changes nothing; returns the resourceVersion they settled at.
pub fn reconcile(store: &Store, scenario: &Scenario, state: &mut State) -> u64 {
    const MAX_PASSES: usize = 64;
    for _ in 0..MAX_PASSES {
        let (before, after) = store.write(|txn| {
            let before = txn.rv();
            let mut pass = Pass {
                txn,
                scenario,
                state,
                now: Instant::now(),
                wall: SystemTime::now(),
            };
            namespaces::reconcile(&mut pass);
            gc::reconcile(&mut pass);
            deployments::reconcile(&mut pass);
            statefulsets::reconcile(&mut pass);
            jobs::reconcile(&mut pass);
            kubelet::reconcile(&mut pass);
            endpoints::reconcile(&mut pass);
            (before, pass.txn.rv())
        });
        if before == after {
            return after;
        }
    }
    store.resource_version()
}

/// The names of a pod and of every controller above it (ReplicaSet, Deployment, StatefulSet,
/// Job, CronJob): what scenario rules match `owner` against.
pub fn owner_chain(txn: &Txn<'_>, pod: &Value) -> Vec<String> {
    let mut names = vec![meta::name(pod).to_string()];
    let namespace = meta::namespace(pod).to_string();
    let mut current = pod.clone();
    for _ in 0..5 {
        let Some((kind, name)) = meta::controller_ref(&current) else {
            break;
        };
        names.push(name.to_string());
        let group = match kind {
            "ReplicaSet" | "Deployment" | "StatefulSet" => "apps",
            "Job" | "CronJob" => "batch",
            _ => break,
        };
        let Some(rt) = txn.table.by_kind(group, kind) else {
            break;
        };
        match txn.get(&ObjectKey::new(rt, &namespace, name)) {
            Some(owner) => current = owner.clone(),
            None => break,
        }
    }
    names
}

/// A condition in the apiserver's shape, keeping `lastTransitionTime` (and
/// `lastUpdateTime`, when the type has one) from the previous condition when nothing changed,
/// so that a pass which changes nothing writes nothing.
pub fn condition(
    previous: &Value,
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
    with_update_time: bool,
) -> Value {
    let old = previous
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind));
    let status_text = if status { "True" } else { "False" };
    let same_status = old.is_some_and(|o| o["status"] == status_text);
    let same_reason = old.is_some_and(|o| o["reason"] == reason && o["message"] == message);
    let transition = if same_status {
        old.map(|o| o["lastTransitionTime"].clone())
            .unwrap_or(json!(now))
    } else {
        json!(now)
    };
    let mut c = json!({"type": kind, "status": status_text});
    if with_update_time {
        c["lastUpdateTime"] = if same_status && same_reason {
            old.map(|o| o["lastUpdateTime"].clone())
                .unwrap_or(json!(now))
        } else {
            json!(now)
        };
    }
    c["lastTransitionTime"] = transition;
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

/// Whether a pod is Ready (its Ready condition is True).
pub fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn pod_phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("Pending")
}

/// FNV-1a, 32 bits: the hash Kubernetes names pod templates with.
pub fn fnv32(data: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in data {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// `pod-template-hash`: the template's FNV-32 in Kubernetes' "safe" alphabet.
pub fn template_hash(template: &Value) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    fnv32(template.to_string().as_bytes())
        .to_string()
        .bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

/// The desired replica count of a workload (`spec.replicas`, default 1).
pub fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// Replaces the status of a stored object if it differs; returns whether it wrote.
pub fn write_status(txn: &mut Txn<'_>, key: &ObjectKey, status: Value) -> bool {
    let Some(mut obj) = txn.get(key).cloned() else {
        return false;
    };
    if obj["status"] == status {
        return false;
    }
    obj["status"] = status;
    txn.put(key.clone(), obj);
    true
}

/// The objects of one type that a controller with this uid controls.
pub fn controlled_by(
    txn: &Txn<'_>,
    group: &str,
    plural: &str,
    namespace: &str,
    uid: &str,
) -> Vec<(ObjectKey, Value)> {
    txn.list(group, plural, Some(namespace))
        .into_iter()
        .filter(|(_, o)| meta::controller_uid(o) == Some(uid))
        .collect()
}

/// A new object from a pod template, owned by `owner`.
pub fn pod_from_template(owner: &Value, template: &Value, name: &str) -> Value {
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(meta::namespace(owner));
    metadata["ownerReferences"] = json!([meta::owner_reference(owner)]);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template["spec"],
    })
}

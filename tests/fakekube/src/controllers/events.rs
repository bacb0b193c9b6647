//! The event recorder: core/v1 Events as controllers and the kubelet write them, with a repeat
//! count on one object per (involved object, reason, message) instead of a new object per
//! occurrence.

use serde_json::{Value, json};

use super::Pass;
use crate::meta;
use crate::store::ObjectKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Normal,
    Warning,
}

/// One event to record about `involved`.
pub struct Event<'a> {
    pub kind: Type,
    pub reason: &'a str,
    pub message: String,
    /// `source.component` / `reportingComponent`: `kubelet`, `deployment-controller`, …
    pub component: &'a str,
    /// For kubelet events about a container: `spec.containers{name}`.
    pub field_path: Option<String>,
    /// How many times it has happened so far; the stored count is raised to this.
    pub count: u64,
}

impl<'a> Event<'a> {
    pub fn normal(reason: &'a str, message: String, component: &'a str) -> Self {
        Self {
            kind: Type::Normal,
            reason,
            message,
            component,
            field_path: None,
            count: 1,
        }
    }

    pub fn warning(reason: &'a str, message: String, component: &'a str) -> Self {
        Self {
            kind: Type::Warning,
            ..Self::normal(reason, message, component)
        }
    }

    pub fn container(mut self, list: &str, name: &str) -> Self {
        self.field_path = Some(format!("spec.{list}{{{name}}}"));
        self
    }

    pub fn count(mut self, count: u64) -> Self {
        self.count = count.max(1);
        self
    }
}

/// Records `event` about `involved` (an object with kind, apiVersion and metadata), creating
/// the Event or raising its count.
pub fn record(pass: &mut Pass<'_, '_>, involved: &Value, event: Event<'_>) {
    let uid = meta::uid(involved).to_string();
    let id = (uid.clone(), event.reason.to_string(), event.message.clone());
    let now = meta::timestamp(pass.wall);
    if let Some(key) = pass.state.events.get(&id).cloned()
        && let Some(mut existing) = pass.txn.get(&key).cloned()
    {
        if existing["count"].as_u64().unwrap_or(1) < event.count {
            existing["count"] = json!(event.count);
            existing["lastTimestamp"] = json!(now);
            pass.txn.put(key, existing);
        }
        return;
    }
    let namespace = match meta::namespace(involved) {
        "" => "default",
        ns => ns,
    };
    let name = format!("{}.{:016x}", meta::name(involved), pass.txn.random());
    let mut involved_ref = json!({
        "kind": involved["kind"],
        "namespace": meta::namespace(involved),
        "name": meta::name(involved),
        "uid": uid,
        "apiVersion": involved["apiVersion"],
        "resourceVersion": involved["metadata"]["resourceVersion"],
    });
    if let Some(path) = &event.field_path {
        involved_ref["fieldPath"] = json!(path);
    }
    let host = (event.component == "kubelet").then_some("kind-control-plane");
    let mut source = json!({"component": event.component});
    if let Some(h) = host {
        source["host"] = json!(h);
    }
    let object = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved_ref,
        "reason": event.reason,
        "message": event.message,
        "type": match event.kind { Type::Normal => "Normal", Type::Warning => "Warning" },
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": event.count,
        "eventTime": null,
        "reportingComponent": event.component,
        "reportingInstance": host.unwrap_or_default(),
    });
    let rt = pass.txn.table.builtin("", "events");
    // Events in a terminating namespace are refused, as on a real cluster.
    if let Ok(created) = crate::crud::create(pass.txn, &rt, namespace, object, false) {
        let key = ObjectKey::new(&rt, namespace, meta::name(&created));
        pass.state.events.insert(id, key);
    }
}

//! Watches: `?watch=true` streams of newline-delimited `WatchEvent`s, as the apiserver sends
//! them. Without a resourceVersion (or with "0") the stream starts with a synthetic ADDED per
//! existing object; with one, it replays the history after it, or sends a single ERROR event
//! carrying a 410 `Expired` Status when that history was compacted (the client must re-list).
//! Changes that move an object into or out of a selector's selection arrive as ADDED or
//! DELETED. Bookmarks, `timeoutSeconds`, and faults that drop the stream are honoured.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::http::{self, Body, Shutdown};
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Change, ChangeKind, Store};

/// One watch request, parsed.
pub struct WatchRequest {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// None (or "0"): start with the current state.
    pub resource_version: Option<u64>,
    pub timeout: Duration,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub bookmark_interval: Duration,
    /// A fault: end the stream after this many events.
    pub drop_after_events: Option<usize>,
    /// Objects printed as Tables (kubectl's `get --watch`).
    pub as_table: Option<crate::table::Include>,
}

impl WatchRequest {
    fn selects(&self, obj: &Value) -> bool {
        let ns_ok = self.namespace.as_ref().is_none_or(|ns| {
            obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
        });
        ns_ok && self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The event type of a change for this watch, if it concerns it.
    fn event_type(&self, change: &Change) -> Option<&'static str> {
        if !change.key.is_type(&self.rt.group, &self.rt.plural) {
            return None;
        }
        let was = change.old.as_ref().is_some_and(|o| self.selects(o));
        let is = self.selects(&change.object);
        match change.kind {
            ChangeKind::Deleted => was.then_some("DELETED"),
            ChangeKind::Added => is.then_some("ADDED"),
            ChangeKind::Modified => match (was, is) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
        }
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"type": "BOOKMARK", "object": {
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version(),
            "metadata": metadata,
        }})
    }
}

impl WatchRequest {
    /// A change event, its object printed as a one-row Table when the client asked for
    /// Tables (column definitions only in the stream's first event, as the apiserver does).
    fn event(&self, kind: &str, object: &Value, first: bool) -> Value {
        match self.as_table {
            Some(include) => {
                let metadata = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
                let table = crate::table::table(
                    &self.rt,
                    std::slice::from_ref(object),
                    metadata,
                    first,
                    include,
                );
                json!({"type": kind, "object": table})
            }
            None => json!({"type": kind, "object": object}),
        }
    }
}

fn line(event: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(event).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// Starts a watch: the response streams until the timeout, a fault, shutdown, or the client
/// going away.
pub fn start(store: &Arc<Store>, req: WatchRequest, shutdown: Shutdown) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let (start_rv, initial, changes) = match req.resource_version {
        None => {
            let (rv, objects, changes) =
                store.list_and_subscribe(&req.rt, req.namespace.as_deref());
            let initial: Vec<Value> = objects
                .into_iter()
                .filter(|o| req.selects(o))
                .map(|o| json!({"type": "ADDED", "object": o}))
                .collect();
            (rv, initial, changes)
        }
        Some(since) => {
            let resume = store.subscribe_since(since);
            let Some(replay) = resume.replay else {
                // The apiserver answers 200 and one ERROR event; kube-runtime's watcher
                // re-lists on exactly this.
                let oldest = store.oldest_watchable() + 1;
                let status =
                    ApiError::expired(format!("too old resource version: {since} ({oldest})"))
                        .to_status();
                let _ = tx.try_send(line(&json!({"type": "ERROR", "object": status})));
                drop(tx);
                return streaming(rx);
            };
            let initial = replay
                .iter()
                .filter_map(|c| {
                    req.event_type(c)
                        .map(|t| json!({"type": t, "object": c.object}))
                })
                .collect();
            (resume.rv, initial, resume.changes)
        }
    };
    let resets = store.watch_resets();
    tokio::spawn(stream_events(
        req, tx, start_rv, initial, changes, resets, shutdown,
    ));
    streaming(rx)
}

fn streaming(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/json")
        .body(http::channel_body(rx))
        .expect("valid response")
}

async fn stream_events(
    req: WatchRequest,
    tx: mpsc::Sender<Bytes>,
    start_rv: u64,
    initial: Vec<Value>,
    mut changes: broadcast::Receiver<Arc<Change>>,
    mut resets: tokio::sync::watch::Receiver<u64>,
    shutdown: Shutdown,
) {
    let mut sent = 0usize;
    // The last resourceVersion this stream has accounted for: bookmarks must not skip
    // changes still queued for it.
    let mut seen_rv = start_rv;
    let dropped = |sent: usize| req.drop_after_events.is_some_and(|n| sent >= n);

    for event in initial {
        if let Some(rv) = event
            .pointer("/object/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok())
        {
            seen_rv = seen_rv.max(rv);
        }
        let kind = event["type"].as_str().unwrap_or("ADDED");
        let event = req.event(kind, &event["object"], sent == 0);
        if dropped(sent) || tx.send(line(&event)).await.is_err() {
            return;
        }
        sent += 1;
    }
    if req.send_initial_events
        && req.bookmarks
        && tx.send(line(&req.bookmark(seen_rv, true))).await.is_err()
    {
        return;
    }
    if dropped(sent) {
        return;
    }

    let deadline = tokio::time::sleep(req.timeout);
    tokio::pin!(deadline);
    let mut bookmark_tick = tokio::time::interval(req.bookmark_interval);
    bookmark_tick.tick().await;
    resets.mark_unchanged();
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(change) => {
                    if change.rv <= seen_rv {
                        continue;
                    }
                    seen_rv = change.rv;
                    if let Some(kind) = req.event_type(&change) {
                        if tx.send(line(&req.event(kind, &change.object, sent == 0))).await.is_err() {
                            return;
                        }
                        sent += 1;
                        if dropped(sent) {
                            return;
                        }
                    }
                }
                // Fell behind (or the store is gone): end; the client resumes from its last RV.
                Err(_) => return,
            },
            _ = bookmark_tick.tick(), if req.bookmarks => {
                if tx.send(line(&req.bookmark(seen_rv, false))).await.is_err() {
                    return;
                }
            }
            () = &mut deadline => return,
            _ = resets.changed() => return,
            () = shutdown.wait() => return,
            () = tx.closed() => return,
        }
    }
}

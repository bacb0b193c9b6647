//! The object store: every object as JSON, one global resourceVersion counter (as etcd's
//! revision), a bounded history of changes for watches (older resourceVersions answer
//! `410 Gone`), and a broadcast of every change that watches and the simulated controllers
//! react to.
//!
//! All writes go through [`Store::write`], which holds one lock for the whole transaction: a
//! handler's checks and its write see the same state, and changes are broadcast in
//! resourceVersion order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::resources::{ResourceTable, ResourceType};

/// Where an object lives: its type (group and plural), namespace (empty for cluster-scoped
/// types) and name. Ordered so that one type, or one type in one namespace, is a range.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(rt: &ResourceType, namespace: &str, name: &str) -> Self {
        Self {
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: if rt.namespaced {
                namespace.into()
            } else {
                String::new()
            },
            name: name.into(),
        }
    }

    pub fn is_type(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed change, as watches replay it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub key: ObjectKey,
    pub kind: ChangeKind,
    /// The object before the change (None for Added). Watches with selectors need it to turn a
    /// change that leaves the selection into a DELETED event.
    pub old: Option<Value>,
    /// The object after the change; for Deleted, its last state stamped with the delete's RV.
    pub object: Value,
}

/// Where a watch resumes: the current resourceVersion, the retained changes after the
/// requested one (None if compacted away: 410), and the subscription to what comes next.
pub struct Resume {
    pub rv: u64,
    pub replay: Option<Vec<Arc<Change>>>,
    pub changes: broadcast::Receiver<Arc<Change>>,
}

/// The state behind the lock.
#[derive(Default)]
pub struct Inner {
    rv: u64,
    objects: BTreeMap<ObjectKey, Value>,
    history: VecDeque<Arc<Change>>,
    /// Changes with a resourceVersion up to this one are gone from the history.
    compacted_through: u64,
    /// The last configuration each field manager applied to each object (server-side apply).
    applied: HashMap<ObjectKey, BTreeMap<String, Value>>,
    rng: u64,
}

/// Settings of the store a scenario can change.
#[derive(Debug, Clone, Copy)]
pub struct StoreSettings {
    /// How many changes the history keeps before it compacts the oldest.
    pub history_window: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            history_window: 10_000,
        }
    }
}

pub struct Store {
    pub(crate) table: Arc<ResourceTable>,
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Arc<Change>>,
    settings: StoreSettings,
    /// Bumped to end every open watch (as an apiserver restart would).
    watch_resets: tokio::sync::watch::Sender<u64>,
}

impl Store {
    pub(crate) fn new(table: Arc<ResourceTable>, settings: StoreSettings) -> Self {
        let (changes, _) = broadcast::channel(16_384);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(42);
        Self {
            table,
            inner: Mutex::new(Inner {
                rng: seed,
                ..Inner::default()
            }),
            changes,
            settings,
            watch_resets: tokio::sync::watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug in the stand-in; keep serving what is there.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` as one transaction.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Txn<'_>) -> T) -> T {
        let mut guard = self.lock();
        let mut txn = Txn {
            inner: &mut guard,
            table: &self.table,
            changes: &self.changes,
            settings: self.settings,
        };
        f(&mut txn)
    }

    /// Subscribes to changes committed from now on, with the current resourceVersion and the
    /// retained history after `since` (None if `since` is older than the history: 410).
    pub(crate) fn subscribe_since(&self, since: u64) -> Resume {
        let inner = self.lock();
        let rx = self.changes.subscribe();
        let replay = if since < inner.compacted_through {
            None
        } else {
            Some(
                inner
                    .history
                    .iter()
                    .filter(|c| c.rv > since)
                    .cloned()
                    .collect(),
            )
        };
        Resume {
            rv: inner.rv,
            replay,
            changes: rx,
        }
    }

    /// The objects of one type (optionally one namespace) and a subscription to every change
    /// after them, taken atomically: what a watch without a resourceVersion starts from.
    pub(crate) fn list_and_subscribe(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
    ) -> (u64, Vec<Value>, broadcast::Receiver<Arc<Change>>) {
        let inner = self.lock();
        let rx = self.changes.subscribe();
        let objects = range(&inner.objects, &rt.group, &rt.plural, namespace)
            .map(|(_, v)| v.clone())
            .collect();
        (inner.rv, objects, rx)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// The oldest resourceVersion a watch can still start from.
    pub(crate) fn oldest_watchable(&self) -> u64 {
        self.lock().compacted_through
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Drops the whole history: any watch resumed from an older resourceVersion gets 410.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted_through = inner.rv;
    }

    /// Ends every open watch stream; clients re-watch from their last resourceVersion.
    pub fn reset_watches(&self) {
        self.watch_resets.send_modify(|n| *n += 1);
    }

    pub(crate) fn watch_resets(&self) -> tokio::sync::watch::Receiver<u64> {
        self.watch_resets.subscribe()
    }

    /// One object, by kubectl-style resource (`deployments.apps`, `pods`), namespace and name.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = self.resolve(resource)?;
        self.lock()
            .objects
            .get(&ObjectKey::new(&rt, namespace, name))
            .cloned()
    }

    /// Every object of a resource (`deployments.apps`, `pods`), in one namespace or in all.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(rt) = self.resolve(resource) else {
            return Vec::new();
        };
        let inner = self.lock();
        range(&inner.objects, &rt.group, &rt.plural, namespace)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn resolve(&self, resource: &str) -> Option<Arc<ResourceType>> {
        let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
        self.table.by_plural(group, plural).cloned()
    }
}

fn range<'a>(
    objects: &'a BTreeMap<ObjectKey, Value>,
    group: &'a str,
    plural: &'a str,
    namespace: Option<&'a str>,
) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
    let start = ObjectKey {
        group: group.into(),
        plural: plural.into(),
        namespace: namespace.unwrap_or_default().into(),
        name: String::new(),
    };
    objects.range(start..).take_while(move |(k, _)| {
        k.group == group && k.plural == plural && namespace.is_none_or(|ns| k.namespace == ns)
    })
}

/// A transaction on the store: reads see its own writes; each write gets the next
/// resourceVersion and is broadcast at once.
pub struct Txn<'a> {
    inner: &'a mut Inner,
    pub table: &'a ResourceTable,
    changes: &'a broadcast::Sender<Arc<Change>>,
    settings: StoreSettings,
}

impl Txn<'_> {
    pub fn rv(&self) -> u64 {
        self.inner.rv
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.inner.objects.get(key)
    }

    /// The objects of one type, in one namespace or in all, ordered by namespace and name.
    pub fn list(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Vec<(ObjectKey, Value)> {
        range(&self.inner.objects, group, plural, namespace)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every key in one namespace, across types (for the namespace controller).
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<ObjectKey> {
        self.inner
            .objects
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect()
    }

    /// Every key whose object lists `uid` among its ownerReferences.
    pub fn dependents_of(&self, uid: &str) -> Vec<ObjectKey> {
        self.inner
            .objects
            .iter()
            .filter(|(_, v)| {
                v.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Stores `object` under `key` with the next resourceVersion and broadcasts the change.
    /// Returns the stored object.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Value {
        self.inner.rv += 1;
        let rv = self.inner.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let old = self.inner.objects.insert(key.clone(), object.clone());
        let kind = if old.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.record(Change {
            rv,
            key,
            kind,
            old,
            object: object.clone(),
        });
        object
    }

    /// Removes the object under `key`, broadcasting its last state with a new resourceVersion.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let mut object = self.inner.objects.remove(key)?;
        self.inner.applied.remove(key);
        self.inner.rv += 1;
        let rv = self.inner.rv;
        let old = object.clone();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(Change {
            rv,
            key: key.clone(),
            kind: ChangeKind::Deleted,
            old: Some(old),
            object: object.clone(),
        });
        Some(object)
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.inner.history.push_back(change.clone());
        while self.inner.history.len() > self.settings.history_window {
            if let Some(oldest) = self.inner.history.pop_front() {
                self.inner.compacted_through = oldest.rv;
            }
        }
        // No receiver is fine: nobody is watching.
        let _ = self.changes.send(change);
    }

    /// The configuration `manager` last applied to `key`, if any.
    pub fn applied_by(&self, key: &ObjectKey, manager: &str) -> Option<&Value> {
        self.inner.applied.get(key).and_then(|m| m.get(manager))
    }

    /// Every (manager, configuration) applied to `key`.
    pub fn applied_configs(&self, key: &ObjectKey) -> Vec<(String, Value)> {
        self.inner
            .applied
            .get(key)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub fn set_applied(&mut self, key: &ObjectKey, manager: &str, config: Value) {
        self.inner
            .applied
            .entry(key.clone())
            .or_default()
            .insert(manager.into(), config);
    }

    /// The next pseudo-random number (splitmix64): uids and name suffixes.
    pub fn random(&mut self) -> u64 {
        self.inner.rng = self.inner.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.inner.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random RFC 4122 version-4 uid.
    pub fn new_uid(&mut self) -> String {
        let a = self.random();
        let b = self.random();
        let hex = format!("{a:016x}{b:016x}");
        format!(
            "{}-{}-4{}-{}{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            ["8", "9", "a", "b"][(b & 3) as usize],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// A suffix in the alphabet Kubernetes uses for generated names (no vowels, no 0/1/3).
    pub fn name_suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[(self.random() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(window: usize) -> Store {
        Store::new(
            Arc::new(ResourceTable::new(&[])),
            StoreSettings {
                history_window: window,
            },
        )
    }

    #[test]
    fn every_write_gets_the_next_resource_version() {
        let s = store(100);
        let rt = s.table.builtin("", "configmaps");
        let key = ObjectKey::new(&rt, "ns", "a");
        let first = s.write(|t| t.put(key.clone(), json!({"metadata": {"name": "a"}})));
        let second = s.write(|t| t.put(key.clone(), json!({"metadata": {"name": "a"}})));
        assert_eq!(first["metadata"]["resourceVersion"], "1");
        assert_eq!(second["metadata"]["resourceVersion"], "2");
        let gone = s.write(|t| t.remove(&key)).unwrap();
        assert_eq!(gone["metadata"]["resourceVersion"], "3");
        assert!(s.get("configmaps", "ns", "a").is_none());
    }

    #[test]
    fn history_beyond_the_window_is_compacted() {
        let s = store(2);
        let rt = s.table.builtin("", "configmaps");
        for name in ["a", "b", "c"] {
            s.write(|t| {
                t.put(
                    ObjectKey::new(&rt, "ns", name),
                    json!({"metadata": {"name": name}}),
                )
            });
        }
        assert!(s.subscribe_since(0).replay.is_none(), "rv 0 is compacted");
        assert_eq!(s.subscribe_since(1).replay.unwrap().len(), 2);
        s.compact();
        assert!(s.subscribe_since(2).replay.is_none());
        assert_eq!(s.subscribe_since(3).replay.unwrap().len(), 0);
    }

    #[test]
    fn uids_look_like_kubernetes_uids() {
        let s = store(10);
        let uid = s.write(|t| t.new_uid());
        assert_eq!(uid.len(), 36);
        assert_eq!(uid.matches('-').count(), 4);
        assert_eq!(&uid[14..15], "4");
    }
}

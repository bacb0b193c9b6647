//! The garbage collector: dependents whose owners are all gone are deleted (background
//! propagation); dependents of an owner in foreground deletion are deleted first, and the
//! owner's `foregroundDeletion` finalizer is removed once none is left.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Pass;
use crate::crud::{self, DeleteOptions, Part};
use crate::meta;
use crate::store::ObjectKey;

pub fn reconcile(pass: &mut Pass<'_, '_>) {
    // uid -> (key, in foreground deletion)
    let mut owners: HashMap<String, (ObjectKey, bool)> = HashMap::new();
    let mut with_refs: Vec<(ObjectKey, Value)> = Vec::new();
    for (group, plural) in all_types(pass) {
        for (key, obj) in pass.txn.list(&group, &plural, None) {
            let foreground = meta::is_terminating(&obj)
                && meta::finalizers(&obj)
                    .iter()
                    .any(|f| f == "foregroundDeletion");
            owners.insert(meta::uid(&obj).to_string(), (key.clone(), foreground));
            if obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty())
            {
                with_refs.push((key, obj));
            }
        }
    }

    let mut blocking: HashMap<String, usize> = HashMap::new();
    for (key, obj) in &with_refs {
        let refs = obj["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let owner_uids: Vec<&str> = refs.iter().filter_map(|r| r["uid"].as_str()).collect();
        let all_gone = owner_uids.iter().all(|u| !owners.contains_key(*u));
        let owner_in_foreground = owner_uids
            .iter()
            .any(|u| owners.get(*u).is_some_and(|(_, fg)| *fg));
        if owner_in_foreground {
            for u in &owner_uids {
                *blocking.entry(u.to_string()).or_default() += 1;
            }
        }
        if (all_gone || owner_in_foreground) && !meta::is_terminating(obj) {
            delete(pass, key);
        }
    }

    // Owners in foreground deletion with no dependent left lose their finalizer.
    for (uid, (key, foreground)) in owners {
        if foreground && !blocking.contains_key(&uid) && pass.txn.dependents_of(&uid).is_empty() {
            let Some(obj) = pass.txn.get(&key).cloned() else {
                continue;
            };
            let Some(rt) = pass.txn.table.by_plural(&key.group, &key.plural).cloned() else {
                continue;
            };
            let mut new = obj.clone();
            let rest: Vec<String> = meta::finalizers(&obj)
                .into_iter()
                .filter(|f| f != "foregroundDeletion")
                .collect();
            new["metadata"]["finalizers"] = json!(rest);
            let _ = crud::commit_update(pass.txn, &rt, &key, &obj, new, Part::Main, false);
        }
    }
}

fn all_types(pass: &Pass<'_, '_>) -> Vec<(String, String)> {
    pass.txn
        .table
        .all()
        .iter()
        .map(|t| (t.group.clone(), t.plural.clone()))
        .collect()
}

fn delete(pass: &mut Pass<'_, '_>, key: &ObjectKey) {
    if let Some(rt) = pass.txn.table.by_plural(&key.group, &key.plural).cloned() {
        let _ = crud::delete(
            pass.txn,
            &rt,
            &key.namespace,
            &key.name,
            &DeleteOptions::default(),
        );
    }
}

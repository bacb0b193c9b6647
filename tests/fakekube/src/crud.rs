//! The semantics of create, update, patch, apply and delete, shared by the HTTP handlers and
//! the simulated controllers so both see the same rules: server-set metadata (uid,
//! creationTimestamp, generation, resourceVersion), defaulting, allocation of cluster IPs,
//! namespace lifecycle (404 outside a namespace, 403 in a terminating one), optimistic
//! concurrency, immutable fields, finalizers and delete propagation.

use base64::Engine;
use serde_json::{Value, json};

use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::ResourceType;
use crate::status::ApiError;
use crate::store::{ObjectKey, Txn};
use crate::validation;

/// How a delete treats the object's dependents (`propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object is gone; its last state.
    Gone(Value),
    /// The object waits for finalizers (or is a namespace being emptied); its current state.
    Pending(Value),
}

#[derive(Debug, Clone)]
pub struct PatchOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub force: bool,
    /// The object, or its status subresource.
    pub part: Part,
}

/// Which part of the object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

fn check_body(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: expected an object",
            rt.kind
        )));
    }
    let kind = body["kind"].as_str().unwrap_or_default();
    if kind.is_empty() {
        let shown: String = body.to_string().chars().take(200).collect();
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{shown}'"
        )));
    }
    let api_version = body["apiVersion"].as_str().unwrap_or_default();
    if api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    validation::check_shape(rt, body)
}

/// Where a namespaced object may be created: the namespace must exist and not be terminating.
fn check_namespace(
    txn: &Txn<'_>,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    if !rt.namespaced {
        return Ok(());
    }
    let ns_type = txn.table.builtin("", "namespaces");
    match txn.get(&ObjectKey::new(&ns_type, "", namespace)) {
        None => Err(ApiError::not_found(&ns_type, namespace)),
        Some(ns) if meta::is_terminating(ns) => {
            Err(ApiError::namespace_terminating(rt, name, namespace))
        }
        Some(_) => Ok(()),
    }
}

/// Creates an object (POST, or an apply of an object that does not exist yet).
pub fn create(
    txn: &mut Txn<'_>,
    rt: &ResourceType,
    namespace: &str,
    mut body: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    check_body(rt, &body)?;
    if body["metadata"].is_null() {
        body["metadata"] = json!({});
    }
    if rt.namespaced {
        let in_body = meta::namespace(&body).to_string();
        if !in_body.is_empty() && in_body != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        body["metadata"]["namespace"] = json!(namespace);
    } else if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if meta::name(&body).is_empty() {
        match body
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", txn.name_suffix(5));
                body["metadata"]["name"] = json!(name);
            }
            _ => {
                return Err(ApiError::invalid(
                    rt,
                    "",
                    vec![crate::status::Cause::required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                ));
            }
        }
    }
    let name = meta::name(&body).to_string();
    check_namespace(txn, rt, namespace, &name)?;
    let key = ObjectKey::new(rt, namespace, &name);
    if txn.get(&key).is_some() {
        return Err(ApiError::already_exists(rt, &name));
    }

    // Server-owned metadata; anything a client sent there is replaced.
    let uid = txn.new_uid();
    let m = body["metadata"]
        .as_object_mut()
        .expect("metadata is an object");
    for server_field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
        "managedFields",
    ] {
        m.remove(server_field);
    }
    m.insert("uid".into(), json!(uid));
    m.insert("creationTimestamp".into(), json!(meta::now()));
    if rt.tracks_generation {
        m.insert("generation".into(), json!(1));
    }
    if rt.has_status() {
        body["status"] = json!({});
    }
    apply_defaults(rt, &mut body);
    allocate_on_create(txn, rt, &mut body);
    validation::validate(rt, &body)?;
    if dry_run {
        return Ok(body);
    }
    Ok(txn.put(key, body))
}

/// Server-side defaults, applied on every write (set only where absent), as the apiserver's
/// defaulting on decode does.
fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    fn default(obj: &mut Value, pointer: &str, value: Value) {
        let (parent, field) = pointer.rsplit_once('/').expect("pointer has a parent");
        if let Some(p) = obj.pointer_mut(parent).and_then(Value::as_object_mut)
            && p.get(field).is_none_or(Value::is_null)
        {
            p.insert(field.into(), value);
        }
    }
    fn pod_spec_defaults(spec: &mut Value) {
        if !spec.is_object() {
            return;
        }
        default(spec, "/restartPolicy", json!("Always"));
        default(spec, "/dnsPolicy", json!("ClusterFirst"));
        default(spec, "/schedulerName", json!("default-scheduler"));
        default(spec, "/terminationGracePeriodSeconds", json!(30));
        default(spec, "/securityContext", json!({}));
        let sa = spec["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        default(spec, "/serviceAccountName", json!(sa));
        for list in ["initContainers", "containers"] {
            if let Some(containers) = spec[list].as_array_mut() {
                for c in containers {
                    let image = c["image"].as_str().unwrap_or_default();
                    let tag = image.rsplit('/').next().unwrap_or_default();
                    let policy = if !tag.contains(':') || tag.ends_with(":latest") {
                        "Always"
                    } else {
                        "IfNotPresent"
                    };
                    default(c, "/imagePullPolicy", json!(policy));
                    default(c, "/terminationMessagePath", json!("/dev/termination-log"));
                    default(c, "/terminationMessagePolicy", json!("File"));
                    if let Some(ports) = c["ports"].as_array_mut() {
                        for p in ports {
                            default(p, "/protocol", json!("TCP"));
                        }
                    }
                }
            }
        }
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => pod_spec_defaults(&mut obj["spec"]),
        ("apps", "deployments") => {
            default(obj, "/spec/replicas", json!(1));
            default(obj, "/spec/revisionHistoryLimit", json!(10));
            default(obj, "/spec/progressDeadlineSeconds", json!(600));
            default(
                obj,
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
        }
        ("apps", "replicasets") => {
            default(obj, "/spec/replicas", json!(1));
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
        }
        ("apps", "statefulsets") => {
            default(obj, "/spec/replicas", json!(1));
            default(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
            default(obj, "/spec/revisionHistoryLimit", json!(10));
            default(
                obj,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
        }
        ("batch", "jobs") => {
            default(obj, "/spec/backoffLimit", json!(6));
            default(obj, "/spec/completions", json!(1));
            default(obj, "/spec/parallelism", json!(1));
            default(obj, "/spec/completionMode", json!("NonIndexed"));
            default(obj, "/spec/suspend", json!(false));
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
        }
        ("batch", "cronjobs") => {
            default(obj, "/spec/concurrencyPolicy", json!("Allow"));
            default(obj, "/spec/suspend", json!(false));
            default(obj, "/spec/successfulJobsHistoryLimit", json!(3));
            default(obj, "/spec/failedJobsHistoryLimit", json!(1));
        }
        ("", "services") => {
            default(obj, "/spec/type", json!("ClusterIP"));
            default(obj, "/spec/sessionAffinity", json!("None"));
            if obj["spec"]["type"] != "ExternalName" {
                default(obj, "/spec/internalTrafficPolicy", json!("Cluster"));
                default(obj, "/spec/ipFamilies", json!(["IPv4"]));
                default(obj, "/spec/ipFamilyPolicy", json!("SingleStack"));
            }
            if let Some(ports) = obj["spec"]["ports"].as_array_mut() {
                for p in ports {
                    default(p, "/protocol", json!("TCP"));
                    let port = p["port"].clone();
                    default(p, "/targetPort", port);
                }
            }
        }
        ("", "persistentvolumeclaims") => {
            default(obj, "/spec/volumeMode", json!("Filesystem"));
        }
        ("", "secrets") => {
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
            // The apiserver folds write-only stringData into data.
            if let Some(Value::Object(string_data)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                if !obj["data"].is_object() {
                    obj["data"] = json!({});
                }
                for (k, v) in string_data {
                    let encoded = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    obj["data"][k] = json!(encoded);
                }
            }
        }
        _ => {}
    }
}

/// What the server fills in on create: a namespace's finalizer and phase, a Service's
/// cluster IP, a Job's selector and labels, a Pod's initial status.
fn allocate_on_create(txn: &mut Txn<'_>, rt: &ResourceType, obj: &mut Value) {
    let name = meta::name(obj).to_string();
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        }
        ("", "services") => {
            let spec = &mut obj["spec"];
            let wanted = spec["clusterIP"].as_str().unwrap_or_default().to_string();
            if spec["type"] != "ExternalName" {
                let ip = if wanted.is_empty() {
                    allocate_cluster_ip(txn)
                } else {
                    wanted
                };
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
            if matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"))
                && let Some(ports) = spec["ports"].as_array_mut()
            {
                for p in ports {
                    if p["nodePort"].is_null() {
                        p["nodePort"] = json!(30000 + txn.random() % 2768);
                    }
                }
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        ("batch", "jobs") => {
            let uid = meta::uid(obj).to_string();
            if obj["spec"]["selector"].is_null() {
                obj["spec"]["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
            }
            let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", &uid),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", &uid),
                ("job-name", &name),
            ] {
                labels[k] = json!(v);
            }
        }
        ("", "pods") => {
            obj["status"] = json!({"phase": "Pending", "qosClass": qos_class(&obj["spec"])});
        }
        ("", "persistentvolumeclaims") => {
            obj["status"] = json!({"phase": "Pending"});
        }
        _ => {}
    }
}

fn qos_class(pod_spec: &Value) -> &'static str {
    let containers = pod_spec["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let any_resources = containers
        .iter()
        .any(|c| c["resources"]["requests"].is_object() || c["resources"]["limits"].is_object());
    if any_resources {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// The next free address in 10.96.0.0/16, as the service IP allocator hands them out.
fn allocate_cluster_ip(txn: &mut Txn<'_>) -> String {
    let services = txn.list("", "services", None);
    let used: std::collections::HashSet<String> = services
        .iter()
        .filter_map(|(_, s)| s["spec"]["clusterIP"].as_str().map(String::from))
        .collect();
    for _ in 0..10_000 {
        let n = 2 + txn.random() % 65_000;
        let ip = format!("10.96.{}.{}", n / 254, 1 + n % 254);
        if !used.contains(&ip) {
            return ip;
        }
    }
    "10.96.255.254".into()
}

/// Replaces an object (PUT), or its status (PUT …/status).
pub fn update(
    txn: &mut Txn<'_>,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    body: Value,
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    check_body(rt, &body)?;
    let key = ObjectKey::new(rt, namespace, name);
    let Some(old) = txn.get(&key).cloned() else {
        return Err(ApiError::not_found(rt, name));
    };
    let body_name = meta::name(&body);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(rv) = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !rv.is_empty()
        && Some(rv)
            != old
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::stale(rt, name));
    }
    commit_update(txn, rt, &key, &old, body, part, dry_run)
}

/// Commits a new version of a stored object: keeps server-owned fields, checks immutable
/// fields, bumps the generation on spec changes, skips no-op writes (no new resourceVersion,
/// as on a real apiserver) and removes an object whose last finalizer went away.
pub fn commit_update(
    txn: &mut Txn<'_>,
    rt: &ResourceType,
    key: &ObjectKey,
    old: &Value,
    mut new: Value,
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    // A patch can produce anything; nothing below may index into an undecodable shape.
    validation::check_shape(rt, &new)?;
    if part == Part::Status {
        // Only the status changes through the status subresource.
        let status = new["status"].take();
        new = old.clone();
        new["status"] = status;
    } else if rt.has_status() {
        new["status"] = old["status"].clone();
    }
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    for server_field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old["metadata"].get(server_field) {
            Some(v) => new["metadata"][server_field] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(server_field);
                }
            }
        }
    }
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    apply_defaults(rt, &mut new);
    carry_over_allocations(rt, old, &mut new);
    validation::validate(rt, &new)?;
    validation::validate_update(rt, old, &new)?;
    if rt.tracks_generation
        && patch::without_metadata_and_status(old) != patch::without_metadata_and_status(&new)
    {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        new["metadata"]["generation"] = json!(generation);
    }
    if new == *old {
        return Ok(new);
    }
    if dry_run {
        return Ok(new);
    }
    if meta::is_terminating(&new)
        && meta::finalizers(&new).is_empty()
        && !waits_for_spec_finalizers(&new)
    {
        return Ok(txn.remove(key).unwrap_or(new));
    }
    Ok(txn.put(key.clone(), new))
}

/// A namespace is removed only once `spec.finalizers` is empty too.
fn waits_for_spec_finalizers(obj: &Value) -> bool {
    obj["spec"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// Fields an update may omit and the server keeps: a Service's allocated IPs and node ports,
/// a namespace's finalizers, a Job's generated selector.
fn carry_over_allocations(rt: &ResourceType, old: &Value, new: &mut Value) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "services") => {
            for field in ["clusterIP", "clusterIPs"] {
                let unset = new["spec"][field].is_null() || new["spec"][field] == "";
                if unset && !old["spec"][field].is_null() {
                    new["spec"][field] = old["spec"][field].clone();
                }
            }
            if let (Some(new_ports), Some(old_ports)) = (
                new["spec"]["ports"].as_array_mut(),
                old["spec"]["ports"].as_array(),
            ) {
                for p in new_ports {
                    if p["nodePort"].is_null()
                        && let Some(o) = old_ports.iter().find(|o| o["port"] == p["port"])
                        && !o["nodePort"].is_null()
                    {
                        p["nodePort"] = o["nodePort"].clone();
                    }
                }
            }
        }
        ("", "namespaces") => {
            new["spec"]["finalizers"] = old["spec"]["finalizers"].clone();
        }
        ("batch", "jobs") if new["spec"]["selector"].is_null() => {
            new["spec"]["selector"] = old["spec"]["selector"].clone();
        }
        _ => {}
    }
}

/// PATCH: JSON, merge, strategic (as merge) or apply. Returns the object and whether the
/// patch created it (only apply creates).
pub fn patch(
    txn: &mut Txn<'_>,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    kind: PatchType,
    body: Value,
    opts: &PatchOptions,
) -> Result<(Value, bool), ApiError> {
    let part = opts.part;
    let key = ObjectKey::new(rt, namespace, name);
    let old = txn.get(&key).cloned();
    match kind {
        PatchType::Apply => apply(txn, rt, namespace, name, &key, old, body, part, opts),
        PatchType::Json | PatchType::Merge | PatchType::StrategicMerge => {
            let Some(old) = old else {
                return Err(ApiError::not_found(rt, name));
            };
            let mut new = old.clone();
            if kind == PatchType::Json {
                patch::json_patch(&mut new, &body).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                })?;
            } else {
                if !body.is_object() {
                    return Err(ApiError::bad_request(
                        "invalid merge patch: the patch must be a JSON object",
                    ));
                }
                patch::merge(&mut new, &body);
            }
            if let Some(rv) = body
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                && Some(rv)
                    != old
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
            {
                return Err(ApiError::stale(rt, name));
            }
            Ok((
                commit_update(txn, rt, &key, &old, new, part, opts.dry_run)?,
                false,
            ))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply(
    txn: &mut Txn<'_>,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    key: &ObjectKey,
    old: Option<Value>,
    mut applied: Value,
    part: Part,
    opts: &PatchOptions,
) -> Result<(Value, bool), ApiError> {
    let Some(manager) = opts.field_manager.as_deref().filter(|m| !m.is_empty()) else {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    };
    check_body(rt, &applied)?;
    patch::strip_nulls(&mut applied);
    let applied_name = meta::name(&applied);
    if applied_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({applied_name}) does not match the name on the URL ({name})"
        )));
    }
    let Some(old) = old else {
        if part == Part::Status {
            return Err(ApiError::not_found(rt, name));
        }
        let created = create(txn, rt, namespace, applied.clone(), opts.dry_run)?;
        if !opts.dry_run {
            txn.set_applied(key, manager, applied);
        }
        return Ok((created, true));
    };

    // Conflicts with what other apply managers set, unless forced.
    let mut taken: Vec<(String, Vec<String>)> = Vec::new();
    for (other, config) in txn.applied_configs(key) {
        if other == manager {
            continue;
        }
        let fields = patch::conflicting_fields(&config, &applied);
        if !fields.is_empty() {
            taken.push((other, fields));
        }
    }
    if !taken.is_empty() && !opts.force {
        return Err(apply_conflict(rt, name, &taken));
    }

    let previous = txn.applied_by(key, manager).cloned();
    let merged = patch::apply(&old, previous.as_ref(), &applied);
    let result = commit_update(txn, rt, key, &old, merged, part, opts.dry_run)?;
    if !opts.dry_run {
        for (other, fields) in &taken {
            if let Some(mut config) = txn.applied_by(key, other).cloned() {
                patch::remove_fields(&mut config, fields);
                txn.set_applied(key, other, config);
            }
        }
        txn.set_applied(key, manager, applied);
    }
    Ok((result, false))
}

fn apply_conflict(rt: &ResourceType, name: &str, taken: &[(String, Vec<String>)]) -> ApiError {
    let api_version = rt.api_version();
    let count: usize = taken.iter().map(|(_, f)| f.len()).sum();
    let mut causes = Vec::new();
    let mut parts = Vec::new();
    for (manager, fields) in taken {
        for f in fields {
            causes.push(json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{manager}\" using {api_version}"),
                "field": f,
            }));
        }
        if count == 1 {
            parts.push(format!(
                "conflict with \"{manager}\" using {api_version}: {}",
                fields[0]
            ));
        } else {
            let list: Vec<String> = fields.iter().map(|f| format!("- {f}")).collect();
            parts.push(format!(
                "conflicts with \"{manager}\" using {api_version}:\n{}",
                list.join("\n")
            ));
        }
    }
    let noun = if count == 1 { "conflict" } else { "conflicts" };
    let mut err = ApiError::conflict(rt, name, "");
    err.message = format!("Apply failed with {count} {noun}: {}", parts.join("\n"));
    if let Some(d) = err.details.as_mut() {
        d["causes"] = json!(causes);
    }
    err
}

/// DELETE of one object.
pub fn delete(
    txn: &mut Txn<'_>,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let key = ObjectKey::new(rt, namespace, name);
    let Some(old) = txn.get(&key).cloned() else {
        return Err(ApiError::not_found(rt, name));
    };
    if let Some(uid) = &opts.precondition_uid
        && uid != meta::uid(&old)
    {
        return Err(ApiError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(&old)
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_rv
        && Some(rv.as_str())
            != old
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                old["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            ),
        ));
    }
    if meta::is_terminating(&old) {
        return Ok(Deleted::Pending(old));
    }
    let policy = opts.propagation.unwrap_or(Propagation::Background);
    let mut new = old.clone();
    new["metadata"]["deletionTimestamp"] = json!(meta::now());
    new["metadata"]["deletionGracePeriodSeconds"] = json!(0);

    if rt.group.is_empty() && rt.plural == "namespaces" {
        // The namespace controller empties it, then removes the `kubernetes` finalizer.
        new["status"]["phase"] = json!("Terminating");
        if opts.dry_run {
            return Ok(Deleted::Pending(new));
        }
        return Ok(Deleted::Pending(txn.put(key, new)));
    }
    if policy == Propagation::Foreground {
        let mut finalizers = meta::finalizers(&new);
        if !finalizers.iter().any(|f| f == "foregroundDeletion") {
            finalizers.push("foregroundDeletion".into());
        }
        new["metadata"]["finalizers"] = json!(finalizers);
    }
    if opts.dry_run {
        return Ok(if meta::finalizers(&new).is_empty() {
            Deleted::Gone(old)
        } else {
            Deleted::Pending(new)
        });
    }
    if policy == Propagation::Orphan {
        let uid = meta::uid(&old).to_string();
        for dep_key in txn.dependents_of(&uid) {
            if let Some(mut dep) = txn.get(&dep_key).cloned() {
                if let Some(refs) = dep["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"] != uid.as_str());
                }
                txn.put(dep_key, dep);
            }
        }
    }
    if meta::finalizers(&new).is_empty() {
        let gone = txn.remove(&key).unwrap_or(old);
        Ok(Deleted::Gone(gone))
    } else {
        Ok(Deleted::Pending(txn.put(key, new)))
    }
}

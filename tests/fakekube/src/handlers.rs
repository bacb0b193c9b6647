//! The handlers of resource paths: list (paging, selectors, Tables), watch, create, update,
//! patch, delete and deletecollection, and the `scale`, `finalize`, `log` and `portforward`
//! subresources. The write semantics themselves live in [`crate::crud`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use crate::crud::{self, DeleteOptions, Deleted, Part, PatchOptions, Propagation};
use crate::http::{self, Body};
use crate::logs::{self, LogOptions};
use crate::meta;
use crate::patch::PatchType;
use crate::portforward::{self, PodIdentity, PortTarget};
use crate::resources::ResourceType;
use crate::router::{App, Ctx, Query, flag};
use crate::scenario::ForwardTarget;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::ObjectKey;
use crate::table::{self, Include};
use crate::watch::{self, WatchRequest};

fn dry_run(q: &Query) -> Result<bool, ApiError> {
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
        ))),
    }
}

/// Parses a request body: JSON, or YAML for content types that say so (apply bodies, which
/// kube-rs sends as JSON, are valid YAML too).
fn parse_body(bytes: &[u8], yaml_allowed: bool, kind: &str) -> Result<Value, ApiError> {
    // Protobuf (what kubectl's typed clients send) is not spoken: say so, with the status a
    // server answers for a media type it does not accept.
    if bytes.starts_with(b"k8s\0") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "fakekube: protobuf request bodies are not supported (a stand-in limitation); send application/json",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            if yaml_allowed
                && let Ok(text) = std::str::from_utf8(bytes)
                && let Ok(v) = serde_saphyr::from_str::<Value>(text)
            {
                return Ok(v);
            }
            Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {json_err}"
            )))
        }
    }
}

fn content_type(req: &Request<Incoming>) -> String {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string()
}

pub async fn serve_collection(
    app: &Arc<App>,
    req: Request<Incoming>,
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    ctx: &Ctx,
) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let labels = LabelSelector::parse(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let fields = FieldSelector::parse(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
        &rt.kind,
    )?;
    match *req.method() {
        Method::GET if flag(q, "watch") => {
            let resource_version = match q.get("resourceVersion").map(String::as_str) {
                None | Some("") | Some("0") => None,
                Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv:?}"))
                })?),
            };
            let timeout = match q.get("timeoutSeconds") {
                Some(t) => Duration::from_secs(t.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid timeoutSeconds: {t:?}"))
                })?),
                None => Duration::from_secs(1800),
            };
            let watch = WatchRequest {
                rt,
                namespace,
                labels,
                fields,
                resource_version,
                timeout,
                bookmarks: flag(q, "allowWatchBookmarks"),
                send_initial_events: flag(q, "sendInitialEvents"),
                bookmark_interval: Duration::from_millis(app.scenario.bookmark_interval_ms.max(1)),
                drop_after_events: ctx.effects.drop_watch_after_events,
                as_table: ctx.as_table,
            };
            Ok(watch::start(&app.store, watch, app.shutdown.clone()))
        }
        Method::GET => list(
            app,
            &rt,
            namespace.as_deref(),
            &labels,
            &fields,
            q,
            ctx.as_table,
        ),
        Method::POST => {
            let Some(ns) = namespace.or_else(|| (!rt.namespaced).then(String::new)) else {
                return Err(ApiError::method_not_allowed());
            };
            let dry = dry_run(q)?;
            let body = http::read_body(req.into_body()).await?;
            let obj = parse_body(&body, true, &rt.kind)?;
            let created = app
                .store
                .write(|txn| crud::create(txn, &rt, &ns, obj, dry))?;
            Ok(http::json(201, &created))
        }
        Method::DELETE => {
            let dry = dry_run(q)?;
            let opts = delete_options(req, q, dry).await?;
            let deleted = app.store.write(|txn| -> Result<Vec<Value>, ApiError> {
                let mut out = Vec::new();
                for (key, obj) in txn.list(&rt.group, &rt.plural, namespace.as_deref()) {
                    if labels.matches(&obj) && fields.matches(&obj) {
                        match crud::delete(txn, &rt, &key.namespace, &key.name, &opts)? {
                            Deleted::Gone(o) | Deleted::Pending(o) => out.push(o),
                        }
                    }
                }
                Ok(out)
            })?;
            let rv = app.store.resource_version();
            Ok(http::json(200, &list_object(&rt, rv, deleted, None, None)))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn list_object(
    rt: &ResourceType,
    rv: u64,
    items: Vec<Value>,
    cont: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            // Typed lists carry kind and apiVersion once, not per item.
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": metadata,
        "items": items,
    })
}

/// `continue` tokens: the list's resourceVersion and the last key served.
fn encode_continue(rv: u64, key: &ObjectKey) -> String {
    let raw = json!({"rv": rv, "start": format!("{}/{}", key.namespace, key.name)}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let invalid = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| invalid("not a continue token"))?;
    let rv = v["rv"]
        .as_u64()
        .ok_or_else(|| invalid("no resourceVersion"))?;
    let (ns, name) = v["start"]
        .as_str()
        .and_then(|s| s.split_once('/'))
        .ok_or_else(|| invalid("no start key"))?;
    Ok((rv, ns.to_string(), name.to_string()))
}

fn list(
    app: &App,
    rt: &ResourceType,
    namespace: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
    q: &Query,
    as_table: Option<Include>,
) -> Result<Response<Body>, ApiError> {
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {l:?}")))?,
        ),
    };
    let after = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let (rv, ns, name) = decode_continue(token)?;
            if rv < app.store.oldest_watchable() {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            Some((rv, ns, name))
        }
        None => None,
    };
    let (rv, selected) = app.store.write(|txn| {
        let rv = txn.rv();
        let selected: Vec<(ObjectKey, Value)> = txn
            .list(&rt.group, &rt.plural, namespace)
            .into_iter()
            .filter(|(key, obj)| {
                let past_token = after.as_ref().is_none_or(|(_, ns, name)| {
                    (key.namespace.as_str(), key.name.as_str()) > (ns.as_str(), name.as_str())
                });
                past_token && labels.matches(obj) && fields.matches(obj)
            })
            .collect();
        (rv, selected)
    });
    let list_rv = after.as_ref().map_or(rv, |(rv, _, _)| *rv);
    let (page, cont, remaining) = match limit {
        Some(n) if selected.len() > n => {
            let remaining = selected.len() - n;
            let page: Vec<(ObjectKey, Value)> = selected.into_iter().take(n).collect();
            let token = encode_continue(list_rv, &page[n - 1].0);
            (page, Some(token), Some(remaining))
        }
        _ => (selected, None, None),
    };
    let items: Vec<Value> = page.into_iter().map(|(_, v)| v).collect();
    if let Some(include) = as_table {
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if let Some(c) = cont {
            metadata["continue"] = json!(c);
        }
        return Ok(http::json(
            200,
            &table::table(rt, &items, metadata, true, include),
        ));
    }
    Ok(http::json(
        200,
        &list_object(rt, list_rv, items, cont, remaining),
    ))
}

async fn delete_options(
    req: Request<Incoming>,
    q: &Query,
    dry: bool,
) -> Result<DeleteOptions, ApiError> {
    let body = http::read_body(req.into_body()).await?;
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        parse_body(&body, false, "DeleteOptions")?
    };
    let policy_text = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| body["propagationPolicy"].as_str().map(String::from));
    let propagation = match policy_text.as_deref() {
        None | Some("") => {
            if body["orphanDependents"] == Value::Bool(true)
                || q.get("orphanDependents").is_some_and(|v| v == "true")
            {
                Some(Propagation::Orphan)
            } else {
                None
            }
        }
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    };
    let body_dry = body["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        dry_run: dry || body_dry,
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
    })
}

pub async fn serve_object(
    app: &Arc<App>,
    req: Request<Incoming>,
    rt: Arc<ResourceType>,
    namespace: &str,
    name: &str,
    subresource: Option<&str>,
    ctx: &Ctx,
) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let key = ObjectKey::new(&rt, namespace, name);
    let method = req.method().clone();
    match (method, subresource) {
        (Method::GET, None | Some("status")) => match app.store.write(|txn| txn.get(&key).cloned())
        {
            Some(obj) => match ctx.as_table {
                Some(include) => {
                    let metadata = json!({"resourceVersion": obj["metadata"]["resourceVersion"]});
                    Ok(http::json(
                        200,
                        &table::table(&rt, &[obj], metadata, true, include),
                    ))
                }
                None => Ok(http::json(200, &obj)),
            },
            None => Err(ApiError::not_found(&rt, name)),
        },
        (Method::PUT, None | Some("status")) => {
            let part = if subresource == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let dry = dry_run(q)?;
            let body = http::read_body(req.into_body()).await?;
            let obj = parse_body(&body, true, &rt.kind)?;
            let updated = app
                .store
                .write(|txn| crud::update(txn, &rt, namespace, name, obj, part, dry))?;
            Ok(http::json(200, &updated))
        }
        (Method::PATCH, None | Some("status")) => {
            let part = if subresource == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let ct = content_type(&req);
            let kind = PatchType::from_content_type(&ct)
                .ok_or_else(|| ApiError::unsupported_media_type(&ct))?;
            let opts = PatchOptions {
                dry_run: dry_run(q)?,
                field_manager: q.get("fieldManager").cloned(),
                force: flag(q, "force"),
                part,
            };
            if opts.force && kind != PatchType::Apply {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
                ));
            }
            let body = http::read_body(req.into_body()).await?;
            let patch = parse_body(&body, kind == PatchType::Apply, &rt.kind)?;
            let (obj, created) = app
                .store
                .write(|txn| crud::patch(txn, &rt, namespace, name, kind, patch, &opts))?;
            Ok(http::json(if created { 201 } else { 200 }, &obj))
        }
        (Method::DELETE, None) => {
            let dry = dry_run(q)?;
            let opts = delete_options(req, q, dry).await?;
            match app
                .store
                .write(|txn| crud::delete(txn, &rt, namespace, name, &opts))?
            {
                // Pods and namespaces answer with the object, other types with a Status.
                Deleted::Gone(obj)
                    if rt.group.is_empty()
                        && matches!(rt.plural.as_str(), "pods" | "namespaces") =>
                {
                    Ok(http::json(200, &obj))
                }
                Deleted::Gone(obj) => Ok(http::json(
                    200,
                    &status::deleted(&rt, name, meta::uid(&obj)),
                )),
                Deleted::Pending(obj) => Ok(http::json(200, &obj)),
            }
        }
        (method, Some("scale")) => scale(app, req, method, &rt, namespace, name, q).await,
        (Method::PUT, Some("finalize")) => {
            let body = http::read_body(req.into_body()).await?;
            let obj = parse_body(&body, false, "Namespace")?;
            let finalizers = obj["spec"]["finalizers"].clone();
            app.store.write(|txn| {
                let Some(mut ns) = txn.get(&key).cloned() else {
                    return Err(ApiError::not_found(&rt, name));
                };
                ns["spec"]["finalizers"] = if finalizers.is_null() {
                    json!([])
                } else {
                    finalizers
                };
                Ok(http::json(200, &txn.put(key.clone(), ns)))
            })
        }
        (Method::GET, Some("log")) => pod_logs(app, &rt, &key, q),
        (Method::GET | Method::POST, Some("portforward")) => {
            pod_portforward(app, req, &rt, &key, ctx.effects.close_after_bytes)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The `scale` subresource of Deployments, ReplicaSets and StatefulSets.
async fn scale(
    app: &Arc<App>,
    req: Request<Incoming>,
    method: Method,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let key = ObjectKey::new(rt, namespace, name);
    let to_scale = |obj: &Value| {
        let selector = crate::selectors::labels_text(&obj["spec"]["selector"]["matchLabels"]);
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": obj["metadata"]["uid"],
                "resourceVersion": obj["metadata"]["resourceVersion"],
                "creationTimestamp": obj["metadata"]["creationTimestamp"],
            },
            "spec": {"replicas": obj["spec"]["replicas"]},
            "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
        })
    };
    if method == Method::GET {
        return match app.store.write(|txn| txn.get(&key).cloned()) {
            Some(obj) => Ok(http::json(200, &to_scale(&obj))),
            None => Err(ApiError::not_found(rt, name)),
        };
    }
    if method != Method::PUT && method != Method::PATCH {
        return Err(ApiError::method_not_allowed());
    }
    let ct = content_type(&req);
    let dry = dry_run(q)?;
    let body = http::read_body(req.into_body()).await?;
    let input = parse_body(&body, true, "Scale")?;
    app.store.write(|txn| {
        let Some(old) = txn.get(&key).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        let mut scale = to_scale(&old);
        if method == Method::PUT {
            scale = input;
        } else {
            match PatchType::from_content_type(&ct) {
                Some(PatchType::Json) => crate::patch::json_patch(&mut scale, &input)
                    .map_err(|e| ApiError::new(422, "Invalid", e))?,
                Some(_) => crate::patch::merge(&mut scale, &input),
                None => return Err(ApiError::unsupported_media_type(&ct)),
            }
        }
        let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
            ApiError::invalid(
                rt,
                name,
                vec![crate::status::Cause::required("spec.replicas", "")],
            )
        })?;
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(replicas);
        let stored = crud::commit_update(txn, rt, &key, &old, new, Part::Main, dry)?;
        Ok(http::json(200, &to_scale(&stored)))
    })
}

/// A pod and the names of its owner chain (what scenario rules match on).
fn pod_and_owners(
    app: &App,
    rt: &ResourceType,
    key: &ObjectKey,
) -> Result<(Value, Vec<String>), ApiError> {
    app.store.write(|txn| {
        let pod = txn
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, &key.name))?;
        let owners = crate::controllers::owner_chain(txn, &pod);
        Ok((pod, owners))
    })
}

fn pod_logs(
    app: &Arc<App>,
    rt: &ResourceType,
    key: &ObjectKey,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let opts = LogOptions::from_query(q)?;
    let (pod, owners) = pod_and_owners(app, rt, key)?;
    let (container, text) = logs::log_text(&pod, &owners, &app.scenario, &opts)?;
    let text = logs::shape(&text, &opts);
    Ok(logs::respond(
        &app.store,
        &pod,
        &container,
        text,
        &opts,
        app.shutdown.clone(),
    ))
}

fn pod_portforward(
    app: &Arc<App>,
    req: Request<Incoming>,
    rt: &ResourceType,
    key: &ObjectKey,
    close_after_bytes: Option<u64>,
) -> Result<Response<Body>, ApiError> {
    let ports = portforward::requested_ports(&http::query_pairs(&req))?;
    let (pod, owners) = pod_and_owners(app, rt, key)?;
    if pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            key.name
        )));
    }
    // Nothing listens in a pod none of whose containers runs.
    let any_running = pod["status"]["containerStatuses"]
        .as_array()
        .is_some_and(|s| s.iter().any(|c| c["state"]["running"].is_object()));
    let labels = meta::labels(&pod)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let targets = ports
        .iter()
        .map(|&port| {
            let rule = app.scenario.port_forwards.iter().find(|r| {
                r.select.matches(&owners, &labels, &key.namespace)
                    && r.port.is_none_or(|p| p == port)
            });
            let target = rule
                .map(|r| r.target.clone())
                .unwrap_or(ForwardTarget::Stub);
            let address = match target {
                _ if !any_running => None,
                ForwardTarget::Stub => app.stub_addr,
                ForwardTarget::Refused => None,
                ForwardTarget::Address(a) => a.parse().ok(),
            };
            PortTarget { port, address }
        })
        .collect();
    let identity = PodIdentity::from_uid(meta::uid(&pod));
    Ok(portforward::upgrade(
        req,
        identity,
        targets,
        close_after_bytes,
        app.shutdown.clone(),
    ))
}

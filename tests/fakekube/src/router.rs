//! The API server's routes: discovery and OpenAPI documents, the resource paths of every type
//! in the table (collections, objects, subresources, served by [`crate::handlers`]), and the
//! plain-text `404 page not found` for anything else. Route faults of the scenario apply
//! before a request is served.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use crate::discovery;
use crate::faults::Faults;
use crate::handlers;
use crate::http::{self, Body, Shutdown};
use crate::resources::ResourceType;
use crate::scenario::Scenario;
use crate::status::ApiError;
use crate::store::Store;
use crate::table::{self, Include};

/// What every request handler shares.
pub struct App {
    pub store: Arc<Store>,
    pub scenario: Arc<Scenario>,
    pub faults: Faults,
    /// Where port-forwards go by default.
    pub stub_addr: Option<SocketAddr>,
    pub shutdown: Shutdown,
}

/// A resource path, resolved against the table.
enum Target {
    Collection {
        rt: Arc<ResourceType>,
        namespace: Option<String>,
    },
    Object {
        rt: Arc<ResourceType>,
        namespace: String,
        name: String,
        subresource: Option<String>,
    },
}

pub type Query = HashMap<String, String>;

pub fn flag(q: &Query, key: &str) -> bool {
    q.get(key).is_some_and(|v| v == "true" || v == "1")
}

pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = http::query_params(&req);
    let is_watch = flag(&query, "watch");
    let effects = app.faults.effects(req.method().as_str(), &path, is_watch);
    if !effects.latency.is_zero() {
        tokio::time::sleep(effects.latency).await;
    }
    if let Some(code) = effects.status {
        return http::error(&ApiError::injected(code));
    }
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let types = &app.store.table;
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let get = req.method() == Method::GET;
    // kubectl's human output asks for server-side printed Tables.
    let as_table = (get && table::wants_table(&accept))
        .then(|| Include::from_query(query.get("includeObject").map(String::as_str)));
    let ctx = Ctx {
        query,
        effects,
        as_table,
    };

    match segments.as_slice() {
        ["version"] if get => http::json(200, &discovery::version()),
        ["healthz" | "livez" | "readyz"] if get => http::text(200, "ok"),
        ["api"] if get => {
            if discovery::wants_aggregated(&accept) {
                http::json_typed(
                    200,
                    &discovery::aggregated(types, true),
                    discovery::AGGREGATED_CONTENT_TYPE,
                )
            } else {
                http::json(200, &discovery::core_versions())
            }
        }
        ["apis"] if get => {
            if discovery::wants_aggregated(&accept) {
                http::json_typed(
                    200,
                    &discovery::aggregated(types, false),
                    discovery::AGGREGATED_CONTENT_TYPE,
                )
            } else {
                http::json(200, &discovery::group_list(types))
            }
        }
        ["api", version] if get => match discovery::resource_list(types, "", version) {
            Some(list) => http::json(200, &list),
            None => http::page_not_found(),
        },
        ["apis", group] if get => match discovery::group(types, group) {
            Some(g) => http::json(200, &g),
            None => http::page_not_found(),
        },
        ["apis", group, version] if get => match discovery::resource_list(types, group, version) {
            Some(list) => http::json(200, &list),
            None => http::page_not_found(),
        },
        ["openapi", "v3"] if get => http::json(200, &discovery::openapi_v3_index(types)),
        ["openapi", "v3", "api", version] if get => openapi_doc(&app, "", version),
        ["openapi", "v3", "apis", group, version] if get => openapi_doc(&app, group, version),
        ["api", version, rest @ ..] => match resolve(&app.store, "", version, rest) {
            Some(target) => serve(app.clone(), req, target, ctx).await,
            None => http::page_not_found(),
        },
        ["apis", group, version, rest @ ..] => match resolve(&app.store, group, version, rest) {
            Some(target) => serve(app.clone(), req, target, ctx).await,
            None => http::page_not_found(),
        },
        _ => http::page_not_found(),
    }
}

fn openapi_doc(app: &App, group: &str, version: &str) -> Response<Body> {
    match discovery::openapi_v3_group_version(&app.store.table, group, version) {
        Some(doc) => http::json(200, &doc),
        None => http::page_not_found(),
    }
}

/// Resolves the segments after `/api/v1` or `/apis/{g}/{v}`.
fn resolve(store: &Store, group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let table = &store.table;
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(rt) = table
            .find(group, version, plural)
            .filter(|rt| rt.namespaced)
    {
        return object_or_collection(rt.clone(), Some(ns.to_string()), tail);
    }
    let (plural, tail) = rest.split_first()?;
    let rt = table.find(group, version, plural)?.clone();
    if rt.namespaced {
        // A namespaced type without a namespace: only the all-namespaces collection.
        return tail.is_empty().then_some(Target::Collection {
            rt,
            namespace: None,
        });
    }
    object_or_collection(rt, None, tail)
}

fn object_or_collection(
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    tail: &[&str],
) -> Option<Target> {
    match tail {
        [] => Some(Target::Collection { rt, namespace }),
        [name] => Some(Target::Object {
            rt,
            namespace: namespace.unwrap_or_default(),
            name: name.to_string(),
            subresource: None,
        }),
        [name, sub] if rt.has_subresource(sub) => Some(Target::Object {
            rt,
            namespace: namespace.unwrap_or_default(),
            name: name.to_string(),
            subresource: Some(sub.to_string()),
        }),
        _ => None,
    }
}

/// What the router learned about a request before serving it.
pub struct Ctx {
    pub query: Query,
    pub effects: crate::faults::Effects,
    /// Answer with a server-side printed Table (kubectl's human output asks for one).
    pub as_table: Option<Include>,
}

async fn serve(app: Arc<App>, req: Request<Incoming>, target: Target, ctx: Ctx) -> Response<Body> {
    let result = match target {
        Target::Collection { rt, namespace } => {
            handlers::serve_collection(&app, req, rt, namespace, &ctx).await
        }
        Target::Object {
            rt,
            namespace,
            name,
            subresource,
        } => {
            handlers::serve_object(
                &app,
                req,
                rt,
                &namespace,
                &name,
                subresource.as_deref(),
                &ctx,
            )
            .await
        }
    };
    result.unwrap_or_else(|e| http::error(&e))
}

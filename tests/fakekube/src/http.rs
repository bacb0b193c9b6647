//! HTTP plumbing shared by the API server and the platform stub: the body type (whole or
//! streamed), response helpers, body reading with the apiserver's size limit, the accept loop
//! (HTTP/1.1 with upgrades) and the shutdown signal.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::status::ApiError;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The largest request body the apiserver accepts (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

pub fn json(code: u16, value: &Value) -> Response<Body> {
    json_typed(code, value, "application/json")
}

pub fn json_typed(code: u16, value: &Value, content_type: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(full(serde_json::to_vec(value).unwrap_or_default()))
        .expect("static response parts are valid")
}

pub fn text(code: u16, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "text/plain; charset=utf-8")
        .body(full(body.into()))
        .expect("static response parts are valid")
}

pub fn error(err: &ApiError) -> Response<Body> {
    json(err.code, &err.to_status())
}

/// The plain-text 404 the apiserver's mux answers for paths it does not serve.
pub fn page_not_found() -> Response<Body> {
    text(404, "404 page not found\n")
}

/// A streamed body fed by a channel: each message is sent as it arrives; the body ends when
/// the sender is dropped.
pub fn channel_body(mut rx: mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|next| next.map(|bytes| Ok::<_, Infallible>(Frame::data(bytes))))
    });
    StreamBody::new(stream).boxed_unsync()
}

/// Reads a request body up to [`MAX_BODY`]. A larger body is still read to its end (up to a
/// hard cap), so the client receives the 413 instead of a reset connection.
pub async fn read_body(mut body: Incoming) -> Result<Bytes, ApiError> {
    const DRAIN_CAP: usize = 64 * 1024 * 1024;
    let mut data = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(chunk) = frame.into_data() {
            seen += chunk.len();
            if seen <= MAX_BODY {
                data.extend_from_slice(&chunk);
            } else if seen > DRAIN_CAP {
                break;
            }
        }
    }
    if seen > MAX_BODY {
        return Err(ApiError::too_large());
    }
    Ok(Bytes::from(data))
}

/// Decoded query parameters (the last value wins; a leading `&` and empty pairs are fine,
/// since kube-rs sends `path?&a=b`).
pub fn query_params(req: &Request<Incoming>) -> std::collections::HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The query as ordered pairs (for parameters that may repeat, such as `port`).
pub fn query_pairs(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// A shutdown signal every task of one server watches.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

pub struct ShutdownTrigger(tokio::sync::watch::Sender<bool>);

pub fn shutdown_pair() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Resolves once shutdown is triggered (or its trigger is dropped).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Accepts HTTP/1.1 connections until shutdown, serving each with `handler`; connection
/// upgrades (WebSocket port-forwards) are allowed.
pub async fn serve<H, F>(listener: TcpListener, shutdown: Shutdown, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.wait() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                _ = connection => {}
                () = shutdown.wait() => {}
            }
        });
    }
}

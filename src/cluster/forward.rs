//! Port-forwards to a Service, as `kubectl port-forward svc/x` does: the Service's selector
//! resolved to one Ready pod and its `targetPort` to that pod's port, a listener on a free
//! port of 127.0.0.1, and, for each accepted connection, a new port-forward stream to the pod
//! (WebSocket `v4.channel.k8s.io`, kube-rs `ws`). A stream the pod side drops ends only its
//! own connection; the next request opens a new one.
//!
//! The kubelet reports a failure to reach the pod's port on the stream's error channel
//! (`error forwarding port 8000 to pod …: connection refused`): that text is logged and kept
//! ([`Forward::errors`]) for the diagnosis.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::api::{self, CALL_TIMEOUT};
use super::wait::not_ready_text;
use crate::error::{Error, ErrorKind, Result};

/// How long opening one port-forward stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running port-forward: a local listener whose every connection is forwarded to one pod
/// port. Dropping it closes the listener and every stream.
pub struct Forward {
    local_addr: SocketAddr,
    pod: String,
    pod_port: u16,
    errors: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
}

impl Forward {
    /// The local end: 127.0.0.1 and a free port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The pod the connections go to.
    pub fn pod(&self) -> &str {
        &self.pod
    }

    /// The pod's port they reach (the Service's `targetPort`, resolved).
    pub fn pod_port(&self) -> u16 {
        self.pod_port
    }

    /// What went wrong on the streams so far, oldest first: the kubelet's error-channel text
    /// (`error forwarding port …`) and streams that could not be opened. A connection that
    /// ended with an error has its text here before the local end is closed.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Forward a free local port to `port` of Service `service` in `namespace`.
///
/// Errors ([`ErrorKind::NotFound`]): the Service or the port does not exist, no pod behind
/// it is Ready, or its `targetPort` names a port the pod does not declare.
pub async fn forward_service(
    cluster: &Cluster,
    namespace: &str,
    service: &str,
    port: u16,
) -> Result<Forward> {
    let target = resolve(cluster, namespace, service, port).await?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| Error::environment(format!("cannot listen on 127.0.0.1: {e}")))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| Error::environment(format!("cannot read the listener's address: {e}")))?;
    let stop = cluster.cancel().child_token();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let pods: Api<Pod> = Api::namespaced(cluster.client().clone(), namespace);
    tokio::spawn(accept_loop(
        listener,
        pods,
        target.pod.clone(),
        target.port,
        errors.clone(),
        stop.clone(),
    ));
    tracing::debug!(
        "forwarding {local_addr} to service {namespace}/{service}:{port} (pod {} port {})",
        target.pod,
        target.port
    );
    Ok(Forward {
        local_addr,
        pod: target.pod,
        pod_port: target.port,
        errors,
        stop,
    })
}

/// A pod and its port.
struct Target {
    pod: String,
    port: u16,
}

/// The Service's port `port` as a Ready pod's port.
async fn resolve(cluster: &Cluster, namespace: &str, service: &str, port: u16) -> Result<Target> {
    let not_found = |message: String| Error::new(ErrorKind::NotFound, message);
    let services: Api<Service> = Api::namespaced(cluster.client().clone(), namespace);
    let svc = api::call(
        cluster,
        &format!("get Service/{service}"),
        CALL_TIMEOUT,
        services.get(service),
    )
    .await?
    .map_err(|status| {
        not_found(format!(
            "cannot forward to Service {namespace}/{service}: {}",
            api::refusal_text(&status)
        ))
    })?;
    let spec = svc.spec.unwrap_or_default();
    let ports = spec.ports.unwrap_or_default();
    let Some(service_port) = ports.iter().find(|p| p.port == i32::from(port)) else {
        let have: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
        return Err(not_found(format!(
            "Service {namespace}/{service} has no port {port} (its ports: {})",
            have.join(", ")
        )));
    };
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() {
        return Err(not_found(format!(
            "Service {namespace}/{service} has no selector: there is no pod to forward to"
        )));
    }
    let selector_text = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods: Api<Pod> = Api::namespaced(cluster.client().clone(), namespace);
    let listed = api::call(
        cluster,
        &format!("list the pods of Service/{service}"),
        CALL_TIMEOUT,
        pods.list(&ListParams::default().labels(&selector_text)),
    )
    .await?
    .map_err(|status| not_found(format!("cannot list pods: {}", api::refusal_text(&status))))?;
    let mut candidates: Vec<Pod> = listed
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let Some(pod) = candidates.iter().find(|p| super::wait::is_ready(p)) else {
        let states: Vec<String> = candidates.iter().map(not_ready_text).collect();
        return Err(not_found(format!(
            "no Ready pod behind Service {namespace}/{service} (selector {selector_text}){}",
            if states.is_empty() {
                ": no pod matches".to_string()
            } else {
                format!(": {}", states.join("; "))
            }
        )));
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let port = match &service_port.target_port {
        None => port,
        Some(IntOrString::Int(n)) => u16::try_from(*n)
            .map_err(|_| not_found(format!("Service {namespace}/{service} targets port {n}, which is not a port")))?,
        Some(IntOrString::String(name)) => named_port(pod, name).ok_or_else(|| {
            let declared: Vec<String> = pod
                .spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .flat_map(|c| c.ports.iter().flatten())
                .map(|p| match &p.name {
                    Some(n) => format!("{n}/{}", p.container_port),
                    None => p.container_port.to_string(),
                })
                .collect();
            not_found(format!(
                "Service {namespace}/{service} port {port} targets the port named {name:?}, which pod {pod_name} does not declare (its container ports: {})",
                if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
            ))
            .with_hint(
                "the Service and the pod template disagree on the port's name: name the container port, or make the Service's targetPort a number",
            )
        })?,
    };
    Ok(Target {
        pod: pod_name,
        port,
    })
}

/// The number of the container port named `name`.
fn named_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

async fn accept_loop(
    listener: TcpListener,
    pods: Api<Pod>,
    pod: String,
    port: u16,
    errors: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((connection, _)) => {
                    let _ = connection.set_nodelay(true);
                    tokio::spawn(forward_connection(
                        connection,
                        pods.clone(),
                        pod.clone(),
                        port,
                        errors.clone(),
                        stop.clone(),
                    ));
                }
                Err(e) => {
                    tracing::debug!("port-forward listener: {e}");
                    // Out of file descriptors and the like: give the system a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

fn record(errors: &Mutex<Vec<String>>, text: String) {
    tracing::warn!("port-forward: {text}");
    if let Ok(mut errors) = errors.lock() {
        errors.push(text);
    }
}

/// Copy one local connection to a new port-forward stream and back, until either side ends.
async fn forward_connection(
    mut connection: TcpStream,
    pods: Api<Pod>,
    pod: String,
    port: u16,
    errors: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
) {
    let ports = [port];
    let opened = tokio::select! {
        _ = stop.cancelled() => return,
        opened = tokio::time::timeout(OPEN_TIMEOUT, pods.portforward(&pod, &ports)) => opened,
    };
    let mut forwarder = match opened {
        Ok(Ok(forwarder)) => forwarder,
        Ok(Err(e)) => {
            record(
                &errors,
                format!("cannot open a port-forward to pod {pod} port {port}: {e}"),
            );
            let _ = connection.shutdown().await;
            return;
        }
        Err(_) => {
            record(
                &errors,
                format!(
                    "cannot open a port-forward to pod {pod} port {port}: no answer within {} s",
                    OPEN_TIMEOUT.as_secs()
                ),
            );
            return;
        }
    };
    let (Some(upstream), Some(error)) = (forwarder.take_stream(port), forwarder.take_error(port))
    else {
        forwarder.abort();
        return;
    };
    let mut error = Box::pin(error);
    let mut error_seen = false;
    let (mut local_read, mut local_write) = connection.split();
    let (mut pod_read, mut pod_write) = tokio::io::split(upstream);
    let from_pod = async {
        let copied = tokio::io::copy(&mut pod_read, &mut local_write).await;
        // The kubelet sends its error before closing the stream: when the pod side ends,
        // the text (if any) is already there. Keep it before the local end sees the close.
        if let Some(Some(text)) = error.as_mut().now_or_never() {
            error_seen = true;
            record(&errors, text);
        }
        let _ = local_write.shutdown().await;
        copied
    };
    let to_pod = async {
        let copied = tokio::io::copy(&mut local_read, &mut pod_write).await;
        // v4 streams cannot half-close: this ends the stream once the pod side is done.
        let _ = pod_write.shutdown().await;
        copied
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = futures_util::future::join(from_pod, to_pod) => {}
    }
    if !error_seen && let Some(Some(text)) = error.as_mut().now_or_never() {
        record(&errors, text);
    }
    forwarder.abort();
}

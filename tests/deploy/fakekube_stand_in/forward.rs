//! `cluster::forward`: HTTP through a Forward to the platform stub (a stand-in), one stream per
//! connection, the kubelet's errors, named target ports, closing.

use std::net::SocketAddr;
use std::time::Duration;

use fakekube::{Fault, ForwardTarget, PodMatch, PortForwardRule, Scenario};
use serde_json::json;
use stackctl::cluster::forward::{Forward, forward_service};
use stackctl::cluster::wait::WorkloadState;
use stackctl::error::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{self, Stand, deployment, seed, service, stand_in, wait_for, within};

const NS: &str = "fwd";

/// The Deployment `api` (container port 8000 named `http`) behind the Service `api`
/// (port 8000 to `target`), rolled out.
async fn api_behind_service(stand: &Stand, target: serde_json::Value) {
    let api = deployment("api", NS);
    seed(
        &stand.kube,
        NS,
        &[&api, &service("api", NS, "api", 8000, target)],
    );
    let (results, _) = wait_for(stand, NS, &[&api], support::WAIT).await;
    assert_eq!(results[0].state, WorkloadState::Ready);
}

/// One HTTP/1.1 GET over a new connection; whatever came back before the close.
async fn get(addr: SocketAddr, path: &str) -> String {
    within("http get", async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("the listener accepts");
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: stackctl\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
}

async fn forward(stand: &Stand) -> Forward {
    within("forward", forward_service(&stand.cluster, NS, "api", 8000))
        .await
        .expect("the forward starts")
}

#[tokio::test]
async fn an_http_request_reaches_the_platform_stub() {
    let stand = stand_in(Scenario::ready()).await;
    api_behind_service(&stand, json!("http")).await;
    let forward = forward(&stand).await;
    assert!(
        forward.url().starts_with("http://127.0.0.1:"),
        "{}",
        forward.url()
    );
    assert_eq!(forward.pod_port(), 8000, "the named port resolved");
    assert!(forward.pod().starts_with("api-"), "{}", forward.pod());
    let response = get(forward.local_addr(), "/api/v2/system/version").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"version\":\"4.6.12\""), "{response}");
    assert!(forward.errors().is_empty(), "{:?}", forward.errors());
}

#[tokio::test]
async fn a_stream_closed_mid_request_does_not_break_the_next() {
    // The first port-forward stream is cut after 40 bytes from the pod.
    let stand = stand_in(
        Scenario::ready().with_fault(
            Fault::path(&format!("/api/v1/namespaces/{NS}/pods/"))
                .close_after_bytes(40)
                .times(1),
        ),
    )
    .await;
    api_behind_service(&stand, json!(8000)).await;
    let forward = forward(&stand).await;
    let cut = get(forward.local_addr(), "/api/v2/system/version").await;
    assert!(
        cut.len() <= 40 && !cut.contains("4.6.12"),
        "the first response is cut: {cut:?}"
    );
    let next = get(forward.local_addr(), "/api/v2/system/version").await;
    assert!(
        next.starts_with("HTTP/1.1 200") && next.contains("4.6.12"),
        "{next}"
    );
}

#[tokio::test]
async fn a_refused_target_surfaces_the_kubelet_error() {
    let stand = stand_in(Scenario::ready().with_port_forward(PortForwardRule {
        select: PodMatch::owner("api"),
        port: None,
        target: ForwardTarget::Refused,
    }))
    .await;
    api_behind_service(&stand, json!(8000)).await;
    let forward = forward(&stand).await;
    let response = get(forward.local_addr(), "/").await;
    assert_eq!(response, "", "nothing answers");
    // Kept before the local end was closed: no waiting needed.
    let errors = forward.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("error forwarding port 8000 to pod"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("connection refused"), "{}", errors[0]);
}

#[tokio::test]
async fn a_named_target_port_the_pod_does_not_declare_is_reported() {
    let stand = stand_in(Scenario::ready()).await;
    api_behind_service(&stand, json!("ws")).await;
    let error = within("forward", forward_service(&stand.cluster, NS, "api", 8000))
        .await
        .err()
        .expect("no such port on the pod");
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(
        error.message.contains("targets the port named \"ws\""),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("its container ports: http/8000"),
        "{}",
        error.message
    );
    assert!(error.hint.is_some());
    let error = within("forward", forward_service(&stand.cluster, NS, "api", 9999))
        .await
        .err()
        .expect("no such Service port");
    assert!(
        error.message.contains("has no port 9999 (its ports: 8000)"),
        "{}",
        error.message
    );
}

/// Whether something still listens at `addr`, asked until it stops (at most 2 s).
async fn stops_listening(addr: SocketAddr) -> bool {
    for _ in 0..40 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn dropping_or_cancelling_closes_the_listener() {
    let stand = stand_in(Scenario::ready()).await;
    api_behind_service(&stand, json!(8000)).await;
    let forward = forward(&stand).await;
    let addr = forward.local_addr();
    drop(forward);
    assert!(stops_listening(addr).await, "dropped: {addr} closed");

    let forward = self::forward(&stand).await;
    let addr = forward.local_addr();
    stand.cancel.cancel();
    assert!(stops_listening(addr).await, "cancelled: {addr} closed");
}

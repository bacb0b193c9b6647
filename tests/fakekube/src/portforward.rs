//! Port-forward over WebSocket, `v4.channel.k8s.io`, answered as the kubelet answers kube-rs:
//! for port number i of the request, channel 2i carries data and 2i+1 errors; each channel's
//! first message is `[channel, port_lo, port_hi]`; a target that cannot be reached gets the
//! kubelet's (containerd's) error text on the error channel; when every port's connection has
//! ended the WebSocket is closed. Targets are local addresses the scenario gives (the platform
//! stub by default). `kubectl port-forward` speaks SPDY and is not served.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key, protocol::Role};

use crate::http::{self, Body, Shutdown};
use crate::status::ApiError;

/// The subprotocol the kubelet speaks with kube-rs (kube-rs offers v5 and v4).
pub const PROTOCOL: &str = "v4.channel.k8s.io";

/// Where one requested port goes.
#[derive(Debug, Clone)]
pub struct PortTarget {
    pub port: u16,
    /// None: nothing listens in the pod (connection refused).
    pub address: Option<SocketAddr>,
}

/// The pod a session forwards to, as the kubelet names it in errors.
#[derive(Debug, Clone)]
pub struct PodIdentity {
    /// The sandbox id containerd reports (derived from the pod uid).
    pub sandbox_id: String,
}

impl PodIdentity {
    pub fn from_uid(uid: &str) -> Self {
        let hex: String = uid.chars().filter(|c| *c != '-').collect();
        Self {
            sandbox_id: format!("{hex}{hex}").chars().take(64).collect(),
        }
    }

    /// The kubelet's message when the pod port refuses the connection.
    pub fn refused_message(&self, port: u16) -> String {
        let id = &self.sandbox_id;
        format!(
            "error forwarding port {port} to pod {id}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-{}\": failed to connect to localhost:{port} inside namespace \"{id}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused ",
            &id[..8.min(id.len())]
        )
    }
}

/// The ports of a request: `ports=80,8000` (kube-rs) or repeated `port=80`.
pub fn requested_ports(query: &[(String, String)]) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for (k, v) in query {
        if k != "ports" && k != "port" {
            continue;
        }
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let port: u16 = p.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                ApiError::bad_request(format!("unable to parse \"{p}\" as a port"))
            })?;
            ports.push(port);
        }
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request(
            "query parameter \"port\" is required",
        ));
    }
    Ok(ports)
}

/// Checks the upgrade request and answers 101, then runs the session on the upgraded
/// connection.
pub fn upgrade(
    mut req: Request<Incoming>,
    pod: PodIdentity,
    targets: Vec<PortTarget>,
    close_after_bytes: Option<u64>,
    shutdown: Shutdown,
) -> Response<Body> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if !header("upgrade").eq_ignore_ascii_case("websocket") {
        return http::error(&ApiError::bad_request("Upgrade request required"));
    }
    let offered = header("sec-websocket-protocol");
    if !offered.split(',').any(|p| p.trim() == PROTOCOL) {
        return http::error(&ApiError::bad_request(format!(
            "unable to upgrade connection: requested protocol(s) are not supported: [{offered}]; supports [\"\" \"{PROTOCOL}\" \"v4.base64.channel.k8s.io\"]"
        )));
    }
    let key = header("sec-websocket-key");
    if key.is_empty() {
        return http::error(&ApiError::bad_request("missing Sec-WebSocket-Key"));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            session(ws, pod, targets, close_after_bytes, shutdown).await;
        }
    });
    Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .header("sec-websocket-protocol", PROTOCOL)
        .body(http::empty())
        .expect("valid response")
}

/// What the per-port tasks hand to the session loop, in order.
enum FromPod {
    Data(usize, Vec<u8>),
    Ended(usize),
}

async fn session<S>(
    ws: WebSocketStream<S>,
    pod: PodIdentity,
    targets: Vec<PortTarget>,
    close_after_bytes: Option<u64>,
    shutdown: Shutdown,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut from_client) = ws.split();
    for (i, t) in targets.iter().enumerate() {
        let [lo, hi] = t.port.to_le_bytes();
        for channel in [2 * i as u8, 2 * i as u8 + 1] {
            if sink
                .send(Message::binary(vec![channel, lo, hi]))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    // Connect every port now, as the kubelet does when the stream opens.
    let (pod_tx, mut from_pods) = mpsc::channel::<FromPod>(64);
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::new();
    let mut open_ports = targets.len();
    for (i, t) in targets.iter().enumerate() {
        let connected = match t.address {
            Some(addr) => tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
                .await
                .ok()
                .and_then(Result::ok),
            None => None,
        };
        match connected {
            Some(stream) => {
                let (mut read, write) = stream.into_split();
                writers.push(Some(write));
                let tx = pod_tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if tx.send(FromPod::Data(i, buf[..n].to_vec())).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    let _ = tx.send(FromPod::Ended(i)).await;
                });
            }
            None => {
                writers.push(None);
                let mut frame = vec![2 * i as u8 + 1];
                frame.extend_from_slice(pod.refused_message(t.port).as_bytes());
                if sink.send(Message::binary(frame)).await.is_err() {
                    return;
                }
                open_ports -= 1;
            }
        }
    }
    drop(pod_tx);
    if open_ports == 0 {
        let _ = sink.send(Message::Close(None)).await;
        return;
    }

    let mut forwarded: u64 = 0;
    loop {
        tokio::select! {
            msg = from_client.next() => match msg {
                Some(Ok(Message::Binary(bytes))) if bytes.len() > 1 => {
                    let channel = bytes[0] as usize;
                    if channel.is_multiple_of(2)
                        && let Some(Some(w)) = writers.get_mut(channel / 2)
                        && w.write_all(&bytes[1..]).await.is_err()
                    {
                        writers[channel / 2] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            from_pod = from_pods.recv() => match from_pod {
                Some(FromPod::Data(i, mut data)) => {
                    // A fault: after `close_after_bytes` bytes the stand-in closes the
                    // connection (as the kubelet does when the pod side goes away).
                    let budget = close_after_bytes.map(|limit| limit.saturating_sub(forwarded));
                    if let Some(left) = budget {
                        data.truncate(left.min(data.len() as u64) as usize);
                    }
                    let mut frame = Vec::with_capacity(data.len() + 1);
                    frame.push(2 * i as u8);
                    frame.extend_from_slice(&data);
                    if !data.is_empty() && sink.send(Message::binary(frame)).await.is_err() {
                        return;
                    }
                    forwarded += data.len() as u64;
                    if close_after_bytes.is_some_and(|limit| forwarded >= limit) {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                }
                Some(FromPod::Ended(i)) => {
                    writers[i] = None;
                    open_ports -= 1;
                    if open_ports == 0 {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                }
                None => return,
            },
            () = shutdown.wait() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_as_a_list_or_repeated() {
        let q = vec![("ports".to_string(), "80,8000".to_string())];
        assert_eq!(requested_ports(&q).unwrap(), [80, 8000]);
        let q = vec![
            ("port".to_string(), "80".to_string()),
            ("port".to_string(), "81".to_string()),
        ];
        assert_eq!(requested_ports(&q).unwrap(), [80, 81]);
        assert_eq!(requested_ports(&[]).unwrap_err().code, 400);
        assert_eq!(
            requested_ports(&[("ports".into(), "x".into())])
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn the_refusal_reads_like_the_kubelets() {
        let pod = PodIdentity::from_uid("0f8b6c2e-1d3a-4b5c-9d7e-112233445566");
        let msg = pod.refused_message(8000);
        assert!(
            msg.starts_with("error forwarding port 8000 to pod 0f8b6c2e1d3a4b5c9d7e112233445566"),
            "{msg}"
        );
        assert!(msg.contains("connect: connection refused"));
    }
}

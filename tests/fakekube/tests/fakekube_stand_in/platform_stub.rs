//! The stand-in platform API: the smoke suite's endpoints and JSON paths, credentials, the
//! WebSocket route and per-endpoint faults.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use fakekube::{PlatformStub, StubConfig, StubFault};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// One HTTP/1.1 exchange on a fresh connection: (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    text.push_str("\r\n");
    text.push_str(body.unwrap_or_default());
    stream.write_all(text.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = request(addr, "GET", path, &[], None);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn the_smoke_suite_endpoints_answer_with_their_json_paths() {
    let stub = PlatformStub::start(StubConfig {
        version: "4.6.99".into(),
        ..StubConfig::default()
    })
    .unwrap();
    let addr = stub.addr();
    let (status, body) = request(addr, "GET", "/", &[], None);
    assert_eq!(status, 200);
    assert!(body.contains("<div id=\"root\">"));
    assert_eq!(
        get_json(addr, "/api/v2/system/version").1["data"]["version"],
        "4.6.99"
    );
    let (status, ready) = get_json(addr, "/api/v2/system/ready");
    assert_eq!(status, 200);
    assert_eq!(ready["data"]["components"]["database"], "ok");
    assert_eq!(ready["data"]["components"]["redis"], "ok");
    assert_eq!(
        get_json(addr, "/api/v2/system/ws/ready").1["data"]["status"],
        "healthy"
    );
    assert!(
        get_json(addr, "/api/v1/health/agents").1["metrics"]["total_agents"]
            .as_u64()
            .unwrap()
            > 0
    );
    let diagnostics = get_json(addr, "/api/v2/system/diagnostics").1;
    assert_eq!(
        diagnostics["data"]["dependencies"]["database"]["status"],
        "ok"
    );
    assert_eq!(diagnostics["data"]["dependencies"]["redis"]["status"], "ok");
    assert_eq!(get_json(addr, "/nope").0, 404);
}

#[test]
fn sign_in_hands_out_the_token_me_requires() {
    let stub = PlatformStub::start(StubConfig {
        login: "a@b.c".into(),
        password: "pw".into(),
        ..StubConfig::default()
    })
    .unwrap();
    let addr = stub.addr();
    let good = json!({"login": "a@b.c", "password": "pw"}).to_string();
    let (status, body) = request(addr, "POST", "/api/v2/auth/sign-in", &[], Some(&good));
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    let token = body["data"]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        request(
            addr,
            "GET",
            "/api/v2/auth/me",
            &[("Authorization", &bearer)],
            None
        )
        .0,
        200
    );
    assert_eq!(
        request(addr, "GET", "/api/v2/auth/me", &[], None).0,
        401,
        "no token"
    );
    assert_eq!(
        request(
            addr,
            "GET",
            "/api/v2/auth/me",
            &[("Authorization", "Bearer wrong")],
            None
        )
        .0,
        401
    );
    let bad = json!({"login": "a@b.c", "password": "nope"}).to_string();
    assert_eq!(
        request(addr, "POST", "/api/v2/auth/sign-in", &[], Some(&bad)).0,
        401,
        "wrong password"
    );
    assert_eq!(
        request(addr, "POST", "/api/v2/auth/sign-in", &[], Some("{oops")).0,
        422
    );
}

#[test]
fn faults_fail_then_heal_and_slow_down() {
    let config = StubConfig::default()
        .with_fault(
            StubFault::path("/api/v2/system/ready")
                .status(503)
                .body(r#"{"data":{"components":{"database":"down","redis":"ok"}}}"#)
                .times(2),
        )
        .with_fault(StubFault::path("/api/v2/system/version").latency_ms(200))
        .with_fault(StubFault::path("/").status(502).body("bad gateway"));
    let stub = PlatformStub::start(config).unwrap();
    let addr = stub.addr();
    for _ in 0..2 {
        let (status, body) = get_json(addr, "/api/v2/system/ready");
        assert_eq!(status, 503);
        assert_eq!(body["data"]["components"]["database"], "down");
    }
    assert_eq!(
        get_json(addr, "/api/v2/system/ready").0,
        200,
        "healthy after two failures"
    );
    let begun = Instant::now();
    assert_eq!(get_json(addr, "/api/v2/system/version").0, 200);
    assert!(begun.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        request(addr, "GET", "/", &[], None),
        (502, "bad gateway".to_string())
    );
}

#[tokio::test]
async fn the_websocket_route_echoes() {
    let stub = PlatformStub::start(StubConfig::default()).unwrap();
    let url = format!("ws://{}/api/v2/ws", stub.addr());
    let (mut ws, response) =
        crate::support::within("ws connect", tokio_tungstenite::connect_async(url))
            .await
            .unwrap();
    assert_eq!(response.status(), 101);
    let welcome = crate::support::within("welcome", ws.next())
        .await
        .unwrap()
        .unwrap();
    assert!(welcome.to_text().unwrap().contains("welcome"));
    ws.send(Message::text("ping")).await.unwrap();
    let echo = crate::support::within("echo", ws.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echo.to_text().unwrap(), "ping");
}

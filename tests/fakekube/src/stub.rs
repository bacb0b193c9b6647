//! A stand-in for the platform's HTTP API (not the platform): the endpoints the smoke suite
//! checks, with the JSON paths it reads, a WebSocket echo route, configurable credentials and
//! version, and per-endpoint faults (status, body, latency, failing N times then healthy).
//! Port-forwards of the stand-in cluster reach it by default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key, protocol::Role};

use crate::http::{self, Body, Shutdown};

/// A fault of one stub endpoint.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StubFault {
    /// The exact path, e.g. `/api/v2/system/ready`.
    pub path: String,
    pub method: Option<String>,
    /// Answer with this status instead.
    pub status: Option<u16>,
    /// Answer with this body (JSON or text) instead.
    pub body: Option<String>,
    pub latency_ms: u64,
    /// Fail the first N requests only, then answer normally.
    pub times: Option<u32>,
}

impl StubFault {
    pub fn path(path: &str) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    pub fn status(mut self, code: u16) -> Self {
        self.status = Some(code);
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

/// What the stub serves.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StubConfig {
    /// Whether the stand-in cluster starts the stub (default true).
    pub enabled: bool,
    /// The login `POST /api/v2/auth/sign-in` accepts (values.test.yaml's admin).
    pub login: String,
    pub password: String,
    /// The version `/api/v2/system/version` reports.
    pub version: String,
    /// `metrics.total_agents` of `/api/v1/health/agents`.
    pub total_agents: u64,
    /// Path of the WebSocket echo route.
    pub ws_path: String,
    pub faults: Vec<StubFault>,
}

impl Default for StubConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            login: "admin@ci.example.com".into(),
            password: "change-me-ci-only".into(),
            version: "4.6.12".into(),
            total_agents: 3,
            ws_path: "/api/v2/ws".into(),
            faults: Vec::new(),
        }
    }
}

impl StubConfig {
    pub fn with_fault(mut self, fault: StubFault) -> Self {
        self.faults.push(fault);
        self
    }
}

/// The token `sign-in` hands out and `me` requires.
pub const ACCESS_TOKEN: &str = "fakekube-stub-access-token";

struct StubState {
    config: StubConfig,
    /// How many times each fault has fired.
    fired: Vec<AtomicU32>,
}

/// Serves the stub on `listener` until shutdown.
pub async fn serve(listener: TcpListener, config: StubConfig, shutdown: Shutdown) {
    let fired = config.faults.iter().map(|_| AtomicU32::new(0)).collect();
    let state = Arc::new(StubState { config, fired });
    let shutdown_for_ws = shutdown.clone();
    http::serve(listener, shutdown, move |req| {
        let state = state.clone();
        let shutdown = shutdown_for_ws.clone();
        async move { handle(&state, req, shutdown).await }
    })
    .await;
}

async fn handle(state: &StubState, req: Request<Incoming>, shutdown: Shutdown) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().as_str().to_string();
    for (fault, fired) in state.config.faults.iter().zip(&state.fired) {
        if fault.path != path
            || fault
                .method
                .as_ref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(&method))
        {
            continue;
        }
        if let Some(n) = fault.times
            && fired.fetch_add(1, Ordering::SeqCst) >= n
        {
            continue;
        }
        if fault.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
        }
        if fault.status.is_some() || fault.body.is_some() {
            let code = fault.status.unwrap_or(200);
            let body = fault
                .body
                .clone()
                .unwrap_or_else(|| json!({"detail": "injected fault"}).to_string());
            let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            return Response::builder()
                .status(code)
                .header("content-type", content_type)
                .body(http::full(body))
                .expect("valid response");
        }
    }

    let cfg = &state.config;
    match (method.as_str(), path.as_str()) {
        ("GET", p) if p == cfg.ws_path => websocket(req, shutdown),
        ("GET", "/") => Response::builder()
            .header("content-type", "text/html; charset=utf-8")
            .body(http::full(
                "<!doctype html><html><head><title>JetScale (fakekube stand-in)</title></head><body><div id=\"root\"></div></body></html>\n",
            ))
            .expect("valid response"),
        ("GET", "/api/v2/system/version") => http::json(
            200,
            &json!({"data": {"version": cfg.version, "git_sha": "0000000", "environment": "fakekube"}}),
        ),
        ("GET", "/api/v2/system/live" | "/api/v2/system/ws/live") => {
            http::json(200, &json!({"data": {"status": "alive"}}))
        }
        ("GET", "/api/v2/system/ready") => http::json(
            200,
            &json!({"data": {"status": "ready", "components": {"database": "ok", "redis": "ok"}}}),
        ),
        ("GET", "/api/v2/system/ws/ready") => http::json(200, &json!({"data": {"status": "healthy"}})),
        ("GET", "/api/v2/system/diagnostics") => http::json(
            200,
            &json!({"data": {"dependencies": {
                "database": {"status": "ok"},
                "redis": {"status": "ok"},
                "aws_sts": {"status": "skipped"},
                "anthropic_api": {"status": "skipped"},
            }}}),
        ),
        ("GET", "/api/v1/health/agents") => http::json(
            200,
            &json!({"status": "healthy", "metrics": {"total_agents": cfg.total_agents, "active_agents": cfg.total_agents}}),
        ),
        ("POST", "/api/v2/auth/sign-in") => sign_in(cfg, req).await,
        ("GET", "/api/v2/auth/me") => {
            let bearer = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if bearer == Some(ACCESS_TOKEN) {
                http::json(200, &json!({"data": {"email": cfg.login, "is_active": true}}))
            } else {
                http::json(401, &json!({"detail": "Not authenticated"}))
            }
        }
        _ => http::json(404, &json!({"detail": "Not Found"})),
    }
}

async fn sign_in(cfg: &StubConfig, req: Request<Incoming>) -> Response<Body> {
    let body = match http::read_body(req.into_body()).await {
        Ok(b) => b,
        Err(_) => return http::json(400, &json!({"detail": "unreadable body"})),
    };
    let Ok(form) = serde_json::from_slice::<Value>(&body) else {
        return http::json(422, &json!({"detail": "body must be JSON"}));
    };
    let (Some(login), Some(password)) = (form["login"].as_str(), form["password"].as_str()) else {
        return http::json(422, &json!({"detail": "login and password are required"}));
    };
    if login == cfg.login && password == cfg.password {
        http::json(
            200,
            &json!({"data": {"tokens": {"access_token": ACCESS_TOKEN, "token_type": "bearer", "refresh_token": "fakekube-stub-refresh-token"}}}),
        )
    } else {
        http::json(401, &json!({"detail": "Invalid credentials"}))
    }
}

/// A WebSocket echo: a welcome message, then every text or binary message sent back.
fn websocket(mut req: Request<Incoming>, shutdown: Shutdown) -> Response<Body> {
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return http::json(400, &json!({"detail": "WebSocket upgrade required"}));
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        if ws
            .send(Message::text(
                json!({"type": "welcome", "server": "fakekube stub"}).to_string(),
            ))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let next = tokio::select! {
                next = ws.next() => next,
                () = shutdown.wait() => return,
            };
            match next {
                Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => {
                    if ws.send(msg).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    });
    Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", key)
        .body(http::empty())
        .expect("valid response")
}

/// Binds a free loopback port.
pub async fn bind_loopback() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

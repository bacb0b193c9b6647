//! The smoke suite, built in: the checks that say a deployed platform works, run against its
//! HTTP API (a port-forward, the dev loop, or a public host).
//!
//! It is the original Go suite (`tests/e2e`) and what it missed: `ready` must reach 200
//! within a settle window (503 is not a pass), a wrong password and `/me` without a token
//! must get 401, the version endpoint must report the deployed tag, the frontend must serve
//! `/`; for a live host, the certificate must be valid for it for 14 more days and plain HTTP
//! must redirect to HTTPS.
//!
//! Only reachability is retried, never an assertion: a request that gets no answer (no
//! connection, a timeout, a gateway's 502 or 504) is tried again within a budget, `/` and
//! `ready` until the settle window ends; an answer that is wrong fails its check at once.
//!
//! Each check becomes a [`Check`] named `smoke/<name>`. Nothing here prints; messages and
//! bodies are masked and redacted before they are kept, so no password or token reaches a
//! report.

use std::future::Future;
use std::time::{Duration, Instant};

pub use reqwest::Url;
use serde_json::{Value, json};

use crate::checks::{Check, Outcome};
use crate::process::Cancel;
use crate::redact::{is_secret_name, redact, register};

mod http;
#[cfg(test)]
mod tests;
mod tls;

use http::{Answer, Http, NoAnswer, Request, Retried};

pub const REACHABLE: &str = "smoke/reachable";
pub const VERSION: &str = "smoke/version";
pub const READY: &str = "smoke/ready";
pub const DATABASE: &str = "smoke/database";
pub const REDIS: &str = "smoke/redis";
pub const WEBSOCKET_READY: &str = "smoke/websocket-ready";
pub const SIGN_IN: &str = "smoke/sign-in";
pub const ME: &str = "smoke/me";
pub const WRONG_PASSWORD: &str = "smoke/wrong-password";
pub const ME_WITHOUT_TOKEN: &str = "smoke/me-without-token";
pub const AGENTS: &str = "smoke/agents";
pub const DIAGNOSTICS: &str = "smoke/diagnostics";
pub const FRONTEND: &str = "smoke/frontend";
pub const TLS_CERTIFICATE: &str = "smoke/tls-certificate";
pub const HTTPS_REDIRECT: &str = "smoke/https-redirect";
/// Only when the suite cannot start (trusted certificates that are not PEM).
pub const SETUP: &str = "smoke/setup";

/// Every check of a run, in the order it reports them.
pub const CHECKS: &[&str] = &[
    REACHABLE,
    VERSION,
    READY,
    DATABASE,
    REDIS,
    WEBSOCKET_READY,
    SIGN_IN,
    ME,
    WRONG_PASSWORD,
    ME_WITHOUT_TOKEN,
    AGENTS,
    DIAGNOSTICS,
    FRONTEND,
];

/// The checks a run adds, after [`CHECKS`], when it has [`LiveChecks`].
pub const LIVE_CHECKS: &[&str] = &[TLS_CERTIFICATE, HTTPS_REDIRECT];

const PATH_VERSION: &str = "/api/v2/system/version";
const PATH_READY: &str = "/api/v2/system/ready";
const PATH_WS_READY: &str = "/api/v2/system/ws/ready";
const PATH_SIGN_IN: &str = "/api/v2/auth/sign-in";
const PATH_ME: &str = "/api/v2/auth/me";
const PATH_AGENTS: &str = "/api/v1/health/agents";
const PATH_DIAGNOSTICS: &str = "/api/v2/system/diagnostics";

/// The password the wrong-password check signs in with: not derived from the real one, so
/// that no part of the real one ever travels twice.
const A_WRONG_PASSWORD: &str = "stackctl-smoke-wrong-password";

/// Who the suite signs in as. The password is never shown (`Debug` hides it) and is
/// registered for redaction when a run starts.
#[derive(Clone)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// What `test live` checks beyond the suite.
#[derive(Debug, Clone)]
pub struct LiveChecks {
    /// Where plain HTTP is served, to check that it redirects to HTTPS. `None`:
    /// `http://<host of the API>/`.
    pub http: Option<Url>,
    /// How long the certificate must stay valid (14 days).
    pub min_validity: Duration,
    /// PEM certificates trusted besides the system's roots (a private authority), for the
    /// certificate check and every request of the run.
    pub extra_roots_pem: Option<String>,
}

impl Default for LiveChecks {
    fn default() -> Self {
        LiveChecks {
            http: None,
            min_validity: Duration::from_secs(14 * 24 * 3600),
            extra_roots_pem: None,
        }
    }
}

/// What the suite runs against.
#[derive(Debug, Clone)]
pub struct SmokeTarget {
    /// Base URL of the backend API (a port-forward, the dev loop, or `https://host`).
    pub api: Url,
    /// Base URL of the WebSocket server (Kind: its own forward); `None`: `api`.
    pub websocket: Option<Url>,
    /// Base URL of the frontend; `None`: the frontend check is skipped, saying why.
    pub frontend: Option<Url>,
    pub credentials: Credentials,
    /// The deployed image tag the version endpoint must report; `None`: only shown.
    pub expected_version: Option<String>,
    /// How long the platform may take, from the start of the run, to answer `/` and to
    /// answer `ready` with 200.
    pub settle: Duration,
    /// `test live`: the certificate and redirect checks.
    pub live: Option<LiveChecks>,
    /// How long one request may take (10 s, as the Go suite's client).
    pub request_timeout: Duration,
}

impl SmokeTarget {
    /// A target with a settle window of 60 s, requests of 10 s, and nothing optional.
    pub fn new(api: Url, credentials: Credentials) -> SmokeTarget {
        SmokeTarget {
            api,
            websocket: None,
            frontend: None,
            credentials,
            expected_version: None,
            settle: Duration::from_secs(60),
            live: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Run the suite against `target`: one [`Check`] per name of [`CHECKS`] (then
/// [`LIVE_CHECKS`] when `target.live` is set), in that order. When `cancel` fires, the check
/// under way and those after it are skipped as interrupted, at once.
pub async fn run(target: &SmokeTarget, cancel: &Cancel) -> Vec<Check> {
    register(&target.credentials.password);
    match Suite::new(target, cancel) {
        Ok(suite) => suite.run().await,
        Err(why) => vec![Verdict::Fail(why, None).check(SETUP, Duration::ZERO)],
    }
}

/// How a check ended, before it is named and timed.
enum Verdict {
    Pass(Option<String>),
    /// What is wrong, and the answer's body that shows it.
    Fail(String, Option<String>),
    Skip(String),
}

impl Verdict {
    fn pass(message: impl Into<String>) -> Verdict {
        Verdict::Pass(Some(message.into()))
    }

    fn fail(message: impl Into<String>) -> Verdict {
        Verdict::Fail(message.into(), None)
    }

    fn fail_with(message: impl Into<String>, answer: &Answer) -> Verdict {
        Verdict::Fail(message.into(), Some(answer.body.clone()))
    }

    /// The check, its message on one line; message and body masked and redacted.
    fn check(self, name: &str, elapsed: Duration) -> Check {
        let ms = elapsed.as_millis().try_into().unwrap_or(u64::MAX);
        match self {
            Verdict::Pass(None) => Check::passed(name, ms),
            Verdict::Pass(Some(message)) => Check::passed(name, ms).with_message(shown(&message)),
            Verdict::Fail(message, body) => {
                let check = Check::failed(name, ms, shown(&message));
                match body {
                    Some(body) if !body.trim().is_empty() => {
                        check.with_body(&redact(&mask_secrets(&body)))
                    }
                    _ => check,
                }
            }
            Verdict::Skip(why) => Check::skipped(name, shown(&why)),
        }
    }
}

/// A message as a report shows it: one line, redacted.
fn shown(message: &str) -> String {
    let line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    redact(&line).into_owned()
}

/// A JSON body with the values of secret-looking keys (`access_token`, `password`) replaced;
/// any other body as it is. A failed sign-in can still carry tokens the suite does not know
/// to redact.
fn mask_secrets(body: &str) -> String {
    fn mask(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if is_secret_name(key) && value.is_string() {
                        *value = Value::String("[REDACTED]".into());
                    } else {
                        mask(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(mask),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(body) {
        Ok(mut value) => {
            mask(&mut value);
            value.to_string()
        }
        Err(_) => body.to_string(),
    }
}

/// `path` under `base` (which may have a path of its own).
fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A pause between tries. Cancellation drops it with the check that waits.
async fn pause(duration: Duration) {
    tokio::time::sleep(duration).await;
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

struct Suite<'a> {
    target: &'a SmokeTarget,
    cancel: &'a Cancel,
    /// Follows redirects (up to 5), as a browser would.
    http: Http,
    /// Follows none: the redirect check reads the redirect itself.
    no_redirect: Http,
    /// The end of the settle window.
    deadline: Instant,
}

impl<'a> Suite<'a> {
    fn new(target: &'a SmokeTarget, cancel: &'a Cancel) -> Result<Suite<'a>, String> {
        Ok(Suite {
            target,
            cancel,
            http: Http::new(client(target, true)?, target.request_timeout),
            no_redirect: Http::new(client(target, false)?, target.request_timeout),
            deadline: Instant::now() + target.settle,
        })
    }

    async fn run(&self) -> Vec<Check> {
        let api = &self.target.api;
        let websocket = self.target.websocket.as_ref().unwrap_or(api);
        let mut checks = vec![self.timed(REACHABLE, self.reachable()).await];
        if checks[0].outcome == Outcome::Failed {
            // Checks of an API that never answered would each fail with the same "no
            // answer": they are skipped, naming the one failure that explains them. Those on
            // a server of their own still run.
            for &name in &CHECKS[1..] {
                checks.push(match name {
                    WEBSOCKET_READY if websocket != api => {
                        self.timed(name, self.websocket_ready()).await
                    }
                    FRONTEND => self.timed(name, self.frontend()).await,
                    _ => Verdict::Skip(format!(
                        "needs the API at {api}, which did not answer ({REACHABLE})"
                    ))
                    .check(name, Duration::ZERO),
                });
            }
        } else {
            checks.push(self.timed(VERSION, self.version()).await);
            checks.extend(self.ready().await);
            checks.push(self.timed(WEBSOCKET_READY, self.websocket_ready()).await);
            checks.extend(self.sign_in_and_me().await);
            checks.push(self.timed(WRONG_PASSWORD, self.wrong_password()).await);
            checks.push(self.timed(ME_WITHOUT_TOKEN, self.me_without_token()).await);
            checks.push(self.timed(AGENTS, self.agents()).await);
            checks.push(self.timed(DIAGNOSTICS, self.diagnostics()).await);
            checks.push(self.timed(FRONTEND, self.frontend()).await);
        }
        if let Some(live) = &self.target.live {
            checks.push(self.timed(TLS_CERTIFICATE, self.certificate(live)).await);
            checks.push(self.timed(HTTPS_REDIRECT, self.redirect(live)).await);
        }
        checks
    }

    /// `future`'s result, or `None` as soon as the run is cancelled.
    async fn interruptible<T>(&self, future: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
            result = future => Some(result),
        }
    }

    /// The check `name` ends as `future` says, timed; skipped when the run is cancelled.
    async fn timed(&self, name: &str, future: impl Future<Output = Verdict>) -> Check {
        let started = Instant::now();
        match self.interruptible(future).await {
            Some(verdict) => verdict.check(name, started.elapsed()),
            None => interrupted(name),
        }
    }

    /// The answer to `request`, retried while none comes; a failed verdict when none came.
    async fn fetch(&self, request: Request) -> Result<Answer, Verdict> {
        self.http
            .send(&request)
            .await
            .map_err(|no_answer| self.no_answer(&request, &no_answer))
    }

    /// `GET path` under `base`, which must answer 200; a failed verdict otherwise.
    async fn get_ok(&self, base: &Url, path: &str) -> Result<Answer, Verdict> {
        let answer = self.fetch(Request::get(endpoint(base, path))).await?;
        if answer.status != 200 {
            return Err(Verdict::fail_with(
                format!("GET {path}: HTTP {}, expected 200", answer.status),
                &answer,
            ));
        }
        Ok(answer)
    }

    fn no_answer(&self, request: &Request, no_answer: &NoAnswer) -> Verdict {
        let message = format!(
            "{} {}: no answer: {}",
            request.method,
            request.url.path(),
            no_answer.describe()
        );
        match no_answer {
            NoAnswer::Gateway(answer) => Verdict::fail_with(message, answer),
            NoAnswer::Transport(_) => Verdict::fail(message),
        }
    }

    /// Go's first check: `/` answers below 500, retried until the settle window ends.
    async fn reachable(&self) -> Verdict {
        let request = Request::get(endpoint(&self.target.api, "/"));
        let tried = self
            .http
            .until(&request, self.deadline, |answer| answer.status < 500)
            .await;
        match &tried.result {
            Ok(answer) if tried.settled => {
                Verdict::pass(format!("HTTP {}{}", answer.status, tried.tries()))
            }
            Ok(answer) => Verdict::fail_with(
                format!(
                    "{} answered HTTP {} for {} ({} attempts)",
                    request.url,
                    answer.status,
                    seconds(tried.elapsed),
                    tried.attempts
                ),
                answer,
            ),
            Err(no_answer) => {
                let message = format!(
                    "{} did not answer within {} ({} attempts): {}",
                    request.url,
                    seconds(self.target.settle),
                    tried.attempts,
                    no_answer.describe()
                );
                match no_answer {
                    NoAnswer::Gateway(answer) => Verdict::fail_with(message, answer),
                    NoAnswer::Transport(_) => Verdict::fail(message),
                }
            }
        }
    }

    /// The version the API reports; it must be the deployed tag when one is expected.
    async fn version(&self) -> Verdict {
        let answer = match self.get_ok(&self.target.api, PATH_VERSION).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        let Some(reported) = answer.str_at("/data/version") else {
            return Verdict::fail_with(
                format!("data.version is {}", answer.shown_at("/data/version")),
                &answer,
            );
        };
        let sha = answer
            .str_at("/data/git_sha")
            .map(|sha| format!(" (git {sha})"))
            .unwrap_or_default();
        match &self.target.expected_version {
            Some(expected) if !same_version(reported, expected) => Verdict::fail_with(
                format!("reports version {reported}, but {expected} is deployed"),
                &answer,
            ),
            _ => Verdict::pass(format!("{reported}{sha}")),
        }
    }

    /// `ready` must answer 200 within the settle window (503 means "not yet" and is waited
    /// past; any other status fails at once). Its last answer also says whether the database
    /// and Redis are reachable: three checks from one endpoint, as in the Go suite.
    async fn ready(&self) -> [Check; 3] {
        let started = Instant::now();
        let request = Request::get(endpoint(&self.target.api, PATH_READY));
        let tried = self
            .interruptible(
                self.http
                    .until(&request, self.deadline, |answer| answer.status != 503),
            )
            .await;
        let Some(tried) = tried else {
            return [READY, DATABASE, REDIS].map(interrupted);
        };
        let ready = match &tried.result {
            Ok(answer) if answer.status == 200 => {
                Verdict::pass(format!("HTTP 200{}", tried.tries()))
            }
            Ok(answer) if tried.settled => Verdict::fail_with(
                format!("GET {PATH_READY}: HTTP {}, expected 200", answer.status),
                answer,
            ),
            Ok(answer) => Verdict::fail_with(
                format!(
                    "still HTTP {} after {} ({} attempts): ready must answer 200 within the \
                     settle window ({})",
                    answer.status,
                    seconds(tried.elapsed),
                    tried.attempts,
                    seconds(self.target.settle)
                ),
                answer,
            ),
            Err(no_answer) => self.no_answer(&request, no_answer),
        };
        [
            ready.check(READY, started.elapsed()),
            component(&tried, "database").check(DATABASE, Duration::ZERO),
            component(&tried, "redis").check(REDIS, Duration::ZERO),
        ]
    }

    /// The WebSocket server's readiness endpoint (plain HTTP), on its own base URL.
    async fn websocket_ready(&self) -> Verdict {
        let base = self.target.websocket.as_ref().unwrap_or(&self.target.api);
        let answer = match self.get_ok(base, PATH_WS_READY).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        match answer.str_at("/data/status") {
            Some("healthy") => Verdict::pass("healthy"),
            _ => Verdict::fail_with(
                format!(
                    "data.status is {}, expected \"healthy\"",
                    answer.shown_at("/data/status")
                ),
                &answer,
            ),
        }
    }

    /// Sign in, then `/me` with the token: two checks; `/me` is skipped without a token.
    async fn sign_in_and_me(&self) -> [Check; 2] {
        let started = Instant::now();
        let Some((verdict, token)) = self.interruptible(self.sign_in()).await else {
            return [SIGN_IN, ME].map(interrupted);
        };
        let sign_in = verdict.check(SIGN_IN, started.elapsed());
        let me = match token {
            Some(token) => self.timed(ME, self.me(&token)).await,
            None => Verdict::Skip(format!("needs a token, and {SIGN_IN} failed"))
                .check(ME, Duration::ZERO),
        };
        [sign_in, me]
    }

    async fn sign_in(&self) -> (Verdict, Option<String>) {
        let credentials = &self.target.credentials;
        let answer = match self
            .fetch(self.sign_in_request(&credentials.password))
            .await
        {
            Ok(answer) => answer,
            Err(failed) => return (failed, None),
        };
        if answer.status != 200 {
            return (
                Verdict::fail_with(
                    format!(
                        "POST {PATH_SIGN_IN} as {}: HTTP {}, expected 200",
                        credentials.email, answer.status
                    ),
                    &answer,
                ),
                None,
            );
        }
        // Whatever tokens came are secrets from now on, wherever they would be shown.
        for pointer in ["/data/tokens/access_token", "/data/tokens/refresh_token"] {
            if let Some(token) = answer.str_at(pointer) {
                register(token);
            }
        }
        match answer.str_at("/data/tokens/access_token") {
            Some(token) if !token.is_empty() => (
                Verdict::pass(format!("signed in as {}", credentials.email)),
                Some(token.to_string()),
            ),
            _ => (
                Verdict::fail_with(
                    format!(
                        "data.tokens.access_token is {}",
                        answer.shown_at("/data/tokens/access_token")
                    ),
                    &answer,
                ),
                None,
            ),
        }
    }

    fn sign_in_request(&self, password: &str) -> Request {
        Request::post(
            endpoint(&self.target.api, PATH_SIGN_IN),
            json!({"login": self.target.credentials.email, "password": password}),
        )
    }

    async fn me(&self, token: &str) -> Verdict {
        let request = Request::get(endpoint(&self.target.api, PATH_ME)).bearer(token);
        match self.fetch(request).await {
            Ok(answer) if answer.status == 200 => Verdict::Pass(None),
            Ok(answer) => Verdict::fail_with(
                format!(
                    "GET {PATH_ME} with the token: HTTP {}, expected 200",
                    answer.status
                ),
                &answer,
            ),
            Err(failed) => failed,
        }
    }

    async fn wrong_password(&self) -> Verdict {
        let wrong = if self.target.credentials.password == A_WRONG_PASSWORD {
            format!("{A_WRONG_PASSWORD}-2")
        } else {
            A_WRONG_PASSWORD.to_string()
        };
        match self.fetch(self.sign_in_request(&wrong)).await {
            Ok(answer) if answer.status == 401 => Verdict::pass("HTTP 401"),
            Ok(answer) => Verdict::fail_with(
                format!("a wrong password got HTTP {}, expected 401", answer.status),
                &answer,
            ),
            Err(failed) => failed,
        }
    }

    async fn me_without_token(&self) -> Verdict {
        match self
            .fetch(Request::get(endpoint(&self.target.api, PATH_ME)))
            .await
        {
            Ok(answer) if answer.status == 401 => Verdict::pass("HTTP 401"),
            Ok(answer) => Verdict::fail_with(
                format!(
                    "GET {PATH_ME} without a token: HTTP {}, expected 401",
                    answer.status
                ),
                &answer,
            ),
            Err(failed) => failed,
        }
    }

    /// The agent manager's health: 200; how many agents it has is only shown.
    async fn agents(&self) -> Verdict {
        let answer = match self.get_ok(&self.target.api, PATH_AGENTS).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        let total = answer
            .json
            .as_ref()
            .and_then(|j| j.pointer("/metrics/total_agents"))
            .and_then(Value::as_u64);
        Verdict::pass(match total {
            Some(0) => "total_agents: 0 (no agent registered)".to_string(),
            Some(n) => format!("total_agents: {n}"),
            None => "metrics.total_agents is missing".to_string(),
        })
    }

    /// The dependency report: 200 or 503, with the database and Redis `ok`; the other
    /// dependencies (AWS STS, the model API) are only shown.
    async fn diagnostics(&self) -> Verdict {
        let answer = match self
            .fetch(Request::get(endpoint(&self.target.api, PATH_DIAGNOSTICS)))
            .await
        {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        if answer.status != 200 && answer.status != 503 {
            return Verdict::fail_with(
                format!(
                    "GET {PATH_DIAGNOSTICS}: HTTP {}, expected 200 or 503",
                    answer.status
                ),
                &answer,
            );
        }
        let wrong: Vec<String> = ["database", "redis"]
            .into_iter()
            .filter_map(|name| {
                let pointer = format!("/data/dependencies/{name}/status");
                (answer.str_at(&pointer) != Some("ok")).then(|| {
                    format!(
                        "data.dependencies.{name}.status is {}",
                        answer.shown_at(&pointer)
                    )
                })
            })
            .collect();
        if !wrong.is_empty() {
            return Verdict::fail_with(
                format!("{} (HTTP {})", wrong.join("; "), answer.status),
                &answer,
            );
        }
        let statuses: Vec<String> = answer
            .json
            .as_ref()
            .and_then(|j| j.pointer("/data/dependencies"))
            .and_then(Value::as_object)
            .map(|deps| {
                deps.iter()
                    .map(|(name, dep)| {
                        let status = dep.get("status").and_then(Value::as_str);
                        format!("{name} {}", status.unwrap_or("?"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Verdict::pass(statuses.join(", "))
    }

    /// The frontend serves an HTML page at `/`.
    async fn frontend(&self) -> Verdict {
        let Some(base) = &self.target.frontend else {
            return Verdict::Skip("no frontend URL was given".to_string());
        };
        let answer = match self.fetch(Request::get(endpoint(base, "/"))).await {
            Ok(answer) => answer,
            Err(failed) => return failed,
        };
        let content_type = answer.content_type.clone().unwrap_or_default();
        if answer.status != 200 {
            Verdict::fail_with(
                format!("GET {base}: HTTP {}, expected 200", answer.status),
                &answer,
            )
        } else if !content_type.contains("text/html") {
            Verdict::fail_with(
                format!(
                    "GET {base}: not an HTML page (content-type {})",
                    if content_type.is_empty() {
                        "missing"
                    } else {
                        &content_type
                    }
                ),
                &answer,
            )
        } else {
            Verdict::pass(format!("HTML, {} bytes", answer.body.len()))
        }
    }

    /// The certificate the API's host presents: trusted, for the host, and valid for
    /// `live.min_validity` more.
    async fn certificate(&self, live: &LiveChecks) -> Verdict {
        let api = &self.target.api;
        let (Some(host), Some(port)) = (api.host_str(), api.port_or_known_default()) else {
            return Verdict::fail(format!("{api} names no host"));
        };
        if api.scheme() != "https" {
            return Verdict::fail(format!("{api} is not served over HTTPS"));
        }
        // `host_str` keeps an IPv6 address's brackets; a server name has none.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let days = live.min_validity.as_secs() / 86_400;
        let roots = match tls::roots(live.extra_roots_pem.as_deref()) {
            Ok(roots) => roots,
            Err(why) => return Verdict::fail(why),
        };
        let mut attempt = 1;
        let found = loop {
            let found = tls::inspect(
                host,
                port,
                roots.clone(),
                live.min_validity,
                self.target.request_timeout,
            )
            .await;
            // A handshake that could not be made is reachability, retried like a request.
            match found {
                Err(_) if attempt < 3 => {
                    pause(Duration::from_millis(200) * attempt).await;
                    attempt += 1;
                }
                found => break found,
            }
        };
        match found {
            Err(why) => Verdict::fail(why),
            Ok(tls::Certificate::Valid) => {
                Verdict::pass(format!("valid for {host} for more than {days} days"))
            }
            Ok(tls::Certificate::Invalid(e)) => Verdict::fail(tls::explain(&e, host)),
            Ok(tls::Certificate::Expiring { not_after }) => {
                let left = not_after.as_secs().saturating_sub(now_secs()) / 86_400;
                Verdict::fail(format!(
                    "the certificate for {host} expires on {} (in {left} days); it must stay \
                     valid for more than {days} days",
                    tls::date(not_after)
                ))
            }
        }
    }

    /// Plain HTTP on the host redirects to HTTPS on the same host.
    async fn redirect(&self, live: &LiveChecks) -> Verdict {
        let api = &self.target.api;
        let Some(host) = api.host_str() else {
            return Verdict::fail(format!("{api} names no host"));
        };
        let plain = match &live.http {
            Some(url) => url.clone(),
            None => match Url::parse(&format!("http://{host}/")) {
                Ok(url) => url,
                Err(e) => return Verdict::fail(format!("no plain HTTP URL for {host}: {e}")),
            },
        };
        let request = Request::get(plain.clone());
        let answer = match self.no_redirect.send(&request).await {
            Ok(answer) => answer,
            Err(no_answer) => return self.no_answer(&request, &no_answer),
        };
        if !matches!(answer.status, 301 | 302 | 303 | 307 | 308) {
            return Verdict::fail_with(
                format!(
                    "{plain} answered HTTP {} instead of redirecting to HTTPS",
                    answer.status
                ),
                &answer,
            );
        }
        let target = answer.location.as_deref().and_then(|l| plain.join(l).ok());
        match target {
            Some(to) if to.scheme() == "https" && to.host_str() == Some(host) => {
                Verdict::pass(format!("{plain} → {} {to}", answer.status))
            }
            Some(to) => Verdict::fail(format!("{plain} redirects to {to}, not to https://{host}")),
            None => Verdict::fail(format!(
                "{plain} answered HTTP {} without a usable Location",
                answer.status
            )),
        }
    }
}

/// Database or Redis, from the last answer of `ready` (the Go suite accepted 200 or 503).
fn component(tried: &Retried, name: &str) -> Verdict {
    let pointer = format!("/data/components/{name}");
    match &tried.result {
        Ok(answer) if answer.status == 200 || answer.status == 503 => {
            match answer.str_at(&pointer) {
                Some("ok") => Verdict::pass("ok"),
                _ => Verdict::fail_with(
                    format!(
                        "data.components.{name} is {} (HTTP {})",
                        answer.shown_at(&pointer),
                        answer.status
                    ),
                    answer,
                ),
            }
        }
        Ok(answer) => Verdict::Skip(format!(
            "needs {PATH_READY} to answer 200 or 503; it answered HTTP {}",
            answer.status
        )),
        Err(_) => Verdict::Skip(format!("needs an answer of {PATH_READY}; none came")),
    }
}

fn interrupted(name: &str) -> Check {
    Check::skipped(name, "the run was interrupted")
}

/// Tags and versions are compared without a leading `v` (`v4.6.12` is `4.6.12`).
fn same_version(reported: &str, expected: &str) -> bool {
    let bare = |v: &str| v.trim().trim_start_matches('v').to_string();
    bare(reported) == bare(expected)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The suite's HTTP client: the request timeout, no proxy for a loopback API (a port-forward
/// or the dev loop), and the extra trusted certificates of a live run.
fn client(target: &SmokeTarget, follow_redirects: bool) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(target.request_timeout)
        .connect_timeout(target.request_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION"), " smoke"))
        .redirect(if follow_redirects {
            reqwest::redirect::Policy::limited(5)
        } else {
            reqwest::redirect::Policy::none()
        });
    if is_loopback(&target.api) {
        builder = builder.no_proxy();
    }
    if let Some(live) = &target.live {
        let mut certificates = Vec::new();
        for der in tls::extra_certificates(live.extra_roots_pem.as_deref())? {
            certificates.push(
                reqwest::Certificate::from_der(&der)
                    .map_err(|e| format!("a trusted certificate cannot be used: {e}"))?,
            );
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

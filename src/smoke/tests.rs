//! The suite against fakekube's platform stub, a stand-in for the platform's HTTP API (not
//! the platform), with faults injected per endpoint; the live checks against local HTTPS and
//! HTTP stand-ins with self-signed certificates made here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakekube::{PlatformStub, StubConfig, StubFault};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::checks::Outcome;

/// The stub's credentials in these tests: their own, so that registering them for redaction
/// (every run does) changes no other test's output.
const LOGIN: &str = "smoke-tests@stub.example";
const PASSWORD: &str = "stub-password-for-smoke-tests";

fn config() -> StubConfig {
    StubConfig {
        login: LOGIN.into(),
        password: PASSWORD.into(),
        ..StubConfig::default()
    }
}

fn stub(config: StubConfig) -> PlatformStub {
    PlatformStub::start(config).expect("the platform stub (stand-in) starts")
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// The suite against `stub` for the API, WebSocket server and frontend: the deployed
/// version the stub reports, a short settle window and short requests.
fn target(stub: &PlatformStub) -> SmokeTarget {
    SmokeTarget {
        frontend: Some(url(&stub.url())),
        expected_version: Some("4.6.12".into()),
        settle: Duration::from_secs(3),
        request_timeout: Duration::from_secs(2),
        ..SmokeTarget::new(
            url(&stub.url()),
            Credentials {
                email: LOGIN.into(),
                password: PASSWORD.into(),
            },
        )
    }
}

async fn run_against(target: &SmokeTarget) -> Vec<Check> {
    run(target, &Cancel::new()).await
}

fn names(checks: &[Check]) -> Vec<&str> {
    checks.iter().map(|c| c.name.as_str()).collect()
}

fn with(checks: &[Check], outcome: Outcome) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| c.outcome == outcome)
        .map(|c| c.name.as_str())
        .collect()
}

fn get<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} in {checks:#?}"))
}

#[tokio::test]
async fn the_happy_path_passes_every_check_in_order() {
    let stub = stub(config());
    let checks = run_against(&target(&stub)).await;
    assert_eq!(names(&checks), CHECKS, "{checks:#?}");
    assert_eq!(with(&checks, Outcome::Passed), CHECKS, "{checks:#?}");
    assert_eq!(
        get(&checks, VERSION).message.as_deref(),
        Some("4.6.12 (git 0000000)")
    );
    assert_eq!(get(&checks, READY).message.as_deref(), Some("HTTP 200"));
    assert_eq!(
        get(&checks, SIGN_IN).message.as_deref(),
        Some(format!("signed in as {LOGIN}").as_str())
    );
    assert_eq!(
        get(&checks, AGENTS).message.as_deref(),
        Some("total_agents: 3")
    );
    assert_eq!(
        get(&checks, DIAGNOSTICS).message.as_deref(),
        Some("database ok, redis ok, aws_sts skipped, anthropic_api skipped")
    );
    assert!(checks.iter().all(|c| c.body.is_none()));
}

/// One fault, the checks it must fail (and only those), and words the first one's message
/// must hold.
struct Case {
    what: &'static str,
    config: StubConfig,
    adjust: fn(&mut SmokeTarget),
    failed: &'static [&'static str],
    message: &'static str,
}

fn no_change(_: &mut SmokeTarget) {}

fn cases() -> Vec<Case> {
    let ready_503 =
        r#"{"data":{"status":"not ready","components":{"database":"ok","redis":"ok"}}}"#;
    let db_down =
        r#"{"data":{"status":"not ready","components":{"database":"down","redis":"ok"}}}"#;
    vec![
        Case {
            // The frontend is served from the same stub here, so it fails with it.
            what: "/ answering 503 for the whole settle window",
            config: config().with_fault(StubFault::path("/").status(503)),
            adjust: |t| t.settle = Duration::from_millis(500),
            failed: &[REACHABLE, FRONTEND],
            message: "/ answered HTTP 503 for ",
        },
        Case {
            what: "ready stuck at 503 beyond the settle window",
            config: config().with_fault(StubFault::path(PATH_READY).status(503).body(ready_503)),
            adjust: |t| t.settle = Duration::from_millis(800),
            failed: &[READY],
            message: "still HTTP 503 after",
        },
        Case {
            what: "ready stuck at 503 with the database down",
            config: config().with_fault(StubFault::path(PATH_READY).status(503).body(db_down)),
            adjust: |t| t.settle = Duration::from_millis(500),
            failed: &[READY, DATABASE],
            message: "must answer 200 within the settle window (0.5 s)",
        },
        Case {
            what: "ready answering 500",
            config: config().with_fault(StubFault::path(PATH_READY).status(500)),
            adjust: no_change,
            failed: &[READY],
            message: "GET /api/v2/system/ready: HTTP 500, expected 200",
        },
        Case {
            what: "a wrong body of ws/ready",
            config: config().with_fault(
                StubFault::path(PATH_WS_READY).body(r#"{"data":{"status":"degraded"}}"#),
            ),
            adjust: no_change,
            failed: &[WEBSOCKET_READY],
            message: r#"data.status is "degraded", expected "healthy""#,
        },
        Case {
            what: "500 on sign-in",
            config: config().with_fault(StubFault::path(PATH_SIGN_IN).status(500).times(1)),
            adjust: no_change,
            failed: &[SIGN_IN],
            message: "HTTP 500, expected 200",
        },
        Case {
            what: "sign-in without a token",
            config: config().with_fault(
                StubFault::path(PATH_SIGN_IN)
                    .body(r#"{"data":{"tokens":{}}}"#)
                    .times(1),
            ),
            adjust: no_change,
            failed: &[SIGN_IN],
            message: "data.tokens.access_token is missing",
        },
        Case {
            what: "/me not requiring a token",
            config: config().with_fault(
                StubFault::path(PATH_ME).body(r#"{"data":{"email":"anyone@stub.example"}}"#),
            ),
            adjust: no_change,
            failed: &[ME_WITHOUT_TOKEN],
            message: "without a token: HTTP 200, expected 401",
        },
        Case {
            what: "/me refusing the token",
            config: config().with_fault(StubFault::path(PATH_ME).status(401).times(1)),
            adjust: no_change,
            failed: &[ME],
            message: "with the token: HTTP 401, expected 200",
        },
        Case {
            // The first sign-in is the real one; the second, with the wrong password, is
            // let in by the fault.
            what: "a wrong password let in",
            config: config().with_fault(
                StubFault::path(PATH_SIGN_IN)
                    .body(&format!(
                        r#"{{"data":{{"tokens":{{"access_token":"{}"}}}}}}"#,
                        fakekube::ACCESS_TOKEN
                    ))
                    .times(2),
            ),
            adjust: no_change,
            failed: &[WRONG_PASSWORD],
            message: "a wrong password got HTTP 200, expected 401",
        },
        Case {
            what: "a wrong version",
            config: StubConfig {
                version: "4.6.11".into(),
                ..config()
            },
            adjust: no_change,
            failed: &[VERSION],
            message: "reports version 4.6.11, but 4.6.12 is deployed",
        },
        Case {
            what: "the agent manager failing",
            config: config().with_fault(StubFault::path(PATH_AGENTS).status(500)),
            adjust: no_change,
            failed: &[AGENTS],
            message: "HTTP 500, expected 200",
        },
        Case {
            what: "Redis down in the diagnostics",
            config: config().with_fault(StubFault::path(PATH_DIAGNOSTICS).status(503).body(
                r#"{"data":{"dependencies":{"database":{"status":"ok"},"redis":{"status":"error"}}}}"#,
            )),
            adjust: no_change,
            failed: &[DIAGNOSTICS],
            message: r#"data.dependencies.redis.status is "error" (HTTP 503)"#,
        },
        Case {
            // `/` answering 404 is still reachable (below 500) for the API; the frontend
            // must serve it.
            what: "the frontend missing",
            config: config().with_fault(StubFault::path("/").status(404)),
            adjust: no_change,
            failed: &[FRONTEND],
            message: "HTTP 404, expected 200",
        },
        Case {
            what: "the frontend serving JSON",
            config: config().with_fault(StubFault::path("/").body(r#"{"detail":"api"}"#)),
            adjust: no_change,
            failed: &[FRONTEND],
            message: "not an HTML page (content-type application/json)",
        },
    ]
}

#[tokio::test]
async fn each_fault_fails_exactly_its_checks() {
    for case in cases() {
        let stub = stub(case.config);
        let mut target = target(&stub);
        (case.adjust)(&mut target);
        let checks = run_against(&target).await;
        assert_eq!(names(&checks), CHECKS, "{}", case.what);
        assert_eq!(
            with(&checks, Outcome::Failed),
            case.failed,
            "{}: {checks:#?}",
            case.what
        );
        let first = get(&checks, case.failed[0]);
        let message = first.message.as_deref().unwrap();
        assert!(
            message.contains(case.message),
            "{}: {message:?} lacks {:?}",
            case.what,
            case.message
        );
        assert!(
            !message.contains('\n'),
            "{}: one line: {message:?}",
            case.what
        );
    }
}

#[tokio::test]
async fn a_failed_check_keeps_the_body_that_shows_why() {
    let stub = stub(
        config()
            .with_fault(StubFault::path(PATH_WS_READY).body(r#"{"data":{"status":"degraded"}}"#)),
    );
    let checks = run_against(&target(&stub)).await;
    let check = get(&checks, WEBSOCKET_READY);
    assert_eq!(
        check.body.as_deref(),
        Some(r#"{"data":{"status":"degraded"}}"#)
    );

    let long = format!(r#"{{"detail":"{}"}}"#, "x".repeat(5000));
    let stub = stub_with_body(PATH_AGENTS, &long);
    let checks = run_against(&target(&stub)).await;
    let body = get(&checks, AGENTS).body.clone().unwrap();
    assert!(body.len() < 2100, "at most 2 KB: {}", body.len());
    assert!(body.ends_with("more bytes)"), "{body}");
}

fn stub_with_body(path: &str, body: &str) -> PlatformStub {
    stub(config().with_fault(StubFault::path(path).status(500).body(body)))
}

#[tokio::test]
async fn ready_flapping_then_healthy_within_the_settle_window_passes() {
    let stub = stub(config().with_fault(StubFault::path(PATH_READY).status(503).times(3)));
    let checks = run_against(&target(&stub)).await;
    assert_eq!(
        with(&checks, Outcome::Failed),
        Vec::<&str>::new(),
        "{checks:#?}"
    );
    let message = get(&checks, READY).message.clone().unwrap();
    assert!(
        message.starts_with("HTTP 200 after 4 attempts ("),
        "{message}"
    );
}

#[tokio::test]
async fn reachability_is_retried_until_it_answers() {
    // A gateway in front of a platform still starting, a first request that times out, and
    // a gateway that fails twice on another.
    let stub = stub(
        config()
            .with_fault(StubFault::path("/").status(502).times(2))
            .with_fault(StubFault::path(PATH_AGENTS).latency_ms(1500).times(1))
            .with_fault(StubFault::path(PATH_DIAGNOSTICS).status(502).times(2)),
    );
    let mut target = target(&stub);
    target.request_timeout = Duration::from_millis(700);
    let checks = run_against(&target).await;
    assert_eq!(
        with(&checks, Outcome::Failed),
        Vec::<&str>::new(),
        "{checks:#?}"
    );
    let message = get(&checks, REACHABLE).message.clone().unwrap();
    assert!(
        message.starts_with("HTTP 200 after 3 attempts ("),
        "{message}"
    );
    // The timed-out request was tried again (the check took longer than one timeout).
    assert!(get(&checks, AGENTS).duration_ms >= 700, "{checks:#?}");
}

#[tokio::test]
async fn an_assertion_is_never_retried() {
    // Each fault fires once: a retry would pass.
    let stub = stub(
        config()
            .with_fault(
                StubFault::path(PATH_WS_READY)
                    .body(r#"{"data":{"status":"degraded"}}"#)
                    .times(1),
            )
            .with_fault(StubFault::path(PATH_AGENTS).status(500).times(1))
            .with_fault(StubFault::path(PATH_READY).status(500).times(1)),
    );
    let checks = run_against(&target(&stub)).await;
    assert_eq!(
        with(&checks, Outcome::Failed),
        [READY, WEBSOCKET_READY, AGENTS],
        "{checks:#?}"
    );
}

#[tokio::test]
async fn an_api_that_never_answers_fails_reachability_and_skips_what_needs_it() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let stub = stub(config());
    let mut target = target(&stub);
    target.api = url(&api);
    target.settle = Duration::from_millis(600);
    let started = Instant::now();
    let checks = run_against(&target).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the settle window"
    );
    assert_eq!(names(&checks), CHECKS);
    assert_eq!(with(&checks, Outcome::Failed), [REACHABLE], "{checks:#?}");
    // The frontend has its own URL, and is still checked.
    assert_eq!(with(&checks, Outcome::Passed), [FRONTEND], "{checks:#?}");
    let message = get(&checks, REACHABLE).message.clone().unwrap();
    assert!(message.contains("did not answer within 0.6 s"), "{message}");
    assert!(message.contains("cannot connect"), "{message}");
    let skipped = get(&checks, SIGN_IN).message.clone().unwrap();
    assert!(
        skipped.contains("which did not answer (smoke/reachable)"),
        "{skipped}"
    );
}

#[tokio::test]
async fn the_websocket_server_is_checked_on_its_own_url() {
    let api = stub(config());
    let ws = stub(config().with_fault(StubFault::path(PATH_WS_READY).status(503)));
    let mut target = target(&api);
    target.websocket = Some(url(&ws.url()));
    let checks = run_against(&target).await;
    assert_eq!(
        with(&checks, Outcome::Failed),
        [WEBSOCKET_READY],
        "{checks:#?}"
    );
}

#[tokio::test]
async fn without_a_frontend_or_an_expected_version_those_are_not_asserted() {
    let stub = stub(StubConfig {
        version: "9.9.9".into(),
        ..config()
    });
    let mut target = target(&stub);
    target.frontend = None;
    target.expected_version = None;
    let checks = run_against(&target).await;
    assert_eq!(with(&checks, Outcome::Skipped), [FRONTEND]);
    assert_eq!(
        get(&checks, FRONTEND).message.as_deref(),
        Some("no frontend URL was given")
    );
    assert_eq!(get(&checks, VERSION).outcome, Outcome::Passed);
    assert!(same_version("v4.6.12", "4.6.12"));
    assert!(!same_version("4.6.12", "4.6.1"));
}

#[tokio::test]
async fn the_password_and_tokens_never_reach_a_check() {
    const SENTINEL: &str = "smoke-password-sentinel-7c1e";
    let sentinel_config = || StubConfig {
        password: SENTINEL.into(),
        ..config()
    };
    // Sign-in fails echoing the password, and a token the suite never received and so
    // cannot know to redact: the body's secret-looking keys are masked.
    let echo = format!(
        r#"{{"detail":"bad login for {SENTINEL}","password":"{SENTINEL}","data":{{"tokens":{{"refresh_token":"unregistered-refresh-9d2a"}}}}}}"#
    );
    let failing =
        stub(sentinel_config().with_fault(StubFault::path(PATH_SIGN_IN).status(500).body(&echo)));
    let mut target = target(&failing);
    target.credentials.password = SENTINEL.into();
    let first = run_against(&target).await;
    assert_eq!(get(&first, SIGN_IN).outcome, Outcome::Failed);
    assert!(get(&first, SIGN_IN).body.is_some());
    // Sign-in works, then /me without a token answers with the access token handed out.
    let echoing = stub(
        sentinel_config().with_fault(StubFault::path(PATH_ME).body(&format!(
            r#"{{"echo":"Bearer {}"}}"#,
            fakekube::ACCESS_TOKEN
        ))),
    );
    target.api = url(&echoing.url());
    let second = run_against(&target).await;
    assert_eq!(get(&second, SIGN_IN).outcome, Outcome::Passed);
    assert_eq!(get(&second, ME_WITHOUT_TOKEN).outcome, Outcome::Failed);
    assert!(get(&second, ME_WITHOUT_TOKEN).body.is_some());
    let text = format!("{first:?}{second:?}{target:?}");
    for secret in [
        SENTINEL,
        "unregistered-refresh-9d2a",
        fakekube::ACCESS_TOKEN,
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("[REDACTED]"), "{text}");
}

#[tokio::test]
async fn cancelling_ends_the_run_promptly() {
    let stub = stub(config().with_fault(StubFault::path(PATH_READY).status(503)));
    let mut target = target(&stub);
    target.settle = Duration::from_secs(60);
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let checks = run(&target, &cancel).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(names(&checks), CHECKS);
    assert_eq!(&with(&checks, Outcome::Passed), &[REACHABLE, VERSION]);
    let interrupted: Vec<&str> = checks
        .iter()
        .filter(|c| c.message.as_deref() == Some("the run was interrupted"))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(interrupted, &CHECKS[2..], "{checks:#?}");
}

#[test]
fn secret_keys_of_a_body_are_masked() {
    assert_eq!(
        mask_secrets(
            r#"{"data":{"tokens":{"access_token":"abc","token_type":"bearer"}},"n":[{"password":"p"}],"ok":1}"#
        ),
        r#"{"data":{"tokens":{"access_token":"[REDACTED]","token_type":"[REDACTED]"}},"n":[{"password":"[REDACTED]"}],"ok":1}"#
    );
    assert_eq!(mask_secrets("plain <b>text</b>"), "plain <b>text</b>");
}

#[test]
fn endpoints_keep_the_base_path() {
    assert_eq!(
        endpoint(&url("http://127.0.0.1:8000"), PATH_ME).as_str(),
        "http://127.0.0.1:8000/api/v2/auth/me"
    );
    assert_eq!(
        endpoint(&url("https://host.example/prefix/?q=1"), "/").as_str(),
        "https://host.example/prefix/"
    );
    assert!(is_loopback(&url("http://localhost:1")));
    assert!(is_loopback(&url("http://[::1]:1")));
    assert!(!is_loopback(&url("https://console.example")));
}

// ---- test live: local HTTPS and HTTP stand-ins ----

/// A self-signed certificate for `name`, valid from yesterday for `days` days (to midnight
/// UTC), and its key.
fn certificate(name: &str, days: i64) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    let day = |offset: i64| {
        let date = jiff::Zoned::now()
            .with_time_zone(jiff::tz::TimeZone::UTC)
            .date()
            .checked_add(jiff::Span::new().days(offset))
            .unwrap();
        rcgen::date_time_ymd(date.year().into(), date.month() as u8, date.day() as u8)
    };
    params.not_before = day(-1);
    params.not_after = day(days);
    let cert = params.self_signed(&key).unwrap();
    (cert, key)
}

/// A TLS endpoint presenting `cert`, passing what it decrypts on to `upstream` (the platform
/// stub): the platform behind an HTTPS load balancer.
async fn https_in_front_of(
    upstream: SocketAddr,
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> SocketAddr {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

/// A plain HTTP endpoint answering every request with `status` and `location`.
async fn plain_http(status: u16, location: Option<String>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let location = location.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let location = location
                    .map(|l| format!("Location: {l}\r\n"))
                    .unwrap_or_default();
                let body = "<html>plain</html>";
                let response = format!(
                    "HTTP/1.1 {status} Status\r\n{location}Content-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

/// The suite against `https://localhost:PORT` in front of a stub, trusting `cert` or not,
/// with plain HTTP that answers `status` with `location` (`None`: a redirect to the API).
async fn live_target(
    stub: &PlatformStub,
    cert: &(rcgen::Certificate, rcgen::KeyPair),
    trust: bool,
    status: u16,
    location: Option<&str>,
) -> SmokeTarget {
    let https = https_in_front_of(stub.addr(), &cert.0, &cert.1).await;
    let api = url(&format!("https://localhost:{}/", https.port()));
    let location = location.map_or_else(|| api.to_string(), str::to_string);
    let http = plain_http(status, Some(location).filter(|_| status != 200)).await;
    let mut target = target(stub);
    target.api = api.clone();
    target.frontend = Some(api);
    target.live = Some(LiveChecks {
        http: Some(url(&format!("http://localhost:{}/", http.port()))),
        extra_roots_pem: trust.then(|| cert.0.pem()),
        ..LiveChecks::default()
    });
    target
}

#[tokio::test]
async fn live_passes_with_a_valid_certificate_and_a_redirect() {
    let stub = stub(config());
    let cert = certificate("localhost", 90);
    let checks = run_against(&live_target(&stub, &cert, true, 301, None).await).await;
    let all: Vec<&str> = CHECKS.iter().chain(LIVE_CHECKS).copied().collect();
    assert_eq!(names(&checks), all);
    assert_eq!(with(&checks, Outcome::Passed), all, "{checks:#?}");
    assert_eq!(
        get(&checks, TLS_CERTIFICATE).message.as_deref(),
        Some("valid for localhost for more than 14 days")
    );
    let redirect = get(&checks, HTTPS_REDIRECT).message.clone().unwrap();
    assert!(
        redirect.contains("/ → 301 https://localhost:"),
        "{redirect}"
    );
}

#[tokio::test]
async fn live_fails_a_certificate_expiring_within_14_days() {
    let stub = stub(config());
    let cert = certificate("localhost", 3);
    let checks = run_against(&live_target(&stub, &cert, true, 308, None).await).await;
    // Still valid: every request works, only the certificate check fails.
    assert_eq!(
        with(&checks, Outcome::Failed),
        [TLS_CERTIFICATE],
        "{checks:#?}"
    );
    let message = get(&checks, TLS_CERTIFICATE).message.clone().unwrap();
    assert!(
        message.starts_with("the certificate for localhost expires on "),
        "{message}"
    );
    assert!(
        message.ends_with("it must stay valid for more than 14 days"),
        "{message}"
    );
    // It expires at midnight UTC, two to three days from now.
    assert!(
        message.contains("(in 3 days)") || message.contains("(in 2 days)"),
        "{message}"
    );
}

#[tokio::test]
async fn live_fails_a_certificate_for_another_host_or_untrusted() {
    let stub = stub(config());
    let other = certificate("other.example", 90);
    let mut target = live_target(&stub, &other, true, 301, None).await;
    target.settle = Duration::from_millis(300);
    let checks = run_against(&target).await;
    assert_eq!(
        get(&checks, TLS_CERTIFICATE).message.as_deref(),
        Some("the certificate is not valid for localhost (it names other.example)")
    );
    // Requests refuse that certificate as well: the API is not reachable over it.
    assert_eq!(get(&checks, REACHABLE).outcome, Outcome::Failed);

    let untrusted = certificate("localhost", 90);
    let mut target = live_target(&stub, &untrusted, false, 301, None).await;
    target.settle = Duration::from_millis(300);
    let checks = run_against(&target).await;
    let message = get(&checks, TLS_CERTIFICATE).message.clone().unwrap();
    assert!(
        message.starts_with("the certificate is not issued by a trusted authority"),
        "{message}"
    );
}

#[tokio::test]
async fn live_fails_plain_http_that_does_not_redirect_to_https() {
    let stub = stub(config());
    let cert = certificate("localhost", 90);
    let checks = run_against(&live_target(&stub, &cert, true, 200, None).await).await;
    assert_eq!(
        with(&checks, Outcome::Failed),
        [HTTPS_REDIRECT],
        "{checks:#?}"
    );
    let check = get(&checks, HTTPS_REDIRECT);
    let message = check.message.as_deref().unwrap();
    assert!(
        message.ends_with("answered HTTP 200 instead of redirecting to HTTPS"),
        "{message}"
    );
    assert_eq!(check.body.as_deref(), Some("<html>plain</html>"));

    // A redirect that stays on plain HTTP is no better.
    let target = live_target(&stub, &cert, true, 302, Some("http://localhost/login")).await;
    let checks = run_against(&target).await;
    let message = get(&checks, HTTPS_REDIRECT).message.clone().unwrap();
    assert!(
        message.ends_with("redirects to http://localhost/login, not to https://localhost"),
        "{message}"
    );
}

#[tokio::test]
async fn live_needs_https() {
    let stub = stub(config());
    let mut target = target(&stub);
    target.live = Some(LiveChecks {
        http: Some(url(&stub.url())),
        ..LiveChecks::default()
    });
    let checks = run_against(&target).await;
    let message = get(&checks, TLS_CERTIFICATE).message.clone().unwrap();
    assert!(message.ends_with("is not served over HTTPS"), "{message}");
}

#[tokio::test]
async fn trusted_certificates_that_are_not_pem_stop_the_run_at_once() {
    let stub = stub(config());
    let mut target = target(&stub);
    target.live = Some(LiveChecks {
        extra_roots_pem: Some("not a certificate".into()),
        ..LiveChecks::default()
    });
    let checks = run_against(&target).await;
    assert_eq!(names(&checks), [SETUP]);
    assert_eq!(
        checks[0].message.as_deref(),
        Some("the trusted certificates hold no PEM certificate")
    );
}

//! Inputs too big to hold: an endless or oversized answer from a registry (token, manifest,
//! blob), a helm that prints without end, input files past the size limit. Each is refused
//! with a message that names the limit and the key that raises it, in bounded time and memory.
//! Also what a registry serves that is small but hostile: a chart whose `Chart.yaml` nests past
//! the depth limit.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{assert_no_crash, helm_wrapper, stderr_says};
use crate::support::{self, Run, Sandbox};

/// How the stub registry answers a chart's manifest and its layer.
#[derive(Clone, Copy)]
enum Serve {
    /// A valid manifest whose layer is a blob that never ends (no Content-Length).
    EndlessBlob,
    /// A manifest that never ends.
    EndlessManifest,
    /// A valid manifest whose layer declares `size` bytes, served with that Content-Length.
    DeclaredBlob(u64),
    /// `/v2/` asks for a Bearer token, whose service answers without end.
    EndlessToken,
    /// As `DeclaredBlob`, behind the Bearer token flow: the token service grants
    /// [`STUB_TOKEN`] for a pull scope and manifests and blobs require it.
    BearerDeclaredBlob(u64),
    /// Chart archives, whole and with their true digests: the backend's and the frontend's.
    Archives {
        backend: &'static [u8],
        frontend: &'static [u8],
    },
}

impl Serve {
    fn wants_bearer(self) -> bool {
        matches!(self, Serve::EndlessToken | Serve::BearerDeclaredBlob(_))
    }
}

/// The token the stub's token service grants.
const STUB_TOKEN: &str = "stub-token-6f1d";

/// A tiny OCI distribution registry speaking just enough for a pull: `GET /v2/` (open, or a
/// Bearer challenge pointing at its own `/token`), the manifest of any chart, and its layer.
/// Connections are closed after each answer; a client that stops reading ends an endless
/// answer.
struct StubRegistry {
    host: String,
}

impl StubRegistry {
    fn start(serve: Serve) -> StubRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || answer(stream, serve));
            }
        });
        StubRegistry { host }
    }

    /// Serve the umbrella's dependencies from here for every later command of `sandbox`.
    fn mirror_for(&self, sandbox: &mut Sandbox) {
        sandbox.set_env(
            "STACKCTL_REGISTRY_MIRRORS",
            support::registry::ghcr_mirror(&format!("oci://{}/charts", self.host)),
        );
        sandbox.set_env("STACKCTL_INSECURE_REGISTRIES", self.host.clone());
    }
}

const LAYER_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000001";

fn answer(stream: TcpStream, serve: Serve) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let (mut host, mut authorized) = (String::new(), false);
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {
                let lower = header.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("host:") {
                    host = value.trim().to_string();
                }
                authorized |= header.trim_end() == format!("authorization: Bearer {STUB_TOKEN}")
                    || header.trim_end() == format!("Authorization: Bearer {STUB_TOKEN}");
            }
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let mut out = stream;
    let (layer_size, layer_digest) = match serve {
        Serve::DeclaredBlob(size) | Serve::BearerDeclaredBlob(size) => {
            (size, LAYER_DIGEST.to_string())
        }
        Serve::Archives { backend, frontend } => {
            use sha2::Digest;
            let bytes = if path.contains("/backend/") {
                backend
            } else {
                frontend
            };
            let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
            (bytes.len() as u64, digest)
        }
        _ => (1024, LAYER_DIGEST.to_string()),
    };
    let unauthorized = |out: &mut TcpStream| {
        let _ = write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"stub\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000002","size":2}},"layers":[{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"{layer_digest}","size":{layer_size}}}]}}"#
    );
    let endless = |out: &mut TcpStream, content_type: &str| {
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
        );
        let chunk = vec![b' '; 64 * 1024];
        // Until the client hangs up.
        while out.write_all(&chunk).is_ok() {}
    };
    if serve.wants_bearer() && path.starts_with("/token") {
        if let Serve::EndlessToken = serve {
            endless(&mut out, "application/json");
        } else if path.contains("scope=repository%3Acharts%2Fbackend%3Apull")
            && path.contains("service=stub")
        {
            let body = format!("{{\"token\":\"{STUB_TOKEN}\"}}");
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        } else {
            let _ = write!(
                out,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    } else if serve.wants_bearer() && !authorized {
        unauthorized(&mut out);
    } else if path == "/v2/" {
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
    } else if path.contains("/manifests/") {
        if let Serve::EndlessManifest = serve {
            endless(&mut out, "application/vnd.oci.image.manifest.v1+json");
        } else {
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{manifest}",
                manifest.len()
            );
        }
    } else if path.contains("/blobs/") {
        match serve {
            Serve::Archives { backend, frontend } => {
                let bytes = if path.contains("/backend/") {
                    backend
                } else {
                    frontend
                };
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = out.write_all(bytes);
            }
            Serve::DeclaredBlob(size) | Serve::BearerDeclaredBlob(size) => {
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                let chunk = vec![b'x'; 64 * 1024];
                while out.write_all(&chunk).is_ok() {}
            }
            _ => endless(&mut out, "application/octet-stream"),
        }
    } else {
        let _ = write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}

/// The acceptance bound of a refused endless answer: stopped within 5 s, under 200 MiB.
#[track_caller]
fn assert_bounded(elapsed: Duration, peak_mib: u64) {
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
}

/// The highest resident set size of a running process, in MiB, sampled from
/// `/proc/<pid>/status` (VmHWM) until it ends.
fn watch_peak_rss(pid: u32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak_kib = 0u64;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let Some(hwm) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            else {
                // A zombie has no memory left to report.
                break;
            };
            peak_kib = peak_kib.max(hwm);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak_kib / 1024
    })
}

/// `deps build` after an offline build with the frontend's archive removed: it goes to
/// `registry` for what the lock pins. Returns the run, its elapsed time and peak memory.
fn build_from(registry: &StubRegistry, config: Option<&str>) -> (Run, Duration, u64) {
    let mut sandbox = Sandbox::fixture("deps/repo");
    if let Some(extra) = config {
        let toml = sandbox.read("stackctl.toml");
        sandbox.write("stackctl.toml", &format!("{toml}\n{extra}\n"));
    }
    sandbox.stackctl(["deps", "build", "--offline"]).success();
    std::fs::remove_file(sandbox.path("charts/jetscale/charts/frontend-2.7.1.tgz")).unwrap();
    registry.mirror_for(&mut sandbox);
    let before = sandbox.snapshot();
    let started = sandbox.spawn_stackctl(["deps", "build"]);
    let peak = watch_peak_rss(started.id());
    let (run, elapsed) = started.finish(Duration::from_secs(60));
    let peak_mib = peak.join().unwrap();
    assert_eq!(sandbox.snapshot(), before, "a refused pull changed files");
    (run, elapsed, peak_mib)
}

#[test]
fn endless_chart_blob_from_a_registry_stops_at_the_limit_in_bounded_time_and_memory() {
    let registry = StubRegistry::start(Serve::EndlessBlob);
    // A limit below the default: the SHA-256 of an unoptimised test build hashes some 20 MB/s,
    // so the default 64 MiB would measure the hash, not the limit.
    let (run, elapsed, peak_mib) =
        build_from(&registry, Some("[registries]\nmax-blob-size = \"16 MiB\""));
    eprintln!("endless blob: stopped after {elapsed:?}, peak RSS {peak_mib} MiB");
    run.expect(3);
    assert_no_crash(&run);
    stderr_says(
        &run,
        &[
            format!(
                "registry {} sent a chart archive larger than the 16 MiB limit",
                registry.host
            ),
            format!(
                "while pulling backend ({}/charts/backend:4.6.12)",
                registry.host
            ),
            "the download was stopped".to_string(),
            "`max-blob-size` under [registries]".to_string(),
        ],
    );
    assert_bounded(elapsed, peak_mib);
}

#[test]
fn endless_manifest_from_a_registry_is_refused_at_the_manifest_limit() {
    let registry = StubRegistry::start(Serve::EndlessManifest);
    let (run, elapsed, peak_mib) = build_from(&registry, None);
    eprintln!("endless manifest: stopped after {elapsed:?}, peak RSS {peak_mib} MiB");
    run.expect(3);
    assert_no_crash(&run);
    stderr_says(
        &run,
        &[
            format!(
                "registry {} sent a manifest larger than the 4 MiB limit",
                registry.host
            ),
            format!(
                "while pulling backend ({}/charts/backend:4.6.12)",
                registry.host
            ),
            "`max-manifest-size` under [registries]".to_string(),
        ],
    );
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
}

#[test]
fn manifest_layer_over_the_configured_blob_limit_is_refused_before_download() {
    // The manifest declares 2 MiB; stackctl.toml allows 1 MiB.
    let registry = StubRegistry::start(Serve::DeclaredBlob(2 << 20));
    let (run, elapsed, _) = build_from(&registry, Some("[registries]\nmax-blob-size = \"1 MiB\""));
    eprintln!("declared blob: refused after {elapsed:?}");
    run.expect(3);
    assert_no_crash(&run);
    assert!(
        run.stderr.contains(&format!(
            "registry {} declares a chart archive of 2 MiB, over the 1 MiB limit",
            registry.host
        )),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("nothing was downloaded"),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("max-blob-size"), "{}", run.all());
}

#[test]
fn endless_token_answer_from_a_registry_is_refused_at_its_limit() {
    let registry = StubRegistry::start(Serve::EndlessToken);
    let (run, elapsed, peak_mib) = build_from(&registry, None);
    eprintln!("endless token answer: stopped after {elapsed:?}, peak RSS {peak_mib} MiB");
    run.expect(3);
    assert_no_crash(&run);
    stderr_says(
        &run,
        &[
            format!(
                "registry {} sent a token answer larger than the 1 MiB limit",
                registry.host
            ),
            "the registry's token service or a proxy in front of it is misbehaving".to_string(),
        ],
    );
    assert_bounded(elapsed, peak_mib);
}

#[test]
fn bearer_token_flow_reaches_the_manifest_with_the_granted_token() {
    // The stub answers 401 to a manifest request without its token, and grants the token only
    // for the chart's pull scope: reaching the blob's declared size means the flow worked.
    let registry = StubRegistry::start(Serve::BearerDeclaredBlob(2 << 20));
    let (run, _, _) = build_from(&registry, Some("[registries]\nmax-blob-size = \"1 MiB\""));
    run.expect(3);
    assert_no_crash(&run);
    assert!(
        run.stderr
            .contains("declares a chart archive of 2 MiB, over the 1 MiB limit"),
        "{}",
        run.all()
    );
    assert!(
        !run.all().contains(STUB_TOKEN),
        "the token leaked:\n{}",
        run.all()
    );
}

/// A frontend 2.7.1 archive holding only a `Chart.yaml` whose annotations nest `depth` levels.
fn frontend_archive_nested(depth: usize) -> &'static [u8] {
    let chart_yaml = format!(
        "apiVersion: v2\nname: frontend\nversion: 2.7.1\nannotations:\n{}x\n",
        "- ".repeat(depth - 1)
    );
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(chart_yaml.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "frontend/Chart.yaml", chart_yaml.as_bytes())
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    Box::leak(gz.finish().unwrap().into_boxed_slice())
}

/// `deps build` of a copy of `deps/repo` from a stub registry serving the repository's own
/// backend archive and `frontend`, after an offline build with the frontend removed.
fn build_with_frontend(frontend: &'static [u8]) -> (Sandbox, Run, StubRegistry) {
    let mut sandbox = Sandbox::fixture("deps/repo");
    sandbox.stackctl(["deps", "build", "--offline"]).success();
    let backend = std::fs::read(sandbox.path("charts/jetscale/charts/backend-4.6.12.tgz")).unwrap();
    std::fs::remove_file(sandbox.path("charts/jetscale/charts/frontend-2.7.1.tgz")).unwrap();
    let registry = StubRegistry::start(Serve::Archives {
        backend: Box::leak(backend.into_boxed_slice()),
        frontend,
    });
    registry.mirror_for(&mut sandbox);
    let run = sandbox.stackctl(["deps", "build"]);
    assert_no_crash(&run);
    (sandbox, run, registry)
}

#[test]
fn pulled_chart_whose_chart_yaml_nests_past_the_limit_is_refused_at_its_line() {
    let (_, run, registry) = build_with_frontend(frontend_archive_nested(150));
    run.expect(3);
    assert!(
        run.stderr.contains(&format!(
            "the archive for frontend 2.7.1 from oci://{}/charts/frontend:2.7.1 is unusable: its frontend/Chart.yaml, line 5: nested deeper than 100 levels",
            registry.host
        )),
        "{}",
        run.all()
    );
}

#[test]
fn pulled_chart_whose_chart_yaml_nests_within_the_limit_is_read() {
    // 80 levels: past the YAML reader's default budget of 64, within stackctl's limit.
    let frontend = frontend_archive_nested(80);
    let (sandbox, run, _) = build_with_frontend(frontend);
    run.success();
    assert!(!run.all().contains("budget"), "{}", run.all());
    let written = std::fs::read(sandbox.path("charts/jetscale/charts/frontend-2.7.1.tgz")).unwrap();
    assert!(
        written == frontend,
        "the pulled archive was not written as served"
    );
}

/// A helm that answers everything as the real one does, except `template`, which runs
/// `script` (a shell fragment) instead.
fn helm_template_runs(sandbox: &Sandbox, script: &str) -> std::path::PathBuf {
    helm_wrapper(
        sandbox,
        "stand-in",
        &format!("if [ \"$1\" = template ]; then\n{script}\nfi"),
    )
}

#[test]
fn helm_printing_20_mb_on_stderr_gives_a_small_report_that_says_bytes_were_cut() {
    let sandbox = Sandbox::with_repo();
    let helm = helm_template_runs(
        &sandbox,
        "echo 'Error: the start of a long story' >&2\n\
         head -c 20000000 /dev/zero | tr '\\0' y >&2\n\
         echo >&2\n\
         echo 'Error: the end of it' >&2\n\
         exit 1",
    );
    let run = sandbox.stackctl([
        "--helm".as_ref(),
        helm.as_os_str(),
        "validate".as_ref(),
        "envs".as_ref(),
        "aws".as_ref(),
        "--offline".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    run.expect(1);
    assert_no_crash(&run);
    let report = run.json();
    let size = run.stdout.len();
    eprintln!("report of 8 targets whose helm printed 20 MB each: {size} bytes");
    assert!(size < 1_500_000, "the report is {size} bytes");
    assert!(
        run.stdout.contains("the start of a long story"),
        "head kept"
    );
    assert!(run.stdout.contains("the end of it"), "tail kept");
    assert!(
        run.stdout
            .contains("bytes cut from the middle of helm template's stderr"),
        "no note of the cut"
    );
    assert!(report.to_string().contains("render/helm-error"));
}

#[test]
fn helm_render_over_max_output_size_is_stopped_with_a_clear_error() {
    let sandbox = Sandbox::with_repo();
    let toml = sandbox.read("stackctl.toml");
    assert!(toml.contains("[render]\n"));
    sandbox.write(
        "stackctl.toml",
        &toml.replacen("[render]\n", "[render]\nmax-output-size = \"1 MiB\"\n", 1),
    );
    // An endless manifest: the limit must stop helm, not wait for it.
    let helm = helm_template_runs(&sandbox, "yes 'a: b'\nexit 0");
    let started = Instant::now();
    let run = sandbox.stackctl([
        "--helm".as_ref(),
        helm.as_os_str(),
        "render".as_ref(),
        "envs/staging/jetscale.yaml".as_ref(),
        "--offline".as_ref(),
    ]);
    eprintln!("endless render stopped after {:?}", started.elapsed());
    run.expect(1);
    assert_no_crash(&run);
    assert!(
        run.all()
            .contains("helm template printed more than 1 MiB, the limit of a rendered manifest"),
        "{}",
        run.all()
    );
    assert!(
        run.all().contains("`max-output-size` under [render]"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("not YAML"), "{}", run.all());
}

/// An env file for `envs/staging/` of about `bytes` bytes: a real env's values with as many
/// short entries in its `frontend.env` map as fit.
fn large_env(sandbox: &Sandbox, bytes: usize) -> String {
    let base = sandbox.read("envs/staging/jetscale.yaml");
    let anchor = "    VITE_API_BASE_URL: https://jetscale.staging.jetscale.ai\n";
    assert!(
        base.contains(anchor),
        "envs/staging/jetscale.yaml sets no frontend.env"
    );
    let mut extra = String::from(anchor);
    let mut i = 0;
    while base.len() + extra.len() < bytes {
        extra.push_str(&format!("    K{i}: \"v\"\n"));
        i += 1;
    }
    base.replace(anchor, &extra)
}

#[test]
fn env_file_over_the_size_limit_is_refused_fast_naming_file_size_limit_and_key() {
    let sandbox = Sandbox::with_repo();
    sandbox.write("envs/staging/huge.yaml", &large_env(&sandbox, 50_000_000));
    let started = Instant::now();
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["values", "envs/staging/huge.yaml"]);
    let elapsed = started.elapsed();
    eprintln!("50 MB env file refused after {elapsed:?}");
    assert_no_crash(&run);
    assert_ne!(run.code, 0, "{}", run.all());
    let all = run.all();
    for part in [
        "envs/staging/huge.yaml",
        "the file is 47.7 MiB, larger than the 4 MiB limit of input files",
        "`max-size` under [files]",
    ] {
        assert!(all.contains(part), "missing {part:?}:\n{all}");
    }
}

#[test]
fn large_env_file_within_the_limit_renders_past_the_yaml_parsers_default_budget() {
    let sandbox = Sandbox::with_repo();
    // About 75 000 env entries: the rendered Deployment holds some 375 000 nodes (five per
    // entry), past the 250 000 the YAML parser accepts by default.
    sandbox.write("envs/staging/large.yaml", &large_env(&sandbox, 1_200_000));
    let toml = sandbox.read("stackctl.toml");
    sandbox.write(
        "stackctl.toml",
        &format!(
            "{toml}\n[targets.\"envs/staging/large.yaml\"]\nrelease = \"jetscale-staging\"\nnamespace = \"jetscale-staging\"\n"
        ),
    );
    let started = Instant::now();
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["render", "envs/staging/large.yaml", "--offline"],
    );
    eprintln!(
        "1.2 MB env file rendered in {:?}, {} bytes of manifest",
        started.elapsed(),
        run.stdout.len()
    );
    assert_no_crash(&run);
    assert!(
        !run.all().contains("budget"),
        "{}",
        &run.all()[..2000.min(run.all().len())]
    );
    run.success();
    assert!(run.stdout.contains("K299"), "the entries are rendered");
}

#[test]
fn chart_yaml_over_the_size_limit_is_an_input_error_naming_the_file() {
    let sandbox = Sandbox::fixture("deps/repo");
    let chart = sandbox.read("charts/jetscale/Chart.yaml");
    let padding = "# padding\n".repeat(500_000);
    sandbox.write("charts/jetscale/Chart.yaml", &format!("{chart}{padding}"));
    let run = sandbox.stackctl(["deps", "check"]);
    run.expect(2);
    assert_no_crash(&run);
    assert!(
        run.stderr.contains("charts/jetscale/Chart.yaml"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("larger than the 4 MiB limit"),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("[files] max-size"), "{}", run.all());
}

#[test]
fn values_schema_over_a_lowered_limit_is_an_input_error() {
    let sandbox = Sandbox::with_repo();
    let toml = sandbox.read("stackctl.toml");
    sandbox.write(
        "stackctl.toml",
        &format!("{toml}\n[files]\nmax-size = \"16 KiB\"\n"),
    );
    let schema = Path::new("charts/jetscale/values.schema.json");
    let size = std::fs::metadata(sandbox.path(schema.to_str().unwrap()))
        .unwrap()
        .len();
    assert!(size > 16 * 1024, "the schema is only {size} bytes");
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["values", "envs/staging/jetscale.yaml"]);
    run.expect(2);
    assert_no_crash(&run);
    assert!(run.stderr.contains("values.schema.json"), "{}", run.all());
    assert!(
        run.stderr.contains("larger than the 16 KiB limit"),
        "{}",
        run.all()
    );
}

#[test]
fn stackctl_toml_over_the_size_limit_is_refused() {
    let sandbox = Sandbox::fixture("deps/repo");
    let toml = sandbox.read("stackctl.toml");
    sandbox.write(
        "stackctl.toml",
        &format!("{toml}{}", "# padding\n".repeat(500_000)),
    );
    let run = sandbox.stackctl(["deps", "check"]);
    run.expect(2);
    assert_no_crash(&run);
    assert!(run.stderr.contains("stackctl.toml"), "{}", run.all());
    assert!(
        run.stderr.contains("larger than the 4 MiB limit"),
        "{}",
        run.all()
    );
}

#[test]
fn size_limit_that_is_not_a_size_names_its_line() {
    let sandbox = Sandbox::fixture("deps/repo");
    let toml = sandbox.read("stackctl.toml");
    let line = toml.lines().count() + 2;
    sandbox.write(
        "stackctl.toml",
        &format!("{toml}[files]\nmax-size = \"4 MX\"\n"),
    );
    let run = sandbox.stackctl(["deps", "check"]);
    run.expect(2);
    assert_no_crash(&run);
    assert!(
        run.stderr.contains(&format!("stackctl.toml:{line}")),
        "line {line}:\n{}",
        run.all()
    );
    assert!(run.stderr.contains("is not a size like"), "{}", run.all());
}

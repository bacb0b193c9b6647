//! A real OCI registry (CNCF distribution) on a free loopback port, storage in a temp dir,
//! optionally behind htpasswd authentication. Killed when dropped. And what tests set up with
//! it: the service charts published there, and the umbrella's dependencies mirrored from it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Run, Sandbox};

/// The repository the umbrella chart's dependencies are pinned to. Tests cannot reach it: they
/// serve it from a [`TestRegistry`] through a mirror ([`ghcr_mirror`]).
pub const GHCR_CHARTS: &str = "oci://ghcr.io/jetscale-ai/charts";

/// The `--registry-mirror` (or `STACKCTL_REGISTRY_MIRRORS`) value that serves
/// [`GHCR_CHARTS`] from `repository`.
pub fn ghcr_mirror(repository: &str) -> String {
    format!("{GHCR_CHARTS}={repository}")
}

pub struct TestRegistry {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub host: String,
}

impl TestRegistry {
    /// A registry that accepts anonymous pushes and pulls.
    pub fn start() -> TestRegistry {
        TestRegistry::launch(None)
    }

    /// A registry that requires `user` / `password` (HTTP basic auth, bcrypt htpasswd).
    pub fn start_with_auth(user: &str, password: &str) -> TestRegistry {
        TestRegistry::launch(Some((user, password)))
    }

    fn launch(auth: Option<(&str, &str)>) -> TestRegistry {
        let dir = tempfile::tempdir().expect("registry temp dir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {host}\n",
            storage.display()
        );
        if let Some((user, password)) = auth {
            // The lowest bcrypt cost keeps the registry's per-request check fast.
            let hash = bcrypt::hash_with_result(password, 4)
                .expect("bcrypt")
                .format_for_version(bcrypt::Version::TwoY);
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: stackctl-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(registry_binary())
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = TestRegistry {
            child: Some(child),
            _dir: dir,
            host,
        };
        registry.wait_ready();
        registry
    }

    /// Wait until `GET /v2/` answers (any status: 401 is ready too).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(&self.host) {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
                if stream.write_all(request.as_bytes()).is_ok() {
                    let mut buf = [0u8; 12];
                    if stream.read(&mut buf).is_ok_and(|n| n > 0) && buf.starts_with(b"HTTP/") {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the test registry on {} did not start", self.host);
    }

    /// `oci://127.0.0.1:<port>/<path>`.
    pub fn oci(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host)
    }

    /// Stop the registry (tests of unreachable registries and of builds without network).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Sandbox {
    /// Publish the service charts the umbrella depends on (`charts/backend` and
    /// `charts/frontend`, at their own versions) to `path` in `registry` with `stackctl chart
    /// publish`, asserting each push: set-up for tests of what uses them. Returns the runs,
    /// for tests that check what they printed.
    pub fn publish_service_charts(&self, registry: &TestRegistry, path: &str) -> Vec<Run> {
        let repository = registry.oci(path);
        ["charts/backend", "charts/frontend"]
            .into_iter()
            .map(|chart| {
                let run = self.stackctl([
                    "chart",
                    "publish",
                    chart,
                    "--to",
                    &repository,
                    "--insecure-registry",
                    &registry.host,
                ]);
                run.success();
                assert!(run.stdout.contains("pushed oci://"), "{}", run.stdout);
                run
            })
            .collect()
    }

    /// Serve the umbrella's dependencies from `path` in `registry` for every later command,
    /// through the environment as a developer would set it.
    pub fn mirror_ghcr_to(&mut self, registry: &TestRegistry, path: &str) {
        self.set_env(
            "STACKCTL_REGISTRY_MIRRORS",
            ghcr_mirror(&registry.oci(path)),
        );
        self.set_env("STACKCTL_INSECURE_REGISTRIES", registry.host.clone());
    }
}

/// The registry binary: `STACKCTL_TEST_REGISTRY`, else `docker-registry` on PATH. Missing, it
/// fails the test (never skips it).
pub fn registry_binary() -> std::path::PathBuf {
    if std::env::var_os("STACKCTL_TEST_REGISTRY").is_some_and(|v| !v.is_empty()) {
        return super::required_tool("STACKCTL_TEST_REGISTRY", "docker-registry");
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("docker-registry"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| super::required_tool("STACKCTL_TEST_REGISTRY", "docker-registry"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

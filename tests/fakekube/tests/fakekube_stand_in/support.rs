//! Shared support of the stand-in's tests: the real tools (helm to render the chart, kubectl
//! to check the stand-in against), a kube-rs client for a stand-in, and waits that always end.

#![allow(dead_code)] // Each test module uses a different part.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fakekube::FakeKube;
use serde_json::Value;

/// Every wait in these tests ends: a stand-in answer takes milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);

/// The repository root (this crate lives in `tests/fakekube`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A tool from the environment `scripts/toolchain.sh --print-env` sets. A missing tool fails
/// the test: these tests never skip.
pub fn required_tool(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{var} points at {}, which does not exist",
                path.display()
            );
            path
        }
        None => panic!(
            "{what} is required: {var} is not set. Run `eval \"$(scripts/toolchain.sh --print-env)\"` \
             (or use scripts/test, which does it)"
        ),
    }
}

pub fn kubectl_path() -> PathBuf {
    required_tool("STACKCTL_TEST_KUBECTL", "kubectl 1.37.1")
}

pub fn helm_path() -> PathBuf {
    required_tool("STACKCTL_TEST_HELM4", "helm 4.3.1")
}

/// The output of a finished command.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert!(
            self.success,
            "command failed ({:?}):\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        self.stdout
    }
}

/// Runs a command to completion, killing it after `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out_reader =
        std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                out_reader.join().unwrap_or_default(),
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        success: status.success(),
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// kubectl 1.37.1 against a stand-in, with a kubeconfig of its own and nothing from the
/// machine's environment.
pub struct Kubectl {
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(kube: &FakeKube) -> Self {
        let binary = kubectl_path();
        let dir = tempfile::tempdir().expect("temp dir");
        kube.write_kubeconfig(&dir.path().join("kubeconfig"))
            .expect("kubeconfig");
        Self { binary, dir }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("PATH", "/usr/bin:/bin")
            .args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(self.command(args), Duration::from_secs(60))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The objects the chart renders for CI (values.test.yaml + values.test.ci.yaml, release and
/// namespace `jetscale-ci`), rendered now by the real helm from the repository's charts, so
/// the test always applies what the chart renders today.
pub fn rendered_test_chart() -> (String, Vec<Value>) {
    let root = repo_root();
    let work = tempfile::tempdir().expect("temp dir");
    let chart = work.path().join("jetscale");
    copy_dir(&root.join("charts/jetscale"), &chart);
    // The service charts the umbrella depends on, as `helm dependency build` would place them.
    for dep in ["backend", "frontend"] {
        copy_dir(
            &root.join("charts").join(dep),
            &chart.join("charts").join(dep),
        );
    }
    let mut cmd = Command::new(helm_path());
    cmd.env_clear()
        .env("HOME", work.path())
        .env("HELM_CACHE_HOME", work.path().join("cache"))
        .env("HELM_CONFIG_HOME", work.path().join("config"))
        .env("HELM_DATA_HOME", work.path().join("data"))
        .args(["template", "jetscale-ci"])
        .arg(&chart)
        .args(["--namespace", "jetscale-ci", "--kube-version", "1.33.0"])
        .arg("-f")
        .arg(root.join("charts/jetscale/values.test.yaml"))
        .arg("-f")
        .arg(root.join("charts/jetscale/values.test.ci.yaml"));
    let text = run(cmd, Duration::from_secs(60)).ok();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("helm output is YAML");
    let objects: Vec<Value> = docs.into_iter().filter(|d| d.is_object()).collect();
    assert!(
        objects.len() > 10,
        "the test chart renders its objects: {text}"
    );
    (text, objects)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A kube-rs client for a stand-in, built from the kubeconfig it writes (as stackctl does).
pub async fn client(kube: &FakeKube) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&kube.kubeconfig()).expect("kubeconfig parses");
    let options = kube::config::KubeConfigOptions {
        context: Some(kube.context().to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("kube-rs accepts the kubeconfig");
    kube::Client::try_from(config).expect("client")
}

/// Runs a future with [`WAIT`] as its deadline.
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

/// Polls the stand-in's store until `probe` holds.
pub fn eventually<T>(
    kube: &FakeKube,
    what: &str,
    probe: impl FnMut(&fakekube::Store) -> Option<T>,
) -> T {
    kube.wait_for(what, WAIT, probe)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The name of the first pod in `namespace` for which `pred` holds, waiting for one.
pub fn wait_pod(
    kube: &FakeKube,
    namespace: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> String {
    eventually(kube, what, |s| {
        s.list("pods", Some(namespace))
            .into_iter()
            .find(|p| pred(p))
            .map(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    })
}

/// The first container's status of a pod (as JSON).
pub fn first_container(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

/// A namespace object to create.
pub fn namespace(name: &str) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// A minimal Deployment of `replicas` pods with one container.
pub fn deployment(name: &str, namespace: &str, replicas: i64) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": format!("ghcr.io/example/{name}:1.0"), "ports": [{"name": "http", "containerPort": 8000}]}]},
            },
        },
    })
}

/// The status condition of a type, if present.
pub fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Whether a Deployment reports Available=True for its current generation.
pub fn available(obj: &Value) -> bool {
    condition(obj, "Available").is_some_and(|c| c["status"] == "True")
        && obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
}

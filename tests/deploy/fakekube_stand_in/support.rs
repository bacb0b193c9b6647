//! Shared support: a stand-in cluster with a `stackctl::cluster::Cluster` connected to it,
//! the chart rendered by the real helm through stackctl's own render operation, synthetic
//! objects, and deadlines on every wait.

#![allow(dead_code)] // Each test module uses a different part.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fakekube::{FakeKube, Scenario};
use serde_json::{Value, json};
use stackctl::cluster::Cluster;
use stackctl::cluster::apply::{ApplyRequest, DEFAULT_HOOK_TIMEOUT, ObjectRef};
use stackctl::cluster::wait::{WaitRequest, WorkloadResult, wait};
use stackctl::environment::Environment;
use stackctl::helm::RenderedObject;
use stackctl::ops::{self, Context, DepsSource, Invocation, Notice, Progress};
use stackctl::process::Cancel;
use stackctl::values::Merged;

/// The deadline of every wait in these tests that is not itself under test: the stand-in
/// answers in milliseconds.
pub const WAIT: Duration = Duration::from_secs(30);

/// A stand-in cluster and stackctl's connection to it.
pub struct Stand {
    pub kube: FakeKube,
    pub cluster: Cluster,
    /// The run's cancellation the cluster is bound to.
    pub cancel: Cancel,
    _dir: tempfile::TempDir,
}

/// Start fakekube with `scenario` and connect to it as stackctl does (kubeconfig, context).
pub async fn stand_in(scenario: Scenario) -> Stand {
    let kube = FakeKube::start(scenario).expect("the stand-in starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let cancel = Cancel::new();
    let cluster = within(
        "connect",
        Cluster::connect(Some(&kubeconfig), kube.context(), &cancel),
    )
    .await
    .expect("stackctl connects to the stand-in");
    Stand {
        kube,
        cluster,
        cancel,
        _dir: dir,
    }
}

/// `fut`, failing the test after [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

/// A target of the chart as stackctl renders it.
pub struct Render {
    pub release: String,
    pub namespace: String,
    pub objects: Vec<RenderedObject>,
    pub values: Merged,
}

impl Render {
    pub fn request(&self) -> ApplyRequest<'_> {
        ApplyRequest {
            release: &self.release,
            namespace: &self.namespace,
            objects: &self.objects,
            values: Some(&self.values),
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }

    /// The render's objects of `kind`.
    pub fn of_kind(&self, kind: &str) -> Vec<&RenderedObject> {
        self.objects.iter().filter(|o| o.kind() == kind).collect()
    }
}

/// The CI variant (`test-ci`: values.test.yaml + values.test.ci.yaml), rendered once per
/// test run from today's chart.
pub fn ci_render() -> &'static Render {
    static RENDER: OnceLock<Render> = OnceLock::new();
    RENDER.get_or_init(|| render("test-ci"))
}

/// A production env (`envs/prod/console.yaml`): External Secrets on, so ExternalSecrets, a
/// SecretStore and the pre-install hooks (a ServiceAccount, the database bootstrap Job).
pub fn prod_render() -> &'static Render {
    static RENDER: OnceLock<Render> = OnceLock::new();
    RENDER.get_or_init(|| render("envs/prod/console.yaml"))
}

pub fn helm_path() -> PathBuf {
    match std::env::var_os("STACKCTL_TEST_HELM4").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "helm 4.3.1 is required: STACKCTL_TEST_HELM4 is not set. Run `eval \"$(scripts/toolchain.sh --print-env)\"` (or use scripts/test, which does it)"
        ),
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

struct NoProgress;

impl Progress for NoProgress {
    fn notice(&self, _: Notice<'_>) {}
    fn begin(&self, _: &str, _: usize) {}
    fn advance(&self, _: &str) {}
    fn end(&self) {}
}

/// Render `target` with stackctl's render operation in a copy of the repository (charts,
/// envs, stackctl.toml; no built `charts/*/charts/`), building the dependencies offline from
/// the local service charts, with a cache of its own. Runs on a thread of its own, since the
/// callers are inside a runtime.
fn render(target: &'static str) -> Render {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async move {
            let work = tempfile::tempdir().expect("temp dir");
            let repo = work.path().join("repo");
            for entry in ["charts", "envs", "stackctl.toml", ".gitignore"] {
                copy_tree(
                    &repo_root().join(entry),
                    &repo.join(entry),
                    entry == "charts",
                );
            }
            let invocation = Invocation {
                cwd: repo.clone(),
                helm: Some(helm_path()),
                cancel: Cancel::new(),
                progress: Arc::new(NoProgress),
            };
            let mut cx = Context::open(invocation).expect("the copy is a repository");
            let cache = work.path().join("cache");
            cx.env = Environment::from_pairs([(
                "STACKCTL_CACHE_DIR",
                cache.to_string_lossy().into_owned(),
            )]);
            let request = ops::render::RenderRequest {
                target: target.to_string(),
                cloud: None,
                source: DepsSource {
                    offline: true,
                    ..DepsSource::default()
                },
            };
            let rendering = ops::render::render(&cx, &request)
                .await
                .unwrap_or_else(|e| panic!("render {target}: {e}"));
            let rendered = match rendering.outcome {
                Ok(rendered) => rendered,
                Err(report) => panic!("helm cannot render {target}: {report:?}"),
            };
            assert!(
                rendered.rendered.objects.len() > 10,
                "{target} renders its objects"
            );
            Render {
                release: rendered.target.release.clone(),
                namespace: rendered.target.namespace.clone(),
                objects: rendered.rendered.objects,
                values: rendered.values,
            }
        })
    })
    .join()
    .expect("the render thread")
}

/// Copy a tree; with `skip_built`, without `<chart>/charts/` (the archives stackctl builds).
fn copy_tree(from: &Path, to: &Path, skip_built: bool) {
    if from.is_file() {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
        return;
    }
    for entry in walk(from) {
        let relative = entry.strip_prefix(from).unwrap();
        if skip_built && relative.iter().nth(1) == Some(std::ffi::OsStr::new("charts")) {
            continue;
        }
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A synthetic object, as if a template `test/synthetic.yaml` rendered it.
pub fn object(value: Value) -> RenderedObject {
    RenderedObject {
        source: "jetscale/templates/synthetic.yaml".to_string(),
        value,
    }
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

pub fn config_map(name: &str, data: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"key": data}})
}

/// A Deployment of one pod with container `app` (port 8000 named `http`).
pub fn deployment(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": format!("ghcr.io/example/{name}:1.0"), "ports": [{"name": "http", "containerPort": 8000}]}]},
            },
        },
    })
}

/// A Service selecting `app: <app>`, port `port` to `target` (a number or a port name).
pub fn service(name: &str, namespace: &str, app: &str, port: u16, target: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": port, "targetPort": target}]},
    })
}

pub fn statefulset(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "db", "image": "postgres:15-alpine"}]},
            },
        },
    })
}

pub fn job(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"job": name}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "task", "image": "busybox:1.36"}]},
            },
        },
    })
}

/// Wait for the synthetic `workloads` in `namespace` with `timeout`: the results and how
/// long it took.
pub async fn wait_for(
    stand: &Stand,
    namespace: &str,
    workloads: &[&Value],
    timeout: Duration,
) -> (Vec<WorkloadResult>, Duration) {
    let workloads = workloads.iter().map(|w| reference(w)).collect();
    wait_refs(stand, namespace, workloads, timeout).await
}

/// Wait for `workloads` in `namespace` with `timeout`: the results and how long it took.
pub async fn wait_refs(
    stand: &Stand,
    namespace: &str,
    workloads: Vec<ObjectRef>,
    timeout: Duration,
) -> (Vec<WorkloadResult>, Duration) {
    let request = WaitRequest {
        namespace: namespace.to_string(),
        workloads,
        timeout,
    };
    let started = std::time::Instant::now();
    let results = within("wait", wait(&stand.cluster, &request, &|_, _| {}))
        .await
        .expect("the wait ends without an environment error");
    (results, started.elapsed())
}

/// The reference of a synthetic object.
pub fn reference(value: &Value) -> ObjectRef {
    ObjectRef::new(
        value["apiVersion"].as_str().unwrap(),
        value["kind"].as_str().unwrap(),
        value["metadata"]["namespace"].as_str(),
        value["metadata"]["name"].as_str().unwrap(),
    )
}

/// Seed the stand-in with `objects` (namespace first), as a POST would.
pub fn seed(kube: &FakeKube, namespace_name: &str, objects: &[&Value]) {
    kube.create(namespace(namespace_name)).expect("namespace");
    for object in objects {
        kube.create((*object).clone())
            .unwrap_or_else(|e| panic!("seed {}: {e:?}", object["metadata"]["name"]));
    }
}

//! # fakekube: a test stand-in for a Kubernetes API server (it is not a Kubernetes)
//!
//! A loopback HTTP/1.1 server that answers the Kubernetes API calls stackctl makes (through
//! kube-rs) and the ones `kubectl` makes for the commands the tests run, with simulated
//! controllers in the spirit of kwok, so cluster code can be tested end to end on machines
//! that cannot run a real cluster. Scenarios script what the "cluster" does: pods that never
//! pull their image or crash-loop, Deployments whose status lags, namespaces stuck
//! Terminating, watches that drop, port-forwards whose target is down. A stub of the
//! platform's HTTP API ([`PlatformStub`], also a stand-in) is the target of port-forwards.
//!
//! ```no_run
//! use fakekube::{FakeKube, Scenario};
//! let kube = FakeKube::start(Scenario::ready()).unwrap();
//! kube.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig")).unwrap();
//! // … run stackctl or kubectl with KUBECONFIG=/tmp/kubeconfig …
//! let deployment = kube.store().get("deployments.apps", "kube-system", "coredns");
//! assert!(deployment.is_some());
//! ```
//!
//! What is faithful and what is not is listed in the crate's README.

mod bootstrap;
mod controllers;
mod crud;
mod discovery;
mod faults;
mod handlers;
mod http;
mod kubeconfig;
mod logs;
mod meta;
mod patch;
mod portforward;
mod resources;
mod router;
mod scenario;
mod selectors;
mod status;
mod store;
mod stub;
mod table;
mod validation;
mod watch;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::Value;

pub use discovery::GIT_VERSION;
pub use resources::CrdSpec;
pub use scenario::{
    Behaviour, DeploymentRule, Fault, ForwardTarget, LogRule, PodMatch, PodRule, PortForwardRule,
    Scenario,
};
pub use status::ApiError;
pub use store::Store;
pub use stub::{ACCESS_TOKEN, StubConfig, StubFault};

/// A server running on its own thread and tokio runtime, so that synchronous tests (which
/// run the real binaries) and async tests alike can use it; stopped on drop.
struct Background {
    trigger: http::ShutdownTrigger,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    fn spawn<T, F, Fut>(name: &str, launch: F) -> io::Result<(T, Self)>
    where
        T: Send + 'static,
        F: FnOnce(http::Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = io::Result<T>>,
    {
        let (trigger, shutdown) = http::shutdown_pair();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match launch(shutdown.clone()).await {
                        Ok(started) => {
                            let _ = ready_tx.send(Ok(started));
                            shutdown.wait().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(200));
            })?;
        let started = ready_rx.recv().map_err(|_| {
            io::Error::other(format!("{name}: the server thread ended before starting"))
        })??;
        Ok((
            started,
            Self {
                trigger,
                thread: Some(thread),
            },
        ))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.trigger.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Started {
    addr: SocketAddr,
    stub_addr: Option<SocketAddr>,
    store: Arc<Store>,
}

/// A running stand-in cluster. Dropping it stops the server, its controllers and the stub.
pub struct FakeKube {
    addr: SocketAddr,
    stub_addr: Option<SocketAddr>,
    context: String,
    store: Arc<Store>,
    startup: Duration,
    // Last: stopped after the fields above are no longer needed.
    _background: Background,
}

impl FakeKube {
    /// Starts the stand-in on a free 127.0.0.1 port, with the scenario's cluster, controllers
    /// and (unless disabled) the platform stub. Returns once it accepts connections.
    pub fn start(scenario: Scenario) -> io::Result<Self> {
        let begun = Instant::now();
        let context = scenario.context.clone();
        let (started, background) =
            Background::spawn("fakekube", move |shutdown| launch(scenario, shutdown))?;
        Ok(Self {
            addr: started.addr,
            stub_addr: started.stub_addr,
            context,
            store: started.store,
            startup: begun.elapsed(),
            _background: background,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The kubeconfig context (and cluster and user) name.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The platform stub's URL, when it runs.
    pub fn stub_url(&self) -> Option<String> {
        self.stub_addr.map(|a| format!("http://{a}"))
    }

    /// How long [`FakeKube::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// A kubeconfig pointing at this server.
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.url(), &self.context)
    }

    pub fn write_kubeconfig(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// The objects, for assertions (`store().get("deployments.apps", "ns", "web")`).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Polls `probe` against the store until it returns `Some`, or fails after `timeout` with
    /// a message naming `what`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&Store) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe(&self.store) {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "fakekube: timed out after {timeout:?} waiting for {what}"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Creates an object directly (as a POST would), e.g. to seed a test. The namespace comes
    /// from `metadata.namespace`.
    pub fn create(&self, object: Value) -> Result<Value, ApiError> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let rt = self
            .store
            .table
            .by_kind(group, kind)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!("no kind {kind:?} is served for {api_version:?}"))
            })?;
        let namespace = meta::namespace(&object).to_string();
        self.store
            .write(|txn| crud::create(txn, &rt, &namespace, object, false))
    }

    /// Forgets the watch history: any watch resumed from an older resourceVersion gets 410.
    pub fn compact(&self) {
        self.store.compact();
    }

    /// Ends every open watch stream, as an apiserver restart would.
    pub fn reset_watches(&self) {
        self.store.reset_watches();
    }
}

async fn launch(scenario: Scenario, shutdown: http::Shutdown) -> io::Result<Started> {
    let table = Arc::new(resources::ResourceTable::new(&scenario.crds));
    let store = Arc::new(Store::new(
        table,
        store::StoreSettings {
            history_window: scenario.history_window.max(1),
        },
    ));
    bootstrap::seed(&store);
    let stub_addr = if scenario.stub.enabled {
        let (listener, addr) = stub::bind_loopback().await?;
        tokio::spawn(stub::serve(
            listener,
            scenario.stub.clone(),
            shutdown.clone(),
        ));
        Some(addr)
    } else {
        None
    };
    let (listener, addr) = stub::bind_loopback().await?;
    let scenario = Arc::new(scenario);
    let app = Arc::new(router::App {
        store: store.clone(),
        scenario: scenario.clone(),
        faults: faults::Faults::new(&scenario.faults),
        stub_addr,
        shutdown: shutdown.clone(),
    });
    tokio::spawn(controllers::run(store.clone(), scenario, shutdown.clone()));
    tokio::spawn(http::serve(listener, shutdown, move |req| {
        let app = app.clone();
        async move {
            // A bug in the stand-in answers 500, as an apiserver recovering a panic does,
            // instead of dropping the connection.
            AssertUnwindSafe(router::handle(app, req))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    http::error(&ApiError::internal(
                        "fakekube: internal error (a bug in the stand-in; see its stderr)",
                    ))
                })
        }
    }));
    Ok(Started {
        addr,
        stub_addr,
        store,
    })
}

/// The platform stub on its own (a stand-in for the platform's HTTP API), for tests that
/// need it without a cluster. Stopped on drop.
pub struct PlatformStub {
    addr: SocketAddr,
    _background: Background,
}

impl PlatformStub {
    pub fn start(config: StubConfig) -> io::Result<Self> {
        let (addr, background) = Background::spawn("fakekube-stub", move |shutdown| async move {
            let (listener, addr) = stub::bind_loopback().await?;
            tokio::spawn(stub::serve(listener, config, shutdown));
            Ok(addr)
        })?;
        Ok(Self {
            addr,
            _background: background,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

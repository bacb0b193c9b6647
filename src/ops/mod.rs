//! Operations: one function per thing a user can ask stackctl to do. Each takes a context
//! (the repository and its configuration, the environment, helm, the run's cancellation and
//! a progress sink) and the request's own parameters, and returns a typed result; none
//! prints. Commands (`src/commands/`) turn arguments into a call of one operation and hand
//! its result to `report/`.
//!
//! Long operations tell their progress through [`Progress`], which the report layer draws on
//! a terminal. An interrupted operation returns an error of kind
//! [`crate::error::ErrorKind::Cancelled`], having left every file it writes as it was or
//! complete.

pub mod deps;
pub mod doctor;
pub mod publish;
pub mod render;
pub mod validate;
pub mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::helm::Helm;
use crate::oci::cache::ChartCache;
use crate::process::Cancel;
use crate::repo::Repo;

/// Where progress of long work goes: implemented by the report layer, which decides whether
/// and how to show it (a bar on a terminal, nothing in machine output).
pub trait Progress: Send + Sync {
    /// A line for people, on its own: a banner, a warning.
    fn notice(&self, notice: Notice<'_>);
    /// Work over `total` items starts (`validating`, 12).
    fn begin(&self, what: &str, total: usize);
    /// One item is done.
    fn advance(&self, item: &str);
    /// The work is over.
    fn end(&self);
}

/// A notice, by how it reads.
#[derive(Debug, Clone, Copy)]
pub enum Notice<'a> {
    /// Something the user should keep in mind (an active dependency link).
    Banner(&'a str),
    /// Something stackctl worked around.
    Warning(&'a str),
}

/// A progress sink that shows nothing (tests, library use).
pub struct Silent;

impl Progress for Silent {
    fn notice(&self, _: Notice<'_>) {}
    fn begin(&self, _: &str, _: usize) {}
    fn advance(&self, _: &str) {}
    fn end(&self) {}
}

/// What every operation gets from the invocation, inside a repository or not.
#[derive(Clone)]
pub struct Invocation {
    /// The directory stackctl runs in (after `-C`).
    pub cwd: PathBuf,
    /// `--helm`, when given.
    pub helm: Option<PathBuf>,
    pub cancel: Cancel,
    pub progress: Arc<dyn Progress>,
}

/// An operation's context inside a repository: the repository, its environment and helm.
pub struct Context {
    pub invocation: Invocation,
    pub repo: Repo,
    pub env: Environment,
    helm: HelmProbe,
}

impl Context {
    /// Open the repository around the invocation's directory and start asking helm its
    /// version in the background (see [`HelmProbe`]); an operation that needs helm calls
    /// [`Context::require_helm`] first.
    pub fn open(invocation: Invocation) -> Result<Context> {
        let repo = Repo::discover(&invocation.cwd)?;
        let env = Environment::load(&repo.root)?;
        // The helm version memo lives in the cache; without a cache dir helm is simply asked.
        let memo_dir = ChartCache::default_dir(&env).ok();
        let helm = HelmProbe::start(invocation.helm.as_deref(), memo_dir, &invocation.cancel);
        Ok(Context {
            invocation,
            repo,
            env,
            helm,
        })
    }

    pub fn cancel(&self) -> &Cancel {
        &self.invocation.cancel
    }

    pub fn progress(&self) -> &dyn Progress {
        self.invocation.progress.as_ref()
    }

    /// An error when helm cannot be found: operations that render call this before anything
    /// else, so a missing helm is the first thing they report.
    pub fn require_helm(&self) -> Result<()> {
        match self
            .helm
            .missing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The checked helm, waiting for the probe if it is still running.
    pub async fn helm(&self) -> Result<&Helm> {
        self.helm.get().await
    }

    /// `result`, unless helm turned out unusable: that error comes first, as a missing helm is
    /// the first thing to fix.
    pub async fn helm_first<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.helm().await?;
        }
        result
    }

    /// An error if the run was interrupted: operations call it between phases, so that
    /// nothing is written after the user asked to stop.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.cancel().is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }
}

/// helm, found at once and asked its version in the background. Starting helm costs tens of
/// milliseconds, as much as everything else a cached run does, so the question runs while
/// the lock is checked and the dependencies are resolved instead of before.
struct HelmProbe {
    /// Why helm cannot be found, until someone is told.
    missing: std::sync::Mutex<Option<Error>>,
    pending: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Result<Helm>>>>,
    ready: tokio::sync::OnceCell<Helm>,
}

impl HelmProbe {
    /// Locate helm now and, when it is there, start reading its version.
    fn start(flag: Option<&Path>, memo_dir: Option<PathBuf>, cancel: &Cancel) -> HelmProbe {
        let (missing, pending) = match crate::helm::locate(flag) {
            Err(error) => (Some(error), None),
            Ok(_) => {
                let flag = flag.map(Path::to_path_buf);
                let cancel = cancel.clone();
                let handle = tokio::spawn(async move {
                    Helm::discover_memoized(flag.as_deref(), memo_dir.as_deref(), &cancel).await
                });
                (None, Some(handle))
            }
        };
        HelmProbe {
            missing: std::sync::Mutex::new(missing),
            pending: tokio::sync::Mutex::new(pending),
            ready: tokio::sync::OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&Helm> {
        if let Some(helm) = self.ready.get() {
            return Ok(helm);
        }
        if let Some(error) = self
            .missing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(error);
        }
        let handle = self.pending.lock().await.take();
        let Some(handle) = handle else {
            return self.ready.get().ok_or_else(|| {
                Error::environment("helm could not be checked (see the error above)")
            });
        };
        let helm = handle
            .await
            .map_err(|_| Error::internal("checking the helm version failed unexpectedly"))??;
        Ok(self.ready.get_or_init(|| async { helm }).await)
    }
}

/// Where dependency charts come from, besides what `stackctl.toml` says: the flags every
/// command that builds the chart's dependencies takes.
#[derive(Debug, Clone, Default)]
pub struct DepsSource {
    /// No network: the cache and the local chart sources only.
    pub offline: bool,
    /// `FROM=TO` registry mirrors.
    pub mirrors: Vec<String>,
    /// Registries spoken to over plain HTTP.
    pub insecure: Vec<String>,
}

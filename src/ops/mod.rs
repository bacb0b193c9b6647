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

pub mod cluster;
pub mod deps;
pub mod doctor;
pub mod init;
pub mod publish;
pub mod render;
pub mod test;
pub mod validate;
pub mod values;

use std::path::PathBuf;
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
    /// A step of a long operation beginning (`deploying … to kind-kind`).
    Step(&'a str),
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
    /// Open the repository around the invocation's directory. helm is not looked at until an
    /// operation asks for it ([`Context::require_helm`]).
    pub fn open(invocation: Invocation) -> Result<Context> {
        let repo = Repo::discover(&invocation.cwd)?;
        check_entries(&repo)?;
        Context::with_repo(invocation, repo)
    }

    /// The context of an operation on `repo`, opened by the operation itself (`init` opens
    /// it without its `stackctl.toml`).
    pub fn with_repo(invocation: Invocation, repo: Repo) -> Result<Context> {
        let env = Environment::load(&repo.root)?;
        // The helm version memo lives in the cache; without a cache dir helm is simply asked.
        let memo_dir = ChartCache::default_dir(&env).ok();
        let helm = HelmProbe {
            flag: invocation.helm.clone(),
            memo_dir,
            cancel: invocation.cancel.clone(),
            pending: tokio::sync::Mutex::new(None),
            ready: tokio::sync::OnceCell::new(),
        };
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

    /// Find helm and start asking its version in the background, or say why helm cannot be
    /// used. Operations that render call this first, so a missing helm is the first thing
    /// they report, and the version question overlaps their other work.
    pub async fn require_helm(&self) -> Result<()> {
        self.helm.start().await
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

    /// The target a user names on the command line (a variant, an env file, a values file of
    /// the chart), for an operation that renders it: helm is required first.
    pub async fn named_target(
        &self,
        spec: &str,
        cloud: Option<&str>,
    ) -> Result<crate::target::Target> {
        self.require_helm().await?;
        let target =
            crate::engine::targets::resolve_target(&self.repo, &self.invocation.cwd, spec, cloud);
        self.helm_first(target).await
    }

    /// An error if the run was interrupted: operations call it between phases, and right
    /// before they write, so that nothing is written after the user asked to stop.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.cancel().is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }
}

/// helm, found when an operation first needs it and asked its version in the background.
/// Starting helm costs tens of milliseconds, as much as everything else a cached run does, so
/// the question runs while the lock is checked and the dependencies are resolved.
struct HelmProbe {
    flag: Option<PathBuf>,
    memo_dir: Option<PathBuf>,
    cancel: Cancel,
    pending: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Result<Helm>>>>,
    ready: tokio::sync::OnceCell<Helm>,
}

impl HelmProbe {
    /// Locate helm now and, unless already started, start reading its version.
    async fn start(&self) -> Result<()> {
        if self.ready.get().is_some() {
            return Ok(());
        }
        let mut pending = self.pending.lock().await;
        crate::helm::locate(self.flag.as_deref())?;
        if pending.is_none() {
            let flag = self.flag.clone();
            let memo_dir = self.memo_dir.clone();
            let cancel = self.cancel.clone();
            *pending = Some(tokio::spawn(async move {
                Helm::discover_memoized(flag.as_deref(), memo_dir.as_deref(), &cancel).await
            }));
        }
        Ok(())
    }

    async fn get(&self) -> Result<&Helm> {
        if let Some(helm) = self.ready.get() {
            return Ok(helm);
        }
        self.start().await?;
        let mut pending = self.pending.lock().await;
        if let Some(helm) = self.ready.get() {
            return Ok(helm);
        }
        let handle = pending.take().expect("started above");
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

/// Entries of `stackctl.toml` that name something that does not exist: a rule ID under
/// `[rules]` that no rule has, a `[targets]` entry for an env file that is not there. Either
/// would be ignored without a word (a rule level that silences nothing, settings no target
/// gets), so each is a configuration error at its line, with the closest existing name.
pub(crate) fn check_entries(repo: &Repo) -> Result<()> {
    let file = std::path::Path::new(crate::config::CONFIG_FILE);
    let config = &repo.config;
    let line = |section: &str, name: &str| {
        config
            .entry_lines
            .get(&(section.to_string(), name.to_string()))
            .copied()
    };
    let ids: Vec<&str> = crate::rules::all().map(|r| r.id).collect();
    for id in config.rules.keys() {
        if crate::rules::lookup(id).is_some() {
            continue;
        }
        let hint = match closest(id, ids.iter().copied()) {
            Some(near) => format!("did you mean \"{near}\"? docs/rules.md lists every rule ID"),
            None => "docs/rules.md lists every rule ID".to_string(),
        };
        return Err(Error::config(format!(
            "invalid {}: [rules] names {id:?}, which is not a rule",
            file.display()
        ))
        .at(file, line("rules", id))
        .with_hint(hint));
    }
    let envs: Vec<String> = crate::engine::layout::Layout::of(repo)
        .and_then(|layout| crate::engine::targets::env_files(repo, &layout))
        .unwrap_or_default()
        .iter()
        .map(|file| repo.display_path(file))
        .collect();
    // With no env file at all, the commands that need one say "no environments found",
    // which is also why every entry is stale.
    if envs.is_empty() {
        return Ok(());
    }
    for target in config.targets.keys() {
        if crate::engine::targets::is_table_pattern(target) {
            let applies = crate::engine::targets::table_pattern(target)
                .is_some_and(|pattern| envs.iter().any(|env| pattern.is_match(env)));
            if applies {
                continue;
            }
            return Err(Error::config(format!(
                "invalid {}: [targets.{target:?}] matches no env file",
                file.display()
            ))
            .at(file, line("targets", target))
            .with_hint("a pattern is a glob over env files relative to the repository root, like \"envs/staging/*\": fix it or remove the table"));
        }
        if repo.path(target).is_file() {
            continue;
        }
        let hint = match closest(target, envs.iter().map(String::as_str)) {
            Some(near) => format!(
                "did you mean [targets.\"{near}\"]? Keys are env files, relative to the repository root"
            ),
            None => "remove the entry, or key it by an env file, relative to the repository root"
                .to_string(),
        };
        return Err(Error::config(format!(
            "invalid {}: [targets.{target:?}] is for {target}, which does not exist",
            file.display()
        ))
        .at(file, line("targets", target))
        .with_hint(hint));
    }
    Ok(())
}

/// The candidate most like `name`, when one is close enough to be what was meant.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

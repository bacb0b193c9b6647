//! Resolving the locked dependencies into `<chart>/charts/<name>-<version>.tgz`.
//!
//! Each locked chart version comes from, in order: an active link (a local directory packaged
//! on the fly), the archive already in `charts/` when the build state proves it is the
//! published one, the content-addressed cache, then the OCI registry, or with `--offline` the
//! local chart sources of `stackctl.toml`. Every archive is verified (its `Chart.yaml` name
//! and version equal the lock entry) before it is written, and written atomically.
//!
//! The build state (`.stackctl/deps-state.json`) records the digest and origin of every
//! archive stackctl wrote. When it matches what is on disk, a build reads a few small files,
//! hashes the archives, and does no network I/O.
//!
//! A build has two phases. [`resolve`] finds the bytes of every archive (fetching into the
//! cache, which is written entry by entry, atomically) and writes nothing in `charts/`; it is
//! where a build waits, and where an interrupted build stops. [`Resolution::commit`] then
//! writes the archives, removes stale ones and saves the build state without awaiting
//! anything, so an interrupted build leaves `charts/` as it was, and a finished one leaves it
//! complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::deps::chartfile::{ChartFile, LockFile};
use crate::deps::links::{self, Link};
use crate::deps::package::{self, ArchiveMetadata};
use crate::environment::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::fsutil;
use crate::oci::RegistrySettings;
use crate::oci::cache::{CacheLookup, ChartCache};
use crate::oci::registry::RegistryClient;
use crate::oci::sha256_digest;
use crate::process::Cancel;
use crate::repo::Repo;

pub const STATE_FILE: &str = ".stackctl/deps-state.json";

/// Everything dependency resolution needs besides the repository.
pub struct DepsOptions {
    pub env: Environment,
    pub registries: RegistrySettings,
    pub cache: ChartCache,
    /// No network at all: the cache and local chart sources only.
    pub offline: bool,
    /// The run's cancellation, for the programs credential lookup runs.
    pub cancel: Cancel,
    /// Told of every problem worked around, as it happens (a corrupt cache entry, a stray
    /// file in `charts/`); the same text is in the outcome's `warnings`.
    pub on_warning: OnWarning,
}

/// Where a build reports what it worked around as it goes.
pub type OnWarning = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl DepsOptions {
    /// Options from the repository's configuration, the environment and command-line flags.
    pub fn new(
        repo: &Repo,
        env: Environment,
        offline: bool,
        cli_mirrors: &[String],
        cli_insecure: &[String],
        cancel: Cancel,
    ) -> Result<DepsOptions> {
        let registries =
            RegistrySettings::resolve(&repo.config.registries, &env, cli_mirrors, cli_insecure)?;
        let cache = ChartCache::open(ChartCache::default_dir(&env)?);
        Ok(DepsOptions {
            env,
            registries,
            cache,
            offline,
            cancel,
            on_warning: std::sync::Arc::new(|_: &str| {}),
        })
    }
}

/// Where an archive in `charts/` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Cache,
    Registry,
    Local,
    Link,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Cache => "cache",
            SourceKind::Registry => "registry",
            SourceKind::Local => "local",
            SourceKind::Link => "link",
        }
    }

    /// Published artifacts (from the cache or a registry) stay valid until the lock changes;
    /// packaged directories are repackaged on every build because their files change.
    fn is_published(self) -> bool {
        matches!(self, SourceKind::Cache | SourceKind::Registry)
    }
}

/// One archive of the build.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltDependency {
    pub name: String,
    /// The locked version.
    pub version: String,
    /// File name in `charts/`.
    pub file: String,
    pub source: SourceKind,
    /// The reference pulled, the cache, or the directory packaged.
    pub origin: String,
    pub digest: String,
    /// The version the archive declares (differs from `version` only for links).
    pub archive_version: String,
    /// Whether this build wrote the file.
    pub written: bool,
}

/// What a build did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutcome {
    pub charts_dir: PathBuf,
    pub dependencies: Vec<BuiltDependency>,
    /// Files removed from `charts/` because the lock no longer has them.
    pub removed: Vec<String>,
    #[serde(skip)]
    pub links: Vec<Link>,
    /// Problems worked around (a corrupt cache entry refetched, an unexpected entry in charts/).
    pub warnings: Vec<String>,
    /// Registry hosts for which no credentials exist, whose charts came from the local chart
    /// sources (which hold exactly the locked versions) instead.
    #[serde(skip)]
    pub local_fallback: BTreeSet<String>,
}

impl BuildOutcome {
    /// True when nothing was written or removed.
    pub fn unchanged(&self) -> bool {
        self.removed.is_empty() && self.dependencies.iter().all(|d| !d.written)
    }
}

/// The record of what stackctl wrote into `charts/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildState {
    /// The chart directory, repository-relative.
    pub chart: String,
    pub archives: BTreeMap<String, StateEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEntry {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub digest: String,
    pub source: SourceKind,
    pub origin: String,
}

impl BuildState {
    /// The state for the repository's chart; empty when absent, unreadable or for another
    /// chart (it is only an accelerator: losing it costs a cache read, never correctness).
    pub fn load(repo: &Repo) -> BuildState {
        let chart = repo.display_path(&repo.chart_dir());
        fsutil::read_regular(&repo.path(STATE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<BuildState>(&bytes).ok())
            .filter(|state| state.chart == chart)
            .unwrap_or(BuildState {
                chart,
                archives: BTreeMap::new(),
            })
    }

    fn save(&self, repo: &Repo) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal(format!("cannot encode the build state: {e}")))?;
        fsutil::write_atomic(&repo.path(STATE_FILE), format!("{text}\n").as_bytes())
    }
}

/// One distinct chart version the lock asks for (aliases of one chart share it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedChart {
    pub name: String,
    pub version: String,
    pub repository: String,
}

impl LockedChart {
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// The distinct chart versions of a lock, in lock order.
pub fn locked_charts(lock: &LockFile) -> Vec<LockedChart> {
    let mut seen = BTreeSet::new();
    lock.dependencies
        .iter()
        .filter(|d| seen.insert((d.fields.name.clone(), d.fields.version.clone())))
        .map(|d| LockedChart {
            name: d.fields.name.clone(),
            version: d.fields.version.clone(),
            repository: d.fields.repository.clone(),
        })
        .collect()
}

/// Every archive `lock` pins, found, with nothing written in `charts/` yet.
pub struct Resolution {
    charts_dir: PathBuf,
    /// Each dependency and, when its file must be (re)written, the bytes to write.
    archives: Vec<(BuiltDependency, Option<Vec<u8>>)>,
    previous: BuildState,
    state: BuildState,
    links: Vec<Link>,
    warnings: Vec<String>,
    local_fallback: BTreeSet<String>,
    on_warning: OnWarning,
}

/// Find the bytes of every archive `lock` pins (see the module's documentation).
pub async fn resolve(repo: &Repo, lock: &LockFile, options: &DepsOptions) -> Result<Resolution> {
    let links = links::load(repo)?;
    let mut resolver = Resolver {
        repo,
        options,
        registry: None,
        warnings: Vec::new(),
        local_fallback: BTreeSet::new(),
    };
    let charts_dir = repo.chart_dir().join("charts");
    let previous = BuildState::load(repo);
    let mut state = BuildState {
        chart: previous.chart.clone(),
        archives: BTreeMap::new(),
    };
    let mut archives = Vec::new();
    for locked in locked_charts(lock) {
        let link = links.iter().find(|l| l.chart == locked.name);
        let (built, bytes) = resolver
            .resolve(
                &locked,
                link,
                previous.archives.get(&locked.file_name()),
                &charts_dir,
            )
            .await?;
        state.archives.insert(
            built.file.clone(),
            StateEntry {
                name: locked.name.clone(),
                version: locked.version.clone(),
                repository: locked.repository.clone(),
                digest: built.digest.clone(),
                source: built.source,
                origin: built.origin.clone(),
            },
        );
        archives.push((built, bytes));
    }
    Ok(Resolution {
        charts_dir,
        archives,
        previous,
        state,
        links,
        warnings: resolver.warnings,
        local_fallback: resolver.local_fallback,
        on_warning: options.on_warning.clone(),
    })
}

impl Resolution {
    /// Write what [`resolve`] found. Nothing here awaits: see the module's documentation.
    pub fn commit(self, repo: &Repo) -> Result<BuildOutcome> {
        let _commit = crate::process::committing();
        let Resolution {
            charts_dir,
            archives,
            previous,
            state,
            links,
            mut warnings,
            local_fallback,
            on_warning,
        } = self;
        std::fs::create_dir_all(&charts_dir)
            .map_err(|e| Error::io("create directory", &charts_dir, e))?;
        let mut dependencies = Vec::new();
        for (mut built, bytes) in archives {
            if let Some(bytes) = bytes {
                built.written = write_if_changed(&charts_dir.join(&built.file), &bytes)?;
            }
            dependencies.push(built);
        }
        let expected: BTreeSet<String> = dependencies.iter().map(|d| d.file.clone()).collect();
        let before = warnings.len();
        let removed = remove_stale(&charts_dir, &expected, &mut warnings)?;
        for warning in &warnings[before..] {
            on_warning(warning);
        }
        if state.archives != previous.archives {
            state.save(repo)?;
        }
        Ok(BuildOutcome {
            charts_dir,
            dependencies,
            removed,
            links,
            warnings,
            local_fallback,
        })
    }
}

struct Resolver<'a> {
    repo: &'a Repo,
    options: &'a DepsOptions,
    /// Created on first use, so a build with everything in place never opens a connection
    /// or looks up a credential.
    registry: Option<RegistryClient>,
    warnings: Vec<String>,
    /// Registry hosts without credentials whose charts were taken from the local chart
    /// sources instead.
    local_fallback: BTreeSet<String>,
}

impl Resolver<'_> {
    async fn resolve(
        &mut self,
        locked: &LockedChart,
        link: Option<&Link>,
        recorded: Option<&StateEntry>,
        charts_dir: &Path,
    ) -> Result<(BuiltDependency, Option<Vec<u8>>)> {
        let target = charts_dir.join(locked.file_name());
        if let Some(link) = link {
            return self.package_directory(locked, &link.dir, SourceKind::Link);
        }
        // A `file://` dependency is a chart of this repository, relative to the umbrella
        // chart (`file://../app`): packaged from there on every build, like helm does.
        if let Some(path) = locked.repository.strip_prefix("file://") {
            let dir = self.repo.chart_dir().join(path);
            return self.package_directory(locked, &dir, SourceKind::Local);
        }
        if let Some(entry) = recorded.filter(|e| {
            e.source.is_published()
                && e.name == locked.name
                && e.version == locked.version
                && e.repository == locked.repository
        }) && let Ok(bytes) =
            fsutil::read_regular_within(&target, self.repo.config.registries.max_blob_size.0)
            && sha256_digest(&bytes) == entry.digest
        {
            let built = BuiltDependency {
                name: locked.name.clone(),
                version: locked.version.clone(),
                file: locked.file_name(),
                source: entry.source,
                origin: entry.origin.clone(),
                digest: entry.digest.clone(),
                archive_version: locked.version.clone(),
                written: false,
            };
            return Ok((built, None));
        }
        let cache = &self.options.cache;
        match cache.get(&locked.repository, &locked.name, &locked.version)? {
            CacheLookup::Hit { bytes, digest } => {
                let origin = format!("cache {}", cache.root().display());
                verify(&bytes, locked, &origin, ErrorKind::Environment)?;
                let built = BuiltDependency {
                    name: locked.name.clone(),
                    version: locked.version.clone(),
                    file: locked.file_name(),
                    source: SourceKind::Cache,
                    origin,
                    digest,
                    archive_version: locked.version.clone(),
                    written: false,
                };
                return Ok((built, Some(bytes)));
            }
            CacheLookup::Corrupt {
                path,
                expected,
                actual,
            } => {
                let warning = format!(
                    "cache entry for {} {} was corrupt ({} has digest {actual}, expected {expected}); removed it{}",
                    locked.name,
                    locked.version,
                    path.display(),
                    if self.options.offline {
                        ""
                    } else {
                        " and fetching it again"
                    }
                );
                (self.options.on_warning)(&warning);
                self.warnings.push(warning);
            }
            CacheLookup::Miss => {}
        }
        if self.options.offline {
            let Some(source) = self.repo.local_sources().remove(&locked.name) else {
                return Err(Error::config(format!(
                    "--offline: {} {} is neither in the cache nor a local chart source",
                    locked.name, locked.version
                ))
                .with_hint(format!(
                    "add `{} = \"<chart dir>\"` under [dependencies.sources] in stackctl.toml, or build once online to fill the cache",
                    locked.name
                )));
            };
            let dir = self.repo.path(source);
            return self.package_directory(locked, &dir, SourceKind::Local);
        }
        let location = self.options.registries.locate(&locked.repository)?;
        let origin = format!(
            "oci://{}",
            location.display_reference(&locked.name, &locked.version)
        );
        let options = self.options;
        let registry = self.registry.get_or_insert_with(|| {
            RegistryClient::new(
                &options.registries,
                options.env.clone(),
                options.cancel.clone(),
            )
        });
        // Without credentials the registry usually refuses (GHCR asks for a token even for
        // public packages), while the repository carries the service charts: when its local
        // source holds exactly the locked version, that is the same chart. A mirror is an
        // explicit choice of where to fetch from, and CI must prove the published artifacts.
        let local = match location.mirrored {
            false => local_source_at_lock(self.repo, locked),
            true => None,
        };
        let without_credentials = local.is_some() && !registry.has_credentials(&location).await?;
        if without_credentials
            && !options.env.is_ci()
            && let Some(dir) = &local
        {
            self.local_fallback.insert(location.host.clone());
            return self.package_directory(locked, dir, SourceKind::Local);
        }
        let bytes = match registry
            .pull_chart(&location, &locked.name, &locked.version)
            .await
        {
            Ok(bytes) => bytes,
            Err(e) if without_credentials && !e.is_cancelled() => {
                return Err(e.with_hint(ci_without_credentials_hint(&location)));
            }
            Err(e) => return Err(e),
        };
        verify(&bytes, locked, &origin, ErrorKind::Environment)?;
        let digest = cache.put(&locked.repository, &locked.name, &locked.version, &bytes)?;
        let built = BuiltDependency {
            name: locked.name.clone(),
            version: locked.version.clone(),
            file: locked.file_name(),
            source: SourceKind::Registry,
            origin,
            digest,
            archive_version: locked.version.clone(),
            written: false,
        };
        Ok((built, Some(bytes)))
    }

    /// Package a chart directory (a link or a local source).
    fn package_directory(
        &self,
        locked: &LockedChart,
        dir: &Path,
        source: SourceKind,
    ) -> Result<(BuiltDependency, Option<Vec<u8>>)> {
        let packaged = package::package_dir(dir, None).map_err(|e| {
            let what = if source == SourceKind::Link {
                "linked"
            } else {
                "local source"
            };
            Error {
                message: format!(
                    "cannot package the {what} chart {}: {}",
                    dir.display(),
                    e.message
                ),
                ..e
            }
        })?;
        let origin = dir.display().to_string();
        if source == SourceKind::Link {
            // A link exists to try unreleased versions: only the chart name must match.
            if packaged.name != locked.name {
                return Err(Error::config(format!(
                    "the chart linked for {} ({origin}) is named {}",
                    locked.name, packaged.name
                ))
                .with_hint(format!(
                    "link the {} chart's directory: `stackctl deps link {} <dir>`",
                    locked.name, locked.name
                )));
            }
        } else {
            verify(&packaged.bytes, locked, &origin, ErrorKind::Config)?;
        }
        let built = BuiltDependency {
            name: locked.name.clone(),
            version: locked.version.clone(),
            file: locked.file_name(),
            source,
            origin,
            digest: packaged.digest,
            archive_version: packaged.version,
            written: false,
        };
        Ok((built, Some(packaged.bytes)))
    }
}

/// The local chart source of `locked` (`[dependencies.sources]`), when its `Chart.yaml`
/// declares exactly the locked name and version.
fn local_source_at_lock(repo: &Repo, locked: &LockedChart) -> Option<PathBuf> {
    let dir = repo.path(repo.local_sources().remove(&locked.name)?);
    let chart = ChartFile::load(&dir).ok()?;
    let declares = |field: &Option<crate::deps::document::ScalarText>, want: &str| {
        field.as_ref().is_some_and(|f| f.value == want)
    };
    (declares(&chart.name, &locked.name) && declares(&chart.version, &locked.version))
        .then_some(dir)
}

/// The hint of a registry failure under `CI=true` when no credentials exist for the
/// registry: local chart sources would hold the chart, but CI validates what is published.
fn ci_without_credentials_hint(location: &crate::oci::RepositoryLocation) -> String {
    let host = &location.host;
    let token = if location.github {
        "give the job a token (GITHUB_TOKEN with read:packages)".to_string()
    } else {
        format!("log the job in (`helm registry login {host}`)")
    };
    format!(
        "no credentials for {host}, and under CI=true the registry is required (local chart sources stand in for it only outside CI): {token}, or pass --offline to validate against the local chart sources on purpose"
    )
}

/// Check that an archive is the chart version the lock asks for.
fn verify(
    bytes: &[u8],
    locked: &LockedChart,
    origin: &str,
    kind: ErrorKind,
) -> Result<ArchiveMetadata> {
    let metadata = package::read_metadata(bytes).map_err(|why| {
        Error::new(
            kind,
            format!(
                "the archive for {} {} from {origin} is unusable: {why}",
                locked.name, locked.version
            ),
        )
    })?;
    if metadata.name != locked.name || metadata.version != locked.version {
        return Err(Error::new(
            kind,
            format!(
                "{origin} holds chart {} {}, but Chart.lock asks for {} {}",
                metadata.name, metadata.version, locked.name, locked.version
            ),
        )
        .with_hint(if kind == ErrorKind::Config {
            "bump the local chart's version to the locked one, or `stackctl deps bump` to the local version"
        } else {
            "the registry serves another chart under this tag: check the repository and version in Chart.yaml"
        }));
    }
    Ok(metadata)
}

/// Write `bytes` unless the file already holds exactly them; returns whether it wrote.
fn write_if_changed(target: &Path, bytes: &[u8]) -> Result<bool> {
    // A file larger than `bytes` cannot equal them: no need to read more.
    if fsutil::read_regular_within(target, bytes.len() as u64)
        .is_ok_and(|existing| existing == bytes)
    {
        return Ok(false);
    }
    fsutil::write_atomic(target, bytes)?;
    Ok(true)
}

/// Remove archives the lock no longer lists and leftovers of interrupted builds; warn about
/// anything else, which helm would load as an extra subchart.
fn remove_stale(
    charts_dir: &Path,
    expected: &BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let entries =
        std::fs::read_dir(charts_dir).map_err(|e| Error::io("read directory", charts_dir, e))?;
    let mut names: Vec<(String, bool)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.file_type().map(|t| t.is_dir()).unwrap_or(false),
            )
        })
        .collect();
    names.sort();
    for (name, is_dir) in names {
        if expected.contains(&name) {
            continue;
        }
        let path = charts_dir.join(&name);
        if fsutil::is_temp_leftover(&name) {
            let _ = std::fs::remove_file(&path);
        } else if !is_dir && (name.ends_with(".tgz") || name.ends_with(".tgz.prov")) {
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            removed.push(name);
        } else if !name.starts_with('.') && !name.starts_with('_') {
            warnings.push(format!(
                "{} is not a locked dependency, but helm will load it as a subchart: remove it",
                path.display()
            ));
        }
    }
    Ok(removed)
}

/// Whether an archive in `charts/` is there and what it is, for `deps status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// The file is there and has the digest the build recorded.
    Present,
    /// The file is there but stackctl did not write it (or it changed since).
    Unverified,
    Missing,
}

/// One dependency as `deps status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyStatus {
    /// Alias, else name.
    pub dependency: String,
    pub chart: String,
    pub requested: String,
    pub locked: Option<String>,
    pub repository: String,
    pub source: Option<SourceKind>,
    pub origin: Option<String>,
    pub file: Option<String>,
    pub presence: Presence,
    pub link: Option<PathBuf>,
}

/// The state of every dependency, read from disk only.
pub fn status(repo: &Repo) -> Result<Vec<DependencyStatus>> {
    let chart_dir = repo.chart_dir();
    let chart = ChartFile::load(&chart_dir)?;
    let lock = LockFile::load(&chart_dir)?;
    let links = links::load(repo)?;
    let state = BuildState::load(repo);
    let charts_dir = chart_dir.join("charts");
    Ok(chart
        .dependencies
        .iter()
        .enumerate()
        .map(|(index, dep)| {
            let locked = lock
                .as_ref()
                .and_then(|l| l.dependencies.get(index))
                .filter(|l| l.fields.name == dep.fields.name)
                .map(|l| l.fields.version.clone());
            let link = links
                .iter()
                .find(|l| l.chart == dep.fields.name)
                .map(|l| l.dir.clone());
            let file = locked
                .as_ref()
                .map(|v| format!("{}-{v}.tgz", dep.fields.name));
            let recorded = file.as_ref().and_then(|f| state.archives.get(f));
            let presence = match &file {
                None => Presence::Missing,
                Some(f) => match fsutil::read_regular_within(
                    &charts_dir.join(f),
                    repo.config.registries.max_blob_size.0,
                ) {
                    Err(_) => Presence::Missing,
                    Ok(bytes) => match recorded {
                        Some(entry) if entry.digest == sha256_digest(&bytes) => Presence::Present,
                        _ => Presence::Unverified,
                    },
                },
            };
            DependencyStatus {
                dependency: dep.fields.effective_name().to_string(),
                chart: dep.fields.name.clone(),
                requested: dep.fields.version.clone(),
                locked,
                repository: dep.fields.repository.clone(),
                source: if link.is_some() {
                    Some(SourceKind::Link)
                } else {
                    recorded.map(|e| e.source)
                },
                origin: recorded.map(|e| e.origin.clone()),
                file,
                presence,
                link,
            }
        })
        .collect())
}

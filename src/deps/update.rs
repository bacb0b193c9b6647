//! `deps update`: prove every pinned version exists, rewrite `Chart.lock` exactly as helm
//! would (only when its content changes), then build.

use std::collections::BTreeSet;

use crate::deps::build::{self, BuildOutcome, DepsOptions};
use crate::deps::chartfile::{ChartFile, DependencyEntry, HelmDependency, LOCK_FILE, LockFile};
use crate::deps::lock::{self, LockedDependency};
use crate::error::{Error, ErrorKind, Result};
use crate::fsutil;
use crate::oci::cache::CacheLookup;
use crate::oci::registry::RegistryClient;
use crate::repo::Repo;

/// What `deps update` did.
#[derive(Debug, Clone)]
pub struct UpdateOutcome {
    /// Whether Chart.lock was (re)written.
    pub lock_written: bool,
    pub build: BuildOutcome,
}

/// The lock text for a Chart.yaml, and whether it differs in content (entries or digest)
/// from the existing lock. `generated` is fresh only when the content changes.
pub fn planned_lock(chart: &ChartFile, existing: Option<&LockFile>) -> (String, bool) {
    let requested = chart.helm_dependencies();
    let entries = lock::lock_entries(&requested);
    let locked: Vec<HelmDependency> = entries.iter().map(LockedDependency::to_helm).collect();
    let digest = lock::helm_digest(&requested, &locked);
    let unchanged =
        existing.is_some_and(|lock| lock.digest() == digest && lock.helm_dependencies() == locked);
    match (unchanged, existing) {
        (true, Some(lock)) => (lock.source.text.clone(), false),
        _ => (
            lock::render_lock(&entries, &digest, &lock::generated_now()),
            true,
        ),
    }
}

/// Check that every pinned chart version exists: in its registry, or with `--offline` in the
/// cache or the local chart source (whose version must then equal the pin).
pub async fn verify_versions_exist(
    repo: &Repo,
    chart: &ChartFile,
    options: &DepsOptions,
) -> Result<()> {
    let mut seen = BTreeSet::new();
    let mut registry: Option<RegistryClient> = None;
    for dep in &chart.dependencies {
        let d = &dep.fields;
        if !seen.insert((d.repository.clone(), d.name.clone(), d.version.clone())) {
            continue;
        }
        // A `file://` chart is a directory of this repository: it must be the pinned version.
        if let Some(path) = d.repository.strip_prefix("file://") {
            let dir = repo.chart_dir().join(path);
            pinned_matches_local(repo, chart, dep, &dir, "the file:// chart")?;
            continue;
        }
        if options.offline {
            if let CacheLookup::Hit { .. } =
                options.cache.get(&d.repository, &d.name, &d.version)?
            {
                continue;
            }
            let Some(source) = repo.local_sources().remove(&d.name) else {
                return Err(Error::config(format!(
                    "--offline: cannot confirm {} {} exists: it is not in the cache and has no local chart source",
                    d.name, d.version
                ))
                .with_hint(format!(
                    "add `{} = \"<chart dir>\"` under [dependencies.sources] in stackctl.toml, or run without --offline",
                    d.name
                )));
            };
            pinned_matches_local(repo, chart, dep, &repo.path(source), "the local source")?;
            continue;
        }
        let location = options.registries.locate(&d.repository)?;
        let client = registry.get_or_insert_with(|| {
            RegistryClient::new(
                &options.registries,
                options.env.clone(),
                options.cancel.clone(),
            )
        });
        client
            .check_exists(&location, &d.name, &d.version)
            .await
            .map_err(|e| {
                let (line, _) = dep.version_line();
                if e.kind == ErrorKind::NotFound {
                    e.at(&chart.path, Some(line))
                } else {
                    e
                }
            })?;
    }
    Ok(())
}

/// The chart in `dir` is the one `dep` pins: same name, same version. `what` names it in
/// the message.
fn pinned_matches_local(
    repo: &Repo,
    chart: &ChartFile,
    dep: &DependencyEntry,
    dir: &std::path::Path,
    what: &str,
) -> Result<()> {
    let d = &dep.fields;
    let local = ChartFile::load(dir)?;
    if local.name() != d.name || local.version() != d.version {
        let (line, _) = dep.version_line();
        return Err(Error::config(format!(
            "Chart.yaml pins {} {} but {what} {} is {} {}",
            d.name,
            d.version,
            repo.display_path(&local.path),
            local.name(),
            local.version()
        ))
        .at(&chart.path, Some(line))
        .with_hint("pin the local chart's version, or run without --offline to use the registry"));
    }
    Ok(())
}

/// Verify, lock, build. The caller has checked that `chart`'s dependencies can be locked
/// (OCI, pinned, one version per chart). Everything that waits happens first; the lock and
/// `charts/` are then written without awaiting, so an interrupted update changes no file.
pub async fn update(
    repo: &Repo,
    chart: &ChartFile,
    options: &DepsOptions,
) -> Result<UpdateOutcome> {
    let chart_dir = repo.chart_dir();
    verify_versions_exist(repo, chart, options).await?;
    let existing = LockFile::load(&chart_dir)?;
    let (text, changed) = planned_lock(chart, existing.as_ref());
    let lock_path = chart_dir.join(LOCK_FILE);
    let lock = LockFile::parse(&lock_path, text.clone())?;
    let resolution = build::resolve(repo, &lock, options).await?;
    if options.cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let _commit = crate::process::committing();
    if changed {
        fsutil::write_atomic(&lock_path, text.as_bytes())?;
    }
    let build = resolution.commit(repo)?;
    Ok(UpdateOutcome {
        lock_written: changed,
        build,
    })
}

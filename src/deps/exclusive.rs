//! The repository's write lock: an advisory lock on the `.stackctl/` directory held while a run builds
//! `charts/`, rewrites `Chart.lock` or bumps versions, so that runs started together (an
//! editor, a pre-commit hook and a watch mode) take turns instead of replacing each other's
//! files. The second run waits, then finds `charts/` built and reuses it.
//!
//! The lock is `flock(2)` on the directory, through `std::fs::File::try_lock`: the kernel
//! releases it when the process ends, however it ends, so a crashed or killed run never leaves
//! the repository locked, and locking adds no file to the repository (a failed or dry run
//! leaves it as it was). Waiting polls, so the run's cancellation (Ctrl-C) ends the wait at once.

use std::fs::{File, TryLockError};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::repo::Repo;

/// What is locked: the directory of stackctl's per-repository state, repository-relative.
pub const LOCK_DIR: &str = ".stackctl";

/// How often a waiting run tries again.
const POLL: Duration = Duration::from_millis(50);

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
}

impl RepoLock {
    /// Take the lock, waiting while another run holds it. `on_wait` is called once, before the
    /// first wait. Cancel the wait by dropping the future (see `process::cancellable`).
    pub async fn acquire(repo: &Repo, on_wait: impl FnOnce(&str)) -> Result<RepoLock> {
        let path = repo.path(LOCK_DIR);
        std::fs::create_dir_all(&path).map_err(|e| Error::io("create directory", &path, e))?;
        let file = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RepoLock { _file: file }),
                Err(TryLockError::WouldBlock) => {
                    if let Some(tell) = on_wait.take() {
                        tell(LOCK_DIR);
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io("lock", &path, e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_taker_waits_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("charts")).unwrap();
        let repo = Repo::open(dir.path().to_path_buf()).unwrap();
        let first = RepoLock::acquire(&repo, |_| panic!("nobody holds it"))
            .await
            .unwrap();
        let waited = std::sync::atomic::AtomicBool::new(false);
        let second = tokio::time::timeout(
            Duration::from_millis(300),
            RepoLock::acquire(&repo, |_| {
                waited.store(true, std::sync::atomic::Ordering::SeqCst)
            }),
        )
        .await;
        assert!(second.is_err(), "the lock was taken twice");
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        drop(first);
        RepoLock::acquire(&repo, |_| {}).await.unwrap();
    }
}

//! A content-addressed cache of chart archives, shared by every repository on the machine.
//!
//! Layout under the cache directory (`$STACKCTL_CACHE_DIR`, else the user cache dir +
//! `stackctl`):
//!
//! ```text
//! charts/blobs/sha256/<hex>                       archive bytes, named by their SHA-256
//! charts/refs/<host>/<path>/<chart>/<version>     "sha256:<hex>": which blob a version is
//! ```
//!
//! Refs are keyed by the repository as `Chart.yaml` writes it (not by a mirror), because a
//! mirror serves the same artifacts. Every read re-hashes the blob: a tampered or truncated
//! entry is detected, removed, and reported to the caller, never used.

use std::path::{Component, Path, PathBuf};

use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::oci::sha256_digest;

pub const CACHE_DIR_VAR: &str = "STACKCTL_CACHE_DIR";

#[derive(Debug, Clone)]
pub struct ChartCache {
    root: PathBuf,
}

/// What a cache lookup found.
#[derive(Debug)]
pub enum CacheLookup {
    Hit {
        bytes: Vec<u8>,
        digest: String,
    },
    Miss,
    /// The entry's content no longer has its recorded digest; it has been removed.
    Corrupt {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

impl ChartCache {
    /// The cache directory for this environment.
    pub fn default_dir(env: &Environment) -> Result<PathBuf> {
        if let Some(dir) = env.get(CACHE_DIR_VAR) {
            return Ok(PathBuf::from(dir));
        }
        dirs::cache_dir()
            .map(|dir| dir.join("stackctl"))
            .ok_or_else(|| {
                Error::environment("cannot determine a cache directory (no HOME)")
                    .with_hint(format!("set {CACHE_DIR_VAR} to a writable directory"))
            })
    }

    pub fn open(root: impl Into<PathBuf>) -> ChartCache {
        ChartCache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join("charts/blobs/sha256").join(hex))
    }

    fn ref_path(&self, repository: &str, name: &str, version: &str) -> Result<PathBuf> {
        let location = repository.trim_start_matches("oci://");
        let relative = PathBuf::from(location).join(name).join(version);
        // The key comes from Chart.yaml: refuse anything that could escape the cache.
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Error::config(format!(
                "cannot cache {repository} {name} {version}: the reference has path components like `..`"
            )));
        }
        Ok(self.root.join("charts/refs").join(relative))
    }

    /// Look a chart version up, verifying the archive's digest.
    pub fn get(&self, repository: &str, name: &str, version: &str) -> Result<CacheLookup> {
        let ref_path = self.ref_path(repository, name, version)?;
        let recorded = match std::fs::read_to_string(&ref_path) {
            Ok(text) => text.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CacheLookup::Miss),
            Err(e) => return Err(Error::io("read", ref_path, e)),
        };
        let Some(blob) = self.blob_path(&recorded) else {
            let _ = std::fs::remove_file(&ref_path);
            return Ok(CacheLookup::Corrupt {
                path: ref_path,
                expected: "a sha256 digest".to_string(),
                actual: recorded,
            });
        };
        let bytes = match std::fs::read(&blob) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(&ref_path);
                return Ok(CacheLookup::Miss);
            }
            Err(e) => return Err(Error::io("read", blob, e)),
        };
        let actual = sha256_digest(&bytes);
        if actual != recorded {
            let _ = std::fs::remove_file(&blob);
            let _ = std::fs::remove_file(&ref_path);
            return Ok(CacheLookup::Corrupt {
                path: blob,
                expected: recorded,
                actual,
            });
        }
        Ok(CacheLookup::Hit {
            bytes,
            digest: actual,
        })
    }

    /// Store an archive for a chart version; returns its digest.
    pub fn put(&self, repository: &str, name: &str, version: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let blob = self
            .blob_path(&digest)
            .ok_or_else(|| Error::internal("a computed digest is malformed"))?;
        let present = std::fs::read(&blob)
            .map(|existing| sha256_digest(&existing) == digest)
            .unwrap_or(false);
        if !present {
            fsutil::write_atomic(&blob, bytes)?;
        }
        let ref_path = self.ref_path(repository, name, version)?;
        fsutil::write_atomic(&ref_path, format!("{digest}\n").as_bytes())?;
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "oci://ghcr.io/jetscale-ai/charts";

    #[test]
    fn stores_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path());
        assert!(matches!(
            cache.get(REPO, "backend", "4.6.12").unwrap(),
            CacheLookup::Miss
        ));
        let digest = cache.put(REPO, "backend", "4.6.12", b"archive").unwrap();
        match cache.get(REPO, "backend", "4.6.12").unwrap() {
            CacheLookup::Hit { bytes, digest: d } => {
                assert_eq!(bytes, b"archive");
                assert_eq!(d, digest);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            dir.path()
                .join("charts/refs/ghcr.io/jetscale-ai/charts/backend/4.6.12")
                .is_file()
        );
    }

    #[test]
    fn tampered_blobs_are_detected_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path());
        let digest = cache.put(REPO, "backend", "4.6.12", b"archive").unwrap();
        let blob = cache.blob_path(&digest).unwrap();
        std::fs::write(&blob, b"tampered").unwrap();
        match cache.get(REPO, "backend", "4.6.12").unwrap() {
            CacheLookup::Corrupt {
                expected, actual, ..
            } => {
                assert_eq!(expected, digest);
                assert_ne!(actual, digest);
            }
            other => panic!("{other:?}"),
        }
        assert!(!blob.exists());
        assert!(matches!(
            cache.get(REPO, "backend", "4.6.12").unwrap(),
            CacheLookup::Miss
        ));
    }

    #[test]
    fn refuses_keys_that_escape_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::open(dir.path());
        assert!(cache.put("oci://x/../../etc", "a", "1.0.0", b"x").is_err());
    }
}

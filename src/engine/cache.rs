//! The result cache: a target's verdict, stored under a hash of everything it depends on.
//!
//! What `validate` concludes about a target (its findings, and the facts the cross-target
//! rules compare) is a function of its inputs: every file of the chart directory (templates,
//! values files, schemas, and the dependency archives built into `charts/`), the target's
//! layers in order, its release, namespace and declared external references,
//! `stackctl.toml`, the helm binary and its version, and stackctl itself. One refinement keeps
//! edits to a lifecycle variant's values file from re-validating every env: the chart's
//! values files that variants use as layers count only for the targets that apply them,
//! unless a template of the chart reads files through `.Files`. The key is a SHA-256
//! over all of them, so an entry can only be found by a run whose inputs are byte for byte the
//! same: there is no invalidation step that could be forgotten, and reverting an edit finds
//! the earlier verdict again.
//!
//! Layout under the cache directory (`$STACKCTL_CACHE_DIR`, shared with the chart cache):
//!
//! ```text
//! results/<first two hex digits>/<key>.json      one target's verdict
//! ```
//!
//! Entries are written atomically and with known secrets redacted. A reader trusts an entry
//! only if it parses and names the key and target it was looked up by; anything else is a
//! miss, and the verdict is computed again and rewritten. Failing to write an entry never
//! fails a run: the cache only saves time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::Result;
use crate::findings::Diagnostic;
use crate::fsutil;
use crate::helm::Helm;
use crate::repo::Repo;
use crate::rules::Facts;
use crate::target::{Target, TargetKind};

/// Bumped whenever the entry format or the meaning of a key changes.
const FORMAT: u32 = 3;

/// One target's verdict as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    format: u32,
    key: String,
    target: String,
    /// Findings before rule levels and suppressions are applied: those are applied to cached
    /// and fresh findings alike when the report is assembled.
    pub diagnostics: Vec<Diagnostic>,
    /// The facts of the cross-target rules, by rule ID.
    pub facts: Facts,
}

/// The result cache of one run: where entries live and the hash of the inputs every target
/// shares.
#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
    shared: String,
}

impl ResultCache {
    /// Open the cache under `cache_root` for a run over `repo` with `helm`: hashes the inputs
    /// all targets share once.
    pub fn open(cache_root: &Path, repo: &Repo, helm: &Helm) -> Result<ResultCache> {
        let chart_dir = repo.chart_dir();
        let mut hash = KeyHasher::new();
        hash.field("format", FORMAT.to_string().as_bytes());
        hash.field("stackctl", env!("CARGO_PKG_VERSION").as_bytes());
        hash.field("stackctl-binary", executable_identity().as_bytes());
        hash.field("helm", helm.path.to_string_lossy().as_bytes());
        hash.field("helm-version", helm.version.to_string().as_bytes());
        hash.file("stackctl.toml", &repo.path(crate::config::CONFIG_FILE));
        let layers_only = if reads_files(&chart_dir) {
            HashSet::new()
        } else {
            crate::engine::targets::variant_targets(repo)
                .into_iter()
                .flat_map(|t| t.layers)
                .map(|layer| repo.path(layer))
                .collect()
        };
        hash_tree(&mut hash, &chart_dir, &layers_only)?;
        Ok(ResultCache {
            dir: cache_root.join("results"),
            shared: hash.finish(),
        })
    }

    /// The key of a target: the shared inputs, the target's definition and its layers' bytes.
    pub fn key(&self, repo_root: &Path, target: &Target) -> String {
        let mut hash = KeyHasher::new();
        hash.field("shared", self.shared.as_bytes());
        hash.field("target", target.name.as_bytes());
        hash.field(
            "kind",
            match target.kind {
                TargetKind::Env => b"env",
                TargetKind::Variant => b"variant",
            },
        );
        hash.field("release", target.release.as_bytes());
        hash.field("namespace", target.namespace.as_bytes());
        for name in &target.external_refs {
            hash.field("external-ref", name.as_bytes());
        }
        for layer in &target.layers {
            hash.field("layer", layer.as_bytes());
            hash.file("layer-content", &repo_root.join(layer));
        }
        hash.finish()
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The stored verdict for `key`, if there is one to trust.
    pub fn get(&self, key: &str, target: &str) -> Option<Entry> {
        let path = self.entry_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::debug!("result cache: cannot read {}: {e}", path.display());
                return None;
            }
        };
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) if entry.format == FORMAT && entry.key == key && entry.target == target => {
                Some(entry)
            }
            Ok(_) => {
                tracing::debug!(
                    "result cache: {} belongs to another key; ignored",
                    path.display()
                );
                None
            }
            Err(e) => {
                tracing::debug!("result cache: {} is corrupt ({e}); ignored", path.display());
                None
            }
        }
    }

    /// Store a verdict. A failure is logged, never fatal.
    pub fn put(&self, key: &str, target: &str, diagnostics: &[Diagnostic], facts: &Facts) {
        let entry = Entry {
            format: FORMAT,
            key: key.to_string(),
            target: target.to_string(),
            diagnostics: diagnostics.to_vec(),
            facts: facts.clone(),
        };
        let json = match serde_json::to_string(&entry) {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!("result cache: cannot serialise the verdict of {target}: {e}");
                return;
            }
        };
        // Findings quote helm's messages, which can quote values: nothing secret goes to disk.
        let json = crate::redact::redact(&json);
        let path = self.entry_path(key);
        if let Err(e) = fsutil::write_atomic(&path, json.as_bytes()) {
            tracing::warn!("result cache: cannot store the verdict of {target}: {e}");
        }
    }
}

/// Length-prefixed fields into SHA-256, so no two different inputs hash the same stream.
struct KeyHasher(Sha256);

impl KeyHasher {
    fn new() -> KeyHasher {
        KeyHasher(Sha256::new())
    }

    fn field(&mut self, name: &str, bytes: &[u8]) {
        for part in [name.as_bytes(), bytes] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }

    /// A file's bytes, or a marker saying it is missing or unreadable (a verdict depends on
    /// that too: a missing layer is a finding).
    fn file(&mut self, name: &str, path: &Path) {
        // Checked read: a layer that is a FIFO must not block the run here, before the layer
        // loader reports it.
        match fsutil::read_regular(path) {
            Ok(bytes) => self.field(name, &bytes),
            Err(problem) => self.field(name, format!("<unreadable: {problem}>").as_bytes()),
        }
    }

    fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Every file under the chart directory but `skip`, by relative path. Helm packages all of
/// them, so a change to any file changes every key.
fn hash_tree(hash: &mut KeyHasher, dir: &Path, skip: &HashSet<PathBuf>) -> Result<()> {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            crate::error::Error::environment(format!("cannot read the chart directory: {e}"))
        })?;
        let name = entry.file_name().to_string_lossy();
        if !entry.file_type().is_file()
            || fsutil::is_temp_leftover(&name)
            || skip.contains(entry.path())
        {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        hash.field("chart-file", relative.to_string_lossy().as_bytes());
        hash.file("chart-file-content", entry.path());
    }
    Ok(())
}

/// Whether a template of the chart (its own, not a dependency's) reads files through
/// `.Files`: then any file of the chart can change what it renders.
fn reads_files(chart_dir: &Path) -> bool {
    walkdir::WalkDir::new(chart_dir.join("templates"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .any(|e| crate::fsutil::read_text(e.path()).is_ok_and(|text| text.contains(".Files")))
}

/// Which stackctl build this is: its size and modification time. Cheaper than hashing the
/// binary and changes on every rebuild, so a development build never reuses the verdicts of
/// the previous one.
fn executable_identity() -> String {
    let Some(metadata) = std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::metadata(exe).ok())
    else {
        return "unknown".to_string();
    };
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}:{modified}", metadata.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(layers: &[&str]) -> Target {
        Target {
            name: "envs/prod/console.yaml".to_string(),
            layers: layers.iter().map(|l| l.to_string()).collect(),
            release: "jetscale-console".to_string(),
            namespace: "jetscale".to_string(),
            external_refs: Vec::new(),
            tables: Vec::new(),
            kind: TargetKind::Env,
            group: Some("prod".to_string()),
            cloud: Some("aws".to_string()),
        }
    }

    fn setup() -> (tempfile::TempDir, ResultCache) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("charts/jetscale/templates")).unwrap();
        std::fs::create_dir_all(root.join("envs/prod")).unwrap();
        std::fs::write(root.join("charts/jetscale/values.yaml"), "a: 1\n").unwrap();
        std::fs::write(root.join("envs/aws.yaml"), "b: 1\n").unwrap();
        std::fs::write(root.join("envs/prod/console.yaml"), "c: 1\n").unwrap();
        let helm = Helm::new(
            PathBuf::from("/usr/bin/helm"),
            semver::Version::new(4, 3, 1),
            crate::helm::HelmSource::Path,
            crate::process::Cancel::new(),
        );
        let repo = Repo::open(root).unwrap();
        let cache = ResultCache::open(&dir.path().join("cache"), &repo, &helm).unwrap();
        (dir, cache)
    }

    #[test]
    fn a_stored_verdict_is_found_by_its_key_only() {
        let (dir, cache) = setup();
        let root = dir.path().join("repo");
        let t = target(&["envs/aws.yaml", "envs/prod/console.yaml"]);
        let key = cache.key(&root, &t);
        assert!(cache.get(&key, &t.name).is_none());
        let facts = Facts::from([(
            "envs/consistent-env".to_string(),
            serde_json::json!({"value": "prod", "at": ["envs/prod/console.yaml", 1, 1]}),
        )]);
        cache.put(&key, &t.name, &[], &facts);
        let entry = cache.get(&key, &t.name).expect("stored");
        assert_eq!(entry.facts, facts);
        // Another target name under the same key is not trusted.
        assert!(cache.get(&key, "envs/prod/api.yaml").is_none());
    }

    #[test]
    fn keys_change_with_every_input() {
        let (dir, cache) = setup();
        let root = dir.path().join("repo");
        let t = target(&["envs/aws.yaml", "envs/prod/console.yaml"]);
        let base = cache.key(&root, &t);
        assert_eq!(base, cache.key(&root, &t), "keys are deterministic");

        let mut other = t.clone();
        other.release = "jetscale-other".into();
        assert_ne!(base, cache.key(&root, &other));
        let mut other = t.clone();
        other.layers.reverse();
        assert_ne!(base, cache.key(&root, &other), "layer order matters");
        let mut other = t.clone();
        other.external_refs.push("db-secret".into());
        assert_ne!(base, cache.key(&root, &other));

        std::fs::write(root.join("envs/aws.yaml"), "b: 2\n").unwrap();
        assert_ne!(base, cache.key(&root, &t), "a layer's bytes matter");
        std::fs::write(root.join("envs/aws.yaml"), "b: 1\n").unwrap();
        assert_eq!(base, cache.key(&root, &t), "reverting finds the old key");

        std::fs::remove_file(root.join("envs/prod/console.yaml")).unwrap();
        assert_ne!(base, cache.key(&root, &t), "a missing layer is an input");
    }

    #[test]
    fn corrupt_entries_are_misses() {
        let (dir, cache) = setup();
        let root = dir.path().join("repo");
        let t = target(&["envs/aws.yaml"]);
        let key = cache.key(&root, &t);
        cache.put(&key, &t.name, &[], &Facts::new());
        let path = cache.entry_path(&key);
        for garbage in ["", "{", "null", "{\"format\":1}", "\u{0}\u{1}binary"] {
            std::fs::write(&path, garbage).unwrap();
            assert!(cache.get(&key, &t.name).is_none(), "{garbage:?} trusted");
        }
        // A well-formed entry stored under another key's name is not trusted either.
        let other = "0".repeat(64);
        cache.put(&other, &t.name, &[], &Facts::new());
        std::fs::copy(cache.entry_path(&other), &path).unwrap();
        assert!(cache.get(&key, &t.name).is_none());
    }
}

//! Source lines for snippets, read lazily from the repository.
//!
//! A diagnostic names its file relative to the repository root. The human renderer shows the
//! offending line under the location; files are read once, on first use, and kept for the
//! rest of the rendering. A file that is missing, unreadable or not a regular file simply has
//! no lines: the diagnostic is still shown, only without its snippet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Files under a root, read on demand and cached by their repository-relative name.
#[derive(Debug)]
pub struct SourceCache {
    root: PathBuf,
    /// `None` records a file that could not be read, so it is not tried again.
    files: HashMap<String, Option<String>>,
}

impl SourceCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SourceCache {
            root: root.into(),
            files: HashMap::new(),
        }
    }

    /// The whole text of `file` (relative to the root), or `None` if it cannot be read.
    pub fn text(&mut self, file: &str) -> Option<&str> {
        let root = &self.root;
        self.files
            .entry(file.to_owned())
            .or_insert_with(|| read(&root.join(file)))
            .as_deref()
    }

    /// Line `line` (1-based) of `file`, without its line ending, or `None` if the file cannot
    /// be read or is shorter.
    pub fn line(&mut self, file: &str, line: usize) -> Option<&str> {
        let index = line.checked_sub(1)?;
        // `lines()` strips `\n` and `\r\n` alike and yields no empty line after a final newline.
        self.text(file)?.lines().nth(index)
    }
}

fn read(path: &Path) -> Option<String> {
    if !path.is_file() {
        return None;
    }
    // A finding can name a FIFO or a device (the error says so): never open one here.
    let bytes = crate::fsutil::read_regular(path).ok()?;
    // Values files are UTF-8; anything else still deserves a best-effort snippet.
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_lazily_and_tolerates_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("envs")).unwrap();
        std::fs::write(dir.path().join("envs/a.yaml"), "one: 1\r\ntwo: 2\n").unwrap();
        let mut cache = SourceCache::new(dir.path());

        assert_eq!(cache.line("envs/a.yaml", 1), Some("one: 1"));
        assert_eq!(cache.line("envs/a.yaml", 2), Some("two: 2"));
        assert_eq!(
            cache.line("envs/a.yaml", 3),
            None,
            "no line after the final newline"
        );
        assert_eq!(cache.line("envs/a.yaml", 0), None);
        assert_eq!(cache.line("envs/missing.yaml", 1), None);
        assert_eq!(cache.line("envs", 1), None, "a directory has no lines");
    }

    #[test]
    fn keeps_what_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.yaml");
        std::fs::write(&file, "before\n").unwrap();
        let mut cache = SourceCache::new(dir.path());
        assert_eq!(cache.line("v.yaml", 1), Some("before"));
        // One rendering shows one consistent view of each file, even if it changes meanwhile.
        std::fs::write(&file, "after\n").unwrap();
        assert_eq!(cache.line("v.yaml", 1), Some("before"));
    }
}

//! Link mode: use a local chart directory in place of a locked OCI dependency, without
//! editing `Chart.yaml` (committing `repository: file://…` is the mistake this replaces).
//!
//! Links live in `.stackctl/links.toml`, which is gitignored: they are per developer and
//! never reach a commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::repo::Repo;

pub const LINKS_FILE: &str = ".stackctl/links.toml";

/// One active link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The dependency chart name (not an alias): every alias of it uses the directory.
    pub chart: String,
    /// The chart directory, absolute.
    pub dir: PathBuf,
    /// 1-based line of the link in `.stackctl/links.toml`.
    pub line: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinksDocument {
    #[serde(default)]
    links: BTreeMap<String, PathBuf>,
}

/// The links of a repository (empty when the file does not exist).
pub fn load(repo: &Repo) -> Result<Vec<Link>> {
    let path = repo.path(LINKS_FILE);
    let text = match crate::fsutil::read_input_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let doc: LinksDocument = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| crate::config::line_of(&text, s.start));
        Error::config(format!("invalid {LINKS_FILE}: {}", e.message()))
            .at(&path, line)
            .with_hint("fix or delete the file; `stackctl deps link` and `deps unlink` maintain it")
    })?;
    Ok(doc
        .links
        .into_iter()
        .map(|(chart, dir)| {
            let line = text
                .lines()
                .position(|l| {
                    let l = l.trim_start().trim_start_matches('"');
                    l.starts_with(&chart)
                        && l[chart.len()..]
                            .trim_start_matches('"')
                            .trim_start()
                            .starts_with('=')
                })
                .map(|i| i + 1)
                .unwrap_or(1);
            let dir = if dir.is_absolute() {
                dir
            } else {
                repo.root.join(dir)
            };
            Link { chart, dir, line }
        })
        .collect())
}

/// Record a link from `chart` to `dir`, replacing any previous link of that chart.
pub fn link(repo: &Repo, chart: &str, dir: &Path) -> Result<Link> {
    let dir = dir.canonicalize().map_err(|e| {
        Error::usage(format!(
            "cannot use {} as a chart directory: {e}",
            dir.display()
        ))
    })?;
    if !dir.join(crate::deps::chartfile::CHART_FILE).is_file() {
        return Err(Error::usage(format!(
            "{} has no Chart.yaml: link a chart directory",
            dir.display()
        )));
    }
    let mut links: BTreeMap<String, PathBuf> =
        load(repo)?.into_iter().map(|l| (l.chart, l.dir)).collect();
    links.insert(chart.to_string(), dir);
    save(repo, links)?;
    load(repo)?
        .into_iter()
        .find(|l| l.chart == chart)
        .ok_or_else(|| Error::internal("the link just written is missing"))
}

/// Remove the link of `chart`; returns whether there was one.
pub fn unlink(repo: &Repo, chart: &str) -> Result<bool> {
    let mut links: BTreeMap<String, PathBuf> =
        load(repo)?.into_iter().map(|l| (l.chart, l.dir)).collect();
    let existed = links.remove(chart).is_some();
    if existed {
        save(repo, links)?;
    }
    Ok(existed)
}

fn save(repo: &Repo, links: BTreeMap<String, PathBuf>) -> Result<()> {
    let path = repo.path(LINKS_FILE);
    if links.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
            _ => Ok(()),
        };
    }
    let body = toml::to_string(&LinksDocument { links })
        .map_err(|e| Error::internal(format!("cannot write {LINKS_FILE}: {e}")))?;
    let text = format!(
        "# Local chart directories used instead of locked OCI dependencies.\n\
         # Maintained by `stackctl deps link` / `stackctl deps unlink`; never commit this file.\n{body}"
    );
    fsutil::write_atomic(&path, text.as_bytes())
}

/// The banner every command that uses dependencies prints while links are active.
pub fn banner(links: &[Link]) -> Option<String> {
    if links.is_empty() {
        return None;
    }
    let mut text = String::from("link mode: local chart directories replace locked dependencies\n");
    for link in links {
        text.push_str(&format!("  {} -> {}\n", link.chart, link.dir.display()));
    }
    text.push_str(
        "  (Chart.yaml and Chart.lock are unchanged; `stackctl deps unlink <chart>` ends it)",
    );
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_chart() -> (tempfile::TempDir, Repo, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let chart = dir.path().join("work/backend");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: backend\nversion: 1.0.0\n").unwrap();
        let repo = Repo::open(dir.path().to_path_buf()).unwrap();
        (dir, repo, chart)
    }

    #[test]
    fn link_and_unlink_round_trip() {
        let (_dir, repo, chart) = repo_with_chart();
        assert!(load(&repo).unwrap().is_empty());
        let link = link(&repo, "backend", &chart).unwrap();
        assert_eq!(link.dir, chart.canonicalize().unwrap());
        assert_eq!(link.line, 4);
        assert!(banner(&[link]).unwrap().contains("backend ->"));
        assert!(unlink(&repo, "backend").unwrap());
        assert!(!unlink(&repo, "backend").unwrap());
        assert!(!repo.path(LINKS_FILE).exists());
    }

    #[test]
    fn linking_a_directory_without_chart_is_refused() {
        let (dir, repo, _) = repo_with_chart();
        let err = link(&repo, "backend", dir.path()).unwrap_err();
        assert!(err.message.contains("no Chart.yaml"), "{}", err.message);
    }
}

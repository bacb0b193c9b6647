//! Chart archives: packaging a chart directory the way `helm package` lays it out, and
//! reading the name and version an archive declares.
//!
//! Packages are deterministic (sorted entries, fixed modes and times), so packaging the same
//! directory twice gives the same bytes and the same digest: a rebuild from an unchanged local
//! source rewrites nothing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::deps::chartfile::{CHART_FILE, ChartFile};
use crate::deps::document::{self, Source};
use crate::error::{Error, Result};
use crate::oci::{PackagedChart, sha256_digest};

/// Charts bigger than this are refused when read: a dependency archive is kilobytes, and a
/// bound keeps a hostile archive from exhausting memory.
const MAX_CHART_FILE: u64 = 1024 * 1024;

/// The identity a chart archive declares in its `Chart.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveMetadata {
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
}

/// Package the chart in `dir`. `chart_yaml` replaces the directory's `Chart.yaml` text in the
/// package (used to stamp a release version without touching the tree).
pub fn package_dir(dir: &Path, chart_yaml: Option<&str>) -> Result<PackagedChart> {
    let chart = match chart_yaml {
        Some(text) => ChartFile::parse(&dir.join(CHART_FILE), text.to_string())?,
        None => ChartFile::load(dir)?,
    };
    let name = chart.name().to_string();
    let version = chart.version().to_string();
    if name.is_empty() || version.is_empty() {
        return Err(Error::config(format!(
            "{} needs a name and a version to be packaged",
            chart.path.display()
        ))
        .at(&chart.path, Some(1)));
    }
    let rules = IgnoreRules::load(dir)?;
    let files = collect_files(dir, &rules)?;

    let mut tar = tar::Builder::new(Vec::new());
    let mut append = |relative: &str, data: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{name}/{relative}"), data)
            .map_err(|e| Error::internal(format!("cannot add {relative} to the archive: {e}")))
    };
    // Chart.yaml first, as helm writes it: tools that peek at an archive read it first.
    append(CHART_FILE, chart.source.text.as_bytes())?;
    for (relative, path) in &files {
        if relative == CHART_FILE {
            continue;
        }
        let data = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        append(relative, &data)?;
    }
    let tar_bytes = tar
        .into_inner()
        .map_err(|e| Error::internal(format!("cannot finish the archive: {e}")))?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes)
        .map_err(|e| Error::internal(format!("cannot compress the archive: {e}")))?;
    let bytes = gz
        .finish()
        .map_err(|e| Error::internal(format!("cannot compress the archive: {e}")))?;
    Ok(PackagedChart {
        digest: sha256_digest(&bytes),
        name,
        version,
        bytes,
    })
}

/// Read the `Chart.yaml` an archive carries (`<dir>/Chart.yaml`, one level deep).
pub fn read_metadata(bytes: &[u8]) -> std::result::Result<ArchiveMetadata, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| format!("not a gzipped tar archive: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("corrupt archive: {e}"))?
            .into_owned();
        let components: Vec<_> = path.components().collect();
        if components.len() == 2 && components[1].as_os_str() == CHART_FILE {
            if entry.size() > MAX_CHART_FILE {
                return Err("its Chart.yaml is implausibly large".to_string());
            }
            let mut text = String::new();
            entry
                .take(MAX_CHART_FILE)
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read its Chart.yaml: {e}"))?;
            return parse_metadata(&path, text);
        }
    }
    Err("it holds no <chart>/Chart.yaml".to_string())
}

/// The identity a `Chart.yaml` read from an archive declares. It is read as the repository's
/// own `Chart.yaml` is: the same depth limit, checked first, and no recursion that a deep
/// document could overflow.
fn parse_metadata(path: &Path, text: String) -> std::result::Result<ArchiveMetadata, String> {
    let source = Source::parse(text)
        .map_err(|e| format!("its {}, line {}: {}", path.display(), e.line, e.message))?;
    let field = |key: &str| {
        document::get(&source.root, key)
            .and_then(|node| source.scalar(node))
            .map(|scalar| scalar.value)
            .filter(|value| !value.is_empty())
    };
    let required =
        |key: &str| field(key).ok_or_else(|| format!("its {} has no `{key}`", path.display()));
    Ok(ArchiveMetadata {
        name: required("name")?,
        version: required("version")?,
        app_version: field("appVersion"),
    })
}

/// The files of a chart directory that go into its package, as (relative `/` path, absolute
/// path), sorted by relative path.
fn collect_files(dir: &Path, rules: &IgnoreRules) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| {
            Error::environment(format!(
                "cannot read chart directory {}: {e}",
                dir.display()
            ))
        })?;
        let relative: Vec<String> = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let relative = relative.join("/");
        let is_dir = entry.file_type().is_dir();
        if rules.ignores(&relative, is_dir) {
            if is_dir {
                walker.skip_current_dir();
            }
            continue;
        }
        if entry.file_type().is_file() {
            files.push((relative, entry.path().to_path_buf()));
        }
    }
    files.sort();
    Ok(files)
}

/// `.helmignore` rules with helm's semantics: glob patterns matched against the base name
/// (no `/` in the pattern) or the whole relative path; `!` re-includes; a trailing `/`
/// matches directories only; the first matching rule decides. `**` is not supported, as in
/// helm.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<IgnorePattern>,
}

#[derive(Debug, Clone)]
struct IgnorePattern {
    glob: String,
    negate: bool,
    dir_only: bool,
    /// Match the whole relative path (pattern had a `/`), else the base name.
    whole_path: bool,
}

impl IgnoreRules {
    pub fn load(dir: &Path) -> Result<IgnoreRules> {
        let path = dir.join(".helmignore");
        let text = match crate::fsutil::read_text(&path) {
            Ok(text) => text,
            Err(problem) if problem.is_missing() => String::new(),
            Err(problem) => return Err(problem.into_error(&path)),
        };
        let mut rules = IgnoreRules::parse(&text).map_err(|(line, message)| {
            Error::config(format!("{}: {message}", path.display())).at(&path, Some(line))
        })?;
        // helm always ignores hidden files under templates/.
        rules.add("templates/.?*");
        Ok(rules)
    }

    pub fn parse(text: &str) -> std::result::Result<IgnoreRules, (usize, String)> {
        let mut rules = IgnoreRules::default();
        for (index, line) in text.lines().enumerate() {
            let rule = line.trim();
            if rule.is_empty() || rule.starts_with('#') {
                continue;
            }
            if rule.contains("**") {
                return Err((
                    index + 1,
                    "double-star (**) patterns are not supported by helm".to_string(),
                ));
            }
            rules.add(rule);
        }
        Ok(rules)
    }

    fn add(&mut self, rule: &str) {
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let (dir_only, rule) = match rule.strip_suffix('/') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let whole_path = rule.contains('/');
        self.patterns.push(IgnorePattern {
            glob: rule.trim_start_matches('/').to_string(),
            negate,
            dir_only,
            whole_path,
        });
    }

    /// Whether `relative` (a `/` path inside the chart) is left out of the package.
    pub fn ignores(&self, relative: &str, is_dir: bool) -> bool {
        for pattern in &self.patterns {
            if pattern.dir_only && !is_dir {
                continue;
            }
            let subject = if pattern.whole_path {
                relative
            } else {
                relative.rsplit('/').next().unwrap_or(relative)
            };
            if glob_match(&pattern.glob, subject) {
                return !pattern.negate;
            }
        }
        false
    }
}

/// Go's `filepath.Match`: `*` and `?` never cross a `/`; `[...]` classes with ranges and `^`
/// or `!` negation; `\` escapes. Iterative, with one backtracking point (the last `*`), so a
/// `.helmignore` line of any length or number of stars costs time linear in its length per
/// character of the name, and no stack.
fn glob_match(pattern: &str, name: &str) -> bool {
    let tokens = glob_tokens(pattern);
    let n: Vec<char> = name.chars().collect();
    let (mut t, mut i) = (0, 0);
    // The token after the last `*` seen, and where that star's match ends in the name.
    let mut star: Option<(usize, usize)> = None;
    while i < n.len() {
        match tokens.get(t) {
            Some(Glob::Star) => {
                star = Some((t + 1, i));
                t += 1;
                continue;
            }
            Some(token) if token.matches(n[i]) => {
                t += 1;
                i += 1;
                continue;
            }
            _ => {}
        }
        // Let the last star take one more character. It cannot take a `/`, and no earlier
        // star could either: a `/` is only ever matched by the same `/` of the pattern.
        match star {
            Some((after, end)) if n[end] != '/' => {
                star = Some((after, end + 1));
                t = after;
                i = end + 1;
            }
            _ => return false,
        }
    }
    tokens[t..].iter().all(|token| matches!(token, Glob::Star))
}

/// One element of a glob pattern.
enum Glob {
    Star,
    Any,
    Class {
        negated: bool,
        class: Vec<char>,
    },
    Literal(char),
    /// A `[` without its `]`: matches nothing, as in Go.
    Never,
}

impl Glob {
    fn matches(&self, c: char) -> bool {
        match self {
            Glob::Star => unreachable!("stars are matched by glob_match"),
            Glob::Any => c != '/',
            Glob::Class { negated, class } => {
                if c == '/' {
                    return false;
                }
                let mut matched = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        matched |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        matched |= class[i] == c;
                        i += 1;
                    }
                }
                matched != *negated
            }
            Glob::Literal(l) => *l == c,
            Glob::Never => false,
        }
    }
}

fn glob_tokens(pattern: &str) -> Vec<Glob> {
    let p: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => tokens.push(Glob::Star),
            '?' => tokens.push(Glob::Any),
            '[' => match p[i + 1..].iter().position(|&c| c == ']') {
                None => {
                    tokens.push(Glob::Never);
                    break;
                }
                Some(offset) => {
                    let close = i + 1 + offset;
                    let mut class = &p[i + 1..close];
                    let negated = matches!(class.first(), Some('^') | Some('!'));
                    if negated {
                        class = &class[1..];
                    }
                    tokens.push(Glob::Class {
                        negated,
                        class: class.to_vec(),
                    });
                    i = close;
                }
            },
            '\\' if i + 1 < p.len() => {
                tokens.push(Glob::Literal(p[i + 1]));
                i += 1;
            }
            c => tokens.push(Glob::Literal(c)),
        }
        i += 1;
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Chart.yaml"),
            "apiVersion: v2\nname: backend\nversion: 4.6.12\n",
        )
        .unwrap();
        std::fs::write(root.join("values.yaml"), "replicaCount: 1\n").unwrap();
        std::fs::create_dir_all(root.join("templates")).unwrap();
        std::fs::write(root.join("templates/deployment.yaml"), "kind: Deployment\n").unwrap();
        std::fs::write(root.join("templates/.swp"), "editor junk").unwrap();
        std::fs::create_dir_all(root.join("ci")).unwrap();
        std::fs::write(root.join("ci/values.yaml"), "x: 1").unwrap();
        std::fs::write(root.join("notes.bak"), "old").unwrap();
        std::fs::write(root.join(".helmignore"), "# junk\n*.bak\nci/\n").unwrap();
        dir
    }

    fn entry_names(bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn packages_like_helm_and_deterministically() {
        let dir = chart_dir();
        let first = package_dir(dir.path(), None).unwrap();
        assert_eq!(
            entry_names(&first.bytes),
            vec![
                "backend/Chart.yaml",
                "backend/.helmignore",
                "backend/templates/deployment.yaml",
                "backend/values.yaml",
            ]
        );
        let second = package_dir(dir.path(), None).unwrap();
        assert_eq!(first.digest, second.digest);
        let meta = read_metadata(&first.bytes).unwrap();
        assert_eq!(
            (meta.name.as_str(), meta.version.as_str()),
            ("backend", "4.6.12")
        );
    }

    #[test]
    fn chart_yaml_override_goes_into_the_package_only() {
        let dir = chart_dir();
        let packaged = package_dir(
            dir.path(),
            Some("apiVersion: v2\nname: backend\nversion: 9.9.9\n"),
        )
        .unwrap();
        assert_eq!(packaged.version, "9.9.9");
        assert_eq!(read_metadata(&packaged.bytes).unwrap().version, "9.9.9");
        assert!(
            std::fs::read_to_string(dir.path().join("Chart.yaml"))
                .unwrap()
                .contains("4.6.12")
        );
    }

    /// A gzipped tar holding only `backend/Chart.yaml` with `text`, built by hand: packaging
    /// refuses what reading must refuse too.
    fn archive_with_chart_yaml(text: &str) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "backend/Chart.yaml", text.as_bytes())
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_chart_yaml_nested_past_the_limit_is_refused_at_its_line() {
        use crate::nesting::MAX_DEPTH;
        // The top-level map is level 1, `annotations:` holds the lists.
        for depth in [MAX_DEPTH, MAX_DEPTH + 1, 100_000] {
            let nested = format!(
                "apiVersion: v2\nname: backend\nversion: 4.6.12\nannotations:\n{}x\n",
                "- ".repeat(depth - 1)
            );
            let read = read_metadata(&archive_with_chart_yaml(&nested));
            if depth <= MAX_DEPTH {
                assert_eq!(read.unwrap().version, "4.6.12");
            } else {
                let why = read.unwrap_err();
                assert!(
                    why.starts_with(
                        "its backend/Chart.yaml, line 5: nested deeper than 100 levels"
                    ),
                    "{why}"
                );
            }
        }
    }

    #[test]
    fn reading_garbage_says_why() {
        assert!(read_metadata(b"not an archive").is_err());
        assert_eq!(
            read_metadata(&archive_with_chart_yaml("name: backend\n")).unwrap_err(),
            "its backend/Chart.yaml has no `version`"
        );
        assert!(
            read_metadata(&archive_with_chart_yaml("name: [\n"))
                .unwrap_err()
                .starts_with("its backend/Chart.yaml, line 2: "),
        );
        let meta = read_metadata(&archive_with_chart_yaml(
            "name: backend\nversion: 1.0\nappVersion: \"4.6\"\n",
        ))
        .unwrap();
        assert_eq!(
            (meta.version.as_str(), meta.app_version.as_deref()),
            ("1.0", Some("4.6"))
        );
    }

    #[test]
    fn ignore_rules_follow_helm() {
        let rules =
            IgnoreRules::parse("!keep.tgz\n*.tgz\n/top.txt\ndocs/\nsecret/*.key\n").unwrap();
        assert!(rules.ignores("charts/x.tgz", false));
        // The first matching rule decides, so a negation only helps before the rule it excepts.
        assert!(!rules.ignores("keep.tgz", false));
        assert!(
            IgnoreRules::parse("*.tgz\n!keep.tgz\n")
                .unwrap()
                .ignores("keep.tgz", false)
        );
        assert!(rules.ignores("top.txt", false));
        assert!(!rules.ignores("sub/top.txt", false));
        assert!(rules.ignores("docs", true));
        assert!(!rules.ignores("docs", false));
        assert!(rules.ignores("secret/a.key", false));
        assert!(!rules.ignores("other/a.key", false));
        assert!(IgnoreRules::parse("a/**/b\n").is_err());
    }

    #[test]
    fn globs_match_like_go() {
        assert!(glob_match("*.yaml", "values.yaml"));
        assert!(!glob_match("*.yaml", "dir/values.yaml"));
        assert!(glob_match("v?lues.[a-y]aml", "values.yaml"));
        assert!(!glob_match("[^v]*", "values"));
        assert!(glob_match("\\*", "*"));
        assert!(glob_match("a*/b*", "abc/bcd"));
        assert!(!glob_match("a*b", "a/b"));
        assert!(glob_match("*a*b*c", "xxaybzzc"));
        assert!(!glob_match("[a-c", "a"));
        assert!(glob_match("[!/]", "x"));
        // Long and star-heavy patterns take neither stack nor exponential time.
        let long = "?".repeat(100_000);
        assert!(glob_match(&long, &"x".repeat(100_000)));
        let stars = "*a".repeat(2_000) + "b";
        assert!(!glob_match(&stars, &"a".repeat(2_000)));
    }
}

//! The variables stackctl reads: the process environment, completed by the repository's
//! `.env`.
//!
//! `.env` never overrides a variable that is set and non-empty. The values of variables whose
//! names say they are secrets are registered with [`crate::redact`] as they are read.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::redact::{is_secret_name, redact, register};

/// The variables stackctl consults: the process environment, completed by `.env`.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// Names that came from `.env` (for diagnostics such as "GITHUB_TOKEN from .env").
    from_dotenv: Vec<String>,
}

impl Environment {
    /// The process environment plus `<root>/.env`, secrets registered for redaction.
    pub fn load(root: &Path) -> Result<Environment> {
        let mut env = Environment {
            vars: std::env::vars().collect(),
            from_dotenv: Vec::new(),
        };
        env.read_dotenv(&root.join(".env"))?;
        env.register_secrets();
        Ok(env)
    }

    /// An environment from explicit pairs (tests, and callers that isolate the process env).
    pub fn from_pairs<I, K, V>(pairs: I) -> Environment
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env = Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            from_dotenv: Vec::new(),
        };
        env.register_secrets();
        env
    }

    fn read_dotenv(&mut self, path: &Path) -> Result<()> {
        // Read through the checked reader: a `.env` that is a FIFO would otherwise block
        // every command on its open. A symlink may point anywhere (a secrets file kept
        // outside the repository is common), but at a regular text file.
        let text = match crate::fsutil::read_text(path) {
            Ok(text) => text,
            // A symlink to nothing is a mistake worth saying; no `.env` at all is the default.
            Err(problem) if problem.is_missing() && std::fs::symlink_metadata(path).is_err() => {
                return Ok(());
            }
            Err(problem) => return Err(problem.into_error(path)),
        };
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            let (key, value) = item.map_err(|e| dotenv_error(path, &text, e))?;
            let already_set = self.vars.get(&key).is_some_and(|v| !v.is_empty());
            if !already_set {
                self.from_dotenv.push(key.clone());
                self.vars.insert(key, value);
            }
        }
        Ok(())
    }

    fn register_secrets(&self) {
        for (name, value) in &self.vars {
            if is_secret_name(name) {
                register(value);
            }
        }
    }

    /// A variable's value; empty values count as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Whether a variable came from `.env` rather than the process environment.
    pub fn is_from_dotenv(&self, name: &str) -> bool {
        self.from_dotenv.iter().any(|n| n == name)
    }

    /// True when running in CI (`CI=true`, as GitHub Actions and most CI systems set it).
    pub fn is_ci(&self) -> bool {
        self.get("CI")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    pub fn is_github_actions(&self) -> bool {
        self.get("GITHUB_ACTIONS") == Some("true")
    }
}

fn dotenv_error(path: &Path, content: &str, err: dotenvy::Error) -> Error {
    // dotenvy's parse errors quote the offending line, which may hold a secret: say where,
    // not what.
    // dotenvy reports the offending line's text (and a column), not its number: find it.
    let line = match &err {
        dotenvy::Error::LineParse(text, _) => content
            .lines()
            .position(|l| l.contains(text.trim()))
            .map(|index| index + 1),
        _ => None,
    };
    let what = match &err {
        dotenvy::Error::LineParse(..) => "a line that is not KEY=VALUE".to_string(),
        other => redact(&other.to_string()).into_owned(),
    };
    Error::config(format!("cannot read {}: {what}", path.display()))
        .at(path, line)
        .with_hint("each line of .env is KEY=VALUE (quotes optional, # starts a comment)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_does_not_override_set_variables_but_fills_empty_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "# local secrets\nexport GITHUB_TOKEN=\"ghp_fromDotenv000111\"\nGITHUB_USER=octo\nSTACKCTL_X=from-file\n",
        )
        .unwrap();
        let mut env = Environment::from_pairs([("GITHUB_USER", "already"), ("STACKCTL_X", "")]);
        env.read_dotenv(&dir.path().join(".env")).unwrap();
        env.register_secrets();
        assert_eq!(env.get("GITHUB_USER"), Some("already"));
        assert_eq!(env.get("STACKCTL_X"), Some("from-file"));
        assert_eq!(env.get("GITHUB_TOKEN"), Some("ghp_fromDotenv000111"));
        assert!(env.is_from_dotenv("GITHUB_TOKEN"));
        assert_eq!(redact("t=ghp_fromDotenv000111"), "t=[REDACTED]");
    }

    #[test]
    fn malformed_dotenv_names_the_line_but_not_its_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "A=1\nthis is not valid s3cr3tvalue\n",
        )
        .unwrap();
        let mut env = Environment::default();
        let err = env.read_dotenv(&dir.path().join(".env")).unwrap_err();
        assert_eq!(err.location.as_ref().unwrap().1, Some(2));
        assert!(!err.to_string().contains("s3cr3tvalue"), "{err}");
    }
}

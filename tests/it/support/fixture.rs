//! Fixture repositories: a temporary copy of a repository under `tests/fixtures/` with every
//! home directory stackctl and helm read isolated, and helpers to run stackctl and helm in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The fixture repository shared by the dependency tests.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A temporary copy of a fixture repository with the [`super::isolated_env`] of its own, for
/// the dependency tests: commands return a [`Run`] to assert on.
pub struct FixtureSandbox {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    env: BTreeMap<String, String>,
}

impl FixtureSandbox {
    pub fn new(fixture_name: &str) -> FixtureSandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = dir.path().join("repo");
        copy_dir(&fixture(fixture_name), &repo);
        let env = super::isolated_env(dir.path());
        FixtureSandbox {
            dir,
            repo: repo.canonicalize().expect("repo path"),
            env,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Set an environment variable for every command of this sandbox.
    pub fn set_env(&mut self, key: &str, value: impl Into<String>) {
        self.env.insert(key.to_string(), value.into());
    }

    pub fn env(&self, key: &str) -> &str {
        &self.env[key]
    }

    pub fn cache_dir(&self) -> PathBuf {
        PathBuf::from(&self.env["STACKCTL_CACHE_DIR"])
    }

    /// `stackctl ARGS` in the repository, with only the sandbox's environment.
    pub fn stackctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackctl"));
        cmd.env_clear()
            .envs(&self.env)
            .current_dir(&self.repo)
            .args(args);
        cmd
    }

    /// Run stackctl and return its output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.stackctl(args).output().expect("run stackctl");
        Run::from(output)
    }

    /// A helm command with the sandbox's isolated helm homes.
    pub fn helm(&self, helm: &Path, args: &[&str]) -> Run {
        let output = std::process::Command::new(helm)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.repo)
            .args(args)
            .output()
            .expect("run helm");
        Run::from(output)
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.repo.join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Every file of the repository with its content, for before/after comparisons.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        walkdir::WalkDir::new(&self.repo)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let relative = e
                    .path()
                    .strip_prefix(&self.repo)
                    .unwrap()
                    .display()
                    .to_string();
                (relative, std::fs::read(e.path()).unwrap())
            })
            .collect()
    }

    /// Names of the files in the umbrella chart's charts/ directory.
    pub fn chart_archives(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("charts/jetscale/charts"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Point the umbrella chart at another repository, as a developer would by hand.
    pub fn set_dependency_repository(&self, repository: &str) {
        let chart = self
            .read("charts/jetscale/Chart.yaml")
            .replace("oci://ghcr.io/jetscale-ai/charts", repository);
        self.write("charts/jetscale/Chart.yaml", &chart);
    }
}

/// The outcome of one command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Assert the exit code, showing everything the command said when it differs.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        self.expect(0)
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk fixture");
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

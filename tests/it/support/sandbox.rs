//! The [`Sandbox`]: a temporary repository (empty, a copy of this repository's stack, or a copy
//! of a fixture under `tests/fixtures/`) in which stackctl and helm run with an environment of
//! the sandbox's own, and the [`Run`] every command there returns.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::registry::GHCR_CHARTS;
use super::repo_root;

/// The environment of every command a sandbox runs, stackctl's and helm's alike: empty but for
/// `PATH` and homes under `scratch` (HOME, the XDG dirs, helm's three homes and its registry
/// config, docker's config, stackctl's cache), so no token, login, cache or colour setting of
/// the machine leaks into a test, and nothing a test does leaks out. Commands run with
/// `env_clear()` and these variables.
fn isolated_env(scratch: &Path) -> BTreeMap<String, String> {
    let path = |p: &str| scratch.join(p).display().to_string();
    let mut env = BTreeMap::new();
    for (key, value) in [
        ("HOME", path("home")),
        ("XDG_CONFIG_HOME", path("home/.config")),
        ("XDG_CACHE_HOME", path("home/.cache")),
        ("XDG_DATA_HOME", path("home/.local/share")),
        ("HELM_CACHE_HOME", path("helm/cache")),
        ("HELM_CONFIG_HOME", path("helm/config")),
        ("HELM_DATA_HOME", path("helm/data")),
        ("DOCKER_CONFIG", path("docker")),
        ("STACKCTL_CACHE_DIR", path("stackctl-cache")),
    ] {
        std::fs::create_dir_all(&value).expect("create sandbox dirs");
        env.insert(key.to_string(), value);
    }
    // A file: only its directory exists until a login writes it.
    env.insert(
        "HELM_REGISTRY_CONFIG".into(),
        path("helm/config/registry/config.json"),
    );
    env.insert("NO_COLOR".into(), "1".into());
    // A token every command could leak (stackctl reads the environment's secrets for
    // redaction): tests assert it never appears, in any form, in what a run prints.
    env.insert(TOKEN_VARIABLE.into(), TOKEN_SENTINEL.into());
    env.insert(
        "PATH".into(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    );
    env
}

/// The variable of every sandbox's environment that holds [`TOKEN_SENTINEL`].
pub const TOKEN_VARIABLE: &str = "SANDBOX_API_TOKEN";

/// A token no output may contain.
pub const TOKEN_SENTINEL: &str = "sbx-token-sentinel-8c41e7d2";

/// A temporary directory holding a repository (`repo/`) for one test, the homes of its
/// [`isolated_env`] beside it, and room for files that must stay outside the repository.
/// Removed when dropped.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    /// The temporary directory, resolved: the path stackctl sees as its working directory's
    /// parent, so paths it prints start with [`Sandbox::root`].
    scratch: PathBuf,
    env: BTreeMap<String, String>,
}

impl Sandbox {
    /// An empty repository root (tests write the files they need).
    pub fn empty() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("stackctl-test-")
            .tempdir()
            .expect("create temp dir");
        let scratch = dir.path().canonicalize().expect("resolve temp dir");
        std::fs::create_dir_all(scratch.join("repo")).expect("create sandbox dirs");
        let env = isolated_env(&scratch);
        Sandbox {
            _dir: dir,
            scratch,
            env,
        }
    }

    /// A copy of this repository's stack: charts (without built dependencies), envs, kind
    /// configs, stackctl.toml and .gitignore.
    pub fn with_repo() -> Sandbox {
        let sandbox = Sandbox::empty();
        for entry in ["charts", "envs", "kind", "stackctl.toml", ".gitignore"] {
            let from = repo_root().join(entry);
            if from.exists() {
                // charts/<chart>/charts/ holds the archives stackctl builds: tests start
                // without them, whatever a developer built in their checkout.
                copy_tree_except(&from, &sandbox.path(entry), |relative| {
                    entry == "charts" && relative.iter().nth(1) == Some(OsStr::new("charts"))
                });
            }
        }
        sandbox
    }

    /// A copy of the fixture repository `tests/fixtures/<name>`.
    pub fn fixture(name: &str) -> Sandbox {
        let sandbox = Sandbox::empty();
        copy_tree(
            &repo_root().join("tests/fixtures").join(name),
            &sandbox.root(),
        );
        sandbox
    }

    /// The repository root inside the sandbox: the working directory of its commands.
    pub fn root(&self) -> PathBuf {
        self.scratch.join("repo")
    }

    /// A path in the repository.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    /// A path in the sandbox but outside its repository, for what the repository must not
    /// hold (a helm wrapper, a developer's checkout of a chart).
    pub fn outside_repo(&self, relative: &str) -> PathBuf {
        self.scratch.join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// Write a file of the repository, creating its directories.
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// Every file of the repository with its content, for before/after comparisons.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let root = self.root();
        walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let relative = e.path().strip_prefix(&root).unwrap().display().to_string();
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

    /// Point the umbrella chart at another repository instead of [`GHCR_CHARTS`], as a
    /// developer would by hand.
    pub fn set_dependency_repository(&self, repository: &str) {
        let chart = self
            .read("charts/jetscale/Chart.yaml")
            .replace(GHCR_CHARTS, repository);
        self.write("charts/jetscale/Chart.yaml", &chart);
    }

    /// Set an environment variable for every later command of this sandbox.
    pub fn set_env(&mut self, key: &str, value: impl Into<String>) {
        self.env.insert(key.to_string(), value.into());
    }

    /// A variable of the sandbox's environment.
    pub fn env(&self, key: &str) -> &str {
        &self.env[key]
    }

    /// stackctl's cache (`STACKCTL_CACHE_DIR`).
    pub fn cache_dir(&self) -> PathBuf {
        PathBuf::from(self.env("STACKCTL_CACHE_DIR"))
    }

    /// Run `stackctl ARGS` in the repository, with only the sandbox's environment, and wait
    /// for it. stackctl finds helm itself (on `PATH`).
    pub fn stackctl(&self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Run {
        self.execute(
            Path::new(env!("CARGO_BIN_EXE_stackctl")),
            args,
            &self.env,
            None,
        )
    }

    /// Run `stackctl --helm HELM ARGS` as [`Sandbox::stackctl`] does.
    pub fn stackctl_with_helm(
        &self,
        helm: &Path,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    ) -> Run {
        let flag: [OsString; 2] = ["--helm".into(), helm.into()];
        let args = flag
            .into_iter()
            .chain(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self.stackctl(args)
    }

    /// Run a real `helm ARGS` in the repository with the sandbox's environment (its helm
    /// homes, registry config and cache), and wait for it.
    pub fn helm(&self, helm: &Path, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Run {
        self.execute(helm, args, &self.env, None)
    }

    /// A real `helm registry login` to `host`, the password on stdin as a user would type
    /// it: it writes the sandbox's helm registry config, where stackctl looks for credentials.
    /// Without `PATH`: helm hands the credentials to a credential helper of the machine
    /// (`docker-credential-*`) when it finds one there, instead of writing that file.
    pub fn helm_registry_login(&self, helm: &Path, host: &str, user: &str, password: &str) -> Run {
        let mut env = self.env.clone();
        env.remove("PATH");
        let args = [
            "registry",
            "login",
            host,
            "--username",
            user,
            "--password-stdin",
            "--plain-http",
        ];
        self.execute(helm, args, &env, Some(password))
    }

    /// Start `stackctl ARGS` as [`Sandbox::stackctl`] does, without waiting for it: for tests
    /// that signal it while it runs. Its output is piped; [`Started::finish`] collects it.
    pub fn spawn_stackctl(&self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Started {
        let child = self
            .command(Path::new(env!("CARGO_BIN_EXE_stackctl")), args, &self.env)
            .stdin(Stdio::null())
            .spawn()
            .expect("start stackctl");
        Started(child)
    }

    /// `program ARGS` in the repository with `env` only, its output piped.
    fn command(
        &self,
        program: &Path,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
        env: &BTreeMap<String, String>,
    ) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(env)
            .current_dir(self.root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Every command of the sandbox: `program ARGS` in the repository, with `env` (the
    /// sandbox's environment) only and `input` (or nothing) on stdin.
    fn execute(
        &self,
        program: &Path,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
        env: &BTreeMap<String, String>,
        input: Option<&str>,
    ) -> Run {
        let mut child = self
            .command(program, args, env)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        if let Some(input) = input {
            // Dropped at the end of the statement: the program sees the end of its input.
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait for {}: {e}", program.display()));
        Run::from(output)
    }

    /// A `helm` script outside the repository that appends one line per call to a log, then
    /// runs `real`: what stackctl really asked helm, not what it says it did. `line` is the
    /// shell text echoed, e.g. `$*` or `$1 GOGC=$GOGC`. Returns the script and the log.
    pub fn logging_helm(&self, real: &Path, line: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.outside_repo("wrapper");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("helm.log");
        let helm = dir.join("helm");
        std::fs::write(
            &helm,
            format!(
                "#!/bin/sh\necho \"{line}\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
        (helm, log)
    }
}

/// The longest a run stopped by SIGINT or SIGTERM may take to exit.
const PROMPT: std::time::Duration = std::time::Duration::from_secs(2);

/// A stackctl started by [`Sandbox::spawn_stackctl`].
pub struct Started(std::process::Child);

impl Started {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) only sends a signal to the child this test started.
        let sent = unsafe { libc::kill(self.0.id() as i32, signal) };
        assert_eq!(sent, 0, "cannot signal stackctl");
    }

    /// Send it SIGINT, as Ctrl-C in a terminal does, and check that it exits 130 within [`PROMPT`]; its outcome.
    #[track_caller]
    pub fn interrupt_promptly(self) -> Run {
        self.stop_promptly(libc::SIGINT, "SIGINT")
    }

    /// Send it SIGTERM, as a CI runner stopping a job does, and check that it exits 130 within [`PROMPT`]; its outcome.
    #[track_caller]
    pub fn terminate_promptly(self) -> Run {
        self.stop_promptly(libc::SIGTERM, "SIGTERM")
    }

    #[track_caller]
    fn stop_promptly(self, signal: i32, name: &str) -> Run {
        self.signal(signal);
        let (run, waited) = self.finish(std::time::Duration::from_secs(30));
        eprintln!("stackctl exited {waited:?} after {name}");
        run.expect(130);
        assert!(waited < PROMPT, "exited {waited:?} after {name}");
        run
    }

    /// Wait for it to end, at most `limit`; its outcome and how long the wait took. A process
    /// still running at the limit is killed and the test fails.
    pub fn finish(mut self, limit: std::time::Duration) -> (Run, std::time::Duration) {
        let started = std::time::Instant::now();
        while self.0.try_wait().expect("wait for stackctl").is_none() {
            if started.elapsed() > limit {
                let _ = self.0.kill();
                let run = Run::from(self.0.wait_with_output().expect("collect stackctl"));
                panic!("stackctl still ran after {limit:?}:\n{}", run.all());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let waited = started.elapsed();
        (
            Run::from(self.0.wait_with_output().expect("collect stackctl")),
            waited,
        )
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
            // -1: killed by a signal.
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

    /// stdout parsed as JSON (`--format json`), showing everything the command said when it
    /// is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The top-level findings of the JSON report on stdout as (rule, file, line), `""` and 0
    /// where the report has none.
    #[track_caller]
    pub fn findings(&self) -> Vec<(String, String, u64)> {
        self.json()["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["rule"].as_str().unwrap_or("").to_string(),
                    d["file"].as_str().unwrap_or("").to_string(),
                    d["line"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The first top-level finding of `rule` in the JSON report on stdout, showing everything
    /// the command said when there is none.
    #[track_caller]
    pub fn finding(&self, rule: &str) -> serde_json::Value {
        let doc = self.json();
        doc["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["rule"] == rule)
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no {rule} finding
{}",
                    self.all()
                )
            })
    }
}

/// Copy a file or a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    copy_tree_except(from, to, |_| false);
}

/// Copy a file or a directory tree, leaving out the entries `skip` accepts (given their path
/// relative to `from`) with everything below them.
fn copy_tree_except(from: &Path, to: &Path, skip: impl Fn(&Path) -> bool) {
    if from.is_file() {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
        return;
    }
    let entries = walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|entry| !skip(entry.path().strip_prefix(from).unwrap()));
    for entry in entries {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The hex SHA-256 of a file's content.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

//! Shared test support: locating the real tools, sandboxed copies of the repository, and a
//! `stackctl` command isolated from the developer's machine (homes, caches, credentials).

#![allow(dead_code)] // Each test module uses a different part of the support.

pub mod fixture;
pub mod github;
pub mod registry;

use std::path::{Path, PathBuf};

/// The repository this test suite belongs to.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool the tests need, from the environment variable `scripts/toolchain.sh --print-env`
/// exports. A missing tool fails the test: tests never skip silently, in CI or anywhere.
pub fn required_tool(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{var} points at {}, which does not exist",
                path.display()
            );
            path
        }
        None => panic!(
            "{what} is required: {var} is not set. Run `eval \"$(scripts/toolchain.sh --print-env)\"` \
             (or use scripts/test, which does it)"
        ),
    }
}

pub fn helm4() -> PathBuf {
    required_tool("STACKCTL_TEST_HELM4", "helm 4.3.1")
}

pub fn helm3() -> PathBuf {
    required_tool("STACKCTL_TEST_HELM3", "helm 3.17.2")
}

/// Both supported helm majors, for tests that must hold with each.
pub fn helms() -> Vec<(&'static str, PathBuf)> {
    vec![("helm4", helm4()), ("helm3", helm3())]
}

/// The environment of every command a test sandbox runs, stackctl's and helm's alike: empty
/// but for `PATH` and homes under `scratch` (HOME, the XDG dirs, helm's three homes and its
/// registry config, docker's config, stackctl's cache), so no token, login, cache or colour
/// setting of the machine leaks into a test, and nothing a test does leaks out. Commands run
/// with `env_clear()` and these variables.
pub fn isolated_env(scratch: &Path) -> std::collections::BTreeMap<String, String> {
    let path = |p: &str| scratch.join(p).display().to_string();
    let mut env = std::collections::BTreeMap::new();
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
    env.insert(
        "PATH".into(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    );
    env
}

/// A temporary directory holding a repository for one test, with the [`isolated_env`] of its
/// own.
pub struct Sandbox {
    dir: tempfile::TempDir,
    env: std::collections::BTreeMap<String, String>,
}

impl Sandbox {
    /// An empty repository root (tests write the files they need).
    pub fn empty() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("stackctl-test-")
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir_all(dir.path().join("repo")).expect("create sandbox dirs");
        let env = isolated_env(dir.path());
        Sandbox { dir, env }
    }

    /// A copy of this repository's stack: charts (without built dependencies), envs, kind
    /// configs and stackctl.toml.
    pub fn with_repo() -> Sandbox {
        let sandbox = Sandbox::empty();
        let src = repo_root();
        for entry in ["charts", "envs", "kind", "stackctl.toml", ".gitignore"] {
            let from = src.join(entry);
            if from.exists() {
                copy_tree(&from, &sandbox.root().join(entry));
            }
        }
        sandbox
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The repository root inside the sandbox.
    pub fn root(&self) -> PathBuf {
        self.path().join("repo")
    }

    pub fn cache_dir(&self) -> PathBuf {
        PathBuf::from(&self.env["STACKCTL_CACHE_DIR"])
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.root().join(relative)).unwrap()
    }

    /// `stackctl` run in the sandbox's repository with the sandbox's environment only.
    pub fn stackctl(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_stackctl"));
        cmd.env_clear().envs(&self.env).current_dir(self.root());
        cmd
    }

    /// `stackctl --helm <helm>` in the sandbox.
    pub fn stackctl_with(&self, helm: &Path) -> assert_cmd::Command {
        let mut cmd = self.stackctl();
        cmd.arg("--helm").arg(helm);
        cmd
    }
}

/// Copy a file or a directory tree, leaving out built dependency archives.
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_file() {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
        return;
    }
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let relative = entry.path().strip_prefix(from).unwrap();
        // charts/<chart>/charts/ holds archives stackctl builds; tests start without them.
        let parts: Vec<_> = relative.components().collect();
        if parts.len() >= 2 && parts[1].as_os_str() == "charts" && from.ends_with("charts") {
            continue;
        }
        let target = to.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// stdout of a finished command as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

impl Sandbox {
    /// Real `helm` run in the sandbox's repository with the sandbox's environment.
    pub fn helm(&self, helm: &Path, args: &[&str]) -> std::process::Output {
        std::process::Command::new(helm)
            .args(args)
            .current_dir(self.root())
            .env_clear()
            .envs(&self.env)
            .output()
            .expect("run helm")
    }
}

impl Sandbox {
    /// Run `stackctl --helm <helm> ARGS…` in the sandbox and wait for it.
    pub fn run(&self, helm: &Path, args: &[&str]) -> std::process::Output {
        self.stackctl_with(helm)
            .args(args)
            .output()
            .expect("run stackctl")
    }
}

/// A `helm` script in the sandbox (outside its repository) that appends one line per call to
/// a log, then runs `real`: what stackctl really asked helm, not what it says it did. `line` is
/// the shell text echoed, e.g. `$*` or `$1 GOGC=$GOGC`. Returns the script and the log.
pub fn logging_helm(sandbox: &Sandbox, real: &Path, line: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = sandbox.root().parent().unwrap().join("wrapper");
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

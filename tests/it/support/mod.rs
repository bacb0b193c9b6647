//! Shared test support: the real tools the tests run against, the [`Sandbox`] every test runs
//! stackctl and helm in (a temporary repository with an environment isolated from the
//! developer's machine), the [`Run`] of one command, a real OCI registry, a stand-in of the
//! GitHub API, and the stand-in `kind` and `docker` scripts.

pub mod github;
pub mod registry;
mod sandbox;
pub mod standins;

pub use sandbox::{Run, Sandbox, Started, TOKEN_SENTINEL, copy_tree, sha256_file};

use std::path::PathBuf;

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

//! The stand-in `kind` and `docker` scripts of `tests/it/standins/` on a sandbox's `PATH`.
//! They are stand-ins, not the tools: they run no cluster, no container and no build; they
//! keep what they "made" as files and record every call with its arguments.

use std::path::{Path, PathBuf};

use super::{Sandbox, repo_root};

/// Stand-in tools installed for one sandbox: their directory (the sandbox's `PATH`) and their
/// state (`$STANDIN_STATE`, see `tests/it/standins/common.sh`).
pub struct StandIns {
    bin: PathBuf,
    state: PathBuf,
}

impl StandIns {
    /// Copy the stand-ins `tools` (`kind`, `docker`) outside the sandbox's repository and
    /// make their directory the sandbox's whole `PATH`: no real tool can be picked up unless
    /// [`StandIns::expose`] puts it there.
    pub fn install(sandbox: &mut Sandbox, tools: &[&str]) -> StandIns {
        let bin = sandbox.outside_repo("standin-bin");
        let state = sandbox.outside_repo("standin-state");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(state.join("containers")).unwrap();
        let standins = repo_root().join("tests/it/standins");
        for file in tools.iter().copied().chain(["common.sh"]) {
            std::fs::copy(standins.join(file), bin.join(file)).unwrap();
        }
        sandbox.set_env("PATH", bin.display().to_string());
        sandbox.set_env("STANDIN_STATE", state.display().to_string());
        StandIns { bin, state }
    }

    /// Put the real `program` (found on the test's own `PATH`) beside the stand-ins, for a
    /// tool stackctl needs that has no stand-in (git). A missing tool fails the test.
    pub fn expose(&self, program: &str) {
        let real = on_path(program).unwrap_or_else(|| {
            panic!(
                "{program} is required on PATH for this test (it is a real tool, not a stand-in)"
            )
        });
        std::os::unix::fs::symlink(&real, self.bin.join(program)).unwrap();
    }

    /// Every call the stand-ins recorded so far, one line each (`docker build --target …`).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The directory the stand-ins keep their state in.
    pub fn state(&self) -> &Path {
        &self.state
    }
}

/// `program` in a directory of the test process's `PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

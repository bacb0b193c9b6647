//! The stand-in `kind` and `docker` scripts of `tests/it/standins/` on a sandbox's `PATH`.
//! They are stand-ins, not the tools: they run no cluster, no container and no build; they
//! keep what they "made" as files and record every call with its arguments.

use std::path::{Path, PathBuf};

use super::{Sandbox, repo_root};

/// Stand-in tools installed for one sandbox: their directory (the sandbox's `PATH`) and their
/// state (`$STANDIN_STATE`, see `tests/it/standins/common.sh`).
pub struct StandIns {
    state: PathBuf,
}

impl StandIns {
    /// Copy the stand-ins `tools` (`kind`, `docker`) outside the sandbox's repository and
    /// make their directory the sandbox's whole `PATH`: no real tool can be picked up.
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
        StandIns { state }
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

//! Running helm: finding the binary, checking its version, rendering and linting.
//!
//! helm is found through `--helm PATH`, then `$STACKCTL_HELM`, then `PATH`. Helm 3.17 and
//! later 3.x, and Helm 4, are supported; anything else is an environment error, because
//! stackctl relies on flags and output those versions share.

mod lint;
mod manifest;
mod template;

pub use lint::{LintOutput, LintRequest};
pub use manifest::{Rendered, RenderedObject, split_manifest};
pub use template::{RenderError, TemplateLocation, TemplateRequest, parse_helm_error};

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, Cancel, Command, Output, RunError};

/// Where the helm binary came from, for messages that tell the user what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelmSource {
    Flag,
    Env,
    Path,
}

impl HelmSource {
    pub fn describe(self) -> &'static str {
        match self {
            HelmSource::Flag => "--helm",
            HelmSource::Env => "$STACKCTL_HELM",
            HelmSource::Path => "PATH",
        }
    }
}

/// A helm binary stackctl has checked and can run, bound to the run's cancellation: every
/// helm it starts is killed when the user interrupts the run.
#[derive(Debug, Clone)]
pub struct Helm {
    pub path: PathBuf,
    pub version: semver::Version,
    pub source: HelmSource,
    cancel: Cancel,
}

/// The oldest Helm 3 release stackctl supports.
pub const MIN_HELM3: semver::Version = semver::Version::new(3, 17, 0);

impl Helm {
    /// Find helm and check its version.
    pub async fn discover(flag: Option<&Path>, cancel: &Cancel) -> Result<Helm> {
        Helm::discover_memoized(flag, None, cancel).await
    }

    /// [`Helm::discover`], remembering the version under `memo_dir` for a binary that cannot
    /// change it without changing its file. Asking helm its version starts helm, which costs
    /// tens of milliseconds: more than everything else a run whose verdicts all come from the
    /// result cache does. The memo is keyed by the binary's real path, size, inode, mtime and
    /// ctime, and kept only for a binary named `helm…` that is not a script: a wrapper, a
    /// version manager's shim or a multi-call binary can answer differently from one run to
    /// the next without its file changing, so those are asked every time.
    pub async fn discover_memoized(
        flag: Option<&Path>,
        memo_dir: Option<&Path>,
        cancel: &Cancel,
    ) -> Result<Helm> {
        let (path, source) = locate(flag)?;
        let memo = memo_dir.and_then(|dir| version_memo(dir, &path));
        let remembered = memo
            .as_ref()
            .and_then(|file| std::fs::read_to_string(file).ok())
            .and_then(|text| parse_version(&text));
        let version = match remembered {
            Some(version) => version,
            None => {
                let version = read_version(&path, cancel).await?;
                if let Some(file) = &memo {
                    // Best effort: a cache that cannot be written only costs the next run a probe.
                    let _ = crate::fsutil::write_atomic(file, version.to_string().as_bytes());
                }
                version
            }
        };
        check_supported(&version).map_err(|e| {
            e.with_hint(format!(
                "install Helm 3.17+ or Helm 4, or point {} at one",
                source.describe()
            ))
        })?;
        Ok(Helm {
            path,
            version,
            source,
            cancel: cancel.clone(),
        })
    }

    /// A helm whose version is already known (a test's, or one checked earlier).
    pub fn new(
        path: PathBuf,
        version: semver::Version,
        source: HelmSource,
        cancel: Cancel,
    ) -> Helm {
        Helm {
            path,
            version,
            source,
            cancel,
        }
    }

    /// Whether the run this helm belongs to was interrupted: whatever it rendered since may
    /// have been cut short.
    pub fn interrupted(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// A command running this helm with the Go runtime settings of [`go_runtime_env`].
    fn command(&self) -> Command {
        go_runtime_env(|name| std::env::var_os(name))
            .into_iter()
            .fold(Command::new(&self.path), |cmd, (key, value)| {
                cmd.env(key, value)
            })
    }

    /// Run `command` under this run's cancellation.
    async fn run(&self, command: Command) -> Result<Output, RunError> {
        command.run(&self.cancel).await
    }
}

/// The memo file of `path`'s version under `dir`, or `None` when the binary's version must be
/// asked every time (see [`Helm::discover_memoized`]).
fn version_memo(dir: &Path, path: &Path) -> Option<PathBuf> {
    use sha2::Digest;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(path).ok()?;
    if !real.file_name()?.to_string_lossy().starts_with("helm") {
        return None;
    }
    let mut head = [0u8; 2];
    std::fs::File::open(&real)
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    if &head == b"#!" {
        return None;
    }
    let meta = std::fs::metadata(&real).ok()?;
    let identity = format!(
        "{}\0{}\0{}:{}\0{}.{}\0{}.{}",
        real.display(),
        meta.len(),
        meta.dev(),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    let key = hex::encode(sha2::Sha256::digest(identity.as_bytes()));
    Some(dir.join("helm-versions").join(key))
}

/// Where helm is, without running it.
pub fn locate(flag: Option<&Path>) -> Result<(PathBuf, HelmSource)> {
    if let Some(path) = flag {
        return existing(path, HelmSource::Flag);
    }
    if let Some(path) = std::env::var_os("STACKCTL_HELM").filter(|v| !v.is_empty()) {
        return existing(Path::new(&path), HelmSource::Env);
    }
    process::find_on_path("helm")
        .map(|p| (p, HelmSource::Path))
        .ok_or_else(|| {
            Error::new(ErrorKind::ToolMissing, "helm was not found on PATH").with_hint(
                "install Helm 3.17+ or Helm 4 (scripts/toolchain.sh installs pinned copies into .tools/), \
or pass --helm PATH or set STACKCTL_HELM",
            )
        })
}

fn existing(path: &Path, source: HelmSource) -> Result<(PathBuf, HelmSource)> {
    if process::is_executable(path) {
        Ok((path.to_path_buf(), source))
    } else {
        Err(Error::new(
            ErrorKind::ToolMissing,
            format!(
                "helm given by {} is not an executable file: {}",
                source.describe(),
                path.display()
            ),
        )
        .with_hint("point it at a helm binary, or unset it to use helm from PATH"))
    }
}

/// How long `helm version` may take: it answers in milliseconds, so a helm that does not is
/// broken, and is reported rather than waited on.
const VERSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Ask helm for its version (`v4.3.1` or `v3.17.2+g…`) and parse it.
pub async fn read_version(path: &Path, cancel: &Cancel) -> Result<semver::Version> {
    let output = Command::new(path)
        .args(["version", "--template", "{{.Version}}"])
        .timeout(VERSION_TIMEOUT)
        .label("helm version")
        .run(cancel)
        .await?;
    if !output.success() {
        return Err(Error::environment(format!(
            "cannot read the helm version: {} exited with {}: {}",
            path.display(),
            output.status,
            output.stderr.trim()
        )));
    }
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    parse_version(&out).ok_or_else(|| {
        Error::environment(format!(
            "{} printed {:?} as its version, which is not a helm version",
            path.display(),
            out.trim()
        ))
    })
}

/// Go runtime settings for the helm processes that render and lint. A `helm template` lives
/// for tens of milliseconds, and Go's garbage collector spends about a quarter of that CPU
/// reclaiming memory the process is about to give back anyway; on a 2-core machine that is
/// a quarter of validation's time. The collector is turned off up to a soft heap limit of
/// 512 MiB, past which it runs as usual, so a very large chart cannot run away with memory.
/// A user who sets either variable keeps their own settings.
pub fn go_runtime_env(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Vec<(&'static str, &'static str)> {
    if lookup("GOGC").is_some() || lookup("GOMEMLIMIT").is_some() {
        return Vec::new();
    }
    vec![("GOGC", "off"), ("GOMEMLIMIT", "512MiB")]
}

/// Parse `v3.17.2`, `v4.3.1+gabc123` or `3.17.2` into a semantic version.
pub fn parse_version(text: &str) -> Option<semver::Version> {
    let text = text.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    let mut version = semver::Version::parse(text).ok()?;
    version.build = semver::BuildMetadata::EMPTY;
    Some(version)
}

pub fn check_supported(version: &semver::Version) -> Result<()> {
    let ok = match version.major {
        3 => *version >= MIN_HELM3,
        4 => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::ToolUnsupported,
            format!(
                "helm {version} is not supported: stackctl needs Helm 3.17 or later, or Helm 4"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_helm_version_strings() {
        assert_eq!(
            parse_version("v3.17.2"),
            Some(semver::Version::new(3, 17, 2))
        );
        assert_eq!(
            parse_version("v4.3.1+g1234abc\n"),
            Some(semver::Version::new(4, 3, 1))
        );
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn helm_runs_without_a_collector_unless_the_user_tuned_go() {
        let unset = |_: &str| None;
        assert_eq!(
            go_runtime_env(unset),
            vec![("GOGC", "off"), ("GOMEMLIMIT", "512MiB")]
        );
        for set in ["GOGC", "GOMEMLIMIT"] {
            let user = |name: &str| (name == set).then(|| "100".into());
            assert_eq!(go_runtime_env(user), vec![], "{set} set by the user");
        }
    }

    #[test]
    fn supports_helm_3_17_and_later_and_helm_4() {
        for (v, ok) in [
            ("3.16.4", false),
            ("3.17.0", true),
            ("3.19.4", true),
            ("4.0.0", true),
            ("4.3.1", true),
            ("2.17.0", false),
            ("5.0.0", false),
        ] {
            let version = semver::Version::parse(v).unwrap();
            assert_eq!(check_supported(&version).is_ok(), ok, "{v}");
        }
    }
}

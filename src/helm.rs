//! Running helm: finding the binary, checking its version.
//!
//! helm is found through `--helm PATH`, then `$STACKCTL_HELM`, then `PATH`. Helm 3.17 and
//! later 3.x, and Helm 4, are supported; anything else is an environment error, because
//! stackctl relies on flags and output those versions share.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::tools;

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

/// A helm binary stackctl has checked and can run.
#[derive(Debug, Clone)]
pub struct Helm {
    pub path: PathBuf,
    pub version: semver::Version,
    pub source: HelmSource,
}

/// The oldest Helm 3 release stackctl supports.
pub const MIN_HELM3: semver::Version = semver::Version::new(3, 17, 0);

impl Helm {
    /// Find helm and check its version.
    pub fn discover(flag: Option<&Path>) -> Result<Helm> {
        let (path, source) = locate(flag)?;
        let version = read_version(&path)?;
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
        })
    }

    pub fn major(&self) -> u64 {
        self.version.major
    }
}

/// Where helm is, without running it.
pub fn locate(flag: Option<&Path>) -> Result<(PathBuf, HelmSource)> {
    if let Some(path) = flag {
        return existing(path, HelmSource::Flag);
    }
    if let Some(path) = std::env::var_os("STACKCTL_HELM").filter(|v| !v.is_empty()) {
        return existing(Path::new(&path), HelmSource::Env);
    }
    tools::find_on_path("helm")
        .map(|p| (p, HelmSource::Path))
        .ok_or_else(|| {
            Error::environment("helm was not found on PATH").with_hint(
                "install Helm 3.17+ or Helm 4 (scripts/toolchain.sh installs pinned copies into .tools/), \
or pass --helm PATH or set STACKCTL_HELM",
            )
        })
}

fn existing(path: &Path, source: HelmSource) -> Result<(PathBuf, HelmSource)> {
    if tools::is_executable(path) {
        Ok((path.to_path_buf(), source))
    } else {
        Err(Error::environment(format!(
            "helm given by {} is not an executable file: {}",
            source.describe(),
            path.display()
        ))
        .with_hint("point it at a helm binary, or unset it to use helm from PATH"))
    }
}

/// Ask helm for its version (`v4.3.1` or `v3.17.2+g…`) and parse it.
pub fn read_version(path: &Path) -> Result<semver::Version> {
    let out = tools::probe_output(path, &["version", "--template", "{{.Version}}"])
        .map_err(|e| Error::environment(format!("cannot read the helm version: {e}")))?;
    parse_version(&out).ok_or_else(|| {
        Error::environment(format!(
            "{} printed {:?} as its version, which is not a helm version",
            path.display(),
            out.trim()
        ))
    })
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
        Err(Error::environment(format!(
            "helm {version} is not supported: stackctl needs Helm 3.17 or later, or Helm 4"
        )))
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

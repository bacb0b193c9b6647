//! OCI registries: where a chart repository is actually fetched from (mirrors, plain HTTP),
//! the client that pulls and pushes Helm chart artifacts, the credential chain, and the local
//! content-addressed cache of chart archives.

pub mod cache;
pub mod credentials;
pub mod registry;
pub mod transfer;

use std::collections::BTreeSet;

use crate::config::RegistriesConfig;
use crate::environment::Environment;
use crate::error::{Error, Result};
pub use crate::oci::transfer::TransferLimits;

/// Media type of a Helm chart artifact's config blob.
pub const HELM_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// Media type of the layer holding the chart archive.
pub const HELM_CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

pub const MIRRORS_VAR: &str = "STACKCTL_REGISTRY_MIRRORS";
pub const INSECURE_VAR: &str = "STACKCTL_INSECURE_REGISTRIES";

/// How stackctl reaches registries: mirrors, plain-HTTP hosts, and which hosts take a GitHub
/// token. Merged from `stackctl.toml`, the environment and the command line.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    /// (from, to) repository prefixes without `oci://`; the longest matching `from` wins.
    mirrors: Vec<(String, String)>,
    insecure: BTreeSet<String>,
    github_hosts: BTreeSet<String>,
    /// The most read from a registry for a manifest and a blob.
    pub limits: TransferLimits,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits::from(&RegistriesConfig::default())
    }
}

impl From<&RegistriesConfig> for TransferLimits {
    fn from(config: &RegistriesConfig) -> Self {
        TransferLimits {
            manifest: config.max_manifest_size.0,
            blob: config.max_blob_size.0,
        }
    }
}

impl RegistrySettings {
    /// Merge the three sources. Later sources win for the same mirror prefix:
    /// `stackctl.toml`, then `STACKCTL_REGISTRY_MIRRORS` / `STACKCTL_INSECURE_REGISTRIES`,
    /// then `--registry-mirror` / `--insecure-registry`.
    pub fn resolve(
        config: &RegistriesConfig,
        env: &Environment,
        cli_mirrors: &[String],
        cli_insecure: &[String],
    ) -> Result<RegistrySettings> {
        let mut settings = RegistrySettings {
            limits: TransferLimits::from(config),
            ..RegistrySettings::default()
        };
        for (from, to) in &config.mirrors {
            settings.add_mirror(from, to, "stackctl.toml [registries] mirrors")?;
        }
        settings
            .insecure
            .extend(config.insecure.iter().map(|h| normalize_host(h)));
        // ghcr.io is GitHub's registry whatever the file lists; the file adds hosts.
        settings.github_hosts.insert("ghcr.io".to_string());
        settings
            .github_hosts
            .extend(config.github.iter().map(|h| normalize_host(h)));
        if let Some(value) = env.get(MIRRORS_VAR) {
            for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (from, to) = split_mirror(pair, MIRRORS_VAR)?;
                settings.add_mirror(from, to, MIRRORS_VAR)?;
            }
        }
        if let Some(value) = env.get(INSECURE_VAR) {
            settings.insecure.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(normalize_host),
            );
        }
        for pair in cli_mirrors {
            let (from, to) = split_mirror(pair, "--registry-mirror")?;
            settings.add_mirror(from, to, "--registry-mirror")?;
        }
        settings
            .insecure
            .extend(cli_insecure.iter().map(|h| normalize_host(h)));
        Ok(settings)
    }

    fn add_mirror(&mut self, from: &str, to: &str, origin: &str) -> Result<()> {
        let from = strip_oci(from);
        let to = strip_oci(to);
        if from.is_empty() || to.is_empty() {
            return Err(Error::usage(format!(
                "{origin}: a mirror needs both sides, like oci://ghcr.io/jetscale-ai/charts=oci://127.0.0.1:5000/charts"
            )));
        }
        self.mirrors.retain(|(f, _)| *f != from);
        self.mirrors.push((from, to));
        Ok(())
    }

    /// Where a chart repository (`oci://host/path`) is fetched from.
    pub fn locate(&self, repository: &str) -> Result<RepositoryLocation> {
        let canonical = strip_oci(repository);
        if !repository.starts_with("oci://") || canonical.is_empty() {
            return Err(Error::config(format!(
                "{repository:?} is not an OCI repository (oci://host/path)"
            )));
        }
        let mirror = self
            .mirrors
            .iter()
            .filter(|(from, _)| {
                canonical == *from
                    || canonical
                        .strip_prefix(from.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(from, _)| from.len());
        let contacted = match mirror {
            Some((from, to)) => format!("{to}{}", &canonical[from.len()..]),
            None => canonical.clone(),
        };
        let (host, path) = match contacted.split_once('/') {
            Some((host, path)) => (host.to_string(), path.to_string()),
            None => (contacted.clone(), String::new()),
        };
        Ok(RepositoryLocation {
            canonical: format!("oci://{canonical}"),
            mirrored: mirror.is_some(),
            plain_http: self.insecure.contains(&host),
            github: self.github_hosts.contains(&host),
            host,
            path,
        })
    }

    pub fn insecure_hosts(&self) -> Vec<String> {
        self.insecure.iter().cloned().collect()
    }

    pub fn is_github_host(&self, host: &str) -> bool {
        self.github_hosts.contains(host)
    }
}

/// A chart repository resolved to the registry stackctl talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryLocation {
    /// The repository as `Chart.yaml` writes it: what the lock and the cache key use.
    pub canonical: String,
    /// The registry host (with port) actually contacted.
    pub host: String,
    /// The repository path on that host (may be empty).
    pub path: String,
    pub mirrored: bool,
    pub plain_http: bool,
    /// Whether the host accepts a GitHub token.
    pub github: bool,
}

impl RepositoryLocation {
    /// The OCI repository of one chart: `<path>/<name>`.
    pub fn chart_repository(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.path)
        }
    }

    /// `host/path/name:tag` as helm prints it (helm turns `+` into `_` in tags).
    pub fn display_reference(&self, name: &str, version: &str) -> String {
        format!(
            "{}/{}:{}",
            self.host,
            self.chart_repository(name),
            version_tag(version)
        )
    }
}

/// The OCI tag helm uses for a chart version (`+` is not allowed in tags).
pub fn version_tag(version: &str) -> String {
    version.replace('+', "_")
}

fn strip_oci(repository: &str) -> String {
    repository
        .trim()
        .trim_start_matches("oci://")
        .trim_end_matches('/')
        .to_string()
}

fn normalize_host(host: &str) -> String {
    strip_oci(host)
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

fn split_mirror<'a>(pair: &'a str, origin: &str) -> Result<(&'a str, &'a str)> {
    pair.split_once('=').ok_or_else(|| {
        Error::usage(format!(
            "{origin}: {pair:?} is not FROM=TO, like oci://ghcr.io/jetscale-ai/charts=oci://127.0.0.1:5000/charts"
        ))
    })
}

/// A packaged chart in memory: the artifact pushed to and pulled from a registry.
#[derive(Debug, Clone)]
pub struct PackagedChart {
    pub name: String,
    pub version: String,
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
}

/// The OCI content digest of `bytes`: `sha256:<hex>`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_replace_the_longest_matching_prefix() {
        let config = RegistriesConfig {
            mirrors: [(
                "oci://ghcr.io".to_string(),
                "oci://mirror.local".to_string(),
            )]
            .into(),
            insecure: vec!["127.0.0.1:5000".into()],
            github: vec!["ghcr.io".into()],
            ..RegistriesConfig::default()
        };
        let env = Environment::from_pairs([(
            MIRRORS_VAR,
            "oci://ghcr.io/jetscale-ai/charts=oci://127.0.0.1:5000/charts",
        )]);
        let settings = RegistrySettings::resolve(&config, &env, &[], &[]).unwrap();
        let loc = settings.locate("oci://ghcr.io/jetscale-ai/charts").unwrap();
        assert_eq!(loc.host, "127.0.0.1:5000");
        assert_eq!(loc.path, "charts");
        assert!(loc.plain_http && loc.mirrored && !loc.github);
        assert_eq!(loc.canonical, "oci://ghcr.io/jetscale-ai/charts");
        assert_eq!(
            loc.display_reference("backend", "1.0.0+build"),
            "127.0.0.1:5000/charts/backend:1.0.0_build"
        );

        let other = settings.locate("oci://ghcr.io/other").unwrap();
        assert!(settings.is_github_host("ghcr.io"));
        assert_eq!(
            (other.host.as_str(), other.path.as_str()),
            ("mirror.local", "other")
        );

        // A prefix must end at a path boundary.
        let unrelated = settings
            .locate("oci://ghcr.io/jetscale-ai/charts2")
            .unwrap();
        assert_eq!(unrelated.host, "mirror.local");
        assert_eq!(unrelated.path, "jetscale-ai/charts2");
    }

    #[test]
    fn command_line_wins_and_bad_pairs_are_usage_errors() {
        let env = Environment::from_pairs([(MIRRORS_VAR, "oci://a/x=oci://b/x")]);
        let config = RegistriesConfig {
            github: vec!["github.example".into()],
            ..RegistriesConfig::default()
        };
        let settings = RegistrySettings::resolve(
            &config,
            &env,
            &["oci://a/x=oci://c/x".to_string()],
            &["c".to_string()],
        )
        .unwrap();
        let loc = settings.locate("oci://a/x").unwrap();
        assert_eq!(loc.host, "c");
        // ghcr.io takes a GitHub token even when stackctl.toml lists other GitHub hosts.
        assert!(settings.is_github_host("ghcr.io"));
        assert!(loc.plain_http);
        let err = RegistrySettings::resolve(
            &RegistriesConfig::default(),
            &Environment::default(),
            &["no-equals".to_string()],
            &[],
        )
        .unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Usage);
    }
}

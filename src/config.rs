//! `stackctl.toml`: the repository's configuration.
//!
//! The file is optional; every setting has a default that fits the Stack repository. It is a
//! public contract documented in `docs/configuration.md`: an unknown key or a bad value is a
//! configuration error that names the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::findings::Severity;

pub const CONFIG_FILE: &str = "stackctl.toml";

/// The contents of `stackctl.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub chart: ChartConfig,
    pub envs: EnvsConfig,
    pub render: RenderConfig,
    /// Per-target settings, keyed by the env file's repository-relative path.
    pub targets: BTreeMap<String, TargetConfig>,
    /// Lifecycle variants of the chart: named chains of the chart's own values files.
    pub variants: BTreeMap<String, VariantConfig>,
    pub dependencies: DependenciesConfig,
    pub registries: RegistriesConfig,
    /// Severity overrides by rule ID: "error", "warning" or "off".
    pub rules: BTreeMap<String, RuleLevel>,
    /// The local kind cluster and its registry (`cluster up|delete|status`).
    pub cluster: ClusterConfig,
    /// The test loops (`test local|ci|dev|live`).
    pub test: TestConfig,
    /// Input files of the repository (values, charts, schemas, this file).
    pub files: FilesConfig,
    /// The line of `stackctl.toml` that sets each target's or variant's `release`, keyed like
    /// `targets` and `variants`: findings caused by a release name point there.
    #[serde(skip)]
    pub release_lines: BTreeMap<String, usize>,
    /// The line of each entry's key under `[rules]` and `[targets]`, keyed by section and
    /// entry (`("rules", "values/schema")`): a configuration error about an entry points there.
    #[serde(skip)]
    pub entry_lines: BTreeMap<(String, String), usize>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChartConfig {
    /// The umbrella chart, relative to the repository root. Unset in `stackctl.toml`, the
    /// repository is searched for it ([`crate::repo::Repo::open`]).
    pub path: PathBuf,
    /// Whether `stackctl.toml` sets `path`.
    #[serde(skip)]
    pub path_set: bool,
}

impl Default for ChartConfig {
    fn default() -> Self {
        ChartConfig {
            path: PathBuf::from("charts/jetscale"),
            path_set: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct EnvsConfig {
    /// The directory of per-environment values files.
    pub dir: PathBuf,
    /// Directories of `dir` whose envs are per-PR previews (`preview/cronjobs-suspended`,
    /// and the preview side of `ingress/parity`).
    pub preview_dirs: Vec<String>,
    /// Directories of `dir` whose envs are live production (the prod side of
    /// `ingress/parity`).
    pub production_dirs: Vec<String>,
    /// Clouds (files directly in `dir`) whose Ingresses become AWS load balancers:
    /// `ingress/tls` and `ingress/parity` apply to their envs.
    pub aws_clouds: Vec<String>,
    /// The files of `dir` that are targets: globs relative to it (see
    /// [`crate::engine::layout`]).
    pub targets: Vec<String>,
    /// The values layers of every target, lowest first: path templates relative to `dir`.
    pub layers: Vec<String>,
}

impl Default for EnvsConfig {
    fn default() -> Self {
        EnvsConfig {
            dir: PathBuf::from("envs"),
            preview_dirs: vec!["preview".to_string()],
            production_dirs: vec!["prod".to_string()],
            aws_clouds: vec!["aws".to_string()],
            targets: vec!["*/**/*.yaml".to_string(), "*/**/*.yml".to_string()],
            layers: vec![
                "{cloud}.yaml".to_string(),
                "{dir}/default.yaml?".to_string(),
                "{file}".to_string(),
            ],
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RenderConfig {
    /// Passed to `helm template --kube-version`, so results do not depend on the helm build.
    pub kube_version: String,
    /// Release name for targets without their own; unset, the chart's name (from its
    /// `Chart.yaml`).
    pub release: Option<String>,
    /// Namespace for targets without their own.
    pub namespace: String,
    /// How long one `helm template` or `helm lint` may run before it is stopped and reported
    /// as hung (`60s`, `2m`).
    pub timeout: String,
    /// The largest manifest `helm template` may print; a bigger render is an error, never a
    /// truncated parse.
    pub max_output_size: ByteSize,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            kube_version: "1.33.0".to_string(),
            release: None,
            namespace: "default".to_string(),
            timeout: "60s".to_string(),
            max_output_size: ByteSize(64 << 20),
        }
    }
}

/// A size in bytes, written `"4 MiB"`, `"512 KiB"`, `"1 GB"` or as a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Bytes(u64),
            Text(String),
        }
        let bytes = match Written::deserialize(deserializer)? {
            Written::Bytes(0) => Err("a size must be more than 0 bytes".to_string()),
            Written::Bytes(n) => Ok(n),
            Written::Text(text) => crate::fsutil::parse_size(&text),
        };
        bytes.map(ByteSize).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::fsutil::format_size(self.0))
    }
}

/// `[files]`: how stackctl reads the repository's input files.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilesConfig {
    /// Input files larger than this are refused before they are parsed.
    pub max_size: ByteSize,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_size: ByteSize(crate::fsutil::DEFAULT_MAX_INPUT_SIZE),
        }
    }
}

impl RenderConfig {
    /// The render timeout; [`Config::parse`] has checked it, so a bad value only comes from a
    /// configuration built in code, which gets the default.
    pub fn timeout(&self) -> std::time::Duration {
        parse_duration(&self.timeout).unwrap_or(std::time::Duration::from_secs(60))
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetConfig {
    /// The release name the deploy path of this target uses.
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// Secrets and ConfigMaps that the target's pods reference but that something outside
    /// the chart provides (the infrastructure, a workflow). `{release}` is replaced. Unset,
    /// a less specific table's list applies.
    pub external_refs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VariantConfig {
    /// Values files of the chart, applied in order (relative to the chart directory).
    pub layers: Vec<PathBuf>,
    pub release: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub external_refs: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DependenciesConfig {
    /// Local sources of dependency charts by chart name, for offline resolution. Unset, the
    /// chart directories beside the umbrella chart (see [`crate::repo::Repo::local_sources`]).
    pub sources: Option<BTreeMap<String, PathBuf>>,
    /// The image repository of each dependency chart, for tag checks and `deps bump`.
    /// A chart not listed here defaults to its chart repository's (see [`Self::image_for`]).
    pub images: BTreeMap<String, String>,
}

impl DependenciesConfig {
    /// The image repository a dependency chart ships: `[dependencies.images]`, else the chart
    /// repository's host and path, a final `/charts` dropped, and the chart's name
    /// (`oci://ghcr.io/acme/charts` → `ghcr.io/acme/<chart>`), as charts and images are
    /// commonly published side by side.
    pub fn image_for(&self, chart: &str, repository: &str) -> String {
        if let Some(image) = self.images.get(chart) {
            return image.clone();
        }
        let base = repository
            .strip_prefix("oci://")
            .unwrap_or(repository)
            .trim_end_matches('/');
        let base = base.strip_suffix("/charts").unwrap_or(base);
        match base {
            "" => chart.to_string(),
            base => format!("{base}/{chart}"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistriesConfig {
    /// Registry mirrors: `"oci://ghcr.io/jetscale-ai/charts" = "oci://127.0.0.1:5000/charts"`.
    pub mirrors: BTreeMap<String, String>,
    /// Registries spoken to over plain HTTP (`host:port`).
    pub insecure: Vec<String>,
    /// Registry hosts that accept a GitHub token (`GITHUB_TOKEN` / `GH_TOKEN`).
    pub github: Vec<String>,
    /// The largest manifest read from a registry.
    pub max_manifest_size: ByteSize,
    /// The largest blob (a chart archive) read from a registry.
    pub max_blob_size: ByteSize,
}

impl Default for RegistriesConfig {
    fn default() -> Self {
        RegistriesConfig {
            mirrors: BTreeMap::new(),
            insecure: Vec::new(),
            github: vec!["ghcr.io".to_string()],
            max_manifest_size: ByteSize(4 << 20),
            max_blob_size: ByteSize(64 << 20),
        }
    }
}

/// `[cluster]`: the local kind cluster the Kind test loops and the dev loop use.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterConfig {
    /// The kind cluster's name; kind calls its kubeconfig context `kind-<name>`.
    pub name: String,
    /// The kind configuration, relative to the repository root.
    pub config: PathBuf,
    /// The local image registry's container name; kind's nodes reach it by this name.
    pub registry: String,
    /// The port the registry listens on, on 127.0.0.1 (`localhost:<port>/<image>`).
    pub registry_port: u16,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: "kind".to_string(),
            config: PathBuf::from("kind/kind-config.yaml"),
            registry: "ctlptl-registry".to_string(),
            registry_port: 5000,
        }
    }
}

impl ClusterConfig {
    /// The kubeconfig context of the kind cluster.
    pub fn context(&self) -> String {
        format!("kind-{}", self.name)
    }
}

/// `[test]`: the test loops.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestConfig {
    /// `test local`: images built from the sibling repositories, a fresh namespace.
    pub local: TestLoopConfig,
    /// `test ci`: the pinned images from GHCR, as CI runs it.
    pub ci: TestLoopConfig,
    /// `test dev`: the running dev loop's API.
    pub dev: DevConfig,
    /// `test live`: a live environment through its public host.
    pub live: LiveConfig,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            local: TestLoopConfig {
                variant: "test-local".to_string(),
                fresh_namespace: true,
                images: BTreeMap::from([
                    (
                        "backend".to_string(),
                        ImageConfig {
                            context: PathBuf::from("../backend"),
                            target: "backend".to_string(),
                            repository: "localhost:5000/jetscale-backend".to_string(),
                            values: vec!["backend-api.image".into(), "backend-ws.image".into()],
                            flavour: ImageFlavour::Backend,
                        },
                    ),
                    (
                        "frontend".to_string(),
                        ImageConfig {
                            context: PathBuf::from("../frontend"),
                            target: "frontend".to_string(),
                            repository: "localhost:5000/jetscale-frontend".to_string(),
                            values: vec!["frontend.image".into()],
                            flavour: ImageFlavour::Frontend,
                        },
                    ),
                ]),
                ..TestLoopConfig::default()
            },
            ci: TestLoopConfig {
                variant: "test-ci".to_string(),
                ..TestLoopConfig::default()
            },
            dev: DevConfig::default(),
            live: LiveConfig::default(),
        }
    }
}

/// `[test.local]` and `[test.ci]`: what a Kind test loop deploys and how it checks it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestLoopConfig {
    /// The lifecycle variant deployed (`[variants.<name>]`): its layers, release, namespace.
    pub variant: String,
    /// The kubeconfig context (default: the kind cluster's, `kind-<cluster.name>`).
    pub context: Option<String>,
    /// Delete the namespace and wait until it is gone before deploying.
    pub fresh_namespace: bool,
    /// How long workloads may take to become ready (`5m`, `90s`).
    pub timeout: String,
    /// How long the API may take to answer `ready` once its pods are ready.
    pub settle: String,
    /// The Services the smoke suite reaches through port-forwards, by role: `api`,
    /// `websocket`, `frontend`. `{release}` is replaced.
    pub forwards: BTreeMap<String, ForwardConfig>,
    /// Where the smoke suite's credentials are in the variant's merged values (dotted
    /// paths); `E2E_ADMIN_EMAIL` and `E2E_ADMIN_PASSWORD` override them.
    pub credentials: CredentialPaths,
    /// `test local` only: the images built from sibling repositories, by name.
    pub images: BTreeMap<String, ImageConfig>,
}

/// `[test.local.images.<name>]`: an image `test local` builds, pushes to the local registry
/// and sets in the chart's values.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageConfig {
    /// The repository to build from, relative to this one (also tried in other letter cases).
    pub context: PathBuf,
    /// The Dockerfile stage to build (`docker build --target`).
    pub target: String,
    /// Where the image is pushed (`localhost:5000/jetscale-backend`); tagged from `git describe`.
    pub repository: String,
    /// The values maps the image is set in (`backend-api.image`).
    pub values: Vec<String>,
    /// Which build metadata the image takes.
    pub flavour: ImageFlavour,
}

/// The build metadata an image takes (see `src/images.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFlavour {
    Backend,
    Frontend,
}

impl Default for TestLoopConfig {
    fn default() -> Self {
        let forward = |service: &str, port: u16| ForwardConfig {
            service: service.to_string(),
            port,
        };
        TestLoopConfig {
            variant: String::new(),
            context: None,
            fresh_namespace: false,
            timeout: "5m".to_string(),
            settle: "60s".to_string(),
            forwards: BTreeMap::from([
                ("api".to_string(), forward("{release}-backend-api", 8000)),
                (
                    "websocket".to_string(),
                    forward("{release}-backend-ws", 8001),
                ),
                ("frontend".to_string(), forward("{release}-frontend", 80)),
            ]),
            credentials: CredentialPaths::default(),
            images: BTreeMap::new(),
        }
    }
}

/// A Service port the test loop forwards to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ForwardConfig {
    pub service: String,
    pub port: u16,
}

/// Dotted paths of the smoke suite's credentials in merged values.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CredentialPaths {
    pub email: String,
    pub password: String,
}

impl Default for CredentialPaths {
    fn default() -> Self {
        CredentialPaths {
            email: "backend-api.env.JETSCALE_DEFAULT_ADMIN_EMAIL".to_string(),
            password: "backend-api.env.JETSCALE_DEFAULT_ADMIN_PASSWORD".to_string(),
        }
    }
}

/// `[test.dev]`: the dev loop (Tilt) forwards the API to this URL.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DevConfig {
    pub url: String,
    /// The variant the dev loop runs, whose values hold the credentials.
    pub variant: String,
}

impl Default for DevConfig {
    fn default() -> Self {
        DevConfig {
            url: "http://localhost:8000".to_string(),
            variant: "local-dev".to_string(),
        }
    }
}

/// `[test.live]`: the public host `test live` checks by default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LiveConfig {
    pub host: String,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            host: "console.jetscale.ai".to_string(),
        }
    }
}

/// A rule's configured level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    Error,
    Warning,
    Off,
}

impl RuleLevel {
    /// The severity to report at, or `None` when the rule is off.
    pub fn severity(self) -> Option<Severity> {
        match self {
            RuleLevel::Error => Some(Severity::Error),
            RuleLevel::Warning => Some(Severity::Warning),
            RuleLevel::Off => None,
        }
    }
}

impl Config {
    /// Parse `stackctl.toml` text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            // toml's message repeats the location as a snippet; keep its first line, which
            // says what is wrong, and point at the line ourselves.
            let message = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            Error::config(format!("invalid {}: {message}", file.display()))
                .at(file, line)
                .with_hint("see docs/configuration.md for every key and its type")
        })?;
        config.check(file, text)?;
        config.chart.path = repository_relative(&config.chart.path);
        config.chart.path_set = key_line(text, &["chart", "path"]).is_some();
        config.envs.dir = repository_relative(&config.envs.dir);
        config.release_lines = release_lines(text);
        config.entry_lines = entry_lines(text, &["rules", "targets"]);
        for key in ["targets", "layers"] {
            if let Some(line) = key_line(text, &["envs", key]) {
                config
                    .entry_lines
                    .insert(("envs".to_string(), key.to_string()), line);
            }
        }
        Ok(config)
    }

    /// Checks serde cannot express.
    fn check(&self, file: &Path, text: &str) -> Result<()> {
        match parse_duration(&self.render.timeout) {
            Ok(timeout) if timeout.is_zero() => {
                return Err(Error::config(format!(
                    "invalid {}: render.timeout must be longer than 0s",
                    file.display()
                ))
                .at(file, key_line(text, &["render", "timeout"]))
                .with_hint("set it to how long one helm render may take, e.g. timeout = \"60s\""));
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Error::config(format!(
                    "invalid {}: render.timeout {e}",
                    file.display()
                ))
                .at(file, key_line(text, &["render", "timeout"]))
                .with_hint("write it like \"60s\", \"2m\" or \"1m30s\""));
            }
        }
        if self.render.kube_version.trim().is_empty()
            || semver::Version::parse(self.render.kube_version.trim_start_matches('v')).is_err()
        {
            return Err(Error::config(format!(
                "invalid {}: render.kube-version {:?} is not a version like \"1.33.0\"",
                file.display(),
                self.render.kube_version
            ))
            .at(file, None));
        }
        for (name, variant) in &self.variants {
            if variant.layers.is_empty() {
                return Err(Error::config(format!(
                    "invalid {}: variant {name:?} has no layers",
                    file.display()
                ))
                .at(file, None)
                .with_hint("list the chart's values files it applies, e.g. layers = [\"values.test.yaml\"]"));
            }
        }
        Ok(())
    }

    /// The configured level of a rule, if any.
    pub fn rule_level(&self, rule: &str) -> Option<RuleLevel> {
        self.rules.get(rule).copied()
    }
}

/// Where `release` is set under `[targets."…"]` and `[variants.…]`, by target or variant name.
fn release_lines(text: &str) -> BTreeMap<String, usize> {
    use toml::de::{DeTable, DeValue};
    let mut lines = BTreeMap::new();
    let Ok(document) = DeTable::parse(text) else {
        return lines;
    };
    for section in ["targets", "variants"] {
        let Some(DeValue::Table(entries)) = document.get_ref().get(section).map(|v| v.get_ref())
        else {
            continue;
        };
        for (name, entry) in entries {
            if let DeValue::Table(fields) = entry.get_ref()
                && let Some(release) = fields.get("release")
            {
                lines.insert(
                    name.get_ref().to_string(),
                    line_of(text, release.span().start),
                );
            }
        }
    }
    lines
}

/// The line of every entry of the tables `sections`, by section and entry name.
fn entry_lines(text: &str, sections: &[&str]) -> BTreeMap<(String, String), usize> {
    use toml::de::{DeTable, DeValue};
    let mut lines = BTreeMap::new();
    let Ok(document) = DeTable::parse(text) else {
        return lines;
    };
    for section in sections {
        let Some(DeValue::Table(entries)) = document.get_ref().get(*section).map(|v| v.get_ref())
        else {
            continue;
        };
        for (name, _) in entries {
            lines.insert(
                (section.to_string(), name.get_ref().to_string()),
                line_of(text, name.span().start),
            );
        }
    }
    lines
}

/// The line of a key of `stackctl.toml` (`["render", "timeout"]`), when the text sets it.
pub fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let (last, parents) = path.split_last()?;
    for key in parents {
        let DeValue::Table(next) = table.get(*key)?.get_ref() else {
            return None;
        };
        table = next;
    }
    let (key, _) = table.get_key_value(*last)?;
    Some(line_of(text, key.span().start))
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A duration as `stackctl.toml` and the command line write it (`timeout = "5m"`,
/// `--timeout 90s`): jiff's friendly format (`500ms`, `90s`, `1m30s`, `1h`, `2 min`), not
/// negative. The error says what is wrong, for the caller to place.
/// A directory of the repository as written in `stackctl.toml`, without `.` components: `.`,
/// `./` and the empty path are the repository root (the empty path), `./charts/app/` is
/// `charts/app`. Paths are joined to the root, so a root written `.` must not leave a `.`
/// behind in the names reports show.
pub fn repository_relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

pub fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    text.trim()
        .parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|d| std::time::Duration::try_from(d).ok())
        .filter(|_| !text.trim().is_empty())
        .ok_or_else(|| format!("{text:?} is not a duration like \"90s\", \"5m\" or \"1m30s\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        use std::time::Duration;
        for (text, ms) in [
            ("500ms", 500),
            ("90s", 90_000),
            ("5m", 300_000),
            ("1m30s", 90_000),
            ("1h", 3_600_000),
            (" 2s ", 2_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for text in ["", "5", "m", "5x", "-1s"] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("is not a duration"), "{text}: {err}");
        }
    }

    #[test]
    fn chart_and_envs_paths_are_relative_to_the_root_without_dot_components() {
        for (written, chart) in [
            (".", ""),
            ("./", ""),
            ("", ""),
            ("./deploy/app/", "deploy/app"),
        ] {
            let text = format!("[chart]\npath = \"{written}\"\n[envs]\ndir = \"./{written}\"\n");
            let config = Config::parse(&text, Path::new(CONFIG_FILE)).unwrap();
            assert_eq!(config.chart.path, PathBuf::from(chart), "{written:?}");
            assert_eq!(config.envs.dir, PathBuf::from(chart), "{written:?}");
            assert!(config.chart.path_set);
        }
        assert!(
            !Config::parse("", Path::new(CONFIG_FILE))
                .unwrap()
                .chart
                .path_set
        );
    }

    #[test]
    fn empty_config_is_all_defaults() {
        let config = Config::parse("", Path::new(CONFIG_FILE)).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.chart.path, PathBuf::from("charts/jetscale"));
        assert_eq!(
            config
                .dependencies
                .image_for("backend", "oci://ghcr.io/jetscale-ai/charts"),
            "ghcr.io/jetscale-ai/backend"
        );
        assert_eq!(
            config
                .dependencies
                .image_for("api", "oci://registry.example.com/acme/helm"),
            "registry.example.com/acme/helm/api"
        );
    }

    #[test]
    fn unknown_key_names_its_line() {
        let text = "[chart]\npath = \"charts/jetscale\"\n\n[render]\nkube-versoin = \"1.33.0\"\n";
        let err = Config::parse(text, Path::new(CONFIG_FILE)).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Config);
        assert_eq!(err.location.as_ref().unwrap().1, Some(5));
        assert!(err.message.contains("kube-versoin"), "{}", err.message);
    }

    #[test]
    fn bad_value_names_its_line() {
        let text = "[rules]\n\"values/schema\" = \"loud\"\n";
        let err = Config::parse(text, Path::new(CONFIG_FILE)).unwrap_err();
        assert_eq!(err.location.as_ref().unwrap().1, Some(2));
    }

    #[test]
    fn render_timeout_defaults_to_a_minute_and_a_bad_one_names_its_line() {
        use std::time::Duration;
        let config = Config::parse("", Path::new(CONFIG_FILE)).unwrap();
        assert_eq!(config.render.timeout(), Duration::from_secs(60));
        let config =
            Config::parse("[render]\ntimeout = \"1m30s\"\n", Path::new(CONFIG_FILE)).unwrap();
        assert_eq!(config.render.timeout(), Duration::from_secs(90));
        for bad in ["\"soon\"", "\"0s\""] {
            let text = format!("[render]\nkube-version = \"1.33.0\"\ntimeout = {bad}\n");
            let err = Config::parse(&text, Path::new(CONFIG_FILE)).unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::Config);
            assert_eq!(err.location.as_ref().unwrap().1, Some(3), "{bad}");
            assert!(err.message.contains("render.timeout"), "{}", err.message);
        }
    }

    #[test]
    fn sizes_are_read_with_units_and_bad_ones_name_their_line() {
        let text = "[files]\nmax-size = \"16 MiB\"\n[render]\nmax-output-size = 1048576\n[registries]\nmax-blob-size = \"1 GB\"\n";
        let config = Config::parse(text, Path::new(CONFIG_FILE)).unwrap();
        assert_eq!(config.files.max_size, ByteSize(16 << 20));
        assert_eq!(config.render.max_output_size, ByteSize(1 << 20));
        assert_eq!(config.registries.max_blob_size, ByteSize(1_000_000_000));
        assert_eq!(config.registries.max_manifest_size, ByteSize(4 << 20));
        for bad in ["\"4 MX\"", "0", "\"\""] {
            let text = format!("[registries]\n\nmax-manifest-size = {bad}\n");
            let err = Config::parse(&text, Path::new(CONFIG_FILE)).unwrap_err();
            assert_eq!(err.location.as_ref().unwrap().1, Some(3), "{bad}");
            assert!(err.message.contains("size"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn entries_of_rules_and_targets_know_their_lines() {
        let text = "[rules]\n\"values/schema\" = \"off\"\n\n[targets.\"envs/prod/a.yaml\"]\nrelease = \"a\"\n";
        let config = Config::parse(text, Path::new(CONFIG_FILE)).unwrap();
        let line = |section: &str, name: &str| {
            config
                .entry_lines
                .get(&(section.to_string(), name.to_string()))
                .copied()
        };
        assert_eq!(line("rules", "values/schema"), Some(2));
        assert_eq!(line("targets", "envs/prod/a.yaml"), Some(4));
    }

    #[test]
    fn bad_kube_version_is_rejected() {
        let err = Config::parse(
            "[render]\nkube-version = \"latest\"\n",
            Path::new(CONFIG_FILE),
        )
        .unwrap_err();
        assert!(err.message.contains("kube-version"));
    }

    #[test]
    fn full_config_parses() {
        let text = r#"
[chart]
path = "charts/jetscale"
[envs]
dir = "envs"
[render]
kube-version = "1.33.0"
release = "jetscale"
namespace = "default"
[targets."envs/prod/console.yaml"]
release = "jetscale-console"
namespace = "jetscale-console"
[targets."envs/preview/preview.yaml"]
release = "pr-1"
external-refs = ["{release}-aws-client-secret"]
[variants.test-ci]
layers = ["values.test.yaml", "values.test.ci.yaml"]
release = "jetscale-ci"
[dependencies.sources]
backend = "charts/backend"
[dependencies.images]
backend = "ghcr.io/jetscale-ai/backend"
[registries]
mirrors = { "oci://ghcr.io/jetscale-ai/charts" = "oci://127.0.0.1:5000/charts" }
insecure = ["127.0.0.1:5000"]
github = ["ghcr.io"]
[rules]
"values/noop-empty-map" = "error"
"render/helm-warning" = "off"
"#;
        let config = Config::parse(text, Path::new(CONFIG_FILE)).unwrap();
        assert_eq!(
            config.targets["envs/prod/console.yaml"].release.as_deref(),
            Some("jetscale-console")
        );
        assert_eq!(config.variants["test-ci"].layers.len(), 2);
        // Each release line, for findings the release name causes.
        assert_eq!(config.release_lines["envs/prod/console.yaml"], 11);
        assert_eq!(config.release_lines["envs/preview/preview.yaml"], 14);
        assert_eq!(config.release_lines["test-ci"], 18);
        assert!(!config.release_lines.contains_key("envs/prod/demo.yaml"));
        assert_eq!(
            config.rule_level("render/helm-warning"),
            Some(RuleLevel::Off)
        );
        assert_eq!(config.registries.insecure, vec!["127.0.0.1:5000"]);
    }
}

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
        Helm::discover_memoized(flag, None)
    }

    /// [`Helm::discover`], remembering the version under `memo_dir` for a binary that cannot
    /// change it without changing its file. Asking helm its version starts helm, which costs
    /// tens of milliseconds: more than everything else a run whose verdicts all come from the
    /// result cache does. The memo is keyed by the binary's real path, size, inode, mtime and
    /// ctime, and kept only for a binary named `helm…` that is not a script: a wrapper, a
    /// version manager's shim or a multi-call binary can answer differently from one run to
    /// the next without its file changing, so those are asked every time.
    pub fn discover_memoized(flag: Option<&Path>, memo_dir: Option<&Path>) -> Result<Helm> {
        let (path, source) = locate(flag)?;
        let memo = memo_dir.and_then(|dir| version_memo(dir, &path));
        let remembered = memo
            .as_ref()
            .and_then(|file| std::fs::read_to_string(file).ok())
            .and_then(|text| parse_version(&text));
        let version = match remembered {
            Some(version) => version,
            None => {
                let version = read_version(&path)?;
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
        })
    }

    pub fn major(&self) -> u64 {
        self.version.major
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

/// What `helm template` is asked to render.
#[derive(Debug, Clone)]
pub struct TemplateRequest<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    pub chart_dir: &'a Path,
    /// Values files in order (absolute, or relative to `cwd`).
    pub values: &'a [PathBuf],
    pub kube_version: &'a str,
    /// Where helm runs; values paths in helm's messages are relative to it.
    pub cwd: &'a Path,
}

/// A rendered manifest split into objects, with helm's warnings.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub objects: Vec<RenderedObject>,
    /// Lines helm printed on stderr while succeeding (coalesce warnings and the like).
    pub warnings: Vec<String>,
    /// The manifest text as helm printed it.
    pub manifest: String,
}

/// One Kubernetes object of a render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// The template that produced it, as helm's `# Source:` comment says
    /// (`jetscale/charts/backend-api/templates/deployment.yaml`).
    pub source: String,
    pub value: serde_json::Value,
}

impl RenderedObject {
    fn str_at(&self, pointer: &str) -> &str {
        self.value
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }
    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }
    /// The object's namespace, or `default_ns` when the template leaves it to the release.
    pub fn namespace<'a>(&'a self, default_ns: &'a str) -> &'a str {
        match self.str_at("/metadata/namespace") {
            "" => default_ns,
            ns => ns,
        }
    }
    /// The API group (`networking.k8s.io`), empty for the core group.
    pub fn group(&self) -> &str {
        match self.api_version().rsplit_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }
}

/// Why a render failed.
#[derive(Debug, Clone)]
pub enum RenderError {
    /// helm ran and refused: its message (redacted), and the template location it names.
    Helm {
        message: String,
        template: Option<TemplateLocation>,
    },
    /// helm could not be run or did not finish.
    Run(String),
    /// helm printed something that is not YAML.
    Output(String),
}

/// A `file:line:col` inside a chart, as helm reports template errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateLocation {
    /// As helm prints it: `jetscale/templates/ingress.yaml`.
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// How long one `helm template` may take before it is considered hung.
pub const TEMPLATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Helm {
    /// The arguments of `helm template` for a request. Schema validation is left to stackctl,
    /// which locates schema errors at the values line that caused them.
    pub fn template_args(&self, req: &TemplateRequest<'_>) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "template".into(),
            req.release.into(),
            req.chart_dir.as_os_str().to_owned(),
            "--namespace".into(),
            req.namespace.into(),
            "--kube-version".into(),
            req.kube_version.into(),
            "--skip-schema-validation".into(),
        ];
        for values in req.values {
            args.push("--values".into());
            args.push(values.as_os_str().to_owned());
        }
        args
    }

    /// Run `helm template` and split its output into objects.
    pub async fn template(&self, req: &TemplateRequest<'_>) -> Result<Rendered, RenderError> {
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.envs(go_runtime_env(|name| std::env::var_os(name)))
            .args(self.template_args(req))
            .current_dir(req.cwd)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        tracing::debug!(helm = %self.path.display(), release = req.release, "helm template");
        let output = tokio::time::timeout(TEMPLATE_TIMEOUT, cmd.output())
            .await
            .map_err(|_| {
                RenderError::Run(format!(
                    "helm template did not finish within {} s",
                    TEMPLATE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| RenderError::Run(format!("cannot run {}: {e}", self.path.display())))?;
        let stderr = crate::secrets::redact(&String::from_utf8_lossy(&output.stderr)).into_owned();
        if !output.status.success() {
            return Err(parse_helm_error(&stderr));
        }
        let manifest = String::from_utf8_lossy(&output.stdout).into_owned();
        let objects = split_manifest(&manifest).map_err(RenderError::Output)?;
        Ok(Rendered {
            objects,
            warnings: stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            manifest,
        })
    }
}

/// Turn helm's stderr into a message and, when it names one, the template location.
///
/// helm says, for example:
/// `Error: execution error at (jetscale/templates/ingress.yaml:3:4): charts/jetscale: …` or
/// `Error: template: jetscale/templates/cm.yaml:12:20: executing "…" at <.Values.x>: …` or
/// `Error: YAML parse error on jetscale/templates/x.yaml: error converting YAML to JSON: yaml: line 7: …`.
pub fn parse_helm_error(stderr: &str) -> RenderError {
    let message = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        // helm's advice to rerun with --debug does not apply: stackctl runs helm for the user.
        .filter(|l| !l.trim().starts_with("Use --debug flag"))
        .map(|l| l.strip_prefix("Error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let location_re = regex::Regex::new(
        r"(?P<file>[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*/templates/[A-Za-z0-9_.\-/]+\.(?:yaml|yml|tpl|txt|json)):(?P<line>\d+)(?::(?P<col>\d+))?",
    )
    .expect("valid regex");
    let parse_re =
        regex::Regex::new(r"YAML parse error on (?P<file>[^\s:]+): .*?line (?P<line>\d+)")
            .expect("valid regex");
    let template = location_re
        .captures(&message)
        .map(|c| TemplateLocation {
            file: c["file"].to_string(),
            line: c["line"].parse().ok(),
            column: c.name("col").and_then(|m| m.as_str().parse().ok()),
        })
        .or_else(|| {
            parse_re.captures(&message).map(|c| TemplateLocation {
                file: c["file"].to_string(),
                line: c["line"].parse().ok(),
                column: None,
            })
        });
    RenderError::Helm { message, template }
}

/// Split a `helm template` manifest into objects, keeping each one's `# Source:` template.
pub fn split_manifest(manifest: &str) -> Result<Vec<RenderedObject>, String> {
    let mut objects = Vec::new();
    let mut source = String::new();
    let mut current = String::new();
    let mut flush = |source: &str, text: &mut String| -> Result<(), String> {
        if !text.trim().is_empty() {
            let value: serde_json::Value = serde_saphyr::from_str(text)
                .map_err(|e| format!("helm output from {source} is not YAML: {e}"))?;
            if !value.is_null() {
                objects.push(RenderedObject {
                    source: source.to_string(),
                    value,
                });
            }
        }
        text.clear();
        Ok(())
    };
    for line in manifest.lines() {
        if line == "---" || line.starts_with("--- ") {
            flush(&source, &mut current)?;
            source.clear();
            continue;
        }
        if let Some(rest) = line.strip_prefix("# Source: ") {
            source = rest.trim().to_string();
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    flush(&source, &mut current)?;
    Ok(objects)
}

#[cfg(test)]
mod render_tests {
    use super::*;

    #[test]
    fn splits_documents_and_keeps_their_sources() {
        let manifest = "---\n# Source: jetscale/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r-config\ndata:\n  A: \"1\"\n---\n# Source: jetscale/charts/backend-api/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: r-backend-api\n  namespace: ns\n---\n# Source: jetscale/templates/empty.yaml\n";
        let objects = split_manifest(manifest).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].source, "jetscale/templates/cm.yaml");
        assert_eq!(objects[0].kind(), "ConfigMap");
        assert_eq!(objects[0].namespace("dflt"), "dflt");
        assert_eq!(objects[1].name(), "r-backend-api");
        assert_eq!(objects[1].namespace("dflt"), "ns");
        assert_eq!(objects[1].group(), "");
    }

    #[test]
    fn finds_template_locations_in_helm_errors() {
        let cases = [
            (
                "Error: execution error at (jetscale/templates/ingress.yaml:3:4): charts/jetscale: ingress.enabled is true but ingress.hosts is empty\n",
                ("jetscale/templates/ingress.yaml", Some(3), Some(4)),
            ),
            (
                "Error: template: jetscale/templates/cm-app.yaml:12:20: executing \"jetscale/templates/cm-app.yaml\" at <.Values.x.y>: nil pointer\n",
                ("jetscale/templates/cm-app.yaml", Some(12), Some(20)),
            ),
            (
                "Error: YAML parse error on jetscale/charts/backend-ws/templates/deployment.yaml: error converting YAML to JSON: yaml: line 7: did not find expected key\n",
                (
                    "jetscale/charts/backend-ws/templates/deployment.yaml",
                    Some(7),
                    None,
                ),
            ),
        ];
        for (stderr, (file, line, col)) in cases {
            match parse_helm_error(stderr) {
                RenderError::Helm { message, template } => {
                    assert!(!message.starts_with("Error: "));
                    let t = template.expect(stderr);
                    assert_eq!((t.file.as_str(), t.line, t.column), (file, line, col));
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

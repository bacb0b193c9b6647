//! `helm template`: rendering a chart with a chain of values files.

use std::path::{Path, PathBuf};

use super::{Helm, Rendered, split_manifest};
use crate::process::{Overflow, RunError};

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
    /// How long helm may take before it is considered hung and stopped (`[render] timeout`).
    pub timeout: std::time::Duration,
    /// The largest manifest accepted (`[render] max-output-size`): a bigger one stops helm.
    pub max_output: u64,
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
    /// helm was still rendering when the timeout (`[render] timeout`) ran out, and was stopped.
    Timeout(std::time::Duration),
    /// The run was interrupted while helm rendered.
    Cancelled,
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
        tracing::debug!(helm = %self.path.display(), release = req.release, "helm template");
        let command = self
            .command()
            .args(self.template_args(req))
            .current_dir(req.cwd)
            .timeout(req.timeout)
            .stdout_limit(
                usize::try_from(req.max_output).unwrap_or(usize::MAX),
                Overflow::Refuse,
            )
            .label("helm template");
        let output = self.run(command).await.map_err(|e| match e {
            RunError::Cancelled { .. } => RenderError::Cancelled,
            RunError::Timeout { after, .. } => RenderError::Timeout(after),
            RunError::OutputTooLarge { limit, .. } => RenderError::Output(format!(
                "helm template printed more than {}, the limit of a rendered manifest: the render was stopped rather than checked in part (raise `max-output-size` under [render] in stackctl.toml)",
                crate::fsutil::format_size(limit as u64)
            )),
            other => RenderError::Run(other.to_string()),
        })?;
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&output.status) {
            // Killed from outside (out of memory, a CI runner stopping): no verdict on the
            // target, so nothing that could be cached as one.
            return Err(RenderError::Run(format!(
                "helm template was killed by signal {signal}"
            )));
        }
        if !output.success() {
            return Err(parse_helm_error(&output.stderr));
        }
        let manifest = String::from_utf8_lossy(&output.stdout).into_owned();
        let objects = split_manifest(&manifest).map_err(RenderError::Output)?;
        Ok(Rendered {
            objects,
            warnings: output
                .stderr
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

#[cfg(test)]
mod tests {
    use super::*;

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

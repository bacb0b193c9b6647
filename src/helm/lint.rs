//! `helm lint --strict`: one chart, optionally with values files.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::Helm;
use crate::error::Result;

/// What `helm lint` is asked to check.
#[derive(Debug, Clone)]
pub struct LintRequest<'a> {
    pub chart_dir: &'a Path,
    pub values: &'a [PathBuf],
    pub kube_version: &'a str,
    pub cwd: &'a Path,
    /// How long helm may take before it is considered hung and stopped (`[render] timeout`).
    pub timeout: std::time::Duration,
}

/// What helm lint said: whether it passed, and its output (stdout then stderr, redacted).
#[derive(Debug, Clone)]
pub struct LintOutput {
    pub passed: bool,
    pub text: String,
}

impl Helm {
    /// Run `helm lint --strict` on one chart.
    pub async fn lint(&self, req: &LintRequest<'_>) -> Result<LintOutput> {
        let command = self
            .command()
            .arg("lint")
            .arg(req.chart_dir)
            .args([
                "--strict",
                "--quiet",
                "--skip-schema-validation",
                "--kube-version",
                req.kube_version,
            ])
            .args(
                req.values
                    .iter()
                    .flat_map(|v| [OsStr::new("--values"), v.as_os_str()]),
            )
            .current_dir(req.cwd)
            .timeout(req.timeout)
            .label("helm lint");
        let output = self.run(command).await?;
        Ok(LintOutput {
            passed: output.success(),
            text: format!("{}{}", output.stdout_text(), output.stderr),
        })
    }
}

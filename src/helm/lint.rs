//! `helm lint --strict`: one chart, optionally with values files.

use std::path::{Path, PathBuf};

use super::{Helm, TEMPLATE_TIMEOUT, go_runtime_env};
use crate::error::{Error, Result};

/// What `helm lint` is asked to check.
#[derive(Debug, Clone)]
pub struct LintRequest<'a> {
    pub chart_dir: &'a Path,
    pub values: &'a [PathBuf],
    pub kube_version: &'a str,
    pub cwd: &'a Path,
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
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.envs(go_runtime_env(|name| std::env::var_os(name)))
            .arg("lint")
            .arg(req.chart_dir)
            .args([
                "--strict",
                "--quiet",
                "--skip-schema-validation",
                "--kube-version",
                req.kube_version,
            ])
            .current_dir(req.cwd)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for v in req.values {
            cmd.arg("--values").arg(v);
        }
        let output = tokio::time::timeout(TEMPLATE_TIMEOUT, cmd.output())
            .await
            .map_err(|_| Error::environment("helm lint did not finish in time"))?
            .map_err(|e| Error::environment(format!("cannot run {}: {e}", self.path.display())))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(LintOutput {
            passed: output.status.success(),
            text: crate::redact::redact(&text).into_owned(),
        })
    }
}

//! Linting the charts, as `helm lint --strict` would: the umbrella chart on its own defaults
//! (what a user of the chart gets first) and once per lifecycle variant, with that variant's
//! values; each local service chart on its own defaults.

use std::path::PathBuf;

use super::Workspace;
use crate::error::{Error, Result};
use crate::findings::Diagnostic;
use crate::helm::LintRequest;
use crate::rules::chart::lint_findings;
use crate::target::Target;

/// Lint the umbrella chart on its defaults and with each variant's layers, and every local
/// service chart on its defaults.
pub async fn lint_charts(ws: &Workspace, variants: &[Target]) -> Result<Vec<Diagnostic>> {
    let mut runs: Vec<(PathBuf, Vec<PathBuf>, String)> =
        vec![(ws.chart_dir.clone(), Vec::new(), "its defaults".to_string())];
    for variant in variants {
        let values = variant.layers.iter().map(|l| ws.repo.path(l)).collect();
        runs.push((
            ws.chart_dir.clone(),
            values,
            format!("variant {}", variant.name),
        ));
    }
    for source in ws.repo.local_sources().values() {
        let dir = ws.repo.path(source);
        if dir.join("Chart.yaml").is_file() {
            runs.push((dir, Vec::new(), "its defaults".to_string()));
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for (dir, values, context) in runs {
        let helm = ws.helm.clone();
        let kube_version = ws.repo.config.render.kube_version.clone();
        let cwd = ws.repo.root.clone();
        let timeout = ws.repo.config.render.timeout();
        set.spawn(async move {
            let request = LintRequest {
                chart_dir: &dir,
                values: &values,
                kube_version: &kube_version,
                cwd: &cwd,
                timeout,
            };
            let output = helm.lint(&request).await;
            (dir, context, output)
        });
    }
    let mut findings = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (dir, context, output) =
            joined.map_err(|e| Error::internal(format!("lint task failed: {e}")))?;
        let output = output?;
        if !output.passed {
            let chart = ws.repo.display_path(&dir);
            findings.extend(lint_findings(&output.text, &chart, &context));
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    findings.dedup();
    Ok(findings)
}

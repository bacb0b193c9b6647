//! `helm lint --strict` of the charts, its complaints turned into `chart/lint` findings.
//!
//! The umbrella chart cannot be linted on its defaults alone (an enabled Ingress needs a host),
//! so it is linted once per lifecycle variant, with that variant's values. Each local service
//! chart is linted on its own defaults.

use std::path::{Path, PathBuf};

use crate::envs::Target;
use crate::error::{Error, Result};
use crate::report::Diagnostic;
use crate::rules::finding;
use crate::validate::Workspace;

/// Lint the umbrella chart with each variant's layers and every local service chart.
pub async fn lint_charts(ws: &Workspace, variants: &[Target]) -> Result<Vec<Diagnostic>> {
    let mut runs: Vec<(PathBuf, Vec<PathBuf>, String)> = Vec::new();
    for variant in variants {
        let values = variant.layers.iter().map(|l| ws.repo.path(l)).collect();
        runs.push((
            ws.chart_dir.clone(),
            values,
            format!("variant {}", variant.name),
        ));
    }
    for source in ws.repo.config.dependencies.sources.values() {
        let dir = ws.repo.path(source);
        if dir.join("Chart.yaml").is_file() {
            runs.push((dir, Vec::new(), "its defaults".to_string()));
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for (dir, values, context) in runs {
        let helm = ws.helm.path.clone();
        let kube_version = ws.repo.config.render.kube_version.clone();
        let cwd = ws.repo.root.clone();
        set.spawn(async move {
            let output = run_lint(&helm, &dir, &values, &kube_version, &cwd).await;
            (dir, context, output)
        });
    }
    let mut findings = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (dir, context, output) =
            joined.map_err(|e| Error::internal(format!("lint task failed: {e}")))?;
        let (ok, text) = output?;
        if !ok {
            let chart = ws.repo.display_path(&dir);
            findings.extend(parse_lint(&text, &chart, &context));
        }
    }
    findings.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    findings.dedup();
    Ok(findings)
}

async fn run_lint(
    helm: &Path,
    dir: &Path,
    values: &[PathBuf],
    kube_version: &str,
    cwd: &Path,
) -> Result<(bool, String)> {
    let mut cmd = tokio::process::Command::new(helm);
    cmd.envs(crate::helm::go_runtime_env(|name| std::env::var_os(name)))
        .arg("lint")
        .arg(dir)
        .args([
            "--strict",
            "--quiet",
            "--skip-schema-validation",
            "--kube-version",
            kube_version,
        ])
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for v in values {
        cmd.arg("--values").arg(v);
    }
    let output = tokio::time::timeout(crate::helm::TEMPLATE_TIMEOUT, cmd.output())
        .await
        .map_err(|_| Error::environment("helm lint did not finish in time"))?
        .map_err(|e| Error::environment(format!("cannot run {}: {e}", helm.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((
        output.status.success(),
        crate::secrets::redact(&text).into_owned(),
    ))
}

/// `[ERROR] templates/x.yaml: message` and `[WARNING] …` lines as findings in `chart`.
fn parse_lint(text: &str, chart: &str, context: &str) -> Vec<Diagnostic> {
    let re = regex::Regex::new(r"^\[(ERROR|WARNING)\]\s+(?:(?P<file>[^\s:]+):\s+)?(?P<msg>.*)$")
        .expect("valid regex");
    let mut out: Vec<Diagnostic> = text
        .lines()
        .filter_map(|line| re.captures(line.trim()))
        .map(|c| {
            let d = finding(
                "chart/lint",
                format!("helm lint ({context}): {}", &c["msg"]),
            )
            .with_hint("helm lint --strict fails on warnings as well as errors");
            match c.name("file").map(|m| m.as_str()) {
                Some(file) if file != "." => d.in_file(format!("{chart}/{file}")),
                _ => d.in_file(format!("{chart}/Chart.yaml")),
            }
        })
        .collect();
    if out.is_empty() {
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("helm lint failed");
        out.push(
            finding("chart/lint", format!("helm lint ({context}): {first}"))
                .in_file(format!("{chart}/Chart.yaml")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint_lines_become_findings_in_the_chart() {
        let text = "==> Linting charts/jetscale\n[INFO] Chart.yaml: icon is recommended\n[WARNING] templates/ingress.yaml: object name does not conform\n[ERROR] templates/: template: x\n\nError: 1 chart(s) linted, 1 chart(s) failed\n";
        let found = parse_lint(text, "charts/jetscale", "variant test-ci");
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].file.as_deref(),
            Some("charts/jetscale/templates/ingress.yaml")
        );
        assert!(found[0].message.contains("variant test-ci"));
        assert_eq!(found[1].file.as_deref(), Some("charts/jetscale/templates/"));
    }
}

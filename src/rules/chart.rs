//! Rules on the charts themselves: `chart/lint` (what `helm lint --strict` complains of) and
//! `chart/agnostic` (the umbrella chart declares intent; cloud specifics come from values).

use std::path::Path;

use super::{Scope, finding, rule};
use crate::findings::{Diagnostic, Severity};
use crate::fsutil::display_join;

pub const RULES: &[super::Rule] = &[
    rule(
        "chart/lint",
        Severity::Error,
        Scope::Repository,
        "helm lint --strict passes for each chart and lifecycle variant",
    ),
    rule(
        "chart/agnostic",
        Severity::Error,
        Scope::Repository,
        "templates carry no cloud-specific annotations, identities or ARNs",
    ),
];

/// Literals that tie a template to one cloud, with the cloud they belong to.
const CLOUD_MARKERS: &[(&str, &str)] = &[
    ("alb.ingress.kubernetes.io/", "AWS"),
    ("service.beta.kubernetes.io/aws-", "AWS"),
    ("eks.amazonaws.com/", "AWS"),
    ("arn:aws:", "AWS"),
    ("appgw.ingress.kubernetes.io/", "Azure"),
    ("azure.workload.identity/", "Azure"),
    ("iam.gke.io/", "Google Cloud"),
    ("cloud.google.com/", "Google Cloud"),
];

/// Scan every template of the chart at `chart_dir` (shown as `chart_rel`) for cloud literals.
pub fn check_templates(chart_dir: &Path, chart_rel: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let templates = chart_dir.join("templates");
    for entry in walkdir::WalkDir::new(&templates)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let relative = entry.path().strip_prefix(chart_dir).unwrap_or(entry.path());
        let file = display_join(chart_rel, &relative.to_string_lossy().replace('\\', "/"));
        out.extend(check_text(&text, &file));
    }
    out
}

fn check_text(text: &str, file: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        // Template comments may explain what values carry; only live text counts.
        let live = line.split("{{/*").next().unwrap_or(line);
        let live = live
            .split_once('#')
            .map(|(before, _)| before)
            .unwrap_or(live);
        for (marker, cloud) in CLOUD_MARKERS {
            if let Some(column) = live.find(marker) {
                out.push(
                    finding(
                        "chart/agnostic",
                        format!("the template hard-codes {marker:?}, which only {cloud} understands"),
                    )
                    .with_hint("move it to values: envs/<cloud>.yaml supplies cloud-specific annotations and identities")
                    .at(file, index + 1, line[..column].chars().count() + 1),
                );
            }
        }
    }
    out
}

/// `[ERROR] templates/x.yaml: message` and `[WARNING] …` lines as findings in `chart`.
pub fn lint_findings(text: &str, chart: &str, context: &str) -> Vec<Diagnostic> {
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
                Some(file) if file != "." => d.in_file(display_join(chart, file)),
                _ => d.in_file(display_join(chart, "Chart.yaml")),
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
                .in_file(display_join(chart, "Chart.yaml")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_literals_are_found_at_their_column_and_comments_are_not() {
        let text = "metadata:\n  annotations:\n    alb.ingress.kubernetes.io/scheme: internet-facing\n    # eks.amazonaws.com/role-arn comes from values\n    {{/* arn:aws: in a template comment */}}\n    role: arn:aws:iam::1:role/x\n";
        let found = check_text(text, "charts/jetscale/templates/ingress.yaml");
        let at: Vec<(Option<usize>, Option<usize>)> =
            found.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(at, vec![(Some(3), Some(5)), (Some(6), Some(11))]);
    }

    #[test]
    fn lint_lines_become_findings_in_the_chart() {
        let text = "==> Linting charts/jetscale\n[INFO] Chart.yaml: icon is recommended\n[WARNING] templates/ingress.yaml: object name does not conform\n[ERROR] templates/: template: x\n\nError: 1 chart(s) linted, 1 chart(s) failed\n";
        let found = lint_findings(text, "charts/jetscale", "variant test-ci");
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].file.as_deref(),
            Some("charts/jetscale/templates/ingress.yaml")
        );
        assert!(found[0].message.contains("variant test-ci"));
        assert_eq!(found[1].file.as_deref(), Some("charts/jetscale/templates/"));
    }
}

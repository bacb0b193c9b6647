//! JSON output: one document in the versioned shape of `docs/output.md`.
//!
//! The shape is a public contract for scripts: every key is always present (absent values
//! are `null`, never omitted), and any change that could break a reader bumps `version`.

use std::io::{self, Write};

use serde::Serialize;

use super::{Diagnostic, Report, Stopped, TargetResult};

/// The version of every JSON document's shape (the findings report and the documents of the
/// other commands); see `docs/output.md` for what changes it.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    ok: bool,
    summary: Summary,
    targets: &'a [TargetResult],
    diagnostics: Vec<&'a Diagnostic>,
    stopped: Option<&'a Stopped>,
}

#[derive(Serialize)]
struct Summary {
    targets: usize,
    passed: usize,
    failed: usize,
    errors: usize,
    warnings: usize,
    duration_ms: u64,
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let document = Document {
        version: VERSION,
        ok: report.ok(),
        summary: Summary {
            targets: report.targets.len(),
            passed: report.passed(),
            failed: report.failed(),
            errors: report.errors(),
            warnings: report.warnings(),
            duration_ms: report.duration_ms,
        },
        targets: &report.targets,
        diagnostics: report.sorted_diagnostics(),
        stopped: report.stopped.as_ref(),
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::report::sample;

    fn json(report: &Report) -> Value {
        let mut out = Vec::new();
        render(report, &mut out).unwrap();
        assert!(out.ends_with(b"}\n"), "one document, then a newline");
        serde_json::from_slice(&out).unwrap()
    }

    /// The keys of `value`, which must be an object, in document order.
    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn consequences_are_whole_findings_under_their_cause_and_not_counted() {
        let doc = json(&sample::folded());
        assert_eq!(doc["summary"]["errors"], 1);
        let diagnostics = doc["diagnostics"].as_array().unwrap();
        assert_eq!(diagnostics.len(), 1);
        let consequences = diagnostics[0]["consequences"].as_array().unwrap();
        assert_eq!(consequences.len(), 2);
        assert_eq!(consequences[0]["rule"], "render/dangling-reference");
        assert_eq!(consequences[0]["line"], 7);
        assert_eq!(consequences[0]["consequences"], json!([]));
    }

    #[test]
    fn an_error_that_stopped_the_run_is_in_the_document_and_it_is_not_ok() {
        let doc = json(&sample::stopped());
        assert_eq!(doc["ok"], false);
        assert_eq!(
            doc["stopped"],
            json!({
                "message": "cannot build the dependencies",
                "file": "charts/jetscale/Chart.yaml",
                "line": 14,
                "hint": "run `stackctl deps update`",
                "exit_code": 2
            })
        );
        assert_eq!(doc["diagnostics"][0]["rule"], "deps/lock");
        assert_eq!(json(&sample::failing())["stopped"], Value::Null);
    }

    #[test]
    fn top_level_and_summary_have_the_documented_shape() {
        let doc = json(&sample::failing());
        assert_eq!(
            keys(&doc),
            [
                "version",
                "ok",
                "summary",
                "targets",
                "diagnostics",
                "stopped"
            ]
        );
        assert_eq!(doc["version"], json!(1));
        assert_eq!(doc["ok"], json!(false));
        assert_eq!(
            doc["summary"],
            json!({"targets": 3, "passed": 2, "failed": 1, "errors": 2, "warnings": 1,
                   "duration_ms": 840})
        );
        assert_eq!(
            keys(&doc["summary"]),
            [
                "targets",
                "passed",
                "failed",
                "errors",
                "warnings",
                "duration_ms"
            ]
        );
    }

    #[test]
    fn targets_have_every_field_with_its_type() {
        let doc = json(&sample::failing());
        let targets = doc["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 3);
        for target in targets {
            assert_eq!(
                keys(target),
                [
                    "target",
                    "layers",
                    "release",
                    "status",
                    "cached",
                    "duration_ms"
                ]
            );
            assert!(target["target"].is_string());
            assert!(
                target["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(Value::is_string)
            );
            assert!(target["release"].is_string());
            assert!(matches!(
                target["status"].as_str(),
                Some("passed" | "failed")
            ));
            assert!(target["cached"].is_boolean());
            assert!(target["duration_ms"].is_u64());
        }
        assert_eq!(
            targets[1],
            json!({
                "target": "envs/prod/console.yaml",
                "layers": ["envs/aws.yaml", "envs/prod/default.yaml", "envs/prod/console.yaml"],
                "release": "jetscale-console",
                "status": "failed",
                "cached": false,
                "duration_ms": 120,
            })
        );
    }

    #[test]
    fn diagnostics_have_every_field_and_nulls_where_absent() {
        let doc = json(&sample::failing());
        let diagnostics = doc["diagnostics"].as_array().unwrap();
        assert_eq!(diagnostics.len(), 3);
        for d in diagnostics {
            assert_eq!(
                keys(d),
                [
                    "rule",
                    "severity",
                    "message",
                    "hint",
                    "target",
                    "file",
                    "line",
                    "column",
                    "path",
                    "consequences"
                ]
            );
            assert_eq!(d["consequences"], json!([]));
            assert!(d["rule"].is_string() && d["message"].is_string());
            assert!(matches!(d["severity"].as_str(), Some("error" | "warning")));
            for key in ["hint", "target", "file", "path"] {
                assert!(d[key].is_string() || d[key].is_null(), "{key}: {}", d[key]);
            }
            for key in ["line", "column"] {
                assert!(d[key].is_u64() || d[key].is_null(), "{key}: {}", d[key]);
            }
        }
        // Sorted like the human output: the located finding first, file-less ones after.
        assert_eq!(
            diagnostics[0],
            json!({
                "rule": "values/schema", "severity": "error",
                "message": "\"three\" is not of type \"integer\"",
                "hint": "replicas takes a whole number, e.g. 3",
                "target": "envs/prod/console.yaml", "file": "envs/prod/console.yaml",
                "line": 3, "column": 13, "path": "/console/replicas", "consequences": [],
            })
        );
        assert_eq!(
            diagnostics[2],
            json!({
                "rule": "envs/parity", "severity": "warning",
                "message": "envs/staging has no counterpart of envs/prod/worker.yaml",
                "hint": "add envs/staging/worker.yaml, or list it under parity.exceptions",
                "target": null, "file": null, "line": null, "column": null, "path": null,
                "consequences": [],
            })
        );
    }

    #[test]
    fn an_empty_report_is_ok_with_empty_lists() {
        let doc = json(&Report::default());
        assert_eq!(doc["ok"], json!(true));
        assert_eq!(doc["targets"], json!([]));
        assert_eq!(doc["diagnostics"], json!([]));
        assert_eq!(doc["summary"]["targets"], json!(0));
    }
}

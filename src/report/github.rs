//! GitHub Actions workflow commands: each finding becomes an `::error` or `::warning`
//! annotation on the pull request, at its file and line when it has one.
//!
//! Escaping follows the runner's rules: in the message, `%`, `\r` and `\n` are
//! percent-encoded; in properties, `:` and `,` are too, since they delimit properties.

use std::io::{self, Write};

use super::{Diagnostic, Report, Severity, flat_message, summary_line};

/// The workflow commands, then the summary line.
pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    annotations(report, out)?;
    writeln!(out, "{}", summary_line(report))
}

/// Only the workflow commands: used after human output when running under GitHub Actions.
pub(super) fn annotations(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for diagnostic in report.sorted_diagnostics() {
        writeln!(out, "{}", command(diagnostic))?;
    }
    if let Some(stopped) = &report.stopped {
        let mut properties = Vec::new();
        if let Some(file) = &stopped.file {
            properties.push(format!("file={}", escape_property(file)));
            if let Some(line) = stopped.line {
                properties.push(format!("line={line}"));
            }
        }
        properties.push("title=stackctl".to_string());
        let text = match &stopped.hint {
            Some(hint) => format!("{} (hint: {hint})", stopped.message),
            None => stopped.message.clone(),
        };
        writeln!(
            out,
            "::error {}::{}",
            properties.join(","),
            escape_data(&text)
        )?;
    }
    Ok(())
}

fn command(d: &Diagnostic) -> String {
    let name = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = Vec::new();
    if let Some(file) = &d.file {
        properties.push(format!("file={}", escape_property(file)));
        if let Some(line) = d.line {
            properties.push(format!("line={line}"));
            if let Some(column) = d.column {
                properties.push(format!("col={column}"));
            }
        }
    }
    properties.push(format!("title={}", escape_property(&d.rule)));
    format!(
        "::{name} {}::{}",
        properties.join(","),
        escape_data(&flat_message(d))
    )
}

pub(super) fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub(super) fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    fn github(report: &Report) -> String {
        let mut out = Vec::new();
        render(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn consequences_are_counted_in_their_causes_annotation() {
        let text = github(&sample::folded());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "one annotation and the summary: {text}");
        assert!(
            lines[0].ends_with("%0Aand 2 consequences: render/dangling-reference ×2"),
            "{text}"
        );
    }

    #[test]
    fn an_error_that_stopped_the_run_is_annotated_after_the_findings() {
        let text = github(&sample::stopped());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "::error file=charts/jetscale/Chart.lock,title=deps/lock::Chart.lock is out of \
                 sync with Chart.yaml",
                "::error file=charts/jetscale/Chart.yaml,line=14,title=stackctl::cannot build \
                 the dependencies (hint: run `stackctl deps update`)",
                "checked no targets; 1 error, 0 warnings; stopped by an error (0.01 s)",
            ]
        );
    }

    #[test]
    fn one_command_per_finding_then_the_summary() {
        let text = github(&sample::failing());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "::error file=envs/prod/console.yaml,line=3,col=13,title=values/schema::\
                 \"three\" is not of type \"integer\"%0Aat /console/replicas\
                 %0Ahint: replicas takes a whole number, e.g. 3",
                "::error title=helm/template::helm template failed: nil pointer evaluating \
                 .Values.ingress.host (target envs/prod/console.yaml)\
                 %0Ahint: set ingress.host in one of the target's layers",
                "::warning title=envs/parity::envs/staging has no counterpart of \
                 envs/prod/worker.yaml%0Ahint: add envs/staging/worker.yaml, or list it under \
                 parity.exceptions",
                "checked 3 targets: 2 passed, 1 failed; 2 errors, 1 warning (0.84 s)",
            ]
        );
    }

    #[test]
    fn a_clean_report_prints_only_the_summary() {
        assert_eq!(
            github(&sample::clean()),
            "checked 2 targets: 2 passed, 0 failed; 0 errors, 0 warnings (0.05 s)\n"
        );
    }

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("50%\r\nnext: a,b"), "50%25%0D%0Anext: a,b");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        let d = Diagnostic::warning("r:1,2", "line one\nline two: 100%").at("dir,x/f:y.yaml", 2, 1);
        assert_eq!(
            command(&d),
            "::warning file=dir%2Cx/f%3Ay.yaml,line=2,col=1,title=r%3A1%2C2::\
             line one%0Aline two: 100%25"
        );
    }

    #[test]
    fn a_file_without_a_line_has_no_line_property() {
        let d = Diagnostic::error("deps/lock", "Chart.lock is out of date").in_file("Chart.lock");
        assert_eq!(
            command(&d),
            "::error file=Chart.lock,title=deps/lock::Chart.lock is out of date"
        );
    }
}

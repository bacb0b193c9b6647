//! Findings and their presentation.
//!
//! Checking code produces [`Diagnostic`]s and [`TargetResult`]s into a [`Report`]; it never
//! prints. The renderers in this module are the only code that writes results to stdout, in
//! the format the user chose (human, json, sarif, junit, github).

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cli::Format;

mod github;
mod human;
mod json;
mod junit;
#[cfg(test)]
mod sample;
mod sarif;
mod source;

pub use source::SourceCache;

/// How bad a finding is. Errors fail the run (exit 1); warnings are shown but do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding: a rule that did not hold, located as precisely as stackctl can.
///
/// `file` is relative to the repository root, with `/` separators. `line` and `column` are
/// 1-based. `path` is a JSON pointer into the merged values (or the rendered object) when the
/// finding is about a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
    pub target: Option<String>,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub path: Option<String>,
}

impl Diagnostic {
    pub fn new(rule: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            rule: rule.into(),
            severity,
            message: message.into(),
            hint: None,
            target: None,
            file: None,
            line: None,
            column: None,
            path: None,
        }
    }
    pub fn error(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(rule, Severity::Error, message)
    }
    pub fn warning(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(rule, Severity::Warning, message)
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    pub fn at(mut self, file: impl Into<String>, line: usize, column: usize) -> Self {
        self.file = Some(file.into());
        self.line = Some(line);
        self.column = Some(column);
        self
    }
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
    pub fn with_path(mut self, pointer: impl Into<String>) -> Self {
        self.path = Some(pointer.into());
        self
    }
}

/// Whether a target's checks passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
}

/// The outcome of checking one target (an env file with its layer chain, or a chart variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetResult {
    /// The target's name: its env file relative to the repository root, or the variant name.
    pub target: String,
    /// The values files applied in order, relative to the repository root.
    pub layers: Vec<String>,
    pub release: String,
    pub status: Status,
    /// True when the verdict came from the result cache without running helm.
    pub cached: bool,
    pub duration_ms: u64,
}

/// Everything one command found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub targets: Vec<TargetResult>,
    pub diagnostics: Vec<Diagnostic>,
    pub duration_ms: u64,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }
    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
    /// True when no finding has error severity.
    pub fn ok(&self) -> bool {
        self.errors() == 0
    }
    pub fn passed(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.status == Status::Passed)
            .count()
    }
    pub fn failed(&self) -> usize {
        self.targets.len() - self.passed()
    }
    /// The result of the target named `name`, if the report has one.
    pub fn target(&self, name: &str) -> Option<&TargetResult> {
        self.targets.iter().find(|t| t.target == name)
    }
    /// The diagnostics in presentation order: grouped by file (files in name order), by line
    /// and column within a file, diagnostics without a file last; then by target (target-less
    /// last), rule and message. Checks run in parallel, so the order they produce findings in
    /// is not stable; this one is, and every renderer uses it.
    pub fn sorted_diagnostics(&self) -> Vec<&Diagnostic> {
        let mut sorted: Vec<&Diagnostic> = self.diagnostics.iter().collect();
        sorted.sort_by_key(|d| {
            (
                d.file.is_none(),
                &d.file,
                d.line,
                d.column,
                d.target.is_none(),
                &d.target,
                &d.rule,
                &d.message,
            )
        });
        sorted
    }
}

/// How to render a [`Report`].
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub format: Format,
    /// Style human output with ANSI colors. The caller decides (from `--color` and whether
    /// stdout is a terminal); renderers never probe the terminal themselves.
    pub color: bool,
    /// The repository root: diagnostics' files are relative to it, and source lines for
    /// snippets are read from it.
    pub root: PathBuf,
    /// After human output, also print GitHub workflow commands (`::error …`) so findings show
    /// as annotations. Set when `GITHUB_ACTIONS=true`.
    pub github_annotations: bool,
    /// Human output: leave out the per-target status list, and the summary line when there is
    /// nothing to report.
    pub quiet: bool,
    /// The command that produced the report (`validate envs aws`), when there is one: it names
    /// the JUnit test suite and the test case that holds findings tied to no target.
    pub command: Option<String>,
    /// One-line descriptions of rule IDs, for SARIF's rule metadata. A rule without one is
    /// described by its ID.
    pub rule_descriptions: std::collections::BTreeMap<String, String>,
}

impl RenderOptions {
    /// Options with colors, annotations and quiet off, no command and no rule descriptions.
    pub fn new(format: Format, root: impl Into<PathBuf>) -> Self {
        RenderOptions {
            format,
            color: false,
            root: root.into(),
            github_annotations: false,
            quiet: false,
            command: None,
            rule_descriptions: Default::default(),
        }
    }
}

/// Write `report` to `out` in the format `options` asks for. This is the only way findings
/// reach stdout.
pub fn render(report: &Report, options: &RenderOptions, out: &mut dyn io::Write) -> io::Result<()> {
    match options.format {
        Format::Human => {
            human::render(report, options, out)?;
            if options.github_annotations {
                github::annotations(report, out)?;
            }
            Ok(())
        }
        Format::Json => json::render(report, out),
        Format::Sarif => sarif::render(report, options, out),
        Format::Junit => junit::render(report, options, out),
        Format::Github => github::render(report, out),
    }
}

/// The closing line of human and GitHub output, e.g.
/// `checked 8 targets: 7 passed, 1 failed; 2 errors, 1 warning (0.84 s)`.
/// Its wording is stable: scripts and people grep for it.
pub fn summary_line(report: &Report) -> String {
    let findings = format!(
        "{}, {}",
        count(report.errors(), "error", "errors"),
        count(report.warnings(), "warning", "warnings")
    );
    let seconds = seconds(report.duration_ms);
    if report.targets.is_empty() {
        return format!("checked no targets; {findings} ({seconds} s)");
    }
    format!(
        "checked {}: {} passed, {} failed; {findings} ({seconds} s)",
        count(report.targets.len(), "target", "targets"),
        report.passed(),
        report.failed(),
    )
}

/// A diagnostic's message with what a one-message view (a GitHub annotation, a SARIF result)
/// would otherwise lose: the target when there is no file, the values path, the hint.
pub(crate) fn flat_message(d: &Diagnostic) -> String {
    let mut message = d.message.clone();
    if let (None, Some(target)) = (&d.file, &d.target) {
        message.push_str(&format!(" (target {target})"));
    }
    if let Some(path) = &d.path {
        message.push_str(&format!("\nat {path}"));
    }
    if let Some(hint) = &d.hint {
        message.push_str(&format!("\nhint: {hint}"));
    }
    message
}

/// `1 error`, `2 errors`, `0 errors`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Milliseconds as seconds with two decimals (`840` → `0.84`), the precision people read.
pub(crate) fn seconds(ms: u64) -> String {
    format!("{}.{:02}", ms / 1000, (ms % 1000) / 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_counts_with_plurals() {
        let mut report = sample::failing();
        assert_eq!(
            summary_line(&report),
            "checked 3 targets: 2 passed, 1 failed; 2 errors, 1 warning (0.84 s)"
        );
        report.targets.truncate(1);
        report.diagnostics.retain(|d| d.rule == "values/schema");
        report.duration_ms = 1005;
        assert_eq!(
            summary_line(&report),
            "checked 1 target: 1 passed, 0 failed; 1 error, 0 warnings (1.00 s)"
        );
        let empty = Report::default();
        assert_eq!(
            summary_line(&empty),
            "checked no targets; 0 errors, 0 warnings (0.00 s)"
        );
    }

    #[test]
    fn diagnostics_sort_by_file_then_line_with_fileless_last() {
        let report = Report {
            diagnostics: vec![
                Diagnostic::error("a", "no file"),
                Diagnostic::error("b", "b.yaml:9").at("b.yaml", 9, 1),
                Diagnostic::error("c", "a.yaml:3").at("a.yaml", 3, 1),
                Diagnostic::error("d", "b.yaml:2").at("b.yaml", 2, 1),
                Diagnostic::error("e", "a.yaml, no line").in_file("a.yaml"),
                Diagnostic::warning("f", "no file either"),
                Diagnostic::warning("g", "no file, a target").with_target("t"),
            ],
            ..Report::default()
        };
        let order: Vec<&str> = report
            .sorted_diagnostics()
            .iter()
            .map(|d| d.rule.as_str())
            .collect();
        assert_eq!(order, ["e", "c", "d", "b", "g", "a", "f"]);
    }

    #[test]
    fn render_dispatches_on_format() {
        let report = sample::failing();
        for (format, start) in [
            (Format::Human, "error["),
            (Format::Json, "{"),
            (Format::Sarif, "{"),
            (Format::Junit, "<?xml"),
            (Format::Github, "::"),
        ] {
            let mut out = Vec::new();
            render(
                &report,
                &RenderOptions::new(format, "/nonexistent"),
                &mut out,
            )
            .unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(start), "{format:?}: {text}");
        }
    }

    #[test]
    fn human_output_can_carry_github_annotations() {
        let report = sample::failing();
        let mut options = RenderOptions::new(Format::Human, "/nonexistent");
        options.github_annotations = true;
        let mut out = Vec::new();
        render(&report, &options, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("error["));
        assert_eq!(text.matches("\n::error ").count(), 2, "{text}");
        assert_eq!(text.matches("\n::warning ").count(), 1, "{text}");
    }
}

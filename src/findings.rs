//! Findings: what checking code produces and every renderer presents.
//!
//! A [`Diagnostic`] is one rule that did not hold, located as precisely as stackctl can; a
//! [`TargetResult`] is the verdict on one target; a [`Report`] is everything one command
//! found. Nothing here knows how it will be shown.

use serde::{Deserialize, Serialize};

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
    /// Findings this one causes: they go away when it is fixed (the target rendered again
    /// with [`Diagnostic::fix`] applied showed them gone). Shown under it, never as causes of
    /// their own.
    #[serde(default)]
    pub consequences: Vec<Diagnostic>,
    /// The change to the values that undoes this finding's cause, when there is one to try.
    #[serde(skip)]
    pub fix: Option<Fix>,
}

/// A change to a target's values that undoes a finding's cause: each pointer of the merged
/// values set to a value, `null` removing it, as one more layer over the target's would
/// (`engine::pipeline` writes it as one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub set: Vec<(String, serde_json::Value)>,
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
            consequences: Vec::new(),
            fix: None,
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
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
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
    /// The error that stopped the run before every check was made, when one did: the report
    /// then holds what was found before it, and says both.
    pub stopped: Option<Stopped>,
}

/// An error that ended a run whose findings are still worth showing (a chart that cannot be
/// built, next to the dependency findings that may explain why).
///
/// [`Stopped::located`] is how every renderer shows it on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stopped {
    /// What failed.
    pub message: String,
    /// The file the error is about, relative to the repository root, and its line, when known.
    pub file: Option<String>,
    pub line: Option<usize>,
    /// How to fix it, when known.
    pub hint: Option<String>,
    /// The run's exit code: the error's (`docs/cli.md`), never the findings' 1.
    pub exit_code: u8,
}

impl Stopped {
    /// [`Stopped::located`], then its hint in parentheses: the error on one line, for a
    /// format with one message per item (SARIF).
    pub fn one_line(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{} (hint: {hint})", self.located()),
            None => self.located(),
        }
    }

    /// `file:line: message`, or as much of the location as is known.
    pub fn located(&self) -> String {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => format!("{file}:{line}: {}", self.message),
            (Some(file), None) if !self.message.contains(file.as_str()) => {
                format!("{file}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
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
    /// True when no finding has error severity and nothing stopped the run.
    pub fn ok(&self) -> bool {
        self.errors() == 0 && self.stopped.is_none()
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Presentation: the renderers of every command's results, in the format the user chose
//! (human, json, sarif, junit, github). The only code that writes results to stdout.
//!
//! Checking code produces [`Diagnostic`]s and [`TargetResult`]s into a [`Report`]
//! ([`crate::findings`]); it never prints.

use std::io;
use std::path::PathBuf;

pub use crate::findings::{Diagnostic, Report, Severity, Status, Stopped, TargetResult};

mod documents;
mod github;
mod human;
mod json;
mod junit;
mod progress;
#[cfg(test)]
mod sample;
mod sarif;
mod source;
mod test_report;

use std::io::Write as _;
use std::path::Path;

pub use documents::{
    DependencyStatuses, Document, Linked, RenderDocument, Styles, Unlinked, ValuesDocument,
};
pub use progress::TerminalProgress;
pub use source::SourceCache;

use crate::error::{Error, ExitCode, Result};
use crate::ops::render::Rendering;
use crate::ops::values::MergedValues;
use crate::redact::redact;

/// The output formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people: file:line:col, the source line with a caret, a hint, a summary.
    Human,
    /// One JSON document, the versioned schema of docs/output.md.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML, one test case per target.
    Junit,
    /// GitHub Actions workflow commands (::error file=…,line=…::…).
    Github,
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

/// How one run presents its results: the only writer of stdout.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: Format,
    /// Color human output on stdout.
    pub color: bool,
    pub quiet: bool,
    /// After human output, also print GitHub workflow commands (`GITHUB_ACTIONS=true`).
    pub github_annotations: bool,
}

impl Printer {
    /// The printer of a run: colors when `color` says so, else (`None`, `--color auto`) when
    /// stdout takes them; GitHub annotations when running in GitHub Actions.
    pub fn new(format: Format, color: Option<bool>, quiet: bool) -> Printer {
        let color = color.unwrap_or_else(|| {
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        });
        Printer {
            format,
            color,
            quiet,
            github_annotations: std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true"),
        }
    }

    /// A findings report in the chosen format; exit 1 when it holds an error. `root` is the
    /// repository root (source lines for snippets are read from it); `command` names the
    /// run (`validate envs aws`).
    pub fn findings(&self, report: &Report, root: &Path, command: &str) -> Result<ExitCode> {
        let options = self.options(root, command);
        let code = self.emit(report.ok(), |out| render(report, &options, out))?;
        // An error that stopped the run outranks the findings: the run is incomplete.
        Ok(match &report.stopped {
            Some(stopped) => ExitCode::from_code(stopped.exit_code),
            None => code,
        })
    }

    /// A test run's report in the chosen format (`docs/output.md`); exit 1 when a check
    /// failed or validation found an error. `root` is the repository root, where the
    /// snippets of validation findings are read.
    pub fn test_report(&self, report: &crate::checks::TestReport, root: &Path) -> Result<ExitCode> {
        let options = self.options(root, &report.command);
        self.emit(report.ok(), |out| {
            test_report::render(report, &options, out)
        })
    }

    /// What `write` renders, on stdout; exit 1 unless the report is `ok`.
    fn emit(
        &self,
        ok: bool,
        write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
    ) -> Result<ExitCode> {
        let mut buffer = Vec::new();
        write(&mut buffer)
            .map_err(|e| Error::internal(format!("cannot render the report: {e}")))?;
        self.stdout(&String::from_utf8_lossy(&buffer))?;
        Ok(if ok { ExitCode::Ok } else { ExitCode::Findings })
    }

    /// How this printer renders a report of `command`, with sources read under `root`.
    fn options(&self, root: &Path, command: &str) -> RenderOptions {
        let mut options = RenderOptions::new(self.format, root);
        options.color = self.color;
        options.quiet = self.quiet;
        options.github_annotations = self.github_annotations;
        options.command = Some(command.to_string());
        options.rule_descriptions = crate::rules::all()
            .map(|r| (r.id.to_string(), r.summary.to_string()))
            .collect();
        options
    }

    /// A command's result: its JSON document, or its human text.
    pub fn document<D: Document>(&self, document: &D) -> Result<()> {
        match self.format {
            Format::Json => self.stdout(&documents::json(document)),
            _ => self.stdout(&document.human(self.quiet, &Styles::new(self.color))),
        }
    }

    /// What `init` decided: its JSON document; else its summary, on stdout once the file is
    /// written, on stderr when the file itself goes to stdout (`--print`).
    pub fn init(&self, report: &crate::ops::init::InitReport) -> Result<()> {
        if self.format == Format::Json || report.written {
            return self.document(report);
        }
        self.note(report.human(self.quiet, &Styles::new(false)).trim_end());
        self.stdout(&report.content)
    }

    /// A render: the manifest (its layer chain on stderr), or its JSON document; when helm
    /// could not render, the findings that say why (exit 1).
    pub fn rendering(&self, rendering: &Rendering, root: &Path) -> Result<ExitCode> {
        let rendered = match &rendering.outcome {
            Err(report) => return self.findings(report, root, "render"),
            Ok(rendered) => rendered,
        };
        match self.format {
            Format::Json => {
                let document = RenderDocument::of(rendering).expect("rendered");
                self.stdout(&documents::json(&document))?;
            }
            Format::Human => {
                let tables = documents::tables_line(&rendering.target.tables)
                    .map(|line| format!("; {line}"))
                    .unwrap_or_default();
                self.note(&format!(
                    "{}: {}{tables}",
                    rendering.target.name,
                    rendering.chain.join(" → ")
                ));
                self.stdout(&rendered.rendered.manifest)?;
            }
            _ => return self.findings(&Report::default(), root, "render"),
        }
        Ok(ExitCode::Ok)
    }

    /// Merged values: JSON, or annotated YAML.
    pub fn values(&self, values: &MergedValues) -> Result<()> {
        let document = ValuesDocument(values);
        match self.format {
            Format::Json => self.stdout(&document.json()),
            _ => self.stdout(&document.human()),
        }
    }

    /// A line for people on stderr, unless quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(anstream::stderr(), "{}", redact(text));
        }
    }

    /// Write `text` to stdout, redacted of every known secret.
    pub fn stdout(&self, text: &str) -> Result<()> {
        let mut stdout = anstream::stdout().lock();
        stdout
            .write_all(redact(text).as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| Error::environment(format!("cannot write to stdout: {e}")))
    }
}

/// Set up the terminal for the run: colors as `--color` says (`None`: anstream detects them,
/// honouring terminals, `NO_COLOR` and `CLICOLOR_FORCE`), and logs on stderr, redacted, at the
/// level of `-v` (`None`: `--quiet`, errors only), or as `STACKCTL_LOG` filters them.
pub fn init_terminal(color: Option<bool>, verbosity: Option<u8>) {
    match color {
        None => anstream::ColorChoice::Auto,
        Some(true) => anstream::ColorChoice::Always,
        Some(false) => anstream::ColorChoice::Never,
    }
    .write_global();
    let level = match verbosity {
        None => "error",
        Some(0) => "warn",
        Some(1) => "info",
        Some(2) => "debug",
        Some(_) => "trace",
    };
    // Logs go to stderr like every other message, so they take colour exactly when it does
    // (`--color`, a terminal, `NO_COLOR`).
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    let filter = tracing_subscriber::EnvFilter::try_from_env("STACKCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("stackctl={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Logs quote commands' output and registry answers: redacted like everything else.
        .with_writer(|| crate::redact::RedactingWriter::new(std::io::stderr()))
        .with_ansi(ansi)
        .without_time()
        .with_target(false)
        .try_init();
}

/// An error that ended the run, on stderr: what failed and, when known, how to fix it.
pub fn print_error(err: &Error) {
    let mut stderr = anstream::stderr();
    let bold_red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let bold = anstyle::Style::new().bold();
    let message = redact(&err.to_string()).into_owned();
    let _ = writeln!(
        stderr,
        "{bold_red}error{bold_red:#}{bold}:{bold:#} {message}"
    );
    if let Some(hint) = &err.hint {
        let cyan = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Cyan.into()));
        let _ = writeln!(stderr, "  {cyan}hint{cyan:#}: {}", redact(hint));
    }
}

/// The closing line of human and GitHub output, e.g.
/// `checked 8 targets: 7 passed, 1 failed; 2 errors, 1 warning (0.84 s)`, with
/// `; stopped by an error` after the counts when an error ended the run early.
/// Its wording is stable: scripts and people grep for it.
pub fn summary_line(report: &Report) -> String {
    let findings = format!(
        "{}, {}",
        count(report.errors(), "error", "errors"),
        count(report.warnings(), "warning", "warnings")
    );
    let findings = match report.stopped {
        Some(_) => format!("{findings}; stopped by an error"),
        None => findings,
    };
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
    if let Some(consequences) = consequences_line(d, "") {
        message.push_str(&format!("\n{consequences}"));
    }
    message
}

/// `and 8 consequences: render/dangling-reference ×8`: what a finding's fix also removes,
/// counted by rule, with `said` after the count; `None` when it causes nothing else.
pub(crate) fn consequences_line(d: &Diagnostic, said: &str) -> Option<String> {
    if d.consequences.is_empty() {
        return None;
    }
    let mut by_rule: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in &d.consequences {
        *by_rule.entry(c.rule.as_str()).or_default() += 1;
    }
    let rules: Vec<String> = by_rule
        .into_iter()
        .map(|(rule, n)| format!("{rule} ×{n}"))
        .collect();
    Some(format!(
        "and {}{said}: {}",
        count(d.consequences.len(), "consequence", "consequences"),
        rules.join(", ")
    ))
}

/// One consequence on one line: `render/dangling-reference: … (envs/prod/console.yaml:51)`.
pub(crate) fn consequence_text(c: &Diagnostic) -> String {
    let at = match (&c.file, c.line) {
        (Some(file), Some(line)) => format!(" ({file}:{line})"),
        (Some(file), None) => format!(" ({file})"),
        _ => String::new(),
    };
    format!("{}: {}{at}", c.rule, c.message)
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

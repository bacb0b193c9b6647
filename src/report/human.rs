//! Human output, shaped like rustc's: each finding with its rule ID, location, the source
//! line with a caret, a hint and the target's layer chain; then one line per target and a
//! summary.

use std::io::{self, Write};

use annotate_snippets::{
    AnnotationKind, Group, Level, Origin, Renderer, Snippet, normalize_untrusted_str,
};
use anstyle::{AnsiColor, Style};

use super::{Diagnostic, RenderOptions, Report, Severity, SourceCache, Status, summary_line};

pub(super) fn render(
    report: &Report,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    diagnostics(report, options, out)?;
    let styles = Styles::new(options.color);
    if !options.quiet {
        for target in &report.targets {
            let (label, style) = match target.status {
                Status::Passed => ("ok", styles.ok),
                Status::Failed => ("FAIL", styles.fail),
            };
            let release = if target.release.is_empty() {
                String::new()
            } else {
                format!(" ({})", target.release)
            };
            let cached = if target.cached {
                format!(" {}(cached){:#}", styles.dim, styles.dim)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{style}{label:>4}{style:#}  {}{release} {}{cached}",
                target.target,
                duration(target.duration_ms)
            )?;
        }
    }
    // Quiet means silence when there is nothing to say; a failure always gets its summary.
    let clean = report.ok() && report.diagnostics.is_empty() && report.failed() == 0;
    if !(options.quiet && clean) {
        let style = if report.ok() && report.failed() == 0 {
            styles.summary_ok
        } else {
            styles.summary_fail
        };
        writeln!(out, "{style}{}{style:#}", summary_line(report))?;
    }
    Ok(())
}

/// Each finding, with its snippet, hint and layers; a blank line after each. The test report
/// shows a run's validation findings this way too.
pub(super) fn diagnostics(
    report: &Report,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let renderer = if options.color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut sources = SourceCache::new(&options.root);
    for diagnostic in report.sorted_diagnostics() {
        let text = renderer.render(&[group(diagnostic, report, &mut sources)]);
        writeln!(out, "{text}\n")?;
    }
    if let Some(stopped) = &report.stopped {
        let title = Level::ERROR.primary_title(normalize_untrusted_str(&stopped.located()));
        let mut group = Group::with_title(title);
        if let Some(hint) = &stopped.hint {
            group = group.element(
                Level::HELP
                    .with_name("hint")
                    .message(normalize_untrusted_str(hint)),
            );
        }
        writeln!(out, "{}\n", renderer.render(&[group]))?;
    }
    Ok(())
}

/// One diagnostic as an annotate-snippets group: title, location or snippet, notes.
fn group<'a>(d: &'a Diagnostic, report: &'a Report, sources: &mut SourceCache) -> Group<'a> {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    // Messages quote user values (YAML scalars, helm's stderr): keep their control characters
    // away from the terminal. The rule ID and file names are ours.
    let title = level
        .primary_title(normalize_untrusted_str(&d.message))
        .id(d.rule.as_str());
    let mut group = Group::with_title(title);
    let mut path_shown = false;
    if let Some(file) = d.file.as_deref() {
        match (d.line, d.line.and_then(|line| sources.line(file, line))) {
            (Some(line), Some(source)) => {
                let source = shown_source(d, source);
                let source = source.as_str();
                let span = span(source, d.column);
                let mut annotation = AnnotationKind::Primary.span(span);
                if let Some(path) = &d.path {
                    annotation = annotation.label(path.as_str());
                    path_shown = true;
                }
                group = group.element(
                    Snippet::source(source.to_owned())
                        .line_start(line)
                        .path(file)
                        .annotation(annotation),
                );
            }
            (Some(line), None) => {
                let mut origin = Origin::path(file).line(line);
                if let Some(column) = d.column {
                    origin = origin.char_column(column);
                }
                group = group.element(origin);
            }
            (None, _) => group = group.element(Origin::path(file)),
        }
    }
    if let (Some(path), false) = (&d.path, path_shown) {
        group = group.element(Level::NOTE.with_name("path").message(path.as_str()));
    }
    if let Some(hint) = &d.hint {
        group = group.element(
            Level::HELP
                .with_name("hint")
                .message(normalize_untrusted_str(hint)),
        );
    }
    if let Some(line) = super::consequences_line(d, ", gone once this is fixed") {
        // The fix of this finding also removes these: shown here, never as causes of their own.
        group = group.element(Level::NOTE.with_name("note").message(line));
        for c in d.consequences.iter().take(SHOWN_CONSEQUENCES) {
            group = group.element(
                Level::NOTE
                    .with_name("consequence")
                    .message(normalize_untrusted_str(&super::consequence_text(c))),
            );
        }
        if d.consequences.len() > SHOWN_CONSEQUENCES {
            group = group.element(Level::NOTE.with_name("consequence").message(format!(
                "… {} more (--format json lists every one)",
                d.consequences.len() - SHOWN_CONSEQUENCES
            )));
        }
    }
    let layers = d
        .target
        .as_deref()
        .and_then(|name| report.target(name))
        .map(|target| target.layers.join(" → "))
        .filter(|chain| !chain.is_empty());
    match (layers, d.target.as_deref()) {
        (Some(chain), _) => {
            group = group.element(Level::NOTE.with_name("layers").message(chain));
        }
        // A target the report has no result for still deserves to be named.
        (None, Some(target)) => {
            group = group.element(Level::NOTE.with_name("target").message(target));
        }
        (None, None) => {}
    }
    group
}

/// How many consequences of a finding human output lists under it.
const SHOWN_CONSEQUENCES: usize = 5;

/// Rules whose findings point at a secret: their snippet never shows the line past the
/// finding's column, whatever the secret's length (redaction only knows longer values).
const HIDES_VALUE: &[&str] = &["secrets/literal"];

/// The source line as shown under a finding. Any line that assigns a secret-looking value
/// hides it, whatever the finding: a syntax error quotes a line of a file whose secrets were
/// never scanned.
fn shown_source(d: &Diagnostic, source: &str) -> String {
    match d.column {
        Some(column) if HIDES_VALUE.contains(&d.rule.as_str()) => {
            let kept: String = source.chars().take(column.saturating_sub(1)).collect();
            format!("{kept}[REDACTED]")
        }
        _ => crate::rules::secrets::redact_line(source).into_owned(),
    }
}

/// The byte range the caret goes under: the character at the 1-based `column`, or the
/// line's text without its indentation when the column is unknown. A column past the end
/// points just after the last character.
fn span(source: &str, column: Option<usize>) -> std::ops::Range<usize> {
    match column {
        Some(column) => {
            let mut chars = source.char_indices().skip(column.saturating_sub(1));
            match chars.next() {
                Some((start, c)) => start..start + c.len_utf8(),
                None => source.len()..source.len(),
            }
        }
        None => {
            let start = source.len() - source.trim_start().len();
            start..source.trim_end().len().max(start)
        }
    }
}

/// `120 ms` under a second, `1.23 s` from there.
pub(super) fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{} s", super::seconds(ms))
    }
}

struct Styles {
    ok: Style,
    fail: Style,
    dim: Style,
    summary_ok: Style,
    summary_fail: Style,
}

impl Styles {
    fn new(color: bool) -> Self {
        if !color {
            let plain = Style::new();
            return Styles {
                ok: plain,
                fail: plain,
                dim: plain,
                summary_ok: plain,
                summary_fail: plain,
            };
        }
        let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
        let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
        Styles {
            ok: green,
            fail: red.bold(),
            dim: Style::new().dimmed(),
            summary_ok: green.bold(),
            summary_fail: red.bold(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Format;
    use crate::report::sample;

    fn human(report: &Report, root: &std::path::Path, quiet: bool) -> String {
        let mut options = RenderOptions::new(Format::Human, root);
        options.quiet = quiet;
        let mut out = Vec::new();
        render(report, &options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Timings vary from run to run; the snapshots keep their place, not their value.
    macro_rules! snapshot {
        ($name:literal, $text:expr) => {
            insta::with_settings!({filters => vec![
                (r"\b\d+ ms\b", "[ms]"),
                (r"\(\d+\.\d\d s\)", "([s])"),
            ]}, {
                insta::assert_snapshot!($name, $text);
            })
        };
    }

    #[test]
    fn schema_error_shows_source_line_caret_hint_and_layers() {
        let dir = tempfile::tempdir().unwrap();
        sample::write_sources(dir.path());
        let mut report = sample::failing();
        report.diagnostics.retain(|d| d.rule == "values/schema");
        snapshot!("schema_error", human(&report, dir.path(), false));
    }

    #[test]
    fn warning_without_file() {
        let mut report = sample::failing();
        report.diagnostics.retain(|d| d.rule == "envs/parity");
        report.targets.clear();
        snapshot!(
            "warning_without_file",
            human(&report, "/nonexistent".as_ref(), false)
        );
    }

    #[test]
    fn consequences_are_listed_under_their_cause() {
        let text = human(&sample::folded(), "/nonexistent".as_ref(), false);
        assert_eq!(text.matches("error[").count(), 1, "{text}");
        assert!(
            text.contains(
                "= note: and 2 consequences, gone once this is fixed: render/dangling-reference ×2"
            ),
            "{text}"
        );
        assert!(
            text.contains("= consequence: render/dangling-reference: Deployment worker reads Secret jetscale-console-db (envFrom), which is neither rendered nor provided outside the chart (envs/prod/console.yaml:7)"),
            "{text}"
        );
        assert!(text.contains("1 error, 0 warnings"), "{text}");
    }

    #[test]
    fn an_error_that_stopped_the_run_follows_the_findings_it_may_come_from() {
        let text = human(&sample::stopped(), "/nonexistent".as_ref(), false);
        let finding = text.find("error[deps/lock]").expect("the finding");
        let stopped = text
            .find("error: charts/jetscale/Chart.yaml:14: cannot build the dependencies")
            .expect("the error");
        assert!(finding < stopped, "{text}");
        assert!(
            text.contains("= hint: run `stackctl deps update`"),
            "{text}"
        );
        assert!(
            text.ends_with("1 error, 0 warnings; stopped by an error (0.01 s)\n"),
            "{text}"
        );
        // Quiet keeps it: it is never a clean run.
        let quiet = human(&sample::stopped(), "/nonexistent".as_ref(), true);
        assert!(quiet.contains("cannot build the dependencies"), "{quiet}");
    }

    #[test]
    fn clean_report() {
        snapshot!(
            "clean",
            human(&sample::clean(), "/nonexistent".as_ref(), false)
        );
    }

    #[test]
    fn files_come_first_and_fileless_findings_last() {
        let dir = tempfile::tempdir().unwrap();
        sample::write_sources(dir.path());
        let text = human(&sample::failing(), dir.path(), false);
        let schema = text.find("error[values/schema]").unwrap();
        let helm = text.find("error[helm/template]").unwrap();
        let parity = text.find("warning[envs/parity]").unwrap();
        assert!(schema < helm && helm < parity, "{text}");
        assert!(text.contains("FAIL  envs/prod/console.yaml (jetscale-console) 120 ms\n"));
        assert!(text.contains("  ok  envs/prod/api.yaml (jetscale-api) 3 ms (cached)\n"));
        assert!(
            text.ends_with("checked 3 targets: 2 passed, 1 failed; 2 errors, 1 warning (0.84 s)\n")
        );
    }

    #[test]
    fn unreadable_source_still_shows_the_location() {
        let text = human(&sample::failing(), "/nonexistent".as_ref(), false);
        assert!(text.contains("--> envs/prod/console.yaml:3:13\n"), "{text}");
        assert!(text.contains("= path: /console/replicas\n"), "{text}");
    }

    #[test]
    fn a_file_without_a_line_is_named_alone() {
        let report = Report {
            diagnostics: vec![
                Diagnostic::error("deps/lock", "Chart.lock is out of date")
                    .in_file("charts/jetscale/Chart.lock")
                    .with_target("envs/unknown.yaml"),
            ],
            ..Report::default()
        };
        let text = human(&report, "/nonexistent".as_ref(), true);
        assert!(text.contains("--> charts/jetscale/Chart.lock\n"), "{text}");
        assert!(text.contains("= target: envs/unknown.yaml\n"), "{text}");
    }

    #[test]
    fn quiet_drops_the_status_list_and_a_clean_summary() {
        assert_eq!(human(&sample::clean(), "/nonexistent".as_ref(), true), "");
        let text = human(&sample::failing(), "/nonexistent".as_ref(), true);
        assert!(!text.contains("FAIL  "), "{text}");
        assert!(text.ends_with("1 warning (0.84 s)\n"), "{text}");
    }

    #[test]
    fn colors_only_when_asked() {
        let plain = human(&sample::failing(), "/nonexistent".as_ref(), false);
        assert!(!plain.contains('\x1b'));
        let mut options = RenderOptions::new(Format::Human, "/nonexistent");
        options.color = true;
        let mut out = Vec::new();
        render(&sample::failing(), &options, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains('\x1b'));
    }

    #[test]
    fn control_characters_in_messages_do_not_reach_the_terminal() {
        let report = Report {
            diagnostics: vec![Diagnostic::error("x/y", "bad \x1b[31mvalue")],
            ..Report::default()
        };
        let text = human(&report, "/nonexistent".as_ref(), true);
        assert!(!text.contains('\x1b'), "{text:?}");
    }

    #[test]
    fn caret_span_follows_the_column() {
        assert_eq!(span("  replicas: 3", Some(13)), 12..13);
        assert_eq!(
            span("  é: x", Some(6)),
            6..7,
            "columns count characters, not bytes"
        );
        assert_eq!(span("ab", Some(9)), 2..2);
        assert_eq!(span("  key: 1  ", None), 2..8);
        assert_eq!(span("", None), 0..0);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0), "0 ms");
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(1234), "1.23 s");
    }
}

//! JUnit XML: one test case per target, so CI systems that read test reports show each env
//! file as a passing or failing test with its findings.
//!
//! Findings tied to no known target go into one more test case, named after the command (or
//! `repository`), present only when there are such findings or an error stopped the run: that
//! error is the case's `<error>` (JUnit's "could not run", unlike a `<failure>`). Findings of a
//! failed case are the failure's text; those of a passing case (warnings) go to its
//! `<system-out>`.

use std::collections::BTreeSet;
use std::io::{self, Write};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{Diagnostic, RenderOptions, Report, Severity, Status, Stopped, count};

/// A test case before it is written: its name, time and findings.
struct Case<'a> {
    name: &'a str,
    duration_ms: u64,
    failed: bool,
    findings: Vec<&'a Diagnostic>,
    /// The error that stopped the run, on the case of findings of no target.
    stopped: Option<&'a Stopped>,
}

pub(super) fn render(
    report: &Report,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let cases = cases(report, options);
    let tests = cases.len().to_string();
    let failures = cases.iter().filter(|c| c.failed).count().to_string();
    let errors = cases
        .iter()
        .filter(|c| c.stopped.is_some())
        .count()
        .to_string();
    let time = seconds(report.duration_ms);
    let suite = options.command.as_deref().unwrap_or("stackctl");

    let mut writer = Writer::new_with_indent(out, b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "stackctl"),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("time", time.as_str()),
        ])
        .write_inner_content(|writer| {
            writer
                .create_element("testsuite")
                .with_attributes([
                    ("name", xml_safe(suite).as_str()),
                    ("tests", tests.as_str()),
                    ("failures", failures.as_str()),
                    ("errors", errors.as_str()),
                    ("skipped", "0"),
                    ("time", time.as_str()),
                ])
                .write_inner_content(|writer| {
                    for case in &cases {
                        write_case(writer, case)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    writeln!(writer.into_inner())
}

/// One case per target in report order, then the case for findings of no known target.
fn cases<'a>(report: &'a Report, options: &'a RenderOptions) -> Vec<Case<'a>> {
    let sorted = report.sorted_diagnostics();
    let mut cases: Vec<Case> = report
        .targets
        .iter()
        .map(|target| {
            let findings: Vec<&Diagnostic> = sorted
                .iter()
                .copied()
                .filter(|d| d.target.as_deref() == Some(target.target.as_str()))
                .collect();
            Case {
                name: &target.target,
                duration_ms: target.duration_ms,
                failed: target.status == Status::Failed || has_error(&findings),
                findings,
                stopped: None,
            }
        })
        .collect();
    let orphans: Vec<&Diagnostic> = sorted
        .into_iter()
        .filter(|d| d.target.as_deref().and_then(|t| report.target(t)).is_none())
        .collect();
    if !orphans.is_empty() || report.stopped.is_some() {
        cases.push(Case {
            name: options.command.as_deref().unwrap_or("repository"),
            duration_ms: 0,
            failed: has_error(&orphans),
            findings: orphans,
            stopped: report.stopped.as_ref(),
        });
    }
    cases
}

fn has_error(findings: &[&Diagnostic]) -> bool {
    findings.iter().any(|d| d.severity == Severity::Error)
}

fn write_case<W: Write>(writer: &mut Writer<W>, case: &Case) -> io::Result<()> {
    let time = seconds(case.duration_ms);
    let element = writer.create_element("testcase").with_attributes([
        ("classname", "stackctl"),
        ("name", xml_safe(case.name).as_str()),
        ("time", time.as_str()),
    ]);
    if case.findings.is_empty() && !case.failed && case.stopped.is_none() {
        element.write_empty()?;
        return Ok(());
    }
    let text = xml_safe(&findings_text(&case.findings));
    element.write_inner_content(|writer| {
        if let Some(stopped) = case.stopped {
            let mut detail = stopped.located();
            if let Some(hint) = &stopped.hint {
                detail.push_str(&format!("\n  = hint: {hint}"));
            }
            writer
                .create_element("error")
                .with_attributes([
                    ("message", xml_safe(&stopped.located()).as_str()),
                    ("type", "stopped"),
                ])
                .write_text_content(text_node(&xml_safe(&detail)))?;
        }
        if case.findings.is_empty() && !case.failed {
            return Ok(());
        }
        if case.failed {
            let errors: Vec<&Diagnostic> = case
                .findings
                .iter()
                .copied()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            let message = if errors.is_empty() {
                "failed".to_owned()
            } else {
                count(errors.len(), "error", "errors")
            };
            // The distinct rules that failed, so a CI view can group failures by kind.
            let rules: BTreeSet<&str> = errors.iter().map(|d| d.rule.as_str()).collect();
            let kind = if rules.is_empty() {
                "stackctl".to_owned()
            } else {
                rules.into_iter().collect::<Vec<_>>().join(", ")
            };
            writer
                .create_element("failure")
                .with_attributes([("message", message.as_str()), ("type", kind.as_str())])
                .write_text_content(text_node(&text))?;
        } else {
            writer
                .create_element("system-out")
                .write_text_content(text_node(&text))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The findings as plain text, one block per finding, like the human output without
/// snippets.
fn findings_text(findings: &[&Diagnostic]) -> String {
    let mut text = String::new();
    for d in findings {
        text.push_str(&format!(
            "{}[{}]: {}\n",
            d.severity.as_str(),
            d.rule,
            d.message
        ));
        match (&d.file, d.line, d.column) {
            (Some(file), Some(line), Some(column)) => {
                text.push_str(&format!("  --> {file}:{line}:{column}\n"))
            }
            (Some(file), Some(line), None) => text.push_str(&format!("  --> {file}:{line}\n")),
            (Some(file), None, _) => text.push_str(&format!("  --> {file}\n")),
            (None, ..) => {}
        }
        if let Some(path) = &d.path {
            text.push_str(&format!("  = path: {path}\n"));
        }
        if let Some(hint) = &d.hint {
            text.push_str(&format!("  = hint: {hint}\n"));
        }
        if let Some(line) = super::consequences_line(d, "") {
            text.push_str(&format!("  = {line}\n"));
            for c in &d.consequences {
                text.push_str(&format!("    - {}\n", super::consequence_text(c)));
            }
        }
    }
    text
}

/// Element text escaped for XML. Only `<`, `>` and `&` need it in text; leaving quotes as
/// they are keeps the findings readable in a raw report.
pub(super) fn text_node(text: &str) -> BytesText<'_> {
    BytesText::from_escaped(quick_xml::escape::partial_escape(text))
}

/// Seconds with millisecond precision, JUnit's unit for `time`.
pub(super) fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// XML 1.0 cannot carry most control characters even escaped; helm's stderr can contain
/// them. Replace them so the document stays well-formed.
pub(super) fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use quick_xml::Reader;

    use super::*;
    use crate::report::Format;
    use crate::report::sample;

    /// An element read back: its name, attributes, text and children.
    #[derive(Debug, Default)]
    struct Node {
        name: String,
        attributes: Vec<(String, String)>,
        text: String,
        children: Vec<Node>,
    }

    impl Node {
        fn attr(&self, key: &str) -> &str {
            let found = self.attributes.iter().find(|(k, _)| k == key);
            found
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{key} on {self:?}"))
        }
        fn children(&self, name: &str) -> Vec<&Node> {
            self.children.iter().filter(|c| c.name == name).collect()
        }
    }

    fn element(e: &quick_xml::events::BytesStart) -> Node {
        Node {
            name: e.name().as_ref().to_owned(),
            attributes: e
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    let key = a.key.as_ref().to_owned();
                    let value = a.normalized_value(quick_xml::XmlVersion::Explicit1_0);
                    (key, value.unwrap().into_owned())
                })
                .collect(),
            ..Node::default()
        }
    }

    /// Parses `xml` with quick-xml's reader into the root element, failing on malformed XML.
    fn parse(xml: &str) -> Node {
        let mut reader = Reader::from_str(xml);
        let mut stack = vec![Node::default()];
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => stack.push(element(&e)),
                Event::Empty(e) => stack.last_mut().unwrap().children.push(element(&e)),
                Event::End(_) => {
                    let done = stack.pop().unwrap();
                    stack.last_mut().unwrap().children.push(done);
                }
                Event::Text(t) => stack.last_mut().unwrap().text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    let entity = format!("&{};", &*r);
                    let text = quick_xml::escape::unescape(&entity).unwrap();
                    stack.last_mut().unwrap().text.push_str(&text);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(stack.len(), 1, "every element closed");
        let mut document = stack.pop().unwrap();
        assert_eq!(document.children.len(), 1, "one root element");
        document.children.pop().unwrap()
    }

    fn junit(report: &Report, command: Option<&str>) -> (String, Node) {
        let mut options = RenderOptions::new(Format::Junit, "/nonexistent");
        options.command = command.map(str::to_owned);
        let mut out = Vec::new();
        render(report, &options, &mut out).unwrap();
        let xml = String::from_utf8(out).unwrap();
        let root = parse(&xml);
        (xml, root)
    }

    #[test]
    fn an_error_that_stopped_the_run_is_the_command_cases_error() {
        let (_, root) = junit(&sample::stopped(), Some("validate envs aws"));
        assert_eq!(root.attr("errors"), "1");
        let suite = root.children("testsuite")[0];
        assert_eq!(suite.attr("errors"), "1");
        let cases = suite.children("testcase");
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].attr("name"), "validate envs aws");
        let error = cases[0].children("error");
        assert_eq!(error.len(), 1);
        assert_eq!(
            error[0].attr("message"),
            "charts/jetscale/Chart.yaml:14: cannot build the dependencies"
        );
        assert!(error[0].text.contains("hint: run `stackctl deps update`"));
        // The finding that explains it is still the case's failure.
        let failure = cases[0].children("failure");
        assert!(
            failure[0].text.contains("error[deps/lock]"),
            "{}",
            failure[0].text
        );
    }

    #[test]
    fn one_case_per_target_and_one_for_the_rest() {
        let (xml, root) = junit(&sample::failing(), Some("validate envs aws"));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
        assert!(
            xml.contains("error[values/schema]: \"three\" is"),
            "quotes stay readable"
        );
        assert_eq!(root.name, "testsuites");
        assert_eq!(root.attr("name"), "stackctl");
        assert_eq!(root.attr("tests"), "4");
        assert_eq!(root.attr("failures"), "1");
        assert_eq!(root.attr("errors"), "0");
        assert_eq!(root.attr("time"), "0.840");

        let suites = root.children("testsuite");
        assert_eq!(suites.len(), 1);
        let suite = suites[0];
        assert_eq!(suite.attr("name"), "validate envs aws");
        assert_eq!(suite.attr("tests"), "4");
        assert_eq!(suite.attr("failures"), "1");

        let cases = suite.children("testcase");
        let names: Vec<&str> = cases.iter().map(|c| c.attr("name")).collect();
        assert_eq!(
            names,
            [
                "envs/prod/api.yaml",
                "envs/prod/console.yaml",
                "envs/prod/worker.yaml",
                "validate envs aws"
            ]
        );
        assert!(cases.iter().all(|c| c.attr("classname") == "stackctl"));
        assert_eq!(cases[0].attr("time"), "0.003");
        assert!(
            cases[0].children.is_empty(),
            "a clean target has no children"
        );

        let failures = cases[1].children("failure");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].attr("message"), "2 errors");
        assert_eq!(failures[0].attr("type"), "helm/template, values/schema");
        let text = &failures[0].text;
        assert!(text.contains("error[values/schema]: \"three\" is not of type \"integer\"\n"));
        assert!(text.contains("  --> envs/prod/console.yaml:3:13\n"));
        assert!(text.contains("  = hint: set ingress.host in one of the target's layers\n"));

        // The warning tied to no target: reported, but not a failure.
        assert!(cases[3].children("failure").is_empty());
        let out = cases[3].children("system-out");
        assert!(
            out[0]
                .text
                .starts_with("warning[envs/parity]: envs/staging has no")
        );
    }

    #[test]
    fn a_clean_report_has_only_passing_cases() {
        let (_, root) = junit(&sample::clean(), None);
        assert_eq!(root.attr("tests"), "2");
        assert_eq!(root.attr("failures"), "0");
        let suite = root.children("testsuite")[0];
        assert_eq!(suite.attr("name"), "stackctl");
        assert_eq!(suite.children("testcase").len(), 2);
        assert!(
            suite
                .children("testcase")
                .iter()
                .all(|c| c.children.is_empty())
        );
    }

    #[test]
    fn errors_of_no_target_fail_the_repository_case() {
        let report = Report {
            diagnostics: vec![
                Diagnostic::error("deps/pin", "redis is not pinned <exactly> & \x1b[31mred")
                    .in_file("charts/jetscale/Chart.yaml"),
            ],
            ..Report::default()
        };
        let (_, root) = junit(&report, None);
        assert_eq!(root.attr("tests"), "1");
        assert_eq!(root.attr("failures"), "1");
        let case = root.children("testsuite")[0].children("testcase")[0];
        assert_eq!(case.attr("name"), "repository");
        let failure = case.children("failure")[0];
        assert_eq!(failure.attr("message"), "1 error");
        assert_eq!(failure.attr("type"), "deps/pin");
        assert!(
            failure.text.contains("<exactly> & \u{FFFD}[31mred"),
            "{}",
            failure.text
        );
    }

    #[test]
    fn a_failed_target_without_errors_still_fails() {
        let mut report = sample::clean();
        report.targets[0].status = Status::Failed;
        let (_, root) = junit(&report, None);
        let case = root.children("testsuite")[0].children("testcase")[0];
        let failure = case.children("failure")[0];
        assert_eq!(failure.attr("message"), "failed");
        assert_eq!(failure.attr("type"), "stackctl");
    }
}

//! A test run's report (`test local|ci|dev|live`) in every format: a table of checks for
//! people, with the bodies of failed checks, the diagnosis of each failed workload and the
//! validation findings; the versioned JSON document; JUnit (one test case per check); GitHub
//! annotations; and SARIF, which carries the validation findings only (checks have no file
//! to point at).
//!
//! Findings go through the findings renderers, so they look as `validate` shows them.

use std::fmt::Write as _;
use std::io::{self, Write};

use annotate_snippets::normalize_untrusted_str;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};

use super::documents::Styles;
use super::human::duration;
use super::junit::{seconds as junit_seconds, text_node, xml_safe};
use super::{Format, RenderOptions, Report, count, flat_message, seconds};
use crate::checks::{Check, Outcome, TestReport, WorkloadDiagnosis};

/// Write `report` in the format of `options`; findings' snippets are read under its `root`.
pub(super) fn render(
    report: &TestReport,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match options.format {
        Format::Human => {
            human(report, options, out)?;
            if options.github_annotations {
                annotations(report, out)?;
            }
            Ok(())
        }
        Format::Json => out.write_all(super::documents::json(report).as_bytes()),
        Format::Sarif => super::sarif::render(&findings(report), options, out),
        Format::Junit => junit(report, out),
        Format::Github => {
            annotations(report, out)?;
            writeln!(out, "{}", summary_line(report))
        }
    }
}

/// The closing line of human and GitHub output:
/// `test ci: 14 checks, 13 passed, 1 failed (12.30 s)`, with `, 1 skipped` when some were
/// and `; 2 errors, 0 warnings` when validation found something. Its wording is stable.
fn summary_line(report: &TestReport) -> String {
    let mut line = format!(
        "{}: {}, {} passed, {} failed",
        report.command,
        count(report.checks.len(), "check", "checks"),
        report.count(Outcome::Passed),
        report.count(Outcome::Failed),
    );
    let skipped = report.count(Outcome::Skipped);
    if skipped > 0 {
        let _ = write!(line, ", {skipped} skipped");
    }
    if !report.diagnostics.is_empty() {
        let findings = findings(report);
        let _ = write!(
            line,
            "; {}, {}",
            count(findings.errors(), "error", "errors"),
            count(findings.warnings(), "warning", "warnings")
        );
    }
    let _ = write!(line, " ({} s)", seconds(report.duration_ms));
    line
}

/// The validation findings as a findings report, for the findings renderers.
fn findings(report: &TestReport) -> Report {
    Report {
        targets: Vec::new(),
        diagnostics: report.diagnostics.clone(),
        duration_ms: report.duration_ms,
        stopped: None,
    }
}

fn label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "ok",
        Outcome::Failed => "FAIL",
        Outcome::Skipped => "skip",
    }
}

/// Text from the platform or the cluster (messages, bodies, logs), kept away from the
/// terminal's control sequences.
fn untrusted(text: &str) -> String {
    normalize_untrusted_str(text)
}

fn human(report: &TestReport, options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let styles = Styles::new(options.color);
    if let (Some(context), Some(namespace)) = (&report.context, &report.namespace) {
        let release = report
            .release
            .as_ref()
            .map(|r| format!(", release {r}"))
            .unwrap_or_default();
        writeln!(out, "{context}: namespace {namespace}{release}\n")?;
    }
    let width = report
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for check in &report.checks {
        let style = match check.outcome {
            Outcome::Passed => styles.good,
            Outcome::Failed => styles.bad,
            Outcome::Skipped => styles.note,
        };
        let took = match check.outcome {
            Outcome::Skipped => String::new(),
            _ => duration(check.duration_ms),
        };
        let message = check.message.as_deref().map(untrusted).unwrap_or_default();
        let line = format!(
            "{style}{:>4}{style:#}  {:<width$}  {took:>7}  {message}",
            label(check.outcome),
            check.name,
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    for check in failed_with_body(report) {
        writeln!(out, "\n{} answered:", check.name)?;
        for line in untrusted(check.body.as_deref().unwrap_or_default()).lines() {
            writeln!(out, "  | {line}")?;
        }
    }
    for diagnosis in &report.diagnoses {
        writeln!(out)?;
        out.write_all(diagnosis_text(diagnosis, &styles).as_bytes())?;
    }
    if !report.diagnostics.is_empty() {
        writeln!(out)?;
        super::human::diagnostics(&findings(report), options, out)?;
    } else if !report.checks.is_empty() {
        writeln!(out)?;
    }
    let style = if report.ok() { styles.good } else { styles.bad };
    writeln!(out, "{style}{}{style:#}", summary_line(report))
}

fn failed_with_body(report: &TestReport) -> impl Iterator<Item = &Check> {
    report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed && c.body.is_some())
}

/// One workload's diagnosis, for people: the problem, each pod with its conditions and
/// containers (state, last termination, logs), the events, and the next step.
fn diagnosis_text(d: &WorkloadDiagnosis, styles: &Styles) -> String {
    let bad = styles.bad;
    let note = styles.note;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{bad}{} {}/{}{bad:#}: {}",
        d.kind,
        d.namespace,
        d.name,
        untrusted(&d.problem)
    );
    for pod in &d.pods {
        let _ = writeln!(text, "  pod {} ({})", pod.name, pod.phase);
        for condition in &pod.conditions {
            let _ = writeln!(text, "    condition {}", untrusted(condition));
        }
        for c in &pod.containers {
            let kind = if c.init {
                "init container"
            } else {
                "container"
            };
            let ready = if c.ready { "ready" } else { "not ready" };
            let _ = writeln!(
                text,
                "    {kind} {} ({}): {}; {ready}, {}",
                c.name,
                c.image,
                untrusted(&c.state),
                count(c.restarts as usize, "restart", "restarts")
            );
            if let Some(last) = &c.last_terminated {
                let _ = writeln!(text, "      last terminated: {}", untrusted(last));
            }
            for (which, lines) in [("log", &c.log_tail), ("previous log", &c.previous_log_tail)] {
                if lines.is_empty() {
                    continue;
                }
                let _ = writeln!(text, "      {which}:");
                for line in lines {
                    let _ = writeln!(text, "        | {}", untrusted(line));
                }
            }
        }
    }
    if !d.events.is_empty() {
        let _ = writeln!(text, "  events:");
        for e in &d.events {
            let times = if e.count > 1 {
                format!(" (x{})", e.count)
            } else {
                String::new()
            };
            let _ = writeln!(
                text,
                "    {:<7} {} {}: {}{times}",
                e.kind,
                e.reason,
                e.object,
                untrusted(&e.message)
            );
        }
    }
    for missing in &d.unavailable {
        let _ = writeln!(text, "  could not gather {}", untrusted(missing));
    }
    let _ = writeln!(
        text,
        "  {note}next step{note:#}: {}",
        untrusted(&d.next_step)
    );
    text
}

/// The diagnosis as plain text, for JUnit's `<system-out>`.
fn diagnosis_plain(d: &WorkloadDiagnosis) -> String {
    diagnosis_text(d, &Styles::new(false))
}

/// GitHub workflow commands: the validation findings' annotations, then `::error` per
/// failed check, titled with the check's name.
fn annotations(report: &TestReport, out: &mut dyn Write) -> io::Result<()> {
    super::github::annotations(&findings(report), out)?;
    for check in report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
    {
        writeln!(
            out,
            "::error title={}::{}",
            super::github::escape_property(&check.name),
            super::github::escape_data(check.message.as_deref().unwrap_or("failed"))
        )?;
    }
    Ok(())
}

/// Which failed check a diagnosis belongs to: the one named after its workload
/// (`rollout/<name>`), else the first failed check. `None` when no check failed.
fn owner<'a>(report: &'a TestReport, d: &WorkloadDiagnosis) -> Option<&'a Check> {
    let failed = || {
        report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Failed)
    };
    failed()
        .find(|c| c.name.rsplit('/').next() == Some(d.name.as_str()))
        .or_else(|| failed().next())
}

/// JUnit XML: one test case per check (and one named `validate` for the findings, when there
/// are any); a failed check's message and body in `<failure>`, the diagnoses of its
/// workloads in its `<system-out>`; skipped checks as `<skipped/>` with the reason.
fn junit(report: &TestReport, out: &mut dyn Write) -> io::Result<()> {
    let findings = findings(report);
    let validate_failed = findings.errors() > 0;
    let tests = report.checks.len() + usize::from(!findings.diagnostics.is_empty());
    let failures = report.count(Outcome::Failed) + usize::from(validate_failed);
    let (tests, failures) = (tests.to_string(), failures.to_string());
    let skipped = report.count(Outcome::Skipped).to_string();
    let time = junit_seconds(report.duration_ms);
    // Diagnoses that no failed check can hold go to the suite's own output.
    let orphans: Vec<&WorkloadDiagnosis> = report
        .diagnoses
        .iter()
        .filter(|d| owner(report, d).is_none())
        .collect();

    let mut writer = Writer::new_with_indent(out, b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "stackctl"),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", "0"),
            ("skipped", skipped.as_str()),
            ("time", time.as_str()),
        ])
        .write_inner_content(|writer| {
            writer
                .create_element("testsuite")
                .with_attributes([
                    ("name", xml_safe(&report.command).as_str()),
                    ("tests", tests.as_str()),
                    ("failures", failures.as_str()),
                    ("errors", "0"),
                    ("skipped", skipped.as_str()),
                    ("time", time.as_str()),
                ])
                .write_inner_content(|writer| {
                    if !findings.diagnostics.is_empty() {
                        validate_case(writer, &findings)?;
                    }
                    for check in &report.checks {
                        check_case(writer, report, check)?;
                    }
                    if !orphans.is_empty() {
                        let text: String = orphans.iter().map(|d| diagnosis_plain(d)).collect();
                        writer
                            .create_element("system-out")
                            .write_text_content(text_node(&xml_safe(&text)))?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    writeln!(writer.into_inner())
}

fn check_case<W: Write>(
    writer: &mut Writer<W>,
    report: &TestReport,
    check: &Check,
) -> io::Result<()> {
    let time = junit_seconds(check.duration_ms);
    let element = writer.create_element("testcase").with_attributes([
        ("classname", "stackctl"),
        ("name", xml_safe(&check.name).as_str()),
        ("time", time.as_str()),
    ]);
    let message = xml_safe(check.message.as_deref().unwrap_or_default());
    match check.outcome {
        Outcome::Passed => {
            element.write_empty()?;
        }
        Outcome::Skipped => {
            element.write_inner_content(|writer| {
                writer
                    .create_element("skipped")
                    .with_attribute(("message", message.as_str()))
                    .write_empty()?;
                Ok(())
            })?;
        }
        Outcome::Failed => {
            let mut text = format!("{message}\n");
            if let Some(body) = &check.body {
                let _ = write!(text, "\nresponse body:\n{}\n", xml_safe(body));
            }
            let diagnoses: String = report
                .diagnoses
                .iter()
                .filter(|d| owner(report, d).is_some_and(|c| std::ptr::eq(c, check)))
                .map(diagnosis_plain)
                .collect();
            element.write_inner_content(|writer| {
                writer
                    .create_element("failure")
                    .with_attributes([("message", message.as_str()), ("type", "failed")])
                    .write_text_content(text_node(&text))?;
                if !diagnoses.is_empty() {
                    writer
                        .create_element("system-out")
                        .write_text_content(text_node(&xml_safe(&diagnoses)))?;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// The validation findings as one test case, failed when one is an error.
fn validate_case<W: Write>(writer: &mut Writer<W>, findings: &Report) -> io::Result<()> {
    let mut text = String::new();
    for d in findings.sorted_diagnostics() {
        let at = match (&d.file, d.line) {
            (Some(file), Some(line)) => format!(" ({file}:{line})"),
            (Some(file), None) => format!(" ({file})"),
            _ => String::new(),
        };
        let _ = writeln!(
            text,
            "{}[{}]{at}: {}",
            d.severity.as_str(),
            d.rule,
            flat_message(d)
        );
    }
    let text = xml_safe(&text);
    writer
        .create_element("testcase")
        .with_attributes([
            ("classname", "stackctl"),
            ("name", "validate"),
            ("time", "0.000"),
        ])
        .write_inner_content(|writer| {
            if findings.errors() > 0 {
                let message = count(findings.errors(), "error", "errors");
                writer
                    .create_element("failure")
                    .with_attributes([("message", message.as_str()), ("type", "validate")])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{ContainerDiagnosis, EventLine, PhaseTiming, PodDiagnosis};
    use crate::findings::Diagnostic;

    /// A `test ci` run: applied, one workload crash-looping (with its diagnosis), the smoke
    /// suite with `ready` stuck at 503, the frontend skipped; one validation warning.
    pub(super) fn sample() -> TestReport {
        TestReport {
            command: "test ci".into(),
            context: Some("kind-kind".into()),
            namespace: Some("jetscale-ci".into()),
            release: Some("jetscale-ci".into()),
            checks: vec![
                Check::passed("apply", 412).with_message("24 objects applied"),
                Check::failed(
                    "rollout/jetscale-ci-backend-api",
                    3107,
                    "1 of 1 pods in CrashLoopBackOff",
                ),
                Check::passed("rollout/jetscale-ci-frontend", 1520),
                Check::passed("smoke/reachable", 12).with_message("HTTP 200"),
                Check::failed(
                    "smoke/ready",
                    30_004,
                    "still HTTP 503 after 30.0 s (34 attempts): ready must answer 200 within \
                     the settle window (30.0 s)",
                )
                .with_body(r#"{"data":{"components":{"database":"down","redis":"ok"}}}"#),
                Check::skipped("smoke/frontend", "no frontend URL was given"),
            ],
            diagnostics: vec![
                Diagnostic::warning(
                    "values/unused",
                    "backend-api.replicaCount is set but no template reads it",
                )
                .at("charts/jetscale/values.test.ci.yaml", 12, 3)
                .with_hint("remove it, or set backend-api.replicas"),
            ],
            diagnoses: vec![WorkloadDiagnosis {
                kind: "Deployment".into(),
                name: "jetscale-ci-backend-api".into(),
                namespace: "jetscale-ci".into(),
                problem: "1 of 1 pods in CrashLoopBackOff".into(),
                pods: vec![PodDiagnosis {
                    name: "jetscale-ci-backend-api-7c9d5-x2x4q".into(),
                    phase: "Running".into(),
                    conditions: vec!["Ready: ContainersNotReady: containers with unready status: [backend-api]".into()],
                    containers: vec![
                        ContainerDiagnosis {
                            name: "migrate".into(),
                            init: true,
                            image: "ghcr.io/jetscale-ai/backend:4.6.12".into(),
                            ready: true,
                            restarts: 0,
                            state: "terminated: Completed (exit 0)".into(),
                            last_terminated: None,
                            log_tail: vec![],
                            previous_log_tail: vec![],
                        },
                        ContainerDiagnosis {
                            name: "backend-api".into(),
                            init: false,
                            image: "ghcr.io/jetscale-ai/backend:4.6.12".into(),
                            ready: false,
                            restarts: 4,
                            state: "waiting: CrashLoopBackOff: back-off 40s restarting failed container".into(),
                            last_terminated: Some("Error (exit 1)".into()),
                            log_tail: vec!["Starting backend-api".into()],
                            previous_log_tail: vec![
                                "Traceback (most recent call last):".into(),
                                "RuntimeError: JETSCALE_DATABASE_URL is not set".into(),
                            ],
                        },
                    ],
                }],
                events: vec![
                    EventLine {
                        kind: "Normal".into(),
                        reason: "Pulled".into(),
                        object: "Pod/jetscale-ci-backend-api-7c9d5-x2x4q".into(),
                        message: "Container image \"ghcr.io/jetscale-ai/backend:4.6.12\" already present on machine".into(),
                        count: 1,
                    },
                    EventLine {
                        kind: "Warning".into(),
                        reason: "BackOff".into(),
                        object: "Pod/jetscale-ci-backend-api-7c9d5-x2x4q".into(),
                        message: "Back-off restarting failed container backend-api".into(),
                        count: 5,
                    },
                ],
                next_step: "kubectl --context kind-kind -n jetscale-ci logs jetscale-ci-backend-api-7c9d5-x2x4q -c backend-api --previous".into(),
                unavailable: vec!["events of Pod/jetscale-ci-backend-api-7c9d5-abcde: no answer within 5 s".into()],
            }],
            phases: vec![
                PhaseTiming {
                    phase: "apply".into(),
                    duration_ms: 412,
                },
                PhaseTiming {
                    phase: "rollout".into(),
                    duration_ms: 3107,
                },
                PhaseTiming {
                    phase: "smoke".into(),
                    duration_ms: 30_016,
                },
            ],
            duration_ms: 34_250,
        }
    }

    pub(super) fn rendered(report: &TestReport, format: Format) -> String {
        let mut out = Vec::new();
        render(
            report,
            &RenderOptions::new(format, "/nonexistent"),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_format_matches_its_snapshot() {
        for (name, format) in [
            ("test_report_human", Format::Human),
            ("test_report_json", Format::Json),
            ("test_report_junit", Format::Junit),
            ("test_report_github", Format::Github),
            ("test_report_sarif", Format::Sarif),
        ] {
            insta::assert_snapshot!(name, rendered(&sample(), format));
        }
    }

    #[test]
    fn every_format_renders_a_clean_run() {
        let report = TestReport {
            command: "test dev".into(),
            checks: vec![
                Check::passed("smoke/reachable", 4),
                Check::passed("smoke/ready", 3),
            ],
            duration_ms: 1234,
            ..TestReport::default()
        };
        assert!(report.ok());
        let human = rendered(&report, Format::Human);
        assert_eq!(
            human,
            "  ok  smoke/reachable     4 ms\n  ok  smoke/ready         3 ms\n\n\
             test dev: 2 checks, 2 passed, 0 failed (1.23 s)\n"
        );
        assert_eq!(
            rendered(&report, Format::Github),
            "test dev: 2 checks, 2 passed, 0 failed (1.23 s)\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&rendered(&report, Format::Json)).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["checks"].as_array().unwrap().len(), 2);
        let sarif: serde_json::Value =
            serde_json::from_str(&rendered(&report, Format::Sarif)).unwrap();
        assert_eq!(sarif["runs"][0]["results"], serde_json::json!([]));
        let junit = rendered(&report, Format::Junit);
        assert!(
            junit.contains(r#"tests="2" failures="0" errors="0" skipped="0""#),
            "{junit}"
        );
        assert_eq!(junit.matches("<testcase ").count(), 2, "{junit}");
    }

    #[test]
    fn a_diagnosis_with_no_failed_check_goes_to_the_suite_output() {
        let mut report = sample();
        report.checks.retain(|c| c.outcome != Outcome::Failed);
        let junit = rendered(&report, Format::Junit);
        let suite_out = junit.rfind("<system-out>Deployment jetscale-ci/").unwrap();
        assert!(suite_out > junit.rfind("</testcase>").unwrap(), "{junit}");
        // A diagnosis with no check of its name goes to the first failed check.
        let mut report = sample();
        report.diagnoses[0].name = "jetscale-ci-worker".into();
        report.checks[4].name = "smoke/ready".into();
        let junit = rendered(&report, Format::Junit);
        let case = junit
            .find(r#"name="rollout/jetscale-ci-backend-api""#)
            .unwrap();
        let diagnosis = junit.find("<system-out>Deployment jetscale-ci/").unwrap();
        let next_case = junit[case..].find("</testcase>").unwrap() + case;
        assert!(case < diagnosis && diagnosis < next_case, "{junit}");
    }

    #[test]
    fn platform_text_cannot_break_a_format() {
        let mut report = sample();
        report.checks[4] = Check::failed("smoke/odd:name,x", 5, "bad\nvalue \x1b[31m100%")
            .with_body("<b>&\x07</b>");
        let human = rendered(&report, Format::Human);
        assert!(
            !human.contains('\x1b') && !human.contains('\x07'),
            "{human:?}"
        );
        let github = rendered(&report, Format::Github);
        assert!(
            github.contains("::error title=smoke/odd%3Aname%2Cx::bad%0Avalue \x1b[31m100%25\n"),
            "{github}"
        );
        let junit = rendered(&report, Format::Junit);
        assert!(
            junit.contains("&lt;b&gt;&amp;\u{FFFD}&lt;/b&gt;"),
            "{junit}"
        );
        assert!(!junit.contains('\x1b'), "{junit:?}");
    }

    #[test]
    fn colors_only_when_asked() {
        let mut options = RenderOptions::new(Format::Human, "/nonexistent");
        let mut plain = Vec::new();
        render(&sample(), &options, &mut plain).unwrap();
        assert!(!String::from_utf8(plain).unwrap().contains('\x1b'));
        options.color = true;
        let mut colored = Vec::new();
        render(&sample(), &options, &mut colored).unwrap();
        assert!(String::from_utf8(colored).unwrap().contains("\x1b[31mFAIL"));
    }

    #[test]
    fn human_output_can_carry_github_annotations() {
        let mut options = RenderOptions::new(Format::Human, "/nonexistent");
        options.github_annotations = true;
        let mut out = Vec::new();
        render(&sample(), &options, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("kind-kind: namespace jetscale-ci"),
            "{text}"
        );
        assert_eq!(text.matches("\n::error title=").count(), 2, "{text}");
    }

    /// The smoke suite against the platform stub (a stand-in) with a password sentinel the
    /// stub echoes back, rendered in every format: the sentinel is nowhere.
    #[tokio::test]
    async fn a_password_sentinel_never_reaches_any_format() {
        const SENTINEL: &str = "report-password-sentinel-41b7";
        let echo = format!(r#"{{"detail":"no user with password {SENTINEL}"}}"#);
        let stub = fakekube::PlatformStub::start(
            fakekube::StubConfig {
                login: "report-tests@stub.example".into(),
                password: SENTINEL.into(),
                ..fakekube::StubConfig::default()
            }
            .with_fault(
                fakekube::StubFault::path("/api/v2/auth/sign-in")
                    .status(500)
                    .body(&echo),
            ),
        )
        .unwrap();
        let api = crate::smoke::Url::parse(&stub.url()).unwrap();
        let mut target = crate::smoke::SmokeTarget::new(
            api,
            crate::smoke::Credentials {
                email: "report-tests@stub.example".into(),
                password: SENTINEL.into(),
            },
        );
        target.settle = std::time::Duration::from_secs(2);
        let checks = crate::smoke::run(&target, &crate::process::Cancel::new()).await;
        let report = TestReport {
            command: "test dev".into(),
            checks,
            ..TestReport::default()
        };
        assert!(!report.ok(), "sign-in failed");
        for format in [
            Format::Human,
            Format::Json,
            Format::Junit,
            Format::Github,
            Format::Sarif,
        ] {
            let text = rendered(&report, format);
            assert!(!text.contains(SENTINEL), "{format:?}: {text}");
            if format != Format::Sarif {
                assert!(text.contains("smoke/sign-in"), "{format:?}: {text}");
            }
        }
        let human = rendered(&report, Format::Human);
        assert!(
            human.contains("no user with password [REDACTED]"),
            "{human}"
        );
    }
}

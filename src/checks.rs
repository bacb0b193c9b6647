//! What a test run produces: checks with their outcome, and, when workloads fail, a
//! diagnosis of each. The test commands return a [`TestReport`]; the report layer renders it
//! in every format (a table for people, JSON, JUnit, GitHub annotations).

use serde::Serialize;

use crate::findings::Diagnostic;

/// At most this much of a response body is kept on a failed check: enough to read the error,
/// never a whole page.
pub const MAX_BODY: usize = 2048;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    /// Not run, because what it needs failed or does not apply (`message` says which).
    Skipped,
}

/// One check of a test run: a phase of the deploy (`apply`, `rollout`) or a smoke check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable, lower-case, dash-separated: `apply`, `rollout/jetscale-ci-backend-api`,
    /// `smoke/database`.
    pub name: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
    /// What went wrong (or why it was skipped); for a passed check, what it saw, if useful.
    pub message: Option<String>,
    /// On failure, the start of the response body that shows why (at most [`MAX_BODY`]).
    pub body: Option<String>,
}

impl Check {
    pub fn passed(name: impl Into<String>, duration_ms: u64) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Passed,
            duration_ms,
            message: None,
            body: None,
        }
    }

    pub fn failed(name: impl Into<String>, duration_ms: u64, message: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Failed,
            duration_ms,
            message: Some(message.into()),
            body: None,
        }
    }

    pub fn skipped(name: impl Into<String>, why: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Skipped,
            duration_ms: 0,
            message: Some(why.into()),
            body: None,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Check {
        self.message = Some(message.into());
        self
    }

    /// Keep the start of `body` (at most [`MAX_BODY`] bytes, cut at a character boundary).
    pub fn with_body(mut self, body: &str) -> Check {
        self.body = Some(truncate(body, MAX_BODY));
        self
    }
}

/// `text`, cut to at most `max` bytes at a character boundary, with a note when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// Why one workload did not become ready: its pods, their containers' states, the recent
/// events and logs, and one next step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadDiagnosis {
    /// `Deployment`, `StatefulSet`, `Job`.
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// One line: what is wrong (`1 of 1 pods in ImagePullBackOff`).
    pub problem: String,
    pub pods: Vec<PodDiagnosis>,
    /// The workload's and its pods' most recent events, oldest first.
    pub events: Vec<EventLine>,
    /// The one command or change to try next.
    pub next_step: String,
    /// What could not be gathered, each with why (`events of Pod/x: no answer within 5 s`):
    /// a diagnosis is best effort and never fails the run.
    pub unavailable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodDiagnosis {
    pub name: String,
    /// `Pending`, `Running`, `Failed`, …
    pub phase: String,
    /// Conditions that are not true, as `Type: reason: message` (`PodScheduled: Unschedulable: …`).
    pub conditions: Vec<String>,
    /// Init containers first, then containers.
    pub containers: Vec<ContainerDiagnosis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerDiagnosis {
    pub name: String,
    pub init: bool,
    pub image: String,
    pub ready: bool,
    pub restarts: u32,
    /// The current state as `waiting: ImagePullBackOff: <message>`, `running`, or
    /// `terminated: Error (exit 1): <message>`.
    pub state: String,
    /// The previous run's end, when it restarted: `Error (exit 1): <message>`.
    pub last_terminated: Option<String>,
    /// The last lines of its log.
    pub log_tail: Vec<String>,
    /// The last lines of its previous run's log, when it restarted.
    pub previous_log_tail: Vec<String>,
}

/// One event, as `kubectl get events` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventLine {
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    /// `Pod/jetscale-ci-backend-api-7c9d-x2x4q`.
    pub object: String,
    pub message: String,
    pub count: u32,
}

/// Time spent in one phase of a test run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseTiming {
    /// `validate`, `render`, `apply`, `rollout`, `port-forward`, `smoke`.
    pub phase: String,
    pub duration_ms: u64,
}

/// Everything one test run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestReport {
    /// `test ci`, `test local`, `test dev`, `test live`.
    pub command: String,
    /// The context, namespace and release deployed to, when the run deployed.
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub release: Option<String>,
    pub checks: Vec<Check>,
    /// The target's validation findings, when they stopped the run before the cluster was
    /// touched.
    pub diagnostics: Vec<Diagnostic>,
    /// For each workload that failed, why.
    pub diagnoses: Vec<WorkloadDiagnosis>,
    pub phases: Vec<PhaseTiming>,
    pub duration_ms: u64,
}

impl TestReport {
    /// True when no check failed and no finding is an error.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Failed)
            && self
                .diagnostics
                .iter()
                .all(|d| d.severity != crate::findings::Severity::Error)
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.checks.iter().filter(|c| c.outcome == outcome).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_at_a_character_boundary() {
        let body = "é".repeat(2000);
        let kept = Check::failed("smoke/x", 1, "m")
            .with_body(&body)
            .body
            .unwrap();
        assert!(kept.starts_with(&"é".repeat(1024)));
        assert!(kept.ends_with("(1952 more bytes)"), "{kept}");
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn a_report_fails_on_a_failed_check_only() {
        let mut report = TestReport {
            checks: vec![Check::passed("a", 1), Check::skipped("b", "why")],
            ..TestReport::default()
        };
        assert!(report.ok());
        report.checks.push(Check::failed("c", 1, "no"));
        assert!(!report.ok());
        assert_eq!(report.count(Outcome::Failed), 1);
    }
}

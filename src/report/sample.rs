//! Reports the renderers' tests share: one with every kind of finding, one clean.

use std::path::Path;

use super::{Diagnostic, Report, Status, Stopped, TargetResult};

pub const CONSOLE: &str = "envs/prod/console.yaml";

/// The source of [`CONSOLE`]: line 3, column 13 is the value the schema error points at.
pub const CONSOLE_SOURCE: &str = "console:\n  image: jetscale/console\n  replicas: \"three\"\n";

fn target(name: &str, release: &str, status: Status, cached: bool, ms: u64) -> TargetResult {
    TargetResult {
        target: name.to_owned(),
        layers: vec![
            "envs/aws.yaml".to_owned(),
            "envs/prod/default.yaml".to_owned(),
            name.to_owned(),
        ],
        release: release.to_owned(),
        status,
        cached,
        duration_ms: ms,
    }
}

/// Three targets, one failed; a located schema error, a file-less helm error on the same
/// target, and a warning tied to neither a file nor a target.
pub fn failing() -> Report {
    Report {
        targets: vec![
            target(
                "envs/prod/api.yaml",
                "jetscale-api",
                Status::Passed,
                true,
                3,
            ),
            target(CONSOLE, "jetscale-console", Status::Failed, false, 120),
            target(
                "envs/prod/worker.yaml",
                "jetscale-worker",
                Status::Passed,
                false,
                98,
            ),
        ],
        diagnostics: vec![
            Diagnostic::warning(
                "envs/parity",
                "envs/staging has no counterpart of envs/prod/worker.yaml",
            )
            .with_hint("add envs/staging/worker.yaml, or list it under parity.exceptions"),
            Diagnostic::error(
                "helm/template",
                "helm template failed: nil pointer evaluating .Values.ingress.host",
            )
            .with_target(CONSOLE)
            .with_hint("set ingress.host in one of the target's layers"),
            Diagnostic::error("values/schema", "\"three\" is not of type \"integer\"")
                .at(CONSOLE, 3, 13)
                .with_target(CONSOLE)
                .with_path("/console/replicas")
                .with_hint("replicas takes a whole number, e.g. 3"),
        ],
        duration_ms: 840,
        stopped: None,
    }
}

/// One target whose mistyped key causes two other findings, folded under it.
pub fn folded() -> Report {
    let consequence = |name: &str| {
        Diagnostic::error(
            "render/dangling-reference",
            format!("Deployment {name} reads Secret jetscale-console-db (envFrom), which is neither rendered nor provided outside the chart"),
        )
        .at(CONSOLE, 7, 5)
        .with_target(CONSOLE)
    };
    let mut cause = Diagnostic::error(
        "values/unknown-key",
        "externalSecrets: unknown key \"externalSecrets\": the chart does not define it",
    )
    .at(CONSOLE, 1, 1)
    .with_target(CONSOLE)
    .with_hint("did you mean \"externalSecret\"?");
    cause.consequences = vec![consequence("api"), consequence("worker")];
    Report {
        targets: vec![target(
            CONSOLE,
            "jetscale-console",
            Status::Failed,
            false,
            120,
        )],
        diagnostics: vec![cause],
        duration_ms: 120,
        stopped: None,
    }
}

/// A run that stopped on an error after a dependency finding: the chart could not be built.
pub fn stopped() -> Report {
    Report {
        diagnostics: vec![
            Diagnostic::error("deps/lock", "Chart.lock is out of sync with Chart.yaml")
                .in_file("charts/jetscale/Chart.lock"),
        ],
        duration_ms: 12,
        stopped: Some(Stopped {
            message: "cannot build the dependencies".to_string(),
            file: Some("charts/jetscale/Chart.yaml".to_string()),
            line: Some(14),
            hint: Some("run `stackctl deps update`".to_string()),
            exit_code: 2,
        }),
        ..Report::default()
    }
}

/// Two targets, both passed, nothing found.
pub fn clean() -> Report {
    Report {
        targets: vec![
            target(
                "envs/prod/api.yaml",
                "jetscale-api",
                Status::Passed,
                false,
                41,
            ),
            target(CONSOLE, "jetscale-console", Status::Passed, true, 2),
        ],
        diagnostics: vec![],
        duration_ms: 57,
        stopped: None,
    }
}

/// Writes [`CONSOLE`] under `root`, so snippets can be shown.
pub fn write_sources(root: &Path) {
    let file = root.join(CONSOLE);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, CONSOLE_SOURCE).unwrap();
}

//! Bad input met by the engine and its configuration: a helm that hangs on one target, a
//! mis-keyed override helm refuses, `stackctl.toml` entries that name nothing, and what the
//! messages about them claim.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{assert_no_crash, edit, helm_wrapper, stderr_says};
use crate::support::{self, Sandbox};

/// The line of `stackctl.toml`'s `[render]` table that `with` is inserted after.
const KUBE_VERSION: &str = "kube-version = \"1.33.0\"\n";

/// A helm outside the repository that hangs in `helm template` of the release `release` and
/// runs the real helm 4 for everything else.
fn helm_hanging_on(sandbox: &Sandbox, release: &str) -> PathBuf {
    helm_wrapper(
        sandbox,
        "hanging-helm",
        &format!("case \"$*\" in\n  \"template {release} \"*) sleep 600 ;;\nesac"),
    )
}

#[test]
fn helm_hanging_on_one_target_is_stopped_at_the_render_timeout_and_the_others_are_reported() {
    let sandbox = Sandbox::with_repo();
    edit(
        &sandbox,
        "stackctl.toml",
        KUBE_VERSION,
        &format!("{KUBE_VERSION}timeout = \"3s\"\n"),
    );
    let helm = helm_hanging_on(&sandbox, "jetscale-console");
    let started = Instant::now();
    let run = sandbox.stackctl_with_helm(
        &helm,
        [
            "--format",
            "json",
            "validate",
            "envs",
            "aws",
            "--offline",
            "--jobs",
            "2",
        ],
    );
    let elapsed = started.elapsed();
    println!("validate with one hung target (timeout 3 s): {elapsed:?}");
    run.expect(1);
    assert_no_crash(&run);
    let report = run.json();
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 8, "{report:#}");
    for target in targets {
        let expected = match target["target"].as_str().unwrap() {
            "envs/prod/console.yaml" => "failed",
            _ => "passed",
        };
        assert_eq!(target["status"], expected, "{target:#}");
    }
    let hung: Vec<_> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == "render/helm-error")
        .collect();
    assert_eq!(hung.len(), 1, "{report:#}");
    let message = hung[0]["message"].as_str().unwrap();
    for part in [
        "envs/prod/console.yaml",
        "3 s",
        "[render] timeout",
        "stackctl.toml",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    // Said on stderr as soon as it happened, not only in the report.
    stderr_says(&run, &["did not finish within 3 s"]);
    // The explicit bound: the configured timeout plus the other targets, far from the 60 s
    // default (or the 120 s this used to cost).
    assert!(elapsed < Duration::from_secs(45), "{elapsed:?}");
}

#[test]
fn render_timeout_that_is_not_a_duration_is_a_configuration_error_at_its_line() {
    let sandbox = Sandbox::with_repo();
    edit(
        &sandbox,
        "stackctl.toml",
        KUBE_VERSION,
        &format!("{KUBE_VERSION}timeout = \"soon\"\n"),
    );
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    run.expect(2);
    assert_no_crash(&run);
    assert!(run.stderr.contains("render.timeout"), "{}", run.stderr);
    assert!(run.stderr.contains("stackctl.toml:6"), "{}", run.stderr);
}

#[test]
fn render_timeout_of_zero_is_a_configuration_error_at_its_line() {
    let sandbox = Sandbox::with_repo();
    edit(
        &sandbox,
        "stackctl.toml",
        KUBE_VERSION,
        &format!("{KUBE_VERSION}timeout = \"0s\"\n"),
    );
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    run.expect(2);
    assert_no_crash(&run);
    assert!(run.stderr.contains("longer than 0s"), "{}", run.stderr);
    assert!(run.stderr.contains("stackctl.toml:6"), "{}", run.stderr);
}

/// The example of `values/keyed-map-override` in docs/rules.md, in the env whose release makes
/// the extra CronJob's name too long for the chart, so helm fails on the same target.
fn mis_keyed_cronjob_override(sandbox: &Sandbox) {
    edit(
        sandbox,
        "envs/prod/console.yaml",
        "  cronJobs:\n",
        "  cronJobs:\n    pull-coh-recommendations:\n      suspend: true\n",
    );
}

#[test]
fn mis_keyed_cronjob_override_that_helm_refuses_is_reported_at_its_line_by_validate_fresh_and_cached()
 {
    let sandbox = Sandbox::with_repo();
    mis_keyed_cronjob_override(&sandbox);
    for round in ["fresh", "cached"] {
        let run = sandbox.stackctl_with_helm(
            &support::helm4(),
            ["--format", "json", "validate", "envs", "aws", "--offline"],
        );
        run.expect(1);
        assert_no_crash(&run);
        let report = run.json();
        let rules = run.findings();
        assert!(
            rules.contains(&(
                "values/keyed-map-override".to_string(),
                "envs/prod/console.yaml".to_string(),
                57
            )),
            "{round}: {rules:?}"
        );
        // helm's refusal is the override's consequence, folded under it, also from the cache.
        let cause = run.finding("values/keyed-map-override");
        assert_eq!(
            cause["consequences"][0]["rule"], "render/helm-error",
            "{round}: {cause:#}"
        );
        assert!(
            !rules.iter().any(|r| r.0 == "render/helm-error"),
            "{round}: {rules:?}"
        );
        let cached = report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == "envs/prod/console.yaml")
            .unwrap()["cached"]
            .as_bool();
        assert_eq!(cached, Some(round == "cached"), "{report:#}");
    }
}

#[test]
fn mis_keyed_cronjob_override_that_helm_refuses_is_reported_at_its_line_by_render() {
    let sandbox = Sandbox::with_repo();
    mis_keyed_cronjob_override(&sandbox);
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["render", "envs/prod/console.yaml", "--offline"],
    );
    run.expect(1);
    assert_no_crash(&run);
    assert!(
        run.stdout.contains("error[values/keyed-map-override]"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("envs/prod/console.yaml:57:5"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("error[render/helm-error]"),
        "{}",
        run.all()
    );
}

#[test]
fn values_file_with_three_documents_gets_a_message_true_for_each_helm() {
    // What each helm does with `a: first --- b: second --- c: third`, asked of the real
    // binaries: the message below must say exactly this.
    let sandbox = Sandbox::with_repo();
    sandbox.write(
        "tiny/Chart.yaml",
        "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    );
    sandbox.write("tiny/values.yaml", "a: default\nb: default\nc: default\n");
    sandbox.write(
        "tiny/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.a }}\n  b: {{ .Values.b }}\n  c: {{ .Values.c }}\n",
    );
    sandbox.write("three.yaml", "a: first\n---\nb: second\n---\nc: third\n");
    for (name, helm, expected) in [
        (
            "helm4",
            support::helm4(),
            "a: first\n  b: second\n  c: third",
        ),
        (
            "helm3",
            support::helm3(),
            "a: first\n  b: default\n  c: default",
        ),
    ] {
        let run = sandbox.helm(&helm, ["template", "r", "tiny", "--values", "three.yaml"]);
        run.success();
        assert!(run.stdout.contains(expected), "{name}:\n{}", run.stdout);
    }

    edit(
        &sandbox,
        "envs/staging/link4.yaml",
        "backend-api:\n",
        "---\nbackend-api:\n",
    );
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "envs", "aws", "--offline"],
    );
    run.expect(1);
    assert_no_crash(&run);
    let finding = run.finding("values/extra-document");
    assert_eq!(finding["file"], "envs/staging/link4.yaml", "{finding:#}");
    assert!(finding["line"].as_u64().is_some(), "{finding:#}");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("helm 3 applies only the first"),
        "{message}"
    );
    assert!(message.contains("helm 4 merges each document"), "{message}");
    assert!(!message.contains("helm reads only the first"), "{message}");
}

#[test]
fn unknown_rule_id_under_rules_is_a_configuration_error_with_a_did_you_mean() {
    let sandbox = Sandbox::with_repo();
    let config = sandbox.read("stackctl.toml");
    let line = config.lines().count() + 3;
    sandbox.write(
        "stackctl.toml",
        &format!("{config}\n[rules]\n\"values/keyed-map-overide\" = \"warning\"\n"),
    );
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    run.expect(2);
    assert_no_crash(&run);
    stderr_says(&run, &[&format!("stackctl.toml:{line}")]);
    stderr_says(&run, &["\"values/keyed-map-overide\", which is not a rule"]);
    stderr_says(&run, &["did you mean \"values/keyed-map-override\"?"]);
}

#[test]
fn unknown_rule_id_with_no_near_name_is_a_configuration_error_that_points_at_the_rule_list() {
    let sandbox = Sandbox::with_repo();
    let config = sandbox.read("stackctl.toml");
    sandbox.write(
        "stackctl.toml",
        &format!("{config}\n[rules]\n\"no-such/thing-at-all\" = \"off\"\n"),
    );
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["doctor"]);
    run.expect(2);
    assert_no_crash(&run);
    assert!(run.stderr.contains("stackctl.toml:"), "{}", run.stderr);
    assert!(run.stderr.contains("docs/rules.md"), "{}", run.stderr);
    assert!(!run.stderr.contains("did you mean"), "{}", run.stderr);
}

#[test]
fn targets_entry_for_a_missing_env_file_is_a_configuration_error_with_a_did_you_mean() {
    let sandbox = Sandbox::with_repo();
    edit(
        &sandbox,
        "stackctl.toml",
        "[targets.\"envs/prod/console.yaml\"]",
        "[targets.\"envs/prod/consle.yaml\"]",
    );
    let line = sandbox
        .read("stackctl.toml")
        .lines()
        .position(|l| l.contains("consle.yaml"))
        .unwrap()
        + 1;
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    run.expect(2);
    assert_no_crash(&run);
    stderr_says(&run, &[&format!("stackctl.toml:{line}")]);
    stderr_says(&run, &["envs/prod/consle.yaml, which does not exist"]);
    stderr_says(
        &run,
        &["did you mean [targets.\"envs/prod/console.yaml\"]?"],
    );
}

#[test]
fn doctor_json_names_the_repository_and_its_configuration() {
    let sandbox = Sandbox::with_repo();
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["--format", "json", "doctor"]);
    run.success();
    assert_no_crash(&run);
    let doc = run.json();
    assert_eq!(
        doc["repository"].as_str(),
        Some(sandbox.root().to_str().unwrap()),
        "{doc:#}"
    );
    assert_eq!(doc["config"], "stackctl.toml", "{doc:#}");

    std::fs::remove_file(sandbox.path("stackctl.toml")).unwrap();
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["--format", "json", "doctor"]);
    run.success();
    let doc = run.json();
    assert!(doc["repository"].is_string(), "{doc:#}");
    assert!(doc["config"].is_null(), "{doc:#}");
}

#[test]
fn logs_under_color_never_carry_no_ansi_escape() {
    let mut sandbox = Sandbox::with_repo();
    // An empty NO_COLOR is no request: only --color never asks for plain text here.
    sandbox.set_env("NO_COLOR", "");
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        [
            "--color",
            "never",
            "-vv",
            "validate",
            "envs",
            "aws",
            "--offline",
        ],
    );
    run.success();
    assert_no_crash(&run);
    assert!(
        run.stderr.contains("DEBUG"),
        "no logs to check:\n{}",
        run.stderr
    );
    assert!(!run.all().contains('\u{1b}'), "{:?}", run.stderr);
}

#[test]
fn push_to_an_unreachable_registry_suggests_no_offline_flag_publish_does_not_have() {
    let mut registry = support::registry::TestRegistry::start();
    let host = registry.host.clone();
    registry.stop();
    let sandbox = Sandbox::with_repo();
    let run = sandbox.stackctl([
        "chart",
        "publish",
        "charts/backend",
        "--to",
        &format!("oci://{host}/charts"),
        "--insecure-registry",
        &host,
    ]);
    run.expect(3);
    assert_no_crash(&run);
    stderr_says(&run, &[&format!("registry {host} is unreachable")]);
    assert!(run.stderr.contains("pushing backend"), "{}", run.stderr);
    assert!(!run.stderr.contains("--offline"), "{}", run.stderr);
}

/// The notice of a run whose dependencies came from the local chart sources.
const LOCAL_NOTICE: &str = "validated against local chart sources: no credentials for ghcr.io";

#[test]
fn first_run_without_credentials_validates_against_the_local_chart_sources_with_a_notice() {
    // A fresh copy: no built charts, no cache, and no credential anywhere the lookup reads
    // (the sandbox clears the environment, has no .env, and empty helm and docker configs).
    let sandbox = Sandbox::with_repo();
    assert!(!sandbox.path(".env").exists());
    let started = Instant::now();
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws"]);
    println!(
        "first validate without credentials: {:?}",
        started.elapsed()
    );
    run.success();
    assert_no_crash(&run);
    assert_eq!(
        run.stderr.matches(LOCAL_NOTICE).count(),
        1,
        "one line per registry:\n{}",
        run.stderr
    );
    assert!(run.stdout.contains("8 passed"), "{}", run.stdout);
}

#[test]
fn first_run_without_credentials_under_ci_requires_the_registry_and_names_the_fix() {
    let mut sandbox = Sandbox::with_repo();
    sandbox.set_env("CI", "true");
    let started = Instant::now();
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws"]);
    println!(
        "validate under CI=true without credentials: {:?}",
        started.elapsed()
    );
    run.expect(3);
    assert_no_crash(&run);
    assert!(!run.stderr.contains(LOCAL_NOTICE), "{}", run.stderr);
    for fix in ["CI=true", "GITHUB_TOKEN", "--offline"] {
        assert!(run.stderr.contains(fix), "{fix}:\n{}", run.stderr);
    }
    // The CI entry point validates with --offline under CI=true: that still passes.
    sandbox
        .stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"])
        .success();
}

#[test]
fn local_chart_source_at_another_version_than_the_lock_is_not_used_without_credentials() {
    let sandbox = Sandbox::with_repo();
    edit(
        &sandbox,
        "charts/frontend/Chart.yaml",
        "version: 2.7.1",
        "version: 2.7.2",
    );
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws"]);
    // backend comes from its source; frontend must come from the registry, out of reach here.
    run.expect(3);
    assert_no_crash(&run);
    assert!(run.stderr.contains("frontend"), "{}", run.stderr);
    assert!(!run.stderr.contains(LOCAL_NOTICE), "{}", run.stderr);
}

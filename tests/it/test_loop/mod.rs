//! `stackctl test ci|local`: the real binary against fakekube (the stand-in Kubernetes API
//! server, tests/fakekube), its platform stub (a stand-in of the platform's HTTP API) and, for
//! `test local`, the stand-in `docker` script (tests/it/standins). Every test name says
//! `fakekube`; what the verify loops promise is spread over the submodules:
//!
//! - `dev`: `test dev` runs the smoke suite against the URL `[test.dev]` names;
//! - `end_to_end`: both loops pass, every smoke check in JSON and JUnit, the images `test
//!   local` builds (acceptance 1);
//! - `failures`: each pod failure fails fast with its explanation, in the output and under
//!   `--diagnostics-dir` (2); a lagging observedGeneration is no success (3);
//! - `resilience`: a dropped watch and a cut port-forward stream are survived (4); a re-run
//!   prunes what the chart no longer renders (5);
//! - `refusals`: no context, no token, a target that does not validate: refused before the
//!   cluster is touched (6, 9);
//! - `secrets`: the token reaches the pull Secret and nothing else (7);
//! - `interrupt`: SIGINT during the wait and during the smoke suite (8).

mod dev;
mod end_to_end;
mod failures;
mod interrupt;
mod refusals;
mod resilience;
mod secrets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fakekube::{Behaviour, FakeKube, LogRule, PodMatch, PodRule, Scenario};
use serde_json::Value;

use crate::support::{self, Run, Sandbox};

/// A token that must never appear in any output, report or file.
const TOKEN_SENTINEL: &str = "ghp_sentinelTokenThatMustNeverLeak0123456789";

/// The longest any one stackctl run of these tests may take before the test fails (the runs
/// take about a second; the margin is for a loaded machine).
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// The namespace and the Deployments of the `test-ci` variant.
const CI_NAMESPACE: &str = "jetscale-ci";
const CI_API: &str = "jetscale-ci-backend-api";
const CI_WS: &str = "jetscale-ci-backend-ws";
const CI_FRONTEND: &str = "jetscale-ci-frontend";

/// This repository in a sandbox, its kubeconfig pointing at `kube`, GHCR credentials set.
fn sandbox_for(kube: &FakeKube) -> Sandbox {
    let mut sandbox = Sandbox::with_repo();
    point_at(&mut sandbox, kube);
    sandbox.set_env("GITHUB_TOKEN", TOKEN_SENTINEL);
    sandbox.set_env("GITHUB_USER", "ci-bot");
    sandbox
}

/// Point the sandbox's kubeconfig (context kind-kind) at `kube`.
fn point_at(sandbox: &mut Sandbox, kube: &FakeKube) {
    let kubeconfig = sandbox.outside_repo("kubeconfig");
    kube.write_kubeconfig(&kubeconfig)
        .expect("write the kubeconfig");
    sandbox.set_env("KUBECONFIG", kubeconfig.display().to_string());
}

/// `stackctl --helm <helm 4> ARGS` in the sandbox, bounded by [`RUN_LIMIT`]: the run and how
/// long it took from its start to its exit.
fn stackctl(sandbox: &Sandbox, args: &[&str]) -> (Run, Duration) {
    let started = Instant::now();
    let (run, _) = spawn(sandbox, args).finish(RUN_LIMIT);
    (run, started.elapsed())
}

/// `stackctl --helm <helm 4> ARGS` started in the sandbox, not awaited.
fn spawn(sandbox: &Sandbox, args: &[&str]) -> support::Started {
    let helm = support::helm4();
    let mut all = vec!["--helm", helm.to_str().unwrap()];
    all.extend_from_slice(args);
    sandbox.spawn_stackctl(all)
}

/// `stackctl --format FORMAT test ci --offline EXTRA`.
fn test_ci(sandbox: &Sandbox, format: &str, extra: &[&str]) -> (Run, Duration) {
    let mut args = vec!["--format", format, "test", "ci", "--offline"];
    args.extend_from_slice(extra);
    stackctl(sandbox, &args)
}

/// A cluster where the pods of `owner` crash as `behaviour` says (`Crashloop`, `InitCrash`)
/// every 30 ms, their `container` having logged `log` before each crash.
fn crashing(owner: &str, behaviour: Behaviour, container: &str, log: &str) -> Scenario {
    Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner(owner), behaviour).delay_ms(30))
        .with_logs(LogRule {
            select: PodMatch::owner(owner),
            container: Some(container.into()),
            current: Some(log.into()),
            previous: Some(log.into()),
        })
}

/// Each check of a JSON report as (name, outcome).
fn checks(doc: &Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {doc:#}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The check `name` of a JSON report.
#[track_caller]
fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#?}", checks(doc)))
}

/// The time a phase of a JSON report took, in milliseconds.
#[track_caller]
fn phase_ms(doc: &Value, phase: &str) -> u64 {
    doc["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["phase"] == phase)
        .and_then(|p| p["duration_ms"].as_u64())
        .unwrap_or_else(|| panic!("no phase {phase} in {:#}", doc["phases"]))
}

/// Assert that no check failed.
#[track_caller]
fn assert_none_failed(doc: &Value) {
    let checks = checks(doc);
    assert!(
        checks.iter().all(|(_, outcome)| outcome != "failed"),
        "{checks:#?}\n{doc:#}"
    );
}

/// Assert that every smoke check of the suite is in the report, passed.
#[track_caller]
fn assert_every_smoke_check_passed(doc: &Value) {
    let checks = checks(doc);
    for smoke in stackctl::smoke::CHECKS {
        assert!(
            checks
                .iter()
                .any(|(name, outcome)| name == smoke && outcome == "passed"),
            "{smoke} did not pass: {checks:#?}"
        );
    }
}

/// Where a test asks stackctl to write its diagnostics: outside the repository.
fn diagnostics_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.outside_repo("diagnostics")
}

/// `report.json` of a diagnostics directory.
#[track_caller]
fn read_report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("{}/report.json: {e}", dir.display()));
    serde_json::from_str(&text).unwrap()
}

/// The names of the pods of namespace `namespace` whose name starts with `workload-`.
fn pods_of(kube: &FakeKube, namespace: &str, workload: &str) -> Vec<String> {
    kube.store()
        .list("pods", Some(namespace))
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str())
        .filter(|name| name.starts_with(&format!("{workload}-")))
        .map(str::to_string)
        .collect()
}

/// The image of each container of Deployment `name` in the stand-in's store.
fn deployment_images(kube: &FakeKube, namespace: &str, name: &str) -> Vec<String> {
    let deployment = kube
        .store()
        .get("deployments.apps", namespace, name)
        .unwrap_or_else(|| panic!("Deployment {namespace}/{name} is not in the cluster"));
    let spec = &deployment["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .flat_map(|list| spec[list].as_array().cloned().unwrap_or_default())
        .map(|c| c["image"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Wait until the stand-in's store stops changing (its controllers settled after start),
/// and return its resourceVersion then.
fn settled_resource_version(kube: &FakeKube) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = kube.store().resource_version();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = kube.store().resource_version();
        if now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "fakekube never settled");
        last = now;
    }
}

/// The test cases of a JUnit document as (name, outcome): `failed` with a `<failure>`,
/// `skipped` with a `<skipped>`, else `passed`. Fails on XML quick-xml cannot read.
fn junit_cases(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::{BytesStart, Event};
    let name_of = |e: &BytesStart| {
        e.try_get_attribute("name")
            .unwrap()
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .expect("a testcase has a name")
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut open_case = false;
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}\n{xml}")) {
            Event::Empty(e) if e.name().as_ref() == "testcase" => {
                cases.push((name_of(&e), "passed".into()));
            }
            Event::Start(e) if e.name().as_ref() == "testcase" => {
                cases.push((name_of(&e), "passed".into()));
                open_case = true;
            }
            Event::Start(e) | Event::Empty(e) if open_case => {
                let outcome = match e.name().as_ref() {
                    "failure" => "failed",
                    "skipped" => "skipped",
                    _ => continue,
                };
                cases.last_mut().unwrap().1 = outcome.into();
            }
            Event::End(e) if e.name().as_ref() == "testcase" => open_case = false,
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

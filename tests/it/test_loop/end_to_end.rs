//! Acceptance 1: `test ci` and `test local` pass end to end against fakekube; every smoke
//! check is in the JSON and the JUnit report; `test local` builds its images with the
//! stand-in `docker` from sibling git repositories, tagged from `git describe`, and deploys
//! them; `--no-build` builds nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use fakekube::{FakeKube, Scenario, StubConfig};
use serde_json::Value;

use super::*;
use crate::support::standins::StandIns;

#[test]
fn fakekube_test_ci_deploys_the_ci_variant_and_every_smoke_check_passes_in_json_and_junit() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let sandbox = sandbox_for(&kube);
    let (run, took) = test_ci(&sandbox, "json", &[]);
    eprintln!("test ci took {took:?}");
    let doc = run.json();
    run.success();
    for expected in [
        "validate",
        "apply",
        "rollout/jetscale-ci-backend-api",
        "rollout/jetscale-ci-backend-ws",
        "rollout/jetscale-ci-frontend",
        "rollout/jetscale-ci-postgres",
        "rollout/jetscale-ci-redis",
    ] {
        assert_eq!(check(&doc, expected)["outcome"], "passed", "{expected}");
    }
    assert_every_smoke_check_passed(&doc);
    assert_none_failed(&doc);
    assert_eq!(doc["command"], "test ci");
    assert_eq!(doc["context"], "kind-kind");
    assert_eq!(doc["namespace"], CI_NAMESPACE);
    assert_eq!(doc["release"], "jetscale-ci");
    // What was deployed is the CI variant, with the pinned GHCR images.
    assert_eq!(
        deployment_images(&kube, CI_NAMESPACE, CI_API),
        [
            "ghcr.io/jetscale-ai/backend:4.6.12",
            "ghcr.io/jetscale-ai/backend:4.6.12"
        ]
    );
    assert_eq!(
        deployment_images(&kube, CI_NAMESPACE, CI_FRONTEND),
        ["ghcr.io/jetscale-ai/frontend:2.7.1"]
    );

    // The same run as JUnit, re-applied to the same cluster: one test case per check, every
    // smoke check among them, none failed.
    let (run, _) = test_ci(&sandbox, "junit", &[]);
    run.success();
    let cases = junit_cases(&run.stdout);
    let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
    let json_names: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, json_names, "{}", run.stdout);
    for smoke in stackctl::smoke::CHECKS {
        assert!(
            cases
                .iter()
                .any(|(name, outcome)| name == smoke && outcome == "passed"),
            "{smoke} is not a passed test case:\n{}",
            run.stdout
        );
    }
    assert!(
        cases.iter().all(|(_, outcome)| outcome != "failed"),
        "{cases:#?}"
    );
}

/// One sibling repository: a git checkout next to the sandbox's repository with a tag and
/// one commit after it, so that `git describe` is `<tag>-1-g<sha>`.
struct Sibling {
    dir: PathBuf,
    describe: String,
    sha: String,
}

/// `git ARGS` in `dir` with an environment of the test's own (no config of the machine);
/// its stdout, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    let git = crate::support::standins::on_path("git")
        .expect("git is required on PATH for the test local tests");
    let output = Command::new(git)
        .args([
            "-c",
            "user.name=stackctl tests",
            "-c",
            "user.email=tests@stackctl.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn sibling(sandbox: &Sandbox, name: &str, tag: &str) -> Sibling {
    let dir = sandbox.outside_repo(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(dir.join("Dockerfile"), format!("FROM scratch AS {name}\n")).unwrap();
    git(&dir, &["add", "Dockerfile"]);
    git(&dir, &["commit", "--quiet", "-m", "the image"]);
    git(&dir, &["tag", "-a", tag, "-m", tag]);
    std::fs::write(dir.join("README"), "after the tag\n").unwrap();
    git(&dir, &["add", "README"]);
    git(&dir, &["commit", "--quiet", "-m", "after the tag"]);
    let sha = git(&dir, &["rev-parse", "--short", "HEAD"]);
    let describe = git(&dir, &["describe", "--tags", "--always", "--dirty"]);
    assert_eq!(describe, format!("{tag}-1-g{sha}"));
    Sibling { dir, describe, sha }
}

/// The recorded docker call that starts with `prefix`, as its words (the stand-in quotes
/// nothing here: no argument has a space).
#[track_caller]
fn call<'a>(calls: &'a [String], prefix: &str) -> Vec<&'a str> {
    let found: Vec<&String> = calls.iter().filter(|c| c.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "{prefix}: {calls:#?}");
    found[0].split(' ').collect()
}

/// The values of `--build-arg`s of a call, in order.
fn build_args<'a>(words: &[&'a str]) -> Vec<&'a str> {
    words
        .windows(2)
        .filter(|w| w[0] == "--build-arg")
        .map(|w| w[1])
        .collect()
}

#[test]
fn fakekube_test_local_builds_from_the_siblings_with_stand_in_docker_and_deploys_those_images() {
    let mut sandbox = Sandbox::with_repo();
    let standins = StandIns::install(&mut sandbox, &["docker"]);
    standins.expose("git");
    let backend = sibling(&sandbox, "backend", "v1.2.0");
    let frontend = sibling(&sandbox, "frontend", "v2.0.0");
    // The platform stub answers with test-local's admin and reports the backend's tag (the
    // version check expects the tag deployed).
    let stub = StubConfig {
        login: "devops@jetscale.ai".into(),
        password: "change-me-local-only".into(),
        version: backend.describe.clone(),
        ..StubConfig::default()
    };
    let kube = FakeKube::start(Scenario::ready().with_stub(stub)).unwrap();
    point_at(&mut sandbox, &kube);

    let (run, took) = stackctl(
        &sandbox,
        &["--format", "json", "test", "local", "--offline"],
    );
    eprintln!("test local took {took:?}");
    let doc = run.json();
    run.success();
    assert_eq!(doc["command"], "test local");
    assert_eq!(doc["namespace"], "jetscale-test-local");
    assert_every_smoke_check_passed(&doc);
    assert_none_failed(&doc);
    assert_eq!(
        check(&doc, "smoke/version")["outcome"],
        "passed",
        "the API reports the backend's tag"
    );

    let calls = standins.calls();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    let root = sandbox.root();
    for (sibling, target, repository, expected_args) in [
        (
            &backend,
            "backend",
            "localhost:5000/jetscale-backend",
            vec![
                "GIT_REF_NAME=main".to_string(),
                format!("GIT_DESCRIBE={}", backend.describe),
                "GIT_REF=refs/heads/main".to_string(),
                format!("GIT_SHA={}", backend.sha),
            ],
        ),
        (
            &frontend,
            "frontend",
            "localhost:5000/jetscale-frontend",
            vec![
                format!("REACT_APP_VERSION={}", frontend.describe),
                format!("REACT_APP_GIT_SHA={}", frontend.sha),
                "REACT_APP_BRANCH=main".to_string(),
            ],
        ),
    ] {
        let reference = format!("{repository}:{}", sibling.describe);
        let build = call(&calls, &format!("docker build --target {target} "));
        assert_eq!(build[4..6], ["--tag", reference.as_str()], "{build:?}");
        let args = build_args(&build);
        for expected in &expected_args {
            assert!(args.contains(&expected.as_str()), "{expected}: {build:?}");
        }
        let time_arg = if target == "backend" {
            "BUILD_TIME="
        } else {
            "REACT_APP_BUILD_TIME="
        };
        let time = args
            .iter()
            .find_map(|a| a.strip_prefix(time_arg))
            .unwrap_or_else(|| panic!("no {time_arg}: {build:?}"));
        assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
        assert_eq!(args.len(), expected_args.len() + 1, "{build:?}");
        let context = Path::new(build.last().unwrap());
        assert_eq!(
            context.canonicalize().unwrap(),
            sibling.dir,
            "built from the sibling"
        );
        assert!(context.starts_with(&root), "{context:?}");
        assert_eq!(
            call(&calls, &format!("docker push {repository}:")),
            ["docker", "push", reference.as_str()]
        );
    }
    assert!(
        calls.iter().all(|c| !c.contains(":latest")),
        "a latest tag: {calls:#?}"
    );
    // The build came before the pushes, each push after its build.
    let position = |prefix: &str| calls.iter().position(|c| c.starts_with(prefix)).unwrap();
    assert!(
        position("docker build --target backend")
            < position("docker push localhost:5000/jetscale-backend")
    );
    assert!(
        position("docker build --target frontend")
            < position("docker push localhost:5000/jetscale-frontend")
    );

    // The cluster runs exactly those images, with the build's metadata in the backend's env.
    let backend_image = format!("localhost:5000/jetscale-backend:{}", backend.describe);
    let frontend_image = format!("localhost:5000/jetscale-frontend:{}", frontend.describe);
    let expected_images = |kube: &FakeKube| {
        assert_eq!(
            deployment_images(kube, "jetscale-test-local", "jetscale-test-backend-api"),
            [backend_image.as_str(), backend_image.as_str()]
        );
        assert_eq!(
            deployment_images(kube, "jetscale-test-local", "jetscale-test-backend-ws"),
            [backend_image.as_str()]
        );
        assert_eq!(
            deployment_images(kube, "jetscale-test-local", "jetscale-test-frontend"),
            [frontend_image.as_str()]
        );
    };
    expected_images(&kube);
    let api = kube
        .store()
        .get(
            "deployments.apps",
            "jetscale-test-local",
            "jetscale-test-backend-api",
        )
        .unwrap();
    let env = &api["spec"]["template"]["spec"]["containers"][0]["env"];
    let value = |name: &str| -> Value {
        env.as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        value("JETSCALE_VERSION"),
        backend.describe.as_str(),
        "{env:#}"
    );
    assert_eq!(value("JETSCALE_GIT_SHA"), backend.sha.as_str());

    // --no-build deploys the same images again, and asks docker nothing.
    let (run, _) = stackctl(
        &sandbox,
        &[
            "--format",
            "json",
            "test",
            "local",
            "--offline",
            "--no-build",
        ],
    );
    run.success();
    assert_every_smoke_check_passed(&run.json());
    assert_eq!(standins.calls(), calls, "--no-build called docker");
    expected_images(&kube);
}

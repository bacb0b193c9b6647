//! `stackctl test ci|local`: the real binary against fakekube (the stand-in Kubernetes API
//! server, tests/fakekube) and its platform stub (a stand-in of the platform's HTTP API).

use fakekube::{FakeKube, Scenario};
use serde_json::Value;

use crate::support::{self, Run, Sandbox};

/// A token that must never appear in any output, report or file.
const TOKEN_SENTINEL: &str = "ghp_sentinelTokenThatMustNeverLeak0123456789";

/// This repository in a sandbox, its kubeconfig pointing at `kube`, GHCR credentials set.
fn sandbox_for(kube: &FakeKube) -> Sandbox {
    let mut sandbox = Sandbox::with_repo();
    let kubeconfig = sandbox.outside_repo("kubeconfig");
    kube.write_kubeconfig(&kubeconfig)
        .expect("write the kubeconfig");
    sandbox.set_env("KUBECONFIG", kubeconfig.display().to_string());
    sandbox.set_env("GITHUB_TOKEN", TOKEN_SENTINEL);
    sandbox.set_env("GITHUB_USER", "ci-bot");
    sandbox
}

fn test_ci(sandbox: &Sandbox, extra: &[&str]) -> Run {
    let mut args = vec!["--format", "json", "test", "ci", "--offline"];
    args.extend_from_slice(extra);
    sandbox.stackctl_with_helm(&support::helm4(), args)
}

fn checks(doc: &Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn fakekube_test_ci_deploys_the_ci_variant_and_every_smoke_check_passes() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let sandbox = sandbox_for(&kube);
    let run = test_ci(&sandbox, &[]);
    let doc = run.json();
    run.expect(0);
    let checks = checks(&doc);
    for expected in [
        "validate",
        "apply",
        "rollout/jetscale-ci-backend-api",
        "smoke/sign-in",
    ] {
        assert!(
            checks
                .iter()
                .any(|(name, outcome)| name == expected && outcome == "passed"),
            "{expected} did not pass: {checks:?}"
        );
    }
    for smoke in stackctl::smoke::CHECKS {
        assert!(
            checks.iter().any(|(name, _)| name == smoke),
            "{smoke} missing: {checks:?}"
        );
    }
    assert!(
        checks.iter().all(|(_, outcome)| outcome != "failed"),
        "{checks:?}"
    );
    assert_eq!(doc["context"], "kind-kind");
    assert_eq!(doc["namespace"], "jetscale-ci");
    // The pull secret carries the token; nothing printed does.
    let secret = kube
        .store()
        .get("secrets", "jetscale-ci", "ghcr-registry-secret")
        .expect("the pull secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert!(!run.all().contains(TOKEN_SENTINEL));
}

//! Acceptance 7: the GHCR token reaches the cluster's pull Secret and nothing else: no output
//! of any format, no report, no file under `--diagnostics-dir`, no debug log, not even when a
//! failing container's log (which the diagnosis quotes) prints it.

use base64::Engine as _;
use fakekube::{Behaviour, FakeKube, Scenario};

use super::*;

const FORMATS: [&str; 5] = ["human", "json", "sarif", "junit", "github"];

/// Every file under `dir` whose content holds `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .map(|bytes| String::from_utf8_lossy(&bytes).contains(needle))
                .unwrap_or(false)
        })
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[test]
fn fakekube_the_token_is_in_the_pull_secret_and_in_no_output_report_or_file() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let mut sandbox = sandbox_for(&kube);
    // Debug logs too: they quote requests and answers.
    sandbox.set_env("STACKCTL_LOG", "debug");
    let dir = diagnostics_dir(&sandbox);
    let dir_arg = dir.display().to_string();
    for format in FORMATS {
        let (run, _) = test_ci(&sandbox, format, &["--diagnostics-dir", &dir_arg]);
        run.success();
        assert!(
            !run.all().contains(TOKEN_SENTINEL),
            "{format} output has the token:\n{}",
            run.all()
        );
    }
    assert!(dir.join("report.json").is_file());
    assert_eq!(
        files_containing(&dir, TOKEN_SENTINEL),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        files_containing(&sandbox.root(), TOKEN_SENTINEL),
        Vec::<PathBuf>::new()
    );

    // The pull Secret the pods name holds it, for ghcr.io, as the user GITHUB_USER says.
    let secret = kube
        .store()
        .get("secrets", CI_NAMESPACE, "ghcr-registry-secret")
        .expect("the pull secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let b64 = base64::engine::general_purpose::STANDARD;
    let encoded = secret["data"][".dockerconfigjson"].as_str().unwrap();
    let config: Value = serde_json::from_slice(&b64.decode(encoded).unwrap()).unwrap();
    let ghcr = &config["auths"]["ghcr.io"];
    assert_eq!(ghcr["username"], "ci-bot", "{config:#}");
    assert_eq!(ghcr["password"], TOKEN_SENTINEL);
    let auth = b64.decode(ghcr["auth"].as_str().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(auth).unwrap(),
        format!("ci-bot:{TOKEN_SENTINEL}")
    );
    let api = kube
        .store()
        .get("deployments.apps", CI_NAMESPACE, CI_API)
        .unwrap();
    assert_eq!(
        api["spec"]["template"]["spec"]["imagePullSecrets"][0]["name"],
        "ghcr-registry-secret"
    );
}

#[test]
fn fakekube_a_token_a_crashing_container_logs_is_redacted_from_every_diagnosis() {
    // The API's container prints its environment, token included, then crashes: the
    // diagnosis quotes its logs.
    let leaky = format!("env dump: GITHUB_TOKEN={TOKEN_SENTINEL}\nRuntimeError: boom\n");
    let kube = FakeKube::start(crashing(
        CI_API,
        Behaviour::Crashloop,
        "backend-api",
        &leaky,
    ))
    .unwrap();
    let mut sandbox = sandbox_for(&kube);
    sandbox.set_env("STACKCTL_LOG", "debug");
    let dir = diagnostics_dir(&sandbox);
    let dir_arg = dir.display().to_string();
    for format in FORMATS {
        let (run, _) = test_ci(
            &sandbox,
            format,
            &["--timeout", "60s", "--diagnostics-dir", &dir_arg],
        );
        run.expect(1);
        let all = run.all();
        assert!(
            !all.contains(TOKEN_SENTINEL),
            "{format} output has the token:\n{all}"
        );
        if format == "human" {
            // The log was quoted, with the token masked.
            assert!(all.contains("RuntimeError: boom"), "{all}");
            assert!(all.contains("env dump: GITHUB_TOKEN="), "{all}");
        }
    }
    let report = std::fs::read_to_string(dir.join("report.json")).unwrap();
    assert!(report.contains("RuntimeError: boom"), "{report}");
    assert_eq!(
        files_containing(&dir, TOKEN_SENTINEL),
        Vec::<PathBuf>::new()
    );
}

//! Acceptance 6 and 9: what `test ci` refuses before it touches the cluster. No kubeconfig
//! context for the cluster, and no GHCR token, exit 3 naming the fix; a variant that does not
//! validate exits 1 with the finding. The stand-in API server sees no write in any of them.

use fakekube::{FakeKube, Scenario};

use super::*;

/// Assert that the stand-in saw no write since `before` (its settled resourceVersion): every
/// write of the API bumps it) and has no namespace of the CI variant.
#[track_caller]
fn assert_untouched(kube: &FakeKube, before: u64) {
    assert_eq!(
        kube.store().resource_version(),
        before,
        "the cluster was written to"
    );
    assert!(
        kube.store().get("namespaces", "", CI_NAMESPACE).is_none(),
        "namespace {CI_NAMESPACE} exists"
    );
}

#[test]
fn fakekube_no_kind_context_exits_3_naming_stackctl_cluster_up() {
    // A kubeconfig whose only context is another cluster's.
    let kube = FakeKube::start(Scenario {
        context: "kind-elsewhere".into(),
        ..Scenario::ready()
    })
    .unwrap();
    let before = settled_resource_version(&kube);
    let mut sandbox = sandbox_for(&kube);
    let missing = sandbox.outside_repo("missing-kubeconfig");
    // (KUBECONFIG, arguments, what the error says)
    let cases = [
        (
            None,
            &[][..],
            r#"no kubeconfig context "kind-kind" (the kubeconfig has the contexts kind-elsewhere)"#,
        ),
        // Another context named on the command line, which the kubeconfig lacks as well.
        (
            None,
            &["--context", "kind-other"][..],
            r#"no kubeconfig context "kind-other""#,
        ),
        // No kubeconfig at all.
        (
            Some(&missing),
            &[][..],
            r#"no kubeconfig context "kind-kind""#,
        ),
    ];
    for (kubeconfig, args, message) in cases {
        if let Some(path) = kubeconfig {
            sandbox.set_env("KUBECONFIG", path.display().to_string());
        }
        let (run, _) = test_ci(&sandbox, "human", args);
        run.expect(3);
        assert!(
            run.stderr
                .contains(&format!("error: no cluster to test against: {message}")),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("hint: `stackctl cluster up` creates"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    assert_untouched(&kube, before);
}

#[test]
fn fakekube_test_ci_without_a_token_exits_3_naming_the_fix_before_touching_the_cluster() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let before = settled_resource_version(&kube);
    let mut sandbox = Sandbox::with_repo();
    point_at(&mut sandbox, &kube);
    // An .env with other settings, and none of the token.
    sandbox.write(".env", "E2E_ADMIN_EMAIL=admin@ci.example.com\n");
    let (run, took) = test_ci(&sandbox, "human", &[]);
    eprintln!("refused after {took:?}");
    run.expect(3);
    let stderr = &run.stderr;
    assert!(stderr.contains("error: test ci pulls"), "{stderr}");
    assert!(stderr.contains("has no token"), "{stderr}");
    assert!(
        stderr.contains("set GITHUB_TOKEN (or GH_TOKEN)"),
        "{stderr}"
    );
    assert!(stderr.contains("read:packages"), "{stderr}");
    assert!(stderr.contains(".env"), "{stderr}");
    assert_eq!(run.stdout, "");
    assert_untouched(&kube, before);

    // GH_TOKEN in .env (with the login it belongs to) is enough.
    sandbox.write(
        ".env",
        &format!("GH_TOKEN={TOKEN_SENTINEL}\nGITHUB_USER=ci-bot\n"),
    );
    let (run, _) = test_ci(&sandbox, "json", &[]);
    run.success();
    assert!(!run.all().contains(TOKEN_SENTINEL));
}

#[test]
fn fakekube_a_variant_that_does_not_validate_fails_before_touching_the_cluster() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let before = settled_resource_version(&kube);
    let sandbox = sandbox_for(&kube);
    // The CI variant's API pointed at another release's database.
    let file = "charts/jetscale/values.test.ci.yaml";
    let values = sandbox.read(file);
    let broken = values.replacen(
        "    JETSCALE_DB_HOST: jetscale-ci-postgres\n",
        "    JETSCALE_DB_HOST: jetscale-test-postgres\n",
        1,
    );
    assert_ne!(values, broken);
    sandbox.write(file, &broken);
    let line = broken
        .lines()
        .position(|l| l == "    JETSCALE_DB_HOST: jetscale-test-postgres")
        .unwrap()
        + 1;
    let dir = diagnostics_dir(&sandbox);
    let dir_arg = dir.display().to_string();

    let (run, _) = test_ci(&sandbox, "json", &["--diagnostics-dir", &dir_arg]);
    run.expect(1);
    let doc = run.json();
    let validate = check(&doc, "validate");
    assert_eq!(validate["outcome"], "failed", "{validate:#}");
    assert!(
        validate["message"]
            .as_str()
            .unwrap()
            .contains("test-ci does not validate"),
        "{validate:#}"
    );
    let finding = |doc: &Value| {
        doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["rule"] == "variants/release-hosts")
            .cloned()
            .unwrap_or_else(|| panic!("no variants/release-hosts finding: {doc:#}"))
    };
    let found = finding(&doc);
    assert_eq!(found["severity"], "error");
    assert_eq!(found["file"], file);
    assert_eq!(found["line"], line);
    assert!(
        checks(&doc)
            .iter()
            .all(|(name, _)| !name.starts_with("rollout/")),
        "{:#?}",
        checks(&doc)
    );
    assert_eq!(doc["namespace"], Value::Null, "it deployed");
    // The report under --diagnostics-dir has the finding too.
    assert_eq!(finding(&read_report(&dir)), found);

    // For people: the finding with its file and line, and the summary.
    let (run, _) = test_ci(&sandbox, "human", &[]);
    run.expect(1);
    assert!(
        run.stdout.contains("variants/release-hosts"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("{file}:{line}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("test-ci does not validate"),
        "{}",
        run.stdout
    );
    assert_untouched(&kube, before);
}

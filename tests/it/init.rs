//! `stackctl init` on copies of this repository without its `stackctl.toml`: what it writes
//! makes `validate` pass, it proposes what a changed env needs, it never replaces a file, and
//! `--print` writes nothing.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{self, Sandbox};

/// A copy of this repository without its `stackctl.toml`.
fn unconfigured() -> Sandbox {
    let sandbox = Sandbox::with_repo();
    std::fs::remove_file(sandbox.path("stackctl.toml")).unwrap();
    sandbox
}

/// The external refs init proposes for each target, by target, from its JSON document.
fn proposed_refs(doc: &Value) -> BTreeMap<String, Vec<String>> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let refs = t["external_refs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (t["name"].as_str().unwrap().to_string(), refs)
        })
        .collect()
}

#[test]
fn what_init_writes_makes_this_repository_validate_with_each_helm() {
    for (label, helm) in support::helms() {
        let sandbox = unconfigured();
        let run = sandbox.stackctl_with_helm(&helm, ["--format", "json", "init", "--offline"]);
        run.success();
        let decisions = run.json();
        assert_eq!(decisions["version"], 1, "{label}");
        assert_eq!(decisions["written"], true, "{label}");
        assert_eq!(decisions["chart"]["path"], "charts/jetscale", "{label}");
        assert_eq!(decisions["convention"]["table"], "envs/**", "{label}");
        let written = sandbox.read("stackctl.toml");
        assert_eq!(decisions["content"], written.as_str(), "{label}");
        // The convention is stated, with why the release is the file's name.
        assert!(
            written.contains(
                "[targets.\"envs/**\"]\nrelease = \"{name}\"\nnamespace = \"{name}-{dir}\"\n"
            ),
            "{label}:\n{written}"
        );
        assert!(written.contains("a CronJob's to 52"), "{label}:\n{written}");
        let targets: BTreeMap<&str, &Value> = decisions["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap(), t))
            .collect();
        assert_eq!(targets.len(), 12, "{label}: {targets:?}");
        assert_eq!(
            targets["envs/staging/dialogue-5624.yaml"]["release"],
            "dialogue-5624"
        );
        assert_eq!(
            targets["envs/prod/console.yaml"]["namespace"],
            "console-prod"
        );
        // Each variant on the chart's values files it extends, with the release its hosts name.
        assert_eq!(
            targets["test-ci"]["layers"],
            serde_json::json!([
                "charts/jetscale/values.test.yaml",
                "charts/jetscale/values.test.ci.yaml"
            ])
        );
        assert_eq!(targets["test-ci"]["release"], "jetscale-ci");
        assert_eq!(targets["test-local"]["release"], "jetscale-test");
        // A ref named after the release is written with {release}; the one every env needs
        // is named with the targets that need it.
        let aws = decisions["external_refs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "{release}-aws-client-secret")
            .unwrap_or_else(|| panic!("{label}: {}", decisions["external_refs"]));
        assert_eq!(
            aws["targets"].as_array().unwrap().len(),
            8,
            "{label}: {aws}"
        );
        assert!(
            targets.values().all(|t| t["not_rendered"].is_null()),
            "{label}"
        );

        let validate =
            sandbox.stackctl_with_helm(&helm, ["--format", "json", "validate", "--offline"]);
        let doc = validate.json();
        assert_eq!(
            validate.code,
            0,
            "{label}: {}\n{}\n{written}",
            serde_json::to_string_pretty(&doc["diagnostics"]).unwrap(),
            validate.stderr
        );
        assert_eq!(doc["diagnostics"], serde_json::json!([]), "{label}");
        assert_eq!(doc["summary"]["targets"], 12, "{label}");
        assert_eq!(doc["summary"]["passed"], 12, "{label}");
    }
}

/// envs/staging/link4.yaml turns off the ExternalSecret of `<release>-app-secrets` while its
/// pods still read that Secret (envFrom `app-secrets`): init proposes exactly it, for link4
/// alone, on link4's own table.
#[test]
fn init_proposes_exactly_the_secret_an_env_stops_rendering() {
    let helm = support::helm4();
    let print = ["--format", "json", "init", "--print", "--offline"];
    let baseline = unconfigured();
    let before = baseline.stackctl_with_helm(&helm, print);
    before.success();
    let before = proposed_refs(&before.json());

    let changed = unconfigured();
    let link4 = changed.read("envs/staging/link4.yaml");
    let on = "  # Reads link4-staging/application/config.\n  app:\n    enabled: true\n";
    assert!(link4.contains(on), "{link4}");
    changed.write(
        "envs/staging/link4.yaml",
        &link4.replace(on, &on.replace("enabled: true", "enabled: false")),
    );
    let run = changed.stackctl_with_helm(&helm, print);
    run.success();
    let decisions = run.json();
    let after = proposed_refs(&decisions);

    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (target, refs) in &after {
        let mut expected = before[target].clone();
        if target == "envs/staging/link4.yaml" {
            expected.push("{release}-app-secrets".to_string());
            expected.sort();
        }
        assert_eq!(refs, &expected, "{target}");
    }
    let app = decisions["external_refs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "{release}-app-secrets")
        .unwrap();
    assert_eq!(
        app["targets"],
        serde_json::json!(["envs/staging/link4.yaml"])
    );
    assert_eq!(app["kinds"], serde_json::json!(["Secret (envFrom)"]));
    assert_eq!(
        app["tables"],
        serde_json::json!(["targets.\"envs/staging/link4.yaml\""])
    );
    // What it proposes is what the changed repository needs: validate passes with it.
    changed.write("stackctl.toml", decisions["content"].as_str().unwrap());
    changed
        .stackctl_with_helm(&helm, ["validate", "envs", "aws", "--offline"])
        .success();
}

#[test]
fn init_never_replaces_an_existing_stackctl_toml() {
    let sandbox = Sandbox::with_repo();
    let before = std::fs::read(sandbox.path("stackctl.toml")).unwrap();
    let entries = |sandbox: &Sandbox| {
        let mut names: Vec<String> = std::fs::read_dir(sandbox.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let listed = entries(&sandbox);
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["init", "--offline"]);
    run.expect(2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "error: stackctl.toml already exists: init writes a new configuration and never replaces one"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint:") && run.stderr.contains("stackctl init --print"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(sandbox.path("stackctl.toml")).unwrap(),
        before
    );
    // Nothing else was written either: no temporary file beside it.
    assert_eq!(entries(&sandbox), listed);
    // From a subdirectory the repository's file is found and kept just the same.
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["-C", "envs/staging", "init", "--offline"],
    );
    run.expect(2);
    assert_eq!(
        std::fs::read(sandbox.path("stackctl.toml")).unwrap(),
        before
    );
}

#[test]
fn init_print_writes_the_file_to_stdout_and_nothing_to_disk() {
    let sandbox = unconfigured();
    let helm = support::helm4();
    let run = sandbox.stackctl_with_helm(&helm, ["init", "--print", "--offline"]);
    run.success();
    assert!(!sandbox.path("stackctl.toml").exists());
    assert!(
        run.stdout
            .starts_with("# stackctl's configuration, written by `stackctl init`"),
        "{}",
        run.stdout
    );
    let config =
        stackctl::config::Config::parse(&run.stdout, std::path::Path::new("stackctl.toml"))
            .unwrap_or_else(|e| panic!("{}\n{}", e.message, run.stdout));
    assert_eq!(config.variants.len(), 4);
    // The decisions go to stderr, saying where the file went.
    assert!(
        run.stderr.contains("stackctl.toml not written (--print)")
            && run.stderr.contains("external refs"),
        "{}",
        run.stderr
    );
    // What it prints is what init writes.
    sandbox
        .stackctl_with_helm(&helm, ["init", "--offline"])
        .success();
    assert_eq!(sandbox.read("stackctl.toml"), run.stdout);
}

//! The command line itself: help that teaches, completions, doctor, exit codes.

use clap::CommandFactory;

use crate::support::registry::ghcr_mirror;
use crate::support::{self, Sandbox};

/// Every command path (`["deps", "build"]`, …) of the CLI, from clap's own definition, so a
/// new command is covered by these tests without touching them.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&stackctl::cli::Cli::command(), &[], &mut out);
    out
}

#[test]
fn every_command_has_a_summary_a_description_and_examples() {
    let root = stackctl::cli::Cli::command();
    for path in command_paths() {
        let mut cmd = &root;
        for name in &path {
            cmd = cmd.find_subcommand(name).unwrap();
        }
        let name = path.join(" ");
        assert!(
            cmd.get_about().is_some(),
            "`{name}` has no one-line summary"
        );
        // Commands that only group others teach through their subcommands.
        if cmd.has_subcommands() {
            continue;
        }
        assert!(
            cmd.get_long_about().is_some(),
            "`{name}` has no long description"
        );
        let after = cmd
            .get_after_help()
            .map(|s| s.to_string())
            .unwrap_or_default();
        assert!(
            after.contains("Examples:"),
            "`{name}` --help shows no examples"
        );
        assert!(
            after.contains(&format!("stackctl {name}")),
            "`{name}` examples do not show the command"
        );
    }
}

#[test]
fn help_output_snapshots() {
    let mut sandbox = Sandbox::empty();
    sandbox.set_env("COLUMNS", "100");
    let mut paths = vec![vec![]];
    paths.extend(command_paths());
    for path in paths {
        let run = sandbox.stackctl(path.iter().map(String::as_str).chain(["--help"]));
        assert_eq!(run.code, 0, "{path:?} --help failed");
        let name = if path.is_empty() {
            "help".to_string()
        } else {
            format!("help-{}", path.join("-"))
        };
        insta::assert_snapshot!(name, run.stdout);
    }
}

#[test]
fn version_flag_prints_the_crate_version() {
    let run = Sandbox::empty().stackctl(["--version"]);
    assert_eq!(
        run.stdout.trim(),
        format!("stackctl {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    let sandbox = Sandbox::empty();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef stackctl"),
        ("fish", "complete -c stackctl"),
    ] {
        let run = sandbox.stackctl(["completions", shell]);
        assert_eq!(run.code, 0, "{shell}");
        let text = &run.stdout;
        assert!(text.contains(marker), "{shell} completion lacks {marker:?}");
        assert!(
            text.contains("doctor"),
            "{shell} completion does not know the commands"
        );
    }
}

#[test]
fn doctor_reports_each_supported_helm() {
    let sandbox = Sandbox::empty();
    for (label, helm) in support::helms() {
        let run = sandbox.stackctl_with_helm(&helm, ["--format", "json", "doctor"]);
        assert_eq!(run.code, 0, "{label}: {}", run.stderr);
        let doc = run.json();
        assert_eq!(doc["ok"], true);
        let helm_status = &doc["tools"][0];
        assert_eq!(helm_status["name"], "helm");
        let expected = if label == "helm4" { "4.3.1" } else { "3.17.2" };
        assert_eq!(helm_status["version"], expected, "{label}");
        assert_eq!(helm_status["problem"], serde_json::Value::Null);
    }
}

#[test]
fn exit_code_0_when_all_is_well() {
    let sandbox = Sandbox::empty();
    sandbox
        .stackctl_with_helm(&support::helm4(), ["doctor"])
        .expect(0);
}

#[test]
fn exit_code_2_for_usage_errors() {
    let sandbox = Sandbox::empty();
    sandbox.stackctl(["--no-such-flag"]).expect(2);
    sandbox.stackctl(["no-such-command"]).expect(2);
}

#[test]
fn exit_code_2_for_a_broken_stackctl_toml_naming_the_line() {
    let sandbox = Sandbox::empty();
    sandbox.write(
        "stackctl.toml",
        "[chart]\npath = \"charts/jetscale\"\nunknown-key = 1\n",
    );
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["doctor"]);
    assert_eq!(run.code, 2);
    let stderr = &run.stderr;
    assert!(stderr.contains("stackctl.toml:3:"), "{stderr}");
    assert!(stderr.contains("unknown-key"), "{stderr}");
}

#[test]
fn exit_code_3_when_helm_is_missing() {
    let mut sandbox = Sandbox::empty();
    sandbox.set_env("PATH", "/nonexistent");
    let run = sandbox.stackctl(["doctor"]);
    assert_eq!(run.code, 3);
    let stderr = &run.stderr;
    assert!(stderr.contains("helm"), "{stderr}");
    assert!(stderr.contains("hint"), "{stderr}");
}

/// A stand-in that claims to be Helm 3.16, labelled as such: version gating is what is tested.
fn old_helm(sandbox: &Sandbox) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let fake = sandbox.path("old-helm");
    std::fs::write(&fake, "#!/bin/sh\necho v3.16.4\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    fake
}

#[test]
fn exit_code_3_when_helm_is_too_old() {
    let sandbox = Sandbox::empty();
    let fake = old_helm(&sandbox);
    let run = sandbox.stackctl_with_helm(&fake, ["doctor"]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("3.16.4 is not supported"));
}

/// helm is asked its version while the lock is checked and the dependencies resolved, but an
/// unusable helm is still the error reported, before the registry or usage errors those
/// steps would have reported.
#[test]
fn validate_reports_an_unsupported_helm_before_what_it_overlapped() {
    let sandbox = Sandbox::with_repo();
    let fake = old_helm(&sandbox);
    // A registry nobody listens on: the dependency build fails at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    for args in [
        vec![
            "validate".to_string(),
            "envs".into(),
            "aws".into(),
            "--registry-mirror".into(),
            ghcr_mirror(&format!("oci://{closed}/charts")),
            "--insecure-registry".into(),
            closed.clone(),
        ],
        vec!["validate".into(), "envs".into(), "no-such-cloud".into()],
        vec!["render".into(), "no-such-target".into()],
    ] {
        let run = sandbox.stackctl_with_helm(&fake, &args);
        let all = run.all();
        assert_eq!(run.code, 3, "{args:?}: {all}");
        assert!(all.contains("3.16.4 is not supported"), "{args:?}: {all}");
    }
}

/// `--format json` makes every command print one JSON document on stdout (its version first,
/// but for the merged values themselves), and nothing else.
#[test]
fn every_command_prints_a_json_document_with_format_json() {
    let sandbox = Sandbox::with_repo();
    let helm = support::helm4();
    let commands: Vec<Vec<String>> = [
        vec!["deps", "build", "--offline"],
        vec!["deps", "check"],
        vec!["deps", "status"],
        vec!["deps", "bump", "backend", "9.9.9", "--dry-run"],
        vec!["deps", "link", "backend", "charts/backend"],
        vec!["deps", "unlink", "backend"],
        vec!["validate", "envs", "aws", "--offline"],
        vec!["render", "test-ci", "--offline"],
        vec!["values", "test-ci", "--path", "global.env"],
        vec!["values", "test-ci"],
        vec!["doctor"],
        vec!["init", "--print", "--offline"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    for command in commands {
        let run = sandbox.stackctl_with_helm(
            &helm,
            ["--format", "json"]
                .iter()
                .map(|s| s.to_string())
                .chain(command.clone()),
        );
        run.success();
        let document = run.json();
        assert!(document.is_object(), "{command:?}: {}", run.stdout);
        if command != ["values", "test-ci"] {
            let first = document.as_object().unwrap().keys().next().unwrap();
            assert_eq!(first, "version", "{command:?}");
            assert_eq!(document["version"], 1, "{command:?}");
        }
    }
}

//! The result cache of `validate`: an unchanged target is reported without running helm; an
//! edit re-validates exactly the targets whose inputs it touched; a corrupt entry is never
//! trusted; `--no-cache` renders everything.
//!
//! helm is run through a wrapper that logs each command, so "rendered" is what helm was
//! really asked to do, not what stackctl says it did.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::support::registry::{TestRegistry, ghcr_mirror};
use crate::support::{self, Run, Sandbox};

/// A sandboxed copy of this repository with a logging helm wrapper.
struct Bench {
    sandbox: Sandbox,
    helm: PathBuf,
    log: PathBuf,
}

impl Bench {
    fn new() -> Bench {
        Bench::with_helm(support::helm4())
    }

    fn with_helm(real: PathBuf) -> Bench {
        let sandbox = Sandbox::with_repo();
        let (helm, log) = sandbox.logging_helm(&real, "$*");
        Bench { sandbox, helm, log }
    }

    /// Run `validate envs aws` or `validate` (`args`) and return the exit code, the report and
    /// the release names helm was asked to render.
    fn validate(&self, args: &[&str]) -> (i32, Value, Vec<String>) {
        let _ = std::fs::remove_file(&self.log);
        let run = self.sandbox.stackctl_with_helm(
            &self.helm,
            [&["--format", "json", "validate"][..], args, &["--offline"]].concat(),
        );
        let doc = run.json();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let renders = log
            .lines()
            .filter(|l| l.starts_with("template "))
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .collect();
        (run.code, doc, renders)
    }

    fn edit(&self, file: &str, old: &str, new: &str) {
        let text = self.sandbox.read(file);
        let edited = if old.is_empty() {
            format!("{text}{new}")
        } else {
            assert!(text.contains(old), "{file} has no {old:?}");
            text.replacen(old, new, 1)
        };
        self.sandbox.write(file, &edited);
    }

    fn cache_entries(&self) -> Vec<PathBuf> {
        walk_files(&self.sandbox.cache_dir().join("results"))
    }
}

fn walk_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The targets of a report that were checked afresh (not cached), and those that were cached.
fn fresh_and_cached(doc: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut fresh = BTreeSet::new();
    let mut cached = BTreeSet::new();
    for t in doc["targets"].as_array().expect("targets") {
        let name = t["target"].as_str().unwrap().to_string();
        if t["cached"] == true {
            cached.insert(name);
        } else {
            fresh.insert(name);
        }
    }
    (fresh, cached)
}

const ENVS: &[&str] = &[
    "envs/preview/preview.yaml",
    "envs/prod/console.yaml",
    "envs/prod/demo.yaml",
    "envs/staging/bridgit.yaml",
    "envs/staging/dialogue-5624.yaml",
    "envs/staging/jetscale-demo.yaml",
    "envs/staging/jetscale.yaml",
    "envs/staging/link4.yaml",
];
const VARIANTS: &[&str] = &["local-dev", "test-local", "test-ci", "local-live"];

/// One edit and the targets it must re-validate (`None`: all of them).
struct Edit {
    file: &'static str,
    old: &'static str,
    new: &'static str,
    revalidated: Option<&'static [&'static str]>,
}

#[test]
fn an_edit_revalidates_exactly_the_targets_that_depend_on_it() {
    let edits = [
        // A leaf env file: that env only.
        Edit {
            file: "envs/prod/console.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: Some(&["envs/prod/console.yaml"]),
        },
        // A directory default: the envs of that directory.
        Edit {
            file: "envs/prod/default.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: Some(&["envs/prod/console.yaml", "envs/prod/demo.yaml"]),
        },
        Edit {
            file: "envs/staging/default.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: Some(&[
                "envs/staging/bridgit.yaml",
                "envs/staging/dialogue-5624.yaml",
                "envs/staging/jetscale-demo.yaml",
                "envs/staging/jetscale.yaml",
                "envs/staging/link4.yaml",
            ]),
        },
        // The cloud layer: every env, no variant.
        Edit {
            file: "envs/aws.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: Some(ENVS),
        },
        // A variant's values file: the variants that apply it.
        Edit {
            file: "charts/jetscale/values.test.ci.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: Some(&["test-ci"]),
        },
        Edit {
            file: "charts/jetscale/values.test.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: Some(&["test-local", "test-ci"]),
        },
        // Anything else of the chart, stackctl.toml: everything.
        Edit {
            file: "charts/jetscale/templates/cm-app.yaml",
            old: "",
            new: "{{- /* reviewed */ -}}\n",
            revalidated: None,
        },
        Edit {
            file: "charts/jetscale/values.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: None,
        },
        Edit {
            file: "charts/jetscale/values.schema.json",
            old: "{",
            new: "{\n",
            revalidated: None,
        },
        Edit {
            file: "stackctl.toml",
            old: "",
            new: "# reviewed\n",
            revalidated: None,
        },
        // Files no verdict depends on: nothing.
        Edit {
            file: "kind/kind-config.yaml",
            old: "",
            new: "# reviewed\n",
            revalidated: Some(&[]),
        },
        Edit {
            file: ".env",
            old: "",
            new: "UNRELATED=1\n",
            revalidated: Some(&[]),
        },
    ];
    let bench = Bench::new();
    let all: BTreeSet<String> = ENVS.iter().chain(VARIANTS).map(|s| s.to_string()).collect();

    let (code, doc, renders) = bench.validate(&[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        fresh_and_cached(&doc).0,
        all,
        "a cold run checks everything"
    );
    assert_eq!(
        renders.len(),
        all.len(),
        "one render per target: {renders:?}"
    );

    let (code, doc, renders) = bench.validate(&[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(fresh_and_cached(&doc).1, all, "nothing changed: all cached");
    assert!(renders.is_empty(), "helm rendered {renders:?}");

    for edit in &edits {
        if !bench.sandbox.path(edit.file).exists() {
            bench.sandbox.write(edit.file, "");
        }
        bench.edit(edit.file, edit.old, edit.new);
        let expected: BTreeSet<String> = match edit.revalidated {
            Some(list) => list.iter().map(|s| s.to_string()).collect(),
            None => all.clone(),
        };
        let (code, doc, renders) = bench.validate(&[]);
        assert_eq!(code, 0, "{}: {doc:#}", edit.file);
        let (fresh, cached) = fresh_and_cached(&doc);
        assert_eq!(fresh, expected, "after editing {}", edit.file);
        assert_eq!(cached, &all - &expected, "after editing {}", edit.file);
        assert_eq!(
            renders.len(),
            expected.len(),
            "after editing {}, helm rendered {renders:?}",
            edit.file
        );
        // And a second run finds everything cached again.
        let (_, doc, renders) = bench.validate(&[]);
        assert_eq!(fresh_and_cached(&doc).1, all, "after editing {}", edit.file);
        assert!(renders.is_empty());
    }
}

#[test]
fn reverting_an_edit_finds_the_earlier_verdict_and_findings_are_cached_too() {
    let bench = Bench::new();
    let (code, _, _) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 0);

    // A schema mistake: found, reported at its line, and cached with its location.
    bench.edit(
        "envs/staging/link4.yaml",
        "",
        "appConfigMap:\n  environment: PROD\n",
    );
    let line = bench
        .sandbox
        .read("envs/staging/link4.yaml")
        .lines()
        .count() as u64;
    let (code, fresh_doc, renders) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 1);
    assert_eq!(renders.len(), 1, "{renders:?}");
    let (code, cached_doc, renders) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 1, "a cached failure still fails");
    assert!(renders.is_empty(), "{renders:?}");
    assert_eq!(cached_doc["diagnostics"], fresh_doc["diagnostics"]);
    let finding = &cached_doc["diagnostics"][0];
    assert_eq!(finding["rule"], "values/schema", "{cached_doc:#}");
    assert_eq!(finding["file"], "envs/staging/link4.yaml");
    assert_eq!(finding["line"], line);
    let link4 = cached_doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "envs/staging/link4.yaml")
        .unwrap();
    assert_eq!(link4["status"], "failed");
    assert_eq!(link4["cached"], true);

    // Reverting the file brings back bytes seen before: their verdict is found, not rendered.
    let text = bench.sandbox.read("envs/staging/link4.yaml");
    bench.sandbox.write(
        "envs/staging/link4.yaml",
        &text.replace("appConfigMap:\n  environment: PROD\n", ""),
    );
    let (code, doc, renders) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        renders.is_empty(),
        "the reverted file has a stored verdict: {renders:?}"
    );
    assert!(
        doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["cached"] == true)
    );
}

#[test]
fn a_corrupt_entry_is_ignored_and_rewritten() {
    let bench = Bench::new();
    let (code, _, _) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 0);
    let entries = bench.cache_entries();
    assert_eq!(entries.len(), ENVS.len(), "{entries:?}");

    // Every kind of damage: truncated, garbage, valid JSON of the wrong shape, and a
    // well-formed entry of another target (a failing one) under this one's name.
    bench.edit("envs/prod/demo.yaml", "", "global:\n  env: staging\n");
    let (code, _, _) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 1);
    let demo_entry = bench
        .cache_entries()
        .into_iter()
        .find(|p| !entries.contains(p))
        .expect("the failing demo verdict was stored");
    let foreign = std::fs::read(&demo_entry).unwrap();
    let text = bench.sandbox.read("envs/prod/demo.yaml");
    bench.sandbox.write(
        "envs/prod/demo.yaml",
        &text.replace("global:\n  env: staging\n", ""),
    );
    for (i, entry) in entries.iter().enumerate() {
        let original = std::fs::read(entry).unwrap();
        let damaged: Vec<u8> = match i % 4 {
            0 => original[..original.len() / 2].to_vec(),
            1 => b"\x00\x01not json".to_vec(),
            2 => b"{\"format\":1,\"diagnostics\":[]}".to_vec(),
            _ => foreign.clone(),
        };
        std::fs::write(entry, damaged).unwrap();
    }
    let (code, doc, renders) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 0, "damaged entries must not be trusted: {doc:#}");
    assert_eq!(renders.len(), ENVS.len(), "{renders:?}");
    assert!(fresh_and_cached(&doc).1.is_empty());

    // They were rewritten: the next run is all cached again.
    let (code, doc, renders) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 0);
    assert!(renders.is_empty());
    assert_eq!(fresh_and_cached(&doc).1.len(), ENVS.len());
}

#[test]
fn no_cache_renders_everything_and_another_helm_misses() {
    let bench = Bench::new();
    bench.validate(&["envs", "aws"]);
    let before = bench.cache_entries();

    let (code, doc, renders) = bench.validate(&["envs", "aws", "--no-cache"]);
    assert_eq!(code, 0);
    assert_eq!(renders.len(), ENVS.len(), "{renders:?}");
    assert!(fresh_and_cached(&doc).1.is_empty());
    assert_eq!(bench.cache_entries(), before, "--no-cache writes nothing");

    // Another helm (version and binary) is another input.
    let helm3 = Bench::with_helm(support::helm3());
    std::fs::remove_dir_all(helm3.sandbox.cache_dir()).unwrap();
    support::copy_tree(&bench.sandbox.cache_dir(), &helm3.sandbox.cache_dir());
    let (code, doc, renders) = helm3.validate(&["envs", "aws"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(renders.len(), ENVS.len(), "{renders:?}");
}

#[test]
fn warm_validation_makes_no_dependency_call() {
    // Dependencies pulled from a registry once; then, with the registry gone, a run that is
    // not --offline still needs neither the registry nor any helm command but `version`.
    let mut registry = TestRegistry::start();
    let bench = Bench::new();
    bench
        .sandbox
        .publish_service_charts(&registry, "mirror/jetscale-ai/charts");
    let mirror = ghcr_mirror(&registry.oci("mirror/jetscale-ai/charts"));
    let host = registry.host.clone();
    let validate = |bench: &Bench| {
        let _ = std::fs::remove_file(&bench.log);
        let run = bench.sandbox.stackctl_with_helm(
            &bench.helm,
            [
                "validate",
                "envs",
                "aws",
                "--registry-mirror",
                &mirror,
                "--insecure-registry",
                &host,
            ],
        );
        let log = std::fs::read_to_string(&bench.log).unwrap_or_default();
        (run, log)
    };
    let (run, log) = validate(&bench);
    run.expect(0);
    assert_eq!(
        log.lines().filter(|l| l.starts_with("template")).count(),
        ENVS.len()
    );

    registry.stop();
    let (run, log) = validate(&bench);
    run.expect(0);
    let commands: Vec<&str> = log.lines().collect();
    assert!(
        commands.iter().all(|c| c.starts_with("version")),
        "helm was asked for more than its version: {commands:?}"
    );
}

/// `.gitignore` is no input of a target's verdict: `secrets/gitignore` is checked on every run,
/// so editing it is seen while every target is still reported from the cache.
#[test]
fn gitignore_is_checked_on_every_run_even_when_every_target_is_cached() {
    let bench = Bench::new();
    let (code, doc, _) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 0, "{doc}");

    bench.edit(".gitignore", ".env\n", "");
    let (code, doc, renders) = bench.validate(&["envs", "aws"]);
    assert!(renders.is_empty(), "rendered again: {renders:?}");
    let (fresh, _) = fresh_and_cached(&doc);
    assert!(fresh.is_empty(), "{fresh:?}");
    assert_eq!(code, 1, "{doc}");
    let rules: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, vec!["secrets/gitignore"]);

    bench.edit(".gitignore", "", ".env\n");
    let (code, doc, renders) = bench.validate(&["envs", "aws"]);
    assert!(renders.is_empty(), "rendered again: {renders:?}");
    assert_eq!(code, 0, "{doc}");
}

/// A helm binary's version is asked once and remembered in the cache until its file changes;
/// a script (a wrapper, a shim) is asked every time, since it can answer differently without
/// changing.
#[test]
fn the_helm_version_is_remembered_until_the_binary_changes() {
    let sandbox = Sandbox::with_repo();
    let bin = sandbox.outside_repo("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helm = bin.join("helm");
    std::fs::copy(support::helm4(), &helm).unwrap();
    let memo_dir = sandbox.cache_dir().join("helm-versions");
    let validate = || -> Run {
        sandbox.stackctl_with_helm(
            &helm,
            ["--format", "json", "validate", "envs", "aws", "--offline"],
        )
    };

    validate().expect(0);
    let memos = walk_files(&memo_dir);
    assert_eq!(memos.len(), 1, "{memos:?}");
    assert_eq!(std::fs::read_to_string(&memos[0]).unwrap().trim(), "4.3.1");

    // The memo is what the next run believes: one claiming an unsupported helm is reported.
    std::fs::write(&memos[0], "3.16.4").unwrap();
    let run = validate();
    run.expect(3);
    assert!(run.stderr.contains("3.16.4 is not supported"));

    // A new file in the same place (an upgrade) is asked again.
    let file = std::fs::File::options().write(true).open(&helm).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(file);
    validate().expect(0);
    assert_eq!(walk_files(&memo_dir).len(), 2);

    // A wrapper script is never remembered.
    std::fs::remove_dir_all(&memo_dir).unwrap();
    let bench = Bench::new();
    let (code, _, _) = bench.validate(&["envs", "aws"]);
    assert_eq!(code, 0);
    assert!(walk_files(&bench.sandbox.cache_dir().join("helm-versions")).is_empty());
}

/// A helm killed from outside (the out-of-memory killer, a CI runner stopping) says nothing
/// about the targets: nothing is cached, and the next run renders every target afresh.
#[test]
fn a_helm_killed_by_a_signal_leaves_no_verdict_in_the_cache() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::with_repo();
    let real = support::helm4();
    let dir = sandbox.outside_repo("killed-helm");
    std::fs::create_dir_all(&dir).unwrap();
    let helm = dir.join("helm");
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\nif [ \"$1\" = template ]; then kill -9 $$; fi\nexec '{}' \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();

    let killed = sandbox.stackctl_with_helm(
        &helm,
        ["--format", "json", "validate", "envs", "aws", "--offline"],
    );
    killed.expect(1);
    let doc = killed.json();
    assert!(
        doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["message"]
                .as_str()
                .unwrap()
                .contains("killed by signal 9")),
        "{doc}"
    );
    assert!(
        walk_files(&sandbox.cache_dir().join("results")).is_empty(),
        "a killed render was cached"
    );

    // Once helm is healthy, every target is checked afresh (at the same helm path).
    std::fs::write(
        &helm,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", real.display()),
    )
    .unwrap();
    let healthy = sandbox.stackctl_with_helm(
        &helm,
        ["--format", "json", "validate", "envs", "aws", "--offline"],
    );
    healthy.success();
    let (fresh, cached) = fresh_and_cached(&healthy.json());
    assert_eq!(fresh.len(), ENVS.len());
    assert!(cached.is_empty(), "{cached:?}");
}

//! Dependency commands without any network: offline builds from local chart sources, link
//! mode, `deps bump` edits, and exit codes.

use std::collections::BTreeMap;

use crate::support::{self, Sandbox, helm4};

const CHART: &str = "charts/jetscale/Chart.yaml";
const LOCK: &str = "charts/jetscale/Chart.lock";

/// An environment that makes any network attempt fail loudly: proxies on a closed port.
fn no_network(sandbox: &mut Sandbox) {
    for var in [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
    ] {
        sandbox.set_env(var, "http://127.0.0.1:9");
    }
}

fn chart_yaml_in_archive(sandbox: &Sandbox, file: &str) -> String {
    let bytes = std::fs::read(sandbox.path(&format!("charts/jetscale/charts/{file}"))).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        if path.ends_with("/Chart.yaml") && path.matches('/').count() == 1 {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            return text;
        }
    }
    panic!("{file} has no Chart.yaml");
}

#[test]
fn offline_build_packages_local_sources_that_helm_renders() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    let run = sandbox.stackctl(["deps", "build", "--offline"]);
    run.success();
    assert_eq!(
        sandbox.chart_archives(),
        vec!["backend-4.6.12.tgz", "frontend-2.7.1.tgz"],
        "one archive per chart version, though backend is aliased twice"
    );
    assert!(run.stdout.contains("local"), "{}", run.stdout);

    // helm accepts the packages: both aliases of backend and the frontend render.
    let rendered = sandbox.helm(
        &helm4(),
        [
            "template",
            "jetscale",
            "charts/jetscale",
            "--kube-version",
            "1.33.0",
        ],
    );
    rendered.success();
    for name in [
        "jetscale-backend-api",
        "jetscale-backend-ws",
        "jetscale-frontend",
    ] {
        assert!(
            rendered.stdout.contains(&format!("name: {name}")),
            "{}",
            rendered.stdout
        );
    }

    // Packaging is deterministic: a second offline build writes nothing.
    let before = sandbox.snapshot();
    let again = sandbox.stackctl(["deps", "build", "--offline"]);
    again.success();
    assert!(
        again.stdout.contains("already in place"),
        "{}",
        again.stdout
    );
    assert!(sandbox.snapshot() == before);
}

#[test]
fn offline_update_writes_helms_lock_and_only_when_content_changes() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    let committed = sandbox.read(LOCK);

    // Same content: the lock (and its `generated` time) is left alone.
    let run = sandbox.stackctl(["deps", "update", "--offline"]);
    run.success();
    assert!(
        run.stdout.contains("Chart.lock unchanged"),
        "{}",
        run.stdout
    );
    assert_eq!(sandbox.read(LOCK), committed);

    // Regenerated from scratch: identical except for `generated`.
    std::fs::remove_file(sandbox.path(LOCK)).unwrap();
    sandbox.stackctl(["deps", "update", "--offline"]).success();
    let regenerated = sandbox.read(LOCK);
    let without_time = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with("generated: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(without_time(&regenerated), without_time(&committed));
    let generated = regenerated
        .lines()
        .find(|l| l.starts_with("generated: "))
        .unwrap();
    let pattern = regex::Regex::new(
        r#"^generated: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)"$"#,
    )
    .unwrap();
    assert!(pattern.is_match(generated), "{generated}");
}

#[test]
fn offline_build_without_a_local_source_says_what_to_add() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    sandbox.write("stackctl.toml", "[dependencies]\nsources = {}\n");
    let run = sandbox.stackctl(["deps", "build", "--offline"]);
    run.expect(2);
    assert!(
        run.stderr.contains("[dependencies.sources]"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_local_source_with_another_version_is_refused_naming_both() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    let backend = sandbox
        .read("charts/backend/Chart.yaml")
        .replace("version: 4.6.12", "version: 4.6.20");
    sandbox.write("charts/backend/Chart.yaml", &backend);
    let run = sandbox.stackctl(["deps", "build", "--offline"]);
    run.expect(2);
    assert!(
        run.stderr.contains("backend 4.6.20") && run.stderr.contains("backend 4.6.12"),
        "{}",
        run.stderr
    );
    assert!(
        !sandbox
            .path("charts/jetscale/charts/backend-4.6.12.tgz")
            .exists()
    );
}

#[test]
fn build_removes_stale_archives_and_leftovers_of_interrupted_builds() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    sandbox.write("charts/jetscale/charts/backend-4.6.11.tgz", "old");
    sandbox.write(
        "charts/jetscale/charts/.stackctl-abc123.tmp",
        "half an archive",
    );
    let run = sandbox.stackctl(["deps", "build", "--offline"]);
    run.success();
    assert!(run.stdout.contains("backend-4.6.11.tgz"), "{}", run.stdout);
    assert_eq!(
        sandbox.chart_archives(),
        vec!["backend-4.6.12.tgz", "frontend-2.7.1.tgz"]
    );
}

#[test]
fn a_build_from_an_out_of_sync_lock_is_a_configuration_error() {
    let sandbox = Sandbox::fixture("deps/repo");
    let chart = sandbox.read(CHART).replace("\"2.7.1\"", "\"2.7.2\"");
    sandbox.write(CHART, &chart);
    let run = sandbox.stackctl(["deps", "build", "--offline"]);
    run.expect(2);
    assert!(run.stderr.contains("lock/in-sync"), "{}", run.stderr);
    assert!(
        run.stderr.contains("stackctl deps update"),
        "{}",
        run.stderr
    );
}

#[test]
fn link_mode_uses_the_directory_announces_itself_and_fails_ci_checks() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    // A developer's checkout of the backend chart with an unreleased version.
    let work = sandbox.outside_repo("work/backend-chart");
    support::copy_tree(&sandbox.path("charts/backend"), &work);
    let chart = std::fs::read_to_string(work.join("Chart.yaml"))
        .unwrap()
        .replace("version: 4.6.12", "version: 4.7.0-dev");
    std::fs::write(work.join("Chart.yaml"), chart).unwrap();
    let chart_before = sandbox.read(CHART);

    sandbox
        .stackctl(["deps", "link", "backend", work.to_str().unwrap()])
        .success();
    assert!(sandbox.path(".stackctl/links.toml").is_file());

    let build = sandbox.stackctl(["deps", "build", "--offline"]);
    build.success();
    assert!(
        build.stderr.contains("link mode"),
        "banner on stderr: {}",
        build.stderr
    );
    assert!(build.stderr.contains("backend ->"), "{}", build.stderr);
    assert!(chart_yaml_in_archive(&sandbox, "backend-4.6.12.tgz").contains("4.7.0-dev"));
    assert_eq!(
        sandbox.read(CHART),
        chart_before,
        "Chart.yaml is never edited"
    );

    let status = sandbox.stackctl(["deps", "status"]);
    status.success();
    let backend_line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("backend-api"))
        .unwrap();
    assert!(backend_line.contains("link"), "{}", status.stdout);

    // Outside CI the link is fine; in CI it is a finding.
    sandbox.stackctl(["deps", "check"]).success();
    sandbox.set_env("CI", "true");
    let ci = sandbox.stackctl(["deps", "check", "--format", "json"]);
    ci.expect(1);
    let doc = ci.json();
    assert_eq!(doc["diagnostics"][0]["rule"], "deps/link-mode");
    assert_eq!(doc["diagnostics"][0]["file"], ".stackctl/links.toml");
    assert_eq!(doc["diagnostics"][0]["line"], 4);

    // Unlinking restores the locked chart on the next build.
    sandbox.stackctl(["deps", "unlink", "backend"]).success();
    let rebuilt = sandbox.stackctl(["deps", "build", "--offline"]);
    rebuilt.success();
    assert!(!rebuilt.stderr.contains("link mode"), "{}", rebuilt.stderr);
    assert!(chart_yaml_in_archive(&sandbox, "backend-4.6.12.tgz").contains("version: 4.6.12"));
    // Unlinking twice is a usage error.
    sandbox.stackctl(["deps", "unlink", "backend"]).expect(2);
}

/// The exact lines a bump of backend 4.6.12 → 4.6.13 must change, and nothing else.
#[test]
fn bump_changes_exactly_the_expected_lines() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    // The new version exists as the local source (offline confirmation).
    let backend = sandbox
        .read("charts/backend/Chart.yaml")
        .replace("4.6.12", "4.6.13");
    sandbox.write("charts/backend/Chart.yaml", &backend);
    let before = sandbox.snapshot();

    let run = sandbox.stackctl(["deps", "bump", "backend", "4.6.13", "--offline"]);
    run.success();
    assert!(
        run.stdout
            .contains("commit message: fix(deps): bump backend 4.6.12 → 4.6.13"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("--- a/envs/prod/console.yaml"),
        "{}",
        run.stdout
    );

    let after = sandbox.snapshot();
    let mut changed: BTreeMap<String, Vec<(usize, String, String)>> = BTreeMap::new();
    for (file, old) in &before {
        let new = &after[file];
        if old == new {
            continue;
        }
        let old = String::from_utf8_lossy(old);
        let new = String::from_utf8_lossy(new);
        let old_lines: Vec<&str> = old.lines().collect();
        let new_lines: Vec<&str> = new.lines().collect();
        assert_eq!(
            old_lines.len(),
            new_lines.len(),
            "{file}: lines added or removed"
        );
        for (i, (a, b)) in old_lines.iter().zip(&new_lines).enumerate() {
            if a != b {
                changed.entry(file.clone()).or_default().push((
                    i + 1,
                    a.to_string(),
                    b.to_string(),
                ));
            }
        }
    }
    assert_eq!(after.len(), before.len(), "no file created or deleted");
    let mut lock = changed.remove(LOCK).expect("the lock changed");
    let generated = lock.pop().unwrap();
    assert!(generated.2.starts_with("generated: "), "{generated:?}");
    let digest = lock.pop().unwrap();
    assert!(digest.2.starts_with("digest: sha256:"), "{digest:?}");
    let line = |n: usize, a: &str, b: &str| (n, a.to_string(), b.to_string());
    assert_eq!(
        lock,
        vec![
            line(4, "  version: 4.6.12", "  version: 4.6.13"),
            line(7, "  version: 4.6.12", "  version: 4.6.13"),
        ]
    );
    let expected: BTreeMap<String, Vec<(usize, String, String)>> = [
        (
            CHART,
            vec![
                line(
                    13,
                    "    version: \"4.6.12\" # keep in step with the backend image tags",
                    "    version: \"4.6.13\" # keep in step with the backend image tags",
                ),
                line(18, "    version: \"4.6.12\"", "    version: \"4.6.13\""),
            ],
        ),
        (
            "charts/jetscale/values.test.ci.yaml",
            vec![
                line(5, "    tag: \"4.6.12\"", "    tag: \"4.6.13\""),
                line(9, "    tag: \"4.6.12\"", "    tag: \"4.6.13\""),
            ],
        ),
        (
            "envs/preview/preview.yaml",
            vec![line(
                6,
                "    tag: \"4.6.11\" # lagging on purpose: bump brings it along",
                "    tag: \"4.6.13\" # lagging on purpose: bump brings it along",
            )],
        ),
        (
            "envs/prod/console.yaml",
            vec![
                line(
                    8,
                    "    tag: '4.6.12'   # pinned to the chart version",
                    "    tag: '4.6.13'   # pinned to the chart version",
                ),
                line(12, "    tag: 4.6.12", "    tag: 4.6.13"),
            ],
        ),
    ]
    .into_iter()
    .map(|(f, l)| (f.to_string(), l))
    .collect();
    // charts/backend/Chart.yaml was edited by the test itself, before the snapshot.
    assert_eq!(changed, expected);

    // The result passes every rule.
    sandbox.stackctl(["deps", "check"]).success();
}

#[test]
fn bump_dry_run_and_failed_bumps_touch_no_file() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    let before = sandbox.snapshot();

    let dry = sandbox.stackctl(["deps", "bump", "backend", "4.6.13", "--dry-run"]);
    dry.success();
    assert!(
        dry.stdout.contains("+    version: \"4.6.13\""),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    assert!(sandbox.snapshot() == before);

    // 4.6.13 exists nowhere offline (the local source is 4.6.12): nothing is written.
    let missing = sandbox.stackctl(["deps", "bump", "backend", "4.6.13", "--offline"]);
    missing.expect(2);
    assert!(missing.stderr.contains("4.6.12"), "{}", missing.stderr);
    assert!(sandbox.snapshot() == before);

    // Unknown chart and non-exact version: usage errors.
    let unknown = sandbox.stackctl(["deps", "bump", "backend-api", "4.6.13"]);
    unknown.expect(2);
    assert!(
        unknown.stderr.contains("backend, frontend"),
        "{}",
        unknown.stderr
    );
    sandbox
        .stackctl(["deps", "bump", "backend", "^4.6"])
        .expect(2);
    assert!(sandbox.snapshot() == before);
}

#[test]
fn findings_config_and_usage_errors_have_their_exit_codes() {
    let sandbox = Sandbox::fixture("deps/repo");
    // Findings: 1.
    let chart = sandbox.read(CHART).replace("\"2.7.1\"", "\"2.7.x\"");
    sandbox.write(CHART, &chart);
    sandbox.stackctl(["deps", "check"]).expect(1);
    // deps update refuses to lock an unpinned version: findings, 1.
    let update = sandbox.stackctl(["deps", "update", "--offline"]);
    update.expect(1);
    assert!(update.stdout.contains("deps/pinned"), "{}", update.stdout);

    // Configuration: 2.
    let sandbox = Sandbox::fixture("deps/repo");
    sandbox.write("stackctl.toml", "[dependencies]\nsorces = {}\n");
    let config = sandbox.stackctl(["deps", "build", "--offline"]);
    config.expect(2);
    assert!(
        config.stderr.contains("stackctl.toml:2"),
        "{}",
        config.stderr
    );
}

#[test]
fn bump_prints_its_json_document() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    no_network(&mut sandbox);
    let backend = sandbox
        .read("charts/backend/Chart.yaml")
        .replace("4.6.12", "4.6.13");
    sandbox.write("charts/backend/Chart.yaml", &backend);
    let before = sandbox.snapshot();

    let dry = sandbox.stackctl([
        "--format",
        "json",
        "deps",
        "bump",
        "backend",
        "4.6.13",
        "--dry-run",
    ]);
    dry.success();
    assert_eq!(sandbox.snapshot(), before, "a dry run writes nothing");
    let document = dry.json();
    assert_eq!(document["version"], 1);
    assert_eq!(document["written"], false);
    // The lock's `generated` is the time of the run.
    insta::with_settings!({filters => vec![(r#"generated: \\"[^\\]+\\""#, "generated: [TIME]")]}, {
        insta::assert_json_snapshot!("deps-bump-dry-run", document);
    });

    let run = sandbox.stackctl([
        "--format",
        "json",
        "deps",
        "bump",
        "backend",
        "4.6.13",
        "--offline",
    ]);
    run.success();
    let written = run.json();
    assert_eq!(written["written"], true);
    let files = |doc: &serde_json::Value| -> Vec<String> {
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["file"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(files(&written), files(&document));
    assert_ne!(sandbox.snapshot(), before);
}

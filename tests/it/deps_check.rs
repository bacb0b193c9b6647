//! `stackctl deps check`: every rule from a table of broken Chart.yaml / Chart.lock pairs,
//! located at the right file and line, through the binary's JSON and human output.

use crate::support::Sandbox;

const CHART: &str = "charts/jetscale/Chart.yaml";
const LOCK: &str = "charts/jetscale/Chart.lock";

/// (rule, file, line) of every finding in `deps check --format json`.
fn findings(sandbox: &Sandbox) -> (i32, Vec<(String, String, u64)>, serde_json::Value) {
    let run = sandbox.stackctl(["deps", "check", "--format", "json"]);
    let doc = run.json();
    let list = doc["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .map(|d| {
            (
                d["rule"].as_str().unwrap().to_string(),
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect();
    (run.code, list, doc)
}

/// The expected findings in report order (by file, then line).
fn expected(items: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    let mut items: Vec<_> = items
        .iter()
        .map(|(r, f, l)| (r.to_string(), f.to_string(), *l))
        .collect();
    items.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
    items
}

#[test]
fn the_fixture_passes_and_check_exits_0() {
    let sandbox = Sandbox::fixture("deps/repo");
    let run = sandbox.stackctl(["deps", "check"]);
    run.success();
    assert!(
        run.stdout.contains("0 errors, 0 warnings"),
        "{}",
        run.stdout
    );
}

/// Each broken pair yields exactly its rule at the line to fix, and exit code 1.
#[test]
fn each_rule_is_caught_at_its_line() {
    type Edit = fn(&Sandbox);
    type Case = (&'static str, Edit, Vec<(&'static str, &'static str, u64)>);
    let cases: Vec<Case> = vec![
        (
            "Chart.yaml bumped, Chart.lock unchanged",
            |s| {
                let chart = s.read(CHART).replace("\"4.6.12\"", "\"4.6.13\"");
                s.write(CHART, &chart);
            },
            vec![("lock/in-sync", LOCK, 4), ("lock/in-sync", LOCK, 7)],
        ),
        (
            "file:// dependency committed",
            |s| {
                let chart = s.read(CHART).replacen(
                    "repository: oci://ghcr.io/jetscale-ai/charts\n    condition: frontend.enabled",
                    "repository: file://../../../frontend/chart\n    condition: frontend.enabled",
                    1,
                );
                s.write(CHART, &chart);
            },
            // The lock still names the OCI repository: it is out of sync as well.
            vec![("deps/oci-only", CHART, 23), ("lock/in-sync", LOCK, 9)],
        ),
        (
            "version range",
            |s| {
                let chart = s.read(CHART).replace("\"2.7.1\"", "\"^2.7.0\"");
                s.write(CHART, &chart);
            },
            vec![("deps/pinned", CHART, 22), ("lock/digest", LOCK, 11)],
        ),
        (
            "one alias bumped alone",
            |s| {
                let chart = s.read(CHART).replacen("\"4.6.12\"", "\"4.6.13\"", 1);
                s.write(CHART, &chart);
            },
            vec![
                ("deps/alias-versions", CHART, 18),
                ("lock/in-sync", LOCK, 4),
            ],
        ),
        (
            "lock deleted",
            |s| std::fs::remove_file(s.path(LOCK)).unwrap(),
            vec![("lock/missing", CHART, 10)],
        ),
        (
            "condition renamed without deps update",
            |s| {
                let chart = s.read(CHART).replace("frontend.enabled", "web.enabled");
                s.write(CHART, &chart);
            },
            vec![("lock/digest", LOCK, 11)],
        ),
        (
            "lock digest edited by hand",
            |s| {
                let lock = s.read(LOCK).replace("digest: sha256:e", "digest: sha256:f");
                s.write(LOCK, &lock);
            },
            vec![("lock/digest", LOCK, 11)],
        ),
        (
            "lock entries out of order",
            |s| {
                let lock = s.read(LOCK);
                let swapped = lock
                    .replacen("- name: backend", "- name: FRONTEND", 1)
                    .replacen("- name: frontend", "- name: backend", 1)
                    .replacen("FRONTEND", "frontend", 1);
                s.write(LOCK, &swapped);
            },
            vec![("lock/in-sync", LOCK, 2), ("lock/in-sync", LOCK, 8)],
        ),
    ];
    for (name, edit, want) in cases {
        let sandbox = Sandbox::fixture("deps/repo");
        edit(&sandbox);
        let before = sandbox.snapshot();
        let (code, got, doc) = findings(&sandbox);
        assert_eq!(got, expected(&want), "case {name:?}: {doc:#}");
        assert_eq!(code, 1, "case {name:?}: findings exit 1");
        assert_eq!(doc["ok"], false, "case {name:?}");
        // A check never writes a file, not even to "fix" the lock.
        assert!(sandbox.snapshot() == before, "case {name:?} wrote files");

        // The human output names the same rules and places, rustc style.
        let human = sandbox.stackctl(["deps", "check"]);
        human.expect(1);
        for (rule, file, line) in &want {
            assert!(
                human.stdout.contains(&format!("error[{rule}]")),
                "case {name:?}: no error[{rule}] in\n{}",
                human.stdout
            );
            assert!(
                human.stdout.contains(&format!("--> {file}:{line}:")),
                "case {name:?}: no --> {file}:{line} in\n{}",
                human.stdout
            );
        }
        assert!(human.stdout.contains("hint: "), "{}", human.stdout);
    }
}

#[test]
fn rule_levels_from_stackctl_toml_apply() {
    let sandbox = Sandbox::fixture("deps/repo");
    let lock = sandbox
        .read(LOCK)
        .replace("digest: sha256:e", "digest: sha256:f");
    sandbox.write(LOCK, &lock);
    let config = sandbox.read("stackctl.toml") + "\n[rules]\n\"lock/digest\" = \"warning\"\n";
    sandbox.write("stackctl.toml", &config);
    let (code, got, doc) = findings(&sandbox);
    assert_eq!(got, expected(&[("lock/digest", LOCK, 11)]));
    assert_eq!(doc["diagnostics"][0]["severity"], "warning");
    assert_eq!(code, 0, "warnings do not fail the check");
}

#[test]
fn an_invalid_chart_yaml_is_a_configuration_error() {
    let sandbox = Sandbox::fixture("deps/repo");
    sandbox.write(CHART, "name: jetscale\ndependencies: [unclosed\n");
    let run = sandbox.stackctl(["deps", "check"]);
    run.expect(2);
    assert!(run.stderr.contains("Chart.yaml"), "{}", run.stderr);
}

/// The registry flags every other deps command takes are accepted, so one set of flags serves
/// a script's every deps call; a malformed one is refused like elsewhere, and nothing is asked
/// of the (unreachable) mirror: the check stays offline.
#[test]
fn registry_flags_are_accepted_and_checked() {
    let sandbox = Sandbox::fixture("deps/repo");
    let run = sandbox.stackctl([
        "deps",
        "check",
        "--registry-mirror",
        "oci://ghcr.io/jetscale-ai/charts=oci://127.0.0.1:9/charts",
        "--insecure-registry",
        "127.0.0.1:9",
    ]);
    run.success();
    let run = sandbox.stackctl(["deps", "check", "--registry-mirror", "no-equals-sign"]);
    run.expect(2);
    assert!(run.stderr.contains("no-equals-sign"), "{}", run.stderr);
}

//! Nesting depth and the YAML-level checks of every file a run reads: values nested far past
//! stackctl's limit of 100 levels (block and flow style, through aliases and merge keys, in
//! env files, the chart's values, its schema and Chart.yaml) are refused at the line where the
//! limit is crossed, never with a stack overflow; a stale lock and duplicate keys in the
//! chart's own values files are findings at their lines.

use super::assert_no_crash;
use crate::support::{self, Run, Sandbox};

/// How deep the generated inputs nest: far beyond any stack.
const DEEP: usize = 100_000;

/// The message every reader gives for a file nested past the limit.
const TOO_DEEP: &str = "nested deeper than 100 levels of maps and lists";

/// Exit 2 with `error: <file>:<line>: <message>` on stderr.
#[track_caller]
fn assert_refused_at(run: &Run, file: &str, line: usize, message: &str) {
    assert_no_crash(run);
    run.expect(2);
    let located = format!("error: {file}:{line}: ");
    assert!(
        run.stderr.contains(&located),
        "want {located}\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(message),
        "want {message}\n{}",
        run.stderr
    );
}

/// `values`, `render` and `validate envs aws` on `envs/staging/deep.yaml` holding `text`.
fn refused_by_every_command(text: &str, line: usize, message: &str) {
    refused_by_every_command_in(Sandbox::with_repo(), text, line, message);
}

fn refused_by_every_command_in(sandbox: Sandbox, text: &str, line: usize, message: &str) {
    sandbox.write("envs/staging/deep.yaml", text);
    let helm = support::helm4();
    for args in [
        &["values", "envs/staging/deep.yaml"][..],
        &["render", "envs/staging/deep.yaml", "--offline"],
        &["validate", "envs", "aws", "--offline"],
    ] {
        let run = sandbox.stackctl_with_helm(&helm, args);
        assert_refused_at(&run, "envs/staging/deep.yaml", line, message);
    }
}

#[test]
fn block_style_values_100000_levels_deep_exit_2_at_the_line_that_crosses_the_limit() {
    // Compact block sequences (`- - - 1`): block style without a quadratic file.
    let text = format!("backend-api:\n  extra:\n  {}1\n", "- ".repeat(DEEP));
    refused_by_every_command(&text, 3, TOO_DEEP);
}

#[test]
fn block_style_maps_3000_levels_deep_exit_2_at_line_101() {
    // The shape of the original report: one key per line, each indented two more.
    let text: String = (0..3000)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect::<String>()
        + &"  ".repeat(3000)
        + "v: 1\n";
    // The indentation makes it 9 MB: past `[files] max-size`, which is raised so that the
    // depth is what is checked.
    assert!(text.len() > 8 << 20);
    let sandbox = Sandbox::with_repo();
    let config = sandbox.read("stackctl.toml");
    sandbox.write(
        "stackctl.toml",
        &format!("{config}\n[files]\nmax-size = \"16 MiB\"\n"),
    );
    refused_by_every_command_in(sandbox, &text, 101, TOO_DEEP);
}

#[test]
fn flow_style_values_100000_levels_deep_exit_2_at_their_line() {
    let text = format!(
        "frontend:\n  extra: {}{}\n",
        "[".repeat(DEEP),
        "]".repeat(DEEP)
    );
    refused_by_every_command(&text, 2, TOO_DEEP);
}

#[test]
fn aliases_that_expand_past_the_limit_exit_2_at_the_alias() {
    // Each anchor nests the previous one ten levels deeper; written, no map is deeper than 12.
    let mut text = String::from("x-a0: &a0 {leaf: 1}\n");
    for i in 1..=12 {
        text.push_str(&format!(
            "x-a{i}: &a{i} {}*a{}{}\n",
            "{k: ".repeat(10),
            i - 1,
            "}".repeat(10)
        ));
    }
    // x-a10 is the first whose expansion is deeper than 100 (line 11).
    refused_by_every_command(&text, 11, "once this alias is expanded");
}

#[test]
fn merge_key_chains_past_the_limit_exit_2_at_a_merge_key() {
    let mut text = String::from("x-m0: &m0 {leaf: 1}\n");
    for i in 1..=150 {
        text.push_str(&format!("x-m{i}: &m{i}\n  <<: *m{}\n  k{i}: 1\n", i - 1));
    }
    let sandbox = Sandbox::with_repo();
    sandbox.write("envs/staging/deep.yaml", &text);
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["values", "envs/staging/deep.yaml"]);
    assert_no_crash(&run);
    run.expect(2);
    assert!(
        run.stderr.contains("error: envs/staging/deep.yaml:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("merge keys (`<<`)"), "{}", run.stderr);
}

#[test]
fn values_nested_exactly_at_the_limit_are_read() {
    // `x-deep` and 98 keys below the top-level map: 100 levels of maps.
    let text: String = (0..98)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i + 1)))
        .collect::<String>()
        + &"  ".repeat(99)
        + "v: deepest\n";
    let sandbox = Sandbox::with_repo();
    sandbox.write("envs/staging/deep.yaml", &format!("x-deep:\n{text}"));
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "values", "envs/staging/deep.yaml"],
    );
    assert_no_crash(&run);
    run.success();
    let pointer = format!(
        "/x-deep/{}/v",
        (0..98)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join("/")
    );
    assert_eq!(run.json().pointer(&pointer), Some(&"deepest".into()));
}

#[test]
fn chart_values_yaml_100000_levels_deep_exit_2_at_its_line() {
    let sandbox = Sandbox::with_repo();
    let values = sandbox.read("charts/jetscale/values.yaml");
    let line = values.lines().count() + 1;
    sandbox.write(
        "charts/jetscale/values.yaml",
        &format!("{values}x-deep: {}{}\n", "[".repeat(DEEP), "]".repeat(DEEP)),
    );
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    assert_refused_at(&run, "charts/jetscale/values.yaml", line, TOO_DEEP);
}

#[test]
fn json_schema_100000_levels_deep_exit_2_at_its_line() {
    let sandbox = Sandbox::with_repo();
    let schema = sandbox.read("charts/jetscale/values.schema.json");
    let at = schema.find('{').unwrap() + 1;
    let line = schema[..at].lines().count() + 1;
    // A `default` nested far too deep, on the line after the schema's opening brace.
    let deep = format!(
        "{}\n  \"default\": {}{},{}",
        &schema[..at],
        "[".repeat(DEEP),
        "]".repeat(DEEP),
        &schema[at..]
    );
    sandbox.write("charts/jetscale/values.schema.json", &deep);
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    assert_refused_at(&run, "charts/jetscale/values.schema.json", line, TOO_DEEP);
}

#[test]
fn json_schema_with_a_60000_long_ref_chain_exit_2_at_its_first_ref() {
    let sandbox = Sandbox::with_repo();
    let schema = sandbox.read("charts/jetscale/values.schema.json");
    // A flat chain of definitions, each only a `$ref` to the next, reached from the existing
    // definitions: shallow as written, 60 000 levels deep when followed (the library would
    // overflow its stack validating through it).
    let length = 60_000;
    let chain: String = (0..length)
        .map(|i| {
            format!(
                "    \"chain{i}\": {{ \"$ref\": \"#/definitions/chain{}\" }},\n",
                i + 1
            )
        })
        .collect();
    let at = schema.find("\"definitions\": {").unwrap() + "\"definitions\": {".len();
    let first = schema[..at].lines().count() + 1;
    let text = format!(
        "{}\n    \"entry\": {{ \"$ref\": \"#/definitions/chain0\" }},\n{chain}    \"chain{length}\": {{ \"type\": \"object\" }},{}",
        &schema[..at],
        &schema[at..]
    );
    let text = text.replacen(
        "\"type\": \"object\",",
        "\"type\": \"object\",\n  \"allOf\": [{ \"$ref\": \"#/definitions/entry\" }],",
        1,
    );
    sandbox.write("charts/jetscale/values.schema.json", &text);
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    // The chain starts at the root's `allOf`, written before the definitions.
    let entry_line = text
        .lines()
        .position(|l| l.contains("#/definitions/entry"))
        .unwrap()
        + 1;
    assert!(entry_line < first);
    assert_refused_at(
        &run,
        "charts/jetscale/values.schema.json",
        entry_line,
        "deeper than 1000 levels",
    );
    assert!(
        run.stderr.contains("60002 references in a chain"),
        "{}",
        run.stderr
    );
}

#[test]
fn chart_yaml_100000_levels_deep_exit_2_at_its_line() {
    let sandbox = Sandbox::with_repo();
    let chart = sandbox.read("charts/jetscale/Chart.yaml");
    let line = chart.lines().count() + 1;
    sandbox.write(
        "charts/jetscale/Chart.yaml",
        &format!("{chart}annotations:\n{}x\n", "- ".repeat(DEEP)),
    );
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["deps", "check"]);
    assert_no_crash(&run);
    run.expect(2);
    // Chart.yaml errors name the file by its full path.
    let located = format!("charts/jetscale/Chart.yaml:{}: ", line + 1);
    assert!(
        run.stderr.contains(&located),
        "want {located}\n{}",
        run.stderr
    );
    assert!(run.stderr.contains(TOO_DEEP), "{}", run.stderr);
}

#[test]
fn no_dependencies_with_a_three_entry_lock_fails_deps_check_at_each_lock_entry() {
    let sandbox = Sandbox::with_repo();
    let chart = sandbox.read("charts/jetscale/Chart.yaml");
    // The dependency list ends Chart.yaml.
    let start = chart.find("\ndependencies:").unwrap() + 1;
    sandbox.write(
        "charts/jetscale/Chart.yaml",
        &format!("{}dependencies: []\n", &chart[..start]),
    );
    let run = sandbox.stackctl_with_helm(&support::helm4(), ["--format", "json", "deps", "check"]);
    assert_no_crash(&run);
    run.expect(1);
    let located: Vec<(String, u64)> = run.json()["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == "lock/in-sync")
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let lock = "charts/jetscale/Chart.lock".to_string();
    assert_eq!(
        located,
        vec![(lock.clone(), 2), (lock.clone(), 5), (lock, 8)],
        "{}",
        run.stdout
    );
}

/// The findings of `rule` in a JSON report, as (file, line).
fn findings_of(run: &Run, rule: &str) -> Vec<(String, u64)> {
    run.findings()
        .into_iter()
        .filter(|(r, ..)| r == rule)
        .map(|(_, file, line)| (file, line))
        .collect()
}

#[test]
fn a_duplicate_top_level_key_in_the_chart_values_is_one_finding_at_its_line() {
    let sandbox = Sandbox::with_repo();
    let values = sandbox.read("charts/jetscale/values.yaml");
    let line = values.lines().count() + 1;
    sandbox.write(
        "charts/jetscale/values.yaml",
        &format!("{values}appConfigMap:\n  enabled: true\n  environment: RELEASE\n"),
    );
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "envs", "aws", "--offline"],
    );
    assert_no_crash(&run);
    run.expect(1);
    assert_eq!(
        findings_of(&run, "values/duplicate-key"),
        vec![("charts/jetscale/values.yaml".to_string(), line as u64)],
        "{}",
        run.stdout
    );
}

#[test]
fn yaml_level_findings_in_a_variant_and_a_service_chart_are_reported_once_each() {
    let sandbox = Sandbox::with_repo();
    // A variant that several variant targets apply, and a local service chart's defaults.
    let variant = sandbox.read("charts/jetscale/values.test.yaml");
    let variant_line = variant.lines().count() + 1;
    sandbox.write(
        "charts/jetscale/values.test.yaml",
        &format!("{variant}on: 1\n"),
    );
    let backend = sandbox.read("charts/backend/values.yaml");
    let backend_line = backend.lines().count() + 1;
    sandbox.write(
        "charts/backend/values.yaml",
        &format!("{backend}replicaCount: 1\n"),
    );
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "chart", "--offline"],
    );
    assert_no_crash(&run);
    assert_eq!(
        findings_of(&run, "values/coerced-key"),
        vec![(
            "charts/jetscale/values.test.yaml".to_string(),
            variant_line as u64
        )],
        "{}",
        run.stdout
    );
    assert_eq!(
        findings_of(&run, "values/duplicate-key"),
        vec![(
            "charts/backend/values.yaml".to_string(),
            backend_line as u64
        )],
        "{}",
        run.stdout
    );
    run.expect(1);
}

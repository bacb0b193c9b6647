//! Repositories laid out otherwise than this one, built from scratch in each test: stackctl
//! finds their targets and locates a seeded mistake at its file and line.

use crate::support::{self, Run, Sandbox};

/// A chart at the repository root: `Chart.yaml`, `values.yaml` and `templates/` beside
/// `envs/` (a cloud layer and one env), with `stackctl.toml` naming the chart's path as
/// `chart_path`.
fn chart_at_the_root(chart_path: &str) -> Sandbox {
    let sandbox = Sandbox::empty();
    sandbox.write("Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n");
    sandbox.write("values.yaml", "replicas: 1\nimage: nginx\n");
    sandbox.write(
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  image: {{ .Values.image | quote }}\n",
    );
    sandbox.write("envs/aws.yaml", "replicas: 2\n");
    sandbox.write("envs/staging/web.yaml", "image: nginx:1.27\n");
    sandbox.write(".gitignore", ".env\n*.secret.yaml\n/.stackctl/\n");
    sandbox.write(
        "stackctl.toml",
        &format!("[chart]\npath = \"{chart_path}\"\n"),
    );
    sandbox
}

fn validate(sandbox: &Sandbox) -> Run {
    sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "envs", "aws", "--offline"],
    )
}

#[test]
fn chart_at_the_repository_root_written_dot_dot_slash_or_empty_validates() {
    for chart_path in [".", "./", ""] {
        let sandbox = chart_at_the_root(chart_path);
        let run = validate(&sandbox);
        run.success();
        let doc = run.json();
        let targets: Vec<&str> = doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["target"].as_str().unwrap())
            .collect();
        assert_eq!(targets, ["envs/staging/web.yaml"], "path {chart_path:?}");
        let layers = sandbox.stackctl_with_helm(
            &support::helm4(),
            ["values", "envs/staging/web.yaml", "--path", "image"],
        );
        layers.success();
        assert!(
            layers
                .stdout
                .lines()
                .nth(1)
                .unwrap_or("")
                .trim_start()
                .starts_with("values.yaml:2 "),
            "path {chart_path:?}:\n{}",
            layers.all()
        );
    }
}

#[test]
fn chart_at_the_repository_root_reports_a_seeded_mistake_at_its_line() {
    let sandbox = chart_at_the_root(".");
    sandbox.write(
        "envs/staging/web.yaml",
        "image: nginx:1.27\nreplicas: 3\nimage: nginx:1.28\n",
    );
    let run = validate(&sandbox);
    run.expect(1);
    let doc = run.json();
    let found: Vec<(&str, &str, u64)> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["rule"].as_str().unwrap(),
                d["file"].as_str().unwrap_or(""),
                d["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        found,
        [("values/duplicate-key", "envs/staging/web.yaml", 3)],
        "{}",
        run.all()
    );
}

#[test]
fn helm_template_error_is_located_in_a_chart_named_unlike_its_directory() {
    // The chart `app` lives at the root of a directory named otherwise; helm names its
    // templates `app/templates/…`.
    let sandbox = chart_at_the_root(".");
    sandbox.write(
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  support: \"{{ .Values.components.eoapi-support.enabled }}\"\n",
    );
    let run = validate(&sandbox);
    run.expect(1);
    let doc = run.json();
    let error = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "render/helm-error")
        .unwrap_or_else(|| panic!("no render/helm-error:\n{}", run.all()));
    assert_eq!(error["file"], "templates/configmap.yaml", "{error}");
    assert_eq!(error["line"], 6, "{error}");
}

#[test]
fn defaults_come_from_the_repository_at_hand() {
    // A stackctl.toml that sets nothing: the chart at the root is found, the release is the
    // chart's name, and no chart directory of another repository is taken for a local source.
    let sandbox = chart_at_the_root(".");
    sandbox.write("stackctl.toml", "# defaults only\n");
    let run = validate(&sandbox);
    run.success();
    let doc = run.json();
    assert_eq!(doc["targets"][0]["release"], "app", "{}", run.all());
    let rendered = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["render", "envs/staging/web.yaml", "--offline"],
    );
    rendered.success();
    assert!(
        rendered.stdout.contains("name: app-settings"),
        "{}",
        rendered.all()
    );
}

#[test]
fn the_umbrella_under_charts_is_found_among_service_charts_and_its_siblings_are_sources() {
    // charts/shop depends on charts/api (a local source by default: beside it, declaring the
    // locked version); no stackctl.toml names either.
    let sandbox = Sandbox::empty();
    sandbox.write(
        "charts/api/Chart.yaml",
        "apiVersion: v2\nname: api\nversion: 1.2.0\n",
    );
    sandbox.write("charts/api/values.yaml", "replicas: 1\n");
    sandbox.write(
        "charts/api/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-api\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
    );
    sandbox.write(
        "charts/shop/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n  - name: api\n    version: 1.2.0\n    repository: oci://registry.example.com/acme/charts\n",
    );
    sandbox.write("charts/shop/values.yaml", "api:\n  replicas: 1\n");
    sandbox.write("envs/aws.yaml", "api:\n  replicas: 2\n");
    sandbox.write("envs/prod/eu.yaml", "api:\n  replicas: 3\n");
    sandbox.write(".gitignore", ".env\n*.secret.yaml\n/.stackctl/\n");
    let lock = sandbox.stackctl_with_helm(&support::helm4(), ["deps", "update", "--offline"]);
    lock.success();
    let run = validate(&sandbox);
    run.success();
    let doc = run.json();
    assert_eq!(
        doc["targets"][0]["target"],
        "envs/prod/eu.yaml",
        "{}",
        run.all()
    );
    assert_eq!(doc["targets"][0]["release"], "shop", "{}", run.all());
}

#[test]
fn validate_chart_without_variants_lints_the_chart_on_its_defaults() {
    // A template that needs a value the defaults lack: `helm lint --strict` fails on it.
    let sandbox = chart_at_the_root(".");
    sandbox.write(
        "templates/secret-ref.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-db\ndata:\n  host: {{ required \"database.host is required\" .Values.database.host | quote }}\n",
    );
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "chart", "--offline"],
    );
    run.expect(1);
    let doc = run.json();
    let lint = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "chart/lint")
        .unwrap_or_else(|| panic!("no chart/lint:\n{}", run.all()));
    assert!(
        lint["message"].as_str().unwrap().contains("its defaults"),
        "{lint}"
    );
}

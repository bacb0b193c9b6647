//! Repositories laid out otherwise than this one, built from scratch in each test: stackctl
//! finds their targets and locates a seeded mistake at its file and line. Four layouts: the
//! Stack layout (an umbrella over service charts under `charts/`, `envs/<cloud>.yaml` and env
//! directories); a chart at the repository root with `environments/<env>/values.yaml` and no
//! cloud layer; flat `values-<env>.yaml` files inside the chart; per-region wrapper charts
//! pulling an app chart through `file://`. And the defaults each falls back on.

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

/// The JSON report of `run` holds a finding of `rule` at `file`:`line`.
#[track_caller]
fn assert_finding(run: &Run, rule: &str, file: &str, line: u64) {
    let doc = run.json();
    let hit = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["rule"] == rule && d["file"] == file && d["line"] == line);
    assert!(hit, "no {rule} at {file}:{line}:\n{}", run.all());
}

/// `validate envs` as JSON, for a layout without a cloud layer.
fn validate_without_cloud(sandbox: &Sandbox) -> Run {
    sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "envs", "--offline"],
    )
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
    assert_eq!(
        run.findings(),
        [(
            "values/duplicate-key".to_string(),
            "envs/staging/web.yaml".to_string(),
            3
        )],
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
    let error = run.finding("render/helm-error");
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

/// The Stack layout, small: an umbrella `charts/shop` over a service chart `charts/api`
/// beside it, a cloud layer and env files in directories of `envs/`, no stackctl.toml;
/// locked offline from the local source.
fn stack_layout() -> Sandbox {
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
    sandbox
        .stackctl_with_helm(&support::helm4(), ["deps", "update", "--offline"])
        .success();
    sandbox
}

#[test]
fn the_umbrella_under_charts_is_found_among_service_charts_and_its_siblings_are_sources() {
    let sandbox = stack_layout();
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
    let lint = run.finding("chart/lint");
    assert!(
        lint["message"].as_str().unwrap().contains("its defaults"),
        "{lint}"
    );
}

/// A chart at the root with `environments/<env>/values.yaml` and no cloud layer.
fn per_environment_directories() -> Sandbox {
    let sandbox = chart_at_the_root(".");
    std::fs::remove_dir_all(sandbox.path("envs")).unwrap();
    sandbox.write("environments/common.yaml", "replicas: 2\n");
    sandbox.write("environments/prod/values.yaml", "image: nginx:1.27\n");
    sandbox.write("environments/staging/values.yaml", "image: nginx:1.28\n");
    sandbox.write("environments/staging/notes.yaml", "not: a target\n");
    sandbox.write(
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n  namespace: {{ .Release.Namespace }}\ndata:\n  image: {{ .Values.image | quote }}\n",
    );
    sandbox.write(
        "stackctl.toml",
        "[envs]\ndir = \"environments\"\ntargets = [\"*/values.yaml\"]\nlayers = [\"common.yaml?\", \"{file}\"]\n\n[render]\nnamespace = \"{dir}\"\n",
    );
    sandbox
}

fn targets_of(doc: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["release"].as_str().unwrap().to_string(),
                t["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn per_environment_directories_without_a_cloud_layer_validate_without_a_cloud() {
    let sandbox = per_environment_directories();
    let run = validate_without_cloud(&sandbox);
    run.success();
    let found = targets_of(&run.json());
    let layers = |env: &str| {
        vec![
            "environments/common.yaml".to_string(),
            format!("environments/{env}/values.yaml"),
        ]
    };
    assert_eq!(
        found,
        [
            (
                "environments/prod/values.yaml".to_string(),
                "app".to_string(),
                layers("prod")
            ),
            (
                "environments/staging/values.yaml".to_string(),
                "app".to_string(),
                layers("staging")
            ),
        ]
    );
    // Naming a cloud where no layer has one is a usage error that says so.
    let cloud =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    cloud.expect(2);
    assert!(cloud.stderr.contains("names no {cloud}"), "{}", cloud.all());
    // The namespace template applies per target.
    let rendered = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["render", "environments/staging/values.yaml", "--offline"],
    );
    rendered.success();
    assert!(
        rendered.stdout.contains("namespace: staging"),
        "{}",
        rendered.all()
    );
}

#[test]
fn per_environment_directories_report_a_seeded_mistake_at_its_line() {
    let sandbox = per_environment_directories();
    sandbox.write(
        "environments/prod/values.yaml",
        "image: nginx:1.27\nimage: nginx:1.29\n",
    );
    let run = validate_without_cloud(&sandbox);
    run.expect(1);
    assert_finding(
        &run,
        "values/duplicate-key",
        "environments/prod/values.yaml",
        2,
    );
}

/// Flat `values-<env>.yaml` files inside the chart directory, which is also the envs
/// directory.
fn flat_values_in_the_chart() -> Sandbox {
    let sandbox = Sandbox::empty();
    sandbox.write(
        "deploy/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    );
    sandbox.write("deploy/web/values.yaml", "image: nginx\nreplicas: 1\n");
    sandbox.write(
        "deploy/web/templates/deployment.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\ndata:\n  image: {{ .Values.image | quote }}\n  replicas: {{ .Values.replicas | quote }}\n",
    );
    sandbox.write("deploy/web/values-dev.yaml", "replicas: 1\n");
    sandbox.write("deploy/web/values-prod.yaml", "replicas: 4\n");
    sandbox.write(".gitignore", ".env\n*.secret.yaml\n/.stackctl/\n");
    sandbox.write(
        "stackctl.toml",
        "[chart]\npath = \"deploy/web\"\n\n[envs]\ndir = \"deploy/web\"\ntargets = [\"values-*.yaml\"]\nlayers = [\"{file}\"]\n\n[render]\nrelease = \"web-{name}\"\n",
    );
    sandbox
}

#[test]
fn flat_values_files_inside_the_chart_are_the_targets_and_nothing_else_is() {
    let sandbox = flat_values_in_the_chart();
    let run = validate_without_cloud(&sandbox);
    run.success();
    let found = targets_of(&run.json());
    assert_eq!(
        found,
        [
            (
                "deploy/web/values-dev.yaml".to_string(),
                "web-values-dev".to_string(),
                vec!["deploy/web/values-dev.yaml".to_string()]
            ),
            (
                "deploy/web/values-prod.yaml".to_string(),
                "web-values-prod".to_string(),
                vec!["deploy/web/values-prod.yaml".to_string()]
            ),
        ]
    );
}

#[test]
fn flat_values_files_report_a_seeded_mistake_at_its_line() {
    let sandbox = flat_values_in_the_chart();
    sandbox.write(
        "deploy/web/values-prod.yaml",
        "replicas: 4\nDB_PASSWORD: Zq8-sentinel-Pw-4471\n",
    );
    let run = validate_without_cloud(&sandbox);
    run.expect(1);
    assert_finding(&run, "secrets/literal", "deploy/web/values-prod.yaml", 2);
    assert!(!run.all().contains("Zq8-sentinel-Pw-4471"), "{}", run.all());
}

/// Per-region wrapper charts that pull the app chart of the same checkout through
/// `file://../../app`, each region its own stackctl repository (`regions/<region>/stackctl.toml`)
/// in one git checkout whose `.gitignore` covers them all.
fn region_wrappers() -> Sandbox {
    let sandbox = Sandbox::empty();
    std::fs::create_dir_all(sandbox.path(".git")).unwrap();
    sandbox.write(".gitignore", ".env\n*.secret.yaml\n.stackctl/\n");
    sandbox.write(
        "app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 1.0.0\n",
    );
    sandbox.write("app/values.yaml", "region: none\nreplicas: 1\n");
    sandbox.write(
        "app/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-app\ndata:\n  region: {{ .Values.region | quote }}\n  replicas: {{ .Values.replicas | quote }}\n",
    );
    for region in ["eu", "us"] {
        sandbox.write(
            &format!("regions/{region}/Chart.yaml"),
            &format!("apiVersion: v2\nname: region-{region}\nversion: 0.1.0\ndependencies:\n  - name: app\n    version: 1.0.0\n    repository: file://../../app\n"),
        );
        sandbox.write(
            &format!("regions/{region}/values.yaml"),
            &format!("app:\n  region: {region}\n"),
        );
        sandbox.write(
            &format!("regions/{region}/envs/prod.yaml"),
            "app:\n  replicas: 3\n",
        );
        sandbox.write(
            &format!("regions/{region}/envs/staging.yaml"),
            "app:\n  replicas: 1\n",
        );
        // file:// is this layout's choice: deps/oci-only is this repository's policy, off here.
        sandbox.write(
            &format!("regions/{region}/stackctl.toml"),
            "[envs]\ntargets = [\"*.yaml\"]\nlayers = [\"{file}\"]\n\n[rules]\n\"deps/oci-only\" = \"off\"\n",
        );
    }
    sandbox
}

#[test]
fn region_wrappers_with_a_file_dependency_lock_build_and_validate_each_region() {
    let sandbox = region_wrappers();
    for region in ["eu", "us"] {
        let dir = format!("regions/{region}");
        let helm = support::helm4();
        sandbox
            .stackctl_with_helm(&helm, ["-C", &dir, "deps", "update", "--offline"])
            .success();
        let lock = sandbox.read(&format!("{dir}/Chart.lock"));
        assert!(lock.contains("repository: file://../../app"), "{lock}");
        let run = sandbox.stackctl_with_helm(
            &helm,
            [
                "-C",
                &dir,
                "--format",
                "json",
                "validate",
                "envs",
                "--offline",
            ],
        );
        run.success();
        let found: Vec<(String, String)> = targets_of(&run.json())
            .into_iter()
            .map(|(target, release, _)| (target, release))
            .collect();
        let release = format!("region-{region}");
        assert_eq!(
            found,
            [
                ("envs/prod.yaml".to_string(), release.clone()),
                ("envs/staging.yaml".to_string(), release)
            ]
        );
        let rendered = sandbox.stackctl_with_helm(&helm, ["-C", &dir, "render", "envs/prod.yaml"]);
        rendered.success();
        assert!(
            rendered.stdout.contains(&format!("region: \"{region}\"")),
            "{}",
            rendered.all()
        );
        assert!(
            rendered.stdout.contains("replicas: \"3\""),
            "{}",
            rendered.all()
        );
    }
}

#[test]
fn region_wrappers_report_a_seeded_mistake_at_its_line_and_keep_the_oci_policy_when_on() {
    let sandbox = region_wrappers();
    let helm = support::helm4();
    sandbox
        .stackctl_with_helm(&helm, ["-C", "regions/eu", "deps", "update", "--offline"])
        .success();
    sandbox.write(
        "regions/eu/envs/prod.yaml",
        "app:\n  replicas: 3\n  replicas: 4\n",
    );
    let run = sandbox.stackctl_with_helm(
        &helm,
        [
            "-C",
            "regions/eu",
            "--format",
            "json",
            "validate",
            "envs",
            "--offline",
        ],
    );
    run.expect(1);
    assert_finding(&run, "values/duplicate-key", "envs/prod.yaml", 3);
    // With the policy on (the default), the file:// dependency is a finding at its line.
    sandbox.write("regions/eu/envs/prod.yaml", "app:\n  replicas: 3\n");
    sandbox.write(
        "regions/eu/stackctl.toml",
        "[envs]\ntargets = [\"*.yaml\"]\nlayers = [\"{file}\"]\n",
    );
    let policy = sandbox.stackctl_with_helm(
        &helm,
        [
            "-C",
            "regions/eu",
            "--format",
            "json",
            "validate",
            "envs",
            "--offline",
        ],
    );
    // The policy refuses to build the chart: the finding and that error are one report, the
    // exit code the error's.
    policy.expect(2);
    assert_finding(&policy, "deps/oci-only", "Chart.yaml", 7);
    let doc = policy.json();
    assert_eq!(
        (&doc["stopped"]["file"], &doc["stopped"]["line"]),
        (&serde_json::json!("Chart.yaml"), &serde_json::json!(7)),
        "{doc}"
    );
}

#[test]
fn a_chart_inside_the_envs_directory_is_not_taken_for_targets_and_is_warned_about() {
    let sandbox = chart_at_the_root(".");
    sandbox.write(
        "envs/tools/Chart.yaml",
        "apiVersion: v2\nname: tools\nversion: 0.1.0\n",
    );
    sandbox.write(
        "envs/tools/Chart.lock",
        "dependencies: []\ndigest: sha256:0\n",
    );
    sandbox.write(
        "envs/tools/templates/job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}\n",
    );
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        [
            "-v",
            "--format",
            "json",
            "validate",
            "envs",
            "aws",
            "--offline",
        ],
    );
    run.success();
    let targets: Vec<String> = targets_of(&run.json()).into_iter().map(|t| t.0).collect();
    assert_eq!(targets, ["envs/staging/web.yaml"], "{}", run.all());
    for part in [
        "warning: the envs directory envs contains the chart envs/tools",
        "envs/tools/Chart.yaml is a file of the chart envs/tools, not a values file: not a target",
        "envs/tools/templates/job.yaml is a file of the chart envs/tools",
    ] {
        assert!(run.stderr.contains(part), "lacks {part:?}:\n{}", run.stderr);
    }
}

#[test]
fn the_stack_layout_reports_a_seeded_mistake_at_its_line() {
    let sandbox = stack_layout();
    // The service chart's block written twice: helm keeps the second.
    sandbox.write(
        "envs/prod/eu.yaml",
        "api:\n  replicas: 3\napi:\n  replicas: 4\n",
    );
    let run = validate(&sandbox);
    run.expect(1);
    assert_finding(&run, "values/duplicate-key", "envs/prod/eu.yaml", 3);
}

#[test]
fn a_target_table_by_pattern_covers_a_new_env_file_and_the_most_specific_table_wins() {
    let sandbox = chart_at_the_root(".");
    sandbox.write("envs/staging/api.yaml", "image: nginx:1.28\n");
    sandbox.write(
        "stackctl.toml",
        "[chart]\npath = \".\"\n\n[targets.\"envs/*/*\"]\nrelease = \"any-{name}\"\nnamespace = \"{dir}\"\n\n[targets.\"envs/staging/*\"]\nrelease = \"{name}-staging\"\n\n[targets.\"envs/staging/web.yaml\"]\nrelease = \"www\"\n",
    );
    let run = validate(&sandbox);
    run.success();
    let found: Vec<(String, String)> = targets_of(&run.json())
        .into_iter()
        .map(|(target, release, _)| (target, release))
        .collect();
    // api.yaml has no table of its own: the staging pattern names it, over envs/*/*.
    assert_eq!(
        found,
        [
            (
                "envs/staging/api.yaml".to_string(),
                "api-staging".to_string()
            ),
            ("envs/staging/web.yaml".to_string(), "www".to_string()),
        ]
    );
    let values = sandbox.stackctl_with_helm(&support::helm4(), ["values", "envs/staging/web.yaml"]);
    values.success();
    assert!(
        values.stdout.contains(
            "# [targets] tables: \"envs/*/*\" → \"envs/staging/*\" → \"envs/staging/web.yaml\""
        ),
        "{}",
        values.all()
    );
    let rendered = sandbox.stackctl_with_helm(
        &support::helm4(),
        [
            "--format",
            "json",
            "render",
            "envs/staging/api.yaml",
            "--offline",
        ],
    );
    rendered.success();
    let doc = rendered.json();
    // The namespace comes from the least specific table: the others do not set it.
    assert_eq!(doc["namespace"], "staging", "{}", rendered.all());
    assert_eq!(
        doc["tables"],
        serde_json::json!(["envs/*/*", "envs/staging/*"]),
        "{}",
        rendered.all()
    );
    // A pattern that matches no env file is a stale table.
    sandbox.write(
        "stackctl.toml",
        "[chart]\npath = \".\"\n\n[targets.\"envs/stagin/*\"]\nrelease = \"x\"\n",
    );
    let stale =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    stale.expect(2);
    assert!(
        stale
            .stderr
            .contains("[targets.\"envs/stagin/*\"] matches no env file"),
        "{}",
        stale.all()
    );
}

#[test]
fn two_environments_of_a_layout_without_clouds_cannot_claim_one_host() {
    let sandbox = per_environment_directories();
    sandbox.write(
        "templates/ingress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  rules:\n    - host: {{ .Values.host }}\n      http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend:\n              service:\n                name: web\n                port:\n                  number: 80\n",
    );
    sandbox.write(
        "templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n",
    );
    sandbox.write(
        "values.yaml",
        "replicas: 1\nimage: nginx\nhost: app.example.com\n",
    );
    sandbox.write("environments/prod/values.yaml", "image: nginx:1.27\n");
    sandbox.write("environments/staging/values.yaml", "image: nginx:1.28\n");
    let run = validate_without_cloud(&sandbox);
    run.expect(1);
    // The host comes from a template line, not from a values key the rule knows.
    assert_finding(&run, "ingress/host-unique", "templates/ingress.yaml", 7);
    assert!(
        run.stdout
            .contains("environments/staging/values.yaml claims host app.example.com")
            && run
                .stdout
                .contains("which environments/prod/values.yaml also claims"),
        "{}",
        run.all()
    );
    // Only that finding: the Ingress's Service is rendered.
    assert_eq!(run.json()["summary"]["errors"], 1, "{}", run.all());
}

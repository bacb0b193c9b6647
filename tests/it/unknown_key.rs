//! `values/unknown-key` for charts without a `values.schema.json`: the keys a chart knows are
//! its defaults and what its templates read. A repository built from scratch: an umbrella
//! `charts/shop` over a service chart `charts/api`, neither with a schema.

use serde_json::Value;

use crate::support::{self, Run, Sandbox};

/// The env file every test seeds: a dead top-level key, a nested typo, a typo in the service
/// chart's block, and keys only templates read (none of them in a values.yaml).
const EU: &str = "\
replicas: 2
replicaCount: 3
ingress:
  hots: shop.example.com
feature-flags:
  beta: true
monitoring:
  interval: 30s
podLabels:
  team: web
api:
  image:
    tga: \"1.0.0\"
  extraEnv:
    LOG_LEVEL: debug
";

fn shop() -> Sandbox {
    let sandbox = Sandbox::empty();
    sandbox.write(
        "charts/api/Chart.yaml",
        "apiVersion: v2\nname: api\nversion: 1.2.0\n",
    );
    sandbox.write(
        "charts/api/values.yaml",
        "image:\n  repository: nginx\n  tag: \"\"\n",
    );
    sandbox.write(
        "charts/api/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-api\ndata:\n  image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.Version }}\"\n  {{- range $name, $value := .Values.extraEnv }}\n  {{ $name }}: {{ $value | quote }}\n  {{- end }}\n",
    );
    sandbox.write(
        "charts/shop/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n  - name: api\n    version: 1.2.0\n    repository: oci://registry.example.com/acme/charts\n    condition: api.enabled\n",
    );
    sandbox.write(
        "charts/shop/values.yaml",
        "replicas: 1\ningress:\n  enabled: false\n",
    );
    sandbox.write(
        "charts/shop/templates/_helpers.tpl",
        "{{/* The name, or nameOverride: {{ .Values.notAKey }} */}}\n{{- define \"shop.name\" -}}\n{{- default .Release.Name .Values.nameOverride -}}\n{{- end -}}\n",
    );
    sandbox.write(
        "charts/shop/templates/cm.yaml",
        concat!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"shop.name\" . }}\n",
            "  labels:\n    {{- toYaml .Values.podLabels | nindent 4 }}\n",
            "data:\n  replicas: {{ .Values.replicas | quote }}\n",
            "  host: {{ $.Values.ingress.host | default \"none\" | quote }}\n",
            "  beta: {{ index .Values \"feature-flags\" \"beta\" | default false | quote }}\n",
            "  {{- with .Values.monitoring }}\n  interval: {{ .interval | quote }}\n  {{- end }}\n",
        ),
    );
    sandbox.write("envs/aws.yaml", "replicas: 1\n");
    sandbox.write("envs/prod/eu.yaml", EU);
    sandbox.write(".gitignore", ".env\n*.secret.yaml\n/.stackctl/\n");
    sandbox
        .stackctl_with_helm(&support::helm4(), ["deps", "update", "--offline"])
        .success();
    sandbox
}

fn validate(sandbox: &Sandbox) -> Run {
    sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "envs", "aws", "--offline"],
    )
}

/// The line of `envs/prod/eu.yaml` that holds `text`.
fn line_of(text: &str) -> u64 {
    EU.lines().position(|l| l.contains(text)).unwrap() as u64 + 1
}

/// The `values/unknown-key` findings: path, file, line and hint.
fn unknown_keys(run: &Run) -> Vec<(String, String, u64, String)> {
    let doc = run.json();
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == "values/unknown-key")
        .map(|d| {
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                text(&d["path"]),
                text(&d["file"]),
                d["line"].as_u64().unwrap_or(0),
                text(&d["hint"]),
            )
        })
        .collect()
}

#[test]
fn without_a_schema_dead_and_misspelt_keys_are_reported_and_keys_templates_read_pass() {
    let sandbox = shop();
    let run = validate(&sandbox);
    run.expect(1);
    let found = unknown_keys(&run);
    let eu = "envs/prod/eu.yaml".to_string();
    let at: Vec<(&str, &str, u64)> = found
        .iter()
        .map(|(path, file, line, _)| (path.as_str(), file.as_str(), *line))
        .collect();
    assert_eq!(
        at,
        [
            ("/replicaCount", eu.as_str(), line_of("replicaCount")),
            ("/ingress/hots", eu.as_str(), line_of("hots")),
            ("/api/image/tga", eu.as_str(), line_of("tga")),
        ],
        "{}",
        run.all()
    );
    let hints: Vec<&str> = found.iter().map(|f| f.3.as_str()).collect();
    assert!(
        hints[0].starts_with("did you mean \"replicas\"?"),
        "{hints:?}"
    );
    assert!(hints[1].starts_with("did you mean \"host\"?"), "{hints:?}");
    assert!(hints[2].starts_with("did you mean \"tag\"?"), "{hints:?}");
    // Nothing else: feature-flags, monitoring, podLabels, ingress.host and api.extraEnv are
    // read by templates only, and api.enabled is the dependency's condition.
    let doc = run.json();
    assert_eq!(
        doc["diagnostics"].as_array().unwrap().len(),
        3,
        "{}",
        run.all()
    );

    // The same keys set right pass.
    sandbox.write(
        "envs/prod/eu.yaml",
        &EU.replace("replicaCount: 3\n", "")
            .replace("hots:", "host:")
            .replace("tga:", "tag:")
            .replace("api:\n", "api:\n  enabled: true\n"),
    );
    let run = validate(&sandbox);
    run.success();
}

#[test]
fn with_a_schema_the_schema_decides_and_a_dependency_without_one_is_still_checked() {
    let sandbox = shop();
    // The schema forbids unknown top-level keys but leaves `ingress` open: the nested typo
    // passes, whatever the templates read.
    sandbox.write(
        "charts/shop/values.schema.json",
        r#"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "global": {}, "api": {}, "replicas": {"type": "integer"}, "ingress": {"type": "object"},
    "feature-flags": {}, "monitoring": {}, "podLabels": {}, "nameOverride": {}
  }
}
"#,
    );
    let run = validate(&sandbox);
    run.expect(1);
    let found = unknown_keys(&run);
    let at: Vec<(&str, u64)> = found.iter().map(|f| (f.0.as_str(), f.2)).collect();
    assert_eq!(
        at,
        [
            ("/replicaCount", line_of("replicaCount")),
            ("/api/image/tga", line_of("tga")),
        ],
        "{}",
        run.all()
    );
    // The umbrella's finding comes from its schema; the service chart's from its templates.
    assert!(
        found[0].3.contains("charts/shop/values.schema.json"),
        "{:?}",
        found[0]
    );
    assert!(
        found[1].3.starts_with("did you mean \"tag\"?"),
        "{:?}",
        found[1]
    );
}

/// The chart `helm create` writes (no schema), with an env file setting every key its
/// scaffold offers: only the one misspelt key is reported. The scaffold's templates use
/// `with`, `toYaml`, `range`, `include` of helpers and `$` the way most charts do.
#[test]
fn the_helm_create_scaffold_knows_every_key_it_offers() {
    let sandbox = Sandbox::empty();
    let created = std::process::Command::new(support::helm4())
        .args(["create", "app"])
        .current_dir(sandbox.root())
        .env("HOME", sandbox.outside_repo("home"))
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    assert!(!sandbox.path("app/values.schema.json").exists());
    sandbox.write("stackctl.toml", "[chart]\npath = \"app\"\n");
    sandbox.write(".gitignore", ".env\n*.secret.yaml\n/.stackctl/\n");
    sandbox.write("envs/aws.yaml", "replicaCount: 2\n");
    let web = "\
image: {repository: nginx, tag: \"1.27\", pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
nameOverride: web
fullnameOverride: web-staging
serviceAccount: {create: true, automount: false, annotations: {team: web}, name: web}
podAnnotations: {a: b}
podLabels: {team: web}
podSecurityContext: {fsGroup: 2000}
securityContext: {runAsNonRoot: true}
service: {type: ClusterIP, port: 8080}
ingress:
  enabled: true
  className: nginx
  annotations: {x: y}
  hosts: [{host: web.example.com, paths: [{path: /, pathType: Prefix}]}]
  tls: []
httpRoute: {enabled: false}
resources: {limits: {cpu: 100m}}
livenessProbe: {httpGet: {path: /healthz, port: http}}
readinessProbe: {httpGet: {path: /ready, port: http}}
autoscaling: {enabled: true, minReplicas: 1, maxReplicas: 5, targetCPUUtilizationPercentage: 80, targetMemoryUtilizationPercentage: 80}
volumes: [{name: foo, emptyDir: {}}]
volumeMounts: [{name: foo, mountPath: /foo}]
nodeSelector: {disk: ssd}
tolerations: []
affinity: {nodeAffinity: {}}
serviceAcount: {create: false}
";
    sandbox.write("envs/staging/web.yaml", web);
    let run = validate(&sandbox);
    let found = unknown_keys(&run);
    let line = web
        .lines()
        .position(|l| l.starts_with("serviceAcount"))
        .unwrap() as u64
        + 1;
    assert_eq!(found.len(), 1, "{}", run.all());
    assert_eq!(
        (found[0].0.as_str(), found[0].1.as_str(), found[0].2),
        ("/serviceAcount", "envs/staging/web.yaml", line)
    );
    assert!(
        found[0].3.starts_with("did you mean \"serviceAccount\"?"),
        "{:?}",
        found[0]
    );
}

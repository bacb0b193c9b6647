//! `stackctl validate`: this repository passes; broken copies of it fail with the right rule
//! at the right file and line; every target is checked whatever fails.

use serde_json::Value;

use crate::support::{self, Sandbox};

/// Run `validate … --offline --format json` with `helm` and parse it.
fn validate_json_with(
    sandbox: &Sandbox,
    helm: &std::path::Path,
    args: &[&str],
) -> (i32, Value, String) {
    let run = sandbox.stackctl_with_helm(
        helm,
        [&["--format", "json", "validate"][..], args, &["--offline"]].concat(),
    );
    let doc = run.json();
    (run.code, doc, run.stderr)
}

#[test]
fn this_repository_passes_with_each_helm() {
    for (label, helm) in support::helms() {
        let sandbox = Sandbox::with_repo();
        let run = sandbox.stackctl_with_helm(&helm, ["--format", "json", "validate", "--offline"]);
        let doc: Value = run.json();
        assert_eq!(
            run.code,
            0,
            "{label}: {}\n{}",
            serde_json::to_string_pretty(&doc["diagnostics"]).unwrap(),
            run.stderr
        );
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["diagnostics"], serde_json::json!([]), "{label}");
        // 8 envs and 4 lifecycle variants.
        assert_eq!(doc["summary"]["targets"], 12, "{label}");
        assert_eq!(doc["summary"]["passed"], 12, "{label}");
        let names: Vec<&str> = doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["target"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"envs/prod/console.yaml") && names.contains(&"test-ci"),
            "{names:?}"
        );
        assert_golden_json(&format!("{label}-this-repository"), &sandbox, &doc);
    }
}

/// The JSON report, byte for byte, against its golden file in `tests/it/golden/` (timings
/// zeroed, the sandbox's path replaced): the contract refactors of the engine must keep.
/// `INSTA_UPDATE=always` rewrites the files after a deliberate change.
fn assert_golden_json(name: &str, sandbox: &Sandbox, doc: &Value) {
    let mut doc = doc.clone();
    zero_durations(&mut doc);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let root = sandbox.root().display().to_string();
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let name = slug.trim_end_matches('-');
    insta::with_settings!({
        snapshot_path => "golden",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        filters => vec![(regex::escape(&root).as_str(), "[ROOT]")],
    }, {
        insta::assert_snapshot!(name, text);
    });
}

fn zero_durations(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "duration_ms" {
                    *child = Value::from(0);
                } else {
                    zero_durations(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(zero_durations),
        _ => {}
    }
}

/// One mistake in a copy of the repository, and where stackctl must point.
struct Case {
    name: &'static str,
    file: &'static str,
    /// Replace the first occurrence of `old` by `new`; `old` empty means append `new`.
    old: &'static str,
    new: &'static str,
    rule: &'static str,
    /// Where the finding must be: `None` means the line of `file` holding the marker `#@`.
    at: Option<(&'static str, Option<usize>)>,
    /// Errors fail the run (exit 1); warnings alone do not (exit 0).
    exit: i32,
    /// What to validate: the envs of a cloud by default; the chart or everything for rules on
    /// the chart and its variants.
    args: &'static [&'static str],
    /// Files deleted from the copy before the change (a schema a chart does not ship).
    removed: &'static [&'static str],
}

const fn case(
    name: &'static str,
    file: &'static str,
    old: &'static str,
    new: &'static str,
    rule: &'static str,
) -> Case {
    Case {
        name,
        file,
        old,
        new,
        rule,
        at: None,
        exit: 1,
        args: &["envs", "aws"],
        removed: &[],
    }
}

const CONSOLE: &str = "envs/prod/console.yaml";

fn cases() -> Vec<Case> {
    vec![
        case(
            "umbrella schema: integer as string",
            CONSOLE,
            "    db: 0\n",
            "    db: \"zero\" #@\n",
            "values/schema",
        ),
        case(
            "umbrella schema: enum",
            CONSOLE,
            "",
            "\nappConfigMap:\n  environment: PROD #@\n",
            "values/schema",
        ),
        case(
            "umbrella schema: hosts as a list",
            CONSOLE,
            "  hosts:\n    console.jetscale.ai: []",
            "  hosts: #@\n    - console.jetscale.ai",
            "values/schema",
        ),
        case(
            "nested unknown key",
            CONSOLE,
            "  awsRegion: us-east-1\n",
            "  awsRegoin: us-east-1 #@\n",
            "values/unknown-key",
        ),
        case(
            "dead top-level backend key",
            CONSOLE,
            "",
            "\nbackend: #@\n  replicaCount: 1\n",
            "values/unknown-key",
        ),
        case(
            "dead apiExternal key",
            CONSOLE,
            "",
            "\napiExternal: #@\n  enabled: false\n",
            "values/unknown-key",
        ),
        case(
            "subchart schema: replicaCount",
            CONSOLE,
            "  replicaCount: 3\n",
            "  replicaCount: \"three\" #@\n",
            "values/schema",
        ),
        case(
            "subchart schema: envFrom as a list",
            CONSOLE,
            "  envFrom:\n    config: configMapRef\n    db-secret: secretRef\n    common-secrets: secretRef\n    redis-secret: secretRef\n    aws-client-secret: secretRef\n    app-secrets: false\n",
            "  envFrom: #@\n    - config\n",
            "values/schema",
        ),
        case(
            "subchart schema: frontend replicas",
            CONSOLE,
            "frontend:\n  replicaCount: 3\n",
            "frontend:\n  replicaCount: -1 #@\n",
            "values/schema",
        ),
        Case {
            // Without its schema, the frontend chart's known keys are its defaults and what
            // its templates read.
            removed: &["charts/frontend/values.schema.json"],
            ..case(
                "a misspelt key for a dependency without a schema",
                CONSOLE,
                "frontend:\n  replicaCount: 3\n",
                "frontend:\n  replicaCont: 3 #@\n",
                "values/unknown-key",
            )
        },
        // One mistake, one finding: the typo, not the eight pods it leaves reading Secrets
        // nothing renders (folded under it as consequences, in the golden file).
        case(
            "a top-level typo and what it breaks",
            CONSOLE,
            "externalSecret:\n  enabled: true\n",
            "externalSecrets: #@\n  enabled: true\n",
            "values/unknown-key",
        ),
        case(
            "a misspelt key of a dependency with a schema",
            CONSOLE,
            "  replicaCount: 3\n",
            "  replicaCont: 3 #@\n",
            "values/unknown-key",
        ),
        case(
            "a ConfigMap envFrom nothing provides",
            CONSOLE,
            "    config: configMapRef\n",
            "    config: configMapRef\n    feature-flags: configMapRef #@\n",
            "render/dangling-reference",
        ),
        case(
            "a ConfigMap volume nothing provides",
            CONSOLE,
            "  # 512Mi was not enough",
            "  volumes:\n    - name: flags #@\n      configMap:\n        name: jetscale-console-flags\n  # 512Mi was not enough",
            "render/dangling-reference",
        ),
        case(
            "a PersistentVolumeClaim nothing provides",
            CONSOLE,
            "  # 512Mi was not enough",
            "  volumes:\n    - name: data #@\n      persistentVolumeClaim:\n        claimName: jetscale-console-data\n  # 512Mi was not enough",
            "render/dangling-reference",
        ),
        case(
            "mis-keyed cronjob override",
            CONSOLE,
            "    discover-aws:\n      schedule: \"0 */4 * * *\"\n",
            "    discover-aws-resources: #@\n      suspend: true\n",
            "values/keyed-map-override",
        ),
        case(
            "suspend-only cronjob where there are no defaults",
            CONSOLE,
            "  # 512Mi was not enough",
            "  cronJobs:\n    pull-ce: #@\n      suspend: true\n  # 512Mi was not enough",
            "values/keyed-map-override",
        ),
        case(
            "a schedule override under a name like no default's",
            CONSOLE,
            "    pull-co:\n      schedule: \"45 */12 * * *\"\n",
            "    pull-co-recommendations: #@\n      schedule: \"45 */12 * * *\"\n      suspend: false\n",
            "values/keyed-map-override",
        ),
        case(
            "image tag drift",
            CONSOLE,
            "    tag: \"4.6.12\"\n",
            "    tag: \"4.6.11\" #@\n",
            "images/tag-matches-chart",
        ),
        case(
            "image without a tag",
            CONSOLE,
            "    repository: ghcr.io/jetscale-ai/frontend\n    tag: \"2.7.1\"\n",
            "    repository: ghcr.io/jetscale-ai/frontend #@\n",
            "images/tag-matches-chart",
        ),
        case(
            "tag drift in preview",
            "envs/preview/preview.yaml",
            "    tag: \"2.7.1\"\n",
            "    tag: \"2.6.0\" #@\n",
            "images/tag-matches-chart",
        ),
        Case {
            at: Some(("charts/jetscale/templates/ingress.yaml", None)),
            ..case(
                "template failure: no ingress host",
                CONSOLE,
                "  hosts:\n    console.jetscale.ai: []",
                "  hosts: null",
                "render/helm-error",
            )
        },
        case(
            "yaml syntax error",
            "envs/prod/demo.yaml",
            "  client_name: jetscale\n",
            "  client_name: jetscale: demo #@\n",
            "values/syntax",
        ),
        case(
            "yaml syntax error in the cloud layer",
            "envs/aws.yaml",
            "ingress:\n",
            "ingress: bad: value #@\n",
            "values/syntax",
        ),
        case(
            "duplicate key",
            CONSOLE,
            "",
            "\npostgres: #@\n  enabled: false\n",
            "values/duplicate-key",
        ),
        Case {
            // The app-secrets default it meant to drop stays, and nothing renders that Secret.
            exit: 1,
            ..case(
                "empty map override",
                CONSOLE,
                "  envFrom:\n    config: configMapRef\n    db-secret: secretRef\n    common-secrets: secretRef\n    redis-secret: secretRef\n    aws-client-secret: secretRef\n    app-secrets: false\n",
                "  envFrom: {} #@\n",
                "values/noop-empty-map",
            )
        },
        case(
            "map default replaced by a list",
            CONSOLE,
            "  resources:\n    requests:\n      cpu: 250m\n      memory: 512Mi\n    limits:\n      cpu: 1000m\n      memory: 1Gi\n",
            "  resources: [] #@\n",
            "values/type-change",
        ),
        Case {
            // The marker would read as the reason: the line is given instead.
            at: Some((CONSOLE, Some(11))),
            ..case(
                "suppression without a reason",
                CONSOLE,
                "  awsRegion: us-east-1\n",
                "  awsRegion: us-east-1 # stackctl:ignore values/schema\n",
                "suppress/missing-reason",
            )
        },
        Case {
            exit: 0,
            ..case(
                "unused suppression",
                CONSOLE,
                "  awsRegion: us-east-1\n",
                "  awsRegion: us-east-1 # stackctl:ignore values/schema nothing to hide #@\n",
                "suppress/unused",
            )
        },
        case(
            "envFrom secret nothing provides",
            CONSOLE,
            "    app-secrets: false\n",
            "    app-secrets: false\n    extra-secret: secretRef #@\n",
            "render/dangling-reference",
        ),
        case(
            "a ServiceAccount the chart no longer creates",
            CONSOLE,
            "    create: true\n    name: jetscale-console-api-service-account\n",
            "    create: false\n    name: jetscale-console-api-service-account #@\n",
            "render/dangling-reference",
        ),
        case(
            "a pull secret nothing provides",
            CONSOLE,
            "  imagePullSecrets:\n    - name: ghcr-registry-secret\n  env:\n",
            "  imagePullSecrets:\n    - name: ghcr-pull-secret #@\n  env:\n",
            "render/dangling-reference",
        ),
        case(
            "a Secret volume nothing provides",
            CONSOLE,
            "  # 512Mi was not enough",
            "  volumes:\n    - name: tls #@\n      secret:\n        secretName: jetscale-console-tls\n  # 512Mi was not enough",
            "render/dangling-reference",
        ),
        Case {
            at: Some(("charts/jetscale/templates/zz-extra.yaml", None)),
            ..case(
                "two objects with one name",
                "charts/jetscale/templates/zz-extra.yaml",
                "",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n",
                "render/duplicate-object",
            )
        },
        case(
            "two aliases of one chart with one full name",
            CONSOLE,
            "  # 512Mi was not enough",
            "  fullnameOverride: jetscale-console-backend-api #@\n  # 512Mi was not enough",
            "render/duplicate-object",
        ),
        case(
            "a preview CronJob left running",
            "envs/preview/preview.yaml",
            "    pull-ce:\n      suspend: true\n",
            "    pull-ce:\n      suspend: false #@\n",
            "preview/cronjobs-suspended",
        ),
        case(
            "a preview CronJob override that forgets suspend",
            "envs/preview/preview.yaml",
            "    pull-ce:\n      suspend: true\n",
            "    pull-ce: #@\n      schedule: \"0 4 * * *\"\n",
            "preview/cronjobs-suspended",
        ),
        case(
            "one staging env with another global.env",
            "envs/staging/link4.yaml",
            "  client_name: link4\n",
            "  client_name: link4\n  env: stage #@\n",
            "envs/consistent-env",
        ),
        case(
            "an HTTP-only load balancer",
            "envs/aws.yaml",
            "    alb.ingress.kubernetes.io/listen-ports: '[{\"HTTP\": 80}, {\"HTTPS\": 443}]'\n",
            "    alb.ingress.kubernetes.io/listen-ports: '[{\"HTTP\": 80}]' #@\n",
            "ingress/tls",
        ),
        case(
            "no redirect to HTTPS",
            "envs/aws.yaml",
            "    alb.ingress.kubernetes.io/ssl-redirect: \"443\"\n",
            "    alb.ingress.kubernetes.io/ssl-redirect: \"80\" #@\n",
            "ingress/tls",
        ),
        case(
            "another certificate in demo",
            "envs/prod/demo.yaml",
            "certificate/6e3e7f72-af8e-457d-a397-8f13728dd06c\n",
            "certificate/00000000-0000-0000-0000-000000000000 #@\n",
            "ingress/parity",
        ),
        case(
            "ExternalDNS publishing another host",
            CONSOLE,
            "    external-dns.alpha.kubernetes.io/hostname: console.jetscale.ai\n",
            "    external-dns.alpha.kubernetes.io/hostname: demo.jetscale.ai #@\n",
            "ingress/parity",
        ),
        case(
            "a staging env copied with another env's host",
            "envs/staging/link4.yaml",
            "    external-dns.alpha.kubernetes.io/hostname: link4.staging.jetscale.ai\n  hosts:\n    link4.staging.jetscale.ai: []\n",
            "    external-dns.alpha.kubernetes.io/hostname: bridgit.staging.jetscale.ai\n  hosts:\n    bridgit.staging.jetscale.ai: [] #@\n",
            "ingress/host-unique",
        ),
        case(
            "frontend calling the API over plain HTTP",
            CONSOLE,
            "    VITE_API_BASE_URL: https://console.jetscale.ai\n",
            "    VITE_API_BASE_URL: http://console.jetscale.ai #@\n",
            "ingress/parity",
        ),
        case(
            "a request above its limit",
            CONSOLE,
            "    requests:\n      cpu: 250m\n",
            "    requests:\n      cpu: 2500m #@\n",
            "render/resources",
        ),
        // The chart cannot be built in link mode: the report says so beside the finding
        // that explains it, with the error's exit code.
        Case {
            exit: 2,
            ..case(
                "file:// dependency",
                "charts/jetscale/Chart.yaml",
                "    repository: oci://ghcr.io/jetscale-ai/charts\n",
                "    repository: file://../backend #@\n",
                "deps/oci-only",
            )
        },
        case(
            "an object name with an underscore",
            "charts/jetscale/templates/ext-secret-common.yaml",
            "  name: {{ .Release.Name }}-common-secrets\n",
            "  name: {{ .Release.Name }}_common_secrets #@\n",
            "render/name-too-long",
        ),
        case(
            "a six-field (Quartz-style) schedule",
            CONSOLE,
            "      schedule: \"0 */4 * * *\"\n",
            "      schedule: \"0 0 */4 * * *\" #@\n",
            "render/cronjob-schedule",
        ),
        case(
            "a secret path built from a misspelt prefix key",
            "charts/jetscale/templates/ext-secret-common.yaml",
            "        key: {{ include \"jetscale.secretPath\" (dict \"path\" (printf \"%s/application/encryption_key\" (include \"jetscale.aws-name-prefix\" .)) \"what\" \"externalSecret.common\") }}\n",
            "        key: {{ printf \"%s/application/encryption_key\" (.Values.externalSecret.secretPrefix | default \"\") }} #@\n",
            "render/external-secret-key",
        ),
        Case {
            args: &["chart"],
            ..case(
                "an IRSA role hard-coded in a template",
                "charts/jetscale/templates/serviceaccount-external-secrets.yaml",
                "    helm.sh/resource-policy: keep\n",
                "    helm.sh/resource-policy: keep\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/external-secrets #@\n",
                "chart/agnostic",
            )
        },
        Case {
            args: &["chart"],
            ..case(
                "a test variant pointing at another release's database",
                "charts/jetscale/values.test.ci.yaml",
                "    JETSCALE_DB_HOST: jetscale-ci-postgres\n",
                "    JETSCALE_DB_HOST: jetscale-test-postgres #@\n",
                "variants/release-hosts",
            )
        },
        // secrets
        case(
            "a GitHub token pasted into an env file",
            CONSOLE,
            "    VITE_API_BASE_URL: https://console.jetscale.ai\n",
            concat!(
                "    VITE_API_BASE_URL: https://console.jetscale.ai\n",
                "    GITHUB_TOKEN: gh",
                "p_0FAKE0token0for0stackctl0tests0Ab123 #@\n"
            ),
            "secrets/literal",
        ),
        case(
            "an AWS secret key under a password key",
            CONSOLE,
            "backend-api:\n  replicaCount: 3\n",
            concat!(
                "backend-api:\n  replicaCount: 3\n  env:\n",
                "    JETSCALE_DB_PASSWORD: wJa1rXUtnF",
                "AKE/K7MDENG/bPxRfiCYfake0KEY00 #@\n"
            ),
            "secrets/literal",
        ),
        case(
            "a secret in the cloud layer every env applies",
            "envs/aws.yaml",
            "  annotations:\n",
            concat!(
                "  annotations:\n",
                "    auth.jetscale.ai/token: sk_live_",
                "0FAKE0stripe0key0Ab12 #@\n"
            ),
            "secrets/literal",
        ),
        Case {
            at: Some((".gitignore", Some(gitignore_lines() - 1))),
            ..case(
                "a .gitignore that no longer ignores .env",
                ".gitignore",
                ".env\n",
                "",
                "secrets/gitignore",
            )
        },
        // k8s schema
        case(
            "a misspelled field in a template",
            "charts/jetscale/templates/job-db-bootstrap.yaml",
            "          imagePullPolicy: IfNotPresent\n",
            "          imagePullPolicyy: IfNotPresent #@\n",
            "render/k8s-schema",
        ),
        case(
            "a probe field one level too high in values",
            CONSOLE,
            "  # Overrides keyed exactly as the chart's defaults.",
            "  livenessProbe:\n    httpGet:\n      port: http\n    path: /health #@\n  # Overrides keyed exactly as the chart's defaults.",
            "render/k8s-schema",
        ),
        case(
            "a probe period as a string in values",
            CONSOLE,
            "  # Overrides keyed exactly as the chart's defaults.",
            "  livenessProbe:\n    tcpSocket:\n      port: http\n    periodSeconds: \"ten\" #@\n  # Overrides keyed exactly as the chart's defaults.",
            "render/k8s-schema",
        ),
        case(
            "an Ingress under a removed API version",
            "charts/jetscale/templates/zz-legacy.yaml",
            "",
            "apiVersion: extensions/v1beta1 #@\nkind: Ingress\nmetadata:\n  name: {{ .Release.Name }}-legacy\nspec:\n  backend:\n    serviceName: x\n    servicePort: 80\n",
            "render/k8s-schema",
        ),
    ]
}

/// Lines of this repository's `.gitignore`.
fn gitignore_lines() -> usize {
    std::fs::read_to_string(support::repo_root().join(".gitignore"))
        .unwrap()
        .lines()
        .count()
}

fn apply(sandbox: &Sandbox, case: &Case) -> Option<usize> {
    for file in case.removed {
        std::fs::remove_file(sandbox.path(file))
            .unwrap_or_else(|e| panic!("{}: remove {file}: {e}", case.name));
    }
    let text = std::fs::read_to_string(sandbox.path(case.file)).unwrap_or_default();
    let changed = if case.old.is_empty() {
        format!("{text}{}", case.new)
    } else {
        assert!(
            text.contains(case.old),
            "{}: {} does not contain {:?}",
            case.name,
            case.file,
            case.old
        );
        text.replacen(case.old, case.new, 1)
    };
    sandbox.write(case.file, &changed);
    changed
        .lines()
        .position(|l| l.contains("#@"))
        .map(|i| i + 1)
}

#[test]
fn each_broken_repository_is_reported_at_its_line() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let wide = repository_wide_rules();
    assert!(wide.iter().any(|r| r == "lock/missing"), "{wide:?}");
    let mut failures = Vec::new();
    for (label, helm) in support::helms() {
        for case in &cases {
            let sandbox = Sandbox::with_repo();
            let marker = apply(&sandbox, case);
            let (file, line) = match case.at {
                Some((file, line)) => (file, line),
                None => (case.file, Some(marker.expect("marker line"))),
            };
            let (code, doc, stderr) = validate_json_with(&sandbox, &helm, case.args);
            assert_golden_json(&format!("{label}-{}", case.name), &sandbox, &doc);
            for finding in unlocated(&doc, &wide) {
                failures.push(format!(
                    "{label} {}: a finding without a line: {finding}",
                    case.name
                ));
            }
            let diagnostics = doc["diagnostics"].as_array().cloned().unwrap_or_default();
            // The rule's finding, or one folded under the finding of the mistake that causes
            // it (a wrong value's render error under the value's schema error).
            let at = |d: &Value| {
                d["rule"] == case.rule && d["file"] == file && line.is_none_or(|l| d["line"] == l)
            };
            let hit = diagnostics.iter().any(|d| {
                at(d)
                    || d["consequences"]
                        .as_array()
                        .is_some_and(|folded| folded.iter().any(at))
            });
            if !hit || code != case.exit {
                failures.push(format!(
                "{label} {}: expected {} at {file}:{line:?} with exit {}, got exit {code}:\n{}\n{stderr}",
                case.name,
                case.rule,
                case.exit,
                serde_json::to_string_pretty(&diagnostics).unwrap()
            ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The rules `docs/rules.md` documents as repository-wide (`**Scope:** repository`): about the
/// repository as a whole, their findings may have no line.
fn repository_wide_rules() -> Vec<String> {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
        .expect("docs/rules.md");
    let mut wide = Vec::new();
    let mut rule = None;
    for line in docs.lines() {
        if let Some(id) = line.strip_prefix("## `").and_then(|l| l.strip_suffix('`')) {
            rule = Some(id.to_string());
        } else if line.contains("**Scope:** repository.")
            && let Some(id) = rule.take()
        {
            wide.push(id);
        }
    }
    wide
}

/// Every finding a case reports, whatever rule made it, has a file and a line, unless its
/// rule is documented as repository-wide. Findings folded under another are exempt: the
/// finding they come with is located.
fn unlocated(doc: &Value, wide: &[String]) -> Vec<String> {
    doc["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["file"].is_null() || d["line"].is_null())
        .filter(|d| !wide.iter().any(|w| d["rule"] == w.as_str()))
        .map(|d| format!("{}: {}", d["rule"], d["message"]))
        .collect()
}

#[test]
fn a_top_level_typo_is_one_finding_with_the_eight_errors_it_causes_folded_under_it() {
    let sandbox = Sandbox::with_repo();
    let console = sandbox
        .read(CONSOLE)
        .replacen("externalSecret:\n", "externalSecrets:\n", 1);
    sandbox.write(CONSOLE, &console);
    let (code, doc, stderr) = validate_json_with(&sandbox, &support::helm4(), &["envs", "aws"]);
    assert_eq!(code, 1, "{stderr}");
    // One error counted, one finding listed: the typo, with its did-you-mean.
    assert_eq!(doc["summary"]["errors"], 1, "{doc:#}");
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{doc:#}");
    let typo = &diagnostics[0];
    assert_eq!(
        (&typo["rule"], &typo["file"], &typo["line"]),
        (
            &Value::from("values/unknown-key"),
            &Value::from(CONSOLE),
            &Value::from(9)
        )
    );
    assert!(
        typo["hint"]
            .as_str()
            .unwrap()
            .contains("did you mean \"externalSecret\"")
    );
    let consequences = typo["consequences"].as_array().unwrap();
    assert_eq!(consequences.len(), 8, "{typo:#}");
    assert!(
        consequences
            .iter()
            .all(|c| c["rule"] == "render/dangling-reference")
    );
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    assert!(
        run.stdout
            .contains("and 8 consequences, gone once this is fixed: render/dangling-reference ×8"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 error, 0 warnings"), "{}", run.stdout);
}

#[test]
fn two_broken_envs_are_both_reported_and_the_others_still_pass() {
    for (_label, helm) in support::helms() {
        let sandbox = Sandbox::with_repo();
        let demo = sandbox.read("envs/prod/demo.yaml").replacen(
            "  client_name: jetscale\n",
            "  client_name: [\n",
            1,
        );
        sandbox.write("envs/prod/demo.yaml", &demo);
        let link4 = sandbox.read("envs/staging/link4.yaml") + "\nbackend:\n  x: 1\n";
        sandbox.write("envs/staging/link4.yaml", &link4);
        let (code, doc, _) = validate_json_with(&sandbox, &helm, &["envs", "aws"]);
        assert_eq!(code, 1);
        let status = |name: &str| {
            doc["targets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["target"] == name)
                .map(|t| t["status"].as_str().unwrap().to_string())
                .unwrap()
        };
        assert_eq!(status("envs/prod/demo.yaml"), "failed");
        assert_eq!(status("envs/staging/link4.yaml"), "failed");
        for passing in [
            "envs/prod/console.yaml",
            "envs/preview/preview.yaml",
            "envs/staging/jetscale.yaml",
        ] {
            assert_eq!(status(passing), "passed", "{passing}");
        }
        assert_eq!(doc["summary"]["failed"], 2);
        assert_eq!(doc["summary"]["passed"], 6);
    }
}

#[test]
fn a_missing_cloud_file_says_what_exists() {
    let sandbox = Sandbox::with_repo();
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "gcp", "--offline"]);
    assert_eq!(run.code, 2);
    let stderr = run.stderr;
    assert!(stderr.contains("envs/gcp.yaml"), "{stderr}");
    assert!(
        stderr.contains("clouds in this repository: aws"),
        "{stderr}"
    );
}

#[test]
fn an_empty_envs_dir_says_what_is_expected() {
    let sandbox = Sandbox::with_repo();
    std::fs::remove_dir_all(sandbox.path("envs")).unwrap();
    sandbox.write("envs/aws.yaml", "{}\n");
    let run =
        sandbox.stackctl_with_helm(&support::helm4(), ["validate", "envs", "aws", "--offline"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no environments found"));
}

/// Human output of one broken copy, with timings filtered out.
fn human_output(file: &str, old: &str, new: &str) -> String {
    let sandbox = Sandbox::with_repo();
    let text = sandbox.read(file);
    assert!(text.contains(old), "{file} does not contain {old:?}");
    sandbox.write(file, &text.replacen(old, new, 1));
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--color", "never", "validate", "envs", "aws", "--offline"],
    );
    run.expect(1);
    run.stdout
}

macro_rules! assert_human_snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({filters => vec![
            // The summary's total, then each target's time: milliseconds under a second,
            // seconds above (a loaded machine takes over a second per target).
            (r"\(\d+(?:\.\d+)? m?s\)", "([T] s)"),
            (r"\b\d+(?:\.\d+)? m?s\b", "[N] ms"),
        ]}, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

#[test]
fn human_output_of_a_schema_error_shows_the_line_caret_and_layers() {
    let text = human_output(CONSOLE, "    db: 0\n", "    db: \"zero\"\n");
    assert!(text.contains("--> envs/prod/console.yaml:21:5"), "{text}");
    assert!(
        text.contains("= layers: envs/aws.yaml → envs/prod/default.yaml → envs/prod/console.yaml"),
        "{text}"
    );
    assert_human_snapshot!("human-schema-error", text);
}

#[test]
fn human_output_of_a_helm_template_error_shows_the_template_and_layers() {
    let text = human_output(
        CONSOLE,
        "  hosts:\n    console.jetscale.ai: []",
        "  hosts: null",
    );
    assert!(
        text.contains("charts/jetscale/templates/ingress.yaml"),
        "{text}"
    );
    assert_human_snapshot!("human-helm-error", text);
}

#[test]
fn human_output_of_a_yaml_syntax_error_shows_the_line() {
    let text = human_output(
        "envs/prod/demo.yaml",
        "  client_name: jetscale\n",
        "  client_name: jetscale: demo\n",
    );
    assert!(text.contains("--> envs/prod/demo.yaml:5:"), "{text}");
    assert_human_snapshot!("human-yaml-error", text);
}

#[test]
fn render_prints_the_manifests_validate_renders() {
    for (_label, helm) in support::helms() {
        let sandbox = Sandbox::with_repo();
        let run =
            sandbox.stackctl_with_helm(&helm, ["render", "envs/prod/console.yaml", "--offline"]);
        run.expect(0);
        let objects = stackctl::helm::split_manifest(&run.stdout).unwrap();
        let names: Vec<(String, String)> = objects
            .iter()
            .map(|o| (o.kind().to_string(), o.name().to_string()))
            .collect();
        for expected in [
            ("Deployment", "jetscale-console-backend-api"),
            ("Deployment", "jetscale-console-backend-ws"),
            ("Service", "jetscale-console-frontend"),
            ("Ingress", "jetscale-console"),
            ("ConfigMap", "jetscale-console-config"),
            (
                "CronJob",
                "jetscale-console-backend-api-generate-from-discovery",
            ),
        ] {
            assert!(
                names.contains(&(expected.0.to_string(), expected.1.to_string())),
                "{expected:?} not in {names:?}"
            );
        }
        // The layer chain goes to stderr so stdout stays a clean manifest.
        assert!(
            run.stderr
                .contains("envs/aws.yaml → envs/prod/default.yaml → envs/prod/console.yaml")
        );

        // A variant by name renders with its own release.
        let run = sandbox.stackctl_with_helm(&helm, ["render", "test-ci", "--offline"]);
        run.expect(0);
        assert!(run.stdout.contains("name: jetscale-ci-backend-api"));
    }
}

#[test]
fn values_annotates_leaves_and_explains_one_path_layer_by_layer() {
    for (_label, helm) in support::helms() {
        let sandbox = Sandbox::with_repo();
        let run = sandbox.stackctl_with_helm(&helm, ["values", "envs/prod/console.yaml"]);
        run.expect(0);
        let text = run.stdout;
        assert!(
            text.contains("awsSecretPrefix: \"jetscale-prod\"  # envs/prod/console.yaml:12"),
            "{text}"
        );
        assert!(
            text.contains("className: \"alb\"  # envs/aws.yaml:"),
            "{text}"
        );

        // One path's history as JSON, and the files of its layers in the order given.
        let history = |path: &str| {
            let run = sandbox.stackctl_with_helm(
                &helm,
                [
                    "--format",
                    "json",
                    "values",
                    "envs/prod/console.yaml",
                    "--path",
                    path,
                ],
            );
            run.expect(0);
            let doc: Value = run.json();
            let files: Vec<String> = doc["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["file"].as_str().unwrap().to_string())
                .collect();
            (doc, files)
        };
        let (doc, files) = history("global.env");
        let layers = doc["layers"].as_array().unwrap();
        assert_eq!(
            files,
            vec![
                "charts/jetscale/values.yaml",
                "envs/aws.yaml",
                "envs/prod/default.yaml",
                "envs/prod/console.yaml"
            ]
        );
        // Every layer's say, set or not, and exactly one winner: the env file.
        assert_eq!(layers[0]["value"], "prod");
        assert_eq!(layers[1]["value"], Value::Null);
        assert_eq!(layers[3]["value"], "prod");
        let winners: Vec<usize> = layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l["winner"] == true)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners, vec![3]);
        assert_eq!(doc["value"], "prod");

        let run = sandbox.stackctl_with_helm(
            &helm,
            ["values", "envs/prod/console.yaml", "--path", "global.env"],
        );
        let text = run.stdout;
        assert!(
            text.contains("envs/aws.yaml")
                && text.contains("(not set)")
                && text.contains("<- wins"),
            "{text}"
        );

        // A subchart's value: its own values.yaml is the lowest layer, listed first.
        let (doc, files) = history("backend-api.replicaCount");
        assert_eq!(
            files,
            vec![
                "charts/jetscale/charts/backend-4.6.12.tgz/values.yaml",
                "charts/jetscale/values.yaml",
                "envs/aws.yaml",
                "envs/prod/default.yaml",
                "envs/prod/console.yaml"
            ]
        );
        assert_eq!(doc["layers"][4]["winner"], true);
    }
}

#[test]
fn validate_chart_reports_helm_lint_findings_in_the_chart() {
    for (_label, helm) in support::helms() {
        let sandbox = Sandbox::with_repo();
        sandbox.write(
            "charts/jetscale/templates/zz-broken.yaml",
            "metadata:\n  name: x\n    labels: y\n",
        );
        let (code, doc, stderr) = validate_json_with(&sandbox, &helm, &["chart"]);
        assert_eq!(code, 1, "{stderr}");
        let diagnostics = doc["diagnostics"].as_array().unwrap();
        assert!(
            diagnostics.iter().any(|d| d["rule"] == "chart/lint"
                && d["file"] == "charts/jetscale/templates/zz-broken.yaml"),
            "{}",
            serde_json::to_string_pretty(diagnostics).unwrap()
        );
    }
}

#[test]
fn validate_chart_finds_cloud_literals_in_templates() {
    let sandbox = Sandbox::with_repo();
    let file = "charts/jetscale/templates/zz-aws.yaml";
    sandbox.write(
        file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-aws\n  annotations:\n    eks.amazonaws.com/role-arn: x\n",
    );
    let (code, doc, stderr) = validate_json_with(&sandbox, &support::helm4(), &["chart"]);
    assert_eq!(code, 1, "{stderr}");
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics.iter().any(|d| d["rule"] == "chart/agnostic"
            && d["file"] == file
            && d["line"] == 6
            && d["column"] == 5),
        "{}",
        serde_json::to_string_pretty(diagnostics).unwrap()
    );
}

#[test]
fn secret_literals_are_masked_in_every_format_reported_once_and_suppressible() {
    let helm = support::helm4();
    let sandbox = Sandbox::with_repo();
    // Fake, in a real token's shape; and a password too short for the redaction list.
    let token = ["gh", "p_", "0FAKE0token0for0stackctl0tests0Ab123"].concat();
    let password = "Pw9x!";
    let aws = sandbox.read("envs/aws.yaml");
    let aws = aws.replacen(
        "  annotations:\n",
        &format!("  annotations:\n    auth.jetscale.ai/token: {token}\n"),
        1,
    );
    let token_line = aws.lines().position(|l| l.contains(&token)).unwrap() + 1;
    sandbox.write("envs/aws.yaml", &aws);
    // A password holding `"` and `\\`, which messages and reports quote escaped; and weak
    // "secrets" that are ordinary words of the repository (`jetscale` names the release, and
    // `default` a layer and SARIF's `defaultConfiguration`), one of them suppressed.
    let url_password = r#"Pa&ss"w0rd9\x"#;
    let console = sandbox
        .read(CONSOLE)
        .replacen(
            "postgres:\n  enabled: false\n",
            &format!("postgres:\n  enabled: false\n  auth:\n    password: {password}\n"),
            1,
        )
        .replacen(
            "    VITE_API_BASE_URL: https://console.jetscale.ai\n",
            &format!(
                "    VITE_API_BASE_URL: 'https://admin:{url_password}@console.jetscale.ai'\n    \
                 SMTP_PASSWORD: jetscale\n    \
                 # stackctl:ignore secrets/literal the name of a credentials profile\n    \
                 AWS_CREDENTIALS: default\n"
            ),
            1,
        );
    let url_line = console.lines().position(|l| l.contains("w0rd9")).unwrap() + 1;
    sandbox.write(CONSOLE, &console);

    for format in ["human", "json", "sarif", "junit", "github"] {
        let run = sandbox.stackctl_with_helm(
            &helm,
            [
                "--color",
                "never",
                "--format",
                format,
                "validate",
                "envs",
                "aws",
                "--offline",
            ],
        );
        assert_eq!(run.code, 1, "{format}");
        let all = run.all();
        assert!(!all.contains(&token), "{format} printed the token:\n{all}");
        assert!(
            !all.contains(password),
            "{format} printed the password:\n{all}"
        );
        assert!(
            all.contains("ghp_… (40 chars)"),
            "{format}: the masked token is not shown:\n{all}"
        );
        assert!(
            !all.contains("w0rd9"),
            "{format} printed the URL's password:\n{all}"
        );
        for mangled in [
            "[REDACTED].yaml",
            "[REDACTED]Configuration",
            "[REDACTED]-console",
        ] {
            assert!(
                !all.contains(mangled),
                "{format} redacted an ordinary word ({mangled}):\n{all}"
            );
        }
        if format == "sarif" {
            let doc: Value = run.json();
            assert!(
                doc["runs"][0]["tool"]["driver"]["rules"][0]
                    .get("defaultConfiguration")
                    .is_some()
            );
        }
    }

    // One file, one finding: envs/aws.yaml is applied by every env.
    let (code, doc, stderr) = validate_json_with(&sandbox, &helm, &["envs", "aws"]);
    assert_eq!(code, 1, "{stderr}");
    let literals: Vec<&Value> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == "secrets/literal")
        .collect();
    let mut at: Vec<(&str, u64)> = literals
        .iter()
        .map(|d| (d["file"].as_str().unwrap(), d["line"].as_u64().unwrap()))
        .collect();
    at.sort();
    assert_eq!(
        at,
        vec![
            ("envs/aws.yaml", token_line as u64),
            (CONSOLE, 33),
            (CONSOLE, url_line as u64),
            (CONSOLE, url_line as u64 + 1),
        ],
        "{literals:?}"
    );

    // A suppression with a reason silences it, and is used.
    let console = sandbox.read(CONSOLE).replacen(
        "    password: ",
        "    # stackctl:ignore secrets/literal a throwaway value, not a credential\n    password: ",
        1,
    );
    sandbox.write(CONSOLE, &console);
    let (_, doc, _) = validate_json_with(&sandbox, &helm, &["envs", "aws"]);
    let rules: Vec<(&str, &str)> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == "secrets/literal")
        .map(|d| (d["rule"].as_str().unwrap(), d["file"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rules,
        vec![
            ("secrets/literal", "envs/aws.yaml"),
            ("secrets/literal", CONSOLE),
            ("secrets/literal", CONSOLE)
        ]
    );
}

/// helm renders with Go's collector off up to a soft memory limit (a quarter of a render's
/// CPU otherwise), unless the user tuned Go themselves.
#[test]
fn helm_renders_without_a_collector_unless_the_user_tuned_go() {
    let mut sandbox = Sandbox::with_repo();
    let (helm, log) =
        sandbox.logging_helm(&support::helm4(), "$1 GOGC=$GOGC GOMEMLIMIT=$GOMEMLIMIT");
    // What helm's commands were run with.
    let settings = |sandbox: &Sandbox| {
        let _ = std::fs::remove_file(&log);
        sandbox
            .stackctl_with_helm(&helm, ["validate", "chart", "--offline", "--no-cache"])
            .expect(0);
        let log = std::fs::read_to_string(&log).unwrap();
        let seen: std::collections::BTreeSet<String> = log
            .lines()
            .filter(|l| l.starts_with("template ") || l.starts_with("lint "))
            .map(|l| l.split_once(' ').unwrap().1.to_string())
            .collect();
        assert!(
            log.lines().any(|l| l.starts_with("template "))
                && log.lines().any(|l| l.starts_with("lint ")),
            "{log}"
        );
        seen
    };
    // The sandbox's environment is cleared: GOGC is set only where the test sets it.
    assert_eq!(
        settings(&sandbox),
        ["GOGC=off GOMEMLIMIT=512MiB".to_string()].into()
    );
    sandbox.set_env("GOGC", "50");
    assert_eq!(
        settings(&sandbox),
        ["GOGC=50 GOMEMLIMIT=".to_string()].into()
    );
}

/// The machine-readable outputs of a failing `validate`, byte for byte: a schema error in a
/// prod env, a preview CronJob left running and an unused suppression.
#[test]
fn machine_readable_outputs_of_a_failing_validate() {
    let sandbox = Sandbox::with_repo();
    let console = sandbox.read(CONSOLE);
    sandbox.write(
        CONSOLE,
        &console.replacen("    db: 0\n", "    db: \"zero\"\n", 1),
    );
    let preview = "envs/preview/preview.yaml";
    let text = sandbox.read(preview);
    sandbox.write(
        preview,
        &format!("{text}# stackctl:ignore values/schema nothing to suppress here\nunused: 1\n"),
    );
    let root = sandbox.root().display().to_string();
    for (format, extension) in [
        ("json", "json"),
        ("sarif", "sarif"),
        ("junit", "xml"),
        ("github", "txt"),
    ] {
        let run = sandbox.stackctl_with_helm(
            &support::helm4(),
            ["--format", format, "validate", "envs", "aws", "--offline"],
        );
        run.expect(1);
        insta::with_settings!({
            filters => vec![
                (regex::escape(&root).as_str(), "[ROOT]"),
                (r#""duration_ms": \d+"#, r#""duration_ms": 0"#),
                (r#"time="[0-9.]+""#, r#"time="0.000""#),
                (r"\(\d+\.\d\d s\)", "(0.00 s)"),
                (r#""version": "\d+\.\d+\.\d+""#, r#""version": "[VERSION]""#),
            ],
        }, {
            insta::assert_snapshot!(format!("failing-validate.{extension}"), run.stdout);
        });
    }
}

/// When helm cannot render, `render` reports why with the target's layer chain, at the rule
/// level `stackctl.toml` sets (exit 1 for an error, 0 when made a warning).
#[test]
fn render_reports_why_helm_could_not_render_at_the_configured_level() {
    let sandbox = Sandbox::with_repo();
    let variant = "charts/jetscale/values.test.ci.yaml";
    let text = sandbox.read(variant);
    sandbox.write(
        variant,
        &format!("{text}ingress:\n  enabled: true\n  hosts: {{}}\n"),
    );
    let failed = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--color", "never", "render", "test-ci", "--offline"],
    );
    failed.expect(1);
    assert!(
        failed.stdout.contains("error[render/helm-error]"),
        "{}",
        failed.all()
    );
    assert!(
        failed.stdout.contains("ingress.hosts is empty"),
        "{}",
        failed.all()
    );
    assert!(
        failed.stdout.contains(
            "= layers: charts/jetscale/values.test.yaml → charts/jetscale/values.test.ci.yaml"
        ),
        "{}",
        failed.all()
    );

    let config = sandbox.read("stackctl.toml");
    sandbox.write(
        "stackctl.toml",
        &format!("{config}\n[rules]\n\"render/helm-error\" = \"warning\"\n"),
    );
    let warned = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--color", "never", "render", "test-ci", "--offline"],
    );
    warned.expect(0);
    assert!(
        warned.stdout.contains("warning[render/helm-error]"),
        "{}",
        warned.all()
    );
}

#[test]
fn a_workspace_error_is_reported_with_the_findings_in_every_format() {
    // No .gitignore (three `secrets/gitignore` errors) and, offline, no chart for the backend
    // (its local source is gone). The run's error is never hidden behind the findings: every
    // format holds both, and the exit code is the error's (2: the configuration names no
    // source for the chart), not the findings' 1.
    let sandbox = Sandbox::with_repo();
    std::fs::remove_file(sandbox.path(".gitignore")).unwrap();
    std::fs::remove_file(sandbox.path("charts/backend/Chart.yaml")).unwrap();
    let said = "backend 4.6.12 is neither in the cache nor a local chart source";
    for format in ["human", "json", "sarif", "junit", "github"] {
        let run = sandbox.stackctl_with_helm(
            &support::helm4(),
            ["--format", format, "validate", "envs", "aws", "--offline"],
        );
        assert_eq!(run.code, 2, "{format}: {}", run.all());
        assert!(run.stdout.contains(said), "{format}: {}", run.stdout);
        assert!(
            run.stdout.contains("secrets/gitignore"),
            "{format}: {}",
            run.stdout
        );
    }
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "validate", "envs", "aws", "--offline"],
    );
    let doc = run.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["stopped"]["exit_code"], 2);
    assert!(
        doc["stopped"]["hint"]
            .as_str()
            .unwrap()
            .contains("[dependencies.sources]"),
        "{doc}"
    );
    assert_eq!(doc["summary"]["errors"], 3);
}

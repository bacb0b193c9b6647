//! The stack itself: every env chain and lifecycle variant renders with both helm majors into
//! the objects the platform expects, the schema rejects the known mistakes, and secrets never
//! reach the output.

use serde_json::Value;

use crate::support::registry::{GHCR_CHARTS, TestRegistry};
use crate::support::{self, Sandbox};
use stackctl::helm::RenderedObject;

/// `stackctl render TARGET` with `helm`, parsed into objects.
fn render(sandbox: &Sandbox, helm: &std::path::Path, target: &str) -> Vec<RenderedObject> {
    let run = sandbox.stackctl_with_helm(helm, ["render", target, "--offline"]);
    assert_eq!(run.code, 0, "{target}: {}", run.stderr);
    stackctl::helm::split_manifest(&run.stdout).unwrap()
}

fn find<'a>(objects: &'a [RenderedObject], kind: &str, name: &str) -> &'a Value {
    &objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .value
}

fn names(objects: &[RenderedObject], kind: &str) -> Vec<String> {
    let mut names: Vec<String> = objects
        .iter()
        .filter(|o| o.kind() == kind)
        .map(|o| o.name().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn every_env_and_variant_renders_the_expected_objects_with_each_helm() {
    for (label, helm) in support::helms() {
        let sandbox = Sandbox::with_repo();

        // Prod: the TLS parity annotations, the wildcard certificate, IRSA, 1Gi websocket limit.
        let console = render(&sandbox, &helm, "envs/prod/console.yaml");
        let ingress = find(&console, "Ingress", "jetscale-console");
        let annotations = &ingress["metadata"]["annotations"];
        assert_eq!(ingress["spec"]["ingressClassName"], "alb", "{label}");
        assert_eq!(annotations["alb.ingress.kubernetes.io/ssl-redirect"], "443");
        assert!(
            annotations["alb.ingress.kubernetes.io/listen-ports"]
                .as_str()
                .unwrap()
                .contains("443")
        );
        assert_eq!(
            annotations["alb.ingress.kubernetes.io/certificate-arn"],
            "arn:aws:acm:us-east-1:134051052096:certificate/6e3e7f72-af8e-457d-a397-8f13728dd06c"
        );
        assert_eq!(ingress["spec"]["rules"][0]["host"], "console.jetscale.ai");
        let ws = find(&console, "Deployment", "jetscale-console-backend-ws");
        assert_eq!(ws["spec"]["replicas"], 3);
        assert_eq!(
            ws["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
            "1Gi"
        );
        assert_eq!(
            names(&console, "CronJob"),
            vec![
                "jetscale-console-backend-api-discover-aws",
                "jetscale-console-backend-api-generate-from-coh",
                "jetscale-console-backend-api-generate-from-discovery",
                "jetscale-console-backend-api-pull-ce",
                "jetscale-console-backend-api-pull-co",
                "jetscale-console-backend-api-pull-coh",
            ]
        );
        let discover = find(
            &console,
            "CronJob",
            "jetscale-console-backend-api-discover-aws",
        );
        assert_eq!(discover["spec"]["schedule"], "0 */4 * * *");
        let db = find(&console, "ExternalSecret", "jetscale-console-db-secret");
        let key = db["spec"]["data"][0]["remoteRef"]["key"].as_str().unwrap();
        assert_eq!(key, "jetscale-prod/database/console", "{label}");

        // The websocket Service targets a port its pods declare.
        let service = find(&console, "Service", "jetscale-console-backend-ws");
        let target_port = service["spec"]["ports"][0]["targetPort"].clone();
        let ports = &ws["spec"]["template"]["spec"]["containers"][0]["ports"];
        assert!(
            ports
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == target_port || p["containerPort"] == target_port),
            "{label}: {target_port} not in {ports}"
        );

        // Preview: every CronJob suspended, the same certificate as prod.
        let preview = render(&sandbox, &helm, "envs/preview/preview.yaml");
        let cronjobs: Vec<&RenderedObject> =
            preview.iter().filter(|o| o.kind() == "CronJob").collect();
        assert_eq!(cronjobs.len(), 6, "{label}");
        for cronjob in cronjobs {
            assert_eq!(
                cronjob.value["spec"]["suspend"],
                true,
                "{label}: {} runs in preview",
                cronjob.name()
            );
        }
        let preview_ingress = find(&preview, "Ingress", "pr-1-jetscale");
        assert_eq!(
            preview_ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"],
            annotations["alb.ingress.kubernetes.io/certificate-arn"]
        );

        // Every other env and variant renders, with release-named objects.
        for (target, release) in [
            ("envs/prod/demo.yaml", "jetscale-demo"),
            ("envs/staging/bridgit.yaml", "bridgit-staging"),
            ("envs/staging/dialogue-5624.yaml", "dialogue-5624"),
            ("envs/staging/jetscale-demo.yaml", "jetscale-demo"),
            ("envs/staging/jetscale.yaml", "jetscale-staging"),
            ("envs/staging/link4.yaml", "link4-staging"),
            ("local-dev", "jetscale-local"),
            ("local-live", "jetscale-local"),
            ("test-local", "jetscale-test"),
            ("test-ci", "jetscale-ci"),
        ] {
            let objects = render(&sandbox, &helm, target);
            find(&objects, "Deployment", &format!("{release}-backend-api"));
            find(&objects, "Service", &format!("{release}-frontend"));
            for object in &objects {
                let name = object.name();
                assert!(
                    name.len() <= 63 && !name.is_empty(),
                    "{label} {target}: {name}"
                );
            }
        }

        // Kind variants run their own database and cache, named for their release.
        let test_ci = render(&sandbox, &helm, "test-ci");
        find(&test_ci, "StatefulSet", "jetscale-ci-postgres");
        find(&test_ci, "Service", "jetscale-ci-redis-master");
        assert!(
            test_ci.iter().all(|o| o.kind() != "ExternalSecret"),
            "{label}: no ESO in Kind"
        );
    }
}

#[test]
fn the_schema_rejects_each_known_mistake_at_its_path() {
    for (_label, helm) in support::helms() {
        let cases: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(support::repo_root().join("tests/fixtures/schema-cases.json"))
                .unwrap(),
        )
        .unwrap();
        assert!(cases.len() >= 15);
        let sandbox = Sandbox::with_repo();
        // One variant per case: the console chain plus the case's layer.
        let mut config = sandbox.read("stackctl.toml");
        for (index, case) in cases.iter().enumerate() {
            sandbox.write(
                &format!("cases/{index:02}.yaml"),
                case["yaml"].as_str().unwrap(),
            );
            config.push_str(&format!(
                "\n[variants.case-{index:02}]\nlayers = [\"../../envs/aws.yaml\", \"../../envs/prod/default.yaml\", \"../../envs/prod/console.yaml\", \"../../cases/{index:02}.yaml\"]\nrelease = \"jetscale-console\"\n"
            ));
        }
        sandbox.write("stackctl.toml", &config);
        let doc = sandbox
            .stackctl_with_helm(
                &helm,
                ["--format", "json", "validate", "chart", "--offline"],
            )
            .json();
        let diagnostics = doc["diagnostics"].as_array().unwrap();
        let mut missing = Vec::new();
        for (index, case) in cases.iter().enumerate() {
            let file = format!("cases/{index:02}.yaml");
            let hit = diagnostics.iter().any(|d| {
                matches!(
                    d["rule"].as_str(),
                    Some("values/schema" | "values/unknown-key")
                ) && d["path"] == case["path"]
                    && d["file"] == file.as_str()
            });
            if !hit {
                missing.push(format!("{}: {} at {}", case["name"], case["path"], file));
            }
        }
        assert!(
            missing.is_empty(),
            "not rejected where expected:\n{}\n\n{}",
            missing.join("\n"),
            serde_json::to_string_pretty(diagnostics).unwrap()
        );
        // The unmodified variants still pass.
        let passed: Vec<&str> = doc["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["status"] == "passed")
            .map(|t| t["target"].as_str().unwrap())
            .collect();
        for variant in ["local-dev", "local-live", "test-ci", "test-local"] {
            assert!(passed.contains(&variant), "{variant} failed");
        }
    }
}

#[test]
fn secrets_never_reach_the_output_even_through_helm() {
    for (_label, helm) in support::helms() {
        let sentinel = "ghp_SENTINELsentinel0123456789abcdefABCD";
        let sandbox = Sandbox::with_repo();
        sandbox.write(".env", &format!("GITHUB_TOKEN={sentinel}\n"));
        // The sentinel flows into helm's own error (annotations are templates) and into a schema
        // message; neither may print it.
        let console = sandbox.read("envs/prod/console.yaml").replacen(
            "    external-dns.alpha.kubernetes.io/hostname: console.jetscale.ai\n",
            &format!(
                "    external-dns.alpha.kubernetes.io/hostname: '{{{{ fail \"{sentinel}\" }}}}'\n"
            ),
            1,
        ) + &format!("\nappConfigMap:\n  environment: {sentinel}\n");
        sandbox.write("envs/prod/console.yaml", &console);
        for format in ["human", "json", "sarif", "junit", "github"] {
            let run = sandbox.stackctl_with_helm(
                &helm,
                [
                    "--format",
                    format,
                    "-vv",
                    "validate",
                    "envs",
                    "aws",
                    "--offline",
                ],
            );
            assert_eq!(run.code, 1, "{format}");
            let all = run.all();
            assert!(
                !all.contains(sentinel),
                "{format} printed the secret:\n{all}"
            );
            assert!(
                all.contains("[REDACTED]"),
                "{format}: the finding itself is gone:\n{all}"
            );
        }
    }
}

/// The committed Chart.lock is what `helm dependency update` writes for the committed
/// Chart.yaml. helm cannot reach ghcr.io here, so the proof has two halves: (1) with the
/// service charts of this repository in a local registry, real helm writes a lock whose
/// entries and digest stackctl's digest reproduces exactly; (2) the committed lock has the
/// same entries (bar the registry) and the digest that same computation gives.
#[test]
fn the_committed_lock_is_what_helm_writes() {
    use stackctl::deps::chartfile::{ChartFile, LockFile};
    use stackctl::deps::lock::helm_digest;

    let chart_yaml = "charts/jetscale/Chart.yaml";
    let lock = "charts/jetscale/Chart.lock";
    for (label, helm) in support::helms() {
        let registry = TestRegistry::start();
        let repository = registry.oci("jetscale-ai/charts");
        let sandbox = Sandbox::with_repo();
        sandbox.publish_service_charts(&registry, "jetscale-ai/charts");
        let committed_chart = sandbox.read(chart_yaml);
        let committed_lock = sandbox.read(lock);
        sandbox.set_dependency_repository(&repository);
        std::fs::remove_file(sandbox.path(lock)).unwrap();
        let run = sandbox.helm(
            &helm,
            ["dependency", "update", "charts/jetscale", "--plain-http"],
        );
        assert_eq!(run.code, 0, "{label}: {}", run.stderr);

        let parse_chart = |text: &str| {
            ChartFile::parse(std::path::Path::new(chart_yaml), text.to_string()).unwrap()
        };
        let parse_lock =
            |text: &str| LockFile::parse(std::path::Path::new(lock), text.to_string()).unwrap();
        let helm_lock = parse_lock(&sandbox.read(lock));
        let local_chart = parse_chart(&sandbox.read(chart_yaml));
        assert_eq!(
            helm_digest(
                &local_chart.helm_dependencies(),
                &helm_lock.helm_dependencies()
            ),
            helm_lock.digest(),
            "{label}: stackctl's digest differs from helm's"
        );

        let ours = parse_lock(&committed_lock);
        let relocated: Vec<_> = helm_lock
            .helm_dependencies()
            .into_iter()
            .map(|mut d| {
                d.repository = d.repository.replace(&repository, GHCR_CHARTS);
                d
            })
            .collect();
        assert_eq!(
            ours.helm_dependencies(),
            relocated,
            "{label}: entries differ from helm's"
        );
        assert_eq!(
            helm_digest(
                &parse_chart(&committed_chart).helm_dependencies(),
                &ours.helm_dependencies()
            ),
            ours.digest(),
            "{label}: the committed digest is not helm's"
        );
    }
}

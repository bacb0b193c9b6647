//! `stackctl chart publish`: helm's media types and layout, version stamping with and
//! without `--write`, and umbrella charts that need their dependencies first.

use crate::support::registry::TestRegistry;
use crate::support::{Sandbox, helm3, helm4};

#[test]
fn published_charts_are_helm_charts_with_the_stamped_version() {
    let registry = TestRegistry::start();
    let sandbox = Sandbox::fixture("deps/repo");
    let repository = registry.oci("charts");
    let chart_before = sandbox.read("charts/backend/Chart.yaml");
    let run = sandbox.stackctl([
        "chart",
        "publish",
        "charts/backend",
        "--to",
        &repository,
        "--version",
        "4.7.0",
        "--insecure-registry",
        &registry.host,
        "--format",
        "json",
    ]);
    run.success();
    let doc = run.json();
    assert_eq!(
        doc["reference"],
        format!("oci://{}/charts/backend:4.7.0", registry.host)
    );
    assert_eq!(
        sandbox.read("charts/backend/Chart.yaml"),
        chart_before,
        "tree unchanged without --write"
    );

    // The registry holds a Helm chart artifact: config and layer media types.
    let manifest = ureq_manifest(&registry.host, "charts/backend", "4.7.0");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.helm.config.v1+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    );

    // Both helms read it, with version and appVersion stamped.
    for helm in [helm4(), helm3()] {
        let shown = sandbox.helm(
            &helm,
            [
                "show",
                "chart",
                &format!("{repository}/backend"),
                "--version",
                "4.7.0",
                "--plain-http",
            ],
        );
        shown.success();
        assert!(shown.stdout.contains("version: 4.7.0"), "{}", shown.stdout);
        assert!(
            shown.stdout.contains("appVersion: 4.7.0"),
            "{}",
            shown.stdout
        );
    }
}

#[test]
fn write_stamps_the_tree_keeping_comments_after_the_push() {
    let registry = TestRegistry::start();
    let sandbox = Sandbox::fixture("deps/repo");
    sandbox.stackctl(["deps", "build", "--offline"]).success();
    let before = sandbox.read("charts/jetscale/Chart.yaml");
    let run = sandbox.stackctl([
        "chart",
        "publish",
        "charts/jetscale",
        "--to",
        &registry.oci("charts"),
        "--version",
        "0.25.0",
        "--write",
        "--insecure-registry",
        &registry.host,
    ]);
    run.success();
    let after = sandbox.read("charts/jetscale/Chart.yaml");
    assert_eq!(
        after,
        before
            .replace("version: 0.24.9", "version: 0.25.0")
            .replace("appVersion: \"0.24.9\"", "appVersion: \"0.25.0\"")
    );
    assert!(after.contains("# version and appVersion are set by the release workflow"));

    // The umbrella package carries its dependencies: helm renders it from the registry alone.
    let rendered = sandbox.helm(
        &helm4(),
        [
            "template",
            "jetscale",
            &format!("{}/jetscale", registry.oci("charts")),
            "--version",
            "0.25.0",
            "--plain-http",
            "--kube-version",
            "1.33.0",
        ],
    );
    rendered.success();
    assert!(
        rendered.stdout.contains("name: jetscale-backend-ws"),
        "{}",
        rendered.stdout
    );
}

#[test]
fn an_umbrella_without_built_dependencies_is_refused_before_any_push() {
    let sandbox = Sandbox::fixture("deps/repo");
    // No registry runs: the refusal must come before any network I/O.
    let run = sandbox.stackctl([
        "chart",
        "publish",
        "charts/jetscale",
        "--to",
        "oci://127.0.0.1:9/charts",
    ]);
    run.expect(2);
    assert!(run.stderr.contains("stackctl deps build"), "{}", run.stderr);
}

/// GET a manifest from the registry's HTTP API (plain TCP; the tests need no HTTP client).
fn ureq_manifest(host: &str, repository: &str, tag: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /v2/{repository}/manifests/{tag} HTTP/1.0\r\nHost: {host}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

//! Dependencies through a real OCI registry: publishing the service charts, `deps update`
//! producing the lock real helm writes, builds from the registry and the cache, a second
//! build without network, cache tampering, unreachable registries and missing versions.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::registry::{TestRegistry, ghcr_mirror};
use crate::support::{Sandbox, helm3, helm4, sha256_file};

const LOCK: &str = "charts/jetscale/Chart.lock";

fn without_generated(lock: &str) -> String {
    lock.lines()
        .filter(|l| !l.starts_with("generated: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `deps update` writes byte for byte the Chart.lock real helm writes for the same Chart.yaml
/// (except the `generated` time), and the same archives in charts/.
fn lock_matches_helm(helm: &Path) {
    let registry = TestRegistry::start();
    let repository = registry.oci("jetscale-ai/charts");
    let with_helm = Sandbox::fixture("deps/repo");
    let with_stackctl = Sandbox::fixture("deps/repo");
    with_stackctl.publish_service_charts(&registry, "jetscale-ai/charts");
    for sandbox in [&with_helm, &with_stackctl] {
        sandbox.set_dependency_repository(&repository);
        std::fs::remove_file(sandbox.path(LOCK)).unwrap();
    }

    with_helm
        .helm(
            helm,
            ["dependency", "update", "charts/jetscale", "--plain-http"],
        )
        .success();
    let update = with_stackctl.stackctl(["deps", "update", "--insecure-registry", &registry.host]);
    update.success();
    assert!(
        update.stdout.contains("Chart.lock written"),
        "{}",
        update.stdout
    );

    let helm_lock = with_helm.read(LOCK);
    let our_lock = with_stackctl.read(LOCK);
    assert_eq!(without_generated(&our_lock), without_generated(&helm_lock));
    assert_eq!(our_lock.lines().count(), helm_lock.lines().count());

    // Same archives, byte for byte: both wrote what the registry serves.
    assert_eq!(with_stackctl.chart_archives(), with_helm.chart_archives());
    for file in with_helm.chart_archives() {
        let path = format!("charts/jetscale/charts/{file}");
        assert_eq!(
            sha256_file(&with_stackctl.path(&path)),
            sha256_file(&with_helm.path(&path)),
            "{file}"
        );
    }

    // helm accepts the lock stackctl wrote: `dependency build` checks lock and digest.
    with_stackctl
        .helm(
            helm,
            ["dependency", "build", "charts/jetscale", "--plain-http"],
        )
        .success();
}

#[test]
fn update_writes_the_lock_helm_4_writes() {
    lock_matches_helm(&helm4());
}

#[test]
fn update_writes_the_lock_helm_3_writes() {
    lock_matches_helm(&helm3());
}

/// Build through a mirror, then build again with the registry stopped: the second build
/// needs no network and is fast.
#[test]
fn build_fills_charts_and_a_second_build_needs_no_network() {
    let mut registry = TestRegistry::start();
    let sandbox = Sandbox::fixture("deps/repo");
    sandbox.publish_service_charts(&registry, "mirror/jetscale-ai/charts");
    let mirror = ghcr_mirror(&registry.oci("mirror/jetscale-ai/charts"));
    let lock_before = sandbox.read(LOCK);
    let chart_before = sandbox.read("charts/jetscale/Chart.yaml");

    let update = sandbox.stackctl([
        "deps",
        "update",
        "--registry-mirror",
        &mirror,
        "--insecure-registry",
        &registry.host,
    ]);
    update.success();
    // A mirror never changes Chart.yaml or the lock.
    assert_eq!(sandbox.read(LOCK), lock_before);
    assert_eq!(sandbox.read("charts/jetscale/Chart.yaml"), chart_before);
    assert!(update.stdout.contains("registry"), "{}", update.stdout);
    assert_eq!(
        sandbox.chart_archives(),
        vec!["backend-4.6.12.tgz", "frontend-2.7.1.tgz"]
    );
    let digests: Vec<String> = sandbox
        .chart_archives()
        .iter()
        .map(|f| sha256_file(&sandbox.path(&format!("charts/jetscale/charts/{f}"))))
        .collect();

    registry.stop();
    sandbox.write("charts/jetscale/charts/frontend-2.6.0.tgz", "stale");
    let started = Instant::now();
    let second = sandbox.stackctl([
        "deps",
        "build",
        "--registry-mirror",
        &mirror,
        "--insecure-registry",
        &registry.host,
    ]);
    let elapsed = started.elapsed();
    second.success();
    assert!(
        second.stdout.contains("frontend-2.6.0.tgz"),
        "{}",
        second.stdout
    );
    assert_eq!(
        sandbox.chart_archives(),
        vec!["backend-4.6.12.tgz", "frontend-2.7.1.tgz"]
    );
    let after: Vec<String> = sandbox
        .chart_archives()
        .iter()
        .map(|f| sha256_file(&sandbox.path(&format!("charts/jetscale/charts/{f}"))))
        .collect();
    assert_eq!(after, digests);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

    // Status reads files only and shows the registry as the source.
    let status = sandbox.stackctl(["deps", "status", "--format", "json"]);
    status.success();
    let doc = status.json();
    for dep in doc["dependencies"].as_array().unwrap() {
        assert_eq!(dep["source"], "registry", "{dep}");
        assert_eq!(dep["presence"], "present", "{dep}");
    }

    // Also offline, with charts/ emptied: the cache alone rebuilds it.
    std::fs::remove_dir_all(sandbox.path("charts/jetscale/charts")).unwrap();
    let offline = sandbox.stackctl(["deps", "build", "--offline"]);
    offline.success();
    assert!(offline.stdout.contains("cache"), "{}", offline.stdout);
}

#[test]
fn a_tampered_cache_entry_is_detected() {
    let mut registry = TestRegistry::start();
    let mut sandbox = Sandbox::fixture("deps/repo");
    sandbox.publish_service_charts(&registry, "jetscale-ai/charts");
    sandbox.mirror_ghcr_to(&registry, "jetscale-ai/charts");
    sandbox.stackctl(["deps", "build"]).success();
    let original = sha256_file(&sandbox.path("charts/jetscale/charts/backend-4.6.12.tgz"));

    let blob = sandbox
        .cache_dir()
        .join("charts/blobs/sha256")
        .join(&original);
    assert!(
        blob.is_file(),
        "the cache is content-addressed by the archive digest"
    );
    let tamper = |path: &Path| {
        let mut bytes = std::fs::read(path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    };
    tamper(&blob);
    std::fs::remove_dir_all(sandbox.path("charts/jetscale/charts")).unwrap();

    // With the registry up: detected, reported, refetched.
    let refetch = sandbox.stackctl(["deps", "build"]);
    refetch.success();
    assert!(refetch.stderr.contains("corrupt"), "{}", refetch.stderr);
    assert!(
        refetch.stderr.contains("fetching it again"),
        "{}",
        refetch.stderr
    );
    assert_eq!(
        sha256_file(&sandbox.path("charts/jetscale/charts/backend-4.6.12.tgz")),
        original
    );
    assert_eq!(sha256_file(&blob), original, "the cache entry was repaired");

    // With the registry down: detected and reported, never used.
    tamper(&blob);
    std::fs::remove_dir_all(sandbox.path("charts/jetscale/charts")).unwrap();
    registry.stop();
    let failed = sandbox.stackctl(["deps", "build"]);
    failed.expect(3);
    assert!(failed.stderr.contains("corrupt"), "{}", failed.stderr);
    assert!(failed.stderr.contains("unreachable"), "{}", failed.stderr);
    assert!(
        !sandbox
            .path("charts/jetscale/charts/backend-4.6.12.tgz")
            .exists()
    );
}

#[test]
fn an_unreachable_registry_is_reported_within_seconds() {
    let mut registry = TestRegistry::start();
    let host = registry.host.clone();
    registry.stop();
    let sandbox = Sandbox::fixture("deps/repo");
    let started = Instant::now();
    let run = sandbox.stackctl([
        "deps",
        "build",
        "--registry-mirror",
        &ghcr_mirror(&format!("oci://{host}/charts")),
        "--insecure-registry",
        &host,
    ]);
    let elapsed = started.elapsed();
    run.expect(3);
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(
        run.stderr
            .contains(&format!("registry {host} is unreachable")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("backend"),
        "names the chart: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--offline"),
        "says how to work around: {}",
        run.stderr
    );
}

#[test]
fn a_version_missing_from_the_registry_says_so() {
    let registry = TestRegistry::start();
    let sandbox = Sandbox::fixture("deps/repo");
    sandbox.publish_service_charts(&registry, "jetscale-ai/charts");
    sandbox.set_dependency_repository(&registry.oci("jetscale-ai/charts"));
    let chart = sandbox
        .read("charts/jetscale/Chart.yaml")
        .replace("\"2.7.1\"", "\"2.7.9\"");
    sandbox.write("charts/jetscale/Chart.yaml", &chart);
    let before = sandbox.snapshot();
    let run = sandbox.stackctl(["deps", "update", "--insecure-registry", &registry.host]);
    run.expect(3);
    assert!(
        run.stderr
            .contains("chart frontend version 2.7.9 was not found"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("manifest unknown"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Chart.yaml:22"),
        "points at the pin: {}",
        run.stderr
    );
    assert!(
        sandbox.snapshot() == before,
        "a failed update writes nothing"
    );
}

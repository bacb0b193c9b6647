//! Credentials against a registry behind htpasswd: none, wrong ones, helm's and docker's
//! login files, and the GitHub token path (with the login looked up from a local stand-in of
//! the GitHub API). The secret is a sentinel string that must appear in no output.

use base64::Engine as _;

use crate::support::github::GitHubStub;
use crate::support::registry::TestRegistry;
use crate::support::{Sandbox, helm4};

const USER: &str = "octo-bot";
/// Looks like a GitHub token; must never be printed.
const SENTINEL: &str = "ghp_SENTINELtoken0123456789abcdefABCDEF";

fn docker_auth(sandbox: &Sandbox, host: &str, user: &str, password: &str) {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = std::path::Path::new(sandbox.env("DOCKER_CONFIG")).join("config.json");
    std::fs::write(
        path,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
}

/// Publish the service charts with docker-config credentials from a separate sandbox.
fn publish_with_auth(registry: &TestRegistry) {
    let publisher = Sandbox::fixture("deps/repo");
    docker_auth(&publisher, &registry.host, USER, SENTINEL);
    for run in publisher.publish_service_charts(registry, "jetscale-ai/charts") {
        assert_no_secret(&run.all());
    }
}

#[track_caller]
fn assert_no_secret(output: &str) {
    assert!(!output.contains(SENTINEL), "the secret leaked:\n{output}");
}

#[test]
fn no_credentials_says_none_were_found_and_how_to_add_them() {
    let registry = TestRegistry::start_with_auth(USER, SENTINEL);
    publish_with_auth(&registry);
    let mut sandbox = Sandbox::fixture("deps/repo");
    sandbox.mirror_ghcr_to(&registry, "jetscale-ai/charts");
    let run = sandbox.stackctl(["deps", "build"]);
    run.expect(3);
    assert!(
        run.stderr
            .contains(&format!("no credentials found for {}", registry.host)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "{}/jetscale-ai/charts/backend:4.6.12",
            registry.host
        )),
        "names the chart reference: {}",
        run.stderr
    );
    assert!(run.stderr.contains("helm registry login"), "{}", run.stderr);
    assert!(run.stderr.contains("--offline"), "{}", run.stderr);
}

#[test]
fn wrong_credentials_are_rejected_without_being_printed() {
    let registry = TestRegistry::start_with_auth(USER, "the-right-password-42");
    let mut sandbox = Sandbox::fixture("deps/repo");
    sandbox.mirror_ghcr_to(&registry, "jetscale-ai/charts");
    docker_auth(&sandbox, &registry.host, USER, SENTINEL);
    let run = sandbox.stackctl(["-vv", "deps", "build"]);
    run.expect(3);
    assert!(
        run.stderr
            .contains(&format!("credentials for {} rejected", registry.host)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("docker's config"),
        "says where they came from: {}",
        run.stderr
    );
    assert_no_secret(&run.all());
}

#[test]
fn helm_registry_login_credentials_are_used() {
    let registry = TestRegistry::start_with_auth(USER, SENTINEL);
    publish_with_auth(&registry);
    let mut sandbox = Sandbox::fixture("deps/repo");
    sandbox.mirror_ghcr_to(&registry, "jetscale-ai/charts");
    // A real `helm registry login` writes the file stackctl reads.
    sandbox
        .helm_registry_login(&helm4(), &registry.host, USER, SENTINEL)
        .success();

    let run = sandbox.stackctl(["deps", "update"]);
    run.success();
    assert_no_secret(&run.all());
    assert_eq!(
        sandbox.chart_archives(),
        vec!["backend-4.6.12.tgz", "frontend-2.7.1.tgz"]
    );
}

#[test]
fn github_token_from_dotenv_with_the_login_looked_up() {
    let registry = TestRegistry::start_with_auth(USER, SENTINEL);
    let github = GitHubStub::start(SENTINEL, USER);
    let mut sandbox = Sandbox::fixture("deps/repo");
    // The test registry stands in for ghcr.io: stackctl.toml marks it as a GitHub registry.
    let config = sandbox.read("stackctl.toml")
        + &format!("\n[registries]\ngithub = [\"{}\"]\n", registry.host);
    sandbox.write("stackctl.toml", &config);
    sandbox.write(".env", &format!("# local only\nGITHUB_TOKEN={SENTINEL}\n"));
    sandbox.set_env("GITHUB_API_URL", github.url.clone());

    for chart in ["charts/backend", "charts/frontend"] {
        let run = sandbox.stackctl([
            "-vv",
            "chart",
            "publish",
            chart,
            "--to",
            &registry.oci("jetscale-ai/charts"),
            "--insecure-registry",
            &registry.host,
        ]);
        run.success();
        assert_no_secret(&run.all());
    }
    sandbox.set_dependency_repository(&registry.oci("jetscale-ai/charts"));
    std::fs::remove_file(sandbox.path("charts/jetscale/Chart.lock")).unwrap();
    let update = sandbox.stackctl([
        "-vv",
        "deps",
        "update",
        "--insecure-registry",
        &registry.host,
    ]);
    update.success();
    assert_no_secret(&update.all());
    assert!(github.requests() >= 1, "the login came from the GitHub API");
    assert_eq!(
        sandbox.chart_archives(),
        vec!["backend-4.6.12.tgz", "frontend-2.7.1.tgz"]
    );
}

#[test]
fn a_mirror_of_ghcr_gets_the_mirrors_credentials_not_the_github_token() {
    let registry = TestRegistry::start_with_auth(USER, SENTINEL);
    publish_with_auth(&registry);
    let github = GitHubStub::start(SENTINEL, USER);
    let mut sandbox = Sandbox::fixture("deps/repo");
    sandbox.mirror_ghcr_to(&registry, "jetscale-ai/charts");
    sandbox.set_env("GITHUB_TOKEN", SENTINEL);
    sandbox.set_env("GITHUB_API_URL", github.url.clone());
    // The mirror host is not a GitHub registry: the token stays home.
    let run = sandbox.stackctl(["deps", "build"]);
    run.expect(3);
    assert!(
        run.stderr.contains("no credentials found"),
        "{}",
        run.stderr
    );
    assert_eq!(github.requests(), 0);
    assert_no_secret(&run.all());

    // With the mirror's own credentials it works.
    docker_auth(&sandbox, &registry.host, USER, SENTINEL);
    let run = sandbox.stackctl(["deps", "build"]);
    run.success();
    assert_no_secret(&run.all());
}

#[test]
fn a_rejected_github_token_fails_the_login_lookup_without_leaking_it() {
    let registry = TestRegistry::start_with_auth(USER, "irrelevant-password");
    let github = GitHubStub::start("ghp_theOnlyValidToken0000000000", USER);
    let mut sandbox = Sandbox::fixture("deps/repo");
    let config = sandbox.read("stackctl.toml")
        + &format!("\n[registries]\ngithub = [\"{}\"]\n", registry.host);
    sandbox.write("stackctl.toml", &config);
    sandbox.mirror_ghcr_to(&registry, "jetscale-ai/charts");
    sandbox.set_env("GH_TOKEN", SENTINEL);
    sandbox.set_env("GITHUB_API_URL", github.url.clone());
    let run = sandbox.stackctl(["deps", "build"]);
    run.expect(3);
    assert!(
        run.stderr
            .contains("cannot look up the GitHub login for GH_TOKEN"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("GITHUB_USER"), "{}", run.stderr);
    assert_no_secret(&run.all());
}

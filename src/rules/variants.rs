//! `variants/release-hosts`: a lifecycle variant's hosts are the Services of its release.

use serde_json::Value;

use super::values::locate;
use super::{Scope, TargetCx, TargetRule, finding, rule};
use crate::findings::{Diagnostic, Severity};
use crate::target::TargetKind;
use crate::values::{Merged, escape_key};

pub const RULES: &[super::Rule] = &[rule(
    "variants/release-hosts",
    Severity::Error,
    Scope::Target,
    "a lifecycle variant's database, Redis and API hosts are its release's Services",
)];

/// `variants/release-hosts` on each lifecycle variant.
pub struct ReleaseHosts;

impl TargetRule for ReleaseHosts {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        // On what helm renders with: a variant helm cannot render has its helm error to fix
        // first.
        if cx.target.kind == TargetKind::Variant && cx.rendered.is_some() {
            out.extend(release_hosts(
                cx.merged,
                &cx.target.release,
                &cx.dependency_keys(),
            ));
        }
    }
}

/// `variants/release-hosts`: in a lifecycle variant (Kind, Tilt), the database, Redis and API
/// hosts the pods are given are the Services the variant's release creates. Values written for
/// one release and reused for another point at Services that do not exist.
pub fn release_hosts(merged: &Merged, release: &str, dependency_keys: &[&str]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (pointer, service) in release_services(merged, dependency_keys) {
        let Some(actual) = merged.get(&pointer).and_then(Value::as_str) else {
            continue;
        };
        let want = format!("{release}-{service}");
        if actual != want {
            out.push(locate(
                finding(
                    "variants/release-hosts",
                    format!(
                        "{} is {actual:?}, but release {release} names that Service {want:?}",
                        display(&pointer)
                    ),
                )
                .with_hint(format!("set it to {want}")),
                &merged.provenance,
                &pointer,
            ));
        }
    }
    let pointer = API_URL;
    if let Some(host) = api_service_host(merged) {
        let want = format!("{release}-{API_SERVICE}");
        if host != want {
            out.push(locate(
                finding(
                    "variants/release-hosts",
                    format!("{} points at {host:?}, but release {release} names the API Service {want:?}", display(pointer)),
                )
                .with_hint(format!("use http://{want}:8000")),
                &merged.provenance,
                pointer,
            ));
        }
    }
    out
}

/// The frontend's API URL.
const API_URL: &str = "/frontend/env/VITE_API_BASE_URL";
/// The API Service's name after `<release>-`.
const API_SERVICE: &str = "backend-api";

/// The values that name a Service of the release while the in-cluster database or Redis is
/// on: each pointer with the Service's name after `<release>-`.
fn release_services(merged: &Merged, dependency_keys: &[&str]) -> Vec<(String, &'static str)> {
    let enabled = |pointer: &str| merged.get(pointer) == Some(&Value::Bool(true));
    let mut services = Vec::new();
    for key in dependency_keys {
        let env = format!("/{}/env", escape_key(key));
        if enabled("/postgres/enabled") {
            services.push((format!("{env}/JETSCALE_DB_HOST"), "postgres"));
        }
        if enabled("/redis/enabled") {
            services.push((format!("{env}/JETSCALE_REDIS_HOST"), "redis-master"));
        }
    }
    services
}

/// The host of the frontend's API URL when it names a Service of the cluster (no dots, not
/// localhost).
fn api_service_host(merged: &Merged) -> Option<&str> {
    let url = merged.get(API_URL).and_then(Value::as_str)?;
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    (!host.contains('.') && host != "localhost").then_some(host)
}

/// The release a variant's values were written for: the `<release>` of the Service names its
/// database, Redis and API hosts give (`jetscale-ci` for `jetscale-ci-postgres`), the one most
/// of them agree on (the first written on a tie). `None` when no host names one.
pub fn implied_release(merged: &Merged, dependency_keys: &[&str]) -> Option<String> {
    let mut named: Vec<String> = Vec::new();
    for (pointer, service) in release_services(merged, dependency_keys) {
        if let Some(release) = merged
            .get(&pointer)
            .and_then(Value::as_str)
            .and_then(|host| host.strip_suffix(&format!("-{service}")))
        {
            named.push(release.to_string());
        }
    }
    if let Some(release) =
        api_service_host(merged).and_then(|host| host.strip_suffix(&format!("-{API_SERVICE}")))
    {
        named.push(release.to_string());
    }
    let count = |release: &String| named.iter().filter(|r| *r == release).count();
    // max_by_key keeps the last of equals: look from the end so the first written wins.
    named
        .iter()
        .rev()
        .max_by_key(|release| count(release))
        .filter(|release| !release.is_empty())
        .cloned()
}

fn display(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .replace('/', ".")
        .replace("~1", "/")
        .replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(values: &str) -> Merged {
        let defaults = crate::values::parse_layer(
            "charts/jetscale/values.yaml",
            "postgres: {enabled: true}\nredis: {enabled: true}\n",
        )
        .unwrap();
        let layer = crate::values::parse_layer("charts/jetscale/values.test.yaml", values).unwrap();
        crate::values::merge_chain(&defaults, &[layer])
    }

    #[test]
    fn the_release_a_variant_was_written_for_is_the_one_its_hosts_name() {
        let values = "backend-api:\n  env:\n    JETSCALE_DB_HOST: jetscale-ci-postgres\n    JETSCALE_REDIS_HOST: jetscale-ci-redis-master\nfrontend:\n  env:\n    VITE_API_BASE_URL: http://jetscale-ci-backend-api:8000\n";
        let merged = merge(values);
        let keys = ["backend-api", "frontend"];
        assert_eq!(
            implied_release(&merged, &keys).as_deref(),
            Some("jetscale-ci")
        );
        // The release it names is the one the rule accepts.
        assert!(release_hosts(&merged, "jetscale-ci", &keys).is_empty());
        assert_eq!(release_hosts(&merged, "other", &keys).len(), 3);
        // Most hosts win over one stray; hosts that name no Service of a release say nothing.
        let stray = merge(&values.replace(
            "http://jetscale-ci-backend-api:8000",
            "http://old-backend-api:8000",
        ));
        assert_eq!(
            implied_release(&stray, &keys).as_deref(),
            Some("jetscale-ci")
        );
        let outside = merge(
            "backend-api:\n  env:\n    JETSCALE_DB_HOST: db.example.com\nfrontend:\n  env:\n    VITE_API_BASE_URL: https://api.example.com\n",
        );
        assert_eq!(implied_release(&outside, &keys), None);
    }
}

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
    let enabled = |pointer: &str| merged.get(pointer) == Some(&Value::Bool(true));
    let mut expected: Vec<(String, String)> = Vec::new();
    for key in dependency_keys {
        let env = format!("/{}/env", escape_key(key));
        if enabled("/postgres/enabled") {
            expected.push((
                format!("{env}/JETSCALE_DB_HOST"),
                format!("{release}-postgres"),
            ));
        }
        if enabled("/redis/enabled") {
            expected.push((
                format!("{env}/JETSCALE_REDIS_HOST"),
                format!("{release}-redis-master"),
            ));
        }
    }
    let mut out = Vec::new();
    for (pointer, want) in expected {
        let Some(actual) = merged.get(&pointer).and_then(Value::as_str) else {
            continue;
        };
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
    // The frontend's API URL, when it names a Service of the cluster (no dots, not localhost).
    let pointer = "/frontend/env/VITE_API_BASE_URL";
    if let Some(url) = merged.get(pointer).and_then(Value::as_str) {
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(url)
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        let want = format!("{release}-backend-api");
        if !host.contains('.') && host != "localhost" && host != want {
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

fn display(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .replace('/', ".")
        .replace("~1", "/")
        .replace("~0", "~")
}

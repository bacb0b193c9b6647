//! `ingress/*`: HTTPS on AWS (`ingress/tls`), preview/prod parity (`ingress/parity`), and one
//! target per public host (`ingress/host-unique`).
//!
//! The first two apply to the envs of the clouds whose Ingresses become AWS load balancers
//! (`envs.aws-clouds`). Parity has a part within each target (DNS name and API URL agree with
//! the Ingress host) and a part across targets: the previews (`envs.preview-dirs`) and
//! production (`envs.production-dirs`) share one certificate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sources::{At, Sources, describe};
use super::{CrossTargetRule, Scope, TargetCx, TargetFact, TargetRule, finding, rule};
use crate::config::Config;
use crate::findings::{Diagnostic, Severity};
use crate::helm::RenderedObject;
use crate::values::{Merged, escape_key};

pub const RULES: &[super::Rule] = &[
    rule(
        "ingress/tls",
        Severity::Error,
        Scope::Target,
        "every AWS Ingress serves HTTPS: ports 80 and 443, redirect, pinned policy, certificate",
    ),
    rule(
        "ingress/parity",
        Severity::Error,
        Scope::CrossTarget,
        "preview and prod share a certificate; DNS and API URLs match the Ingress host",
    ),
    rule(
        "ingress/host-unique",
        Severity::Error,
        Scope::CrossTarget,
        "no two targets of one cloud claim the same host (Ingress host or ExternalDNS name)",
    ),
];

/// `ingress/tls` on the envs of AWS clouds.
pub struct Tls;

impl TargetRule for Tls {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered
            && cx.on_aws()
        {
            out.extend(ingress_tls(&rendered.objects, Some(cx.merged), cx.sources));
        }
    }
}

/// The part of `ingress/parity` within one target: the ExternalDNS name is the Ingress host,
/// and in production the frontend calls the API on that host over HTTPS.
pub struct ParityWithinTarget;

impl TargetRule for ParityWithinTarget {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered
            && cx.on_aws()
        {
            let production = cx.in_group(&cx.config.envs.production_dirs);
            out.extend(
                ingress_facts(&rendered.objects, Some(cx.merged), production, cx.sources).findings,
            );
        }
    }
}

/// The part of `ingress/parity` across targets: every preview and production env serves the
/// same certificate. The fact of a target is its certificate and where a layer set it.
pub struct CertificateParity;

impl CrossTargetRule for CertificateParity {
    fn id(&self) -> &'static str {
        "ingress/parity"
    }

    fn collect(&self, cx: &TargetCx<'_>) -> Option<Value> {
        let rendered = cx.rendered?;
        let envs = &cx.config.envs;
        if !cx.on_aws() || !(cx.in_group(&envs.production_dirs) || cx.in_group(&envs.preview_dirs))
        {
            return None;
        }
        let facts = ingress_facts(&rendered.objects, Some(cx.merged), false, cx.sources);
        serde_json::to_value(facts.certificate?).ok()
    }

    fn compare(&self, facts: &[TargetFact<'_>], _config: &Config) -> Vec<Diagnostic> {
        let group: Vec<(&str, Certificate)> = facts
            .iter()
            .filter_map(|f| Some((f.target.name.as_str(), super::decode_fact(self, f)?)))
            .collect();
        certificate_parity(&group)
    }
}

/// A certificate an Ingress serves and where a values layer set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub arn: String,
    pub at: Option<At>,
}

/// The pinned ALB TLS policy every AWS Ingress uses.
pub const PINNED_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

const ALB: &str = "alb.ingress.kubernetes.io/";

/// `ingress/tls`: on AWS, every Ingress listens on HTTP 80 and HTTPS 443, redirects to 443,
/// pins the TLS policy and names a certificate. Green must mean reachable over HTTPS.
pub fn ingress_tls(
    objects: &[RenderedObject],
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for ingress in objects.iter().filter(|o| o.kind() == "Ingress") {
        let annotations = ingress
            .value
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        let get = |key: &str| {
            annotations
                .and_then(|a| a.get(&format!("{ALB}{key}")))
                .and_then(Value::as_str)
        };
        let mut problems = Vec::new();
        let ports = get("listen-ports").unwrap_or("");
        let listens = |proto: &str, port: u16| {
            serde_json::from_str::<Vec<BTreeMap<String, u16>>>(ports)
                .map(|list| list.iter().any(|m| m.get(proto) == Some(&port)))
                .unwrap_or(false)
        };
        if !(listens("HTTP", 80) && listens("HTTPS", 443)) {
            problems.push((
                "listen-ports",
                format!("listen-ports {ports:?} lacks HTTP 80 and HTTPS 443"),
            ));
        }
        if get("ssl-redirect") != Some("443") {
            problems.push((
                "ssl-redirect",
                format!("ssl-redirect is {}, not 443", shown(get("ssl-redirect"))),
            ));
        }
        if get("ssl-policy") != Some(PINNED_SSL_POLICY) {
            problems.push((
                "ssl-policy",
                format!(
                    "ssl-policy is {}, not the pinned {PINNED_SSL_POLICY}",
                    shown(get("ssl-policy"))
                ),
            ));
        }
        if get("certificate-arn").is_none_or(str::is_empty) {
            problems.push(("certificate-arn", "no certificate-arn".to_string()));
        }
        for (key, problem) in problems {
            let d = finding(
                "ingress/tls",
                format!(
                    "{}: {problem}; the load balancer would not serve HTTPS as expected",
                    describe(ingress)
                ),
            )
            .with_hint(
                "shared ALB settings live in envs/aws.yaml; each env sets its certificate-arn",
            );
            out.push(locate_annotation(d, ingress, key, merged, sources));
        }
    }
    out
}

/// The ExternalDNS annotation naming the DNS records of an Ingress (comma-separated).
const EXTERNAL_DNS_HOSTNAME: &str = "external-dns.alpha.kubernetes.io/hostname";

/// The hosts of an Ingress's rules.
fn rule_hosts(ingress: &RenderedObject) -> Vec<&str> {
    ingress
        .value
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("host").and_then(Value::as_str))
        .collect()
}

/// The ExternalDNS annotation of an Ingress, as written (comma-separated names).
fn external_dns_names(ingress: &RenderedObject) -> Option<&str> {
    ingress
        .value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(EXTERNAL_DNS_HOSTNAME))
        .and_then(Value::as_str)
}

/// Where a layer of the merged values sets `pointer`: file, line, column.
fn values_origin(merged: Option<&Merged>, pointer: &str) -> Option<At> {
    merged
        .and_then(|m| m.provenance.origin(pointer))
        .map(|o| (o.file, o.line, o.column))
}

/// At the values line of `ingress.annotations.<alb key>` when a layer sets it, else the template.
fn locate_annotation(
    d: Diagnostic,
    object: &RenderedObject,
    key: &str,
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Diagnostic {
    let pointer = format!(
        "/ingress/annotations/{}",
        escape_key(&format!("{ALB}{key}"))
    );
    match values_origin(merged, &pointer) {
        Some((file, line, column)) => d.at(file, line, column).with_path(pointer),
        None => sources.locate(d, object),
    }
}

/// What `ingress/parity` finds in one target: its certificate, and its findings within it.
#[derive(Debug, Clone)]
pub struct IngressFacts {
    pub certificate: Option<Certificate>,
    pub findings: Vec<Diagnostic>,
}

/// The per-target half of `ingress/parity`: the ExternalDNS hostname equals the Ingress
/// host, and (in prod) the frontend's API base URL is `https://<host>`. Returns the
/// certificate for the cross-target half.
pub fn ingress_facts(
    objects: &[RenderedObject],
    merged: Option<&Merged>,
    check_api_url: bool,
    sources: &Sources<'_>,
) -> IngressFacts {
    let mut facts = IngressFacts {
        certificate: None,
        findings: Vec::new(),
    };
    for ingress in objects.iter().filter(|o| o.kind() == "Ingress") {
        let hosts = rule_hosts(ingress);
        let annotations = ingress
            .value
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        if let Some(arn) = annotations
            .and_then(|a| a.get(&format!("{ALB}certificate-arn")))
            .and_then(Value::as_str)
        {
            let pointer = format!(
                "/ingress/annotations/{}",
                escape_key(&format!("{ALB}certificate-arn"))
            );
            let at = values_origin(merged, &pointer);
            facts.certificate = Some(Certificate {
                arn: arn.to_string(),
                at,
            });
        }
        if let Some(dns) = external_dns_names(ingress)
            && hosts != [dns]
        {
            let d = finding(
                "ingress/parity",
                format!(
                    "{}: the ExternalDNS hostname {dns:?} is not its host {hosts:?}",
                    describe(ingress)
                ),
            )
            .with_hint("publish exactly the host the Ingress serves");
            let pointer = format!("/ingress/annotations/{}", escape_key(EXTERNAL_DNS_HOSTNAME));
            facts.findings.push(match values_origin(merged, &pointer) {
                Some((file, line, column)) => d.at(file, line, column).with_path(pointer),
                None => sources.locate(d, ingress),
            });
        }
        if check_api_url && let [host] = hosts.as_slice() {
            let pointer = "/frontend/env/VITE_API_BASE_URL";
            let expected = format!("https://{host}");
            let actual = merged.and_then(|m| m.get(pointer)).and_then(Value::as_str);
            if actual != Some(expected.as_str()) {
                let d = finding(
                    "ingress/parity",
                    format!(
                        "frontend.env.VITE_API_BASE_URL is {}, not {expected}",
                        shown(actual)
                    ),
                )
                .with_hint(
                    "the browser must call the API on the host it was served from, over HTTPS",
                );
                facts
                    .findings
                    .push(match merged.and_then(|m| m.provenance.locate(pointer)) {
                        Some(o) => d.at(o.file, o.line, o.column).with_path(pointer),
                        None => d,
                    });
            }
        }
    }
    facts
}

/// The cross-target half of `ingress/parity`: one certificate across a parity group (each
/// target with its certificate). The odd ones out (against the most common certificate) are
/// reported where they set it.
pub fn certificate_parity(group: &[(&str, Certificate)]) -> Vec<Diagnostic> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, certificate) in group {
        *counts.entry(&certificate.arn).or_default() += 1;
    }
    let Some((common, _)) = counts.iter().max_by_key(|(_, n)| **n) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (target, Certificate { arn, at }) in group {
        if arn == common {
            continue;
        }
        let mut d = finding(
            "ingress/parity",
            format!("{target} uses certificate {arn}, but its parity group uses {common}"),
        )
        .with_hint("preview and prod share the wildcard certificate: copy its ARN")
        .with_target(target.to_string());
        if let Some((file, line, column)) = at {
            d = d.at(file.clone(), *line, *column);
        }
        out.push(d);
    }
    out
}

/// `ingress/host-unique`: two targets of one cloud claiming one host put two load balancers
/// behind one DNS name, and ExternalDNS flips the record between them. The fact of a target is
/// its cloud and the hosts it claims, each where it was set.
pub struct HostUnique;

/// One target's claims on public hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostClaims {
    pub cloud: String,
    pub claims: Vec<HostClaim>,
}

/// A host a target claims, how (`Ingress host`, `ExternalDNS hostname`) and where it was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostClaim {
    pub host: String,
    pub via: String,
    pub at: Option<At>,
}

impl CrossTargetRule for HostUnique {
    fn id(&self) -> &'static str {
        "ingress/host-unique"
    }

    fn collect(&self, cx: &TargetCx<'_>) -> Option<Value> {
        let rendered = cx.rendered?;
        // Env targets only (variants run locally or in CI, on no public host); a layout
        // without a cloud layer is one cloud.
        if cx.target.kind != crate::target::TargetKind::Env {
            return None;
        }
        let cloud = cx.cloud().unwrap_or_default().to_string();
        let claims = host_claims(&rendered.objects, Some(cx.merged), cx.on_aws(), cx.sources);
        if claims.is_empty() {
            return None;
        }
        serde_json::to_value(HostClaims { cloud, claims }).ok()
    }

    fn compare(&self, facts: &[TargetFact<'_>], _config: &Config) -> Vec<Diagnostic> {
        let targets: Vec<(&str, HostClaims)> = facts
            .iter()
            .filter_map(|f| Some((f.target.name.as_str(), super::decode_fact(self, f)?)))
            .collect();
        shared_hosts(&targets)
    }
}

/// The hosts the Ingresses of one target claim: their rules' hosts (located at the
/// `ingress.hosts` key that set each) and their ExternalDNS hostnames, each host once. On AWS
/// an ExternalDNS name that is not the Ingress's one host is `ingress/parity`'s finding in
/// this target already, and is not counted again here.
pub fn host_claims(
    objects: &[RenderedObject],
    merged: Option<&Merged>,
    on_aws: bool,
    sources: &Sources<'_>,
) -> Vec<HostClaim> {
    let mut claims: Vec<HostClaim> = Vec::new();
    let template_at = |ingress: &RenderedObject, keys: &[&str]| {
        let d = sources.locate_field(finding("ingress/host-unique", ""), ingress, keys);
        Some((d.file?, d.line.unwrap_or(1), d.column.unwrap_or(1)))
    };
    for ingress in objects.iter().filter(|o| o.kind() == "Ingress") {
        let hosts = rule_hosts(ingress);
        let mut found: Vec<HostClaim> = hosts
            .iter()
            .map(|host| {
                let pointer = format!("/ingress/hosts/{}", escape_key(host));
                let at =
                    values_origin(merged, &pointer).or_else(|| template_at(ingress, &["host"]));
                HostClaim {
                    host: host.to_string(),
                    via: "Ingress host".to_string(),
                    at,
                }
            })
            .collect();
        if let Some(dns) = external_dns_names(ingress)
            && !(on_aws && hosts != [dns])
        {
            let pointer = format!("/ingress/annotations/{}", escape_key(EXTERNAL_DNS_HOSTNAME));
            let at =
                values_origin(merged, &pointer).or_else(|| template_at(ingress, &["annotations"]));
            found.extend(
                dns.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(|host| HostClaim {
                        host: host.to_string(),
                        via: "ExternalDNS hostname".to_string(),
                        at: at.clone(),
                    }),
            );
        }
        for claim in found {
            if !claims.iter().any(|c| c.host == claim.host) {
                claims.push(claim);
            }
        }
    }
    claims
}

/// The cross-target half of `ingress/host-unique`: each host claimed by a target of a cloud
/// another target of that cloud claimed first (in the order given) is reported where the
/// later target sets it, naming where the first does.
pub fn shared_hosts(targets: &[(&str, HostClaims)]) -> Vec<Diagnostic> {
    let mut first: BTreeMap<(&str, &str), (&str, &HostClaim)> = BTreeMap::new();
    let mut out = Vec::new();
    for (target, facts) in targets {
        for claim in &facts.claims {
            let key = (facts.cloud.as_str(), claim.host.as_str());
            let Some((other, theirs)) = first.get(&key) else {
                first.insert(key, (target, claim));
                continue;
            };
            let where_theirs = match &theirs.at {
                Some((file, line, _)) => format!(" at {file}:{line}"),
                None => String::new(),
            };
            let mut d = finding(
                "ingress/host-unique",
                format!(
                    "{target} claims host {} ({}), which {other} also claims ({}{where_theirs}): two load balancers would fight over one DNS record",
                    claim.host, claim.via, theirs.via
                ),
            )
            .with_hint("give each environment its own host; a copied env file keeps the host of the one it was copied from")
            .with_target(target.to_string());
            if let Some((file, line, column)) = &claim.at {
                d = d.at(file.clone(), *line, *column);
            }
            out.push(d);
        }
    }
    out
}

/// A value read from the rendered manifests as a message shows it: as written, or `unset`.
fn shown(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("`{v}`"),
        None => "unset".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::render::fixtures::{SOURCES, objects};
    use crate::values::{merge_chain, parse_layer};

    fn claims_of(file: &str, host: &str, dns: &str, on_aws: bool) -> Vec<HostClaim> {
        let defaults = parse_layer("charts/jetscale/values.yaml", "ingress: {}\n").unwrap();
        let env = parse_layer(
            file,
            &format!(
                "ingress:\n  annotations:\n    external-dns.alpha.kubernetes.io/hostname: {dns}\n  hosts:\n    {host}: []\n"
            ),
        )
        .unwrap();
        let merged = merge_chain(&defaults, &[env]);
        let objs = objects(&format!(
            "---\n# Source: jetscale/templates/ingress.yaml\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: r\n  annotations: {{external-dns.alpha.kubernetes.io/hostname: \"{dns}\"}}\nspec:\n  rules: [{{host: {host}}}]\n"
        ));
        host_claims(&objs, Some(&merged), on_aws, &SOURCES)
    }

    /// The incident: an env file copied from another keeps its host; both targets' load
    /// balancers would claim one DNS record. Reported at the copy's line, naming the first.
    #[test]
    fn two_targets_of_one_cloud_claiming_one_host_are_reported_naming_both_lines() {
        let bridgit = claims_of(
            "envs/staging/bridgit.yaml",
            "bridgit.staging.jetscale.ai",
            "bridgit.staging.jetscale.ai",
            true,
        );
        // One claim per host: the annotation repeats the Ingress host.
        assert_eq!(bridgit.len(), 1, "{bridgit:?}");
        let link4 = claims_of(
            "envs/staging/link4.yaml",
            "bridgit.staging.jetscale.ai",
            "bridgit.staging.jetscale.ai",
            true,
        );
        let facts = |claims: Vec<HostClaim>, cloud: &str| HostClaims {
            cloud: cloud.to_string(),
            claims,
        };
        let found = shared_hosts(&[
            ("envs/staging/bridgit.yaml", facts(bridgit.clone(), "aws")),
            ("envs/staging/link4.yaml", facts(link4.clone(), "aws")),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].file.as_deref(), found[0].line),
            (Some("envs/staging/link4.yaml"), Some(5))
        );
        assert_eq!(found[0].target.as_deref(), Some("envs/staging/link4.yaml"));
        assert!(
            found[0]
                .message
                .contains("which envs/staging/bridgit.yaml also claims (Ingress host at envs/staging/bridgit.yaml:5)"),
            "{}",
            found[0].message
        );
        // Another cloud's load balancers and DNS zone are not shared.
        let found = shared_hosts(&[
            ("envs/staging/bridgit.yaml", facts(bridgit, "aws")),
            ("envs/staging/link4.yaml", facts(link4, "gcp")),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    /// An ExternalDNS name claims its host too; on AWS one that is not the Ingress's own host
    /// is ingress/parity's finding and is not counted twice.
    #[test]
    fn external_dns_names_are_claims_unless_parity_reports_them() {
        let claims = claims_of(
            "envs/prod/console.yaml",
            "console.jetscale.ai",
            "demo.jetscale.ai",
            false,
        );
        let hosts: Vec<(&str, &str, usize)> = claims
            .iter()
            .map(|c| (c.host.as_str(), c.via.as_str(), c.at.as_ref().unwrap().1))
            .collect();
        assert_eq!(
            hosts,
            [
                ("console.jetscale.ai", "Ingress host", 5),
                ("demo.jetscale.ai", "ExternalDNS hostname", 3)
            ]
        );
        let claims = claims_of(
            "envs/prod/console.yaml",
            "console.jetscale.ai",
            "demo.jetscale.ai",
            true,
        );
        assert_eq!(claims.len(), 1, "{claims:?}");
    }
}

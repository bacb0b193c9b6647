//! `render/*`: what the manifests helm produced for a target say, object by object and
//! together. `render/k8s-schema`, the largest, lives in [`k8s_schema`].

pub mod k8s_schema;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde_json::Value;

use super::sources::{At, Sources, describe};
use super::{Scope, TargetCx, TargetRule, finding, rule};
use crate::findings::{Diagnostic, Severity};
use crate::fsutil::display_join;
use crate::helm::{RenderError, RenderedObject};
use crate::values::{Merged, escape_key};

pub const RULES: &[super::Rule] = &[
    rule(
        "render/helm-error",
        Severity::Error,
        Scope::Target,
        "helm template renders the target",
    ),
    rule(
        "render/helm-warning",
        Severity::Warning,
        Scope::Target,
        "helm prints no warning while rendering",
    ),
    rule(
        "render/duplicate-object",
        Severity::Error,
        Scope::Target,
        "no two rendered objects share group, kind, namespace and name",
    ),
    rule(
        "render/dangling-reference",
        Severity::Error,
        Scope::Target,
        "every Service, port, Secret, ConfigMap, ServiceAccount and claim a rendered object references exists",
    ),
    rule(
        "render/name-too-long",
        Severity::Error,
        Scope::Target,
        "rendered names are DNS-1123 names within Kubernetes' length limits",
    ),
    rule(
        "render/external-secret-key",
        Severity::Error,
        Scope::Target,
        "every ExternalSecret remote key is a full path",
    ),
    rule(
        "render/cronjob-schedule",
        Severity::Error,
        Scope::Target,
        "every CronJob has a five-field schedule and a command",
    ),
    rule(
        "render/resources",
        Severity::Error,
        Scope::Target,
        "no container requests more CPU or memory than its limit",
    ),
    k8s_schema::RULE,
];

/// `render/helm-error`: why helm did not render the target, at the umbrella template line
/// when helm names one. (A dependency's templates live in its archive, so their location
/// stays in the message.)
pub fn helm_error(error: RenderError, target: &str, sources: &Sources<'_>) -> Diagnostic {
    match error {
        RenderError::Timeout(after) => finding(
            "render/helm-error",
            format!(
                "helm template of {target} did not finish within {} ([render] timeout in stackctl.toml) and was stopped",
                crate::process::seconds(after)
            ),
        )
        .with_hint(
            "find why helm hangs on this target (a template that loops, a lookup that waits); if rendering is just slow, raise `timeout` under [render] in stackctl.toml",
        ),
        RenderError::Helm { message, template } => {
            let mut d = finding("render/helm-error", message)
                .with_hint("the layer chain shows which values files were applied");
            if let Some(t) = template
                && let Some(rest) = t
                    .file
                    .strip_prefix(&format!("{}/templates/", sources.chart_name))
            {
                let file = display_join(sources.chart_dir, &format!("templates/{rest}"));
                d = d.at(file, t.line.unwrap_or(1), t.column.unwrap_or(1));
            }
            d
        }
        RenderError::Cancelled => finding("render/helm-error", "interrupted"),
        RenderError::Run(message) | RenderError::Output(message) => {
            finding("render/helm-error", message)
        }
    }
}

/// What an Ingress path may point at instead: the Services the target renders.
fn service_hint(services: &BTreeMap<&str, &RenderedObject>) -> String {
    const SHOWN: usize = 5;
    let names: Vec<&str> = services.keys().copied().collect();
    match names.len() {
        0 => "the target renders no Service: render one, or remove the path".to_string(),
        n if n <= SHOWN => format!("point the path at a rendered Service: {}", names.join(", ")),
        n => format!(
            "point the path at a rendered Service: {}, and {} more",
            names[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

/// `render/helm-warning`: each line helm printed on stderr while rendering.
pub struct HelmWarning;

impl TargetRule for HelmWarning {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        let Some(rendered) = cx.rendered else {
            return;
        };
        out.extend(rendered.warnings.iter().map(|w| {
            finding("render/helm-warning", w.clone())
                .with_hint("helm warns when values are dropped or overridden with another type")
        }));
    }
}

/// `render/duplicate-object`.
pub struct DuplicateObject;

impl TargetRule for DuplicateObject {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered {
            out.extend(duplicate_objects(
                &rendered.objects,
                &cx.target.namespace,
                &cx.target.release,
                Some(cx.merged),
                cx.sources,
            ));
        }
    }
}

/// `render/name-too-long`, at the `release` line of `stackctl.toml` when the release makes
/// the name too long.
pub struct NameTooLong;

impl TargetRule for NameTooLong {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        let Some(rendered) = cx.rendered else {
            return;
        };
        let release_at = cx
            .config
            .release_lines
            .get(&cx.target.name)
            .map(|&line| (crate::config::CONFIG_FILE.to_string(), line, 1));
        out.extend(name_lengths(
            &rendered.objects,
            &cx.target.release,
            release_at.as_ref(),
            cx.sources,
        ));
    }
}

/// `render/external-secret-key`.
pub struct ExternalSecretKey;

impl TargetRule for ExternalSecretKey {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered {
            out.extend(external_secret_keys(&rendered.objects, cx.sources));
        }
    }
}

/// `render/cronjob-schedule`.
pub struct CronjobSchedule;

impl TargetRule for CronjobSchedule {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered {
            out.extend(cronjob_schedules(
                &rendered.objects,
                &cx.target.release,
                &cx.dependency_keys(),
                Some(cx.merged),
                cx.sources,
            ));
        }
    }
}

/// `render/resources`.
pub struct Resources;

impl TargetRule for Resources {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered {
            out.extend(resources(&rendered.objects, Some(cx.merged), cx.sources));
        }
    }
}

/// `render/dangling-reference`, knowing what the target declares is provided outside the
/// chart (`external-refs`).
pub struct DanglingReference;

impl TargetRule for DanglingReference {
    fn check(&self, cx: &TargetCx<'_>, out: &mut Vec<Diagnostic>) {
        if let Some(rendered) = cx.rendered {
            out.extend(dangling_references(
                &rendered.objects,
                &cx.target.release,
                &cx.target.external_refs,
                Some(cx.merged),
                cx.sources,
            ));
        }
    }
}

/// `render/duplicate-object`: two objects with the same group, kind, namespace and name.
pub fn duplicate_objects(
    objects: &[RenderedObject],
    namespace: &str,
    release: &str,
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut seen: BTreeMap<(String, String, String, String), &RenderedObject> = BTreeMap::new();
    let mut out = Vec::new();
    for object in objects {
        let key = (
            object.group().to_string(),
            object.kind().to_string(),
            object.namespace(namespace).to_string(),
            object.name().to_string(),
        );
        if let Some(first) = seen.get(&key) {
            let d = finding(
                "render/duplicate-object",
                format!(
                    "{} is rendered twice in namespace {} (by {} and {})",
                    describe(object),
                    key.2,
                    first.source,
                    object.source
                ),
            )
            .with_hint(
                "two templates or two map entries produce the same object: rename or remove one",
            );
            out.push(locate_duplicate(d, first, object, release, merged, sources));
        } else {
            seen.insert(key, object);
        }
    }
    out
}

/// Where a duplicate is fixed: the `name:` line of the template of this repository that
/// renders the second copy, else the first's. Two copies from dependency charts (whose
/// templates are in their archives) come from values: the `fullnameOverride` or
/// `nameOverride` that renamed one, a CronJob's `cronJobs` entry, else the dependency's block
/// in the layers.
fn locate_duplicate(
    d: Diagnostic,
    first: &RenderedObject,
    second: &RenderedObject,
    release: &str,
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Diagnostic {
    for object in [second, first] {
        if sources.template_file(object).is_some() {
            return sources.locate_field(d, object, &["metadata", "name"]);
        }
    }
    let Some(merged) = merged else {
        return d;
    };
    for object in [second, first] {
        let Some(dependency) = sources.dependency_key(object) else {
            continue;
        };
        let block = format!("/{}", escape_key(dependency));
        let mut pointers = vec![
            format!("{block}/fullnameOverride"),
            format!("{block}/nameOverride"),
        ];
        if object.kind() == "CronJob"
            && let Some(entry) = cronjob_entry(object, release, &[dependency])
        {
            pointers.push(entry);
        }
        for pointer in &pointers {
            if let Some(o) = merged.origin(pointer) {
                return d.at(o.file, o.line, o.column).with_path(pointer.clone());
            }
        }
        if let Some(o) = merged.locate(&block) {
            return d.at(o.file, o.line, o.column).with_path(block);
        }
    }
    d
}

/// The pod template of a workload, if the object has one.
fn pod_spec(object: &RenderedObject) -> Option<&Value> {
    match object.kind() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            object.value.pointer("/spec/template/spec")
        }
        "CronJob" => object.value.pointer("/spec/jobTemplate/spec/template/spec"),
        "Pod" => object.value.get("spec"),
        _ => None,
    }
}

fn pod_labels(object: &RenderedObject) -> Option<&serde_json::Map<String, Value>> {
    let pointer = match object.kind() {
        "CronJob" => "/spec/jobTemplate/spec/template/metadata/labels",
        "Pod" => "/metadata/labels",
        _ => "/spec/template/metadata/labels",
    };
    object.value.pointer(pointer).and_then(Value::as_object)
}

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["containers", "initContainers"]
        .into_iter()
        .filter_map(|k| spec.get(k).and_then(Value::as_array))
        .flatten()
}

/// `render/dangling-reference`: references to objects that are neither rendered nor declared
/// as provided outside the chart: Ingress backends (Service and port), `envFrom` Secrets and
/// ConfigMaps, a pod's ServiceAccount, pull secrets and volumes, and Service target ports no
/// selected container declares.
pub fn dangling_references(
    objects: &[RenderedObject],
    release: &str,
    external_refs: &[String],
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let services: BTreeMap<&str, &RenderedObject> = objects
        .iter()
        .filter(|o| o.kind() == "Service")
        .map(|o| (o.name(), o))
        .collect();
    let rendered = RenderedNames::of(objects);
    let external: BTreeSet<&str> = external_refs.iter().map(String::as_str).collect();

    // Ingress backends.
    for ingress in objects.iter().filter(|o| o.kind() == "Ingress") {
        let rules = ingress
            .value
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for rule in &rules {
            let paths = rule
                .pointer("/http/paths")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for path in &paths {
                let Some(service) = path.pointer("/backend/service") else {
                    continue;
                };
                let name = service.get("name").and_then(Value::as_str).unwrap_or("");
                let port = service.get("port").cloned().unwrap_or(Value::Null);
                if port.get("name").and_then(Value::as_str) == Some("use-annotation") {
                    continue; // An ALB action named by annotation, not a Service.
                }
                let Some(svc) = services.get(name) else {
                    let d = finding(
                        "render/dangling-reference",
                        format!(
                            "{} routes {} to Service {name}, which is not rendered",
                            describe(ingress),
                            path["path"]
                        ),
                    )
                    .with_hint(service_hint(&services));
                    out.push(sources.locate_field(d, ingress, &["spec", "rules"]));
                    continue;
                };
                let ports = svc
                    .value
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let matches =
                    ports
                        .iter()
                        .any(|p| match (&port.get("number"), &port.get("name")) {
                            (Some(n), _) => p.get("port") == Some(n),
                            (_, Some(n)) => p.get("name") == Some(n),
                            _ => false,
                        });
                if !matches {
                    let exposed: Vec<String> = ports
                        .iter()
                        .map(
                            |p| match (p.get("port"), p.get("name").and_then(Value::as_str)) {
                                (Some(n), Some(name)) => format!("{n} ({name})"),
                                (Some(n), None) => n.to_string(),
                                _ => "?".to_string(),
                            },
                        )
                        .collect();
                    let d = finding(
                        "render/dangling-reference",
                        format!(
                            "{} routes {} to port {port} of Service {name}, which has no such port",
                            describe(ingress),
                            path["path"]
                        ),
                    )
                    .with_hint(match exposed.is_empty() {
                        true => format!(
                            "Service {name} exposes no port: give it one, or route elsewhere"
                        ),
                        false => {
                            format!("use a port Service {name} exposes: {}", exposed.join(", "))
                        }
                    });
                    out.push(sources.locate_field(d, ingress, &["spec", "rules"]));
                }
            }
        }
    }

    // envFrom Secrets and ConfigMaps of every workload.
    let known = rendered.with(&external);
    for workload in objects {
        let Some(spec) = pod_spec(workload) else {
            continue;
        };
        for (what, name) in missing_env_from(spec, &known) {
            let mut d = finding(
                "render/dangling-reference",
                format!("{} reads {what} {name} (envFrom), which is neither rendered nor provided outside the chart", describe(workload)),
            )
            .with_hint(format!(
                "enable the chart feature that renders it, drop the key (set it to false), or list \"{}\" in external-refs of stackctl.toml when the infrastructure provides it",
                name.replacen(release, "{release}", 1)
            ));
            // The values line of the envFrom key is where a user fixes it.
            let key = name.strip_prefix(&format!("{release}-")).unwrap_or(name);
            let app = workload
                .value
                .pointer("/metadata/labels/app.kubernetes.io~1name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let origin = merged.and_then(|m| {
                m.provenance
                    .locate(&format!("/{}/envFrom/{}", escape_key(app), escape_key(key)))
            });
            d = match origin {
                Some(o) => d.at(o.file, o.line, o.column).with_path(format!(
                    "/{}/envFrom/{}",
                    escape_key(app),
                    escape_key(key)
                )),
                None => sources.locate(d, workload),
            };
            out.push(d);
        }
    }

    // What a pod runs as and mounts: its ServiceAccount, pull secrets and volumes.
    type Place = (String, Option<String>, Option<usize>);
    let mut pod_findings: Vec<(Place, Diagnostic, usize)> = Vec::new();
    for workload in objects {
        let Some(spec) = pod_spec(workload) else {
            continue;
        };
        for missing in missing_pod_refs(spec, &known) {
            let d = finding(
                "render/dangling-reference",
                format!(
                    "{} {}, which is neither rendered nor provided outside the chart",
                    describe(workload),
                    missing.what
                ),
            )
            .with_hint(format!(
                "{}, or list \"{}\" in external-refs of stackctl.toml when the infrastructure provides it",
                missing.fix,
                missing.name.replacen(release, "{release}", 1)
            ));
            let d = locate_pod_ref(d, workload, &missing, merged, sources);
            // One finding per reference and place: the same ServiceAccount of six CronJobs
            // of one chart is one line to change, not six.
            let place = (missing.what, d.file.clone(), d.line);
            match pod_findings.iter_mut().find(|(seen, _, _)| *seen == place) {
                Some((_, _, more)) => *more += 1,
                None => pod_findings.push((place, d, 0)),
            }
        }
    }
    for (_, mut d, more) in pod_findings {
        if more > 0 {
            d.message = format!("{} (and {more} more objects)", d.message);
        }
        out.push(d);
    }

    // Services whose named targetPort no selected container declares.
    let workloads: Vec<(&RenderedObject, &serde_json::Map<String, Value>, &Value)> = objects
        .iter()
        .filter(|o| o.kind() != "CronJob" && o.kind() != "Job")
        .filter_map(|o| Some((o, pod_labels(o)?, pod_spec(o)?)))
        .collect();
    for service in services.values() {
        let Some(selector) = service
            .value
            .pointer("/spec/selector")
            .and_then(Value::as_object)
        else {
            continue;
        };
        let selected: Vec<&Value> = workloads
            .iter()
            .filter(|(_, labels, _)| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
            .map(|(_, _, spec)| *spec)
            .collect();
        if selected.is_empty() {
            continue; // Pods from outside the chart may match; nothing to compare against.
        }
        for port in service
            .value
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(target) = port.get("targetPort").and_then(Value::as_str) else {
                continue;
            };
            let declared = selected.iter().any(|spec| {
                containers(spec).any(|c| {
                    c.get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|p| p.get("name").and_then(Value::as_str) == Some(target))
                })
            });
            if !declared {
                let d = finding(
                    "render/dangling-reference",
                    format!("{} targets port {target:?}, which no selected container declares: the Service has no endpoints", describe(service)),
                )
                .with_hint("name the container port like the Service's targetPort, or target the port number");
                out.push(sources.locate(d, service));
            }
        }
    }
    out
}

/// The objects of each kind a render provides to the pods that reference them.
struct RenderedNames<'a> {
    service_accounts: BTreeSet<&'a str>,
    /// Secrets rendered, and the targets of rendered ExternalSecrets.
    secrets: BTreeSet<&'a str>,
    config_maps: BTreeSet<&'a str>,
    claims: BTreeSet<&'a str>,
}

impl<'a> RenderedNames<'a> {
    fn of(objects: &'a [RenderedObject]) -> RenderedNames<'a> {
        let named = |kind: &str| -> BTreeSet<&'a str> {
            objects
                .iter()
                .filter(|o| o.kind() == kind)
                .map(|o| o.name())
                .collect()
        };
        let mut secrets = named("Secret");
        for es in objects.iter().filter(|o| o.kind() == "ExternalSecret") {
            let target = es
                .value
                .pointer("/spec/target/name")
                .and_then(Value::as_str)
                .unwrap_or(es.name());
            secrets.insert(target);
        }
        let mut service_accounts = named("ServiceAccount");
        // Kubernetes creates `default` in every namespace; a pod that names none runs as it.
        service_accounts.insert("default");
        RenderedNames {
            service_accounts,
            secrets,
            config_maps: named("ConfigMap"),
            claims: named("PersistentVolumeClaim"),
        }
    }

    /// What a pod may reference: these, and what `external-refs` declares.
    fn with<'k>(&'k self, external: &'k BTreeSet<&'k str>) -> PodRefsKnown<'k> {
        PodRefsKnown {
            service_accounts: &self.service_accounts,
            secrets: &self.secrets,
            config_maps: &self.config_maps,
            claims: &self.claims,
            external,
        }
    }
}

/// The names a pod may reference: rendered objects of each kind, and what `external-refs`
/// declares provided outside the chart.
struct PodRefsKnown<'a> {
    service_accounts: &'a BTreeSet<&'a str>,
    secrets: &'a BTreeSet<&'a str>,
    config_maps: &'a BTreeSet<&'a str>,
    claims: &'a BTreeSet<&'a str>,
    external: &'a BTreeSet<&'a str>,
}

/// The `envFrom` Secrets and ConfigMaps of a pod spec's containers that name nothing rendered
/// or provided, by kind (`Secret`, `ConfigMap`) and name. A source marked `optional: true`
/// may be missing.
fn missing_env_from<'v>(spec: &'v Value, known: &PodRefsKnown<'_>) -> Vec<(&'static str, &'v str)> {
    let mut out = Vec::new();
    for container in containers(spec) {
        for source in container
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for (kind, what, set) in [
                ("secretRef", "Secret", known.secrets),
                ("configMapRef", "ConfigMap", known.config_maps),
            ] {
                let Some(name) = source
                    .pointer(&format!("/{kind}/name"))
                    .and_then(Value::as_str)
                else {
                    continue;
                };
                let optional =
                    source.pointer(&format!("/{kind}/optional")) == Some(&Value::Bool(true));
                if set.contains(name) || known.external.contains(name) || optional {
                    continue;
                }
                out.push((what, name));
            }
        }
    }
    out
}

/// The names of every object the pods of a render reference (envFrom sources, ServiceAccount,
/// pull secrets, volumes) that the render does not provide, each with how it is referenced
/// (`Secret (envFrom)`, `ServiceAccount`, `image pull Secret`, `ConfigMap volume`): what
/// `render/dangling-reference` reports of them with no `external-refs` declared, and so what
/// `external-refs` must list when something outside the chart provides them.
pub fn unprovided_pod_references(objects: &[RenderedObject]) -> BTreeMap<String, BTreeSet<String>> {
    let rendered = RenderedNames::of(objects);
    let none = BTreeSet::new();
    let known = rendered.with(&none);
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for spec in objects.iter().filter_map(pod_spec) {
        for (what, name) in missing_env_from(spec, &known) {
            names
                .entry(name.to_string())
                .or_default()
                .insert(format!("{what} (envFrom)"));
        }
        for missing in missing_pod_refs(spec, &known) {
            names
                .entry(missing.name)
                .or_default()
                .insert(missing.kind.to_string());
        }
    }
    names
}

/// A reference of a pod to an object that will not exist.
#[derive(Debug)]
struct MissingRef {
    /// How the pod references it, for the message (`runs as ServiceAccount x`).
    what: String,
    /// What it is to the pod, without its name (`ServiceAccount`, `Secret volume`).
    kind: &'static str,
    name: String,
    /// The fix within the chart, for the hint.
    fix: &'static str,
    /// The values key of the pod's chart that sets the reference (`serviceAccount/name`,
    /// `imagePullSecrets`, `volumes`), and the name of the list entry when it is in a list.
    values_key: &'static str,
    entry: Option<String>,
    /// The pod spec field that holds it, to find the template line.
    field: &'static str,
}

/// `serviceAccountName`, `imagePullSecrets` and Secret, ConfigMap and PersistentVolumeClaim
/// volumes (also projected) of a pod spec that name nothing rendered or provided. A volume
/// marked `optional: true` may be missing.
fn missing_pod_refs(spec: &Value, known: &PodRefsKnown<'_>) -> Vec<MissingRef> {
    let mut out = Vec::new();
    let provided =
        |set: &BTreeSet<&str>, name: &str| set.contains(name) || known.external.contains(name);
    let account = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .unwrap_or("default");
    if !provided(known.service_accounts, account) {
        out.push(MissingRef {
            what: format!("runs as ServiceAccount {account}"),
            kind: "ServiceAccount",
            name: account.to_string(),
            fix: "let the chart create it (serviceAccount.create: true) or name one it renders",
            values_key: "serviceAccount/name",
            entry: None,
            field: "serviceAccountName",
        });
    }
    for secret in spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = secret.get("name").and_then(Value::as_str) else {
            continue;
        };
        if !provided(known.secrets, name) {
            out.push(MissingRef {
                what: format!("pulls its images with Secret {name}"),
                kind: "image pull Secret",
                name: name.to_string(),
                fix: "remove it from imagePullSecrets",
                values_key: "imagePullSecrets",
                entry: Some(name.to_string()),
                field: "imagePullSecrets",
            });
        }
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let volume_name = volume.get("name").and_then(Value::as_str).unwrap_or("?");
        let mut sources: Vec<(&str, &Value)> = Vec::new();
        for kind in ["secret", "configMap", "persistentVolumeClaim"] {
            if let Some(source) = volume.get(kind) {
                sources.push((kind, source));
            }
        }
        for projected in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for kind in ["secret", "configMap"] {
                if let Some(source) = projected.get(kind) {
                    sources.push((kind, source));
                }
            }
        }
        for (kind, source) in sources {
            let (label, volume_kind, set, name_key) = match kind {
                "secret" if source.get("secretName").is_some() => {
                    ("Secret", "Secret volume", known.secrets, "secretName")
                }
                "secret" => ("Secret", "Secret volume", known.secrets, "name"),
                "configMap" => ("ConfigMap", "ConfigMap volume", known.config_maps, "name"),
                _ => (
                    "PersistentVolumeClaim",
                    "PersistentVolumeClaim volume",
                    known.claims,
                    "claimName",
                ),
            };
            let Some(name) = source.get(name_key).and_then(Value::as_str) else {
                continue;
            };
            if source.get("optional") == Some(&Value::Bool(true)) || provided(set, name) {
                continue;
            }
            out.push(MissingRef {
                what: format!("mounts {label} {name} (volume {volume_name})"),
                kind: volume_kind,
                name: name.to_string(),
                fix: "enable the chart feature that renders it, or remove the volume",
                values_key: "volumes",
                entry: Some(volume_name.to_string()),
                field: "volumes",
            });
        }
    }
    out
}

/// At the values line of the pod's chart that sets the reference (`<chart>.serviceAccount.name`,
/// the `imagePullSecrets` or `volumes` entry of that name), else at the template line.
fn locate_pod_ref(
    d: Diagnostic,
    workload: &RenderedObject,
    missing: &MissingRef,
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Diagnostic {
    let app = sources.dependency_key(workload).unwrap_or("");
    if let Some(merged) = merged.filter(|_| !app.is_empty()) {
        let mut pointer = format!("/{}/{}", escape_key(app), missing.values_key);
        if let Some(entry) = &missing.entry {
            let index = merged
                .get(&pointer)
                .and_then(Value::as_array)
                .and_then(|list| {
                    list.iter().position(|item| {
                        item.get("name").and_then(Value::as_str) == Some(entry.as_str())
                    })
                });
            if let Some(index) = index {
                pointer = format!("{pointer}/{index}/name");
            }
        }
        // The nearest key a layer writes when none writes this one (the chart's default
        // holds the name): the dependency's block, where the override goes.
        if let Some(o) = merged.locate(&pointer) {
            return d.at(o.file, o.line, o.column).with_path(pointer);
        }
    }
    sources.locate_field(d, workload, &[missing.field])
}

/// A CPU or memory quantity in base units (cores or bytes), as Kubernetes parses it.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0_f64.powi(4),
        _ => return None,
    };
    Some(number * factor)
}

/// `render/resources`: no container requests more than its limit.
pub fn resources(
    objects: &[RenderedObject],
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for workload in objects {
        let Some(spec) = pod_spec(workload) else {
            continue;
        };
        for container in containers(spec) {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("?");
            for resource in ["cpu", "memory"] {
                let quantity = |kind: &str| {
                    let v = container.pointer(&format!("/resources/{kind}/{resource}"))?;
                    let text = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    Some((parse_quantity(&text)?, text))
                };
                if let (Some((request, r)), Some((limit, l))) =
                    (quantity("requests"), quantity("limits"))
                    && request > limit
                {
                    let d = finding(
                        "render/resources",
                        format!("{} container {name}: {resource} request {r} is above its limit {l}", describe(workload)),
                    )
                    .with_hint("Kubernetes refuses a request above the limit: raise the limit or lower the request");
                    // The main container's resources come from `<dependency>.resources`.
                    let app = workload
                        .value
                        .pointer("/metadata/labels/app.kubernetes.io~1name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let pointer = format!("/{}/resources/requests/{resource}", escape_key(app));
                    let origin = (workload.kind() != "CronJob")
                        .then(|| merged.and_then(|m| m.provenance.origin(&pointer)))
                        .flatten();
                    out.push(match origin {
                        Some(o) => d.at(o.file, o.line, o.column).with_path(pointer),
                        None => sources.locate(d, workload),
                    });
                }
            }
        }
    }
    out
}

/// What the tests of rules on rendered objects share: this repository's chart, no files on
/// disk, and objects from a manifest as helm prints it.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub const SOURCES: Sources<'static> = Sources {
        chart_name: "jetscale",
        chart_dir: "charts/jetscale",
        root: None,
    };

    pub fn objects(manifest: &str) -> Vec<RenderedObject> {
        crate::helm::split_manifest(manifest).unwrap()
    }

    /// Where each finding points: file, line and values path, all set.
    pub fn locations(found: &[Diagnostic]) -> Vec<(&str, usize, &str)> {
        found
            .iter()
            .map(|d| {
                (
                    d.file.as_deref().unwrap(),
                    d.line.unwrap(),
                    d.path.as_deref().unwrap(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{SOURCES, locations, objects};
    use super::*;

    /// The merged values of the chart's defaults and `envs/prod/console.yaml`.
    fn console_values(defaults: &str, env: &str) -> Merged {
        let defaults = crate::values::parse_layer("charts/jetscale/values.yaml", defaults).unwrap();
        let env = crate::values::parse_layer("envs/prod/console.yaml", env).unwrap();
        crate::values::merge_chain(&defaults, &[env])
    }

    /// `render/dangling-reference` on `objs` of release `r`, with `provided` declared outside
    /// the chart and no values to locate findings in.
    fn dangling(objs: &[RenderedObject], provided: &[&str]) -> Vec<Diagnostic> {
        let provided: Vec<String> = provided.iter().map(|p| p.to_string()).collect();
        dangling_references(objs, "r", &provided, None, &SOURCES)
    }

    /// What a pod runs as, pulls with and mounts must exist: rendered, or declared provided
    /// outside the chart. The `default` ServiceAccount always exists, optional volumes may be
    /// missing, and one reference shared by several objects at one place is one finding.
    #[test]
    fn a_pods_service_account_pull_secrets_and_volumes_must_exist() {
        let manifest = r#"---
# Source: jetscale/templates/pvc.yaml
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: r-data}
---
# Source: jetscale/charts/backend-api/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: r-backend-api}
spec:
  template:
    spec:
      serviceAccountName: r-service-account
      imagePullSecrets: [{name: ghcr-registry-secret}, {name: r-pull}]
      containers: [{name: api}]
      volumes:
        - {name: tls, secret: {secretName: r-tls}}
        - {name: extra, secret: {secretName: r-extra, optional: true}}
        - {name: data, persistentVolumeClaim: {claimName: r-data}}
        - {name: cache, persistentVolumeClaim: {claimName: r-cache}}
        - {name: files, projected: {sources: [{configMap: {name: r-files}}]}}
---
# Source: jetscale/charts/backend-api/templates/cronjobs.yaml
apiVersion: batch/v1
kind: CronJob
metadata: {name: r-backend-api-a}
spec: {jobTemplate: {spec: {template: {spec: {serviceAccountName: r-service-account, containers: [{name: a}]}}}}}
---
# Source: jetscale/charts/backend-api/templates/cronjobs.yaml
apiVersion: batch/v1
kind: CronJob
metadata: {name: r-backend-api-b}
spec: {jobTemplate: {spec: {template: {spec: {serviceAccountName: r-service-account, containers: [{name: b}]}}}}}
---
# Source: jetscale/templates/job.yaml
apiVersion: batch/v1
kind: Job
metadata: {name: r-job}
spec: {template: {spec: {containers: [{name: j}]}}}
"#;
        let objs = objects(manifest);
        let found = dangling(&objs, &["ghcr-registry-secret"]);
        let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Deployment r-backend-api runs as ServiceAccount r-service-account, which is neither rendered nor provided outside the chart (and 2 more objects)",
                "Deployment r-backend-api pulls its images with Secret r-pull, which is neither rendered nor provided outside the chart",
                "Deployment r-backend-api mounts Secret r-tls (volume tls), which is neither rendered nor provided outside the chart",
                "Deployment r-backend-api mounts PersistentVolumeClaim r-cache (volume cache), which is neither rendered nor provided outside the chart",
                "Deployment r-backend-api mounts ConfigMap r-files (volume files), which is neither rendered nor provided outside the chart",
            ]
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("list \"{release}-service-account\" in external-refs")
        );
        // Declared provided outside the chart: no finding.
        let provided = [
            "ghcr-registry-secret",
            "r-service-account",
            "r-pull",
            "r-tls",
            "r-cache",
            "r-files",
        ];
        assert!(dangling(&objs, &provided).is_empty());
    }

    /// What `init` proposes as external refs: exactly the names the rule reports with none
    /// declared, each once, whatever references them.
    #[test]
    fn unprovided_pod_references_are_the_names_the_rule_reports() {
        let manifest = r#"---
# Source: jetscale/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata: {name: r-rendered}
---
# Source: jetscale/templates/es.yaml
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: r-es}
spec: {target: {name: r-from-store}}
---
# Source: jetscale/charts/backend-api/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: r-backend-api}
spec:
  template:
    spec:
      serviceAccountName: r-service-account
      imagePullSecrets: [{name: ghcr-registry-secret}]
      containers:
        - name: api
          envFrom:
            - secretRef: {name: r-rendered}
            - secretRef: {name: r-from-store}
            - secretRef: {name: r-aws-client-secret}
            - secretRef: {name: r-maybe, optional: true}
            - configMapRef: {name: env-file}
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: r-data}}
---
# Source: jetscale/charts/backend-api/templates/cronjobs.yaml
apiVersion: batch/v1
kind: CronJob
metadata: {name: r-backend-api-a}
spec: {jobTemplate: {spec: {template: {spec: {serviceAccountName: r-service-account, containers: [{name: a, envFrom: [{secretRef: {name: r-aws-client-secret}}]}]}}}}}
"#;
        let objs = objects(manifest);
        let found = unprovided_pod_references(&objs);
        let kinds: Vec<(&str, Vec<&str>)> = found
            .iter()
            .map(|(name, kinds)| (name.as_str(), kinds.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("env-file", vec!["ConfigMap (envFrom)"]),
                ("ghcr-registry-secret", vec!["image pull Secret"]),
                ("r-aws-client-secret", vec!["Secret (envFrom)"]),
                ("r-data", vec!["PersistentVolumeClaim volume"]),
                ("r-service-account", vec!["ServiceAccount"]),
            ]
        );
        let names: Vec<String> = found.into_keys().collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        // Declared, they are exactly what silences the rule's pod findings.
        assert!(dangling(&objs, &names).is_empty());
        assert_eq!(dangling(&objs, &names[1..]).len(), 1);
    }

    /// In an env, the finding sits at the values line that names the missing object: the
    /// chart's `serviceAccount.name`, the `imagePullSecrets` or `volumes` entry of that name.
    #[test]
    fn a_missing_pod_reference_points_at_the_values_line_that_names_it() {
        let merged = console_values(
            "backend-api: {}\n",
            "backend-api:\n  serviceAccount:\n    name: r-service-account\n  imagePullSecrets:\n    - name: ghcr-registry-secret\n    - name: r-pull\n  volumes:\n    - name: data\n      emptyDir: {}\n    - name: tls\n      secret: {secretName: r-tls}\n",
        );
        let objs = objects(
            "---\n# Source: jetscale/charts/backend-api/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: r-backend-api}\nspec: {template: {spec: {serviceAccountName: r-service-account, imagePullSecrets: [{name: ghcr-registry-secret}, {name: r-pull}], containers: [{name: api}], volumes: [{name: data, emptyDir: {}}, {name: tls, secret: {secretName: r-tls}}]}}}\n",
        );
        let found = dangling_references(
            &objs,
            "r",
            &["ghcr-registry-secret".to_string()],
            Some(&merged),
            &SOURCES,
        );
        let at = locations(&found);
        assert_eq!(
            at,
            [
                (
                    "envs/prod/console.yaml",
                    3,
                    "/backend-api/serviceAccount/name"
                ),
                (
                    "envs/prod/console.yaml",
                    6,
                    "/backend-api/imagePullSecrets/1/name"
                ),
                ("envs/prod/console.yaml", 10, "/backend-api/volumes/1/name"),
            ]
        );
    }

    #[test]
    fn duplicates_are_found_once_per_extra_copy() {
        let objs = objects(
            "---\n# Source: jetscale/templates/a.yaml\napiVersion: v1\nkind: Secret\nmetadata: {name: r-db-secret}\n---\n# Source: jetscale/templates/b.yaml\napiVersion: v1\nkind: Secret\nmetadata: {name: r-db-secret}\n---\n# Source: jetscale/templates/c.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: r-db-secret}\n",
        );
        let found = duplicate_objects(&objs, "ns", "r", None, &SOURCES);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].file.as_deref(),
            Some("charts/jetscale/templates/b.yaml")
        );
    }

    /// A copy rendered by a dependency's template (in its archive, not in this repository)
    /// points at the umbrella template of the other copy, else at the values that named it.
    #[test]
    fn duplicates_from_dependencies_point_at_a_file_of_this_repository() {
        let objs = objects(
            "---\n# Source: jetscale/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: r-backend-api}\n---\n# Source: jetscale/charts/backend-api/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: r-backend-api}\n",
        );
        let found = duplicate_objects(&objs, "ns", "r", None, &SOURCES);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].file.as_deref(),
            Some("charts/jetscale/templates/svc.yaml")
        );

        let merged = console_values(
            "backend-ws: {}\n",
            "backend-ws:\n  replicaCount: 2\n  fullnameOverride: r-backend-api\n",
        );
        let objs = objects(
            "---\n# Source: jetscale/charts/backend-api/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: r-backend-api}\n---\n# Source: jetscale/charts/backend-ws/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: r-backend-api}\n",
        );
        let found = duplicate_objects(&objs, "ns", "r", Some(&merged), &SOURCES);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].file.as_deref(),
                found[0].line,
                found[0].path.as_deref()
            ),
            (
                Some("envs/prod/console.yaml"),
                Some(3),
                Some("/backend-ws/fullnameOverride")
            )
        );
    }

    #[test]
    fn dangling_ingress_envfrom_and_target_port_are_found() {
        let manifest = r#"---
# Source: jetscale/templates/ingress.yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: r}
spec:
  rules:
    - http:
        paths:
          - {path: /api, backend: {service: {name: r-backend-api, port: {number: 8000}}}}
          - {path: /ws, backend: {service: {name: r-backend-ws, port: {number: 8001}}}}
          - {path: /, backend: {service: {name: r-frontend, port: {number: 80}}}}
          - {path: /, backend: {service: {name: encrypted-root, port: {name: use-annotation}}}}
---
# Source: jetscale/charts/backend-api/templates/service.yaml
apiVersion: v1
kind: Service
metadata: {name: r-backend-api}
spec:
  selector: {app: api}
  ports: [{port: 8000, targetPort: http}]
---
# Source: jetscale/charts/frontend/templates/service.yaml
apiVersion: v1
kind: Service
metadata: {name: r-frontend}
spec:
  selector: {app: web}
  ports: [{port: 3000, targetPort: http}]
---
# Source: jetscale/charts/backend-api/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: r-backend-api, labels: {app.kubernetes.io/name: backend-api}}
spec:
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          ports: [{name: web, containerPort: 8000}]
          envFrom:
            - secretRef: {name: r-db-secret}
            - secretRef: {name: r-aws-client-secret}
            - configMapRef: {name: r-config}
---
# Source: jetscale/templates/ext-secret-db.yaml
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: r-db-secret}
spec: {target: {name: r-db-secret}}
"#;
        let objs = objects(manifest);
        let found = dangling(&objs, &["r-aws-client-secret"]);
        let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(found.len(), 4, "{messages:#?}");
        assert!(messages[0].contains("r-backend-ws, which is not rendered"));
        assert!(messages[1].contains("port {\"number\":80} of Service r-frontend"));
        assert!(messages[2].contains("ConfigMap r-config"));
        assert!(messages[3].contains("targets port \"http\""));
        assert_eq!(
            found[0].file.as_deref(),
            Some("charts/jetscale/templates/ingress.yaml")
        );
    }
}

/// Kinds whose names Kubernetes limits to a DNS-1123 label (63 characters, no dots) rather
/// than a subdomain (253).
const LABEL_NAMED: &[&str] = &[
    "Service",
    "Namespace",
    "CronJob",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
];

/// DNS-1123 label and subdomain names, and one field of a cron schedule. Compiled once per
/// run, not once per target.
static DNS_LABEL: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("valid regex"));
static DNS_SUBDOMAIN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$").expect("valid regex"));
static CRON_FIELD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$",
    )
    .expect("valid regex")
});

/// `render/name-too-long`: names that Kubernetes will refuse. CronJob names are limited to 52
/// characters because the controller appends an 11-character suffix to its Jobs.
///
/// A name that is too long because of the release it starts with points at the line that
/// sets the release (`release_at`, in `stackctl.toml`) when there is one: that is the line to
/// shorten, whichever chart's template built the name.
pub fn name_lengths(
    objects: &[RenderedObject],
    release: &str,
    release_at: Option<&At>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for object in objects {
        let name = object.name();
        let (limit, pattern) = match object.kind() {
            "CronJob" => (52, &*DNS_LABEL),
            kind if LABEL_NAMED.contains(&kind) => (63, &*DNS_LABEL),
            _ => (253, &*DNS_SUBDOMAIN),
        };
        let too_long = name.chars().count() > limit;
        let message = if too_long {
            format!(
                "{} is {} characters long; a {} name may have at most {limit}",
                describe(object),
                name.chars().count(),
                object.kind()
            )
        } else if !pattern.is_match(name) {
            format!(
                "{} is not a valid DNS-1123 name (lowercase letters, digits and '-')",
                describe(object)
            )
        } else {
            continue;
        };
        let d = finding("render/name-too-long", message);
        let d = match release_at {
            Some((file, line, column)) if too_long && name.starts_with(release) => d
                .at(file.clone(), *line, *column)
                .with_hint(format!(
                    "shorten the release name {release:?} here and in the deploy path that uses it, or the key the rest of the name is built from"
                )),
            _ => sources.locate_field(
                d.with_hint("shorten the release name or the key the name is built from"),
                object,
                &["metadata", "name"],
            ),
        };
        out.push(d);
    }
    out
}

/// `render/external-secret-key`: remote keys that cannot address a secret: empty, starting or
/// ending with `/`, or holding `//` (an empty prefix or project name upstream).
pub fn external_secret_keys(objects: &[RenderedObject], sources: &Sources<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for es in objects.iter().filter(|o| o.kind() == "ExternalSecret") {
        let mut keys = Vec::new();
        for list in ["/spec/data", "/spec/dataFrom"] {
            for item in es
                .value
                .pointer(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for pointer in ["/remoteRef/key", "/extract/key"] {
                    if let Some(key) = item.pointer(pointer) {
                        keys.push(key.as_str().unwrap_or("").to_string());
                    }
                }
            }
        }
        for key in keys {
            if key.is_empty() || key.starts_with('/') || key.ends_with('/') || key.contains("//") {
                let d = finding(
                    "render/external-secret-key",
                    format!("{} reads remote key {key:?}, which names no secret", describe(es)),
                )
                .with_hint("set externalSecret.awsSecretPrefix and global.project_name; an empty part leaves a stray '/'");
                out.push(sources.locate_field(d, es, &["remoteRef", "key"]));
            }
        }
    }
    out
}

/// The values entry a dependency's CronJob comes from (`/backend-api/cronJobs/pull-ce`): the
/// charts name each job `<release>-<dependency key>-<job key>`.
pub(crate) fn cronjob_entry(
    cronjob: &RenderedObject,
    release: &str,
    dependency_keys: &[&str],
) -> Option<String> {
    dependency_keys.iter().find_map(|key| {
        let job = cronjob.name().strip_prefix(&format!("{release}-{key}-"))?;
        Some(format!("/{}/cronJobs/{}", escape_key(key), escape_key(job)))
    })
}

/// `render/cronjob-schedule`: every CronJob has a five-field schedule and a command. A bad
/// schedule set in a values layer is reported at that line.
pub fn cronjob_schedules(
    objects: &[RenderedObject],
    release: &str,
    dependency_keys: &[&str],
    merged: Option<&Merged>,
    sources: &Sources<'_>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for cronjob in objects.iter().filter(|o| o.kind() == "CronJob") {
        let schedule = cronjob
            .value
            .pointer("/spec/schedule")
            .and_then(Value::as_str)
            .unwrap_or("");
        let macro_schedule = schedule.starts_with('@');
        let fields: Vec<&str> = schedule.split_whitespace().collect();
        if !macro_schedule && (fields.len() != 5 || !fields.iter().all(|f| CRON_FIELD.is_match(f)))
        {
            let d = finding(
                "render/cronjob-schedule",
                format!(
                    "{} has schedule {schedule:?}, which is not a five-field cron expression",
                    describe(cronjob)
                ),
            )
            .with_hint("write minute hour day-of-month month day-of-week, e.g. \"30 2 * * *\"");
            let pointer = cronjob_entry(cronjob, release, dependency_keys)
                .map(|entry| format!("{entry}/schedule"));
            let origin = pointer.as_deref().and_then(|p| merged?.origin(p));
            out.push(match (origin, pointer) {
                (Some(o), Some(pointer)) => d
                    .at(o.file.to_string(), o.line, o.column)
                    .with_path(pointer),
                _ => sources.locate_field(d, cronjob, &["spec", "schedule"]),
            });
        }
        let has_command = pod_spec(cronjob)
            .map(|spec| {
                containers(spec).any(|c| c.get("command").is_some() || c.get("args").is_some())
            })
            .unwrap_or(false);
        if !has_command {
            let d = finding(
                "render/cronjob-schedule",
                format!("{} runs no command", describe(cronjob)),
            )
            .with_hint("give the job a command, or remove the entry");
            out.push(sources.locate(d, cronjob));
        }
    }
    out
}

#[cfg(test)]
mod object_tests {
    use super::fixtures::{SOURCES, objects};
    use super::*;

    #[test]
    fn long_and_invalid_names_are_found() {
        let objs = objects(
            "---\n# Source: jetscale/charts/backend-api/templates/cronjobs.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: dialogue-5624-staging-backend-api-generate-from-discovery}\nspec: {schedule: '30 3 * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: a, command: [x]}]}}}}}\n---\n# Source: jetscale/templates/cm-app.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n---\n# Source: jetscale/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: jetscale-console-backend-api}\n",
        );
        let found = name_lengths(&objs, "dialogue-5624-staging", None, &SOURCES);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].message.contains("57 characters"));
        // A subchart's template is not in this repository: no file to point at.
        assert_eq!(found[0].file, None);
        assert_eq!(
            found[1].file.as_deref(),
            Some("charts/jetscale/templates/cm-app.yaml")
        );

        // Where the release is set, the finding the release causes points there; the invalid
        // name that does not start with the release still points at its template.
        let at = ("stackctl.toml".to_string(), 40, 1);
        let found = name_lengths(&objs, "dialogue-5624-staging", Some(&at), &SOURCES);
        assert_eq!(found[0].file.as_deref(), Some("stackctl.toml"));
        assert_eq!(found[0].line, Some(40));
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("\"dialogue-5624-staging\"")
        );
        assert_eq!(
            found[1].file.as_deref(),
            Some("charts/jetscale/templates/cm-app.yaml")
        );
    }

    #[test]
    fn remote_keys_with_empty_parts_are_found() {
        let objs = objects(
            "---\n# Source: jetscale/templates/ext-secret-common.yaml\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: r-common-secrets}\nspec:\n  data:\n    - {secretKey: K, remoteRef: {key: /application/encryption_key}}\n    - {secretKey: L, remoteRef: {key: jetscale-prod/application/encryption_key}}\n  dataFrom:\n    - {extract: {key: jetscale-prod//config}}\n",
        );
        let found = external_secret_keys(&objs, &SOURCES);
        assert_eq!(found.len(), 2);
        assert!(found[0].message.contains("\"/application/encryption_key\""));
    }

    #[test]
    fn schedules_and_commands_are_checked() {
        let objs = objects(
            "---\n# Source: x\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}\nspec: {schedule: '*/5 1-3 * * MON-FRI', jobTemplate: {spec: {template: {spec: {containers: [{name: a, command: [x]}]}}}}}\n---\n# Source: x\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: b}\nspec: {schedule: 'every day', jobTemplate: {spec: {template: {spec: {containers: [{name: a}]}}}}}\n---\n# Source: x\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {schedule: '@daily', jobTemplate: {spec: {template: {spec: {containers: [{name: a, args: [y]}]}}}}}\n",
        );
        let found = cronjob_schedules(&objs, "r", &[], None, &SOURCES);
        let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("CronJob b has schedule \"every day\""));
        assert!(messages[1].contains("CronJob b runs no command"));
    }
}

#[cfg(test)]
mod resource_tests {
    use super::fixtures::{SOURCES, objects};
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("512Mi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("lots"), None);
    }

    #[test]
    fn requests_above_limits_are_found() {
        let objs = objects(
            "---\n# Source: jetscale/templates/psql.yaml\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: r-postgres}\nspec:\n  template:\n    spec:\n      containers:\n        - name: db\n          resources: {requests: {cpu: 1500m, memory: 1Gi}, limits: {cpu: '1', memory: 2Gi}}\n",
        );
        let found = resources(&objs, None, &SOURCES);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("cpu request 1500m is above its limit 1")
        );
        assert_eq!(
            found[0].file.as_deref(),
            Some("charts/jetscale/templates/psql.yaml")
        );
    }
}

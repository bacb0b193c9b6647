//! The results of the commands that do not report findings (`deps build`, `values`,
//! `doctor`, …), for people and as JSON documents (`docs/output.md`).
//!
//! Every JSON document is one object whose first key is `version` (the version of that
//! document's shape), pretty-printed and followed by a newline. The formats made for
//! findings (`sarif`, `junit`, `github`) show these results as human text.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::deps::build::{DependencyStatus, Presence};
use crate::deps::links::{LINKS_FILE, Link};
use crate::ops::cluster::{Action, ClusterStatus, DeleteReport, UpReport};
use crate::ops::deps::{BuildReport, BumpReport};
use crate::ops::doctor::DoctorReport;
use crate::ops::init::InitReport;
use crate::ops::publish::PublishReport;
use crate::ops::render::Rendering;
use crate::ops::values::MergedValues;
use crate::values::{Merged, dotted_path, escape_key};

use super::json::VERSION;

/// A result the report layer can show: as JSON (`Serialize`) and for people.
pub trait Document: Serialize {
    /// The text people read on stdout. `quiet` asks for the essentials only.
    fn human(&self, quiet: bool, styles: &Styles) -> String;
}

/// The styles of human output; plain when colors are off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Styles {
    pub good: anstyle::Style,
    pub bad: anstyle::Style,
    pub note: anstyle::Style,
}

impl Styles {
    pub fn new(color: bool) -> Styles {
        if !color {
            return Styles::default();
        }
        let fg = |c: anstyle::AnsiColor| anstyle::Style::new().fg_color(Some(c.into()));
        Styles {
            good: fg(anstyle::AnsiColor::Green),
            bad: fg(anstyle::AnsiColor::Red),
            note: fg(anstyle::AnsiColor::Yellow),
        }
    }
}

/// `document` as a JSON document: `{"version": 1, …its fields}`.
pub fn json<D: Serialize + ?Sized>(document: &D) -> String {
    #[derive(Serialize)]
    struct Versioned<'a, D: ?Sized> {
        version: u32,
        #[serde(flatten)]
        document: &'a D,
    }
    let text = serde_json::to_string_pretty(&Versioned {
        version: VERSION,
        document,
    })
    .expect("documents serialise");
    format!("{text}\n")
}

impl Document for BuildReport {
    fn human(&self, quiet: bool, _: &Styles) -> String {
        let mut out = String::new();
        if quiet {
            return out;
        }
        if let Some(written) = self.lock_written {
            let what = if written { "written" } else { "unchanged" };
            let _ = writeln!(out, "{} {what}", self.lock_file);
        }
        for dep in &self.dependencies {
            let state = if dep.written { "written" } else { "up to date" };
            let version_note = if dep.archive_version != dep.version {
                format!(" (linked chart is {})", dep.archive_version)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{:<28} {:<10} {:<9} {}{version_note}",
                dep.file,
                state,
                dep.source.as_str(),
                dep.origin
            );
        }
        for removed in &self.removed {
            let _ = writeln!(out, "{removed:<28} removed (no longer locked)");
        }
        let summary = if self.unchanged() {
            "already in place"
        } else {
            "updated"
        };
        let _ = writeln!(
            out,
            "{}: {} archive(s) {summary}",
            self.charts_dir,
            self.dependencies.len()
        );
        out
    }
}

impl Document for BumpReport {
    fn human(&self, quiet: bool, _: &Styles) -> String {
        let mut out = String::new();
        if self.changes.is_empty() {
            let _ = writeln!(
                out,
                "nothing to change: {} is at {} in Chart.yaml, Chart.lock and every {} tag",
                self.chart, self.to, self.image
            );
            return out;
        }
        for change in &self.changes {
            out.push_str(&change.diff);
        }
        let files: Vec<&str> = self.changes.iter().map(|c| c.file.as_str()).collect();
        out.push('\n');
        if self.dry_run {
            let _ = writeln!(
                out,
                "dry run: {} file(s) would change; nothing written, registry not contacted",
                files.len()
            );
        } else {
            let _ = writeln!(out, "changed {} file(s): {}", files.len(), files.join(", "));
        }
        if let Some(message) = &self.commit_message {
            let _ = writeln!(out, "commit message: {message}");
        }
        if !self.dry_run && !quiet {
            let _ = writeln!(
                out,
                "next: `stackctl deps build` and `stackctl validate`, then commit these files together"
            );
        }
        out
    }
}

/// What `deps link` recorded (the JSON document of `deps link`).
#[derive(Debug, Clone, Serialize)]
pub struct Linked<'a> {
    pub chart: &'a str,
    pub dir: &'a std::path::Path,
    /// Where links are recorded, repository-relative.
    pub links_file: &'static str,
}

impl<'a> From<&'a Link> for Linked<'a> {
    fn from(link: &'a Link) -> Linked<'a> {
        Linked {
            chart: &link.chart,
            dir: &link.dir,
            links_file: LINKS_FILE,
        }
    }
}

impl Document for Linked<'_> {
    fn human(&self, quiet: bool, _: &Styles) -> String {
        if quiet {
            return String::new();
        }
        format!(
            "linked {} -> {} (recorded in {}; run `stackctl deps build`)\n",
            self.chart,
            self.dir.display(),
            self.links_file
        )
    }
}

/// What `deps unlink` ended (the JSON document of `deps unlink`).
#[derive(Debug, Clone, Serialize)]
pub struct Unlinked<'a> {
    pub chart: &'a str,
}

impl Document for Unlinked<'_> {
    fn human(&self, quiet: bool, _: &Styles) -> String {
        if quiet {
            return String::new();
        }
        format!(
            "unlinked {}; the next `stackctl deps build` restores the locked archive\n",
            self.chart
        )
    }
}

/// The JSON document of `deps status`.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyStatuses<'a> {
    pub dependencies: &'a [DependencyStatus],
}

impl Document for DependencyStatuses<'_> {
    fn human(&self, _: bool, _: &Styles) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:<12} {:<10} {:<10} {:<9} {:<11} FROM",
            "DEPENDENCY", "CHART", "REQUESTED", "LOCKED", "SOURCE", "IN charts/"
        );
        for s in self.dependencies {
            let presence = match s.presence {
                Presence::Present => "yes",
                Presence::Unverified => "unverified",
                Presence::Missing => "no",
            };
            let from = match (&s.link, &s.origin) {
                (Some(dir), _) => dir.display().to_string(),
                (None, Some(origin)) => origin.clone(),
                (None, None) => s.repository.clone(),
            };
            let _ = writeln!(
                out,
                "{:<16} {:<12} {:<10} {:<10} {:<9} {:<11} {from}",
                s.dependency,
                s.chart,
                s.requested,
                s.locked.as_deref().unwrap_or("-"),
                s.source.map(|k| k.as_str()).unwrap_or("-"),
                presence,
            );
        }
        out
    }
}

impl Document for InitReport {
    fn human(&self, quiet: bool, styles: &Styles) -> String {
        let mut out = String::new();
        let good = styles.good;
        if self.written {
            let _ = writeln!(out, "{good}wrote {}{good:#}", self.file);
        } else {
            let _ = writeln!(
                out,
                "{} not written (--print): its text is on stdout",
                self.file
            );
        }
        if quiet {
            return out;
        }
        let _ = writeln!(out, "chart       {}: {}", self.chart.path, self.chart.why);
        let _ = writeln!(out, "envs        {}", self.envs.why);
        let _ = writeln!(
            out,
            "convention  [targets.\"{}\"] release = \"{}\", namespace = \"{}\"\n            {}",
            self.convention.table,
            self.convention.release,
            self.convention.namespace,
            self.convention.why
        );
        let _ = writeln!(out, "targets");
        let width = self.targets.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for target in &self.targets {
            let mut line = format!(
                "  {:<width$}  release {}, namespace {}",
                target.name, target.release, target.namespace
            );
            if target.kind == "variant" {
                line.push_str(&format!(" ({}", target.layers.join(" → ")));
                if let Some(why) = &target.release_why {
                    line.push_str(&format!("; release: {why}"));
                }
                line.push(')');
            }
            if let Some(why) = &target.not_rendered {
                let note = styles.note;
                line.push_str(&format!(
                    "\n  {:<width$}  {note}not rendered: {why}{note:#}",
                    ""
                ));
            }
            let _ = writeln!(out, "{line}");
        }
        if self.external_refs.is_empty() {
            let _ = writeln!(
                out,
                "external refs: none (the chart renders everything its pods reference)"
            );
        } else {
            let _ = writeln!(
                out,
                "external refs (referenced by the pods, not rendered by the chart)"
            );
            for reference in &self.external_refs {
                let _ = writeln!(
                    out,
                    "  {}: {}\n      needed by {}\n      written on [{}]",
                    reference.name,
                    reference.kinds.join(", "),
                    reference.targets.join(", "),
                    reference.tables.join("], [")
                );
            }
        }
        let _ = writeln!(out, "next: stackctl validate");
        out
    }
}

impl Document for DoctorReport {
    fn human(&self, _: bool, styles: &Styles) -> String {
        let mut out = String::new();
        let _ = match (&self.repository, &self.config) {
            (Some(root), Some(config)) => writeln!(
                out,
                "repository {} (configuration: {config})",
                root.display(),
            ),
            (Some(root), None) => writeln!(
                out,
                "repository {} (no {}: defaults)",
                root.display(),
                crate::config::CONFIG_FILE
            ),
            (None, _) => writeln!(out, "not inside a Stack repository"),
        };
        for s in &self.tools {
            let (style, mark) = match (s.usable(), s.required) {
                (true, _) => (styles.good, "ok"),
                (false, true) => (styles.bad, "missing"),
                (false, false) => (styles.note, "absent"),
            };
            let version = s.version.as_deref().unwrap_or("-");
            let path = s.path.as_deref().unwrap_or("not found");
            let _ = writeln!(
                out,
                "{style}{mark:>7}{style:#}  {:<8} {:<10} {path}",
                s.name, version
            );
            let _ = writeln!(out, "         needed by: {}", s.needed_by.join(", "));
            if let Some(problem) = &s.problem {
                let _ = writeln!(out, "         {problem}");
            }
        }
        out
    }
}

impl Document for UpReport {
    fn human(&self, quiet: bool, styles: &Styles) -> String {
        let mut out = String::new();
        let good = styles.good;
        let registry = &self.registry;
        let _ = writeln!(
            out,
            "registry  {:<20} {:<8} {}, on the {} network",
            registry.name,
            registry.action.as_str(),
            registry.address,
            registry.network
        );
        let cluster = &self.cluster;
        let restored = if cluster.context_restored {
            " (written again into the kubeconfig)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "cluster   {:<20} {:<8} context {}{restored}",
            cluster.name,
            cluster.action.as_str(),
            cluster.context
        );
        for node in &self.nodes {
            let pulls = if self.registry_hosts.nodes.contains(&node.name) {
                format!(" pulls {}/… from {}", registry.address, registry.from_nodes)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "node      {:<20} {good}{:<8}{good:#}{pulls}",
                node.name, "Ready"
            );
        }
        let _ = writeln!(
            out,
            "coredns   {:<20} {good}{:<8}{good:#} {}/{} replicas available",
            "kube-system/coredns", "ready", self.coredns.available_replicas, self.coredns.replicas
        );
        let _ = writeln!(
            out,
            "{good}ready{good:#} (waited {} s for the nodes and CoreDNS); ConfigMap {} announces the registry",
            super::seconds(self.waited_ms),
            self.registry_hosting
        );
        if !quiet {
            let _ = writeln!(
                out,
                "next: `tilt up` for the dev loop, `stackctl test local` before a push"
            );
        }
        out
    }
}

impl Document for DeleteReport {
    fn human(&self, _: bool, _: &Styles) -> String {
        let line = |what: &str, name: &str, action: Action| {
            let note = if action == Action::Absent {
                " (nothing to delete)"
            } else {
                ""
            };
            format!("{what:<9} {name:<20} {}{note}\n", action.as_str())
        };
        line("cluster", &self.cluster.name, self.cluster.action)
            + &line("registry", &self.registry.name, self.registry.action)
    }
}

impl Document for ClusterStatus {
    fn human(&self, _: bool, styles: &Styles) -> String {
        let mut out = String::new();
        let (good, bad) = (styles.good, styles.bad);
        let registry = &self.registry;
        let mut about = vec![registry.address.clone()];
        if registry.state != "absent" {
            if !registry.published.is_empty() {
                about.push(format!("publishes {}", registry.published.join(", ")));
            }
            if !registry.published_on_port {
                about.push(format!("{bad}not on the registry port{bad:#}"));
            }
            about.push(if registry.on_kind_network {
                "on the kind network".to_string()
            } else {
                format!("{bad}not on the kind network{bad:#}")
            });
        }
        let state_style = if registry.state == "running" {
            good
        } else {
            bad
        };
        let _ = writeln!(
            out,
            "registry  {:<20} {state_style}{:<8}{state_style:#} {}",
            registry.name,
            registry.state,
            about.join(", ")
        );

        let cluster = &self.cluster;
        let (style, state) = if cluster.exists {
            (good, "exists")
        } else {
            (bad, "absent")
        };
        let context = match &cluster.server {
            Some(server) => format!("context {} -> {server}", cluster.context),
            None => format!(
                "context {} {bad}not in the kubeconfig{bad:#}",
                cluster.context
            ),
        };
        let _ = writeln!(
            out,
            "cluster   {:<20} {style}{state:<8}{style:#} {context}",
            cluster.name
        );
        for node in &cluster.node_containers {
            if node.state != "running" {
                let _ = writeln!(
                    out,
                    "  node container {} is {bad}{}{bad:#}",
                    node.name, node.state
                );
            }
        }
        if let Some(problem) = &cluster.api_problem {
            let _ = writeln!(out, "  api     {bad}{problem}{bad:#}");
        }
        for node in cluster.nodes.iter().flatten() {
            let _ = match &node.problem {
                None => writeln!(out, "  node    {:<20} {good}Ready{good:#}", node.name),
                Some(problem) => writeln!(
                    out,
                    "  node    {:<20} {bad}NotReady{bad:#} {problem}",
                    node.name
                ),
            };
        }
        if let Some(coredns) = &cluster.coredns {
            let counts = format!(
                "{}/{} replicas available",
                coredns.available_replicas, coredns.replicas
            );
            let _ = match &coredns.problem {
                None => writeln!(
                    out,
                    "  coredns {:<20} {good}ready{good:#}    {counts}",
                    "kube-system/coredns"
                ),
                Some(problem) => writeln!(
                    out,
                    "  coredns {:<20} {bad}not ready{bad:#} {problem}",
                    "kube-system/coredns"
                ),
            };
        }

        for test in &self.tests {
            let cluster_note = if test.on_kind_cluster {
                " (the kind cluster)"
            } else {
                ""
            };
            let namespace = test.namespace.as_deref().map_or_else(
                || format!("variant {} not declared in stackctl.toml", test.variant),
                |ns| format!("namespace {ns}"),
            );
            let images = match &test.images {
                Some(registry) => format!("images pushed to {registry}"),
                None => "images as the variant's values name them".to_string(),
            };
            let _ = writeln!(
                out,
                "{:<11} context {}{cluster_note}, {namespace}, {images}",
                test.command, test.context
            );
        }
        let _ = if self.ready {
            writeln!(
                out,
                "{good}ready{good:#}: the dev loop and `stackctl test local` can run"
            )
        } else {
            writeln!(
                out,
                "{bad}not ready{bad:#}: `stackctl cluster up` creates or completes it"
            )
        };
        out
    }
}

impl Document for PublishReport {
    fn human(&self, _: bool, _: &Styles) -> String {
        let mut out = format!("pushed {} ({})\n", self.reference, self.manifest_digest);
        if let (Some(change), Some(wrote)) = (&self.change, &self.wrote) {
            out.push_str(&change.diff);
            let _ = writeln!(out, "wrote {wrote}");
        }
        out
    }
}

/// The JSON document of `render` when helm rendered the target.
#[derive(Serialize)]
pub struct RenderDocument<'a> {
    pub target: &'a str,
    /// The chart's defaults, then the target's layers.
    pub layers: &'a [String],
    pub release: &'a str,
    pub namespace: &'a str,
    /// The `[targets]` tables of stackctl.toml that applied, least specific first.
    pub tables: &'a [String],
    /// Every rendered object with the template it came from.
    pub objects: Vec<RenderedObjectDocument<'a>>,
    /// What helm printed on stderr.
    pub warnings: &'a [String],
}

#[derive(Serialize)]
pub struct RenderedObjectDocument<'a> {
    /// The template, as helm names it (`jetscale/templates/ingress.yaml`).
    pub source: &'a str,
    pub object: &'a Value,
}

impl<'a> RenderDocument<'a> {
    /// The document of a successful render; `None` when it failed.
    pub fn of(rendering: &'a Rendering) -> Option<RenderDocument<'a>> {
        let rendered = rendering.outcome.as_ref().ok()?;
        Some(RenderDocument {
            target: &rendering.target.name,
            layers: &rendering.chain,
            release: &rendering.target.release,
            namespace: &rendering.target.namespace,
            tables: &rendering.target.tables,
            objects: rendered
                .rendered
                .objects
                .iter()
                .map(|o| RenderedObjectDocument {
                    source: &o.source,
                    object: &o.value,
                })
                .collect(),
            warnings: &rendered.rendered.warnings,
        })
    }
}

/// `[targets] tables: "envs/staging/*" → "envs/staging/link4.yaml"`: which tables of
/// stackctl.toml set a target's release, namespace or external refs; `None` when none did.
pub fn tables_line(tables: &[String]) -> Option<String> {
    (!tables.is_empty()).then(|| {
        let quoted: Vec<String> = tables.iter().map(|t| format!("{t:?}")).collect();
        format!("[targets] tables: {}", quoted.join(" → "))
    })
}

/// The merged values of `values`, as JSON (the values themselves) or annotated YAML.
pub struct ValuesDocument<'a>(pub &'a MergedValues);

/// The JSON document of `values --path`: what every layer says of one value.
#[derive(Serialize)]
struct PathHistory<'a> {
    path: &'a str,
    value: Option<&'a Value>,
    layers: Vec<LayerSays<'a>>,
}

#[derive(Serialize)]
struct LayerSays<'a> {
    file: &'a str,
    line: Option<usize>,
    value: Option<&'a Value>,
    winner: bool,
}

impl ValuesDocument<'_> {
    /// The JSON text: the merged values themselves (no `version`: they are the chart's
    /// values, as `docs/output.md` says), or the document of one path's history.
    pub fn json(&self) -> String {
        let values = self.0;
        match &values.path {
            None => {
                serde_json::to_string_pretty(&values.merged.value).expect("serialisable") + "\n"
            }
            Some((path, pointer)) => {
                let history = values.merged.history(pointer);
                let document = PathHistory {
                    path,
                    value: history.value,
                    layers: history
                        .layers
                        .iter()
                        .enumerate()
                        .map(|(i, l)| LayerSays {
                            file: l.file,
                            line: l.span.map(|s| s.primary().line),
                            value: l.value,
                            winner: history.winner == Some(i),
                        })
                        .collect(),
                };
                json(&document)
            }
        }
    }

    /// Annotated YAML, or one path layer by layer.
    pub fn human(&self) -> String {
        let values = self.0;
        let mut out = String::new();
        match &values.path {
            None => {
                let _ = writeln!(out, "# {}", values.chain.join(" → "));
                if let Some(tables) = tables_line(&values.target.tables) {
                    let _ = writeln!(out, "# {tables}");
                }
                write_annotated(&values.merged, &values.merged.value, "", 0, &mut out);
            }
            Some((_, pointer)) => {
                let history = values.merged.history(pointer);
                let _ = writeln!(out, "{}", dotted_path(pointer));
                for (i, l) in history.layers.iter().enumerate() {
                    let at = match l.span {
                        Some(span) => format!("{}:{}", l.file, span.primary().line),
                        None => l.file.to_string(),
                    };
                    let value = l
                        .value
                        .map(scalar)
                        .unwrap_or_else(|| "(not set)".to_string());
                    let mark = if history.winner == Some(i) {
                        "  <- wins"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "  {at:<48} {value}{mark}");
                }
                let result = history
                    .value
                    .map(scalar)
                    .unwrap_or_else(|| "(absent)".to_string());
                let _ = writeln!(out, "  = {result}");
            }
        }
        out
    }
}

/// One-line rendering of a value (JSON is valid YAML for scalars and small collections).
fn scalar(value: &Value) -> String {
    serde_json::to_string(value).expect("serialisable")
}

/// The merged values as YAML, each leaf followed by `# file:line` of the layer that set it.
fn write_annotated(merged: &Merged, value: &Value, pointer: &str, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let origin = |p: &str| {
        merged
            .provenance
            .locate(p)
            .map(|o| format!("  # {}:{}", o.file, o.line))
            .unwrap_or_default()
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let child_pointer = format!("{pointer}/{}", escape_key(key));
                let shown_key = scalar_key(key);
                match child {
                    Value::Object(m) if !m.is_empty() => {
                        let _ = writeln!(out, "{pad}{shown_key}:");
                        write_annotated(merged, child, &child_pointer, indent + 2, out);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        let _ = writeln!(out, "{pad}{shown_key}:{}", origin(&child_pointer));
                        write_annotated(merged, child, &child_pointer, indent + 2, out);
                    }
                    _ => {
                        let _ = writeln!(
                            out,
                            "{pad}{shown_key}: {}{}",
                            scalar(child),
                            origin(&child_pointer)
                        );
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                let _ = writeln!(out, "{pad}- {}", scalar(item));
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}{}", scalar(other), origin(pointer));
        }
    }
}

fn scalar_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if plain {
        key.to_string()
    } else {
        scalar(&Value::String(key.to_string()))
    }
}

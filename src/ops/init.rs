//! `init`: a `stackctl.toml` for a repository that has none, from what the repository holds
//! and what its targets render.
//!
//! It finds the umbrella chart and the env targets as a repository without `stackctl.toml` is
//! read (docs/configuration.md), and the chart's lifecycle variants among its values files.
//! Every env target gets its release and namespace from one pattern table, so the convention
//! is changed in one place; every variant the release its own values name. Each target is
//! then rendered once, as `render` renders it, and what its pods reference that the render
//! does not provide (what `render/dangling-reference` would report) becomes its external refs:
//! on the table of its directory when most of the directory needs the same list, else on the
//! file's own table. The result says what was decided and why; the report layer prints it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::{Context, DepsSource, Invocation, deps};
use crate::config::{CONFIG_FILE, Config, TargetConfig};
use crate::engine::{self, Workspace};
use crate::error::{Error, Result};
use crate::fsutil::display_join;
use crate::repo::Repo;
use crate::target::{Target, TargetKind};

/// What `init` is asked.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// Return the file instead of writing it (and accept a repository that has one).
    pub print: bool,
    pub source: DepsSource,
}

/// The release template of the convention: the env file's name.
const RELEASE: &str = "{name}";
/// The namespace template of the convention: the env file's name, then its directory.
const NAMESPACE: &str = "{name}-{dir}";

/// Why the convention is what it is, for the report and the file.
const RELEASE_WHY: &str = "every object name starts with the release and Kubernetes limits the \
length of names (a CronJob's to 52 characters, with the chart's job name after the release), so \
the release is the shortest name that tells the envs of a directory apart: the file's name";
const NAMESPACE_WHY: &str = "the file's name then its directory (console-prod for \
envs/prod/console.yaml), so that no two envs share a namespace, even in one cluster";

/// What `init` decided, and the file that says it.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The configuration file, repository-relative.
    pub file: String,
    /// Whether it was written (not with `--print`).
    pub written: bool,
    pub chart: Decision,
    pub envs: EnvsDecision,
    pub convention: Convention,
    /// Every target: the env files, then the variants.
    pub targets: Vec<TargetDecision>,
    /// Every external ref proposed, with the targets that need it.
    pub external_refs: Vec<RefDecision>,
    /// The text of the configuration.
    pub content: String,
}

/// A path and why it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub path: String,
    pub why: String,
}

/// Where the env targets are and which layers they lie on.
#[derive(Debug, Clone, Serialize)]
pub struct EnvsDecision {
    pub dir: String,
    /// The clouds, by the name of their layer (`aws` for `envs/aws.yaml`): each env target is
    /// rendered on each.
    pub clouds: Vec<String>,
    /// The layers of every env target (`[envs] layers`).
    pub layers: Vec<String>,
    pub why: String,
}

/// The release and namespace of every env target.
#[derive(Debug, Clone, Serialize)]
pub struct Convention {
    /// The `[targets]` pattern table that holds it.
    pub table: String,
    pub release: String,
    pub namespace: String,
    pub why: String,
}

/// One target as the file configures it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetDecision {
    pub name: String,
    /// `env` or `variant`.
    pub kind: &'static str,
    pub layers: Vec<String>,
    pub release: String,
    pub namespace: String,
    /// Why this release (variants; `null` for env targets, whose convention says why).
    pub release_why: Option<String>,
    /// Its external refs as written (`{release}-…`).
    pub external_refs: Vec<String>,
    /// The table its external refs are written on, when it has any.
    pub refs_table: Option<String>,
    /// Why helm did not render it, when it did not: its external refs are then unknown.
    pub not_rendered: Option<String>,
}

/// One proposed external ref.
#[derive(Debug, Clone, Serialize)]
pub struct RefDecision {
    /// As written in the file (`{release}-aws-client-secret`).
    pub name: String,
    /// How the pods reference it (`Secret (envFrom)`, `ServiceAccount`).
    pub kinds: Vec<String>,
    /// The targets whose render needs it.
    pub targets: Vec<String>,
    /// The tables it is written on.
    pub tables: Vec<String>,
}

/// A target rendered: the refs it needs (as written, with how they are referenced), or why
/// it could not be rendered.
struct Found {
    target: Target,
    refs: std::result::Result<BTreeMap<String, BTreeSet<String>>, String>,
    release_why: Option<String>,
}

/// Decide a configuration for the repository around the invocation's directory, and write it
/// to `stackctl.toml` unless `print` asks for it back.
pub async fn init(invocation: Invocation, request: &InitRequest) -> Result<InitReport> {
    let root = Repo::find_root(&invocation.cwd)?;
    let path = root.join(CONFIG_FILE);
    if !request.print && std::fs::symlink_metadata(&path).is_ok() {
        return Err(already_there());
    }
    let mut repo = Repo::unconfigured(root);
    let chart = chart_decision(&repo)?;
    let envs = envs_decision(&mut repo)?;
    let convention = Convention {
        table: display_join(&repo.display_path(&repo.envs_dir()), "**"),
        release: RELEASE.to_string(),
        namespace: NAMESPACE.to_string(),
        why: format!("release: {RELEASE_WHY}; namespace: {NAMESPACE_WHY}"),
    };
    repo.config.targets.insert(
        convention.table.clone(),
        TargetConfig {
            release: Some(RELEASE.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            external_refs: None,
        },
    );
    let cx = Context::with_repo(invocation, repo)?;
    cx.require_helm().await?;
    let mut env_targets = Vec::new();
    for cloud in cloud_choices(&envs.clouds) {
        env_targets.push(
            cx.helm_first(engine::targets::env_targets(&cx.repo, cloud))
                .await?,
        );
    }
    let workspace = deps::prepare_workspace(&cx, &request.source, "rendered").await?;
    let variants = variant_targets(&workspace)?;
    let mut found = Vec::new();
    for targets in &env_targets {
        for target in targets {
            found.push(render(&cx, &workspace, target.clone(), None).await?);
        }
    }
    let found = merge_clouds(found);
    let mut found_variants = Vec::new();
    for (target, why) in variants {
        found_variants.push(render(&cx, &workspace, target, Some(why)).await?);
    }
    let plan = Plan::new(&cx.repo, &found);
    let content = plan.text(&chart, &envs, &convention, &found, &found_variants);
    // What is written must be read back as written: a proposal stackctl itself refuses would
    // only move the error to the next command.
    Config::parse(&content, Path::new(CONFIG_FILE)).map_err(|e| {
        Error::internal(format!(
            "the configuration init composed does not parse: {}",
            e.message
        ))
    })?;
    let mut report = InitReport {
        file: CONFIG_FILE.to_string(),
        written: false,
        targets: plan.target_decisions(&found, &found_variants),
        external_refs: plan.ref_decisions(&found, &found_variants),
        chart,
        envs,
        convention,
        content,
    };
    cx.check_cancelled()?;
    if !request.print {
        if !crate::fsutil::create_atomic(&path, report.content.as_bytes())? {
            return Err(already_there());
        }
        report.written = true;
    }
    Ok(report)
}

/// The refusal to replace a configuration.
fn already_there() -> Error {
    Error::usage(format!(
        "{CONFIG_FILE} already exists: init writes a new configuration and never replaces one"
    ))
    .at(CONFIG_FILE, None)
    .with_hint(format!(
        "edit {CONFIG_FILE} (docs/configuration.md), or run `stackctl init --print` to see what init would write; to start over, move {CONFIG_FILE} away and run `stackctl init` again"
    ))
}

/// The umbrella chart as a repository without configuration finds it, and how it was found.
fn chart_decision(repo: &Repo) -> Result<Decision> {
    let chart_dir = repo.chart_dir();
    if !chart_dir.join("Chart.yaml").is_file() {
        return Err(Error::config(
            "no umbrella chart found: no Chart.yaml at the repository root, and not exactly one chart under charts/ (or one with dependencies among several)".to_string(),
        )
        .with_hint(format!(
            "write {CONFIG_FILE} with [chart] path = \"<the chart's directory>\" (docs/configuration.md)"
        )));
    }
    let path = repo.display_path(&chart_dir);
    let charts = std::fs::read_dir(repo.path("charts"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join("Chart.yaml").is_file())
                .count()
        })
        .unwrap_or(0);
    let why = if path.is_empty() {
        "the repository root holds a Chart.yaml".to_string()
    } else if charts == 1 {
        "the only chart under charts/".to_string()
    } else {
        format!(
            "the only one of the {charts} charts under charts/ with dependencies: the umbrella over the others"
        )
    };
    Ok(Decision { path, why })
}

/// The env targets' layout: the default one, without its cloud layer when no cloud file
/// exists (then `repo` is changed to match).
fn envs_decision(repo: &mut Repo) -> Result<EnvsDecision> {
    let dir = repo.display_path(&repo.envs_dir());
    let clouds = engine::targets::clouds(repo)?;
    let files = format!(
        "the files in the subdirectories of {}",
        display_join(&dir, "")
    );
    let why = if clouds.is_empty() {
        // No cloud layer to lie on: the default layers would refuse every target.
        repo.config.envs.layers.retain(|l| !l.contains("{cloud}"));
        format!(
            "{files}, each over its directory's default.yaml when there is one; no values file \
directly in {} names a cloud, so no layer does",
            display_join(&dir, "")
        )
    } else {
        let cloud_files: Vec<String> = clouds
            .iter()
            .map(|c| display_join(&dir, &format!("{c}.yaml")))
            .collect();
        let over = match cloud_files.as_slice() {
            [one] => format!("{one} (its cloud)"),
            many => format!(
                "the file of each cloud ({}), rendered on each",
                many.join(", ")
            ),
        };
        format!(
            "{files}, each over {over} and its directory's default.yaml when there is one: the \
default layout of docs/configuration.md"
        )
    };
    Ok(EnvsDecision {
        dir,
        clouds,
        layers: repo.config.envs.layers.clone(),
        why,
    })
}

/// The clouds to render the env targets on: each, or none when the layout has none.
fn cloud_choices(clouds: &[String]) -> Vec<Option<&str>> {
    if clouds.is_empty() {
        vec![None]
    } else {
        clouds.iter().map(|c| Some(c.as_str())).collect()
    }
}

/// The chart's lifecycle variants: its values files `values.<a>[.<b>…].yaml` that no other
/// one extends, each over the files it extends (`values.test.ci.yaml` over
/// `values.test.yaml`), named by their parts (`test-ci`). Each gets the release its values
/// name in the hosts of the release's Services (`variants/release-hosts`), else its name.
fn variant_targets(ws: &Workspace) -> Result<Vec<(Target, String)>> {
    let chart_dir = &ws.chart_dir;
    let entries =
        std::fs::read_dir(chart_dir).map_err(|e| Error::io("read directory", chart_dir, e))?;
    let mut files: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(parts) = variant_parts(&name) else {
            continue;
        };
        if entry.path().is_file() {
            // values.x.yaml and values.x.yml both there: helm would read either; keep one.
            files.entry(parts).or_insert(name);
        }
    }
    let extended = |parts: &Vec<String>| {
        files
            .keys()
            .any(|other| other.len() > parts.len() && other.starts_with(parts))
    };
    let dependency_keys: Vec<&str> = ws.dependencies.iter().map(|d| d.key.as_str()).collect();
    let mut names = BTreeSet::new();
    let mut variants = Vec::new();
    for (parts, file) in files.iter().filter(|(parts, _)| !extended(parts)) {
        let mut layers: Vec<String> = (1..parts.len())
            .filter_map(|n| files.get(&parts[..n]).cloned())
            .collect();
        layers.push(file.clone());
        let mut name = parts.join("-");
        if !names.insert(name.clone()) {
            // values.test-ci.yaml beside values.test.ci.yaml: the second by its dotted name.
            name = parts.join(".");
            names.insert(name.clone());
        }
        let mut target = Target {
            name: name.clone(),
            layers: layers
                .iter()
                .map(|layer| ws.repo.display_path(&chart_dir.join(layer)))
                .collect(),
            release: name.clone(),
            namespace: name.clone(),
            external_refs: Vec::new(),
            kind: TargetKind::Variant,
            group: None,
            cloud: None,
            tables: Vec::new(),
        };
        ws.refuse_too_deep(&target.layers)?;
        let implied = engine::merged_values(ws, &target)
            .ok()
            .and_then(|merged| crate::rules::variants::implied_release(&merged, &dependency_keys));
        let why = match implied {
            Some(release) => {
                target.release = release.clone();
                target.namespace = release;
                "the release its values were written for: the hosts of its database, Redis or API \
Service name it (variants/release-hosts checks that they do)"
                    .to_string()
            }
            None => "its own name: its values name no Service of a release".to_string(),
        };
        variants.push((target, why));
    }
    Ok(variants)
}

/// The parts of a lifecycle values file's name (`["test", "ci"]` for `values.test.ci.yaml`).
fn variant_parts(file: &str) -> Option<Vec<String>> {
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))?;
    let rest = stem.strip_prefix("values.")?;
    let parts: Vec<String> = rest.split('.').map(str::to_string).collect();
    (!parts.iter().any(String::is_empty)).then_some(parts)
}

/// Render `target` as `render` does and read what its pods reference that it does not render.
async fn render(
    cx: &Context,
    ws: &Workspace,
    target: Target,
    release_why: Option<String>,
) -> Result<Found> {
    ws.refuse_too_deep(&target.layers)?;
    let outcome = engine::render_target(ws, target.clone()).await;
    cx.check_cancelled()?;
    let refs = match outcome {
        Ok(rendered) => {
            let prefix = format!("{}-", target.release);
            Ok(
                crate::rules::render::unprovided_pod_references(&rendered.rendered.objects)
                    .into_iter()
                    .map(|(name, kinds)| {
                        let written = match name.strip_prefix(&prefix) {
                            Some(rest) => format!("{{release}}-{rest}"),
                            None => name,
                        };
                        (written, kinds)
                    })
                    .collect(),
            )
        }
        // The rule and the place of the first error, never its message: messages quote
        // values, and the reason goes into a file no redaction passes over.
        Err(failed) => Err(failed
            .diagnostics
            .iter()
            .find(|d| d.severity == crate::findings::Severity::Error)
            .map(|d| match (&d.file, d.line) {
                (Some(file), Some(line)) => format!("{} at {file}:{line}", d.rule),
                (Some(file), None) => format!("{} in {file}", d.rule),
                _ => d.rule.clone(),
            })
            .unwrap_or_else(|| "helm did not render it".to_string())),
    };
    Ok(Found {
        target,
        refs,
        release_why,
    })
}

/// One env target rendered on several clouds: the refs of every cloud (the file configures it
/// for all), or the first reason one did not render.
fn merge_clouds(found: Vec<Found>) -> Vec<Found> {
    let mut merged: Vec<Found> = Vec::new();
    for one in found {
        let Some(seen) = merged.iter_mut().find(|f| f.target.name == one.target.name) else {
            merged.push(one);
            continue;
        };
        match (&mut seen.refs, one.refs) {
            (Ok(refs), Ok(more)) => {
                for (name, kinds) in more {
                    refs.entry(name).or_default().extend(kinds);
                }
            }
            (Ok(_), Err(why)) => seen.refs = Err(why),
            (Err(_), _) => {}
        }
    }
    merged.sort_by(|a, b| a.target.name.cmp(&b.target.name));
    merged
}

/// Where each target's external refs are written.
struct Plan {
    /// The pattern tables of the envs' directories that carry a shared list, by key: the list
    /// and the targets it is theirs.
    patterns: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// The env files with a list of their own.
    own: BTreeMap<String, Vec<String>>,
}

impl Plan {
    fn new(repo: &Repo, envs: &[Found]) -> Plan {
        let envs_dir = repo.display_path(&repo.envs_dir());
        let mut by_dir: BTreeMap<String, Vec<&Found>> = BTreeMap::new();
        for found in envs {
            let key = match &found.target.group {
                Some(group) => group.clone(),
                None => String::new(),
            };
            by_dir.entry(key).or_default().push(found);
        }
        let mut patterns = BTreeMap::new();
        let mut own = BTreeMap::new();
        for (dir, members) in by_dir {
            let lists: Vec<(&Found, Vec<String>)> = members
                .iter()
                .filter_map(|f| Some((*f, f.refs.as_ref().ok()?.keys().cloned().collect())))
                .collect();
            // The list most of the directory needs, the first target's on a tie.
            let mut shared: Option<(&Vec<String>, usize)> = None;
            for (_, list) in &lists {
                let count = lists.iter().filter(|(_, l)| l == list).count();
                if shared.is_none_or(|(_, best)| count > best) {
                    shared = Some((list, count));
                }
            }
            let shared = match (dir.as_str(), shared) {
                ("", _) | (_, None) => Vec::new(),
                (_, Some((list, _))) => list.clone(),
            };
            if !shared.is_empty() {
                let key = pattern_key(&envs_dir, &dir, &members);
                let holders = lists
                    .iter()
                    .filter(|(_, list)| *list == shared)
                    .map(|(f, _)| f.target.name.clone())
                    .collect();
                patterns.insert(key, (shared.clone(), holders));
            }
            for (found, list) in &lists {
                if *list != shared {
                    own.insert(found.target.name.clone(), list.clone());
                }
            }
        }
        Plan { patterns, own }
    }

    /// The table that gives `target` its external refs, if any does.
    fn table_of(&self, target: &Target) -> Option<String> {
        if target.kind == TargetKind::Variant {
            return Some(format!("variants.{}", target.name));
        }
        if self.own.contains_key(&target.name) {
            return Some(format!("targets.{}", quote(&target.name)));
        }
        self.patterns
            .iter()
            .find(|(_, (_, holders))| holders.contains(&target.name))
            .or_else(|| {
                // A target that did not render takes its directory's list.
                self.patterns.iter().find(|(key, _)| {
                    engine::targets::table_pattern(key).is_some_and(|p| p.is_match(&target.name))
                })
            })
            .map(|(key, _)| format!("targets.{}", quote(key)))
    }

    fn target_decisions(&self, envs: &[Found], variants: &[Found]) -> Vec<TargetDecision> {
        envs.iter()
            .chain(variants)
            .map(|found| {
                let table = self.table_of(&found.target);
                let external_refs = match &found.refs {
                    Ok(refs) => refs.keys().cloned().collect(),
                    Err(_) => self
                        .patterns
                        .iter()
                        .find(|(key, _)| {
                            table.as_deref() == Some(&format!("targets.{}", quote(key)))
                        })
                        .map(|(_, (list, _))| list.clone())
                        .unwrap_or_default(),
                };
                TargetDecision {
                    name: found.target.name.clone(),
                    kind: match found.target.kind {
                        TargetKind::Env => "env",
                        TargetKind::Variant => "variant",
                    },
                    layers: found.target.layers.clone(),
                    release: found.target.release.clone(),
                    namespace: found.target.namespace.clone(),
                    release_why: found.release_why.clone(),
                    refs_table: table.filter(|_| !external_refs.is_empty()),
                    external_refs,
                    not_rendered: found.refs.as_ref().err().cloned(),
                }
            })
            .collect()
    }

    fn ref_decisions(&self, envs: &[Found], variants: &[Found]) -> Vec<RefDecision> {
        let mut refs: BTreeMap<String, RefDecision> = BTreeMap::new();
        for found in envs.iter().chain(variants) {
            let Ok(needed) = &found.refs else {
                continue;
            };
            let table = self.table_of(&found.target).unwrap_or_default();
            for (name, kinds) in needed {
                let entry = refs.entry(name.clone()).or_insert_with(|| RefDecision {
                    name: name.clone(),
                    kinds: Vec::new(),
                    targets: Vec::new(),
                    tables: Vec::new(),
                });
                for kind in kinds {
                    if !entry.kinds.contains(kind) {
                        entry.kinds.push(kind.clone());
                    }
                }
                entry.targets.push(found.target.name.clone());
                if !entry.tables.contains(&table) {
                    entry.tables.push(table.clone());
                }
            }
        }
        refs.into_values().collect()
    }

    /// The commented `stackctl.toml`: the chart, the envs and the convention, then the
    /// tables of external refs (patterns, then files), then the variants.
    fn text(
        &self,
        chart: &Decision,
        envs: &EnvsDecision,
        convention: &Convention,
        found: &[Found],
        variants: &[Found],
    ) -> String {
        let all: Vec<&Found> = found.iter().chain(variants).collect();
        let kinds_of = |name: &str| reference_kinds(&all, name);
        let mut out = header_text(chart, envs, convention);
        out.push_str(&self.pattern_tables(found, &kinds_of));
        out.push_str(&self.own_tables(found, &kinds_of));
        out.push_str(&variant_tables(&chart.path, variants, &kinds_of));
        out
    }

    /// A `[targets."<pattern>"]` table for each directory's shared list.
    fn pattern_tables(&self, found: &[Found], kinds_of: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for (key, (list, holders)) in &self.patterns {
            let members: Vec<&Found> = found
                .iter()
                .filter(|f| {
                    engine::targets::table_pattern(key).is_some_and(|p| p.is_match(&f.target.name))
                })
                .collect();
            let others: Vec<&str> = members
                .iter()
                .filter(|f| !holders.contains(&f.target.name))
                .map(|f| f.target.name.as_str())
                .collect();
            let dir = key.trim_end_matches('*').to_string();
            let who = if others.is_empty() {
                format!("Needed by every env of {dir}.")
            } else {
                format!(
                    "Needed by the envs of {dir} but {}, whose own lists follow.",
                    and_list(&others)
                )
            };
            out.push_str(&format!(
                "\n{}[targets.{}]\nexternal-refs = {}",
                comment(&who),
                quote(key),
                list_commented(list, kinds_of)
            ));
        }
        out
    }

    /// A file's own table where its list differs from its directory's, and a note for each
    /// target that did not render.
    fn own_tables(&self, found: &[Found], kinds_of: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for f in found {
            if let Some(list) = self.own.get(&f.target.name) {
                let why = if list.is_empty() {
                    comment("Needs nothing from outside the chart, unlike its directory.")
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "\n{why}[targets.{}]\nexternal-refs = {}",
                    quote(&f.target.name),
                    list_commented(list, kinds_of)
                ));
            }
            if let Err(why) = &f.refs {
                out.push_str(&format!(
                    "\n{}",
                    comment(&format!(
                        "{} did not render ({why}), so what it needs from outside the chart is \
unknown: `stackctl validate` shows why.",
                        f.target.name
                    ))
                ));
            }
        }
        out
    }
}

/// The header, `[chart]`, the envs and the convention's `[targets."…"]` table.
fn header_text(chart: &Decision, envs: &EnvsDecision, convention: &Convention) -> String {
    let mut out = comment(
        "stackctl's configuration, written by `stackctl init` from what this repository \
holds and what its targets render. Reference: docs/configuration.md. `stackctl validate` checks \
the repository with it; change here what init guessed wrong.",
    );
    out.push_str(&format!(
        "\n[chart]\n{}path = {}\n",
        comment(&format!("The umbrella chart: {}.", chart.why)),
        quote(&chart.path)
    ));
    let default_layers = crate::config::EnvsConfig::default().layers;
    if envs.layers != default_layers {
        out.push_str(&format!(
            "\n[envs]\n{}layers = {}\n",
            comment(&format!("Env targets: {}.", envs.why)),
            list_inline(&envs.layers)
        ));
    } else {
        out.push_str(&format!(
            "\n{}",
            comment(&format!("Env targets: {}.", envs.why))
        ));
    }
    out.push_str(&format!(
        "\n{}{}{}[targets.{}]\nrelease = {}\nnamespace = {}\n",
        comment(
            "The release and namespace of every env target, in one place: a file's own \
table may set either for that file alone."
        ),
        bullet(&format!("release = {}: {RELEASE_WHY}.", quote(RELEASE))),
        bullet(&format!(
            "namespace = {}: {NAMESPACE_WHY}.",
            quote(NAMESPACE)
        )),
        quote(&convention.table),
        quote(&convention.release),
        quote(&convention.namespace)
    ));
    out.push_str(&format!(
        "\n{}",
        comment(
            "external-refs: what the pods of a target reference that its render does not \
provide (envFrom Secrets and ConfigMaps, the ServiceAccount they run as, image pull secrets, \
volumes), found by rendering each target once: render/dangling-reference reports any that is \
not listed. Something outside the chart must provide each (infrastructure code, a deploy step); \
remove a name the chart should render instead. \"{release}\" stands for the target's release. \
A list on a file's own table replaces its directory's: it does not add to it."
        )
    ));
    out
}

/// How the targets' pods reference `name` (`Secret (envFrom)`, `ServiceAccount`, …).
fn reference_kinds(targets: &[&Found], name: &str) -> String {
    let mut kinds: BTreeSet<&String> = BTreeSet::new();
    for f in targets {
        if let Ok(refs) = &f.refs
            && let Some(k) = refs.get(name)
        {
            kinds.extend(k);
        }
    }
    kinds.into_iter().cloned().collect::<Vec<_>>().join(", ")
}

/// A `[variants.<name>]` table for each lifecycle variant, with its refs.
fn variant_tables(
    chart_path: &str,
    variants: &[Found],
    kinds_of: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::new();
    if !variants.is_empty() {
        out.push_str(&format!(
            "\n{}",
            comment(
                "The chart's lifecycle variants: its values.<a>.<b>.yaml files, each over \
the files it extends (values.test.ci.yaml over values.test.yaml) when they exist."
            )
        ));
    }
    for f in variants {
        let chart_dir = display_join(chart_path, "");
        let layers: Vec<String> = f
            .target
            .layers
            .iter()
            .map(|l| l.strip_prefix(&chart_dir).unwrap_or(l).to_string())
            .collect();
        out.push_str(&format!(
            "\n[variants.{}]\nlayers = {}\n{}release = {}\nnamespace = {}\n",
            bare_key(&f.target.name),
            list_inline(&layers),
            comment(&format!(
                "Release: {}.",
                f.release_why.as_deref().unwrap_or_default()
            )),
            quote(&f.target.release),
            quote(&f.target.namespace)
        ));
        match &f.refs {
            Ok(refs) if !refs.is_empty() => {
                let list: Vec<String> = refs.keys().cloned().collect();
                out.push_str(&format!(
                    "external-refs = {}",
                    list_commented(&list, kinds_of)
                ));
            }
            Ok(_) => {}
            Err(why) => out.push_str(&comment(&format!(
                "It did not render ({why}), so what it needs from outside the chart is \
unknown: `stackctl validate` shows why."
            ))),
        }
    }
    out
}

/// `text` as `#` comment lines of at most 96 characters.
fn comment(text: &str) -> String {
    wrapped(text, "#", "#")
}

/// `text` as a `# - ` item of a list in a comment, its lines after the first indented.
fn bullet(text: &str) -> String {
    wrapped(text, "# -", "#  ")
}

fn wrapped(text: &str, first: &str, next: &str) -> String {
    const WIDTH: usize = 96;
    let mut out = String::new();
    let mut line = String::from(first);
    for word in text.split_whitespace() {
        // TOML allows no control character in a comment (a file name could hold one).
        let word: String = word
            .chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect();
        if line.len() + 1 + word.len() > WIDTH && line != first && line != next {
            out.push_str(&line);
            out.push('\n');
            line = String::from(next);
        }
        line.push(' ');
        line.push_str(&word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A list on one line: `["a", "b"]`.
fn list_inline(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A list one item a line, each with how the pods reference it; `[]` when empty.
fn list_commented(items: &[String], kinds: &dyn Fn(&str) -> String) -> String {
    if items.is_empty() {
        return "[]\n".to_string();
    }
    let width = items.iter().map(|i| quote(i).len()).max().unwrap_or(0);
    let mut out = String::from("[\n");
    for item in items {
        let quoted = format!("{},", quote(item));
        out.push_str(&format!(
            "  {quoted:<w$}  # {}\n",
            kinds(item),
            w = width + 1
        ));
    }
    out.push_str("]\n");
    out
}

/// A table key: bare when TOML allows it, else quoted.
fn bare_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        key.to_string()
    } else {
        quote(key)
    }
}

/// The pattern table of an envs directory: `envs/<dir>/*` when its targets lie directly in
/// it, else `envs/<dir>/**`.
fn pattern_key(envs_dir: &str, dir: &str, members: &[&Found]) -> String {
    let prefix = display_join(envs_dir, &format!("{dir}/"));
    let direct = members.iter().all(|f| {
        f.target
            .name
            .strip_prefix(&prefix)
            .is_some_and(|rest| !rest.contains('/'))
    });
    display_join(
        envs_dir,
        &format!("{dir}/{}", if direct { "*" } else { "**" }),
    )
}

/// A TOML basic string: JSON's escapes are TOML's.
fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, refs: Option<&[&str]>) -> Found {
        let group = name.split('/').nth(1).map(str::to_string);
        Found {
            target: Target {
                name: name.to_string(),
                layers: vec![name.to_string()],
                release: "r".to_string(),
                namespace: "n".to_string(),
                external_refs: Vec::new(),
                kind: TargetKind::Env,
                group,
                cloud: None,
                tables: Vec::new(),
            },
            refs: match refs {
                Some(refs) => Ok(refs
                    .iter()
                    .map(|r| {
                        (
                            r.to_string(),
                            BTreeSet::from(["Secret (envFrom)".to_string()]),
                        )
                    })
                    .collect()),
                None => Err("render/helm-error at envs/staging/e.yaml:3".to_string()),
            },
            release_why: None,
        }
    }

    #[test]
    fn lifecycle_values_files_are_named_by_their_parts() {
        assert_eq!(
            variant_parts("values.test.ci.yaml"),
            Some(vec!["test".to_string(), "ci".to_string()])
        );
        assert_eq!(
            variant_parts("values.local.yml"),
            Some(vec!["local".to_string()])
        );
        for not_one in [
            "values.yaml",
            "values-prod.yaml",
            "values..yaml",
            "Chart.yaml",
            "values.test.json",
        ] {
            assert_eq!(variant_parts(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn a_directory_shares_the_list_most_of_its_envs_need_and_the_others_get_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::unconfigured(dir.path().to_path_buf());
        let shared: &[&str] = &["{release}-aws", "{release}-sa"];
        let found = vec![
            env("envs/prod/a.yaml", Some(&["ghcr"])),
            env("envs/staging/a.yaml", Some(shared)),
            env("envs/staging/b.yaml", Some(&["{release}-aws", "other-sa"])),
            env("envs/staging/c.yaml", Some(shared)),
            env("envs/staging/d.yaml", Some(&[])),
            env("envs/staging/e.yaml", None),
            env("envs/test/x/deep.yaml", Some(&[])),
        ];
        let plan = Plan::new(&repo, &found);
        let keys: Vec<&str> = plan.patterns.keys().map(String::as_str).collect();
        // A directory whose envs need nothing gets no table.
        assert_eq!(keys, ["envs/prod/*", "envs/staging/*"]);
        assert_eq!(
            plan.patterns["envs/staging/*"],
            (
                vec!["{release}-aws".to_string(), "{release}-sa".to_string()],
                vec![
                    "envs/staging/a.yaml".to_string(),
                    "envs/staging/c.yaml".to_string()
                ]
            )
        );
        let own: Vec<(&str, usize)> = plan
            .own
            .iter()
            .map(|(k, v)| (k.as_str(), v.len()))
            .collect();
        assert_eq!(
            own,
            [("envs/staging/b.yaml", 2), ("envs/staging/d.yaml", 0)]
        );
        // The target that did not render takes its directory's list, and says why.
        let decisions = plan.target_decisions(&found, &[]);
        let e = decisions
            .iter()
            .find(|d| d.name == "envs/staging/e.yaml")
            .unwrap();
        assert_eq!(e.refs_table.as_deref(), Some("targets.\"envs/staging/*\""));
        assert_eq!(e.external_refs, ["{release}-aws", "{release}-sa"]);
        assert_eq!(
            e.not_rendered.as_deref(),
            Some("render/helm-error at envs/staging/e.yaml:3")
        );
        let refs = plan.ref_decisions(&found, &[]);
        let aws = refs.iter().find(|r| r.name == "{release}-aws").unwrap();
        assert_eq!(
            aws.tables,
            [
                "targets.\"envs/staging/*\"",
                "targets.\"envs/staging/b.yaml\""
            ]
        );
        assert_eq!(aws.targets.len(), 3);
    }

    #[test]
    fn a_pattern_table_crosses_directories_only_when_its_envs_do() {
        let direct = [env("envs/staging/a.yaml", Some(&[]))];
        let nested = [
            env("envs/staging/a.yaml", Some(&[])),
            env("envs/staging/eu/b.yaml", Some(&[])),
        ];
        assert_eq!(
            pattern_key("envs", "staging", &direct.iter().collect::<Vec<_>>()),
            "envs/staging/*"
        );
        assert_eq!(
            pattern_key("envs", "staging", &nested.iter().collect::<Vec<_>>()),
            "envs/staging/**"
        );
    }

    #[test]
    fn comments_wrap_within_96_columns_and_keys_are_quoted_only_when_toml_needs_it() {
        let escaped = comment("envs/a\u{1b}[31m.yaml did not render");
        assert!(
            !escaped.chars().any(|c| c.is_control() && c != '\n'),
            "{escaped:?}"
        );
        let text = "word ".repeat(60);
        let wrapped = comment(&text);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 1 && lines.iter().all(|l| l.len() <= 96 && l.starts_with("# ")));
        let item = bullet(&text);
        assert!(item.starts_with("# - word"));
        assert!(
            item.lines().skip(1).all(|l| l.starts_with("#   word")),
            "{item}"
        );
        assert_eq!(bare_key("test-ci"), "test-ci");
        assert_eq!(bare_key("test.ci"), "\"test.ci\"");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}

//! `stackctl validate`, `render` and `values`: resolve dependencies, load the workspace, check
//! or render targets, print.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::output;
use crate::cli::{CheckArgs, Format, GlobalArgs, ValidateScope};
use crate::deps::build::{self, DepsOptions};
use crate::deps::{check, links};
use crate::engine::cache::ResultCache;
use crate::engine::targets::{self, Target};
use crate::engine::{self, Workspace};
use crate::environment::Environment;
use crate::error::{Error, ExitCode, Result};
use crate::findings::{Diagnostic, Severity};
use crate::helm::Helm;
use crate::redact;
use crate::repo::Repo;
use crate::values::dotted_path;
use crate::values::escape_key;

/// The repository, its environment, helm, and a runtime: what every rendering command needs.
struct Session {
    repo: Repo,
    env: Environment,
    helm: HelmProbe,
    runtime: tokio::runtime::Runtime,
}

/// helm, found at once and asked its version on a thread of its own. Starting helm costs tens
/// of milliseconds, as much as everything else a cached run does, so the question runs while
/// the lock is checked and the dependencies are resolved instead of before.
struct HelmProbe {
    pending: std::sync::Mutex<Option<std::thread::JoinHandle<Result<Helm>>>>,
    ready: std::sync::OnceLock<Helm>,
}

impl HelmProbe {
    /// Locate helm now (a missing binary is reported before anything else, as always) and
    /// start reading its version.
    fn start(flag: Option<&std::path::Path>, memo_dir: Option<PathBuf>) -> Result<HelmProbe> {
        crate::helm::locate(flag)?;
        let flag = flag.map(std::path::Path::to_path_buf);
        let handle = std::thread::spawn(move || {
            Helm::discover_memoized(flag.as_deref(), memo_dir.as_deref())
        });
        Ok(HelmProbe {
            pending: std::sync::Mutex::new(Some(handle)),
            ready: std::sync::OnceLock::new(),
        })
    }

    /// The checked helm, waiting for the probe if it is still running.
    fn get(&self) -> Result<&Helm> {
        if let Some(helm) = self.ready.get() {
            return Ok(helm);
        }
        let handle = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(handle) = handle else {
            return self.ready.get().ok_or_else(|| {
                Error::environment("helm could not be checked (see the error above)")
            });
        };
        let helm = handle
            .join()
            .map_err(|_| Error::environment("checking the helm version failed unexpectedly"))??;
        Ok(self.ready.get_or_init(|| helm))
    }
}

impl Session {
    fn open(global: &GlobalArgs) -> Result<Session> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::environment(format!("cannot read the current directory: {e}")))?;
        let repo = Repo::discover(&cwd)?;
        let env = Environment::load(&repo.root)?;
        // The helm version memo lives in the cache; without a cache dir helm is simply asked.
        let memo_dir = crate::oci::cache::ChartCache::default_dir(&env).ok();
        let helm = HelmProbe::start(global.helm.as_deref(), memo_dir)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::environment(format!("cannot start the async runtime: {e}")))?;
        Ok(Session {
            repo,
            env,
            helm,
            runtime,
        })
    }

    /// `result`, unless helm turned out unusable: that error comes first, as it did when helm
    /// was checked before anything else ran.
    fn helm_first<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.helm.get()?;
        }
        result
    }

    /// The result cache, beside the chart cache. Opened after dependencies are built: their
    /// archives are inputs.
    fn result_cache(&self) -> Result<ResultCache> {
        let root = crate::oci::cache::ChartCache::default_dir(&self.env)?;
        ResultCache::open(&root, &self.repo, self.helm.get()?)
    }

    /// Make `charts/` match the lock (a no-op when it already does) and load the workspace.
    fn workspace(&self, args: &CheckArgs, quiet: bool) -> Result<Workspace> {
        let archives = self.helm_first(self.build(args, quiet))?;
        Workspace::load(self.repo.clone(), self.helm.get()?.clone(), &archives)
    }

    /// Make `charts/` match the lock: the archive of every dependency.
    fn build(&self, args: &CheckArgs, quiet: bool) -> Result<BTreeMap<(String, String), PathBuf>> {
        let active = links::load(&self.repo)?;
        if let Some(banner) = links::banner(&active)
            && !quiet
        {
            eprintln!("{banner}");
        }
        let options = DepsOptions::new(
            &self.repo,
            self.env.clone(),
            args.offline,
            &args.registry.mirrors,
            &args.registry.insecure,
        )?;
        let outcome = self
            .runtime
            .block_on(build::ensure_built(&self.repo, &options))?;
        let archives: BTreeMap<(String, String), PathBuf> = outcome
            .dependencies
            .iter()
            .map(|d| {
                (
                    (d.name.clone(), d.version.clone()),
                    outcome.charts_dir.join(&d.file),
                )
            })
            .collect();
        Ok(archives)
    }
}

/// A progress bar on stderr, only for people: a terminal, human output, not quiet.
fn progress_bar(global: &GlobalArgs, targets: usize) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if global.format != Format::Human || global.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(targets as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} validating {pos}/{len} {wide_msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn jobs(args: &CheckArgs) -> usize {
    args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    })
}

pub fn run_validate(
    global: &GlobalArgs,
    scope: Option<ValidateScope>,
    args: CheckArgs,
    use_cache: bool,
) -> Result<ExitCode> {
    let started = Instant::now();
    let session = Session::open(global)?;
    let repo = &session.repo;
    // The lock is checked as committed, before anything could touch it.
    let mut general: Vec<Diagnostic> = session.helm_first(check::check(repo, &session.env))?;
    let (targets, lint_charts) = session.helm_first(select_targets(repo, scope.as_ref()))?;
    // Repository-wide and cheap, and `.gitignore` is no input of any target's cached verdict:
    // checked on every run.
    if !matches!(scope, Some(ValidateScope::Chart)) {
        general.extend(crate::rules::secrets::check_gitignore(&repo.root));
    }
    let command = match &scope {
        Some(ValidateScope::Envs { cloud }) => format!("validate envs {cloud}"),
        Some(ValidateScope::Chart) => "validate chart".to_string(),
        None => "validate".to_string(),
    };
    let workspace = match session.workspace(&args, global.quiet) {
        Ok(workspace) => Arc::new(workspace),
        // A dependency finding (a file:// leak, a lock out of sync) can make the chart
        // unbuildable; those findings are the report, not an error of the run.
        Err(_) if general.iter().any(|d| d.severity == Severity::Error) => {
            let report = engine::assemble(repo, &[], general, started);
            return output::emit(&report, global, &repo.root, &command);
        }
        Err(e) => return Err(e),
    };
    if lint_charts {
        general.extend(crate::rules::chart::check_templates(
            &workspace.chart_dir,
            &repo.display_path(&workspace.chart_dir),
        ));
        general.extend(session.runtime.block_on(engine::lint::lint_charts(
            &workspace,
            &targets::variant_targets(repo),
        ))?);
    }
    let service_values: Vec<String> = if lint_charts {
        repo.config
            .dependencies
            .sources
            .values()
            .map(|source| repo.path(source))
            .filter(|dir| dir.join("values.yaml").is_file())
            .map(|dir| format!("{}/values.yaml", repo.display_path(&dir)))
            .collect()
    } else {
        Vec::new()
    };
    let (literals, scanned) = engine::secret_literals(&workspace, &targets, &service_values);
    general.extend(literals);
    let cache = if use_cache {
        Some(Arc::new(session.result_cache()?))
    } else {
        None
    };
    let progress = progress_bar(global, targets.len());
    let on_done: Option<engine::OnDone> = progress.clone().map(|bar| {
        Arc::new(move |name: &str| {
            bar.set_message(name.to_string());
            bar.inc(1);
        }) as engine::OnDone
    });
    let outcomes = session.runtime.block_on(engine::check_all(
        Arc::clone(&workspace),
        targets,
        jobs(&args),
        cache,
        on_done,
    ));
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    general.extend(engine::consistent_env(&outcomes));
    general.extend(engine::ingress_parity(repo, &outcomes));
    let report = engine::assemble_with(repo, &outcomes, general, &scanned, started);
    output::emit(&report, global, &repo.root, &command)
}

/// The targets of a `validate` scope, and whether the charts are linted too.
fn select_targets(repo: &Repo, scope: Option<&ValidateScope>) -> Result<(Vec<Target>, bool)> {
    Ok(match scope {
        Some(ValidateScope::Envs { cloud }) => (targets::env_targets(repo, cloud)?, false),
        Some(ValidateScope::Chart) => (targets::variant_targets(repo), true),
        None => {
            let mut targets = Vec::new();
            for cloud in targets::clouds(repo)? {
                targets.extend(targets::env_targets(repo, &cloud)?);
            }
            targets.extend(targets::variant_targets(repo));
            (targets, true)
        }
    })
}

pub fn run_render(
    global: &GlobalArgs,
    target: &str,
    cloud: Option<&str>,
    args: CheckArgs,
) -> Result<ExitCode> {
    let started = Instant::now();
    let session = Session::open(global)?;
    let target = session.helm_first(targets::resolve_target(&session.repo, target, cloud))?;
    let workspace = Arc::new(session.workspace(&args, global.quiet)?);
    if !global.quiet {
        eprintln!("{}: {}", target.name, layer_chain(&workspace, &target));
    }
    let outcome = session
        .runtime
        .block_on(engine::check_all(
            Arc::clone(&workspace),
            vec![target],
            1,
            None,
            None,
        ))
        .remove(0);
    match &outcome.rendered {
        Some(rendered) if global.format == Format::Human => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(redact::redact(&rendered.manifest).as_bytes())
                .map_err(|e| Error::environment(format!("cannot write to stdout: {e}")))?;
            // Findings still matter, but the manifest owns stdout: they go to stderr.
            let report = engine::assemble(
                &session.repo,
                std::slice::from_ref(&outcome),
                Vec::new(),
                started,
            );
            for d in &report.diagnostics {
                eprintln!(
                    "{}: {} [{}]",
                    d.severity.as_str(),
                    redact::redact(&d.message),
                    d.rule
                );
            }
            Ok(ExitCode::Ok)
        }
        _ => {
            let report = engine::assemble(
                &session.repo,
                std::slice::from_ref(&outcome),
                Vec::new(),
                started,
            );
            output::emit(&report, global, &session.repo.root, "render")
        }
    }
}

fn layer_chain(workspace: &Workspace, target: &Target) -> String {
    let chart = workspace.repo.display_path(&workspace.chart_dir);
    std::iter::once(format!("{chart}/values.yaml"))
        .chain(target.layers.iter().cloned())
        .collect::<Vec<_>>()
        .join(" → ")
}

pub fn run_values(
    global: &GlobalArgs,
    target: &str,
    path: Option<&str>,
    cloud: Option<&str>,
) -> Result<ExitCode> {
    let session = Session::open(global)?;
    let target = session.helm_first(targets::resolve_target(&session.repo, target, cloud))?;
    let args = CheckArgs {
        jobs: Some(1),
        offline: true,
        registry: Default::default(),
    };
    let workspace = session.workspace(&args, global.quiet)?;
    let merged = engine::merged_values(&workspace, &target)?;
    let mut out = String::new();
    match path {
        None => {
            if global.format == Format::Json {
                out = serde_json::to_string_pretty(&merged.value).expect("serialisable") + "\n";
            } else {
                out.push_str(&format!("# {}\n", layer_chain(&workspace, &target)));
                write_annotated(&merged, &merged.value, "", 0, &mut out);
            }
        }
        Some(path) => {
            let pointer: String = path
                .split('.')
                .map(|k| format!("/{}", escape_key(k)))
                .collect();
            let history = merged.history(&pointer);
            if global.format == Format::Json {
                let layers: Vec<Value> = history
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        serde_json::json!({
                            "file": l.file,
                            "line": l.span.map(|s| s.primary().line),
                            "value": l.value,
                            "winner": history.winner == Some(i),
                        })
                    })
                    .collect();
                let doc =
                    serde_json::json!({"path": path, "value": history.value, "layers": layers});
                out = serde_json::to_string_pretty(&doc).expect("serialisable") + "\n";
            } else {
                out.push_str(&format!("{}\n", dotted_path(&pointer)));
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
                    out.push_str(&format!("  {at:<48} {value}{mark}\n"));
                }
                let result = history
                    .value
                    .map(scalar)
                    .unwrap_or_else(|| "(absent)".to_string());
                out.push_str(&format!("  = {result}\n"));
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(redact::redact(&out).as_bytes())
        .map_err(|e| Error::environment(format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::Ok)
}

/// One-line rendering of a value (JSON is valid YAML for scalars and small collections).
fn scalar(value: &Value) -> String {
    serde_json::to_string(value).expect("serialisable")
}

/// The merged values as YAML, each leaf followed by `# file:line` of the layer that set it.
fn write_annotated(
    merged: &crate::values::Merged,
    value: &Value,
    pointer: &str,
    indent: usize,
    out: &mut String,
) {
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
                        out.push_str(&format!("{pad}{shown_key}:\n"));
                        write_annotated(merged, child, &child_pointer, indent + 2, out);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        out.push_str(&format!("{pad}{shown_key}:{}\n", origin(&child_pointer)));
                        write_annotated(merged, child, &child_pointer, indent + 2, out);
                    }
                    _ => out.push_str(&format!(
                        "{pad}{shown_key}: {}{}\n",
                        scalar(child),
                        origin(&child_pointer)
                    )),
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}- {}\n", scalar(item)));
            }
        }
        other => out.push_str(&format!("{pad}{}{}\n", scalar(other), origin(pointer))),
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

//! `stackctl deps …`: wiring of the dependency operations of `chart/` to the terminal.

use std::io::Write;

use super::output;
use crate::cli::{DepsCommand, Format, GlobalArgs, RegistryArgs};
use crate::deps::build::{self, BuildOutcome, DepsOptions, Presence};
use crate::deps::{bump, check, links, update};
use crate::environment::Environment;
use crate::error::{Error, ExitCode, Result};
use crate::findings::{Diagnostic, Report};
use crate::redact::RedactingWriter;
use crate::repo::Repo;

pub fn run(global: &GlobalArgs, command: DepsCommand) -> Result<ExitCode> {
    let repo = Repo::discover(
        &std::env::current_dir()
            .map_err(|e| Error::environment(format!("cannot read the current directory: {e}")))?,
    )?;
    let env = Environment::load(&repo.root)?;
    match command {
        DepsCommand::Check => run_check(global, &repo, &env),
        DepsCommand::Build { offline, registry } => {
            let options = options(&repo, env, offline, &registry)?;
            print_banner(&repo)?;
            let outcome = block_on(build::ensure_built(&repo, &options))?;
            print_build(global, &repo, &outcome)?;
            Ok(ExitCode::Ok)
        }
        DepsCommand::Update { offline, registry } => {
            run_update(global, &repo, env, offline, &registry)
        }
        DepsCommand::Bump {
            chart,
            version,
            dry_run,
            offline,
            registry,
        } => run_bump(
            global, &repo, env, &chart, &version, dry_run, offline, &registry,
        ),
        DepsCommand::Link { chart, dir } => {
            let link = links::link(&repo, &chart, &dir)?;
            let mut out = stdout();
            if !global.quiet {
                writeln!(
                    out,
                    "linked {} -> {} (recorded in {}; run `stackctl deps build`)",
                    link.chart,
                    link.dir.display(),
                    links::LINKS_FILE
                )
                .map_err(write_error)?;
            }
            Ok(ExitCode::Ok)
        }
        DepsCommand::Unlink { chart } => {
            if !links::unlink(&repo, &chart)? {
                return Err(Error::usage(format!("{chart} is not linked"))
                    .with_hint("`stackctl deps status` shows the active links"));
            }
            if !global.quiet {
                writeln!(
                    stdout(),
                    "unlinked {chart}; the next `stackctl deps build` restores the locked archive"
                )
                .map_err(write_error)?;
            }
            Ok(ExitCode::Ok)
        }
        DepsCommand::Status => run_status(global, &repo),
    }
}

fn options(
    repo: &Repo,
    env: Environment,
    offline: bool,
    args: &RegistryArgs,
) -> Result<DepsOptions> {
    DepsOptions::new(repo, env, offline, &args.mirrors, &args.insecure)
}

/// Network code is async; the runtime lives only as long as the command needs it.
fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::environment(format!("cannot start the async runtime: {e}")))?
        .block_on(future)
}

fn stdout() -> RedactingWriter<anstream::AutoStream<std::io::Stdout>> {
    RedactingWriter::new(anstream::stdout())
}

fn write_error(e: std::io::Error) -> Error {
    Error::environment(format!("cannot write to stdout: {e}"))
}

/// Active links are announced on every run that uses dependencies.
fn print_banner(repo: &Repo) -> Result<()> {
    if let Some(banner) = links::banner(&links::load(repo)?) {
        let yellow = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Yellow.into()));
        let mut err = anstream::stderr();
        let _ = writeln!(err, "{yellow}{banner}{yellow:#}");
    }
    Ok(())
}

fn run_check(global: &GlobalArgs, repo: &Repo, env: &Environment) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    print_banner(repo)?;
    let findings = check::check(repo, env)?;
    emit_findings(global, repo, findings, started, "deps check")
}

/// Findings through the shared renderers (every `--format`), exit 1 on errors.
fn emit_findings(
    global: &GlobalArgs,
    repo: &Repo,
    findings: Vec<Diagnostic>,
    started: std::time::Instant,
    command: &str,
) -> Result<ExitCode> {
    let report = Report {
        targets: Vec::new(),
        diagnostics: findings,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    output::emit(&report, global, &repo.root, command)
}

fn print_build(global: &GlobalArgs, repo: &Repo, outcome: &BuildOutcome) -> Result<()> {
    let mut err = anstream::stderr();
    for warning in &outcome.warnings {
        let _ = writeln!(err, "warning: {warning}");
    }
    let mut out = stdout();
    if global.format == Format::Json {
        let doc = build_json(repo, outcome);
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).expect("serialisable")
        )
        .map_err(write_error)?;
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    for dep in &outcome.dependencies {
        let state = if dep.written { "written" } else { "up to date" };
        let version_note = if dep.archive_version != dep.version {
            format!(" (linked chart is {})", dep.archive_version)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:<28} {:<10} {:<9} {}{version_note}",
            dep.file,
            state,
            dep.source.as_str(),
            dep.origin
        )
        .map_err(write_error)?;
    }
    for removed in &outcome.removed {
        writeln!(out, "{removed:<28} removed (no longer locked)").map_err(write_error)?;
    }
    let summary = if outcome.unchanged() {
        "already in place"
    } else {
        "updated"
    };
    writeln!(
        out,
        "{}: {} archive(s) {summary}",
        repo.display_path(&outcome.charts_dir),
        outcome.dependencies.len()
    )
    .map_err(write_error)?;
    Ok(())
}

/// The JSON document of a build (`--format json`).
fn build_json(repo: &Repo, outcome: &BuildOutcome) -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "charts_dir": repo.display_path(&outcome.charts_dir),
        "dependencies": outcome.dependencies,
        "removed": outcome.removed,
        "warnings": outcome.warnings,
    })
}

fn run_update(
    global: &GlobalArgs,
    repo: &Repo,
    env: Environment,
    offline: bool,
    registry: &RegistryArgs,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let chart = crate::deps::chartfile::ChartFile::load(&repo.chart_dir())?;
    let blockers = update::blockers(repo, &chart);
    if !blockers.is_empty() {
        // Nothing can be locked until these are fixed: show them like `deps check` does.
        return emit_findings(global, repo, blockers, started, "deps update");
    }
    let options = options(repo, env, offline, registry)?;
    print_banner(repo)?;
    let outcome = block_on(update::update(repo, &options))?;
    if global.format == Format::Json {
        let mut doc = build_json(repo, &outcome.build);
        doc["lock_written"] = outcome.lock_written.into();
        writeln!(
            stdout(),
            "{}",
            serde_json::to_string_pretty(&doc).expect("serialisable")
        )
        .map_err(write_error)?;
        return Ok(ExitCode::Ok);
    }
    if !global.quiet {
        let lock = repo.display_path(&repo.chart_dir().join(crate::deps::chartfile::LOCK_FILE));
        let what = if outcome.lock_written {
            "written"
        } else {
            "unchanged"
        };
        writeln!(stdout(), "{lock} {what}").map_err(write_error)?;
    }
    print_build(global, repo, &outcome.build)?;
    Ok(ExitCode::Ok)
}

#[allow(clippy::too_many_arguments)]
fn run_bump(
    global: &GlobalArgs,
    repo: &Repo,
    env: Environment,
    chart: &str,
    version: &str,
    dry_run: bool,
    offline: bool,
    registry: &RegistryArgs,
) -> Result<ExitCode> {
    let plan = bump::plan(repo, chart, version)?;
    let mut out = stdout();
    if plan.changes.is_empty() {
        writeln!(
            out,
            "nothing to change: {chart} is at {version} in Chart.yaml, Chart.lock and every {} tag",
            plan.image
        )
        .map_err(write_error)?;
        return Ok(ExitCode::Ok);
    }
    if !dry_run {
        // Prove the version exists before touching any file.
        let options = options(repo, env, offline, registry)?;
        block_on(update::verify_versions_exist(
            repo,
            &plan.new_chart,
            &options,
        ))?;
        bump::apply(&plan.changes)?;
    }
    for change in &plan.changes {
        write!(out, "{}", change.diff()).map_err(write_error)?;
    }
    let files: Vec<&str> = plan.changes.iter().map(|c| c.display.as_str()).collect();
    writeln!(out).map_err(write_error)?;
    if dry_run {
        writeln!(
            out,
            "dry run: {} file(s) would change; nothing written, registry not contacted",
            files.len()
        )
        .map_err(write_error)?;
    } else {
        writeln!(out, "changed {} file(s): {}", files.len(), files.join(", "))
            .map_err(write_error)?;
    }
    writeln!(out, "commit message: {}", plan.commit_message()).map_err(write_error)?;
    if !dry_run && !global.quiet {
        writeln!(
            out,
            "next: `stackctl deps build` and `stackctl validate`, then commit these files together"
        )
        .map_err(write_error)?;
    }
    Ok(ExitCode::Ok)
}

fn run_status(global: &GlobalArgs, repo: &Repo) -> Result<ExitCode> {
    print_banner(repo)?;
    let statuses = build::status(repo)?;
    let mut out = stdout();
    if global.format == Format::Json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "version": 1,
                "dependencies": statuses,
            }))
            .expect("serialisable")
        )
        .map_err(write_error)?;
        return Ok(ExitCode::Ok);
    }
    writeln!(
        out,
        "{:<16} {:<12} {:<10} {:<10} {:<9} {:<11} FROM",
        "DEPENDENCY", "CHART", "REQUESTED", "LOCKED", "SOURCE", "IN charts/"
    )
    .map_err(write_error)?;
    for s in &statuses {
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
        writeln!(
            out,
            "{:<16} {:<12} {:<10} {:<10} {:<9} {:<11} {from}",
            s.dependency,
            s.chart,
            s.requested,
            s.locked.as_deref().unwrap_or("-"),
            s.source.map(|k| k.as_str()).unwrap_or("-"),
            presence,
        )
        .map_err(write_error)?;
    }
    Ok(ExitCode::Ok)
}

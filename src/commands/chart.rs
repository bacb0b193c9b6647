//! `stackctl chart …`: packaging and publishing charts.

use std::io::Write;
use std::path::Path;

use crate::cli::{ChartCommand, Format, GlobalArgs};
use crate::deps::{bump, publish};
use crate::environment::Environment;
use crate::error::{Error, ExitCode, Result};
use crate::oci::RegistrySettings;
use crate::redact::RedactingWriter;
use crate::repo::Repo;

pub fn run(global: &GlobalArgs, command: ChartCommand) -> Result<ExitCode> {
    match command {
        ChartCommand::Publish {
            chart_dir,
            to,
            version,
            write,
            registry,
        } => {
            let cwd = std::env::current_dir().map_err(|e| {
                Error::environment(format!("cannot read the current directory: {e}"))
            })?;
            let chart_dir = cwd.join(&chart_dir);
            if !chart_dir.is_dir() {
                return Err(Error::usage(format!(
                    "{} is not a directory",
                    chart_dir.display()
                )));
            }
            // The chart may live outside a Stack repository (a service repository publishing
            // its own chart): then only the environment and the flags configure registries.
            let repo = Repo::discover(&chart_dir).ok();
            let env_root = repo.as_ref().map(|r| r.root.clone()).unwrap_or(cwd.clone());
            let env = Environment::load(&env_root)?;
            let registries_config = repo
                .as_ref()
                .map(|r| r.config.registries.clone())
                .unwrap_or_default();
            let settings = RegistrySettings::resolve(
                &registries_config,
                &env,
                &registry.mirrors,
                &registry.insecure,
            )?;
            let display = display_dir(repo.as_ref(), &chart_dir);
            let plan = publish::prepare(&chart_dir, &display, &to, version.as_deref(), &settings)?;
            let pushed = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::environment(format!("cannot start the async runtime: {e}")))?
                .block_on(publish::push(&plan, &settings, env))?;
            let wrote = match (&plan.chart_yaml_change, write) {
                (Some(change), true) => {
                    bump::apply(std::slice::from_ref(change))?;
                    Some(change)
                }
                _ => None,
            };
            let mut out = RedactingWriter::new(anstream::stdout());
            let io = |e: std::io::Error| Error::environment(format!("cannot write to stdout: {e}"));
            if global.format == Format::Json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "version": 1,
                        "chart": plan.packaged.name,
                        "chart_version": plan.packaged.version,
                        "reference": format!("oci://{}", pushed.reference),
                        "manifest_digest": pushed.manifest_digest,
                        "archive_digest": plan.packaged.digest,
                        "wrote": wrote.map(|c| c.display.clone()),
                    }))
                    .expect("serialisable")
                )
                .map_err(io)?;
            } else {
                writeln!(
                    out,
                    "pushed oci://{} ({})",
                    pushed.reference, pushed.manifest_digest
                )
                .map_err(io)?;
                if let Some(change) = wrote {
                    write!(out, "{}", change.diff()).map_err(io)?;
                    writeln!(out, "wrote {}", change.display).map_err(io)?;
                }
            }
            Ok(ExitCode::Ok)
        }
    }
}

fn display_dir(repo: Option<&Repo>, dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match repo {
        Some(repo) => repo.display_path(&dir),
        None => dir.display().to_string(),
    }
}

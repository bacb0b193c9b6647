//! One module per command: each turns its parsed arguments into one call of an operation
//! (`src/ops/`) and hands the result to the report layer (`src/report/`). No domain logic
//! lives here.

mod chart;
mod cluster;
mod completions;
mod deps;
mod doctor;
mod init;
mod render;
mod test;
mod validate;
mod values;

use std::sync::Arc;

use crate::cli::{Cli, ColorChoice, Command, GlobalArgs, RegistryArgs};
use crate::error::{Error, ExitCode, Result};
use crate::ops::{Context, DepsSource, Invocation};
use crate::process::Cancel;
use crate::report::{Format, Printer, TerminalProgress};

/// What every command gets: the invocation for the operations, the printer for the results.
pub struct Session {
    pub invocation: Invocation,
    pub printer: Printer,
}

impl Session {
    fn new(global: &GlobalArgs, cancel: Cancel) -> Result<Session> {
        if let Some(dir) = &global.chdir {
            std::env::set_current_dir(dir).map_err(|e| {
                Error::usage(format!("cannot change to directory {}: {e}", dir.display()))
            })?;
        }
        let cwd = std::env::current_dir()
            .map_err(|e| Error::environment(format!("cannot read the current directory: {e}")))?;
        let progress = TerminalProgress::new(global.format == Format::Human, global.quiet);
        Ok(Session {
            invocation: Invocation {
                cwd,
                helm: global.helm.clone(),
                cancel,
                progress: Arc::new(progress),
            },
            printer: Printer::new(
                global.format,
                match global.color {
                    ColorChoice::Always => Some(true),
                    ColorChoice::Never => Some(false),
                    ColorChoice::Auto => None,
                },
                global.quiet,
            ),
        })
    }

    /// The operations' context inside the repository.
    fn context(&self) -> Result<Context> {
        Context::open(self.invocation.clone())
    }
}

/// The dependency flags as the operations take them.
fn deps_source(offline: bool, registry: &RegistryArgs) -> DepsSource {
    DepsSource {
        offline,
        mirrors: registry.mirrors.clone(),
        insecure: registry.insecure.clone(),
    }
}

/// Run one command line to its exit code; `cancel` fires on Ctrl-C.
pub async fn dispatch(cli: Cli, cancel: Cancel) -> Result<ExitCode> {
    let session = Session::new(&cli.global, cancel)?;
    match cli.command {
        Command::Doctor => doctor::run(&session).await,
        Command::Completions { shell } => completions::run(&session, shell),
        Command::Deps { command } => deps::run(&session, command).await,
        Command::Chart { command } => chart::run(&session, command).await,
        Command::Cluster { command } => cluster::run(&session, command).await,
        Command::Init { print, args } => init::run(&session, print, args).await,
        Command::Validate {
            scope,
            args,
            no_cache,
        } => validate::run(&session, scope, args, !no_cache).await,
        Command::Render {
            target,
            cloud,
            args,
        } => render::run(&session, target, cloud, args).await,
        Command::Test { command } => test::run(&session, command).await,
        Command::Values {
            target,
            path,
            cloud,
        } => values::run(&session, target, path, cloud).await,
    }
}

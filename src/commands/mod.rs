//! One module per command: each parses nothing (clap did) and decides nothing about the
//! domain (the library modules do); it wires inputs to operations and the result to a renderer.

mod chart;
mod completions;
mod deps;
mod doctor;
pub(crate) mod output;
mod validate;

use crate::cli::{Cli, Command};
use crate::error::{ExitCode, Result};

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    if let Some(dir) = &cli.global.chdir {
        std::env::set_current_dir(dir).map_err(|e| {
            crate::Error::usage(format!("cannot change to directory {}: {e}", dir.display()))
        })?;
    }
    match cli.command {
        Command::Doctor => doctor::run(&cli.global),
        Command::Completions { shell } => completions::run(shell),
        Command::Deps { command } => deps::run(&cli.global, command),
        Command::Chart { command } => chart::run(&cli.global, command),
        Command::Validate {
            scope,
            args,
            no_cache,
        } => validate::run_validate(&cli.global, scope, args, !no_cache),
        Command::Render {
            target,
            cloud,
            args,
        } => validate::run_render(&cli.global, &target, cloud.as_deref(), args),
        Command::Values {
            target,
            path,
            cloud,
        } => validate::run_values(&cli.global, &target, path.as_deref(), cloud.as_deref()),
    }
}

//! `stackctl completions <shell>`.

use clap::CommandFactory;

use super::Session;
use crate::cli::Cli;
use crate::error::{ExitCode, Result};

pub fn run(session: &Session, shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "stackctl", &mut script);
    session.printer.stdout(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::Ok)
}

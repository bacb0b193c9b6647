use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{ExitCode, Result};

pub fn run(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "stackctl", &mut std::io::stdout());
    Ok(ExitCode::Ok)
}

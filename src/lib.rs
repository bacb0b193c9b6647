//! stackctl: the task runner of the JetScale Stack repository.
//!
//! The binary (`src/main.rs`) parses the command line and calls [`run`]. Commands in
//! [`commands`] orchestrate; the domain modules do the work and never print; [`report`] is
//! the only place that writes results to stdout.

pub mod cli;
pub mod commands;
pub mod config;
pub mod deps;
pub mod engine;
pub mod environment;
pub mod error;
pub mod findings;
pub mod fsutil;
pub mod helm;
pub mod oci;
pub mod process;
pub mod redact;
pub mod repo;
pub mod report;
pub mod rules;
pub mod values;

pub use error::{Error, ErrorKind, ExitCode, Result};

/// Run one parsed command line and return the process exit code.
pub fn run(cli: cli::Cli) -> ExitCode {
    init_color(cli.global.color);
    init_tracing(&cli.global);
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            print_error(&err);
            err.kind.exit_code()
        }
    }
}

/// anstream decides per stream whether to keep colors; `--color` overrides its detection
/// (which already honours terminals, `NO_COLOR` and `CLICOLOR_FORCE`).
fn init_color(choice: cli::ColorChoice) {
    let choice = match choice {
        cli::ColorChoice::Auto => anstream::ColorChoice::Auto,
        cli::ColorChoice::Always => anstream::ColorChoice::Always,
        cli::ColorChoice::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

fn init_tracing(global: &cli::GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STACKCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("stackctl={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}

fn print_error(err: &Error) {
    use std::io::Write;
    let mut stderr = anstream::stderr();
    let bold_red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let bold = anstyle::Style::new().bold();
    let message = redact::redact(&err.to_string()).into_owned();
    let _ = writeln!(
        stderr,
        "{bold_red}error{bold_red:#}{bold}:{bold:#} {message}"
    );
    if let Some(hint) = &err.hint {
        let cyan = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Cyan.into()));
        let _ = writeln!(stderr, "  {cyan}hint{cyan:#}: {}", redact::redact(hint));
    }
}

//! stackctl: the task runner of the JetScale Stack repository.
//!
//! The binary (`src/main.rs`) parses the command line and calls [`run`]. Each command in
//! [`commands`] calls one operation of [`ops`] and hands its result to [`report`], the only
//! place that writes to the terminal. `docs/architecture.md` maps the modules.

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
pub mod ops;
pub mod process;
pub mod redact;
pub mod repo;
pub mod report;
pub mod rules;
pub mod target;
pub mod values;

pub use error::{Error, ErrorKind, ExitCode, Result};

/// Run one parsed command line and return the process exit code.
///
/// One tokio runtime serves the whole run. Ctrl-C or SIGTERM fires the run's cancellation:
/// every running child is killed, the operation stops at its next step, and the exit code is
/// 130.
pub fn run(cli: cli::Cli) -> ExitCode {
    init_color(cli.global.color);
    init_tracing(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let err = Error::environment(format!("cannot start the async runtime: {e}"));
            report::print_error(&err);
            return err.kind.exit_code();
        }
    };
    let cancel = process::Cancel::new();
    let result = runtime.block_on(async {
        tokio::spawn(process::cancel_on_signal(cancel.clone()));
        commands::dispatch(cli, cancel.clone()).await
    });
    // Whatever still runs (a probe nobody waited for) is abandoned, not waited on.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        // An operation that finished just as the user interrupted it may not have noticed.
        Ok(_) if cancel.is_cancelled() => ExitCode::Interrupted,
        Ok(code) => code,
        Err(err) => {
            report::print_error(&err);
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

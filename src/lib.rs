//! stackctl: the task runner of the JetScale Stack repository.
//!
//! The binary (`src/main.rs`) parses the command line and calls [`run`]. Each command in
//! [`commands`] calls one operation of [`ops`] and hands its result to [`report`], the only
//! place that writes to the terminal. `docs/architecture.md` maps the modules.

pub mod checks;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod deps;
pub mod engine;
pub mod environment;
pub mod error;
pub mod findings;
pub mod fsutil;
pub mod helm;
pub mod images;
pub mod nesting;
pub mod oci;
pub mod ops;
pub mod process;
pub mod redact;
pub mod repo;
pub mod report;
pub mod rules;
pub mod smoke;
pub mod target;
pub mod values;

pub use error::{Error, ErrorKind, ExitCode, Result};

/// The stack of each worker thread of the runtime.
const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Run one parsed command line and return the process exit code.
///
/// One tokio runtime serves the whole run. Ctrl-C or SIGTERM fires the run's cancellation:
/// every running child is killed, the operation stops at its next step, and the exit code is
/// 130.
pub fn run(cli: cli::Cli) -> ExitCode {
    report::init_terminal(
        match cli.global.color {
            cli::ColorChoice::Auto => None,
            cli::ColorChoice::Always => Some(true),
            cli::ColorChoice::Never => Some(false),
        },
        if cli.global.quiet {
            None
        } else {
            Some(cli.global.verbose)
        },
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Reading helm's output nests serde frames up to `nesting::MAX_OUTPUT_DEPTH` deep; an
        // unoptimised build needs more than tokio's 2 MiB per worker for that. Only the pages
        // a thread touches are committed.
        .thread_stack_size(WORKER_STACK_BYTES)
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
        // An operation that ended just as the user interrupted it, or failed because of the
        // interruption (a killed program, an abandoned request), was interrupted.
        Ok(_) | Err(_) if cancel.is_cancelled() => {
            report::print_error(&Error::cancelled());
            ExitCode::Interrupted
        }
        Ok(code) => code,
        Err(err) => {
            report::print_error(&err);
            err.kind.exit_code()
        }
    }
}

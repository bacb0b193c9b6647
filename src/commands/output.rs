//! Shared last step of every checking command: render the report in the chosen format,
//! with secrets redacted, and turn it into an exit code.

use std::io::Write;
use std::path::Path;

use crate::cli::{ColorChoice, GlobalArgs};
use crate::error::{Error, ExitCode, Result};
use crate::findings::Report;
use crate::redact;
use crate::report::{self, RenderOptions};
use crate::rules;

/// Whether human output on stdout should carry colors.
pub fn stdout_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    }
}

/// Print `report` and return 1 when it holds errors, 0 otherwise.
pub fn emit(report: &Report, global: &GlobalArgs, root: &Path, command: &str) -> Result<ExitCode> {
    let mut options = RenderOptions::new(global.format, root);
    options.color = stdout_color(global.color);
    options.quiet = global.quiet;
    options.github_annotations = std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true");
    options.command = Some(command.to_string());
    options.rule_descriptions = rules::RULES
        .iter()
        .map(|r| (r.id.to_string(), r.summary.to_string()))
        .collect();

    let mut buffer = Vec::new();
    report::render(report, &options, &mut buffer)
        .map_err(|e| Error::internal(format!("cannot render the report: {e}")))?;
    let text = String::from_utf8_lossy(&buffer);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(redact::redact(&text).as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(|e| Error::environment(format!("cannot write to stdout: {e}")))?;
    Ok(if report.ok() {
        ExitCode::Ok
    } else {
        ExitCode::Findings
    })
}

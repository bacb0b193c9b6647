//! The error type of stackctl's operations, and the one place where what went wrong becomes
//! an exit code.
//!
//! Findings (validation errors, failed tests) are not errors: they travel in a
//! [`crate::findings::Report`]. An [`Error`] means stackctl could not do its job, and its
//! [`ErrorKind`] says why in terms a caller can match on: the user asked for something
//! impossible, the configuration is wrong, a tool is missing, a registry or cluster cannot be
//! reached or refuses the credentials, something looked up does not exist, the run was
//! interrupted.

use std::fmt;
use std::path::PathBuf;

/// Process exit codes, a public contract documented in `docs/cli.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything ran and nothing was found.
    Ok = 0,
    /// Findings of error severity (validation errors, failed tests).
    Findings = 1,
    /// Bad command line or bad configuration.
    Usage = 2,
    /// The environment is missing something: a tool, a registry, credentials.
    Environment = 3,
    /// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl ExitCode {
    /// The exit code whose number is `code`; a number that is none of them is an error of
    /// the environment, the class of everything unexpected.
    pub fn from_code(code: u8) -> ExitCode {
        [
            ExitCode::Ok,
            ExitCode::Findings,
            ExitCode::Usage,
            ExitCode::Environment,
            ExitCode::Interrupted,
        ]
        .into_iter()
        .find(|c| *c as u8 == code)
        .unwrap_or(ExitCode::Environment)
    }
}

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line asks for something that cannot be done.
    Usage,
    /// `stackctl.toml`, `Chart.yaml` or another input of the repository is unusable.
    Config,
    /// A program stackctl needs (helm, kubectl, kind, docker) is not installed.
    ToolMissing,
    /// A program is installed but in a version stackctl does not support.
    ToolUnsupported,
    /// A registry, cluster or other service could not be reached.
    Unreachable,
    /// A registry or cluster refused the credentials (or there were none where some are
    /// needed).
    CredentialsRejected,
    /// Something looked up does not exist: a chart version, a cluster, a namespace.
    NotFound,
    /// An external program or service did not answer in time.
    Timeout,
    /// Any other failure of the machine: a file that cannot be read or written, a program
    /// that failed.
    Environment,
    /// The user interrupted the run (Ctrl-C, SIGTERM).
    Cancelled,
    /// A bug in stackctl: an invariant that should hold did not.
    Internal,
}

impl ErrorKind {
    /// The exit code of a run that ends with this error: the only place the mapping lives.
    pub fn exit_code(self) -> ExitCode {
        match self {
            ErrorKind::Usage | ErrorKind::Config => ExitCode::Usage,
            ErrorKind::ToolMissing
            | ErrorKind::ToolUnsupported
            | ErrorKind::Unreachable
            | ErrorKind::CredentialsRejected
            | ErrorKind::NotFound
            | ErrorKind::Timeout
            | ErrorKind::Environment
            | ErrorKind::Internal => ExitCode::Environment,
            ErrorKind::Cancelled => ExitCode::Interrupted,
        }
    }
}

/// An error a user can act on: what failed, where, and how to fix it.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The file (and line, when known) the error is about.
    pub location: Option<(PathBuf, Option<usize>)>,
    /// One sentence on how to fix it.
    pub hint: Option<String>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            location: None,
            hint: None,
            source: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    pub fn environment(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Environment, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// The run was interrupted by the user.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "interrupted")
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn at(mut self, file: impl Into<PathBuf>, line: Option<usize>) -> Self {
        self.location = Some((file.into(), line));
        self
    }
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
    /// An I/O failure on a path, classified as an environment error.
    pub fn io(action: &str, path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        let path = path.into();
        Error::environment(format!("cannot {action} {}: {err}", path.display())).at(path, None)
    }
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((file, line)) = &self.location {
            match line {
                Some(line) => write!(f, "{}:{line}: ", file.display())?,
                None => {
                    // The message usually names the file already; avoid saying it twice.
                    let shown = file.display().to_string();
                    if !self.message.contains(&shown) {
                        write!(f, "{shown}: ")?;
                    }
                }
            }
        }
        f.write_str(&self.text())
    }
}

impl Error {
    /// What failed, with its cause, without the location: for a report that shows the
    /// location on its own.
    pub fn text(&self) -> String {
        let mut text = self.message.clone();
        if let Some(source) = &self.source {
            let cause = source.to_string();
            if !self.message.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
        }
        text
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_exit_code() {
        for (kind, code) in [
            (ErrorKind::Usage, 2),
            (ErrorKind::Config, 2),
            (ErrorKind::ToolMissing, 3),
            (ErrorKind::ToolUnsupported, 3),
            (ErrorKind::Unreachable, 3),
            (ErrorKind::CredentialsRejected, 3),
            (ErrorKind::NotFound, 3),
            (ErrorKind::Timeout, 3),
            (ErrorKind::Environment, 3),
            (ErrorKind::Internal, 3),
            (ErrorKind::Cancelled, 130),
        ] {
            assert_eq!(kind.exit_code() as u8, code, "{kind:?}");
        }
    }
}

//! The error type of stackctl's operations and how each kind maps to an exit code.
//!
//! Findings (validation errors, failed tests) are not errors: they travel in a
//! [`crate::report::Report`]. An [`Error`] means stackctl could not do its job: the user asked
//! for something impossible (usage), the repository's configuration is wrong (config), or the
//! machine lacks something (environment: a tool missing, a registry unreachable).

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
}

/// What went wrong, in the terms that decide the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line asks for something that cannot be done.
    Usage,
    /// `stackctl.toml`, `Chart.yaml` or another input of the repository is unusable.
    Config,
    /// A tool, a registry, the network or credentials are missing or refuse.
    Environment,
    /// A bug in stackctl: an invariant that should hold did not.
    Internal,
}

impl ErrorKind {
    pub fn exit_code(self) -> ExitCode {
        match self {
            ErrorKind::Usage | ErrorKind::Config => ExitCode::Usage,
            ErrorKind::Environment | ErrorKind::Internal => ExitCode::Environment,
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
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            let text = source.to_string();
            if !self.message.contains(&text) {
                write!(f, ": {text}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

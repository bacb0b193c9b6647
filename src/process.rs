//! Every external program stackctl runs (helm today; kubectl, kind and docker for the cluster
//! commands) goes through one runner, so that each run has the same guarantees:
//!
//! - a timeout: a program that hangs is killed and reported, never waited on forever;
//! - cancellation: when the user presses Ctrl-C (or the process gets SIGTERM), the run's
//!   [`Cancel`] token fires and every running child is killed at once;
//! - its own process group, killed as a whole, so a child's children do not outlive it;
//! - redaction: what a program writes to stderr can end up in a message, so it is redacted of
//!   every known secret before it leaves this module. Stdout is data (a manifest must keep its
//!   values) and is handed over as the program wrote it; code that shows it redacts it;
//! - bounded capture: a program that prints without end costs no more memory than
//!   [`STDERR_LIMIT`] for stderr and the stdout limit of the run ([`STDOUT_LIMIT`] unless the
//!   caller sets one). Past the limit the middle is cut (the head and the tail are kept, with a
//!   note saying how many bytes were cut), or, for output that is data and must stay whole
//!   ([`Overflow::Refuse`]), the program is stopped and the run fails.
//!
//! Finding programs on `PATH` lives here too.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use tokio_util::sync::CancellationToken as Cancel;

use crate::error::{Error, ErrorKind};
use crate::redact::redact;

/// Look `name` up on `PATH`, as a shell would.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file someone may execute.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The most of a program's stderr kept: its first and last halves. Error messages are at the
/// start (what failed) and the end (helm's `Error:` line); what lies between is repetition.
pub const STDERR_LIMIT: usize = 64 * 1024;
/// The most of a program's stdout kept, unless the run sets its own limit.
pub const STDOUT_LIMIT: usize = 16 * 1024 * 1024;

/// What happens when a program prints more than its limit on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Keep the first and last halves, cut the middle with a note.
    Cut,
    /// Stop the program: the output is data that is useless cut (a rendered manifest).
    Refuse,
}

/// One program to run, built like [`std::process::Command`].
#[derive(Debug, Clone)]
pub struct Command {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    stdout_limit: usize,
    stdout_overflow: Overflow,
    /// How messages name this run (`helm template`), without its arguments: arguments can
    /// be long, and are never where a secret belongs, but a message needs no more.
    label: String,
}

impl Command {
    /// `program`, with a default timeout of 60 s and a label of its file name.
    pub fn new(program: impl AsRef<Path>) -> Command {
        let program = program.as_ref().to_path_buf();
        let label = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.display().to_string());
        Command {
            program,
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            stdin: None,
            timeout: Duration::from_secs(60),
            stdout_limit: STDOUT_LIMIT,
            stdout_overflow: Overflow::Cut,
            label,
        }
    }

    /// The most of stdout kept, and what happens past it.
    pub fn stdout_limit(mut self, bytes: usize, overflow: Overflow) -> Command {
        self.stdout_limit = bytes;
        self.stdout_overflow = overflow;
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Command {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Command {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Bytes written to the program's stdin (then closed); without them stdin is empty. The
    /// way to hand a program a secret: never on its command line.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Command {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = timeout;
        self
    }

    /// Name the run in messages, e.g. `helm template`.
    pub fn label(mut self, label: impl Into<String>) -> Command {
        self.label = label.into();
        self
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// How messages name this run.
    pub fn get_label(&self) -> &str {
        &self.label
    }

    /// Run to completion, or until the timeout or `cancel` ends it (the program and its
    /// process group are then killed).
    pub async fn run(&self, cancel: &Cancel) -> Result<Output, RunError> {
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled {
                label: self.label.clone(),
            });
        }
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        tracing::debug!(program = %self.program.display(), label = %self.label, "run");
        let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        let group = child.id().map(|pid| ProcessGroup(pid as i32));
        let stdin = child.stdin.take();
        let input = self.stdin.clone();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let stdout_capture = Capture::new(self.stdout_limit, self.stdout_overflow);
        let stderr_capture = Capture::new(STDERR_LIMIT, Overflow::Cut);
        let finished = async move {
            let feed = async {
                if let (Some(mut pipe), Some(bytes)) = (stdin, input) {
                    use tokio::io::AsyncWriteExt;
                    // A program that exits without reading its input is not an error of ours.
                    let _ = pipe.write_all(&bytes).await;
                    drop(pipe);
                }
                Ok::<(), Captured>(())
            };
            let ((), stdout, stderr) = tokio::try_join!(
                feed,
                stdout_capture.read(stdout),
                stderr_capture.read(stderr)
            )?;
            let status = child.wait().await.map_err(Captured::Failed)?;
            Ok::<_, Captured>((status, stdout, stderr))
        };
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                if let Some(group) = &group { group.kill() }
                return Err(RunError::Cancelled { label: self.label.clone() });
            }
            output = finished => Some(output),
            _ = tokio::time::sleep(self.timeout) => None,
        };
        let Some(output) = outcome else {
            if let Some(group) = &group {
                group.kill();
            }
            return Err(RunError::Timeout {
                label: self.label.clone(),
                after: self.timeout,
            });
        };
        // The program is done; anything it left running in its group goes with it.
        if let Some(group) = &group {
            group.kill();
        }
        let (status, stdout, stderr) = output.map_err(|captured| match captured {
            Captured::Failed(source) => RunError::Wait {
                label: self.label.clone(),
                source,
            },
            Captured::TooLarge { limit } => RunError::OutputTooLarge {
                label: self.label.clone(),
                limit,
            },
        })?;
        Ok(Output {
            status,
            stdout: stdout.into_bytes(&self.label, "stdout"),
            stderr: redact(&String::from_utf8_lossy(
                &stderr.into_bytes(&self.label, "stderr"),
            ))
            .into_owned(),
        })
    }
}

/// Why a pipe could not be read to its end.
enum Captured {
    Failed(std::io::Error),
    /// Stdout passed its limit under [`Overflow::Refuse`].
    TooLarge {
        limit: usize,
    },
}

/// What is kept of one pipe: its first half-limit bytes, a rolling window of its last, and how
/// much went by.
struct Capture {
    limit: usize,
    overflow: Overflow,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
}

impl Capture {
    fn new(limit: usize, overflow: Overflow) -> Capture {
        Capture {
            limit,
            overflow,
            head: Vec::new(),
            tail: std::collections::VecDeque::new(),
            total: 0,
        }
    }

    /// Read `pipe` to its end, keeping what the limit allows.
    async fn read(
        mut self,
        pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    ) -> Result<Capture, Captured> {
        use tokio::io::AsyncReadExt;
        let Some(mut pipe) = pipe else {
            return Ok(self);
        };
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = pipe.read(&mut buffer).await.map_err(Captured::Failed)?;
            if n == 0 {
                return Ok(self);
            }
            self.keep(&buffer[..n])?;
        }
    }

    fn keep(&mut self, mut bytes: &[u8]) -> Result<(), Captured> {
        self.total += bytes.len() as u64;
        if self.total > self.limit as u64 && self.overflow == Overflow::Refuse {
            return Err(Captured::TooLarge { limit: self.limit });
        }
        let head_room = (self.limit / 2).saturating_sub(self.head.len());
        let into_head = head_room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..into_head]);
        bytes = &bytes[into_head..];
        // The tail holds whatever does not fit the head, up to the rest of the limit: output
        // within the limit is kept whole.
        let tail_room = self.limit - self.limit / 2;
        if bytes.len() >= tail_room {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - tail_room..]);
        } else {
            let excess = (self.tail.len() + bytes.len()).saturating_sub(tail_room);
            self.tail.drain(..excess);
            self.tail.extend(bytes);
        }
        Ok(())
    }

    /// What was kept; when bytes were cut, a note in their place says how many.
    fn into_bytes(mut self, label: &str, stream: &str) -> Vec<u8> {
        if self.total > (self.head.len() + self.tail.len()) as u64 {
            // A secret the cut goes through would survive as two pieces no redaction
            // recognises: drop them.
            let (at_end, at_start) =
                crate::redact::pieces_at_cut(&self.head, self.tail.make_contiguous());
            self.head.truncate(self.head.len() - at_end);
            self.tail.drain(..at_start);
        }
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut bytes = self.head;
        if self.total > kept {
            let cut = self.total - kept;
            bytes.extend_from_slice(
                format!(
                    "\n[… {cut} bytes cut from the middle of {label}'s {stream} ({} in all): the first and last {} are kept …]\n",
                    crate::fsutil::format_size(self.total),
                    crate::fsutil::format_size((self.limit / 2) as u64)
                )
                .as_bytes(),
            );
        }
        bytes.extend(self.tail);
        bytes
    }
}

/// A child's process group (the child leads it), killed with SIGKILL.
struct ProcessGroup(i32);

impl ProcessGroup {
    fn kill(&self) {
        // SAFETY: killpg only sends a signal; a group that is already gone gives ESRCH.
        unsafe {
            libc::killpg(self.0, libc::SIGKILL);
        }
    }
}

/// What a finished program produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: std::process::ExitStatus,
    /// As the program wrote it.
    pub stdout: Vec<u8>,
    /// Decoded lossily and redacted.
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Stdout as text, redacted: for output that becomes a message.
    pub fn stdout_text(&self) -> String {
        redact(&String::from_utf8_lossy(&self.stdout)).into_owned()
    }
}

/// Why a program did not run to completion.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{label} did not finish within {}", seconds(*after))]
    Timeout { label: String, after: Duration },
    #[error("{label} was interrupted")]
    Cancelled { label: String },
    #[error("{label} printed more than {} on stdout", crate::fsutil::format_size(*limit as u64))]
    OutputTooLarge { label: String, limit: usize },
    #[error("lost track of {label}: {source}")]
    Wait {
        label: String,
        source: std::io::Error,
    },
}

impl From<RunError> for Error {
    fn from(err: RunError) -> Error {
        let kind = match &err {
            RunError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::ToolMissing
            }
            RunError::Cancelled { .. } => ErrorKind::Cancelled,
            RunError::Timeout { .. } => ErrorKind::Timeout,
            RunError::Spawn { .. } | RunError::Wait { .. } | RunError::OutputTooLarge { .. } => {
                ErrorKind::Environment
            }
        };
        Error::new(kind, err.to_string()).with_source(err)
    }
}

/// `120 s`, `0.3 s`: a duration as people read it in a message.
pub fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// How many sections that write files which belong together are running ([`committing`]).
static COMMITTING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Held while files that belong together are written (the archives of `charts/` and the
/// build state, a lock and its archives, the files of a bump): a second Ctrl-C waits for it to
/// be dropped before it ends the process. Such a section awaits nothing, so the first Ctrl-C
/// cannot stop it half-way either.
#[must_use = "the section lasts as long as the guard"]
pub struct CommitGuard(());

/// Enter a section of writes that must not be cut by a second Ctrl-C.
pub fn committing() -> CommitGuard {
    COMMITTING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    CommitGuard(())
}

impl Drop for CommitGuard {
    fn drop(&mut self) {
        COMMITTING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Wait for Ctrl-C or SIGTERM, then fire `cancel`. A second signal ends the process with exit
/// code 130 as soon as no [`committing`] section runs: the user insists, and every file
/// stackctl writes is written atomically, so nothing is left half-written (a temporary file at
/// most, which the next run removes).
pub async fn cancel_on_signal(cancel: Cancel) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot listen for Ctrl-C: an interrupted run will not clean up");
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("interrupted: stopping every running program");
    cancel.cancel();
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    while COMMITTING.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::process::exit(130);
}

/// `future`, unless `cancel` fires first: then it is dropped (whatever it was waiting for,
/// a registry or a child, is abandoned) and the result is a cancellation error. When both are
/// ready, cancellation wins: nothing may follow an interruption.
pub async fn cancellable<T>(
    cancel: &Cancel,
    future: impl std::future::Future<Output = crate::error::Result<T>>,
) -> crate::error::Result<T> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Error::cancelled()),
        result = future => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        Command::new("/bin/sh").arg("-c").arg(script)
    }

    #[tokio::test]
    async fn output_is_captured_and_stderr_redacted() {
        crate::redact::register("runner-sentinel-4242");
        let output = sh("echo out; echo 'err runner-sentinel-4242' >&2; exit 3")
            .run(&Cancel::new())
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, "err [REDACTED]\n");
    }

    #[tokio::test]
    async fn endless_stderr_keeps_its_head_and_tail_and_says_what_was_cut() {
        let output = sh("echo first >&2; head -c 3000000 /dev/zero | tr '\\0' x >&2; echo; echo last >&2; exit 1")
            .label("chatty")
            .run(&Cancel::new())
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(
            output.stderr.len() < STDERR_LIMIT + 300,
            "{}",
            output.stderr.len()
        );
        assert!(output.stderr.starts_with("first\n"));
        assert!(
            output.stderr.trim_end().ends_with("last"),
            "{}",
            &output.stderr[output.stderr.len() - 100..]
        );
        assert!(
            output
                .stderr
                .contains("bytes cut from the middle of chatty's stderr"),
            "no note"
        );
    }

    #[tokio::test]
    async fn a_secret_the_cut_goes_through_leaves_no_piece_behind() {
        let secret = "cut-sentinel-0123456789abcdef";
        crate::redact::register(secret);
        // The secret repeated across the whole output: whichever bytes the cut falls
        // between, one copy straddles each edge of the kept head and tail.
        let script = format!(
            "i=0; while [ $i -lt 6000 ]; do printf '{secret}' >&2; i=$((i+1)); done; exit 1"
        );
        let output = sh(&script)
            .label("leaky")
            .run(&Cancel::new())
            .await
            .unwrap();
        assert!(
            output.stderr.contains("bytes cut from the middle"),
            "no cut"
        );
        let rest = output.stderr.replace("[REDACTED]", "");
        for piece in (8..secret.len()).flat_map(|n| [&secret[..n], &secret[secret.len() - n..]]) {
            assert!(!rest.contains(piece), "{piece:?} survived the cut");
        }
    }

    #[tokio::test]
    async fn output_within_the_limit_is_kept_whole_and_refused_past_it() {
        let output = sh("head -c 100000 /dev/zero")
            .stdout_limit(100_000, Overflow::Refuse)
            .run(&Cancel::new())
            .await
            .unwrap();
        assert_eq!(output.stdout.len(), 100_000);
        let err = sh("head -c 100001 /dev/zero")
            .stdout_limit(100_000, Overflow::Refuse)
            .label("render")
            .run(&Cancel::new())
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::OutputTooLarge { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("render printed more than 97.7 KiB"),
            "{err}"
        );
        // An endless program is stopped, not waited for.
        let err = sh("cat /dev/zero")
            .stdout_limit(1 << 20, Overflow::Refuse)
            .run(&Cancel::new())
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::OutputTooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn stdin_reaches_the_program() {
        let output = Command::new("/bin/cat")
            .stdin("through stdin")
            .run(&Cancel::new())
            .await
            .unwrap();
        assert_eq!(output.stdout, b"through stdin");
    }

    #[tokio::test]
    async fn a_hung_program_is_killed_at_its_timeout_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!("sleep 30 & echo $! > {}; wait", pids.display());
        let started = std::time::Instant::now();
        let err = sh(&script)
            .timeout(Duration::from_millis(300))
            .label("the sleeper")
            .run(&Cancel::new())
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(err.to_string(), "the sleeper did not finish within 0.3 s");
        let grandchild: i32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(grandchild), "the program's own child outlived it");
    }

    #[tokio::test]
    async fn cancelling_kills_a_running_program() {
        let cancel = Cancel::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let err = sh("sleep 30").run(&cancel).await.unwrap_err();
        assert!(matches!(err, RunError::Cancelled { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let err: Error = err.into();
        assert_eq!(err.kind, ErrorKind::Cancelled);
    }

    #[tokio::test]
    async fn a_missing_program_is_a_missing_tool() {
        let err: Error = Command::new("/nonexistent/tool")
            .run(&Cancel::new())
            .await
            .unwrap_err()
            .into();
        assert_eq!(err.kind, ErrorKind::ToolMissing);
    }

    /// Whether a process has ended (a zombie waiting for its reaper counts as ended).
    fn gone(pid: i32) -> bool {
        for _ in 0..50 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return true,
                Ok(stat) if stat.split_whitespace().nth(2) == Some("Z") => return true,
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        false
    }
}

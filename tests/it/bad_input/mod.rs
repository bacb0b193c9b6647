//! The bad-input corpus: stackctl run on inputs a user can produce by mistake (or a tool by
//! accident), or that once crashed, starved or fooled it. Each case asserts the exit code, a
//! message that names the file (and line, when there is one) and the fix, and that nothing
//! panicked, overflowed its stack or hung. One module per kind of input.

mod depth;
mod engine;
mod files;
mod limits;

use std::path::PathBuf;

use crate::support::{self, Run, Sandbox};

/// What no run may print or do, whatever its input: a panic message, a stack overflow (the
/// runtime's message, then SIGABRT: exit 134, or a negative code for the signal), the token
/// of the sandbox's environment.
#[track_caller]
pub fn assert_no_crash(run: &Run) {
    let all = run.all();
    for crash in [
        "panicked",
        "stack overflow",
        "has overflowed its stack",
        "RUST_BACKTRACE",
    ] {
        assert!(!all.contains(crash), "{crash}:\n{all}");
    }
    assert!(run.code >= 0 && run.code != 134, "killed: {all}");
    assert!(
        !all.contains(support::TOKEN_SENTINEL),
        "the token leaked:\n{all}"
    );
}

/// Every one of `parts` is on stderr.
#[track_caller]
pub fn stderr_says<S: AsRef<str>>(run: &Run, parts: &[S]) {
    for part in parts {
        let part = part.as_ref();
        assert!(
            run.stderr.contains(part),
            "stderr lacks {part:?}:\n{}",
            run.all()
        );
    }
}

/// Replace `from` (which must be there) with `to` in a file of the sandbox.
pub fn edit(sandbox: &Sandbox, file: &str, from: &str, to: &str) {
    let text = sandbox.read(file);
    assert!(text.contains(from), "{file} has no {from:?}");
    sandbox.write(file, &text.replacen(from, to, 1));
}

/// A stand-in helm outside the repository, in a directory named `name`: it runs the shell
/// fragment `first` (which may exit or hang), then hands every call on to the real helm 4.
pub fn helm_wrapper(sandbox: &Sandbox, name: &str, first: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = sandbox.outside_repo(name);
    std::fs::create_dir_all(&dir).unwrap();
    let helm = dir.join("helm");
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\n{first}\nexec '{}' \"$@\"\n",
            support::helm4().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    helm
}

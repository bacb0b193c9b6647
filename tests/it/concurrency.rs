//! Runs started together on one repository (an editor, a pre-commit hook and a watch mode)
//! take turns on the lock of `.stackctl/` while they build `charts/`: the later ones wait, say so, and
//! reuse what the first built. None fails, and Ctrl-C still ends a waiting run at once.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{self, Sandbox, Started};

/// The bound of each run: reaching it means a deadlock.
const LIMIT: Duration = Duration::from_secs(300);

const WAITING: &str = "waiting for another stackctl run in this repository";

#[test]
fn four_validate_runs_started_together_on_a_fresh_copy_all_pass_twenty_rounds_in_a_row() {
    let helm = support::helm4();
    let mut waited = 0;
    for round in 1..=20 {
        // A fresh copy: no charts/jetscale/charts/ yet, an empty cache.
        let sandbox = Sandbox::with_repo();
        assert!(sandbox.chart_archives().is_empty());
        let started = Instant::now();
        let runs: Vec<_> = (0..4)
            .map(|_| {
                sandbox.spawn_stackctl([
                    OsStr::new("--helm"),
                    helm.as_os_str(),
                    OsStr::new("validate"),
                    OsStr::new("envs"),
                    OsStr::new("aws"),
                    OsStr::new("--offline"),
                ])
            })
            .collect();
        for started_run in runs {
            let (run, _) = started_run.finish(LIMIT);
            run.success();
            assert!(!run.all().contains("panicked"), "{}", run.all());
            if run.stderr.contains(WAITING) {
                waited += 1;
            }
        }
        println!(
            "round {round}: 4 runs passed in {:?}, {waited} waits so far",
            started.elapsed()
        );
        assert_eq!(
            sandbox.chart_archives(),
            ["backend-4.6.12.tgz", "frontend-2.7.1.tgz"],
            "round {round}"
        );
    }
    println!("{waited} of 80 runs waited for the lock");
}

/// Whether process `pid` has `path` open.
fn holds_open(pid: u32, path: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// `deps build --offline` started while this test holds the repository lock, once it has
/// opened the lock file and had time to try it and say it waits. The lock is held until the
/// returned file is unlocked or dropped.
fn build_waiting_for_a_held_lock(sandbox: &Sandbox) -> (std::fs::File, Started) {
    let lock_path = sandbox.path(".stackctl");
    std::fs::create_dir_all(&lock_path).unwrap();
    let held = std::fs::File::open(&lock_path).unwrap();
    held.lock().unwrap();
    let started = sandbox.spawn_stackctl(["deps", "build", "--offline"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_open(started.id(), &lock_path) {
        assert!(Instant::now() < deadline, "stackctl never opened the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Past the open, the first attempt and its notice follow at once.
    std::thread::sleep(Duration::from_millis(300));
    (held, started)
}

#[test]
fn sigint_while_waiting_for_the_repository_lock_exits_130_promptly_and_writes_nothing() {
    let sandbox = Sandbox::with_repo();
    let (held, started) = build_waiting_for_a_held_lock(&sandbox);
    let run = started.interrupt_promptly();
    assert!(run.stderr.contains(WAITING), "{}", run.all());
    assert!(
        run.stderr.contains("the lock on .stackctl/"),
        "{}",
        run.all()
    );
    assert!(sandbox.chart_archives().is_empty());
    drop(held);
}

#[test]
fn a_run_waiting_for_the_lock_goes_on_once_it_is_released_and_builds() {
    let sandbox = Sandbox::with_repo();
    let (held, started) = build_waiting_for_a_held_lock(&sandbox);
    assert!(
        sandbox.chart_archives().is_empty(),
        "built while the lock was held"
    );
    held.unlock().unwrap();
    let (run, _) = started.finish(LIMIT);
    run.success();
    assert!(run.stderr.contains(WAITING), "{}", run.all());
    assert_eq!(
        sandbox.chart_archives(),
        ["backend-4.6.12.tgz", "frontend-2.7.1.tgz"]
    );
}

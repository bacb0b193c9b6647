//! Ctrl-C: an interrupted stackctl kills what it started, writes nothing half-way, and exits
//! 130 within two seconds, whatever it was waiting for.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{self, Sandbox};

/// Wait until `file` exists and has at least `lines` lines.
fn wait_for_lines(file: &Path, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(file).map_or(0, |t| t.lines().count()) < lines {
        assert!(Instant::now() < deadline, "{} never filled", file.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a process has ended (a zombie waiting for its reaper counts as ended).
fn gone(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.split_whitespace().nth(2) == Some("Z") => return true,
            Ok(_) if Instant::now() > deadline => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The result cache's verdict files.
fn cached_verdicts(sandbox: &Sandbox) -> usize {
    let results = sandbox.cache_dir().join("results");
    walkdir::WalkDir::new(results)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .count()
}

#[test]
fn sigint_while_helm_renders_kills_helm_and_exits_130_with_nothing_cached() {
    let sandbox = Sandbox::with_repo();
    let real = support::helm4();
    // A helm that answers `version` and hangs in `template`, recording its own pid and the
    // pid of the child it waits for: both must be gone once stackctl has exited.
    let dir = sandbox.outside_repo("hanging-helm");
    std::fs::create_dir_all(&dir).unwrap();
    let pids = dir.join("pids");
    let helm = dir.join("helm");
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\n\
             if [ \"$1\" = template ]; then\n  \
               echo $$ >> '{pids}'\n  \
               sleep 60 &\n  \
               echo $! >> '{pids}'\n  \
               wait\n\
             fi\n\
             exec '{real}' \"$@\"\n",
            pids = pids.display(),
            real = real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();

    let started = sandbox.spawn_stackctl([
        "--helm".as_ref(),
        helm.as_os_str(),
        "validate".as_ref(),
        "envs".as_ref(),
        "aws".as_ref(),
        "--offline".as_ref(),
        "--jobs".as_ref(),
        "2".as_ref(),
    ]);
    // Two renders are under way, each with its sleeping child.
    wait_for_lines(&pids, 4);
    let archives = sandbox.chart_archives();
    let run = started.interrupt_promptly();
    assert!(run.stderr.contains("interrupted"), "{}", run.all());
    assert_eq!(run.stdout, "", "an interrupted run reports nothing");
    let recorded = std::fs::read_to_string(&pids).unwrap();
    for pid in recorded.lines() {
        assert!(gone(pid), "helm process {pid} outlived stackctl");
    }
    // The dependencies were built before the renders began: complete, and still there.
    assert_eq!(archives.len(), 2, "{archives:?}");
    assert_eq!(sandbox.chart_archives(), archives);
    assert_eq!(
        cached_verdicts(&sandbox),
        0,
        "an interrupted render was cached"
    );
}

#[test]
fn sigint_while_a_registry_never_answers_exits_130_and_changes_no_file() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    let registry = SilentRegistry::start();
    registry.mirror_for(&mut sandbox);
    // charts/ filled from the local chart sources, then a bump in Chart.yaml: the update has
    // a new lock and new archives to write once the registry confirms the version.
    sandbox.stackctl(["deps", "build", "--offline"]).success();
    assert_eq!(sandbox.chart_archives().len(), 2);
    let chart = sandbox.read("charts/jetscale/Chart.yaml");
    sandbox.write(
        "charts/jetscale/Chart.yaml",
        &chart.replace("version: \"2.7.1\"", "version: \"2.7.2\""),
    );
    let before = sandbox.snapshot();

    let started = sandbox.spawn_stackctl(["deps", "update"]);
    registry.wait_for_a_connection();
    std::thread::sleep(Duration::from_millis(200));
    let run = started.interrupt_promptly();
    assert!(run.stderr.contains("interrupted"), "{}", run.all());
    assert_eq!(
        sandbox.snapshot(),
        before,
        "Chart.lock and charts/ must be untouched"
    );
}

/// A registry that accepts every connection and never says a word, counting connections.
struct SilentRegistry {
    host: String,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentRegistry {
    fn start() -> SilentRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(stream);
            }
        });
        SilentRegistry { host, accepted }
    }

    /// Serve the umbrella's dependencies from here for every later command of `sandbox`.
    fn mirror_for(&self, sandbox: &mut Sandbox) {
        sandbox.set_env(
            "STACKCTL_REGISTRY_MIRRORS",
            support::registry::ghcr_mirror(&format!("oci://{}/charts", self.host)),
        );
        sandbox.set_env("STACKCTL_INSECURE_REGISTRIES", self.host.clone());
    }

    /// Wait (at most 30 s) until someone connects.
    fn wait_for_a_connection(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "stackctl never contacted the registry"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn sigterm_while_deps_build_waits_on_a_registry_leaves_charts_as_it_was() {
    let mut sandbox = Sandbox::fixture("deps/repo");
    sandbox.stackctl(["deps", "build", "--offline"]).success();
    // One archive gone: the next build fetches what the lock pins.
    std::fs::remove_file(sandbox.path("charts/jetscale/charts/frontend-2.7.1.tgz")).unwrap();
    let registry = SilentRegistry::start();
    registry.mirror_for(&mut sandbox);
    let before = sandbox.snapshot();

    let started = sandbox.spawn_stackctl(["deps", "build"]);
    registry.wait_for_a_connection();
    started.terminate_promptly();
    assert_eq!(
        sandbox.snapshot(),
        before,
        "charts/ and the build state changed"
    );
}

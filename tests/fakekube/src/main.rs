//! `fakekube`: runs the stand-in Kubernetes API server (a test stand-in, not a Kubernetes)
//! until interrupted, for manual runs and benchmarks.
//!
//! Usage: fakekube --kubeconfig OUT [--scenario FILE]

use std::path::PathBuf;
use std::process::ExitCode;

use fakekube::{FakeKube, Scenario};

const USAGE: &str = "usage: fakekube --kubeconfig OUT [--scenario FILE]

Runs fakekube, a stand-in Kubernetes API server for tests (not a Kubernetes), on a free
127.0.0.1 port and writes a kubeconfig for it to OUT (context kind-kind unless the scenario
names another). Without --scenario it runs the `ready` scenario: every pod becomes Ready and
every pod port forwards to the platform stub. Stop it with Ctrl-C.";

fn main() -> ExitCode {
    let mut kubeconfig: Option<PathBuf> = None;
    let mut scenario_file: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kubeconfig" => kubeconfig = args.next().map(PathBuf::from),
            "--scenario" => scenario_file = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("fakekube: unexpected argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(kubeconfig) = kubeconfig else {
        eprintln!("fakekube: --kubeconfig OUT is required\n\n{USAGE}");
        return ExitCode::from(2);
    };
    let scenario = match &scenario_file {
        Some(path) => match Scenario::from_file(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fakekube: {e}");
                return ExitCode::from(2);
            }
        },
        None => Scenario::ready(),
    };
    let kube = match FakeKube::start(scenario) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("fakekube: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = kube.write_kubeconfig(&kubeconfig) {
        eprintln!("fakekube: cannot write {}: {e}", kubeconfig.display());
        return ExitCode::from(1);
    }
    println!(
        "fakekube (a test stand-in, not a Kubernetes) serving {}",
        kube.url()
    );
    println!(
        "kubeconfig: {} (context {})",
        kubeconfig.display(),
        kube.context()
    );
    if let Some(stub) = kube.stub_url() {
        println!("platform stub (stand-in): {stub}");
    }
    println!(
        "started in {:.1} ms; Ctrl-C stops it",
        kube.startup_time().as_secs_f64() * 1000.0
    );
    loop {
        std::thread::park();
    }
}

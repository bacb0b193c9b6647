//! `doctor`: the tools stackctl uses, whether each was found, its version, and which commands
//! need it; and the repository's configuration, when run inside one.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::Invocation;
use crate::error::{ErrorKind, Result};
use crate::helm;
use crate::process::{self, Command};
use crate::repo::Repo;

/// What doctor found about one tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolStatus {
    pub name: &'static str,
    pub found: bool,
    pub path: Option<String>,
    pub version: Option<String>,
    /// Why the tool cannot be used, when it cannot.
    pub problem: Option<String>,
    pub needed_by: &'static [&'static str],
    /// Missing this tool makes validation impossible (exit 3).
    pub required: bool,
}

impl ToolStatus {
    pub fn usable(&self) -> bool {
        self.found && self.problem.is_none()
    }
}

/// What doctor found (the JSON document of `doctor`).
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// True when every required tool is usable.
    pub ok: bool,
    pub tools: Vec<ToolStatus>,
    /// The root of the repository doctor ran in; `None` outside a Stack repository.
    pub repository: Option<PathBuf>,
    /// The configuration file read (`stackctl.toml`, repository-relative); `None` when the
    /// repository has none (every setting at its default) or outside a repository.
    pub config: Option<String>,
}

/// The commands that run kind and docker: those of the local cluster and its registry.
const LOCAL_CLUSTER_COMMANDS: &[&str] = &[
    "cluster up",
    "cluster delete",
    "cluster status",
    "test local",
];

/// How long a tool may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Look for every tool. A broken `stackctl.toml` is an error: a doctor that says "all fine"
/// while the configuration is unusable would mislead. Outside a repository is fine.
pub async fn doctor(invocation: &Invocation) -> Result<DoctorReport> {
    let tools = vec![
        helm_status(invocation).await,
        // kind and docker make the local cluster and its registry; stackctl talks to clusters
        // through their API (kube-rs), never through kubectl, so kubectl is not looked for.
        generic(invocation, "kind", &["version"], LOCAL_CLUSTER_COMMANDS).await,
        generic(invocation, "docker", &["--version"], LOCAL_CLUSTER_COMMANDS).await,
    ];
    let repo = match Repo::discover(&invocation.cwd) {
        Ok(repo) => Some(repo),
        Err(e) if e.kind == ErrorKind::Usage => None,
        Err(e) => return Err(e),
    };
    if let Some(repo) = &repo {
        super::check_entries(repo)?;
    }
    Ok(DoctorReport {
        ok: !tools.iter().any(|s| s.required && !s.usable()),
        tools,
        config: repo
            .as_ref()
            .filter(|r| r.config_found)
            .map(|_| crate::config::CONFIG_FILE.to_string()),
        repository: repo.map(|r| r.root),
    })
}

async fn helm_status(invocation: &Invocation) -> ToolStatus {
    let mut status = ToolStatus {
        name: "helm",
        found: false,
        path: None,
        version: None,
        problem: None,
        needed_by: &["validate", "render", "values"],
        required: true,
    };
    match helm::locate(invocation.helm.as_deref()) {
        Err(e) => status.problem = Some(e.to_string()),
        Ok((path, source)) => {
            status.found = true;
            status.path = Some(format!("{} (from {})", path.display(), source.describe()));
            match helm::read_version(&path, &invocation.cancel).await {
                Err(e) => status.problem = Some(e.to_string()),
                Ok(v) => {
                    status.version = Some(v.to_string());
                    if let Err(e) = helm::check_supported(&v) {
                        status.problem = Some(e.to_string());
                    }
                }
            }
        }
    }
    status
}

async fn generic(
    invocation: &Invocation,
    name: &'static str,
    version_args: &[&str],
    needed_by: &'static [&'static str],
) -> ToolStatus {
    let mut status = ToolStatus {
        name,
        found: false,
        path: None,
        version: None,
        problem: None,
        needed_by,
        required: false,
    };
    if let Some(path) = process::find_on_path(name) {
        status.found = true;
        status.path = Some(path.display().to_string());
        let output = Command::new(&path)
            .args(version_args)
            .timeout(VERSION_TIMEOUT)
            .label(format!("{name} version"))
            .run(&invocation.cancel)
            .await;
        match output {
            Ok(output) if output.success() => {
                status.version = extract_version(&String::from_utf8_lossy(&output.stdout));
            }
            Ok(output) => {
                status.problem = Some(format!(
                    "{} exited with {}: {}",
                    path.display(),
                    output.status,
                    output.stderr.trim()
                ));
            }
            Err(e) => status.problem = Some(e.to_string()),
        }
    }
    status
}

/// The first thing that looks like a version number (`v1.33.5`, `28.2.2`) in a tool's output.
fn extract_version(text: &str) -> Option<String> {
    let re = regex::Regex::new(r"v?(\d+\.\d+\.\d+)").expect("valid regex");
    re.captures(text).map(|c| c[1].to_string())
}

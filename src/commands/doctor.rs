use std::io::Write;

use serde::Serialize;

use crate::cli::{Format, GlobalArgs};
use std::path::Path;

use crate::config::CONFIG_FILE;
use crate::error::{Error, ErrorKind, ExitCode, Result};
use crate::helm;
use crate::process;
use crate::repo::Repo;

/// What doctor found about one tool.
#[derive(Debug, Serialize)]
struct ToolStatus {
    name: &'static str,
    found: bool,
    path: Option<String>,
    version: Option<String>,
    /// Why the tool cannot be used, when it cannot.
    problem: Option<String>,
    needed_by: &'static [&'static str],
    /// Missing this tool makes validation impossible (exit 3).
    required: bool,
}

impl ToolStatus {
    fn usable(&self) -> bool {
        self.found && self.problem.is_none()
    }
}

pub fn run(global: &GlobalArgs) -> Result<ExitCode> {
    let statuses = vec![
        helm_status(global),
        generic(
            "kubectl",
            &["version", "--client", "-o", "json"],
            &["test", "preview", "destroy"],
        ),
        generic("kind", &["version"], &["test"]),
        generic("docker", &["--version"], &["test local"]),
    ];
    let missing_required = statuses.iter().any(|s| s.required && !s.usable());
    // A doctor that says "all fine" while stackctl.toml is broken would mislead: load the
    // repository's configuration too, when run inside one (outside one is fine).
    let repo = match Repo::discover(Path::new(".")) {
        Ok(repo) => Some(repo),
        Err(e) if e.kind == ErrorKind::Usage => None,
        Err(e) => return Err(e),
    };

    let mut out = anstream::stdout();
    let write_err = |e: std::io::Error| Error::environment(format!("cannot write to stdout: {e}"));
    match global.format {
        Format::Json => {
            let doc =
                serde_json::json!({ "version": 1, "ok": !missing_required, "tools": statuses });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).expect("serialisable")
            )
            .map_err(write_err)?;
        }
        _ => {
            match &repo {
                Some(r) if r.config_found => {
                    writeln!(
                        out,
                        "repository {} (configuration: {CONFIG_FILE})",
                        r.root.display()
                    )
                }
                Some(r) => writeln!(
                    out,
                    "repository {} (no {CONFIG_FILE}: defaults)",
                    r.root.display()
                ),
                None => writeln!(out, "not inside a Stack repository"),
            }
            .map_err(write_err)?;
            let green = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Green.into()));
            let red = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Red.into()));
            let yellow = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Yellow.into()));
            for s in &statuses {
                let (style, mark) = match (s.usable(), s.required) {
                    (true, _) => (green, "ok"),
                    (false, true) => (red, "missing"),
                    (false, false) => (yellow, "absent"),
                };
                let version = s.version.as_deref().unwrap_or("-");
                let path = s.path.as_deref().unwrap_or("not found");
                writeln!(
                    out,
                    "{style}{mark:>7}{style:#}  {:<8} {:<10} {path}",
                    s.name, version
                )
                .map_err(write_err)?;
                writeln!(out, "         needed by: {}", s.needed_by.join(", "))
                    .map_err(write_err)?;
                if let Some(problem) = &s.problem {
                    writeln!(out, "         {problem}").map_err(write_err)?;
                }
            }
        }
    }
    if missing_required {
        return Err(Error::environment(
            "helm is required for validation and is missing or unsupported",
        )
        .with_hint(
            "run scripts/toolchain.sh to install pinned helm binaries into .tools/, then pass --helm or set STACKCTL_HELM",
        ));
    }
    Ok(ExitCode::Ok)
}

fn helm_status(global: &GlobalArgs) -> ToolStatus {
    let mut status = ToolStatus {
        name: "helm",
        found: false,
        path: None,
        version: None,
        problem: None,
        needed_by: &[
            "validate",
            "render",
            "deps update",
            "chart publish",
            "test",
            "preview",
        ],
        required: true,
    };
    match helm::locate(global.helm.as_deref()) {
        Err(e) => status.problem = Some(e.to_string()),
        Ok((path, source)) => {
            status.found = true;
            status.path = Some(format!("{} (from {})", path.display(), source.describe()));
            match helm::read_version(&path) {
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

fn generic(
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
        match process::probe_output(&path, version_args) {
            Ok(out) => status.version = extract_version(&out),
            Err(e) => status.problem = Some(e),
        }
    }
    status
}

/// The first thing that looks like a version number (`v1.33.5`, `28.2.2`) in a tool's output.
fn extract_version(text: &str) -> Option<String> {
    let re = regex::Regex::new(r"v?(\d+\.\d+\.\d+)").expect("valid regex");
    re.captures(text).map(|c| c[1].to_string())
}

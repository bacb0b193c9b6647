//! Command-line definitions (clap derive). Nothing here does work: `commands/` does.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str =
    "Validate, render and ship the JetScale Stack: its umbrella chart, envs/ and lifecycle.";

const LONG_ABOUT: &str = "\
stackctl drives the JetScale Stack repository: the umbrella chart charts/jetscale, the \
per-environment values under envs/, and the developer lifecycle around them. It renders the \
chart with helm, checks every environment against the charts' schemas and the repository's \
invariants, and manages the chart's OCI dependencies.

Run it from anywhere inside the repository (or point at it with -C). Configuration is read \
from stackctl.toml at the repository root when present; the defaults fit this repository.";

const AFTER_HELP: &str = "\
Exit codes:
  0  success, nothing found
  1  findings of error severity (validation errors, failed tests)
  2  usage or configuration error
  3  environment error (a tool missing, a registry unreachable or refusing credentials)

Examples:
  stackctl doctor                 which tools stackctl found, and what needs them
  stackctl completions bash > ~/.local/share/bash-completion/completions/stackctl

Docs: docs/cli.md (commands), docs/configuration.md (stackctl.toml), docs/output.md (JSON).";

#[derive(Debug, Parser)]
#[command(
    name = "stackctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Run as if started in DIR (the repository root is found from there).
    #[arg(short = 'C', long = "chdir", value_name = "DIR", global = true)]
    pub chdir: Option<PathBuf>,

    /// Output format of results on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human, global = true)]
    pub format: Format,

    /// More detail on stderr (repeat for more: -vv traces every external command).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only findings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to use colors in human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// The helm binary to run (else $STACKCTL_HELM, else `helm` on PATH).
    #[arg(long, value_name = "PATH", global = true)]
    pub helm: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: file:line:col, the source line with a caret, a hint, a summary.
    Human,
    /// One JSON document, the versioned schema of docs/output.md.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML, one test case per target.
    Junit,
    /// GitHub Actions workflow commands (::error file=…,line=…::…).
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the tools stackctl uses, their versions, and which commands need them.
    #[command(
        long_about = "Show every external tool stackctl uses (helm, kubectl, kind, docker), \
whether it was found, its version, and which commands need it.\n\n\
helm is looked up through --helm, then $STACKCTL_HELM, then PATH; Helm 3.17 or later and \
Helm 4 are supported. Exits 3 when a tool needed for validation is missing or unsupported.",
        after_help = "Examples:\n  stackctl doctor\n  stackctl doctor --format json\n  STACKCTL_HELM=.tools/helm-3.17.2/helm stackctl doctor"
    )]
    Doctor,

    /// Print a shell completion script.
    #[command(
        long_about = "Print a completion script for SHELL on stdout. Install it where your shell \
looks for completions.",
        after_help = "Examples:\n  stackctl completions bash > ~/.local/share/bash-completion/completions/stackctl\n  \
stackctl completions zsh > \"${fpath[1]}/_stackctl\"\n  \
stackctl completions fish > ~/.config/fish/completions/stackctl.fish"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

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
  130  interrupted (Ctrl-C or SIGTERM): running programs are killed, no file half-written

Examples:
  stackctl init                   write a stackctl.toml for a repository that has none
  stackctl deps check             are Chart.yaml and Chart.lock sound and in sync?
  stackctl deps build             fill charts/jetscale/charts/ from Chart.lock
  stackctl deps bump backend 4.6.13
  stackctl cluster up             the local kind cluster and its image registry, ready
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

pub use crate::report::Format;

/// `--format`'s values and their help. The renderers know nothing of clap, so the command
/// line's description of the formats lives here.
impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Format::Human,
            Format::Json,
            Format::Sarif,
            Format::Junit,
            Format::Github,
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let (name, help) = match self {
            Format::Human => (
                "human",
                "For people: file:line:col, the source line with a caret, a hint, a summary",
            ),
            Format::Json => (
                "json",
                "One JSON document, the versioned schema of docs/output.md",
            ),
            Format::Sarif => (
                "sarif",
                "SARIF 2.1.0, for GitHub code scanning and other SARIF viewers",
            ),
            Format::Junit => ("junit", "JUnit XML, one test case per target"),
            Format::Github => (
                "github",
                "GitHub Actions workflow commands (::error file=…,line=…::…)",
            ),
        };
        Some(clap::builder::PossibleValue::new(name).help(help))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, build, update and bump the umbrella chart's OCI dependencies.
    #[command(
        long_about = DEPS_ABOUT,
        after_help = "Examples:\n  stackctl deps check\n  stackctl deps build --offline\n  \
stackctl deps bump backend 4.6.13 --dry-run\n  stackctl deps link backend ../backend/chart"
    )]
    Deps {
        #[command(subcommand)]
        command: DepsCommand,
    },

    /// Package and publish charts.
    #[command(
        long_about = "Package a chart (the umbrella or a service chart) and push it to an OCI \
registry as a Helm chart artifact, the release step of the repository.",
        after_help = "Examples:\n  stackctl chart publish charts/backend --to oci://ghcr.io/jetscale-ai/charts\n  \
stackctl chart publish charts/jetscale --to oci://ghcr.io/jetscale-ai/charts --version 0.25.0 --write"
    )]
    Chart {
        #[command(subcommand)]
        command: ChartCommand,
    },

    /// Write a stackctl.toml for a repository that has none, from what it holds and renders.
    #[command(
        long_about = "Adopt stackctl in one command. Finds the umbrella chart, the env targets under \
envs/ and the chart's lifecycle variants (its values.<a>.<b>.yaml files, each over the file it \
extends), gives every env target its release and namespace by one convention written on one \
pattern table (release \"{name}\", namespace \"{name}-{dir}\") and every variant the release \
its values name, renders every target once, and proposes as external refs what each target's pods \
reference that the chart does not render (envFrom Secrets and ConfigMaps, ServiceAccounts, image \
pull secrets, volumes). Writes the result, commented, to stackctl.toml and reports what it \
decided and why.\n\n\
Never replaces an existing stackctl.toml (exit 2, nothing written). --print writes the file to \
stdout instead (the decisions go to stderr), and then does not mind one that exists. With \
--format json the decisions and the file's text are one JSON document.",
        after_help = "Examples:\n  stackctl init\n  stackctl init --print --offline\n  \
stackctl init --format json --print"
    )]
    Init {
        /// Write the file to stdout, not to the disk.
        #[arg(long)]
        print: bool,
        #[command(flatten)]
        args: DepsArgs,
    },

    /// Validate dependencies, charts and environments; every finding at its line.
    #[command(
        long_about = "Validate the repository. Without a scope: the dependency and lock checks, the \
charts and their lifecycle variants, and every environment of every cloud (each YAML file \
directly in envs/ is a cloud).\n\n\
Each target is rendered with helm using its release name and namespace from stackctl.toml, \
after its values are merged as Helm merges them and checked against the umbrella chart's and \
each dependency's JSON schema and the repository's rules (docs/rules.md). Every target is \
checked, whatever fails; each finding names the file and line to edit.\n\n\
A target whose inputs have not changed since a previous run (its layers, every file of the \
chart directory including the built dependencies, stackctl.toml, helm and stackctl \
themselves) is reported from the result cache under $STACKCTL_CACHE_DIR/results without \
running helm, marked \"cached\". --no-cache checks every target afresh.",
        after_help = "Examples:\n  stackctl validate envs aws          before every commit\n  \
stackctl validate                   everything, as CI does\n  \
stackctl validate chart             the charts and their lifecycle variants\n  \
stackctl validate envs aws --offline --format json\n  \
stackctl validate envs aws --no-cache   render every target even if unchanged"
    )]
    Validate {
        #[command(subcommand)]
        scope: Option<ValidateScope>,
        #[command(flatten)]
        args: CheckArgs,
        /// Check every target afresh: neither read nor write the result cache.
        #[arg(long, global = true)]
        no_cache: bool,
    },

    /// Print the manifests of one env file or variant, exactly as validate renders them.
    #[command(
        long_about = "Render one target with helm the way validate does (its layer chain, release \
name, namespace and --kube-version) and print the manifests on stdout. TARGET is an env file \
(envs/prod/console.yaml), a lifecycle variant name from stackctl.toml (test-ci), or a values \
file of the chart (charts/jetscale/values.test.ci.yaml). The layer chain is printed on stderr.",
        after_help = "Examples:\n  stackctl render envs/prod/console.yaml\n  \
stackctl render test-ci | kubectl apply --dry-run=client -f -\n  \
stackctl render envs/staging/link4.yaml --cloud aws --offline"
    )]
    Render {
        /// An env file, a variant name, or a chart values file.
        target: String,
        /// The cloud layer for env files (default: the only cloud, else aws).
        #[arg(long)]
        cloud: Option<String>,
        #[command(flatten)]
        args: DepsArgs,
    },

    /// Print a target's merged values, each leaf with the file:line that set it.
    #[command(
        long_about = "Merge a target's layers over the chart's defaults as Helm does and print the \
result as YAML, each value annotated with the file and line that set it. With --path, show for \
that one value what every layer of the chain says and which layer wins.",
        after_help = "Examples:\n  stackctl values envs/prod/console.yaml\n  \
stackctl values envs/prod/console.yaml --path backend-ws.resources.limits.memory\n  \
stackctl values test-ci --path global.env --format json"
    )]
    Values {
        /// An env file, a variant name, or a chart values file.
        target: String,
        /// A dotted values path (a.b.c) to explain layer by layer.
        #[arg(long)]
        path: Option<String>,
        /// The cloud layer for env files (default: the only cloud, else aws).
        #[arg(long)]
        cloud: Option<String>,
    },

    /// Deploy the chart's test variant to a cluster and check it, or check a running platform.
    #[command(
        long_about = TEST_ABOUT,
        after_help = "Examples:\n  stackctl test local                 before every push\n  \
stackctl test ci                    as CI runs it (needs GITHUB_TOKEN)\n  \
stackctl test ci --format junit > results.xml\n  \
stackctl test local --no-build --diagnostics-dir /tmp/diag\n  \
stackctl test dev                   against the running dev loop\n  \
stackctl test live --host console.jetscale.ai"
    )]
    Test {
        #[command(subcommand)]
        command: TestCommand,
    },

    /// Create, check and delete the local kind cluster and its image registry.
    #[command(
        long_about = CLUSTER_ABOUT,
        after_help = "Examples:\n  stackctl cluster up\n  stackctl cluster status\n  \
stackctl cluster status --format json\n  stackctl cluster delete"
    )]
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },

    /// Show the tools stackctl uses, their versions, and which commands need them.
    #[command(
        long_about = "Show every external tool stackctl uses (helm, kind, docker), \
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

const TEST_ABOUT: &str = "\
The verify loops of the lifecycle, each reported check by check in every --format:

  local  deploy the test-local variant with images built from ../backend and ../frontend to the \
local kind cluster, in a fresh namespace, and check it
  ci     deploy the test-ci variant with the pinned images from GHCR, as CI does, and check it
  dev    run the smoke suite against the running dev loop (tilt up)
  live   run the smoke suite and TLS checks against a live environment's public host

A Kind loop validates the variant first (a broken target fails before the cluster is touched), \
applies what it renders with server-side apply (prune by an inventory label, Helm hooks \
honoured), waits for every Deployment, StatefulSet and Job with `kubectl rollout status` rules \
(failing at once on ImagePullBackOff, CrashLoopBackOff, config errors and a passed progress \
deadline, never on Pending alone), forwards the API, WebSocket server and frontend to local \
ports, and runs the smoke suite through them. A workload that does not become ready is \
diagnosed: its pods, their containers' states and exit codes, events and log tails, and one \
next step.

Settings (context, variant, timeouts, forwarded Services, image sources) come from [test.local] \
and [test.ci] of stackctl.toml. Exit 1 when a check fails, 3 when there is no cluster or no \
credentials.";

const DEPS_ABOUT: &str = "\
The umbrella chart (charts/jetscale) pulls its service charts from an OCI registry. These \
commands keep Chart.yaml, Chart.lock and charts/jetscale/charts/ consistent:

  check   the supply-chain rules, offline (docs/rules.md): OCI only, exact pins, one version \
per chart across aliases, a lock in sync with helm's digest
  build   make charts/ hold exactly the locked archives (cache, registry, or local sources)
  update  prove every pin exists, rewrite Chart.lock as helm would, then build
  bump    move a chart's version in Chart.yaml, its image tags in envs/ and values files, \
and the lock, in one step
  link    use a local chart directory instead of the locked one, without editing Chart.yaml
  status  what is locked, where each archive came from, what is in charts/

Credentials, per registry host actually contacted: GITHUB_TOKEN or GH_TOKEN (for ghcr.io and \
hosts listed in registries.github), then helm's registry config (`helm registry login`), then \
docker's config.json, else anonymous. A .env file at the repository root is read.";

const CLUSTER_ABOUT: &str = "\
The local Kubernetes cluster of the dev loop (`tilt up`) and of `stackctl test local` and \
`test ci`: a kind cluster ([cluster].name in stackctl.toml, default kind, kubeconfig context \
kind-<name>) made from [cluster].config (kind/kind-config.yaml), and a local image registry \
container ([cluster].registry, default ctlptl-registry) on 127.0.0.1:<registry-port> (5000) \
that the cluster's nodes pull from.

  up      create what is missing, reuse what is healthy, wire the two, wait until ready
  status  what exists, whether it is ready, and what each test command will use
  delete  remove the cluster and the registry

kind and docker must be installed, and the Docker daemon running (`stackctl doctor`).";

/// Where charts are fetched from, besides what stackctl.toml says.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Fetch charts of repository FROM from TO instead, e.g.
    /// oci://ghcr.io/jetscale-ai/charts=oci://127.0.0.1:5000/charts (repeatable; also
    /// $STACKCTL_REGISTRY_MIRRORS, comma-separated). Chart.yaml and Chart.lock keep FROM.
    #[arg(long = "registry-mirror", value_name = "FROM=TO", global = true)]
    pub mirrors: Vec<String>,

    /// Talk plain HTTP to this registry (repeatable; also $STACKCTL_INSECURE_REGISTRIES).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT", global = true)]
    pub insecure: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DepsCommand {
    /// Check the dependency and lock rules offline; exit 1 on findings.
    #[command(
        long_about = "Check Chart.yaml and Chart.lock of the umbrella chart without network: \
every dependency from an oci:// registry (deps/oci-only), exact versions (deps/pinned), one \
version per chart across aliases (deps/alias-versions), a lock that exists (lock/missing), \
lists the same entries (lock/in-sync) and carries the digest helm computes (lock/digest). \
With CI=true, an active `deps link` is a finding too (deps/link-mode).\n\n\
A check never writes a file. Each finding names the file and line to fix; docs/rules.md \
explains every rule, the incident it prevents and the fix.\n\n\
The registry flags are accepted as by the other deps commands, so one set of flags serves a \
whole script; they are checked (a malformed one exits 2) and contact nothing: the check is \
offline.",
        after_help = "Examples:\n  stackctl deps check\n  stackctl deps check --format json\n  CI=true stackctl deps check"
    )]
    Check {
        #[command(flatten)]
        registry: RegistryArgs,
    },

    /// Make charts/ hold exactly the locked dependency archives.
    #[command(
        long_about = "Make <chart>/charts/ hold exactly the dependencies Chart.lock pins, as \
<name>-<version>.tgz (one archive per chart version, even when two aliases use it), and remove \
archives the lock no longer lists.\n\n\
Archives come from the machine's cache ($STACKCTL_CACHE_DIR, else ~/.cache/stackctl), else the \
OCI registry; with --offline, from the cache or the local chart sources of stackctl.toml \
([dependencies.sources]), packaged on the fly, with no network at all. Every archive is checked \
against the lock (chart name and version) and written atomically. When everything is already \
in place the build does no network I/O.",
        after_help = "Examples:\n  stackctl deps build\n  stackctl deps build --offline\n  \
stackctl deps build --registry-mirror oci://ghcr.io/jetscale-ai/charts=oci://127.0.0.1:5000/charts --insecure-registry 127.0.0.1:5000"
    )]
    Build {
        /// No network: use the cache and the local chart sources only.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },

    /// Prove every pinned version exists, rewrite Chart.lock as helm does, then build.
    #[command(
        long_about = "Check that every version pinned in Chart.yaml exists in its registry (or, \
with --offline, in the cache or the local chart source), write Chart.lock exactly as `helm \
dependency update` would (helm's digest, a fresh `generated` time) when its content changes, \
then build charts/.",
        after_help = "Examples:\n  stackctl deps update\n  stackctl deps update --offline"
    )]
    Update {
        /// No network: confirm versions from the cache or local chart sources.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },

    /// Bump a dependency chart and its image tags everywhere, in one step.
    #[command(
        // VERSION here is the chart's version, not stackctl's.
        disable_version_flag = true,
        long_about = "The upversion protocol in one command: set VERSION on every dependency of \
CHART in Chart.yaml (all aliases), on every image tag of the chart's image \
([dependencies.images] in stackctl.toml, default ghcr.io/jetscale-ai/<chart>) in envs/**.yaml \
and the chart's values*.yaml, and in Chart.lock. Prints a diff per file and a commit message.\n\n\
Only the version and tag values are rewritten, in place and with their quoting: comments and \
formatting stay. The new version must exist in the registry (or local source with --offline); \
if anything fails, no file is touched.",
        after_help = "Examples:\n  stackctl deps bump backend 4.6.13\n  stackctl deps bump frontend 2.8.0 --dry-run"
    )]
    Bump {
        /// The dependency chart's name (not an alias), e.g. backend.
        chart: String,
        /// The exact version to move to, e.g. 4.6.13.
        version: String,
        /// Show the diff without writing anything (and without contacting the registry).
        #[arg(long)]
        dry_run: bool,
        /// Confirm the version from the cache or local chart sources, without network.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },

    /// Use a local chart directory instead of the locked chart (no Chart.yaml edit).
    #[command(
        long_about = "Record in .stackctl/links.toml (gitignored) that CHART comes from DIR: \
`deps build` (and validate, render) package DIR on the fly instead of using the locked archive, \
and print a banner on every run while the link is active. Chart.yaml and Chart.lock are not \
touched, so link mode cannot be committed by accident; in CI (CI=true) an active link is an \
error finding (deps/link-mode).",
        after_help = "Examples:\n  stackctl deps link backend ../backend/chart\n  stackctl deps build\n  stackctl deps unlink backend"
    )]
    Link {
        /// The dependency chart's name, e.g. backend.
        chart: String,
        /// The chart directory to use.
        dir: PathBuf,
    },

    /// End a link made by `deps link`.
    #[command(
        long_about = "Remove CHART's link from .stackctl/links.toml; the next build restores the \
locked archive.",
        after_help = "Examples:\n  stackctl deps unlink backend"
    )]
    Unlink {
        /// The linked chart's name.
        chart: String,
    },

    /// Show each dependency: locked version, source, presence in charts/.
    #[command(
        long_about = "For every dependency of Chart.yaml: the requested and locked versions, \
where its archive came from (cache, registry, local source, or link) and whether it is in \
charts/ with the digest the last build recorded. Reads files only.",
        after_help = "Examples:\n  stackctl deps status\n  stackctl deps status --format json"
    )]
    Status,
}

/// Options of the Kind loops (`test local`, `test ci`).
#[derive(Debug, Clone, Args)]
pub struct KindLoopArgs {
    /// How long the workloads may take to become ready (default: [test.<loop>] timeout, 5m).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// The kubeconfig context to deploy to (default: [test.<loop>] context, else kind-kind).
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// Also write the report, the rendered manifests and the layer chain to DIR (CI artifacts).
    #[arg(long, value_name = "DIR")]
    pub diagnostics_dir: Option<PathBuf>,

    #[command(flatten)]
    pub deps: DepsArgs,
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Deploy the test-local variant with locally built images to kind, and check it.
    #[command(
        long_about = "Build the images of ../backend and ../frontend (docker build, tagged from \
git describe, pushed to the local registry), delete and recreate the namespace, deploy the \
test-local variant with those images to the local kind cluster, wait for it, and run the smoke \
suite through port-forwards. `stackctl cluster up` makes the cluster.",
        after_help = "Examples:\n  stackctl test local\n  stackctl test local --no-build\n  stackctl test local --timeout 10m --format json"
    )]
    Local {
        /// Deploy the images of the last build instead of building.
        #[arg(long)]
        no_build: bool,
        #[command(flatten)]
        args: KindLoopArgs,
    },
    /// Deploy the test-ci variant with the pinned GHCR images to kind, and check it.
    #[command(
        long_about = "Deploy the test-ci variant (the images pinned in its values, pulled from \
ghcr.io with GITHUB_TOKEN or GH_TOKEN through an image pull secret written into the namespace) \
to the kind cluster, wait for it, and run the smoke suite through port-forwards: what CI runs. \
The token comes from the environment or .env and never appears on a command line or in any \
output.",
        after_help = "Examples:\n  stackctl test ci\n  stackctl test ci --format github --diagnostics-dir \"$RUNNER_TEMP/diag\""
    )]
    Ci {
        #[command(flatten)]
        args: KindLoopArgs,
    },
    /// Run the smoke suite against the running dev loop.
    #[command(
        long_about = "Run the smoke suite against the dev loop's forwarded API ([test.dev] url, \
http://localhost:8000), signing in with E2E_ADMIN_EMAIL / E2E_ADMIN_PASSWORD or the \
credentials of the local-dev variant's values.",
        after_help = "Examples:\n  stackctl test dev"
    )]
    Dev,
    /// Run the smoke suite and TLS checks against a live environment.
    #[command(
        long_about = "Run the smoke suite against https://HOST, plus TLS checks: the certificate \
is valid for the host and expires in more than 14 days, and plain HTTP redirects to HTTPS. \
Signs in with E2E_ADMIN_EMAIL and E2E_ADMIN_PASSWORD.",
        after_help = "Examples:\n  stackctl test live\n  stackctl test live --host console.jetscale.ai --format junit"
    )]
    Live {
        /// The public host (default: [test.live] host).
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create or reuse the kind cluster and its registry, and wait until they are ready.
    #[command(
        long_about = "Make the local cluster ready, whatever exists already:\n\n\
1. The registry container: created from registry:2 (published on 127.0.0.1:<registry-port>), \
started when stopped, reused when running. A container of that name that publishes another \
port is an error.\n\
2. The kind cluster: created with `kind create cluster` from [cluster].config when `kind get \
clusters` does not list it; reused when its API server answers and every node is Ready. An \
existing cluster that is not healthy is reported with what is wrong and left as it is: \
`stackctl cluster delete` then `stackctl cluster up` recreates it.\n\
3. The wiring, applied every time: the registry joins kind's docker network; every node's \
containerd gets /etc/containerd/certs.d/localhost:<port>/hosts.toml, so that images named \
localhost:<port>/… are pulled from the registry; the ConfigMap \
kube-public/local-registry-hosting tells Tilt and other tools where to push.\n\
4. The wait, through the API: until every node is Ready and the kube-system/coredns \
Deployment is available, at most --timeout. At the deadline it fails (exit 3) naming what is \
not ready.",
        after_help = "Examples:\n  stackctl cluster up\n  stackctl cluster up --timeout 10m    on a slow machine\n  \
stackctl cluster up --format json"
    )]
    Up {
        /// How long the nodes and CoreDNS may take to become ready (e.g. 90s, 5m).
        #[arg(long, value_name = "DURATION", default_value = "3m")]
        timeout: String,
    },

    /// Show the registry, the cluster, their readiness, and what the test commands use.
    #[command(
        long_about = "Show what exists, changing nothing: the registry container (its state, \
the ports it publishes, whether it is on kind's network), the kind cluster (whether kind \
lists it, its node containers, the kubeconfig context and its API server), each node's \
readiness and CoreDNS's availability as the API reports them, and what `stackctl test local` \
and `stackctl test ci` will use: the context and namespace from [test.local] and [test.ci], \
and the registry `test local` pushes its images to. Exits 0 whatever it finds.",
        after_help = "Examples:\n  stackctl cluster status\n  stackctl cluster status --format json | jq .ready"
    )]
    Status,

    /// Delete the kind cluster and the registry container.
    #[command(
        long_about = "Delete the kind cluster (`kind delete cluster`, which also removes its \
kubeconfig context) and the registry container with its storage (`docker rm --force \
--volumes`). What does not exist is reported as absent; that is not an error.",
        after_help = "Examples:\n  stackctl cluster delete\n  stackctl cluster delete && stackctl cluster up"
    )]
    Delete,
}

#[derive(Debug, Subcommand)]
pub enum ChartCommand {
    /// Package a chart and push it to an OCI registry.
    #[command(
        // --version here is the chart's version, not stackctl's.
        disable_version_flag = true,
        long_about = "Package CHART_DIR like `helm package` (honouring .helmignore, with \
deterministic content) and push it to the OCI repository given by --to, as \
<host>/<path>/<name>:<version> with helm's media types.\n\n\
--version sets version and appVersion in the package; the tree's Chart.yaml stays unchanged \
unless --write, which edits those two values in place (comments kept) after a successful push. \
An umbrella chart needs its dependencies in charts/ first (`stackctl deps build`).",
        after_help = "Examples:\n  stackctl chart publish charts/backend --to oci://ghcr.io/jetscale-ai/charts\n  \
stackctl chart publish charts/jetscale --to oci://ghcr.io/jetscale-ai/charts --version 0.25.0 --write\n  \
stackctl chart publish charts/frontend --to oci://127.0.0.1:5000/charts --insecure-registry 127.0.0.1:5000"
    )]
    Publish {
        /// The chart directory (holding Chart.yaml).
        chart_dir: PathBuf,
        /// The OCI repository to push to, e.g. oci://ghcr.io/jetscale-ai/charts.
        #[arg(long, value_name = "oci://HOST/PATH")]
        to: String,
        /// Publish as this version (sets version and appVersion in the package).
        #[arg(long, value_name = "X.Y.Z")]
        version: Option<String>,
        /// Also write --version into the tree's Chart.yaml (after the push succeeded).
        #[arg(long, requires = "version")]
        write: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap checks its definitions only when a command is parsed; check all of them at once.
    #[test]
    fn command_line_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_teaches_with_examples() {
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                assert!(sub.get_about().is_some(), "{name} has no summary");
                assert!(
                    sub.get_long_about().is_some(),
                    "{name} has no long description"
                );
                let examples = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(examples.contains("Examples:"), "{name} has no examples");
                walk(sub, &name);
            }
        }
        walk(&Cli::command(), "stackctl");
    }
}

#[derive(Debug, Subcommand)]
pub enum ValidateScope {
    /// Validate every environment of one cloud: envs/<cloud>.yaml and what layers over it.
    #[command(
        long_about = "Validate every env file under envs/ layered on envs/<CLOUD>.yaml: for \
envs/<dir>/<file>.yaml the chain is envs/<CLOUD>.yaml, then envs/<dir>/default.yaml when \
present, then the file. Files directly in envs/ are clouds; default.yaml/default.yml are \
layers, not targets. Another layout is set by [envs] dir, targets and layers in \
stackctl.toml; when no layer names a {cloud}, CLOUD is omitted. The dependency checks run \
first.",
        after_help = "Examples:\n  stackctl validate envs aws\n  stackctl validate envs aws --format github\n  \
stackctl validate envs aws --jobs 1 -v"
    )]
    Envs {
        /// The cloud: the name of a YAML file directly in envs/ (aws for envs/aws.yaml).
        /// Omitted when no layer of [envs] layers names a {cloud}.
        cloud: Option<String>,
    },
    /// Validate the charts: helm lint, the schemas, every lifecycle variant.
    #[command(
        long_about = "Run `helm lint --strict` on the umbrella chart (with each lifecycle variant's \
values) and on each local service chart, check that every values.schema.json compiles, and \
validate and render every lifecycle variant declared under [variants] in stackctl.toml.",
        after_help = "Examples:\n  stackctl validate chart\n  stackctl validate chart --format junit > chart.xml"
    )]
    Chart,
}

/// Options of `validate`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// How many targets to render at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N", global = true)]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub deps: DepsArgs,
}

/// Where the commands that render get the chart's dependencies.
#[derive(Debug, Clone, Args)]
pub struct DepsArgs {
    /// Resolve dependencies from the cache and local chart sources only: no network.
    #[arg(long, global = true)]
    pub offline: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

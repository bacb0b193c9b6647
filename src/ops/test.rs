//! The test loops. `test local` and `test ci` deploy the chart's test variant to a kind
//! cluster and check it; `test dev` checks the running dev loop; `test live` checks a live
//! environment through its public host.
//!
//! A Kind loop validates the variant first (a broken target fails before the cluster is
//! touched), renders it, applies it with server-side apply, waits for its workloads with
//! `kubectl rollout status` rules (failing fast on states that cannot heal), forwards its
//! Services and runs the smoke suite through the forwards. A workload that does not become
//! ready is diagnosed: its pods, their containers' states, events and logs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Context, DepsSource, Notice, deps};
use crate::checks::{Check, PhaseTiming, TestReport};
use crate::cluster::apply::{self, ApplyRequest, ObjectRef};
use crate::cluster::wait::{self, WaitRequest, WorkloadState};
use crate::cluster::{Cluster, activity, diagnose, forward, namespace, pull_secret};
use crate::config::{CredentialPaths, TestLoopConfig};
use crate::engine::{self, RenderedTarget, Workspace, targets};
use crate::error::{Error, ErrorKind, Result};
use crate::images::{self, BuiltImage};
use crate::oci::credentials::CredentialChain;
use crate::smoke::{self, Credentials, LiveChecks, SmokeTarget, Url};
use crate::target::Target;
use crate::values::{Merged, pointer};

/// Which Kind loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindLoop {
    /// Images built from the sibling repositories, a fresh namespace.
    Local,
    /// The pinned images from GHCR, as CI runs it.
    Ci,
}

impl KindLoop {
    pub fn command(self) -> &'static str {
        match self {
            KindLoop::Local => "test local",
            KindLoop::Ci => "test ci",
        }
    }
}

/// A Kind loop's parameters beyond `stackctl.toml`.
#[derive(Debug, Clone)]
pub struct KindRequest {
    pub kind_loop: KindLoop,
    pub source: DepsSource,
    /// `test local`: deploy the images of the last build instead of building.
    pub no_build: bool,
    /// Overrides `[test.<loop>].timeout` (`5m`, `90s`).
    pub timeout: Option<String>,
    /// Overrides `[test.<loop>].context`.
    pub context: Option<String>,
    /// Also write the report, the rendered manifests and the layer chain there.
    pub diagnostics_dir: Option<PathBuf>,
}

/// Where `test local` keeps what it generates (gitignored with `.stackctl/`).
const LOCAL_STATE: &str = ".stackctl/test-local";
/// How long a namespace may take to go away before `test local` gives up on it.
const NAMESPACE_TIMEOUT: Duration = Duration::from_secs(120);
/// The registry `test ci` pulls its images from.
const GHCR: &str = "ghcr.io";

/// Run a Kind loop. Failed checks are in the report (exit 1); an `Err` is an environment
/// problem (no cluster, no credentials: exit 3) or an interruption.
pub async fn kind(cx: &Context, request: &KindRequest) -> Result<TestReport> {
    let started = Instant::now();
    let config = match request.kind_loop {
        KindLoop::Local => &cx.repo.config.test.local,
        KindLoop::Ci => &cx.repo.config.test.ci,
    };
    let mut run = Run::new(request.kind_loop.command());
    let timeout = match &request.timeout {
        Some(text) => crate::config::parse_duration(text)
            .map_err(|e| Error::usage(format!("--timeout: {e}")))?,
        None => duration(&config.timeout, "timeout")?,
    };
    let settle = duration(&config.settle, "settle")?;
    cx.require_helm().await?;
    // What needs nothing of the cluster comes first: a missing token or a broken target is
    // reported before anything is touched.
    let pull_credential = match request.kind_loop {
        KindLoop::Ci => Some(ghcr_credential(cx).await?),
        KindLoop::Local => None,
    };
    let mut target = variant(cx, &config.variant)?;
    let mut built = Vec::new();
    if request.kind_loop == KindLoop::Local {
        let phase = Instant::now();
        built = local_images(cx, config, request.no_build).await?;
        target.layers.push(images_layer(cx, &built)?);
        run.phase("build", phase);
    }
    let phase = Instant::now();
    let workspace = deps::prepare_workspace(cx, &request.source, "validated").await?;
    workspace.refuse_too_deep(&target.layers)?;
    let validation = validate_target(cx, &workspace, &target).await;
    cx.check_cancelled()?;
    run.phase("validate", phase);
    if !validation.ok() {
        run.report.checks.push(Check::failed(
            "validate",
            ms(phase),
            format!(
                "{} does not validate: fix it before it is deployed",
                target.name
            ),
        ));
        run.report.diagnostics = validation.diagnostics;
        return finish_with_dir(run, started, request);
    }
    run.report.checks.push(Check::passed("validate", ms(phase)));
    let phase = Instant::now();
    let rendered = match engine::render_target(&workspace, target.clone()).await {
        Ok(rendered) => rendered,
        Err(failed) => {
            run.report.checks.push(Check::failed(
                "render",
                ms(phase),
                "helm could not render the target",
            ));
            run.report.diagnostics = failed.diagnostics;
            return finish_with_dir(run, started, request);
        }
    };
    cx.check_cancelled()?;
    run.phase("render", phase);
    if let Some(dir) = &request.diagnostics_dir {
        write_render(dir, &workspace, &rendered)?;
    }

    let context = request
        .context
        .clone()
        .or_else(|| config.context.clone())
        .unwrap_or_else(|| cx.repo.config.cluster.context());
    let cluster = Cluster::connect(None, &context, cx.cancel()).await?;
    run.report.context = Some(context.clone());
    run.report.namespace = Some(target.namespace.clone());
    run.report.release = Some(target.release.clone());
    cx.progress().notice(Notice::Step(&format!(
        "deploying {} ({}) to {context}, namespace {}",
        target.name, target.release, target.namespace
    )));
    let deployed = deploy(
        cx,
        &cluster,
        config,
        &rendered,
        pull_credential.as_ref(),
        &mut run,
    )
    .await;
    let workloads = match deployed? {
        Some(workloads) => workloads,
        None => return finish_with_dir(run, started, request),
    };
    if !rollout(cx, &cluster, &target, workloads, timeout, &mut run).await? {
        return finish_with_dir(run, started, request);
    }
    let plan = SmokePlan {
        credentials: credentials(cx, &config.credentials, &rendered.values)?,
        expected_version: expected_version(&rendered.values, &built),
        settle,
    };
    smoke_through_forwards(cx, &cluster, config, &target, plan, &mut run).await?;
    finish_with_dir(run, started, request)
}

/// A test run under way: its report and the phases timed so far.
struct Run {
    report: TestReport,
}

impl Run {
    fn new(command: &str) -> Run {
        Run {
            report: TestReport {
                command: command.to_string(),
                ..TestReport::default()
            },
        }
    }

    fn phase(&mut self, phase: &str, since: Instant) {
        self.report.phases.push(PhaseTiming {
            phase: phase.to_string(),
            duration_ms: ms(since),
        });
    }

    fn finish(mut self, started: Instant) -> TestReport {
        self.report.duration_ms = ms(started);
        self.report
    }
}

fn finish_with_dir(run: Run, started: Instant, request: &KindRequest) -> Result<TestReport> {
    let report = run.finish(started);
    if let Some(dir) = &request.diagnostics_dir {
        write_json(&dir.join("report.json"), &report)?;
    }
    Ok(report)
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// A duration setting of `stackctl.toml`; `what` names it in the error.
fn duration(text: &str, what: &str) -> Result<Duration> {
    crate::config::parse_duration(text).map_err(|_| {
        Error::config(format!(
            "{what} {text:?} is not a duration like \"5m\" or \"90s\""
        ))
        .with_hint("set it in stackctl.toml ([test.local] or [test.ci]) or with --timeout")
    })
}

/// The lifecycle variant a loop deploys.
fn variant(cx: &Context, name: &str) -> Result<Target> {
    targets::variant_targets(&cx.repo)
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            Error::config(format!("the test loop deploys the variant {name:?}, which stackctl.toml does not declare"))
                .with_hint("declare it under [variants], or name another with `variant` under [test.local] or [test.ci]")
        })
}

/// `test ci` pulls the pinned images from GHCR: it needs a token, and says so at once.
async fn ghcr_credential(cx: &Context) -> Result<crate::oci::credentials::Credential> {
    let chain = CredentialChain::new(cx.env.clone(), cx.cancel().clone());
    chain.github_token().await?.ok_or_else(|| {
        Error::new(
            ErrorKind::CredentialsRejected,
            "test ci pulls the platform's images from ghcr.io and has no token to do it with",
        )
        .with_hint(
            "set GITHUB_TOKEN (or GH_TOKEN) to a token with read:packages, in the environment or in the repository's .env (gitignored); or use `stackctl test local`",
        )
    })
}

/// Build (or, with `no_build`, find the last build of) `test local`'s images.
async fn local_images(
    cx: &Context,
    config: &TestLoopConfig,
    no_build: bool,
) -> Result<Vec<BuiltImage>> {
    let record = cx.repo.path(LOCAL_STATE).join("images.json");
    if no_build {
        let text = std::fs::read_to_string(&record).map_err(|_| {
            Error::usage("--no-build reuses the last build, and there is none")
                .with_hint("run `stackctl test local` once without --no-build")
        })?;
        return serde_json::from_str(&text).map_err(|e| {
            Error::config(format!("{} is unreadable: {e}", record.display()))
                .with_hint("run `stackctl test local` without --no-build to rebuild it")
        });
    }
    let build_time = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut built = Vec::new();
    for (name, image) in &config.images {
        cx.progress()
            .notice(Notice::Step(&format!("building the {name} image")));
        built.push(
            images::build_and_push(&cx.repo.root, name, image, &build_time, cx.cancel()).await?,
        );
    }
    write_json(&record, &built)?;
    Ok(built)
}

/// The values layer that sets the built images, written where the target's layers can name
/// it; its repository-relative path.
fn images_layer(cx: &Context, built: &[BuiltImage]) -> Result<String> {
    let relative = format!("{LOCAL_STATE}/images.yaml");
    crate::fsutil::write_atomic(
        &cx.repo.path(&relative),
        images::values_layer(built).as_bytes(),
    )?;
    Ok(relative)
}

/// The checks `validate` makes, on the one target about to be deployed.
async fn validate_target(
    cx: &Context,
    workspace: &Workspace,
    target: &Target,
) -> crate::findings::Report {
    let started = Instant::now();
    let (literals, scanned) = engine::file_checks(workspace, std::slice::from_ref(target), &[]);
    let outcome = engine::check_target(workspace, target.clone()).await;
    engine::assemble_with(
        &cx.repo,
        std::slice::from_ref(&outcome),
        literals,
        &scanned,
        started,
    )
}

/// Namespace, pull secret, apply. The workloads to wait for, or `None` when the apply
/// failed (its problems are failed checks).
async fn deploy(
    cx: &Context,
    cluster: &Cluster,
    config: &TestLoopConfig,
    rendered: &RenderedTarget,
    pull_credential: Option<&crate::oci::credentials::Credential>,
    run: &mut Run,
) -> Result<Option<Vec<ObjectRef>>> {
    let target = &rendered.target;
    let phase = Instant::now();
    if config.fresh_namespace {
        cx.progress().notice(Notice::Step(&format!(
            "recreating namespace {}",
            target.namespace
        )));
        namespace::recreate(cluster, &target.namespace, NAMESPACE_TIMEOUT).await?;
    } else {
        namespace::ensure(cluster, &target.namespace).await?;
    }
    if let Some(credential) = pull_credential {
        for name in pull_secret_names(&rendered.values) {
            pull_secret::ensure(
                cluster,
                &target.namespace,
                &name,
                GHCR,
                &credential.username,
                &credential.password,
            )
            .await?;
        }
    }
    let request = ApplyRequest {
        release: &target.release,
        namespace: &target.namespace,
        objects: &rendered.rendered.objects,
        values: Some(&rendered.values),
        hook_timeout: apply::DEFAULT_HOOK_TIMEOUT,
    };
    let outcome = apply::apply(cluster, &request).await?;
    run.phase("apply", phase);
    if !outcome.ok() {
        for problem in &outcome.problems {
            let mut message = format!("{}: {}", problem.object, problem.message);
            if let Some(hint) = &problem.hint {
                message.push_str(&format!(" ({hint})"));
            }
            run.report
                .checks
                .push(Check::failed("apply", ms(phase), message));
        }
        return Ok(None);
    }
    let mut message = format!("{} objects applied", outcome.applied.len());
    if !outcome.pruned.is_empty() {
        let pruned: Vec<String> = outcome.pruned.iter().map(ToString::to_string).collect();
        message.push_str(&format!("; pruned {}", pruned.join(", ")));
    }
    run.report
        .checks
        .push(Check::passed("apply", ms(phase)).with_message(message));
    Ok(Some(outcome.workloads()))
}

/// The image pull secrets the target's pods name (`<dependency>.imagePullSecrets[].name`).
fn pull_secret_names(values: &Merged) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let serde_json::Value::Object(map) = &values.value {
        for block in map.values() {
            for secret in block
                .get("imagePullSecrets")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(name) = secret.get("name").and_then(|n| n.as_str())
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

/// Wait for the workloads; on failure, diagnose. Whether every workload became ready.
async fn rollout(
    cx: &Context,
    cluster: &Cluster,
    target: &Target,
    workloads: Vec<ObjectRef>,
    timeout: Duration,
    run: &mut Run,
) -> Result<bool> {
    let phase = Instant::now();
    let progress = Arc::clone(&cx.invocation.progress);
    progress.begin("ready", workloads.len());
    let reported = AtomicUsize::new(0);
    let on_change = |ready: usize, _total: usize| {
        while reported.load(Ordering::SeqCst) < ready {
            reported.fetch_add(1, Ordering::SeqCst);
            progress.advance("");
        }
    };
    let request = WaitRequest {
        namespace: target.namespace.clone(),
        workloads,
        timeout,
    };
    let results = wait::wait(cluster, &request, &on_change).await;
    progress.end();
    let results = results?;
    run.phase("rollout", phase);
    for result in &results {
        let name = format!("rollout/{}", result.workload.name);
        run.report.checks.push(match &result.state {
            WorkloadState::Ready => Check::passed(name, result.duration_ms),
            WorkloadState::Failed { reason } => {
                Check::failed(name, result.duration_ms, reason.clone())
            }
            WorkloadState::TimedOut { last } => Check::failed(
                name,
                result.duration_ms,
                format!("not ready after {}: {last}", human(timeout)),
            ),
        });
    }
    if results.iter().all(|r| r.state == WorkloadState::Ready) {
        return Ok(true);
    }
    run.report.diagnoses = diagnose::diagnose(cluster, &target.namespace, &results).await;
    cx.check_cancelled()?;
    Ok(false)
}

fn human(duration: Duration) -> String {
    match duration.as_secs() {
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// What the smoke suite of a Kind loop checks, besides the forwards' URLs.
struct SmokePlan {
    credentials: Credentials,
    expected_version: Option<String>,
    settle: Duration,
}

/// Forward the configured Services and run the smoke suite through them, with the check that
/// nothing restarted meanwhile.
async fn smoke_through_forwards(
    cx: &Context,
    cluster: &Cluster,
    config: &TestLoopConfig,
    target: &Target,
    plan: SmokePlan,
    run: &mut Run,
) -> Result<()> {
    let phase = Instant::now();
    let mut forwards = Vec::new();
    let mut failed = false;
    for (role, forward_config) in &config.forwards {
        let service = forward_config.service.replace("{release}", &target.release);
        match forward::forward_service(cluster, &target.namespace, &service, forward_config.port)
            .await
        {
            Ok(forward) => forwards.push((role.clone(), forward)),
            Err(e) if e.is_cancelled() => return Err(e),
            Err(e) => {
                failed = true;
                run.report.checks.push(Check::failed(
                    format!("port-forward/{role}"),
                    ms(phase),
                    format!("{service}:{}: {}", forward_config.port, e.message),
                ));
            }
        }
    }
    run.phase("port-forward", phase);
    if failed {
        run.report.checks.push(Check::skipped(
            "smoke",
            "a Service it checks could not be forwarded",
        ));
        return Ok(());
    }
    let url = |role: &str| {
        forwards
            .iter()
            .find(|(r, _)| r == role)
            .and_then(|(_, f)| Url::parse(&f.url()).ok())
    };
    let Some(api) = url("api") else {
        return Err(Error::config(
            "[test] forwards have no `api` Service: the smoke suite checks the API through it",
        ));
    };
    let smoke_target = SmokeTarget {
        websocket: url("websocket"),
        frontend: url("frontend"),
        expected_version: plan.expected_version,
        settle: plan.settle,
        ..SmokeTarget::new(api, plan.credentials)
    };
    let phase = Instant::now();
    let before = activity::snapshot(cluster, &target.namespace).await?;
    let checks = smoke::run(&smoke_target, cx.cancel()).await;
    cx.check_cancelled()?;
    let after = activity::snapshot(cluster, &target.namespace).await?;
    run.report.checks.extend(checks);
    run.report
        .checks
        .push(activity::quiet_between(&before, &after, ms(phase)));
    run.phase("smoke", phase);
    for (role, forward) in &forwards {
        for error in forward.errors() {
            cx.progress()
                .notice(Notice::Warning(&format!("port-forward {role}: {error}")));
        }
    }
    Ok(())
}

/// The smoke suite's credentials: `E2E_ADMIN_EMAIL`/`E2E_ADMIN_PASSWORD`, else the values at
/// the configured paths.
fn credentials(cx: &Context, paths: &CredentialPaths, values: &Merged) -> Result<Credentials> {
    let read = |variable: &str, path: &str| -> Result<String> {
        if let Some(value) = cx.env.get(variable) {
            return Ok(value.to_string());
        }
        values
            .get(&pointer(path.split('.')))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::config(format!(
                    "the smoke suite's credentials are read from {path}, which the variant's values do not set"
                ))
                .with_hint(format!("set {variable}, or point [test] credentials at the values that hold it"))
            })
    };
    let credentials = Credentials {
        email: read("E2E_ADMIN_EMAIL", &paths.email)?,
        password: read("E2E_ADMIN_PASSWORD", &paths.password)?,
    };
    crate::redact::register(&credentials.password);
    Ok(credentials)
}

/// The version the API must report: the tag of the backend image deployed.
fn expected_version(values: &Merged, built: &[BuiltImage]) -> Option<String> {
    if let Some(image) = built
        .iter()
        .find(|i| i.values.iter().any(|v| v.starts_with("backend-api.")))
    {
        return Some(image.tag.clone());
    }
    values.get("/backend-api/image/tag").and_then(|t| {
        t.as_str()
            .map(str::to_string)
            .or_else(|| Some(t.to_string()))
    })
}

/// Write the rendered manifests and the layer chain under `dir`.
fn write_render(
    dir: &std::path::Path,
    workspace: &Workspace,
    rendered: &RenderedTarget,
) -> Result<()> {
    let chain = super::render::layer_chain(workspace, &rendered.target);
    let manifest = crate::redact::redact(&rendered.rendered.manifest).into_owned();
    crate::fsutil::write_atomic(&dir.join("manifest.yaml"), manifest.as_bytes())?;
    crate::fsutil::write_atomic(
        &dir.join("layers.txt"),
        format!("{}\n", chain.join("\n")).as_bytes(),
    )
}

fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::internal(format!("cannot encode {}: {e}", path.display())))?;
    crate::fsutil::write_atomic(path, crate::redact::redact(&text).as_bytes())
}

/// `test dev`: the smoke suite against the running dev loop.
pub async fn dev(cx: &Context) -> Result<TestReport> {
    let started = Instant::now();
    let dev = &cx.repo.config.test.dev;
    let api = Url::parse(&dev.url)
        .map_err(|e| Error::config(format!("[test.dev] url {:?} is not a URL: {e}", dev.url)))?;
    let credentials = match (
        cx.env.get("E2E_ADMIN_EMAIL"),
        cx.env.get("E2E_ADMIN_PASSWORD"),
    ) {
        (Some(email), Some(password)) => Credentials {
            email: email.to_string(),
            password: password.to_string(),
        },
        _ => {
            cx.require_helm().await?;
            let target = variant(cx, &dev.variant)?;
            let source = DepsSource {
                offline: true,
                ..DepsSource::default()
            };
            let workspace = deps::prepare_workspace(cx, &source, "validated").await?;
            let values = engine::merged_values(&workspace, &target)?;
            credentials(cx, &CredentialPaths::default(), &values)?
        }
    };
    crate::redact::register(&credentials.password);
    let target = SmokeTarget::new(api, credentials);
    smoke_only("test dev", cx, target, started).await
}

/// `test live`: the smoke suite and the TLS checks against `https://<host>`.
pub async fn live(cx: &Context, host: Option<&str>) -> Result<TestReport> {
    let started = Instant::now();
    let host = host.unwrap_or(&cx.repo.config.test.live.host);
    let api = Url::parse(&format!("https://{host}/"))
        .map_err(|e| Error::usage(format!("{host:?} is not a host name: {e}")))?;
    let (Some(email), Some(password)) = (
        cx.env.get("E2E_ADMIN_EMAIL"),
        cx.env.get("E2E_ADMIN_PASSWORD"),
    ) else {
        return Err(Error::new(
            ErrorKind::CredentialsRejected,
            "test live signs in to a live environment and has no credentials to do it with",
        )
        .with_hint("set E2E_ADMIN_EMAIL and E2E_ADMIN_PASSWORD (in the environment or .env)"));
    };
    let credentials = Credentials {
        email: email.to_string(),
        password: password.to_string(),
    };
    crate::redact::register(&credentials.password);
    let mut target = SmokeTarget::new(api.clone(), credentials);
    target.frontend = Some(api);
    target.live = Some(LiveChecks {
        http: Url::parse(&format!("http://{host}/")).ok(),
        ..LiveChecks::default()
    });
    smoke_only("test live", cx, target, started).await
}

async fn smoke_only(
    command: &str,
    cx: &Context,
    target: SmokeTarget,
    started: Instant,
) -> Result<TestReport> {
    let mut run = Run::new(command);
    let phase = Instant::now();
    let checks = smoke::run(&target, cx.cancel()).await;
    cx.check_cancelled()?;
    run.report.checks = checks;
    run.phase("smoke", phase);
    Ok(run.finish(started))
}

//! `render`: one target's manifests, exactly as `validate` renders them, without its rules.

use std::time::Instant;

use super::{Context, DepsSource, deps};
use crate::engine::{self, RenderedTarget};
use crate::error::Result;
use crate::findings::Report;
use crate::target::Target;

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// An env file, a variant name, or a values file of the chart.
    pub target: String,
    /// The cloud layer for an env file (default: the only cloud, else `aws`).
    pub cloud: Option<String>,
    pub source: DepsSource,
}

/// A render: the target, its full layer chain, and what helm rendered or why it did not.
pub struct Rendering {
    pub target: Target,
    /// The chart's defaults, then the target's layers: everything helm applied, in order.
    pub chain: Vec<String>,
    pub outcome: std::result::Result<RenderedTarget, Report>,
}

/// Render one target; when it cannot be rendered, its findings as `validate` reports them.
pub async fn render(cx: &Context, request: &RenderRequest) -> Result<Rendering> {
    let started = Instant::now();
    let target = cx
        .named_target(&request.target, request.cloud.as_deref())
        .await?;
    let workspace = deps::prepare_workspace(cx, &request.source, "rendered").await?;
    workspace.refuse_too_deep(&target.layers)?;
    let chain = layer_chain(&workspace, &target);
    let outcome = engine::render_target(&workspace, target.clone()).await;
    cx.check_cancelled()?;
    // Why helm could not render, reported as validate reports it (rule levels applied, the
    // target with its layer chain).
    let outcome = outcome.map_err(|failed| {
        engine::assemble(
            &cx.repo,
            std::slice::from_ref(&*failed),
            Vec::new(),
            started,
        )
    });
    Ok(Rendering {
        target,
        chain,
        outcome,
    })
}

/// The chart's defaults followed by the target's layers.
pub fn layer_chain(workspace: &engine::Workspace, target: &Target) -> Vec<String> {
    let defaults = workspace
        .repo
        .display_file(&workspace.chart_dir, "values.yaml");
    std::iter::once(defaults)
        .chain(target.layers.iter().cloned())
        .collect()
}

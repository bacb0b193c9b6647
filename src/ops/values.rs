//! `values`: a target's merged values with the file and line that set each one, or the story
//! of one value through the layer chain.

use super::{Context, DepsSource, deps, render::layer_chain};
use crate::engine;
use crate::error::Result;
use crate::target::Target;
use crate::values::{Merged, pointer};

/// What to show.
#[derive(Debug, Clone)]
pub struct ValuesRequest {
    pub target: String,
    /// A dotted values path (`a.b.c`) to explain layer by layer.
    pub path: Option<String>,
    pub cloud: Option<String>,
}

/// A target's merged values.
pub struct MergedValues {
    pub target: Target,
    /// The chart's defaults, then the target's layers.
    pub chain: Vec<String>,
    pub merged: Merged,
    /// The dotted path asked about, and its JSON pointer.
    pub path: Option<(String, String)>,
}

/// Merge a target's values as helm does. Dependencies come from the cache or the local chart
/// sources only: merging needs their defaults, never the network.
pub async fn values(cx: &Context, request: &ValuesRequest) -> Result<MergedValues> {
    let target = cx
        .named_target(&request.target, request.cloud.as_deref())
        .await?;
    let source = DepsSource {
        offline: true,
        ..DepsSource::default()
    };
    let workspace = deps::prepare_workspace(cx, &source, "values computed").await?;
    workspace.refuse_too_deep(&target.layers)?;
    let merged = engine::merged_values(&workspace, &target)?;
    let path = request
        .path
        .as_ref()
        .map(|path| (path.clone(), pointer(path.split('.'))));
    Ok(MergedValues {
        chain: layer_chain(&workspace, &target),
        target,
        merged,
        path,
    })
}

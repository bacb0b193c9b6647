//! Rendering one target on its own, without its rules: its layer chain, its merged values
//! (dependency blocks as each dependency sees them, every value with the layer that set it)
//! and the objects helm renders. What `render` and `values` show, and what the deploy path
//! applies.

use super::workspace::{LayerLoad, Workspace};
use crate::error::{Error, Result};
use crate::findings::Diagnostic;
use crate::helm::Rendered;
use crate::rules;
use crate::target::Target;
use crate::values::{Merged, ParsedLayer, YamlError, scope_subchart};

/// A target as helm renders it.
pub struct RenderedTarget {
    pub target: Target,
    /// The values helm renders with, each with its provenance.
    pub merged: Merged,
    pub rendered: Rendered,
}

/// Render `target`. When a layer cannot be read or helm fails, the findings that say why.
pub async fn render_target(
    ws: &Workspace,
    target: Target,
) -> std::result::Result<RenderedTarget, Vec<Diagnostic>> {
    let loaded = ws.load_layers(&target);
    let Some(layers) = loaded.parsed else {
        return Err(loaded.diagnostics);
    };
    let merged = match helm_values(ws, &layers) {
        Ok(merged) => merged,
        Err(e) => return Err(vec![rules::values::syntax_error(&e)]),
    };
    match ws.helm_render(&target).await {
        Ok(rendered) => Ok(RenderedTarget {
            target,
            merged,
            rendered,
        }),
        Err(e) => Err(vec![rules::render::helm_error(e, &ws.sources())]),
    }
}

/// The values helm renders a target with: the merge of its chain with every enabled
/// dependency's scoped values embedded under its key.
pub fn merged_values(ws: &Workspace, target: &Target) -> Result<Merged> {
    let mut layers = Vec::new();
    for file in &target.layers {
        match ws.layer(file) {
            LayerLoad::Parsed(layer, _) => layers.push(layer),
            LayerLoad::Failed(diagnostic, _) => {
                let line = diagnostic.line;
                return Err(Error::config(diagnostic.message).at(file, line));
            }
        }
    }
    helm_values(ws, &layers).map_err(Error::from)
}

/// The umbrella's merge of `layers` with each enabled dependency's values embedded under its
/// key, as helm computes the values it renders with.
fn helm_values(ws: &Workspace, layers: &[ParsedLayer]) -> std::result::Result<Merged, YamlError> {
    let mut merged = ws.merge(layers);
    for dep in &ws.dependencies {
        if ws.enabled(dep, &merged.value) {
            let scoped = scope_subchart(&merged, &dep.key, &dep.defaults)?;
            merged.embed_subchart(&dep.key, &scoped);
        }
    }
    Ok(merged)
}

//! Rendering one target on its own, without its rules: its layer chain, its merged values
//! (dependency blocks as each dependency sees them, every value with the layer that set it)
//! and the objects helm renders. What `render` and `values` show, and what the deploy path
//! applies.

use std::time::Instant;

use super::pipeline::{TargetOutcome, check_loaded};
use super::workspace::Workspace;
use crate::error::{Error, Result};
use crate::findings::Diagnostic;
use crate::helm::Rendered;
use crate::target::Target;
use crate::values::Merged;

/// A target as helm renders it.
pub struct RenderedTarget {
    pub target: Target,
    /// The values helm renders with (each enabled dependency's block as that dependency sees
    /// it), each with the layer that set it.
    pub values: Merged,
    pub rendered: Rendered,
}

/// Render `target`. When a layer cannot be read or helm fails, the target checked as
/// `validate` checks it: the findings that say why, with those of every rule that needs no
/// rendered objects (a mis-keyed override helm chokes on is reported at its line).
pub async fn render_target(
    ws: &Workspace,
    target: Target,
) -> std::result::Result<RenderedTarget, Box<TargetOutcome>> {
    let started = Instant::now();
    let Ok(values) = helm_values(ws, &target) else {
        // Checked as validate checks it, so the report is the same: helm runs when the
        // layers could be read, and the findings say why the values cannot be computed.
        let loaded = ws.load_layers(&target);
        let render = match loaded.parsed {
            Some(_) => Some(ws.helm_render(&target).await),
            None => None,
        };
        return Err(Box::new(check_loaded(ws, target, loaded, render, started)));
    };
    match ws.helm_render(&target).await {
        Ok(rendered) => Ok(RenderedTarget {
            target,
            values,
            rendered,
        }),
        Err(e) => {
            let loaded = ws.load_layers(&target);
            Err(Box::new(check_loaded(
                ws,
                target,
                loaded,
                Some(Err(e)),
                started,
            )))
        }
    }
}

/// The values helm renders a target with, as `values` shows them; a layer that cannot be read
/// is a configuration error at its line.
pub fn merged_values(ws: &Workspace, target: &Target) -> Result<Merged> {
    helm_values(ws, target).map_err(|diagnostics| {
        let first = diagnostics.into_iter().next().expect("a failure says why");
        let file = first.file.clone().unwrap_or_default();
        Error::config(first.message).at(file, first.line)
    })
}

/// The umbrella's merge of the target's layers with each enabled dependency's values
/// embedded under its key, as helm computes the values it renders with; or the findings that
/// say why they cannot be computed.
fn helm_values(ws: &Workspace, target: &Target) -> std::result::Result<Merged, Vec<Diagnostic>> {
    let loaded = ws.load_layers(target);
    let Some(layers) = loaded.parsed else {
        return Err(loaded.failures);
    };
    let mut merged = ws.merge(&layers);
    let mut failures = Vec::new();
    let scoped = ws.scope_dependencies(&merged, &mut failures);
    if !failures.is_empty() {
        return Err(failures);
    }
    for (dep, scoped) in ws.dependencies.iter().zip(&scoped) {
        if let Some(scoped) = scoped {
            merged.embed_subchart(&dep.key, scoped);
        }
    }
    Ok(merged)
}

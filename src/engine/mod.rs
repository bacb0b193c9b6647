//! The engine: the targets of a repository, the workspace they share, the pipeline that
//! checks them (with the result cache), rendering a target on its own, and assembling a
//! report. Nothing here prints.

mod assemble;
pub mod cache;
pub mod layout;
pub mod lint;
mod pipeline;
mod render;
pub mod targets;
mod workspace;

pub use assemble::{assemble, assemble_with};
pub use pipeline::{
    OnDone, TargetOutcome, check_all, check_target, cross_target_findings, file_checks, files_read,
};
pub use render::{RenderedTarget, merged_values, render_target};
pub use workspace::{Dependency, TargetLayers, Workspace};

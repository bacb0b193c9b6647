//! The engine: the targets of a repository, the workspace they share, and the pipeline that
//! checks and renders them (with the result cache). Nothing here prints.

pub mod cache;
pub mod lint;
mod pipeline;
pub mod targets;

pub use pipeline::*;

//! The umbrella chart's dependencies: `Chart.yaml` / `Chart.lock` with positions, helm's lock
//! digest, chart packaging and publishing, link mode, bumping versions in place, and
//! resolving the locked dependencies into `charts/`. (The rules they must satisfy are
//! [`crate::rules::deps`] and [`crate::rules::lock`].)

pub mod build;
pub mod bump;
pub mod chartfile;
pub mod document;
pub mod exclusive;
pub mod links;
pub mod lock;
pub mod package;
pub mod publish;
pub mod update;

//! The umbrella chart's dependencies: `Chart.yaml` / `Chart.lock` with positions, helm's lock
//! digest, the supply-chain rules, chart packaging, link mode, and resolving the locked
//! dependencies into `charts/`.

pub mod build;
pub mod bump;
pub mod chartfile;
pub mod check;
pub mod document;
pub mod links;
pub mod lock;
pub mod package;
pub mod publish;
pub mod update;

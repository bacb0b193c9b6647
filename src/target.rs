//! A target: one thing that is checked, rendered and deployed on its own. An env file with its
//! layer chain (`envs/prod/console.yaml` over `envs/prod/default.yaml` over `envs/aws.yaml`),
//! or a lifecycle variant of the chart declared in `stackctl.toml`. The engine finds them
//! ([`crate::engine::targets`]); rules and reports read them.

/// One thing to validate and render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name used in reports: the env file's repository-relative path, or the variant's name.
    pub name: String,
    /// Values files applied over the chart's defaults, in order, repository-relative.
    pub layers: Vec<String>,
    pub release: String,
    pub namespace: String,
    /// Secret and ConfigMap names provided outside the chart (release placeholder expanded).
    pub external_refs: Vec<String>,
    pub kind: TargetKind,
    /// For an env target: the directory of `envs/` it lives in (`prod` for
    /// `envs/prod/console.yaml`), which groups it with its siblings.
    pub group: Option<String>,
    /// For an env target: its cloud, the name of its first layer (`aws` for `envs/aws.yaml`).
    pub cloud: Option<String>,
    /// The `[targets]` tables of `stackctl.toml` that set its release, namespace or external
    /// refs, least specific first (`envs/staging/*`, then `envs/staging/link4.yaml`).
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// An env file under `envs/`.
    Env,
    /// A lifecycle variant of the chart declared in `stackctl.toml`.
    Variant,
}

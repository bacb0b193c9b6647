//! Tests of fakekube, the stand-in Kubernetes API server (not a Kubernetes).
//!
//! - `kube_client`: the calls kube-rs 5 makes for a deploy tool: discovery, server-side apply of
//!   every object the chart renders for CI, watches with bookmarks and 410, logs, events,
//!   port-forward, and the apiserver's errors.
//! - `kubectl`: the real kubectl 1.37.1 against the stand-in (where they disagree, the stand-in
//!   is wrong).
//! - `scenarios`: every pod behaviour, controller and fault of a scenario, observed through the
//!   API.
//! - `platform_stub`: the stand-in platform API the port-forwards reach.
//! - `binary`: the `fakekube` binary and its timings.
//!
//! Tools come from `eval "$(scripts/toolchain.sh --print-env)"`; a missing tool fails a test.

mod binary;
mod kube_client;
mod kubectl;
mod platform_stub;
mod scenarios;
mod support;

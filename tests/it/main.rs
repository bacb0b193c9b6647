//! Integration tests: the real `stackctl` binary in temporary copies of fixture repositories,
//! against real helm binaries and a real OCI registry.
//!
//! Tools come from the environment (`eval "$(scripts/toolchain.sh --print-env)"`): a test that
//! needs one fails when it is missing, it never skips.

mod chart_publish;
mod deps_auth;
mod deps_check;
mod deps_offline;
mod deps_registry;
mod support;

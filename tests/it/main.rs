//! Integration tests: the real `stackctl` binary, run in temporary copies of the repository or
//! of fixture repositories, against real helm binaries and a real OCI registry (see `support`).
//!
//! Tools come from the environment (`eval "$(scripts/toolchain.sh --print-env)"`): a test that
//! needs one fails when it is missing, it never skips.

mod architecture;
mod bad_input;
mod cache;
mod cancel;
mod chart_publish;
mod cli;
mod cluster;
mod concurrency;
mod deps_auth;
mod deps_check;
mod deps_offline;
mod deps_registry;
mod init;
mod layouts;
mod stack;
mod support;
mod test_loop;
mod tiltfile;
mod unknown_key;
mod validate;

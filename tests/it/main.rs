//! Integration tests: the real `stackctl` binary, run in temporary copies of the repository,
//! against real helm binaries and a real OCI registry (see `support`).

mod cli;
mod support;
mod validate;

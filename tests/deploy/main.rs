//! The deploy path's library (`stackctl::cluster`: apply, namespaces, waits, port-forwards,
//! diagnoses) driven against fakekube, the stand-in Kubernetes API server of
//! `tests/fakekube` (not a Kubernetes: see its README for what it imitates and what not).
//!
//! The chart's objects are rendered in-test by the real helm (`STACKCTL_TEST_HELM4`, from
//! `eval "$(scripts/toolchain.sh --print-env)"`); a missing helm fails the tests, never skips
//! them.

mod fakekube_stand_in;

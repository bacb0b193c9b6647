//! Every test here runs against fakekube, a stand-in API server.

mod apply;
mod diagnose;
mod forward;
mod namespace;
mod support;
mod wait;

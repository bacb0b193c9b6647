//! # fakekube: a test stand-in for a Kubernetes API server (it is not a Kubernetes)
//!
//! The object model: the resource table, the store with its resourceVersions and change
//! history, selectors, and the create/update/patch/apply/delete semantics.

#![allow(dead_code)] // The server that uses all of this follows.

mod crud;
mod meta;
mod patch;
mod resources;
mod selectors;
mod status;
mod store;
mod validation;

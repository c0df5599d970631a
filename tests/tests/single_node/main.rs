//! Tests against the shared single-node cluster (one broker+controller).

#[path = "../common/mod.rs"]
mod common;

mod interop;
mod listeners;

//! Tests against the shared 3-node cluster (replication factor 3,
//! `min.insync.replicas=2`). Tests here change the cluster (kill nodes, stop
//! listeners), so each takes [`common::serial`] first.

#[path = "../common/mod.rs"]
mod common;

mod faults;
mod listeners;

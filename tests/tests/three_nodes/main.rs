//! Tests against the shared 3-node cluster (replication factor 3,
//! `min.insync.replicas=2`), in one binary so the cluster starts once. Tests
//! here change the cluster (kill and freeze nodes, move leaders, stop
//! listeners), so each takes [`common::three_nodes_alone`] first.

#[path = "../common/mod.rs"]
mod common;

mod client;
mod consumer;
mod faults;
mod groups;
mod listeners;
mod memory;
mod producer;
mod truncation;

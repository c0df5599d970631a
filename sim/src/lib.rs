//! rill's deterministic simulator (issue 7): a turmoil cluster of rill
//! broker models driven by the real rill-client, under a per-seed swarm of
//! faults, with Jepsen-style checkers over the recorded history.
//!
//! - [`swarm`]: which fault kinds a seed enables and at what rates;
//! - [`schedule`]: the concrete fault actions over simulated time;
//! - [`history`]: the event model (sends, acks, polls, commits, faults), the
//!   final log and the trace hash;
//! - [`checkers`]: the invariants as pure functions over a history;
//! - [`runner`]: runs seeds on all cores and summarises them.
//!
//! Everything is seeded: the same seed gives the same trace.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod checkers;
pub mod history;
pub mod runner;
pub mod schedule;
pub mod swarm;
pub mod workloads;

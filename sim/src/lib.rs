//! rill's deterministic simulator (issue 7): a turmoil cluster of rill
//! broker models driven by the real rill-client, under a per-seed swarm of
//! faults, with Jepsen-style checkers over the recorded history.
//!
//! - [`swarm`]: which fault kinds a seed enables and at what rates;
//! - [`schedule`]: the concrete fault actions over simulated time;
//! - [`history`]: the event model (sends, acks, polls, commits, faults), the
//!   final log and the trace hash;
//! - [`checkers`]: the invariants as pure functions over a history;
//! - [`cluster`], [`net`], [`injector`]: the turmoil wiring (broker hosts,
//!   simulated TCP for clients and brokers, the per-request error hook);
//! - [`workloads`]: what the clients do; [`scenario`]: one seed end to end;
//!   [`final_log`]: reading the log back after quiescing;
//! - [`runner`]: runs seeds on all cores and summarises them.
//!
//! Everything is seeded: the same seed gives the same trace.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod checkers;
pub mod clock;
pub mod cluster;
pub mod final_log;
pub mod history;
pub mod injector;
pub mod net;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod swarm;
pub mod workloads;

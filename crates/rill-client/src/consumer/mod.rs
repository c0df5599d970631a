//! The consumer.
//!
//! - [`group`]: consumer groups (classic protocol): coordinator, membership,
//!   assignors, rebalance callbacks and offset commits.

pub mod group;

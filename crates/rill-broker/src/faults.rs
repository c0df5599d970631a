//! Fault hooks for the simulator.
//!
//! - [`Interceptor`]: consulted before every request is handled; it may let
//!   the request through, delay it (simulated time), answer it with an
//!   injected error code (a retriable one such as NOT_LEADER_OR_FOLLOWER,
//!   REQUEST_TIMED_OUT or COORDINATOR_LOAD_IN_PROGRESS: the client must
//!   retry), or both. An injected error is answered without touching any
//!   state, as if the broker had refused the request up front.
//! - [`BugSwitches`]: deliberate bugs the simulator's checkers must catch
//!   (issue 7). They can only be switched on with the `fault-injection`
//!   cargo feature, which the shipped dev broker does not enable.

use std::time::Duration;

use rill_protocol::{ApiKey, ErrorCode};

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interception {
    Pass,
    /// Handle it after this much (simulated) time.
    Delay(Duration),
    /// Answer every partition / the request with this error code.
    Fail(ErrorCode),
    /// Wait, then answer with the error.
    DelayThenFail(Duration, ErrorCode),
}

/// A per-request hook (the simulator's fault schedule). Must be
/// deterministic given the simulator's seed.
pub trait Interceptor: Send + Sync + 'static {
    fn intercept(&self, node_id: i32, api_key: ApiKey, version: i16) -> Interception;
}

/// Test-only bugs. All off by default; settable only with the
/// `fault-injection` feature ([`crate::Broker::with_bugs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BugSwitches {
    /// acks=all is answered as soon as the leader has appended, before the ISR has the records.
    pub acks_all_before_isr: bool,
    /// Idempotent producers' sequence numbers are not checked: retries are appended again.
    pub ignore_sequence_numbers: bool,
    /// A late offset commit is accepted: one from a stale generation
    /// (instead of ILLEGAL_GENERATION) or from a member the group has
    /// already expired (instead of UNKNOWN_MEMBER_ID), so it can move a
    /// committed offset backwards.
    pub accept_rewinding_commit: bool,
    /// read_committed Fetch answers carry no aborted transactions (the
    /// aborted index is not served): consumers keep aborted records that lie
    /// below the last stable offset.
    pub omit_aborted_transactions: bool,
}

//! Consumer groups over the classic protocol (JoinGroup / SyncGroup /
//! Heartbeat / LeaveGroup), interoperable with Java consumers in one group.
//!
//! - [`coordinator`]: finding the group coordinator (FindCoordinator) and
//!   failing over on NOT_COORDINATOR & co;
//! - [`membership`]: the member's state machine (join, sync, heartbeat,
//!   leave), generations and static membership (KIP-345);
//! - [`assignor`] with [`range`], [`roundrobin`] and [`cooperative_sticky`]
//!   (KIP-429): the same results as the Java assignors, and the consumer
//!   protocol's metadata / assignment payloads;
//! - [`callbacks`]: the rebalance listener (assigned / revoked / lost);
//! - [`commit`]: OffsetCommit / OffsetFetch, committed offsets that never move backwards;
//! - [`member`]: [`GroupMember`], the handle a consumer subscribes with;
//! - [`subscribed`]: [`GroupConsumer`], a consumer whose partitions come from the group.

pub mod assignor;
pub mod callbacks;
pub mod commit;
pub mod cooperative_sticky;
pub mod coordinator;
pub mod member;
pub mod membership;
pub mod range;
pub mod roundrobin;
pub mod subscribed;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_support;

use std::fmt;

pub use assignor::{assign, MemberSubscription};
pub use callbacks::{NoopListener, RebalanceListener};
pub use commit::CommitTracker;
pub use member::{GroupMember, Subscription};
pub use membership::{Assignment, MemberState};
pub use subscribed::GroupConsumer;

/// A partition of a topic. Ordered by topic, then partition (as Java's assignors sort).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

//! The rebalance listener: the application's say before partitions change hands.
//!
//! The member awaits each callback before it goes on, so an application (a
//! connector) can flush and commit in `on_partitions_revoked` while it still
//! owns the partitions, and seek or load state in `on_partitions_assigned`
//! before any record of them is handed out. Commits made from inside a
//! callback go straight to the coordinator (they do not wait for the member).

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use super::TopicPartition;

/// What a callback returns: a boxed future, so listeners can be `dyn`.
pub type CallbackFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Called by the group member around rebalances. All methods default to doing nothing
/// (`on_partitions_lost` defaults to `on_partitions_revoked`, as in Java).
pub trait RebalanceListener: Send + Sync {
    /// The member is about to give these partitions up (eager: all of them
    /// before rejoining; cooperative: only those moving to another member).
    /// They are still owned: offsets committed now are accepted.
    fn on_partitions_revoked<'a>(&'a self, partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        let _ = partitions;
        Box::pin(async {})
    }

    /// The member got these partitions (cooperative: only the new ones);
    /// called before any of their records is handed out.
    fn on_partitions_assigned<'a>(&'a self, partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        let _ = partitions;
        Box::pin(async {})
    }

    /// The member lost these partitions without a chance to give them up
    /// (its session expired or it was fenced): another member may own them
    /// already, so commits for them would fail.
    fn on_partitions_lost<'a>(&'a self, partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        self.on_partitions_revoked(partitions)
    }
}

/// A listener that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopListener;

impl RebalanceListener for NoopListener {}

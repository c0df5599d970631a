//! The transaction state of one transactional id (KIP-98), as Kafka's
//! transaction coordinator keeps it in `__transaction_state`; here it lives
//! in the cluster-wide, durable coordinator store (see `coordinator.rs`).
//!
//! Phases: Empty (no transaction yet, or a new producer instance) ->
//! Ongoing (AddPartitionsToTxn / AddOffsetsToTxn) -> PrepareCommit or
//! PrepareAbort (EndTxn, a fencing InitProducerId, or the transaction
//! timeout) -> CompleteCommit or CompleteAbort (every partition leader
//! wrote the marker; the group offsets of a commit became visible) ->
//! Ongoing again with the next AddPartitionsToTxn. While markers are
//! pending, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and InitProducerId
//! answer CONCURRENT_TRANSACTIONS and the client retries.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rill_protocol::ErrorCode;
use tokio::time::Instant;

use crate::coordinator::CommittedOffset;

/// Where a transactional id's transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnPhase {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

/// Transaction state of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout: Duration,
    pub phase: TxnPhase,
    /// When the ongoing transaction began (its first partition or group):
    /// it is aborted once `timeout` has passed since.
    pub started: Option<Instant>,
    /// Partitions in the transaction. While a Prepare phase lasts, the
    /// partitions whose leader has not yet acknowledged the marker.
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups whose offsets the transaction commits (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// Offsets staged by TxnOffsetCommit, per group: committed with the
    /// transaction, dropped on abort.
    pub pending_offsets: BTreeMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    /// Bumped by every round of marker requests: partition leaders refuse a
    /// marker older than the last they wrote for this producer
    /// (TRANSACTION_COORDINATOR_FENCED), so a marker delayed in the network
    /// from an earlier round or coordinator cannot end a later transaction.
    pub coordinator_epoch: i32,
}

/// What completing a transaction changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub committed: bool,
    /// Offsets to make visible, per group (empty on abort).
    pub offsets: BTreeMap<String, BTreeMap<(String, i32), CommittedOffset>>,
}

impl Transaction {
    pub fn new(producer_id: i64, producer_epoch: i16, timeout: Duration) -> Transaction {
        Transaction {
            producer_id,
            producer_epoch,
            timeout,
            phase: TxnPhase::Empty,
            started: None,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            pending_offsets: BTreeMap::new(),
            coordinator_epoch: 0,
        }
    }

    /// Whether markers are being written (PrepareCommit / PrepareAbort).
    pub fn is_pending(&self) -> bool {
        matches!(self.phase, TxnPhase::PrepareCommit | TxnPhase::PrepareAbort)
    }

    /// Checks the producer id and epoch a client presents: another id is
    /// INVALID_PRODUCER_ID_MAPPING, another epoch PRODUCER_FENCED (an older
    /// instance of the transactional id, or one the coordinator fenced).
    pub fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> ErrorCode {
        if producer_id != self.producer_id {
            ErrorCode::INVALID_PRODUCER_ID_MAPPING
        } else if producer_epoch != self.producer_epoch {
            ErrorCode::PRODUCER_FENCED
        } else {
            ErrorCode::NONE
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction is (or becomes) ongoing.
    pub fn begin_or_continue(&mut self, now: Instant) -> Result<(), ErrorCode> {
        match self.phase {
            TxnPhase::PrepareCommit | TxnPhase::PrepareAbort => Err(ErrorCode::CONCURRENT_TRANSACTIONS),
            TxnPhase::Ongoing => Ok(()),
            TxnPhase::Empty | TxnPhase::CompleteCommit | TxnPhase::CompleteAbort => {
                self.phase = TxnPhase::Ongoing;
                self.started = Some(now);
                Ok(())
            }
        }
    }

    /// EndTxn: an ongoing transaction moves to PrepareCommit/PrepareAbort.
    /// A retry of an end already under way is CONCURRENT_TRANSACTIONS, of
    /// one completed NONE; the opposite decision, or no transaction, is
    /// INVALID_TXN_STATE (Kafka's `TransactionCoordinator.endTransaction`).
    pub fn end(&mut self, commit: bool) -> Result<(), ErrorCode> {
        match (self.phase, commit) {
            (TxnPhase::Ongoing, _) => {
                self.phase = if commit { TxnPhase::PrepareCommit } else { TxnPhase::PrepareAbort };
                Ok(())
            }
            (TxnPhase::PrepareCommit, true) | (TxnPhase::PrepareAbort, false) => Err(ErrorCode::CONCURRENT_TRANSACTIONS),
            (TxnPhase::CompleteCommit, true) | (TxnPhase::CompleteAbort, false) => Ok(()),
            _ => Err(ErrorCode::INVALID_TXN_STATE),
        }
    }

    /// Fences the current producer instance (a new one called
    /// InitProducerId, or the transaction timed out): the epoch is bumped so
    /// the old instance's requests and batches are refused, and its ongoing
    /// transaction is aborted with markers of the new epoch.
    pub fn fence(&mut self) {
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        if self.phase == TxnPhase::Ongoing {
            self.phase = TxnPhase::PrepareAbort;
        }
    }

    /// Whether an ongoing transaction has outlived its timeout at `now`.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.phase == TxnPhase::Ongoing && self.started.is_some_and(|s| now >= s + self.timeout)
    }

    /// When an ongoing transaction times out.
    pub fn deadline(&self) -> Option<Instant> {
        (self.phase == TxnPhase::Ongoing).then_some(self.started.map(|s| s + self.timeout)).flatten()
    }

    /// Every marker was written: the Prepare phase completes. Returns what
    /// the transaction decided, or `None` if no Prepare phase was under way.
    pub fn complete(&mut self) -> Option<Completed> {
        let committed = match self.phase {
            TxnPhase::PrepareCommit => true,
            TxnPhase::PrepareAbort => false,
            _ => return None,
        };
        self.phase = if committed { TxnPhase::CompleteCommit } else { TxnPhase::CompleteAbort };
        self.started = None;
        self.partitions.clear();
        self.groups.clear();
        let offsets = std::mem::take(&mut self.pending_offsets);
        Some(Completed { committed, offsets: if committed { offsets } else { BTreeMap::new() } })
    }
}

/// The partitions of `group` with transactional offsets not yet committed or
/// aborted (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT
/// for them, KIP-447).
pub fn unstable_offsets(transactions: &BTreeMap<String, Transaction>, group: &str) -> BTreeSet<(String, i32)> {
    transactions
        .values()
        .filter(|t| matches!(t.phase, TxnPhase::Ongoing | TxnPhase::PrepareCommit | TxnPhase::PrepareAbort))
        .filter_map(|t| t.pending_offsets.get(group))
        .flat_map(|offsets| offsets.keys().cloned())
        .collect()
}

/// The fencing code of a transactional API: PRODUCER_FENCED from the
/// version that introduced it (KIP-588), INVALID_PRODUCER_EPOCH before.
pub fn fenced_code(code: ErrorCode, version: i16, producer_fenced_since: i16) -> ErrorCode {
    if code == ErrorCode::PRODUCER_FENCED && version < producer_fenced_since {
        ErrorCode::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn phases_follow_kafkas_state_machine() {
        let now = Instant::now();
        let mut t = Transaction::new(7, 0, Duration::from_secs(10));
        assert_eq!(t.end(true), Err(ErrorCode::INVALID_TXN_STATE), "nothing to commit");
        t.begin_or_continue(now).unwrap();
        assert_eq!(t.phase, TxnPhase::Ongoing);
        assert_eq!(t.deadline(), Some(now + Duration::from_secs(10)));
        assert!(!t.timed_out(now + Duration::from_secs(9)));
        assert!(t.timed_out(now + Duration::from_secs(10)));
        t.end(true).unwrap();
        assert_eq!(t.phase, TxnPhase::PrepareCommit);
        assert_eq!(t.begin_or_continue(now), Err(ErrorCode::CONCURRENT_TRANSACTIONS), "markers pending");
        assert_eq!(t.end(true), Err(ErrorCode::CONCURRENT_TRANSACTIONS), "a retried commit waits");
        assert_eq!(t.end(false), Err(ErrorCode::INVALID_TXN_STATE), "cannot abort a committing transaction");
        t.pending_offsets
            .entry("g".into())
            .or_default()
            .insert(("t".into(), 0), CommittedOffset { offset: 5, leader_epoch: -1, metadata: None });
        let done = t.complete().unwrap();
        assert!(done.committed);
        assert_eq!(done.offsets["g"][&("t".to_string(), 0)].offset, 5);
        assert_eq!(t.phase, TxnPhase::CompleteCommit);
        assert_eq!(t.end(true), Ok(()), "a retried commit of a completed transaction succeeds");
        assert_eq!(t.end(false), Err(ErrorCode::INVALID_TXN_STATE));
        assert!(t.complete().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn fencing_bumps_the_epoch_and_aborts_with_offsets_dropped() {
        let now = Instant::now();
        let mut t = Transaction::new(7, 3, Duration::from_secs(10));
        assert_eq!(t.check_producer(8, 3), ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        assert_eq!(t.check_producer(7, 3), ErrorCode::NONE);
        t.begin_or_continue(now).unwrap();
        t.pending_offsets
            .entry("g".into())
            .or_default()
            .insert(("t".into(), 1), CommittedOffset { offset: 9, leader_epoch: -1, metadata: None });
        let txns = BTreeMap::from([("id".to_string(), t.clone())]);
        assert_eq!(unstable_offsets(&txns, "g"), BTreeSet::from([("t".to_string(), 1)]));
        assert!(unstable_offsets(&txns, "other").is_empty());
        t.fence();
        assert_eq!((t.producer_epoch, t.phase), (4, TxnPhase::PrepareAbort));
        assert_eq!(t.check_producer(7, 3), ErrorCode::PRODUCER_FENCED);
        let done = t.complete().unwrap();
        assert!(!done.committed && done.offsets.is_empty());
        assert_eq!(fenced_code(ErrorCode::PRODUCER_FENCED, 1, 2), ErrorCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(fenced_code(ErrorCode::PRODUCER_FENCED, 2, 2), ErrorCode::PRODUCER_FENCED);
    }
}

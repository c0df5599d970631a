//! The invariants (after Jepsen's Kafka checker), as pure functions over a
//! [`History`] and the [`FinalLog`]: one file per invariant, each returning
//! the violations it finds. [`check`] runs them all.

mod commits;
mod duplicate;
mod liveness;
mod lost_write;
mod polls;
mod producer_order;
mod read_committed;
mod txn_offsets;
mod violation;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

pub use commits::{commit_decreased, commit_not_processed};
pub use duplicate::duplicates;
pub use liveness::{liveness, LivenessBound};
pub use lost_write::lost_writes;
pub use polls::{missed_records, non_monotonic_polls, poll_skips};
pub use producer_order::producer_order;
pub use read_committed::{aborted_reads, read_committed_caught_up};
pub use txn_offsets::txn_offsets;
pub use violation::Violation;

use crate::history::{Event, FinalLog, History, RecordId};

/// Every safety checker, plus liveness when `bound` is given.
pub fn check(history: &History, log: &FinalLog, bound: Option<LivenessBound>) -> Vec<Violation> {
    let mut out = Vec::new();
    out.extend(lost_writes(history, log));
    out.extend(duplicates(log));
    out.extend(producer_order(log));
    out.extend(poll_skips(history, log));
    out.extend(non_monotonic_polls(history, log));
    out.extend(missed_records(history, log));
    out.extend(commit_decreased(history, log));
    out.extend(commit_not_processed(history, log));
    out.extend(aborted_reads(history));
    if let Some(bound) = bound {
        out.extend(liveness(history, log, bound));
    }
    out
}

/// Transaction outcomes known from the history.
#[derive(Debug, Default)]
pub(crate) struct TxnOutcomes {
    /// Records of transactions that ended with an abort.
    pub aborted: BTreeSet<RecordId>,
    /// Records of transactions whose end the history does not show (the
    /// producer died or never heard back): either outcome is allowed.
    pub unknown: BTreeSet<RecordId>,
}

impl TxnOutcomes {
    pub fn of(history: &History) -> Self {
        let mut ends: BTreeMap<(u32, u64), bool> = BTreeMap::new();
        for event in &history.events {
            if let Event::TxnEnd { producer, txn, committed, .. } = event {
                ends.insert((*producer, *txn), *committed);
            }
        }
        let mut out = TxnOutcomes::default();
        for event in &history.events {
            if let Event::Send { id, txn: Some(txn), .. } = event {
                match ends.get(&(id.producer, *txn)) {
                    Some(true) => {}
                    Some(false) => {
                        out.aborted.insert(*id);
                    }
                    None => {
                        out.unknown.insert(*id);
                    }
                }
            }
        }
        out
    }

    /// Whether a read_committed reader must see this record.
    pub fn must_be_visible(&self, id: &RecordId) -> bool {
        !self.aborted.contains(id) && !self.unknown.contains(id)
    }
}

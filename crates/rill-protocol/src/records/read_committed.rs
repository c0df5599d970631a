//! The read_committed filter (KIP-98), as the Java consumer applies it.
//!
//! A fetch response carries, per partition, the transactions that were
//! aborted in the fetched range: `(producer_id, first_offset)`. Walking the
//! batches in offset order:
//! - before looking at a batch, every aborted transaction whose
//!   `first_offset <= batch.last_offset()` is marked: its producer is now "aborting";
//! - a control batch holding an ABORT marker ends that producer's aborted
//!   transaction (the producer is unmarked);
//! - a transactional data batch of an "aborting" producer is dropped;
//! - control batches are never returned.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use super::control::{control_type, ControlRecordType};
use super::{Attributes, BatchView, RecordBatch};

/// One entry of a FetchResponse partition's `aborted_transactions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// Streaming read_committed filter over one partition's batches, fed in order.
#[derive(Debug, Clone, Default)]
pub struct ReadCommittedFilter {
    pending: BinaryHeap<Reverse<(i64, i64)>>,
    aborting: HashSet<i64>,
}

impl ReadCommittedFilter {
    pub fn new<I: IntoIterator<Item = AbortedTransaction>>(aborted: I) -> Self {
        ReadCommittedFilter {
            pending: aborted.into_iter().map(|t| Reverse((t.first_offset, t.producer_id))).collect(),
            aborting: HashSet::new(),
        }
    }

    /// Whether `batch` is to be shown to a read_committed consumer. Must be
    /// called for every batch (control batches included), in offset order.
    pub fn keep(&mut self, batch: &RecordBatch) -> bool {
        let is_abort = || control_type(batch) == Some(ControlRecordType::Abort);
        self.keep_parts(batch.producer_id, batch.last_offset(), batch.attributes, is_abort)
    }

    /// [`keep`](Self::keep) for a [`BatchView`]: only a control batch's
    /// record is read (to tell COMMIT from ABORT).
    pub fn keep_view(&mut self, view: &BatchView) -> bool {
        let h = &view.header;
        let last = h.base_offset.wrapping_add(i64::from(h.last_offset_delta));
        let is_abort = || {
            let record = view.records().next().and_then(Result::ok);
            let key = record.and_then(|r| r.key);
            key.and_then(|k| ControlRecordType::parse_key(k).ok()).map(|(_, kind)| kind) == Some(ControlRecordType::Abort)
        };
        self.keep_parts(h.producer_id, last, h.attributes, is_abort)
    }

    fn keep_parts(&mut self, producer_id: i64, last: i64, attributes: Attributes, is_abort: impl FnOnce() -> bool) -> bool {
        if producer_id >= 0 {
            while let Some(Reverse((first, pid))) = self.pending.peek().copied() {
                if first > last {
                    break;
                }
                self.pending.pop();
                self.aborting.insert(pid);
            }
            if attributes.is_control() && is_abort() {
                self.aborting.remove(&producer_id);
            } else if attributes.is_transactional() && self.aborting.contains(&producer_id) {
                return false;
            }
        }
        !attributes.is_control()
    }
}

/// Filters decoded batches of one partition for read_committed.
pub fn filter_read_committed(batches: Vec<RecordBatch>, aborted: &[AbortedTransaction]) -> Vec<RecordBatch> {
    let mut f = ReadCommittedFilter::new(aborted.iter().copied());
    batches.into_iter().filter(|b| f.keep(b)).collect()
}

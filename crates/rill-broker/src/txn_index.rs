//! A partition's transaction index (KIP-98): which producers have a
//! transaction open here and from which offset, the aborted transactions
//! (Kafka's `.txnindex`), and the last marker each producer got. Derived
//! from the log alone (transactional batches and commit/abort markers), so
//! a restart, a follower or a truncation rebuilds exactly the same index.
//!
//! - Last stable offset: the first offset of the earliest open
//!   transaction, or the high watermark if it is lower (or none is open).
//!   read_committed consumers read below it only.
//! - Aborted transactions: `(producer id, first offset, marker offset)` of
//!   every transaction that ended with an ABORT marker; a read_committed
//!   fetch gets those overlapping the range it returns, and drops their
//!   records.
//! - Markers: one older than the last written for the producer (lower
//!   coordinator epoch) is TRANSACTION_COORDINATOR_FENCED, one of an older
//!   producer epoch INVALID_PRODUCER_EPOCH (Kafka's
//!   `ProducerAppendInfo.appendEndTxnMarker`).

use std::collections::BTreeMap;

use rill_protocol::records::control::{ControlRecordType, EndTxnMarker};
use rill_protocol::records::{BatchView, DecodeOptions};
use rill_protocol::ErrorCode;

use crate::log::StoredBatch;

/// A transaction that ended with an ABORT marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of its ABORT marker.
    pub last_offset: i64,
}

/// A commit or abort marker, read from a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

impl Marker {
    /// The marker a control batch holds (`None`: not a commit/abort marker).
    pub fn of(batch: &StoredBatch) -> Option<Marker> {
        if !batch.control {
            return None;
        }
        let view = BatchView::decode(&batch.bytes, &DecodeOptions::default()).ok()?;
        let record = view.records().next()?.ok()?;
        let (_, kind) = ControlRecordType::parse_key(record.key?).ok()?;
        let commit = match kind {
            ControlRecordType::Commit => true,
            ControlRecordType::Abort => false,
            _ => return None,
        };
        let value = EndTxnMarker::parse(record.value?).ok()?;
        Some(Marker { commit, coordinator_epoch: value.coordinator_epoch })
    }
}

#[derive(Debug, Clone, Default)]
pub struct TxnIndex {
    /// Producer id -> first offset of its open transaction.
    open: BTreeMap<i64, i64>,
    /// In marker offset order.
    aborted: Vec<AbortedTxn>,
    /// Producer id -> (largest producer epoch seen, coordinator epoch of its last marker).
    producers: BTreeMap<i64, (i16, i32)>,
}

impl TxnIndex {
    /// Rebuilds the index from a log.
    pub fn from_log(batches: &[StoredBatch]) -> TxnIndex {
        let mut index = TxnIndex::default();
        for b in batches {
            index.observe(b);
        }
        index
    }

    /// Records an appended batch.
    pub fn observe(&mut self, b: &StoredBatch) {
        if b.producer_id < 0 || !b.transactional {
            return;
        }
        let entry = self.producers.entry(b.producer_id).or_insert((b.producer_epoch, -1));
        entry.0 = entry.0.max(b.producer_epoch);
        if !b.control {
            self.open.entry(b.producer_id).or_insert(b.base_offset);
            return;
        }
        let Some(marker) = Marker::of(b) else { return };
        entry.1 = entry.1.max(marker.coordinator_epoch);
        let first = self.open.remove(&b.producer_id);
        if let (false, Some(first_offset)) = (marker.commit, first) {
            self.aborted.push(AbortedTxn { producer_id: b.producer_id, first_offset, last_offset: b.base_offset });
        }
    }

    /// Whether a marker for `b.producer_id` may be written now.
    pub fn check_marker(&self, b: &StoredBatch) -> Result<(), ErrorCode> {
        let Some(marker) = Marker::of(b) else {
            return Err(ErrorCode::INVALID_RECORD);
        };
        match self.producers.get(&b.producer_id) {
            Some((epoch, _)) if b.producer_epoch < *epoch => Err(ErrorCode::INVALID_PRODUCER_EPOCH),
            Some((_, coordinator_epoch)) if marker.coordinator_epoch < *coordinator_epoch => Err(ErrorCode::TRANSACTION_COORDINATOR_FENCED),
            _ => Ok(()),
        }
    }

    /// The last stable offset given the high watermark.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.open.values().copied().min().map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// Aborted transactions with records in `[from, to)`.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        // Sorted by marker offset: skip those that ended before `from`.
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted.iter().skip(start).filter(|a| a.first_offset < to).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::split_batches;
    use bytes::BytesMut;
    use rill_protocol::records::control::end_txn_marker;
    use rill_protocol::records::RecordBatchBuilder;

    fn data(pid: i64, offset: i64, n: usize) -> StoredBatch {
        let mut b = RecordBatchBuilder::new(offset).producer(pid, 0, 0).transactional(true);
        for _ in 0..n {
            b.append(1, None, Some(b"v"), &[]).unwrap();
        }
        split_batches(&b.finish().unwrap().freeze()).unwrap().remove(0)
    }

    fn marker(pid: i64, epoch: i16, offset: i64, commit: bool, coordinator_epoch: i32) -> StoredBatch {
        let bytes = end_txn_marker(BytesMut::new(), offset, pid, epoch, commit, coordinator_epoch, -1).unwrap().freeze();
        split_batches(&bytes).unwrap().remove(0)
    }

    #[test]
    fn last_stable_offset_and_aborted_ranges() {
        let mut index = TxnIndex::default();
        assert_eq!(index.last_stable_offset(5), 5);
        index.observe(&data(1, 0, 2)); // 0-1
        index.observe(&data(2, 2, 2)); // 2-3
        assert_eq!(index.last_stable_offset(4), 0, "producer 1's open transaction holds the LSO");
        assert_eq!(Marker::of(&marker(1, 0, 4, false, 0)), Some(Marker { commit: false, coordinator_epoch: 0 }));
        index.observe(&marker(1, 0, 4, false, 0));
        assert_eq!(index.last_stable_offset(5), 2);
        index.observe(&marker(2, 0, 5, true, 0));
        assert_eq!(index.last_stable_offset(6), 6);
        assert_eq!(index.last_stable_offset(3), 3, "never above the high watermark");
        let aborted = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 4 };
        assert_eq!(index.aborted_between(0, 6), vec![aborted]);
        assert_eq!(index.aborted_between(4, 6), vec![aborted]);
        assert!(index.aborted_between(5, 6).is_empty());
        // Rebuilt from the same log, the index is the same.
        let log = [data(1, 0, 2), data(2, 2, 2), marker(1, 0, 4, false, 0), marker(2, 0, 5, true, 0)];
        let again = TxnIndex::from_log(&log);
        assert_eq!((again.last_stable_offset(6), again.aborted_between(0, 6)), (6, vec![aborted]));
    }

    #[test]
    fn stale_markers_are_fenced() {
        let mut index = TxnIndex::default();
        index.observe(&data(1, 0, 1));
        index.observe(&marker(1, 0, 1, true, 3));
        assert_eq!(index.check_marker(&marker(1, 0, 2, true, 2)), Err(ErrorCode::TRANSACTION_COORDINATOR_FENCED));
        assert_eq!(index.check_marker(&marker(1, 0, 2, true, 3)), Ok(()));
        index.observe(&marker(1, 1, 2, false, 4));
        assert_eq!(index.check_marker(&marker(1, 0, 3, true, 5)), Err(ErrorCode::INVALID_PRODUCER_EPOCH));
        assert_eq!(index.check_marker(&data(1, 3, 1)), Err(ErrorCode::INVALID_RECORD));
    }
}

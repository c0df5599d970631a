//! Idempotent producer state per partition (KIP-98): for each producer id,
//! its epoch and the last five batches it appended, enough to recognise a
//! retried batch (Kafka keeps five because a producer has at most five
//! requests in flight per connection).

use std::collections::{BTreeMap, VecDeque};

use rill_protocol::ErrorCode;

use crate::log::StoredBatch;

/// Batches remembered per producer (`max.in.flight.requests.per.connection` <= 5).
pub const CACHED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachedBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

/// What the sequence check decided for one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New in sequence: append it.
    Append,
    /// A retry of a batch already in the log at these offsets: answer with them, do not append.
    Duplicate {
        base_offset: i64,
        last_offset: i64,
    },
    Reject(ErrorCode),
}

/// Producer id -> state, for one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerStates {
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Rebuilds the state from a log (a broker (re)starting or a follower truncating).
    pub fn from_log(batches: &[StoredBatch]) -> ProducerStates {
        let mut s = ProducerStates::default();
        for b in batches {
            s.observe(b);
        }
        s
    }

    /// The state of the producers that wrote `batches` alone: what a
    /// request's batches are checked against, each seeing the ones before
    /// it, before any is appended. Cloning the whole map instead cost every
    /// produce request as much as the partition has producers.
    pub fn of_writers(&self, batches: &[StoredBatch]) -> ProducerStates {
        let producers =
            batches.iter().filter_map(|b| self.producers.get_key_value(&b.producer_id)).map(|(id, entry)| (*id, entry.clone())).collect();
        ProducerStates { producers }
    }

    /// Checks a batch a producer sent (Kafka's `ProducerAppendInfo`).
    pub fn check(&self, b: &StoredBatch) -> SequenceCheck {
        if b.producer_id < 0 || b.control {
            return SequenceCheck::Append;
        }
        let Some(entry) = self.producers.get(&b.producer_id) else {
            // Unknown producer: its first batch must start at 0.
            return if b.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        };
        if b.producer_epoch < entry.epoch {
            return SequenceCheck::Reject(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if b.producer_epoch > entry.epoch {
            // A bumped epoch restarts the sequence at 0.
            return if b.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        if let Some(c) = entry.batches.iter().find(|c| c.first_sequence == b.base_sequence && c.last_sequence == b.last_sequence()) {
            return SequenceCheck::Duplicate { base_offset: c.base_offset, last_offset: c.last_offset };
        }
        let Some(last) = entry.batches.back() else {
            return SequenceCheck::Append;
        };
        let expected = if last.last_sequence == i32::MAX { 0 } else { last.last_sequence + 1 };
        if b.base_sequence == expected {
            SequenceCheck::Append
        } else if b.base_sequence < expected && b.base_sequence >= 0 {
            // An old batch no longer cached: already written, but its offsets are unknown.
            SequenceCheck::Reject(ErrorCode::DUPLICATE_SEQUENCE_NUMBER)
        } else {
            SequenceCheck::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        }
    }

    /// Records an appended batch.
    pub fn observe(&mut self, b: &StoredBatch) {
        if b.producer_id < 0 {
            return;
        }
        let entry = self.producers.entry(b.producer_id).or_default();
        if b.producer_epoch > entry.epoch {
            entry.epoch = b.producer_epoch;
            entry.batches.clear();
        }
        if b.control || b.base_sequence < 0 {
            return;
        }
        entry.batches.push_back(CachedBatch {
            first_sequence: b.base_sequence,
            last_sequence: b.last_sequence(),
            base_offset: b.base_offset,
            last_offset: b.last_offset,
        });
        while entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn b(pid: i64, epoch: i16, seq: i32, count: i64, offset: i64) -> StoredBatch {
        StoredBatch {
            base_offset: offset,
            last_offset: offset + count - 1,
            leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count as i32,
            transactional: false,
            control: false,
            max_timestamp: 0,
            bytes: Bytes::new(),
        }
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(&b(1, 0, 3, 1, 0)), SequenceCheck::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
        assert_eq!(s.check(&b(1, 0, 0, 2, 0)), SequenceCheck::Append);
        s.observe(&b(1, 0, 0, 2, 0));
        // The same batch again: a duplicate with its original offsets.
        assert_eq!(s.check(&b(1, 0, 0, 2, 9)), SequenceCheck::Duplicate { base_offset: 0, last_offset: 1 });
        assert_eq!(s.check(&b(1, 0, 2, 1, 2)), SequenceCheck::Append);
        assert_eq!(s.check(&b(1, 0, 5, 1, 2)), SequenceCheck::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
        for i in 0..6 {
            s.observe(&b(1, 0, 2 + i, 1, 2 + i as i64));
        }
        // Sequence 0-1 fell out of the cache: a duplicate whose offsets are unknown.
        assert_eq!(s.check(&b(1, 0, 0, 2, 9)), SequenceCheck::Reject(ErrorCode::DUPLICATE_SEQUENCE_NUMBER));
        // A new epoch restarts at 0; an older epoch is fenced.
        assert_eq!(s.check(&b(1, 1, 0, 1, 20)), SequenceCheck::Append);
        s.observe(&b(1, 1, 0, 1, 20));
        assert_eq!(s.check(&b(1, 0, 8, 1, 21)), SequenceCheck::Reject(ErrorCode::INVALID_PRODUCER_EPOCH));
        // Rebuilt from the log, the state is the same.
        let again = ProducerStates::from_log(&[b(1, 0, 0, 2, 0)]);
        assert_eq!(again.check(&b(1, 0, 0, 2, 5)), SequenceCheck::Duplicate { base_offset: 0, last_offset: 1 });
    }

    // A request's batches are checked against their producers' state
    // alone, and decide as they would against the whole map.
    #[test]
    fn the_writers_state_decides_as_the_whole_state() {
        let mut s = ProducerStates::default();
        for pid in 1..=50 {
            s.observe(&b(pid, 0, 0, 2, pid * 10));
        }
        let request = [b(7, 0, 2, 1, 0), b(7, 0, 3, 1, 0), b(9, 0, 0, 2, 0), b(99, 0, 0, 1, 0), b(12, 0, 5, 1, 0)];
        let writers = s.of_writers(&request);
        assert_eq!(writers.producers.keys().copied().collect::<Vec<_>>(), vec![7, 9, 12]);
        let (mut whole, mut part) = (s.clone(), writers);
        for batch in &request {
            assert_eq!(part.check(batch), whole.check(batch), "{batch:?}");
            whole.observe(batch);
            part.observe(batch);
        }
        assert_eq!(s.of_writers(&request[..2]).check(&request[1]), SequenceCheck::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
    }
}

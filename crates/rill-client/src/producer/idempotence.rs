//! Idempotence bookkeeping (KIP-98, KIP-360): the producer id and epoch,
//! per-partition sequence numbers, and what a sequence-related error means.

use std::collections::BTreeMap;

use rill_protocol::ErrorCode;

use super::record::TopicPartition;

/// The producer id and epoch from InitProducerId; `NONE` before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl ProducerIdentity {
    pub const NONE: ProducerIdentity = ProducerIdentity { producer_id: -1, producer_epoch: -1 };

    pub fn is_set(self) -> bool {
        self.producer_id >= 0
    }
}

/// Java's `DefaultRecordBatch.incrementSequence`: sequences wrap from
/// `i32::MAX` to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Per partition: the next sequence to hand out and the last one the broker
/// acknowledged.
#[derive(Debug, Default)]
pub struct Sequences {
    next: BTreeMap<TopicPartition, i32>,
    last_acked: BTreeMap<TopicPartition, i32>,
}

impl Sequences {
    /// The base sequence for a new batch of `count` records.
    pub fn assign(&mut self, tp: &TopicPartition, count: usize) -> i32 {
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        let next = self.next.entry(tp.clone()).or_insert(0);
        let base = *next;
        *next = increment_sequence(base, count);
        base
    }

    /// The broker acknowledged the batch `base .. base + count`.
    pub fn acked(&mut self, tp: &TopicPartition, base: i32, count: usize) {
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        let last = increment_sequence(base, count.max(1)) - 1;
        let last = if last < 0 { i32::MAX } else { last };
        self.last_acked.insert(tp.clone(), last);
    }

    /// Whether `base` directly follows the last acknowledged sequence (or is
    /// 0 when nothing was acknowledged): if so, the broker's
    /// OUT_OF_ORDER_SEQUENCE_NUMBER means it lost data; if not, an earlier
    /// batch is still unresolved and this one just has to be sent again after it.
    pub fn is_next_expected(&self, tp: &TopicPartition, base: i32) -> bool {
        match self.last_acked.get(tp) {
            Some(last) => increment_sequence(*last, 1) == base,
            None => base == 0,
        }
    }

    /// After an epoch bump every partition starts again at 0 (KIP-360).
    pub fn reset(&mut self) {
        self.next.clear();
        self.last_acked.clear();
    }
}

/// What to do with a batch the broker answered with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Written: DUPLICATE_SEQUENCE_NUMBER means the broker already has this
    /// batch (an earlier attempt was written; its answer was lost).
    Delivered,
    /// Send again (same sequence) after the retry backoff.
    Retry,
    /// Bump the epoch (KIP-360), then send again under the new epoch.
    BumpThenRetry,
    /// Bump the epoch and fail this batch: the broker lost data before it.
    BumpThenFail,
    /// The producer is fenced: fail everything.
    Fenced,
    /// Fail this batch.
    Fail,
}

/// The idempotent producer's reading of a partition error.
///
/// `next_expected`: whether the batch's base sequence follows the last
/// acknowledged one. `transactional`: transactional producers cannot bump
/// on their own in the middle of a transaction; sequence errors fail the
/// batch (and with it the transaction, which must be aborted).
pub fn classify(code: ErrorCode, idempotent: bool, next_expected: bool, transactional: bool) -> ErrorAction {
    match code {
        ErrorCode::NONE => ErrorAction::Delivered,
        ErrorCode::DUPLICATE_SEQUENCE_NUMBER if idempotent => ErrorAction::Delivered,
        ErrorCode::PRODUCER_FENCED | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => ErrorAction::Fenced,
        ErrorCode::INVALID_PRODUCER_EPOCH if transactional => ErrorAction::Fenced,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER | ErrorCode::UNKNOWN_PRODUCER_ID if idempotent => {
            if !next_expected {
                // An earlier batch of the partition failed and will be sent
                // again first; this one follows it.
                ErrorAction::Retry
            } else if transactional {
                ErrorAction::Fail
            } else if code == ErrorCode::UNKNOWN_PRODUCER_ID {
                // The broker dropped this producer's state (its records were
                // deleted by retention): nothing was lost, start over under a new epoch.
                ErrorAction::BumpThenRetry
            } else {
                ErrorAction::BumpThenFail
            }
        }
        code if code.is_retriable() => ErrorAction::Retry,
        _ => ErrorAction::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_count_per_partition_and_wrap_like_java() {
        let mut s = Sequences::default();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        assert_eq!(s.assign(&a, 3), 0);
        assert_eq!(s.assign(&a, 2), 3);
        assert_eq!(s.assign(&b, 10), 0);
        assert_eq!(s.assign(&a, 1), 5);
        assert!(s.is_next_expected(&a, 0));
        assert!(!s.is_next_expected(&a, 3));
        s.acked(&a, 0, 3);
        assert!(s.is_next_expected(&a, 3));
        assert!(!s.is_next_expected(&a, 5));
        s.acked(&a, 3, 2);
        assert!(s.is_next_expected(&a, 5));
        s.reset();
        assert_eq!(s.assign(&a, 1), 0);
        assert!(s.is_next_expected(&a, 0));

        assert_eq!(increment_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 2, 5), 2);
        s.next.insert(a.clone(), i32::MAX - 1);
        assert_eq!(s.assign(&a, 4), i32::MAX - 1);
        assert_eq!(s.assign(&a, 1), 2);
        s.acked(&a, i32::MAX - 1, 2);
        assert!(s.is_next_expected(&a, 0));
    }

    #[test]
    fn sequence_errors_follow_kip_360() {
        use ErrorAction::*;
        let c = classify;
        assert_eq!(c(ErrorCode::NONE, true, true, false), Delivered);
        assert_eq!(c(ErrorCode::DUPLICATE_SEQUENCE_NUMBER, true, true, false), Delivered);
        assert_eq!(c(ErrorCode::DUPLICATE_SEQUENCE_NUMBER, false, true, false), Fail);
        // An earlier batch is unresolved: just retry after it.
        assert_eq!(c(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, true, false, false), Retry);
        assert_eq!(c(ErrorCode::UNKNOWN_PRODUCER_ID, true, false, false), Retry);
        // The next expected batch: the broker lost state.
        assert_eq!(c(ErrorCode::UNKNOWN_PRODUCER_ID, true, true, false), BumpThenRetry);
        assert_eq!(c(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, true, true, false), BumpThenFail);
        // Inside a transaction: the transaction fails instead.
        assert_eq!(c(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, true, true, true), Fail);
        assert_eq!(c(ErrorCode::INVALID_PRODUCER_EPOCH, true, true, true), Fenced);
        assert_eq!(c(ErrorCode::PRODUCER_FENCED, true, true, true), Fenced);
        assert_eq!(c(ErrorCode::INVALID_PRODUCER_EPOCH, true, true, false), Fail);
        // Metadata and availability errors are retried.
        for code in [ErrorCode::NOT_LEADER_OR_FOLLOWER, ErrorCode::NOT_ENOUGH_REPLICAS, ErrorCode::REQUEST_TIMED_OUT] {
            assert_eq!(c(code, true, true, false), Retry, "{code}");
        }
        assert_eq!(c(ErrorCode::MESSAGE_TOO_LARGE, true, true, false), Fail);
    }
}

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

/// How far `sequence` lies after `base` in the wrapping sequence space
/// (0 ..= i32::MAX, see [`increment_sequence`]).
fn distance(base: i32, sequence: i32) -> i64 {
    (i64::from(sequence) - i64::from(base)).rem_euclid(i64::from(i32::MAX) + 1)
}

/// Per partition: which producer id and epoch its numbering belongs to, the
/// next sequence to hand out, the last one the broker acknowledged, and
/// whether a sequenced batch was given up without an acknowledgement.
#[derive(Debug, Clone)]
struct PartitionSequences {
    identity: ProducerIdentity,
    next: i32,
    last_acked: Option<i32>,
    /// A batch with a sequence failed (expired, or was refused) while its
    /// outcome on the broker may be unknown: the sequence after it is in
    /// doubt until a later batch is acknowledged or the epoch is bumped.
    unresolved: bool,
}

/// Sequence numbers per partition (KIP-98), each partition numbered under
/// the producer id and epoch it started with: after a KIP-360 epoch bump a
/// partition keeps its old numbering until its batches sent under the old
/// epoch are resolved (Java's `TransactionManager` does the same), so a
/// batch whose outcome is unknown is never sent again under a new number.
#[derive(Debug, Default)]
pub struct Sequences {
    partitions: BTreeMap<TopicPartition, PartitionSequences>,
}

impl Sequences {
    /// The base sequence for a new batch of `count` records under
    /// `identity`; a partition numbered under another identity (and with
    /// nothing left in flight under it, which the caller checks) starts again at 0.
    pub fn assign(&mut self, tp: &TopicPartition, identity: ProducerIdentity, count: usize) -> i32 {
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        let entry = self.partitions.entry(tp.clone()).or_insert_with(|| PartitionSequences::starting(identity));
        if entry.identity != identity {
            *entry = PartitionSequences::starting(identity);
        }
        let base = entry.next;
        entry.next = increment_sequence(base, count);
        base
    }

    /// The broker acknowledged the batch `base .. base + count` sent under `identity`.
    pub fn acked(&mut self, tp: &TopicPartition, identity: ProducerIdentity, base: i32, count: usize) {
        if self.is_written(tp, identity, base, count) {
            // An answer for a batch an acknowledgement already covered: the
            // last acknowledged sequence never moves back.
            return;
        }
        let Some(entry) = self.partitions.get_mut(tp).filter(|e| e.identity == identity) else {
            return;
        };
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        let last = increment_sequence(base, count.max(1)) - 1;
        let last = if last < 0 { i32::MAX } else { last };
        entry.last_acked = Some(last);
        // A later batch written proves every earlier sequence was written.
        if increment_sequence(last, 1) == entry.next {
            entry.unresolved = false;
        }
    }

    /// Whether the batch `base .. base + count` numbered under `identity`
    /// lies wholly at or before the last sequence the broker acknowledged
    /// under the same producer id and epoch. The broker accepts a producer's
    /// sequences only in order (KIP-98), so such a batch was written, whatever
    /// its own answer said (lost, timed out, or OUT_OF_ORDER_SEQUENCE_NUMBER
    /// once it fell out of the five batches the broker remembers).
    /// Wrap-aware: the acknowledged sequence must lie between the batch's
    /// last sequence and the next one to be handed out.
    pub fn is_written(&self, tp: &TopicPartition, identity: ProducerIdentity, base: i32, count: usize) -> bool {
        let Some(entry) = self.partitions.get(tp).filter(|e| e.identity == identity) else {
            return false;
        };
        let Some(last_acked) = entry.last_acked else {
            return false;
        };
        let count = i64::try_from(count.max(1)).unwrap_or(i64::MAX);
        let acked = distance(base, last_acked);
        // `next` lies past every batch handed out under this numbering.
        let next = distance(base, entry.next);
        acked >= count - 1 && acked < next
    }

    /// Whether `base` directly follows the last acknowledged sequence (or is
    /// 0 when nothing was acknowledged): if so, the broker's
    /// OUT_OF_ORDER_SEQUENCE_NUMBER means it lost data; if not, an earlier
    /// batch is still unresolved and this one just has to be sent again after it.
    pub fn is_next_expected(&self, tp: &TopicPartition, base: i32) -> bool {
        match self.partitions.get(tp).and_then(|e| e.last_acked) {
            Some(last) => increment_sequence(last, 1) == base,
            None => base == 0,
        }
    }

    /// A batch sent under `identity` was given up without an acknowledgement.
    pub fn mark_unresolved(&mut self, tp: &TopicPartition, identity: ProducerIdentity) {
        if let Some(entry) = self.partitions.get_mut(tp).filter(|e| e.identity == identity) {
            entry.unresolved = true;
        }
    }

    pub fn is_unresolved(&self, tp: &TopicPartition) -> bool {
        self.partitions.get(tp).is_some_and(|e| e.unresolved)
    }

    /// Partitions with a sequence in doubt.
    pub fn unresolved(&self) -> Vec<TopicPartition> {
        self.partitions.iter().filter(|(_, e)| e.unresolved).map(|(tp, _)| tp.clone()).collect()
    }

    /// Whether every sequence handed out on `tp` was acknowledged.
    pub fn all_acked(&self, tp: &TopicPartition) -> bool {
        self.partitions.get(tp).is_none_or(|e| match e.last_acked {
            Some(last) => increment_sequence(last, 1) == e.next,
            None => e.next == 0,
        })
    }

    /// The broker has nothing of `tp` past its last acknowledgement: resolved as is.
    pub fn resolve(&mut self, tp: &TopicPartition) {
        if let Some(entry) = self.partitions.get_mut(tp) {
            entry.unresolved = false;
        }
    }

    /// Numbers `tp` from 0 under `identity` (its batches are renumbered by the caller).
    pub fn restart(&mut self, tp: &TopicPartition, identity: ProducerIdentity) {
        self.partitions.insert(tp.clone(), PartitionSequences::starting(identity));
    }

    /// Every partition starts again at 0 (a new producer id, e.g. `init_transactions`).
    pub fn reset(&mut self) {
        self.partitions.clear();
    }
}

impl PartitionSequences {
    fn starting(identity: ProducerIdentity) -> Self {
        PartitionSequences { identity, next: 0, last_acked: None, unresolved: false }
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

    const E0: ProducerIdentity = ProducerIdentity { producer_id: 7, producer_epoch: 0 };
    const E1: ProducerIdentity = ProducerIdentity { producer_id: 7, producer_epoch: 1 };

    #[test]
    fn sequences_count_per_partition_and_wrap_like_java() {
        let mut s = Sequences::default();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        assert_eq!(s.assign(&a, E0, 3), 0);
        assert_eq!(s.assign(&a, E0, 2), 3);
        assert_eq!(s.assign(&b, E0, 10), 0);
        assert_eq!(s.assign(&a, E0, 1), 5);
        assert!(s.is_next_expected(&a, 0));
        assert!(!s.is_next_expected(&a, 3));
        s.acked(&a, E0, 0, 3);
        assert!(s.is_next_expected(&a, 3));
        assert!(!s.is_next_expected(&a, 5));
        s.acked(&a, E0, 3, 2);
        assert!(s.is_next_expected(&a, 5));
        // A partition numbered under an earlier epoch starts at 0 under the new one.
        assert_eq!(s.assign(&a, E1, 1), 0);
        assert!(s.is_next_expected(&a, 0));
        // An acknowledgement under another epoch says nothing about this numbering.
        s.acked(&a, E0, 6, 1);
        assert!(s.is_next_expected(&a, 0));
        s.reset();
        assert_eq!(s.assign(&a, E0, 1), 0);

        assert_eq!(increment_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 2, 5), 2);
        s.partitions.get_mut(&a).unwrap().next = i32::MAX - 1;
        assert_eq!(s.assign(&a, E0, 4), i32::MAX - 1);
        assert_eq!(s.assign(&a, E0, 1), 2);
        s.acked(&a, E0, i32::MAX - 1, 2);
        assert!(s.is_next_expected(&a, 0));
    }

    #[test]
    fn a_failed_batch_leaves_its_partition_in_doubt_until_a_later_ack_or_a_restart() {
        let mut s = Sequences::default();
        let a = TopicPartition::new("t", 0);
        assert_eq!(s.assign(&a, E0, 2), 0);
        assert_eq!(s.assign(&a, E0, 2), 2);
        // The first batch expired in flight: written or not, unknown.
        s.mark_unresolved(&a, E0);
        assert!(s.is_unresolved(&a));
        assert_eq!(s.unresolved(), std::slice::from_ref(&a));
        assert!(!s.all_acked(&a));
        // The second was acknowledged: the broker wrote the first too.
        s.acked(&a, E0, 2, 2);
        assert!(!s.is_unresolved(&a));
        assert!(s.all_acked(&a));
        // A doubt under another epoch is not this numbering's.
        s.mark_unresolved(&a, E1);
        assert!(!s.is_unresolved(&a));
        s.mark_unresolved(&a, E0);
        s.restart(&a, E1);
        assert!(!s.is_unresolved(&a));
        assert_eq!(s.assign(&a, E1, 1), 0);
    }

    /// Issue 4 (seen against Kafka 4.3.1 under load): batch 0 failed
    /// without an answer while later batches were acknowledged; its resends
    /// got OUT_OF_ORDER_SEQUENCE_NUMBER (it had left the broker's five
    /// remembered batches) and were retried until delivery.timeout.ms. A
    /// later acknowledgement under the same id and epoch proves it written.
    #[test]
    fn a_later_acknowledgement_proves_earlier_batches_written_across_the_wrap() {
        let mut s = Sequences::default();
        let a = TopicPartition::new("t", 0);
        assert_eq!(s.assign(&a, E0, 3), 0);
        assert_eq!(s.assign(&a, E0, 2), 3);
        assert_eq!(s.assign(&a, E0, 4), 5);
        assert!(!s.is_written(&a, E0, 0, 3), "nothing acknowledged yet");
        s.acked(&a, E0, 3, 2);
        assert!(s.is_written(&a, E0, 0, 3), "sequence 4 acknowledged: 0..=2 were written before it");
        assert!(s.is_written(&a, E0, 3, 2));
        assert!(!s.is_written(&a, E0, 5, 4), "after the acknowledgement");
        assert!(!s.is_written(&a, E0, 4, 2), "partly after it");
        assert!(!s.is_written(&a, E1, 0, 3), "another epoch's numbering proves nothing");
        assert!(!s.is_written(&TopicPartition::new("t", 1), E0, 0, 3));
        // The late answer for batch 0 does not move the acknowledgement back.
        s.acked(&a, E0, 0, 3);
        assert!(s.is_next_expected(&a, 5));
        assert!(s.is_written(&a, E0, 3, 2));

        // Across the wrap from i32::MAX to 0.
        let b = TopicPartition::new("t", 1);
        assert_eq!(s.assign(&b, E0, 1), 0);
        s.partitions.get_mut(&b).unwrap().next = i32::MAX - 2;
        assert_eq!(s.assign(&b, E0, 2), i32::MAX - 2);
        assert_eq!(s.assign(&b, E0, 3), i32::MAX);
        assert_eq!(s.assign(&b, E0, 2), 2);
        s.acked(&b, E0, i32::MAX, 3);
        assert!(s.is_written(&b, E0, i32::MAX - 2, 2), "before the wrap");
        assert!(s.is_written(&b, E0, i32::MAX, 3), "across it");
        assert!(!s.is_written(&b, E0, 2, 2), "after the acknowledgement, past the wrap");
        s.acked(&b, E0, i32::MAX - 2, 2);
        assert!(s.is_next_expected(&b, 2), "a late answer before the wrap does not move it back");
        // A restart (new numbering) forgets what was acknowledged.
        s.restart(&b, E1);
        assert!(!s.is_written(&b, E1, 0, 1));
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

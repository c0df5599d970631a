//! Consumer reads within one generation (Jepsen's Kafka checker):
//! - no poll-skip: two records a consumer polls one after the other are
//!   adjacent in the final log (nothing it should have seen lies between);
//! - no non-monotonic poll: offsets only go up, except back to where the
//!   log diverged from what the consumer had read (a truncation it caught,
//!   KIP-320: it read records the log later lost);
//! - no missed record (across consumers and generations): every record of
//!   the final log below the furthest one read was read by some consumer.
//!
//! A rebalance (new generation) may legitimately rewind to the committed
//! offset, so all are checked per (consumer, generation, partition).

use std::collections::{BTreeMap, BTreeSet};

use super::{TxnOutcomes, Violation};
use crate::history::{Event, FinalLog, History, Isolation, Polled, RecordId, TopicPartition};

/// Every (consumer, generation, partition)'s polled records, in poll order,
/// with the isolation they were read with.
fn polled(history: &History) -> BTreeMap<(u32, i32, TopicPartition), (Isolation, Vec<Polled>)> {
    let mut out: BTreeMap<(u32, i32, TopicPartition), (Isolation, Vec<Polled>)> = BTreeMap::new();
    for event in &history.events {
        if let Event::Poll { consumer, generation, isolation, tp, records, .. } = event {
            let entry = out.entry((*consumer, *generation, tp.clone())).or_insert((*isolation, Vec::new()));
            entry.1.extend(records.iter().cloned());
        }
    }
    out
}

/// The final log's record at `offset`, if any.
pub(super) fn log_id_at(log: &FinalLog, tp: &TopicPartition, offset: i64) -> Option<RecordId> {
    let records = log.records(tp);
    records.binary_search_by_key(&offset, |r| r.offset).ok().and_then(|i| records.get(i)).map(|r| r.id)
}

/// Whether `polled` holds, at `offset` or above, a record the final log
/// does not hold there (the consumer read what a truncation removed).
fn read_lost_data_from(polled: &[Polled], log: &FinalLog, tp: &TopicPartition, offset: i64) -> bool {
    polled.iter().any(|r| r.offset >= offset && log_id_at(log, tp, r.offset) != Some(r.id))
}

/// No missed record: every record of the final log below the highest offset
/// any consumer read from the final log was read by some consumer (the union
/// of the reads covers the log; records the log later lost do not count).
/// A consumer that misses a truncation (KIP-320) — fetching on, or resuming
/// from an offset committed before it, past records the new leader wrote
/// below that point — leaves such records unread by everyone.
pub fn missed_records(history: &History, log: &FinalLog) -> Vec<Violation> {
    let txns = TxnOutcomes::of(history);
    let mut read: BTreeMap<&TopicPartition, BTreeSet<(i64, RecordId)>> = BTreeMap::new();
    // Per partition: the highest offset read from the final log, and by whom.
    let mut furthest: BTreeMap<&TopicPartition, (i64, u32, i32, Isolation)> = BTreeMap::new();
    for event in &history.events {
        let Event::Poll { consumer, generation, isolation, tp, records, .. } = event else { continue };
        for r in records {
            read.entry(tp).or_default().insert((r.offset, r.id));
            if log_id_at(log, tp, r.offset) == Some(r.id) && furthest.get(tp).is_none_or(|(o, ..)| r.offset > *o) {
                furthest.insert(tp, (r.offset, *consumer, *generation, *isolation));
            }
        }
    }
    let mut out = Vec::new();
    for (tp, (furthest_offset, consumer, generation, isolation)) in furthest {
        let seen = read.get(tp);
        let missed = log
            .records(tp)
            .iter()
            .take_while(|r| r.offset < furthest_offset)
            .filter(|r| isolation == Isolation::ReadUncommitted || txns.must_be_visible(&r.id))
            .find(|r| seen.is_none_or(|s| !s.contains(&(r.offset, r.id))));
        if let Some(r) = missed {
            out.push(Violation::MissedRecord {
                tp: tp.clone(),
                offset: r.offset,
                id: r.id,
                consumer,
                generation,
                read_offset: furthest_offset,
            });
        }
    }
    out
}

pub fn poll_skips(history: &History, log: &FinalLog) -> Vec<Violation> {
    let txns = TxnOutcomes::of(history);
    let mut out = Vec::new();
    for ((consumer, generation, tp), (isolation, polled)) in polled(history) {
        let offsets: Vec<i64> = polled.iter().map(|r| r.offset).collect();
        // The records this reader must not jump over.
        let must_see: Vec<i64> = log
            .records(&tp)
            .iter()
            .filter(|r| isolation == Isolation::ReadUncommitted || txns.must_be_visible(&r.id))
            .map(|r| r.offset)
            .collect();
        for pair in offsets.windows(2) {
            let [from, to] = pair else { continue };
            if to <= from {
                continue; // non_monotonic_polls reports these
            }
            let start = must_see.partition_point(|o| o <= from);
            if let Some(skipped) = must_see.get(start).filter(|o| *o < to) {
                out.push(Violation::PollSkip {
                    consumer,
                    generation,
                    tp: tp.clone(),
                    from_offset: *from,
                    to_offset: *to,
                    skipped_offset: *skipped,
                });
            }
        }
    }
    out
}

pub fn non_monotonic_polls(history: &History, log: &FinalLog) -> Vec<Violation> {
    let mut out = Vec::new();
    for ((consumer, generation, tp), (_, polled)) in polled(history) {
        for (i, pair) in polled.windows(2).enumerate() {
            let [previous, next] = pair else { continue };
            if next.offset > previous.offset {
                continue;
            }
            // Back to a divergence: what it had read from there on was lost.
            if read_lost_data_from(polled.get(..=i).unwrap_or_default(), log, &tp, next.offset) {
                continue;
            }
            out.push(Violation::NonMonotonicPoll {
                consumer,
                generation,
                tp: tp.clone(),
                previous_offset: previous.offset,
                offset: next.offset,
            });
        }
    }
    out
}

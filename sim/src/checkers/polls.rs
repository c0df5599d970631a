//! Consumer reads within one generation (Jepsen's Kafka checker):
//! - no poll-skip: two records a consumer polls one after the other are
//!   adjacent in the final log (nothing it should have seen lies between);
//! - no non-monotonic poll: offsets only go up.
//!
//! A rebalance (new generation) may legitimately rewind to the committed
//! offset, so both are checked per (consumer, generation, partition).

use std::collections::BTreeMap;

use super::{TxnOutcomes, Violation};
use crate::history::{Event, FinalLog, History, Isolation, TopicPartition};

/// Every (consumer, generation, partition)'s polled offsets, in poll order,
/// with the isolation they were read with.
fn polled(history: &History) -> BTreeMap<(u32, i32, TopicPartition), (Isolation, Vec<i64>)> {
    let mut out: BTreeMap<(u32, i32, TopicPartition), (Isolation, Vec<i64>)> = BTreeMap::new();
    for event in &history.events {
        if let Event::Poll { consumer, generation, isolation, tp, records, .. } = event {
            let entry = out.entry((*consumer, *generation, tp.clone())).or_insert((*isolation, Vec::new()));
            entry.1.extend(records.iter().map(|r| r.offset));
        }
    }
    out
}

pub fn poll_skips(history: &History, log: &FinalLog) -> Vec<Violation> {
    let txns = TxnOutcomes::of(history);
    let mut out = Vec::new();
    for ((consumer, generation, tp), (isolation, offsets)) in polled(history) {
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

pub fn non_monotonic_polls(history: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    for ((consumer, generation, tp), (_, offsets)) in polled(history) {
        for pair in offsets.windows(2) {
            let [previous, offset] = pair else { continue };
            if offset <= previous {
                out.push(Violation::NonMonotonicPoll { consumer, generation, tp: tp.clone(), previous_offset: *previous, offset: *offset });
            }
        }
    }
    out
}

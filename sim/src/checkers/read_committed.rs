//! read_committed never shows a record of an aborted transaction (KIP-98:
//! the last stable offset and the aborted-transactions index hide them);
//! and (liveness) a read_committed reader of every partition ends up having
//! seen the last record of each that committed.

use std::collections::BTreeSet;

use super::{TxnOutcomes, Violation};
use crate::history::{Event, FinalLog, History, Isolation, TopicPartition};

pub fn aborted_reads(history: &History) -> Vec<Violation> {
    let txns = TxnOutcomes::of(history);
    let mut out = Vec::new();
    for event in &history.events {
        let Event::Poll { consumer, isolation: Isolation::ReadCommitted, tp, records, .. } = event else { continue };
        for r in records.iter().filter(|r| txns.aborted.contains(&r.id)) {
            out.push(Violation::AbortedRead { tp: tp.clone(), consumer: *consumer, id: r.id, offset: r.offset });
        }
    }
    out
}

/// Every read_committed consumer polled, in each partition of the final
/// log, the last record that must be visible (its transaction committed, or
/// it was not transactional): the last stable offset moved past every
/// transaction once the run quiesced, so no reader stays stuck behind one.
pub fn read_committed_caught_up(history: &History, log: &FinalLog) -> Vec<Violation> {
    let txns = TxnOutcomes::of(history);
    let mut seen: BTreeSet<(u32, &TopicPartition, i64)> = BTreeSet::new();
    let mut consumers: BTreeSet<u32> = BTreeSet::new();
    for event in &history.events {
        let Event::Poll { consumer, isolation: Isolation::ReadCommitted, tp, records, .. } = event else { continue };
        consumers.insert(*consumer);
        seen.extend(records.iter().map(|r| (*consumer, tp, r.offset)));
    }
    let mut out = Vec::new();
    for (tp, records) in &log.partitions {
        let Some(last) = records.iter().rev().find(|r| txns.must_be_visible(&r.id)) else { continue };
        for consumer in &consumers {
            if !seen.contains(&(*consumer, tp, last.offset)) {
                out.push(Violation::NoProgress {
                    what: format!(
                        "read_committed consumer c{consumer} never read {} at {tp}@{}, the last committed record",
                        last.id, last.offset
                    ),
                });
            }
        }
    }
    out
}

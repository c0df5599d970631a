//! Committed offsets:
//! - never decrease (the coordinator must fence commits of stale
//!   generations, KIP-447/KIP-98; a late commit that rewinds is a bug);
//! - every committed offset was processed first: the last record below it
//!   had been processed when the commit was accepted (commit-after-process).

use std::collections::{BTreeMap, BTreeSet};

use super::{TxnOutcomes, Violation};
use crate::history::{Event, FinalLog, History, TopicPartition};

pub fn commit_decreased(history: &History) -> Vec<Violation> {
    let mut committed: BTreeMap<&TopicPartition, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for event in &history.events {
        let Event::Commit { consumer, generation, tp, offset, .. } = event else { continue };
        if let Some(previous) = committed.get(tp).copied() {
            if *offset < previous {
                out.push(Violation::CommitDecreased {
                    tp: tp.clone(),
                    consumer: *consumer,
                    generation: *generation,
                    previous,
                    offset: *offset,
                });
            }
        }
        committed.insert(tp, *offset);
    }
    out
}

pub fn commit_not_processed(history: &History, log: &FinalLog) -> Vec<Violation> {
    let txns = TxnOutcomes::of(history);
    let mut processed: BTreeSet<(&TopicPartition, i64)> = BTreeSet::new();
    let mut out = Vec::new();
    for event in &history.events {
        match event {
            Event::Processed { tp, offset, .. } => {
                processed.insert((tp, *offset));
            }
            Event::Commit { consumer, generation, tp, offset, .. } => {
                // The last record below the committed offset that every reader sees.
                let below =
                    log.records(tp).iter().rev().filter(|r| r.offset < *offset && txns.must_be_visible(&r.id)).map(|r| r.offset).next();
                if let Some(unprocessed_offset) = below.filter(|o| !processed.contains(&(tp, *o))) {
                    out.push(Violation::CommitNotProcessed {
                        tp: tp.clone(),
                        consumer: *consumer,
                        generation: *generation,
                        offset: *offset,
                        unprocessed_offset,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

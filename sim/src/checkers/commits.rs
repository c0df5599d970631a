//! Committed offsets:
//! - never decrease (the coordinator must fence commits of stale
//!   generations, KIP-447/KIP-98; a late commit that rewinds is a bug),
//!   except back to where the log lost records consumers had read;
//! - every committed offset was processed first: the last record below it
//!   had been processed when the commit was accepted (commit-after-process).

use std::collections::{BTreeMap, BTreeSet};

use super::polls::log_id_at;
use super::{TxnOutcomes, Violation};
use crate::history::{Event, FinalLog, History, RecordId, TopicPartition};

pub fn commit_decreased(history: &History, log: &FinalLog) -> Vec<Violation> {
    let mut committed: BTreeMap<&TopicPartition, i64> = BTreeMap::new();
    // Per partition: every (offset, record) some consumer had read so far.
    let mut read: BTreeMap<&TopicPartition, BTreeSet<(i64, RecordId)>> = BTreeMap::new();
    let mut out = Vec::new();
    for event in &history.events {
        match event {
            Event::Poll { tp, records, .. } => read.entry(tp).or_default().extend(records.iter().map(|r| (r.offset, r.id))),
            Event::Commit { consumer, generation, tp, offset, .. } => {
                if let Some(previous) = committed.get(tp).copied() {
                    if *offset < previous && !rewinds_to_a_truncation(read.get(tp), log, tp, *offset, previous) {
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
            _ => {}
        }
    }
    out
}

/// Whether a commit going back from `previous` to `offset` follows the log
/// losing what was read there: a record read in `[offset, previous)` is not
/// in the final log at its offset (the leader's unflushed records died with
/// every replica, the case of `--flush manual`), and the commit goes back no
/// further than the first such record (KIP-320: a consumer that catches the
/// truncation resumes where the log diverged, it does not re-read intact
/// records). A rewind past an intact record it had read is still a violation.
fn rewinds_to_a_truncation(
    read: Option<&BTreeSet<(i64, RecordId)>>,
    log: &FinalLog,
    tp: &TopicPartition,
    offset: i64,
    previous: i64,
) -> bool {
    let Some(read) = read else { return false };
    let lowest = RecordId::new(0, 0);
    let in_range = read.range((offset, lowest)..(previous, lowest));
    let lost = |o: i64, id: RecordId| log_id_at(log, tp, o) != Some(id);
    let Some(first_lost) = in_range.clone().find(|(o, id)| lost(*o, *id)).map(|(o, _)| *o) else { return false };
    !in_range.take_while(|(o, _)| *o < first_lost).any(|(o, id)| !lost(*o, *id))
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

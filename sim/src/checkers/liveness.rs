//! Liveness (liveness mode only): once faults stop, the cluster must recover
//! within a bound: every send is resolved within `recover_within` of being
//! sent or of faults stopping (whichever is later): acknowledged, or, for a
//! record sent while faults were on, failed (its delivery timeout started
//! while the cluster could not take it); and, when the run has consumers,
//! every partition is consumed to its end by the deadline.

use std::collections::{BTreeMap, BTreeSet};

use super::Violation;
use crate::history::{Event, FinalLog, History, RecordId, TopicPartition};

/// When faults stopped, how long recovery may take and when the run ended,
/// in simulated ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessBound {
    pub faults_stopped_ms: u64,
    pub recover_within_ms: u64,
    pub run_ended_ms: u64,
}

impl LivenessBound {
    pub fn deadline_ms(&self) -> u64 {
        self.faults_stopped_ms.saturating_add(self.recover_within_ms)
    }
}

pub fn liveness(history: &History, log: &FinalLog, bound: LivenessBound) -> Vec<Violation> {
    let deadline = bound.deadline_ms();
    let mut resolved: BTreeMap<(&TopicPartition, RecordId), u64> = BTreeMap::new();
    let mut processed: BTreeSet<(&TopicPartition, i64)> = BTreeSet::new();
    let mut consumers = false;
    let sent_during_faults: BTreeSet<(&TopicPartition, RecordId)> = history
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Send { at_ms, tp, id, .. } if *at_ms < bound.faults_stopped_ms => Some((tp, *id)),
            _ => None,
        })
        .collect();
    for event in &history.events {
        match event {
            Event::Ack { at_ms, tp, id, .. } => {
                resolved.entry((tp, *id)).or_insert(*at_ms);
            }
            // Giving up on a record sent while faults were on is allowed
            // (its delivery timeout may run out after they stop: it started
            // while the cluster could not take it); a record sent after they
            // stopped must be acknowledged.
            Event::SendFailed { at_ms, tp, id, .. } if sent_during_faults.contains(&(tp, *id)) || *at_ms < bound.faults_stopped_ms => {
                resolved.entry((tp, *id)).or_insert(*at_ms);
            }
            Event::Processed { at_ms, tp, offset, .. } if *at_ms <= deadline => {
                processed.insert((tp, *offset));
            }
            Event::Poll { .. } => consumers = true,
            _ => {}
        }
    }
    let mut out = Vec::new();
    for event in &history.events {
        let Event::Send { at_ms, tp, id, .. } = event else { continue };
        let due = (*at_ms).max(bound.faults_stopped_ms).saturating_add(bound.recover_within_ms);
        if due > bound.run_ended_ms {
            continue;
        }
        if resolved.get(&(tp, *id)).is_none_or(|at| *at > due) {
            out.push(Violation::NoProgress {
                what: format!(
                    "{id} sent to {tp} at {at_ms} ms was not acknowledged by {due} ms (faults stopped at {} ms)",
                    bound.faults_stopped_ms
                ),
            });
        }
    }
    if consumers && deadline <= bound.run_ended_ms {
        for (tp, records) in &log.partitions {
            if let Some(last) = records.last().filter(|r| !processed.contains(&(tp, r.offset))) {
                out.push(Violation::NoProgress { what: format!("{tp} was not consumed to its end ({}) by {deadline} ms", last.offset) });
            }
        }
    }
    out
}

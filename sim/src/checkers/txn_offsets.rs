//! Offsets sent to a transaction (`send_offsets_to_transaction`, KIP-98's
//! TxnOffsetCommit) become the group's committed offset if and only if the
//! transaction commits: after the run, each producer's group holds the
//! offset of its last committed transaction, or of a later one whose
//! outcome the producer never learned, and never that of an aborted one.
//!
//! The transactional workload commits, in transaction number `n` of a
//! producer, offset `n` for its own group, so the offset names the
//! transaction that wrote it.

use std::collections::{BTreeMap, BTreeSet};

use super::Violation;
use crate::history::{Event, History};

/// `committed`: per producer, the offset its group held after the run
/// (`None`: no committed offset).
pub fn txn_offsets(history: &History, committed: &BTreeMap<u32, Option<i64>>) -> Vec<Violation> {
    let mut txns: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    let mut ends: BTreeMap<(u32, u64), bool> = BTreeMap::new();
    for event in &history.events {
        match event {
            Event::Send { id, txn: Some(txn), .. } => {
                txns.entry(id.producer).or_default().insert(*txn);
            }
            Event::TxnEnd { producer, txn, committed, .. } => {
                ends.insert((*producer, *txn), *committed);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (producer, found) in committed {
        let all = txns.get(producer).cloned().unwrap_or_default();
        let last_committed = all.iter().rev().find(|t| ends.get(&(*producer, **t)) == Some(&true)).copied();
        let problem = match (found, last_committed) {
            (None, None) => None,
            (None, Some(last)) => Some(format!("transaction {last} committed but the group has no offset")),
            (Some(offset), last) => {
                let txn = u64::try_from(*offset).ok().filter(|t| all.contains(t));
                match txn {
                    None => Some(format!("offset {offset} names no transaction of the producer")),
                    Some(t) if ends.get(&(*producer, t)) == Some(&false) => Some(format!("transaction {t} was aborted")),
                    Some(t) if last.is_some_and(|last| t < last) => {
                        Some(format!("transaction {} committed after transaction {t}", last.unwrap_or_default()))
                    }
                    Some(_) => None,
                }
            }
        };
        if let Some(problem) = problem {
            out.push(Violation::TxnOffset { producer: *producer, offset: *found, problem });
        }
    }
    out
}

//! No duplicate: each record is in the final log once (idempotence, KIP-98).

use std::collections::BTreeMap;

use super::Violation;
use crate::history::{FinalLog, RecordId, TopicPartition};

pub fn duplicates(log: &FinalLog) -> Vec<Violation> {
    let mut copies: BTreeMap<RecordId, Vec<(TopicPartition, i64)>> = BTreeMap::new();
    for (tp, records) in &log.partitions {
        for r in records {
            copies.entry(r.id).or_default().push((tp.clone(), r.offset));
        }
    }
    copies.into_iter().filter(|(_, at)| at.len() > 1).map(|(id, copies)| Violation::Duplicate { id, copies }).collect()
}

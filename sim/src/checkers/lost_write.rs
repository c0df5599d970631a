//! No lost write: every record acknowledged to a producer is in the final
//! log, at the offset it was acknowledged at (an acknowledged offset that
//! later holds something else means the log was truncated and rewritten).
//! An acknowledged offset of -1 is unknown, as in Kafka's `RecordMetadata`:
//! an idempotent producer's retry answered DUPLICATE_SEQUENCE_NUMBER (the
//! broker has the batch but no longer caches its offsets, KIP-98) is
//! delivered without one; such a record must still be in the log.

use std::collections::BTreeMap;

use super::Violation;
use crate::history::{Event, FinalLog, History, RecordId, TopicPartition};

pub fn lost_writes(history: &History, log: &FinalLog) -> Vec<Violation> {
    let mut found: BTreeMap<(&TopicPartition, RecordId), i64> = BTreeMap::new();
    for (tp, records) in &log.partitions {
        for r in records {
            found.entry((tp, r.id)).or_insert(r.offset);
        }
    }
    let mut out = Vec::new();
    for event in &history.events {
        let Event::Ack { tp, id, offset, .. } = event else { continue };
        match found.get(&(tp, *id)) {
            None => out.push(Violation::LostWrite { tp: tp.clone(), id: *id, acked_offset: *offset }),
            Some(at) if *offset >= 0 && at != offset => {
                out.push(Violation::MovedWrite { tp: tp.clone(), id: *id, acked_offset: *offset, log_offset: *at })
            }
            Some(_) => {}
        }
    }
    out
}

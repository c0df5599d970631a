//! No lost write: every record acknowledged to a producer is in the final
//! log, at the offset it was acknowledged at (an acknowledged offset that
//! later holds something else means the log was truncated and rewritten).

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
            Some(at) if at != offset => out.push(Violation::MovedWrite {
                tp: tp.clone(),
                id: *id,
                acked_offset: *offset,
                log_offset: *at,
            }),
            Some(_) => {}
        }
    }
    out
}

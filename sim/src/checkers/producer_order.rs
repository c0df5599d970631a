//! Per-producer order within a partition: a producer's records appear in the
//! log in the order it sent them (idempotent producers keep order across
//! retries with up to 5 requests in flight, KIP-98 / KAFKA-5494).

use std::collections::BTreeMap;

use super::Violation;
use crate::history::{FinalLog, LogRecord};

pub fn producer_order(log: &FinalLog) -> Vec<Violation> {
    let mut out = Vec::new();
    for (tp, records) in &log.partitions {
        let mut last: BTreeMap<u32, LogRecord> = BTreeMap::new();
        for r in records {
            if let Some(prev) = last.get(&r.id.producer) {
                if r.id.seq < prev.id.seq {
                    out.push(Violation::ProducerOrder {
                        tp: tp.clone(),
                        earlier: r.id,
                        earlier_offset: r.offset,
                        later: prev.id,
                        later_offset: prev.offset,
                    });
                }
            }
            if last.get(&r.id.producer).is_none_or(|prev| r.id.seq > prev.id.seq) {
                last.insert(r.id.producer, *r);
            }
        }
    }
    out
}

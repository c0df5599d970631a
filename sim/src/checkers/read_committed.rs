//! read_committed never shows a record of an aborted transaction (KIP-98:
//! the last stable offset and the aborted-transactions index hide them).

use super::{TxnOutcomes, Violation};
use crate::history::{Event, History, Isolation};

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

//! The history of one simulated run: what producers sent and had acknowledged,
//! what consumers polled, processed and committed (per generation), which
//! faults were injected, and the final log read back after quiescing.
//!
//! Checkers ([`crate::checkers`]) are pure functions over a [`History`] and a
//! [`FinalLog`]. Every event is also one line of the trace whose hash
//! ([`History::trace_hash`]) proves that the same seed replays the same run.

use std::collections::BTreeMap;
use std::fmt;

use crate::swarm::FaultKind;

/// A topic partition (the client's own type, ordered by topic then partition).
pub use rill_client::consumer::group::TopicPartition;

/// The identity of one record a workload wrote: the producer and its own
/// counter. Encoded into the record value so the final log can be matched
/// back to sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub producer: u32,
    pub seq: u64,
}

impl RecordId {
    pub fn new(producer: u32, seq: u64) -> Self {
        RecordId { producer, seq }
    }

    /// The record value a workload writes: `p<producer>-<seq>`.
    pub fn to_value(self) -> Vec<u8> {
        format!("p{}-{}", self.producer, self.seq).into_bytes()
    }

    /// Parses a value written by [`to_value`](Self::to_value); `None` for anything else.
    pub fn from_value(value: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(value).ok()?;
        let (producer, seq) = text.strip_prefix('p')?.split_once('-')?;
        Some(RecordId { producer: producer.parse().ok()?, seq: seq.parse().ok()? })
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}-{}", self.producer, self.seq)
    }
}

/// How a consumer reads (KIP-98 `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
}

/// One polled record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Polled {
    pub offset: i64,
    pub id: RecordId,
}

/// One thing that happened, at a simulated time in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// A producer handed a record to the client (`txn`: the transaction it belongs to).
    Send { at_ms: u64, tp: TopicPartition, id: RecordId, txn: Option<u64> },
    /// The broker acknowledged the record at `offset`.
    Ack { at_ms: u64, tp: TopicPartition, id: RecordId, offset: i64 },
    /// The send failed for good (the record may or may not be in the log).
    SendFailed { at_ms: u64, tp: TopicPartition, id: RecordId, error: String },
    /// A transaction of `producer` ended (committed or aborted).
    TxnEnd { at_ms: u64, producer: u32, txn: u64, committed: bool },
    /// A consumer polled records of one partition in one generation.
    Poll { at_ms: u64, consumer: u32, generation: i32, isolation: Isolation, tp: TopicPartition, records: Vec<Polled> },
    /// A consumer finished processing the record at `offset`.
    Processed { at_ms: u64, consumer: u32, generation: i32, tp: TopicPartition, offset: i64 },
    /// The group coordinator accepted a commit: `offset` is the next offset to consume.
    Commit { at_ms: u64, consumer: u32, generation: i32, tp: TopicPartition, offset: i64 },
    /// The fault scheduler injected (or healed) a fault.
    Fault { at_ms: u64, kind: FaultKind, detail: String },
}

impl Event {
    pub fn at_ms(&self) -> u64 {
        match self {
            Event::Send { at_ms, .. }
            | Event::Ack { at_ms, .. }
            | Event::SendFailed { at_ms, .. }
            | Event::TxnEnd { at_ms, .. }
            | Event::Poll { at_ms, .. }
            | Event::Processed { at_ms, .. }
            | Event::Commit { at_ms, .. }
            | Event::Fault { at_ms, .. } => *at_ms,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Send { at_ms, tp, id, txn } => write!(f, "{at_ms} send {tp} {id} txn={txn:?}"),
            Event::Ack { at_ms, tp, id, offset } => write!(f, "{at_ms} ack {tp} {id} @{offset}"),
            Event::SendFailed { at_ms, tp, id, error } => write!(f, "{at_ms} send-failed {tp} {id}: {error}"),
            Event::TxnEnd { at_ms, producer, txn, committed } => {
                write!(f, "{at_ms} txn-end p{producer} txn={txn} committed={committed}")
            }
            Event::Poll { at_ms, consumer, generation, isolation, tp, records } => {
                write!(f, "{at_ms} poll c{consumer} g{generation} {isolation:?} {tp} [")?;
                for (i, r) in records.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{}@{}", r.id, r.offset)?;
                }
                write!(f, "]")
            }
            Event::Processed { at_ms, consumer, generation, tp, offset } => {
                write!(f, "{at_ms} processed c{consumer} g{generation} {tp} @{offset}")
            }
            Event::Commit { at_ms, consumer, generation, tp, offset } => {
                write!(f, "{at_ms} commit c{consumer} g{generation} {tp} @{offset}")
            }
            Event::Fault { at_ms, kind, detail } => write!(f, "{at_ms} fault {kind} {detail}"),
        }
    }
}

/// The events of one run, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    pub fn push(&mut self, event: Event) {
        tracing::trace!(target: "rill_sim::history", "{event}");
        self.events.push(event);
    }

    /// FNV-1a (64 bit) over every event's trace line: stable across
    /// processes and Rust versions, unlike std's hasher.
    pub fn trace_hash(&self) -> u64 {
        let mut hash = TraceHash::default();
        for event in &self.events {
            hash.write(event.to_string().as_bytes());
            hash.write(b"\n");
        }
        hash.finish()
    }
}

/// FNV-1a, 64 bit.
#[derive(Debug, Clone)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// One data record of the final log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogRecord {
    pub offset: i64,
    pub id: RecordId,
}

/// Every partition's data records as read back (from offset 0 to the high
/// watermark) after the run quiesced, in offset order. Control records
/// (transaction markers) are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalLog {
    pub partitions: BTreeMap<TopicPartition, Vec<LogRecord>>,
}

impl FinalLog {
    pub fn records(&self, tp: &TopicPartition) -> &[LogRecord] {
        self.partitions.get(tp).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_round_trip_through_values() {
        let id = RecordId::new(3, 1234);
        assert_eq!(RecordId::from_value(&id.to_value()), Some(id));
        assert_eq!(RecordId::from_value(b"hello"), None);
        assert_eq!(RecordId::from_value(b"p1-x"), None);
    }

    #[test]
    fn trace_hash_depends_on_every_event_and_their_order() {
        let a = Event::Send { at_ms: 1, tp: TopicPartition::new("t", 0), id: RecordId::new(0, 0), txn: None };
        let b = Event::Ack { at_ms: 2, tp: TopicPartition::new("t", 0), id: RecordId::new(0, 0), offset: 0 };
        let h1 = History { events: vec![a.clone(), b.clone()] };
        let h2 = History { events: vec![b, a] };
        assert_eq!(h1.trace_hash(), h1.clone().trace_hash());
        assert_ne!(h1.trace_hash(), h2.trace_hash());
        assert_ne!(h1.trace_hash(), History::default().trace_hash());
    }
}

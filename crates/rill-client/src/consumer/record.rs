//! What the consumer hands out: [`ConsumerRecord`], and the names it uses
//! for offsets ([`Offset`], [`Position`]); partitions are [`TopicPartition`]s.

use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::records::Header;

pub use super::group::TopicPartition;

/// Where [`super::Consumer::seek`] moves a partition's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The log start offset.
    Beginning,
    /// The log end offset (the last stable offset under read_committed).
    End,
    /// This offset.
    At(i64),
    /// The first offset whose timestamp is at or after this many ms since
    /// the epoch (ListOffsets); the end when there is none.
    Timestamp(i64),
}

/// A position in a partition: the next offset to read, and the leader epoch
/// of the record before it when known (KIP-320: a position with an epoch
/// can be checked against a new leader's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
}

impl Position {
    pub fn new(offset: i64, leader_epoch: Option<i32>) -> Self {
        Position { offset, leader_epoch }
    }
}

/// One record, as handed to the application. Key, value and header bytes
/// are zero-copy slices of the fetch response (or of the one buffer a
/// compressed batch was decompressed into).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Shared by every record of the topic (no allocation per record).
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// Create time or log-append time (ms since the epoch), as the batch says.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// The leader epoch of the batch (`None` for magic 0/1 or unknown).
    pub leader_epoch: Option<i32>,
}

/// Bookkeeping cost of a record beyond its bytes (the struct itself).
pub(crate) const RECORD_OVERHEAD: usize = std::mem::size_of::<ConsumerRecord>();

impl ConsumerRecord {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.as_ref(), self.partition)
    }

    /// The bytes this record holds on to, as counted against
    /// `fetch.buffer.max.bytes`: key, value, header keys and values, plus
    /// the record struct itself.
    pub fn retained_bytes(&self) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self.headers.iter().map(|h| h.key.len() + len(&h.value) + std::mem::size_of::<Header>()).sum();
        RECORD_OVERHEAD + len(&self.key) + len(&self.value) + headers
    }

    /// Records of topic `t`, partition 0, at `offsets`, with nothing in them (for tests).
    #[cfg(test)]
    pub(crate) fn empty_at(offsets: std::ops::Range<i64>) -> Vec<ConsumerRecord> {
        offsets
            .map(|offset| ConsumerRecord {
                topic: std::sync::Arc::from("t"),
                partition: 0,
                offset,
                timestamp: 0,
                key: None,
                value: None,
                headers: Vec::new(),
                leader_epoch: None,
            })
            .collect()
    }
}

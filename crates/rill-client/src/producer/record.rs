//! What the application hands the producer ([`ProducerRecord`]) and what it
//! gets back once a record is acknowledged ([`RecordMetadata`]).

use bytes::Bytes;
use rill_protocol::records::Header;

/// A topic and one of its partitions (shared with the consumer).
pub use crate::consumer::group::TopicPartition;

/// One record to produce. Built with chained setters:
///
/// ```
/// use rill_client::producer::ProducerRecord;
/// let record = ProducerRecord::new("events").key("user-1").value("clicked").header("source", "web").timestamp(1_700_000_000_000);
/// assert_eq!(record.topic, "events");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    pub topic: String,
    /// `None`: chosen by the partitioner (murmur2 of the key, or the uniform
    /// sticky partitioner for null keys).
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch; `None`: the time of `send`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord { topic: topic.into(), ..Default::default() }
    }

    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Adds a header (headers may repeat a key; order is kept).
    pub fn header(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, Some(value.into())));
        self
    }

    /// Adds a header with a null value.
    pub fn null_header(mut self, key: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, None));
        self
    }

    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// An upper bound of the record's size inside an uncompressed batch (as
    /// Java's `DefaultRecord.sizeInBytes` estimate: the varint prefixes at
    /// their largest). Used for `batch.size`, `max.request.size` and `buffer.memory`.
    pub fn estimated_size(&self) -> usize {
        const RECORD_OVERHEAD: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
        let key = self.key.as_ref().map_or(0, Bytes::len);
        let value = self.value.as_ref().map_or(0, Bytes::len);
        let headers: usize = self.headers.iter().map(|h| 10 + h.key.len() + h.value.as_ref().map_or(0, Bytes::len)).sum();
        RECORD_OVERHEAD + key + value + headers
    }
}

/// Where an acknowledged record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// The record's offset; -1 when unknown: with `acks=0` (the broker does
    /// not answer), and for an idempotent batch whose own answer was lost
    /// (its request timed out, its connection closed, or its resend got
    /// OUT_OF_ORDER_SEQUENCE_NUMBER) but which a later acknowledged batch of
    /// the same partition, producer id and epoch proves written: the broker
    /// takes sequences only in order (KIP-98). Java's `RecordMetadata`
    /// reports -1 (`ProduceResponse.INVALID_OFFSET`, `hasOffset() == false`) too.
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's append time
    /// for topics with `message.timestamp.type=LogAppendTime`.
    pub timestamp: i64,
}

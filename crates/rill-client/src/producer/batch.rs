//! [`ProducerBatch`]: the records of one partition that travel together, from
//! the first append until every record's delivery result is handed out.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rill_protocol::compression::Compression;
use rill_protocol::records::{BatchPieces, DecodeOptions, RecordBatch, RecordBatchBuilder};
use tokio::time::Instant;

use super::delivery::{Delivery, OutcomeSender};
use super::error::ProduceError;
use super::memory::{RecordReservation, Reservation};
use super::record::{ProducerRecord, TopicPartition};
use crate::backoff::Backoff;

/// Producer id, epoch and base sequence written into a batch (idempotence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sequenced {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// A magic-2 batch header's length (KIP-98), counted in estimated sizes.
const HEADER_LEN: usize = 61;

/// A batch as encoded. Values of uncompressed batches are pieces of their
/// own, the memory the application handed to `send`
/// ([`RecordBatchBuilder::append_shared`]): they go to the socket from
/// there, copied by nothing but the kernel. Shared with the requests that
/// carry it (one reference count per batch, not per piece).
pub(crate) type Encoded = Arc<BatchPieces>;

/// What one attempt of a batch sends.
#[derive(Debug)]
pub(crate) enum Payload {
    /// Encoded by an earlier attempt.
    Encoded(Encoded),
    /// The first attempt: the closed builder, not yet compressed.
    Build(Box<RecordBatchBuilder>),
}

impl Payload {
    /// The batch's bytes (compressing it on the first attempt).
    pub fn finish(self) -> Result<Encoded, crate::error::Error> {
        match self {
            Payload::Encoded(encoded) => Ok(encoded),
            Payload::Build(builder) => builder.finish_parts().map(Arc::new).map_err(|source| crate::error::Error::Encode {
                api: rill_protocol::ApiKey::PRODUCE,
                version: 2,
                source,
            }),
        }
    }
}

#[derive(Debug)]
pub(crate) struct ProducerBatch {
    /// Unique per producer, increasing in creation order.
    pub id: u64,
    /// `id`, or for a part of a split batch the id of the batch it came
    /// from: `flush()` waits for every batch older than its call by it.
    pub origin_id: u64,
    pub tp: TopicPartition,
    /// Open while records can be appended; taken when the batch is encoded.
    builder: Option<RecordBatchBuilder>,
    /// The encoded batch, once drained.
    pub encoded: Option<Encoded>,
    /// Where the records' delivery results go.
    outcome: OutcomeSender,
    /// The records' timestamps, in append order.
    timestamps: Vec<i64>,
    pub created: Instant,
    /// Estimated uncompressed size (what `batch.size` is compared with).
    pub estimated_bytes: usize,
    reservation: Reservation,
    /// Sends so far.
    pub attempts: u32,
    pub backoff: Option<Backoff>,
    /// Not to be sent again before this instant.
    pub retry_at: Option<Instant>,
    pub in_flight: bool,
    /// The connection ([`crate::connection::Connection::id`]) the current
    /// attempt was written to; `None` while queued or on its way to its lane.
    pub sent_on: Option<u64>,
    pub sequenced: Option<Sequenced>,
    /// The last error that made the batch retry (reported if it then times out).
    pub last_error: Option<ProduceError>,
}

impl ProducerBatch {
    #[cfg(test)]
    pub fn new(id: u64, tp: TopicPartition, compression: Compression, now: Instant) -> Self {
        ProducerBatch::with_capacity(id, tp, compression, now, 0)
    }

    /// Room in the records' buffer while the batch is open.
    #[cfg(test)]
    pub fn buffer_capacity(&self) -> Option<usize> {
        self.builder.as_ref().map(RecordBatchBuilder::capacity)
    }

    /// Room the next batch of the partition's records' buffer should start
    /// with: what this one's took (values kept by reference not counted).
    pub fn buffer_bytes(&self) -> usize {
        self.builder.as_ref().map_or(self.estimated_bytes, RecordBatchBuilder::copied_len)
    }

    /// A batch whose records' buffer starts with room for `capacity` bytes
    /// (it grows past them as needed).
    pub fn with_capacity(id: u64, tp: TopicPartition, compression: Compression, now: Instant, capacity: usize) -> Self {
        ProducerBatch {
            id,
            origin_id: id,
            tp,
            builder: Some(RecordBatchBuilder::with_buffer(BytesMut::with_capacity(capacity), 0).compression(compression)),
            encoded: None,
            outcome: OutcomeSender::new(),
            timestamps: Vec::new(),
            created: now,
            estimated_bytes: 61,
            reservation: Reservation::empty(),
            attempts: 0,
            backoff: None,
            retry_at: None,
            in_flight: false,
            sent_on: None,
            sequenced: None,
            last_error: None,
        }
    }

    pub fn record_count(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_open(&self) -> bool {
        self.builder.is_some()
    }

    /// Whether a record of `bytes` still fits under `batch_size` (an empty batch takes any record).
    pub fn has_room_for(&self, bytes: usize, batch_size: usize) -> bool {
        self.is_open() && (self.timestamps.is_empty() || self.estimated_bytes + bytes <= batch_size)
    }

    /// Appends a record (the caller checked [`has_room_for`](Self::has_room_for)).
    pub fn append(&mut self, record: ProducerRecord, timestamp: i64, reservation: RecordReservation<'_>) -> Result<Delivery, ProduceError> {
        let Some(builder) = self.builder.as_mut() else {
            return Err(ProduceError::InvalidState { operation: "append", state: "the batch is closed".into() });
        };
        let estimated = record.estimated_size();
        // The value moves into the batch (kept by reference if long).
        builder.append_shared(timestamp, record.key.as_deref(), record.value, &record.headers).map_err(|e| {
            ProduceError::Client(crate::error::Error::Encode { api: rill_protocol::ApiKey::PRODUCE, version: 2, source: e })
        })?;
        self.estimated_bytes += estimated;
        self.reservation.add_record(reservation);
        let delivery = self.outcome.delivery(self.timestamps.len(), timestamp);
        self.timestamps.push(timestamp);
        Ok(delivery)
    }

    /// What this attempt sends, with the producer fields (idempotent and
    /// transactional producers) or without (`None`): on the first attempt
    /// the closed builder, to be finished (compressed) by the caller outside
    /// the producer's lock, which every `send` takes; afterwards the batch as
    /// encoded then ([`set_encoded`](Self::set_encoded)), re-sequenced if
    /// the producer's epoch was bumped since.
    pub fn payload(&mut self, sequenced: Option<Sequenced>, transactional: bool) -> Result<Payload, ProduceError> {
        if let Some(builder) = self.builder.take() {
            let builder = match sequenced {
                Some(s) => builder.producer(s.producer_id, s.producer_epoch, s.base_sequence),
                None => builder,
            };
            self.sequenced = sequenced;
            return Ok(Payload::Build(Box::new(builder.transactional(transactional))));
        }
        if let (Some(s), true) = (sequenced, self.sequenced != sequenced) {
            self.resequence(s);
        }
        self.encoded.clone().map(Payload::Encoded).ok_or(ProduceError::Closed)
    }

    /// Keeps the batch as it went on the wire, for retries, splits and re-sequencing.
    pub fn set_encoded(&mut self, encoded: Encoded) {
        self.encoded = Some(encoded);
    }

    /// [`payload`](Self::payload), finished and kept.
    #[cfg(test)]
    pub fn encode(&mut self, sequenced: Option<Sequenced>, transactional: bool) -> Result<Encoded, ProduceError> {
        let encoded = self.payload(sequenced, transactional)?.finish().map_err(ProduceError::Client)?;
        self.set_encoded(encoded.clone());
        Ok(encoded)
    }

    /// Rewrites producer id, epoch and base sequence of the encoded batch and
    /// its CRC-32C (after a KIP-360 epoch bump the unacknowledged batches are
    /// sent again under the new epoch, numbered from the partition's new start).
    pub fn resequence(&mut self, s: Sequenced) {
        let Some(encoded) = self.encoded.as_mut() else { return };
        if let Some(bumped) = encoded.with_producer(s.producer_id, s.producer_epoch, s.base_sequence) {
            *encoded = Arc::new(bumped);
            self.sequenced = Some(s);
        }
    }

    /// Splits a batch of several records the broker refused as too large
    /// (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE) into two halves by record
    /// count, as Java's `ProducerBatch.split` does: each half keeps the
    /// records' timestamps, the batch's creation time and attempts, its
    /// records' deliveries and their share of the memory reservation. An
    /// idempotent batch's halves keep its producer id and epoch and number
    /// their records from its base sequence on: together they cover exactly
    /// the sequences the refused batch had, which the broker never wrote.
    /// `ids`: the halves' batch ids. Gives the batch back when it cannot be split.
    pub fn split(
        mut self,
        ids: (u64, u64),
        transactional: bool,
    ) -> Result<(ProducerBatch, ProducerBatch), Box<(ProducerBatch, ProduceError)>> {
        let encode_error =
            |source| ProduceError::Client(crate::error::Error::Encode { api: rill_protocol::ApiKey::PRODUCE, version: 2, source });
        let decoded = match self.encoded.as_ref().map(|e| RecordBatch::decode(&e.to_contiguous(), &DecodeOptions::default())) {
            Some(Ok(decoded)) if decoded.records.len() == self.timestamps.len() && decoded.records.len() > 1 => decoded,
            Some(Err(e)) => {
                let error = ProduceError::InvalidState { operation: "split", state: format!("the batch does not decode: {e}") };
                return Err(Box::new((self, error)));
            }
            _ => {
                let error = ProduceError::InvalidState { operation: "split", state: "a batch of one record".into() };
                return Err(Box::new((self, error)));
            }
        };
        let compression = decoded.compression().unwrap_or(Compression::None);
        let middle = decoded.records.len() / 2;
        let timestamps = self.timestamps.clone();
        let (first_sequence, second_sequence) = match self.sequenced {
            Some(s) => {
                let offset = i32::try_from(middle).unwrap_or(i32::MAX);
                let second = Sequenced { base_sequence: super::idempotence::increment_sequence(s.base_sequence, offset), ..s };
                (Some(s), Some(second))
            }
            None => (None, None),
        };
        let mut encoded = Vec::with_capacity(2);
        for (range, sequenced) in [(0..middle, first_sequence), (middle..decoded.records.len(), second_sequence)] {
            let mut builder = RecordBatchBuilder::new(0).compression(compression);
            if let Some(s) = sequenced {
                builder = builder.producer(s.producer_id, s.producer_epoch, s.base_sequence);
            }
            let mut estimated_bytes = HEADER_LEN;
            for i in range {
                let (Some(record), Some(timestamp)) = (decoded.records.get(i), timestamps.get(i)) else { continue };
                if let Err(e) = builder.append(*timestamp, record.key.as_deref(), record.value.as_deref(), &record.headers) {
                    return Err(Box::new((self, encode_error(e))));
                }
                estimated_bytes += 36
                    + record.key.as_ref().map_or(0, Bytes::len)
                    + record.value.as_ref().map_or(0, Bytes::len)
                    + record.headers.iter().map(|h| 10 + h.key.len() + h.value.as_ref().map_or(0, Bytes::len)).sum::<usize>();
            }
            match builder.transactional(transactional).finish() {
                Ok(bytes) => encoded.push((Arc::new(BatchPieces::from(bytes.freeze())), estimated_bytes, sequenced)),
                Err(e) => return Err(Box::new((self, encode_error(e)))),
            }
        }
        let mut first_timestamps = timestamps;
        let second_timestamps = first_timestamps.split_off(middle.min(first_timestamps.len()));
        let mut parts = Vec::with_capacity(2);
        for ((bytes, estimated_bytes, sequenced), (id, timestamps)) in
            encoded.into_iter().zip([(ids.0, first_timestamps), (ids.1, second_timestamps)])
        {
            let share = estimated_bytes.min(self.reservation.bytes());
            parts.push(ProducerBatch {
                id,
                origin_id: self.origin_id,
                tp: self.tp.clone(),
                builder: None,
                encoded: Some(bytes),
                reservation: self.reservation.split(share),
                outcome: OutcomeSender::new(),
                timestamps,
                created: self.created,
                estimated_bytes,
                attempts: self.attempts,
                backoff: self.backoff.clone(),
                retry_at: self.retry_at,
                in_flight: false,
                sent_on: None,
                sequenced,
                last_error: self.last_error.clone(),
            });
        }
        let (Some(second), Some(mut first)) = (parts.pop(), parts.pop()) else {
            let error = ProduceError::InvalidState { operation: "split", state: "no halves".into() };
            return Err(Box::new((self, error)));
        };
        // What is left of the reservation goes with the first half.
        first.reservation.merge(std::mem::replace(&mut self.reservation, Reservation::empty()));
        self.outcome.split(middle, &first.outcome, &second.outcome);
        Ok((first, second))
    }

    /// Hands every record its metadata: offsets from `base_offset` on;
    /// `log_append_time` (not -1) replaces the records' timestamps.
    pub fn complete(self, base_offset: i64, log_append_time: i64) {
        self.outcome.complete(&self.tp.topic, self.tp.partition, base_offset, log_append_time);
    }

    /// Hands every record `error`.
    pub fn fail(self, error: ProduceError) {
        self.outcome.fail(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn resequencing_rewrites_the_producer_fields_and_the_crc() {
        let mut batch = ProducerBatch::new(1, TopicPartition::new("t", 0), Compression::Lz4, Instant::now());
        let _delivery = batch.append(ProducerRecord::new("t").key("k").value("v"), 5, RecordReservation::empty()).unwrap();
        let first = Sequenced { producer_id: 7, producer_epoch: 0, base_sequence: 10 };
        let bytes = batch.encode(Some(first), true).unwrap().to_contiguous();
        let decoded = RecordBatch::decode(&bytes, &DecodeOptions::default()).unwrap();
        assert_eq!((decoded.producer_id, decoded.producer_epoch, decoded.base_sequence), (7, 0, 10));
        assert!(decoded.is_transactional());
        let bumped = Sequenced { producer_id: 7, producer_epoch: 1, base_sequence: 0 };
        let bytes = batch.encode(Some(bumped), true).unwrap().to_contiguous();
        // Decoding verifies the CRC.
        let decoded = RecordBatch::decode(&bytes, &DecodeOptions::default()).unwrap();
        assert_eq!((decoded.producer_id, decoded.producer_epoch, decoded.base_sequence), (7, 1, 0));
        assert_eq!(decoded.records[0].value.as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test(start_paused = true)]
    async fn long_values_of_an_uncompressed_batch_go_out_as_the_memory_sent() {
        let mut batch = ProducerBatch::new(1, TopicPartition::new("t", 0), Compression::None, Instant::now());
        let long = Bytes::from(vec![b'x'; 2000]);
        let short = Bytes::from_static(b"short");
        for value in [&long, &short, &long] {
            let record = ProducerRecord::new("t").key("k").value(value.clone());
            drop(batch.append(record, 5, RecordReservation::empty()).unwrap());
        }
        let first = Sequenced { producer_id: 7, producer_epoch: 0, base_sequence: 10 };
        let encoded = batch.encode(Some(first), false).unwrap();
        let shared = encoded.pieces().filter(|p| p.as_ptr() == long.as_ptr() && p.len() == long.len()).count();
        assert_eq!(shared, 2, "both long values are pieces of the batch, not copies");
        assert_eq!(encoded.len(), encoded.to_contiguous().len());
        let decoded = RecordBatch::decode(&encoded.to_contiguous(), &DecodeOptions::default()).unwrap();
        let values: Vec<_> = decoded.records.iter().map(|r| r.value.clone().unwrap()).collect();
        assert_eq!(values, vec![long.clone(), short.clone(), long.clone()]);
        // Re-sequenced, the CRC (over every piece) still holds.
        batch.resequence(Sequenced { producer_id: 7, producer_epoch: 1, base_sequence: 0 });
        let encoded = batch.encoded.clone().unwrap();
        let decoded = RecordBatch::decode(&encoded.to_contiguous(), &DecodeOptions::default()).unwrap();
        assert_eq!((decoded.producer_epoch, decoded.base_sequence, decoded.records.len()), (1, 0, 3));
        assert!(encoded.pieces().any(|p| p.as_ptr() == long.as_ptr()), "still the application's memory");
    }
}

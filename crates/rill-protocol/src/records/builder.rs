//! Magic-2 batch encoder.

use bytes::{BufMut, BytesMut};

use super::batch::{
    field, Attributes, TimestampType, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, CRC_OFFSET, LOG_OVERHEAD, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
use super::record::varint_len;
use super::record::{self, Header, Record};
use crate::compression::Compression;
use crate::error::EncodeError;

/// Builds one magic-2 record batch.
///
/// Records are written straight into the output buffer as they are appended
/// (sizes computed up front, no second pass); [`finish`](Self::finish) then
/// compresses them if a codec is set, fills in the header and patches the
/// CRC-32C. Header setters are meant to be called before the first append.
///
/// ```
/// use rill_protocol::records::{RecordBatchBuilder, RecordBatch, DecodeOptions};
/// use rill_protocol::compression::Compression;
/// let mut b = RecordBatchBuilder::new(0).compression(Compression::Lz4);
/// b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]).unwrap();
/// let bytes = b.finish().unwrap().freeze();
/// let batch = RecordBatch::decode(&bytes, &DecodeOptions::default()).unwrap();
/// assert_eq!(batch.records[0].value.as_deref(), Some(&b"v"[..]));
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    buf: BytesMut,
    start: usize,
    base_offset: i64,
    partition_leader_epoch: i32,
    attributes: Attributes,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp_override: Option<i64>,
    last_offset_delta_override: Option<i32>,
    max_timestamp: i64,
    last_offset_delta: i32,
    count: usize,
}

impl RecordBatchBuilder {
    /// A batch at `base_offset` with no producer id, CreateTime, no compression.
    pub fn new(base_offset: i64) -> Self {
        Self::with_buffer(BytesMut::new(), base_offset)
    }

    /// Like [`new`](Self::new), appending to `buf` (to reuse its allocation
    /// or write several batches into one buffer).
    pub fn with_buffer(mut buf: BytesMut, base_offset: i64) -> Self {
        let start = buf.len();
        buf.reserve(BATCH_HEADER_LEN + 256);
        buf.put_bytes(0, BATCH_HEADER_LEN);
        RecordBatchBuilder {
            buf,
            start,
            base_offset,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            attributes: Attributes::default(),
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: None,
            max_timestamp_override: None,
            last_offset_delta_override: None,
            max_timestamp: i64::MIN,
            last_offset_delta: -1,
            count: 0,
        }
    }

    pub fn compression(mut self, c: Compression) -> Self {
        self.attributes = self.attributes.with_compression(c);
        self
    }

    pub fn timestamp_type(mut self, t: TimestampType) -> Self {
        self.attributes = self.attributes.with_timestamp_type(t);
        self
    }

    pub fn transactional(mut self, on: bool) -> Self {
        self.attributes = self.attributes.with_transactional(on);
        self
    }

    pub fn control(mut self, on: bool) -> Self {
        self.attributes = self.attributes.with_control(on);
        self
    }

    /// Sets all attribute bits at once (the codec included).
    pub fn attributes(mut self, a: Attributes) -> Self {
        self.attributes = a;
        self
    }

    /// Idempotent/transactional producer fields.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Fixes the base timestamp (default: the first appended record's timestamp).
    pub fn base_timestamp(mut self, ts: i64) -> Self {
        self.base_timestamp = Some(ts);
        self
    }

    /// Fixes the max timestamp (default: the largest record timestamp; the
    /// broker sets it to the log append time for LogAppendTime batches).
    pub fn max_timestamp(mut self, ts: i64) -> Self {
        self.max_timestamp_override = Some(ts);
        self
    }

    /// Fixes `lastOffsetDelta` (default: the last appended record's offset delta).
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta_override = Some(delta);
        self
    }

    /// Records appended so far.
    pub fn record_count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Uncompressed size of the batch so far (header included).
    pub fn uncompressed_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes the buffer has room for before it must grow (what it holds included).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends a record at the next offset (0, 1, 2, ...) with an absolute timestamp.
    #[inline]
    pub fn append(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> Result<(), EncodeError> {
        let base = *self.base_timestamp.get_or_insert(timestamp);
        let offset_delta = self.last_offset_delta.wrapping_add(1);
        self.append_raw(0, offset_delta, timestamp.wrapping_sub(base), key, value, headers)
    }

    /// Appends a decoded record as it is (its deltas kept).
    pub fn append_record(&mut self, r: &Record) -> Result<(), EncodeError> {
        self.append_raw(r.attributes, r.offset_delta, r.timestamp_delta, r.key.as_deref(), r.value.as_deref(), &r.headers)
    }

    /// Appends a record with explicit deltas.
    #[inline]
    pub fn append_raw(
        &mut self,
        attributes: i8,
        offset_delta: i32,
        timestamp_delta: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<(), EncodeError> {
        record::check_lengths(key, value, headers)?;
        let body = record::body_len(timestamp_delta, offset_delta, key, value, headers);
        if body > i32::MAX as usize {
            return Err(EncodeError::TooLong { field: field::RECORDS, length: body });
        }
        if self.count >= i32::MAX as usize {
            return Err(EncodeError::TooLong { field: field::RECORD_COUNT, length: self.count + 1 });
        }
        self.buf.reserve(varint_len(body as i32) + body);
        record::write_record(&mut self.buf, body, attributes, timestamp_delta, offset_delta, key, value, headers);
        let base = self.base_timestamp.unwrap_or(NO_TIMESTAMP);
        self.max_timestamp = self.max_timestamp.max(base.wrapping_add(timestamp_delta));
        self.last_offset_delta = offset_delta;
        self.count += 1;
        Ok(())
    }

    /// Writes the header (compressing the records first if a codec is set)
    /// and returns the buffer, which holds whatever it held before plus this batch.
    pub fn finish(self) -> Result<BytesMut, EncodeError> {
        let RecordBatchBuilder { mut buf, start, .. } = self;
        let records_at = start + BATCH_HEADER_LEN;
        let codec = self.attributes.compression().ok_or(EncodeError::FieldNotInVersion { field: field::COMPRESSION, version: 2 })?;
        if codec != Compression::None {
            let raw = buf.split_off(records_at);
            buf.reserve(raw.len() / 2 + 64);
            codec.compress(&raw, &mut buf)?;
        }
        let batch_length = buf.len() - start - LOG_OVERHEAD;
        let batch_length =
            i32::try_from(batch_length).map_err(|_| EncodeError::TooLong { field: field::BATCH_LENGTH, length: batch_length })?;
        let (base_timestamp, max_timestamp) = if self.count == 0 {
            (self.base_timestamp.unwrap_or(NO_TIMESTAMP), self.max_timestamp_override.unwrap_or(NO_TIMESTAMP))
        } else {
            (self.base_timestamp.unwrap_or(NO_TIMESTAMP), self.max_timestamp_override.unwrap_or(self.max_timestamp))
        };
        let last_offset_delta = self.last_offset_delta_override.unwrap_or(self.last_offset_delta.max(0));

        let mut header = [0u8; BATCH_HEADER_LEN];
        {
            let mut h = header.as_mut_slice();
            h.put_i64(self.base_offset);
            h.put_i32(batch_length);
            h.put_i32(self.partition_leader_epoch);
            h.put_i8(2);
            h.put_u32(0); // CRC, patched below
            h.put_i16(self.attributes.0);
            h.put_i32(last_offset_delta);
            h.put_i64(base_timestamp);
            h.put_i64(max_timestamp);
            h.put_i64(self.producer_id);
            h.put_i16(self.producer_epoch);
            h.put_i32(self.base_sequence);
            h.put_i32(self.count as i32);
        }
        if let Some(slot) = buf.get_mut(start..records_at) {
            slot.copy_from_slice(&header);
        }
        let crc = crate::crc32c(buf.get(start + ATTRIBUTES_OFFSET..).unwrap_or_default());
        if let Some(slot) = buf.get_mut(start + CRC_OFFSET..start + ATTRIBUTES_OFFSET) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        Ok(buf)
    }
}

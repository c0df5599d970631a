//! Magic-2 batch encoder.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{
    field, Attributes, TimestampType, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, CRC_OFFSET, LOG_OVERHEAD, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
use super::pieces::BatchPieces;
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
/// Values of uncompressed batches given as `Bytes` to
/// [`append_shared`](Self::append_shared) (at least [`SHARE_MIN_BYTES`])
/// are kept by reference instead of copied: [`finish_parts`](Self::finish_parts)
/// hands the batch back as pieces, the values among them, to be written as
/// they are (see `produce_frame`). A producer of 1 KiB records otherwise
/// copies every value twice, into the batch and into the request frame.
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
    /// Values kept by reference: where each goes (an offset in `buf`: the
    /// bytes after it there follow the value), and the value.
    shared: Vec<(usize, Bytes)>,
    shared_bytes: usize,
    /// Where the next record goes in `buf`. Past it `buf` holds zeros,
    /// written ahead so records are written into a slice (see
    /// `record::write_record_to`); `finish` cuts them off.
    written: usize,
}

/// Zeros written ahead of the records at a time (when the buffer has the
/// capacity): as many as the batch holds so far, within these bounds, so a
/// batch of one small record touches no more of a fresh buffer than it needs
/// and a large batch pays for a memset every 16 KiB (less than a byte a record).
const ZERO_AHEAD_MIN_BYTES: usize = 1024;
const ZERO_AHEAD_MAX_BYTES: usize = 16 * 1024;

/// Values shorter than this are copied into the batch by
/// [`RecordBatchBuilder::append_shared`]: a piece of its own costs more
/// than copying 100 bytes.
pub const SHARE_MIN_BYTES: usize = crate::frame_parts::SPLICE_MIN_BYTES;

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
            shared: Vec::new(),
            shared_bytes: 0,
            written: start + BATCH_HEADER_LEN,
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
        self.written - self.start + self.shared_bytes
    }

    /// Bytes written into the buffer: the batch so far, less values kept by
    /// reference.
    pub fn copied_len(&self) -> usize {
        self.written - self.start
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

    /// Like [`append`](Self::append), keeping the value by reference when
    /// the batch is uncompressed and the value at least [`SHARE_MIN_BYTES`]
    /// (moved in: no reference count is touched).
    #[inline]
    pub fn append_shared(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<Bytes>,
        headers: &[Header],
    ) -> Result<(), EncodeError> {
        match value {
            Some(v) if v.len() >= SHARE_MIN_BYTES && self.attributes.compression() == Some(Compression::None) => {
                let base = *self.base_timestamp.get_or_insert(timestamp);
                let offset_delta = self.last_offset_delta.wrapping_add(1);
                self.append_by_reference(offset_delta, timestamp.wrapping_sub(base), key, v, headers)
            }
            _ => self.append(timestamp, key, value.as_deref(), headers),
        }
    }

    /// Appends a decoded record as it is (its deltas kept).
    pub fn append_record(&mut self, r: &Record) -> Result<(), EncodeError> {
        self.append_raw(r.attributes, r.offset_delta, r.timestamp_delta, r.key.as_deref(), r.value.as_deref(), &r.headers)
    }

    /// Appends a record with explicit deltas.
    // Always inlined: called once per record, and the loop that calls
    // `append` runs measurably slower (7% with 100-byte records) when this
    // is a call.
    #[inline(always)]
    pub fn append_raw(
        &mut self,
        attributes: i8,
        offset_delta: i32,
        timestamp_delta: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<(), EncodeError> {
        let body = self.check(timestamp_delta, offset_delta, key, value, headers)?;
        let end = self.written + varint_len(body as i32) + body;
        if end > self.buf.len() {
            self.zero_extend(end);
        }
        if let Some(dst) = self.buf.get_mut(self.written..end) {
            record::write_record_to(dst, body, attributes, timestamp_delta, offset_delta, key, value, headers);
        }
        self.written = end;
        self.appended(offset_delta, timestamp_delta);
        Ok(())
    }

    /// [`append_shared`](Self::append_shared) of a value kept by reference:
    /// the record's other fields are written, the value's place remembered.
    fn append_by_reference(
        &mut self,
        offset_delta: i32,
        timestamp_delta: i64,
        key: Option<&[u8]>,
        value: Bytes,
        headers: &[Header],
    ) -> Result<(), EncodeError> {
        let body = self.check(timestamp_delta, offset_delta, key, Some(&value), headers)?;
        let end = self.written + varint_len(body as i32) + body - value.len();
        if end > self.buf.len() {
            self.zero_extend(end);
        }
        let mut at = 0;
        if let Some(dst) = self.buf.get_mut(self.written..end) {
            at = record::put_record_head_at(dst, body, 0, timestamp_delta, offset_delta, key);
            at = record::put_varint_at(dst, at, value.len() as i32);
            record::put_record_headers_at(dst, at, headers);
        }
        self.shared_bytes += value.len();
        self.shared.push((self.written + at, value));
        self.written = end;
        self.appended(offset_delta, timestamp_delta);
        Ok(())
    }

    /// Makes `buf` at least `end` bytes long, zeros past what is written
    /// (and more ahead while it has the capacity: see `ZERO_AHEAD_MIN_BYTES`).
    #[cold]
    fn zero_extend(&mut self, end: usize) {
        let ahead = (self.written - self.start).clamp(ZERO_AHEAD_MIN_BYTES, ZERO_AHEAD_MAX_BYTES);
        let ahead = (self.buf.len() + ahead).min(self.buf.capacity());
        self.buf.resize(end.max(ahead), 0);
    }

    /// The record's body length, once its lengths and the batch's record
    /// count are known to fit their fields.
    #[inline(always)]
    fn check(
        &self,
        timestamp_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<usize, EncodeError> {
        record::check_lengths(key, value, headers)?;
        let body = record::body_len(timestamp_delta, offset_delta, key, value, headers);
        if body > i32::MAX as usize {
            return Err(EncodeError::TooLong { field: field::RECORDS, length: body });
        }
        if self.count >= i32::MAX as usize {
            return Err(EncodeError::TooLong { field: field::RECORD_COUNT, length: self.count + 1 });
        }
        Ok(body)
    }

    #[inline(always)]
    fn appended(&mut self, offset_delta: i32, timestamp_delta: i64) {
        let base = self.base_timestamp.unwrap_or(NO_TIMESTAMP);
        self.max_timestamp = self.max_timestamp.max(base.wrapping_add(timestamp_delta));
        self.last_offset_delta = offset_delta;
        self.count += 1;
    }

    /// Writes the header (compressing the records first if a codec is set)
    /// and returns the buffer, which holds whatever it held before plus this batch.
    pub fn finish(mut self) -> Result<BytesMut, EncodeError> {
        self.buf.truncate(self.written);
        if !self.shared.is_empty() {
            // Values kept by reference are copied in after all.
            let mut whole = BytesMut::with_capacity(self.buf.len() + self.shared_bytes);
            let mut from = 0;
            for (at, value) in std::mem::take(&mut self.shared) {
                whole.put_slice(self.buf.get(from..at).unwrap_or_default());
                whole.put_slice(&value);
                from = at;
            }
            whole.put_slice(self.buf.get(from..).unwrap_or_default());
            self.buf = whole;
            self.shared_bytes = 0;
        }
        let codec = self.attributes.compression().ok_or(EncodeError::FieldNotInVersion { field: field::COMPRESSION, version: 2 })?;
        let start = self.start;
        let records_at = start + BATCH_HEADER_LEN;
        let mut buf = std::mem::take(&mut self.buf);
        if codec != Compression::None {
            let raw = buf.split_off(records_at);
            buf.reserve(raw.len() / 2 + 64);
            codec.compress(&raw, &mut buf)?;
        }
        let header = self.header(buf.len() - start)?;
        if let Some(slot) = buf.get_mut(start..records_at) {
            slot.copy_from_slice(&header);
        }
        let crc = crate::crc32c(buf.get(start + ATTRIBUTES_OFFSET..).unwrap_or_default());
        if let Some(slot) = buf.get_mut(start + CRC_OFFSET..start + ATTRIBUTES_OFFSET) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        Ok(buf)
    }

    /// Like [`finish`](Self::finish), as [`BatchPieces`]: the bytes written,
    /// with the values kept by [`append_shared`](Self::append_shared)
    /// between them, the same memory the caller gave. Concatenated, the
    /// pieces are what `finish` returns.
    pub fn finish_parts(mut self) -> Result<BatchPieces, EncodeError> {
        self.buf.truncate(self.written);
        let start = self.start;
        if self.shared.is_empty() {
            return Ok(BatchPieces::new(self.finish()?.freeze(), Vec::new(), start));
        }
        let records_at = start + BATCH_HEADER_LEN;
        let header = self.header(self.buf.len() - start + self.shared_bytes)?;
        if let Some(slot) = self.buf.get_mut(start..records_at) {
            slot.copy_from_slice(&header);
        }
        let mut pieces = BatchPieces::new(std::mem::take(&mut self.buf).freeze(), std::mem::take(&mut self.shared), start);
        // The CRC covers the batch from its attributes on, values included.
        let crc = pieces.crc_from(start + ATTRIBUTES_OFFSET);
        pieces.set_crc(start + CRC_OFFSET, crc);
        Ok(pieces)
    }

    /// The batch header for a batch of `len` bytes from its base offset on.
    fn header(&self, len: usize) -> Result<[u8; BATCH_HEADER_LEN], EncodeError> {
        let batch_length = len - LOG_OVERHEAD;
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
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{DecodeOptions, RecordBatch};
    use proptest::prelude::*;

    type Input = Vec<(Option<Vec<u8>>, Option<Vec<u8>>, bool)>;

    fn records() -> impl Strategy<Value = Input> {
        let bytes = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), SHARE_MIN_BYTES - 2..SHARE_MIN_BYTES + 600),
        ];
        proptest::collection::vec((proptest::option::of(bytes.clone()), proptest::option::of(bytes), any::<bool>()), 0..12)
    }

    fn build(input: &Input, codec: Compression, prefix: &[u8], shared: bool) -> RecordBatchBuilder {
        let mut buf = BytesMut::new();
        buf.put_slice(prefix);
        let mut b = RecordBatchBuilder::with_buffer(buf, 5).compression(codec).producer(9, 1, 100);
        for (i, (key, value, with_header)) in input.iter().enumerate() {
            let headers = if *with_header { vec![Header::new("h", Some(Bytes::from_static(b"v")))] } else { vec![] };
            let ts = 1_700_000_000_000 + i as i64;
            if shared {
                let value = value.clone().map(Bytes::from);
                b.append_shared(ts, key.as_deref(), value, &headers).unwrap();
            } else {
                b.append(ts, key.as_deref(), value.as_deref(), &headers).unwrap();
            }
        }
        b
    }

    proptest! {
        // Values kept by reference change nothing on the wire: the pieces
        // are the batch `append` and `finish` write, and `finish` with
        // shared values writes it too.
        #[test]
        fn shared_values_make_the_same_batch(input in records(), lz4 in any::<bool>(), prefix in proptest::collection::vec(any::<u8>(), 0..3)) {
            let codec = if lz4 { Compression::Lz4 } else { Compression::None };
            let copied = build(&input, codec, &prefix, false);
            let len = copied.uncompressed_len();
            let expected = copied.finish().unwrap();
            let shared = build(&input, codec, &prefix, true);
            prop_assert_eq!(shared.uncompressed_len(), len);
            let parts = shared.finish_parts().unwrap();
            let joined: Vec<u8> = parts.pieces().flat_map(|p| p.iter().copied()).collect();
            prop_assert_eq!(parts.len(), joined.len());
            prop_assert_eq!(&joined[..], &expected[..]);
            let whole = build(&input, codec, &prefix, true).finish().unwrap();
            prop_assert_eq!(&whole[..], &expected[..]);
            let batch = RecordBatch::decode(&Bytes::from(joined).slice(prefix.len()..), &DecodeOptions::default()).unwrap();
            prop_assert_eq!(batch.records.len(), input.len());
        }
    }

    proptest! {
        // Records are written into zeros laid down ahead of them, up to
        // 16 KiB at a time while the buffer has room: records that end exactly there,
        // run past it, or outgrow the buffer come out whole, and nothing of
        // the zeros is left after the last one.
        #[test]
        fn records_cross_the_zeros_written_ahead(
            sizes in proptest::collection::vec(prop_oneof![0usize..20, 100usize..300, 16_000usize..17_000, 30_000usize..33_000], 0..8),
            capacity in 0usize..70_000,
            prefix in proptest::collection::vec(any::<u8>(), 0..3),
        ) {
            let mut buf = BytesMut::with_capacity(capacity);
            buf.put_slice(&prefix);
            let mut b = RecordBatchBuilder::with_buffer(buf, 0);
            let values: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| (0..*n).map(|j| (i * 7 + j) as u8).collect()).collect();
            let headers = [Header::new("h", Some(Bytes::from_static(b"v")))];
            for (i, v) in values.iter().enumerate() {
                let key = vec![i as u8; i];
                b.append(i as i64, Some(&key), Some(v), if i % 2 == 0 { &headers[..] } else { &[] }).unwrap();
            }
            let len = b.uncompressed_len();
            prop_assert_eq!(b.copied_len(), len);
            let out = b.finish().unwrap().freeze();
            prop_assert_eq!(out.len(), prefix.len() + len);
            prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
            let batch = RecordBatch::decode(&out.slice(prefix.len()..), &DecodeOptions::default()).unwrap();
            prop_assert_eq!(batch.records.len(), values.len());
            for (i, (r, v)) in batch.records.iter().zip(&values).enumerate() {
                prop_assert_eq!(r.key.as_deref(), Some(&vec![i as u8; i][..]));
                prop_assert_eq!(r.value.as_deref(), Some(&v[..]));
                prop_assert_eq!(r.headers.len(), if i % 2 == 0 { 1 } else { 0 });
            }
        }
    }

    #[test]
    fn long_values_of_uncompressed_batches_are_not_copied() {
        let long = Bytes::from(vec![1u8; SHARE_MIN_BYTES]);
        let short = Bytes::from(vec![2u8; SHARE_MIN_BYTES - 1]);
        let mut b = RecordBatchBuilder::new(0);
        b.append_shared(1, None, Some(long.clone()), &[]).unwrap();
        b.append_shared(2, None, Some(short.clone()), &[]).unwrap();
        assert_eq!(b.copied_len(), b.uncompressed_len() - long.len());
        let parts = b.finish_parts().unwrap();
        assert_eq!(parts.piece_count(), 3);
        assert_eq!(parts.piece(1).as_ptr(), long.as_ptr());
        let mut lz4 = RecordBatchBuilder::new(0).compression(Compression::Lz4);
        lz4.append_shared(1, None, Some(long.clone()), &[]).unwrap();
        assert_eq!(lz4.finish_parts().unwrap().piece_count(), 1, "compressed batches are one piece");
    }
}

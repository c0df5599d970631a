//! Magic-2 record batches (KIP-98): header, attributes, decode.
//!
//! ```text
//! baseOffset: int64
//! batchLength: int32            (bytes after this field)
//! partitionLeaderEpoch: int32
//! magic: int8                   (2)
//! crc: uint32                   (CRC-32C of attributes .. end of batch)
//! attributes: int16
//! lastOffsetDelta: int32
//! baseTimestamp: int64
//! maxTimestamp: int64
//! producerId: int64
//! producerEpoch: int16
//! baseSequence: int32
//! recordCount: int32
//! records: [Record]             (compressed as one block if the codec is not none)
//! ```

use bytes::{Buf, Bytes, BytesMut};

use super::parse;
use super::record::{Header, Record, MIN_RECORD_LEN};
use super::DecodeOptions;
use crate::codec::Reader;
use crate::compression::Compression;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

pub(crate) mod field {
    pub const BASE_OFFSET: &str = "RecordBatch.base_offset";
    pub const BATCH_LENGTH: &str = "RecordBatch.batch_length";
    pub const PARTITION_LEADER_EPOCH: &str = "RecordBatch.partition_leader_epoch";
    pub const MAGIC: &str = "RecordBatch.magic";
    pub const CRC: &str = "RecordBatch.crc";
    pub const ATTRIBUTES: &str = "RecordBatch.attributes";
    pub const COMPRESSION: &str = "RecordBatch.attributes.compression";
    pub const LAST_OFFSET_DELTA: &str = "RecordBatch.last_offset_delta";
    pub const BASE_TIMESTAMP: &str = "RecordBatch.base_timestamp";
    pub const MAX_TIMESTAMP: &str = "RecordBatch.max_timestamp";
    pub const PRODUCER_ID: &str = "RecordBatch.producer_id";
    pub const PRODUCER_EPOCH: &str = "RecordBatch.producer_epoch";
    pub const BASE_SEQUENCE: &str = "RecordBatch.base_sequence";
    pub const RECORD_COUNT: &str = "RecordBatch.record_count";
    pub const RECORDS: &str = "RecordBatch.records";
    pub const BATCH: &str = "RecordBatch";
}

/// Size of `baseOffset` + `batchLength` (Kafka's LOG_OVERHEAD).
pub const LOG_OVERHEAD: usize = 12;
/// Size of a magic-2 batch header, up to and including `recordCount`.
pub const BATCH_HEADER_LEN: usize = 61;
/// Offset of the magic byte from the start of a batch (same for every magic).
pub const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC field in a magic-2 batch.
pub const CRC_OFFSET: usize = 17;
/// Offset of the attributes field (where the CRC's coverage starts).
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Smallest valid `batchLength` of a magic-2 batch.
pub const MIN_BATCH_LENGTH: usize = BATCH_HEADER_LEN - LOG_OVERHEAD;

/// `producerId`, `producerEpoch` and `baseSequence` when there is no producer.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
/// `partitionLeaderEpoch` a client writes (the broker stamps the real one).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp value meaning "none".
pub const NO_TIMESTAMP: i64 = -1;

/// Whether record timestamps are the producer's or the broker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

/// The 16-bit attributes of a batch.
///
/// | bits | meaning |
/// |------|---------|
/// | 0–2  | compression codec id |
/// | 3    | timestamp type (1 = LogAppendTime) |
/// | 4    | transactional |
/// | 5    | control batch |
/// | 6    | has delete horizon (base timestamp is the delete horizon) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(pub i16);

impl Attributes {
    pub const COMPRESSION_MASK: i16 = 0x07;
    pub const TIMESTAMP_TYPE: i16 = 0x08;
    pub const TRANSACTIONAL: i16 = 0x10;
    pub const CONTROL: i16 = 0x20;
    pub const DELETE_HORIZON: i16 = 0x40;

    /// Raw codec id (0..=7; only 0..=4 are defined).
    #[inline]
    pub fn compression_id(self) -> u8 {
        (self.0 & Self::COMPRESSION_MASK) as u8
    }

    /// The codec, `None` if the id is not one Kafka defines.
    #[inline]
    pub fn compression(self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }

    #[inline]
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    #[inline]
    pub fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }

    #[inline]
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }

    #[inline]
    pub fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }

    fn set(self, bit: i16, on: bool) -> Self {
        Attributes(if on { self.0 | bit } else { self.0 & !bit })
    }

    pub fn with_compression(self, c: Compression) -> Self {
        Attributes((self.0 & !Self::COMPRESSION_MASK) | c.id() as i16)
    }

    pub fn with_timestamp_type(self, t: TimestampType) -> Self {
        self.set(Self::TIMESTAMP_TYPE, t == TimestampType::LogAppendTime)
    }

    pub fn with_transactional(self, on: bool) -> Self {
        self.set(Self::TRANSACTIONAL, on)
    }

    pub fn with_control(self, on: bool) -> Self {
        self.set(Self::CONTROL, on)
    }

    pub fn with_delete_horizon(self, on: bool) -> Self {
        self.set(Self::DELETE_HORIZON, on)
    }
}

/// A decoded record batch with its records.
///
/// Magic 0/1 message sets decode to this type too (see [`super::legacy`]):
/// one batch per top-level message, with `producer_id` -1 and the legacy CRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    pub base_offset: i64,
    /// Bytes after the `batchLength` field, as on the wire (for magic 0/1, the message size).
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    /// CRC as on the wire (CRC-32C for magic 2, CRC-32 for magic 0/1); verified on decode.
    pub crc: u32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records: Vec<Record>,
}

impl Default for RecordBatch {
    fn default() -> Self {
        RecordBatch {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            magic: 2,
            crc: 0,
            attributes: Attributes::default(),
            last_offset_delta: 0,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records: Vec::new(),
        }
    }
}

impl RecordBatch {
    /// Offset of the last record the batch was written with (kept even when
    /// compaction removed records).
    #[inline]
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// Offset right after this batch (where the next fetch starts).
    #[inline]
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    #[inline]
    pub fn compression(&self) -> Option<Compression> {
        self.attributes.compression()
    }

    #[inline]
    pub fn timestamp_type(&self) -> TimestampType {
        self.attributes.timestamp_type()
    }

    #[inline]
    pub fn is_transactional(&self) -> bool {
        self.attributes.is_transactional()
    }

    #[inline]
    pub fn is_control(&self) -> bool {
        self.attributes.is_control()
    }

    #[inline]
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes.has_delete_horizon()
    }

    /// The delete horizon, when the batch carries one (then `base_timestamp` holds it).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then_some(self.base_timestamp)
    }

    /// True when the batch has a producer id (idempotent or transactional).
    #[inline]
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Number of records.
    #[inline]
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Absolute offset of a record of this batch.
    #[inline]
    pub fn offset_of(&self, record: &Record) -> i64 {
        self.base_offset.wrapping_add(record.offset_delta as i64)
    }

    /// Absolute timestamp of a record of this batch: the batch's max
    /// timestamp for LogAppendTime batches, base + delta otherwise.
    #[inline]
    pub fn timestamp_of(&self, record: &Record) -> i64 {
        match self.timestamp_type() {
            TimestampType::LogAppendTime => self.max_timestamp,
            TimestampType::CreateTime => self.base_timestamp.wrapping_add(record.timestamp_delta),
        }
    }

    /// Records with their absolute offsets and timestamps.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i64, &Record)> + '_ {
        self.records.iter().map(move |r| (self.offset_of(r), self.timestamp_of(r), r))
    }

    /// Decodes exactly one complete batch (any magic) that fills `buf`.
    ///
    /// Unlike [`RecordBatches`], a truncated batch is an error here.
    pub fn decode(buf: &Bytes, opts: &DecodeOptions) -> Result<RecordBatch, DecodeError> {
        let mut r = Reader::new(buf);
        let batch = decode_one(&mut r, opts)?;
        r.expect_end(field::BATCH)?;
        Ok(batch)
    }

    /// Decodes every complete batch of a `records` field, skipping a partial
    /// batch at the end (a fetch truncated by `max_bytes`). The first error is returned.
    pub fn decode_all(buf: &Bytes, opts: &DecodeOptions) -> Result<Vec<RecordBatch>, DecodeError> {
        RecordBatches::new(buf, opts).collect()
    }

    /// Encodes this batch as magic 2, recomputing `batchLength`, the record
    /// count and the CRC; every other header field is written as it is
    /// (records keep their deltas). `magic` is ignored: magic 0/1 batches are
    /// re-encoded as magic 2.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let codec = self.compression().ok_or(EncodeError::FieldNotInVersion { field: field::COMPRESSION, version: 2 })?;
        let mut b = super::RecordBatchBuilder::with_buffer(std::mem::take(out), self.base_offset)
            .partition_leader_epoch(self.partition_leader_epoch)
            .attributes(self.attributes.with_compression(codec))
            .producer(self.producer_id, self.producer_epoch, self.base_sequence)
            .base_timestamp(self.base_timestamp)
            .max_timestamp(self.max_timestamp)
            .last_offset_delta(self.last_offset_delta);
        for r in &self.records {
            b.append_raw(r.attributes, r.offset_delta, r.timestamp_delta, r.key.as_deref(), r.value.as_deref(), &r.headers)?;
        }
        *out = b.finish()?;
        Ok(())
    }
}

/// Iterator over the batches of a `records` field (a fetch response's
/// partition data, a produce request's records, a log segment).
///
/// Yields one `Result` per complete batch. A partial batch at the end (the
/// broker cuts fetch responses at `max_bytes`) ends the iteration silently;
/// [`RecordBatches::trailing_partial`] tells how many bytes it had.
/// After a framing error (a length that cannot be honest, an unknown magic)
/// iteration ends; after an error inside a well-framed batch (bad CRC, bad
/// record) it goes on with the next batch.
#[derive(Debug, Clone)]
pub struct RecordBatches<'a> {
    reader: Reader<'a>,
    opts: DecodeOptions,
    done: bool,
}

impl<'a> RecordBatches<'a> {
    pub fn new(buf: &'a Bytes, opts: &DecodeOptions) -> Self {
        RecordBatches { reader: Reader::new(buf), opts: opts.clone(), done: false }
    }

    /// Bytes not consumed: after iteration ends without error, the size of
    /// the partial trailing batch (0 if none).
    pub fn trailing_partial(&self) -> usize {
        self.reader.remaining()
    }
}

impl Iterator for RecordBatches<'_> {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match frame(&self.reader) {
            Frame::Partial => {
                self.done = true;
                None
            }
            Frame::Bad(e) => {
                self.done = true;
                Some(Err(e))
            }
            Frame::Complete(total) => {
                // Framing is sound: decode within it, then move past it whatever happens.
                let mut batch = match self.reader.sub(total, field::BATCH) {
                    Ok(b) => b,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                };
                let res = decode_one(&mut batch, &self.opts).and_then(|b| {
                    batch.expect_end(field::BATCH)?;
                    Ok(b)
                });
                Some(res)
            }
        }
    }
}

pub(crate) enum Frame {
    Partial,
    Complete(usize),
    Bad(DecodeError),
}

/// Smallest `batchLength`/message size any magic allows (magic 0 message).
const MIN_ANY_LENGTH: i32 = super::legacy::MIN_MESSAGE_SIZE_V0 as i32;

/// Looks at the next batch's framing without consuming it.
pub(crate) fn frame(r: &Reader<'_>) -> Frame {
    let rest = r.peek_rest();
    let Some((head, _)) = rest.split_first_chunk::<LOG_OVERHEAD>() else {
        return Frame::Partial;
    };
    let [_, _, _, _, _, _, _, _, a, b, c, d] = *head;
    let len = i32::from_be_bytes([a, b, c, d]);
    if len < MIN_ANY_LENGTH {
        return Frame::Bad(DecodeError::new(DecodeErrorKind::InvalidLength { length: len as i64 }, field::BATCH_LENGTH));
    }
    let total = LOG_OVERHEAD + len as usize;
    if total > rest.len() {
        return Frame::Partial;
    }
    Frame::Complete(total)
}

/// Decodes one batch starting at `r`'s position; `r` must hold all of it.
pub(crate) fn decode_one(r: &mut Reader<'_>, opts: &DecodeOptions) -> Result<RecordBatch, DecodeError> {
    let magic = r.peek_rest().get(MAGIC_OFFSET).copied();
    match magic {
        Some(2) => decode_v2(r, opts),
        Some(0) | Some(1) => super::legacy::decode_entry(r, opts),
        Some(m) => Err(DecodeError::new(DecodeErrorKind::InvalidValue { value: m as i8 as i64 }, field::MAGIC)),
        None => Err(DecodeError::missing(field::MAGIC, MAGIC_OFFSET + 1, r.remaining())),
    }
}

fn decode_v2(r: &mut Reader<'_>, opts: &DecodeOptions) -> Result<RecordBatch, DecodeError> {
    let (h, data) = decode_v2_header(r, opts)?;
    let records = decode_records(&data, h.record_count as usize)?;
    Ok(RecordBatch {
        base_offset: h.base_offset,
        batch_length: h.batch_length,
        partition_leader_epoch: h.partition_leader_epoch,
        magic: h.magic,
        crc: h.crc,
        attributes: h.attributes,
        last_offset_delta: h.last_offset_delta,
        base_timestamp: h.base_timestamp,
        max_timestamp: h.max_timestamp,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        records,
    })
}

/// The header of a magic-2 batch, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Declared record count (checked non-negative and plausible for the data).
    pub record_count: i32,
}

/// Decodes a magic-2 header at `r` (consuming the whole batch), checks the
/// CRC, and returns the records region: a zero-copy slice of the input when
/// uncompressed, else the decompressed buffer (capped).
pub(crate) fn decode_v2_header(r: &mut Reader<'_>, opts: &DecodeOptions) -> Result<(BatchHeader, Bytes), DecodeError> {
    let base_offset = r.i64(field::BASE_OFFSET)?;
    let batch_length = r.i32(field::BATCH_LENGTH)?;
    let len = usize::try_from(batch_length)
        .ok()
        .filter(|&l| l >= MIN_BATCH_LENGTH)
        .ok_or_else(|| DecodeError::new(DecodeErrorKind::InvalidLength { length: batch_length as i64 }, field::BATCH_LENGTH))?;
    let mut b = r.sub(len, field::BATCH_LENGTH)?;
    let partition_leader_epoch = b.i32(field::PARTITION_LEADER_EPOCH)?;
    let magic = b.i8(field::MAGIC)?;
    if magic != 2 {
        return Err(DecodeError::new(DecodeErrorKind::InvalidValue { value: magic as i64 }, field::MAGIC));
    }
    let crc = b.u32(field::CRC)?;
    if opts.verify_crc {
        let actual = crate::crc32c(b.peek_rest());
        if actual != crc {
            return Err(DecodeError::new(DecodeErrorKind::CrcMismatch { expected: crc, actual }, field::CRC));
        }
    }
    let attributes = Attributes(b.i16(field::ATTRIBUTES)?);
    let last_offset_delta = b.i32(field::LAST_OFFSET_DELTA)?;
    let base_timestamp = b.i64(field::BASE_TIMESTAMP)?;
    let max_timestamp = b.i64(field::MAX_TIMESTAMP)?;
    let producer_id = b.i64(field::PRODUCER_ID)?;
    let producer_epoch = b.i16(field::PRODUCER_EPOCH)?;
    let base_sequence = b.i32(field::BASE_SEQUENCE)?;
    let record_count = b.i32(field::RECORD_COUNT)?;
    let count = usize::try_from(record_count)
        .map_err(|_| DecodeError::new(DecodeErrorKind::InvalidLength { length: record_count as i64 }, field::RECORD_COUNT))?;
    let codec = attributes
        .compression()
        .ok_or_else(|| DecodeError::new(DecodeErrorKind::InvalidValue { value: attributes.compression_id() as i64 }, field::COMPRESSION))?;
    let data = if codec == Compression::None {
        let n = b.remaining();
        b.take_bytes(n, field::RECORDS)?
    } else {
        // Refuse counts no output within the cap could hold before inflating anything.
        let max_count = opts.max_decompressed_bytes / MIN_RECORD_LEN;
        if count > max_count {
            return Err(DecodeError::new(
                DecodeErrorKind::CountTooLarge { count: count as u64, remaining: opts.max_decompressed_bytes },
                field::RECORD_COUNT,
            ));
        }
        let data = opts.decompress(codec, b.peek_rest(), field::RECORDS)?;
        b.skip(b.remaining(), field::RECORDS)?;
        data
    };
    // Every record takes at least MIN_RECORD_LEN bytes: refuse impossible counts before allocating.
    if count > data.len() / MIN_RECORD_LEN {
        return Err(DecodeError::new(DecodeErrorKind::CountTooLarge { count: count as u64, remaining: data.len() }, field::RECORD_COUNT));
    }
    let header = BatchHeader {
        base_offset,
        batch_length,
        partition_leader_epoch,
        magic,
        crc,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
    };
    Ok((header, data))
}

/// Decodes `count` records that must fill `buf` exactly, as zero-copy slices of it.
fn decode_records(buf: &Bytes, count: usize) -> Result<Vec<Record>, DecodeError> {
    let data: &[u8] = buf;
    // `count` was checked against the data size, so this is bounded by the input.
    // Records are filled in place: building each one on the stack and moving
    // it into the vector costs more than the parse itself (store forwarding).
    let mut records = Vec::new();
    records.resize_with(count.min(data.len() / MIN_RECORD_LEN), Record::default);
    let mut pos = 0;
    for rec in records.iter_mut() {
        let raw = parse::record(data, &mut pos)?;
        rec.attributes = raw.attributes;
        rec.timestamp_delta = raw.timestamp_delta;
        rec.offset_delta = raw.offset_delta;
        set_slice(&mut rec.key, buf, raw.key);
        set_slice(&mut rec.value, buf, raw.value);
        if raw.header_count > 0 {
            rec.headers = decode_headers(buf, data, &raw)?;
        }
    }
    if pos != data.len() {
        return Err(DecodeError::new(DecodeErrorKind::TrailingBytes { remaining: data.len().saturating_sub(pos) }, field::RECORDS));
    }
    Ok(records)
}

/// Sets `dst` to `buf[a..b]` (zero copy), or leaves it `None` for a null span.
#[inline(always)]
fn set_slice(dst: &mut Option<Bytes>, buf: &Bytes, span: Option<(usize, usize)>) {
    if let Some((a, b)) = span {
        if a == b {
            *dst = Some(Bytes::new());
        } else {
            let k = dst.get_or_insert_with(|| buf.clone());
            k.truncate(b);
            k.advance(a);
        }
    }
}

/// Materializes the (already validated) headers of a record.
#[inline(never)]
fn decode_headers(buf: &Bytes, data: &[u8], raw: &parse::RawRecord) -> Result<Vec<Header>, DecodeError> {
    let mut headers = Vec::with_capacity(raw.header_count);
    let rdata = data.get(..raw.end).unwrap_or_default();
    let mut pos = raw.headers_at;
    for _ in 0..raw.header_count {
        let ((ka, kb), value) = parse::header(rdata, &mut pos)?;
        headers.push(Header { key: buf.slice(ka..kb), value: value.map(|(a, b)| buf.slice(a..b)) });
    }
    Ok(headers)
}

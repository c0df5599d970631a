//! Legacy message sets (magic 0 and 1), decode (and a small encoder, mostly
//! for tests and simulated old brokers).
//!
//! ```text
//! offset: int64
//! messageSize: int32
//! crc: uint32           (CRC-32 IEEE of magic .. end of message)
//! magic: int8           (0 or 1)
//! attributes: int8      (bits 0-2 codec; bit 3 timestamp type, magic 1 only)
//! timestamp: int64      (magic 1 only)
//! key: bytes            (int32 length, -1 = null)
//! value: bytes          (int32 length, -1 = null)
//! ```
//!
//! A compressed message ("wrapper") holds a compressed inner message set in
//! its value. For magic 1 wrappers the inner offsets are relative (KIP-31):
//! the wrapper's offset is the absolute offset of the last inner message.
//!
//! Each top-level message decodes to one [`RecordBatch`] (magic 0/1, no
//! producer id, `crc` = the message CRC): an uncompressed message gives a
//! batch with one record; a wrapper gives a batch of its inner messages, with
//! `base_offset` the first inner absolute offset and records as deltas.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{Attributes, RecordBatch, TimestampType, LOG_OVERHEAD, NO_TIMESTAMP};
use super::record::Record;
use super::DecodeOptions;
use crate::codec::{Reader, Writer};
use crate::compression::Compression;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// crc + magic + attributes + key length + value length.
pub const MIN_MESSAGE_SIZE_V0: usize = 14;
/// Magic 0 plus the timestamp.
pub const MIN_MESSAGE_SIZE_V1: usize = 22;
const TIMESTAMP_TYPE_BIT: i8 = 0x08;

mod field {
    pub const OFFSET: &str = "MessageSet.offset";
    pub const SIZE: &str = "MessageSet.message_size";
    pub const CRC: &str = "MessageSet.message.crc";
    pub const MAGIC: &str = "MessageSet.message.magic";
    pub const ATTRIBUTES: &str = "MessageSet.message.attributes";
    pub const COMPRESSION: &str = "MessageSet.message.attributes.compression";
    pub const TIMESTAMP: &str = "MessageSet.message.timestamp";
    pub const KEY: &str = "MessageSet.message.key";
    pub const VALUE: &str = "MessageSet.message.value";
    pub const MESSAGE: &str = "MessageSet.message";
    pub const INNER: &str = "MessageSet.message.value.inner_messages";
    pub const INNER_OFFSET: &str = "MessageSet.message.value.inner_messages.offset";
}

struct Message {
    offset: i64,
    size: i32,
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

fn invalid(value: i64, field: &'static str) -> DecodeError {
    DecodeError::new(DecodeErrorKind::InvalidValue { value }, field)
}

/// Reads one `offset, size, message` entry; `r` must hold all of it.
fn read_message(r: &mut Reader<'_>, opts: &DecodeOptions) -> Result<Message, DecodeError> {
    let offset = r.i64(field::OFFSET)?;
    let size = r.i32(field::SIZE)?;
    let len = usize::try_from(size)
        .ok()
        .filter(|&l| l >= MIN_MESSAGE_SIZE_V0)
        .ok_or_else(|| DecodeError::new(DecodeErrorKind::InvalidLength { length: size as i64 }, field::SIZE))?;
    let mut m = r.sub(len, field::SIZE)?;
    let crc = m.u32(field::CRC)?;
    if opts.verify_crc {
        let actual = crc32fast::hash(m.peek_rest());
        if actual != crc {
            return Err(DecodeError::new(DecodeErrorKind::CrcMismatch { expected: crc, actual }, field::CRC));
        }
    }
    let magic = m.i8(field::MAGIC)?;
    if !(0..=1).contains(&magic) {
        return Err(invalid(magic as i64, field::MAGIC));
    }
    let attributes = m.i8(field::ATTRIBUTES)?;
    let timestamp = if magic == 1 { m.i64(field::TIMESTAMP)? } else { NO_TIMESTAMP };
    let key = m.nullable_bytes(field::KEY)?;
    let value = m.nullable_bytes(field::VALUE)?;
    m.expect_end(field::MESSAGE)?;
    Ok(Message { offset, size, crc, magic, attributes, timestamp, key, value })
}

fn codec_of(attributes: i8) -> Result<Compression, DecodeError> {
    let id = (attributes & 0x07) as u8;
    Compression::from_id(id).filter(|c| *c != Compression::Zstd).ok_or_else(|| invalid(id as i64, field::COMPRESSION))
}

fn timestamp_type(m: &Message) -> TimestampType {
    if m.magic >= 1 && m.attributes & TIMESTAMP_TYPE_BIT != 0 {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    }
}

/// Decodes one top-level legacy entry into a batch.
pub(crate) fn decode_entry(r: &mut Reader<'_>, opts: &DecodeOptions) -> Result<RecordBatch, DecodeError> {
    let wrapper = read_message(r, opts)?;
    let codec = codec_of(wrapper.attributes)?;
    let ts_type = timestamp_type(&wrapper);
    let attributes = Attributes::default().with_compression(codec).with_timestamp_type(ts_type);
    let mut batch = RecordBatch {
        base_offset: wrapper.offset,
        batch_length: wrapper.size,
        magic: wrapper.magic,
        crc: wrapper.crc,
        attributes,
        base_timestamp: wrapper.timestamp,
        max_timestamp: wrapper.timestamp,
        ..RecordBatch::default()
    };
    if codec == Compression::None {
        batch.records = vec![Record { key: wrapper.key, value: wrapper.value, ..Record::default() }];
        return Ok(batch);
    }

    let compressed = wrapper.value.as_deref().ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull, field::VALUE))?;
    let data = opts.decompress(codec, compressed, field::VALUE)?;
    let mut ir = Reader::new(&data);
    let mut inner = Vec::new();
    while !ir.is_empty() {
        let m = read_message(&mut ir, opts)?;
        if codec_of(m.attributes)? != Compression::None {
            return Err(invalid(m.attributes as i64, field::COMPRESSION));
        }
        if m.magic > wrapper.magic {
            return Err(invalid(m.magic as i64, field::MAGIC));
        }
        inner.push(m);
    }
    let (Some(first), Some(last)) = (inner.first(), inner.last()) else {
        return Err(DecodeError::new(DecodeErrorKind::MissingData { needed: LOG_OVERHEAD, remaining: 0 }, field::INNER));
    };
    // Magic 1 wrappers: inner offsets are relative, the wrapper holds the last absolute offset.
    let shift = if wrapper.magic >= 1 { wrapper.offset.wrapping_sub(last.offset) } else { 0 };
    let base_offset = first.offset.wrapping_add(shift);
    let base_timestamp = match ts_type {
        TimestampType::LogAppendTime => wrapper.timestamp,
        TimestampType::CreateTime => first.timestamp,
    };
    let mut records = Vec::with_capacity(inner.len());
    let mut max_ts = NO_TIMESTAMP;
    for m in inner {
        let delta = m.offset.wrapping_add(shift).wrapping_sub(base_offset);
        let offset_delta = i32::try_from(delta).map_err(|_| invalid(m.offset, field::INNER_OFFSET))?;
        let ts = match ts_type {
            TimestampType::LogAppendTime => wrapper.timestamp,
            TimestampType::CreateTime => m.timestamp,
        };
        max_ts = max_ts.max(ts);
        records.push(Record {
            attributes: 0,
            timestamp_delta: ts.wrapping_sub(base_timestamp),
            offset_delta,
            key: m.key,
            value: m.value,
            headers: Vec::new(),
        });
    }
    batch.base_offset = base_offset;
    batch.last_offset_delta = records.last().map(|r| r.offset_delta).unwrap_or(0);
    batch.base_timestamp = base_timestamp;
    batch.max_timestamp = if wrapper.magic >= 1 { wrapper.timestamp } else { max_ts };
    batch.records = records;
    Ok(batch)
}

/// One message to write with [`encode_message_set`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyMessage {
    /// Ignored for magic 0.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

fn put_message(
    out: &mut BytesMut,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<(), EncodeError> {
    out.put_i64(offset);
    let size_at = out.len();
    out.put_i32(0);
    out.put_u32(0);
    let body_at = out.len();
    out.put_i8(magic);
    out.put_i8(attributes);
    if magic >= 1 {
        out.put_i64(timestamp);
    }
    Writer::put_bytes(out, key, field::KEY)?;
    Writer::put_bytes(out, value, field::VALUE)?;
    let crc = crc32fast::hash(out.get(body_at..).unwrap_or_default());
    let size = out.len() - size_at - 4;
    let size = i32::try_from(size).map_err(|_| EncodeError::TooLong { field: field::SIZE, length: size })?;
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&size.to_be_bytes());
    header[4..].copy_from_slice(&crc.to_be_bytes());
    if let Some(slot) = out.get_mut(size_at..body_at) {
        slot.copy_from_slice(&header);
    }
    Ok(())
}

/// Writes a magic 0 or 1 message set at `base_offset` (offsets base, base+1, ...).
/// With a codec, all messages go into one wrapper message (inner offsets
/// relative for magic 1). zstd is not allowed with magic 0/1. lz4 frames carry
/// the correct header checksum (what Kafka 0.10+ writes for magic 1).
pub fn encode_message_set(
    out: &mut BytesMut,
    magic: i8,
    compression: Compression,
    timestamp_type: TimestampType,
    base_offset: i64,
    messages: &[LegacyMessage],
) -> Result<(), EncodeError> {
    if !(0..=1).contains(&magic) || compression == Compression::Zstd {
        return Err(EncodeError::FieldNotInVersion { field: field::COMPRESSION, version: magic as i16 });
    }
    let ts_bit = if magic >= 1 && timestamp_type == TimestampType::LogAppendTime { TIMESTAMP_TYPE_BIT } else { 0 };
    if compression == Compression::None {
        for (i, m) in messages.iter().enumerate() {
            put_message(out, base_offset.wrapping_add(i as i64), magic, ts_bit, m.timestamp, m.key.as_deref(), m.value.as_deref())?;
        }
        return Ok(());
    }
    let mut inner = BytesMut::new();
    for (i, m) in messages.iter().enumerate() {
        let off = if magic >= 1 { i as i64 } else { base_offset.wrapping_add(i as i64) };
        put_message(&mut inner, off, magic, 0, m.timestamp, m.key.as_deref(), m.value.as_deref())?;
    }
    let mut compressed = BytesMut::new();
    compression.compress(&inner, &mut compressed)?;
    let last = base_offset.wrapping_add(messages.len().saturating_sub(1) as i64);
    let max_ts = messages.iter().map(|m| m.timestamp).max().unwrap_or(NO_TIMESTAMP);
    put_message(out, last, magic, compression.id() as i8 | ts_bit, max_ts, None, Some(&compressed))
}

//! The hot loop: record parsing over a plain byte slice.
//!
//! Positions are indexes into `data`; every read is `get`-checked, so a lying
//! length can only produce an error. Errors are built in cold functions so
//! the fast path stays small.

use crate::error::{DecodeError, DecodeErrorKind};

use super::record::field;

#[inline(always)]
fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[inline(always)]
fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cold]
#[inline(never)]
fn missing(field: &'static str, needed: usize, remaining: usize) -> DecodeError {
    DecodeError::missing(field, needed, remaining)
}

#[cold]
#[inline(never)]
fn invalid_length(field: &'static str, length: i64) -> DecodeError {
    DecodeError::new(DecodeErrorKind::InvalidLength { length }, field)
}

#[cold]
#[inline(never)]
fn uvarint_slow(data: &[u8], pos: &mut usize, max_len: usize, field: &'static str) -> Result<u64, DecodeError> {
    let rest = data.get(*pos..).unwrap_or_default();
    let mut value: u64 = 0;
    for (i, &b) in rest.iter().take(max_len).enumerate() {
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b < 0x80 {
            *pos += i + 1;
            return Ok(value);
        }
    }
    if rest.len() < max_len {
        Err(missing(field, rest.len() + 1, rest.len()))
    } else {
        Err(DecodeError::new(DecodeErrorKind::VarintTooLong, field))
    }
}

/// One- and two-byte varints inline (lengths up to 8191 and deltas are
/// nearly always that short), anything longer out of line.
#[inline(always)]
fn uvarint_fast(data: &[u8], pos: &mut usize) -> Option<u64> {
    match data.get(*pos..*pos + 2) {
        Some(&[b0, b1]) => {
            if b0 < 0x80 {
                *pos += 1;
                Some(b0 as u64)
            } else if b1 < 0x80 {
                *pos += 2;
                Some((b0 & 0x7f) as u64 | (b1 as u64) << 7)
            } else {
                None
            }
        }
        _ => match data.get(*pos) {
            Some(&b0) if b0 < 0x80 => {
                *pos += 1;
                Some(b0 as u64)
            }
            _ => None,
        },
    }
}

#[inline(always)]
fn varint(data: &[u8], pos: &mut usize, field: &'static str) -> Result<i32, DecodeError> {
    match uvarint_fast(data, pos) {
        Some(v) => Ok(unzigzag32(v as u32)),
        None => {
            let v = uvarint_slow(data, pos, 5, field)?;
            match u32::try_from(v) {
                Ok(v) => Ok(unzigzag32(v)),
                Err(_) => Err(DecodeError::new(DecodeErrorKind::VarintTooLong, field)),
            }
        }
    }
}

#[inline(always)]
fn varlong(data: &[u8], pos: &mut usize, field: &'static str) -> Result<i64, DecodeError> {
    match uvarint_fast(data, pos) {
        Some(v) => Ok(unzigzag64(v)),
        None => uvarint_slow(data, pos, 10, field).map(unzigzag64),
    }
}

/// A byte field as `start..end` in `data`, or null.
pub(crate) type Span = Option<(usize, usize)>;

#[inline(always)]
fn span(data: &[u8], pos: &mut usize, nullable: bool, field: &'static str) -> Result<Span, DecodeError> {
    let len = varint(data, pos, field)?;
    if len < 0 {
        return if len == -1 && nullable {
            Ok(None)
        } else if len == -1 {
            Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field))
        } else {
            Err(invalid_length(field, len as i64))
        };
    }
    let start = *pos;
    let stop = start + len as usize;
    if stop > data.len() {
        return Err(missing(field, len as usize, data.len().saturating_sub(start)));
    }
    *pos = stop;
    Ok(Some((start, stop)))
}

/// One record, parsed but not materialized.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Span,
    pub value: Span,
    /// Where the headers start and how many there are (already validated).
    pub headers_at: usize,
    pub header_count: usize,
    /// Position right after the record.
    pub end: usize,
}

/// Parses the record at `*pos` (length prefix included), validating every
/// header, and leaves `*pos` after it. `data` may extend past the record.
#[inline(always)]
pub(crate) fn record(data: &[u8], pos: &mut usize) -> Result<RawRecord, DecodeError> {
    let len = varint(data, pos, field::LENGTH)?;
    if len < 0 {
        return Err(invalid_length(field::LENGTH, len as i64));
    }
    let start = *pos;
    let end = start + len as usize;
    if end > data.len() {
        return Err(missing(field::LENGTH, len as usize, data.len().saturating_sub(start)));
    }
    // From here on every read is bounded by the record's end.
    let data = data.get(..end).unwrap_or_default();
    let attributes = match data.get(*pos) {
        Some(&b) => b as i8,
        None => return Err(missing(field::ATTRIBUTES, 1, 0)),
    };
    *pos += 1;
    let timestamp_delta = varlong(data, pos, field::TIMESTAMP_DELTA)?;
    let offset_delta = varint(data, pos, field::OFFSET_DELTA)?;
    let key = span(data, pos, true, field::KEY)?;
    let value = span(data, pos, true, field::VALUE)?;
    let count = varint(data, pos, field::HEADERS)?;
    if count < 0 {
        return Err(if count == -1 {
            DecodeError::new(DecodeErrorKind::UnexpectedNull, field::HEADERS)
        } else {
            invalid_length(field::HEADERS, count as i64)
        });
    }
    let header_count = count as usize;
    let headers_at = *pos;
    if header_count > 0 {
        let remaining = end.saturating_sub(*pos);
        if header_count > remaining / super::record::MIN_HEADER_LEN {
            return Err(DecodeError::new(DecodeErrorKind::CountTooLarge { count: header_count as u64, remaining }, field::HEADERS));
        }
        for _ in 0..header_count {
            span(data, pos, false, field::HEADER_KEY)?;
            span(data, pos, true, field::HEADER_VALUE)?;
        }
    }
    if *pos != end {
        return Err(DecodeError::new(DecodeErrorKind::TrailingBytes { remaining: end - *pos }, field::RECORD));
    }
    Ok(RawRecord { attributes, timestamp_delta, offset_delta, key, value, headers_at, header_count, end })
}

/// Reads one header at `*pos`; `data` must end where the record ends.
#[inline]
pub(crate) fn header(data: &[u8], pos: &mut usize) -> Result<((usize, usize), Span), DecodeError> {
    let key = span(data, pos, false, field::HEADER_KEY)?.unwrap_or((*pos, *pos));
    let value = span(data, pos, true, field::HEADER_VALUE)?;
    Ok((key, value))
}

//! One record inside a magic-2 batch, and its headers.
//!
//! ```text
//! length: varint            (bytes that follow)
//! attributes: int8          (unused, 0)
//! timestampDelta: varlong
//! offsetDelta: varint
//! keyLength: varint, key    (-1 = null)
//! valueLength: varint, value (-1 = null)
//! headerCount: varint
//! headers: [keyLength varint, key (UTF-8), valueLength varint, value (-1 = null)]
//! ```

use bytes::Bytes;

use crate::codec::{zigzag32, zigzag64};
use crate::error::EncodeError;

pub(crate) mod field {
    pub const LENGTH: &str = "RecordBatch.records.length";
    pub const ATTRIBUTES: &str = "RecordBatch.records.attributes";
    pub const TIMESTAMP_DELTA: &str = "RecordBatch.records.timestamp_delta";
    pub const OFFSET_DELTA: &str = "RecordBatch.records.offset_delta";
    pub const KEY: &str = "RecordBatch.records.key";
    pub const VALUE: &str = "RecordBatch.records.value";
    pub const HEADERS: &str = "RecordBatch.records.headers";
    pub const HEADER_KEY: &str = "RecordBatch.records.headers.key";
    pub const HEADER_VALUE: &str = "RecordBatch.records.headers.value";
    pub const RECORD: &str = "RecordBatch.records";
}

/// Smallest possible encoded record, length prefix included: seven one-byte
/// fields (length, attributes, timestamp delta, offset delta, key length,
/// value length, header count).
pub const MIN_RECORD_LEN: usize = 7;
/// Smallest possible encoded header (two one-byte lengths).
pub const MIN_HEADER_LEN: usize = 2;

/// A record header. The key is UTF-8 on the wire (Java decodes it leniently);
/// it is kept as raw bytes, zero-copy, and [`Header::key_str`] views it as text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Header {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

impl Header {
    pub fn new(key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        Header { key: key.into(), value }
    }

    /// The key as text, if it is valid UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }

    fn encoded_len(&self) -> usize {
        bytes_len(Some(&self.key)) + bytes_len(self.value.as_deref())
    }
}

/// A record of a magic-2 batch. Offsets and timestamps are deltas from the
/// batch's base; [`crate::records::RecordBatch::offset_of`] and
/// [`crate::records::RecordBatch::timestamp_of`] give absolute values.
///
/// For uncompressed batches `key`, `value` and header values are slices of the
/// buffer the batch was decoded from; for compressed batches, of the one
/// buffer the batch was decompressed into.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Record {
    /// Record attributes byte (unused by Kafka, kept for round trips).
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Encoded size of an unsigned varint: ceil(bits / 7) as (bits * 9 + 64) / 64,
/// which is exact for 1..=64 bits and avoids a division.
#[inline(always)]
fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    (bits * 9 + 64) >> 6
}

#[inline(always)]
pub(crate) fn varint_len(v: i32) -> usize {
    uvarint_len(zigzag32(v) as u64)
}

#[inline(always)]
fn varlong_len(v: i64) -> usize {
    uvarint_len(zigzag64(v))
}

#[inline]
fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

impl Record {
    /// Size of the record body (everything after the length prefix).
    pub fn body_len(&self) -> usize {
        body_len(self.timestamp_delta, self.offset_delta, self.key.as_deref(), self.value.as_deref(), &self.headers)
    }

    /// Encoded size including the length prefix.
    pub fn encoded_len(&self) -> usize {
        let body = self.body_len();
        varint_len(body as i32) + body
    }
}

/// Size of a record body (after the length prefix) built from parts.
#[inline]
pub(crate) fn body_len(timestamp_delta: i64, offset_delta: i32, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let mut n = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta) + bytes_len(key) + bytes_len(value);
    n += varint_len(headers.len() as i32);
    for h in headers {
        n += h.encoded_len();
    }
    n
}

/// Checks that every length of a record fits its varint prefix.
#[inline]
pub(crate) fn check_lengths(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> Result<(), EncodeError> {
    const MAX: usize = i32::MAX as usize;
    let too_long = |field: &'static str, length: usize| Err(EncodeError::TooLong { field, length });
    if let Some(k) = key {
        if k.len() > MAX {
            return too_long(field::KEY, k.len());
        }
    }
    if let Some(v) = value {
        if v.len() > MAX {
            return too_long(field::VALUE, v.len());
        }
    }
    if headers.len() > MAX {
        return too_long(field::HEADERS, headers.len());
    }
    for h in headers {
        if h.key.len() > MAX {
            return too_long(field::HEADER_KEY, h.key.len());
        }
        if let Some(v) = &h.value {
            if v.len() > MAX {
                return too_long(field::HEADER_VALUE, v.len());
            }
        }
    }
    Ok(())
}

/// Writes a record (length prefix, then body of `body_len` bytes) at the
/// start of `dst`, memory already sized for it; returns the bytes written.
///
/// Into a slice rather than through `BufMut`: every `BufMut` put on a
/// `BytesMut` checks the capacity and stores the length again (a byte store
/// may alias them), ten times a record; here the cursor stays in a register.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_record_to(
    dst: &mut [u8],
    body_len: usize,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let at = put_record_head_at(dst, body_len, attributes, timestamp_delta, offset_delta, key);
    let at = put_bytes_at(dst, at, value);
    put_record_headers_at(dst, at, headers)
}

/// The fields of a record before its value (length prefix to key) at the
/// start of `dst`; returns where the value's length goes.
#[inline(always)]
pub(crate) fn put_record_head_at(
    dst: &mut [u8],
    body_len: usize,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
) -> usize {
    let mut at = put_uvarint_at(dst, 0, zigzag32(body_len as i32) as u64);
    if let Some(b) = dst.get_mut(at) {
        *b = attributes as u8;
    }
    at += 1;
    at = put_uvarint_at(dst, at, zigzag64(timestamp_delta));
    at = put_uvarint_at(dst, at, zigzag32(offset_delta) as u64);
    put_bytes_at(dst, at, key)
}

/// The fields of a record after its value (header count and headers) at
/// `at` in `dst`; returns where they end.
#[inline(always)]
pub(crate) fn put_record_headers_at(dst: &mut [u8], at: usize, headers: &[Header]) -> usize {
    let mut at = put_varint_at(dst, at, headers.len() as i32);
    for h in headers {
        at = put_bytes_at(dst, at, Some(&h.key));
        at = put_bytes_at(dst, at, h.value.as_deref());
    }
    at
}

/// A varint at `at` in `dst`; returns where it ends.
#[inline(always)]
pub(crate) fn put_varint_at(dst: &mut [u8], at: usize, v: i32) -> usize {
    put_uvarint_at(dst, at, zigzag32(v) as u64)
}

/// `d.copy_from_slice(s)` for slices of one length (else nothing: it
/// never panics), with copies of up to 128 bytes (keys, and values of small
/// records) done in place by two overlapping fixed-size moves rather than a
/// call to `memcpy`, which costs more than the move itself at these sizes (a
/// 100-byte record encodes 10% faster).
#[inline(always)]
fn copy_to(d: &mut [u8], s: &[u8]) {
    let n = s.len();
    if n != d.len() {
        debug_assert_eq!(n, d.len(), "callers size the destination");
    } else if n > 128 {
        d.copy_from_slice(s);
    } else if n >= 64 {
        copy_ends::<64>(d, s);
    } else if n >= 32 {
        copy_ends::<32>(d, s);
    } else if n >= 16 {
        copy_ends::<16>(d, s);
    } else if n >= 8 {
        copy_ends::<8>(d, s);
    } else if n >= 4 {
        copy_ends::<4>(d, s);
    } else {
        for (d, s) in d.iter_mut().zip(s) {
            *d = *s;
        }
    }
}

/// Copies `s` (`N..=2N` bytes) as its first `N` bytes and its last `N`.
#[inline(always)]
fn copy_ends<const N: usize>(d: &mut [u8], s: &[u8]) {
    copy_fixed::<N>(d, s, 0);
    copy_fixed::<N>(d, s, s.len().saturating_sub(N));
}

#[inline(always)]
fn copy_fixed<const N: usize>(d: &mut [u8], s: &[u8], at: usize) {
    if let (Some(d), Some(s)) = (d.get_mut(at..at + N), s.get(at..at + N)) {
        let s: &[u8; N] = s.try_into().unwrap_or(&[0; N]);
        if let Ok(d) = <&mut [u8; N]>::try_from(d) {
            *d = *s;
        }
    }
}

#[inline(always)]
fn put_uvarint_at(dst: &mut [u8], mut at: usize, mut v: u64) -> usize {
    // One and two bytes (lengths under 8 KiB, deltas under 8192) take one
    // store each, without the loop.
    if v < 0x80 {
        if let Some(b) = dst.get_mut(at) {
            *b = v as u8;
        }
        return at + 1;
    }
    if v < 0x4000 {
        if let Some(b) = dst.get_mut(at..at + 2) {
            b.copy_from_slice(&(((v & 0x7f) | 0x80) as u16 | ((v >> 7) as u16) << 8).to_le_bytes());
        }
        return at + 2;
    }
    while v >= 0x80 {
        if let Some(b) = dst.get_mut(at) {
            *b = (v as u8) | 0x80;
        }
        at += 1;
        v >>= 7;
    }
    if let Some(b) = dst.get_mut(at) {
        *b = v as u8;
    }
    at + 1
}

#[inline(always)]
fn put_bytes_at(dst: &mut [u8], at: usize, v: Option<&[u8]>) -> usize {
    match v {
        None => put_uvarint_at(dst, at, zigzag32(-1) as u64),
        Some(v) => {
            let at = put_uvarint_at(dst, at, zigzag32(v.len() as i32) as u64);
            if let Some(d) = dst.get_mut(at..at + v.len()) {
                copy_to(d, v);
            }
            at + v.len()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_varint_len_matches_the_codec_one() {
        for bits in 0..64 {
            for v in [1u64 << bits, (1u64 << bits).wrapping_sub(1), (1u64 << bits) | 1] {
                assert_eq!(super::uvarint_len(v), crate::codec::uvarint_len(v), "{v}");
            }
        }
        assert_eq!(super::uvarint_len(0), 1);
        assert_eq!(super::uvarint_len(u64::MAX), 10);
    }
}

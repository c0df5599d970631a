//! A bounds-checked cursor over a borrowed `Bytes` buffer.

use bytes::Bytes;

use super::uuid::Uuid;
use super::varint::{unzigzag32, unzigzag64};
use crate::error::{DecodeError, DecodeErrorKind};

/// Cursor over `buf[pos..end]`. Child readers made with [`Reader::sub`] share
/// the buffer, so byte fields can be handed out as zero-copy `Bytes` slices.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    end: usize,
}

macro_rules! read_be {
    ($name:ident, $ty:ty) => {
        #[inline]
        pub fn $name(&mut self, field: &'static str) -> Result<$ty, DecodeError> {
            const N: usize = std::mem::size_of::<$ty>();
            let bytes = self.take(N, field)?;
            let mut arr = [0u8; N];
            arr.copy_from_slice(bytes);
            Ok(<$ty>::from_be_bytes(arr))
        }
    };
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a Bytes) -> Self {
        Reader { buf, pos: 0, end: buf.len() }
    }

    /// Bytes left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, borrowed.
    #[inline]
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..self.end).unwrap_or_default()
    }

    /// The whole underlying buffer (positions from [`Reader::position`] index it).
    #[inline]
    pub fn buffer(&self) -> &'a Bytes {
        self.buf
    }

    /// Offset of the cursor in the underlying buffer (for checksums over ranges).
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Takes `n` bytes as a borrowed slice.
    #[inline]
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::missing(field, n, remaining));
        }
        let start = self.pos;
        self.pos += n;
        self.buf.get(start..self.pos).ok_or_else(|| DecodeError::missing(field, n, remaining))
    }

    /// Takes `n` bytes as a zero-copy `Bytes` slice of the input buffer.
    #[inline]
    pub fn take_bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::missing(field, n, remaining));
        }
        let start = self.pos;
        self.pos += n;
        Ok(self.buf.slice(start..self.pos))
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        self.take(n, field).map(|_| ())
    }

    /// Splits off a child reader over the next `len` bytes and advances past them.
    pub fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, DecodeError> {
        let remaining = self.remaining();
        if len > remaining {
            return Err(DecodeError::missing(field, len, remaining));
        }
        let child = Reader { buf: self.buf, pos: self.pos, end: self.pos + len };
        self.pos += len;
        Ok(child)
    }

    /// Fails if anything is left unread.
    pub fn expect_end(&self, field: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            remaining => Err(DecodeError::new(DecodeErrorKind::TrailingBytes { remaining }, field)),
        }
    }

    read_be!(i8, i8);
    read_be!(i16, i16);
    read_be!(i32, i32);
    read_be!(i64, i64);
    read_be!(u8, u8);
    read_be!(u16, u16);
    read_be!(u32, u32);
    read_be!(u64, u64);

    pub fn f64(&mut self, field: &'static str) -> Result<f64, DecodeError> {
        self.u64(field).map(f64::from_bits)
    }

    /// Kafka booleans: any non-zero byte is true.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        self.u8(field).map(|b| b != 0)
    }

    pub fn uuid(&mut self, field: &'static str) -> Result<Uuid, DecodeError> {
        let bytes = self.take(16, field)?;
        let mut arr = [0u8; 16];
        arr.copy_from_slice(bytes);
        Ok(Uuid(arr))
    }

    /// Unsigned varint, at most 5 bytes (32 bits).
    #[inline]
    pub fn uvarint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let v = self.uvarint_n(5, field)?;
        u32::try_from(v).map_err(|_| DecodeError::new(DecodeErrorKind::VarintTooLong, field))
    }

    /// Unsigned varlong, at most 10 bytes.
    #[inline]
    pub fn uvarlong(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.uvarint_n(10, field)
    }

    /// Signed zigzag varint (record format).
    #[inline]
    pub fn varint(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.uvarint(field).map(unzigzag32)
    }

    /// Signed zigzag varlong (record format).
    #[inline]
    pub fn varlong(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        self.uvarlong(field).map(unzigzag64)
    }

    #[inline]
    fn uvarint_n(&mut self, max_len: usize, field: &'static str) -> Result<u64, DecodeError> {
        let rest = self.peek_rest();
        // Fast path: single-byte varints are by far the most common.
        if let Some(&b) = rest.first() {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        let mut value: u64 = 0;
        for (i, &b) in rest.iter().take(max_len).enumerate() {
            value |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        if rest.len() < max_len {
            Err(DecodeError::missing(field, rest.len() + 1, rest.len()))
        } else {
            Err(DecodeError::new(DecodeErrorKind::VarintTooLong, field))
        }
    }

    // ---- lengths and counts -------------------------------------------------

    /// Length of a nullable field with an INT16 prefix (-1 = null).
    fn len_i16(&mut self, nullable: bool, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let len = self.i16(field)?;
        self.check_len(len as i64, nullable, field)
    }

    fn len_i32(&mut self, nullable: bool, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let len = self.i32(field)?;
        self.check_len(len as i64, nullable, field)
    }

    /// Compact length: unsigned varint holding length + 1 (0 = null).
    fn len_compact(&mut self, nullable: bool, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let n = self.uvarint(field)?;
        self.check_len(n as i64 - 1, nullable, field)
    }

    #[inline]
    fn check_len(&self, len: i64, nullable: bool, field: &'static str) -> Result<Option<usize>, DecodeError> {
        if len < 0 {
            return if len == -1 && nullable {
                Ok(None)
            } else if len == -1 {
                Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field))
            } else {
                Err(DecodeError::new(DecodeErrorKind::InvalidLength { length: len }, field))
            };
        }
        let len = len as usize;
        let remaining = self.remaining();
        if len > remaining {
            return Err(DecodeError::missing(field, len, remaining));
        }
        Ok(Some(len))
    }

    /// Checks an element count against the bytes left: each element takes at
    /// least `min_elem_bytes` (treated as at least 1), so a count larger than
    /// `remaining / min_elem_bytes` cannot be honest and is refused before any
    /// allocation.
    #[inline]
    fn check_count(&self, count: i64, nullable: bool, min_elem_bytes: usize, field: &'static str) -> Result<Option<usize>, DecodeError> {
        if count < 0 {
            return if count == -1 && nullable {
                Ok(None)
            } else if count == -1 {
                Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field))
            } else {
                Err(DecodeError::new(DecodeErrorKind::InvalidLength { length: count }, field))
            };
        }
        let remaining = self.remaining();
        let max = remaining / min_elem_bytes.max(1);
        if count as u64 > max as u64 {
            return Err(DecodeError::new(DecodeErrorKind::CountTooLarge { count: count as u64, remaining }, field));
        }
        Ok(Some(count as usize))
    }

    /// INT32 array count (-1 = null when `nullable`).
    pub fn array_len(&mut self, nullable: bool, min_elem_bytes: usize, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let n = self.i32(field)?;
        self.check_count(n as i64, nullable, min_elem_bytes, field)
    }

    /// Compact array count: unsigned varint holding count + 1 (0 = null).
    pub fn compact_array_len(&mut self, nullable: bool, min_elem_bytes: usize, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let n = self.uvarint(field)?;
        self.check_count(n as i64 - 1, nullable, min_elem_bytes, field)
    }

    /// Varint count as used inside records (headers count; -1 = null).
    pub fn varint_count(&mut self, nullable: bool, min_elem_bytes: usize, field: &'static str) -> Result<Option<usize>, DecodeError> {
        let n = self.varint(field)?;
        self.check_count(n as i64, nullable, min_elem_bytes, field)
    }

    // ---- strings ------------------------------------------------------------

    fn utf8(&mut self, len: usize, field: &'static str) -> Result<String, DecodeError> {
        let bytes = self.take(len, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, field)),
        }
    }

    /// STRING: INT16 length then UTF-8.
    pub fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        match self.len_i16(false, field)? {
            Some(len) => self.utf8(len, field),
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field)),
        }
    }

    /// NULLABLE_STRING: INT16 length (-1 = null) then UTF-8.
    pub fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        match self.len_i16(true, field)? {
            Some(len) => self.utf8(len, field).map(Some),
            None => Ok(None),
        }
    }

    /// COMPACT_STRING: unsigned varint length + 1 then UTF-8.
    pub fn compact_string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        match self.len_compact(false, field)? {
            Some(len) => self.utf8(len, field),
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field)),
        }
    }

    /// COMPACT_NULLABLE_STRING: unsigned varint length + 1 (0 = null) then UTF-8.
    pub fn compact_nullable_string(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        match self.len_compact(true, field)? {
            Some(len) => self.utf8(len, field).map(Some),
            None => Ok(None),
        }
    }

    // ---- byte arrays (zero copy) -------------------------------------------

    /// BYTES: INT32 length then raw bytes.
    pub fn bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        match self.len_i32(false, field)? {
            Some(len) => self.take_bytes(len, field),
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field)),
        }
    }

    /// NULLABLE_BYTES: INT32 length (-1 = null).
    pub fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, DecodeError> {
        match self.len_i32(true, field)? {
            Some(len) => self.take_bytes(len, field).map(Some),
            None => Ok(None),
        }
    }

    /// COMPACT_BYTES: unsigned varint length + 1.
    pub fn compact_bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        match self.len_compact(false, field)? {
            Some(len) => self.take_bytes(len, field),
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field)),
        }
    }

    /// COMPACT_NULLABLE_BYTES: unsigned varint length + 1 (0 = null).
    pub fn compact_nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, DecodeError> {
        match self.len_compact(true, field)? {
            Some(len) => self.take_bytes(len, field).map(Some),
            None => Ok(None),
        }
    }

    /// Varint-length-prefixed bytes inside a record (-1 = null).
    #[inline]
    pub fn varint_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, DecodeError> {
        let len = self.varint(field)?;
        match self.check_len(len as i64, true, field)? {
            Some(len) => self.take_bytes(len, field).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> Bytes {
        Bytes::from_static(bytes)
    }

    #[test]
    fn reads_big_endian_ints() {
        let b = reader(&[0x01, 0x02, 0xff, 0xff, 0xff, 0xfe]);
        let mut r = Reader::new(&b);
        assert_eq!(r.i16("a").unwrap(), 0x0102);
        assert_eq!(r.i32("b").unwrap(), -2);
        assert!(r.is_empty());
        let err = r.i8("c").unwrap_err();
        assert_eq!(err.field, "c");
        assert_eq!(err.kind, DecodeErrorKind::MissingData { needed: 1, remaining: 0 });
    }

    #[test]
    fn varints_decode_and_reject_overlong() {
        let b = reader(&[0xac, 0x02, 0x01]);
        let mut r = Reader::new(&b);
        assert_eq!(r.uvarint("v").unwrap(), 300);
        assert_eq!(r.varint("z").unwrap(), -1);
        let long = reader(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(Reader::new(&long).uvarint("x").unwrap_err().kind, DecodeErrorKind::VarintTooLong);
        let truncated = reader(&[0xff, 0xff]);
        assert!(matches!(Reader::new(&truncated).uvarint("x").unwrap_err().kind, DecodeErrorKind::MissingData { .. }));
    }

    #[test]
    fn array_count_larger_than_bytes_left_is_refused() {
        // count = 1_000_000 with 4 bytes of payload
        let b = reader(&[0x00, 0x0f, 0x42, 0x40, 0, 0, 0, 0]);
        let err = Reader::new(&b).array_len(false, 4, "arr").unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::CountTooLarge { count: 1_000_000, remaining: 4 });
        let ok = reader(&[0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0]);
        assert_eq!(Reader::new(&ok).array_len(false, 4, "arr").unwrap(), Some(1));
    }

    #[test]
    fn strings_null_and_lengths() {
        let b = reader(&[0xff, 0xff]);
        assert_eq!(Reader::new(&b).nullable_string("s").unwrap(), None);
        assert_eq!(Reader::new(&b).string("s").unwrap_err().kind, DecodeErrorKind::UnexpectedNull);
        let b = reader(&[0x00, 0x05, b'a']);
        assert!(matches!(Reader::new(&b).string("s").unwrap_err().kind, DecodeErrorKind::MissingData { needed: 5, remaining: 1 }));
        let b = reader(&[0x03, b'h', b'i']);
        assert_eq!(Reader::new(&b).compact_string("s").unwrap(), "hi");
        let b = reader(&[0x00]);
        assert_eq!(Reader::new(&b).compact_nullable_string("s").unwrap(), None);
    }

    #[test]
    fn bytes_are_zero_copy_slices() {
        let b = Bytes::from(vec![0, 0, 0, 3, 7, 8, 9]);
        let got = Reader::new(&b).bytes("b").unwrap();
        assert_eq!(&got[..], &[7, 8, 9]);
        assert_eq!(got.as_ptr(), b[4..].as_ptr());
    }

    #[test]
    fn sub_reader_is_bounded() {
        let b = reader(&[1, 2, 3, 4]);
        let mut r = Reader::new(&b);
        let mut child = r.sub(2, "child").unwrap();
        assert_eq!(child.i16("x").unwrap(), 0x0102);
        assert!(child.i8("y").is_err());
        assert_eq!(r.i16("z").unwrap(), 0x0304);
    }
}

//! Encoding primitives as an extension of `bytes::BufMut`.
//!
//! Length checks that can fail (a string longer than an INT16 prefix can say)
//! return [`EncodeError::TooLong`] naming the field.

use bytes::BufMut;

use super::uuid::Uuid;
use super::varint::{zigzag32, zigzag64};
use crate::error::EncodeError;

pub trait Writer: BufMut {
    #[inline]
    fn put_bool(&mut self, v: bool) {
        self.put_u8(v as u8);
    }

    #[inline]
    fn put_uuid(&mut self, v: &Uuid) {
        self.put_slice(&v.0);
    }

    #[inline]
    fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8);
    }

    #[inline]
    fn put_varint(&mut self, v: i32) {
        self.put_uvarint(zigzag32(v) as u64);
    }

    #[inline]
    fn put_varlong(&mut self, v: i64) {
        self.put_uvarint(zigzag64(v));
    }

    /// STRING / NULLABLE_STRING (INT16 length, -1 for null).
    fn put_string(&mut self, v: Option<&str>, field: &'static str) -> Result<(), EncodeError> {
        match v {
            None => self.put_i16(-1),
            Some(s) => {
                let len = i16::try_from(s.len()).map_err(|_| EncodeError::TooLong { field, length: s.len() })?;
                self.put_i16(len);
                self.put_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    /// COMPACT_STRING / COMPACT_NULLABLE_STRING (uvarint length + 1, 0 for null).
    fn put_compact_string(&mut self, v: Option<&str>, field: &'static str) -> Result<(), EncodeError> {
        self.put_compact_bytes(v.map(str::as_bytes), field)
    }

    /// BYTES / NULLABLE_BYTES (INT32 length, -1 for null).
    fn put_bytes(&mut self, v: Option<&[u8]>, field: &'static str) -> Result<(), EncodeError> {
        match v {
            None => self.put_i32(-1),
            Some(b) => {
                let len = i32::try_from(b.len()).map_err(|_| EncodeError::TooLong { field, length: b.len() })?;
                self.put_i32(len);
                self.put_slice(b);
            }
        }
        Ok(())
    }

    /// COMPACT_BYTES / COMPACT_NULLABLE_BYTES.
    fn put_compact_bytes(&mut self, v: Option<&[u8]>, field: &'static str) -> Result<(), EncodeError> {
        match v {
            None => self.put_uvarint(0),
            Some(b) => {
                if b.len() >= i32::MAX as usize {
                    return Err(EncodeError::TooLong { field, length: b.len() });
                }
                self.put_uvarint(b.len() as u64 + 1);
                self.put_slice(b);
            }
        }
        Ok(())
    }

    /// Varint-length-prefixed bytes inside a record (-1 for null).
    #[inline]
    fn put_varint_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_varint(-1),
            Some(b) => {
                self.put_varint(b.len() as i32);
                self.put_slice(b);
            }
        }
    }

    /// INT32 array count (-1 for null).
    fn put_array_len(&mut self, len: Option<usize>, field: &'static str) -> Result<(), EncodeError> {
        match len {
            None => self.put_i32(-1),
            Some(n) => {
                let n = i32::try_from(n).map_err(|_| EncodeError::TooLong { field, length: n })?;
                self.put_i32(n);
            }
        }
        Ok(())
    }

    /// Compact array count (uvarint count + 1, 0 for null).
    fn put_compact_array_len(&mut self, len: Option<usize>, field: &'static str) -> Result<(), EncodeError> {
        match len {
            None => self.put_uvarint(0),
            Some(n) => {
                if n >= i32::MAX as usize {
                    return Err(EncodeError::TooLong { field, length: n });
                }
                self.put_uvarint(n as u64 + 1);
            }
        }
        Ok(())
    }
}

impl<T: BufMut + ?Sized> Writer for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;
    use bytes::{Bytes, BytesMut};

    #[test]
    fn varints_round_trip() {
        let mut b = BytesMut::new();
        for v in [0i64, 1, -1, 300, -300, i64::MAX, i64::MIN] {
            b.put_varlong(v);
        }
        let bytes = b.freeze();
        let mut r = Reader::new(&bytes);
        for v in [0i64, 1, -1, 300, -300, i64::MAX, i64::MIN] {
            assert_eq!(r.varlong("v").unwrap(), v);
        }
        assert!(r.is_empty());
    }

    #[test]
    fn strings_round_trip() {
        let mut b = BytesMut::new();
        b.put_string(Some("topic"), "s").unwrap();
        b.put_string(None, "s").unwrap();
        b.put_compact_string(Some("héllo"), "s").unwrap();
        b.put_compact_string(None, "s").unwrap();
        let bytes: Bytes = b.freeze();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.string("s").unwrap(), "topic");
        assert_eq!(r.nullable_string("s").unwrap(), None);
        assert_eq!(r.compact_string("s").unwrap(), "héllo");
        assert_eq!(r.compact_nullable_string("s").unwrap(), None);
    }

    #[test]
    fn too_long_string_is_an_error() {
        let long = "x".repeat(40_000);
        let mut b = BytesMut::new();
        assert!(matches!(b.put_string(Some(&long), "f"), Err(EncodeError::TooLong { field: "f", length: 40_000 })));
    }
}

//! The message traits every generated request, response, header and payload
//! implements, and whole-frame helpers.
//!
//! A value of a generated message type represents every version of that
//! message; the version is given to [`Message::encode`] and
//! [`Message::decode`]. Fields that do not exist at a version are left at
//! their default when decoding; encoding a non-default value in a field the
//! version lacks is an [`EncodeError::FieldNotInVersion`] unless the field is
//! ignorable (then it is dropped, as Kafka's Java code does).
//!
//! Frames: [`encode_request`] and [`encode_response`] write a size-prefixed
//! frame; [`decode_request`] and [`decode_response`] read one whose size prefix
//! has already been stripped.

use bytes::{BufMut, Bytes, BytesMut};

use crate::api_key::ApiKey;
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::messages::{RequestBody, RequestHeader, ResponseHeader};

/// An inclusive range of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

impl VersionRange {
    pub const fn new(min: i16, max: i16) -> Self {
        VersionRange { min, max }
    }

    pub const fn contains(self, version: i16) -> bool {
        version >= self.min && version <= self.max
    }

    /// Every version in the range, lowest first.
    pub fn iter(self) -> std::ops::RangeInclusive<i16> {
        self.min..=self.max
    }
}

/// A Kafka message (request, response, header or embedded payload), at any of its versions.
pub trait Message: Sized {
    /// The schema name, e.g. `FetchResponse`.
    const NAME: &'static str;
    /// Lowest..=highest valid version.
    const VERSIONS: VersionRange;
    /// The first flexible (KIP-482) version, if any.
    const FLEXIBLE_MIN: Option<i16>;

    /// Writes the message body at `version`. Use a growable buffer (`BytesMut`, `Vec<u8>`).
    fn encode<B: BufMut>(&self, buf: &mut B, version: i16) -> Result<(), EncodeError>;
    /// The exact number of bytes [`Message::encode`] writes at `version`.
    fn encoded_len(&self, version: i16) -> Result<usize, EncodeError>;
    /// Reads the message body at `version`. Bytes after the body are left in `r`.
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self, DecodeError>;

    /// Whether `version` uses the flexible (compact, tagged-fields) encoding.
    fn is_flexible(version: i16) -> bool {
        Self::FLEXIBLE_MIN.is_some_and(|f| version >= f)
    }
}

/// A request body; its API key and the type of its response.
pub trait Request: Message {
    const API_KEY: ApiKey;
    type Response: Response;
}

/// A response body.
pub trait Response: Message {
    const API_KEY: ApiKey;
}

/// The request header version used with version `version` of request `R`.
pub fn request_header_version<R: Request>(version: i16) -> i16 {
    R::API_KEY.request_header_version(version)
}

/// The response header version used with version `version` of response `R`
/// (ApiVersions responses always use v0, KIP-511).
pub fn response_header_version<R: Response>(version: i16) -> i16 {
    R::API_KEY.response_header_version(version)
}

fn frame_len(len: usize) -> Result<i32, EncodeError> {
    i32::try_from(len).map_err(|_| EncodeError::TooLong { field: "frame.size", length: len })
}

/// Encodes a whole request frame: INT32 size, header, body. The header's
/// `request_api_key` and `request_api_version` are written as given; set them
/// to `R::API_KEY` and `version`.
pub fn encode_request<R: Request>(header: &RequestHeader, body: &R, version: i16) -> Result<BytesMut, EncodeError> {
    let header_version = R::API_KEY.request_header_version(version);
    let len = header.encoded_len(header_version)? + body.encoded_len(version)?;
    let mut buf = BytesMut::with_capacity(4 + len);
    buf.put_i32(frame_len(len)?);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    Ok(buf)
}

/// Encodes a whole response frame: INT32 size, header, body.
pub fn encode_response<R: Response>(correlation_id: i32, body: &R, version: i16) -> Result<BytesMut, EncodeError> {
    let header_version = R::API_KEY.response_header_version(version);
    let header = ResponseHeader { correlation_id, ..Default::default() };
    let len = header.encoded_len(header_version)? + body.encoded_len(version)?;
    let mut buf = BytesMut::with_capacity(4 + len);
    buf.put_i32(frame_len(len)?);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    Ok(buf)
}

/// Decodes a message that must take exactly all of `bytes` (trailing bytes are an error).
pub fn decode_exact<M: Message>(bytes: &Bytes, version: i16, direction: &'static str) -> Result<M, DecodeError> {
    let mut r = Reader::new(bytes);
    let m = M::decode(&mut r, version)?;
    r.expect_end(M::NAME).map_err(|e| e.in_message(M::NAME, version, direction))?;
    Ok(m)
}

/// Decodes a response body (the bytes after the response header), which must
/// be consumed exactly.
pub fn decode_response_body<R: Response>(body: &Bytes, version: i16) -> Result<R, DecodeError> {
    decode_exact(body, version, "response")
}

/// Decodes a response frame (size prefix already stripped): header, then a
/// body that must be consumed exactly.
pub fn decode_response<R: Response>(frame: &Bytes, version: i16) -> Result<(ResponseHeader, R), DecodeError> {
    let mut r = Reader::new(frame);
    let header = ResponseHeader::decode(&mut r, R::API_KEY.response_header_version(version))?;
    let body = R::decode(&mut r, version)?;
    r.expect_end(R::NAME).map_err(|e| e.in_message(R::NAME, version, "response"))?;
    Ok((header, body))
}

/// Decodes a request header, its version chosen from the API key and
/// version it starts with. A broker reads the header first so that it can
/// answer (with the correlation id) even when the body is not understood.
pub fn decode_request_header(r: &mut Reader<'_>) -> Result<RequestHeader, DecodeError> {
    let mut peek = r.clone();
    let key = ApiKey(peek.i16("RequestHeader.request_api_key")?);
    let version = peek.i16("RequestHeader.request_api_version")?;
    RequestHeader::decode(r, key.request_header_version(version))
}

/// Decodes a request frame (size prefix already stripped): the header, then
/// the body of whichever API it names, which must be consumed exactly.
pub fn decode_request(frame: &Bytes) -> Result<(RequestHeader, RequestBody), DecodeError> {
    let mut r = Reader::new(frame);
    let header = decode_request_header(&mut r)?;
    let (key, version) = (ApiKey(header.request_api_key), header.request_api_version);
    let body = RequestBody::decode(key, version, &mut r)?;
    r.expect_end("RequestBody").map_err(|e| e.in_message(key.name(), version, "request"))?;
    Ok((header, body))
}

/// Encodes an embedded payload (`ConsumerProtocolSubscription`,
/// `ConsumerProtocolAssignment`) after its INT16 version, as the consumer
/// protocol puts it in JoinGroup / SyncGroup metadata and assignments.
pub fn encode_versioned<M: Message>(m: &M, version: i16) -> Result<BytesMut, EncodeError> {
    let mut buf = BytesMut::with_capacity(2 + m.encoded_len(version)?);
    buf.put_i16(version);
    m.encode(&mut buf, version)?;
    Ok(buf)
}

/// Decodes an embedded payload written by [`encode_versioned`]; returns the
/// version on the wire and the value. As Kafka's consumer does, a version
/// newer than this crate knows is read with the newest known layout and what
/// follows it is ignored; otherwise the payload must be consumed exactly.
pub fn decode_versioned<M: Message>(bytes: &Bytes) -> Result<(i16, M), DecodeError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("version").map_err(|e| e.in_message(M::NAME, -1, "data"))?;
    if version > M::VERSIONS.max {
        return Ok((version, M::decode(&mut r, M::VERSIONS.max)?));
    }
    let m = M::decode(&mut r, version)?;
    r.expect_end(M::NAME).map_err(|e| e.in_message(M::NAME, version, "data"))?;
    Ok((version, m))
}

/// Support code for the generated messages. Not a stable API.
#[doc(hidden)]
pub mod support {
    use bytes::{BufMut, Bytes};

    use super::Message;
    use crate::codec::{uvarint_len, RawTaggedField, Reader, Uuid, Writer};
    use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

    /// Encoding of one field type. `flex` selects the compact encodings.
    pub trait Codec: Sized {
        fn enc<B: BufMut>(&self, buf: &mut B, version: i16, flex: bool, field: &'static str) -> Result<(), EncodeError>;
        fn enc_len(&self, version: i16, flex: bool, field: &'static str) -> Result<usize, EncodeError>;
        fn dec(r: &mut Reader<'_>, version: i16, flex: bool, field: &'static str) -> Result<Self, DecodeError>;
        /// The fewest bytes one value can take at this version.
        fn min_len(version: i16, flex: bool) -> usize;
    }

    /// A field type that can be null on the wire.
    pub trait Nullable: Codec {
        fn enc_null<B: BufMut>(buf: &mut B, flex: bool);
        fn null_len(flex: bool) -> usize;
        fn dec_nullable(r: &mut Reader<'_>, version: i16, flex: bool, field: &'static str) -> Result<Option<Self>, DecodeError>;
        /// Bytes written before a present value (structs: a 1-byte marker).
        #[inline]
        fn presence_len() -> usize {
            0
        }
        #[inline]
        fn put_presence<B: BufMut>(_buf: &mut B) {}
    }

    macro_rules! fixed {
        ($ty:ty, $put:ident, $get:ident, $n:expr) => {
            impl Codec for $ty {
                #[inline]
                fn enc<B: BufMut>(&self, buf: &mut B, _: i16, _: bool, _: &'static str) -> Result<(), EncodeError> {
                    buf.$put(*self);
                    Ok(())
                }
                #[inline]
                fn enc_len(&self, _: i16, _: bool, _: &'static str) -> Result<usize, EncodeError> {
                    Ok($n)
                }
                #[inline]
                fn dec(r: &mut Reader<'_>, _: i16, _: bool, field: &'static str) -> Result<Self, DecodeError> {
                    r.$get(field)
                }
                #[inline]
                fn min_len(_: i16, _: bool) -> usize {
                    $n
                }
            }
        };
    }

    fixed!(i8, put_i8, i8, 1);
    fixed!(i16, put_i16, i16, 2);
    fixed!(i32, put_i32, i32, 4);
    fixed!(i64, put_i64, i64, 8);
    fixed!(u16, put_u16, u16, 2);
    fixed!(u32, put_u32, u32, 4);
    fixed!(f64, put_f64, f64, 8);
    fixed!(bool, put_bool, bool, 1);

    impl Codec for Uuid {
        #[inline]
        fn enc<B: BufMut>(&self, buf: &mut B, _: i16, _: bool, _: &'static str) -> Result<(), EncodeError> {
            buf.put_uuid(self);
            Ok(())
        }
        #[inline]
        fn enc_len(&self, _: i16, _: bool, _: &'static str) -> Result<usize, EncodeError> {
            Ok(16)
        }
        #[inline]
        fn dec(r: &mut Reader<'_>, _: i16, _: bool, field: &'static str) -> Result<Self, DecodeError> {
            r.uuid(field)
        }
        #[inline]
        fn min_len(_: i16, _: bool) -> usize {
            16
        }
    }

    #[inline]
    fn prefixed_len(len: usize, flex: bool, fixed: usize) -> usize {
        if flex {
            uvarint_len(len as u64 + 1) + len
        } else {
            fixed + len
        }
    }

    /// Strings and byte arrays: a length prefix (INT16 / INT32, or a compact
    /// unsigned varint of length + 1 when flexible) then the bytes; null is a
    /// length of -1 (compact: 0).
    macro_rules! prefixed {
        ($ty:ty, $fixed:expr, $put:ident, $put_compact:ident, $put_null:ident, $get:ident, $get_compact:ident, $get_null:ident, $get_compact_null:ident) => {
            impl Codec for $ty {
                #[inline]
                fn enc<B: BufMut>(&self, buf: &mut B, _: i16, flex: bool, field: &'static str) -> Result<(), EncodeError> {
                    if flex {
                        Writer::$put_compact(buf, Some(self), field)
                    } else {
                        Writer::$put(buf, Some(self), field)
                    }
                }
                #[inline]
                fn enc_len(&self, _: i16, flex: bool, _: &'static str) -> Result<usize, EncodeError> {
                    Ok(prefixed_len(self.len(), flex, $fixed))
                }
                #[inline]
                fn dec(r: &mut Reader<'_>, _: i16, flex: bool, field: &'static str) -> Result<Self, DecodeError> {
                    if flex {
                        r.$get_compact(field)
                    } else {
                        r.$get(field)
                    }
                }
                #[inline]
                fn min_len(_: i16, flex: bool) -> usize {
                    if flex {
                        1
                    } else {
                        $fixed
                    }
                }
            }

            impl Nullable for $ty {
                #[inline]
                fn enc_null<B: BufMut>(buf: &mut B, flex: bool) {
                    if flex {
                        buf.put_uvarint(0);
                    } else {
                        buf.$put_null(-1);
                    }
                }
                #[inline]
                fn null_len(flex: bool) -> usize {
                    if flex {
                        1
                    } else {
                        $fixed
                    }
                }
                #[inline]
                fn dec_nullable(r: &mut Reader<'_>, _: i16, flex: bool, field: &'static str) -> Result<Option<Self>, DecodeError> {
                    if flex {
                        r.$get_compact_null(field)
                    } else {
                        r.$get_null(field)
                    }
                }
            }
        };
    }

    prefixed!(String, 2, put_string, put_compact_string, put_i16, string, compact_string, nullable_string, compact_nullable_string);
    prefixed!(Bytes, 4, put_bytes, put_compact_bytes, put_i32, bytes, compact_bytes, nullable_bytes, compact_nullable_bytes);

    /// An array's element count (INT32, or compact when flexible).
    pub fn put_count<B: BufMut>(buf: &mut B, n: usize, flex: bool, field: &'static str) -> Result<(), EncodeError> {
        if flex {
            buf.put_compact_array_len(Some(n), field)
        } else {
            buf.put_array_len(Some(n), field)
        }
    }

    /// Bytes [`put_count`] writes.
    pub fn count_len(n: usize, flex: bool) -> usize {
        if flex {
            uvarint_len(n as u64 + 1)
        } else {
            4
        }
    }

    fn dec_elems<T: Codec>(r: &mut Reader<'_>, n: usize, version: i16, flex: bool, field: &'static str) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(T::dec(r, version, flex, field)?);
        }
        Ok(out)
    }

    impl<T: Codec> Codec for Vec<T> {
        fn enc<B: BufMut>(&self, buf: &mut B, version: i16, flex: bool, field: &'static str) -> Result<(), EncodeError> {
            put_count(buf, self.len(), flex, field)?;
            for item in self {
                item.enc(buf, version, flex, field)?;
            }
            Ok(())
        }
        fn enc_len(&self, version: i16, flex: bool, field: &'static str) -> Result<usize, EncodeError> {
            let mut n = count_len(self.len(), flex);
            for item in self {
                n += item.enc_len(version, flex, field)?;
            }
            Ok(n)
        }
        fn dec(r: &mut Reader<'_>, version: i16, flex: bool, field: &'static str) -> Result<Self, DecodeError> {
            let min = T::min_len(version, flex);
            let n = if flex { r.compact_array_len(false, min, field)? } else { r.array_len(false, min, field)? };
            match n {
                Some(n) => dec_elems(r, n, version, flex, field),
                None => Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, field)),
            }
        }
        #[inline]
        fn min_len(_: i16, flex: bool) -> usize {
            if flex {
                1
            } else {
                4
            }
        }
    }

    impl<T: Codec> Nullable for Vec<T> {
        #[inline]
        fn enc_null<B: BufMut>(buf: &mut B, flex: bool) {
            if flex {
                buf.put_uvarint(0);
            } else {
                buf.put_i32(-1);
            }
        }
        #[inline]
        fn null_len(flex: bool) -> usize {
            if flex {
                1
            } else {
                4
            }
        }
        fn dec_nullable(r: &mut Reader<'_>, version: i16, flex: bool, field: &'static str) -> Result<Option<Self>, DecodeError> {
            let min = T::min_len(version, flex);
            let n = if flex { r.compact_array_len(true, min, field)? } else { r.array_len(true, min, field)? };
            match n {
                Some(n) => dec_elems(r, n, version, flex, field).map(Some),
                None => Ok(None),
            }
        }
    }

    /// Nullable structs: an INT8 marker, -1 for null and 1 before a value.
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __rill_nullable_struct {
        ($ty:ty) => {
            impl $crate::message::support::Nullable for $ty {
                #[inline]
                fn enc_null<B: ::bytes::BufMut>(buf: &mut B, _flex: bool) {
                    buf.put_i8(-1);
                }
                #[inline]
                fn null_len(_flex: bool) -> usize {
                    1
                }
                #[inline]
                fn presence_len() -> usize {
                    1
                }
                #[inline]
                fn put_presence<B: ::bytes::BufMut>(buf: &mut B) {
                    buf.put_i8(1);
                }
                fn dec_nullable(
                    r: &mut $crate::codec::Reader<'_>,
                    version: i16,
                    flex: bool,
                    field: &'static str,
                ) -> Result<Option<Self>, $crate::error::DecodeError> {
                    $crate::message::support::dec_struct_marker(r, version, flex, field)
                }
            }
        };
    }
    pub use __rill_nullable_struct as nullable_struct;

    /// Reads the INT8 presence marker of a nullable struct, then the struct.
    pub fn dec_struct_marker<T: Codec>(
        r: &mut Reader<'_>,
        version: i16,
        flex: bool,
        field: &'static str,
    ) -> Result<Option<T>, DecodeError> {
        match r.i8(field)? {
            -1 => Ok(None),
            1 => T::dec(r, version, flex, field).map(Some),
            v => Err(DecodeError::new(DecodeErrorKind::InvalidValue { value: v.into() }, field)),
        }
    }

    /// An always-nullable value.
    impl<T: Nullable> Codec for Option<T> {
        #[inline]
        fn enc<B: BufMut>(&self, buf: &mut B, version: i16, flex: bool, field: &'static str) -> Result<(), EncodeError> {
            match self {
                None => {
                    T::enc_null(buf, flex);
                    Ok(())
                }
                Some(v) => {
                    T::put_presence(buf);
                    v.enc(buf, version, flex, field)
                }
            }
        }
        #[inline]
        fn enc_len(&self, version: i16, flex: bool, field: &'static str) -> Result<usize, EncodeError> {
            match self {
                None => Ok(T::null_len(flex)),
                Some(v) => Ok(T::presence_len() + v.enc_len(version, flex, field)?),
            }
        }
        #[inline]
        fn dec(r: &mut Reader<'_>, version: i16, flex: bool, field: &'static str) -> Result<Self, DecodeError> {
            T::dec_nullable(r, version, flex, field)
        }
        #[inline]
        fn min_len(_: i16, flex: bool) -> usize {
            T::null_len(flex)
        }
    }

    /// A value whose nullability depends on the version: `nullable` says
    /// whether null is allowed here.
    #[inline]
    pub fn enc_opt<T: Nullable, B: BufMut>(
        v: &Option<T>,
        nullable: bool,
        buf: &mut B,
        version: i16,
        flex: bool,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        match v {
            None if !nullable => Err(EncodeError::NullNotAllowed { field, version }),
            Some(x) if !nullable => x.enc(buf, version, flex, field),
            _ => v.enc(buf, version, flex, field),
        }
    }

    #[inline]
    pub fn len_opt<T: Nullable>(
        v: &Option<T>,
        nullable: bool,
        version: i16,
        flex: bool,
        field: &'static str,
    ) -> Result<usize, EncodeError> {
        match v {
            None if !nullable => Err(EncodeError::NullNotAllowed { field, version }),
            Some(x) if !nullable => x.enc_len(version, flex, field),
            _ => v.enc_len(version, flex, field),
        }
    }

    #[inline]
    pub fn dec_opt<T: Nullable>(
        r: &mut Reader<'_>,
        nullable: bool,
        version: i16,
        flex: bool,
        field: &'static str,
    ) -> Result<Option<T>, DecodeError> {
        if nullable {
            T::dec_nullable(r, version, flex, field)
        } else {
            T::dec(r, version, flex, field).map(Some)
        }
    }

    /// The error for a non-default value in a field the version lacks.
    #[cold]
    pub fn not_in_version(field: &'static str, version: i16) -> EncodeError {
        EncodeError::FieldNotInVersion { field, version }
    }

    // ---- tagged fields --------------------------------------------------------

    /// Writes a tagged-fields section: known fields (given in tag order) merged
    /// with the unknown ones kept from decoding, in increasing tag order.
    /// (Unknown fields must not reuse the tag of a known field being written.)
    pub struct TaggedWriter<'a, 'b, B: BufMut> {
        buf: &'b mut B,
        unknown: std::iter::Peekable<std::vec::IntoIter<&'a RawTaggedField>>,
    }

    impl<'a, 'b, B: BufMut> TaggedWriter<'a, 'b, B> {
        /// Writes the field count (`known` present known fields plus the unknown ones).
        pub fn start(buf: &'b mut B, unknown: &'a [RawTaggedField], known: usize) -> Self {
            buf.put_uvarint((known + unknown.len()) as u64);
            // Collecting an empty slice does not allocate.
            let mut sorted: Vec<&RawTaggedField> = unknown.iter().collect();
            sorted.sort_by_key(|u| u.tag);
            TaggedWriter { buf, unknown: sorted.into_iter().peekable() }
        }

        fn flush_below(&mut self, tag: u64) {
            while let Some(u) = self.unknown.next_if(|u| u64::from(u.tag) < tag) {
                self.buf.put_uvarint(u.tag.into());
                self.buf.put_uvarint(u.data.len() as u64);
                self.buf.put_slice(&u.data);
            }
        }

        pub fn field<T: Codec>(&mut self, tag: u32, v: &T, version: i16, flex: bool, field: &'static str) -> Result<(), EncodeError> {
            self.flush_below(tag.into());
            self.buf.put_uvarint(tag.into());
            self.buf.put_uvarint(v.enc_len(version, flex, field)? as u64);
            v.enc(self.buf, version, flex, field)
        }

        pub fn finish(mut self) {
            self.flush_below(u64::MAX);
        }
    }

    /// Size of a tagged-fields section without its known fields.
    pub fn tagged_len(unknown: &[RawTaggedField], known: usize) -> usize {
        let mut n = uvarint_len((known + unknown.len()) as u64);
        for u in unknown {
            n += uvarint_len(u.tag.into()) + uvarint_len(u.data.len() as u64) + u.data.len();
        }
        n
    }

    /// Size of one known tagged field.
    pub fn tagged_field_len<T: Codec>(tag: u32, v: &T, version: i16, flex: bool, field: &'static str) -> Result<usize, EncodeError> {
        let len = v.enc_len(version, flex, field)?;
        Ok(uvarint_len(tag.into()) + uvarint_len(len as u64) + len)
    }

    /// Reads a tagged-fields section. `known(tag, reader)` decodes a known
    /// tag from a child reader bounded to its size and returns `true`, or
    /// returns `false` for tags it does not know; those are kept raw. A known
    /// field must take its whole size. Tags must be strictly increasing.
    pub fn read_tagged<'a, F>(r: &mut Reader<'a>, field: &'static str, mut known: F) -> Result<Vec<RawTaggedField>, DecodeError>
    where
        F: FnMut(u32, &mut Reader<'a>) -> Result<bool, DecodeError>,
    {
        let count = r.uvarint(field)?;
        let remaining = r.remaining();
        // Each tagged field takes at least two bytes (tag and size).
        if count as usize > remaining / 2 {
            return Err(DecodeError::new(DecodeErrorKind::CountTooLarge { count: count.into(), remaining }, field));
        }
        let mut unknown = Vec::new();
        let mut last: Option<u32> = None;
        for _ in 0..count {
            let tag = r.uvarint(field)?;
            if last.is_some_and(|l| tag <= l) {
                return Err(DecodeError::new(DecodeErrorKind::InvalidValue { value: tag.into() }, field));
            }
            last = Some(tag);
            let size = r.uvarint(field)? as usize;
            let mut sub = r.sub(size, field)?;
            if known(tag, &mut sub)? {
                sub.expect_end(field)?;
            } else {
                unknown.push(RawTaggedField { tag, data: sub.take_bytes(size, field)? });
            }
        }
        Ok(unknown)
    }

    // ---- whole messages -------------------------------------------------------

    pub fn encode_message<M: Message + Codec, B: BufMut>(m: &M, buf: &mut B, version: i16) -> Result<(), EncodeError> {
        if !M::VERSIONS.contains(version) {
            return Err(EncodeError::UnsupportedVersion { api: M::NAME, version });
        }
        m.enc(buf, version, M::is_flexible(version), M::NAME)
    }

    pub fn encoded_len_message<M: Message + Codec>(m: &M, version: i16) -> Result<usize, EncodeError> {
        if !M::VERSIONS.contains(version) {
            return Err(EncodeError::UnsupportedVersion { api: M::NAME, version });
        }
        m.enc_len(version, M::is_flexible(version), M::NAME)
    }

    pub fn decode_message<M: Message + Codec>(r: &mut Reader<'_>, version: i16, direction: &'static str) -> Result<M, DecodeError> {
        if !M::VERSIONS.contains(version) {
            return Err(DecodeError::new(DecodeErrorKind::UnsupportedVersion, M::NAME).in_message(M::NAME, version, direction));
        }
        M::dec(r, version, M::is_flexible(version), M::NAME).map_err(|e| e.in_message(M::NAME, version, direction))
    }

    #[cfg(any(test, feature = "proptest"))]
    pub use super::arbitrary::{Gen, Random};
}

/// Random values for property tests: `Random` builds a value valid at a
/// version (fields absent at that version stay at their default).
#[cfg(any(test, feature = "proptest"))]
pub mod arbitrary {
    use bytes::Bytes;
    use proptest::strategy::Strategy;

    use super::Message;
    use crate::codec::{RawTaggedField, Uuid};

    /// A small deterministic generator (xorshift64*), seeded by proptest.
    #[derive(Debug, Clone)]
    pub struct Gen {
        state: u64,
        depth: u32,
    }

    impl Gen {
        pub fn new(seed: u64) -> Self {
            Gen { state: seed ^ 0x9E37_79B9_7F4A_7C15, depth: 0 }
        }

        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.state;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.state = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// A number in `0..n` (`n > 0`).
        pub fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n.max(1)
        }

        /// Mostly small numbers, sometimes edge values, sometimes anything.
        pub fn int(&mut self) -> i64 {
            match self.below(8) {
                0 => [0, -1, 1, i64::MIN, i64::MAX].get(self.below(5) as usize).copied().unwrap_or(0),
                1..=4 => self.below(300) as i64 - 20,
                _ => self.next_u64() as i64,
            }
        }

        /// `None` about a quarter of the time when `nullable`, else `Some`.
        pub fn opt<T>(&mut self, nullable: bool, f: impl FnOnce(&mut Gen) -> T) -> Option<T> {
            if nullable && self.below(4) == 0 {
                None
            } else {
                Some(f(self))
            }
        }

        pub fn small_len(&mut self) -> usize {
            let max = if self.depth >= 2 { 2 } else { 4 };
            self.below(max) as usize
        }

        /// A few unknown tagged fields (tags far above the known ones), sorted.
        pub fn unknown_tags(&mut self) -> Vec<RawTaggedField> {
            let mut out = Vec::new();
            let mut tag = 90u32;
            for _ in 0..self.below(3) {
                tag += 1 + self.below(20_000) as u32;
                let data = Bytes::random(self, 0, false);
                out.push(RawTaggedField { tag, data });
            }
            out
        }
    }

    /// A random value of a field type at a version.
    pub trait Random: Sized {
        fn random(g: &mut Gen, version: i16, flex: bool) -> Self;
    }

    macro_rules! int {
        ($($ty:ty),*) => {$(
            impl Random for $ty {
                fn random(g: &mut Gen, _: i16, _: bool) -> Self {
                    g.int() as $ty
                }
            }
        )*};
    }
    int!(i8, i16, i32, i64, u16, u32);

    impl Random for bool {
        fn random(g: &mut Gen, _: i16, _: bool) -> Self {
            g.below(2) == 1
        }
    }

    impl Random for f64 {
        fn random(g: &mut Gen, _: i16, _: bool) -> Self {
            match g.below(4) {
                0 => 0.0,
                1 => -1.5,
                2 => f64::INFINITY,
                _ => g.int() as f64 / 7.0,
            }
        }
    }

    impl Random for Uuid {
        fn random(g: &mut Gen, _: i16, _: bool) -> Self {
            if g.below(4) == 0 {
                Uuid::ZERO
            } else {
                Uuid::from_u64_pair(g.next_u64(), g.next_u64())
            }
        }
    }

    impl Random for String {
        fn random(g: &mut Gen, _: i16, _: bool) -> Self {
            const PIECES: [&str; 8] = ["a", "topic", "-", "0", "é", "✓", "_x", " "];
            let n = g.small_len() * 2;
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(PIECES.get(g.below(PIECES.len() as u64) as usize).copied().unwrap_or("a"));
            }
            s
        }
    }

    impl Random for Bytes {
        fn random(g: &mut Gen, _: i16, _: bool) -> Self {
            let n = g.small_len() * 3;
            (0..n).map(|_| g.next_u64() as u8).collect::<Vec<u8>>().into()
        }
    }

    impl<T: Random> Random for Vec<T> {
        fn random(g: &mut Gen, version: i16, flex: bool) -> Self {
            let n = g.small_len();
            g.depth += 1;
            let out = (0..n).map(|_| T::random(g, version, flex)).collect();
            g.depth -= 1;
            out
        }
    }

    /// A proptest strategy for values of `M` valid at `version`.
    pub fn strategy<M: Message + Random + Clone + std::fmt::Debug>(version: i16) -> impl Strategy<Value = M> {
        proptest::arbitrary::any::<u64>().prop_map(move |seed| M::random(&mut Gen::new(seed), version, M::is_flexible(version)))
    }
}

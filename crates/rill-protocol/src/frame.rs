//! Size-prefixed Kafka frames: `[i32 size][size bytes]`, sans-IO.
//!
//! [`FrameDecoder`] takes bytes a driver read from a socket and hands back
//! whole frames as zero-copy [`Bytes`] split off the input buffer. The size
//! prefix is checked against a cap *before* anything more is buffered or
//! reserved: a peer claiming a 2 GB frame costs nothing but the 4 bytes it
//! sent. [`FrameDecoder::needed`] tells the driver exactly how many more bytes
//! the current frame needs (never more than the cap plus the prefix), so it can
//! `reserve` precisely.
//!
//! The decoder also recognises the usual "this is not a Kafka peer" mistakes
//! from the first bytes of a connection (a TLS listener answering a plaintext
//! client, an HTTP server) and says so instead of reporting a nonsensical size.
//!
//! Encoding: [`encode_frame`] gives the 4-byte prefix for a body length,
//! [`write_frame`] appends prefix and body, and [`begin_frame`] /
//! [`FrameStart::finish`] reserve the prefix, let the caller encode the body in
//! place, then patch the size in.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// Length of the size prefix.
pub const SIZE_PREFIX_LEN: usize = 4;

/// A reasonable default cap: Kafka's `socket.request.max.bytes` default (100 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 104_857_600;

/// What kind of TLS record a peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRecordKind {
    /// Content type 0x15 (typically a TLS server rejecting a plaintext "ClientHello").
    Alert,
    /// Content type 0x16 (a TLS handshake, e.g. ServerHello or ClientHello).
    Handshake,
}

/// Why a frame could not be decoded or encoded.
///
/// Every decode error means the byte stream can no longer be trusted: the
/// driver should close the connection (adding the broker address to the
/// message). The input buffer is left as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The size prefix is negative.
    NegativeSize { size: i32 },
    /// The size prefix exceeds the configured cap.
    TooLarge { size: usize, max: usize },
    /// The peer speaks TLS: its first bytes are a TLS record header.
    TlsPeer { kind: TlsRecordKind },
    /// The peer speaks HTTP: its first bytes are `HTTP/`.
    HttpPeer,
    /// The connection ended in the middle of a frame.
    Truncated { have: usize, expected: usize },
    /// A frame to send has a body longer than `i32::MAX`.
    OutgoingTooLarge { len: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NegativeSize { size } => write!(
                f,
                "invalid Kafka frame: negative size prefix {size}; the peer is not speaking the Kafka protocol \
                 (check that the address is a Kafka listener and that security.protocol matches it)"
            ),
            FrameError::TooLarge { size, max } => write!(
                f,
                "Kafka frame of {size} bytes exceeds the limit of {max} bytes; if the peer is a Kafka broker, \
                 raise the maximum frame size (or lower fetch.max.bytes / max.partition.fetch.bytes), \
                 otherwise check that the address is a Kafka listener and that security.protocol matches it"
            ),
            FrameError::TlsPeer { kind } => {
                let record = match kind {
                    TlsRecordKind::Alert => "alert",
                    TlsRecordKind::Handshake => "handshake",
                };
                write!(
                    f,
                    "peer answered with TLS: the listener expects SSL/SASL_SSL; set security.protocol \
                     to SSL or SASL_SSL (received a TLS {record} record instead of a Kafka frame)"
                )
            }
            FrameError::HttpPeer => f.write_str(
                "peer is an HTTP server, not a Kafka broker; check the bootstrap address and port \
                 (use the broker's Kafka listener, not a REST proxy, UI or load-balancer health port)",
            ),
            FrameError::Truncated { have, expected } => {
                write!(f, "connection closed in the middle of a Kafka frame ({have} of {expected} bytes received)")
            }
            FrameError::OutgoingTooLarge { len } => {
                write!(f, "cannot send a Kafka frame of {len} bytes: the size prefix is an i32 (at most {} bytes)", i32::MAX)
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Recognise a non-Kafka peer from the first bytes of a connection.
///
/// Needs at least 4 bytes; a TLS record is `0x15|0x16, 0x03, 0x0X` and HTTP is
/// `HTTP` (and `/` as fifth byte when there is one).
fn sniff_foreign_peer(first: &[u8]) -> Option<FrameError> {
    match first {
        [content_type @ (0x15 | 0x16), 0x03, minor, _, ..] if *minor <= 0x0F => {
            let kind = if *content_type == 0x15 { TlsRecordKind::Alert } else { TlsRecordKind::Handshake };
            Some(FrameError::TlsPeer { kind })
        }
        [b'H', b'T', b'T', b'P'] | [b'H', b'T', b'T', b'P', b'/', ..] => Some(FrameError::HttpPeer),
        _ => None,
    }
}

/// Incremental decoder of size-prefixed frames. One per connection.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
    /// Bytes the current frame still needs, as of the last `decode` call.
    needed: usize,
    /// Frames returned so far on this connection (the first one is sniffed).
    frames: u64,
}

impl FrameDecoder {
    /// A decoder that rejects frames whose body exceeds `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameDecoder { max_frame_bytes, needed: SIZE_PREFIX_LEN, frames: 0 }
    }

    /// The cap on a frame's body length (excluding the 4-byte prefix).
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames
    }

    /// How many more bytes the current frame needs, as of the last
    /// [`decode`](Self::decode) call that returned `Ok(None)` (4 before any
    /// call). Never more than `max_frame_bytes + 4`, so a driver may
    /// `buf.reserve(decoder.needed())` without trusting the peer.
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// Start over as on a fresh connection.
    pub fn reset(&mut self) {
        self.needed = SIZE_PREFIX_LEN;
        self.frames = 0;
    }

    /// Validate the header at the front of `buf` (which holds at least 4
    /// bytes) and return the body length.
    fn check_header(&self, buf: &[u8]) -> Result<usize, FrameError> {
        let Some(&[a, b, c, d]) = buf.get(..SIZE_PREFIX_LEN) else {
            // Unreachable by the callers' checks; report as "needs more".
            return Err(FrameError::Truncated { have: buf.len(), expected: SIZE_PREFIX_LEN });
        };
        let size = i32::from_be_bytes([a, b, c, d]);
        // The first bytes of a connection are the likeliest place for a
        // wrong-protocol peer; their "sizes" (>= 352 MB) are never a sane
        // first Kafka frame, so the sniff wins over the size checks.
        if self.frames == 0 {
            if let Some(err) = sniff_foreign_peer(buf) {
                return Err(err);
            }
        }
        let size_usize = usize::try_from(size).map_err(|_| FrameError::NegativeSize { size })?;
        if size_usize > self.max_frame_bytes {
            return Err(FrameError::TooLarge { size: size_usize, max: self.max_frame_bytes });
        }
        Ok(size_usize)
    }

    /// Take the next whole frame body off the front of `buf`.
    ///
    /// - `Ok(Some(body))`: a frame (without its prefix), split off `buf`
    ///   without copying; call again, more frames may be buffered.
    /// - `Ok(None)`: incomplete; [`needed`](Self::needed) says how many more
    ///   bytes to read.
    /// - `Err(_)`: the stream is unusable; close the connection. Nothing has
    ///   been consumed, buffered or reserved for the claimed size.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if buf.len() < SIZE_PREFIX_LEN {
            self.needed = SIZE_PREFIX_LEN - buf.len();
            return Ok(None);
        }
        let size = self.check_header(buf)?;
        let total = SIZE_PREFIX_LEN.saturating_add(size);
        if buf.len() < total {
            self.needed = total - buf.len();
            return Ok(None);
        }
        let mut frame = buf.split_to(total);
        let body = frame.split_off(SIZE_PREFIX_LEN).freeze();
        self.frames = self.frames.saturating_add(1);
        self.needed = SIZE_PREFIX_LEN;
        Ok(Some(body))
    }

    /// The frame `decode` last reported incomplete was read to its end
    /// outside `buf` (a driver that reads large frames into memory of their
    /// own, with `buf` holding nothing past that frame's start): count it and
    /// expect the next size prefix.
    pub fn frame_completed_elsewhere(&mut self) {
        self.frames = self.frames.saturating_add(1);
        self.needed = SIZE_PREFIX_LEN;
    }

    /// Call when the peer closed the connection: `Ok(())` if `buf` ended on a
    /// frame boundary, otherwise the most useful error for the leftover bytes
    /// (a recognised foreign protocol, a bad header, or a truncated frame).
    pub fn finish(&self, buf: &BytesMut) -> Result<(), FrameError> {
        if buf.is_empty() {
            return Ok(());
        }
        if buf.len() >= SIZE_PREFIX_LEN {
            let size = self.check_header(buf)?;
            return Err(FrameError::Truncated { have: buf.len(), expected: SIZE_PREFIX_LEN.saturating_add(size) });
        }
        Err(FrameError::Truncated { have: buf.len(), expected: SIZE_PREFIX_LEN })
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

/// The size prefix for a body of `body_len` bytes.
pub fn encode_frame(body_len: usize) -> Result<[u8; SIZE_PREFIX_LEN], FrameError> {
    let size = i32::try_from(body_len).map_err(|_| FrameError::OutgoingTooLarge { len: body_len })?;
    Ok(size.to_be_bytes())
}

/// Append a whole frame (prefix and body) to `dst`.
pub fn write_frame(dst: &mut BytesMut, body: &[u8]) -> Result<(), FrameError> {
    let prefix = encode_frame(body.len())?;
    dst.reserve(SIZE_PREFIX_LEN.saturating_add(body.len()));
    dst.put_slice(&prefix);
    dst.put_slice(body);
    Ok(())
}

/// A frame being encoded in place; see [`begin_frame`].
#[derive(Debug)]
#[must_use = "call finish() to write the size prefix"]
pub struct FrameStart {
    offset: usize,
}

/// Reserve a size prefix at the end of `dst`; encode the body after it, then
/// call [`FrameStart::finish`] to patch the size in.
pub fn begin_frame(dst: &mut BytesMut) -> FrameStart {
    let offset = dst.len();
    dst.put_slice(&[0; SIZE_PREFIX_LEN]);
    FrameStart { offset }
}

impl FrameStart {
    /// Write the size of everything appended since [`begin_frame`].
    ///
    /// On error (body longer than `i32::MAX`, or `dst` shrank below the
    /// prefix) the partial frame is removed from `dst`.
    pub fn finish(self, dst: &mut BytesMut) -> Result<(), FrameError> {
        let body_start = self.offset.saturating_add(SIZE_PREFIX_LEN);
        let Some(body_len) = dst.len().checked_sub(body_start) else {
            dst.truncate(self.offset);
            return Err(FrameError::Truncated { have: dst.len(), expected: body_start });
        };
        let prefix = match encode_frame(body_len) {
            Ok(prefix) => prefix,
            Err(err) => {
                dst.truncate(self.offset);
                return Err(err);
            }
        };
        match dst.get_mut(self.offset..body_start) {
            Some(slot) => {
                slot.copy_from_slice(&prefix);
                Ok(())
            }
            None => Err(FrameError::Truncated { have: dst.len(), expected: body_start }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn whole_frame() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&frame(b"hello")[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(Bytes::from_static(b"hello")));
        assert!(buf.is_empty());
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(dec.needed(), 4);
        assert_eq!(dec.frames_decoded(), 1);
        assert_eq!(dec.finish(&buf), Ok(()));
    }

    #[test]
    fn empty_frame() {
        let mut dec = FrameDecoder::new(16);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(Bytes::new()));
    }

    #[test]
    fn partial_header_and_body() {
        let mut dec = FrameDecoder::new(1024);
        let bytes = frame(b"0123456789");
        let mut buf = BytesMut::new();
        // Feed one byte at a time; `needed` must always be exact.
        for (i, byte) in bytes.iter().enumerate() {
            assert_eq!(dec.decode(&mut buf).unwrap(), None, "at {i}");
            let expected = if i < 4 { 4 - i } else { bytes.len() - i };
            assert_eq!(dec.needed(), expected, "at {i}");
            buf.put_u8(*byte);
        }
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(Bytes::from_static(b"0123456789")));
    }

    #[test]
    fn needed_is_exact() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(dec.needed(), 2);
        buf.put_slice(&[0, 100]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(dec.needed(), 100);
        buf.put_slice(&[7; 60]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(dec.needed(), 40);
        buf.put_slice(&[7; 40]);
        assert_eq!(dec.decode(&mut buf).unwrap().map(|b| b.len()), Some(100));
    }

    #[test]
    fn two_frames_in_one_buffer_then_partial_third() {
        let mut dec = FrameDecoder::new(1024);
        let mut bytes = frame(b"first");
        bytes.extend(frame(b"second!"));
        bytes.extend(&frame(b"third")[..6]);
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(Bytes::from_static(b"first")));
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(Bytes::from_static(b"second!")));
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(dec.needed(), 3);
        assert_eq!(dec.finish(&buf), Err(FrameError::Truncated { have: 6, expected: 9 }));
        buf.put_slice(b"ird");
        assert_eq!(dec.decode(&mut buf).unwrap(), Some(Bytes::from_static(b"third")));
        assert_eq!(dec.frames_decoded(), 3);
    }

    #[test]
    fn frame_is_zero_copy() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&frame(b"payload")[..]);
        let base = buf.as_ptr() as usize;
        let body = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(body.as_ptr() as usize, base + SIZE_PREFIX_LEN);
    }

    #[test]
    fn exactly_at_cap_is_accepted_one_over_is_not() {
        let mut dec = FrameDecoder::new(8);
        let mut buf = BytesMut::from(&frame(&[1; 8])[..]);
        assert_eq!(dec.decode(&mut buf).unwrap().map(|b| b.len()), Some(8));
        let mut buf = BytesMut::from(&frame(&[1; 9])[..]);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::TooLarge { size: 9, max: 8 }));
    }

    #[test]
    fn huge_claimed_size_fails_with_four_bytes_and_no_allocation() {
        // Second frame, so no foreign-peer sniffing: a pure size check.
        let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        let mut buf = BytesMut::from(&frame(b"ok")[..]);
        dec.decode(&mut buf).unwrap().unwrap();
        let mut buf = BytesMut::with_capacity(4);
        buf.put_i32(2_000_000_000);
        let cap_before = buf.capacity();
        let err = dec.decode(&mut buf).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { size: 2_000_000_000, max: DEFAULT_MAX_FRAME_BYTES });
        assert_eq!(buf.capacity(), cap_before);
        assert_eq!(buf.len(), 4, "nothing consumed");
        assert!(err.to_string().contains("exceeds the limit of 104857600 bytes"));
        // The same on a fresh connection (0x77 is no known foreign signature).
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::from(&[0x77u8, 0x35, 0x94, 0x00][..]);
        assert!(matches!(dec.decode(&mut buf), Err(FrameError::TooLarge { .. })));
        assert_eq!(buf.capacity(), 4);
    }

    #[test]
    fn negative_size() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        let err = dec.decode(&mut buf).unwrap_err();
        assert_eq!(err, FrameError::NegativeSize { size: -1 });
        assert!(err.to_string().contains("negative size prefix -1"));
        let mut buf = BytesMut::from(&i32::MIN.to_be_bytes()[..]);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::NegativeSize { size: i32::MIN }));
    }

    #[test]
    fn tls_alert_and_handshake() {
        // What a TLS listener sends to a plaintext client: an alert record.
        let mut buf = BytesMut::from(&[0x15u8, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46][..]);
        let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
        assert_eq!(err, FrameError::TlsPeer { kind: TlsRecordKind::Alert });
        let msg = err.to_string();
        assert!(msg.starts_with("peer answered with TLS: the listener expects SSL/SASL_SSL; set security.protocol"));
        // A handshake record, with only the 4 bytes of a header in hand, and
        // even when the cap would admit the claimed size.
        let mut buf = BytesMut::from(&[0x16u8, 0x03, 0x01, 0x02][..]);
        let mut dec = FrameDecoder::new(usize::MAX);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::TlsPeer { kind: TlsRecordKind::Handshake }));
        assert_eq!(dec.finish(&buf), Err(FrameError::TlsPeer { kind: TlsRecordKind::Handshake }));
    }

    #[test]
    fn http_peer() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]);
        let err = FrameDecoder::default().decode(&mut buf).unwrap_err();
        assert_eq!(err, FrameError::HttpPeer);
        assert!(err.to_string().starts_with("peer is an HTTP server, not a Kafka broker"));
        let mut buf = BytesMut::from(&b"HTTP"[..]);
        assert_eq!(FrameDecoder::default().decode(&mut buf), Err(FrameError::HttpPeer));
        // "HTTPS" is not an HTTP status line: falls through to the size check.
        let mut buf = BytesMut::from(&b"HTTPS"[..]);
        assert!(matches!(FrameDecoder::default().decode(&mut buf), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn sniffing_only_on_first_frame() {
        let mut dec = FrameDecoder::new(usize::MAX);
        let mut buf = BytesMut::from(&frame(b"x")[..]);
        dec.decode(&mut buf).unwrap().unwrap();
        // A later frame whose size happens to look like a TLS header is just a (big) frame.
        buf.put_slice(&[0x16, 0x03, 0x01, 0x02, 0xAA]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(dec.needed(), 0x1603_0102 - 1);
        dec.reset();
        assert!(matches!(dec.decode(&mut buf), Err(FrameError::TlsPeer { .. })));
    }

    #[test]
    fn finish_reports_truncation() {
        let dec = FrameDecoder::default();
        assert_eq!(dec.finish(&BytesMut::from(&[0u8, 0][..])), Err(FrameError::Truncated { have: 2, expected: 4 }));
        assert_eq!(dec.finish(&BytesMut::from(&[0u8, 0, 0, 10, 1][..])), Err(FrameError::Truncated { have: 5, expected: 14 }));
        assert!(matches!(dec.finish(&BytesMut::from(&(-5i32).to_be_bytes()[..])), Err(FrameError::NegativeSize { .. })));
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_frame(0).unwrap(), [0, 0, 0, 0]);
        assert_eq!(encode_frame(258).unwrap(), [0, 0, 1, 2]);
        assert_eq!(encode_frame(i32::MAX as usize).unwrap(), [0x7F, 0xFF, 0xFF, 0xFF]);
        let too_big = i32::MAX as usize + 1;
        assert_eq!(encode_frame(too_big), Err(FrameError::OutgoingTooLarge { len: too_big }));

        let mut out = BytesMut::new();
        write_frame(&mut out, b"abc").unwrap();
        let start = begin_frame(&mut out);
        out.put_slice(b"in place");
        start.finish(&mut out).unwrap();
        let mut dec = FrameDecoder::new(64);
        assert_eq!(dec.decode(&mut out).unwrap(), Some(Bytes::from_static(b"abc")));
        assert_eq!(dec.decode(&mut out).unwrap(), Some(Bytes::from_static(b"in place")));
        assert!(out.is_empty());
    }

    #[test]
    fn finish_after_shrink_is_an_error() {
        let mut out = BytesMut::from(&b"xy"[..]);
        let start = begin_frame(&mut out);
        out.truncate(3);
        assert!(start.finish(&mut out).is_err());
        assert_eq!(&out[..], b"xy");
    }
}

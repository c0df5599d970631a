//! The four Kafka compression codecs, encode and decode.
//!
//! Every decoder takes a cap on the decompressed size and stops as soon as the
//! output would pass it ([`DecodeErrorKind::LimitExceeded`]): output is
//! produced incrementally (streamed or block by block), never decompressed in
//! full and checked afterwards, so a compression bomb costs at most `limit`
//! bytes of memory. Allocation also follows what the input can justify: a
//! block's declared size is checked against the codec's maximum expansion
//! ratio before its buffer is grown.
//!
//! | id | codec  | wire format                                                          |
//! |----|--------|----------------------------------------------------------------------|
//! | 0  | none   |                                                                      |
//! | 1  | gzip   | RFC 1952 (concatenated members accepted)                             |
//! | 2  | snappy | xerial framing as the Java client writes it; plain raw snappy decodes too |
//! | 3  | lz4    | LZ4 frame format (header checksum not verified, so the KIP-57 pre-0.10 broken checksum of magic 0/1 is accepted) |
//! | 4  | zstd   | zstd frame (pure-Rust `ruzstd` by default; C `zstd` with feature `zstd-c`) |

mod buffer_pool;
mod gzip;
mod lz4;
mod output;
mod snappy;
mod zstd;

use std::io::Read;

use bytes::BytesMut;

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

pub use buffer_pool::BufferPool;
pub use lz4::LZ4_BLOCK_SIZE;
pub use snappy::XERIAL_MAGIC;
pub use zstd::ZSTD_LIBRARY;

/// Default cap on the decompressed size of one batch (64 MiB).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// A compression codec as carried in the low three bits of batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// The wire id (0..=4).
    #[inline]
    pub const fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for a wire id, `None` for ids Kafka does not define.
    #[inline]
    pub const fn from_id(id: u8) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Name as Kafka's `compression.type` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The codec for a `compression.type` name (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn from_name(name: &str) -> Option<Compression> {
        Compression::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Compresses `input` and appends the result to `out`.
    ///
    /// `None` copies the input unchanged.
    pub fn compress(self, input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Compression::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            Compression::Gzip => gzip::compress(input, out),
            Compression::Snappy => snappy::compress(input, out),
            Compression::Lz4 => lz4::compress(input, out),
            Compression::Zstd => zstd::compress(input, out),
        }
    }

    /// Decompresses `input` into a new buffer of at most `limit` bytes.
    ///
    /// `field` names the field errors are reported against. Output larger than
    /// `limit` gives [`DecodeErrorKind::LimitExceeded`] as soon as the limit is
    /// crossed.
    pub fn decompress(self, input: &[u8], limit: usize, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        self.decompress_into(input, limit, field, &mut out)?;
        Ok(out)
    }

    /// Like [`Compression::decompress`], into `out`, a buffer to reuse
    /// (from a [`BufferPool`]): its old contents are written over (not
    /// zeroed first) and on success it holds exactly the decompressed
    /// bytes; after an error its contents are unspecified.
    pub fn decompress_into(self, input: &[u8], limit: usize, field: &'static str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let written = self.decompress_over(input, limit, field, out)?;
        out.truncate(written);
        Ok(())
    }

    /// Like [`Compression::decompress_into`], but on success the
    /// decompressed bytes are the first `n` of `out` (`n` returned) and
    /// `out` keeps its length past them: bytes an earlier use initialized
    /// stay counted as such, so the buffer's next use writes over them
    /// instead of zero-filling them again (lz4 and snappy decode into
    /// initialized slices; a truncated pool buffer was zero-filled anew on
    /// every use, about 1.3% of a consumer of 1 KiB lz4 records in perf).
    pub fn decompress_over(self, input: &[u8], limit: usize, field: &'static str, out: &mut Vec<u8>) -> Result<usize, DecodeError> {
        match self {
            Compression::None => {
                if input.len() > limit {
                    return Err(limit_exceeded(input.len(), limit, field));
                }
                let mut output = output::Output::new(out);
                output.extend(input);
                Ok(output.finish())
            }
            Compression::Gzip => gzip::decompress_into(input, limit, field, out).map(|()| out.len()),
            Compression::Snappy => snappy::decompress_over(input, limit, field, out),
            Compression::Lz4 => lz4::decompress_over(input, limit, field, out),
            Compression::Zstd => zstd::decompress_into(input, limit, field, out).map(|()| out.len()),
        }
    }

    /// How much memory to set aside for decompressing `input`: for lz4 the
    /// most its blocks can give (close to exact), for the other codecs a
    /// guess (gzip's size trailer, a typical ratio); never above `limit + 1`.
    pub fn output_size_hint(self, input: &[u8], limit: usize) -> usize {
        let hint = match self {
            Compression::None => input.len(),
            Compression::Lz4 => lz4::output_bound(input, limit, "hint"),
            Compression::Gzip => gzip::size_hint(input),
            Compression::Snappy | Compression::Zstd => input.len().saturating_mul(4),
        };
        hint.min(limit.saturating_add(1))
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) fn limit_exceeded(size: usize, limit: usize, field: &'static str) -> DecodeError {
    DecodeError::new(DecodeErrorKind::LimitExceeded { size: size as u64, limit: limit as u64 }, field)
}

pub(crate) fn corrupt(codec: &'static str, reason: impl Into<String>, field: &'static str) -> DecodeError {
    DecodeError::new(DecodeErrorKind::Decompress { codec, reason: reason.into() }, field)
}

pub(crate) fn compress_error(codec: &'static str, reason: impl std::fmt::Display) -> EncodeError {
    EncodeError::Compress { codec, reason: reason.to_string() }
}

/// Reads a decompressing stream to its end into `buf`, a scratch buffer
/// (see [`Compression::decompress_into`]), keeping at most `limit` bytes.
///
/// At most `limit + 1` bytes are ever requested from the reader (the extra
/// byte tells "exactly at the limit" from "over it"), and the buffer grows by
/// doubling from `size_hint` (or from its own length, when reused), so
/// memory stays within about twice what was actually produced and never
/// above `limit + 1`.
pub(crate) fn read_capped_into<R: Read>(
    mut reader: R,
    limit: usize,
    size_hint: usize,
    codec: &'static str,
    field: &'static str,
    buf: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let hard = limit.saturating_add(1);
    buf.truncate(hard);
    let mut filled = 0usize;
    loop {
        if filled == buf.len() {
            if buf.len() >= hard {
                break;
            }
            let grow = if buf.is_empty() { size_hint.max(256) } else { buf.len() };
            let new_len = buf.len().saturating_add(grow).min(hard);
            // Exact, so the last step to `limit + 1` does not double the capacity.
            buf.reserve_exact(new_len - buf.len());
            buf.resize(new_len, 0);
        }
        let dst = match buf.get_mut(filled..) {
            Some(d) => d,
            None => break,
        };
        match reader.read(dst) {
            Ok(0) => break,
            // A reader never reports more than it was given; clamp anyway.
            Ok(n) => filled = filled.saturating_add(n).min(buf.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(codec, e.to_string(), field)),
        }
    }
    if filled > limit {
        return Err(limit_exceeded(filled, limit, field));
    }
    buf.truncate(filled);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()), Some(c));
        }
        assert_eq!(Compression::from_id(5), None);
        assert_eq!(Compression::from_id(7), None);
        assert_eq!(Compression::from_name("LZ4"), Some(Compression::Lz4));
        assert_eq!(Compression::from_name("brotli"), None);
    }

    #[test]
    fn a_lent_buffer_keeps_what_its_earlier_uses_initialized() {
        // A large output, then a smaller one into the same pooled buffer:
        // the smaller one is exactly its bytes, and the buffer comes back
        // still as long as the large one, so its next use zero-fills nothing.
        let pool = BufferPool::new(1 << 24);
        let options = crate::records::DecodeOptions::default().with_buffers(pool.clone());
        let large: Vec<u8> = (0..200_000u32).flat_map(|i| format!("{{\"n\":{}}}", i % 13).into_bytes()).take(200_000).collect();
        let small = &large[..50_000];
        for codec in [Compression::Lz4, Compression::Snappy, Compression::None] {
            let compressed = |data: &[u8]| {
                let mut out = BytesMut::new();
                codec.compress(data, &mut out).unwrap();
                out
            };
            let first = options.decompress(codec, &compressed(&large), "f").unwrap();
            assert_eq!(first, large, "{codec}");
            drop(first);
            let second = options.decompress(codec, &compressed(small), "f").unwrap();
            assert_eq!(second, small, "{codec}");
            drop(second);
            let buf = pool.take(1);
            assert!(buf.len() >= large.len(), "{codec}: the buffer came back {} bytes long", buf.len());
            pool.give_back(buf);
        }
    }

    #[test]
    fn every_codec_round_trips_and_caps() {
        let mut input = Vec::new();
        for i in 0..20_000u32 {
            input.extend_from_slice(format!("{{\"id\":{i},\"name\":\"user-{}\"}}", i % 97).as_bytes());
        }
        for c in Compression::ALL {
            let mut out = BytesMut::new();
            c.compress(&input, &mut out).unwrap();
            let back = c.decompress(&out, input.len(), "f").unwrap();
            assert_eq!(back, input, "{c}");
            let err = c.decompress(&out, input.len() - 1, "f").unwrap_err();
            assert!(matches!(err.kind, DecodeErrorKind::LimitExceeded { .. }), "{c}: {err}");
            // empty input
            let mut out = BytesMut::new();
            c.compress(&[], &mut out).unwrap();
            assert_eq!(c.decompress(&out, 10, "f").unwrap(), Vec::<u8>::new(), "{c}");
        }
    }
}

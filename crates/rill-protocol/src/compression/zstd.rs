//! zstd (codec 4).
//!
//! Default build: pure Rust, `ruzstd` for both directions. Its encoder
//! implements only its "Fastest" level (about zstd level 1), which is what is
//! written. With the non-default cargo feature `zstd-c` the C library (the
//! `zstd` crate) is used instead, at level 3 like the Java client.
//!
//! Decoding caps the window a frame may declare at [`MAX_WINDOW`] (the size
//! the zstd format recommends every decoder support), so a tiny frame cannot
//! make the decoder reserve a huge history buffer.

use bytes::BytesMut;

#[cfg(not(feature = "zstd-c"))]
use super::corrupt;
use super::read_capped_into;
use crate::error::{DecodeError, EncodeError};

const CODEC: &str = "zstd";

/// Which zstd implementation this build compresses and decompresses with,
/// for diagnostics (a consumer of zstd data from Java producers decodes it
/// about 3.5x faster with the C library; see the README's benchmarks).
#[cfg(not(feature = "zstd-c"))]
pub const ZSTD_LIBRARY: &str = "ruzstd (pure Rust)";
/// Which zstd implementation this build compresses and decompresses with.
#[cfg(feature = "zstd-c")]
pub const ZSTD_LIBRARY: &str = "libzstd (C, feature zstd-c)";
/// Largest window a frame may declare (8 MiB).
pub const MAX_WINDOW: u64 = 8 * 1024 * 1024;

#[cfg(not(feature = "zstd-c"))]
pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    use bytes::BufMut;
    out.reserve(input.len() / 2 + 64);
    ruzstd::encoding::compress(input, out.writer(), ruzstd::encoding::CompressionLevel::Fastest);
    Ok(())
}

#[cfg(not(feature = "zstd-c"))]
pub(super) fn decompress_into(input: &[u8], limit: usize, field: &'static str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    use ruzstd::decoding::StreamingDecoder;
    // One frame per iteration; Java's ZstdInputStream also reads concatenated frames.
    let mut rest = input;
    let mut first = true;
    loop {
        let mut src = rest;
        let dec = StreamingDecoder::new_with_max_window_size(&mut src, MAX_WINDOW).map_err(|e| corrupt(CODEC, e.to_string(), field))?;
        let hint = dec.decoder.content_size();
        let hint = usize::try_from(hint).unwrap_or(usize::MAX).min(input.len().saturating_mul(8));
        if first {
            read_capped_into(dec, limit, hint, CODEC, field, out)?;
            first = false;
        } else {
            let left = limit.saturating_sub(out.len());
            let mut part = Vec::new();
            read_capped_into(dec, left, hint, CODEC, field, &mut part).map_err(|e| shift_limit(e, out.len(), limit))?;
            out.extend_from_slice(&part);
        }
        rest = src;
        if rest.is_empty() {
            return Ok(());
        }
    }
}

#[cfg(feature = "zstd-c")]
pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    use bytes::BufMut;
    use std::io::Write;
    out.reserve(input.len() / 2 + 64);
    let mut enc = ::zstd::stream::write::Encoder::new(out.writer(), 3).map_err(|e| super::compress_error(CODEC, e))?;
    enc.write_all(input).map_err(|e| super::compress_error(CODEC, e))?;
    enc.finish().map_err(|e| super::compress_error(CODEC, e))?;
    Ok(())
}

#[cfg(feature = "zstd-c")]
pub(super) fn decompress_into(input: &[u8], limit: usize, field: &'static str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let mut dec = ::zstd::stream::read::Decoder::with_buffer(input).map_err(|e| super::corrupt(CODEC, e.to_string(), field))?;
    dec.window_log_max(MAX_WINDOW.trailing_zeros()).map_err(|e| super::corrupt(CODEC, e.to_string(), field))?;
    let hint = input.len().saturating_mul(4);
    read_capped_into(dec, limit, hint, CODEC, field, out)
}

/// A limit error from a later frame reports the size and limit of the whole output.
#[cfg(not(feature = "zstd-c"))]
fn shift_limit(mut e: DecodeError, before: usize, limit: usize) -> DecodeError {
    if let crate::error::DecodeErrorKind::LimitExceeded { size, limit: l } = &mut e.kind {
        *size = size.saturating_add(before as u64);
        *l = limit as u64;
    }
    e
}

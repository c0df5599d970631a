//! gzip (codec 1) via flate2's pure-Rust backend.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use flate2::bufread::MultiGzDecoder;

use super::{compress_error, read_capped_into};
use crate::error::DecodeError;

const CODEC: &str = "gzip";

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), crate::error::EncodeError> {
    out.reserve(input.len() / 2 + 64);
    let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::default());
    enc.write_all(input).map_err(|e| compress_error(CODEC, e))?;
    enc.finish().map_err(|e| compress_error(CODEC, e))?;
    Ok(())
}

pub(super) fn decompress_into(input: &[u8], limit: usize, field: &'static str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let hint = size_hint(input).min(limit.saturating_add(1));
    read_capped_into(MultiGzDecoder::new(input), limit, hint, CODEC, field, out)
}

/// The ISIZE trailer (uncompressed size mod 2^32 of the last member): a
/// good first allocation, only a hint. Deflate expands at most about
/// 1032:1, so a larger hint is a lie and is cut to that.
pub(super) fn size_hint(input: &[u8]) -> usize {
    let hint = match input.len().checked_sub(4).and_then(|at| input.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => 0,
    };
    hint.min(input.len().saturating_mul(1032))
}

//! gzip (codec 1) via flate2's pure-Rust backend.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use flate2::bufread::MultiGzDecoder;

use super::{compress_error, read_capped};
use crate::error::DecodeError;

const CODEC: &str = "gzip";

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), crate::error::EncodeError> {
    out.reserve(input.len() / 2 + 64);
    let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::default());
    enc.write_all(input).map_err(|e| compress_error(CODEC, e))?;
    enc.finish().map_err(|e| compress_error(CODEC, e))?;
    Ok(())
}

pub(super) fn decompress(input: &[u8], limit: usize, field: &'static str) -> Result<Vec<u8>, DecodeError> {
    // The ISIZE trailer (uncompressed size mod 2^32 of the last member) is a
    // good first allocation; it is only a hint, capped like everything else.
    let hint = match input.len().checked_sub(4).and_then(|at| input.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => 0,
    };
    // Deflate expands at most ~1032:1; a hint beyond that is a lie.
    let hint = hint.min(input.len().saturating_mul(1032)).min(limit.saturating_add(1));
    read_capped(MultiGzDecoder::new(input), limit, hint, CODEC, field)
}

//! snappy (codec 2): raw snappy blocks, and the xerial framing that the Java
//! client (snappy-java's `SnappyOutputStream`) writes:
//! magic `\x82SNAPPY\x00`, version i32, compatible-version i32, then blocks of
//! `[i32 big-endian length][raw snappy block]`.

use bytes::{BufMut, BytesMut};

use super::output::Output;
use super::{compress_error, corrupt, limit_exceeded};
use crate::error::{DecodeError, EncodeError};

const CODEC: &str = "snappy";

/// Magic that starts a xerial snappy stream.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size, which Kafka's Java client uses.
const XERIAL_BLOCK: usize = 32 * 1024;
/// Snappy's worst-case expansion is a 3-byte copy of 64 bytes (~21x); anything
/// declaring more than this per input byte is corrupt, so it is refused before
/// a buffer is sized for it.
const MAX_RATIO: usize = 24;

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut enc = snap::raw::Encoder::new();
    out.reserve(XERIAL_HEADER_LEN + input.len() + input.len() / 6 + 64);
    out.put_slice(&XERIAL_MAGIC);
    out.put_i32(1); // version
    out.put_i32(1); // minimum compatible version
    for chunk in input.chunks(XERIAL_BLOCK) {
        let max = snap::raw::max_compress_len(chunk.len());
        let len_at = out.len();
        out.put_i32(0);
        let start = out.len();
        out.resize(start + max, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        let n = enc.compress(chunk, dst).map_err(|e| compress_error(CODEC, e))?;
        out.truncate(start + n);
        let n = i32::try_from(n).map_err(|e| compress_error(CODEC, e))?;
        if let Some(slot) = out.get_mut(len_at..start) {
            slot.copy_from_slice(&n.to_be_bytes());
        }
    }
    Ok(())
}

/// Decompresses `input` over `out` (see [`Output`]); returns how many
/// bytes at its start are the output.
pub(super) fn decompress_over(input: &[u8], limit: usize, field: &'static str, out: &mut Vec<u8>) -> Result<usize, DecodeError> {
    let mut output = Output::new(out);
    let mut dec = snap::raw::Decoder::new();
    match input.strip_prefix(&XERIAL_MAGIC[..]) {
        Some(rest) if input.len() >= XERIAL_HEADER_LEN => {
            let mut blocks = rest.get(8..).unwrap_or_default();
            while !blocks.is_empty() {
                let (len, rest) = match blocks.split_first_chunk::<4>() {
                    Some((len, rest)) => (i32::from_be_bytes(*len), rest),
                    None => return Err(corrupt(CODEC, "truncated xerial block length", field)),
                };
                let len = usize::try_from(len).map_err(|_| corrupt(CODEC, format!("negative xerial block length {len}"), field))?;
                let (block, rest) =
                    rest.split_at_checked(len).ok_or_else(|| corrupt(CODEC, "xerial block runs past the end of the data", field))?;
                raw_block(&mut dec, block, &mut output, limit, field)?;
                blocks = rest;
            }
        }
        _ => raw_block(&mut dec, input, &mut output, limit, field)?,
    }
    Ok(output.finish())
}

fn raw_block(
    dec: &mut snap::raw::Decoder,
    block: &[u8],
    out: &mut Output<'_>,
    limit: usize,
    field: &'static str,
) -> Result<(), DecodeError> {
    let n = snap::raw::decompress_len(block).map_err(|e| corrupt(CODEC, e.to_string(), field))?;
    if n > block.len().saturating_mul(MAX_RATIO).saturating_add(16) {
        return Err(corrupt(CODEC, format!("block declares {n} bytes from {} input bytes", block.len()), field));
    }
    let total = out.written().saturating_add(n);
    if total > limit {
        return Err(limit_exceeded(total, limit, field));
    }
    let got = dec.decompress(block, out.room(n)).map_err(|e| corrupt(CODEC, e.to_string(), field))?;
    out.advance(got);
    Ok(())
}

//! lz4 (codec 3): the standard LZ4 frame format, written and read here
//! directly on top of `lz4_flex`'s block codec.
//!
//! Written frames are what Kafka's Java client (`KafkaLZ4BlockOutputStream`)
//! writes: independent 64 KiB blocks, no block or content checksum, no content
//! size, correct header checksum. Incompressible blocks are stored raw (high
//! bit of the block size set), which every LZ4 frame reader accepts.
//!
//! Reading accepts any frame a conforming encoder writes (linked or
//! independent blocks, block checksums, content size, content checksum,
//! concatenated and skippable frames) except dictionary ids. The header
//! checksum byte is not verified: Kafka before 0.10 computed it wrongly for
//! magic 0/1 (KIP-57), and the batch CRC already covers these bytes.
//! Block and content checksums are skipped, not verified, for the same reason.

use bytes::{BufMut, BytesMut};
use lz4_flex::block::DecompressError;

use super::output::Output;
use super::{compress_error, corrupt, limit_exceeded};
use crate::error::{DecodeError, EncodeError};

const CODEC: &str = "lz4";
const MAGIC: u32 = 0x184D_2204;
/// Block size used when writing (64 KiB, as the Java client does).
pub const LZ4_BLOCK_SIZE: usize = 64 * 1024;
/// Frame descriptor for: version 01, independent blocks, no checksums, no
/// content size; BD = 64 KiB max block; HC = (xxh32(FLG BD) >> 8) & 0xff.
const HEADER: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];
const UNCOMPRESSED_BIT: u32 = 0x8000_0000;
/// Longest possible LZ4 expansion: one token byte and 255-valued length bytes
/// each add 255 output bytes, so no block produces more than 255x its size
/// (plus a small constant).
const MAX_RATIO: usize = 255;
/// Window that linked blocks may reference.
const WINDOW: usize = 64 * 1024;

pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    let max_block = lz4_flex::block::get_maximum_output_size(LZ4_BLOCK_SIZE.min(input.len()));
    out.reserve(HEADER.len() + 8 + input.len().min(LZ4_BLOCK_SIZE) + max_block);
    out.put_slice(&HEADER);
    for chunk in input.chunks(LZ4_BLOCK_SIZE) {
        let max = lz4_flex::block::get_maximum_output_size(chunk.len());
        let size_at = out.len();
        let start = size_at + 4;
        out.resize(start + max, 0);
        let dst = out.get_mut(start..).unwrap_or_default();
        let n = lz4_flex::block::compress_into(chunk, dst).map_err(|e| compress_error(CODEC, e))?;
        let size = if n >= chunk.len() {
            // Not worth it: store the block raw.
            out.truncate(size_at);
            out.put_u32_le(chunk.len() as u32 | UNCOMPRESSED_BIT);
            out.put_slice(chunk);
            continue;
        } else {
            out.truncate(start + n);
            n as u32
        };
        if let Some(slot) = out.get_mut(size_at..start) {
            slot.copy_from_slice(&size.to_le_bytes());
        }
    }
    out.put_u32_le(0); // end mark
    Ok(())
}

struct Cursor<'a> {
    data: &'a [u8],
    field: &'static str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        match self.data.split_at_checked(n) {
            Some((head, rest)) => {
                self.data = rest;
                Ok(head)
            }
            None => Err(corrupt(CODEC, format!("truncated frame: {what}"), self.field)),
        }
    }

    fn u32_le(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }

    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        self.take(1, what).map(|b| b.first().copied().unwrap_or(0))
    }
}

/// Decompresses `input` (one or more frames) over `out`, a scratch buffer
/// (see [`Output`]): on success its first `n` bytes (`n` returned) are the
/// decompressed bytes.
pub(super) fn decompress_over(input: &[u8], limit: usize, field: &'static str, out: &mut Vec<u8>) -> Result<usize, DecodeError> {
    if input.is_empty() {
        return Err(corrupt(CODEC, "empty input", field));
    }
    let bound = output_bound(input, limit, field);
    if out.capacity() < bound {
        // Growing later would copy what is written (and fault in fresh
        // pages twice); a scratch buffer's old bytes are not worth copying.
        *out = Vec::with_capacity(bound);
    }
    let mut output = Output::new(out);
    let mut parts = Parts { cur: Cursor { data: input, field }, frame: None };
    let mut frame_start = 0;
    while let Some(part) = parts.next_part()? {
        match part {
            Part::Frame(frame) => {
                if let Some(declared) = frame.content_size {
                    let total = (output.written() as u64).saturating_add(declared);
                    if total > limit as u64 {
                        return Err(limit_exceeded(usize::try_from(total).unwrap_or(usize::MAX), limit, field));
                    }
                }
                frame_start = output.written();
            }
            Part::Block { data, stored: true, .. } => {
                let total = output.written().saturating_add(data.len());
                if total > limit {
                    return Err(limit_exceeded(total, limit, field));
                }
                output.extend(data);
            }
            Part::Block { data, stored: false, frame } => {
                let dict_from = if frame.independent { None } else { Some(frame_start) };
                block_into(data, &mut output, frame.block_max, limit, dict_from, field)?;
            }
        }
    }
    Ok(output.finish())
}

/// The most `input` can decompress to, from its block sizes alone, capped
/// at `limit + 1`: each block gives at most its frame's block maximum (or,
/// smaller, the codec's largest expansion of its size), a stored block its
/// own size. Encoders fill every block but the last to the maximum, so this
/// is close to exact; a frame that does not parse ends the count (the
/// decode reports it).
pub(super) fn output_bound(input: &[u8], limit: usize, field: &'static str) -> usize {
    let hard = limit.saturating_add(1);
    let mut parts = Parts { cur: Cursor { data: input, field }, frame: None };
    let mut total = 0usize;
    while let Ok(Some(part)) = parts.next_part() {
        if let Part::Block { data, stored, frame } = part {
            let most = if stored { data.len() } else { frame.block_max.min(data.len().saturating_mul(MAX_RATIO).saturating_add(16)) };
            total = total.saturating_add(most);
            if total >= hard {
                return hard;
            }
        }
    }
    total
}

/// What a frame descriptor says about the blocks that follow it.
#[derive(Debug, Clone, Copy)]
struct FrameDescriptor {
    independent: bool,
    block_checksum: bool,
    content_checksum: bool,
    block_max: usize,
    content_size: Option<u64>,
}

/// One step through a stream of frames.
enum Part<'a> {
    /// A frame begins.
    Frame(FrameDescriptor),
    /// A block of the frame begun last; `stored`: not compressed.
    Block { data: &'a [u8], stored: bool, frame: FrameDescriptor },
}

/// Walks the frames of an input: descriptors and blocks, skippable frames
/// skipped, checksums stepped over.
struct Parts<'a> {
    cur: Cursor<'a>,
    /// The frame whose blocks are being read.
    frame: Option<FrameDescriptor>,
}

impl<'a> Parts<'a> {
    fn next_part(&mut self) -> Result<Option<Part<'a>>, DecodeError> {
        let field = self.cur.field;
        loop {
            if let Some(frame) = self.frame {
                let raw = self.cur.u32_le("block size")?;
                if raw == 0 {
                    if frame.content_checksum {
                        self.cur.take(4, "content checksum")?;
                    }
                    self.frame = None;
                    continue;
                }
                let size = (raw & !UNCOMPRESSED_BIT) as usize;
                if size > frame.block_max {
                    return Err(corrupt(CODEC, format!("block of {size} bytes exceeds the frame's {}", frame.block_max), field));
                }
                let data = self.cur.take(size, "block data")?;
                if frame.block_checksum {
                    self.cur.take(4, "block checksum")?;
                }
                return Ok(Some(Part::Block { data, stored: raw & UNCOMPRESSED_BIT != 0, frame }));
            }
            if self.cur.data.is_empty() {
                return Ok(None);
            }
            let magic = self.cur.u32_le("magic")?;
            if (0x184D_2A50..=0x184D_2A5F).contains(&magic) {
                let len = self.cur.u32_le("skippable frame size")?;
                self.cur.take(len as usize, "skippable frame")?;
                continue;
            }
            if magic != MAGIC {
                return Err(corrupt(CODEC, format!("bad frame magic {magic:#010x}"), field));
            }
            let frame = self.descriptor()?;
            self.frame = Some(frame);
            return Ok(Some(Part::Frame(frame)));
        }
    }

    fn descriptor(&mut self) -> Result<FrameDescriptor, DecodeError> {
        let field = self.cur.field;
        let flg = self.cur.u8("FLG")?;
        let bd = self.cur.u8("BD")?;
        if flg >> 6 != 0b01 {
            return Err(corrupt(CODEC, format!("unsupported frame version in FLG {flg:#04x}"), field));
        }
        if flg & 0x01 != 0 {
            return Err(corrupt(CODEC, "dictionary ids are not supported", field));
        }
        let block_max = match (bd >> 4) & 0x07 {
            4 => 64 * 1024,
            5 => 256 * 1024,
            6 => 1024 * 1024,
            7 => 4 * 1024 * 1024,
            id => return Err(corrupt(CODEC, format!("invalid block maximum size id {id}"), field)),
        };
        let content_size = if flg & 0x08 != 0 {
            let b = self.cur.take(8, "content size")?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Some(u64::from_le_bytes(a))
        } else {
            None
        };
        self.cur.take(1, "header checksum")?;
        Ok(FrameDescriptor {
            independent: flg & 0x20 != 0,
            block_checksum: flg & 0x10 != 0,
            content_checksum: flg & 0x04 != 0,
            block_max,
            content_size,
        })
    }
}

/// Decompresses one block after what `out` holds.
fn block_into(
    block: &[u8],
    out: &mut Output<'_>,
    block_max: usize,
    limit: usize,
    dict_from: Option<usize>,
    field: &'static str,
) -> Result<(), DecodeError> {
    let start = out.written();
    let left = limit.saturating_sub(start);
    // Never more than the block maximum, what the input can expand to, or
    // one byte past the cap (to tell "at the cap" from "over it").
    let bound = block_max.min(block.len().saturating_mul(MAX_RATIO).saturating_add(16));
    let capped_by_limit = left < bound;
    let bound = bound.min(left.saturating_add(1));
    // First try a typical ratio, so small blocks don't zero a whole 64 KiB.
    let guess = bound.min(block.len().saturating_mul(8).max(1024));
    let mut room = guess;
    loop {
        let res = match dict_from {
            None => lz4_flex::block::decompress_into(block, out.room(room)),
            Some(from) => {
                let (prev, dst) = out.written_since_and_room(from, room);
                let dict = prev.get(prev.len().saturating_sub(WINDOW)..).unwrap_or_default();
                lz4_flex::block::decompress_into_with_dict(block, dst, dict)
            }
        };
        match res {
            Ok(n) => {
                out.advance(n);
                if n > left {
                    return Err(limit_exceeded(start + n, limit, field));
                }
                return Ok(());
            }
            Err(DecompressError::OutputTooSmall { .. }) if room < bound => {
                room = bound;
            }
            Err(DecompressError::OutputTooSmall { .. }) if capped_by_limit => {
                return Err(limit_exceeded(start.saturating_add(room), limit, field));
            }
            Err(e) => {
                return Err(corrupt(CODEC, e.to_string(), field));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn our_frames_read_with_lz4_flex_and_back() {
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut out = BytesMut::new();
        compress(&data, &mut out).unwrap();
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);

        // lz4_flex's own frames (linked blocks, content checksum) read here.
        let mut info = lz4_flex::frame::FrameInfo::new();
        info.block_mode = lz4_flex::frame::BlockMode::Linked;
        info.content_checksum = true;
        info.block_checksums = true;
        info.content_size = Some(data.len() as u64);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&data).unwrap();
        let framed = enc.finish().unwrap();
        let decompress = |limit| {
            let mut out = Vec::new();
            decompress_over(&framed, limit, "f", &mut out).map(|n| out[..n].to_vec())
        };
        assert_eq!(decompress(data.len()).unwrap(), data);
        assert!(decompress(data.len() - 1).is_err());
        // Over a reused buffer, shorter and longer than the output: the same
        // bytes, and the bound from the block sizes covers them.
        for junk in [10_000, 3_000_000] {
            for input in [&framed[..], &out[..]] {
                let mut buf = vec![0x5a; junk];
                let n = decompress_over(input, data.len(), "f", &mut buf).unwrap();
                assert_eq!(&buf[..n], &data[..]);
                if junk > n {
                    assert_eq!(buf.len(), junk, "what the buffer held stays counted as initialized");
                }
                let bound = output_bound(input, usize::MAX, "f");
                assert!((data.len()..=data.len() + 256 * 1024).contains(&bound), "{bound}: at most one block maximum over");
            }
        }
    }

    #[test]
    fn header_checksum_constant_is_right() {
        // lz4_flex writes the same descriptor for the default frame info.
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        enc.write_all(b"x").unwrap();
        let framed = enc.finish().unwrap();
        assert_eq!(&framed[..7], &HEADER[..]);
    }
}

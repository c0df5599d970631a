//! [`LargeFrame`]: a response frame too large for the connection's shared
//! read buffer (fetch responses, mostly), read into an anonymous memory map of
//! its own and handed out as `Bytes` that unmap it when their last slice drops.
//!
//! Why not the heap: glibc serves large allocations with mmap only until the
//! first such block is freed; then its threshold rises to that block's size
//! (up to 32 MiB) and later frames land in the heap, where freed pages stay
//! resident while anything above them is live. A consumer cycling its
//! budget's worth of frames then kept far more than that resident
//! (rill-e2e's consumer_memory: peaks of 86-106 MiB for a 64 MiB budget,
//! 82-84 MiB with `MALLOC_MMAP_THRESHOLD_` pinned). A map per frame returns
//! its pages to the kernel the moment the application drops the last record
//! of it, whatever allocator the embedding program uses. The cost, a map and
//! an unmap per frame of more than a mebibyte, is noise next to reading it.

use bytes::Bytes;
use memmap2::MmapMut;
use rill_protocol::frame::SIZE_PREFIX_LEN;

/// A frame of known size being read into a map of exactly that size.
#[derive(Debug)]
pub(crate) struct LargeFrame {
    map: MmapMut,
    filled: usize,
}

impl LargeFrame {
    /// Memory for a frame of `total` bytes (size prefix included) that starts
    /// with `head`, the bytes of it already read. `None` when the system
    /// refuses the mapping; the caller then reads the frame into the heap.
    pub fn new(total: usize, head: &[u8]) -> Option<Self> {
        if total < SIZE_PREFIX_LEN || head.len() > total {
            return None;
        }
        let mut map = MmapMut::map_anon(total).ok()?;
        map.get_mut(..head.len())?.copy_from_slice(head);
        Some(LargeFrame { map, filled: head.len() })
    }

    /// The part still to be read.
    pub fn unfilled(&mut self) -> &mut [u8] {
        self.map.get_mut(self.filled..).unwrap_or_default()
    }

    /// `n` more bytes were read into [`unfilled`](Self::unfilled).
    pub fn advance(&mut self, n: usize) {
        self.filled = self.filled.saturating_add(n).min(self.map.len());
    }

    pub fn is_complete(&self) -> bool {
        self.filled == self.map.len()
    }

    /// Bytes read so far and the frame's whole size, for a truncation error.
    pub fn progress(&self) -> (usize, usize) {
        (self.filled, self.map.len())
    }

    /// The frame's body (what follows the size prefix); zero-copy slices of
    /// it keep the map alive, and the last one dropped unmaps it.
    pub fn into_body(self) -> Bytes {
        Bytes::from_owner(self.map).slice(SIZE_PREFIX_LEN..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_read_in_pieces_comes_out_whole_without_its_prefix() {
        let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let mut wire = (body.len() as i32).to_be_bytes().to_vec();
        wire.extend_from_slice(&body);
        let mut frame = LargeFrame::new(wire.len(), &wire[..10]).unwrap();
        let mut at = 10;
        while !frame.is_complete() {
            let dst = frame.unfilled();
            let n = dst.len().min(100_000);
            dst[..n].copy_from_slice(&wire[at..at + n]);
            frame.advance(n);
            at += n;
        }
        assert_eq!(frame.progress(), (wire.len(), wire.len()));
        let got = frame.into_body();
        assert_eq!(got.len(), body.len());
        assert!(got == body[..], "the body differs");
        // Slices outlive the handle they came from.
        let tail = got.slice(got.len() - 5..);
        drop(got);
        assert_eq!(&tail[..], &body[body.len() - 5..]);
    }

    #[test]
    fn impossible_sizes_are_refused() {
        assert!(LargeFrame::new(2, &[]).is_none());
        assert!(LargeFrame::new(8, &[0; 9]).is_none());
    }
}

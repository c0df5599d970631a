//! A frame held as pieces: bytes encoded for it, and buffers it refers to
//! without copying them (a producer's record batches).
//!
//! Written to a socket with vectored writes, the pieces travel as they are;
//! [`FrameParts`] is a [`Buf`] over them, with [`Buf::chunks_vectored`]
//! filling as many slices as the writer gives it. A frame of one piece is
//! an ordinary contiguous frame.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::records::BatchPieces;

/// Pieces shorter than this are copied into the frame rather than referred
/// to: an I/O vector entry per 100-byte piece costs the kernel more than the
/// copy saves.
pub const SPLICE_MIN_BYTES: usize = 512;

/// One piece of a frame, from where writing got to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Bytes(Bytes),
    /// A batch, from its piece `index`, `offset` bytes in.
    Batch {
        batch: Arc<BatchPieces>,
        index: usize,
        offset: usize,
    },
}

impl Piece {
    /// The bytes of the current (sub-)piece not written yet.
    fn current(&self) -> &[u8] {
        match self {
            Piece::Bytes(b) => b,
            Piece::Batch { batch, index, offset } => batch.piece(*index).get(*offset..).unwrap_or_default(),
        }
    }
}

/// A whole frame (size prefix included) as the concatenation of its pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameParts {
    pieces: VecDeque<Piece>,
    remaining: usize,
}

impl FrameParts {
    /// The frame's length left to write (all of it until [`Buf::advance`]).
    pub fn len(&self) -> usize {
        self.remaining
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// The slices left to write, in order.
    pub fn slices(&self) -> impl Iterator<Item = &[u8]> {
        self.pieces.iter().flat_map(|piece| {
            let (first, rest): (&[u8], Option<(&Arc<BatchPieces>, usize)>) = match piece {
                Piece::Bytes(b) => (b, None),
                Piece::Batch { batch, index, .. } => (piece.current(), Some((batch, index + 1))),
            };
            std::iter::once(first)
                .chain(rest.into_iter().flat_map(|(batch, from)| (from..batch.piece_count()).map(move |i| batch.piece(i))))
                .filter(|s| !s.is_empty())
        })
    }

    /// The frame in one buffer (copied unless it is one piece).
    pub fn to_contiguous(&self) -> Bytes {
        if let (1, Some(Piece::Bytes(b))) = (self.pieces.len(), self.pieces.front()) {
            return b.clone();
        }
        let mut all = BytesMut::with_capacity(self.remaining);
        for slice in self.slices() {
            all.put_slice(slice);
        }
        all.freeze()
    }

    fn push(&mut self, piece: Piece) {
        let len = match &piece {
            Piece::Bytes(b) => b.len(),
            Piece::Batch { batch, .. } => batch.len(),
        };
        if len > 0 {
            self.remaining += len;
            self.pieces.push_back(piece);
            if self.pieces.len() == 1 {
                self.settle();
            }
        }
    }

    /// Moves past empty (sub-)pieces at the front, so `chunk` is empty only at the end.
    fn settle(&mut self) {
        while let Some(front) = self.pieces.front_mut() {
            match front {
                Piece::Bytes(b) if b.is_empty() => {}
                Piece::Bytes(_) => return,
                Piece::Batch { batch, index, offset } => {
                    while *index < batch.piece_count() && batch.piece(*index).len() <= *offset {
                        *index += 1;
                        *offset = 0;
                    }
                    if *index < batch.piece_count() {
                        return;
                    }
                }
            }
            self.pieces.pop_front();
        }
    }
}

impl From<Bytes> for FrameParts {
    fn from(frame: Bytes) -> Self {
        let mut parts = FrameParts::default();
        parts.push(Piece::Bytes(frame));
        parts
    }
}

impl From<BytesMut> for FrameParts {
    fn from(frame: BytesMut) -> Self {
        FrameParts::from(frame.freeze())
    }
}

impl Buf for FrameParts {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.pieces.front().map_or(&[], Piece::current)
    }

    fn advance(&mut self, mut cnt: usize) {
        // Past the end is clamped, not a panic: a writer can only report
        // what it was given.
        cnt = cnt.min(self.remaining);
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.pieces.front_mut() else { break };
            let left = front.current().len();
            if left == 0 {
                // `settle` leaves no empty piece in front; never loop on one.
                break;
            }
            let step = cnt.min(left);
            match front {
                Piece::Bytes(b) => b.advance(step),
                Piece::Batch { offset, .. } => *offset += step,
            }
            cnt -= step;
            self.settle();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, slice) in dst.iter_mut().zip(self.slices()) {
            *slot = IoSlice::new(slice);
            n += 1;
        }
        n
    }
}

/// Builds a [`FrameParts`]: bytes written through [`head`](Self::head) are
/// gathered into pieces of their own; batches given to
/// [`splice_batch`](Self::splice_batch) are referred to (copied when
/// shorter than [`SPLICE_MIN_BYTES`]).
#[derive(Debug, Default)]
pub struct PartsWriter {
    head: BytesMut,
    frame: FrameParts,
}

impl PartsWriter {
    /// `capacity`: the bytes expected through [`head`](Self::head).
    pub fn with_capacity(capacity: usize) -> Self {
        PartsWriter { head: BytesMut::with_capacity(capacity), frame: FrameParts::default() }
    }

    /// Where encoded bytes go.
    pub fn head(&mut self) -> &mut BytesMut {
        &mut self.head
    }

    /// Appends a batch's pieces by reference (or by copy when short).
    pub fn splice_batch(&mut self, batch: &Arc<BatchPieces>) {
        if batch.len() < SPLICE_MIN_BYTES {
            for piece in batch.pieces() {
                self.head.put_slice(piece);
            }
            return;
        }
        self.flush_head();
        self.frame.push(Piece::Batch { batch: batch.clone(), index: 0, offset: 0 });
    }

    fn flush_head(&mut self) {
        if !self.head.is_empty() {
            let written = self.head.split().freeze();
            self.frame.push(Piece::Bytes(written));
        }
    }

    pub fn finish(mut self) -> FrameParts {
        self.flush_head();
        self.frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(pieces: &[&[u8]]) -> FrameParts {
        let mut w = PartsWriter::with_capacity(16);
        for (i, p) in pieces.iter().enumerate() {
            if i % 2 == 0 {
                w.head().put_slice(p);
            } else {
                w.splice_batch(&Arc::new(BatchPieces::from(Bytes::copy_from_slice(p))));
            }
        }
        w.finish()
    }

    #[test]
    fn short_batches_are_copied_and_long_ones_referred_to() {
        let long = Bytes::from(vec![7u8; SPLICE_MIN_BYTES]);
        let mut w = PartsWriter::with_capacity(16);
        w.head().put_slice(b"ab");
        w.splice_batch(&Arc::new(BatchPieces::from(Bytes::from_static(b"short"))));
        w.splice_batch(&Arc::new(BatchPieces::from(long.clone())));
        w.head().put_slice(b"cd");
        let frame = w.finish();
        let parts: Vec<&[u8]> = frame.slices().collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], b"abshort");
        assert_eq!(parts[1].as_ptr(), long.as_ptr(), "the long buffer is the same memory, not a copy");
        assert_eq!(parts[2], b"cd");
        assert_eq!(frame.len(), 9 + SPLICE_MIN_BYTES);
    }

    #[test]
    fn advancing_across_pieces_and_past_the_end() {
        let long = vec![1u8; 600];
        let mut frame = frame_of(&[b"head", &long, b"tail"]);
        let all = frame.to_contiguous();
        assert_eq!(all.len(), 608);
        frame.advance(2);
        assert_eq!(frame.chunk(), b"ad");
        frame.advance(3);
        assert_eq!(frame.chunk().len(), 599);
        assert_eq!(frame.remaining(), 603);
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(frame.chunks_vectored(&mut slices), 2);
        assert_eq!(slices[1].len(), 4);
        frame.advance(1000);
        assert_eq!(frame.remaining(), 0);
        assert!(frame.chunk().is_empty());
    }

    #[test]
    fn a_batch_is_written_from_its_pieces_and_advanced_through_them() {
        use crate::records::{RecordBatchBuilder, SHARE_MIN_BYTES};
        let long = Bytes::from(vec![5u8; SHARE_MIN_BYTES + 100]);
        let mut b = RecordBatchBuilder::new(0);
        b.append_shared(1, None, Some(long.clone()), &[]).unwrap();
        b.append_shared(2, None, Some(long.clone()), &[]).unwrap();
        let batch = Arc::new(b.finish_parts().unwrap());
        let mut w = PartsWriter::with_capacity(8);
        w.head().put_slice(b"size");
        w.splice_batch(&batch);
        w.head().put_slice(b"tags");
        let mut frame = w.finish();
        // "size", the batch's five pieces, "tags".
        assert_eq!(frame.slices().count(), 7);
        assert!(frame.slices().any(|s| s.as_ptr() == long.as_ptr()));
        let whole = frame.to_contiguous();
        assert_eq!(whole.len(), 8 + batch.len());
        assert_eq!(&whole[4..4 + batch.len()], &batch.to_contiguous()[..]);
        // Writes of odd sizes give back every byte in order.
        let mut out = Vec::new();
        while frame.has_remaining() {
            let step = 97.min(frame.chunk().len());
            out.extend_from_slice(&frame.chunk()[..step]);
            frame.advance(step);
        }
        assert_eq!(out, whole.to_vec());
    }

    #[test]
    fn vectored_chunks_stop_at_the_slots_given() {
        let long = vec![2u8; 600];
        let frame = frame_of(&[b"a", &long, b"b", &long, b"c"]);
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(frame.chunks_vectored(&mut slices), 2);
        assert_eq!(frame.slices().count(), 5);
    }
}

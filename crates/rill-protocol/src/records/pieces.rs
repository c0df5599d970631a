//! A record batch in pieces: the bytes a [`RecordBatchBuilder`] wrote, with
//! the record values it kept by reference between them.
//!
//! One buffer and a list of (offset, value) instead of a `Bytes` per piece:
//! a slice of a shared buffer costs an atomic reference count update when
//! made and another when dropped, and a batch of 1 KiB records has two
//! pieces per record.
//!
//! [`RecordBatchBuilder`]: super::RecordBatchBuilder

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{ATTRIBUTES_OFFSET, CRC_OFFSET};
use crate::checksum::Crc32c;

/// Offsets in a magic-2 batch header of the fields an idempotent producer
/// rewrites on a KIP-360 epoch bump (KIP-98 layout).
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const HEADER_END: usize = 61;

/// A record batch (or, before `batch_at`, whatever the builder's buffer held
/// before it): `written` with each value inserted at its offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchPieces {
    written: Bytes,
    /// Offsets into `written`, ascending: each value goes before the bytes
    /// from its offset on.
    values: Vec<(usize, Bytes)>,
    batch_at: usize,
    len: usize,
}

impl BatchPieces {
    pub(crate) fn new(written: Bytes, values: Vec<(usize, Bytes)>, batch_at: usize) -> Self {
        let len = written.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>();
        BatchPieces { written, values, batch_at, len }
    }

    /// Bytes in all.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pieces [`piece`](Self::piece) numbers: the written bytes
    /// around each value, and the values.
    pub fn piece_count(&self) -> usize {
        2 * self.values.len() + 1
    }

    /// Piece `i` (empty past the last).
    pub fn piece(&self, i: usize) -> &[u8] {
        let k = i / 2;
        if i % 2 == 1 {
            return self.values.get(k).map_or(&[], |(_, v)| v.as_ref());
        }
        let from = if k == 0 { 0 } else { self.values.get(k - 1).map_or(usize::MAX, |(at, _)| *at) };
        let to = self.values.get(k).map_or(self.written.len(), |(at, _)| *at);
        self.written.get(from..to).unwrap_or_default()
    }

    /// The pieces in order.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.piece_count()).map(|i| self.piece(i))
    }

    /// The whole in one buffer (copied unless there are no values by reference).
    pub fn to_contiguous(&self) -> Bytes {
        if self.values.is_empty() {
            return self.written.clone();
        }
        let mut all = BytesMut::with_capacity(self.len);
        for piece in self.pieces() {
            all.put_slice(piece);
        }
        all.freeze()
    }

    /// The same batch with another producer id, epoch and base sequence, and
    /// its CRC-32C over all pieces again (after a KIP-360 epoch bump the
    /// unacknowledged batches are sent again under the new epoch). The
    /// values stay where they are; the written bytes are copied. `None`
    /// if the pieces hold no whole batch header.
    pub fn with_producer(&self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Option<BatchPieces> {
        let at = self.batch_at;
        if self.piece(0).len() < at + HEADER_END {
            return None;
        }
        let mut written = BytesMut::from(&self.written[..]);
        let mut put = |offset: usize, bytes: &[u8]| {
            if let Some(slot) = written.get_mut(at + offset..at + offset + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
        };
        put(PRODUCER_ID_OFFSET, &producer_id.to_be_bytes());
        put(PRODUCER_EPOCH_OFFSET, &producer_epoch.to_be_bytes());
        put(BASE_SEQUENCE_OFFSET, &base_sequence.to_be_bytes());
        let mut pieces = BatchPieces { written: written.freeze(), values: self.values.clone(), batch_at: at, len: self.len };
        let crc = pieces.crc_from(at + ATTRIBUTES_OFFSET);
        pieces.set_crc(at + CRC_OFFSET, crc);
        Some(pieces)
    }

    /// Writes `crc` at `at` of the written bytes (which it copies unless
    /// they are not shared yet, as right after the builder).
    pub(crate) fn set_crc(&mut self, at: usize, crc: u32) {
        let mut written = std::mem::take(&mut self.written).try_into_mut().unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        if let Some(slot) = written.get_mut(at..at + 4) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        self.written = written.freeze();
    }

    /// CRC-32C of the whole from byte `from` of the first piece on.
    pub(crate) fn crc_from(&self, from: usize) -> u32 {
        let mut crc = Crc32c::new();
        for (i, piece) in self.pieces().enumerate() {
            crc.update(if i == 0 { piece.get(from..).unwrap_or_default() } else { piece });
        }
        crc.finish()
    }
}

impl From<Bytes> for BatchPieces {
    fn from(batch: Bytes) -> Self {
        BatchPieces::new(batch, Vec::new(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{DecodeOptions, RecordBatch, RecordBatchBuilder, SHARE_MIN_BYTES};

    fn batch_with(values: &[Bytes]) -> BatchPieces {
        let mut b = RecordBatchBuilder::new(0).producer(4, 0, 0);
        for (i, v) in values.iter().enumerate() {
            b.append_shared(i as i64, Some(b"k"), Some(v.clone()), &[]).unwrap();
        }
        b.finish_parts().unwrap()
    }

    #[test]
    fn pieces_alternate_written_bytes_and_values() {
        let long = Bytes::from(vec![9u8; SHARE_MIN_BYTES]);
        let pieces = batch_with(&[long.clone(), Bytes::from_static(b"short"), long.clone()]);
        assert_eq!(pieces.piece_count(), 5);
        assert_eq!(pieces.piece(1).as_ptr(), long.as_ptr());
        assert_eq!(pieces.piece(3).as_ptr(), long.as_ptr());
        assert!(pieces.piece(5).is_empty());
        assert_eq!(pieces.pieces().map(<[u8]>::len).sum::<usize>(), pieces.len());
        let batch = RecordBatch::decode(&pieces.to_contiguous(), &DecodeOptions::default()).unwrap();
        assert_eq!(batch.records.len(), 3);
    }

    #[test]
    fn a_new_producer_epoch_keeps_the_values_and_a_valid_crc() {
        let long = Bytes::from(vec![3u8; 2 * SHARE_MIN_BYTES]);
        let pieces = batch_with(&[long.clone(), long.clone()]);
        let bumped = pieces.with_producer(4, 1, 7).unwrap();
        // Decoding checks the CRC.
        let batch = RecordBatch::decode(&bumped.to_contiguous(), &DecodeOptions::default()).unwrap();
        assert_eq!((batch.producer_id, batch.producer_epoch, batch.base_sequence), (4, 1, 7));
        assert_eq!(bumped.piece(1).as_ptr(), long.as_ptr());
        assert!(BatchPieces::from(Bytes::from_static(b"short")).with_producer(1, 1, 1).is_none());
    }
}

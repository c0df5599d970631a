//! Where the complete batches of a `records` field end, read from their
//! fixed headers alone: no CRC check, no decompression, no record parsed.
//!
//! A consumer uses it to send its next fetch (from the offset after these
//! batches) before it decodes the answer in hand, so the broker works on the
//! next answer while the client decompresses this one. Decoding still
//! checks everything; when it stops early (a bad CRC, a corrupt record), the
//! next fetch's answer is dropped as fetched from the wrong place.

use super::batch::{LOG_OVERHEAD, MAGIC_OFFSET, MIN_BATCH_LENGTH};

/// Offset of `partitionLeaderEpoch` in a magic-2 batch.
const PARTITION_LEADER_EPOCH_OFFSET: usize = LOG_OVERHEAD;
/// Offset of `lastOffsetDelta` in a magic-2 batch (after magic, crc and attributes).
const LAST_OFFSET_DELTA_OFFSET: usize = 23;

/// The end of a run of complete magic-2 batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchesEnd {
    /// The offset after the last batch: its `baseOffset + lastOffsetDelta + 1`.
    pub next_offset: i64,
    /// The last batch's `partitionLeaderEpoch`.
    pub partition_leader_epoch: i32,
}

/// The end of the complete batches `buf` starts with, if all of them are
/// magic 2 and framed soundly: `Ok(None)` when `buf` holds no complete
/// batch (empty, or only a partial one: the broker cuts at `max_bytes`),
/// `Err(())` at anything else (a legacy magic 0/1 entry, a length too short
/// for a magic-2 header), which only a full decode can make sense of.
#[allow(clippy::result_unit_err)]
pub fn complete_batches_end(buf: &[u8]) -> Result<Option<BatchesEnd>, ()> {
    let mut rest = buf;
    let mut end = None;
    loop {
        let Some((head, _)) = rest.split_first_chunk::<LOG_OVERHEAD>() else { return Ok(end) };
        let [o0, o1, o2, o3, o4, o5, o6, o7, l0, l1, l2, l3] = *head;
        let length = i32::from_be_bytes([l0, l1, l2, l3]);
        let Ok(length) = usize::try_from(length) else { return Err(()) };
        if length < MIN_BATCH_LENGTH {
            return Err(());
        }
        let Some(total) = LOG_OVERHEAD.checked_add(length) else { return Err(()) };
        let Some((batch, after)) = rest.split_at_checked(total) else {
            // A partial trailing batch: where the broker stopped.
            return Ok(end);
        };
        if batch.get(MAGIC_OFFSET) != Some(&2) {
            return Err(());
        }
        let (Some(epoch), Some(delta)) = (be_i32(batch, PARTITION_LEADER_EPOCH_OFFSET), be_i32(batch, LAST_OFFSET_DELTA_OFFSET)) else {
            return Err(());
        };
        let base_offset = i64::from_be_bytes([o0, o1, o2, o3, o4, o5, o6, o7]);
        end = Some(BatchesEnd { next_offset: base_offset.wrapping_add(i64::from(delta)).wrapping_add(1), partition_leader_epoch: epoch });
        rest = after;
    }
}

fn be_i32(buf: &[u8], at: usize) -> Option<i32> {
    let bytes = buf.get(at..)?.first_chunk::<4>()?;
    Some(i32::from_be_bytes(*bytes))
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use proptest::prelude::*;

    use super::*;
    use crate::compression::Compression;
    use crate::records::legacy::{encode_message_set, LegacyMessage};
    use crate::records::{DecodeOptions, RecordBatchBuilder, RecordBatches, TimestampType};

    fn batch(base_offset: i64, records: usize, epoch: i32, compression: Compression) -> Bytes {
        let mut b = RecordBatchBuilder::new(base_offset).compression(compression).partition_leader_epoch(epoch);
        for i in 0..records {
            b.append(1_000 + i as i64, None, Some(format!("value-{i}").as_bytes()), &[]).unwrap();
        }
        b.finish().unwrap().freeze()
    }

    #[test]
    fn the_end_of_the_last_complete_batch() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&batch(100, 3, 4, Compression::None));
        buf.extend_from_slice(&batch(103, 5, 5, Compression::Lz4));
        let whole = buf.clone().freeze();
        assert_eq!(complete_batches_end(&whole), Ok(Some(BatchesEnd { next_offset: 108, partition_leader_epoch: 5 })));
        // A partial third batch is where the broker stopped: not counted.
        let third = batch(108, 2, 6, Compression::None);
        buf.extend_from_slice(third.get(..third.len() - 1).unwrap());
        assert_eq!(complete_batches_end(&buf), Ok(Some(BatchesEnd { next_offset: 108, partition_leader_epoch: 5 })));
        assert_eq!(complete_batches_end(third.get(..20).unwrap()), Ok(None));
        assert_eq!(complete_batches_end(&[]), Ok(None));
    }

    #[test]
    fn legacy_entries_and_short_lengths_need_a_full_decode() {
        let mut legacy = BytesMut::new();
        let message = LegacyMessage { timestamp: 0, key: Some(Bytes::from_static(b"k")), value: Some(Bytes::from_static(b"v")) };
        encode_message_set(&mut legacy, 1, Compression::None, TimestampType::CreateTime, 7, &[message]).unwrap();
        assert_eq!(complete_batches_end(&legacy), Err(()));
        let mut short = batch(0, 1, 0, Compression::None).to_vec();
        short.splice(8..12, 20i32.to_be_bytes());
        assert_eq!(complete_batches_end(&short), Err(()));
        let mut negative = batch(0, 1, 0, Compression::None).to_vec();
        negative.splice(8..12, (-1i32).to_be_bytes());
        assert_eq!(complete_batches_end(&negative), Err(()));
    }

    proptest! {
        /// On any bytes it never panics, and whatever it reports agrees with
        /// a full decode of sound batches.
        #[test]
        fn agrees_with_a_full_decode(sizes in proptest::collection::vec(1usize..20, 0..6), cut in 0usize..4000, lz4 in any::<bool>()) {
            let compression = if lz4 { Compression::Lz4 } else { Compression::None };
            let mut buf = BytesMut::new();
            let mut offset = 50i64;
            for (i, n) in sizes.iter().enumerate() {
                buf.extend_from_slice(&batch(offset, *n, i as i32, compression));
                offset += *n as i64;
            }
            let buf = buf.freeze();
            let cut = buf.slice(..cut.min(buf.len()));
            let decoded: Vec<_> = RecordBatches::new(&cut, &DecodeOptions::default()).collect::<Result<_, _>>().unwrap();
            let expected = decoded.last().map(|b| BatchesEnd { next_offset: b.next_offset(), partition_leader_epoch: b.partition_leader_epoch });
            prop_assert_eq!(complete_batches_end(&cut), Ok(expected));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = complete_batches_end(&bytes);
        }
    }
}

//! Batches as the broker stores them, and the checks on batches a peer sends.
//!
//! The broker keeps each magic-2 batch as the exact bytes it received, with
//! two header fields stamped: `baseOffset` (the leader assigns offsets) and
//! `partitionLeaderEpoch` (KIP-101: the epoch of the leader that appended
//! it). Both lie before the CRC's coverage (which starts at `attributes`), so
//! stamping them keeps the producer's CRC valid, as in Kafka.

use bytes::{Bytes, BytesMut};
use rill_protocol::records::{BatchView, DecodeOptions, LOG_OVERHEAD, MAGIC_OFFSET};
use rill_protocol::ErrorCode;

/// Where `partitionLeaderEpoch` sits in a batch.
const PARTITION_LEADER_EPOCH_OFFSET: usize = LOG_OVERHEAD;

/// One stored batch: its bytes plus the header fields the broker indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub leader_epoch: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
    pub transactional: bool,
    pub control: bool,
    pub max_timestamp: i64,
    pub bytes: Bytes,
}

impl StoredBatch {
    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset.saturating_add(1)
    }

    /// The last sequence number this batch carries (sequences wrap at `i32::MAX`, KIP-98).
    pub fn last_sequence(&self) -> i32 {
        let delta = (self.last_offset - self.base_offset).clamp(0, i64::from(i32::MAX));
        let delta = i32::try_from(delta).unwrap_or(i32::MAX);
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(delta);
        let wrapped = if last > i64::from(i32::MAX) { last - i64::from(i32::MAX) - 1 } else { last };
        i32::try_from(wrapped).unwrap_or(i32::MAX)
    }
}

/// A batch from a peer that the broker refuses, with the code to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRejected {
    pub code: ErrorCode,
    pub message: String,
}

/// Splits a `records` field into checked magic-2 batches, in order.
///
/// Every batch must be whole, magic 2 and pass its CRC: a produce request
/// with a torn, legacy or corrupt batch is refused as a whole
/// (CORRUPT_MESSAGE / UNSUPPORTED_FOR_MESSAGE_FORMAT), as Kafka's
/// `LogValidator` does. Records themselves are parsed (not only the header)
/// so a batch whose record count lies is refused here, not by a consumer.
pub fn split_batches(records: &Bytes) -> Result<Vec<StoredBatch>, BatchRejected> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let total = records.len();
    let opts = DecodeOptions::default();
    while pos < total {
        let rest = records.slice(pos..);
        let Some(&[a, b, c, d]) = rest.get(8..12) else {
            return Err(corrupt(format!("torn batch header at byte {pos}")));
        };
        let batch_length = i32::from_be_bytes([a, b, c, d]);
        let Ok(batch_length) = usize::try_from(batch_length) else {
            return Err(corrupt(format!("negative batch length {batch_length} at byte {pos}")));
        };
        let size = LOG_OVERHEAD.saturating_add(batch_length);
        if size > rest.len() {
            return Err(corrupt(format!("batch at byte {pos} claims {size} bytes, {} left", rest.len())));
        }
        let bytes = rest.slice(..size);
        match bytes.get(MAGIC_OFFSET) {
            Some(2) => {}
            Some(m) => {
                return Err(BatchRejected {
                    code: ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
                    message: format!("magic {m} batch at byte {pos}: this broker stores magic 2 only"),
                })
            }
            None => return Err(corrupt(format!("batch at byte {pos} has no magic byte"))),
        }
        let view = BatchView::decode(&bytes, &opts).map_err(|e| corrupt(format!("batch at byte {pos}: {e}")))?;
        for record in view.records() {
            record.map_err(|e| corrupt(format!("batch at byte {pos}: {e}")))?;
        }
        let h = view.header;
        if h.last_offset_delta < 0 {
            return Err(corrupt(format!("batch at byte {pos} has last offset delta {}", h.last_offset_delta)));
        }
        // Kafka's LogValidator: a batch takes as many offsets as it holds
        // records (else one record could take 2^31 offsets of the log).
        if i64::from(h.last_offset_delta) + 1 != i64::from(h.record_count) {
            return Err(BatchRejected {
                code: ErrorCode::INVALID_RECORD,
                message: format!(
                    "batch at byte {pos}: offsets 0-{} (last offset delta) for {} records",
                    h.last_offset_delta, h.record_count
                ),
            });
        }
        out.push(StoredBatch {
            base_offset: h.base_offset,
            last_offset: h.base_offset.saturating_add(i64::from(h.last_offset_delta)),
            leader_epoch: h.partition_leader_epoch,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            record_count: h.record_count,
            transactional: h.attributes.is_transactional(),
            control: h.attributes.is_control(),
            max_timestamp: h.max_timestamp,
            bytes,
        });
        pos = pos.saturating_add(size);
    }
    Ok(out)
}

fn corrupt(message: String) -> BatchRejected {
    BatchRejected { code: ErrorCode::CORRUPT_MESSAGE, message }
}

/// Returns `batch` moved to `base_offset` and stamped with `leader_epoch`
/// (fields outside the CRC's coverage).
pub fn restamp(batch: &StoredBatch, base_offset: i64, leader_epoch: i32) -> StoredBatch {
    let mut bytes = BytesMut::from(batch.bytes.as_ref());
    if let Some(slot) = bytes.get_mut(..8) {
        slot.copy_from_slice(&base_offset.to_be_bytes());
    }
    if let Some(slot) = bytes.get_mut(PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4) {
        slot.copy_from_slice(&leader_epoch.to_be_bytes());
    }
    StoredBatch {
        base_offset,
        last_offset: base_offset.saturating_add(batch.last_offset - batch.base_offset),
        leader_epoch,
        bytes: bytes.freeze(),
        ..batch.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::records::RecordBatchBuilder;

    fn batch(n: usize) -> Bytes {
        let mut b = RecordBatchBuilder::new(0).producer(7, 0, 5);
        for i in 0..n {
            b.append(1000 + i as i64, None, Some(format!("v{i}").as_bytes()), &[]).unwrap();
        }
        b.finish().unwrap().freeze()
    }

    #[test]
    fn splits_and_restamps_keeping_the_crc() {
        let mut two = BytesMut::new();
        two.extend_from_slice(&batch(3));
        two.extend_from_slice(&batch(2));
        let batches = split_batches(&two.freeze()).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].last_offset, batches[0].base_sequence, batches[0].last_sequence()), (2, 5, 7));
        let moved = restamp(&batches[1], 40, 9);
        let again = split_batches(&moved.bytes).unwrap();
        assert_eq!((again[0].base_offset, again[0].last_offset, again[0].leader_epoch), (40, 41, 9));
    }

    #[test]
    fn refuses_torn_corrupt_and_legacy_batches() {
        let good = batch(2);
        assert_eq!(split_batches(&good.slice(..good.len() - 1)).unwrap_err().code, ErrorCode::CORRUPT_MESSAGE);
        let mut flipped = BytesMut::from(&good[..]);
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert_eq!(split_batches(&flipped.freeze()).unwrap_err().code, ErrorCode::CORRUPT_MESSAGE);
        let mut legacy = BytesMut::from(&good[..]);
        legacy[MAGIC_OFFSET] = 1;
        assert_eq!(split_batches(&legacy.freeze()).unwrap_err().code, ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT);
        assert_eq!(split_batches(&Bytes::from_static(&[0, 0, 0])).unwrap_err().code, ErrorCode::CORRUPT_MESSAGE);
        // One record claiming offsets 0-2147483646.
        let mut b = RecordBatchBuilder::new(0).last_offset_delta(i32::MAX - 1);
        b.append(1000, None, Some(b"v"), &[]).unwrap();
        let e = split_batches(&b.finish().unwrap().freeze()).unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_RECORD, "{}", e.message);
    }

    #[test]
    fn sequences_wrap() {
        let b = StoredBatch {
            base_offset: 0,
            last_offset: 2,
            leader_epoch: 0,
            producer_id: 1,
            producer_epoch: 0,
            base_sequence: i32::MAX - 1,
            record_count: 3,
            transactional: false,
            control: false,
            max_timestamp: 0,
            bytes: Bytes::new(),
        };
        assert_eq!(b.last_sequence(), 0);
    }
}

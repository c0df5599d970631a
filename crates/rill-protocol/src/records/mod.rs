//! Record batches: magic 2 encode and decode, legacy magic 0/1 decode,
//! control records, and the read_committed filter.
//!
//! # Decoding
//! - [`RecordBatches::new`]`(&records, &opts)`: iterator of
//!   `Result<`[`RecordBatch`]`, DecodeError>` over a `records` field (fetch
//!   response partition data, produce request records, a log segment), any
//!   magic. A partial batch at the end (the broker cuts at `max_bytes`) ends
//!   the iteration silently ([`RecordBatches::trailing_partial`]).
//! - [`RecordBatch::decode_all`] collects that (first error wins);
//!   [`RecordBatch::decode`] decodes exactly one complete batch (truncation
//!   and trailing bytes are errors: the entry point for fuzzers).
//! - [`BatchViews`] / [`BatchView`] (magic 2 only) are the fast path: header
//!   and CRC checked up front, records parsed lazily and borrowed as `&[u8]`
//!   ([`RecordView`]), no per-record allocation or reference counting;
//!   [`BatchView::bytes_of`] turns a borrowed part into a zero-copy `Bytes`.
//! - [`complete_batches_end`] reads only the fixed headers: where the
//!   complete batches end (a consumer's next fetch offset before decoding).
//!
//! Records of uncompressed batches hold `Bytes` slices of the input; those of
//! a compressed batch, slices of the one buffer it was decompressed into.
//! [`RecordBatch::offset_of`] / [`RecordBatch::timestamp_of`] /
//! [`RecordBatch::iter`] give absolute offsets and timestamps.
//!
//! # Encoding
//! - [`RecordBatchBuilder`]: `new(base_offset)` or `with_buffer(buf, base_offset)`,
//!   header setters (`compression`, `producer`, `transactional`, ...), then
//!   `append(timestamp, key, value, &headers)` per record and `finish()`.
//! - [`RecordBatch::encode`] re-encodes a decoded batch (header fields kept,
//!   lengths, count and CRC recomputed).
//! - [`control::end_txn_marker`] writes a COMMIT/ABORT marker batch.
//! - [`legacy::encode_message_set`] writes magic 0/1 message sets (tests, old-broker simulation).
//!
//! # Transactions
//! [`ReadCommittedFilter`] / [`filter_read_committed`] drop aborted
//! transactional batches and hide control batches, given a fetch response's
//! `aborted_transactions`.
//!
//! # Untrusted input
//! Every length and count is checked against the bytes that remain before
//! anything is allocated, the CRC is checked before records are read, and
//! decompression is capped by [`DecodeOptions::max_decompressed_bytes`].
//! Errors name the field, e.g. `RecordBatch.records.headers.key`.

mod batch;
mod builder;
pub mod control;
pub mod legacy;
mod parse;
mod pieces;
mod read_committed;
mod record;
mod span;
mod view;

pub use batch::{
    Attributes, BatchHeader, RecordBatch, RecordBatches, TimestampType, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, CRC_OFFSET, LOG_OVERHEAD,
    MAGIC_OFFSET, MIN_BATCH_LENGTH, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
pub use builder::{RecordBatchBuilder, SHARE_MIN_BYTES};
pub use control::{ControlRecordType, EndTxnMarker};
pub use pieces::BatchPieces;
pub use read_committed::{filter_read_committed, AbortedTransaction, ReadCommittedFilter};
pub use record::{Header, Record, MIN_HEADER_LEN, MIN_RECORD_LEN};
pub use span::{complete_batches_end, BatchesEnd};
pub use view::{BatchView, BatchViews, RecordView, RecordViews};

use bytes::Bytes;

use crate::compression::{BufferPool, Compression, DEFAULT_MAX_DECOMPRESSED_BYTES};
use crate::error::DecodeError;

/// Options for decoding record batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Cap on the decompressed size of one compressed batch (for magic 0/1,
    /// of one wrapper message). Default 64 MiB.
    pub max_decompressed_bytes: usize,
    /// Check CRCs (CRC-32C for magic 2, CRC-32 for magic 0/1). Default true.
    pub verify_crc: bool,
    /// Where compressed batches are decompressed into: buffers reused from
    /// this pool, or (`None`, the default) a new allocation per batch.
    pub buffers: Option<BufferPool>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES, verify_crc: true, buffers: None }
    }
}

impl DecodeOptions {
    pub fn with_max_decompressed_bytes(mut self, max: usize) -> Self {
        self.max_decompressed_bytes = max;
        self
    }

    pub fn with_verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }

    pub fn with_buffers(mut self, pool: BufferPool) -> Self {
        self.buffers = Some(pool);
        self
    }

    /// Decompresses a batch's records with `codec`: into a buffer from
    /// [`DecodeOptions::buffers`] when there is a pool.
    pub(crate) fn decompress(&self, codec: Compression, input: &[u8], field: &'static str) -> Result<Bytes, DecodeError> {
        let limit = self.max_decompressed_bytes;
        match &self.buffers {
            None => codec.decompress(input, limit, field).map(Bytes::from),
            Some(pool) => {
                let mut buf = pool.take(codec.output_size_hint(input, limit));
                match codec.decompress_over(input, limit, field, &mut buf) {
                    Ok(written) => {
                        let mut bytes = pool.freeze(buf);
                        bytes.truncate(written);
                        Ok(bytes)
                    }
                    Err(e) => {
                        pool.give_back(buf);
                        Err(e)
                    }
                }
            }
        }
    }
}

//! Turns one partition's `records` field of a fetch response into
//! [`ConsumerRecord`]s: magic-2 batches through rill-protocol's borrowed
//! fast path ([`BatchViews`]), magic 0/1 through [`RecordBatches`]; under
//! read_committed through [`ReadCommittedFilter`] (aborted transactions
//! dropped, control records hidden).

use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::records::{
    AbortedTransaction, BatchView, BatchViews, DecodeOptions, ReadCommittedFilter, RecordBatch, RecordBatches, NO_PARTITION_LEADER_EPOCH,
};
use rill_protocol::{DecodeError, DecodeErrorKind};

use super::chunk_pool::ChunkPool;
use super::record::ConsumerRecord;

/// The records of one partition's fetch data at or after the fetch offset.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// The records in offset order, in chunks that are never regrown: a
    /// batch that does not fit the last chunk's spare room starts a new one.
    /// A fetch answer holds thousands of records of about 140 bytes each, and
    /// regrowing one `Vec` for them (realloc copies, fresh pages) was 2-3% of
    /// a 1 KiB lz4 consumer's CPU.
    pub chunks: Vec<Vec<ConsumerRecord>>,
    /// The sum of the records' [`ConsumerRecord::retained_bytes`].
    pub retained_bytes: usize,
    /// Where the next fetch starts: after the last complete batch (control
    /// and aborted batches included), or the fetch offset when there was none.
    pub next_offset: i64,
    /// The leader epoch of the last complete batch, if it had one.
    pub last_epoch: Option<i32>,
    /// A batch that could not be decoded; the records before it are kept
    /// and `next_offset` stops at it.
    pub error: Option<DecodeError>,
    /// Where chunks come from (and an empty one goes back to).
    chunk_pool: ChunkPool,
}

/// What a partition's fetch data is decoded with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeContext<'a> {
    pub partition: i32,
    pub fetch_offset: i64,
    /// `Some` under read_committed: the response's aborted transactions.
    pub aborted: Option<&'a [AbortedTransaction]>,
    pub options: &'a DecodeOptions,
    /// Chunks emptied by earlier polls, to decode into.
    pub chunks: &'a ChunkPool,
}

/// The smallest chunk started: batches of a record or two (a producer with
/// no linger) share chunks instead of taking an allocation each.
const MIN_CHUNK_RECORDS: usize = 64;

impl Decoded {
    #[cfg(test)]
    pub fn records(&self) -> impl Iterator<Item = &ConsumerRecord> {
        self.chunks.iter().flatten()
    }

    pub fn last(&self) -> Option<&ConsumerRecord> {
        self.chunks.last().and_then(|c| c.last())
    }

    /// Makes room for a batch of `count` records (checked against the
    /// batch's bytes): in the last chunk if it has that much spare room, or
    /// in a new one.
    fn make_room(&mut self, count: usize) {
        let fits = self.chunks.last().is_some_and(|c| c.capacity() - c.len() >= count);
        if !fits {
            self.pop_empty_tail();
            self.chunks.push(self.chunk_pool.take(count.max(MIN_CHUNK_RECORDS)));
        }
    }

    fn push(&mut self, record: ConsumerRecord) {
        self.retained_bytes += record.retained_bytes();
        match self.chunks.last_mut() {
            Some(chunk) => chunk.push(record),
            None => self.chunks.push(vec![record]),
        }
    }

    /// Only the last chunk can be empty (its batch had nothing at or after
    /// the fetch offset): drops it.
    fn pop_empty_tail(&mut self) {
        if self.chunks.last().is_some_and(Vec::is_empty) {
            if let Some(chunk) = self.chunks.pop() {
                self.chunk_pool.give_back(chunk);
            }
        }
    }

    /// Hands the chunks on, none of them empty.
    fn finish(mut self) -> Self {
        self.pop_empty_tail();
        self
    }
}

/// A batch's `partitionLeaderEpoch`, if it has one.
pub(crate) fn epoch(e: i32) -> Option<i32> {
    (e != NO_PARTITION_LEADER_EPOCH && e >= 0).then_some(e)
}

/// Decodes `data`; never fails as a whole (see [`Decoded::error`]).
pub(crate) fn decode_partition(topic: &Arc<str>, data: &Bytes, cx: &DecodeContext<'_>) -> Decoded {
    let mut out = Decoded { next_offset: cx.fetch_offset, chunk_pool: cx.chunks.clone(), ..Decoded::default() };
    let mut filter = cx.aborted.map(|a| ReadCommittedFilter::new(a.iter().copied()));
    // Batches of magic 0/1 appear only in logs written before Kafka 0.11;
    // the first one sends the whole partition down the owned path.
    let mut views = BatchViews::new(data, cx.options);
    let mut legacy = false;
    for view in views.by_ref() {
        match view {
            Ok(view) => {
                if let Err(e) = take_view(topic, &view, cx, filter.as_mut(), &mut out) {
                    out.error = Some(e);
                    return out.finish();
                }
            }
            Err(e) if is_legacy_magic(&e) => {
                legacy = true;
                break;
            }
            Err(e) => {
                out.error = Some(e);
                return out.finish();
            }
        }
    }
    if legacy {
        // Start over on the owned path, from the first batch not taken yet.
        for batch in RecordBatches::new(data, cx.options) {
            match batch {
                Ok(batch) if batch.next_offset() <= out.next_offset => {}
                Ok(batch) => take_batch(topic, &batch, cx, filter.as_mut(), &mut out),
                Err(e) => {
                    out.error = Some(e);
                    return out.finish();
                }
            }
        }
    }
    out.finish()
}

fn is_legacy_magic(e: &DecodeError) -> bool {
    e.field == "RecordBatch.magic" && matches!(e.kind, DecodeErrorKind::InvalidValue { value: 0 | 1 })
}

fn take_view(
    topic: &Arc<str>,
    view: &BatchView,
    cx: &DecodeContext<'_>,
    filter: Option<&mut ReadCommittedFilter>,
    out: &mut Decoded,
) -> Result<(), DecodeError> {
    let h = &view.header;
    let next = h.base_offset.wrapping_add(i64::from(h.last_offset_delta)).wrapping_add(1);
    if next <= out.next_offset {
        // Wholly before the fetch offset (a compressed batch the broker returns whole).
        return Ok(());
    }
    let keep = match filter {
        Some(f) => f.keep_view(view),
        None => !h.attributes.is_control(),
    };
    if keep {
        let leader_epoch = epoch(h.partition_leader_epoch);
        // The count was checked against the batch's bytes when the view was made.
        out.make_room(view.record_count());
        for r in view.records() {
            let r = r?;
            let offset = view.offset_of(&r);
            if offset < cx.fetch_offset {
                continue;
            }
            let record = r.to_record(view);
            out.push(ConsumerRecord {
                topic: topic.clone(),
                partition: cx.partition,
                offset,
                timestamp: view.timestamp_of(&r),
                key: record.key,
                value: record.value,
                headers: record.headers,
                leader_epoch,
            });
        }
    }
    out.next_offset = next;
    out.last_epoch = epoch(h.partition_leader_epoch);
    Ok(())
}

fn take_batch(topic: &Arc<str>, batch: &RecordBatch, cx: &DecodeContext<'_>, filter: Option<&mut ReadCommittedFilter>, out: &mut Decoded) {
    let keep = match filter {
        Some(f) => f.keep(batch),
        None => !batch.is_control(),
    };
    if keep {
        let leader_epoch = epoch(batch.partition_leader_epoch);
        out.make_room(batch.records.len());
        for (offset, timestamp, r) in batch.iter() {
            if offset < cx.fetch_offset {
                continue;
            }
            out.push(ConsumerRecord {
                topic: topic.clone(),
                partition: cx.partition,
                offset,
                timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
                leader_epoch,
            });
        }
    }
    out.next_offset = batch.next_offset();
    out.last_epoch = epoch(batch.partition_leader_epoch);
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use rill_protocol::records::RecordBatchBuilder;

    use super::*;

    /// `sizes` batches back to back, offsets from 0, values "v<offset>".
    fn batches(sizes: &[usize]) -> Bytes {
        let mut buf = BytesMut::new();
        let mut offset = 0i64;
        for &n in sizes {
            let mut b = RecordBatchBuilder::with_buffer(buf, offset);
            for i in 0..n {
                let value = format!("v{}", offset + i as i64);
                b.append(1_000 + offset + i as i64, None, Some(value.as_bytes()), &[]).unwrap();
            }
            buf = b.finish().unwrap();
            offset += n as i64;
        }
        buf.freeze()
    }

    fn decode(data: &Bytes, fetch_offset: i64) -> Decoded {
        let options = DecodeOptions::default();
        let cx = DecodeContext { partition: 0, fetch_offset, aborted: None, options: &options, chunks: &ChunkPool::default() };
        decode_partition(&Arc::from("t"), data, &cx)
    }

    #[test]
    fn batches_fill_chunks_that_are_never_regrown() {
        // 130 one-record batches share chunks of the minimum size; a
        // 100-record batch that does not fit the spare room starts its own
        // (of 128: chunks are made in powers of two), which the last batch
        // fits in.
        let mut sizes = vec![1; 130];
        sizes.push(100);
        sizes.push(3);
        let decoded = decode(&batches(&sizes), 0);
        let shape: Vec<(usize, usize)> = decoded.chunks.iter().map(|c| (c.len(), c.capacity())).collect();
        assert_eq!(shape, [(64, 64), (64, 64), (2, 64), (103, 128)]);
        let offsets: Vec<i64> = decoded.records().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..233).collect::<Vec<_>>());
        assert_eq!(decoded.last().map(|r| r.offset), Some(232));
        assert_eq!(decoded.next_offset, 233);
        let retained: usize = decoded.records().map(ConsumerRecord::retained_bytes).sum();
        assert_eq!(decoded.retained_bytes, retained);
        assert_eq!(decoded.records().nth(7).and_then(|r| r.value.clone()), Some(Bytes::from("v7")));
    }

    #[test]
    fn no_chunk_is_left_empty_by_records_before_the_fetch_offset() {
        let data = batches(&[10, 3, 200]);
        let decoded = decode(&data, 12);
        let offsets: Vec<i64> = decoded.records().map(|r| r.offset).collect();
        assert_eq!(offsets, (12..213).collect::<Vec<_>>());

        // A compacted batch (offsets 0-1 kept, last offset delta 5) ends past
        // fetch offset 3 with no record at or after it: room was made for
        // it, and that chunk must not be handed on empty.
        let mut b = RecordBatchBuilder::new(0).last_offset_delta(5);
        b.append(1_000, None, Some(b"a"), &[]).unwrap();
        b.append(1_001, None, Some(b"b"), &[]).unwrap();
        let decoded = decode(&b.finish().unwrap().freeze(), 3);
        assert_eq!(decoded.next_offset, 6);
        assert!(decoded.chunks.is_empty(), "{} chunks", decoded.chunks.len());
        assert_eq!(decoded.retained_bytes, 0);
    }
}

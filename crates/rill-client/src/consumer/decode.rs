//! Turns one partition's `records` field of a fetch response into
//! [`ConsumerRecord`]s: magic-2 batches through rill-protocol's borrowed
//! fast path ([`BatchViews`]), magic 0/1 through [`RecordBatches`]; under
//! read_committed through [`ReadCommittedFilter`] (aborted transactions
//! dropped, control records hidden).

use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::records::{
    complete_batches_end, AbortedTransaction, BatchView, BatchViews, DecodeOptions, ReadCommittedFilter, RecordBatch, RecordBatches,
    NO_PARTITION_LEADER_EPOCH,
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
    /// Bytes of the records field read: all of it but a partial trailing
    /// batch, or up to where the response's [`Allowance`] ran out.
    pub wire_bytes: usize,
    /// The allowance ran out before the end: `next_offset` is the first
    /// record not taken.
    pub cut: bool,
    /// Where chunks come from (and an empty one goes back to).
    chunk_pool: ChunkPool,
}

/// The buffered bytes ([`ConsumerRecord::retained_bytes`]) the records of
/// one fetch response may come to. A response is decoded whole before the
/// consumer's budget is charged, and a broker decides its size: one that
/// ignores `max_bytes` can send a frame's worth (100 MiB) of batches that
/// each decompress to `max_decompressed_bytes` (64 MiB), or of tiny records
/// that each take a record struct here. Two limits: past the batch limit no
/// further batch is started (the broker's first batch beyond `max_bytes`,
/// KIP-74, is still taken whole), past the record limit no further record
/// is taken, even inside a batch. The rest is fetched again. The first
/// record of a response is always taken, so the consumer moves on whatever
/// the limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowance {
    batch_left: usize,
    record_left: usize,
    took_any: bool,
}

impl Allowance {
    /// Limits of `batch_bytes` and `record_bytes` (at least `batch_bytes`).
    pub fn new(batch_bytes: usize, record_bytes: usize) -> Self {
        Allowance { batch_left: batch_bytes, record_left: record_bytes.max(batch_bytes), took_any: false }
    }

    /// No further batch is to be started.
    fn batches_spent(&self) -> bool {
        self.took_any && self.batch_left == 0
    }

    /// No further record is to be taken.
    fn records_spent(&self) -> bool {
        self.took_any && self.record_left == 0
    }

    fn take(&mut self, bytes: usize) {
        self.batch_left = self.batch_left.saturating_sub(bytes);
        self.record_left = self.record_left.saturating_sub(bytes);
        self.took_any = true;
    }

    /// The most records the rest of it can hold (one at least: see `records_spent`).
    fn records(&self) -> usize {
        self.record_left / super::record::RECORD_OVERHEAD + 1
    }
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

    fn push(&mut self, record: ConsumerRecord, allowance: &mut Allowance) {
        let bytes = record.retained_bytes();
        self.retained_bytes += bytes;
        allowance.take(bytes);
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

/// Decodes `data` as far as `allowance` goes; never fails as a whole (see
/// [`Decoded::error`]).
pub(crate) fn decode_partition(topic: &Arc<str>, data: &Bytes, cx: &DecodeContext<'_>, allowance: &mut Allowance) -> Decoded {
    let mut out = Decoded { next_offset: cx.fetch_offset, chunk_pool: cx.chunks.clone(), ..Decoded::default() };
    let mut filter = cx.aborted.map(|a| ReadCommittedFilter::new(a.iter().copied()));
    // Batches of magic 0/1 appear only in logs written before Kafka 0.11;
    // the first one sends the whole partition down the owned path.
    let mut views = BatchViews::new(data, cx.options);
    let mut legacy = false;
    loop {
        if allowance.batches_spent() {
            // A cut only if a whole batch is left: the data may end here,
            // or in the partial batch a broker cuts its answer with.
            let rest = data.get(data.len() - views.trailing_partial()..).unwrap_or_default();
            out.cut = !matches!(complete_batches_end(rest), Ok(None));
            break;
        }
        let Some(view) = views.next() else { break };
        out.wire_bytes = data.len() - views.trailing_partial();
        match view {
            Ok(view) => match take_view(topic, &view, cx, filter.as_mut(), &mut out, allowance) {
                Ok(true) => {}
                Ok(false) => {
                    out.cut = true;
                    break;
                }
                Err(e) => {
                    out.error = Some(e);
                    return out.finish();
                }
            },
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
        // Start over on the owned path, from the first batch not taken yet
        // (whole batches: logs this old hold small ones).
        out.wire_bytes = data.len();
        for batch in RecordBatches::new(data, cx.options) {
            if allowance.batches_spent() {
                out.cut = true;
                break;
            }
            match batch {
                Ok(batch) if batch.next_offset() <= out.next_offset => {}
                Ok(batch) => take_batch(topic, &batch, cx, filter.as_mut(), &mut out, allowance),
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

/// Takes the records of `view` at or after the fetch offset; `false` if the
/// allowance ran out first (`out.next_offset` is then the first record not
/// taken).
fn take_view(
    topic: &Arc<str>,
    view: &BatchView,
    cx: &DecodeContext<'_>,
    filter: Option<&mut ReadCommittedFilter>,
    out: &mut Decoded,
    allowance: &mut Allowance,
) -> Result<bool, DecodeError> {
    let h = &view.header;
    let next = h.base_offset.wrapping_add(i64::from(h.last_offset_delta)).wrapping_add(1);
    if next <= out.next_offset {
        // Wholly before the fetch offset (a compressed batch the broker returns whole).
        return Ok(true);
    }
    let keep = match filter {
        Some(f) => f.keep_view(view),
        None => !h.attributes.is_control(),
    };
    if keep {
        let leader_epoch = epoch(h.partition_leader_epoch);
        // The count was checked against the batch's bytes when the view
        // was made; room beyond what the allowance can hold is not made.
        out.make_room(view.record_count().min(allowance.records()));
        for r in view.records() {
            let r = r?;
            let offset = view.offset_of(&r);
            if offset < cx.fetch_offset {
                continue;
            }
            if allowance.records_spent() {
                // Fetched again from this record on.
                out.next_offset = offset;
                out.last_epoch = leader_epoch;
                return Ok(false);
            }
            let record = r.to_record(view);
            out.push(
                ConsumerRecord {
                    topic: topic.clone(),
                    partition: cx.partition,
                    offset,
                    timestamp: view.timestamp_of(&r),
                    key: record.key,
                    value: record.value,
                    headers: record.headers,
                    leader_epoch,
                },
                allowance,
            );
        }
    }
    out.next_offset = next;
    out.last_epoch = epoch(h.partition_leader_epoch);
    Ok(true)
}

fn take_batch(
    topic: &Arc<str>,
    batch: &RecordBatch,
    cx: &DecodeContext<'_>,
    filter: Option<&mut ReadCommittedFilter>,
    out: &mut Decoded,
    allowance: &mut Allowance,
) {
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
            out.push(
                ConsumerRecord {
                    topic: topic.clone(),
                    partition: cx.partition,
                    offset,
                    timestamp,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                    leader_epoch,
                },
                allowance,
            );
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
        decode_within(data, fetch_offset, &mut Allowance::new(usize::MAX, usize::MAX))
    }

    fn decode_within(data: &Bytes, fetch_offset: i64, allowance: &mut Allowance) -> Decoded {
        let options = DecodeOptions::default();
        let cx = DecodeContext { partition: 0, fetch_offset, aborted: None, options: &options, chunks: &ChunkPool::default() };
        decode_partition(&Arc::from("t"), data, &cx, allowance)
    }

    #[test]
    fn decoding_stops_where_the_responses_allowance_runs_out_and_always_takes_one_record() {
        let data = batches(&[10, 10]);
        let whole = decode(&data, 0);
        assert!(!whole.cut);
        assert_eq!(whole.wire_bytes, data.len());
        let retained = |d: &Decoded, n: usize| d.records().take(n).map(ConsumerRecord::retained_bytes).sum::<usize>();

        // Room for 13 records: the second batch, started within the batch
        // limit, is cut after its third at the record limit, and the next
        // fetch starts at the record after.
        let mut allowance = Allowance::new(retained(&whole, 11), retained(&whole, 13));
        let cut = decode_within(&data, 0, &mut allowance);
        assert!(cut.cut);
        assert_eq!(cut.records().map(|r| r.offset).collect::<Vec<_>>(), (0..13).collect::<Vec<_>>());
        assert_eq!((cut.next_offset, cut.retained_bytes), (13, retained(&whole, 13)));
        assert_eq!(cut.wire_bytes, data.len(), "the cut batch was read whole");

        // The same response's next partition gets nothing: it is fetched
        // again from where it was.
        let next = decode_within(&data, 4, &mut allowance);
        assert!(next.cut && next.chunks.is_empty() && next.error.is_none());
        assert_eq!((next.next_offset, next.wire_bytes), (4, 0));

        // An allowance of nothing still takes the response's first record
        // (the consumer moves on), then stops.
        let one = decode_within(&data, 3, &mut Allowance::new(0, 0));
        assert_eq!(one.records().map(|r| r.offset).collect::<Vec<_>>(), [3]);
        assert_eq!(one.next_offset, 4);
        // The batch limit spent inside the first batch: that batch is
        // taken whole (a broker's first batch past max_bytes), the next is
        // not read.
        let first = decode_within(&data, 0, &mut Allowance::new(retained(&whole, 2), usize::MAX));
        assert_eq!((first.next_offset, first.records().count(), first.cut), (10, 10, true));
        assert!(first.wire_bytes < data.len());

        // Spent with nothing after the last batch taken, or only the partial
        // batch a broker cuts its answer with: not a cut.
        let one_batch = batches(&[10]);
        let whole_one = decode_within(&one_batch, 0, &mut Allowance::new(retained(&whole, 2), usize::MAX));
        assert_eq!((whole_one.next_offset, whole_one.cut), (10, false));
        let partial = Bytes::from([&one_batch[..], &one_batch[..one_batch.len() - 1]].concat());
        let with_partial = decode_within(&partial, 0, &mut Allowance::new(retained(&whole, 2), usize::MAX));
        assert_eq!((with_partial.next_offset, with_partial.cut), (10, false));

        // No room is made for the records of a batch past the allowance.
        let large = batches(&[5000]);
        let each = decode(&large, 0).records().next().unwrap().retained_bytes();
        let part = decode_within(&large, 0, &mut Allowance::new(0, 100 * each));
        assert!(part.cut && part.next_offset <= 100, "{}", part.next_offset);
        assert!(part.chunks.iter().all(|c| c.capacity() <= 128), "{:?}", part.chunks.iter().map(Vec::capacity).collect::<Vec<_>>());
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

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

use super::record::ConsumerRecord;

/// The records of one partition's fetch data at or after the fetch offset.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub records: Vec<ConsumerRecord>,
    /// Where the next fetch starts: after the last complete batch (control
    /// and aborted batches included), or the fetch offset when there was none.
    pub next_offset: i64,
    /// The leader epoch of the last complete batch, if it had one.
    pub last_epoch: Option<i32>,
    /// A batch that could not be decoded; the records before it are kept
    /// and `next_offset` stops at it.
    pub error: Option<DecodeError>,
}

/// What a partition's fetch data is decoded with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeContext<'a> {
    pub partition: i32,
    pub fetch_offset: i64,
    /// `Some` under read_committed: the response's aborted transactions.
    pub aborted: Option<&'a [AbortedTransaction]>,
    pub options: &'a DecodeOptions,
}

/// A batch's `partitionLeaderEpoch`, if it has one.
pub(crate) fn epoch(e: i32) -> Option<i32> {
    (e != NO_PARTITION_LEADER_EPOCH && e >= 0).then_some(e)
}

/// Decodes `data`; never fails as a whole (see [`Decoded::error`]).
pub(crate) fn decode_partition(topic: &Arc<str>, data: &Bytes, cx: &DecodeContext<'_>) -> Decoded {
    let mut out = Decoded { next_offset: cx.fetch_offset, ..Decoded::default() };
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
                    return out;
                }
            }
            Err(e) if is_legacy_magic(&e) => {
                legacy = true;
                break;
            }
            Err(e) => {
                out.error = Some(e);
                return out;
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
                    return out;
                }
            }
        }
    }
    out
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
        // The count was checked against the batch's bytes when the view was
        // made; records are large enough that regrowing the Vec shows in profiles.
        out.records.reserve(view.record_count());
        for r in view.records() {
            let r = r?;
            let offset = view.offset_of(&r);
            if offset < cx.fetch_offset {
                continue;
            }
            let record = r.to_record(view);
            out.records.push(ConsumerRecord {
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
        for (offset, timestamp, r) in batch.iter() {
            if offset < cx.fetch_offset {
                continue;
            }
            out.records.push(ConsumerRecord {
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

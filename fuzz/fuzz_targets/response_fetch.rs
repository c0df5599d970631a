//! Fuzz target: FetchResponse, then every partition's records through the
//! batch decoder and its borrowed views (with decompression under a small
//! cap) and the read_committed filter over both, as the consumer does.
//! Input: selector byte (unused), 2-byte version seed, body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rill_fuzz::{message, record_batches, split, version_of, FUZZ_MAX_DECOMPRESSED_BYTES};
use rill_protocol::message::Message;
use rill_protocol::messages::FetchResponse;
use rill_protocol::records::{filter_read_committed, AbortedTransaction, BatchViews, DecodeOptions, ReadCommittedFilter, RecordBatches};
use rill_protocol::Reader;

fuzz_target!(|data: &[u8]| {
    let Some((_, seed, body)) = split(data) else { return };
    message::<FetchResponse>(seed, body);
    let bytes = Bytes::copy_from_slice(body);
    let Ok(resp) = FetchResponse::decode(&mut Reader::new(&bytes), version_of::<FetchResponse>(seed)) else { return };
    let opts = DecodeOptions::default().with_max_decompressed_bytes(FUZZ_MAX_DECOMPRESSED_BYTES);
    for topic in &resp.responses {
        for p in &topic.partitions {
            let Some(records) = &p.records else { continue };
            record_batches(records);
            let batches: Vec<_> = RecordBatches::new(records, &opts).flatten().collect();
            let aborted: Vec<AbortedTransaction> = p
                .aborted_transactions
                .iter()
                .flatten()
                .map(|a| AbortedTransaction { producer_id: a.producer_id, first_offset: a.first_offset })
                .collect();
            let _ = filter_read_committed(batches, &aborted);
            // The consumer filters views (`keep_view`, which reads only a
            // control batch's first record): batch for batch, it keeps what
            // the filter over full decodes keeps.
            let mut over_batches = ReadCommittedFilter::new(aborted.iter().copied());
            let mut over_views = ReadCommittedFilter::new(aborted.iter().copied());
            for (batch, view) in RecordBatches::new(records, &opts).zip(BatchViews::new(records, &opts)) {
                let (Ok(batch), Ok(view)) = (batch, view) else { continue };
                assert_eq!(over_batches.keep(&batch), over_views.keep_view(&view), "read_committed keeps a view and its batch differently");
            }
        }
    }
});

//! The read_committed filter with interleaved transactional producers.

use bytes::{Bytes, BytesMut};
use rill_protocol::records::{
    control, filter_read_committed, AbortedTransaction, BatchViews, DecodeOptions, ReadCommittedFilter, RecordBatch, RecordBatchBuilder,
};

const A: i64 = 1000;
const B: i64 = 2000;

/// Builds a log: each entry is (producer id or -1, transactional, marker: None | Some(commit)).
struct Log {
    buf: BytesMut,
    next: i64,
}

impl Log {
    fn new() -> Self {
        Log { buf: BytesMut::new(), next: 0 }
    }

    fn data(&mut self, pid: i64, txn: bool, n: usize) -> &mut Self {
        let mut b = RecordBatchBuilder::with_buffer(std::mem::take(&mut self.buf), self.next)
            .producer(pid, if pid >= 0 { 0 } else { -1 }, if pid >= 0 { 0 } else { -1 })
            .transactional(txn);
        for i in 0..n {
            b.append(1, None, Some(format!("{pid}-{}", self.next + i as i64).as_bytes()), &[]).unwrap();
        }
        self.buf = b.finish().unwrap();
        self.next += n as i64;
        self
    }

    fn marker(&mut self, pid: i64, commit: bool) -> &mut Self {
        self.buf = control::end_txn_marker(std::mem::take(&mut self.buf), self.next, pid, 0, commit, 1, 2).unwrap();
        self.next += 1;
        self
    }

    fn batches(&mut self) -> Vec<RecordBatch> {
        let bytes: Bytes = self.buf.clone().freeze();
        RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap()
    }
}

fn offsets(batches: &[RecordBatch]) -> Vec<i64> {
    batches.iter().flat_map(|b| b.iter().map(|(o, _, _)| o).collect::<Vec<_>>()).collect()
}

#[test]
fn aborted_transactions_are_dropped_and_markers_hidden() {
    let mut log = Log::new();
    log.data(A, true, 2) // 0-1 aborted
        .data(B, true, 2) // 2-3 committed
        .data(A, true, 1) // 4 aborted
        .marker(A, false) // 5 abort A
        .data(-1, false, 1) // 6 plain
        .data(A, true, 2) // 7-8 committed (new transaction)
        .marker(B, true) // 9 commit B
        .data(B, true, 1) // 10 aborted (B's second transaction)
        .marker(A, true) // 11 commit A
        .data(4000, false, 1) // 12 idempotent, not transactional
        .marker(B, false); // 13 abort B
    let batches = log.batches();
    assert_eq!(batches.len(), 11);

    let aborted = [AbortedTransaction { producer_id: A, first_offset: 0 }, AbortedTransaction { producer_id: B, first_offset: 10 }];
    let kept = filter_read_committed(batches.clone(), &aborted);
    assert_eq!(offsets(&kept), vec![2, 3, 6, 7, 8, 12]);
    assert!(kept.iter().all(|b| !b.is_control()));

    // The aborted list may come in any order.
    let kept2 = filter_read_committed(batches.clone(), &[aborted[1], aborted[0]]);
    assert_eq!(kept, kept2);

    // read_uncommitted view minus control batches: no aborted list means nothing is dropped.
    let all = filter_read_committed(batches.clone(), &[]);
    assert_eq!(offsets(&all), vec![0, 1, 2, 3, 4, 6, 7, 8, 10, 12]);

    // The borrowed fast path decides batch by batch exactly as the owned one.
    let bytes: Bytes = log.buf.clone().freeze();
    let mut by_view = ReadCommittedFilter::new(aborted);
    let kept_views: Vec<i64> = BatchViews::new(&bytes, &DecodeOptions::default())
        .map(Result::unwrap)
        .filter(|v| by_view.keep_view(v))
        .map(|v| v.header.base_offset)
        .collect();
    assert_eq!(kept_views, kept.iter().map(|b| b.base_offset).collect::<Vec<_>>());
}

#[test]
fn streaming_filter_matches_and_handles_fetch_starting_mid_transaction() {
    let mut log = Log::new();
    log.data(A, true, 3).data(B, true, 3).marker(A, false).data(A, true, 1).marker(A, false).marker(B, true);
    let batches = log.batches();
    // A aborted twice: [0..2] and [7].
    let aborted = [AbortedTransaction { producer_id: A, first_offset: 0 }, AbortedTransaction { producer_id: A, first_offset: 7 }];
    let mut f = ReadCommittedFilter::new(aborted);
    let kept: Vec<_> = batches.iter().filter(|b| f.keep(b)).cloned().collect();
    assert_eq!(offsets(&kept), vec![3, 4, 5]);

    // A fetch that starts after A's first data batch still hides the rest of it.
    let tail: Vec<_> = batches.iter().skip(1).cloned().collect();
    let kept = filter_read_committed(tail, &aborted);
    assert_eq!(offsets(&kept), vec![3, 4, 5]);
}

#[test]
fn non_transactional_batches_of_an_aborting_producer_are_kept() {
    let mut log = Log::new();
    log.data(A, true, 1).data(A, false, 1).marker(A, false);
    let kept = filter_read_committed(log.batches(), &[AbortedTransaction { producer_id: A, first_offset: 0 }]);
    assert_eq!(offsets(&kept), vec![1]);
}

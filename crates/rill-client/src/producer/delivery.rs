//! Delivery results: one [`BatchOutcome`] per batch, shared by the
//! [`Delivery`] of each of its records, which reads its own offset from the
//! batch's (Java's `ProduceRequestResult` and `FutureRecordMetadata`).
//!
//! A channel per record cost an allocation, its free and a handshake on
//! each side for every record sent (about 8% of a producer of 100-byte
//! records in perf); a shared outcome costs a reference count.
//!
//! A batch the broker refused as too large is split in two; its outcome
//! then points at the halves' outcomes, and each record's delivery follows
//! to the half that holds it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::error::ProduceError;
use super::record::RecordMetadata;

/// What became of one batch, or that it is still pending.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    /// Not resolved yet: the tasks waiting on its records.
    Pending(Vec<Waker>),
    Written(Written),
    Failed(ProduceError),
    /// Split in two: records `..middle` went to `first`, the rest to
    /// `second` (numbered from 0 there).
    Split {
        middle: usize,
        first: Arc<BatchOutcome>,
        second: Arc<BatchOutcome>,
    },
}

/// Where a batch was written.
#[derive(Debug)]
struct Written {
    topic: String,
    partition: i32,
    /// -1 when unknown (see [`RecordMetadata::offset`]).
    base_offset: i64,
    /// The broker's append time, or -1 when records keep their own timestamps.
    log_append_time: i64,
}

impl BatchOutcome {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, so a poisoned lock's data is whole.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Resolves the outcome (once: later calls change nothing) and wakes
    /// every task waiting on it.
    fn resolve(&self, to: State) {
        let mut state = self.lock();
        if let State::Pending(wakers) = &mut *state {
            let wakers = std::mem::take(wakers);
            *state = to;
            drop(state);
            for waker in wakers {
                waker.wake();
            }
        }
    }
}

/// The producer's side of a batch's outcome. Dropped unresolved (the
/// producer went away with the batch), it fails the batch's records with
/// [`ProduceError::Closed`], so no delivery waits forever.
#[derive(Debug)]
pub(crate) struct OutcomeSender {
    outcome: Arc<BatchOutcome>,
}

impl OutcomeSender {
    pub fn new() -> Self {
        OutcomeSender { outcome: Arc::new(BatchOutcome { state: Mutex::new(State::Pending(Vec::new())) }) }
    }

    /// The delivery of the batch's record number `index`, sent with `timestamp`.
    pub fn delivery(&self, index: usize, timestamp: i64) -> Delivery {
        Delivery { outcome: self.outcome.clone(), index, timestamp, waker_slot: None }
    }

    /// Offsets from `base_offset` on (-1: unknown); `log_append_time` (not
    /// -1) replaces the records' timestamps.
    pub fn complete(self, topic: &str, partition: i32, base_offset: i64, log_append_time: i64) {
        let written = Written { topic: topic.to_string(), partition, base_offset, log_append_time };
        self.outcome.resolve(State::Written(written));
    }

    pub fn fail(self, error: ProduceError) {
        self.outcome.resolve(State::Failed(error));
    }

    /// The records go on in two batches: `..middle` in `first`'s, the rest in `second`'s.
    pub fn split(self, middle: usize, first: &OutcomeSender, second: &OutcomeSender) {
        self.outcome.resolve(State::Split { middle, first: first.outcome.clone(), second: second.outcome.clone() });
    }
}

impl Drop for OutcomeSender {
    fn drop(&mut self) {
        self.outcome.resolve(State::Failed(ProduceError::Closed));
    }
}

/// The delivery result of one record: resolves to its [`RecordMetadata`] or a [`ProduceError`].
#[derive(Debug)]
#[must_use = "a delivery says whether the record was written"]
pub struct Delivery {
    outcome: Arc<BatchOutcome>,
    /// The record's place in its batch.
    index: usize,
    timestamp: i64,
    /// Where this delivery's waker sits among its outcome's, once registered.
    waker_slot: Option<usize>,
}

impl Future for Delivery {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let next = {
                let mut state = this.outcome.lock();
                match &mut *state {
                    State::Written(w) => {
                        // -1: unknown, as for acks=0; also when a broker's
                        // base offset leaves no room for this record's.
                        let offset = if w.base_offset < 0 { -1 } else { w.base_offset.checked_add(this.index as i64).unwrap_or(-1) };
                        let timestamp = if w.log_append_time >= 0 { w.log_append_time } else { this.timestamp };
                        return Poll::Ready(Ok(RecordMetadata { topic: w.topic.clone(), partition: w.partition, offset, timestamp }));
                    }
                    State::Failed(e) => return Poll::Ready(Err(e.clone())),
                    State::Split { middle, first, second } => {
                        if this.index < *middle {
                            (first.clone(), this.index)
                        } else {
                            (second.clone(), this.index - *middle)
                        }
                    }
                    State::Pending(wakers) => {
                        match this.waker_slot.and_then(|slot| wakers.get_mut(slot)) {
                            Some(waker) if waker.will_wake(cx.waker()) => {}
                            Some(waker) => waker.clone_from(cx.waker()),
                            None => {
                                this.waker_slot = Some(wakers.len());
                                wakers.push(cx.waker().clone());
                            }
                        }
                        return Poll::Pending;
                    }
                }
            };
            (this.outcome, this.index) = next;
            this.waker_slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(delivery: &mut Delivery, waker: &Arc<CountingWaker>) -> Poll<Result<RecordMetadata, ProduceError>> {
        let waker = Waker::from(waker.clone());
        Pin::new(delivery).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn each_record_reads_its_offset_from_the_batch_and_waiters_are_woken_once() {
        let sender = OutcomeSender::new();
        let mut deliveries: Vec<Delivery> = (0..3).map(|i| sender.delivery(i, 100 + i as i64)).collect();
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        for d in &mut deliveries {
            assert!(poll(d, &waker).is_pending());
            assert!(poll(d, &waker).is_pending(), "polled again: still one waker");
        }
        assert_eq!(sender.outcome.lock().wakers_len(), 3);
        sender.complete("t", 4, 50, -1);
        assert_eq!(waker.0.load(Ordering::SeqCst), 3);
        for (i, d) in deliveries.iter_mut().enumerate() {
            let Poll::Ready(Ok(m)) = poll(d, &waker) else { panic!("record {i} not delivered") };
            assert_eq!((m.topic.as_str(), m.partition, m.offset, m.timestamp), ("t", 4, 50 + i as i64, 100 + i as i64));
        }

        // The broker's append time replaces the records' own; an unknown
        // base offset gives -1 for every record.
        let sender = OutcomeSender::new();
        let mut d = sender.delivery(1, 7);
        sender.complete("t", 0, -1, 999);
        assert!(matches!(poll(&mut d, &waker), Poll::Ready(Ok(RecordMetadata { offset: -1, timestamp: 999, .. }))));

        // A base offset a broker answers that leaves no room for the batch's
        // later records: those are unknown too, not an overflow.
        let sender = OutcomeSender::new();
        let (mut first, mut second) = (sender.delivery(0, 7), sender.delivery(1, 7));
        sender.complete("t", 0, i64::MAX, -1);
        assert!(matches!(poll(&mut first, &waker), Poll::Ready(Ok(RecordMetadata { offset: i64::MAX, .. }))));
        assert!(matches!(poll(&mut second, &waker), Poll::Ready(Ok(RecordMetadata { offset: -1, .. }))));
    }

    #[test]
    fn records_of_a_split_batch_follow_their_half() {
        let sender = OutcomeSender::new();
        let mut deliveries: Vec<Delivery> = (0..5).map(|i| sender.delivery(i, i as i64)).collect();
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        assert!(poll(&mut deliveries[4], &waker).is_pending());
        let (first, second) = (OutcomeSender::new(), OutcomeSender::new());
        sender.split(2, &first, &second);
        assert_eq!(waker.0.load(Ordering::SeqCst), 1, "a waiter re-polls to follow the split");
        assert!(deliveries.iter_mut().all(|d| poll(d, &waker).is_pending()));
        // A half can be split again.
        let (third, fourth) = (OutcomeSender::new(), OutcomeSender::new());
        second.split(1, &third, &fourth);
        first.complete("t", 0, 10, -1);
        third.complete("t", 0, 20, -1);
        fourth.fail(ProduceError::TransactionAborted);
        let results: Vec<_> = deliveries.iter_mut().map(|d| poll(d, &waker)).collect();
        let offsets: Vec<Option<i64>> = results
            .iter()
            .map(|r| match r {
                Poll::Ready(Ok(m)) => Some(m.offset),
                _ => None,
            })
            .collect();
        assert_eq!(offsets, vec![Some(10), Some(11), Some(20), None, None]);
        assert!(matches!(results[3], Poll::Ready(Err(ProduceError::TransactionAborted))));
        assert!(matches!(results[4], Poll::Ready(Err(ProduceError::TransactionAborted))));
    }

    #[test]
    fn a_batch_dropped_unresolved_fails_its_records_and_resolving_twice_changes_nothing() {
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let sender = OutcomeSender::new();
        let mut d = sender.delivery(0, 0);
        assert!(poll(&mut d, &waker).is_pending());
        drop(sender);
        assert!(matches!(poll(&mut d, &waker), Poll::Ready(Err(ProduceError::Closed))));
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);

        let sender = OutcomeSender::new();
        let mut d = sender.delivery(0, 0);
        let outcome = sender.outcome.clone();
        sender.complete("t", 0, 5, -1);
        outcome.resolve(State::Failed(ProduceError::Closed));
        assert!(matches!(poll(&mut d, &waker), Poll::Ready(Ok(RecordMetadata { offset: 5, .. }))));
    }

    impl State {
        fn wakers_len(&self) -> usize {
            match self {
                State::Pending(w) => w.len(),
                _ => 0,
            }
        }
    }
}

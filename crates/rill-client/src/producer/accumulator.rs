//! The record accumulator: per partition, a queue of batches in the order
//! their records were sent. Records are appended to the newest open batch
//! until it reaches `batch.size`; a batch becomes ready when it is full,
//! when `linger.ms` has passed since its first record, or when the producer
//! flushes. Batches stay in their queue while in flight, so retries go out
//! again in their original order.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rill_protocol::compression::Compression;
use tokio::time::Instant;

use super::batch::ProducerBatch;
use super::delivery::Delivery;
use super::error::ProduceError;
use super::memory::RecordReservation;
use super::record::{ProducerRecord, TopicPartition};

#[derive(Debug)]
pub(crate) struct Accumulator {
    queues: BTreeMap<TopicPartition, VecDeque<ProducerBatch>>,
    next_batch_id: u64,
    batch_size: usize,
    linger: Duration,
    compression: Compression,
}

/// What an append did.
#[derive(Debug)]
pub(crate) struct Appended {
    /// The record started a new batch.
    pub new_batch: bool,
    /// A batch is full now (the previous one, or this one reached `batch.size`).
    pub batch_full: bool,
    /// The record's delivery result.
    pub delivery: Delivery,
}

/// Whether a partition has something to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    Ready,
    /// Ready at this instant (linger or retry backoff).
    At(Instant),
    /// Waiting for in-flight requests, or empty.
    Waiting,
}

impl Accumulator {
    pub fn new(batch_size: usize, linger: Duration, compression: Compression) -> Self {
        Accumulator { queues: BTreeMap::new(), next_batch_id: 0, batch_size, linger, compression }
    }

    /// Appends a record to `tp`'s newest batch, or to a new one.
    pub fn append(
        &mut self,
        tp: &TopicPartition,
        record: ProducerRecord,
        timestamp: i64,
        reservation: RecordReservation<'_>,
        now: impl FnOnce() -> Instant,
    ) -> Result<Appended, ProduceError> {
        let Accumulator { queues, next_batch_id, batch_size, compression, .. } = self;
        let mut to = Append { next_batch_id, batch_size: *batch_size, compression: *compression };
        // One search of the map per record; the key (its topic string) is
        // cloned only for a partition's first record.
        if let Some(queue) = queues.get_mut(tp) {
            return to.append(queue, tp, record, timestamp, reservation, now);
        }
        to.append(queues.entry(tp.clone()).or_default(), tp, record, timestamp, reservation, now)
    }

    /// Whether `tp`'s next batch can be sent: at most `max_in_flight`
    /// batches of a partition are in flight, and a batch that is being
    /// retried waits until nothing of its partition is in flight (so the
    /// partition's batches reach the broker in sequence order).
    pub fn readiness(&self, tp: &TopicPartition, now: Instant, flushing: bool, max_in_flight: usize) -> Readiness {
        let Some(queue) = self.queues.get(tp) else { return Readiness::Waiting };
        let in_flight = queue.iter().filter(|b| b.in_flight).count();
        let Some((index, batch)) = queue.iter().enumerate().find(|(_, b)| !b.in_flight) else {
            return Readiness::Waiting;
        };
        if in_flight >= max_in_flight || (batch.attempts > 0 && in_flight > 0) {
            return Readiness::Waiting;
        }
        if let Some(at) = batch.retry_at.filter(|at| *at > now) {
            return Readiness::At(at);
        }
        let full = index + 1 < queue.len() || batch.estimated_bytes >= self.batch_size;
        let lingered = batch.created + self.linger;
        if batch.attempts > 0 || !batch.is_open() || full || flushing || lingered <= now {
            Readiness::Ready
        } else {
            Readiness::At(lingered)
        }
    }

    /// Partitions with queued batches, in order.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.queues.iter().filter(|(_, q)| !q.is_empty()).map(|(tp, _)| tp.clone()).collect()
    }

    /// The partition's first batch that is not in flight.
    pub fn next_to_send(&mut self, tp: &TopicPartition) -> Option<&mut ProducerBatch> {
        self.queues.get_mut(tp)?.iter_mut().find(|b| !b.in_flight)
    }

    pub fn get(&self, tp: &TopicPartition, id: u64) -> Option<&ProducerBatch> {
        self.queues.get(tp)?.iter().find(|b| b.id == id)
    }

    /// The ids of `tp`'s batches in queue order, each with whether it is in flight.
    pub fn ids(&self, tp: &TopicPartition) -> Vec<(u64, bool)> {
        self.queues.get(tp).map(|q| q.iter().map(|b| (b.id, b.in_flight)).collect()).unwrap_or_default()
    }

    /// Whether a batch of `tp` before batch `id` is in flight on a
    /// connection other than `connection`: its outcome is unknown until that
    /// connection answers or fails, so batch `id` must not overtake it on
    /// another connection (the broker could take the later sequence first).
    pub fn earlier_in_flight_elsewhere(&self, tp: &TopicPartition, id: u64, connection: u64) -> bool {
        self.queues
            .get(tp)
            .is_some_and(|q| q.iter().take_while(|b| b.id != id).any(|b| b.in_flight && b.sent_on.is_some_and(|c| c != connection)))
    }

    pub fn get_mut(&mut self, tp: &TopicPartition, id: u64) -> Option<&mut ProducerBatch> {
        self.queues.get_mut(tp)?.iter_mut().find(|b| b.id == id)
    }

    /// Whether an unacknowledged batch precedes batch `id` in its partition.
    pub fn has_earlier(&self, tp: &TopicPartition, id: u64) -> bool {
        self.queues.get(tp).and_then(|q| q.front()).is_some_and(|b| b.id != id)
    }

    pub fn remove(&mut self, tp: &TopicPartition, id: u64) -> Option<ProducerBatch> {
        let queue = self.queues.get_mut(tp)?;
        let index = queue.iter().position(|b| b.id == id)?;
        let batch = queue.remove(index);
        if queue.is_empty() {
            self.queues.remove(tp);
        }
        batch
    }

    /// Removes the batches (not in flight) that `expired` selects. A batch
    /// behind one of its partition's batches still in flight stays until
    /// that one is resolved, so results are handed out in send order.
    pub fn remove_where(&mut self, mut expired: impl FnMut(&ProducerBatch) -> bool) -> Vec<ProducerBatch> {
        let mut removed = Vec::new();
        for queue in self.queues.values_mut() {
            let mut kept = VecDeque::with_capacity(queue.len());
            let mut behind_in_flight = false;
            for batch in queue.drain(..) {
                behind_in_flight |= batch.in_flight;
                if !behind_in_flight && expired(&batch) {
                    removed.push(batch);
                } else {
                    kept.push_back(batch);
                }
            }
            *queue = kept;
        }
        self.queues.retain(|_, q| !q.is_empty());
        removed
    }

    /// The earliest `created` of a batch [`remove_where`](Self::remove_where) could remove now.
    pub fn oldest_expirable(&self) -> Option<Instant> {
        self.queues.values().filter_map(|q| q.iter().take_while(|b| !b.in_flight).map(|b| b.created).min()).min()
    }

    /// Whether a batch of `tp` carries a sequence not numbered under `identity`
    /// (sent under an earlier epoch and not resolved yet).
    pub fn has_sequenced_other_than(&self, tp: &TopicPartition, identity: (i64, i16)) -> bool {
        self.queues.get(tp).is_some_and(|q| q.iter().any(|b| b.sequenced.is_some_and(|s| (s.producer_id, s.producer_epoch) != identity)))
    }

    /// Batches of `tp` not handed to the sender yet (Java's deque size).
    pub fn unsent_count(&self, tp: &TopicPartition) -> usize {
        self.queues.get(tp).map_or(0, |q| q.iter().filter(|b| !b.in_flight).count())
    }

    /// Whether a batch of `tp` carries a sequence.
    pub fn has_sequenced(&self, tp: &TopicPartition) -> bool {
        self.queues.get(tp).is_some_and(|q| q.iter().any(|b| b.sequenced.is_some()))
    }

    /// The batches of `tp` in queue (sequence) order.
    pub fn queue_mut(&mut self, tp: &TopicPartition) -> impl Iterator<Item = &mut ProducerBatch> {
        self.queues.get_mut(tp).into_iter().flatten()
    }

    /// A fresh batch id.
    pub fn take_batch_id(&mut self) -> u64 {
        self.next_batch_id += 1;
        self.next_batch_id
    }

    /// Removes batch `id`, with its position in the partition's queue.
    pub fn take(&mut self, tp: &TopicPartition, id: u64) -> Option<(usize, ProducerBatch)> {
        let index = self.queues.get(tp)?.iter().position(|b| b.id == id)?;
        Some((index, self.remove(tp, id)?))
    }

    /// Puts `batches` at `index` of `tp`'s queue (the halves of a batch split
    /// after MESSAGE_TOO_LARGE, where the batch was).
    pub fn insert_at(&mut self, tp: &TopicPartition, index: usize, batches: impl IntoIterator<Item = ProducerBatch>) {
        let queue = self.queues.entry(tp.clone()).or_default();
        for (i, batch) in batches.into_iter().enumerate() {
            queue.insert((index + i).min(queue.len()), batch);
        }
    }

    /// Every batch, in flight or not (closing without delivering).
    pub fn take_all(&mut self) -> Vec<ProducerBatch> {
        std::mem::take(&mut self.queues).into_values().flatten().collect()
    }

    /// The id of the oldest batch not yet completed (for a part of a split
    /// batch: the id of the batch it came from).
    pub fn oldest_batch_id(&self) -> Option<u64> {
        self.queues.values().filter_map(|q| q.iter().map(|b| b.origin_id).min()).min()
    }

    /// The id the next batch will get.
    pub fn next_batch_id(&self) -> u64 {
        self.next_batch_id + 1
    }

    pub fn in_flight_count(&self) -> usize {
        self.queues.values().flatten().filter(|b| b.in_flight).count()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// What appending to one partition's queue needs of the accumulator.
struct Append<'a> {
    next_batch_id: &'a mut u64,
    batch_size: usize,
    compression: Compression,
}

impl Append<'_> {
    fn append(
        &mut self,
        queue: &mut VecDeque<ProducerBatch>,
        tp: &TopicPartition,
        record: ProducerRecord,
        timestamp: i64,
        reservation: RecordReservation<'_>,
        now: impl FnOnce() -> Instant,
    ) -> Result<Appended, ProduceError> {
        let bytes = record.estimated_size();
        let fits = queue.back().is_some_and(|b| b.has_room_for(bytes, self.batch_size));
        let new_batch = !fits;
        if new_batch {
            *self.next_batch_id += 1;
            // The clock is read only for a new batch (its linger starts now),
            // not for every record.
            // A batch that follows one still queued (full, or closed by a
            // record that did not fit) likely fills as that one did: its
            // buffer starts at that size instead of doubling its way there
            // (each doubling copied what was written and faulted in fresh
            // pages: a fifth of a 1 KiB producer's page faults, and as
            // many bytes copied again as the batches held).
            let capacity = queue.back().map_or(0, |b| b.buffer_bytes().min(self.batch_size));
            queue.push_back(ProducerBatch::with_capacity(*self.next_batch_id, tp.clone(), self.compression, now(), capacity));
        }
        let queued = queue.len();
        let Some(batch) = queue.back_mut() else {
            return Err(ProduceError::Closed);
        };
        let delivery = batch.append(record, timestamp, reservation)?;
        let batch_full = (new_batch && queued > 1) || batch.estimated_bytes >= self.batch_size;
        Ok(Appended { new_batch, batch_full, delivery })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: usize) -> ProducerRecord {
        ProducerRecord::new("t").value(vec![7u8; bytes])
    }

    /// Appends a record; whether it started a new batch and whether a batch is full now.
    fn append(acc: &mut Accumulator, tp: &TopicPartition, bytes: usize) -> (bool, bool) {
        let appended = acc.append(tp, record(bytes), 0, RecordReservation::empty(), Instant::now).unwrap();
        (appended.new_batch, appended.batch_full)
    }

    /// Fills a first batch with records of `bytes` until a second opens:
    /// the first's estimated size and the second's starting buffer capacity.
    fn second_batch_capacity(bytes: usize) -> (usize, usize) {
        let tp = TopicPartition::new("t", 0);
        let mut acc = Accumulator::new(100_000, Duration::from_millis(50), Compression::None);
        assert_eq!(append(&mut acc, &tp, bytes), (true, false));
        let first = acc.queues.get(&tp).and_then(|q| q.back()).and_then(ProducerBatch::buffer_capacity).unwrap();
        assert!(first < 10_000, "the first batch starts small: {first}");
        let mut batches = 1;
        while batches < 2 {
            batches += usize::from(append(&mut acc, &tp, bytes).0);
        }
        let queue = acc.queues.get(&tp).unwrap();
        let full = queue.front().map(|b| b.estimated_bytes).unwrap();
        assert!(full > 90_000, "{full}");
        (full, queue.back().and_then(ProducerBatch::buffer_capacity).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_after_a_full_one_starts_with_room_for_as_much() {
        // Values this short are copied into the batch.
        let (full, second) = second_batch_capacity(300);
        assert!(second >= full * 9 / 10, "the second batch starts with room for what the first held: {second} < {full}");
        // Longer ones are kept by reference: the buffer holds their records' other fields.
        let (full, second) = second_batch_capacity(1000);
        assert!(second < full / 10, "room for the fields, not for values the batch does not copy: {second} of {full}");
    }

    #[tokio::test(start_paused = true)]
    async fn batches_fill_to_batch_size_and_linger() {
        let tp = TopicPartition::new("t", 0);
        let mut acc = Accumulator::new(1000, Duration::from_millis(50), Compression::None);
        let start = Instant::now();
        assert_eq!(acc.readiness(&tp, start, false, 5), Readiness::Waiting);
        let first = append(&mut acc, &tp, 100);
        assert_eq!(first, (true, false));
        // Not full yet: ready only after linger.ms.
        assert_eq!(acc.readiness(&tp, start, false, 5), Readiness::At(start + Duration::from_millis(50)));
        assert_eq!(acc.readiness(&tp, start + Duration::from_millis(50), false, 5), Readiness::Ready);
        // flush() makes it ready at once.
        assert_eq!(acc.readiness(&tp, start, true, 5), Readiness::Ready);
        // Records up to batch.size share the batch; the one that does not fit opens a new one.
        let mut appended = Vec::new();
        for _ in 0..6 {
            appended.push(append(&mut acc, &tp, 100));
        }
        assert!(appended.iter().take(5).all(|a| !a.0), "{appended:?}");
        assert_eq!(appended[5], (true, true));
        assert_eq!(acc.readiness(&tp, start, false, 5), Readiness::Ready);
        let batch = acc.next_to_send(&tp).unwrap();
        assert_eq!(batch.record_count(), 6);
        // A record larger than batch.size gets a batch of its own.
        let big = append(&mut acc, &TopicPartition::new("t", 1), 5000);
        assert_eq!(big, (true, true));
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_cap_and_retries_keep_order() {
        let tp = TopicPartition::new("t", 0);
        let mut acc = Accumulator::new(100, Duration::ZERO, Compression::None);
        for _ in 0..4 {
            append(&mut acc, &tp, 90);
        }
        let now = Instant::now();
        let mut ids = Vec::new();
        for _ in 0..2 {
            assert_eq!(acc.readiness(&tp, now, false, 2), Readiness::Ready);
            let b = acc.next_to_send(&tp).unwrap();
            b.in_flight = true;
            b.attempts += 1;
            ids.push(b.id);
        }
        // Two in flight: the cap is reached.
        assert_eq!(acc.readiness(&tp, now, false, 2), Readiness::Waiting);
        // The first one fails and waits for its backoff; the second is still in flight.
        let first = acc.get_mut(&tp, ids[0]).unwrap();
        first.in_flight = false;
        first.retry_at = Some(now + Duration::from_millis(100));
        assert!(!acc.has_earlier(&tp, ids[0]));
        assert!(acc.has_earlier(&tp, ids[1]));
        // A retry waits until nothing else of the partition is in flight.
        assert_eq!(acc.readiness(&tp, now + Duration::from_secs(1), false, 2), Readiness::Waiting);
        acc.get_mut(&tp, ids[1]).unwrap().in_flight = false;
        assert_eq!(acc.readiness(&tp, now, false, 2), Readiness::At(now + Duration::from_millis(100)));
        let later = now + Duration::from_millis(100);
        assert_eq!(acc.readiness(&tp, later, false, 2), Readiness::Ready);
        // ...and the retried batch goes first.
        assert_eq!(acc.next_to_send(&tp).unwrap().id, ids[0]);
        assert_eq!(acc.oldest_batch_id(), Some(ids[0]));
        let removed = acc.remove_where(|b| b.id == ids[0]);
        assert_eq!(removed.len(), 1);
        assert_eq!(acc.next_to_send(&tp).unwrap().id, ids[1]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_does_not_overtake_an_earlier_one_in_flight_on_another_connection() {
        let tp = TopicPartition::new("t", 0);
        let other = TopicPartition::new("t", 1);
        let mut acc = Accumulator::new(100, Duration::ZERO, Compression::None);
        for _ in 0..3 {
            append(&mut acc, &tp, 90);
        }
        append(&mut acc, &other, 90);
        let ids: Vec<u64> = acc.ids(&tp).into_iter().map(|(id, _)| id).collect();
        let other_id = acc.ids(&other)[0].0;
        // The first batch was written to connection 1; the second is handed to its lane.
        let first = acc.get_mut(&tp, ids[0]).unwrap();
        first.in_flight = true;
        first.sent_on = Some(1);
        acc.get_mut(&tp, ids[1]).unwrap().in_flight = true;
        assert!(!acc.earlier_in_flight_elsewhere(&tp, ids[1], 1), "same connection: pipelined in order");
        assert!(acc.earlier_in_flight_elsewhere(&tp, ids[1], 2), "a new connection must wait for the old one's outcome");
        assert!(acc.earlier_in_flight_elsewhere(&tp, ids[2], 2));
        assert!(!acc.earlier_in_flight_elsewhere(&tp, ids[0], 2), "nothing before the first");
        assert!(!acc.earlier_in_flight_elsewhere(&other, other_id, 2), "other partitions are not held");
        // Once the first batch's outcome is known (here: back for a retry), later ones may go anywhere.
        let first = acc.get_mut(&tp, ids[0]).unwrap();
        first.in_flight = false;
        first.sent_on = None;
        assert!(!acc.earlier_in_flight_elsewhere(&tp, ids[1], 2));
    }
}

//! Producer counters: records and batches sent, batch sizes, retries,
//! failures. Relaxed atomics; [`ProducerStats::snapshot`] copies them.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct ProducerStats {
    records_delivered: AtomicU64,
    records_failed: AtomicU64,
    batches_sent: AtomicU64,
    batch_bytes_total: AtomicU64,
    batch_bytes_max: AtomicU64,
    batch_records_total: AtomicU64,
    batch_records_max: AtomicU64,
    retries: AtomicU64,
    epoch_bumps: AtomicU64,
    batch_splits: AtomicU64,
}

/// A copy of the producer's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStatsSnapshot {
    pub records_delivered: u64,
    pub records_failed: u64,
    /// Batch sends, retries included.
    pub batches_sent: u64,
    /// Encoded (compressed) bytes of the batches sent.
    pub batch_bytes_total: u64,
    pub batch_bytes_max: u64,
    pub batch_records_total: u64,
    pub batch_records_max: u64,
    /// Batches sent again after a retriable error.
    pub retries: u64,
    /// KIP-360 epoch bumps.
    pub epoch_bumps: u64,
    /// Batches split in two after MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE.
    pub batch_splits: u64,
}

impl ProducerStatsSnapshot {
    /// Adds `other`'s counters to these (maxima: the larger one).
    pub fn add(&mut self, other: &ProducerStatsSnapshot) {
        self.records_delivered += other.records_delivered;
        self.records_failed += other.records_failed;
        self.batches_sent += other.batches_sent;
        self.batch_bytes_total += other.batch_bytes_total;
        self.batch_bytes_max = self.batch_bytes_max.max(other.batch_bytes_max);
        self.batch_records_total += other.batch_records_total;
        self.batch_records_max = self.batch_records_max.max(other.batch_records_max);
        self.retries += other.retries;
        self.epoch_bumps += other.epoch_bumps;
        self.batch_splits += other.batch_splits;
    }
}

impl ProducerStats {
    pub fn batch_sent(&self, bytes: usize, records: usize) {
        self.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.batch_bytes_total.fetch_add(bytes as u64, Ordering::Relaxed);
        self.batch_bytes_max.fetch_max(bytes as u64, Ordering::Relaxed);
        self.batch_records_total.fetch_add(records as u64, Ordering::Relaxed);
        self.batch_records_max.fetch_max(records as u64, Ordering::Relaxed);
    }

    pub fn delivered(&self, records: usize) {
        self.records_delivered.fetch_add(records as u64, Ordering::Relaxed);
    }

    pub fn failed(&self, records: usize) {
        self.records_failed.fetch_add(records as u64, Ordering::Relaxed);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn split(&self) {
        self.batch_splits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn epoch_bump(&self) {
        self.epoch_bumps.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ProducerStatsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProducerStatsSnapshot {
            records_delivered: get(&self.records_delivered),
            records_failed: get(&self.records_failed),
            batches_sent: get(&self.batches_sent),
            batch_bytes_total: get(&self.batch_bytes_total),
            batch_bytes_max: get(&self.batch_bytes_max),
            batch_records_total: get(&self.batch_records_total),
            batch_records_max: get(&self.batch_records_max),
            retries: get(&self.retries),
            epoch_bumps: get(&self.epoch_bumps),
            batch_splits: get(&self.batch_splits),
        }
    }
}

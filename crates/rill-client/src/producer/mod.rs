//! The producer: [`Producer`] accumulates records per partition and a
//! background sender task delivers them.
//!
//! ```no_run
//! use std::time::Duration;
//! use rill_client::{Client, ClientConfig};
//! use rill_client::producer::{Producer, ProducerRecord};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect(ClientConfig::from_properties([("bootstrap.servers", "localhost:9092")])?).await?;
//! let producer = Producer::new(client).await?;
//! let delivery = producer.send(ProducerRecord::new("events").key("k").value("v")).await?; // waits for buffer space only
//! let metadata = delivery.await?; // partition, offset, timestamp
//! println!("{metadata:?}");
//! producer.close(Duration::from_secs(30)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! - [`record`]: [`ProducerRecord`], [`RecordMetadata`];
//! - [`partitioner`]: murmur2 exactly as Java, KIP-794 uniform sticky partitioning;
//! - [`memory`]: the `buffer.memory` budget (send waits, memory never exceeds it);
//! - `accumulator` / `batch`: per-partition batches (`batch.size`, `linger.ms`);
//! - `sender`: ProduceRequests per leader, `acks`, retries, `delivery.timeout.ms`;
//! - [`idempotence`]: producer id, sequences, KIP-360 epoch bumps;
//! - [`transaction`]: `transactional.id`, coordinator requests, fencing.
//!
//! Time comes only from `tokio::time` (record timestamps: a wall clock read
//! once at start, advanced by tokio's clock), randomness from the client's
//! seeded RNG: the producer runs unchanged in a turmoil simulation.

mod accumulator;
mod availability;
mod batch;
mod delivery;
pub mod error;
pub mod idempotence;
pub mod memory;
pub mod partitioner;
pub mod record;
mod request_limit;
mod sender;
pub(crate) mod stats;
pub mod transaction;

use std::collections::{BTreeMap, BTreeSet};

use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Duration;

use rill_protocol::ErrorCode;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tracing::debug;

use crate::backoff::{Backoff, Rng};
use crate::client::Client;
use crate::config::{ClientConfig, ProducerConfig};
use crate::error::Error;
use accumulator::Accumulator;
use idempotence::{ProducerIdentity, Sequences};
use memory::{MemoryBudget, RecordReservation, ReserveError};
use partitioner::StickyPartitioner;
use sender::Completion;
use stats::ProducerStats;
use transaction::{TransactionState, TxnPhase};

pub use delivery::Delivery;
pub use error::ProduceError;
pub use record::{ProducerRecord, RecordMetadata, TopicPartition};
pub use stats::ProducerStatsSnapshot;
pub use transaction::{ConsumerGroupMetadata, OffsetAndMetadata};

/// A topic's partition count and its partitions with a leader, kept while
/// the client's metadata has not changed since it was looked up
/// ([`Client::metadata_updates`]): the lookup took the metadata cache's lock
/// and searched it by name, about 6% of a producer of 100-byte records.
#[derive(Debug)]
pub(crate) struct PartitionsMemo {
    topic: String,
    metadata_updates: u64,
    count: usize,
    available: Arc<[i32]>,
}

/// Everything the producer handle and the sender task share (behind one lock).
#[derive(Debug)]
pub(crate) struct State {
    pub accumulator: Accumulator,
    pub partitioner: StickyPartitioner,
    /// The partitioner's draws, seeded from the client's RNG: under the
    /// producer's lock already held, not the client's (two more locks per record).
    pub partitioner_rng: Rng,
    /// The partitions of the topic sent to last, as the metadata had them.
    pub partitions_memo: Option<PartitionsMemo>,
    /// ProduceRequests planned per leader and not yet answered.
    pub produce_requests: BTreeMap<i32, usize>,
    /// Leaders whose connections close on large requests get smaller ones.
    pub large_requests: request_limit::LargeRequestGuard,
    pub availability: availability::LeaderAvailability,
    pub identity: ProducerIdentity,
    pub sequences: Sequences,
    /// A KIP-360 epoch bump is due (sent once nothing is in flight).
    pub bump_needed: bool,
    /// Partitions numbered afresh from 0 at that bump (the broker holds
    /// nothing of them past their last acknowledgement).
    pub rewrite: BTreeSet<TopicPartition>,
    /// `flush()` calls in progress: every batch is ready at once.
    pub flushing: usize,
    pub closing: bool,
    /// Set when the producer cannot go on (fenced, or InitProducerId refused).
    pub fatal: Option<ProduceError>,
    pub txn: Option<TransactionState>,
}

impl State {
    /// `topic`'s memoized partitions, if the metadata has taken in no
    /// update (`metadata_updates`) since they were looked up.
    fn memoized_partitions(&self, topic: &str, metadata_updates: u64) -> Option<(usize, Arc<[i32]>)> {
        let memo = self.partitions_memo.as_ref()?;
        (memo.metadata_updates == metadata_updates && memo.topic == topic).then(|| (memo.count, memo.available.clone()))
    }
}

/// The wall clock for record timestamps: read once, then advanced by tokio's clock.
#[derive(Debug, Clone, Copy)]
struct WallClock {
    base_ms: i64,
    start: Instant,
}

impl WallClock {
    fn now_ms(&self) -> i64 {
        self.base_ms + i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX / 2)
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub client: Client,
    pub config: ProducerConfig,
    pub memory: MemoryBudget,
    state: Mutex<State>,
    /// Wakes the sender: new batch, full batch, flush, close.
    pub wake: Notify,
    /// Signalled whenever batches complete (flush waits on it).
    pub progress: Notify,
    pub completions: mpsc::UnboundedSender<Completion>,
    pub stats: Arc<ProducerStats>,
    clock: WallClock,
}

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn idempotent(&self) -> bool {
        self.config.enable_idempotence
    }

    pub fn transactional(&self) -> bool {
        self.config.transactional_id.is_some()
    }
}

/// Closes the producer (delivering what is pending) when the last handle is dropped.
#[derive(Debug)]
struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.lock().closing = true;
        self.0.wake.notify_one();
    }
}

/// A Kafka producer. Cheap to clone; clones share batches and the sender.
/// Dropping the last clone closes it (pending records are still delivered).
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Arc<Inner>,
    _close_on_drop: Arc<CloseOnDrop>,
}

impl Producer {
    /// A producer on `client`, with the producer settings of its configuration.
    /// Record timestamps start from the system clock read now.
    pub async fn new(client: Client) -> Result<Producer, ProduceError> {
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        Producer::with_wall_clock(client, now_ms)
    }

    /// Connects a client (TCP) and creates a producer on it.
    pub async fn connect(config: ClientConfig) -> Result<Producer, ProduceError> {
        let client = Client::connect(config).await?;
        Producer::new(client).await
    }

    /// Like [`new`](Self::new), with record timestamps counted from
    /// `now_ms` (ms since the Unix epoch) by tokio's clock: a simulation
    /// passes a fixed value to replay exactly.
    pub fn with_wall_clock(client: Client, now_ms: i64) -> Result<Producer, ProduceError> {
        let config = client.config().producer.clone();
        client.config().validate()?;
        let (completions, completions_rx) = mpsc::unbounded_channel();
        let stats = Arc::new(ProducerStats::default());
        client.stats_registry().register_producer(&stats);
        let txn = config.transactional_id.is_some().then(TransactionState::new);
        let state = State {
            accumulator: Accumulator::new(config.batch_size, config.linger, config.compression),
            partitioner: StickyPartitioner::new(config.batch_size),
            partitioner_rng: Rng::new(client.with_rng(|rng| rng.next_u64())),
            partitions_memo: None,
            produce_requests: BTreeMap::new(),
            large_requests: request_limit::LargeRequestGuard::default(),
            availability: availability::LeaderAvailability::default(),
            identity: ProducerIdentity::NONE,
            sequences: Sequences::default(),
            bump_needed: false,
            rewrite: BTreeSet::new(),
            flushing: 0,
            closing: false,
            fatal: None,
            txn,
        };
        let inner = Arc::new(Inner {
            memory: MemoryBudget::new(config.buffer_memory),
            client,
            config,
            state: Mutex::new(state),
            wake: Notify::new(),
            progress: Notify::new(),
            completions,
            stats,
            clock: WallClock { base_ms: now_ms, start: Instant::now() },
        });
        let span = tracing::debug_span!("producer", client_id = %inner.client.config().client_id);
        tokio::spawn(tracing::Instrument::instrument(sender::run(inner.clone(), completions_rx), span));
        Ok(Producer { _close_on_drop: Arc::new(CloseOnDrop(inner.clone())), inner })
    }

    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The producer's counters.
    pub fn stats(&self) -> ProducerStatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Bytes of `buffer.memory` not held by pending records.
    pub fn available_memory_bytes(&self) -> usize {
        self.inner.memory.available_bytes()
    }

    /// The producer id and epoch (`-1, -1` before the first InitProducerId).
    pub fn producer_identity(&self) -> (i64, i16) {
        let id = self.inner.lock().identity;
        (id.producer_id, id.producer_epoch)
    }

    fn check_can_send(&self, state: &State) -> Result<(), ProduceError> {
        if state.closing {
            return Err(ProduceError::Closed);
        }
        if let Some(e) = &state.fatal {
            return Err(e.clone());
        }
        if let Some(txn) = &state.txn {
            match &txn.phase {
                TxnPhase::InTransaction => {}
                TxnPhase::Abortable(e) | TxnPhase::Fatal(e) => return Err(e.clone()),
                other => return Err(ProduceError::InvalidState { operation: "send", state: other.describe() }),
            }
        }
        Ok(())
    }

    /// Queues a record. Waits only for metadata of a topic not seen before and
    /// for buffer memory (both up to `max.block.ms`); the returned [`Delivery`]
    /// resolves once the record is acknowledged or has failed.
    ///
    /// Without compression a value of 512 bytes or more is not copied: the
    /// batch refers to its `Bytes` until the record is acknowledged or has
    /// failed, and it goes to the socket from there. (A `Bytes` that slices a
    /// larger buffer keeps all of that buffer until then.)
    pub async fn send(&self, record: ProducerRecord) -> Result<Delivery, ProduceError> {
        let inner = &self.inner;
        let size = record.estimated_size();
        // A record travels in a batch of its own at worst: 61 bytes of batch header.
        if size + 61 > inner.config.record_max_bytes() {
            return Err(ProduceError::RecordTooLarge {
                size_bytes: size + 61,
                limit_bytes: inner.config.record_max_bytes(),
                limit_key: "max.request.size",
            });
        }
        // Taken on arrival, as Java's producer does, before any wait for memory.
        let timestamp = record.timestamp.unwrap_or_else(|| inner.clock.now_ms());
        // The common case takes the producer's lock once: the topic's
        // partitions are known (and the metadata unchanged since) and its
        // buffer memory is free.
        let record = {
            let mut guard = inner.lock();
            let state = &mut *guard;
            self.check_can_send(state)?;
            if let Some((partitions, available)) = state.memoized_partitions(&record.topic, inner.client.metadata_updates()) {
                check_partition(&record, partitions)?;
                if let Some(reservation) = inner.memory.try_reserve(size).map_err(memory_error)? {
                    let (delivery, wake) = append(state, record, partitions, &available, reservation, timestamp, size)?;
                    drop(guard);
                    if wake {
                        inner.wake.notify_one();
                    }
                    return Ok(delivery);
                }
            }
            record
        };
        let (partitions, available) = self.partitions_memoized(&record.topic).await?;
        check_partition(&record, partitions)?;
        let reservation = inner.memory.reserve(size, inner.config.max_block).await.map_err(memory_error)?;
        let mut guard = inner.lock();
        self.check_can_send(&guard)?;
        let (delivery, wake) = append(&mut guard, record, partitions, &available, reservation, timestamp, size)?;
        drop(guard);
        if wake {
            inner.wake.notify_one();
        }
        Ok(delivery)
    }

    /// The partitions of `topic`, from the memo while the metadata is
    /// unchanged, else looked up ([`Producer::partitions_of`]) and memoized.
    async fn partitions_memoized(&self, topic: &str) -> Result<(usize, Arc<[i32]>), ProduceError> {
        let inner = &self.inner;
        let memo = inner.lock().memoized_partitions(topic, inner.client.metadata_updates());
        if let Some(found) = memo {
            return Ok(found);
        }
        // Read before the lookup: an update after it shows as a change.
        let metadata_updates = inner.client.metadata_updates();
        let (count, available) = self.partitions_of(topic).await?;
        inner.lock().partitions_memo =
            Some(PartitionsMemo { topic: topic.to_string(), metadata_updates, count, available: available.clone() });
        Ok((count, available))
    }

    /// Partition count and partitions with a leader, asking for metadata when
    /// the topic is not cached. A topic not in the metadata yet (just created,
    /// or about to be auto-created) is asked for again, with backoff, until
    /// `max.block.ms`, as Java's producer waits for it; an error that asking
    /// again cannot clear (authorization, an invalid name) fails at once.
    async fn partitions_of(&self, topic: &str) -> Result<(usize, Arc<[i32]>), ProduceError> {
        if let Some(found) = self.inner.client.cached_partitions(topic) {
            return Ok(found);
        }
        let max_block = self.inner.config.max_block;
        let deadline = Instant::now() + max_block;
        let client = &self.inner.client;
        let mut backoff = Backoff::new(client.config().retry_backoff, client.config().retry_backoff_max);
        loop {
            match tokio::time::timeout_at(deadline, client.metadata(&[topic])).await {
                Ok(result) => {
                    result?;
                }
                Err(_) => return Err(ProduceError::BlockTimeout { waited: max_block, what: "topic metadata" }),
            }
            if let Some(found) = client.cached_partitions(topic) {
                return Ok(found);
            }
            let code = client.cached_metadata().topic(topic).map_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, |t| t.error);
            if code.is_error() && code != ErrorCode::UNKNOWN_TOPIC_OR_PARTITION && !code.is_retriable() {
                return Err(ProduceError::Client(Error::Kafka {
                    broker: "metadata".into(),
                    context: format!("Metadata for topic {topic}"),
                    code,
                    message: None,
                }));
            }
            let delay = client.backoff_delay(&mut backoff);
            if Instant::now() + delay >= deadline {
                return Err(ProduceError::UnknownPartition { topic: topic.to_string(), partition: None, partitions: 0 });
            }
            debug!(topic, error = code.name(), ?delay, "topic not in the metadata yet; asking again");
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends every record queued before the call at once (ignoring
    /// `linger.ms`) and waits until each is delivered or has failed.
    pub async fn flush(&self) -> Result<(), ProduceError> {
        let target = {
            let mut state = self.inner.lock();
            state.flushing += 1;
            state.accumulator.next_batch_id()
        };
        struct Unflush<'a>(&'a Inner);
        impl Drop for Unflush<'_> {
            fn drop(&mut self) {
                let mut state = self.0.lock();
                state.flushing = state.flushing.saturating_sub(1);
            }
        }
        let _unflush = Unflush(&self.inner);
        self.inner.wake.notify_one();
        loop {
            let notified = self.inner.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.lock().accumulator.oldest_batch_id().is_none_or(|id| id >= target) {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Stops accepting records, delivers what is pending within `timeout`,
    /// then fails whatever is left with [`ProduceError::Closed`]: every
    /// pending record gets a result.
    pub async fn close(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.inner.lock().closing = true;
        self.inner.wake.notify_one();
        if tokio::time::timeout(timeout, self.flush()).await.is_ok() {
            return Ok(());
        }
        let left = self.inner.lock().accumulator.take_all();
        let records: usize = left.iter().map(|b| b.record_count()).sum();
        debug!(batches = left.len(), records, "close: timeout; failing what is left");
        for batch in left {
            self.inner.stats.failed(batch.record_count());
            batch.fail(ProduceError::Closed);
        }
        self.inner.progress.notify_waiters();
        self.inner.wake.notify_one();
        Err(ProduceError::BlockTimeout { waited: timeout, what: "pending records to be delivered on close" })
    }

    fn transactional_id(&self, operation: &'static str) -> Result<String, ProduceError> {
        self.inner
            .config
            .transactional_id
            .clone()
            .ok_or(ProduceError::InvalidState { operation, state: "the producer is not transactional (set transactional.id)".into() })
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.inner.config.max_block
    }

    /// Gets a producer id and epoch for `transactional.id` from its
    /// coordinator, which fences any older producer with the same id and
    /// completes (aborts) its open transaction.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn init_transactions(&self) -> Result<(), ProduceError> {
        let id = self.transactional_id("init_transactions")?;
        {
            let state = self.inner.lock();
            if let Some(TxnPhase::Uninitialized) = state.txn.as_ref().map(|t| &t.phase) {
            } else {
                let phase = state.txn.as_ref().map(|t| t.phase.describe()).unwrap_or_default();
                return Err(ProduceError::InvalidState { operation: "init_transactions", state: phase });
            }
        }
        let timeout = self.inner.config.transaction_timeout;
        let result = transaction::init_producer_id(&self.inner.client, Some(&id), timeout, ProducerIdentity::NONE, self.deadline()).await;
        let mut state = self.inner.lock();
        match result {
            Ok(identity) => {
                debug!(producer_id = identity.producer_id, epoch = identity.producer_epoch, "transactions initialized");
                state.identity = identity;
                state.sequences.reset();
                if let Some(txn) = state.txn.as_mut() {
                    txn.phase = TxnPhase::Ready;
                }
                Ok(())
            }
            Err(e) => {
                if e.is_fenced() {
                    state.fatal = Some(e.clone());
                }
                Err(e)
            }
        }
    }

    /// Opens a transaction: records sent from now on are committed or aborted together.
    pub fn begin_transaction(&self) -> Result<(), ProduceError> {
        self.transactional_id("begin_transaction")?;
        let mut state = self.inner.lock();
        let txn = state.txn.as_mut().ok_or(ProduceError::Closed)?;
        match &txn.phase {
            TxnPhase::Ready => {
                txn.phase = TxnPhase::InTransaction;
                txn.partitions.clear();
                Ok(())
            }
            TxnPhase::Fatal(e) => Err(e.clone()),
            other => Err(ProduceError::InvalidState { operation: "begin_transaction", state: other.describe() }),
        }
    }

    fn in_transaction(&self, operation: &'static str) -> Result<(String, ProducerIdentity), ProduceError> {
        let id = self.transactional_id(operation)?;
        let state = self.inner.lock();
        match state.txn.as_ref().map(|t| &t.phase) {
            Some(TxnPhase::InTransaction) => Ok((id, state.identity)),
            Some(TxnPhase::Abortable(e) | TxnPhase::Fatal(e)) => Err(e.clone()),
            Some(other) => Err(ProduceError::InvalidState { operation, state: other.describe() }),
            None => Err(ProduceError::Closed),
        }
    }

    /// The transaction to end (`commit` or abort): the open one, or one
    /// whose EndTxn with the same outcome timed out before.
    fn to_end(&self, operation: &'static str, commit: bool) -> Result<(String, ProducerIdentity), ProduceError> {
        let id = self.transactional_id(operation)?;
        let state = self.inner.lock();
        match state.txn.as_ref().map(|t| &t.phase) {
            Some(TxnPhase::InTransaction) => Ok((id, state.identity)),
            Some(TxnPhase::Ending { commit: ending }) if *ending == commit => Ok((id, state.identity)),
            Some(TxnPhase::Abortable(e) | TxnPhase::Fatal(e)) => Err(e.clone()),
            Some(other) => Err(ProduceError::InvalidState { operation, state: other.describe() }),
            None => Err(ProduceError::Closed),
        }
    }

    /// EndTxn failed. Still failing retriably at `max.block.ms` (e.g.
    /// CONCURRENT_TRANSACTIONS), the coordinator may yet complete it: the
    /// call times out and only the same call again is allowed, as Java's
    /// `commitTransaction` / `abortTransaction` ("safe to retry, but not
    /// possible to attempt a different operation"). Anything else fails the
    /// transaction.
    fn end_failed(&self, error: ProduceError, commit: bool) -> ProduceError {
        match &error {
            ProduceError::Client(e) if e.is_retriable() => {
                debug!(error = %e, commit, "EndTxn: still failing at max.block.ms; the same call may be retried");
                if let Some(txn) = self.inner.lock().txn.as_mut() {
                    txn.phase = TxnPhase::Ending { commit };
                }
                let what =
                    if commit { "the transaction coordinator to commit (EndTxn)" } else { "the transaction coordinator to abort (EndTxn)" };
                ProduceError::BlockTimeout { waited: self.inner.config.max_block, what }
            }
            _ => {
                self.fail_transaction(&error);
                error
            }
        }
    }

    fn fail_transaction(&self, error: &ProduceError) {
        let mut state = self.inner.lock();
        if error.is_fenced() {
            state.fatal = Some(error.clone());
        }
        if let Some(txn) = state.txn.as_mut() {
            txn.fail(error.clone());
        }
    }

    /// Adds consumed offsets to the transaction: they are committed for
    /// `group` if and only if the transaction commits (consume-transform-produce).
    ///
    /// Still failing retriably at `max.block.ms` (a coordinator loading or
    /// moving, CONCURRENT_TRANSACTIONS), it returns
    /// [`ProduceError::BlockTimeout`] and the transaction stays open: the
    /// offsets may or may not have been added, so call it again (records may
    /// still be sent meanwhile) or abort; commit_transaction refuses until a
    /// repeat succeeds. Java's sendOffsetsToTransaction behaves the same.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), ProduceError> {
        let (id, identity) = self.in_transaction("send_offsets_to_transaction")?;
        let result = transaction::send_offsets(&self.inner.client, &id, identity, offsets, group, self.deadline()).await;
        match result {
            Ok(()) => {
                if let Some(txn) = self.inner.lock().txn.as_mut() {
                    txn.offsets_sent = true;
                    txn.offsets_pending = false;
                }
                Ok(())
            }
            Err(ProduceError::Client(e)) if e.is_retriable() => {
                debug!(error = %e, "send_offsets_to_transaction: still failing at max.block.ms; it may be called again");
                if let Some(txn) = self.inner.lock().txn.as_mut() {
                    // AddOffsetsToTxn may have reached the coordinator: the
                    // transaction must be ended (EndTxn) either way.
                    txn.offsets_sent = true;
                    txn.offsets_pending = true;
                }
                Err(ProduceError::BlockTimeout {
                    waited: self.inner.config.max_block,
                    what: "the coordinators to add the offsets to the transaction (AddOffsetsToTxn, TxnOffsetCommit)",
                })
            }
            Err(e) => {
                self.fail_transaction(&e);
                Err(e)
            }
        }
    }

    /// Delivers every record of the transaction, then commits it. Waits up
    /// to `max.block.ms` for each: for the records, as Java's
    /// commitTransaction does (they go on being sent: call it again), and for
    /// the commit; on [`ProduceError::BlockTimeout`] from EndTxn the commit
    /// may still complete: call it again (nothing else is allowed).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn commit_transaction(&self) -> Result<(), ProduceError> {
        self.to_end("commit_transaction", true)?;
        if self.inner.lock().txn.as_ref().is_some_and(|t| t.offsets_pending) {
            return Err(ProduceError::InvalidState {
                operation: "commit_transaction",
                state: "the last send_offsets_to_transaction() timed out and may not have added the offsets \
                        (call it again, or abort_transaction())"
                    .into(),
            });
        }
        // The records' own bound is delivery.timeout.ms; the caller's is max.block.ms.
        match tokio::time::timeout(self.inner.config.max_block, self.flush()).await {
            Ok(flushed) => flushed?,
            Err(_) => {
                return Err(ProduceError::BlockTimeout {
                    waited: self.inner.config.max_block,
                    what: "the transaction's records to be delivered before the commit",
                })
            }
        }
        let (id, identity) = self.to_end("commit_transaction", true)?;
        let needs_end = self.inner.lock().txn.as_ref().is_some_and(|t| !t.partitions.is_empty() || t.offsets_sent);
        if needs_end {
            if let Err(e) = transaction::end_txn(&self.inner.client, &id, identity, true, self.deadline()).await {
                return Err(self.end_failed(e, true));
            }
        }
        if let Some(txn) = self.inner.lock().txn.as_mut() {
            txn.finish();
        }
        Ok(())
    }

    /// Aborts the transaction (after a [`ProduceError::BlockTimeout`], call
    /// it again: the abort may still complete): records not sent yet fail with
    /// [`ProduceError::TransactionAborted`]; those written are marked
    /// aborted and stay invisible to `read_committed` consumers.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn abort_transaction(&self) -> Result<(), ProduceError> {
        let id = self.transactional_id("abort_transaction")?;
        {
            let mut state = self.inner.lock();
            match state.txn.as_ref().map(|t| &t.phase) {
                Some(TxnPhase::InTransaction | TxnPhase::Abortable(_) | TxnPhase::Ending { commit: false }) => {}
                Some(TxnPhase::Fatal(e)) => return Err(e.clone()),
                Some(other) => return Err(ProduceError::InvalidState { operation: "abort_transaction", state: other.describe() }),
                None => return Err(ProduceError::Closed),
            }
            let unsent = state.accumulator.remove_where(|_| true);
            for batch in unsent {
                // A batch that was sent before and is waiting to be retried leaves a sequence gap.
                state.bump_needed |= batch.sequenced.is_some();
                self.inner.stats.failed(batch.record_count());
                batch.fail(ProduceError::TransactionAborted);
            }
        }
        self.inner.progress.notify_waiters();
        self.flush().await?;
        let (identity, needs_end, bump) = {
            let state = self.inner.lock();
            let needs_end = state.txn.as_ref().is_some_and(|t| !t.partitions.is_empty() || t.offsets_sent);
            (state.identity, needs_end, state.bump_needed)
        };
        if needs_end {
            if let Err(e) = transaction::end_txn(&self.inner.client, &id, identity, false, self.deadline()).await {
                return Err(self.end_failed(e, false));
            }
        }
        if bump {
            // KIP-360: a transactional producer whose sequences broke bumps its epoch after the abort.
            let timeout = self.inner.config.transaction_timeout;
            match transaction::init_producer_id(&self.inner.client, Some(&id), timeout, identity, self.deadline()).await {
                Ok(new) => {
                    let mut state = self.inner.lock();
                    state.identity = new;
                    state.sequences.reset();
                    state.bump_needed = false;
                    self.inner.stats.epoch_bump();
                }
                Err(e) => {
                    self.fail_transaction(&e);
                    return Err(e);
                }
            }
        }
        if let Some(txn) = self.inner.lock().txn.as_mut() {
            txn.finish();
        }
        Ok(())
    }
}

/// An explicit partition must exist.
fn check_partition(record: &ProducerRecord, partitions: usize) -> Result<(), ProduceError> {
    match record.partition {
        Some(p) if usize::try_from(p).map_or(true, |p| p >= partitions) => {
            Err(ProduceError::UnknownPartition { topic: record.topic.clone(), partition: Some(p), partitions })
        }
        _ => Ok(()),
    }
}

fn memory_error(e: ReserveError) -> ProduceError {
    match e {
        ReserveError::LargerThanBudget { bytes, budget_bytes } => {
            ProduceError::RecordTooLarge { size_bytes: bytes, limit_bytes: budget_bytes, limit_key: "buffer.memory" }
        }
        ReserveError::Timeout { waited, .. } => ProduceError::BlockTimeout { waited, what: "buffer memory (buffer.memory)" },
    }
}

/// Picks the record's partition and appends it to that partition's
/// batches, under the producer's lock. Returns its delivery, and whether
/// the sender should look at the batches now (a batch started or filled).
fn append(
    state: &mut State,
    mut record: ProducerRecord,
    partitions: usize,
    available: &[i32],
    reservation: RecordReservation<'_>,
    timestamp: i64,
    size: usize,
) -> Result<(Delivery, bool), ProduceError> {
    let sticky = record.partition.is_none() && record.key.is_none();
    let partition = match (record.partition, &record.key) {
        (Some(p), _) => p,
        (None, Some(key)) => partitioner::partition_for_key(key, partitions),
        (None, None) => state.partitioner.partition(&record.topic, partitions, available, &mut state.partitioner_rng),
    };
    // The record's topic moves into the partition's key (no copy per record).
    let tp = TopicPartition::new(std::mem::take(&mut record.topic), partition);
    let appended = state.accumulator.append(&tp, record, timestamp, reservation, Instant::now)?;
    if sticky {
        state.partitioner.record_appended(&tp.topic, partition, size, partitions, available, &mut state.partitioner_rng);
    }
    Ok((appended.delivery, appended.new_batch || appended.batch_full))
}

#[cfg(test)]
mod tests;

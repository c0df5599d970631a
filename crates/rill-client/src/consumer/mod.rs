//! The consumer: manual assignment, seeks, and fetching (this module);
//! consumer groups build on it in [`group`] (classic protocol: coordinator,
//! membership, assignors, rebalance callbacks and offset commits).
//!
//! ```no_run
//! use std::time::Duration;
//! use rill_client::{Client, ClientConfig};
//! use rill_client::consumer::{Consumer, Offset, TopicPartition};
//!
//! # async fn demo() -> Result<(), rill_client::Error> {
//! let config = ClientConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("isolation.level", "read_committed"),
//!     ("fetch.buffer.max.bytes", "67108864"),
//! ])?;
//! let client = Client::connect(config).await?;
//! let consumer = Consumer::from_client(client.clone())?;
//! let tp = TopicPartition::new("events", 0);
//! consumer.assign(&[tp.clone()])?;
//! consumer.seek(&tp, Offset::Beginning).await?;
//! loop {
//!     let records = consumer.poll(Duration::from_secs(1)).await?;
//!     if records.is_empty() { break; }
//!     for r in &records { println!("{}@{}: {:?}", r.partition, r.offset, r.value); }
//! }
//! println!("lag {:?}", consumer.lag(&tp));
//! consumer.close(Duration::from_secs(5)).await;
//! # Ok(())
//! # }
//! ```
//!
//! Group subscription (a topic list or a regex; `group.id` names the group)
//! turns a consumer into a [`GroupConsumer`](group::GroupConsumer), whose
//! partitions come from the group and which commits what it handed out:
//!
//! ```no_run
//! use std::time::Duration;
//! use rill_client::{Client, ClientConfig};
//! use rill_client::consumer::Consumer;
//! use rill_client::consumer::group::Subscription;
//!
//! # async fn demo() -> Result<(), rill_client::Error> {
//! let config = ClientConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "billing"),
//!     ("enable.auto.commit", "false"),
//!     ("metadata.max.age.ms", "30000"), // how soon new topics matching the pattern are picked up
//! ])?;
//! let client = Client::connect(config).await?;
//! // Or Subscription::topics(["orders", "refunds"]).
//! let consumer = Consumer::from_client(client)?.subscribe(Subscription::pattern("orders-.*")?)?;
//! loop {
//!     let records = consumer.poll(Duration::from_secs(1)).await?;
//!     for r in &records { println!("{}-{}@{}", r.topic, r.partition, r.offset); }
//!     consumer.commit_consumed().await?; // commit after processing
//! }
//! # }
//! ```
//!
//! Files: [`record`] (what is handed out), [`state`] (positions, buffers,
//! the byte budget), [`fetcher`] (one task per leader broker),
//! [`session`] (KIP-227 fetch sessions), [`decode`] (records, the
//! read_committed filter), [`manager`] (leaders, offset resets, KIP-320
//! validation).
//!
//! Memory: records fetched and not yet returned by [`Consumer::poll`] count
//! against `fetch.buffer.max.bytes`; while it is used up nothing is fetched,
//! so a slow application slows fetching instead of growing memory. A fetch
//! asks for at most what is left of the budget; the broker may still return
//! one record batch larger than that (KIP-74), so the buffer can exceed the
//! budget by at most one batch (`max.message.bytes`, decompressed).

mod chunk_pool;
mod decode;
mod fetcher;
pub mod group;
mod manager;
pub mod record;
mod record_queue;
mod session;
pub mod state;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rill_protocol::compression::BufferPool;
use rill_protocol::records::DecodeOptions;
use tokio::sync::watch;
use tokio::time::Instant;

pub use group::TopicPartition;
pub use record::{ConsumerRecord, Offset, Position};
pub use state::FetchCounters;

use self::group::{GroupConsumer, NoopListener, RebalanceListener, Subscription};
use self::state::{PartitionState, Phase, ResetTarget, State};
use crate::backoff::Rng;
use crate::client::Client;
use crate::config::{ConfigError, ConsumerConfig, IsolationLevel};
use crate::error::{Error, Result};

/// State shared by the handle and the background tasks.
pub(crate) struct Shared {
    pub client: Client,
    pub config: ConsumerConfig,
    state: Mutex<State>,
    /// Bumped on every change a task or `poll` may wait for.
    pub changed: watch::Sender<u64>,
    rng: Mutex<Rng>,
    /// What fetch answers are decoded with: CRC checks per `check.crcs`,
    /// compressed batches decompressed into reused buffers.
    pub decode_options: DecodeOptions,
    /// Record chunks emptied by polls, decoded into again.
    pub chunks: chunk_pool::ChunkPool,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn rng(&self) -> MutexGuard<'_, Rng> {
        self.rng.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// One partition in [`ConsumerStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionStats {
    /// The application's position (`None` until known).
    pub position: Option<i64>,
    /// Where the next fetch starts.
    pub fetch_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// High watermark (last stable offset under read_committed) minus position.
    pub lag: Option<i64>,
    pub buffered_records: usize,
    pub buffered_bytes: usize,
    pub paused: bool,
    pub leader: Option<i32>,
    pub leader_epoch: i32,
}

/// A snapshot of the consumer's fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Bytes of records buffered now (counted against `fetch.buffer.max.bytes`).
    pub buffered_bytes: usize,
    /// The most that has been buffered at once.
    pub peak_buffered_bytes: usize,
    /// `fetch.buffer.max.bytes`.
    pub budget_bytes: usize,
    /// Bytes of fetch responses in memory that count against the budget:
    /// those records are buffered from, and those the last poll's records
    /// came from (uncompressed records are slices of their response).
    pub response_bytes: usize,
    /// Bytes set aside for the answers of fetches in flight.
    pub reserved_bytes: usize,
    /// Memory the client keeps mapped, idle, to read later large responses
    /// into (counted in the budget as responses; see `MapPool`).
    pub idle_response_map_bytes: usize,
    pub counters: FetchCounters,
    pub partitions: BTreeMap<TopicPartition, PartitionStats>,
}

/// A Kafka consumer: manual assignment, seeks, pause/resume, and poll.
/// Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Consumer {
    shared: Arc<Shared>,
    manager: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer on `client` with the consumer settings of its config.
    pub fn from_client(client: Client) -> Result<Consumer> {
        let config = client.config().consumer.clone();
        Consumer::with_config(client, config)
    }

    /// A consumer on `client` with `config`.
    pub async fn new(client: Client, config: ConsumerConfig) -> Result<Consumer> {
        Consumer::with_config(client, config)
    }

    fn with_config(client: Client, config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        // Its own stream of the client's seed: reproducible, independent of the client's draws.
        let seed = client.config().rng_seed.map_or_else(Rng::os_seed, |s| s ^ 0x636f_6e73_756d_6572);
        let state = State { budget: state::Budget::new(config.fetch_buffer_max_bytes), ..State::default() };
        let (changed, _) = watch::channel(0);
        // Decompressed batches go back to the pool when the application drops
        // their records; it keeps up to the buffer budget idle, memory the
        // consumer may fill with buffered records anyway.
        let decode_options =
            DecodeOptions::default().with_verify_crc(config.check_crcs).with_buffers(BufferPool::new(config.fetch_buffer_max_bytes / 4));
        // Emptied record chunks likewise, up to an eighth of the budget.
        let chunks = chunk_pool::ChunkPool::new(config.fetch_buffer_max_bytes / 8 / record::RECORD_OVERHEAD);
        let shared =
            Arc::new(Shared { client, config, state: Mutex::new(state), changed, rng: Mutex::new(Rng::new(seed)), decode_options, chunks });
        let manager = tokio::spawn(manager::run(shared.clone()));
        Ok(Consumer { shared, manager: Mutex::new(Some(manager)) })
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.shared.config
    }

    /// Joins the consumer group `group.id` with `subscription` (a topic
    /// list, or a regex whose matching topics are looked up again every
    /// `metadata.max.age.ms`; a new match makes the member rejoin). The
    /// consumer's partitions then come from the group. A consumer with a
    /// manual assignment cannot subscribe (as in Java, the two exclude each
    /// other): `assign(&[])` first.
    pub fn subscribe(self, subscription: Subscription) -> Result<GroupConsumer> {
        self.subscribe_with_listener(subscription, Arc::new(NoopListener))
    }

    /// [`subscribe`](Self::subscribe) with a rebalance listener, which runs
    /// before partitions change hands (see [`group::callbacks`]).
    pub fn subscribe_with_listener(self, subscription: Subscription, listener: Arc<dyn RebalanceListener>) -> Result<GroupConsumer> {
        let assigned = self.shared.lock().partitions.len();
        if assigned > 0 {
            return Err(Error::Config(ConfigError::Conflict {
                message: format!(
                    "subscribe() on a consumer with a manual assignment of {assigned} partitions: \
                     subscription and assign() exclude each other; call assign(&[]) first"
                ),
            }));
        }
        GroupConsumer::join(Arc::new(self), subscription, listener)
    }

    /// Assigns exactly `partitions` (manual assignment, no group): new ones
    /// start per `auto.offset.reset` (or where [`seek`](Self::seek) puts
    /// them), ones not listed are dropped with their buffered records.
    pub fn assign(&self, partitions: &[TopicPartition]) -> Result<()> {
        let starts = partitions.iter().map(|tp| (tp.clone(), None)).collect();
        self.set_assignment(starts)
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.lock().partitions.keys().cloned().collect()
    }

    /// Replaces the assignment. Partitions already assigned keep their
    /// position and buffer; new ones start at the given position, or per
    /// `auto.offset.reset` when `None`.
    ///
    /// For the group layer: a rebalance hands the new assignment with the
    /// committed positions (a committed leader epoch is validated against
    /// the leader first, KIP-320).
    pub(crate) fn set_assignment(&self, partitions: BTreeMap<TopicPartition, Option<Position>>) -> Result<()> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(Error::Closed);
        }
        let removed: Vec<TopicPartition> = state.partitions.keys().filter(|tp| !partitions.contains_key(*tp)).cloned().collect();
        let mut freed = 0;
        for tp in removed {
            if let Some(mut p) = state.partitions.remove(&tp) {
                freed += p.clear_buffer();
            }
        }
        state.budget.release(freed);
        drop(state);
        self.add_partitions(partitions.into_iter().collect())
    }

    /// Adds partitions (incremental assignment, KIP-429) at the given
    /// positions (`None`: per `auto.offset.reset`); already assigned ones
    /// are moved to the given position when it is `Some`.
    pub(crate) fn add_partitions(&self, partitions: Vec<(TopicPartition, Option<Position>)>) -> Result<()> {
        let policy = self.shared.config.auto_offset_reset;
        let mut state = self.shared.lock();
        if state.closed {
            return Err(Error::Closed);
        }
        let mut freed = 0;
        for (tp, start) in partitions {
            match state.partitions.get_mut(&tp) {
                Some(p) => {
                    if let Some(position) = start {
                        freed += p.seek_to(position, position.leader_epoch.is_none());
                    }
                }
                None => {
                    let p = PartitionState::new(state.topic_name(&tp), start, policy, &tp);
                    state.partitions.insert(tp, p);
                }
            }
        }
        state.budget.release(freed);
        drop(state);
        self.shared.notify();
        Ok(())
    }

    /// Adds partitions (not yet assigned) that wait for their committed
    /// offsets: they are neither fetched nor reset until
    /// [`Consumer::start_awaiting`] gives their starts. Returns the lookup's
    /// number, which only that lookup's answer may use.
    pub(crate) fn add_partitions_awaiting(&self, partitions: &[TopicPartition]) -> Result<u64> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(Error::Closed);
        }
        state.last_lookup += 1;
        let lookup = state.last_lookup;
        for tp in partitions {
            if state.partitions.contains_key(tp) {
                continue;
            }
            let p = PartitionState::awaiting_committed(state.topic_name(tp), lookup);
            state.partitions.insert(tp.clone(), p);
        }
        Ok(lookup)
    }

    /// The partitions still waiting for lookup `lookup` (none once the
    /// consumer is closed, or the partitions were revoked, sought or reassigned).
    pub(crate) fn awaiting(&self, lookup: u64) -> Vec<TopicPartition> {
        let state = self.shared.lock();
        if state.closed {
            return Vec::new();
        }
        state.partitions.iter().filter(|(_, p)| p.phase == Phase::AwaitingCommitted(lookup)).map(|(tp, _)| tp.clone()).collect()
    }

    /// Starts the partitions still waiting for lookup `lookup`: at the
    /// committed position, per `auto.offset.reset` without one (`None`), or
    /// failed with `error` for the application's next poll.
    pub(crate) fn start_awaiting(&self, lookup: u64, starts: std::result::Result<BTreeMap<TopicPartition, Option<Position>>, Error>) {
        let policy = self.shared.config.auto_offset_reset;
        let mut state = self.shared.lock();
        for (tp, p) in state.partitions.iter_mut().filter(|(_, p)| p.phase == Phase::AwaitingCommitted(lookup)) {
            match &starts {
                Ok(offsets) => match offsets.get(tp).copied().flatten() {
                    Some(position) => {
                        p.seek_to(position, position.leader_epoch.is_none());
                    }
                    None => {
                        p.reset_per_policy(policy, tp, None);
                    }
                },
                Err(e) => {
                    p.phase = Phase::Failed;
                    p.error = Some(e.clone());
                }
            }
        }
        drop(state);
        self.shared.notify();
    }

    // Used by the group layer (rebalances); until it lands, by the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    /// Removes partitions (revoked or lost) and drops their buffered records.
    /// Returns the positions they had (for a final commit).
    pub(crate) fn remove_partitions(&self, partitions: &[TopicPartition]) -> BTreeMap<TopicPartition, Position> {
        let mut state = self.shared.lock();
        let mut freed = 0;
        let mut positions = BTreeMap::new();
        for tp in partitions {
            if let Some(mut p) = state.partitions.remove(tp) {
                if let Some(position) = p.position() {
                    positions.insert(tp.clone(), position);
                }
                freed += p.clear_buffer();
            }
        }
        state.budget.release(freed);
        drop(state);
        self.shared.notify();
        positions
    }

    #[cfg_attr(not(test), allow(dead_code))]
    /// The positions of every assigned partition that has one: the offset
    /// after the last record handed out by [`poll`](Self::poll), with that
    /// record's leader epoch. For the group layer: these are what may be
    /// committed (never an offset the application has not been given).
    pub(crate) fn consumed_positions(&self) -> BTreeMap<TopicPartition, Position> {
        self.shared.lock().partitions.iter().filter_map(|(tp, p)| Some((tp.clone(), p.position()?))).collect()
    }

    /// Takes back records a poll had taken out for the group layer: each
    /// still-assigned partition's position moves back to `firsts` (the
    /// first record taken, with its leader epoch), its buffer dropped, so
    /// the records are fetched and handed out again.
    pub(crate) fn give_back(&self, firsts: BTreeMap<TopicPartition, Position>) {
        let mut state = self.shared.lock();
        let State { partitions, budget, .. } = &mut *state;
        for (tp, position) in firsts {
            if let Some(p) = partitions.get_mut(&tp) {
                // Trusted: the epoch is of a record this leader's log served.
                budget.release(p.seek_to(position, true));
            }
        }
        drop(state);
        self.shared.notify();
    }

    /// Moves a partition's position. `Beginning`, `End` and `Timestamp` are
    /// looked up on the leader now (ListOffsets; `End` is the last stable
    /// offset under read_committed); buffered records are dropped.
    pub async fn seek(&self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        self.seek_all(&[(tp.clone(), offset)]).await
    }

    /// Moves several partitions' positions at once, as Java's
    /// `seekToBeginning(Collection)` and `seekToEnd(Collection)` do: the
    /// lookups of every `Beginning`, `End` and `Timestamp` go out together,
    /// one ListOffsets per leader (seeking partitions one by one waits for
    /// each lookup in turn, behind the fetches of those seeked before). No
    /// partition moves unless every partition is assigned and every lookup
    /// succeeded; the first error is returned.
    pub async fn seek_all(&self, seeks: &[(TopicPartition, Offset)]) -> Result<()> {
        let not_assigned = |tp: &TopicPartition| Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition };
        let generations: Vec<u64> = {
            let state = self.shared.lock();
            seeks
                .iter()
                .map(|(tp, _)| state.partitions.get(tp).map(|p| p.generation).ok_or_else(|| not_assigned(tp)))
                .collect::<Result<_>>()?
        };
        let targets: Vec<(TopicPartition, ResetTarget)> = seeks
            .iter()
            .filter_map(|(tp, offset)| match offset {
                Offset::At(_) => None,
                Offset::Beginning => Some((tp.clone(), ResetTarget::Earliest)),
                Offset::End => Some((tp.clone(), ResetTarget::Latest)),
                Offset::Timestamp(ms) => Some((tp.clone(), ResetTarget::Timestamp(*ms))),
            })
            .collect();
        let mut found = if targets.is_empty() { BTreeMap::new() } else { manager::lookup(&self.shared, &targets).await? };
        let mut positions = Vec::with_capacity(seeks.len());
        for (tp, offset) in seeks {
            let position = match offset {
                Offset::At(n) => Position::new(*n, None),
                _ => found.remove(tp).unwrap_or_else(|| Err(not_assigned(tp)))?,
            };
            positions.push(position);
        }
        let mut state = self.shared.lock();
        let State { partitions, budget, counters, .. } = &mut *state;
        if let Some((tp, _)) = seeks.iter().find(|(tp, _)| !partitions.contains_key(tp)) {
            return Err(not_assigned(tp));
        }
        for (((tp, offset), position), generation) in seeks.iter().zip(positions).zip(generations) {
            let Some(p) = partitions.get_mut(tp) else { continue };
            if p.generation != generation {
                // Another seek or reset won the race; the later call decides.
                tracing::debug!(partition = %tp, "seek raced with another position change");
            }
            if !matches!(offset, Offset::At(_)) {
                counters.offset_resets += 1;
            }
            // Every position here is trusted: from the current leader, or given without an epoch.
            let freed = p.seek_to(position, true);
            budget.release(freed);
        }
        drop(state);
        self.shared.notify();
        Ok(())
    }

    /// Up to `max.poll.records` records, waiting up to `timeout` for the
    /// first. An error of a partition (offset out of range or truncation
    /// with `auto.offset.reset=none`, no position, a broker refusal) is
    /// returned once, by the next poll; so is a failure to authenticate
    /// while fetching ([`Error::is_auth_failure`]: SASL or TLS refused, no
    /// OAUTHBEARER token), each time it recurs, while fetching is retried.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.shared.changed.subscribe();
        // Before the first look at `changes`: the release wakes the fetchers through it.
        self.shared.lock().poll_started();
        loop {
            changes.borrow_and_update();
            {
                let mut state = self.shared.lock();
                if let Some(e) = state.take_error() {
                    return Err(e);
                }
                let records = state.take_records(self.shared.config.max_poll_records);
                if !records.is_empty() {
                    drop(state);
                    // Budget freed: fetchers may go on.
                    self.shared.notify();
                    return Ok(records);
                }
                if state.closed {
                    return Err(Error::Closed);
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return Err(Error::Closed) },
                _ = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
            }
        }
    }

    /// Stops returning and fetching records of these partitions (their
    /// buffered records are kept for [`resume`](Self::resume)).
    pub fn pause(&self, partitions: &[TopicPartition]) {
        self.set_paused(partitions, true);
    }

    pub fn resume(&self, partitions: &[TopicPartition]) {
        self.set_paused(partitions, false);
    }

    fn set_paused(&self, partitions: &[TopicPartition], paused: bool) {
        let mut state = self.shared.lock();
        for tp in partitions {
            if let Some(p) = state.partitions.get_mut(tp) {
                p.paused = paused;
            }
        }
        drop(state);
        self.shared.notify();
    }

    pub fn paused(&self) -> Vec<TopicPartition> {
        self.shared.lock().partitions.iter().filter(|(_, p)| p.paused).map(|(tp, _)| tp.clone()).collect()
    }

    /// The next offset [`poll`](Self::poll) returns for `tp` (`None`:
    /// not assigned or not known yet).
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.shared.lock().partitions.get(tp)?.position().map(|p| p.offset)
    }

    /// High watermark (last stable offset under read_committed) minus the
    /// position, as of the last fetch.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let read_committed = self.shared.config.isolation_level == IsolationLevel::ReadCommitted;
        self.shared.lock().partitions.get(tp)?.lag(read_committed)
    }

    pub fn stats(&self) -> ConsumerStats {
        let read_committed = self.shared.config.isolation_level == IsolationLevel::ReadCommitted;
        let state = self.shared.lock();
        ConsumerStats {
            buffered_bytes: state.budget.used,
            peak_buffered_bytes: state.budget.peak,
            budget_bytes: state.budget.limit,
            response_bytes: state.responses_live.load(std::sync::atomic::Ordering::Acquire),
            reserved_bytes: state.budget.reserved,
            idle_response_map_bytes: self.shared.client.response_maps().idle_bytes(),
            counters: state.counters,
            partitions: state
                .partitions
                .iter()
                .map(|(tp, p)| {
                    let stats = PartitionStats {
                        position: p.position().map(|p| p.offset),
                        fetch_offset: p.fetch.offset,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                        lag: p.lag(read_committed),
                        buffered_records: p.buffer.len(),
                        buffered_bytes: p.buffered_bytes,
                        paused: p.paused,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                    };
                    (tp.clone(), stats)
                })
                .collect(),
        }
    }

    /// Whether a partition is fetching (has a position, no pending lookup or error).
    pub fn is_fetching(&self, tp: &TopicPartition) -> bool {
        self.shared.lock().partitions.get(tp).is_some_and(|p| p.phase == Phase::Fetching)
    }

    /// Stops the background tasks; returns within `timeout` (tasks still
    /// busy then, e.g. on an unreachable broker, are cancelled).
    pub async fn close(&self, timeout: Duration) {
        self.shared.lock().closed = true;
        self.shared.notify();
        let manager = self.manager.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(manager) = manager {
            let abort = manager.abort_handle();
            if tokio::time::timeout(timeout, manager).await.is_err() {
                abort.abort();
            }
        }
        let fetchers: Vec<_> = std::mem::take(&mut self.shared.lock().fetchers).into_values().collect();
        for fetcher in fetchers {
            fetcher.abort();
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.notify();
        if let Some(manager) = self.manager.lock().unwrap_or_else(|p| p.into_inner()).take() {
            manager.abort();
        }
        for fetcher in std::mem::take(&mut self.shared.lock().fetchers).into_values() {
            fetcher.abort();
        }
    }
}

#[cfg(test)]
mod tests;

//! The consumer's shared state: one [`PartitionState`] per assigned
//! partition (position, buffered records, leader, watermarks, pause) and the
//! byte [`Budget`] for buffered records. Behind one mutex that is never
//! held across an `.await`.
//!
//! Positions: `fetch` is where the next fetch starts; the records between
//! the application's position and `fetch` sit in `buffer`. The position
//! the application sees (and commits) is the first buffered record's
//! offset, or `fetch` when nothing is buffered.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rill_protocol::Uuid;
use tokio::time::Instant;
use tracing::warn;

use super::record::{ConsumerRecord, Position, TopicPartition};
use super::record_queue::RecordQueue;
use crate::config::AutoOffsetReset;
use crate::error::Error;

/// Where a partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Assigned by the group, its committed offset not known yet (the
    /// group's OffsetFetch failed and is being retried as the numbered lookup):
    /// neither fetched nor reset, so a coordinator that cannot be reached
    /// never makes the partition start per `auto.offset.reset` while a
    /// commit exists (that would repeat or skip records).
    AwaitingCommitted(u64),
    /// Waiting for an offset lookup (ListOffsets) to `target`.
    Resetting(ResetTarget),
    /// Fetching from `fetch`.
    Fetching,
    /// Stopped with an error the application was given; a seek restarts it.
    Failed,
}

/// The offset a reset looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetTarget {
    Earliest,
    Latest,
    Timestamp(i64),
}

#[derive(Debug)]
pub(crate) struct PartitionState {
    pub topic: Arc<str>,
    pub phase: Phase,
    /// Next offset to fetch, with the leader epoch of the last fetched batch.
    pub fetch: Position,
    /// Records fetched and not yet handed out, in offset order.
    pub buffer: RecordQueue,
    /// The responses buffered records came from, each with the last offset
    /// buffered from it, in offset order: a response stays charged against
    /// the budget while any partition holds one of its records.
    pub responses: VecDeque<(i64, Arc<ResponseCharge>)>,
    pub buffered_bytes: usize,
    /// Epoch of the last record handed out (the position's epoch while records are buffered).
    pub consumed_epoch: Option<i32>,
    /// Bumped by every seek, reset and truncation: a response to a fetch
    /// made before it is dropped.
    pub generation: u64,
    pub paused: bool,
    /// The leader's node id, from the metadata (`None`: to be looked up).
    pub leader: Option<i32>,
    /// The leader epoch from the metadata (-1: unknown).
    pub leader_epoch: i32,
    /// The topic id from the metadata (`Uuid::ZERO`: unknown; Fetch v13+ needs it).
    pub topic_id: Uuid,
    /// The leader epoch went up since the fetch position was established:
    /// check it against the leader's log before fetching on (KIP-320).
    pub needs_validation: bool,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// No fetch or lookup before this instant (backoff after an error).
    pub retry_at: Option<Instant>,
    /// An error for the application's next poll.
    pub error: Option<Error>,
}

impl PartitionState {
    pub fn new(topic: Arc<str>, start: Option<Position>, policy: AutoOffsetReset, tp: &TopicPartition) -> Self {
        let mut state = PartitionState::unpositioned(topic, Phase::Fetching);
        match start {
            // A given start (a committed offset) is checked against the
            // leader when it carries an epoch.
            Some(position) => state.seek_to(position, position.leader_epoch.is_none()),
            None => state.reset_per_policy(policy, tp, None),
        };
        state
    }

    /// A partition waiting for its committed offset (lookup `lookup`).
    pub fn awaiting_committed(topic: Arc<str>, lookup: u64) -> Self {
        PartitionState::unpositioned(topic, Phase::AwaitingCommitted(lookup))
    }

    /// A partition in `phase` with no position, nothing buffered and its leader unknown.
    fn unpositioned(topic: Arc<str>, phase: Phase) -> Self {
        PartitionState {
            topic,
            phase,
            fetch: Position::new(-1, None),
            buffer: RecordQueue::default(),
            responses: VecDeque::new(),
            buffered_bytes: 0,
            consumed_epoch: None,
            generation: 0,
            paused: false,
            leader: None,
            leader_epoch: -1,
            topic_id: Uuid::ZERO,
            needs_validation: false,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            retry_at: None,
            error: None,
        }
    }

    /// The position the application is at (next record it will get).
    pub fn position(&self) -> Option<Position> {
        if self.fetch.offset < 0 {
            return None;
        }
        Some(match self.buffer.front() {
            Some(r) => Position::new(r.offset, self.consumed_epoch.or(r.leader_epoch)),
            None => self.fetch,
        })
    }

    /// Moves to `position`: buffered records are dropped (the caller
    /// releases their bytes from the budget). `trusted`: the position came
    /// from the current leader (ListOffsets) or has no epoch to check;
    /// otherwise it is validated first (KIP-320).
    pub fn seek_to(&mut self, position: Position, trusted: bool) -> usize {
        let freed = self.clear_buffer();
        self.fetch = position;
        self.consumed_epoch = position.leader_epoch;
        self.generation += 1;
        self.phase = Phase::Fetching;
        self.error = None;
        self.retry_at = None;
        self.needs_validation = !trusted && position.leader_epoch.is_some();
        freed
    }

    /// Drops the buffered records; returns their bytes.
    pub fn clear_buffer(&mut self) -> usize {
        self.buffer.clear();
        self.responses.clear();
        std::mem::take(&mut self.buffered_bytes)
    }

    /// Moves into `out` the responses no buffered record comes from any more.
    pub fn release_responses(&mut self, out: &mut Vec<Arc<ResponseCharge>>) {
        let next = self.buffer.front().map(|r| r.offset);
        while self.responses.front().is_some_and(|(last, _)| next.is_none_or(|n| *last < n)) {
            out.extend(self.responses.pop_front().map(|(_, charge)| charge));
        }
    }

    /// Starts the reset `auto.offset.reset` asks for, or fails with `error`
    /// (or [`Error::NoOffset`]) when it is `none`. Returns the freed bytes.
    pub fn reset_per_policy(&mut self, policy: AutoOffsetReset, tp: &TopicPartition, error: Option<Error>) -> usize {
        let freed = self.clear_buffer();
        self.generation += 1;
        self.retry_at = None;
        match policy {
            AutoOffsetReset::Earliest => self.phase = Phase::Resetting(ResetTarget::Earliest),
            AutoOffsetReset::Latest => self.phase = Phase::Resetting(ResetTarget::Latest),
            AutoOffsetReset::None => {
                self.phase = Phase::Failed;
                self.error = Some(error.unwrap_or_else(|| Error::NoOffset { topic: tp.topic.clone(), partition: tp.partition }));
            }
        }
        freed
    }

    /// A truncation found at `divergent` (the first offset known to differ
    /// from what was fetched), or an unknown point when `None` (KIP-320).
    /// With a reset policy the fetch resumes at the divergence point (or is
    /// reset when it is unknown); with `none` the partition stops with
    /// [`Error::LogTruncation`]. Returns the freed bytes.
    pub fn truncated(&mut self, tp: &TopicPartition, divergent: Option<Position>, policy: AutoOffsetReset) -> usize {
        let fetched = self.fetch.offset;
        warn!(
            partition = %tp,
            fetch_offset = fetched,
            divergent_offset = divergent.map(|d| d.offset),
            policy = policy.name(),
            "log truncation detected: the leader's log diverges from what this consumer fetched"
        );
        let error = Error::LogTruncation {
            topic: tp.topic.clone(),
            partition: tp.partition,
            offset: fetched,
            divergent_offset: divergent.map(|d| d.offset),
        };
        match (divergent, policy) {
            (_, AutoOffsetReset::None) | (None, _) => self.reset_per_policy(policy, tp, Some(error)),
            (Some(divergent), _) => {
                // Keep the buffered records before the divergence point.
                let mut freed = 0;
                while self.buffer.back().is_some_and(|r| r.offset >= divergent.offset) {
                    if let Some(r) = self.buffer.pop_back() {
                        freed += r.retained_bytes();
                    }
                }
                self.buffered_bytes -= freed.min(self.buffered_bytes);
                self.fetch = divergent;
                self.generation += 1;
                self.phase = Phase::Fetching;
                self.needs_validation = false;
                freed
            }
        }
    }

    /// Lag: the end the consumer can read to (high watermark, or last stable
    /// offset under read_committed) minus the position.
    pub fn lag(&self, read_committed: bool) -> Option<i64> {
        let end = if read_committed { self.last_stable_offset } else { self.high_watermark };
        let position = self.position()?;
        (end >= 0).then(|| (end - position.offset).max(0))
    }
}

/// The byte budget for buffered records (`fetch.buffer.max.bytes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub limit: usize,
    /// Bytes of records in partition buffers.
    pub used: usize,
    /// Bytes promised to fetches in flight (their `max_bytes`).
    pub reserved: usize,
    /// The most `used` has been.
    pub peak: usize,
    /// Bytes of fetch responses still in memory (as of the last look at
    /// [`State::responses_live`]): uncompressed records are slices of their
    /// response, which stays whole until its last record is dropped, also
    /// after its other records were handed out and released from `used`.
    /// With them, the memory the client keeps mapped to read the next large
    /// responses into (`MapPool`, up to 16 MiB): left out, it came on top of
    /// the budget (consumer_memory: 62 MiB of responses and 13 MiB of idle
    /// maps resident at a 97 MiB peak, for a 64 MiB budget).
    pub responses: usize,
    /// Buffered bytes per fetched byte (record structs, decompression),
    /// measured on every response: a fetch asks for what is left of the
    /// budget divided by this. Starts at the worst case (empty records),
    /// then follows the data, decaying slowly from a high mark.
    pub expansion: f64,
}

/// [`Budget::expansion`] before anything was measured: a record with empty
/// key and value takes 7 bytes on the wire and a record struct here.
pub(crate) const INITIAL_EXPANSION: f64 = (super::record::RECORD_OVERHEAD + 7) as f64 / 7.0;

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget { limit, used: 0, reserved: 0, peak: 0, responses: 0, expansion: INITIAL_EXPANSION }
    }

    /// The wire bytes a fetch may ask for, and the buffer bytes to reserve for it.
    pub fn fetch_size(&self, cap: usize) -> (usize, usize) {
        let available = self.available();
        let wire = ((available as f64 / self.expansion.max(1.0)) as usize).clamp(1, cap.max(1));
        (wire, ((wire as f64 * self.expansion) as usize).min(available))
    }

    /// Learns from a response: `wire` bytes of records became `retained` buffered bytes.
    pub fn observe(&mut self, wire: usize, retained: usize) {
        if wire > 0 && retained > 0 {
            let ratio = retained as f64 / wire as f64;
            self.expansion = ratio.max(self.expansion * 0.9).max(1.0);
        }
    }

    /// What is left: the larger of the buffered records and the responses
    /// they keep in memory counts (records of compressed batches live in
    /// their own decompressed buffers, not in the response).
    pub fn available(&self) -> usize {
        self.limit.saturating_sub(self.used.max(self.responses).saturating_add(self.reserved))
    }

    pub fn charge(&mut self, bytes: usize) {
        self.used = self.used.saturating_add(bytes);
        self.peak = self.peak.max(self.used);
    }

    pub fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }
}

/// A fetch response in memory, counted in [`State::responses_live`] from
/// when it is applied until no partition buffers a record of it and the
/// poll that handed out its last records is followed by another. Records
/// of uncompressed batches are zero-copy slices of their response, which
/// stays whole in memory until the last of them is gone; releasing budget
/// record by record let the consumer hold about twice its budget in
/// half-consumed responses (seen by rill-e2e's consumer_memory test).
///
/// Why until the next poll ([`State::handed_out`]): while the application
/// works through a poll's records, they keep their responses in memory.
/// Released at once, their budget went to the next fetch, whose response
/// could arrive before the application was done: the consumer then held
/// its budget in fresh responses beside the ones the application still
/// read (one of the causes of a 100 MiB peak for a 64 MiB budget in
/// consumer_memory, on a loaded machine; idle response maps outside the
/// budget were the other). Records the application keeps after its next
/// poll are its own, as in the Java client.
#[derive(Debug)]
pub(crate) struct ResponseCharge {
    live: Arc<AtomicUsize>,
    bytes: usize,
    changed: tokio::sync::watch::Sender<u64>,
}

impl ResponseCharge {
    pub fn new(live: Arc<AtomicUsize>, bytes: usize, changed: tokio::sync::watch::Sender<u64>) -> Arc<Self> {
        live.fetch_add(bytes, Ordering::AcqRel);
        Arc::new(ResponseCharge { live, bytes, changed })
    }
}

impl Drop for ResponseCharge {
    fn drop(&mut self) {
        self.live.fetch_sub(self.bytes, Ordering::AcqRel);
        // Runs under the state lock: only the atomic and the watch channel
        // (wakes the fetchers), never the state mutex.
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Counters of the fetch machinery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounters {
    /// Fetch requests answered.
    pub fetch_requests: u64,
    /// Of those, full requests (new sessions, or after session errors).
    pub full_fetches: u64,
    /// Fetch session errors (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, ...).
    pub session_errors: u64,
    /// Fetches that failed as a whole (connection lost, timeout).
    pub fetch_failures: u64,
    /// Offset resets (auto.offset.reset, seeks to beginning / end / time).
    pub offset_resets: u64,
    /// Positions checked against a new leader epoch (KIP-320 OffsetForLeaderEpoch answers).
    pub validations: u64,
    /// Truncations detected (KIP-320).
    pub truncations: u64,
    /// Responses decoded in part: their records outgrew twice the budget
    /// held for the fetch, and the rest was fetched again (a broker
    /// ignoring `max_bytes`, or records expanding far more than before).
    pub cut_responses: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub partitions: BTreeMap<TopicPartition, PartitionState>,
    pub budget: Budget,
    pub counters: FetchCounters,
    /// One fetcher task per leader node.
    pub fetchers: BTreeMap<i32, tokio::task::JoinHandle<()>>,
    /// Where the next poll starts taking records (round robin over partitions).
    pub poll_cursor: Option<TopicPartition>,
    /// Bytes of fetch responses in memory, counted up when a response is
    /// applied and down when its last record is dropped (`fetcher::ResponseCharge`).
    pub responses_live: Arc<AtomicUsize>,
    /// The responses whose last records the latest poll handed out, charged
    /// until the next poll (see [`ResponseCharge`]).
    pub handed_out: Vec<Arc<ResponseCharge>>,
    /// The last committed-offset lookup number given out ([`Phase::AwaitingCommitted`]).
    pub last_lookup: u64,
    pub closed: bool,
}

impl State {
    /// `tp`'s topic name, shared with the partitions of that topic already held.
    pub fn topic_name(&self, tp: &TopicPartition) -> Arc<str> {
        self.partitions.iter().find(|(t, _)| t.topic == tp.topic).map_or_else(|| Arc::from(tp.topic.as_str()), |(_, p)| p.topic.clone())
    }

    /// The application polls again: the responses the last poll's records
    /// came from are no longer charged for them.
    pub fn poll_started(&mut self) {
        self.handed_out.clear();
    }

    /// Takes up to `max` records for the application, round robin over the
    /// partitions that are not paused, and releases their bytes.
    pub fn take_records(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let keys: Vec<TopicPartition> = {
            let start = self.poll_cursor.clone();
            let (after, before): (Vec<_>, Vec<_>) = self
                .partitions
                .iter()
                .filter(|(_, p)| !p.paused && !p.buffer.is_empty())
                .map(|(tp, _)| tp.clone())
                .partition(|tp| start.as_ref().is_none_or(|s| tp >= s));
            after.into_iter().chain(before).collect()
        };
        let buffered: usize = keys.iter().filter_map(|tp| self.partitions.get(tp)).map(|p| p.buffer.len()).sum();
        out.reserve(buffered.min(max));
        let mut freed = 0;
        let mut last = None;
        for tp in keys {
            if out.len() >= max {
                break;
            }
            let Some(p) = self.partitions.get_mut(&tp) else { continue };
            while out.len() < max {
                let Some(r) = p.buffer.pop_front() else { break };
                let bytes = r.retained_bytes();
                p.buffered_bytes = p.buffered_bytes.saturating_sub(bytes);
                freed += bytes;
                p.consumed_epoch = r.leader_epoch.or(p.consumed_epoch);
                out.push(r);
            }
            if p.buffer.is_empty() {
                p.consumed_epoch = p.fetch.leader_epoch.or(p.consumed_epoch);
            }
            p.release_responses(&mut self.handed_out);
            last = Some(tp);
        }
        // The next poll starts after the last partition served.
        if let Some(last) = last {
            self.poll_cursor = self.partitions.range(last..).nth(1).map(|(tp, _)| tp.clone());
        }
        self.budget.release(freed);
        out
    }

    /// The first pending partition error, taken.
    pub fn take_error(&mut self) -> Option<Error> {
        self.partitions.values_mut().find_map(|p| p.error.take())
    }
}

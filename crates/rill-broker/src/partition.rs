//! One partition replica on this broker: role, leader epoch, high
//! watermark, follower progress (when leading) and producer state; and the
//! operations on it that handlers and the follower fetcher share.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_protocol::ErrorCode;
use tokio::time::Instant;

use crate::broker::{Shared, State};
use crate::controller::PartitionState;
use crate::disk::{EpochEnd, TopicPartition};
use crate::log::{restamp, StoredBatch};
use crate::producer_state::{ProducerStates, SequenceCheck};
use crate::txn_index::{AbortedTxn, TxnIndex};

/// What the leader knows of one follower (from its fetches).
#[derive(Debug, Clone, Copy)]
pub struct FollowerProgress {
    pub log_end_offset: i64,
    /// The last time the follower had everything the leader had (Kafka's `lastCaughtUpTimeMs`).
    pub caught_up_at: Instant,
    last_fetch_at: Instant,
    leader_end_at_last_fetch: i64,
}

impl FollowerProgress {
    fn new(now: Instant) -> Self {
        FollowerProgress { log_end_offset: 0, caught_up_at: now, last_fetch_at: now, leader_end_at_last_fetch: i64::MAX }
    }
}

#[derive(Debug, Clone)]
pub struct Replica {
    pub is_leader: bool,
    /// The leader epoch this broker has applied (-1: none yet).
    pub epoch: i32,
    pub high_watermark: i64,
    pub followers: BTreeMap<i32, FollowerProgress>,
    pub producers: ProducerStates,
    /// Open and aborted transactions (last stable offset, aborted index).
    pub txns: TxnIndex,
}

/// Result of appending a produce request's batches for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    /// The offset after the last record: acks=all waits for the high watermark to reach it.
    pub required_offset: i64,
    pub leader_epoch: i32,
}

/// The leader's answer to a fetch of one partition, before shaping.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub diverging: Option<EpochEnd>,
    pub batches: Vec<StoredBatch>,
    /// read_committed: the aborted transactions overlapping `batches`.
    pub aborted: Vec<AbortedTxn>,
}

/// Who is fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetcher {
    Consumer { read_committed: bool },
    Follower(i32),
}

/// Checks a client's `current_leader_epoch` against ours (KIP-320): older is
/// FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH, -1 skips the check.
pub fn check_leader_epoch(current_leader_epoch: i32, ours: i32) -> ErrorCode {
    if current_leader_epoch < 0 || current_leader_epoch == ours {
        ErrorCode::NONE
    } else if current_leader_epoch < ours {
        ErrorCode::FENCED_LEADER_EPOCH
    } else {
        ErrorCode::UNKNOWN_LEADER_EPOCH
    }
}

impl Shared {
    /// Brings this broker's replica of `tp` in line with the controller's
    /// decision: becoming leader assigns the new epoch at the log end
    /// (KIP-101) and starts tracking followers; becoming follower stops that.
    pub(crate) fn sync<'a>(&self, state: &'a mut State, tp: &TopicPartition, ctrl: &PartitionState) -> &'a mut Replica {
        let me = self.me();
        let disk = &self.disk;
        let replica = state.replicas.entry(tp.clone()).or_insert_with(|| {
            let log = disk.batches(tp);
            Replica {
                is_leader: false,
                epoch: -1,
                high_watermark: 0,
                followers: BTreeMap::new(),
                producers: ProducerStates::from_log(&log),
                txns: TxnIndex::from_log(&log),
            }
        });
        let now = Instant::now();
        if ctrl.leader == me {
            if !replica.is_leader || replica.epoch != ctrl.leader_epoch {
                replica.is_leader = true;
                replica.epoch = ctrl.leader_epoch;
                if disk.latest_epoch(tp).is_none_or(|e| e < ctrl.leader_epoch) {
                    disk.assign_epoch(tp, ctrl.leader_epoch, disk.log_end_offset(tp));
                }
                replica.followers.clear();
                self.bump();
            }
            for r in &ctrl.replicas {
                if *r != me {
                    replica.followers.entry(*r).or_insert_with(|| FollowerProgress::new(now));
                }
            }
            replica.followers.retain(|id, _| ctrl.replicas.contains(id));
            self.advance_high_watermark(tp, replica, &ctrl.isr);
        } else if replica.is_leader || replica.epoch != ctrl.leader_epoch {
            replica.is_leader = false;
            replica.epoch = ctrl.leader_epoch;
            replica.followers.clear();
            self.bump();
        }
        replica
    }

    /// Leader: the high watermark is the smallest log end offset in the ISR; it never goes back.
    fn advance_high_watermark(&self, tp: &TopicPartition, replica: &mut Replica, isr: &[i32]) {
        let leo = self.disk.log_end_offset(tp);
        let me = self.me();
        let min = isr
            .iter()
            .map(|id| if *id == me { leo } else { replica.followers.get(id).map_or(0, |f| f.log_end_offset) })
            .min()
            .unwrap_or(leo);
        let hw = replica.high_watermark.max(min).min(leo);
        if hw != replica.high_watermark {
            replica.high_watermark = hw;
            self.bump();
        }
    }

    /// The controller's state of a partition, or UNKNOWN_TOPIC_OR_PARTITION.
    pub(crate) fn partition_state(&self, tp: &TopicPartition) -> Result<PartitionState, ErrorCode> {
        self.controller.partition(&tp.0, tp.1).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    }

    /// Leader: checks and appends a produce request's batches to one
    /// partition. `Ok` with the offsets (of the original batch for an
    /// idempotent retry), or the partition's error code.
    pub(crate) fn append_as_leader(&self, tp: &TopicPartition, batches: Vec<StoredBatch>, acks: i16) -> Result<Appended, ErrorCode> {
        let ctrl = self.partition_state(tp)?;
        let mut state = self.lock();
        let replica = self.sync(&mut state, tp, &ctrl);
        if !replica.is_leader {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        let min_isr = self.controller_config().min_insync_replicas;
        if acks == -1 && ctrl.isr.len() < min_isr {
            return Err(ErrorCode::NOT_ENOUGH_REPLICAS);
        }
        let bugs = self.bugs();
        // Idempotence (KIP-98): a request is all new, or one retried batch.
        if !bugs.ignore_sequence_numbers {
            let mut staged = replica.producers.of_writers(&batches);
            for b in &batches {
                match staged.check(b) {
                    SequenceCheck::Append => staged.observe(b),
                    SequenceCheck::Duplicate { base_offset, last_offset } if batches.len() == 1 => {
                        return Ok(Appended { base_offset, required_offset: last_offset + 1, leader_epoch: replica.epoch });
                    }
                    SequenceCheck::Duplicate { .. } => return Err(ErrorCode::DUPLICATE_SEQUENCE_NUMBER),
                    SequenceCheck::Reject(code) => return Err(code),
                }
            }
        }
        // Transaction markers (only WriteTxnMarkers writes control batches).
        for b in batches.iter().filter(|b| b.control) {
            replica.txns.check_marker(b)?;
        }
        let mut next = self.disk.log_end_offset(tp);
        let base_offset = next;
        let mut stamped = Vec::with_capacity(batches.len());
        for b in &batches {
            let s = restamp(b, next, replica.epoch);
            next = s.next_offset();
            replica.producers.observe(&s);
            replica.txns.observe(&s);
            stamped.push(s);
        }
        self.disk.append(tp, stamped);
        self.advance_high_watermark(tp, replica, &ctrl.isr);
        self.bump();
        Ok(Appended { base_offset, required_offset: next, leader_epoch: replica.epoch })
    }

    /// acks=all: waits until the high watermark covers `required_offset`
    /// while this broker still leads at `epoch`. Covered records are
    /// acknowledged only if the ISR still has `min.insync.replicas` members
    /// (Kafka's `Partition.checkEnoughReplicasReachOffset`): the ISR may
    /// shrink to the leader alone while the request waits, the high watermark
    /// then moves on the leader's copy only, and an acknowledgement would
    /// promise a durability that one unflushed crash takes back. The answer
    /// is then the retriable NOT_ENOUGH_REPLICAS_AFTER_APPEND (the records
    /// stay; an idempotent retry is deduplicated).
    pub(crate) async fn wait_for_high_watermark(
        &self,
        tp: &TopicPartition,
        required_offset: i64,
        epoch: i32,
        timeout: Duration,
    ) -> ErrorCode {
        if self.bugs().acks_all_before_isr {
            return ErrorCode::NONE;
        }
        let deadline = Instant::now() + timeout;
        let mut changes = self.subscribe();
        loop {
            {
                let Ok(ctrl) = self.partition_state(tp) else { return ErrorCode::NOT_LEADER_OR_FOLLOWER };
                let mut state = self.lock();
                let replica = self.sync(&mut state, tp, &ctrl);
                if !replica.is_leader || replica.epoch != epoch {
                    return ErrorCode::NOT_LEADER_OR_FOLLOWER;
                }
                if replica.high_watermark >= required_offset {
                    if ctrl.isr.len() < self.controller_config().min_insync_replicas {
                        return ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND;
                    }
                    return ErrorCode::NONE;
                }
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return ErrorCode::NOT_LEADER_OR_FOLLOWER,
                Err(_) => return ErrorCode::REQUEST_TIMED_OUT,
            }
        }
    }

    /// Waits until something changes or `deadline` passes (long-polling fetches).
    pub(crate) async fn wait_for_change(&self, changes: &mut tokio::sync::watch::Receiver<u64>, deadline: Instant) -> bool {
        matches!(tokio::time::timeout_at(deadline, changes.changed()).await, Ok(Ok(())))
    }

    /// Leader: reads one partition for a consumer or a follower.
    pub(crate) fn read_as_leader(
        &self,
        tp: &TopicPartition,
        fetch_offset: i64,
        current_leader_epoch: i32,
        last_fetched_epoch: i32,
        max_bytes: usize,
        fetcher: Fetcher,
    ) -> ReadResult {
        let fail = |error| ReadResult { error, high_watermark: -1, last_stable_offset: -1, ..Default::default() };
        let ctrl = match self.partition_state(tp) {
            Ok(c) => c,
            Err(code) => return fail(code),
        };
        let mut state = self.lock();
        let replica = self.sync(&mut state, tp, &ctrl);
        if !replica.is_leader {
            return fail(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        // A follower fetch from a broker that is not one of the partition's
        // other replicas is refused, as Kafka's `updateFollowerFetchState`
        // refuses it: reading past the high watermark is for replicas.
        if let Fetcher::Follower(id) = fetcher {
            if id == ctrl.leader || !ctrl.replicas.contains(&id) {
                return fail(ErrorCode::NOT_LEADER_OR_FOLLOWER);
            }
        }
        let epoch_check = check_leader_epoch(current_leader_epoch, replica.epoch);
        if epoch_check != ErrorCode::NONE {
            return fail(epoch_check);
        }
        let hw = replica.high_watermark;
        let lso = replica.txns.last_stable_offset(hw);
        let mut out = ReadResult { error: ErrorCode::NONE, high_watermark: hw, last_stable_offset: lso, ..Default::default() };
        // KIP-320: a fetcher whose last epoch ends before its fetch offset on
        // the leader has diverged; tell it where our log of that epoch ends.
        if last_fetched_epoch >= 0 {
            match self.disk.end_offset_for_epoch(tp, last_fetched_epoch) {
                Some(end) if end.epoch == last_fetched_epoch && end.end_offset >= fetch_offset => {}
                Some(end) => {
                    out.diverging = Some(end);
                    return out;
                }
                // No epoch known at all: an empty log with no leader epoch
                // yet, the fetch offset decides (OFFSET_OUT_OF_RANGE past it).
                None => {}
            }
        }
        let leo = self.disk.log_end_offset(tp);
        if fetch_offset < 0 || fetch_offset > leo {
            return fail(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        let until = match fetcher {
            Fetcher::Follower(id) => {
                let now = Instant::now();
                if let Some(f) = replica.followers.get_mut(&id) {
                    // Kafka's Replica.updateFetchState: caught up if it asked for
                    // our end, or for at least our end at its previous fetch.
                    if fetch_offset >= leo {
                        f.caught_up_at = now;
                    } else if fetch_offset >= f.leader_end_at_last_fetch {
                        f.caught_up_at = f.last_fetch_at;
                    }
                    f.log_end_offset = fetch_offset;
                    f.last_fetch_at = now;
                    f.leader_end_at_last_fetch = leo;
                }
                self.maybe_expand_isr(tp, replica, &ctrl, id, fetch_offset);
                self.advance_high_watermark(tp, replica, &self.partition_state(tp).map(|c| c.isr).unwrap_or(ctrl.isr.clone()));
                out.high_watermark = replica.high_watermark;
                out.last_stable_offset = replica.txns.last_stable_offset(replica.high_watermark);
                leo
            }
            // KIP-98: read_committed stops at the last stable offset.
            Fetcher::Consumer { read_committed: true } => out.last_stable_offset,
            Fetcher::Consumer { read_committed: false } => hw,
        };
        if fetch_offset < until {
            out.batches = self.disk.read(tp, fetch_offset, until, max_bytes);
        }
        if fetcher == (Fetcher::Consumer { read_committed: true }) {
            let end = out.batches.last().map_or(fetch_offset, StoredBatch::next_offset);
            out.aborted = replica.txns.aborted_between(fetch_offset, end);
        }
        out
    }

    /// Leader: adds a follower to the ISR once it has caught up to the high
    /// watermark and to the start of the current epoch (Kafka's
    /// `isFollowerInSync`), through the controller (AlterPartition).
    fn maybe_expand_isr(&self, tp: &TopicPartition, replica: &Replica, ctrl: &PartitionState, id: i32, follower_end: i64) {
        if ctrl.isr.contains(&id) || !ctrl.replicas.contains(&id) {
            return;
        }
        let epoch_start = self.disk.epoch_start(tp, replica.epoch).unwrap_or(0);
        if follower_end < replica.high_watermark || follower_end < epoch_start {
            return;
        }
        let isr: Vec<i32> = ctrl.replicas.iter().copied().filter(|r| ctrl.isr.contains(r) || *r == id).collect();
        if let Err(e) = self.controller.alter_isr(&tp.0, tp.1, self.me(), replica.epoch, ctrl.partition_epoch, isr) {
            tracing::debug!(node = self.me(), ?tp, follower = id, error = %e.message, "ISR expansion refused");
        }
    }

    /// Leader: drops ISR members that have not caught up within
    /// `replica.lag.time.max.ms`. Called periodically.
    pub(crate) fn shrink_isrs(&self) {
        let lag = self.config.replica_lag_time_max;
        let now = Instant::now();
        let me = self.me();
        let mut state = self.lock();
        let led: Vec<TopicPartition> = state.replicas.iter().filter(|(_, r)| r.is_leader).map(|(tp, _)| tp.clone()).collect();
        for tp in led {
            let Ok(ctrl) = self.partition_state(&tp) else { continue };
            let replica = self.sync(&mut state, &tp, &ctrl);
            if !replica.is_leader {
                continue;
            }
            let laggards: Vec<i32> = ctrl
                .isr
                .iter()
                .copied()
                .filter(|id| *id != me)
                .filter(|id| replica.followers.get(id).is_none_or(|f| now.saturating_duration_since(f.caught_up_at) > lag))
                .collect();
            if laggards.is_empty() {
                continue;
            }
            let isr: Vec<i32> = ctrl.isr.iter().copied().filter(|id| !laggards.contains(id)).collect();
            match self.controller.alter_isr(&tp.0, tp.1, me, replica.epoch, ctrl.partition_epoch, isr.clone()) {
                Ok(_) => {
                    tracing::debug!(node = me, ?tp, ?laggards, "ISR shrunk");
                    self.advance_high_watermark(&tp, replica, &isr);
                }
                Err(e) => tracing::debug!(node = me, ?tp, error = %e.message, "ISR shrink refused"),
            }
        }
    }

    /// Follower: is a fetch made at `fetch_epoch` from `fetch_offset` still
    /// current? Its response may only touch the log if this broker still
    /// follows at that leader epoch and its log still ends where the fetch
    /// started: a response that arrives after a leader change (this broker
    /// may lead now, and own an epoch starting at its log end) or after the
    /// log moved (a truncation, another fetch) is stale and must be dropped,
    /// as Kafka's fetcher drops a response whose partition state changed
    /// while the request was in flight (`AbstractFetcherThread`: same fetch
    /// offset, same leader epoch). Applying one anyway appends batches of an
    /// old epoch behind a new leader's epoch start, so the epoch cache lies
    /// about where epochs end and followers truncate committed records.
    fn current_fetch(&self, state: &mut State, tp: &TopicPartition, fetch_epoch: i32, fetch_offset: i64) -> bool {
        let Ok(ctrl) = self.partition_state(tp) else { return false };
        let replica = self.sync(state, tp, &ctrl);
        !replica.is_leader && replica.epoch == fetch_epoch && self.disk.log_end_offset(tp) == fetch_offset
    }

    /// Follower: appends batches fetched from the leader at `fetch_epoch`
    /// from `fetch_offset` (offsets and epochs as the leader wrote them).
    /// Returns false, changing nothing, when the fetch is stale (see `current_fetch`).
    pub(crate) fn append_as_follower(
        &self,
        tp: &TopicPartition,
        fetch_epoch: i32,
        fetch_offset: i64,
        batches: Vec<StoredBatch>,
        leader_high_watermark: i64,
    ) -> bool {
        let mut state = self.lock();
        if !self.current_fetch(&mut state, tp, fetch_epoch, fetch_offset) {
            return false;
        }
        let Some(replica) = state.replicas.get_mut(tp) else { return false };
        let mut next = fetch_offset;
        let mut accepted = Vec::new();
        for b in batches {
            // A batch that does not continue our log is dropped with the rest.
            if b.base_offset != next {
                break;
            }
            next = b.next_offset();
            replica.producers.observe(&b);
            replica.txns.observe(&b);
            accepted.push(b);
        }
        if !accepted.is_empty() {
            self.disk.append(tp, accepted);
        }
        let hw = leader_high_watermark.min(self.disk.log_end_offset(tp)).max(replica.high_watermark.min(next));
        if hw != replica.high_watermark {
            replica.high_watermark = hw;
        }
        self.bump();
        true
    }

    /// Follower: drops the log suffix from `offset` on (divergence found
    /// with the leader by a fetch at `fetch_epoch` from `fetch_offset`).
    /// Returns false, changing nothing, when the fetch is stale (see `current_fetch`).
    pub(crate) fn truncate_as_follower(&self, tp: &TopicPartition, fetch_epoch: i32, fetch_offset: i64, offset: i64) -> bool {
        let mut state = self.lock();
        if !self.current_fetch(&mut state, tp, fetch_epoch, fetch_offset) {
            return false;
        }
        self.disk.truncate_to(tp, offset);
        if let Some(replica) = state.replicas.get_mut(tp) {
            let log = self.disk.batches(tp);
            replica.producers = ProducerStates::from_log(&log);
            replica.txns = TxnIndex::from_log(&log);
            replica.high_watermark = replica.high_watermark.min(self.disk.log_end_offset(tp));
        }
        self.bump();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::split_batches;
    use crate::test_support::batch;
    use crate::{Broker, BrokerConfig, ControllerConfig, Disk, FlushPolicy};

    /// Broker 1 of a two-broker cluster (no background tasks) following
    /// partition `t-0`, replicas [2, 1], led by broker 2 at epoch 0.
    fn follower() -> Broker {
        let broker = Broker::single_node(BrokerConfig::new(1, "h", 1), Disk::new(FlushPolicy::EveryAppend), ControllerConfig::default());
        broker.controller().register_broker(1, "h", 1);
        broker.controller().register_broker(2, "h", 2);
        broker.controller().create_topic("t", 1, 2, &[vec![2, 1]], false).unwrap();
        broker
    }

    /// `n` records as the leader wrote them: at `offset`, stamped with `epoch`.
    fn fetched(offset: i64, epoch: i32, n: usize) -> Vec<StoredBatch> {
        split_batches(&batch(n)).unwrap().iter().map(|b| restamp(b, offset, epoch)).collect()
    }

    fn tp() -> TopicPartition {
        ("t".to_string(), 0)
    }

    #[tokio::test(start_paused = true)]
    async fn acks_all_needs_min_insync_replicas_when_the_high_watermark_arrives() {
        let config = ControllerConfig { min_insync_replicas: 2, ..ControllerConfig::default() };
        let b = Broker::single_node(BrokerConfig::new(1, "h", 1), Disk::new(FlushPolicy::Manual), config);
        b.controller().register_broker(1, "h", 1);
        b.controller().register_broker(2, "h", 2);
        b.controller().create_topic("t", 1, 2, &[vec![1, 2]], false).unwrap();
        let s = b.shared();
        let wait = Duration::from_secs(1);
        // Appended while the ISR is [1, 2]; follower 2 fetches past it: acknowledged.
        let first = s.append_as_leader(&tp(), split_batches(&batch(1)).unwrap(), -1).unwrap();
        s.read_as_leader(&tp(), first.required_offset, 0, 0, 1 << 20, Fetcher::Follower(2));
        assert_eq!(s.wait_for_high_watermark(&tp(), first.required_offset, 0, wait).await, ErrorCode::NONE);
        // Appended while the ISR is [1, 2]; then 2 drops out before fetching it, and
        // the high watermark moves on the leader's copy alone: not acknowledged.
        let second = s.append_as_leader(&tp(), split_batches(&batch(1)).unwrap(), -1).unwrap();
        let p = b.controller().partition("t", 0).unwrap();
        b.controller().alter_isr("t", 0, 1, 0, p.partition_epoch, vec![1]).unwrap();
        let code = s.wait_for_high_watermark(&tp(), second.required_offset, 0, wait).await;
        assert_eq!(code, ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND);
        assert_eq!(b.high_watermark("t", 0), Some(second.required_offset));
    }

    /// Only the partition's other replicas fetch as followers (past the high
    /// watermark, moving it): broker 3, registered but not a replica, and the
    /// leader's own id are refused as Kafka refuses them; a consumer reads
    /// up to the high watermark.
    #[test]
    fn only_the_partitions_other_replicas_fetch_as_followers() {
        let b = Broker::single_node(BrokerConfig::new(1, "h", 1), Disk::new(FlushPolicy::Manual), ControllerConfig::default());
        for (id, port) in [(1, 1), (2, 2), (3, 3)] {
            b.controller().register_broker(id, "h", port);
        }
        b.controller().create_topic("t", 1, 2, &[vec![1, 2]], false).unwrap();
        let s = b.shared();
        let appended = s.append_as_leader(&tp(), split_batches(&batch(3)).unwrap(), 1).unwrap();
        for outsider in [3, 1, 99] {
            let read = s.read_as_leader(&tp(), 0, 0, -1, 1 << 20, Fetcher::Follower(outsider));
            assert_eq!(read.error, ErrorCode::NOT_LEADER_OR_FOLLOWER, "replica id {outsider}");
            assert!(read.batches.is_empty());
        }
        assert_eq!(b.high_watermark("t", 0), Some(0), "no outsider moved the high watermark");
        let consumer = s.read_as_leader(&tp(), 0, 0, -1, 1 << 20, Fetcher::Consumer { read_committed: false });
        assert_eq!((consumer.error, consumer.batches.len()), (ErrorCode::NONE, 0), "nothing below the high watermark yet");
        let follower = s.read_as_leader(&tp(), 0, 0, -1, 1 << 20, Fetcher::Follower(2));
        assert_eq!(follower.error, ErrorCode::NONE);
        assert_eq!(follower.batches.last().map(StoredBatch::next_offset), Some(appended.required_offset));
    }

    #[test]
    fn a_fetch_response_that_arrives_after_this_broker_became_leader_is_dropped() {
        let b = follower();
        let s = b.shared();
        assert!(s.append_as_follower(&tp(), 0, 0, fetched(0, 0, 2), 2));
        // The next fetch (epoch 0, from offset 2) is in flight when the
        // controller moves leadership here (epoch 1, starting at offset 2).
        b.controller().move_leader("t", 0, 1).unwrap();
        s.append_as_leader(&tp(), split_batches(&batch(1)).unwrap(), 1).unwrap();
        assert_eq!(s.disk.end_offset_for_epoch(&tp(), 1), Some(EpochEnd { epoch: 1, end_offset: 3 }));
        // Its response (the old leader's record at offset 2, epoch 0) must not
        // land behind our epoch 1: that would put an epoch-0 batch after the
        // start of epoch 1 and make followers truncate at the wrong offset.
        assert!(!s.append_as_follower(&tp(), 0, 2, fetched(2, 0, 1), 3));
        assert!(!s.truncate_as_follower(&tp(), 0, 2, 0), "nor may a stale diverging epoch truncate the leader");
        assert_eq!(s.disk.log_end_offset(&tp()), 3);
        assert_eq!(s.disk.end_offset_for_epoch(&tp(), 0), Some(EpochEnd { epoch: 0, end_offset: 2 }));
        assert_eq!(s.disk.batches(&tp()).iter().map(|b| b.leader_epoch).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn a_fetch_response_for_a_log_that_moved_on_is_dropped() {
        let b = follower();
        let s = b.shared();
        assert!(s.append_as_follower(&tp(), 0, 0, fetched(0, 0, 2), 2));
        // A second response to a fetch from offset 0 (a retried request) no longer applies.
        assert!(!s.append_as_follower(&tp(), 0, 0, fetched(0, 0, 2), 2));
        assert!(!s.truncate_as_follower(&tp(), 0, 0, 0));
        // Nor does one from the previous leader epoch, once a new leader (2 again, epoch 1) is known.
        b.controller().move_leader("t", 0, 1).unwrap();
        b.controller().move_leader("t", 0, 2).unwrap();
        assert!(!s.append_as_follower(&tp(), 1, 2, fetched(2, 1, 1), 3));
        assert!(s.append_as_follower(&tp(), 2, 2, fetched(2, 2, 1), 3));
        assert_eq!(s.disk.log_end_offset(&tp()), 3);
    }
}

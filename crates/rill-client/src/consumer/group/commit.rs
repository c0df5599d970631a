//! Offset commits (OffsetCommit) and committed-offset look-ups (OffsetFetch).
//!
//! Committed offsets never move backwards because of the client:
//! - [`CommitTracker`] numbers every commit and remembers, per partition,
//!   the newest commit sent and the highest offset acknowledged;
//! - a commit is retried only for partitions no newer commit was sent for
//!   since (a retried old commit can never land after a newer one);
//! - commits go to the coordinator over one connection, which Kafka
//!   processes in order, so a late answer to an old commit is only ever an
//!   answer: [`CommitTracker::acknowledge`] keeps the maximum;
//! - a commit whose connection timed out or broke after it was sent is in
//!   doubt: it may still be on its way, and once the connection is replaced
//!   it could land after a newer commit and move offsets back (OffsetCommit
//!   carries no sequence). Nothing more is committed in its generation: the
//!   member leaves and joins again under a new member id (see
//!   `GroupMember`), and the coordinator refuses the old one's commits with
//!   UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION whenever they arrive. Java's
//!   consumer retries such a commit and can rewind.
//!
//! Commits do not wait for a rebalance: during one they fail at once with
//! the coordinator's REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION /
//! UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID, and fetching goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use rill_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use rill_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics};
use rill_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest};
use rill_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::coordinator::{fault_of_code, Coordinator, CoordinatorFault};
use super::membership::Generation;
use super::TopicPartition;
use crate::backoff::{Backoff, Rng};
use crate::client::Client;
use crate::consumer::Position;
use crate::error::{Error, Result};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Per partition: the newest commit sent and the highest offset acknowledged.
#[derive(Debug, Default, Clone)]
pub struct CommitTracker {
    next_sequence: u64,
    newest_sent: BTreeMap<TopicPartition, u64>,
    acknowledged: BTreeMap<TopicPartition, i64>,
}

impl CommitTracker {
    /// Registers a commit about to be sent; returns its sequence number.
    pub fn begin<'a>(&mut self, partitions: impl IntoIterator<Item = &'a TopicPartition>) -> u64 {
        self.next_sequence += 1;
        for tp in partitions {
            self.newest_sent.insert(tp.clone(), self.next_sequence);
        }
        self.next_sequence
    }

    /// Whether a commit newer than `sequence` was sent for `tp` (then `sequence` must not be retried).
    pub fn superseded(&self, sequence: u64, tp: &TopicPartition) -> bool {
        self.newest_sent.get(tp).is_some_and(|newest| *newest > sequence)
    }

    /// Records an acknowledged commit; the committed offset only grows.
    pub fn acknowledge(&mut self, tp: &TopicPartition, offset: i64) {
        let entry = self.acknowledged.entry(tp.clone()).or_insert(offset);
        *entry = (*entry).max(offset);
    }

    /// The highest offset acknowledged for `tp` by this member.
    pub fn committed(&self, tp: &TopicPartition) -> Option<i64> {
        self.acknowledged.get(tp).copied()
    }

    /// Forgets partitions this member no longer owns (another member may commit them now).
    pub fn forget(&mut self, partitions: &BTreeSet<TopicPartition>) {
        self.acknowledged.retain(|tp, _| !partitions.contains(tp));
    }
}

/// Offsets in a log line: `topic-partition@offset` each, in partition order.
struct CommitOffsets<'a>(&'a BTreeMap<TopicPartition, Position>);

impl std::fmt::Debug for CommitOffsets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (tp, position)) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { " " };
            write!(f, "{separator}{tp}@{}", position.offset)?;
        }
        Ok(())
    }
}

/// Committed offsets in a log line: `topic-partition@offset` (`@none`: nothing committed).
struct CommittedOffsets<'a>(&'a BTreeMap<TopicPartition, Option<Position>>);

impl std::fmt::Debug for CommittedOffsets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (tp, position)) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { " " };
            match position {
                Some(p) => write!(f, "{separator}{tp}@{}", p.offset)?,
                None => write!(f, "{separator}{tp}@none")?,
            }
        }
        Ok(())
    }
}

/// The generation of the last commit left in doubt (see the module doc),
/// shared with the commits' sends, which can outlive their callers.
#[derive(Debug)]
struct Doubt {
    group_id: String,
    generation: Mutex<Option<Generation>>,
    /// Woken when a commit is left in doubt: the member must rejoin.
    notify: Arc<Notify>,
}

impl Doubt {
    fn leave(&self, generation: &Generation, error: &Error) {
        warn!(
            group = %self.group_id,
            generation = generation.generation_id,
            %error,
            "an offset commit's outcome is unknown; no more commits in this generation, the member joins again"
        );
        *lock(&self.generation) = Some(generation.clone());
        self.notify.notify_one();
    }
}

/// Sends commits and offset look-ups for one group member.
#[derive(Debug)]
pub struct Committer {
    client: Client,
    coordinator: Arc<Coordinator>,
    generation: Arc<Mutex<Generation>>,
    group_instance_id: Option<String>,
    tracker: Mutex<CommitTracker>,
    rng: Arc<Mutex<Rng>>,
    /// No commit is sent again in the generation of a commit left in doubt.
    doubt: Arc<Doubt>,
}

impl Committer {
    pub fn new(
        client: Client,
        coordinator: Arc<Coordinator>,
        generation: Arc<Mutex<Generation>>,
        group_instance_id: Option<String>,
        rng: Arc<Mutex<Rng>>,
        in_doubt_notify: Arc<Notify>,
    ) -> Self {
        let doubt = Arc::new(Doubt { group_id: coordinator.group_id().to_string(), generation: Mutex::new(None), notify: in_doubt_notify });
        Committer { client, coordinator, generation, group_instance_id, tracker: Mutex::default(), rng, doubt }
    }

    /// Whether a commit of the member's current generation is in doubt.
    /// Checked at every poll: no clone, and the generation is locked only
    /// once some commit was in doubt.
    pub(crate) fn current_generation_in_doubt(&self) -> bool {
        let in_doubt = lock(&self.doubt.generation);
        in_doubt.as_ref().is_some_and(|doubted| doubted.is_same(&lock(&self.generation)))
    }

    fn is_in_doubt(&self, generation: &Generation) -> bool {
        lock(&self.doubt.generation).as_ref().is_some_and(|g| g.is_same(generation))
    }

    /// Sends a commit from a task of its own, so that its outcome is still
    /// seen when the caller stops waiting (a timeout around the commit, a
    /// dropped future): a commit left in doubt then still ends the
    /// generation. Awaited in place, a dropped commit's request stayed on
    /// its connection unwatched, and after that connection broke a newer
    /// commit on a new one could land first.
    async fn send(&self, node: i32, request: OffsetCommitRequest, generation: &Generation) -> Result<OffsetCommitResponse> {
        let (client, coordinator, doubt, generation) =
            (self.client.clone(), self.coordinator.clone(), self.doubt.clone(), generation.clone());
        let send = tokio::spawn(async move {
            let result = client.send(node, &request).await;
            if let Err(e) = &result {
                coordinator.note_error(node, e);
                if e.leaves_request_in_doubt() {
                    doubt.leave(&generation, e);
                }
            }
            result
        });
        // A send that cannot finish (the runtime is shutting down) is as good as a closed client.
        send.await.unwrap_or(Err(Error::Closed))
    }

    /// The highest offset of `tp` this member had acknowledged.
    pub fn acknowledged(&self, tp: &TopicPartition) -> Option<i64> {
        lock(&self.tracker).committed(tp)
    }

    pub(crate) fn forget(&self, partitions: &BTreeSet<TopicPartition>) {
        lock(&self.tracker).forget(partitions);
    }

    fn group_error(&self, broker: &str, context: String, code: ErrorCode) -> Error {
        Error::Kafka { broker: broker.to_string(), context, code, message: None }
    }

    /// Commits `offsets` (the next offset to consume per partition, with the
    /// leader epoch of the record before it when known: KIP-320, so a later
    /// owner can check the position against the leader's log) in the
    /// current generation; retries coordinator moves and retriable errors
    /// until `deadline`. Errors name the first partition that failed.
    pub async fn commit(&self, offsets: &BTreeMap<TopicPartition, Position>, deadline: Instant) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let group_id = self.coordinator.group_id().to_string();
        let sequence = lock(&self.tracker).begin(offsets.keys());
        let mut remaining = offsets.clone();
        let config = self.client.config();
        let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
        let mut first_error: Option<Error> = None;
        // Every attempt carries the generation the offsets were processed
        // in: a retry sent with a later generation (after a rebalance that
        // may have given the partitions to another member, which committed
        // since) would be accepted and move their committed offsets back.
        let generation = lock(&self.generation).clone();
        loop {
            // Never (re)send an offset a newer commit already covers; checked
            // right before sending, since a newer commit may start during a backoff.
            {
                let tracker = lock(&self.tracker);
                remaining.retain(|tp, _| !tracker.superseded(sequence, tp));
            }
            if remaining.is_empty() {
                return first_error.map_or(Ok(()), Err);
            }
            let current = lock(&self.generation).clone();
            if generation.generation_id < 0 || !current.is_same(&generation) || self.is_in_doubt(&generation) {
                // Not (yet, or no longer) in a generation: the coordinator would refuse it.
                return Err(self.group_error(
                    "coordinator",
                    format!("OffsetCommit {group_id}: the member is not in a generation (rebalancing)"),
                    ErrorCode::REBALANCE_IN_PROGRESS,
                ));
            }
            let mut retry = BTreeMap::new();
            let mut last_retriable = None;
            match self.coordinator.find(&self.client, &self.rng, deadline).await {
                Err(e) => last_retriable = Some(e),
                Ok(node) => {
                    let request = commit_request(&group_id, &generation, self.group_instance_id.as_deref(), &remaining);
                    debug!(
                        group = %group_id, member = %generation.member_id, generation = generation.generation_id, node, sequence,
                        offsets = ?CommitOffsets(&remaining), "OffsetCommit sent"
                    );
                    match self.send(node, request, &generation).await {
                        Err(e) => {
                            debug!(group = %group_id, node, sequence, error = %e, "OffsetCommit got no answer");
                            if e.leaves_request_in_doubt() {
                                return Err(e);
                            }
                            if !e.is_retriable() {
                                return Err(e);
                            }
                            retry = remaining.clone();
                            last_retriable = Some(e);
                        }
                        Ok(response) => {
                            debug!(group = %group_id, node, sequence, "OffsetCommit answered");
                            let broker = format!("node {node}");
                            for topic in &response.topics {
                                for p in &topic.partitions {
                                    let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                                    let Some(position) = remaining.get(&tp).copied() else { continue };
                                    let code = ErrorCode(p.error_code);
                                    if code.is_none() {
                                        lock(&self.tracker).acknowledge(&tp, position.offset);
                                        continue;
                                    }
                                    let error = self.group_error(&broker, format!("OffsetCommit {group_id} {tp}"), code);
                                    match fault_of_code(code) {
                                        Some(fault) => {
                                            if fault == CoordinatorFault::Moved {
                                                self.coordinator.forget(node);
                                            }
                                            retry.insert(tp, position);
                                            last_retriable = Some(error);
                                        }
                                        None if code.is_retriable() => {
                                            retry.insert(tp, position);
                                            last_retriable = Some(error);
                                        }
                                        None => {
                                            debug!(group = %group_id, partition = %tp, error = code.name(), "commit failed");
                                            first_error.get_or_insert(error);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if retry.is_empty() {
                return first_error.map_or(Ok(()), Err);
            }
            let delay = backoff.next_delay(&mut lock(&self.rng));
            if Instant::now() + delay >= deadline {
                return Err(first_error.or(last_retriable).unwrap_or(Error::Closed));
            }
            tokio::time::sleep(delay).await;
            remaining = retry;
        }
    }

    /// The committed offsets of `partitions` (`None`: nothing committed),
    /// with the committed leader epoch when there is one (KIP-320: a
    /// position resumed from it is validated against the leader first),
    /// asking for stable offsets (KIP-447) where the broker supports it.
    pub async fn committed(
        &self,
        partitions: &BTreeSet<TopicPartition>,
        deadline: Instant,
    ) -> Result<BTreeMap<TopicPartition, Option<Position>>> {
        let group_id = self.coordinator.group_id().to_string();
        let config = self.client.config();
        let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
        loop {
            let error = match self.fetch_once(&group_id, partitions, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let retriable = e_is_retriable(&error);
            let delay = backoff.next_delay(&mut lock(&self.rng));
            if !retriable || Instant::now() + delay >= deadline {
                return Err(error);
            }
            debug!(group = %group_id, error = %error, "OffsetFetch failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn fetch_once(
        &self,
        group_id: &str,
        partitions: &BTreeSet<TopicPartition>,
        deadline: Instant,
    ) -> Result<BTreeMap<TopicPartition, Option<Position>>> {
        let node = self.coordinator.find(&self.client, &self.rng, deadline).await?;
        let connection = match self.client.connection(node).await {
            Ok(c) => c,
            Err(e) => {
                self.coordinator.note_error(node, &e);
                return Err(e);
            }
        };
        let version = connection.version_for(ApiKey::OFFSET_FETCH)?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
        }
        // v8+ (KIP-709) batches groups; earlier versions name one group.
        let request = if version >= 8 {
            OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup {
                    group_id: group_id.to_string(),
                    topics: Some(
                        by_topic
                            .iter()
                            .map(|(t, p)| OffsetFetchRequestTopics {
                                name: t.to_string(),
                                partition_indexes: p.clone(),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }],
                require_stable: true,
                ..Default::default()
            }
        } else {
            OffsetFetchRequest {
                group_id: group_id.to_string(),
                topics: Some(
                    by_topic
                        .iter()
                        .map(|(t, p)| OffsetFetchRequestTopic { name: t.to_string(), partition_indexes: p.clone(), ..Default::default() })
                        .collect(),
                ),
                require_stable: version >= 7,
                ..Default::default()
            }
        };
        let response = match connection.send_version(&request, version).await {
            Ok(r) => r,
            Err(e) => {
                self.coordinator.note_error(node, &e);
                return Err(e);
            }
        };
        let broker = connection.broker().to_string();
        let fail = |code: ErrorCode, context: String| {
            if fault_of_code(code) == Some(CoordinatorFault::Moved) {
                self.coordinator.forget(node);
            }
            Err(Error::Kafka { broker: broker.clone(), context, code, message: None })
        };
        // (partition, committed offset, committed leader epoch, error code)
        let mut answers: Vec<(TopicPartition, i64, i32, i16)> = Vec::new();
        if version >= 8 {
            let Some(group) = response.groups.iter().find(|g| g.group_id == group_id) else {
                return fail(ErrorCode::UNKNOWN_SERVER_ERROR, format!("OffsetFetch {group_id}: group missing from the answer"));
            };
            if ErrorCode(group.error_code).is_error() {
                return fail(ErrorCode(group.error_code), format!("OffsetFetch {group_id}"));
            }
            for t in &group.topics {
                for p in &t.partitions {
                    let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                    answers.push((tp, p.committed_offset, p.committed_leader_epoch, p.error_code));
                }
            }
        } else {
            if ErrorCode(response.error_code).is_error() {
                return fail(ErrorCode(response.error_code), format!("OffsetFetch {group_id}"));
            }
            for t in &response.topics {
                for p in &t.partitions {
                    let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                    answers.push((tp, p.committed_offset, p.committed_leader_epoch, p.error_code));
                }
            }
        }
        let mut result = BTreeMap::new();
        for (tp, offset, epoch, code) in answers {
            if !partitions.contains(&tp) {
                continue;
            }
            let code = ErrorCode(code);
            if code.is_error() {
                return fail(code, format!("OffsetFetch {group_id} {tp}"));
            }
            // v5+ answers the epoch; -1 (older versions, older commits): unknown.
            let position = (offset >= 0).then(|| Position::new(offset, (epoch >= 0).then_some(epoch)));
            result.insert(tp, position);
        }
        for tp in partitions {
            result.entry(tp.clone()).or_insert(None);
        }
        debug!(group = %group_id, node, committed = ?CommittedOffsets(&result), "OffsetFetch answered");
        Ok(result)
    }
}

/// Whether a commit or committed-offset lookup failing with `error` may succeed when tried again.
pub(crate) fn e_is_retriable(error: &Error) -> bool {
    error.is_retriable() || matches!(error.code(), Some(c) if fault_of_code(c).is_some() || c == ErrorCode::UNSTABLE_OFFSET_COMMIT)
}

fn commit_request(
    group_id: &str,
    generation: &Generation,
    group_instance_id: Option<&str>,
    offsets: &BTreeMap<TopicPartition, Position>,
) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, position) in offsets {
        topics.entry(tp.topic.as_str()).or_default().push(OffsetCommitRequestPartition {
            partition_index: tp.partition,
            committed_offset: position.offset,
            // v6+ (KIP-320); -1 when the epoch is not known.
            committed_leader_epoch: position.leader_epoch.unwrap_or(-1),
            ..Default::default()
        });
    }
    OffsetCommitRequest {
        group_id: group_id.to_string(),
        generation_id_or_member_epoch: generation.generation_id,
        member_id: generation.member_id.clone(),
        group_instance_id: group_instance_id.map(str::to_string),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitRequestTopic { name: name.to_string(), partitions, ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_offsets_never_decrease_and_old_commits_are_not_retried() {
        let mut t = CommitTracker::default();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        let old = t.begin([&a, &b]);
        let new = t.begin([&a]);
        assert!(t.superseded(old, &a), "a newer commit covers a: the old one must not be retried");
        assert!(!t.superseded(old, &b));
        assert!(!t.superseded(new, &a));
        // The newer commit (offset 20) is answered first, the older one (10) late.
        t.acknowledge(&a, 20);
        t.acknowledge(&a, 10);
        assert_eq!(t.committed(&a), Some(20));
        t.acknowledge(&b, 5);
        t.forget(&[b.clone()].into());
        assert_eq!(t.committed(&b), None);
        assert_eq!(t.committed(&a), Some(20));
    }
}

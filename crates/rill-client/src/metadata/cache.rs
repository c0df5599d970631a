//! Merging Metadata responses into the cached [`ClusterMetadata`].
//!
//! Rules:
//! - the broker list is replaced by each response's (brokers join and
//!   leave); changes are logged;
//! - a topic named in a response replaces the cached topic, except that a
//!   partition whose cached leader epoch is newer than the response's keeps
//!   its cached state (KIP-320: the response came from a broker with stale
//!   metadata);
//! - a topic whose id changed was deleted and recreated: it is replaced whole;
//! - topics not in a response are kept (the response may cover a subset).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rill_protocol::messages::MetadataResponse;
use rill_protocol::{ErrorCode, Uuid};
use tokio::time::{Duration, Instant};
use tracing::debug;

use super::{Broker, ClusterMetadata, PartitionMetadata, TopicMetadata};

/// Error codes that mean the cached metadata is wrong and must be refreshed.
pub const REFRESH_ON: &[ErrorCode] = &[
    ErrorCode::NOT_LEADER_OR_FOLLOWER,
    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode::LEADER_NOT_AVAILABLE,
    ErrorCode::FENCED_LEADER_EPOCH,
    ErrorCode::UNKNOWN_LEADER_EPOCH,
    ErrorCode::UNKNOWN_TOPIC_ID,
    ErrorCode::NOT_CONTROLLER,
    ErrorCode::BROKER_NOT_AVAILABLE,
    ErrorCode::REPLICA_NOT_AVAILABLE,
];

/// What one update changed (for logging and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataChange {
    pub brokers_joined: Vec<i32>,
    pub brokers_left: Vec<i32>,
    pub topics_updated: Vec<String>,
    /// Partitions whose cached state was kept because the response's leader epoch was older.
    pub stale_partitions_ignored: Vec<(String, i32)>,
}

/// The cache: current metadata, when it was refreshed, and what is stale.
#[derive(Debug, Clone)]
pub struct MetadataCache {
    current: ClusterMetadata,
    refreshed_at: Option<Instant>,
    /// Topics that need a refresh before their metadata is trusted again.
    stale_topics: BTreeSet<String>,
    /// Per topic, its partition count and the partitions with a leader, as
    /// the producer asks for them on every send; cleared by every update.
    partitions_memo: BTreeMap<String, (usize, Arc<[i32]>)>,
}

impl Default for MetadataCache {
    fn default() -> Self {
        MetadataCache::new()
    }
}

impl MetadataCache {
    pub fn new() -> Self {
        MetadataCache {
            current: ClusterMetadata::default(),
            refreshed_at: None,
            stale_topics: BTreeSet::new(),
            partitions_memo: BTreeMap::new(),
        }
    }

    pub fn snapshot(&self) -> ClusterMetadata {
        self.current.clone()
    }

    pub fn current(&self) -> &ClusterMetadata {
        &self.current
    }

    /// Whether the cache is older than `max_age` (or was never filled).
    pub fn is_expired(&self, now: Instant, max_age: Duration) -> bool {
        self.refreshed_at.is_none_or(|at| now.saturating_duration_since(at) >= max_age)
    }

    /// Whether `topic` must be refreshed before use.
    pub fn needs_refresh(&self, topic: &str) -> bool {
        self.stale_topics.contains(topic) || !self.current.topics.contains_key(topic)
    }

    /// Records an error code seen for `topic`; returns whether it marks the
    /// topic's metadata stale (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, ...).
    pub fn note_error(&mut self, topic: &str, code: ErrorCode) -> bool {
        let stale = REFRESH_ON.contains(&code);
        if stale {
            debug!(topic, error = code.name(), "metadata marked stale");
            self.stale_topics.insert(topic.to_string());
        }
        stale
    }

    /// Known topic names, in order.
    pub fn topic_names(&self) -> Vec<String> {
        self.current.topics.keys().cloned().collect()
    }

    /// `topic`'s partition count and its partitions that have a leader, or
    /// `None` when the topic is unknown or has no partitions.
    pub fn partitions(&mut self, topic: &str) -> Option<(usize, Arc<[i32]>)> {
        if let Some((count, available)) = self.partitions_memo.get(topic) {
            return Some((*count, available.clone()));
        }
        let t = self.current.topic(topic)?;
        if t.partitions.is_empty() {
            return None;
        }
        let available: Arc<[i32]> = t.partitions.values().filter(|p| p.leader.is_some()).map(|p| p.partition).collect();
        let found = (t.partitions.len(), available);
        self.partitions_memo.insert(topic.to_string(), found.clone());
        Some(found)
    }

    /// Merges a Metadata response received at `now`.
    pub fn update(&mut self, response: &MetadataResponse, now: Instant) -> MetadataChange {
        self.partitions_memo.clear();
        let mut change = MetadataChange::default();
        let brokers: std::collections::BTreeMap<i32, Broker> = response
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id,
                    Broker { node_id: b.node_id, host: b.host.clone(), port: u16::try_from(b.port).unwrap_or(0), rack: b.rack.clone() },
                )
            })
            .collect();
        if !brokers.is_empty() {
            change.brokers_joined = brokers.keys().filter(|id| !self.current.brokers.contains_key(id)).copied().collect();
            change.brokers_left = self.current.brokers.keys().filter(|id| !brokers.contains_key(id)).copied().collect();
            for id in &change.brokers_joined {
                debug!(node_id = id, "broker joined");
            }
            for id in &change.brokers_left {
                debug!(node_id = id, "broker left");
            }
            self.current.brokers = brokers;
        }
        if response.cluster_id.is_some() {
            self.current.cluster_id = response.cluster_id.clone();
        }
        self.current.controller_id = (response.controller_id >= 0).then_some(response.controller_id);

        for topic in &response.topics {
            let Some(name) = topic.name.clone() else { continue };
            let error = ErrorCode(topic.error_code);
            let mut partitions: std::collections::BTreeMap<i32, PartitionMetadata> = topic
                .partitions
                .iter()
                .map(|p| {
                    (
                        p.partition_index,
                        PartitionMetadata {
                            partition: p.partition_index,
                            leader: (p.leader_id >= 0).then_some(p.leader_id),
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes.clone(),
                            isr: p.isr_nodes.clone(),
                            offline_replicas: p.offline_replicas.clone(),
                            error: ErrorCode(p.error_code),
                        },
                    )
                })
                .collect();
            if let Some(cached) = self.current.topics.get(&name) {
                let same_topic = cached.id.is_zero() || topic.topic_id.is_zero() || cached.id == topic.topic_id;
                if same_topic {
                    for (index, fresh) in partitions.iter_mut() {
                        if let Some(old) = cached.partitions.get(index) {
                            if old.leader_epoch >= 0 && fresh.leader_epoch >= 0 && fresh.leader_epoch < old.leader_epoch {
                                debug!(topic = %name, partition = index, cached_epoch = old.leader_epoch,
                                    response_epoch = fresh.leader_epoch, "ignoring partition metadata with an older leader epoch");
                                change.stale_partitions_ignored.push((name.clone(), *index));
                                *fresh = old.clone();
                            }
                        }
                    }
                } else {
                    debug!(topic = %name, old_id = %cached.id, new_id = %topic.topic_id, "topic was recreated");
                }
            }
            if error == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION && topic.partitions.is_empty() {
                // The topic does not exist (any more).
                self.current.topics.remove(&name);
            } else {
                let id =
                    if topic.topic_id.is_zero() { self.current.topics.get(&name).map_or(Uuid::ZERO, |t| t.id) } else { topic.topic_id };
                self.current
                    .topics
                    .insert(name.clone(), TopicMetadata { name: name.clone(), id, is_internal: topic.is_internal, error, partitions });
            }
            // A retriable error (e.g. LEADER_NOT_AVAILABLE right after creation) keeps it stale.
            let partition_error = topic.partitions.iter().any(|p| REFRESH_ON.contains(&ErrorCode(p.error_code)));
            if REFRESH_ON.contains(&error) || partition_error {
                self.stale_topics.insert(name.clone());
            } else {
                self.stale_topics.remove(&name);
            }
            change.topics_updated.push(name);
        }
        self.refreshed_at = Some(now);
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};

    fn response(brokers: &[i32], leader: i32, epoch: i32, id: u64) -> MetadataResponse {
        MetadataResponse {
            brokers: brokers
                .iter()
                .map(|&n| MetadataResponseBroker { node_id: n, host: format!("b{n}"), port: 9092, ..Default::default() })
                .collect(),
            cluster_id: Some("c".into()),
            controller_id: 1,
            topics: vec![MetadataResponseTopic {
                name: Some("t".into()),
                topic_id: Uuid::from_u64_pair(id, id),
                partitions: vec![MetadataResponsePartition {
                    partition_index: 0,
                    leader_id: leader,
                    leader_epoch: epoch,
                    replica_nodes: vec![1, 2],
                    isr_nodes: vec![1, 2],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn older_leader_epoch_never_replaces_newer() {
        let now = Instant::now();
        let mut cache = MetadataCache::new();
        cache.update(&response(&[1, 2], 1, 5, 7), now);
        let change = cache.update(&response(&[1, 2], 2, 4, 7), now);
        assert_eq!(change.stale_partitions_ignored, [("t".to_string(), 0)]);
        let p = cache.current().partition("t", 0).unwrap().clone();
        assert_eq!((p.leader, p.leader_epoch), (Some(1), 5));
        // Same or newer epoch replaces.
        cache.update(&response(&[1, 2], 2, 6, 7), now);
        let p = cache.current().partition("t", 0).unwrap().clone();
        assert_eq!((p.leader, p.leader_epoch), (Some(2), 6));
        assert_eq!(cache.current().leader("t", 0).unwrap().host, "b2");
    }

    #[test]
    fn partitions_with_a_leader_follow_every_update() {
        let now = Instant::now();
        let mut cache = MetadataCache::new();
        assert_eq!(cache.partitions("t"), None);
        cache.update(&response(&[1, 2], 1, 5, 7), now);
        assert_eq!(cache.partitions("t"), Some((1, Arc::from([0]))));
        // Asked again, the same answer (from the memo).
        assert_eq!(cache.partitions("t"), Some((1, Arc::from([0]))));
        // The leader goes away: the memo is not served past the update.
        cache.update(&response(&[1, 2], -1, 6, 7), now);
        assert_eq!(cache.partitions("t"), Some((1, Arc::from([]))));
        cache.update(&response(&[1, 2], 2, 7, 7), now);
        assert_eq!(cache.partitions("t"), Some((1, Arc::from([0]))));
    }

    #[test]
    fn recreated_topic_is_replaced_whole() {
        let now = Instant::now();
        let mut cache = MetadataCache::new();
        cache.update(&response(&[1], 1, 9, 7), now);
        let change = cache.update(&response(&[1], 1, 0, 8), now);
        assert!(change.stale_partitions_ignored.is_empty());
        let t = cache.current().topic("t").unwrap();
        assert_eq!(t.id, Uuid::from_u64_pair(8, 8));
        assert_eq!(t.partitions[&0].leader_epoch, 0);
    }

    #[test]
    fn brokers_join_and_leave() {
        let now = Instant::now();
        let mut cache = MetadataCache::new();
        let c = cache.update(&response(&[1, 2], 1, 0, 1), now);
        assert_eq!(c.brokers_joined, [1, 2]);
        let c = cache.update(&response(&[2, 3], 2, 1, 1), now);
        assert_eq!((c.brokers_joined, c.brokers_left), (vec![3], vec![1]));
        assert_eq!(cache.current().brokers.keys().copied().collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn errors_mark_stale_and_refresh_clears() {
        let now = Instant::now();
        let mut cache = MetadataCache::new();
        assert!(cache.is_expired(now, Duration::from_secs(1)));
        cache.update(&response(&[1], 1, 0, 1), now);
        assert!(!cache.needs_refresh("t"));
        assert!(cache.needs_refresh("other"));
        assert!(cache.note_error("t", ErrorCode::NOT_LEADER_OR_FOLLOWER));
        assert!(!cache.note_error("t", ErrorCode::MESSAGE_TOO_LARGE));
        assert!(cache.needs_refresh("t"));
        cache.update(&response(&[1], 1, 1, 1), now);
        assert!(!cache.needs_refresh("t"));
        assert!(!cache.is_expired(now + Duration::from_millis(999), Duration::from_secs(1)));
        assert!(cache.is_expired(now + Duration::from_secs(1), Duration::from_secs(1)));
    }

    #[test]
    fn unknown_topic_is_dropped_and_leaderless_stays_stale() {
        let now = Instant::now();
        let mut cache = MetadataCache::new();
        cache.update(&response(&[1], 1, 0, 1), now);
        let mut gone = response(&[1], 1, 0, 1);
        gone.topics[0].error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0;
        gone.topics[0].partitions.clear();
        cache.update(&gone, now);
        assert!(cache.current().topic("t").is_none());
        let mut leaderless = response(&[1], -1, 0, 1);
        leaderless.topics[0].partitions[0].error_code = ErrorCode::LEADER_NOT_AVAILABLE.0;
        cache.update(&leaderless, now);
        assert_eq!(cache.current().partition("t", 0).unwrap().leader, None);
        assert!(cache.needs_refresh("t"));
    }
}

//! Cluster metadata: brokers, topics (with ids) and partitions (leader,
//! leader epoch, replicas, ISR), and the cache that merges Metadata
//! responses into it ([`cache`]).
//!
//! Everything is kept in `BTreeMap`s: iteration order is by key, never by hash.

pub mod cache;

use std::collections::BTreeMap;

use rill_protocol::{ErrorCode, Uuid};

pub use cache::{MetadataCache, MetadataChange};

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

impl Broker {
    /// `host:port`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// `None` while there is no leader (LEADER_NOT_AVAILABLE, offline).
    pub leader: Option<i32>,
    /// -1 when the broker does not report it (Metadata v6 and older).
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error: ErrorCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    /// `Uuid::ZERO` when the broker does not report ids (Metadata v9 and older).
    pub id: Uuid,
    pub is_internal: bool,
    pub error: ErrorCode,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// A snapshot of what the client knows about the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: BTreeMap<i32, Broker>,
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topics.get(topic)?.partitions.get(&partition)
    }

    /// The leader of a partition, if known and in the broker list.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<&Broker> {
        self.brokers.get(&self.partition(topic, partition)?.leader?)
    }
}

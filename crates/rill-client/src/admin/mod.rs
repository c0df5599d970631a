//! Admin calls of [`Client`](crate::Client), one concept per file:
//!
//! - [`topics`]: create partitions, list topics, describe topics
//!   (DescribeTopicPartitions where the broker has it, Metadata otherwise);
//! - [`configs`]: describe configs, incremental alter configs (AlterConfigs
//!   for brokers older than Kafka 2.3);
//! - [`records`]: delete records (on each partition's leader);
//! - [`groups`]: list, describe and delete consumer groups;
//! - [`group_offsets`]: list, alter and delete a group's committed offsets.
//!
//! Routing lives in [`coordinator`] (FindCoordinator GROUP, retried on
//! NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE),
//! [`leaders`] (per-partition work on leaders, refreshing stale metadata) and
//! [`retry`] (the deadline and backoff every call shares). Results are per
//! item: one bad topic, resource, group or partition does not fail the others.

pub mod configs;
pub mod coordinator;
pub mod group_offsets;
pub mod groups;
pub(crate) mod leaders;
pub mod records;
pub(crate) mod retry;
pub mod topics;

pub use configs::{AlterConfigOp, ConfigEntry, ConfigResource, ConfigResourceType, ConfigSource};
pub use group_offsets::GroupOffset;
pub use groups::{GroupDescription, GroupListing, GroupMember};
pub use topics::{NewPartitions, TopicListing};

/// The outcome of one item (topic, resource, group) of an admin call.
pub type ItemResult<T> = std::result::Result<T, crate::Error>;

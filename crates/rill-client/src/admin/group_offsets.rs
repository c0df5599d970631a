//! A group's committed offsets, as an administrator sees them: listing
//! (OffsetFetch), setting (OffsetCommit with generation -1 and no member id,
//! which the coordinator accepts only while the group has no members, as
//! `kafka-consumer-groups --reset-offsets` does) and deleting (OffsetDelete,
//! KIP-496), each on the group's coordinator.

use std::collections::BTreeMap;

use rill_protocol::message::Request;
use rill_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use rill_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use rill_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics};
use rill_protocol::messages::{OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest};
use rill_protocol::ErrorCode;

use super::retry::{check, is_coordinator_moved, Step};
use crate::client::{Client, PartitionResults};
use crate::error::{Error, Result};

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// The next offset the group will consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, when the committer knew it.
    pub leader_epoch: Option<i32>,
    pub metadata: String,
}

/// Partitions grouped by topic, in name order.
fn by_topic<'a, V>(items: impl IntoIterator<Item = (&'a str, i32, V)>) -> BTreeMap<&'a str, Vec<(i32, V)>> {
    let mut topics: BTreeMap<&str, Vec<(i32, V)>> = BTreeMap::new();
    for (topic, partition, value) in items {
        topics.entry(topic).or_default().push((partition, value));
    }
    topics
}

/// `Retry` for a coordinator that moved, else `Done` with `result`.
fn step<T>(result: Result<T>) -> Result<Step<T>> {
    match result {
        Err(e) if e.code().is_some_and(is_coordinator_moved) => Ok(Step::Retry(e)),
        Err(e) => Err(e),
        Ok(value) => Ok(Step::Done(value)),
    }
}

impl Client {
    /// The committed offsets of `group`: of `partitions`, or of every partition
    /// it committed when `None`. Partitions without a committed offset are
    /// left out. An error for the whole group (GROUP_AUTHORIZATION_FAILED, ...)
    /// fails the call; per-partition errors are per item.
    ///
    /// Kafka 4's coordinator answers from the commits its log's high
    /// watermark covers, so one that just took over can, for a moment,
    /// answer older offsets than its predecessor acknowledged;
    /// [`Client::list_stable_group_offsets`] waits for those.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list_group_offsets(&self, group: &str, partitions: Option<&[(&str, i32)]>) -> Result<PartitionResults<GroupOffset>> {
        self.fetch_group_offsets(group, partitions, false).await
    }

    /// Like [`Client::list_group_offsets`], with `require_stable` (KIP-447,
    /// OffsetFetch v7+; the Java admin's `requireStable`): a partition with
    /// offsets in an open transaction fails with UNSTABLE_OFFSET_COMMIT
    /// (retriable) until the transaction ends, and Kafka 4's coordinator
    /// answers only once every commit it has written is replicated, so no
    /// acknowledged commit is missing from the answer.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list_stable_group_offsets(
        &self,
        group: &str,
        partitions: Option<&[(&str, i32)]>,
    ) -> Result<PartitionResults<GroupOffset>> {
        self.fetch_group_offsets(group, partitions, true).await
    }

    async fn fetch_group_offsets(
        &self,
        group: &str,
        partitions: Option<&[(&str, i32)]>,
        require_stable: bool,
    ) -> Result<PartitionResults<GroupOffset>> {
        let wanted = partitions.map(|p| by_topic(p.iter().map(|(t, p)| (*t, *p, ()))));
        let wanted = &wanted;
        self.on_group_coordinator(group, "OffsetFetch", |node| async move {
            let connection = self.connection(node).await?;
            let version = connection.version_for(OffsetFetchRequest::API_KEY)?;
            if require_stable && version < 7 {
                return Err(Error::Kafka {
                    broker: connection.broker().to_string(),
                    context: format!(
                        "OffsetFetch {group} with require_stable needs v7+ (Kafka 2.5+), the broker's highest is v{version} \
                         (list_group_offsets does without)"
                    ),
                    code: ErrorCode::UNSUPPORTED_VERSION,
                    message: None,
                });
            }
            let partition_indexes = |parts: &Vec<(i32, ())>| parts.iter().map(|(p, ())| *p).collect::<Vec<i32>>();
            // v8+ (KIP-709) asks per group; older versions have one group at the top level.
            let request = if version >= 8 {
                OffsetFetchRequest {
                    groups: vec![OffsetFetchRequestGroup {
                        group_id: group.to_string(),
                        member_id: None,
                        member_epoch: -1,
                        topics: wanted.as_ref().map(|w| {
                            w.iter()
                                .map(|(name, parts)| OffsetFetchRequestTopics {
                                    name: name.to_string(),
                                    partition_indexes: partition_indexes(parts),
                                    ..Default::default()
                                })
                                .collect()
                        }),
                        ..Default::default()
                    }],
                    require_stable,
                    ..Default::default()
                }
            } else {
                OffsetFetchRequest {
                    group_id: group.to_string(),
                    require_stable,
                    topics: wanted.as_ref().map(|w| {
                        w.iter()
                            .map(|(name, parts)| OffsetFetchRequestTopic {
                                name: name.to_string(),
                                partition_indexes: partition_indexes(parts),
                                ..Default::default()
                            })
                            .collect()
                    }),
                    ..Default::default()
                }
            };
            let response = connection.send_version(&request, version).await?;
            let broker = connection.broker().to_string();
            // (topic, partition, offset, epoch, metadata, error) from either layout.
            let mut rows = Vec::new();
            let group_code = if version >= 8 {
                let Some(answer) = response.groups.into_iter().find(|g| g.group_id == group) else {
                    return Err(super::retry::missing(&broker, format!("OffsetFetch {group}")));
                };
                for t in answer.topics {
                    for p in t.partitions {
                        rows.push((
                            t.name.clone(),
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.metadata,
                            p.error_code,
                        ));
                    }
                }
                answer.error_code
            } else {
                for t in response.topics {
                    for p in t.partitions {
                        rows.push((
                            t.name.clone(),
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.metadata,
                            p.error_code,
                        ));
                    }
                }
                response.error_code
            };
            step(check(&broker, || format!("OffsetFetch {group}"), group_code, None).map(|()| {
                let mut offsets = PartitionResults::new();
                for (topic, partition, offset, epoch, metadata, code) in rows {
                    let context = || format!("OffsetFetch {group} {topic}-{partition}");
                    let result = check(&broker, context, code, None).map(|()| GroupOffset {
                        offset,
                        leader_epoch: (epoch >= 0).then_some(epoch),
                        metadata: metadata.unwrap_or_default(),
                    });
                    if result.as_ref().is_ok_and(|o| o.offset < 0) {
                        continue;
                    }
                    offsets.insert((topic, partition), result);
                }
                offsets
            }))
        })
        .await
    }

    /// Sets `group`'s committed offsets of `(topic, partition, offset)`, as an
    /// administrator (generation -1): the group must have no active members
    /// (UNKNOWN_MEMBER_ID per partition otherwise). One result per partition.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn alter_group_offsets(&self, group: &str, offsets: &[(&str, i32, i64)]) -> Result<PartitionResults<()>> {
        let request = &OffsetCommitRequest {
            group_id: group.to_string(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            group_instance_id: None,
            retention_time_ms: -1,
            topics: by_topic(offsets.iter().copied())
                .into_iter()
                .map(|(name, parts)| OffsetCommitRequestTopic {
                    name: name.to_string(),
                    partitions: parts
                        .into_iter()
                        .map(|(partition_index, committed_offset)| OffsetCommitRequestPartition {
                            partition_index,
                            committed_offset,
                            committed_leader_epoch: -1,
                            commit_timestamp: -1,
                            committed_metadata: Some(String::new()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        self.on_group_coordinator(group, "OffsetCommit", |node| async move {
            let response = self.send(node, request).await?;
            let broker = self.broker_name(node);
            let mut results = PartitionResults::new();
            for t in response.topics {
                for p in t.partitions {
                    let context = || format!("OffsetCommit {group} {}-{}", t.name, p.partition_index);
                    let result = check(&broker, context, p.error_code, None);
                    if let Err(e) = &result {
                        if e.code().is_some_and(is_coordinator_moved) {
                            return Ok(Step::Retry(e.clone()));
                        }
                    }
                    results.insert((t.name.clone(), p.partition_index), result);
                }
            }
            Ok(Step::Done(results))
        })
        .await
        .map(|mut results| {
            for (topic, partition, _) in offsets {
                results
                    .entry((topic.to_string(), *partition))
                    .or_insert_with(|| Err(super::retry::missing("coordinator", format!("OffsetCommit {group} {topic}-{partition}"))));
            }
            results
        })
    }

    /// Deletes `group`'s committed offsets of `partitions` (KIP-496; the group
    /// must not be subscribed to their topics: GROUP_SUBSCRIBED_TO_TOPIC per
    /// partition). A group-level error (GROUP_ID_NOT_FOUND, ...) fails the call.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete_group_offsets(&self, group: &str, partitions: &[(&str, i32)]) -> Result<PartitionResults<()>> {
        let request = &OffsetDeleteRequest {
            group_id: group.to_string(),
            topics: by_topic(partitions.iter().map(|(t, p)| (*t, *p, ())))
                .into_iter()
                .map(|(name, parts)| OffsetDeleteRequestTopic {
                    name: name.to_string(),
                    partitions: parts
                        .into_iter()
                        .map(|(partition_index, ())| OffsetDeleteRequestPartition { partition_index, ..Default::default() })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        self.on_group_coordinator(group, "OffsetDelete", |node| async move {
            let response = self.send(node, request).await?;
            let broker = self.broker_name(node);
            step(check(&broker, || format!("OffsetDelete {group}"), response.error_code, None).map(|()| {
                let mut results = PartitionResults::new();
                for t in response.topics {
                    for p in t.partitions {
                        let context = || format!("OffsetDelete {group} {}-{}", t.name, p.partition_index);
                        results.insert((t.name.clone(), p.partition_index), check(&broker, context, p.error_code, None));
                    }
                }
                results
            }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use rill_protocol::ErrorCode;

    #[test]
    fn only_coordinator_moves_are_retried() {
        let kafka = |code| Error::Kafka { broker: "b:1".into(), context: "x".into(), code, message: None };
        assert!(matches!(step::<()>(Err(kafka(ErrorCode::NOT_COORDINATOR))), Ok(Step::Retry(_))));
        assert!(matches!(step::<()>(Err(kafka(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS))), Ok(Step::Retry(_))));
        assert!(step::<()>(Err(kafka(ErrorCode::GROUP_ID_NOT_FOUND))).is_err());
        assert!(matches!(step(Ok(3)), Ok(Step::Done(3))));
    }
}

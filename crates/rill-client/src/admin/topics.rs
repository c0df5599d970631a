//! Topic admin calls beyond create/delete: adding partitions
//! (CreatePartitions, on the controller), listing topics (Metadata for all
//! topics) and describing topics (DescribeTopicPartitions, KIP-966, paged
//! with its cursor, on Kafka 3.8+; a Metadata request on older brokers).

use std::collections::BTreeMap;
use std::time::Duration;

use rill_protocol::message::Request;
use rill_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use rill_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use rill_protocol::messages::{CreatePartitionsRequest, DescribeTopicPartitionsRequest, MetadataRequest};
use rill_protocol::{ErrorCode, Uuid};

use super::retry::{check, missing, timeout_ms, Retry};
use super::ItemResult;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::metadata::{PartitionMetadata, TopicMetadata};

/// Partitions per DescribeTopicPartitions page (the broker caps it too).
const PAGE_PARTITIONS: i32 = 2000;
/// A bound on pages, so a broker that keeps answering a cursor cannot keep the call going forever.
const MAX_PAGES: usize = 10_000;

/// A topic's new partition count for [`Client::create_partitions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    pub topic: String,
    /// The total count after the call (not the number added).
    pub total_count: i32,
    /// Replica broker ids of each new partition (first = preferred leader);
    /// `None`: the controller places them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    pub fn increase_to(topic: impl Into<String>, total_count: i32) -> Self {
        NewPartitions { topic: topic.into(), total_count, assignments: None }
    }

    pub fn assignments(mut self, assignments: Vec<Vec<i32>>) -> Self {
        self.assignments = Some(assignments);
        self
    }
}

/// One topic of [`Client::list_topics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    pub name: String,
    /// `Uuid::ZERO` when the broker does not report ids.
    pub id: Uuid,
    pub is_internal: bool,
}

impl Client {
    /// Raises topics' partition counts; one result per topic. Topics the
    /// broker answers NOT_CONTROLLER for are sent again to the controller of
    /// refreshed metadata, within `request.timeout.ms`.
    #[tracing::instrument(level = "debug", skip_all, fields(topics = topics.len()))]
    pub async fn create_partitions(&self, topics: &[NewPartitions], timeout: Duration) -> Result<BTreeMap<String, ItemResult<()>>> {
        let mut retry = Retry::new(self, "CreatePartitions");
        let mut results = BTreeMap::new();
        let mut remaining: Vec<&NewPartitions> = topics.iter().collect();
        while !remaining.is_empty() {
            let request = CreatePartitionsRequest {
                topics: remaining
                    .iter()
                    .map(|t| CreatePartitionsTopic {
                        name: t.topic.clone(),
                        count: t.total_count,
                        assignments: t.assignments.as_ref().map(|a| {
                            a.iter().map(|ids| CreatePartitionsAssignment { broker_ids: ids.clone(), ..Default::default() }).collect()
                        }),
                        ..Default::default()
                    })
                    .collect(),
                timeout_ms: timeout_ms(timeout),
                validate_only: false,
                ..Default::default()
            };
            let node = self.controller().await?;
            let response = match self.send(node, &request).await {
                Ok(response) => response,
                Err(e) if e.is_retriable() => {
                    retry.wait(e).await?;
                    self.refresh_metadata(Some(&[])).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let broker = self.broker_name(node);
            let mut moved = Vec::new();
            for answer in response.results {
                let name = answer.name.clone();
                let result = check(&broker, || format!("CreatePartitions {name}"), answer.error_code, answer.error_message);
                match result {
                    Err(e) if e.code() == Some(ErrorCode::NOT_CONTROLLER) => moved.push((answer.name, e)),
                    result => {
                        // The cached partition list is out of date now.
                        self.note_error(&answer.name, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
                        results.insert(answer.name, result);
                    }
                }
            }
            remaining.retain(|t| moved.iter().any(|(name, _)| *name == t.topic));
            let Some((_, last)) = moved.pop() else { break };
            if let Err(e) = retry.wait(last).await {
                results.extend(remaining.iter().map(|t| (t.topic.clone(), Err(e.clone()))));
                break;
            }
            self.refresh_metadata(Some(&[])).await?;
        }
        for t in topics {
            results.entry(t.topic.clone()).or_insert_with(|| Err(missing("controller", format!("CreatePartitions {}", t.topic))));
        }
        Ok(results)
    }

    /// Every topic of the cluster; internal ones (`__consumer_offsets`, ...)
    /// only with `include_internal`.
    pub async fn list_topics(&self, include_internal: bool) -> Result<BTreeMap<String, TopicListing>> {
        let mut retry = Retry::new(self, "Metadata");
        let response = loop {
            let node = self.any_node().await?;
            let attempt = async {
                let connection = self.connection(node).await?;
                let version = connection.version_for(MetadataRequest::API_KEY)?;
                // v0 means "all topics" by an empty list; v1+ by null.
                let request = MetadataRequest {
                    topics: if version == 0 { Some(Vec::new()) } else { None },
                    allow_auto_topic_creation: false,
                    ..Default::default()
                };
                connection.send_version(&request, version).await
            };
            match attempt.await {
                Ok(response) => break response,
                Err(e) if e.is_retriable() => retry.wait(e).await?,
                Err(e) => return Err(e),
            }
        };
        Ok(response
            .topics
            .into_iter()
            .filter(|t| include_internal || !t.is_internal)
            .filter_map(|t| {
                let name = t.name?;
                Some((name.clone(), TopicListing { name, id: t.topic_id, is_internal: t.is_internal }))
            })
            .collect())
    }

    /// Partitions (leader, epoch, replicas, ISR, offline replicas) of each
    /// topic; an unknown topic is an UNKNOWN_TOPIC_OR_PARTITION error for that
    /// topic only.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn describe_topics(&self, topics: &[&str]) -> Result<BTreeMap<String, ItemResult<TopicMetadata>>> {
        let mut retry = Retry::new(self, "DescribeTopicPartitions");
        loop {
            let node = self.any_node().await?;
            let attempt = async {
                let connection = self.connection(node).await?;
                if connection.version_for(DescribeTopicPartitionsRequest::API_KEY).is_ok() {
                    self.describe_topic_partitions(node, topics).await
                } else {
                    self.describe_topics_by_metadata(node, topics).await
                }
            };
            match attempt.await {
                Ok(described) => return Ok(described),
                Err(e) if e.is_retriable() => retry.wait(e).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// DescribeTopicPartitions, following `next_cursor` until the last page.
    async fn describe_topic_partitions(&self, node: i32, topics: &[&str]) -> Result<BTreeMap<String, ItemResult<TopicMetadata>>> {
        let broker = self.broker_name(node);
        let mut names: Vec<&str> = topics.to_vec();
        names.sort_unstable();
        names.dedup();
        let mut described: BTreeMap<String, ItemResult<TopicMetadata>> = BTreeMap::new();
        let mut cursor: Option<Cursor> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Error::Kafka {
                    broker,
                    context: format!("DescribeTopicPartitions: still paging after {MAX_PAGES} pages"),
                    code: ErrorCode::UNKNOWN_SERVER_ERROR,
                    message: None,
                });
            }
            let request = DescribeTopicPartitionsRequest {
                topics: names.iter().map(|n| TopicRequest { name: n.to_string(), ..Default::default() }).collect(),
                response_partition_limit: PAGE_PARTITIONS,
                cursor: cursor.clone(),
                ..Default::default()
            };
            let response = self.send(node, &request).await?;
            for topic in response.topics {
                let name = topic.name.unwrap_or_default();
                let context = || format!("DescribeTopicPartitions {name}");
                if let Err(e) = check(&broker, context, topic.error_code, None) {
                    described.insert(name, Err(e));
                    continue;
                }
                let entry = described.entry(name.clone()).or_insert_with(|| {
                    Ok(TopicMetadata {
                        name,
                        id: topic.topic_id,
                        is_internal: topic.is_internal,
                        error: ErrorCode::NONE,
                        partitions: BTreeMap::new(),
                    })
                });
                if let Ok(metadata) = entry {
                    for p in topic.partitions {
                        metadata.partitions.insert(
                            p.partition_index,
                            PartitionMetadata {
                                partition: p.partition_index,
                                leader: (p.leader_id >= 0).then_some(p.leader_id),
                                leader_epoch: p.leader_epoch,
                                replicas: p.replica_nodes,
                                isr: p.isr_nodes,
                                offline_replicas: p.offline_replicas,
                                error: ErrorCode(p.error_code),
                            },
                        );
                    }
                }
            }
            let Some(next) = response.next_cursor else {
                break;
            };
            let next = Cursor { topic_name: next.topic_name, partition_index: next.partition_index, ..Default::default() };
            // The cursor must move forward, or the broker would page forever.
            let previous = cursor.as_ref().map(|c| (c.topic_name.as_str(), c.partition_index));
            if previous.is_some_and(|p| p >= (next.topic_name.as_str(), next.partition_index)) {
                return Err(Error::Kafka {
                    broker,
                    context: format!(
                        "DescribeTopicPartitions: the next cursor {}-{} does not move forward",
                        next.topic_name, next.partition_index
                    ),
                    code: ErrorCode::UNKNOWN_SERVER_ERROR,
                    message: None,
                });
            }
            cursor = Some(next);
        }
        for name in names {
            described.entry(name.to_string()).or_insert_with(|| Err(missing(&broker, format!("DescribeTopicPartitions {name}"))));
        }
        Ok(described)
    }

    /// Brokers before Kafka 3.8: the same answer from a Metadata request.
    async fn describe_topics_by_metadata(&self, node: i32, topics: &[&str]) -> Result<BTreeMap<String, ItemResult<TopicMetadata>>> {
        let broker = self.broker_name(node);
        let snapshot = self.metadata(topics).await?;
        Ok(topics
            .iter()
            .map(|&name| {
                let result = match snapshot.topic(name) {
                    Some(topic) => check(&broker, || format!("Metadata {name}"), topic.error.0, None).map(|()| topic.clone()),
                    None => Err(Error::Kafka {
                        broker: broker.clone(),
                        context: format!("Metadata {name}"),
                        code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        message: None,
                    }),
                };
                (name.to_string(), result)
            })
            .collect())
    }
}

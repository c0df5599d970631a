//! Consumer groups: listing them (ListGroups on every broker, since each
//! knows only the groups it coordinates), describing and deleting them
//! (DescribeGroups, DeleteGroups on each group's coordinator).

use std::collections::BTreeMap;

use rill_protocol::message::decode_versioned;
use rill_protocol::messages::{ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest};
use rill_protocol::ErrorCode;

use super::retry::{check, is_coordinator_moved, missing, Retry, Step};
use super::ItemResult;
use crate::client::Client;
use crate::error::Result;

/// One group of [`Client::list_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// "consumer" for consumer groups, "" for groups that only commit offsets.
    pub protocol_type: String,
    /// "Stable", "Empty", ... (ListGroups v4+, Kafka 2.6+; "" before).
    pub state: String,
    /// "classic" or "consumer" (ListGroups v5+, Kafka 3.8+; "" before).
    pub group_type: String,
    /// The coordinator that listed it.
    pub coordinator: i32,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's partitions by topic, decoded from the consumer protocol
    /// assignment (empty for other protocols or an undecodable assignment).
    pub assignment: BTreeMap<String, Vec<i32>>,
}

/// A group as [`Client::describe_groups`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// "Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead".
    pub state: String,
    pub protocol_type: String,
    /// The assignor of a consumer group ("range", ...).
    pub protocol: String,
    pub members: Vec<GroupMember>,
    pub coordinator: i32,
}

impl Client {
    /// Every group the cluster's brokers coordinate, by group id.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list_groups(&self) -> Result<BTreeMap<String, GroupListing>> {
        self.refresh_metadata(Some(&[])).await?;
        let nodes: Vec<i32> = self.cached_metadata().brokers.keys().copied().collect();
        let mut groups = BTreeMap::new();
        for node in nodes {
            let mut retry = Retry::new(self, "ListGroups");
            let response = loop {
                let attempt = self.send(node, &ListGroupsRequest::default()).await.and_then(|response| {
                    let broker = self.broker_name(node);
                    check(&broker, || "ListGroups".to_string(), response.error_code, None).map(|()| response)
                });
                match attempt {
                    Ok(response) => break response,
                    Err(e) if e.is_retriable() => retry.wait(e).await?,
                    Err(e) => return Err(e),
                }
            };
            for g in response.groups {
                let listing = GroupListing {
                    group_id: g.group_id.clone(),
                    protocol_type: g.protocol_type,
                    state: g.group_state,
                    group_type: g.group_type,
                    coordinator: node,
                };
                groups.insert(g.group_id, listing);
            }
        }
        Ok(groups)
    }

    /// Describes each group on its coordinator; one result per group.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn describe_groups(&self, groups: &[&str]) -> Result<BTreeMap<String, ItemResult<GroupDescription>>> {
        let mut results = BTreeMap::new();
        for &group in groups {
            let request = &DescribeGroupsRequest { groups: vec![group.to_string()], ..Default::default() };
            let described = self
                .on_group_coordinator(group, "DescribeGroups", |node| async move {
                    let response = self.send(node, request).await?;
                    let broker = self.broker_name(node);
                    let Some(g) = response.groups.into_iter().find(|g| g.group_id == group) else {
                        return Ok(Step::Done(Err(missing(&broker, format!("DescribeGroups {group}")))));
                    };
                    let result = check(&broker, || format!("DescribeGroups {group}"), g.error_code, None);
                    Ok(match result {
                        Err(e) if e.code().is_some_and(is_coordinator_moved) => Step::Retry(e),
                        Err(e) => Step::Done(Err(e)),
                        Ok(()) => {
                            let consumer = g.protocol_type == "consumer";
                            let members = g
                                .members
                                .into_iter()
                                .map(|m| GroupMember {
                                    assignment: if consumer { decode_assignment(&m.member_assignment) } else { BTreeMap::new() },
                                    member_id: m.member_id,
                                    group_instance_id: m.group_instance_id,
                                    client_id: m.client_id,
                                    client_host: m.client_host,
                                })
                                .collect();
                            Step::Done(Ok(GroupDescription {
                                group_id: g.group_id,
                                state: g.group_state,
                                protocol_type: g.protocol_type,
                                protocol: g.protocol_data,
                                members,
                                coordinator: node,
                            }))
                        }
                    })
                })
                .await;
            results.insert(group.to_string(), described.and_then(|r| r));
        }
        Ok(results)
    }

    /// Deletes each group (it must have no members) with its committed
    /// offsets; one result per group (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, ...).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete_groups(&self, groups: &[&str]) -> Result<BTreeMap<String, ItemResult<()>>> {
        let mut results = BTreeMap::new();
        for &group in groups {
            let request = &DeleteGroupsRequest { groups_names: vec![group.to_string()], ..Default::default() };
            let deleted = self
                .on_group_coordinator(group, "DeleteGroups", |node| async move {
                    let response = self.send(node, request).await?;
                    let broker = self.broker_name(node);
                    let code =
                        response.results.iter().find(|r| r.group_id == group).map_or(ErrorCode::UNKNOWN_SERVER_ERROR.0, |r| r.error_code);
                    Ok(match check(&broker, || format!("DeleteGroups {group}"), code, None) {
                        Err(e) if e.code().is_some_and(is_coordinator_moved) => Step::Retry(e),
                        result => Step::Done(result),
                    })
                })
                .await;
            results.insert(group.to_string(), deleted.and_then(|r| r));
        }
        Ok(results)
    }
}

/// A consumer-protocol assignment's partitions by topic (empty when it does not decode).
fn decode_assignment(bytes: &bytes::Bytes) -> BTreeMap<String, Vec<i32>> {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    if let Ok((_, assignment)) = decode_versioned::<ConsumerProtocolAssignment>(bytes) {
        for tp in assignment.assigned_partitions {
            by_topic.entry(tp.topic).or_default().extend(tp.partitions);
        }
    }
    by_topic
}

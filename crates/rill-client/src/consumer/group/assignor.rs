//! What the assignors work on, and the consumer protocol's payloads.
//!
//! Each member sends a `ConsumerProtocolSubscription` in JoinGroup (topics,
//! owned partitions, generation); the leader runs the chosen assignor and
//! sends each member a `ConsumerProtocolAssignment` in SyncGroup. Both are
//! versioned payloads (`encode_versioned` / `decode_versioned`), readable by
//! Java consumers of any version.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use rill_protocol::message::{decode_versioned, encode_versioned, Message};
use rill_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignmentTopic;
use rill_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use rill_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use rill_protocol::{DecodeError, EncodeError};

use super::TopicPartition;
use crate::config::AssignmentStrategy;

/// A member's subscription as the group leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    pub member_id: String,
    /// Static members (KIP-345) are ordered by this id before dynamic ones, as Java's `MemberInfo` does.
    pub group_instance_id: Option<String>,
    pub topics: Vec<String>,
    /// What the member owns now (subscription v1+; the cooperative assignor keeps these where it can).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the owned partitions are from (v2+, or the cooperative-sticky user data); -1: unknown.
    pub generation: i32,
}

/// Java's `MemberInfo` order: static members by instance id first, then dynamic members by member id.
pub(crate) fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> std::cmp::Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// Runs `strategy` over `subscriptions` (by member id) and the partition
/// counts of the subscribed topics that exist. Every member gets an entry.
pub fn assign(
    strategy: AssignmentStrategy,
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut result = match strategy {
        AssignmentStrategy::Range => super::range::assign(partitions_per_topic, subscriptions),
        AssignmentStrategy::RoundRobin => super::roundrobin::assign(partitions_per_topic, subscriptions),
        AssignmentStrategy::CooperativeSticky => super::cooperative_sticky::assign(partitions_per_topic, subscriptions),
    };
    for member in subscriptions.keys() {
        result.entry(member.clone()).or_default();
    }
    for partitions in result.values_mut() {
        partitions.sort();
    }
    result
}

/// The highest subscription version this client writes (v3 adds the rack).
const SUBSCRIPTION_VERSION: i16 = 3;
/// The highest assignment version this client writes.
const ASSIGNMENT_VERSION: i16 = 3;

fn grouped(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
    }
    by_topic
}

/// The JoinGroup metadata of this member. The cooperative-sticky assignor
/// also puts the generation in the user data (as an INT32), which older
/// Java versions read from there.
pub fn encode_subscription(
    topics: &BTreeSet<String>,
    owned: &[TopicPartition],
    generation: i32,
    strategy: AssignmentStrategy,
) -> Result<Bytes, EncodeError> {
    let subscription = ConsumerProtocolSubscription {
        topics: topics.iter().cloned().collect(),
        user_data: strategy.is_cooperative().then(|| Bytes::copy_from_slice(&generation.to_be_bytes())),
        owned_partitions: grouped(owned)
            .into_iter()
            .map(|(topic, partitions)| OwnedTopic { topic: topic.to_string(), partitions, ..Default::default() })
            .collect(),
        generation_id: generation,
        ..Default::default()
    };
    Ok(encode_versioned(&subscription, SUBSCRIPTION_VERSION.min(ConsumerProtocolSubscription::VERSIONS.max))?.freeze())
}

/// Decodes a member's JoinGroup metadata (any version, untrusted bytes).
pub fn decode_subscription(member_id: &str, group_instance_id: Option<&str>, metadata: &Bytes) -> Result<MemberSubscription, DecodeError> {
    let (version, s) = decode_versioned::<ConsumerProtocolSubscription>(metadata)?;
    let mut generation = if version >= 2 { s.generation_id } else { -1 };
    if generation < 0 {
        // CooperativeStickyAssignor before subscription v2 carried the generation in the user data.
        if let Some(bytes) = s.user_data.as_ref().filter(|b| b.len() == 4) {
            let mut raw = [0u8; 4];
            raw.copy_from_slice(bytes);
            generation = i32::from_be_bytes(raw);
        }
    }
    Ok(MemberSubscription {
        member_id: member_id.to_string(),
        group_instance_id: group_instance_id.map(str::to_string),
        topics: s.topics,
        owned_partitions: s
            .owned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| TopicPartition::new(topic.clone(), p))
            })
            .collect(),
        generation,
    })
}

/// The SyncGroup assignment of one member.
pub fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes, EncodeError> {
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: grouped(partitions)
            .into_iter()
            .map(|(topic, partitions)| AssignmentTopic { topic: topic.to_string(), partitions, ..Default::default() })
            .collect(),
        user_data: None,
        ..Default::default()
    };
    Ok(encode_versioned(&assignment, ASSIGNMENT_VERSION.min(ConsumerProtocolAssignment::VERSIONS.max))?.freeze())
}

/// Decodes this member's assignment from SyncGroup (empty bytes: nothing assigned).
pub fn decode_assignment(bytes: &Bytes) -> Result<BTreeSet<TopicPartition>, DecodeError> {
    if bytes.is_empty() {
        return Ok(BTreeSet::new());
    }
    let (_, a) = decode_versioned::<ConsumerProtocolAssignment>(bytes)?;
    Ok(a.assigned_partitions
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions.into_iter().map(move |p| TopicPartition::new(topic.clone(), p))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips_with_owned_partitions_and_generation() {
        let topics: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let owned = [TopicPartition::new("a", 1), TopicPartition::new("a", 0), TopicPartition::new("b", 2)];
        let bytes = encode_subscription(&topics, &owned, 7, AssignmentStrategy::CooperativeSticky).unwrap();
        let s = decode_subscription("m", Some("i"), &bytes).unwrap();
        assert_eq!(s.topics, ["a", "b"]);
        assert_eq!(s.generation, 7);
        assert_eq!(s.group_instance_id.as_deref(), Some("i"));
        assert_eq!(s.owned_partitions, [TopicPartition::new("a", 1), TopicPartition::new("a", 0), TopicPartition::new("b", 2)]);
    }

    #[test]
    fn generation_falls_back_to_cooperative_user_data_of_v1() {
        let subscription = ConsumerProtocolSubscription {
            topics: vec!["t".into()],
            user_data: Some(Bytes::from_static(&[0, 0, 0, 5])),
            ..Default::default()
        };
        let bytes = encode_versioned(&subscription, 1).unwrap().freeze();
        assert_eq!(decode_subscription("m", None, &bytes).unwrap().generation, 5);
        let v0 = encode_versioned(&ConsumerProtocolSubscription { topics: vec!["t".into()], ..Default::default() }, 0).unwrap().freeze();
        assert_eq!(decode_subscription("m", None, &v0).unwrap().generation, -1);
    }

    #[test]
    fn assignment_round_trips_and_rejects_garbage() {
        let parts = [TopicPartition::new("x", 3), TopicPartition::new("x", 1), TopicPartition::new("y", 0)];
        let bytes = encode_assignment(&parts).unwrap();
        let decoded: Vec<_> = decode_assignment(&bytes).unwrap().into_iter().collect();
        assert_eq!(decoded, [TopicPartition::new("x", 1), TopicPartition::new("x", 3), TopicPartition::new("y", 0)]);
        assert!(decode_assignment(&Bytes::new()).unwrap().is_empty());
        // A topic count far beyond the bytes present is an error, not an allocation.
        assert!(decode_assignment(&Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])).is_err());
        assert!(decode_subscription("m", None, &Bytes::from_static(&[0])).is_err());
    }
}

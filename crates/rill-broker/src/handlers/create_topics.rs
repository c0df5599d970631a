//! CreateTopics (key 19), versions 2-7.
//!
//! Creates each topic through the controller: partitions and replication
//! factor (-1: the controller's defaults) or an explicit assignment;
//! `validate_only` checks without creating. Errors per topic:
//! TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS,
//! INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT, with a message.
//! Topic configs are accepted and ignored (the model has no retention or
//! compaction). v5+ echoes partitions, replication factor and configs.

use rill_protocol::messages::create_topics_request::CreateTopicsRequest;
use rill_protocol::messages::create_topics_response::{CreatableTopicResult, CreateTopicsResponse};
use rill_protocol::{ErrorCode, VersionRange};

use crate::broker::Shared;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(2, 7);

pub(crate) fn handle(shared: &Shared, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let mut assignment: Vec<(i32, Vec<i32>)> = t.assignments.into_iter().map(|a| (a.partition_index, a.broker_ids)).collect();
            assignment.sort_by_key(|(p, _)| *p);
            let in_order = assignment.iter().enumerate().all(|(i, (p, _))| usize::try_from(*p).ok() == Some(i));
            if !in_order {
                return CreatableTopicResult {
                    name: t.name,
                    error_code: ErrorCode::INVALID_REPLICA_ASSIGNMENT.0,
                    error_message: Some("assignments must cover partitions 0..n exactly once".to_string()),
                    ..Default::default()
                };
            }
            let replica_sets: Vec<Vec<i32>> = assignment.into_iter().map(|(_, r)| r).collect();
            match shared.controller.create_topic(&t.name, t.num_partitions, t.replication_factor, &replica_sets, req.validate_only) {
                Ok(created) => CreatableTopicResult {
                    name: t.name,
                    topic_id: created.id,
                    error_code: 0,
                    num_partitions: i32::try_from(created.partitions.len()).unwrap_or(i32::MAX),
                    replication_factor: created.partitions.first().map_or(-1, |p| i16::try_from(p.replicas.len()).unwrap_or(i16::MAX)),
                    configs: Some(Vec::new()),
                    ..Default::default()
                },
                Err(e) => CreatableTopicResult { name: t.name, error_code: e.code.0, error_message: Some(e.message), ..Default::default() },
            }
        })
        .collect();
    CreateTopicsResponse { topics, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::broker;
    use rill_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};

    fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
        CreatableTopic { name: name.into(), num_partitions: partitions, replication_factor: rf, ..Default::default() }
    }

    #[test]
    fn creates_validates_and_refuses() {
        let b = broker();
        let s = b.shared();
        let r = handle(s, CreateTopicsRequest { topics: vec![topic("dry", 3, 1)], validate_only: true, ..Default::default() });
        assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 3));
        assert!(b.controller().topic("dry").is_none(), "validate_only creates nothing");
        let r =
            handle(s, CreateTopicsRequest { topics: vec![topic("new", -1, -1), topic("t", 1, 1), topic("x", 1, 3)], ..Default::default() });
        let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(codes, vec![0, ErrorCode::TOPIC_ALREADY_EXISTS.0, ErrorCode::INVALID_REPLICATION_FACTOR.0]);
        assert!(r.topics[2].error_message.as_deref().unwrap_or("").contains("live brokers"));
        let mut gap = topic("gap", -1, -1);
        gap.assignments = vec![CreatableReplicaAssignment { partition_index: 1, broker_ids: vec![1], ..Default::default() }];
        let r = handle(s, CreateTopicsRequest { topics: vec![gap], ..Default::default() });
        assert_eq!(r.topics[0].error_code, ErrorCode::INVALID_REPLICA_ASSIGNMENT.0);
    }
}

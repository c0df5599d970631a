//! Metadata (key 3), versions 1-12.
//!
//! Live brokers, the cluster id, and per topic its id and per partition the
//! leader, leader epoch (v7+), replicas, ISR and offline replicas, as the
//! controller has them. `topics: null` lists every topic; a name not known
//! is UNKNOWN_TOPIC_OR_PARTITION, or is created with the defaults when
//! `auto.create.topics.enable` and the request allows it (v4+). v10+ topics
//! may be named by id. A partition without a leader is LEADER_NOT_AVAILABLE.

use std::collections::BTreeSet;

use rill_protocol::messages::metadata_request::MetadataRequest;
use rill_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use rill_protocol::{ErrorCode, Uuid, VersionRange};

use crate::broker::Shared;
use crate::controller::TopicState;

pub(crate) const VERSIONS: VersionRange = VersionRange::new(1, 12);

pub(crate) fn handle(shared: &Shared, version: i16, req: MetadataRequest) -> MetadataResponse {
    let brokers = shared.controller.brokers();
    let alive: Vec<i32> = brokers.iter().filter(|b| b.alive).map(|b| b.id).collect();
    let topics: Vec<MetadataResponseTopic> = match req.topics {
        None => shared.controller.topics().iter().map(|(name, t)| topic(name, t, &alive)).collect(),
        // Each topic once, as Kafka answers: a name repeated in the request
        // (3 bytes an entry) would otherwise build its whole state again.
        Some(requested) => {
            let mut seen = BTreeSet::new();
            requested
                .iter()
                .filter(|r| seen.insert((r.name.as_deref(), r.topic_id)))
                .map(|r| {
                    let name = match r.name.clone() {
                        Some(n) => n,
                        None => match shared.controller.topic_name(r.topic_id) {
                            Some(n) => n,
                            None => {
                                return MetadataResponseTopic {
                                    error_code: ErrorCode::UNKNOWN_TOPIC_ID.0,
                                    topic_id: r.topic_id,
                                    ..Default::default()
                                }
                            }
                        },
                    };
                    if let Some(t) = shared.controller.topic(&name) {
                        return topic(&name, &t, &alive);
                    }
                    let auto = shared.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
                    if auto {
                        match shared.controller.create_topic(&name, -1, -1, &[], false) {
                            Ok(t) => return topic(&name, &t, &alive),
                            Err(e) => return unknown(&name, e.code),
                        }
                    }
                    unknown(&name, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                })
                .collect()
        }
    };
    MetadataResponse {
        brokers: brokers
            .iter()
            .filter(|b| b.alive)
            .map(|b| MetadataResponseBroker { node_id: b.id, host: b.host.clone(), port: i32::from(b.port), ..Default::default() })
            .collect(),
        cluster_id: Some(shared.controller_config().cluster_id),
        controller_id: shared.me(),
        topics,
        ..Default::default()
    }
}

fn unknown(name: &str, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic { error_code: code.0, name: Some(name.to_string()), topic_id: Uuid::ZERO, ..Default::default() }
}

fn topic(name: &str, t: &TopicState, alive: &[i32]) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: ErrorCode::NONE.0,
        name: Some(name.to_string()),
        topic_id: t.id,
        partitions: t
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| MetadataResponsePartition {
                error_code: if p.leader < 0 { ErrorCode::LEADER_NOT_AVAILABLE.0 } else { 0 },
                partition_index: i32::try_from(i).unwrap_or(i32::MAX),
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                offline_replicas: p.replicas.iter().copied().filter(|r| !alive.contains(r)).collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::broker;
    use rill_protocol::messages::metadata_request::MetadataRequestTopic;

    fn named(names: &[&str], auto: bool) -> MetadataRequest {
        MetadataRequest {
            topics: Some(names.iter().map(|n| MetadataRequestTopic { name: Some(n.to_string()), ..Default::default() }).collect()),
            allow_auto_topic_creation: auto,
            ..Default::default()
        }
    }

    #[test]
    fn topics_brokers_and_errors() {
        let b = broker();
        let s = b.shared();
        let all = handle(s, 12, MetadataRequest { topics: None, ..Default::default() });
        assert_eq!(all.brokers.len(), 1);
        assert_eq!(all.cluster_id.as_deref(), Some("rill-dev-cluster"));
        assert_eq!(all.topics.len(), 1);
        assert_eq!(all.topics[0].partitions.len(), 2);
        assert_eq!(all.topics[0].partitions[1].leader_id, 1);
        let r = handle(s, 12, named(&["nope"], false));
        assert_eq!(r.topics[0].error_code, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0);
        // A topic named again and again is answered once.
        let r = handle(s, 12, named(&["t", "nope", "t", "t", "nope"], false));
        let names: Vec<_> = r.topics.iter().map(|t| t.name.as_deref().unwrap_or_default()).collect();
        assert_eq!(names, ["t", "nope"]);
        let r = handle(s, 12, named(&["made"], true));
        assert_eq!((r.topics[0].error_code, r.topics[0].partitions.len()), (0, 1));
        let r = handle(s, 12, named(&["bad name"], true));
        assert_eq!(r.topics[0].error_code, ErrorCode::INVALID_TOPIC_EXCEPTION.0);
        // A dead broker: its partitions have no leader and it is an offline replica.
        b.controller().set_alive(1, false);
        let r = handle(s, 12, named(&["t"], false));
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.leader_id, p.offline_replicas.clone()), (ErrorCode::LEADER_NOT_AVAILABLE.0, -1, vec![1]));
        assert!(r.brokers.is_empty());
    }
}

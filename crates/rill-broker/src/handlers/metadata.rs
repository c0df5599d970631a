//! Metadata (key 3), versions 1-12.
//!
//! Live brokers, the cluster id, and per topic its id and per partition the
//! leader, leader epoch (v7+), replicas, ISR and offline replicas, as the
//! controller has them. `topics: null` lists every topic; a name not known
//! is UNKNOWN_TOPIC_OR_PARTITION, or is created with the defaults when
//! `auto.create.topics.enable` and the request allows it (v4+). v10+ topics
//! may be named by id. A partition without a leader is LEADER_NOT_AVAILABLE.

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
        Some(requested) => requested
            .into_iter()
            .map(|r| {
                let name = match r.name {
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
            .collect(),
    };
    MetadataResponse {
        brokers: brokers
            .iter()
            .filter(|b| b.alive)
            .map(|b| MetadataResponseBroker {
                node_id: b.id,
                host: b.host.clone(),
                port: i32::from(b.port),
                ..Default::default()
            })
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

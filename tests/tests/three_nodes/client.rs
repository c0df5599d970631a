//! rill-client against the real 3-node cluster: when Kafka's tools move a
//! partition's leadership, the client's stale cached leader answers with a
//! stale-metadata error (NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH), the
//! client refreshes its metadata and follows the new leader.

use std::time::Duration;

use rill_client::protocol::messages::metadata_request::MetadataRequestTopic;
use rill_client::protocol::messages::MetadataRequest;
use rill_client::{Client, ClientConfig, OffsetSpec};
use rill_e2e::{KafkaCluster, Listener};

use crate::common;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test]
async fn follows_a_leader_change_after_a_stale_metadata_error() {
    let _serial = common::three_nodes_alone().await;
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic("client-leader-move");
    cluster.create_topic(&topic, 1, 3).expect("create topic");
    let before = cluster.wait_for_partition(&topic, 0, TIMEOUT, "full ISR", |state| state.isr.len() == 3).expect("topic fully replicated");
    for value in ["a", "b"] {
        cluster.produce_acks_all(&topic, value).expect("probe").expect("produced");
    }

    let config = ClientConfig::from_properties([("bootstrap.servers", cluster.bootstrap(Listener::Plaintext).as_str())]).expect("config");
    let client = Client::connect(config).await.expect("connect");
    let metadata = client.metadata(&[&topic]).await.expect("metadata");
    assert_eq!(metadata.brokers.len(), 3);
    let cached = metadata.partition(&topic, 0).expect("partition 0").clone();
    assert_eq!(cached.leader.map(|l| l as u32), before.leader);
    assert_eq!(cached.replicas.len(), 3);

    // Move leadership with Kafka's tools; the client is not told.
    let mut target = before.replicas.clone();
    target.rotate_left(1);
    cluster.reassign(&topic, 0, &target).expect("reassign partition");
    cluster
        .wait_for_partition(&topic, 0, TIMEOUT, "replica order changed", |state| state.replicas == target)
        .expect("reassignment visible");
    cluster.elect_preferred_leader(&topic, 0).expect("preferred leader election");
    cluster
        .wait_for_partition(&topic, 0, TIMEOUT, "preferred replica leads", |state| state.leader == Some(target[0]))
        .expect("preferred leader elected");
    assert_eq!(client.cached_metadata().partition(&topic, 0).expect("cached").leader, cached.leader);
    // Each broker applies the new leadership from the metadata log on its own
    // schedule; until the old leader has, it still answers as leader (seen on
    // Kafka 3.9). Wait until every broker reports the new leader.
    wait_until_every_broker_sees_leader(&client, &topic, target[0] as i32).await;

    // The request goes to the old leader first, is refused, and is retried on the new one.
    let offsets = client.list_offsets(&[(&topic, 0, OffsetSpec::Latest)]).await.expect("list offsets");
    let latest = offsets[&(topic.clone(), 0)].as_ref().expect("offset after the leader moved");
    assert_eq!(latest.offset, 2);
    let now = client.cached_metadata();
    let partition = now.partition(&topic, 0).expect("partition 0");
    assert_eq!(partition.leader, Some(target[0] as i32));
    assert!(partition.leader_epoch > cached.leader_epoch, "{cached:?} -> {partition:?}");
    assert!(client.stats().total().retries >= 1, "{:?}", client.stats());
}

/// Asks every broker directly (not through the cache) for the partition's
/// leader until all name `leader`.
async fn wait_until_every_broker_sees_leader(client: &Client, topic: &str, leader: i32) {
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(topic.to_string()), ..Default::default() }]),
        ..Default::default()
    };
    let nodes: Vec<i32> = client.cached_metadata().brokers.keys().copied().collect();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let mut seen = Vec::new();
        for &node in &nodes {
            let answer = client.send(node, &request).await.ok().and_then(|r| {
                r.topics
                    .iter()
                    .find(|t| t.name.as_deref() == Some(topic))
                    .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0).map(|p| p.leader_id))
            });
            seen.push((node, answer));
        }
        if seen.iter().all(|(_, l)| *l == Some(leader)) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "brokers still disagree on the leader of {topic}-0: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

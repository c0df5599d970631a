//! rill-client against real Apache Kafka (the shared single-node cluster of
//! this test binary): ApiVersions negotiation, metadata compared with what
//! Kafka's own tools report, topic creation and deletion checked with
//! Kafka's tools, and the error for a plaintext client on a TLS listener.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use rill_client::protocol::frame::FrameError;
use rill_client::protocol::{ApiKey, ErrorCode, Uuid};
use rill_client::{Client, ClientConfig, Error, NewTopic, OffsetSpec};
use rill_e2e::{KafkaCluster, Listener};

/// The reconnect test stops the PLAINTEXT listener: it runs alone, the
/// other tests of this binary share the listener.
static LISTENER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn config(bootstrap: &str) -> ClientConfig {
    ClientConfig::from_properties([("bootstrap.servers", bootstrap), ("client.id", "rill-e2e-client"), ("request.timeout.ms", "30000")])
        .expect("valid config")
}

async fn client(cluster: &KafkaCluster) -> Client {
    Client::connect(config(&cluster.bootstrap(Listener::Plaintext))).await.expect("connect to the PLAINTEXT listener")
}

/// The topic id as `kafka-topics --describe` prints it (URL-safe base64 of the 16 bytes).
fn topic_id_from_kafka_tools(cluster: &KafkaCluster, topic: &str) -> Uuid {
    let args: Vec<String> =
        ["--bootstrap-server", &cluster.internal_bootstrap(), "--describe", "--topic", topic].map(String::from).to_vec();
    let out = cluster
        .java()
        .run_ok("org.apache.kafka.tools.TopicCommand", &args, None, Duration::from_secs(60))
        .expect("kafka-topics --describe");
    let id = out
        .stdout
        .split_whitespace()
        .skip_while(|word| *word != "TopicId:")
        .nth(1)
        .unwrap_or_else(|| panic!("no TopicId in {}", out.stdout));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id).expect("base64 topic id");
    Uuid(bytes.try_into().expect("16-byte topic id"))
}

#[tokio::test]
async fn negotiates_a_version_for_every_api_rill_generates() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let client = client(cluster).await;
    let metadata = client.cached_metadata();
    let (&node, _) = metadata.brokers.iter().next().expect("a broker");
    let versions = client.api_versions(node).await.expect("api versions");
    assert_eq!(versions.negotiated_with, 3, "Kafka 2.4+ answers ApiVersions v3 directly");
    // APIs newer than the broker: Kafka 2.8 predates DescribeTransactions and
    // ListTransactions (3.0, KIP-664), the KIP-848 consumer group APIs and
    // DescribeTopicPartitions (3.8, KIP-966). Their error names the broker,
    // the API and both version ranges.
    let install = cluster.java().install();
    let expected_missing: BTreeSet<String> = if install.version_at_least(3, 0) {
        BTreeSet::new()
    } else {
        ["DescribeTransactions", "ListTransactions", "ConsumerGroupHeartbeat", "ConsumerGroupDescribe", "DescribeTopicPartitions"]
            .iter()
            .map(|name| name.to_string())
            .collect()
    };
    let mut missing = BTreeSet::new();
    for &api in ApiKey::ALL {
        let Some(ours) = api.supported_versions() else { continue };
        match versions.version_for(api) {
            Ok(v) => {
                let theirs = versions.broker_range(api).expect("broker range");
                assert_eq!(v, ours.max.min(theirs.max), "{api}");
            }
            Err(e) => {
                let message = e.to_string();
                assert!(
                    matches!(e, Error::UnsupportedVersion { .. })
                        && message.contains("localhost:")
                        && message.contains(&api.to_string())
                        && message.contains("the broker supports none"),
                    "{message}"
                );
                missing.insert(api.to_string());
            }
        }
    }
    assert_eq!(missing, expected_missing, "APIs Kafka {} lacks", cluster.kafka_version());
    let stats = client.stats();
    assert!(stats.total().requests >= 2 && stats.total().errors == 0, "{stats:?}");
}

#[tokio::test]
async fn metadata_matches_kafka_tools() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let topic = cluster.unique_topic("client-metadata");
    cluster.create_topic(&topic, 3, 1).expect("create topic with Kafka's tools");
    let client = client(cluster).await;
    let metadata = client.metadata(&[&topic]).await.expect("metadata");
    let described = cluster.describe_topic(&topic).expect("describe with Kafka's tools");

    assert_eq!(metadata.cluster_id.as_deref(), Some(cluster.cluster_id()));
    let ids: Vec<u32> = metadata.brokers.keys().map(|id| *id as u32).collect();
    assert_eq!(ids, cluster.node_ids());
    let ours = metadata.topic(&topic).expect("topic in metadata");
    assert_eq!(ours.error, ErrorCode::NONE);
    assert_eq!(ours.partitions.len(), described.len());
    for state in &described {
        let p = &ours.partitions[&(state.partition as i32)];
        assert_eq!(p.leader.map(|l| l as u32), state.leader, "leader of partition {}", state.partition);
        assert_eq!(p.replicas.iter().map(|r| *r as u32).collect::<Vec<_>>(), state.replicas);
        assert_eq!(p.isr.iter().map(|r| *r as u32).collect::<Vec<_>>(), state.isr);
        assert!(p.leader_epoch >= 0);
    }
    assert_eq!(ours.id, topic_id_from_kafka_tools(cluster, &topic));
    assert_eq!(client.leader_for(&topic, 0).await.expect("leader"), described[0].leader.expect("leader") as i32);

    // A topic that does not exist.
    let missing = cluster.unique_topic("client-no-such-topic");
    let metadata = client.metadata(&[&missing]).await.expect("metadata");
    assert!(metadata.topic(&missing).is_none());
    let err = client.leader_for(&missing, 0).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));

    let cluster_info = client.describe_cluster().await.expect("describe cluster");
    assert_eq!(cluster_info.cluster_id, cluster.cluster_id());
}

#[tokio::test]
async fn creates_and_deletes_topics_as_kafka_tools_see_them() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let client = client(cluster).await;
    let topic = cluster.unique_topic("client-create");
    let results = client
        .create_topics(&[NewTopic::new(&topic, 2, 1).config("retention.ms", "60000")], Duration::from_secs(30))
        .await
        .expect("create topics");
    assert_eq!(results.len(), 1);
    assert!(results[0].result.is_ok(), "{results:?}");
    assert!(!results[0].topic_id.is_zero());
    let state = cluster
        .wait_for_partition(&topic, 1, Duration::from_secs(30), "a leader", |p| p.leader.is_some())
        .expect("Kafka's tools see the topic");
    assert_eq!(state.replicas.len(), 1);
    assert_eq!(cluster.describe_topic(&topic).expect("describe").len(), 2);
    assert_eq!(topic_id_from_kafka_tools(cluster, &topic), results[0].topic_id);

    // Creating it again: TOPIC_ALREADY_EXISTS for that topic, named in the error.
    let again = client.create_topics(&[NewTopic::new(&topic, 2, 1)], Duration::from_secs(30)).await.expect("request");
    let err = again[0].result.as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TOPIC_ALREADY_EXISTS));
    assert!(err.to_string().contains(&topic), "{err}");

    let deleted = client.delete_topics(&[&topic], Duration::from_secs(30)).await.expect("delete topics");
    assert!(deleted[0].result.is_ok(), "{deleted:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cluster.describe_topic(&topic).map(|p| p.is_empty()).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "Kafka's tools still see {topic}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let metadata = client.metadata(&[&topic]).await.expect("metadata");
    assert!(metadata.topic(&topic).is_none());
}

#[tokio::test]
async fn plaintext_client_on_the_tls_listener_is_told_so() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let bootstrap = cluster.bootstrap(Listener::Ssl);
    let mut config = config(&bootstrap);
    config.request_timeout = Duration::from_secs(20);
    let err = Client::connect(config).await.unwrap_err();
    let Error::NoBrokerReachable { last: Some(last), .. } = &err else { panic!("unexpected {err:?}") };
    match last.as_ref() {
        Error::Frame { broker, source: FrameError::TlsPeer { .. } } => assert_eq!(broker, &bootstrap),
        other => panic!("expected a TLS peer error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&bootstrap) && text.contains("peer answered with TLS"), "{text}");
}

#[tokio::test]
async fn list_offsets_matches_records_produced_by_kafka_tools() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let topic = cluster.unique_topic("client-offsets");
    cluster.create_topic(&topic, 1, 1).expect("create topic with Kafka's tools");
    let mut last = 0;
    for value in ["a", "b", "c"] {
        last = cluster.produce_acks_all(&topic, value).expect("probe").expect("produced");
    }
    assert_eq!(last, 2);
    let client = client(cluster).await;
    let results = client
        .list_offsets(&[(&topic, 0, OffsetSpec::Earliest), (&topic, 0, OffsetSpec::Latest), (&topic, 5, OffsetSpec::Latest)])
        .await
        .expect("list offsets");
    // (topic, 0) appears twice in the request; the later spec (Latest) wins in the map.
    let latest = results[&(topic.clone(), 0)].as_ref().expect("offset of partition 0");
    assert_eq!(latest.offset, 3);
    let earliest = client.list_offsets(&[(&topic, 0, OffsetSpec::Earliest)]).await.expect("list offsets");
    assert_eq!(earliest[&(topic.clone(), 0)].as_ref().expect("earliest").offset, 0);
    let err = results[&(topic.clone(), 5)].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{err}");
}

#[tokio::test]
async fn reconnects_after_the_listener_comes_back() {
    let cluster = KafkaCluster::single();
    let _exclusive = LISTENER.write().await;
    let config = ClientConfig::builder()
        .bootstrap_servers([cluster.bootstrap(Listener::Plaintext)])
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500))
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("config");
    let client = Client::connect(config).await.expect("connect");
    client.metadata(&[]).await.expect("metadata before the outage");

    cluster.stop_listener(Listener::Plaintext);
    // First the open connection is found cut, then a new one is refused.
    let first = client.metadata(&[]).await;
    let second = client.metadata(&[]).await;
    let restarted = cluster.start_listener(Listener::Plaintext);
    restarted.expect("listener back");
    for outage in [first, second] {
        let err = outage.expect_err("no metadata while the listener is down");
        assert!(err.is_retriable(), "{err:?}");
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match client.metadata(&[]).await {
            Ok(metadata) => {
                assert_eq!(metadata.cluster_id.as_deref(), Some(cluster.cluster_id()));
                break;
            }
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "not back after the listener restarted: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let total = client.stats().total();
    assert!(total.connects >= 2 && total.disconnects >= 1 && total.connect_failures >= 1, "{total:?}");
}

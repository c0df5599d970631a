//! Transactions against real Kafka (single node): aborted records are
//! invisible to a read_committed Java consumer while committed ones are
//! visible exactly once; offsets sent to a transaction are committed with
//! it (and reported unstable by a stable listing until then); a second producer with the same transactional.id fences the first,
//! which gets a typed fencing error.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_client::producer::{ConsumerGroupMetadata, OffsetAndMetadata, ProduceError, Producer, ProducerRecord};
use rill_client::protocol::ErrorCode;
use rill_client::{Client, ClientConfig, TopicPartition};
use rill_e2e::interop::kcat;
use rill_e2e::{KafkaCluster, Listener};

#[path = "common/captured_logs.rs"]
mod captured_logs;

/// The scenario takes about 20 s. Past this it fails with the client's log
/// instead of holding CI until its own limit. (Two CI runs once stopped
/// inside a transaction: the sender dropped a batch it had marked in flight
/// when the same pass also found a partition to add to the transaction; the
/// client's unit test `a_batch_ready_beside_a_partition_still_to_be_added_is_sent`
/// reproduces it.)
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);

async fn transactional_producer(cluster: &KafkaCluster, transactional_id: &str) -> Producer {
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", cluster.bootstrap(Listener::Plaintext).as_str()),
        ("client.id", "rill-e2e-txn"),
        ("transactional.id", transactional_id),
        ("transaction.timeout.ms", "30000"),
        ("linger.ms", "5"),
    ])
    .expect("config");
    let producer = Producer::new(Client::connect(config).await.expect("connect")).await.expect("producer");
    producer.init_transactions().await.expect("init_transactions");
    producer
}

async fn send_all(producer: &Producer, topic: &str, values: &[String]) -> Result<(), ProduceError> {
    let mut deliveries = Vec::new();
    for (i, v) in values.iter().enumerate() {
        deliveries.push(producer.send(ProducerRecord::new(topic).partition((i % 2) as i32).value(v.clone())).await?);
    }
    for d in deliveries {
        d.await?;
    }
    Ok(())
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Every record value with kcat, read_uncommitted (aborted ones included).
fn kcat_read_uncommitted(cluster: &KafkaCluster, topic: &str, count: usize) -> Vec<String> {
    let settings = cluster.valid_settings(Listener::Plaintext);
    kcat::consume_formatted(cluster, &settings, topic, count, "%s\n", &["-X", "isolation.level=read_uncommitted"]).expect("kcat")
}

/// The Java console consumer with isolation.level=read_committed; it stops
/// after `timeout_ms` without new records.
fn java_read_committed(cluster: &KafkaCluster, topic: &str) -> Vec<String> {
    let args: Vec<String> = [
        "--bootstrap-server",
        &cluster.bootstrap(Listener::Plaintext),
        "--topic",
        topic,
        "--from-beginning",
        "--isolation-level",
        "read_committed",
        "--timeout-ms",
        "10000",
    ]
    .map(String::from)
    .to_vec();
    let finished = cluster
        .java()
        .run("org.apache.kafka.tools.consumer.ConsoleConsumer", &args, None, Duration::from_secs(120))
        .expect("kafka-console-consumer runs");
    finished.stdout.lines().filter(|l| l.contains('-') && !l.starts_with('[')).map(str::to_string).collect()
}

#[tokio::test]
async fn aborted_records_stay_invisible_committed_ones_appear_once_and_a_second_producer_fences_the_first() {
    captured_logs::captured_logs();
    if tokio::time::timeout(SCENARIO_TIMEOUT, scenario()).await.is_err() {
        let text = captured_logs::captured_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines.get(lines.len().saturating_sub(400)..).unwrap_or_default().join("\n");
        panic!("the transaction scenario did not finish within {SCENARIO_TIMEOUT:?}; the client's last log lines:\n{tail}");
    }
}

async fn scenario() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("producer-txn");
    cluster.create_topic(&topic, 2, 1).expect("create topic");
    let transactional_id = cluster.unique_topic("txn-id");
    let first = transactional_producer(cluster, &transactional_id).await;

    first.begin_transaction().expect("begin");
    send_all(&first, &topic, &values("aborted", 20)).await.expect("sends of the aborted transaction are written");
    first.abort_transaction().await.expect("abort");

    first.begin_transaction().expect("begin");
    send_all(&first, &topic, &values("committed", 20)).await.expect("send");
    let group = cluster.unique_topic("txn-group");
    let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> =
        BTreeMap::from([(TopicPartition::new(&topic, 0), OffsetAndMetadata::from(42))]);
    first.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new(&group)).await.expect("send offsets");
    // Until the transaction ends its offsets are pending: a plain listing
    // leaves the partition out (nothing committed), a stable one (KIP-447)
    // says it is unstable.
    let admin = first.client().clone();
    let plain = admin.list_group_offsets(&group, Some(&[(&topic, 0)])).await.expect("list group offsets");
    assert!(!plain.contains_key(&(topic.clone(), 0)), "offsets of an open transaction are not committed yet: {plain:?}");
    let stable = admin.list_stable_group_offsets(&group, Some(&[(&topic, 0)])).await.expect("list stable group offsets");
    match stable.get(&(topic.clone(), 0)) {
        Some(Err(e)) => assert_eq!(e.code(), Some(ErrorCode::UNSTABLE_OFFSET_COMMIT), "{e}"),
        other => panic!("a stable listing names the open transaction's partition unstable, got {other:?}"),
    }
    first.commit_transaction().await.expect("commit");

    // Records not yet sent when the transaction is aborted fail with TransactionAborted.
    first.begin_transaction().expect("begin");
    let pending = first.send(ProducerRecord::new(&topic).partition(0).value("aborted-late")).await.expect("send");
    first.abort_transaction().await.expect("abort");
    match pending.await {
        Ok(_) | Err(ProduceError::TransactionAborted) => {}
        Err(e) => panic!("unexpected error for a record of an aborted transaction: {e}"),
    }

    // A second producer with the same transactional.id fences the first.
    let second = transactional_producer(cluster, &transactional_id).await;
    first.begin_transaction().expect("begin is local");
    let fenced = match send_all(&first, &topic, &values("zombie", 2)).await {
        Err(e) => e,
        Ok(()) => first.commit_transaction().await.expect_err("a fenced producer cannot commit"),
    };
    assert!(fenced.is_fenced(), "typed fencing error, got: {fenced}");
    assert!(fenced.to_string().contains(&transactional_id), "the error names the transactional.id: {fenced}");
    let again = first.commit_transaction().await.expect_err("still fenced");
    assert!(again.is_fenced(), "{again}");

    second.begin_transaction().expect("begin");
    send_all(&second, &topic, &values("second", 4)).await.expect("send");
    second.commit_transaction().await.expect("commit");
    second.close(Duration::from_secs(30)).await.expect("close");

    // read_committed: the committed records, each once; nothing aborted.
    let mut seen = java_read_committed(cluster, &topic);
    seen.sort();
    let mut expected: Vec<String> = values("committed", 20).into_iter().chain(values("second", 4)).collect();
    expected.sort();
    assert_eq!(seen, expected, "a read_committed Java consumer sees exactly the committed records");
    // The aborted records were written (read_uncommitted shows them), just never committed.
    let all = kcat_read_uncommitted(cluster, &topic, 1000);
    assert!(all.iter().filter(|v| v.starts_with("aborted-")).count() >= 20, "{all:?}");
    assert!(!all.iter().any(|v| v.starts_with("zombie-")), "the fenced producer wrote nothing: {all:?}");

    // The offsets sent to the committed transaction are the group's.
    let client = second.client().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let committed = client.list_stable_group_offsets(&group, None).await.expect("list stable group offsets");
        if let Some(Ok(offset)) = committed.get(&(topic.clone(), 0)) {
            assert_eq!(offset.offset, 42);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the transaction's offsets never appeared: {committed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

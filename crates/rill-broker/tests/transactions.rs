//! The transaction coordinator over tokio TCP, driven by rill-client's
//! transactional Producer and read_committed Consumer: commits and aborts
//! (markers written by WriteTxnMarkers to the leaders), the last stable
//! offset holding read_committed consumers and ListOffsets while a
//! transaction is open, fencing by a second producer with the same
//! transactional.id, offsets sent to a transaction visible only once it
//! commits (UNSTABLE_OFFSET_COMMIT meanwhile, KIP-447), and the transaction
//! timeout aborting a stale transaction.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_broker::{Broker, BrokerConfig, ControllerConfig, Disk, FlushPolicy};
use rill_client::producer::{ConsumerGroupMetadata, OffsetAndMetadata, ProduceError, Producer, ProducerRecord};
use rill_client::{Client, ClientConfig, Consumer, NewTopic, Offset, OffsetSpec, TopicPartition};
use rill_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use rill_protocol::messages::OffsetFetchRequest;
use rill_protocol::ErrorCode;
use tokio::time::Instant;

const TOPIC: &str = "txn";

async fn start() -> (Broker, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = Broker::single_node(BrokerConfig::new(1, "127.0.0.1", port), Disk::new(FlushPolicy::Manual), ControllerConfig::default());
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    let bootstrap = format!("127.0.0.1:{port}");
    let admin = client(&bootstrap, &[]).await;
    let created = admin.create_topics(&[NewTopic::new(TOPIC, 2, 1)], Duration::from_secs(5)).await.unwrap();
    assert!(created.iter().all(|t| t.result.is_ok()), "{created:?}");
    (broker, bootstrap)
}

async fn client(bootstrap: &str, extra: &[(&str, &str)]) -> Client {
    let mut props = vec![("bootstrap.servers", bootstrap), ("request.timeout.ms", "10000")];
    props.extend_from_slice(extra);
    Client::connect(ClientConfig::from_properties(props).unwrap()).await.unwrap()
}

async fn producer(bootstrap: &str, transactional_id: &str, timeout_ms: &str) -> Producer {
    let c = client(bootstrap, &[("transactional.id", transactional_id), ("transaction.timeout.ms", timeout_ms), ("linger.ms", "0")]).await;
    let p = Producer::new(c).await.unwrap();
    p.init_transactions().await.unwrap();
    p
}

/// Sends `values` round robin over both partitions; the offsets they got, per partition.
async fn send_all(p: &Producer, values: &[String]) -> Result<BTreeMap<i32, Vec<i64>>, ProduceError> {
    let mut deliveries = Vec::new();
    for (i, v) in values.iter().enumerate() {
        deliveries.push(p.send(ProducerRecord::new(TOPIC).partition((i % 2) as i32).value(v.clone())).await?);
    }
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for d in deliveries {
        let m = d.await?;
        offsets.entry(m.partition).or_default().push(m.offset);
    }
    Ok(offsets)
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

async fn consumer(bootstrap: &str, isolation: &str) -> Consumer {
    let c = Consumer::from_client(client(bootstrap, &[("isolation.level", isolation)]).await).unwrap();
    let tps = [TopicPartition::new(TOPIC, 0), TopicPartition::new(TOPIC, 1)];
    c.assign(&tps).unwrap();
    for tp in &tps {
        c.seek(tp, Offset::Beginning).await.unwrap();
    }
    c
}

/// Polls until `want` values arrived (or 10 s passed); returns every value seen.
async fn read(c: &Consumer, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(200)).await.unwrap() {
            seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    seen
}

/// Polls for `wait` and returns what arrived.
async fn read_for(c: &Consumer, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(100)).await.unwrap() {
            seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    seen
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn latest(c: &Client, partition: i32, isolation_level: i8) -> i64 {
    let r = c.list_offsets_isolated(&[(TOPIC, partition, OffsetSpec::Latest)], isolation_level).await.unwrap();
    r[&(TOPIC.to_string(), partition)].as_ref().unwrap().offset
}

#[tokio::test]
async fn commit_abort_and_the_last_stable_offset() {
    let (broker, bootstrap) = start().await;
    let p = producer(&bootstrap, "txn-a", "30000").await;

    p.begin_transaction().unwrap();
    send_all(&p, &values("aborted", 6)).await.unwrap();
    p.abort_transaction().await.unwrap();
    p.begin_transaction().unwrap();
    send_all(&p, &values("committed", 6)).await.unwrap();
    p.commit_transaction().await.unwrap();

    let committed = consumer(&bootstrap, "read_committed").await;
    assert_eq!(sorted(read(&committed, 6).await), sorted(values("committed", 6)), "read_committed: the committed records only");
    let uncommitted = consumer(&bootstrap, "read_uncommitted").await;
    let all = read(&uncommitted, 12).await;
    assert_eq!(all.len(), 12, "read_uncommitted sees the aborted records too: {all:?}");
    assert!(read_for(&committed, Duration::from_millis(300)).await.is_empty(), "nothing else is committed");

    // An open transaction holds the last stable offset at its first record.
    let c0 = TopicPartition::new(TOPIC, 0);
    let end_before = committed.position(&c0).unwrap();
    p.begin_transaction().unwrap();
    let open = send_all(&p, &values("open", 4)).await.unwrap();
    let first_open = open[&0][0];
    assert_eq!(first_open, end_before, "the open transaction starts where the committed log ends");
    assert!(read_for(&committed, Duration::from_millis(500)).await.is_empty(), "read_committed stops at the LSO");
    assert_eq!(committed.position(&c0), Some(first_open));
    assert_eq!(read(&uncommitted, 4).await.len(), 4, "read_uncommitted reads past the LSO");
    let admin = p.client().clone();
    assert_eq!(latest(&admin, 0, 1).await, first_open, "ListOffsets READ_COMMITTED answers the LSO");
    let hw = broker.high_watermark(TOPIC, 0).unwrap();
    assert_eq!(latest(&admin, 0, 0).await, hw);
    assert!(hw > first_open);

    p.commit_transaction().await.unwrap();
    assert_eq!(sorted(read(&committed, 4).await), sorted(values("open", 4)), "committed: visible");
    // The commit marker sits after the records; the LSO moved past it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while latest(&admin, 0, 1).await != broker.high_watermark(TOPIC, 0).unwrap() {
        assert!(Instant::now() < deadline, "the LSO never reached the high watermark");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(broker.high_watermark(TOPIC, 0).unwrap(), hw + 1, "one commit marker");
    p.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let (_broker, bootstrap) = start().await;
    let first = producer(&bootstrap, "txn-f", "30000").await;
    first.begin_transaction().unwrap();
    send_all(&first, &values("zombie", 4)).await.unwrap();

    // The second instance aborts the first one's open transaction and bumps the epoch.
    let second = producer(&bootstrap, "txn-f", "30000").await;
    assert_eq!(second.producer_identity().0, first.producer_identity().0, "same producer id");
    assert!(second.producer_identity().1 > first.producer_identity().1, "a newer epoch");

    let fenced = match send_all(&first, &values("late", 2)).await {
        Err(e) => e,
        Ok(_) => first.commit_transaction().await.expect_err("a fenced producer cannot commit"),
    };
    assert!(fenced.is_fenced(), "typed fencing error, got: {fenced}");
    assert!(fenced.to_string().contains("txn-f"), "the error names the transactional.id: {fenced}");
    assert!(first.commit_transaction().await.expect_err("still fenced").is_fenced());

    second.begin_transaction().unwrap();
    send_all(&second, &values("second", 4)).await.unwrap();
    second.commit_transaction().await.unwrap();
    let committed = consumer(&bootstrap, "read_committed").await;
    let seen = read(&committed, 4).await;
    assert_eq!(sorted(seen), sorted(values("second", 4)), "the zombie's records were aborted");
    assert!(read_for(&committed, Duration::from_millis(300)).await.is_empty());
}

/// OffsetFetch v8+ with require_stable: the code and offset of one partition.
async fn fetch_stable(c: &Client, group: &str) -> (i16, i64) {
    let request = OffsetFetchRequest {
        require_stable: true,
        groups: vec![OffsetFetchRequestGroup {
            group_id: group.to_string(),
            member_epoch: -1,
            topics: Some(vec![OffsetFetchRequestTopics { name: TOPIC.into(), partition_indexes: vec![0], ..Default::default() }]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = c.send(1, &request).await.unwrap();
    let p = &r.groups[0].topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

#[tokio::test]
async fn offsets_sent_to_a_transaction_are_committed_with_it_only() {
    let (_broker, bootstrap) = start().await;
    let p = producer(&bootstrap, "txn-o", "30000").await;
    let admin = client(&bootstrap, &[]).await;
    let group = ConsumerGroupMetadata::new("g");
    let offsets = |o: i64| BTreeMap::from([(TopicPartition::new(TOPIC, 0), OffsetAndMetadata::from(o))]);

    p.begin_transaction().unwrap();
    send_all(&p, &values("x", 2)).await.unwrap();
    p.send_offsets_to_transaction(&offsets(42), &group).await.unwrap();
    assert_eq!(fetch_stable(&admin, "g").await, (ErrorCode::UNSTABLE_OFFSET_COMMIT.0, -1), "pending: unstable (KIP-447)");
    let listed = admin.list_group_offsets("g", Some(&[(TOPIC, 0)])).await.unwrap();
    assert!(!matches!(listed.get(&(TOPIC.to_string(), 0)), Some(Ok(o)) if o.offset >= 0), "not visible before the commit: {listed:?}");
    p.commit_transaction().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fetch_stable(&admin, "g").await != (0, 42) {
        assert!(Instant::now() < deadline, "the committed offset never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Offsets of an aborted transaction are dropped.
    p.begin_transaction().unwrap();
    send_all(&p, &values("y", 2)).await.unwrap();
    p.send_offsets_to_transaction(&offsets(99), &group).await.unwrap();
    p.abort_transaction().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, offset) = fetch_stable(&admin, "g").await;
        if code == 0 {
            assert_eq!(offset, 42, "the aborted transaction's offset was dropped");
            break;
        }
        assert!(Instant::now() < deadline, "the offsets never became stable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_transaction_past_its_timeout_is_aborted() {
    let (broker, bootstrap) = start().await;
    let p = producer(&bootstrap, "txn-t", "1000").await;
    p.begin_transaction().unwrap();
    let open = send_all(&p, &values("stale", 4)).await.unwrap();
    let admin = client(&bootstrap, &[]).await;
    assert_eq!(latest(&admin, 0, 1).await, open[&0][0], "open: the LSO holds");

    // The coordinator aborts it after transaction.timeout.ms: the LSO moves past the abort marker.
    let deadline = Instant::now() + Duration::from_secs(10);
    while latest(&admin, 0, 1).await != broker.high_watermark(TOPIC, 0).unwrap() {
        assert!(Instant::now() < deadline, "the stale transaction was never aborted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let committed = consumer(&bootstrap, "read_committed").await;
    assert!(read_for(&committed, Duration::from_millis(500)).await.is_empty(), "the timed-out records stay invisible");
    let e = p.commit_transaction().await.expect_err("the coordinator fenced the timed-out producer");
    assert!(e.is_fenced(), "{e}");
}

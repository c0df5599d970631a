//! rill's consumer against real Apache Kafka (the shared single-node
//! cluster of this test binary): records written by Kafka's Java producer
//! (every codec, headers, null keys and values, committed and aborted
//! transactions) and by kcat (librdkafka) read back equal; read_committed
//! sees no aborted record; seeks by time, to the beginning and the end;
//! auto.offset.reset policies; pause / resume; the byte budget.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_client::consumer::{Consumer, ConsumerRecord, Offset, TopicPartition};
use rill_client::{Client, ClientConfig, Error};
use rill_e2e::interop::java_producer::ProduceStep;
use rill_e2e::interop::kcat;
use rill_e2e::{ClientSettings, KafkaCluster, Listener};

const DEADLINE: Duration = Duration::from_secs(60);

/// What a record must read back as: (key, value, headers).
type Expected = (Option<String>, Option<String>, Vec<(String, String)>);

async fn consumer(cluster: &KafkaCluster, props: &[(&str, &str)]) -> Consumer {
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let mut all = vec![("bootstrap.servers", bootstrap.as_str()), ("client.id", "rill-e2e-consumer")];
    all.extend_from_slice(props);
    let config = ClientConfig::from_properties(all).expect("consumer config");
    let client = Client::connect(config).await.expect("connect");
    Consumer::from_client(client).expect("consumer")
}

fn tps(topic: &str, partitions: i32) -> Vec<TopicPartition> {
    (0..partitions).map(|p| TopicPartition::new(topic, p)).collect()
}

/// Polls until `count` records arrived (failing after [`DEADLINE`]), then
/// checks that nothing more comes for a moment.
async fn consume_exactly(consumer: &Consumer, count: usize) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {count} records within {DEADLINE:?}", records.len());
        records.extend(consumer.poll(Duration::from_millis(500)).await.expect("poll"));
    }
    let extra = consumer.poll(Duration::from_millis(700)).await.expect("poll");
    assert!(extra.is_empty(), "more records than produced: {extra:?}");
    assert_eq!(records.len(), count);
    records
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8(b.to_vec()).expect("utf-8"))
}

fn as_expected(record: &ConsumerRecord) -> Expected {
    let headers = record
        .headers
        .iter()
        .map(|h| (h.key_str().expect("utf-8 header key").to_string(), text(h.value.as_deref()).unwrap_or_default()))
        .collect();
    (text(record.key.as_deref()), text(record.value.as_deref()), headers)
}

fn by_position(records: &[ConsumerRecord]) -> BTreeMap<(i32, i64), Expected> {
    let mut map = BTreeMap::new();
    for r in records {
        assert!(map.insert((r.partition, r.offset), as_expected(r)).is_none(), "duplicate {}-{}", r.partition, r.offset);
    }
    map
}

/// Records with and without keys, values and headers over two partitions.
fn mixed_steps(label: &str, count: usize) -> (Vec<ProduceStep>, Vec<Expected>) {
    let mut steps = Vec::new();
    let mut expected = Vec::new();
    for i in 0..count {
        let key = (i % 3 != 0).then(|| format!("{label}-key-{i}"));
        let value = (i % 7 != 5).then(|| format!("{label}-value-{i}-{}", "x".repeat(i % 50)));
        let headers: Vec<(String, String)> = match i % 4 {
            0 => vec![],
            1 => vec![("trace".into(), format!("t{i}"))],
            _ => vec![("a".into(), "1".into()), ("b".into(), format!("{i}")), ("a".into(), "dup".into())],
        };
        steps.push(ProduceStep::Send { partition: (i % 2) as i32, key: key.clone(), value: value.clone(), headers: headers.clone() });
        expected.push((key, value, headers));
    }
    (steps, expected)
}

#[tokio::test]
async fn java_produced_records_in_every_codec_read_back_equal() {
    let cluster = KafkaCluster::single();
    let java_client = cluster.client_properties(&ClientSettings::new(Listener::Plaintext)).expect("properties");
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = cluster.unique_topic(&format!("consume-java-{codec}"));
        cluster.create_topic(&topic, 2, 1).expect("create topic");
        let (steps, expected) = mixed_steps(codec, 120);
        let producer = [("compression.type", codec), ("linger.ms", "20"), ("batch.size", "2048")];
        let sent = cluster.java().scripted_produce(&java_client, &producer, &topic, &steps).expect("Java producer");
        let want: BTreeMap<(i32, i64), Expected> = sent.into_iter().zip(expected).collect();

        let consumer = consumer(cluster, &[("auto.offset.reset", "earliest"), ("max.partition.fetch.bytes", "4096")]).await;
        consumer.assign(&tps(&topic, 2)).expect("assign");
        let records = consume_exactly(&consumer, want.len()).await;
        let got = by_position(&records);
        assert_eq!(got, want, "codec {codec}");
        for p in 0..2 {
            let offsets: Vec<i64> = records.iter().filter(|r| r.partition == p).map(|r| r.offset).collect();
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "codec {codec}: partition {p} out of order");
            assert_eq!(consumer.lag(&TopicPartition::new(&topic, p)), Some(0));
        }
        assert!(records.iter().all(|r| r.timestamp > 0 && r.leader_epoch.is_some()));
        let stats = consumer.stats();
        assert!(stats.counters.fetch_requests >= 1 && stats.counters.full_fetches >= 1, "{stats:?}");
        eprintln!("{codec}: {} records, {:?}", records.len(), stats.counters);
        consumer.close(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn kcat_produced_records_in_every_codec_read_back_equal() {
    let cluster = KafkaCluster::single();
    let settings = ClientSettings::new(Listener::Plaintext);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = cluster.unique_topic(&format!("consume-kcat-{codec}"));
        cluster.create_topic(&topic, 1, 1).expect("create topic");
        // `-K <tab>`: the key before the tab; `-H`: one header on every record.
        let lines: Vec<String> = (0..200).map(|i| format!("key-{i}\t{codec}-value-{i}")).collect();
        let input = lines.join("\n") + "\n";
        kcat::produce_with(cluster, &settings, &topic, &input, &["-z", codec, "-K", "\t", "-H", "origin=kcat", "-X", "linger.ms=20"])
            .expect("kcat produce");

        let consumer = consumer(cluster, &[("auto.offset.reset", "earliest")]).await;
        consumer.assign(&tps(&topic, 1)).expect("assign");
        let records = consume_exactly(&consumer, 200).await;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(
                as_expected(r),
                (Some(format!("key-{i}")), Some(format!("{codec}-value-{i}")), vec![("origin".into(), "kcat".into())]),
                "codec {codec}"
            );
        }
        consumer.close(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn read_committed_never_sees_an_aborted_java_transaction() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("consume-transactions");
    cluster.create_topic(&topic, 2, 1).expect("create topic");
    let java_client = cluster.client_properties(&ClientSettings::new(Listener::Plaintext)).expect("properties");
    let mut steps = Vec::new();
    let mut committed = BTreeMap::new();
    let mut kinds = Vec::new();
    for (t, commit) in [(0, true), (1, false), (2, true), (3, false), (4, false), (5, true)] {
        steps.push(ProduceStep::BeginTransaction);
        for i in 0..7 {
            let value = format!("txn{t}-{}-{i}", if commit { "commit" } else { "abort" });
            steps.push(ProduceStep::send(i % 2, if i % 3 == 0 { None } else { Some("k") }, Some(&value)));
            kinds.push((commit, value));
        }
        steps.push(if commit { ProduceStep::CommitTransaction } else { ProduceStep::AbortTransaction });
    }
    let transactional_id = format!("{topic}-txn");
    let producer = [("transactional.id", transactional_id.as_str()), ("compression.type", "lz4")];
    let sent = cluster.java().scripted_produce(&java_client, &producer, &topic, &steps).expect("Java transactional producer");
    let mut all = BTreeMap::new();
    for ((partition, offset), (commit, value)) in sent.into_iter().zip(kinds) {
        if commit {
            committed.insert((partition, offset), value.clone());
        }
        all.insert((partition, offset), value);
    }

    let values = |records: &[ConsumerRecord]| -> BTreeMap<(i32, i64), String> {
        records.iter().map(|r| ((r.partition, r.offset), text(r.value.as_deref()).expect("value"))).collect()
    };
    let rc = consumer(cluster, &[("auto.offset.reset", "earliest"), ("isolation.level", "read_committed")]).await;
    rc.assign(&tps(&topic, 2)).expect("assign");
    let records = consume_exactly(&rc, committed.len()).await;
    assert_eq!(values(&records), committed, "read_committed: exactly the committed records");
    assert!(records.iter().all(|r| !text(r.value.as_deref()).unwrap_or_default().contains("abort")));
    // The position passes the markers: the consumer is at the end, lag 0.
    for tp in tps(&topic, 2) {
        let stats = rc.stats().partitions[&tp];
        assert_eq!(rc.position(&tp), Some(stats.last_stable_offset), "{tp}: {stats:?}");
        assert_eq!(rc.lag(&tp), Some(0));
    }

    let ru = consumer(cluster, &[("auto.offset.reset", "earliest")]).await;
    ru.assign(&tps(&topic, 2)).expect("assign");
    let records = consume_exactly(&ru, all.len()).await;
    assert_eq!(values(&records), all, "read_uncommitted: every data record, no control record");
}

#[tokio::test]
async fn seeks_to_a_time_the_beginning_and_the_end() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("consume-seek");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let java_client = cluster.client_properties(&ClientSettings::new(Listener::Plaintext)).expect("properties");
    let steps: Vec<ProduceStep> = (0..30)
        .flat_map(|i| {
            let step = ProduceStep::send(0, None, Some(&format!("v{i}")));
            // Spread the timestamps: one flush per ten records.
            if i % 10 == 9 {
                vec![step, ProduceStep::Flush]
            } else {
                vec![step]
            }
        })
        .collect();
    cluster.java().scripted_produce(&java_client, &[], &topic, &steps).expect("produce");
    let tp = TopicPartition::new(&topic, 0);

    let consumer = consumer(cluster, &[("auto.offset.reset", "none")]).await;
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    consumer.seek(&tp, Offset::Beginning).await.expect("seek to beginning");
    let all = consume_exactly(&consumer, 30).await;
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());

    // By time: the first record at or after record 17's timestamp.
    let at = all[17].timestamp;
    let first_at = all.iter().find(|r| r.timestamp >= at).expect("a record").offset;
    consumer.seek(&tp, Offset::Timestamp(at)).await.expect("seek by time");
    let records = consume_exactly(&consumer, (30 - first_at) as usize).await;
    assert_eq!(records.first().map(|r| r.offset), Some(first_at));
    // After the last timestamp: the end.
    consumer.seek(&tp, Offset::Timestamp(all[29].timestamp + 60_000)).await.expect("seek past the end");
    assert_eq!(consumer.position(&tp), Some(30));

    consumer.seek(&tp, Offset::End).await.expect("seek to end");
    assert_eq!(consumer.position(&tp), Some(30));
    assert!(consumer.poll(Duration::from_millis(800)).await.expect("poll").is_empty());
    cluster.java().scripted_produce(&java_client, &[], &topic, &[ProduceStep::send(0, None, Some("late"))]).expect("produce");
    let late = consume_exactly(&consumer, 1).await;
    assert_eq!((late[0].offset, text(late[0].value.as_deref())), (30, Some("late".to_string())));

    consumer.seek(&tp, Offset::At(25)).await.expect("seek to an offset");
    assert_eq!(consume_exactly(&consumer, 6).await.first().map(|r| r.offset), Some(25));
}

#[tokio::test]
async fn offset_reset_policies() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("consume-reset");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let java_client = cluster.client_properties(&ClientSettings::new(Listener::Plaintext)).expect("properties");
    let steps: Vec<ProduceStep> = (0..10).map(|i| ProduceStep::send(0, None, Some(&format!("r{i}")))).collect();
    cluster.java().scripted_produce(&java_client, &[], &topic, &steps).expect("produce");
    let tp = TopicPartition::new(&topic, 0);

    // none: no position is a typed error; so is an offset past the end.
    let none = consumer(cluster, &[("auto.offset.reset", "none")]).await;
    none.assign(std::slice::from_ref(&tp)).expect("assign");
    let err = none.poll(Duration::from_secs(5)).await.expect_err("no position with auto.offset.reset=none");
    assert!(matches!(&err, Error::NoOffset { partition: 0, .. }), "{err:?}");
    none.seek(&tp, Offset::At(1_000)).await.expect("seek");
    let err = loop {
        match none.poll(Duration::from_secs(5)).await {
            Err(e) => break e,
            Ok(records) => assert!(records.is_empty(), "{records:?}"),
        }
    };
    eprintln!("auto.offset.reset=none: {err}");
    assert!(matches!(&err, Error::OffsetOutOfRange { offset: 1_000, .. }), "{err:?}");

    // earliest: out of range -> the log start.
    let earliest = consumer(cluster, &[("auto.offset.reset", "earliest")]).await;
    earliest.assign(std::slice::from_ref(&tp)).expect("assign");
    earliest.seek(&tp, Offset::At(1_000)).await.expect("seek");
    assert_eq!(consume_exactly(&earliest, 10).await.first().map(|r| r.offset), Some(0));

    // latest: a new partition starts at the end, and sees only what comes after.
    let latest = consumer(cluster, &[("auto.offset.reset", "latest")]).await;
    latest.assign(std::slice::from_ref(&tp)).expect("assign");
    assert!(latest.poll(Duration::from_secs(2)).await.expect("poll").is_empty());
    assert_eq!(latest.position(&tp), Some(10));
    cluster.java().scripted_produce(&java_client, &[], &topic, &[ProduceStep::send(0, None, Some("new"))]).expect("produce");
    let new = consume_exactly(&latest, 1).await;
    assert_eq!(new[0].offset, 10);
}

#[tokio::test]
async fn pause_and_resume() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("consume-pause");
    cluster.create_topic(&topic, 2, 1).expect("create topic");
    let java_client = cluster.client_properties(&ClientSettings::new(Listener::Plaintext)).expect("properties");
    let steps: Vec<ProduceStep> = (0..40).map(|i| ProduceStep::send(i % 2, None, Some(&format!("r{i}")))).collect();
    cluster.java().scripted_produce(&java_client, &[], &topic, &steps).expect("produce");
    let [p0, p1] = [TopicPartition::new(&topic, 0), TopicPartition::new(&topic, 1)];

    let consumer = consumer(cluster, &[("auto.offset.reset", "earliest")]).await;
    consumer.assign(&[p0.clone(), p1.clone()]).expect("assign");
    consumer.pause(std::slice::from_ref(&p1));
    let records = consume_exactly(&consumer, 20).await;
    assert!(records.iter().all(|r| r.partition == 0), "a paused partition delivered records");
    assert_eq!(consumer.position(&p1), Some(0));
    assert_eq!(consumer.lag(&p0), Some(0));
    consumer.resume(std::slice::from_ref(&p1));
    let records = consume_exactly(&consumer, 20).await;
    assert!(records.iter().all(|r| r.partition == 1));
    assert_eq!(consumer.lag(&p1), Some(0));
}

#[tokio::test]
async fn buffered_records_stay_within_the_byte_budget() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("consume-budget");
    cluster.create_topic(&topic, 3, 1).expect("create topic");
    let settings = ClientSettings::new(Listener::Plaintext);
    let value = "v".repeat(1_000);
    let input: String = (0..3_000).map(|i| format!("{i}:{value}\n")).collect();
    // Batches of at most 16 KiB (kcat spreads the records over the partitions).
    kcat::produce_with(cluster, &settings, &topic, &input, &["-X", "batch.size=16384", "-X", "linger.ms=5"]).expect("kcat produce");

    let budget = 256 * 1024;
    let consumer = consumer(
        cluster,
        &[("auto.offset.reset", "earliest"), ("fetch.buffer.max.bytes", &budget.to_string()), ("fetch.max.wait.ms", "100")],
    )
    .await;
    consumer.assign(&tps(&topic, 3)).expect("assign");
    // The application is slow to start: fetching stops at the budget.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = consumer.stats();
    // The broker may exceed a fetch's max_bytes by one batch (KIP-74).
    let one_batch = 40 * 1024;
    eprintln!("after 3 s without polling: {} bytes buffered (budget {budget})", stats.buffered_bytes);
    assert!(stats.buffered_bytes > budget / 2, "the budget was not used: {stats:?}");
    assert!(stats.buffered_bytes <= budget + one_batch, "{stats:?}");
    let fetches = stats.counters.fetch_requests;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(consumer.stats().counters.fetch_requests <= fetches + 1, "fetching went on with the budget used up");

    // A slow application gets everything, and the buffer never grows past the budget.
    let mut records = 0;
    while records < 3_000 {
        let got = consumer.poll(Duration::from_secs(5)).await.expect("poll");
        assert!(!got.is_empty(), "stalled after {records} records");
        records += got.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(records, 3_000);
    let stats = consumer.stats();
    eprintln!("peak buffered {} bytes with a budget of {budget}", stats.peak_buffered_bytes);
    assert!(stats.peak_buffered_bytes <= budget + one_batch, "{stats:?}");
}

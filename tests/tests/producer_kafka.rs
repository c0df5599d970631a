//! rill's producer against real Apache Kafka (the shared single-node
//! cluster of this test binary): a round trip with every codec read back
//! byte for byte by kcat (librdkafka) and by Kafka's console consumer (key,
//! value, headers, timestamp, partition, offset), keyed records placed in
//! the same partitions as the Java producer places them, acks 0 / 1 / all,
//! flush / close delivering every pending record, and Produce requests
//! past Java's 1 MiB cap accepted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rill_client::producer::partitioner::partition_for_key;
use rill_client::producer::{ProduceError, Producer, ProducerRecord, RecordMetadata};
use rill_client::{Client, ClientConfig, OffsetSpec};
use rill_e2e::interop::kcat;
use rill_e2e::{KafkaCluster, Listener};

async fn producer(cluster: &KafkaCluster, properties: &[(&str, &str)]) -> Producer {
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let mut all = vec![("bootstrap.servers", bootstrap.as_str()), ("client.id", "rill-e2e-producer")];
    all.extend_from_slice(properties);
    let config = ClientConfig::from_properties(all).expect("valid producer config");
    let client = Client::connect(config).await.expect("connect to the PLAINTEXT listener");
    Producer::new(client).await.expect("producer")
}

/// `kcat -C` with a format that shows every field: partition|offset|timestamp|key|value|headers (null as NULL).
fn kcat_read(cluster: &KafkaCluster, topic: &str, count: usize) -> Vec<String> {
    let settings = cluster.valid_settings(Listener::Plaintext);
    kcat::consume_formatted(cluster, &settings, topic, count, "%p|%o|%T|%k|%s|%h\n", &["-Z"]).expect("kcat")
}

/// Kafka's console consumer printing timestamp, partition, offset, headers, key and value.
fn java_read(cluster: &KafkaCluster, topic: &str, count: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--bootstrap-server",
        &cluster.bootstrap(Listener::Plaintext),
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        &count.to_string(),
        "--timeout-ms",
        "30000",
        "--property",
        "print.timestamp=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.offset=true",
        "--property",
        "print.headers=true",
        "--property",
        "print.key=true",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    let finished = cluster
        .java()
        .run_ok("org.apache.kafka.tools.consumer.ConsoleConsumer", &args, None, Duration::from_secs(120))
        .expect("kafka-console-consumer");
    // Records only (the tool may print a summary or warnings too).
    finished.stdout.lines().filter(|l| l.starts_with("CreateTime:") || l.starts_with("LogAppendTime:")).map(str::to_string).collect()
}

/// The records each codec's producer sends: keys, null keys, headers (repeated
/// keys too), explicit and default timestamps, values with punctuation.
fn sample_records(topic: &str, partition: i32, codec: &str) -> Vec<ProducerRecord> {
    (0..40)
        .map(|i| {
            let mut r = ProducerRecord::new(topic)
                .partition(partition)
                .value(format!("{codec} value {i}: caf\u{e9} {{\"n\": {i}}} {}", "x".repeat(i * 7)));
            if i % 3 != 0 {
                r = r.key(format!("key-{i}"));
            }
            if i % 2 == 0 {
                r = r.header("trace", format!("t{i}")).header("codec", codec.to_string());
            }
            if i % 4 == 0 {
                r = r.timestamp(1_600_000_000_000 + i as i64);
            }
            r
        })
        .collect()
}

fn kcat_line(m: &RecordMetadata, r: &ProducerRecord) -> String {
    let text = |b: Option<&[u8]>| b.map_or("NULL".to_string(), |b| String::from_utf8_lossy(b).into_owned());
    let headers: Vec<String> = r
        .headers
        .iter()
        .map(|h| format!("{}={}", String::from_utf8_lossy(&h.key), h.value.as_ref().map_or("", |v| std::str::from_utf8(v).unwrap())))
        .collect();
    format!("{}|{}|{}|{}|{}|{}", m.partition, m.offset, m.timestamp, text(r.key.as_deref()), text(r.value.as_deref()), headers.join(","))
}

fn java_line(m: &RecordMetadata, r: &ProducerRecord) -> String {
    let text = |b: Option<&[u8]>| b.map_or("null".to_string(), |b| String::from_utf8_lossy(b).into_owned());
    let headers: Vec<String> = r
        .headers
        .iter()
        .map(|h| format!("{}:{}", String::from_utf8_lossy(&h.key), String::from_utf8_lossy(h.value.as_deref().unwrap_or_default())))
        .collect();
    let headers = if headers.is_empty() { "NO_HEADERS".to_string() } else { headers.join(",") };
    format!(
        "CreateTime:{}\tPartition:{}\tOffset:{}\t{}\t{}\t{}",
        m.timestamp,
        m.partition,
        m.offset,
        headers,
        text(r.key.as_deref()),
        text(r.value.as_deref())
    )
}

/// The same lines in any order; on a difference, shows the first one only (records are long).
fn same_lines(mut actual: Vec<String>, mut expected: Vec<String>, what: &str) {
    actual.sort();
    expected.sort();
    let first = actual.iter().zip(&expected).find(|(a, e)| a != e);
    assert!(
        first.is_none() && actual.len() == expected.len(),
        "{what}: {} lines, {} expected; first difference:\n  read:     {:?}\n  expected: {:?}",
        actual.len(),
        expected.len(),
        first.map(|f| f.0),
        first.map(|f| f.1)
    );
}

#[tokio::test]
async fn every_codec_round_trips_byte_for_byte_through_kcat_and_the_java_consumer() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("producer-codecs");
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    cluster.create_topic(&topic, codecs.len() as u32, 1).expect("create topic");
    let mut expected_kcat = Vec::new();
    let mut expected_java = Vec::new();
    let mut total = 0;
    for (partition, codec) in codecs.iter().enumerate() {
        let producer = producer(cluster, &[("compression.type", codec), ("linger.ms", "20")]).await;
        let records = sample_records(&topic, partition as i32, codec);
        let mut deliveries = Vec::new();
        for r in &records {
            deliveries.push(producer.send(r.clone()).await.expect("send"));
        }
        for (i, (d, r)) in deliveries.into_iter().zip(&records).enumerate() {
            let m = d.await.unwrap_or_else(|e| panic!("{codec} record {i}: {e}"));
            assert_eq!((m.partition, m.offset), (partition as i32, i as i64), "{codec}");
            if let Some(ts) = r.timestamp {
                assert_eq!(m.timestamp, ts);
            }
            expected_kcat.push(kcat_line(&m, r));
            expected_java.push(java_line(&m, r));
        }
        total += records.len();
        producer.close(Duration::from_secs(30)).await.expect("close");
        let stats = producer.stats();
        assert_eq!(stats.records_delivered, records.len() as u64, "{codec}: {stats:?}");
    }
    same_lines(kcat_read(cluster, &topic, total), expected_kcat, "kcat reads what rill wrote");
    same_lines(java_read(cluster, &topic, total, &[]), expected_java, "the Java console consumer reads what rill wrote");
}

#[tokio::test]
async fn keyed_records_land_where_the_java_producer_puts_them() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("producer-keys");
    let partitions = 7;
    cluster.create_topic(&topic, partitions, 1).expect("create topic");
    let keys: Vec<String> = (0..60).map(|i| format!("user-{i}-{}", "k".repeat(i % 5))).collect();
    // The Java producer (kafka-console-producer, keys parsed before '|').
    let input: String = keys.iter().map(|k| format!("{k}|java\n")).collect();
    let main_class = if cluster.java().install().major_version() >= 4 {
        "org.apache.kafka.tools.ConsoleProducer"
    } else {
        "kafka.tools.ConsoleProducer"
    };
    let args: Vec<String> = [
        "--bootstrap-server",
        &cluster.bootstrap(Listener::Plaintext),
        "--topic",
        &topic,
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=|",
        "--sync",
        // The console producer lingers 1 s per batch by default (its
        // --timeout), and --sync makes every line one batch: 60 s for 60 keys.
        "--producer-property",
        "linger.ms=0",
    ]
    .map(String::from)
    .to_vec();
    cluster.java().run_ok(main_class, &args, Some(&input), Duration::from_secs(120)).expect("kafka-console-producer");
    // rill, the same keys.
    let producer = producer(cluster, &[]).await;
    for key in &keys {
        let m = producer.send(ProducerRecord::new(&topic).key(key.clone()).value("rill")).await.unwrap().await.unwrap();
        assert_eq!(m.partition, partition_for_key(key.as_bytes(), partitions as usize), "{key}");
    }
    producer.close(Duration::from_secs(30)).await.unwrap();
    let mut placed: BTreeMap<String, BTreeMap<String, BTreeSet<i32>>> = BTreeMap::new();
    for line in kcat_read(cluster, &topic, keys.len() * 2) {
        let fields: Vec<&str> = line.split('|').collect();
        let (partition, key, value) = (fields[0].parse::<i32>().unwrap(), fields[3], fields[4]);
        placed.entry(key.to_string()).or_default().entry(value.to_string()).or_default().insert(partition);
    }
    assert_eq!(placed.len(), keys.len());
    let mut used = BTreeSet::new();
    for (key, by_producer) in &placed {
        let expected = BTreeSet::from([partition_for_key(key.as_bytes(), partitions as usize)]);
        assert_eq!(by_producer.get("java"), Some(&expected), "Java put {key} elsewhere");
        assert_eq!(by_producer.get("rill"), Some(&expected), "rill put {key} elsewhere");
        used.extend(expected);
    }
    assert!(used.len() >= 5, "the keys spread over the partitions: {used:?}");
}

#[tokio::test]
async fn acks_zero_one_and_all() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("producer-acks");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let mut total = 0;
    for acks in ["0", "1", "all"] {
        let idempotence = if acks == "all" { "true" } else { "false" };
        let producer = producer(cluster, &[("acks", acks), ("enable.idempotence", idempotence)]).await;
        let mut deliveries = Vec::new();
        for i in 0..50 {
            deliveries.push(producer.send(ProducerRecord::new(&topic).value(format!("acks={acks} {i}"))).await.unwrap());
        }
        for d in deliveries {
            let m = d.await.unwrap_or_else(|e| panic!("acks={acks}: {e}"));
            if acks == "0" {
                assert_eq!(m.offset, -1, "acks=0: the broker does not answer, no offset");
            } else {
                assert!(m.offset >= total as i64, "acks={acks}: {m:?}");
            }
        }
        producer.close(Duration::from_secs(30)).await.unwrap();
        total += 50;
        // acks=0 returns once written to the socket: wait until the broker
        // has appended everything before the next producer starts.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let offsets = producer.client().list_offsets(&[(topic.as_str(), 0, OffsetSpec::Latest)]).await.unwrap();
            let end = offsets[&(topic.clone(), 0)].as_ref().unwrap().offset;
            if end == total as i64 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "acks={acks}: log end {end}, {total} sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let values: Vec<String> = kcat_read(cluster, &topic, total).iter().map(|l| l.split('|').nth(4).unwrap().to_string()).collect();
    let expected: Vec<String> = ["0", "1", "all"].iter().flat_map(|a| (0..50).map(move |i| format!("acks={a} {i}"))).collect();
    assert_eq!(values, expected);
}

#[tokio::test]
async fn flush_and_close_deliver_every_pending_record() {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("producer-flush");
    cluster.create_topic(&topic, 3, 1).expect("create topic");
    // linger.ms far beyond the test: only flush and close send.
    let producer = producer(cluster, &[("linger.ms", "600000"), ("batch.size", "1000000"), ("delivery.timeout.ms", "900000")]).await;
    let mut deliveries = Vec::new();
    for i in 0..3000 {
        deliveries.push(producer.send(ProducerRecord::new(&topic).key(format!("{}", i % 11)).value(format!("{i}"))).await.unwrap());
    }
    let started = tokio::time::Instant::now();
    producer.flush().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let flushed: Vec<RecordMetadata> = {
        let mut out = Vec::new();
        for d in deliveries.drain(..) {
            out.push(d.await.expect("delivered by flush"));
        }
        out
    };
    assert_eq!(flushed.len(), 3000);
    for i in 3000..4000 {
        deliveries.push(producer.send(ProducerRecord::new(&topic).key(format!("{}", i % 11)).value(format!("{i}"))).await.unwrap());
    }
    producer.close(Duration::from_secs(60)).await.expect("close delivers within its timeout");
    for d in deliveries {
        d.await.expect("delivered by close");
    }
    let lines = kcat_read(cluster, &topic, 4000);
    let mut per_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for line in &lines {
        let f: Vec<&str> = line.split('|').collect();
        per_key.entry(f[3].to_string()).or_default().push(f[4].parse().unwrap());
    }
    assert_eq!(lines.len(), 4000);
    for (key, values) in per_key {
        let expected: Vec<u32> = (0..4000).filter(|i| (i % 11).to_string() == key).collect();
        assert_eq!(values, expected, "key {key}: every record once, in order");
    }
    let stats = producer.stats();
    assert_eq!(stats.records_delivered, 4000);
    assert!(stats.batch_records_max > 100, "linger.ms and batch.size let batches grow: {stats:?}");
}

/// The producer's counters after a real produce run, read both from
/// `Producer::stats` and from the client's `StatsSnapshot`: every record
/// delivered is counted once, batches add up to the records and bytes sent,
/// nothing is counted as retried, and records the broker refuses
/// (MESSAGE_TOO_LARGE) are counted as failed. Retries under faults are
/// counted in three_nodes::producer.
#[tokio::test]
async fn stats_count_records_bytes_batches_retries_and_failures() {
    const RECORDS: usize = 2000;
    const VALUE_BYTES: usize = 100;
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic("producer-stats");
    cluster.create_topic(&topic, 3, 1).expect("create topic");
    let steady = producer(cluster, &[("linger.ms", "20"), ("batch.size", "16384"), ("compression.type", "none")]).await;
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let value = format!("{i:0width$}", width = VALUE_BYTES);
        deliveries.push(steady.send(ProducerRecord::new(&topic).key(format!("k{}", i % 7)).value(value)).await.unwrap());
    }
    steady.flush().await.unwrap();
    for d in deliveries {
        d.await.expect("delivered");
    }
    let stats = steady.stats();
    assert_eq!(stats.records_delivered, RECORDS as u64, "{stats:?}");
    assert_eq!(stats.records_failed, 0, "{stats:?}");
    assert_eq!(stats.retries, 0, "nothing was refused: {stats:?}");
    assert_eq!(stats.batch_records_total, RECORDS as u64, "without retries every record is in one batch send: {stats:?}");
    assert!(stats.batches_sent >= 3 && stats.batches_sent < RECORDS as u64 / 10, "records were batched: {stats:?}");
    assert!(stats.batch_records_max > 10 && stats.batch_records_max < RECORDS as u64, "{stats:?}");
    // Uncompressed batches hold at least every value, and stay within batch.size.
    assert!(stats.batch_bytes_total >= (RECORDS * VALUE_BYTES) as u64, "{stats:?}");
    assert!(stats.batch_bytes_max <= 16384 && stats.batch_bytes_max > 0, "{stats:?}");
    let client_stats = steady.client().stats();
    assert_eq!(client_stats.producer.as_ref(), Some(&stats), "the client's snapshot carries the producer's counters");
    let brokers = client_stats.total();
    assert!(brokers.requests > stats.batches_sent / 3, "Produce requests counted per broker: {brokers:?}");
    assert!(brokers.bytes_sent >= stats.batch_bytes_total, "the batches went over the wire: {brokers:?} {stats:?}");
    assert!(brokers.responses > 0 && brokers.bytes_received > 0, "{brokers:?}");
    steady.close(Duration::from_secs(30)).await.unwrap();

    // A topic whose max.message.bytes the records exceed: the broker refuses
    // each batch with MESSAGE_TOO_LARGE, a batch of one record cannot be
    // split, so each record fails with a typed error and is counted once.
    let refused = cluster.unique_topic("producer-stats-refused");
    let failing = producer(cluster, &[("linger.ms", "0"), ("batch.size", "16384")]).await;
    let created = failing
        .client()
        .create_topics(&[rill_client::NewTopic::new(&refused, 1, 1).config("max.message.bytes", "1024")], Duration::from_secs(30))
        .await
        .expect("create topic");
    assert!(created.iter().all(|topic| topic.result.is_ok()), "{created:?}");
    for i in 0..3 {
        let delivery = failing.send(ProducerRecord::new(&refused).value(format!("{i}").repeat(4000))).await.unwrap();
        let error = delivery.await.expect_err("a 4000-byte record on a topic with max.message.bytes=1024");
        assert!(matches!(error, ProduceError::MessageTooLarge { .. }), "{error:?}");
    }
    let stats = failing.stats();
    assert_eq!(stats.records_failed, 3, "{stats:?}");
    assert_eq!(stats.records_delivered, 0, "{stats:?}");
    assert_eq!(stats.retries, 0, "MESSAGE_TOO_LARGE is not retried: {stats:?}");
    assert!(stats.batches_sent >= 3 && stats.batch_records_max == 1, "{stats:?}");
    assert_eq!(failing.client().stats().producer, Some(stats));
    failing.close(Duration::from_secs(10)).await.unwrap();
}

/// Produce requests sent while three 500 KB records, one per partition,
/// go out together (`flush`), under `properties`; each record is delivered.
async fn requests_for_three_large_records(cluster: &KafkaCluster, properties: &[(&str, &str)]) -> u64 {
    let topic = cluster.unique_topic("producer-large-requests");
    cluster.create_topic(&topic, 3, 1).expect("create topic");
    // Linger long enough that only flush() sends: the three batches go in one pass.
    let mut all = vec![("linger.ms", "60000"), ("batch.size", "600000"), ("compression.type", "none"), ("delivery.timeout.ms", "120000")];
    all.extend_from_slice(properties);
    let producer = producer(cluster, &all).await;
    // Metadata and the producer id first, so that what follows is Produce requests alone.
    let warm = producer.send(ProducerRecord::new(&topic).partition(0).value("warm")).await.unwrap();
    producer.flush().await.unwrap();
    warm.await.expect("delivered");
    let before = producer.client().stats().total();
    let mut deliveries = Vec::new();
    for partition in 0..3 {
        let value = format!("{partition}").repeat(500_000);
        deliveries.push(producer.send(ProducerRecord::new(&topic).partition(partition).value(value)).await.unwrap());
    }
    producer.flush().await.unwrap();
    for (partition, d) in deliveries.into_iter().enumerate() {
        let m = d.await.expect("delivered");
        assert_eq!((m.partition, m.offset), (partition as i32, i64::from(partition == 0)), "{m:?}");
    }
    let after = producer.client().stats().total();
    assert_eq!(after.disconnects, before.disconnects, "the broker kept the connection: {after:?}");
    assert!(after.bytes_sent - before.bytes_sent >= 1_500_000, "{before:?} {after:?}");
    producer.close(Duration::from_secs(10)).await.unwrap();
    after.requests - before.requests
}

#[tokio::test]
async fn a_request_carries_batches_past_the_java_clients_one_mebibyte() {
    let cluster = KafkaCluster::single();
    // 1.5 MB of batches in one request: Kafka reads up to socket.request.max.bytes (100 MiB).
    assert_eq!(requests_for_three_large_records(cluster, &[]).await, 1);
    // max.request.size given: requests of at most that, as the Java client sends.
    assert_eq!(requests_for_three_large_records(cluster, &[("max.request.size", "1048576")]).await, 2);
}

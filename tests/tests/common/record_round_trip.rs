//! One record produced with rill's producer and read back with rill's
//! consumer through the same client: the proof that a listener and its
//! authentication carry real traffic. Included with `#[path]` by the
//! `client_*` test binaries that need it.

use std::time::{Duration, Instant};

use rill_client::consumer::{Consumer, Offset, TopicPartition};
use rill_client::producer::{Producer, ProducerRecord};
use rill_client::{Client, ClientConfig};
use rill_e2e::KafkaCluster;

/// Connects with `config`, produces a record (key, value and a header
/// saying `what`) to a new topic and consumes it back, checking every part.
pub async fn produce_and_consume(cluster: &KafkaCluster, config: ClientConfig, what: &str) {
    let topic = cluster.unique_topic(&format!("round-trip-{}", what.replace(' ', "-")));
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let client = Client::connect(config).await.unwrap_or_else(|e| panic!("{what}: connect: {e}"));

    let value = format!("through {what}");
    let producer = Producer::new(client.clone()).await.unwrap_or_else(|e| panic!("{what}: producer: {e}"));
    let delivery = producer
        .send(ProducerRecord::new(topic.as_str()).partition(0).key("k").value(value.clone()).header("through", what.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{what}: send: {e}"));
    let meta = delivery.await.unwrap_or_else(|e| panic!("{what}: delivery: {e}"));
    assert_eq!((meta.partition, meta.offset), (0, 0), "{what}");
    producer.close(Duration::from_secs(10)).await.unwrap_or_else(|e| panic!("{what}: close: {e}"));

    let consumer = Consumer::from_client(client).unwrap_or_else(|e| panic!("{what}: consumer: {e}"));
    let tp = TopicPartition::new(topic.as_str(), 0);
    consumer.assign(std::slice::from_ref(&tp)).expect("assign");
    consumer.seek(&tp, Offset::Beginning).await.unwrap_or_else(|e| panic!("{what}: seek: {e}"));
    let started = Instant::now();
    let record = loop {
        let mut records = consumer.poll(Duration::from_millis(500)).await.unwrap_or_else(|e| panic!("{what}: poll: {e}"));
        if let Some(record) = records.pop() {
            break record;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: the record did not come back");
    };
    assert_eq!(record.offset, 0, "{what}");
    assert_eq!(record.key.as_deref(), Some(&b"k"[..]), "{what}");
    assert_eq!(record.value.as_deref(), Some(value.as_bytes()), "{what}");
    let header = record.headers.first().expect("the header came back");
    assert_eq!((header.key.as_ref(), header.value.as_deref()), (&b"through"[..], Some(what.as_bytes())), "{what}");
    consumer.close(Duration::from_secs(5)).await;
}

//! Producer tests against an in-process fake broker that speaks the real
//! protocol (over `tokio::io::duplex`, paused time) and keeps a log per
//! partition with Kafka's idempotence rules (sequence checks per producer
//! id and epoch, the last five batches remembered for duplicates).
//! Faults are scripted per Produce request.

mod transactions;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rill_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use rill_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use rill_protocol::messages::{InitProducerIdResponse, MetadataResponse, ProduceRequest, ProduceResponse, RequestBody};
use rill_protocol::records::{DecodeOptions, RecordBatch};
use rill_protocol::{ErrorCode, Uuid};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::Semaphore;

use super::*;
use crate::config::ClientConfig;
use crate::tests::{all_versions, read_request, reply};
use crate::transport::{BoxStream, ConnectFuture, Transport};

const PARTITIONS: i32 = 3;

/// What the broker does with one Produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer every partition with this error, writing nothing.
    Error(ErrorCode),
    /// Write the batches, then close the connection without answering.
    WriteThenDrop,
    /// Close the connection without writing or answering.
    Drop,
    /// Answer this partition with the error, writing nothing to it; write the others.
    PartitionError(i32, ErrorCode),
}

/// (epoch, last sequence, last five batches: (first seq, last seq, base offset)).
type ProducerEntry = (i16, i32, VecDeque<(i32, i32, i64)>);

#[derive(Debug, Default)]
struct PartitionLog {
    values: Vec<Bytes>,
    producers: BTreeMap<i64, ProducerEntry>,
}

#[derive(Debug, Default)]
struct Broker {
    logs: Mutex<BTreeMap<i32, PartitionLog>>,
    faults: Mutex<VecDeque<Fault>>,
    produce_requests: AtomicUsize,
    /// Batches per Produce request, in the order answered.
    batches_per_request: Mutex<Vec<usize>>,
    init_producer_id: Mutex<Vec<(i64, i16)>>,
    next_producer_id: AtomicUsize,
    /// When set, each Produce answer waits for a permit (tests hold responses back).
    gate: Option<Arc<Semaphore>>,
    /// Batches larger than this are refused with MESSAGE_TOO_LARGE (the topic's max.message.bytes).
    max_batch_bytes: Option<usize>,
    /// A Produce request whose record sets pass this many bytes closes the
    /// connection unanswered (the broker's socket.request.max.bytes).
    max_request_bytes: Option<usize>,
    /// Connections closed so far for that.
    closed_on_request_bytes: AtomicUsize,
    /// This partition is led by node 2, whose address never accepts a connection.
    black_holed_partition: Option<i32>,
    /// (partition, base sequence, times): the batch is written (or found a
    /// duplicate) but answered NOT_ENOUGH_REPLICAS_AFTER_APPEND, this many times.
    written_but_refused: Mutex<Option<(i32, i32, usize)>>,
    /// The transaction coordinator (this broker is node 1, the coordinator of every key).
    coordinator: Mutex<transactions::TxnCoordinator>,
    /// Metadata requests answered so far.
    metadata_requests: AtomicUsize,
    /// Topic "late" (one partition) is in the metadata from this many
    /// metadata requests on (a topic just created); UNKNOWN_TOPIC_OR_PARTITION before.
    late_topic_from: Option<usize>,
    /// Once set, topic "late" has three partitions in the metadata (partitions added).
    late_topic_grown: AtomicBool,
}

impl Broker {
    fn values(&self, partition: i32) -> Vec<String> {
        let logs = self.logs.lock().unwrap();
        logs.get(&partition).map(|l| l.values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect()).unwrap_or_default()
    }

    fn append(&self, partition: i32, batch: &RecordBatch) -> (ErrorCode, i64) {
        let mut logs = self.logs.lock().unwrap();
        let log = logs.entry(partition).or_default();
        let count = batch.records.len() as i32;
        let last = batch.base_sequence + count - 1;
        if batch.producer_id >= 0 {
            match log.producers.get(&batch.producer_id) {
                Some((epoch, _, _)) if batch.producer_epoch < *epoch => return (ErrorCode::INVALID_PRODUCER_EPOCH, -1),
                Some((epoch, last_seq, recent)) if batch.producer_epoch == *epoch => {
                    if let Some((_, _, offset)) = recent.iter().find(|(f, l, _)| *f == batch.base_sequence && *l == last) {
                        // A batch written before: its original offset (as Kafka does for the last five).
                        return (ErrorCode::NONE, *offset);
                    }
                    if batch.base_sequence != last_seq + 1 {
                        return (ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
                    }
                }
                // A new epoch (or an unknown producer) must start at 0.
                _ if batch.base_sequence != 0 => return (ErrorCode::UNKNOWN_PRODUCER_ID, -1),
                _ => {}
            }
        }
        let base = log.values.len() as i64;
        log.values.extend(batch.records.iter().map(|r| r.value.clone().unwrap_or_default()));
        if batch.producer_id >= 0 {
            let entry = log.producers.entry(batch.producer_id).or_insert((batch.producer_epoch, -1, VecDeque::new()));
            if entry.0 != batch.producer_epoch {
                *entry = (batch.producer_epoch, -1, VecDeque::new());
            }
            entry.1 = last;
            entry.2.push_back((batch.base_sequence, last, base));
            if entry.2.len() > 5 {
                entry.2.pop_front();
            }
        }
        (ErrorCode::NONE, base)
    }

    /// Answers a Produce request; `None`: close the connection instead.
    fn produce(&self, request: &ProduceRequest) -> Option<ProduceResponse> {
        self.produce_requests.fetch_add(1, Ordering::SeqCst);
        let batches = request.topic_data.iter().map(|t| t.partition_data.len()).sum();
        self.batches_per_request.lock().unwrap().push(batches);
        let fault = self.faults.lock().unwrap().pop_front();
        if fault == Some(Fault::Drop) {
            return None;
        }
        let mut responses = Vec::new();
        for topic in &request.topic_data {
            let mut partition_responses = Vec::new();
            for p in &topic.partition_data {
                let bytes_len = p.records.as_ref().map_or(0, |b| b.len());
                let (code, base) = match fault {
                    Some(Fault::Error(code)) => (code, -1),
                    Some(Fault::PartitionError(partition, code)) if partition == p.index => (code, -1),
                    _ if self.max_batch_bytes.is_some_and(|max| bytes_len > max) => (ErrorCode::MESSAGE_TOO_LARGE, -1),
                    _ => {
                        let bytes = p.records.clone().unwrap_or_default();
                        let batches = RecordBatch::decode_all(&bytes, &DecodeOptions::default()).unwrap();
                        assert_eq!(batches.len(), 1, "one batch per partition per request");
                        let written = self.append(p.index, &batches[0]);
                        let mut refused = self.written_but_refused.lock().unwrap();
                        match refused.as_mut() {
                            Some((partition, base, times)) if *partition == p.index && *base == batches[0].base_sequence && *times > 0 => {
                                *times -= 1;
                                (ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND, -1)
                            }
                            _ => written,
                        }
                    }
                };
                partition_responses.push(PartitionProduceResponse {
                    index: p.index,
                    error_code: code.0,
                    base_offset: base,
                    log_append_time_ms: -1,
                    ..Default::default()
                });
            }
            responses.push(TopicProduceResponse { name: topic.name.clone(), partition_responses, ..Default::default() });
        }
        (fault != Some(Fault::WriteThenDrop)).then(|| ProduceResponse { responses, ..Default::default() })
    }
}

fn metadata(broker: &Broker) -> MetadataResponse {
    let leader = |p: i32| if broker.black_holed_partition == Some(p) { 2 } else { 1 };
    let requests = broker.metadata_requests.fetch_add(1, Ordering::SeqCst) + 1;
    let partition = |p: i32| MetadataResponsePartition {
        partition_index: p,
        leader_id: leader(p),
        leader_epoch: 1,
        replica_nodes: vec![leader(p)],
        isr_nodes: vec![leader(p)],
        ..Default::default()
    };
    let late = match broker.late_topic_from {
        Some(from) if requests >= from => MetadataResponseTopic {
            name: Some("late".into()),
            topic_id: Uuid::from_u64_pair(3, 4),
            partitions: if broker.late_topic_grown.load(Ordering::SeqCst) { (0..3).map(partition).collect() } else { vec![partition(0)] },
            ..Default::default()
        },
        _ => MetadataResponseTopic { name: Some("late".into()), error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0, ..Default::default() },
    };
    let forbidden =
        MetadataResponseTopic { name: Some("forbidden".into()), error_code: ErrorCode::TOPIC_AUTHORIZATION_FAILED.0, ..Default::default() };
    MetadataResponse {
        brokers: vec![
            MetadataResponseBroker { node_id: 1, host: "fake".into(), port: 9092, ..Default::default() },
            MetadataResponseBroker { node_id: 2, host: "black-hole".into(), port: 9092, ..Default::default() },
        ],
        cluster_id: Some("fake-cluster".into()),
        controller_id: 1,
        topics: vec![
            MetadataResponseTopic {
                name: Some("t".into()),
                topic_id: Uuid::from_u64_pair(1, 2),
                partitions: (0..PARTITIONS).map(partition).collect(),
                ..Default::default()
            },
            late,
            forbidden,
        ],
        ..Default::default()
    }
}

async fn serve(mut s: DuplexStream, broker: Arc<Broker>) {
    while let Some((header, body)) = read_request(&mut s).await {
        let frame = match body {
            RequestBody::ApiVersions(_) => reply(&header, &all_versions()),
            RequestBody::Metadata(_) => reply(&header, &metadata(&broker)),
            RequestBody::InitProducerId(req) => {
                broker.init_producer_id.lock().unwrap().push((req.producer_id, req.producer_epoch));
                let (producer_id, producer_epoch) = if req.producer_id >= 0 {
                    (req.producer_id, req.producer_epoch + 1)
                } else {
                    (1000 + broker.next_producer_id.fetch_add(1, Ordering::SeqCst) as i64, 0)
                };
                reply(&header, &InitProducerIdResponse { producer_id, producer_epoch, ..Default::default() })
            }
            RequestBody::Produce(req) => {
                let records: usize =
                    req.topic_data.iter().flat_map(|t| &t.partition_data).map(|p| p.records.as_ref().map_or(0, |r| r.len())).sum();
                if broker.max_request_bytes.is_some_and(|max| records > max) {
                    broker.closed_on_request_bytes.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                let answer = broker.produce(&req);
                if let Some(gate) = &broker.gate {
                    gate.acquire().await.unwrap().forget();
                }
                match answer {
                    Some(response) if req.acks != 0 => reply(&header, &response),
                    Some(_) => continue,
                    None => return,
                }
            }
            other => match transactions::answer(&broker, &header, &other) {
                Some(frame) => frame,
                None => panic!("unexpected request {other:?}"),
            },
        };
        if s.write_all(&frame).await.is_err() {
            return;
        }
    }
}

struct FakeTransport(Arc<Broker>);

impl Transport for FakeTransport {
    fn connect(&self, host: &str, _port: u16) -> ConnectFuture {
        let broker = self.0.clone();
        let black_hole = host == "black-hole";
        Box::pin(async move {
            if black_hole {
                // Packets vanish: the connect never completes (until the setup timeout).
                std::future::pending::<()>().await;
            }
            let (client, server) = tokio::io::duplex(1 << 20);
            tokio::spawn(serve(server, broker));
            Ok(Box::new(client) as BoxStream)
        })
    }
}

async fn producer_with(broker: &Arc<Broker>, properties: &[(&str, &str)]) -> Producer {
    let mut all = vec![("bootstrap.servers", "fake:9092"), ("retry.backoff.ms", "10"), ("linger.ms", "0")];
    all.extend_from_slice(properties);
    let mut config = ClientConfig::from_properties(all).unwrap();
    config.rng_seed = Some(42);
    let client = Client::with_transport(config, Arc::new(FakeTransport(broker.clone()))).await.unwrap();
    Producer::with_wall_clock(client, 1_700_000_000_000).unwrap()
}

fn numbered(partition: i32, n: usize) -> ProducerRecord {
    ProducerRecord::new("t").partition(partition).value(format!("{n}"))
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn delivers_every_record_with_its_offset_and_timestamp() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[]).await;
    let mut deliveries = Vec::new();
    for n in 0..30 {
        deliveries.push(producer.send(numbered(n as i32 % PARTITIONS, n)).await.unwrap());
    }
    let explicit = producer.send(ProducerRecord::new("t").partition(1).value("ts").timestamp(5)).await.unwrap();
    for (n, d) in deliveries.into_iter().enumerate() {
        let m = d.await.unwrap();
        assert_eq!((m.topic.as_str(), m.partition, m.offset), ("t", n as i32 % PARTITIONS, (n / 3) as i64));
        assert_eq!(m.timestamp, 1_700_000_000_000, "timestamps come from the wall clock given at start + tokio time");
    }
    assert_eq!(explicit.await.unwrap().timestamp, 5);
    assert_eq!(broker.values(0), (0..30).step_by(3).map(|n| n.to_string()).collect::<Vec<_>>());
    // Idempotent by default: one InitProducerId.
    assert_eq!(*broker.init_producer_id.lock().unwrap(), [(-1, -1)]);
    assert_eq!(producer.producer_identity(), (1000, 0));
    let stats = producer.stats();
    assert_eq!(stats.records_delivered, 31);
    assert_eq!(stats.retries, 0);
    assert!(stats.batch_records_max >= 1);
}

#[tokio::test(start_paused = true)]
async fn keyed_records_follow_murmur2_and_keyless_ones_stick() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[("batch.size", "1000")]).await;
    for key in ["21", "foobar", "abc", "a-little-bit-long-string"] {
        let m = producer.send(ProducerRecord::new("t").key(key).value("v")).await.unwrap().await.unwrap();
        assert_eq!(m.partition, partitioner::partition_for_key(key.as_bytes(), PARTITIONS as usize), "{key}");
    }
    // Keyless records: the same partition until batch.size bytes went to it.
    let mut partitions = Vec::new();
    for _ in 0..20 {
        let d = producer.send(ProducerRecord::new("t").value(vec![b'x'; 100])).await.unwrap();
        partitions.push(d.await.unwrap().partition);
    }
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(partitions[..7].iter().all(|p| *p == partitions[0]), "{partitions:?}");
    assert!((1..=4).contains(&switches), "{partitions:?}");
    let err = producer.send(ProducerRecord::new("t").partition(PARTITIONS).value("v")).await.unwrap_err();
    assert!(matches!(err, ProduceError::UnknownPartition { partition: Some(3), partitions: 3, .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn linger_holds_a_batch_and_batch_size_releases_it() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[("linger.ms", "100"), ("batch.size", "500")]).await;
    let first = producer.send(numbered(0, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(broker.produce_requests.load(Ordering::SeqCst), 0, "linger.ms not over");
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.await.unwrap();
    assert_eq!(broker.produce_requests.load(Ordering::SeqCst), 1);
    // A full batch goes out before linger.ms.
    let start = tokio::time::Instant::now();
    let mut deliveries = Vec::new();
    for n in 1..12 {
        deliveries.push(producer.send(ProducerRecord::new("t").partition(0).value(vec![b'0' + n as u8; 100])).await.unwrap());
    }
    deliveries.remove(0).await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(100), "{:?}", start.elapsed());
    // flush() sends the rest at once.
    producer.flush().await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(100), "{:?}", start.elapsed());
    for d in deliveries {
        d.await.unwrap();
    }
    assert!(producer.stats().batch_records_max >= 3);
}

#[tokio::test(start_paused = true)]
async fn send_waits_at_the_memory_budget_and_resumes() {
    let gate = Arc::new(Semaphore::new(0));
    let broker = Arc::new(Broker { gate: Some(gate.clone()), ..Default::default() });
    let producer = producer_with(&broker, &[("buffer.memory", "1000"), ("batch.size", "200")]).await;
    let record = || ProducerRecord::new("t").partition(0).value(vec![b'x'; 200]);
    let size = record().estimated_size();
    let fits = 1000 / size;
    let mut deliveries = Vec::new();
    for _ in 0..fits {
        deliveries.push(producer.send(record()).await.unwrap());
    }
    assert!(producer.available_memory_bytes() < size);
    let blocked = {
        let producer = producer.clone();
        tokio::spawn(async move { producer.send(record()).await })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!blocked.is_finished(), "send must wait while buffer.memory is used up");
    // Answers free memory: the waiting send goes on.
    gate.add_permits(1000);
    let last = blocked.await.unwrap().unwrap();
    for d in deliveries {
        d.await.unwrap();
    }
    last.await.unwrap();
    assert_eq!(producer.available_memory_bytes(), 1000);
    let err = producer.send(ProducerRecord::new("t").value(vec![0; 2000])).await.unwrap_err();
    assert!(matches!(err, ProduceError::RecordTooLarge { limit_key: "buffer.memory", .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn max_block_bounds_the_wait_for_memory() {
    let broker = Arc::new(Broker { gate: Some(Arc::new(Semaphore::new(0))), ..Default::default() });
    let producer = producer_with(&broker, &[("buffer.memory", "300"), ("max.block.ms", "2000")]).await;
    let _held = producer.send(ProducerRecord::new("t").partition(0).value(vec![0; 200])).await.unwrap();
    let err = producer.send(ProducerRecord::new("t").partition(0).value(vec![0; 200])).await.unwrap_err();
    assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
    assert!(err.to_string().contains("max.block.ms"), "{err}");
    let err = producer.send(ProducerRecord::new("t").value(vec![0; 2 << 20])).await.unwrap_err();
    assert!(matches!(err, ProduceError::RecordTooLarge { limit_key: "max.request.size", .. }), "{err}");
}

/// Sends `count` numbered records per partition with up to five batches in
/// flight while `faults` hit the Produce requests; every record is
/// delivered, and each partition's log holds each number once, in order.
async fn numbered_sequence_survives(faults: &[Fault]) -> Arc<Broker> {
    let broker = Arc::new(Broker::default());
    broker.faults.lock().unwrap().extend(faults.iter().copied());
    // Small batches: many in flight at once.
    let producer = producer_with(&broker, &[("batch.size", "100"), ("linger.ms", "1")]).await;
    let count = 60;
    let mut deliveries = Vec::new();
    for n in 0..count {
        for p in 0..PARTITIONS {
            deliveries.push((p, n, producer.send(numbered(p, n)).await.unwrap()));
        }
    }
    for (p, n, d) in deliveries {
        let m = d.await.unwrap_or_else(|e| panic!("record {n} of partition {p}: {e}"));
        assert_eq!((m.partition, m.offset), (p, n as i64), "offsets are the records' positions");
    }
    for p in 0..PARTITIONS {
        assert_eq!(broker.values(p), expected(0..count), "partition {p}");
    }
    broker
}

#[tokio::test(start_paused = true)]
async fn ordering_and_exactly_once_across_retriable_errors() {
    let broker = numbered_sequence_survives(&[
        Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER),
        Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS),
        Fault::Error(ErrorCode::REQUEST_TIMED_OUT),
    ])
    .await;
    assert_eq!(broker.init_producer_id.lock().unwrap().len(), 1, "no epoch bump for retriable errors");
}

#[tokio::test(start_paused = true)]
async fn ordering_and_exactly_once_when_answers_are_lost() {
    // Written but not answered, then cut: the resent batches are duplicates
    // the broker recognises by sequence (their original offsets come back).
    let broker = numbered_sequence_survives(&[Fault::WriteThenDrop, Fault::Drop, Fault::WriteThenDrop, Fault::Drop]).await;
    assert_eq!(broker.init_producer_id.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn unknown_producer_id_bumps_the_epoch_and_resends() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[]).await;
    producer.send(numbered(0, 0)).await.unwrap().await.unwrap();
    // The broker forgot the producer (its records were deleted by retention).
    broker.logs.lock().unwrap().get_mut(&0).unwrap().producers.clear();
    broker.faults.lock().unwrap().push_back(Fault::Error(ErrorCode::UNKNOWN_PRODUCER_ID));
    let m = producer.send(numbered(0, 1)).await.unwrap().await.unwrap();
    assert_eq!(m.offset, 1);
    assert_eq!(*broker.init_producer_id.lock().unwrap(), [(-1, -1), (1000, 0)], "KIP-360: same id, epoch + 1");
    assert_eq!(producer.producer_identity(), (1000, 1));
    producer.send(numbered(0, 2)).await.unwrap().await.unwrap();
    assert_eq!(broker.values(0), expected(0..3));
    assert_eq!(producer.stats().epoch_bumps, 1);
}

#[tokio::test(start_paused = true)]
async fn out_of_order_for_the_next_sequence_fails_that_batch_and_bumps() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[]).await;
    producer.send(numbered(0, 0)).await.unwrap().await.unwrap();
    broker.faults.lock().unwrap().push_back(Fault::Error(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
    let err = producer.send(numbered(0, 1)).await.unwrap().await.unwrap_err();
    assert!(matches!(err, ProduceError::OutOfOrderSequence { partition: 0, .. }), "{err}");
    // The producer goes on under a new epoch, numbering from 0 again.
    producer.send(numbered(0, 2)).await.unwrap().await.unwrap();
    assert_eq!(producer.producer_identity(), (1000, 1));
    assert_eq!(broker.values(0), ["0", "2"]);
}

#[tokio::test(start_paused = true)]
async fn delivery_timeout_and_fatal_errors_reach_the_records() {
    let broker = Arc::new(Broker::default());
    broker.faults.lock().unwrap().extend(std::iter::repeat_n(Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS), 10_000));
    let producer = producer_with(&broker, &[("delivery.timeout.ms", "40000"), ("request.timeout.ms", "30000")]).await;
    let start = tokio::time::Instant::now();
    let err = producer.send(numbered(0, 0)).await.unwrap().await.unwrap_err();
    assert!(matches!(err, ProduceError::DeliveryTimeout { .. }), "{err}");
    assert!(err.to_string().contains("NOT_ENOUGH_REPLICAS"), "the last error is kept: {err}");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(40) && waited < Duration::from_secs(42), "{waited:?}");
    assert!(producer.stats().retries > 10);

    let broker = Arc::new(Broker::default());
    broker.faults.lock().unwrap().push_back(Fault::Error(ErrorCode::MESSAGE_TOO_LARGE));
    let producer = producer_with(&broker, &[]).await;
    let err = producer.send(numbered(0, 0)).await.unwrap().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::MESSAGE_TOO_LARGE), "{err}");
    // retries=0: the first retriable error is final.
    let broker = Arc::new(Broker::default());
    broker.faults.lock().unwrap().push_back(Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    let producer = producer_with(&broker, &[("retries", "0")]).await;
    let err = producer.send(numbered(0, 0)).await.unwrap().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NOT_LEADER_OR_FOLLOWER), "{err}");
}

#[tokio::test(start_paused = true)]
async fn acks_zero_and_one_without_idempotence() {
    for (acks, offset) in [("0", -1), ("1", 0)] {
        let broker = Arc::new(Broker::default());
        let producer = producer_with(&broker, &[("acks", acks), ("enable.idempotence", "false")]).await;
        let m = producer.send(numbered(2, 0)).await.unwrap().await.unwrap();
        assert_eq!(m.offset, offset, "acks={acks}");
        producer.flush().await.unwrap();
        assert_eq!(broker.values(2), ["0"]);
        assert!(broker.init_producer_id.lock().unwrap().is_empty(), "no producer id without idempotence");
    }
}

#[tokio::test(start_paused = true)]
async fn close_delivers_pending_records_or_fails_them_all() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[("linger.ms", "60000")]).await;
    let d = producer.send(numbered(0, 0)).await.unwrap();
    producer.close(Duration::from_secs(5)).await.unwrap();
    assert_eq!(d.await.unwrap().offset, 0, "close sends lingering batches at once");
    assert!(matches!(producer.send(numbered(0, 1)).await.unwrap_err(), ProduceError::Closed));

    // The broker never answers: close gives up after its timeout and fails what is left.
    let broker = Arc::new(Broker { gate: Some(Arc::new(Semaphore::new(0))), ..Default::default() });
    let producer = producer_with(&broker, &[]).await;
    let deliveries: Vec<_> = futures_collect(&producer, 5).await;
    let err = producer.close(Duration::from_secs(3)).await.unwrap_err();
    assert!(matches!(err, ProduceError::BlockTimeout { .. }), "{err}");
    for d in deliveries {
        assert!(matches!(d.await.unwrap_err(), ProduceError::Closed));
    }
}

async fn futures_collect(producer: &Producer, n: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(producer.send(numbered(0, i)).await.unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_partitions() {
    async fn run() -> Vec<i32> {
        let broker = Arc::new(Broker::default());
        let producer = producer_with(&broker, &[("batch.size", "100")]).await;
        let mut out = Vec::new();
        for _ in 0..30 {
            out.push(producer.send(ProducerRecord::new("t").value("x")).await.unwrap().await.unwrap().partition);
        }
        out
    }
    let (a, b) = (run().await, run().await);
    assert_eq!(a, b);
}

/// Issue 4, KIP-360 as Java does it: a batch whose outcome is unknown keeps
/// its producer id, epoch and sequence across an epoch bump another
/// partition asked for, so the broker recognises it as a duplicate instead
/// of writing it a second time under a new number.
#[tokio::test(start_paused = true)]
async fn a_batch_in_doubt_keeps_its_sequence_across_an_epoch_bump() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[("retry.backoff.ms", "2000"), ("retry.backoff.max.ms", "2000")]).await;
    producer.send(numbered(1, 0)).await.unwrap().await.unwrap();
    // Partition 0's first batch is written, but the connection is cut
    // before the answer: written or not is unknown; it is retried in ~2 s.
    broker.faults.lock().unwrap().push_back(Fault::WriteThenDrop);
    let in_doubt = producer.send(numbered(0, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(broker.values(0), ["0"]);
    // Meanwhile partition 1 lost data: its next batch gets
    // OUT_OF_ORDER_SEQUENCE_NUMBER, which bumps the epoch.
    broker.faults.lock().unwrap().push_back(Fault::PartitionError(1, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));
    let err = producer.send(numbered(1, 1)).await.unwrap().await.unwrap_err();
    assert!(matches!(err, ProduceError::OutOfOrderSequence { partition: 1, .. }), "{err}");
    let m = in_doubt.await.unwrap();
    assert_eq!(m.offset, 0, "the retry is the same batch: the broker answers with its original offset");
    // Later records of both partitions go under the new epoch.
    assert_eq!(producer.send(numbered(0, 1)).await.unwrap().await.unwrap().offset, 1);
    assert_eq!(producer.send(numbered(1, 2)).await.unwrap().await.unwrap().offset, 1);
    assert_eq!(broker.values(0), ["0", "1"], "the batch in doubt was written once");
    assert_eq!(broker.values(1), ["0", "2"]);
    assert_eq!(*broker.init_producer_id.lock().unwrap(), [(-1, -1), (1000, 0)]);
    assert_eq!(producer.producer_identity(), (1000, 1));
    let logs = broker.logs.lock().unwrap();
    assert_eq!(logs[&0].producers[&1000].0, 1, "partition 0 moved to the new epoch after its batch in doubt was resolved");
}

/// A batch that expired in doubt (its answer never came) holds its
/// partition's later records back; a later acknowledgement would clear the
/// doubt, and without one the epoch is bumped and the partition starts
/// over: nothing is numbered after a sequence the broker may not have.
#[tokio::test(start_paused = true)]
async fn a_sequence_in_doubt_is_resolved_by_an_epoch_bump_before_later_records_go() {
    let gate = Arc::new(Semaphore::new(0));
    let broker = Arc::new(Broker { gate: Some(gate.clone()), ..Default::default() });
    let producer = producer_with(&broker, &[("delivery.timeout.ms", "31000"), ("request.timeout.ms", "30000")]).await;
    // The broker writes the batch but its answer never comes.
    let lost = producer.send(numbered(0, 0)).await.unwrap();
    let err = lost.await.unwrap_err();
    assert!(matches!(err, ProduceError::DeliveryTimeout { partition: 0, .. }), "{err}");
    assert_eq!(broker.values(0), ["0"], "the retry under the same sequence was recognised as a duplicate");
    gate.add_permits(1000);
    // The next record: under the bumped epoch from sequence 0, not sequence 1 of the old one.
    let m = producer.send(numbered(0, 1)).await.unwrap().await.unwrap();
    assert_eq!(producer.producer_identity(), (1000, 1));
    assert_eq!(m.offset, 1);
    assert_eq!(broker.values(0), ["0", "1"]);
}

/// Issue 4 (seen against Kafka 4.3.1 under load): partition 0's first
/// batch is written, but its answers say otherwise (here
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND; there a timed-out request) while later
/// batches pipelined behind it are acknowledged. Its resends then fall out
/// of the five batches the broker remembers and get
/// OUT_OF_ORDER_SEQUENCE_NUMBER. The acknowledgements prove it written
/// (KIP-98): it is delivered (offset unknown, -1), not retried until
/// delivery.timeout.ms, and nothing is written twice.
#[tokio::test(start_paused = true)]
async fn a_batch_proven_written_by_later_acknowledgements_is_delivered() {
    let broker = Arc::new(Broker { written_but_refused: Mutex::new(Some((0, 0, 3))), ..Default::default() });
    let producer = producer_with(&broker, &[("batch.size", "100"), ("linger.ms", "1"), ("delivery.timeout.ms", "40000")]).await;
    let count = 60;
    let mut deliveries = Vec::new();
    for n in 0..count {
        deliveries.push((n, producer.send(numbered(0, n)).await.unwrap()));
    }
    let mut unknown = Vec::new();
    for (n, d) in deliveries {
        let m = d.await.unwrap_or_else(|e| panic!("record {n}: {e}"));
        if m.offset == -1 {
            unknown.push(n);
        } else {
            assert_eq!(m.offset, n as i64, "offsets are the records' positions");
        }
    }
    assert!(!unknown.is_empty() && unknown.iter().all(|n| *n < 5), "only the first batch has an unknown offset: {unknown:?}");
    assert_eq!(broker.values(0), expected(0..count), "each record written once, in order");
    assert_eq!(broker.init_producer_id.lock().unwrap().len(), 1, "no epoch bump");
    assert_eq!(producer.stats().records_failed, 0);
}

/// Issue 4, at the source: while a partition's batch waits for its outcome
/// on a connection that is gone (its failure not yet handled), a later
/// batch of the partition is not written on another connection; it goes
/// only once the earlier one is resolved, so the broker never sees the
/// later sequence first.
#[tokio::test(start_paused = true)]
async fn a_later_batch_waits_for_an_earlier_one_in_flight_on_another_connection() {
    let gate = Arc::new(Semaphore::new(0));
    let broker = Arc::new(Broker { gate: Some(gate.clone()), ..Default::default() });
    let producer = producer_with(&broker, &[]).await;
    let first = producer.send(numbered(0, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(broker.produce_requests.load(Ordering::SeqCst), 1);
    // Pretend the first batch went out on a connection that has since been
    // replaced: the one its partition's next batch would use is another.
    {
        let mut state = producer.inner.lock();
        let batch = state.accumulator.queue_mut(&TopicPartition::new("t", 0)).next().unwrap();
        assert!(batch.in_flight && batch.sent_on.is_some());
        batch.sent_on = Some(u64::MAX);
    }
    let second = producer.send(numbered(0, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // (The fake broker reads one request at a time, so count what the producer wrote.)
    assert_eq!(producer.stats().batches_sent, 1, "the second batch waits for the first one's outcome");
    {
        let mut state = producer.inner.lock();
        let mut queue = state.accumulator.queue_mut(&TopicPartition::new("t", 0));
        assert!(queue.nth(1).is_some_and(|b| b.sent_on.is_none()), "not written to any connection");
    }
    gate.add_permits(1000);
    assert_eq!(first.await.unwrap().offset, 0);
    assert_eq!(second.await.unwrap().offset, 1);
    assert_eq!(broker.values(0), expected(0..2));
}

/// delivery.timeout.ms bounds a batch in flight too: a broker that never
/// answers cannot hold a record past its deadline (the request's own
/// timeout is cut to what is left of it), and results come in send order.
#[tokio::test(start_paused = true)]
async fn delivery_timeout_bounds_batches_in_flight_and_keeps_their_order() {
    let broker = Arc::new(Broker { gate: Some(Arc::new(Semaphore::new(0))), ..Default::default() });
    let producer = producer_with(
        &broker,
        &[("delivery.timeout.ms", "35000"), ("request.timeout.ms", "30000"), ("max.in.flight.requests.per.connection", "1")],
    )
    .await;
    let start = tokio::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..2 {
        let d = producer.send(numbered(0, n)).await.unwrap();
        let tx = tx.clone();
        tokio::spawn(async move {
            let result = d.await;
            tx.send((n, start.elapsed(), result)).unwrap();
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for expected_n in 0..2 {
        let (n, at, result) = rx.recv().await.unwrap();
        assert_eq!(n, expected_n, "results in send order");
        let err = result.unwrap_err();
        assert!(matches!(err, ProduceError::DeliveryTimeout { partition: 0, .. }), "{err}");
        assert!(at >= Duration::from_secs(35) && at < Duration::from_secs(36), "record {n} failed at {at:?}");
    }
}

/// MESSAGE_TOO_LARGE for a batch of several records: it is split in halves
/// until the broker takes them (sequences renumbered within the batch's own
/// range, order kept); a single record too large fails naming the limits.
#[tokio::test(start_paused = true)]
async fn too_large_batches_are_split_and_a_single_record_fails_naming_the_limits() {
    let broker = Arc::new(Broker { max_batch_bytes: Some(600), ..Default::default() });
    let producer = producer_with(&broker, &[("linger.ms", "100")]).await;
    let value = |n: usize| format!("{n:03}-{}", "x".repeat(100));
    let mut deliveries = Vec::new();
    for n in 0..16 {
        deliveries.push(producer.send(ProducerRecord::new("t").partition(0).value(value(n))).await.unwrap());
    }
    for (n, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.await.unwrap_or_else(|e| panic!("record {n}: {e}")).offset, n as i64);
    }
    assert_eq!(broker.values(0), (0..16).map(value).collect::<Vec<_>>());
    assert_eq!(producer.stats().batch_splits, 3, "16 records -> 2 x 8 -> 4 x 4");
    // Sequences stayed contiguous: the next batch needs no epoch bump.
    producer.send(ProducerRecord::new("t").partition(0).value("after")).await.unwrap().await.unwrap();
    assert_eq!(producer.producer_identity(), (1000, 0));

    let err = producer.send(ProducerRecord::new("t").partition(1).value(vec![b'x'; 1000])).await.unwrap().await.unwrap_err();
    assert!(matches!(err, ProduceError::MessageTooLarge { partition: 1, .. }), "{err}");
    assert_eq!(err.code(), Some(ErrorCode::MESSAGE_TOO_LARGE));
    let text = err.to_string();
    assert!(text.contains("message.max.bytes") && text.contains("max.request.size"), "{text}");
    // The partition goes on.
    assert_eq!(producer.send(numbered(1, 1)).await.unwrap().await.unwrap().offset, 0);
}

/// A leader whose address swallows connection attempts holds up only its
/// own partitions: each leader has its own lane.
#[tokio::test(start_paused = true)]
async fn an_unreachable_leader_does_not_hold_up_the_others() {
    let broker = Arc::new(Broker { black_holed_partition: Some(2), ..Default::default() });
    let producer = producer_with(
        &broker,
        &[("socket.connection.setup.timeout.ms", "10000"), ("delivery.timeout.ms", "40000"), ("request.timeout.ms", "30000")],
    )
    .await;
    let stuck = producer.send(numbered(2, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = tokio::time::Instant::now();
    for n in 0..3 {
        let m = producer.send(numbered(0, n)).await.unwrap().await.unwrap();
        assert_eq!(m.offset, n as i64);
    }
    assert!(start.elapsed() < Duration::from_millis(500), "waited {:?} for the reachable leader", start.elapsed());
    let err = stuck.await.unwrap_err();
    assert!(matches!(err, ProduceError::DeliveryTimeout { partition: 2, .. }), "{err}");
    assert!(err.to_string().contains("black-hole"), "the last error names the broker: {err}");
}

/// One snapshot of the client shows its connections and its producers' counters.
#[tokio::test(start_paused = true)]
async fn the_client_snapshot_shows_connections_and_producer_counters() {
    let broker = Arc::new(Broker::default());
    let producer = producer_with(&broker, &[]).await;
    assert_eq!(producer.client().stats().producer, Some(ProducerStatsSnapshot::default()));
    broker.faults.lock().unwrap().push_back(Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    for n in 0..5 {
        producer.send(numbered(0, n)).await.unwrap().await.unwrap();
    }
    let snapshot = producer.client().stats();
    let connections = snapshot.total();
    assert!(connections.requests >= 6 && connections.connects >= 1, "{connections:?}");
    let counters = snapshot.producer.clone().expect("the producer's counters");
    assert_eq!(counters, producer.stats());
    assert_eq!((counters.records_delivered, counters.retries, counters.batches_sent), (5, 1, 6));
    // A second producer on the same client adds its counters.
    let second = Producer::with_wall_clock(producer.client().clone(), 0).unwrap();
    second.send(numbered(1, 0)).await.unwrap().await.unwrap();
    assert_eq!(producer.client().stats().producer.unwrap().records_delivered, 6);
    // A producer that is gone no longer counts.
    let client = producer.client().clone();
    second.close(Duration::from_secs(5)).await.unwrap();
    drop(second);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(client.stats().producer.unwrap().records_delivered, 5);
}

/// KIP-794 part 2 end to end: once the leader of partition 2 has taken no
/// batch for partitioner.availability.timeout.ms, records without a key
/// stop going to its partitions.
#[tokio::test(start_paused = true)]
async fn keyless_records_skip_a_leader_that_takes_nothing() {
    let broker = Arc::new(Broker { black_holed_partition: Some(2), ..Default::default() });
    let producer = producer_with(
        &broker,
        &[("partitioner.availability.timeout.ms", "500"), ("batch.size", "100"), ("socket.connection.setup.timeout.ms", "30000")],
    )
    .await;
    let record = || ProducerRecord::new("t").value(vec![b'x'; 100]);
    let mut early = Vec::new();
    for _ in 0..60 {
        early.push(producer.send(record()).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Partition 2 had its share so far; from now on, nothing goes there.
    for n in 0..60 {
        let d = producer.send(record()).await.unwrap();
        let m = tokio::time::timeout(Duration::from_secs(2), d).await;
        let m = m.unwrap_or_else(|_| panic!("record {n} went to the unreachable leader")).unwrap();
        assert_ne!(m.partition, 2);
    }
    assert!(broker.values(0).len() + broker.values(1).len() >= 60);
    drop(early);
}

/// A topic not in the metadata yet (just created) is asked for again until
/// it appears, within max.block.ms, as Java's producer waits for it; one that
/// never appears fails at max.block.ms, and one refused for authorization at once.
#[tokio::test(start_paused = true)]
async fn send_waits_for_a_topic_to_appear_in_the_metadata() {
    let broker = Arc::new(Broker { late_topic_from: Some(5), ..Broker::default() });
    let producer = producer_with(&broker, &[("max.block.ms", "5000")]).await;
    let start = tokio::time::Instant::now();
    let delivered = producer.send(ProducerRecord::new("late").value("v")).await.unwrap().await.unwrap();
    assert_eq!((delivered.topic.as_str(), delivered.partition), ("late", 0));
    assert!(broker.metadata_requests.load(Ordering::SeqCst) >= 5);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());

    let start = tokio::time::Instant::now();
    let err = producer.send(ProducerRecord::new("never").value("v")).await.unwrap_err();
    assert!(matches!(err, ProduceError::UnknownPartition { partition: None, .. }), "{err}");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(4) && waited <= Duration::from_secs(5), "{waited:?}");

    let start = tokio::time::Instant::now();
    let err = producer.send(ProducerRecord::new("forbidden").value("v")).await.unwrap_err();
    assert!(err.to_string().contains("TOPIC_AUTHORIZATION_FAILED"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
}

/// The producer keeps a topic's partitions between sends only while the
/// client's metadata is unchanged: partitions added to a topic are used once
/// a metadata update shows them.
#[tokio::test(start_paused = true)]
async fn partitions_added_to_a_topic_are_used_once_the_metadata_shows_them() {
    let broker = Arc::new(Broker { late_topic_from: Some(1), ..Broker::default() });
    let producer = producer_with(&broker, &[]).await;
    assert_eq!(producer.send(ProducerRecord::new("late").partition(0).value("v")).await.unwrap().await.unwrap().partition, 0);
    let err = producer.send(ProducerRecord::new("late").partition(2).value("v")).await.unwrap_err();
    assert!(matches!(err, ProduceError::UnknownPartition { partition: Some(2), partitions: 1, .. }), "{err}");
    broker.late_topic_grown.store(true, Ordering::SeqCst);
    producer.client().metadata(&["late"]).await.unwrap();
    let delivered = producer.send(ProducerRecord::new("late").partition(2).value("v")).await.unwrap().await.unwrap();
    assert_eq!((delivered.topic.as_str(), delivered.partition, delivered.offset), ("late", 2, 0));
    // Keyed records spread over all three now, as Java's partitioner would.
    for key in ["a", "b", "c", "d"] {
        let m = producer.send(ProducerRecord::new("late").key(key).value("v")).await.unwrap().await.unwrap();
        assert_eq!(m.partition, partitioner::partition_for_key(key.as_bytes(), 3), "{key}");
    }
}

/// max.in.flight.requests.per.connection bounds the requests a leader has
/// unanswered, as in Java: the batches that become ready meanwhile wait and
/// go together in the next request, instead of one request each.
#[tokio::test(start_paused = true)]
async fn batches_ready_while_requests_are_unanswered_go_together() {
    let gate = Arc::new(Semaphore::new(0));
    let broker = Arc::new(Broker { gate: Some(gate.clone()), ..Default::default() });
    let producer = producer_with(&broker, &[("max.in.flight.requests.per.connection", "2")]).await;
    let mut deliveries = Vec::new();
    for (n, partition) in [0, 1].into_iter().enumerate() {
        deliveries.push(producer.send(numbered(partition, n)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Two requests unanswered: these three batches wait.
    for (n, partition) in [2, 0, 1].into_iter().enumerate() {
        deliveries.push(producer.send(numbered(partition, n + 2)).await.unwrap());
        // Each ready in a sender pass of its own.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(broker.batches_per_request.lock().unwrap().clone(), vec![1], "the first request waits for its answer");
    gate.add_permits(1000);
    for d in deliveries {
        d.await.unwrap();
    }
    assert_eq!(broker.batches_per_request.lock().unwrap().clone(), vec![1, 1, 3], "the waiting batches went in one request");
    assert_eq!(
        (broker.values(0), broker.values(1), broker.values(2)),
        (vec!["0".into(), "3".into()], vec!["1".into(), "4".into()], expected(2..3))
    );
}

/// Three partitions' batches of 400 KB each, ready in one sender pass, per
/// request, under `properties`.
async fn batches_per_request_for(properties: &[(&str, &str)]) -> Vec<usize> {
    let broker = Arc::new(Broker::default());
    let producer = large_batch_producer(&broker, properties).await;
    for d in three_large_batches(&producer).await {
        d.await.unwrap();
    }
    let per_request = broker.batches_per_request.lock().unwrap().clone();
    per_request
}

/// A producer that lingers 100 ms, so records sent at once go in one pass.
async fn large_batch_producer(broker: &Arc<Broker>, properties: &[(&str, &str)]) -> Producer {
    let mut all = vec![("linger.ms", "100"), ("batch.size", "500000")];
    all.extend_from_slice(properties);
    producer_with(broker, &all).await
}

/// Sends a 400 KB record to each partition.
async fn three_large_batches(producer: &Producer) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for partition in 0..PARTITIONS {
        deliveries.push(producer.send(ProducerRecord::new("t").partition(partition).value(vec![b'v'; 400_000])).await.unwrap());
    }
    deliveries
}

#[tokio::test(start_paused = true)]
async fn requests_carry_batches_up_to_the_request_limit() {
    // Unless told, a request takes every ready batch (up to the broker's
    // socket.request.max.bytes), though they pass max.request.size's default.
    assert_eq!(batches_per_request_for(&[]).await, [3]);
    // max.request.size given caps requests too, as in Java.
    assert_eq!(batches_per_request_for(&[("max.request.size", "1048576")]).await, [2, 1]);
    // The request limit of its own: a batch above it still goes, alone.
    assert_eq!(batches_per_request_for(&[("rill.produce.request.max.bytes", "100000")]).await, [1, 1, 1]);
    assert_eq!(batches_per_request_for(&[("max.request.size", "1048576"), ("rill.produce.request.max.bytes", "2000000")]).await, [3]);
}

#[tokio::test(start_paused = true)]
async fn a_broker_that_closes_on_large_requests_gets_smaller_ones() {
    // Azure Event Hubs closes the connection above 1046528 bytes; no limit given.
    let broker = Arc::new(Broker { max_request_bytes: Some(1_046_528), ..Default::default() });
    let producer = large_batch_producer(&broker, &[]).await;
    for _ in 0..3 {
        broker.batches_per_request.lock().unwrap().clear();
        for delivery in three_large_batches(&producer).await {
            delivery.await.unwrap();
        }
    }
    // Two connections in a row closed on a large request; from then on a
    // pass's batches go in requests under 1000000 bytes.
    assert_eq!(broker.closed_on_request_bytes.load(Ordering::SeqCst), 2);
    assert_eq!(broker.batches_per_request.lock().unwrap().clone(), [2, 1]);
    // Told the limit (as the Event Hubs presets are), the records go at once.
    let broker = Arc::new(Broker { max_request_bytes: Some(1_046_528), ..Default::default() });
    let producer = large_batch_producer(&broker, &[("max.request.size", "1000000")]).await;
    for delivery in three_large_batches(&producer).await {
        delivery.await.unwrap();
    }
    assert_eq!(broker.batches_per_request.lock().unwrap().clone(), [2, 1]);
    // A limit given above what the broker reads is kept; a batch above it
    // fails, the error naming the request's size and the settings.
    let broker = Arc::new(Broker { max_request_bytes: Some(1_046_528), ..Default::default() });
    let properties = [("max.request.size", "2000000"), ("delivery.timeout.ms", "3000"), ("request.timeout.ms", "1000")];
    let producer = producer_with(&broker, &properties).await;
    let err = producer.send(ProducerRecord::new("t").partition(0).value(vec![b'v'; 1_100_000])).await.unwrap().await.unwrap_err();
    assert!(matches!(err, ProduceError::DeliveryTimeout { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("bytes unanswered") && text.contains("rill.produce.request.max.bytes"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_restart_with_a_large_request_in_flight_keeps_requests_large() {
    // The first request (three 400 KB batches) is lost with its connection, as in a restart.
    let broker = Arc::new(Broker::default());
    broker.faults.lock().unwrap().push_back(Fault::Drop);
    let producer = large_batch_producer(&broker, &[]).await;
    for delivery in three_large_batches(&producer).await {
        delivery.await.unwrap();
    }
    broker.batches_per_request.lock().unwrap().clear();
    for delivery in three_large_batches(&producer).await {
        delivery.await.unwrap();
    }
    assert_eq!(broker.batches_per_request.lock().unwrap().clone(), [3], "one close makes no leader cautious");
}

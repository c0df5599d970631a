//! The broker over real tokio TCP, driven by the real rill-client: metadata,
//! topic creation, produce (acks 0/1/all, idempotent retries), fetch
//! (records, high watermark, sessions), list offsets; and garbage input.

use std::time::Duration;

use bytes::Bytes;
use rill_broker::{Broker, BrokerConfig, ControllerConfig, Disk, FlushPolicy};
use rill_client::{Client, ClientConfig, NewTopic, OffsetSpec};
use rill_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use rill_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use rill_protocol::messages::ProduceResponse;
use rill_protocol::records::{DecodeOptions, RecordBatch, RecordBatchBuilder};
use rill_protocol::{ErrorCode, Uuid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> (Broker, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = Broker::single_node(
        BrokerConfig::new(1, "127.0.0.1", port),
        Disk::new(FlushPolicy::Manual),
        ControllerConfig { default_partitions: 2, ..Default::default() },
    );
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    (broker, format!("127.0.0.1:{port}"))
}

async fn client(bootstrap: &str) -> Client {
    let config = ClientConfig::from_properties([("bootstrap.servers", bootstrap), ("request.timeout.ms", "5000")]).unwrap();
    Client::connect(config).await.unwrap()
}

fn batch(values: &[&str], producer: Option<(i64, i16, i32)>) -> Bytes {
    let mut b = RecordBatchBuilder::new(0);
    if let Some((id, epoch, seq)) = producer {
        b = b.producer(id, epoch, seq);
    }
    for (i, v) in values.iter().enumerate() {
        b.append(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), &[]).unwrap();
    }
    b.finish().unwrap().freeze()
}

fn produce(topic: &str, partition: i32, acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest {
        acks,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: topic.to_string(),
            partition_data: vec![PartitionProduceData { index: partition, records: Some(records), ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn first(r: &ProduceResponse) -> (i16, i64) {
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch(topic_id: Uuid, topic: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 100,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.to_string(),
            topic_id,
            partitions: vec![FetchPartition { partition, fetch_offset: offset, partition_max_bytes: 1 << 20, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn values(records: &Option<Bytes>) -> Vec<(i64, String)> {
    let bytes = records.clone().unwrap_or_default();
    RecordBatch::decode_all(&bytes, &DecodeOptions::default())
        .unwrap()
        .iter()
        .flat_map(|b| {
            b.iter()
                .map(|(offset, _, r)| (offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn produce_fetch_and_list_offsets_with_the_real_client() {
    let (_broker, bootstrap) = start().await;
    let client = client(&bootstrap).await;

    let created = client.create_topics(&[NewTopic::new("events", 3, 1)], Duration::from_secs(5)).await.unwrap();
    assert!(created[0].result.is_ok(), "{:?}", created[0].result);
    let again = client.create_topics(&[NewTopic::new("events", 3, 1)], Duration::from_secs(5)).await.unwrap();
    assert_eq!(again[0].result.as_ref().unwrap_err().code(), Some(ErrorCode::TOPIC_ALREADY_EXISTS));

    let metadata = client.metadata(&["events"]).await.unwrap();
    let topic = metadata.topic("events").unwrap();
    assert_eq!(topic.partitions.len(), 3);
    assert_eq!(topic.partitions[&1].leader, Some(1));
    assert_eq!(metadata.brokers.len(), 1);
    let id = topic.id;
    assert_ne!(id, Uuid::ZERO);

    // acks=1 and acks=all on a one-replica ISR; offsets follow on.
    let r: ProduceResponse = client.send(1, &produce("events", 1, 1, batch(&["a", "b"], None))).await.unwrap();
    assert_eq!(first(&r), (0, 0));
    let r: ProduceResponse = client.send(1, &produce("events", 1, -1, batch(&["c"], None))).await.unwrap();
    assert_eq!(first(&r), (0, 2));

    // Idempotent producer: a retried batch gets its original offset and is not stored twice;
    // a gap is refused.
    let r: ProduceResponse = client.send(1, &produce("events", 1, -1, batch(&["p0", "p1"], Some((42, 0, 0))))).await.unwrap();
    assert_eq!(first(&r), (0, 3));
    let r: ProduceResponse = client.send(1, &produce("events", 1, -1, batch(&["p0", "p1"], Some((42, 0, 0))))).await.unwrap();
    assert_eq!(first(&r), (0, 3));
    let r: ProduceResponse = client.send(1, &produce("events", 1, -1, batch(&["p9"], Some((42, 0, 9))))).await.unwrap();
    assert_eq!(first(&r).0, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0);

    // Fetch (the client negotiates v17: topics by id) sees exactly the stored records.
    let f = client.send(1, &fetch(id, "events", 1, 0)).await.unwrap();
    let p = &f.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 5));
    assert_eq!(values(&p.records), vec![(0, "a".into()), (1, "b".into()), (2, "c".into()), (3, "p0".into()), (4, "p1".into())]);
    // From the middle of a batch: the whole batch comes back (the consumer skips).
    let f = client.send(1, &fetch(id, "events", 1, 1)).await.unwrap();
    assert_eq!(values(&f.responses[0].partitions[0].records)[0].0, 0);
    // Past the end: OFFSET_OUT_OF_RANGE; wrong partition: UNKNOWN_TOPIC_OR_PARTITION.
    let f = client.send(1, &fetch(id, "events", 1, 99)).await.unwrap();
    assert_eq!(f.responses[0].partitions[0].error_code, ErrorCode::OFFSET_OUT_OF_RANGE.0);
    let f = client.send(1, &fetch(id, "events", 7, 0)).await.unwrap();
    assert_eq!(f.responses[0].partitions[0].error_code, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0);
    // Unknown topic id.
    let f = client.send(1, &fetch(Uuid::from_u64_pair(1, 2), "", 0, 0)).await.unwrap();
    assert_eq!(f.responses[0].partitions[0].error_code, ErrorCode::UNKNOWN_TOPIC_ID.0);

    // acks=0: no response is sent, but the records are stored.
    let conn = client.connection(1).await.unwrap();
    conn.send_no_response(&produce("events", 2, 0, batch(&["z"], None)), 9).await.unwrap();

    let latest = client.list_offsets(&[("events", 1, OffsetSpec::Latest)]).await.unwrap();
    assert_eq!(latest[&("events".to_string(), 1)].as_ref().unwrap().offset, 5);
    let earliest = client.list_offsets(&[("events", 1, OffsetSpec::Earliest)]).await.unwrap();
    assert_eq!(earliest[&("events".to_string(), 1)].as_ref().unwrap().offset, 0);
    // The first record at or after timestamp 1001 is "b" (offset 1).
    let at = client.list_offsets(&[("events", 1, OffsetSpec::Timestamp(1_001))]).await.unwrap();
    assert_eq!(at[&("events".to_string(), 1)].as_ref().unwrap().offset, 1);
    let max = client.list_offsets(&[("events", 1, OffsetSpec::MaxTimestamp)]).await.unwrap();
    // Timestamps 1000, 1001, 1000, 1000, 1001: the first record with the largest one.
    assert_eq!(max[&("events".to_string(), 1)].as_ref().unwrap().offset, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let z = client.list_offsets(&[("events", 2, OffsetSpec::Latest)]).await.unwrap();
        if z[&("events".to_string(), 2)].as_ref().unwrap().offset == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the acks=0 record never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_request_of_several_mebibytes_arrives_whole() {
    // The broker grows its read buffer a mebibyte at a time, not by the
    // size a frame claims: a 3 MiB value crosses several steps.
    let (_broker, bootstrap) = start().await;
    let client = client(&bootstrap).await;
    client.create_topics(&[NewTopic::new("large", 1, 1)], Duration::from_secs(5)).await.unwrap();
    let value: String = (0..3 << 20).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let r: ProduceResponse = client.send(1, &produce("large", 0, 1, batch(&[value.as_str()], None))).await.unwrap();
    assert_eq!(first(&r), (0, 0));
    let id = client.metadata(&["large"]).await.unwrap().topic("large").unwrap().id;
    let mut request = fetch(id, "large", 0, 0);
    request.max_bytes = 8 << 20;
    request.topics[0].partitions[0].partition_max_bytes = 8 << 20;
    let f = client.send(1, &request).await.unwrap();
    assert_eq!(values(&f.responses[0].partitions[0].records), vec![(0, value)]);
}

#[tokio::test]
async fn metadata_auto_creates_topics_and_fetch_sessions_are_incremental() {
    let (_broker, bootstrap) = start().await;
    let client = client(&bootstrap).await;
    // rill-client asks not to auto-create; a raw request that allows it creates the topic.
    let no = client.metadata(&["auto"]).await.unwrap();
    assert_ne!(no.topic("auto").map(|t| t.error), Some(ErrorCode::NONE));
    let raw = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some("auto".to_string()), ..Default::default() }]),
        allow_auto_topic_creation: true,
        ..Default::default()
    };
    let created = client.send(1, &raw).await.unwrap();
    assert_eq!(created.topics[0].error_code, 0);
    let metadata = client.metadata(&["auto"]).await.unwrap();
    let topic = metadata.topic("auto").unwrap();
    assert_eq!(topic.partitions.len(), 2, "the controller's default partition count");
    let id = topic.id;
    let r: ProduceResponse = client.send(1, &produce("auto", 0, 1, batch(&["x"], None))).await.unwrap();
    assert_eq!(first(&r), (0, 0));

    // A session over partitions 0 and 1: the full response has both.
    let mut request = fetch(id, "auto", 0, 0);
    request.topics[0].partitions.push(FetchPartition { partition: 1, partition_max_bytes: 1 << 20, ..Default::default() });
    request.session_epoch = 0;
    let full = client.send(1, &request).await.unwrap();
    assert!(full.session_id > 0);
    assert_eq!(full.responses[0].partitions.len(), 2);
    // Incremental, nothing changed and partition 0 moved to its end: an empty response.
    let incremental = FetchRequest {
        session_id: full.session_id,
        session_epoch: 1,
        max_wait_ms: 0,
        topics: vec![FetchTopic {
            topic_id: id,
            partitions: vec![FetchPartition { partition: 0, fetch_offset: 1, partition_max_bytes: 1 << 20, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = client.send(1, &incremental).await.unwrap();
    assert_eq!(r.error_code, 0);
    assert!(r.responses.iter().all(|t| t.partitions.is_empty()), "{r:?}");
    // New data on partition 1 shows up alone.
    let _: ProduceResponse = client.send(1, &produce("auto", 1, 1, batch(&["y"], None))).await.unwrap();
    let r = client.send(1, &FetchRequest { session_epoch: 2, topics: vec![], ..incremental.clone() }).await.unwrap();
    let parts: Vec<i32> = r.responses.iter().flat_map(|t| t.partitions.iter().map(|p| p.partition_index)).collect();
    assert_eq!(parts, vec![1]);
    // A stale epoch is refused.
    let r = client.send(1, &FetchRequest { session_epoch: 2, topics: vec![], ..incremental }).await.unwrap();
    assert_eq!(r.error_code, ErrorCode::INVALID_FETCH_SESSION_EPOCH.0);
}

#[tokio::test]
async fn garbage_closes_the_connection_and_the_broker_keeps_serving() {
    let (_broker, bootstrap) = start().await;
    let inputs: Vec<Vec<u8>> = vec![
        vec![0xff, 0xff, 0xff, 0xff],                                // negative size
        vec![0x7f, 0xff, 0xff, 0xff],                                // 2 GiB frame
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),                          // HTTP
        vec![0, 0, 0, 4, 0, 0, 0, 0],                                // a frame too short for a header
        vec![0, 0, 0, 10, 0, 3, 0, 99, 0, 0, 0, 1, 0, 0],            // Metadata v99
        vec![0, 0, 0, 12, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0xde, 0xad], // Produce v9, truncated body
        vec![0, 0, 0, 8, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1],              // unknown API key
    ];
    for input in inputs {
        let mut s = tokio::net::TcpStream::connect(&bootstrap).await.unwrap();
        s.write_all(&input).await.unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "connection not closed for {input:?}: {read:?} {out:?}");
    }
    // Random bytes in well-formed frames, for every API key this broker serves.
    let mut seed = 7u64;
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(&bootstrap).await.unwrap();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = (seed >> 58) as usize + 4;
        let mut body: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
        body[0] = 0;
        body[1] = [0u8, 1, 2, 3, 18, 19, 23][(seed % 7) as usize];
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        s.write_all(&frame).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await.unwrap();
    }
    // An ApiVersions request of an unknown version gets a v0 UNSUPPORTED_VERSION answer (KIP-511).
    let mut s = tokio::net::TcpStream::connect(&bootstrap).await.unwrap();
    // Header v2 (flexible): key, version, correlation id, client id (null), no tagged fields.
    s.write_all(&[0, 0, 0, 11, 0, 18, 0, 99, 0, 0, 0, 5, 0xff, 0xff, 0]).await.unwrap();
    let mut answer = [0u8; 10];
    s.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer[4..8], &[0, 0, 0, 5], "correlation id");
    assert_eq!(&answer[8..10], &ErrorCode::UNSUPPORTED_VERSION.0.to_be_bytes());
    // Still serving.
    let client = client(&bootstrap).await;
    assert!(client.metadata(&[]).await.is_ok());
}

struct FailProduce;

impl rill_broker::Interceptor for FailProduce {
    fn intercept(&self, _node: i32, api_key: rill_protocol::ApiKey, _version: i16) -> rill_broker::Interception {
        if api_key == rill_protocol::ApiKey::PRODUCE {
            rill_broker::Interception::DelayThenFail(Duration::from_millis(20), ErrorCode::NOT_LEADER_OR_FOLLOWER)
        } else {
            rill_broker::Interception::Pass
        }
    }
}

#[tokio::test]
async fn an_interceptor_injects_errors_without_touching_the_log() {
    let (broker, bootstrap) = start().await;
    let client = client(&bootstrap).await;
    client.create_topics(&[NewTopic::new("hooked", 1, 1)], Duration::from_secs(5)).await.unwrap();
    broker.set_interceptor(Some(std::sync::Arc::new(FailProduce)));
    let r: ProduceResponse = client.send(1, &produce("hooked", 0, 1, batch(&["x"], None))).await.unwrap();
    assert_eq!(first(&r).0, ErrorCode::NOT_LEADER_OR_FOLLOWER.0);
    assert_eq!(broker.disk().log_end_offset(&("hooked".to_string(), 0)), 0);
    broker.set_interceptor(None);
    let r: ProduceResponse = client.send(1, &produce("hooked", 0, 1, batch(&["x"], None))).await.unwrap();
    assert_eq!(first(&r), (0, 0));
}

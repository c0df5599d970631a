//! Connection, negotiation and client tests against an in-process fake
//! broker that speaks the real protocol (rill-protocol both ways) over
//! `tokio::io::duplex` streams.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rill_protocol::frame::{FrameError, TlsRecordKind};
use rill_protocol::message::{decode_request, encode_response, Response};
use rill_protocol::messages::api_versions_response::ApiVersion;
use rill_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use rill_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use rill_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ListOffsetsResponse, MetadataRequest, MetadataResponse, RequestBody, RequestHeader,
};
use rill_protocol::{ApiKey, ErrorCode, Uuid};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::config::ClientConfig;
use crate::connection::{Connection, ConnectionConfig};
use crate::error::Error;
use crate::stats::BrokerStats;
use crate::transport::{BoxStream, ConnectFuture, Transport};

const BROKER: &str = "fake:9092";

pub(crate) async fn read_request(s: &mut DuplexStream) -> Option<(RequestHeader, RequestBody)> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).await.ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).await.ok()?;
    decode_request(&Bytes::from(body)).ok()
}

pub(crate) fn all_versions() -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: ApiKey::ALL
            .iter()
            .filter_map(|k| {
                let r = k.supported_versions()?;
                Some(ApiVersion { api_key: k.0, min_version: r.min, max_version: r.max, ..Default::default() })
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn reply<R: Response>(header: &RequestHeader, body: &R) -> BytesMut {
    encode_response(header.correlation_id, body, header.request_api_version).unwrap()
}

fn metadata_response_for(host: &str) -> MetadataResponse {
    MetadataResponse {
        brokers: vec![MetadataResponseBroker { node_id: 1, host: host.into(), port: 9092, ..Default::default() }],
        cluster_id: Some("fake-cluster".into()),
        controller_id: 1,
        topics: vec![MetadataResponseTopic {
            name: Some("t".into()),
            topic_id: Uuid::from_u64_pair(1, 2),
            partitions: vec![MetadataResponsePartition {
                partition_index: 0,
                leader_id: 1,
                leader_epoch: 3,
                replica_nodes: vec![1],
                isr_nodes: vec![1],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// What the fake broker saw, and how it misbehaves.
#[derive(Debug, Default)]
struct FakeState {
    metadata_requests: AtomicUsize,
    /// ListOffsets answers NOT_LEADER_OR_FOLLOWER this many times first.
    list_offsets_failures: AtomicUsize,
    /// The current_leader_epoch of every ListOffsets partition received.
    list_offsets_epochs: Mutex<Vec<i32>>,
    /// The host the broker advertises in Metadata (default `fake`).
    advertised_host: Option<String>,
}

/// Answers ApiVersions and Metadata like a one-node cluster, one request at a time.
async fn serve(s: DuplexStream) {
    serve_with(s, Arc::default()).await
}

async fn serve_with(mut s: DuplexStream, state: Arc<FakeState>) {
    while let Some((header, body)) = read_request(&mut s).await {
        let frame = match body {
            RequestBody::ApiVersions(_) => reply(&header, &all_versions()),
            RequestBody::Metadata(_) => {
                state.metadata_requests.fetch_add(1, Ordering::SeqCst);
                reply(&header, &metadata_response_for(state.advertised_host.as_deref().unwrap_or("fake")))
            }
            RequestBody::ListOffsets(req) => {
                let fail = state.list_offsets_failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                let topics = req
                    .topics
                    .iter()
                    .map(|t| ListOffsetsTopicResponse {
                        name: t.name.clone(),
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| {
                                state.list_offsets_epochs.lock().unwrap().push(p.current_leader_epoch);
                                ListOffsetsPartitionResponse {
                                    partition_index: p.partition_index,
                                    error_code: if fail { ErrorCode::NOT_LEADER_OR_FOLLOWER.0 } else { 0 },
                                    offset: if p.timestamp == -2 { 0 } else { 42 },
                                    leader_epoch: 3,
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect();
                reply(&header, &ListOffsetsResponse { topics, ..Default::default() })
            }
            _ => return,
        };
        if s.write_all(&frame).await.is_err() {
            return;
        }
    }
}

fn config() -> ConnectionConfig {
    ConnectionConfig { request_timeout: Duration::from_secs(5), ..ConnectionConfig::default() }
}

fn connection(config: ConnectionConfig) -> (Connection, DuplexStream, Arc<BrokerStats>) {
    let (client, broker) = tokio::io::duplex(1 << 20);
    let stats = Arc::new(BrokerStats::default());
    (Connection::from_stream(Box::new(client), BROKER, config, stats.clone()), broker, stats)
}

async fn api_versions(conn: &Connection) -> Result<ApiVersionsResponse, Error> {
    conn.send_version(&ApiVersionsRequest::default(), 3).await
}

#[tokio::test(start_paused = true)]
async fn pipelines_requests_and_answers_in_order() {
    let (conn, mut broker, stats) = connection(config());
    tokio::spawn(async move {
        // Read three requests before answering any: they must all be in flight at once.
        let mut pending = Vec::new();
        for _ in 0..3 {
            pending.push(read_request(&mut broker).await.unwrap().0);
        }
        let ids: Vec<i32> = pending.iter().map(|h| h.correlation_id).collect();
        assert_eq!(ids, [0, 1, 2]);
        for (i, header) in pending.iter().enumerate() {
            let body = ApiVersionsResponse { throttle_time_ms: i as i32, ..all_versions() };
            broker.write_all(&reply(header, &body)).await.unwrap();
        }
        serve(broker).await;
    });
    let (a, b, c) = tokio::join!(api_versions(&conn), api_versions(&conn), api_versions(&conn));
    assert_eq!([a.unwrap().throttle_time_ms, b.unwrap().throttle_time_ms, c.unwrap().throttle_time_ms], [0, 1, 2]);
    let s = stats.snapshot_for_test();
    assert_eq!((s.0, s.1), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn in_flight_cap_is_respected() {
    let (conn, mut broker, _) = connection(ConnectionConfig { max_in_flight: 2, ..config() });
    let max_seen = Arc::new(AtomicUsize::new(0));
    let seen = max_seen.clone();
    tokio::spawn(async move {
        let mut queue = VecDeque::new();
        let mut answered = 0;
        while answered < 5 {
            // Take everything the client managed to send, then answer the oldest.
            while let Ok(Some((h, _))) = tokio::time::timeout(Duration::from_millis(50), read_request(&mut broker)).await {
                queue.push_back(h);
            }
            seen.fetch_max(queue.len(), Ordering::SeqCst);
            if let Some(h) = queue.pop_front() {
                broker.write_all(&reply(&h, &all_versions())).await.unwrap();
                answered += 1;
            }
        }
    });
    let results = futures_join5(&conn).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(max_seen.load(Ordering::SeqCst), 2);
}

async fn futures_join5(conn: &Connection) -> Vec<Result<ApiVersionsResponse, Error>> {
    let (a, b, c, d, e) = tokio::join!(api_versions(conn), api_versions(conn), api_versions(conn), api_versions(conn), api_versions(conn));
    vec![a, b, c, d, e]
}

#[tokio::test(start_paused = true)]
async fn correlation_mismatch_closes_and_fails_everything() {
    let (conn, mut broker, _) = connection(config());
    tokio::spawn(async move {
        let (h1, _) = read_request(&mut broker).await.unwrap();
        let (_h2, _) = read_request(&mut broker).await.unwrap();
        let wrong = RequestHeader { correlation_id: h1.correlation_id + 100, ..h1 };
        broker.write_all(&reply(&wrong, &all_versions())).await.unwrap();
        let mut rest = Vec::new();
        let _ = broker.read_to_end(&mut rest).await;
    });
    let (a, b) = tokio::join!(api_versions(&conn), api_versions(&conn));
    match a.unwrap_err() {
        Error::CorrelationMismatch { broker, expected: 0, received: 100 } => assert_eq!(broker, BROKER),
        e => panic!("unexpected {e:?}"),
    }
    assert!(matches!(b.unwrap_err(), Error::ConnectionClosed { .. }));
    assert!(conn.is_closed());
    let err = api_versions(&conn).await.unwrap_err();
    assert!(matches!(err, Error::NotSent { .. }) && err.is_retriable(), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn request_timeout_closes_the_connection() {
    let (conn, mut broker, stats) = connection(ConnectionConfig { request_timeout: Duration::from_secs(2), ..config() });
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = broker.read_to_end(&mut sink).await; // never answers
    });
    let started = tokio::time::Instant::now();
    let (a, b) = tokio::join!(api_versions(&conn), api_versions(&conn));
    match a.unwrap_err() {
        Error::RequestTimeout { broker, api, timeout } => {
            assert_eq!((broker.as_str(), api, timeout), (BROKER, ApiKey::API_VERSIONS, Duration::from_secs(2)));
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(matches!(b.unwrap_err(), Error::ConnectionClosed { .. }));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    tokio::task::yield_now().await;
    assert!(conn.is_closed());
    assert_eq!(stats.snapshot_for_test().2, 1);
}

async fn peer_sends(bytes: &'static [u8], max: usize) -> Error {
    let (conn, mut broker, _) = connection(ConnectionConfig { max_response_bytes: max, ..config() });
    tokio::spawn(async move {
        let _ = read_request(&mut broker).await;
        broker.write_all(bytes).await.unwrap();
        // Hang up: the bytes are all the client will get.
    });
    api_versions(&conn).await.unwrap_err()
}

#[tokio::test(start_paused = true)]
async fn oversized_response_is_rejected_before_buffering() {
    // 2 GB claimed; only the 4 prefix bytes are ever sent.
    let err = peer_sends(&[0x77, 0x35, 0x94, 0x00], 1_000_000).await;
    assert!(matches!(err, Error::Frame { source: FrameError::TooLarge { max: 1_000_000, .. }, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("broker fake:9092: Kafka frame of 2000000000 bytes exceeds the limit"), "{text}");
    let err = peer_sends(&[0xFF, 0xFF, 0xFF, 0xF0], 1_000_000).await;
    assert!(matches!(err, Error::Frame { source: FrameError::NegativeSize { .. }, .. }));
}

#[tokio::test(start_paused = true)]
async fn tls_and_http_peers_are_recognised() {
    let err = peer_sends(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46], 1 << 20).await;
    assert!(matches!(err, Error::Frame { source: FrameError::TlsPeer { kind: TlsRecordKind::Alert }, .. }));
    let text = err.to_string();
    assert!(text.starts_with("broker fake:9092: peer answered with TLS"), "{text}");
    let err = peer_sends(b"HTTP/1.1 400 Bad Request\r\n\r\n", 1 << 20).await;
    assert!(matches!(err, Error::Frame { source: FrameError::HttpPeer, .. }));
    assert!(err.to_string().contains("fake:9092") && err.to_string().contains("HTTP server"));
    // A peer that hangs up mid-frame.
    let err = peer_sends(&[0, 0, 0, 10, 1, 2], 1 << 20).await;
    assert!(matches!(err, Error::Frame { source: FrameError::Truncated { have: 6, expected: 14 }, .. }), "{err:?}");
}

/// An ApiVersions answer of `entries` made-up API keys: over 1 MiB from
/// about 150 000 entries, a frame the driver reads into memory of its own.
fn big_api_versions(entries: usize, throttle_time_ms: i32) -> ApiVersionsResponse {
    let mut body = ApiVersionsResponse { throttle_time_ms, ..all_versions() };
    let template = body.api_keys.first().cloned().unwrap();
    let extra = (0..entries).map(|i| {
        let mut k = template.clone();
        k.api_key = (i % 30_000) as i16 + 1000;
        k.max_version = (i / 30_000) as i16;
        k
    });
    body.api_keys.extend(extra);
    body
}

#[tokio::test(start_paused = true)]
async fn large_frames_between_small_ones_arrive_whole_and_in_order() {
    let (conn, mut broker, _) = connection(config());
    let large = big_api_versions(300_000, 1);
    let expected_keys = large.api_keys.len();
    tokio::spawn(async move {
        let mut pending = Vec::new();
        for _ in 0..4 {
            pending.push(read_request(&mut broker).await.unwrap().0);
        }
        // Large, small, large, small, all in one stream cut at odd places.
        let mut wire = Vec::new();
        for (i, header) in pending.iter().enumerate() {
            let body = if i % 2 == 0 {
                big_api_versions(300_000, i as i32)
            } else {
                ApiVersionsResponse { throttle_time_ms: i as i32, ..all_versions() }
            };
            wire.extend_from_slice(&reply(header, &body));
        }
        assert!(wire.len() > 4 * 1024 * 1024, "the large answers are over the 1 MiB mark");
        for piece in wire.chunks(777_777) {
            broker.write_all(piece).await.unwrap();
        }
        serve(broker).await;
    });
    let (a, b, c, d) = tokio::join!(api_versions(&conn), api_versions(&conn), api_versions(&conn), api_versions(&conn));
    let (a, b, c, d) = (a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap());
    assert_eq!([a.throttle_time_ms, b.throttle_time_ms, c.throttle_time_ms, d.throttle_time_ms], [0, 1, 2, 3]);
    assert_eq!((a.api_keys.len(), c.api_keys.len()), (expected_keys, expected_keys));
    assert_eq!(a.api_keys.last(), large.api_keys.last());
    assert_eq!(b.api_keys.len(), all_versions().api_keys.len());
    // The connection goes on with small frames after them.
    assert_eq!(api_versions(&conn).await.unwrap().api_keys.len(), all_versions().api_keys.len());
}

#[tokio::test(start_paused = true)]
async fn a_peer_hanging_up_inside_a_large_frame_is_a_truncated_frame() {
    let (conn, mut broker, _) = connection(config());
    tokio::spawn(async move {
        let _ = read_request(&mut broker).await;
        let mut wire = (3 * 1024 * 1024i32).to_be_bytes().to_vec();
        wire.resize(4 + 2 * 1024 * 1024, 7);
        broker.write_all(&wire).await.unwrap();
    });
    let err = api_versions(&conn).await.unwrap_err();
    let expected = (4 + 2 * 1024 * 1024, 4 + 3 * 1024 * 1024);
    assert!(matches!(err, Error::Frame { source: FrameError::Truncated { have, expected: e }, .. } if (have, e) == expected), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn requests_without_response_then_normal_requests() {
    let (conn, mut broker, _) = connection(config());
    tokio::spawn(async move {
        // First request: not answered (like produce acks=0); second: answered.
        let _ = read_request(&mut broker).await.unwrap();
        serve(broker).await;
    });
    conn.send_no_response(&ApiVersionsRequest::default(), 3).await.unwrap();
    let response = api_versions(&conn).await.unwrap();
    assert!(!response.api_keys.is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_connection_closes() {
    let (conn, broker, stats) = connection(ConnectionConfig { idle_timeout: Duration::from_secs(60), ..config() });
    tokio::spawn(serve(broker));
    api_versions(&conn).await.unwrap();
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert!(!conn.is_closed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(conn.is_closed());
    assert_eq!(stats.snapshot_for_test().3, 1);
}

#[tokio::test(start_paused = true)]
async fn api_versions_falls_back_on_unsupported_version() {
    let (conn, mut broker, _) = connection(config());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Some((header, _)) = read_request(&mut broker).await {
            seen2.lock().unwrap().push(header.request_api_version);
            let frame = if header.request_api_version > 2 {
                // An older broker: UNSUPPORTED_VERSION with its own range, v0 body (KIP-511).
                let body = ApiVersionsResponse {
                    error_code: ErrorCode::UNSUPPORTED_VERSION.0,
                    api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 2, ..Default::default() }],
                    ..Default::default()
                };
                encode_response(header.correlation_id, &body, 0).unwrap()
            } else {
                let mut body = all_versions();
                for k in &mut body.api_keys {
                    if k.api_key == ApiKey::METADATA.0 {
                        k.max_version = 8;
                    }
                    if k.api_key == ApiKey::FETCH.0 {
                        (k.min_version, k.max_version) = (40, 41);
                    }
                }
                body.api_keys.retain(|k| k.api_key != ApiKey::DESCRIBE_CLUSTER.0);
                reply(&header, &body)
            };
            broker.write_all(&frame).await.unwrap();
        }
    });
    let versions = conn.negotiate().await.unwrap().clone();
    assert_eq!(*seen.lock().unwrap(), [3, 2]);
    assert_eq!(versions.negotiated_with, 2);
    assert_eq!(versions.version_for(ApiKey::METADATA).unwrap(), 8);
    assert_eq!(conn.version_for(ApiKey::METADATA).unwrap(), 8);
    let err = versions.version_for(ApiKey::FETCH).unwrap_err();
    let ours = ApiKey::FETCH.supported_versions().unwrap();
    assert_eq!(
        err.to_string(),
        format!("broker fake:9092: no common version of Fetch: rill supports v{}-v{}, the broker supports v40-v41", ours.min, ours.max)
    );
    let err = versions.version_for(ApiKey::DESCRIBE_CLUSTER).unwrap_err();
    assert!(err.to_string().ends_with("the broker supports none"), "{err}");
    // Metadata is then sent at the negotiated v8.
    assert!(versions.negotiated().iter().any(|(k, v)| *k == ApiKey::METADATA && *v == Some(8)));
}

/// Hands out duplex streams served by [`serve`]; fails the first `fail` connects.
struct FakeTransport {
    fail: AtomicUsize,
    state: Arc<FakeState>,
    attempts: Attempts,
}

impl Transport for FakeTransport {
    fn connect(&self, host: &str, port: u16) -> ConnectFuture {
        self.attempts.lock().unwrap().push((format!("{host}:{port}"), tokio::time::Instant::now()));
        let fail = self.fail.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        let state = self.state.clone();
        Box::pin(async move {
            if fail {
                return Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"));
            }
            let (client, broker) = tokio::io::duplex(1 << 20);
            tokio::spawn(serve_with(broker, state));
            Ok(Box::new(client) as BoxStream)
        })
    }
}

type Attempts = Arc<Mutex<Vec<(String, tokio::time::Instant)>>>;

fn fake(fail: usize) -> (Arc<FakeTransport>, Attempts) {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    (Arc::new(FakeTransport { fail: AtomicUsize::new(fail), state: Arc::default(), attempts: attempts.clone() }), attempts)
}

#[tokio::test(start_paused = true)]
async fn client_bootstraps_and_reads_metadata() {
    let (transport, _) = fake(0);
    let config = ClientConfig::builder().bootstrap_servers(["fake:9092"]).rng_seed(1).build().unwrap();
    let client = crate::Client::with_transport(config, transport).await.unwrap();
    let md = client.metadata(&["t"]).await.unwrap();
    assert_eq!(md.cluster_id.as_deref(), Some("fake-cluster"));
    assert_eq!(md.brokers[&1].address(), "fake:9092");
    let t = md.topic("t").unwrap();
    assert_eq!(t.id, Uuid::from_u64_pair(1, 2));
    assert_eq!(t.partitions[&0].leader_epoch, 3);
    assert_eq!(client.leader_for("t", 0).await.unwrap(), 1);
    let versions = client.api_versions(1).await.unwrap();
    assert_eq!(versions.version_for(ApiKey::METADATA).unwrap(), ApiKey::METADATA.supported_versions().unwrap().max);
    let raw: MetadataResponse = client.send(1, &MetadataRequest { topics: None, ..Default::default() }).await.unwrap();
    assert_eq!(raw.topics.len(), 1);
    let stats = client.stats();
    assert!(stats.brokers["fake:9092"].requests >= 4);
    assert_eq!(stats.brokers["fake:9092"].connects, 1);
}

async fn reconnect_gaps(seed: u64) -> Vec<Duration> {
    let (transport, attempts) = fake(0);
    let config = ClientConfig::builder()
        .bootstrap_servers(["fake:9092"])
        .reconnect_backoff(Duration::from_millis(100), Duration::from_secs(10))
        .connections_max_idle(Duration::from_secs(1))
        .rng_seed(seed)
        .build()
        .unwrap();
    let client = crate::Client::with_transport(config, transport.clone()).await.unwrap();
    // Let the connection close for idleness, then refuse the next three connects.
    tokio::time::sleep(Duration::from_secs(2)).await;
    transport.fail.store(3, Ordering::SeqCst);
    for _ in 0..3 {
        let err = client.connection_to("fake:9092").await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    }
    client.connection_to("fake:9092").await.unwrap();
    let stats = client.stats();
    assert_eq!(stats.brokers["fake:9092"].connect_failures, 3);
    let times: Vec<_> = attempts.lock().unwrap().iter().skip(1).map(|(_, t)| *t).collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn reconnect_backs_off_exponentially_with_seeded_jitter() {
    let gaps = reconnect_gaps(7).await;
    assert_eq!(gaps.len(), 3);
    for (gap, base) in gaps.iter().zip([100.0, 200.0, 400.0]) {
        let ms = gap.as_secs_f64() * 1000.0;
        assert!(ms >= base * 0.8 - 1.0 && ms <= base * 1.2 + 1.0, "{gaps:?}");
    }
    assert_eq!(gaps, reconnect_gaps(7).await, "same seed, same delays");
}

#[tokio::test(start_paused = true)]
async fn bootstrap_failure_names_the_servers() {
    let (transport, attempts) = fake(5);
    let config = ClientConfig::builder().bootstrap_servers(["a:1", "b:2"]).rng_seed(3).build().unwrap();
    let err = crate::Client::with_transport(config, transport).await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("no broker reachable (tried "), "{text}");
    assert!(text.contains("a:1") && text.contains("b:2") && text.contains("cannot connect: refused"), "{text}");
    assert_eq!(attempts.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn list_offsets_refreshes_metadata_on_not_leader_and_retries() {
    let (transport, _) = fake(0);
    transport.state.list_offsets_failures.store(1, Ordering::SeqCst);
    let config = ClientConfig::builder().bootstrap_servers(["fake:9092"]).rng_seed(5).build().unwrap();
    let client = crate::Client::with_transport(config, transport.clone()).await.unwrap();
    let before = transport.state.metadata_requests.load(Ordering::SeqCst);
    let results = client.list_offsets(&[("t", 0, crate::OffsetSpec::Latest), ("t", 7, crate::OffsetSpec::Earliest)]).await.unwrap();
    let listed = results[&("t".to_string(), 0)].as_ref().unwrap();
    assert_eq!((listed.offset, listed.leader_epoch), (42, 3));
    // Partition 7 does not exist: an error naming it, after the retries.
    let err = results[&("t".to_string(), 7)].as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    assert!(err.to_string().contains("t-7"), "{err}");
    // NOT_LEADER_OR_FOLLOWER marked the topic stale: metadata was fetched again.
    assert!(transport.state.metadata_requests.load(Ordering::SeqCst) > before);
    // The cached leader epoch goes with the request (KIP-320).
    assert!(transport.state.list_offsets_epochs.lock().unwrap().iter().all(|e| *e == 3));
    assert!(client.stats().total().retries >= 1);
}

#[tokio::test(start_paused = true)]
async fn metadata_is_refreshed_every_max_age() {
    let (transport, _) = fake(0);
    let config = ClientConfig::builder()
        .bootstrap_servers(["fake:9092"])
        .metadata_max_age(Duration::from_secs(10))
        .connections_max_idle(Duration::from_secs(3600))
        .rng_seed(2)
        .build()
        .unwrap();
    let client = crate::Client::with_transport(config, transport.clone()).await.unwrap();
    client.metadata(&["t"]).await.unwrap();
    let before = transport.state.metadata_requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(transport.state.metadata_requests.load(Ordering::SeqCst), before + 2);
    drop(client);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(transport.state.metadata_requests.load(Ordering::SeqCst), before + 2, "stops with the client");
}

/// Accepts the connect call but never completes it.
struct BlackHole;

impl Transport for BlackHole {
    fn connect(&self, _host: &str, _port: u16) -> ConnectFuture {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn connection_setup_timeout() {
    let config =
        ClientConfig::from_properties([("bootstrap.servers", "slow:9092"), ("socket.connection.setup.timeout.ms", "1500")]).unwrap();
    let started = tokio::time::Instant::now();
    let err = crate::Client::with_transport(config, Arc::new(BlackHole)).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
    let Error::NoBrokerReachable { last: Some(last), .. } = &err else { panic!("{err:?}") };
    assert!(matches!(last.as_ref(), Error::ConnectTimeout { broker, .. } if broker == "slow:9092"));
    assert!(err.to_string().contains("socket.connection.setup.timeout.ms"), "{err}");
}

/// `fake:9092` answers once (ApiVersions, then Metadata listing 50 brokers
/// `hole-N` that never accept) and hangs up; later connects to it are
/// refused, and connects to the holes never complete.
struct ListsUnreachableBrokers {
    answered: std::sync::atomic::AtomicBool,
}

impl Transport for ListsUnreachableBrokers {
    fn connect(&self, host: &str, _port: u16) -> ConnectFuture {
        if host.starts_with("hole-") {
            return Box::pin(std::future::pending());
        }
        if self.answered.swap(true, Ordering::SeqCst) {
            return Box::pin(async { Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused")) });
        }
        Box::pin(async move {
            let (client, mut broker) = tokio::io::duplex(1 << 20);
            tokio::spawn(async move {
                while let Some((header, body)) = read_request(&mut broker).await {
                    let frame = match body {
                        RequestBody::ApiVersions(_) => reply(&header, &all_versions()),
                        RequestBody::Metadata(_) => {
                            let brokers = (0..50)
                                .map(|n| MetadataResponseBroker { node_id: n, host: format!("hole-{n}"), port: 9092, ..Default::default() })
                                .collect();
                            let frame = reply(&header, &MetadataResponse { brokers, ..Default::default() });
                            let _ = broker.write_all(&frame).await;
                            return;
                        }
                        _ => return,
                    };
                    if broker.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
            Ok(Box::new(client) as BoxStream)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_metadata_refresh_gives_up_on_listed_brokers_after_the_request_timeout() {
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", "fake:9092"),
        ("socket.connection.setup.timeout.ms", "1000"),
        ("request.timeout.ms", "5000"),
    ])
    .unwrap();
    let client = crate::Client::with_transport(config, Arc::new(ListsUnreachableBrokers { answered: false.into() })).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = tokio::time::Instant::now();
    let err = client.metadata(&[]).await.unwrap_err();
    // Five holes of a second each, then only the bootstrap server (fifty
    // seconds before).
    assert!(started.elapsed() <= Duration::from_secs(6), "{:?}", started.elapsed());
    let Error::NoBrokerReachable { tried, .. } = &err else { panic!("{err:?}") };
    let (bootstrap, holes) = tried.split_last().unwrap();
    assert!(bootstrap == "fake:9092" && (4..=6).contains(&holes.len()) && holes.iter().all(|a| a.starts_with("hole-")), "{tried:?}");
}

#[tokio::test(start_paused = true)]
async fn unsolicited_response_closes_the_connection() {
    let (conn, mut broker, _) = connection(config());
    let header = RequestHeader { request_api_key: 18, request_api_version: 3, correlation_id: 77, ..Default::default() };
    broker.write_all(&reply(&header, &all_versions())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(conn.is_closed());
    let err = api_versions(&conn).await.unwrap_err();
    assert!(matches!(err, Error::NotSent { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn stats_count_bytes_and_round_trips() {
    let (conn, mut broker, stats) = connection(config());
    tokio::spawn(async move {
        let (h, _) = read_request(&mut broker).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        broker.write_all(&reply(&h, &all_versions())).await.unwrap();
        serve(broker).await;
    });
    api_versions(&conn).await.unwrap();
    let (requests, responses, _, _) = stats.snapshot_for_test();
    assert_eq!((requests, responses), (1, 1));
    let snapshot = stats.snapshot_public_for_test();
    assert!(snapshot.bytes_sent > 20 && snapshot.bytes_received > 100, "{snapshot:?}");
    assert_eq!(snapshot.rtt_max, Duration::from_millis(30));
    assert_eq!(snapshot.rtt_avg, Duration::from_millis(30));
}

#[test]
fn config_debug_is_readable_and_stable() {
    let c = ClientConfig::builder().bootstrap_servers(["k:9092"]).build().unwrap();
    let text = format!("{c:?}");
    assert!(text.contains("bootstrap_servers: [\"k:9092\"]") && text.contains("client_id: \"rill\""), "{text}");
}

#[tokio::test]
async fn tcp_transport_over_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                // Bridge the socket to the duplex-based fake broker.
                let (client, broker) = tokio::io::duplex(1 << 20);
                tokio::spawn(serve(broker));
                let mut client = client;
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut client).await;
            });
        }
    });
    let stream = crate::TcpTransport.connect("127.0.0.1", port).await.unwrap();
    let conn = Connection::from_stream(stream, "127.0.0.1", config(), Arc::default());
    let versions = conn.negotiate().await.unwrap();
    assert_eq!(versions.negotiated_with, 3);
    let md: MetadataResponse = conn.send(&MetadataRequest::default()).await.unwrap();
    assert_eq!(md.cluster_id.as_deref(), Some("fake-cluster"));
    // And through the client, with the default transport.
    let config = ClientConfig::builder().bootstrap_servers([format!("127.0.0.1:{port}")]).build().unwrap();
    let client = crate::Client::connect(config).await.unwrap();
    assert_eq!(client.cached_metadata().brokers.len(), 1);
}

/// turmoil's simulated TCP as a transport: the same client code, simulated network and time.
struct TurmoilTransport;

impl Transport for TurmoilTransport {
    fn connect(&self, host: &str, port: u16) -> ConnectFuture {
        let host = host.to_string();
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

#[test]
fn runs_over_turmoil_simulated_tcp_through_a_partition() {
    let mut sim = turmoil::Builder::new().simulation_duration(Duration::from_secs(120)).rng_seed(11).build();
    sim.host("broker", || async {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", 9092)).await?;
        loop {
            let (mut socket, _) = listener.accept().await?;
            tokio::spawn(async move {
                let (mut client, broker) = tokio::io::duplex(1 << 20);
                let state = Arc::new(FakeState { advertised_host: Some("broker".into()), ..Default::default() });
                tokio::spawn(serve_with(broker, state));
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut client).await;
            });
        }
    });
    sim.client("client", async {
        let config = ClientConfig::builder()
            .bootstrap_servers(["broker:9092"])
            .request_timeout(Duration::from_secs(2))
            .reconnect_backoff(Duration::from_millis(100), Duration::from_secs(1))
            .rng_seed(11)
            .build()?;
        let client = crate::Client::with_transport(config, Arc::new(TurmoilTransport)).await?;
        let md = client.metadata(&["t"]).await?;
        assert_eq!(md.brokers[&1].address(), "broker:9092");
        assert_eq!(md.topic("t").map(|t| t.partitions.len()), Some(1));

        // Cut the network: requests time out (simulated time), the connection is dropped.
        turmoil::partition("client", "broker");
        let started = tokio::time::Instant::now();
        let err = client.metadata(&["t"]).await.unwrap_err();
        assert!(err.is_retriable(), "{err:?}");
        assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
        turmoil::repair("client", "broker");

        // Back: a new connection after the backoff.
        let md = client.metadata(&["t"]).await?;
        assert_eq!(md.cluster_id.as_deref(), Some("fake-cluster"));
        let stats = client.stats();
        let broker = &stats.brokers["broker:9092"];
        assert!(broker.connects >= 2 && broker.timeouts >= 1, "{broker:?}");
        Ok(())
    });
    sim.run().unwrap();
}

#[tokio::test(start_paused = true)]
async fn client_resends_a_request_that_was_not_sent() {
    let (transport, attempts) = fake(0);
    let config =
        ClientConfig::builder().bootstrap_servers(["fake:9092"]).connections_max_idle(Duration::from_secs(5)).rng_seed(4).build().unwrap();
    let client = crate::Client::with_transport(config, transport).await.unwrap();
    let conn = client.connection(1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(conn.is_closed());
    // Straight on the closed connection: not sent, and said so.
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(err.to_string().starts_with("broker fake:9092: request not sent"), "{err}");
    // Through the client: a new connection.
    let md: MetadataResponse = client.send(1, &MetadataRequest::default()).await.unwrap();
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(attempts.lock().unwrap().len(), 2);
}

/// A leader that left the metadata (a dead broker is not listed) is a stale
/// view, not a failure: the request was never sent, so the producer and the
/// admin retries refresh metadata and go on (the simulator saw records fail
/// for good while their partition's new leader was one refresh away).
#[test]
fn a_broker_missing_from_the_metadata_is_retriable() {
    let err = Error::UnknownBroker { node_id: 2 };
    assert!(err.is_retriable(), "{err:?}");
    assert_eq!(err.to_string(), "broker 2 is not in the cluster metadata");
}

// rill-client's `zstd-c` feature reaches rill-protocol: a build with it
// compresses and decompresses zstd with the C library. (Without it the
// library depends on what else in the build asks rill-protocol for.)
#[test]
fn the_zstd_c_feature_selects_the_c_library() {
    let library = rill_protocol::compression::ZSTD_LIBRARY;
    assert!(!cfg!(feature = "zstd-c") || library.starts_with("libzstd"), "built with zstd-c, zstd through {library}");
}

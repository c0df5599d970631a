//! Consumer tests against an in-process fake broker that keeps a real log
//! of encoded record batches per partition and speaks the real protocol
//! (Metadata, ListOffsets, Fetch with KIP-227 sessions, OffsetForLeaderEpoch)
//! over `tokio::io::duplex`, in paused time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rill_protocol::compression::Compression;
use rill_protocol::messages::fetch_response::{AbortedTransaction as WireAborted, FetchableTopicResponse, PartitionData};
use rill_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use rill_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use rill_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use rill_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsResponse, MetadataResponse, OffsetForLeaderEpochResponse, RequestBody,
};
use rill_protocol::records::{control::end_txn_marker, Header, RecordBatchBuilder};
use rill_protocol::{ErrorCode, Uuid};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::*;
use crate::config::{AutoOffsetReset, ClientConfig};
use crate::tests::{all_versions, read_request, reply};
use crate::transport::{BoxStream, ConnectFuture, Transport};

mod group_epochs;

const TOPIC: &str = "t";
const TOPIC_ID: Uuid = Uuid([7; 16]);

/// One batch of a fake partition log.
#[derive(Debug, Clone)]
struct StoredBatch {
    next: i64,
    bytes: Bytes,
}

#[derive(Debug, Default)]
struct FakeLog {
    batches: Vec<StoredBatch>,
    log_start: i64,
    aborted: Vec<(i64, i64)>,
    /// The codec `append` writes batches with.
    codec: Compression,
}

impl FakeLog {
    fn end(&self) -> i64 {
        self.batches.last().map_or(self.log_start, |b| b.next)
    }

    /// Appends a batch of `values` written under `epoch`.
    fn append(&mut self, epoch: i32, values: &[&str]) {
        let base = self.end();
        let mut b = RecordBatchBuilder::new(base).partition_leader_epoch(epoch).compression(self.codec);
        for (i, v) in values.iter().enumerate() {
            let key = format!("k{}", base + i as i64);
            let headers = [Header::new(Bytes::from_static(b"h"), Some(Bytes::copy_from_slice(v.as_bytes())))];
            b.append(1_000 + base + i as i64, Some(key.as_bytes()), Some(v.as_bytes()), &headers).unwrap();
        }
        self.push(b.finish().unwrap().freeze(), base, base + values.len() as i64);
    }

    fn append_txn(&mut self, producer_id: i64, values: &[&str]) {
        let base = self.end();
        let mut b = RecordBatchBuilder::new(base).partition_leader_epoch(3).transactional(true).producer(producer_id, 0, 0);
        for v in values {
            b.append(1_000 + base, None, Some(v.as_bytes()), &[]).unwrap();
        }
        self.push(b.finish().unwrap().freeze(), base, base + values.len() as i64);
    }

    fn end_txn(&mut self, producer_id: i64, commit: bool) {
        let base = self.end();
        let bytes = end_txn_marker(BytesMut::new(), base, producer_id, 0, commit, 0, 2_000).unwrap().freeze();
        self.push(bytes, base, base + 1);
    }

    fn push(&mut self, bytes: Bytes, base: i64, next: i64) {
        let _ = base;
        self.batches.push(StoredBatch { next, bytes });
    }

    /// Drops everything at and after `offset` (an unclean leader's log).
    fn truncate(&mut self, offset: i64) {
        self.batches.retain(|b| b.next <= offset);
    }

    /// Batches from `offset`, at least one, then up to `max_bytes`.
    fn read(&self, offset: i64, max_bytes: usize) -> Bytes {
        let mut out = BytesMut::new();
        for b in self.batches.iter().filter(|b| b.next > offset) {
            if !out.is_empty() && out.len() + b.bytes.len() > max_bytes {
                break;
            }
            out.extend_from_slice(&b.bytes);
        }
        out.freeze()
    }

    fn offset_at_time(&self, ms: i64) -> i64 {
        // Record timestamps are 1000 + offset in these logs.
        (ms - 1_000).clamp(self.log_start, self.end())
    }
}

type SessionPartitions = BTreeMap<i32, (i64, i32)>;

/// What one fetch request looked like.
#[derive(Debug, Clone)]
struct SeenFetch {
    session_id: i32,
    epoch: i32,
    /// (partition, fetch offset, current leader epoch)
    partitions: Vec<(i32, i64, i32)>,
    forgotten: Vec<i32>,
}

#[derive(Debug, Default)]
struct Fake {
    logs: Mutex<BTreeMap<i32, FakeLog>>,
    leader_epoch: AtomicI32,
    fetches: Mutex<Vec<SeenFetch>>,
    /// Broker-side sessions: id -> (next epoch, partition -> (offset, current leader epoch)).
    sessions: Mutex<BTreeMap<i32, (i32, SessionPartitions)>>,
    next_session: AtomicI32,
    /// Answer the next incremental fetch with FETCH_SESSION_ID_NOT_FOUND.
    lose_session: AtomicBool,
    /// Cut the connection instead of answering the next fetch.
    cut_next_fetch: AtomicBool,
    /// Answer the next fetch's partitions with NOT_LEADER_OR_FOLLOWER.
    not_leader_once: AtomicBool,
    /// Answer with every batch from the fetch offset on, whatever the
    /// request's `max_bytes` (a broker that ignores them).
    ignore_max_bytes: AtomicBool,
    metadata_requests: std::sync::atomic::AtomicUsize,
    /// Partitions asked for, per ListOffsets request.
    list_offsets: Mutex<Vec<usize>>,
    /// Answer with `diverging_epoch` when the last fetched epoch ends before
    /// the fetch offset (Fetch v12+ broker-side truncation detection).
    check_last_fetched_epoch: AtomicBool,
    /// The last fetched epoch of each partition, as last sent.
    last_fetched: Mutex<BTreeMap<i32, i32>>,
    /// How many diverging epochs were answered.
    divergences: std::sync::atomic::AtomicUsize,
    /// OffsetForLeaderEpoch answers: epoch -> end offset.
    epoch_ends: Mutex<BTreeMap<i32, i64>>,
    epoch_requests: Mutex<Vec<(i32, i32, i32)>>,
    /// The group coordinator's side (group_epochs).
    group: group_epochs::FakeGroup,
}

impl Fake {
    fn new(partitions: i32) -> Arc<Fake> {
        let fake = Fake { next_session: AtomicI32::new(100), ..Fake::default() };
        fake.leader_epoch.store(3, Ordering::SeqCst);
        let mut logs = fake.logs.lock().unwrap();
        for p in 0..partitions {
            logs.insert(p, FakeLog::default());
        }
        drop(logs);
        Arc::new(fake)
    }

    fn log(&self, partition: i32) -> std::sync::MutexGuard<'_, BTreeMap<i32, FakeLog>> {
        let _ = partition;
        self.logs.lock().unwrap()
    }

    fn metadata(&self) -> MetadataResponse {
        let epoch = self.leader_epoch.load(Ordering::SeqCst);
        let partitions = self
            .logs
            .lock()
            .unwrap()
            .keys()
            .map(|p| MetadataResponsePartition {
                partition_index: *p,
                leader_id: 1,
                leader_epoch: epoch,
                replica_nodes: vec![1],
                isr_nodes: vec![1],
                ..Default::default()
            })
            .collect();
        MetadataResponse {
            brokers: vec![MetadataResponseBroker { node_id: 1, host: "fake".into(), port: 9092, ..Default::default() }],
            cluster_id: Some("fake".into()),
            controller_id: 1,
            topics: vec![MetadataResponseTopic { name: Some(TOPIC.into()), topic_id: TOPIC_ID, partitions, ..Default::default() }],
            ..Default::default()
        }
    }

    async fn fetch(&self, req: FetchRequest) -> FetchResponse {
        let epoch = self.leader_epoch.load(Ordering::SeqCst);
        let mut requested = Vec::new();
        for t in &req.topics {
            assert!(t.topic_id == TOPIC_ID || t.topic == TOPIC, "{t:?}");
            for p in &t.partitions {
                requested.push((p.partition, p.fetch_offset, p.current_leader_epoch, p.partition_max_bytes));
                self.last_fetched.lock().unwrap().insert(p.partition, p.last_fetched_epoch);
            }
        }
        let forgotten: Vec<i32> = req.forgotten_topics_data.iter().flat_map(|t| t.partitions.iter().copied()).collect();
        self.fetches.lock().unwrap().push(SeenFetch {
            session_id: req.session_id,
            epoch: req.session_epoch,
            partitions: requested.iter().map(|(p, o, e, _)| (*p, *o, *e)).collect(),
            forgotten: forgotten.clone(),
        });
        // KIP-227 on the broker side.
        let (session_id, in_effect, full) = {
            let mut sessions = self.sessions.lock().unwrap();
            if req.session_epoch == 0 {
                sessions.remove(&req.session_id);
                let id = self.next_session.fetch_add(1, Ordering::SeqCst);
                let parts: BTreeMap<i32, (i64, i32)> = requested.iter().map(|(p, o, e, _)| (*p, (*o, *e))).collect();
                sessions.insert(id, (1, parts.clone()));
                (id, parts, true)
            } else {
                let lost = self.lose_session.swap(false, Ordering::SeqCst);
                let Some((next, parts)) = sessions.get_mut(&req.session_id).filter(|_| !lost) else {
                    return FetchResponse { error_code: ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0, ..Default::default() };
                };
                assert_eq!(*next, req.session_epoch, "session epoch");
                *next += 1;
                for (p, o, e, _) in &requested {
                    parts.insert(*p, (*o, *e));
                }
                for p in &forgotten {
                    parts.remove(p);
                }
                (req.session_id, parts.clone(), false)
            }
        };
        let max_bytes: BTreeMap<i32, i32> = requested.iter().map(|(p, _, _, m)| (*p, *m)).collect();
        let mut partitions = Vec::new();
        let mut any_records = false;
        {
            let logs = self.logs.lock().unwrap();
            let mut room = req.max_bytes.max(0) as usize;
            for (p, (offset, current)) in &in_effect {
                let Some(log) = logs.get(p) else { continue };
                let mut data = PartitionData {
                    partition_index: *p,
                    high_watermark: log.end(),
                    last_stable_offset: log.end(),
                    log_start_offset: log.log_start,
                    ..Default::default()
                };
                let current = *current;
                if self.not_leader_once.load(Ordering::SeqCst) {
                    data.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.0;
                } else if current >= 0 && current < epoch {
                    data.error_code = ErrorCode::FENCED_LEADER_EPOCH.0;
                } else if current > epoch {
                    data.error_code = ErrorCode::UNKNOWN_LEADER_EPOCH.0;
                } else if let Some((diverged_epoch, end)) = self.divergence(*p, *offset) {
                    data.diverging_epoch.epoch = diverged_epoch;
                    data.diverging_epoch.end_offset = end;
                } else if *offset < log.log_start || *offset > log.end() {
                    data.error_code = ErrorCode::OFFSET_OUT_OF_RANGE.0;
                } else {
                    // The first batch always comes (KIP-74), then up to both limits.
                    let max = (max_bytes.get(p).copied().unwrap_or(1 << 20).max(1) as usize).min(room);
                    let (max, room_left) =
                        if self.ignore_max_bytes.load(Ordering::SeqCst) { (usize::MAX, usize::MAX) } else { (max, room) };
                    room = room_left;
                    let records = if room == 0 && any_records { Bytes::new() } else { log.read(*offset, max) };
                    room = room.saturating_sub(records.len());
                    any_records |= !records.is_empty();
                    data.aborted_transactions = Some(
                        log.aborted
                            .iter()
                            .map(|(pid, first)| WireAborted { producer_id: *pid, first_offset: *first, ..Default::default() })
                            .collect(),
                    );
                    if records.is_empty() && !full {
                        continue;
                    }
                    data.records = Some(records);
                }
                partitions.push(data);
            }
        }
        self.not_leader_once.store(false, Ordering::SeqCst);
        if !any_records {
            // Long poll: nothing to return before max_wait_ms.
            tokio::time::sleep(Duration::from_millis(req.max_wait_ms.max(0) as u64)).await;
        }
        FetchResponse {
            session_id,
            responses: vec![FetchableTopicResponse { topic: TOPIC.into(), topic_id: TOPIC_ID, partitions, ..Default::default() }],
            ..Default::default()
        }
    }

    /// Kafka's check of a fetch's last fetched epoch (`Partition.readRecords`):
    /// the newest epoch of this (fake) leader's log up to it, and that epoch's
    /// end offset, are a divergence when the epoch is older than the last
    /// fetched one or ends before `offset`. No last fetched epoch, no check.
    fn divergence(&self, partition: i32, offset: i64) -> Option<(i32, i64)> {
        if !self.check_last_fetched_epoch.load(Ordering::SeqCst) {
            return None;
        }
        let last = *self.last_fetched.lock().unwrap().get(&partition)?;
        if last < 0 {
            return None;
        }
        let (epoch, end) = self.epoch_ends.lock().unwrap().range(..=last).next_back().map(|(e, o)| (*e, *o))?;
        let diverges = epoch < last || end < offset;
        if diverges {
            self.divergences.fetch_add(1, Ordering::SeqCst);
        }
        diverges.then_some((epoch, end))
    }

    async fn serve(self: Arc<Self>, mut s: DuplexStream) {
        while let Some((header, body)) = read_request(&mut s).await {
            let frame = match body {
                RequestBody::ApiVersions(_) => reply(&header, &all_versions()),
                RequestBody::Metadata(_) => {
                    self.metadata_requests.fetch_add(1, Ordering::SeqCst);
                    reply(&header, &self.metadata())
                }
                RequestBody::ListOffsets(req) => {
                    self.list_offsets.lock().unwrap().push(req.topics.iter().map(|t| t.partitions.len()).sum());
                    let logs = self.logs.lock().unwrap();
                    let topics = req
                        .topics
                        .iter()
                        .map(|t| ListOffsetsTopicResponse {
                            name: t.name.clone(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| {
                                    let log = logs.get(&p.partition_index).unwrap();
                                    let offset = match p.timestamp {
                                        -2 => log.log_start,
                                        -1 => log.end(),
                                        ms => log.offset_at_time(ms),
                                    };
                                    ListOffsetsPartitionResponse {
                                        partition_index: p.partition_index,
                                        offset,
                                        leader_epoch: self.leader_epoch.load(Ordering::SeqCst),
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    reply(&header, &ListOffsetsResponse { topics, ..Default::default() })
                }
                RequestBody::Fetch(_) if self.cut_next_fetch.swap(false, Ordering::SeqCst) => return,
                RequestBody::Fetch(req) => {
                    let response = self.fetch(req).await;
                    reply(&header, &response)
                }
                RequestBody::OffsetForLeaderEpoch(req) => {
                    let ends = self.epoch_ends.lock().unwrap().clone();
                    let topics = req
                        .topics
                        .iter()
                        .map(|t| OffsetForLeaderTopicResult {
                            topic: t.topic.clone(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| {
                                    self.epoch_requests.lock().unwrap().push((p.partition, p.current_leader_epoch, p.leader_epoch));
                                    let end = ends.get(&p.leader_epoch).copied();
                                    EpochEndOffset {
                                        partition: p.partition,
                                        leader_epoch: if end.is_some() { p.leader_epoch } else { -1 },
                                        end_offset: end.unwrap_or(-1),
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    reply(&header, &OffsetForLeaderEpochResponse { topics, ..Default::default() })
                }
                RequestBody::OffsetCommit(_) if self.group.stall_next_commit.swap(false, Ordering::SeqCst) => {
                    // Taken and never answered: the connection stalls (answers go in order) until the client drops it.
                    while read_request(&mut s).await.is_some() {}
                    return;
                }
                other => match self.group.answer(&header, other) {
                    Ok(frame) => frame,
                    Err(other) => panic!("fake broker: unexpected request {other:?}"),
                },
            };
            if s.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}

struct FakeTransport(Arc<Fake>);

impl Transport for FakeTransport {
    fn connect(&self, _host: &str, _port: u16) -> ConnectFuture {
        let fake = self.0.clone();
        Box::pin(async move {
            let (client, broker) = tokio::io::duplex(1 << 22);
            tokio::spawn(fake.serve(broker));
            Ok(Box::new(client) as BoxStream)
        })
    }
}

async fn consumer(fake: &Arc<Fake>, props: &[(&str, &str)]) -> Consumer {
    let mut all = vec![("bootstrap.servers", "fake:9092"), ("fetch.max.wait.ms", "100")];
    all.extend_from_slice(props);
    let mut config = ClientConfig::from_properties(all).unwrap();
    config.rng_seed = Some(7);
    let client = Client::with_transport(config, Arc::new(FakeTransport(fake.clone()))).await.unwrap();
    Consumer::from_client(client).unwrap()
}

/// Polls until `n` records came or `limit` passed (virtual time).
async fn poll_n(consumer: &Consumer, n: usize, limit: Duration) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, p)
}

fn values(records: &[ConsumerRecord]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect()
}

fn fill(fake: &Fake, partition: i32, batches: usize, per_batch: usize) {
    let mut logs = fake.log(partition);
    let log = logs.get_mut(&partition).unwrap();
    for _ in 0..batches {
        let base = log.end();
        let vals: Vec<String> = (0..per_batch).map(|i| format!("p{partition}-{}", base + i as i64)).collect();
        let refs: Vec<&str> = vals.iter().map(String::as_str).collect();
        log.append(3, &refs);
    }
}

#[tokio::test(start_paused = true)]
async fn consumes_every_record_once_over_an_incremental_session() {
    let fake = Fake::new(2);
    fill(&fake, 0, 3, 10);
    fill(&fake, 1, 3, 10);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest"), ("max.partition.fetch.bytes", "600")]).await;
    c.assign(&[tp(0), tp(1)]).unwrap();
    let records = poll_n(&c, 60, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 60);
    for p in 0..2 {
        let offsets: Vec<i64> = records.iter().filter(|r| r.partition == p).map(|r| r.offset).collect();
        assert_eq!(offsets, (0..30).collect::<Vec<_>>(), "partition {p}");
    }
    let r = &records[0];
    assert_eq!(r.key.as_deref(), Some(&b"k0"[..]));
    assert_eq!(r.timestamp, 1_000);
    assert_eq!(r.leader_epoch, Some(3));
    assert_eq!(r.headers[0].key_str(), Some("h"));
    assert_eq!(r.headers[0].value.as_deref(), r.value.as_deref());
    assert_eq!((c.position(&tp(0)), c.position(&tp(1))), (Some(30), Some(30)));
    // Nothing more: positions stay, the lag is zero.
    assert!(c.poll(Duration::from_millis(500)).await.unwrap().is_empty());
    assert_eq!(c.lag(&tp(0)), Some(0));

    let fetches = fake.fetches.lock().unwrap().clone();
    let first = &fetches[0];
    assert_eq!((first.session_id, first.epoch, first.partitions.len()), (0, 0, 2), "a full fetch opens the session");
    assert!(first.partitions.iter().all(|(_, _, epoch)| *epoch == 3), "current leader epoch sent (KIP-320)");
    let session = 100;
    for (i, f) in fetches.iter().enumerate().skip(1) {
        assert_eq!((f.session_id, f.epoch), (session, i as i32), "incremental fetch {i}: {f:?}");
    }
    // Once caught up, incremental fetches carry no partitions at all.
    let last = fetches.last().unwrap();
    assert!(last.partitions.is_empty() && last.forgotten.is_empty(), "{last:?}");
    let stats = c.stats();
    assert_eq!(stats.counters.full_fetches, 1, "{stats:?}");
    assert_eq!(stats.counters.session_errors, 0);
    c.close(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_lost_session_falls_back_to_a_full_fetch() {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest")]).await;
    c.assign(&[tp(0)]).unwrap();
    assert_eq!(poll_n(&c, 10, Duration::from_secs(10)).await.len(), 10);
    fake.lose_session.store(true, Ordering::SeqCst);
    fill(&fake, 0, 1, 5);
    let more = poll_n(&c, 5, Duration::from_secs(10)).await;
    assert_eq!(more.iter().map(|r| r.offset).collect::<Vec<_>>(), (10..15).collect::<Vec<_>>());
    let stats = c.stats();
    assert_eq!(stats.counters.session_errors, 1, "{stats:?}");
    assert_eq!(stats.counters.full_fetches, 2, "{stats:?}");
    let fetches = fake.fetches.lock().unwrap().clone();
    let lost = fetches.iter().position(|f| f.epoch > 0 && f.session_id == 100 && f.epoch >= 1).unwrap();
    let reopened = fetches.iter().skip(lost).find(|f| f.epoch == 0).expect("a full fetch after the session error");
    assert_eq!(reopened.session_id, 100, "the full fetch closes the old session");
    assert_eq!(reopened.partitions, vec![(0, 10, 3)]);
}

/// 800 records in each of partitions 0 and 1 (40 batches of 20), and a
/// consumer of both with a 16 KiB `fetch.buffer.max.bytes`; returns it and
/// the budget.
async fn two_partitions_on_a_16_kib_budget(fake: &Arc<Fake>) -> (Consumer, usize) {
    fill(fake, 0, 40, 20);
    fill(fake, 1, 40, 20);
    let budget = 16 * 1024;
    let c = consumer(fake, &[("auto.offset.reset", "earliest"), ("fetch.buffer.max.bytes", &budget.to_string())]).await;
    c.assign(&[tp(0), tp(1)]).unwrap();
    (c, budget)
}

#[tokio::test(start_paused = true)]
async fn a_broker_ignoring_max_bytes_cannot_push_the_buffer_past_the_budget() {
    let fake = Fake::new(2);
    fake.ignore_max_bytes.store(true, Ordering::SeqCst);
    let (c, budget) = two_partitions_on_a_16_kib_budget(&fake).await;
    // Every answer holds both partitions' whole logs (1600 records, over
    // 200 KiB buffered): only what the budget held for it is taken.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stats = c.stats();
    let record = stats.buffered_bytes / stats.partitions.values().map(|p| p.buffered_records).sum::<usize>().max(1);
    // The allowance is twice what a fetch holds, and a fetch holds at most the budget.
    assert!(stats.buffered_bytes > 0 && stats.buffered_bytes <= 2 * budget + record, "{stats:?}");
    assert!(stats.counters.cut_responses > 0, "{stats:?}");
    // Everything still arrives, in order, once, fetched again where an answer was cut.
    let mut got = Vec::new();
    while got.len() < 1600 {
        let records = c.poll(Duration::from_secs(1)).await.unwrap();
        assert!(!records.is_empty(), "stalled at {}", got.len());
        assert!(c.stats().buffered_bytes <= 2 * budget + record, "{:?}", c.stats());
        got.extend(records);
    }
    for p in 0..2 {
        let offsets: Vec<i64> = got.iter().filter(|r| r.partition == p).map(|r| r.offset).collect();
        assert_eq!(offsets, (0..800).collect::<Vec<_>>(), "partition {p}");
    }
    c.close(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_byte_budget_bounds_what_is_buffered() {
    let fake = Fake::new(2);
    let (c, budget) = two_partitions_on_a_16_kib_budget(&fake).await;
    // The application does not poll for a while: fetching must stop at the budget.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stats = c.stats();
    let batch = {
        let logs = fake.logs.lock().unwrap();
        logs[&0].batches[0].bytes.len() * 4 // a batch's records as retained (record structs included)
    };
    assert!(stats.buffered_bytes > 0 && stats.buffered_bytes <= budget + batch, "{stats:?}");
    let buffered: usize = stats.partitions.values().map(|p| p.buffered_records).sum();
    assert!(buffered < 1600, "fetching went on past the budget: {buffered} records buffered");
    assert_eq!(stats.counters.cut_responses, 0, "a broker keeping to max_bytes had an answer cut");
    // A slow application still gets everything, in order, with the buffer bounded throughout.
    let mut got = Vec::new();
    while got.len() < 1600 {
        let records = c.poll(Duration::from_secs(1)).await.unwrap();
        assert!(!records.is_empty(), "stalled at {}", got.len());
        got.extend(records);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(c.stats().buffered_bytes <= budget + batch, "{:?}", c.stats());
    }
    assert_eq!(got.len(), 1600);
    for p in 0..2 {
        let offsets: Vec<i64> = got.iter().filter(|r| r.partition == p).map(|r| r.offset).collect();
        assert_eq!(offsets, (0..800).collect::<Vec<_>>());
    }
    let stats = c.stats();
    eprintln!("budget {budget}, peak {}, one batch {batch}", stats.peak_buffered_bytes);
    assert!(stats.peak_buffered_bytes <= budget + batch, "{stats:?}");
    assert_eq!(stats.buffered_bytes, 0);
}

#[tokio::test(start_paused = true)]
async fn a_polls_responses_stay_charged_until_the_next_poll() {
    let fake = Fake::new(1);
    fill(&fake, 0, 40, 20);
    let budget = 16 * 1024;
    let c = consumer(
        &fake,
        &[("auto.offset.reset", "earliest"), ("fetch.buffer.max.bytes", &budget.to_string()), ("max.poll.records", "100000")],
    )
    .await;
    c.assign(&[tp(0)]).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Everything buffered, handed out in one poll; the application holds it.
    let held = c.poll(Duration::from_secs(1)).await.unwrap();
    assert!(!held.is_empty());
    let live = |c: &Consumer| c.shared.lock().responses_live.load(Ordering::Acquire);
    let charged = live(&c);
    assert!(charged > 0, "the responses of the records just handed out are charged while the application has them");
    // The application works through them; fetching goes on within what is left.
    tokio::time::sleep(Duration::from_secs(5)).await;
    {
        let state = c.shared.lock();
        let in_memory = state.budget.used.max(state.responses_live.load(Ordering::Acquire));
        let batch = fake.logs.lock().unwrap()[&0].batches[0].bytes.len() * 4;
        assert!(in_memory <= budget + batch, "{in_memory} bytes of records and responses, budget {budget}");
        assert!(state.responses_live.load(Ordering::Acquire) >= charged, "the held responses are still charged");
    }
    // The next poll lets them go, and the rest comes.
    let mut got = held.len();
    drop(held);
    while got < 800 {
        let records = c.poll(Duration::from_secs(1)).await.unwrap();
        assert!(!records.is_empty(), "stalled at {got}");
        got += records.len();
    }
    assert_eq!(got, 800);
}

#[tokio::test(start_paused = true)]
async fn read_committed_hides_aborted_and_control_records() {
    let fake = Fake::new(1);
    {
        let mut logs = fake.logs.lock().unwrap();
        let log = logs.get_mut(&0).unwrap();
        log.append(3, &["plain-0"]);
        let aborted_first = log.end();
        log.append_txn(7, &["aborted-1", "aborted-2"]);
        log.append_txn(8, &["committed-3"]);
        log.end_txn(7, false);
        log.end_txn(8, true);
        log.append(3, &["plain-6"]);
        log.aborted.push((7, aborted_first));
    }
    let committed = consumer(&fake, &[("auto.offset.reset", "earliest"), ("isolation.level", "read_committed")]).await;
    committed.assign(&[tp(0)]).unwrap();
    let records = poll_n(&committed, 3, Duration::from_secs(10)).await;
    assert_eq!(values(&records), ["plain-0", "committed-3", "plain-6"]);
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 3, 6]);
    assert!(committed.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    assert_eq!(committed.position(&tp(0)), Some(7));

    let uncommitted = consumer(&fake, &[("auto.offset.reset", "earliest")]).await;
    uncommitted.assign(&[tp(0)]).unwrap();
    let records = poll_n(&uncommitted, 5, Duration::from_secs(10)).await;
    assert_eq!(values(&records), ["plain-0", "aborted-1", "aborted-2", "committed-3", "plain-6"], "control records hidden");
}

#[tokio::test(start_paused = true)]
async fn offset_out_of_range_follows_the_reset_policy() {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    fake.logs.lock().unwrap().get_mut(&0).unwrap().log_start = 3;

    let c = consumer(&fake, &[("auto.offset.reset", "earliest")]).await;
    c.assign(&[tp(0)]).unwrap();
    c.seek(&tp(0), Offset::At(1_000)).await.unwrap();
    let records = poll_n(&c, 7, Duration::from_secs(10)).await;
    assert_eq!(records.first().map(|r| r.offset), Some(3), "reset to the log start");
    assert_eq!(c.stats().counters.offset_resets, 1);

    let c = consumer(&fake, &[("auto.offset.reset", "latest")]).await;
    c.assign(&[tp(0)]).unwrap();
    c.seek(&tp(0), Offset::At(1)).await.unwrap();
    assert!(poll_n(&c, 1, Duration::from_secs(2)).await.is_empty());
    assert_eq!(c.position(&tp(0)), Some(10), "reset to the end");

    let c = consumer(&fake, &[("auto.offset.reset", "none")]).await;
    c.assign(&[tp(0)]).unwrap();
    let err = c.poll(Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(&err, Error::NoOffset { topic, partition: 0 } if topic == TOPIC), "{err:?}");
    assert!(err.to_string().contains("auto.offset.reset"), "{err}");
    c.seek(&tp(0), Offset::At(1)).await.unwrap();
    let err = loop {
        match c.poll(Duration::from_secs(1)).await {
            Err(e) => break e,
            Ok(r) => assert!(r.is_empty()),
        }
    };
    assert!(matches!(err, Error::OffsetOutOfRange { offset: 1, .. }), "{err:?}");
    // A seek to a valid offset recovers.
    c.seek(&tp(0), Offset::Beginning).await.unwrap();
    assert_eq!(poll_n(&c, 7, Duration::from_secs(10)).await.len(), 7);
}

#[tokio::test(start_paused = true)]
async fn seeks_by_time_beginning_and_end() {
    let fake = Fake::new(1);
    fill(&fake, 0, 4, 5);
    let c = consumer(&fake, &[]).await;
    c.assign(&[tp(0)]).unwrap();
    c.seek(&tp(0), Offset::Timestamp(1_012)).await.unwrap();
    let records = poll_n(&c, 8, Duration::from_secs(10)).await;
    assert_eq!(records.first().map(|r| r.offset), Some(12));
    c.seek(&tp(0), Offset::End).await.unwrap();
    assert_eq!(c.position(&tp(0)), Some(20));
    c.seek(&tp(0), Offset::Beginning).await.unwrap();
    assert_eq!(poll_n(&c, 20, Duration::from_secs(10)).await.first().map(|r| r.offset), Some(0));
    let err = c.seek(&tp(5), Offset::Beginning).await.unwrap_err();
    assert!(matches!(err, Error::NotAssigned { partition: 5, .. }));
}

/// `seek_all` looks every partition up in one ListOffsets, and moves none
/// when one of them is not assigned.
#[tokio::test(start_paused = true)]
async fn seek_all_looks_partitions_up_together() {
    let fake = Fake::new(3);
    for p in 0..3 {
        fill(&fake, p, 2, 5);
    }
    let c = consumer(&fake, &[]).await;
    c.assign(&[tp(0), tp(1), tp(2)]).unwrap();
    // The assignment's own reset (auto.offset.reset) is looked up first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = fake.list_offsets.lock().unwrap().len();
    c.seek_all(&[(tp(0), Offset::End), (tp(1), Offset::Beginning), (tp(2), Offset::At(7))]).await.unwrap();
    assert_eq!(fake.list_offsets.lock().unwrap()[before..], [2], "one request for both lookups");
    assert_eq!((c.position(&tp(0)), c.position(&tp(1)), c.position(&tp(2))), (Some(10), Some(0), Some(7)));
    let err = c.seek_all(&[(tp(0), Offset::Beginning), (tp(5), Offset::Beginning)]).await.unwrap_err();
    assert!(matches!(err, Error::NotAssigned { partition: 5, .. }), "{err}");
    assert_eq!(c.position(&tp(0)), Some(10), "nothing moved");
}

#[tokio::test(start_paused = true)]
async fn pause_stops_delivery_and_resume_continues() {
    let fake = Fake::new(2);
    fill(&fake, 0, 1, 5);
    fill(&fake, 1, 1, 5);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest")]).await;
    c.assign(&[tp(0), tp(1)]).unwrap();
    c.pause(&[tp(1)]);
    let records = poll_n(&c, 5, Duration::from_secs(5)).await;
    assert!(records.iter().all(|r| r.partition == 0) && records.len() == 5);
    assert!(c.poll(Duration::from_millis(500)).await.unwrap().is_empty(), "partition 1 is paused");
    assert_eq!(c.paused(), [tp(1)]);
    fill(&fake, 1, 1, 5);
    c.resume(&[tp(1)]);
    let records = poll_n(&c, 10, Duration::from_secs(5)).await;
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    assert_eq!(c.lag(&tp(1)), Some(0));
    // Positions for commits, and removing a partition.
    let positions = c.consumed_positions();
    assert_eq!(positions[&tp(1)], Position::new(10, Some(3)));
    let removed = c.remove_partitions(&[tp(0)]);
    assert_eq!(removed[&tp(0)].offset, 5);
    assert_eq!(c.assignment(), [tp(1)]);
}

/// Sets up a consumer that has read offsets 0..20 under leader epoch 3,
/// then truncates the leader's log at 15 under epoch 4.
async fn truncated_under_consumer(policy: &str) -> (Arc<Fake>, Consumer) {
    let fake = Fake::new(1);
    fill(&fake, 0, 4, 5);
    let c = consumer(&fake, &[("auto.offset.reset", policy)]).await;
    c.assign(&[tp(0)]).unwrap();
    c.seek(&tp(0), Offset::Beginning).await.unwrap();
    assert_eq!(poll_n(&c, 20, Duration::from_secs(10)).await.len(), 20);
    truncate_at_15_under_epoch_4(&fake);
    (fake, c)
}

/// An unclean leader change: partition 0's log (0..20 under epoch 3) is
/// truncated at 15 and the epoch-4 leader writes `new-15`, `new-16`.
fn truncate_at_15_under_epoch_4(fake: &Fake) {
    {
        let mut logs = fake.logs.lock().unwrap();
        let log = logs.get_mut(&0).unwrap();
        log.truncate(15);
        log.append(4, &["new-15", "new-16"]);
    }
    fake.epoch_ends.lock().unwrap().insert(3, 15);
    fake.leader_epoch.store(4, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn a_diverging_log_is_detected_and_fetching_resumes_at_the_divergence() {
    let (fake, c) = truncated_under_consumer("earliest").await;
    let records = poll_n(&c, 2, Duration::from_secs(10)).await;
    assert_eq!(values(&records), ["new-15", "new-16"], "resumed at the first divergent offset");
    assert_eq!(c.stats().counters.truncations, 1);
    // Asked: the end offset of epoch 3 (our last fetched) on the epoch-4 leader.
    assert_eq!(fake.epoch_requests.lock().unwrap().first(), Some(&(0, 4, 3)));
}

/// The simulator's `skip-truncation-detection` switch: the consumer fetches
/// on at 20 past the truncation at 15 and skips what epoch 4 wrote at 15-19.
#[cfg(feature = "fault-injection")]
#[tokio::test(start_paused = true)]
async fn the_skip_truncation_bug_switch_fetches_on_past_a_truncation() {
    let fake = Fake::new(1);
    fill(&fake, 0, 4, 5);
    let mut config = ClientConfig::from_properties([("bootstrap.servers", "fake:9092"), ("fetch.max.wait.ms", "100")]).unwrap();
    config.rng_seed = Some(7);
    config.bugs.skip_truncation_detection = true;
    let client = Client::with_transport(config, Arc::new(FakeTransport(fake.clone()))).await.unwrap();
    let c = Consumer::from_client(client).unwrap();
    c.assign(&[tp(0)]).unwrap();
    c.seek(&tp(0), Offset::Beginning).await.unwrap();
    assert_eq!(poll_n(&c, 20, Duration::from_secs(10)).await.len(), 20);
    truncate_at_15_under_epoch_4(&fake);
    fake.logs.lock().unwrap().get_mut(&0).unwrap().append(4, &["new-17", "new-18", "new-19", "new-20", "new-21"]);
    let records = poll_n(&c, 2, Duration::from_secs(10)).await;
    assert_eq!(values(&records), ["new-20", "new-21"], "fetched on at 20");
    assert_eq!(c.stats().counters.truncations, 0);
    assert!(fake.epoch_requests.lock().unwrap().is_empty(), "no OffsetForLeaderEpoch check");
}

#[tokio::test(start_paused = true)]
async fn a_diverging_log_with_policy_none_is_a_typed_error() {
    let (_fake, c) = truncated_under_consumer("none").await;
    let err = loop {
        match c.poll(Duration::from_secs(1)).await {
            Err(e) => break e,
            Ok(r) => assert!(r.is_empty(), "no record may be delivered across a truncation: {r:?}"),
        }
    };
    assert!(matches!(err, Error::LogTruncation { offset: 20, divergent_offset: Some(15), .. }), "{err:?}");
    assert!(err.to_string().contains("diverges from offset 15"), "{err}");
}

/// A consumer (auto.offset.reset none) that read offsets 0-9, written in epoch 3.
async fn read_ten_records_of_epoch_3() -> (Arc<Fake>, Consumer) {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    let c = consumer(&fake, &[("auto.offset.reset", "none")]).await;
    c.assign(&[tp(0)]).unwrap();
    c.seek(&tp(0), Offset::Beginning).await.unwrap();
    assert_eq!(poll_n(&c, 10, Duration::from_secs(10)).await.len(), 10);
    (fake, c)
}

#[tokio::test(start_paused = true)]
async fn a_leader_epoch_without_divergence_keeps_the_position() {
    let (fake, c) = read_ten_records_of_epoch_3().await;
    fake.epoch_ends.lock().unwrap().insert(3, 10);
    fake.leader_epoch.store(4, Ordering::SeqCst);
    fake.logs.lock().unwrap().get_mut(&0).unwrap().append(4, &["after"]);
    let records = poll_n(&c, 1, Duration::from_secs(10)).await;
    assert_eq!(values(&records), ["after"]);
    assert_eq!(records[0].offset, 10);
    assert_eq!(c.stats().counters.truncations, 0);
    assert_eq!(c.stats().counters.validations, 1);
    assert_eq!(fake.epoch_requests.lock().unwrap().len(), 1, "validated once");
}

#[tokio::test(start_paused = true)]
async fn close_returns_and_poll_then_fails() {
    let fake = Fake::new(1);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest")]).await;
    c.assign(&[tp(0)]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    c.close(Duration::from_secs(2)).await;
    assert!(started.elapsed() <= Duration::from_secs(2));
    assert!(matches!(c.poll(Duration::from_millis(10)).await, Err(Error::Closed)));
    assert!(matches!(c.assign(&[tp(0)]), Err(Error::Closed)));
    let _ = AutoOffsetReset::None;
}

#[tokio::test(start_paused = true)]
async fn recovers_from_a_cut_connection_and_a_moved_leader_without_gaps_or_duplicates() {
    let fake = Fake::new(2);
    fill(&fake, 0, 2, 5);
    fill(&fake, 1, 2, 5);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest")]).await;
    c.assign(&[tp(0), tp(1)]).unwrap();
    let mut records = poll_n(&c, 20, Duration::from_secs(10)).await;
    // The connection is cut while a fetch is in flight.
    fake.cut_next_fetch.store(true, Ordering::SeqCst);
    fill(&fake, 0, 1, 5);
    records.extend(poll_n(&c, 5, Duration::from_secs(20)).await);
    // The broker says it no longer leads: metadata is asked again, fetching goes on.
    let metadata_before = fake.metadata_requests.load(Ordering::SeqCst);
    fake.not_leader_once.store(true, Ordering::SeqCst);
    fill(&fake, 1, 1, 5);
    records.extend(poll_n(&c, 5, Duration::from_secs(20)).await);
    assert!(fake.metadata_requests.load(Ordering::SeqCst) > metadata_before, "no metadata refresh after NOT_LEADER_OR_FOLLOWER");
    for p in 0..2 {
        let offsets: Vec<i64> = records.iter().filter(|r| r.partition == p).map(|r| r.offset).collect();
        assert_eq!(offsets, (0..15).collect::<Vec<_>>(), "partition {p}");
    }
    let stats = c.stats();
    assert!(stats.counters.fetch_failures >= 1, "{stats:?}");
    assert!(stats.counters.full_fetches >= 2, "a new connection starts a new session: {stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_diverging_epoch_in_a_fetch_response_is_a_truncation() {
    for policy in ["earliest", "none"] {
        let fake = Fake::new(1);
        fill(&fake, 0, 4, 5);
        let c = consumer(&fake, &[("auto.offset.reset", policy)]).await;
        c.assign(&[tp(0)]).unwrap();
        c.seek(&tp(0), Offset::Beginning).await.unwrap();
        assert_eq!(poll_n(&c, 20, Duration::from_secs(10)).await.len(), 20);
        // The leader's log diverged at 15 without this consumer seeing a new
        // epoch in the metadata: the broker itself reports it (Fetch v12+).
        {
            let mut logs = fake.logs.lock().unwrap();
            let log = logs.get_mut(&0).unwrap();
            log.truncate(15);
            log.append(3, &["new-15", "new-16"]);
        }
        fake.epoch_ends.lock().unwrap().insert(3, 15);
        fake.check_last_fetched_epoch.store(true, Ordering::SeqCst);
        if policy == "none" {
            let err = loop {
                match c.poll(Duration::from_secs(1)).await {
                    Err(e) => break e,
                    Ok(r) => assert!(r.is_empty(), "{r:?}"),
                }
            };
            assert!(matches!(err, Error::LogTruncation { offset: 20, divergent_offset: Some(15), .. }), "{err:?}");
        } else {
            // Fetching resumes at the divergence point, where the log agrees again.
            let records = poll_n(&c, 2, Duration::from_secs(10)).await;
            assert_eq!(values(&records), ["new-15", "new-16"]);
        }
        assert_eq!(c.stats().counters.truncations, 1, "{policy}");
        assert!(fake.epoch_requests.lock().unwrap().is_empty(), "detected from the fetch response alone");
    }
}

/// The next fetch goes out before an answer is decoded, from past the
/// answer's complete batches (read from their headers alone). When decoding
/// then stops at a corrupt batch, the records before it are delivered, the
/// error reaches poll, and the early fetch's answer (records past the
/// corrupt batch) is dropped: the partition stays at the corrupt batch.
#[tokio::test(start_paused = true)]
async fn a_corrupt_batch_stops_the_partition_though_the_next_fetch_went_past_it() {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    {
        // The second batch (offsets 5..10) fails its CRC check.
        let mut logs = fake.logs.lock().unwrap();
        let batch = logs.get_mut(&0).unwrap().batches.get_mut(1).unwrap();
        let mut bytes = batch.bytes.to_vec();
        *bytes.last_mut().unwrap() ^= 0xff;
        batch.bytes = Bytes::from(bytes);
    }
    fill(&fake, 0, 2, 5);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest"), ("max.partition.fetch.bytes", "1")]).await;
    c.assign(&[tp(0)]).unwrap();
    let mut offsets = Vec::new();
    let mut errors = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)).await {
            Ok(records) => offsets.extend(records.iter().map(|r| r.offset)),
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(offsets, (0..5).collect::<Vec<_>>(), "nothing at or past the corrupt batch is delivered");
    assert!(!errors.is_empty() && errors.iter().all(|e| matches!(e, Error::Decode { .. })), "{errors:?}");
    let fetched: Vec<i64> = fake.fetches.lock().unwrap().iter().flat_map(|f| f.partitions.iter().map(|p| p.1)).collect();
    assert!(fetched.contains(&10), "a fetch went out past the corrupt batch before it was decoded: {fetched:?}");
    assert!(fetched.iter().filter(|o| **o == 5).count() >= 2, "the partition goes back to the corrupt batch: {fetched:?}");
}

/// A partition at the end of its log is not fetched alone while another
/// waits for room in its buffer: the broker holds such a fetch for
/// `fetch.max.wait.ms`, and the waiting partition could not be fetched until
/// it is answered. (Consuming the end of a backlog stalled 500 ms per
/// answer once the partitions with records left were the ones with full
/// buffers.)
#[tokio::test(start_paused = true)]
async fn a_caught_up_partition_does_not_hold_up_one_waiting_for_buffer_room() {
    let fake = Fake::new(2);
    fill(&fake, 0, 40, 20);
    let c =
        consumer(&fake, &[("auto.offset.reset", "earliest"), ("max.partition.fetch.bytes", "2000"), ("fetch.max.wait.ms", "1000")]).await;
    c.assign(&[tp(0), tp(1)]).unwrap();
    let start = tokio::time::Instant::now();
    let records = poll_n(&c, 800, Duration::from_secs(120)).await;
    assert_eq!(records.len(), 800);
    // Held fetches took 6 s of the test's virtual time.
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

/// Compressed batches are decompressed into buffers from the consumer's
/// pool, which come back when the application drops the records and are
/// used again (holding an earlier batch's bytes, written over).
#[tokio::test(start_paused = true)]
async fn compressed_batches_decode_into_buffers_that_are_used_again() {
    let fake = Fake::new(1);
    fake.log(0).get_mut(&0).unwrap().codec = Compression::Lz4;
    fill(&fake, 0, 2, 50);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest"), ("fetch.buffer.max.bytes", "4000000")]).await;
    c.assign(&[tp(0)]).unwrap();
    let pool = c.shared.decode_options.buffers.clone().unwrap();
    let first = poll_n(&c, 100, Duration::from_secs(30)).await;
    let want: Vec<String> = (0..100).map(|o| format!("p0-{o}")).collect();
    assert_eq!(values(&first), want);
    assert_eq!(pool.idle_bytes(), 0, "the records hold their buffers");
    drop(first);
    let idle = pool.idle_bytes();
    assert!(idle > 0, "dropped records give their buffers back");
    fill(&fake, 0, 2, 50);
    let second = poll_n(&c, 100, Duration::from_secs(30)).await;
    let want: Vec<String> = (100..200).map(|o| format!("p0-{o}")).collect();
    assert_eq!(values(&second), want, "reused buffers hold exactly the new batches");
    assert_eq!(second.iter().map(|r| r.offset).collect::<Vec<_>>(), (100..200).collect::<Vec<_>>());
    assert!(pool.idle_bytes() < idle, "the idle buffers were used again");
    drop(second);
    assert!(pool.idle_bytes() <= 1_000_000, "at most a quarter of the budget idle: {}", pool.idle_bytes());
    c.close(Duration::from_secs(1)).await;
}

/// A position reset from a ListOffsets answer carries no leader epoch: the
/// answer names the epoch at the offset (here the leader's current one, 3,
/// newer than the log's epoch-0 records), and sent as the last fetched epoch
/// it would make the leader answer with a diverging epoch and no records
/// (the simulator's group-cooperative-sticky seed 93). Java's consumer resets
/// without an epoch too.
#[tokio::test(start_paused = true)]
async fn a_reset_position_carries_no_leader_epoch() {
    let fake = Fake::new(1);
    fake.logs.lock().unwrap().get_mut(&0).unwrap().append(0, &["a", "b", "c"]);
    fake.epoch_ends.lock().unwrap().insert(0, 3);
    fake.check_last_fetched_epoch.store(true, Ordering::SeqCst);
    let c = consumer(&fake, &[("auto.offset.reset", "earliest")]).await;
    c.assign(&[tp(0)]).unwrap();
    let records = poll_n(&c, 3, Duration::from_secs(10)).await;
    assert_eq!(values(&records), ["a", "b", "c"]);
    let first = fake.fetches.lock().unwrap().first().map(|f| f.partitions.clone());
    assert_eq!(first, Some(vec![(0, 0, 3)]), "offset 0 at the current leader epoch");
    // After the records, the position has the epoch of the batch they came in.
    fake.logs.lock().unwrap().get_mut(&0).unwrap().append(0, &["d"]);
    fake.epoch_ends.lock().unwrap().insert(0, 4);
    assert_eq!(values(&poll_n(&c, 1, Duration::from_secs(10)).await), ["d"]);
    assert_eq!(fake.last_fetched.lock().unwrap().get(&0), Some(&0));
    assert_eq!(c.stats().counters.truncations, 0);
    assert_eq!(fake.divergences.load(Ordering::SeqCst), 0, "no fetch carried an epoch the log does not have");
}

/// A diverging epoch that ends at or past the position is no truncation, but
/// says the position's epoch is not in the leader's log. The consumer takes
/// the leader's epoch and fetches on, instead of asking with its own again
/// (and getting no records) forever.
#[tokio::test(start_paused = true)]
async fn a_diverging_epoch_ending_past_the_position_is_taken_not_asked_again() {
    let (fake, c) = read_ten_records_of_epoch_3().await;
    // The consumer read epoch-3 records up to 10; the leader's log knows
    // epoch 2 up to 12 and nothing of epoch 3 (a log the consumer cannot
    // have read from, but a broker may say so).
    {
        let mut logs = fake.logs.lock().unwrap();
        let log = logs.get_mut(&0).unwrap();
        log.append(2, &["x-10", "x-11"]);
    }
    fake.epoch_ends.lock().unwrap().insert(2, 12);
    fake.check_last_fetched_epoch.store(true, Ordering::SeqCst);
    let records = poll_n(&c, 2, Duration::from_secs(10)).await;
    assert_eq!(values(&records), ["x-10", "x-11"]);
    assert_eq!(records[0].offset, 10);
    assert_eq!(c.stats().counters.truncations, 0);
    assert_eq!(fake.last_fetched.lock().unwrap().get(&0), Some(&2));
    assert_eq!(fake.divergences.load(Ordering::SeqCst), 1, "answered once, then the leader's epoch was used");
}

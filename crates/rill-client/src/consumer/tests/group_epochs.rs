//! A group consumer against the fake broker, which here also coordinates a
//! one-member group: commits carry the leader epoch of the consumed
//! record's batch (OffsetCommit v6+ `committed_leader_epoch`), and a
//! position resumed from a committed offset with an epoch (OffsetFetch v5+)
//! is validated against the leader before anything is fetched (KIP-320).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rill_protocol::messages::find_coordinator_response::Coordinator;
use rill_protocol::messages::join_group_response::JoinGroupResponseMember;
use rill_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use rill_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use rill_protocol::messages::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, OffsetCommitResponse, OffsetFetchResponse,
    RequestBody, RequestHeader, SyncGroupResponse,
};

use super::{consumer, fill, truncate_at_15_under_epoch_4, values, Fake};
use crate::consumer::group::GroupConsumer;
use crate::consumer::group::Subscription;
use crate::consumer::ConsumerRecord;
use crate::tests::reply;

/// The group side of the fake broker: one member, which leads, under a new
/// member id and generation at each join.
#[derive(Debug, Default)]
pub(super) struct FakeGroup {
    /// Partition -> (committed offset, committed leader epoch).
    pub committed: Mutex<BTreeMap<i32, (i64, i32)>>,
    /// Every committed (partition, offset, leader epoch), in order.
    pub commits: Mutex<Vec<(i32, i64, i32)>>,
    assignment: Mutex<Bytes>,
    /// OffsetFetch answers COORDINATOR_LOAD_IN_PROGRESS until then (a coordinator loading its offsets).
    pub offset_fetch_refused_until: Mutex<Option<tokio::time::Instant>>,
    pub offset_fetches: std::sync::atomic::AtomicUsize,
    /// The next OffsetCommit is taken and never answered (its connection stalls).
    pub stall_next_commit: std::sync::atomic::AtomicBool,
    /// JoinGroups answered so far: each join is a new generation with a new member id, `m-<joins>`.
    joins: std::sync::atomic::AtomicI32,
}

impl FakeGroup {
    /// The answer to a group request; any other request is handed back.
    pub(super) fn answer(&self, header: &RequestHeader, body: RequestBody) -> Result<BytesMut, Box<RequestBody>> {
        Ok(match body {
            RequestBody::FindCoordinator(req) => {
                let key = req.coordinator_keys.first().cloned().unwrap_or_default();
                let coordinator = Coordinator { key, node_id: 1, host: "fake".into(), port: 9092, ..Default::default() };
                // v4+ (KIP-699) answers per key; earlier versions at the top level.
                let response = if header.request_api_version >= 4 {
                    FindCoordinatorResponse { coordinators: vec![coordinator], ..Default::default() }
                } else {
                    FindCoordinatorResponse { node_id: 1, host: "fake".into(), port: 9092, ..Default::default() }
                };
                reply(header, &response)
            }
            RequestBody::JoinGroup(req) => {
                let protocol = req.protocols.first().cloned().unwrap_or_default();
                let generation_id = self.joins.fetch_add(1, Ordering::SeqCst) + 1;
                let member_id = format!("m-{generation_id}");
                reply(
                    header,
                    &JoinGroupResponse {
                        generation_id,
                        protocol_type: Some("consumer".into()),
                        protocol_name: Some(protocol.name.clone()),
                        leader: member_id.clone(),
                        member_id: member_id.clone(),
                        members: vec![JoinGroupResponseMember { member_id, metadata: protocol.metadata, ..Default::default() }],
                        ..Default::default()
                    },
                )
            }
            RequestBody::SyncGroup(req) => {
                let mut assignment = self.assignment.lock().unwrap();
                if let Some(a) = req.assignments.iter().find(|a| a.member_id == req.member_id) {
                    *assignment = a.assignment.clone();
                }
                reply(header, &SyncGroupResponse { assignment: assignment.clone(), ..Default::default() })
            }
            RequestBody::Heartbeat(_) => reply(header, &HeartbeatResponse::default()),
            RequestBody::LeaveGroup(_) => reply(header, &LeaveGroupResponse::default()),
            RequestBody::OffsetFetch(req) => {
                self.offset_fetches.fetch_add(1, Ordering::SeqCst);
                if self.offset_fetch_refused_until.lock().unwrap().is_some_and(|until| tokio::time::Instant::now() < until) {
                    let code = rill_protocol::ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0;
                    let response = if header.request_api_version >= 8 {
                        let group = OffsetFetchResponseGroup { group_id: "g".into(), error_code: code, ..Default::default() };
                        OffsetFetchResponse { groups: vec![group], ..Default::default() }
                    } else {
                        OffsetFetchResponse { error_code: code, ..Default::default() }
                    };
                    return Ok(reply(header, &response));
                }
                let committed = self.committed.lock().unwrap();
                let answer = |p: i32| committed.get(&p).copied().unwrap_or((-1, -1));
                let response = if header.request_api_version >= 8 {
                    let groups = req
                        .groups
                        .iter()
                        .map(|g| OffsetFetchResponseGroup {
                            group_id: g.group_id.clone(),
                            topics: g
                                .topics
                                .iter()
                                .flatten()
                                .map(|t| OffsetFetchResponseTopics {
                                    name: t.name.clone(),
                                    partitions: t
                                        .partition_indexes
                                        .iter()
                                        .map(|p| OffsetFetchResponsePartitions {
                                            partition_index: *p,
                                            committed_offset: answer(*p).0,
                                            committed_leader_epoch: answer(*p).1,
                                            ..Default::default()
                                        })
                                        .collect(),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    OffsetFetchResponse { groups, ..Default::default() }
                } else {
                    let topics = req
                        .topics
                        .iter()
                        .flatten()
                        .map(|t| OffsetFetchResponseTopic {
                            name: t.name.clone(),
                            partitions: t
                                .partition_indexes
                                .iter()
                                .map(|p| OffsetFetchResponsePartition {
                                    partition_index: *p,
                                    committed_offset: answer(*p).0,
                                    committed_leader_epoch: answer(*p).1,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    OffsetFetchResponse { topics, ..Default::default() }
                };
                reply(header, &response)
            }
            RequestBody::OffsetCommit(req) => {
                let mut topics = Vec::new();
                for t in &req.topics {
                    let mut partitions = Vec::new();
                    for p in &t.partitions {
                        let entry = (p.committed_offset, p.committed_leader_epoch);
                        self.committed.lock().unwrap().insert(p.partition_index, entry);
                        self.commits.lock().unwrap().push((p.partition_index, entry.0, entry.1));
                        partitions.push(OffsetCommitResponsePartition { partition_index: p.partition_index, ..Default::default() });
                    }
                    topics.push(OffsetCommitResponseTopic { name: t.name.clone(), partitions, ..Default::default() });
                }
                reply(header, &OffsetCommitResponse { topics, ..Default::default() })
            }
            other => return Err(Box::new(other)),
        })
    }
}

async fn group_consumer(fake: &Arc<Fake>, max_poll_records: &str) -> GroupConsumer {
    let props = [
        ("group.id", "g"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("max.poll.records", max_poll_records),
        ("partition.assignment.strategy", "range"),
    ];
    let c = consumer(fake, &props).await;
    c.subscribe(Subscription::topics([super::TOPIC])).unwrap()
}

async fn poll_group(c: &GroupConsumer, n: usize) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn commits_carry_the_leader_epoch_of_the_last_consumed_batch() {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    fake.logs.lock().unwrap().get_mut(&0).unwrap().append(4, &["e4-10", "e4-11"]);
    fake.leader_epoch.store(4, Ordering::SeqCst);
    let c = group_consumer(&fake, "5").await;
    let mut expected = Vec::new();
    // Offsets 0-4 and 5-9 were written under epoch 3, 10-11 under epoch 4.
    for (count, next, epoch) in [(5, 5, 3), (5, 10, 3), (2, 12, 4)] {
        let records = poll_group(&c, count).await;
        assert_eq!(records.len(), count, "{:?}", values(&records));
        c.commit_consumed().await.unwrap();
        expected.push((0, next, epoch));
        assert_eq!(*fake.group.commits.lock().unwrap(), expected);
    }
    // The committed epoch reads back through OffsetFetch.
    let committed = c.member().committed(&[super::tp(0)].into()).await.unwrap();
    assert_eq!(committed[&super::tp(0)], Some(crate::consumer::Position::new(12, Some(4))));
    c.close(Duration::from_secs(5)).await.unwrap();
}

/// An application committing explicit offsets (as commit-after-process
/// does) commits the epoch of the last record handed out when the offset is
/// right after it, so resuming from it can detect a truncation (the
/// simulator's manual-flush seed 1017 resumed at 23 without an epoch and
/// read past a log rebuilt under it); other offsets go without one.
#[tokio::test(start_paused = true)]
async fn explicit_commits_carry_the_epoch_of_the_last_record_handed_out() {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    let c = group_consumer(&fake, "5").await;
    let records = poll_group(&c, 5).await;
    assert_eq!(records.last().map(|r| r.offset), Some(4));
    c.commit(&[(super::tp(0), 5)].into()).await.unwrap();
    c.commit(&[(super::tp(0), 3)].into()).await.unwrap();
    assert_eq!(*fake.group.commits.lock().unwrap(), [(0, 5, 3), (0, 3, -1)]);
    c.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_committed_leader_epoch_is_validated_before_resuming() {
    // The previous owner consumed 0..20 under epoch 3 and committed (20, epoch 3); then an
    // unclean leader change truncated the log at 15 and epoch 4 wrote two new records.
    let fake = Fake::new(1);
    fill(&fake, 0, 4, 5);
    truncate_at_15_under_epoch_4(&fake);
    fake.group.committed.lock().unwrap().insert(0, (20, 3));
    let c = group_consumer(&fake, "100").await;
    let records = poll_group(&c, 2).await;
    assert_eq!(values(&records), ["new-15", "new-16"], "resumed at the divergence, nothing skipped");
    // Asked the epoch-4 leader where the committed epoch 3 ends, before fetching.
    assert_eq!(fake.epoch_requests.lock().unwrap().first(), Some(&(0, 4, 3)));
    assert_eq!(c.consumer().stats().counters.truncations, 1);
    c.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_committed_offset_without_an_epoch_is_not_validated() {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    fake.group.committed.lock().unwrap().insert(0, (5, -1));
    let c = group_consumer(&fake, "100").await;
    let records = poll_group(&c, 5).await;
    assert_eq!(records.first().map(|r| r.offset), Some(5), "resumed at the committed offset");
    assert!(fake.epoch_requests.lock().unwrap().is_empty(), "nothing to validate without an epoch");
    c.close(Duration::from_secs(5)).await.unwrap();
}

/// A coordinator that cannot answer OffsetFetch for longer than
/// request.timeout.ms must not make the partitions start per
/// auto.offset.reset (here earliest: records 0-6 would be processed again
/// and the next commit would move the group's offset back from 7): they
/// wait, unfetched, until the committed offset is known (issue 7's
/// simulator found the rewind, group-roundrobin safety seed 1007).
#[tokio::test(start_paused = true)]
async fn partitions_wait_for_their_committed_offsets_past_the_request_timeout() {
    let fake = Fake::new(1);
    fill(&fake, 0, 2, 5);
    fake.group.committed.lock().unwrap().insert(0, (7, -1));
    let outage = Duration::from_secs(12);
    *fake.group.offset_fetch_refused_until.lock().unwrap() = Some(tokio::time::Instant::now() + outage);
    let props = [
        ("group.id", "g"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("request.timeout.ms", "2000"),
        ("partition.assignment.strategy", "range"),
    ];
    let c = consumer(&fake, &props).await.subscribe(Subscription::topics([super::TOPIC])).unwrap();
    let start = tokio::time::Instant::now();
    let records = poll_group(&c, 3).await;
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [7, 8, 9], "started at the committed offset");
    assert!(start.elapsed() >= outage, "nothing was fetched during the outage ({:?})", start.elapsed());
    assert!(fake.group.offset_fetches.load(Ordering::SeqCst) > 3, "the lookup was retried past the request timeout");
    // The commit of what was processed moves the offset forward, never back.
    c.commit_consumed().await.unwrap();
    assert_eq!(*fake.group.commits.lock().unwrap(), [(0, 10, 3)]);
    c.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn subscribe_refuses_a_consumer_with_a_manual_assignment() {
    let fake = Fake::new(1);
    let c = consumer(&fake, &[("group.id", "g")]).await;
    c.assign(&[super::tp(0)]).unwrap();
    let err = c.subscribe(Subscription::topics([super::TOPIC])).unwrap_err();
    assert!(err.to_string().contains("call assign(&[]) first"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn subscribe_without_a_group_id_names_the_key() {
    let fake = Fake::new(1);
    let err = consumer(&fake, &[]).await.subscribe(Subscription::topics([super::TOPIC])).unwrap_err();
    assert!(err.to_string().contains("group.id"), "{err}");
}

/// A commit left in doubt (its connection stalled past the request
/// timeout) ends the member's generation: it could still land after any
/// newer one. Records already fetched in that generation are not handed out
/// any more (no commit could cover them); after the rejoin, consumption
/// resumes from the last acknowledged commit.
#[tokio::test(start_paused = true)]
async fn after_a_commit_left_in_doubt_no_record_of_its_generation_is_handed_out() {
    let fake = Fake::new(1);
    fill(&fake, 0, 4, 5);
    // The resumed position's epoch checks out (OffsetForLeaderEpoch): epoch 3 ends at the log's end.
    fake.epoch_ends.lock().unwrap().insert(3, 20);
    let c = group_consumer(&fake, "5").await;
    assert_eq!(values(&poll_group(&c, 5).await), ["p0-0", "p0-1", "p0-2", "p0-3", "p0-4"]);
    c.commit_consumed().await.unwrap();
    assert_eq!(poll_group(&c, 5).await.first().map(|r| r.offset), Some(5));
    fake.group.stall_next_commit.store(true, Ordering::SeqCst);
    let err = c.commit_consumed().await.unwrap_err();
    assert!(matches!(err, crate::Error::RequestTimeout { .. }), "{err:?}");
    // Records 10.. were fetched in the generation whose commit is in doubt:
    // the next records handed out are those after the acknowledged commit,
    // in the next generation.
    let records = poll_group(&c, 5).await;
    assert_eq!(values(&records), ["p0-5", "p0-6", "p0-7", "p0-8", "p0-9"]);
    assert_eq!(c.member().generation(), (2, "m-2".to_string()), "joined again under a new member id");
    c.close(Duration::from_secs(5)).await.unwrap();
}

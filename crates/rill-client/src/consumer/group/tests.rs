//! The group member's state machine against a scripted fake coordinator
//! (real protocol both ways over `tokio::io::duplex`, paused time):
//! KIP-394 member ids, heartbeats, eager revocation before rejoining,
//! coordinator failover, lost partitions, fencing, commits during
//! rebalances and commits that must never go backwards.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_protocol::messages::join_group_response::JoinGroupResponseMember;
use rill_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use rill_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use rill_protocol::messages::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, MetadataResponse, OffsetCommitResponse, RequestBody,
    SyncGroupResponse,
};
use rill_protocol::{ErrorCode, Uuid};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::callbacks::CallbackFuture;
use super::{GroupMember, MemberState, RebalanceListener, Subscription, TopicPartition};
use crate::config::ClientConfig;
use crate::tests::{all_versions, read_request, reply};
use crate::transport::{BoxStream, ConnectFuture, Transport};
use crate::Client;

const PARTITIONS: i32 = 3;

/// The fake coordinator's state and script.
#[derive(Debug, Default)]
struct Fake {
    /// Errors FindCoordinator answers first, in order.
    find_errors: VecDeque<ErrorCode>,
    /// Errors JoinGroup answers first (MEMBER_ID_REQUIRED comes by itself, KIP-394).
    join_errors: VecDeque<ErrorCode>,
    heartbeat_errors: VecDeque<ErrorCode>,
    /// Per OffsetCommit request, the error for all its partitions.
    commit_errors: VecDeque<ErrorCode>,
    generation: i32,
    next_member: u32,
    /// The member ids JoinGroup requests carried.
    join_member_ids: Vec<String>,
    finds: usize,
    heartbeats: usize,
    leaves: Vec<String>,
    /// Offsets of t-0 in every OffsetCommit received, in order.
    commits_received: Vec<i64>,
    /// The member id of every OffsetCommit received, in order.
    commit_member_ids: Vec<String>,
    /// How many OffsetCommit requests, from the next one on, are taken and
    /// never answered (held in a network partition past the request timeout).
    unanswered_commits: usize,
    committed: BTreeMap<i32, i64>,
    assignment: bytes::Bytes,
    /// How long a successful JoinGroup is held before the answer (a rebalance waiting for members).
    join_delay: Duration,
}

type Shared = Arc<Mutex<Fake>>;

async fn serve(mut s: DuplexStream, fake: Shared) {
    while let Some((header, body)) = read_request(&mut s).await {
        let mut hold = Duration::ZERO;
        let mut unanswered = false;
        let frame = {
            let mut f = fake.lock().unwrap();
            match body {
                RequestBody::ApiVersions(_) => reply(&header, &all_versions()),
                RequestBody::Metadata(_) => reply(&header, &metadata()),
                RequestBody::FindCoordinator(req) => {
                    f.finds += 1;
                    let code = f.find_errors.pop_front().unwrap_or(ErrorCode::NONE);
                    let coordinator = rill_protocol::messages::find_coordinator_response::Coordinator {
                        key: req.coordinator_keys.first().cloned().unwrap_or_default(),
                        node_id: 1,
                        host: "fake".into(),
                        port: 9092,
                        error_code: code.0,
                        ..Default::default()
                    };
                    // v4+ (KIP-699) answers per key; earlier versions at the top level.
                    let response = if header.request_api_version >= 4 {
                        FindCoordinatorResponse { coordinators: vec![coordinator], ..Default::default() }
                    } else {
                        FindCoordinatorResponse { error_code: code.0, node_id: 1, host: "fake".into(), port: 9092, ..Default::default() }
                    };
                    reply(&header, &response)
                }
                RequestBody::JoinGroup(req) => {
                    f.join_member_ids.push(req.member_id.clone());
                    let response = if let Some(code) = f.join_errors.pop_front() {
                        JoinGroupResponse { error_code: code.0, ..Default::default() }
                    } else if req.member_id.is_empty() {
                        f.next_member += 1;
                        let id = format!("m-{}", f.next_member);
                        JoinGroupResponse { error_code: ErrorCode::MEMBER_ID_REQUIRED.0, member_id: id, ..Default::default() }
                    } else {
                        hold = f.join_delay;
                        f.generation += 1;
                        let protocol = req.protocols.first().cloned().unwrap_or_default();
                        JoinGroupResponse {
                            generation_id: f.generation,
                            protocol_type: Some("consumer".into()),
                            protocol_name: Some(protocol.name.clone()),
                            leader: req.member_id.clone(),
                            member_id: req.member_id.clone(),
                            members: vec![JoinGroupResponseMember {
                                member_id: req.member_id.clone(),
                                group_instance_id: req.group_instance_id.clone(),
                                metadata: protocol.metadata,
                                ..Default::default()
                            }],
                            ..Default::default()
                        }
                    };
                    reply(&header, &response)
                }
                RequestBody::SyncGroup(req) => {
                    if let Some(a) = req.assignments.iter().find(|a| a.member_id == req.member_id) {
                        f.assignment = a.assignment.clone();
                    }
                    reply(&header, &SyncGroupResponse { assignment: f.assignment.clone(), ..Default::default() })
                }
                RequestBody::Heartbeat(_) => {
                    f.heartbeats += 1;
                    let code = f.heartbeat_errors.pop_front().unwrap_or(ErrorCode::NONE);
                    reply(&header, &HeartbeatResponse { error_code: code.0, ..Default::default() })
                }
                RequestBody::LeaveGroup(req) => {
                    f.leaves.extend(req.members.iter().map(|m| m.member_id.clone()));
                    reply(&header, &LeaveGroupResponse::default())
                }
                RequestBody::OffsetCommit(req) => {
                    f.commit_member_ids.push(req.member_id.clone());
                    if f.unanswered_commits > 0 {
                        f.unanswered_commits -= 1;
                        unanswered = true;
                    }
                    let code = f.commit_errors.pop_front().unwrap_or(ErrorCode::NONE);
                    let mut topics = Vec::new();
                    for t in &req.topics {
                        let mut partitions = Vec::new();
                        for p in &t.partitions {
                            if p.partition_index == 0 {
                                f.commits_received.push(p.committed_offset);
                            }
                            if code.is_none() {
                                f.committed.insert(p.partition_index, p.committed_offset);
                            }
                            partitions.push(OffsetCommitResponsePartition {
                                partition_index: p.partition_index,
                                error_code: code.0,
                                ..Default::default()
                            });
                        }
                        topics.push(OffsetCommitResponseTopic { name: t.name.clone(), partitions, ..Default::default() });
                    }
                    reply(&header, &OffsetCommitResponse { topics, ..Default::default() })
                }
                _ => return,
            }
        };
        if unanswered {
            // The connection stalls: nothing more is answered on it (the
            // client's requests are answered in order or not at all).
            while read_request(&mut s).await.is_some() {}
            return;
        }
        tokio::time::sleep(hold).await;
        if s.write_all(&frame).await.is_err() {
            return;
        }
    }
}

fn metadata() -> MetadataResponse {
    MetadataResponse {
        brokers: vec![MetadataResponseBroker { node_id: 1, host: "fake".into(), port: 9092, ..Default::default() }],
        controller_id: 1,
        topics: vec![MetadataResponseTopic {
            name: Some("t".into()),
            topic_id: Uuid::from_u64_pair(1, 2),
            partitions: (0..PARTITIONS)
                .map(|p| MetadataResponsePartition {
                    partition_index: p,
                    leader_id: 1,
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

struct FakeTransport(Shared);

impl Transport for FakeTransport {
    fn connect(&self, _host: &str, _port: u16) -> ConnectFuture {
        let fake = self.0.clone();
        Box::pin(async move {
            let (client, broker) = tokio::io::duplex(1 << 20);
            tokio::spawn(serve(broker, fake));
            Ok(Box::new(client) as BoxStream)
        })
    }
}

/// Records every callback, optionally taking its time.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    assigned_delay: Duration,
}

fn names(p: &BTreeSet<TopicPartition>) -> String {
    p.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked<'a>(&'a self, p: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async move { self.events.lock().unwrap().push(format!("revoked {}", names(p))) })
    }
    fn on_partitions_assigned<'a>(&'a self, p: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(self.assigned_delay).await;
            self.events.lock().unwrap().push(format!("assigned {}", names(p)));
        })
    }
    fn on_partitions_lost<'a>(&'a self, p: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async move { self.events.lock().unwrap().push(format!("lost {}", names(p))) })
    }
}

async fn start(fake: &Shared, listener: Arc<Recorder>, extra: &[(&str, &str)]) -> GroupMember {
    let mut properties = vec![
        ("bootstrap.servers", "fake:9092"),
        ("group.id", "g"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "1000"),
        ("partition.assignment.strategy", "range"),
        ("enable.auto.commit", "false"),
        ("retry.backoff.ms", "100"),
    ];
    properties.extend_from_slice(extra);
    let config = ClientConfig::from_properties(properties).unwrap();
    let client = Client::with_transport(config, Arc::new(FakeTransport(fake.clone()))).await.unwrap();
    let member = GroupMember::new(client, listener).unwrap();
    member.subscribe(Subscription::topics(["t"])).unwrap();
    member
}

fn all() -> BTreeSet<TopicPartition> {
    (0..PARTITIONS).map(|p| TopicPartition::new("t", p)).collect()
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn joins_with_the_member_id_the_coordinator_requires_and_heartbeats() {
    let fake = Shared::default();
    let member = start(&fake, Arc::default(), &[]).await;
    let a = member.wait_for_assignment(-1, WAIT).await.unwrap();
    assert_eq!((a.generation_id, a.partitions.clone()), (1, all()));
    // KIP-394: the first JoinGroup carries no id, the second the one the coordinator gave.
    assert_eq!(fake.lock().unwrap().join_member_ids, ["", "m-1"]);
    let before = fake.lock().unwrap().heartbeats;
    tokio::time::sleep(Duration::from_secs(10)).await;
    member.poll_notice();
    let beats = fake.lock().unwrap().heartbeats - before;
    assert!((9..=11).contains(&beats), "one heartbeat per heartbeat.interval.ms: {beats}");
    assert_eq!(member.generation(), (1, "m-1".to_string()));
    assert!(member.is_leader(), "the only member leads (the fake names it leader)");
    member.close(Duration::from_secs(5)).await.unwrap();
    assert_eq!(fake.lock().unwrap().leaves, ["m-1"], "a dynamic member leaves on close");
}

#[tokio::test(start_paused = true)]
async fn a_member_dropped_without_close_stops_heartbeating_and_does_not_leave() {
    let fake = Shared::default();
    let member = start(&fake, Arc::default(), &[]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fake.lock().unwrap().heartbeats > 0);
    // A crashed application: no LeaveGroup, and no heartbeat may keep the abandoned
    // member in the group (the coordinator must see its session expire).
    drop(member);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let after_drop = fake.lock().unwrap().heartbeats;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let f = fake.lock().unwrap();
    assert_eq!(f.heartbeats, after_drop, "heartbeats after the member was dropped");
    assert!(f.leaves.is_empty(), "a dropped member does not leave: {:?}", f.leaves);
}

#[tokio::test(start_paused = true)]
async fn rebalance_in_progress_revokes_everything_first_with_an_eager_assignor() {
    let fake = Shared::default();
    let recorder = Arc::new(Recorder::default());
    let member = start(&fake, recorder.clone(), &[]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    fake.lock().unwrap().heartbeat_errors.push_back(ErrorCode::REBALANCE_IN_PROGRESS);
    let a = member.wait_for_assignment(1, WAIT).await.unwrap();
    assert_eq!(a.generation_id, 2);
    let all = names(&all());
    assert_eq!(*recorder.events.lock().unwrap(), [format!("assigned {all}"), format!("revoked {all}"), format!("assigned {all}")]);
    // The rejoin kept the member id.
    assert_eq!(fake.lock().unwrap().join_member_ids, ["", "m-1", "m-1"]);
}

#[tokio::test(start_paused = true)]
async fn coordinator_errors_make_the_member_find_the_coordinator_again() {
    let fake = Shared::default();
    {
        let mut f = fake.lock().unwrap();
        f.find_errors.extend([ErrorCode::COORDINATOR_NOT_AVAILABLE, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS]);
        f.join_errors.push_back(ErrorCode::NOT_COORDINATOR);
    }
    let member = start(&fake, Arc::default(), &[]).await;
    let a = member.wait_for_assignment(-1, WAIT).await.unwrap();
    assert_eq!(a.partitions, all());
    // Two failed look-ups, one that worked, NOT_COORDINATOR from JoinGroup, one more look-up.
    assert_eq!(fake.lock().unwrap().finds, 4);
    // A heartbeat answered NOT_COORDINATOR: looked up again, and the member stays in its generation.
    fake.lock().unwrap().heartbeat_errors.push_back(ErrorCode::NOT_COORDINATOR);
    tokio::time::sleep(Duration::from_secs(5)).await;
    member.poll_notice();
    assert_eq!(fake.lock().unwrap().finds, 5);
    assert_eq!((member.state(), member.generation().0), (MemberState::Stable, 1));
}

#[tokio::test(start_paused = true)]
async fn unknown_member_id_loses_the_partitions_and_joins_afresh() {
    let fake = Shared::default();
    let recorder = Arc::new(Recorder::default());
    let member = start(&fake, recorder.clone(), &[]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    fake.lock().unwrap().heartbeat_errors.push_back(ErrorCode::UNKNOWN_MEMBER_ID);
    let a = member.wait_for_assignment(1, WAIT).await.unwrap();
    assert_eq!(a.partitions, all());
    let all = names(&all());
    assert_eq!(*recorder.events.lock().unwrap(), [format!("assigned {all}"), format!("lost {all}"), format!("assigned {all}")]);
    // A fresh identity: no member id, then the new one the coordinator requires.
    assert_eq!(fake.lock().unwrap().join_member_ids, ["", "m-1", "", "m-2"]);
    assert_eq!(member.generation().1, "m-2");
}

#[tokio::test(start_paused = true)]
async fn a_fenced_static_member_stops_with_a_typed_error() {
    let fake = Shared::default();
    let recorder = Arc::new(Recorder::default());
    let member = start(&fake, recorder.clone(), &[("group.instance.id", "i-1")]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    fake.lock().unwrap().heartbeat_errors.push_back(ErrorCode::FENCED_INSTANCE_ID);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(member.state(), MemberState::Failed);
    assert_eq!(member.failure().and_then(|e| e.code()), Some(ErrorCode::FENCED_INSTANCE_ID));
    assert!(member.assignment().partitions.is_empty());
    assert!(recorder.events.lock().unwrap().last().unwrap().starts_with("lost"));
    // A static member does not send LeaveGroup (KIP-345).
    member.close(Duration::from_secs(5)).await.unwrap();
    assert!(fake.lock().unwrap().leaves.is_empty());
}

#[tokio::test(start_paused = true)]
async fn partitions_are_published_only_after_the_assigned_callback_returns() {
    let fake = Shared::default();
    let recorder = Arc::new(Recorder { assigned_delay: Duration::from_secs(5), ..Default::default() });
    let member = start(&fake, recorder.clone(), &[]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(member.assignment().partitions.is_empty(), "handed over before on_partitions_assigned returned");
    let a = member.wait_for_assignment(-1, WAIT).await.unwrap();
    assert_eq!(a.partitions, all());
    assert_eq!(recorder.events.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn commits_during_a_rebalance_fail_at_once_and_coordinator_moves_are_retried() {
    let fake = Shared::default();
    let member = start(&fake, Arc::default(), &[]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    let offsets: BTreeMap<TopicPartition, i64> = [(TopicPartition::new("t", 0), 5)].into();
    fake.lock().unwrap().commit_errors.push_back(ErrorCode::REBALANCE_IN_PROGRESS);
    let started = tokio::time::Instant::now();
    let err = member.commit_sync(&offsets).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::REBALANCE_IN_PROGRESS));
    assert!(started.elapsed() < Duration::from_millis(10), "no waiting for the rebalance");
    fake.lock().unwrap().commit_errors.push_back(ErrorCode::NOT_COORDINATOR);
    member.commit_sync(&offsets).await.unwrap();
    assert_eq!(fake.lock().unwrap().committed.get(&0), Some(&5));
    assert_eq!(member.acknowledged_commit(&TopicPartition::new("t", 0)), Some(5));
}

#[tokio::test(start_paused = true)]
async fn a_retried_commit_never_lands_after_a_newer_one() {
    let fake = Shared::default();
    let member = start(&fake, Arc::default(), &[]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    let tp = TopicPartition::new("t", 0);
    // The first commit (10) meets a coordinator still loading; while it backs off, 20 is committed.
    fake.lock().unwrap().commit_errors.push_back(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
    let old = member.commit_async([(tp.clone(), 10)].into());
    tokio::time::sleep(Duration::from_millis(1)).await;
    member.commit_sync(&[(tp.clone(), 20)].into()).await.unwrap();
    old.await.unwrap().unwrap();
    let f = fake.lock().unwrap();
    assert_eq!(f.commits_received, [10, 20], "the old commit was not sent again");
    assert_eq!(f.committed.get(&0), Some(&20));
    assert_eq!(member.acknowledged_commit(&tp), Some(20));
}

#[tokio::test(start_paused = true)]
async fn max_poll_interval_leaves_and_the_next_poll_rejoins() {
    let fake = Shared::default();
    let recorder = Arc::new(Recorder::default());
    let member = start(&fake, recorder.clone(), &[("max.poll.interval.ms", "5000")]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(member.state(), MemberState::Unjoined);
    assert_eq!(fake.lock().unwrap().leaves, ["m-1"]);
    assert!(recorder.events.lock().unwrap().last().unwrap().starts_with("lost"));
    member.poll_notice();
    let a = member.wait_for_assignment(1, WAIT).await.unwrap();
    assert_eq!(a.partitions, all());
}

#[tokio::test(start_paused = true)]
async fn a_join_held_longer_than_the_request_timeout_is_waited_for() {
    let fake = Shared::default();
    fake.lock().unwrap().join_delay = Duration::from_secs(40);
    let member = start(&fake, Arc::default(), &[("request.timeout.ms", "30000"), ("max.poll.interval.ms", "60000")]).await;
    let a = member.wait_for_assignment(-1, Duration::from_secs(120)).await.unwrap();
    assert_eq!(a.generation_id, 1);
    // Answered after 40 s on the same request: no timeout, no second JoinGroup.
    assert_eq!(fake.lock().unwrap().join_member_ids, ["", "m-1"]);
}

/// The simulator's seed 17 of `group-roundrobin` (issue 7): a commit made
/// in generation 1 backs off (coordinator loading) while the member moves
/// to generation 2, where the partition may belong to another member that
/// has committed since. The retry must not be sent with generation 2 (the
/// coordinator would accept it and move the committed offset back): the
/// commit fails instead.
#[tokio::test(start_paused = true)]
async fn a_commit_is_never_retried_in_a_later_generation() {
    let fake = Shared::default();
    let extra = [("heartbeat.interval.ms", "500"), ("retry.backoff.ms", "5000"), ("retry.backoff.max.ms", "5000")];
    let member = start(&fake, Arc::default(), &extra).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    let tp = TopicPartition::new("t", 0);
    {
        let mut f = fake.lock().unwrap();
        f.commit_errors.push_back(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
        f.heartbeat_errors.push_back(ErrorCode::REBALANCE_IN_PROGRESS);
    }
    let old = member.commit_async([(tp.clone(), 10)].into());
    let a = member.wait_for_assignment(1, WAIT).await.unwrap();
    assert_eq!(a.generation_id, 2);
    let err = old.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::REBALANCE_IN_PROGRESS));
    let f = fake.lock().unwrap();
    assert_eq!(f.commits_received, [10], "not sent again in generation 2");
    assert_eq!(f.committed.get(&0), None);
}

/// The simulator's zombie commits (issue 7): a commit whose connection
/// timed out after it was sent may still reach the coordinator, after a
/// newer commit sent on a new connection, and move the offset back (the
/// fake applies it on arrival, as a real coordinator applies a late one).
/// The member commits nothing more in that generation: it leaves, loses its
/// partitions and joins under a new member id, so the coordinator refuses
/// the old commit whenever it arrives.
#[tokio::test(start_paused = true)]
async fn a_commit_left_in_doubt_makes_the_member_join_again_under_a_new_member_id() {
    let (fake, recorder, member, tp) = member_whose_next_commit_is_never_answered().await;
    let err = member.commit_sync(&[(tp.clone(), 10)].into()).await.unwrap_err();
    assert!(matches!(err, crate::Error::RequestTimeout { .. }), "{err:?}");
    // Not in the generation the commit in doubt was sent in.
    let err = member.commit_sync(&[(tp.clone(), 20)].into()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::REBALANCE_IN_PROGRESS), "{err:?}");
    commit_20_after_joining_afresh(&fake, &member, &tp).await;
    assert_eq!(fake.lock().unwrap().commits_received, [10, 20]);
    let all = names(&all());
    assert_eq!(*recorder.events.lock().unwrap(), [format!("assigned {all}"), format!("lost {all}"), format!("assigned {all}")]);
}

/// The same when the caller stops waiting for the commit (a timeout around
/// it, a dropped future): its request is still on its way, and when its
/// connection times out the member leaves and joins afresh all the same.
/// Otherwise the next commit would go out in the old generation on a new
/// connection, and the old one could land after it.
#[tokio::test(start_paused = true)]
async fn a_commit_whose_caller_stopped_waiting_still_ends_the_generation_when_left_in_doubt() {
    let (fake, _recorder, member, tp) = member_whose_next_commit_is_never_answered().await;
    let gave_up = tokio::time::timeout(Duration::from_secs(1), member.commit_sync(&[(tp.clone(), 10)].into())).await;
    assert!(gave_up.is_err(), "the fake never answers the commit");
    commit_20_after_joining_afresh(&fake, &member, &tp).await;
}

/// A member in its first generation (`m-1`, request.timeout.ms 5 s) whose
/// next commit the fake takes and never answers.
async fn member_whose_next_commit_is_never_answered() -> (Shared, Arc<Recorder>, GroupMember, TopicPartition) {
    let fake = Shared::default();
    let recorder = Arc::new(Recorder::default());
    let member = start(&fake, recorder.clone(), &[("request.timeout.ms", "5000")]).await;
    member.wait_for_assignment(-1, WAIT).await.unwrap();
    fake.lock().unwrap().unanswered_commits = 1;
    (fake, recorder, member, TopicPartition::new("t", 0))
}

/// Waits for the member to leave as `m-1` and join afresh as `m-2`, then commits 20 as `m-2`.
async fn commit_20_after_joining_afresh(fake: &Shared, member: &GroupMember, tp: &TopicPartition) {
    let a = member.wait_for_assignment(1, WAIT).await.unwrap();
    assert_eq!(a.partitions, all());
    member.commit_sync(&[(tp.clone(), 20)].into()).await.unwrap();
    let f = fake.lock().unwrap();
    assert_eq!(f.leaves, ["m-1"], "the member in doubt leaves");
    assert_eq!(f.join_member_ids, ["", "m-1", "", "m-2"], "and joins afresh");
    assert_eq!(f.commit_member_ids, ["m-1", "m-2"]);
}

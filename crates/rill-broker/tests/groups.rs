//! The classic group coordinator and InitProducerId over tokio TCP, driven
//! by two real rill-client connections: member ids (KIP-394), a rebalance
//! when a second member joins, assignments through the leader's SyncGroup,
//! generation fencing of heartbeats and commits, offset fetch, leave.

use std::time::Duration;

use bytes::Bytes;
use rill_broker::{Broker, BrokerConfig, ControllerConfig, Disk, FlushPolicy};
use rill_client::{Client, ClientConfig};
use rill_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use rill_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use rill_protocol::messages::leave_group_request::MemberIdentity;
use rill_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use rill_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use rill_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use rill_protocol::messages::{
    HeartbeatRequest, InitProducerIdRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest,
};
use rill_protocol::ErrorCode;

async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = Broker::single_node(BrokerConfig::new(1, "127.0.0.1", port), Disk::new(FlushPolicy::Manual), ControllerConfig::default());
    // The topic the group commits offsets for (commits for partitions that
    // do not exist are refused, as by Kafka).
    broker.controller().register_broker(1, "127.0.0.1", port);
    broker.controller().create_topic("t", 1, 1, &[], false).unwrap();
    tokio::spawn(async move { broker.serve(listener).await });
    format!("127.0.0.1:{port}")
}

async fn client(bootstrap: &str) -> Client {
    let config = ClientConfig::from_properties([("bootstrap.servers", bootstrap), ("request.timeout.ms", "20000")]).unwrap();
    Client::connect(config).await.unwrap()
}

fn join(member_id: &str, metadata: &'static [u8]) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: "g".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol { name: "range".into(), metadata: Bytes::from_static(metadata), ..Default::default() }],
        ..Default::default()
    }
}

async fn join_with_id(c: &Client, metadata: &'static [u8]) -> JoinGroupResponse {
    let first = c.send(1, &join("", metadata)).await.unwrap();
    assert_eq!(first.error_code, ErrorCode::MEMBER_ID_REQUIRED.0);
    assert!(!first.member_id.is_empty());
    c.send(1, &join(&first.member_id, metadata)).await.unwrap()
}

fn heartbeat(member: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest { group_id: "g".into(), member_id: member.into(), generation_id: generation, ..Default::default() }
}

fn commit(member: &str, generation: i32, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: "g".into(),
        member_id: member.into(),
        generation_id_or_member_epoch: generation,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitRequestPartition { partition_index: 0, committed_offset: offset, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn group_rebalance_commit_fencing_and_leave() {
    let bootstrap = start().await;
    let (a, b) = (client(&bootstrap).await, client(&bootstrap).await);
    let found = a.send(1, &FindCoordinatorRequest { key_type: 0, coordinator_keys: vec!["g".into()], ..Default::default() }).await.unwrap();
    assert_eq!(found.coordinators[0].node_id, 1);

    let ja = join_with_id(&a, b"a-meta").await;
    assert_eq!((ja.error_code, ja.generation_id, ja.leader.clone()), (0, 1, ja.member_id.clone()));
    let sa = a
        .send(
            1,
            &SyncGroupRequest {
                group_id: "g".into(),
                generation_id: 1,
                member_id: ja.member_id.clone(),
                assignments: vec![SyncGroupRequestAssignment {
                    member_id: ja.member_id.clone(),
                    assignment: Bytes::from_static(b"all"),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((sa.error_code, sa.assignment.as_ref()), (0, &b"all"[..]));
    assert_eq!(a.send(1, &commit(&ja.member_id, 1, 10)).await.unwrap().topics[0].partitions[0].error_code, 0);

    // B joins: a rebalance starts; A learns it from its heartbeat and rejoins.
    let b_join = tokio::spawn(async move {
        let jb = join_with_id(&b, b"b-meta").await;
        (b, jb)
    });
    let mut code = 0;
    for _ in 0..100 {
        code = a.send(1, &heartbeat(&ja.member_id, 1)).await.unwrap().error_code;
        if code == ErrorCode::REBALANCE_IN_PROGRESS.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(code, ErrorCode::REBALANCE_IN_PROGRESS.0);
    let ja2 = a.send(1, &join(&ja.member_id, b"a-meta")).await.unwrap();
    let (b, jb) = b_join.await.unwrap();
    assert_eq!((ja2.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja2.leader, ja.member_id, "the old leader stays leader");
    assert_eq!(ja2.members.len(), 2, "the leader sees every member's metadata");
    assert!(jb.members.is_empty());
    assert!(ja2.members.iter().any(|m| m.member_id == jb.member_id && m.metadata.as_ref() == b"b-meta"));

    // B's SyncGroup waits for the leader's assignment.
    let b_member = jb.member_id.clone();
    let b_sync = tokio::spawn(async move {
        let r = b
            .send(1, &SyncGroupRequest { group_id: "g".into(), generation_id: 2, member_id: b_member, ..Default::default() })
            .await
            .unwrap();
        (b, r)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let leader_sync = SyncGroupRequest {
        group_id: "g".into(),
        generation_id: 2,
        member_id: ja.member_id.clone(),
        assignments: vec![
            SyncGroupRequestAssignment { member_id: ja.member_id.clone(), assignment: Bytes::from_static(b"p0"), ..Default::default() },
            SyncGroupRequestAssignment { member_id: jb.member_id.clone(), assignment: Bytes::from_static(b"p1"), ..Default::default() },
        ],
        ..Default::default()
    };
    assert_eq!(a.send(1, &leader_sync).await.unwrap().assignment.as_ref(), b"p0");
    let (b, sb) = b_sync.await.unwrap();
    assert_eq!((sb.error_code, sb.assignment.as_ref()), (0, &b"p1"[..]));

    // Generation 1 is over: its heartbeats and commits are fenced; generation 2 commits.
    assert_eq!(a.send(1, &heartbeat(&ja.member_id, 1)).await.unwrap().error_code, ErrorCode::ILLEGAL_GENERATION.0);
    let stale = a.send(1, &commit(&ja.member_id, 1, 3)).await.unwrap();
    assert_eq!(stale.topics[0].partitions[0].error_code, ErrorCode::ILLEGAL_GENERATION.0);
    assert_eq!(b.send(1, &commit("nobody", 2, 3)).await.unwrap().topics[0].partitions[0].error_code, ErrorCode::UNKNOWN_MEMBER_ID.0);
    assert_eq!(b.send(1, &commit(&jb.member_id, 2, 20)).await.unwrap().topics[0].partitions[0].error_code, 0);
    let fetched = a
        .send(
            1,
            &OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup { group_id: "g".into(), topics: None, ..Default::default() }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let p = &fetched.groups[0].topics[0].partitions[0];
    assert_eq!((p.partition_index, p.committed_offset), (0, 20), "the stale commit did not rewind the offset");

    // B leaves: A's next heartbeat asks it to rejoin.
    let left = b
        .send(
            1,
            &LeaveGroupRequest {
                group_id: "g".into(),
                members: vec![MemberIdentity { member_id: jb.member_id.clone(), ..Default::default() }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(left.members[0].error_code, 0);
    assert_eq!(a.send(1, &heartbeat(&ja.member_id, 2)).await.unwrap().error_code, ErrorCode::REBALANCE_IN_PROGRESS.0);
}

#[tokio::test]
async fn producer_ids_and_epochs() {
    let bootstrap = start().await;
    let c = client(&bootstrap).await;
    let one = c
        .send(1, &InitProducerIdRequest { transaction_timeout_ms: 60_000, producer_id: -1, producer_epoch: -1, ..Default::default() })
        .await
        .unwrap();
    let two = c
        .send(1, &InitProducerIdRequest { transaction_timeout_ms: 60_000, producer_id: -1, producer_epoch: -1, ..Default::default() })
        .await
        .unwrap();
    assert_eq!((one.error_code, one.producer_epoch), (0, 0));
    assert_ne!(one.producer_id, two.producer_id);
    // KIP-360: an idempotent producer bumps its epoch.
    let bumped = c
        .send(
            1,
            &InitProducerIdRequest {
                transaction_timeout_ms: 60_000,
                producer_id: one.producer_id,
                producer_epoch: 0,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((bumped.producer_id, bumped.producer_epoch), (one.producer_id, 1));
    // A transactional id keeps its producer id; each init bumps the epoch.
    let txn = |timeout| InitProducerIdRequest {
        transactional_id: Some("tx".into()),
        transaction_timeout_ms: timeout,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let t1 = c.send(1, &txn(60_000)).await.unwrap();
    let t2 = c.send(1, &txn(60_000)).await.unwrap();
    assert_eq!((t2.producer_id, t2.producer_epoch), (t1.producer_id, t1.producer_epoch + 1));
    assert_eq!(c.send(1, &txn(999_999_999)).await.unwrap().error_code, ErrorCode::INVALID_TRANSACTION_TIMEOUT.0);
}

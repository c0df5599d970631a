//! Fault controls on the 3-node cluster: kill -9, restart, reassignment,
//! preferred leader election, stopping and starting a listener.

use std::time::Duration;

use rill_e2e::{ClientSettings, KafkaCluster, Listener, SaslMechanism};

use crate::common::{self, Expect};

const FAILOVER_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn killed_leader_is_replaced_and_the_restarted_node_rejoins() {
    let _serial = common::three_nodes_alone_blocking();
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic("kill-leader");
    cluster.create_topic(&topic, 1, 3).expect("create topic");
    let before =
        cluster.wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "full ISR", |state| state.isr.len() == 3).expect("topic fully replicated");
    assert_eq!(before.replicas.len(), 3, "replication factor 3: {before:?}");
    let old_leader = before.leader.expect("a leader");

    cluster.kill(old_leader);
    assert!(!cluster.node(old_leader).is_running());
    let after = cluster
        .wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "leader moved off the killed node", |state| {
            state.leader.is_some() && state.leader != Some(old_leader) && !state.isr.contains(&old_leader)
        })
        .expect("failover");
    eprintln!("leader moved from {old_leader} to {:?}; ISR {:?}", after.leader, after.isr);

    // Two of three replicas remain: min.insync.replicas=2 still allows acks=all.
    let client = cluster.client_properties(&ClientSettings::new(Listener::Plaintext)).expect("client properties");
    cluster.java().console_produce(&client, &topic, &["after-failover"]).expect("produce with acks=all after failover");

    cluster.restart(old_leader).expect("restart the killed node");
    cluster
        .wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "restarted node back in the ISR", |state| state.isr.contains(&old_leader))
        .expect("restarted node rejoins the ISR");
    let records = cluster.java().console_consume(&client, &topic, 1, 30_000).expect("consume");
    assert_eq!(records, vec!["after-failover".to_string()]);
}

#[test]
fn reassignment_and_preferred_leader_election_move_leadership() {
    let _serial = common::three_nodes_alone_blocking();
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic("reassign");
    cluster.create_topic(&topic, 1, 3).expect("create topic");
    let before =
        cluster.wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "full ISR", |state| state.isr.len() == 3).expect("topic fully replicated");
    // Rotate the replica list so a different node becomes the preferred leader.
    let mut target = before.replicas.clone();
    target.rotate_left(1);
    cluster.reassign(&topic, 0, &target).expect("reassign partition");
    let moved = cluster
        .wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "replica order changed", |state| state.replicas == target)
        .expect("reassignment visible");
    eprintln!("reassigned {topic}-0: {before:?} -> {moved:?}");

    let output = cluster.elect_preferred_leader(&topic, 0).expect("preferred leader election");
    eprintln!("leader election: {}", output.trim());
    cluster
        .wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "preferred replica leads", |state| state.leader == Some(target[0]))
        .expect("preferred leader elected");
}

#[test]
fn stopped_listener_refuses_connections_until_started_again() {
    let _serial = common::three_nodes_alone_blocking();
    let cluster = KafkaCluster::three_nodes();
    let settings = ClientSettings::new(Listener::SaslSsl).auth(cluster.valid_auth(SaslMechanism::ScramSha256));
    let other = ClientSettings::new(Listener::Plaintext);

    cluster.stop_listener(Listener::SaslSsl);
    for node in cluster.node_ids() {
        assert!(!cluster.is_listener_running(node, Listener::SaslSsl));
        let port: u16 = cluster
            .bootstrap(Listener::SaslSsl)
            .split(',')
            .nth(node as usize - 1)
            .and_then(|address| address.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .expect("bootstrap port");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "node {node} SASL_SSL still accepts");
    }
    let mut stopped_client = cluster.client_properties(&settings).expect("properties");
    // A stopped listener can only time out; do not wait the probe's full 20 s for it.
    stopped_client.set("default.api.timeout.ms", "5000").set("request.timeout.ms", "5000");
    let properties = vec![
        ("SASL_SSL while stopped".to_string(), stopped_client),
        ("PLAINTEXT while SASL_SSL is stopped".to_string(), cluster.client_properties(&other).expect("properties")),
    ];
    let stopped = cluster.java().probe_connections(&properties).expect("probe");
    cluster.start_listener(Listener::SaslSsl).expect("start the listener again");
    let failure = stopped[0].result.clone().expect_err("a stopped listener must not accept clients");
    assert!(!failure.is_authentication_failure(), "expected a connection failure, got {failure:?}");
    assert_eq!(stopped[1].result, Ok(3), "other listeners must keep working");

    let restarted = common::probe(cluster, &[("SASL_SSL started again".to_string(), settings, Expect::Accept)]);
    common::assert_outcomes(cluster, &restarted);
}

#[test]
fn min_insync_replicas_refuses_acks_all_writes_below_two_replicas() {
    let _serial = common::three_nodes_alone_blocking();
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic("min-isr");
    // Two replicas on nodes 1 and 2, so killing node 2 leaves the KRaft quorum (3 voters) intact.
    cluster.create_topic_with_assignment(&topic, &[vec![1, 2]]).expect("kafka-topics --create --replica-assignment");
    cluster
        .wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "ISR {1,2}", |state| state.isr.len() == 2 && state.leader == Some(1))
        .expect("topic replicated on 1 and 2");
    assert_eq!(cluster.produce_acks_all(&topic, "two-in-sync").expect("probe"), Ok(0));

    cluster.kill(2);
    let shrunk = cluster.wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "ISR shrank to {1}", |state| state.isr == [1]);
    let refusal = shrunk.as_ref().ok().map(|_| refused_for_too_few_replicas(cluster, &topic));
    cluster.restart(2).expect("restart node 2");
    shrunk.expect("ISR shrinks after kill -9");
    refusal.expect("produce attempted").unwrap_or_else(|message| panic!("{message}"));

    cluster.wait_for_partition(&topic, 0, FAILOVER_TIMEOUT, "node 2 back in the ISR", |state| state.isr.len() == 2).expect("ISR recovers");
    assert!(cluster.produce_acks_all(&topic, "recovered").expect("probe").is_ok());
}

/// Produces with acks=all until the leader refuses with NotEnoughReplicas.
/// A produce that was in flight while the ISR shrank may time out instead
/// (the leader answers REQUEST_TIMED_OUT), so other failures are retried; an
/// acknowledged write is a violation at once.
fn refused_for_too_few_replicas(cluster: &KafkaCluster, topic: &str) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 1..=5 {
        match cluster.produce_acks_all(topic, "one-in-sync").expect("probe") {
            Ok(offset) => return Err(format!("acks=all write acknowledged at offset {offset} with one in-sync replica")),
            Err(error) if error.contains("NotEnoughReplicas") => return Ok(()),
            Err(error) => {
                eprintln!("attempt {attempt}: {error}");
                last = error;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Err(format!("acks=all write was never refused with NotEnoughReplicas; last error: {last}"))
}

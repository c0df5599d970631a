//! rill's consumer-group member against real Kafka (single node): join,
//! sync, heartbeats, assignments per assignor, commits seen by Kafka's
//! `kafka-consumer-groups`, a mixed group with a Java consumer, static
//! membership, leaving on close and a bounded close with the broker gone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_client::consumer::group::{GroupConsumer, GroupMember, MemberState, NoopListener, Subscription, TopicPartition};
use rill_client::consumer::{Consumer, Position};
use rill_client::{Client, ClientConfig};
use rill_e2e::interop::java_group_consumer::JavaGroupConsumer;
use rill_e2e::{KafkaCluster, Listener};

/// The close-with-broker-stopped test stops the PLAINTEXT listener: it runs
/// alone, the other tests of this binary share the listener.
static LISTENER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

const WAIT: Duration = Duration::from_secs(60);

async fn member(cluster: &KafkaCluster, group: &str, extra: &[(&str, &str)]) -> GroupMember {
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let mut properties: Vec<(&str, &str)> = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "rill-e2e-group"),
        ("group.id", group),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "500"),
        ("max.poll.interval.ms", "25000"),
        ("request.timeout.ms", "30000"),
        ("enable.auto.commit", "false"),
    ];
    properties.extend_from_slice(extra);
    let config = ClientConfig::from_properties(properties).expect("valid config");
    let client = Client::connect(config).await.expect("connect");
    GroupMember::new(client, Arc::new(NoopListener)).expect("group member")
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn all_partitions(topics: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
    topics.iter().flat_map(|(t, n)| (0..*n).map(move |p| tp(t, p))).collect()
}

/// `kafka-consumer-groups --describe` (with extra flags, e.g. `--members --verbose`).
fn describe_group(cluster: &KafkaCluster, group: &str, extra: &[&str]) -> String {
    let mut args: Vec<String> =
        ["--bootstrap-server", &cluster.internal_bootstrap(), "--describe", "--group", group].map(String::from).to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = cluster
        .java()
        .run("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", &args, None, Duration::from_secs(60))
        .expect("kafka-consumer-groups --describe");
    format!("{}{}", out.stdout, out.stderr)
}

/// Committed offsets per partition from `kafka-consumer-groups --describe --offsets`.
fn committed_by_kafka_tools(cluster: &KafkaCluster, group: &str, topic: &str) -> BTreeMap<i32, String> {
    let text = describe_group(cluster, group, &["--offsets"]);
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 4 && w[0] == group && w[1] == topic)
        .map(|w| (w[2].parse().expect("partition"), w[3].to_string()))
        .collect()
}

/// Member id -> partitions of `topic`, from `--describe --members --verbose`.
fn members_by_kafka_tools(cluster: &KafkaCluster, group: &str) -> String {
    describe_group(cluster, group, &["--members", "--verbose"])
}

async fn wait_until<F: FnMut() -> bool>(what: &str, mut check: F) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn member_joins_heartbeats_commits_and_kafka_tools_see_the_offsets() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let topic = cluster.unique_topic("group-commit");
    cluster.create_topic(&topic, 3, 1).expect("create topic");
    let group = cluster.unique_topic("group-commit-g");
    let member = member(cluster, &group, &[]).await;
    member.subscribe(Subscription::topics([topic.clone()])).expect("subscribe");
    let assignment = member.wait_for_assignment(-1, WAIT).await.expect("assignment");
    assert_eq!(assignment.partitions, all_partitions(&[(&topic, 3)]));
    let (generation, member_id) = member.generation();
    assert!(generation >= 1 && !member_id.is_empty());

    // Past the session timeout: only heartbeats keep the member in its generation.
    tokio::time::sleep(Duration::from_secs(12)).await;
    member.poll_notice();
    assert_eq!(member.state(), MemberState::Stable);
    assert_eq!(member.generation(), (generation, member_id.clone()), "no rebalance while heartbeating");
    let members = members_by_kafka_tools(cluster, &group);
    assert!(members.contains(&member_id), "Kafka lists the member: {members}");

    let offsets: BTreeMap<TopicPartition, i64> = [(tp(&topic, 0), 7), (tp(&topic, 1), 3), (tp(&topic, 2), 0)].into();
    member.commit_sync(&offsets).await.expect("commit");
    let seen = committed_by_kafka_tools(cluster, &group, &topic);
    assert_eq!(seen, [(0, "7".to_string()), (1, "3".to_string()), (2, "0".to_string())].into(), "kafka-consumer-groups sees the commits");
    let fetched = member.committed(&assignment.partitions).await.expect("OffsetFetch");
    assert_eq!(fetched, offsets.iter().map(|(k, v)| (k.clone(), Some(Position::new(*v, None)))).collect());
    // An async commit, then a late old value is never retried over it: the acknowledged offset only grows.
    member.commit_async([(tp(&topic, 0), 9)].into()).await.expect("join").expect("async commit");
    assert_eq!(member.acknowledged_commit(&tp(&topic, 0)), Some(9));

    member.close(Duration::from_secs(10)).await.expect("close");
    assert_eq!(member.state(), MemberState::Left);
    let after = describe_group(cluster, &group, &["--members"]);
    assert!(!after.contains(&member_id), "the member left the group on close: {after}");
}

/// The member ids of two members in `MemberInfo` order (dynamic members: by id).
fn ordered<'a>(a: &'a GroupMember, b: &'a GroupMember) -> (&'a GroupMember, &'a GroupMember) {
    if a.generation().1 < b.generation().1 {
        (a, b)
    } else {
        (b, a)
    }
}

async fn two_members_with(strategy: &str) -> (BTreeSet<TopicPartition>, BTreeSet<TopicPartition>, String, String) {
    let cluster = KafkaCluster::single();
    let t1 = cluster.unique_topic(&format!("split-{strategy}-a"));
    let t2 = cluster.unique_topic(&format!("split-{strategy}-b"));
    cluster.create_topic(&t1, 3, 1).expect("create topic");
    cluster.create_topic(&t2, 3, 1).expect("create topic");
    let group = cluster.unique_topic(&format!("split-{strategy}-g"));
    let extra = [("partition.assignment.strategy", strategy)];
    let first = member(cluster, &group, &extra).await;
    first.subscribe(Subscription::topics([t1.clone(), t2.clone()])).expect("subscribe");
    let alone = first.wait_for_assignment(-1, WAIT).await.expect("first assignment");
    assert_eq!(alone.partitions.len(), 6);
    let second = member(cluster, &group, &extra).await;
    second.subscribe(Subscription::topics([t1.clone(), t2.clone()])).expect("subscribe");
    let all = all_partitions(&[(&t1, 3), (&t2, 3)]);
    wait_until("both members to hold disjoint shares of every partition", || {
        first.poll_notice();
        second.poll_notice();
        let (a, b) = (first.assignment(), second.assignment());
        a.generation_id == b.generation_id
            && first.state() == MemberState::Stable
            && second.state() == MemberState::Stable
            && !a.partitions.is_empty()
            && !b.partitions.is_empty()
            && a.partitions.is_disjoint(&b.partitions)
            && a.partitions.union(&b.partitions).cloned().collect::<BTreeSet<_>>() == all
    })
    .await;
    // Eager assignors order members by id; cooperative-sticky keeps the first member's partitions.
    let (x, y) = if strategy == "cooperative-sticky" { (&first, &second) } else { ordered(&first, &second) };
    let result = (x.assignment().partitions, y.assignment().partitions, t1, t2);
    first.close(Duration::from_secs(10)).await.expect("close");
    second.close(Duration::from_secs(10)).await.expect("close");
    result
}

#[tokio::test]
async fn two_members_split_partitions_as_the_range_assignor_does() {
    let _shared = LISTENER.read().await;
    let (low, high, a, b) = two_members_with("range").await;
    // Per topic, 3 partitions over 2 members: the first member by id gets 0-1, the second 2.
    assert_eq!(low, [tp(&a, 0), tp(&a, 1), tp(&b, 0), tp(&b, 1)].into());
    assert_eq!(high, [tp(&a, 2), tp(&b, 2)].into());
}

#[tokio::test]
async fn two_members_split_partitions_as_the_roundrobin_assignor_does() {
    let _shared = LISTENER.read().await;
    let (low, high, a, b) = two_members_with("org.apache.kafka.clients.consumer.RoundRobinAssignor").await;
    assert_eq!(low, [tp(&a, 0), tp(&a, 2), tp(&b, 1)].into());
    assert_eq!(high, [tp(&a, 1), tp(&b, 0), tp(&b, 2)].into());
}

#[tokio::test]
async fn cooperative_sticky_keeps_the_first_members_partitions_and_hands_over_the_rest() {
    let _shared = LISTENER.read().await;
    let (first, second, a, b) = two_members_with("cooperative-sticky").await;
    // The first member owned all six; it keeps three (by partition, then topic) and revokes only the others.
    assert_eq!(first, [tp(&a, 0), tp(&b, 0), tp(&a, 1)].into());
    assert_eq!(second, [tp(&b, 1), tp(&a, 2), tp(&b, 2)].into());
}

/// The coordinator's view of `group` (DescribeGroups through rill's admin
/// client; the members' assignments are the bytes the leader sent, decoded):
/// (assignor, state, member id -> partitions of `topic`).
async fn group_view(admin: &Client, group: &str, topic: &str) -> Option<(String, String, BTreeMap<String, BTreeSet<i32>>)> {
    let described = admin.describe_groups(&[group]).await.ok()?.remove(group)?.ok()?;
    let members = described
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.assignment.get(topic).map(|p| p.iter().copied().collect()).unwrap_or_default()))
        .collect();
    Some((described.protocol, described.state, members))
}

/// (partition, value) of every record a rill member consumed.
type Seen = Arc<std::sync::Mutex<Vec<(i32, String)>>>;

/// One rill member's poll loop: records every record, commits after processing.
fn rill_poll_loop(consumer: Arc<GroupConsumer>, seen: Seen, stop: Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let records = consumer.poll(Duration::from_millis(200)).await.expect("poll");
            seen.lock().unwrap().extend(
                records.iter().map(|r| (r.partition, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())),
            );
            if !records.is_empty() {
                let _ = consumer.commit_consumed().await;
            }
        }
    })
}

const MIXED_PARTITIONS: i32 = 6;
const MIXED_RECORDS: usize = 60;

/// A rill consumer and a Java console consumer in one group with the same
/// assignor; `java_leads`: the Java consumer joins first (and stays the
/// leader, so Java's assignor computes the split), else rill does. Records
/// produced once the group is stable are each consumed exactly once, and
/// both members consume their own share. Nothing here blocks the test's
/// thread for long (the group is described through rill's admin client, not
/// Kafka's tool): the members' heartbeats run on it.
async fn mixed_group(strategy: &str, java_assignor: &str, java_leads: bool) {
    let cluster = KafkaCluster::single();
    let topic = cluster.unique_topic(&format!("mixed-{strategy}"));
    cluster.create_topic(&topic, MIXED_PARTITIONS as u32, 1).expect("create topic");
    let group = cluster.unique_topic(&format!("mixed-{strategy}-g"));
    let java_properties = [
        ("partition.assignment.strategy", java_assignor),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "500"),
        ("auto.commit.interval.ms", "1000"),
    ];
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let admin =
        Client::connect(ClientConfig::from_properties([("bootstrap.servers", bootstrap.as_str())]).expect("config")).await.expect("admin");
    let start_rill = || async {
        let config = ClientConfig::from_properties([
            ("bootstrap.servers", bootstrap.as_str()),
            ("client.id", "rill-mixed"),
            ("group.id", group.as_str()),
            ("partition.assignment.strategy", strategy),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
            ("max.poll.interval.ms", "30000"),
        ])
        .expect("config");
        let client = Client::connect(config).await.expect("connect");
        Arc::new(Consumer::from_client(client).expect("consumer").subscribe(Subscription::topics([topic.clone()])).expect("subscribe"))
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let all: BTreeSet<i32> = (0..MIXED_PARTITIONS).collect();
    let (mut java, rill) = if java_leads {
        let java = JavaGroupConsumer::start(cluster, &topic, &group, &java_properties).expect("start the Java consumer");
        // The first member to join leads: wait until the Java consumer alone is Stable.
        let started = Instant::now();
        while group_view(&admin, &group, &topic).await.is_none_or(|(_, state, members)| state != "Stable" || members.len() != 1) {
            assert!(started.elapsed() < WAIT, "the Java consumer never got the group to itself");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        (java, start_rill().await)
    } else {
        let rill = start_rill().await;
        let started = Instant::now();
        while rill.member().assignment().partitions.len() != MIXED_PARTITIONS as usize || rill.member().state() != MemberState::Stable {
            assert!(started.elapsed() < WAIT, "rill never got the group to itself");
            rill.member().poll_notice();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (JavaGroupConsumer::start(cluster, &topic, &group, &java_properties).expect("start the Java consumer"), rill)
    };
    let rill_seen = Seen::default();
    let rill_loop = rill_poll_loop(rill.clone(), rill_seen.clone(), stop.clone());

    // Both members stable with half the partitions each; the coordinator's view agrees with rill's.
    let started = Instant::now();
    let mut last = String::new();
    let (rill_share, java_share) = loop {
        assert!(started.elapsed() < WAIT, "the group never settled with both members: {last}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rill_id = rill.member().generation().1;
        let mine: BTreeSet<i32> = rill.member().assignment().partitions.iter().map(|p| p.partition).collect();
        last = format!("rill {rill_id} {:?} holds {mine:?}", rill.member().state());
        if rill.member().state() != MemberState::Stable || mine.len() != all.len() / 2 {
            continue;
        }
        let Some((_, state, members)) = group_view(&admin, &group, &topic).await else {
            continue;
        };
        last = format!("{last}; coordinator: {state} {members:?}");
        let Some((java_id, theirs)) = members.iter().find(|(id, _)| **id != rill_id) else {
            continue;
        };
        if members.len() == 2 && members.get(&rill_id) == Some(&mine) && theirs.len() == all.len() / 2 {
            break ((rill_id.clone(), mine), (java_id.clone(), theirs.clone()));
        }
    };
    assert_eq!(rill.member().is_leader(), !java_leads, "the first member to join leads the group");
    let (strategy_seen, state, members) = group_view(&admin, &group, &topic).await.expect("group state");
    assert_eq!((state.as_str(), members.len()), ("Stable", 2));
    assert_eq!(Some(strategy_seen.as_str()), rill.member().protocol().map(|p| p.protocol_name()), "one assignor for the group");
    assert!(rill_share.1.is_disjoint(&java_share.1), "a partition owned twice: rill {rill_share:?}, Java {java_share:?}");
    // The eager assignors order members by id; cooperative-sticky splits 3/3 however ownership went.
    let lower_id_share: Option<BTreeSet<i32>> = match strategy {
        "range" => Some([0, 1, 2].into()),
        "roundrobin" => Some([0, 2, 4].into()),
        _ => None,
    };
    if let Some(expected) = lower_id_share {
        let lower = if rill_share.0 < java_share.0 { &rill_share } else { &java_share };
        assert_eq!(lower.1, expected, "{strategy}: the lower member id's share (rill {rill_share:?}, Java {java_share:?})");
    }

    // Produce a numbered sequence over every partition; each record is consumed exactly once.
    let producer = {
        let config = ClientConfig::from_properties([("bootstrap.servers", bootstrap.as_str())]).expect("config");
        rill_client::Producer::new(Client::connect(config).await.expect("connect")).await.expect("producer")
    };
    for i in 0..MIXED_RECORDS {
        let record = rill_client::ProducerRecord::new(topic.clone()).partition(i as i32 % MIXED_PARTITIONS).value(format!("v-{i}"));
        producer.send(record).await.expect("send").await.expect("delivered");
    }
    let expected: BTreeSet<String> = (0..MIXED_RECORDS).map(|i| format!("v-{i}")).collect();
    let started = Instant::now();
    loop {
        let consumed: BTreeSet<String> =
            java.records().into_iter().map(|r| r.value).chain(rill_seen.lock().unwrap().iter().map(|r| r.1.clone())).collect();
        if consumed == expected {
            break;
        }
        assert!(started.elapsed() < WAIT, "consumed only {consumed:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Give late duplicates a chance to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    rill_loop.await.expect("rill poll loop");
    java.stop(Duration::from_secs(10));
    let java_seen = java.records();
    let rill_seen = rill_seen.lock().unwrap().clone();
    let java_partitions: BTreeSet<i32> = java_seen.iter().map(|r| r.partition).collect();
    let rill_partitions: BTreeSet<i32> = rill_seen.iter().map(|r| r.0).collect();
    assert_eq!(java_partitions, java_share.1, "Java consumed exactly its share");
    assert_eq!(rill_partitions, rill_share.1, "rill consumed exactly its share");
    let mut values: Vec<String> = java_seen.into_iter().map(|r| r.value).chain(rill_seen.into_iter().map(|r| r.1)).collect();
    values.sort();
    let unique: BTreeSet<String> = values.iter().cloned().collect();
    assert_eq!(unique, expected, "every record consumed");
    assert_eq!(values.len(), MIXED_RECORDS, "every record consumed once across the group");
    producer.close(Duration::from_secs(5)).await.expect("close the producer");
    rill.close(Duration::from_secs(10)).await.expect("close");
}

#[tokio::test]
async fn mixed_group_range_with_rill_leading() {
    let _shared = LISTENER.read().await;
    mixed_group("range", "org.apache.kafka.clients.consumer.RangeAssignor", false).await;
}

#[tokio::test]
async fn mixed_group_range_with_java_leading() {
    let _shared = LISTENER.read().await;
    mixed_group("range", "org.apache.kafka.clients.consumer.RangeAssignor", true).await;
}

#[tokio::test]
async fn mixed_group_roundrobin_with_rill_leading() {
    let _shared = LISTENER.read().await;
    mixed_group("roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor", false).await;
}

#[tokio::test]
async fn mixed_group_roundrobin_with_java_leading() {
    let _shared = LISTENER.read().await;
    mixed_group("roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor", true).await;
}

#[tokio::test]
async fn mixed_group_cooperative_sticky_with_rill_leading() {
    let _shared = LISTENER.read().await;
    mixed_group("cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", false).await;
}

#[tokio::test]
async fn mixed_group_cooperative_sticky_with_java_leading() {
    let _shared = LISTENER.read().await;
    mixed_group("cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", true).await;
}

#[tokio::test]
async fn static_member_rejoins_without_a_rebalance() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let topic = cluster.unique_topic("static");
    cluster.create_topic(&topic, 2, 1).expect("create topic");
    let group = cluster.unique_topic("static-g");
    let extra = [("group.instance.id", "rill-static-1")];
    let first = member(cluster, &group, &extra).await;
    first.subscribe(Subscription::topics([topic.clone()])).expect("subscribe");
    let before = first.wait_for_assignment(-1, WAIT).await.expect("assignment");
    // Static members do not leave on close: the group keeps the slot for the session timeout.
    first.close(Duration::from_secs(10)).await.expect("close");
    let second = member(cluster, &group, &extra).await;
    second.subscribe(Subscription::topics([topic.clone()])).expect("subscribe");
    let after = second.wait_for_assignment(-1, WAIT).await.expect("assignment after the restart");
    assert_eq!(after.partitions, before.partitions);
    assert_eq!(after.generation_id, before.generation_id, "a static member's return does not start a new generation");
    second.close(Duration::from_secs(10)).await.expect("close");
}

#[tokio::test]
async fn close_returns_within_its_timeout_with_the_broker_unreachable() {
    let cluster = KafkaCluster::single();
    let _exclusive = LISTENER.write().await;
    let topic = cluster.unique_topic("close-down");
    cluster.create_topic(&topic, 1, 1).expect("create topic");
    let group = cluster.unique_topic("close-down-g");
    let member = member(cluster, &group, &[("enable.auto.commit", "true")]).await;
    member.subscribe(Subscription::topics([topic.clone()])).expect("subscribe");
    member.wait_for_assignment(-1, WAIT).await.expect("assignment");
    member.mark_delivered(&tp(&topic, 0), Position::new(5, None));
    cluster.stop_listener(Listener::Plaintext);
    let started = Instant::now();
    let outcome = member.close(Duration::from_secs(3)).await;
    let took = started.elapsed();
    cluster.start_listener(Listener::Plaintext).expect("start the listener again");
    assert!(took < Duration::from_millis(3_500), "close took {took:?}: {outcome:?}");
    assert_eq!(member.state(), MemberState::Left);
}

/// One group consumer's poll loop: process (record the value), then commit.
async fn consume_and_commit(
    consumer: Arc<rill_client::consumer::group::GroupConsumer>,
    processed: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let records = match consumer.poll(Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => panic!("poll failed: {e}"),
        };
        if records.is_empty() {
            continue;
        }
        {
            let mut seen = processed.lock().unwrap();
            for r in &records {
                seen.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
            }
        }
        // Commit after processing; one refused during a rebalance is redone by the next batch's commit.
        let _ = consumer.commit_consumed().await;
    }
}

#[tokio::test]
async fn group_consumers_process_every_record_and_commit_after_processing() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let topic = cluster.unique_topic("group-consume");
    cluster.create_topic(&topic, 3, 1).expect("create topic");
    let values: Vec<String> = (0..90).map(|i| format!("record-{i}")).collect();
    for value in &values {
        cluster.produce_acks_all(&topic, value).expect("probe").expect("produce with the Java producer");
    }
    let group = cluster.unique_topic("group-consume-g");
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let start = |name: &'static str| {
        let properties = [
            ("bootstrap.servers", bootstrap.as_str()),
            ("client.id", name),
            ("group.id", group.as_str()),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
            ("max.poll.interval.ms", "25000"),
            ("max.poll.records", "20"),
        ];
        let config = ClientConfig::from_properties(properties).expect("config");
        let topic = topic.clone();
        async move {
            let client = Client::connect(config).await.expect("connect");
            // The entry point users look for: a consumer that subscribes (topic list).
            let consumer = Consumer::from_client(client).expect("consumer");
            Arc::new(consumer.subscribe(Subscription::topics([topic])).expect("subscribe"))
        }
    };
    let processed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a = start("rill-group-a").await;
    let loop_a = tokio::spawn(consume_and_commit(a.clone(), processed.clone(), stop.clone()));
    wait_until("the first consumer to process some records", || !processed.lock().unwrap().is_empty()).await;
    // A second member joins mid-stream: the partitions are split, nothing is skipped.
    let b = start("rill-group-b").await;
    let loop_b = tokio::spawn(consume_and_commit(b.clone(), processed.clone(), stop.clone()));
    let expected: BTreeSet<String> = values.iter().cloned().collect();
    wait_until("every record to be processed", || processed.lock().unwrap().iter().cloned().collect::<BTreeSet<_>>() == expected).await;
    wait_until("both members to own partitions", || {
        !a.member().assignment().partitions.is_empty() && !b.member().assignment().partitions.is_empty()
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    loop_a.await.expect("consumer a");
    loop_b.await.expect("consumer b");
    a.commit_consumed().await.expect("final commit a");
    b.commit_consumed().await.expect("final commit b");
    // KIP-320: the commits carry the leader epoch of the consumed records' batches (a fresh
    // single-node topic: epoch 0), and OffsetFetch gives it back.
    let all = all_partitions(&[(&topic, 3)]);
    let committed = a.member().committed(&all).await.expect("OffsetFetch");
    let with_records: Vec<_> = committed.values().flatten().filter(|p| p.offset > 0).collect();
    assert!(!with_records.is_empty() && with_records.iter().all(|p| p.leader_epoch == Some(0)), "{committed:?}");
    let total = processed.lock().unwrap().len();
    eprintln!("processed {total} records for {} produced ({} duplicates)", values.len(), total - values.len());
    a.close(Duration::from_secs(10)).await.expect("close a");
    b.close(Duration::from_secs(10)).await.expect("close b");
    // Kafka's tools see every partition committed up to its log end.
    let text = describe_group(cluster, &group, &["--offsets"]);
    let rows: Vec<Vec<&str>> =
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|w| w.len() >= 6 && w[1] == topic).collect();
    // Partitions that never held a record have nothing to commit and are not listed.
    let log_end_total: u64 = rows.iter().map(|w| w[4].parse::<u64>().expect("log end offset")).sum();
    assert_eq!(log_end_total, values.len() as u64, "{text}");
    for row in rows {
        assert_eq!(row[3], row[4], "partition {} committed up to the log end offset: {text}", row[2]);
    }
}

/// Produces one record, retrying while a new topic's leader is not known yet.
async fn produce(cluster: &KafkaCluster, topic: &str, value: &str) {
    let started = Instant::now();
    loop {
        match cluster.produce_acks_all(topic, value).expect("probe") {
            Ok(_) => return,
            Err(e) => assert!(started.elapsed() < WAIT, "could not produce {value} to {topic}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Polls `consumer` until `done` holds for the values seen so far (or the wait runs out).
async fn poll_until(consumer: &GroupConsumer, seen: &mut Vec<(String, String)>, what: &str, done: impl Fn(&[(String, String)]) -> bool) {
    let started = Instant::now();
    while !done(seen) {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}; seen {seen:?}");
        let records = consumer.poll(Duration::from_millis(300)).await.expect("poll");
        for r in &records {
            seen.push((r.topic.to_string(), String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
        }
        if !records.is_empty() {
            // Commit after processing: a rebalance then resumes after what was seen.
            consumer.commit_consumed().await.expect("commit");
        }
    }
}

#[tokio::test]
async fn pattern_subscription_picks_up_a_matching_topic_created_after_subscribing() {
    let cluster = KafkaCluster::single();
    let _shared = LISTENER.read().await;
    let base = cluster.unique_topic("regex");
    let (first, later, other) = (format!("{base}-orders"), format!("{base}-refunds"), format!("{base}x-orders"));
    cluster.create_topic(&first, 2, 1).expect("create topic");
    cluster.create_topic(&other, 1, 1).expect("create topic");
    produce(cluster, &first, "first-1").await;
    produce(cluster, &other, "other-1").await;
    let group = cluster.unique_topic("regex-g");
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "500"),
        // New matches are looked for this often.
        ("metadata.max.age.ms", "1000"),
    ])
    .expect("config");
    let client = Client::connect(config).await.expect("connect");
    // `{base}-` then anything: matches the first and the later topic, not `{base}x-orders`.
    let pattern = Subscription::pattern(&format!("{base}-.*")).expect("pattern");
    let consumer = Consumer::from_client(client).expect("consumer").subscribe(pattern).expect("subscribe");
    let mut seen = Vec::new();
    poll_until(&consumer, &mut seen, "the record of the matching topic", |s| s.iter().any(|(_, v)| v == "first-1")).await;

    // A topic created after subscribing that matches: the member rejoins and consumes it.
    cluster.create_topic(&later, 3, 1).expect("create topic");
    for i in 0..5 {
        produce(cluster, &later, &format!("later-{i}")).await;
    }
    let generation_before = consumer.member().generation().0;
    poll_until(&consumer, &mut seen, "every record of the topic created later", |s| {
        (0..5).all(|i| s.iter().any(|(t, v)| *t == later && *v == format!("later-{i}")))
    })
    .await;
    let assignment = consumer.member().assignment();
    assert!(assignment.generation_id > generation_before, "the new match made the member rejoin");
    assert_eq!(assignment.partitions, all_partitions(&[(&first, 2), (&later, 3)]), "exactly the matching topics");
    // The non-matching topic is never consumed, and no record came twice.
    assert!(seen.iter().all(|(t, _)| *t != other), "a topic outside the pattern was consumed: {seen:?}");
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no record twice: {seen:?}");
    consumer.close(Duration::from_secs(10)).await.expect("close");
}

/// A small seeded generator (splitmix64): the assignor cases are the same on every run.
struct CaseRng(u64);

impl CaseRng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A group as a leader may see it: 1-4 topics, 1-6 members with equal or
/// differing subscriptions, static members, and with `owned` (sticky
/// cases) the partitions members own from the last generation (some
/// members new, some a generation behind and claiming what another member
/// now owns, some owning a topic they no longer subscribe to).
fn assignor_case(
    rng: &mut CaseRng,
    index: usize,
    strategy: &str,
    owned: bool,
    differing_subscriptions: bool,
) -> rill_e2e::interop::java_assignors::AssignorCase {
    use rill_e2e::interop::java_assignors::{AssignorCase, CaseMember};
    let topic_names = ["orders", "payments", "refunds", "audit"];
    let topic_count = 1 + rng.below(4) as usize;
    let topics: BTreeMap<String, i32> = topic_names[..topic_count].iter().map(|t| (t.to_string(), 1 + rng.below(7) as i32)).collect();
    let same_subscription = !differing_subscriptions || rng.chance(50);
    let generation = 2 + rng.below(8) as i32;
    let member_count = 1 + rng.below(6) as usize;
    let mut members: Vec<CaseMember> = (0..member_count)
        .map(|m| {
            let subscribed: Vec<String> = if same_subscription {
                topics.keys().cloned().collect()
            } else {
                let picked: Vec<String> = topics.keys().filter(|_| rng.chance(60)).cloned().collect();
                if picked.is_empty() {
                    vec![topics.keys().next().cloned().unwrap_or_default()]
                } else {
                    picked
                }
            };
            CaseMember {
                member_id: format!("consumer-{:08x}", rng.next() as u32),
                group_instance_id: (strategy != "cooperative-sticky" && rng.chance(25)).then(|| format!("instance-{m}")),
                generation: -1,
                topics: subscribed,
                owned: Vec::new(),
            }
        })
        .collect();
    if owned && strategy == "cooperative-sticky" && rng.chance(85) {
        // The last generation's owners: members present then (not new) own what they held.
        let old: Vec<usize> = (0..members.len()).filter(|_| rng.chance(75)).collect();
        for m in &old {
            members[*m].generation = generation;
        }
        for (topic, partitions) in &topics {
            for partition in 0..*partitions {
                let holders: Vec<usize> = old.iter().copied().filter(|m| members[*m].topics.contains(topic)).collect();
                if holders.is_empty() || rng.chance(10) {
                    continue;
                }
                let holder = holders[rng.below(holders.len() as u64) as usize];
                members[holder].owned.push((topic.clone(), partition));
                // A member that missed the last rebalance still claims it.
                if holders.len() > 1 && rng.chance(8) {
                    let stale = holders[rng.below(holders.len() as u64) as usize];
                    if stale != holder && members[stale].owned.len() < 3 {
                        members[stale].generation = generation - 1;
                        members[stale].owned.push((topic.clone(), partition));
                    }
                }
            }
        }
        // A topic dropped from a subscription while its partitions are still owned.
        if !same_subscription && rng.chance(20) {
            let m = rng.below(members.len() as u64) as usize;
            if let Some((topic, partitions)) = topics.iter().find(|(t, _)| !members[m].topics.contains(t)) {
                if members[m].generation >= 0 {
                    members[m].owned.push((topic.clone(), rng.below(*partitions as u64) as i32));
                }
            }
        }
        for member in &mut members {
            member.owned.sort();
            member.owned.dedup();
        }
    }
    AssignorCase { name: format!("{strategy}-{index}"), strategy: strategy.to_string(), topics, members }
}

/// rill's assignors give every member what Kafka's own Java assignors give it,
/// case for case: range and roundrobin (static members, equal and differing
/// subscriptions), and cooperative-sticky for groups whose members all
/// subscribe to the same topics and own nothing yet, over one to four topics.
///
/// Not yet: the rest of cooperative-sticky. With ownership (`owned: true`)
/// 15 of 80 generated cases differ from Java: which member keeps a partition
/// above its quota and which partitions are taken away, and owned partitions
/// of topics a member no longer subscribes to; with differing subscriptions
/// and nothing owned, 1 of 80 (which member of equal load gets the next
/// partition). Java seems to follow its HashMap iteration order there (issue 5).
#[test]
fn assignors_assign_what_javas_assignors_assign() {
    use rill_client::config::AssignmentStrategy;
    use rill_client::consumer::group::{assign, MemberSubscription};
    let install = rill_e2e::kafka::provision::KafkaInstall::from_env().expect("Kafka is provisioned");
    let mut rng = CaseRng(0x5EED_0005);
    let cases: Vec<_> = ["range", "roundrobin", "cooperative-sticky"]
        .into_iter()
        .flat_map(|strategy| (0..80).map(move |i| (strategy, i)))
        .map(|(strategy, i)| {
            let sticky = strategy == "cooperative-sticky";
            assignor_case(&mut rng, i, strategy, false, !sticky)
        })
        .collect();
    let java = rill_e2e::interop::java_assignors::run_java_assignors(&install, &cases).expect("Java's assignors");
    let mut differing = Vec::new();
    for case in &cases {
        let strategy = AssignmentStrategy::from_name(&case.strategy).expect("strategy");
        let subscriptions: BTreeMap<String, MemberSubscription> = case
            .members
            .iter()
            .map(|m| {
                let subscription = MemberSubscription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    topics: m.topics.clone(),
                    owned_partitions: m.owned.iter().map(|(t, p)| tp(t, *p)).collect(),
                    generation: m.generation,
                };
                (m.member_id.clone(), subscription)
            })
            .collect();
        let ours: BTreeMap<String, Vec<(String, i32)>> = assign(strategy, &case.topics, &subscriptions)
            .into_iter()
            .map(|(member, partitions)| (member, partitions.into_iter().map(|p| (p.topic, p.partition)).collect()))
            .collect();
        let theirs = java.get(&case.name).cloned().unwrap_or_default();
        if ours != theirs {
            differing.push(format!("{case:?}\n  rill: {ours:?}\n  Java: {theirs:?}"));
        }
    }
    assert_eq!(java.len(), cases.len(), "Java answered every case");
    assert!(differing.is_empty(), "{} of {} cases differ:\n{}", differing.len(), cases.len(), differing.join("\n"));
}

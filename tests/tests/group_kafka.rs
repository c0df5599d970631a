//! rill's consumer-group member against real Kafka (single node): join,
//! sync, heartbeats, assignments per assignor, commits seen by Kafka's
//! `kafka-consumer-groups`, static membership, leaving on close and a
//! bounded close with the broker gone (mixed groups with Java consumers are
//! in group_java_interop).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_client::consumer::group::{GroupConsumer, GroupMember, MemberState, NoopListener, Subscription, TopicPartition};
use rill_client::consumer::{Consumer, Position};
use rill_client::{Client, ClientConfig};
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

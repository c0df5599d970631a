//! rill's consumer-group member in groups with Apache Kafka's Java client
//! (single node): mixed groups of a rill consumer and a Java console
//! consumer for each assignor, with either one leading; and rill's assignors
//! against Kafka's own Java assignors, case for case. Kept apart from
//! group_kafka so the version matrix (scripts/test) runs the protocol-level
//! group tests on older brokers without repeating these Java-side checks,
//! which do not depend on the broker's version.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_client::consumer::group::{GroupConsumer, MemberState, Subscription, TopicPartition};
use rill_client::consumer::Consumer;
use rill_client::{Client, ClientConfig};
use rill_e2e::interop::java_assignors::{AssignorCase, MemberAssignments};
use rill_e2e::interop::java_group_consumer::JavaGroupConsumer;
use rill_e2e::{KafkaCluster, Listener};

const WAIT: Duration = Duration::from_secs(60);

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

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
    mixed_group("range", "org.apache.kafka.clients.consumer.RangeAssignor", false).await;
}

#[tokio::test]
async fn mixed_group_range_with_java_leading() {
    mixed_group("range", "org.apache.kafka.clients.consumer.RangeAssignor", true).await;
}

#[tokio::test]
async fn mixed_group_roundrobin_with_rill_leading() {
    mixed_group("roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor", false).await;
}

#[tokio::test]
async fn mixed_group_roundrobin_with_java_leading() {
    mixed_group("roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor", true).await;
}

#[tokio::test]
async fn mixed_group_cooperative_sticky_with_rill_leading() {
    mixed_group("cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", false).await;
}

#[tokio::test]
async fn mixed_group_cooperative_sticky_with_java_leading() {
    mixed_group("cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", true).await;
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
fn assignor_case(rng: &mut CaseRng, index: usize, strategy: &str, owned: bool, differing_subscriptions: bool) -> AssignorCase {
    use rill_e2e::interop::java_assignors::CaseMember;
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
/// Not compared case for case: cooperative-sticky with owned partitions or
/// differing subscriptions, where Java picks among equal choices in its
/// HashMap iteration order (with ownership 15 of 80 generated cases pick
/// differently: which member keeps a partition above its quota, which
/// partitions are taken away; with differing subscriptions 1 of 80). The
/// test below checks those cases by the assignor's rules instead.
#[test]
fn assignors_assign_what_javas_assignors_assign() {
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
        let ours = rill_assign(case);
        let theirs = java.get(&case.name).cloned().unwrap_or_default();
        if ours != theirs {
            differing.push(format!("{case:?}\n  rill: {ours:?}\n  Java: {theirs:?}"));
        }
    }
    assert_eq!(java.len(), cases.len(), "Java answered every case");
    assert!(differing.is_empty(), "{} of {} cases differ:\n{}", differing.len(), cases.len(), differing.join("\n"));
}

/// rill's assignment of one case, in the runner's shape.
fn rill_assign(case: &AssignorCase) -> MemberAssignments {
    use rill_client::config::AssignmentStrategy;
    use rill_client::consumer::group::{assign, MemberSubscription};
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
    assign(strategy, &case.topics, &subscriptions)
        .into_iter()
        .map(|(member, partitions)| {
            let mut partitions: Vec<(String, i32)> = partitions.into_iter().map(|p| (p.topic, p.partition)).collect();
            partitions.sort();
            (member, partitions)
        })
        .collect()
}

/// Each partition's valid owner before a rebalance: the claimant with the
/// highest generation (KIP-429; a claim from an older generation is stale).
fn valid_owners(case: &AssignorCase) -> BTreeMap<(String, i32), String> {
    let mut owners: BTreeMap<(String, i32), (i32, String)> = BTreeMap::new();
    for m in &case.members {
        for owned in &m.owned {
            let better = owners.get(owned).is_none_or(|(generation, _)| m.generation > *generation);
            if better {
                owners.insert(owned.clone(), (m.generation, m.member_id.clone()));
            }
        }
    }
    owners.into_iter().map(|(p, (_, member))| (p, member)).collect()
}

/// The cooperative rules one round of an assignment must keep (KIP-429):
/// a partition goes to at most one member, only to a member subscribed to
/// its topic, and never to a member other than its valid owner in the same
/// round (it is revoked first and handed over in the follow-up rebalance).
/// Returns what is wrong, if anything.
fn cooperative_round_errors(case: &AssignorCase, assignment: &MemberAssignments) -> Vec<String> {
    let mut errors = Vec::new();
    let owners = valid_owners(case);
    let mut seen: BTreeMap<(String, i32), &str> = BTreeMap::new();
    for (member, partitions) in assignment {
        let Some(subscriber) = case.members.iter().find(|m| &m.member_id == member) else {
            errors.push(format!("{member} is not a member"));
            continue;
        };
        for p in partitions {
            if !subscriber.topics.contains(&p.0) || case.topics.get(&p.0).is_none_or(|count| p.1 >= *count) {
                errors.push(format!("{p:?} given to {member}, not subscribed to it or no such partition"));
            }
            if let Some(other) = seen.insert(p.clone(), member) {
                errors.push(format!("{p:?} given to both {other} and {member}"));
            }
            if let Some(owner) = owners.get(p) {
                if owner != member {
                    errors.push(format!("{p:?} given to {member} while {owner} still owns it"));
                }
            }
        }
    }
    errors
}

/// After the follow-up rebalance every partition with a subscriber is
/// assigned, and the assignment is balanced in the sticky assignor's sense:
/// a member with two or more partitions more than another holds none the
/// other could take (its topics are not in the other's subscription).
fn settled_errors(case: &AssignorCase, assignment: &MemberAssignments) -> Vec<String> {
    let mut errors = cooperative_round_errors(case, assignment);
    for (topic, count) in &case.topics {
        if !case.members.iter().any(|m| m.topics.contains(topic)) {
            continue;
        }
        for partition in 0..*count {
            if !assignment.values().any(|ps| ps.contains(&(topic.clone(), partition))) {
                errors.push(format!("{topic}-{partition} unassigned after the follow-up rebalance"));
            }
        }
    }
    let load = |m: &str| assignment.get(m).map_or(0, Vec::len);
    for big in &case.members {
        for small in &case.members {
            if load(&big.member_id) > load(&small.member_id) + 1 {
                if let Some(p) = assignment.get(&big.member_id).into_iter().flatten().find(|(t, _)| small.topics.contains(t)) {
                    errors.push(format!(
                        "unbalanced: {} holds {} partitions, {} holds {} and could take {p:?}",
                        big.member_id,
                        load(&big.member_id),
                        small.member_id,
                        load(&small.member_id)
                    ));
                }
            }
        }
    }
    errors
}

/// The group one rebalance later: every member owns what it was given, one
/// generation on.
fn follow_up(case: &AssignorCase, assignment: &MemberAssignments) -> AssignorCase {
    let generation = case.members.iter().map(|m| m.generation).max().unwrap_or(0).max(0) + 1;
    let mut next = case.clone();
    for m in &mut next.members {
        m.generation = generation;
        m.owned = assignment.get(&m.member_id).cloned().unwrap_or_default();
    }
    next
}

/// Partitions whose owner after the follow-up rebalance is not their valid
/// owner before the first one: what the group had to move.
fn moved(before: &AssignorCase, settled: &MemberAssignments) -> usize {
    valid_owners(before)
        .iter()
        .filter(|(p, owner)| {
            let now = settled.iter().find(|(_, ps)| ps.contains(p)).map(|(m, _)| m);
            now.is_some_and(|now| now != *owner)
        })
        .count()
}

/// cooperative-sticky with owned partitions (members new, stale, owning
/// topics they no longer subscribe to): where Java's choices follow its
/// HashMap iteration order, comparing case for case says little, so the
/// rules are checked instead, on rill's and Java's answers alike (Java
/// passing them shows the checks are right): each round is cooperative
/// (nothing handed to a new owner while another still owns it), the
/// follow-up rebalance settles to a complete, balanced assignment, and rill
/// moves no more partitions than Java over the two rounds, summed over the
/// cases (issue 5).
#[test]
fn cooperative_sticky_with_owned_partitions_keeps_the_rules_and_moves_no_more_than_java() {
    use rill_e2e::interop::java_assignors::run_java_assignors;
    let install = rill_e2e::kafka::provision::KafkaInstall::from_env().expect("Kafka is provisioned");
    let mut rng = CaseRng(0x5EED_0429);
    let cases: Vec<_> = (0..80).map(|i| assignor_case(&mut rng, i, "cooperative-sticky", true, i % 2 == 1)).collect();
    let java_first = run_java_assignors(&install, &cases).expect("Java's assignors, first round");
    assert_eq!(java_first.len(), cases.len(), "Java answered every case");
    let rill_first: Vec<_> = cases.iter().map(rill_assign).collect();

    let java_cases: Vec<_> = cases.iter().map(|c| follow_up(c, &java_first[&c.name])).collect();
    let rill_cases: Vec<_> = cases.iter().zip(&rill_first).map(|(c, a)| follow_up(c, a)).collect();
    let java_second = run_java_assignors(&install, &java_cases).expect("Java's assignors, follow-up round");
    let rill_second: Vec<_> = rill_cases.iter().map(rill_assign).collect();

    let mut errors = Vec::new();
    let (mut rill_moved, mut java_moved) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        for (who, first, second, next) in [
            ("Java", &java_first[&case.name], &java_second[&case.name], &java_cases[i]),
            ("rill", &rill_first[i], &rill_second[i], &rill_cases[i]),
        ] {
            for error in cooperative_round_errors(case, first) {
                errors.push(format!("{} first round, {who}: {error}", case.name));
            }
            for error in settled_errors(next, second) {
                errors.push(format!("{} follow-up, {who}: {error}", case.name));
            }
        }
        java_moved += moved(case, &java_second[&case.name]);
        rill_moved += moved(case, &rill_second[i]);
    }
    assert!(errors.is_empty(), "{} rule violations:\n{}", errors.len(), errors.join("\n"));
    assert!(rill_moved <= java_moved, "rill moved {rill_moved} partitions over the 80 cases, Java {java_moved}");
    eprintln!("cooperative-sticky with owned partitions: rill moved {rill_moved} partitions, Java {java_moved}, over 80 cases");
}

//! Group correctness on the 3-node cluster. Three groups, one per assignor
//! (range, roundrobin, cooperative-sticky), consume one topic side by side
//! with commit-after-process (and a commit in the revoked callback, as
//! Java applications do) while a Java producer writes a numbered sequence.
//! Each group starts with three rill members; then in every group a member
//! dies (dropped: no LeaveGroup, no commit, no more heartbeats) and a new
//! one joins, the groups' coordinator is `kill -9`'d and restarted, another
//! broker is `kill -9`'d and restarted, and a member leaves cleanly.
//!
//! Checked per group: every produced record is processed; a record is
//! processed again only if no commit past it had been acknowledged to any
//! member by then (those duplicates are counted and reported: after the
//! last commit of the member that died, or after a commit refused or left
//! in doubt while the coordinator was down or the group rebalancing); the
//! group's committed offsets, sampled all along with the admin client's
//! stable OffsetFetch, never decrease. (Stable: a coordinator that just
//! took over answers a plain OffsetFetch from what its high watermark
//! covers, which can trail commits its predecessor acknowledged.) At the
//! end every broker is killed and the remaining members' `close()` returns
//! within its timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use rill_client::consumer::group::callbacks::CallbackFuture;
use rill_client::consumer::group::{GroupConsumer, RebalanceListener, Subscription, TopicPartition};
use rill_client::{Client, ClientConfig};
use rill_e2e::{KafkaCluster, Listener};

use crate::common;

const PARTITIONS: i32 = 6;
const RECORDS: usize = 180;
const WAIT: Duration = Duration::from_secs(180);
const STRATEGIES: [&str; 3] = ["range", "roundrobin", "cooperative-sticky"];
/// Numbers every poll's processing and every acknowledged commit across
/// members, so the check below knows which member processed a record first
/// and whether a commit past it had been acknowledged by then. (Taking the
/// members in list order instead blamed a member listed earlier for a
/// record a member listed later had processed before it, once the later
/// one's commit was refused; and taking a member's highest acknowledged
/// commit of the whole run blamed a member whose commit was left in doubt
/// by the coordinator's kill for processing again what it later committed:
/// both false "processed again after their commit was acknowledged".)
static ORDER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What one member processed and what of it was acknowledged as committed.
#[derive(Default)]
struct MemberLog {
    name: String,
    topic: String,
    /// (partition, offset, value, when) in processing order; `when` orders
    /// the processing of all members ([`ORDER`]).
    processed: Mutex<Vec<(i32, i64, String, u64)>>,
    /// (partition, highest commit acknowledged to this member, when) after each acknowledged commit.
    acknowledged: Mutex<Vec<(i32, i64, u64)>>,
    refused_commits: AtomicUsize,
}

impl MemberLog {
    /// Commits everything processed so far; notes what the broker acknowledged.
    async fn commit(&self, consumer: &GroupConsumer) {
        match consumer.commit_consumed().await {
            Ok(()) => {
                // The member forgets a partition's acknowledged commit when it gives the partition up: read them now.
                let partitions: BTreeSet<i32> = self.processed.lock().unwrap().iter().map(|r| r.0).collect();
                let when = ORDER.fetch_add(1, Ordering::SeqCst);
                let mut acknowledged = self.acknowledged.lock().unwrap();
                for p in partitions {
                    if let Some(offset) = consumer.member().acknowledged_commit(&TopicPartition::new(self.topic.clone(), p)) {
                        acknowledged.push((p, offset, when));
                    }
                }
            }
            Err(e) => {
                self.refused_commits.fetch_add(1, Ordering::SeqCst);
                eprintln!("{}: commit refused (redone with the next batch): {e}", self.name);
            }
        }
    }
}

/// Commits what was processed before partitions are handed over.
struct CommitOnRevoke {
    consumer: OnceLock<Weak<GroupConsumer>>,
    log: Arc<MemberLog>,
}

impl RebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked<'a>(&'a self, _partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async move {
            if let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) {
                self.log.commit(&consumer).await;
            }
        })
    }
    fn on_partitions_assigned<'a>(&'a self, _partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async {})
    }
    fn on_partitions_lost<'a>(&'a self, _partitions: &'a BTreeSet<TopicPartition>) -> CallbackFuture<'a> {
        Box::pin(async {})
    }
}

struct Member {
    consumer: Arc<GroupConsumer>,
    task: tokio::task::JoinHandle<()>,
}

struct Group {
    strategy: &'static str,
    name: String,
    members: Vec<Member>,
    logs: Vec<Arc<MemberLog>>,
    /// Names of the members that died.
    dead: BTreeSet<String>,
}

fn config(cluster: &KafkaCluster, group: &str, strategy: &str, name: &str) -> ClientConfig {
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", name),
        ("group.id", group),
        ("partition.assignment.strategy", strategy),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("session.timeout.ms", "8000"),
        ("heartbeat.interval.ms", "500"),
        ("max.poll.interval.ms", "30000"),
        ("max.poll.records", "10"),
        ("request.timeout.ms", "10000"),
    ])
    .expect("config")
}

impl Group {
    async fn start_member(&mut self, cluster: &KafkaCluster, topic: &str, name: &str, stop: &Arc<AtomicBool>) {
        let log = Arc::new(MemberLog { name: format!("{}/{name}", self.strategy), topic: topic.to_string(), ..Default::default() });
        let listener = Arc::new(CommitOnRevoke { consumer: OnceLock::new(), log: log.clone() });
        let client = Client::connect(config(cluster, &self.name, self.strategy, name)).await.expect("connect");
        let consumer = Arc::new(GroupConsumer::subscribe(client, Subscription::topics([topic]), listener.clone()).expect("subscribe"));
        let _ = listener.consumer.set(Arc::downgrade(&consumer));
        let task = tokio::spawn(process_and_commit(consumer.clone(), log.clone(), stop.clone()));
        self.members.push(Member { consumer, task });
        self.logs.push(log);
    }

    fn unique_values(&self) -> usize {
        self.logs
            .iter()
            .flat_map(|l| l.processed.lock().unwrap().iter().map(|r| r.2.clone()).collect::<Vec<_>>())
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// Poll, process (log the record), commit; until stopped.
async fn process_and_commit(consumer: Arc<GroupConsumer>, log: Arc<MemberLog>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let records = match consumer.poll(Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{}: poll: {e}", log.name);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if records.is_empty() {
            continue;
        }
        let when = ORDER.fetch_add(1, Ordering::SeqCst);
        log.processed.lock().unwrap().extend(
            records
                .iter()
                .map(|r| (r.partition, r.offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(), when)),
        );
        log.commit(&consumer).await;
    }
}

/// Restarts a killed node off the test's thread (the members' heartbeats run on it).
async fn restart(node: u32) {
    tokio::task::spawn_blocking(move || KafkaCluster::three_nodes().restart(node))
        .await
        .expect("restart task")
        .expect("restart a killed node");
}

/// A group name for `strategy` whose coordinator is `coordinator` (the
/// groups share it, so one coordinator kill hits all three), if one of a
/// few candidates has it.
async fn group_coordinated_by(cluster: &KafkaCluster, admin: &Client, strategy: &str, coordinator: Option<i32>) -> (String, i32) {
    let mut fallback = None;
    for _ in 0..12 {
        let name = cluster.unique_topic(&format!("group-3n-{strategy}-g"));
        // The first look-up creates __consumer_offsets: COORDINATOR_NOT_AVAILABLE until it has leaders.
        let started = Instant::now();
        let node = loop {
            match admin.find_group_coordinator(&name).await {
                Ok(node) => break node,
                Err(e) => assert!(started.elapsed() < WAIT, "FindCoordinator for {name}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if coordinator.is_none_or(|c| c == node) {
            return (name, node);
        }
        fallback.get_or_insert((name, node));
    }
    fallback.expect("at least one candidate")
}

#[tokio::test]
async fn groups_of_every_assignor_survive_member_broker_and_coordinator_failures() {
    let _serial = common::three_nodes_alone().await;
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic("group-3n");
    cluster.create_topic(&topic, PARTITIONS as u32, 3).expect("create topic");
    let admin_config =
        ClientConfig::from_properties([("bootstrap.servers", cluster.bootstrap(Listener::Plaintext).as_str())]).expect("config");
    let admin = Arc::new(Client::connect(admin_config).await.expect("admin client"));

    let stop = Arc::new(AtomicBool::new(false));
    let mut groups = Vec::new();
    let mut coordinator = None;
    for strategy in STRATEGIES {
        let (name, node) = group_coordinated_by(cluster, &admin, strategy, coordinator).await;
        coordinator.get_or_insert(node);
        groups.push(Group { strategy, name, members: Vec::new(), logs: Vec::new(), dead: BTreeSet::new() });
    }
    for group in &mut groups {
        for name in ["c1", "c2", "c3"] {
            group.start_member(cluster, &topic, name, &stop).await;
        }
    }

    // The producer: a numbered sequence through Kafka's Java client, over
    // every partition in turn (its default partitioner put all of a run's
    // records in one partition, leaving most members idle); failed sends
    // are sent again.
    let producer_topic = topic.clone();
    let producer = std::thread::spawn(move || {
        let cluster = KafkaCluster::three_nodes();
        for n in 0..RECORDS {
            let value = format!("n-{n}");
            let partition = n as i32 % PARTITIONS;
            let started = Instant::now();
            while !matches!(cluster.produce_acks_all_to(&producer_topic, partition, &value), Ok(Ok(_))) {
                assert!(started.elapsed() < Duration::from_secs(90), "could not produce {value}");
                std::thread::sleep(Duration::from_millis(200));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    // Every group's committed offsets (the admin client's OffsetFetch), sampled all along.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (admin, sampling) = (admin.clone(), sampling.clone());
        let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        tokio::spawn(async move {
            let mut highest: BTreeMap<(String, i32), i64> = BTreeMap::new();
            let (mut decreases, mut samples) = (Vec::new(), 0usize);
            while sampling.load(Ordering::SeqCst) {
                for group in &names {
                    let Ok(offsets) = admin.list_stable_group_offsets(group, None).await else {
                        continue;
                    };
                    samples += 1;
                    for ((_, partition), offset) in offsets {
                        let Ok(offset) = offset else { continue };
                        let previous = highest.entry((group.clone(), partition)).or_insert(offset.offset);
                        if offset.offset < *previous {
                            decreases.push(format!("{group} partition {partition}: {previous} -> {}", offset.offset));
                        }
                        *previous = (*previous).max(offset.offset);
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            (decreases, samples, highest)
        })
    };

    async fn wait_for(groups: &[Group], target: usize, what: &str) {
        let started = Instant::now();
        loop {
            let counts: Vec<usize> = groups.iter().map(Group::unique_values).collect();
            if counts.iter().all(|c| *c >= target) {
                return;
            }
            assert!(started.elapsed() < WAIT, "{what}: stuck below {target} processed records: {counts:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    wait_for(&groups, RECORDS / 6, "before the first member dies").await;
    // In every group c2 dies (no LeaveGroup, no commit; its session expires) and c4 joins.
    for group in &mut groups {
        let dead = group.members.remove(1);
        dead.task.abort();
        let _ = dead.task.await;
        drop(dead.consumer);
        group.dead.insert(format!("{}/c2", group.strategy));
        group.start_member(cluster, &topic, "c4", &stop).await;
    }

    wait_for(&groups, RECORDS * 2 / 6, "before the coordinator is killed").await;
    let coordinator = admin.find_group_coordinator(&groups[0].name).await.expect("FindCoordinator") as u32;
    let shared = groups.len() - {
        let mut others = 0;
        for g in &groups[1..] {
            others += usize::from(admin.find_group_coordinator(&g.name).await.ok() != Some(coordinator as i32));
        }
        others
    };
    eprintln!("killing node {coordinator}, the coordinator of {shared} of the {} groups", groups.len());
    cluster.kill(coordinator);
    tokio::time::sleep(Duration::from_secs(5)).await;
    restart(coordinator).await;

    wait_for(&groups, RECORDS * 3 / 6, "before a broker is killed").await;
    let now_coordinating = admin.find_group_coordinator(&groups[0].name).await.ok();
    let victim = cluster.node_ids().into_iter().find(|n| Some(*n as i32) != now_coordinating && *n != coordinator).expect("another node");
    cluster.kill(victim);
    tokio::time::sleep(Duration::from_secs(5)).await;
    restart(victim).await;

    wait_for(&groups, RECORDS * 4 / 6, "before a member leaves").await;
    // In every group c3 leaves cleanly (commits in its revoked callback, LeaveGroup).
    for group in &mut groups {
        let leaving = group.members.remove(1);
        leaving.task.abort();
        let _ = leaving.task.await;
        leaving.consumer.close(Duration::from_secs(15)).await.expect("close c3");
    }

    producer.join().expect("producer");
    wait_for(&groups, RECORDS, "the end of the sequence").await;
    stop.store(true, Ordering::SeqCst);
    for group in &mut groups {
        for member in &mut group.members {
            (&mut member.task).await.expect("member task");
        }
    }
    sampling.store(false, Ordering::SeqCst);
    let (decreases, samples, _) = sampler.await.expect("sampler");

    // Shutdown: with every broker killed, close() still returns within its timeout.
    let nodes = cluster.node_ids();
    for node in &nodes {
        cluster.kill(*node);
    }
    let closing: Vec<_> = groups
        .iter_mut()
        .flat_map(|g| g.members.drain(..))
        .map(|member| {
            tokio::spawn(async move {
                let started = Instant::now();
                let outcome = member.consumer.close(Duration::from_secs(3)).await;
                (started.elapsed(), outcome.err().map(|e| e.to_string()))
            })
        })
        .collect();
    for close in closing {
        let (took, error) = close.await.expect("close");
        eprintln!("close with every broker down took {took:?} ({error:?})");
        assert!(took < Duration::from_millis(3_500), "close took {took:?} with every broker down");
    }
    // The brokers come back together (a lone node waits for its controller quorum).
    let restarts: Vec<_> = nodes.iter().copied().map(|n| std::thread::spawn(move || KafkaCluster::three_nodes().restart(n))).collect();
    for restart in restarts {
        restart.join().expect("restart thread").expect("restart a node");
    }

    let expected: BTreeSet<String> = (0..RECORDS).map(|n| format!("n-{n}")).collect();
    let mut failures = Vec::new();
    for group in &groups {
        // The first processing of every (partition, offset), and by whom.
        let mut first: BTreeMap<(i32, i64), (&Arc<MemberLog>, u64)> = BTreeMap::new();
        let (mut after_death, mut after_refusal, mut total) = (0usize, 0usize, 0usize);
        let mut values = BTreeSet::new();
        let mut rewound = Vec::new();
        let mut processed_all: Vec<(u64, &Arc<MemberLog>, i32, i64)> = Vec::new();
        for log in &group.logs {
            for (partition, offset, value, when) in log.processed.lock().unwrap().iter() {
                values.insert(value.clone());
                processed_all.push((*when, log, *partition, *offset));
            }
        }
        // In processing order (stable: a member's own records keep theirs).
        processed_all.sort_by_key(|(when, ..)| *when);
        for (when, log, partition, offset) in processed_all {
            total += 1;
            match first.get(&(partition, offset)) {
                None => {
                    first.insert((partition, offset), (log, when));
                }
                Some((earlier, earlier_when)) => {
                    // A commit past the record, acknowledged to any member before this processing.
                    let committed_past = group.logs.iter().find_map(|l| {
                        let acknowledged = l.acknowledged.lock().unwrap();
                        let ack = acknowledged.iter().find(|(p, a, at)| *p == partition && *a > offset && *at < when).copied();
                        ack.map(|(_, a, at)| (l.name.clone(), a, at))
                    });
                    if let Some((committer, committed, at)) = committed_past {
                        rewound.push(format!(
                            "{partition}@{offset}: processed by {} (#{earlier_when}), {committer} had {committed} acknowledged (#{at}), \
                             processed again by {} (#{when})",
                            earlier.name, log.name
                        ));
                    } else if group.dead.contains(&earlier.name) {
                        after_death += 1;
                    } else {
                        after_refusal += 1;
                    }
                }
            }
        }
        let refused: usize = group.logs.iter().map(|l| l.refused_commits.load(Ordering::SeqCst)).sum();
        eprintln!(
            "{}: {RECORDS} produced, {total} processed; duplicates: {after_death} after the last commit of the member that died, \
             {after_refusal} after commits that were never acknowledged ({refused} refused commits); {samples} offset samples",
            group.strategy
        );
        let missing: Vec<&String> = expected.difference(&values).collect();
        if !missing.is_empty() {
            failures.push(format!("{}: records never processed: {missing:?}", group.strategy));
        }
        if !rewound.is_empty() {
            failures.push(format!("{}: records processed again after their commit was acknowledged: {rewound:?}", group.strategy));
        }
    }
    assert!(decreases.is_empty(), "committed offsets went backwards: {decreases:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}

//! Group correctness on the 3-node cluster: rill group consumers with
//! commit-after-process, while a Java producer writes a numbered sequence,
//! members join, leave and die (dropped without leaving), and a broker is
//! `kill -9`'d and restarted. Every produced record is processed, the
//! duplicates are counted and reported, and the group's committed offsets
//! (sampled all along) never decrease.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill_client::consumer::group::{GroupConsumer, NoopListener, Subscription, TopicPartition};
use rill_client::{Client, ClientConfig};
use rill_e2e::{KafkaCluster, Listener};

const PARTITIONS: i32 = 6;
const RECORDS: usize = 150;
const WAIT: Duration = Duration::from_secs(180);

async fn start(cluster: &KafkaCluster, group: &str, topic: &str, strategy: &str, name: &str) -> Arc<GroupConsumer> {
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let properties = [
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
    ];
    let config = ClientConfig::from_properties(properties).expect("config");
    let client = Client::connect(config).await.expect("connect");
    Arc::new(GroupConsumer::subscribe(client, Subscription::topics([topic]), Arc::new(NoopListener)).expect("subscribe"))
}

/// Poll, process (record the value), commit; until stopped.
fn run_member(consumer: Arc<GroupConsumer>, processed: Arc<Mutex<Vec<String>>>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let records = match consumer.poll(Duration::from_millis(200)).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("poll: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if records.is_empty() {
                continue;
            }
            processed
                .lock()
                .unwrap()
                .extend(records.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
            if let Err(e) = consumer.commit_consumed().await {
                eprintln!("commit after processing refused (redone with the next batch): {e}");
            }
        }
    })
}

/// Held by a scenario while it runs (see `scenario`).
static BROKER_FAULTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn scenario(strategy: &str) {
    // The scenarios kill and restart the same broker of the shared cluster:
    // they run one at a time (two kills of one node race to its restart).
    let _faults = BROKER_FAULTS.lock().await;
    let cluster = KafkaCluster::three_nodes();
    let topic = cluster.unique_topic(&format!("group-3n-{strategy}"));
    cluster.create_topic(&topic, PARTITIONS as u32, 3).expect("create topic");
    let group = cluster.unique_topic(&format!("group-3n-{strategy}-g"));

    // The producer: a numbered sequence through Kafka's Java client; failed sends are sent again.
    let producer_topic = topic.clone();
    let producer = std::thread::spawn(move || {
        let cluster = KafkaCluster::three_nodes();
        for n in 0..RECORDS {
            let value = format!("n-{n}");
            let started = Instant::now();
            while !matches!(cluster.produce_acks_all(&producer_topic, &value), Ok(Ok(_))) {
                assert!(started.elapsed() < Duration::from_secs(90), "could not produce {value}");
                std::thread::sleep(Duration::from_millis(200));
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    });

    let processed = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let names = ["c1", "c2", "c3"];
    let mut members = Vec::new();
    for name in names {
        let c = start(cluster, &group, &topic, strategy, name).await;
        let task = run_member(c.clone(), processed.clone(), stop.clone());
        members.push((c, task));
    }

    // The group's committed offsets (OffsetFetch through c1), sampled all along: they must never decrease.
    let all: BTreeSet<TopicPartition> = (0..PARTITIONS).map(|p| TopicPartition::new(topic.clone(), p)).collect();
    let watcher = members[0].0.clone();
    let sampling = Arc::new(AtomicBool::new(true));
    let (samples_flag, watched) = (sampling.clone(), all.clone());
    let sampler = tokio::spawn(async move {
        let mut highest: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut decreases = Vec::new();
        while samples_flag.load(Ordering::SeqCst) {
            if let Ok(committed) = watcher.member().committed(&watched).await {
                for (tp, offset) in committed {
                    let Some(offset) = offset.map(|p| p.offset) else { continue };
                    let previous = highest.entry(tp.clone()).or_insert(offset);
                    if offset < *previous {
                        decreases.push(format!("{tp}: {previous} -> {offset}"));
                    }
                    *previous = (*previous).max(offset);
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        decreases
    });

    let count = |processed: &Arc<Mutex<Vec<String>>>| processed.lock().unwrap().iter().collect::<BTreeSet<_>>().len();
    let wait_for = |target: usize| {
        let processed = processed.clone();
        async move {
            let started = Instant::now();
            while count(&processed) < target {
                assert!(started.elapsed() < WAIT, "stuck below {target} processed records");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    wait_for(RECORDS / 5).await;
    // c2 dies: no LeaveGroup, no commit; the group notices when its session times out.
    let (dead, dead_task) = members.remove(1);
    dead_task.abort();
    drop(dead);
    let c4 = start(cluster, &group, &topic, strategy, "c4").await;
    members.push((c4.clone(), run_member(c4, processed.clone(), stop.clone())));

    wait_for(RECORDS * 2 / 5).await;
    let victim = cluster.node_ids()[1];
    cluster.kill(victim);
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.restart(victim).expect("restart the killed broker");

    wait_for(RECORDS * 3 / 5).await;
    // c3 leaves cleanly.
    let (leaving, leaving_task) = members.remove(1);
    leaving.close(Duration::from_secs(15)).await.expect("close c3");
    leaving_task.abort();

    producer.join().expect("producer");
    wait_for(RECORDS).await;
    stop.store(true, Ordering::SeqCst);
    for (c, task) in members {
        let _ = task.await;
        c.close(Duration::from_secs(15)).await.expect("close");
    }
    sampling.store(false, Ordering::SeqCst);
    let decreases = sampler.await.expect("sampler");

    let processed = processed.lock().unwrap().clone();
    let unique: BTreeSet<&String> = processed.iter().collect();
    let expected: BTreeSet<String> = (0..RECORDS).map(|n| format!("n-{n}")).collect();
    let missing: Vec<&String> = expected.iter().filter(|v| !unique.contains(v)).collect();
    eprintln!(
        "{strategy}: {RECORDS} produced, {} processed, {} duplicates (records processed after the dead member's last commit, or redelivered after a refused commit)",
        processed.len(),
        processed.len() - unique.len()
    );
    assert!(missing.is_empty(), "{strategy}: records never processed: {missing:?}");
    assert!(decreases.is_empty(), "{strategy}: committed offsets went backwards: {decreases:?}");
}

#[tokio::test]
async fn cooperative_sticky_group_survives_member_and_broker_failures() {
    scenario("cooperative-sticky").await;
}

#[tokio::test]
async fn range_group_survives_member_and_broker_failures() {
    scenario("range").await;
}

//! KIP-320 truncation detection against real Kafka (issue 5): on the 3-node
//! cluster a partition on replicas [1, 2] (`unclean.leader.election.enable=true`,
//! `min.insync.replicas=1`) gets a diverging log. Node 2 is frozen
//! (SIGSTOP) so it leaves the ISR and misses records that node 1, the
//! leader, appends; three rill consumers (`auto.offset.reset` earliest,
//! latest and none) read all of them; node 1 is killed, node 2 thawed and
//! elected leader with Kafka's tool (`--election-type UNCLEAN`): its log ends
//! before the consumers' position. Each consumer must detect the truncation
//! (OffsetForLeaderEpoch or the fetch's diverging epoch), log it, and go on
//! per policy: earliest and latest resume at the divergence point and read
//! what the new leader appends there, none returns a typed
//! [`Error::LogTruncation`] and fetches nothing until the application seeks.
//! None of them silently skips the new leader's records at the divergent offsets.
//! Then node 1 restarts, truncates its own suffix and leads again: a fresh
//! consumer reads through it exactly the new leader's log, with no truncation.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rill_client::consumer::{Consumer, Offset, TopicPartition};
use rill_client::{AlterConfigOp, Client, ClientConfig, ConfigResource, Error};
use rill_e2e::{KafkaCluster, Listener};

use crate::common;

const TIMEOUT: Duration = Duration::from_secs(90);
/// Records both replicas have, then records only node 1 has, then records
/// the new leader (node 2) appends after the unclean election.
const BOTH: i64 = 20;
const ONLY_OLD_LEADER: i64 = 30;
const AFTER: i64 = 10;

/// Everything rill logs at WARN and above in this binary.
fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let subscriber =
            tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_ansi(false).with_writer(move || LogWriter(logs)).finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        logs
    })
}

struct LogWriter(&'static Mutex<Vec<u8>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Thaws a frozen node when the test ends, however it ends.
struct Thaw(&'static KafkaCluster, u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        self.0.resume(self.1);
    }
}

async fn new_consumer(cluster: &KafkaCluster, policy: &str) -> Consumer {
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", format!("rill-e2e-truncation-{policy}").as_str()),
        ("auto.offset.reset", policy),
        ("fetch.max.wait.ms", "200"),
        ("request.timeout.ms", "5000"),
        ("reconnect.backoff.max.ms", "500"),
    ])
    .expect("config");
    Consumer::from_client(Client::connect(config).await.expect("connect")).expect("consumer")
}

/// What one consumer saw, in order: records (offset, value) and poll errors.
#[derive(Debug, Clone)]
enum Seen {
    Record(i64, String),
    Failed(Error),
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn spawn_reader(consumer: Arc<Consumer>, stop: Arc<AtomicBool>) -> (Log, tokio::task::JoinHandle<()>) {
    let seen: Log = Arc::default();
    let sink = seen.clone();
    let task = tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let polled = consumer.poll(Duration::from_millis(200)).await;
            let mut sink = sink.lock().expect("lock");
            match polled {
                Ok(records) => sink.extend(
                    records
                        .into_iter()
                        .map(|r| Seen::Record(r.offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())),
                ),
                Err(e) => sink.push(Seen::Failed(e)),
            }
        }
    });
    (seen, task)
}

fn records(seen: &Log) -> Vec<(i64, String)> {
    seen.lock()
        .expect("lock")
        .iter()
        .filter_map(|s| match s {
            Seen::Record(offset, value) => Some((*offset, value.clone())),
            Seen::Failed(_) => None,
        })
        .collect()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a blocking harness call on the blocking pool, so the readers keep running.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking harness call")
}

fn produce(cluster: &KafkaCluster, topic: &str, values: impl Iterator<Item = String>) {
    for value in values {
        match cluster.produce_acks_all(topic, &value) {
            Ok(Ok(_)) => {}
            other => panic!("producing {value}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclean_leader_election_is_detected_as_truncation_and_handled_per_policy() {
    let _serial = common::three_nodes_alone().await;
    let logs = captured_logs();
    let cluster = KafkaCluster::three_nodes();
    let (old_leader, stale) = (1u32, 2u32);
    let topic = cluster.unique_topic("truncation");
    cluster.create_topic_with_assignment(&topic, &[vec![old_leader, stale]]).expect("create topic");
    let admin = Client::connect(
        ClientConfig::from_properties([("bootstrap.servers", cluster.bootstrap(Listener::Plaintext).as_str())]).expect("config"),
    )
    .await
    .expect("connect");
    let altered = admin
        .incremental_alter_configs(&[(
            ConfigResource::topic(&topic),
            vec![AlterConfigOp::set("unclean.leader.election.enable", "true"), AlterConfigOp::set("min.insync.replicas", "1")],
        )])
        .await
        .expect("alter topic configs");
    assert!(altered.values().all(|r| r.is_ok()), "{altered:?}");
    let t = topic.clone();
    blocking(move || cluster.wait_for_partition(&t, 0, TIMEOUT, "both replicas in sync", |s| s.isr.len() == 2 && s.leader == Some(1)))
        .await
        .expect("in sync");
    let t = topic.clone();
    blocking(move || produce(cluster, &t, (0..BOTH).map(|n| format!("both-{n}")))).await;

    let tp = TopicPartition::new(&topic, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let (mut readers, mut tasks) = (Vec::new(), Vec::new());
    for policy in ["earliest", "latest", "none"] {
        let consumer = Arc::new(new_consumer(cluster, policy).await);
        consumer.assign(std::slice::from_ref(&tp)).expect("assign");
        consumer.seek(&tp, Offset::Beginning).await.expect("seek to the beginning");
        let (seen, task) = spawn_reader(consumer.clone(), stop.clone());
        readers.push((policy, consumer, seen));
        tasks.push(task);
    }

    // Node 2 freezes and drops out of the ISR; node 1 alone takes more records.
    blocking(move || cluster.pause(stale)).await;
    let thaw = Thaw(cluster, stale);
    let t = topic.clone();
    let isr = blocking(move || cluster.wait_for_partition(&t, 0, TIMEOUT, "node 2 out of the ISR", |s| s.isr == vec![1]))
        .await
        .expect("ISR shrinks to the leader");
    eprintln!("node {stale} frozen: {isr:?}");
    let t = topic.clone();
    blocking(move || produce(cluster, &t, (BOTH..BOTH + ONLY_OLD_LEADER).map(|n| format!("old-leader-only-{n}")))).await;
    let end = BOTH + ONLY_OLD_LEADER;
    for (policy, consumer, _) in &readers {
        wait_until(&format!("the {policy} consumer reading to offset {end}"), || consumer.position(&tp) == Some(end)).await;
    }

    // The leader dies; the stale replica comes back and is elected uncleanly.
    blocking(move || cluster.kill(old_leader)).await;
    drop(thaw);
    let t = topic.clone();
    let elected = blocking(move || {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let state = cluster.describe_topic(&t).ok().and_then(|s| s.into_iter().find(|p| p.partition == 0));
            if let Some(state) = state.as_ref().filter(|s| s.leader == Some(stale)) {
                return state.clone();
            }
            assert!(std::time::Instant::now() < deadline, "node {stale} never became leader: {state:?}");
            // Kafka 4 may elect it by itself (the topic allows unclean
            // elections); the tool forces it otherwise.
            if let Err(e) = cluster.elect_unclean_leader(&t, 0) {
                eprintln!("unclean election not done yet: {e}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await;
    eprintln!("after the unclean election: {elected:?}");
    // The new leader's log ends at BOTH; what it appends there differs from what was read.
    let t = topic.clone();
    blocking(move || produce(cluster, &t, (BOTH..BOTH + AFTER).map(|n| format!("new-leader-{n}")))).await;

    for (policy, _, seen) in &readers[..2] {
        wait_until(&format!("the {policy} consumer reading the new leader's records"), || {
            records(seen).iter().filter(|(_, v)| v.starts_with("new-leader-")).count() == AFTER as usize
        })
        .await;
    }
    let (_, none_consumer, none_seen) = &readers[2];
    wait_until("the none consumer failing", || none_seen.lock().expect("lock").iter().any(|s| matches!(s, Seen::Failed(_)))).await;
    // With none, nothing is fetched after the error until the application seeks.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("reader");
    }

    let before: Vec<(i64, String)> =
        (0..BOTH).map(|n| (n, format!("both-{n}"))).chain((BOTH..end).map(|n| (n, format!("old-leader-only-{n}")))).collect();
    let after: Vec<(i64, String)> = (BOTH..BOTH + AFTER).map(|n| (n, format!("new-leader-{n}"))).collect();
    for (policy, consumer, seen) in &readers[..2] {
        let stats = consumer.stats();
        eprintln!("{policy}: {:?}", stats.counters);
        assert_eq!(stats.counters.truncations, 1, "{policy}: the truncation was detected once: {stats:?}");
        let failures: Vec<_> = seen.lock().expect("lock").iter().filter(|s| matches!(s, Seen::Failed(_))).cloned().collect();
        assert!(failures.is_empty(), "{policy}: a reset policy handles the truncation without an error: {failures:?}");
        // Everything the old leader served, then the new leader's log from
        // the divergence point on: nothing skipped, nothing read twice.
        let expected: Vec<(i64, String)> = before.iter().chain(&after).cloned().collect();
        assert_eq!(records(seen), expected, "{policy}");
        assert_eq!(consumer.position(&tp), Some(BOTH + AFTER), "{policy}");
    }

    let seen = none_seen.lock().expect("lock").clone();
    let errors: Vec<&Error> = seen.iter().filter_map(|s| if let Seen::Failed(e) = s { Some(e) } else { None }).collect();
    assert_eq!(records(none_seen), before, "none: nothing read past the truncation");
    match errors.as_slice() {
        [Error::LogTruncation { topic: t, partition: 0, offset, divergent_offset }] => {
            assert_eq!((t.as_str(), *offset, *divergent_offset), (topic.as_str(), end, Some(BOTH)), "{errors:?}");
        }
        other => panic!("none: expected one LogTruncation error, got {other:?}"),
    }
    assert_eq!(none_consumer.stats().counters.truncations, 1);
    // The application decides: a seek to the divergence point reads the new leader's records.
    none_consumer.seek(&tp, Offset::At(BOTH)).await.expect("seek");
    let mut again = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while again.len() < AFTER as usize {
        assert!(tokio::time::Instant::now() < deadline, "none: after the seek only {again:?}");
        for r in none_consumer.poll(Duration::from_secs(1)).await.expect("poll after the seek") {
            again.push((r.offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
        }
    }
    assert_eq!(again, after);

    // The old leader comes back, truncates its suffix to the new leader's log
    // and leads again: a fresh consumer reads the log as the new leader wrote
    // it, through node 1, without another truncation being reported.
    let t = topic.clone();
    blocking(move || {
        cluster.restart(old_leader).expect("restart the old leader");
        cluster
            .wait_for_partition(&t, 0, TIMEOUT, "the old leader back in the ISR", |s| s.isr.contains(&old_leader))
            .expect("back in sync");
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let state = cluster.describe_topic(&t).ok().and_then(|s| s.into_iter().find(|p| p.partition == 0));
            if state.as_ref().is_some_and(|s| s.leader == Some(old_leader)) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "node {old_leader} never led again: {state:?}");
            if let Err(e) = cluster.elect_preferred_leader(&t, 0) {
                eprintln!("preferred election not done yet: {e}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await;
    let fresh = new_consumer(cluster, "none").await;
    fresh.assign(std::slice::from_ref(&tp)).expect("assign");
    fresh.seek(&tp, Offset::Beginning).await.expect("seek to the beginning");
    let mut log = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while log.len() < (BOTH + AFTER) as usize {
        assert!(tokio::time::Instant::now() < deadline, "the log through the old leader: only {log:?}");
        for r in fresh.poll(Duration::from_secs(1)).await.expect("poll through the old leader") {
            log.push((r.offset, String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
        }
    }
    let expected: Vec<(i64, String)> = before[..BOTH as usize].iter().chain(&after).cloned().collect();
    assert_eq!(log, expected, "the old leader truncated to the new leader's log");
    assert_eq!(fresh.stats().counters.truncations, 0);

    let logged = String::from_utf8_lossy(&logs.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let warnings = logged.lines().filter(|l| l.contains("log truncation detected") && l.contains(&topic)).count();
    assert_eq!(warnings, 3, "each consumer logs the truncation once:\n{logged}");
}

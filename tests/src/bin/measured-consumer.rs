//! A rill consumer in a process of its own, for the memory test
//! (`tests/tests/consumer_memory.rs`): it reads every partition of a topic
//! from the beginning to a given end, checks that each record arrives once
//! and in order (the key is `<partition>-<sequence>` and the sequence must
//! equal the offset), and prints one JSON line with its memory: the peak
//! resident set (`VmHWM` of /proc/self/status, the kernel's high-water mark
//! of this whole process) and the consumer's own buffer accounting.
//!
//! A slow phase comes first: `--slow-polls` polls with `--slow-sleep-ms` of
//! sleep between them, as an application that cannot keep up; the resident
//! set is sampled after each, so a consumer that fetched ahead of its
//! application would show it there.
//!
//! ```text
//! measured-consumer --bootstrap HOST:PORT --topic T --partitions N --records-per-partition R
//!                   --budget-bytes B [--slow-polls K --slow-sleep-ms M] [--timeout-s S]
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rill_client::consumer::{Consumer, Offset, TopicPartition};
use rill_client::{Client, ClientConfig};

struct Args {
    bootstrap: String,
    topic: String,
    partitions: i32,
    records_per_partition: i64,
    budget_bytes: usize,
    slow_polls: usize,
    slow_sleep: Duration,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut flags = BTreeMap::new();
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let name = flag.strip_prefix("--").ok_or_else(|| format!("expected --flag, got {flag:?}"))?.to_string();
        let value = argv.next().ok_or_else(|| format!("--{name} needs a value"))?;
        flags.insert(name, value);
    }
    let mut take = |name: &str, default: Option<&str>| -> Result<String, String> {
        flags.remove(name).or(default.map(str::to_string)).ok_or_else(|| format!("--{name} is required"))
    };
    fn number<T: std::str::FromStr>(name: &str, value: String) -> Result<T, String> {
        value.parse().map_err(|_| format!("--{name}: not a number: {value:?}"))
    }
    let args = Args {
        bootstrap: take("bootstrap", None)?,
        topic: take("topic", None)?,
        partitions: number("partitions", take("partitions", None)?)?,
        records_per_partition: number("records-per-partition", take("records-per-partition", None)?)?,
        budget_bytes: number("budget-bytes", take("budget-bytes", None)?)?,
        slow_polls: number("slow-polls", take("slow-polls", Some("0"))?)?,
        slow_sleep: Duration::from_millis(number("slow-sleep-ms", take("slow-sleep-ms", Some("0"))?)?),
        timeout: Duration::from_secs(number("timeout-s", take("timeout-s", Some("300"))?)?),
    };
    if let Some(unknown) = flags.keys().next() {
        return Err(format!("unknown flag --{unknown}"));
    }
    Ok(args)
}

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`). An error, never
/// a zero, when it cannot be read: the memory test must not pass on a
/// measurement that was never taken.
/// The last rises of `VmHWM` the report keeps.
const HWM_RISES_KEPT: usize = 8;

fn status_kib(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        .filter(|kib| *kib > 0)
        .ok_or_else(|| format!("no {field} in /proc/self/status"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("measured-consumer: {e}");
            return ExitCode::from(2);
        }
    };
    // Two worker threads, as an application on a 2-core machine would have.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(consume(&args)),
        Err(e) => Err(format!("tokio runtime: {e}")),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("measured-consumer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn consume(args: &Args) -> Result<String, String> {
    let budget = args.budget_bytes.to_string();
    let config = ClientConfig::from_properties([
        ("bootstrap.servers", args.bootstrap.as_str()),
        ("client.id", "rill-measured-consumer"),
        ("auto.offset.reset", "none"),
        ("fetch.buffer.max.bytes", budget.as_str()),
        // Small polls (about 2 MiB of records): what the application holds
        // is not the consumer's buffer, so it is kept small.
        ("max.poll.records", "8"),
        // Per-partition and per-response limits far above the budget: only
        // the budget can keep memory down (16 MiB per partition times the
        // topic's partitions, 100 MiB responses).
        ("max.partition.fetch.bytes", "16777216"),
        ("fetch.max.bytes", "104857600"),
        ("receive.message.max.bytes", "104858112"),
    ])
    .map_err(|e| format!("config: {e}"))?;
    let client = Client::connect(config).await.map_err(|e| format!("connect: {e}"))?;
    let consumer = Consumer::from_client(client).map_err(|e| format!("consumer: {e}"))?;
    let partitions: Vec<TopicPartition> = (0..args.partitions).map(|p| TopicPartition::new(args.topic.as_str(), p)).collect();
    consumer.assign(&partitions).map_err(|e| format!("assign: {e}"))?;
    for tp in &partitions {
        consumer.seek(tp, Offset::Beginning).await.map_err(|e| format!("seek {tp}: {e}"))?;
    }
    let started = Instant::now();
    let deadline = started + args.timeout;
    let mut next: BTreeMap<i32, i64> = (0..args.partitions).map(|p| (p, 0)).collect();
    let total = i64::from(args.partitions) * args.records_per_partition;
    let (mut records, mut value_bytes, mut polls) = (0i64, 0u64, 0usize);
    let mut slow_rss_kib = Vec::new();
    let mut slow_buffered_bytes = 0usize;
    // When the high-water mark last rose, and what was buffered then: a
    // peak over the bound says which phase set it, and whether the budget
    // or something beside it held the memory.
    let (mut hwm_kib, mut hwm_rises) = (0u64, VecDeque::new());
    while records < total {
        if Instant::now() > deadline {
            return Err(format!("only {records} of {total} records within {:?}; next offsets {next:?}", args.timeout));
        }
        let batch = consumer.poll(Duration::from_secs(5)).await.map_err(|e| format!("poll: {e}"))?;
        for r in batch {
            let expected = next.get_mut(&r.partition).ok_or_else(|| format!("record of unknown partition {}", r.partition))?;
            let key = r.key.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            if r.offset != *expected || key != format!("{}-{}", r.partition, r.offset) {
                return Err(format!("partition {}: expected offset {expected}, got offset {} with key {key:?}", r.partition, r.offset));
            }
            *expected += 1;
            records += 1;
            value_bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
        }
        polls += 1;
        let hwm_now = status_kib("VmHWM")?;
        if hwm_now > hwm_kib {
            hwm_kib = hwm_now;
            if hwm_rises.len() == HWM_RISES_KEPT {
                hwm_rises.pop_front();
            }
            let stats = consumer.stats();
            hwm_rises.push_back(serde_json::json!({
                "poll": polls,
                "vm_hwm_kib": hwm_now,
                "rss_anon_kib": status_kib("RssAnon")?,
                "rss_file_kib": status_kib("RssFile")?,
                "buffered_kib": stats.buffered_bytes / 1024,
                "responses_kib": stats.response_bytes / 1024,
                "reserved_kib": stats.reserved_bytes / 1024,
                "idle_maps_kib": stats.idle_response_map_bytes / 1024,
                "fetch_requests": stats.counters.fetch_requests,
            }));
        }
        if polls <= args.slow_polls {
            tokio::time::sleep(args.slow_sleep).await;
            slow_rss_kib.push(status_kib("VmRSS")?);
            slow_buffered_bytes = slow_buffered_bytes.max(consumer.stats().buffered_bytes);
        }
    }
    let elapsed = started.elapsed();
    let stats = consumer.stats();
    consumer.close(Duration::from_secs(5)).await;
    Ok(serde_json::json!({
        "records": records,
        "value_bytes": value_bytes,
        "polls": polls,
        "seconds": elapsed.as_secs_f64(),
        "vm_hwm_kib": status_kib("VmHWM")?,
        "vm_rss_kib": status_kib("VmRSS")?,
        "slow_rss_kib": slow_rss_kib,
        "hwm_rises": hwm_rises,
        "slow_buffered_bytes": slow_buffered_bytes,
        "peak_buffered_bytes": stats.peak_buffered_bytes,
        "budget_bytes": stats.budget_bytes,
        "fetch_requests": stats.counters.fetch_requests,
        "cut_responses": stats.counters.cut_responses,
    })
    .to_string())
}

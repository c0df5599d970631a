//! The Java client, through Kafka's own perf tools (kafka-tools):
//! `ProducerPerformance` (`kafka-producer-perf-test`).

use std::path::Path;
use std::time::Duration;

use rill_e2e::KafkaCluster;

use super::outcome::RunReport;
use super::workload::Workload;

/// Parses ProducerPerformance's closing line:
/// `N records sent, R records/sec (M MB/sec), ...` (MB = 2^20 bytes).
pub fn parse_producer_summary(stdout: &str) -> Option<RunReport> {
    let line = stdout.lines().rev().find(|line| line.contains("records sent,"))?;
    let mut words = line.split_whitespace();
    let records: u64 = words.next()?.parse().ok()?;
    let rate: f64 = line.split("records sent,").nth(1)?.split_whitespace().next()?.parse().ok()?;
    let mb_rate: f64 = line.split('(').nth(1)?.split_whitespace().next()?.parse().ok()?;
    if rate <= 0.0 {
        return None;
    }
    let seconds = records as f64 / rate;
    Some(RunReport { records, bytes: (mb_rate * 1_048_576.0 * seconds) as u64, seconds })
}

/// Runs `kafka-producer-perf-test` for `workload` into `topic`.
pub fn produce(cluster: &KafkaCluster, workload: &Workload, topic: &str, payload_file: &Path) -> Result<RunReport, String> {
    let mut args: Vec<String> = vec![
        "--topic".into(),
        topic.into(),
        "--num-records".into(),
        workload.records.to_string(),
        "--throughput".into(),
        "-1".into(),
        "--payload-file".into(),
        payload_file.display().to_string(),
        "--producer-props".into(),
    ];
    args.extend(workload.producer_properties(&cluster.internal_bootstrap()).into_iter().map(|(k, v)| format!("{k}={v}")));
    let finished = cluster
        .java()
        .run_ok("org.apache.kafka.tools.ProducerPerformance", &args, None, Duration::from_secs(1800))
        .map_err(|e| e.to_string())?;
    parse_producer_summary(&finished.stdout).ok_or_else(|| format!("no summary line in ProducerPerformance output:\n{}", finished.stdout))
}

/// Parses ConsumerPerformance's data line (with `--hide-header`):
/// `start, end, MB, MB/s, records, records/s, rebalance ms, fetch ms, fetch MB/s, fetch records/s`.
/// The timed span is the fetch time (group rebalance excluded, like the
/// other clients, which time from the first record).
pub fn parse_consumer_summary(stdout: &str) -> Option<RunReport> {
    stdout.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 10 {
            return None;
        }
        let megabytes: f64 = fields.get(2)?.parse().ok()?;
        let records: u64 = fields.get(4)?.parse().ok()?;
        let fetch_ms: f64 = fields.get(7)?.parse().ok()?;
        (fetch_ms > 0.0).then(|| RunReport { records, bytes: (megabytes * 1_048_576.0) as u64, seconds: fetch_ms / 1000.0 })
    })
}

/// Runs `kafka-consumer-perf-test` over `records` records of `topic`.
pub fn consume(cluster: &KafkaCluster, topic: &str, records: u64) -> Result<RunReport, String> {
    let args: Vec<String> = vec![
        "--bootstrap-server".into(),
        cluster.internal_bootstrap(),
        "--topic".into(),
        topic.into(),
        "--num-records".into(),
        records.to_string(),
        "--hide-header".into(),
        "--timeout".into(),
        "600000".into(),
    ];
    let finished = cluster
        .java()
        .run_ok("org.apache.kafka.tools.ConsumerPerformance", &args, None, Duration::from_secs(1800))
        .map_err(|e| e.to_string())?;
    parse_consumer_summary(&finished.stdout).ok_or_else(|| format!("no data line in ConsumerPerformance output:\n{}", finished.stdout))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_consumer_data_line() {
        let out = "2026-12-04 21:00:00:000, 2026-12-04 21:00:03:000, 95.3674, 31.7891, 1000000, 333333.3, 1000, 2000, 47.6837, 500000.0\n";
        let r = super::parse_consumer_summary(out).unwrap();
        assert_eq!(r.records, 1_000_000);
        assert!((r.seconds - 2.0).abs() < 1e-9);
        assert_eq!(r.bytes, (95.3674f64 * 1_048_576.0) as u64);
        assert!(super::parse_consumer_summary("WARN something, else").is_none());
    }

    #[test]
    fn parses_the_closing_summary() {
        let out = "Reading payloads from: /x\n500 records sent, 100.0 records/sec (0.01 MB/sec)\n\
                   1000000 records sent, 250000.0 records/sec (23.84 MB/sec), 12.5 ms avg latency, 300.0 ms max latency, 10 ms 50th\n";
        let r = super::parse_producer_summary(out).unwrap();
        assert_eq!(r.records, 1_000_000);
        assert!((r.seconds - 4.0).abs() < 1e-9);
        assert!((r.bytes as f64 - 23.84 * 1_048_576.0 * 4.0).abs() < 2.0);
        assert!(super::parse_producer_summary("nothing").is_none());
    }
}

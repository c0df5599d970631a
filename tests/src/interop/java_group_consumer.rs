//! Kafka's Java console consumer as a long-running member of a consumer
//! group, next to rill members in the same group (mixed-group interop).
//!
//! It prints partition, offset and value of every record it consumes; the
//! lines are collected as they come, so a test can look at what the Java
//! member consumed while it is still in the group.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Context, Result};
use crate::kafka::cluster::KafkaCluster;
use crate::kafka::listeners::Listener;
use crate::kafka::node::tool_jvm_options;
use crate::process;

/// One record the Java consumer printed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub value: String,
}

/// A running `kafka-console-consumer` in a group; stopped (SIGTERM, so it
/// commits and leaves the group) by [`JavaGroupConsumer::stop`] or on drop.
pub struct JavaGroupConsumer {
    child: Child,
    records: Arc<Mutex<Vec<ConsumedRecord>>>,
}

impl JavaGroupConsumer {
    /// Starts a console consumer of `topic` in `group` over PLAINTEXT, from
    /// the beginning when the group has no committed offset;
    /// `consumer_properties` go to `--consumer-property` (for example
    /// `partition.assignment.strategy`).
    pub fn start(cluster: &KafkaCluster, topic: &str, group: &str, consumer_properties: &[(&str, &str)]) -> Result<Self> {
        let java = cluster.java();
        let mut command =
            java.install().java_command(&tool_jvm_options(java.jvm_options()), "org.apache.kafka.tools.consumer.ConsoleConsumer");
        command.args(["--bootstrap-server", &cluster.bootstrap(Listener::Plaintext), "--topic", topic, "--group", group]);
        command.args(["--from-beginning", "--property", "print.partition=true", "--property", "print.offset=true"]);
        for (key, value) in consumer_properties {
            command.arg("--consumer-property").arg(format!("{key}={value}"));
        }
        let log_path = cluster.run_dir().join(format!("java-group-consumer-{group}-{}.log", std::process::id()));
        let log = std::fs::File::create(&log_path).context(|| format!("creating {}", log_path.display()))?;
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        let mut child = process::spawn_tied(command).context(|| "starting the Java console consumer".to_string())?;
        let stdout = child.stdout.take().ok_or_else(|| crate::HarnessError::new("console consumer without stdout"))?;
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = records.clone();
        std::thread::Builder::new()
            .name("rill-e2e-java-group-consumer".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(std::result::Result::ok) {
                    if let Some(record) = parse_line(&line) {
                        sink.lock().unwrap_or_else(|p| p.into_inner()).push(record);
                    }
                }
            })
            .context(|| "starting the console consumer reader".to_string())?;
        Ok(JavaGroupConsumer { child, records })
    }

    /// Every record consumed so far, in the order printed.
    pub fn records(&self) -> Vec<ConsumedRecord> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGTERM (the consumer commits and leaves the group), SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        process::terminate_and_reap(&mut self.child, grace);
    }
}

impl Drop for JavaGroupConsumer {
    fn drop(&mut self) {
        process::kill_and_reap(&mut self.child);
    }
}

/// `Partition:3\tOffset:17\tvalue` (the default formatter with
/// `print.partition` and `print.offset`).
fn parse_line(line: &str) -> Option<ConsumedRecord> {
    let mut fields = line.splitn(3, '\t');
    let partition = fields.next()?.strip_prefix("Partition:")?.parse().ok()?;
    let offset = fields.next()?.strip_prefix("Offset:")?.parse().ok()?;
    let value = fields.next().unwrap_or_default().to_string();
    Some(ConsumedRecord { partition, offset, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_formatter_with_partition_and_offset() {
        assert_eq!(
            parse_line("Partition:3\tOffset:17\tv-1\twith tab"),
            Some(ConsumedRecord { partition: 3, offset: 17, value: "v-1\twith tab".into() })
        );
        assert_eq!(parse_line("Processed a total of 4 messages"), None);
    }
}
